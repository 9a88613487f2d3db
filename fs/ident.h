/*
 * ident.h - recognising a person's identifiers in values that are kept:
 * Norwegian personal IDs (fodselsnummer, D- and H-numbers: 11 digits whose
 * two control digits check), a given person's own ID, and the words of the
 * person names a file holds.
 * Pure functions; used by the registry (kept CSV cells) and the rules
 * (kept DICOM values).  Nothing here logs or copies a value.
 */
#ifndef DEIDFS_IDENT_H
#define DEIDFS_IDENT_H

#include <stddef.h>

/* Whether the 11 digits at d form a valid personal ID (both mod-11
 * control digits check). */
int ident_fnr_valid(const char d[11]);

/*
 * Whether (s, n) holds a personal ID: 11 digits in a row (or 6 and 5 split
 * by one space, dash or dot) not part of a longer run, whose control
 * digits check; or own (the person's own ID, may be NULL) anywhere, when
 * it has at least 6 characters.
 */
int ident_holds_personal_id(const char *s, size_t n, const char *own);

/*
 * The words of the person names of one file (PHI: wipe on free), against
 * which kept values are screened.  A word is a maximal run of ASCII letters,
 * digits and non-ASCII bytes (the letters of Latin-1 and UTF-8 names); so
 * "Nordmann^Kari-Anne" gives NORDMANN, KARI and ANNE, and "O'Brien" gives
 * BRIEN.  Words are compared without regard to ASCII case.  Not every word
 * counts (see ident_words_add_name()).  Bounded: at most IDENT_WORDS_MAX
 * distinct words, each at most IDENT_WORD_MAX bytes.
 */
#define IDENT_WORDS_MAX 4096
#define IDENT_WORD_MAX 256

struct ident_words;

/* An empty set; *out freed with ident_words_free().  Returns 0 or
 * -ENOMEM. */
int ident_words_new(struct ident_words **out);
void ident_words_free(struct ident_words *w);	/* wipes; accepts NULL */

/*
 * Add the words of the person name (s, n) (a PN value, any component
 * group, or a NUL-free part of one) that can name someone: at least 3 bytes
 * with a letter in them, or at least 6 digits (a number typed into a name
 * is screened like an ID); not one of the few words that fill name fields
 * without naming anyone (ANON, UNKNOWN, NONE, titles such as MRS or PROF,
 * particles such as VAN, VON, DER, DEL, DOS).  Shorter words would match
 * too much of what is kept (codes, units, views such as "AP" or "LL") for
 * what they say alone, so a two-letter surname (LI, WU, NG) is not
 * screened.  Returns 0, -ENOMEM, or -E2BIG when a
 * counting word is longer than IDENT_WORD_MAX or the set would hold more
 * than IDENT_WORDS_MAX words (the caller fails closed).
 */
int ident_words_add_name(struct ident_words *w, const char *s, size_t n);

/* Number of distinct words in the set. */
size_t ident_words_count(const struct ident_words *w);

/* Whether (s, n) holds one of the words as a whole word (bounded by
 * anything that is not a word byte).  w may be NULL (no words). */
int ident_words_holds(const struct ident_words *w, const char *s, size_t n);

#endif
