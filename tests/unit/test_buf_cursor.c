/* test_buf_cursor.c - struct sm_buf and the bounded cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "cursor.h"

/* An exactly-sized heap copy (no NUL), so ASan catches any overread. */
static char *dup_exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	return b;
}

/* ---- buf ---- */

static void test_buf_basic(void **state)
{
	(void)state;
	char st[8];
	struct sm_buf b;
	memset(st, 'x', sizeof st);
	sm_buf_init(&b, st, sizeof st);
	assert_int_equal(b.len, 0);
	assert_string_equal(st, "");
	assert_int_equal(sm_buf_adds(&b, "abc"), SM_OK);
	assert_int_equal(sm_buf_addc(&b, 'd'), SM_OK);
	assert_int_equal(sm_buf_add(&b, "ef", 2), SM_OK);
	assert_string_equal(st, "abcdef");
	assert_int_equal(b.len, 6);
	/* 7 bytes of content fit in cap 8 */
	assert_int_equal(sm_buf_addc(&b, 'g'), SM_OK);
	assert_string_equal(st, "abcdefg");
	/* full: unchanged */
	assert_int_equal(sm_buf_addc(&b, 'h'), SM_E_FULL);
	assert_int_equal(sm_buf_adds(&b, "hi"), SM_E_FULL);
	assert_int_equal(sm_buf_add(&b, "", 0), SM_OK);
	assert_string_equal(st, "abcdefg");
	assert_int_equal(b.len, 7);
	sm_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(st, "");
	/* an append that does not fit completely changes nothing */
	assert_int_equal(sm_buf_adds(&b, "1234"), SM_OK);
	assert_int_equal(sm_buf_adds(&b, "5678"), SM_E_FULL);
	assert_string_equal(st, "1234");
	assert_int_equal(b.len, 4);
}

static void test_buf_cap1(void **state)
{
	(void)state;
	char st[1] = { 'x' };
	struct sm_buf b;
	sm_buf_init(&b, st, 1);
	assert_int_equal(st[0], '\0');
	assert_int_equal(sm_buf_addc(&b, 'a'), SM_E_FULL);
	assert_int_equal(sm_buf_add(&b, "", 0), SM_OK);
	assert_int_equal(sm_buf_addf(&b, "%s", ""), SM_OK);
	assert_int_equal(sm_buf_addf(&b, "%d", 1), SM_E_FULL);
	assert_int_equal(sm_buf_add_i64(&b, 0), SM_E_FULL);
	assert_int_equal(st[0], '\0');
	assert_int_equal(b.len, 0);
}

static void test_buf_addf(void **state)
{
	(void)state;
	char st[10];
	struct sm_buf b;
	sm_buf_init(&b, st, sizeof st);
	assert_int_equal(sm_buf_addf(&b, "%s=%d", "ab", 12), SM_OK);
	assert_string_equal(st, "ab=12");
	/* 4 more would make 9 = cap-1: fits */
	assert_int_equal(sm_buf_addf(&b, "%04u", 7u), SM_OK);
	assert_string_equal(st, "ab=120007");
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_adds(&b, "abcdef"), SM_OK);
	/* does not fit: unchanged, still terminated */
	assert_int_equal(sm_buf_addf(&b, "%s", "xyzw"), SM_E_FULL);
	assert_string_equal(st, "abcdef");
	assert_int_equal(b.len, 6);
	assert_int_equal(sm_buf_addf(&b, "%s", "xyz"), SM_OK);
	assert_string_equal(st, "abcdefxyz");
}

static void test_buf_i64(void **state)
{
	(void)state;
	char st[64];
	struct sm_buf b;
	sm_buf_init(&b, st, sizeof st);
	assert_int_equal(sm_buf_add_i64(&b, 0), SM_OK);
	assert_string_equal(st, "0");
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_add_i64(&b, -1), SM_OK);
	assert_string_equal(st, "-1");
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_add_i64(&b, INT64_MAX), SM_OK);
	assert_string_equal(st, "9223372036854775807");
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_add_i64(&b, INT64_MIN), SM_OK);
	assert_string_equal(st, "-9223372036854775808");
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_add_i64(&b, 1234567890), SM_OK);
	assert_string_equal(st, "1234567890");

	char small[4];
	sm_buf_init(&b, small, sizeof small);
	assert_int_equal(sm_buf_add_i64(&b, 999), SM_OK);
	sm_buf_reset(&b);
	assert_int_equal(sm_buf_add_i64(&b, -999), SM_E_FULL);
	assert_string_equal(small, "");
	assert_int_equal(sm_buf_add_i64(&b, -99), SM_OK);
	assert_string_equal(small, "-99");
}

