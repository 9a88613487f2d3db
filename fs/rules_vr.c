/*
 * rules_vr.c - value representations as the rules see them (see
 * rules_vr.h): VR classes, value padding, and valid values (PS3.5 6.2).
 */
#include "rules_vr.h"
#include "dicom.h"

#include <string.h>

int rules_vr_is(const struct dcm_elem *e, const char *vr)
{
	return e->vr[0] == vr[0] && e->vr[1] == vr[1];
}

enum rules_vk rules_vr_kind(const struct dcm_elem *e)
{
	static const struct {
		char vr[3];
		uint8_t kind;
	} map[] = {
		{ "PN", VK_TEXT }, { "LO", VK_TEXT }, { "SH", VK_TEXT },
		{ "ST", VK_TEXT }, { "LT", VK_TEXT }, { "UT", VK_TEXT },
		{ "UC", VK_TEXT }, { "DA", VK_DA }, { "DT", VK_DT },
		{ "TM", VK_TM }, { "AS", VK_AS }, { "UI", VK_UI },
		{ "AE", VK_AE }, { "UR", VK_UR }, { "CS", VK_CS },
		{ "IS", VK_NUMSTR }, { "DS", VK_NUMSTR },
		{ "US", VK_BIN2 }, { "SS", VK_BIN2 }, { "OB", VK_BIN2 },
		{ "OW", VK_BIN2 }, { "UL", VK_BIN4 }, { "SL", VK_BIN4 },
		{ "FL", VK_BIN4 }, { "AT", VK_BIN4 }, { "OL", VK_BIN4 },
		{ "OF", VK_BIN4 }, { "FD", VK_BIN8 }, { "SV", VK_BIN8 },
		{ "UV", VK_BIN8 }, { "OD", VK_BIN8 }, { "OV", VK_BIN8 },
		{ "SQ", VK_SQ },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (rules_vr_is(e, map[i].vr))
			return (enum rules_vk)map[i].kind;
	return VK_UN;
}

void rules_vr_trim(const char **p, size_t *n)
{
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\0'))
		(*n)--;
	while (*n > 0 && **p == ' ') {
		(*p)++;
		(*n)--;
	}
}

void rules_vr_value(const struct dcm_elem *e, const char **p, size_t *n)
{
	const char *s = (const char *)e->val;
	size_t a = 0, b = e->val ? e->len : 0;

	while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\0'))
		b--;
	while (a < b && s[a] == ' ')
		a++;
	*p = s ? s + a : "";
	*n = b - a;
}

void rules_vr_split_init(struct rules_vr_split *s, const void *v, size_t len)
{
	s->v = v;
	s->len = len;
	s->at = 0;
	s->done = 0;
}

int rules_vr_split_next(struct rules_vr_split *s, const char **p, size_t *n)
{
	const char *bs = NULL;
	size_t end;

	if (s->done)
		return 0;
	if (s->at < s->len)
		bs = memchr(s->v + s->at, '\\', s->len - s->at);
	end = bs ? (size_t)(bs - s->v) : s->len;
	*p = s->v + s->at;
	*n = end - s->at;
	if (bs)
		s->at = end + 1;
	else
		s->done = 1;
	rules_vr_trim(p, n);
	return 1;
}

int rules_vr_charset_term(const char *p, size_t n)
{
	static const char *const terms[] = {
		"ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109",
		"ISO_IR 110", "ISO_IR 144", "ISO_IR 127", "ISO_IR 126",
		"ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 13",
		"ISO_IR 166", "ISO 2022 IR 6", "ISO 2022 IR 100",
		"ISO 2022 IR 101", "ISO 2022 IR 109", "ISO 2022 IR 110",
		"ISO 2022 IR 144", "ISO 2022 IR 127", "ISO 2022 IR 126",
		"ISO 2022 IR 138", "ISO 2022 IR 148", "ISO 2022 IR 203",
		"ISO 2022 IR 13", "ISO 2022 IR 166", "ISO 2022 IR 87",
		"ISO 2022 IR 159", "ISO 2022 IR 149", "ISO 2022 IR 58",
		"ISO_IR 192", "GB18030", "GBK",
	};
	size_t i;

	rules_vr_trim(&p, &n);
	if (!n)
		return 1;	/* the default repertoire */
	for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
		if (n == strlen(terms[i]) && !memcmp(p, terms[i], n))
			return 1;
	return 0;
}

static int cs_ok(const char *p, size_t n)
{
	size_t i;

	if (n > 16)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == ' ' ||
		      p[i] == '_'))
			return 0;
	return 1;
}

