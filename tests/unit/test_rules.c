/*
 * test_rules.c - PS3.15 Annex E rules on synthetic datasets (cmocka).
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

#include "dcm.h"
#include "dicom.h"
#include "ident.h"
#include "iod.h"
#include "rules.h"
#include "tables.h"

#define T DCM_TAG

/* ---------------------------------------------------------------------- */
/* Fixtures: a recording audit callback and a deterministic UID map. */

#define MAX_AUDIT 256

struct audit_rec {
	char path[128];
	char action[16];
	char old[128];
	size_t oldlen;
	int removed;		/* newv == NULL */
	char newv[256];
	size_t newlen;
};

struct fx {
	struct audit_rec rec[MAX_AUDIT];
	size_t n;
	int fail_audit_at;	/* 1-based call that fails, 0 = never */
	int fail_map;		/* map_uid fails */
	int map_calls;
};

static int fx_map(void *arg, const char *uid, char *out, size_t outsz)
{
	struct fx *fx = arg;
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	const char *p;

	fx->map_calls++;
	if (fx->fail_map)
		return -EIO;
	for (p = uid; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(out, outsz, "2.25.%llu", (unsigned long long)h);
	return 0;
}

static int fx_audit(void *arg, const char *path, const char *action,
		    const void *old, size_t oldlen, const void *newv,
		    size_t newlen)
{
	struct fx *fx = arg;
	struct audit_rec *r;

	if (fx->fail_audit_at && (int)fx->n + 1 == fx->fail_audit_at)
		return -EIO;
	assert_true(fx->n < MAX_AUDIT);
	r = &fx->rec[fx->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s", path);
	snprintf(r->action, sizeof(r->action), "%s", action);
	r->oldlen = oldlen;
	if (old)
		memcpy(r->old, old, oldlen < sizeof(r->old) - 1 ?
				oldlen : sizeof(r->old) - 1);
	r->removed = newv == NULL;
	r->newlen = newlen;
	if (newv)
		memcpy(r->newv, newv, newlen < sizeof(r->newv) - 1 ?
				newlen : sizeof(r->newv) - 1);
	return 0;
}

static const struct audit_rec *find_audit(const struct fx *fx,
					  const char *path)
{
	size_t i;

	for (i = 0; i < fx->n; i++)
		if (strcmp(fx->rec[i].path, path) == 0)
			return &fx->rec[i];
	return NULL;
}

static struct rules *R;

static int setup(void **state)
{
	(void)state;
	return rules_new(&R);
}

static int teardown(void **state)
{
	(void)state;
	rules_free(R);
	R = NULL;
	return 0;
}

static void ctx_init(struct rules_ctx *ctx, struct fx *fx, unsigned opts)
{
	memset(fx, 0, sizeof(*fx));
	memset(ctx, 0, sizeof(*ctx));
	ctx->options = opts;
	ctx->pseudonym = "PSEUDO0001";
	ctx->map_uid = fx_map;
	ctx->audit = fx_audit;
	ctx->arg = fx;
}

static void set(struct dcm_ds *ds, uint32_t tag, const char *vr,
		const char *s)
{
	assert_int_equal(dcm_ds_set_str(ds, tag, vr, s), 0);
}

static void set_bin(struct dcm_ds *ds, uint32_t tag, const char *vr,
		    const void *v, uint32_t len)
{
	assert_int_equal(dcm_ds_set(ds, tag, vr, v, len), 0);
}

static struct dcm_ds *add_item(struct dcm_ds *ds, uint32_t seqtag)
{
	struct dcm_elem *seq = dcm_ds_get(ds, seqtag);
	struct dcm_ds *item;

	if (!seq)
		assert_int_equal(dcm_ds_set_seq(ds, seqtag, &seq), 0);
	assert_int_equal(dcm_seq_add_item(seq, &item), 0);
	return item;
}

/* The trimmed string value of tag, or NULL when absent. */
static const char *str(const struct dcm_ds *ds, uint32_t tag)
{
	static char buf[1024];

	if (!dcm_ds_get(ds, tag))
		return NULL;
	dcm_ds_get_str(ds, tag, buf, sizeof(buf));
	return buf;
}

static void assert_absent(const struct dcm_ds *ds, uint32_t tag)
{
	assert_null(dcm_ds_get(ds, tag));
}

static void assert_str(const struct dcm_ds *ds, uint32_t tag, const char *s)
{
	const char *v = str(ds, tag);

	assert_non_null(v);
	assert_string_equal(v, s);
}

static void assert_empty(const struct dcm_ds *ds, uint32_t tag)
{
	struct dcm_elem *e = dcm_ds_get(ds, tag);

	assert_non_null(e);
	assert_int_equal(e->len, 0);
	assert_int_equal(e->nitems, 0);
}

static void apply_ok(const struct rules_ctx *ctx, struct dcm_ds *ds)
{
	assert_int_equal(rules_apply(R, ctx, ds), 0);
}

/* ---------------------------------------------------------------------- */

static void test_table(void **state)
{
	(void)state;
	assert_non_null(R);
	assert_int_equal(rules_table_rows(R), 656);
	assert_string_equal(rules_basic_code(R, T(0x0010, 0x1040)), "X");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x0050)), "Z");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x0018)), "U");
	assert_string_equal(rules_basic_code(R, T(0x0040, 0xa123)), "D");
	assert_string_equal(rules_basic_code(R, T(0x0010, 0x0020)), "Z/D");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x0022)), "X/Z");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x0021)), "X/D");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x0080)), "X/Z/D");
	assert_string_equal(rules_basic_code(R, T(0x0008, 0x1140)), "X/Z/U*");
	assert_string_equal(rules_basic_code(R, T(0xfffc, 0xfffc)), "X");
	/* repeating groups and the private row */
	assert_string_equal(rules_basic_code(R, T(0x6000, 0x3000)), "X");
	assert_string_equal(rules_basic_code(R, T(0x601e, 0x4000)), "X");
	assert_string_equal(rules_basic_code(R, T(0x5002, 0x0005)), "X");
	assert_string_equal(rules_basic_code(R, T(0x0009, 0x1010)), "X");
	/* not in the table */
	assert_null(rules_basic_code(R, T(0x0008, 0x0070)));
	assert_null(rules_basic_code(R, T(0x0028, 0x0301)));
	assert_null(rules_basic_code(R, T(0x6000, 0x0010)));
}

static void test_basic_codes(void **state)
{
	static const uint8_t ob[6] = { 1, 2, 3, 4, 5, 6 };
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_elem *e;
	struct dcm_ds *it;
	char mapped[80];

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0010, 0x1040), "LO", "1 Main Street");	/* X */
	set(&ds, T(0x0008, 0x0050), "SH", "ACC12345");	/* Z */
	set(&ds, T(0x0008, 0x0018), "UI", "1.2.3.4.5.6");	/* U */
	/* D, one per VR class */
	set(&ds, T(0x0040, 0xa123), "PN", "Smith^John");
	set(&ds, T(0x0018, 0x9074), "DT", "20240101120000");
	set(&ds, T(0x0040, 0xa121), "DA", "20240101");
	set(&ds, T(0x0040, 0xa122), "TM", "120000");
	set(&ds, T(0x0072, 0x005f), "AS", "045Y");
	set(&ds, T(0x0400, 0x0565), "CS", "CORRECT");
	set(&ds, T(0x2100, 0x0140), "AE", "MAMMO_WS_1");
	set(&ds, T(0x006a, 0x0003), "UI", "1.2.3.99");
	set_bin(&ds, T(0x0072, 0x0065), "OB", ob, sizeof(ob));
	set_bin(&ds, T(0x0018, 0x9623), "FD", ob, sizeof(ob));	/* VR as given */
	it = add_item(&ds, T(0x0040, 0xa730));	/* Content Sequence: D, SQ */
	set(it, T(0x0040, 0xa123), "PN", "Nested^Name");
	/* compound codes */
	set(&ds, T(0x0070, 0x0084), "PN", "Creator^Name");	/* Z/D */
	set(&ds, T(0x0008, 0x0022), "DA", "20240102");	/* X/Z */
	set(&ds, T(0x0008, 0x0021), "DA", "20240103");	/* X/D */
	set(&ds, T(0x0008, 0x0080), "LO", "St Elsewhere");	/* X/Z/D */
	it = add_item(&ds, T(0x0008, 0x1140));	/* X/Z/U* */
	set(it, T(0x0008, 0x1150), "UI", "1.2.840.10008.5.1.4.1.1.1.2");
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.7");

	apply_ok(&ctx, &ds);

	assert_absent(&ds, T(0x0010, 0x1040));
	assert_empty(&ds, T(0x0008, 0x0050));
	fx_map(&fx, "1.2.3.4.5.6", mapped, sizeof(mapped));
	assert_str(&ds, T(0x0008, 0x0018), mapped);
	assert_str(&ds, T(0x0040, 0xa123), "ANONYMIZED^");
	assert_str(&ds, T(0x0018, 0x9074), "19000101000000.000000");
	assert_str(&ds, T(0x0040, 0xa121), "19000101");
	assert_str(&ds, T(0x0040, 0xa122), "000000.00");
	assert_str(&ds, T(0x0072, 0x005f), "000Y");
	assert_str(&ds, T(0x0400, 0x0565), "ANON");
	assert_str(&ds, T(0x2100, 0x0140), "ANONYMIZED");
	fx_map(&fx, "1.2.3.99", mapped, sizeof(mapped));
	assert_str(&ds, T(0x006a, 0x0003), mapped);
	e = dcm_ds_get(&ds, T(0x0072, 0x0065));
	assert_non_null(e);
	assert_int_equal(e->len, 2);
	assert_int_equal(e->val[0] | e->val[1], 0);
	e = dcm_ds_get(&ds, T(0x0018, 0x9623));
	assert_int_equal(e->len, 8);
	assert_memory_equal(e->val, "\0\0\0\0\0\0\0\0", 8);
	assert_empty(&ds, T(0x0040, 0xa730));
	assert_str(&ds, T(0x0070, 0x0084), "ANONYMIZED^");
	assert_empty(&ds, T(0x0008, 0x0022));
	assert_str(&ds, T(0x0008, 0x0021), "19000101");
	assert_str(&ds, T(0x0008, 0x0080), "ANONYMIZED");
	e = dcm_ds_get(&ds, T(0x0008, 0x1140));
	assert_non_null(e);
	assert_int_equal(e->nitems, 1);
	assert_str(&e->items[0], T(0x0008, 0x1150),
		   "1.2.840.10008.5.1.4.1.1.1.2");
	fx_map(&fx, "1.2.3.4.7", mapped, sizeof(mapped));
	assert_str(&e->items[0], T(0x0008, 0x1155), mapped);
	/* a mapped UID is padded with NUL, not space (PS3.5 9.1) */
	e = dcm_ds_get(&e->items[0], T(0x0008, 0x1155));
	assert_int_equal(e->len % 2, 0);
	if (e->len != strlen(mapped))
		assert_int_equal(e->val[e->len - 1], 0);
	dcm_ds_free(&ds);
}

