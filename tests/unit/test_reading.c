/* test_reading.c - reading sets, exact decimals and meter time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "reading.h"

/* An exactly-sized heap copy (no NUL), so ASan catches any overread. */
static char *dup_exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	return b;
}

static enum sm_err dparse(const char *s, int64_t *raw, int8_t *scale)
{
	size_t n = strlen(s);
	char *b = dup_exact(s, n);
	enum sm_err e = sm_decimal_parse(b, n, raw, scale);
	free(b);
	return e;
}

static const char *dformat(int64_t raw, int8_t scale, char *out, size_t cap)
{
	struct sm_buf b;
	sm_buf_init(&b, out, cap);
	assert_int_equal(sm_decimal_format(&b, raw, scale), SM_OK);
	return out;
}

/* ---- sm_decimal_parse ---- */

struct dec_case {
	const char *in;
	enum sm_err err;
	int64_t raw;
	int scale;
};

static const struct dec_case dec_cases[] = {
	{ "022803.012", SM_OK, 22803012, -3 },
	{ "0", SM_OK, 0, 0 },
	{ "000", SM_OK, 0, 0 },
	{ "0.0", SM_OK, 0, -1 },
	{ "-0", SM_OK, 0, 0 },
	{ "-0.5", SM_OK, -5, -1 },
	{ "+12", SM_OK, 12, 0 },
	{ "230.1", SM_OK, 2301, -1 },
	{ "230.10", SM_OK, 23010, -2 },
	{ "        18438636", SM_OK, 18438636, 0 },
	{ "\t7 \t", SM_OK, 7, 0 },
	{ ".5", SM_OK, 5, -1 },
	{ "5.", SM_OK, 5, 0 },
	{ "00052185.7825309", SM_OK, 521857825309, -7 },
	{ "0.000001", SM_OK, 1, -6 },
	{ "999999999999999999", SM_OK, 999999999999999999, 0 },          /* 18 digits */
	{ "-999999999999999999", SM_OK, -999999999999999999, 0 },
	{ "00000000000000000000000999999999999999999", SM_OK, 999999999999999999, 0 },
	{ "99999999.9999999999", SM_OK, 999999999999999999, -10 },
	{ "0.000000000000000000000000000001", SM_OK, 1, -30 },
	{ "1000000000000000000", SM_E_RANGE, 0, 0 },                     /* 19 digits */
	{ "-9223372036854775808", SM_E_RANGE, 0, 0 },
	{ "1.000000000000000000", SM_E_RANGE, 0, 0 },
	{ "", SM_E_SYNTAX, 0, 0 },
	{ "   ", SM_E_SYNTAX, 0, 0 },
	{ ".", SM_E_SYNTAX, 0, 0 },
	{ "-", SM_E_SYNTAX, 0, 0 },
	{ "+-1", SM_E_SYNTAX, 0, 0 },
	{ "1.2.3", SM_E_SYNTAX, 0, 0 },
	{ "12a", SM_E_SYNTAX, 0, 0 },
	{ "1e3", SM_E_SYNTAX, 0, 0 },
	{ "1,5", SM_E_SYNTAX, 0, 0 },
	{ "1 2", SM_E_SYNTAX, 0, 0 },
	{ "- 1", SM_E_SYNTAX, 0, 0 },
	{ "1-", SM_E_SYNTAX, 0, 0 },
	{ "0x10", SM_E_SYNTAX, 0, 0 },
	{ "12\r", SM_E_SYNTAX, 0, 0 },
	{ "NaN", SM_E_SYNTAX, 0, 0 },
	{ "inf", SM_E_SYNTAX, 0, 0 },
};

