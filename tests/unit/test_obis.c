/* test_obis.c - OBIS parse/format/compare, units, kinds and every row of the
 * canonical-name table (SPEC.md section 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "obis.h"

/* An exactly-sized heap copy (no NUL), so ASan catches any overread. */
static char *dup_exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	return b;
}

static enum sm_err parse(const char *s, size_t *used, struct sm_obis *o)
{
	size_t n = strlen(s);
	char *b = dup_exact(s, n);
	enum sm_err e = sm_obis_parse(b, n, used, o);
	free(b);
	return e;
}

static struct sm_obis must_parse(const char *s)
{
	struct sm_obis o;
	size_t used = 0;
	enum sm_err e = parse(s, &used, &o);
	if (e != SM_OK)
		fail_msg("parse \"%s\": %s", s, sm_err_name(e));
	return o;
}

/* ---- parse / format ---- */

struct parse_case {
	const char *in;
	enum sm_err err;
	size_t used;
	const char *fmt; /* sm_obis_format of the result */
};

static const struct parse_case parse_cases[] = {
	{ "1-0:1.8.1(001234.567*kWh)", SM_OK, 9, "1-0:1.8.1" },
	{ "1-0:1.8.1", SM_OK, 9, "1-0:1.8.1" },
	{ "0-0:96.1.1(4B38)", SM_OK, 10, "0-0:96.1.1" },
	{ "1-0:1.8.0*255(x)", SM_OK, 13, "1-0:1.8.0" },
	{ "1-0:1.8.0*1", SM_OK, 11, "1-0:1.8.0*1" },
	{ "1-0:1.8.0*0", SM_OK, 11, "1-0:1.8.0*0" },
	{ "1-0:1.8.0*101", SM_OK, 13, "1-0:1.8.0*101" },
	{ "1-0:1.8", SM_OK, 7, "1-0:1.8" },
	{ "1-0:1.8(", SM_OK, 7, "1-0:1.8" },
	{ "1.8.0(0001.0*kWh)", SM_OK, 5, "1.8.0" },
	{ "1.8.0*02(1)", SM_OK, 8, "1.8.0*2" },
	{ "0.0(123)", SM_OK, 3, "0.0" },
	{ "C.1.0(1234)", SM_OK, 5, "C.1.0" },
	{ "F.F(00)", SM_OK, 3, "F.F" },
	{ "0-0:C.51.2*255(1)", SM_OK, 14, "0-0:C.51.2" },
	{ "0-0:C.1.0", SM_OK, 9, "0-0:C.1.0" },
	{ "C.7.1(2)", SM_OK, 5, "C.7.1" },
	{ "255-255:255.255.255*254", SM_OK, 23, "255-255:255.255.255*254" },
	{ "0-0:0.0.0*0", SM_OK, 11, "0-0:0.0.0*0" },
	{ "001-000:001.008.000", SM_OK, 19, "1-0:1.8.0" },
	{ "1-0:1.8.0\r\n", SM_OK, 9, "1-0:1.8.0" },
	{ "1-0:1.8.0&1", SM_OK, 9, "1-0:1.8.0" }, /* '&' is not '*' */
	{ "1-0:1.8.0 (1)", SM_OK, 9, "1-0:1.8.0" },
	/* forms real meters send */
	{ "6.26*01(01563.92*m3)", SM_OK, 7, "6.26*1" },
	{ "6.8*255(1)", SM_OK, 7, "6.8" },
	{ "F(0)", SM_OK, 1, "F" },
	{ "C", SM_OK, 1, "C" },
	{ "1-0:31.7.0.255(001*A)", SM_OK, 14, "1-0:31.7.0" },
	{ "1-0:31.7.0.3(001*A)", SM_OK, 12, "1-0:31.7.0*3" },
	{ "1-0:72:32.0(00000)", SM_OK, 11, "1-0:72.32.0" },
	{ "1-0:99:97.0(2)", SM_OK, 11, "1-0:99.97.0" },
	/* out of range groups */
	{ "256-0:1.8.0", SM_E_RANGE, 0, NULL },
	{ "1-256:1.8.0", SM_E_RANGE, 0, NULL },
	{ "1-0:256.8.0", SM_E_RANGE, 0, NULL },
	{ "1-0:1.256.0", SM_E_RANGE, 0, NULL },
	{ "1-0:1.8.256", SM_E_RANGE, 0, NULL },
	{ "1-0:1.8.0*256", SM_E_RANGE, 0, NULL },
	{ "1-0:1.8.0*99999999999999999999", SM_E_RANGE, 0, NULL },
	{ "1000.8.0", SM_E_RANGE, 0, NULL },
	/* not a code / truncated codes */
	{ "", SM_E_SYNTAX, 0, NULL },
	{ "(00001.001)", SM_E_SYNTAX, 0, NULL },
	{ "1", SM_E_SYNTAX, 0, NULL },
	{ "1-", SM_E_SYNTAX, 0, NULL },
	{ "1-0", SM_E_SYNTAX, 0, NULL },
	{ "1-0:", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.8.", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.8.0*", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.8.0*(", SM_E_SYNTAX, 0, NULL },
	{ "1.", SM_E_SYNTAX, 0, NULL },
	{ "1(0)", SM_E_SYNTAX, 0, NULL },   /* a lone number is no address */
	{ "1.8:0", SM_OK, 3, "1.8" },        /* ":" only after A-B: */
	{ "1-0:1.8.0.", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.8*", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1:8:0", SM_OK, 7, "1-0:1.8" },
	{ "FF(0)", SM_E_SYNTAX, 0, NULL },
	{ "1.8.", SM_E_SYNTAX, 0, NULL },
	{ "1-0.1.8.0", SM_E_SYNTAX, 0, NULL },
	{ "1:0:1.8.0", SM_E_SYNTAX, 0, NULL },
	{ "-1-0:1.8.0", SM_E_SYNTAX, 0, NULL },
	{ " 1-0:1.8.0", SM_E_SYNTAX, 0, NULL },
	{ "AB.1.0", SM_E_SYNTAX, 0, NULL },
	{ "c.1.0", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1.8.0a", SM_E_SYNTAX, 0, NULL },
	{ "1-0:1x.8.0", SM_E_SYNTAX, 0, NULL },
	{ "/ISk5\\2MT382-1000", SM_E_SYNTAX, 0, NULL },
	{ "!1234", SM_E_SYNTAX, 0, NULL },
	{ "1-0:\x01.8.0", SM_E_SYNTAX, 0, NULL },
};

static void test_parse_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *pc = &parse_cases[i];
		struct sm_obis o;
		size_t used = 12345;
		enum sm_err e = parse(pc->in, &used, &o);
		if (e != pc->err)
			fail_msg("\"%s\": got %s want %s", pc->in, sm_err_name(e), sm_err_name(pc->err));
		if (e != SM_OK) {
			assert_int_equal(used, 12345); /* untouched on error */
			continue;
		}
		if (used != pc->used)
			fail_msg("\"%s\": used %zu want %zu", pc->in, used, pc->used);
		char f[SM_OBIS_STRLEN];
		sm_obis_format(&o, f, sizeof f);
		if (strcmp(f, pc->fmt) != 0)
			fail_msg("\"%s\": format \"%s\" want \"%s\"", pc->in, f, pc->fmt);
		/* the formatted text parses back to an equal code */
		struct sm_obis back;
		size_t bu = 0;
		assert_int_equal(parse(f, &bu, &back), SM_OK);
		assert_int_equal(bu, strlen(f));
		assert_true(sm_obis_eq(&o, &back));
	}
}

/* Every prefix of valid codes parses or fails cleanly in bounds (ASan). */
static void test_parse_truncations(void **state)
{
	(void)state;
	static const char *const codes[] = { "255-255:255.255.255*255(", "0-0:C.51.2*255(", "F.F(" };
	for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
		size_t n = strlen(codes[k]);
		for (size_t len = 0; len <= n; len++) {
			char *b = dup_exact(codes[k], len);
			struct sm_obis o;
			size_t used = 0;
			enum sm_err e = sm_obis_parse(b, len, &used, &o);
			if (e == SM_OK)
				assert_true(used <= len);
			else
				assert_int_equal(e, SM_E_SYNTAX);
			free(b);
		}
	}
}

