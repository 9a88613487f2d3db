/*
 * view_naming.c - names of the view from the layout (pure: records in,
 * paths out; no store, no engine).  Ordinals count a patient's studies,
 * a study's series and a series' instances in hierarchical order; two
 * entities that render to one name get suffixes (_2, _3...) in that order.
 */
#include "view_naming.h"
#include "civil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int icmp(int64_t a, int64_t b)
{
	/* absent (STORE_MISSING) sorts last */
	if (a == b)
		return 0;
	if (a == STORE_MISSING)
		return 1;
	if (b == STORE_MISSING)
		return -1;
	return a < b ? -1 : 1;
}

/* Hierarchical order: patient, study, series, instance; ties by id. */
int view_rec_cmp_hier(const void *pa, const void *pb)
{
	const struct store_file *a = &((const struct rec *)pa)->f;
	const struct store_file *b = &((const struct rec *)pb)->f;
	int c;

	if ((c = view_scmp(a->pseudonym, b->pseudonym)))
		return c;
	if ((c = view_scmp(a->study_date, b->study_date)))
		return c;
	if ((c = view_scmp(a->study_time, b->study_time)))
		return c;
	if ((c = view_scmp(a->study_uid, b->study_uid)))
		return c;
	if ((c = icmp(a->series_number, b->series_number)))
		return c;
	if ((c = view_scmp(a->series_uid, b->series_uid)))
		return c;
	if ((c = icmp(a->instance_number, b->instance_number)))
		return c;
	if ((c = view_scmp(a->sop_uid, b->sop_uid)))
		return c;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Orders over an index array of records (qsort_r: the records are the
 * context): by parent and raw name, then by entity key (cmp_entity) or by
 * the entity's first record (cmp_first); ties by position. */
static int cmp_place(const struct rec *a, const struct rec *b)
{
	int c = view_scmp(a->parent, b->parent);

	return c ? c : view_scmp(a->raw, b->raw);
}

static int cmp_entity(const void *pa, const void *pb, void *arg)
{
	const struct rec *base = arg;
	const struct rec *a = &base[*(const size_t *)pa];
	const struct rec *b = &base[*(const size_t *)pb];
	int c = cmp_place(a, b);

	if (!c)
		c = view_scmp(a->ekey, b->ekey);
	if (c)
		return c;
	return *(const size_t *)pa < *(const size_t *)pb ? -1 : 1;
}

static int cmp_first(const void *pa, const void *pb, void *arg)
{
	const struct rec *base = arg;
	const struct rec *a = &base[*(const size_t *)pa];
	const struct rec *b = &base[*(const size_t *)pb];
	int c = cmp_place(a, b);

	if (c)
		return c;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return *(const size_t *)pa < *(const size_t *)pb ? -1 : 1;
}

static char *entity_key(const struct rec *r, enum layout_level lvl)
{
	char buf[512];

	switch (lvl) {
	case LAYOUT_NONE:
		return strdup("");
	case LAYOUT_PATIENT:
		snprintf(buf, sizeof(buf), "%s", r->f.pseudonym ? r->f.pseudonym : "");
		break;
	case LAYOUT_STUDY:
		snprintf(buf, sizeof(buf), "%s|%s",
			 r->f.pseudonym ? r->f.pseudonym : "",
			 r->f.study_uid ? r->f.study_uid : "");
		break;
	case LAYOUT_SERIES:
		snprintf(buf, sizeof(buf), "%s|%s|%s",
			 r->f.pseudonym ? r->f.pseudonym : "",
			 r->f.study_uid ? r->f.study_uid : "",
			 r->f.series_uid ? r->f.series_uid : "");
		break;
	default:
		snprintf(buf, sizeof(buf), "%020" PRId64, r->f.id);
		break;
	}
	return strdup(buf);
}

/* Study date as the view shows it (analysis_view_date(): the same as the
 * StudyDescription of its files, so the folder month agrees with them). */
static void study_date(const struct view_naming *nm,
			    const struct store_file *f, char out[9])
{
	analysis_view_date(nm->key, nm->rules_options, f->study_date,
			   f->patient_id, out);
}

/* Ordinals in hierarchical order: a patient's studies, a study's series,
 * a series' instances; every record's resolved path starts empty. */
static int set_ordinals(struct rec *rs, const size_t *idx, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct rec *r = &rs[idx[i]];
		struct rec *pr = i ? &rs[idx[i - 1]] : NULL;

		if (!pr || view_scmp(pr->f.pseudonym, r->f.pseudonym)) {
			r->study_ord = 1;
			r->series_ord = 1;
			r->inst_ord = 1;
		} else if (view_scmp(pr->f.study_uid, r->f.study_uid)) {
			r->study_ord = pr->study_ord + 1;
			r->series_ord = 1;
			r->inst_ord = 1;
		} else if (view_scmp(pr->f.series_uid, r->f.series_uid)) {
			r->study_ord = pr->study_ord;
			r->series_ord = pr->series_ord + 1;
			r->inst_ord = 1;
		} else {
			r->study_ord = pr->study_ord;
			r->series_ord = pr->series_ord;
			r->inst_ord = pr->inst_ord + 1;
		}
		free(r->parent);
		r->parent = strdup("");
		if (!r->parent)
			return -ENOMEM;
	}
	return 0;
}

