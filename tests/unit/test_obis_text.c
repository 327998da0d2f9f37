/* test_obis_text.c - OBIS text data sets (DSMR P1, IEC 62056-21) and their
 * timestamps; with SM_SHARED set, every data line of the DSMR and IEC
 * fixtures is parsed as well. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include "obis_text.h"

/* An exactly-sized heap copy (no NUL), so ASan catches any overread. */
static char *dup_exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	return b;
}

/* Parse s (copied); the set's pointers stay valid until free(*keep). */
static enum sm_err ot_parse(const char *s, size_t *used, struct sm_ot_set *out, char **keep)
{
	size_t n = strlen(s);
	*keep = dup_exact(s, n);
	return sm_ot_parse(*keep, n, used, out);
}

static void assert_group(const struct sm_ot_group *g, const char *val, const char *unit)
{
	assert_int_equal(g->val_n, strlen(val));
	assert_memory_equal(g->val, val, g->val_n);
	if (unit == NULL) {
		assert_null(g->unit);
		assert_int_equal(g->unit_n, 0);
	} else {
		assert_non_null(g->unit);
		assert_int_equal(g->unit_n, strlen(unit));
		assert_memory_equal(g->unit, unit, g->unit_n);
	}
}

static void assert_code(const struct sm_ot_set *s, const char *code)
{
	char f[SM_OBIS_STRLEN];
	assert_true(s->has_obis);
	sm_obis_format(&s->obis, f, sizeof f);
	assert_string_equal(f, code);
}

static struct sm_ot_set set; /* large: keep it off the stack */

static void test_simple(void **state)
{
	(void)state;
	char *k;
	size_t used = 0;
	assert_int_equal(ot_parse("1-0:1.8.1(001234.567*kWh)\r\n", &used, &set, &k), SM_OK);
	assert_int_equal(used, 25);
	assert_code(&set, "1-0:1.8.1");
	assert_int_equal(set.ngroups, 1);
	assert_group(&set.g[0], "001234.567", "kWh");
	assert_ptr_equal(set.g[0].val, k + 10);

	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 1234567 && scale == 0);
	assert_int_equal(unit, SM_UNIT_WH);
	assert_string_equal(ut, "");
	free(k);
}

static void test_several_groups(void **state)
{
	(void)state;
	char *k;
	size_t used = 0;
	assert_int_equal(ot_parse("0-1:24.2.1(170102161005W)(00000.107*m3)", &used, &set, &k), SM_OK);
	assert_int_equal(used, 39);
	assert_code(&set, "0-1:24.2.1");
	assert_int_equal(set.ngroups, 2);
	assert_group(&set.g[0], "170102161005W", NULL);
	assert_group(&set.g[1], "00000.107", "m3");
	int64_t ms;
	assert_true(sm_ot_timestamp(set.g[0].val, set.g[0].val_n, &ms));
	assert_true(ms == 1483369805000LL);
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	assert_int_equal(sm_ot_group_number(&set.g[1], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 107 && scale == -3);
	assert_int_equal(unit, SM_UNIT_M3);
	/* a timestamp is no number */
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_SYNTAX);
	free(k);

	/* DSMR 4 power failure log: an OBIS code inside a group */
	assert_int_equal(ot_parse("1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)"
				  "(101208151004W)(00000000301*s)\r\n", &used, &set, &k), SM_OK);
	assert_int_equal(set.ngroups, 6);
	assert_group(&set.g[1], "0-0:96.7.19", NULL);
	assert_group(&set.g[3], "0000000240", "s");
	assert_group(&set.g[5], "00000000301", "s");
	assert_int_equal(k[used], '\r');
	free(k);

	/* DSMR 2.2/3 gas: the value follows on the next line */
	assert_int_equal(ot_parse("0-1:24.3.0(121030140000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00000.000)",
				  &used, &set, &k), SM_OK);
	assert_int_equal(set.ngroups, 6);
	assert_group(&set.g[5], "m3", NULL);
	free(k);
}

static void test_continuation(void **state)
{
	(void)state;
	char *k;
	size_t used = 0;
	assert_int_equal(ot_parse("(00001.001)\r\n", &used, &set, &k), SM_OK);
	assert_false(set.has_obis);
	assert_int_equal(used, 11);
	assert_int_equal(set.ngroups, 1);
	assert_group(&set.g[0], "00001.001", NULL);
	free(k);
	assert_int_equal(ot_parse("(1)(2*kWh)", &used, &set, &k), SM_OK);
	assert_false(set.has_obis);
	assert_int_equal(set.ngroups, 2);
	free(k);
}

