/*
 * fuzz_whitelist.c - libFuzzer target: the --whitelist JSON parser
 * (rules_whitelist_parse), then the list in use: rules_apply with "clean
 * descriptors" on a small dataset whose descriptors are tested against it.
 *
 * Properties: 0, -EBADMSG or -ENOMEM; an error message never quotes the
 * input (see fuzz_swapcase()); a parsed list can be used and freed (ASan checks the rest).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dcm.h"
#include "fuzz_common.h"
#include "keyed.h"
#include "rules.h"

static const uint8_t key[KEYED_KEY_LEN] = "deidfs fuzz key, not a secret!!";
static struct rules *rules;

static int map_uid(void *arg, const char *uid, char *out, size_t outsz)
{
	return keyed_uid(key, uid, strlen(uid), out, outsz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (rules_new(&rules))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_whitelist *wl = NULL;
	struct rules_ctx rc;
	struct dcm_ds ds = { 0 };
	struct dcm_elem *seq;
	struct dcm_ds *item;
	char err[256] = "";
	int ret;

	ret = rules_whitelist_parse((const char *)data, size, &wl, err,
				    sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -ENOMEM,
		   "rules_whitelist_parse: 0, -EBADMSG or -ENOMEM");
	{
		/* the same result and message with letters case-swapped */
		static struct fuzz_msgs ma, mb;
		struct rules_whitelist *wl2 = NULL;
		uint8_t *swapped = fuzz_swapcase(data, size);
		char err2[256] = "";
		int ret2;

		ret2 = rules_whitelist_parse((const char *)swapped, size, &wl2,
					     err2, sizeof(err2));
		ma.len = mb.len = 0;
		ma.n = mb.n = 0;
		fuzz_msgs_add(&ma, 0, ret ? err : "");
		fuzz_msgs_add(&mb, 0, ret2 ? err2 : "");
		FUZZ_CHECK(ret == ret2 && fuzz_msgs_same(&ma, &mb),
			   "an error message never quotes the input");
		rules_whitelist_free(wl2);
		free(swapped);
	}
	if (ret) {
		FUZZ_CHECK(!wl && err[0], "no list on error, a message");
		return 0;
	}
	/* Descriptors the list is matched against, at two depths. */
	FUZZ_CHECK(!dcm_ds_set_str(&ds, DCM_TAG(0x0008, 0x0018), "UI",
				   "1.2.3.4") &&
			   !dcm_ds_set_str(&ds, DCM_TAG(0x0008, 0x103e), "LO",
					   "L CC") &&
			   !dcm_ds_set_str(&ds, DCM_TAG(0x0008, 0x1030), "LO",
					   "Mammografi screening") &&
			   !dcm_ds_set_str(&ds, DCM_TAG(0x0018, 0x1030), "LO",
					   "R MLO") &&
			   !dcm_ds_set_seq(&ds, DCM_TAG(0x0040, 0x0275), &seq) &&
			   !dcm_seq_add_item(seq, &item) &&
			   !dcm_ds_set_str(item, DCM_TAG(0x0008, 0x0104), "LO",
					   "medio-lateral oblique") &&
			   !dcm_ds_set_str(item, DCM_TAG(0x0032, 0x1060), "LO",
					   "Screening"),
		   "build the dataset");
	memset(&rc, 0, sizeof(rc));
	rc.options = RULES_CLEAN_DESCRIPTORS;
	rc.wl = wl;
	rc.pseudonym = "abcdefghijklmnop";
	rc.map_uid = map_uid;
	ret = rules_apply(rules, &rc, &ds);
	FUZZ_CHECK(ret == 0, "rules_apply with a parsed white list");
	dcm_ds_free(&ds);
	rules_whitelist_free(wl);
	return 0;
}
