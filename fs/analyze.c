/*
 * analyze.c - one source file through the pipeline: parse (dicom_), classify
 * and de-identify (rules_), write the new header (dicom_).  The result is
 * what the index stores about the file, and the generated header bytes.
 *
 * Used by the index refresh (with audit collection) and by every open of a
 * view file (without), so the bytes served always come from this one path.
 */
#include "analyze.h"
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "civil.h"
#include "dicom.h"
#include "encap.h"
#include "layout.h"
#include "keyed.h"
#include "scan.h"

#define TAG_PATIENT_ID DCM_TAG(0x0010, 0x0020)
#define TAG_STUDY_DATE DCM_TAG(0x0008, 0x0020)
#define TAG_STUDY_TIME DCM_TAG(0x0008, 0x0030)
#define TAG_MODALITY DCM_TAG(0x0008, 0x0060)
#define TAG_SERIES_NUMBER DCM_TAG(0x0020, 0x0011)
#define TAG_INSTANCE_NUMBER DCM_TAG(0x0020, 0x0013)
#define TAG_IMAGE_LATERALITY DCM_TAG(0x0020, 0x0062)
#define TAG_LATERALITY DCM_TAG(0x0020, 0x0060)
#define TAG_VIEW_POSITION DCM_TAG(0x0018, 0x5101)
#define TAG_STUDY_UID DCM_TAG(0x0020, 0x000D)
#define TAG_SOP_CLASS DCM_TAG(0x0008, 0x0016)
#define TAG_SERIES_UID DCM_TAG(0x0020, 0x000E)
#define TAG_SOP_UID DCM_TAG(0x0008, 0x0018)

#define TAG_PIXEL_DATA DCM_TAG(0x7FE0, 0x0010)
#define TAG_EXT_OFFSET_TABLE DCM_TAG(0x7FE0, 0x0001)
#define TAG_EXT_OFFSET_LENGTHS DCM_TAG(0x7FE0, 0x0002)

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

struct cb_arg {
	const uint8_t *key;
	struct analysis *an;
};

static int add_uid_pair(struct analysis *an, const char *orig,
			const char *pseudo)
{
	size_t i;

	for (i = 0; i < an->nuids; i++)
		if (strcmp(an->uids[i].pseudo, pseudo) == 0)
			return 0;
	if (an->nuids == an->capuids) {
		size_t cap = an->capuids ? an->capuids * 2 : 8;
		void *p = realloc(an->uids, cap * sizeof(an->uids[0]));

		if (!p)
			return -ENOMEM;
		an->uids = p;
		an->capuids = cap;
	}
	an->uids[an->nuids].orig = strdup(orig);
	an->uids[an->nuids].pseudo = strdup(pseudo);
	if (!an->uids[an->nuids].orig || !an->uids[an->nuids].pseudo) {
		free(an->uids[an->nuids].orig);
		free(an->uids[an->nuids].pseudo);
		return -ENOMEM;
	}
	an->nuids++;
	return 0;
}

static int map_uid(void *arg, const char *uid, char *out, size_t outsz)
{
	struct cb_arg *a = arg;
	int err;

	err = keyed_uid(a->key, uid, strlen(uid), out, outsz);
	if (!err && a->an->collect)
		err = add_uid_pair(a->an, uid, out);
	return err;
}

