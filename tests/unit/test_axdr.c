/*
 * test_axdr.c - the A-XDR iterator and writer: every type and integer width,
 * BER lengths of every size, enter/leave/next, truncation at every byte,
 * corrupted lengths and counts, nesting and count limits, date-time fields
 * and the DLMS deviation sign.  Every input is read from an exactly-sized
 * heap copy so AddressSanitizer sees any overread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Walk everything under it (depth first) with enter/leave; count elements. */
static enum sm_err walk_all(struct sm_axdr_it *it, size_t *elements)
{
	enum sm_err rc;
	while (!sm_axdr_at_end(it)) {
		(*elements)++;
		if (sm_axdr_is_container(it)) {
			struct sm_axdr_it c;
			if ((rc = sm_axdr_enter(it, &c)) != SM_OK)
				return rc;
			if ((rc = walk_all(&c, elements)) != SM_OK)
				return rc;
			if ((rc = sm_axdr_leave(it, &c)) != SM_OK)
				return rc;
		} else if ((rc = sm_axdr_next(it)) != SM_OK) {
			return rc;
		}
	}
	return SM_OK;
}

/* Parse n bytes (heap copy) as count top-level elements, walked and skipped:
 * both must agree.  Returns the walk's code. */
static enum sm_err check_both(const uint8_t *p, size_t n, uint32_t count, size_t *elements)
{
	uint8_t *c = exact(p, n);
	struct sm_axdr_it it, it2;
	size_t el = 0;
	enum sm_err rc = sm_axdr_init(&it, c, n, count);
	if (rc == SM_OK)
		rc = walk_all(&it, &el);
	enum sm_err rc2 = sm_axdr_init(&it2, c, n, count);
	while (rc2 == SM_OK && !sm_axdr_at_end(&it2))
		rc2 = sm_axdr_next(&it2);
	assert_int_equal(rc, rc2);
	if (rc == SM_OK)
		assert_ptr_equal(sm_axdr_pos(&it), sm_axdr_pos(&it2));
	free(c);
	if (elements)
		*elements = el;
	return rc;
}

/* ------------------------------------------------------------------ */

static void test_integers_every_width(void **state)
{
	(void)state;
	uint8_t buf[256];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_i8(&w, -128);
	sm_axdr_put_u8(&w, 255);
	sm_axdr_put_i16(&w, -32768);
	sm_axdr_put_u16(&w, 65535);
	sm_axdr_put_i32(&w, INT32_MIN);
	sm_axdr_put_u32(&w, UINT32_MAX);
	sm_axdr_put_i64(&w, INT64_MIN);
	sm_axdr_put_u64(&w, UINT64_MAX);
	sm_axdr_put_enum(&w, 30);
	sm_axdr_put_bool(&w, true);
	sm_axdr_put_bcd(&w, 42);
	sm_axdr_put_i64(&w, INT64_MAX);
	assert_int_equal(sm_axdr_w_status(&w), SM_OK);
	static const uint8_t want[] = {
		0x0F, 0x80, 0x11, 0xFF, 0x10, 0x80, 0x00, 0x12, 0xFF, 0xFF, 0x05, 0x80, 0x00, 0x00, 0x00,
		0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x14, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x15, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x16, 30, 0x03, 0x01, 0x0D, 0x42, 0x14, 0x7F, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	};
	assert_int_equal(w.len, sizeof want);
	assert_memory_equal(buf, want, sizeof want);

	uint8_t *c = exact(buf, w.len);
	struct sm_axdr_it it;
	assert_int_equal(sm_axdr_init(&it, c, w.len, 12), SM_OK);
	int8_t i8;
	uint8_t u8;
	int16_t i16;
	uint16_t u16;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	bool b;

	assert_int_equal(sm_axdr_type(&it), SM_AXDR_INT8);
	assert_int_equal(sm_axdr_get_u8(&it, &u8), SM_E_SYNTAX); /* wrong type */
	assert_int_equal(sm_axdr_get_i8(&it, &i8), SM_OK);
	assert_int_equal(i8, -128);
	assert_int_equal(sm_axdr_get_uint(&it, &u64), SM_E_RANGE);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, -128);
	assert_int_equal(sm_axdr_next(&it), SM_OK);

	assert_int_equal(sm_axdr_get_u8(&it, &u8), SM_OK);
	assert_int_equal(u8, 255);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_i16(&it, &i16), SM_OK);
	assert_int_equal(i16, -32768);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, -32768);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_u16(&it, &u16), SM_OK);
	assert_int_equal(u16, 65535);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_i32(&it, &i32), SM_OK);
	assert_int_equal(i32, INT32_MIN);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, INT32_MIN);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_u32(&it, &u32), SM_OK);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, (int64_t)UINT32_MAX);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_i64(&it, &i64), SM_OK);
	assert_true(i64 == INT64_MIN);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_true(i64 == INT64_MIN);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_u64(&it, &u64), SM_OK);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_E_RANGE);
	assert_int_equal(sm_axdr_get_uint(&it, &u64), SM_OK);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_enum(&it, &u8), SM_OK);
	assert_int_equal(u8, 30);
	assert_true(sm_axdr_is_integer(&it));
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_bool(&it, &b), SM_OK);
	assert_true(b);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, 1);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_bcd(&it, &u8), SM_OK);
	assert_int_equal(u8, 42);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_int_equal(i64, 42);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_int(&it, &i64), SM_OK);
	assert_true(i64 == INT64_MAX);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_true(sm_axdr_at_end(&it));
	assert_int_equal(sm_axdr_next(&it), SM_E_SYNTAX); /* nothing to step over */
	assert_ptr_equal(sm_axdr_pos(&it), c + w.len);
	free(c);
}