static void test_parse_groups(void **state)
{
	(void)state;
	struct sm_obis o = must_parse("1-2:3.4.5*6");
	assert_int_equal(o.v[SM_OBIS_A], 1);
	assert_int_equal(o.v[SM_OBIS_B], 2);
	assert_int_equal(o.v[SM_OBIS_C], 3);
	assert_int_equal(o.v[SM_OBIS_D], 4);
	assert_int_equal(o.v[SM_OBIS_E], 5);
	assert_int_equal(o.v[SM_OBIS_F], 6);
	assert_int_equal(o.present, 0x3f);
	assert_int_equal(o.letter, 0);

	o = must_parse("1-0:1.8.0");
	assert_int_equal(o.present, 0x1f);
	o = must_parse("1-0:1.8");
	assert_int_equal(o.present, 0x0f);
	o = must_parse("1.8.0");
	assert_int_equal(o.present, SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D) | SM_OBIS_BIT(SM_OBIS_E));
	o = must_parse("1.8");
	assert_int_equal(o.present, SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D));

	o = must_parse("F.F");
	assert_int_equal(o.v[SM_OBIS_C], 'F');
	assert_int_equal(o.v[SM_OBIS_D], 'F');
	assert_int_equal(o.letter, SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D));
	o = must_parse("0-0:C.51.2*255");
	assert_int_equal(o.letter, SM_OBIS_BIT(SM_OBIS_C));
	assert_int_equal(o.v[SM_OBIS_C], 'C');
	assert_int_equal(o.v[SM_OBIS_D], 51);
	assert_int_equal(o.v[SM_OBIS_F], 255);
	assert_true(o.present & SM_OBIS_BIT(SM_OBIS_F));
}

