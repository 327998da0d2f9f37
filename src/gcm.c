/*
 * gcm.c - DLMS general-glo-ciphering (APDU tag 0xDB) over OpenSSL's EVP
 * AES-128-GCM.  The contract is gcm.h; the wire format is in
 * shared/notes/protocols.md section 5.
 *
 * The EVP context is allocated once in sm_gcm_new and re-keyed per frame
 * (the IV changes with every frame).  Every length of the header is
 * validated against the input before a byte is copied or decrypted.
 * No logging, no globals; the keys live only inside struct sm_gcm and are
 * wiped by sm_gcm_free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gcm.h"

#define ST_LEN 8          /* system title */
#define SC_FC_LEN 5       /* security control + frame counter */
#define BER_MAX 0xFFFFu   /* 82 xx xx is the longest form accepted */

struct sm_gcm {
	EVP_CIPHER_CTX *ctx;
	int keyed;        /* 0: not keyed; 1: keyed to decrypt; 2: to encrypt */
	bool has_auth_key;
	uint8_t key[SM_KEY_LEN];
	uint8_t auth_key[SM_KEY_LEN];
};

void sm_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

enum sm_err sm_gcm_new(const uint8_t key[SM_KEY_LEN], const uint8_t *auth_key, struct sm_gcm **out)
{
	*out = NULL;
	struct sm_gcm *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return SM_E_NOMEM;
	g->ctx = EVP_CIPHER_CTX_new();
	if (g->ctx == NULL) {
		free(g);
		return SM_E_NOMEM;
	}
	memcpy(g->key, key, SM_KEY_LEN);
	if (auth_key != NULL) {
		memcpy(g->auth_key, auth_key, SM_KEY_LEN);
		g->has_auth_key = true;
	}
	*out = g;
	return SM_OK;
}

void sm_gcm_free(struct sm_gcm *g)
{
	if (g == NULL)
		return;
	EVP_CIPHER_CTX_free(g->ctx); /* also clears OpenSSL's copy of the key schedule */
	sm_wipe(g, sizeof(*g));
	free(g);
}

/* Parse the header: on SM_OK *hdr is the offset of the security control
 * byte and *len the BER length (SC + FC + ciphertext [+ tag]). */
static enum sm_err parse_header(const uint8_t *p, size_t n, size_t *hdr, size_t *len,
				struct sm_diag *diag)
{
	if (n < 1)
		return SM_NEED_MORE;
	if (p[0] != 0xDB) {
		sm_diag_set(diag, "not a general-glo-ciphering APDU (tag 0x%02X, 0xDB expected)", p[0]);
		return SM_E_SYNTAX;
	}
	if (n < 2)
		return SM_NEED_MORE;
	if (p[1] != ST_LEN) {
		sm_diag_set(diag, "system title length %u (8 expected)", p[1]);
		return SM_E_SYNTAX;
	}
	size_t at = 2 + ST_LEN;
	if (n < at + 1)
		return SM_NEED_MORE;
	uint8_t b = p[at];
	size_t l;
	if (b < 0x80) {
		l = b;
		at += 1;
	} else if (b == 0x81) {
		if (n < at + 2)
			return SM_NEED_MORE;
		l = p[at + 1];
		at += 2;
	} else if (b == 0x82) {
		if (n < at + 3)
			return SM_NEED_MORE;
		l = ((size_t)p[at + 1] << 8) | p[at + 2];
		at += 3;
	} else {
		sm_diag_set(diag, "ciphered APDU: unsupported BER length byte 0x%02X", b);
		return SM_E_SYNTAX;
	}
	if (l < SC_FC_LEN) {
		sm_diag_set(diag, "ciphered APDU: length %zu is shorter than security control and "
			    "frame counter", l);
		return SM_E_SYNTAX;
	}
	*hdr = at;
	*len = l;
	return SM_OK;
}

enum sm_err sm_gcm_apdu_length(const uint8_t *p, size_t n, size_t cap, size_t *total)
{
	size_t hdr, len;
	enum sm_err rc = parse_header(p, n, &hdr, &len, NULL);
	if (rc != SM_OK)
		return rc;
	if (len > cap || hdr + len > cap)
		return SM_E_SYNTAX;
	*total = hdr + len;
	return SM_OK;
}

/* (gcm.h) */
enum sm_err sm_gcm_apdu_total(const uint8_t *p, size_t n, size_t cap, size_t *total, struct sm_diag *diag)
{
	size_t t = 0;