static void *dupmem(const void *p, size_t n)
{
	void *q;

	if (!p)
		return NULL;
	q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

/*
 * Values longer than this are recorded in the audit trail by digest and
 * length, not in full: they are binary blocks (overlay planes, vendor
 * private data, icons) that can run to megabytes per file and identify
 * nobody by being stored; the text values that re-identification needs are
 * far shorter.
 */
#define AUDIT_MAX_VALUE 4096

/* Replace a long value by "sha256:<hex> bytes=<n>" in buf. */
static const void *audit_value(const void *v, size_t *len, char *buf,
			       size_t bufsz)
{
	uint8_t dg[32];
	size_t at, i;

	if (!v || *len <= AUDIT_MAX_VALUE)
		return v;
	keyed_sha256(v, *len, dg);
	at = (size_t)snprintf(buf, bufsz, "sha256:");
	for (i = 0; i < 32 && at + 3 < bufsz; i++)
		at += (size_t)snprintf(buf + at, bufsz - at, "%02x", dg[i]);
	at += (size_t)snprintf(buf + at, bufsz - at, " bytes=%zu", *len);
	*len = at < bufsz ? at : bufsz - 1;
	return buf;
}

static int audit_cb(void *arg, const char *path, const char *action,
		    const void *old, size_t oldlen, const void *newv,
		    size_t newlen)
{
	struct cb_arg *a = arg;
	struct analysis *an = a->an;
	struct store_audit *row;
	char obuf[128], nbuf[128];

	if (!an->collect)
		return 0;
	if (an->naudit == an->capaudit) {
		size_t cap = an->capaudit ? an->capaudit * 2 : 64;
		void *p = realloc(an->audit, cap * sizeof(an->audit[0]));

		if (!p)
			return -ENOMEM;
		an->audit = p;
		an->capaudit = cap;
	}
	old = audit_value(old, &oldlen, obuf, sizeof(obuf));
	newv = audit_value(newv, &newlen, nbuf, sizeof(nbuf));
	row = &an->audit[an->naudit];
	memset(row, 0, sizeof(*row));
	snprintf(row->path, sizeof(row->path), "%s", path);
	snprintf(row->action, sizeof(row->action), "%s", action);
	row->old = dupmem(old, oldlen);
	row->oldlen = old ? oldlen : 0;
	row->newv = dupmem(newv, newlen);
	row->newlen = newv ? newlen : 0;
	if ((old && !row->old) || (newv && !row->newv)) {
		free(row->old);
		free(row->newv);
		return -ENOMEM;
	}
	an->naudit++;
	return 0;
}

static char *get_dup(const struct dcm_ds *ds, uint32_t tag)
{
	char buf[256];

	if (!dcm_ds_get_str(ds, tag, buf, sizeof(buf)))
		return NULL;
	return strdup(buf);
}

/* An IS value as a number; STORE_MISSING when absent or not a number. */
static int64_t get_int(const struct dcm_ds *ds, uint32_t tag)
{
	char buf[32], *end;
	long long v;

	if (!dcm_ds_get_str(ds, tag, buf, sizeof(buf)))
		return STORE_MISSING;
	errno = 0;
	v = strtoll(buf, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || *end || end == buf || v < -2147483648LL ||
	    v > 2147483647LL)
		return STORE_MISSING;
	return v;
}

int analysis_sop_class_ok(const struct dicom_parsed *p)
{
	char sop_class[128];

	return dicom_uid_is_well_known(p->sop_class_uid) &&
	       !(dcm_ds_get_str(&p->ds, TAG_SOP_CLASS, sop_class,
				sizeof(sop_class)) &&
		 strcmp(sop_class, p->sop_class_uid));
}

/* A US value of ds (in the source's byte order), or -1. */
static long get_us(const struct dcm_ds *ds, uint32_t tag, int be)
{
	const struct dcm_elem *e = dcm_ds_get(ds, tag);

	if (!e || e->len != 2 || !e->val)
		return -1;
	return be ? (e->val[0] << 8) | e->val[1] : (e->val[1] << 8) | e->val[0];
}

/*
 * (analyze.h) The bytes of native (not encapsulated) pixel data that the
 * image attributes account for: Rows x Columns x Samples per Pixel x Number of
 * Frames x Bits Allocated / 8, rounded up to an even length (PS3.5 8.1.1).
 * Bytes beyond that are not image data whatever the value length says,
 * and are not published.  Returns 0, or -EBADMSG when the attributes
 * cannot account for any image (missing or out of range).
 */
int analysis_native_pixel_len(const struct dicom_parsed *p, uint64_t *out)
{
	long rows = get_us(&p->ds, DCM_TAG(0x0028, 0x0010), p->big_endian);
	long cols = get_us(&p->ds, DCM_TAG(0x0028, 0x0011), p->big_endian);
	long spp = get_us(&p->ds, DCM_TAG(0x0028, 0x0002), p->big_endian);
	long bits = get_us(&p->ds, DCM_TAG(0x0028, 0x0100), p->big_endian);
	int64_t frames = get_int(&p->ds, DCM_TAG(0x0028, 0x0008));
	uint64_t n;

	if (frames == STORE_MISSING)
		frames = 1;
	if (rows <= 0 || cols <= 0 || spp <= 0 || bits <= 0 || bits > 64 ||
	    frames <= 0)
		return -EBADMSG;
	/* at most 2^16 * 2^16 * 2^16 * 2^31 * 64: no overflow in 128 bits,
	 * but in 64: check as we go */
	n = (uint64_t)rows * (uint64_t)cols;
	if (n > UINT64_MAX / (uint64_t)spp)
		return -EBADMSG;
	n *= (uint64_t)spp;
	if (n > UINT64_MAX / (uint64_t)frames)
		return -EBADMSG;
	n *= (uint64_t)frames;
	if (n > UINT64_MAX / (uint64_t)bits)
		return -EBADMSG;
	n = (n * (uint64_t)bits + 7) / 8;
	*out = n + (n & 1);
	return 0;
}

static int valid_da(const char *s)
{
	int i;

	if (!s || strlen(s) != 8)
		return 0;
	for (i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

void analysis_view_date(const uint8_t *key, unsigned rules_options,
			const char *study_date, const char *patient_id,
			char out[9])
{
	int shift;

	out[0] = 0;
	if (!study_date || strlen(study_date) != 8)
		return;
	memcpy(out, study_date, 9);
	if (!(rules_options & RULES_RTN_LONG_MODIF_DATES) ||
	    (rules_options & (RULES_RTN_LONG_FULL_DATES | RULES_MONTH_DATES)) ||
	    !patient_id)
		return;	/* the month of the date itself */
	shift = keyed_date_shift(key, patient_id, strlen(patient_id));
	if (civil_ymd_shift(out, shift, CIVIL_CARRY) == -ERANGE)
		out[0] = 0;
}

/* Keyed replacement of an original UID taken before the rules ran (the
 * index needs the study/series/instance identity even when the rules
 * retain UIDs). */
static char *mapped(const struct analysis_input *in, const struct dcm_ds *ds,
		    uint32_t tag)
{
	char orig[128], out[KEYED_UID_MAX + 1];

	if (!dcm_ds_get_str(ds, tag, orig, sizeof(orig)))
		return NULL;
	if (in->rules_ctx_template.options & RULES_RTN_UIDS)
		return strdup(orig);
	if (keyed_uid(in->key, orig, strlen(orig), out, sizeof(out)))
		return NULL;
	return strdup(out);
}

static int is_dicm(int fd)
{
	char m[4];

	return pread(fd, m, 4, 128) == 4 && memcmp(m, "DICM", 4) == 0;
}

/*
 * (analyze.h) Encapsulated pixel data, mapped onto the output only as far as
 * it is shown to be image data (encap.h).  Returns 0, -ENOTSUP, -EBADMSG or
 * -E2BIG when it is not (the file is then not published), -EIO, -ENOMEM.
 */
int analysis_pixel_map(const struct dicom_parsed *p,
		       const struct dicom_source *src, struct bytemap *m)
{
	struct encap_image img;
	long rows = get_us(&p->ds, DCM_TAG(0x0028, 0x0010), 0);
	long cols = get_us(&p->ds, DCM_TAG(0x0028, 0x0011), 0);
	long spp = get_us(&p->ds, DCM_TAG(0x0028, 0x0002), 0);
	long bits = get_us(&p->ds, DCM_TAG(0x0028, 0x0100), 0);
	int64_t frames = get_int(&p->ds, DCM_TAG(0x0028, 0x0008));

	if (frames == STORE_MISSING)
		frames = 1;
	if (p->big_endian || p->deflated || rows <= 0 || cols <= 0 ||
	    spp <= 0 || bits <= 0 || bits > 64 || frames <= 0 ||
	    frames > INT32_MAX)
		return -EBADMSG;
	img.ts_uid = p->ts_uid;
	img.frames = (uint32_t)frames;
	img.rows = (uint32_t)rows;
	img.cols = (uint32_t)cols;
	img.samples = (uint32_t)spp;
	img.bits_allocated = (uint32_t)bits;
	return encap_map(src, p->pixel_off, p->pixel_len, &img, m);
}

/*
 * Pixel data other than the top-level Pixel Data: an encapsulated value
 * anywhere in the dataset (a second Pixel Data inside a sequence item, a
 * palette table of undefined length) is a run of fragments nobody walks,
 * and pixel data inside a sequence is no image of this file.  Both go.
 */
static void drop_stray_pixels(struct dcm_ds *ds, unsigned depth);

void analysis_drop_stray_pixels(struct dcm_ds *ds)
{
	drop_stray_pixels(ds, 0);
}

static void drop_stray_pixels(struct dcm_ds *ds, unsigned depth)
{
	uint32_t i = ds->n;

	while (i--) {
		struct dcm_elem *e = &ds->el[i];
		uint32_t k;

		if (e->encapsulated ||
		    (depth && DCM_GROUP(e->tag) == 0x7FE0)) {
			dcm_ds_remove_at(ds, i);
			continue;
		}
		for (k = 0; k < e->nitems && depth < 64; k++)
			drop_stray_pixels(&e->items[k], depth + 1);
	}
}

/* Append map b (whose generated bytes are its own) to a. */
static int append_map(struct bytemap *a, const struct bytemap *b)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < b->n; i++)
		err = bytemap_add_piece(a, b, &b->piece[i]);
	return err;
}

/* One file's way through analysis_run(): what the steps share. */
struct run {
	const struct analysis_input *in;
	struct analysis *an;
	int fd;
	struct dicom_source src;
	struct dicom_parsed p;
	struct bytemap pix;		/* encapsulated pixel data */
	char pid[256], pname[512], sop_inst[128];
};

/* The steps return 0 to go on, STOP when the file's status is decided
 * (quarantined, skipped: not an error), or -EIO / -ENOMEM. */
#define STOP 1

/* Quarantine for reason, unless an earlier reason was found. */
static int quarantine(struct analysis *an, enum rules_reason reason)
{
	if (an->rec.status == RULES_OK)
		an->rec.status = reason;
	return STOP;
}

/* Record why into an->rec.  Returns 0 or -ENOMEM. */
static int set_cause(struct analysis *an, const struct rules_cause *why)
{
	free(an->rec.q_rule);
	free(an->rec.q_path);
	an->rec.q_rule = strdup(why->rule);
	an->rec.q_path = strdup(why->path);
	return an->rec.q_rule && an->rec.q_path ? 0 : -ENOMEM;
}

/* A cause at one top-level attribute (or the file, tag 0). */
static void cause_at(struct rules_cause *why, const char *rule, uint32_t tag)
{
	why->rule = rule;
	if (tag)
		snprintf(why->path, sizeof(why->path), "%08X", tag);
	else
		why->path[0] = 0;
}

/* Why, when the file is not quarantined for an earlier reason already:
 * the rule and the attribute (names only) go to the index with it. */
static int quarantine_why(struct analysis *an, enum rules_reason reason,
			  const struct rules_cause *why)
{
	if (an->rec.status != RULES_OK)
		return STOP;
	return set_cause(an, why) ? -ENOMEM : quarantine(an, reason);
}

/* The source as it is now, and its parsed header. */
static int run_parse(struct run *r, int *fdv)
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
		return quarantine_why(an, RULES_Q_UNPARSEABLE, &why);
	}
	if (err) {
		an->rec.status = RULES_Q_NOT_DICOM;
		return STOP;
	}
	if (strcmp(r->p.sop_class_uid, SOP_CLASS_DICOMDIR) == 0) {
		an->rec.status = ANALYSIS_SKIP;
		return STOP;
	}
	return 0;
}

