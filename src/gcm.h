/*
 * gcm.h - DLMS general-glo-ciphering (APDU tag 0xDB) over OpenSSL's EVP
 * AES-128-GCM.  The ONLY module that includes OpenSSL.
 *
 * Wire: DB <len(system title)=08> <system title 8> <BER length> <SC>
 *       <frame counter 4> <ciphertext> [<tag 12> when SC & 0x10]
 * IV = system title || frame counter.  SC 0x20/0x21 (encryption only, no
 * tag): decrypted as GCM without tag check (= AES-CTR), reported as
 * unauthenticated.  SC 0x30/0x31: the 12-byte tag is verified with
 * AAD = SC || AuthKey; a mismatch is SM_E_AUTH.  Without an AuthKey the tag
 * is verified over an empty AAD (some encoders compute it so, e.g. the
 * athombv Smarty examples): still authenticated by the Key; a mismatch then
 * is SM_E_AUTH with a message saying that no AuthKey is configured.  With
 * an AuthKey there is no fallback to the empty AAD.
 *
 * Ownership: struct sm_gcm is opaque, created by sm_gcm_new (which copies
 * the keys and allocates the EVP context once), used by one thread at a
 * time, freed by sm_gcm_free (keys wiped with OPENSSL_cleanse).  Keys are
 * never logged: no function here ever writes key bytes into a diag.
 */
#ifndef SM_GCM_H
#define SM_GCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"

#define SM_KEY_LEN 16
#define SM_GCM_TAG_LEN 12

struct sm_gcm;

struct sm_gcm_info {
	uint8_t system_title[8];
	uint32_t frame_counter;
	uint8_t security_control;
	bool authenticated;   /* the tag was present and verified */
	size_t consumed;      /* bytes of the input the ciphered APDU occupied */
};

/* auth_key may be NULL (no AuthKey).  SM_OK or SM_E_NOMEM. */
enum sm_err sm_gcm_new(const uint8_t key[SM_KEY_LEN], const uint8_t *auth_key, struct sm_gcm **out);
void sm_gcm_free(struct sm_gcm *g);

/*
 * Length of the general-glo-ciphering APDU at the start of p[0..n): sets
 * *total (header + payload) once the header is complete.  SM_OK,
 * SM_NEED_MORE (header incomplete), SM_E_SYNTAX (not 0xDB, system-title
 * length other than 8, BER length malformed or over cap).  Pure; lets
 * framers of raw streams (P1 Smarty, Framing "raw") find the APDU's end.
 */
enum sm_err sm_gcm_apdu_length(const uint8_t *p, size_t n, size_t cap, size_t *total);

/*
 * Reassembly of an APDU from transport segments (mbus.c, hdlc.c), with the
 * reason for the caller's diag.  p[0..n) is what was collected so far.
 *
 * sm_gcm_apdu_total: a 0xDB APDU's whole length once its header is in:
 *   SM_OK (*total > 0); SM_NEED_MORE (not 0xDB, or its header incomplete:
 *   *total 0); SM_E_TOO_LONG (longer than cap); SM_E_SYNTAX (header
 *   malformed).
 * sm_gcm_apdu_complete: the segments ended (total as above, 0 = unknown):
 *   SM_OK and *done = the APDU's length (total for a 0xDB APDU, n for any
 *   other); SM_E_TRUNCATED (a 0xDB APDU shorter than its header says, or
 *   cut inside its header); SM_E_SYNTAX (nothing collected).
 */
enum sm_err sm_gcm_apdu_total(const uint8_t *p, size_t n, size_t cap, size_t *total, struct sm_diag *diag);
enum sm_err sm_gcm_apdu_complete(const uint8_t *p, size_t n, size_t total, size_t *done, struct sm_diag *diag);

/*
 * Decrypt the ciphered APDU at apdu[0..n) into plain[0..cap).  Every length
 * is validated before anything is copied.  Returns SM_OK (*plain_len, info
 * set), SM_E_TRUNCATED (n shorter than the APDU says), SM_E_SYNTAX
 * (malformed header, unsupported SC, length too short for the tag),
 * SM_E_AUTH (tag mismatch; plain[] is wiped), SM_E_FULL (cap too small),
 * SM_E_INTERNAL (OpenSSL failed).  *info is set from the header for SM_OK,
 * SM_E_FULL and SM_E_AUTH (authenticated = true only for SM_OK with a tag);
 * *plain_len is 0 unless SM_OK.  The diag names the frame counter, never
 * key bytes.  The caller checks that the
 * plaintext is what it expects (a DLMS APDU, a DSMR telegram) and reports
 * SM_E_NOT_APDU ("decrypted data is not a DLMS APDU: check Key") otherwise.
 */
enum sm_err sm_gcm_open(struct sm_gcm *g, const uint8_t *apdu, size_t n, uint8_t *plain, size_t cap,
			size_t *plain_len, struct sm_gcm_info *info, struct sm_diag *diag);

/* Encrypt (for the simulator and round-trip tests): build the 0xDB APDU
 * with security control sc (0x20, 0x21, 0x30 or 0x31).  SM_OK or SM_E_FULL,
 * SM_E_AUTH (0x3x without AuthKey), SM_E_SYNTAX (unsupported sc),
 * SM_E_INTERNAL (OpenSSL failed).  The BER length is the shortest form
 * (1 byte below 0x80, 81 xx, 82 xx xx). */
enum sm_err sm_gcm_seal(struct sm_gcm *g, const uint8_t system_title[8], uint32_t frame_counter,
			uint8_t sc, const uint8_t *plain, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* Wipe secret bytes (OPENSSL_cleanse): config and others call this. */
void sm_wipe(void *p, size_t n);
/* 32 hex digits (whitespace around allowed) -> 16 bytes.  SM_OK or SM_E_SYNTAX. */
enum sm_err sm_key_parse_hex(const char *s, size_t n, uint8_t out[SM_KEY_LEN]);

#endif
