/*
 * bench_dsmr.c - DSMR 5 framer + decoder throughput on one core, against
 * baselines over the same bytes in the same run:
 *   memchr   a plain memchr('\n') pass (the cost of touching the bytes)
 *   crc      CRC-16/ARC over every telegram (the framer's unavoidable work)
 *   framer   sm_dsmr_framer_feed in 4 KiB reads (CRC checked)
 *   full     framer + sm_dsmr_decode (what the reader does per telegram)
 * Prints telegrams/s, MB/s and the ratios.  Not part of make check:
 *   make bench-dsmr      or   ./tests/bench/bench_dsmr [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc.h"
#include "dsmr.h"
#include "obis.h"
#include "reading.h"

#define NTEL 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void num(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		int64_t raw, int8_t scale, enum sm_unit u, int64_t t)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	if (sm_set_add_number(s, &o, raw, scale, u, NULL, 0, t) != SM_OK)
		exit(2);
}

static void txt(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		const char *text)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	if (sm_set_add_text(s, &o, text, strlen(text), 0) != SM_OK)
		exit(2);
}

/* A full DSMR 5.0 telegram as Dutch meters send it (about 900 bytes). */
static void dsmr5(struct sm_reading_set *s, int i)
{
	int64_t t = 1700000000000LL + i * 1000LL;
	sm_set_clear(s);
	s->meter_time_ms = t;
	num(s, 1, 3, 0, 2, 8, 50, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 0, 96, 1, 1, "4530303434303037333832323436303139");
	num(s, 1, 0, 1, 8, 1, 2130115 + i, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 1, 8, 2, 245467 + i, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 2, 8, 1, 10, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 2, 8, 2, 0, 0, SM_UNIT_WH, 0);
	num(s, 0, 0, 96, 14, 0, 1, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 1, 7, 0, 111 + i, 0, SM_UNIT_W, 0);
	num(s, 1, 0, 2, 7, 0, 0, 0, SM_UNIT_W, 0);
	num(s, 0, 0, 96, 7, 21, 5, 0, SM_UNIT_NONE, 0);
	num(s, 0, 0, 96, 7, 9, 3, 0, SM_UNIT_NONE, 0);
	for (uint8_t c = 32; c <= 72; c += 20) {
		num(s, 1, 0, c, 32, 0, 1, 0, SM_UNIT_NONE, 0);
		num(s, 1, 0, c, 36, 0, 0, 0, SM_UNIT_NONE, 0);
	}
	txt(s, 0, 0, 96, 13, 0, "");
	for (uint8_t c = 32; c <= 72; c += 20)
		num(s, 1, 0, c, 7, 0, 2299 - c, -1, SM_UNIT_V, 0);
	for (uint8_t c = 31; c <= 71; c += 20)
		num(s, 1, 0, c, 7, 0, c / 10, 0, SM_UNIT_A, 0);
	for (uint8_t c = 21; c <= 61; c += 20)
		num(s, 1, 0, c, 7, 0, 56 + c, 0, SM_UNIT_W, 0);
	for (uint8_t c = 22; c <= 62; c += 20)
		num(s, 1, 0, c, 7, 0, 0, 0, SM_UNIT_W, 0);
	num(s, 0, 1, 24, 1, 0, 3, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 1, 96, 1, 0, "4730303339303031393336393930363139");
	num(s, 0, 1, 24, 2, 1, 246138 + i, -3, SM_UNIT_M3, t - 300000);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0.0))
		secs = 1.0;
	static struct sm_reading_set set;
	static uint8_t stream[NTEL * 2048];
	size_t len = 0, tlen[NTEL];

	for (int i = 0; i < NTEL; i++) {
		dsmr5(&set, i);
		size_t n;
		if (sm_dsmr_encode(&set, "ISK5\\2M550T-1012", true, stream + len, sizeof stream - len,
				   &n) != SM_OK)
			return 2;
		tlen[i] = n;
		len += n;
	}
	printf("DSMR 5 stream: %d telegrams, %zu bytes (%.0f bytes/telegram), %.1f s per case\n",
	       NTEL, len, (double)len / NTEL, secs);

	static struct sm_dsmr_framer f;
	const char *names[4] = { "memchr", "crc", "framer", "framer+decode" };
	double tps[4];
	volatile size_t sink = 0;

	for (int c = 0; c < 4; c++) {
		size_t passes = 0, frames = 0;
		double t0 = now_s(), t1;
		do {
			for (int rep = 0; rep < 16; rep++) {
				passes++;
				if (c == 0) {
					const uint8_t *p = stream, *end = stream + len;
					while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
						p++;
						sink++;
					}
					frames += NTEL;
				} else if (c == 1) {
					size_t off = 0;
					for (int i = 0; i < NTEL; i++) {
						sink += sm_crc16_arc(0, stream + off, tlen[i] - 6);
						off += tlen[i];
					}
					frames += NTEL;
				} else {
					sm_dsmr_framer_init(&f, false);
					size_t off = 0;
					while (off < len) {
						size_t chunk = len - off < 4096 ? len - off : 4096;
						size_t used = 0;
						while (used < chunk) {
							struct sm_frame fr;
							size_t u = 0;
							enum sm_err rc = sm_dsmr_framer_feed(&f, stream + off + used,
										chunk - used, &u, &fr, NULL);
							used += u;
							if (rc == SM_FRAME) {
								frames++;
								if (c == 3) {
									unsigned bad;
									if (sm_dsmr_decode(&fr, &set, &bad, NULL) !=
									    SM_READINGS)
										return 3;
									sink += set.n;
								}
							} else if (rc != SM_NEED_MORE) {
								return 4;
							}
						}
						off += chunk;
					}
				}
			}
			t1 = now_s();
		} while (t1 - t0 < secs);
		double mbs = (double)passes * (double)len / (t1 - t0) / 1e6;
		tps[c] = (double)frames / (t1 - t0);
		printf("  %-14s %12.0f telegrams/s %9.1f MB/s\n", names[c], tps[c], mbs);
	}
	printf("ratios: framer+decode is %.1fx slower than framer alone, framer %.1fx slower than CRC only, "
	       "CRC %.1fx slower than memchr\n",
	       tps[2] / tps[3], tps[1] / tps[2], tps[0] / tps[1]);
	printf("one core handles %.0f DSMR 5 meters at 1 telegram/s each\n", tps[3]);
	return sink == (size_t)-1;
}
