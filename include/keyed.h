/*
 * keyed.h - SHA-256, HMAC-SHA256 and the keyed derivations of deidfs.
 *
 * Everything that replaces an identifier is derived from the project's
 * secret key (32 random bytes kept in the db) with HMAC-SHA256 and a
 * domain-separation label, so the mapping is deterministic for one db,
 * unlinkable without the key, and never an unkeyed hash of an identifier
 * (an 11-digit personal ID space is easy to brute-force).
 *
 * Pure functions: no allocation, thread-safe; the one global state is
 * which of the CPU's instructions hash fastest, read once (sha256.h).
 */
#ifndef DEIDFS_KEYED_H
#define DEIDFS_KEYED_H

#include <stddef.h>
#include <stdint.h>

#define KEYED_KEY_LEN 32
#define KEYED_PSEUDONYM_LEN 16	/* characters, 80 bits, [a-z2-7] */
#define KEYED_UID_MAX 64	/* "2.25." + up to 39 digits, fits a UI */
#define KEYED_SHIFT_MAX_DAYS 730	/* date shift in [-730, -1] days */

struct keyed_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};

void keyed_sha256_init(struct keyed_sha256 *c);
void keyed_sha256_update(struct keyed_sha256 *c, const void *data, size_t n);
void keyed_sha256_final(struct keyed_sha256 *c, uint8_t out[32]);
/* keyed_sha256_update(c[i], data[i], n[i]) for every i < count, the same
 * result, with the streams' whole blocks hashed sixteen at once where the
 * CPU can (sha256.h).  Distinct contexts. */
void keyed_sha256_update_many(struct keyed_sha256 *const c[],
			      const void *const data[], const size_t n[],
			      size_t count);
void keyed_sha256(const void *data, size_t n, uint8_t out[32]);

/* Plain HMAC-SHA256 (RFC 2104) of msg under key: the primitive under
 * keyed_hmac(), exported so its test vectors (RFC 4231) can be checked. */
void keyed_hmac_raw(const uint8_t *key, size_t keylen, const void *msg,
		    size_t n, uint8_t out[32]);

/* HMAC-SHA256 (RFC 2104) of label || 0x00 || msg under key. */
void keyed_hmac(const uint8_t *key, size_t keylen, const char *label,
		const void *msg, size_t n, uint8_t out[32]);

/*
 * Normalise an identifier before derivation: strip leading and trailing
 * spaces (DICOM pads with spaces; CSV exports sometimes do).  Returns the
 * length of the normalised span starting at *start.  The core's one ID
 * normalisation, base_trim_spaces() (fs/base.h), which the registry uses
 * too: a registry ID and a header ID derive alike.
 */
size_t keyed_normalise(const char *s, size_t n, const char **start);

/* Patient pseudonym: 16 characters of RFC 4648 base32 in lower case
 * (file-name safe, 80 bits) of HMAC(key, "pseudonym", id).  out must hold
 * KEYED_PSEUDONYM_LEN + 1 bytes.  Returns 0 or -EINVAL (empty id). */
int keyed_pseudonym(const uint8_t key[KEYED_KEY_LEN], const char *id,
		    size_t idlen, char *out, size_t outsz);

/* Replacement UID "2.25.<decimal of the first 128 bits of HMAC(key, "uid",
 * uid)>" (a UUID-derived UID, PS3.5 B.2).  Returns 0 or -EINVAL. */
int keyed_uid(const uint8_t key[KEYED_KEY_LEN], const char *uid,
	      size_t uidlen, char *out, size_t outsz);

/* Study ID of a published file: KEYED_STUDY_ID_LEN characters of RFC 4648
 * base32 in upper case (50 bits) of HMAC(key, "study id", uid), uid the
 * original StudyInstanceUID: the same for every file of a study, another
 * for every other study, nothing of the UID without the key.  out must
 * hold KEYED_STUDY_ID_LEN + 1 bytes.  Returns 0 or -EINVAL (empty uid). */
#define KEYED_STUDY_ID_LEN 10
int keyed_study_id(const uint8_t key[KEYED_KEY_LEN], const char *uid,
		   size_t uidlen, char *out, size_t outsz);

/* Per-patient date shift in days, in [-KEYED_SHIFT_MAX_DAYS, -1], from
 * HMAC(key, "shift", id).  The same for every file of a patient and for the
 * registry's date columns. */
int keyed_date_shift(const uint8_t key[KEYED_KEY_LEN], const char *id,
		     size_t idlen);

#endif
