/*
 * lookup.c - `deidfs lookup --db FILE PSEUDONYM|VIEW-PATH|PERSONAL-ID`
 * (include/verify.h): for the authorised person who holds the db, the
 * identity behind a pseudonym or a published file, or the pseudonym of a
 * personal ID (to extend a dataset with the same pseudonyms).
 *
 * This is the one command of deidfs that prints identifying values, on
 * purpose and only on stdout; its messages on stderr never do.  It opens
 * the db without creating it and writes nothing.
 */
#include "verify.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "keyed.h"
#include "log.h"
#include "store.h"

static const char usage_text[] =
	"usage: deidfs lookup --db FILE PSEUDONYM|VIEW-PATH|PERSONAL-ID\n"
	"\n"
	"For the holder of the db: the original identity behind a pseudonym "
	"or a\n"
	"published file (a path in the view, such as "
	"<pseudonym>/2019-03/1_MG/0001.dcm),\n"
	"or the pseudonym of a personal ID.  Prints identifying values.\n"
	"\n"
	"Exit status: 0 found, 1 not found (or the db cannot be read), 2 "
	"usage error.\n";

/* Tags whose original values tell who a file is about. */
static const struct {
	const char *path;
	const char *label;
} identity_tags[] = {
	{ "00100010", "name" },
	{ "00100030", "birth date" },
	{ "00100040", "sex" },
	{ "00080050", "accession number" },
	{ "00080020", "study date" },
	{ "00080080", "institution" },
	{ "00080018", "SOP instance UID" },
};

static int print_value(void *arg, int64_t file_id, const char *path,
		       const char *action, const void *old, size_t oldlen)
{
	size_t i;

	(void)arg;
	(void)file_id;
	(void)action;
	for (i = 0; i < sizeof(identity_tags) / sizeof(identity_tags[0]); i++)
		if (!strcmp(path, identity_tags[i].path)) {
			printf("%s: %.*s\n", identity_tags[i].label,
			       (int)oldlen, (const char *)old);
			break;
		}
	return 0;
}

static int print_file(struct store *st, const struct store_file *f)
{
	printf("pseudonym: %s\n", f->pseudonym ? f->pseudonym : "-");
	printf("personal id: %s\n", f->patient_id ? f->patient_id : "-");
	if (f->view_path)
		printf("view path: %s\n", f->view_path);
	printf("source path: %s\n", f->path);
	return store_values_foreach(st, f->id, print_value, NULL);
}

static int is_pseudonym(const char *s)
{
	size_t i;

	if (strlen(s) != KEYED_PSEUDONYM_LEN)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '2' && s[i] <= '7')))
			return 0;
	return 1;
}

/* A pseudonym: the personal ID, and the identity in one of her files. */
static int by_pseudonym(struct store *st, const char *q)
{
	struct store_file f;
	char *id = NULL;
	int64_t fid;
	int err;

	err = store_patient_get(st, q, &id);
	if (err)
		return err;
	memset(&f, 0, sizeof(f));
	printf("pseudonym: %s\npersonal id: %s\n", q, id);
	base_wipe_str_free(id);
	if (!store_patient_file(st, q, &fid) && !store_file_get_id(st, fid, &f))
		err = store_values_foreach(st, f.id, print_value, NULL);
	store_file_clear(&f);
	return err;
}

static int by_view_path(struct store *st, const char *q)
{
	struct store_file f;
	int err;

	memset(&f, 0, sizeof(f));
	while (*q == '/')
		q++;
	err = store_file_by_view_path(st, q, &f);
	if (!err)
		err = print_file(st, &f);
	store_file_clear(&f);
	return err;
}

/* A personal ID: its pseudonym under this db's key, known or not. */
static int by_personal_id(struct store *st, const char *q)
{
	uint8_t key[KEYED_KEY_LEN];
	char pseud[KEYED_PSEUDONYM_LEN + 1], *known = NULL;
	const char *id;
	size_t n = keyed_normalise(q, strlen(q), &id);
	int err;

	store_key(st, key);
	err = keyed_pseudonym(key, id, n, pseud, sizeof(pseud));
	explicit_bzero(key, sizeof(key));
	if (err)
		return err;
	err = store_patient_get(st, pseud, &known);
	printf("personal id: %.*s\npseudonym: %s\nin this db: %s\n", (int)n,
	       id, pseud, err ? "no (a new person: this is the pseudonym "
			       "deidfs would give her)" : "yes");
	base_wipe_str_free(known);
	return err == -ENOENT ? 0 : err;
}

int lookup_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store *st = NULL;
	const char *db = NULL, *q;
	int c, err;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'D') {
			db = optarg;
		} else if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else {
			log_error("lookup: unknown option or missing argument "
				  "(deidfs lookup --help)");
			return 2;
		}
	}
	if (!db || optind + 1 != argc) {
		log_error("lookup needs --db FILE and one PSEUDONYM, VIEW-PATH "
			  "or PERSONAL-ID (deidfs lookup --help)");
		return 2;
	}
	q = argv[optind];
	err = store_open(db, 0, &st);
	if (err) {
		log_error("--db %s: %s", db,
			  err == -ENOENT ? "no such db (give the project db "
					   "the export or mount used)" :
			  err == -EBADMSG ? "not a deidfs db, or damaged "
					    "(check the path; restore a "
					    "damaged db from its backup)" :
			  strerror(-err));
		return 1;
	}
	if (is_pseudonym(q))
		err = by_pseudonym(st, q);
	else if (strchr(q, '/'))
		err = by_view_path(st, q);
	else
		err = by_personal_id(st, q);
	store_close(st);
	if (err == -ENOENT) {
		log_error("lookup: not in this db (check the pseudonym, the "
			  "view path, relative to the dataset's top, or the "
			  "personal ID, and that this is the project's db)");
		return 1;
	}
	if (err) {
		log_error("lookup: cannot read the db (%s): run again; if it "
			  "persists, check the db's disk", strerror(-err));
		return 1;
	}
	return 0;
}
