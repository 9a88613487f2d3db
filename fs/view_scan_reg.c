/*
 * view_scan_reg.c - a view step: text read off the pixels matched against
 * the registry row of the file's woman (view_scan.h: view_scan_registry()).
 *
 * The index scans the pixels before the registry CSV is read (the cohort
 * is linked after it), and the CSV may change from run to run; so what
 * the scan keeps of identifying text is a keyed digest of each of its
 * forms (scan_tokens.c), and every view build, with the CSV as it is now,
 * digests the identifying cells of the rows that link the file (the
 * personal ID, the date columns, the dropped columns such as the
 * invitation number: registry_row_originals()) in the same forms and
 * looks for them among the file's.  A match only names the reason's kind
 * (burned-in-text:registry-value, :registry-date): the file was
 * quarantined for its text already, whatever the match says.  Nothing is
 * kept of it: a changed CSV gives the answer of the new CSV.
 */
#include "view_cohort.h"
#include "view_scan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

struct regmatch {
	const struct view_engine *e;
	const char *tokens;	/* the file's digests, sorted, ',' between */
	int hit_value, hit_date;	/* of the file */
	int cell_w, cell_d;		/* of the cell being looked for */
};

/* Whether the 16 hex digits t are in the file's list (a short list:
 * a scan keeps at most SCAN_TOKENS_MAX). */
static int listed(const char *list, const char *t)
{
	for (const char *p = list; *p;) {
		if (!strncmp(p, t, 16) && (p[16] == ',' || !p[16]))
			return 1;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return 0;
}

static void on_form(void *arg, const char *form, size_t n)
{
	struct regmatch *m = arg;
	uint8_t sha[32];
	char t[17];

	scan_token_sha(form, n, sha);
	view_scan_token_key(m->e, sha, t);
	if (listed(m->tokens, t)) {
		if (form[0] == 'D')
			m->cell_d = 1;
		else
			m->cell_w = 1;
	}
	explicit_bzero(sha, sizeof(sha));
}

static int on_cell(void *arg, enum registry_orig kind, const char *cell,
		   size_t n)
{
	struct regmatch *m = arg;

	m->cell_w = m->cell_d = 0;
	if (kind == REGISTRY_ORIG_DATE && n == 8) {
		char f[9];

		f[0] = 'D';
		memcpy(f + 1, cell, 8);
		on_form(m, f, 9);
		explicit_bzero(f, sizeof(f));
	} else {
		/* the personal ID, a dropped column, a date cell that is
		 * not a date: as a whole, and its runs of words */
		scan_token_forms(cell, n, 1, on_form, m);
	}
	/* a cell read as a date is a date (its digits alone match too) */
	if (m->cell_d)
		m->hit_date = 1;
	else if (m->cell_w)
		m->hit_value = 1;
	return 0;
}

int view_scan_registry(struct build *b)
{
	size_t i;
	int err = 0;

	if (!b->reg || !b->e->cfg.store || b->e->cfg.no_scan)
		return 0;
	for (i = 0; !err && i < b->rs.n; i++) {
		struct rec *r = &b->rs.v[i];
		struct store_scan *sc = NULL;
		struct keyent k, *hit;
		struct regmatch m;
		size_t lo, hi;

		/* a personal ID or a name of the file's own outranks the
		 * row's; other text and date-shaped text are told more
		 * closely */
		if ((r->f.status != RULES_Q_TEXT &&
		     r->f.status != RULES_Q_TEXT_DATE) ||
		    !r->f.patient_id || (!b->by_id && !r->f.study_date))
			continue;
		k.pid = r->f.patient_id;
		k.date = b->by_id ? "" : r->f.study_date;
		hit = bsearch(&k, b->rowkeys, b->nrowkeys, sizeof(k),
			      view_cohort_cmp_key);
		if (!hit)
			continue;
		err = view_scan_kept(b->e, &r->f, r->f.path, &sc);
		if (err == -ENOENT)
			err = 0;
		if (err || !sc->tokens[0]) {
			free(sc);
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.e = b->e;
		m.tokens = sc->tokens;
		lo = hi = (size_t)(hit - b->rowkeys);
		while (lo && !view_cohort_cmp_key(&k, &b->rowkeys[lo - 1]))
			lo--;
		while (hi + 1 < b->nrowkeys &&
		       !view_cohort_cmp_key(&k, &b->rowkeys[hi + 1]))
			hi++;
		for (size_t j = lo; !err && j <= hi; j++)
			err = registry_row_originals(b->reg, b->rowkeys[j].i,
						     on_cell, &m);
		if (m.hit_value)
			r->f.status = RULES_Q_TEXT_REG_VALUE;
		else if (m.hit_date)
			r->f.status = RULES_Q_TEXT_REG_DATE;
		free(sc);
	}
	return err;
}
