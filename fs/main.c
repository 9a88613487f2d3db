/*
 * main.c - the deidfs command line: parses options, opens the db, builds
 * the view engine, and hands over to a front end (export or mount).
 * It translates; it does not decide.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "mount.h"
#include "registry.h"
#include "rules.h"
#include "store.h"
#include "view.h"

#define DEIDFS_VERSION "0.1.0"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FATAL = 1,		/* nothing (or not everything) could be done */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_PARTIAL = 3,	/* done, but some files could not be read or
				 * written (see the report) */
};

static const char usage_text[] =
	"usage: deidfs export [OPTIONS] SOURCE DEST\n"
	"       deidfs mount  [OPTIONS] SOURCE MOUNTPOINT\n"
	"\n"
	"Present an identified DICOM archive as a de-identified research "
	"dataset.\n"
	"\n"
	"  --db FILE                project db: key, pseudonyms, index, audit "
	"(required;\n"
	"                           created with mode 0600; never inside "
	"SOURCE or the view)\n"
	"  --csv FILE               registry CSV; its rows are the approved "
	"cohort\n"
	"  --csv-spec SPEC          column roles (default "
	"1=pseudonym,2=drop,3=month,10=days-since:3;\n"
	"                           roles pseudonym, drop, month, "
	"days-since:N, shift,\n"
	"                           and for kept columns text (keep), int, "
	"number, code,\n"
	"                           enum:A|B|...; unlisted columns are text)\n"
	"  --delimiter C            CSV delimiter (default ';')\n"
	"  --no-header              the CSV has no header line\n"
	"  --csv-name NAME          name of the cleaned CSV (default "
	"cleaned_variables.csv)\n"
	"  --include-unlinked       also show studies without a CSV row and "
	"rows without a study\n"
	"  --link-date-column N     CSV date column that must equal StudyDate "
	"(default 3;\n"
	"                           'none': link on the personal ID alone)\n"
	"  --modalities LIST        allowed modalities (default MG,OT; 'all' "
	"for every one)\n"
	"  --layout TEMPLATE        naming template (default\n"
	"                           "
	"{patient}/{study_month}/{series_number}_{modality}/"
	"{instance_number:4}.dcm)\n"
	"  --retain-safe-private --retain-uids --retain-device-id\n"
	"  --retain-institution-id --retain-patient-chars\n"
	"  --retain-long-full-dates --retain-long-modified-dates\n"
	"  --clean-descriptors [--whitelist FILE]\n"
	"                           PS3.15 Table E.1-1 options\n"
	"  --with-quarantine        export: also write .quarantine/\n"
	"  -j, --jobs N             worker threads (default: number of CPUs)\n"
	"  --report FILE            write the run report as JSON\n"
	"  -q, --quiet              no report or progress on stderr\n"
	"  mount only: -f (foreground), -d (debug), -o OPT (FUSE options),\n"
	"              --no-refresh (serve the existing index)\n"
	"\n"
	"Exit status: 0 success, 1 fatal error, 2 usage error, 3 partial "
	"failure.\n";

#define fail(...) log_error(__VA_ARGS__)

/* A registry row was reported: its number and a fixed reason. */
static void row_report(void *arg, uint64_t row, const char *reason)
{
	(void)arg;
	log_warning("registry row %" PRIu64 ": %s", row, reason);
}