static void test_make_eq(void **state)
{
	(void)state;
	struct sm_obis a = sm_obis_make(1, 0, 1, 8, 0, 255);
	struct sm_obis b = sm_obis_make5(1, 0, 1, 8, 0);
	struct sm_obis c = must_parse("1-0:1.8.0");
	struct sm_obis d = must_parse("1-0:1.8.0*255");
	struct sm_obis e = must_parse("1-0:1.8.0*1");
	struct sm_obis f = must_parse("1.8.0");
	struct sm_obis g = must_parse("1-0:1.8.1");
	assert_int_equal(a.present, 0x3f);
	assert_int_equal(b.present, 0x1f);
	assert_true(sm_obis_eq(&a, &b));
	assert_true(sm_obis_eq(&b, &c));
	assert_true(sm_obis_eq(&c, &d));
	assert_true(sm_obis_eq(&d, &a));
	assert_false(sm_obis_eq(&c, &e));
	assert_false(sm_obis_eq(&c, &f)); /* different groups present */
	assert_false(sm_obis_eq(&c, &g));
	assert_true(sm_obis_eq(&f, &f));
	struct sm_obis l1 = must_parse("C.1.0");
	struct sm_obis l2 = must_parse("C.1.0");
	struct sm_obis n1 = must_parse("67.1.0"); /* 'C' == 67 but not a letter */
	assert_true(sm_obis_eq(&l1, &l2));
	assert_false(sm_obis_eq(&l1, &n1));

	char s[SM_OBIS_STRLEN];
	sm_obis_format(&a, s, sizeof s);
	assert_string_equal(s, "1-0:1.8.0");
	struct sm_obis h = sm_obis_make(1, 0, 1, 8, 0, 3);
	sm_obis_format(&h, s, sizeof s);
	assert_string_equal(s, "1-0:1.8.0*3");
}

static void test_format_bounds(void **state)
{
	(void)state;
	struct sm_obis o = sm_obis_make(255, 255, 255, 255, 255, 254);
	char s[SM_OBIS_STRLEN];
	sm_obis_format(&o, s, sizeof s);
	assert_string_equal(s, "255-255:255.255.255*254");
	char small[6];
	memset(small, 'x', sizeof small);
	sm_obis_format(&o, small, sizeof small);
	assert_string_equal(small, "255-2");
	char one[1] = { 'x' };
	sm_obis_format(&o, one, 1);
	assert_int_equal(one[0], '\0');
	sm_obis_format(&o, one, 0); /* no write at all */
	assert_int_equal(one[0], '\0');
}

/* ---- units ---- */

struct unit_case {
	const char *text;
	enum sm_unit unit;
	int exp10;
};

static const struct unit_case unit_cases[] = {
	{ "kWh", SM_UNIT_WH, 3 },    { "KWh", SM_UNIT_WH, 3 },     { "MWh", SM_UNIT_WH, 6 },
	{ "Wh", SM_UNIT_WH, 0 },     { "kW", SM_UNIT_W, 3 },       { "KW", SM_UNIT_W, 3 },
	{ "MW", SM_UNIT_W, 6 },      { "W", SM_UNIT_W, 0 },        { "kvarh", SM_UNIT_VARH, 3 },
	{ "Kvarh", SM_UNIT_VARH, 3 }, { "varh", SM_UNIT_VARH, 0 }, { "kvar", SM_UNIT_VAR, 3 },
	{ "var", SM_UNIT_VAR, 0 },   { "kVAh", SM_UNIT_VAH, 3 },   { "VAh", SM_UNIT_VAH, 0 },
	{ "kVA", SM_UNIT_VA, 3 },    { "VA", SM_UNIT_VA, 0 },      { "V", SM_UNIT_V, 0 },
	{ "A", SM_UNIT_A, 0 },       { "mA", SM_UNIT_A, -3 },      { "Hz", SM_UNIT_HZ, 0 },
	{ "s", SM_UNIT_S, 0 },       { "m3", SM_UNIT_M3, 0 },      { "l", SM_UNIT_M3, -3 },
	{ "dm3", SM_UNIT_M3, -3 },   { "\xc2\xb0" "C", SM_UNIT_CELSIUS, 0 },
	{ "*C", SM_UNIT_CELSIUS, 0 }, { "C", SM_UNIT_CELSIUS, 0 },
	{ "GJ", SM_UNIT_OTHER, 0 },  { "m3ph", SM_UNIT_OTHER, 0 }, { "h", SM_UNIT_OTHER, 0 },
	{ "mWh", SM_UNIT_OTHER, 0 }, { "kHz2", SM_UNIT_OTHER, 0 }, { "k", SM_UNIT_OTHER, 0 },
	{ "mvar", SM_UNIT_OTHER, 0 }, { "m", SM_UNIT_OTHER, 0 },   { "C&082*C", SM_UNIT_OTHER, 0 },
	/* lower case as some meters send it, and other case slips */
	{ "kwh", SM_UNIT_WH, 3 },    { "kw", SM_UNIT_W, 3 },       { "v", SM_UNIT_V, 0 },
	{ "a", SM_UNIT_A, 0 },       { "wh", SM_UNIT_WH, 0 },      { "kWH", SM_UNIT_WH, 3 },
	{ "KVARH", SM_UNIT_VARH, 3 }, { "hz", SM_UNIT_HZ, 0 },     { "M3", SM_UNIT_M3, 0 },
	{ "MWH", SM_UNIT_WH, 6 },    { "mwh", SM_UNIT_OTHER, 0 },  { "kVArh", SM_UNIT_VARH, 3 },
	{ "mV", SM_UNIT_V, -3 },     { "ma", SM_UNIT_A, -3 },      { "kA", SM_UNIT_A, 3 },
	{ "kWh ", SM_UNIT_OTHER, 0 }, { "ks", SM_UNIT_OTHER, 0 },  { "MJ", SM_UNIT_OTHER, 0 },
	{ "", SM_UNIT_NONE, 0 },
};

