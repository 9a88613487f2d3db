/*
 * view_snap.c - a built view kept in the db, so that a build from an
 * unchanged index loads it instead of computing it again.
 *
 * Building the view of ten million files reads every row, sorts them and
 * makes every node: minutes.  The view is a function of the rows, the
 * configuration, the CSV's bytes and the code; so each build that made
 * its view from the rows keeps it (store_snap_write()): its nodes, names,
 * inode table, CSV and reasons.csv, the counters the build added to the
 * run's, and the registry rows it reported.  The next build loads it when
 *   - the db's view generation is the one the snapshot was taken at: the
 *     triggers of store_schema.c bump it on any change to the rows a view
 *     is built from, by deidfs or by hand;
 *   - its stamp is this build's: a keyed digest of the configuration
 *     (view_config_text()), the CSV's bytes, the analysis options, the
 *     versions of the view's format, naming and snapshot, and the build IDs
 *     of the running binary and its libraries (the linker's hash of their
 *     code: a binary that would render the CSV or name the files
 *     otherwise, such as the next release with a fix, never loads
 *     another's view; a binary without one keeps none).
 * A snapshot is taken at the generation read before the rows, plus the
 * bumps of the build's own writes (the view paths it records, one each),
 * and written only while the generation is still that (in the write's own
 * transaction): another writer between the two leaves no snapshot, never
 * a stale one.  Every field is checked as it is loaded (bounds, links,
 * names, the inode table); a snapshot that fails is passed over and the
 * view built from the rows.
 *
 * The stream: a header (struct snap_head), then the nodes (their name
 * pointers zero), the names of nodes 1.. with their NULs, the inode
 * table's keys and values, the CSV, reasons.csv and the reports.  The
 * header holds the SHA-256 of the whole stream (with that field zero), so
 * that a damaged snapshot (a bad sector, a hand edit of view_snap) is
 * never loaded: the project's own (keyed.h, on the CPU's SHA extensions
 * where it has them) runs at 1.3 to 1.5 GB/s here, a second or so for the
 * 1.9 GB of ten million files.  It holds no identifying value: names, pseudonyms, the cleaned
 * CSV, counters, and row numbers with fixed reasons, as the view does.
 */
#include "view_snap.h"
#include "view_cohort.h"
#include "view_report.h"
#include "view_reuse.h"
#include "view_tree.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Bump whenever view_build() would build another view from the same rows,
 * configuration and CSV (VIEW_FORMAT and VIEW_NAMING_VERSION are part of
 * the stamp too), or the stream changes. */
#define SNAP_VERSION 1
#define SNAP_MAGIC "deidfs view snap"	/* 16 bytes, no NUL */

/* Bounds of what a snapshot may claim, before anything is allocated. */
#define SNAP_NAME_MAX 255
#define SNAP_TEXT_MAX (1ull << 36)
#define SNAP_REPORTS_MAX (16u << 20)
/* The bytes read from the store at a time (its lock is held meanwhile). */
#define SNAP_READ_CHUNK (64u << 20)

struct snap_head {
	char magic[16];
	uint8_t stamp[32];
	int64_t gen;
	uint64_t n, names_len, ino_cap;
	uint64_t csv_len, reasons_len, reports_len;
	uint32_t has_csv, has_reasons;
	uint8_t sum[32];	/* SHA-256 of the stream, this field zero */
	struct view_stats delta;	/* what the build added to the run's */
};

/* ------------------------------------------------------------ the stamp */

struct build_id {
	unsigned char id[2048];	/* 20 bytes an object, with sha1 */
	size_t len;
	unsigned objects;
};

/* The GNU build ID notes of the program and of every library loaded with
 * it (libcsv parses the registry: an upgrade of it may read the CSV
 * otherwise), but the kernel's vdso, which changes with the kernel; the
 * IDs one after another in load order.  A program without one: none. */