enum {
	OPT_DB = 1000,
	OPT_CSV,
	OPT_CSV_SPEC,
	OPT_DELIM,
	OPT_NO_HEADER,
	OPT_CSV_NAME,
	OPT_INCLUDE_UNLINKED,
	OPT_MODALITIES,
	OPT_LAYOUT,
	OPT_WITH_QUARANTINE,
	OPT_REPORT,
	OPT_WHITELIST,
	OPT_NO_REFRESH,
	OPT_RTN_SAFE_PRIVATE,
	OPT_RTN_UIDS,
	OPT_RTN_DEVICE_ID,
	OPT_RTN_INSTITUTION_ID,
	OPT_RTN_PATIENT_CHARS,
	OPT_RTN_LONG_FULL_DATES,
	OPT_RTN_LONG_MODIF_DATES,
	OPT_CLEAN_DESCRIPTORS,
	OPT_LINK_DATE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "db", required_argument, NULL, OPT_DB },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "csv-spec", required_argument, NULL, OPT_CSV_SPEC },
	{ "delimiter", required_argument, NULL, OPT_DELIM },
	{ "no-header", no_argument, NULL, OPT_NO_HEADER },
	{ "csv-name", required_argument, NULL, OPT_CSV_NAME },
	{ "include-unlinked", no_argument, NULL, OPT_INCLUDE_UNLINKED },
	{ "link-date-column", required_argument, NULL, OPT_LINK_DATE },
	{ "modalities", required_argument, NULL, OPT_MODALITIES },
	{ "layout", required_argument, NULL, OPT_LAYOUT },
	{ "with-quarantine", no_argument, NULL, OPT_WITH_QUARANTINE },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "whitelist", required_argument, NULL, OPT_WHITELIST },
	{ "no-refresh", no_argument, NULL, OPT_NO_REFRESH },
	{ "retain-safe-private", no_argument, NULL, OPT_RTN_SAFE_PRIVATE },
	{ "retain-uids", no_argument, NULL, OPT_RTN_UIDS },
	{ "retain-device-id", no_argument, NULL, OPT_RTN_DEVICE_ID },
	{ "retain-institution-id", no_argument, NULL,
	  OPT_RTN_INSTITUTION_ID },
	{ "retain-patient-chars", no_argument, NULL, OPT_RTN_PATIENT_CHARS },
	{ "retain-long-full-dates", no_argument, NULL,
	  OPT_RTN_LONG_FULL_DATES },
	{ "retain-long-modified-dates", no_argument, NULL,
	  OPT_RTN_LONG_MODIF_DATES },
	{ "clean-descriptors", no_argument, NULL, OPT_CLEAN_DESCRIPTORS },
	{ "jobs", required_argument, NULL, 'j' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	const char *cmd;
	const char *db;
	const char *report;
	const char *whitelist;
	const char *source;
	const char *target;
	int quiet;
	int with_quarantine;
	int no_refresh;
	int foreground;
	int debug;
	char *fuse_opts;	/* comma-joined -o values (owned) */
	struct view_config cfg;
	struct view_guard *guard;	/* folders the source must not hold
					 * (owned), see check_places() */
	size_t nguard;
};

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

