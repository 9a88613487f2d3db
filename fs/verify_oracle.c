/*
 * verify_oracle.c - dciodvfy as verify's oracle (verify_oracle.h).
 *
 * Each run reads its file through /dev/fd/3 (a descriptor verify holds,
 * so dciodvfy never sees a path, and reads the very version verify
 * compares), writes to an anonymous memory file, and is bounded: CPU time
 * (a hostile file must not hang verify), address space and output size
 * (the kernel ends it past them).  Nothing it prints is echoed.
 */
#include "verify_oracle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "dicom.h"

extern char **environ;

#define RUN_CPU_SECONDS 120
#define RUN_AS_BYTES (4ull << 30)
#define RUN_OUT_BYTES (16ull << 20)
#define FD_MIN 10		/* our duplicates stay clear of 0..3 */

/* ------------------------------------------------------------ messages */

#define CLS(needle, name) \
	{ needle, "dciodvfy-error:" name, "dciodvfy-warning:" name }

/* Classes of dciodvfy's messages, by a phrase of their text; the first
 * that matches wins (the DICOMDIR one before "Missing attribute"). */
static const struct {
	const char *needle;
	const char *error, *warning;
} classes[] = {
	CLS("needed to build DICOMDIR", "dicomdir-value-missing"),
	CLS("Missing attribute", "missing-attribute"),
	CLS("Empty attribute", "empty-attribute"),
	CLS("only permitted to be empty", "empty-not-permitted"),
	CLS("Value Multiplicity", "bad-multiplicity"),
	CLS("Value invalid for this VR", "invalid-value-for-vr"),
	CLS("Value dubious for this VR", "dubious-value-for-vr"),
	CLS("Unrecognized enumerated value", "unrecognized-enumerated-value"),
	CLS("Unrecognized defined term", "unrecognized-defined-term"),
	CLS("condition unsatisfied", "present-when-condition-unsatisfied"),
	CLS("not present in standard DICOM IOD", "not-in-iod"),
	CLS("etired attribute", "retired-attribute"),
	CLS("same value as", "same-uid"),
	CLS("deprecated", "deprecated"),
	CLS("Value is zero", "value-zero"),
	CLS("out of range", "out-of-range"),
	CLS("Information Object Not found", "iod-not-found"),
	CLS("but missing", "meta-mismatch"),
	CLS("Unrecognized tag", "unrecognized-tag"),
	CLS("out of order", "not-readable"),
	CLS("group length", "bad-group-length"),
	CLS("Item", "bad-item"),
	CLS("File open", "cannot-open"),
	CLS("", "other"),
};

/* What the Basic Profile forces on every output (verify_oracle.h). */
static const char *const forced[] = {
	"needed to build DICOMDIR - Study Date",
	"needed to build DICOMDIR - Study Time",
	"needed to build DICOMDIR - Study ID",
};

/* "(0xgggg,0xeeee)" at s (n bytes left): 1 and *tag, else 0. */
static int hex_tag(const char *s, size_t n, uint32_t *tag)
{
	uint32_t t = 0;
	size_t i;

	if (n < 15 || memcmp(s, "(0x", 3) || memcmp(s + 7, ",0x", 3) ||
	    s[14] != ')')
		return 0;
	for (i = 3; i < 14; i++) {
		int h;

		if (i >= 7 && i < 10)
			continue;
		h = base_hex_digit((unsigned char)s[i]);
		if (h < 0)
			return 0;
		t = t << 4 | (uint32_t)h;
	}
	*tag = t;
	return 1;
}

/* The attribute in "<Keyword>" or "<Attribute Name>" right after a marker
 * in (s, n): a tag of the dictionary, else 0.  Taken as a keyword when it
 * is letters and digits only, else as the standard's name (dciodvfy
 * writes "<Patient's Sex>"): letters, digits, spaces and the punctuation
 * of names only, so that a value is never looked up. */
static int keyword_tag(const char *s, size_t n, const char *marker,
		       uint32_t *tag)
{
	const char *p = memmem(s, n, marker, strlen(marker));
	char kw[65];
	size_t i, left;
	int plain = 1;

	if (!p)
		return 0;
	p += strlen(marker);
	left = n - (size_t)(p - s);
	if (!left || *p != '<')
		return 0;
	for (i = 1; i < left && i <= 64; i++) {
		char c = p[i];

		if (c == '>')
			break;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9'))
			;
		else if (c == ' ' || c == '\'' || c == '-' || c == '/' ||
			 c == '(' || c == ')' || c == ',' || c == '.')
			plain = 0;
		else
			return 0;
		kw[i - 1] = c;
	}
	if (i == 1 || i >= left || p[i] != '>')
		return 0;
	kw[i - 1] = '\0';
	return plain ? !dicom_dict_tag_of(kw, tag)
		     : !dicom_dict_tag_of_name(kw, tag);
}

/* The message text (s, n) without values: <...>, "..." and '...' are
 * dropped, digits become '#', runs of spaces one space. */
