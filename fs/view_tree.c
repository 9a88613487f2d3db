/*
 * view_tree.c - the tree of a view: its entries (the files under their
 * names, the texts, every folder above them), its nodes in BFS order with
 * their inode numbers (folders from the db, files from their row and
 * version, texts from their generation), parents and children, folder
 * mtimes; and the lookups the front ends use.
 */
#include "view_tree.h"
#include "view_reuse.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct view_node *view_root(const struct view *v)
{
	return NODE(v, 0);
}

static size_t ino_hash(uint64_t ino, size_t cap)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino & (cap - 1);
}

const struct view_node *view_lookup_ino(const struct view *v, uint64_t ino)
{
	size_t h;

	if (!v->ino_cap)
		return NULL;
	for (h = ino_hash(ino, v->ino_cap); v->ino_keys[h];
	     h = (h + 1) & (v->ino_cap - 1))
		if (v->ino_keys[h] == ino)
			return NODE(v, v->ino_vals[h]);
	return NULL;
}

const struct view_node *view_child(const struct view *v,
				   const struct view_node *dir, uint32_t i)
{
	if (dir->kind != VIEW_DIR || i >= dir->nchildren)
		return NULL;
	return NODE(v, dir->first_child + i);
}

const struct view_node *view_lookup(const struct view *v,
				    const struct view_node *dir,
				    const char *name)
{
	uint32_t lo = 0, hi;

	if (dir->kind != VIEW_DIR)
		return NULL;
	hi = dir->nchildren;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(NODE(v, dir->first_child + mid)->name, name);

		if (c == 0)
			return NODE(v, dir->first_child + mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int view_path(const struct view *v, const struct view_node *n, char *buf,
	      size_t bufsz)
{
	const struct view_node *chain[LAYOUT_MAX_COMPONENTS + 4];
	size_t depth = 0, at = 0;

	while (n->ino != VIEW_INO_ROOT) {
		if (depth == sizeof(chain) / sizeof(chain[0]))
			return -ENAMETOOLONG;
		chain[depth++] = n;
		n = view_lookup_ino(v, n->parent);
		if (!n)
			return -EINVAL;
	}
	if (bufsz)
		buf[0] = 0;
	while (depth--) {
		size_t len = strlen(chain[depth]->name);

		if (at + len + 2 > bufsz)
			return -ENAMETOOLONG;
		if (at)
			buf[at++] = '/';
		memcpy(buf + at, chain[depth]->name, len);
		at += len;
		buf[at] = 0;
	}
	return (int)at;
}

const char *view_text(const struct view *v, const struct view_node *n,
		      size_t *len)
{
	if (n->kind == VIEW_CSV) {
		*len = v->csv_len;
		return v->csv;
	}
	if (n->kind == VIEW_REASONS) {
		*len = v->reasons_len;
		return v->reasons;
	}
	*len = 0;
	return NULL;
}

size_t view_node_count(const struct view *v)
{
	return v->n;
}

const struct view_node *view_node_at(const struct view *v, size_t i)
{
	return i < v->n ? NODE(v, i) : NULL;
}

void view_free(struct view *v)
{
	if (!v)
		return;
	strarena_free(&v->strs);
	free(v->nodes);
	free(v->ino_keys);
	free(v->ino_vals);
	if (v->csv)
		explicit_bzero(v->csv, v->csv_len);
	free(v->csv);
	free(v->reasons);
	free(v);
}

/* Compare paths component-wise ('/' sorts before every other byte). */
int view_pathcmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca == '/')
			ca = 1;
		if (cb == '/')
			cb = 1;
		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

static size_t dirlen(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? (size_t)(s - p) : 0;
}

/*
 * BFS order: by depth, then by path.  At one depth, comparing whole paths
 * component-wise orders entries by parent path and then by name, so the
 * children of each directory form one run, in the order of their parents.
 */
static int cmp_tent(const void *pa, const void *pb)
{
	const struct tent *a = pa, *b = pb;
	int c;

	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	c = view_pathcmp(a->path, b->path);
	/* directories before files of the same path (cannot both exist) */
	return c ? c : (int)a->kind - (int)b->kind;
}

static unsigned depth_of(const char *p)
{
	unsigned d = 1;

	for (; *p; p++)
		if (*p == '/')
			d++;
	return d;
}

static int tents_add(struct tents *t, char *path, int owned,
		     enum view_kind kind, struct rec *r, int quarantined)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		struct tent *p = realloc(t->v, nc * sizeof(*p));

		if (!p) {
			if (owned)
				free(path);
			return -ENOMEM;
		}
		t->v = p;
		t->cap = nc;
	}
	t->v[t->n].path = path;
	t->v[t->n].owned = (uint8_t)!!owned;
	t->v[t->n].kind = (uint8_t)kind;
	t->v[t->n].r = r;
	t->v[t->n].quarantined = (uint8_t)!!quarantined;
	t->v[t->n].depth = depth_of(path);
	t->n++;
	return 0;
}