static void test_uid_multi_and_empty(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	char a[80], b[80], want[200];
	struct dcm_elem *e;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	/* U on a multi-valued, not well-formed value, and on an empty one */
	set(&ds, T(0x0008, 0x0018), "UI", "1.2.3\\not a uid ");
	set(&ds, T(0x0020, 0x000d), "UI", "");
	apply_ok(&ctx, &ds);
	fx_map(&fx, "1.2.3", a, sizeof(a));
	fx_map(&fx, "not a uid", b, sizeof(b));
	snprintf(want, sizeof(want), "%s\\%s", a, b);
	assert_str(&ds, T(0x0008, 0x0018), want);
	e = dcm_ds_get(&ds, T(0x0020, 0x000d));
	assert_non_null(e);
	assert_int_equal(e->len, 0);
	dcm_ds_free(&ds);

	/* a long multi-valued value (beyond the small on-stack buffers) */
	{
		char in[2048], out[4096];
		size_t o = 0, p = 0;
		int i;

		ctx_init(&ctx, &fx, 0);
		for (i = 0; i < 40; i++) {
			char one[64];

			snprintf(one, sizeof(one),
				 "1.2.826.0.1.3680043.2.1125.%d", i);
			o += (size_t)snprintf(in + o, sizeof(in) - o, "%s%s",
					      i ? "\\" : "", one);
			fx_map(&fx, one, a, sizeof(a));
			p += (size_t)snprintf(out + p, sizeof(out) - p, "%s%s",
					      i ? "\\" : "", a);
		}
		set(&ds, T(0x0008, 0x0018), "UI", in);
		apply_ok(&ctx, &ds);
		assert_str(&ds, T(0x0008, 0x0018), out);
		dcm_ds_free(&ds);

		ctx_init(&ctx, &fx, RULES_RTN_LONG_MODIF_DATES);
		ctx.date_shift_days = 1;
		for (o = 0, p = 0, i = 0; i < 40; i++) {
			o += (size_t)snprintf(in + o, sizeof(in) - o, "%s%s",
					      i ? "\\" : "", "20240228");
			p += (size_t)snprintf(out + p, sizeof(out) - p, "%s%s",
					      i ? "\\" : "", "20240229");
		}
		/* Date of Last Calibration: DA, VM 1-n, C under the
		 * option */
		set(&ds, T(0x0018, 0x1200), "DA", in);
		apply_ok(&ctx, &ds);
		assert_str(&ds, T(0x0018, 0x1200), out);
		dcm_ds_free(&ds);
	}
}

static void test_recursion(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_ds *l1, *l2, *l3;
	struct dcm_elem *e;
	const struct audit_rec *a;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	/* SQs not in the table: kept, items cleaned at every depth */
	l1 = add_item(&ds, T(0x0054, 0x0220));
	l2 = add_item(l1, T(0x0054, 0x0222));
	l2 = add_item(l1, T(0x0054, 0x0222));	/* second item: [1] */
	l3 = add_item(l2, T(0x0040, 0xa043));
	set(l3, T(0x0010, 0x1040), "LO", "Deep Address");	/* X */
	set(l3, T(0x0010, 0x0010), "PN", "Deep^Name");	/* Z */
	set(l3, T(0x0008, 0x0100), "SH", "R-10224");	/* safe text */
	set(l3, T(0x0018, 0x11a4), "LO", "Dr Who's paddle");	/* free text */
	set(l3, T(0x0008, 0x0018), "UI", "1.2.3.4");	/* U */
	apply_ok(&ctx, &ds);

	e = dcm_ds_get(&ds, T(0x0054, 0x0220));
	assert_non_null(e);
	e = dcm_ds_get(&e->items[0], T(0x0054, 0x0222));
	assert_int_equal(e->nitems, 2);
	e = dcm_ds_get(&e->items[1], T(0x0040, 0xa043));
	assert_non_null(e);
	l3 = &e->items[0];
	assert_absent(l3, T(0x0010, 0x1040));
	assert_empty(l3, T(0x0010, 0x0010));	/* nested: the table, Z */
	assert_str(l3, T(0x0008, 0x0100), "R-10224");
	assert_absent(l3, T(0x0018, 0x11a4));
	assert_string_not_equal(str(l3, T(0x0008, 0x0018)), "1.2.3.4");

	a = find_audit(&fx, "00540220[0].00540222[1].0040A043[0].00101040");
	assert_non_null(a);
	assert_string_equal(a->action, "X");
	assert_string_equal(a->old, "Deep Address");
	assert_true(a->removed);
	dcm_ds_free(&ds);
}

static void test_depth_limit(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *cur = &ds;
	struct rules_ctx ctx;
	struct fx fx;
	int i;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	for (i = 0; i < DCM_MAX_DEPTH + 2; i++)
		cur = add_item(cur, T(0x0054, 0x0220));
	set(cur, T(0x0008, 0x0070), "LO", "ACME");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	dcm_ds_free(&ds);
}

static void test_opt_uids(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_UIDS);
	set(&ds, T(0x0008, 0x0018), "UI", "1.2.3.4.5.6");
	set(&ds, T(0x0009, 0x0000), "UI", "1.2.3");	/* private: removed */
	set(&ds, T(0x0028, 0x0304), "UI", "1.2.3.7");	/* not in table */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0018), "1.2.3.4.5.6");
	assert_str(&ds, T(0x0028, 0x0304), "1.2.3.7");
	assert_absent(&ds, T(0x0009, 0x0000));
	assert_int_equal(fx.map_calls, 0);
	dcm_ds_free(&ds);
}

struct shift_case {
	const char *in;
	int days;
	const char *out;	/* NULL: emptied */
};

static void test_opt_modif_dates(void **state)
{
	static const struct shift_case c[] = {
		{ "20231231", 1, "20240101" },	/* year */
		{ "20240228", 1, "20240229" },	/* leap day */
		{ "20240229", 1, "20240301" },
		{ "20230228", 1, "20230301" },	/* not a leap year */
		{ "21000228", 1, "21000301" },	/* nor is 2100 */
		{ "20000228", 1, "20000229" },	/* but 2000 is */
		{ "20240131", 30, "20240301" },	/* month */
		{ "20240301", -1, "20240229" },
		{ "20240101", -365, "20230101" },
		{ "20240101", -366, "20221231" },
		{ "20240101\\20240229", 365, "20241231\\20250228" },
		{ "2024-01-01", 1, "" },	/* not a DA value: removed */
		{ "20240230", 1, NULL },	/* no such day */
		{ "20240101", 3000000, NULL },	/* past year 9999 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct dcm_ds ds = { 0 };
		struct rules_ctx ctx;
		struct fx fx;

		ctx_init(&ctx, &fx, RULES_RTN_LONG_MODIF_DATES);
		ctx.date_shift_days = c[i].days;
		/* Date of Last Calibration: DA, VM 1-n, C under the
		 * option (a second value is valid there) */
		set(&ds, T(0x0018, 0x1200), "DA", c[i].in);
		apply_ok(&ctx, &ds);
		if (c[i].out && !*c[i].out)
			assert_absent(&ds, T(0x0018, 0x1200));
		else if (c[i].out)
			assert_str(&ds, T(0x0018, 0x1200), c[i].out);
		else
			assert_empty(&ds, T(0x0018, 0x1200));
		dcm_ds_free(&ds);
	}
}

static void test_opt_modif_dt_tm(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	const struct audit_rec *a;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_LONG_MODIF_DATES);
	ctx.date_shift_days = 1;
	set(&ds, T(0x0008, 0x002a), "DT", "20240228235959.123456+0100");
	set(&ds, T(0x0008, 0x0031), "TM", "101010");	/* TM: kept */
	set(&ds, T(0x0008, 0x0020), "DA", "20240228");	/* Z basic, C */
	set(&ds, T(0x0014, 0x0102), "DA", "20240228");	/* not in table */
	set(&ds, T(0x0014, 0x0103), "TM", "1010");	/* not in table */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x002a), "20240229235959.123456+0100");
	assert_str(&ds, T(0x0008, 0x0031), "101010");
	assert_str(&ds, T(0x0008, 0x0020), "20240229");
	assert_str(&ds, T(0x0014, 0x0102), "20240229");
	assert_str(&ds, T(0x0014, 0x0103), "1010");
	assert_str(&ds, T(0x0028, 0x0303), "MODIFIED");
	a = find_audit(&fx, "00080020");
	assert_non_null(a);
	assert_string_equal(a->action, "shift");
	assert_string_equal(a->old, "20240228");
	assert_string_equal(a->newv, "20240229");
	dcm_ds_free(&ds);
}

static void test_opt_full_dates(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	/* K (full dates) beats C (modified dates) when both are given */
	ctx_init(&ctx, &fx,
		 RULES_RTN_LONG_FULL_DATES | RULES_RTN_LONG_MODIF_DATES);
	ctx.date_shift_days = 10;
	set(&ds, T(0x0008, 0x0021), "DA", "20240228");
	set(&ds, T(0x0008, 0x0031), "TM", "101010");
	set(&ds, T(0x0014, 0x0102), "DA", "20240228");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0021), "20240228");
	assert_str(&ds, T(0x0008, 0x0031), "101010");
	assert_str(&ds, T(0x0014, 0x0102), "20240228");
	assert_str(&ds, T(0x0028, 0x0303), "UNMODIFIED");
	dcm_ds_free(&ds);

	/* without date options: removed */
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x0021), "DA", "20240228");
	set(&ds, T(0x0008, 0x0031), "TM", "101010");
	set(&ds, T(0x0014, 0x0102), "DA", "20240228");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0021), "19000101");	/* X/D -> D */
	assert_str(&ds, T(0x0008, 0x0031), "000000.00");
	assert_absent(&ds, T(0x0014, 0x0102));
	assert_str(&ds, T(0x0028, 0x0303), "REMOVED");
	dcm_ds_free(&ds);
}

static void test_opt_clean_descriptors(void **state)
{
	static const char json[] = "{\"0008,103E\": [\"L CC\", \"R MLO\"]}";
	struct rules_whitelist *wl = NULL;
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_elem *seq;
	struct dcm_ds *it;
	char err[128];

	(void)state;
	assert_int_equal(rules_whitelist_parse(json, strlen(json), &wl, err,
					       sizeof(err)), 0);
	ctx_init(&ctx, &fx, RULES_CLEAN_DESCRIPTORS);
	ctx.wl = wl;
	set(&ds, T(0x0008, 0x103e), "LO", " r mlo ");	/* listed */
	set(&ds, T(0x0008, 0x1030), "LO", "L CC");	/* not for this tag */
	assert_int_equal(dcm_ds_set_seq(&ds, T(0x0054, 0x0220), &seq), 0);
	assert_int_equal(dcm_seq_add_item(seq, &it), 0);
	set(it, T(0x0008, 0x103e), "LO", "Jane Doe right");	/* unlisted */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x103e), "r mlo");
	assert_absent(&ds, T(0x0008, 0x1030));
	seq = dcm_ds_get(&ds, T(0x0054, 0x0220));
	assert_absent(&seq->items[0], T(0x0008, 0x103e));
	dcm_ds_free(&ds);

	/* the white list alone does nothing without the option */
	ctx_init(&ctx, &fx, 0);
	ctx.wl = wl;
	set(&ds, T(0x0008, 0x103e), "LO", "L CC");
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x0008, 0x103e));
	dcm_ds_free(&ds);
	rules_whitelist_free(wl);
}

/* Code Meaning is typed text in local codes: a dummy unless white-listed,
 * at any depth (it is Type 1 in code sequence items, so never removed). */
