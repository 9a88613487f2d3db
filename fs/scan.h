/*
 * scan.h - the burned-in text scan (issue 14): the pixels of every image
 * that would be published are read, every frame: native (uncompressed)
 * pixel data straight from the published bytes, a strip of rows at a
 * time; compressed pixel data decoded by GDCM (dicom_decode_pixels()).  A
 * cheap stage sees each frame coarsely in the same pass (the lowest and
 * highest value of each cell of a grid) and finds small high-contrast
 * components there (scan_image.c); Tesseract reads those regions only, at
 * full resolution (scan_ocr.c), and a frame without candidates is not read
 * at all; each line it reads is classified (scan_text.c): harmless (view
 * and laterality markers, technique values, the user's allow-list) or
 * text, and then whether it holds an identifying value of the file (a name
 * word, the personal ID, a date).
 *
 * Decoding and reading run in worker processes (scan_pool.c) with limits
 * on memory and time: a codec that crashes or hangs costs that file only
 * (SCAN_UNREADABLE).  The recognised text never leaves the worker: what
 * comes back is where text was and what kind it was.  Nothing here logs a
 * value.
 */
#ifndef DEIDFS_SCAN_H
#define DEIDFS_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct dcm_ds;

/* Kinds of what was read in a region (bits; a region may have several). */
#define SCAN_K_HARMLESS 0x01u	/* only allow-listed words */
#define SCAN_K_TEXT 0x02u	/* any other text */
#define SCAN_K_DATE 0x04u	/* a date (the file's own, or date-shaped) */
#define SCAN_K_NAME 0x08u	/* a word of a person name in the file */
#define SCAN_K_ID 0x10u		/* a personal ID, or the file's PatientID */
/* what sends a file to quarantine */
#define SCAN_K_IDENTIFYING (SCAN_K_TEXT | SCAN_K_DATE | SCAN_K_NAME | SCAN_K_ID)

/* Identifying values of one file, against which read text is matched
 * (PHI: wipe; scan_ident_clear()).  Fixed size: it crosses to the worker
 * in one message. */
#define SCAN_NAMES_BYTES 4096
#define SCAN_DATES_MAX 16
struct scan_ident {
	char pid[65];			/* PatientID, may be empty */
	char other_ids[3][65];	/* Other Patient IDs, Accession Number,
				 * Study ID */
	char dates[SCAN_DATES_MAX][9];	/* YYYYMMDD of every DA in the file */
	uint32_t ndates;
	/* folded name words (upper-case ASCII, see scan_fold()), each
	 * NUL-terminated, after one another; an empty word ends the list */
	char names[SCAN_NAMES_BYTES];
};

/* The identifying values of a source dataset (before de-identification):
 * every PN value's words at any depth, PatientID, Other Patient IDs,
 * every date.  Values that do not fit are dropped (the scan then only
 * reports them as other text, which quarantines all the same). */
void scan_ident_from_ds(const struct dcm_ds *ds, struct scan_ident *id);
void scan_ident_clear(struct scan_ident *id);

/*
 * Fold UTF-8 (or, when not valid UTF-8, Latin-1) text s of n bytes to
 * upper-case ASCII: letters with diacritics lose them (Ø -> O, Å -> A,
 * É -> E), Æ -> AE, ß -> SS; other non-ASCII characters become '?'.
 * Writes at most outsz - 1 bytes and a NUL; returns the length written.
 */
size_t scan_fold(const char *s, size_t n, char *out, size_t outsz);

/* The user's allow-list (--scan-allow FILE): words, one per line, compared
 * folded; '#' starts a comment.  Read-only once parsed. */
struct scan_allow;
/* Returns 0, -EINVAL (err says which line, never its text) or -ENOMEM. */
int scan_allow_parse(const char *buf, size_t len, struct scan_allow **out,
		     char *err, size_t errsz);
void scan_allow_free(struct scan_allow *a);	/* accepts NULL */
/* The list as text scan_allow_parse() reads back to the same list (one
 * folded word a line; a NULL list is empty), malloc'd into *out. */
int scan_allow_text(const struct scan_allow *a, char **out, size_t *len);

/*
 * The kind of one line of recognised text (UTF-8, words separated by
 * spaces): SCAN_K_HARMLESS when every word is a view or laterality
 * marker, a technique value (28kV, 63 mAs, 120 N, 45 mm, Mo/Rh) or on
 * allow; 0 for nothing readable; else SCAN_K_TEXT with any of
 * SCAN_K_DATE, SCAN_K_NAME, SCAN_K_ID that match.  id and allow may be
 * NULL.  Pure.
 */
uint32_t scan_line_kind(const char *line, const struct scan_ident *id,
			const struct scan_allow *allow);

/* The reason name of a kind set, for the quarantine ("personal-id",
 * "name", "date", "text"); the strongest match wins. */
const char *scan_kind_name(uint32_t kinds);

/*
 * The forms in which identifying text is matched against the registry row
 * (scan_tokens.c), the same for the text read and for the row's cells:
 * for each run of one to three words of text (folded, punctuation around
 * words dropped), "W" and its letters and digits (4 to SCAN_FORM_MAX - 1
 * of them), and "D" + YYYYMMDD for each date it reads as (d.m.yyyy,
 * yyyy-mm-dd, dd/mm/yy, 8 digits...); whole: also the forms of the whole
 * text as one run.  fn(arg, form, n) for each, form valid only during
 * the call (PHI).  Pure.
 */
