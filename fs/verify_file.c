/*
 * verify_file.c - findings, and one file of DATASET read once: its bytes
 * to the manifest's SHA-256, its header bytes through the automaton, and
 * all of it compared with the view's bytes; a DICOM file's header parsed
 * and checked (verify_check.h).  See verify_impl.h.
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

/* ------------------------------------------------------------ findings */

static void count_kind(struct vrun *r, const char *kind)
{
	size_t i;

	for (i = 0; i < r->ncounts; i++)
		if (!strcmp(r->counts[i].kind, kind)) {
			r->counts[i].n++;
			return;
		}
	if (r->ncounts < sizeof(r->counts) / sizeof(r->counts[0])) {
		r->counts[r->ncounts].kind = kind;
		r->counts[r->ncounts++].n = 1;
	}
}

/* A finding of the current file; the same (tag, kind) once per file. */
int verify_add_finding(struct vrun *r, const char *path, int outside,
		       const char *tag, const char *kind, int review)
{
	struct finding *f;
	size_t i;

	for (i = r->file_first; i < r->nf; i++)
		if (!strcmp(r->f[i].path, path) && !strcmp(r->f[i].tag, tag) &&
		    !strcmp(r->f[i].kind, kind))
			return 0;
	if (BASE_GROW(r->f, r->capf, r->nf, r->nf + 1, 64, 0))
		return -ENOMEM;
	f = &r->f[r->nf];
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	snprintf(f->tag, sizeof(f->tag), "%s", tag);
	f->kind = kind;
	f->review = (uint8_t)!!review;
	f->outside = (uint8_t)!!outside;
	r->nf++;
	count_kind(r, kind);
	return 0;
}

static int found_cb(void *arg, const char *tag, const char *kind, int review)
{
	struct vrun *r = arg;

	return verify_add_finding(r, r->cur_path, r->cur_outside, tag, kind, review);
}

void verify_begin_file(struct vrun *r, const char *path, int outside)
{
	r->file_first = r->nf;
	r->cur_path = path;
	r->cur_outside = outside;
	memset(r->raw_hit, 0, sizeof(r->raw_hit));
}

int verify_raw_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct hit_ctx *h = arg;
	enum vval_kind k = VVAL_KIND(id);
	int review = !!(id & VVAL_SHORT);

	(void)end;
	(void)len;
	h->r->raw_hit[k][review] = 1;
	if (h->where_tag)
		return verify_add_finding(h->r, h->r->cur_path, h->r->cur_outside,
				   h->where_tag, vval_kind_name(k), review);
	return 0;
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
static int compare_view(struct vrun *r, struct view_file *vf, uint64_t off,
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

			if (span[i].kind == VIEW_SPAN_SOURCE) {
				ssize_t got = read_at(view_file_fd(vf),
						      r->ref, len,
						      span[i].off);
				if (got < 0)
					return (int)got;
				if ((size_t)got != len)
					return -EIO;
				want = r->ref;
			} else if (span[i].kind == VIEW_SPAN_INFLATED) {
				err = view_file_inflate(vf, span[i].off,
							r->ref, len);
				if (err)
					return err;
				want = r->ref;
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

static void sha_hex(struct vrun *r, char out[65])
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	EVP_DigestFinal_ex(r->md, dg, &len);
	base_hex_encode(dg, len, out, 65);
}

static int add_manifest(struct vrun *r, const char *path, uint64_t size)
{
	struct manifest *m;

	if (BASE_GROW(r->m, r->capm, r->nm, r->nm + 1, 256, 0))
		return -ENOMEM;
	m = &r->m[r->nm];
	m->path = strdup(path);
	if (!m->path)
		return -ENOMEM;
	m->size = size;
	sha_hex(r, m->sha);
	r->nm++;
	return 0;
}

/*
 * Read the file fd once: its SHA-256, its first scan_len bytes through the
 * automaton (hits by kind, r->raw_hit), and all of it compared with the
 * view's bytes (vf, or the text want, or neither).  *diff is the first
 * offset that differs, or UINT64_MAX.
 */
int verify_read_file(struct vrun *r, int fd, uint64_t size,
		     uint64_t scan_len, const char *where_tag,
		     struct view_file *vf, const char *want, size_t wantlen,
		     uint64_t *diff)
{
	struct hit_ctx h = { r, where_tag, 0 };
	struct acm_scan sc;
	uint64_t off = 0;
	int err;

	*diff = UINT64_MAX;
	err = acm_scan_init(&sc, r->acm, verify_raw_hit, &h);
	if (err)
		return err;
	EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
	while (off < size) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t got = read_at(fd, r->buf, n, off);

		if (got < 0) {
			err = (int)got;
			break;
		}
		if (got == 0)
			break;	/* shorter than it said */
		n = (size_t)got;
		r->bytes += n;
		EVP_DigestUpdate(r->md, r->buf, n);
		if (off < scan_len) {
			size_t s = scan_len - off < n ? (size_t)(scan_len - off)
						      : n;

			err = acm_scan_feed(&sc, r->buf, s);
			if (err)
				break;
		}
		if (*diff == UINT64_MAX && vf) {
			err = compare_view(r, vf, off, r->buf, n, diff);
			if (err < 0)
				break;
			err = 0;
		} else if (*diff == UINT64_MAX && want) {
			size_t k = off < wantlen ? wantlen - (size_t)off : 0;

			if (k > n)
				k = n;
			if (memcmp(r->buf, want + off, k) || k < n)
				*diff = off;
		}
		off += n;
	}
	if (!err)
		err = acm_scan_end(&sc);
	acm_scan_done(&sc);
	explicit_bzero(r->buf, CHUNK);
	return err;
}
/* ------------------------------------------------------------ checks */

