/*
 * rules_names.c - rules_names_collect() (include/rules.h): the words of
 * every person name in a source dataset, which no kept value may hold.
 * Collected once per file, before the rules change anything.
 */
#include "rules.h"
#include "dicom.h"
#include "ident.h"
#include "rules_vr.h"

#include <errno.h>
#include <string.h>

/* Whether e holds a person name: its VR in the file is PN, or the
 * dictionary's is (a PN written as UN or LO is still one). */
static int is_name(const struct dcm_elem *e)
{
	char vr[3];

	if (rules_vr_is(e, "PN"))
		return 1;
	if ((DCM_GROUP(e->tag) & 1) || rules_vr_is(e, "SQ"))
		return 0;
	dicom_dict_vr(e->tag, NULL, vr);
	return vr[0] == 'P' && vr[1] == 'N';
}

static int collect_names(const struct dcm_ds *ds, unsigned depth,
			 struct ident_words *words)
{
	uint32_t i, j;
	int err;

	if (depth > DCM_MAX_DEPTH)
		return -ELOOP;
	for (i = 0; i < ds->n; i++) {
		const struct dcm_elem *e = &ds->el[i];

		if (e->val && e->len && is_name(e)) {
			err = ident_words_add_name(words, (const char *)e->val,
						   e->len);
			if (err)
				return err == -E2BIG ? -EBADMSG : err;
		}
		for (j = 0; j < e->nitems; j++) {
			err = collect_names(&e->items[j], depth + 1, words);
			if (err)
				return err;
		}
	}
	return 0;
}

int rules_names_collect(const struct dcm_ds *ds, const char *patient_name,
			struct ident_words **out)
{
	struct ident_words *words = NULL;
	int err;

	*out = NULL;
	err = ident_words_new(&words);
	if (!err && patient_name)
		err = ident_words_add_name(words, patient_name,
					   strlen(patient_name));
	if (err == -E2BIG)
		err = -EBADMSG;
	if (!err)
		err = collect_names(ds, 0, words);
	if (err) {
		ident_words_free(words);
		return err;
	}
	*out = words;
	return 0;
}
