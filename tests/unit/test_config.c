/* test_config.c - unit tests of the configuration module (config.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "config.h"

static void test_placeholder(void **state)
{
	(void)state;
	char out[32];
	struct sm_line l = {115200, 8, SM_PARITY_NONE, 1};
	sm_line_format(&l, out, sizeof(out));
	assert_string_equal(out, "115200 8N1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
