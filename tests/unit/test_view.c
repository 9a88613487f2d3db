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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cohort),
		cmocka_unit_test(test_index_and_tree),
	};

	/* the index's scan execs this binary as its worker (scan.h) */
	if (argc > 1 && !strcmp(argv[1], SCAN_WORKER_COMMAND))
		scan_worker_exec_main(argc, argv);

	return cmocka_run_group_tests(tests, setup, teardown);
}
