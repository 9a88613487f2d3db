/*
 * test_verify_oracle.c - how verify reads dciodvfy's messages
 * (verify_oracle.c): each error, warning or abort becomes a tag and a
 * fixed class, never text of the message; values dciodvfy quotes change
 * nothing of what is compared; forced messages of the profile are
 * excused; a run on the same bytes finds nothing new, and one on other
 * bytes finds its new error (when dciodvfy is installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dicom.h"
#include "verify_oracle.h"

static int msg(const char *line, struct voracle_msg *m)
{
	return voracle_line(line, strlen(line), m);
}

static void test_classes_and_tags(void **state)
{
	struct voracle_msg m;

	(void)state;
	assert_int_equal(dicom_init(), 0);
	assert_int_equal(msg("RTIonPlan", &m), 0);
	assert_int_equal(msg("", &m), 0);
	assert_int_equal(msg("Error - Missing attribute Type 1 Required "
			     "Element=<Rows> Module=<ImagePixel>", &m), 1);
	assert_string_equal(m.kind, "dciodvfy-error:missing-attribute");
	assert_true(m.has_tag && m.tag == 0x00280010);
	assert_int_equal(msg("Warning - Value dubious for this VR - "
			     "(0x0010,0x0010) PN Patient's Name  PN [1] = "
			     "<Nordmann^Kari> - Retired Person Name form",
			     &m), 1);
	assert_string_equal(m.kind, "dciodvfy-warning:dubious-value-for-vr");
	assert_true(m.has_tag && m.tag == 0x00100010);
	assert_null(strstr(m.key, "Nordmann"));
	/* a tag prefix before the message */
	assert_int_equal(msg("(0x0029,0x1010)  ?  - Warning - Unrecognized "
			     "tag - assuming explicit value representation OK",
			     &m), 1);
	assert_string_equal(m.kind, "dciodvfy-warning:unrecognized-tag");
	assert_true(m.has_tag && m.tag == 0x00291010);
	assert_int_equal(msg("Error - Unrecognized enumerated value <HANSEN> "
			     "for value 1 of attribute <PatientSex>", &m), 1);
	assert_string_equal(m.kind,
			    "dciodvfy-error:unrecognized-enumerated-value");
	assert_true(m.has_tag && m.tag == 0x00100040);
	assert_null(strstr(m.key, "HANSEN"));
	/* as dciodvfy writes it: the attribute's name, not its keyword */
	assert_int_equal(msg("Error - Unrecognized enumerated value <NORDMANN> "
			     "for value 1 of attribute <Patient's Sex>", &m),
			 1);
	assert_true(m.has_tag && m.tag == 0x00100040);
	assert_null(strstr(m.key, "NORDMANN"));
	assert_int_equal(msg("Error - Unrecognized enumerated value <X> for "
			     "value 1 of attribute <Referring Physician's "
			     "Name>", &m), 1);
	assert_true(m.has_tag && m.tag == 0x00080090);
	/* no name of the dictionary, or not a name's characters: no tag */
	assert_int_equal(msg("Error - Unrecognized enumerated value <X> for "
			     "value 1 of attribute <Hansen Kari>", &m), 1);
	assert_false(m.has_tag);
	assert_int_equal(msg("Error - Unrecognized enumerated value <X> for "
			     "value 1 of attribute <Hansen^Kari>", &m), 1);
	assert_false(m.has_tag);
	/* an abort quotes a path: an error without a tag */
	assert_int_equal(msg("Abort - File open for read failed - "
			     "\"/data/Hansen^Kari/1.dcm\"", &m), 1);
	assert_string_equal(m.kind, "dciodvfy-error:cannot-open");
	assert_false(m.has_tag);
	assert_null(strstr(m.key, "Hansen"));
	/* a message of no known class */
	assert_int_equal(msg("Error - Something new <x>", &m), 1);
	assert_string_equal(m.kind, "dciodvfy-error:other");
}

/* A value is never taken for a tag or a keyword: a tag written inside a
 * quoted value, a keyword GDCM does not know. */
