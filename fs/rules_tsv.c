/*
 * rules_tsv.c - reading the compiled-in TSV tables of the rules (see
 * rules_tsv.h).
 */
#include "rules_tsv.h"
#include "base.h"

#include <errno.h>
#include <string.h>

int rules_tsv_field_is(const struct rules_tsv_field *f, const char *s)
{
	return f->n == strlen(s) && memcmp(f->p, s, f->n) == 0;
}

int rules_tsv_next_line(const char *text, size_t *pos,
			struct rules_tsv_field *f, size_t ncols)
{
	const char *s = text + *pos, *end = strchr(s, '\n');
	size_t len, i, k = 0, start = 0;

	if (!*s)
		return 0;
	len = end ? (size_t)(end - s) : strlen(s);
	*pos += len + (end ? 1 : 0);
	if (len == 0)
		return -EBADMSG;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '\t')
			continue;
		if (k == ncols)
			return -EBADMSG;
		f[k].p = s + start;
		f[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == ncols ? 1 : -EBADMSG;
}

int rules_tsv_header(const char *text, size_t *pos, const char *const *cols,
		     size_t ncols)
{
	struct rules_tsv_field f[RULES_TSV_MAX_COLS];
	size_t i;
	int err = rules_tsv_next_line(text, pos, f, ncols);

	if (err != 1)
		return -EBADMSG;
	for (i = 0; i < ncols; i++)
		if (!rules_tsv_field_is(&f[i], cols[i]))
			return -EBADMSG;
	return 0;
}

int rules_tsv_tag(const struct rules_tsv_field *f, uint32_t *tag,
		  uint32_t *mask)
{
	uint32_t t = 0, m = 0;
	size_t i;

	if (f->n != 9 || f->p[4] != ',')
		return -EBADMSG;
	for (i = 0; i < 9; i++) {
		char c = f->p[i];
		int v;

		if (i == 4)
			continue;
		t <<= 4;
		m <<= 4;
		if (c == 'x') {
			continue;
		}
		v = base_hex_digit(c);
		if (v < 0 || (c >= 'a' && c <= 'f'))
			return -EBADMSG;
		t |= (uint32_t)v;
		m |= 0xf;
	}
	*tag = t;
	*mask = m;
	return 0;
}

int rules_tsv_cmp_tag(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t rules_tsv_count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		if (*text == '\n')
			n++;
	return n + 1;
}
