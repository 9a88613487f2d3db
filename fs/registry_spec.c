/*
 * registry_spec.c - parsing a --csv-spec (registry_spec_parse(),
 * registry.h) into a struct registry_spec (registry_spec.h).  Messages
 * quote the spec (the operator's own words), never registry data.
 */
#include "registry_spec.h"
#include "base.h"
#include "registry_cell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_uint(const char *s, size_t n, unsigned *val)
{
	unsigned v = 0;
	size_t i;

	if (!n || n > 9)	/* 9 digits cannot overflow */
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*val = v;
	return 0;
}

static int match(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !memcmp(s, word, n);
}

/*
 * Check the values of an enum role, (v, n) = "A|B|C".  Returns NULL or a
 * fixed text saying what is wrong.
 */
static const char *enum_values_bad(const char *v, size_t n)
{
	const char *end = v + n, *bar;
	size_t l, i;

	if (!n)
		return "no values";
	for (;;) {
		bar = memchr(v, '|', (size_t)(end - v));
		l = (size_t)((bar ? bar : end) - v);
		if (!l)
			return "an empty value";
		if (l > REGISTRY_ENUM_VALUE_MAX)
			return "a value too long";
		for (i = 0; i < l; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return "a control character in a value";
		if (v[0] == ' ' || v[l - 1] == ' ')
			return "a value with a leading or trailing space";
		if (strchr("=+-@", v[0]) && !registry_cell_plain_number(v, l))
			return "a value a spreadsheet would run as a formula "
			       "(starting with = + - @)";
		if (!bar)
			return NULL;
		v = bar + 1;
	}
}

/* One "N=role[:argument]" item of a spec, as it is read. */
struct item {
	const char *text;	/* the item, for messages */
	int shown;		/* how much of it a message quotes */
	unsigned col;
	enum registry_role role;
	uint16_t arg;		/* struct registry_spec's */
	unsigned ref;		/* days-since: the reference column */
	const char *vals;	/* enum: "A|B|C" (vals, nvals) */
	size_t nvals;
};

/* The column of an item, before its '=' at eq. */
static int item_column(struct item *it, const char *eq, char *err,
		       size_t errsz)
{
	const char *p;
	size_t cn = base_trim_spaces(it->text, (size_t)(eq - it->text), &p);

	if (parse_uint(p, cn, &it->col)) {
		base_errf(err, errsz, "csv-spec: bad column number in \"%.*s\"",
			  it->shown, it->text);
		return -EINVAL;
	}
	if (it->col == 0 || it->col > REGISTRY_MAX_COLUMNS) {
		base_errf(err, errsz,
			  "csv-spec: column %u in \"%.*s\" out of range 1..%u",
			  it->col, it->shown, it->text,
			  (unsigned)REGISTRY_MAX_COLUMNS);
		return -EINVAL;
	}
	return 0;
}

/* days-since:N, a column other than the item's own. */
static int item_days_since(struct item *it, const char *a, size_t an,
			   char *err, size_t errsz)
{
	const char *p = NULL;
	size_t cn = a ? base_trim_spaces(a, an, &p) : 0;

	if (parse_uint(p, cn, &it->ref) || it->ref == 0 ||
	    it->ref > REGISTRY_MAX_COLUMNS || it->ref == it->col) {
		base_errf(err, errsz,
			  "csv-spec: bad days-since reference in \"%.*s\" (days-since:N, N another column 1..%u)",
			  it->shown, it->text, (unsigned)REGISTRY_MAX_COLUMNS);
		return -EINVAL;
	}
	it->arg = (uint16_t)it->ref;
	return 0;
}

/* enum:A|B|..., the values checked and with room in sp->enums. */
static int item_enum(struct item *it, const struct registry_spec *sp,
		     const char *a, size_t an, char *err, size_t errsz)
{
	const char *why = a ? enum_values_bad(a, an) : "no values";

	if (why) {
		base_errf(err, errsz,
			  "csv-spec: bad enum in \"%.*s\": %s (enum:A|B|..., each value 1-%u bytes)",
			  it->shown, it->text, why,
			  (unsigned)REGISTRY_ENUM_VALUE_MAX);
		return -EINVAL;
	}
	if (an + 1 > sizeof(sp->enums) - sp->enums_len) {
		base_errf(err, errsz,
			  "csv-spec: more than %u bytes of enum values, at \"%.*s\"",
			  (unsigned)REGISTRY_ENUM_BYTES, it->shown, it->text);
		return -EINVAL;
	}
	/* 1 + offset < REGISTRY_ENUM_BYTES < REGISTRY_SPEC_LISTED */
	it->arg = (uint16_t)(1 + sp->enums_len);
	it->vals = a;
	it->nvals = an;
	return 0;
}

/* The role of an item, (role, rn) after its '=': a name and for
 * days-since and enum an argument after a ':'. */
static int item_role(struct item *it, const struct registry_spec *sp,
		     const char *role, size_t rn, char *err, size_t errsz)
{
	static const struct {
		const char *name;
		enum registry_role role;
	} plain[] = {
		{ "text", REGISTRY_TEXT },
		{ "keep", REGISTRY_TEXT },
		{ "int", REGISTRY_INT },
		{ "number", REGISTRY_NUMBER },
		{ "code", REGISTRY_CODE },
		{ "pseudonym", REGISTRY_PSEUDONYM },
		{ "drop", REGISTRY_DROP },
		{ "month", REGISTRY_MONTH },
		{ "shift", REGISTRY_SHIFT },
	};
	const char *colon = memchr(role, ':', rn), *a = NULL;
	size_t nn = colon ? (size_t)(colon - role) : rn, an = 0, i;

	if (colon) {
		a = colon + 1;
		an = rn - nn - 1;
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (!match(role, nn, plain[i].name))
			continue;
		if (colon) {
			base_errf(err, errsz,
				  "csv-spec: role %s takes no argument, in \"%.*s\"",
				  plain[i].name, it->shown, it->text);
			return -EINVAL;
		}
		it->role = plain[i].role;
		return 0;
	}
	if (match(role, nn, "days-since")) {
		it->role = REGISTRY_DAYS_SINCE;
		return item_days_since(it, a, an, err, errsz);
	}
	if (match(role, nn, "enum")) {
		it->role = REGISTRY_ENUM;
		return item_enum(it, sp, a, an, err, errsz);
	}
	base_errf(err, errsz, "csv-spec: unknown role in \"%.*s\" "
		  "(text, keep, int, number, code, enum:A|B|..., "
		  "pseudonym, drop, month, days-since:N, shift)",
		  it->shown, it->text);
	return -EINVAL;
}

/* Enter a read item into sp: a column once, one pseudonym column. */
static int item_record(const struct item *it, struct registry_spec *sp,
		       char *err, size_t errsz)
{
	unsigned col = it->col;

	if (sp->arg[col]) {
		base_errf(err, errsz, "csv-spec: column %u listed twice", col);
		return -EINVAL;
	}
	if (it->role == REGISTRY_PSEUDONYM) {
		if (sp->id_column) {
			base_errf(err, errsz,
				  "csv-spec: more than one pseudonym column (%u and %u)",
				  sp->id_column, col);
			return -EINVAL;
		}
		sp->id_column = col;
	}
	if (it->role == REGISTRY_ENUM) {
		memcpy(sp->enums + sp->enums_len, it->vals, it->nvals);
		sp->enums[sp->enums_len + it->nvals] = '\0';
		sp->enums_len += it->nvals + 1;
	}
	sp->role[col] = (uint8_t)it->role;
	sp->arg[col] = it->arg;
	if (it->role != REGISTRY_TEXT && col > sp->max_column)
		sp->max_column = col;
	if (it->ref > sp->max_column)
		sp->max_column = it->ref;
	if (it->role == REGISTRY_SHIFT)
		sp->has_shift = 1;
	return 0;
}

/* One "N=role" item (already trimmed). */
static int spec_item(struct registry_spec *sp, const char *text, size_t n,
		     char *err, size_t errsz)
{
	const char *eq = memchr(text, '=', n), *role;
	struct item it = { text, n > 64 ? 64 : (int)n, 0, REGISTRY_TEXT,
			   REGISTRY_SPEC_LISTED, 0, NULL, 0 };
	size_t rn;
	int ret;

	if (!eq) {
		base_errf(err, errsz,
			  "csv-spec: item \"%.*s\" is not column=role",
			  it.shown, text);
		return -EINVAL;
	}
	ret = item_column(&it, eq, err, errsz);
	if (ret)
		return ret;
	rn = base_trim_spaces(eq + 1, n - (size_t)(eq + 1 - text), &role);
	ret = item_role(&it, sp, role, rn, err, errsz);
	if (ret)
		return ret;
	return item_record(&it, sp, err, errsz);
}

int registry_spec_parse(const char *spec, struct registry_spec **out,
			char *err, size_t errsz)
{
	struct registry_spec *sp = NULL;
	const char *s, *end, *comma, *it;
	size_t n;
	unsigned c;
	int ret = 0;

	*out = NULL;
	if (!spec) {
		base_errf(err, errsz, "csv-spec: missing");
		ret = -EINVAL;
		goto out;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		ret = -ENOMEM;
		goto out;
	}
	s = spec;
	end = spec + strlen(spec);
	for (;;) {
		comma = memchr(s, ',', (size_t)(end - s));
		n = base_trim_spaces(s, (size_t)((comma ? comma : end) - s),
				     &it);
		if (!n) {
			base_errf(err, errsz,
				  "csv-spec: empty item in \"%.*s\"",
				  (int)(end - spec > 200 ? 200 : end - spec),
				  spec);
			ret = -EINVAL;
			goto out;
		}
		ret = spec_item(sp, it, n, err, errsz);
		if (ret)
			goto out;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!sp->id_column) {
		base_errf(err, errsz,
			  "csv-spec: no pseudonym column (exactly one is required)");
		ret = -EINVAL;
		goto out;
	}
	for (c = 1; c <= REGISTRY_MAX_COLUMNS; c++) {
		if (sp->role[c] == REGISTRY_DAYS_SINCE &&
		    sp->arg[c] == sp->id_column) {
			base_errf(err, errsz,
				  "csv-spec: column %u counts days since the pseudonym column",
				  c);
			ret = -EINVAL;
			goto out;
		}
	}
	*out = sp;
	sp = NULL;
out:
	free(sp);
	return ret;
}

void registry_spec_free(struct registry_spec *s)
{
	free(s);
}

unsigned registry_spec_id_column(const struct registry_spec *s)
{
	return s ? s->id_column : 0;
}