static void test_historic_suffix(void **state)
{
	(void)state;
	char *k;
	size_t used = 0;
	assert_int_equal(ot_parse("1-0:1.8.0*255(00052185.7825309*kWh)", &used, &set, &k), SM_OK);
	assert_code(&set, "1-0:1.8.0");
	assert_group(&set.g[0], "00052185.7825309", "kWh");
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 521857825309LL && scale == -4);
	assert_int_equal(unit, SM_UNIT_WH);
	char name[SM_NAME_LEN];
	sm_obis_name(&set.obis, NULL, name, sizeof name);
	assert_string_equal(name, "energy_import");
	free(k);

	assert_int_equal(ot_parse("1-0:1.8.0*01(00041.525*kWh)", &used, &set, &k), SM_OK);
	sm_obis_name(&set.obis, NULL, name, sizeof name);
	assert_string_equal(name, "energy_import_f1");
	free(k);
}

static void test_padded_and_empty(void **state)
{
	(void)state;
	char *k;
	size_t used = 0;
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	assert_int_equal(ot_parse("0.0(        18438636)", &used, &set, &k), SM_OK);
	assert_code(&set, "0.0");
	assert_group(&set.g[0], "        18438636", NULL);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 18438636 && scale == 0);
	assert_int_equal(unit, SM_UNIT_NONE);
	free(k);

	/* empty groups */
	assert_int_equal(ot_parse("6.8.1()", &used, &set, &k), SM_OK);
	assert_int_equal(used, 7);
	assert_int_equal(set.ngroups, 1);
	assert_group(&set.g[0], "", NULL);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_SYNTAX);
	free(k);
	assert_int_equal(ot_parse("C.1.1(        )", &used, &set, &k), SM_OK);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_SYNTAX);
	free(k);
	assert_int_equal(ot_parse("0-0:96.13.0()", &used, &set, &k), SM_OK);
	assert_group(&set.g[0], "", NULL);
	free(k);

	/* unit missing, or empty after '*' */
	assert_int_equal(ot_parse("1-0:1.8.0(12.5*)", &used, &set, &k), SM_OK);
	assert_group(&set.g[0], "12.5", "");
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 125 && scale == -1);
	assert_int_equal(unit, SM_UNIT_NONE);
	free(k);
	assert_int_equal(ot_parse("1-0:1.8.0(*kWh)", &used, &set, &k), SM_OK);
	assert_group(&set.g[0], "", "kWh");
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_SYNTAX);
	free(k);
	assert_int_equal(ot_parse("1-0:14.7.0( 50.0 *Hz)", &used, &set, &k), SM_OK);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 500 && scale == -1);
	assert_int_equal(unit, SM_UNIT_HZ);
	free(k);
}