/* ---- text cursor ---- */

static void test_cur_basics(void **state)
{
	(void)state;
	char *in = dup_exact("ab", 2);
	struct sm_cur c;
	sm_cur_init(&c, in, 2);
	assert_int_equal(sm_cur_left(&c), 2);
	assert_false(sm_cur_eof(&c));
	assert_int_equal(sm_cur_peek(&c), 'a');
	assert_false(sm_cur_accept(&c, 'b'));
	assert_true(sm_cur_accept(&c, 'a'));
	assert_true(sm_cur_accept(&c, 'b'));
	assert_true(sm_cur_eof(&c));
	assert_int_equal(sm_cur_peek(&c), -1);
	assert_false(sm_cur_accept(&c, 'b'));
	assert_int_equal(sm_cur_left(&c), 0);
	free(in);

	/* bytes >= 0x80 peek as positive values */
	char *hi = dup_exact("\xff", 1);
	sm_cur_init(&c, hi, 1);
	assert_int_equal(sm_cur_peek(&c), 0xff);
	assert_true(sm_cur_accept(&c, '\xff'));
	free(hi);

	/* empty input */
	char *none = dup_exact("", 0);
	sm_cur_init(&c, none, 0);
	assert_true(sm_cur_eof(&c));
	assert_int_equal(sm_cur_skip_blanks(&c), 0);
	assert_false(sm_cur_accept(&c, '\0'));
	free(none);
}

static void test_cur_accept_str(void **state)
{
	(void)state;
	char *in = dup_exact("/ISK5", 5);
	struct sm_cur c;
	sm_cur_init(&c, in, 5);
	assert_false(sm_cur_accept_str(&c, "/ISK5x"));  /* longer than input */
	assert_false(sm_cur_accept_str(&c, "/IS5"));
	assert_int_equal(sm_cur_left(&c), 5);
	assert_true(sm_cur_accept_str(&c, ""));
	assert_true(sm_cur_accept_str(&c, "/IS"));
	assert_true(sm_cur_accept_str(&c, "K5"));
	assert_true(sm_cur_eof(&c));
	free(in);
}

static void test_cur_blanks(void **state)
{
	(void)state;
	char *in = dup_exact(" \t x ", 5);
	struct sm_cur c;
	sm_cur_init(&c, in, 5);
	assert_int_equal(sm_cur_skip_blanks(&c), 3);
	assert_true(sm_cur_accept(&c, 'x'));
	assert_int_equal(sm_cur_skip_blanks(&c), 1);
	assert_true(sm_cur_eof(&c));
	assert_int_equal(sm_cur_skip_blanks(&c), 0);
	free(in);
	/* CR and LF are not blanks */
	in = dup_exact("\r\n", 2);
	sm_cur_init(&c, in, 2);
	assert_int_equal(sm_cur_skip_blanks(&c), 0);
	free(in);
}

static void test_cur_until(void **state)
{
	(void)state;
	char *in = dup_exact("abc)def", 7);
	struct sm_cur c;
	const uint8_t *o = NULL;
	size_t on = 99;
	sm_cur_init(&c, in, 7);
	/* max too small: unchanged */
	assert_false(sm_cur_until(&c, ')', 2, &o, &on));
	assert_int_equal(sm_cur_left(&c), 7);
	/* exactly max content bytes */
	assert_true(sm_cur_until(&c, ')', 3, &o, &on));
	assert_ptr_equal(o, (const uint8_t *)in);
	assert_int_equal(on, 3);
	assert_int_equal(sm_cur_peek(&c), ')'); /* not consumed */
	assert_true(sm_cur_accept(&c, ')'));
	/* delimiter absent before the end */
	assert_false(sm_cur_until(&c, ')', 100, &o, &on));
	assert_int_equal(sm_cur_left(&c), 3);
	/* delimiter first: empty span */
	assert_true(sm_cur_until(&c, 'd', 0, &o, &on));
	assert_int_equal(on, 0);
	free(in);
	in = dup_exact("", 0);
	sm_cur_init(&c, in, 0);
	assert_false(sm_cur_until(&c, ')', 10, &o, &on));
	free(in);
}

