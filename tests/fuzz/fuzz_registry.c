/*
 * fuzz_registry.c - libFuzzer target: the registry CSV path.
 *
 *   a. the whole input as a CSV under the default spec (';', header line):
 *      registry_parse, then registry_render with keyed callbacks;
 *   b. the first line as a --csv-spec, the rest as a CSV without a header.
 *
 * Properties: parse returns 0 or a documented error; render succeeds on
 * whatever parse accepted; no report or error message quotes the input
 * (see fuzz_swapcase(); in b. the spec's enum values are swapped with the
 * CSV, since whether a cell is one of them decides a report) or holds a
 * run of 8 digits;
 * the rendered CSV reads back (same delimiter and header flag, the
 * pseudonym column where the spec puts it) with exactly one valid row per
 * rendered row, each carrying a well-formed pseudonym.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "keyed.h"
#include "registry.h"

static const uint8_t key[KEYED_KEY_LEN] = "deidfs fuzz key, not a secret!!";
static struct registry_spec *default_spec;

static void report(void *arg, uint64_t row, const char *reason)
{
	FUZZ_CHECK(reason && *reason, "a report has a reason");
	fuzz_msgs_add(arg, row, reason);
}

static void quiet(void *arg, uint64_t row, const char *reason)
{
}

static int pseudonym(void *arg, const char *id, char *out, size_t outsz)
{
	return keyed_pseudonym(key, id, strlen(id), out, outsz);
}

static int shift_days(void *arg, const char *id)
{
	return keyed_date_shift(key, id, strlen(id));
}

static int is_pseudonym(const char *s)
{
	size_t i;

	if (!s || strlen(s) != KEYED_PSEUDONYM_LEN)
		return 0;
	for (i = 0; i < KEYED_PSEUDONYM_LEN; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
			return 0;
	return 1;
}

/*
 * Output column of the pseudonym: its input column minus the dropped ones
 * before it.  The spec is opaque, so render a one-row CSV whose header
 * cells name their columns and find the ID column's cell.
 */
static unsigned out_id_column(const struct registry_spec *spec)
{
	struct registry_opts o = { ';', 1, spec, 3 };
	struct registry_keys k = { .pseudonym = pseudonym,
				   .shift_days = shift_days };
	struct registry *r = NULL;
	unsigned id = registry_spec_id_column(spec), col, at = 0, ncol;
	char *csv, *out = NULL, cell[16], *line, *tok, *save = NULL;
	size_t len = 0, outlen;
	char err[256];

	FUZZ_CHECK(id >= 1 && id <= REGISTRY_MAX_COLUMNS,
		   "the ID column is in range");
	/* The spec may name columns past id: widen until it fits. */
	for (ncol = id < 3 ? 3 : id;; ncol *= 2) {
		if (ncol > REGISTRY_MAX_COLUMNS)
			ncol = REGISTRY_MAX_COLUMNS;
		csv = malloc((size_t)ncol * 24 + 8);
		FUZZ_CHECK(csv, "malloc");
		len = 0;
		for (col = 1; col <= ncol; col++)
			len += (size_t)sprintf(csv + len, "%sh%u",
					       col > 1 ? ";" : "", col);
		csv[len++] = '\n';
		for (col = 1; col <= ncol; col++)
			len += (size_t)sprintf(csv + len, "%s%u",
					       col > 1 ? ";" : "", col);
		csv[len++] = '\n';
		if (registry_parse(csv, len, &o, quiet, NULL, &r, err,
				   sizeof(err)) == 0)
			break;
		free(csv);
		FUZZ_CHECK(ncol < REGISTRY_MAX_COLUMNS,
			   "a spec fits REGISTRY_MAX_COLUMNS columns");
	}
	FUZZ_CHECK(registry_render(r, NULL, &k, quiet, NULL, &out,
				   &outlen) == 0,
		   "a synthetic CSV renders");
	snprintf(cell, sizeof(cell), "h%u", id);
	line = strndup(out, outlen);
	FUZZ_CHECK(line, "strndup");
	line[strcspn(line, "\n")] = 0;
	for (col = 1, tok = strtok_r(line, ";", &save); tok;
	     col++, tok = strtok_r(NULL, ";", &save))
		if (strcmp(tok, cell) == 0)
			at = col;
	FUZZ_CHECK(at, "the ID column is in the output");
	free(line);
	free(out);
	free(csv);
	registry_free(r);
	return at;
}

/* Parse and render csv; every message goes to *m.  0 or parse's error. */
static int parse_render(const struct registry_opts *o, const uint8_t *csv,
			size_t len, struct fuzz_msgs *m, struct registry **r,
			char **out, size_t *outlen)
{
	struct registry_keys k = { .pseudonym = pseudonym,
				   .shift_days = shift_days };
	char err[256] = "";
	int ret;

	*r = NULL;
	*out = NULL;
	ret = registry_parse((const char *)csv, len, o, report, m, r, err,
			     sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -E2BIG ||
			   ret == -ENOMEM,
		   "registry_parse: a documented result");
	if (ret) {
		FUZZ_CHECK(!*r, "no registry on error");
		fuzz_msgs_add(m, 0, err);
		return ret;
	}
	ret = registry_render(*r, NULL, &k, report, m, out, outlen);
	FUZZ_CHECK(ret == 0, "registry_render succeeds on a parsed CSV");
	FUZZ_CHECK(*out, "registry_render gives a buffer");
	return 0;
}

