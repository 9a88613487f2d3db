/*
 * fuzz_csvspec.c - libFuzzer target: the --csv-spec mini-language
 * (registry_spec_parse), then the spec in use on a small fixed CSV.
 *
 * Properties: 0, -EINVAL or -ENOMEM; exactly one pseudonym column, in
 * range; a parsed spec that fits the fixed CSV renders it and the pseudonym never
 * leaves the personal ID in the output.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "keyed.h"
#include "registry.h"

static const uint8_t key[KEYED_KEY_LEN] = "deidfs fuzz key, not a secret!!";

static const char csv[] =
	"fnr;invid;screeningdato;a;b;c;d;e;f;diagnosedato;g\n"
	"01017012345;900001;03.02.2015;1;2;3;4;5;6;14.03.2015;x\n"
	"02028054321;900002;29.02.2016;;;;;;;;\n"
	"03039011111;900003;31.12.1999;1;;;;;;bad;y\n";

static int pseudonym(void *arg, const char *id, char *out, size_t outsz)
{
	return keyed_pseudonym(key, id, strlen(id), out, outsz);
}

static int shift_days(void *arg, const char *id)
{
	return keyed_date_shift(key, id, strlen(id));
}

static void quiet(void *arg, uint64_t row, const char *reason)
{
	FUZZ_CHECK(reason && *reason, "a report has a reason");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_spec *spec = NULL;
	struct registry *r = NULL;
	struct registry_keys k = { .pseudonym = pseudonym,
				   .shift_days = shift_days };
	char err[256] = "", *text, *out = NULL;
	size_t outlen;
	unsigned id;
	int ret;

	text = fuzz_strndup(data, size);
	ret = registry_spec_parse(text, &spec, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM,
		   "registry_spec_parse: 0, -EINVAL or -ENOMEM");
	if (ret) {
		FUZZ_CHECK(!spec && err[0], "an error has a message");
		goto out;
	}
	id = registry_spec_id_column(spec);
	FUZZ_CHECK(id >= 1 && id <= REGISTRY_MAX_COLUMNS,
		   "the ID column is in range");
	{
		struct registry_opts o = { ';', 1, spec, 3 };

		ret = registry_parse(csv, sizeof(csv) - 1, &o, quiet, NULL,
				     &r, err, sizeof(err));
		/* -EBADMSG: the spec names a column the CSV lacks */
		FUZZ_CHECK(ret == 0 || (ret == -EBADMSG && err[0]),
			   "the fixed CSV parses or the spec does not fit");
		if (ret)
			goto out;
	}
	ret = registry_render(r, NULL, &k, quiet, NULL, &out, &outlen);
	FUZZ_CHECK(ret == 0, "and renders");
	if (id == 1)
		FUZZ_CHECK(!memmem(out, outlen, "01017012345", 11) &&
				   !memmem(out, outlen, "02028054321", 11),
			   "personal IDs replaced");
	free(out);
	registry_free(r);
out:
	registry_spec_free(spec);
	free(text);
	return 0;
}