static int ino_put(struct view *v, uint64_t ino, uint32_t idx)
{
	size_t h;

	for (h = ino_hash(ino, v->ino_cap); v->ino_keys[h];
	     h = (h + 1) & (v->ino_cap - 1))
		if (v->ino_keys[h] == ino)
			return -EEXIST;
	v->ino_keys[h] = ino;
	v->ino_vals[h] = idx;
	return 0;
}

/*
 * Stable mtime and generation of a generated text (CSV, reasons.csv): the
 * time its content last changed and how many times it changed, kept in the
 * store under name as "<sha256 hex> <mtime ns> <gen>" (an older db has no
 * gen: 0).  Different content always gets the next generation, so the
 * inode derived from it (VIEW_INO_TEXT) changes with the bytes; the same
 * content keeps both.
 */

/* The record of text name: 0 with its content's digest (64 hex digits),
 * mtime and generation, or -ENOENT (none, or not of that form). */
static int text_record(struct store *st, const char *name, char hex[65],
		       int64_t *mtime, uint32_t *gen)
{
	char key[64], old[128], *end;
	unsigned long long g = 0;

	snprintf(key, sizeof(key), "mtime:%s", name);
	if (store_setting_get(st, key, old, sizeof(old)) || strlen(old) <= 65 ||
	    old[64] != ' ')
		return -ENOENT;
	memcpy(hex, old, 64);
	hex[64] = 0;
	*mtime = strtoll(old + 65, &end, 10);
	if (*end == ' ')
		g = strtoull(end + 1, NULL, 10);
	*gen = (uint32_t)(g % VIEW_INO_TEXT_GENS);
	return 0;
}

static void text_digest(const char *buf, size_t len, char hex[65])
{
	uint8_t dg[32];

	keyed_sha256(buf, len, dg);
	base_hex_encode(dg, sizeof(dg), hex, 65);
}

int view_text_recorded(struct store *st, const char *name, const char *buf,
		       size_t len, int64_t mtime, uint32_t gen)
{
	char hex[65], had[65];
	int64_t m;
	uint32_t g;

	text_digest(buf, len, hex);
	return !text_record(st, name, had, &m, &g) && !strcmp(had, hex) &&
	       m == mtime && g == gen;
}

/* Called inside the build's transaction: two builds never take the same
 * generation for different content. */
static int text_version(struct store *st, const char *name, const char *buf,
			size_t len, int64_t *mtime, uint32_t *gen)
{
	char hex[65], had[65], key[64], val[128];
	int64_t old_mtime = 0;
	uint32_t old_gen = 0;
	int have_old;

	text_digest(buf, len, hex);
	have_old = !text_record(st, name, had, &old_mtime, &old_gen);
	if (have_old && !strcmp(had, hex)) {
		*mtime = old_mtime;
		*gen = old_gen;
		return 0;
	}
	*mtime = view_now_ns();
	*gen = 0;
	/* new content is dated later than the old, even within a second
	 * (see the files upsert in store.c), and is the next generation */
	if (have_old) {
		if (old_mtime >= *mtime)
			*mtime = old_mtime + 1000000000LL;
		*gen = (old_gen + 1) % VIEW_INO_TEXT_GENS;
	}
	snprintf(key, sizeof(key), "mtime:%s", name);
	snprintf(val, sizeof(val), "%s %" PRId64 " %" PRIu32, hex, *mtime,
		 *gen);
	return store_setting_set(st, key, val);
}

