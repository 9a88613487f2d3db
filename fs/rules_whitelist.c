/*
 * rules_whitelist.c - the white list of the Clean Descriptors Option (see
 * rules.h: rules_whitelist_parse(); rules_whitelist.h): a small JSON reader
 * for exactly the original tool's format, bounded, whose messages never
 * quote the input, and the lookup the rules make.
 */
#include "rules_whitelist.h"
#include "base.h"
#include "rules_vr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WL_MAX_INPUT (1u << 20)
#define WL_MAX_VALUES 10000

struct wl_entry {
	uint32_t tag;
	uint32_t len;
	const char *s;		/* into pool, trimmed, NUL-terminated */
};

struct rules_whitelist {
	struct wl_entry *e;
	size_t n, cap;		/* entries used, allocated */
	char *pool;
};

static int cmp_wl(const void *a, const void *b)
{
	uint32_t x = ((const struct wl_entry *)a)->tag;
	uint32_t y = ((const struct wl_entry *)b)->tag;

	return x < y ? -1 : x > y;
}

int rules_whitelist_match(const struct rules_whitelist *wl,
			  const struct dcm_elem *e)
{
	size_t lo = 0, hi, n;
	const char *p;

	if (!wl || !e->val)
		return 0;
	hi = wl->n;
	while (lo < hi) {	/* first entry with tag >= e->tag */
		size_t mid = lo + (hi - lo) / 2;

		if (wl->e[mid].tag < e->tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	rules_vr_value(e, &p, &n);
	for (; lo < wl->n && wl->e[lo].tag == e->tag; lo++)
		if (base_eq_ci(p, n, wl->e[lo].s, wl->e[lo].len))
			return 1;
	return 0;
}

struct jp {
	const char *s;
	size_t n, i;
	const char *msg;	/* first error: never quotes the input */
};

static int jp_fail(struct jp *j, const char *msg)
{
	if (!j->msg)
		j->msg = msg;
	return -EBADMSG;
}

static void jp_ws(struct jp *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
			       j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int jp_expect(struct jp *j, char c, const char *msg)
{
	jp_ws(j);
	if (j->i >= j->n || j->s[j->i] != c)
		return jp_fail(j, msg);
	j->i++;
	return 0;
}

static int jp_hex4(struct jp *j, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (j->n - j->i < 4)
		return jp_fail(j, "truncated \\u escape");
	for (k = 0; k < 4; k++) {
		int h = base_hex_digit(j->s[j->i + k]);

		if (h < 0)
			return jp_fail(j, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	j->i += 4;
	*out = v;
	return 0;
}

static size_t utf8_put(unsigned cp, char *d)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The code point of a \\u escape at j->i (after the 'u'), with its low
 * surrogate when it is a high one; never NUL. */
static int jp_unicode(struct jp *j, unsigned *out)
{
	unsigned cp, lo;

	if (jp_hex4(j, &cp))
		return -EBADMSG;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return jp_fail(j, "lone surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->n - j->i < 2 || j->s[j->i] != '\\' ||
		    j->s[j->i + 1] != 'u')
			return jp_fail(j, "lone surrogate");
		j->i += 2;
		if (jp_hex4(j, &lo))
			return -EBADMSG;
		if (lo < 0xdc00 || lo > 0xdfff)
			return jp_fail(j, "lone surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return jp_fail(j, "NUL in string");
	*out = cp;
	return 0;
}

/* The escape at j->i (after the backslash) decoded at d; *k advanced. */
static int jp_escape(struct jp *j, char *d, size_t *k)
{
	unsigned char c;
	unsigned cp;

	if (j->i >= j->n)
		return jp_fail(j, "unterminated string");
	c = (unsigned char)j->s[j->i++];
	switch (c) {
	case '"': case '\\': case '/':
		d[(*k)++] = (char)c;
		return 0;
	case 'b': d[(*k)++] = '\b'; return 0;
	case 'f': d[(*k)++] = '\f'; return 0;
	case 'n': d[(*k)++] = '\n'; return 0;
	case 'r': d[(*k)++] = '\r'; return 0;
	case 't': d[(*k)++] = '\t'; return 0;
	case 'u':
		if (jp_unicode(j, &cp))
			return -EBADMSG;
		*k += utf8_put(cp, d + *k);
		return 0;
	default:
		return jp_fail(j, "bad escape");
	}
}

/*
 * Parse a JSON string at j->i into d (room for the raw length is enough:
 * escapes never grow).  *dn gets the decoded length; d is NUL-terminated.
 */
static int jp_string(struct jp *j, char *d, size_t dcap, size_t *dn)
{
	size_t k = 0;

	jp_ws(j);
	if (j->i >= j->n || j->s[j->i] != '"')
		return jp_fail(j, "expected a string");
	j->i++;
	for (;;) {
		unsigned char c;

		if (j->i >= j->n)
			return jp_fail(j, "unterminated string");
		c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			break;
		}
		if (k + 4 >= dcap)
			return jp_fail(j, "string too long");
		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c >= 0x80) {
			const unsigned char *u;
			size_t len;

			u = (const unsigned char *)j->s + j->i;
			len = utf8_len(u, j->n - j->i);

			if (!len)
				return jp_fail(j, "invalid UTF-8");
			memcpy(d + k, j->s + j->i, len);
			k += len;
			j->i += len;
			continue;
		}
		j->i++;
		if (c != '\\') {
			d[k++] = (char)c;
			continue;
		}
		if (jp_escape(j, d, &k))
			return -EBADMSG;
	}
	d[k] = 0;
	*dn = k;
	return 0;
}

/* A key "GGGG,EEEE" (hex in either case, spaces allowed around the
 * parts). */
static int parse_key(const char *s, size_t n, uint32_t *tag)
{
	uint32_t v = 0;
	size_t i = 0, part, k;

	for (part = 0; part < 2; part++) {
		while (i < n && s[i] == ' ')
			i++;
		for (k = 0; k < 4; k++, i++) {
			int h = i < n ? base_hex_digit(s[i]) : -1;

			if (h < 0)
				return -EBADMSG;
			v = v << 4 | (uint32_t)h;
		}
		while (i < n && s[i] == ' ')
			i++;
		if (part == 0) {
			if (i >= n || s[i] != ',')
				return -EBADMSG;
			i++;
		}
	}
	if (i != n)
		return -EBADMSG;
	*tag = v;
	return 0;
}

/* Whether the next character after white space is c; then it is taken. */
static int jp_take(struct jp *j, char c)
{
	jp_ws(j);
	if (j->i < j->n && j->s[j->i] == c) {
		j->i++;
		return 1;
	}
	return 0;
}

/* After an element of an array or object: 1 when a ',' says another
 * follows, 0 at close, -EBADMSG (msg) otherwise. */
static int jp_more(struct jp *j, char close, const char *msg)
{
	if (jp_take(j, ','))
		return 1;
	return jp_expect(j, close, msg);
}

/* One value of a key, trimmed of spaces, into the pool at *used. */
static int wl_value(struct jp *j, struct rules_whitelist *wl, uint32_t tag,
		    size_t cap, size_t *used)
{
	char *d = wl->pool + *used;
	const char *t;
	size_t dn;
	int err;

	if (wl->n >= wl->cap)
		return jp_fail(j, "too many values");
	err = jp_string(j, d, cap - *used, &dn);
	if (err)
		return err;
	*used += dn + 1;
	dn = base_trim_spaces(d, dn, &t);
	d[(size_t)(t - d) + dn] = 0;
	wl->e[wl->n].tag = tag;
	wl->e[wl->n].s = t;
	wl->e[wl->n].len = (uint32_t)dn;
	wl->n++;
	return 0;
}

/* One "GGGG,EEEE": [values] member of the object. */
static int wl_member(struct jp *j, struct rules_whitelist *wl, size_t cap,
		     size_t *used)
{
	char key[64];
	uint32_t tag;
	size_t kn;
	int err;

	err = jp_string(j, key, sizeof(key), &kn);
	if (err)
		return err;
	if (parse_key(key, kn, &tag))
		return jp_fail(j, "key is not a tag GGGG,EEEE");
	err = jp_expect(j, ':', "expected ':'");
	if (!err)
		err = jp_expect(j, '[', "expected an array");
	if (err || jp_take(j, ']'))
		return err;
	do {
		err = wl_value(j, wl, tag, cap, used);
		if (err)
			return err;
	} while ((err = jp_more(j, ']', "expected ',' or ']'")) == 1);
	return err;
}

static int wl_parse(struct jp *j, struct rules_whitelist *wl, size_t cap)
{
	size_t used = 0;
	int err;

	err = jp_expect(j, '{', "expected an object");
	if (err)
		return err;
	if (!jp_take(j, '}')) {
		do {
			err = wl_member(j, wl, cap, &used);
			if (err)
				return err;
		} while ((err = jp_more(j, '}', "expected ',' or '}'")) == 1);
		if (err)
			return err;
	}
	jp_ws(j);
	if (j->i != j->n)
		return jp_fail(j, "trailing data after the object");
	return 0;
}

int rules_whitelist_parse(const char *json, size_t len,
			  struct rules_whitelist **out, char *err,
			  size_t errsz)
{
	struct rules_whitelist *wl = NULL;
	struct jp j = { json, len, 0, NULL };
	size_t maxvals;
	int ret;

	*out = NULL;
	if (err && errsz)
		err[0] = 0;
	if (!json || len > WL_MAX_INPUT) {
		j.msg = "white list too large (over 1 MiB)";
		ret = -EBADMSG;
		goto out;
	}
	ret = -ENOMEM;
	wl = calloc(1, sizeof(*wl));
	if (!wl)
		goto out;
	/* Each value takes at least 3 input bytes ("",). */
	maxvals = len / 3 + 1;
	if (maxvals > WL_MAX_VALUES)
		maxvals = WL_MAX_VALUES;
	wl->e = calloc(maxvals, sizeof(*wl->e));
	wl->cap = maxvals;
	/* Decoded strings plus their NULs never exceed the input (quotes). */
	wl->pool = malloc(len + 8);
	if (!wl->e || !wl->pool)
		goto out;
	ret = wl_parse(&j, wl, len + 8);
	if (ret)
		goto out;
	qsort(wl->e, wl->n, sizeof(wl->e[0]), cmp_wl);
	*out = wl;
	wl = NULL;
out:
	if (ret == -EBADMSG && err && errsz)
		snprintf(err, errsz, "white list: byte %zu: %s", j.i,
			 j.msg ? j.msg : "invalid");
	rules_whitelist_free(wl);
	return ret;
}

void rules_whitelist_free(struct rules_whitelist *wl)
{
	if (!wl)
		return;
	free(wl->e);
	free(wl->pool);
	free(wl);
}
