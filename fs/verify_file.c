/*
 * verify_file.c - findings, and one file of DATASET read once: its bytes
 * to the manifest's SHA-256, its header bytes through the automaton, and
 * all of it compared with the view's bytes; a DICOM file's header parsed
 * and checked (verify_check.h), and dciodvfy run on it and its source
 * (verify_oracle.h).  Any worker runs any unit; a unit's findings are its
 * own.  See verify_impl.h.
 */
#include "verify_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "dicom.h"
#include "verify_check.h"
#include "verify_oracle.h"

/* ------------------------------------------------------------ findings */

int verify_begin(struct vwork *w, const char *path, int outside)
{
	struct vrun *r = w->r;
	struct unit *u;

	if (BASE_GROW(r->units, r->capunits, r->nunits, r->nunits + 1, 256,
		      0))
		return -ENOMEM;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->path = strdup(path);
	if (!u->path) {
		free(u);
		return -ENOMEM;
	}
	u->outside = (uint8_t)!!outside;
	r->units[r->nunits++] = u;
	w->u = u;
	memset(w->raw_hit, 0, sizeof(w->raw_hit));
	return 0;
}

/* A finding of the current unit; the same (tag, kind) once. */
int verify_add_finding(struct vwork *w, const char *tag, const char *kind,
		       int review)
{
	struct unit *u = w->u;
	struct finding *f;
	size_t i;

	for (i = 0; i < u->nf; i++)
		if (!strcmp(u->f[i].tag, tag) && !strcmp(u->f[i].kind, kind))
			return 0;
	if (BASE_GROW(u->f, u->capf, u->nf, u->nf + 1, 4, 0))
		return -ENOMEM;
	f = &u->f[u->nf++];
	snprintf(f->tag, sizeof(f->tag), "%s", tag);
	f->kind = kind;
	f->review = (uint8_t)!!review;
	return 0;
}

static int found_cb(void *arg, const char *tag, const char *kind, int review)
{
	return verify_add_finding(arg, tag, kind, review);
}

int verify_raw_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct hit_ctx *h = arg;
	enum vval_kind k = VVAL_KIND(id);
	int review = !!(id & VVAL_SHORT);

	(void)end;
	(void)len;
	h->w->raw_hit[k][review] = 1;
	if (h->where_tag)
		return verify_add_finding(h->w, h->where_tag,
					  vval_kind_name(k), review);
	return 0;
}

void verify_units_free(struct vrun *r)
{
	size_t i;

	for (i = 0; i < r->nunits; i++) {
		free(r->units[i]->path);
		free(r->units[i]->full);
		free(r->units[i]->f);
		free(r->units[i]);
	}
	free(r->units);
	r->units = NULL;
	r->nunits = r->capunits = 0;
}

int verify_work_init(struct vwork *w, struct vrun *r)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->rd.fd = -1;
	return 0;
}

/* The buffers, on a slot's first unit: a worker's slots beyond the files
 * there are cost nothing. */
static int work_buffers(struct vwork *w)
{
	if (!w->buf)
		w->buf = malloc(CHUNK);
	if (!w->ref)
		w->ref = malloc(CHUNK);
	return w->buf && w->ref ? 0 : -ENOMEM;
}

/* What the buffers held (dataset and source bytes) wiped. */
static void wipe_buffers(struct vwork *w)
{
	if (w->buf)
		explicit_bzero(w->buf, w->buf_used);
	if (w->ref)
		explicit_bzero(w->ref, w->ref_used);
	w->buf_used = w->ref_used = 0;
}

void verify_work_done(struct vwork *w)
{
	wipe_buffers(w);
	free(w->buf);
	free(w->ref);
	w->buf = w->ref = NULL;
	explicit_bzero(&w->rd.sha, sizeof(w->rd.sha));
}

/* ------------------------------------------------------------ reading */

