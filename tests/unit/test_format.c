/* Output formats (SPEC.md section 8) and the protocol table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "format.h"
#include "proto.h"

static struct sm_reading_set *make_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	struct sm_obis o;
	assert_non_null(s);
	sm_set_clear(s);
	o = sm_obis_make5(1, 0, 1, 8, 1);
	assert_int_equal(sm_set_add_number(s, &o, 1234567, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	o = sm_obis_make5(1, 0, 32, 7, 0);
	assert_int_equal(sm_set_add_number(s, &o, 2301, -1, SM_UNIT_V, NULL, 0, 0), SM_OK);
	o = sm_obis_make5(0, 0, 96, 1, 1);
	assert_int_equal(sm_set_add_text(s, &o, "4530303034303031353", 19, 0), SM_OK);
	o = sm_obis_make5(0, 0, 96, 13, 0);
	assert_int_equal(sm_set_add_text(s, &o, "a\"b\\c\n\x01", 7, 0), SM_OK);
	o = sm_obis_make5(1, 0, 2, 7, 0);
	assert_int_equal(sm_set_add_number(s, &o, -5, -1, SM_UNIT_W, NULL, 0, 0), SM_OK);
	sm_set_finish(s);
	return s;
}

static void test_json_lines(void **state)
{
	(void)state;
	struct sm_reading_set *s = make_set();
	char storage[2048];
	struct sm_buf b;
	sm_buf_init(&b, storage, sizeof storage);
	assert_int_equal(sm_format_json(&b, "home", s, &s->r[0], 1732190000000), SM_OK);
	assert_string_equal(b.p, "{\"time\":1732190000000,\"meter\":\"home\",\"name\":\"energy_import_t1\","
				 "\"obis\":\"1-0:1.8.1\",\"unit\":\"Wh\",\"value\":1234567}\n");
	sm_buf_reset(&b);
	assert_int_equal(sm_format_json(&b, "home", s, &s->r[1], 1), SM_OK);
	assert_string_equal(b.p, "{\"time\":1,\"meter\":\"home\",\"name\":\"voltage_l1\","
				 "\"obis\":\"1-0:32.7.0\",\"unit\":\"V\",\"value\":230.1}\n");
	sm_buf_reset(&b);
	assert_int_equal(sm_format_json(&b, "home", s, &s->r[2], 1732190000000), SM_OK);
	assert_string_equal(b.p, "{\"time\":1732190000000,\"meter\":\"home\",\"name\":\"obis_0_0_96_1_1\","
				 "\"obis\":\"0-0:96.1.1\",\"unit\":\"\",\"text\":\"4530303034303031353\"}\n");
	sm_buf_reset(&b);
	assert_int_equal(sm_format_json(&b, "home", s, &s->r[3], 5), SM_OK);
	assert_non_null(strstr(b.p, "\"text\":\"a\\\"b\\\\c\\u000a\\u0001\"}"));
	sm_buf_reset(&b);
	assert_int_equal(sm_format_json(&b, "home", s, &s->r[4], 5), SM_OK);
	assert_non_null(strstr(b.p, "\"value\":-0.5}"));
	free(s);
}

static void test_influx_lines(void **state)
{
	(void)state;
	struct sm_reading_set *s = make_set();
	char storage[2048];
	struct sm_buf b;
	sm_buf_init(&b, storage, sizeof storage);
	assert_int_equal(sm_format_influx(&b, "home", s, &s->r[0], 1732190000000), SM_OK);
	assert_string_equal(b.p, "smartmeter,meter=home,name=energy_import_t1,obis=1-0:1.8.1,unit=Wh "
				 "value=1234567 1732190000000000000\n");
	sm_buf_reset(&b);
	/* no unit: no unit tag (empty tag values are invalid); tag escapes */
	assert_int_equal(sm_format_influx(&b, "my home,1=x", s, &s->r[2], 1), SM_OK);
	assert_string_equal(b.p, "smartmeter,meter=my\\ home\\,1\\=x,name=obis_0_0_96_1_1,obis=0-0:96.1.1 "
				 "text=\"4530303034303031353\" 1000000\n");
	sm_buf_reset(&b);
	assert_int_equal(sm_format_influx(&b, "home", s, &s->r[3], 1), SM_OK);
	assert_non_null(strstr(b.p, " text=\"a\\\"b\\\\c  \" 1000000\n"));
	free(s);
}

