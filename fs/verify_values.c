/*
 * verify_values.c - an original value and the forms verify looks for it in
 * (verify_values.h).
 *
 * A value's character set is not recorded with it (the audit keeps the
 * source's bytes): bytes that are valid UTF-8 are read as UTF-8, others as
 * Latin-1 (ISO_IR 100, the character set of Western European sources).
 * Either way both encodings are searched, so a name written in Latin-1 in
 * a header is found in a UTF-8 folder name too.  Other character sets
 * (ISO 2022 escapes, GB18030) are searched only as their bytes.
 */
#include "verify_values.h"
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom.h"

#define MAXCP ACM_MAX_PATTERN

const char *vval_kind_name(enum vval_kind k)
{
	static const char *const names[VVAL_COUNT] = {
		[VVAL_NONE] = "none",
		[VVAL_PATIENT_ID] = "patient-id",
		[VVAL_NAME] = "person-name",
		[VVAL_NAME_PART] = "name-part",
		[VVAL_DATE] = "date",
		[VVAL_UID] = "original-uid",
		[VVAL_STUDY_ID] = "accession-or-study-id",
		[VVAL_INSTITUTION] = "institution",
		[VVAL_TEXT] = "removed-text",
		[VVAL_PRIVATE_TEXT] = "private-text",
		[VVAL_REGISTRY] = "registry-value",
	};

	return (unsigned)k < VVAL_COUNT ? names[k] : "none";
}

/* ------------------------------------------------------------ the kind */

static const struct {
	uint32_t tag;
	enum vval_kind kind;
} by_tag[] = {
	{ DCM_TAG(0x0010, 0x0020), VVAL_PATIENT_ID },	/* Patient ID */
	{ DCM_TAG(0x0010, 0x1000), VVAL_PATIENT_ID },	/* Other IDs */
	{ DCM_TAG(0x0010, 0x0021), VVAL_INSTITUTION },	/* Issuer */
	{ DCM_TAG(0x0008, 0x0050), VVAL_STUDY_ID },	/* Accession */
	{ DCM_TAG(0x0020, 0x0010), VVAL_STUDY_ID },	/* Study ID */
	{ DCM_TAG(0x0008, 0x0080), VVAL_INSTITUTION },
	{ DCM_TAG(0x0008, 0x0081), VVAL_INSTITUTION },
	{ DCM_TAG(0x0008, 0x1040), VVAL_INSTITUTION },
	{ DCM_TAG(0x0008, 0x0082), VVAL_INSTITUTION },	/* code sequence */
};

/* The last tag of a path, or 0. */
static uint32_t last_tag(const char *path)
{
	const char *p = strrchr(path, '.');
	char *end;
	unsigned long t;

	p = p ? p + 1 : path;
	if (strlen(p) != 8)
		return 0;
	t = strtoul(p, &end, 16);
	return *end ? 0 : (uint32_t)t;
}

enum vval_kind vval_kind_of(const char *path, const char *action)
{
	uint32_t tag = last_tag(path);
	char vr[3];
	size_t i;

	if (!tag || !action)
		return VVAL_NONE;
	for (i = 0; i < sizeof(by_tag) / sizeof(by_tag[0]); i++)
		if (by_tag[i].tag == tag)
			return by_tag[i].kind;
	if (DCM_GROUP(tag) & 1) {
		/* a private creator names a vendor, which Manufacturer
		 * keeps in the open */
		if (DCM_ELEM(tag) >= 0x0010 && DCM_ELEM(tag) <= 0x00ff)
			return VVAL_NONE;
		return DCM_ELEM(tag) > 0x00ff ? VVAL_PRIVATE_TEXT : VVAL_NONE;
	}
	dicom_dict_vr(tag, NULL, vr);
	if (!strcmp(vr, "PN"))
		return VVAL_NAME;
	if (!strcmp(vr, "DA") || !strcmp(vr, "DT"))
		return VVAL_DATE;
	if (!strcmp(vr, "UI"))
		return VVAL_UID;
	if (!strcmp(vr, "LO") || !strcmp(vr, "SH") || !strcmp(vr, "ST") ||
	    !strcmp(vr, "LT") || !strcmp(vr, "UT") || !strcmp(vr, "UC"))
		return VVAL_TEXT;
	return VVAL_NONE;
}

/* ----------------------------------------------------- code points */