static void test_group_number_units(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		int64_t raw;
		int scale;
		enum sm_unit unit;
		const char *utext;
	} c[] = {
		{ "1-0:1.8.1(022803.012*kWh)", 22803012, 0, SM_UNIT_WH, "" },
		{ "1-0:1.7.0(0.5*kW)", 500, 0, SM_UNIT_W, "" },
		{ "1-0:1.7.0(1.2345*kW)", 12345, -1, SM_UNIT_W, "" },
		{ "1-0:1.7.0(01.193*kw)", 1193, 0, SM_UNIT_W, "" },
		{ "1-0:32.7.0(230.1*V)", 2301, -1, SM_UNIT_V, "" },
		{ "1-0:31.7.0(001*A)", 1, 0, SM_UNIT_A, "" },
		{ "1-0:3.8.0(000036520*varh)", 36520, 0, SM_UNIT_VARH, "" },
		{ "6.8(0029.055*MWh)", 29055000, 0, SM_UNIT_WH, "" },
		{ "0-1:24.2.1(240.860*GJ)", 240860, -3, SM_UNIT_OTHER, "GJ" },
		{ "9.4(088*C&082*C)", 88, 0, SM_UNIT_OTHER, "C&082*C" },
		{ "6.33(001.476*m3ph)", 1476, -3, SM_UNIT_OTHER, "m3ph" },
		{ "0-1:24.2.1(12.5*verylongunit)", 125, -1, SM_UNIT_OTHER, "verylon" },
		{ "0-1:24.2.1(12*l)", 12, -3, SM_UNIT_M3, "" },
		{ "0-4:24.2.1(45.5*\xc2\xb0" "C)", 455, -1, SM_UNIT_CELSIUS, "" },
		{ "1-0:0.9.1(-12)", -12, 0, SM_UNIT_NONE, "" },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *k;
		size_t used;
		int64_t raw = 0;
		int8_t scale = 0;
		enum sm_unit unit = SM_UNIT_NONE;
		char ut[SM_UNIT_TEXT];
		memset(ut, 'x', sizeof ut);
		assert_int_equal(ot_parse(c[i].line, &used, &set, &k), SM_OK);
		assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
		if (raw != c[i].raw || scale != c[i].scale || unit != c[i].unit || strcmp(ut, c[i].utext))
			fail_msg("%s: %lld e%d unit %d '%s'", c[i].line, (long long)raw, scale, unit, ut);
		free(k);
	}
	/* range */
	char *k;
	size_t used;
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	assert_int_equal(ot_parse("1-0:1.8.0(9999999999999999999*kWh)", &used, &set, &k), SM_OK);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_RANGE);
	free(k);
	assert_int_equal(ot_parse("1-0:1.8.0(999999999999999999*MWh)", &used, &set, &k), SM_OK);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_OK);
	assert_true(raw == 999999999999999999LL && scale == 6);
	free(k);
	assert_int_equal(ot_parse("1-0:1.8.0(12a*kWh)", &used, &set, &k), SM_OK);
	assert_int_equal(sm_ot_group_number(&set.g[0], &raw, &scale, &unit, ut), SM_E_SYNTAX);
	free(k);
}

/* IEC 62056-21: several data sets in one line; the caller loops on *used. */
static void test_d0_line(void **state)
{
	(void)state;
	static const char line[] = "6.8(0029.055*MWh)6.26(01589.28*m3)9.21(00010213)6.26*01(01563.92*m3)"
				   "F(0)9.4(088*C&082*C)6.8.1()9.36(2017-01-18&01:36:47)0.0(00010213)!";
	static const char *const codes[] = { "6.8", "6.26", "9.21", "6.26*1", "F", "9.4", "6.8.1", "9.36", "0.0" };
	size_t n = sizeof line - 1;
	char *b = dup_exact(line, n);
	size_t i = 0, k = 0;
	while (i < n && b[i] != '!') {
		size_t used = 0;
		assert_int_equal(sm_ot_parse(b + i, n - i, &used, &set), SM_OK);
		assert_true(used > 0 && used <= n - i);
		assert_true(k < sizeof codes / sizeof codes[0]);
		assert_code(&set, codes[k]);
		k++;
		i += used;
	}
	assert_int_equal(k, sizeof codes / sizeof codes[0]);
	assert_int_equal(i, n - 1);
	free(b);
}

struct bad_case {
	const char *in;
	enum sm_err err;
};

static const struct bad_case bad_cases[] = {
	{ "", SM_E_SYNTAX },
	{ "1-0:1.8.1", SM_E_SYNTAX },                 /* no group */
	{ "1-0:1.8.1 (1)", SM_E_SYNTAX },
	{ "1-0:1.8.1(001234.567*kWh", SM_E_SYNTAX },  /* missing ')' */
	{ "1-0:1.8.1(", SM_E_SYNTAX },
	{ "(", SM_E_SYNTAX },
	{ "(1)(2", SM_E_SYNTAX },
	{ "1-0:1.8.1(12(3))", SM_E_SYNTAX },          /* '(' inside */
	{ "1-0:1.8.1(12\r\n3)", SM_E_SYNTAX },        /* control chars */
	{ "1-0:1.8.1(12\x00" "3)", SM_E_SYNTAX },    /* (cut by strlen: missing ')') */
	{ "1-0:1.8.1(1\t2)", SM_E_SYNTAX },
	{ "1-0:1.8.1(1\x7f)", SM_E_SYNTAX },
	{ "1-0:1.8.1(1\x1b)", SM_E_SYNTAX },
	{ "1-0:256.8.1(1)", SM_E_RANGE },
	{ "1-0:(1)", SM_E_SYNTAX },
	{ "1-0:1.8.(1)", SM_E_SYNTAX },
	{ "!E1F2", SM_E_SYNTAX },
	{ "/ISk5\\2MT382-1000", SM_E_SYNTAX },
	{ ")", SM_E_SYNTAX },
	{ "1-0:1.8.1)", SM_E_SYNTAX },
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char *k;
		size_t used = 4242;
		enum sm_err e = ot_parse(bad_cases[i].in, &used, &set, &k);
		if (e != bad_cases[i].err)
			fail_msg("\"%s\": %s want %s", bad_cases[i].in, sm_err_name(e),
				 sm_err_name(bad_cases[i].err));
		assert_int_equal(used, 4242);
		free(k);
	}
	/* a NUL inside a group is a control character */
	static const char nul[] = "1-0:1.8.1(12\0" "3)";
	char *b = dup_exact(nul, sizeof nul - 1);
	size_t used;
	assert_int_equal(sm_ot_parse(b, sizeof nul - 1, &used, &set), SM_E_SYNTAX);
	free(b);
	assert_int_equal(sm_ot_parse(NULL, 0, &used, &set), SM_E_SYNTAX);
}

