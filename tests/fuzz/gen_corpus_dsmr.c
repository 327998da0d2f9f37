/*
 * gen_corpus_dsmr.c - writes the DSMR fuzz seed corpus (tests/fuzz/corpus/dsmr)
 * from our own encoder and, for the object shapes the encoder never writes
 * (24.3.0 + value line, 99.97.0 logs, 98.1.0 buffers), from our own line
 * lists with the CRC computed here.  No fixture bytes are copied.
 *
 *   ./tests/fuzz/gen_corpus_dsmr tests/fuzz/corpus/dsmr
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "dsmr.h"
#include "obis.h"
#include "reading.h"

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

/* A telegram from text lines: "/hdr" CRLF CRLF lines... "!" [CRC] CRLF.
 * crc_mode: 0 none, 1 four upper-case digits, 2 lower case, 3 three digits
 * (only when the CRC < 0x1000: else four), 4 wrong CRC. */
static size_t raw_telegram(char *out, size_t cap, const char *hdr, const char *const *lines,
			   int crc_mode)
{
	size_t n = (size_t)snprintf(out, cap, "/%s\r\n\r\n", hdr);
	for (size_t i = 0; lines[i] != NULL; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\r\n", lines[i]);
	n += (size_t)snprintf(out + n, cap - n, "!");
	uint16_t crc = sm_crc16_arc(0, out, n);
	switch (crc_mode) {
	case 1: n += (size_t)snprintf(out + n, cap - n, "%04X", crc); break;
	case 2: n += (size_t)snprintf(out + n, cap - n, "%04x", crc); break;
	case 3: n += (size_t)snprintf(out + n, cap - n, crc < 0x1000 ? "%X" : "%04X", crc); break;
	case 4: n += (size_t)snprintf(out + n, cap - n, "%04X", (unsigned)(crc ^ 0x1111)); break;
	default: break;
	}
	n += (size_t)snprintf(out + n, cap - n, "\r\n");
	return n;
}

static void num(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		int64_t raw, int8_t scale, enum sm_unit u, int64_t t)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	const char *ut = u == SM_UNIT_OTHER ? "GJ" : NULL;
	if (sm_set_add_number(s, &o, raw, scale, u, ut, ut ? 2 : 0, t) != SM_OK)
		exit(2);
}

static void txt(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		const char *text)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	if (sm_set_add_text(s, &o, text, strlen(text), 0) != SM_OK)
		exit(2);
}

/* A DSMR 5 style set; channels = number of M-Bus devices (gas, water, ...). */
static void dsmr5_set(struct sm_reading_set *s, int version, int channels, int seed)
{
	const int64_t t0 = 1700000000000LL + seed * 1000LL;
	sm_set_clear(s);
	s->meter_time_ms = t0;
	if (version)
		num(s, 1, 3, 0, 2, 8, version, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 0, 96, 1, 1, "4530303434303037333832323436303139");
	num(s, 1, 0, 1, 8, 1, 2130115 + seed, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 1, 8, 2, 245467, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 2, 8, 1, 12, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 2, 8, 2, 0, 0, SM_UNIT_WH, 0);
	num(s, 0, 0, 96, 14, 0, 1 + seed % 2, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 1, 7, 0, 111 + seed, 0, SM_UNIT_W, 0);
	num(s, 1, 0, 2, 7, 0, 0, 0, SM_UNIT_W, 0);
	num(s, 0, 0, 96, 7, 21, 5, 0, SM_UNIT_NONE, 0);
	num(s, 0, 0, 96, 7, 9, 3, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 32, 32, 0, 1, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 32, 36, 0, 0, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 0, 96, 13, 0, "");
	num(s, 1, 0, 32, 7, 0, 2299, -1, SM_UNIT_V, 0);
	num(s, 1, 0, 52, 7, 0, 2292, -1, SM_UNIT_V, 0);
	num(s, 1, 0, 72, 7, 0, 2229, -1, SM_UNIT_V, 0);
	num(s, 1, 0, 31, 7, 0, 1, 0, SM_UNIT_A, 0);
	num(s, 1, 0, 21, 7, 0, 56, 0, SM_UNIT_W, 0);
	num(s, 1, 0, 22, 7, 0, 0, 0, SM_UNIT_W, 0);
	static const unsigned types[4] = { 3, 7, 3, 4 };
	for (int ch = 1; ch <= channels; ch++) {
		num(s, 0, (uint8_t)ch, 24, 1, 0, types[ch - 1], 0, SM_UNIT_NONE, 0);
		txt(s, 0, (uint8_t)ch, 96, 1, 0, "4730303339303031393336393930363139");
		num(s, 0, (uint8_t)ch, 24, 2, 1, 246138 + ch, -3,
		    types[ch - 1] == 4 ? SM_UNIT_OTHER : SM_UNIT_M3, t0 - 300000);
	}
}