static int parse_args(int argc, char **argv, struct cli *c)
{
	int opt;
	long j;
	char *end;

	memset(c, 0, sizeof(*c));
	c->cfg.csv_header = 1;
	c->cfg.csv_delimiter = ';';
	j = sysconf(_SC_NPROCESSORS_ONLN);
	c->cfg.jobs = j > 0 && j < 256 ? (unsigned)j : 2;
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return -1;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("deidfs %s\n", DEIDFS_VERSION);
		return -1;
	}
	c->cmd = argv[1];
	if (strcmp(c->cmd, "export") && strcmp(c->cmd, "mount")) {
		fail("unknown command '%s' (use export or mount; --help)",
		     c->cmd);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "j:qfdo:", long_opts, NULL)) !=
	       -1) {
		switch (opt) {
		case OPT_DB:
			c->db = optarg;
			break;
		case OPT_CSV:
			c->cfg.csv_path = optarg;
			break;
		case OPT_CSV_SPEC:
			c->cfg.csv_spec = optarg;
			break;
		case OPT_DELIM:
			if (strlen(optarg) != 1 || optarg[0] == '"' ||
			    optarg[0] == '\n' || optarg[0] == '\r') {
				fail("--delimiter: one character, not a quote "
				     "or a line break");
				return EXIT_USAGE;
			}
			c->cfg.csv_delimiter = optarg[0];
			break;
		case OPT_NO_HEADER:
			c->cfg.csv_header = 0;
			break;
		case OPT_CSV_NAME:
			c->cfg.csv_name = optarg;
			break;
		case OPT_INCLUDE_UNLINKED:
			c->cfg.include_unlinked = 1;
			break;
		case OPT_LINK_DATE:
			if (!strcmp(optarg, "none")) {
				c->cfg.csv_date_column = -1;
				break;
			}
			errno = 0;
			j = strtol(optarg, &end, 10);
			if (errno || *end || j < 1 || j > 1024) {
				fail("--link-date-column: a column number (1-"
				     "1024) or 'none'");
				return EXIT_USAGE;
			}
			c->cfg.csv_date_column = (int)j;
			break;
		case OPT_MODALITIES:
			c->cfg.modalities = optarg;
			break;
		case OPT_LAYOUT:
			c->cfg.layout = optarg;
			break;
		case OPT_WITH_QUARANTINE:
			c->with_quarantine = 1;
			break;
		case OPT_REPORT:
			c->report = optarg;
			break;
		case OPT_WHITELIST:
			c->whitelist = optarg;
			c->cfg.rules_options |= RULES_CLEAN_DESCRIPTORS;
			break;
		case OPT_NO_REFRESH:
			c->no_refresh = 1;
			break;
		case OPT_RTN_SAFE_PRIVATE:
			c->cfg.rules_options |= RULES_RTN_SAFE_PRIVATE;
			break;
		case OPT_RTN_UIDS:
			c->cfg.rules_options |= RULES_RTN_UIDS;
			break;
		case OPT_RTN_DEVICE_ID:
			c->cfg.rules_options |= RULES_RTN_DEVICE_ID;
			break;
		case OPT_RTN_INSTITUTION_ID:
			c->cfg.rules_options |= RULES_RTN_INSTITUTION_ID;
			break;
		case OPT_RTN_PATIENT_CHARS:
			c->cfg.rules_options |= RULES_RTN_PATIENT_CHARS;
			break;
		case OPT_RTN_LONG_FULL_DATES:
			c->cfg.rules_options |= RULES_RTN_LONG_FULL_DATES;
			break;
		case OPT_RTN_LONG_MODIF_DATES:
			c->cfg.rules_options |= RULES_RTN_LONG_MODIF_DATES;
			break;
		case OPT_CLEAN_DESCRIPTORS:
			c->cfg.rules_options |= RULES_CLEAN_DESCRIPTORS;
			break;
		case 'j':
			errno = 0;
			j = strtol(optarg, &end, 10);
			if (errno || *end || j < 1 || j > 256) {
				fail("--jobs: a number from 1 to 256");
				return EXIT_USAGE;
			}
			c->cfg.jobs = (unsigned)j;
			break;
		case 'q':
			c->quiet = 1;
			break;
		case 'f':
			c->foreground = 1;
			break;
		case 'd':
			c->debug = 1;
			c->foreground = 1;
			break;
		case 'o': {
			size_t old = c->fuse_opts ? strlen(c->fuse_opts) : 0;
			char *p = realloc(c->fuse_opts,
					  old + strlen(optarg) + 2);

			if (!p)
				return EXIT_FATAL;
			if (old)
				p[old++] = ',';
			strcpy(p + old, optarg);
			c->fuse_opts = p;
			break;
		}
		case OPT_HELP:
			fputs(usage_text, stdout);
			return -1;
		case OPT_VERSION:
			printf("deidfs %s\n", DEIDFS_VERSION);
			return -1;
		default:
			fputs("(deidfs --help lists the options)\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fail("%s needs SOURCE and %s", c->cmd,
		     strcmp(c->cmd, "export") ? "MOUNTPOINT" : "DEST");
		return EXIT_USAGE;
	}
	c->source = argv[optind];
	c->target = argv[optind + 1];
	if (!c->db) {
		fail("--db FILE is required: it keeps the key and the "
		     "pseudonyms, so later runs stay consistent");
		return EXIT_USAGE;
	}
	if (c->cfg.modalities && !*c->cfg.modalities) {
		fail("--modalities: give a list like MG,OT or 'all'");
		return EXIT_USAGE;
	}
	if (c->cfg.csv_spec) {
		/* Here, before the db is opened (or created): a bad spec is a
		 * usage error, with or without --csv. */
		struct registry_spec *sp = NULL;
		char err[256] = "";
		int ret = registry_spec_parse(c->cfg.csv_spec, &sp, err,
					      sizeof(err));

		registry_spec_free(sp);
		if (ret == -EINVAL) {
			fail("--%s", err);	/* "csv-spec: ..." */
			return EXIT_USAGE;
		}
		if (ret) {
			fail("--csv-spec: %s", strerror(-ret));
			return EXIT_FATAL;
		}
	}
	if (!strcmp(c->cmd, "mount") && c->with_quarantine) {
		fail("--with-quarantine is for export; the mount always has "
		     ".quarantine/ (hidden)");
		return EXIT_USAGE;
	}
	return 0;
}

/* Add the folder dir (canonical; it may not exist yet) and every folder
 * above it to the guard, as places of kind what. */
