/*
 * rules_terms.c - the vocabularies of CS attributes, from the compiled-in
 * fs/data/cs-terms.tsv (see rules_terms.h).
 *
 * A row names a tag (with its keyword, one per tag, rows of a tag
 * together), the value positions a term may take ("*", "N" or "N+"), the
 * term, and where the standard defines it.  The terms are sorted by tag,
 * term and position for lookups; each attribute's vocabulary is its run of
 * terms.
 */
#include "rules_terms.h"
#include "rules_table.h"
#include "rules_tsv.h"
#include "dcm.h"
#include "tables.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const ct_cols[] = { "tag", "keyword", "value", "term",
				       "ref" };
#define CT_NCOLS (sizeof(ct_cols) / sizeof(ct_cols[0]))
#define CT_TERM_MAX 64		/* LO: Rescale Type */
#define CT_POS_ANY 255		/* "N+": value N and beyond */

struct cs_term {
	uint32_t tag;
	uint8_t first, last;	/* value positions, from 1 */
	uint8_t len;
	const char *p;		/* into the compiled-in table, not
				 * NUL-terminated */
};

struct rules_terms {
	struct cs_term *terms;	/* sorted by tag, term, position */
	size_t nterms;
	struct rules_vocab *vocab;	/* sorted by tag */
	size_t nvocab;
};

/* The rows being read: the keyword of the current tag, and the room. */
struct loader {
	const char *kw;
	size_t kwn;
	size_t cap;
};

static int cmp_term_key(uint32_t tag, const char *p, size_t n,
			const struct cs_term *b)
{
	size_t m = n < b->len ? n : b->len;
	int d;

	if (tag != b->tag)
		return tag < b->tag ? -1 : 1;
	d = memcmp(p, b->p, m);
	if (d)
		return d;
	return n < b->len ? -1 : n > b->len;
}

static int cmp_term(const void *a, const void *b)
{
	const struct cs_term *x = a, *y = b;
	int d = cmp_term_key(x->tag, x->p, x->len, y);

	if (d)
		return d;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* "*", "N" or "N+" (1 <= N <= 99): the value positions a term may take. */
static int parse_pos(const struct rules_tsv_field *f, uint8_t *first,
		     uint8_t *last)
{
	size_t i = 0;
	unsigned v = 0;

	if (rules_tsv_field_is(f, "*")) {
		*first = 1;
		*last = CT_POS_ANY;
		return 0;
	}
	for (; i < f->n && i < 2 && f->p[i] >= '0' && f->p[i] <= '9'; i++)
		v = v * 10 + (unsigned)(f->p[i] - '0');
	if (!i || !v || (i < f->n && (f->p[i] != '+' || i + 1 != f->n)) ||
	    (i == f->n && f->n > 2))
		return -EBADMSG;
	*first = (uint8_t)v;
	*last = i < f->n ? CT_POS_ANY : (uint8_t)v;
	return 0;
}

/* A term as a kept CS value may hold it: upper case, digits, space, '_'
 * (PS3.5 6.2), no leading or trailing space. */
static int term_ok(const struct rules_tsv_field *f)
{
	size_t i;

	if (!f->n || f->n > CT_TERM_MAX || f->p[0] == ' ' ||
	    f->p[f->n - 1] == ' ')
		return 0;
	for (i = 0; i < f->n; i++)
		if (!((f->p[i] >= 'A' && f->p[i] <= 'Z') ||
		      (f->p[i] >= '0' && f->p[i] <= '9') || f->p[i] == ' ' ||
		      f->p[i] == '_'))
			return 0;
	return 1;
}

/* The comment lines at the top say where the terms come from. */
static int skip_comments(const char *text, size_t *pos)
{
	while (text[*pos] == '#') {
		const char *nl = strchr(text + *pos, '\n');

		if (!nl)
			return -EBADMSG;
		*pos = (size_t)(nl - text) + 1;
	}
	return 0;
}

/* Add the term of one row, and its tag's vocabulary when the row is the
 * tag's first. */
static int add_row(struct rules_terms *t, struct loader *ld,
		   const struct rules_tsv_field *f)
{
	struct cs_term *term;
	struct rules_vocab *v;
	uint32_t tag, mask;
	size_t i;

	if (t->nterms >= ld->cap || rules_tsv_tag(&f[0], &tag, &mask) ||
	    mask != 0xffffffffu || (DCM_GROUP(tag) & 1) ||
	    !f[1].n || !f[4].n || !term_ok(&f[3]))
		return -EBADMSG;
	term = &t->terms[t->nterms];
	if (parse_pos(&f[2], &term->first, &term->last))
		return -EBADMSG;
	/* one keyword per tag, rows of a tag together */
	if (t->nterms && t->terms[t->nterms - 1].tag == tag) {
		if (f[1].n != ld->kwn || memcmp(f[1].p, ld->kw, ld->kwn))
			return -EBADMSG;
	} else {
		for (i = 0; i < t->nvocab; i++)
			if (t->vocab[i].tag == tag)
				return -EBADMSG;
		t->vocab[t->nvocab].tag = tag;
		t->vocab[t->nvocab++].first = (uint32_t)t->nterms;
		ld->kw = f[1].p;
		ld->kwn = f[1].n;
	}
	term->tag = tag;
	term->p = f[3].p;
	term->len = (uint8_t)f[3].n;
	v = &t->vocab[t->nvocab - 1];
	v->n++;
	if (term->first > v->keep)
		v->keep = term->first;
	t->nterms++;
	return 0;
}

/* The same term listed twice for overlapping positions (terms sorted). */
static int overlaps(const struct rules_terms *t)
{
	size_t i;

	for (i = 0; i + 1 < t->nterms; i++) {
		const struct cs_term *a = &t->terms[i], *b = a + 1;

		if (a->tag == b->tag && a->len == b->len &&
		    !memcmp(a->p, b->p, a->len) && b->first <= a->last)
			return 1;
	}
	return 0;
}

/* Point each vocabulary at its terms once they are sorted, and say which
 * values it keeps however empty. */
static void index_vocab(struct rules_terms *t)
{
	size_t i;

	for (i = 0; i < t->nvocab; i++) {
		struct rules_vocab *v = &t->vocab[i];
		size_t lo = 0, hi = t->nterms, k;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (t->terms[mid].tag < v->tag)
				lo = mid + 1;
			else
				hi = mid;
		}
		v->first = (uint32_t)lo;
		/* "*" rows say nothing about positions */
		if (v->keep != 1)
			continue;
		for (k = lo; k < lo + v->n; k++)
			if (t->terms[k].last != CT_POS_ANY ||
			    t->terms[k].first != 1)
				break;
		if (k == lo + v->n)
			v->keep = 0;
	}
}