/* Component d of every record, as the layout renders it (raw: before
 * suffixes), with the key of the entity it names. */
static int render_component(const struct view_naming *nm, struct rec *rs,
			    const size_t *idx, size_t n, unsigned d)
{
	enum layout_level lvl = layout_component_level(nm->layout, d);
	size_t i;

	for (i = 0; i < n; i++) {
		struct rec *r = &rs[idx[i]];
		struct layout_values lv;
		char name[LAYOUT_MAX_NAME + 1], date[9];
		int len;

		study_date(nm, &r->f, date);
		memset(&lv, 0, sizeof(lv));
		lv.patient = r->f.pseudonym;
		lv.study_date = date;
		lv.study_ordinal = r->study_ord;
		lv.series_number = r->f.series_number;
		lv.series_ordinal = r->series_ord;
		lv.modality = r->f.modality;
		lv.instance_number = r->f.instance_number;
		lv.instance_ordinal = r->inst_ord;
		lv.laterality = r->f.laterality;
		lv.view = r->f.view_position;
		len = layout_render(nm->layout, d, &lv, name, sizeof(name));
		if (len < 0)
			return len;
		free(r->raw);
		free(r->ekey);
		r->raw = strdup(name);
		r->ekey = entity_key(r, lvl);
		if (!r->raw || !r->ekey)
			return -ENOMEM;
	}
	return 0;
}

/* Records of one entity point to its first record; ord is left in the
 * order names take their suffixes (by parent, raw name, first record). */
static void mark_entities(struct rec *rs, const size_t *idx, size_t *ord,
			  size_t n)
{
	size_t i;

	memcpy(ord, idx, n * sizeof(*ord));
	qsort_r(ord, n, sizeof(*ord), cmp_entity, rs);
	for (i = 0; i < n; i++) {
		struct rec *r = &rs[ord[i]];
		struct rec *pr = i ? &rs[ord[i - 1]] : NULL;

		if (pr && !view_scmp(pr->parent, r->parent) &&
		    !view_scmp(pr->raw, r->raw) && !view_scmp(pr->ekey, r->ekey))
			r->first = pr->first;
		else
			r->first = ord[i];
	}
	qsort_r(ord, n, sizeof(*ord), cmp_first, rs);
}

/* Each record's path through component d: its parent's, then its raw
 * name, suffixed _k when it is the k-th entity of that name there. */
static int suffix_names(struct rec *rs, const size_t *ord, size_t n,
			int last)
{
	uint64_t k = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		struct rec *r = &rs[ord[i]];
		struct rec *pr = i ? &rs[ord[i - 1]] : NULL;
		char name[LAYOUT_MAX_NAME + 1];
		char *np;
		size_t plen;
		int len;

		if (!pr || view_scmp(pr->parent, r->parent) ||
		    view_scmp(pr->raw, r->raw))
			k = 1;
		else if (pr->first != r->first)
			k++;
		if (k == 1) {
			snprintf(name, sizeof(name), "%s", r->raw);
		} else {
			len = layout_suffix(r->raw, last, k, name,
					    sizeof(name));
			if (len < 0)
				return len;
		}
		plen = strlen(r->parent) + strlen(name) + 2;
		np = malloc(plen);
		if (!np)
			return -ENOMEM;
		snprintf(np, plen, "%s%s%s", r->parent, *r->parent ? "/" : "",
			 name);
		/* parent of the next level: stored after all siblings were
		 * compared, see view_names_assign() */
		free(r->path);
		r->path = np;
	}
	return 0;
}

int view_names_assign(const struct view_naming *nm, struct rec *rs,
		      size_t *idx, size_t n)
{
	unsigned nc = layout_ncomponents(nm->layout), d;
	size_t i, *ord = NULL;
	int err = set_ordinals(rs, idx, n);

	if (err)
		return err;
	ord = malloc((n + 1) * sizeof(*ord));
	if (!ord)
		return -ENOMEM;
	for (d = 0; d < nc && !err; d++) {
		err = render_component(nm, rs, idx, n, d);
		if (err)
			break;
		mark_entities(rs, idx, ord, n);
		err = suffix_names(rs, ord, n, d + 1 == nc);
		for (i = 0; i < n && !err; i++) {
			struct rec *r = &rs[idx[i]];

			/* a folder (not the file's own name) of study
			 * level or above: the study's folder so far */
			if (d + 1 < nc &&
			    layout_component_level(nm->layout, d) <=
				    LAYOUT_STUDY &&
			    layout_component_level(nm->layout, d) !=
				    LAYOUT_NONE) {
				free(r->study_path);
				r->study_path = strdup(r->path);
				if (!r->study_path)
					err = -ENOMEM;
			}
		}
		for (i = 0; i < n; i++) {
			struct rec *r = &rs[idx[i]];

			free(r->parent);
			r->parent = r->path;
			r->path = NULL;
		}
	}
	for (i = 0; i < n; i++) {
		struct rec *r = &rs[idx[i]];

		free(r->path);
		r->path = r->parent;
		r->parent = NULL;
	}
	free(ord);
	return err;
}
