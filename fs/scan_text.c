/*
 * scan_text.c - what a line of text read off the pixels is (scan.h): the
 * identifying values of a file (scan_ident_from_ds()), folding, the
 * user's allow-list, and scan_line_kind().  Pure; nothing is logged or
 * kept: callers hold the text only as long as they classify it.
 */
#include "scan.h"
#include "base.h"
#include "dicom.h"
#include "ident.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ folding */

/* Upper-case ASCII for U+00C0..U+00FF ("" for the two signs). */
static const char *const latin1_fold[64] = {
	"A", "A", "A", "A", "A", "A", "AE", "C",	/* C0 */
	"E", "E", "E", "E", "I", "I", "I", "I",		/* C8 */
	"D", "N", "O", "O", "O", "O", "O", "",		/* D0 */
	"O", "U", "U", "U", "U", "Y", "TH", "SS",	/* D8 */
	"A", "A", "A", "A", "A", "A", "AE", "C",	/* E0 */
	"E", "E", "E", "E", "I", "I", "I", "I",		/* E8 */
	"D", "N", "O", "O", "O", "O", "O", "",		/* F0 */
	"O", "U", "U", "U", "U", "Y", "TH", "Y",	/* F8 */
};

/* Whether (s, n) is valid UTF-8 (overlong forms are not checked: the
 * text is only folded). */
static int is_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		unsigned c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		k = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
		    : (c & 0xF8) == 0xF0 ? 3 : 0;
		if (!k || i + k >= n)
			return 0;
		for (j = 1; j <= k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

size_t scan_fold(const char *s, size_t n, char *out, size_t outsz)
{
	const unsigned char *u = (const unsigned char *)s;
	int utf8 = is_utf8(u, n);
	size_t i = 0, o = 0;

	if (!outsz)
		return 0;
	while (i < n) {
		unsigned cp = u[i];
		const char *f;
		char one[2];

		if (cp < 0x80) {
			i++;
		} else if (!utf8) {
			i++;
		} else if ((cp & 0xE0) == 0xC0) {
			cp = ((cp & 0x1F) << 6) | (u[i + 1] & 0x3F);
			i += 2;
		} else {
			cp = 0x3F;	/* '?': not a Latin-1 letter */
			i += (u[i] & 0xF0) == 0xE0 ? 3 : 4;
		}
		if (cp >= 0xC0 && cp <= 0xFF) {
			f = latin1_fold[cp - 0xC0];
		} else if (cp >= 0x80) {
			f = "?";
		} else {
			one[0] = (char)toupper((int)cp);
			one[1] = 0;
			f = one;
		}
		for (; *f && o + 1 < outsz; f++)
			out[o++] = *f;
	}
	out[o] = 0;
	return o;
}

/* ------------------------------------------------------ identity values */

/* Append the words of a name value (letters only, folded, 2 bytes or
 * more) to id->names; *at is where the next word goes. */
static void add_name_words(struct scan_ident *id, size_t *at, const char *v,
			   size_t n)
{
	char fold[512];
	size_t len = scan_fold(v, n, fold, sizeof(fold)), i = 0;

	while (i < len) {
		size_t b, w;

		while (i < len && !isalpha((unsigned char)fold[i]))
			i++;
		b = i;
		while (i < len && isalpha((unsigned char)fold[i]))
			i++;
		w = i - b;
		if (w < 2 || *at + w + 2 > sizeof(id->names))
			continue;
		memcpy(id->names + *at, fold + b, w);
		*at += w;
		id->names[(*at)++] = 0;
		id->names[*at] = 0;
	}
	explicit_bzero(fold, sizeof(fold));
}

static int vr_of(const struct dcm_elem *e, const char *vr)
{
	char dv[3];

	if (e->vr[0] == vr[0] && e->vr[1] == vr[1])
		return 1;
	if (strcmp(e->vr, "UN") || (DCM_GROUP(e->tag) & 1))
		return 0;
	dicom_dict_vr(e->tag, NULL, dv);
	return dv[0] == vr[0] && dv[1] == vr[1];
}

static void add_date(struct scan_ident *id, const char *v, size_t n)
{
	size_t i;
	uint32_t k;

	if (n < 8 || id->ndates == SCAN_DATES_MAX)
		return;
	for (i = 0; i < 8; i++)
		if (v[i] < '0' || v[i] > '9')
			return;
	for (k = 0; k < id->ndates; k++)
		if (!memcmp(id->dates[k], v, 8))
			return;
	memcpy(id->dates[id->ndates], v, 8);
	id->dates[id->ndates++][8] = 0;
}

static void walk(const struct dcm_ds *ds, unsigned depth,
		 struct scan_ident *id, size_t *at)
{
	uint32_t i, j;

	if (depth > DCM_MAX_DEPTH)
		return;
	for (i = 0; i < ds->n; i++) {
		const struct dcm_elem *e = &ds->el[i];

		if (e->val && e->len && !e->encapsulated) {
			const char *v = (const char *)e->val;
			size_t n = e->len;

			if (vr_of(e, "PN")) {
				add_name_words(id, at, v, n);
			} else if (vr_of(e, "DA") || vr_of(e, "DT")) {
				/* a DA may hold several dates */
				size_t b = 0, k;

				for (k = 0; k <= n; k++)
					if (k == n || v[k] == '\\') {
						add_date(id, v + b, k - b);
						b = k + 1;
					}
			}
		}
		for (j = 0; j < e->nitems; j++)
			walk(&e->items[j], depth + 1, id, at);
	}
}

void scan_ident_from_ds(const struct dcm_ds *ds, struct scan_ident *id)
{
	static const uint32_t ids[] = {
		DCM_TAG(0x0010, 0x1000),	/* Other Patient IDs */
		DCM_TAG(0x0008, 0x0050),	/* Accession Number */
		DCM_TAG(0x0020, 0x0010),	/* Study ID */
	};
	size_t at = 0, i;

	memset(id, 0, sizeof(*id));
	dcm_ds_get_str(ds, DCM_TAG(0x0010, 0x0020), id->pid, sizeof(id->pid));
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		dcm_ds_get_str(ds, ids[i], id->other_ids[i],
			       sizeof(id->other_ids[i]));
	walk(ds, 0, id, &at);
}

void scan_ident_clear(struct scan_ident *id)
{
	explicit_bzero(id, sizeof(*id));
}

/* ----------------------------------------------------------- allow-list */

struct scan_allow {
	char **w;		/* folded words */
	size_t n;
};

void scan_allow_free(struct scan_allow *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++)
		free(a->w[i]);
	free(a->w);
	free(a);
}