#define SCAN_FORM_MAX 64
typedef void (*scan_form_fn)(void *arg, const char *form, size_t n);
void scan_token_forms(const char *text, size_t len, int whole,
		      scan_form_fn fn, void *arg);
/* SHA-256 of a form under a fixed label: what the worker hands over, and
 * what the index keys with the project's key (never stored unkeyed). */
void scan_token_sha(const char *form, size_t n, uint8_t out[32]);

/* ---------------------------------------------------------- results */

#define SCAN_MAX_REGIONS 32
#define SCAN_TOKENS_MAX 64

/* A region read by OCR: the candidate box (with its margin) in which
 * text was read, so that it holds every stroke of that text, also of the
 * words read with too little confidence to count. */
struct scan_region {
	uint32_t frame;
	uint32_t x, y, w, h;	/* full resolution, in the frame */
	uint32_t kind;		/* SCAN_K_* of the lines read in it */
	uint16_t fill[3];	/* raw value per sample of its background
				 * (the median of its border), what a mask
				 * paints; 0 when not told */
	uint16_t maskable;	/* 1: a box of text, not a whole frame read
				 * because it had too many candidates */
};

enum scan_status {
	SCAN_DONE = 0,		/* pixels read; kinds says what was found */
	SCAN_UNREADABLE,	/* the pixels could not be decoded, or the
				 * worker crashed, hung or ran out of its
				 * memory on them */
};

struct scan_result {
	int32_t status;		/* enum scan_status */
	uint32_t kinds;		/* union of the regions' kinds */
	uint32_t frames;	/* frames read */
	uint32_t candidates;	/* candidate regions read by OCR */
	uint32_t nregions;	/* regions with text (at most
				 * SCAN_MAX_REGIONS kept; kinds has all) */
	struct scan_region region[SCAN_MAX_REGIONS];
	/* what each stage cost, in microseconds of the worker */
	uint64_t us_decode, us_find, us_ocr;
	/* scan_token_sha() of the forms of the identifying lines read
	 * (distinct, at most SCAN_TOKENS_MAX: the rest are not kept) */
	uint32_t ntokens;
	uint8_t token[SCAN_TOKENS_MAX][32];
};

/* ------------------------------------------------------------- pool */

struct scan_config {
	const struct scan_allow *allow;	/* borrowed, may be NULL */
	unsigned timeout_s;		/* per file, CPU time of the worker
					 * (wall clock: 4x); 0: default */
	uint64_t mem_max;		/* worker address space beyond what
					 * it inherits; 0: default */
};

/*
 * The worker process's own entry: `deidfs __scan-worker TIMEOUT MEM_MAX`,
 * exec'd by the pool with its socket at descriptor 3 and the allow-list's
 * text at 4 (or 4 closed).  Never returns.  A worker is exec'd rather than
 * only forked: the process that forks it has threads (a mount rebuilding
 * its view while it serves), and a lock one of them held at the fork (the
 * allocator's, a library's) would stay held in the copy for ever.
 */
void scan_worker_exec_main(int argc, char **argv);
#define SCAN_WORKER_COMMAND "__scan-worker"

#define SCAN_TIMEOUT_DEFAULT 300
#define SCAN_MEM_DEFAULT (3ull << 30)

/*
 * Up to n worker processes, started when first needed (fork and exec of
 * this binary, scan_worker_exec_main(); each keeps only its socket and the
 * allow-list of every inherited descriptor).
 * cfg is copied; its allow-list stays borrowed until scan_pool_free().
 * Returns 0 or -ENOMEM.
 */
struct scan_pool;
int scan_pool_new(const struct scan_config *cfg, unsigned n,
		  struct scan_pool **out);
/* Stops the workers (and waits for them).  Accepts NULL. */
void scan_pool_free(struct scan_pool *p);

/*
 * Scan the published file: map (its generated bytes, source ranges and,
 * for a deflated source, ranges of the inflated dataset that deflate says
 * where to find; borrowed) over the source open at fd (read with pread
 * only); no map (NULL or empty) scans the source itself.  deflate: NULL
 * unless the map has inflated pieces.  One of the pool's workers does it,
 * waiting for a free one.  Thread-safe.  A worker that crashes, exceeds
 * its limits or its time is killed and the file is SCAN_UNREADABLE; the
 * next file gets a new worker.  Returns 0 (res filled) or -ENOMEM /
 * -EAGAIN (no worker could be started).
 */
struct bytemap;
struct inflate_where;
int scan_pool_run(struct scan_pool *p, int fd, const struct bytemap *map,
		  const struct inflate_where *deflate,
		  const struct scan_ident *id, struct scan_result *res);

/* The worker's part: scan the file src in this process.  Returns 0 (res
 * filled) or -EIO. */
struct dicom_source;
int scan_file(const struct dicom_source *src, const struct scan_ident *id,
	      const struct scan_allow *allow, struct scan_result *res);

#endif
