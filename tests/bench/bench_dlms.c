/*
 * bench_dlms.c - DLMS data-notification decode throughput on one core,
 * against baselines over the same bytes in the same run:
 *   sum      a byte sum over every APDU (the cost of touching the bytes)
 *   skip     the A-XDR iterator stepping over each body (sm_axdr_next on
 *            the one top-level value: every header checked, no readings)
 *   decode   sm_dlms_decode (what the reader does per APDU after framing
 *            and decryption: walk, readings, names)
 *   encode   sm_dlms_encode of the decoded set (the simulator's cost)
 * for three shapes built by our encoder: the EVN flat list (12 readings),
 * the Kaifa list of structures (15 readings) and a large list (150
 * readings).  Prints APDUs/s, MB/s and the ratio to the byte sum.
 * Not part of make check:
 *   make bench-dlms      or   ./tests/bench/bench_dlms [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axdr.h"
#include "dlms.h"
#include "reading.h"

#define NAPDU 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct sm_reading_set set;

static void num(uint8_t c, uint8_t d, uint8_t e, int64_t raw, int8_t scale, enum sm_unit u)
{
	struct sm_obis o = sm_obis_make(1, 0, c, d, e, 255);
	if (sm_set_add_number(&set, &o, raw, scale, u, NULL, 0, 0) != SM_OK)
		exit(2);
}

static void text(uint8_t c, uint8_t d, const char *t)
{
	struct sm_obis o = sm_obis_make(0, 0, c, d, 0, 255);
	if (sm_set_add_text(&set, &o, t, strlen(t), 0) != SM_OK)
		exit(2);
}

static void build_austria(int i, bool kaifa)
{
	sm_set_clear(&set);
	if (kaifa) {
		text(96, 1, "1KFM0200000001");
		text(42, 0, "KFM1200200000001");
	}
	num(1, 8, 0, 1403036 + i, 0, SM_UNIT_WH);
	num(2, 8, 0, 1103174 + i, 0, SM_UNIT_WH);
	num(1, 7, 0, 2867 + i, 0, SM_UNIT_W);
	num(2, 7, 0, i, 0, SM_UNIT_W);
	for (int l = 0; l < 3; l++) {
		num((uint8_t)(32 + 20 * l), 7, 0, 2330 + l + i % 7, -1, SM_UNIT_V);
		num((uint8_t)(31 + 20 * l), 7, 0, 45 + l * 100 + i, -2, SM_UNIT_A);
	}
	if (kaifa) {
		num(3, 8, 0, 132305 + i, 0, SM_UNIT_VARH);
		num(4, 8, 0, 512810 + i, 0, SM_UNIT_VARH);
		num(13, 7, 0, 999, -3, SM_UNIT_NONE);
	} else {
		num(13, 7, 0, 999, -3, SM_UNIT_NONE);
		text(96, 1, "181220000009");
	}
	set.meter_time_ms = 1632728835000LL + i * 5000LL;
}

static void build_large(int i)
{
	sm_set_clear(&set);
	for (int t = 0; t < 50; t++) {
		num(1, 8, (uint8_t)t, 100000LL * t + i, 0, SM_UNIT_WH);
		num(2, 8, (uint8_t)t, 1000LL * t, 3, SM_UNIT_VARH);
		num(9, 7, (uint8_t)t, 7 * t + i, -1, SM_UNIT_VA);
	}
	set.meter_time_ms = 1700000000000LL + i * 1000LL;
}

static int bench(const char *title, void (*build)(int, bool), bool arg, enum sm_dlms_layout layout,
		 double secs)
{
	static uint8_t apdu[NAPDU][SM_DLMS_MAX_APDU];
	size_t alen[NAPDU], total = 0;
	static struct sm_reading_set out;
	static uint8_t enc[SM_DLMS_MAX_APDU * 2];

	for (int i = 0; i < NAPDU; i++) {
		build(i, arg);
		sm_set_finish(&set);
		if (sm_dlms_encode(&set, layout, 0x80000000u + (uint32_t)i, 120, apdu[i],
				   sizeof apdu[i], &alen[i]) != SM_OK)
			return 2;
		total += alen[i];
	}
	struct sm_diag d = { { 0 } };
	if (sm_dlms_decode(apdu[0], alen[0], &out, &d) != SM_READINGS)
		return 3;
	printf("%s: %d APDUs, %.0f bytes/APDU, %zu readings each, %.1f s per case\n", title, NAPDU,
	       (double)total / NAPDU, out.n, secs);

	const char *names[4] = { "sum", "skip", "decode", "encode" };
	double aps[4];
	volatile size_t sink = 0;
	for (int c = 0; c < 4; c++) {
		size_t count = 0;
		double t0 = now_s(), t1;
		do {
			for (int rep = 0; rep < 8; rep++) {
				for (int i = 0; i < NAPDU; i++) {
					if (c == 0) {
						unsigned s = 0;
						for (size_t k = 0; k < alen[i]; k++)
							s += apdu[i][k];
						sink += s;
					} else if (c == 1) {
						struct sm_axdr_it it;
						size_t off = apdu[i][5] == 0x0C ? 18 : 6;
						if (sm_axdr_init(&it, apdu[i] + off, alen[i] - off, 1) !=
							    SM_OK ||
						    sm_axdr_next(&it) != SM_OK)
							return 4;
						sink += (size_t)(sm_axdr_pos(&it) - apdu[i]);
					} else if (c == 2) {
						if (sm_dlms_decode(apdu[i], alen[i], &out, &d) != SM_READINGS)
							return 5;
						sink += out.n;
					} else {
						size_t n;
						if (sm_dlms_decode(apdu[i], alen[i], &out, &d) != SM_READINGS)
							return 5;
						if (sm_dlms_encode(&out, layout, 1, 120, enc, sizeof enc, &n) !=
						    SM_OK)
							return 6;
						sink += n;
					}
					count++;
				}
			}
			t1 = now_s();
		} while (t1 - t0 < secs);
		aps[c] = (double)count / (t1 - t0);
		if (c == 3) /* decode+encode measured: report encode alone */
			aps[c] = 1.0 / (1.0 / aps[3] - 1.0 / aps[2]);
		printf("  %-7s %12.0f APDUs/s %9.1f MB/s   %6.1fx the byte sum\n", names[c], aps[c],
		       aps[c] * (double)total / NAPDU / 1e6, aps[0] / aps[c]);
	}
	(void)sink;
	return 0;
}

static void build_flat(int i, bool kaifa) { build_austria(i, kaifa); }
static void build_big(int i, bool unused)
{
	(void)unused;
	build_large(i);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (secs <= 0)
		secs = 1.0;
	int rc = bench("EVN flat list", build_flat, false, SM_DLMS_FLAT, secs);
	if (rc == 0)
		rc = bench("Kaifa list of structures", build_flat, true, SM_DLMS_STRUCTS, secs);
	if (rc == 0)
		rc = bench("large list of structures", build_big, false, SM_DLMS_STRUCTS, secs);
	if (rc != 0)
		fprintf(stderr, "bench_dlms: setup or decode failed (%d)\n", rc);
	return rc;
}
