/*
 * gen_corpus_dlms.c - writes the DLMS APDU fuzz seed corpus
 * (tests/fuzz/corpus/dlms) from our own encoder and A-XDR writer: no
 * fixture bytes are copied.  The shapes follow the wire notes (EVN flat
 * list, Kaifa list of structures) plus the other layouts and value types
 * the decoder handles, one damaged copy of each kind.  Files named
 * regress_* in that directory are inputs the fuzzer found (kept as
 * regression cases; the generator does not write them).
 *
 *   ./tests/fuzz/gen_corpus_dlms tests/fuzz/corpus/dlms
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"
#include "dlms.h"
#include "reading.h"

static const char *outdir;
static int nfiles;
static uint8_t buf[65536];
static size_t len;
static struct sm_reading_set set;

static void put(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

static void num(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, int64_t raw, int8_t scale,
		enum sm_unit unit, const char *unit_text)
{
	struct sm_obis o = sm_obis_make(a, b, c, d, e, 255);
	if (sm_set_add_number(&set, &o, raw, scale, unit, unit_text,
			      unit_text ? strlen(unit_text) : 0, 0) != SM_OK)
		exit(2);
}

static void text(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, const char *t)
{
	struct sm_obis o = sm_obis_make(a, b, c, d, e, 255);
	if (sm_set_add_text(&set, &o, t, strlen(t), 0) != SM_OK)
		exit(2);
}

static void encode(enum sm_dlms_layout layout, uint32_t invoke, int off)
{
	sm_set_finish(&set);
	if (sm_dlms_encode(&set, layout, invoke, off, buf, sizeof buf, &len) != SM_OK)
		exit(3);
}

/* The Austrian customer interface set (values made up). */
static void austria(int i, bool kaifa_ids)
{
	sm_set_clear(&set);
	if (kaifa_ids) {
		text(0, 0, 96, 1, 0, "1KFM0200000001");
		text(0, 0, 42, 0, 0, "KFM1200200000001");
	}
	num(1, 0, 1, 8, 0, 1000000 + i, 0, SM_UNIT_WH, NULL);
	num(1, 0, 2, 8, 0, 20000 + i, 0, SM_UNIT_WH, NULL);
	num(1, 0, 1, 7, 0, 1500 + i, 0, SM_UNIT_W, NULL);
	num(1, 0, 2, 7, 0, 0, 0, SM_UNIT_W, NULL);
	for (int l = 0; l < 3; l++) {
		num(1, 0, (uint8_t)(32 + 20 * l), 7, 0, 2300 + l + i, -1, SM_UNIT_V, NULL);
		num(1, 0, (uint8_t)(31 + 20 * l), 7, 0, 100 * l + i, -2, SM_UNIT_A, NULL);
	}
	num(1, 0, 13, 7, 0, 998, -3, SM_UNIT_NONE, NULL);
	if (kaifa_ids) {
		num(1, 0, 3, 8, 0, 12345, 0, SM_UNIT_VARH, NULL);
		num(1, 0, 4, 8, 0, 54321, 0, SM_UNIT_VARH, NULL);
	} else {
		text(0, 0, 96, 1, 0, "181220000001");
	}
	set.meter_time_ms = 1632728835000LL + i * 5000LL;
}

/* Raw APDU with the writer: header, then the body. */
static struct sm_axdr_w w;

static void begin(bool with_time)
{
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_byte(&w, 0x0F);
	sm_axdr_put_raw(&w, "\x00\x00\x10\x01", 4);
	if (with_time) {
		struct sm_axdr_datetime dt;
		uint8_t b[12];
		sm_axdr_datetime_from_ms(1700000000000LL, 60, &dt);
		sm_axdr_datetime_put(&dt, b);
		sm_axdr_put_byte(&w, 0x0C);
		sm_axdr_put_raw(&w, b, 12);
	} else {
		sm_axdr_put_byte(&w, 0x00);
	}
}

static void end(const char *name)
{
	if (sm_axdr_w_status(&w) != SM_OK)
		exit(4);
	len = w.len;
	put(name);
}

