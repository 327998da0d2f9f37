/*
 * fuzz_gcm.c - libFuzzer target for general-glo-ciphering (gcm.h) and the
 * Smarty side of DSMR (the 0xDB framer on P1, sm_smarty_open, the decoder
 * behind it).  Keys are fixed (fuzz_gcm.h), so the seed corpus can hold
 * frames that really decrypt: tagged ones that only survive unmutated, and
 * untagged ones (SC 0x20/0x21) whose mutated ciphertext still decrypts and
 * reaches the telegram checks and the decoder.  Built with clang
 * -fsanitize=fuzzer (make fuzz-gcm) or with a replay main() over the seed
 * corpus (make check).
 *
 * For each input:
 *  1. sm_gcm_apdu_length on the input and on every prefix up to its
 *     header: lengths are consistent (total <= cap, total >= header + 5);
 *  2. sm_gcm_open on the input and on prefixes cut at the announced length
 *     and around it, with and without AuthKey, into an exactly-sized heap
 *     buffer: results are consistent with the header (plain_len, consumed,
 *     authenticated only with a tag); prefixes shorter than the APDU are
 *     SM_E_TRUNCATED;
 *  3. the Smarty framer is fed the input whole and in pieces of a size
 *     taken from its first byte: both runs give the same frames; each frame
 *     goes through sm_smarty_open and, when it is a telegram, the decoder;
 *  4. seal/open round trip of the input as plaintext with the security
 *     control chosen by its first byte.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "dsmr.h"
#include "fuzz_gcm.h"
#include "gcm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                      \
	do {                                                                           \
		fprintf(stderr, __VA_ARGS__);                                          \
		fputc('\n', stderr);                                                   \
		abort();                                                               \
	} while (0)

struct ctx {
	struct sm_gcm *g_ak;   /* Key + AuthKey */
	struct sm_gcm *g_noak; /* Key only */
	struct sm_smarty_framer fr;
	struct sm_reading_set set;
	uint8_t plain[SM_SMARTY_MAX];
};

static struct ctx *ctx_get(void)
{
	static struct ctx *c;
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c == NULL || sm_gcm_new(fuzz_gcm_key, fuzz_gcm_ak, &c->g_ak) != SM_OK ||
		    sm_gcm_new(fuzz_gcm_key, NULL, &c->g_noak) != SM_OK)
			FAIL("setup failed");
	}
	return c;
}

static size_t hdr_of(const uint8_t *p)
{
	return p[10] < 0x80 ? 11 : p[10] == 0x81 ? 12 : 13;
}

static void check_lengths(const uint8_t *p, size_t n)
{
	static const size_t caps[] = { 0, 16, 300, SM_SMARTY_MAX, (size_t)-1 };
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		size_t total = 0;
		enum sm_err rc = sm_gcm_apdu_length(p, n, caps[i], &total);
		if (rc == SM_OK) {
			if (n < 11 || total > caps[i] || total < hdr_of(p) + 5 || n < hdr_of(p))
				FAIL("apdu_length: total %zu, cap %zu, n %zu", total, caps[i], n);
		} else if (rc != SM_NEED_MORE && rc != SM_E_SYNTAX) {
			FAIL("apdu_length: %s", sm_err_name(rc));
		}
	}
	/* a longer prefix never turns a decision back into NEED_MORE */
	enum sm_err last = SM_NEED_MORE;
	for (size_t k = 0; k <= n && k <= 14; k++) {
		size_t total = 0;
		enum sm_err rc = sm_gcm_apdu_length(p, k, (size_t)-1, &total);
		if (last != SM_NEED_MORE && rc != last)
			FAIL("apdu_length: prefix %zu gives %s after %s", k, sm_err_name(rc),
			     sm_err_name(last));
		last = rc;
	}
}

