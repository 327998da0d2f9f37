/*
 * bench_sml.c - SML framer + decoder throughput on one core, against
 * baselines over the same bytes in the same run:
 *   memchr   a plain memchr(0x1B) pass (the cost of touching the bytes)
 *   crc      CRC-16/X.25 over every file (the framer's unavoidable work)
 *   framer   sm_sml_framer_feed in 4 KiB reads (file CRC checked)
 *   full     framer + sm_sml_decode (what the reader does per file)
 *   encode   sm_sml_encode of the reading set
 * Prints files/s, MB/s and the ratios.  Not part of make check:
 *   make bench-sml      or   ./tests/bench/bench_sml [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc.h"
#include "sml.h"

#define NFILES 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void num(struct sm_reading_set *s, uint8_t a, uint8_t c, uint8_t d, uint8_t e, int64_t raw,
		int8_t sc, enum sm_unit u)
{
	struct sm_obis o;
	memset(&o, 0, sizeof o);
	uint8_t v[6] = { a, 0, c, d, e, 255 };
	memcpy(o.v, v, 6);
	o.present = 0x3F;
	sm_set_add_number(s, &o, raw, sc, u, NULL, 0, 0);
}

static volatile size_t sink;

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	static struct sm_reading_set s, out;
	static struct sm_sml_framer f;
	sm_set_clear(&s);
	struct sm_obis id;
	memset(&id, 0, sizeof id);
	uint8_t idv[6] = { 129, 129, 199, 130, 3, 255 };
	memcpy(id.v, idv, 6);
	id.present = 0x3F;
	sm_set_add_text(&s, &id, "EMH", 3, 0);
	num(&s, 1, 1, 8, 0, 153385557, -1, SM_UNIT_WH);
	num(&s, 1, 1, 8, 1, 153385557, -1, SM_UNIT_WH);
	num(&s, 1, 1, 8, 2, 0, -1, SM_UNIT_WH);
	num(&s, 1, 2, 8, 0, 2198000, -1, SM_UNIT_WH);
	num(&s, 1, 16, 7, 0, -5635, -1, SM_UNIT_W);
	num(&s, 1, 36, 7, 0, 1200, -2, SM_UNIT_W);
	num(&s, 1, 56, 7, 0, 1300, -2, SM_UNIT_W);
	num(&s, 1, 76, 7, 0, 1400, -2, SM_UNIT_W);
	uint8_t one[SM_SML_MAX];
	size_t n1 = 0;
	if (sm_sml_encode(&s, NULL, one, sizeof one, &n1) != SM_OK)
		return 1;
	size_t total = n1 * NFILES;
	uint8_t *stream = malloc(total);
	if (stream == NULL)
		return 1;
	for (size_t i = 0; i < NFILES; i++)
		memcpy(stream + i * n1, one, n1);
	printf("SML file: %zu bytes, %zu readings; %d files per pass\n", n1, s.n, NFILES);

	const char *names[] = { "memchr", "crc", "framer", "full", "encode" };
	double rate[5];
	for (int cs = 0; cs < 5; cs++) {
		size_t passes = 0;
		double t0 = now_s(), t;
		do {
			if (cs == 0) {
				const uint8_t *p = stream;
				size_t left = total, hits = 0;
				const uint8_t *q;
				while ((q = memchr(p, 0x1B, left)) != NULL) {
					hits++;
					left -= (size_t)(q - p) + 1;
					p = q + 1;
				}
				sink = hits;
			} else if (cs == 1) {
				uint16_t c = 0;
				for (size_t i = 0; i < NFILES; i++)
					c ^= sm_crc16_x25(0, stream + i * n1, n1 - 2);
				sink = c;
			} else if (cs == 2 || cs == 3) {
				sm_sml_framer_init(&f);
				size_t off = 0, frames = 0;
				while (off < total) {
					size_t chunk = total - off < 4096 ? total - off : 4096;
					size_t pos = 0;
					while (pos < chunk) {
						size_t used;
						struct sm_frame fr;
						struct sm_diag d;
						enum sm_err rc = sm_sml_framer_feed(&f, stream + off + pos,
										    chunk - pos, &used, &fr, &d);
						pos += used;
						if (rc == SM_FRAME) {
							frames++;
							if (cs == 3) {
								unsigned bad, badc;
								sm_sml_decode(&fr, &out, &bad, &badc, &d);
							}
						}
					}
					off += chunk;
				}
				if (frames != NFILES) {
					fprintf(stderr, "framed %zu of %d\n", frames, NFILES);
					return 1;
				}
			} else {
				for (size_t i = 0; i < NFILES; i++) {
					size_t n;
					sm_sml_encode(&s, NULL, one, sizeof one, &n);
					sink = n;
				}
			}
			passes++;
			t = now_s() - t0;
		} while (t < secs);
		rate[cs] = (double)passes * NFILES / t;
		printf("%-7s %12.0f files/s %9.1f MB/s\n", names[cs], rate[cs], rate[cs] * (double)n1 / 1e6);
	}
	printf("framer/crc %.2fx slower; full/framer %.2fx slower; full/memchr %.1fx slower\n",
	       rate[1] / rate[2], rate[2] / rate[3], rate[0] / rate[3]);
	free(stream);
	return 0;
}