static void test_unit_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof unit_cases / sizeof unit_cases[0]; i++) {
		const struct unit_case *uc = &unit_cases[i];
		size_t n = strlen(uc->text);
		char *b = dup_exact(uc->text, n);
		enum sm_unit u = SM_UNIT_HZ;
		int8_t e = 99;
		assert_int_equal(sm_unit_parse(b, n, &u, &e), SM_OK);
		if (u != uc->unit || e != uc->exp10)
			fail_msg("unit \"%s\": got %d/%d want %d/%d", uc->text, u, e, uc->unit, uc->exp10);
		free(b);
	}
	enum sm_unit u = SM_UNIT_HZ;
	int8_t e = 99;
	assert_int_equal(sm_unit_parse(NULL, 0, &u, &e), SM_OK);
	assert_int_equal(u, SM_UNIT_NONE);
	assert_int_equal(e, 0);
	/* n bounds the text: "kWh" with n = 2 is "kW" */
	assert_int_equal(sm_unit_parse("kWh", 2, &u, &e), SM_OK);
	assert_int_equal(u, SM_UNIT_W);
	assert_int_equal(e, 3);
}

static void test_unit_str(void **state)
{
	(void)state;
	assert_string_equal(sm_unit_str(SM_UNIT_NONE), "");
	assert_string_equal(sm_unit_str(SM_UNIT_WH), "Wh");
	assert_string_equal(sm_unit_str(SM_UNIT_VARH), "varh");
	assert_string_equal(sm_unit_str(SM_UNIT_VAH), "VAh");
	assert_string_equal(sm_unit_str(SM_UNIT_W), "W");
	assert_string_equal(sm_unit_str(SM_UNIT_VAR), "var");
	assert_string_equal(sm_unit_str(SM_UNIT_VA), "VA");
	assert_string_equal(sm_unit_str(SM_UNIT_V), "V");
	assert_string_equal(sm_unit_str(SM_UNIT_A), "A");
	assert_string_equal(sm_unit_str(SM_UNIT_HZ), "Hz");
	assert_string_equal(sm_unit_str(SM_UNIT_M3), "m3");
	assert_string_equal(sm_unit_str(SM_UNIT_S), "s");
	assert_string_equal(sm_unit_str(SM_UNIT_CELSIUS), "\xc2\xb0" "C");
	assert_string_equal(sm_unit_str(SM_UNIT_OTHER), "?");
	assert_string_equal(sm_unit_str((enum sm_unit)99), "?");
}

/* ---- kinds ---- */

static void test_kind_types(void **state)
{
	(void)state;
	assert_string_equal(sm_kind_collectd_type(SM_KIND_GAUGE), "gauge");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_ENERGY), "energy_wh");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_POWER), "power");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_VOLTAGE), "voltage");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_CURRENT), "current");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_FREQUENCY), "frequency");
	assert_string_equal(sm_kind_collectd_type(SM_KIND_COUNT), "count");
	assert_null(sm_kind_collectd_type(SM_KIND_TEXT));
}

struct kind_case {
	const char *code;
	enum sm_unit unit;
	enum sm_kind kind;
};

