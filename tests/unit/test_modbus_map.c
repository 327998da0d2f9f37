/* test_modbus_map.c - Modbus register maps: names, word decoding and
 * encoding, the request planner, poll decoding, plan text, built-in models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "buf.h"
#include "modbus_map.h"
#include "obis.h"
#include "reading.h"

/* ---- helpers ---- */

/* An exactly-sized heap copy of n words, so ASan catches any overread. */
static uint16_t *dup_words(const uint16_t *w, size_t n)
{
	uint16_t *b = malloc(n ? n * sizeof *b : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, w, n * sizeof *b);
	return b;
}

static struct sm_mb_reg mkreg(const char *name, uint8_t fc, uint16_t addr, enum sm_mb_type t,
			      enum sm_mb_order o)
{
	struct sm_mb_reg r;
	memset(&r, 0, sizeof r);
	r.name = name;
	r.function = fc;
	r.address = addr;
	r.type = t;
	r.order = o;
	r.mul = 1;
	r.exp = 0;
	r.unit = SM_UNIT_NONE;
	return r;
}

static struct sm_mb_map mkmap(const struct sm_mb_reg *regs, size_t n, uint16_t max_count, bool even,
			      uint16_t max_gap)
{
	struct sm_mb_map m;
	memset(&m, 0, sizeof m);
	m.name = "test";
	m.description = "test map";
	m.max_count = max_count;
	m.even = even;
	m.max_gap = max_gap;
	m.nregs = n;
	m.regs = regs;
	return m;
}

/* Decode words (copied to an exact buffer) with reg. */
static enum sm_err dec(const struct sm_mb_reg *r, const uint16_t *w, int64_t *raw, int8_t *scale)
{
	unsigned n = sm_mb_type_words(r->type);
	uint16_t *b = dup_words(w, n);
	enum sm_err e = sm_mb_value_decode(r, b, raw, scale);
	free(b);
	return e;
}

static void expect_dec(const struct sm_mb_reg *r, const uint16_t *w, int64_t raw, int scale)
{
	int64_t gr = 12345;
	int8_t gs = 99;
	assert_int_equal(dec(r, w, &gr, &gs), SM_OK);
	if (gr != raw || gs != scale)
		fail_msg("%s/%s: got %lld e%d, want %lld e%d", sm_mb_type_name(r->type), sm_mb_order_name(r->order),
			 (long long)gr, gs, (long long)raw, scale);
}

static uint32_t f32_bits(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof b);
	return b;
}

static uint64_t f64_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	return b;
}

static void put32_abcd(uint32_t v, uint16_t *w)
{
	w[0] = (uint16_t)(v >> 16);
	w[1] = (uint16_t)v;
}

static void put64_abcd(uint64_t v, uint16_t *w)
{
	for (int i = 0; i < 4; i++)
		w[i] = (uint16_t)(v >> (48 - 16 * i));
}

/* both decimals as values */
static bool dec_eq(int64_t r1, int s1, int64_t r2, int s2)
{
	if (r1 == 0 || r2 == 0)
		return r1 == r2;
	while (r1 % 10 == 0) {
		r1 /= 10;
		s1++;
	}
	while (r2 % 10 == 0) {
		r2 /= 10;
		s2++;
	}
	return r1 == r2 && s1 == s2;
}

/* seeded PRNG (xorshift64*) */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}
static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- names, bauds, exceptions ---- */

