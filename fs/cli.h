/*
 * cli.h - the command line of export, mount and merge (front end;
 * fs/cli_opts.c parses it, fs/main.c runs what it asks for).
 */
#ifndef DEIDFS_CLI_H
#define DEIDFS_CLI_H

#include <fuse_opt.h>

#include "export.h"
#include "mount.h"
#include "places.h"
#include "shard_run.h"
#include "view.h"

#define DEIDFS_VERSION "0.1.0"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FATAL = 1,		/* nothing (or not everything) could be done */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_PARTIAL = 3,	/* done, but some files could not be read or
				 * written (see the report) */
};

enum command { CMD_EXPORT = 1, CMD_MOUNT, CMD_MERGE };

struct options {
	enum command cmd;
	/* strings: owned, freed by options_free() */
	char *db;
	char *csv;
	char *csv_spec;
	char *csv_name;
	char *modalities;
	char *layout;
	char *report;
	char *whitelist;
	char *scan_allow;
	char scan_allow_digest[65];	/* of the --scan-allow file */
	char *pos[2];			/* SOURCE, DEST or MOUNTPOINT */
	unsigned npos;			/* positional arguments seen */
	int quiet;
	int with_quarantine;
	int no_refresh;
	int nonempty;			/* mount: over a non-empty folder */
	int sharded, index_only;	/* --shard I/N, --index-only */
	struct shard_opts shard;	/* a sharded run (shard_run.h) */
	struct view_config cfg;		/* borrows the strings above */
	struct export_opts export;	/* the front ends' own: their */
	struct mount_opts mount;	/* strings borrow the above too */
	struct fuse_args fuse;		/* for the mount: -f, -d, -o OPT
					 * (owned) */
	struct places places;		/* where things must not be */
	/* while parsing */
	int pending;			/* an option (opt_key) whose argument
				 * is the next one */
	int status;			/* why opt_proc() stopped: an exit
					 * status, or -1 (help, version) */
};

/*
 * Parse the command line into o (zeroed here; cli_options_free() after,
 * also on error).  Returns 0 to go on, an exit status, or -1 when done
 * (help or version printed: exit 0).
 */
int cli_parse(int argc, char **argv, struct options *o);
void cli_options_free(struct options *o);

#endif
