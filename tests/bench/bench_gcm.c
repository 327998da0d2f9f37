/*
 * bench_gcm.c - general-glo-ciphering decryption throughput on one core, for
 * a 300-byte ciphered APDU (the size of an Austrian M-Bus push), against a
 * baseline over the same bytes in the same run:
 *   memcpy     copying the ciphertext out (the cost of touching the bytes)
 *   open 0x20  sm_gcm_open, encryption only (AES-CTR, no tag)
 *   open 0x30  sm_gcm_open, tag verified (AAD = SC || AuthKey)
 *   smarty     a Smarty P1 frame (about 900-byte telegram): framer +
 *              sm_smarty_open (decrypt, tag, inner CRC) + DSMR decoder
 * Prints frames/s, MB/s and the ratio to memcpy.  Not part of make check:
 *   make bench-gcm      or   ./tests/bench/bench_gcm [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc.h"
#include "dsmr.h"
#include "gcm.h"
#include "reading.h"

#define APDU_PLAIN (300 - 13 - 5) /* plaintext of a 300-byte untagged APDU (82 length) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t ak[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF };
static const uint8_t title[8] = { 'K', 'F', 'M', 0x10, 0x20, 0x00, 0x01, 0x02 };

struct result {
	double fps, mbs;
};

/* Run fn until `secs` passed; frames of `bytes` each. */
#define TIMED(secs, bytes, res, ...)                                                   \
	do {                                                                           \
		unsigned long long n_ = 0;                                             \
		double t0_ = now_s(), t_;                                              \
		do {                                                                   \
			for (int k_ = 0; k_ < 256; k_++) {                             \
				__VA_ARGS__;                                                \
			}                                                              \
			n_ += 256;                                                     \
			t_ = now_s() - t0_;                                            \
		} while (t_ < (secs));                                                 \
		(res).fps = (double)n_ / t_;                                           \
		(res).mbs = (double)n_ * (double)(bytes) / t_ / 1e6;                    \
	} while (0)

static size_t telegram(char *t, size_t cap)
{
	size_t n = (size_t)snprintf(t, cap, "/Lux5\\253663629_D\r\n\r\n1-3:0.2.8(42)\r\n"
				    "0-0:1.0.0(180130102122W)\r\n");
	for (int i = 0; i < 28; i++)
		n += (size_t)snprintf(t + n, cap - n, "1-0:%d.%d.0(%06d.%03d*kWh)\r\n", 1 + i % 4,
				      i < 14 ? 8 : 7, i * 31, i);
	n += (size_t)snprintf(t + n, cap - n, "!");
	n += (size_t)snprintf(t + n, cap - n, "%04X\r\n", (unsigned)sm_crc16_arc(0, t, n));
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0))
		secs = 1.0;
	struct sm_gcm *g = NULL;
	if (sm_gcm_new(key, ak, &g) != SM_OK)
		return 1;
	static uint8_t plain[APDU_PLAIN], a20[400], a30[400], out[400], dst[400];
	for (size_t i = 0; i < sizeof plain; i++)
		plain[i] = (uint8_t)(i * 7);
	plain[0] = 0x0F;
	size_t n20 = 0, n30 = 0, plen = 0;
	if (sm_gcm_seal(g, title, 1, 0x20, plain, sizeof plain, a20, sizeof a20, &n20) != SM_OK ||
	    sm_gcm_seal(g, title, 1, 0x30, plain, sizeof plain - 12, a30, sizeof a30, &n30) != SM_OK)
		return 1;
	if (n20 != 300 || n30 != 300) {
		fprintf(stderr, "APDU sizes %zu/%zu, 300 expected\n", n20, n30);
		return 1;
	}
	struct result rm, r20, r30, rs;
	volatile uint8_t sink = 0;
	TIMED(secs, n20, rm, {
		memcpy(dst, a20 + 18, n20 - 18);
		sink ^= dst[k_ & 0xFF];
	});
	TIMED(secs, n20, r20, {
		if (sm_gcm_open(g, a20, n20, out, sizeof out, &plen, NULL, NULL) != SM_OK)
			return 1;
		sink ^= out[0];
	});
	TIMED(secs, n30, r30, {
		if (sm_gcm_open(g, a30, n30, out, sizeof out, &plen, NULL, NULL) != SM_OK)
			return 1;
		sink ^= out[0];
	});

	/* Smarty frame: framer + open + decode */
	static char tel[4096];
	static uint8_t frame[SM_SMARTY_MAX], ptext[SM_DSMR_MAX];
	size_t tn = telegram(tel, sizeof tel), fn = 0;
	if (sm_dsmr_seal_smarty(g, title, 2, 0x30, (const uint8_t *)tel, tn, frame, sizeof frame, &fn) != SM_OK)
		return 1;
	struct sm_smarty_framer *fr = malloc(sizeof *fr);
	struct sm_reading_set *set = malloc(sizeof *set);
	if (fr == NULL || set == NULL)
		return 1;
	sm_smarty_framer_init(fr);
	TIMED(secs, fn, rs, {
		struct sm_frame f, t;
		size_t used = 0;
		unsigned bad = 0;
		if (sm_smarty_framer_feed(fr, frame, fn, &used, &f, NULL) != SM_FRAME ||
		    sm_smarty_open(g, f.p, f.n, false, ptext, sizeof ptext, &t, NULL, NULL) != SM_FRAME ||
		    sm_dsmr_decode(&t, set, &bad, NULL) != SM_READINGS)
			return 1;
		sink ^= (uint8_t)set->n;
	});
	(void)sink;

	printf("general-glo-ciphering, 300-byte APDU, %.1f s per case, one core\n", secs);
	printf("  %-34s %12.0f frames/s %8.1f MB/s\n", "memcpy of the ciphertext (baseline)", rm.fps, rm.mbs);
	printf("  %-34s %12.0f frames/s %8.1f MB/s  %5.1fx memcpy time\n", "sm_gcm_open SC 0x20 (no tag)",
	       r20.fps, r20.mbs, rm.fps / r20.fps);
	printf("  %-34s %12.0f frames/s %8.1f MB/s  %5.1fx memcpy time\n", "sm_gcm_open SC 0x30 (tag, AAD)",
	       r30.fps, r30.mbs, rm.fps / r30.fps);
	printf("  %-34s %12.0f frames/s %8.1f MB/s  (%zu-byte frame)\n",
	       "Smarty: framer+open+DSMR decode", rs.fps, rs.mbs, fn);
	free(fr);
	free(set);
	sm_gcm_free(g);
	return 0;
}