static int build_id_of(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct build_id *b = arg;
	int i;

	(void)size;
	if (b->objects++ && !b->len)
		return 1;	/* the program has none */
	if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso"))
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const unsigned char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
			size_t name = (nh->n_namesz + 3u) & ~3u;
			size_t desc = (nh->n_descsz + 3u) & ~3u;
			const unsigned char *n = p + sizeof(*nh);

			if (name > (size_t)(end - n) ||
			    desc > (size_t)(end - n) - name)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && !memcmp(n, "GNU", 4) &&
			    nh->n_descsz &&
			    nh->n_descsz <= sizeof(b->id) - b->len) {
				memcpy(b->id + b->len, n + name, nh->n_descsz);
				b->len += nh->n_descsz;
				return 0;
			}
			p = n + name + desc;
		}
	}
	return 0;
}

static int snap_stamp(struct build *b, uint8_t out[32])
{
	static const uint64_t versions[] = { SNAP_VERSION, VIEW_FORMAT,
					     VIEW_NAMING_VERSION,
					     sizeof(struct vnode),
					     sizeof(struct view_stats),
					     sizeof(struct snap_head) };
	struct keyed_sha256 c;
	struct build_id id = { { 0 }, 0, 0 };
	const uint8_t *cfg;
	int err;

	dl_iterate_phdr(build_id_of, &id);
	if (!id.len)
		return -ENOENT;
	err = view_config_digest(b, &cfg);	/* configuration and CSV */
	if (err)
		return err;
	keyed_sha256_init(&c);
	keyed_sha256_update(&c, SNAP_MAGIC, 16);
	keyed_sha256_update(&c, versions, sizeof(versions));
	keyed_sha256_update(&c, id.id, id.len);
	keyed_sha256_update(&c, b->e->opts_fp, strlen(b->e->opts_fp) + 1);
	keyed_sha256_update(&c, cfg, 32);
	keyed_sha256_final(&c, out);
	/* keyed: the db must not let whoever holds it confirm a guessed
	 * registry file by its digest */
	keyed_hmac(b->e->key, sizeof(b->e->key), "view snapshot", out, 32,
		   out);
	return 0;
}

/* ------------------------------------------------------------- counters */

/* Every counter of struct view_stats but csv_row_problems (counted again
 * as the reports are replayed) and the causes (merged by their kind):
 * those of the refresh too, so that a counter the build comes to add is
 * kept without a change here.  A counter added to view_stats is added
 * here. */
#define STATS_U64(X)							\
	X(files_seen) X(files_analysed) X(files_unchanged)		\
	X(files_removed) X(skipped) X(skipped_dicomdir) X(published)	\
	X(causes_other) X(unlinked_studies) X(unlinked_files)		\
	X(csv_rows) X(csv_rows_written) X(csv_rows_unlinked) X(errors)	\
	X(dirs_unreadable) X(bytes)

/* The counters view_build() adds to those of the refresh. */
static void stats_delta(const struct view_stats *pre,
			const struct view_stats *post, struct view_stats *d)
{
	size_t i;

	memset(d, 0, sizeof(*d));
#define DELTA(f) d->f = post->f - pre->f;
	STATS_U64(DELTA)
#undef DELTA
	for (i = 0; i < RULES_REASON_COUNT; i++)
		d->quarantined[i] = post->quarantined[i] - pre->quarantined[i];
	/* the refresh counts no cause (view_snap_save() checks) */
	memcpy(d->causes, post->causes, sizeof(d->causes));
	d->ncauses = post->ncauses;
}

static void stats_add(struct view_stats *st, const struct view_stats *d)
{
	size_t i, k;

#define ADD(f) st->f += d->f;
	STATS_U64(ADD)
#undef ADD
	for (i = 0; i < RULES_REASON_COUNT; i++)
		st->quarantined[i] += d->quarantined[i];
	for (k = 0; k < d->ncauses; k++)
		view_add_cause(st, d->causes[k].reason, d->causes[k].rule,
			       d->causes[k].path, d->causes[k].files);
}