static int uid_kind(void *arg, const char *uid, const char **kind)
{
	struct vrun *r = arg;
	int cls, err;

	*kind = NULL;
	err = store_uid_class(r->st, uid, &cls);
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
static int unplaced_hits(struct vrun *r, uint8_t placed[VVAL_COUNT][2])
{
	int k, s, err = 0;

	for (k = 0; k < VVAL_COUNT && !err; k++)
		for (s = 0; s < 2 && !err; s++)
			if (r->raw_hit[k][s] && !placed[k][s])
				err = verify_add_finding(r, r->cur_path, 0,
						  "outside any value",
						  vval_kind_name(
							  (enum vval_kind)k),
						  s);
	return err;
}

static int placed_cb(void *arg, const char *tag, const char *kind,
		     int review)
{
	struct vrun *r = arg;
	int k;

	for (k = 0; k < VVAL_COUNT; k++)
		if (!strcmp(kind, vval_kind_name((enum vval_kind)k)))
			r->raw_hit[k][!!review] |= 2;	/* placed */
	return verify_add_finding(r, r->cur_path, 0, tag, kind, review);
}

static int check_dicom(struct vrun *r, const struct view_node *n,
		       const char *vpath, int fd, const struct stat *st)
{
	struct dicom_source src = { &fd, src_pread, (uint64_t)st->st_size,
				    NULL };
	struct dicom_parsed p;
	struct view_file *vf = NULL;
	uint64_t hdr_end = (uint64_t)st->st_size, diff;
	uint8_t placed[VVAL_COUNT][2];
	int parsed, err, k, s;

	r->dicom++;
	memset(&p, 0, sizeof(p));
	parsed = !dicom_parse(&src, &p);
	if (!parsed)
		err = verify_add_finding(r, vpath, 0, "-", "unparseable", 0);
	else if (p.has_pixel)
		hdr_end = p.pixel_off;
	err = view_file_open(r->e, r->v, n, &vf);
	if (err == -ESTALE)
		err = verify_add_finding(r, vpath, 0, "-", "source-changed", 0);
	else if (err)
		err = verify_add_finding(r, vpath, 0, "-", "source-unreadable", 0);
	if (err)
		goto out;
	if (vf)
		r->compared++;
	err = verify_read_file(r, fd, (uint64_t)st->st_size, hdr_end, NULL, vf, NULL,
			0, &diff);
	if (err)
		goto out;
	if (diff != UINT64_MAX)
		err = verify_add_finding(r, vpath, 0, "-",
				  diff < hdr_end ? "header-differs"
						 : "pixel-differs",
				  0);
	if (!err && (uint64_t)st->st_size != n->size)
		err = verify_add_finding(r, vpath, 0, "-", "size-differs", 0);
	if (err || !parsed)
		goto out;
	err = vcheck_marks(&p.ds, found_cb, r);
	if (!err && r->check_uids)
		err = vcheck_uids(&p.ds, uid_kind, found_cb, r);
	/* where the header's hits are: by tag */
	for (k = 0; k < VVAL_COUNT && !err; k++)
		for (s = 0; s < 2; s++)
			if (r->raw_hit[k][s]) {
				err = vcheck_values(&p.ds, r->acm, placed_cb,
						    r);
				k = VVAL_COUNT;
				break;
			}
	for (k = 0; k < VVAL_COUNT; k++)
		for (s = 0; s < 2; s++) {
			placed[k][s] = (r->raw_hit[k][s] & 2) != 0;
			r->raw_hit[k][s] &= 1;
		}
	if (!err)
		err = unplaced_hits(r, placed);
out:
	view_file_free(vf);
	dicom_parsed_free(&p);
	return err;
}

/* A file of the view, present in DATASET at full. */
int verify_check_file(struct vrun *r, const struct view_node *n,
		      const char *vpath, const char *full)
{
	struct stat st;
	uint64_t diff;
	int fd, err;

	verify_begin_file(r, vpath, 0);
	r->checked++;
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return verify_add_finding(r, vpath, 0, "-", "unreadable", 0);
	}
	if (n->kind == VIEW_DICOM) {
		err = check_dicom(r, n, vpath, fd, &st);
	} else {
		size_t tlen = 0;
		const char *text = view_text(r->v, n, &tlen);

		r->texts++;
		err = verify_read_file(r, fd, (uint64_t)st.st_size,
				(uint64_t)st.st_size, "-", NULL,
				text ? text : "", tlen, &diff);
		if (!err && (diff != UINT64_MAX ||
			     (uint64_t)st.st_size != tlen))
			err = verify_add_finding(r, vpath, 0, "-", "content-differs",
					  0);
	}
	if (!err)
		err = add_manifest(r, vpath, (uint64_t)st.st_size);
	close(fd);
	return err;
}
