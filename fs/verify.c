/*
 * verify.c - `deidfs verify --db FILE [--csv-out FILE] [--report FILE]
 * DATASET`: the release gate (include/verify.h).
 *
 * The db says what the dataset must be: the view it recorded (the source,
 * the CSV, the options; view_config_recall()) is built again from the
 * index, without refreshing it, and every entry of DATASET is held
 * against it: nothing missing, nothing extra, no stray temporary file, and
 * every file byte for byte what the view serves (a DICOM file's pixel data
 * read from its source through the view's byte map, as export and mount
 * do).  Independently of the view, every header byte, every name and
 * every text is searched in one pass with one automaton of all the
 * original values the db recorded (verify_values.h), and each header is
 * parsed and must carry the de-identification marks and keyed UIDs
 * (verify_check.h).
 *
 * Each file is read once, in large reads, sequentially: its bytes go to
 * the manifest's SHA-256, its header bytes through the automaton, and all
 * of it is compared with the view's bytes.
 *
 * What it prints (findings, the summary, the report) holds view paths,
 * tags, kinds and counts.  A name in DATASET that the view does not have
 * may be anything (a name, an ID): it is never printed; the finding names
 * the folder that holds it.
 */
#include "verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base.h"
#include "dicom.h"
#include "keyed.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "verify_check.h"
#include "verify_values.h"
#include "view.h"

#define CHUNK (1u << 20)
#define MAX_SPANS 16
/* an extra file is searched this far (it is a finding anyway) */
#define EXTRA_SCAN_MAX (1ull << 30)

static const char usage_text[] =
	"usage: deidfs verify --db FILE [--csv-out FILE] [--report FILE] "
	"[-q] DATASET\n"
	"\n"
	"Check that DATASET (an export directory or a live mount) is exactly "
	"the view\n"
	"the db recorded and holds no original value the db knows of.\n"
	"\n"
	"  --db FILE        the project db (read; never created)\n"
	"  --csv-out FILE   the cleaned CSV, when it is not in DATASET\n"
	"  --report FILE    write the report as JSON\n"
	"  -q, --quiet      only the result line on stdout\n"
	"\n"
	"Exit status: 0 nothing found, 1 findings (or the check could not be "
	"made),\n"
	"2 usage error.\n";

struct finding {
	char *path;		/* a view path (of the folder, for an entry
				 * that is not in the view) */
	char tag[96];		/* a tag path, "name", or "-" */
	const char *kind;	/* static */
	uint8_t review;		/* a short value: may be chance */
	uint8_t outside;	/* an entry the view does not have */
};

struct manifest {
	char *path;
	uint64_t size;
	char sha[65];
};

struct kind_count {
	const char *kind;
	uint64_t n;
};

struct vrun {
	/* options */
	const char *db, *csv_out, *report, *dataset;
	int quiet;
	/* what the db says */
	struct store *st;
	struct view_engine *e;
	struct view *v;
	struct view_config cfg;
	struct view_recall recall;
	struct view_whitelist *wl;
	struct vval *vals;
	const struct acm *acm;
	char fingerprint[33];
	int check_uids;
	int with_quarantine;	/* DATASET has .quarantine/ */
	/* results */
	struct finding *f;
	size_t nf, capf;
	size_t file_first;	/* findings of the current file from here */
	struct manifest *m;
	size_t nm, capm;
	struct kind_count counts[64];
	size_t ncounts;
	uint64_t expected, checked, dicom, texts, compared, entries, names,
		 bytes, extra_scanned;
	/* the current file */
	const char *cur_path;
	int cur_outside;
	uint8_t raw_hit[VVAL_COUNT][2];
	/* buffers */
	uint8_t *buf, *ref;
	EVP_MD_CTX *md;
};

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
static int add_finding(struct vrun *r, const char *path, int outside,
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

	return add_finding(r, r->cur_path, r->cur_outside, tag, kind, review);
}

static void begin_file(struct vrun *r, const char *path, int outside)
{
	r->file_first = r->nf;
	r->cur_path = path;
	r->cur_outside = outside;
	memset(r->raw_hit, 0, sizeof(r->raw_hit));
}

/* A hit of the raw stream (a header, a text, a name): remembered by kind;
 * where_tag says where, or NULL to report later (headers: by tag). */
