/*
 * gen_corpus_gcm.c - writes the seed corpus of fuzz_gcm (tests/fuzz/corpus/gcm)
 * from our own sealer with the fuzz target's fixed keys: Smarty frames with
 * every security control, a stream of frames with junk between them, cut
 * frames, malformed headers and BER lengths.  No fixture bytes are copied.
 *
 *   ./tests/fuzz/gen_corpus_gcm tests/fuzz/corpus/gcm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "dsmr.h"
#include "fuzz_gcm.h"
#include "gcm.h"

static const char *outdir;
static int nfiles;

static void put(const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

/* crc_mode 0 none, 1 right, 2 wrong */
static size_t telegram(char *t, size_t cap, int lines, int crc_mode)
{
	size_t n = (size_t)snprintf(t, cap, "/FUZ5\\253000000_D\r\n\r\n1-3:0.2.8(42)\r\n"
				    "0-0:1.0.0(240130102122W)\r\n");
	for (int i = 0; i < lines; i++)
		n += (size_t)snprintf(t + n, cap - n, "1-0:%d.8.0(%06d.%03d*kWh)\r\n", 1 + i % 4, i * 7,
				      i);
	n += (size_t)snprintf(t + n, cap - n, "0-1:24.1.0(003)\r\n0-1:24.2.1(240130100000W)(01234.567*m3)\r\n!");
	if (crc_mode) {
		unsigned crc = sm_crc16_arc(0, t, n) ^ (crc_mode == 2 ? 0x4444u : 0);
		n += (size_t)snprintf(t + n, cap - n, "%04X", crc);
	}
	n += (size_t)snprintf(t + n, cap - n, "\r\n");
	return n;
}

static size_t seal(struct sm_gcm *g, uint8_t sc, uint32_t fc, const void *p, size_t n, uint8_t *out,
		   size_t cap)
{
	size_t len = 0;
	if (sm_gcm_seal(g, fuzz_gcm_title, fc, sc, p, n, out, cap, &len) != SM_OK) {
		fprintf(stderr, "seal failed\n");
		exit(1);
	}
	return len;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	struct sm_gcm *g = NULL;
	if (sm_gcm_new(fuzz_gcm_key, fuzz_gcm_ak, &g) != SM_OK)
		return 1;
	static char t[8192];
	static uint8_t f[9000], s[20000];
	static const uint8_t scs[4] = { 0x20, 0x21, 0x30, 0x31 };
	char name[64];

	for (int k = 0; k < 4; k++) {
		size_t tn = telegram(t, sizeof t, 8, 1);
		size_t n = seal(g, scs[k], 0x100u + (unsigned)k, t, tn, f, sizeof f);
		snprintf(name, sizeof name, "smarty_sc%02x", scs[k]);
		put(name, f, n);
		/* wrong inner CRC, no inner CRC */
		tn = telegram(t, sizeof t, 3, 2);
		n = seal(g, scs[k], 0x200u + (unsigned)k, t, tn, f, sizeof f);
		snprintf(name, sizeof name, "smarty_sc%02x_bad_crc", scs[k]);
		put(name, f, n);
		tn = telegram(t, sizeof t, 1, 0);
		n = seal(g, scs[k], 0x300u + (unsigned)k, t, tn, f, sizeof f);
		snprintf(name, sizeof name, "smarty_sc%02x_no_crc", scs[k]);
		put(name, f, n);
		/* short APDUs: 1-byte and 81 lengths */
		n = seal(g, scs[k], 7, "/A5\r\n!\r\n", 8, f, sizeof f);
		snprintf(name, sizeof name, "short_sc%02x", scs[k]);
		put(name, f, n);
		n = seal(g, scs[k], 8, t, 150, f, sizeof f);
		snprintf(name, sizeof name, "ber81_sc%02x", scs[k]);
		put(name, f, n);
	}
	/* a big telegram */
	size_t tn = telegram(t, sizeof t, 150, 1);
	put("smarty_big", f, seal(g, 0x20, 99, t, tn, f, sizeof f));

	/* a stream: junk, frame, stray 0xDB, frame, plain telegram, frame cut */
	size_t sn = 0;
	static const uint8_t junk[] = { 0x00, 0xDB, 0x07, 0xDB, 0x08, 'x', 0xDB, 0xDB, 0x08, 1, 2, 3, 4,
					5, 6, 7, 8, 0x83, 0x10 };
	memcpy(s + sn, junk, sizeof junk);
	sn += sizeof junk;
	tn = telegram(t, sizeof t, 4, 1);
	sn += seal(g, 0x30, 1, t, tn, s + sn, sizeof s - sn);
	s[sn++] = 0xDB;
	sn += seal(g, 0x20, 2, t, tn, s + sn, sizeof s - sn);
	memcpy(s + sn, t, tn);
	sn += tn;
	size_t last = seal(g, 0x31, 3, t, tn, s + sn, sizeof s - sn);
	put("stream", s, sn + last);
	put("stream_cut", s, sn + last / 2);

	/* headers: every BER form, malformed ones, huge lengths */
	static const uint8_t h1[] = { 0xDB, 0x08, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 0x82, 0xFF, 0xFF,
				      0x30, 0, 0, 0, 1 };
	put("hdr_huge", h1, sizeof h1);
	static const uint8_t h2[] = { 0xDB, 0x08, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 0x83, 0, 0, 0x10,
				      0x20 };
	put("hdr_ber83", h2, sizeof h2);
	static const uint8_t h3[] = { 0xDB, 0x08, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 0x04, 0x20, 0,
				      0, 0 };
	put("hdr_len4", h3, sizeof h3);
	static const uint8_t h4[] = { 0xDB, 0x00, 0x10, 0x20, 0, 0, 0, 1 };
	put("hdr_empty_title", h4, sizeof h4);
	static const uint8_t h5[] = { 0xDB, 0x08, 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 0x81, 0x10,
				      0x30, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	put("hdr_tag_too_short", h5, sizeof h5);
	sm_gcm_free(g);
	printf("%d files written to %s\n", nfiles, outdir);
	return 0;
}