static void test_text_rows(void **state)
{
	(void)state;
	struct sm_reading_set *s = make_set();
	char storage[2048];
	struct sm_buf b;
	sm_buf_init(&b, storage, sizeof storage);
	assert_int_equal(sm_format_reading(SM_FORMAT_TEXT, &b, "home", s, &s->r[1], 1732190000000), SM_OK);
	assert_non_null(strstr(b.p, "voltage_l1"));
	assert_non_null(strstr(b.p, "230.1"));
	assert_non_null(strstr(b.p, "2024-11-21T11:53:20Z"));
	assert_int_equal(b.p[b.len - 1], '\n');
	sm_buf_reset(&b);
	assert_int_equal(sm_format_reading(SM_FORMAT_TEXT, &b, "home", s, &s->r[3], 0), SM_OK);
	assert_null(strchr(b.p, '\x01')); /* control characters are not printed raw */
	free(s);
}

static void test_full_buffer_unchanged(void **state)
{
	(void)state;
	struct sm_reading_set *s = make_set();
	char storage[40];
	struct sm_buf b;
	sm_buf_init(&b, storage, sizeof storage);
	assert_int_equal(sm_buf_adds(&b, "x"), SM_OK);
	for (int f = SM_FORMAT_JSON; f <= SM_FORMAT_TEXT; f++) {
		assert_int_equal(sm_format_reading((enum sm_format)f, &b, "home", s, &s->r[0], 1), SM_E_FULL);
		assert_string_equal(b.p, "x");
	}
	free(s);
}

static void test_format_names(void **state)
{
	(void)state;
	enum sm_format f;
	assert_int_equal(sm_format_parse("json", &f), SM_OK);
	assert_int_equal(f, SM_FORMAT_JSON);
	assert_int_equal(sm_format_parse("influx", &f), SM_OK);
	assert_int_equal(f, SM_FORMAT_INFLUX);
	assert_int_equal(sm_format_parse("text", &f), SM_OK);
	assert_int_equal(f, SM_FORMAT_TEXT);
	assert_int_equal(sm_format_parse("JSON", &f), SM_E_USAGE);
	assert_int_equal(sm_format_parse(NULL, &f), SM_E_USAGE);
}

static void test_proto_table(void **state)
{
	(void)state;
	char names[256] = "";
	for (size_t i = 0; sm_protocols[i] != NULL; i++) {
		const struct sm_proto *p = sm_protocols[i];
		assert_ptr_equal(sm_proto_find(p->name), p);
		assert_non_null(p->init);
		if (p->push || p->poll_start == NULL) {
			/* a protocol that is ever pushed to needs the push entries */
			assert_non_null(p->feed);
			assert_non_null(p->idle);
		} else {
			/* poll only (modbus): a session */
			assert_non_null(p->poll_event);
		}
		assert_non_null(p->reset);
		assert_true(p->state_size > 0);
		assert_true(p->line.baud > 0);
		if (i)
			strncat(names, ", ", sizeof names - strlen(names) - 1);
		strncat(names, p->name, sizeof names - strlen(names) - 1);
	}
	assert_string_equal(names, sm_proto_names()); /* the message list matches the table */
	assert_non_null(sm_proto_find("DSMR"));        /* case-insensitive, as collectd options */
	assert_null(sm_proto_find("sml2"));
	assert_null(sm_proto_find(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_influx_lines),
		cmocka_unit_test(test_text_rows),
		cmocka_unit_test(test_full_buffer_unchanged),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_proto_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