static int utf8_decode(const uint8_t *s, size_t n, uint32_t *cp, size_t *ncp)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t c = s[i], need, j;

		if (c < 0x80)
			need = 0;
		else if (c >= 0xc2 && c <= 0xdf)
			need = 1, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, c &= 0x07;
		else
			return -1;
		for (j = 1; j <= need; j++) {
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return -1;
			c = c << 6 | (s[i + j] & 0x3f);
		}
		if ((need == 2 && c < 0x800) || (need == 3 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		if (k == MAXCP)
			return -1;
		cp[k++] = c;
		i += need + 1;
	}
	*ncp = k;
	return 0;
}

/* Letters of Latin-1 (U+00C0..U+00FF): the ASCII letters without the
 * diacritic, and the combining mark of the decomposed form (0: none). */
static const char *const plain[64] = {
	"A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E",
	"I", "I", "I", "I", "D", "N", "O", "O", "O", "O", "O", NULL,
	"O", "U", "U", "U", "U", "Y", "TH", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e",
	"i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", NULL,
	"o", "u", "u", "u", "u", "y", "th", "y",
};
static const uint16_t mark[64] = {
	0x300, 0x301, 0x302, 0x303, 0x308, 0x30a, 0, 0x327,
	0x300, 0x301, 0x302, 0x308, 0x300, 0x301, 0x302, 0x308,
	0, 0x303, 0x300, 0x301, 0x302, 0x303, 0x308, 0,
	0, 0x300, 0x301, 0x302, 0x308, 0x301, 0, 0,
	0x300, 0x301, 0x302, 0x303, 0x308, 0x30a, 0, 0x327,
	0x300, 0x301, 0x302, 0x308, 0x300, 0x301, 0x302, 0x308,
	0, 0x303, 0x300, 0x301, 0x302, 0x303, 0x308, 0,
	0, 0x300, 0x301, 0x302, 0x308, 0x301, 0, 0x308,
};

struct buf {
	uint8_t b[4 * MAXCP + 8];
	size_t n;
	int bad;		/* did not fit, or not encodable */
};

static void put_byte(struct buf *o, uint8_t c)
{
	if (o->n >= sizeof(o->b))
		o->bad = 1;
	else
		o->b[o->n++] = c;
}