static void test_code_meaning_whitelist(void **state)
{
	static const char json[] = "{\"0008,0104\": [\"cranio-caudal\"]}";
	struct rules_whitelist *wl = NULL;
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_elem *seq;
	struct dcm_ds *it;
	char err[128];

	(void)state;
	assert_int_equal(rules_whitelist_parse(json, strlen(json), &wl, err,
					       sizeof(err)), 0);
	ctx_init(&ctx, &fx, RULES_CLEAN_DESCRIPTORS);
	ctx.wl = wl;
	assert_int_equal(dcm_ds_set_seq(&ds, T(0x0054, 0x0220), &seq), 0);
	assert_int_equal(dcm_seq_add_item(seq, &it), 0);
	set(it, T(0x0008, 0x0100), "SH", "399162004");
	set(it, T(0x0008, 0x0104), "LO", "cranio-caudal");
	assert_int_equal(dcm_ds_set_seq(&ds, T(0x0008, 0x1032), &seq), 0);
	assert_int_equal(dcm_seq_add_item(seq, &it), 0);
	set(it, T(0x0008, 0x0100), "SH", "MAMSCR");
	set(it, T(0x0008, 0x0104), "LO", "Screening Nordmann");
	apply_ok(&ctx, &ds);
	seq = dcm_ds_get(&ds, T(0x0054, 0x0220));
	assert_str(&seq->items[0], T(0x0008, 0x0104), "cranio-caudal");
	assert_str(&seq->items[0], T(0x0008, 0x0100), "399162004");
	seq = dcm_ds_get(&ds, T(0x0008, 0x1032));
	assert_str(&seq->items[0], T(0x0008, 0x0104), "ANONYMIZED");
	dcm_ds_free(&ds);
	rules_whitelist_free(wl);
}

static void test_opt_device_institution_patient(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_DEVICE_ID | RULES_RTN_INSTITUTION_ID |
			    RULES_RTN_PATIENT_CHARS);
	set(&ds, T(0x0018, 0x1000), "LO", "SN12345");
	set(&ds, T(0x0008, 0x1010), "SH", "MAMMO1");
	set(&ds, T(0x0008, 0x0080), "LO", "St Elsewhere");
	set(&ds, T(0x0010, 0x1010), "AS", "054Y");
	/* an AS value on a DA attribute: the file's VR contradicts the
	 * dictionary, so the value goes whatever the options (every AS
	 * attribute of the dictionary is in the table) */
	set(&ds, T(0x0014, 0x4076), "AS", "054Y");
	set(&ds, T(0x0010, 0x1020), "DS", "1.62");	/* Patient's Size */
	set(&ds, T(0x0010, 0x1030), "DS", "SEVENTY");	/* not a DS */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0018, 0x1000), "SN12345");
	assert_str(&ds, T(0x0008, 0x1010), "MAMMO1");
	assert_str(&ds, T(0x0008, 0x0080), "St Elsewhere");
	assert_str(&ds, T(0x0010, 0x1010), "054Y");
	assert_absent(&ds, T(0x0014, 0x4076));
	assert_str(&ds, T(0x0010, 0x1020), "1.62");
	assert_absent(&ds, T(0x0010, 0x1030));
	dcm_ds_free(&ds);

	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0018, 0x1000), "LO", "SN12345");
	set(&ds, T(0x0010, 0x1010), "AS", "054Y");
	set(&ds, T(0x0014, 0x4076), "AS", "054Y");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0018, 0x1000), "ANONYMIZED");
	assert_absent(&ds, T(0x0010, 0x1010));
	assert_absent(&ds, T(0x0014, 0x4076));
	dcm_ds_free(&ds);
}

static void build_private(struct dcm_ds *ds)
{
	set(ds, T(0x00e1, 0x0010), "LO", "ELSCINT1 ");
	set(ds, T(0x00e1, 0x1021), "DS", "12.5");	/* safe: DLP */
	set(ds, T(0x00e1, 0x1022), "LO", "secret");	/* not listed */
	set(ds, T(0x00e1, 0x0011), "LO", "OTHER VENDOR");
	set(ds, T(0x00e1, 0x1121), "DS", "1.0");	/* wrong creator */
	set(ds, T(0x00e1, 0x0012), "LO", "ELSCINT1");	/* creator, empty
							 * block */
	set(ds, T(0x00e1, 0x0001), "LO", "x");		/* not a data elem */
	set(ds, T(0x0009, 0x0010), "LO", "GEMS_IDEN_01");
	set(ds, T(0x0009, 0x1001), "LO", "Jane");
	set(ds, T(0x0001, 0x0010), "LO", "ELSCINT1");	/* not private */
	set(ds, T(0x0001, 0x1021), "DS", "1");
	set(ds, T(0x0019, 0x1021), "DS", "1");		/* no creator */
}

static void test_private(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	uint32_t i;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_SAFE_PRIVATE);
	build_private(&ds);
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x00e1, 0x0010), "ELSCINT1");
	assert_str(&ds, T(0x00e1, 0x1021), "12.5");
	assert_absent(&ds, T(0x00e1, 0x1022));
	assert_absent(&ds, T(0x00e1, 0x0011));
	assert_absent(&ds, T(0x00e1, 0x1121));
	assert_absent(&ds, T(0x00e1, 0x0012));
	assert_absent(&ds, T(0x00e1, 0x0001));
	assert_absent(&ds, T(0x0009, 0x0010));
	assert_absent(&ds, T(0x0009, 0x1001));
	assert_absent(&ds, T(0x0001, 0x0010));
	assert_absent(&ds, T(0x0001, 0x1021));
	assert_absent(&ds, T(0x0019, 0x1021));
	dcm_ds_free(&ds);

	/* without the option nothing private survives */
	ctx_init(&ctx, &fx, 0);
	build_private(&ds);
	apply_ok(&ctx, &ds);
	for (i = 0; i < ds.n; i++)
		assert_int_equal(DCM_GROUP(ds.el[i].tag) & 1, 0);
	dcm_ds_free(&ds);
}

static void test_overlays_curves(void **state)
{
	static const uint8_t two[2] = { 0, 1 };
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, 0xff);	/* every option: still removed */
	set_bin(&ds, T(0x6000, 0x0010), "US", two, 2);
	set_bin(&ds, T(0x6000, 0x3000), "OW", two, 2);
	set(&ds, T(0x6002, 0x0022), "LO", "overlay text");
	set_bin(&ds, T(0x601e, 0x0011), "US", two, 2);
	set_bin(&ds, T(0x5000, 0x0005), "US", two, 2);
	set_bin(&ds, T(0x501e, 0x3000), "OB", two, 2);
	set_bin(&ds, T(0x0028, 0x0010), "US", two, 2);	/* kept */
	set_bin(&ds, T(0x0028, 0x0000), "UL", "\0\0\0\0", 4);	/* length */
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x6000, 0x0010));
	assert_absent(&ds, T(0x6000, 0x3000));
	assert_absent(&ds, T(0x6002, 0x0022));
	assert_absent(&ds, T(0x601e, 0x0011));
	assert_absent(&ds, T(0x5000, 0x0005));
	assert_absent(&ds, T(0x501e, 0x3000));
	assert_absent(&ds, T(0x0028, 0x0000));
	assert_non_null(dcm_ds_get(&ds, T(0x0028, 0x0010)));
	dcm_ds_free(&ds);
}

/* ---------------------------------------------------------------------- */
/* Compound codes decided by the IOD (PS3.15 E.1.1), issue 9 */

#define MG_IOD "Digital Mammography X Ray Image IOD Modules"

/* The Types these tests rely on, read from GDCM's Part3.xml (2008): if the
 * tables change, these fail first and say which assumption broke. */
static void test_iod_types(void **state)
{
	int mg = iod_find(MG_IOD);
	uint32_t p[3];

	(void)state;
	assert_true(mg != IOD_NONE);
	assert_int_equal(iod_find("No Such IOD Modules"), IOD_NONE);
	assert_int_equal(iod_find(NULL), IOD_NONE);
	/* top level: Type 1, 1C, 2, 2C, 3 and not in the IOD */
	p[0] = T(0x0020, 0x000d);	/* Study Instance UID, General Study */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_1);
	p[0] = T(0x0008, 0x1111);	/* RPPS Sequence: 1C in DX Series */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_1C);
	p[0] = T(0x0040, 0x0555);	/* Acquisition Context Sequence */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_2);
	p[0] = T(0x0008, 0x0023);	/* Content Date, General Image */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_2C);
	p[0] = T(0x0008, 0x1110);	/* Referenced Study Sequence */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_3);
	p[0] = T(0x300a, 0x00b2);	/* Treatment Machine Name: RT only */
	assert_int_equal(iod_type(mg, p, 1), IOD_TYPE_UNKNOWN);
	assert_int_equal(iod_type(IOD_NONE, p, 1), IOD_TYPE_UNKNOWN);
	/* nested, through a macro: the SOP Instance Reference Macro in the
	 * RPPS Sequence's items; the View Code Sequence's modifiers */
	p[0] = T(0x0008, 0x1111);
	p[1] = T(0x0008, 0x1155);
	assert_int_equal(iod_type(mg, p, 2), IOD_TYPE_1);
	p[1] = T(0x0010, 0x0010);	/* not in those items */
	assert_int_equal(iod_type(mg, p, 2), IOD_TYPE_UNKNOWN);
	p[0] = T(0x0054, 0x0220);
	p[1] = T(0x0054, 0x0222);
	assert_int_equal(iod_type(mg, p, 2), IOD_TYPE_2);
	p[2] = T(0x0008, 0x0100);	/* Code Value, three levels down */
	assert_int_equal(iod_type(mg, p, 3), IOD_TYPE_1);
}

/* The same attribute under each code gets what its Type needs: X for
 * Type 3 (and for attributes the IOD does not have), Z for Type 2/2C, D
 * for Type 1/1C; with no IOD the choice that keeps any IOD valid. */
static void test_compound_by_iod(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		ctx_init(&ctx, &fx, 0);
		ctx.iod_name = pass ? NULL : MG_IOD;
		/* X/Z on Type 3 (Acquisition Date) and Type 2 (Acquisition
		 * Context Sequence) */
		set(&ds, T(0x0008, 0x0022), "DA", "20240102");
		add_item(&ds, T(0x0040, 0x0555));
		/* X/D on Type 3 (Series Date) */
		set(&ds, T(0x0008, 0x0021), "DA", "20240103");
		/* X/Z/D on Type 3 (Institution Name), on an attribute the
		 * IOD does not have (Treatment Machine Name, X/Z) */
		set(&ds, T(0x0008, 0x0080), "LO", "St Elsewhere");
		set(&ds, T(0x300a, 0x00b2), "SH", "LINAC_NORTH");
		/* Z/D on Type 2C (Content Date) */
		set(&ds, T(0x0008, 0x0023), "DA", "20240104");
		apply_ok(&ctx, &ds);
		if (!pass) {
			assert_absent(&ds, T(0x0008, 0x0022));
			assert_empty(&ds, T(0x0040, 0x0555));
			assert_absent(&ds, T(0x0008, 0x0021));
			assert_absent(&ds, T(0x0008, 0x0080));
			assert_absent(&ds, T(0x300a, 0x00b2));
			assert_empty(&ds, T(0x0008, 0x0023));
		} else {
			assert_empty(&ds, T(0x0008, 0x0022));
			assert_empty(&ds, T(0x0040, 0x0555));
			assert_str(&ds, T(0x0008, 0x0021), "19000101");
			assert_str(&ds, T(0x0008, 0x0080), "ANONYMIZED");
			assert_empty(&ds, T(0x300a, 0x00b2));
			assert_str(&ds, T(0x0008, 0x0023), "19000101");
		}
		dcm_ds_free(&ds);
	}
}