static void test_min_int_encoding(void **state)
{
	(void)state;
	static const struct {
		int64_t v;
		uint8_t tag;
		size_t len;
	} cases[] = {
		{ 0, SM_AXDR_UINT8, 2 },
		{ 255, SM_AXDR_UINT8, 2 },
		{ 256, SM_AXDR_UINT16, 3 },
		{ 65535, SM_AXDR_UINT16, 3 },
		{ 65536, SM_AXDR_UINT32, 5 },
		{ 4294967295LL, SM_AXDR_UINT32, 5 },
		{ 4294967296LL, SM_AXDR_UINT64, 9 },
		{ INT64_MAX, SM_AXDR_UINT64, 9 },
		{ -1, SM_AXDR_INT8, 2 },
		{ -128, SM_AXDR_INT8, 2 },
		{ -129, SM_AXDR_INT16, 3 },
		{ -32768, SM_AXDR_INT16, 3 },
		{ -32769, SM_AXDR_INT32, 5 },
		{ INT32_MIN, SM_AXDR_INT32, 5 },
		{ (int64_t)INT32_MIN - 1, SM_AXDR_INT64, 9 },
		{ INT64_MIN, SM_AXDR_INT64, 9 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[16];
		struct sm_axdr_w w;
		sm_axdr_w_init(&w, buf, sizeof buf);
		sm_axdr_put_int_min(&w, cases[i].v);
		assert_int_equal(w.len, cases[i].len);
		assert_int_equal(buf[0], cases[i].tag);
		uint8_t *c = exact(buf, w.len);
		struct sm_axdr_it it;
		int64_t v;
		assert_int_equal(sm_axdr_init(&it, c, w.len, 1), SM_OK);
		assert_int_equal(sm_axdr_get_int(&it, &v), SM_OK);
		assert_true(v == cases[i].v);
		free(c);
	}
}

static void test_floats(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_float32(&w, 230.1f);
	sm_axdr_put_float64(&w, -0.1);
	static const uint8_t want[] = { 0x17, 0x43, 0x66, 0x19, 0x9A, 0x18, 0xBF, 0xB9, 0x99,
					0x99, 0x99, 0x99, 0x99, 0x9A };
	assert_int_equal(w.len, sizeof want);
	assert_memory_equal(buf, want, sizeof want);
	uint8_t *c = exact(buf, w.len);
	struct sm_axdr_it it;
	float f;
	double d;
	assert_int_equal(sm_axdr_init(&it, c, w.len, 2), SM_OK);
	assert_int_equal(sm_axdr_get_float64(&it, &d), SM_E_SYNTAX);
	assert_int_equal(sm_axdr_get_float32(&it, &f), SM_OK);
	assert_true(f == 230.1f);
	assert_false(sm_axdr_is_integer(&it));
	assert_int_equal(sm_axdr_get_int(&it, &(int64_t){ 0 }), SM_E_SYNTAX);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_float64(&it, &d), SM_OK);
	assert_true(d == -0.1);
	free(c);
}