/* A loaded delta's causes are strings: NUL-terminated, reasons in range. */
static int delta_valid(const struct view_stats *d)
{
	size_t k;

	if (d->ncauses > VIEW_CAUSES_MAX)
		return 0;
	for (k = 0; k < d->ncauses; k++) {
		const struct view_cause_count *c = &d->causes[k];

		if (c->reason < 0 || c->reason >= RULES_REASON_COUNT ||
		    !memchr(c->rule, 0, sizeof(c->rule)) ||
		    !memchr(c->path, 0, sizeof(c->path)))
			return 0;
	}
	return 1;
}

/* -------------------------------------------------------------- reports */

void view_snap_note_report(struct report_ctx *rc, uint64_t row,
			   const char *reason)
{
	char line[256];
	int n;

	if (rc->log_full)
		return;
	n = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", row,
		     reason ? reason : "");
	if (n < 0 || (size_t)n >= sizeof(line) || strchr(line, '\n') !=
	    line + n - 1 || rc->log_len + (size_t)n > SNAP_REPORTS_MAX) {
		rc->log_full = 1;
		return;
	}
	if (rc->log_len + (size_t)n > rc->log_cap) {
		size_t nc = rc->log_cap ? rc->log_cap * 2 : 4096;
		char *p;

		while (nc < rc->log_len + (size_t)n)
			nc *= 2;
		p = realloc(rc->log, nc);
		if (!p) {
			rc->log_full = 1;
			return;
		}
		rc->log = p;
		rc->log_cap = nc;
	}
	memcpy(rc->log + rc->log_len, line, (size_t)n);
	rc->log_len += (size_t)n;
}

/* Report the rows of a loaded snapshot again, in their order (b NULL:
 * only check that every line is "row reason"). */
static int reports_replay(struct build *b, const char *log, size_t len)
{
	size_t at = 0;

	while (at < len) {
		const char *nl = memchr(log + at, '\n', len - at);
		char line[256], *end;
		uint64_t row;
		size_t k;

		if (!nl || (k = (size_t)(nl - log) - at) >= sizeof(line))
			return -EBADMSG;
		memcpy(line, log + at, k);
		line[k] = 0;
		errno = 0;
		row = strtoull(line, &end, 10);
		if (errno || end == line || *end != ' ' || line[0] < '0' ||
		    line[0] > '9')
			return -EBADMSG;
		if (b)
			view_row_report(&b->rctx, row, end + 1);
		at += k + 1;
	}
	return 0;
}

/* ------------------------------------------------------------- the save */

enum { S_HEAD, S_NODES, S_NAMES, S_INO_KEYS, S_INO_VALS, S_CSV, S_REASONS,
       S_REPORTS, S_END };

struct saver {
	const struct view *v;
	const struct snap_head *h;
	const char *reports;
	int sec;
	uint64_t off;		/* in the section */
	size_t ni, noff;	/* S_NAMES: node, offset in its name + NUL */
};

static uint64_t sec_len(const struct saver *s, int sec)
{
	switch (sec) {
	case S_HEAD:
		return sizeof(*s->h);
	case S_NODES:
		return s->h->n * sizeof(struct vnode);
	case S_NAMES:
		return s->h->names_len;
	case S_INO_KEYS:
		return s->h->ino_cap * sizeof(uint64_t);
	case S_INO_VALS:
		return s->h->ino_cap * sizeof(uint32_t);
	case S_CSV:
		return s->h->csv_len;
	case S_REASONS:
		return s->h->reasons_len;
	case S_REPORTS:
		return s->h->reports_len;
	}
	return 0;
}

static const void *sec_base(const struct saver *s, int sec)
{
	switch (sec) {
	case S_HEAD:
		return s->h;
	case S_INO_KEYS:
		return s->v->ino_keys;
	case S_INO_VALS:
		return s->v->ino_vals;
	case S_CSV:
		return s->v->csv;
	case S_REASONS:
		return s->v->reasons;
	case S_REPORTS:
		return s->reports;
	}
	return NULL;
}

