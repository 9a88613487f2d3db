/*
 * view_content.c - a file of the view opened for reading: its byte map
 * (made again from the source, or taken from the refresh's cache), the
 * mapping of reads onto it (view_map_read(), for both front ends), the
 * inflated pixel data of deflated sources, and the marks of written
 * copies.
 */
#include "view_index.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- marks */

/* The first VIEW_OWNER_LEN / 2 bytes of mac as hex (out: VIEW_OWNER_LEN
 * + 1 bytes). */
static void hex16(const uint8_t mac[32], char *out)
{
	base_hex_encode(mac, VIEW_OWNER_LEN / 2, out, VIEW_OWNER_LEN + 1);
}

int view_owner_mark(const struct view_engine *e, const char *path,
		    char *out, size_t outsz)
{
	uint8_t mac[32];

	if (outsz < VIEW_MARK_LEN + 1)
		return -ENAMETOOLONG;
	keyed_hmac(e->key, sizeof(e->key), "view owner", path, strlen(path),
		   mac);
	hex16(mac, out);
	return 0;
}

int view_node_mark(const struct view_engine *e, const struct view *v,
		   const struct view_node *n, char *out, size_t outsz)
{
	char path[PATH_MAX + 512];
	const char *text = NULL;
	uint8_t mac[32], dg[32];
	size_t tlen = 0;
	int len, err;

	len = view_path(v, n, path, PATH_MAX);
	if (len < 0)
		return len;
	err = view_owner_mark(e, path, out, outsz);
	if (err)
		return err;
	if (n->kind == VIEW_CSV || n->kind == VIEW_REASONS)
		text = view_text(v, n, &tlen);
	if (text)
		keyed_sha256(text, tlen, dg);
	else
		memset(dg, 0, sizeof(dg));
	/* Everything the bytes depend on, after the path's NUL: the file
	 * behind the name, its source version as indexed (the inode number
	 * holds the row's version, which every new source version analysed
	 * bumps), the options and the output's size and date (generated
	 * text: its digest). */
	len += 1 + snprintf(path + len + 1, sizeof(path) - (size_t)len - 1,
			    "%d %" PRId64 " %" PRIu64 " %" PRIu64 " %" PRId64
			    " %s",
			    (int)n->kind, n->file_id, n->ino, n->size,
			    n->mtime_ns, e->opts_fp);
	if ((size_t)len >= sizeof(path) - 32)
		return -ENAMETOOLONG;
	memcpy(path + len, dg, sizeof(dg));
	keyed_hmac(e->key, sizeof(e->key), "view version", path,
		   (size_t)len + sizeof(dg), mac);
	out[VIEW_OWNER_LEN] = '.';
	hex16(mac, out + VIEW_OWNER_LEN + 1);
	return 0;
}

/* ---------------------------------------------------------------- files */

void view_source_clear(struct view_source *s)
{
	if (s->path) {
		explicit_bzero(s->path, strlen(s->path));
		free(s->path);
	}
	memset(s, 0, sizeof(*s));
}

int view_source_get(struct view_engine *e, int64_t id, uint64_t ino,
		    uint64_t size, struct view_source *out)
{
	struct store_file f;
	int err;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	err = store_file_get_id(e->cfg.store, id, &f);
	if (err == -ENOENT)
		return -ESTALE;
	if (err)
		return err;
	/* the node's inode number holds the low 22 bits of the version it
	 * was built from (view_tree.c); its size is that version's */
	if (!f.path || ((ino - 4) / 2) >> 40 != ((uint64_t)f.version & 0x3fffff) ||
	    f.out_size != size) {
		err = -ESTALE;
		goto out;
	}
	out->path = f.path;
	f.path = NULL;
	out->size = f.src_size;
	out->ino = f.src_ino;
	out->mtime_ns = f.src_mtime_ns;
	out->ctime_ns = f.src_ctime_ns;
	out->header_len = f.header_len;
out:
	store_file_clear(&f);
	return err;
}

/* The source at src.path, open, when it is the version src says; returns
 * fd (its stat in *st) or -ESTALE, or -errno. */
static int open_version(struct view_engine *e, const struct view_source *src,
			struct stat *st)
{
	int fd = view_open_regular(e->root_fd, src->path, st);

