/*
 * tables.h - compiled-in data tables (NUL-terminated TSV text, read-only).
 */
#ifndef DEIDFS_TABLES_H
#define DEIDFS_TABLES_H

/* PS3.15 Table E.1-1 as fs/data/annex-e.tsv (header line first). */
extern const char tables_annex_e_tsv[];
/* PS3.15 Table E.3.10-1 as fs/data/safe-private.tsv (header line first). */
extern const char tables_safe_private_tsv[];
/* Attributes outside Table E.1-1 with a free-text VR that carry no free
 * text about a person, as fs/data/safe-text.tsv (header line first). */
extern const char tables_safe_text_tsv[];
/* The Enumerated Values and Defined Terms of kept CS attributes, as
 * fs/data/cs-terms.tsv (comment lines, then the header line). */
extern const char tables_cs_terms_tsv[];

#endif
