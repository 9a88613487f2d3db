/*
 * places.c - where the source, the db and the view may be (places.h).
 */
#include "places.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* True when the directory path (canonical; it need not exist) or one of
 * its ancestors is the directory with the identity d. */
static int below_inode(const char *path, const struct stat *d)
{
	char buf[PATH_MAX], *slash;
	struct stat a;

	if (strlen(path) >= sizeof(buf))
		return 0;
	memcpy(buf, path, strlen(path) + 1);
	for (;;) {
		if (stat(buf, &a) == 0 && a.st_dev == d->st_dev &&
		    a.st_ino == d->st_ino)
			return 1;
		slash = strrchr(buf, '/');
		if (!slash || (slash == buf && !buf[1]))
			return 0;
		slash[slash == buf] = 0;	/* "/x" becomes "/" */
	}
}

/*
 * True when path equals dir or lies below it (both canonical): by name,
 * and by device and inode, so that another name for the same directory
 * (a bind mount, the file system mounted twice) is seen too.
 */
static int is_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	struct stat d;

	if (n == 1 && dir[0] == '/')
		return 1;
	if (strncmp(path, dir, n) == 0 && (path[n] == '/' || !path[n]))
		return 1;
	return stat(dir, &d) == 0 && S_ISDIR(d.st_mode) &&
	       below_inode(path, &d);
}

/* Canonical form of a path that may not exist yet (its parent must). */
static int canon(const char *p, char *out)
{
	char tmp[PATH_MAX], *slash;

	if (realpath(p, out))
		return 0;
	if (errno != ENOENT || strlen(p) >= sizeof(tmp))
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s", p);
	slash = strrchr(tmp, '/');
	if (slash && slash[1] == 0)
		return -EINVAL;
	if (!slash) {
		if (!getcwd(out, PATH_MAX))
			return -errno;
	} else {
		*slash = 0;
		if (!realpath(*tmp ? tmp : "/", out))
			return -errno;
	}
	if (strlen(out) + strlen(slash ? slash + 1 : tmp) + 2 > PATH_MAX)
		return -ENAMETOOLONG;
	strcat(out, "/");
	strcat(out, slash ? slash + 1 : tmp);
	return 0;
}

/* Add the folder dir (canonical; it may not exist yet) and every folder
 * above it to the guard, as places of kind what. */
static int guard_chain(struct places *pl, const char *dir,
		       enum view_place what)
{
	char buf[PATH_MAX], *slash;
	struct stat st;
	size_t i;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, strlen(dir) + 1);
	for (;;) {
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
			for (i = 0; i < pl->nguard; i++)
				if (pl->guard[i].dev == st.st_dev &&
				    pl->guard[i].ino == st.st_ino)
					break;
			if (i == pl->nguard) {
				size_t sz = (pl->nguard + 1) *
					    sizeof(*pl->guard);
				void *p = realloc(pl->guard, sz);

				if (!p)
					return -ENOMEM;
				pl->guard = p;
				pl->guard[pl->nguard].dev = st.st_dev;
				pl->guard[pl->nguard].ino = st.st_ino;
				pl->guard[pl->nguard].what = what;
				pl->nguard++;
			}
		}
		slash = strrchr(buf, '/');
		if (!slash || (slash == buf && !buf[1]))
			return 0;
		slash[slash == buf] = 0;	/* "/x" becomes "/" */
	}
}

/*
 * The paths of the command line in canonical form: src and tgt (the view:
 * the destination or the mount point, which need not exist yet) and the
 * db (whose folder must exist).  Returns 0 or an exit status, said.
 */
static int canonical(const char *source, const char *target, const char *db,
		     const char *view, char *src, char *tgt, char *dbc)
{
	struct stat lst;
	int err;

	if (!realpath(source, src)) {
		log_error("source %s: %s (give the folder of the identified "
			  "archive)", source, strerror(errno));
		return 1;
	}
	err = canon(target, tgt);
	if (err) {
		log_error("%s: %s", view, strerror(-err));
		return 1;
	}
	/* A dangling link: where it points cannot be checked, and it could
	 * point into the source. */
	if (lstat(db, &lst) == 0 && S_ISLNK(lst.st_mode) &&
	    !realpath(db, dbc)) {
		log_error("--db %s is a symbolic link to a file that does not "
			  "exist: give the db's own path", db);
		return 2;
	}
	err = canon(db, dbc);
	if (err == -ENOENT) {
		log_error("--db %s: the directory to hold it does not exist "
			  "(deidfs creates the db file, not its directory: "
			  "create the directory first, e.g. with mkdir -m "
			  "700)", db);
		return 1;
	}
	if (err) {
		log_error("--db %s: %s (give a db in a folder you can "
			  "reach)", db, strerror(-err));
		return 1;
	}
	return 0;
}

