/*
 * analyze.c - one source file through the pipeline: parse (dicom_), classify
 * and de-identify (rules_), write the new header (dicom_).  The result is
 * what the index stores about the file, and the generated header bytes.
 * The steps between parse and output live in analyze_identity.c,
 * analyze_rules.c and analyze_pixels.c (analyze_impl.h).
 *
 * Used by the index refresh (with audit collection) and by every open of a
 * view file (without), so the bytes served always come from this one path.
 */
#include "analyze_impl.h"
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"

#define SOP_CLASS_DICOMDIR "1.2.840.10008.1.3.10"

static ssize_t fd_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	int fd = *(int *)ctx;
	ssize_t r;

	do
		r = pread(fd, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

void analysis_clear(struct analysis *an)
{
	size_t i;

	if (!an)
		return;
	store_file_clear(&an->rec);
	bytemap_clear(&an->map);
	for (i = 0; i < an->naudit; i++) {
		base_wipe_free(an->audit[i].old, an->audit[i].oldlen);
		base_wipe_free(an->audit[i].newv, an->audit[i].newlen);
	}
	free(an->audit);
	for (i = 0; i < an->nuids; i++) {
		base_wipe_free(an->uids[i].orig, strlen(an->uids[i].orig));
		free(an->uids[i].pseudo);
	}
	free(an->uids);
	if (an->ident)
		scan_ident_clear(an->ident);
	free(an->ident);
	memset(an, 0, sizeof(*an));
}

static int is_dicm(int fd)
{
	char m[4];

	return pread(fd, m, 4, 128) == 4 && memcmp(m, "DICM", 4) == 0;
}

/* Quarantine for reason, unless an earlier reason was found. */
int analyze_quarantine(struct analysis *an, enum rules_reason reason)
{
	if (an->rec.status == RULES_OK)
		an->rec.status = reason;
	return ANALYZE_STOP;
}

/* Record why into an->rec.  Returns 0 or -ENOMEM. */
int analyze_set_cause(struct analysis *an, const struct rules_cause *why)
{
	free(an->rec.q_rule);
	free(an->rec.q_path);
	an->rec.q_rule = strdup(why->rule);
	an->rec.q_path = strdup(why->path);
	return an->rec.q_rule && an->rec.q_path ? 0 : -ENOMEM;
}

/* A cause at one top-level attribute (or the file, tag 0). */
void analyze_cause_at(struct rules_cause *why, const char *rule, uint32_t tag)
{
	why->rule = rule;
	if (tag)
		snprintf(why->path, sizeof(why->path), "%08X", tag);
	else
		why->path[0] = 0;
}

/* Why, when the file is not quarantined for an earlier reason already:
 * the rule and the attribute (names only) go to the index with it. */
int analyze_quarantine_why(struct analysis *an, enum rules_reason reason,
			  const struct rules_cause *why)
{
	if (an->rec.status != RULES_OK)
		return ANALYZE_STOP;
	return analyze_set_cause(an, why) ? -ENOMEM : analyze_quarantine(an, reason);
}

/* The source as it is now, and its parsed header. */
int analyze_step_parse(struct run *r, int *fdv)
{
	struct analysis *an = r->an;
	struct stat st;
	int err;

	if (fstat(r->fd, &st))
		return -errno;
	an->rec.src_size = (uint64_t)st.st_size;
	an->rec.src_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL +
			       st.st_mtim.tv_nsec;
	an->rec.src_ino = (uint64_t)st.st_ino;
	an->rec.src_ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL +
			       st.st_ctim.tv_nsec;
	an->rec.series_number = STORE_MISSING;
	an->rec.instance_number = STORE_MISSING;
	r->src.ctx = fdv;
	r->src.pread = fd_pread;
	r->src.size = (uint64_t)st.st_size;
	r->src.budget = r->in->budget;
	err = dicom_parse(&r->src, &r->p);
	if (err == -EIO || err == -ENOMEM)
		return err;
	if (err && is_dicm(r->fd)) {
		struct rules_cause why;

		/* where it stopped: the attribute read last, if any */
		why.rule = r->p.fail_path[0] ? "header unreadable at or after"
					     : "header unreadable";
		snprintf(why.path, sizeof(why.path), "%s", r->p.fail_path);
		return analyze_quarantine_why(an, RULES_Q_UNPARSEABLE, &why);
	}
	if (err) {
		an->rec.status = RULES_Q_NOT_DICOM;
		return ANALYZE_STOP;
	}
	if (strcmp(r->p.sop_class_uid, SOP_CLASS_DICOMDIR) == 0) {
		an->rec.status = ANALYSIS_SKIP;
		return ANALYZE_STOP;
	}
	return 0;
}

/* The new header, and the map of the published bytes behind it. */
int analyze_step_output(struct run *r)
{
	struct dicom_parsed *p = &r->p;
	struct analysis *an = r->an;
	uint8_t *hdr = NULL;
	size_t hlen = 0;
	struct rules_cause why;
	int err;

	err = dicom_write_header(&p->ds, p, p->sop_class_uid, r->sop_inst,
				 &hdr, &hlen);
	if (err == -ENOMEM)
		return err;
	if (err) {
		analyze_cause_at(&why, "a value cannot be encoded", 0);
		return analyze_quarantine_why(an, RULES_Q_DEID_FAILED, &why);
	}
	err = bytemap_add_gen(&an->map, hdr, hlen);
	explicit_bzero(hdr, hlen);
	free(hdr);
	if (!err && p->has_pixel && p->deflated) {
		/* Deflated source: the pixel value is a range of the inflated
		 * dataset, inflated again when it is read (never held). */
		err = bytemap_add_inflated(&an->map, p->pixel_off,
					   p->pixel_len);
		an->inflated = 1;
		an->deflate = p->deflate;
	} else if (!err && p->has_pixel && p->pixel_encapsulated) {
		err = analyze_append_map(&an->map, &r->pix);
	} else if (!err && p->has_pixel) {
		err = bytemap_add_src(&an->map, p->pixel_off, p->pixel_len);
	}
	if (err == -E2BIG) {	/* too many pieces to serve */
		bytemap_clear(&an->map);
		return analyze_quarantine(an, RULES_Q_PIXEL_DATA);
	}
	if (err)
		return err;
	an->rec.header_len = an->map.gen_len;
	an->rec.out_size = an->map.size;
	an->has_pixels = p->has_pixel && p->pixel_len > 0;
	if (an->has_pixels && !p->pixel_encapsulated && !p->big_endian)
		analyze_native_pixels(p, hlen, an);
	if (an->collect && an->rec.patient_id)
		an->pseudonym_pair = 1;
	return 0;
}

int analysis_run(const struct analysis_input *in, int fd,
		 struct analysis *an)
{
	struct run *r = calloc(1, sizeof(*r));
	int err, fdv = fd;

	if (!r)
		return -ENOMEM;
	r->in = in;
	r->an = an;
	r->fd = fd;
	err = analyze_step_parse(r, &fdv);
	if (!err)
		err = analyze_step_identity(r);
	if (!err)
		err = analyze_step_rules(r);
	if (!err)
		err = analyze_step_pixels(r);
	if (!err)
		err = analyze_step_output(r);
	if (err == ANALYZE_STOP)
		err = 0;
	/* what the index masked, in every other map of this version */
	if (!err && !an->collect && in->mask && an->rec.status == RULES_OK &&
	    an->has_pixels && an->map.n)
		err = in->mask(in->mask_arg, an);
	if (err)
		bytemap_clear(&an->map);
	bytemap_clear(&r->pix);
	dicom_parsed_free(&r->p);
	explicit_bzero(r, sizeof(*r));	/* the ID and name */
	free(r);
	return err;
}
