/*
 * view_originals.c - a view step: the original values of the registry
 * CSV's identifying cells of the rows the view writes (the personal ID,
 * the dates it turns into months and day counts, the dropped columns such
 * as the invitation number) recorded in the db, the place kept secret,
 * so that `deidfs verify` searches a dataset for them too
 * (store_registry_record()).  An unchanged CSV and choice of rows is
 * recorded once: a digest of them says so.
 */
#include "view_cohort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "keyed.h"

struct gather {
	struct store_regval *v;
	size_t n, cap;
	const char *patient_id;
};

static int take(void *arg, enum registry_orig kind, const char *cell,
		size_t n)
{
	struct gather *g = arg;
	struct store_regval *rv;
	void *copy;

	if (BASE_GROW(g->v, g->cap, g->n, g->n + 1, 256, BASE_GROW_WIPE))
		return -ENOMEM;
	copy = malloc(n);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, cell, n);
	rv = &g->v[g->n++];
	rv->patient_id = g->patient_id;
	rv->kind = kind == REGISTRY_ORIG_ID     ? STORE_REG_ID
		   : kind == REGISTRY_ORIG_DATE ? STORE_REG_DATE
						: STORE_REG_OTHER;
	rv->v = copy;
	rv->len = n;
	return 0;
}

/* What is recorded: the CSV's bytes, its spec and the rows written. */
static void digest(const struct build *b, char out[65])
{
	const char *spec = b->e->cfg.csv_spec ? b->e->cfg.csv_spec : "";
	struct keyed_sha256 c;
	uint8_t d[32];

	keyed_sha256_init(&c);
	keyed_sha256_update(&c, spec, strlen(spec) + 1);
	keyed_sha256_update(&c, b->row_include, b->nrows);
	keyed_sha256_update(&c, b->csvbuf, b->csvlen);
	keyed_sha256_final(&c, d);
	base_hex_encode(d, sizeof(d), out, 65);
}

int view_cohort_record(struct build *b)
{
	struct gather g = { NULL, 0, 0, NULL };
	char dg[65];
	size_t i;
	int err = 0;

	if (!b->reg || !b->e->cfg.store)
		return 0;
	for (i = 0; !err && i < b->nrows; i++) {
		const struct registry_row *row = registry_row(b->reg, i);

		if (!b->row_include[i] || !row->valid || !row->patient_id)
			continue;
		g.patient_id = row->patient_id;
		err = registry_row_originals(b->reg, i, take, &g);
	}
	if (!err) {
		digest(b, dg);
		err = store_registry_record(b->e->cfg.store, dg, g.v, g.n);
	}
	if (err)
		snprintf(b->err, b->errsz, "cannot record the registry's "
			 "original values in the db (%s)", strerror(-err));
	for (i = 0; i < g.n; i++)
		base_wipe_free((void *)g.v[i].v, g.v[i].len);
	free(g.v);
	return err;
}