#define ALLOW_MAX 10000
#define ALLOW_WORD_MAX 64

int scan_allow_text(const struct scan_allow *a, char **out, size_t *len)
{
	size_t i, n = 1, at = 0;
	char *buf;

	*out = NULL;
	*len = 0;
	for (i = 0; a && i < a->n; i++)
		n += strlen(a->w[i]) + 1;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	for (i = 0; a && i < a->n; i++) {
		size_t k = strlen(a->w[i]);

		memcpy(buf + at, a->w[i], k);
		at += k;
		buf[at++] = '\n';
	}
	buf[at] = 0;
	*out = buf;
	*len = at;
	return 0;
}

int scan_allow_parse(const char *buf, size_t len, struct scan_allow **out,
		     char *err, size_t errsz)
{
	struct scan_allow *a = calloc(1, sizeof(*a));
	size_t i = 0, line = 0;
	int ret = 0;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	while (i < len && !ret) {
		const char *s = buf + i, *e = memchr(s, '\n', len - i);
		size_t n = e ? (size_t)(e - s) : len - i;
		char fold[ALLOW_WORD_MAX + 1];

		i += n + 1;
		line++;
		if (memchr(s, '#', n))
			n = (size_t)((const char *)memchr(s, '#', n) - s);
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		if (!n)
			continue;
		if (n > ALLOW_WORD_MAX || memchr(s, ' ', n) ||
		    memchr(s, '\t', n) || memchr(s, 0, n)) {
			snprintf(err, errsz, "line %zu: one word of at most "
					     "%d bytes a line", line,
				 ALLOW_WORD_MAX);
			ret = -EINVAL;
			break;
		}
		if (a->n == ALLOW_MAX) {
			snprintf(err, errsz, "more than %d words", ALLOW_MAX);
			ret = -EINVAL;
			break;
		}
		if (!(a->n & (a->n + 1)) || !a->w) {
			void *p = realloc(a->w, (a->n * 2 + 2) * sizeof(char *));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			a->w = p;
		}
		scan_fold(s, n, fold, sizeof(fold));
		a->w[a->n] = strdup(fold);
		if (!a->w[a->n]) {
			ret = -ENOMEM;
			break;
		}
		a->n++;
	}
	if (ret)
		scan_allow_free(a);
	else
		*out = a;
	return ret;
}

static int allowed(const struct scan_allow *a, const char *w)
{
	size_t i;

	for (i = 0; a && i < a->n; i++)
		if (!strcmp(a->w[i], w))
			return 1;
	return 0;
}

/* -------------------------------------------------------- classifying */

/* Laterality and view markers of mammography (PS3.16 CID 4014 and the
 * usual abbreviations), anode/filter materials, and a few words the
 * modalities print beside them. */
