/*
 * layout.c - the --layout template language (see include/layout.h).
 */
#include "layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum var {
	V_LITERAL = 0,
	V_PATIENT,
	V_STUDY_MONTH,
	V_STUDY_YEAR,
	V_STUDY_ORDINAL,
	V_SERIES_NUMBER,
	V_SERIES_ORDINAL,
	V_MODALITY,
	V_INSTANCE_NUMBER,
	V_INSTANCE_ORDINAL,
	V_LATERALITY,
	V_VIEW,
};

static const struct {
	const char *name;
	enum var var;
	enum layout_level level;
	int numeric;
} vars[] = {
	{ "patient", V_PATIENT, LAYOUT_PATIENT, 0 },
	{ "study_month", V_STUDY_MONTH, LAYOUT_STUDY, 0 },
	{ "study_year", V_STUDY_YEAR, LAYOUT_STUDY, 0 },
	{ "study_ordinal", V_STUDY_ORDINAL, LAYOUT_STUDY, 1 },
	{ "series_number", V_SERIES_NUMBER, LAYOUT_SERIES, 1 },
	{ "series_ordinal", V_SERIES_ORDINAL, LAYOUT_SERIES, 1 },
	{ "modality", V_MODALITY, LAYOUT_SERIES, 0 },
	{ "instance_number", V_INSTANCE_NUMBER, LAYOUT_INSTANCE, 1 },
	{ "instance_ordinal", V_INSTANCE_ORDINAL, LAYOUT_INSTANCE, 1 },
	{ "laterality", V_LATERALITY, LAYOUT_INSTANCE, 0 },
	{ "view", V_VIEW, LAYOUT_INSTANCE, 0 },
};

#define MAX_PARTS 32

struct part {
	enum var var;
	unsigned width;		/* zero padding for numbers, 0 = none */
	char *text;		/* V_LITERAL: owned */
};

struct component {
	struct part parts[MAX_PARTS];
	unsigned nparts;
	enum layout_level level;
};

struct layout {
	struct component comp[LAYOUT_MAX_COMPONENTS];
	unsigned ncomp;
};

static int literal_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
	       c == '=' || c == '-' || c == ' ';
}

void layout_free(struct layout *l)
{
	unsigned i, j;

	if (!l)
		return;
	for (i = 0; i < l->ncomp; i++)
		for (j = 0; j < l->comp[i].nparts; j++)
			free(l->comp[i].parts[j].text);
	free(l);
}

static int add_literal(struct component *c, const char *s, size_t n)
{
	struct part *p;

	if (!n)
		return 0;
	if (c->nparts == MAX_PARTS)
		return -E2BIG;
	p = &c->parts[c->nparts];
	p->text = strndup(s, n);
	if (!p->text)
		return -ENOMEM;
	p->var = V_LITERAL;
	p->width = 0;
	c->nparts++;
	return 0;
}

/* A variable "{name}" or "{name:w}" at *s into component c; *s moves past
 * it.  Returns 0 or -EINVAL (err says why). */
static int parse_variable(struct component *c, const char **sp, char *err,
			  size_t errsz)
{
	const char *s = *sp, *end = strchr(s, '}'), *colon;
	size_t nlen, i;
	unsigned width = 0;

	if (!end) {
		snprintf(err, errsz, "layout: '{' without '}'");
		return -EINVAL;
	}
	colon = memchr(s, ':', (size_t)(end - s));
	nlen = (size_t)((colon ? colon : end) - (s + 1));
	if (colon) {
		const char *d = colon + 1;

		if (d == end || end - d > 1 || *d < '1' || *d > '9') {
			snprintf(err, errsz, "layout: width must be 1-9");
			return -EINVAL;
		}
		width = (unsigned)(*d - '0');
	}
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strlen(vars[i].name) == nlen &&
		    memcmp(vars[i].name, s + 1, nlen) == 0)
			break;
	if (i == sizeof(vars) / sizeof(vars[0])) {
		snprintf(err, errsz, "layout: unknown variable '%.*s'",
			 (int)(nlen > 40 ? 40 : nlen), s + 1);
		return -EINVAL;
	}
	if (width && !vars[i].numeric) {
		snprintf(err, errsz, "layout: width on a text variable");
		return -EINVAL;
	}
	if (c->nparts == MAX_PARTS) {
		snprintf(err, errsz, "layout: too many parts");
		return -EINVAL;
	}
	c->parts[c->nparts].var = vars[i].var;
	c->parts[c->nparts].width = width;
	c->parts[c->nparts].text = NULL;
	c->nparts++;
	if (vars[i].level > c->level)
		c->level = vars[i].level;
	*sp = end + 1;
	return 0;
}