int places_check(const char *source, const char *target, const char *db,
		 const char *csv, int mount, struct places *pl)
{
	const char *view = mount ? "mount point" : "destination";
	char src[PATH_MAX], tgt[PATH_MAX], dbc[PATH_MAX], *slash;
	int rc;

	memset(pl, 0, sizeof(*pl));
	rc = canonical(source, target, db, view, src, tgt, dbc);
	if (rc)
		return rc;
	if (is_within(tgt, src) || is_within(src, tgt)) {
		log_error("the %s %s must not be inside the source tree %s, "
			  "nor the source inside it: choose one outside it",
			  view, target, source);
		return 2;
	}
	if (is_within(dbc, src) || is_within(dbc, tgt)) {
		log_error("--db %s must not be inside the source tree or the "
			  "view: it holds the key and the original "
			  "identities; keep it elsewhere", db);
		return 2;
	}
	if (csv) {
		char c[PATH_MAX];

		if (realpath(csv, c) && is_within(c, tgt)) {
			log_error("--csv must not be inside the view");
			return 2;
		}
	}
	slash = strrchr(dbc, '/');
	if (slash == dbc)
		slash++;	/* a db in / */
	if (slash)
		*slash = 0;	/* the db's folder */
	if (guard_chain(pl, dbc, VIEW_PLACE_DB) ||
	    guard_chain(pl, tgt, VIEW_PLACE_VIEW)) {
		log_error("out of memory");
		return 1;
	}
	return 0;
}

/* The folder that holds path (as given), in buf. */
static void parent_of(const char *path, char *buf, size_t bufsz)
{
	char *slash;

	snprintf(buf, bufsz, "%s", path);
	while ((slash = strrchr(buf, '/')) && slash != buf && !slash[1])
		*slash = 0;	/* "dest/" is dest */
	slash = strrchr(buf, '/');
	if (!slash)
		snprintf(buf, bufsz, ".");
	else
		slash[slash == buf] = 0;	/* "/x" is in "/" */
}

/* A folder we can create entries in, or the reason it is not. */
static const char *writable_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return strerror(errno);
	if (!S_ISDIR(st.st_mode))
		return "not a directory";
	if (access(path, W_OK | X_OK))
		return strerror(errno);
	return NULL;
}

int places_usable(const char *source, const char *target, const char *csv,
		  const char *report, int mount)
{
	char dir[PATH_MAX];
	const char *why;
	struct stat st;
	int fd;

	why = NULL;
	if (stat(source, &st))
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (access(source, R_OK | X_OK))
		why = strerror(errno);
	if (why) {
		log_error("source %s: %s (give the folder of the identified "
			  "archive, readable by this user)", source, why);
		return 1;
	}
	if (csv) {
		fd = open(csv, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error("--csv %s: %s (give the registry CSV, "
				  "readable by this user)", csv,
				  strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (!mount) {
		why = NULL;
		if (stat(target, &st) == 0) {
			why = writable_dir(target);
		} else if (errno == ENOENT) {
			parent_of(target, dir, sizeof(dir));
			why = writable_dir(dir);
		} else {
			why = strerror(errno);
		}
		if (why) {
			log_error("destination %s: %s (give a folder you can "
				  "write, or a new one in a folder you can "
				  "write)", target, why);
			return 1;
		}
	}
	if (report) {
		parent_of(report, dir, sizeof(dir));
		why = writable_dir(dir);
		if (why) {
			log_error("--report %s: its folder: %s (give a file "
				  "in a folder you can write)", report, why);
			return 1;
		}
	}
	return 0;
}

void places_clear(struct places *pl)
{
	free(pl->guard);
	pl->guard = NULL;
	pl->nguard = 0;
}