static const struct kind_case kind_cases[] = {
	{ "1-0:1.8.0", SM_UNIT_WH, SM_KIND_ENERGY },
	{ "1-0:3.8.0", SM_UNIT_VARH, SM_KIND_ENERGY },
	{ "1-0:9.8.0", SM_UNIT_VAH, SM_KIND_ENERGY },
	{ "1-0:1.7.0", SM_UNIT_W, SM_KIND_POWER },
	{ "1-0:3.7.0", SM_UNIT_VAR, SM_KIND_POWER },
	{ "1-0:9.7.0", SM_UNIT_VA, SM_KIND_POWER },
	{ "1-0:1.6.0", SM_UNIT_W, SM_KIND_POWER },
	{ "1-0:32.7.0", SM_UNIT_V, SM_KIND_VOLTAGE },
	{ "1-0:31.7.0", SM_UNIT_A, SM_KIND_CURRENT },
	{ "1-0:14.7.0", SM_UNIT_HZ, SM_KIND_FREQUENCY },
	{ "1-0:13.7.0", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "0-0:96.14.0", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "0-1:24.2.1", SM_UNIT_M3, SM_KIND_GAUGE },
	{ "0-1:24.2.1", SM_UNIT_OTHER, SM_KIND_GAUGE },
	{ "0-0:96.7.21", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "0-0:96.7.9", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:32.32.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:52.32.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:72.32.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:32.36.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:52.36.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:72.36.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-0:72.36.0*3", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "1-2:32.32.0", SM_UNIT_NONE, SM_KIND_COUNT },
	{ "0-0:96.7.22", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "1-0:32.33.0", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "0-0:96.1.1", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "1-0:0.9.1", SM_UNIT_S, SM_KIND_GAUGE },
	{ "0-1:24.2.1", SM_UNIT_CELSIUS, SM_KIND_GAUGE },
	{ "C.1.0", SM_UNIT_NONE, SM_KIND_GAUGE },
	{ "F.F", SM_UNIT_WH, SM_KIND_ENERGY }, /* the unit decides */
};

static void test_kinds(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof kind_cases / sizeof kind_cases[0]; i++) {
		struct sm_obis o = must_parse(kind_cases[i].code);
		enum sm_kind k = sm_obis_kind(&o, kind_cases[i].unit);
		if (k != kind_cases[i].kind)
			fail_msg("kind of %s unit %d: %d want %d", kind_cases[i].code,
				 kind_cases[i].unit, k, kind_cases[i].kind);
	}
}

/* ---- media ---- */

static void test_media(void **state)
{
	(void)state;
	assert_int_equal(sm_medium_from_device_type(3), SM_MEDIUM_GAS);
	assert_int_equal(sm_medium_from_device_type(7), SM_MEDIUM_WATER);
	assert_int_equal(sm_medium_from_device_type(6), SM_MEDIUM_WATER);
	assert_int_equal(sm_medium_from_device_type(4), SM_MEDIUM_HEAT);
	assert_int_equal(sm_medium_from_device_type(0x0C), SM_MEDIUM_HEAT);
	assert_int_equal(sm_medium_from_device_type(0), SM_MEDIUM_UNKNOWN);
	assert_int_equal(sm_medium_from_device_type(2), SM_MEDIUM_UNKNOWN);
	assert_int_equal(sm_medium_from_device_type(255), SM_MEDIUM_UNKNOWN);
	assert_int_equal(sm_medium_from_device_type(1000), SM_MEDIUM_UNKNOWN);
}

/* ---- canonical names: every row of SPEC.md section 6 ---- */

struct name_case {
	const char *code;
	const char *name;
};

