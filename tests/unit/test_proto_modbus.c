/*
 * test_proto_modbus.c - the "modbus" poll session (proto_modbus.c) driven
 * by hand: the actions it asks for and what it makes of every outcome
 * (answers, timeouts, exceptions, CRC errors and stray replies, retries),
 * with a small map planned by sm_mb_plan_make.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "modbus_map.h"
#include "proto.h"

/* three registers in two requests (a gap wider than max_gap between them) */
static const struct sm_mb_reg regs[] = {
	{ .name = "voltage_l1", .obis = { .v = { 1, 0, 32, 7, 0, 255 }, .present = 0x1f }, .function = 4,
	  .address = 0, .type = SM_MB_FLOAT32, .order = SM_MB_ABCD, .mul = 1, .exp = 0, .unit = SM_UNIT_V },
	{ .name = "voltage_l2", .obis = { .v = { 1, 0, 52, 7, 0, 255 }, .present = 0x1f }, .function = 4,
	  .address = 2, .type = SM_MB_FLOAT32, .order = SM_MB_ABCD, .mul = 1, .exp = 0, .unit = SM_UNIT_V },
	{ .name = "energy_import", .obis = { .v = { 1, 0, 1, 8, 0, 255 }, .present = 0x1f }, .function = 4,
	  .address = 100, .type = SM_MB_UINT32, .order = SM_MB_ABCD, .mul = 1, .exp = 2, .unit = SM_UNIT_WH },
};
static const struct sm_mb_map map = {
	.name = "test", .description = "test map", .max_count = 40, .even = false, .max_gap = 10,
	.nregs = 3, .regs = regs,
};

struct fx {
	struct sm_mb_plan plan;
	struct sm_meter_cfg cfg;
	void *st;
	struct sm_reading_set *out;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct sm_diag diag = { { 0 } };

	assert_non_null(f);
	assert_int_equal(sm_mb_plan_make(&map, &f->plan, &diag), SM_OK);
	assert_int_equal(f->plan.nreq, 2);
	f->cfg.name = "t";
	f->cfg.proto = &sm_proto_modbus;
	f->cfg.slave = 7;
	f->cfg.timeout_s = 0.25;
	f->cfg.mb_map = &map;
	f->cfg.mb_plan = &f->plan;
	f->st = calloc(1, sm_proto_modbus.state_size);
	f->out = calloc(1, sizeof *f->out);
	assert_non_null(f->st);
	assert_non_null(f->out);
	assert_int_equal(sm_proto_modbus.init(f->st, &f->cfg, &diag), SM_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->st);
	free(f->out);
	free(f);
	return 0;
}

/* Answer the action in act with outcome rc; fill the words when SM_OK. */
static enum sm_err answer(struct fx *f, struct sm_action *act, enum sm_err rc, int exc, struct sm_feed_info *info)
{
	size_t used = 0;

	assert_int_equal(act->kind, SM_ACT_MODBUS);
	act->mb_rc = rc;
	act->mb_exc = exc;
	if (rc == SM_OK) {
		for (uint16_t i = 0; i < act->mb_count; i++) {
			uint16_t a = (uint16_t)(act->mb_addr + i);
			/* 230.5f = 0x43668000, 231.25f = 0x43674000, 123456 = 0x0001E240 */
			uint16_t w = a == 0 ? 0x4366 : a == 1 ? 0x8000 : a == 2 ? 0x4367 : a == 3 ? 0x4000
				   : a == 100 ? 0x0001 : a == 101 ? 0xE240 : 0;
			act->mb_dst[i] = w;
		}
	}
	memset(info, 0, sizeof *info);
	return sm_proto_modbus.poll_event(f->st, NULL, 0, &used, rc == SM_E_TIMEOUT, act, f->out, info);
}

/* Run the zero WAIT that ends a poll. */
static enum sm_err after_wait(struct fx *f, struct sm_action *act, struct sm_feed_info *info)
{
	size_t used = 0;
	assert_int_equal(act->kind, SM_ACT_WAIT);
	assert_int_equal(act->ms, 0);
	memset(info, 0, sizeof *info);
	return sm_proto_modbus.poll_event(f->st, NULL, 0, &used, false, act, f->out, info);
}