	if (fd < 0)
		return fd == -ENOENT ? -ESTALE : fd;
	if ((uint64_t)st->st_size != src->size ||
	    (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec !=
		    src->mtime_ns ||
	    (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec !=
		    src->ctime_ns ||
	    (uint64_t)st->st_ino != src->ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int view_make_map(struct view_engine *e, int64_t id, int fd,
		  const struct stat *st, struct made **out)
{
	struct analysis an;
	struct stat st2;
	int err;

	*out = NULL;
	memset(&an, 0, sizeof(an));
	err = analysis_run(&e->ain, fd, &an);
	/* changed while we made the map: not this version */
	if (!err && (fstat(fd, &st2) || !view_stat_same(st, &st2)))
		err = -ESTALE;
	if (!err) {
		*out = made_new(id, st, &an.map, an.inflated, an.deflate);
		if (!*out)
			err = -ENOMEM;
	}
	analysis_clear(&an);
	return err;
}

/* The content map of n's source version st, open as fd: the one kept in
 * the cache, or made now (and kept, as cfg.maps says). */
static int made_for(struct view_engine *e, const struct view_node *n,
		    int fd, const struct stat *st, struct made **out)
{
	struct made *m;
	int err;

	*out = NULL;
	if (e->cfg.maps != VIEW_MAPS_NONE) {
		m = mapcache_get(&e->maps, n->file_id, st,
				 e->cfg.maps == VIEW_MAPS_ONCE);
		if (!m && e->cfg.maps == VIEW_MAPS_KEEP) {
			/* being made ahead: take it rather than parse twice */
			view_ahead_wait(e, n->file_id);
			m = mapcache_get(&e->maps, n->file_id, st, 0);
		}
		if (m) {
			*out = m;
			return 0;
		}
	}
	err = view_make_map(e, n->file_id, fd, st, &m);
	if (err)
		return err;
	if (e->cfg.maps == VIEW_MAPS_KEEP)
		mapcache_add(&e->maps, m);
	*out = m;
	return 0;
}

int view_file_open(struct view_engine *e, const struct view *v,
		   const struct view_node *n, struct view_file **out)
{
	struct view_source src;
	struct view_file *vf = NULL;
	struct made *m = NULL;
	struct stat st;
	int fd, err;

	*out = NULL;
	if (n->kind != VIEW_DICOM)
		return -EINVAL;
	err = view_source_get(e, n->file_id, n->ino, n->size, &src);
	if (err)
		return err;
	fd = open_version(e, &src, &st);
	if (fd < 0) {
		view_source_clear(&src);
		return fd;
	}
	err = made_for(e, n, fd, &st, &m);
	if (err)
		goto fail;
	if (!m->map.n || m->map.gen_len != src.header_len ||
	    m->map.size != n->size) {
		/* Same stat, other bytes: the file was rewritten within the
		 * mtime granularity.  Never serve a mix; and the next open
		 * makes its map again. */
		mapcache_forget_map(&e->maps, m);
		err = -ESTALE;
		goto fail;
	}
	vf = calloc(1, sizeof(*vf));
	if (!vf) {
		err = -ENOMEM;
		goto fail;
	}
	vf->src_st = st;
	vf->made = m;
	vf->map = &m->map;
	vf->src_fd = fd;
	vf->inflated = m->inflated;
	vf->deflate = m->deflate;
	pthread_mutex_init(&vf->z_lock, NULL);
	*out = vf;
	view_source_clear(&src);
	if (e->cfg.maps == VIEW_MAPS_KEEP)
		view_ahead_queue(e, v, n);
	return 0;
fail:
	view_source_clear(&src);
	made_put(m);
	close(fd);
	return err;
}

int view_file_kept(struct view_engine *e, const struct view_node *n)
{
	return n->kind == VIEW_DICOM && e->cfg.maps != VIEW_MAPS_NONE &&
	       mapcache_holds_id(&e->maps, n->file_id, n->size);
}

uint64_t view_file_size(const struct view_file *vf)
{
	return vf->map->size;
}

int view_file_fd(const struct view_file *vf)
{
	return vf->src_fd;
}

int view_file_changed(const struct view_file *vf)
{
	struct stat now;

	return fstat(vf->src_fd, &now) || !view_stat_same(&vf->src_st, &now);
}

void view_file_free(struct view_file *vf)
{
	if (!vf)
		return;
	made_put(vf->made);
	inflate_cursor_free(vf->z);
	pthread_mutex_destroy(&vf->z_lock);
	if (vf->src_fd >= 0)
		close(vf->src_fd);
	free(vf);
}

static ssize_t fd_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	const struct view_file *vf = ctx;
	ssize_t r;

	do
		r = pread(vf->src_fd, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* The ring of a view file's cursor: a whole read request (the mount asks
 * for up to 1 MiB) and the one the kernel may send before it out of
 * order stay in it. */
#define VIEW_INFLATE_RING (2u << 20)

int view_file_inflate(struct view_file *vf, uint64_t off, void *buf,
		      size_t len)
{
	ssize_t r = 0;
	int err = 0;

	if (!vf->inflated)
		return -EINVAL;
	pthread_mutex_lock(&vf->z_lock);
	if (!vf->z)
		err = inflate_cursor_new(fd_pread, vf, &vf->deflate,
					 (uint64_t)vf->src_st.st_size,
					 VIEW_INFLATE_RING, &vf->z);
	if (!err)
		r = inflate_read(vf->z, off, buf, len);
	pthread_mutex_unlock(&vf->z_lock);
	if (err)
		return err;
	if (r == -ENOMEM)
		return -ENOMEM;
	/* damaged or short where the index found it whole: the source is
	 * not the version the header was made from */
	if (r < 0 || (size_t)r != len)
		return -EIO;
	return 0;
}

#ifdef DEIDFS_SPAN_TEST
/*
 * Test builds only (make spantest; tests/e2e/test_golden.py): every source
 * span becomes generated bytes 'S', so a test sees whether both front ends
 * produce every byte through this one function.
 */
static const uint8_t span_test_bytes[1u << 20] = { [0 ... (1u << 20) - 1] =
							   'S' };

static unsigned span_test(struct view_span *span, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (span[i].kind == VIEW_SPAN_SOURCE) {
			span[i].kind = VIEW_SPAN_GEN;
			span[i].mem = span_test_bytes;
			if (span[i].len > sizeof(span_test_bytes)) {
				span[i].len = sizeof(span_test_bytes);
				return i + 1;	/* the read goes on later */
			}
		}
	return n;
}
#else
static unsigned span_test(struct view_span *span, unsigned n)
{
	(void)span;
	return n;
}
#endif

static unsigned map_read(const struct view_file *vf, uint64_t off,
			 uint64_t size, struct view_span *span, unsigned max);

unsigned view_map_read(const struct view_file *vf, uint64_t off,
		       uint64_t size, struct view_span *span, unsigned max)
{
	return span_test(span, map_read(vf, off, size, span, max));
}

static unsigned map_read(const struct view_file *vf, uint64_t off,
			 uint64_t size, struct view_span *span, unsigned max)
{
	const struct bytemap *m = vf->map;
	unsigned n = 0;
	uint64_t end;
	size_t i;

	if (off >= m->size || size == 0 || max == 0)
		return 0;
	end = size > m->size - off ? m->size : off + size;
	for (i = bytemap_find(m, off); off < end && n < max; i++, n++) {
		const struct bytemap_piece *q = &m->piece[i];
		uint64_t in = off - q->out;	/* into the piece */
		uint64_t len = q->len - in;

		if (len > end - off)
			len = end - off;
		span[n].kind = q->kind == BYTEMAP_SRC ? VIEW_SPAN_SOURCE :
			       q->kind == BYTEMAP_INFLATED ? VIEW_SPAN_INFLATED :
							     VIEW_SPAN_GEN;
		span[n].off = q->kind != BYTEMAP_GEN ? q->at + in : 0;
		span[n].mem = q->kind != BYTEMAP_GEN ? NULL :
						       m->gen + q->at + in;
		span[n].len = len;
		off += len;
	}
	return n;
}

uint64_t view_map_spans(const struct view_file *vf, uint64_t off,
			uint64_t size)
{
	const struct bytemap *m = vf->map;
	uint64_t end;

	if (off >= m->size || size == 0)
		return 0;
	end = size > m->size - off ? m->size : off + size;
	return bytemap_find(m, end - 1) - bytemap_find(m, off) + 1;
}