static void test_values_are_not_tags(void **state)
{
	struct voracle_msg m;

	(void)state;
	assert_int_equal(msg("Error - Value invalid for this VR - = "
			     "<(0x0010,0x0020)> - bad", &m), 1);
	assert_false(m.has_tag);
	assert_int_equal(msg("Error - Missing attribute Type 1 Required "
			     "Element=<Kari Nordmann> Module=<Patient>", &m),
			 1);
	assert_false(m.has_tag);
	assert_int_equal(msg("Error - Missing attribute Type 1 Required "
			     "Element=<NoSuchKeywordAtAll> Module=<Patient>",
			     &m), 1);
	assert_false(m.has_tag);
}

/* The same message with other values compares equal; another tag or
 * another class does not. */
static void test_keys(void **state)
{
	struct voracle_msg a, b;

	(void)state;
	msg("Warning - Value dubious for this VR - (0x0010,0x0010) PN "
	    "Patient's Name  PN [1] = <Hansen^Kari> - Retired", &a);
	msg("Warning - Value dubious for this VR - (0x0010,0x0010) PN "
	    "Patient's Name  PN [2] = <A^B> - Retired", &b);
	assert_string_equal(a.key, b.key);
	msg("Warning - Value dubious for this VR - (0x0008,0x0090) PN "
	    "Patient's Name  PN [1] = <Hansen^Kari> - Retired", &b);
	assert_string_not_equal(a.key, b.key);
	msg("Error - Value dubious for this VR - (0x0010,0x0010) PN "
	    "Patient's Name  PN [1] = <Hansen^Kari> - Retired", &b);
	assert_string_not_equal(a.key, b.key);
}

struct got {
	unsigned n;
	char tag[8][16];
	const char *kind[8];
};

static int on_found(void *arg, const char *tag, const char *kind,
		    int review)
{
	struct got *g = arg;

	assert_false(review);
	if (g->n < 8) {
		snprintf(g->tag[g->n], sizeof(g->tag[0]), "%s", tag);
		g->kind[g->n++] = kind;
	}
	return 0;
}

static int write_file(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Runs of the real program: nothing new on the same bytes; a file it
 * cannot read at all (it aborts) beside a readable source is new. */
static void test_runs(void **state)
{
	char dir[] = "/tmp/test-oracle-XXXXXX", a[64], b[64], prog[4096];
	static const char junk[] = "not DICOM at all";
	uint8_t dcm[132 + 12];
	struct voracle *o;
	struct got g;
	int fa, fb;

	(void)state;
	if (voracle_find(VORACLE_PROG, prog, sizeof(prog)))
		skip();
	assert_int_equal(voracle_find("/nonexistent/dciodvfy", a, sizeof(a)),
			 -ENOENT);
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	/* a preamble, DICM and one group length: readable, if empty */
	memset(dcm, 0, sizeof(dcm));
	memcpy(dcm + 128, "DICM", 4);
	memcpy(dcm + 132, "\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00", 12);
	fa = write_file(a, dcm, sizeof(dcm));
	fb = write_file(b, junk, sizeof(junk));
	assert_true(fa >= 0 && fb >= 0);

	memset(&g, 0, sizeof(g));
	assert_int_equal(voracle_start(prog, fa, fa, &o), 0);
	assert_int_equal(voracle_finish(o, on_found, &g), 0);
	assert_int_equal(g.n, 0);

	memset(&g, 0, sizeof(g));
	assert_int_equal(voracle_start(prog, fb, fa, &o), 0);
	assert_int_equal(voracle_finish(o, on_found, &g), 0);
	assert_true(g.n >= 1);
	assert_int_equal(strncmp(g.kind[0], "dciodvfy-", 9), 0);

	assert_int_equal(voracle_start(prog, fb, fa, &o), 0);
	voracle_abandon(o);
	voracle_abandon(NULL);
	/* a program that cannot be run is said, never a silent pass */
	memset(&g, 0, sizeof(g));
	assert_int_equal(voracle_start("/nonexistent/dciodvfy", fa, fa, &o),
			 0);
	assert_int_equal(voracle_finish(o, on_found, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.kind[0], "dciodvfy-not-run");
	close(fa);
	close(fb);
	unlink(a);
	unlink(b);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes_and_tags),
		cmocka_unit_test(test_values_are_not_tags),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