static void test_decimal_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof dec_cases / sizeof dec_cases[0]; i++) {
		const struct dec_case *dc = &dec_cases[i];
		int64_t raw = 42;
		int8_t scale = 42;
		enum sm_err e = dparse(dc->in, &raw, &scale);
		if (e != dc->err)
			fail_msg("\"%s\": %s want %s", dc->in, sm_err_name(e), sm_err_name(dc->err));
		if (e != SM_OK) {
			assert_true(raw == 42 && scale == 42); /* untouched */
			continue;
		}
		if (raw != dc->raw || scale != dc->scale)
			fail_msg("\"%s\": %lld e%d want %lld e%d", dc->in, (long long)raw, scale,
				 (long long)dc->raw, dc->scale);
	}
	int64_t raw;
	int8_t scale;
	assert_int_equal(sm_decimal_parse(NULL, 0, &raw, &scale), SM_E_SYNTAX);
	/* n bounds the text */
	assert_int_equal(sm_decimal_parse("12345", 2, &raw, &scale), SM_OK);
	assert_int_equal(raw, 12);
	/* 128 fractional digits fit the scale, 129 do not */
	char many[140];
	many[0] = '0';
	many[1] = '.';
	memset(many + 2, '0', 127);
	many[129] = '1';
	char *b = dup_exact(many, 130);
	assert_int_equal(sm_decimal_parse(b, 130, &raw, &scale), SM_OK);
	assert_true(raw == 1 && scale == -128);
	free(b);
	memset(many + 2, '0', 128);
	many[130] = '1';
	b = dup_exact(many, 131);
	assert_int_equal(sm_decimal_parse(b, 131, &raw, &scale), SM_E_RANGE);
	free(b);
}

/* ---- sm_decimal_rescale ---- */

struct rescale_case {
	int64_t raw;
	int scale, exp10;
	enum sm_err err;
	int64_t out_raw;
	int out_scale;
};

static const struct rescale_case rescale_cases[] = {
	{ 22803012, -3, 3, SM_OK, 22803012, 0 },   /* "022803.012*kWh" */
	{ 5, -1, 3, SM_OK, 500, 0 },               /* "0.5*kW" */
	{ 12345, -4, 3, SM_OK, 12345, -1 },        /* "1.2345*kW" */
	{ 1, 0, 6, SM_OK, 1000000, 0 },            /* "1*MWh" */
	{ 107, -3, -3, SM_OK, 107, -6 },           /* "0.107*l" */
	{ 23010, -2, 0, SM_OK, 23010, -2 },
	{ 0, -3, 3, SM_OK, 0, 0 },
	{ 0, 100, 100, SM_OK, 0, 0 },
	{ -5, -1, 3, SM_OK, -500, 0 },
	{ 922337203685477580, 0, 1, SM_OK, 9223372036854775800, 0 },
	{ 922337203685477581, 0, 1, SM_OK, 922337203685477581, 1 }, /* keeps a positive scale */
	{ INT64_MAX, 0, 127, SM_OK, INT64_MAX, 127 },
	{ INT64_MAX, 0, 128, SM_E_RANGE, 0, 0 },
	{ INT64_MIN, 0, 3, SM_OK, INT64_MIN, 3 },
	{ -922337203685477580, 0, 1, SM_OK, -9223372036854775800, 0 },
	{ 1, 0, 200, SM_E_RANGE, 0, 0 },
	{ 1, 0, 18, SM_OK, 1000000000000000000, 0 },
	{ 1, 0, 19, SM_OK, 1000000000000000000, 1 },
	{ 1, -128, 0, SM_OK, 1, -128 },
	{ 1, -128, -1, SM_E_RANGE, 0, 0 },
	{ 10, -128, -1, SM_OK, 1, -128 },          /* trailing zero absorbs it */
	{ 1, 127, 0, SM_OK, 1000000000000000000, 109 },
	{ 1, 0, 100000, SM_E_RANGE, 0, 0 },
	{ 1, 0, -100000, SM_E_RANGE, 0, 0 },
};

static void test_decimal_rescale(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rescale_cases / sizeof rescale_cases[0]; i++) {
		const struct rescale_case *rc = &rescale_cases[i];
		int64_t raw = rc->raw;
		int8_t scale = (int8_t)rc->scale;
		enum sm_err e = sm_decimal_rescale(&raw, &scale, rc->exp10);
		if (e != rc->err)
			fail_msg("case %zu: %s want %s", i, sm_err_name(e), sm_err_name(rc->err));
		if (e != SM_OK) {
			assert_true(raw == rc->raw && scale == rc->scale); /* untouched */
			continue;
		}
		if (raw != rc->out_raw || scale != rc->out_scale)
			fail_msg("case %zu: %lld e%d want %lld e%d", i, (long long)raw, scale,
				 (long long)rc->out_raw, rc->out_scale);
	}
}

/* ---- sm_decimal_format ---- */

struct fmt_case {
	int64_t raw;
	int scale;
	const char *out;
};