/* k bytes of the nodes at s->off, their name pointers zero. */
static void fill_nodes(struct saver *s, unsigned char *out, size_t k)
{
	while (k) {
		size_t i = (size_t)(s->off / sizeof(struct vnode));
		size_t in = (size_t)(s->off % sizeof(struct vnode));
		size_t m = sizeof(struct vnode) - in;
		struct vnode nd;

		/* memcpy: the padding's bytes too, the same in both passes */
		memcpy(&nd, &s->v->nodes[i], sizeof(nd));
		nd.pub.name = NULL;
		if (m > k)
			m = k;
		memcpy(out, (unsigned char *)&nd + in, m);
		out += m;
		k -= m;
		s->off += m;
	}
}

/* k bytes of the names (nodes 1.., each with its NUL), in order. */
static void fill_names(struct saver *s, unsigned char *out, size_t k)
{
	while (k) {
		const char *nm = s->v->nodes[s->ni].pub.name;
		size_t m = strlen(nm) + 1 - s->noff;

		if (m > k)
			m = k;
		memcpy(out, nm + s->noff, m);
		out += m;
		k -= m;
		s->off += m;
		s->noff += m;
		if (!nm[s->noff - 1]) {
			s->ni++;
			s->noff = 0;
		}
	}
}

static void fill(void *arg, void *buf, size_t len)
{
	struct saver *s = arg;
	unsigned char *out = buf;

	while (len) {
		uint64_t sl;
		size_t k;

		if (s->sec == S_END) {	/* cannot happen: total is exact */
			memset(out, 0, len);
			return;
		}
		sl = sec_len(s, s->sec);
		if (s->off == sl) {
			s->sec++;
			s->off = 0;
			continue;
		}
		k = sl - s->off < len ? (size_t)(sl - s->off) : len;
		if (s->sec == S_NODES) {
			fill_nodes(s, out, k);
		} else if (s->sec == S_NAMES) {
			fill_names(s, out, k);
		} else {
			memcpy(out, (const unsigned char *)sec_base(s, s->sec) +
					    s->off, k);
			s->off += k;
		}
		out += k;
		len -= k;
	}
}

/* The SHA-256 of the stream s gives (total bytes), s's header's sum zero
 * meanwhile.  0, or -ENOMEM. */
static int stream_sum(struct saver *s, uint64_t total, uint8_t out[32])
{
	struct keyed_sha256 c;
	unsigned char *buf = malloc(1u << 20);

	if (!buf)
		return -ENOMEM;
	keyed_sha256_init(&c);
	while (total) {
		size_t k = total < (1u << 20) ? (size_t)total : (1u << 20);

		fill(s, buf, k);
		keyed_sha256_update(&c, buf, k);
		total -= k;
	}
	keyed_sha256_final(&c, out);
	free(buf);
	return 0;
}

void view_snap_save(struct build *b)
{
	const struct view *v = b->v;
	struct snap_head *h;
	struct saver s;
	uint64_t total = 0;
	size_t i;
	int sec;

	if (!b->snap_ok || !v || b->rctx.log_full || !b->snap_pre ||
	    b->snap_pre->ncauses || b->snap_pre->causes_other)
		return;
	/*
	 * Not kept by
	 * - a live mount's rebuild (not the engine's first build): the write
	 *   holds the store, and every open waits on it, for the seconds
	 *   1.9 GB take at ten million files; the next mount or export keeps
	 *   the view;
	 * - a run that has written nothing to a db opened without its check
	 *   (mount --no-refresh, store_open_lazy()): it promises an unchanged
	 *   index is read, not written, and its first write would run the
	 *   check of every page first (minutes at that size).
	 */
	if (__atomic_load_n(&b->e->builds, __ATOMIC_RELAXED) > 1 ||
	    store_check_pending(b->e->cfg.store))
		return;
	h = calloc(1, sizeof(*h));
	if (!h)
		return;
	memcpy(h->magic, SNAP_MAGIC, sizeof(h->magic));
	memcpy(h->stamp, b->snap_stamp, sizeof(h->stamp));
	/* the generation after this build's own writes; another writer's
	 * since makes store_snap_write() refuse */
	h->gen = b->snap_gen + b->snap_own;
	h->n = v->n;
	for (i = 1; i < v->n; i++)
		h->names_len += strlen(v->nodes[i].pub.name) + 1;
	h->ino_cap = v->ino_cap;
	h->csv_len = v->csv_len;
	h->has_csv = v->csv != NULL;
	h->reasons_len = v->reasons_len;
	h->has_reasons = v->reasons != NULL;
	h->reports_len = b->rctx.log_len;
	stats_delta(b->snap_pre, b->st, &h->delta);
	memset(&s, 0, sizeof(s));
	s.v = v;
	s.h = h;
	s.reports = b->rctx.log;
	s.ni = 1;
	for (sec = S_HEAD; sec < S_END; sec++)
		total += sec_len(&s, sec);
	if (!stream_sum(&s, total, h->sum)) {
		memset(&s, 0, sizeof(s));
		s.v = v;
		s.h = h;
		s.reports = b->rctx.log;
		s.ni = 1;
		(void)store_snap_write(b->e->cfg.store, h->gen, total, fill,
				       &s);
	}
	free(h);
}