static int load(struct rules_terms *t)
{
	const char *text = tables_cs_terms_tsv;
	struct rules_tsv_field f[CT_NCOLS];
	struct loader ld = { NULL, 0, 0 };
	size_t pos = 0;
	int err;

	err = skip_comments(text, &pos);
	if (err)
		return err;
	ld.cap = rules_tsv_count_lines(text + pos);
	err = rules_tsv_header(text, &pos, ct_cols, CT_NCOLS);
	if (err)
		return err;
	t->terms = calloc(ld.cap, sizeof(*t->terms));
	t->vocab = calloc(ld.cap, sizeof(*t->vocab));
	if (!t->terms || !t->vocab)
		return -ENOMEM;
	while ((err = rules_tsv_next_line(text, &pos, f, CT_NCOLS)) == 1) {
		err = add_row(t, &ld, f);
		if (err)
			return err;
	}
	if (err < 0)
		return err;
	qsort(t->terms, t->nterms, sizeof(*t->terms), cmp_term);
	qsort(t->vocab, t->nvocab, sizeof(*t->vocab), rules_tsv_cmp_tag);
	if (overlaps(t))
		return -EBADMSG;
	index_vocab(t);
	return 0;
}

int rules_terms_new(struct rules_terms **out)
{
	struct rules_terms *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = load(t);
	if (err) {
		rules_terms_free(t);
		return err;
	}
	*out = t;
	return 0;
}

void rules_terms_free(struct rules_terms *t)
{
	if (!t)
		return;
	free(t->terms);
	free(t->vocab);
	free(t);
}

/* (rules_tsv_cmp_tag compares the leading tag.) */
const struct rules_vocab *rules_terms_vocab(const struct rules_terms *t,
					    uint32_t tag)
{
	return bsearch(&tag, t->vocab, t->nvocab, sizeof(*t->vocab),
		       rules_tsv_cmp_tag);
}

int rules_terms_has(const struct rules_terms *t, const struct rules_vocab *v,
		    size_t pos, const char *p, size_t n)
{
	const struct cs_term *term = t->terms + v->first;
	size_t lo = 0, hi = v->n, k;

	if (n > CT_TERM_MAX)
		return 0;
	if (pos > CT_POS_ANY)
		pos = CT_POS_ANY;
	while (lo < hi) {	/* the first row of the term, if any */
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_term_key(v->tag, p, n, &term[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < v->n && !cmp_term_key(v->tag, p, n, &term[k]); k++)
		if (term[k].first <= pos && pos <= term[k].last)
			return 1;
	return 0;
}

int rules_cs_term(const struct rules *r, uint32_t tag, unsigned pos,
		  const char *term)
{
	const struct rules_terms *t = rules_table_terms(r);
	const struct rules_vocab *v = rules_terms_vocab(t, tag);

	if (!v)
		return -ENOENT;
	return pos && rules_terms_has(t, v, pos, term, strlen(term));
}