static int is_ok(const char *p, size_t n)
{
	long long v = 0;
	size_t i = 0, digits = 0;
	int neg = 0;

	if (n > 12)
		return 0;
	rules_vr_trim(&p, &n);
	if (!n)
		return 1;
	if (p[0] == '+' || p[0] == '-')
		neg = p[i++] == '-';
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
		digits++;
	}
	if (!digits)
		return 0;
	return neg ? v <= 2147483648LL : v <= 2147483647LL;
}

/* DS: the characters of a decimal.  Not its length: writers often exceed
 * 16 characters, and digits carry no text; a dummy "0" would then spoil a
 * Type 1 geometry value for nothing. */
static int ds_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '+' ||
		      p[i] == '-' || p[i] == '.' || p[i] == 'e' ||
		      p[i] == 'E' || p[i] == ' '))
			return 0;
	return 1;
}

static int as_ok(const char *p, size_t n)
{
	rules_vr_trim(&p, &n);
	return !n || (n == 4 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' &&
		      p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
		      strchr("DWMY", p[3]) && p[3]);
}

/* Longest value of a text VR in bytes (PS3.5 Table 6.2-1, characters
 * taken as bytes; UT and UC are unbounded), and whether it is one line. */
static size_t text_max(const struct dcm_elem *e, int *one_line)
{
	*one_line = 1;
	if (rules_vr_is(e, "SH") || rules_vr_is(e, "AE"))
		return 16;
	if (rules_vr_is(e, "LO"))
		return 64;
	if (rules_vr_is(e, "PN"))
		return 64 * 5;
	*one_line = 0;
	if (rules_vr_is(e, "ST"))
		return 1024;
	if (rules_vr_is(e, "LT"))
		return 10240;
	return DCM_MAX_VALUE;
}

static int digits(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* DA: YYYYMMDD with a month and a day that can be (the ACR-NEMA
 * "YYYY.MM.DD" too). */
static int da_ok(const char *p, size_t n)
{
	char d[8];

	rules_vr_trim(&p, &n);
	if (!n)
		return 1;
	if (n == 10 && p[4] == '.' && p[7] == '.') {
		memcpy(d, p, 4);
		memcpy(d + 4, p + 5, 2);
		memcpy(d + 6, p + 8, 2);
	} else if (n == 8) {
		memcpy(d, p, 8);
	} else {
		return 0;
	}
	return digits(d, 8) && (d[4] - '0') * 10 + (d[5] - '0') >= 1 &&
	       (d[4] - '0') * 10 + (d[5] - '0') <= 12 &&
	       (d[6] - '0') * 10 + (d[7] - '0') >= 1 &&
	       (d[6] - '0') * 10 + (d[7] - '0') <= 31;
}

/* TM: HH[MM[SS[.F{1,6}]]] (and the ACR-NEMA colons). */
static int tm_ok(const char *p, size_t n)
{
	size_t i;

	rules_vr_trim(&p, &n);
	if (n > 16)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
		      p[i] == ':'))
			return 0;
	return !n || (n >= 2 && digits(p, 2));
}

/* DT: YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]. */
static int dt_ok(const char *p, size_t n)
{
	size_t i;

	rules_vr_trim(&p, &n);
	if (n > 26)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
		      p[i] == '+' || p[i] == '-'))
			return 0;
	return !n || (n >= 4 && digits(p, 4));
}