void view_tents_free(struct tents *te)
{
	size_t i;

	for (i = 0; i < te->n; i++)
		if (te->v[i].owned)
			free(te->v[i].path);
	free(te->v);
	memset(te, 0, sizeof(*te));
}

/* The files: published under their path, quarantined ones with a header
 * under .quarantine/ (the others are a line of reasons.csv only). */
static int entries_of_files(struct build *b)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < b->rs.n && !ret; i++) {
		struct rec *r = &b->rs.v[i];
		char *p;
		size_t plen;

		if (!r->path)
			continue;
		if (!r->quarantine) {
			ret = tents_add(&b->te, r->path, 0, VIEW_DICOM, r, 0);
			b->st->published++;
			b->st->bytes += r->f.out_size;
			continue;
		}
		if (!r->f.header_len)
			continue;	/* listed in reasons only */
		plen = strlen(r->path) + sizeof(VIEW_QUARANTINE) + 1;
		p = malloc(plen);
		if (!p)
			return -ENOMEM;
		snprintf(p, plen, "%s/%s", VIEW_QUARANTINE, r->path);
		ret = tents_add(&b->te, p, 1, VIEW_DICOM, r, 1);
	}
	return ret;
}

/* Every folder above an entry (duplicates removed later).  Entries come in
 * the records' order, so a file's folders are mostly the last file's:
 * those are not added again (at a million files, four times fewer entries
 * to sort). */
static int entries_of_folders(struct build *b)
{
	const char *last[16] = { 0 };	/* the last folder added per depth */
	size_t lastlen[16] = { 0 };
	size_t i, nfiles = b->te.n;
	int ret;

	for (i = 0; i < nfiles; i++) {
		const char *p = b->te.v[i].path;
		const char *s;
		unsigned k = 0;

		for (s = strchr(p, '/'); s; s = strchr(s + 1, '/'), k++) {
			size_t len = (size_t)(s - p);
			char *d;

			if (k < 16 && last[k] && lastlen[k] == len &&
			    !memcmp(last[k], p, len))
				continue;
			d = strndup(p, len);
			if (!d)
				return -ENOMEM;
			ret = tents_add(&b->te, d, 1, VIEW_DIR, NULL,
					strncmp(p, VIEW_QUARANTINE,
						strlen(VIEW_QUARANTINE)) == 0);
			if (ret)
				return ret;
			if (k < 16) {
				last[k] = d;
				lastlen[k] = len;
			}
		}
	}
	return 0;
}

/* BFS order, folders once each; a file and another entry with one path
 * means the layout produced a clash that suffixes did not resolve.  One
 * path is one depth: its entries are neighbours in BFS order too, so one
 * sort does both. */
static int entries_dedupe(struct build *b)
{
	struct tents *te = &b->te;
	size_t i, j;

	if (te->n)	/* an export task's share may have no entry */
		qsort(te->v, te->n, sizeof(*te->v), cmp_tent);
	for (i = 0, j = 0; i < te->n; i++) {
		if (j && view_pathcmp(te->v[j - 1].path, te->v[i].path) == 0) {
			if (te->v[i].kind != VIEW_DIR ||
			    te->v[j - 1].kind != VIEW_DIR) {
				snprintf(b->err, b->errsz,
					 "the layout gives two entries one "
					 "name; use a layout with more "
					 "variables");
				for (; i < te->n; i++)
					if (te->v[i].owned)
						free(te->v[i].path);
				te->n = j;
				return -EINVAL;
			}
			if (te->v[i].owned)
				free(te->v[i].path);
			continue;
		}
		te->v[j++] = te->v[i];
	}
	te->n = j;
	return 0;
}