/* X/Z/D on a Type 1C sequence: one dummy item, shaped by the source's
 * first, holding only what the item must hold: the standard's class UID,
 * a keyed instance UID (references still resolve), nothing else; Type 3
 * sequences of references go; the conservative rule does not remove a
 * Type 1C text the IOD needs (a dummy instead). */
static void test_dummy_item(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it;
	struct dcm_elem *e;
	struct rules_ctx ctx;
	struct fx fx;
	char mapped[80];

	(void)state;
	ctx_init(&ctx, &fx, 0);
	ctx.iod_name = MG_IOD;
	it = add_item(&ds, T(0x0008, 0x1111));		/* 1C, X/Z/D */
	set(it, T(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.3");
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.77");
	set(it, T(0x0010, 0x0010), "PN", "Hidden^Name");	/* not in item */
	set(it, T(0x0020, 0x0013), "IS", "20200115");	/* not in item */
	it = add_item(&ds, T(0x0008, 0x1111));		/* a second item */
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.78");
	it = add_item(&ds, T(0x0008, 0x1110));		/* 3, X/Z */
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.79");
	set(&ds, T(0x0028, 0x0a02), "CS", "GEOMETRY");
	set(&ds, T(0x0028, 0x0a04), "LO", "Calibrated by Jane Doe");
	apply_ok(&ctx, &ds);

	e = dcm_ds_get(&ds, T(0x0008, 0x1111));
	assert_non_null(e);
	assert_int_equal(e->nitems, 1);
	assert_int_equal(e->items[0].n, 2);
	assert_str(&e->items[0], T(0x0008, 0x1150), "1.2.840.10008.3.1.2.3.3");
	fx_map(&fx, "1.2.3.4.77", mapped, sizeof(mapped));
	assert_str(&e->items[0], T(0x0008, 0x1155), mapped);
	assert_non_null(find_audit(&fx, "00081111"));
	assert_non_null(find_audit(&fx, "00081111[0].00100010"));
	assert_absent(&ds, T(0x0008, 0x1110));
	assert_str(&ds, T(0x0028, 0x0a02), "GEOMETRY");
	assert_str(&ds, T(0x0028, 0x0a04), "ANONYMIZED");
	dcm_ds_free(&ds);

	/* no IOD: the sequence is emptied, the text removed, as before */
	ctx_init(&ctx, &fx, 0);
	it = add_item(&ds, T(0x0008, 0x1111));
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.77");
	set(&ds, T(0x0028, 0x0a04), "LO", "Calibrated by Jane Doe");
	apply_ok(&ctx, &ds);
	assert_empty(&ds, T(0x0008, 0x1111));
	assert_absent(&ds, T(0x0028, 0x0a04));
	dcm_ds_free(&ds);
}

static void test_not_in_table(void **state)
{
	static const uint8_t bin[4] = { 1, 2, 3, 4 };
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	char mapped[80];

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0018, 0x11a4), "LO", "Mrs Smith's paddle");
	set(&ds, T(0x0018, 0x9990), "PN", "Other^Name");
	set(&ds, T(0x0018, 0x9991), "ST", "free text");
	set(&ds, T(0x0008, 0x0070), "LO", "ACME Medical");
	set(&ds, T(0x0008, 0x1090), "LO", "Mammo 3000");
	set(&ds, T(0x0008, 0x0104), "LO", "cranio-caudal");
	set(&ds, T(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.1.2");
	set(&ds, T(0x0018, 0x991e), "UI", "1.3.6.1.4.1.5962.1");
	set(&ds, T(0x0018, 0x9993), "AE", "STORESCU");
	set(&ds, T(0x0018, 0x9994), "UR", "http://x/");
	set_bin(&ds, T(0x0018, 0x9995), "UN", bin, 4);
	set(&ds, T(0x0008, 0x0060), "CS", "MG");
	set(&ds, T(0x0020, 0x0013), "IS", "3");
	set_bin(&ds, T(0x0028, 0x0011), "US", bin, 2);
	set(&ds, T(0x0028, 0x0301), "CS", "NO");
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x0018, 0x11a4));
	assert_absent(&ds, T(0x0018, 0x9990));
	assert_absent(&ds, T(0x0018, 0x9991));
	assert_str(&ds, T(0x0008, 0x0070), "ACME Medical");
	assert_str(&ds, T(0x0008, 0x1090), "Mammo 3000");
	/* Code Meaning: typed text in local codes, so a dummy unless
	 * white-listed (see test_code_meaning_whitelist) */
	assert_str(&ds, T(0x0008, 0x0104), "ANONYMIZED");
	assert_str(&ds, T(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.1.2");
	fx_map(&fx, "1.3.6.1.4.1.5962.1", mapped, sizeof(mapped));
	assert_str(&ds, T(0x0018, 0x991e), mapped);
	assert_absent(&ds, T(0x0018, 0x9993));
	assert_absent(&ds, T(0x0018, 0x9994));
	assert_absent(&ds, T(0x0018, 0x9995));
	assert_str(&ds, T(0x0008, 0x0060), "MG");
	assert_str(&ds, T(0x0020, 0x0013), "3");
	assert_non_null(dcm_ds_get(&ds, T(0x0028, 0x0011)));
	assert_str(&ds, T(0x0028, 0x0301), "NO");
	dcm_ds_free(&ds);
}

/* Issue 11: a kept value is a valid instance of its attribute, or it is not
 * kept: VR as the dictionary says, VM, and the VR's form per value. */
static void test_kept_values_valid(void **state)
{
	static const uint8_t text[40] = "NORDMANN KARI 12345678901 OSLO NORWAY!!";
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0018, 0x5101), "CS", "NORDMANNKARIOLAHANSEN123");
	set(&ds, T(0x0008, 0x0060), "CS", "MG\\NORDMANN");	/* VM 1 */
	set(&ds, T(0x0020, 0x0013), "IS", "12345678901");	/* > 2^31 */
	set(&ds, T(0x0020, 0x0011), "IS", "7");
	set(&ds, T(0x0008, 0x0005), "CS", "ISO_IR 100\\NORDMANN");
	set(&ds, T(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\");
	set(&ds, T(0x0028, 0x0301), "CS", "no");	/* lower case */
	set_bin(&ds, T(0x0028, 0x0010), "US", text, sizeof(text));
	set_bin(&ds, T(0x0028, 0x0011), "US", text, 2);
	set_bin(&ds, T(0x0018, 0x7004), "OB", text, sizeof(text)); /* CS */
	set(&ds, T(0x0008, 0x0070), "LO", "ACME\x01Medical");	/* control */
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x0018, 0x5101));
	assert_absent(&ds, T(0x0020, 0x0013));
	assert_str(&ds, T(0x0020, 0x0011), "7");
	assert_absent(&ds, T(0x0008, 0x0005));
	assert_str(&ds, T(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\");
	assert_absent(&ds, T(0x0028, 0x0301));
	assert_absent(&ds, T(0x0028, 0x0010));
	assert_non_null(dcm_ds_get(&ds, T(0x0028, 0x0011)));
	assert_absent(&ds, T(0x0018, 0x7004));
	assert_absent(&ds, T(0x0008, 0x0070));
	/* Modality is Type 1 wherever it is defined, but no IOD is known
	 * here: removed */
	assert_absent(&ds, T(0x0008, 0x0060));
	dcm_ds_free(&ds);

	/* with the IOD known, a required attribute gets a dummy instead */
	ctx_init(&ctx, &fx, 0);
	ctx.iod_name = MG_IOD;
	set(&ds, T(0x0008, 0x0060), "CS", "MG\\NORDMANN");
	set(&ds, T(0x0020, 0x0013), "IS", "12345678901");	/* Type 2 */
	set(&ds, T(0x0008, 0x0005), "CS", "ISO_IR 100\\NORDMANN"); /* 1C */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0005), "ISO_IR 100");
	assert_str(&ds, T(0x0008, 0x0060), "ANON");
	assert_empty(&ds, T(0x0020, 0x0013));
	dcm_ds_free(&ds);
}

/* Issue 11: the free-text-capable attributes kept as safe text keep only
 * values of their form (fs/data/safe-text.tsv): codes without spaces, at
 * most 64 characters (Long Code Value is otherwise unbounded), terms in
 * upper case, URNs; at any depth. */
static void test_safe_text_forms(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it, *deep;
	struct rules_ctx ctx;
	struct fx fx;
	char big[200];
	int i;

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ctx_init(&ctx, &fx, 0);
	it = add_item(&ds, T(0x0008, 0x1032));	/* Procedure Code Sequence */
	set(it, T(0x0008, 0x0100), "SH", "R-10224");
	set(it, T(0x0008, 0x0102), "SH", "SRT");
	set(it, T(0x0008, 0x0119), "UC", "Kari Nordmann 01020310045");
	set(it, T(0x0008, 0x0120), "UR", "urn:oid:1.2.3");
	deep = it;
	for (i = 0; i < 10; i++)	/* the same, ten levels down */
		deep = add_item(deep, i & 1 ? T(0x0054, 0x0222)
					    : T(0x0054, 0x0220));
	set(deep, T(0x0008, 0x0119), "UC", big);	/* 199 characters */
	set(deep, T(0x0008, 0x0100), "SH", "Kari N");	/* a space */
	set(&ds, T(0x0020, 0x1040), "LO", "NIPPLE");
	set(&ds, T(0x0028, 0x1054), "LO", "Kari");	/* lower case */
	set(&ds, T(0x0028, 0x1055), "LO", "NORMAL\\Soft tissue");
	set(&ds, T(0x0018, 0x1401), "LO", "ID 01020310045");
	apply_ok(&ctx, &ds);
	assert_str(it, T(0x0008, 0x0100), "R-10224");
	assert_str(it, T(0x0008, 0x0102), "SRT");
	assert_absent(it, T(0x0008, 0x0119));
	assert_str(it, T(0x0008, 0x0120), "urn:oid:1.2.3");
	assert_absent(deep, T(0x0008, 0x0119));
	assert_absent(deep, T(0x0008, 0x0100));
	assert_str(&ds, T(0x0020, 0x1040), "NIPPLE");
	assert_absent(&ds, T(0x0028, 0x1054));
	assert_str(&ds, T(0x0028, 0x1055), "NORMAL\\Soft tissue"); /* text */
	assert_absent(&ds, T(0x0018, 0x1401));
	dcm_ds_free(&ds);
}

/* Review of issue 11: no kept value may hold the person's ID, a whole word
 * of her name, or any valid personal ID, whatever its VR (codes, numbers,
 * dates and UIDs kept by an option, safe text, safe private values). */