static void test_group_limit(void **state)
{
	(void)state;
	char line[16 + 4 * (SM_OT_MAX_GROUPS + 1)];
	size_t n = 0;
	memcpy(line, "0-0:1.2.3", 9);
	n = 9;
	for (int g = 0; g < SM_OT_MAX_GROUPS; g++) {
		memcpy(line + n, "(1)", 3);
		n += 3;
	}
	char *b = dup_exact(line, n);
	size_t used;
	assert_int_equal(sm_ot_parse(b, n, &used, &set), SM_OK);
	assert_int_equal(set.ngroups, SM_OT_MAX_GROUPS);
	assert_int_equal(used, n);
	free(b);
	memcpy(line + n, "(1)", 3);
	n += 3;
	b = dup_exact(line, n);
	assert_int_equal(sm_ot_parse(b, n, &used, &set), SM_E_TOO_LONG);
	free(b);
}

/* Every prefix of a line parses in bounds or fails cleanly (ASan). */
static void test_truncations(void **state)
{
	(void)state;
	static const char line[] = "0-1:24.2.1(170102161005W)(00000.107*m3)";
	size_t n = sizeof line - 1;
	for (size_t len = 0; len <= n; len++) {
		char *b = dup_exact(line, len);
		size_t used = 0;
		enum sm_err e = sm_ot_parse(b, len, &used, &set);
		if (len == n || len == 25) {
			assert_int_equal(e, SM_OK);
			assert_int_equal(used, len);
		} else {
			assert_int_not_equal(e, SM_OK);
		}
		free(b);
	}
}

/* Random mutations of real-shaped lines never crash, never read out of
 * bounds, and every success is consistent (deterministic generator). */
static void test_mutations(void **state)
{
	(void)state;
	static const char *const seeds[] = {
		"0-1:24.2.1(170102161005W)(00000.107*m3)",
		"1-0:1.8.0*255(00052185.7825309*kWh)",
		"0-0:C.51.2*255(1140716101053)",
		"(00001.001)",
	};
	uint32_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		const char *seed = seeds[round % 4];
		size_t n = strlen(seed);
		char *b = dup_exact(seed, n);
		for (int m = 0; m < 3; m++) {
			x = x * 1103515245u + 12345u;
			b[(x >> 8) % n] = (char)(x >> 24);
		}
		x = x * 1103515245u + 12345u;
		size_t len = (x >> 16) % (n + 1);
		size_t used = 0;
		if (sm_ot_parse(b, len, &used, &set) == SM_OK) {
			assert_true(used <= len && set.ngroups >= 1);
			for (size_t g = 0; g < set.ngroups; g++) {
				assert_true(set.g[g].val >= b && set.g[g].val + set.g[g].val_n <= b + used);
				int64_t raw;
				int8_t scale;
				enum sm_unit unit;
				char ut[SM_UNIT_TEXT];
				if (sm_ot_group_number(&set.g[g], &raw, &scale, &unit, ut) == SM_OK)
					assert_true(strlen(ut) < SM_UNIT_TEXT);
				int64_t ms;
				(void)sm_ot_timestamp(set.g[g].val, set.g[g].val_n, &ms);
			}
			char name[SM_NAME_LEN];
			sm_obis_name(&set.obis, NULL, name, sizeof name);
			assert_true(strlen(name) < SM_NAME_LEN);
		}
		free(b);
	}
}