	*total = 0;
	if (n == 0 || p[0] != 0xDB)
		return SM_NEED_MORE;
	enum sm_err rc = sm_gcm_apdu_length(p, n, cap, &t);
	if (rc == SM_OK) {
		*total = t;
		return SM_OK;
	}
	if (rc == SM_NEED_MORE)
		return SM_NEED_MORE;
	if (sm_gcm_apdu_length(p, n, SIZE_MAX, &t) == SM_OK) {
		sm_diag_set(diag, "ciphered APDU of %zu bytes exceeds %zu: dropped", t, cap);
		return SM_E_TOO_LONG;
	}
	sm_diag_set(diag, "ciphered APDU header malformed (DB %02X ...): dropped", n > 1 ? p[1] : 0u);
	return SM_E_SYNTAX;
}

/* (gcm.h) */
enum sm_err sm_gcm_apdu_complete(const uint8_t *p, size_t n, size_t total, size_t *done, struct sm_diag *diag)
{
	*done = 0;
	if (n == 0) {
		sm_diag_set(diag, "empty DLMS APDU (segments without data)");
		return SM_E_SYNTAX;
	}
	if (p[0] != 0xDB) {
		*done = n;
		return SM_OK;
	}
	if (total == 0 || n < total) {
		if (total > 0)
			sm_diag_set(diag, "ciphered APDU of %zu bytes: its segments ended after %zu", total, n);
		else
			sm_diag_set(diag, "ciphered APDU: its segments ended inside its header (%zu bytes)", n);
		return SM_E_TRUNCATED;
	}
	*done = total;
	return SM_OK;
}

static bool sc_supported(uint8_t sc)
{
	return sc == 0x20 || sc == 0x21 || sc == 0x30 || sc == 0x31;
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Key the context for one frame: cipher, key and the 12-byte IV. */
static bool ctx_start(struct sm_gcm *g, const uint8_t st[ST_LEN], const uint8_t fc[4], int enc)
{
	uint8_t iv[12];
	memcpy(iv, st, ST_LEN);
	memcpy(iv + ST_LEN, fc, 4);
	if (g->keyed == enc + 1) /* same direction as the last frame: only a new IV */
		return EVP_CipherInit_ex(g->ctx, NULL, NULL, NULL, iv, enc) == 1;
	g->keyed = 0;
	if (EVP_CipherInit_ex(g->ctx, EVP_aes_128_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, (int)sizeof(iv), NULL) != 1 ||
	    EVP_CipherInit_ex(g->ctx, NULL, NULL, g->key, iv, enc) != 1)
		return false;
	g->keyed = enc + 1;
	return true;
}

/* Feed the AAD (SC || AuthKey; empty without an AuthKey). */
static bool ctx_aad(struct sm_gcm *g, uint8_t sc)
{
	if (!g->has_auth_key)
		return true;
	uint8_t aad[1 + SM_KEY_LEN];
	int outl = 0;
	aad[0] = sc;
	memcpy(aad + 1, g->auth_key, SM_KEY_LEN);
	bool ok = EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int)sizeof(aad)) == 1;
	sm_wipe(aad, sizeof(aad));
	return ok;
}

enum sm_err sm_gcm_open(struct sm_gcm *g, const uint8_t *apdu, size_t n, uint8_t *plain, size_t cap,
			size_t *plain_len, struct sm_gcm_info *info, struct sm_diag *diag)
{
	size_t hdr, len;
	*plain_len = 0;
	enum sm_err rc = parse_header(apdu, n, &hdr, &len, diag);
	if (rc == SM_NEED_MORE) {
		sm_diag_set(diag, "ciphered APDU truncated: %zu bytes, header incomplete", n);
		return SM_E_TRUNCATED;
	}
	if (rc != SM_OK)
		return rc;
	if (n - hdr < len) {
		sm_diag_set(diag, "ciphered APDU truncated: %zu bytes, its length says %zu", n,
			    hdr + len);
		return SM_E_TRUNCATED;
	}
	const uint8_t *st = apdu + 2;
	const uint8_t *q = apdu + hdr;
	uint8_t sc = q[0];
	if (!sc_supported(sc)) {
		sm_diag_set(diag, "unsupported security control 0x%02X (0x20, 0x21, 0x30, 0x31 "
			    "supported)", sc);
		return SM_E_SYNTAX;
	}
	bool tagged = (sc & 0x10) != 0;
	size_t taglen = tagged ? SM_GCM_TAG_LEN : 0;
	if (len < SC_FC_LEN + taglen) {
		sm_diag_set(diag, "ciphered APDU: length %zu leaves no room for the %u-byte tag", len,
			    SM_GCM_TAG_LEN);
		return SM_E_SYNTAX;
	}
	size_t ctlen = len - SC_FC_LEN - taglen;
	const uint8_t *ct = q + SC_FC_LEN;
	if (info != NULL) {
		memcpy(info->system_title, st, ST_LEN);
		info->frame_counter = be32(q + 1);
		info->security_control = sc;
		info->authenticated = false;
		info->consumed = hdr + len;
	}
	if (ctlen > cap) {
		sm_diag_set(diag, "decrypted APDU of %zu bytes does not fit %zu", ctlen, cap);
		return SM_E_FULL;
	}
	/* Without an AuthKey the tag is checked over an empty AAD (ctx_aad);
	 * a mismatch then says that AuthKey is missing. */
	if (!ctx_start(g, st, q + 1, 0))
		goto internal;
	if (tagged && !ctx_aad(g, sc))
		goto internal;
	int outl = 0;
	if (ctlen > 0 && EVP_DecryptUpdate(g->ctx, plain, &outl, ct, (int)ctlen) != 1)
		goto internal;
	if (tagged) {
		uint8_t tag[SM_GCM_TAG_LEN];
		int fl = 0;
		memcpy(tag, ct + ctlen, SM_GCM_TAG_LEN);
		if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, SM_GCM_TAG_LEN, tag) != 1)
			goto internal;
		if (EVP_DecryptFinal_ex(g->ctx, plain + outl, &fl) != 1) {
			sm_wipe(plain, ctlen);
			if (g->has_auth_key)
				sm_diag_set(diag, "authentication failed: GCM tag mismatch (frame counter "
					    "%08X): check Key and AuthKey", (unsigned)be32(q + 1));
			else
				sm_diag_set(diag, "authentication failed: GCM tag mismatch (frame counter "
					    "%08X) and no AuthKey is configured: check Key, set AuthKey",
					    (unsigned)be32(q + 1));
			return SM_E_AUTH;
		}
		if (info != NULL)
			info->authenticated = true;
	}
	*plain_len = ctlen;
	return SM_OK;
