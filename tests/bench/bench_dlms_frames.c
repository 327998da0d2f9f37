/*
 * bench_dlms_frames.c - DLMS push frames per second on one core: the
 * framers (M-Bus long frames with segment reassembly, HDLC, raw APDUs),
 * alone and in the whole "dlms" protocol (framing + AES-128-GCM decryption
 * + data-notification decoding), against baselines over the same bytes in
 * the same run:
 *   sum        the M-Bus checksum over every byte (the cost of touching them)
 *   gcm        sm_gcm_open of each APDU, no framing (the decryption alone)
 *   decode     sm_dlms_decode of each plaintext (the decoder alone)
 *   framer     sm_mbus_dlms_feed / sm_hdlc_feed / the raw stream in 4 KiB reads
 *   protocol   sm_proto_dlms feed: framer + decrypt + decode, as the reader runs it
 * for Austrian-style APDUs (EVN flat list, 260 bytes, security control 0x20,
 * two M-Bus frames of 245 + 15 bytes), Kaifa-style (structure list, SC 0x21)
 * and an authenticated one (SC 0x30 with AuthKey, 12-byte tag), each as
 * M-Bus, HDLC (one frame) and raw.  Built by our own encoders.  Prints
 * APDUs/s, MB/s and the ratios.  Not part of make check:
 *   make bench-frames   or   ./tests/bench/bench_dlms_frames [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crc.h"
#include "dlms.h"
#include "gcm.h"
#include "hdlc.h"
#include "mbus.h"
#include "proto.h"
#include "reading.h"

#define NMSG 64

static const uint8_t KEY[16] = {0x36, 0xC6, 0x66, 0x39, 0xE4, 0x8A, 0x8C, 0xA4,
				0xD6, 0xBC, 0x8B, 0x28, 0x2A, 0x79, 0x3B, 0xBB};
static const uint8_t AKEY[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The EVN example's readings, varied per message. */
static void build_set(struct sm_reading_set *s, int i)
{
	static const struct {
		uint8_t c, d;
		int8_t scale;
		enum sm_unit u;
	} q[] = {
		{1, 8, 0, SM_UNIT_WH},  {2, 8, 0, SM_UNIT_WH},  {1, 7, 0, SM_UNIT_W},
		{2, 7, 0, SM_UNIT_W},   {32, 7, -1, SM_UNIT_V}, {52, 7, -1, SM_UNIT_V},
		{72, 7, -1, SM_UNIT_V}, {31, 7, -2, SM_UNIT_A}, {51, 7, -2, SM_UNIT_A},
		{71, 7, -2, SM_UNIT_A}, {13, 7, -3, SM_UNIT_NONE},
	};
	sm_set_clear(s);
	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		struct sm_obis o = sm_obis_make(1, 0, q[k].c, q[k].d, 0, 255);
		sm_set_add_number(s, &o, 1000 + i * 37 + (int64_t)k * 1111, q[k].scale, q[k].u, NULL, 0, 0);
	}
	struct sm_obis id = sm_obis_make(0, 0, 96, 1, 0, 255);
	sm_set_add_text(s, &id, "181220000009", 12, 0);
	s->meter_time_ms = 1632728835000LL + (int64_t)i * 5000;
	sm_set_finish(s);
}

struct shape {
	const char *title;
	enum sm_dlms_layout layout;
	uint8_t sc;
};

static uint8_t plain[NMSG][SM_DLMS_MAX_APDU];
static size_t plain_n[NMSG];
static uint8_t apdu[NMSG][SM_DLMS_MAX_APDU];
static size_t apdu_n[NMSG];
static uint8_t stream[3][NMSG * 1024];
static size_t stream_n[3];
static uint8_t out_plain[SM_DLMS_MAX_APDU];