static void test_names(void **state)
{
	(void)state;
	static const char *const tn[] = { "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64" };
	static const unsigned tw[] = { 1, 1, 2, 2, 4, 4, 2, 4 };
	for (int i = 0; i < 8; i++) {
		enum sm_mb_type t;
		assert_string_equal(sm_mb_type_name((enum sm_mb_type)i), tn[i]);
		assert_int_equal(sm_mb_type_words((enum sm_mb_type)i), tw[i]);
		assert_true(sm_mb_type_parse(tn[i], &t));
		assert_int_equal(t, i);
		char up[16];
		snprintf(up, sizeof up, "%s", tn[i]);
		for (char *p = up; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		assert_true(sm_mb_type_parse(up, &t));
		assert_int_equal(t, i);
	}
	enum sm_mb_type t;
	assert_false(sm_mb_type_parse("float", &t));
	assert_false(sm_mb_type_parse("int8", &t));
	assert_false(sm_mb_type_parse("", &t));
	assert_false(sm_mb_type_parse("int16 ", &t));
	assert_int_equal(sm_mb_type_words((enum sm_mb_type)8), 0);

	static const char *const on[] = { "ABCD", "CDAB", "BADC", "DCBA" };
	for (int i = 0; i < 4; i++) {
		enum sm_mb_order o;
		assert_string_equal(sm_mb_order_name((enum sm_mb_order)i), on[i]);
		assert_true(sm_mb_order_parse(on[i], &o));
		assert_int_equal(o, i);
	}
	enum sm_mb_order o;
	assert_true(sm_mb_order_parse("cdab", &o));
	assert_int_equal(o, SM_MB_CDAB);
	assert_true(sm_mb_order_parse("dCbA", &o));
	assert_int_equal(o, SM_MB_DCBA);
	assert_false(sm_mb_order_parse("ABDC", &o));
	assert_false(sm_mb_order_parse("AB", &o));
	assert_false(sm_mb_order_parse("", &o));
}

static void test_baud(void **state)
{
	(void)state;
	static const int ok[] = { 110, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
				  460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
				  3000000, 3500000, 4000000 };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_true(sm_mb_baud_ok(ok[i]));
	static const int bad[] = { 0, -9600, 1, 14400, 12345, 28800, 76800, 250000, 4000001, 9601 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(sm_mb_baud_ok(bad[i]));
}

static void test_exception_str(void **state)
{
	(void)state;
	assert_string_equal(sm_mb_exception_str(1), "illegal function");
	assert_string_equal(sm_mb_exception_str(2), "illegal data address");
	assert_string_equal(sm_mb_exception_str(3), "illegal data value");
	assert_string_equal(sm_mb_exception_str(4), "slave device failure");
	assert_string_equal(sm_mb_exception_str(5), "acknowledge");
	assert_string_equal(sm_mb_exception_str(6), "slave device busy");
	assert_string_equal(sm_mb_exception_str(8), "memory parity error");
	assert_string_equal(sm_mb_exception_str(10), "gateway path unavailable");
	assert_string_equal(sm_mb_exception_str(11), "gateway target failed to respond");
	assert_string_equal(sm_mb_exception_str(0), "unknown exception");
	assert_string_equal(sm_mb_exception_str(7), "unknown exception");
	assert_string_equal(sm_mb_exception_str(9), "unknown exception");
	assert_string_equal(sm_mb_exception_str(-1), "unknown exception");
	assert_string_equal(sm_mb_exception_str(255), "unknown exception");
}

/* ---- word layouts ---- */

static void test_layouts_int(void **state)
{
	(void)state;
	/* int16/uint16 0x1234: only the byte swap matters */
	static const uint16_t w16[4][1] = { { 0x1234 }, { 0x1234 }, { 0x3412 }, { 0x3412 } };
	/* int32 0x11223344 (287454020) */
	static const uint16_t w32[4][2] = {
		{ 0x1122, 0x3344 }, { 0x3344, 0x1122 }, { 0x2211, 0x4433 }, { 0x4433, 0x2211 },
	};
	/* int64 0x1122334455667788 (1234605616436508552) */
	static const uint16_t w64[4][4] = {
		{ 0x1122, 0x3344, 0x5566, 0x7788 },
		{ 0x7788, 0x5566, 0x3344, 0x1122 },
		{ 0x2211, 0x4433, 0x6655, 0x8877 },
		{ 0x8877, 0x6655, 0x4433, 0x2211 },
	};
	for (int o = 0; o < 4; o++) {
		struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_INT16, (enum sm_mb_order)o);
		expect_dec(&r, w16[o], 0x1234, 0);
		r.type = SM_MB_UINT16;
		expect_dec(&r, w16[o], 0x1234, 0);
		r.type = SM_MB_INT32;
		expect_dec(&r, w32[o], 0x11223344, 0);
		r.type = SM_MB_UINT32;
		expect_dec(&r, w32[o], 0x11223344, 0);
		r.type = SM_MB_INT64;
		expect_dec(&r, w64[o], 0x1122334455667788LL, 0);
		r.type = SM_MB_UINT64;
		expect_dec(&r, w64[o], 0x1122334455667788LL, 0);
		/* encode gives the same layout */
		uint16_t out[4];
		r.type = SM_MB_INT16;
		assert_int_equal(sm_mb_value_encode(&r, 0x1234, 0, out), SM_OK);
		assert_memory_equal(out, w16[o], sizeof w16[o]);
		r.type = SM_MB_UINT32;
		assert_int_equal(sm_mb_value_encode(&r, 0x11223344, 0, out), SM_OK);
		assert_memory_equal(out, w32[o], sizeof w32[o]);
		r.type = SM_MB_INT64;
		assert_int_equal(sm_mb_value_encode(&r, 0x1122334455667788LL, 0, out), SM_OK);
		assert_memory_equal(out, w64[o], sizeof w64[o]);
	}
}

static void test_layouts_float(void **state)
{
	(void)state;
	/* 1.0f = 0x3F800000; 230.0f = 0x43660000; -2.5f = 0xC0200000 */
	static const uint16_t one[4][2] = {
		{ 0x3F80, 0x0000 }, { 0x0000, 0x3F80 }, { 0x803F, 0x0000 }, { 0x0000, 0x803F },
	};
	static const uint16_t m25[4][2] = {
		{ 0xC020, 0x0000 }, { 0x0000, 0xC020 }, { 0x20C0, 0x0000 }, { 0x0000, 0x20C0 },
	};
	/* 230.1f = 0x4366199A */
	static const uint16_t v2301[4][2] = {
		{ 0x4366, 0x199A }, { 0x199A, 0x4366 }, { 0x6643, 0x9A19 }, { 0x9A19, 0x6643 },
	};
	/* 1.5 = 0x3FF8000000000000; 0.1 = 0x3FB999999999999A */
	static const uint16_t d15[4][4] = {
		{ 0x3FF8, 0, 0, 0 }, { 0, 0, 0, 0x3FF8 }, { 0xF83F, 0, 0, 0 }, { 0, 0, 0, 0xF83F },
	};
	static const uint16_t d01[4][4] = {
		{ 0x3FB9, 0x9999, 0x9999, 0x999A },
		{ 0x999A, 0x9999, 0x9999, 0x3FB9 },
		{ 0xB93F, 0x9999, 0x9999, 0x9A99 },
		{ 0x9A99, 0x9999, 0x9999, 0xB93F },
	};
	assert_int_equal(f32_bits(230.1f), 0x4366199Au);
	assert_true(f64_bits(0.1) == 0x3FB999999999999AULL);
	for (int o = 0; o < 4; o++) {
		struct sm_mb_reg r = mkreg("x", 3, 0, SM_MB_FLOAT32, (enum sm_mb_order)o);
		expect_dec(&r, one[o], 1, 0);
		expect_dec(&r, m25[o], -25, -1);
		expect_dec(&r, v2301[o], 2301, -1);
		uint16_t out[4];
		assert_int_equal(sm_mb_value_encode(&r, 2301, -1, out), SM_OK);
		assert_memory_equal(out, v2301[o], sizeof v2301[o]);
		r.type = SM_MB_FLOAT64;
		expect_dec(&r, d15[o], 15, -1);
		expect_dec(&r, d01[o], 1, -1);
		assert_int_equal(sm_mb_value_encode(&r, 1, -1, out), SM_OK);
		assert_memory_equal(out, d01[o], sizeof d01[o]);
	}
}

static void test_sign_extension(void **state)
{
	(void)state;
	struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_INT16, SM_MB_ABCD);
	uint16_t w[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
	expect_dec(&r, w, -1, 0);
	r.type = SM_MB_UINT16;
	expect_dec(&r, w, 65535, 0);
	r.type = SM_MB_INT32;
	expect_dec(&r, w, -1, 0);
	r.type = SM_MB_UINT32;
	expect_dec(&r, w, 4294967295LL, 0);
	r.type = SM_MB_INT64;
	expect_dec(&r, w, -1, 0);
	/* 2^64 - 1 has no trailing zero: it does not fit int64 * 10^s */
	r.type = SM_MB_UINT64;
	int64_t raw;
	int8_t sc;
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	/* 10^19 does: 10^18 e1 */
	put64_abcd(10000000000000000000ULL, w);
	expect_dec(&r, w, 1000000000000000000LL, 1);
	put64_abcd((uint64_t)INT64_MAX, w);
	expect_dec(&r, w, INT64_MAX, 0);

	uint16_t m[2] = { 0x8000, 0x0000 };
	r.type = SM_MB_INT16;
	expect_dec(&r, m, -32768, 0);
	r.type = SM_MB_INT32;
	expect_dec(&r, m, INT32_MIN, 0);
	r.type = SM_MB_UINT32;
	expect_dec(&r, m, 2147483648LL, 0);
	r.order = SM_MB_CDAB; /* low word first: 0x00008000 */
	r.type = SM_MB_INT32;
	expect_dec(&r, m, 32768, 0);
	uint16_t m4[4] = { 0x8000, 0, 0, 0 };
	r.order = SM_MB_ABCD;
	r.type = SM_MB_INT64;
	expect_dec(&r, m4, INT64_MIN, 0);
	uint16_t f[2] = { 0xFFFE, 0xFFFF }; /* CDAB: 0xFFFFFFFE */
	r.order = SM_MB_CDAB;
	r.type = SM_MB_INT32;
	expect_dec(&r, f, -2, 0);
}

static void dec_f32(float v, int64_t raw, int scale)
{
	struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	uint16_t w[2];
	put32_abcd(f32_bits(v), w);
	expect_dec(&r, w, raw, scale);
}

static void dec_f64(double v, int64_t raw, int scale)
{
	struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_FLOAT64, SM_MB_ABCD);
	uint16_t w[4];
	put64_abcd(f64_bits(v), w);
	expect_dec(&r, w, raw, scale);
}

static void test_float_shortest(void **state)
{
	(void)state;
	dec_f32(230.1f, 2301, -1);
	dec_f32(-230.1f, -2301, -1);
	dec_f32(0.1f, 1, -1);
	dec_f32(0.3f, 3, -1);
	dec_f32(1e-7f, 1, -7);
	dec_f32(49.98f, 4998, -2);
	dec_f32(0.999f, 999, -3);
	dec_f32(-0.5f, -5, -1);
	dec_f32(1.0f, 1, 0);
	dec_f32(12345.678f, 12345678, -3);
	dec_f32(16777216.0f, 16777216, 0);
	dec_f32((float)16777217.0, 16777216, 0); /* 2^24 + 1 rounds to 2^24 */
	dec_f32(16777218.0f, 16777218, 0);
	dec_f32(123456789.0f, 123456790, 0);    /* the float is 123456792: 12345679e1 reads back */
	dec_f32(1e12f, 1000000000000LL, 0);     /* shortest 1e12, exponent moved into raw */
	dec_f32(3.4028235e38f, 3402823500000000000LL, 20); /* FLT_MAX: 34028235e31 */
	dec_f32(1.17549435e-38f, 11754944, -45); /* FLT_MIN */
	dec_f32(1.4e-45f, 1, -45);              /* smallest subnormal */
	dec_f32(-0.0f, 0, 0);
	dec_f32(0.0f, 0, 0);
	dec_f32(0.30000001192092896f, 3, -1);
	dec_f32(100.0f, 100, 0);
	dec_f64(230.1, 2301, -1);
	dec_f64(0.1, 1, -1);
	dec_f64(0.1 + 0.2, 30000000000000004LL, -17);
	dec_f64(-1e-7, -1, -7);
	dec_f64(123456.789, 123456789, -3);
	dec_f64(-0.0, 0, 0);
	dec_f64(1e100, 1000000000000000000LL, 82);
	dec_f64(9007199254740993.0, 9007199254740992LL, 0);
	/* random floats of every magnitude against libc's correctly rounded
	 * conversions: our decimal reads back (strtof/strtod) and no decimal
	 * with fewer significant digits does */
	rng_state = 0x1234567ULL;
	for (int i = 0; i < 40000; i++) {
		bool is32 = i % 2 == 0;
		uint64_t bits = rnd();
		struct sm_mb_reg r = mkreg("x", 4, 0, is32 ? SM_MB_FLOAT32 : SM_MB_FLOAT64, SM_MB_ABCD);
		uint16_t w[4];
		double v;
		if (is32) {
			float f;
			uint32_t b = (uint32_t)bits;
			memcpy(&f, &b, sizeof f);
			v = f;
			put32_abcd(b, w);
		} else {
			memcpy(&v, &bits, sizeof v);
			put64_abcd(bits, w);
		}
		if (!isfinite(v))
			continue;
		int64_t raw;
		int8_t sc;
		enum sm_err e = sm_mb_value_decode(&r, w, &raw, &sc);
		if (e == SM_E_RANGE) { /* only beyond int64 * 10^int8 */
			assert_false(is32);
			assert_true(fabs(v) > 1e120 || fabs(v) < 1e-110);
			continue;
		}
		assert_int_equal(e, SM_OK);
		char txt[64];
		snprintf(txt, sizeof txt, "%llde%d", (long long)raw, sc);
		if (is32 ? strtof(txt, NULL) != (float)v : strtod(txt, NULL) != v)
			fail_msg("%a: %s does not read back", v, txt);
		if (raw == 0)
			continue;
		int digits = 0;
		uint64_t a = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
		while (a % 10 == 0) /* significant digits only */
			a /= 10;
		for (; a != 0; a /= 10)
			digits++;
		if (digits > 1) {
			char shorter[64];
			snprintf(shorter, sizeof shorter, "%.*e", digits - 2, v);
			if (is32 ? strtof(shorter, NULL) == (float)v : strtod(shorter, NULL) == v)
				fail_msg("%a: %s is shorter than %s", v, shorter, txt);
		}
	}
}