/* Open p[0..n) into an exactly-sized heap buffer of cap bytes. */
static enum sm_err open_one(struct sm_gcm *g, bool has_ak, const uint8_t *p, size_t n, size_t cap)
{
	uint8_t *in = malloc(n ? n : 1);
	uint8_t *out = malloc(cap ? cap : 1);
	if (in == NULL || out == NULL)
		FAIL("oom");
	if (n)
		memcpy(in, p, n);
	memset(out, 0, cap ? cap : 1);
	size_t plen = 99;
	struct sm_gcm_info info;
	struct sm_diag d = { { 0 } };
	enum sm_err rc = sm_gcm_open(g, in, n, out, cap, &plen, &info, &d);
	size_t total = 0;
	enum sm_err lrc = sm_gcm_apdu_length(in, n, (size_t)-1, &total);
	switch (rc) {
	case SM_OK: {
		if (lrc != SM_OK || info.consumed != total || total > n)
			FAIL("open OK but apdu_length %s, consumed %zu, total %zu, n %zu",
			     sm_err_name(lrc), info.consumed, total, n);
		bool tagged = info.security_control & 0x10;
		size_t want = total - hdr_of(in) - 5 - (tagged ? SM_GCM_TAG_LEN : 0);
		if (plen != want || plen > cap || info.authenticated != tagged)
			FAIL("open OK: plain_len %zu, want %zu, cap %zu, auth %d", plen, want, cap,
			     info.authenticated);
		(void)has_ak;
		break;
	}
	case SM_E_TRUNCATED:
		if (lrc == SM_OK && total <= n)
			FAIL("open truncated but the APDU (%zu) fits %zu", total, n);
		/* fall through */
	case SM_E_SYNTAX:
	case SM_E_AUTH:
	case SM_E_FULL:
		if (plen != 0)
			FAIL("open %s with plain_len %zu", sm_err_name(rc), plen);
		if (rc == SM_E_AUTH)
			for (size_t i = 0; i < cap; i++)
				if (out[i] != 0)
					FAIL("output not wiped after SM_E_AUTH");
		break;
	default:
		FAIL("open: unexpected %s (%s)", sm_err_name(rc), d.msg);
	}
	if (rc != SM_OK && d.msg[0] == '\0')
		FAIL("open %s without a diag", sm_err_name(rc));
	free(in);
	free(out);
	return rc;
}

static void check_open(struct ctx *c, const uint8_t *p, size_t n)
{
	open_one(c->g_ak, true, p, n, n);
	open_one(c->g_noak, false, p, n, n);
	size_t total = 0;
	if (sm_gcm_apdu_length(p, n, (size_t)-1, &total) != SM_OK)
		return;
	/* cut at, just before and just after the announced end; too small an
	 * output buffer */
	size_t cuts[3] = { total - 1, total, total + 1 };
	for (size_t i = 0; i < 3; i++)
		if (cuts[i] <= n) {
			enum sm_err rc = open_one(c->g_ak, true, p, cuts[i], cuts[i]);
			if (cuts[i] < total && rc != SM_E_TRUNCATED && rc != SM_E_SYNTAX)
				FAIL("cut %zu < %zu gave %s", cuts[i], total, sm_err_name(rc));
		}
	if (total <= n && total > hdr_of(p) + 5)
		open_one(c->g_ak, true, p, total, total - hdr_of(p) - 6);
}

struct run {
	size_t frames;
	uint16_t digest;
	uint64_t skipped;
};