/* ------------------------------------------------------------- the load */

struct loader {
	struct store *st;
	uint64_t off;
	struct keyed_sha256 sum;	/* of every byte read */
};

static int get(struct loader *l, void *buf, uint64_t n)
{
	unsigned char *p = buf;

	while (n) {
		size_t k = n < SNAP_READ_CHUNK ? (size_t)n : SNAP_READ_CHUNK;
		int err = store_snap_read(l->st, l->off, p, k);

		if (err)
			return err;
		keyed_sha256_update(&l->sum, p, k);
		p += k;
		l->off += k;
		n -= k;
	}
	return 0;
}

/* The header's sizes, before they are allocated. */
static int head_valid(const struct snap_head *h)
{
	if (h->n < 1 || h->n > UINT32_MAX || h->ino_cap < 16 ||
	    (h->ino_cap & (h->ino_cap - 1)) || h->ino_cap <= h->n ||
	    h->ino_cap > 4 * h->n + 16 ||
	    h->names_len > (h->n - 1) * (SNAP_NAME_MAX + 1) ||
	    h->names_len < h->n - 1 || h->csv_len > SNAP_TEXT_MAX ||
	    h->reasons_len > SNAP_TEXT_MAX ||
	    h->reports_len > SNAP_REPORTS_MAX ||
	    (!h->has_csv && h->csv_len) || (!h->has_reasons && h->reasons_len))
		return 0;
	return delta_valid(&h->delta);
}

/* The nodes' names from the names block, each checked: one component. */
static int link_names(struct view *v, char *names, uint64_t len)
{
	uint64_t at = 0;
	size_t i;

	v->nodes[0].pub.name = "";
	for (i = 1; i < v->n; i++) {
		char *nm = names + at;
		char *end = memchr(nm, 0, (size_t)(len - at));
		size_t k;

		if (!end)
			return -EBADMSG;
		k = (size_t)(end - nm);
		if (!k || k > SNAP_NAME_MAX || memchr(nm, '/', k) ||
		    !strcmp(nm, ".") || !strcmp(nm, ".."))
			return -EBADMSG;
		v->nodes[i].pub.name = nm;
		at += k + 1;
	}
	return at == len ? 0 : -EBADMSG;
}

/*
 * The tree as view_tree.c makes it: nodes in BFS order, the folders' child
 * ranges one after another from node 1 to the last, each child naming its
 * folder as parent, names in strictly increasing order within a folder
 * (view_lookup() searches them).  So every parent comes before its child:
 * no walk up the tree (view_path(), the export's folders) can loop.
 */