static void test_bcd_invalid(void **state)
{
	(void)state;
	static const uint8_t in[] = { 0x0D, 0x9A };
	uint8_t *c = exact(in, sizeof in);
	struct sm_axdr_it it;
	uint8_t v;
	int64_t i;
	assert_int_equal(sm_axdr_init(&it, c, sizeof in, 1), SM_OK);
	assert_int_equal(sm_axdr_get_bcd(&it, &v), SM_E_RANGE);
	assert_int_equal(sm_axdr_get_int(&it, &i), SM_E_RANGE);
	free(c);
}

static void test_strings_and_bits(void **state)
{
	(void)state;
	uint8_t buf[1024];
	static uint8_t big[300];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)i;
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "\x01\x00\x01\x08\x00\xFF", 6);
	sm_axdr_put_string(&w, SM_AXDR_VISIBLE, "KFM1200200182517", 16);
	sm_axdr_put_string(&w, SM_AXDR_UTF8, "Z\xC3\xA4hler", 7);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, big, 200); /* 81 C8 */
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, big, 300); /* 82 01 2C */
	sm_axdr_put_bits(&w, (const uint8_t *)"\xA5\x80", 9);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "", 0);
	assert_int_equal(sm_axdr_w_status(&w), SM_OK);
	assert_int_equal(buf[0], 0x09);
	assert_int_equal(buf[1], 6);
	assert_int_equal(buf[8 + 18 + 9], 0x09);
	assert_int_equal(buf[8 + 18 + 9 + 1], 0x81);
	assert_int_equal(buf[8 + 18 + 9 + 2], 200);

	uint8_t *c = exact(buf, w.len);
	struct sm_axdr_it it;
	const uint8_t *p;
	size_t n;
	assert_int_equal(sm_axdr_init(&it, c, w.len, 7), SM_OK);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "\x01\x00\x01\x08\x00\xFF", 6);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_type(&it), SM_AXDR_VISIBLE);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_int_equal(n, 16);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_type(&it), SM_AXDR_UTF8);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_int_equal(n, 7);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_int_equal(n, 200);
	assert_memory_equal(p, big, 200);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_len(&it), 300);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_memory_equal(p, big, 300);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_E_SYNTAX);
	assert_int_equal(sm_axdr_get_bits(&it, &p, &n), SM_OK);
	assert_int_equal(n, 9);
	assert_int_equal(p[0], 0xA5);
	assert_int_equal(p[1], 0x80);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_bytes(&it, &p, &n), SM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_true(sm_axdr_at_end(&it));
	free(c);
}

