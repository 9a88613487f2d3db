/*
 * test_store_readall.c - store_file_read_all() (store_index.c), the read
 * of a whole index into an arena while a view is built: every field as
 * store_file_get_id() gives it, a field equal to the row before's shared
 * with it and any other one not (a prefix, "" after a value, NULL after a
 * value), a field longer than an arena block, and the strings still there
 * after the last callback.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"
#include "strarena.h"
#include "store_same.h"

#define NREC 5
#define LONG_LEN (300u << 10)	/* more than an arena block */

static char tmpdir[] = "/tmp/test_store_readall.XXXXXX";

struct got {
	struct store_file f[NREC + 1];
	size_t n;
};

static int keep_cb(void *arg, const struct store_file *f)
{
	struct got *g = arg;

	if (g->n == NREC + 1)
		return -E2BIG;
	g->f[g->n++] = *f;
	return 0;
}

static void record(struct store_file *f, const char *path, const char *sop)
{
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	f->src_size = 1000;
	f->src_mtime_ns = 1700000000000000000LL;
	f->opts = strdup("v6;o=0;m=MG,OT");
	f->out_size = 2000;
	f->header_len = 300;
	f->patient_id = strdup("12345678901");
	f->study_date = strdup("20190312");
	f->pseudonym = strdup("abcdefghijklmnop");
	f->study_uid = strdup("2.25.1");
	f->series_uid = strdup("2.25.2");
	f->sop_uid = strdup(sop);
	f->modality = strdup("MG");
	f->laterality = strdup("L");
	f->view_position = strdup("CC");
	f->series_number = 1;
	f->instance_number = STORE_MISSING;
	f->study_time = strdup("093015");
}


static void test_read_all(void **state)
{
	struct store_file f[NREC], g;
	struct strarena a = { 0 };
	struct store *st = NULL;
	struct got *got;
	char db[512], *big;
	int i;

	(void)state;
	snprintf(db, sizeof(db), "%s/r.db", tmpdir);
	assert_int_equal(store_open(db, 1, &st), 0);
	big = malloc(LONG_LEN + 1);
	got = calloc(1, sizeof(*got));
	assert_non_null(big);
	assert_non_null(got);
	memset(big, 'q', LONG_LEN);
	big[LONG_LEN] = 0;

	record(&f[0], "s1/a.dcm", "2.25.3");
	record(&f[1], "s1/b.dcm", "2.25.4");	/* the study's fields again */
	record(&f[2], "s2/c.dcm", "2.25.5");
	free(f[2].patient_id);			/* NULL after a value */
	f[2].patient_id = NULL;
	free(f[2].modality);			/* a prefix of the last */
	f[2].modality = strdup("M");
	free(f[2].laterality);			/* "" after a value */
	f[2].laterality = strdup("");
	record(&f[3], "s2/d.dcm", "2.25.6");
	free(f[3].q_rule);			/* longer than a block */
	f[3].q_rule = strdup(big);
	record(&f[4], "s2/e.dcm", "2.25.6");	/* equal to the last */
	for (i = 0; i < NREC; i++)
		assert_int_equal(store_file_put(st, &f[i], NULL, 0, NULL, 0,
						NULL, 0),
				 0);

	assert_int_equal(store_file_read_all(st, &a, keep_cb, got), 0);
	assert_int_equal(got->n, NREC);
	for (i = 0; i < NREC; i++) {	/* after the last callback */
		assert_int_equal(store_file_get_id(st, f[i].id, &g), 0);
		assert_same(&got->f[i], &g);
		assert_same(&got->f[i], &f[i]);
		store_file_clear(&g);
	}
	/* equal fields of consecutive rows are one string */
	assert_ptr_equal(got->f[1].opts, got->f[0].opts);
	assert_ptr_equal(got->f[1].study_uid, got->f[0].study_uid);
	assert_ptr_equal(got->f[4].sop_uid, got->f[3].sop_uid);
	assert_ptr_not_equal(got->f[1].sop_uid, got->f[0].sop_uid);
	assert_ptr_not_equal(got->f[1].path, got->f[0].path);
	assert_string_equal(got->f[2].modality, "M");
	assert_string_equal(got->f[2].laterality, "");
	assert_null(got->f[2].patient_id);
	assert_string_equal(got->f[3].patient_id, "12345678901");
	assert_int_equal(strlen(got->f[3].q_rule), LONG_LEN);

	/* a callback's error stops the walk and is returned */
	got->n = NREC + 1;
	assert_int_equal(store_file_read_all(st, &a, keep_cb, got), -E2BIG);
	assert_int_equal(store_file_read_all(st, NULL, keep_cb, got), -EINVAL);

	strarena_free(&a);
	for (i = 0; i < NREC; i++)
		store_file_clear(&f[i]);
	free(got);
	free(big);
	store_close(st);
	unlink(db);
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[600];

	(void)state;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_all),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