static void test_cur_uint(void **state)
{
	(void)state;
	struct sm_cur c;
	uint64_t v = 77;
	char *in = dup_exact("0123x", 5);
	sm_cur_init(&c, in, 5);
	assert_false(sm_cur_uint(&c, 3, &v)); /* 4 digits > 3 */
	assert_int_equal(v, 77);
	assert_int_equal(sm_cur_left(&c), 5);
	assert_true(sm_cur_uint(&c, 4, &v));
	assert_int_equal(v, 123);
	assert_int_equal(sm_cur_peek(&c), 'x');
	assert_false(sm_cur_uint(&c, 4, &v)); /* no digit */
	free(in);

	in = dup_exact("18446744073709551615", 20);
	sm_cur_init(&c, in, 20);
	assert_true(sm_cur_uint(&c, 20, &v));
	assert_true(v == UINT64_MAX);
	assert_true(sm_cur_eof(&c));
	free(in);

	in = dup_exact("18446744073709551616", 20);
	sm_cur_init(&c, in, 20);
	assert_false(sm_cur_uint(&c, 20, &v)); /* overflow */
	assert_int_equal(sm_cur_left(&c), 20);
	free(in);

	in = dup_exact("-1", 2);
	sm_cur_init(&c, in, 2);
	assert_false(sm_cur_uint(&c, 5, &v)); /* no sign */
	free(in);

	/* digits to the very end of the input */
	in = dup_exact("42", 2);
	sm_cur_init(&c, in, 2);
	assert_true(sm_cur_uint(&c, 2, &v));
	assert_int_equal(v, 42);
	free(in);
}

static void test_cur_digits(void **state)
{
	(void)state;
	struct sm_cur c;
	uint64_t v = 5;
	char *in = dup_exact("170102161005W", 13);
	sm_cur_init(&c, in, 13);
	assert_true(sm_cur_digits(&c, 2, &v));
	assert_int_equal(v, 17);
	assert_false(sm_cur_digits(&c, 11, &v)); /* hits the W */
	assert_int_equal(sm_cur_left(&c), 11);
	assert_true(sm_cur_digits(&c, 10, &v));
	assert_int_equal(v, 102161005);
	assert_false(sm_cur_digits(&c, 1, &v));
	free(in);

	in = dup_exact("123", 3);
	sm_cur_init(&c, in, 3);
	assert_false(sm_cur_digits(&c, 4, &v)); /* short input */
	assert_false(sm_cur_digits(&c, 0, &v));
	assert_int_equal(sm_cur_left(&c), 3);
	free(in);

	in = dup_exact("9999999999999999999", 19);
	sm_cur_init(&c, in, 19);
	assert_false(sm_cur_digits(&c, 19, &v)); /* n <= 18 */
	assert_true(sm_cur_digits(&c, 18, &v));
	assert_true(v == 999999999999999999ull);
	free(in);
}

static void test_hexval(void **state)
{
	(void)state;
	assert_int_equal(sm_hexval('0'), 0);
	assert_int_equal(sm_hexval('9'), 9);
	assert_int_equal(sm_hexval('a'), 10);
	assert_int_equal(sm_hexval('F'), 15);
	assert_int_equal(sm_hexval('g'), -1);
	assert_int_equal(sm_hexval('G'), -1);
	assert_int_equal(sm_hexval('/'), -1);
	assert_int_equal(sm_hexval(-1), -1);
	assert_int_equal(sm_hexval(0x100 + '1'), -1);
}

/* ---- binary cursor ---- */