/* ---- timestamps ---- */

static bool ts(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	char *b = dup_exact(s, n);
	bool ok = sm_ot_timestamp(b, n, ms);
	free(b);
	return ok;
}

static void test_timestamp(void **state)
{
	(void)state;
	int64_t ms = 0;
	/* winter time: UTC+1 */
	assert_true(ts("170102161005W", &ms));
	assert_true(ms == 1483369805000LL);
	/* summer time: UTC+2 */
	assert_true(ts("240701020000S", &ms));
	assert_true(ms == 1719792000000LL);
	assert_true(ts("101209113020W", &ms));
	assert_true(ms == 1291890620000LL);
	assert_true(ts("000101010000W", &ms)); /* 2000-01-01 00:00 UTC */
	assert_true(ms == 946684800000LL);
	assert_true(ts("991231235959W", &ms));
	assert_true(ts("240229120000W", &ms)); /* leap day */

	ms = 5;
	assert_false(ts("632525252525S", &ms));
	assert_false(ts("170102161005", &ms));   /* no letter: local time unknown */
	assert_false(ts("170102161005X", &ms));
	assert_false(ts("170102161005w", &ms));
	assert_false(ts("17010216100W", &ms));
	assert_false(ts("1701021610055W", &ms));
	assert_false(ts("230229120000W", &ms));  /* not a leap year */
	assert_false(ts("171301000000W", &ms));
	assert_false(ts("170100000000W", &ms));
	assert_false(ts("170101240000W", &ms));
	assert_false(ts("170101006000W", &ms));
	assert_false(ts("170101000061W", &ms));
	assert_false(ts("17010100000 W", &ms));
	assert_false(ts("1701010000-0W", &ms));
	assert_false(ts("", &ms));
	assert_int_equal(ms, 5);
	assert_false(sm_ot_timestamp(NULL, 0, &ms));
	/* leap second */
	assert_true(ts("161231235960W", &ms));
}

/* ---- real fixtures (SM_SHARED) ---- */

static char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			assert_non_null(nb);
			buf = nb;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	*n = len;
	return buf;
}

/* Parse every data line of the text fixtures of one directory: count sets
 * that parse and check that every numeric "*unit" group converts. */
static void scan_dir(const char *dir, unsigned *sets, unsigned *files)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl < 5 || strcmp(e->d_name + nl - 4, ".txt") != 0)
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t n = 0;
		char *data = read_file(path, &n);
		if (data == NULL)
			continue;
		(*files)++;
		size_t i = 0;
		while (i < n) {
			size_t eol = i;
			while (eol < n && data[eol] != '\n' && data[eol] != '\r')
				eol++;
			/* skip framing bytes (STX etc.) at the start of a line */
			size_t p = i;
			while (p < eol && (unsigned char)data[p] < 0x20)
				p++;
			char *line = dup_exact(data + p, eol - p);
			size_t len = eol - p, at = 0;
			while (at < len) {
				size_t used = 0;
				if (sm_ot_parse(line + at, len - at, &used, &set) != SM_OK)
					break;
				assert_true(used > 0 && used <= len - at);
				(*sets)++;
				at += used;
			}
			free(line);
			i = eol + 1;
		}
		free(data);
	}
	closedir(d);
}

static void test_fixtures(void **state)
{
	(void)state;
	const char *shared = getenv("SM_SHARED");
	char dir[1024];
	unsigned sets = 0, files = 0;
	snprintf(dir, sizeof dir, "%s/fixtures/dsmr", shared ? shared : "../shared");
	scan_dir(dir, &sets, &files);
	snprintf(dir, sizeof dir, "%s/fixtures/iec62056-21", shared ? shared : "../shared");
	scan_dir(dir, &sets, &files);
	if (files == 0) {
		print_message("SKIP: no fixtures under SM_SHARED (%s)\n", shared ? shared : "unset");
		skip();
	}
	print_message("parsed %u data sets in %u fixture files\n", sets, files);
	assert_true(sets > files);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_several_groups),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_historic_suffix),
		cmocka_unit_test(test_padded_and_empty),
		cmocka_unit_test(test_group_number_units),
		cmocka_unit_test(test_d0_line),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_group_limit),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