static const struct fmt_case fmt_cases[] = {
	{ 2301, -1, "230.1" },
	{ 23010, -2, "230.1" },
	{ 0, 0, "0" },
	{ 0, -3, "0" },
	{ 0, 5, "0" },
	{ -5, -1, "-0.5" },
	{ 22803012, 0, "22803012" },
	{ 22803012, -3, "22803.012" },
	{ 12345, -1, "1234.5" },
	{ 1, -6, "0.000001" },
	{ -1, -6, "-0.000001" },
	{ 1000, -3, "1" },
	{ -1000, -3, "-1" },
	{ 1200, -3, "1.2" },
	{ 5, 2, "500" },
	{ -5, 3, "-5000" },
	{ 10, -1, "1" },
	{ INT64_MAX, 0, "9223372036854775807" },
	{ INT64_MIN, 0, "-9223372036854775808" },
	{ INT64_MIN, -19, "-0.9223372036854775808" },
	{ INT64_MIN, -20, "-0.09223372036854775808" },
	{ INT64_MAX, -1, "922337203685477580.7" },
	{ 1, -30, "0.000000000000000000000000000001" },
	{ 1, 20, "100000000000000000000" },
};

static void test_decimal_format(void **state)
{
	(void)state;
	char out[256];
	for (size_t i = 0; i < sizeof fmt_cases / sizeof fmt_cases[0]; i++) {
		dformat(fmt_cases[i].raw, (int8_t)fmt_cases[i].scale, out, sizeof out);
		if (strcmp(out, fmt_cases[i].out) != 0)
			fail_msg("%lld e%d: \"%s\" want \"%s\"", (long long)fmt_cases[i].raw,
				 fmt_cases[i].scale, out, fmt_cases[i].out);
	}
	/* extremes of the scale */
	dformat(1, 127, out, sizeof out);
	assert_int_equal(strlen(out), 128);
	dformat(-1, -128, out, sizeof out);
	assert_int_equal(strlen(out), 131);
	assert_memory_equal(out, "-0.000", 6);
	assert_int_equal(out[130], '1');
	dformat(INT64_MIN, 127, out, sizeof out);
	assert_int_equal(strlen(out), 20 + 127);
	dformat(INT64_MIN, -128, out, sizeof out);
	assert_int_equal(strlen(out), 1 + 2 + 128);

	/* appends, and SM_E_FULL leaves the buffer unchanged */
	char st[8];
	struct sm_buf b;
	sm_buf_init(&b, st, sizeof st);
	assert_int_equal(sm_buf_adds(&b, "v="), SM_OK);
	assert_int_equal(sm_decimal_format(&b, -5, -1), SM_OK);
	assert_string_equal(st, "v=-0.5");
	assert_int_equal(sm_decimal_format(&b, 12, 0), SM_E_FULL);
	assert_string_equal(st, "v=-0.5");
	assert_int_equal(sm_decimal_format(&b, 1, 0), SM_OK);
	assert_string_equal(st, "v=-0.51");
	assert_int_equal(sm_decimal_format(&b, 0, 0), SM_E_FULL);
}

/* parse -> rescale -> format round trips, as meters send them */
static void test_decimal_pipeline(void **state)
{
	(void)state;
	static const struct { const char *val; int exp10; const char *out; int64_t raw; int scale; } p[] = {
		{ "022803.012", 3, "22803012", 22803012, 0 },
		{ "0.5", 3, "500", 500, 0 },
		{ "1.2345", 3, "1234.5", 12345, -1 },
		{ "00052185.7825309", 3, "52185782.5309", 521857825309, -4 },
		{ "230.1", 0, "230.1", 2301, -1 },
		{ "-0.5", 0, "-0.5", -5, -1 },
		{ "00000.107", 0, "0.107", 107, -3 },
		{ "000000", 3, "0", 0, 0 },
		{ "999999999999999999", 3, "999999999999999999000", 999999999999999999, 3 },
	};
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
		int64_t raw;
		int8_t scale;
		char out[64];
		assert_int_equal(dparse(p[i].val, &raw, &scale), SM_OK);
		assert_int_equal(sm_decimal_rescale(&raw, &scale, p[i].exp10), SM_OK);
		if (raw != p[i].raw || scale != p[i].scale)
			fail_msg("%s: %lld e%d", p[i].val, (long long)raw, scale);
		assert_string_equal(dformat(raw, scale, out, sizeof out), p[i].out);
	}
}