static void smarty_run(struct ctx *c, const uint8_t *p, size_t n, size_t piece, struct run *r)
{
	memset(r, 0, sizeof *r);
	sm_smarty_framer_init(&c->fr);
	size_t off = 0;
	while (off < n) {
		size_t len = piece == 0 || n - off < piece ? n - off : piece;
		size_t at = 0;
		while (at < len) {
			struct sm_frame fr;
			struct sm_diag d = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_smarty_framer_feed(&c->fr, p + off + at, len - at, &used, &fr, &d);
			if (used > len - at)
				FAIL("framer used %zu of %zu", used, len - at);
			at += used;
			if (rc == SM_NEED_MORE) {
				if (at != len)
					FAIL("NEED_MORE with input left");
				continue;
			}
			r->digest = sm_crc16_arc(r->digest, &rc, sizeof rc);
			if (rc == SM_E_TOO_LONG)
				continue;
			if (rc != SM_FRAME)
				FAIL("framer: %s", sm_err_name(rc));
			r->frames++;
			r->digest = sm_crc16_arc(r->digest, fr.p, fr.n);
			if (fr.n > SM_SMARTY_MAX || fr.p[0] != 0xDB)
				FAIL("frame of %zu bytes", fr.n);
			struct sm_frame tel;
			struct sm_gcm_info info;
			enum sm_err orc = sm_smarty_open(c->g_ak, fr.p, fr.n, false, c->plain, SM_DSMR_MAX,
							 &tel, &info, &d);
			if (orc == SM_FRAME) {
				if (tel.p != c->plain || tel.n > SM_DSMR_MAX || tel.p[0] != '/')
					FAIL("smarty_open frame");
				/* without a tag, a telegram passed as checked carries
				 * the right CRC */
				size_t bang = tel.n;
				while (bang > 0 && tel.p[bang - 1] != '!')
					bang--;
				if (bang == 0)
					FAIL("telegram without '!'");
				size_t digits = tel.n - bang;
				if (tel.check == SM_CHECK_OK && !info.authenticated && digits > 0) {
					unsigned v = 0;
					for (size_t i = bang; i < tel.n; i++) {
						uint8_t ch = tel.p[i];
						v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
					}
					if (v != sm_crc16_arc(0, tel.p, bang))
						FAIL("untagged telegram with a wrong CRC passed as checked");
				}
				unsigned bad = 0;
				struct sm_diag dd = { { 0 } };
				sm_dsmr_decode(&tel, &c->set, &bad, &dd);
			} else if (orc >= 0) {
				FAIL("smarty_open: %s", sm_err_name(orc));
			}
		}
		off += len;
	}
	struct sm_diag d = { { 0 } };
	enum sm_err rc = sm_smarty_framer_flush(&c->fr, &d);
	r->digest = sm_crc16_arc(r->digest, &rc, sizeof rc);
	r->skipped = c->fr.skipped;
}

static void check_roundtrip(struct ctx *c, const uint8_t *p, size_t n)
{
	static const uint8_t scs[4] = { 0x20, 0x21, 0x30, 0x31 };
	uint8_t sc = scs[p[0] & 3];
	size_t cap = n + 64, len = 0, plen = 0;
	uint8_t *out = malloc(cap), *back = malloc(n ? n : 1);
	if (out == NULL || back == NULL)
		FAIL("oom");
	uint32_t fc = (uint32_t)n * 2654435761u;
	if (sm_gcm_seal(c->g_ak, fuzz_gcm_title, fc, sc, p, n, out, cap, &len) != SM_OK)
		FAIL("seal of %zu bytes failed", n);
	struct sm_gcm_info info;
	struct sm_diag d = { { 0 } };
	if (sm_gcm_open(c->g_ak, out, len, back, n, &plen, &info, &d) != SM_OK || plen != n ||
	    (n && memcmp(back, p, n) != 0) || info.consumed != len || info.frame_counter != fc)
		FAIL("round trip of %zu bytes failed: %s", n, d.msg);
	free(out);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx *c = ctx_get();
	if (size > 3 * SM_SMARTY_MAX)
		return 0;
	check_lengths(data, size);
	check_open(c, data, size);
	struct run whole, pieces;
	smarty_run(c, data, size, 0, &whole);
	size_t piece = size ? (size_t)data[0] % 37 + 1 : 1;
	smarty_run(c, data, size, piece, &pieces);
	if (whole.frames != pieces.frames || whole.digest != pieces.digest ||
	    whole.skipped != pieces.skipped)
		FAIL("framer: whole %zu frames/%04X/%llu skipped, pieces of %zu: %zu/%04X/%llu",
		     whole.frames, whole.digest, (unsigned long long)whole.skipped, piece, pieces.frames,
		     pieces.digest, (unsigned long long)pieces.skipped);
	if (size > 0 && size <= SM_DSMR_MAX)
		check_roundtrip(c, data, size);
	return 0;
}