static void encoded(const char *name, const struct sm_reading_set *s, const char *hdr, bool crc)
{
	static uint8_t buf[16384];
	size_t n = 0;
	if (sm_dsmr_encode(s, hdr, crc, buf, sizeof buf, &n) != SM_OK) {
		fprintf(stderr, "%s: encode failed\n", name);
		exit(2);
	}
	put(name, buf, n);
}

int main(int argc, char **argv)
{
	static struct sm_reading_set s;
	static char t[20000], u[20000];
	size_t n, m;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];

	/* encoder output: versions, channels */
	dsmr5_set(&s, 50, 1, 0);
	encoded("enc_v50_gas", &s, "ISK5\\2M550T-1012", true);
	dsmr5_set(&s, 50, 2, 1);
	encoded("enc_v50_gas_water", &s, "ISK5\\2M550T-1012", true);
	dsmr5_set(&s, 42, 4, 2);
	encoded("enc_v42_four_channels", &s, "KFM5KAIFA-METER", true);
	dsmr5_set(&s, 40, 0, 3);
	encoded("enc_v40_no_mbus", &s, "XMX5LGBBFFB231215493", true);
	dsmr5_set(&s, 0, 1, 4);
	s.meter_time_ms = 0;
	encoded("enc_v22_no_crc", &s, "ISk5\\2MT382-1004", false);
	dsmr5_set(&s, 50, 0, 5);
	encoded("enc_v50_version_without_crc", &s, "ISK5\\2M550T-1012", false);
	dsmr5_set(&s, 50, 1, 6);
	s.r[2].raw = 6545766; /* Austrian style: plain Wh */
	encoded("enc_at_wh", &s, "EST5\\253710000_A", true);

	/* hand-made object shapes */
	static const char *const v22[] = {
		"0-0:96.1.1(00000000000000)", "1-0:1.8.1(00001.001*kWh)", "1-0:2.8.1(00001.001*kWh)",
		"0-0:96.14.0(0001)", "1-0:1.7.0(0001.01*kW)", "0-0:17.0.0(0999.00*kW)",
		"0-0:96.13.1()", "0-0:96.13.0()", "0-1:24.1.0(3)", "0-1:96.1.0(000000000000)",
		"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)", "(00001.001)",
		"0-1:24.4.0(1)", NULL,
	};
	n = raw_telegram(t, sizeof t, "ISk5\\2MT382-1004", v22, 0);
	put("raw_v22_gas_next_line", t, n);

	static const char *const be[] = {
		"0-0:96.1.4(50217)", "0-0:1.0.0(200512135409S)", "1-0:1.8.1(000000.034*kWh)",
		"1-0:1.4.0(02.351*kW)", "1-0:1.6.0(200509134558S)(02.589*kW)",
		"0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)"
		"(200401000000S)(200305122139S)(05.980*kW)(200301000000S)(200210035421W)(04.318*kW)",
		"0-1:24.1.0(003)", "0-1:96.1.1(37464C4F32313139303333373333)",
		"0-1:24.2.3(200512134558S)(00112.384*m3)", "0-2:24.1.0(007)",
		"0-2:24.2.1(200512134558S)(00872.234*m3)", NULL,
	};
	n = raw_telegram(t, sizeof t, "FLU5\\253769484_A", be, 1);
	put("raw_be_peaks_gas_water", t, n);

	static const char *const hu[] = {
		"0-0:1.0.0(230724150730S)", "1-0:1.8.0(000173.640*kWh)", "1-0:13.7.0(0.956)",
		"1-0:14.7.0(50.00*Hz)", "1-0:5.8.0(000000.668*kvarh)",
		"0-0:98.1.0(230701000000S)(000040.777*kWh)(000008.950*kWh)(000031.827*kWh)"
		"(000142.250*kWh)(000111.164*kWh)(000031.086*kWh)(000000.030*kvarh)(000073.988*kvarh)"
		"(000000.205*kvarh)(000000.048*kvarh)(000039.199*kvarh)(000035.020*kvarh)"
		"(000183.027*kWh)(03.564*kW)(02.156*kW)(03.564*kW)(04.104*kW)(04.104*kW)(03.400*kW)",
		NULL,
	};
	n = raw_telegram(t, sizeof t, "SAG5SAG-METER", hu, 1);
	put("raw_hu_month_block", t, n);

	static const char *const pf[] = {
		"1-3:0.2.8(50)", "0-0:1.0.0(101209113020W)",
		"1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)(101208151004W)(0000000301*s)",
		"1-0:32.32.0(00002)", "1-0:52.36.0(00003)", "0-0:96.7.21(00004)", NULL,
	};
	n = raw_telegram(t, sizeof t, "ISk5\\2MT382-1000", pf, 1);
	put("raw_failure_log", t, n);
	static const char *const pf0[] = { "1-3:0.2.8(50)", "1-0:99.97.0(0)(0-0:96.7.19)", NULL };
	n = raw_telegram(t, sizeof t, "ISk5\\2MT382-1000", pf0, 1);
	put("raw_failure_log_empty", t, n);

	static const char *const badts[] = {
		"1-3:0.2.8(42)", "0-0:1.0.0(250000000000W)",
		"0-2:24.1.0(007)", "0-2:24.2.1(632525252525S)(00000.000)",
		"0-1:24.1.0(003)", "0-1:24.2.1(700101010000W)(00000000)",
		"1-0:1.8.0(000025.653*kWh)", "1-1:31.4.0(100*A)(-063*A)", NULL,
	};
	n = raw_telegram(t, sizeof t, "Lux5\\253694471_M", badts, 1);
	put("raw_invalid_timestamps", t, n);

	static const char *const q3d[] = {
		"1-0:0.0.0*255(0272031312565)", "1-0:1.8.0*255(00052185.7825309*kWh)",
		"1-0:21.7.0*255(000747.85*W)", "1-0:96.5.5*255(80)", "0-0:96.1.255*255(1ESY1313002565)",
		NULL,
	};
	n = raw_telegram(t, sizeof t, "ESY5Q3DB1024 V3.04", q3d, 0);
	memcpy(t + n, "  25803103\r\n\xff\xff\xff\xff\r\n", 18);
	put("raw_easymeter_junk_after", t, n + 18);

	static const char *const lc[] = {
		"1-3:0.2.8(50)", "1-0:1.8.1(123456.789*kwh)", "1-0:1.7.0(01.193*kw)",
		"1-0:32.7.0(220.1*v)", "1-0:3.8.0(00001234.432*kVArh)", "0-1:24.2.1(260215200523W)(240.860*GJ)",
		NULL,
	};
	n = raw_telegram(t, sizeof t, "KAM5", lc, 2);
	put("raw_lowercase_crc_and_units", t, n);
	for (int tries = 0; tries < 64; tries++) {
		/* a telegram whose CRC has a leading zero, sent as 3 digits */
		char hdr[32];
		snprintf(hdr, sizeof hdr, "NWA-WARMTELINK%d", tries);
		n = raw_telegram(t, sizeof t, hdr, lc, 1);
		if (t[n - 6] == '0') {
			n = raw_telegram(t, sizeof t, hdr, lc, 3);
			put("raw_three_digit_crc", t, n);
			break;
		}
	}
	n = raw_telegram(t, sizeof t, "KAM5", lc, 4);
	put("raw_wrong_crc", t, n);

	/* framing situations */
	dsmr5_set(&s, 50, 1, 7);
	sm_dsmr_encode(&s, "ISK5\\2M550T-1012", true, (uint8_t *)t, sizeof t, &n);
	memcpy(u, "\x00\xff garbage ! /\r\n", 16);
	memcpy(u + 16, t, n);
	memcpy(u + 16 + n, "noise\r\n", 7);
	memcpy(u + 23 + n, t, n);
	put("frame_two_with_garbage", u, 23 + 2 * n);
	memcpy(u, t, n / 2);
	memcpy(u + n / 2, t, n);
	put("frame_cut_mid_line_then_good", u, n / 2 + n);
	m = n / 2;
	while (m > 0 && t[m - 1] != '\n')
		m--;
	memcpy(u, t, m);
	memcpy(u + m, t, n);
	put("frame_truncated_then_good", u, m + n);
	put("frame_bang_at_end_no_crlf", t, n - 2);
	static const char *const v30[] = { "1-0:1.8.1(12345.678*kWh)", "0-0:96.13.0(3031323334)", NULL };
	m = raw_telegram(t, sizeof t, "ISk5\\2MT382-1000", v30, 0);
	put("frame_no_crc_bang_at_end", t, m - 2);
	/* an oversized telegram, then a good one */
	m = (size_t)snprintf(u, sizeof u, "/BIG5\r\n\r\n");
	while (m < SM_DSMR_MAX + 200)
		m += (size_t)snprintf(u + m, sizeof u - m, "0-0:96.13.0(%s)\r\n",
				      "303132333435363738393A3B3C3D3E3F303132333435363738393A3B3C3D3E3F");
	memcpy(u + m, "!0000\r\n", 7);
	m += 7;
	n = raw_telegram(t, sizeof t, "KAM5", lc, 1);
	memcpy(u + m, t, n);
	put("frame_oversized_then_good", u, m + n);

	/* encoder text shapes: header with a raw 0x02 (Irish) */
	static const char *const ie[] = { "1-0:0.0.0(00000000)", "0-0:96.1.0(09610)",
					  "0-0:96.13.0()", "0-1:96.1.1()", NULL };
	n = raw_telegram(t, sizeof t, "ISk5\x02MIE5T-200", ie, 1);
	put("raw_ie_ctrl_in_header", t, n);

	printf("%d files written to %s\n", nfiles, outdir);
	return 0;
}