/* Identity and naming values, read before the rules remove them; then
 * whether the file may be published at all. */
static int run_identity(struct run *r)
{
	const struct analysis_input *in = r->in;
	const struct dcm_ds *ds = &r->p.ds;
	struct store_file *rec = &r->an->rec;
	char pseudo[KEYED_PSEUDONYM_LEN + 1];
	struct rules_cause why;

	if (dcm_ds_get_str(ds, TAG_PATIENT_ID, r->pid, sizeof(r->pid))) {
		rec->patient_id = strdup(r->pid);
		if (!keyed_pseudonym(in->key, r->pid, strlen(r->pid), pseudo,
				     sizeof(pseudo)))
			rec->pseudonym = strdup(pseudo);
	}
	rec->study_date = get_dup(ds, TAG_STUDY_DATE);
	if (rec->study_date && !valid_da(rec->study_date)) {
		free(rec->study_date);
		rec->study_date = NULL;
	}
	rec->study_time = get_dup(ds, TAG_STUDY_TIME);
	rec->modality = get_dup(ds, TAG_MODALITY);
	rec->laterality = get_dup(ds, TAG_IMAGE_LATERALITY);
	if (!rec->laterality)
		rec->laterality = get_dup(ds, TAG_LATERALITY);
	rec->view_position = get_dup(ds, TAG_VIEW_POSITION);
	rec->series_number = get_int(ds, TAG_SERIES_NUMBER);
	rec->instance_number = get_int(ds, TAG_INSTANCE_NUMBER);
	rec->study_uid = mapped(in, ds, TAG_STUDY_UID);
	rec->series_uid = mapped(in, ds, TAG_SERIES_UID);
	rec->sop_uid = mapped(in, ds, TAG_SOP_UID);

	rec->status = rules_classify_why(ds, in->modalities, &why);
	if (rec->status != RULES_OK && set_cause(r->an, &why))
		return -ENOMEM;
	/* The SOP class (of the meta and of the dataset) is written to the
	 * output as it is: only one of the standard's own will do, and with
	 * any other no header is made at all (a quarantined file's header is
	 * exported with --with-quarantine). */
	if (!analysis_sop_class_ok(&r->p))
		return quarantine(r->an, RULES_Q_SOP_CLASS);
	/* No PatientID: nothing to link or name it by. */
	if (!rec->pseudonym)
		return quarantine(r->an, RULES_Q_NO_PATIENT_ID);
	/* what burned-in text would identify her by, before the rules
	 * change anything: for the scan at index time only */
	if (r->an->collect && rec->status == RULES_OK) {
		r->an->ident = malloc(sizeof(*r->an->ident));
		if (!r->an->ident)
			return -ENOMEM;
		scan_ident_from_ds(ds, r->an->ident);
	}
	return 0;
}

