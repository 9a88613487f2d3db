/*
 * shard_tasks.c - the files a sharded run's tasks leave beside the project
 * db (shard_run.h): which tasks finished, which are missing, and the
 * temporary files of killed tasks, removed once a merge has succeeded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shard_impl.h"

int shard_find_tasks(const char *db, const char *kind, unsigned *n,
		     unsigned char *have)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 32];
	const char *slash = strrchr(db, '/');
	struct dirent *de;
	DIR *d;
	int err = 0;
	size_t pl;

	*n = 0;
	memset(have, 0, SHARD_MAX);
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db) + 1 : 1,
		 slash ? db : ".");
	snprintf(prefix, sizeof(prefix), "%s.%s-", slash ? slash + 1 : db,
		 kind);
	pl = strlen(prefix);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned i, m;
		int used = 0;

		if (strncmp(de->d_name, prefix, pl) ||
		    sscanf(de->d_name + pl, "%u-of-%u%n", &i, &m, &used) != 2 ||
		    de->d_name[pl + (size_t)used] || m < 1 || m > SHARD_MAX ||
		    i >= m)
			continue;	/* temporary names, others' files */
		if (*n && m != *n) {
			err = -EEXIST;
			break;
		}
		*n = m;
		have[i] = 1;
	}
	closedir(d);
	return err;
}

/* The shares of n missing in have, said to the user; 0 when none. */
unsigned shard_say_missing(const char *what, unsigned n,
			   const unsigned char *have)
{
	unsigned i, missing = 0;

	for (i = 0; i < n; i++)
		if (!have[i]) {
			if (missing < 32)
				log_error("merge: %s of task %u/%u is missing: "
					  "run that task again (README: \"On "
					  "a cluster\")", what, i, n);
			missing++;
		}
	if (missing > 32)
		log_error("merge: and %u more tasks", missing - 32);
	return missing;
}

/*
 * Whether name (in the db's folder, base the db's own name) is a temporary
 * file a killed task of a sharded run left: "<base>.new-<pid>[-wal|-shm|
 * -journal]" (the project db being created, store_open()), or
 * "<base>.shard-I-of-N.new-..." and "<base>.export-I-of-N.new-..." (a
 * task's db or list before its rename).
 */
static int leftover(const char *name, const char *base)
{
	size_t bl = strlen(base);
	const char *p;
	unsigned i, m;
	int used = 0;

	if (strncmp(name, base, bl) || name[bl] != '.')
		return 0;
	p = name + bl + 1;
	if (!strncmp(p, "new-", 4)) {
		p += 4;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
		return !*p || !strcmp(p, "-wal") || !strcmp(p, "-shm") ||
		       !strcmp(p, "-journal");
	}
	if (!strncmp(p, "shard-", 6))
		p += 6;
	else if (!strncmp(p, "export-", 7))
		p += 7;
	else
		return 0;
	return sscanf(p, "%u-of-%u%n", &i, &m, &used) == 2 &&
	       !strncmp(p + used, ".new-", 5);
}

/*
 * Remove what killed tasks left beside the db (leftover()): once a merge
 * has succeeded, every task it needed has finished under its final name,
 * so a temporary file is an earlier attempt's, and a shard db holds PHI.
 * A task of the run still running meanwhile (started twice) then fails at
 * its rename and says so.
 */
void shard_sweep_leftovers(const char *db)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(db, '/'), *base = slash ? slash + 1 : db;
	struct dirent *de;
	DIR *d;
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db) + 1 : 1,
		 slash ? db : ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (leftover(de->d_name, base))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}

