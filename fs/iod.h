/*
 * iod.h - the Type of an attribute in an IOD (PS3.3), from the module and
 * IOD tables GDCM ships (Part3.xml, compiled in by scripts/gen_iod.py).
 *
 * The de-identification rules ask it which alternative of a compound
 * Annex E code keeps a file conformant (PS3.15 E.1.1: X/Z/D is X for a
 * Type 3 attribute, Z for Type 2, D for Type 1), and what a dummy item of
 * a sequence must hold.  Pure and read-only: any thread, any time.
 */
#ifndef DEIDFS_IOD_H
#define DEIDFS_IOD_H

#include <stddef.h>
#include <stdint.h>

/* Strictest first: a smaller value asks more of a file. */
enum iod_type {
	IOD_TYPE_UNKNOWN = 0,	/* not in any module of the IOD */
	IOD_TYPE_1,
	IOD_TYPE_1C,
	IOD_TYPE_2,
	IOD_TYPE_2C,
	IOD_TYPE_3,
};

#define IOD_NONE (-1)		/* no IOD: the SOP class is not known */
#define IOD_MAX_DEPTH 8		/* nesting levels the tables describe */

/* The IOD of that name (as GDCM names them, see dicom_iod_name()), or
 * IOD_NONE for NULL or an unknown name. */
int iod_find(const char *name);

/* Name of an IOD (static storage), or NULL. */
const char *iod_name(int iod);

/* Edition of PS3.3 the tables follow (static storage). */
const char *iod_edition(void);

/*
 * Type of the attribute at path in iod: path[0] is a top-level tag,
 * path[k] a tag in the items of the sequence path[k-1]; depth entries.
 * The strictest Type over the IOD's modules that define the attribute at
 * that path (all usages: a file that holds an optional module must keep it
 * valid).  IOD_TYPE_UNKNOWN when none does, or for IOD_NONE.
 */
enum iod_type iod_type(int iod, const uint32_t *path, unsigned depth);

#endif