static void test_decimal_to_double(void **state)
{
	(void)state;
	assert_true(sm_decimal_to_double(22803012, 0) == 22803012.0);
	assert_true(sm_decimal_to_double(2301, -1) == 230.1);
	assert_true(sm_decimal_to_double(-5, -1) == -0.5);
	assert_true(sm_decimal_to_double(5, 2) == 500.0);
	assert_true(sm_decimal_to_double(0, -7) == 0.0);
	assert_true(sm_decimal_to_double(12345, -1) == 1234.5);
	assert_true(sm_decimal_to_double(1, -3) == 0.001);
	double big = sm_decimal_to_double(1, 127);
	assert_true(big > 9.9e126 && big < 1.1e127);
	double tiny = sm_decimal_to_double(1, -128);
	assert_true(tiny > 0.99e-128 && tiny < 1.01e-128);
}

/* ---- time ---- */

static void test_civil(void **state)
{
	(void)state;
	int64_t ms = 1;
	assert_true(sm_civil_to_ms(1970, 1, 1, 0, 0, 0, 0, &ms));
	assert_true(ms == 0);
	/* 2017-01-02 16:10:05 +01:00 = 15:10:05 UTC */
	assert_true(sm_civil_to_ms(2017, 1, 2, 16, 10, 5, 60, &ms));
	assert_true(ms == 1483369805000LL);
	assert_true(sm_civil_to_ms(2000, 2, 29, 12, 0, 0, 0, &ms));
	assert_true(ms == 951825600000LL);
	assert_true(sm_civil_to_ms(2024, 11, 21, 11, 53, 20, 0, &ms));
	assert_true(ms == 1732190000000LL);
	assert_true(sm_civil_to_ms(2024, 12, 31, 23, 59, 59, 0, &ms));
	assert_true(ms == 1735689599000LL);
	assert_true(sm_civil_to_ms(2099, 12, 31, 23, 59, 59, 0, &ms));
	assert_true(ms == 4102444799000LL);
	assert_true(sm_civil_to_ms(2024, 3, 1, 0, 0, 0, 0, &ms));
	assert_true(ms == 1709251200000LL);
	assert_true(sm_civil_to_ms(2023, 3, 1, 0, 0, 0, 0, &ms));
	assert_true(ms == 1677628800000LL);
	/* summer time */
	assert_true(sm_civil_to_ms(2024, 7, 1, 2, 0, 0, 120, &ms));
	assert_true(ms == 1719792000000LL);
	/* a negative offset */
	assert_true(sm_civil_to_ms(2024, 7, 1, 0, 0, 0, -300, &ms));
	assert_true(ms == 1719792000000LL + 5 * 3600000LL);
	/* leap second */
	int64_t m59;
	assert_true(sm_civil_to_ms(2016, 12, 31, 23, 59, 60, 0, &ms));
	assert_true(sm_civil_to_ms(2016, 12, 31, 23, 59, 59, 0, &m59));
	assert_true(ms == m59);
	/* every day of a span agrees with a running day count */
	int64_t prev;
	assert_true(sm_civil_to_ms(1970, 1, 1, 0, 0, 0, 0, &prev));
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	for (int y = 1970; y <= 2099; y++)
		for (int m = 1; m <= 12; m++) {
			int nd = dim[m - 1] + (m == 2 && y % 4 == 0 ? 1 : 0);
			for (int d = 1; d <= nd; d++) {
				if (y == 1970 && m == 1 && d == 1)
					continue;
				assert_true(sm_civil_to_ms(y, m, d, 0, 0, 0, 0, &ms));
				assert_true(ms - prev == 86400000LL);
				prev = ms;
			}
			assert_false(sm_civil_to_ms(y, m, nd + 1, 0, 0, 0, 0, &ms));
		}

	/* invalid */
	ms = 77;
	assert_false(sm_civil_to_ms(2063, 25, 25, 25, 25, 25, 0, &ms));
	assert_false(sm_civil_to_ms(1969, 12, 31, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2100, 1, 1, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 0, 1, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 13, 1, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 0, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 32, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2023, 2, 29, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 4, 31, 0, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, 24, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, -1, 0, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, 0, 60, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, 0, -1, 0, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, 0, 0, 61, 0, &ms));
	assert_false(sm_civil_to_ms(2024, 1, 1, 0, 0, -1, 0, &ms));
	assert_int_equal(ms, 77);
}

