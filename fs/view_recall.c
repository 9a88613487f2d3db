/*
 * view_recall.c - the configuration of the last view built with a db,
 * recorded in the db (view.h: view_config_record(), view_config_recall()),
 * so that `deidfs verify` builds the very view an export wrote or a mount
 * serves, given only the db.
 *
 * One setting, "view.config": lines "name=value", values with '%' and
 * line breaks written as %XX.  The source and CSV paths are absolute (and
 * may hold names: the db is where such things are kept, never a log).
 */
#include "view_impl.h"
#include "shard.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECALL_KEY "view.config"
#define RECALL_MAX (8 * PATH_MAX)

struct out {
	char *buf;
	size_t len, cap;
	int err;
};

static void put_raw(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->len + n + 1 > o->cap) {
		o->err = -E2BIG;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put(struct out *o, const char *name, const char *v)
{
	char esc[4];

	if (!v)
		return;
	put_raw(o, name, strlen(name));
	put_raw(o, "=", 1);
	for (; *v; v++) {
		if (*v == '%' || *v == '\n' || *v == '\r') {
			snprintf(esc, sizeof(esc), "%%%02X", (unsigned char)*v);
			put_raw(o, esc, 3);
		} else {
			put_raw(o, v, 1);
		}
	}
	put_raw(o, "\n", 1);
}

static void put_int(struct out *o, const char *name, long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%ld", v);
	put(o, name, num);
}

/* An absolute spelling of path (it must exist), malloc'd; NULL on error. */
static char *absolute(const char *path)
{
	return path ? realpath(path, NULL) : NULL;
}

/* The text recorded for cfg, into o. */
static void render(const struct view_config *cfg, struct out *o)
{
	char *src = absolute(cfg->source), *csv = absolute(cfg->csv_path);
	char *wl = absolute(cfg->whitelist_path);

	if (!src || (cfg->csv_path && !csv) || (cfg->whitelist_path && !wl))
		o->err = -ENOENT;
	put(o, "source", src);
	put(o, "csv", csv);
	put(o, "csv_spec", cfg->csv_spec);
	put_int(o, "delimiter", (unsigned char)cfg->csv_delimiter);
	put_int(o, "header", cfg->csv_header);
	put_int(o, "include_unlinked", cfg->include_unlinked);
	put_int(o, "date_column", cfg->csv_date_column);
	put(o, "csv_name", cfg->csv_name);
	put(o, "modalities", cfg->modalities);
	put(o, "layout", cfg->layout);
	put_int(o, "rules_options", (long)cfg->rules_options);
	put(o, "whitelist", wl);
	free(src);
	free(csv);
	free(wl);
}

int view_config_text(const struct view_config *cfg, char **out)
{
	struct out o = { 0 };

	*out = NULL;
	o.cap = RECALL_MAX;
	o.buf = calloc(1, o.cap);
	if (!o.buf)
		return -ENOMEM;
	render(cfg, &o);
	if (o.err) {
		free(o.buf);
		return o.err;
	}
	*out = o.buf;
	return 0;
}

/* Whether the db's record is cfg's text: 1, 0, or -errno; *text the text
 * (caller frees) when asked. */
static int recorded(struct view_engine *e, char **text)
{
	char *now = NULL, *old = NULL;
	int err;

	err = view_config_text(&e->cfg, &now);
	old = malloc(RECALL_MAX);
	if (!err && !old)
		err = -ENOMEM;
	if (!err)
		err = !store_setting_get(e->cfg.store, RECALL_KEY, old,
					 RECALL_MAX) &&
		      !strcmp(old, now);
	free(old);
	if (err >= 0 && text)
		*text = now;
	else
		free(now);
	return err;
}

int view_config_record(struct view_engine *e)
{
	char *text = NULL;
	int err = recorded(e, &text);

	if (err == 0)
		err = store_setting_set(e->cfg.store, RECALL_KEY, text);
	free(text);
	return err < 0 ? err : 0;
}

/* See shard.h: whether the recorded view is the one cfg would record. */
int view_config_same(struct view_engine *e)
{
	int err = recorded(e, NULL);

	return err < 0 ? err : err ? 0 : -ESTALE;
}

/* ------------------------------------------------------------- reading */

void view_recall_free(struct view_recall *r)
{
	if (!r)
		return;
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* Undo put()'s escapes in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%' && base_hex_digit(s[1]) >= 0 &&
		    base_hex_digit(s[2]) >= 0) {
			*w++ = (char)(base_hex_digit(s[1]) << 4 |
				      base_hex_digit(s[2]));
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int to_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -EBADMSG;
	*out = n;
	return 0;
}

/* One line "name=value" into cfg (values point into the line). */
static int take(struct view_recall *r, char *line, struct view_config *cfg)
{
	char *v = strchr(line, '=');
	long n = 0;
	int err = 0;

	if (!v)
		return -EBADMSG;
	*v++ = '\0';
	unescape(v);
	if (!strcmp(line, "source"))
		cfg->source = v;
	else if (!strcmp(line, "csv"))
		cfg->csv_path = v;
	else if (!strcmp(line, "csv_spec"))
		cfg->csv_spec = v;
	else if (!strcmp(line, "csv_name"))
		cfg->csv_name = v;
	else if (!strcmp(line, "modalities"))
		cfg->modalities = v;
	else if (!strcmp(line, "layout"))
		cfg->layout = v;
	else if (!strcmp(line, "whitelist"))
		r->whitelist = v;
	else if (!strcmp(line, "delimiter") &&
		 !(err = to_int(v, 1, 255, &n)))
		cfg->csv_delimiter = (char)n;
	else if (!strcmp(line, "header") && !(err = to_int(v, 0, 1, &n)))
		cfg->csv_header = (int)n;
	else if (!strcmp(line, "include_unlinked") &&
		 !(err = to_int(v, 0, 1, &n)))
		cfg->include_unlinked = (int)n;
	else if (!strcmp(line, "date_column") &&
		 !(err = to_int(v, -1, 1024, &n)))
		cfg->csv_date_column = (int)n;
	else if (!strcmp(line, "rules_options") &&
		 !(err = to_int(v, 0, 0xffff, &n)))
		cfg->rules_options = (unsigned)n;
	return err;
}

int view_config_recall(struct store *st, struct view_recall *r,
		       struct view_config *cfg)
{
	char *line, *next;
	int err;

	memset(r, 0, sizeof(*r));
	r->text = malloc(RECALL_MAX);
	if (!r->text)
		return -ENOMEM;
	err = store_setting_get(st, RECALL_KEY, r->text, RECALL_MAX);
	if (err)
		goto out;
	for (line = r->text; *line && !err; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		err = take(r, line, cfg);
	}
	if (!err && !cfg->source)
		err = -EBADMSG;
out:
	if (err)
		view_recall_free(r);
	return err;
}