int view_tree_entries(struct build *b)
{
	int ret = entries_of_files(b);

	if (!ret && b->v->csv)
		ret = tents_add(&b->te, (char *)b->e->cfg.csv_name, 0, VIEW_CSV,
				NULL, 0);
	if (!ret && !b->share)	/* share 0 writes the texts */
		ret = tents_add(&b->te,
				(char *)VIEW_QUARANTINE "/" VIEW_REASONS_NAME, 0,
				VIEW_REASONS, NULL, 1);
	if (!ret)
		ret = entries_of_folders(b);
	return ret ? ret : entries_dedupe(b);
}

/* Node i + 1 from entry t: its name, kind and inode number (and for a
 * file where its source is). */
static int node_of(struct build *b, const struct tent *t, struct vnode *nd)
{
	struct view *v = b->v;
	const char *base = strrchr(t->path, '/');
	uint64_t dino;
	uint32_t tgen = 0;
	int ret = 0;

	base = base ? base + 1 : t->path;
	nd->pub.name = strarena_dup(&v->strs, base, strlen(base));
	if (!nd->pub.name)
		return -ENOMEM;
	nd->pub.kind = t->kind;
	nd->pub.quarantined = (uint8_t)t->quarantined;
	nd->pub.hidden = strcmp(t->path, VIEW_QUARANTINE) == 0;
	switch (t->kind) {
	case VIEW_DIR:
		ret = store_dir_ino(b->e->cfg.store, t->path, &dino);
		nd->pub.ino = 2 * dino + 1;
		break;
	case VIEW_DICOM:
		/* 0 < id < 2^40 rows (id 0 is the texts' range, see
		 * view.h); the version's low 22 bits above */
		if (t->r->f.id < 1 || (uint64_t)t->r->f.id >= (1ull << 40))
			return -EOVERFLOW;
		nd->pub.ino = 2 * ((uint64_t)t->r->f.id |
				   ((uint64_t)t->r->f.version & 0x3fffff)
					   << 40) +
			      4;
		nd->pub.size = t->r->f.out_size;
		nd->pub.mtime_ns = t->r->f.out_mtime_ns;
		nd->pub.file_id = t->r->f.id;
		nd->phash = view_shard_hash(t->r->f.pseudonym);
		break;
	case VIEW_CSV:
		nd->pub.size = v->csv_len;
		ret = text_version(b->e->cfg.store, "csv", v->csv, v->csv_len,
				   &nd->pub.mtime_ns, &tgen);
		nd->pub.ino = VIEW_INO_TEXT(1, tgen);
		break;
	case VIEW_REASONS:
		nd->pub.size = v->reasons_len;
		ret = text_version(b->e->cfg.store, "reasons", v->reasons,
				   v->reasons_len, &nd->pub.mtime_ns, &tgen);
		nd->pub.ino = VIEW_INO_TEXT(0, tgen);
		break;
	}
	return ret;
}

/* Persist view paths (an authorised person can map a view name to its
 * source through the db). */
static int persist_view_paths(struct build *b)
{
	size_t i;
	int ret = 0;

	if (b->names_kept)	/* the paths are the rows': the same sum */
		b->names_now = b->names_had;
	for (i = 0; i < b->rs.n && !ret; i++) {
		struct rec *r = &b->rs.v[i];
		char full[PATH_MAX];
		const char *vp = NULL;

		if (r->path) {
			snprintf(full, sizeof(full), "%s%s",
				 r->quarantine ? VIEW_QUARANTINE "/" : "",
				 r->path);
			vp = full;
		}
		if (!b->names_kept) {
			/* the row as the next build reads it */
			struct store_file row = r->f;

			row.status = r->row_status;
			view_reuse_add(&b->names_now, &row, vp);
		}
		if (view_scmp(vp, r->f.view_path) ||
		    (!vp) != (!r->f.view_path)) {
			ret = store_file_set_view_path(b->e->cfg.store, r->f.id,
						       vp);
			b->snap_own += !ret;	/* a view_gen trigger each */
		}
	}
	return ret;
}