/* UI: digits and dots, at most 64, no empty component. */
static int ui_ok(const char *p, size_t n)
{
	size_t i;

	while (n && (p[n - 1] == 0 || p[n - 1] == ' '))
		n--;
	if (!n)
		return 1;
	if (n > RULES_UID_MAX || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] == '.' && p[i + 1] != '.')))
			return 0;
	return 1;
}

/* Text: within the VR's length, no control characters but ESC (and in
 * multi-line text CR, LF, TAB and FF). */
static int text_ok(const char *p, size_t n, size_t max, int one_line)
{
	if (n > max)
		return 0;
	for (; n; p++, n--)
		if (((unsigned char)*p < 0x20 && *p != 0x1b &&
		     (one_line || !*p || !strchr("\r\n\t\f", *p))) ||
		    *p == 0x7f)
			return 0;
	return 1;
}

/* One value (p, n) of e, its padding gone, is a valid value of its VR. */
static int one_value_ok(const struct dcm_elem *e, enum rules_vk vk,
			const char *p, size_t n, size_t max, int one_line)
{
	switch (vk) {
	case VK_CS:
		if (e->tag == DCM_TAG(0x0008, 0x0005))
			return rules_vr_charset_term(p, n);
		return cs_ok(p, n);
	case VK_NUMSTR:
		return rules_vr_is(e, "IS") ? is_ok(p, n) : ds_ok(p, n);
	case VK_AS:
		return as_ok(p, n);
	case VK_DA:
		return da_ok(p, n);
	case VK_TM:
		return tm_ok(p, n);
	case VK_DT:
		return dt_ok(p, n);
	case VK_UI:
		return ui_ok(p, n);
	case VK_TEXT:
		return text_ok(p, n, max, one_line);
	default:
		return 1;
	}
}

/* The size of one value of a binary VR with a fixed size (US 2, UL 4, FD
 * 8...), 0 for the VRs of one value of bytes (OB, OW, OF...). */
static unsigned binary_unit(const struct dcm_elem *e, enum rules_vk vk)
{
	switch (vk) {
	case VK_BIN2:
		return rules_vr_is(e, "US") || rules_vr_is(e, "SS") ? 2 : 0;
	case VK_BIN4:
		return rules_vr_is(e, "OL") || rules_vr_is(e, "OF") ? 0 : 4;
	case VK_BIN8:
		return rules_vr_is(e, "OD") || rules_vr_is(e, "OV") ? 0 : 8;
	default:
		return 0;
	}
}

int rules_vr_valid(const struct dcm_elem *e, enum rules_vk vk)
{
	const char *v = (const char *)e->val;
	size_t len = e->len, start = 0, i, max = 0;
	unsigned count = 1, unit = binary_unit(e, vk);
	int one_line = 0;

	if (!dicom_dict_vr_ok(e->tag, e->vr))
		return 0;
	if (vk == VK_SQ || vk == VK_UN)
		return 1;	/* cleaned item by item / removed elsewhere */
	if (unit)
		return len % unit == 0 &&
		       dicom_dict_vm_ok(e->tag, (unsigned)(len / unit));
	if (vk == VK_BIN2 || vk == VK_BIN4 || vk == VK_BIN8)
		return 1;	/* OB, OW, OF...: one value of bytes */
	if (vk == VK_TEXT)
		max = text_max(e, &one_line);
	if (!len || !v)
		return 1;
	if (vk == VK_TEXT && !one_line)
		count = 1;	/* ST, LT, UT: '\\' is text, one value */
	else
		for (i = 0; i < len; i++)
			count += v[i] == '\\';
	if (!dicom_dict_vm_ok(e->tag, count))
		return 0;
	for (i = 0; i <= len; i++) {
		const char *p;
		size_t n;

		if (i < len && !(v[i] == '\\' && (vk != VK_TEXT || one_line)))
			continue;
		p = v + start;
		n = i - start;
		start = i + 1;
		/* trailing padding: a space, or a NUL after a UI-like pad */
		if (i == len && n && (p[n - 1] == ' ' || p[n - 1] == 0))
			n--;
		if (!one_value_ok(e, vk, p, n, max, one_line))
			return 0;
	}
	return 1;
}
