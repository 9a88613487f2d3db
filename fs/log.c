/*
 * log.c - see log.h.  One line per message, written with one call, so the
 * lines of threads never interleave.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static int use_syslog;

void log_set_level(enum log_level max)
{
	max_level = max;
}

void log_to_syslog(void)
{
	openlog("deidfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = 1;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char line[1024];
	int n;

	if (level > max_level || level < LOG_LEVEL_ERROR)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	while (n > 0 && line[n - 1] == '\n')	/* libfuse ends with one */
		line[--n] = 0;
	if (use_syslog) {
		syslog(prio[level], "%s", line);
	} else {
		char out[1100];
		int m = snprintf(out, sizeof(out), "deidfs: %s\n", line);

		if (m > 0)
			(void)!write(STDERR_FILENO, out,
				     (size_t)m < sizeof(out) ? (size_t)m
							     : sizeof(out) - 1);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
