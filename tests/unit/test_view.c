/*
 * test_view.c - the view model's stages on their own: the cohort (which
 * registry rows and records link), the index refresh (what is analysed
 * again, what is pruned) and the tree (inode numbers, parents, lookups,
 * stable across builds, new for a changed file).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "dicom.h"
#include "scan.h"
#include "view_cohort.h"

static char tmp[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/deidfs-test-view-XXXXXX");
	if (!mkdtemp(tmp) || dicom_init())
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- cohort */

static struct rec mkrec(const char *pid, const char *date, int status)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.f.patient_id = strdup(pid);
	r.f.pseudonym = strdup("pseudo");
	r.f.study_date = strdup(date);
	r.f.study_uid = strdup(date);	/* one study per date */
	r.f.status = status;
	return r;
}

/* Rows link studies by (personal ID, screening date); a row without a
 * study is left out, a study without a row too; a quarantined study still
 * links its row; a second row with one key is written and reported. */
static void test_cohort(void **state)
{
	struct view_engine e;
	struct view_stats st;
	struct build b;
	char csv[128], err[256] = "";
	size_t i;

	(void)state;
	snprintf(csv, sizeof(csv), "%s/registry.csv", tmp);
	write_file(csv,
		   "fnr;inv;screening;c4;c5;c6;c7;c8;c9;diag\n"
		   "11111111111;I1;01.03.2015;a;b;c;d;e;f;\n"
		   "22222222222;I2;01.03.2016;a;b;c;d;e;f;\n"
		   "33333333333;I3;01.01.2017;a;b;c;d;e;f;\n"
		   "11111111111;I4;01.03.2015;x;b;c;d;e;f;\n");
	memset(&e, 0, sizeof(e));
	e.cfg.csv_path = csv;
	e.cfg.csv_delimiter = ';';
	e.cfg.csv_header = 1;
	e.cfg.quiet = 1;
	assert_int_equal(registry_spec_parse(REGISTRY_DEFAULT_SPEC, &e.spec,
					     err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	memset(&b, 0, sizeof(b));
	b.e = &e;
	b.st = &st;
	b.err = err;
	b.errsz = sizeof(err);
	b.rctx.st = &st;
	b.rctx.cfg = &e.cfg;
	b.rs.v = calloc(4, sizeof(*b.rs.v));
	assert_non_null(b.rs.v);
	b.rs.v[0] = mkrec("11111111111", "20150301", RULES_OK);
	b.rs.v[1] = mkrec("11111111111", "20160301", RULES_OK);
	b.rs.v[2] = mkrec("22222222222", "20160301", RULES_Q_BURNED_IN);
	b.rs.v[3] = mkrec("44444444444", "20160301", ANALYSIS_SKIP);
	b.rs.n = b.rs.cap = 4;

	assert_int_equal(view_cohort_read(&b), 0);
	assert_int_equal(view_cohort_assign(&b), 0);
	assert_int_equal(b.nrows, 4);
	assert_int_equal(b.row_include[0], 1);
	assert_int_equal(b.row_include[1], 1);	/* a quarantined study */
	assert_int_equal(b.row_include[2], 0);	/* no study */
	assert_int_equal(b.row_include[3], 1);	/* same key as row 1 */
	assert_true(b.rs.v[0].included && !b.rs.v[0].quarantine);
	assert_false(b.rs.v[1].included);	/* no row for its date */
	assert_true(b.rs.v[2].included && b.rs.v[2].quarantine);
	assert_int_equal(st.csv_rows, 4);
	assert_int_equal(st.csv_rows_unlinked, 1);
	assert_int_equal(st.unlinked_files, 1);
	assert_int_equal(st.unlinked_studies, 1);
	assert_int_equal(st.quarantined[RULES_Q_BURNED_IN], 1);
	assert_int_equal(st.skipped_dicomdir, 1);
	assert_int_equal(st.csv_row_problems, 1);	/* the second key */

	free(b.rowkeys);
	free(b.reckeys);
	free(b.row_include);
	registry_free(b.reg);
	explicit_bzero(b.csvbuf, b.csvlen);
	free(b.csvbuf);
	free(b.rctx.log);
	for (i = 0; i < b.rs.n; i++)
		store_file_clear(&b.rs.v[i].f);
	free(b.rs.v);
	registry_spec_free(e.spec);
}

/* ------------------------------------------------------- index and tree */

struct fixture {
	struct store *st;
	struct view_engine *e;
	char src[96], db[96];
};

static void fixture_open(struct fixture *x)
{
	struct view_config cfg;
	char err[256] = "", path[128];

	snprintf(x->src, sizeof(x->src), "%s/src", tmp);
	snprintf(x->db, sizeof(x->db), "%s/p.db", tmp);
	mkdir(x->src, 0755);
	snprintf(path, sizeof(path), "%s/sub", x->src);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/a.dcm", x->src);
	copy_file("tests/data/MR_small.dcm", path);
	snprintf(path, sizeof(path), "%s/sub/b.dcm", x->src);
	copy_file("tests/data/MR_small_implicit.dcm", path);
	snprintf(path, sizeof(path), "%s/notes.txt", x->src);
	write_file(path, "not DICOM\n");
	assert_int_equal(store_open(x->db, 1, &x->st), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.source = x->src;
	cfg.store = x->st;
	cfg.modalities = "all";
	cfg.jobs = 2;
	cfg.quiet = 1;
	assert_int_equal(view_engine_new(&cfg, &x->e, err, sizeof(err)), 0);
}

static void fixture_close(struct fixture *x)
{
	view_engine_free(x->e);
	store_close(x->st);
}

static struct view *build(struct fixture *x, struct view_stats *vs)
{
	struct view *v = NULL;
	char err[256] = "";

	memset(vs, 0, sizeof(*vs));
	assert_int_equal(view_refresh(x->e, vs, NULL, NULL), 0);
	assert_int_equal(view_build(x->e, vs, &v, err, sizeof(err)), 0);
	return v;
}

/* Every node: files even, folders odd, all distinct; its parent a folder
 * whose children include it; its path found again by lookups. */
static void check_tree(const struct view *v)
{
	size_t i, j, n = view_node_count(v);

	assert_int_equal(view_root(v)->ino, VIEW_INO_ROOT);
	for (i = 0; i < n; i++) {
		const struct view_node *nd = view_node_at(v, i);
		const struct view_node *par = view_lookup_ino(v, nd->parent);
		const struct view_node *at = view_root(v);
		char path[PATH_MAX], *s, *save = NULL;
		int found = 0;

		assert_ptr_equal(view_lookup_ino(v, nd->ino), nd);
		assert_int_equal(nd->ino & 1, nd->kind == VIEW_DIR);
		for (j = 0; j < i; j++)
			assert_true(view_node_at(v, j)->ino != nd->ino);
		assert_non_null(par);
		assert_int_equal(par->kind, VIEW_DIR);
		if (nd == view_root(v))
			continue;
		for (j = 0; j < par->nchildren; j++)
			found |= view_child(v, par, (uint32_t)j) == nd;
		assert_true(found);
		assert_true(view_path(v, nd, path, sizeof(path)) > 0);
		for (s = strtok_r(path, "/", &save); s;
		     s = strtok_r(NULL, "/", &save))
			at = view_lookup(v, at, s);
		assert_ptr_equal(at, nd);
	}
}

static const struct view_node *file_with_id(const struct view *v,
					    int64_t id)
{
	size_t i;

	for (i = 0; i < view_node_count(v); i++)
		if (view_node_at(v, i)->kind == VIEW_DICOM &&
		    view_node_at(v, i)->file_id == id)
			return view_node_at(v, i);
	return NULL;
}

/* The refresh analyses new and changed files only and prunes removed
 * ones; the tree keeps every inode across builds, and a changed file gets
 * a new one. */
static void test_index_and_tree(void **state)
{
	struct fixture x;
	struct view_stats vs;
	struct view *v1, *v2, *v3;
	struct store_file f;
	char path[128];
	int64_t ida, idb;
	uint64_t inoa, inob;

	(void)state;
	memset(&x, 0, sizeof(x));
	fixture_open(&x);
	v1 = build(&x, &vs);
	assert_int_equal(vs.files_seen, 3);
	assert_int_equal(vs.files_analysed, 3);
	assert_int_equal(vs.files_unchanged, 0);
	assert_int_equal(vs.published, 2);
	assert_int_equal(vs.quarantined[RULES_Q_NOT_DICOM], 1);
	check_tree(v1);
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_file_get(x.st, "a.dcm", &f), 0);
	ida = f.id;
	store_file_clear(&f);
	assert_int_equal(store_file_get(x.st, "sub/b.dcm", &f), 0);
	idb = f.id;
	store_file_clear(&f);
	inoa = file_with_id(v1, ida)->ino;
	inob = file_with_id(v1, idb)->ino;

	/* nothing changed: nothing analysed, the same tree */
	v2 = build(&x, &vs);
	assert_int_equal(vs.files_analysed, 0);
	assert_int_equal(vs.files_unchanged, 3);
	assert_int_equal(view_node_count(v2), view_node_count(v1));
	assert_int_equal(file_with_id(v2, ida)->ino, inoa);
	check_tree(v2);

	/* a.dcm rewritten, b.dcm removed */
	snprintf(path, sizeof(path), "%s/a.dcm", x.src);
	copy_file("tests/data/MR_small_bigendian.dcm", path);
	snprintf(path, sizeof(path), "%s/sub/b.dcm", x.src);
	assert_int_equal(unlink(path), 0);
	v3 = build(&x, &vs);
	assert_int_equal(vs.files_analysed, 1);
	assert_int_equal(vs.files_unchanged, 1);
	assert_non_null(file_with_id(v3, ida));
	assert_true(file_with_id(v3, ida)->ino != inoa);	/* new version */
	assert_null(file_with_id(v3, idb));
	assert_int_equal(store_file_get(x.st, "sub/b.dcm", &f), -ENOENT);
	check_tree(v3);
	(void)inob;
	view_free(v1);
	view_free(v2);
	view_free(v3);
	fixture_close(&x);
}

/* ------------------------------------------------------------ snapshot */

/* SQL on the db behind the store's back, as a person with sqlite3 would. */
static void raw_sql(const char *db, const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

static void assert_same_view(const struct view *a, const struct view *b)
{
	size_t i, la, lb;

	assert_int_equal(view_node_count(a), view_node_count(b));
	for (i = 0; i < view_node_count(a); i++) {
		const struct view_node *x = view_node_at(a, i);
		const struct view_node *y = view_node_at(b, i);
		const char *ta, *tb;

		assert_true(x->ino == y->ino && x->parent == y->parent);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->hidden, y->hidden);
		assert_int_equal(x->quarantined, y->quarantined);
		assert_true(x->size == y->size && x->mtime_ns == y->mtime_ns);
		assert_true(x->file_id == y->file_id);
		assert_int_equal(x->nchildren, y->nchildren);
		assert_int_equal(x->first_child, y->first_child);
		assert_ptr_equal(view_lookup_ino(b, y->ino), y);
		ta = view_text(a, x, &la);
		tb = view_text(b, y, &lb);
		assert_int_equal(la, lb);
		assert_int_equal(!ta, !tb);
		if (ta)
			assert_memory_equal(ta, tb, la);
	}
}

/* Whether the db records the names' digest (view_reuse.c): a build from
 * the rows writes it when it is not there, a loaded snapshot writes
 * nothing.  Deleted by hand (settings has no trigger), it tells which. */
static int names_recorded(struct fixture *x)
{
	char v[160];

	return store_setting_get(x->st, "view.names", v, sizeof(v)) == 0;
}

#define FORGET_NAMES "DELETE FROM settings WHERE k = 'view.names'"

/* build() by a new engine, as a new run of deidfs makes one: an engine
 * keeps the view of its first build only (a live mount's rebuilds keep
 * none). */
static struct view *build_anew(struct fixture *x, struct view_stats *vs)
{
	struct view_config cfg = *view_engine_config(x->e);
	char err[256] = "";

	view_engine_free(x->e);
	assert_int_equal(view_engine_new(&cfg, &x->e, err, sizeof(err)), 0);
	return build(x, vs);
}

/* A build from an unchanged index loads the view the last build kept
 * (fs/view_snap.c), the same to the byte, counters included; a row changed
 * behind deidfs's back (sqlite3 by hand) or a damaged snapshot make it
 * build from the rows again. */
static void test_snapshot(void **state)
{
	struct fixture x;
	struct view_stats vs1, vs2, vs;
	struct view *v1, *v2, *v3, *v4;
	char hdr[16];

	(void)state;
	memset(&x, 0, sizeof(x));
	fixture_open(&x);
	v1 = build(&x, &vs1);
	assert_int_equal(store_snap_read(x.st, 0, hdr, sizeof(hdr)), 0);
	assert_memory_equal(hdr, "deidfs view snap", 16);

	raw_sql(x.db, FORGET_NAMES);
	v2 = build_anew(&x, &vs2);
	assert_false(names_recorded(&x));	/* loaded: nothing written */
	assert_same_view(v1, v2);
	assert_int_equal(vs2.published, vs1.published);
	assert_int_equal(vs2.bytes, vs1.bytes);
	assert_memory_equal(vs2.quarantined, vs1.quarantined,
			    sizeof(vs1.quarantined));
	assert_int_equal(vs2.ncauses, vs1.ncauses);
	assert_memory_equal(vs2.causes, vs1.causes,
			    vs1.ncauses * sizeof(vs1.causes[0]));
	assert_int_equal(vs2.files_unchanged, 3);	/* the refresh's own */

	/* a field the names come from, changed by hand: built again */
	raw_sql(x.db, "UPDATE files SET instance_number = 42 WHERE "
		      "path = CAST('a.dcm' AS BLOB)");
	v3 = build_anew(&x, &vs);
	assert_true(names_recorded(&x));
	check_tree(v3);

	/* so is a view path edited by hand (lookup answers from it): the
	 * build puts it back */
	raw_sql(x.db, "UPDATE files SET view_path = 'X' WHERE "
		      "path = CAST('a.dcm' AS BLOB)");
	raw_sql(x.db, FORGET_NAMES);
	view_free(build_anew(&x, &vs));
	assert_true(names_recorded(&x));

	/* a damaged snapshot (8 bytes near its end, in the inode table)
	 * is passed over */
	raw_sql(x.db, FORGET_NAMES);
	raw_sql(x.db, "UPDATE view_snap SET data = CAST(substr(data, 1, "
		      "length(data) - 100) || X'A5A5A5A5A5A5A5A5' || "
		      "substr(data, length(data) - 91) AS BLOB) WHERE part = 0");
	v4 = build_anew(&x, &vs);
	assert_true(names_recorded(&x));	/* built from the rows */
	assert_same_view(v3, v4);

	/* an engine's second build (a live mount's rebuild) keeps no view:
	 * the next run builds from the rows */
	raw_sql(x.db, "UPDATE files SET instance_number = 43 WHERE "
		      "path = CAST('a.dcm' AS BLOB)");
	view_free(build(&x, &vs));
	raw_sql(x.db, FORGET_NAMES);
	view_free(build_anew(&x, &vs));
	assert_true(names_recorded(&x));
	view_free(v1);
	view_free(v2);
	view_free(v3);
	view_free(v4);
	fixture_close(&x);
}


/* The generated texts' mtime and inode generation come from the settings
 * table (view_tree.c text_version()), which no trigger watches: a build
 * that loads the snapshot must still give what a build from the rows
 * gives for the db as it is now. */
static const struct view_node *reasons_node(const struct view *v)
{
	size_t i;

	for (i = 0; i < view_node_count(v); i++)
		if (view_node_at(v, i)->kind == VIEW_REASONS)
			return view_node_at(v, i);
	return NULL;
}

static void test_snapshot_text_setting(void **state)
{
	struct fixture x;
	struct view_stats vs;
	struct view *v1, *v2, *v3;
	struct view_engine *e2;
	struct view_config cfg;
	char err[256] = "";

	(void)state;
	memset(&x, 0, sizeof(x));
	fixture_open(&x);
	v1 = build(&x, &vs);		/* from the rows, kept */
	/* the texts' record changed (a person with sqlite3; or a build
	 * that keeps no snapshot, such as verify, with other texts) */
	raw_sql(x.db, "UPDATE settings SET v = substr(v, 1, 65) || "
		      "'12345000000000 5' WHERE k = 'mtime:reasons'");
	raw_sql(x.db, FORGET_NAMES);
	v2 = build(&x, &vs);	/* must not load the snapshot as it was */
	/* what a build from the rows gives now */
	cfg = *view_engine_config(x.e);
	cfg.no_snapshot = 1;
	assert_int_equal(view_engine_new(&cfg, &e2, err, sizeof(err)), 0);
	memset(&vs, 0, sizeof(vs));
	assert_int_equal(view_build(e2, &vs, &v3, err, sizeof(err)), 0);
	assert_non_null(reasons_node(v3));
	assert_true(reasons_node(v3)->mtime_ns == 12345000000000LL);
	assert_true(reasons_node(v3)->ino == VIEW_INO_TEXT(0, 5));
	/* the loaded view must be the same */
	assert_true(reasons_node(v2)->ino == reasons_node(v3)->ino);
	assert_true(reasons_node(v2)->mtime_ns == reasons_node(v3)->mtime_ns);
	view_engine_free(e2);
	view_free(v1);
	view_free(v2);
	view_free(v3);
	fixture_close(&x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cohort),
		cmocka_unit_test(test_index_and_tree),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_snapshot_text_setting),
	};

	/* the index's scan execs this binary as its worker (scan.h) */
	if (argc > 1 && !strcmp(argv[1], SCAN_WORKER_COMMAND))
		scan_worker_exec_main(argc, argv);

	return cmocka_run_group_tests(tests, setup, teardown);
}