int view_tree_nodes(struct build *b)
{
	struct view *v = b->v;
	size_t i;
	int ret, c;

	/* Nodes: 0 is the root, then BFS order. */
	v->n = b->te.n + 1;
	v->nodes = calloc(v->n, sizeof(*v->nodes));
	for (v->ino_cap = 16; v->ino_cap < v->n * 2; v->ino_cap *= 2)
		;
	v->ino_keys = calloc(v->ino_cap, sizeof(*v->ino_keys));
	v->ino_vals = calloc(v->ino_cap, sizeof(*v->ino_vals));
	if (!v->nodes || !v->ino_keys || !v->ino_vals)
		return -ENOMEM;
	v->nodes[0].pub.name = "";
	v->nodes[0].pub.ino = VIEW_INO_ROOT;
	v->nodes[0].pub.parent = VIEW_INO_ROOT;
	v->nodes[0].pub.kind = VIEW_DIR;
	ret = store_begin(b->e->cfg.store);
	if (ret)
		return ret;
	for (i = 0; i < b->te.n && !ret; i++) {
		ret = node_of(b, &b->te.v[i], &v->nodes[i + 1]);
		if (!ret && ino_put(v, v->nodes[i + 1].pub.ino,
				    (uint32_t)(i + 1)))
			ret = -EEXIST;
	}
	if (!ret)
		ret = ino_put(v, VIEW_INO_ROOT, 0);
	if (!ret)
		ret = persist_view_paths(b);
	c = store_commit(b->e->cfg.store);
	if (!ret)
		ret = c;
	/* after the paths are committed; best effort (a read-only snapshot
	 * of a sharded run's export task cannot: names computed each time) */
	if (!ret)
		(void)view_reuse_record(b);
	if (ret)
		snprintf(b->err, b->errsz, "cannot build the view (%s)",
			 strerror(-ret));
	return ret;
}

/*
 * The node of the folder above entry i (node i + 1), found from *cur on:
 * nodes are in BFS order, and at one depth the entries are ordered by
 * their parents' paths as their parents are, so one cursor walks the
 * level above once for the whole level.  0 (the root) for depth 1; -1 when
 * there is none (cannot happen: every folder above an entry is one).
 */
static long parent_node(const struct tents *te, size_t i, size_t *cur)
{
	const struct tent *t = &te->v[i];
	size_t dl = dirlen(t->path);

	if (t->depth == 1)
		return 0;
	for (; *cur < i; (*cur)++) {
		const struct tent *c = &te->v[*cur];

		if (c->depth == t->depth - 1 && c->kind == VIEW_DIR &&
		    !strncmp(c->path, t->path, dl) && c->path[dl] == '\0')
			return (long)*cur + 1;
		if (c->depth >= t->depth)
			break;
	}
	return -1;
}

int view_tree_link(struct build *b)
{
	struct view *v = b->v;
	size_t i, cur = 0, level = 0;
	unsigned d = 0;
	uint32_t *par;

	par = calloc(v->n, sizeof(*par));
	if (!par)
		return -ENOMEM;
	/* Parents and children: nodes are in BFS order, so the children of
	 * each directory are one contiguous run. */
	for (i = 0; i + 1 < v->n; i++) {
		unsigned depth = b->te.v[i].depth;
		struct vnode *pn;
		long p;

		if (depth != d) {	/* a new level: its parents' starts */
			cur = level;
			level = i;
			d = depth;
		}
		p = parent_node(&b->te, i, &cur);
		if (p < 0) {
			free(par);
			return -EINVAL;
		}
		pn = &v->nodes[p];
		par[i + 1] = (uint32_t)p;
		v->nodes[i + 1].pub.parent = pn->pub.ino;
		if (pn->pub.nchildren == 0)
			pn->pub.first_child = (uint32_t)(i + 1);
		pn->pub.nchildren++;
	}
	/* Directory mtimes: the newest entry below them. */
	for (i = v->n; i-- > 1;) {
		struct vnode *nd = &v->nodes[i], *pn = &v->nodes[par[i]];

		if (nd->pub.mtime_ns > pn->pub.mtime_ns)
			pn->pub.mtime_ns = nd->pub.mtime_ns;
	}
	free(par);
	return 0;
}
