/*
 * verify.c - `deidfs verify --db FILE [--csv-out FILE] [--report FILE]
 * DATASET`: the release gate (include/verify.h).
 *
 * The db says what the dataset must be: the view it recorded (the source,
 * the CSV, the options; view_config_recall()) is built again from the
 * index, without refreshing it, and every entry of DATASET is held
 * against it: nothing missing, nothing extra, no stray temporary file, and
 * every file byte for byte what the view serves (a DICOM file's pixel data
 * read from its source through the view's byte map, as export and mount
 * do).  Independently of the view, every header byte, every name and
 * every text is searched in one pass with one automaton of all the
 * original values the db recorded (verify_values.h), and each header is
 * parsed and must carry the de-identification marks and keyed UIDs
 * (verify_check.h).
 *
 * Each file is read once, in large reads, sequentially: its bytes go to
 * the manifest's SHA-256, its header bytes through the automaton, and all
 * of it is compared with the view's bytes.
 *
 * What it prints (findings, the summary, the report) holds view paths,
 * tags, kinds and counts.  A name in DATASET that the view does not have
 * may be anything (a name, an ID): it is never printed; the finding names
 * the folder that holds it.
 */
#include "verify.h"

#include "verify_impl.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "keyed.h"
#include "log.h"
#include "verify_oracle.h"

static const char usage_text[] =
	"usage: deidfs verify --db FILE [--csv-out FILE] [--report FILE] "
	"[-j N]\n"
	"                     [--no-dciodvfy] [-q] DATASET\n"
	"\n"
	"Check that DATASET (an export directory or a live mount) is exactly "
	"the view\n"
	"the db recorded and holds no original value the db knows of.\n"
	"\n"
	"  --db FILE        the project db (read; never created)\n"
	"  --csv-out FILE   the cleaned CSV, when it is not in DATASET\n"
	"  --report FILE    write the report as JSON\n"
	"  -j, --jobs N     workers (default: number of CPUs); each reads up "
	"to 16 files\n"
	"                   at once when the CPU hashes 16 at once\n"
	"  --no-dciodvfy    do not run dciodvfy on each file and its source\n"
	"                   (it is skipped, and the report says so, when it "
	"is not\n"
	"                   installed)\n"
	"  -q, --quiet      only the result line on stdout\n"
	"\n"
	"Exit status: 0 nothing found, 1 findings (or the check could not be "
	"made),\n"
	"2 usage error.\n";

/* ------------------------------------------------------------ the db */

/*
 * The values searched are those of the patients in the dataset: the
 * patients of the view's files (published or quarantined), with every
 * file of theirs the db knows (a file the view leaves out still holds
 * her identity), and the registry's originals of these patients (of every
 * patient with a row, when --include-unlinked wrote rows of patients
 * without files).  Another patient's values would only add chance hits.
 */