static int bench(const struct shape *sh, double secs)
{
	static struct sm_reading_set set;
	static struct sm_mbus_dlms mb;
	static struct sm_hdlc hd;
	struct sm_gcm *g = NULL;
	bool tag = (sh->sc & 0x10) != 0;

	if (sm_gcm_new(KEY, tag ? AKEY : NULL, &g) != SM_OK)
		return 2;
	memset(stream_n, 0, sizeof(stream_n));
	for (int i = 0; i < NMSG; i++) {
		uint8_t title[8] = {'K', 'F', 'M', 0x67, 0x50, 0x00, 0x00, 0x09};
		size_t w = 0;
		build_set(&set, i);
		if (sm_dlms_encode(&set, sh->layout, 0x80000000u + (uint32_t)i, 120, plain[i],
				   sizeof(plain[i]), &plain_n[i]) != SM_OK ||
		    sm_gcm_seal(g, title, 0x23 + (uint32_t)i, sh->sc, plain[i], plain_n[i], apdu[i],
				sizeof(apdu[i]), &apdu_n[i]) != SM_OK)
			return 2;
		if (sm_mbus_encode_apdu(apdu[i], apdu_n[i], 245, stream[0] + stream_n[0],
					sizeof(stream[0]) - stream_n[0], &w) != SM_OK)
			return 2;
		stream_n[0] += w;
		if (sm_hdlc_encode_apdu(apdu[i], apdu_n[i], 2000, stream[1] + stream_n[1],
					sizeof(stream[1]) - stream_n[1], &w) != SM_OK)
			return 2;
		stream_n[1] += w;
		memcpy(stream[2] + stream_n[2], apdu[i], apdu_n[i]);
		stream_n[2] += apdu_n[i];
	}
	printf("%s: %d APDUs of %zu bytes (plaintext %zu), M-Bus %zu bytes/APDU, HDLC %zu, "
	       "%.1f s per case\n", sh->title, NMSG, apdu_n[0], plain_n[0], stream_n[0] / NMSG,
	       stream_n[1] / NMSG, secs);

	enum { C_SUM, C_GCM, C_DECODE, C_MBUS, C_HDLC, C_RAWP, C_MBUSP, C_HDLCP, C_N };
	static const char *names[C_N] = {"sum (M-Bus bytes)", "gcm only",         "decode only",
					  "M-Bus framer",      "HDLC framer",      "raw protocol",
					  "M-Bus protocol",    "HDLC protocol"};
	double aps[C_N];
	volatile size_t sink = 0;
	const struct sm_proto *p = &sm_proto_dlms;
	void *st = calloc(1, p->state_size);
	if (st == NULL)
		return 2;

	for (int c = 0; c < C_N; c++) {
		size_t apdus = 0, bytes = 0;
		const char fr[] = {'r', 'm', 'h'};
		int which = c == C_RAWP ? 2 : c == C_HDLC || c == C_HDLCP ? 1 : 0;
		struct sm_meter_cfg cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.framing = fr[c == C_RAWP ? 0 : c == C_HDLCP ? 2 : 1];
		cfg.has_key = true;
		memcpy(cfg.key, KEY, 16);
		cfg.has_auth_key = tag;
		memcpy(cfg.auth_key, AKEY, 16);
		if (c >= C_RAWP) {
			struct sm_diag d = { { 0 } };
			if (p->init(st, &cfg, &d) != SM_OK)
				return 2;
		}
		double t0 = now_s(), t1;
		do {
			for (int rep = 0; rep < 8; rep++) {
				if (c == C_SUM) {
					sink += sm_mbus_sum(0, stream[0], stream_n[0]);
					apdus += NMSG;
					bytes += stream_n[0];
				} else if (c == C_GCM) {
					for (int i = 0; i < NMSG; i++) {
						struct sm_gcm_info gi;
						size_t pn = 0;
						if (sm_gcm_open(g, apdu[i], apdu_n[i], out_plain, sizeof(out_plain), &pn,
								&gi, NULL) != SM_OK)
							return 3;
						sink += pn;
						bytes += apdu_n[i];
					}
					apdus += NMSG;
				} else if (c == C_DECODE) {
					for (int i = 0; i < NMSG; i++) {
						if (sm_dlms_decode(plain[i], plain_n[i], &set, NULL) != SM_READINGS)
							return 3;
						sink += set.n;
						bytes += plain_n[i];
					}
					apdus += NMSG;
				} else {
					size_t len = stream_n[which], off = 0;
					const uint8_t *s = stream[which];
					if (c == C_MBUS)
						sm_mbus_dlms_init(&mb);
					else if (c == C_HDLC)
						sm_hdlc_init(&hd);
					else
						p->reset(st);
					while (off < len) {
						size_t chunk = len - off < 4096 ? len - off : 4096, used = 0;
						while (used < chunk) {
							struct sm_frame f;
							struct sm_feed_info info;
							size_t u = 0;
							enum sm_err rc;
							if (c == C_MBUS)
								rc = sm_mbus_dlms_feed(&mb, s + off + used, chunk - used, &u,
										       &f, NULL);
							else if (c == C_HDLC)
								rc = sm_hdlc_feed(&hd, s + off + used, chunk - used, &u, &f,
										  NULL);
							else
								rc = p->feed(st, s + off + used, chunk - used, &u, &set,
									     &info);
							used += u;
							if (rc == SM_FRAME || rc == SM_READINGS)
								apdus++;
							else if (rc != SM_NEED_MORE)
								return 4;
						}
						off += chunk;
					}
					if (c >= C_RAWP) {
						struct sm_feed_info info;
						if (p->idle(st, &set, &info) == SM_READINGS)
							apdus++;
					}
					bytes += len;
				}
			}
			t1 = now_s();
		} while (t1 - t0 < secs);
		if (c >= C_RAWP)
			p->fini(st);
		if (apdus % NMSG != 0) {
			fprintf(stderr, "%s: %zu APDUs, not a multiple of %d\n", names[c], apdus, NMSG);
			return 5;
		}
		aps[c] = (double)apdus / (t1 - t0);
		printf("  %-18s %12.0f APDUs/s %9.1f MB/s\n", names[c], aps[c], (double)bytes / (t1 - t0) / 1e6);
	}
	printf("  ratios: M-Bus protocol = %.2fx the time of gcm + decode alone; M-Bus framer %.1f%% "
	       "of it; HDLC framer %.1f%%\n",
	       (1.0 / aps[C_MBUSP]) / (1.0 / aps[C_GCM] + 1.0 / aps[C_DECODE]),
	       100.0 * (1.0 / aps[C_MBUS]) / (1.0 / aps[C_MBUSP]),
	       100.0 * (1.0 / aps[C_HDLC]) / (1.0 / aps[C_HDLCP]));
	free(st);
	sm_gcm_free(g);
	return sink == (size_t)-1;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0.0))
		secs = 1.0;
	static const struct shape shapes[] = {
		{"EVN flat list, SC 0x20 (no tag)", SM_DLMS_FLAT, 0x20},
		{"Kaifa structure list, SC 0x21 (no tag)", SM_DLMS_STRUCTS, 0x21},
		{"EVN flat list, SC 0x30 (AuthKey, 12-byte tag)", SM_DLMS_FLAT, 0x30},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && rc == 0; i++)
		rc = bench(&shapes[i], secs);
	return rc;
}