static void test_reading_time(void **state)
{
	(void)state;
	static struct sm_reading_set s;
	sm_set_clear(&s);
	struct sm_obis o = sm_obis_make5(1, 0, 1, 8, 0);
	const int64_t rx = 1732190000000LL;
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_WH, NULL, 0, rx - 3600000), SM_OK);
	const struct sm_reading *r0 = &s.r[0], *r1 = &s.r[1];
	/* nothing: rx */
	assert_true(sm_reading_time(&s, r0, rx, 60000) == rx);
	/* set time, plausible */
	s.meter_time_ms = rx - 5000;
	assert_true(sm_reading_time(&s, r0, rx, 60000) == rx - 5000);
	assert_true(sm_reading_time(&s, r0, rx, 5000) == rx - 5000);   /* boundary */
	assert_true(sm_reading_time(&s, r0, rx, 4999) == rx);          /* implausible */
	assert_true(sm_reading_time(&s, r0, rx, 0) == rx - 5000);      /* offline */
	s.meter_time_ms = rx + 5000;                                   /* ahead */
	assert_true(sm_reading_time(&s, r0, rx, 5000) == rx + 5000);
	assert_true(sm_reading_time(&s, r0, rx, 4999) == rx);
	/* the reading's own time wins when plausible */
	assert_true(sm_reading_time(&s, r1, rx, 0) == rx - 3600000);
	assert_true(sm_reading_time(&s, r1, rx, 7200000) == rx - 3600000);
	/* ... else the set's time */
	assert_true(sm_reading_time(&s, r1, rx, 60000) == rx + 5000);
	s.meter_time_ms = 0;
	assert_true(sm_reading_time(&s, r1, rx, 60000) == rx);
	assert_true(sm_reading_time(&s, NULL, rx, 60000) == rx);
	/* extremes do not overflow */
	s.meter_time_ms = INT64_MAX;
	assert_true(sm_reading_time(&s, r0, INT64_MIN, INT64_MAX) == INT64_MIN);
	s.meter_time_ms = INT64_MIN;
	assert_true(sm_reading_time(&s, r0, INT64_MAX, INT64_MAX) == INT64_MAX);
	assert_true(sm_reading_time(&s, r0, 0, 1) == 0);
}

/* ---- reading sets ---- */