static const char *const markers[] = {
	"L", "R", "LT", "RT", "LEFT", "RIGHT", "CC", "MLO", "ML", "LM", "LMO",
	"XCCL", "XCCM", "FB", "SIO", "AT", "RCC", "LCC", "RMLO", "LMLO",
	"RML", "LML", "RLM", "LLM", "RXCCL", "LXCCL", "RXCCM", "LXCCM",
	"ID", "MAG", "SPOT", "CV", "RL", "RM", "LL", "TAN", "IMF",
	"MO", "RH", "W", "AG", "AL", "CU",
	NULL,
};

/* Technique units after (or apart from) a number. */
static const char *const units[] = {
	"KV", "KVP", "MAS", "MA", "MS", "S", "MM", "CM", "N", "DAN", "KG",
	"MGY", "GY", "%", "DEG", NULL,
};

static int in_list(const char *const *l, const char *w)
{
	for (; *l; l++)
		if (!strcmp(*l, w))
			return 1;
	return 0;
}

/* A technique value: up to 4 digits, an optional decimal part (1
 * digit... 2), and an optional unit; or a unit alone. */
static int technique(const char *w)
{
	size_t d = 0, f = 0;

	while (isdigit((unsigned char)*w)) {
		w++;
		d++;
	}
	if (d && (*w == '.' || *w == ',') && isdigit((unsigned char)w[1])) {
		w++;
		while (isdigit((unsigned char)*w)) {
			w++;
			f++;
		}
	}
	if (d > 4 || f > 2)
		return 0;
	if (!*w)
		return d > 0;
	return in_list(units, w);
}

/* Whether a folded word (punctuation at its ends already gone) is
 * harmless; parts joined by '/' are judged one by one (Mo/Rh). */
static int harmless_word(const char *w, const struct scan_allow *allow)
{
	char part[64];
	const char *s = w;

	if (allowed(allow, w) || in_list(markers, w) || technique(w))
		return 1;
	if (!strchr(w, '/'))
		return 0;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (!n || n >= sizeof(part))
			return 0;
		memcpy(part, s, n);
		part[n] = 0;
		/* materials and markers only: numbers joined by '/'
		 * are a date */
		if (!in_list(markers, part) && !allowed(allow, part))
			return 0;
		s += n;
		if (*s)
			s++;
	}
	return 1;
}

/* Whether the folded word w is one of id's name words. */
static int name_word(const struct scan_ident *id, const char *w, size_t n)
{
	const char *p = id->names;

	while (*p) {
		size_t l = strlen(p);

		if (l == n && !memcmp(p, w, n))
			return 1;
		p += l + 1;
	}
	return 0;
}

/* s holds the three parts a, b, c of a date joined by sep (0: none). */
static int holds_parts(const char *s, const char *a, size_t an,
		       const char *b, size_t bn, const char *c, size_t cn,
		       char sep)
{
	char f[16];
	size_t n = 0;

	memcpy(f + n, a, an);
	n += an;
	if (sep)
		f[n++] = sep;
	memcpy(f + n, b, bn);
	n += bn;
	if (sep)
		f[n++] = sep;
	memcpy(f + n, c, cn);
	n += cn;
	f[n] = 0;
	return strstr(s, f) != NULL;
}

/* Whether the date d (YYYYMMDD) is written in s in one of the common
 * forms: year first (20240601, 2024-06-01, 2024.06.01, 2024/06/01), day
 * first with 4 or 2 year digits and '.', '/', '-', ' ' or nothing between
 * (01.06.2024, 010624), or day and month without leading zeros
 * (1.6.2024). */
static int holds_date(const char *s, const char *d)
{
	static const char seps[] = { 0, '.', '/', '-', ' ' };
	const char *dd = d + 6, *mm = d + 4;
	size_t i, dn = 2, mn = 2;

	for (i = 0; i < sizeof(seps); i++)
		if ((seps[i] != ' ' &&
		     holds_parts(s, d, 4, mm, 2, dd, 2, seps[i])) ||
		    holds_parts(s, dd, 2, mm, 2, d, 4, seps[i]) ||
		    holds_parts(s, dd, 2, mm, 2, d + 2, 2, seps[i]))
			return 1;
	if (*dd == '0') {
		dd++;
		dn = 1;
	}
	if (*mm == '0') {
		mm++;
		mn = 1;
	}
	return holds_parts(s, dd, dn, mm, mn, d, 4, '.') ||
	       holds_parts(s, dd, dn, mm, mn, d, 4, '/');
}

/* Whether s holds something shaped like a date: d.m.y, d/m/y, d-m-y with
 * 1-2, 1-2 and 2 or 4 digits, y-m-d with 4, 1-2, 1-2 digits. */
