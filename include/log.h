/*
 * log.h - how the front ends (export, mount, the command line) tell the
 * user something: levelled messages on stderr, or to syslog once the mount
 * runs in the background (its stderr is then /dev/null).  libfuse's own
 * messages come through here too (mount.c installs log_fuse_sink()).
 *
 * PHI-free by construction: callers pass numbers, errno strings, view
 * names and paths the user gave on the command line; the core modules,
 * which hold values read from sources, the CSV and the db, never log (they
 * report through callbacks with such numbers and reasons).
 */
#ifndef DEIDFS_LOG_H
#define DEIDFS_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,	/* the run or the mount fails */
	LOG_LEVEL_WARNING,	/* something was not done; the rest goes on */
	LOG_LEVEL_INFO,		/* what happened (front ends leave reports out
				 * under -q) */
	LOG_LEVEL_DEBUG,
};

/* Messages above max are dropped (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level max);

/* From now on, messages go to syslog (facility daemon, ident "deidfs",
 * with the pid) instead of stderr. */
void log_to_syslog(void);

__attribute__((format(printf, 2, 3)))
void log_msg(enum log_level level, const char *fmt, ...);
__attribute__((format(printf, 2, 0)))
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
