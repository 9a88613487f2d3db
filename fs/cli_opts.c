/*
 * cli_opts.c - the command line of export, mount and merge: the usage
 * text, the one option table, and the checks that make a bad command
 * line an exit status 2 before anything is opened (cli.h).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_opt.h>

#include "export.h"
#include "log.h"
#include "mount.h"
#include "places.h"
#include "registry.h"
#include "shard_run.h"
#include "rules.h"
#include "scan.h"
#include "store.h"
#include "verify.h"
#include "view.h"
#include "cli.h"

static const char usage_text[] =
	"usage: deidfs export [OPTIONS] SOURCE DEST\n"
	"       deidfs mount  [OPTIONS] SOURCE MOUNTPOINT\n"
	"       deidfs SOURCE MOUNTPOINT -o OPTIONS    (a mount: the form "
	"mount(8) and\n"
	"                                              /etc/fstab use, as "
	"type fuse.deidfs)\n"
	"       deidfs export --shard I/N [--index-only] [OPTIONS] SOURCE DEST\n"
	"       deidfs merge  [OPTIONS] SOURCE DEST   (a sharded run: README "
	"\"On a cluster\")\n"
	"       deidfs verify --db FILE [--csv-out FILE] [--report FILE] "
	"DATASET\n"
	"       deidfs lookup --db FILE PSEUDONYM|VIEW-PATH|PERSONAL-ID\n"
	"       deidfs --help | --version\n"
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
	"  --month-dates            dates kept to the month (YYYYMM01), as the\n"
	"                           folders and the CSV's month column say\n"
	"  --with-quarantine        export: also write .quarantine/\n"
	"  --scan-allow FILE        words burned-in text may hold besides the\n"
	"                           view markers and technique values\n"
	"  --scan-timeout SECONDS   per file, CPU time (default 300): then\n"
	"                           unreadable\n"
	"  --no-scan                do not look for burned-in text (at your "
	"risk)\n"
	"  --mask-burned-in         paint burned-in text over and publish "
	"(uncompressed\n"
	"                           pixel data; compressed stays in "
	"quarantine)\n"
	"  -j, --jobs N             worker threads (default: number of CPUs)\n"
	"  --report FILE            write the run report as JSON\n"
	"  --shard I/N              export: task I (0..N-1) of a sharded run "
	"of N tasks:\n"
	"                           the files of its share only\n"
	"  --index-only             with --shard: index the share into "
	"FILE.shard-I-of-N\n"
	"  -q, --quiet              no report or progress on stderr\n"
	"  -h, --help               this help\n"
	"  --version                print the version\n"
	"  mount only: -f (foreground), -d (debug), -o OPT (FUSE options),\n"
	"              --no-refresh (serve the existing index),\n"
	"              --nonempty (allow a mount point that is not empty)\n"
	"\n"
	"Every long option is also -o NAME[=VALUE] without its dashes\n"
	"(-o db=FILE,csv=FILE,modalities=MG\\,OT,no-refresh); a comma in a "
	"value\n"
	"is written \\,.  The mount is read-only: -o rw is refused.\n"
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

/* ---------------------------------------------------------- options */

/*
 * The command line is parsed by one fuse_opt table into one struct
 * options, with the spellings getopt_long() gave it.  fuse_opt matches a
 * template with an argument ("--csv %s") as a prefix, so "--csv" would
 * also match "--csv-spec"; an option with an argument is therefore matched
 * exactly, by its name ("--csv") or with its value ("--csv=FILE"), and a
 * name alone takes the next argument as its value, whatever it looks like
 * (opt_proc(): o->pending), as getopt_long() does; only "--", "-j" and an
 * argument starting with "-o" are fuse_opt's own there.  -j is matched as
 * a prefix ("-j N", "-jN"): no other option starts with it.  Long options
 * are not abbreviated.  FUSE's own options (-f, -d, -o OPT) go to o->fuse
 * for the mount (mount_parse_args()); export ignores them, as it always
 * did.
 */
