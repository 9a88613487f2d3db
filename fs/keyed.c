/*
 * keyed.c - SHA-256 (FIPS 180-4) on the compression function of sha256.c,
 * HMAC-SHA256 (RFC 2104) and the keyed derivations of deidfs.  Written
 * here rather than taken from a crypto library; the algorithms are small
 * and checked against the NIST and RFC 4231 vectors in test_keyed.c.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "keyed.h"
#include "base.h"
#include "sha256.h"

#define BLOCK 64

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void compress(uint32_t h[8], const uint8_t *blk)
{
	sha256_blocks(h, blk, 1);
}

void keyed_sha256_init(struct keyed_sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->fill = 0;
	memset(c->buf, 0, sizeof(c->buf));
}

void keyed_sha256_update(struct keyed_sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (!n)
		return;		/* data may be NULL then */
	/* The length field counts bits modulo 2^64 (FIPS 180-4 5.1.1). */
	c->len += (uint64_t)n;
	if (c->fill) {
		size_t take = BLOCK - c->fill;

		if (take > n)
			take = n;
		memcpy(c->buf + c->fill, p, take);
		c->fill += take;
		p += take;
		n -= take;
		if (c->fill < BLOCK)
			return;
		compress(c->h, c->buf);
		c->fill = 0;
	}
	if (n >= BLOCK) {
		sha256_blocks(c->h, p, n / BLOCK);
		p += n / BLOCK * BLOCK;
		n %= BLOCK;
	}
	if (n) {
		memcpy(c->buf, p, n);
		c->fill = n;
	}
}

/* Below this many streams with whole blocks, the sixteen lanes (which
 * cost the same however many are busy) lose to one stream at a time with
 * the SHA extensions, which run at a little over half the lanes' rate. */
static size_t lanes_worth(unsigned forms)
{
	return forms & SHA256_USE_NI ? 9 : 2;
}

void keyed_sha256_update_many(struct keyed_sha256 *const c[],
			      const void *const data[], const size_t n[],
			      size_t count)
{
	const uint8_t *p[SHA256_LANES];
	size_t blk[SHA256_LANES], i;
	unsigned forms = sha256_forms();

	if (count > SHA256_LANES) {
		keyed_sha256_update_many(c + SHA256_LANES,
					 data + SHA256_LANES,
					 n + SHA256_LANES,
					 count - SHA256_LANES);
		count = SHA256_LANES;
	}
	/* each stream's partial block first: then whole blocks */
	for (i = 0; i < count; i++) {
		size_t lead = 0;

		p[i] = data[i];
		blk[i] = 0;
		if (!n[i])
			continue;	/* data[i] may be NULL then */
		if (c[i]->fill) {
			lead = BLOCK - c[i]->fill < n[i] ? BLOCK - c[i]->fill
							  : n[i];
			keyed_sha256_update(c[i], p[i], lead);
		}
		p[i] += lead;
		blk[i] = (n[i] - lead) / BLOCK;
	}
	while (forms & SHA256_USE_X16) {
		uint32_t st[8][SHA256_LANES];
		const uint8_t *lp[SHA256_LANES];
		size_t lane[SHA256_LANES], k = 0, m = SIZE_MAX, j, s;
		int x;

		for (i = 0; i < count; i++)
			if (blk[i]) {
				lane[k++] = i;
				m = blk[i] < m ? blk[i] : m;
			}
		if (k < lanes_worth(forms))
			break;
		/* an idle lane hashes the first stream's bytes again */
		for (j = 0; j < SHA256_LANES; j++) {
			s = lane[j < k ? j : 0];
			lp[j] = p[s];
			for (x = 0; x < 8; x++)
				st[x][j] = c[s]->h[x];
		}
		sha256_blocks_x16(st, lp, m);
		for (j = 0; j < k; j++) {
			s = lane[j];
			for (x = 0; x < 8; x++)
				c[s]->h[x] = st[x][j];
			c[s]->len += (uint64_t)m * BLOCK;
			p[s] += m * BLOCK;
			blk[s] -= m;
		}
	}
	for (i = 0; i < count; i++) {
		const uint8_t *end;

		if (!n[i])
			continue;
		end = (const uint8_t *)data[i] + n[i];
		if (blk[i]) {
			sha256_blocks(c[i]->h, p[i], blk[i]);
			c[i]->len += (uint64_t)blk[i] * BLOCK;
			p[i] += blk[i] * BLOCK;
		}
		keyed_sha256_update(c[i], p[i], (size_t)(end - p[i]));
	}
}