static void test_set_basic(void **state)
{
	(void)state;
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	memset(s, 0xA5, sizeof *s);
	sm_set_clear(s);
	assert_int_equal(s->n, 0);
	assert_int_equal(s->text_used, 0);
	assert_true(s->meter_time_ms == 0);
	assert_int_equal(s->names.media[1], SM_MEDIUM_UNKNOWN);
	assert_int_equal(s->names.medium_rank[1], 0);

	struct sm_obis t1 = sm_obis_make5(1, 0, 1, 8, 1);
	struct sm_obis v1 = sm_obis_make5(1, 0, 32, 7, 0);
	struct sm_obis id = sm_obis_make5(0, 0, 96, 1, 1);
	struct sm_obis gas = sm_obis_make5(0, 1, 24, 2, 1);
	struct sm_obis hist = sm_obis_make(1, 0, 1, 8, 0, 1);
	struct sm_obis sags = sm_obis_make5(1, 0, 32, 32, 0);
	struct sm_obis heat = sm_obis_make5(0, 2, 24, 2, 1);
	assert_int_equal(sm_set_add_number(s, &t1, 1234567, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &v1, 2301, -1, SM_UNIT_V, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_text(s, &id, "4530303034", 10, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &gas, 107, -3, SM_UNIT_M3, NULL, 0, 1483369805000LL), SM_OK);
	assert_int_equal(sm_set_add_number(s, &hist, 5, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &sags, 3, 0, SM_UNIT_NONE, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &heat, 1234, -3, SM_UNIT_OTHER, "GJ", 2, 0), SM_OK);
	assert_int_equal(sm_set_add_text(s, &id, "", 0, 0), SM_OK);
	assert_int_equal(s->n, 8);
	s->names.media[1] = SM_MEDIUM_GAS;
	s->names.medium_rank[1] = 1;
	s->names.media[2] = SM_MEDIUM_HEAT;
	s->names.medium_rank[2] = 1;
	sm_set_finish(s);

	const struct sm_reading *r = sm_set_find(s, "energy_import_t1");
	assert_non_null(r);
	assert_ptr_equal(r, &s->r[0]);
	assert_int_equal(r->kind, SM_KIND_ENERGY);
	assert_true(r->raw == 1234567 && r->scale == 0);
	assert_false(r->is_text);
	r = sm_set_find(s, "voltage_l1");
	assert_non_null(r);
	assert_int_equal(r->kind, SM_KIND_VOLTAGE);
	r = sm_set_find(s, "obis_0_0_96_1_1");
	assert_non_null(r);
	assert_true(r->is_text);
	assert_int_equal(r->kind, SM_KIND_TEXT);
	assert_int_equal(r->text_len, 10);
	assert_memory_equal(sm_reading_text(s, r), "4530303034", 10);
	r = sm_set_find(s, "gas_volume");
	assert_non_null(r);
	assert_int_equal(r->kind, SM_KIND_GAUGE);
	assert_true(r->time_ms == 1483369805000LL);
	r = sm_set_find(s, "energy_import_f1");
	assert_non_null(r);
	r = sm_set_find(s, "voltage_sags_l1");
	assert_non_null(r);
	assert_int_equal(r->kind, SM_KIND_COUNT);
	r = sm_set_find(s, "heat_energy");
	assert_non_null(r);
	assert_int_equal(r->unit, SM_UNIT_OTHER);
	assert_string_equal(r->unit_text, "GJ");
	assert_int_equal(r->kind, SM_KIND_GAUGE);
	assert_int_equal(s->r[7].text_len, 0);
	assert_int_equal(s->text_used, 10);
	assert_null(sm_set_find(s, "energy_import"));
	assert_null(sm_set_find(s, ""));

	struct sm_obis q = sm_obis_make(1, 0, 32, 7, 0, 255);
	assert_ptr_equal(sm_set_find_obis(s, &q), &s->r[1]);
	assert_ptr_equal(sm_set_find_obis(s, &id), &s->r[2]); /* first one */
	q = sm_obis_make5(1, 0, 1, 8, 0);
	assert_null(sm_set_find_obis(s, &q)); /* only the *1 historic one */

	/* a plain struct copy is a deep copy */
	struct sm_reading_set *c = malloc(sizeof *c);
	assert_non_null(c);
	*c = *s;
	sm_set_clear(s);
	assert_null(sm_set_find(s, "obis_0_0_96_1_1"));
	r = sm_set_find(c, "obis_0_0_96_1_1");
	assert_non_null(r);
	assert_memory_equal(sm_reading_text(c, r), "4530303034", 10);
	free(c);
	free(s);
}

static void test_set_unit_text(void **state)
{
	(void)state;
	static struct sm_reading_set s;
	sm_set_clear(&s);
	struct sm_obis o = sm_obis_make5(0, 1, 24, 2, 1);
	char *u = dup_exact("verylongunit", 12);
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_OTHER, u, 12, 0), SM_OK);
	assert_string_equal(s.r[0].unit_text, "verylon");
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_OTHER, u, 7, 0), SM_OK);
	assert_string_equal(s.r[1].unit_text, "verylon");
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_OTHER, u, 0, 0), SM_OK);
	assert_string_equal(s.r[2].unit_text, "");
	/* unit text ignored unless OTHER */
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_M3, u, 12, 0), SM_OK);
	assert_string_equal(s.r[3].unit_text, "");
	assert_int_equal(sm_set_add_number(&s, &o, 1, 0, SM_UNIT_M3, NULL, 0, 0), SM_OK);
	free(u);
}