static void test_ber_lengths(void **state)
{
	(void)state;
	/* an octet-string of 3 bytes with every length form */
	static const uint8_t forms[][8] = {
		{ 0x09, 0x03, 'a', 'b', 'c' },
		{ 0x09, 0x81, 0x03, 'a', 'b', 'c' },
		{ 0x09, 0x82, 0x00, 0x03, 'a', 'b', 'c' },
		{ 0x09, 0x83, 0x00, 0x00, 0x03, 'a', 'b', 'c' },
		{ 0x09, 0x84, 0x00, 0x00, 0x00, 0x03, 'a', 'b' }, /* + 'c' below */
	};
	for (size_t i = 0; i < 5; i++) {
		uint8_t in[9];
		size_t n = 5 + i;
		memcpy(in, forms[i], i == 4 ? 8 : n);
		if (i == 4)
			in[8] = 'c';
		n = i == 4 ? 9 : n;
		uint8_t *c = exact(in, n);
		struct sm_axdr_it it;
		const uint8_t *p;
		size_t len;
		assert_int_equal(sm_axdr_init(&it, c, n, 1), SM_OK);
		assert_int_equal(sm_axdr_get_bytes(&it, &p, &len), SM_OK);
		assert_int_equal(len, 3);
		assert_memory_equal(p, "abc", 3);
		assert_int_equal(sm_axdr_next(&it), SM_OK);
		assert_true(sm_axdr_at_end(&it));
		assert_ptr_equal(sm_axdr_pos(&it), c + n);
		free(c);
	}
	/* 0x80 (indefinite) and 0x85.. are malformed */
	static const uint8_t bad1[] = { 0x09, 0x80, 'a' };
	static const uint8_t bad2[] = { 0x09, 0x85, 0, 0, 0, 0, 1, 'a' };
	static const uint8_t bad3[] = { 0x01, 0xFF };
	assert_int_equal(check_both(bad1, sizeof bad1, 1, NULL), SM_E_SYNTAX);
	assert_int_equal(check_both(bad2, sizeof bad2, 1, NULL), SM_E_SYNTAX);
	assert_int_equal(check_both(bad3, sizeof bad3, 1, NULL), SM_E_SYNTAX);

	/* writer: every form, and the reader takes each back */
	static const uint32_t lens[] = { 0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFF,
					 0x1000000, UINT32_MAX };
	static const size_t sizes[] = { 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		uint8_t b[8];
		struct sm_axdr_w w;
		sm_axdr_w_init(&w, b, sizeof b);
		sm_axdr_put_len(&w, lens[i]);
		assert_int_equal(w.len, sizes[i]);
	}
}

static void test_containers(void **state)
{
	(void)state;
	/* array of 2 structures {obis, uint16, {int8, enum}} and a null */
	uint8_t buf[128];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_array(&w, 3);
	for (int i = 0; i < 2; i++) {
		sm_axdr_put_struct(&w, 3);
		sm_axdr_put_string(&w, SM_AXDR_OCTETS, "\x01\x00\x20\x07\x00\xFF", 6);
		sm_axdr_put_u16(&w, (uint16_t)(2300 + i));
		sm_axdr_put_struct(&w, 2);
		sm_axdr_put_i8(&w, -1);
		sm_axdr_put_enum(&w, 35);
	}
	sm_axdr_put_null(&w);
	sm_axdr_put_u8(&w, 7); /* a second top-level element */
	assert_int_equal(sm_axdr_w_status(&w), SM_OK);
	uint8_t *c = exact(buf, w.len);

	struct sm_axdr_it top, arr, st, su;
	assert_int_equal(sm_axdr_init(&top, c, w.len, 2), SM_OK);
	assert_int_equal(sm_axdr_type(&top), SM_AXDR_ARRAY);
	assert_int_equal(sm_axdr_len(&top), 3);
	assert_int_equal(sm_axdr_enter(&top, &arr), SM_OK);
	assert_int_equal(arr.depth, 1);
	/* leaving before the child's end is refused */
	assert_int_equal(sm_axdr_leave(&top, &arr), SM_E_SYNTAX);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sm_axdr_type(&arr), SM_AXDR_STRUCT);
		assert_int_equal(sm_axdr_enter(&arr, &st), SM_OK);
		assert_int_equal(sm_axdr_next(&st), SM_OK); /* over the OBIS */
		uint16_t v;
		assert_int_equal(sm_axdr_get_u16(&st, &v), SM_OK);
		assert_int_equal(v, 2300 + i);
		assert_int_equal(sm_axdr_next(&st), SM_OK);
		assert_int_equal(sm_axdr_enter(&st, &su), SM_OK);
		int8_t sc;
		uint8_t u;
		assert_int_equal(sm_axdr_get_i8(&su, &sc), SM_OK);
		assert_int_equal(sm_axdr_next(&su), SM_OK);
		assert_int_equal(sm_axdr_get_enum(&su, &u), SM_OK);
		assert_int_equal(sc, -1);
		assert_int_equal(u, 35);
		assert_int_equal(sm_axdr_next(&su), SM_OK);
		assert_true(sm_axdr_at_end(&su));
		assert_int_equal(sm_axdr_enter(&su, &st), SM_E_SYNTAX); /* at the end: nothing */
		assert_int_equal(sm_axdr_leave(&st, &su), SM_OK);
		assert_true(sm_axdr_at_end(&st));
		assert_int_equal(sm_axdr_leave(&arr, &st), SM_OK);
	}
	assert_int_equal(sm_axdr_type(&arr), SM_AXDR_NULL);
	assert_int_equal(sm_axdr_enter(&arr, &st), SM_E_SYNTAX); /* not a container */
	assert_int_equal(sm_axdr_next(&arr), SM_OK);
	assert_int_equal(sm_axdr_leave(&top, &arr), SM_OK);
	assert_int_equal(sm_axdr_type(&top), SM_AXDR_UINT8);

	/* next over the whole array lands on the same element */
	struct sm_axdr_it top2;
	assert_int_equal(sm_axdr_init(&top2, c, w.len, 2), SM_OK);
	assert_int_equal(sm_axdr_next(&top2), SM_OK);
	assert_ptr_equal(sm_axdr_pos(&top2), sm_axdr_pos(&top));
	size_t el = 0;
	assert_int_equal(check_both(c, w.len, 2, &el), SM_OK);
	assert_int_equal(el, 1 + 2 * (1 + 3 + 2) + 1 + 1);
	free(c);
}