static void test_kept_values_hold_no_identity(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_UIDS | RULES_RTN_LONG_FULL_DATES);
	ctx.patient_id = "13057512345";
	ctx.patient_name = "Nordmann^Kari Anne";
	set(&ds, T(0x0008, 0x0008), "CS",
	    "ORIGINAL\\PRIMARY\\NORDMANN KARI");	/* not a term */
	set(&ds, T(0x0018, 0x0022), "CS", "NORDMANN KARI");	/* a name word */
	set(&ds, T(0x0018, 0x0050), "DS", "01020310045");	/* valid fnr */
	set(&ds, T(0x0020, 0x0011), "IS", "13057512345");	/* her ID */
	set(&ds, T(0x0008, 0x0070), "LO", "Kari Medical");	/* safe text */
	set(&ds, T(0x0020, 0x000d), "UI", "1.2.3.13057512345.9");
	set(&ds, T(0x0008, 0x0020), "DA", "KARI");		/* not a DA */
	set(&ds, T(0x0008, 0x0030), "TM", "NORDMANN");	/* not a TM */
	set(&ds, T(0x0018, 0x0060), "DS", "28");		/* plain */
	set(&ds, T(0x0008, 0x1090), "LO", "Karisma 3000");	/* not a word */
	apply_ok(&ctx, &ds);
	/* Image Type has a vocabulary: the value that is no term goes, the
	 * terms stay (see test_cs_terms) */
	assert_str(&ds, T(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\");
	assert_absent(&ds, T(0x0018, 0x0022));
	assert_absent(&ds, T(0x0018, 0x0050));
	assert_absent(&ds, T(0x0020, 0x0011));
	assert_absent(&ds, T(0x0008, 0x0070));
	assert_absent(&ds, T(0x0008, 0x0020));
	assert_absent(&ds, T(0x0008, 0x0030));
	assert_str(&ds, T(0x0018, 0x0060), "28");
	assert_str(&ds, T(0x0008, 0x1090), "Karisma 3000");
	/* a UID holding her ID is not kept even with --retain-uids (no
	 * IOD here: removed; with one, a Type 1 UID gets a keyed one) */
	assert_absent(&ds, T(0x0020, 0x000d));
	dcm_ds_free(&ds);

	ctx_init(&ctx, &fx, RULES_RTN_UIDS);
	ctx.iod_name = MG_IOD;
	ctx.patient_id = "13057512345";
	set(&ds, T(0x0020, 0x000d), "UI", "1.2.3.13057512345.9");
	apply_ok(&ctx, &ds);
	assert_non_null(str(&ds, T(0x0020, 0x000d)));
	assert_null(strstr(str(&ds, T(0x0020, 0x000d)), "13057512345"));
	dcm_ds_free(&ds);
}

/* Issue 11: no kept value holds a whole word of any person name of the
 * file: every PN value at any depth (operators, physicians, other
 * patients), not only hers, a PN written with another VR included.  Words
 * under 3 bytes, numbers under 6 digits and the words that fill name fields
 * without naming anyone are not screened for. */
static void test_kept_values_hold_no_name_of_the_file(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it;
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	ctx.patient_name = "Nordmann^Kari";
	set(&ds, T(0x0010, 0x0010), "PN", "Nordmann^Kari");
	set(&ds, T(0x0008, 0x1070), "PN", "Solberg^Per");	/* operator */
	it = add_item(&ds, T(0x0040, 0x0275));	/* removed (X) */
	set(it, T(0x0032, 0x1032), "PN", "Haugen^Ola");
	it = add_item(add_item(add_item(&ds, T(0x0040, 0xa730)),
			       T(0x0040, 0xa730)), T(0x0040, 0xa730));
	set(it, T(0x0040, 0xa123), "PN", "Bakke^Ingrid");	/* depth 3 */
	set(&ds, T(0x0008, 0x1050), "LO", "Eriksen");	/* a PN as LO */
	set(&ds, T(0x0008, 0x0090), "PN", "van Dijk^Li^^Mrs");
	set(&ds, T(0x0008, 0x1060), "PN", "UNKNOWN\\12345\\987654321");
	set(&ds, T(0x0018, 0x0022), "CS", "SOLBERG");
	set(&ds, T(0x0008, 0x0070), "LO", "Haugen Medical");
	set(&ds, T(0x0018, 0x1020), "LO", "V1\\bakke 2.1");
	set(&ds, T(0x0028, 0x1055), "LO", "ERIKSEN");
	set(&ds, T(0x0018, 0x1401), "LO", "987654321");
	set(&ds, T(0x0008, 0x1090), "LO", "LI VAN 3000 MRS");
	set(&ds, T(0x0028, 0x3003), "LO", "UNKNOWN 12345");
	set(&ds, T(0x0018, 0x0060), "DS", "28");
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x0018, 0x0022));
	assert_absent(&ds, T(0x0008, 0x0070));
	assert_absent(&ds, T(0x0018, 0x1020));
	assert_absent(&ds, T(0x0028, 0x1055));
	assert_absent(&ds, T(0x0018, 0x1401));
	assert_str(&ds, T(0x0008, 0x1090), "LI VAN 3000 MRS");
	assert_str(&ds, T(0x0028, 0x3003), "UNKNOWN 12345");
	assert_str(&ds, T(0x0018, 0x0060), "28");
	dcm_ds_free(&ds);
}

/* The names are those of the source before any change: a caller that
 * collected them (rules_names_collect) may change the dataset and still
 * screen for them; without a set, rules_apply() collects its own. */
static void test_names_collected_before_the_rules(void **state)
{
	struct dcm_ds ds = { 0 }, orig = { 0 };
	struct ident_words *names = NULL;
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	set(&orig, T(0x0010, 0x0010), "PN", "Nordmann^Kari");
	set(&orig, T(0x0008, 0x1070), "PN", "Solberg^Per=SOLBERG^PER");
	assert_int_equal(rules_names_collect(&orig, "Hansen^Ola", &names), 0);
	/* NORDMANN KARI SOLBERG PER HANSEN OLA, each once */
	assert_int_equal(ident_words_count(names), 6);
	assert_true(ident_words_holds(names, "x-solberg.", 10));
	assert_false(ident_words_holds(names, "SOLBERGS", 8));
	assert_false(ident_words_holds(names, "PE", 2));

	ctx_init(&ctx, &fx, 0);
	ctx.names = names;
	set(&ds, T(0x0010, 0x0010), "PN", "QQQQQQQQ^QQQQ");	/* scrubbed */
	set(&ds, T(0x0018, 0x0022), "CS", "NORDMANN");
	set(&ds, T(0x0028, 0x1055), "LO", "hansen");
	apply_ok(&ctx, &ds);
	assert_absent(&ds, T(0x0018, 0x0022));
	assert_absent(&ds, T(0x0028, 0x1055));
	dcm_ds_free(&ds);
	ident_words_free(names);
	dcm_ds_free(&orig);
}

/* The names of a file are bounded (4096 distinct words of at most 256
 * bytes); beyond that the file cannot be screened with confidence and
 * rules_apply() fails (the caller quarantines it). */
static void test_names_bounded(void **state)
{
	struct dcm_ds ds = { 0 };
	struct ident_words *names = NULL;
	struct rules_ctx ctx;
	struct fx fx;
	char *v, word[300];
	size_t i, o = 0;

	(void)state;
	v = malloc(4097 * 8);
	assert_non_null(v);
	for (i = 0; i < 4097; i++)	/* 4097 distinct words */
		o += (size_t)sprintf(v + o, "%sW%05zu", i ? "^" : "", i);
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x1070), "PN", v);
	assert_int_equal(rules_names_collect(&ds, NULL, &names), -EBADMSG);
	assert_null(names);
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	dcm_ds_free(&ds);
	v[o - 7] = 0;	/* 4096 words: fine, and repeating one adds none */
	set(&ds, T(0x0008, 0x1070), "PN", v);
	set(&ds, T(0x0008, 0x1050), "PN", "W00001^w00002");
	assert_int_equal(rules_names_collect(&ds, NULL, &names), 0);
	assert_int_equal(ident_words_count(names), 4096);
	ident_words_free(names);
	apply_ok(&ctx, &ds);
	dcm_ds_free(&ds);

	memset(word, 'N', sizeof(word) - 1);	/* one word of 299 bytes */
	word[sizeof(word) - 1] = 0;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0040, 0xa123), "PN", word);
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	dcm_ds_free(&ds);
	free(v);
}

/* fs/data/cs-terms.tsv: every row names a CS (or LO) attribute of the
 * dictionary under its keyword, and every term is found again. */
static void test_cs_terms_table(void **state)
{
	const char *t = tables_cs_terms_tsv;
	size_t rows = 0;
	char vr[3];

	(void)state;
	while (*t == '#')
		t = strchr(t, '\n') + 1;
	t = strchr(t, '\n') + 1;	/* the header */
	while (*t) {
		char line[256], *f[5], *sv = NULL, *kw;
		const char *nl = strchr(t, '\n');
		size_t n = nl ? (size_t)(nl - t) : strlen(t), k;
		unsigned g, e, pos;
		uint32_t tag;

		assert_true(n < sizeof(line));
		memcpy(line, t, n);
		line[n] = 0;
		for (k = 0; k < 5; k++)
			f[k] = strtok_r(k ? NULL : line, "\t", &sv);
		assert_non_null(f[4]);
		assert_int_equal(sscanf(f[0], "%4x,%4x", &g, &e), 2);
		tag = T(g, e);
		dicom_dict_vr(tag, NULL, vr);
		if (strcmp(vr, "CS") && strcmp(vr, "LO"))
			fail_msg("%s: VR %s", f[1], vr);
		kw = f[1];
		assert_true(*kw);
		pos = f[2][0] == '*' ? 1 : (unsigned)atoi(f[2]);
		assert_int_equal(rules_cs_term(R, tag, pos, f[3]), 1);
		if (f[2][strlen(f[2]) - 1] == '+' || f[2][0] == '*')
			assert_int_equal(rules_cs_term(R, tag, 200, f[3]), 1);
		rows++;
		t += n + (nl ? 1 : 0);
	}
	assert_true(rows > 600);
	assert_int_equal(rules_cs_term(R, T(0x0008, 0x0008), 1, "PRIMARY"), 0);
	assert_int_equal(rules_cs_term(R, T(0x0008, 0x0008), 3, "PRIMARY"), 0);
	assert_int_equal(rules_cs_term(R, T(0x0018, 0x5101), 1, "MLO"), 1);
	assert_int_equal(rules_cs_term(R, T(0x0018, 0x5101), 1, "MLO "), 0);
	assert_int_equal(rules_cs_term(R, T(0x0018, 0x0022), 1, "X"),
			 -ENOENT);
}

/* Issue 11: a CS attribute with a known vocabulary keeps only its terms
 * (fs/data/cs-terms.tsv); a value that is no term (a surname, a vendor's
 * word) is emptied in place, trailing empty values dropped down to the
 * positions the vocabulary names; nothing left, or a VM the dictionary
 * does not allow, is an invalid value (what the IOD needs, or removed).
 * Terms are kept even when spelt like a name in the file. */
