/*
 * verify_oracle.h - dciodvfy (dicom3tools) as an oracle of `deidfs
 * verify` (internal to the core; fs/verify_oracle.c): run on a published
 * file and on its source, every error or warning the published file's
 * output has and its source's lacks is a finding.
 *
 * dciodvfy's messages can quote values (a person name "dubious for this
 * VR", a path it could not open), so a message never leaves this module:
 * each is read as a tag (from "(0xgggg,0xeeee)", or a keyword the
 * dictionary knows) and one of a fixed set of classes, and a finding is
 * that tag and the class's static name.  The messages are compared in a
 * normalised form (values, quoted strings and numbers dropped, tag and
 * class kept) held in memory only and wiped.
 *
 * Messages the Basic Profile forces (Study Date, Study Time and Study ID
 * are Type 2 with Annex E code Z: present and empty, so dciodvfy warns
 * that a DICOMDIR could not index them; README, "Validity") are excused.
 */
#ifndef DEIDFS_VERIFY_ORACLE_H
#define DEIDFS_VERIFY_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "verify_check.h"

#define VORACLE_PROG "dciodvfy"

/* One message of dciodvfy's output, as verify reads it. */
struct voracle_msg {
	uint32_t tag;		/* the attribute, when has_tag */
	int has_tag;
	const char *kind;	/* static: "dciodvfy-error:missing-attribute" */
	char key[256];		/* normalised message, to compare; PHI-free
				 * by construction yet never printed */
};

/*
 * Read one line of dciodvfy's output (line, n): 1 with *m filled when it
 * is an error, warning or abort, 0 for any other line.  Pure.
 */
int voracle_line(const char *line, size_t n, struct voracle_msg *m);

/* The program prog (a name looked up on PATH, or a path) as a path that
 * can be run, into (out, outsz).  Returns 0 or -ENOENT. */
int voracle_find(const char *prog, char *out, size_t outsz);

/*
 * Start prog (a path, voracle_find()) on the published file out_fd and on
 * its source src_fd, one process each (its output to an anonymous memory
 * file; CPU time, memory and output bounded).  The descriptors are
 * borrowed until voracle_finish() or voracle_abandon(), either of which
 * frees *out.
 * Returns 0, -ENOMEM or -errno (a prog that cannot be run is a finding of
 * voracle_finish(), "dciodvfy-not-run").
 */
struct voracle;
int voracle_start(const char *prog, int out_fd, int src_fd,
		  struct voracle **out);

/*
 * Wait for both and report each message of the published file that its
 * source lacks: found(arg, tag, kind, 0), tag "(gggg,eeee)" or "-".  A run
 * that dies on the published file and not on its source is a finding too
 * ("dciodvfy-failed").  Frees o.  Returns 0, -ENOMEM, or what found
 * returned.
 */
int voracle_finish(struct voracle *o, vcheck_found_fn found, void *arg);

/* Stop both processes and free o (an error path).  Accepts NULL. */
void voracle_abandon(struct voracle *o);

#endif