/*
 * The spec text with the case of its enum values swapped as fuzz_swapcase()
 * swaps the CSV, so a cell matches a value in the swapped pair exactly when
 * it does in the original.  The bytes an enum value is checked for
 * (control characters, spaces, = + - @) are not letters: the swapped spec
 * parses exactly when the original does.  Caller frees.
 */
static char *swap_enum_values(const char *spec)
{
	char *t = strdup(spec), *p = t, *eq, *end;

	FUZZ_CHECK(t, "strdup");
	while (*p) {
		end = p + strcspn(p, ",");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			eq++;
			while (eq < end && *eq == ' ')
				eq++;
			if (end - eq >= 5 && !memcmp(eq, "enum:", 5)) {
				uint8_t *sw = fuzz_swapcase(
					(const uint8_t *)eq + 5,
					(size_t)(end - eq - 5));

				memcpy(eq + 5, sw, (size_t)(end - eq - 5));
				free(sw);
			}
		}
		p = *end ? end + 1 : end;
	}
	return t;
}

static void run(const struct registry_spec *spec,
		const struct registry_spec *spec_swapped, int has_header,
		const uint8_t *csv, size_t len)
{
	struct registry_opts o = { ';', has_header, spec, 3 };
	struct registry_opts os = { ';', has_header, spec_swapped, 3 };
	static struct fuzz_msgs ma, mb;
	struct registry *r = NULL, *back = NULL, *rs = NULL;
	char err[256] = "", *out = NULL, *outs = NULL;
	size_t outlen = 0, outslen = 0, i, nvalid = 0, nback = 0;
	uint8_t *swapped = fuzz_swapcase(csv, len);
	int ret, rets;

	ma.len = mb.len = 0;
	ma.n = mb.n = 0;
	ret = parse_render(&o, csv, len, &ma, &r, &out, &outlen);
	rets = parse_render(&os, swapped, len, &mb, &rs, &outs, &outslen);
	FUZZ_CHECK(ret == rets && fuzz_msgs_same(&ma, &mb),
		   "reports and errors never quote the CSV");
	free(outs);
	registry_free(rs);
	free(swapped);
	if (ret)
		return;
	for (i = 0; i < registry_row_count(r); i++) {
		const struct registry_row *row = registry_row(r, i);

		FUZZ_CHECK(row, "registry_row in range");
		if (row->valid) {
			FUZZ_CHECK(row->patient_id && *row->patient_id,
				   "a valid row has an ID");
			nvalid++;
		}
	}

	/* Read the output back. */
	{
		struct registry_spec *s2;
		char spec2[32];
		struct registry_opts o2 = { ';', has_header, NULL, 0 };

		o2.date_column = out_id_column(spec);	/* 0 would mean 3 */
		snprintf(spec2, sizeof(spec2), "%u=pseudonym", o2.date_column);
		FUZZ_CHECK(registry_spec_parse(spec2, &s2, err, sizeof(err)) ==
				   0,
			   "spec2");
		o2.spec = s2;
		ret = registry_parse(out, outlen, &o2, quiet, NULL, &back, err,
				     sizeof(err));
		if (ret)
			fprintf(stderr, "%s (%s)\n", err, spec2);
		FUZZ_CHECK(ret == 0, "the rendered CSV parses");
		for (i = 0; i < registry_row_count(back); i++) {
			const struct registry_row *row = registry_row(back, i);

			if (!row->valid)
				continue;
			FUZZ_CHECK(is_pseudonym(row->patient_id),
				   "the ID column holds a pseudonym");
			nback++;
		}
		FUZZ_CHECK(nback == nvalid,
			   "one valid row read back per rendered row");
		registry_free(back);
		registry_spec_free(s2);
	}
	free(out);
	registry_free(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	if (registry_spec_parse(REGISTRY_DEFAULT_SPEC, &default_spec, err,
				sizeof(err)))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 4096 ? size : 4096);
	struct registry_spec *spec, *spec_swapped;
	char err[256], *text, *text_swapped;

	/* a. the input as a CSV under the default spec */
	run(default_spec, default_spec, 1, data, size);

	/* b. first line: a spec; the rest: a CSV without a header line */
	if (!nl)
		return 0;
	text = fuzz_strndup(data, (size_t)(nl - data));
	if (registry_spec_parse(text, &spec, err, sizeof(err)) == 0) {
		text_swapped = swap_enum_values(text);
		FUZZ_CHECK(registry_spec_parse(text_swapped, &spec_swapped,
					       err, sizeof(err)) == 0,
			   "a spec with its enum values swapped parses");
		run(spec, spec_swapped, 0, nl + 1,
		    size - (size_t)(nl + 1 - data));
		registry_spec_free(spec_swapped);
		registry_spec_free(spec);
		free(text_swapped);
	}
	free(text);
	return 0;
}
