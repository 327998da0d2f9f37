/*
 * gen_corpus_iec.c - writes the IEC 62056-21 fuzz seed corpus
 * (tests/fuzz/corpus/iec) from our own encoder and our own data lines: no
 * fixture bytes are copied.
 *
 *   ./tests/fuzz/gen_corpus_iec tests/fuzz/corpus/iec
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iec62056_21.h"

static const char *outdir;
static int nfiles;
static uint8_t buf[SM_IEC_MAX * 2];
static size_t len;

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

static void raw(const void *p, size_t n)
{
	if (n > sizeof buf - len)
		exit(2);
	memcpy(buf + len, p, n);
	len += n;
}

static void ident(const char *man, char z, char enh, const char *id)
{
	struct sm_iec_ident i;
	memset(&i, 0, sizeof i);
	memcpy(i.manufacturer, man, 3);
	i.baud_char = z;
	i.enh = enh;
	snprintf(i.ident, sizeof i.ident, "%s", id);
	size_t n = 0;
	if (sm_iec_encode_ident(&i, buf + len, sizeof buf - len, &n) != SM_OK)
		exit(3);
	len += n;
}

static void data(const char *lines, bool stx)
{
	size_t n = 0;
	if (sm_iec_encode_data(lines, strlen(lines), stx, buf + len, sizeof buf - len, &n) != SM_OK)
		exit(4);
	len += n;
}

static const char elec[] =
	"0.0.0(12345678)\r\n"
	"0.9.1(123456)\r\n"
	"0.9.2(1250101)\r\n"
	"F.F(00000000)\r\n"
	"1.8.0(001234.567*kWh)\r\n"
	"1.8.1(000234.500*kWh)\r\n"
	"1.8.2(001000.067*kWh)\r\n"
	"2.8.0(000010.000*kWh)\r\n"
	"1.6.0(02.500*kW)(2501011230)\r\n"
	"1.6.0*01(03.100*kW)(2412151800)\r\n"
	"1.8.0*01(001100.000*kWh)\r\n"
	"32.7(231*V)\r\n"
	"31.7(001.25*A)\r\n"
	"C.1.0(98765432)\r\n"
	"C.7.0(0003)\r\n"
	"5.8.0(000012.3*kvarh)\r\n";

static const char full_codes[] =
	"1-0:0.0.0*255(1ABC0012345678)\r\n"
	"1-0:1.8.0*255(000125.25688570*kWh)\r\n"
	"1-0:16.7.0*255(000259.20*W)\r\n"
	"1-0:32.7.0*255(232.4*V)\r\n"
	"1-0:96.5.0*255(001C0104)\r\n"
	"0-0:C.51.2*02(0131211111412)\r\n"
	"0-0:F.F.0*255(0000000)\r\n"
	"1-0:1.8.1*255(0000123.000*kWh) # comment (with parens)\r\n";

static const char heat_one_line[] =
	"6.8(0012.345*MWh)6.26(00321.10*m3)9.21(00001234)F(0)6.6(0010.5*kW)"
	"9.4(070*C&055*C)6.31(0012345*h)9.22(R)9.6(000&00001234&0)6.36(01-01)"
	"6.8.1()6.8.1*01()9.36(2024-03-01&12:00:00)9.2(&&)9.1(0&1&-&XY&2.5)0.0(00001234)";

static const char lflf[] =
	"F.F(00)\n\n0.0(        11112222)\n\nC.1.1(        )\n\n1.8.0(000219.252*kWh)\n\n"
	"32.7(233*V)\n\n16.7(001.66*kW)\n\n";

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];

	len = 0; ident("ABC", '5', 0, "METER01"); data(elec, true); put("modec_stx_bcc");
	len = 0; ident("ABc", '6', '2', "FAST0001"); data(full_codes, true); put("modec_full_codes_enh");
	len = 0; ident("XYZ", '4', 0, "LFLF"); data(lflf, true); len -= 2; put("modec_lflf_no_etx");
	len = 0; ident("HEA", 'C', 0, "HEAT"); data(heat_one_line, true); put("modeb_heat_one_line");
	len = 0; ident("HEA", '3', 0, "HEAT"); data(heat_one_line, false); put("moded_heat_no_stx");
	len = 0; ident("PSH", '5', 0, "PUSH"); data(full_codes, false); put("moded_push");
	len = 0;
	ident("PSH", '5', 0, "PUSH"); data("1-0:1.8.0*255(000001.2963)\r\n", false);
	ident("PSH", '5', 0, "PUSH"); data("1-0:1.7.0*255(000001.2964)\r\n1-0:1.9.0*255(1.5)\r\n", false);
	put("moded_two_messages");
	len = 0;
	{
		uint8_t req[64];
		size_t n = 0;
		sm_iec_encode_request("Addr01", req, sizeof req, &n);
		raw(req, n);
		ident("ABC", '5', 0, "ECHO");
		sm_iec_encode_ack('0', '5', '0', req, sizeof req, &n);
		raw(req, n);
		data(elec, true);
		put("modec_with_echoes");
	}
	len = 0; ident("ABC", '5', 0, "BAD"); data(elec, true); buf[len - 1] ^= 0x5a; put("modec_bcc_wrong");
	len = 0; ident("ABC", '5', 0, "CUT"); data(elec, true); len /= 2; put("modec_truncated");
	len = 0; ident("ABC", 'Z', 0, "MODEA"); data("1.8.0(5*kWh)\r\n", true); put("modea_small");
	len = 0; ident("ABC", '5', 0, "EMPTY"); data("1.8.0()\r\n6.8()\r\n", true); put("modec_only_empty");
	len = 0;
	ident("ABC", '5', 0, "JUNK");
	data("1.8.0(1*kWh)garbage\r\n(no address)\r\n\x7f\x80\r\n2.8.0(12345678901234567890*kWh)\r\n"
	     "3.8.0(1.5*kvarh)\r\n", true);
	put("modec_junk_lines");
	len = 0;
	raw("\0\0\0\0noise/?!\r\n", 14);
	ident("ABC", '5', 0, "N");
	raw("\r\n", 2);
	data("1.8.0(1*kWh)\r\n", false);
	put("nuls_echo_no_stx");
	len = 0; ident("ABC", '5', 0, "UNTERM"); raw("1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n", 28); put("no_bang_unterminated");
	printf("%d files written to %s\n", nfiles, outdir);
	return 0;
}