static void obis(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e)
{
	uint8_t o[6] = { a, b, c, d, e, 255 };
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, o, 6);
}

static void su(int8_t s, uint8_t u)
{
	sm_axdr_put_struct(&w, 2);
	sm_axdr_put_i8(&w, s);
	sm_axdr_put_enum(&w, u);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];

	/* the two real layouts, from our encoder */
	austria(0, false);
	encode(SM_DLMS_FLAT, 0x8006870E, 120);
	put("evn_flat");
	austria(1, true);
	encode(SM_DLMS_STRUCTS, 0x0029B2DC, 120);
	put("kaifa_structs");
	austria(2, true);
	encode(SM_DLMS_FLAT, 7, 60);
	put("kaifa_ids_flat");
	austria(3, false);
	set.meter_time_ms = 0;
	encode(SM_DLMS_STRUCTS, 8, 0);
	put("structs_no_time");

	/* damaged copies: cut, a count raised, a length raised */
	austria(4, false);
	encode(SM_DLMS_FLAT, 9, 120);
	len -= 7;
	put("evn_flat_cut");
	austria(5, true);
	encode(SM_DLMS_STRUCTS, 10, 120);
	buf[19] = 0x20;
	put("kaifa_count_raised");
	austria(6, true);
	encode(SM_DLMS_STRUCTS, 11, 120);
	buf[len - 15] = 0x81;
	put("kaifa_length_ber");

	/* a large set: many channels and tariffs, units of every kind */
	sm_set_clear(&set);
	for (int t = 0; t < 60; t++) {
		num(1, 0, 1, 8, (uint8_t)t, 100000 * t, 0, SM_UNIT_WH, NULL);
		num(1, 0, 2, 8, (uint8_t)t, -t, 3, SM_UNIT_VARH, NULL);
		num(1, 0, 9, 7, (uint8_t)t, 7 * t, -1, SM_UNIT_VA, NULL);
		num(1, 0, 99, 1, (uint8_t)t, t, 0, SM_UNIT_OTHER, t % 2 ? "h" : "dlms200");
	}
	num(0, 1, 24, 1, 0, 3, 0, SM_UNIT_NONE, NULL);
	num(0, 1, 24, 2, 1, 12345678, -3, SM_UNIT_M3, NULL);
	num(0, 2, 24, 1, 0, 7, 0, SM_UNIT_NONE, NULL);
	num(0, 2, 24, 2, 1, 999, -3, SM_UNIT_M3, NULL);
	num(0, 0, 96, 9, 0, 215, -1, SM_UNIT_CELSIUS, NULL);
	num(1, 0, 14, 7, 0, 4998, -2, SM_UNIT_HZ, NULL);
	num(0, 0, 96, 8, 0, 3600, 0, SM_UNIT_S, NULL);
	text(0, 0, 96, 13, 0, "Z\xC3\xA4hlerstand");
	set.meter_time_ms = 1711846800000LL;
	encode(SM_DLMS_STRUCTS, 12, 120);
	put("large_structs");
	encode(SM_DLMS_FLAT, 12, 60);
	put("large_flat");

	/* every integer width, with scaler/unit */
	begin(false);
	sm_axdr_put_array(&w, 11);
	for (int i = 0; i < 11; i++) {
		sm_axdr_put_struct(&w, 3);
		obis(1, 0, 1, 8, (uint8_t)i);
		switch (i) {
		case 0: sm_axdr_put_i8(&w, -5); break;
		case 1: sm_axdr_put_u8(&w, 250); break;
		case 2: sm_axdr_put_i16(&w, -300); break;
		case 3: sm_axdr_put_u16(&w, 65000); break;
		case 4: sm_axdr_put_i32(&w, -70000); break;
		case 5: sm_axdr_put_u32(&w, 4000000000u); break;
		case 6: sm_axdr_put_i64(&w, -5000000000LL); break;
		case 7: sm_axdr_put_u64(&w, 18000000000000000000ull); break;
		case 8: sm_axdr_put_enum(&w, 4); break;
		case 9: sm_axdr_put_bool(&w, true); break;
		default: sm_axdr_put_bcd(&w, 59); break;
		}
		su((int8_t)(i - 5), 30);
	}
	end("integer_widths");

	/* floats, strings, dates, bit-strings, null */
	begin(true);
	struct sm_axdr_datetime dt;
	sm_axdr_datetime_from_ms(1690000000000LL, 120, &dt);
	sm_axdr_put_struct(&w, 22);
	obis(1, 0, 32, 7, 0);
	sm_axdr_put_float32(&w, 230.1f);
	su(0, 35);
	obis(1, 0, 14, 7, 0);
	sm_axdr_put_float64(&w, 49.99);
	su(0, 44);
	obis(0, 0, 96, 1, 1);
	sm_axdr_put_string(&w, SM_AXDR_VISIBLE, "ISK1030000001", 13);
	obis(0, 0, 96, 1, 2);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "\x00\x01\xFE\xFF", 4);
	obis(0, 0, 96, 1, 3);
	sm_axdr_put_string(&w, SM_AXDR_UTF8, "Z\xC3\xA4hler", 7);
	obis(0, 0, 0, 1, 2);
	sm_axdr_put_datetime(&w, &dt, false);
	obis(0, 0, 0, 1, 3);
	sm_axdr_put_date(&w, &dt);
	obis(0, 0, 0, 1, 4);
	sm_axdr_put_time(&w, &dt);
	obis(0, 0, 96, 5, 0);
	sm_axdr_put_bits(&w, (const uint8_t *)"\xA5\x80", 9);
	obis(0, 0, 96, 13, 0);
	sm_axdr_put_null(&w);
	end("value_types");

	/* Nordic-style array of structures without scaler/unit, a clock
	 * object, no notification date-time, nested arrays */
	begin(false);
	sm_axdr_put_array(&w, 4);
	sm_axdr_put_struct(&w, 2);
	obis(0, 0, 1, 0, 0);
	sm_axdr_put_datetime(&w, &dt, true);
	sm_axdr_put_struct(&w, 2);
	obis(1, 0, 1, 7, 0);
	sm_axdr_put_u32(&w, 2500);
	sm_axdr_put_struct(&w, 2);
	obis(1, 1, 0, 2, 129);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "AIDON_V0001", 11);
	sm_axdr_put_array(&w, 1);
	sm_axdr_put_array(&w, 1);
	sm_axdr_put_struct(&w, 3);
	obis(1, 0, 21, 7, 0);
	sm_axdr_put_u16(&w, 800);
	sm_axdr_put_struct(&w, 2);
	sm_axdr_put_i16(&w, 0);
	sm_axdr_put_u8(&w, 27);
	end("nordic_nested");

	/* the flat list with a bare date-time and a 6-character meter number */
	begin(false);
	sm_axdr_put_struct(&w, 5);
	sm_axdr_put_datetime(&w, &dt, true);
	obis(1, 0, 1, 8, 0);
	sm_axdr_put_u32(&w, 42);
	su(0, 30);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "123456", 6);
	end("flat_bare_time_short_id");

	/* limits: deep nesting, a huge count, an unknown tag, not an APDU */
	begin(false);
	for (int i = 0; i < 20; i++)
		sm_axdr_put_struct(&w, 1);
	sm_axdr_put_u8(&w, 1);
	end("deep_nesting");
	begin(false);
	sm_axdr_put_raw(&w, "\x01\x84\xFF\xFF\xFF\xFF\x00", 7);
	end("huge_count");
	begin(false);
	sm_axdr_put_raw(&w, "\x02\x02\x13\x00\x00", 5);
	end("unknown_tag");
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_raw(&w, "\xDB\x08KFMg\x00\x00\x00\x09\x81\xF8\x20", 14);
	end("not_apdu");

	printf("%d files written to %s\n", nfiles, outdir);
	return 0;
}
