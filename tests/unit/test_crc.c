/* test_crc.c - check values and chained computation of every checksum in crc.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crc.h"

static const char check_text[] = "123456789";

/* An exactly-sized heap copy, so ASan catches any overread. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, p, n);
	return b;
}

static void test_check_values(void **state)
{
	(void)state;
	uint8_t *b = dup_exact(check_text, 9);
	assert_int_equal(sm_crc16_arc(0, b, 9), 0xBB3D);
	assert_int_equal(sm_crc16_x25(0, b, 9), 0x906E);
	assert_int_equal(sm_crc16_kermit(0, b, 9), 0x2189);
	assert_int_equal(sm_crc16_modbus(0xFFFF, b, 9), 0x4B37);
	assert_int_equal(sm_bcc(0, b, 9), 0x31);
	assert_int_equal(sm_mbus_sum(0, b, 9), 0xDD);
	free(b);
}

static void test_empty(void **state)
{
	(void)state;
	uint8_t *b = dup_exact("", 0);
	assert_int_equal(sm_crc16_arc(0, b, 0), 0);
	assert_int_equal(sm_crc16_arc(0x1234, b, 0), 0x1234);
	assert_int_equal(sm_crc16_x25(0, b, 0), 0);
	assert_int_equal(sm_crc16_x25(0x906E, b, 0), 0x906E);
	assert_int_equal(sm_crc16_kermit(0, b, 0), 0);
	assert_int_equal(sm_crc16_modbus(0xFFFF, b, 0), 0xFFFF);
	assert_int_equal(sm_bcc(0x5A, b, 0), 0x5A);
	assert_int_equal(sm_mbus_sum(0x5A, b, 0), 0x5A);
	free(b);
}

/* Every split point gives the same result as one call. */
static void test_chained(void **state)
{
	(void)state;
	uint8_t *b = dup_exact(check_text, 9);
	for (size_t k = 0; k <= 9; k++) {
		assert_int_equal(sm_crc16_arc(sm_crc16_arc(0, b, k), b + k, 9 - k), 0xBB3D);
		assert_int_equal(sm_crc16_x25(sm_crc16_x25(0, b, k), b + k, 9 - k), 0x906E);
		assert_int_equal(sm_crc16_kermit(sm_crc16_kermit(0, b, k), b + k, 9 - k), 0x2189);
		assert_int_equal(sm_crc16_modbus(sm_crc16_modbus(0xFFFF, b, k), b + k, 9 - k), 0x4B37);
		assert_int_equal(sm_bcc(sm_bcc(0, b, k), b + k, 9 - k), 0x31);
		assert_int_equal(sm_mbus_sum(sm_mbus_sum(0, b, k), b + k, 9 - k), 0xDD);
	}
	/* byte by byte */
	uint16_t a = 0, x = 0, m = 0xFFFF;
	for (size_t i = 0; i < 9; i++) {
		a = sm_crc16_arc(a, b + i, 1);
		x = sm_crc16_x25(x, b + i, 1);
		m = sm_crc16_modbus(m, b + i, 1);
	}
	assert_int_equal(a, 0xBB3D);
	assert_int_equal(x, 0x906E);
	assert_int_equal(m, 0x4B37);
	free(b);
}

/* Properties used by framers: appending the CRC gives a known residue. */
static void test_residue(void **state)
{
	(void)state;
	/* Modbus: data followed by its CRC little-endian gives 0. */
	uint8_t *b = dup_exact(check_text, 9);
	uint8_t *f = malloc(11);
	assert_non_null(f);
	memcpy(f, b, 9);
	f[9] = 0x37;
	f[10] = 0x4B;
	assert_int_equal(sm_crc16_modbus(0xFFFF, f, 11), 0);
	/* X.25: data + CRC little-endian gives the good-FCS residue 0x0F47 after the final xor */
	f[9] = 0x6E;
	f[10] = 0x90;
	assert_int_equal(sm_crc16_x25(0, f, 11), 0x0F47);
	/* BCC over data + its BCC is 0; M-Bus sum: sum - 0 */
	f[9] = 0x31;
	assert_int_equal(sm_bcc(0, f, 10), 0);
	/* one flipped bit changes every CRC */
	f[0] ^= 1;
	assert_int_not_equal(sm_crc16_arc(0, f, 9), 0xBB3D);
	assert_int_not_equal(sm_crc16_x25(0, f, 9), 0x906E);
	assert_int_not_equal(sm_crc16_kermit(0, f, 9), 0x2189);
	assert_int_not_equal(sm_crc16_modbus(0xFFFF, f, 9), 0x4B37);
	free(f);
	free(b);
}

/* A DSMR-style frame: the CRC covers '/' .. '!' inclusive. */
static void test_dsmr_example(void **state)
{
	(void)state;
	static const char frame[] = "/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(123456.789*kWh)\r\n!";
	size_t n = sizeof frame - 1;
	uint8_t *b = dup_exact(frame, n);
	uint16_t whole = sm_crc16_arc(0, b, n);
	uint16_t split = sm_crc16_arc(sm_crc16_arc(0, b, 20), b + 20, n - 20);
	assert_int_equal(whole, split);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_values),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_chained),
		cmocka_unit_test(test_residue),
		cmocka_unit_test(test_dsmr_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
