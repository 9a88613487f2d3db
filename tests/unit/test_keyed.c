/*
 * test_keyed.c - SHA-256 against the FIPS 180-2 example vectors, HMAC-SHA256
 * against RFC 4231, and the properties of the keyed derivations.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyed.h"
#include "sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_sha(const void *msg, size_t n, const char *want)
{
	uint8_t d[32];
	char h[65];

	keyed_sha256(msg, n, d);
	hex(d, 32, h);
	assert_string_equal(h, want);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	check_sha("abc", 3,
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_sha("", 0,
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_sha(NULL, 0,
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112,
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256_million(void **state)
{
	struct keyed_sha256 c;
	uint8_t d[32];
	char h[65], *buf;
	size_t i;

	(void)state;
	/* In one call ... */
	buf = malloc(1000000);
	assert_non_null(buf);
	memset(buf, 'a', 1000000);
	check_sha(buf, 1000000,
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(buf);

	/* ... and in odd-sized pieces, which exercises the partial block. */
	keyed_sha256_init(&c);
	for (i = 0; i < 1000000;) {
		size_t n = (i % 7) * 13 + 1;

		if (n > 1000000 - i)
			n = 1000000 - i;
		keyed_sha256_update(&c, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", n);
		i += n;
	}
	keyed_sha256_final(&c, d);
	hex(d, 32, h);
	assert_string_equal(h,
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes): one-shot
 * and byte-at-a-time must agree. */
static void test_sha256_boundaries(void **state)
{
	uint8_t msg[130], a[32], b[32];
	struct keyed_sha256 c;
	size_t n, i;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (n = 0; n <= sizeof(msg); n++) {
		keyed_sha256(msg, n, a);
		keyed_sha256_init(&c);
		for (i = 0; i < n; i++)
			keyed_sha256_update(&c, msg + i, 1);
		keyed_sha256_final(&c, b);
		assert_memory_equal(a, b, 32);
	}
	/* 55 and 56 'a's: the last single-block and first two-block padding. */
	memset(msg, 'a', 64);
	check_sha(msg, 55,
		  "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	check_sha(msg, 56,
		  "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	check_sha(msg, 64,
		  "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Rounds of updates of up to 20 streams at once, of every kind of length
 * (none, under a block, whole blocks, many blocks, from any partial block),
 * against the same updates one stream at a time. */
static void many_against_one(uint32_t seed)
{
	enum { STREAMS = 20, DATA = 140000 };
	struct keyed_sha256 a[STREAMS], b[STREAMS], *pa[STREAMS];
	const void *d[STREAMS];
	size_t n[STREAMS], i;
	uint8_t *data = malloc(DATA), da[32], db[32];
	int round;

	assert_non_null(data);
	for (i = 0; i < DATA; i++)
		data[i] = (uint8_t)rnd(&seed);
	for (i = 0; i < STREAMS; i++) {
		keyed_sha256_init(&a[i]);
		keyed_sha256_init(&b[i]);
		pa[i] = &a[i];
	}
	for (round = 0; round < 40; round++) {
		size_t count = 1 + rnd(&seed) % STREAMS;

		for (i = 0; i < count; i++) {
			switch (rnd(&seed) % 5) {
			case 0:
				n[i] = 0;
				break;
			case 1:
				n[i] = rnd(&seed) % 64;
				break;
			case 2:
				n[i] = 64 * (1 + rnd(&seed) % 8);
				break;
			default:
				n[i] = 60000 + rnd(&seed) % 70000;
			}
			d[i] = n[i] ? data + rnd(&seed) % (DATA - n[i] + 1)
				    : NULL;
			keyed_sha256_update(&b[i], d[i], n[i]);
		}
		keyed_sha256_update_many(pa, d, n, count);
		for (i = 0; i < count; i++) {
			assert_memory_equal(a[i].h, b[i].h, sizeof(a[i].h));
			assert_true(a[i].len == b[i].len);
			assert_true(a[i].fill == b[i].fill);
			assert_memory_equal(a[i].buf, b[i].buf, a[i].fill);
		}
	}
	for (i = 0; i < STREAMS; i++) {
		keyed_sha256_final(&a[i], da);
		keyed_sha256_final(&b[i], db);
		assert_memory_equal(da, db, 32);
	}
	free(data);
}

/* Each form of the compression function this CPU has (sha256.h) alone:
 * the vectors, and many streams against one at a time. */
static void test_sha256_forms(void **state)
{
	static const unsigned sets[] = {
		SHA256_USE_C, SHA256_USE_NI, SHA256_USE_X16,
		SHA256_USE_NI | SHA256_USE_X16,
	};
	unsigned have = sha256_use(~0u), i;

	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if ((sets[i] & have) != sets[i]) {
			print_message("sha256: this CPU lacks form set %u: "
				      "not checked here\n", sets[i]);
			continue;
		}
		assert_int_equal(sha256_use(sets[i]), sets[i]);
		test_sha256_vectors(state);
		test_sha256_million(state);
		test_sha256_boundaries(state);
		many_against_one(0x9e3779b9u + i);
	}
	assert_int_equal(sha256_use(~0u), have);
}

/* sha256_blocks_x16() is sixteen sha256_blocks(), lane by lane, with
 * lanes that share a message. */
static void test_sha256_x16_lanes(void **state)
{
	uint32_t st[8][SHA256_LANES], one[SHA256_LANES][8], seed = 7;
	const uint8_t *p[SHA256_LANES];
	uint8_t *data = malloc(64 * 40 * 9);
	unsigned j, x;

	(void)state;
	assert_non_null(data);
	for (j = 0; j < 64 * 40 * 9; j++)
		data[j] = (uint8_t)rnd(&seed);
	for (j = 0; j < SHA256_LANES; j++) {
		p[j] = data + 64 * 40 * (j % 9) + j;	/* unaligned */
		for (x = 0; x < 8; x++)
			one[j][x] = st[x][j] = rnd(&seed);
	}
	sha256_blocks_x16(st, p, 39);
	for (j = 0; j < SHA256_LANES; j++) {
		sha256_blocks(one[j], p[j], 39);
		for (x = 0; x < 8; x++)
			assert_true(st[x][j] == one[j][x]);
	}
	free(data);
}

static void check_hmac(const void *key, size_t klen, const void *msg,
		       size_t n, const char *want)
{
	uint8_t d[32];
	char h[65];

	keyed_hmac_raw(key, klen, msg, n, d);
	hex(d, 32, h);
	assert_string_equal(h, want);
}

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[131], data[50];
	size_t i;

	(void)state;
	/* Test case 1 */
	memset(key, 0x0b, 20);
	check_hmac(key, 20, "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* Test case 2 */
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* Test case 3 */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	check_hmac(key, 20, data, 50,
		   "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	/* Test case 4 */
	for (i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	check_hmac(key, 25, data, 50,
		   "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	/* Test case 6: key longer than a block */
	memset(key, 0xaa, 131);
	check_hmac(key, 131,
		   "Test Using Larger Than Block-Size Key - Hash Key First", 54,
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* Test case 7 */
	check_hmac(key, 131,
		   "This is a test using a larger than block-size key and a "
		   "larger than block-size data. The key needs to be hashed "
		   "before being used by the HMAC algorithm.", 152,
		   "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* keyed_hmac is exactly HMAC(label || 0x00 || msg). */
static void test_hmac_labelled(void **state)
{
	uint8_t key[32], a[32], b[32];

	(void)state;
	memset(key, 0x42, sizeof(key));
	keyed_hmac(key, sizeof(key), "pseudonym", "123", 3, a);
	keyed_hmac_raw(key, sizeof(key), "pseudonym\0" "123", 13, b);
	assert_memory_equal(a, b, 32);
	/* The separator keeps ("ab", "c") and ("a", "bc") apart. */
	keyed_hmac(key, sizeof(key), "ab", "c", 1, a);
	keyed_hmac(key, sizeof(key), "a", "bc", 2, b);
	assert_memory_not_equal(a, b, 32);
}

static const uint8_t key0[32] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

/* Reference values computed independently with Python's hmac/base64. */
static void test_reference_values(void **state)
{
	char out[KEYED_UID_MAX + 1];

	(void)state;
	assert_int_equal(keyed_pseudonym(key0, "123", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "xpejyx4a3fq4fwdn");
	assert_int_equal(keyed_uid(key0, "1.2.840.10008.1.2", 17, out,
				   sizeof(out)), 0);
	assert_string_equal(out, "2.25.27400307012347981738320298069433329236");
	assert_int_equal(keyed_date_shift(key0, "123", 3), -242);
}

static void test_normalise(void **state)
{
	const char *s;
	size_t n;

	(void)state;
	n = keyed_normalise(" 123 ", 5, &s);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "123", 3);
	n = keyed_normalise("   ", 3, &s);
	assert_int_equal(n, 0);
	n = keyed_normalise("", 0, &s);
	assert_int_equal(n, 0);
	n = keyed_normalise("a b", 3, &s);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "a b", 3);
}

static int is_b32(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '2' && *s <= '7')))
			return 0;
	return 1;
}

static void test_pseudonym(void **state)
{
	uint8_t key1[32];
	char a[KEYED_PSEUDONYM_LEN + 1], b[KEYED_PSEUDONYM_LEN + 1];
	char id[32];
	int i;

	(void)state;
	memcpy(key1, key0, 32);
	key1[31] ^= 1;

	assert_int_equal(keyed_pseudonym(key0, "12345678901", 11, a,
					 sizeof(a)), 0);
	assert_int_equal(strlen(a), KEYED_PSEUDONYM_LEN);
	assert_true(is_b32(a));
	assert_int_equal(keyed_pseudonym(key0, "12345678901", 11, b,
					 sizeof(b)), 0);
	assert_string_equal(a, b);	/* deterministic */
	assert_int_equal(keyed_pseudonym(key1, "12345678901", 11, b,
					 sizeof(b)), 0);
	assert_string_not_equal(a, b);	/* per key */
	assert_int_equal(keyed_pseudonym(key0, "12345678902", 11, b,
					 sizeof(b)), 0);
	assert_string_not_equal(a, b);	/* per id */

	/* Padding is not part of the identity. */
	assert_int_equal(keyed_pseudonym(key0, " 123 ", 5, a, sizeof(a)), 0);
	assert_int_equal(keyed_pseudonym(key0, "123", 3, b, sizeof(b)), 0);
	assert_string_equal(a, b);

	/* Many ids: all well-formed and (at 80 bits) all distinct. */
	for (i = 0; i < 200; i++) {
		int j;
		char prev[KEYED_PSEUDONYM_LEN + 1];

		snprintf(id, sizeof(id), "%011d", i);
		assert_int_equal(keyed_pseudonym(key0, id, strlen(id), a,
						 sizeof(a)), 0);
		assert_int_equal(strlen(a), KEYED_PSEUDONYM_LEN);
		assert_true(is_b32(a));
		for (j = 0; j < i; j += 17) {
			snprintf(id, sizeof(id), "%011d", j);
			keyed_pseudonym(key0, id, strlen(id), prev,
					sizeof(prev));
			assert_string_not_equal(a, prev);
		}
	}

	/* Errors: empty id, all-blank id, small buffer. */
	assert_int_equal(keyed_pseudonym(key0, "", 0, a, sizeof(a)), -EINVAL);
	assert_int_equal(keyed_pseudonym(key0, "  ", 2, a, sizeof(a)), -EINVAL);
	assert_int_equal(keyed_pseudonym(key0, "1", 1, a, KEYED_PSEUDONYM_LEN),
			 -EINVAL);
}

static void check_uid(const char *u)
{
	const char *p;
	size_t comp = 0;

	assert_true(strlen(u) <= KEYED_UID_MAX);
	assert_true(strncmp(u, "2.25.", 5) == 0);
	p = u + 5;
	assert_true(*p >= '0' && *p <= '9');
	if (*p == '0')
		assert_int_equal(p[1], '\0');	/* "0" alone is the only zero */
	for (; *p; p++) {
		assert_true(*p >= '0' && *p <= '9');
		comp++;
	}
	assert_true(comp >= 1 && comp <= 39);
}

static void test_uid(void **state)
{
	char a[KEYED_UID_MAX + 1], b[KEYED_UID_MAX + 1], in[64];
	uint8_t key1[32];
	int i, longest = 0;

	(void)state;
	memcpy(key1, key0, 32);
	key1[0] ^= 0x80;

	for (i = 0; i < 2000; i++) {
		snprintf(in, sizeof(in), "1.2.826.0.1.3680043.2.%d", i);
		assert_int_equal(keyed_uid(key0, in, strlen(in), a, sizeof(a)),
				 0);
		check_uid(a);
		if ((int)strlen(a) > longest)
			longest = (int)strlen(a);
		assert_int_equal(keyed_uid(key0, in, strlen(in), b, sizeof(b)),
				 0);
		assert_string_equal(a, b);
		assert_int_equal(keyed_uid(key1, in, strlen(in), b, sizeof(b)),
				 0);
		check_uid(b);
		assert_string_not_equal(a, b);
	}
	/* 2000 uniform 128-bit values: the longest has 39 digits. */
	assert_int_equal(longest, 5 + 39);

	/* DICOM NUL padding and spaces do not change the mapping. */
	assert_int_equal(keyed_uid(key0, "1.2.3\0", 6, a, sizeof(a)), 0);
	assert_int_equal(keyed_uid(key0, "1.2.3", 5, b, sizeof(b)), 0);
	assert_string_equal(a, b);
	assert_int_equal(keyed_uid(key0, "1.2.4", 5, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);

	assert_int_equal(keyed_uid(key0, "", 0, a, sizeof(a)), -EINVAL);
	assert_int_equal(keyed_uid(key0, "\0\0", 2, a, sizeof(a)), -EINVAL);
	assert_int_equal(keyed_uid(key0, "1.2.3", 5, a, 10), -EINVAL);
}

/* The Study ID token: 10 upper-case base32 characters, the same for a UID
 * with or without its padding, another for another UID or key, and not
 * the pseudonym's derivation (its own label). */
static void test_study_id(void **state)
{
	uint8_t k2[KEYED_KEY_LEN];
	char a[KEYED_STUDY_ID_LEN + 1], b[KEYED_STUDY_ID_LEN + 1];
	char p[KEYED_PSEUDONYM_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(keyed_study_id(key0, "1.2.3.4", 7, a, sizeof(a)), 0);
	assert_int_equal(strlen(a), KEYED_STUDY_ID_LEN);
	for (i = 0; i < KEYED_STUDY_ID_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", a[i]));
	assert_int_equal(keyed_study_id(key0, "1.2.3.4\0", 8, b, sizeof(b)), 0);
	assert_string_equal(a, b);
	assert_int_equal(keyed_study_id(key0, "1.2.3.5", 7, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	memcpy(k2, key0, sizeof(k2));
	k2[0] ^= 1;
	assert_int_equal(keyed_study_id(k2, "1.2.3.4", 7, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(keyed_pseudonym(key0, "1.2.3.4", 7, p, sizeof(p)), 0);
	for (i = 0; i < KEYED_STUDY_ID_LEN; i++)
		p[i] = (char)(p[i] >= 'a' ? p[i] - 'a' + 'A' : p[i]);
	assert_memory_not_equal(a, p, KEYED_STUDY_ID_LEN);
	assert_int_equal(keyed_study_id(key0, "", 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(keyed_study_id(key0, "1.2", 3, b, 5), -EINVAL);
}

static void test_date_shift(void **state)
{
	char id[32];
	int i, s, seen_min = 0, seen_max = -KEYED_SHIFT_MAX_DAYS - 1;
	long sum = 0;

	(void)state;
	for (i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "%011d", i * 7919);
		s = keyed_date_shift(key0, id, strlen(id));
		assert_true(s >= -KEYED_SHIFT_MAX_DAYS && s <= -1);
		assert_int_equal(keyed_date_shift(key0, id, strlen(id)), s);
		if (s < seen_min)
			seen_min = s;
		if (s > seen_max)
			seen_max = s;
		sum += s;
	}
	/* Spread over the range (loose bounds, deterministic inputs). */
	assert_true(seen_min < -700);
	assert_true(seen_max > -30);
	assert_true(sum / 5000 < -300 && sum / 5000 > -430);

	assert_int_equal(keyed_date_shift(key0, " 42 ", 4),
			 keyed_date_shift(key0, "42", 2));
	s = keyed_date_shift(key0, "", 0);
	assert_true(s >= -KEYED_SHIFT_MAX_DAYS && s <= -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_million),
		cmocka_unit_test(test_sha256_boundaries),
		cmocka_unit_test(test_sha256_forms),
		cmocka_unit_test(test_sha256_x16_lanes),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_labelled),
		cmocka_unit_test(test_reference_values),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_pseudonym),
		cmocka_unit_test(test_uid),
		cmocka_unit_test(test_date_shift),
		cmocka_unit_test(test_study_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
