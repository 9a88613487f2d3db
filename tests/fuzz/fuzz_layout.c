/*
 * fuzz_layout.c - libFuzzer target: the --layout template language.
 * The first line of the input is the template; the next lines, if any, are
 * hostile values (patient, study date, modality, laterality, view) as they
 * could come from a DICOM header.  Every component is rendered with fixed
 * typical values, with absent/extreme values and with the input's values,
 * and every rendered name gets a collision suffix.
 *
 * Properties: parse gives 0, -EINVAL or -ENOMEM (with a message); 1 to
 * LAYOUT_MAX_COMPONENTS components, the last at instance level; a rendered
 * name (and a suffixed one) is non-empty, at most LAYOUT_MAX_NAME bytes,
 * of the documented characters only, never starting with '.': nothing a
 * value holds can add a path component, escape the view or hide a file.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "layout.h"

static void check_name(const char *buf, int n, size_t bufsz)
{
	int i;

	if (n == -ENAMETOOLONG)
		return;
	FUZZ_CHECK(n > 0, "a rendered name is not empty");
	FUZZ_CHECK((size_t)n < bufsz && n <= LAYOUT_MAX_NAME &&
			   strlen(buf) == (size_t)n,
		   "a rendered name fits and is terminated");
	FUZZ_CHECK(buf[0] != '.', "a rendered name never starts with '.'");
	for (i = 0; i < n; i++) {
		char c = buf[i];

		FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				   (c >= '0' && c <= '9') || c == '.' ||
				   c == '_' || c == '+' || c == '=' ||
				   c == '-' || c == ' ',
			   "a rendered name has safe characters only");
	}
}

static void render_all(const struct layout *l, const struct layout_values *v)
{
	unsigned i, nc = layout_ncomponents(l);
	char buf[LAYOUT_MAX_NAME + 1], sfx[LAYOUT_MAX_NAME + 1], small[8];
	int n;

	for (i = 0; i < nc; i++) {
		n = layout_render(l, i, v, buf, sizeof(buf));
		check_name(buf, n, sizeof(buf));
		if (n < 0)
			continue;
		check_name(sfx, layout_suffix(buf, i + 1 == nc, 2, sfx,
					      sizeof(sfx)),
			   sizeof(sfx));
		check_name(sfx, layout_suffix(buf, i + 1 == nc, UINT64_MAX,
					      sfx, sizeof(sfx)),
			   sizeof(sfx));
		n = layout_render(l, i, v, small, sizeof(small));
		check_name(small, n, sizeof(small));
	}
}

/* Next line of the input (NUL-terminated in place), or NULL. */
static char *next_line(char **s)
{
	char *line = *s, *nl;

	if (!line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = 0;
		*s = nl + 1;
	} else {
		*s = NULL;
	}
	return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layout *l = NULL;
	struct layout_values typical = {
		"abcdefghijklmnop", "20150203", 1, 1, 1, "MG", 3, 3, "L", "CC"
	};
	struct layout_values extreme = {
		NULL, "20151399", UINT64_MAX, INT64_MIN, 0, "", INT64_MAX,
		UINT64_MAX, NULL, "../.."
	};
	struct layout_values hostile = typical;
	char err[256] = "", *text, *rest, *tmpl;
	unsigned nc;
	int ret;

	text = fuzz_strndup(data, size);
	rest = text;
	tmpl = next_line(&rest);
	ret = layout_parse(tmpl, &l, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM,
		   "layout_parse: 0, -EINVAL or -ENOMEM");
	if (ret) {
		FUZZ_CHECK(!l && err[0], "an error has a message");
		goto out;
	}
	nc = layout_ncomponents(l);
	FUZZ_CHECK(nc >= 1 && nc <= LAYOUT_MAX_COMPONENTS,
		   "1 to LAYOUT_MAX_COMPONENTS components");
	FUZZ_CHECK(layout_component_level(l, nc - 1) == LAYOUT_INSTANCE,
		   "the file name is at instance level");
	render_all(l, &typical);
	render_all(l, &extreme);
	hostile.patient = next_line(&rest);
	hostile.study_date = next_line(&rest);
	hostile.modality = next_line(&rest);
	hostile.laterality = next_line(&rest);
	hostile.view = next_line(&rest);
	render_all(l, &hostile);
out:
	layout_free(l);
	free(text);
	return 0;
}