static const struct name_case spec_rows[] = {
	/* 1.8.0, 2.8.0 */
	{ "1-0:1.8.0", "energy_import" },
	{ "1-0:2.8.0", "energy_export" },
	/* 3.8.0, 4.8.0 */
	{ "1-0:3.8.0", "reactive_energy_import" },
	{ "1-0:4.8.0", "reactive_energy_export" },
	/* 5.8.0 .. 8.8.0 */
	{ "1-0:5.8.0", "reactive_energy_q1" },
	{ "1-0:6.8.0", "reactive_energy_q2" },
	{ "1-0:7.8.0", "reactive_energy_q3" },
	{ "1-0:8.8.0", "reactive_energy_q4" },
	/* 9.8.0, 10.8.0 */
	{ "1-0:9.8.0", "apparent_energy_import" },
	{ "1-0:10.8.0", "apparent_energy_export" },
	/* 15.8.0, 16.8.0 */
	{ "1-0:15.8.0", "energy_absolute" },
	{ "1-0:16.8.0", "energy_net" },
	/* 21/41/61.8.0, 22/42/62.8.0 */
	{ "1-0:21.8.0", "energy_import_l1" },
	{ "1-0:41.8.0", "energy_import_l2" },
	{ "1-0:61.8.0", "energy_import_l3" },
	{ "1-0:22.8.0", "energy_export_l1" },
	{ "1-0:42.8.0", "energy_export_l2" },
	{ "1-0:62.8.0", "energy_export_l3" },
	/* 1.7.0, 2.7.0 */
	{ "1-0:1.7.0", "power_import" },
	{ "1-0:2.7.0", "power_export" },
	/* 3.7.0, 4.7.0 */
	{ "1-0:3.7.0", "reactive_power_import" },
	{ "1-0:4.7.0", "reactive_power_export" },
	/* 5.7.0 .. 8.7.0 */
	{ "1-0:5.7.0", "reactive_power_q1" },
	{ "1-0:6.7.0", "reactive_power_q2" },
	{ "1-0:7.7.0", "reactive_power_q3" },
	{ "1-0:8.7.0", "reactive_power_q4" },
	/* 9.7.0, 10.7.0 */
	{ "1-0:9.7.0", "apparent_power_import" },
	{ "1-0:10.7.0", "apparent_power_export" },
	/* 15.7.0, 16.7.0 */
	{ "1-0:15.7.0", "power_absolute" },
	{ "1-0:16.7.0", "power_net" },
	/* 21/41/61.7.0, 22/42/62.7.0 */
	{ "1-0:21.7.0", "power_import_l1" },
	{ "1-0:41.7.0", "power_import_l2" },
	{ "1-0:61.7.0", "power_import_l3" },
	{ "1-0:22.7.0", "power_export_l1" },
	{ "1-0:42.7.0", "power_export_l2" },
	{ "1-0:62.7.0", "power_export_l3" },
	/* 36/56/76.7.0 */
	{ "1-0:36.7.0", "power_net_l1" },
	{ "1-0:56.7.0", "power_net_l2" },
	{ "1-0:76.7.0", "power_net_l3" },
	/* 31/51/71.7.0, 91.7.0 */
	{ "1-0:31.7.0", "current_l1" },
	{ "1-0:51.7.0", "current_l2" },
	{ "1-0:71.7.0", "current_l3" },
	{ "1-0:91.7.0", "current_neutral" },
	/* 32/52/72.7.0 */
	{ "1-0:32.7.0", "voltage_l1" },
	{ "1-0:52.7.0", "voltage_l2" },
	{ "1-0:72.7.0", "voltage_l3" },
	/* 13.7.0, 33/53/73.7.0 */
	{ "1-0:13.7.0", "power_factor" },
	{ "1-0:33.7.0", "power_factor_l1" },
	{ "1-0:53.7.0", "power_factor_l2" },
	{ "1-0:73.7.0", "power_factor_l3" },
	/* 14.7.0 */
	{ "1-0:14.7.0", "frequency" },
	/* 32/52/72.32.0, 32/52/72.36.0 */
	{ "1-0:32.32.0", "voltage_sags_l1" },
	{ "1-0:52.32.0", "voltage_sags_l2" },
	{ "1-0:72.32.0", "voltage_sags_l3" },
	{ "1-0:32.36.0", "voltage_swells_l1" },
	{ "1-0:52.36.0", "voltage_swells_l2" },
	{ "1-0:72.36.0", "voltage_swells_l3" },
	/* 0-0:96.14.0 */
	{ "0-0:96.14.0", "tariff" },
	/* 0-0:96.7.21, 0-0:96.7.9 */
	{ "0-0:96.7.21", "power_failures" },
	{ "0-0:96.7.9", "long_power_failures" },
	/* anything else */
	{ "0-0:C.1.0", "obis_0_0_C_1_0" },
	{ "0-0:96.1.1", "obis_0_0_96_1_1" },
	{ "0-0:96.13.0", "obis_0_0_96_13_0" },
	{ "0-0:1.0.0", "obis_0_0_1_0_0" },
	{ "1-3:0.2.8", "obis_1_3_0_2_8" },
	{ "0-0:C.51.2*255", "obis_0_0_C_51_2" },
	{ "C.1.0", "obis_C_1_0" },
	{ "F.F", "obis_F_F" },
	{ "1-0:1.8", "obis_1_0_1_8" },
	{ "255-255:255.255.255", "obis_255_255_255_255_255" },
	{ "1-0:99.97.0", "obis_1_0_99_97_0" },
	{ "1-0:1.8.10", "obis_1_0_1_8_10" },  /* tariffs are 1..9 */
	{ "1-0:3.8.1", "obis_1_0_3_8_1" },    /* tariffs only for 1.8/2.8 */
	{ "1-0:1.7.1", "obis_1_0_1_7_1" },
	{ "1-0:31.6.0", "obis_1_0_31_6_0" },  /* current is no power quantity */
	{ "1-0:32.4.0", "obis_1_0_32_4_0" },
	{ "1-0:1.5.0", "obis_1_0_1_5_0" },
	{ "1-0:1.6.1", "obis_1_0_1_6_1" },
	{ "1-0:32.33.0", "obis_1_0_32_33_0" },
	{ "1-0:31.32.0", "obis_1_0_31_32_0" },
	{ "2-0:1.8.0", "obis_2_0_1_8_0" },    /* not electricity */
	{ "0-0:1.8.0", "obis_0_0_1_8_0" },
	{ "1-0:96.14.0", "obis_1_0_96_14_0" },
	{ "0-1:96.14.0", "obis_0_1_96_14_0" },
	{ "0-0:96.7.21*3", "power_failures_f3" },
	{ "C.1.0*2", "obis_C_1_0_f2" },
	{ "0-0:24.2.1", "obis_0_0_24_2_1" },  /* channel 0 is no M-Bus channel */
	{ "F", "obis_F" },
	{ "6.26*01", "obis_6_26_f1" },
	{ "1-0:72:32.0", "voltage_sags_l3" },
	{ "1-0:31.7.0.255", "current_l1" },
};

static void check_name(const char *code, const struct sm_name_ctx *ctx, const char *want)
{
	struct sm_obis o = must_parse(code);
	char name[SM_NAME_LEN];
	memset(name, 'x', sizeof name);
	sm_obis_name(&o, ctx, name, sizeof name);
	if (strcmp(name, want) != 0)
		fail_msg("name of %s: \"%s\" want \"%s\"", code, name, want);
}

