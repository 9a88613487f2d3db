/*
 * view_reuse.c - the names of an unchanged index, taken from the db instead
 * of computed again.
 *
 * Naming sorts every record twice per layout component and renders every
 * name: a quarter of a remount of a million files.  Each build records the
 * view path of every record in its row (view_tree.c) and, in the setting
 * "view.names", a digest of everything the names were computed from: the
 * view's configuration (view_config_text(): layout, modalities, options,
 * CSV file and columns), the CSV's bytes, the naming code's version, and
 * every field of every record with the view path it was given.  The next
 * build computes the same digest from the rows it reads anyway, with the
 * view paths they hold: when it is the recorded one, those paths are the
 * names the naming would give, and are taken as they are.  Any change
 * (a file added, changed or removed, another CSV or layout, a row edited
 * by hand) gives another digest, and the names are computed again.
 *
 * The records' digest is a sum of per-record hashes (two 64-bit lanes, each
 * field preceded by its length), so it does not depend on the order the
 * records are visited in.  Not a cryptographic hash: it tells a changed
 * index from the same one, and whoever can write the db can change the
 * names anyway.
 */
#include "view_reuse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REUSE_KEY "view.names"

#define LANE_A 14695981039346656037ull
#define LANE_B 0x9e3779b97f4a7c15ull

static uint64_t rotl(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

/* Eight bytes at a time into two lanes of different mixing. */
static void mix_word(uint64_t h[2], uint64_t w)
{
	h[0] = rotl((h[0] ^ w) * 0xff51afd7ed558ccdull, 31);
	h[1] = rotl(h[1] + w * 0xc4ceb9fe1a85ec53ull, 27) * 0x9e3779b97f4a7c15ull;
}

static void mix(uint64_t h[2], const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		mix_word(h, w);
	}
	if (n) {
		w = 0;
		memcpy(&w, s, n);
		mix_word(h, w);
	}
}

static void mix_u64(uint64_t h[2], uint64_t v)
{
	mix_word(h, v);
}

/* A string, NULL told from "" and each string from the next. */
static void mix_str(uint64_t h[2], const char *s)
{
	uint64_t len = s ? strlen(s) + 1 : 0;

	mix_u64(h, len);
	if (s)
		mix(h, s, len);
}

void view_reuse_add(struct view_digest *d, const struct store_file *f,
		    const char *view_path)
{
	uint64_t h[2] = { LANE_A, LANE_B };

	mix_u64(h, (uint64_t)f->id);
	mix_str(h, f->path);
	mix_u64(h, f->src_size);
	mix_u64(h, (uint64_t)f->src_mtime_ns);
	mix_u64(h, f->src_ino);
	mix_u64(h, (uint64_t)f->src_ctime_ns);
	mix_str(h, f->opts);
	mix_u64(h, (uint64_t)(int64_t)f->status);
	mix_u64(h, f->out_size);
	mix_u64(h, f->header_len);
	mix_str(h, f->patient_id);
	mix_str(h, f->study_date);
	mix_str(h, f->pseudonym);
	mix_str(h, f->study_uid);
	mix_str(h, f->series_uid);
	mix_str(h, f->sop_uid);
	mix_str(h, f->modality);
	mix_str(h, f->laterality);
	mix_str(h, f->view_position);
	mix_u64(h, (uint64_t)f->series_number);
	mix_u64(h, (uint64_t)f->instance_number);
	mix_str(h, view_path);
	mix_u64(h, (uint64_t)f->out_mtime_ns);
	mix_str(h, f->study_time);
	mix_u64(h, (uint64_t)f->version);
	mix_str(h, f->q_rule);
	mix_str(h, f->q_path);
	/* a last round, so that sums of similar records spread */
	h[0] ^= h[0] >> 29;
	h[0] *= 0xbf58476d1ce4e5b9ull;
	h[0] ^= h[0] >> 32;
	h[1] ^= h[1] >> 31;
	h[1] *= 0x94d049bb133111ebull;
	h[1] ^= h[1] >> 29;
	d->sum[0] += h[0];
	d->sum[1] += h[1];
	d->n++;
}

/* The setting's value for the configuration digest cfg and records d. */
static void value_of(const char cfg[65], const struct view_digest *d,
		     char out[160])
{
	snprintf(out, 160, "%d %s %016" PRIx64 "%016" PRIx64 " %zu",
		 VIEW_NAMING_VERSION, cfg, d->sum[0], d->sum[1], d->n);
}

