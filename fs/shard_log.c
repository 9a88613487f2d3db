/*
 * shard_log.c - the log an export task of a sharded run leaves beside the
 * db (shard_run.h), FILE.export-I-of-N: a magic line, the task's share,
 * whether it wrote .quarantine/, one line per file it wrote or found
 * complete, and the count.  Written under a temporary name and renamed,
 * read back by the last merge as any input.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard_impl.h"

#define LOG_MAGIC "deidfs export log 1"

/* One row of an export log into w (action borrowed from a constant).
 * Returns 0 or -EBADMSG. */
static int log_row(const char *line, struct store_log_row *w)
{
	long long id, mt;
	unsigned long long ino, size;
	char act;
	int used = 0;

	if (sscanf(line, "%lld %llu %llu %lld %c%n", &id, &ino, &size, &mt,
		   &act, &used) != 5 || line[used] || id < 0 ||
	    (act != 'w' && act != 'k'))
		return -EBADMSG;
	w->file_id = id;
	w->ino = ino;
	w->size = size;
	w->mtime_ns = mt;
	w->action = act == 'w' ? "written" : "kept";
	return 0;
}

/* See shard_impl.h. */
int shard_log_read(const char *path, unsigned i, unsigned n,
		    struct store_log_row **rows, size_t *nrows, int *quar)
{
	char line[256];
	FILE *f = fopen(path, "re");
	struct store_log_row *v = NULL;
	size_t cnt = 0, cap = 0;
	unsigned li, ln;
	unsigned long long end = 0;
	int err = 0, ended = 0;

	*rows = NULL;
	*nrows = 0;
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, LOG_MAGIC "\n") ||
	    !fgets(line, sizeof(line), f) ||
	    sscanf(line, "shard %u %u", &li, &ln) != 2 || li != i || ln != n ||
	    !fgets(line, sizeof(line), f) ||
	    sscanf(line, "quarantine %d", quar) != 1)
		err = -EBADMSG;
	while (!err && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);

		if (!l || line[l - 1] != '\n' || ended) {
			err = -EBADMSG;
			break;
		}
		line[l - 1] = 0;
		if (!strncmp(line, "end ", 4)) {
			ended = sscanf(line, "end %llu", &end) == 1;
			if (!ended || end != cnt)
				err = -EBADMSG;
			continue;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			struct store_log_row *p = realloc(v, nc * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			v = p;
			cap = nc;
		}
		err = log_row(line, &v[cnt]);
		if (!err)
			cnt++;
	}
	fclose(f);
	if (!err && !ended)
		err = -EBADMSG;		/* cut short */
	if (err) {
		free(v);
		return err;
	}
	*rows = v;
	*nrows = cnt;
	return 0;
}


/* Mode 0600 like the db it sits beside. */
int shard_log_write(const struct shard_opts *so, int quar,
		    const struct store_log_row *rows, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	FILE *f;
	size_t i;
	int fd, bad;

	if (shard_task_file(so->db, "export", so->i, so->n, path, sizeof(path)))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.new-%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	fprintf(f, LOG_MAGIC "\nshard %u %u\nquarantine %d\n", so->i, so->n,
		quar);
	for (i = 0; i < n; i++)
		fprintf(f, "%" PRId64 " %" PRIu64 " %" PRIu64 " %" PRId64
			" %c\n", rows[i].file_id, rows[i].ino, rows[i].size,
			rows[i].mtime_ns, rows[i].action[0]);
	fprintf(f, "end %zu\n", n);
	bad = fflush(f) || fsync(fileno(f));
	if (fclose(f) || bad || rename(tmp, path)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

