/*
 * test_verify_values.c - the forms verify looks for an original value in
 * (verify_values.c): a Latin-1 name also in UTF-8, upper case, without
 * diacritics and decomposed; its words; a date in three spellings; an
 * 11-digit ID split 6 + 5; short values as whole words, reported as short;
 * values too short to search counted; the kind of an audit row.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dicom.h"
#include "verify_values.h"

struct seen {
	unsigned n;
	uint32_t id[64];
};

static int on_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct seen *s = arg;

	(void)end;
	(void)len;
	if (s->n < 64)
		s->id[s->n++] = id;
	return 0;
}

/* The first hit's id in text, or 0 when none. */
static uint32_t first_hit(const struct acm *a, const char *text)
{
	struct seen s = { 0 };

	assert_int_equal(acm_scan_buf(a, text, strlen(text), on_hit, &s), 0);
	return s.n ? s.id[0] : 0;
}

static void test_forms(void **state)
{
	/* "Ødegård^Synnøve" in Latin-1, as an ISO_IR 100 header has it */
	static const char name[] = "\xd8" "deg\xe5" "rd^Synn\xf8" "ve";
	struct vval *v;
	const struct acm *a;

	(void)state;
	assert_int_equal(vval_new(&v), 0);
	assert_int_equal(vval_add(v, VVAL_NAME, name, strlen(name)), 0);
	assert_int_equal(vval_add(v, VVAL_DATE, "19650315", 8), 0);
	assert_int_equal(vval_add(v, VVAL_PATIENT_ID, "15036512345 ", 12), 0);
	assert_int_equal(vval_add(v, VVAL_NAME, "Li^Ann", 6), 0);
	assert_int_equal(vval_compile(v, &a), 0);

	/* UTF-8, upper case, no diacritics, decomposed */
	assert_int_equal(VVAL_KIND(first_hit(a, "x \xc3\x98" "deg\xc3\xa5" "rd y")),
			 VVAL_NAME_PART);
	assert_int_equal(VVAL_KIND(first_hit(a, "SYNN\xc3\x98VE")),
			 VVAL_NAME_PART);
	assert_int_equal(VVAL_KIND(first_hit(a, "odegard")), VVAL_NAME_PART);
	assert_int_equal(VVAL_KIND(first_hit(a, "\xc3\x98" "dega\xcc\x8a" "rd")),
			 VVAL_NAME_PART);
	/* dates */
	assert_int_equal(first_hit(a, "on 15.03.1965"), VVAL_DATE);
	assert_int_equal(first_hit(a, "1965-03-15/"), VVAL_DATE);
	assert_int_equal(first_hit(a, "x19650315"), VVAL_DATE);
	assert_int_equal(first_hit(a, "1.2.3.1196503155"), 0);
	/* an ID, whole and split */
	assert_int_equal(first_hit(a, "id 150365 12345"), VVAL_PATIENT_ID);
	assert_int_equal(first_hit(a, "15036512345"), VVAL_PATIENT_ID);
	/* short words: whole words only, and flagged */
	assert_int_equal(first_hit(a, "ANN"), VVAL_NAME_PART | VVAL_SHORT);
	assert_int_equal(first_hit(a, "CHANNEL"), 0);
	assert_int_equal(first_hit(a, "plain text"), 0);
	/* "Li" is too short to search: counted, not silently dropped */
	assert_int_equal(vval_counts(v)->too_short, 1);
	assert_true(vval_counts(v)->short_values >= 1);
	assert_int_equal(vval_counts(v)->values[VVAL_NAME], 2);
	vval_free(v);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(dicom_init(), 0);
	assert_int_equal(vval_kind_of("00100010", "D"), VVAL_NAME);
	assert_int_equal(vval_kind_of("00100020", "D"), VVAL_PATIENT_ID);
	assert_int_equal(vval_kind_of("00100030", "X"), VVAL_DATE);
	assert_int_equal(vval_kind_of("00081115[0].00081155", "U"), VVAL_UID);
	assert_int_equal(vval_kind_of("00080050", "Z"), VVAL_STUDY_ID);
	assert_int_equal(vval_kind_of("00080080", "X"), VVAL_INSTITUTION);
	assert_int_equal(vval_kind_of("00081030", "X"), VVAL_TEXT);
	assert_int_equal(vval_kind_of("00091010", "X"), VVAL_PRIVATE_TEXT);
	/* a private creator names a vendor, kept in the open elsewhere */
	assert_int_equal(vval_kind_of("00090010", "X"), VVAL_NONE);
	/* codes and numbers are not identifying values */
	assert_int_equal(vval_kind_of("00080060", "X"), VVAL_NONE);
	assert_int_equal(vval_kind_of("00280010", "X"), VVAL_NONE);
	assert_int_equal(vval_kind_of("garbage", "X"), VVAL_NONE);
}

static void test_digest_and_binary(void **state)
{
	static const char digest[] = "sha256:00ff bytes=5000";
	static const uint8_t binary[] = { 1, 2, 0, 3, 'a', 'b', 'c', 'd', 'e' };
	struct vval *v;
	const struct acm *a;

	(void)state;
	assert_int_equal(vval_new(&v), 0);
	assert_int_equal(vval_add(v, VVAL_TEXT, digest, strlen(digest)), 0);
	assert_int_equal(vval_add(v, VVAL_PRIVATE_TEXT, binary,
				  sizeof(binary)), 0);
	assert_int_equal(vval_counts(v)->unsearchable, 1);
	assert_int_equal(vval_counts(v)->patterns, 0);
	assert_int_equal(vval_compile(v, &a), 0);
	vval_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_digest_and_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