internal:
	g->keyed = 0;
	sm_wipe(plain, ctlen);
	sm_diag_set(diag, "OpenSSL AES-128-GCM failed");
	return SM_E_INTERNAL;
}

enum sm_err sm_gcm_seal(struct sm_gcm *g, const uint8_t system_title[8], uint32_t frame_counter,
			uint8_t sc, const uint8_t *plain, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	if (!sc_supported(sc))
		return SM_E_SYNTAX;
	bool tagged = (sc & 0x10) != 0;
	if (tagged && !g->has_auth_key)
		return SM_E_AUTH;
	size_t taglen = tagged ? SM_GCM_TAG_LEN : 0;
	if (n > BER_MAX - SC_FC_LEN - taglen)
		return SM_E_FULL;
	size_t len = SC_FC_LEN + n + taglen;
	size_t berlen = len < 0x80 ? 1 : len <= 0xFF ? 2 : 3;
	size_t total = 2 + ST_LEN + berlen + len;
	if (total > cap)
		return SM_E_FULL;

	uint8_t *w = out;
	*w++ = 0xDB;
	*w++ = ST_LEN;
	memcpy(w, system_title, ST_LEN);
	w += ST_LEN;
	if (berlen == 2)
		*w++ = 0x81;
	else if (berlen == 3) {
		*w++ = 0x82;
		*w++ = (uint8_t)(len >> 8);
	}
	*w++ = (uint8_t)len;
	uint8_t *fc = w + 1;
	*w++ = sc;
	*w++ = (uint8_t)(frame_counter >> 24);
	*w++ = (uint8_t)(frame_counter >> 16);
	*w++ = (uint8_t)(frame_counter >> 8);
	*w++ = (uint8_t)frame_counter;

	int outl = 0, fl = 0;
	if (!ctx_start(g, system_title, fc, 1) || (tagged && !ctx_aad(g, sc)) ||
	    (n > 0 && EVP_EncryptUpdate(g->ctx, w, &outl, plain, (int)n) != 1))
		goto internal;
	w += n;
	if (tagged) {
		if (EVP_EncryptFinal_ex(g->ctx, w, &fl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, SM_GCM_TAG_LEN, w) != 1)
			goto internal;
		w += SM_GCM_TAG_LEN;
	}
	*outlen = total;
	return SM_OK;
internal:
	g->keyed = 0;
	sm_wipe(out, total);
	return SM_E_INTERNAL;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

enum sm_err sm_key_parse_hex(const char *s, size_t n, uint8_t out[SM_KEY_LEN])
{
	size_t a = 0, b = n;
	if (s == NULL)
		return SM_E_SYNTAX;
	while (a < b && is_space(s[a]))
		a++;
	while (b > a && is_space(s[b - 1]))
		b--;
	if (b - a != 2 * SM_KEY_LEN)
		return SM_E_SYNTAX;
	uint8_t tmp[SM_KEY_LEN];
	for (size_t i = 0; i < SM_KEY_LEN; i++) {
		int hi = hexdigit(s[a + 2 * i]), lo = hexdigit(s[a + 2 * i + 1]);
		if (hi < 0 || lo < 0) {
			sm_wipe(tmp, sizeof(tmp));
			return SM_E_SYNTAX;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, SM_KEY_LEN);
	sm_wipe(tmp, sizeof(tmp));
	return SM_OK;
}