int view_config_digest(struct build *b, const uint8_t **dg)
{
	struct keyed_sha256 c;
	char *text = NULL;

	if (!b->cfg_dg_state) {
		b->cfg_dg_state = view_config_text(&b->e->cfg, &text);
		if (!b->cfg_dg_state) {
			keyed_sha256_init(&c);
			keyed_sha256_update(&c, text, strlen(text) + 1);
			if (b->csvbuf)
				keyed_sha256_update(&c, b->csvbuf, b->csvlen);
			keyed_sha256_final(&c, b->cfg_dg);
			b->cfg_dg_state = 1;
			free(text);
		}
	}
	*dg = b->cfg_dg;
	return b->cfg_dg_state < 0 ? b->cfg_dg_state : 0;
}

int view_reuse_begin(struct build *b)
{
	const uint8_t *cfg;
	uint8_t dg[32];
	int err;

	err = view_config_digest(b, &cfg);
	if (err)
		return err == -ENOMEM ? err : 0;	/* never reused */
	/* keyed: the db must not let whoever holds it confirm a guessed
	 * registry file by its digest */
	keyed_hmac(b->e->key, sizeof(b->e->key), "view names", cfg, 32, dg);
	base_hex_encode(dg, sizeof(dg), b->names_cfg, sizeof(b->names_cfg));
	return 0;
}

int view_reuse_possible(struct build *b)
{
	char want[160], had[160];

	if (!b->names_cfg[0])
		return 0;
	value_of(b->names_cfg, &b->names_had, want);
	return store_setting_get(b->e->cfg.store, REUSE_KEY, had,
				 sizeof(had)) == 0 &&
	       strcmp(had, want) == 0;
}

/* The number of leading components of a path that make its study's
 * folder (view_naming.c's study_path), or 0 when the layout has none. */
static unsigned study_depth(const struct layout *l)
{
	unsigned nc = layout_ncomponents(l), d, k = 0;

	for (d = 0; d + 1 < nc; d++) {
		enum layout_level lvl = layout_component_level(l, d);

		if (lvl != LAYOUT_NONE && lvl <= LAYOUT_STUDY)
			k = d + 1;
	}
	return k;
}

/* r's path and study folder from the view path its row holds: -ESTALE
 * when that is not where a record of its kind goes. */
static int take_path(struct build *b, struct rec *r, unsigned sdepth)
{
	static const char q[] = VIEW_QUARANTINE "/";
	const char *vp = r->f.view_path, *s;
	unsigned k;

	if (!vp)
		return -ESTALE;
	if (r->quarantine != !strncmp(vp, q, sizeof(q) - 1))
		return -ESTALE;
	if (r->quarantine)
		vp += sizeof(q) - 1;
	r->path = (char *)strarena_dup(&b->pstrs, vp, strlen(vp));
	if (!r->path)
		return -ENOMEM;
	if (!sdepth)
		return 0;
	for (s = vp, k = 0; (s = strchr(s, '/')); s++)
		if (++k == sdepth)
			break;
	if (!s)
		return -ESTALE;
	r->study_path = (char *)strarena_dup(&b->pstrs, vp, (size_t)(s - vp));
	return r->study_path ? 0 : -ENOMEM;
}

int view_reuse_names(struct build *b)
{
	unsigned sdepth = study_depth(b->e->layout);
	size_t i;
	int err = 0;

	for (i = 0; i < b->rs.n && !err; i++) {
		struct rec *r = &b->rs.v[i];

		if (!r->included || r->f.status == ANALYSIS_SKIP)
			continue;
		if (r->quarantine && !r->f.pseudonym)
			continue;	/* named by build_names() */
		err = take_path(b, r, sdepth);
	}
	if (err) {	/* not what the digest said: name them all */
		for (i = 0; i < b->rs.n; i++) {
			b->rs.v[i].path = NULL;
			b->rs.v[i].study_path = NULL;
		}
		strarena_free(&b->pstrs);
	}
	return err;
}

int view_reuse_record(struct build *b)
{
	char want[160], had[160];

	if (!b->names_cfg[0])
		return 0;
	value_of(b->names_cfg, &b->names_now, want);
	if (store_setting_get(b->e->cfg.store, REUSE_KEY, had, sizeof(had)) ==
		    0 &&
	    !strcmp(had, want))
		return 0;
	return store_setting_set(b->e->cfg.store, REUSE_KEY, want);
}