static int date_shaped(const char *s)
{
	const char *start = s;

	for (; *s; s++) {
		size_t a = 0, b = 0, c = 0;
		const char *p = s;
		char sep;

		if (!isdigit((unsigned char)*s) ||
		    (s > start && isdigit((unsigned char)s[-1])))
			continue;
		while (isdigit((unsigned char)p[a]))
			a++;
		sep = p[a];
		if (sep != '.' && sep != '/' && sep != '-')
			continue;
		p += a + 1;
		while (isdigit((unsigned char)p[b]))
			b++;
		if (p[b] != sep && !(sep == '/' && p[b] == '-'))
			continue;
		p += b + 1;
		while (isdigit((unsigned char)p[c]))
			c++;
		if (b < 1 || b > 2)
			continue;
		if (a >= 1 && a <= 2 && (c == 2 || c == 4))
			return 1;
		if (a == 4 && c >= 1 && c <= 2)
			return 1;
	}
	return 0;
}

/* Whether s holds a run of 8 digits that reads as a date of 1900-2099. */
static int compact_date(const char *s)
{
	for (; *s; s++) {
		size_t n = 0;
		int m, dd;

		while (isdigit((unsigned char)s[n]))
			n++;
		if (n == 8 && (!strncmp(s, "19", 2) || !strncmp(s, "20", 2))) {
			m = (s[4] - '0') * 10 + (s[5] - '0');
			dd = (s[6] - '0') * 10 + (s[7] - '0');
			if (m >= 1 && m <= 12 && dd >= 1 && dd <= 31)
				return 1;
		}
		s += n ? n - 1 : 0;
	}
	return 0;
}

uint32_t scan_line_kind(const char *line, const struct scan_ident *id,
			const struct scan_allow *allow)
{
	char fold[1024], word[256];
	size_t len = scan_fold(line, strlen(line), fold, sizeof(fold));
	uint32_t kind = 0;
	size_t i = 0, k;
	int any = 0;

	/* word by word: harmless or not */
	while (i < len) {
		size_t b, n, alnum = 0;

		while (i < len && fold[i] == ' ')
			i++;
		b = i;
		while (i < len && fold[i] != ' ')
			i++;
		/* punctuation around a word is no word ("L:", "(CC)") */
		while (b < i && !isalnum((unsigned char)fold[b]) &&
		       fold[b] != '%')
			b++;
		n = i - b;
		while (n && !isalnum((unsigned char)fold[b + n - 1]) &&
		       fold[b + n - 1] != '%')
			n--;
		for (k = 0; k < n; k++)
			alnum += isalnum((unsigned char)fold[b + k]) != 0;
		if (!alnum || n >= sizeof(word))
			continue;
		memcpy(word, fold + b, n);
		word[n] = 0;
		any = 1;
		if (!harmless_word(word, allow))
			kind |= SCAN_K_TEXT;
	}
	if (!any) {
		explicit_bzero(fold, sizeof(fold));
		explicit_bzero(word, sizeof(word));
		return 0;
	}
	if (!(kind & SCAN_K_TEXT)) {
		explicit_bzero(fold, sizeof(fold));
		explicit_bzero(word, sizeof(word));
		return SCAN_K_HARMLESS;
	}
	/* what the text holds: name words (letters only, as collected; an
	 * O that OCR read as 0 or @, as it does with Ø, is an O) */
	if (id) {
		char nm[sizeof(fold)];

		for (i = 0; i < len; i++) {
			int near = (i && isalpha((unsigned char)fold[i - 1])) ||
				   isalpha((unsigned char)fold[i + 1]);

			nm[i] = fold[i] == '@' || (fold[i] == '0' && near)
					? 'O' : fold[i];
		}
		for (i = 0; i < len;) {
			size_t b;

			while (i < len && !isalpha((unsigned char)nm[i]))
				i++;
			b = i;
			while (i < len && isalpha((unsigned char)nm[i]))
				i++;
			if (i - b >= 2 && name_word(id, nm + b, i - b))
				kind |= SCAN_K_NAME;
		}
		explicit_bzero(nm, sizeof(nm));
		for (k = 0; k < id->ndates; k++)
			if (holds_date(fold, id->dates[k]))
				kind |= SCAN_K_DATE;
		if (ident_holds_personal_id(fold, len, id->pid[0] ? id->pid
								 : NULL))
			kind |= SCAN_K_ID;
		for (k = 0; k < 3; k++)
			if (strlen(id->other_ids[k]) >= 6 &&
			    strstr(fold, id->other_ids[k]))
				kind |= SCAN_K_ID;
	} else if (ident_holds_personal_id(fold, len, NULL)) {
		kind |= SCAN_K_ID;
	}
	if (date_shaped(fold) || compact_date(fold))
		kind |= SCAN_K_DATE;
	explicit_bzero(fold, sizeof(fold));
	explicit_bzero(word, sizeof(word));
	return kind;
}

const char *scan_kind_name(uint32_t kinds)
{
	if (kinds & SCAN_K_ID)
		return "personal-id";
	if (kinds & SCAN_K_NAME)
		return "name";
	if (kinds & SCAN_K_DATE)
		return "date";
	return "text";
}