static void test_float_invalid(void **state)
{
	(void)state;
	int64_t raw;
	int8_t sc;
	struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	uint16_t w[4];
	put32_abcd(0x7FC00000u, w); /* NaN */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put32_abcd(0x7F800000u, w); /* +Inf */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put32_abcd(0xFF800000u, w); /* -Inf */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put32_abcd(0xFFFFFFFFu, w); /* NaN, all ones */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	r.flags = SM_MB_F_INVALID_MAX; /* all ones: "no value" */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_EMPTY);
	r.flags = 0;
	r.type = SM_MB_FLOAT64;
	put64_abcd(0x7FF8000000000000ULL, w);
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put64_abcd(0xFFF0000000000000ULL, w);
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	/* 1e300: no int64 * 10^int8 holds it */
	put64_abcd(f64_bits(1e300), w);
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put64_abcd(f64_bits(1e-300), w);
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	put64_abcd(f64_bits(4.9e-324), w); /* subnormal min */
	assert_int_equal(dec(&r, w, &raw, &sc), SM_E_RANGE);
	/* encoding NaN-free values that no float represents */
	uint16_t out[4];
	r.type = SM_MB_FLOAT32;
	assert_int_equal(sm_mb_value_encode(&r, 23012345678LL, -8, out), SM_E_RANGE); /* 230.12345678 */
	assert_int_equal(sm_mb_value_encode(&r, 1, 39, out), SM_E_RANGE);            /* 1e39 > FLT_MAX */
	assert_int_equal(sm_mb_value_encode(&r, 16777217, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 16777218, 0, out), SM_OK);
	assert_int_equal(sm_mb_value_encode(&r, 0, 5, out), SM_OK);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
}

