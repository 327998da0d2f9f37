/*
 * gen_corpus_frames.c - write the seed corpora of fuzz_mbus and fuzz_hdlc:
 * APDUs (general-glo-ciphering headers with stand-in ciphertext, plain
 * data-notifications) wrapped by our own encoders, plus the damage the
 * framers must survive (bad checksums, bogus headers, the T210-D L
 * overflow, lost bytes, garbage, cut frames).  The mbus corpus also holds
 * inputs for the protocol pass of fuzz_mbus (its last byte picks framing
 * and keys): real notifications, sealed with the key that pass uses.
 *
 *   gen_corpus_frames mbus DIR      gen_corpus_frames hdlc DIR
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "dlms.h"
#include "gcm.h"
#include "hdlc.h"
#include "mbus.h"
#include "reading.h"

static const char *dir;
static int failed;

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		failed = 1;
	}
}

static size_t make_db(uint8_t *out, size_t ncipher, uint8_t sc, uint8_t seed)
{
	size_t l = 5 + ncipher, at = 0;
	out[at++] = 0xDB;
	out[at++] = 0x08;
	memcpy(out + at, "KFM\x10\x10\x00\x00\x23", 8);
	at += 8;
	if (l < 0x80) {
		out[at++] = (uint8_t)l;
	} else if (l < 0x100) {
		out[at++] = 0x81;
		out[at++] = (uint8_t)l;
	} else {
		out[at++] = 0x82;
		out[at++] = (uint8_t)(l >> 8);
		out[at++] = (uint8_t)l;
	}
	out[at++] = sc;
	out[at++] = 0;
	out[at++] = 0x29;
	out[at++] = 0x5B;
	out[at++] = seed;
	for (size_t i = 0; i < ncipher; i++)
		out[at++] = (uint8_t)(seed * 29u + i * 3u + (i >> 2));
	return at;
}

/* A data-notification in the Kaifa structure layout: two readings. */
static size_t make_0f(uint8_t *out)
{
	static const uint8_t n[] = {
		0x0F, 0x00, 0x29, 0xB2, 0xDC, 0x0C, 0x07, 0xE5, 0x07, 0x13, 0x01, 0x0F, 0x2E, 0x23, 0x00, 0xFF,
		0x88, 0x80, 0x02, 0x02, 0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x20, 0x07, 0x00, 0xFF, 0x12, 0x09,
		0x04, 0x02, 0x02, 0x0F, 0xFF, 0x16, 0x23, 0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x01, 0x08, 0x00,
		0xFF, 0x06, 0x00, 0x00, 0x23, 0x94, 0x02, 0x02, 0x0F, 0x00, 0x16, 0x1E,
	};
	memcpy(out, n, sizeof(n));
	return sizeof(n);
}

static uint8_t apdu[SM_DLMS_MAX_APDU];
static uint8_t wire[65536], w2[65536];