static int guard_chain(struct cli *c, const char *dir, enum view_place what)
{
	char buf[PATH_MAX], *slash;
	struct stat st;
	size_t i;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, strlen(dir) + 1);
	for (;;) {
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
			for (i = 0; i < c->nguard; i++)
				if (c->guard[i].dev == st.st_dev &&
				    c->guard[i].ino == st.st_ino)
					break;
			if (i == c->nguard) {
				size_t sz = (c->nguard + 1) *
					    sizeof(*c->guard);
				void *p = realloc(c->guard, sz);

				if (!p)
					return -ENOMEM;
				c->guard = p;
				c->guard[c->nguard].dev = st.st_dev;
				c->guard[c->nguard].ino = st.st_ino;
				c->guard[c->nguard].what = what;
				c->nguard++;
			}
		}
		slash = strrchr(buf, '/');
		if (!slash || (slash == buf && !buf[1]))
			return 0;
		slash[slash == buf] = 0;	/* "/x" becomes "/" */
	}
}

/* Refuse layouts that would put the db or the view where they must not
 * be, or read the view back as its own source.  Names and the identity of
 * the source folder catch another name of the source itself; what a bind
 * mount of one of its subfolders hides, only a walk of the source can
 * show: c->guard lists the folders that walk must not meet (the db's
 * folder and those above it, the view's and those above it). */
static int check_places(struct cli *c)
{
	char src[PATH_MAX], tgt[PATH_MAX], db[PATH_MAX];
	int err;

	if (!realpath(c->source, src)) {
		fail("source directory: %s", strerror(errno));
		return EXIT_FATAL;
	}
	err = canon(c->target, tgt);
	if (err) {
		fail("%s: %s", strcmp(c->cmd, "export") ? "mount point"
							: "destination",
		     strerror(-err));
		return EXIT_FATAL;
	}
	{
		/* A dangling link: where it points cannot be checked, and
		 * it could point into the source. */
		struct stat lst;

		if (lstat(c->db, &lst) == 0 && S_ISLNK(lst.st_mode) &&
		    !realpath(c->db, db)) {
			fail("--db is a symbolic link to a file that does not "
			     "exist: give the db's own path");
			return EXIT_USAGE;
		}
	}
	err = canon(c->db, db);
	if (err == -ENOENT) {
		fail("--db: the directory to hold it does not exist (deidfs "
		     "creates the db file, not its directory: create the "
		     "directory first, e.g. with mkdir -m 700)");
		return EXIT_FATAL;
	}
	if (err) {
		fail("--db: %s", strerror(-err));
		return EXIT_FATAL;
	}
	if (is_within(tgt, src) || is_within(src, tgt)) {
		fail("the %s must not be inside the source tree, nor the "
		     "source inside it",
		     strcmp(c->cmd, "export") ? "mount point" : "destination");
		return EXIT_USAGE;
	}
	if (is_within(db, src) || is_within(db, tgt)) {
		fail("--db must not be inside the source tree or the view: it "
		     "holds the key and the original identities");
		return EXIT_USAGE;
	}
	if (c->cfg.csv_path) {
		char csv[PATH_MAX];

		if (realpath(c->cfg.csv_path, csv) && is_within(csv, tgt)) {
			fail("--csv must not be inside the view");
			return EXIT_USAGE;
		}
	}
	{
		char *slash = strrchr(db, '/');

		if (slash == db)
			slash++;	/* a db in / */
		if (slash)
			*slash = 0;	/* the db's folder */
		if (guard_chain(c, db, VIEW_PLACE_DB) ||
		    guard_chain(c, tgt, VIEW_PLACE_VIEW)) {
			fail("out of memory");
			return EXIT_FATAL;
		}
	}
	c->cfg.guard = c->guard;
	c->cfg.nguard = c->nguard;
	return 0;
}

struct progress {
	int on;
	struct timespec last;
};

static void progress_cb(void *arg, const char *phase, uint64_t done,
			uint64_t total)
{
	struct progress *p = arg;
	struct timespec now;
	int width = 30, filled;

	if (!p->on || !total)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (done != total && (now.tv_sec - p->last.tv_sec) * 1000000000L +
					 (now.tv_nsec - p->last.tv_nsec) <
				 100000000L)
		return;
	p->last = now;
	filled = (int)((double)done / (double)total * width);
	fprintf(stderr, "\r%-6s [%.*s%*s] %" PRIu64 "/%" PRIu64, phase, filled,
		"##############################", width - filled, "", done,
		total);
	if (done == total)
		fputc('\n', stderr);
}

/* What went wrong with the db, and what to do: for errors of store_open()
 * and of any later step that writes to the db. */