/* The rules (PS3.15 Annex E and ours) applied to the dataset. */
static int run_rules(struct run *r)
{
	const struct analysis_input *in = r->in;
	struct cb_arg arg = { in->key, r->an };
	struct rules_ctx rc = in->rules_ctx_template;
	struct rules_cause why;
	char uid[256], sid[KEYED_STUDY_ID_LEN + 1], date[9];
	char month[8], desc[8 + KEYED_STUDY_ID_LEN + 1];
	int err;

	/* what tells her studies apart in a viewer, from this file alone:
	 * a keyed token of its study, and the month the view names, with
	 * the token (two studies of one month differ there too) */
	if (dcm_ds_get_str(&r->p.ds, TAG_STUDY_UID, uid, sizeof(uid)) &&
	    !keyed_study_id(in->key, uid, strlen(uid), sid, sizeof(sid)))
		rc.study_id = sid;
	if (in->study_month) {
		analysis_view_date(in->key, rc.options, r->an->rec.study_date,
				   r->pid, date);
		if (!layout_month(date, month)) {
			snprintf(desc, sizeof(desc), "%s%s%s", month,
				 rc.study_id ? " " : "",
				 rc.study_id ? rc.study_id : "");
			rc.study_description = desc;
		}
	}
	rc.pseudonym = r->an->rec.pseudonym;
	rc.iod_name = dicom_iod_name(r->p.sop_class_uid);
	rc.patient_id = r->pid;
	if (dcm_ds_get_str(&r->p.ds, DCM_TAG(0x0010, 0x0010), r->pname,
			   sizeof(r->pname)))
		rc.patient_name = r->pname;
	rc.date_shift_days = keyed_date_shift(in->key, r->pid,
					      strlen(r->pid));
	rc.map_uid = map_uid;
	rc.audit = audit_cb;
	rc.arg = &arg;
	rc.failure = &why;
	err = rules_apply(in->rules, &rc, &r->p.ds);
	if (err == -ENOMEM)
		return err;
	if (err)
		return quarantine_why(r->an, RULES_Q_DEID_FAILED, &why);
	/* Type 1 in every IOD, and the file meta needs it: a file without
	 * one cannot be made valid (inventing one would give two copies of
	 * the same image two identities) */
	if (!dcm_ds_get_str(&r->p.ds, TAG_SOP_UID, r->sop_inst,
			    sizeof(r->sop_inst))) {
		cause_at(&why, "SOP Instance UID missing", TAG_SOP_UID);
		return quarantine_why(r->an, RULES_Q_DEID_FAILED, &why);
	}
	return 0;
}