static void test_spec_rows(void **state)
{
	(void)state;
	struct sm_name_ctx ctx;
	memset(&ctx, 0, sizeof ctx);
	for (size_t i = 0; i < sizeof spec_rows / sizeof spec_rows[0]; i++) {
		check_name(spec_rows[i].code, &ctx, spec_rows[i].name);
		check_name(spec_rows[i].code, NULL, spec_rows[i].name);
	}
}

/* 1.8.T, 2.8.T (T = 1..9) */
static void test_tariffs(void **state)
{
	(void)state;
	for (unsigned t = 1; t <= 9; t++) {
		char code[32], want[48];
		snprintf(code, sizeof code, "1-0:1.8.%u", t);
		snprintf(want, sizeof want, "energy_import_t%u", t);
		check_name(code, NULL, want);
		snprintf(code, sizeof code, "1-0:2.8.%u", t);
		snprintf(want, sizeof want, "energy_export_t%u", t);
		check_name(code, NULL, want);
		/* historic tariff values */
		snprintf(code, sizeof code, "1-0:1.8.%u*12", t);
		snprintf(want, sizeof want, "energy_import_t%u_f12", t);
		check_name(code, NULL, want);
	}
}

/* C.4.0 / C.6.0 of every power quantity */
static void test_demand_max(void **state)
{
	(void)state;
	static const struct { unsigned c; const char *name; } power[] = {
		{ 1, "power_import" }, { 2, "power_export" },
		{ 3, "reactive_power_import" }, { 4, "reactive_power_export" },
		{ 5, "reactive_power_q1" }, { 6, "reactive_power_q2" },
		{ 7, "reactive_power_q3" }, { 8, "reactive_power_q4" },
		{ 9, "apparent_power_import" }, { 10, "apparent_power_export" },
		{ 15, "power_absolute" }, { 16, "power_net" },
		{ 21, "power_import_l1" }, { 41, "power_import_l2" }, { 61, "power_import_l3" },
		{ 22, "power_export_l1" }, { 42, "power_export_l2" }, { 62, "power_export_l3" },
		{ 36, "power_net_l1" }, { 56, "power_net_l2" }, { 76, "power_net_l3" },
	};
	for (size_t i = 0; i < sizeof power / sizeof power[0]; i++) {
		char code[32], want[64];
		snprintf(code, sizeof code, "1-0:%u.4.0", power[i].c);
		snprintf(want, sizeof want, "%s_demand", power[i].name);
		check_name(code, NULL, want);
		snprintf(code, sizeof code, "1-0:%u.6.0", power[i].c);
		snprintf(want, sizeof want, "%s_max", power[i].name);
		check_name(code, NULL, want);
		/* demand/max are not event counters */
		struct sm_obis o = must_parse(code);
		assert_int_equal(sm_obis_kind(&o, SM_UNIT_W), SM_KIND_POWER);
	}
	check_name("1-0:1.6.0", NULL, "power_import_max");
	check_name("1-0:1.4.0", NULL, "power_import_demand");
	check_name("1-1:1.6.0", NULL, "power_import_max");
	check_name("1-0:1.6.0*5", NULL, "power_import_max_f5");
	check_name("1-2:2.4.0", NULL, "power_export_demand_ch2");
	check_name("1.6.0", NULL, "power_import_max");
}

/* A=1 with B in {0,1} is plain; B > 1 adds _chB */
static void test_channels_b(void **state)
{
	(void)state;
	check_name("1-1:1.8.0", NULL, "energy_import");
	check_name("1-1:32.7.0", NULL, "voltage_l1");
	check_name("1-2:1.8.0", NULL, "energy_import_ch2");
	check_name("1-3:1.8.2", NULL, "energy_import_t2_ch3");
	check_name("1-255:32.32.0", NULL, "voltage_sags_l1_ch255");
	check_name("1-2:1.8.1*7", NULL, "energy_import_t1_ch2_f7");
	/* reduced codes (IEC 62056-21) are named like A=1, B=0 */
	check_name("1.8.0", NULL, "energy_import");
	check_name("1.8.1", NULL, "energy_import_t1");
	check_name("32.7.0", NULL, "voltage_l1");
	check_name("96.7.21", NULL, "power_failures");
	check_name("1.8.0*03", NULL, "energy_import_f3");
}

/* Historic values: F present and != 255 */
static void test_historic(void **state)
{
	(void)state;
	check_name("1-0:1.8.0*1", NULL, "energy_import_f1");
	check_name("1-0:1.8.0*255", NULL, "energy_import");
	check_name("1-0:1.8.0*0", NULL, "energy_import_f0");
	check_name("1-0:1.8.0*254", NULL, "energy_import_f254");
	check_name("1-0:2.8.2*12", NULL, "energy_export_t2_f12");
	check_name("0-0:96.99.99*7", NULL, "obis_0_0_96_99_99_f7");
	struct sm_obis o = sm_obis_make(1, 0, 1, 8, 0, 255);
	char name[SM_NAME_LEN];
	sm_obis_name(&o, NULL, name, sizeof name);
	assert_string_equal(name, "energy_import");
	o = sm_obis_make(1, 0, 1, 8, 0, 3);
	sm_obis_name(&o, NULL, name, sizeof name);
	assert_string_equal(name, "energy_import_f3");
}

