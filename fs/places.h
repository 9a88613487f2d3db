/*
 * places.h - where the source, the db and the view may be: a check of the
 * command line's paths, before anything is opened or written.
 *
 * The db inside the source or the view would publish the key and the
 * original identities; the view inside the source would be read back as
 * its own source.  Names and the identity of the source folder catch
 * another name of the source itself (a symlink, a bind mount of it); what
 * a bind mount of one of its subfolders hides, only a walk of the source
 * can show: the guard lists the folders that walk must not meet (the db's
 * folder and those above it, the view's and those above it), for
 * view_guard_walk() and view_config.guard.
 */
#ifndef DEIDFS_PLACES_H
#define DEIDFS_PLACES_H

#include <stddef.h>

#include "view.h"

struct places {
	struct view_guard *guard;	/* owned: places_clear() */
	size_t nguard;
};

/*
 * Check the places of source, target (the destination, or the mount point
 * when mount), db and csv (may be NULL), and fill pl.  Returns 0, or an
 * exit status with the reason said: 2 when a place is inside another, 1
 * when a path cannot be resolved (a missing source, a missing folder for
 * the db).  pl is cleared with places_clear() in either case.
 */
int places_check(const char *source, const char *target, const char *db,
		 const char *csv, int mount, struct places *pl);
void places_clear(struct places *pl);

/*
 * Whether the run can do its work, checked before the db is opened (or
 * created, with a new key): the source is a folder we can read, the csv
 * (may be NULL) a file we can read, the destination (export, not mount) a
 * folder we can write or a new one in such a folder, and the folder of
 * report (may be NULL) one we can write.  Returns 0, or 1 with the reason
 * said, naming the path as the command line gave it (the user's own
 * words; nothing read from the source).
 */
int places_usable(const char *source, const char *target, const char *csv,
		  const char *report, int mount);

#endif