static const char *store_error(int err)
{
	const char *why = view_db_error(err);

	if (why)
		return why;
	switch (err) {
	case -EBADMSG:
		return "it is not a deidfs db, or it is damaged (refusing to "
		       "create a new key: pseudonyms would change). Restore "
		       "it from a backup; start a new db only for a new "
		       "dataset";
	case -EACCES:
		return "it cannot be opened for writing (permission denied "
		       "or a read-only file system). deidfs records the "
		       "index and new pseudonyms in it, and sqlite keeps "
		       "FILE-wal and FILE-shm beside it: give a db you can "
		       "write, in a directory you can write";
	default:
		return strerror(-err);
	}
}

/*
 * Every file opened is parsed into fresh buffers of about its header's size
 * (a mammogram with an overlay plane: 1 MB or more), freed again at once.
 * glibc serves blocks over 128 KiB by mmap and trims freed heap early, so
 * each open paid hundreds of first-touch page faults: 4.8 ms per open on
 * these VMs, 0.5 ms once memory is kept for reuse (BENCHMARKS.md).  So
 * blocks up to 32 MiB come from the heap and up to 64 MiB of freed heap is
 * kept.  Larger blocks are still mapped and returned at once, which bounds
 * what a hostile header leaves resident.  The arena count stays glibc's
 * (one per thread, up to 8 per CPU) for the parallel index: one arena for
 * all threads slowed it by a third.  The mount limits it for its workers
 * (mount.c).
 */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char **argv)
{
	struct cli c;
	struct store *st = NULL;
	struct view_engine *e = NULL;
	struct view_whitelist *wl = NULL;
	struct progress prog = { 0 };
	struct timespec t0;
	char err[512] = "";
	int ret, rc = EXIT_FATAL, created;

	tune_malloc();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = parse_args(argc, argv, &c);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	ret = check_places(&c);
	if (ret) {
		rc = ret;
		goto out;
	}
	ret = view_init(&c.cfg, c.whitelist, &wl, err, sizeof(err));
	if (ret) {
		fail("%s", err);
		rc = ret == -EINVAL ? EXIT_USAGE : EXIT_FATAL;
		goto out;
	}
	created = access(c.db, F_OK) && errno == ENOENT;
	if (created || (!strcmp(c.cmd, "mount") && c.no_refresh)) {
		/* The refresh's walk checks the guard too, but a new db is
		 * written before it, and a mount without refresh has none. */
		enum view_place hit;

		if (view_guard_walk(c.source, c.guard, c.nguard, &hit) ==
		    -ELOOP) {
			fail("%s", view_place_error(hit,
						    !strcmp(c.cmd, "mount")));
			rc = EXIT_USAGE;
			goto out;
		}
	}
	ret = store_open(c.db, 1, &st);
	if (ret) {
		fail("--db: %s", store_error(ret));
		goto out;
	}
	if (created && !c.quiet)
		fail("--db: created a new db with a new secret key: keep it "
		     "safe, and keep it (later runs need it to give the same "
		     "pseudonyms)");
	c.cfg.source = c.source;
	c.cfg.store = st;
	c.cfg.quiet = c.quiet;
	c.cfg.row_report = row_report;
	/* export opens every file once, right after the refresh */
	c.cfg.cache_headers = !strcmp(c.cmd, "export");
	ret = view_engine_new(&c.cfg, &e, err, sizeof(err));
	if (ret) {
		fail("%s", err);
		rc = ret == -EINVAL ? EXIT_USAGE : EXIT_FATAL;
		goto out;
	}
	prog.on = !c.quiet && isatty(STDERR_FILENO);

	if (!strcmp(c.cmd, "mount")) {
		struct mount_opts mo;

		memset(&mo, 0, sizeof(mo));
		mo.mountpoint = c.target;
		mo.foreground = c.foreground;
		mo.debug = c.debug;
		mo.fuse_opts = c.fuse_opts;
		mo.no_refresh = c.no_refresh;
		mo.quiet = c.quiet;
		mo.progress = prog.on && c.foreground ? progress_cb : NULL;
		mo.progress_arg = &prog;
		rc = mount_run(e, &mo);
		goto out;
	}

	{
		struct export_opts xo;

		memset(&xo, 0, sizeof(xo));
		xo.dest = c.target;
		xo.with_quarantine = c.with_quarantine;
		xo.jobs = c.cfg.jobs;
		xo.quiet = c.quiet;
		xo.report = c.report;
		xo.started = t0;
		xo.progress = prog.on ? progress_cb : NULL;
		xo.progress_arg = &prog;
		rc = export_run(e, &xo);
	}
out:
	view_engine_free(e);
	store_close(st);
	view_whitelist_free(wl);
	free(c.fuse_opts);
	free(c.guard);
	return rc;
}