static void test_cs_terms(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it;
	struct rules_ctx ctx;
	struct fx fx;
	const struct audit_rec *a;
	char path[32];

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x1070), "PN", "Lin^Mei");	/* an operator */
	set(&ds, T(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\SOLBERG");
	set(&ds, T(0x0018, 0x7004), "CS", "HANSEN");
	set(&ds, T(0x0018, 0x5101), "CS", "LATERAL");
	set(&ds, T(0x0020, 0x0062), "CS", " L ");
	set(&ds, T(0x0028, 0x1040), "CS", "LIN");	/* a term */
	set(&ds, T(0x0018, 0x0022), "CS", "LIN");	/* no vocabulary */
	set(&ds, T(0x0018, 0x1166), "CS", "RECIPROCATING\\FOCUSED");
	set(&ds, T(0x0018, 0x7050), "CS", "MOLYBDENUM\\HANSEN");
	set(&ds, T(0x0020, 0x0020), "CS", "A\\FR");
	set(&ds, T(0x0018, 0x0015), "CS", "");
	set(&ds, T(0x0008, 0x0068), "CS", "for presentation");
	set(&ds, T(0x0028, 0x1054), "LO", "HANSEN");
	it = add_item(&ds, T(0x0054, 0x0220));	/* View Code Sequence */
	set(it, T(0x0018, 0x1191), "CS", "HANSEN");
	set(it, T(0x0018, 0x7060), "CS", "AUTOMATIC");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\");
	snprintf(path, sizeof(path), "%08X", T(0x0008, 0x0008));
	a = find_audit(&fx, path);
	assert_non_null(a);
	assert_string_equal(a->action, "C");
	assert_absent(&ds, T(0x0018, 0x7004));
	assert_absent(&ds, T(0x0018, 0x5101));
	assert_str(&ds, T(0x0020, 0x0062), "L");
	assert_str(&ds, T(0x0028, 0x1040), "LIN");
	assert_absent(&ds, T(0x0018, 0x0022));
	assert_str(&ds, T(0x0018, 0x1166), "RECIPROCATING\\FOCUSED");
	assert_str(&ds, T(0x0018, 0x7050), "MOLYBDENUM");
	assert_str(&ds, T(0x0020, 0x0020), "A\\FR");
	assert_empty(&ds, T(0x0018, 0x0015));
	assert_absent(&ds, T(0x0008, 0x0068));
	assert_absent(&ds, T(0x0028, 0x1054));
	assert_absent(it, T(0x0018, 0x1191));
	assert_str(it, T(0x0018, 0x7060), "AUTOMATIC");
	dcm_ds_free(&ds);

	/* Image Type: positions kept, trailing empties dropped to value 3 */
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x0008), "CS",
	    "DERIVED\\PRIMARY\\TOMOSYNTHESIS\\GENERATED_2D");
	set(&ds, T(0x0008, 0x9007), "CS", "ORIGINAL\\PRIMARY");	/* none */
	set(&ds, T(0x0008, 0x0060), "CS", "MG");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0008),
		   "DERIVED\\PRIMARY\\TOMOSYNTHESIS\\GENERATED_2D");
	assert_str(&ds, T(0x0008, 0x0060), "MG");
	dcm_ds_free(&ds);
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x0008), "CS",
	    "ORIGINAL\\PRIMARY\\HANSEN\\NONE\\X\\\\100000");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\\\NONE");
	dcm_ds_free(&ds);
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\\\\\HANSEN");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0008), "ORIGINAL\\PRIMARY\\");
	dcm_ds_free(&ds);

	/* with the IOD: what it needs instead of a value with no term left */
	ctx_init(&ctx, &fx, 0);
	ctx.iod_name = MG_IOD;
	set(&ds, T(0x0008, 0x0008), "CS", "PRIMARY\\ORIGINAL");	/* Type 1 */
	set(&ds, T(0x0018, 0x7004), "CS", "HANSEN");		/* Type 2 */
	set(&ds, T(0x0020, 0x0062), "CS", "HANSEN");		/* Type 1 */
	set(&ds, T(0x0018, 0x5101), "CS", "HANSEN");		/* Type 3 */
	set(&ds, T(0x0008, 0x0060), "CS", "MG\\HANSEN");	/* VM 1 */
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0008), "ANON");
	assert_empty(&ds, T(0x0018, 0x7004));
	assert_str(&ds, T(0x0020, 0x0062), "ANON");
	assert_absent(&ds, T(0x0018, 0x5101));
	assert_str(&ds, T(0x0008, 0x0060), "ANON");
	dcm_ds_free(&ds);
}

/* Issue 11: a public tag the dictionary does not define is removed, whatever
 * its VR (codes, numbers and binary VRs included, which the conservative
 * rule would keep); a UID under the DICOM root that is not in the
 * standard's registry is replaced like any other, at any depth. */
static void test_unknown_tags_and_uids(void **state)
{
	static const uint8_t bin[8] = { 'Z', 'Q', 'X', '1', '2', '3', '4', '5' };
	static const struct {
		uint32_t tag;
		const char *vr;
	} unknown[] = {
		{ T(0x0010, 0x9999), "OB" }, { T(0x0008, 0x9998), "CS" },
		{ T(0x0020, 0x9998), "US" }, { T(0x0028, 0x9998), "FD" },
		{ T(0x0018, 0xfff0), "OW" }, { T(0x0020, 0x9999), "AT" },
		{ T(0x0028, 0x009a), "OF" }, { T(0x0008, 0x9997), "IS" },
	};
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it;
	struct dcm_elem *e;
	struct rules_ctx ctx;
	struct fx fx;
	char mapped[80];
	size_t i;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		set_bin(&ds, unknown[i].tag, unknown[i].vr, bin, sizeof(bin));
	it = add_item(&ds, T(0x0008, 0x1140));	/* kept when required */
	set_bin(it, T(0x0010, 0x9999), "OB", bin, sizeof(bin));
	set(it, T(0x0008, 0x1150), "UI", "1.2.840.10008.99.12345678901");
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4");
	set(&ds, T(0x0028, 0x0304), "UI", "1.2.840.10008.5.1.4.1.1.1.2");
	apply_ok(&ctx, &ds);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_absent(&ds, unknown[i].tag);
	e = dcm_ds_get(&ds, T(0x0008, 0x1140));
	assert_non_null(e);
	assert_int_equal(e->nitems, 1);
	assert_absent(&e->items[0], T(0x0010, 0x9999));
	fx_map(&fx, "1.2.840.10008.99.12345678901", mapped, sizeof(mapped));
	assert_str(&e->items[0], T(0x0008, 0x1150), mapped);
	/* a registered UID stays */
	assert_str(&ds, T(0x0028, 0x0304), "1.2.840.10008.5.1.4.1.1.1.2");
	dcm_ds_free(&ds);
}

static void test_pseudonym_and_marks(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_elem *seq;
	const struct audit_rec *a;
	const char *m;
	size_t nopt = 0;

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_UIDS | RULES_CLEAN_DESCRIPTORS);
	set(&ds, T(0x0010, 0x0010), "PN", "Doe^Jane");
	set(&ds, T(0x0010, 0x0020), "LO", "MRN123456");
	set(&ds, T(0x0012, 0x0063), "LO", "old method");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0010, 0x0010), "PSEUDO0001^");
	assert_str(&ds, T(0x0010, 0x0020), "PSEUDO0001");
	assert_string_equal(dcm_ds_get(&ds, T(0x0010, 0x0010))->vr, "PN");
	assert_string_equal(dcm_ds_get(&ds, T(0x0010, 0x0020))->vr, "LO");
	assert_str(&ds, T(0x0012, 0x0062), "YES");
	m = str(&ds, T(0x0012, 0x0063));
	assert_non_null(m);
	assert_non_null(strstr(m, "deidfs: PS3.15 E.1-1 Basic Profile 2026c"));
	assert_non_null(strstr(m, "\\Retain UIDs Option"));
	assert_non_null(strstr(m, "\\Clean Descriptors Option"));
	assert_null(strstr(m, "old method"));
	assert_str(&ds, T(0x0028, 0x0303), "REMOVED");

	seq = dcm_ds_get(&ds, T(0x0012, 0x0064));
	assert_non_null(seq);
	assert_int_equal(seq->nitems, 3);
	assert_str(&seq->items[0], T(0x0008, 0x0100), "113100");
	assert_str(&seq->items[0], T(0x0008, 0x0102), "DCM");
	assert_str(&seq->items[0], T(0x0008, 0x0104),
		   "Basic Application Confidentiality Profile");
	assert_str(&seq->items[1], T(0x0008, 0x0100), "113110");
	assert_str(&seq->items[1], T(0x0008, 0x0104), "Retain UIDs Option");
	assert_str(&seq->items[2], T(0x0008, 0x0100), "113105");
	assert_str(&seq->items[2], T(0x0008, 0x0102), "DCM");

	/* the audit trail sees the original values */
	a = find_audit(&fx, "00100010");
	assert_non_null(a);
	assert_string_equal(a->action, "pseudonym");
	assert_string_equal(a->old, "Doe^Jane");
	assert_string_equal(a->newv, "PSEUDO0001^ ");
	a = find_audit(&fx, "00100020");
	assert_non_null(a);
	assert_string_equal(a->old, "MRN123456 ");
	a = find_audit(&fx, "00120064[1].00080100");
	assert_non_null(a);
	assert_string_equal(a->action, "mark");
	assert_string_equal(a->newv, "113110");
	dcm_ds_free(&ds);

	/* every option: one code each, DeidentificationMethod values fit */
	ctx_init(&ctx, &fx, 0xff);
	apply_ok(&ctx, &ds);
	seq = dcm_ds_get(&ds, T(0x0012, 0x0064));
	assert_int_equal(seq->nitems, 9);
	{
		static const char *const codes[] = {
			"113100", "113111", "113110", "113109", "113112",
			"113108", "113106", "113107", "113105",
		};
		uint32_t i;

		for (i = 0; i < 9; i++)
			assert_str(&seq->items[i], T(0x0008, 0x0100),
				   codes[i]);
	}
	m = str(&ds, T(0x0012, 0x0063));
	while (m) {
		const char *b = strchr(m, '\\');
		size_t n = b ? (size_t)(b - m) : strlen(m);

		assert_true(n <= 64);
		nopt++;
		m = b ? b + 1 : NULL;
	}
	assert_int_equal(nopt, 9);
	dcm_ds_free(&ds);
}

static void test_audit_sees_old_values(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	const struct audit_rec *a;
	struct dcm_ds *it;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0008, 0x0050), "SH", "ACC12345");
	it = add_item(&ds, T(0x0040, 0xa730));
	set(it, T(0x0040, 0xa123), "PN", "X");
	set(&ds, T(0x0040, 0xa123), "PN", "Smith^John");
	apply_ok(&ctx, &ds);
	a = find_audit(&fx, "00080050");
	assert_non_null(a);
	assert_string_equal(a->action, "Z");
	assert_string_equal(a->old, "ACC12345");
	assert_int_equal(a->newlen, 0);
	assert_false(a->removed);
	a = find_audit(&fx, "0040A123");
	assert_non_null(a);
	assert_string_equal(a->action, "D");
	assert_string_equal(a->old, "Smith^John");
	assert_string_equal(a->newv, "ANONYMIZED^ ");
	a = find_audit(&fx, "0040A730");	/* sequence emptied */
	assert_non_null(a);
	dcm_ds_free(&ds);

	/* an audit error stops rules_apply with that error */
	ctx_init(&ctx, &fx, 0);
	fx.fail_audit_at = 2;
	set(&ds, T(0x0008, 0x0050), "SH", "ACC12345");
	set(&ds, T(0x0010, 0x1040), "LO", "Street");
	set(&ds, T(0x0010, 0x2160), "SH", "Ethnic");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EIO);
	assert_int_equal(fx.n, 1);
	dcm_ds_free(&ds);
}

static void test_fail_closed(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	struct dcm_ds *it;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	fx.fail_map = 1;
	set(&ds, T(0x0008, 0x0018), "UI", "1.2.3.4");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EIO);
	dcm_ds_free(&ds);

	/* ... nested too */
	ctx_init(&ctx, &fx, 0);
	fx.fail_map = 1;
	it = add_item(&ds, T(0x0008, 0x1140));
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.7");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EIO);
	dcm_ds_free(&ds);

	/* no map_uid at all */
	ctx_init(&ctx, &fx, 0);
	ctx.map_uid = NULL;
	set(&ds, T(0x0008, 0x0018), "UI", "1.2.3.4");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EINVAL);
	dcm_ds_free(&ds);

	/* no (or a multi-valued) pseudonym */
	ctx_init(&ctx, &fx, 0);
	ctx.pseudonym = NULL;
	assert_int_equal(rules_apply(R, &ctx, &ds), -EINVAL);
	ctx.pseudonym = "A\\B";
	assert_int_equal(rules_apply(R, &ctx, &ds), -EINVAL);
	ctx.pseudonym = "";
	assert_int_equal(rules_apply(R, &ctx, &ds), -EINVAL);

	/* an embedded NUL in a UID cannot be mapped faithfully */
	ctx_init(&ctx, &fx, 0);
	set_bin(&ds, T(0x0008, 0x0018), "UI", "1.2\0003.4", 8);
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	dcm_ds_free(&ds);
}