static void normalise(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, k = 0;
	char close = 0;

	for (i = 0; i < n && k + 1 < outsz; i++) {
		char c = s[i];

		if (close) {
			if (c == close)
				close = 0;
			continue;
		}
		if (c == '<')
			close = '>';
		else if (c == '"' || c == '\'')
			close = c;
		if (close)
			continue;
		if (c >= '0' && c <= '9')
			c = '#';
		else if ((unsigned char)c < 0x20 || c == ' ')
			c = ' ';
		if (c == ' ' && k && out[k - 1] == ' ')
			continue;
		out[k++] = c;
	}
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
}

int voracle_line(const char *line, size_t n, struct voracle_msg *m)
{
	static const char *const sev[] = { "Error - ", "Warning - ",
					   "Abort - " };
	const char *msg = NULL, *best;
	size_t i, mlen;
	int s = -1;
	char norm[200];

	memset(m, 0, sizeof(*m));
	for (i = 0; i < 3; i++) {
		best = memmem(line, n, sev[i], strlen(sev[i]));
		if (best && (!msg || best < msg)) {
			msg = best;
			s = (int)i;
		}
	}
	if (!msg)
		return 0;
	msg += strlen(sev[s]);
	mlen = n - (size_t)(msg - line);
	for (i = 0; i + 1 < sizeof(classes) / sizeof(classes[0]); i++)
		if (memmem(msg, mlen, classes[i].needle,
			   strlen(classes[i].needle)))
			break;
	m->kind = s == 1 ? classes[i].warning : classes[i].error;
	/* the tag: "(0xgggg,0xeeee)" anywhere before a value, else a
	 * keyword the message names */
	for (best = line; best < line + n; best++) {
		if (*best == '<' || *best == '"' || *best == '=')
			break;
		if (*best == '(' &&
		    hex_tag(best, n - (size_t)(best - line), &m->tag)) {
			m->has_tag = 1;
			break;
		}
	}
	if (!m->has_tag)
		m->has_tag = keyword_tag(msg, mlen, "Element=", &m->tag) ||
			     keyword_tag(msg, mlen, "attribute ", &m->tag);
	normalise(msg, mlen, norm, sizeof(norm));
	snprintf(m->key, sizeof(m->key), "%s|%08x|%s", m->kind,
		 m->has_tag ? m->tag : 0xffffffffu, norm);
	explicit_bzero(norm, sizeof(norm));
	return 1;
}

static int is_forced(const char *line, size_t n)
{
	size_t i, k;

	while (n && (line[n - 1] == ' ' || line[n - 1] == '\r'))
		n--;
	for (i = 0; i < sizeof(forced) / sizeof(forced[0]); i++) {
		k = strlen(forced[i]);
		if (n >= k && !memcmp(line + n - k, forced[i], k) &&
		    memmem(line, n, "Warning - ", 10))
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ running */

int voracle_find(const char *prog, char *out, size_t outsz)
{
	const char *path = getenv("PATH"), *p, *end;
	struct stat st;

	if (strchr(prog, '/')) {
		if (access(prog, X_OK) ||
		    snprintf(out, outsz, "%s", prog) >= (int)outsz)
			return -ENOENT;
		return 0;
	}
	for (p = path ? path : "/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end == p ||
		    snprintf(out, outsz, "%.*s/%s", (int)(end - p), p, prog) >=
			    (int)outsz)
			continue;
		if (!stat(out, &st) && S_ISREG(st.st_mode) &&
		    !access(out, X_OK))
			return 0;
	}
	out[0] = '\0';
	return -ENOENT;
}

struct proc {
	pid_t pid;
	int mfd;
	int status;
};

struct voracle {
	struct proc p[2];	/* the published file, its source */
};

static void limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	(void)setrlimit(res, &rl);	/* a safety net: best effort */
}

/*
 * fork and exec rather than posix_spawn: the child sets its own limits
 * before exec, and valgrind follows it (its emulation of posix_spawn's
 * shared-memory clone returns in the child).  Between fork and exec the
 * child makes only system calls (async-signal-safe: the parent has
 * threads).  An exec that fails exits 127.
 */
static int spawn(const char *prog, int fd, struct proc *p)
{
	char *argv[] = { (char *)prog, (char *)"/dev/fd/3", NULL };
	int dfd = -1, nul = -1, out = -1, tmp, err = 0;
	pid_t pid;

	p->pid = -1;
	p->mfd = -1;
	tmp = memfd_create("deidfs-oracle", MFD_CLOEXEC);
	if (tmp >= 0) {
		out = fcntl(tmp, F_DUPFD_CLOEXEC, FD_MIN);
		close(tmp);
	}
	tmp = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (tmp >= 0) {
		nul = fcntl(tmp, F_DUPFD_CLOEXEC, FD_MIN);
		close(tmp);
	}
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, FD_MIN);
	if (out < 0 || nul < 0 || dfd < 0) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (pid == 0) {
		/* dup2 onto another number clears close-on-exec */
		if (dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
		    dup2(dfd, 3) < 0)
			_exit(127);
		limit(RLIMIT_CPU, RUN_CPU_SECONDS);
		limit(RLIMIT_AS, (rlim_t)RUN_AS_BYTES);
		limit(RLIMIT_FSIZE, (rlim_t)RUN_OUT_BYTES);
		execve(prog, argv, environ);
		_exit(127);
	}
	p->pid = pid;
	p->mfd = out;
	out = -1;