static void put_utf8(struct buf *o, uint32_t c)
{
	if (c < 0x80) {
		put_byte(o, (uint8_t)c);
	} else if (c < 0x800) {
		put_byte(o, (uint8_t)(0xc0 | c >> 6));
		put_byte(o, (uint8_t)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		put_byte(o, (uint8_t)(0xe0 | c >> 12));
		put_byte(o, (uint8_t)(0x80 | (c >> 6 & 0x3f)));
		put_byte(o, (uint8_t)(0x80 | (c & 0x3f)));
	} else {
		put_byte(o, (uint8_t)(0xf0 | c >> 18));
		put_byte(o, (uint8_t)(0x80 | (c >> 12 & 0x3f)));
		put_byte(o, (uint8_t)(0x80 | (c >> 6 & 0x3f)));
		put_byte(o, (uint8_t)(0x80 | (c & 0x3f)));
	}
}

enum form { F_UTF8, F_LATIN1, F_PLAIN, F_NFD };

static uint32_t upper(uint32_t c)
{
	if ((c >= 'a' && c <= 'z') ||
	    (c >= 0xe0 && c <= 0xfe && c != 0xf7))
		return c - 0x20;
	return c;
}

/* cp[0..n) (upper-cased when up) in a form, into o. */
static void encode(const uint32_t *cp, size_t n, int up, enum form f,
		   struct buf *o)
{
	size_t i;

	o->n = 0;
	o->bad = 0;
	for (i = 0; i < n; i++) {
		uint32_t c = up ? upper(cp[i]) : cp[i];
		int latin = c >= 0xc0 && c <= 0xff;

		if (f == F_LATIN1) {
			if (c > 0xff)
				o->bad = 1;
			else
				put_byte(o, (uint8_t)c);
		} else if (f == F_PLAIN && latin && plain[c - 0xc0]) {
			const char *p = plain[c - 0xc0];

			for (; *p; p++)
				put_byte(o, (uint8_t)*p);
		} else if (f == F_NFD && latin && mark[c - 0xc0]) {
			put_byte(o, (uint8_t)plain[c - 0xc0][0]);
			put_utf8(o, mark[c - 0xc0]);
		} else {
			put_utf8(o, c);
		}
	}
}

/* ------------------------------------------------------------ patterns */

struct ctx {
	struct acm *a;
	struct vval_counts *c;
	enum vval_kind kind;
	uint32_t cp[MAXCP];
	struct buf var[8];
};

static int is_alnum_cp(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Add the bytes of every distinct form of cp[0..n) as one value. */
static int add_forms(struct ctx *x, size_t n)
{
	static const struct {
		int up;
		enum form f;
	} forms[8] = { { 0, F_UTF8 }, { 0, F_LATIN1 }, { 1, F_UTF8 },
		       { 1, F_LATIN1 }, { 0, F_PLAIN }, { 1, F_PLAIN },
		       { 0, F_NFD }, { 1, F_NFD } };
	size_t i, j, sig = 0, digits = 0;
	unsigned flags = 0;
	uint32_t id = x->kind;
	int err = 0, added = 0;

	for (i = 0; i < n; i++)
		if (is_alnum_cp(x->cp[i])) {
			sig++;
			digits += x->cp[i] >= '0' && x->cp[i] <= '9';
		}
	if (sig < VVAL_MIN) {
		x->c->too_short++;
		return 0;
	}
	if (sig < (digits == sig ? VVAL_LONG_DIGITS :
		   x->kind == VVAL_TEXT || x->kind == VVAL_PRIVATE_TEXT
			   ? VVAL_LONG_TEXT : VVAL_LONG)) {
		flags = ACM_WORD;
		id |= VVAL_SHORT;
		x->c->short_values++;
	}
	for (i = 0; i < 8 && !err; i++) {
		struct buf *v = &x->var[i];

		encode(x->cp, n, forms[i].up, forms[i].f, v);
		if (v->bad || !v->n)
			continue;
		for (j = 0; j < i; j++)
			if (!x->var[j].bad && x->var[j].n == v->n &&
			    !memcmp(x->var[j].b, v->b, v->n))
				break;
		if (j < i)
			continue;
		err = acm_add(x->a, v->b, v->n, flags, id);
		if (err == -E2BIG || err == -EINVAL) {
			err = 0;	/* counted below */
			continue;
		}
		if (!err) {
			x->c->patterns++;
			added = 1;
		}
	}
	for (i = 0; i < 8; i++)
		explicit_bzero(x->var[i].b, x->var[i].n);
	explicit_bzero(x->cp, n * sizeof(x->cp[0]));
	if (!err && !added)
		x->c->unsearchable++;
	return err;
}

/* The code points of (v, len) into x->cp: UTF-8 when it is, else
 * Latin-1.  Returns their number, or -1 when too long. */
static long decode(struct ctx *x, const uint8_t *v, size_t len)
{
	size_t n, i;

	if (!utf8_decode(v, len, x->cp, &n))
		return (long)n;
	if (len > MAXCP)
		return -1;
	for (i = 0; i < len; i++)
		x->cp[i] = v[i];
	return (long)len;
}

static int add_text(struct ctx *x, const uint8_t *v, size_t len)
{
	long n = decode(x, v, len);

	if (n < 0) {
		x->c->unsearchable++;
		return 0;
	}
	return add_forms(x, (size_t)n);
}

/* A person name: each component group whole, then each word. */
static int add_name(struct ctx *x, const uint8_t *v, size_t len)
{
	size_t i, start;
	int err;

	err = add_text(x, v, len);	/* the whole value */
	x->kind = VVAL_NAME_PART;
	for (i = start = 0; !err && i <= len; i++) {
		if (i < len && v[i] != '^' && v[i] != ' ' && v[i] != '=' &&
		    v[i] != ',')
			continue;
		if (i > start)
			err = add_text(x, v + start, i - start);
		start = i + 1;
	}
	x->kind = VVAL_NAME;
	return err;
}

static int add_ascii(struct ctx *x, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		x->cp[i] = (uint8_t)s[i];
	return add_forms(x, n);
}

/* Every run of 8 digits that is a date, in its three spellings. */
static int add_dates(struct ctx *x, const uint8_t *v, size_t len)
{
	size_t i = 0, j;
	char f[16];
	int err = 0;

	while (i < len && !err) {
		if (v[i] < '0' || v[i] > '9') {
			i++;
			continue;
		}
		for (j = i; j < len && v[j] >= '0' && v[j] <= '9'; j++)
			;
		if (j - i >= 8) {	/* DT: the date is its first 8 */
			const uint8_t *d = v + i;
			int mo = (d[4] - '0') * 10 + d[5] - '0';
			int dd = (d[6] - '0') * 10 + d[7] - '0';

			if (mo >= 1 && mo <= 12 && dd >= 1 && dd <= 31) {
				snprintf(f, sizeof(f), "%.8s", (const char *)d);
				err = add_ascii(x, f);
				snprintf(f, sizeof(f), "%.2s.%.2s.%.4s",
					 (const char *)d + 6,
					 (const char *)d + 4,
					 (const char *)d);
				if (!err)
					err = add_ascii(x, f);
				snprintf(f, sizeof(f), "%.4s-%.2s-%.2s",
					 (const char *)d, (const char *)d + 4,
					 (const char *)d + 6);
				if (!err)
					err = add_ascii(x, f);
			}
		}
		i = j;
	}
	explicit_bzero(f, sizeof(f));
	return err;
}

/* An ID; one of 11 digits also split 6 + 5, as it is often written. */
static int add_id(struct ctx *x, const uint8_t *v, size_t len)
{
	char f[16];
	size_t i;
	int err = add_text(x, v, len);

	for (i = 0; i < len && len == 11; i++)
		if (v[i] < '0' || v[i] > '9')
			break;
	if (!err && len == 11 && i == 11) {
		snprintf(f, sizeof(f), "%.6s %.5s", (const char *)v,
			 (const char *)v + 6);
		err = add_ascii(x, f);
		explicit_bzero(f, sizeof(f));
	}
	return err;
}

/* A recorded digest stands for a long binary value (analyze.c). */
static int is_digest(const uint8_t *v, size_t len)
{
	return len > 7 && !memcmp(v, "sha256:", 7) &&
	       memmem(v, len, " bytes=", 7);
}

/* Whether (v, len) reads as text: no control bytes but padding. */
static int is_texty(const uint8_t *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return v[i] == 0 && i + 1 >= len;
	return 1;
}

static int add_one(struct ctx *x, const uint8_t *v, size_t len)
{
	const char *start;

	len = base_trim_spaces((const char *)v, len, &start);
	v = (const uint8_t *)start;
	while (len && (v[len - 1] == 0 || v[len - 1] == ' '))
		len--;
	if (!len)
		return 0;
	switch (x->kind) {
	case VVAL_NAME:
		return add_name(x, v, len);
	case VVAL_DATE:
		return add_dates(x, v, len);
	case VVAL_PATIENT_ID:
		return add_id(x, v, len);
	default:
		return add_text(x, v, len);
	}
}

struct vval {
	struct acm *a;
	struct vval_counts c;
	struct ctx x;		/* scratch of one value, wiped after it */
};

int vval_new(struct vval **out)
{
	struct vval *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	err = acm_new(&s->a);
	if (err) {
		free(s);
		return err;
	}
	s->x.a = s->a;
	s->x.c = &s->c;
	*out = s;
	return 0;
}

void vval_free(struct vval *s)
{
	if (!s)
		return;
	acm_free(s->a);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const struct vval_counts *vval_counts(const struct vval *s)
{
	return &s->c;
}

int vval_compile(struct vval *s, const struct acm **a)
{
	int err = acm_compile(s->a);

	*a = err ? NULL : s->a;
	return err;
}

int vval_add(struct vval *s, enum vval_kind k, const void *val, size_t len)
{
	const uint8_t *v = val;
	struct ctx *x = &s->x;
	size_t i, start;
	int err = 0;

	if (k <= VVAL_NONE || k >= VVAL_COUNT || !v || !len)
		return 0;
	s->c.values[k]++;
	if (is_digest(v, len)) {
		s->c.unsearchable++;
		return 0;
	}
	if (k == VVAL_PRIVATE_TEXT && !is_texty(v, len))
		return 0;	/* a binary private value */
	x->kind = k;
	/* a multi-valued string: each value */
	for (i = start = 0; !err && i <= len; i++) {
		if (i < len && v[i] != '\\')
			continue;
		if (i > start)
			err = add_one(x, v + start, i - start);
		start = i + 1;
	}
	return err;
}