static void test_truncation_every_byte(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	struct sm_axdr_datetime dt;
	sm_axdr_datetime_from_ms(1632728835000, 120, &dt);
	sm_axdr_put_struct(&w, 12);
	sm_axdr_put_datetime(&w, &dt, true);
	sm_axdr_put_datetime(&w, &dt, false);
	sm_axdr_put_date(&w, &dt);
	sm_axdr_put_time(&w, &dt);
	sm_axdr_put_array(&w, 2);
	sm_axdr_put_u64(&w, 1);
	sm_axdr_put_i32(&w, -1);
	sm_axdr_put_float64(&w, 1.5);
	sm_axdr_put_float32(&w, 1.5f);
	sm_axdr_put_bits(&w, (const uint8_t *)"\xFF\xFF\xFF", 20);
	sm_axdr_put_string(&w, SM_AXDR_VISIBLE, "abc", 3);
	static const uint8_t filler[130] = { 1, 2, 3 };
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, filler, sizeof filler);
	sm_axdr_put_bool(&w, false);
	sm_axdr_put_null(&w);
	assert_int_equal(sm_axdr_w_status(&w), SM_OK);
	size_t n = w.len;
	assert_int_equal(check_both(buf, n, 1, NULL), SM_OK);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(check_both(buf, k, 1, NULL), SM_E_TRUNCATED);
}