struct hit_ctx {
	struct vrun *r;
	const char *where_tag;
	int err;
};

static int raw_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct hit_ctx *h = arg;
	enum vval_kind k = VVAL_KIND(id);
	int review = !!(id & VVAL_SHORT);

	(void)end;
	(void)len;
	h->r->raw_hit[k][review] = 1;
	if (h->where_tag)
		return add_finding(h->r, h->r->cur_path, h->r->cur_outside,
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
static int read_file(struct vrun *r, int fd, uint64_t size,
		     uint64_t scan_len, const char *where_tag,
		     struct view_file *vf, const char *want, size_t wantlen,
		     uint64_t *diff)
{
	struct hit_ctx h = { r, where_tag, 0 };
	struct acm_scan sc;
	uint64_t off = 0;
	int err;

	*diff = UINT64_MAX;
	err = acm_scan_init(&sc, r->acm, raw_hit, &h);
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
				err = add_finding(r, r->cur_path, 0,
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
	return add_finding(r, r->cur_path, 0, tag, kind, review);
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
		err = add_finding(r, vpath, 0, "-", "unparseable", 0);
	else if (p.has_pixel)
		hdr_end = p.pixel_off;
	err = view_file_open(r->e, r->v, n, &vf);
	if (err == -ESTALE)
		err = add_finding(r, vpath, 0, "-", "source-changed", 0);
	else if (err)
		err = add_finding(r, vpath, 0, "-", "source-unreadable", 0);
	if (err)
		goto out;
	if (vf)
		r->compared++;
	err = read_file(r, fd, (uint64_t)st->st_size, hdr_end, NULL, vf, NULL,
			0, &diff);
	if (err)
		goto out;
	if (diff != UINT64_MAX)
		err = add_finding(r, vpath, 0, "-",
				  diff < hdr_end ? "header-differs"
						 : "pixel-differs",
				  0);
	if (!err && (uint64_t)st->st_size != n->size)
		err = add_finding(r, vpath, 0, "-", "size-differs", 0);
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
static int check_file(struct vrun *r, const struct view_node *n,
		      const char *vpath, const char *full)
{
	struct stat st;
	uint64_t diff;
	int fd, err;

	begin_file(r, vpath, 0);
	r->checked++;
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return add_finding(r, vpath, 0, "-", "unreadable", 0);
	}
	if (n->kind == VIEW_DICOM) {
		err = check_dicom(r, n, vpath, fd, &st);
	} else {
		size_t tlen = 0;
		const char *text = view_text(r->v, n, &tlen);

		r->texts++;
		err = read_file(r, fd, (uint64_t)st.st_size,
				(uint64_t)st.st_size, "-", NULL,
				text ? text : "", tlen, &diff);
		if (!err && (diff != UINT64_MAX ||
			     (uint64_t)st.st_size != tlen))
			err = add_finding(r, vpath, 0, "-", "content-differs",
					  0);
	}
	if (!err)
		err = add_manifest(r, vpath, (uint64_t)st.st_size);
	close(fd);
	return err;
}

/* An entry the view does not have, at full, in the folder vdir: a finding
 * under the folder's path; its bytes (a file) or its entries (a folder)
 * are searched too. */
static int walk_extra(struct vrun *r, const char *vdir, const char *full,
		      const char *name, int depth);

static int is_tmp_name(const char *name)
{
	size_t n = strlen(name);

	return n >= 4 && !strcmp(name + n - 4, ".tmp");
}

static int scan_name(struct vrun *r, const char *name)
{
	struct hit_ctx h = { r, "name", 0 };

	r->names++;
	return acm_scan_buf(r->acm, name, strlen(name), raw_hit, &h);
}

static int extra_entry(struct vrun *r, const char *vdir, const char *full,
		       const char *name, int depth)
{
	struct stat st;
	uint64_t diff;
	int fd, err;

	begin_file(r, vdir, 1);
	err = scan_name(r, name);
	if (err)
		return err;
	if (lstat(full, &st))
		return add_finding(r, vdir, 1, "-", "unreadable", 0);
	err = add_finding(r, vdir, 1, "-",
			  is_tmp_name(name) ? "stray-tmp" : "extra", 0);
	if (err)
		return err;
	if (S_ISDIR(st.st_mode))
		return walk_extra(r, vdir, full, name, depth + 1);
	if (!S_ISREG(st.st_mode))
		return 0;
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return add_finding(r, vdir, 1, "-", "unreadable", 0);
	r->extra_scanned++;
	err = read_file(r, fd,
			(uint64_t)st.st_size < EXTRA_SCAN_MAX
				? (uint64_t)st.st_size : EXTRA_SCAN_MAX,
			EXTRA_SCAN_MAX, "content", NULL, NULL, 0, &diff);
	close(fd);
	return err;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder full, sorted (deterministic output).  *names
 * freed with free_names(). */
static int list_dir(const char *full, char ***names, size_t *n)
{
	DIR *d = opendir(full);
	struct dirent *de;
	size_t cap = 0;
	int err = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (BASE_GROW(*names, cap, *n, *n + 1, 64, 0)) {
			err = -ENOMEM;
			break;
		}
		(*names)[*n] = strdup(de->d_name);
		if (!(*names)[*n]) {
			err = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return err;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int join(char *out, size_t outsz, const char *a, const char *b)
{
	int k = snprintf(out, outsz, "%s%s%s", a, *a ? "/" : "", b);

	return k < 0 || (size_t)k >= outsz ? -ENAMETOOLONG : 0;
}

static int walk_extra(struct vrun *r, const char *vdir, const char *full,
		      const char *name, int depth)
{
	char **names = NULL, sub[PATH_MAX];
	size_t n = 0, i;
	int err;

	(void)name;
	if (depth > 64)
		return 0;
	err = list_dir(full, &names, &n);
	if (err) {
		free_names(names, n);
		return add_finding(r, vdir, 1, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		err = join(sub, sizeof(sub), full, names[i]);
		if (!err)
			err = extra_entry(r, vdir, sub, names[i], depth);
	}
	free_names(names, n);
	return err;
}

/* The position of child c in dir (children are in name order). */
static uint32_t child_index(const struct view *v, const struct view_node *dir,
			    const struct view_node *c)
{
	uint32_t lo = 0, hi = dir->nchildren;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct view_node *m = view_child(v, dir, mid);
		int k = strcmp(m->name, c->name);

		if (!k)
			return mid;
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return dir->nchildren;	/* the spare slot of seen[] */
}

/* Whether the view expects node n in DATASET. */
static int expected(const struct vrun *r, const struct view_node *n)
{
	if (n->hidden || n->quarantined)
		return r->with_quarantine;
	if (n->kind == VIEW_CSV && r->csv_out)
		return 0;	/* checked at --csv-out */
	return 1;
}

static int walk_view(struct vrun *r, const struct view_node *dir,
		     const char *vpath, const char *full, int depth)
{
	char **names = NULL, sub[PATH_MAX], vsub[PATH_MAX];
	uint8_t *seen = NULL;
	size_t n = 0, i;
	struct stat st;
	int err;

	if (depth > 64)
		return 0;
	err = list_dir(full, &names, &n);
	seen = calloc(dir->nchildren + 1, 1);
	if (err || !seen) {
		free_names(names, n);
		free(seen);
		begin_file(r, vpath, 0);
		return err == -ENOMEM || !seen ? -ENOMEM
			: add_finding(r, vpath, 0, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		const struct view_node *c = view_lookup(r->v, dir, names[i]);

		r->entries++;
		err = join(sub, sizeof(sub), full, names[i]);
		if (err)
			break;
		if (!c || !(c->kind == VIEW_CSV && r->csv_out ? 1
							       : expected(r, c))) {
			err = extra_entry(r, vpath, sub, names[i], depth);
			continue;
		}
		seen[child_index(r->v, dir, c)] = 1;
		err = join(vsub, sizeof(vsub), vpath, names[i]);
		if (!err) {
			begin_file(r, vsub, 0);
			err = scan_name(r, names[i]);
		}
		if (err)
			break;
		if (lstat(sub, &st)) {
			err = add_finding(r, vsub, 0, "-", "unreadable", 0);
		} else if (c->kind == VIEW_DIR) {
			err = S_ISDIR(st.st_mode)
				      ? walk_view(r, c, vsub, sub, depth + 1)
				      : add_finding(r, vsub, 0, "-",
						    "not-a-folder", 0);
		} else if (!S_ISREG(st.st_mode)) {
			err = add_finding(r, vsub, 0, "-", "not-a-file", 0);
		} else {
			err = check_file(r, c, vsub, sub);
		}
	}
	/* what the listing did not show: missing, or hidden (.quarantine of
	 * a mount is not listed, yet there) */
	for (i = 0; i < dir->nchildren && !err; i++) {
		const struct view_node *c = view_child(r->v, dir, (uint32_t)i);

		if (seen[i] || !expected(r, c))
			continue;
		r->expected += c->kind != VIEW_DIR;
		err = join(vsub, sizeof(vsub), vpath, c->name);
		if (!err)
			err = join(sub, sizeof(sub), full, c->name);
		if (err)
			break;
		if (c->hidden && !lstat(sub, &st) && S_ISDIR(st.st_mode)) {
			err = walk_view(r, c, vsub, sub, depth + 1);
			continue;
		}
		begin_file(r, vsub, 0);
		err = add_finding(r, vsub, 0, "-", "missing", 0);
	}
	for (i = 0; i < dir->nchildren; i++)
		if (seen[i] && view_child(r->v, dir, (uint32_t)i)->kind !=
				       VIEW_DIR)
			r->expected++;
	free(seen);
	free_names(names, n);
	return err;
}

/* --csv-out: the view's CSV, at that file. */
static int check_csv_out(struct vrun *r)
{
	const struct view_node *root = view_root(r->v), *c;
	uint32_t i;

	for (i = 0; (c = view_child(r->v, root, i)); i++)
		if (c->kind == VIEW_CSV) {
			r->expected++;
			return check_file(r, c, c->name, r->csv_out);
		}
	begin_file(r, "-", 0);
	return add_finding(r, "-", 0, "-", "no-csv-in-view", 0);
}

/* ------------------------------------------------------------ the db */

static int value_cb(void *arg, int64_t file_id, const char *path,
		    const char *action, const void *old, size_t oldlen)
{
	struct vrun *r = arg;

	(void)file_id;
	return vval_add(r->vals, vval_kind_of(path, action), old, oldlen);
}

static int record_cb(void *arg, const struct store_file *f)
{
	struct vrun *r = arg;
	int err = 0;

	if (f->patient_id)
		err = vval_add(r->vals, VVAL_PATIENT_ID, f->patient_id,
			       strlen(f->patient_id));
	if (!err && f->study_date)
		err = vval_add(r->vals, VVAL_DATE, f->study_date,
			       strlen(f->study_date));
	return err;
}

/* Every original value the db recorded, into one automaton. */
static int gather_values(struct vrun *r)
{
	int err = vval_new(&r->vals);

	if (!err)
		err = store_values_foreach(r->st, -1, value_cb, r);
	if (!err)
		err = store_file_foreach(r->st, record_cb, r);
	if (!err)
		err = vval_compile(r->vals, &r->acm);
	return err;
}

static int open_all(struct vrun *r)
{
	struct view_stats vs;
	uint8_t key[KEYED_KEY_LEN], mac[32];
	char err[512] = "";
	int ret;

	ret = store_open(r->db, 0, &r->st);
	if (ret) {
		log_error("--db: %s", ret == -ENOENT ? "no such db" :
				      ret == -EBADMSG ? "not a deidfs db, or "
							"damaged" :
				      strerror(-ret));
		return 1;
	}
	store_key(r->st, key);
	keyed_hmac(key, sizeof(key), "deidfs key fingerprint", "", 0, mac);
	explicit_bzero(key, sizeof(key));
	base_hex_encode(mac, 16, r->fingerprint, sizeof(r->fingerprint));
	ret = view_config_recall(r->st, &r->recall, &r->cfg);
	if (ret) {
		log_error("--db: %s", ret == -ENOENT
			  ? "it records no view: export or mount with it "
			    "(with this version of deidfs) first"
			  : "its recorded view cannot be read");
		return 1;
	}
	r->cfg.jobs = 1;
	r->cfg.quiet = 1;
	ret = view_init(&r->cfg, r->recall.whitelist, &r->wl, err,
			sizeof(err));
	if (!ret) {
		r->cfg.store = r->st;
		ret = view_engine_new(&r->cfg, &r->e, err, sizeof(err));
	}
	if (!ret) {
		memset(&vs, 0, sizeof(vs));
		ret = view_build(r->e, &vs, &r->v, err, sizeof(err));
	}
	if (ret) {
		log_error("cannot build the recorded view: %s",
			  err[0] ? err : strerror(-ret));
		return 1;
	}
	r->check_uids = !(r->cfg.rules_options & RULES_RTN_UIDS);
	ret = gather_values(r);
	if (ret) {
		log_error("cannot read the recorded values (%s)",
			  strerror(-ret));
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ output */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static size_t failing(const struct vrun *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nf; i++)
		n += !r->f[i].review;
	return n;
}

static void json_counts(struct vrun *r, FILE *f)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	int k;
	size_t i;

	fprintf(f, "  \"counts\": {\"files_expected\": %" PRIu64
		   ", \"files_checked\": %" PRIu64 ", \"dicom_files\": %" PRIu64
		   ", \"dicom_compared_with_view\": %" PRIu64
		   ", \"texts\": %" PRIu64 ", \"entries\": %" PRIu64
		   ", \"names_searched\": %" PRIu64
		   ", \"extra_files_searched\": %" PRIu64
		   ", \"bytes_read\": %" PRIu64 ",\n",
		r->expected, r->checked, r->dicom, r->compared, r->texts,
		r->entries, r->names, r->extra_scanned, r->bytes);
	fprintf(f, "    \"values\": {");
	for (k = 1; k < VVAL_COUNT; k++)
		fprintf(f, "%s\"%s\": %" PRIu64, k > 1 ? ", " : "",
			vval_kind_name((enum vval_kind)k), vc->values[k]);
	fprintf(f, "},\n    \"patterns\": %" PRIu64
		   ", \"short_values_whole_words\": %" PRIu64
		   ", \"values_too_short_to_search\": %" PRIu64
		   ", \"values_unsearchable\": %" PRIu64 ",\n",
		vc->patterns, vc->short_values, vc->too_short,
		vc->unsearchable);
	fprintf(f, "    \"findings\": %zu, \"review\": %zu, \"by_kind\": {",
		failing(r), r->nf - failing(r));
	for (i = 0; i < r->ncounts; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, r->counts[i].kind);
		fprintf(f, ": %" PRIu64, r->counts[i].n);
	}
	fprintf(f, "}},\n");
}

static int write_report(struct vrun *r, const char *version,
			const char *date)
{
	char tmp[PATH_MAX];
	FILE *f;
	size_t i;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->report) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\n  \"tool\": \"deidfs verify\", \"version\": ");
	json_str(f, version);
	fprintf(f, ",\n  \"date\": \"%s\",\n  \"options\": {\"dataset\": ",
		date);
	json_str(f, r->dataset);
	fprintf(f, ", \"db\": ");
	json_str(f, r->db);
	fprintf(f, ", \"csv_out\": ");
	if (r->csv_out)
		json_str(f, r->csv_out);
	else
		fprintf(f, "null");
	fprintf(f, ", \"quarantine_checked\": %s, \"uids_checked\": %s},\n",
		r->with_quarantine ? "true" : "false",
		r->check_uids ? "true" : "false");
	fprintf(f, "  \"key_fingerprint\": \"%s\",\n", r->fingerprint);
	fprintf(f, "  \"result\": \"%s\",\n", failing(r) ? "fail" : "pass");
	json_counts(r, f);
	fprintf(f, "  \"findings\": [");
	for (i = 0; i < r->nf; i++) {
		fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
		json_str(f, r->f[i].path);
		fprintf(f, ", \"in_view\": %s, \"tag\": ",
			r->f[i].outside ? "false" : "true");
		json_str(f, r->f[i].tag);
		fprintf(f, ", \"kind\": ");
		json_str(f, r->f[i].kind);
		fprintf(f, ", \"review\": %s}",
			r->f[i].review ? "true" : "false");
	}
	fprintf(f, "\n  ],\n  \"manifest\": [");
	for (i = 0; i < r->nm; i++) {
		fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
		json_str(f, r->m[i].path);
		fprintf(f, ", \"size\": %" PRIu64 ", \"sha256\": \"%s\"}",
			r->m[i].size, r->m[i].sha);
	}
	fprintf(f, "\n  ]\n}\n");
	ok = !ferror(f);
	if (fclose(f) || !ok) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, r->report)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

static void print_finding(const struct finding *f)
{
	printf("  %-24s %s%s  %s\n", f->kind, f->path,
	       f->outside ? " (an entry not in the view; name withheld)" : "",
	       f->tag);
}

static void print_summary(struct vrun *r)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	size_t i, fail = failing(r);

	if (!r->quiet) {
		printf("deidfs verify: key fingerprint %s\n", r->fingerprint);
		printf("files: %" PRIu64 " expected, %" PRIu64 " checked (%" PRIu64
		       " DICOM, %" PRIu64 " compared with their sources; %" PRIu64
		       " texts), %" PRIu64 " names searched, %" PRIu64
		       " bytes read\n",
		       r->expected, r->checked, r->dicom, r->compared,
		       r->texts, r->names, r->bytes);
		printf("values: %" PRIu64 " patterns; %" PRIu64
		       " short values matched as whole words only, %" PRIu64
		       " too short to search, %" PRIu64
		       " unsearchable (recorded by digest or too long)\n",
		       vc->patterns, vc->short_values, vc->too_short,
		       vc->unsearchable);
		if (fail)
			printf("findings:\n");
		for (i = 0; i < r->nf; i++)
			if (!r->f[i].review)
				print_finding(&r->f[i]);
		if (r->nf - fail)
			printf("to review (a short value: may be chance):\n");
		for (i = 0; i < r->nf; i++)
			if (r->f[i].review)
				print_finding(&r->f[i]);
	}
	printf("result: %s (%zu findings, %zu to review)\n",
	       fail ? "FAIL" : "PASS", fail, r->nf - fail);
}

static void vrun_free(struct vrun *r)
{
	size_t i;

	for (i = 0; i < r->nf; i++)
		free(r->f[i].path);
	free(r->f);
	for (i = 0; i < r->nm; i++)
		free(r->m[i].path);
	free(r->m);
	vval_free(r->vals);
	view_free(r->v);
	view_engine_free(r->e);
	view_whitelist_free(r->wl);
	view_recall_free(&r->recall);
	store_close(r->st);
	base_wipe_free(r->buf, r->buf ? CHUNK : 0);
	base_wipe_free(r->ref, r->ref ? CHUNK : 0);
	EVP_MD_CTX_free(r->md);
}

static int parse(struct vrun *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "csv-out", required_argument, NULL, 'C' },
		{ "report", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			r->db = optarg;
			break;
		case 'C':
			r->csv_out = optarg;
			break;
		case 'R':
			r->report = optarg;
			break;
		case 'q':
			r->quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			log_error("verify: unknown option or missing argument "
				  "(deidfs verify --help)");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		log_error("verify needs one DATASET (deidfs verify --help)");
		return 2;
	}
	r->dataset = argv[optind];
	if (!r->db) {
		log_error("verify: --db FILE is required");
		return 2;
	}
	return 0;
}

int verify_main(int argc, char **argv, const char *version)
{
	struct vrun r;
	struct stat st;
	char date[32], qpath[PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	int rc, err;

	memset(&r, 0, sizeof(r));
	rc = parse(&r, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (stat(r.dataset, &st) || !S_ISDIR(st.st_mode)) {
		log_error("verify: DATASET is not a folder");
		return 2;
	}
	r.buf = malloc(CHUNK);
	r.ref = malloc(CHUNK);
	r.md = EVP_MD_CTX_new();
	if (!r.buf || !r.ref || !r.md) {
		log_error("verify: out of memory");
		rc = 1;
		goto out;
	}
	rc = open_all(&r);
	if (rc)
		goto out;
	snprintf(qpath, sizeof(qpath), "%s/%s", r.dataset, VIEW_QUARANTINE);
	r.with_quarantine = !lstat(qpath, &st) && S_ISDIR(st.st_mode);
	err = walk_view(&r, view_root(r.v), "", r.dataset, 0);
	if (!err && r.csv_out)
		err = check_csv_out(&r);
	if (err) {
		log_error("verify: cannot go on (%s)", strerror(-err));
		rc = 1;
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	print_summary(&r);
	if (r.report) {
		err = write_report(&r, version, date);
		if (err) {
			log_error("--report: %s", strerror(-err));
			rc = 1;
			goto out;
		}
	}
	rc = failing(&r) ? 1 : 0;
out:
	vrun_free(&r);
	return rc;
}