/* A failure says which rule failed on which attribute (its tag path, item
 * numbers from 0), never the value; the value is in no field of it. */
static void test_failure_cause(void **state)
{
	struct dcm_ds ds = { 0 };
	struct dcm_ds *it, *cur;
	struct rules_cause why;
	struct rules_ctx ctx;
	struct fx fx;
	int i;

	(void)state;
	/* a UID map that fails, in the second item of a sequence */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	fx.fail_map = 1;
	add_item(&ds, T(0x0008, 0x1140));
	it = add_item(&ds, T(0x0008, 0x1140));
	set(it, T(0x0008, 0x1155), "UI", "1.2.3.4.7");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EIO);
	assert_string_equal(why.rule, "U (replace UID)");
	assert_string_equal(why.path, "00081140[1].00081155");
	dcm_ds_free(&ds);

	/* a UID that cannot be mapped faithfully (an embedded NUL) */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	set_bin(&ds, T(0x0008, 0x0018), "UI", "1.2\0003.4", 8);
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	assert_string_equal(why.rule, "U (replace UID)");
	assert_string_equal(why.path, "00080018");
	dcm_ds_free(&ds);

	/* a sequence whose items are raw bytes */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	set(&ds, T(0x0008, 0x0060), "CS", "MG");
	set_bin(&ds, T(0x0054, 0x0220), "SQ", "\xfe\xff\x00\xe0", 4);
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	assert_string_equal(why.rule, "sequence unreadable");
	assert_string_equal(why.path, "00540220");
	dcm_ds_free(&ds);

	/* nested too deep (the parser never makes such a dataset): found
	 * when the names are collected, before the walk has a path */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	cur = &ds;
	for (i = 0; i < DCM_MAX_DEPTH + 2; i++)
		cur = add_item(cur, T(0x0054, 0x0220));
	set(cur, T(0x0008, 0x0070), "LO", "ACME");
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	assert_string_equal(why.rule, "sequence unreadable");
	assert_string_equal(why.path, "");
	dcm_ds_free(&ds);

	/* person names beyond what can be screened: all of them, no path */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	{
		char word[300];

		memset(word, 'N', sizeof(word) - 1);
		word[sizeof(word) - 1] = 0;
		set(&ds, T(0x0040, 0xa123), "PN", word);
	}
	assert_int_equal(rules_apply(R, &ctx, &ds), -EBADMSG);
	assert_string_equal(why.rule, "person names beyond screening");
	assert_string_equal(why.path, "");
	dcm_ds_free(&ds);

	/* an unusable pseudonym */
	ctx_init(&ctx, &fx, 0);
	ctx.failure = &why;
	ctx.pseudonym = "A\\B";
	assert_int_equal(rules_apply(R, &ctx, &ds), -EINVAL);
	assert_string_equal(why.rule, "pseudonym");
	assert_string_equal(why.path, "");
}

/* A public attribute written as UN is read as the string VR the
 * dictionary gives it: a UID is kept (as UI) under the Retain UIDs option,
 * replaced otherwise (before, the option emptied it, and a file without
 * its SOP Instance UID could not be published: explicit_VR-UN.dcm of
 * pydicom's test files); Modality and Instance Number stay, vetted like
 * any value (before, every UN value was removed as unknown content). */
static void test_uid_written_as_un(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct dcm_elem *e;
	struct fx fx;
	char want[64];

	(void)state;
	ctx_init(&ctx, &fx, RULES_RTN_UIDS);
	ctx.patient_name = "Doe^Jane";
	set_bin(&ds, T(0x0008, 0x0018), "UN", "1.2.3.4.5.60", 12);
	set_bin(&ds, T(0x0020, 0x000d), "UN", "1.2.3.4.5.61", 12);
	/* other string VRs too: kept as what they are, vetted like any */
	set_bin(&ds, T(0x0008, 0x0060), "UN", "CT", 2);
	set_bin(&ds, T(0x0020, 0x0013), "UN", "122 ", 4);
	set_bin(&ds, T(0x0008, 0x1030), "UN", "Jane's CT", 10);
	set_bin(&ds, T(0x0008, 0x103e), "UN", "Doe ", 4);
	set_bin(&ds, T(0x0018, 0x0015), "UN", "JANE", 4);
	/* a binary VR written as UN stays unknown content: removed */
	set_bin(&ds, T(0x0028, 0x0010), "UN", "\x00\x02", 2);
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0018), "1.2.3.4.5.60");
	assert_str(&ds, T(0x0020, 0x000d), "1.2.3.4.5.61");
	e = dcm_ds_get(&ds, T(0x0008, 0x0018));
	assert_string_equal(e->vr, "UI");
	assert_str(&ds, T(0x0008, 0x0060), "CT");
	assert_string_equal(dcm_ds_get(&ds, T(0x0008, 0x0060))->vr, "CS");
	assert_str(&ds, T(0x0020, 0x0013), "122");
	assert_string_equal(dcm_ds_get(&ds, T(0x0020, 0x0013))->vr, "IS");
	assert_absent(&ds, T(0x0008, 0x1030));	/* X, as ever */
	assert_absent(&ds, T(0x0008, 0x103e));	/* a word of her name */
	assert_absent(&ds, T(0x0018, 0x0015));	/* no body part term */
	assert_absent(&ds, T(0x0028, 0x0010));
	dcm_ds_free(&ds);

	ctx_init(&ctx, &fx, 0);
	set_bin(&ds, T(0x0008, 0x0018), "UN", "1.2.3.4.5.60", 12);
	apply_ok(&ctx, &ds);
	assert_int_equal(fx_map(&fx, "1.2.3.4.5.60", want, sizeof(want)), 0);
	assert_str(&ds, T(0x0008, 0x0018), want);
	assert_string_equal(dcm_ds_get(&ds, T(0x0008, 0x0018))->vr, "UI");
	dcm_ds_free(&ds);

	/* what is not a UID stays unkept: a UN value of a UI tag that holds
	 * text gets the dummy the IOD needs (a keyed UID), never its bytes */
	ctx_init(&ctx, &fx, RULES_RTN_UIDS);
	ctx.iod_name = MG_IOD;
	set_bin(&ds, T(0x0008, 0x0018), "UN", "Jane Doe", 8);
	apply_ok(&ctx, &ds);
	assert_int_equal(fx_map(&fx, "Jane Doe", want, sizeof(want)), 0);
	assert_str(&ds, T(0x0008, 0x0018), want);
	dcm_ds_free(&ds);
}

/* StudyID and StudyDescription become what the caller derived (a keyed
 * token, the month), whatever the source held; absent ones are added. */
static void test_study_labels(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, 0);
	set(&ds, T(0x0020, 0x0010), "SH", "ACC12345");
	set(&ds, T(0x0008, 0x1030), "LO", "Mammo Kari Nordmann");
	apply_ok(&ctx, &ds);		/* no labels: Z and X */
	assert_empty(&ds, T(0x0020, 0x0010));
	assert_absent(&ds, T(0x0008, 0x1030));
	dcm_ds_free(&ds);

	ctx_init(&ctx, &fx, 0);
	ctx.study_id = "ABCDEFGHIJ";
	ctx.study_description = "2013-04";
	set(&ds, T(0x0020, 0x0010), "SH", "ACC12345");
	set(&ds, T(0x0008, 0x1030), "LO", "Mammo Kari Nordmann");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0020, 0x0010), "ABCDEFGHIJ");
	assert_str(&ds, T(0x0008, 0x1030), "2013-04");
	assert_non_null(find_audit(&fx, "00200010"));
	dcm_ds_free(&ds);

	ctx_init(&ctx, &fx, 0);		/* absent in the source: added */
	ctx.study_id = "ABCDEFGHIJ";
	ctx.study_description = "2013-04";
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0020, 0x0010), "ABCDEFGHIJ");
	assert_str(&ds, T(0x0008, 0x1030), "2013-04");
	dcm_ds_free(&ds);
}

/* --month-dates: every date the first of its month (a DT loses its
 * time), times kept, nothing shifted; the marks say dates were modified. */
static void test_month_dates(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;

	(void)state;
	ctx_init(&ctx, &fx, RULES_MONTH_DATES);
	ctx.date_shift_days = -100;	/* not used */
	set(&ds, T(0x0008, 0x0020), "DA", "20130417");
	set(&ds, T(0x0008, 0x0030), "TM", "093015");
	set(&ds, T(0x0008, 0x002a), "DT", "20130417093015.123");
	set(&ds, T(0x0008, 0x0021), "DA", "20130431");	/* the day goes */
	set(&ds, T(0x0008, 0x0022), "DA", "20131301");	/* no such month */
	set(&ds, T(0x0010, 0x0030), "DA", "19600229");
	apply_ok(&ctx, &ds);
	assert_str(&ds, T(0x0008, 0x0020), "20130401");
	assert_str(&ds, T(0x0008, 0x0030), "093015");
	assert_str(&ds, T(0x0008, 0x002a), "20130401");
	assert_str(&ds, T(0x0008, 0x0021), "20130401");
	assert_true(!dcm_ds_get(&ds, T(0x0008, 0x0022)) ||
		    !dcm_ds_get(&ds, T(0x0008, 0x0022))->len);
	assert_str(&ds, T(0x0028, 0x0303), "MODIFIED");
	assert_non_null(strstr(str(&ds, T(0x0012, 0x0063)),
			       "dates kept to the month"));
	dcm_ds_free(&ds);
}

static void test_classify_why(void **state)
{
	struct dcm_ds ds = { 0 };
	struct rules_cause why;

	(void)state;
	set(&ds, T(0x0008, 0x0060), "CS", "MG");
	set(&ds, T(0x0008, 0x0008), "CS", "DERIVED\\SECONDARY\\SAVE");
	assert_int_equal(rules_classify_why(&ds, "MG", &why),
			 RULES_Q_SCREEN_CAPTURE);
	assert_string_equal(why.rule, "save in ImageType");
	assert_string_equal(why.path, "00080008");
	set(&ds, T(0x0028, 0x0301), "CS", "YES");
	assert_int_equal(rules_classify_why(&ds, "MG", &why),
			 RULES_Q_BURNED_IN);
	assert_string_equal(why.rule, "BurnedInAnnotation YES");
	assert_string_equal(why.path, "00280301");
	dcm_ds_free(&ds);
	set(&ds, T(0x0008, 0x0060), "CS", "CT");
	assert_int_equal(rules_classify_why(&ds, "MG", &why), RULES_Q_MODALITY);
	assert_string_equal(why.rule, "not in --modalities");
	assert_string_equal(why.path, "00080060");
	dcm_ds_free(&ds);
	/* the general cause of a reason set elsewhere */
	rules_reason_cause(RULES_Q_NO_PATIENT_ID, &why);
	assert_string_equal(why.path, "00100020");
	rules_reason_cause(RULES_Q_NOT_DICOM, &why);
	assert_string_equal(why.path, "");
	rules_reason_cause((enum rules_reason)999, &why);
	assert_string_equal(why.rule, "unknown");
}