enum opt_key {
	KEY_DB = 1,
	KEY_CSV,
	KEY_CSV_SPEC,
	KEY_DELIMITER,
	KEY_CSV_NAME,
	KEY_LINK_DATE,
	KEY_MODALITIES,
	KEY_LAYOUT,
	KEY_REPORT,
	KEY_WHITELIST,
	KEY_JOBS,
	KEY_SCAN_ALLOW,
	KEY_SCAN_TIMEOUT,
	KEY_SHARD,
	KEY_LAST_WITH_ARG = KEY_SHARD,	/* these above take an argument */
	KEY_NO_HEADER,
	KEY_INCLUDE_UNLINKED,
	KEY_WITH_QUARANTINE,
	KEY_NO_REFRESH,
	KEY_NO_SCAN,
	KEY_NONEMPTY,
	KEY_MASK_BURNED_IN,
	KEY_INDEX_ONLY,
	KEY_RTN_SAFE_PRIVATE,
	KEY_RTN_UIDS,
	KEY_RTN_DEVICE_ID,
	KEY_RTN_INSTITUTION_ID,
	KEY_RTN_PATIENT_CHARS,
	KEY_RTN_LONG_FULL_DATES,
	KEY_RTN_LONG_MODIF_DATES,
	KEY_CLEAN_DESCRIPTORS,
	KEY_MONTH_DATES,
	KEY_QUIET,
	KEY_HELP,
	KEY_VERSION,
};

/*
 * Every long option is also a FUSE-style -o option of the same name
 * without its dashes ("--db FILE" is "-o db=FILE", "--no-refresh" is "-o
 * no-refresh"): the only form mount(8), /etc/fstab and mount.fuse3 can
 * pass.  fuse_opt splits -o at commas; a comma inside a value is written
 * "\," (modalities=MG\,OT).
 */
#define OPT_ARG(name, key) FUSE_OPT_KEY("--" name, key), \
	FUSE_OPT_KEY("--" name "=", key), FUSE_OPT_KEY(name "=", key)
#define OPT_FLAG(name, key) FUSE_OPT_KEY("--" name, key), \
	FUSE_OPT_KEY(name, key)

static const struct fuse_opt opt_table[] = {
	OPT_ARG("db", KEY_DB),
	OPT_ARG("csv", KEY_CSV),
	OPT_ARG("csv-spec", KEY_CSV_SPEC),
	OPT_ARG("delimiter", KEY_DELIMITER),
	OPT_ARG("csv-name", KEY_CSV_NAME),
	OPT_ARG("link-date-column", KEY_LINK_DATE),
	OPT_ARG("modalities", KEY_MODALITIES),
	OPT_ARG("layout", KEY_LAYOUT),
	OPT_ARG("report", KEY_REPORT),
	OPT_ARG("whitelist", KEY_WHITELIST),
	OPT_ARG("jobs", KEY_JOBS),
	FUSE_OPT_KEY("-j ", KEY_JOBS),
	OPT_ARG("scan-allow", KEY_SCAN_ALLOW),
	OPT_ARG("scan-timeout", KEY_SCAN_TIMEOUT),
	OPT_FLAG("no-scan", KEY_NO_SCAN),
	OPT_FLAG("mask-burned-in", KEY_MASK_BURNED_IN),
	OPT_ARG("shard", KEY_SHARD),
	OPT_FLAG("index-only", KEY_INDEX_ONLY),
	OPT_FLAG("no-header", KEY_NO_HEADER),
	OPT_FLAG("include-unlinked", KEY_INCLUDE_UNLINKED),
	OPT_FLAG("with-quarantine", KEY_WITH_QUARANTINE),
	OPT_FLAG("no-refresh", KEY_NO_REFRESH),
	OPT_FLAG("nonempty", KEY_NONEMPTY),
	OPT_FLAG("retain-safe-private", KEY_RTN_SAFE_PRIVATE),
	OPT_FLAG("retain-uids", KEY_RTN_UIDS),
	OPT_FLAG("retain-device-id", KEY_RTN_DEVICE_ID),
	OPT_FLAG("retain-institution-id", KEY_RTN_INSTITUTION_ID),
	OPT_FLAG("retain-patient-chars", KEY_RTN_PATIENT_CHARS),
	OPT_FLAG("retain-long-full-dates", KEY_RTN_LONG_FULL_DATES),
	OPT_FLAG("retain-long-modified-dates", KEY_RTN_LONG_MODIF_DATES),
	OPT_FLAG("clean-descriptors", KEY_CLEAN_DESCRIPTORS),
	OPT_FLAG("month-dates", KEY_MONTH_DATES),
	FUSE_OPT_KEY("-q", KEY_QUIET),
	OPT_FLAG("quiet", KEY_QUIET),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END,
};

