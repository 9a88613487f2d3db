/*
 * rules_tsv.h - reading the compiled-in tables of the rules (the .tsv
 * files of fs/data, C strings in tables.c): lines of TAB-separated fields
 * under a header line that names the columns.  Used by rules_table.c and
 * rules_terms.c.
 *
 * Pure functions over the caller's text; fields borrow from it.
 */
#ifndef DEIDFS_RULES_TSV_H
#define DEIDFS_RULES_TSV_H

#include <stddef.h>
#include <stdint.h>

#define RULES_TSV_MAX_COLS 16

/* One field of a line: borrowed from the text, not NUL-terminated. */
struct rules_tsv_field {
	const char *p;
	size_t n;
};

/* Whether the field is exactly s. */
int rules_tsv_field_is(const struct rules_tsv_field *f, const char *s);

/*
 * Split the next line of text at *pos into exactly ncols TAB-separated
 * fields (f[0..ncols)); *pos moves past it.  Returns 1 with a line, 0 at
 * the end of the text, -EBADMSG for a line with another number of fields
 * or an empty line before the end.
 */
int rules_tsv_next_line(const char *text, size_t *pos,
			struct rules_tsv_field *f, size_t ncols);

/* Read the header line at *pos: exactly the ncols column names cols, in
 * order (ncols <= RULES_TSV_MAX_COLS).  Returns 0 or -EBADMSG. */
int rules_tsv_header(const char *text, size_t *pos, const char *const *cols,
		     size_t ncols);

/* The number of lines in text: an upper bound for a table's rows. */
size_t rules_tsv_count_lines(const char *text);

/* A tag "GGGG,EEEE" in upper-case hex, as the data files write it, where
 * a digit may be 'x' (masked: that nibble is zero in *tag and in *mask).
 * Returns 0 or -EBADMSG. */
int rules_tsv_tag(const struct rules_tsv_field *f, uint32_t *tag,
		  uint32_t *mask);

/* qsort()/bsearch() comparator of records whose first member is their
 * uint32_t tag (a bare uint32_t key included). */
int rules_tsv_cmp_tag(const void *a, const void *b);

#endif