static int shape_valid(const struct view *v)
{
	size_t i, next = 1;
	uint32_t k;

	for (i = 0; i < v->n; i++) {
		const struct view_node *d = &v->nodes[i].pub;

		if (d->kind != VIEW_DIR || !d->nchildren)
			continue;
		if (d->first_child != next)
			return 0;
		for (k = 0; k < d->nchildren; k++) {
			const struct view_node *c =
				&v->nodes[d->first_child + k].pub;

			if (c->parent != d->ino ||
			    (k && strcmp(v->nodes[d->first_child + k - 1]
						 .pub.name, c->name) >= 0))
				return 0;
		}
		next += d->nchildren;
	}
	return next == v->n;
}

/* Every node's kind and links, and the inode table against the nodes. */
static int nodes_valid(const struct view *v)
{
	size_t i, found = 0;

	for (i = 0; i < v->n; i++) {
		const struct view_node *n = &v->nodes[i].pub;

		if (n->kind < VIEW_DIR || n->kind > VIEW_REASONS || !n->ino ||
		    (i == 0) != (n->ino == VIEW_INO_ROOT))
			return 0;
		if (n->kind == VIEW_DIR && n->nchildren &&
		    (n->first_child <= i ||
		     (uint64_t)n->first_child + n->nchildren > v->n))
			return 0;
		if (n->kind != VIEW_DIR && n->nchildren)
			return 0;
		/* a text is read from its buffer, as far as its size */
		if ((n->kind == VIEW_CSV &&
		     (!v->csv || n->size != v->csv_len)) ||
		    (n->kind == VIEW_REASONS &&
		     (!v->reasons || n->size != v->reasons_len)))
			return 0;
	}
	if (v->nodes[0].pub.kind != VIEW_DIR ||
	    v->nodes[0].pub.parent != VIEW_INO_ROOT)
		return 0;
	for (i = 0; i < v->ino_cap; i++) {
		if (!v->ino_keys[i])
			continue;
		if (v->ino_vals[i] >= v->n ||
		    v->nodes[v->ino_vals[i]].pub.ino != v->ino_keys[i])
			return 0;
		found++;
	}
	/* as many keys as nodes, fewer than slots: every lookup ends at an
	 * empty slot; and each node is found by its own number, so no two
	 * share one */
	if (found != v->n)
		return 0;
	for (i = 0; i < v->n; i++)
		if (view_lookup_ino(v, v->nodes[i].pub.ino) != NODE(v, i))
			return 0;
	return shape_valid(v);
}

/* The texts' mtimes and inode generations come from the settings (no
 * trigger watches them): a loaded view's must be what the store records
 * now, as a build from the rows would read them. */
static int texts_current(struct store *st, const struct view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		const struct view_node *n = &v->nodes[i].pub;
		int csv = n->kind == VIEW_CSV;

		if (n->kind != VIEW_CSV && n->kind != VIEW_REASONS)
			continue;
		if (!view_text_recorded(st, csv ? "csv" : "reasons",
					csv ? v->csv : v->reasons, (size_t)n->size,
					n->mtime_ns,
					(uint32_t)((n->ino >> 41) / 2 %
						   VIEW_INO_TEXT_GENS)) ||
		    n->ino != VIEW_INO_TEXT(csv, (n->ino >> 41) / 2))
			return 0;
	}
	return 1;
}

/* The view of header h, from the stream after it; its reports into
 * *reports (malloc'd, *rlen bytes).  0, -EBADMSG or -ENOMEM. */
static int load_view(struct loader *l, const struct snap_head *h,
		     struct view **out, char **reports)
{
	struct view *v = calloc(1, sizeof(*v));
	char *names = NULL;
	int err = -ENOMEM;

