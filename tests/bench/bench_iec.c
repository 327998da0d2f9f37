/*
 * bench_iec.c - IEC 62056-21 framer + decoder throughput on one core,
 * against baselines over the same bytes in the same run:
 *   memchr   a plain memchr('\n') pass (the cost of touching the bytes)
 *   bcc      the BCC XOR over every message (the framer's unavoidable work)
 *   framer   sm_iec_framer_feed in 4 KiB reads (BCC checked)
 *   full     framer + sm_iec_decode (what the reader does per readout)
 * for two shapes built by our encoder: a mode C electricity readout (one
 * data set per line, about 60 lines) and a heat meter readout (dozens of
 * data sets on one line, '&' values).  Prints messages/s, MB/s and ratios.
 * Not part of make check:
 *   make bench-iec      or   ./tests/bench/bench_iec [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc.h"
#include "iec62056_21.h"
#include "reading.h"

#define NMSG 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t build_elec(char *out, size_t cap, int i)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, cap - n, "0-0:C.1.0*255(%08d)\r\nF.F(00000000)\r\n", 10000000 + i);
	n += (size_t)snprintf(out + n, cap - n, "1-0:0.9.1*255(1%05d)\r\n1-0:0.9.2*255(0250101)\r\n", i);
	for (int t = 0; t <= 4; t++) {
		n += (size_t)snprintf(out + n, cap - n, "1-0:1.8.%d*255(%07d.%03d*kWh)\r\n", t,
				      8000 + i + t, 375);
		n += (size_t)snprintf(out + n, cap - n, "1-0:2.8.%d*255(%07d.%03d*kWh)\r\n", t, t, 0);
	}
	n += (size_t)snprintf(out + n, cap - n, "1-0:1.6.0*255(02.468*kW)(2503100930)\r\n");
	for (int f = 1; f <= 12; f++) {
		n += (size_t)snprintf(out + n, cap - n, "1-0:1.8.0*%02d(%07d.%03d*kWh)\r\n", f, 7000 - f, f);
		n += (size_t)snprintf(out + n, cap - n, "1-0:1.6.0*%02d(03.%03d*kW)(24%02d102000)\r\n", f, f,
				      f);
		n += (size_t)snprintf(out + n, cap - n, "1-0:1.6.2*%02d()\r\n", f);
	}
	for (int l = 0; l < 3; l++)
		n += (size_t)snprintf(out + n, cap - n, "%d.7.0(%03d.%d*V)\r\n%d.7.0(%03d.%02d*A)\r\n",
				      32 + 20 * l, 230 + l, i % 10, 31 + 20 * l, 1 + l, i % 100);
	return n;
}

static size_t build_heat(char *out, size_t cap, int i)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, cap - n,
			      "6.8(%04d.055*MWh)6.26(01589.28*m3)9.21(00010213)6.26*01(01563.92*m3)"
			      "6.8*01(0028.086*MWh)F(0)9.20(64030874)6.35(60*m)6.6(0017.2*kW)"
			      "6.6*01(0017.2*kW)6.33(001.476*m3ph)9.4(0%02d*C&082*C)6.31(0030710*h)"
			      "6.32(0000194*h)9.22(R)9.6(000&00010213&0)9.7(20000)\r\n",
			      20 + i, 50 + i % 40);
	n += (size_t)snprintf(out + n, cap - n,
			      "6.32*01(0000194*h)6.36(01-01)6.33*01(001.476*m3ph)6.8.1()6.8.2()"
			      "9.4*01(088*C&082*C)6.36.1(2013-11-28)6.36.1*01(2013-11-28)"
			      "9.36(2017-01-18&01:36:47)9.24(0.6*m3ph)9.17(0)9.18()9.1(0&1&0&-&CV&3&2.14)"
			      "9.2(&&)0.0(00010213)");
	return n;
}

static int bench(const char *title, size_t (*build)(char *, size_t, int), double secs)
{
	static struct sm_reading_set set;
	static uint8_t stream[NMSG * 4096];
	static char lines[4096];
	static struct sm_iec_framer f;
	size_t len = 0, mstart[NMSG], mlen[NMSG];
	size_t readings = 0;

	for (int i = 0; i < NMSG; i++) {
		struct sm_iec_ident id;
		size_t n = 0, ln = build(lines, sizeof lines, i);
		if (sm_iec_parse_ident("/ISk5MT174-0001", 15, &id) != SM_OK ||
		    sm_iec_encode_ident(&id, stream + len, sizeof stream - len, &n) != SM_OK)
			return 2;
		len += n;
		mstart[i] = len;
		if (sm_iec_encode_data(lines, ln, true, stream + len, sizeof stream - len, &n) != SM_OK)
			return 2;
		mlen[i] = n;
		len += n;
	}
	printf("%s: %d messages, %zu bytes (%.0f bytes/message), %.1f s per case\n", title, NMSG, len,
	       (double)len / NMSG, secs);

	const char *names[4] = { "memchr", "bcc", "framer", "framer+decode" };
	double mps[4];
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
					frames += NMSG;
				} else if (c == 1) {
					for (int i = 0; i < NMSG; i++)
						sink += sm_bcc(0, stream + mstart[i] + 1, mlen[i] - 2);
					frames += NMSG;
				} else {
					sm_iec_framer_init(&f, false);
					size_t off = 0;
					while (off < len) {
						size_t chunk = len - off < 4096 ? len - off : 4096;
						size_t used = 0;
						while (used < chunk) {
							struct sm_frame fr;
							size_t u = 0;
							enum sm_err rc = sm_iec_framer_feed(&f, stream + off + used,
											    chunk - used, &u, &fr, NULL);
							used += u;
							if (rc == SM_FRAME) {
								if (fr.check != SM_CHECK_OK)
									return 5;
								frames++;
								if (c == 3) {
									unsigned bad;
									if (sm_iec_decode(&fr, &set, &bad, NULL, NULL) !=
									    SM_READINGS)
										return 3;
									sink += set.n;
									readings = set.n;
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
		mps[c] = (double)frames / (t1 - t0);
		printf("  %-14s %12.0f messages/s %9.1f MB/s\n", names[c], mps[c], mbs);
	}
	printf("  (%zu readings per message) ratios: framer+decode %.1fx slower than framer alone, "
	       "framer %.1fx slower than BCC only, BCC %.1fx slower than memchr\n",
	       readings, mps[2] / mps[3], mps[1] / mps[2], mps[0] / mps[1]);
	return sink == (size_t)-1;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0.0))
		secs = 1.0;
	int rc = bench("mode C electricity readout", build_elec, secs);
	if (rc == 0)
		rc = bench("heat meter readout (data sets on one line)", build_heat, secs);
	return rc;
}