static void test_classify(void **state)
{
	struct dcm_ds ds = { 0 };

	(void)state;
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_NO_MODALITY);
	assert_int_equal(rules_classify(&ds, "all"), RULES_Q_NO_MODALITY);
	set(&ds, T(0x0008, 0x0060), "CS", "  ");
	assert_int_equal(rules_classify(&ds, "all"), RULES_Q_NO_MODALITY);
	set(&ds, T(0x0008, 0x0060), "CS", "MG");
	assert_int_equal(rules_classify(&ds, "MG,OT"), RULES_OK);
	assert_int_equal(rules_classify(&ds, "ot, mg"), RULES_OK);
	assert_int_equal(rules_classify(&ds, "ALL"), RULES_OK);
	assert_int_equal(rules_classify(&ds, "CT,OT"), RULES_Q_MODALITY);
	assert_int_equal(rules_classify(&ds, "M"), RULES_Q_MODALITY);
	assert_int_equal(rules_classify(&ds, ""), RULES_Q_MODALITY);

	/* secondary capture: only suspect conversion types */
	set(&ds, T(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.7");
	set(&ds, T(0x0008, 0x0064), "CS", "DV");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_OK);
	/* workstation captures are the ordinary OT images */
	set(&ds, T(0x0008, 0x0064), "CS", "WSD");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_OK);
	set(&ds, T(0x0008, 0x0064), "CS", "SI");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_SCREEN_CAPTURE);
	set(&ds, T(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.7.4");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_SCREEN_CAPTURE);
	/* VL (…1.1.77.x) is not secondary capture */
	set(&ds, T(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.77.1.4");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_OK);
	dcm_ds_remove(&ds, T(0x0008, 0x0064));

	set(&ds, T(0x0008, 0x0008), "CS", "DERIVED\\SECONDARY\\SAVED");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_SCREEN_CAPTURE);
	dcm_ds_remove(&ds, T(0x0008, 0x0008));
	set(&ds, T(0x0008, 0x103e), "LO", "Screen Save");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_SCREEN_CAPTURE);
	set(&ds, T(0x0008, 0x103e), "LO", " patient PROTOCOL ");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_Q_PROTOCOL);
	set(&ds, T(0x0008, 0x103e), "LO", "Patient Protocol 2");
	assert_int_equal(rules_classify(&ds, "MG"), RULES_OK);
	/* burned-in annotation wins over everything after it */
	set(&ds, T(0x0008, 0x103e), "LO", "Patient Protocol");
	set(&ds, T(0x0028, 0x0301), "CS", "yes");
	assert_int_equal(rules_classify(&ds, "CT"), RULES_Q_BURNED_IN);
	set(&ds, T(0x0028, 0x0301), "CS", "NO");
	assert_int_equal(rules_classify(&ds, "CT"), RULES_Q_PROTOCOL);
	dcm_ds_free(&ds);

	assert_string_equal(rules_reason_name(RULES_OK), "ok");
	assert_string_equal(rules_reason_name(RULES_Q_BURNED_IN),
			    "burned-in-annotation");
	assert_string_equal(rules_reason_name(RULES_Q_PROTOCOL),
			    "patient-protocol");
	assert_string_equal(rules_reason_name(RULES_Q_SCREEN_CAPTURE),
			    "screen-capture");
	assert_string_equal(rules_reason_name(RULES_Q_MODALITY),
			    "modality-not-allowed");
	assert_string_equal(rules_reason_name(RULES_Q_NO_MODALITY),
			    "modality-missing");
	assert_string_equal(rules_reason_name(RULES_Q_UNPARSEABLE),
			    "unparseable");
	assert_string_equal(rules_reason_name(RULES_Q_DEID_FAILED),
			    "deid-failed");
	assert_string_equal(rules_reason_name(RULES_Q_NOT_DICOM),
			    "not-dicom");
	assert_string_equal(rules_reason_name(RULES_Q_NO_PATIENT_ID),
			    "patient-id-missing");
}

/* Apply a white list to one SeriesDescription value: kept? */
static int wl_keeps(const struct rules_whitelist *wl, uint32_t tag,
		    const char *value)
{
	struct dcm_ds ds = { 0 };
	struct rules_ctx ctx;
	struct fx fx;
	int kept;

	ctx_init(&ctx, &fx, RULES_CLEAN_DESCRIPTORS);
	ctx.wl = wl;
	set(&ds, tag, "LO", value);
	apply_ok(&ctx, &ds);
	kept = dcm_ds_get(&ds, tag) != NULL;
	dcm_ds_free(&ds);
	return kept;
}

static void test_whitelist_parse(void **state)
{
	static const char *const good[] = {
		"{\"0008,103E\": [\"L CC\", \"R MLO\"]}",
		"{}",
		" { \"0008,103e\" : [ ] , \"0008,1030\":[\"a\"] } \n",
		"{\" 0008 , 103E \": [\"x\"]}",
		("{\"0008,103E\": [\"caf\\u00e9\", \"\\ud83d\\ude00\", "
		 "\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\"]}"),
		"{\"0008,103E\": [\"\xc3\xa9t\xc3\xa9\"]}",
	};
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"{\"0008,103E\"}",
		"{\"0008,103E\": \"L CC\"}",
		"{\"0008,103E\": [1]}",
		"{\"0008,103E\": [null]}",
		"{\"0008,103E\": [\"a\",]}",
		"{\"0008,103E\": [\"a\"],}",
		"{\"0008,103E\": [\"a\"]} x",
		"{\"0008103E\": [\"a\"]}",
		"{\"(0008,103E)\": [\"a\"]}",
		"{\"0008,103G\": [\"a\"]}",
		"{\"0008,103E\": [\"SECRET\\u12\"]}",
		"{\"0008,103E\": [\"SECRET\\ud800\"]}",
		"{\"0008,103E\": [\"SECRET\\udc00x\"]}",
		"{\"0008,103E\": [\"SECRET\\u0000\"]}",
		"{\"0008,103E\": [\"SECRET\\x\"]}",
		"{\"0008,103E\": [\"SECRET\tTAB\"]}",
		"{\"0008,103E\": [\"SECRET\xc3\"]}",
		"{\"0008,103E\": [\"SECRET\xed\xa0\x80\"]}",
		"{\"0008,103E\": [\"SECRET",
		"{'0008,103E': ['a']}",
	};
	struct rules_whitelist *wl;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		wl = NULL;
		assert_int_equal(rules_whitelist_parse(good[i],
						       strlen(good[i]), &wl,
						       err, sizeof(err)), 0);
		assert_non_null(wl);
		rules_whitelist_free(wl);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wl = (struct rules_whitelist *)1;
		err[0] = 0;
		assert_int_equal(rules_whitelist_parse(bad[i], strlen(bad[i]),
						       &wl, err, sizeof(err)),
				 -EBADMSG);
		assert_null(wl);
		assert_true(err[0] != 0);
		assert_null(strstr(err, "SECRET"));
	}
	/* an embedded NUL is not JSON */
	assert_int_equal(rules_whitelist_parse("{}\0", 3, &wl, err,
					       sizeof(err)), -EBADMSG);

	/* bounds: 1 MiB of input */
	{
		size_t n = (1u << 20) + 1;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		assert_int_equal(rules_whitelist_parse(big, n, &wl, err,
						       sizeof(err)), -EBADMSG);
		assert_int_equal(rules_whitelist_parse(big + 1, n - 1, &wl,
						       err, sizeof(err)), -EBADMSG);
		big[1] = '{';
		assert_int_equal(rules_whitelist_parse(big + 1, n - 1, &wl,
						       err, sizeof(err)), 0);
		rules_whitelist_free(wl);
		free(big);
	}
	/* bounds: 10,000 values */
	{
		size_t cap = 16 + 10001 * 5, o;
		char *s = malloc(cap);
		int k;

		assert_non_null(s);
		o = (size_t)sprintf(s, "{\"0008,103E\":[");
		for (k = 0; k < 10001; k++)
			o += (size_t)sprintf(s + o, "%s\"a\"", k ? "," : "");
		o += (size_t)sprintf(s + o, "]}");
		assert_int_equal(rules_whitelist_parse(s, o, &wl, err,
						       sizeof(err)), -EBADMSG);
		/* 10,000 is fine: drop one value */
		memmove(s + 14, s + 18, o - 18);
		o -= 4;
		assert_int_equal(rules_whitelist_parse(s, o, &wl, err,
						       sizeof(err)), 0);
		rules_whitelist_free(wl);
		free(s);
	}

	/* decoded values match: escapes, case, lower-case tag keys */
	assert_int_equal(rules_whitelist_parse(good[4], strlen(good[4]), &wl,
					       err, sizeof(err)), 0);
	assert_true(wl_keeps(wl, T(0x0008, 0x103e), "CAF\xc3\xa9"));
	assert_true(wl_keeps(wl, T(0x0008, 0x103e), "\xf0\x9f\x98\x80"));
	assert_false(wl_keeps(wl, T(0x0008, 0x103e), "cafe"));
	rules_whitelist_free(wl);
	assert_int_equal(rules_whitelist_parse(good[2], strlen(good[2]), &wl,
					       err, sizeof(err)), 0);
	assert_true(wl_keeps(wl, T(0x0008, 0x1030), "A"));
	assert_false(wl_keeps(wl, T(0x0008, 0x103e), "a"));
	rules_whitelist_free(wl);
	assert_int_equal(rules_whitelist_parse(good[0], strlen(good[0]), &wl,
					       err, sizeof(err)), 0);
	assert_true(wl_keeps(wl, T(0x0008, 0x103e), "L CC"));
	assert_true(wl_keeps(wl, T(0x0008, 0x103e), "R MLO "));
	assert_false(wl_keeps(wl, T(0x0008, 0x103e), "L  CC"));
	assert_false(wl_keeps(wl, T(0x0008, 0x103e), "L CC\\R MLO"));
	rules_whitelist_free(wl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_basic_codes),
		cmocka_unit_test(test_uid_multi_and_empty),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_opt_uids),
		cmocka_unit_test(test_opt_modif_dates),
		cmocka_unit_test(test_opt_modif_dt_tm),
		cmocka_unit_test(test_opt_full_dates),
		cmocka_unit_test(test_opt_clean_descriptors),
		cmocka_unit_test(test_code_meaning_whitelist),
		cmocka_unit_test(test_opt_device_institution_patient),
		cmocka_unit_test(test_private),
		cmocka_unit_test(test_overlays_curves),
		cmocka_unit_test(test_not_in_table),
		cmocka_unit_test(test_unknown_tags_and_uids),
		cmocka_unit_test(test_kept_values_valid),
		cmocka_unit_test(test_safe_text_forms),
		cmocka_unit_test(test_kept_values_hold_no_identity),
		cmocka_unit_test(test_kept_values_hold_no_name_of_the_file),
		cmocka_unit_test(test_names_collected_before_the_rules),
		cmocka_unit_test(test_names_bounded),
		cmocka_unit_test(test_cs_terms_table),
		cmocka_unit_test(test_cs_terms),
		cmocka_unit_test(test_iod_types),
		cmocka_unit_test(test_compound_by_iod),
		cmocka_unit_test(test_dummy_item),
		cmocka_unit_test(test_pseudonym_and_marks),
		cmocka_unit_test(test_audit_sees_old_values),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_why),
		cmocka_unit_test(test_study_labels),
		cmocka_unit_test(test_month_dates),
		cmocka_unit_test(test_failure_cause),
		cmocka_unit_test(test_uid_written_as_un),
		cmocka_unit_test(test_whitelist_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