	*out = NULL;
	*reports = NULL;
	if (!v)
		return -ENOMEM;
	v->n = (size_t)h->n;
	v->ino_cap = (size_t)h->ino_cap;
	v->csv_len = (size_t)h->csv_len;
	v->reasons_len = (size_t)h->reasons_len;
	v->nodes = malloc(v->n * sizeof(*v->nodes));
	v->ino_keys = malloc(v->ino_cap * sizeof(*v->ino_keys));
	v->ino_vals = malloc(v->ino_cap * sizeof(*v->ino_vals));
	if (h->names_len)
		names = strarena_reserve(&v->strs, (size_t)h->names_len);
	if (h->has_csv)
		v->csv = malloc(v->csv_len + 1);
	if (h->has_reasons)
		v->reasons = malloc(v->reasons_len + 1);
	*reports = malloc((size_t)h->reports_len + 1);
	if (!v->nodes || !v->ino_keys || !v->ino_vals ||
	    (h->names_len && !names) || (h->has_csv && !v->csv) ||
	    (h->has_reasons && !v->reasons) || !*reports)
		goto fail;
	err = get(l, v->nodes, h->n * sizeof(*v->nodes));
	if (!err)
		err = get(l, names, h->names_len);
	if (!err)
		err = get(l, v->ino_keys, h->ino_cap * sizeof(*v->ino_keys));
	if (!err)
		err = get(l, v->ino_vals, h->ino_cap * sizeof(*v->ino_vals));
	if (!err && v->csv)
		err = get(l, v->csv, h->csv_len);
	if (!err && v->reasons)
		err = get(l, v->reasons, h->reasons_len);
	if (!err)
		err = get(l, *reports, h->reports_len);
	if (!err) {
		uint8_t sum[32];

		keyed_sha256_final(&l->sum, sum);
		if (memcmp(sum, h->sum, sizeof(sum)))
			err = -EBADMSG;
	}
	if (err)
		goto fail;
	if (v->csv)
		v->csv[v->csv_len] = 0;
	if (v->reasons)
		v->reasons[v->reasons_len] = 0;
	(*reports)[h->reports_len] = 0;
	err = link_names(v, names, h->names_len);
	if (!err && (!nodes_valid(v) || !texts_current(l->st, v)))
		err = -EBADMSG;
	if (err)
		goto fail;
	*out = v;
	return 0;
fail:
	view_free(v);
	free(*reports);
	*reports = NULL;
	return err == -ENOMEM ? err : -EBADMSG;
}

int view_snap_load(struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;
	struct loader l;
	struct snap_head *h, *h0;
	struct view *v = NULL;
	char *reports = NULL;
	int ret;

	/* an export task builds a share of the view, and verify checks
	 * what it is given against the view made from the rows */
	if (cfg->build_share_n > 1 || cfg->no_snapshot)
		return 0;
	b->snap_pre = malloc(sizeof(*b->snap_pre));
	if (!b->snap_pre)
		return 0;
	*b->snap_pre = *b->st;
	if (store_view_gen(cfg->store, &b->snap_gen))
		return 0;
	if (cfg->csv_path) {
		ret = view_cohort_load_csv(b);
		if (ret)
			return ret;
	}
	if (snap_stamp(b, b->snap_stamp))
		return 0;
	b->snap_ok = 1;
	l.st = cfg->store;
	l.off = 0;
	keyed_sha256_init(&l.sum);
	h = malloc(sizeof(*h));
	h0 = malloc(sizeof(*h0));
	ret = h && h0 ? store_snap_read(l.st, 0, h, sizeof(*h)) : -ENOMEM;
	if (!ret) {	/* the sum is of the header with its own field 0 */
		*h0 = *h;
		memset(h0->sum, 0, sizeof(h0->sum));
		l.off = sizeof(*h);
		keyed_sha256_update(&l.sum, h0, sizeof(*h0));
	}
	free(h0);
	if (ret || memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)) ||
	    memcmp(h->stamp, b->snap_stamp, sizeof(h->stamp)) ||
	    h->gen != b->snap_gen || !head_valid(h) ||
	    load_view(&l, h, &v, &reports)) {
		explicit_bzero(&l.sum, sizeof(l.sum));
		free(h);
		return 0;
	}
	if (reports_replay(NULL, reports, (size_t)h->reports_len)) {
		free(reports);
		view_free(v);
		free(h);
		return 0;
	}
	(void)reports_replay(b, reports, (size_t)h->reports_len);
	free(reports);
	stats_add(b->st, &h->delta);
	free(h);
	b->v = v;
	return 1;
}