static void test_set_full(void **state)
{
	(void)state;
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	struct sm_obis o = sm_obis_make5(1, 0, 1, 8, 0);
	for (int i = 0; i < SM_MAX_READINGS; i++)
		assert_int_equal(sm_set_add_number(s, &o, i, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(s->n, SM_MAX_READINGS);
	assert_int_equal(sm_set_add_number(s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0), SM_E_FULL);
	assert_int_equal(sm_set_add_text(s, &o, "x", 1, 0), SM_E_FULL);
	assert_int_equal(s->n, SM_MAX_READINGS);
	assert_int_equal(s->text_used, 0);
	sm_set_finish(s);
	assert_string_equal(s->r[SM_MAX_READINGS - 1].name, "energy_import");

	/* the text pool: exactly full, then one byte more fails */
	sm_set_clear(s);
	char *big = malloc(SM_TEXT_POOL);
	assert_non_null(big);
	memset(big, 'a', SM_TEXT_POOL);
	assert_int_equal(sm_set_add_text(s, &o, big, SM_TEXT_POOL + 1, 0), SM_E_FULL);
	assert_int_equal(s->n, 0);
	assert_int_equal(sm_set_add_text(s, &o, big, SM_TEXT_POOL - 1, 0), SM_OK);
	assert_int_equal(sm_set_add_text(s, &o, big, 2, 0), SM_E_FULL);
	assert_int_equal(s->n, 1);
	assert_int_equal(sm_set_add_text(s, &o, big, 1, 0), SM_OK);
	assert_int_equal(s->text_used, SM_TEXT_POOL);
	assert_int_equal(s->r[1].text_off, SM_TEXT_POOL - 1);
	assert_int_equal(sm_set_add_text(s, &o, big, 1, 0), SM_E_FULL);
	assert_int_equal(sm_set_add_text(s, &o, big, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_text(s, &o, big, (size_t)-1, 0), SM_E_FULL);
	assert_int_equal(sm_set_add_number(s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	free(big);
	free(s);
}

static void test_ms_to_civil_round_trip(void **state)
{
	(void)state;
	struct sm_civil c;
	int64_t back = 0;
	sm_ms_to_civil(0, 0, &c);
	assert_int_equal(c.year, 1970);
	assert_int_equal(c.month, 1);
	assert_int_equal(c.day, 1);
	sm_ms_to_civil(1732190000000LL, 60, &c); /* 2024-11-21 11:53:20 UTC */
	assert_int_equal(c.year, 2024);
	assert_int_equal(c.month, 11);
	assert_int_equal(c.day, 21);
	assert_int_equal(c.hour, 12);
	assert_int_equal(c.min, 53);
	assert_int_equal(c.sec, 20);
	/* every day from 1970 to 2099 at a few offsets: inverse of sm_civil_to_ms */
	for (int64_t ms = 0; ms < 4102444800000LL; ms += 86400000LL * 7 + 3723000) {
		for (int off = -120; off <= 120; off += 60) {
			sm_ms_to_civil(ms, off, &c);
			if (c.year < 1970 || c.year > 2099)
				continue; /* outside sm_civil_to_ms's range */
			assert_true(sm_civil_to_ms(c.year, c.month, c.day, c.hour, c.min, c.sec, off, &back));
			assert_int_equal(back, ms - ms % 1000);
		}
	}
	sm_ms_to_civil(-1, 0, &c); /* one ms before the epoch */
	assert_int_equal(c.year, 1969);
	assert_int_equal(c.month, 12);
	assert_int_equal(c.day, 31);
	assert_int_equal(c.sec, 59);
}

static void test_cet_offset(void **state)
{
	(void)state;
	char l = 0;
	int64_t ms;
	/* 2026: CEST from 29 March 01:00 UTC to 25 October 01:00 UTC */
	assert_true(sm_civil_to_ms(2026, 3, 29, 0, 59, 59, 0, &ms));
	assert_int_equal(sm_cet_offset(ms, &l), 60);
	assert_int_equal(l, 'W');
	assert_true(sm_civil_to_ms(2026, 3, 29, 1, 0, 0, 0, &ms));
	assert_int_equal(sm_cet_offset(ms, &l), 120);
	assert_int_equal(l, 'S');
	assert_true(sm_civil_to_ms(2026, 10, 25, 0, 59, 59, 0, &ms));
	assert_int_equal(sm_cet_offset(ms, NULL), 120);
	assert_true(sm_civil_to_ms(2026, 10, 25, 1, 0, 0, 0, &ms));
	assert_int_equal(sm_cet_offset(ms, &l), 60);
	assert_int_equal(l, 'W');
	assert_true(sm_civil_to_ms(2024, 7, 1, 12, 0, 0, 0, &ms));
	assert_int_equal(sm_cet_offset(ms, NULL), 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_parse),
		cmocka_unit_test(test_decimal_rescale),
		cmocka_unit_test(test_decimal_format),
		cmocka_unit_test(test_decimal_pipeline),
		cmocka_unit_test(test_decimal_to_double),
		cmocka_unit_test(test_civil),
		cmocka_unit_test(test_reading_time),
		cmocka_unit_test(test_set_basic),
		cmocka_unit_test(test_set_unit_text),
		cmocka_unit_test(test_set_full),
		cmocka_unit_test(test_ms_to_civil_round_trip),
		cmocka_unit_test(test_cet_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