static void test_plan_actions_and_readings(void **state)
{
	struct fx *f = *state;
	struct sm_action act;
	struct sm_feed_info info;

	assert_true(sm_proto_is_polled(&f->cfg));
	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(act.kind, SM_ACT_MODBUS);
	assert_int_equal(act.mb_slave, 7);
	assert_int_equal(act.mb_function, 4);
	assert_int_equal(act.mb_addr, 0);
	assert_int_equal(act.mb_count, 4);
	assert_int_equal(act.ms, 250);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(act.mb_addr, 100);
	assert_int_equal(act.mb_count, 2);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(after_wait(f, &act, &info), SM_READINGS);
	assert_int_equal(act.kind, SM_ACT_DONE);
	assert_int_equal(f->out->n, 3);
	const struct sm_reading *r = sm_set_find(f->out, "voltage_l1");
	assert_non_null(r);
	assert_int_equal(r->scale, -1);
	assert_int_equal(r->raw, 2305);
	r = sm_set_find(f->out, "energy_import");
	assert_non_null(r);
	int64_t raw = r->raw;
	int8_t sc = r->scale;
	assert_int_equal(sm_decimal_rescale(&raw, &sc, 0 - sc), SM_OK);
	assert_int_equal(raw, 12345600); /* 123456 x 0.01 kWh = 1234.56 kWh in Wh */
	assert_int_equal(r->unit, SM_UNIT_WH);
}

static void test_timeout_ends_poll(void **state)
{
	struct fx *f = *state;
	struct sm_action act;
	struct sm_feed_info info;

	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(answer(f, &act, SM_E_TIMEOUT, 0, &info), SM_E_TIMEOUT);
	assert_non_null(strstr(info.diag.msg, "slave 7 did not answer"));
	assert_non_null(strstr(info.diag.msg, "voltage_l1"));
	/* nothing answered: the poll ends without readings */
	assert_int_equal(after_wait(f, &act, &info), SM_OK);
	assert_int_equal(act.kind, SM_ACT_DONE);
	assert_int_equal(f->out->n, 0);

	/* a timeout after an answer: one timeout, and the answered values come */
	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(answer(f, &act, SM_E_TIMEOUT, 0, &info), SM_E_TIMEOUT);
	assert_int_equal(after_wait(f, &act, &info), SM_READINGS);
	assert_int_equal(f->out->n, 2);
	assert_null(sm_set_find(f->out, "energy_import"));
}

static void test_exception_goes_on(void **state)
{
	struct fx *f = *state;
	struct sm_action act;
	struct sm_feed_info info;

	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(answer(f, &act, SM_E_EXCEPTION, 2, &info), SM_E_EXCEPTION);
	assert_non_null(strstr(info.diag.msg, "exception 2 (illegal data address)"));
	assert_non_null(strstr(info.diag.msg, "voltage_l1 .. voltage_l2"));
	/* the poll goes on with the other request */
	assert_int_equal(act.kind, SM_ACT_MODBUS);
	assert_int_equal(act.mb_addr, 100);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(after_wait(f, &act, &info), SM_READINGS);
	assert_int_equal(f->out->n, 1);
	assert_non_null(sm_set_find(f->out, "energy_import"));

	/* an exception on the last request still delivers the first */
	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(answer(f, &act, SM_E_EXCEPTION, 6, &info), SM_E_EXCEPTION);
	assert_non_null(strstr(info.diag.msg, "slave device busy"));
	assert_int_equal(after_wait(f, &act, &info), SM_READINGS);
	assert_int_equal(f->out->n, 2);
}

static void test_crc_and_stray_retry_once(void **state)
{
	struct fx *f = *state;
	struct sm_action act;
	struct sm_feed_info info;

	assert_int_equal(sm_proto_modbus.poll_start(f->st, &act), SM_OK);
	assert_int_equal(answer(f, &act, SM_E_CRC, 0, &info), SM_E_CRC);
	assert_non_null(strstr(info.diag.msg, "trying again"));
	assert_int_equal(act.kind, SM_ACT_MODBUS);
	assert_int_equal(act.mb_addr, 0); /* the same request again */
	assert_int_equal(answer(f, &act, SM_E_SYNTAX, 0, &info), SM_E_SYNTAX);
	assert_null(strstr(info.diag.msg, "trying again"));
	assert_int_equal(act.mb_addr, 100); /* given up: the next request */
	assert_int_equal(answer(f, &act, SM_E_CRC, 0, &info), SM_E_CRC);
	assert_int_equal(act.mb_addr, 100);
	assert_int_equal(answer(f, &act, SM_OK, 0, &info), SM_OK);
	assert_int_equal(after_wait(f, &act, &info), SM_READINGS);
	assert_int_equal(f->out->n, 1);
}

static void test_init_needs_plan(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	struct sm_diag diag = { { 0 } };
	void *st = calloc(1, sm_proto_modbus.state_size);

	memset(&cfg, 0, sizeof cfg);
	cfg.name = "x";
	cfg.proto = &sm_proto_modbus;
	assert_int_equal(sm_proto_modbus.init(st, &cfg, &diag), SM_E_CONFIG);
	assert_non_null(strstr(diag.msg, "register map"));
	free(st);
	assert_ptr_equal(sm_proto_find("modbus"), &sm_proto_modbus);
	assert_true(sm_proto_modbus.modbus_link);
	assert_true(sm_proto_modbus.backoff_dead);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plan_actions_and_readings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_ends_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_goes_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_and_stray_retry_once, setup, teardown),
		cmocka_unit_test(test_init_needs_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