void keyed_sha256_final(struct keyed_sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->len << 3;
	int i;

	c->buf[c->fill++] = 0x80;
	if (c->fill > BLOCK - 8) {
		memset(c->buf + c->fill, 0, BLOCK - c->fill);
		compress(c->h, c->buf);
		c->fill = 0;
	}
	memset(c->buf + c->fill, 0, BLOCK - 8 - c->fill);
	for (i = 0; i < 8; i++)
		c->buf[BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
	compress(c->h, c->buf);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	explicit_bzero(c, sizeof(*c));
}

void keyed_sha256(const void *data, size_t n, uint8_t out[32])
{
	struct keyed_sha256 c;

	keyed_sha256_init(&c);
	keyed_sha256_update(&c, data, n);
	keyed_sha256_final(&c, out);
}

/*
 * HMAC over the concatenation of up to three parts, so the labelled form
 * needs no buffer for label || 0x00 || msg.
 */
static void hmac_parts(const uint8_t *key, size_t keylen,
		       const void *p1, size_t n1, const void *p2, size_t n2,
		       const void *p3, size_t n3, uint8_t out[32])
{
	struct keyed_sha256 c;
	uint8_t k[BLOCK], pad[BLOCK], inner[32];
	size_t i;

	memset(k, 0, sizeof(k));
	if (keylen > BLOCK)
		keyed_sha256(key, keylen, k);	/* RFC 2104: hash long keys */
	else if (keylen)
		memcpy(k, key, keylen);

	for (i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	keyed_sha256_init(&c);
	keyed_sha256_update(&c, pad, BLOCK);
	keyed_sha256_update(&c, p1, n1);
	keyed_sha256_update(&c, p2, n2);
	keyed_sha256_update(&c, p3, n3);
	keyed_sha256_final(&c, inner);

	for (i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	keyed_sha256_init(&c);
	keyed_sha256_update(&c, pad, BLOCK);
	keyed_sha256_update(&c, inner, sizeof(inner));
	keyed_sha256_final(&c, out);

	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(inner, sizeof(inner));
}

void keyed_hmac_raw(const uint8_t *key, size_t keylen, const void *msg,
		    size_t n, uint8_t out[32])
{
	hmac_parts(key, keylen, msg, n, NULL, 0, NULL, 0, out);
}

void keyed_hmac(const uint8_t *key, size_t keylen, const char *label,
		const void *msg, size_t n, uint8_t out[32])
{
	static const uint8_t sep;	/* the 0x00 between label and msg */

	if (!label)
		label = "";
	hmac_parts(key, keylen, label, strlen(label), &sep, 1, msg, n, out);
}

size_t keyed_normalise(const char *s, size_t n, const char **start)
{
	return base_trim_spaces(s, n, start);
}

/* len characters of base32 (alphabet b32) of HMAC(key, label, the
 * normalised s) into out; -EINVAL when s is empty. */
static int keyed_b32(const uint8_t key[KEYED_KEY_LEN], const char *label,
		     const char *b32, const char *id, size_t idlen, char *out,
		     int len)
{
	uint8_t mac[32];
	const char *s;
	size_t n;
	int i;

	n = keyed_normalise(id, idlen, &s);
	if (!n)
		return -EINVAL;
	keyed_hmac(key, KEYED_KEY_LEN, label, s, n, mac);
	/* characters of 5 bits, from the first bytes (len <= 50) */
	for (i = 0; i < len; i++) {
		unsigned bit = (unsigned)i * 5, v;

		v = (unsigned)mac[bit / 8] << 8 | mac[bit / 8 + 1];
		out[i] = b32[(v >> (11 - bit % 8)) & 31];
	}
	out[len] = '\0';
	explicit_bzero(mac, sizeof(mac));
	return 0;
}

int keyed_pseudonym(const uint8_t key[KEYED_KEY_LEN], const char *id,
		    size_t idlen, char *out, size_t outsz)
{
	if (!id || !out || outsz < KEYED_PSEUDONYM_LEN + 1)
		return -EINVAL;
	/* 16 characters of 5 bits: exactly the first 10 bytes (80 bits) */
	return keyed_b32(key, "pseudonym", "abcdefghijklmnopqrstuvwxyz234567",
			 id, idlen, out, KEYED_PSEUDONYM_LEN);
}

int keyed_study_id(const uint8_t key[KEYED_KEY_LEN], const char *uid,
		   size_t uidlen, char *out, size_t outsz)
{
	if (!uid || !out || outsz < KEYED_STUDY_ID_LEN + 1)
		return -EINVAL;
	/* trailing NULs: a UID's padding */
	while (uidlen && !uid[uidlen - 1])
		uidlen--;
	return keyed_b32(key, "study id", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
			 uid, uidlen, out, KEYED_STUDY_ID_LEN);
}

/*
 * Write the decimal form of the 128-bit big-endian number in num (which is
 * destroyed) to out, without leading zeros.  Returns the digit count (at
 * most 39); out needs 40 bytes.
 */
static size_t u128_decimal(uint8_t num[16], char out[40])
{
	char rev[40];
	size_t nd = 0, i;
	int nonzero;

	do {
		unsigned rem = 0;

		nonzero = 0;
		for (i = 0; i < 16; i++) {	/* long division by 10 */
			unsigned cur = rem << 8 | num[i];

			num[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
			nonzero |= num[i];
		}
		rev[nd++] = (char)('0' + rem);
	} while (nonzero && nd < sizeof(rev));
	for (i = 0; i < nd; i++)
		out[i] = rev[nd - 1 - i];
	out[nd] = '\0';
	return nd;
}

/*
 * The source UID is normalised like an ID and also loses DICOM's trailing
 * NUL padding, so "1.2.3\0" and "1.2.3" map to the same replacement.
 */
int keyed_uid(const uint8_t key[KEYED_KEY_LEN], const char *uid,
	      size_t uidlen, char *out, size_t outsz)
{
	static const char prefix[] = "2.25.";
	uint8_t mac[32];
	char digits[40];
	const char *s;
	size_t n, nd;

	if (!uid || !out)
		return -EINVAL;
	while (uidlen && uid[uidlen - 1] == '\0')
		uidlen--;
	n = keyed_normalise(uid, uidlen, &s);
	if (!n)
		return -EINVAL;
	keyed_hmac(key, KEYED_KEY_LEN, "uid", s, n, mac);
	nd = u128_decimal(mac, digits);
	explicit_bzero(mac, sizeof(mac));
	if (sizeof(prefix) - 1 + nd + 1 > outsz)
		return -EINVAL;
	memcpy(out, prefix, sizeof(prefix) - 1);
	memcpy(out + sizeof(prefix) - 1, digits, nd + 1);
	return 0;
}

/*
 * An empty id still gets a (deterministic) shift: returning 0 would leave
 * the dates unshifted, which must never happen by accident.
 */
int keyed_date_shift(const uint8_t key[KEYED_KEY_LEN], const char *id,
		     size_t idlen)
{
	uint8_t mac[32];
	uint64_t v = 0;
	const char *s = "";
	size_t n = 0;
	int i;

	if (id)
		n = keyed_normalise(id, idlen, &s);
	keyed_hmac(key, KEYED_KEY_LEN, "shift", s, n, mac);
	for (i = 0; i < 8; i++)
		v = v << 8 | mac[i];
	explicit_bzero(mac, sizeof(mac));
	/* The modulo bias is below 2^-50: uniform for every practical use. */
	return -(int)(v % KEYED_SHIFT_MAX_DAYS) - 1;
}