static void gen_mbus(void)
{
	size_t n, wn, x;

	n = make_db(apdu, 243, 0x20, 1); /* 260 bytes, 81 F8: EVN style */
	sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn);
	put("evn_2seg", wire, wn);

	n = make_db(apdu, 260, 0x21, 2); /* 82 01 09: TINETZ style */
	sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn);
	put("tinetz_2seg", wire, wn);

	n = make_db(apdu, 600, 0x30, 3);
	sm_mbus_encode_apdu(apdu, n, 100, wire, sizeof(wire), &wn);
	put("db_7seg_tag", wire, wn);

	n = make_db(apdu, 30, 0x20, 4);
	sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn);
	put("db_single", wire, wn);

	n = make_0f(apdu);
	sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn);
	put("plain_single", wire, wn);
	sm_mbus_encode_apdu(apdu, n, 7, wire, sizeof(wire), &wn);
	put("plain_9seg", wire, wn);

	n = make_db(apdu, 1200, 0x21, 5);
	sm_mbus_encode_apdu(apdu, n, 50, wire, sizeof(wire), &wn);
	put("db_counter_wrap", wire, wn);

	/* the T210-D: 257 bytes under 68 01 01 68, then 68 0D 0D 68 */
	n = make_db(apdu, 243, 0x20, 6);
	size_t at = 0;
	wire[at++] = 0x68;
	wire[at++] = 0x01;
	wire[at++] = 0x01;
	wire[at++] = 0x68;
	wire[at++] = 0x53;
	wire[at++] = 0xFF;
	wire[at++] = 0x00;
	wire[at++] = 0x01;
	wire[at++] = 0x67;
	memcpy(wire + at, apdu, 252);
	at += 252;
	wire[at] = sm_mbus_sum(0, wire + 4, at - 4);
	at++;
	wire[at++] = 0x16;
	uint8_t seg[16] = {0x01, 0x67};
	memcpy(seg + 2, apdu + 252, 8);
	sm_mbus_encode_frame(0x53, 0xFF, 0x11, seg, 10, wire + at, sizeof(wire) - at, &x);
	at += x;
	put("t210d_l_overflow", wire, at);

	/* bogus headers before and after a good APDU */
	static const uint8_t bogus[] = {0x68, 0x00, 0x00, 0x68, 0x53, 0xFF, 0x10, 0x01, 0x67,
					0x68, 0x01, 0x01, 0x68, 0x53, 0xFF, 0x00};
	n = make_db(apdu, 243, 0x20, 7);
	memcpy(w2, bogus, sizeof(bogus));
	sm_mbus_encode_apdu(apdu, n, 245, w2 + sizeof(bogus), sizeof(w2) - sizeof(bogus), &wn);
	memcpy(w2 + sizeof(bogus) + wn, bogus, 6);
	put("bogus_headers", w2, sizeof(bogus) + wn + 6);

	/* a bad checksum, a missing stop byte, then a good APDU */
	sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn);
	memcpy(w2, wire, wn);
	w2[40] ^= 0x20;
	memcpy(w2 + wn, wire, wn);
	w2[wn + 255] = 0x00;
	memcpy(w2 + 2 * wn, wire, wn);
	put("bad_checksum_stop", w2, 3 * wn);

	/* bytes lost inside the first frame, then the next APDU */
	memcpy(w2, wire, 100);
	memcpy(w2 + 100, wire + 130, wn - 130);
	memcpy(w2 + wn - 30, wire, wn);
	put("lost_bytes", w2, 2 * wn - 30);

	/* garbage between and inside the APDU's frames */
	static const uint8_t junk[] = {0xE5, 0x10, 0x5B, 0xFE, 0x59, 0x16, 0x68, 0x68, 0xFA, 0xFA, 0x68, 0x08};
	at = 0;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire, 256);
	at += 256;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire + 256, wn - 256);
	at += wn - 256;
	put("garbage_between", w2, at);

	/* the last segment missing; a continuation without its first */
	memcpy(w2, wire, 256);
	memcpy(w2 + 256, wire, wn);
	memcpy(w2 + 256 + wn, wire + 256, wn - 256);
	put("missing_segments", w2, 2 * wn);

	/* cut in the middle */
	put("cut_frame", wire, 200);

	/* a plain M-Bus frame (CI 72) */
	static const uint8_t rsp[] = {0x01, 0x67, 0x78, 0x56, 0x34, 0x12, 0x24, 0x40, 0x01, 0x07};
	sm_mbus_encode_frame(0x08, 0x05, 0x72, rsp, sizeof(rsp), wire, sizeof(wire), &wn);
	put("other_ci", wire, wn);
}

/* Seeds for fuzz_mbus's protocol pass: stream + a selector byte. */
static void put_sel(const char *name, const uint8_t *p, size_t n, uint8_t sel)
{
	memcpy(w2, p, n);
	w2[n] = sel;
	put(name, w2, n + 1);
}

static void gen_proto(void)
{
	static uint8_t key[16], akey[16];
	static const uint8_t title[8] = {'S', 'A', 'G', 'Y', 0x05, 0xE8, 0x94, 0xB6};
	memset(key, 0x5A, sizeof(key));
	memset(akey, 0xA5, sizeof(akey));
	static struct sm_reading_set set;
	sm_set_clear(&set);
	struct sm_obis o = sm_obis_make(1, 0, 1, 8, 0, 255);
	sm_set_add_number(&set, &o, 4752026, 0, SM_UNIT_WH, NULL, 0, 0);
	o = sm_obis_make(1, 0, 32, 7, 0, 255);
	sm_set_add_number(&set, &o, 2334, -1, SM_UNIT_V, NULL, 0, 0);
	o = sm_obis_make(0, 0, 96, 1, 0, 255);
	sm_set_add_text(&set, &o, "178210128502", 12, 0);
	set.meter_time_ms = 1731678345000LL;
	sm_set_finish(&set);
	uint8_t plain[512], sealed[600];
	size_t pn = 0, sn = 0, wn = 0;
	struct sm_gcm *g = NULL, *ga = NULL;
	if (sm_dlms_encode(&set, SM_DLMS_FLAT, 0x80000001u, 60, plain, sizeof(plain), &pn) != SM_OK ||
	    sm_gcm_new(key, NULL, &g) != SM_OK || sm_gcm_new(key, akey, &ga) != SM_OK) {
		failed = 1;
		return;
	}
	/* selector: value % 3 = framing (0 mbus, 1 hdlc, 2 raw); 0x10 Key; 0x20 AuthKey */
	put_sel("proto_raw_plain", plain, pn, 0x02);
	sm_gcm_seal(g, title, 7, 0x20, plain, pn, sealed, sizeof(sealed), &sn);
	size_t at = 0;
	memcpy(wire, plain, pn);
	at += pn;
	memcpy(wire + at, sealed, sn);
	at += sn;
	put_sel("proto_raw_plain_and_sealed", wire, at, 0x12);
	put_sel("proto_raw_sealed_no_key", sealed, sn, 0x02);
	sm_mbus_encode_apdu(sealed, sn, 245, wire, sizeof(wire), &wn);
	put_sel("proto_mbus_sealed", wire, wn, 0x12);
	sm_hdlc_encode_apdu(sealed, sn, 120, wire, sizeof(wire), &wn);
	put_sel("proto_hdlc_sealed", wire, wn, 0x10);
	sm_gcm_seal(ga, title, 8, 0x30, plain, pn, sealed, sizeof(sealed), &sn);
	put_sel("proto_raw_tagged", sealed, sn, 0x32);
	sm_mbus_encode_apdu(sealed, sn, 100, wire, sizeof(wire), &wn);
	put_sel("proto_mbus_tagged", wire, wn, 0x30);
	sm_dlms_encode(&set, SM_DLMS_STRUCTS, 0x80000001u, 60, plain, sizeof(plain), &pn);
	sm_hdlc_encode_apdu(plain, pn, 2000, wire, sizeof(wire), &wn);
	put_sel("proto_hdlc_plain_structs", wire, wn, 0x01);
	sm_gcm_free(g);
	sm_gcm_free(ga);
}