/* The PS3.15 options, each a flag of its own. */
static const struct {
	enum opt_key key;
	unsigned flag;
} rules_flags[] = {
	{ KEY_RTN_SAFE_PRIVATE, RULES_RTN_SAFE_PRIVATE },
	{ KEY_RTN_UIDS, RULES_RTN_UIDS },
	{ KEY_RTN_DEVICE_ID, RULES_RTN_DEVICE_ID },
	{ KEY_RTN_INSTITUTION_ID, RULES_RTN_INSTITUTION_ID },
	{ KEY_RTN_PATIENT_CHARS, RULES_RTN_PATIENT_CHARS },
	{ KEY_RTN_LONG_FULL_DATES, RULES_RTN_LONG_FULL_DATES },
	{ KEY_RTN_LONG_MODIF_DATES, RULES_RTN_LONG_MODIF_DATES },
	{ KEY_CLEAN_DESCRIPTORS, RULES_CLEAN_DESCRIPTORS },
	{ KEY_MONTH_DATES, RULES_MONTH_DATES },
};

void cli_options_free(struct options *o)
{
	free(o->db);
	free(o->csv);
	free(o->csv_spec);
	free(o->csv_name);
	free(o->modalities);
	free(o->layout);
	free(o->report);
	free(o->whitelist);
	free(o->scan_allow);
	free(o->pos[0]);
	free(o->pos[1]);
	fuse_opt_free_args(&o->fuse);
	places_clear(&o->places);
}

/* The name of an option with an argument, for messages. */
static const char *key_name(enum opt_key key)
{
	const struct fuse_opt *t;

	for (t = opt_table; t->templ; t++)
		if (t->value == (int)key && !strpbrk(t->templ, "= "))
			return t->templ;
	return "-j";
}

static int usage_error(struct options *o)
{
	o->status = EXIT_USAGE;
	return -1;
}

/* A number from 1 to max, or -1. */
static long count_arg(const char *s, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	return errno || *end || end == s || n < 1 || n > max ? -1 : n;
}

/* The string an option with an argument keeps. */
static char **string_slot(struct options *o, enum opt_key key)
{
	switch (key) {
	case KEY_DB:
		return &o->db;
	case KEY_CSV:
		return &o->csv;
	case KEY_CSV_SPEC:
		return &o->csv_spec;
	case KEY_CSV_NAME:
		return &o->csv_name;
	case KEY_MODALITIES:
		return &o->modalities;
	case KEY_LAYOUT:
		return &o->layout;
	case KEY_REPORT:
		return &o->report;
	case KEY_WHITELIST:
		return &o->whitelist;
	case KEY_SCAN_ALLOW:
		return &o->scan_allow;
	default:
		return NULL;
	}
}

