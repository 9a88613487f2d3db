/*
 * test_registry.c - the registry CSV: parsing (BOM, CRLF, quotes, empty
 * lines, column counts, bounds), the spec grammar, dates, and the exact bytes
 * of the de-identified copy.  Expected outputs are written out by hand from
 * the rules in registry.h, not produced by the code under test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry.h"

/* ------------------------------------------------------------ helpers */

#define MAX_REPORTS 32

struct reports {
	size_t n;
	uint64_t row[MAX_REPORTS];
	char why[MAX_REPORTS][128];
};

static void collect(void *arg, uint64_t row, const char *reason)
{
	struct reports *r = arg;

	assert_non_null(reason);
	assert_true(r->n < MAX_REPORTS);
	r->row[r->n] = row;
	snprintf(r->why[r->n], sizeof(r->why[0]), "%s", reason);
	r->n++;
}

static int has_report(const struct reports *r, uint64_t row, const char *why)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->row[i] == row && !strcmp(r->why[i], why))
			return 1;
	return 0;
}

/* No report text mentions a planted value. */
static void reports_clean(const struct reports *r, const char *value)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		assert_null(strstr(r->why[i], value));
}

/* Fake pseudonym: "P" + the reversed ID. */
static int fake_pseudonym(void *arg, const char *id, char *out, size_t outsz)
{
	size_t n = strlen(id), i;

	(void)arg;
	if (n + 2 > outsz)
		return -ENAMETOOLONG;
	out[0] = 'P';
	for (i = 0; i < n; i++)
		out[1 + i] = id[n - 1 - i];
	out[n + 1] = '\0';
	return 0;
}

static int identity_pseudonym(void *arg, const char *id, char *out,
			      size_t outsz)
{
	(void)arg;
	if (strlen(id) + 1 > outsz)
		return -ENAMETOOLONG;
	strcpy(out, id);
	return 0;
}

static int failing_pseudonym(void *arg, const char *id, char *out,
			     size_t outsz)
{
	(void)arg;
	(void)id;
	(void)out;
	(void)outsz;
	return -EIO;
}

static int fake_shift(void *arg, const char *id)
{
	(void)id;
	return *(const int *)arg;
}

static const struct registry_keys fake_keys = {
	.pseudonym = fake_pseudonym,
	.shift_days = fake_shift,
	.arg = NULL,
};

static struct registry *parse_ok(const char *csv, size_t len,
				 const struct registry_opts *opts,
				 struct reports *rep)
{
	struct registry *r = NULL;
	char err[256] = "";
	int ret;

	ret = registry_parse(csv, len, opts, collect, rep, &r, err,
			     sizeof(err));
	if (ret)
		fprintf(stderr, "registry_parse: %d %s\n", ret, err);
	assert_int_equal(ret, 0);
	assert_non_null(r);
	return r;
}

static char *render_ok(const struct registry *r, const uint8_t *include,
		       const struct registry_keys *keys, struct reports *rep,
		       size_t *len)
{
	char *out = NULL;

	assert_int_equal(registry_render(r, include, keys, collect, rep,
					 &out, len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), *len);	/* no NULs in these tests */
	return out;
}

static void assert_bytes(const char *got, size_t gotlen, const char *want)
{
	if (gotlen != strlen(want) || memcmp(got, want, gotlen)) {
		fprintf(stderr, "got:\n%.*s\nwant:\n%s\n", (int)gotlen, got,
			want);
		fail();
	}
}

#define S(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------------- default */

static const char default_csv[] =
	"fnr;invitasjon;screeningdato;c4;c5;c6;c7;c8;c9;diagnosedato\n"
	"12345678901;INV1;01.03.2015;a;b;c;d;e;f;15.03.2015\n"
	" 23456789012 ;INV2;1.3.2016;x;;y;z;w;v;\n"
	"34567890123;INV3;29.02.2016;1;2;3;4;5;6;01.01.2016\n"
	"12345678901;INV1;01.03.2015;a;b;c;d;e;f;15.03.2015\n";

static void test_default_spec(void **state)
{
	struct reports rep = { 0 };
	struct registry *r;
	const struct registry_row *row;
	char *out;
	size_t len;

	(void)state;
	r = parse_ok(S(default_csv), NULL, &rep);
	assert_int_equal(registry_row_count(r), 4);
	row = registry_row(r, 0);
	assert_int_equal(row->number, 2);
	assert_string_equal(row->patient_id, "12345678901");
	assert_string_equal(row->study_date, "20150301");
	assert_true(row->valid);
	row = registry_row(r, 1);
	assert_int_equal(row->number, 3);
	assert_string_equal(row->patient_id, "23456789012");	/* trimmed */
	assert_string_equal(row->study_date, "20160301");
	row = registry_row(r, 2);
	assert_int_equal(row->number, 4);
	assert_string_equal(row->study_date, "20160229");
	assert_null(registry_row(r, 4));

	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	/* Column 2 gone; 01.03.2015 -> 2015-03 and 15.03.2015 is 14 days
	 * later; an empty diagnosis stays empty; 01.01.2016 is 59 days before
	 * 29.02.2016 (31 + 28); the duplicate row is rendered twice. */
	assert_bytes(out, len,
		     "fnr;screeningdato;c4;c5;c6;c7;c8;c9;diagnosedato\n"
		     "P10987654321;2015-03;a;b;c;d;e;f;14\n"
		     "P21098765432;2016-03;x;;y;z;w;v;\n"
		     "P32109876543;2016-02;1;2;3;4;5;6;-59\n"
		     "P10987654321;2015-03;a;b;c;d;e;f;14\n");
	assert_int_equal(rep.n, 0);
	free(out);

	/* Deterministic: same input, same bytes. */
	{
		char *again;
		size_t len2;

		out = render_ok(r, NULL, &fake_keys, &rep, &len);
		again = render_ok(r, NULL, &fake_keys, &rep, &len2);
		assert_int_equal(len, len2);
		assert_memory_equal(out, again, len);
		free(out);
		free(again);
	}
	registry_free(r);
}

