/*
 * test_naming.c - names of the view (view_naming.c): collisions get
 * suffixes in hierarchical order, and a patient's names depend on her own
 * records only, so naming her alone (as a shard of a sharded export would)
 * gives exactly the names she has in the whole archive.  A property test
 * over generated archives with collisions: two studies in one month,
 * repeated series and instance numbers, missing numbers.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "view_naming.h"

#define MAXREC 400

static const uint8_t key[KEYED_KEY_LEN] = "a test key for naming, public!!";

/* Strings of one generated archive (the records point into them). */
struct arch {
	struct rec r[MAXREC];
	size_t n;
	char strs[MAXREC][8][40];
};

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* A generated archive: patients with studies often in the same month,
 * series and instance numbers that repeat or are missing. */
static void generate(struct arch *a, uint32_t seed)
{
	static const char *const mod[] = { "MG", "OT" };
	uint32_t s = seed;
	unsigned np = 2 + rnd(&s) % 5, p;

	memset(a, 0, sizeof(*a));
	for (p = 0; p < np; p++) {
		unsigned nst = 1 + rnd(&s) % 3, st;

		for (st = 0; st < nst; st++) {
			unsigned nse = 1 + rnd(&s) % 3, se;
			unsigned month = 1 + rnd(&s) % 2;	/* collide */

			for (se = 0; se < nse; se++) {
				unsigned ni = 1 + rnd(&s) % 4, in;
				int64_t sn = rnd(&s) % 4 ? (int64_t)(1 +
						rnd(&s) % 2) : STORE_MISSING;

				for (in = 0; in < ni && a->n < MAXREC; in++) {
					struct rec *r = &a->r[a->n];
					char (*x)[40] = a->strs[a->n];

					snprintf(x[0], 40, "pseudo%02u", p);
					snprintf(x[1], 40, "2012%02u%02u", month,
						 1 + st);
					snprintf(x[2], 40, "2.25.%u.%u", p, st);
					snprintf(x[3], 40, "2.25.%u.%u.%u", p,
						 st, se);
					snprintf(x[4], 40, "2.25.%u.%u.%u.%u",
						 p, st, se, in);
					snprintf(x[5], 40, "%s",
						 mod[rnd(&s) % 2]);
					snprintf(x[6], 40, "pid%02u", p);
					r->f.pseudonym = x[0];
					r->f.study_date = x[1];
					r->f.study_uid = x[2];
					r->f.series_uid = x[3];
					r->f.sop_uid = x[4];
					r->f.modality = x[5];
					r->f.patient_id = x[6];
					r->f.series_number = sn;
					r->f.instance_number =
						rnd(&s) % 3 ? (int64_t)(1 +
						rnd(&s) % 3) : STORE_MISSING;
					r->f.id = (int64_t)a->n + 1;
					a->n++;
				}
			}
		}
	}
}

static void names_free(struct rec *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].parent);
		free(r[i].raw);
		free(r[i].ekey);
		free(r[i].path);
		free(r[i].study_path);
		r[i].parent = r[i].raw = r[i].ekey = r[i].path = NULL;
		r[i].study_path = NULL;
	}
}

/* Name records r[0..n) (sorted here) with the default layout. */
static void name_all(struct rec *r, size_t n, struct layout *lay)
{
	struct view_naming nm = { lay, key, 0 };
	size_t idx[MAXREC], i;

	qsort(r, n, sizeof(*r), view_rec_cmp_hier);
	for (i = 0; i < n; i++)
		idx[i] = i;
	assert_int_equal(view_names_assign(&nm, r, idx, n), 0);
}

static const char *path_of(const struct rec *r, size_t n, int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].f.id == id)
			return r[i].path;
	return NULL;
}

static void test_one_patient_alone(void **state)
{
	static struct arch a;
	static struct rec one[MAXREC];
	struct layout *lay;
	char err[128];
	uint32_t seed;
	unsigned suffixed = 0;

	(void)state;
	assert_int_equal(layout_parse(VIEW_DEFAULT_LAYOUT, &lay, err,
				      sizeof(err)), 0);
	for (seed = 1; seed <= 200; seed++) {
		size_t i, j, n1;

		generate(&a, seed);
		name_all(a.r, a.n, lay);
		for (i = 0; i < a.n; i++) {
			assert_non_null(a.r[i].path);
			if (strstr(a.r[i].path, "_2"))
				suffixed++;
			/* all names distinct */
			for (j = 0; j < i; j++)
				assert_string_not_equal(a.r[i].path,
							a.r[j].path);
		}
		/* each patient alone */
		for (i = 0; i < a.n; i++) {
			if (i && !strcmp(a.r[i].f.pseudonym,
					 a.r[i - 1].f.pseudonym))
				continue;
			for (j = 0, n1 = 0; j < a.n; j++)
				if (!strcmp(a.r[j].f.pseudonym,
					    a.r[i].f.pseudonym)) {
					one[n1] = a.r[j];
					one[n1].parent = one[n1].raw = NULL;
					one[n1].ekey = one[n1].path = NULL;
					one[n1].study_path = NULL;
					n1++;
				}
			/* in another order: naming sorts them itself */
			for (j = 0; j + 1 < n1; j += 2) {
				struct rec t = one[j];

				one[j] = one[j + 1];
				one[j + 1] = t;
			}
			name_all(one, n1, lay);
			for (j = 0; j < n1; j++)
				assert_string_equal(
					one[j].path,
					path_of(a.r, a.n, one[j].f.id));
			names_free(one, n1);
		}
		names_free(a.r, a.n);
	}
	/* the archives did collide: suffixes were needed */
	assert_true(suffixed > 100);
	layout_free(lay);
}

/* Collisions get suffixes in hierarchical order: two studies in one
 * month, two series with one number, two instances with one number. */
static void test_suffixes(void **state)
{
	static struct arch a;
	struct layout *lay;
	char err[128];
	size_t i;

	(void)state;
	assert_int_equal(layout_parse(VIEW_DEFAULT_LAYOUT, &lay, err,
				      sizeof(err)), 0);
	memset(&a, 0, sizeof(a));
	for (i = 0; i < 4; i++) {
		struct rec *r = &a.r[i];

		r->f.pseudonym = "p";
		r->f.modality = "MG";
		r->f.study_date = i < 3 ? "20120105" : "20120120";
		r->f.study_uid = i < 3 ? "2.25.1" : "2.25.2";
		r->f.series_uid = i < 2 ? "2.25.1.1" : "2.25.1.2";
		r->f.sop_uid = i == 0 ? "2.25.1.1.1" : "2.25.1.1.2";
		r->f.series_number = 1;
		r->f.instance_number = 1;
		r->f.id = (int64_t)i + 1;
	}
	a.n = 4;
	name_all(a.r, a.n, lay);
	assert_string_equal(path_of(a.r, 4, 1), "p/2012-01/1_MG/0001.dcm");
	assert_string_equal(path_of(a.r, 4, 2), "p/2012-01/1_MG/0001_2.dcm");
	assert_string_equal(path_of(a.r, 4, 3), "p/2012-01/1_MG_2/0001.dcm");
	assert_string_equal(path_of(a.r, 4, 4), "p/2012-01_2/1_MG/0001.dcm");
	names_free(a.r, a.n);
	layout_free(lay);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_one_patient_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
