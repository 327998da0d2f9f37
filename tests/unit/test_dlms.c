/*
 * test_dlms.c - DLMS data-notification decoder and encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"
#include "dlms.h"
#include "obis.h"
#include "reading.h"

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static enum sm_err decode_exact(const uint8_t *p, size_t n, struct sm_reading_set *s,
				struct sm_diag *d)
{
	uint8_t *c = exact(p, n);
	enum sm_err rc = sm_dlms_decode(c, n, s, d);
	free(c);
	return rc;
}

static void test_basic_roundtrip(void **state)
{
	(void)state;
	struct sm_reading_set *s = calloc(1, sizeof *s), *t = calloc(1, sizeof *t);
	assert_non_null(s);
	assert_non_null(t);
	sm_set_clear(s);
	struct sm_obis e = sm_obis_make(1, 0, 1, 8, 0, 255);
	struct sm_obis v = sm_obis_make(1, 0, 32, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &e, 12937, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &v, 2337, -1, SM_UNIT_V, NULL, 0, 0), SM_OK);
	s->meter_time_ms = 1632728835000; /* 2021-09-27T07:47:15Z */
	for (int layout = SM_DLMS_FLAT; layout <= SM_DLMS_STRUCTS; layout++) {
		uint8_t buf[512];
		size_t n = 0;
		assert_int_equal(sm_dlms_encode(s, (enum sm_dlms_layout)layout, 0x8006870E, 120, buf,
						sizeof buf, &n),
				 SM_OK);
		struct sm_diag d = { { 0 } };
		assert_int_equal(decode_exact(buf, n, t, &d), SM_READINGS);
		assert_int_equal(t->n, 2);
		assert_int_equal(t->meter_time_ms, s->meter_time_ms);
		const struct sm_reading *r = sm_set_find(t, "energy_import");
		assert_non_null(r);
		assert_int_equal(r->raw, 12937);
		assert_int_equal(r->unit, SM_UNIT_WH);
		r = sm_set_find(t, "voltage_l1");
		assert_non_null(r);
		assert_int_equal(r->raw, 2337);
		assert_int_equal(r->scale, -1);
		assert_int_equal(r->unit, SM_UNIT_V);
	}
	free(s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
