/*
 * verify.h - `deidfs verify` and `deidfs lookup` (fs/verify.c,
 * fs/lookup.c): front ends that read a project db and, for verify, a
 * dataset (an export or a live mount).
 *
 * verify checks a dataset against the view the db recorded (view.h:
 * view_config_recall()) and against every original value the db holds;
 * its output names view paths, tags and kinds, never a value.  lookup
 * prints identifying values on purpose: it is for the person who holds
 * the db.
 *
 * Both take the command line after the command word (argv[0] is "verify"
 * or "lookup") and return the exit status: 0 (verify: nothing found), 1
 * (verify: findings, or it could not check), 2 (usage).
 */
#ifndef DEIDFS_VERIFY_H
#define DEIDFS_VERIFY_H

int verify_main(int argc, char **argv, const char *version);
int lookup_main(int argc, char **argv);

#endif