struct scope {
	struct vrun *r;
	int64_t *view_ids;	/* file ids of the view's DICOM files */
	size_t nview, capview;
	char **pids;		/* personal IDs in the dataset (PHI) */
	size_t npids, cappids;
	int64_t *ids;		/* files whose values are searched */
	size_t nids, capids;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_id(const int64_t *ids, size_t n, int64_t id)
{
	return n && bsearch(&id, ids, n, sizeof(id), cmp_i64);
}

static int has_pid(const struct scope *sc, const char *pid)
{
	return pid && sc->npids &&
	       bsearch(&pid, sc->pids, sc->npids, sizeof(pid), cmp_str);
}

static void scope_free(struct scope *sc)
{
	size_t i;

	for (i = 0; i < sc->npids; i++)
		base_wipe_str_free(sc->pids[i]);
	free(sc->pids);
	free(sc->view_ids);
	free(sc->ids);
}

/* The patients of the view's files. */
static int patient_cb(void *arg, const struct store_file *f)
{
	struct scope *sc = arg;

	if (!f->patient_id || !has_id(sc->view_ids, sc->nview, f->id))
		return 0;
	if (BASE_GROW(sc->pids, sc->cappids, sc->npids, sc->npids + 1, 64,
		      0))
		return -ENOMEM;
	sc->pids[sc->npids] = strdup(f->patient_id);
	return sc->pids[sc->npids++] ? 0 : -ENOMEM;
}

/* Their files, and each record's patient ID and study date. */
static int record_cb(void *arg, const struct store_file *f)
{
	struct scope *sc = arg;
	int err = 0;

	if (!has_id(sc->view_ids, sc->nview, f->id) &&
	    !has_pid(sc, f->patient_id))
		return 0;
	if (BASE_GROW(sc->ids, sc->capids, sc->nids, sc->nids + 1, 256, 0))
		return -ENOMEM;
	sc->ids[sc->nids++] = f->id;
	if (f->patient_id)
		err = vval_add(sc->r->vals, VVAL_PATIENT_ID, f->patient_id,
			       strlen(f->patient_id));
	if (!err && f->study_date)
		err = vval_add(sc->r->vals, VVAL_DATE, f->study_date,
			       strlen(f->study_date));
	return err;
}

static int value_cb(void *arg, int64_t file_id, const char *path,
		    const char *action, const void *old, size_t oldlen)
{
	struct scope *sc = arg;

	if (!has_id(sc->ids, sc->nids, file_id))
		return 0;
	return vval_add(sc->r->vals, vval_kind_of(path, action), old, oldlen);
}

static int registry_cb(void *arg, const char *patient_id, int kind,
		       const void *v, size_t len)
{
	struct scope *sc = arg;

	if (!sc->r->cfg.include_unlinked && !has_pid(sc, patient_id))
		return 0;
	return vval_add(sc->r->vals,
			kind == STORE_REG_ID     ? VVAL_PATIENT_ID
			: kind == STORE_REG_DATE ? VVAL_DATE
						 : VVAL_REGISTRY,
			v, len);
}

static int view_ids(struct scope *sc)
{
	size_t i, n = view_node_count(sc->r->v);

	for (i = 0; i < n; i++) {
		const struct view_node *nd = view_node_at(sc->r->v, i);

		if (nd->kind != VIEW_DICOM)
			continue;
		if (BASE_GROW(sc->view_ids, sc->capview, sc->nview,
			      sc->nview + 1, 256, 0))
			return -ENOMEM;
		sc->view_ids[sc->nview++] = nd->file_id;
	}
	if (sc->nview)
		qsort(sc->view_ids, sc->nview, sizeof(int64_t), cmp_i64);
	return 0;
}

/* Every original value the db recorded for the patients in the dataset,
 * into one automaton. */
static int gather_values(struct vrun *r)
{
	struct scope sc;
	size_t i, k;
	int err;

	memset(&sc, 0, sizeof(sc));
	sc.r = r;
	err = vval_new(&r->vals);
	if (!err)
		err = view_ids(&sc);
	if (!err)
		err = store_file_foreach(r->st, patient_cb, &sc);
	if (!err && sc.npids) {
		qsort(sc.pids, sc.npids, sizeof(char *), cmp_str);
		for (i = k = 1; i < sc.npids; i++) {
			if (strcmp(sc.pids[i], sc.pids[k - 1]))
				sc.pids[k++] = sc.pids[i];
			else
				base_wipe_str_free(sc.pids[i]);
		}
		sc.npids = k;
	}
	r->scope_patients = sc.npids;
	if (!err)
		err = store_file_foreach(r->st, record_cb, &sc);
	if (!err && sc.nids)
		qsort(sc.ids, sc.nids, sizeof(int64_t), cmp_i64);
	if (!err)
		err = store_values_foreach(r->st, -1, value_cb, &sc);
	if (!err)
		err = store_registry_foreach(r->st, registry_cb, &sc);
	if (!err)
		err = vval_compile(r->vals, &r->acm);
	scope_free(&sc);
	return err;
}

static int open_all(struct vrun *r)
{
	struct view_stats vs;
	uint8_t key[KEYED_KEY_LEN], mac[32];
	char err[512] = "";
	int ret;

	ret = store_open(r->db, 0, &r->st);
	if (ret) {
		log_error("--db %s: %s", r->db,
			  ret == -ENOENT ? "no such db (give the project db "
					   "the export or mount used)" :
			  ret == -EBADMSG ? "not a deidfs db, or damaged "
					    "(check the path; restore a "
					    "damaged db from its backup)" :
			  strerror(-ret));
		return 1;
	}
	store_key(r->st, key);
	keyed_hmac(key, sizeof(key), "deidfs key fingerprint", "", 0, mac);
	explicit_bzero(key, sizeof(key));
	base_hex_encode(mac, 16, r->fingerprint, sizeof(r->fingerprint));
	ret = view_config_recall(r->st, &r->recall, &r->cfg);
	if (ret) {
		log_error("--db %s: %s", r->db, ret == -ENOENT
			  ? "it records no view: export or mount with it "
			    "(with this version of deidfs) first"
			  : "its recorded view cannot be read (export or "
			    "mount with it again, then verify)");
		return 1;
	}
	r->cfg.jobs = 1;
	r->cfg.quiet = 1;
	r->cfg.no_snapshot = 1;
	ret = view_init(&r->cfg, r->recall.whitelist, &r->wl, err,
			sizeof(err));
	if (!ret) {
		r->cfg.store = r->st;
		ret = view_engine_new(&r->cfg, &r->e, err, sizeof(err));
	}
	if (!ret) {
		memset(&vs, 0, sizeof(vs));
		ret = view_build(r->e, &vs, &r->v, err, sizeof(err));
	}
	if (ret) {
		log_error("cannot build the recorded view: %s (verify "
			  "reads the sources and the CSV where the export "
			  "found them: check they are still there)",
			  err[0] ? err : strerror(-ret));
		return 1;
	}
	r->check_uids = !(r->cfg.rules_options & RULES_RTN_UIDS);
	ret = gather_values(r);
	if (ret) {
		log_error("cannot read the recorded values from the db (%s): "
			  "run again; if it persists, check the db's disk",
			  strerror(-ret));
		return 1;
	}
	return 0;
}

static void vrun_free(struct vrun *r)
{
	verify_units_free(r);
	vval_free(r->vals);
	view_free(r->v);
	view_engine_free(r->e);
	view_whitelist_free(r->wl);
	view_recall_free(&r->recall);
	store_close(r->st);
}

static int parse(struct vrun *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "csv-out", required_argument, NULL, 'C' },
		{ "report", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "no-dciodvfy", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long j = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	int c;

	r->jobs = j > 0 && j < 256 ? (unsigned)j : 2;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+qhj:", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			r->db = optarg;
			break;
		case 'C':
			r->csv_out = optarg;
			break;
		case 'R':
			r->report = optarg;
			break;
		case 'q':
			r->quiet = 1;
			break;
		case 'j':
			errno = 0;
			j = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || j < 1 ||
			    j > 256) {
				log_error("verify: --jobs: a number from 1 to "
					  "256");
				return 2;
			}
			r->jobs = (unsigned)j;
			break;
		case 'O':
			r->oracle = VORACLE_OFF;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			log_error("verify: unknown option or missing argument "
				  "(deidfs verify --help)");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		log_error("verify needs one DATASET (deidfs verify --help)");
		return 2;
	}
	r->dataset = argv[optind];
	if (!r->db) {
		log_error("verify: --db FILE is required");
		return 2;
	}
	return 0;
}