static void test_corrupt_every_byte(void **state)
{
	(void)state;
	/* a Kaifa-shaped list; every byte replaced by values that matter for
	 * lengths and tags: never a crash, never a read past the copy */
	uint8_t buf[256];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_struct(&w, 3);
	sm_axdr_put_struct(&w, 2);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "\x00\x00\x60\x01\x00\xFF", 6);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "1KFM0200182517", 14);
	for (int i = 0; i < 2; i++) {
		sm_axdr_put_struct(&w, 3);
		sm_axdr_put_string(&w, SM_AXDR_OCTETS, "\x01\x00\x01\x08\x00\xFF", 6);
		sm_axdr_put_u32(&w, 1403036);
		sm_axdr_put_struct(&w, 2);
		sm_axdr_put_i8(&w, 0);
		sm_axdr_put_enum(&w, 30);
	}
	size_t n = w.len;
	static const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x09, 0x13, 0x7F, 0x80, 0x81, 0x82,
					0x84, 0x85, 0xFE, 0xFF };
	unsigned ok = 0, bad = 0;
	for (size_t k = 0; k < n; k++) {
		for (size_t v = 0; v < sizeof vals; v++) {
			uint8_t in[256];
			memcpy(in, buf, n);
			in[k] = vals[v];
			enum sm_err rc = check_both(in, n, 1, NULL);
			assert_true(rc == SM_OK || rc == SM_E_SYNTAX || rc == SM_E_TRUNCATED);
			if (rc == SM_OK)
				ok++;
			else
				bad++;
		}
	}
	assert_true(ok > 0 && bad > 0);
}

static void test_depth_limit(void **state)
{
	(void)state;
	/* SM_AXDR_MAX_DEPTH nested structures of one element each, a uint8 inside */
	uint8_t in[2 * 200 + 2];
	for (unsigned depth = 1; depth <= 200; depth++) {
		size_t n = 0;
		for (unsigned i = 0; i < depth; i++) {
			in[n++] = SM_AXDR_STRUCT;
			in[n++] = 1;
		}
		in[n++] = SM_AXDR_UINT8;
		in[n++] = 7;
		size_t el = 0;
		enum sm_err rc = check_both(in, n, 1, &el);
		if (depth <= SM_AXDR_MAX_DEPTH) {
			assert_int_equal(rc, SM_OK);
			assert_int_equal(el, depth + 1);
		} else {
			assert_int_equal(rc, SM_E_SYNTAX);
		}
	}
}

static void test_count_limits(void **state)
{
	(void)state;
	/* counts the input cannot hold */
	static const uint8_t a[] = { 0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 };
	static const uint8_t b[] = { 0x01, 0x82, 0xFF, 0xFF, 0x00, 0x00 };
	static const uint8_t c[] = { 0x02, 0x83, 0x01, 0x00, 0x00, 0x00 };
	static const uint8_t d[] = { 0x09, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 };
	static const uint8_t e[] = { 0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 };
	assert_int_equal(check_both(a, sizeof a, 1, NULL), SM_E_SYNTAX);
	assert_int_equal(check_both(b, sizeof b, 1, NULL), SM_E_TRUNCATED);
	assert_int_equal(check_both(c, sizeof c, 1, NULL), SM_E_SYNTAX);
	assert_int_equal(check_both(d, sizeof d, 1, NULL), SM_E_TRUNCATED);
	assert_int_equal(check_both(e, sizeof e, 1, NULL), SM_E_TRUNCATED);
	/* exactly SM_AXDR_MAX_COUNT nulls is fine */
	size_t n = 4 + SM_AXDR_MAX_COUNT;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	big[0] = SM_AXDR_ARRAY;
	big[1] = 0x82;
	big[2] = 0xFF;
	big[3] = 0xFF;
	size_t el = 0;
	assert_int_equal(check_both(big, n, 1, &el), SM_OK);
	assert_int_equal(el, 1 + SM_AXDR_MAX_COUNT);
	free(big);
	/* a count larger than the top-level input: 3 requested, 1 present */
	static const uint8_t f[] = { 0x00 };
	assert_int_equal(check_both(f, sizeof f, 3, NULL), SM_E_TRUNCATED);
	/* unknown tags */
	static const uint8_t g[] = { 0x13, 0x00 };
	static const uint8_t h[] = { 0x07 };
	assert_int_equal(check_both(g, sizeof g, 1, NULL), SM_E_SYNTAX);
	assert_int_equal(check_both(h, sizeof h, 1, NULL), SM_E_SYNTAX);
	/* empty input, NULL input */
	struct sm_axdr_it it;
	assert_int_equal(sm_axdr_init(&it, NULL, 0, 0), SM_OK);
	assert_true(sm_axdr_at_end(&it));
	assert_int_equal(sm_axdr_init(&it, NULL, 0, 1), SM_E_TRUNCATED);
}