static ssize_t read_at(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, (uint8_t *)buf + got, n - got,
				  (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

static ssize_t src_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	return read_at(*(int *)ctx, buf, n, off);
}

/* Compare (out, n) at off with the view file's bytes.  Returns 0 when
 * equal, 1 when not (*at: the first offset that differs, roughly), or
 * -errno when the view's bytes cannot be read. */
static int compare_view(struct vwork *w, struct view_file *vf, uint64_t off,
			const uint8_t *out, size_t n, uint64_t *at)
{
	struct view_span span[MAX_SPANS];
	size_t done = 0;

	while (done < n) {
		unsigned k, i;

		k = view_map_read(vf, off + done, n - done, span, MAX_SPANS);
		if (!k) {
			*at = off + done;	/* the view ends here */
			return 1;
		}
		for (i = 0; i < k; i++) {
			const uint8_t *want = span[i].mem;
			size_t len = (size_t)span[i].len;
			int err;

			if (len > w->ref_used)
				w->ref_used = len;
			if (span[i].kind == VIEW_SPAN_SOURCE) {
				ssize_t got = read_at(view_file_fd(vf),
						      w->ref, len,
						      span[i].off);
				if (got < 0)
					return (int)got;
				if ((size_t)got != len)
					return -EIO;
				want = w->ref;
			} else if (span[i].kind == VIEW_SPAN_INFLATED) {
				err = view_file_inflate(vf, span[i].off,
							w->ref, len);
				if (err)
					return err;
				want = w->ref;
			}
			if (memcmp(out + done, want, len)) {
				*at = off + done;
				return 1;
			}
			done += len;
		}
	}
	return 0;
}

/* The file just read goes to the manifest (as the unit's). */
static void add_manifest(struct vwork *w, uint64_t size)
{
	uint8_t dg[32];

	keyed_sha256_final(&w->rd.sha, dg);
	base_hex_encode(dg, sizeof(dg), w->u->sha, sizeof(w->u->sha));
	w->u->size = size;
	w->u->listed = 1;
}

/*
 * Set up the read of rd.fd, size bytes: its first scan_len bytes through
 * the automaton (hits by kind, w->raw_hit), all of it compared with the
 * view's bytes (vf, or the text want, or neither), and hashed when hash is
 * set.  verify_unit_step() then reads it a chunk at a time.
 */
static int read_begin(struct vwork *w, uint64_t size, uint64_t scan_len,
		      const char *where_tag, struct view_file *vf,
		      const char *want, size_t wantlen, int hash)
{
	struct vread *rd = &w->rd;
	int err;

	rd->size = size;
	rd->off = 0;
	rd->scan_len = scan_len;
	rd->diff = UINT64_MAX;
	rd->cmp_vf = vf;
	rd->want = want;
	rd->wantlen = wantlen;
	rd->hash = (uint8_t)!!hash;
	rd->pending = 0;
	rd->eof = 0;
	rd->h.w = w;
	rd->h.where_tag = where_tag;
	err = acm_scan_init(&rd->sc, w->r->acm, verify_raw_hit, &rd->h);
	if (err)
		return err;
	rd->scanning = 1;
	if (hash)
		keyed_sha256_init(&rd->sha);
	return 0;
}

int verify_unit_step(struct vwork *w)
{
	struct vread *rd = &w->rd;
	uint64_t off = rd->off;
	size_t n;
	ssize_t got;
	int err = 0;

	rd->pending = 0;
	if (off >= rd->size) {
		rd->eof = 1;
		return 0;
	}
	n = rd->size - off < CHUNK ? (size_t)(rd->size - off) : CHUNK;
	if (n > w->buf_used)
		w->buf_used = n;
	got = read_at(rd->fd, w->buf, n, off);
	if (got < 0)
		return (int)got;
	if (got == 0) {
		/* shorter than it said: it changed while read */
		if (rd->diff == UINT64_MAX)
			rd->diff = off;
		rd->short_read = 1;
		rd->eof = 1;
		return 0;
	}
	n = (size_t)got;
	w->t.bytes += n;
	if (rd->hash)
		rd->pending = n;
	if (off < rd->scan_len) {
		size_t k = rd->scan_len - off < n ? (size_t)(rd->scan_len - off)
						  : n;

		err = acm_scan_feed(&rd->sc, w->buf, k);
		if (err)
			return err;
	}
	if (rd->diff == UINT64_MAX && rd->cmp_vf) {
		err = compare_view(w, rd->cmp_vf, off, w->buf, n, &rd->diff);
		if (err < 0)
			return err;
	} else if (rd->diff == UINT64_MAX && rd->want) {
		size_t k = off < rd->wantlen ? rd->wantlen - (size_t)off : 0;

		if (k > n)
			k = n;
		if (memcmp(w->buf, rd->want + off, k) || k < n)
			rd->diff = off;
	}
	rd->off = off + n;
	if (rd->off >= rd->size)
		rd->eof = 1;
	return 0;
}

/* The read's end: the automaton's last hits (unless err), and the bytes it
 * held wiped. */
static int read_end(struct vwork *w, int err)
{
	struct vread *rd = &w->rd;

	if (rd->scanning) {
		if (!err)
			err = acm_scan_end(&rd->sc);
		acm_scan_done(&rd->sc);
		rd->scanning = 0;
	}
	rd->pending = 0;
	wipe_buffers(w);
	return err;
}

/* ------------------------------------------------------------ checks */

static int uid_kind(void *arg, const char *uid, const char **kind)
{
	struct vwork *w = arg;
	int cls, err;

	*kind = NULL;
	err = store_uid_class(w->r->st, uid, &cls);
	if (err)
		return err;
	if (cls == STORE_UID_ORIGINAL)
		*kind = "original-uid";
	else if (cls == STORE_UID_UNKNOWN)
		*kind = "uid-not-keyed";
	return 0;
}

/* The hits of the raw header that no value accounts for: in the file
 * meta or between values. */
static int unplaced_hits(struct vwork *w, uint8_t placed[VVAL_COUNT][2])
{
	int k, s, err = 0;

	for (k = 0; k < VVAL_COUNT && !err; k++)
		for (s = 0; s < 2 && !err; s++)
			if (w->raw_hit[k][s] && !placed[k][s])
				err = verify_add_finding(
					w, "outside any value",
					vval_kind_name((enum vval_kind)k), s);
	return err;
}

static int placed_cb(void *arg, const char *tag, const char *kind,
		     int review)
{
	struct vwork *w = arg;
	int k;

	for (k = 0; k < VVAL_COUNT; k++)
		if (!strcmp(kind, vval_kind_name((enum vval_kind)k)))
			w->raw_hit[k][!!review] |= 2;	/* placed */
	return verify_add_finding(w, tag, kind, review);
}

/* The header's checks: marks, UIDs, and where the raw hits are. */
static int check_header(struct vwork *w, const struct dcm_ds *ds)
{
	uint8_t placed[VVAL_COUNT][2];
	int err, k, s, any = 0;

	err = vcheck_marks(ds, found_cb, w);
	if (!err && w->r->check_uids)
		err = vcheck_uids(ds, uid_kind, found_cb, w);
	for (k = 0; k < VVAL_COUNT; k++)
		for (s = 0; s < 2; s++)
			any |= w->raw_hit[k][s];
	/* where the header's hits are: by tag */
	if (!err && any)
		err = vcheck_values(ds, w->r->acm, placed_cb, w);
	for (k = 0; k < VVAL_COUNT; k++)
		for (s = 0; s < 2; s++) {
			placed[k][s] = (w->raw_hit[k][s] & 2) != 0;
			w->raw_hit[k][s] &= 1;
		}
	if (!err)
		err = unplaced_hits(w, placed);
	return err;
}

/* Out of descriptors or memory: the machine's state, not the file's; the
 * run stops with the cause rather than report the file. */
static int out_of(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM;
}

/* dciodvfy on the published file fd and its source, for a published file
 * of the view (not a quarantined one): started before the file is read,
 * so the two runs overlap the reading. */
static void oracle_start(struct vwork *w, const struct view_node *n,
			 int fd, struct view_file *vf, struct voracle **o,
			 int *err)
{
	int e;

	*o = NULL;
	if (w->r->oracle != VORACLE_ON || n->quarantined || !vf)
		return;
	w->t.oracle_files++;
	e = voracle_start(w->r->oracle_path, fd, view_file_fd(vf), o);
	if (out_of(e))
		*err = e;	/* not the file's doing: the run stops */
	else if (e)
		*err = verify_add_finding(w, "-", "dciodvfy-not-run", 0);
}

static int dicom_begin(struct vwork *w, const struct view_node *n)
{
	struct vread *rd = &w->rd;
	/* the parse's bytes counted in the worker's budget (never waited
	 * for: its cap is out of reach), for the worker's HELD_MAX */
	struct dicom_source src = { &rd->fd, src_pread,
				    (uint64_t)rd->st.st_size, w->bud };
	int err;

	w->t.dicom++;
	rd->hdr_end = (uint64_t)rd->st.st_size;
	err = dicom_parse(&src, &rd->p);
	rd->parsed = !err;
	if (out_of(err))
		return err;	/* not the file's doing: the run stops */
	if (err)
		err = verify_add_finding(w, "-", "unparseable", 0);
	else if (rd->p.has_pixel)
		rd->hdr_end = rd->p.pixel_off;
	if (err)
		return err;
	err = view_file_open(w->r->e, w->r->v, n, &rd->vf);
	if (out_of(err))
		return err;	/* not the file's doing: the run stops */
	if (err == -ESTALE)
		err = verify_add_finding(w, "-", "source-changed", 0);
	else if (err)
		err = verify_add_finding(w, "-", "source-unreadable", 0);
	if (err)
		return err;
	if (rd->vf)
		w->t.compared++;
	oracle_start(w, n, rd->fd, rd->vf, &rd->o, &err);
	if (!err)
		err = read_begin(w, (uint64_t)rd->st.st_size, rd->hdr_end,
				 NULL, rd->vf, NULL, 0, 1);
	return err;
}

static int dicom_end(struct vwork *w, const struct view_node *n, int err)
{
	struct vread *rd = &w->rd;
	uint64_t diff = rd->diff;

	if (!err && diff != UINT64_MAX)
		err = verify_add_finding(w, "-",
					 diff < rd->hdr_end ? "header-differs"
							    : "pixel-differs",
					 0);
	if (!err && (uint64_t)rd->st.st_size != n->size)
		err = verify_add_finding(w, "-", "size-differs", 0);
	if (!err && rd->parsed)
		err = check_header(w, &rd->p.ds);
	if (!err && rd->o) {
		err = voracle_finish(rd->o, found_cb, w);
		rd->o = NULL;
	}
	voracle_abandon(rd->o);
	view_file_free(rd->vf);
	dicom_parsed_free(&rd->p);
	rd->o = NULL;
	rd->vf = NULL;
	return err;
}

/* Open the unit's file; an unreadable one is a finding, and no read.
 * O_NONBLOCK: a FIFO put in its place does not hold the run (it is not a
 * regular file: a finding; an extra one reads as empty). */
static int open_unit(struct vwork *w, const char *full, int *none)
{
	struct vread *rd = &w->rd;

	*none = 0;
	rd->fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (rd->fd < 0 && errno == EWOULDBLOCK)	/* a lease: wait it out */
		rd->fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (rd->fd < 0 && out_of(-errno))
		return -errno;
	if (rd->fd >= 0 && !fstat(rd->fd, &rd->st) &&
	    S_ISREG(rd->st.st_mode)) {
		int fl = fcntl(rd->fd, F_GETFL);

		if (fl >= 0)
			fcntl(rd->fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	if (rd->fd < 0 || fstat(rd->fd, &rd->st) ||
	    (w->u->job == VJOB_FILE && !S_ISREG(rd->st.st_mode))) {
		if (rd->fd >= 0)
			close(rd->fd);
		rd->fd = -1;
		*none = 1;
		return verify_add_finding(w, "-", "unreadable", 0);
	}
	return 0;
}

int verify_unit_begin(struct vwork *w, struct unit *u)
{
	struct vread *rd = &w->rd;
	int none, err;

	w->u = u;
	memset(w->raw_hit, 0, sizeof(w->raw_hit));
	memset(&rd->p, 0, sizeof(rd->p));
	rd->vf = rd->cmp_vf = NULL;
	rd->o = NULL;
	rd->parsed = rd->scanning = 0;
	rd->eof = 1;	/* nothing to read, until there is */
	rd->pending = 0;
	rd->short_read = 0;
	if (u->job == VJOB_FILE)
		w->t.checked++;
	err = work_buffers(w);
	if (!err)
		err = open_unit(w, u->full, &none);
	if (err || none)
		return err;
	if (u->job == VJOB_FILE && u->n->kind == VIEW_DICOM)
		return dicom_begin(w, u->n);
	if (u->job == VJOB_FILE) {
		size_t tlen = 0;
		const char *text = view_text(w->r->v, u->n, &tlen);

		w->t.texts++;
		return read_begin(w, (uint64_t)rd->st.st_size,
				  (uint64_t)rd->st.st_size, "-", NULL,
				  text ? text : "", tlen, 1);
	}
	/* an extra file: searched, not listed */
	w->t.extra_scanned++;
	return read_begin(w,
			  (uint64_t)rd->st.st_size < EXTRA_SCAN_MAX
				  ? (uint64_t)rd->st.st_size : EXTRA_SCAN_MAX,
			  EXTRA_SCAN_MAX, "content", NULL, NULL, 0, 0);
}

int verify_unit_end(struct vwork *w, int err)
{
	struct vread *rd = &w->rd;
	struct unit *u = w->u;

	if (rd->fd < 0)
		return err;	/* not opened: nothing read */
	err = read_end(w, err);
	if (u->job == VJOB_FILE && u->n->kind == VIEW_DICOM) {
		err = dicom_end(w, u->n, err);
	} else if (u->job == VJOB_FILE) {
		if (!err && (rd->diff != UINT64_MAX ||
			     (uint64_t)rd->st.st_size != rd->wantlen))
			err = verify_add_finding(w, "-", "content-differs", 0);
	}
	if (!err && u->job == VJOB_FILE) {
		/* the manifest lists what was read, of the file as it is */
		struct stat now;

		if (rd->short_read || fstat(rd->fd, &now) ||
		    now.st_size != rd->st.st_size ||
		    now.st_mtim.tv_sec != rd->st.st_mtim.tv_sec ||
		    now.st_mtim.tv_nsec != rd->st.st_mtim.tv_nsec)
			err = verify_add_finding(w, "-", "changed-while-read",
						 0);
		else
			add_manifest(w, (uint64_t)rd->st.st_size);
	}
	explicit_bzero(&rd->sha, sizeof(rd->sha));	/* when not final */
	close(rd->fd);
	rd->fd = -1;
	return err;
}