/* The walk of DATASET, then its files by the pool. */
static int check_dataset(struct vrun *r)
{
	struct vwork w;
	int err = verify_work_init(&w, r);

	if (!err)
		err = verify_walk_view(&w, view_root(r->v), "", r->dataset,
				       0);
	if (!err && r->csv_out)
		err = verify_check_csv_out(&w);
	verify_work_done(&w);
	if (!err)
		err = verify_run_pool(r);
	if (!err)
		verify_count_kinds(r);
	return err;
}

int verify_main(int argc, char **argv, const char *version)
{
	struct vrun r;
	struct stat st;
	char date[32], qpath[PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	int rc, err;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	rc = parse(&r, argc, argv);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (stat(r.dataset, &st) || !S_ISDIR(st.st_mode)) {
		log_error("verify: %s is not a folder (give the export's "
			  "folder or the mount point)", r.dataset);
		rc = 2;
		goto out;
	}
	if (r.oracle == VORACLE_ON &&
	    voracle_find(VORACLE_PROG, r.oracle_path, sizeof(r.oracle_path)))
		r.oracle = VORACLE_ABSENT;
	rc = open_all(&r);
	if (rc)
		goto out;
	snprintf(qpath, sizeof(qpath), "%s/%s", r.dataset, VIEW_QUARANTINE);
	r.with_quarantine = !lstat(qpath, &st) && S_ISDIR(st.st_mode);
	err = check_dataset(&r);
	if (err == -EMFILE || err == -ENFILE || err == -ENOMEM) {
		log_error("verify: out of %s (%s): give fewer --jobs%s",
			  err == -ENOMEM ? "memory" : "file descriptors",
			  strerror(-err),
			  err == -ENOMEM ? "" : " or raise the hard limit on "
						"open files (ulimit -Hn)");
		rc = 1;
		goto out;
	}
	if (err) {
		log_error("verify: cannot read the dataset (%s): check it is "
			  "readable and, for a mount, still mounted",
			  strerror(-err));
		rc = 1;
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	verify_print_summary(&r);
	if (r.report) {
		err = verify_write_report(&r, version, date);
		if (err) {
			log_error("--report %s: %s (give a path in a folder "
				  "you can write)", r.report, strerror(-err));
			rc = 1;
			goto out;
		}
	}
	rc = verify_failing(&r) ? 1 : 0;
out:
	vrun_free(&r);
	pthread_mutex_destroy(&r.lock);
	return rc;
}