int layout_parse(const char *tmpl, struct layout **out, char *err,
		 size_t errsz)
{
	struct layout *l;
	struct component *c;
	const char *s = tmpl, *lit;
	size_t len = strlen(tmpl);
	int ret = -EINVAL;

	*out = NULL;
	if (len == 0 || len > LAYOUT_MAX_TEMPLATE) {
		snprintf(err, errsz, "layout: empty or longer than %d bytes",
			 LAYOUT_MAX_TEMPLATE);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (*s == '/') {
		snprintf(err, errsz, "layout: must be a relative path");
		goto fail;
	}
	c = &l->comp[0];
	l->ncomp = 1;
	lit = s;
	while (*s) {
		if (*s == '/') {
			ret = add_literal(c, lit, (size_t)(s - lit));
			if (ret)
				goto fail_ret;
			if (c->nparts == 0) {
				snprintf(err, errsz,
					 "layout: empty path component");
				ret = -EINVAL;
				goto fail;
			}
			if (l->ncomp == LAYOUT_MAX_COMPONENTS) {
				snprintf(err, errsz,
					 "layout: more than %d components",
					 LAYOUT_MAX_COMPONENTS);
				ret = -EINVAL;
				goto fail;
			}
			c = &l->comp[l->ncomp++];
			lit = ++s;
			continue;
		}
		if (*s == '{') {
			ret = add_literal(c, lit, (size_t)(s - lit));
			if (ret)
				goto fail_ret;
			ret = parse_variable(c, &s, err, errsz);
			if (ret)
				goto fail;
			lit = s;
			continue;
		}
		if (!literal_ok(*s)) {
			snprintf(err, errsz,
				 "layout: character 0x%02x not allowed (use "
				 "letters, digits, '.', '_', '+', '=', '-', "
				 "space)",
				 (unsigned char)*s);
			ret = -EINVAL;
			goto fail;
		}
		s++;
	}
	ret = add_literal(c, lit, (size_t)(s - lit));
	if (ret)
		goto fail_ret;
	if (c->nparts == 0) {
		snprintf(err, errsz, "layout: empty file name");
		ret = -EINVAL;
		goto fail;
	}
	/* "." and ".." would escape; a leading '.' would hide the entry. */
	for (unsigned i = 0; i < l->ncomp; i++) {
		struct component *ci = &l->comp[i];

		if (ci->parts[0].var == V_LITERAL && ci->parts[0].text[0] == '.') {
			snprintf(err, errsz,
				 "layout: a component may not start with '.'");
			ret = -EINVAL;
			goto fail;
		}
	}
	/* The file name always identifies one instance. */
	l->comp[l->ncomp - 1].level = LAYOUT_INSTANCE;
	*out = l;
	return 0;
fail_ret:
	if (ret == -E2BIG)
		snprintf(err, errsz, "layout: too many parts");
	else if (ret == -ENOMEM)
		snprintf(err, errsz, "out of memory");
	if (ret == -E2BIG)
		ret = -EINVAL;
fail:
	layout_free(l);
	return ret;
}

unsigned layout_ncomponents(const struct layout *l)
{
	return l->ncomp;
}

enum layout_level layout_component_level(const struct layout *l, unsigned i)
{
	return i < l->ncomp ? l->comp[i].level : LAYOUT_NONE;
}

/* Append s sanitised: keep [A-Za-z0-9.+=-], map anything else to '_'. */
static int put_text(char *buf, size_t bufsz, size_t *at, const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		s = "unknown";
	for (; *s; s++, n++) {
		char c = *s;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '+' ||
		      c == '='))
			c = '_';
		if (*at + 1 >= bufsz)
			return -ENAMETOOLONG;
		buf[(*at)++] = c;
	}
	return 0;
}