static void test_datetime(void **state)
{
	(void)state;
	/* Austrian summer frame: 2021-09-27 09:47:15 local, deviation FF88 (-120),
	 * status 80: UTC is two hours earlier (DLMS: UTC = local + deviation) */
	static const uint8_t summer[12] = { 0x07, 0xE5, 0x09, 0x1B, 0x01, 0x09, 0x2F, 0x0F,
					    0x00, 0xFF, 0x88, 0x80 };
	struct sm_axdr_datetime dt;
	int64_t ms;
	assert_true(sm_axdr_datetime_parse(summer, 12, &dt));
	assert_int_equal(dt.year, 2021);
	assert_int_equal(dt.month, 9);
	assert_int_equal(dt.day, 27);
	assert_int_equal(dt.wday, 1);
	assert_int_equal(dt.deviation, -120);
	assert_int_equal(dt.clock_status, 0x80);
	assert_true(sm_axdr_datetime_to_ms(&dt, &ms));
	assert_int_equal(ms, 1632728835000LL); /* 2021-09-27T07:47:15Z */
	/* round trip through from_ms/put */
	struct sm_axdr_datetime back;
	uint8_t b[12];
	sm_axdr_datetime_from_ms(ms, 120, &back);
	back.clock_status = 0x80;
	sm_axdr_datetime_put(&back, b);
	assert_memory_equal(b, summer, 12);

	/* winter, with hundredths: 2024-11-15 14:45:45.37 local, FFC4 (-60) */
	static const uint8_t winter[12] = { 0x07, 0xE8, 0x0B, 0x0F, 0x05, 0x0E, 0x2D, 0x2D,
					    37, 0xFF, 0xC4, 0x02 };
	assert_true(sm_axdr_datetime_parse(winter, 12, &dt));
	assert_true(sm_axdr_datetime_to_ms(&dt, &ms));
	assert_int_equal(ms, 1731678345370LL);
	sm_axdr_datetime_from_ms(ms, 60, &back);
	assert_int_equal(back.wday, 5);
	assert_int_equal(back.hundredths, 37);

	/* unknown deviation: parsed, but no UTC time */
	uint8_t u[12];
	memcpy(u, summer, 12);
	u[9] = 0x80;
	u[10] = 0x00;
	assert_true(sm_axdr_datetime_parse(u, 12, &dt));
	assert_int_equal(dt.deviation, SM_AXDR_DEVIATION_UNKNOWN);
	assert_false(sm_axdr_datetime_to_ms(&dt, &ms));
	/* unspecified fields */
	memcpy(u, summer, 12);
	u[0] = u[1] = 0xFF;
	assert_true(sm_axdr_datetime_parse(u, 12, &dt));
	assert_false(sm_axdr_datetime_to_ms(&dt, &ms));
	memcpy(u, summer, 12);
	u[7] = 0xFF;
	assert_true(sm_axdr_datetime_parse(u, 12, &dt));
	assert_false(sm_axdr_datetime_to_ms(&dt, &ms));
	memcpy(u, summer, 12);
	u[2] = 0xFE; /* DST begin: a schedule, not a time */
	assert_true(sm_axdr_datetime_parse(u, 12, &dt));
	assert_false(sm_axdr_datetime_to_ms(&dt, &ms));
	/* out-of-range fields: not a date-time */
	static const size_t field[] = { 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t badv[] = { 13, 32, 8, 24, 60, 60, 100 };
	for (size_t i = 0; i < 7; i++) {
		memcpy(u, summer, 12);
		u[field[i]] = badv[i];
		assert_false(sm_axdr_datetime_parse(u, 12, &dt));
	}
	memcpy(u, summer, 12);
	u[9] = 0x02; /* +721 */
	u[10] = 0xD1;
	assert_false(sm_axdr_datetime_parse(u, 12, &dt));
	/* a meter number in ASCII is never a date-time */
	assert_false(sm_axdr_datetime_parse((const uint8_t *)"181220000009", 12, &dt));
	assert_false(sm_axdr_datetime_parse(summer, 11, &dt));
	/* February 30th parses (fields in range) but has no time */
	memcpy(u, summer, 12);
	u[2] = 2;
	u[3] = 30;
	assert_true(sm_axdr_datetime_parse(u, 12, &dt));
	assert_false(sm_axdr_datetime_to_ms(&dt, &ms));
}

static void test_datetime_types(void **state)
{
	(void)state;
	struct sm_axdr_datetime dt, got;
	sm_axdr_datetime_from_ms(1682413170000LL, 120, &dt);
	uint8_t buf[64];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, buf, sizeof buf);
	sm_axdr_put_datetime(&w, &dt, false);
	sm_axdr_put_datetime(&w, &dt, true);
	sm_axdr_put_date(&w, &dt);
	sm_axdr_put_time(&w, &dt);
	sm_axdr_put_string(&w, SM_AXDR_OCTETS, "181220000009", 12);
	uint8_t *c = exact(buf, w.len);
	struct sm_axdr_it it;
	int64_t ms;
	assert_int_equal(sm_axdr_init(&it, c, w.len, 5), SM_OK);
	assert_int_equal(sm_axdr_type(&it), SM_AXDR_DATETIME);
	assert_int_equal(sm_axdr_get_datetime(&it, &got), SM_OK);
	assert_true(sm_axdr_datetime_to_ms(&got, &ms));
	assert_int_equal(ms, 1682413170000LL);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_datetime(&it, &got), SM_OK);
	assert_int_equal(got.hour, 10);
	assert_int_equal(got.deviation, -120);
	assert_int_equal(sm_axdr_get_date(&it, &got), SM_E_SYNTAX);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_date(&it, &got), SM_OK);
	assert_int_equal(got.year, 2023);
	assert_int_equal(got.month, 4);
	assert_int_equal(got.day, 25);
	assert_int_equal(got.wday, 2);
	assert_int_equal(got.hour, 0xFF);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_time(&it, &got), SM_OK);
	assert_int_equal(got.hour, 10);
	assert_int_equal(got.min, 59);
	assert_int_equal(got.sec, 30);
	assert_int_equal(got.year, 0xFFFF);
	assert_int_equal(sm_axdr_next(&it), SM_OK);
	assert_int_equal(sm_axdr_get_datetime(&it, &got), SM_E_SYNTAX);
	free(c);
}