/* The pixel data: native bytes only as far as the image goes; other pixel
 * data in the dataset removed; encapsulated data walked (encap.h). */
static int run_pixels(struct run *r)
{
	struct dicom_parsed *p = &r->p;
	int err;

	if (p->has_pixel && !p->pixel_encapsulated) {
		struct rules_cause why;
		uint64_t want;

		if (analysis_native_pixel_len(p, &want)) {
			cause_at(&why, "image attributes do not account for "
				 "the pixel data", TAG_PIXEL_DATA);
			return quarantine_why(r->an, RULES_Q_UNPARSEABLE,
					      &why);
		}
		if (p->pixel_len > want)	/* the rest is not image */
			p->pixel_len = want;
	}
	analysis_drop_stray_pixels(&p->ds);
	if (!p->has_pixel || !p->pixel_encapsulated)
		return 0;
	/* The offsets of an Extended Offset Table are the writer's word, in
	 * 8-byte values: they go, and the Basic Offset Table is made again
	 * from the frames found. */
	dcm_ds_remove(&p->ds, TAG_EXT_OFFSET_TABLE);
	dcm_ds_remove(&p->ds, TAG_EXT_OFFSET_LENGTHS);
	err = analysis_pixel_map(p, &r->src, &r->pix);
	if (err == -ENOMEM || err == -EIO)
		return err;
	return err ? quarantine(r->an, RULES_Q_PIXEL_DATA) : 0;
}