out:
	if (out >= 0)
		close(out);
	if (nul >= 0)
		close(nul);
	if (dfd >= 0)
		close(dfd);
	return err;
}

static void reap(struct proc *p)
{
	while (p->pid > 0 && waitpid(p->pid, &p->status, 0) < 0 &&
	       errno == EINTR)
		;
	p->pid = -1;
}

int voracle_start(const char *prog, int out_fd, int src_fd,
		  struct voracle **out)
{
	struct voracle *o = calloc(1, sizeof(*o));
	int err;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	o->p[1].mfd = -1;
	err = spawn(prog, out_fd, &o->p[0]);
	if (!err)
		err = spawn(prog, src_fd, &o->p[1]);
	if (err) {
		voracle_abandon(o);
		return err;
	}
	*out = o;
	return 0;
}

void voracle_abandon(struct voracle *o)
{
	int i;

	if (!o)
		return;
	for (i = 0; i < 2; i++) {
		if (o->p[i].pid > 0)
			kill(o->p[i].pid, SIGKILL);
		reap(&o->p[i]);
		if (o->p[i].mfd >= 0)
			close(o->p[i].mfd);
	}
	free(o);
}

/* The whole output of p, malloc'd (*len bytes, NUL after): PHI, wiped by
 * the caller. */
static int slurp(struct proc *p, char **buf, size_t *len)
{
	struct stat st;
	size_t n, got = 0;
	char *b;

	*buf = NULL;
	*len = 0;
	if (fstat(p->mfd, &st))
		return -errno;
	n = (uint64_t)st.st_size > RUN_OUT_BYTES ? RUN_OUT_BYTES
						  : (size_t)st.st_size;
	b = malloc(n + 1);
	if (!b)
		return -ENOMEM;
	while (got < n) {
		ssize_t k = pread(p->mfd, b + got, n - got, (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct voracle_msg *)a)->key,
		      ((const struct voracle_msg *)b)->key);
}

/* The messages of (buf, len) into *out (sorted; *cap allocated), forced
 * ones left out. */
static int messages(const char *buf, size_t len, struct voracle_msg **out,
		    size_t *n, size_t *cap)
{
	size_t i = 0, j;

	*out = NULL;
	*n = 0;
	*cap = 0;
	while (i < len) {
		for (j = i; j < len && buf[j] != '\n'; j++)
			;
		if (BASE_GROW(*out, *cap, *n, *n + 1, 32, BASE_GROW_WIPE))
			return -ENOMEM;
		if (voracle_line(buf + i, j - i, &(*out)[*n]) &&
		    !is_forced(buf + i, j - i))
			(*n)++;
		i = j + 1;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_key);
	return 0;
}

static void tag_text(const struct voracle_msg *m, char *out, size_t outsz)
{
	if (m->has_tag)
		snprintf(out, outsz, "(%04X,%04X)", m->tag >> 16,
			 m->tag & 0xffff);
	else
		snprintf(out, outsz, "-");
}

int voracle_finish(struct voracle *o, vcheck_found_fn found, void *arg)
{
	struct voracle_msg *m[2] = { NULL, NULL };
	size_t nm[2] = { 0, 0 }, cap[2] = { 0, 0 }, len[2] = { 0, 0 }, i;
	char *buf[2] = { NULL, NULL }, tag[16];
	int died[2], k, err = 0;

	for (k = 0; k < 2; k++) {
		reap(&o->p[k]);
		died[k] = WIFSIGNALED(o->p[k].status);
	}
	for (k = 0; k < 2 && !err; k++) {
		err = slurp(&o->p[k], &buf[k], &len[k]);
		if (!err)
			err = messages(buf[k], len[k], &m[k], &nm[k], &cap[k]);
	}
	/* 127: it could not be run at all (nothing to compare) */
	for (k = 0; k < 2 && !err; k++)
		if (WIFEXITED(o->p[k].status) &&
		    WEXITSTATUS(o->p[k].status) == 127) {
			err = found(arg, "-", "dciodvfy-not-run", 0);
			break;
		}
	if (!err && died[0] && !died[1])
		err = found(arg, "-", "dciodvfy-failed", 0);
	for (i = 0; !err && i < nm[0]; i++) {
		if (bsearch(&m[0][i], m[1], nm[1], sizeof(m[1][0]), cmp_key))
			continue;
		tag_text(&m[0][i], tag, sizeof(tag));
		err = found(arg, tag, m[0][i].kind, 0);
	}
	for (k = 0; k < 2; k++) {
		if (buf[k])
			base_wipe_free(buf[k], len[k] + 1);
		if (m[k])
			base_wipe_free(m[k], cap[k] * sizeof(*m[k]));
		close(o->p[k].mfd);
	}
	free(o);
	return err;
}