static void test_invalid_max(void **state)
{
	(void)state;
	struct {
		enum sm_mb_type t;
		enum sm_mb_order o;
		uint16_t w[4];
		int64_t plain; /* the value without the flag */
	} cases[] = {
		{ SM_MB_INT16, SM_MB_ABCD, { 0x7FFF }, 32767 },
		{ SM_MB_INT16, SM_MB_BADC, { 0xFF7F }, 32767 },
		{ SM_MB_UINT16, SM_MB_ABCD, { 0xFFFF }, 65535 },
		{ SM_MB_INT32, SM_MB_ABCD, { 0x7FFF, 0xFFFF }, INT32_MAX },
		{ SM_MB_INT32, SM_MB_CDAB, { 0xFFFF, 0x7FFF }, INT32_MAX }, /* EM340 overflow */
		{ SM_MB_UINT32, SM_MB_ABCD, { 0xFFFF, 0xFFFF }, UINT32_MAX },
		{ SM_MB_INT64, SM_MB_ABCD, { 0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF }, INT64_MAX },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sm_mb_reg r = mkreg("x", 3, 0, cases[i].t, cases[i].o);
		int64_t raw;
		int8_t sc;
		expect_dec(&r, cases[i].w, cases[i].plain, 0);
		r.flags = SM_MB_F_INVALID_MAX;
		assert_int_equal(dec(&r, cases[i].w, &raw, &sc), SM_E_EMPTY);
		/* the marker cannot be encoded; one below can */
		uint16_t out[4];
		assert_int_equal(sm_mb_value_encode(&r, cases[i].plain, 0, out), SM_E_RANGE);
		assert_int_equal(sm_mb_value_encode(&r, cases[i].plain - 1, 0, out), SM_OK);
		expect_dec(&r, out, cases[i].plain - 1, 0);
	}
	struct sm_mb_reg r = mkreg("x", 3, 0, SM_MB_UINT64, SM_MB_ABCD);
	uint16_t ones[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
	int64_t raw;
	int8_t sc;
	r.flags = SM_MB_F_INVALID_MAX;
	assert_int_equal(dec(&r, ones, &raw, &sc), SM_E_EMPTY);
	/* a signed type's all-ones is -1, not a marker */
	r.type = SM_MB_INT32;
	expect_dec(&r, ones, -1, 0);
	/* an unsigned type's largest positive signed value is a value */
	r.type = SM_MB_UINT16;
	uint16_t h[1] = { 0x7FFF };
	expect_dec(&r, h, 32767, 0);
}

static void test_factor(void **state)
{
	(void)state;
	int64_t raw;
	int8_t sc;
	struct sm_mb_reg r = mkreg("x", 4, 0, SM_MB_INT32, SM_MB_CDAB);
	uint16_t w[4] = { 2301, 0 }; /* CDAB: 2301 */
	r.exp = -1;
	expect_dec(&r, w, 2301, -1); /* 230.1 V */
	r.exp = 2;
	expect_dec(&r, w, 230100, 0); /* x0.1 kWh -> Wh: 230100 Wh */
	r.mul = -5;
	r.exp = -3;
	expect_dec(&r, w, -11505, -3);
	/* float kWh -> Wh */
	struct sm_mb_reg f = mkreg("e", 4, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	f.exp = 3;
	put32_abcd(f32_bits(12.5f), w);
	expect_dec(&f, w, 12500, 0);
	put32_abcd(f32_bits(1234.567f), w);
	expect_dec(&f, w, 1234567, 0);
	put32_abcd(f32_bits(0.0001f), w);
	expect_dec(&f, w, 1, -1);
	f.exp = 2;
	put32_abcd(f32_bits(0.1f), w);
	expect_dec(&f, w, 10, 0);

	/* overflow of mul: INT64_MAX * 3 has no trailing zero */
	struct sm_mb_reg b = mkreg("b", 3, 0, SM_MB_INT64, SM_MB_ABCD);
	put64_abcd((uint64_t)INT64_MAX, w);
	b.mul = 3;
	assert_int_equal(dec(&b, w, &raw, &sc), SM_E_RANGE);
	b.mul = 10; /* (2^63-1) * 10 = (2^63-1) e1 */
	expect_dec(&b, w, INT64_MAX, 1);
	b.mul = INT64_MIN; /* -(2^63) * (2^63-1) */
	assert_int_equal(dec(&b, w, &raw, &sc), SM_E_RANGE);
	put64_abcd((uint64_t)INT64_MIN, w);
	b.mul = -1;
	assert_int_equal(dec(&b, w, &raw, &sc), SM_E_RANGE); /* 2^63 */
	b.mul = -10;
	assert_int_equal(dec(&b, w, &raw, &sc), SM_E_RANGE); /* 2^63 * 10 = 9223372036854775808 e1 */
	/* uint64 max * INT64_MIN fits 128 bits, not int64 */
	struct sm_mb_reg u = mkreg("u", 3, 0, SM_MB_UINT64, SM_MB_ABCD);
	put64_abcd(UINT64_MAX, w);
	u.mul = INT64_MIN;
	assert_int_equal(dec(&u, w, &raw, &sc), SM_E_RANGE);

	/* overflow of exp */
	struct sm_mb_reg s = mkreg("s", 3, 0, SM_MB_INT16, SM_MB_ABCD);
	uint16_t one[1] = { 1 };
	s.exp = 127;
	expect_dec(&s, one, 1000000000000000000LL, 109); /* 1e127 */
	s.exp = -128;
	expect_dec(&s, one, 1, -128);
	put32_abcd(f32_bits(3.4028235e38f), w);
	f.exp = 127;
	assert_int_equal(dec(&f, w, &raw, &sc), SM_E_RANGE);
	f.exp = -128;
	put32_abcd(f32_bits(1e-7f), w);
	assert_int_equal(dec(&f, w, &raw, &sc), SM_E_RANGE);
	put32_abcd(f32_bits(1e30f), w);
	expect_dec(&f, w, 1, -98);
	f.exp = 100;
	expect_dec(&f, w, 1000000000000000000LL, 112);

	/* encode: values that are no whole multiple of the factor */
	uint16_t out[4];
	r = mkreg("x", 4, 0, SM_MB_INT32, SM_MB_CDAB);
	r.exp = -1;
	assert_int_equal(sm_mb_value_encode(&r, 23012, -2, out), SM_E_RANGE); /* 230.12 in 0.1 steps */
	assert_int_equal(sm_mb_value_encode(&r, 23010, -2, out), SM_OK);
	expect_dec(&r, out, 2301, -1);
	r.exp = 2;
	assert_int_equal(sm_mb_value_encode(&r, 230150, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 2302, 2, out), SM_OK);
	expect_dec(&r, out, 230200, 0);
	r.mul = 3;
	r.exp = 0;
	assert_int_equal(sm_mb_value_encode(&r, 10, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, -9, 0, out), SM_OK);
	expect_dec(&r, out, -9, 0);
	/* out of the type's range */
	r = mkreg("x", 4, 0, SM_MB_INT16, SM_MB_ABCD);
	assert_int_equal(sm_mb_value_encode(&r, 32768, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, -32769, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 1, 40, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 1, -40, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 0, -128, out), SM_OK);
	r.type = SM_MB_UINT16;
	assert_int_equal(sm_mb_value_encode(&r, -1, 0, out), SM_E_RANGE);
	r.type = SM_MB_UINT64;
	assert_int_equal(sm_mb_value_encode(&r, 1844674407370955162LL, 1, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_encode(&r, 1844674407370955161LL, 1, out), SM_OK);
	expect_dec(&r, out, 1844674407370955161LL, 1);
	/* invalid registers */
	r.mul = 0;
	assert_int_equal(sm_mb_value_encode(&r, 1, 0, out), SM_E_RANGE);
	assert_int_equal(sm_mb_value_decode(&r, out, &raw, &sc), SM_E_RANGE);
	r.mul = 1;
	r.type = (enum sm_mb_type)9;
	assert_int_equal(sm_mb_value_decode(&r, out, &raw, &sc), SM_E_RANGE);
}

/* random words -> decode -> encode -> same words; random values -> encode -> decode */
static void test_round_trips(void **state)
{
	(void)state;
	static const struct {
		int64_t mul;
		int8_t exp;
		unsigned flags;
	} factors[] = {
		{ 1, 0, 0 }, { 1, -1, 0 }, { 1, 3, 0 }, { 5, 2, 0 }, { -3, -2, 0 }, { 1, 0, SM_MB_F_INVALID_MAX },
		{ 25, -4, SM_MB_F_INVALID_MAX },
	};
	rng_state = 0x9E3779B97F4A7C15ULL;
	unsigned decoded = 0, encoded = 0;
	for (int t = 0; t < 8; t++) {
		for (int o = 0; o < 4; o++) {
			for (size_t fi = 0; fi < sizeof factors / sizeof factors[0]; fi++) {
				struct sm_mb_reg r = mkreg("x", 4, 0, (enum sm_mb_type)t, (enum sm_mb_order)o);
				r.mul = factors[fi].mul;
				r.exp = factors[fi].exp;
				r.flags = factors[fi].flags;
				unsigned nw = sm_mb_type_words(r.type);
				for (int k = 0; k < 150; k++) {
					uint16_t w[4], w2[4];
					uint64_t x = rnd();
					/* small magnitudes too: shift by a random amount */
					if (k % 3 == 1 && r.type != SM_MB_FLOAT32 && r.type != SM_MB_FLOAT64)
						x >>= rnd_below(64);
					for (unsigned i = 0; i < 4; i++)
						w[i] = (uint16_t)(x >> (16 * i));
					int64_t raw, raw2;
					int8_t sc, sc2;
					enum sm_err e = dec(&r, w, &raw, &sc);
					if (e != SM_OK)
						continue;
					decoded++;
					assert_int_equal(sm_mb_value_encode(&r, raw, sc, w2), SM_OK);
					assert_int_equal(dec(&r, w2, &raw2, &sc2), SM_OK);
					assert_true(dec_eq(raw, sc, raw2, sc2));
					if (raw != 0 && memcmp(w, w2, nw * sizeof w[0]) != 0)
						fail_msg("%s/%s mul %lld exp %d: words differ after a round trip",
							 sm_mb_type_name(r.type), sm_mb_order_name(r.order),
							 (long long)r.mul, r.exp);
				}
				/* values in the base unit -> words -> the same value */
				for (int k = 0; k < 150; k++) {
					int64_t v = (int64_t)(rnd() >> rnd_below(64));
					if (rnd() & 1)
						v = -v;
					int8_t sc = (int8_t)((int)rnd_below(9) - 4);
					uint16_t w[4];
					int64_t raw;
					int8_t s2;
					if (sm_mb_value_encode(&r, v, sc, w) != SM_OK)
						continue;
					encoded++;
					assert_int_equal(dec(&r, w, &raw, &s2), SM_OK);
					assert_true(dec_eq(v, sc, raw, s2));
				}
			}
		}
	}
	/* enough of both kinds ran */
	assert_true(decoded > 20000);
	assert_true(encoded > 5000);
}

/* ---- map check ---- */

static void want_check(const struct sm_mb_map *m, enum sm_err want, const char *msg)
{
	struct sm_diag d;
	memset(&d, 0, sizeof d);
	enum sm_err e = sm_mb_map_check(m, &d);
	if (e != want)
		fail_msg("map_check: %d (%s), want %d", e, d.msg, want);
	if (msg != NULL && strcmp(d.msg, msg) != 0)
		fail_msg("diag \"%s\", want \"%s\"", d.msg, msg);
}

static void test_map_check(void **state)
{
	(void)state;
	struct sm_mb_reg regs[3];
	regs[0] = mkreg("voltage_l1", 4, 0x0000, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[1] = mkreg("voltage_l2", 4, 0x0001, SM_MB_FLOAT32, SM_MB_ABCD);
	struct sm_mb_map m = mkmap(regs, 2, 80, true, SM_MB_GAP_ANY);
	want_check(&m, SM_E_CONFIG, "register \"voltage_l2\" overlaps \"voltage_l1\" (FC04 0x0001)");
	/* the other way round names them the same way (by address) */
	regs[1] = regs[0];
	regs[0] = mkreg("voltage_l2", 4, 0x0001, SM_MB_FLOAT32, SM_MB_ABCD);
	want_check(&m, SM_E_CONFIG, "register \"voltage_l2\" overlaps \"voltage_l1\" (FC04 0x0001)");
	/* same address, other function: fine */
	regs[0].function = 3;
	regs[0].address = 0;
	want_check(&m, SM_OK, NULL);
	regs[0].name = "voltage_l1";
	want_check(&m, SM_E_CONFIG, "register \"voltage_l1\" is defined twice");
	regs[0].name = "";
	want_check(&m, SM_E_CONFIG, "register 1 has no name");
	regs[0].name = NULL;
	want_check(&m, SM_E_CONFIG, "register 1 has no name");
	regs[0].name = "a_name_that_is_far_too_long_for_any_reading_name_x";
	want_check(&m, SM_E_CONFIG, NULL);
	regs[0].name = "v";
	regs[0].function = 5;
	want_check(&m, SM_E_CONFIG, "register \"v\": function 5 (expected 3 or 4)");
	regs[0].function = 3;
	regs[0].mul = 0;
	want_check(&m, SM_E_CONFIG, "register \"v\": scale factor is zero");
	regs[0].mul = 1;
	regs[0].type = (enum sm_mb_type)8;
	want_check(&m, SM_E_CONFIG, NULL);
	regs[0].type = SM_MB_FLOAT32;
	regs[0].order = (enum sm_mb_order)4;
	want_check(&m, SM_E_CONFIG, NULL);
	regs[0].order = SM_MB_ABCD;
	regs[0].unit = (enum sm_unit)99;
	want_check(&m, SM_E_CONFIG, "register \"v\": invalid unit");
	regs[0].unit = SM_UNIT_NONE;
	want_check(&m, SM_OK, NULL);
	/* limits */
	m.max_count = 0;
	want_check(&m, SM_E_CONFIG, "registers per request 0 out of range (expected 1..125)");
	m.max_count = 126;
	want_check(&m, SM_E_CONFIG, NULL);
	m.max_count = 79;
	want_check(&m, SM_E_CONFIG, "registers per request 79 is odd but even counts are required");
	m.even = false;
	want_check(&m, SM_OK, NULL);
	m.nregs = 0;
	want_check(&m, SM_E_CONFIG, "no registers");
	m.nregs = SM_MB_MAX_REGS + 1;
	want_check(&m, SM_E_CONFIG, NULL);
	want_check(NULL, SM_E_CONFIG, NULL);
	/* a register wider than a request */
	m = mkmap(regs, 1, 2, false, 0);
	regs[0] = mkreg("e", 3, 10, SM_MB_INT64, SM_MB_ABCD);
	want_check(&m, SM_E_CONFIG,
		     "register \"e\" (FC03 0x000A) needs 4 registers in one request, more than the 2 allowed");
	m.max_count = 4;
	want_check(&m, SM_OK, NULL);
	/* even rule: a float at an odd address needs 4 */
	regs[0] = mkreg("f", 4, 1, SM_MB_FLOAT32, SM_MB_ABCD);
	m.max_count = 2;
	m.even = true;
	want_check(&m, SM_E_CONFIG, NULL);
	regs[0].address = 2;
	want_check(&m, SM_OK, NULL);
	/* the top of the address space */
	regs[0] = mkreg("t", 3, 65535, SM_MB_UINT16, SM_MB_ABCD);
	want_check(&m, SM_OK, NULL);
	regs[0] = mkreg("t", 3, 65534, SM_MB_INT32, SM_MB_ABCD);
	want_check(&m, SM_OK, NULL);
	regs[0] = mkreg("t", 3, 65535, SM_MB_INT32, SM_MB_ABCD);
	want_check(&m, SM_E_CONFIG, "register \"t\" (FC03 0xFFFF, 2 words) runs past address 65535");
}

/* ---- planner ---- */

/* Every register covered by exactly its request; limits kept. */
static void check_plan(const struct sm_mb_map *m, const struct sm_mb_plan *p)
{
	assert_int_equal(p->nregs, m->nregs);
	size_t words = 0, seen = 0;
	for (size_t i = 0; i < p->nreq; i++) {
		const struct sm_mb_req *q = &p->req[i];
		assert_true(q->count >= 1 && q->count <= m->max_count);
		assert_true((uint32_t)q->start + q->count <= 65536u);
		assert_int_equal(q->word_off, words);
		words += q->count;
		if (m->even) {
			assert_int_equal(q->start % 2, 0);
			assert_int_equal(q->count % 2, 0);
		}
		if (i > 0) {
			const struct sm_mb_req *pq = &p->req[i - 1];
			assert_true(pq->function < q->function ||
				    (pq->function == q->function && pq->start < q->start));
		}
		assert_int_equal(q->first, seen);
		assert_true(q->nregs >= 1);
		uint32_t lo = 0xFFFFFFFFu, hi = 0, prev_end = 0;
		for (size_t k = q->first; k < (size_t)q->first + q->nregs; k++) {
			const struct sm_mb_reg *r = &m->regs[p->order[k]];
			assert_int_equal(p->reg_req[p->order[k]], i);
			assert_int_equal(r->function, q->function);
			uint32_t a = r->address, e = a + sm_mb_type_words(r->type);
			assert_true(a >= q->start && e <= (uint32_t)q->start + q->count);
			if (k > q->first) {
				assert_true(a >= prev_end);
				if (m->max_gap != SM_MB_GAP_ANY)
					assert_true(a - prev_end <= m->max_gap);
			}
			prev_end = e;
			if (a < lo)
				lo = a;
			if (e > hi)
				hi = e;
		}
		/* exactly the span (and the even rule's padding) */
		uint32_t s = m->even ? (lo & ~1u) : lo, en = m->even ? ((hi + 1) & ~1u) : hi;
		assert_int_equal(q->start, s);
		assert_int_equal(q->count, en - s);
		seen += q->nregs;
	}
	assert_int_equal(seen, m->nregs);
	assert_int_equal(words, p->nwords);
	/* every map register exactly once in order[] */
	unsigned char hit[SM_MB_MAX_REGS];
	memset(hit, 0, sizeof hit);
	for (size_t k = 0; k < p->nregs; k++) {
		assert_true(p->order[k] < m->nregs);
		assert_int_equal(hit[p->order[k]], 0);
		hit[p->order[k]] = 1;
	}
}

static struct sm_mb_plan plan; /* large: not on the stack */

static size_t plan_of(const struct sm_mb_map *m)
{
	struct sm_diag d;
	memset(&d, 0, sizeof d);
	enum sm_err e = sm_mb_plan_make(m, &plan, &d);
	if (e != SM_OK)
		fail_msg("plan_make: %d %s", e, d.msg);
	check_plan(m, &plan);
	return plan.nreq;
}

static void test_plan_basic(void **state)
{
	(void)state;
	struct sm_mb_reg regs[16];
	struct sm_mb_map m;
	/* single register */
	regs[0] = mkreg("a", 4, 7, SM_MB_UINT16, SM_MB_ABCD);
	m = mkmap(regs, 1, 125, false, 0);
	assert_int_equal(plan_of(&m), 1);
	assert_int_equal(plan.req[0].start, 7);
	assert_int_equal(plan.req[0].count, 1);
	m.even = true;
	m.max_count = 2;
	assert_int_equal(plan_of(&m), 1);
	assert_int_equal(plan.req[0].start, 6);
	assert_int_equal(plan.req[0].count, 2);

	/* gaps: a at 0 (2 words), b at 10 -> gap 8 */
	regs[0] = mkreg("a", 4, 0, SM_MB_INT32, SM_MB_ABCD);
	regs[1] = mkreg("b", 4, 10, SM_MB_INT32, SM_MB_ABCD);
	m = mkmap(regs, 2, 125, false, 7);
	assert_int_equal(plan_of(&m), 2);
	m.max_gap = 8;
	assert_int_equal(plan_of(&m), 1);
	assert_int_equal(plan.req[0].count, 12);
	m.max_gap = SM_MB_GAP_ANY;
	assert_int_equal(plan_of(&m), 1);
	m.max_count = 11;
	assert_int_equal(plan_of(&m), 2);
	m.max_gap = 0;
	regs[1].address = 2;
	assert_int_equal(plan_of(&m), 1);

	/* max_count: 10 contiguous int16 with 4 per request -> 4, 4, 2 */
	static const char *const nm[] = { "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9" };
	for (int i = 0; i < 10; i++)
		regs[i] = mkreg(nm[i], 3, (uint16_t)(100 + i), SM_MB_INT16, SM_MB_ABCD);
	m = mkmap(regs, 10, 4, false, 0);
	assert_int_equal(plan_of(&m), 3);
	assert_int_equal(plan.req[0].count, 4);
	assert_int_equal(plan.req[1].start, 104);
	assert_int_equal(plan.req[2].start, 108);
	assert_int_equal(plan.req[2].count, 2);
	/* with the even rule: same */
	m.even = true;
	assert_int_equal(plan_of(&m), 3);
	/* starting at an odd address: 101..110 -> [100,104) [104,108) [108,112) */
	for (int i = 0; i < 10; i++)
		regs[i].address = (uint16_t)(101 + i);
	assert_int_equal(plan_of(&m), 3);
	assert_int_equal(plan.req[0].start, 100);
	assert_int_equal(plan.req[2].count, 4);
	m.even = false;
	assert_int_equal(plan_of(&m), 3);
	assert_int_equal(plan.req[0].start, 101);

	/* mixed functions, map order unlike address order */
	regs[0] = mkreg("in_b", 4, 20, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[1] = mkreg("hold_a", 3, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[2] = mkreg("in_a", 4, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[3] = mkreg("hold_b", 3, 2, SM_MB_UINT16, SM_MB_ABCD);
	m = mkmap(regs, 4, 125, false, SM_MB_GAP_ANY);
	assert_int_equal(plan_of(&m), 2);
	assert_int_equal(plan.req[0].function, 3);
	assert_int_equal(plan.req[0].start, 0);
	assert_int_equal(plan.req[0].count, 3);
	assert_int_equal(plan.req[1].function, 4);
	assert_int_equal(plan.req[1].count, 22);
	assert_int_equal(plan.req[1].word_off, 3);
	assert_int_equal(plan.reg_req[0], 1);
	assert_int_equal(plan.reg_req[1], 0);
	assert_int_equal(plan.order[0], 1);
	assert_int_equal(plan.order[1], 3);
	assert_int_equal(plan.order[2], 2);
	assert_int_equal(plan.order[3], 0);
	assert_int_equal(plan.nwords, 25);

	/* the top of the address space */
	regs[0] = mkreg("t1", 3, 65534, SM_MB_UINT16, SM_MB_ABCD);
	regs[1] = mkreg("t2", 3, 65535, SM_MB_UINT16, SM_MB_ABCD);
	regs[2] = mkreg("t0", 3, 65530, SM_MB_INT32, SM_MB_ABCD);
	m = mkmap(regs, 3, 124, true, SM_MB_GAP_ANY);
	assert_int_equal(plan_of(&m), 1);
	assert_int_equal(plan.req[0].start, 65530);
	assert_int_equal(plan.req[0].count, 6);
	m.max_count = 2;
	assert_int_equal(plan_of(&m), 2);
	assert_int_equal(plan.req[1].start, 65534);

	/* plan_make checks the map */
	regs[1] = mkreg("t2", 3, 65535, SM_MB_INT32, SM_MB_ABCD);
	struct sm_diag d;
	assert_int_equal(sm_mb_plan_make(&m, &plan, &d), SM_E_CONFIG);
	assert_string_equal(d.msg, "register \"t2\" (FC03 0xFFFF, 2 words) runs past address 65535");
	regs[1] = mkreg("t2", 3, 65531, SM_MB_UINT16, SM_MB_ABCD);
	m.max_count = 124;
	assert_int_equal(sm_mb_plan_make(&m, &plan, &d), SM_E_CONFIG);
	assert_string_equal(d.msg, "register \"t2\" overlaps \"t0\" (FC03 0xFFFB)");
}

static void test_plan_full(void **state)
{
	(void)state;
	static struct sm_mb_reg regs[SM_MB_MAX_REGS];
	static char names[SM_MB_MAX_REGS][8];
	for (int i = 0; i < SM_MB_MAX_REGS; i++) {
		snprintf(names[i], sizeof names[i], "r%d", i);
		regs[i] = mkreg(names[i], 3, (uint16_t)(i * 100), SM_MB_INT64, SM_MB_ABCD);
	}
	/* 128 requests of 104 registers: 13312 words */
	struct sm_mb_map m = mkmap(regs, SM_MB_MAX_REGS, 125, false, SM_MB_GAP_ANY);
	struct sm_diag d;
	assert_int_equal(sm_mb_plan_make(&m, &plan, &d), SM_E_FULL);
	/* 256 requests of 4: fits */
	m.max_gap = 0;
	assert_int_equal(plan_of(&m), 256);
	assert_int_equal(plan.nwords, 1024);
}

/* Optimum by dynamic programming over blocks of sorted registers,
 * feasibility computed directly from the limits. */
static size_t dp_optimum(const struct sm_mb_map *m)
{
	size_t total = 0;
	for (uint8_t fc = 3; fc <= 4; fc++) {
		uint32_t a[32], e[32];
		size_t n = 0;
		for (size_t i = 0; i < m->nregs; i++) {
			if (m->regs[i].function != fc)
				continue;
			uint32_t ad = m->regs[i].address, en = ad + sm_mb_type_words(m->regs[i].type);
			size_t k = n++;
			while (k > 0 && a[k - 1] > ad) {
				a[k] = a[k - 1];
				e[k] = e[k - 1];
				k--;
			}
			a[k] = ad;
			e[k] = en;
		}
		size_t best[33];
		best[n] = 0;
		for (size_t i = n; i-- > 0;) {
			best[i] = (size_t)-1;
			for (size_t j = i; j < n; j++) {
				bool gaps_ok = true;
				for (size_t k = i + 1; k <= j; k++)
					if (m->max_gap != SM_MB_GAP_ANY && a[k] - e[k - 1] > m->max_gap)
						gaps_ok = false;
				uint32_t s = m->even ? (a[i] & ~1u) : a[i];
				uint32_t en = m->even ? ((e[j] + 1) & ~1u) : e[j];
				if (!gaps_ok || en - s > m->max_count)
					continue;
				if (best[j + 1] != (size_t)-1 && best[j + 1] + 1 < best[i])
					best[i] = best[j + 1] + 1;
			}
			assert_true(best[i] != (size_t)-1);
		}
		total += best[0];
	}
	return total;
}

static void test_plan_minimal(void **state)
{
	(void)state;
	static const char *const nm[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l" };
	static const uint16_t gaps[] = { 0, 1, 2, 3, 5, 8, SM_MB_GAP_ANY };
	rng_state = 42;
	unsigned valid = 0;
	for (int it = 0; it < 5000; it++) {
		struct sm_mb_reg regs[12];
		size_t n = 1 + rnd_below(12);
		for (size_t i = 0; i < n; i++) {
			regs[i] = mkreg(nm[i], (uint8_t)(rnd_below(4) == 0 ? 3 : 4), (uint16_t)rnd_below(64),
					(enum sm_mb_type)rnd_below(8), SM_MB_ABCD);
		}
		bool even = rnd_below(2) == 0;
		uint16_t mc = (uint16_t)(1 + rnd_below(24));
		if (even && mc % 2)
			mc++;
		struct sm_mb_map m = mkmap(regs, n, mc, even, gaps[rnd_below(sizeof gaps / sizeof gaps[0])]);
		if (sm_mb_map_check(&m, NULL) != SM_OK)
			continue; /* overlaps, too wide */
		valid++;
		size_t got = plan_of(&m);
		size_t opt = dp_optimum(&m);
		if (got != opt)
			fail_msg("iteration %d: %zu requests, optimum %zu", it, got, opt);
	}
	assert_true(valid > 800);
}

/* ---- poll decoding ---- */

static uint16_t *encode_poll(const struct sm_mb_map *m, const struct sm_mb_plan *p, const int64_t *vals,
			     const int8_t *scales)
{
	uint16_t *w = calloc(p->nwords ? p->nwords : 1, sizeof *w);
	assert_non_null(w);
	for (size_t i = 0; i < m->nregs; i++) {
		const struct sm_mb_reg *r = &m->regs[i];
		const struct sm_mb_req *q = &p->req[p->reg_req[i]];
		assert_int_equal(sm_mb_value_encode(r, vals[i], scales[i], w + q->word_off + (r->address - q->start)),
				 SM_OK);
	}
	return w;
}

static struct sm_reading_set set;

static void test_decode_poll(void **state)
{
	(void)state;
	const struct sm_mb_map *m = sm_mb_model_find("sdm630");
	assert_non_null(m);
	assert_int_equal(plan_of(m), 2);
	int64_t vals[SM_MB_MAX_REGS];
	int8_t sc[SM_MB_MAX_REGS];
	for (size_t i = 0; i < m->nregs; i++) {
		vals[i] = 2301 + (int64_t)i;
		sc[i] = -1;
	}
	uint16_t *w = encode_poll(m, &plan, vals, sc);
	bool ok[SM_MB_MAX_REQS];
	for (size_t i = 0; i < plan.nreq; i++)
		ok[i] = true;
	unsigned bad = 99;
	assert_int_equal(sm_mb_decode(m, &plan, w, ok, &set, &bad), SM_READINGS);
	assert_int_equal(bad, 0);
	assert_int_equal(set.n, m->nregs);
	for (size_t i = 0; i < m->nregs; i++) {
		const struct sm_reading *r = &set.r[i];
		assert_string_equal(r->name, m->regs[i].name);
		assert_true(r->fixed_name);
		assert_int_equal(r->unit, m->regs[i].unit);
		assert_true(dec_eq(r->raw, r->scale, vals[i], sc[i]));
		assert_int_equal(r->obis.present, m->regs[i].obis.present);
	}
	const struct sm_reading *v = sm_set_find(&set, "voltage_l1");
	assert_non_null(v);
	assert_int_equal(v->raw, 2301);
	assert_int_equal(v->scale, -1);
	assert_int_equal(v->kind, SM_KIND_VOLTAGE);
	char ob[SM_OBIS_STRLEN];
	sm_obis_format(&v->obis, ob, sizeof ob);
	assert_string_equal(ob, "1-0:32.7.0");
	const struct sm_reading *q = sm_set_find(&set, "reactive_power");
	assert_non_null(q);
	sm_obis_format(&q->obis, ob, sizeof ob);
	assert_string_equal(ob, "");
	assert_int_equal(q->kind, SM_KIND_POWER);
	const struct sm_reading *en = sm_set_find(&set, "energy_import");
	assert_non_null(en);
	assert_int_equal(en->kind, SM_KIND_ENERGY);
	assert_int_equal(en->unit, SM_UNIT_WH);

	/* the second request unanswered: its registers are left out */
	ok[1] = false;
	assert_int_equal(sm_mb_decode(m, &plan, w, ok, &set, &bad), SM_READINGS);
	assert_int_equal(bad, 0);
	size_t first = plan.req[0].nregs;
	assert_int_equal(set.n, first);
	assert_null(sm_set_find(&set, "energy_absolute"));
	assert_non_null(sm_set_find(&set, "reactive_energy_export"));
	/* a NaN counts as bad, a "no value" marker does not (em340 below) */
	ok[1] = true;
	w[0] = 0x7FC0;
	w[1] = 0x0000;
	assert_int_equal(sm_mb_decode(m, &plan, w, ok, &set, &bad), SM_READINGS);
	assert_int_equal(bad, 1);
	assert_int_equal(set.n, m->nregs - 1);
	assert_null(sm_set_find(&set, "voltage_l1"));
	/* nothing answered */
	ok[0] = ok[1] = false;
	assert_int_equal(sm_mb_decode(m, &plan, w, ok, &set, &bad), SM_E_EMPTY);
	assert_int_equal(set.n, 0);
	assert_int_equal(bad, 0);
	free(w);

	/* em340: 0x7FFFFFFF is left out without counting */
	m = sm_mb_model_find("em340");
	assert_non_null(m);
	assert_int_equal(plan_of(m), 2);
	for (size_t i = 0; i < m->nregs; i++) { /* whole numbers of each register's unit */
		vals[i] = 100 + (int64_t)i;
		sc[i] = m->regs[i].exp;
	}
	w = encode_poll(m, &plan, vals, sc);
	w[0] = 0xFFFF; /* voltage_l1, CDAB */
	w[1] = 0x7FFF;
	uint16_t *wx = dup_words(w, plan.nwords);
	assert_int_equal(sm_mb_decode(m, &plan, wx, NULL, &set, &bad), SM_READINGS);
	assert_int_equal(bad, 0);
	assert_int_equal(set.n, m->nregs - 1);
	const struct sm_reading *v2 = sm_set_find(&set, "voltage_l2");
	assert_non_null(v2);
	assert_true(dec_eq(v2->raw, v2->scale, 101, -1)); /* 10.1 V */
	free(wx);
	free(w);
}

/* ---- plan text ---- */

static void test_plan_format(void **state)
{
	(void)state;
	struct sm_mb_reg regs[3];
	regs[0] = mkreg("voltage_l1", 4, 0, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[1] = mkreg("voltage_l2", 4, 2, SM_MB_FLOAT32, SM_MB_ABCD);
	regs[2] = mkreg("frequency", 3, 0x4A6A, SM_MB_FLOAT32, SM_MB_ABCD);
	struct sm_mb_map m = mkmap(regs, 3, 80, true, SM_MB_GAP_ANY);
	assert_int_equal(plan_of(&m), 2);
	char out[256];
	struct sm_buf b;
	sm_buf_init(&b, out, sizeof out);
	assert_int_equal(sm_mb_plan_format(&m, &plan, &b), SM_OK);
	assert_string_equal(out, "FC03 0x4A6A +2: frequency (1 value)\n"
				 "FC04 0x0000 +4: voltage_l1 voltage_l2 (2 values)\n");
	/* too small: keeps what fit */
	char small[40];
	sm_buf_init(&b, small, sizeof small);
	assert_int_equal(sm_mb_plan_format(&m, &plan, &b), SM_E_FULL);
	assert_string_equal(small, "FC03 0x4A6A +2: frequency (1 value)\n");

	const struct sm_mb_map *s = sm_mb_model_find("sdm630");
	assert_int_equal(plan_of(s), 2);
	char big[2048];
	sm_buf_init(&b, big, sizeof big);
	assert_int_equal(sm_mb_plan_format(s, &plan, &b), SM_OK);
	assert_true(strncmp(big, "FC04 0x0000 +80: voltage_l1 voltage_l2 voltage_l3 current_l1 ", 61) == 0);
	assert_non_null(strstr(big, " reactive_energy_export (27 values)\nFC04 0x0156 +16: energy_absolute "
				    "energy_import_l1"));
	assert_non_null(strstr(big, " energy_export_l3 (7 values)\n"));
	assert_int_equal(big[strlen(big) - 1], '\n');
}

/* ---- built-in models ---- */

static void test_models(void **state)
{
	(void)state;
	char names[512];
	struct sm_buf nb;
	sm_buf_init(&nb, names, sizeof names);
	size_t count = 0;
	for (size_t i = 0; sm_mb_models[i] != NULL; i++) {
		const struct sm_mb_map *m = sm_mb_models[i];
		count++;
		struct sm_diag d;
		memset(&d, 0, sizeof d);
		if (sm_mb_map_check(m, &d) != SM_OK)
			fail_msg("%s: %s", m->name, d.msg);
		assert_non_null(m->description);
		assert_true(strlen(m->description) > 8);
		assert_ptr_equal(sm_mb_model_find(m->name), m);
		/* every model's plan fits */
		size_t nreq = plan_of(m);
		assert_true(nreq >= 1 && nreq <= 8);
		for (size_t k = 0; k < m->nregs; k++) {
			const struct sm_mb_reg *r = &m->regs[k];
			/* [a-z0-9_] names */
			for (const char *p = r->name; *p; p++)
				assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
			assert_int_equal(r->mul, 1);
			if (r->obis.present) {
				char on[SM_NAME_LEN];
				sm_obis_name(&r->obis, NULL, on, sizeof on);
				if (strncmp(on, "obis_", 5) != 0 && strcmp(on, r->name) != 0)
					fail_msg("%s: register %s has OBIS name %s", m->name, r->name, on);
				assert_int_equal(r->obis.v[0], 1);
			}
			/* a canonical name never goes without its code */
			if (strncmp(r->name, "reactive_power", 14) != 0 && strncmp(r->name, "voltage_l", 9) != 0)
				assert_true(r->obis.present != 0);
			/* units fit the names */
			if (strncmp(r->name, "voltage", 7) == 0)
				assert_int_equal(r->unit, SM_UNIT_V);
			if (strncmp(r->name, "current", 7) == 0)
				assert_int_equal(r->unit, SM_UNIT_A);
			if (strncmp(r->name, "power_net", 9) == 0)
				assert_int_equal(r->unit, SM_UNIT_W);
			if (strncmp(r->name, "apparent_power", 14) == 0)
				assert_int_equal(r->unit, SM_UNIT_VA);
			if (strncmp(r->name, "reactive_power", 14) == 0)
				assert_int_equal(r->unit, SM_UNIT_VAR);
			if (strncmp(r->name, "power_factor", 12) == 0)
				assert_int_equal(r->unit, SM_UNIT_NONE);
			if (strcmp(r->name, "frequency") == 0)
				assert_int_equal(r->unit, SM_UNIT_HZ);
			if (strncmp(r->name, "energy", 6) == 0)
				assert_int_equal(r->unit, SM_UNIT_WH);
			if (strncmp(r->name, "reactive_energy", 15) == 0)
				assert_int_equal(r->unit, SM_UNIT_VARH);
			if (r->obis.present && r->obis.v[2] == 32)
				assert_string_equal(r->name, "voltage_l1");
		}
		if (i > 0)
			assert_int_equal(sm_buf_adds(&nb, ", "), SM_OK);
		assert_int_equal(sm_buf_adds(&nb, m->name), SM_OK);
	}
	assert_int_equal(count, 11);
	assert_string_equal(sm_mb_model_names(), names);
	assert_null(sm_mb_model_find("sdm631"));
	assert_null(sm_mb_model_find(""));
	assert_null(sm_mb_model_find(NULL));
	assert_ptr_equal(sm_mb_model_find("SDM630"), sm_mb_model_find("sdm630"));
	assert_ptr_equal(sm_mb_model_find("Janitza-B23"), sm_mb_model_find("janitza-b23"));
	static const char *const required[] = { "sdm630", "sdm120", "sdm72", "acuvim2", "acuvim-l", "em24",
						"em340", "abb-b23", "iem3000", "janitza-b23", "sdm72v1" };
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		assert_non_null(sm_mb_model_find(required[i]));
}

static const struct sm_mb_reg *find_reg(const struct sm_mb_map *m, const char *name)
{
	for (size_t i = 0; i < m->nregs; i++)
		if (strcmp(m->regs[i].name, name) == 0)
			return &m->regs[i];
	fail_msg("%s has no register %s", m->name, name);
	return NULL;
}

static void expect_reg(const char *model, const char *name, uint8_t fc, uint16_t addr, enum sm_mb_type t,
		       enum sm_mb_order o, int exp, enum sm_unit u, unsigned flags)
{
	const struct sm_mb_map *m = sm_mb_model_find(model);
	assert_non_null(m);
	const struct sm_mb_reg *r = find_reg(m, name);
	if (r->function != fc || r->address != addr || r->type != t || r->order != o || r->exp != exp ||
	    r->unit != u || r->flags != flags)
		fail_msg("%s %s: FC%u 0x%04X %s %s exp %d unit %d flags %u", model, name, r->function, r->address,
			 sm_mb_type_name(r->type), sm_mb_order_name(r->order), r->exp, r->unit, r->flags);
}

static void expect_names(const char *model, const char *const *names, size_t n)
{
	const struct sm_mb_map *m = sm_mb_model_find(model);
	assert_non_null(m);
	assert_int_equal(m->nregs, n);
	for (size_t i = 0; i < n; i++)
		find_reg(m, names[i]);
}

static void test_model_facts(void **state)
{
	(void)state;
	const struct sm_mb_map *m = sm_mb_model_find("sdm630");
	assert_int_equal(m->max_count, 80);
	assert_true(m->even);
	assert_int_equal(plan_of(m), 2);
	assert_int_equal(plan.req[0].start, 0);
	assert_int_equal(plan.req[0].count, 80);
	assert_int_equal(plan.req[1].start, 0x0156);
	assert_int_equal(plan.req[1].count, 16);
	assert_string_equal(m->description, "Eastron SDM630 v2 (three-phase)");
	expect_reg("sdm630", "voltage_l1", 4, 0x0000, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_V, 0);
	expect_reg("sdm630", "power_net", 4, 0x0034, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_W, 0);
	expect_reg("sdm630", "frequency", 4, 0x0046, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_HZ, 0);
	expect_reg("sdm630", "energy_import", 4, 0x0048, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_WH, 0);
	expect_reg("sdm630", "reactive_energy_export", 4, 0x004E, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_VARH, 0);
	expect_reg("sdm630", "energy_absolute", 4, 0x0156, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_WH, 0);
	expect_reg("sdm630", "energy_export_l3", 4, 0x0164, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_WH, 0);
	assert_int_equal(m->nregs, 34);

	static const char *const sdm120[] = { "voltage_l1", "current_l1", "power_net", "apparent_power_import",
					      "reactive_power", "power_factor", "frequency", "energy_import",
					      "energy_export", "reactive_energy_import", "reactive_energy_export",
					      "energy_absolute" };
	expect_names("sdm120", sdm120, sizeof sdm120 / sizeof sdm120[0]);
	assert_int_equal(plan_of(sm_mb_model_find("sdm120")), 2);
	assert_int_equal(plan_of(sm_mb_model_find("sdm72")), 2);
	assert_int_equal(sm_mb_model_find("sdm72")->nregs, 28);
	static const char *const sdm72v1[] = { "power_net", "energy_import", "energy_export", "energy_absolute" };
	expect_names("sdm72v1", sdm72v1, 4);

	m = sm_mb_model_find("acuvim2");
	assert_string_equal(m->caveat, "energy scale x0.1 kWh taken from the Haystack spec, unverified on a device");
	expect_reg("acuvim2", "energy_import", 3, 0x4048, SM_MB_FLOAT32, SM_MB_ABCD, 2, SM_UNIT_WH, 0);
	expect_reg("acuvim2", "voltage_l1_l2", 3, 0x400A, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_V, 0);
	expect_reg("acuvim2", "current_neutral", 3, 0x401A, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_A, 0);
	assert_int_equal(plan_of(m), 1);

	m = sm_mb_model_find("acuvim-l");
	assert_non_null(strstr(m->caveat, "0x1019"));
	expect_reg("acuvim-l", "energy_import", 3, 0x2080, SM_MB_UINT32, SM_MB_ABCD, 0, SM_UNIT_WH, 0);
	expect_reg("acuvim-l", "reactive_energy_export", 3, 0x2092, SM_MB_UINT32, SM_MB_ABCD, 0, SM_UNIT_VARH, 0);
	expect_reg("acuvim-l", "power_factor", 3, 0x21BE, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_NONE, 0);
	assert_int_equal(plan_of(m), 2);

	m = sm_mb_model_find("em24");
	assert_int_equal(m->max_count, 11);
	expect_reg("em24", "voltage_l1", 4, 0x0000, SM_MB_INT32, SM_MB_CDAB, -1, SM_UNIT_V, 0);
	expect_reg("em24", "current_l3", 4, 0x0010, SM_MB_INT32, SM_MB_CDAB, -3, SM_UNIT_A, 0);
	expect_reg("em24", "power_net", 4, 0x0028, SM_MB_INT32, SM_MB_CDAB, -1, SM_UNIT_W, 0);
	expect_reg("em24", "power_factor", 4, 0x0035, SM_MB_INT16, SM_MB_ABCD, -3, SM_UNIT_NONE, 0);
	expect_reg("em24", "frequency", 4, 0x0037, SM_MB_INT16, SM_MB_ABCD, -1, SM_UNIT_HZ, 0);
	expect_reg("em24", "energy_import", 4, 0x0042, SM_MB_INT32, SM_MB_CDAB, 2, SM_UNIT_WH, 0);
	expect_reg("em24", "energy_export", 4, 0x005C, SM_MB_INT32, SM_MB_CDAB, 2, SM_UNIT_WH, 0);
	assert_int_equal(plan_of(m), 7);

	m = sm_mb_model_find("em340");
	assert_int_equal(m->max_count, 50);
	expect_reg("em340", "voltage_l1", 4, 0x0000, SM_MB_INT32, SM_MB_CDAB, -1, SM_UNIT_V, SM_MB_F_INVALID_MAX);
	expect_reg("em340", "power_factor_l1", 4, 0x002E, SM_MB_INT16, SM_MB_ABCD, -3, SM_UNIT_NONE, 0);
	expect_reg("em340", "frequency", 4, 0x0033, SM_MB_INT16, SM_MB_ABCD, -1, SM_UNIT_HZ, 0);
	expect_reg("em340", "energy_import", 4, 0x0034, SM_MB_INT32, SM_MB_CDAB, 2, SM_UNIT_WH, SM_MB_F_INVALID_MAX);
	expect_reg("em340", "energy_export", 4, 0x004E, SM_MB_INT32, SM_MB_CDAB, 2, SM_UNIT_WH, SM_MB_F_INVALID_MAX);

	m = sm_mb_model_find("abb-b23");
	for (size_t i = 0; i < m->nregs; i++)
		assert_int_equal(m->regs[i].flags, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "voltage_l1", 3, 0x5B00, SM_MB_UINT32, SM_MB_ABCD, -1, SM_UNIT_V, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "current_l1", 3, 0x5B0C, SM_MB_UINT32, SM_MB_ABCD, -2, SM_UNIT_A, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "power_net", 3, 0x5B14, SM_MB_INT32, SM_MB_ABCD, -2, SM_UNIT_W, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "frequency", 3, 0x5B2C, SM_MB_UINT16, SM_MB_ABCD, -2, SM_UNIT_HZ, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "power_factor_l3", 3, 0x5B3D, SM_MB_INT16, SM_MB_ABCD, -3, SM_UNIT_NONE,
		   SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "energy_import", 3, 0x5000, SM_MB_UINT64, SM_MB_ABCD, 1, SM_UNIT_WH, SM_MB_F_INVALID_MAX);
	expect_reg("abb-b23", "energy_export_l3", 3, 0x5474, SM_MB_UINT64, SM_MB_ABCD, 1, SM_UNIT_WH,
		   SM_MB_F_INVALID_MAX);
	assert_int_equal(plan_of(m), 3);

	m = sm_mb_model_find("iem3000");
	assert_non_null(strstr(m->caveat, "reactive"));
	expect_reg("iem3000", "current_l1", 3, 0x0BB7, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_A, 0);
	expect_reg("iem3000", "power_net", 3, 0x0BF3, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_W, 0);
	expect_reg("iem3000", "reactive_power", 3, 0x0BFB, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_VAR, 0);
	expect_reg("iem3000", "apparent_power_import", 3, 0x0C03, SM_MB_FLOAT32, SM_MB_ABCD, 3, SM_UNIT_VA, 0);
	expect_reg("iem3000", "energy_import", 3, 0x0C83, SM_MB_INT64, SM_MB_ABCD, 0, SM_UNIT_WH, 0);
	expect_reg("iem3000", "reactive_energy_export", 3, 0x0C97, SM_MB_INT64, SM_MB_ABCD, 0, SM_UNIT_VARH, 0);
	expect_reg("iem3000", "energy_import_l3", 3, 0x0DC5, SM_MB_INT64, SM_MB_ABCD, 0, SM_UNIT_WH, 0);
	assert_int_equal(plan_of(m), 3);

	m = sm_mb_model_find("janitza-b23");
	assert_non_null(strstr(m->caveat, "cos phi"));
	expect_reg("janitza-b23", "power_factor_l1", 3, 0x4A64, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_NONE, 0);
	expect_reg("janitza-b23", "energy_export", 3, 0x4A84, SM_MB_FLOAT32, SM_MB_ABCD, 0, SM_UNIT_WH, 0);
	assert_int_equal(plan_of(m), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_baud),
		cmocka_unit_test(test_exception_str),
		cmocka_unit_test(test_layouts_int),
		cmocka_unit_test(test_layouts_float),
		cmocka_unit_test(test_sign_extension),
		cmocka_unit_test(test_float_shortest),
		cmocka_unit_test(test_float_invalid),
		cmocka_unit_test(test_invalid_max),
		cmocka_unit_test(test_factor),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_map_check),
		cmocka_unit_test(test_plan_basic),
		cmocka_unit_test(test_plan_full),
		cmocka_unit_test(test_plan_minimal),
		cmocka_unit_test(test_decode_poll),
		cmocka_unit_test(test_plan_format),
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_model_facts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