/* What analysis_mask() needs of native pixel data published at out_off. */
static void native_pixels(const struct dicom_parsed *p, uint64_t out_off,
			  struct analysis *an)
{
	struct analysis_pixels *x = &an->pix;
	long rows = get_us(&p->ds, DCM_TAG(0x0028, 0x0010), 0);
	long cols = get_us(&p->ds, DCM_TAG(0x0028, 0x0011), 0);
	long spp = get_us(&p->ds, DCM_TAG(0x0028, 0x0002), 0);
	long bits = get_us(&p->ds, DCM_TAG(0x0028, 0x0100), 0);
	long planar = get_us(&p->ds, DCM_TAG(0x0028, 0x0006), 0);
	int64_t frames = get_int(&p->ds, DCM_TAG(0x0028, 0x0008));

	if (frames == STORE_MISSING)
		frames = 1;
	if (rows <= 0 || cols <= 0 || (spp != 1 && spp != 3) ||
	    (bits != 8 && bits != 16) || frames <= 0 || frames > INT32_MAX)
		return;
	x->rows = (uint32_t)rows;
	x->cols = (uint32_t)cols;
	x->samples = (uint32_t)spp;
	x->bits_allocated = (uint32_t)bits;
	x->planar = spp == 3 && planar == 1;
	x->frames = (uint32_t)frames;
	x->out_off = out_off;
	x->len = p->pixel_len;
	x->native = 1;
}