static void test_writer_overflow(void **state)
{
	(void)state;
	uint8_t full[64];
	struct sm_axdr_w w;
	sm_axdr_w_init(&w, full, sizeof full);
	sm_axdr_put_struct(&w, 2);
	sm_axdr_put_string(&w, SM_AXDR_VISIBLE, "hello world", 11);
	sm_axdr_put_u32(&w, 12345);
	size_t need = w.len;
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t *b = malloc(cap ? cap : 1);
		assert_non_null(b);
		sm_axdr_w_init(&w, b, cap);
		sm_axdr_put_struct(&w, 2);
		sm_axdr_put_string(&w, SM_AXDR_VISIBLE, "hello world", 11);
		sm_axdr_put_u32(&w, 12345);
		assert_int_equal(sm_axdr_w_status(&w), SM_E_FULL);
		assert_true(w.len <= cap);
		free(b);
	}
	sm_axdr_w_init(&w, NULL, 10);
	sm_axdr_put_null(&w);
	assert_int_equal(sm_axdr_w_status(&w), SM_E_FULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers_every_width),
		cmocka_unit_test(test_min_int_encoding),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_bcd_invalid),
		cmocka_unit_test(test_strings_and_bits),
		cmocka_unit_test(test_ber_lengths),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_corrupt_every_byte),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_count_limits),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_datetime_types),
		cmocka_unit_test(test_writer_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