/* M-Bus: 0-n:24.2.1, 0-n:24.2.3, 0-n:24.3.0 by the channel's medium */
static void test_mbus(void **state)
{
	(void)state;
	struct sm_name_ctx ctx;
	memset(&ctx, 0, sizeof ctx);
	/* unknown medium: obis_ name, even for m3 */
	check_name("0-1:24.2.1", &ctx, "obis_0_1_24_2_1");
	check_name("0-1:24.2.1", NULL, "obis_0_1_24_2_1");
	check_name("0-1:24.2.3", &ctx, "obis_0_1_24_2_3");
	check_name("0-1:24.3.0", &ctx, "obis_0_1_24_3_0");

	ctx.media[1] = SM_MEDIUM_GAS;
	ctx.medium_rank[1] = 1;
	ctx.media[2] = SM_MEDIUM_WATER;
	ctx.medium_rank[2] = 1;
	ctx.media[3] = SM_MEDIUM_GAS;
	ctx.medium_rank[3] = 2;
	ctx.media[4] = SM_MEDIUM_HEAT;
	ctx.medium_rank[4] = 1;
	ctx.media[5] = SM_MEDIUM_WATER;
	ctx.medium_rank[5] = 2;
	ctx.media[6] = SM_MEDIUM_HEAT;
	ctx.medium_rank[6] = 3;
	ctx.media[7] = SM_MEDIUM_GAS;
	ctx.medium_rank[7] = 0; /* rank unknown: plain */
	static const struct name_case mbus[] = {
		{ "0-1:24.2.1", "gas_volume" },
		{ "0-1:24.2.3", "gas_volume" },
		{ "0-1:24.3.0", "gas_volume" },
		{ "0-2:24.2.1", "water_volume" },
		{ "0-2:24.2.3", "water_volume" },
		{ "0-2:24.3.0", "water_volume" },
		{ "0-3:24.2.1", "gas_volume_ch2" },
		{ "0-3:24.2.3", "gas_volume_ch2" },
		{ "0-3:24.3.0", "gas_volume_ch2" },
		{ "0-4:24.2.1", "heat_energy" },
		{ "0-4:24.2.3", "heat_energy" },
		{ "0-4:24.3.0", "heat_energy" },
		{ "0-5:24.2.1", "water_volume_ch2" },
		{ "0-6:24.2.1", "heat_energy_ch3" },
		{ "0-7:24.2.1", "gas_volume" },
		{ "0-8:24.2.1", "obis_0_8_24_2_1" }, /* beyond the context */
		{ "0-1:24.2.1*255", "gas_volume" },
		{ "0-1:24.2.1*2", "gas_volume_f2" },
		{ "0-3:24.2.1*2", "gas_volume_ch2_f2" },
		{ "0-1:24.2.2", "obis_0_1_24_2_2" },
		{ "0-1:24.1.0", "obis_0_1_24_1_0" },
		{ "0-1:96.1.0", "obis_0_1_96_1_0" },
		{ "1-1:24.2.1", "obis_1_1_24_2_1" },
		{ "24.2.1", "obis_24_2_1" },         /* no channel */
		{ "0-0:24.2.1", "obis_0_0_24_2_1" },
	};
	for (size_t i = 0; i < sizeof mbus / sizeof mbus[0]; i++)
		check_name(mbus[i].code, &ctx, mbus[i].name);

	/* an out-of-range medium value does not crash */
	ctx.media[1] = (enum sm_medium)77;
	check_name("0-1:24.2.1", &ctx, "obis_0_1_24_2_1");
}

static void test_name_bounds(void **state)
{
	(void)state;
	/* the longest names fit SM_NAME_LEN */
	check_name("1-255:10.6.0*254", NULL, "apparent_power_export_max_ch255_f254");
	check_name("255-255:255.255.255*254", NULL, "obis_255_255_255_255_255_f254");
	/* truncation always NUL-terminates */
	struct sm_obis o = must_parse("1-0:1.8.1");
	char small[8];
	sm_obis_name(&o, NULL, small, sizeof small);
	assert_string_equal(small, "energy_");
	char one[1] = { 'x' };
	sm_obis_name(&o, NULL, one, 1);
	assert_int_equal(one[0], '\0');
	sm_obis_name(&o, NULL, one, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cases),
		cmocka_unit_test(test_parse_truncations),
		cmocka_unit_test(test_parse_groups),
		cmocka_unit_test(test_make_eq),
		cmocka_unit_test(test_format_bounds),
		cmocka_unit_test(test_unit_parse),
		cmocka_unit_test(test_unit_str),
		cmocka_unit_test(test_kind_types),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_media),
		cmocka_unit_test(test_spec_rows),
		cmocka_unit_test(test_tariffs),
		cmocka_unit_test(test_demand_max),
		cmocka_unit_test(test_channels_b),
		cmocka_unit_test(test_historic),
		cmocka_unit_test(test_mbus),
		cmocka_unit_test(test_name_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