/* The new header, and the map of the published bytes behind it. */
static int run_output(struct run *r)
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
		cause_at(&why, "a value cannot be encoded", 0);
		return quarantine_why(an, RULES_Q_DEID_FAILED, &why);
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
		err = append_map(&an->map, &r->pix);
	} else if (!err && p->has_pixel) {
		err = bytemap_add_src(&an->map, p->pixel_off, p->pixel_len);
	}
	if (err == -E2BIG) {	/* too many pieces to serve */
		bytemap_clear(&an->map);
		return quarantine(an, RULES_Q_PIXEL_DATA);
	}
	if (err)
		return err;
	an->rec.header_len = an->map.gen_len;
	an->rec.out_size = an->map.size;
	an->has_pixels = p->has_pixel && p->pixel_len > 0;
	if (an->has_pixels && !p->pixel_encapsulated && !p->big_endian)
		native_pixels(p, hlen, an);
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
	err = run_parse(r, &fdv);
	if (!err)
		err = run_identity(r);
	if (!err)
		err = run_rules(r);
	if (!err)
		err = run_pixels(r);
	if (!err)
		err = run_output(r);
	if (err == STOP)
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

/* ------------------------------------------------------------- masks */

/* A run of painted output bytes: [off, off + len) with a pattern of plen
 * bytes (one pixel, or one sample of a plane) repeated from off. */
struct paint {
	uint64_t off, len;
	uint8_t pat[6];
	uint8_t plen;
};

static int paint_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct paint *)a)->off;
	uint64_t y = ((const struct paint *)b)->off;

	return x < y ? -1 : x > y;
}

static void put_sample(uint8_t *at, uint32_t bits, uint16_t v)
{
	at[0] = (uint8_t)v;
	if (bits == 16)
		at[1] = (uint8_t)(v >> 8);
}

/* The runs of the n regions, sorted and without overlaps (a later run is
 * cut where an earlier one ends: regions of one frame do not overlap, but
 * the db is read, not trusted).  *out is malloc'd. */
static int paint_runs(const struct analysis_pixels *x,
		      const struct scan_region *r, size_t n,
		      struct paint **out, size_t *nout)
{
	uint64_t bps = x->bits_allocated / 8;
	uint64_t npix = (uint64_t)x->rows * x->cols;
	uint64_t fbytes = npix * x->samples * bps;
	uint32_t planes = x->planar ? x->samples : 1;
	struct paint *p = NULL;
	size_t np = 0, cap = 0, i, j;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < n; i++) {
		const struct scan_region *g = &r[i];

		if (g->frame >= x->frames || !g->w || !g->h ||
		    g->x >= x->cols || g->w > x->cols - g->x ||
		    g->y >= x->rows || g->h > x->rows - g->y ||
		    (uint64_t)(g->frame + 1) * fbytes > x->len) {
			free(p);
			return -EINVAL;
		}
		for (uint32_t y = g->y; y < g->y + g->h; y++)
			for (uint32_t k = 0; k < planes; k++) {
				struct paint *q;

				if (np == cap) {
					size_t c = cap ? cap * 2 : 64;
					void *m;

					if (c > BYTEMAP_MAX_PIECES) {
						free(p);
						return -E2BIG;
					}
					m = realloc(p, c * sizeof(*p));
					if (!m) {
						free(p);
						return -ENOMEM;
					}
					p = m;
					cap = c;
				}
				q = &p[np++];
				memset(q, 0, sizeof(*q));
				if (x->planar) {
					q->off = (uint64_t)g->frame * fbytes +
						 k * npix * bps +
						 ((uint64_t)y * x->cols + g->x) * bps;
					q->len = g->w * bps;
					q->plen = (uint8_t)bps;
					put_sample(q->pat, x->bits_allocated,
						   g->fill[k]);
				} else {
					q->off = (uint64_t)g->frame * fbytes +
						 ((uint64_t)y * x->cols + g->x) *
							 bps * x->samples;
					q->len = g->w * bps * x->samples;
					q->plen = (uint8_t)(bps * x->samples);
					for (uint32_t s = 0; s < x->samples; s++)
						put_sample(q->pat + s * bps,
							   x->bits_allocated,
							   g->fill[s]);
				}
				q->off += x->out_off;
			}
	}
	qsort(p, np, sizeof(*p), paint_cmp);
	for (i = 1, j = 0; i < np; i++) {
		uint64_t end = p[j].off + p[j].len;

		if (p[i].off < end) {
			if (p[i].off + p[i].len <= end)
				continue;
			/* keep the pattern's phase: whole patterns only */
			uint64_t cut = end - p[i].off;

			cut += (p[i].plen - cut % p[i].plen) % p[i].plen;
			if (cut >= p[i].len)
				continue;
			p[i].off += cut;
			p[i].len -= cut;
		}
		p[++j] = p[i];
	}
	*out = p;
	*nout = np ? j + 1 : 0;
	return 0;
}