/* The argument val of the option key.  Returns 0, or -1 with o->status. */
static int set_value(struct options *o, enum opt_key key, const char *val)
{
	char **slot = string_slot(o, key);
	long n;

	switch (key) {
	case KEY_DELIMITER:
		if (strlen(val) != 1 || val[0] == '"' || val[0] == '\n' ||
		    val[0] == '\r') {
			fail("--delimiter: give one character, not a quote "
			     "or a line break");
			return usage_error(o);
		}
		o->cfg.csv_delimiter = val[0];
		return 0;
	case KEY_LINK_DATE:
		n = strcmp(val, "none") ? count_arg(val, 1024) : 0;
		if (n < 0) {
			fail("--link-date-column: give a column number "
			     "(1-1024) or 'none'");
			return usage_error(o);
		}
		o->cfg.csv_date_column = n ? (int)n : -1;
		return 0;
	case KEY_JOBS:
		n = count_arg(val, 256);
		if (n < 0) {
			fail("--jobs: give a number from 1 to 256");
			return usage_error(o);
		}
		o->cfg.jobs = (unsigned)n;
		return 0;
	case KEY_WHITELIST:
		o->cfg.rules_options |= RULES_CLEAN_DESCRIPTORS;
		break;
	case KEY_SHARD:
		if (shard_parse(val, &o->shard.i, &o->shard.n)) {
			fail("--shard: I/N, a task I from 0 to N-1 of N tasks "
			     "(N at most 4096)");
			return usage_error(o);
		}
		o->sharded = 1;
		return 0;
	case KEY_SCAN_TIMEOUT:
		n = count_arg(val, 86400);
		if (n < 0) {
			fail("--scan-timeout: give seconds, from 1 to 86400");
			return usage_error(o);
		}
		o->cfg.scan_timeout_s = (unsigned)n;
		return 0;
	default:
		break;
	}
	assert(slot);	/* the other options with an argument: strings */
	free(*slot);
	*slot = strdup(val);
	if (!*slot) {
		o->status = EXIT_FATAL;
		return -1;
	}
	return 0;
}

/* An option without an argument. */
static int set_flag(struct options *o, enum opt_key key)
{
	size_t i;

	switch (key) {
	case KEY_NO_HEADER:
		o->cfg.csv_header = 0;
		return 0;
	case KEY_INCLUDE_UNLINKED:
		o->cfg.include_unlinked = 1;
		return 0;
	case KEY_WITH_QUARANTINE:
		o->with_quarantine = 1;
		return 0;
	case KEY_NO_REFRESH:
		o->no_refresh = 1;
		return 0;
	case KEY_NO_SCAN:
		o->cfg.no_scan = 1;
		return 0;
	case KEY_NONEMPTY:
		o->nonempty = 1;
		return 0;
	case KEY_MASK_BURNED_IN:
		o->cfg.mask_burned_in = 1;
		return 0;
	case KEY_INDEX_ONLY:
		o->index_only = 1;
		return 0;
	case KEY_QUIET:
		o->quiet = 1;
		return 0;
	case KEY_HELP:
		fputs(usage_text, stdout);
		o->status = -1;
		return -1;
	case KEY_VERSION:
		printf("deidfs %s\n", DEIDFS_VERSION);
		o->status = -1;
		return -1;
	default:
		for (i = 0; i < sizeof(rules_flags) / sizeof(rules_flags[0]);
		     i++)
			if (rules_flags[i].key == key)
				o->cfg.rules_options |= rules_flags[i].flag;
		return 0;
	}
}

/* An option of no key: FUSE's own -f and -d, and each -o option (which
 * comes here without its -o), are kept for the mount; anything else is
 * unknown. */
static int other_option(struct options *o, const char *arg)
{
	if (o->cmd == CMD_MOUNT && !strcmp(arg, "rw")) {
		/* mount(8) adds rw unless the fstab line says ro: the view
		 * is read-only, and mount(8) must not list it as rw */
		fail("-o rw: the view is read-only; mount it with -o ro (in "
		     "/etc/fstab: ro)");
		return usage_error(o);
	}
	if (!strcmp(arg, "-f") || !strcmp(arg, "-d") || arg[0] != '-')
		return 1;	/* kept in o->fuse */
	fail("unrecognized option '%s'", arg);
	fputs("(deidfs --help lists the options)\n", stderr);
	return usage_error(o);
}