static void gen_hdlc(void)
{
	size_t n, wn, x;
	static const uint8_t addr[] = {0x41, 0x08, 0x83};

	n = make_0f(apdu);
	sm_hdlc_encode_apdu(apdu, n, 2000, wire, sizeof(wire), &wn);
	put("plain_single", wire, wn);
	sm_hdlc_encode_apdu(apdu, n, 20, wire, sizeof(wire), &wn);
	put("plain_4seg", wire, wn);

	n = make_db(apdu, 300, 0x30, 1);
	sm_hdlc_encode_apdu(apdu, n, 120, wire, sizeof(wire), &wn);
	put("db_3seg", wire, wn);

	n = make_db(apdu, 3000, 0x20, 2);
	sm_hdlc_encode_apdu(apdu, n, 1000, wire, sizeof(wire), &wn);
	put("db_big", wire, wn);

	/* no LLC, shared and doubled flags, a frame without information */
	n = make_0f(apdu);
	size_t at = 0;
	sm_hdlc_encode_frame(true, addr, 3, 0x13, apdu, 30, wire + at, sizeof(wire) - at, &x);
	at += x - 1;
	sm_hdlc_encode_frame(false, addr, 3, 0x13, apdu + 30, n - 30, wire + at, sizeof(wire) - at, &x);
	at += x;
	wire[at++] = 0x7E;
	sm_hdlc_encode_frame(false, addr, 3, 0x93, NULL, 0, wire + at, sizeof(wire) - at, &x);
	at += x;
	put("no_llc_flags", wire, at);

	/* bad HCS, bad FCS, missing closing flag, then good */
	n = make_db(apdu, 200, 0x21, 3);
	sm_hdlc_encode_apdu(apdu, n, 2000, wire, sizeof(wire), &wn);
	memcpy(w2, wire, wn);
	w2[5] ^= 0x02;
	memcpy(w2 + wn, wire, wn);
	w2[wn + 50] ^= 0x01;
	memcpy(w2 + 2 * wn, wire, wn);
	w2[3 * wn - 1] = 0x55;
	memcpy(w2 + 3 * wn, wire, wn);
	put("bad_hcs_fcs_flag", w2, 4 * wn);

	/* garbage, missing segments, a cut frame */
	static const uint8_t junk[] = {0x7E, 0x7E, 0xA0, 0x7E, 0xA8, 0x01, 0x7E, 0xA0, 0x20, 0x41, 0x03,
				       0x13, 0x00, 0x7E, 0x00, 0xFF};
	sm_hdlc_encode_apdu(apdu, n, 100, wire, sizeof(wire), &wn);
	at = 0;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire, 110);
	at += 110;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire, wn);
	at += wn;
	memcpy(w2 + at, wire + 112, wn - 112);
	at += wn - 112;
	memcpy(w2 + at, wire, 60);
	at += 60;
	put("garbage_missing_cut", w2, at);

	/* four-byte addresses */
	static const uint8_t a4[] = {0x00, 0x02, 0x00, 0x23, 0x00, 0x02, 0x04, 0x01};
	static uint8_t info[300] = {0xE6, 0xE7, 0x00};
	n = make_0f(info + 3);
	sm_hdlc_encode_frame(false, a4, sizeof(a4), 0x13, info, n + 3, wire, sizeof(wire), &wn);
	put("addr_4_4", wire, wn);
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "mbus") != 0 && strcmp(argv[1], "hdlc") != 0)) {
		fprintf(stderr, "usage: %s mbus|hdlc DIR\n", argv[0]);
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "mbus") == 0) {
		gen_mbus();
		gen_proto();
	}
	else
		gen_hdlc();
	return failed;
}