static int put_num(char *buf, size_t bufsz, size_t *at, int64_t v,
		   int absent, unsigned width)
{
	char tmp[32];
	int n;

	if (absent)
		n = snprintf(tmp, sizeof(tmp), "x");
	else
		n = snprintf(tmp, sizeof(tmp), "%0*" PRId64, (int)width, v);
	if (n < 0 || *at + (size_t)n + 1 > bufsz)
		return -ENAMETOOLONG;
	memcpy(buf + *at, tmp, (size_t)n);
	*at += (size_t)n;
	return 0;
}

/*
 * Names come only from validated values: a number or a code that a writer
 * filled with a date, a personal ID or a name must not become a folder or
 * file name.  Numbers beyond LAYOUT_MAX_NUMBER render as absent ("x": no
 * series or instance number of a real archive is that large, but a date
 * or a personal ID is); codes render only when they are one of the
 * standard's terms for that attribute, otherwise as absent ("unknown").
 */
#define LAYOUT_MAX_NUMBER 99999

static int num_ok(int64_t v)
{
	return v != INT64_MIN && v >= -LAYOUT_MAX_NUMBER &&
	       v <= LAYOUT_MAX_NUMBER;
}

/* The first value of a CS string (up to '\\', spaces trimmed) if it is
 * one of terms (NULL-terminated), else NULL. */
static const char *term(const char *s, const char *const *terms)
{
	size_t n;

	if (!s)
		return NULL;
	while (*s == ' ')
		s++;
	n = strcspn(s, "\\");
	while (n && s[n - 1] == ' ')
		n--;
	for (; *terms; terms++)
		if (strlen(*terms) == n && !memcmp(*terms, s, n))
			return *terms;
	return NULL;
}

/* PS3.3 C.7.3.1.1.1 Modality defined terms, retired ones included. */
static const char *const modality_terms[] = {
	"ANN", "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CFM", "CD", "CP",
	"CR", "CS", "CT", "CTPROTOCOL", "DD", "DF", "DG", "DM", "DMS", "DOC",
	"DS", "DX", "EC", "ECG", "EPS", "ES", "FA", "FID", "FS", "GM", "HC",
	"HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "KO", "LEN", "LP", "LS",
	"MA", "MG", "MR", "MS", "NM", "OAM", "OCT", "OP", "OPM", "OPR", "OPT",
	"OPTBSV", "OPTENF", "OPV", "OSS", "OT", "PA", "PLAN", "POS", "PR",
	"PT", "PX", "REG", "RESP", "RF", "RG", "RTDOSE", "RTIMAGE", "RTINTENT",
	"RTPLAN", "RTRAD", "RTRECORD", "RTSEGANN", "RTSTRUCT", "RWV", "SEG",
	"SM", "SMR", "SR", "SRF", "ST", "STAIN", "TEXTUREMAP", "TG", "US",
	"VA", "VF", "XA", "XAPROTOCOL", "XC", NULL
};

/* Image Laterality (0020,0062) enumerated values; Laterality (0020,0060)
 * uses L and R of them. */
static const char *const laterality_terms[] = { "L", "R", "B", "U", NULL };

/* View Position (0018,5101): the radiographic terms of PS3.3 C.8.11.5.1.1
 * and the mammographic views of CID 4014 as modalities write them. */
static const char *const view_terms[] = {
	"AP", "PA", "LL", "RL", "RLD", "LLD", "RLO", "LLO", "CC", "FB",
	"LM", "LMO", "ML", "MLO", "SIO", "ISO", "XCC", "XCCL", "XCCM", "CV",
	"AT", NULL
};