/* fuse_opt's callback: returns 0 (consumed), 1 (kept for FUSE) or -1 (stop
 * parsing: o->status says why). */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;
	const char *eq;

	(void)outargs;
	if (o->pending) {	/* the argument of the option before */
		enum opt_key k = o->pending;

		o->pending = 0;
		return set_value(o, k, arg);
	}
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (o->npos < 2 && !(o->pos[o->npos] = strdup(arg))) {
			o->status = EXIT_FATAL;
			return -1;
		}
		o->npos++;
		return 0;
	}
	if (key == FUSE_OPT_KEY_OPT)
		return other_option(o, arg);
	if (key > KEY_LAST_WITH_ARG)
		return set_flag(o, (enum opt_key)key);
	if (arg[0] != '-')			/* -o name=value */
		return set_value(o, (enum opt_key)key, strchr(arg, '=') + 1);
	if (arg[1] != '-')			/* -jN, or -j N */
		return set_value(o, (enum opt_key)key, arg + 2);
	eq = strchr(arg, '=');
	if (eq)					/* --name=value */
		return set_value(o, (enum opt_key)key, eq + 1);
	o->pending = (enum opt_key)key;		/* --name value */
	return 0;
}

/* The checks of a whole command line, before anything is opened. */
static int check_options(struct options *o)
{
	const char *cmd = o->cmd == CMD_EXPORT ? "export" :
			  o->cmd == CMD_MERGE ? "merge" : "mount";

	if (o->npos != 2) {
		fail("%s needs SOURCE and %s (give both; --help)", cmd,
		     o->cmd == CMD_MOUNT ? "MOUNTPOINT" : "DEST");
		return EXIT_USAGE;
	}
	if (!o->db) {
		fail("--db FILE is required: it keeps the key and the "
		     "pseudonyms, so later runs stay consistent");
		return EXIT_USAGE;
	}
	if (o->modalities && !*o->modalities) {
		fail("--modalities: give a list like MG,OT or 'all'");
		return EXIT_USAGE;
	}
	if ((o->cfg.rules_options & RULES_MONTH_DATES) &&
	    (o->cfg.rules_options & (RULES_RTN_LONG_FULL_DATES |
				     RULES_RTN_LONG_MODIF_DATES))) {
		fail("--month-dates keeps dates to the month; "
		     "--retain-long-full-dates and --retain-long-modified-dates "
		     "keep or shift them whole: choose one of the three");
		return EXIT_USAGE;
	}
	if (o->csv_spec) {
		/* Here, before the db is opened (or created): a bad spec is a
		 * usage error, with or without --csv. */
		struct registry_spec *sp = NULL;
		char err[256] = "";
		int ret = registry_spec_parse(o->csv_spec, &sp, err,
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
	if (o->cmd != CMD_MOUNT && o->nonempty) {
		fail("--nonempty is for mount (an export writes into any "
		     "folder): drop it");
		return EXIT_USAGE;
	}
	if (o->cmd == CMD_EXPORT && o->fuse.argc > 1) {
		/* kept for FUSE by other_option(): -f, -d, a -o that is no
		 * option of ours; an export has no use for them */
		fail("%s%s%s: not an export option (-f, -d and FUSE's -o "
		     "options are for mount; deidfs --help lists the "
		     "options)", o->fuse.argv[1],
		     o->fuse.argc > 2 ? " " : "",
		     o->fuse.argc > 2 ? o->fuse.argv[2] : "");
		return EXIT_USAGE;
	}
	if (o->cmd != CMD_EXPORT && o->sharded) {
		fail("--shard is for export (merge takes every task's files)");
		return EXIT_USAGE;
	}
	if (o->index_only && !o->sharded) {
		fail("--index-only goes with --shard I/N");
		return EXIT_USAGE;
	}
	if (o->cmd == CMD_MOUNT && o->with_quarantine) {
		fail("--with-quarantine is for export; the mount always has "
		     ".quarantine/ (hidden)");
		return EXIT_USAGE;
	}
	return 0;
}

/* The front ends' options, from the command line's. */
static void fill_front_ends(struct options *o)
{
	struct view_config *cfg = &o->cfg;

	cfg->source = o->pos[0];
	cfg->csv_path = o->csv;
	cfg->db_path = o->db;
	cfg->csv_spec = o->csv_spec;
	cfg->csv_name = o->csv_name;
	cfg->modalities = o->modalities;
	cfg->layout = o->layout;
	cfg->quiet = o->quiet;
	cfg->row_report = row_report;
	/* export opens every file once, right after the refresh */
	cfg->maps = o->cmd == CMD_MOUNT ? VIEW_MAPS_KEEP : VIEW_MAPS_ONCE;
	/* a shard's index opens nothing after it: keep no maps */
	if (o->index_only)
		cfg->maps = VIEW_MAPS_NONE;
	o->shard.mode = o->cmd == CMD_MERGE ? SHARD_MERGE :
			!o->sharded ? SHARD_NONE :
			o->index_only ? SHARD_INDEX : SHARD_EXPORT;
	o->shard.db = o->db;
	o->shard.quiet = o->quiet;
	o->export.dest = o->pos[1];
	o->export.with_quarantine = o->with_quarantine;
	o->export.jobs = cfg->jobs;
	o->export.quiet = o->quiet;
	o->export.report = o->report;
	o->mount.mountpoint = o->pos[1];
	o->mount.no_refresh = o->no_refresh;
	o->mount.nonempty = o->nonempty;
	o->mount.quiet = o->quiet;
	o->mount.report = o->report;
}

/* Whether the first argument is a SOURCE rather than a command: a path
 * with a slash, or an existing folder (mount(8) passes the source as the
 * fstab line gives it).  A mistyped command is neither. */
static int helper_form(const char *arg)
{
	struct stat st;

	return arg[0] != '-' && (strchr(arg, '/') ||
				 (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)));
}

int cli_parse(int argc, char **argv, struct options *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc - 1, argv + 1);
	long j;
	int ret;

	memset(o, 0, sizeof(*o));
	o->cfg.csv_header = 1;
	o->cfg.csv_delimiter = ';';
	j = sysconf(_SC_NPROCESSORS_ONLN);
	o->cfg.jobs = j > 0 && j < 256 ? (unsigned)j : 2;
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
	if (!strcmp(argv[1], "export")) {
		o->cmd = CMD_EXPORT;
	} else if (!strcmp(argv[1], "merge")) {
		o->cmd = CMD_MERGE;
	} else if (!strcmp(argv[1], "mount")) {
		o->cmd = CMD_MOUNT;
	} else if (helper_form(argv[1])) {
		/* mount.fuse3 (mount -t fuse.deidfs, /etc/fstab) runs
		 * "deidfs SOURCE MOUNTPOINT -o OPTIONS": a mount, with
		 * argv[0] as fuse_opt's program name */
		o->cmd = CMD_MOUNT;
		args.argc = argc;
		args.argv = argv;
	} else {
		fail("unknown command '%s' (use export or mount; --help)",
		     argv[1]);
		return EXIT_USAGE;
	}
	if (fuse_opt_parse(&args, o, opt_table, opt_proc)) {
		if (o->status)
			return o->status;
		/* fuse_opt said why: -j or -o without its argument */
		fputs("(deidfs --help lists the options)\n", stderr);
		return EXIT_USAGE;
	}
	o->fuse = args;		/* fuse_opt_parse() made it ours */
	if (o->pending) {
		fail("option '%s' requires an argument", key_name(o->pending));
		fputs("(deidfs --help lists the options)\n", stderr);
		return EXIT_USAGE;
	}
	ret = check_options(o);
	if (ret)
		return ret;
	fill_front_ends(o);
	return o->cmd == CMD_MOUNT ? mount_parse_args(&o->fuse, &o->mount)
				   : 0;
}