static void test_cur_binary(void **state)
{
	(void)state;
	static const uint8_t bytes[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
					 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
					 0x11, 0x12, 0x13 };
	uint8_t *in = malloc(sizeof bytes);
	assert_non_null(in);
	memcpy(in, bytes, sizeof bytes);
	struct sm_cur c;
	sm_cur_init(&c, in, sizeof bytes);
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	assert_int_equal(sm_cur_u8(&c, &u8), SM_OK);
	assert_int_equal(u8, 0x01);
	assert_int_equal(sm_cur_u16(&c, &u16), SM_OK);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(sm_cur_u16_le(&c, &u16), SM_OK);
	assert_int_equal(u16, 0x0504);
	assert_int_equal(sm_cur_u32(&c, &u32), SM_OK);
	assert_int_equal(u32, 0x06070809);
	assert_int_equal(sm_cur_u64(&c, &u64), SM_OK);
	assert_true(u64 == 0x0a0b0c0d0e0f1011ull);
	/* 2 bytes left */
	assert_int_equal(sm_cur_u32(&c, &u32), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_u64(&c, &u64), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_left(&c), 2);
	const uint8_t *o;
	assert_int_equal(sm_cur_bytes(&c, 3, &o), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_bytes(&c, 2, &o), SM_OK);
	assert_ptr_equal(o, in + 17);
	assert_int_equal(sm_cur_u8(&c, &u8), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_u16(&c, &u16), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_u16_le(&c, &u16), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_bytes(&c, 0, &o), SM_OK);
	assert_int_equal(sm_cur_skip(&c, 0), SM_OK);
	assert_int_equal(sm_cur_skip(&c, 1), SM_E_TRUNCATED);

	sm_cur_init(&c, in, sizeof bytes);
	assert_int_equal(sm_cur_skip(&c, sizeof bytes + 1), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_skip(&c, (size_t)-1), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_bytes(&c, (size_t)-1, &o), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_left(&c), sizeof bytes);
	assert_int_equal(sm_cur_skip(&c, sizeof bytes - 1), SM_OK);
	assert_int_equal(sm_cur_u16(&c, &u16), SM_E_TRUNCATED);
	assert_int_equal(sm_cur_u8(&c, &u8), SM_OK);
	assert_int_equal(u8, 0x13);
	assert_true(sm_cur_eof(&c));
	free(in);
}

/* Every getter on every truncation of the input either succeeds in bounds
 * or fails without moving (ASan checks the bounds). */
static void test_cur_truncations(void **state)
{
	(void)state;
	static const uint8_t bytes[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33 };
	for (size_t n = 0; n <= sizeof bytes; n++) {
		uint8_t *in = malloc(n ? n : 1);
		assert_non_null(in);
		memcpy(in, bytes, n);
		struct sm_cur c;
		uint64_t u64;
		uint32_t u32;
		uint16_t u16;
		sm_cur_init(&c, in, n);
		assert_int_equal(sm_cur_u64(&c, &u64), n >= 8 ? SM_OK : SM_E_TRUNCATED);
		sm_cur_init(&c, in, n);
		assert_int_equal(sm_cur_u32(&c, &u32), n >= 4 ? SM_OK : SM_E_TRUNCATED);
		if (n >= 4)
			assert_int_equal(u32, 0xdeadbeef);
		sm_cur_init(&c, in, n);
		assert_int_equal(sm_cur_u16(&c, &u16), n >= 2 ? SM_OK : SM_E_TRUNCATED);
		assert_int_equal(sm_cur_left(&c), n >= 2 ? n - 2 : n);
		free(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_basic),
		cmocka_unit_test(test_buf_cap1),
		cmocka_unit_test(test_buf_addf),
		cmocka_unit_test(test_buf_i64),
		cmocka_unit_test(test_cur_basics),
		cmocka_unit_test(test_cur_accept_str),
		cmocka_unit_test(test_cur_blanks),
		cmocka_unit_test(test_cur_until),
		cmocka_unit_test(test_cur_uint),
		cmocka_unit_test(test_cur_digits),
		cmocka_unit_test(test_hexval),
		cmocka_unit_test(test_cur_binary),
		cmocka_unit_test(test_cur_truncations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