static int valid_date(const char *d)
{
	int i;

	if (!d)
		return 0;
	for (i = 0; i < 8; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	return d[8] == 0 && !(d[4] == '0' && d[5] == '0') &&
	       ((d[4] - '0') * 10 + (d[5] - '0')) <= 12;
}

int layout_has_month(const struct layout *l)
{
	unsigned i, j;

	for (i = 0; l && i < l->ncomp; i++)
		for (j = 0; j < l->comp[i].nparts; j++)
			if (l->comp[i].parts[j].var == V_STUDY_MONTH)
				return 1;
	return 0;
}

int layout_month(const char *study_date, char out[8])
{
	if (!valid_date(study_date))
		return -EINVAL;
	snprintf(out, 8, "%.4s-%.2s", study_date, study_date + 4);
	return 0;
}

int layout_render(const struct layout *l, unsigned i,
		  const struct layout_values *v, char *buf, size_t bufsz)
{
	const struct component *c;
	size_t at = 0;
	unsigned j;
	int err = 0;

	if (i >= l->ncomp || bufsz == 0)
		return -EINVAL;
	if (bufsz > LAYOUT_MAX_NAME + 1)
		bufsz = LAYOUT_MAX_NAME + 1;
	c = &l->comp[i];
	for (j = 0; j < c->nparts && !err; j++) {
		const struct part *p = &c->parts[j];
		char tmp[8];

		switch (p->var) {
		case V_LITERAL:
			if (at + strlen(p->text) + 1 > bufsz)
				return -ENAMETOOLONG;
			memcpy(buf + at, p->text, strlen(p->text));
			at += strlen(p->text);
			break;
		case V_PATIENT:
			err = put_text(buf, bufsz, &at, v->patient);
			break;
		case V_STUDY_MONTH:
		case V_STUDY_YEAR:
			if (!valid_date(v->study_date)) {
				err = put_text(buf, bufsz, &at, NULL);
				break;
			}
			if (p->var == V_STUDY_MONTH)
				layout_month(v->study_date, tmp);
			else
				snprintf(tmp, sizeof(tmp), "%.4s",
					 v->study_date);
			err = put_text(buf, bufsz, &at, tmp);
			break;
		case V_STUDY_ORDINAL:
			err = put_num(buf, bufsz, &at, (int64_t)v->study_ordinal,
				      0, p->width);
			break;
		case V_SERIES_NUMBER:
			err = put_num(buf, bufsz, &at, v->series_number,
				      !num_ok(v->series_number), p->width);
			break;
		case V_SERIES_ORDINAL:
			err = put_num(buf, bufsz, &at,
				      (int64_t)v->series_ordinal, 0, p->width);
			break;
		case V_MODALITY:
			err = put_text(buf, bufsz, &at,
				       term(v->modality, modality_terms));
			break;
		case V_INSTANCE_NUMBER:
			err = put_num(buf, bufsz, &at, v->instance_number,
				      !num_ok(v->instance_number), p->width);
			break;
		case V_INSTANCE_ORDINAL:
			err = put_num(buf, bufsz, &at,
				      (int64_t)v->instance_ordinal, 0,
				      p->width);
			break;
		case V_LATERALITY:
			err = put_text(buf, bufsz, &at,
				       term(v->laterality, laterality_terms));
			break;
		case V_VIEW:
			err = put_text(buf, bufsz, &at,
				       term(v->view, view_terms));
			break;
		}
	}
	if (err)
		return err;
	buf[at] = 0;
	return (int)at;
}

int layout_suffix(const char *name, int last, uint64_t n, char *buf,
		  size_t bufsz)
{
	const char *dot = last ? strrchr(name, '.') : NULL;
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	int len;

	if (bufsz > LAYOUT_MAX_NAME + 1)
		bufsz = LAYOUT_MAX_NAME + 1;
	len = snprintf(buf, bufsz, "%.*s_%" PRIu64 "%s", (int)stem, name, n,
		       name + stem);
	if (len < 0 || (size_t)len >= bufsz)
		return -ENAMETOOLONG;
	return len;
}
