/*
 * scan_tokens.c - the forms in which text read off the pixels is matched
 * against the registry row (scan.h: scan_token_forms(), scan_token_sha()).
 *
 * The registry CSV is read when the view is built, after the index has
 * scanned the pixels, and it may change between runs; so the scan cannot
 * match against it.  Instead it keeps, per source version, a keyed digest
 * of each form of the identifying text it read (the worker hands over
 * unkeyed SHA-256 of the forms, never the text; the index keys them with
 * the project's key before they reach the db), and every view build
 * digests the linked row's identifying cells in the same forms and looks
 * for them among the file's (view_scan_registry.c).  Both sides use the
 * functions here, so they cannot disagree on a form.
 */
#include "scan.h"

#include <ctype.h>
#include <string.h>

#include "keyed.h"

#define TOKEN_LABEL "deidfs scan token"

void scan_token_sha(const char *form, size_t n, uint8_t out[32])
{
	struct keyed_sha256 c;

	keyed_sha256_init(&c);
	keyed_sha256_update(&c, TOKEN_LABEL, sizeof(TOKEN_LABEL));
	keyed_sha256_update(&c, form, n);
	keyed_sha256_final(&c, out);
}

static int valid_md(int m, int d)
{
	return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void emit_date(int y, int m, int d, scan_form_fn fn, void *arg)
{
	char f[10];

	if (y < 1800 || y > 2199 || !valid_md(m, d))
		return;
	f[0] = 'D';
	f[1] = (char)('0' + y / 1000);
	f[2] = (char)('0' + y / 100 % 10);
	f[3] = (char)('0' + y / 10 % 10);
	f[4] = (char)('0' + y % 10);
	f[5] = (char)('0' + m / 10);
	f[6] = (char)('0' + m % 10);
	f[7] = (char)('0' + d / 10);
	f[8] = (char)('0' + d % 10);
	fn(arg, f, 9);
	explicit_bzero(f, sizeof(f));
}

static int num(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * The dates s (n bytes, folded) reads as: groups of digits separated by
 * one of . / - or a space: day, month, year (4 digits, or 2: both
 * centuries), or year, month, day; or 8 digits alone, YYYYMMDD or
 * DDMMYYYY.  Each as "D" + YYYYMMDD.
 */
static void dates_of(const char *s, size_t n, scan_form_fn fn, void *arg)
{
	size_t g[3][2], ng = 0, i = 0;

	while (i < n && ng < 4) {
		size_t b = i;

		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i == b || i - b > 8)
			return;
		if (ng == 3)
			return;
		g[ng][0] = b;
		g[ng][1] = i - b;
		ng++;
		if (i == n)
			break;
		if (!strchr("./- ", s[i]) || i + 1 == n)
			return;
		i++;
	}
	if (ng == 1 && g[0][1] == 8) {
		emit_date(num(s, 4), num(s + 4, 2), num(s + 6, 2), fn, arg);
		emit_date(num(s + 4, 4), num(s + 2, 2), num(s, 2), fn, arg);
		return;
	}
	if (ng != 3)
		return;
	if (g[0][1] == 4 && g[1][1] <= 2 && g[2][1] <= 2) {
		emit_date(num(s + g[0][0], 4), num(s + g[1][0], g[1][1]),
			  num(s + g[2][0], g[2][1]), fn, arg);
		return;
	}
	if (g[0][1] > 2 || g[1][1] > 2)
		return;
	if (g[2][1] == 4) {
		emit_date(num(s + g[2][0], 4), num(s + g[1][0], g[1][1]),
			  num(s + g[0][0], g[0][1]), fn, arg);
	} else if (g[2][1] == 2) {
		int y = num(s + g[2][0], 2);

		emit_date(1900 + y, num(s + g[1][0], g[1][1]),
			  num(s + g[0][0], g[0][1]), fn, arg);
		emit_date(2000 + y, num(s + g[1][0], g[1][1]),
			  num(s + g[0][0], g[0][1]), fn, arg);
	}
}

/* The forms of one run of words (folded, words separated by one space). */
static void forms_of(const char *s, size_t n, scan_form_fn fn, void *arg)
{
	char w[SCAN_FORM_MAX + 1];
	size_t k = 1;

	w[0] = 'W';
	for (size_t i = 0; i < n && k < sizeof(w); i++)
		if (isalnum((unsigned char)s[i]))
			w[k++] = s[i];
	/* fewer than 4 letters and digits could be anything; a run longer
	 * than a form is not one value */
	if (k >= 5 && k < sizeof(w))
		fn(arg, w, k);
	dates_of(s, n, fn, arg);
	explicit_bzero(w, sizeof(w));
}

void scan_token_forms(const char *text, size_t len, int whole,
		      scan_form_fn fn, void *arg)
{
	char fold[1024];
	size_t n = scan_fold(text, len, fold, sizeof(fold));
	size_t wb[64], we[64], nw = 0, i = 0;

	/* the words, without the punctuation around them ("ID:", "(123)") */
	while (i < n && nw < 64) {
		size_t b, e;

		while (i < n && fold[i] == ' ')
			i++;
		b = i;
		while (i < n && fold[i] != ' ')
			i++;
		e = i;
		while (b < e && !isalnum((unsigned char)fold[b]))
			b++;
		while (e > b && !isalnum((unsigned char)fold[e - 1]))
			e--;
		if (e > b) {
			wb[nw] = b;
			we[nw] = e;
			nw++;
		}
	}
	/* each run of one to three words: an ID or a date OCR split at its
	 * separators ("010203 12345", "13 03 2013") is one run */
	for (i = 0; i < nw; i++)
		for (size_t j = i; j < nw && j < i + 3; j++) {
			char run[SCAN_FORM_MAX * 2];
			size_t k = 0;

			for (size_t t = i; t <= j; t++) {
				size_t wl = we[t] - wb[t];

				if (k + wl + 1 >= sizeof(run))
					break;
				if (t > i)
					run[k++] = ' ';
				memcpy(run + k, fold + wb[t], wl);
				k += wl;
			}
			forms_of(run, k, fn, arg);
			explicit_bzero(run, sizeof(run));
		}
	if (whole && n)
		forms_of(fold, n, fn, arg);
	explicit_bzero(fold, sizeof(fold));
}