struct origs {
	unsigned n;
	int kind[8];
	char cell[8][16];
};

static int take_orig(void *arg, enum registry_orig kind, const char *cell,
		     size_t n)
{
	struct origs *o = arg;

	assert_true(n < sizeof(o->cell[0]));
	if (o->n < 8) {
		o->kind[o->n] = kind;
		memcpy(o->cell[o->n], cell, n);
		o->cell[o->n++][n] = '\0';
	}
	return 0;
}

/* The identifying cells of a row, which the cleaned CSV never holds: the
 * personal ID (trimmed), the invitation (dropped), the dates as
 * YYYYMMDD, an empty date not at all, a date that is none as it is. */
static void test_row_originals(void **state)
{
	static const char csv[] =
		"fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\n"
		" 12345678901 ;INV1;1.3.2015;a;b;c;d;e;f;15.03.2015\n"
		"23456789012;INV2;01.03.2016;a;b;c;d;e;f;\n"
		"34567890123;INV3;01.03.2016;a;b;c;d;e;f;soon\n"
		"45678901234;INV4\n";
	struct registry_opts opts = { ';', 1, NULL, 3 };
	struct registry_spec *spec = NULL;
	struct reports rep = { 0 };
	struct registry *r;
	struct origs o;
	char err[128];

	(void)state;
	assert_int_equal(registry_spec_parse(REGISTRY_DEFAULT_SPEC, &spec,
					     err, sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	memset(&o, 0, sizeof(o));
	assert_int_equal(registry_row_originals(r, 0, take_orig, &o), 0);
	assert_int_equal(o.n, 4);
	assert_int_equal(o.kind[0], REGISTRY_ORIG_ID);
	assert_string_equal(o.cell[0], "12345678901");
	assert_int_equal(o.kind[1], REGISTRY_ORIG_OTHER);
	assert_string_equal(o.cell[1], "INV1");
	assert_int_equal(o.kind[2], REGISTRY_ORIG_DATE);
	assert_string_equal(o.cell[2], "20150301");
	assert_int_equal(o.kind[3], REGISTRY_ORIG_DATE);
	assert_string_equal(o.cell[3], "20150315");
	memset(&o, 0, sizeof(o));
	assert_int_equal(registry_row_originals(r, 1, take_orig, &o), 0);
	assert_int_equal(o.n, 3);	/* no diagnosis date */
	memset(&o, 0, sizeof(o));
	assert_int_equal(registry_row_originals(r, 2, take_orig, &o), 0);
	assert_int_equal(o.n, 4);
	assert_int_equal(o.kind[3], REGISTRY_ORIG_OTHER);
	assert_string_equal(o.cell[3], "soon");
	/* an invalid row (too few columns), a row past the end: nothing */
	memset(&o, 0, sizeof(o));
	assert_int_equal(registry_row_originals(r, 3, take_orig, &o), 0);
	assert_int_equal(registry_row_originals(r, 99, take_orig, &o), 0);
	assert_int_equal(o.n, 0);
	registry_free(r);
	registry_spec_free(spec);
}

static void test_explicit_default_spec(void **state)
{
	struct registry_spec *spec = NULL;
	struct registry_opts opts = {
		.delimiter = ';', .has_header = 1, .date_column = 3,
	};
	struct reports rep = { 0 };
	struct registry *r;
	char err[128], *out;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse(REGISTRY_DEFAULT_SPEC, &spec,
					     err, sizeof(err)), 0);
	assert_int_equal(registry_spec_id_column(spec), 1);
	opts.spec = spec;
	r = parse_ok(S(default_csv), &opts, &rep);
	/* The registry keeps its own copy of the spec. */
	registry_spec_free(spec);
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "fnr;screeningdato;c4;c5;c6;c7;c8;c9;diagnosedato\n"
		     "P10987654321;2015-03;a;b;c;d;e;f;14\n"
		     "P21098765432;2016-03;x;;y;z;w;v;\n"
		     "P32109876543;2016-02;1;2;3;4;5;6;-59\n"
		     "P10987654321;2015-03;a;b;c;d;e;f;14\n");
	free(out);
	registry_free(r);
}

/* --------------------------------------------------------- pass-through */

static void test_latin1_passthrough(void **state)
{
	/* Latin-1 "æøå", UTF-8 "æ", a stray 0xff byte. */
	static const char csv[] =
		"id;inv;dato;merknad\n"
		"111;I;02.01.2020;bl\xe6\xf8\xe5 \xc3\xa6 \xff\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct reports rep = { 0 };
	struct registry *r;
	char err[128], *out;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse("1=pseudonym,2=drop,3=month",
					     &spec, err, sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "id;dato;merknad\n"
		     "P111;2020-01;bl\xe6\xf8\xe5 \xc3\xa6 \xff\n");
	free(out);
	registry_free(r);
	registry_spec_free(spec);
}