/* Append piece q of old, output bytes [from, to) of it only. */
static int add_part(struct bytemap *m, const struct bytemap *old,
		    const struct bytemap_piece *q, uint64_t from, uint64_t to)
{
	uint64_t in = from - q->out, n = to - from;

	switch (q->kind) {
	case BYTEMAP_SRC:
		return bytemap_add_src(m, q->at + in, n);
	case BYTEMAP_INFLATED:
		return bytemap_add_inflated(m, q->at + in, n);
	default:
		return bytemap_add_gen(m, old->gen + q->at + in, (size_t)n);
	}
}

int analysis_mask(struct analysis *an, const struct scan_region *r,
		  size_t n)
{
	struct bytemap m;
	struct paint *p = NULL;
	uint8_t *buf = NULL;
	size_t np = 0, i, k = 0, bufsz = 0;
	uint64_t pos = 0;
	int err;

	if (!an->pix.native || !an->map.n)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	err = paint_runs(&an->pix, r, n, &p, &np);
	if (err)
		return err;
	/* the old map's pieces, cut where a run starts or ends */
	for (i = 0; i < an->map.n && !err; i++) {
		const struct bytemap_piece *q = &an->map.piece[i];
		uint64_t end = q->out + q->len;

		while (pos < end && !err) {
			if (k < np && p[k].off <= pos) {
				/* a run: its bytes, whatever it covers */
				uint64_t left = p[k].off + p[k].len - pos;

				if (left > bufsz) {
					free(buf);
					bufsz = (size_t)left;
					buf = malloc(bufsz);
					if (!buf) {
						err = -ENOMEM;
						break;
					}
				}
				for (uint64_t b = 0; b < left; b++)
					buf[b] = p[k].pat[(pos - p[k].off + b) %
							  p[k].plen];
				err = bytemap_add_gen(&m, buf, (size_t)left);
				pos += left;
				k++;
				continue;
			}
			{
				uint64_t to = k < np && p[k].off < end ? p[k].off
								     : end;

				err = add_part(&m, &an->map, q, pos, to);
				pos = to;
			}
		}
		/* a run reaching past this piece goes on in the next ones:
		 * pos is already beyond them */
		while (i + 1 < an->map.n && an->map.piece[i + 1].out +
						     an->map.piece[i + 1].len <=
					     pos)
			i++;
	}
	free(buf);
	free(p);
	if (!err && (k != np || m.size != an->map.size))
		err = -EINVAL;	/* a run past the pixel data */
	if (err) {
		bytemap_clear(&m);
		return err;
	}
	bytemap_clear(&an->map);
	an->map = m;
	an->masked = (uint32_t)n;
	return 0;
}
