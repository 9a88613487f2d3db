/*
 * tables.c - the data files (PS3.15 Annex E, safe text, CS terms),
 * compiled into the binary so that deidfs never depends on a data file at
 * run time (see fs/data/README.md for their provenance).  Each table is
 * NUL-terminated.
 */
#include "tables.h"

#define INCBIN(sym, file)                                                  \
	__asm__(".section .rodata\n"                                       \
		".global " #sym "\n"                                       \
		".type " #sym ", @object\n"                                \
		".balign 16\n" #sym ":\n"                                  \
		".incbin \"" file "\"\n"                                   \
		".byte 0\n"                                                \
		".previous\n")

INCBIN(tables_annex_e_tsv, "fs/data/annex-e.tsv");
INCBIN(tables_safe_private_tsv, "fs/data/safe-private.tsv");
INCBIN(tables_safe_text_tsv, "fs/data/safe-text.tsv");
INCBIN(tables_cs_terms_tsv, "fs/data/cs-terms.tsv");