static void test_quoting_round_trip(void **state)
{
	static const char csv[] =
		"id;a;b;c;d;e;f\n"
		"\"42\";\"x;y\";\"say \"\"hi\"\"\";\"line1\nline2\";"
		"\" lead\";trail ;plain\n"
		"43;;\"\";\"\"\"\";q\"mid;\"cr\rin\";\t\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct registry_keys ident = { .pseudonym = identity_pseudonym };
	struct reports rep = { 0 };
	struct registry *r, *r2;
	const char *want =
		"id;a;b;c;d;e;f\n"
		"42;\"x;y\";\"say \"\"hi\"\"\";\"line1\nline2\";"
		"\" lead\";\"trail \";plain\n"
		/* a cell that starts with a tab is shown as text */
		"43;;;\"\"\"\";\"q\"\"mid\";\"cr\rin\";\"'\t\"\n";
	char err[128], *out, *out2;
	size_t len, len2;

	(void)state;
	assert_int_equal(registry_spec_parse("1=pseudonym", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	assert_int_equal(registry_row_count(r), 2);
	assert_int_equal(registry_row(r, 0)->number, 2);
	assert_int_equal(registry_row(r, 1)->number, 4);	/* after the
								 * quoted LF */
	out = render_ok(r, NULL, &ident, &rep, &len);
	assert_bytes(out, len, want);

	/* Reading our own output gives the same fields back. */
	r2 = parse_ok(out, len, &opts, &rep);
	out2 = render_ok(r2, NULL, &ident, &rep, &len2);
	assert_bytes(out2, len2, want);
	assert_int_equal(rep.n, 0);
	free(out);
	free(out2);
	registry_free(r);
	registry_free(r2);
	registry_spec_free(spec);
}

/* Issue 16: the caller's last column (the view folder): its header cell,
 * each written row's own cell by row index, empty where it has none,
 * quoted where CSV needs it; rows left out do not shift the others. */
static void test_extra_column(void **state)
{
	static const char csv[] =
		"id;a;d\n"
		"1;x;01.01.2012\n"
		"2;y;01.01.2012\n"
		"3;z;01.01.2012\n"
		"4;w;01.01.2012\n";
	static const char *const folders[] = { "p/2012-01", NULL,
					       "p/2012-01_2", "q;r" };
	static const uint8_t include[] = { 1, 1, 0, 1 };
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct registry_keys keys = { .pseudonym = identity_pseudonym,
				      .extra_name = "view_folder",
				      .extra = folders };
	struct reports rep = { 0 };
	struct registry *r;
	char err[128], *out;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse("1=pseudonym", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	out = render_ok(r, include, &keys, &rep, &len);
	assert_bytes(out, len, "id;a;d;view_folder\n"
			       "1;x;01.01.2012;p/2012-01\n"
			       "2;y;01.01.2012;\n"
			       "4;w;01.01.2012;\"q;r\"\n");
	free(out);
	keys.extra_name = NULL;		/* no column at all */
	out = render_ok(r, include, &keys, &rep, &len);
	assert_bytes(out, len, "id;a;d\n1;x;01.01.2012\n2;y;01.01.2012\n"
			       "4;w;01.01.2012\n");
	assert_int_equal(rep.n, 0);
	free(out);
	registry_free(r);
	registry_spec_free(spec);
}

/* Issue 11: kept cells never carry a personal ID (any valid one, or the
 * row's own), a NUL, or a formula a spreadsheet would run. */
static void test_kept_cells_cleaned(void **state)
{
	static const char csv[] =
		"fnr;a;b;c;d\n"
		"111;=HYPERLINK(\"http://x\");+cmd|' /C calc'!A0;@SUM(1);-5\n"
		"222;other 01020310045 here;nul\0in;-2,5;  =1+1\n"
		"333;010203 10045;x333y;333;12345678901\n";
	static const char want[] =
		"fnr;a;b;c;d\n"
		"111;\"'=HYPERLINK(\"\"http://x\"\")\";'+cmd|' /C calc'!A0;"
		"'@SUM(1);-5\n"
		"222;;nul in;-2,5;'  =1+1\n"
		"333;;x333y;333;12345678901\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct registry_keys ident = { .pseudonym = identity_pseudonym };
	struct reports rep = { 0 };
	struct registry *r;
	char err[128], *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse("1=pseudonym", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(csv, sizeof(csv) - 1, &opts, &rep);
	assert_int_equal(registry_render(r, NULL, &ident, collect, &rep,
					 &out, &len), 0);
	assert_bytes(out, len, want);
	/* 01020310045 checks as a personal ID; so does "010203 10045";
	 * 12345678901 does not, and "333" is too short to be looked for */
	assert_true(rep.n >= 2);
	free(out);
	registry_free(r);
	registry_spec_free(spec);
}

/* Issue 11: typed kept columns.  A cell that fits its role is written
 * without its surrounding spaces; one that does not is emptied and its row
 * and column reported, never its value; no role lets a personal ID
 * through, not even spread over a number's digits. */
static void test_typed_roles(void **state)
{
	static const char csv[] =
		"fnr;i;n;c;e;t\n"
		"111;42;2,5;BI-RADS_4;ja;fri tekst\n"
		"222; -7 ;-1.5e-3;A.1;nei;=1+1\n"
		"333;4x;1e;-A1;Ja;x\n"
		"444;+1234567890123456789;.5;ABCDEFGHIJKLMNOPQ;ja ;y\n"
		"555;01020310045;0102031004.5;0102.0310045;nei;z\n"
		"666;;  ;;vet ikke;\n"
		"777;+123456789012345678;1.5E+308;x_y-z.;nei;\n"
		"888;0x1F;inf;a b;ja|nei;\n"
		"999;12,5;1.2.3;abc\tdef;;\n"
		"234567;1234567;1;u234567;;\n";
	static const char want[] =
		"fnr;i;n;c;e;t\n"
		"111;42;2,5;BI-RADS_4;ja;fri tekst\n"
		"222;-7;-1.5e-3;A.1;nei;'=1+1\n"
		"333;;;;;x\n"
		"444;;.5;;ja;y\n"
		"555;;;;nei;z\n"
		"666;;;;vet ikke;\n"
		"777;+123456789012345678;1.5E+308;x_y-z.;nei;\n"
		"888;;;;;\n"
		"999;;;;;\n"
		"234567;;1;;;\n";
	static const char *const bad_values[] = {
		"4x", "1e", "-A1", "Ja", "1234567890123456789", "ABCDEFGHIJ",
		"0102031004", "0x1F", "inf", "a b", "ja|nei", "12,5", "1.2.3",
		"abc", "234567",
	};
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct registry_keys ident = { .pseudonym = identity_pseudonym };
	struct reports rep = { 0 };
	struct registry *r;
	char err[256], *out = NULL;
	size_t len, i;

	(void)state;
	assert_int_equal(registry_spec_parse(
		"1=pseudonym,2=int,3=number,4=code,5=enum:ja|nei|vet ikke,"
		"6=text", &spec, err, sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	assert_int_equal(rep.n, 0);
	assert_int_equal(registry_render(r, NULL, &ident, collect, &rep,
					 &out, &len), 0);
	assert_bytes(out, len, want);
	assert_true(has_report(&rep, 4, "column 2: not an int: emptied"));
	assert_true(has_report(&rep, 4, "column 3: not a number: emptied"));
	assert_true(has_report(&rep, 4, "column 4: not a code: emptied"));
	assert_true(has_report(&rep, 4,
			       "column 5: not one of the enum values: emptied"));
	assert_true(has_report(&rep, 5, "column 2: not an int: emptied"));
	assert_true(has_report(&rep, 5, "column 4: not a code: emptied"));
	assert_true(has_report(&rep, 6,
			       "column 2: a personal ID in a kept column: emptied"));
	assert_true(has_report(&rep, 6,
			       "column 3: a personal ID in a kept column: emptied"));
	assert_true(has_report(&rep, 6,
			       "column 4: a personal ID in a kept column: emptied"));
	assert_true(has_report(&rep, 9, "column 2: not an int: emptied"));
	assert_true(has_report(&rep, 9, "column 3: not a number: emptied"));
	assert_true(has_report(&rep, 9, "column 4: not a code: emptied"));
	assert_true(has_report(&rep, 9,
			       "column 5: not one of the enum values: emptied"));
	assert_true(has_report(&rep, 10, "column 2: not an int: emptied"));
	assert_true(has_report(&rep, 10, "column 3: not a number: emptied"));
	assert_true(has_report(&rep, 10, "column 4: not a code: emptied"));
	/* the row's own ID (6 characters or more) inside a valid int, code */
	assert_true(has_report(&rep, 11,
			       "column 2: a personal ID in a kept column: emptied"));
	assert_true(has_report(&rep, 11,
			       "column 4: a personal ID in a kept column: emptied"));
	assert_int_equal(rep.n, 18);
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
		reports_clean(&rep, bad_values[i]);
	free(out);
	registry_free(r);
	registry_spec_free(spec);

	/* A typed column must exist, like any column a role transforms. */
	assert_int_equal(registry_spec_parse("1=pseudonym,7=int", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	r = (struct registry *)1;
	assert_int_equal(registry_parse(S(csv), &opts, collect, &rep, &r, err,
					sizeof(err)), -EBADMSG);
	assert_null(r);
	registry_spec_free(spec);
	/* a text column need not (as keep never needed to) */
	assert_int_equal(registry_spec_parse("1=pseudonym,7=text", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	rep.n = 0;
	r = parse_ok(S(csv), &opts, &rep);
	registry_free(r);
	registry_spec_free(spec);
}

/* "keep" is "text", and so is a column the spec does not list. */
static void test_keep_is_text(void **state)
{
	static const char csv[] =
		"fnr;a\n"
		"111;=1+1\n"
		"222; x\001y \n"
		"333;se 01020310045\n";
	static const char *const specs[] = {
		"1=pseudonym,2=text", "1=pseudonym,2=keep", "1=pseudonym",
	};
	static const char want[] =
		"fnr;a\n"
		"111;'=1+1\n"
		"222;\" x y \"\n"
		"333;\n";
	struct registry_keys ident = { .pseudonym = identity_pseudonym };
	/* no date column in this CSV: link on column 2, never parsed as one */
	struct registry_opts opts = { .delimiter = ';', .has_header = 1,
				      .date_column = 2 };
	struct registry_spec *spec;
	struct registry *r;
	char err[128], *out;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct reports rep = { 0 };

		assert_int_equal(registry_spec_parse(specs[i], &spec, err,
						     sizeof(err)), 0);
		opts.spec = spec;
		r = parse_ok(S(csv), &opts, &rep);
		out = render_ok(r, NULL, &ident, &rep, &len);
		assert_bytes(out, len, want);
		assert_int_equal(rep.n, 1);
		assert_true(has_report(&rep, 4,
				       "column 2: a personal ID in a kept column: emptied"));
		free(out);
		registry_free(r);
		registry_spec_free(spec);
	}
}

/* Enum values may hold another delimiter and quotes (the cell is quoted
 * when it must be) and be plain signed numbers. */
static void test_enum_quoting(void **state)
{
	static const char csv[] =
		"fnr,e,f\n"
		"111,b;c,-1\n"
		"222,\"x \"\"y\"\"\",+1\n"
		"333,a,0\n";
	static const char want[] =
		"fnr,e,f\n"
		"111,b;c,-1\n"
		"222,\"x \"\"y\"\"\",\n"
		"333,,0\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ',', .has_header = 1 };
	struct registry_keys ident = { .pseudonym = identity_pseudonym };
	struct reports rep = { 0 };
	struct registry *r;
	char err[256], *out = NULL;
	size_t len;

	(void)state;
	/* the spec is split at commas, so no value can hold one */
	assert_int_equal(registry_spec_parse("1=pseudonym,2=enum:x \"y\"|b;c,"
					     "3=enum:-1|0|1", &spec, err,
					     sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	out = render_ok(r, NULL, &ident, &rep, &len);
	assert_bytes(out, len, want);
	assert_int_equal(rep.n, 2);
	assert_true(has_report(&rep, 3,
			       "column 3: not one of the enum values: emptied"));
	assert_true(has_report(&rep, 4,
			       "column 2: not one of the enum values: emptied"));
	free(out);
	registry_free(r);
	registry_spec_free(spec);
}

static void test_bom_crlf_empty_lines(void **state)
{
	static const char csv[] =
		"\xef\xbb\xbf"
		"fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\r\n"
		"\r\n"
		"111;I;01.03.2015;\"two\r\nlines\";;;;;;\r\n"
		"\n"
		"   \n"
		"222;I;02.03.2015;x;;;;;;03.03.2015\r\n"
		"333;I;03.03.2015;y;;;;;;01.03.2015";	/* no final EOL */
	struct reports rep = { 0 };
	struct registry *r;
	char *out;
	size_t len;

	(void)state;
	r = parse_ok(S(csv), NULL, &rep);
	assert_int_equal(registry_row_count(r), 3);
	/* Physical line numbers: empty lines count but make no row. */
	assert_int_equal(registry_row(r, 0)->number, 3);
	assert_int_equal(registry_row(r, 1)->number, 7);
	assert_int_equal(registry_row(r, 2)->number, 8);
	assert_string_equal(registry_row(r, 0)->patient_id, "111");
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_null(memchr(out, '\r', len));
	assert_bytes(out, len,
		     "fnr;dato;c4;c5;c6;c7;c8;c9;diag\n"
		     "P111;2015-03;\"two\nlines\";;;;;;\n"
		     "P222;2015-03;x;;;;;;1\n"
		     "P333;2015-03;y;;;;;;-2\n");
	assert_int_equal(rep.n, 0);
	free(out);
	registry_free(r);
}

static void test_no_header(void **state)
{
	static const char csv[] =
		"111;I;01.03.2015;a;b;c;d;e;f;\n"
		"222;I;05.06.2017;a;b;c;d;e;f;05.06.2018\n";
	struct registry_opts opts = { .delimiter = ';', .has_header = 0 };
	struct reports rep = { 0 };
	struct registry *r;
	char *out;
	size_t len;

	(void)state;
	r = parse_ok(S(csv), &opts, &rep);
	assert_int_equal(registry_row_count(r), 2);
	assert_int_equal(registry_row(r, 0)->number, 1);
	assert_int_equal(registry_row(r, 1)->number, 2);
	assert_string_equal(registry_row(r, 1)->study_date, "20170605");
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "P111;2015-03;a;b;c;d;e;f;\n"
		     "P222;2017-06;a;b;c;d;e;f;365\n");
	free(out);
	registry_free(r);
}

static void test_other_delimiter(void **state)
{
	static const char csv[] =
		"id,inv,dato,note\n"
		"111,I,7.9.2019,\"a,b\"\n"
		"222,I,07.09.2019,c;d\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ',', .has_header = 1 };
	struct reports rep = { 0 };
	struct registry *r;
	char err[128], *out;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse("1=pseudonym,2=drop,3=month",
					     &spec, err, sizeof(err)), 0);
	opts.spec = spec;
	r = parse_ok(S(csv), &opts, &rep);
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "id,dato,note\n"
		     "P111,2019-09,\"a,b\"\n"
		     "P222,2019-09,c;d\n");
	free(out);
	registry_free(r);

	/* Tab-separated, with blanks that must survive. */
	{
		static const char tsv[] = "id\tinv\tdato\tnote\n"
					  "111\tI\t01.01.2001\t x \n";

		opts.delimiter = '\t';
		r = parse_ok(S(tsv), &opts, &rep);
		out = render_ok(r, NULL, &fake_keys, &rep, &len);
		assert_bytes(out, len, "id\tdato\tnote\n"
				       "P111\t2001-01\t\" x \"\n");
		free(out);
		registry_free(r);
	}
	registry_spec_free(spec);
}

/* ------------------------------------------------------------ problems */

static void test_bad_dates(void **state)
{
	static const char csv[] =
		"fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\n"
		"111;I;2015-03-01;a;;;;;;31.02.2015\n"
		"222;I;01.03.2015;a;;;;;;1.1.15\n"
		"333;I;SECRET99;a;;;;;;02.03.2015\n"
		"444;I;01.03.2015;a;;;;;;  02.03.2015  \n";
	struct reports rep = { 0 };
	struct registry *r;
	char *out;
	size_t len, i;

	(void)state;
	r = parse_ok(S(csv), NULL, &rep);
	assert_int_equal(rep.n, 0);	/* dates are the renderer's business */
	assert_string_equal(registry_row(r, 0)->study_date, "");
	assert_true(registry_row(r, 0)->valid);
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "fnr;dato;c4;c5;c6;c7;c8;c9;diag\n"
		     "P111;;a;;;;;;\n"
		     "P222;2015-03;a;;;;;;\n"
		     "P333;;a;;;;;;\n"
		     "P444;2015-03;a;;;;;;1\n");
	assert_int_equal(rep.n, 5);
	assert_true(has_report(&rep, 2, "column 3: unparseable date"));
	assert_true(has_report(&rep, 2, "column 10: unparseable date"));
	assert_true(has_report(&rep, 3, "column 10: unparseable date"));
	assert_true(has_report(&rep, 4, "column 3: unparseable date"));
	assert_true(has_report(&rep, 4,
		"column 10: unparseable reference date (column 3)"));
	{
		static const char *const planted[] = {
			"2015-03-01", "31.02.2015", "1.1.15", "SECRET99",
			"111", "222", "333", "444",
		};

		for (i = 0; i < 4; i++)
			assert_null(memmem(out, len, planted[i],
					   strlen(planted[i])));
		for (i = 0; i < sizeof(planted) / sizeof(planted[0]); i++)
			reports_clean(&rep, planted[i]);
	}
	free(out);
	registry_free(r);
}

static void test_wrong_column_count_and_empty_id(void **state)
{
	static const char csv[] =
		"fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\n"
		"111;I;01.03.2015;a;;;;;\n"			/* 9 */
		"222;I;01.03.2015;a;;;;;;;extra\n"		/* 11 */
		"   ;I;01.03.2015;a;;;;;;\n"			/* blank ID */
		";I;01.03.2015;a;;;;;;\n"			/* empty ID */
		"555;I;01.03.2015;ok;;;;;;\n";
	struct reports rep = { 0 };
	struct registry *r;
	char *out;
	size_t len;

	(void)state;
	r = parse_ok(S(csv), NULL, &rep);
	assert_int_equal(registry_row_count(r), 5);
	assert_false(registry_row(r, 0)->valid);
	assert_false(registry_row(r, 1)->valid);
	assert_false(registry_row(r, 2)->valid);
	assert_null(registry_row(r, 2)->patient_id);
	assert_false(registry_row(r, 3)->valid);
	assert_null(registry_row(r, 3)->patient_id);
	assert_true(registry_row(r, 4)->valid);
	assert_int_equal(rep.n, 4);
	assert_true(has_report(&rep, 2, "wrong column count"));
	assert_true(has_report(&rep, 3, "wrong column count"));
	assert_true(has_report(&rep, 4,
			       "column 1: missing or invalid personal ID"));
	assert_true(has_report(&rep, 5,
			       "column 1: missing or invalid personal ID"));
	reports_clean(&rep, "111");
	reports_clean(&rep, "222");
	reports_clean(&rep, "extra");

	rep.n = 0;
	out = render_ok(r, NULL, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "fnr;dato;c4;c5;c6;c7;c8;c9;diag\n"
		     "P555;2015-03;ok;;;;;;\n");
	assert_int_equal(rep.n, 0);
	free(out);
	registry_free(r);
}

static void test_include_filter(void **state)
{
	struct reports rep = { 0 };
	struct registry *r;
	uint8_t include[4] = { 0, 1, 0, 0 };
	char *out;
	size_t len;

	(void)state;
	r = parse_ok(S(default_csv), NULL, &rep);
	out = render_ok(r, include, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "fnr;screeningdato;c4;c5;c6;c7;c8;c9;diagnosedato\n"
		     "P21098765432;2016-03;x;;y;z;w;v;\n");
	free(out);
	memset(include, 0, sizeof(include));
	out = render_ok(r, include, &fake_keys, &rep, &len);
	assert_bytes(out, len,
		     "fnr;screeningdato;c4;c5;c6;c7;c8;c9;diagnosedato\n");
	free(out);
	registry_free(r);
}

static void test_shift_role(void **state)
{
	static const char csv[] =
		"fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\n"
		"111;I;01.03.2015;;;;;;;\n"
		"222;I;05.01.2016;;;;;;;10.03.2016\n"
		"333;I;bad;;;;;;;\n";
	struct registry_spec *spec = NULL;
	struct registry_opts opts = { .delimiter = ';', .has_header = 1 };
	struct registry_keys keys = fake_keys;
	struct reports rep = { 0 };
	struct registry *r;
	int shift = -10;
	char err[128], *out;
	size_t len;

	(void)state;
	assert_int_equal(registry_spec_parse(
		"1=pseudonym,2=drop,3=shift,10=shift", &spec, err,
		sizeof(err)), 0);
	opts.spec = spec;
	keys.arg = &shift;
	r = parse_ok(S(csv), &opts, &rep);
	out = render_ok(r, NULL, &keys, &rep, &len);
	/* -10 days: across February, across a year, into 29 February. */
	assert_bytes(out, len,
		     "fnr;dato;c4;c5;c6;c7;c8;c9;diag\n"
		     "P111;19.02.2015;;;;;;;\n"
		     "P222;26.12.2015;;;;;;;29.02.2016\n"
		     "P333;;;;;;;;\n");
	assert_int_equal(rep.n, 1);
	assert_true(has_report(&rep, 4, "column 3: unparseable date"));
	free(out);

	/* A shift_days callback is required for a shift spec. */
	keys.shift_days = NULL;
	assert_int_equal(registry_render(r, NULL, &keys, collect, &rep, &out,
					 &len), -EINVAL);
	assert_null(out);
	registry_free(r);
	registry_spec_free(spec);
}

static void test_callback_error(void **state)
{
	struct registry_keys keys = { .pseudonym = failing_pseudonym };
	struct reports rep = { 0 };
	struct registry *r;
	char *out = (char *)"x";
	size_t len = 1;

	(void)state;
	r = parse_ok(S(default_csv), NULL, &rep);
	assert_int_equal(registry_render(r, NULL, &keys, collect, &rep, &out,
					 &len), -EIO);
	assert_null(out);
	assert_int_equal(len, 0);
	registry_free(r);
}

static void test_parse_errors(void **state)
{
	struct registry *r = (struct registry *)1;
	char err[256];
	int ret;

	(void)state;
	/* An unclosed quote swallows the rest of the file: refused. */
	err[0] = '\0';
	ret = registry_parse(S("fnr;inv;dato;c4;c5;c6;c7;c8;c9;diag\n"
			       "111;I;01.03.2015;\"SECRET;;;;;;\n"
			       "222;I;01.03.2015;;;;;;;\n"),
			     NULL, NULL, NULL, &r, err, sizeof(err));
	assert_int_equal(ret, -EBADMSG);
	assert_null(r);
	assert_true(err[0] != '\0');
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(err, "111"));

	/* The default spec needs 10 columns. */
	err[0] = '\0';
	ret = registry_parse(S("fnr;inv;dato\nSECRET;I;01.01.2000\n"), NULL,
			     NULL, NULL, &r, err, sizeof(err));
	assert_int_equal(ret, -EBADMSG);
	assert_null(r);
	assert_true(err[0] != '\0');
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(err, "fnr"));

	/* A quote is no delimiter. */
	{
		struct registry_opts opts = { .delimiter = '"' };

		assert_int_equal(registry_parse(S("a\n"), &opts, NULL, NULL,
						&r, err, sizeof(err)),
				 -EINVAL);
	}

	/* Empty input: no rows, an empty rendering. */
	{
		struct reports rep = { 0 };
		char *out;
		size_t len;

		r = parse_ok(NULL, 0, NULL, &rep);
		assert_int_equal(registry_row_count(r), 0);
		out = render_ok(r, NULL, &fake_keys, &rep, &len);
		assert_int_equal(len, 0);
		free(out);
		registry_free(r);
		r = parse_ok(S("\xef\xbb\xbf\r\n\n"), NULL, &rep);
		assert_int_equal(registry_row_count(r), 0);
		registry_free(r);
	}
}

static void test_bounds(void **state)
{
	struct registry *r = NULL;
	char err[256], *csv;
	size_t n, i, pos;
	int ret;

	(void)state;
	/* A field over REGISTRY_MAX_FIELD, quoted (libcsv's buffer cap). */
	n = REGISTRY_MAX_FIELD + 64;
	csv = malloc(n + 64);
	assert_non_null(csv);
	pos = (size_t)sprintf(csv, "a;\"");
	memset(csv + pos, 'x', n);
	pos += n;
	pos += (size_t)sprintf(csv + pos, "\"\n");
	{
		struct registry_spec *spec = NULL;
		struct registry_opts opts = { .delimiter = ';' };

		assert_int_equal(registry_spec_parse("1=pseudonym", &spec,
						     err, sizeof(err)), 0);
		opts.spec = spec;
		ret = registry_parse(csv, pos, &opts, NULL, NULL, &r, err,
				     sizeof(err));
		assert_int_equal(ret, -E2BIG);
		assert_null(r);
		assert_null(strstr(err, "xxx"));

		/* Unquoted: the same. */
		csv[2] = 'x';
		csv[pos - 2] = 'x';
		ret = registry_parse(csv, pos, &opts, NULL, NULL, &r, err,
				     sizeof(err));
		assert_int_equal(ret, -E2BIG);
		assert_null(r);
		free(csv);

		/* More than REGISTRY_MAX_COLUMNS columns. */
		n = REGISTRY_MAX_COLUMNS + 1;
		csv = malloc(2 * n + 1);
		assert_non_null(csv);
		for (i = 0; i < n; i++) {
			csv[2 * i] = 'c';
			csv[2 * i + 1] = i + 1 < n ? ';' : '\n';
		}
		ret = registry_parse(csv, 2 * n, &opts, NULL, NULL, &r, err,
				     sizeof(err));
		assert_int_equal(ret, -E2BIG);
		assert_null(r);

		/* Exactly the maximum is fine; a wider data row is just
		 * invalid. */
		{
			struct reports rep = { 0 };
			size_t m = 2 * REGISTRY_MAX_COLUMNS;
			char *two = malloc(2 * m + 2);

			assert_non_null(two);
			memcpy(two, csv, m);
			two[m - 1] = '\n';
			memcpy(two + m, csv, 2 * n);	/* 1025 columns */
			r = parse_ok(two, m + 2 * n, &opts, &rep);
			assert_int_equal(registry_row_count(r), 2);
			assert_true(registry_row(r, 0)->valid);
			assert_false(registry_row(r, 1)->valid);
			assert_true(has_report(&rep, 2, "wrong column count"));
			registry_free(r);
			free(two);
		}
		free(csv);
		registry_spec_free(spec);
	}
}

/* ---------------------------------------------------------------- spec */

static void test_spec_errors(void **state)
{
	static const struct {
		const char *spec;
		const char *mention;	/* in the message */
	} bad[] = {
		{ "1=pseudonym,2=foo", "unknown role" },
		{ "1=pseudonym,1=drop", "listed twice" },
		{ "1=pseudonym,2=drop,2=drop", "listed twice" },
		{ "0=pseudonym", "out of range" },
		{ "1=pseudonym,1025=drop", "out of range" },
		{ "1=pseudonym,99999999999=drop", "bad column" },
		{ "2=drop,3=month", "no pseudonym" },
		{ "1=pseudonym,2=pseudonym", "more than one pseudonym" },
		{ "1=pseudonym,3=days-since:3", "days-since" },
		{ "1=pseudonym,3=days-since:0", "days-since" },
		{ "1=pseudonym,3=days-since:1025", "days-since" },
		{ "1=pseudonym,3=days-since:x", "days-since" },
		{ "1=pseudonym,3=days-since:", "days-since" },
		{ "1=pseudonym,3=days-since", "days-since" },
		{ "1=pseudonym,3=days-since:1", "pseudonym column" },
		{ "1=pseudonym,,2=drop", "empty item" },
		{ "1=pseudonym,", "empty item" },
		{ "", "empty item" },
		{ "x=drop", "bad column" },
		{ "-1=pseudonym", "bad column" },
		{ "1", "column=role" },
		{ "1=PSEUDONYM", "unknown role" },
		/* the typed kept roles: each message names the item */
		{ "1=pseudonym,2=integer", "unknown role in \"2=integer\"" },
		{ "1=pseudonym,2=Int", "unknown role in \"2=Int\"" },
		{ "1=pseudonym,2=int:5", "int takes no argument, in \"2=int:5\"" },
		{ "1=pseudonym,2=number:2", "number takes no argument" },
		{ "1=pseudonym,2=code:16", "code takes no argument" },
		{ "1=pseudonym,2=text:", "text takes no argument" },
		{ "1=pseudonym,2=keep:x", "keep takes no argument" },
		{ "1=pseudonym,2=drop:1", "drop takes no argument" },
		{ "1=pseudonym:1", "pseudonym takes no argument" },
		{ "1=pseudonym,2=enum", "bad enum in \"2=enum\": no values" },
		{ "1=pseudonym,2=enum:", "bad enum in \"2=enum:\": no values" },
		{ "1=pseudonym,2=enum:a||b", "an empty value" },
		{ "1=pseudonym,2=enum:a|", "an empty value" },
		{ "1=pseudonym,2=enum:|a", "an empty value" },
		{ "1=pseudonym,2=enum: a|b", "leading or trailing space" },
		{ "1=pseudonym,2=enum:a |b", "leading or trailing space" },
		{ "1=pseudonym,2=enum:a\tb", "control character" },
		{ "1=pseudonym,2=enum:a\x7f", "control character" },
		{ "1=pseudonym,2=enum:=SUM(1)", "formula" },
		{ "1=pseudonym,2=enum:ja|+x", "formula" },
		{ "1=pseudonym,2=enum:@x", "formula" },
		{ "1=pseudonym,2=enum:-x", "formula" },
		{ "1=pseudonym,2=enum:"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		  "a value too long" },
		{ "1=pseudonym,2=int,2=code", "listed twice" },
		{ "1=pseudonym,2=enum:a,2=enum:b", "listed twice" },
	};
	static const char *const good[] = {
		REGISTRY_DEFAULT_SPEC,
		"1=pseudonym",
		" 2 = pseudonym , 3=keep,4=drop, 5=days-since:4 ,6=shift",
		"1024=pseudonym",
		"1=pseudonym,2=int,3=number,4=code,5=enum:ja|nei|vet ikke,"
		"6=text,7=keep",
		"1=pseudonym, 2 = enum:-1|0|+1|2.5 ,3= int ",
		"1=pseudonym,2=enum:"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"1=pseudonym,2=enum:h\xc3\xb8yre|venstre",
	};
	struct registry_spec *spec;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec = (struct registry_spec *)1;
		err[0] = '\0';
		assert_int_equal(registry_spec_parse(bad[i].spec, &spec, err,
						     sizeof(err)), -EINVAL);
		assert_null(spec);
		if (!strstr(err, bad[i].mention)) {
			fprintf(stderr, "spec \"%s\": message \"%s\"\n",
				bad[i].spec, err);
			fail();
		}
	}
	assert_int_equal(registry_spec_parse(NULL, &spec, err, sizeof(err)),
			 -EINVAL);
	/* No err buffer is fine too. */
	assert_int_equal(registry_spec_parse("2=drop", &spec, NULL, 0),
			 -EINVAL);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		spec = NULL;
		assert_int_equal(registry_spec_parse(good[i], &spec, err,
						     sizeof(err)), 0);
		assert_non_null(spec);
		registry_spec_free(spec);
	}
	assert_int_equal(registry_spec_parse(good[2], &spec, err,
					     sizeof(err)), 0);
	assert_int_equal(registry_spec_id_column(spec), 2);
	registry_spec_free(spec);
	/* All enum values of a spec are bounded in bytes: 200 columns of a
	 * 60-byte value each is too much. */
	{
		char *big = malloc(200 * 72 + 16), *p = big;
		int k;

		assert_non_null(big);
		p += sprintf(p, "1=pseudonym");
		for (k = 2; k <= 201; k++)
			p += sprintf(p, ",%d=enum:%060d", k, k);
		spec = (struct registry_spec *)1;
		assert_int_equal(registry_spec_parse(big, &spec, err,
						     sizeof(err)), -EINVAL);
		assert_null(spec);
		assert_non_null(strstr(err, "bytes of enum values"));
		/* 100 of them fit */
		sprintf(strstr(big, ",102=enum:"), "%s", "");
		assert_int_equal(registry_spec_parse(big, &spec, err,
						     sizeof(err)), 0);
		registry_spec_free(spec);
		free(big);
	}
	registry_spec_free(NULL);
	registry_free(NULL);
	assert_int_equal(registry_spec_id_column(NULL), 0);
}

/* ---------------------------------------------------------------- dates */

static void test_parse_date(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: rejected */
	} t[] = {
		{ "01.03.2015", "20150301" },
		{ "1.3.2015", "20150301" },
		{ "01.3.2015", "20150301" },
		{ "1.03.2015", "20150301" },
		{ "  15.03.2015 ", "20150315" },
		{ "29.02.2016", "20160229" },
		{ "29.02.2000", "20000229" },
		{ "31.12.2200", "22001231" },
		{ "01.01.1800", "18000101" },
		{ "31.01.2015", "20150131" },
		{ "30.04.2015", "20150430" },
		{ "2015-03-01", NULL },
		{ "31.02.2015", NULL },
		{ "29.02.2015", NULL },
		{ "29.02.1900", NULL },
		{ "31.04.2015", NULL },
		{ "00.01.2015", NULL },
		{ "01.00.2015", NULL },
		{ "01.13.2015", NULL },
		{ "32.01.2015", NULL },
		{ "1.1.15", NULL },
		{ "01.01.15", NULL },
		{ "01.01.20150", NULL },
		{ "001.01.2015", NULL },
		{ "31.12.1799", NULL },
		{ "01.01.2201", NULL },
		{ "01/01/2015", NULL },
		{ "01.01.2015.", NULL },
		{ ".01.2015", NULL },
		{ "01..2015", NULL },
		{ "+1.01.2015", NULL },
		{ "\t01.01.2015", NULL },
		{ "01. 01.2015", NULL },
		{ "", NULL },
		{ "   ", NULL },
	};
	char out[9];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int ret = registry_parse_date(t[i].in, strlen(t[i].in), out);

		if (t[i].out) {
			if (ret)
				fprintf(stderr, "rejected \"%s\"\n", t[i].in);
			assert_int_equal(ret, 0);
			assert_string_equal(out, t[i].out);
		} else {
			if (!ret)
				fprintf(stderr, "accepted \"%s\"\n", t[i].in);
			assert_int_equal(ret, -EINVAL);
			assert_string_equal(out, "");
		}
	}
	/* Length-bounded: the bytes after n do not count. */
	assert_int_equal(registry_parse_date("01.03.2015999", 10, out), 0);
	assert_string_equal(out, "20150301");
	assert_int_equal(registry_parse_date("01.03.2015", 9, out), -EINVAL);
	assert_int_equal(registry_parse_date("01.03\0002015", 10, out),
			 -EINVAL);
	assert_int_equal(registry_parse_date(NULL, 0, out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_spec),
		cmocka_unit_test(test_row_originals),
		cmocka_unit_test(test_explicit_default_spec),
		cmocka_unit_test(test_latin1_passthrough),
		cmocka_unit_test(test_quoting_round_trip),
		cmocka_unit_test(test_extra_column),
		cmocka_unit_test(test_bom_crlf_empty_lines),
		cmocka_unit_test(test_kept_cells_cleaned),
		cmocka_unit_test(test_typed_roles),
		cmocka_unit_test(test_enum_quoting),
		cmocka_unit_test(test_keep_is_text),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_other_delimiter),
		cmocka_unit_test(test_bad_dates),
		cmocka_unit_test(test_wrong_column_count_and_empty_id),
		cmocka_unit_test(test_include_filter),
		cmocka_unit_test(test_shift_role),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_parse_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
