/* test_config.c - unit tests of the configuration module (config.h): the
 * collectd.conf parser, the option table and setters, the validator, ports,
 * Select matching and command line flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

#define BAUD_LIST "300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600"
#define IEC_BAUD_LIST "300, 600, 1200, 2400, 4800, 9600, 19200"
#define KNOWN_OPTIONS                                                                              \
	"Protocol, Device, Baudrate, Parity, DataBits, StopBits, Interval, Timeout, Select, "      \
	"IgnoreChecksum, Mode, Address, MaxBaudrate, BaudSwitchDelay, WakeUp, Key, KeyFile, "      \
	"AuthKey, Framing, Slave, Model, RegisterMap"
#define KNOWN_FLAGS                                                                                \
	"--protocol, --device, --baudrate, --parity, --data-bits, --stop-bits, --interval, "       \
	"--timeout, --select, --ignore-checksum, --mode, --address, --max-baudrate, "              \
	"--baud-switch-delay, --wake-up, --key, --key-file, --auth-key, --framing, --slave, "      \
	"--model, --register-map"

/* ---- helpers ---- */

/* An exactly-sized heap copy (no NUL), so ASan catches any overread. */
static char *dup_exact(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	assert_non_null(b);
	if (n)
		memcpy(b, s, n);
	return b;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static enum sm_err parse_n(const char *text, size_t n, const char *file, struct sm_cfg_node *root,
			   char *err, size_t errlen)
{
	char *b = dup_exact(text, n);
	enum sm_err rc = sm_cfg_parse(b, n, file, root, err, errlen);
	free(b);
	return rc;
}

static void parse_ok(const char *text, struct sm_cfg_node *root)
{
	char err[256] = "";
	enum sm_err rc = parse_n(text, strlen(text), "t.conf", root, err, sizeof(err));
	if (rc != SM_OK)
		fail_msg("parse failed: %s", err);
}

/* Parse text that must fail with exactly msg (file "x.conf"). */
static void parse_fails(const char *text, const char *msg)
{
	char err[256] = "";
	struct sm_cfg_node root;
	memset(&root, 0xa5, sizeof(root));
	enum sm_err rc = parse_n(text, strlen(text), "x.conf", &root, err, sizeof(err));
	if (rc != SM_E_CONFIG)
		fail_msg("expected a syntax error \"%s\" for <<%s>>, got rc %d", msg, text, rc);
	assert_string_equal(err, msg);
	/* left empty: nothing to free */
	assert_null(root.children);
	assert_null(root.values);
	assert_null(root.key);
	sm_cfg_node_free(&root);
}

static const struct sm_cfg_node *child(const struct sm_cfg_node *n, size_t i)
{
	assert_true(i < n->nchildren);
	return &n->children[i];
}

static void assert_str_value(const struct sm_cfg_node *n, size_t i, const char *s)
{
	assert_true(i < n->nvalues);
	assert_int_equal(n->values[i].type, SM_CV_STRING);
	assert_string_equal(n->values[i].s, s);
}

static void assert_num_value(const struct sm_cfg_node *n, size_t i, double d)
{
	assert_true(i < n->nvalues);
	assert_int_equal(n->values[i].type, SM_CV_NUMBER);
	if (n->values[i].num != d)
		fail_msg("value %zu of %s: %.17g != %.17g", i, n->key, n->values[i].num, d);
}

static void assert_bool_value(const struct sm_cfg_node *n, size_t i, bool b)
{
	assert_true(i < n->nvalues);
	assert_int_equal(n->values[i].type, SM_CV_BOOL);
	assert_int_equal(n->values[i].b, b);
}

static struct sm_cfg_value vstr(const char *s)
{
	struct sm_cfg_value v = {SM_CV_STRING, (char *)(uintptr_t)s, 0, false};
	return v;
}

static struct sm_cfg_value vnum(double d)
{
	struct sm_cfg_value v = {SM_CV_NUMBER, NULL, d, false};
	return v;
}

static struct sm_cfg_value vbool(bool b)
{
	struct sm_cfg_value v = {SM_CV_BOOL, NULL, 0, b};
	return v;
}

/* A config with one empty meter "home". */
struct fx {
	struct sm_config c;
	struct sm_meter_cfg *m;
	char err[512];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	sm_config_init(&f->c);
	if (sm_config_add_meter(&f->c, "home", &f->m, f->err, sizeof(f->err)) != SM_OK)
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	sm_config_free(&f->c);
	free(f);
	return 0;
}

static enum sm_err set1(struct fx *f, const char *opt, struct sm_cfg_value v)
{
	f->err[0] = '\0';
	return sm_meter_set(f->m, opt, &v, 1, f->err, sizeof(f->err));
}

static void set_fails(struct fx *f, const char *opt, struct sm_cfg_value v, const char *msg)
{
	struct sm_meter_cfg before = *f->m;
	enum sm_err rc = set1(f, opt, v);
	if (rc != SM_E_CONFIG)
		fail_msg("%s: expected an error \"%s\", got rc %d", opt, msg, rc);
	assert_string_equal(f->err, msg);
	/* the meter is unchanged */
	assert_memory_equal(&before, f->m, sizeof(before));
}

/* Parse text, pick the smartmeter block, build and validate a config. */
static enum sm_err load(const char *text, struct sm_config *c, char *err, size_t errlen)
{
	struct sm_cfg_node root;
	enum sm_err rc = parse_n(text, strlen(text), "t.conf", &root, err, errlen);
	if (rc != SM_OK)
		return rc;
	sm_config_init(c);
	rc = sm_config_from_tree(c, sm_cfg_find_smartmeter(&root), err, errlen);
	if (rc == SM_OK)
		rc = sm_config_validate(c, err, errlen);
	sm_cfg_node_free(&root);
	return rc;
}

static void load_fails(const char *text, const char *msg)
{
	struct sm_config c;
	char err[512] = "";
	enum sm_err rc = load(text, &c, err, sizeof(err));
	if (rc != SM_E_CONFIG)
		fail_msg("expected an error \"%s\", got rc %d", msg, rc);
	assert_string_equal(err, msg);
	sm_config_free(&c);
}

/* ---- parser ---- */

static const char full_conf[] =
	"# collectd.conf as Debian ships it, shortened\n"
	"Hostname    \"probehost\"\n"
	"FQDNLookup  false\n"
	"BaseDir     \"/var/lib/collectd\"\n"
	"TypesDB     \"/usr/share/collectd/types.db\"\n"
	"Interval    10\n"
	"ReadThreads 5\n"
	"\n"
	"LoadPlugin syslog\n"
	"<LoadPlugin logfile>\n"
	"  Interval 3\n"
	"</LoadPlugin>\n"
	"<Plugin logfile>\n"
	"\tLogLevel info\n"
	"\tFile STDOUT\n"
	"\tTimestamp true\n"
	"</Plugin>\n"
	"LoadPlugin network\n"
	"<Plugin network>\n"
	"  Server \"127.0.0.1\" \"25826\"\n"
	"  Listen 192.168.0.1:25826\n"
	"  <Server \"10.0.0.1\">\n"
	"    SecurityLevel Encrypt\n"
	"    Username \"user\"\n"
	"  </Server>\n"
	"</Plugin>\n"
	"<Chain \"PreCache\">\n"
	"  <Rule \"ignore_cpu\">\n"
	"    <Match \"regex\">\n"
	"      Plugin \"^cpu$\"\n"
	"    </Match>\n"
	"    Target \"stop\"\n"
	"  </Rule>\n"
	"</Chain>\n"
	"LoadPlugin smartmeter\n"
	"<Plugin smartmeter>\n"
	"  <Meter \"home\">\n"
	"    Protocol \"dsmr\"\n"
	"    Device \"/dev/ttyUSB0\"\n"
	"    Interval 10   # at most one dispatch per 10 s\n"
	"    Select \"energy_import\" \"1-0:2.8.0\"\n"
	"  </Meter>\n"
	"</Plugin>\n"
	"Include \"/etc/collectd/collectd.conf.d\"\n"
	"<Include \"/etc/collectd/collectd.conf.d\">\n"
	"  Filter \"*.conf\"\n"
	"</Include>\n";

static void test_parse_full_collectd_conf(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	parse_ok(full_conf, &root);
	assert_null(root.key);
	assert_int_equal(root.nchildren, 16);
	const struct sm_cfg_node *n = child(&root, 0);
	assert_string_equal(n->key, "Hostname");
	assert_str_value(n, 0, "probehost");
	assert_int_equal(n->line, 2);
	assert_false(n->block);
	assert_bool_value(child(&root, 1), 0, false);
	assert_num_value(child(&root, 4), 0, 10);
	n = child(&root, 6);
	assert_string_equal(n->key, "LoadPlugin");
	assert_str_value(n, 0, "syslog");
	n = child(&root, 7);
	assert_string_equal(n->key, "LoadPlugin");
	assert_true(n->block);
	assert_int_equal(n->line, 10);
	assert_str_value(n, 0, "logfile");
	assert_int_equal(n->nchildren, 1);
	assert_num_value(child(n, 0), 0, 3);
	n = child(&root, 10);
	assert_string_equal(n->key, "Plugin");
	assert_str_value(n, 0, "network");
	assert_int_equal(n->nchildren, 3);
	assert_int_equal(child(n, 0)->nvalues, 2);
	assert_str_value(child(n, 1), 0, "192.168.0.1:25826");
	assert_true(child(n, 2)->block);
	assert_str_value(child(child(n, 2), 0), 0, "Encrypt");
	n = child(&root, 11); /* Chain -> Rule -> Match -> Plugin */
	assert_string_equal(child(child(child(n, 0), 0), 0)->key, "Plugin");
	assert_str_value(child(child(child(n, 0), 0), 0), 0, "^cpu$");
	assert_int_equal(child(child(child(n, 0), 0), 0)->line, 30);
	assert_string_equal(child(&root, 14)->key, "Include");
	assert_false(child(&root, 14)->block);
	assert_true(child(&root, 15)->block);
	assert_str_value(child(child(&root, 15), 0), 0, "*.conf");

	const struct sm_cfg_node *sm = sm_cfg_find_smartmeter(&root);
	assert_ptr_equal(sm, child(&root, 13));
	assert_int_equal(sm->line, 36);

	struct sm_config c;
	char err[256] = "";
	sm_config_init(&c);
	assert_int_equal(sm_config_from_tree(&c, sm, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_int_equal(c.nmeters, 1);
	const struct sm_meter_cfg *m = &c.meters[0];
	assert_string_equal(m->name, "home");
	assert_string_equal(m->proto->name, "dsmr");
	assert_string_equal(m->device, "/dev/ttyUSB0");
	assert_true(m->interval_s == 10.0);
	assert_int_equal(m->nselect, 2);
	assert_false(m->select_is_obis[0]);
	assert_true(m->select_is_obis[1]);
	assert_string_equal(m->select[1], "1-0:2.8.0");
	sm_config_free(&c);
	sm_cfg_node_free(&root);
	assert_int_equal(root.nchildren, 0);
	sm_cfg_node_free(&root); /* twice is harmless */
	sm_cfg_node_free(NULL);
}

static void test_parse_bare_meters(void **state)
{
	(void)state;
	static const char text[] = "<Meter \"a\">\n"
				   "  Protocol \"dsmr\"\n"
				   "  Device \"file:/tmp/a.bin\"\n"
				   "</Meter>\n"
				   "<meter b>\n" /* case-insensitive, unquoted name */
				   "  protocol dsmr\n"
				   "  DEVICE \"tcp://127.0.0.1:2000\"\n"
				   "</METER>"; /* no final newline */
	struct sm_cfg_node root;
	parse_ok(text, &root);
	assert_ptr_equal(sm_cfg_find_smartmeter(&root), &root);
	struct sm_config c;
	char err[256] = "";
	sm_config_init(&c);
	assert_int_equal(sm_config_from_tree(&c, &root, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_int_equal(c.nmeters, 2);
	assert_string_equal(c.meters[1].name, "b");
	assert_string_equal(c.meters[1].device, "tcp://127.0.0.1:2000");
	sm_config_free(&c);
	sm_cfg_node_free(&root);
	assert_null(sm_cfg_find_smartmeter(NULL));
}

static void test_parse_plugin_block_not_first(void **state)
{
	(void)state;
	/* Another <Plugin> block and a <Plugin "smartmeter"> with a quoted name. */
	struct sm_cfg_node root;
	parse_ok("<Plugin csv>\n</Plugin>\n<Plugin \"SmartMeter\">\n<Meter \"x\">\n</Meter>\n</Plugin>\n",
		 &root);
	const struct sm_cfg_node *sm = sm_cfg_find_smartmeter(&root);
	assert_ptr_equal(sm, child(&root, 1));
	assert_int_equal(sm->nchildren, 1);
	assert_true(child(&root, 0)->block);
	assert_int_equal(child(&root, 0)->nchildren, 0);
	sm_cfg_node_free(&root);
}

static void test_parse_comments(void **state)
{
	(void)state;
	static const char text[] = "# a comment\n"
				   "   # indented comment with \"quote and \\ backslash\n"
				   "Key \"a#b\" # trailing comment \\\n"
				   "<Block x> # after a tag\n"
				   "# inside\n"
				   "</Block> # after a closing tag\n"
				   "Last 1#no blank before the comment\n"
				   "# last line without newline";
	struct sm_cfg_node root;
	parse_ok(text, &root);
	assert_int_equal(root.nchildren, 3);
	assert_int_equal(child(&root, 0)->nvalues, 1);
	assert_str_value(child(&root, 0), 0, "a#b");
	assert_int_equal(child(&root, 0)->line, 3);
	assert_true(child(&root, 1)->block);
	assert_int_equal(child(&root, 1)->nchildren, 0);
	assert_int_equal(child(&root, 2)->nvalues, 1);
	assert_num_value(child(&root, 2), 0, 1);
	assert_int_equal(child(&root, 2)->line, 7);
	sm_cfg_node_free(&root);
}

static void test_parse_empty_inputs(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	char err[64];
	assert_int_equal(sm_cfg_parse(NULL, 0, NULL, &root, err, sizeof(err)), SM_OK);
	assert_int_equal(root.nchildren, 0);
	parse_ok("", &root);
	assert_int_equal(root.nchildren, 0);
	parse_ok("\n\n  \t\n# only comments\n\r\n", &root);
	assert_int_equal(root.nchildren, 0);
	parse_ok("Key", &root); /* option without values, no newline */
	assert_int_equal(root.nchildren, 1);
	assert_int_equal(child(&root, 0)->nvalues, 0);
	sm_cfg_node_free(&root);
}

static void test_parse_quoting_escapes(void **state)
{
	(void)state;
	static const char text[] = "A \"with \\\"quotes\\\"\"\n"
				   "B \"back\\\\slash\" \"\" \"two words\"\n"
				   "C \"\\q\\n\" \"#\" \"<Meter>\"\n"
				   "D \"x\"\"y\"\n"
				   "E word_1 \"quoted\"unquoted\n";
	struct sm_cfg_node root;
	parse_ok(text, &root);
	assert_str_value(child(&root, 0), 0, "with \"quotes\"");
	assert_int_equal(child(&root, 1)->nvalues, 3);
	assert_str_value(child(&root, 1), 0, "back\\slash");
	assert_str_value(child(&root, 1), 1, "");
	assert_str_value(child(&root, 1), 2, "two words");
	assert_str_value(child(&root, 2), 0, "qn"); /* collectd: backslash takes the next char */
	assert_str_value(child(&root, 2), 1, "#");
	assert_str_value(child(&root, 2), 2, "<Meter>");
	assert_int_equal(child(&root, 3)->nvalues, 2);
	assert_str_value(child(&root, 3), 0, "x");
	assert_str_value(child(&root, 3), 1, "y");
	assert_int_equal(child(&root, 4)->nvalues, 3);
	assert_str_value(child(&root, 4), 0, "word_1");
	assert_str_value(child(&root, 4), 2, "unquoted");
	sm_cfg_node_free(&root);
}

static void test_parse_numbers(void **state)
{
	(void)state;
	static const char text[] = "N 5 -5 +5 1.5 .5 -0.25 1e3 2.5E-3 0x10 0X1f -0x10 010 0 115200 "
				   "0.1 123456789012345678901234 1e-400\n";
	static const double want[] = {5,    -5,  5,    1.5, .5,   -0.25, 1e3, 2.5e-3, 16,
				      31,   -16, 10,   0,   115200, 0.1, 123456789012345678901234.0, 0};
	struct sm_cfg_node root;
	parse_ok(text, &root);
	const struct sm_cfg_node *n = child(&root, 0);
	assert_int_equal(n->nvalues, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n->nvalues; i++) {
		if (i == 15) { /* beyond 19 digits: close enough */
			assert_int_equal(n->values[i].type, SM_CV_NUMBER);
			assert_true(n->values[i].num > 1.2345678901234e23 &&
				    n->values[i].num < 1.2345678901235e23);
			continue;
		}
		assert_num_value(n, i, want[i]);
	}
	sm_cfg_node_free(&root);

	/* Words that look a bit like numbers are strings, as in collectd. */
	parse_ok("S 5abc 0x 1e 0x1G\n", &root);
	n = child(&root, 0);
	assert_str_value(n, 0, "5abc");
	assert_str_value(n, 1, "0x");
	assert_str_value(n, 2, "1e");
	assert_str_value(n, 3, "0x1G");
	sm_cfg_node_free(&root);
}

static void test_parse_number_function(void **state)
{
	(void)state;
	double d = -1;
	assert_true(sm_cfg_parse_number("9600", 4, &d));
	assert_true(d == 9600);
	assert_true(sm_cfg_parse_number("9600xyz", 4, &d)); /* only n bytes */
	assert_true(d == 9600);
	assert_true(sm_cfg_parse_number("0.000001", 8, &d));
	assert_true(d == 0.000001);
	assert_true(sm_cfg_parse_number("0xFFFFFFFFFFFFFFFF", 18, &d));
	assert_true(d == 18446744073709551615.0);
	static const char *const bad[] = {"", "+", "-", ".", "1.", "e5", "1e", "1e+", " 1", "1 ",
					  "0x", "0x1g", "1.2.3", "--1", "1e999", "0x10000000000000000",
					  "inf", "nan", "1,5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b = dup_exact(bad[i], strlen(bad[i]));
		if (sm_cfg_parse_number(b, strlen(bad[i]), &d))
			fail_msg("\"%s\" parsed as %g", bad[i], d);
		free(b);
	}
	assert_false(sm_cfg_parse_number(NULL, 0, &d));
}

static void test_parse_booleans(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	parse_ok("B true false yes no on off TRUE Off \"true\"\n", &root);
	const struct sm_cfg_node *n = child(&root, 0);
	static const bool want[] = {true, false, true, false, true, false, true, false};
	for (size_t i = 0; i < 8; i++)
		assert_bool_value(n, i, want[i]);
	assert_str_value(n, 8, "true");
	sm_cfg_node_free(&root);
}

static void test_parse_multiline_strings(void **state)
{
	(void)state;
	/* As in collectd's postgresql_default.conf. */
	static const char text[] = "<Query backends>\n"
				   "\tStatement \"SELECT count(*) AS count \\\n"
				   "\t\tFROM pg_stat_activity \\\r\n"
				   "   \t\tWHERE datname = $1;\"\n"
				   "\tParam database\n"
				   "</Query>\n"
				   "A \"x\\\n\"\n"
				   "B \"\\\n\\\n\"\n";
	struct sm_cfg_node root;
	parse_ok(text, &root);
	const struct sm_cfg_node *q = child(&root, 0);
	assert_str_value(child(q, 0), 0,
			 "SELECT count(*) AS count FROM pg_stat_activity WHERE datname = $1;");
	assert_int_equal(child(q, 0)->line, 2);
	assert_int_equal(child(q, 1)->line, 5);
	assert_str_value(child(&root, 1), 0, "x");
	assert_int_equal(child(&root, 1)->line, 7);
	assert_str_value(child(&root, 2), 0, "");
	assert_int_equal(child(&root, 2)->line, 9);
	sm_cfg_node_free(&root);
}

static void test_parse_continuation_and_line_ends(void **state)
{
	(void)state;
	static const char text[] = "Select \"a\" \\\n"
				   "       \"b\" \\\r\n"
				   "       c\n"
				   "Next 1\r\n"
				   "<Meter \\\n"
				   " \"m\">\r\n"
				   "  Key 2\r\n"
				   "</Meter>\r\n"
				   "Last \"x\"\r\n";
	struct sm_cfg_node root;
	parse_ok(text, &root);
	assert_int_equal(root.nchildren, 4);
	const struct sm_cfg_node *n = child(&root, 0);
	assert_int_equal(n->nvalues, 3);
	assert_int_equal(n->line, 1);
	assert_str_value(n, 2, "c");
	assert_int_equal(child(&root, 1)->line, 4);
	assert_int_equal(child(&root, 2)->line, 5);
	assert_str_value(child(&root, 2), 0, "m");
	assert_int_equal(child(child(&root, 2), 0)->line, 7);
	assert_int_equal(child(&root, 3)->line, 9);
	assert_str_value(child(&root, 3), 0, "x");
	sm_cfg_node_free(&root);
}

static void test_parse_syntax_errors(void **state)
{
	(void)state;
	parse_fails("A 1\nB 2\nC \"abc\n", "x.conf:3: unterminated string");
	parse_fails("A \"abc", "x.conf:1: unterminated string");
	parse_fails("A \"abc\\", "x.conf:1: unterminated string");
	parse_fails("\nA \"abc\\\nd\n", "x.conf:2: unterminated string");
	parse_fails("A \"abc\\\n", "x.conf:1: unterminated string");
	parse_fails("A 1\n  B \\ 2\n",
		    "x.conf:2: '\\' outside quotes must end the line (line continuation)");
	parse_fails("A 1 \\", "x.conf:1: '\\' outside quotes must end the line (line continuation)");
	parse_fails("A a/b\n",
		    "x.conf:1: unexpected \"a/b\" (quote values that contain characters other than "
		    "letters, digits and '_')");
	parse_fails("Select 1-0:1.8.0\n",
		    "x.conf:1: unexpected \"1-0:1.8.0\" (quote values that contain characters other "
		    "than letters, digits and '_')");
	parse_fails("\n\nA 1e999\n", "x.conf:3: number out of range: \"1e999\"");
	/* (16 hex digits or more may be a key: not shown) */
	parse_fails("A 0x10000000000000000\n",
		    "x.conf:1: number out of range: a value of 19 characters (not shown: it may be a key)");
	parse_fails("\"Key\" 5\n", "x.conf:1: expected an option name or a block, got a quoted string");
	parse_fails("5Key 5\n", "x.conf:1: expected an option name or a block, got \"5Key\"");
	parse_fails("Ke-y 5\n", "x.conf:1: expected an option name or a block, got \"Ke-y\"");
	parse_fails("> 5\n", "x.conf:1: expected an option name or a block, got '>'");
	parse_fails("A 1\n<>\n", "x.conf:2: expected a block name after '<', got '>'");
	parse_fails("< Meter \"x\">\n</Meter>\n<\n",
		    "x.conf:3: expected a block name after '<', got the end of the line");
	parse_fails("<\"Meter\">\n", "x.conf:1: expected a block name after '<', got a quoted string");
	parse_fails("<Meter \"x\"\n</Meter>\n", "x.conf:1: expected '>' to end <Meter ...");
	parse_fails("<Meter \"x\"", "x.conf:1: expected '>' to end <Meter ...");
	parse_fails("<Meter \"x\"> Protocol dsmr\n</Meter>\n",
		    "x.conf:1: unexpected text after <Meter>");
	parse_fails("<Meter \"x\">\n</Meter> x\n", "x.conf:2: unexpected text after </Meter>");
	parse_fails("<Plugin smartmeter>\n<Meter \"x\">\n</Plugin>\n",
		    "x.conf:3: </Plugin> does not close <Meter> (opened on line 2)");
	parse_fails("A 1\n</Meter>\n", "x.conf:2: </Meter> without an open block");
	parse_fails("<Meter \"x\">\n</Meter\n", "x.conf:2: expected '>' to end </Meter");
	parse_fails("<Meter \"x\">\n</>\n", "x.conf:2: expected a block name after '</', got '>'");
	parse_fails("A 1\n<Plugin smartmeter>\n  <Meter \"x\">\n  </Meter>\n",
		    "x.conf:2: <Plugin> is not closed before the end of the file");
	parse_fails("<Plugin smartmeter>\n  Key 1", "x.conf:1: <Plugin> is not closed before the end of the file");
	parse_fails("A b > c\n", "x.conf:1: unexpected '>'");
	parse_fails("A <b>\n", "x.conf:1: unexpected '<' (a block must start its own line)");
	parse_fails("A b </c>\n", "x.conf:1: unexpected '</' (a closing tag must be on its own line)");
	parse_fails("A 1\nB \"\\\"\n", "x.conf:2: unterminated string");
}

static void test_parse_nul_bytes(void **state)
{
	(void)state;
	static const char t1[] = "A 1\nB x\0y\n";
	static const char t2[] = "A \"x\0y\"\n";
	static const char t3[] = "A \"x\\\0y\"\n";
	char err[128];
	struct sm_cfg_node root;
	assert_int_equal(parse_n(t1, sizeof(t1) - 1, "x.conf", &root, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "x.conf:2: NUL byte");
	assert_int_equal(parse_n(t2, sizeof(t2) - 1, "x.conf", &root, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "x.conf:1: NUL byte inside a string");
	assert_int_equal(parse_n(t3, sizeof(t3) - 1, "x.conf", &root, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "x.conf:1: NUL byte inside a string");
}

static char *nested(int depth)
{
	size_t cap = (size_t)depth * 24 + 16;
	char *s = malloc(cap);
	size_t o = 0;
	assert_non_null(s);
	for (int i = 0; i < depth; i++)
		o += (size_t)snprintf(s + o, cap - o, "<B%d>\n", i);
	o += (size_t)snprintf(s + o, cap - o, "K 1\n");
	for (int i = depth - 1; i >= 0; i--)
		o += (size_t)snprintf(s + o, cap - o, "</B%d>\n", i);
	return s;
}

static void test_parse_limits(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	char err[128];
	char *s = nested(SM_CFG_MAX_DEPTH);
	parse_ok(s, &root);
	const struct sm_cfg_node *n = &root;
	for (int i = 0; i < SM_CFG_MAX_DEPTH; i++)
		n = child(n, 0);
	assert_string_equal(child(n, 0)->key, "K");
	sm_cfg_node_free(&root);
	free(s);
	s = nested(SM_CFG_MAX_DEPTH + 1);
	parse_fails(s, "x.conf:17: blocks nested deeper than 16");
	free(s);
	s = nested(1000); /* deep input is refused, not recursed into */
	parse_fails(s, "x.conf:17: blocks nested deeper than 16");
	free(s);

	/* Size cap: exactly the limit is fine, one byte more is not. */
	size_t n1 = SM_CFG_MAX_TEXT;
	char *big = malloc(n1 + 1);
	assert_non_null(big);
	memset(big, '\n', n1 + 1);
	memcpy(big, "# big\n", 6);
	assert_int_equal(sm_cfg_parse(big, n1, "big.conf", &root, err, sizeof(err)), SM_OK);
	assert_int_equal(root.nchildren, 0);
	assert_int_equal(sm_cfg_parse(big, n1 + 1, "big.conf", &root, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "big.conf: too large (1048577 bytes, at most 1048576)");
	free(big);
}

static void test_parse_misc(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	char err[128];
	/* No filename: "config". */
	assert_int_equal(parse_n("A \"x", 4, NULL, &root, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "config:1: unterminated string");
	/* Small and absent error buffers. */
	char tiny[8];
	assert_int_equal(parse_n("A \"x", 4, "x.conf", &root, tiny, sizeof(tiny)), SM_E_CONFIG);
	assert_string_equal(tiny, "x.conf:");
	assert_int_equal(parse_n("A \"x", 4, "x.conf", &root, NULL, 0), SM_E_CONFIG);
	/* IPv4 words, with or without a port; anything else dotted is not. */
	parse_ok("Listen 10.1.2.3 10.1.2.3:80 \"1.2.3\"\n", &root);
	assert_str_value(child(&root, 0), 0, "10.1.2.3");
	assert_str_value(child(&root, 0), 1, "10.1.2.3:80");
	sm_cfg_node_free(&root);
	parse_fails("Listen 1.2.3.256\n",
		    "x.conf:1: unexpected \"1.2.3.256\" (quote values that contain characters other "
		    "than letters, digits and '_')");
	/* Unprintable bytes are escaped, and the message stays bounded. */
	parse_fails("A \x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\n",
		    "x.conf:1: unexpected \"\\x01\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff...\" "
		    "(quote values that contain characters other than letters, digits and '_')");
	/* Long offending words are cut in the message. */
	parse_fails("A zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/\n",
		    "x.conf:1: unexpected \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...\" (quote values "
		    "that contain characters other than letters, digits and '_')");
}

/* ---- options ---- */

static void test_option_table(void **state)
{
	(void)state;
	size_t n = 0;
	for (; sm_meter_options[n].name != NULL; n++) {
		const struct sm_option_desc *d = &sm_meter_options[n];
		/* flag = name in lower case with dashes between words */
		char want[64];
		size_t o = 0;
		for (size_t i = 0; d->name[i] != '\0'; i++) {
			char ch = d->name[i];
			if (ch >= 'A' && ch <= 'Z') {
				if (i > 0)
					want[o++] = '-';
				ch = (char)(ch - 'A' + 'a');
			}
			want[o++] = ch;
		}
		want[o] = '\0';
		assert_string_equal(d->flag, want);
		assert_non_null(d->arg);
		assert_non_null(d->help);
		assert_ptr_equal(sm_option_find(d->name), d);
		assert_ptr_equal(sm_option_find_flag(d->flag), d);
	}
	assert_int_equal(n, 22);
	assert_ptr_equal(sm_option_find("BAUDRATE"), sm_option_find("Baudrate"));
	assert_null(sm_option_find("Baudrat"));
	assert_null(sm_option_find(NULL));
	assert_null(sm_option_find_flag("Baudrate"));
	assert_null(sm_option_find_flag(NULL));
	assert_int_equal(sm_option_find("Select")->type, SM_OPT_LIST);
	assert_int_equal(sm_option_find("IgnoreChecksum")->type, SM_OPT_BOOL);
	assert_int_equal(sm_option_find("Timeout")->type, SM_OPT_NUMBER);
	assert_int_equal(sm_option_find("Device")->type, SM_OPT_STRING);
}

static void test_opt_protocol(void **state)
{
	struct fx *f = *state;
	char msg[256];
	snprintf(msg, sizeof(msg), "meter \"home\": Protocol: expected one of %s, got \"p1\"",
		 sm_proto_names());
	set_fails(f, "Protocol", vstr("p1"), msg);
	snprintf(msg, sizeof(msg), "meter \"home\": Protocol: expected one of %s, got 5",
		 sm_proto_names());
	set_fails(f, "Protocol", vnum(5), msg);
	assert_int_equal(set1(f, "protocol", vstr("DSMR")), SM_OK);
	assert_ptr_equal(f->m->proto, sm_proto_find("dsmr"));
}

static void test_opt_device(void **state)
{
	struct fx *f = *state;
#define DEV_ERR(got, why)                                                                        \
	"meter \"home\": Device: expected a serial port path, tcp://HOST:PORT, rtu+tcp://HOST:PORT " \
	"or file:PATH, got " got                                                                   \
	" (" why ")"
	set_fails(f, "Device", vstr(""), DEV_ERR("\"\"", "empty"));
	set_fails(f, "Device", vstr("tcp://meter"), DEV_ERR("\"tcp://meter\"", "no port"));
	set_fails(f, "Device", vstr("tcp://meter:"), DEV_ERR("\"tcp://meter:\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("tcp://meter:0"), DEV_ERR("\"tcp://meter:0\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("tcp://meter:65536"),
		  DEV_ERR("\"tcp://meter:65536\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("tcp://meter:123456"),
		  DEV_ERR("\"tcp://meter:123456\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("tcp://meter:80x"), DEV_ERR("\"tcp://meter:80x\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("tcp://:502"), DEV_ERR("\"tcp://:502\"", "no host"));
	set_fails(f, "Device", vstr("tcp://::1:502"), DEV_ERR("\"tcp://::1:502\"", "write an IPv6 host in brackets"));
	set_fails(f, "Device", vstr("tcp://[::1:502"), DEV_ERR("\"tcp://[::1:502\"", "bad [IPv6] host"));
	set_fails(f, "Device", vstr("tcp://a/b:502"), DEV_ERR("\"tcp://a/b:502\"", "bad host"));
	set_fails(f, "Device", vstr("file:"), DEV_ERR("\"file:\"", "empty path"));
	set_fails(f, "Device", vstr("udp://h:1"), DEV_ERR("\"udp://h:1\"", "unknown scheme"));
	set_fails(f, "Device", vstr("/dev/tty\nUSB0"), DEV_ERR("\"/dev/tty\\x0aUSB0\"", "control character"));
	set_fails(f, "Device", vnum(0),
		  "meter \"home\": Device: expected a serial port path, tcp://HOST:PORT, "
		  "rtu+tcp://HOST:PORT or file:PATH, got 0");
#undef DEV_ERR
	static const char *const ok[] = {"/dev/ttyUSB0", "/dev/serial/by-id/usb-FTDI_x-if00-port0",
					 "tcp://127.0.0.1:1", "tcp://meter.local:65535",
					 "tcp://[::1]:2000", "file:/tmp/capture.bin", "file:x", "COM3",
					 "rtu+tcp://10.0.0.7:4001", "rtu+tcp://[fe80::1]:502"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sm_meter_cfg *m;
		struct sm_config c;
		char err[256];
		sm_config_init(&c);
		assert_int_equal(sm_config_add_meter(&c, "d", &m, err, sizeof(err)), SM_OK);
		struct sm_cfg_value v = vstr(ok[i]);
		if (sm_meter_set(m, "Device", &v, 1, err, sizeof(err)) != SM_OK)
			fail_msg("%s: %s", ok[i], err);
		assert_string_equal(m->device, ok[i]);
		sm_config_free(&c);
	}
}

static void test_opt_baudrate(void **state)
{
	struct fx *f = *state;
	set_fails(f, "Baudrate", vnum(12345),
		  "meter \"home\": Baudrate: expected one of " BAUD_LIST ", got 12345");
	set_fails(f, "Baudrate", vnum(9600.5),
		  "meter \"home\": Baudrate: expected one of " BAUD_LIST ", got 9600.5");
	set_fails(f, "Baudrate", vnum(-9600),
		  "meter \"home\": Baudrate: expected one of " BAUD_LIST ", got -9600");
	set_fails(f, "Baudrate", vstr("9600"),
		  "meter \"home\": Baudrate: expected one of " BAUD_LIST ", got \"9600\"");
	set_fails(f, "Baudrate", vbool(true),
		  "meter \"home\": Baudrate: expected one of " BAUD_LIST ", got true");
	static const int ok[] = {300,   600,   1200,   2400,   4800,   9600,  19200,
				 38400, 57600, 115200, 230400, 460800, 921600};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		f->m->opt_set = 0; /* allow setting again */
		assert_int_equal(set1(f, "Baudrate", vnum(ok[i])), SM_OK);
		assert_int_equal(f->m->line.baud, ok[i]);
		assert_true(f->m->line_set & SM_LINE_BAUD);
	}
}

static void test_opt_line(void **state)
{
	struct fx *f = *state;
	set_fails(f, "Parity", vstr("mark"),
		  "meter \"home\": Parity: expected \"none\", \"even\" or \"odd\", got \"mark\"");
	set_fails(f, "Parity", vnum(0),
		  "meter \"home\": Parity: expected \"none\", \"even\" or \"odd\", got 0");
	set_fails(f, "DataBits", vnum(4), "meter \"home\": DataBits: expected 5, 6, 7 or 8, got 4");
	set_fails(f, "DataBits", vnum(9), "meter \"home\": DataBits: expected 5, 6, 7 or 8, got 9");
	set_fails(f, "DataBits", vnum(7.5), "meter \"home\": DataBits: expected 5, 6, 7 or 8, got 7.5");
	set_fails(f, "DataBits", vstr("7"), "meter \"home\": DataBits: expected 5, 6, 7 or 8, got \"7\"");
	set_fails(f, "StopBits", vnum(0), "meter \"home\": StopBits: expected 1 or 2, got 0");
	set_fails(f, "StopBits", vnum(1.5), "meter \"home\": StopBits: expected 1 or 2, got 1.5");
	set_fails(f, "StopBits", vnum(3), "meter \"home\": StopBits: expected 1 or 2, got 3");
	assert_int_equal(f->m->line_set, 0);

	assert_int_equal(set1(f, "parity", vstr("EVEN")), SM_OK);
	assert_int_equal(f->m->line.parity, SM_PARITY_EVEN);
	assert_int_equal(set1(f, "DataBits", vnum(7)), SM_OK);
	assert_int_equal(f->m->line.databits, 7);
	assert_int_equal(set1(f, "StopBits", vnum(2)), SM_OK);
	assert_int_equal(f->m->line.stopbits, 2);
	assert_int_equal(f->m->line_set, SM_LINE_PARITY | SM_LINE_DATABITS | SM_LINE_STOPBITS);
	for (int b = 5; b <= 8; b++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "databits", vnum(b)), SM_OK);
		assert_int_equal(f->m->line.databits, b);
	}
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "Parity", vstr("odd")), SM_OK);
	assert_int_equal(f->m->line.parity, SM_PARITY_ODD);
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "Parity", vstr("none")), SM_OK);
	assert_int_equal(f->m->line.parity, SM_PARITY_NONE);
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "StopBits", vnum(1)), SM_OK);
	assert_int_equal(f->m->line.stopbits, 1);
}

static void test_opt_times(void **state)
{
	struct fx *f = *state;
	set_fails(f, "Interval", vnum(-1),
		  "meter \"home\": Interval: expected a number of seconds >= 0 (at most 86400), got -1");
	set_fails(f, "Interval", vstr("10"),
		  "meter \"home\": Interval: expected a number of seconds >= 0 (at most 86400), got \"10\"");
	set_fails(f, "Interval", vnum(86401),
		  "meter \"home\": Interval: expected a number of seconds >= 0 (at most 86400), got 86401");
	set_fails(f, "Timeout", vnum(0),
		  "meter \"home\": Timeout: expected a number of seconds > 0 (at most 86400), got 0");
	set_fails(f, "Timeout", vnum(-0.5),
		  "meter \"home\": Timeout: expected a number of seconds > 0 (at most 86400), got -0.5");
	set_fails(f, "Timeout", vbool(false),
		  "meter \"home\": Timeout: expected a number of seconds > 0 (at most 86400), got false");
	assert_int_equal(set1(f, "Interval", vnum(0)), SM_OK);
	assert_true(f->m->interval_s == 0);
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "Interval", vnum(2.5)), SM_OK);
	assert_true(f->m->interval_s == 2.5);
	assert_int_equal(set1(f, "TIMEOUT", vnum(0.25)), SM_OK);
	assert_true(f->m->timeout_s == 0.25);
}

static void test_opt_ignore_checksum(void **state)
{
	struct fx *f = *state;
	set_fails(f, "IgnoreChecksum", vstr("maybe"),
		  "meter \"home\": IgnoreChecksum: expected true or false, got \"maybe\"");
	set_fails(f, "IgnoreChecksum", vnum(1),
		  "meter \"home\": IgnoreChecksum: expected true or false, got 1");
	assert_int_equal(set1(f, "IgnoreChecksum", vbool(true)), SM_OK);
	assert_true(f->m->ignore_checksum);
	static const char *const words[] = {"false", "true", "FALSE", "yes", "no", "on", "off"};
	static const bool want[] = {false, true, false, true, false, true, false};
	for (size_t i = 0; i < 7; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "ignorechecksum", vstr(words[i])), SM_OK);
		assert_int_equal(f->m->ignore_checksum, want[i]);
	}
}

static void test_opt_select(void **state)
{
	struct fx *f = *state;
	struct sm_cfg_value v[3] = {vstr("energy_import"), vstr("1-0:2.8.0"), vstr("0-1:24.2.1*255")};
	assert_int_equal(sm_meter_set(f->m, "Select", v, 3, f->err, sizeof(f->err)), SM_OK);
	assert_int_equal(f->m->nselect, 3);
	assert_false(f->m->select_is_obis[0]);
	assert_true(f->m->select_is_obis[1]);
	struct sm_obis want = sm_obis_make5(1, 0, 2, 8, 0);
	assert_true(sm_obis_eq(&f->m->select_obis[1], &want));
	/* the option may repeat */
	struct sm_cfg_value w[2] = {vstr("1.8.0"), vstr("power_net_l2")};
	assert_int_equal(sm_meter_set(f->m, "select", w, 2, f->err, sizeof(f->err)), SM_OK);
	assert_int_equal(f->m->nselect, 5);
	assert_string_equal(f->m->select[3], "1.8.0");
	assert_true(f->m->select_is_obis[3]);
#define SEL_ERR(got)                                                                                \
	"meter \"home\": Select: expected reading names ([a-z0-9_]+, obis_0_0_C_1_0) or OBIS codes such as "         \
	"\"1-0:1.8.0\", got " got
	set_fails(f, "Select", vstr("Energy_Import"), SEL_ERR("\"Energy_Import\""));
	set_fails(f, "Select", vstr("1-0:1.8.0x"), SEL_ERR("\"1-0:1.8.0x\""));
	set_fails(f, "Select", vstr("1-0:1.8.300"), SEL_ERR("\"1-0:1.8.300\""));
	set_fails(f, "Select", vstr(""), SEL_ERR("\"\""));
	set_fails(f, "Select", vnum(1.8), SEL_ERR("1.8"));
	set_fails(f, "Select", vstr("a_name_that_is_far_too_long_for_any_reading_name_x"),
		  SEL_ERR("\"a_name_that_is_far_too_long_for_any_reading_name_x\""));
	/* one bad entry among good ones: nothing is added */
	struct sm_cfg_value mix[2] = {vstr("voltage_l1"), vstr("Bad")};
	assert_int_equal(sm_meter_set(f->m, "Select", mix, 2, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, SEL_ERR("\"Bad\""));
	assert_int_equal(f->m->nselect, 5);
#undef SEL_ERR
	assert_int_equal(sm_meter_set(f->m, "Select", NULL, 0, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"home\": Select: expected at least one value, got none");
	/* at most SM_MAX_SELECT in all */
	struct sm_cfg_value many[SM_MAX_SELECT];
	for (size_t i = 0; i < SM_MAX_SELECT; i++)
		many[i] = vstr("frequency");
	assert_int_equal(sm_meter_set(f->m, "Select", many, SM_MAX_SELECT - 5, f->err, sizeof(f->err)),
			 SM_OK);
	assert_int_equal(f->m->nselect, SM_MAX_SELECT);
	assert_int_equal(sm_meter_set(f->m, "Select", many, 1, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"home\": Select: expected at most 32 entries in all, got 33");
}

static void test_opt_arity_and_duplicates(void **state)
{
	struct fx *f = *state;
	struct sm_cfg_value two[2] = {vnum(9600), vnum(19200)};
	assert_int_equal(sm_meter_set(f->m, "Baudrate", two, 2, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"home\": Baudrate: expected one value, got 2");
	assert_int_equal(sm_meter_set(f->m, "Device", NULL, 0, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"home\": Device: expected a value, got none");
	assert_int_equal(set1(f, "Device", vstr("/dev/ttyUSB0")), SM_OK);
	set_fails(f, "device", vstr("/dev/ttyUSB1"), "meter \"home\": Device: given more than once");
	assert_string_equal(f->m->device, "/dev/ttyUSB0");
	assert_int_equal(set1(f, "IgnoreChecksum", vbool(false)), SM_OK);
	set_fails(f, "IgnoreChecksum", vbool(true), "meter \"home\": IgnoreChecksum: given more than once");
	/* a failed set does not count as given */
	set_fails(f, "Timeout", vnum(0),
		  "meter \"home\": Timeout: expected a number of seconds > 0 (at most 86400), got 0");
	assert_int_equal(set1(f, "Timeout", vnum(5)), SM_OK);
}

static void test_opt_unknown(void **state)
{
	struct fx *f = *state;
	set_fails(f, "Baudrat", vnum(9600),
		  "meter \"home\": unknown option \"Baudrat\" (known: " KNOWN_OPTIONS ")");
	/* options of protocols that do not exist (yet) */
	static const char *const later[] = {"UnitId", "Register", "Channel"};
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		assert_int_equal(set1(f, later[i], vstr("1")), SM_E_CONFIG);
		char want[64];
		snprintf(want, sizeof(want), "meter \"home\": unknown option \"%s\" (known: ", later[i]);
		assert_contains(f->err, want);
	}
	/* odd bytes in the option name are escaped */
	set_fails(f, "Bad\"Name\n", vnum(1),
		  "meter \"home\": unknown option \"Bad\\x22Name\\x0a\" (known: " KNOWN_OPTIONS ")");
	/* key digits where an option name goes are not echoed */
	set_fails(f, "Key_8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C", vnum(1),
		  "meter \"home\": unknown option of 36 characters (not shown: they look like key digits) (known: "
		  KNOWN_OPTIONS ")");
	/* a short error buffer is still terminated */
	char tiny[10];
	struct sm_cfg_value v = vnum(1);
	assert_int_equal(sm_meter_set(f->m, "Nope", &v, 1, tiny, sizeof(tiny)), SM_E_CONFIG);
	assert_string_equal(tiny, "meter \"ho");
	assert_int_equal(sm_meter_set(f->m, "Nope", &v, 1, NULL, 0), SM_E_CONFIG);
}

/* ---- tree -> config ---- */

#define METER(name, body) "<Meter \"" name "\">\n" body "</Meter>\n"
#define DSMR_USB0 "Protocol \"dsmr\"\nDevice \"/dev/ttyUSB0\"\n"

static void test_tree_errors(void **state)
{
	(void)state;
	load_fails("<Plugin smartmeter>\n  Protocol \"dsmr\"\n</Plugin>\n",
		   "unknown option \"Protocol\" (line 2): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks here");
	load_fails("<Plugin smartmeter>\n<Register \"m\">\n</Register>\n</Plugin>\n",
		   "unknown block <Register> (line 2): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks here");
	load_fails("<Plugin smartmeter>\nRegisterMap \"m\"\n</Plugin>\n",
		   "unknown option \"RegisterMap\" (line 2): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks here");
	load_fails("LoadPlugin csv\n" METER("a", DSMR_USB0),
		   "unknown option \"LoadPlugin\" (line 1): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks, or a <Plugin smartmeter> block holding them");
	load_fails("Meter \"a\"\n",
		   "unknown option \"Meter\" (line 1): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks, or a <Plugin smartmeter> block holding them");
	load_fails("<Plugin smartmeter>\n<Meter \"a\">\n</Meter>\n<Plugin x>\n</Plugin>\n</Plugin>\n",
		   "unknown block <Plugin> (line 4): expected <Meter \"name\"> or "
		   "<RegisterMap \"name\"> blocks here");
	load_fails("<Meter>\n</Meter>\n",
		   "<Meter> (line 1): expected one string argument (the meter name), got 0 values");
	load_fails("<Meter a b>\n</Meter>\n",
		   "<Meter> (line 1): expected one string argument (the meter name), got 2 values");
	load_fails("<Meter 5>\n</Meter>\n",
		   "<Meter> (line 1): expected one string argument (the meter name), got 5");
	load_fails(METER("a", DSMR_USB0 "<RegisterMap \"x\">\n</RegisterMap>\n"),
		   "meter \"a\": unknown block <RegisterMap> (line 4)");
	load_fails(METER("a", DSMR_USB0 "Baudrate 12345\n"),
		   "meter \"a\": Baudrate: expected one of " BAUD_LIST ", got 12345");
	load_fails(METER("a", DSMR_USB0 "UnitId 1\n"),
		   "meter \"a\": unknown option \"UnitId\" (known: " KNOWN_OPTIONS ")");
	load_fails(METER("a", DSMR_USB0) METER("a", DSMR_USB0),
		   "meter \"a\": defined more than once (meter names must be unique)");
	load_fails(METER("a b", DSMR_USB0),
		   "meter name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got \"a b\"");
	load_fails(METER("", DSMR_USB0),
		   "meter name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got \"\"");
	load_fails(METER("0123456789012345678901234567890123456789012345678901234567890123", DSMR_USB0),
		   "meter name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got "
		   "\"0123456789012345678901234567890123456789012345678901234567890123\"");
	load_fails(METER("a/b", DSMR_USB0),
		   "meter name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got \"a/b\"");
}

static void test_tree_names_ok(void **state)
{
	(void)state;
	struct sm_config c;
	char err[256] = "";
	assert_int_equal(load(METER("012345678901234567890123456789012345678901234567890123456789012", DSMR_USB0)
			      METER("Home-1.p1_x", DSMR_USB0) METER("home-1.P1_x", DSMR_USB0),
			      &c, err, sizeof(err)),
			 SM_OK);
	assert_int_equal(c.nmeters, 3);
	assert_int_equal(strlen(c.meters[0].name), 63);
	sm_config_free(&c);
}

static void test_tree_from_converted_tree(void **state)
{
	(void)state;
	/* As the plugin builds it from collectd's tree: no lines; blocks known
	 * only by having children. */
	struct sm_cfg_value proto = vstr("dsmr"), dev = vstr("/dev/ttyAMA0"), name = vstr("m1");
	struct sm_cfg_node opts[2] = {
		{(char *)(uintptr_t)"Protocol", &proto, 1, NULL, 0, 0, false},
		{(char *)(uintptr_t)"Device", &dev, 1, NULL, 0, 0, false},
	};
	struct sm_cfg_node meter = {(char *)(uintptr_t)"Meter", &name, 1, opts, 2, 0, false};
	struct sm_cfg_node plugin = {(char *)(uintptr_t)"Plugin", NULL, 0, &meter, 1, 0, false};
	struct sm_config c;
	char err[256] = "";
	sm_config_init(&c);
	assert_int_equal(sm_config_from_tree(&c, &plugin, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_string_equal(c.meters[0].device, "/dev/ttyAMA0");
	sm_config_free(&c);
	/* an option with children is a block, even without the flag */
	struct sm_cfg_node inner = {(char *)(uintptr_t)"X", NULL, 0, NULL, 0, 0, false};
	opts[1].children = &inner;
	opts[1].nchildren = 1;
	sm_config_init(&c);
	assert_int_equal(sm_config_from_tree(&c, &plugin, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "meter \"m1\": unknown block <Device>");
	sm_config_free(&c);
	/* no meters at all */
	struct sm_cfg_node empty = {(char *)(uintptr_t)"Plugin", NULL, 0, NULL, 0, 0, true};
	sm_config_init(&c);
	assert_int_equal(sm_config_from_tree(&c, &empty, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "no meters configured (expected at least one <Meter \"name\"> block)");
	sm_config_free(&c);
}

/* ---- validation and ports ---- */

static void test_validate_required(void **state)
{
	(void)state;
	char msg[256];
	snprintf(msg, sizeof(msg), "meter \"a\": Protocol: missing (expected one of %s)",
		 sm_proto_names());
	load_fails(METER("a", "Device \"/dev/ttyUSB0\"\n"), msg);
	load_fails(METER("a", "Protocol dsmr\n"),
		   "meter \"a\": Device: missing (expected a serial port path, tcp://HOST:PORT, "
		   "rtu+tcp://HOST:PORT or file:PATH)");
	load_fails("# nothing\n", "no meters configured (expected at least one <Meter \"name\"> block)");
	load_fails("<Plugin smartmeter>\n</Plugin>\n",
		   "no meters configured (expected at least one <Meter \"name\"> block)");
}

static void test_validate_defaults(void **state)
{
	(void)state;
	struct sm_config c;
	char err[256] = "";
	assert_int_equal(load(METER("a", DSMR_USB0) METER("b", "Protocol \"dsmr\"\nDevice \"file:/x\"\n"
									 "Baudrate 9600\nParity even\nDataBits 7\n"
									 "Timeout 5\nInterval 1\nIgnoreChecksum true\n"),
			      &c, err, sizeof(err)),
			 SM_OK);
	const struct sm_meter_cfg *a = &c.meters[0], *b = &c.meters[1];
	const struct sm_line *d = &sm_proto_find("dsmr")->line;
	assert_int_equal(a->line.baud, d->baud);
	assert_int_equal(a->line.databits, d->databits);
	assert_int_equal(a->line.parity, d->parity);
	assert_int_equal(a->line.stopbits, d->stopbits);
	assert_int_equal(a->line_set, 0);
	assert_true(a->timeout_s == SM_DEFAULT_TIMEOUT_S);
	assert_true(a->interval_s == 0);
	assert_false(a->ignore_checksum);
	assert_int_equal(a->nselect, 0);
	char line[32];
	sm_line_format(&a->line, line, sizeof(line));
	assert_string_equal(line, "115200 8N1");
	/* given settings kept, the rest from the protocol */
	assert_int_equal(b->line.baud, 9600);
	assert_int_equal(b->line.databits, 7);
	assert_int_equal(b->line.parity, SM_PARITY_EVEN);
	assert_int_equal(b->line.stopbits, d->stopbits);
	assert_int_equal(b->line_set, SM_LINE_BAUD | SM_LINE_PARITY | SM_LINE_DATABITS);
	sm_line_format(&b->line, line, sizeof(line));
	assert_string_equal(line, "9600 7E1");
	assert_true(b->timeout_s == 5);
	assert_true(b->interval_s == 1);
	assert_true(b->ignore_checksum);
	/* validating again changes nothing */
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_int_equal(c.meters[1].line.baud, 9600);
	assert_true(c.meters[1].timeout_s == 5);
	sm_config_free(&c);
	sm_config_free(&c); /* twice is harmless */
	sm_config_free(NULL);
}

static void test_ports_shared_device(void **state)
{
	(void)state;
	struct sm_config c;
	char err[256] = "";
	/* b agrees by giving the default explicitly */
	assert_int_equal(load(METER("a", DSMR_USB0) METER("x", "Protocol dsmr\nDevice \"tcp://127.0.0.1:2001\"\n")
			      METER("b", DSMR_USB0 "Baudrate 115200\nParity \"none\"\n"),
			      &c, err, sizeof(err)),
			 SM_OK);
	struct sm_port *p;
	size_t np;
	assert_int_equal(sm_config_ports(&c, &p, &np), SM_OK);
	assert_int_equal(np, 2);
	assert_string_equal(p[0].device, "/dev/ttyUSB0");
	assert_ptr_equal(p[0].device, c.meters[0].device);
	assert_int_equal(p[0].nmeters, 2);
	assert_ptr_equal(p[0].meters[0], &c.meters[0]);
	assert_ptr_equal(p[0].meters[1], &c.meters[2]);
	assert_int_equal(p[0].line.baud, 115200);
	assert_string_equal(p[1].device, "tcp://127.0.0.1:2001");
	assert_int_equal(p[1].nmeters, 1);
	assert_ptr_equal(p[1].meters[0], &c.meters[1]);
	sm_ports_free(p, np);
	sm_ports_free(NULL, 0);
	sm_config_free(&c);

	/* nothing to group */
	sm_config_init(&c);
	assert_int_equal(sm_config_ports(&c, &p, &np), SM_OK);
	assert_int_equal(np, 0);
	assert_null(p);
}

static void test_ports_conflict(void **state)
{
	(void)state;
	load_fails(METER("a", DSMR_USB0) METER("b", DSMR_USB0 "Baudrate 9600\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on Baudrate "
		   "(115200 vs 9600): meters on one device must use the same line settings");
	load_fails(METER("a", DSMR_USB0 "Parity odd\n") METER("z", "Protocol dsmr\nDevice \"/dev/ttyUSB1\"\n")
		   METER("b", DSMR_USB0),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on Parity "
		   "(odd vs none): meters on one device must use the same line settings");
	load_fails(METER("a", DSMR_USB0 "DataBits 7\n") METER("b", DSMR_USB0),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on DataBits "
		   "(7 vs 8): meters on one device must use the same line settings");
	load_fails(METER("a", DSMR_USB0) METER("b", DSMR_USB0 "StopBits 2\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on StopBits "
		   "(1 vs 2): meters on one device must use the same line settings");
}

static void test_line_format(void **state)
{
	(void)state;
	char out[32];
	struct sm_line l = {115200, 8, SM_PARITY_NONE, 1};
	sm_line_format(&l, out, sizeof(out));
	assert_string_equal(out, "115200 8N1");
	l = (struct sm_line){9600, 7, SM_PARITY_EVEN, 1};
	sm_line_format(&l, out, sizeof(out));
	assert_string_equal(out, "9600 7E1");
	l = (struct sm_line){300, 7, SM_PARITY_ODD, 2};
	sm_line_format(&l, out, sizeof(out));
	assert_string_equal(out, "300 7O2");
	char tiny[5];
	sm_line_format(&l, tiny, sizeof(tiny));
	assert_string_equal(tiny, "300 ");
	sm_line_format(&l, NULL, 0);
}

/* ---- Select matching ---- */

static void test_selects(void **state)
{
	struct fx *f = *state;
	struct sm_obis imp = sm_obis_make5(1, 0, 1, 8, 0), exp = sm_obis_make5(1, 0, 2, 8, 0);
	struct sm_obis exp_f = sm_obis_make(1, 0, 2, 8, 0, 255), other = sm_obis_make5(1, 0, 32, 7, 0);
	assert_true(sm_meter_selects(f->m, &imp, "energy_import"));
	assert_true(sm_meter_selects(f->m, NULL, NULL));
	assert_true(sm_meter_selects(NULL, &imp, "x"));
	struct sm_cfg_value v[2] = {vstr("energy_import"), vstr("1-0:2.8.0")};
	assert_int_equal(sm_meter_set(f->m, "Select", v, 2, f->err, sizeof(f->err)), SM_OK);
	assert_true(sm_meter_selects(f->m, &imp, "energy_import"));
	assert_true(sm_meter_selects(f->m, NULL, "energy_import")); /* by name */
	assert_true(sm_meter_selects(f->m, &exp, "something_else")); /* by code */
	assert_true(sm_meter_selects(f->m, &exp_f, NULL));           /* F=255 equals absent F */
	assert_false(sm_meter_selects(f->m, &other, "voltage_l1"));
	assert_false(sm_meter_selects(f->m, &imp, "energy_import_t1"));
	assert_false(sm_meter_selects(f->m, NULL, NULL));
	assert_false(sm_meter_selects(f->m, &other, "Energy_import"));
}

/* ---- command line flags ---- */

static enum sm_err flag(struct fx *f, const char *name, const char *value)
{
	f->err[0] = '\0';
	return sm_meter_set_flag(f->m, name, value, f->err, sizeof(f->err));
}

static void flag_fails(struct fx *f, const char *name, const char *value, const char *msg)
{
	enum sm_err rc = flag(f, name, value);
	if (rc != SM_E_CONFIG)
		fail_msg("--%s %s: expected \"%s\", got rc %d", name, value ? value : "(null)", msg, rc);
	assert_string_equal(f->err, msg);
}

static void test_flags_valid(void **state)
{
	struct fx *f = *state;
	assert_int_equal(flag(f, "protocol", "dsmr"), SM_OK);
	assert_int_equal(flag(f, "device", "tcp://127.0.0.1:2000"), SM_OK);
	assert_int_equal(flag(f, "--baudrate", "9600"), SM_OK); /* dashes tolerated */
	assert_int_equal(flag(f, "parity", "even"), SM_OK);
	assert_int_equal(flag(f, "data-bits", "7"), SM_OK);
	assert_int_equal(flag(f, "stop-bits", "2"), SM_OK);
	assert_int_equal(flag(f, "interval", "0x10"), SM_OK);
	assert_int_equal(flag(f, "timeout", "2.5"), SM_OK);
	assert_int_equal(flag(f, "ignore-checksum", NULL), SM_OK);
	assert_int_equal(flag(f, "select", "energy_import,1-0:2.8.0"), SM_OK);
	assert_int_equal(flag(f, "select", "voltage_l1"), SM_OK);
	const struct sm_meter_cfg *m = f->m;
	assert_string_equal(m->proto->name, "dsmr");
	assert_string_equal(m->device, "tcp://127.0.0.1:2000");
	assert_int_equal(m->line.baud, 9600);
	assert_int_equal(m->line.parity, SM_PARITY_EVEN);
	assert_int_equal(m->line.databits, 7);
	assert_int_equal(m->line.stopbits, 2);
	assert_true(m->interval_s == 16);
	assert_true(m->timeout_s == 2.5);
	assert_true(m->ignore_checksum);
	assert_int_equal(m->nselect, 3);
	assert_string_equal(m->select[1], "1-0:2.8.0");
	assert_true(m->select_is_obis[1]);
	assert_string_equal(m->select[2], "voltage_l1");
	assert_int_equal(sm_config_validate(&f->c, f->err, sizeof(f->err)), SM_OK);

	static const char *const words[] = {"false", "true", "no", "yes", "0", "1", "off", "on", "FALSE", "TRUE"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		f->m->opt_set = 0;
		assert_int_equal(flag(f, "ignore-checksum", words[i]), SM_OK);
		assert_int_equal(f->m->ignore_checksum, (i % 2) == 1);
	}
}

static void test_flags_invalid(void **state)
{
	struct fx *f = *state;
	flag_fails(f, "baudrate", "12345", "--baudrate: expected one of " BAUD_LIST ", got 12345");
	flag_fails(f, "baudrate", "96oo", "--baudrate: expected a number, got \"96oo\"");
	flag_fails(f, "baudrate", " 9600", "--baudrate: expected a number, got \" 9600\"");
	flag_fails(f, "baudrate", "", "--baudrate: expected a number, got \"\"");
	flag_fails(f, "baudrate", NULL, "--baudrate: expected a value (BAUD), got none");
	flag_fails(f, "data-bits", "9", "--data-bits: expected 5, 6, 7 or 8, got 9");
	flag_fails(f, "interval", "-1",
		   "--interval: expected a number of seconds >= 0 (at most 86400), got -1");
	flag_fails(f, "parity", "space", "--parity: expected \"none\", \"even\" or \"odd\", got \"space\"");
	flag_fails(f, "device", "tcp://h:0",
		   "--device: expected a serial port path, tcp://HOST:PORT, rtu+tcp://HOST:PORT or "
		   "file:PATH, got \"tcp://h:0\" (port must be 1..65535)");
	flag_fails(f, "ignore-checksum", "maybe",
		   "--ignore-checksum: expected true, false, yes, no, 1 or 0, got \"maybe\"");
	flag_fails(f, "select", "energy_import,,power_import",
		   "--select: expected reading names ([a-z0-9_]+, obis_0_0_C_1_0) or OBIS codes such as \"1-0:1.8.0\", "
		   "got \"\"");
	flag_fails(f, "select", "Energy",
		   "--select: expected reading names ([a-z0-9_]+, obis_0_0_C_1_0) or OBIS codes such as \"1-0:1.8.0\", "
		   "got \"Energy\"");
	assert_int_equal(f->m->nselect, 0);
	flag_fails(f, "unit-id", "1", "--unit-id: unknown option (known: " KNOWN_FLAGS ")");
	flag_fails(f, "Baudrate", "9600", "--Baudrate: unknown option (known: " KNOWN_FLAGS ")");
	/* key digits where a flag goes are not echoed (fuzz finding) */
	flag_fails(f, "key8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C", "x",
		   "an unknown option of 35 characters (not shown: they look like key digits; a key goes after "
		   "--key) (known: " KNOWN_FLAGS ")");
	char msg[256];
	snprintf(msg, sizeof(msg), "--protocol: expected one of %s, got \"p1\"", sm_proto_names());
	flag_fails(f, "protocol", "p1", msg);
	assert_int_equal(flag(f, "timeout", "1"), SM_OK);
	flag_fails(f, "timeout", "2", "--timeout: given more than once");

	/* too many comma-separated entries */
	char many[4 * (SM_MAX_SELECT + 1) + 1];
	size_t o = 0;
	for (int i = 0; i <= SM_MAX_SELECT; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%sa%02d", i ? "," : "", i);
	flag_fails(f, "select", many, "--select: expected at most 32 entries in all, got more");
	many[4 * SM_MAX_SELECT - 1] = '\0'; /* exactly 32 */
	assert_int_equal(flag(f, "select", many), SM_OK);
	assert_int_equal(f->m->nselect, SM_MAX_SELECT);
	flag_fails(f, "select", "a", "--select: expected at most 32 entries in all, got 33");
}

/* ---- IEC 62056-21 options ---- */

/* Until the real "iec62056-21" protocol is in the table, a stand-in with
 * the same name and line defaults (300 7E1; mode D 9600 7E1) lets the
 * validator's rules be tested; with the real one present it is used. */
static void fake_iec_line_defaults(const struct sm_meter_cfg *cfg, struct sm_line *out)
{
	if (cfg->iec_mode == 'D')
		*out = (struct sm_line){9600, 7, SM_PARITY_EVEN, 1};
	else
		*out = (struct sm_line){300, 7, SM_PARITY_EVEN, 1};
}

static const struct sm_proto fake_iec = {
	.name = "iec62056-21",
	.description = "stand-in for the validator tests",
	.line = {300, 7, SM_PARITY_EVEN, 1},
	.line_defaults = fake_iec_line_defaults,
};

static const struct sm_proto *iec_proto(void)
{
	const struct sm_proto *p = sm_proto_find("iec62056-21");
	return p != NULL ? p : &fake_iec;
}

/* Add meter name on dev with protocol iec62056-21 and the given options
 * (pairs of option name and value text: numbers for MaxBaudrate and
 * BaudSwitchDelay, booleans for WakeUp, strings otherwise). */
static void add_iec(struct sm_config *c, const char *name, const char *dev, ...)
{
	struct sm_meter_cfg *m;
	char err[512] = "";
	if (sm_config_add_meter(c, name, &m, err, sizeof(err)) != SM_OK)
		fail_msg("add %s: %s", name, err);
	m->proto = iec_proto();
	if (sm_meter_set_flag(m, "device", dev, err, sizeof(err)) != SM_OK)
		fail_msg("%s", err);
	va_list ap;
	va_start(ap, dev);
	for (;;) {
		const char *opt = va_arg(ap, const char *);
		if (opt == NULL)
			break;
		const char *val = va_arg(ap, const char *);
		if (sm_meter_set_flag(m, sm_option_find(opt)->flag, val, err, sizeof(err)) != SM_OK)
			fail_msg("%s %s: %s", opt, val, err);
	}
	va_end(ap);
}

static void validate_fails(struct sm_config *c, const char *msg)
{
	char err[512] = "";
	enum sm_err rc = sm_config_validate(c, err, sizeof(err));
	if (rc != SM_E_CONFIG)
		fail_msg("expected an error \"%s\", got rc %d", msg, rc);
	assert_string_equal(err, msg);
	sm_config_free(c);
}

static void validate_ok(struct sm_config *c)
{
	char err[512] = "";
	if (sm_config_validate(c, err, sizeof(err)) != SM_OK)
		fail_msg("validate: %s", err);
}

static void test_opt_iec_values(void **state)
{
	struct fx *f = *state;
	/* defaults of a new meter */
	assert_int_equal(f->m->iec_mode, 'C');
	assert_null(f->m->address);
	assert_int_equal(f->m->max_baud, 0);
	assert_true(f->m->baud_switch_delay_s == 0.3);
	assert_false(f->m->wakeup);

	/* Mode */
#define MODE_ERR(got) "meter \"home\": Mode: expected \"A\", \"B\", \"C\" or \"D\", got " got
	set_fails(f, "Mode", vstr("E"), MODE_ERR("\"E\""));
	set_fails(f, "Mode", vstr("AB"), MODE_ERR("\"AB\""));
	set_fails(f, "Mode", vstr(""), MODE_ERR("\"\""));
	set_fails(f, "Mode", vnum(3), MODE_ERR("3"));
	set_fails(f, "Mode", vbool(true), MODE_ERR("true"));
#undef MODE_ERR
	static const char *const modes[] = {"A", "b", "C", "d"};
	for (size_t i = 0; i < 4; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "mode", vstr(modes[i])), SM_OK);
		assert_int_equal(f->m->iec_mode, "ABCD"[i]);
	}
	set_fails(f, "Mode", vstr("A"), "meter \"home\": Mode: given more than once");

	/* Address */
#define ADDR_ERR(got) "meter \"home\": Address: expected a string of 1 to 32 characters of 0-9 A-Z a-z or space, got " got
	set_fails(f, "Address", vstr("abc-1"), ADDR_ERR("\"abc-1\""));
	set_fails(f, "Address", vstr(""), ADDR_ERR("\"\" (empty)"));
	set_fails(f, "Address", vstr("123456789012345678901234567890123"),
		  ADDR_ERR("\"123456789012345678901234567890123\""));
	set_fails(f, "Address", vstr("12\n"), ADDR_ERR("\"12\\x0a\""));
	set_fails(f, "Address", vbool(false), ADDR_ERR("false"));
	set_fails(f, "Address", vnum(42),
		  "meter \"home\": Address: expected a quoted string of 1 to 32 characters of 0-9 A-Z "
		  "a-z or space, got 42 (quote it: leading zeros are part of an address)");
#undef ADDR_ERR
	assert_null(f->m->address);
	static const char *const addrs[] = {"12345678", "Bla0", "a b", "00000001",
					    "12345678901234567890123456789012"};
	for (size_t i = 0; i < 5; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "ADDRESS", vstr(addrs[i])), SM_OK);
		assert_string_equal(f->m->address, addrs[i]);
	}
	set_fails(f, "Address", vstr("1"), "meter \"home\": Address: given more than once");

	/* MaxBaudrate */
#define MAXB_ERR(got) "meter \"home\": MaxBaudrate: expected one of " IEC_BAUD_LIST ", got " got
	set_fails(f, "MaxBaudrate", vnum(38400), MAXB_ERR("38400"));
	set_fails(f, "MaxBaudrate", vnum(9600.5), MAXB_ERR("9600.5"));
	set_fails(f, "MaxBaudrate", vnum(0), MAXB_ERR("0"));
	set_fails(f, "MaxBaudrate", vstr("9600"), MAXB_ERR("\"9600\""));
#undef MAXB_ERR
	static const int speeds[] = {300, 600, 1200, 2400, 4800, 9600, 19200};
	for (size_t i = 0; i < 7; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "maxbaudrate", vnum(speeds[i])), SM_OK);
		assert_int_equal(f->m->max_baud, speeds[i]);
	}

	/* BaudSwitchDelay */
#define DELAY_ERR(got) "meter \"home\": BaudSwitchDelay: expected a number of seconds from 0 to 5, got " got
	set_fails(f, "BaudSwitchDelay", vnum(-0.1), DELAY_ERR("-0.1"));
	set_fails(f, "BaudSwitchDelay", vnum(5.01), DELAY_ERR("5.01"));
	set_fails(f, "BaudSwitchDelay", vstr("0.3"), DELAY_ERR("\"0.3\""));
#undef DELAY_ERR
	static const double delays[] = {0, 5, 0.45};
	for (size_t i = 0; i < 3; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "BaudSwitchDelay", vnum(delays[i])), SM_OK);
		assert_true(f->m->baud_switch_delay_s == delays[i]);
	}

	/* WakeUp */
	set_fails(f, "WakeUp", vstr("maybe"), "meter \"home\": WakeUp: expected true or false, got \"maybe\"");
	set_fails(f, "WakeUp", vnum(1), "meter \"home\": WakeUp: expected true or false, got 1");
	assert_int_equal(set1(f, "wakeup", vbool(true)), SM_OK);
	assert_true(f->m->wakeup);
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "WakeUp", vstr("off")), SM_OK);
	assert_false(f->m->wakeup);
}

static void test_flags_iec(void **state)
{
	struct fx *f = *state;
	f->m->proto = iec_proto();
	assert_int_equal(flag(f, "device", "/dev/ttyUSB0"), SM_OK);
	assert_int_equal(flag(f, "mode", "b"), SM_OK);
	assert_int_equal(flag(f, "address", "0042"), SM_OK);
	assert_int_equal(flag(f, "max-baudrate", "0x2580"), SM_OK);
	assert_int_equal(flag(f, "baud-switch-delay", "0.5"), SM_OK);
	assert_int_equal(flag(f, "wake-up", NULL), SM_OK);
	assert_int_equal(f->m->iec_mode, 'B');
	assert_string_equal(f->m->address, "0042");
	assert_int_equal(f->m->max_baud, 9600);
	assert_true(f->m->baud_switch_delay_s == 0.5);
	assert_true(f->m->wakeup);
	assert_int_equal(sm_config_validate(&f->c, f->err, sizeof(f->err)), SM_OK);
	/* given values survive validation */
	assert_int_equal(f->m->iec_mode, 'B');
	assert_true(f->m->baud_switch_delay_s == 0.5);
	unsigned long long given = f->m->opt_set;
	f->m->opt_set = 0;
	flag_fails(f, "max-baudrate", "12345", "--max-baudrate: expected one of " IEC_BAUD_LIST ", got 12345");
	flag_fails(f, "mode", "E", "--mode: expected \"A\", \"B\", \"C\" or \"D\", got \"E\"");
	flag_fails(f, "address", "a:b", "--address: expected a string of 1 to 32 characters of 0-9 A-Z a-z or space, got \"a:b\"");
	flag_fails(f, "baud-switch-delay", "6", "--baud-switch-delay: expected a number of seconds from 0 to 5, got 6");
	flag_fails(f, "wake-up", "2", "--wake-up: expected true, false, yes, no, 1 or 0, got \"2\"");
	assert_int_equal(f->m->max_baud, 9600); /* unchanged by the failures */
	assert_int_equal(f->m->iec_mode, 'B');
	assert_string_equal(f->m->address, "0042");
	f->m->opt_set = given;
	flag_fails(f, "wake-up", "0", "--wake-up: given more than once");
}

/* ---- keys and Framing (Protocols "dlms" and "dsmr") ---- */

/* Until the real "dlms" protocol is in the table, a stand-in with the line
 * defaults of SPEC.md section 2 (M-Bus 2400 8E1, HDLC and raw 2400 8N1). */
static void fake_dlms_line_defaults(const struct sm_meter_cfg *cfg, struct sm_line *out)
{
	if (cfg->framing == 'm')
		*out = (struct sm_line){2400, 8, SM_PARITY_EVEN, 1};
	else
		*out = (struct sm_line){2400, 8, SM_PARITY_NONE, 1};
}

static const struct sm_proto fake_dlms = {
	.name = "dlms",
	.description = "stand-in for the validator tests",
	.line = {2400, 8, SM_PARITY_EVEN, 1},
	.line_defaults = fake_dlms_line_defaults,
};

static const struct sm_proto *dlms_proto(void)
{
	const struct sm_proto *p = sm_proto_find("dlms");
	return p != NULL ? p : &fake_dlms;
}

/* Until the real "modbus" protocol is in the table, a stand-in with its
 * name and line defaults (9600 8N1) for the table and validator tests that
 * build meters by hand; tests from config text skip without the real one. */
static const struct sm_proto fake_modbus = {
	.name = "modbus",
	.description = "stand-in for the validator tests",
	.line = {9600, 8, SM_PARITY_NONE, 1},
};

static const struct sm_proto *mb_proto(void)
{
	const struct sm_proto *p = sm_proto_find("modbus");
	return p != NULL ? p : &fake_modbus;
}

/* The secret of these tests: no message may ever hold a piece of it. */
#define KEY_HEX "8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C"
static const uint8_t key_bytes[16] = {0x8f, 0x3a, 0xc9, 0xe1, 0xd7, 0xb2, 0x4f, 0x6a,
				      0x0c, 0x5e, 0x9d, 0x3b, 0x7a, 0x1f, 0x4e, 0x2c};
#define AUTH_HEX "00112233445566778899AABBCCDDEEFF"
static const uint8_t auth_bytes[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
#define KEY_ERR(opt, got) "meter \"home\": " opt ": expected 32 hex digits (an AES-128 key), got " got

/* A temporary file holding n bytes of content with the given mode; the
 * path is malloc'd (remove and free it with drop_file). */
static char *temp_file(const char *content, size_t n, mode_t mode)
{
	char tmpl[] = "/tmp/sm-test-key-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	char *p = strdup(tmpl);
	assert_non_null(p);
	return p;
}

static void drop_file(char *path)
{
	unlink(path);
	free(path);
}

static void add_dlms(struct sm_config *c, const char *name, const char *dev, ...)
{
	struct sm_meter_cfg *m;
	char err[512] = "";
	if (sm_config_add_meter(c, name, &m, err, sizeof(err)) != SM_OK)
		fail_msg("add %s: %s", name, err);
	m->proto = dlms_proto();
	if (sm_meter_set_flag(m, "device", dev, err, sizeof(err)) != SM_OK)
		fail_msg("%s", err);
	va_list ap;
	va_start(ap, dev);
	for (;;) {
		const char *opt = va_arg(ap, const char *);
		if (opt == NULL)
			break;
		const char *val = va_arg(ap, const char *);
		if (sm_meter_set_flag(m, sm_option_find(opt)->flag, val, err, sizeof(err)) != SM_OK)
			fail_msg("%s: %s", opt, err);
	}
	va_end(ap);
}

static void test_opt_key_values(void **state)
{
	struct fx *f = *state;
	/* defaults of a new meter */
	assert_false(f->m->has_key);
	assert_false(f->m->has_auth_key);
	assert_null(f->m->key_file);
	assert_null(f->m->warnings);
	assert_int_equal(f->m->framing, 'm');

	/* what is not a key: the message counts, it never quotes */
	set_fails(f, "Key", vstr("8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2"), KEY_ERR("Key", "31 characters"));
	set_fails(f, "Key", vstr(KEY_HEX "0"), KEY_ERR("Key", "33 characters"));
	set_fails(f, "Key", vstr("8"), KEY_ERR("Key", "1 character"));
	set_fails(f, "Key", vstr(""), KEY_ERR("Key", "nothing"));
	set_fails(f, "Key", vstr(" \t "), KEY_ERR("Key", "only blanks"));
	set_fails(f, "Key", vstr("0x" KEY_HEX),
		  KEY_ERR("Key", "34 characters, 1 of them not a hex digit (leave out the 0x prefix)"));
	set_fails(f, "Key", vstr("8F:3A:C9:E1:D7:B2:4F:6A:0C:5E:9D:3B:7A:1F:4E:2C"),
		  KEY_ERR("Key", "47 characters, 15 of them not hex digits (leave out the separators)"));
	set_fails(f, "Key", vstr("8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2G"),
		  KEY_ERR("Key", "32 characters, 1 of them not a hex digit"));
	set_fails(f, "Key", vstr("8F3AC9E1D7B24F6A 0C5E9D3B7A1F4E2C"),
		  KEY_ERR("Key", "33 characters, 1 of them not a hex digit (leave out the separators)"));
	set_fails(f, "Key", vnum(1234),
		  "meter \"home\": Key: expected a quoted string of 32 hex digits (an AES-128 key), got "
		  "a number (write the key in double quotes)");
	set_fails(f, "Key", vbool(true),
		  "meter \"home\": Key: expected a quoted string of 32 hex digits (an AES-128 key), got "
		  "a boolean");
	set_fails(f, "AuthKey", vstr("0011"), KEY_ERR("AuthKey", "4 characters"));
	assert_false(f->m->has_key);

	/* keys: either case, blanks around */
	assert_int_equal(set1(f, "Key", vstr(" \t8f3ac9e1d7b24f6a0C5E9D3B7A1F4E2C\n")), SM_OK);
	assert_true(f->m->has_key);
	assert_memory_equal(f->m->key, key_bytes, 16);
	set_fails(f, "KEY", vstr(KEY_HEX), "meter \"home\": Key: given more than once");
	assert_int_equal(set1(f, "authkey", vstr(AUTH_HEX)), SM_OK);
	assert_true(f->m->has_auth_key);
	assert_memory_equal(f->m->auth_key, auth_bytes, 16);
	set_fails(f, "AuthKey", vstr(AUTH_HEX), "meter \"home\": AuthKey: given more than once");
	/* several values */
	struct sm_cfg_value two[2] = {vstr(KEY_HEX), vstr(KEY_HEX)};
	f->err[0] = '\0';
	struct sm_meter_cfg *m2;
	assert_int_equal(sm_config_add_meter(&f->c, "two", &m2, f->err, sizeof(f->err)), SM_OK);
	assert_int_equal(sm_meter_set(m2, "Key", two, 2, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"two\": Key: expected one value, got 2");
	assert_false(m2->has_key);
}

static void test_opt_framing(void **state)
{
	struct fx *f = *state;
	set_fails(f, "Framing", vstr("serial"),
		  "meter \"home\": Framing: expected \"mbus\", \"hdlc\" or \"raw\", got \"serial\"");
	set_fails(f, "Framing", vnum(1), "meter \"home\": Framing: expected \"mbus\", \"hdlc\" or \"raw\", got 1");
	assert_int_equal(set1(f, "Framing", vstr("HDLC")), SM_OK);
	assert_int_equal(f->m->framing, 'h');
	set_fails(f, "Framing", vstr("raw"), "meter \"home\": Framing: given more than once");
	assert_int_equal(flag(f, "framing", "x"), SM_E_CONFIG);
	assert_string_equal(f->err, "--framing: given more than once");

	struct sm_config c;
	sm_config_init(&c);
	static const char *const names[] = {"mbus", "Raw", "hdlc"};
	static const char codes[] = {'m', 'r', 'h'};
	for (size_t i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof(name), "m%zu", i);
		add_dlms(&c, name, "/dev/ttyUSB0", "Framing", names[i], NULL);
		assert_int_equal(c.meters[i].framing, codes[i]);
	}
	sm_config_free(&c);
}

static void test_key_file(void **state)
{
	struct fx *f = *state;
	char msg[1024];
	static const char body[] = "  " KEY_HEX "\n";
	char *p600 = temp_file(body, strlen(body), 0600);
	char *p644 = temp_file(body, strlen(body), 0644);
	char *p640 = temp_file(body, strlen(body), 0640);
	char *p604 = temp_file(body, strlen(body), 0604);
	char *pshort = temp_file(KEY_HEX, 31, 0600);
	char *pempty = temp_file("", 0, 0600);
	char *pjunk = temp_file("key = " KEY_HEX "\n", 39, 0600);
	char big[5000];
	memset(big, ' ', sizeof(big));
	memcpy(big, KEY_HEX, 32);
	char *pbig = temp_file(big, sizeof(big), 0600);

	/* errors leave the meter as it was */
	set_fails(f, "KeyFile", vstr("/nonexistent/sm.key"),
		  "meter \"home\": KeyFile: cannot open \"/nonexistent/sm.key\": No such file or directory");
	set_fails(f, "KeyFile", vstr("/"),
		  "meter \"home\": KeyFile: expected \"/\" to be a regular file holding the key");
	set_fails(f, "KeyFile", vstr(""),
		  "meter \"home\": KeyFile: expected the path of a file holding the key, got \"\" (empty)");
	set_fails(f, "KeyFile", vnum(5),
		  "meter \"home\": KeyFile: expected the path of a file holding the key, got 5");
	set_fails(f, "KeyFile", vstr(KEY_HEX),
		  "meter \"home\": KeyFile: expected the path of a file holding the key, got 32 hex "
		  "digits (a key itself goes into Key)");
	snprintf(msg, sizeof(msg),
		 "meter \"home\": KeyFile: expected \"%s\" to hold 32 hex digits (an AES-128 key), got "
		 "31 characters",
		 pshort);
	set_fails(f, "KeyFile", vstr(pshort), msg);
	snprintf(msg, sizeof(msg),
		 "meter \"home\": KeyFile: expected \"%s\" to hold 32 hex digits (an AES-128 key), got "
		 "nothing",
		 pempty);
	set_fails(f, "KeyFile", vstr(pempty), msg);
	snprintf(msg, sizeof(msg),
		 "meter \"home\": KeyFile: expected \"%s\" to hold 32 hex digits (an AES-128 key), got "
		 "38 characters, 5 of them not hex digits",
		 pjunk);
	set_fails(f, "KeyFile", vstr(pjunk), msg);
	snprintf(msg, sizeof(msg),
		 "meter \"home\": KeyFile: expected \"%s\" to hold 32 hex digits (an AES-128 key), but "
		 "it is larger than 4096 bytes",
		 pbig);
	set_fails(f, "KeyFile", vstr(pbig), msg);

	/* a private file: the key, the path, no warning */
	assert_int_equal(set1(f, "KeyFile", vstr(p600)), SM_OK);
	assert_true(f->m->has_key);
	assert_memory_equal(f->m->key, key_bytes, 16);
	assert_string_equal(f->m->key_file, p600);
	assert_null(f->m->warnings);
	/* Key and KeyFile exclude each other, in either order */
	set_fails(f, "Key", vstr(KEY_HEX),
		  "meter \"home\": Key: KeyFile is given as well: give the key either with Key or with "
		  "KeyFile, not both");
	struct sm_meter_cfg *m;
	assert_int_equal(sm_config_add_meter(&f->c, "k", &m, f->err, sizeof(f->err)), SM_OK);
	struct sm_cfg_value v = vstr(KEY_HEX);
	assert_int_equal(sm_meter_set(m, "Key", &v, 1, f->err, sizeof(f->err)), SM_OK);
	v = vstr(p600);
	assert_int_equal(sm_meter_set(m, "KeyFile", &v, 1, f->err, sizeof(f->err)), SM_E_CONFIG);
	assert_string_equal(f->err, "meter \"k\": KeyFile: Key is given as well: give the key either "
				    "with Key or with KeyFile, not both");
	assert_null(m->key_file);

	/* files others can read: a warning each, gathered by the validator */
	struct sm_config c;
	char err[512];
	sm_config_init(&c);
	add_dlms(&c, "a", "/dev/ttyUSB0", "KeyFile", p644, NULL);
	add_dlms(&c, "b", "/dev/ttyUSB1", "KeyFile", p600, NULL);
	add_dlms(&c, "c", "/dev/ttyUSB2", "KeyFile", p640, NULL);
	add_dlms(&c, "d", "/dev/ttyUSB3", "KeyFile", p604, NULL);
	assert_memory_equal(c.meters[0].key, key_bytes, 16);
	snprintf(msg, sizeof(msg),
		 "--key-file: \"%s\" is readable by group and others (mode 0644): the key should be "
		 "readable by its owner only (chmod 600)\n",
		 p644);
	assert_string_equal(c.meters[0].warnings, msg);
	assert_null(c.meters[1].warnings);
	assert_null(c.warnings);
	validate_ok(&c);
	snprintf(msg, sizeof(msg),
		 "--key-file: \"%s\" is readable by group and others (mode 0644): the key should be "
		 "readable by its owner only (chmod 600)\n"
		 "--key-file: \"%s\" is readable by its group (mode 0640): the key should be readable "
		 "by its owner only (chmod 600)\n"
		 "--key-file: \"%s\" is readable by others (mode 0604): the key should be readable by "
		 "its owner only (chmod 600)\n",
		 p644, p640, p604);
	assert_non_null(c.warnings);
	assert_string_equal(c.warnings, msg);
	/* validating again does not repeat them */
	validate_ok(&c);
	assert_string_equal(c.warnings, msg);
	sm_config_free(&c);
	assert_null(c.warnings);

	/* from a config file: the warning names the meter and the option */
	char text[1024];
	snprintf(text, sizeof(text), METER("x", DSMR_USB0 "KeyFile \"%s\"\n"), p644);
	assert_int_equal(load(text, &c, err, sizeof(err)), SM_OK);
	assert_true(c.meters[0].has_key);
	snprintf(msg, sizeof(msg),
		 "meter \"x\": KeyFile: \"%s\" is readable by group and others (mode 0644): the key "
		 "should be readable by its owner only (chmod 600)\n",
		 p644);
	assert_string_equal(c.warnings, msg);
	sm_config_free(&c);
	/* an invalid configuration still reports its warnings */
	snprintf(text, sizeof(text), METER("x", "KeyFile \"%s\"\nProtocol \"dsmr\"\n"), p644);
	assert_int_equal(load(text, &c, err, sizeof(err)), SM_E_CONFIG);
	assert_contains(err, "Device: missing");
	assert_non_null(c.warnings);
	sm_config_free(&c);
	snprintf(text, sizeof(text), METER("x", DSMR_USB0 "Key \"" KEY_HEX "\"\nKeyFile \"%s\"\n"), p600);
	load_fails(text, "meter \"x\": KeyFile: Key is given as well: give the key either with Key or "
			 "with KeyFile, not both");

	/* the same from flags */
	struct fx g = {0};
	sm_config_init(&g.c);
	assert_int_equal(sm_config_add_meter(&g.c, "meter", &g.m, g.err, sizeof(g.err)), SM_OK);
	assert_int_equal(flag(&g, "key-file", p600), SM_OK);
	flag_fails(&g, "key", KEY_HEX,
		   "--key: --key-file is given as well: give the key either with --key or with "
		   "--key-file, not both");
	flag_fails(&g, "key-file", p600, "--key-file: given more than once");
	sm_config_free(&g.c);
	sm_config_init(&g.c);
	assert_int_equal(sm_config_add_meter(&g.c, "meter", &g.m, g.err, sizeof(g.err)), SM_OK);
	assert_int_equal(flag(&g, "key", KEY_HEX), SM_OK);
	flag_fails(&g, "key-file", p600,
		   "--key-file: --key is given as well: give the key either with --key or with "
		   "--key-file, not both");
	flag_fails(&g, "auth-key", "00",
		   "--auth-key: expected 32 hex digits (an AES-128 key), got 2 characters");
	assert_int_equal(flag(&g, "auth-key", AUTH_HEX), SM_OK);
	assert_memory_equal(g.m->auth_key, auth_bytes, 16);
	sm_config_free(&g.c);

	drop_file(p600);
	drop_file(p644);
	drop_file(p640);
	drop_file(p604);
	drop_file(pshort);
	drop_file(pempty);
	drop_file(pjunk);
	drop_file(pbig);
}

static void test_key_validate(void **state)
{
	(void)state;
	struct sm_config c;
	char err[512], line[64];

	/* dsmr with a Key (Luxembourg Smarty): the DSMR line */
	assert_int_equal(load(METER("lu", DSMR_USB0 "Key \"" KEY_HEX "\"\nAuthKey \"" AUTH_HEX "\"\n"), &c, err,
			      sizeof(err)),
			 SM_OK);
	assert_true(c.meters[0].has_key && c.meters[0].has_auth_key);
	assert_memory_equal(c.meters[0].key, key_bytes, 16);
	sm_line_format(&c.meters[0].line, line, sizeof(line));
	assert_string_equal(line, "115200 8N1");
	assert_null(c.warnings);
	sm_config_free(&c);

	/* AuthKey alone */
	load_fails(METER("a", DSMR_USB0 "AuthKey \"" AUTH_HEX "\"\n"),
		   "meter \"a\": AuthKey: needs Key or KeyFile as well (the AuthKey only authenticates "
		   "frames encrypted with the Key)");
	/* keys and Framing for protocols they do not apply to */
	load_fails(METER("a", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\nKey \"" KEY_HEX "\"\n"),
		   "meter \"a\": Key: applies only to Protocol \"dlms\" or \"dsmr\" (this meter's "
		   "Protocol is \"iec62056-21\")");
	load_fails(METER("a", "AuthKey \"" AUTH_HEX "\"\nProtocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\n"),
		   "meter \"a\": AuthKey: applies only to Protocol \"dlms\" or \"dsmr\" (this meter's "
		   "Protocol is \"iec62056-21\")");
	load_fails(METER("a", DSMR_USB0 "Framing \"hdlc\"\n"),
		   "meter \"a\": Framing: applies only to Protocol \"dlms\" (this meter's Protocol is "
		   "\"dsmr\")");

	/* dlms line defaults follow Framing (default mbus) */
	static const struct {
		const char *framing;
		const char *line;
	} cases[] = {{NULL, "2400 8E1"}, {"mbus", "2400 8E1"}, {"hdlc", "2400 8N1"}, {"raw", "2400 8N1"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sm_config_init(&c);
		if (cases[i].framing != NULL)
			add_dlms(&c, "at", "/dev/ttyUSB0", "Key", KEY_HEX, "Framing", cases[i].framing, NULL);
		else
			add_dlms(&c, "at", "/dev/ttyUSB0", "Key", KEY_HEX, NULL);
		validate_ok(&c);
		assert_int_equal(c.meters[0].framing, cases[i].framing ? cases[i].framing[0] : 'm');
		sm_line_format(&c.meters[0].line, line, sizeof(line));
		/* the contract: M-Bus 2400 8E1, HDLC 2400 8N1 (SPEC.md section 2),
		 * raw 2400 8N1 (issue 4): proto_dlms.c's line_defaults */
		if (strcmp(line, cases[i].line) != 0)
			fail_msg("dlms meter with Framing %s: line defaults %s, expected %s (M-Bus 2400 8E1, "
				 "HDLC and raw 2400 8N1)",
				 cases[i].framing ? cases[i].framing : "(default)", line, cases[i].line);
		sm_config_free(&c);
	}
	/* a plain dlms meter needs no key; an explicit line wins */
	sm_config_init(&c);
	add_dlms(&c, "plain", "/dev/ttyUSB0", "Parity", "none", NULL);
	validate_ok(&c);
	assert_false(c.meters[0].has_key);
	sm_line_format(&c.meters[0].line, line, sizeof(line));
	assert_string_equal(line, "2400 8N1");
	sm_config_free(&c);
	if (sm_proto_find("dlms") != NULL) {
		assert_int_equal(load(METER("evn", "Protocol \"dlms\"\nDevice \"/dev/ttyUSB0\"\nKey \"" KEY_HEX
						   "\"\nFraming \"mbus\"\n"),
				      &c, err, sizeof(err)),
				 SM_OK);
		sm_line_format(&c.meters[0].line, line, sizeof(line));
		assert_string_equal(line, "2400 8E1");
		sm_config_free(&c);
	}
}

/* Whether msg holds 4 or more characters in a row of the key's hex text
 * (case-insensitive). */
static bool holds_key_piece(const char *msg, const char *hex)
{
	size_t n = strlen(hex), m = strlen(msg);
	for (size_t i = 0; i + 4 <= n; i++)
		for (size_t j = 0; j + 4 <= m; j++)
			if (strncasecmp(msg + j, hex + i, 4) == 0)
				return true;
	return false;
}

static void no_key_in(const char *msg, const char *what)
{
	if (msg[0] == '\0')
		fail_msg("%s: no message", what);
	if (holds_key_piece(msg, KEY_HEX))
		fail_msg("%s: the message holds key digits: %s", what, msg);
}

static void test_key_never_echoed(void **state)
{
	(void)state;
	/* bad keys made of the secret: cut, lengthened, prefixed, separated,
	 * spaced, a character replaced at every position */
	char variants[64][80];
	size_t nv = 0;
	snprintf(variants[nv++], 80, "%.31s", KEY_HEX);
	snprintf(variants[nv++], 80, "%.16s", KEY_HEX);
	snprintf(variants[nv++], 80, "%s0", KEY_HEX);
	snprintf(variants[nv++], 80, "%s%s", KEY_HEX, KEY_HEX);
	snprintf(variants[nv++], 80, "0x%s", KEY_HEX);
	snprintf(variants[nv++], 80, "%.16s %s", KEY_HEX, &KEY_HEX[16]);
	snprintf(variants[nv++], 80, "%.8s-%.8s-%.8s-%.8s", KEY_HEX, &KEY_HEX[8], &KEY_HEX[16], &KEY_HEX[24]);
	snprintf(variants[nv++], 80, "\"%s\"", KEY_HEX);
	for (size_t i = 0; i < 32; i++) {
		snprintf(variants[nv], 80, "%s", KEY_HEX);
		variants[nv++][i] = i % 2 ? 'g' : '\x01';
	}
	char err[512];
	struct sm_cfg_value v;
	for (size_t i = 0; i < nv; i++) {
		static const char *const opts[] = {"Key", "AuthKey"};
		static const char *const flags[] = {"key", "auth-key", "--key"};
		for (size_t k = 0; k < 2; k++) {
			struct sm_config c;
			struct sm_meter_cfg *m;
			sm_config_init(&c);
			assert_int_equal(sm_config_add_meter(&c, "m", &m, err, sizeof(err)), SM_OK);
			err[0] = '\0';
			v = vstr(variants[i]);
			assert_int_equal(sm_meter_set(m, opts[k], &v, 1, err, sizeof(err)), SM_E_CONFIG);
			no_key_in(err, opts[k]);
			sm_config_free(&c);
		}
		for (size_t k = 0; k < 3; k++) {
			struct sm_config c;
			struct sm_meter_cfg *m;
			sm_config_init(&c);
			assert_int_equal(sm_config_add_meter(&c, "m", &m, err, sizeof(err)), SM_OK);
			err[0] = '\0';
			assert_int_equal(sm_meter_set_flag(m, flags[k], variants[i], err, sizeof(err)), SM_E_CONFIG);
			no_key_in(err, flags[k]);
			sm_config_free(&c);
		}
		/* as the content of a KeyFile */
		char *p = temp_file(variants[i], strlen(variants[i]), 0644);
		struct sm_config c;
		struct sm_meter_cfg *m;
		sm_config_init(&c);
		assert_int_equal(sm_config_add_meter(&c, "m", &m, err, sizeof(err)), SM_OK);
		err[0] = '\0';
		v = vstr(p);
		assert_int_equal(sm_meter_set(m, "KeyFile", &v, 1, err, sizeof(err)), SM_E_CONFIG);
		no_key_in(err, "KeyFile content");
		sm_config_free(&c);
		drop_file(p);
	}
	/* the key where a path belongs; a good key with a bad protocol, twice,
	 * twice with KeyFile, without a Device: no message quotes it either */
	struct sm_config c;
	struct sm_meter_cfg *m;
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "m", &m, err, sizeof(err)), SM_OK);
	v = vstr(KEY_HEX);
	assert_int_equal(sm_meter_set(m, "KeyFile", &v, 1, err, sizeof(err)), SM_E_CONFIG);
	no_key_in(err, "KeyFile path");
	assert_int_equal(sm_meter_set_flag(m, "key-file", " " KEY_HEX " ", err, sizeof(err)), SM_E_CONFIG);
	no_key_in(err, "--key-file path");
	sm_config_free(&c);
	static const char *const texts[] = {
		METER("a", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\nKey \"" KEY_HEX "\"\n"),
		METER("a", DSMR_USB0 "Key \"" KEY_HEX "\"\nKey \"" KEY_HEX "\"\n"),
		METER("a", DSMR_USB0 "Key \"" KEY_HEX "\" \"" KEY_HEX "\"\n"),
		METER("a", DSMR_USB0 "AuthKey \"" KEY_HEX "\"\n"),
		METER("a", "Protocol \"dsmr\"\nKey \"" KEY_HEX "\"\n"),
		METER("a", DSMR_USB0 "Key \"" KEY_HEX "0\"\n"),
		METER("a", DSMR_USB0 "Key 8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2\n"),
		METER("a", DSMR_USB0 "Key 83339171772446600050903370104020\n"),
		METER("a", DSMR_USB0 "Key \"" KEY_HEX "\"\nKeyFile \"/nonexistent\"\n"),
		METER("a", DSMR_USB0 "Key \"" KEY_HEX "\"\n<Block>\n</Block>\n"),
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		err[0] = '\0';
		enum sm_err rc = load(texts[i], &c, err, sizeof(err));
		if (rc != SM_E_CONFIG)
			fail_msg("text %zu: expected an error, got %d", i, rc);
		no_key_in(err, texts[i]);
		if (i == 7 && holds_key_piece(err, "83339171772446600050903370104020"))
			fail_msg("a number given as Key is echoed: %s", err);
		sm_config_free(&c);
	}
}

static void test_cfg_wipe_keys(void **state)
{
	(void)state;
	struct sm_cfg_node root;
	parse_ok("<Plugin smartmeter>\n"
		 "  <Meter \"lu\">\n"
		 "    Protocol \"dsmr\"\n"
		 "    Device \"/dev/ttyUSB0\"\n"
		 "    key \"" KEY_HEX "\"\n"
		 "    AuthKey \"" AUTH_HEX "\"\n"
		 "  </Meter>\n"
		 "</Plugin>\n"
		 "Key 1234\n",
		 &root);
	const struct sm_cfg_node *meter = child(child(&root, 0), 0);
	sm_cfg_wipe_keys(&root);
	assert_str_value(child(meter, 0), 0, "dsmr");
	assert_str_value(child(meter, 1), 0, "/dev/ttyUSB0");
	assert_int_equal(child(meter, 2)->values[0].type, SM_CV_STRING);
	assert_memory_equal(child(meter, 2)->values[0].s, (char[32]){0}, 32);
	assert_memory_equal(child(meter, 3)->values[0].s, (char[32]){0}, 32);
	assert_true(child(&root, 1)->values[0].num == 0);
	sm_cfg_node_free(&root);
	sm_cfg_wipe_keys(NULL);
}

static void test_option_protocols(void **state)
{
	(void)state;
	const struct sm_proto *dsmr = sm_proto_find("dsmr");
	static const char *const iec_only[] = {"Mode", "Address", "MaxBaudrate", "BaudSwitchDelay",
					       "WakeUp"};
	static const char *const crypt[] = {"Key", "KeyFile", "AuthKey"};
	static const char *const mb_only[] = {"Slave", "Model", "RegisterMap"};
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++) {
		const struct sm_option_desc *d = &sm_meter_options[i];
		bool iec = false, keys = false, mb = false, framing = strcmp(d->name, "Framing") == 0;
		for (size_t k = 0; k < 5; k++)
			iec = iec || strcmp(d->name, iec_only[k]) == 0;
		for (size_t k = 0; k < 3; k++)
			keys = keys || strcmp(d->name, crypt[k]) == 0;
		for (size_t k = 0; k < 3; k++)
			mb = mb || strcmp(d->name, mb_only[k]) == 0;
		if (iec)
			assert_string_equal(d->protocols, "iec62056-21");
		else if (keys)
			assert_string_equal(d->protocols, "dlms,dsmr");
		else if (framing)
			assert_string_equal(d->protocols, "dlms");
		else if (mb)
			assert_string_equal(d->protocols, "modbus");
		else
			assert_null(d->protocols);
		assert_int_equal(sm_option_applies(d, dsmr), !iec && !framing && !mb);
		assert_int_equal(sm_option_applies(d, iec_proto()), !keys && !framing && !mb);
		assert_true(sm_option_applies(d, dlms_proto()) || iec || mb);
		assert_int_equal(sm_option_applies(d, NULL), !iec && !keys && !framing && !mb);
		assert_int_equal(sm_option_applies(d, mb_proto()), !iec && !keys && !framing);
	}
	assert_true(sm_option_applies(NULL, dsmr));
	/* a list of several protocols */
	struct sm_option_desc several = {"X", "x", SM_OPT_STRING, "X", "x", "modbus,IEC62056-21,sml"};
	struct sm_proto other = {.name = "iec62056"};
	assert_true(sm_option_applies(&several, iec_proto()));
	assert_false(sm_option_applies(&several, dsmr));
	assert_false(sm_option_applies(&several, &other));
}

static void test_iec_wrong_protocol(void **state)
{
	(void)state;
	/* the Protocol may come before or after the option */
	load_fails(METER("a", DSMR_USB0 "Mode \"C\"\n"),
		   "meter \"a\": Mode: applies only to Protocol \"iec62056-21\" (this meter's Protocol "
		   "is \"dsmr\")");
	load_fails(METER("a", "Address \"12\"\n" DSMR_USB0),
		   "meter \"a\": Address: applies only to Protocol \"iec62056-21\" (this meter's "
		   "Protocol is \"dsmr\")");
	load_fails(METER("ok", DSMR_USB0) METER("b", "MaxBaudrate 9600\nProtocol \"dsmr\"\nDevice \"/dev/ttyUSB1\"\n"),
		   "meter \"b\": MaxBaudrate: applies only to Protocol \"iec62056-21\" (this meter's "
		   "Protocol is \"dsmr\")");
	load_fails(METER("a", DSMR_USB0 "BaudSwitchDelay 1\n"),
		   "meter \"a\": BaudSwitchDelay: applies only to Protocol \"iec62056-21\" (this "
		   "meter's Protocol is \"dsmr\")");
	load_fails(METER("a", DSMR_USB0 "WakeUp false\n"),
		   "meter \"a\": WakeUp: applies only to Protocol \"iec62056-21\" (this meter's "
		   "Protocol is \"dsmr\")");
	/* the same from command line flags */
	struct sm_config c;
	struct sm_meter_cfg *m;
	char err[512];
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "meter", &m, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "wake-up", NULL, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "protocol", "dsmr", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "device", "/dev/ttyUSB0", err, sizeof(err)), SM_OK);
	validate_fails(&c, "meter \"meter\": WakeUp: applies only to Protocol \"iec62056-21\" (this "
			   "meter's Protocol is \"dsmr\")");
}

static void test_iec_defaults_and_line(void **state)
{
	(void)state;
	struct sm_config c;
	char line[32];
	sm_config_init(&c);
	add_iec(&c, "optical", "/dev/ttyUSB0", NULL);
	add_iec(&c, "dd3", "/dev/ttyUSB1", "Mode", "D", NULL);
	add_iec(&c, "dd3fast", "/dev/ttyUSB2", "Mode", "d", "Baudrate", "19200", NULL);
	add_iec(&c, "a", "/dev/ttyUSB3", "Mode", "A", "Parity", "odd", NULL);
	/* a meter built by hand (no add_meter defaults) gets them from validate */
	c.meters[3].iec_mode = '\0';
	c.meters[3].opt_set &= ~(1ull << (sm_option_find("Mode") - sm_meter_options));
	c.meters[3].baud_switch_delay_s = 0;
	validate_ok(&c);
	const struct sm_meter_cfg *o = &c.meters[0], *d = &c.meters[1], *f = &c.meters[2],
				  *a = &c.meters[3];
	assert_int_equal(o->iec_mode, 'C');
	assert_null(o->address);
	assert_int_equal(o->max_baud, 0);
	assert_true(o->baud_switch_delay_s == 0.3);
	assert_false(o->wakeup);
	assert_true(o->timeout_s == SM_DEFAULT_TIMEOUT_S);
	assert_true(o->interval_s == 0); /* the reader polls every SM_DEFAULT_POLL_S */
	assert_true(SM_DEFAULT_POLL_S == 60.0);
	sm_line_format(&o->line, line, sizeof(line));
	assert_string_equal(line, "300 7E1");
	/* mode D: the protocol's line defaults for push */
	assert_int_equal(d->iec_mode, 'D');
	sm_line_format(&d->line, line, sizeof(line));
	assert_string_equal(line, "9600 7E1");
	assert_int_equal(d->line_set, 0);
	sm_line_format(&f->line, line, sizeof(line));
	assert_string_equal(line, "19200 7E1");
	/* back to the defaults when Mode was not given */
	assert_int_equal(a->iec_mode, 'C');
	assert_true(a->baud_switch_delay_s == 0.3);
	sm_line_format(&a->line, line, sizeof(line));
	assert_string_equal(line, "300 7O1");
	sm_config_free(&c);

	/* mode D takes no sign-on options */
	static const char *const signon[][2] = {
		{"Address", "1"}, {"MaxBaudrate", "9600"}, {"BaudSwitchDelay", "0"}, {"WakeUp", "false"}};
	for (size_t i = 0; i < 4; i++) {
		char msg[256];
		sm_config_init(&c);
		add_iec(&c, "dd3", "/dev/ttyUSB1", signon[i][0], signon[i][1], "Mode", "D", NULL);
		snprintf(msg, sizeof(msg),
			 "meter \"dd3\": %s: not used in Mode \"D\" (the meter pushes without a sign-on; "
			 "%s applies to modes A, B and C)",
			 signon[i][0], signon[i][0]);
		validate_fails(&c, msg);
	}

	/* Timeout is the stall time of push meters; a polled meter does not
	 * ignore it silently */
	sm_config_init(&c);
	add_iec(&c, "opt", "/dev/ttyUSB2", "Timeout", "5", NULL);
	validate_fails(&c, "meter \"opt\": Timeout: applies to push meters only (a polled meter counts "
			   "every unanswered poll as a timeout; see Interval)");
	sm_config_init(&c);
	add_iec(&c, "dd3", "/dev/ttyUSB1", "Timeout", "5", "Mode", "D", NULL);
	validate_ok(&c);
	sm_config_free(&c);
}

static void test_iec_bus_rules(void **state)
{
	(void)state;
	struct sm_config c;
	const char *tail = ": iec62056-21 meters on one bus need each an Address of its own";
	char msg[256];

	/* addressed meters on one RS485 bus: one port, in config order */
	sm_config_init(&c);
	add_iec(&c, "m1", "/dev/ttyUSB0", "Address", "11111111", NULL);
	add_iec(&c, "other", "/dev/ttyUSB1", NULL);
	add_iec(&c, "m2", "/dev/ttyUSB0", "Address", "11111112", "Mode", "B", NULL);
	add_iec(&c, "m3", "/dev/ttyUSB0", "Address", "1111111", "MaxBaudrate", "2400", NULL);
	validate_ok(&c);
	struct sm_port *p;
	size_t np;
	assert_int_equal(sm_config_ports(&c, &p, &np), SM_OK);
	assert_int_equal(np, 2);
	assert_int_equal(p[0].nmeters, 3);
	assert_string_equal(p[0].meters[0]->name, "m1");
	assert_string_equal(p[0].meters[1]->name, "m2");
	assert_string_equal(p[0].meters[2]->name, "m3");
	assert_int_equal(p[0].line.baud, 300);
	sm_ports_free(p, np);
	sm_config_free(&c);

	/* two without an Address */
	sm_config_init(&c);
	add_iec(&c, "a", "/dev/ttyUSB0", NULL);
	add_iec(&c, "b", "/dev/ttyUSB0", NULL);
	snprintf(msg, sizeof(msg), "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but neither has an Address%s", tail);
	validate_fails(&c, msg);
	/* one without */
	sm_config_init(&c);
	add_iec(&c, "a", "/dev/ttyUSB0", "Address", "1", NULL);
	add_iec(&c, "z", "/dev/ttyUSB9", NULL);
	add_iec(&c, "b", "/dev/ttyUSB0", "Mode", "A", NULL);
	snprintf(msg, sizeof(msg), "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but \"b\" has no Address%s", tail);
	validate_fails(&c, msg);
	sm_config_init(&c);
	add_iec(&c, "a", "/dev/ttyUSB0", NULL);
	add_iec(&c, "b", "/dev/ttyUSB0", "Address", "1", NULL);
	snprintf(msg, sizeof(msg), "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but \"a\" has no Address%s", tail);
	validate_fails(&c, msg);
	/* the same Address twice */
	sm_config_init(&c);
	add_iec(&c, "a", "tcp://127.0.0.1:4001", "Address", "42", NULL);
	add_iec(&c, "b", "tcp://127.0.0.1:4001", "Address", "43", NULL);
	add_iec(&c, "c", "tcp://127.0.0.1:4001", "Address", "42", NULL);
	snprintf(msg, sizeof(msg), "meters \"a\" and \"c\" share Device \"tcp://127.0.0.1:4001\" but both have Address \"42\"%s", tail);
	validate_fails(&c, msg);

	/* a pushing meter (mode D) needs its Device to itself among IEC meters,
	 * even when the line settings agree */
	sm_config_init(&c);
	add_iec(&c, "poll", "/dev/ttyUSB0", "Address", "1", "Baudrate", "9600", NULL);
	add_iec(&c, "push", "/dev/ttyUSB0", "Mode", "D", NULL);
	validate_fails(&c, "meters \"poll\" and \"push\" share Device \"/dev/ttyUSB0\", but \"push\" "
			   "pushes (Mode \"D\"): a pushing iec62056-21 meter needs a Device of its own");
	sm_config_init(&c);
	add_iec(&c, "d1", "/dev/ttyUSB0", "Mode", "D", NULL);
	add_iec(&c, "d2", "/dev/ttyUSB0", "Mode", "D", NULL);
	validate_fails(&c, "meters \"d1\" and \"d2\" share Device \"/dev/ttyUSB0\", but \"d1\" "
			   "pushes (Mode \"D\"): a pushing iec62056-21 meter needs a Device of its own");

	/* a polled IEC meter and a push meter of another protocol on one device:
	 * allowed when the line settings agree, else the usual conflict */
	sm_config_init(&c);
	add_iec(&c, "poll", "/dev/ttyUSB0", NULL);
	struct sm_meter_cfg *m;
	char err[512];
	assert_int_equal(sm_config_add_meter(&c, "p1", &m, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "protocol", "dsmr", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "device", "/dev/ttyUSB0", err, sizeof(err)), SM_OK);
	validate_fails(&c, "meters \"poll\" and \"p1\" share Device \"/dev/ttyUSB0\" but disagree on "
			   "Baudrate (300 vs 115200): meters on one device must use the same line "
			   "settings");
	sm_config_init(&c);
	add_iec(&c, "poll", "/dev/ttyUSB0", NULL);
	assert_int_equal(sm_config_add_meter(&c, "p1", &m, err, sizeof(err)), SM_OK);
	m->proto = sm_proto_find("dsmr");
	assert_int_equal(sm_meter_set_flag(m, "device", "/dev/ttyUSB0", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "baudrate", "300", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "data-bits", "7", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "parity", "even", err, sizeof(err)), SM_OK);
	validate_ok(&c);
	sm_config_free(&c);
}

/* With the real protocol in the table: the same rules from config text. */
static void test_iec_from_text(void **state)
{
	(void)state;
	if (sm_proto_find("iec62056-21") == NULL) {
		print_message("protocol iec62056-21 not built yet: skipped\n");
		skip();
	}
	struct sm_config c;
	char err[512] = "";
	assert_int_equal(load(METER("optical", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\n"
					       "MaxBaudrate 9600\nWakeUp true\n")
			      METER("dd3", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB1\"\nMode \"D\"\n")
			      METER("bus1", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB2\"\n"
					    "Address \"00000001\"\n")
			      METER("bus2", "Address \"00000002\"\nProtocol \"iec62056-21\"\n"
					    "Device \"/dev/ttyUSB2\"\nBaudSwitchDelay 0.5\n"),
			      &c, err, sizeof(err)),
			 SM_OK);
	char line[32];
	sm_line_format(&c.meters[0].line, line, sizeof(line));
	assert_string_equal(line, "300 7E1");
	assert_int_equal(c.meters[0].max_baud, 9600);
	assert_true(c.meters[0].wakeup);
	assert_true(sm_proto_is_polled(&c.meters[0]));
	sm_line_format(&c.meters[1].line, line, sizeof(line));
	assert_string_equal(line, "9600 7E1");
	assert_false(sm_proto_is_polled(&c.meters[1]));
	assert_string_equal(c.meters[3].address, "00000002");
	assert_true(c.meters[3].baud_switch_delay_s == 0.5);
	sm_config_free(&c);
	load_fails(METER("a", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\n")
		   METER("b", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but neither has an Address: "
		   "iec62056-21 meters on one bus need each an Address of its own");
	load_fails(METER("a", "Protocol \"iec62056-21\"\nDevice \"/dev/ttyUSB0\"\nAddress 42\n"),
		   "meter \"a\": Address: expected a quoted string of 1 to 32 characters of 0-9 A-Z "
		   "a-z or space, got 42 (quote it: leading zeros are part of an address)");
}

/* ---- Modbus: Slave, Model, RegisterMap, <RegisterMap> blocks ---- */

static void need_modbus(void)
{
	if (sm_proto_find("modbus") == NULL) {
		print_message("protocol modbus not built yet: skipped\n");
		skip();
	}
}

/* Parse text and read its smartmeter block, without validating. */
static enum sm_err load_tree(const char *text, struct sm_config *c, char *err, size_t errlen)
{
	struct sm_cfg_node root;
	sm_config_init(c);
	enum sm_err rc = parse_n(text, strlen(text), "t.conf", &root, err, errlen);
	if (rc != SM_OK)
		return rc;
	rc = sm_config_from_tree(c, sm_cfg_find_smartmeter(&root), err, errlen);
	sm_cfg_node_free(&root);
	return rc;
}

static void load_ok(const char *text, struct sm_config *c)
{
	char err[512] = "";
	if (load(text, c, err, sizeof(err)) != SM_OK)
		fail_msg("load: %s", err);
}

#define MAP(name, body) "<RegisterMap \"" name "\">\n" body "</RegisterMap>\n"
#define REG(name, body) "<Register \"" name "\">\n" body "</Register>\n"
#define MB_USB0 "Protocol \"modbus\"\nDevice \"/dev/ttyUSB0\"\n"

/* A <RegisterMap "m"> block with body inside <Plugin smartmeter> must fail
 * to read with exactly msg. */
static void map_fails(const char *body, const char *msg)
{
	size_t n = strlen(body) + 128;
	char *text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "<Plugin smartmeter>\n<RegisterMap \"m\">\n%s</RegisterMap>\n</Plugin>\n", body);
	struct sm_config c;
	char err[512] = "";
	enum sm_err rc = load_tree(text, &c, err, sizeof(err));
	if (rc != SM_E_CONFIG)
		fail_msg("expected an error \"%s\" for <<%s>>, got rc %d", msg, body, rc);
	assert_string_equal(err, msg);
	assert_int_equal(c.nmaps, 0);
	sm_config_free(&c);
	free(text);
}

/* The first register of a map "m" holding one register with body. */
static struct sm_mb_reg reg_of(const char *body)
{
	char text[1024];
	snprintf(text, sizeof(text), MAP("m", "<Register \"r\">\n%s</Register>\n"), body);
	struct sm_config c;
	char err[512] = "";
	if (load_tree(text, &c, err, sizeof(err)) != SM_OK)
		fail_msg("%s: %s", body, err);
	assert_int_equal(c.nmaps, 1);
	assert_int_equal(c.maps[0]->map.nregs, 1);
	struct sm_mb_reg r = c.maps[0]->regs[0];
	r.name = NULL; /* freed below */
	sm_config_free(&c);
	return r;
}

static void test_mb_options(void **state)
{
	struct fx *f = *state;
	char msg[1024];
	assert_int_equal(f->m->slave, SM_DEFAULT_SLAVE);
	assert_null(f->m->model);
	assert_null(f->m->register_map);
	/* Slave: 0..255 here; the validator narrows it by Device */
	static const double slaves[] = {0, 1, 247, 255};
	for (size_t i = 0; i < 4; i++) {
		f->m->opt_set = 0;
		assert_int_equal(set1(f, "Slave", vnum(slaves[i])), SM_OK);
		assert_int_equal(f->m->slave, (int)slaves[i]);
	}
	f->m->opt_set = 0;
	set_fails(f, "Slave", vnum(256),
		  "meter \"home\": Slave: expected a unit id 1..247 (0 and 255 also with a tcp:// Device), got 256");
	set_fails(f, "Slave", vnum(-1),
		  "meter \"home\": Slave: expected a unit id 1..247 (0 and 255 also with a tcp:// Device), got -1");
	set_fails(f, "Slave", vnum(1.5),
		  "meter \"home\": Slave: expected a unit id 1..247 (0 and 255 also with a tcp:// Device), got 1.5");
	set_fails(f, "Slave", vstr("1"),
		  "meter \"home\": Slave: expected a unit id 1..247 (0 and 255 also with a tcp:// Device), got \"1\"");
	/* Model: a built-in map, stored under its own name */
	assert_int_equal(set1(f, "model", vstr("SDM630")), SM_OK);
	assert_string_equal(f->m->model, "sdm630");
	f->m->opt_set = 0;
	assert_int_equal(set1(f, "Model", vstr("em24")), SM_OK); /* replaces */
	assert_string_equal(f->m->model, "em24");
	f->m->opt_set = 0;
	snprintf(msg, sizeof(msg),
		 "meter \"home\": Model: expected one of %s, got \"sdm999\" (a map of your own goes "
		 "into a <RegisterMap> block, named by RegisterMap)",
		 sm_mb_model_names());
	set_fails(f, "Model", vstr("sdm999"), msg);
	snprintf(msg, sizeof(msg), "meter \"home\": Model: expected one of %s, got 630",
		 sm_mb_model_names());
	set_fails(f, "Model", vnum(630), msg);
	snprintf(msg, sizeof(msg), "meter \"home\": Model: expected one of %s, got \"\"",
		 sm_mb_model_names());
	set_fails(f, "Model", vstr(""), msg);
	assert_non_null(strstr(sm_mb_model_names(), "sdm630"));
	/* RegisterMap: a name, resolved by the validator */
	assert_int_equal(set1(f, "RegisterMap", vstr("my-meter.v2")), SM_OK);
	assert_string_equal(f->m->register_map, "my-meter.v2");
	unsigned long long given = f->m->opt_set;
	f->m->opt_set = 0;
	set_fails(f, "RegisterMap", vstr("my meter"),
		  "meter \"home\": RegisterMap: expected the name of a <RegisterMap> block (1 to 63 "
		  "characters of A-Z a-z 0-9 _ . -), got \"my meter\"");
	set_fails(f, "RegisterMap", vnum(1),
		  "meter \"home\": RegisterMap: expected the name of a <RegisterMap> block (1 to 63 "
		  "characters of A-Z a-z 0-9 _ . -), got 1");
	f->m->opt_set = given;
	set_fails(f, "registermap", vstr("x"), "meter \"home\": RegisterMap: given more than once");
	/* the same as flags */
	struct sm_config c;
	struct sm_meter_cfg *m;
	char err[512];
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "cli", &m, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "--slave", "17", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "model", "sdm120", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "register-map", "x", err, sizeof(err)), SM_OK);
	assert_int_equal(m->slave, 17);
	assert_string_equal(m->model, "sdm120");
	assert_string_equal(m->register_map, "x");
	sm_config_free(&c);
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "cli", &m, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "slave", "0x10", err, sizeof(err)), SM_OK);
	assert_int_equal(m->slave, 16);
	assert_int_equal(sm_meter_set_flag(m, "slave", "3", err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "--slave: given more than once");
	m->opt_set = 0;
	assert_int_equal(sm_meter_set_flag(m, "slave", "300", err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "--slave: expected a unit id 1..247 (0 and 255 also with a tcp:// Device), got 300");
	assert_int_equal(sm_meter_set_flag(m, "slave", "one", err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "--slave: expected a number, got \"one\"");
	assert_int_equal(sm_meter_set_flag(m, "model", "x", err, sizeof(err)), SM_E_CONFIG);
	snprintf(msg, sizeof(msg),
		 "--model: expected one of %s, got \"x\" (a map of your own goes into a <RegisterMap> "
		 "block, named by RegisterMap)",
		 sm_mb_model_names());
	assert_string_equal(err, msg);
	sm_config_free(&c);
}

static void test_mb_device_rtu_tcp(void **state)
{
	struct fx *f = *state;
#define DEV_ERR(got, why)                                                                          \
	"meter \"home\": Device: expected a serial port path, tcp://HOST:PORT, rtu+tcp://HOST:PORT " \
	"or file:PATH, got " got " (" why ")"
	set_fails(f, "Device", vstr("rtu+tcp://bridge"), DEV_ERR("\"rtu+tcp://bridge\"", "no port"));
	set_fails(f, "Device", vstr("rtu+tcp://:4001"), DEV_ERR("\"rtu+tcp://:4001\"", "no host"));
	set_fails(f, "Device", vstr("rtu+tcp://h:0"), DEV_ERR("\"rtu+tcp://h:0\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("rtu+tcp://h:65536"),
		  DEV_ERR("\"rtu+tcp://h:65536\"", "port must be 1..65535"));
	set_fails(f, "Device", vstr("rtu+tcp://::1:502"),
		  DEV_ERR("\"rtu+tcp://::1:502\"", "write an IPv6 host in brackets"));
	set_fails(f, "Device", vstr("rtu+tcp://[::1:502"), DEV_ERR("\"rtu+tcp://[::1:502\"", "bad [IPv6] host"));
	set_fails(f, "Device", vstr("rtu+udp://h:502"), DEV_ERR("\"rtu+udp://h:502\"", "unknown scheme"));
	set_fails(f, "Device", vstr("RTU+TCP://h:502"), DEV_ERR("\"RTU+TCP://h:502\"", "unknown scheme"));
#undef DEV_ERR
	assert_int_equal(set1(f, "Device", vstr("rtu+tcp://192.168.1.20:4001")), SM_OK);
	assert_string_equal(f->m->device, "rtu+tcp://192.168.1.20:4001");

	/* the validator: rtu+tcp:// is for modbus only */
	need_modbus();
	load_fails(METER("p1", "Protocol \"dsmr\"\nDevice \"rtu+tcp://h:4001\"\n"),
		   "meter \"p1\": Device: rtu+tcp:// is Modbus RTU over TCP: for Protocol \"modbus\" "
		   "only (this meter's Protocol is \"dsmr\")");
	struct sm_config c;
	load_ok(METER("a", "Protocol \"modbus\"\nDevice \"rtu+tcp://h:4001\"\nModel \"sdm630\"\n"), &c);
	assert_int_equal(c.meters[0].slave, 1);
	assert_non_null(c.meters[0].mb_plan);
	sm_config_free(&c);
}

/* The collectd-style configuration of a bus: two user maps, three meters. */
static const char mb_bus_conf[] =
	"Hostname \"probehost\"\n"
	"LoadPlugin syslog\n"
	"LoadPlugin smartmeter\n"
	"<Plugin smartmeter>\n"
	"  <Meter \"main\">\n"
	"    Protocol \"modbus\"\n"
	"    Device \"/dev/ttyUSB0\"\n"
	"    Slave 1\n"
	"    Model \"sdm630\"\n"
	"    Interval 10\n"
	"  </Meter>\n"
	"  <Meter \"heatpump\">\n"
	"    Protocol \"modbus\"\n"
	"    Device \"/dev/ttyUSB0\"\n"
	"    Slave 2\n"
	"    RegisterMap \"trovis\"\n"
	"    Timeout 0.3\n"
	"  </Meter>\n"
	"  <Meter \"pv\">\n"
	"    Protocol \"modbus\"\n"
	"    Device \"/dev/ttyUSB0\"\n"
	"    Baudrate 9600\n"
	"    Parity \"none\"\n"
	"    Slave 3\n"
	"    RegisterMap \"inverter\"\n"
	"    Select \"energy_export\" \"power_ac\"\n"
	"  </Meter>\n"
	"  <RegisterMap \"trovis\">\n"
	"    Description \"Samson Trovis 5573 heating controller\"\n"
	"    MaxRegisters 32\n"
	"    MaxGap 4\n"
	"    <Register \"flow_temp\">\n"
	"      Address 0x0010\n"
	"      Function 4\n"
	"      Type \"int16\"\n"
	"      Scale 0.1\n"
	"      Unit \"\xc2\xb0" "C\"\n"
	"    </Register>\n"
	"    <Register \"return_temp\">\n"
	"      Address 0x0011\n"
	"      Function 4\n"
	"      Type \"int16\"\n"
	"      Scale 0.1\n"
	"      Unit \"C\"\n"
	"    </Register>\n"
	"    <Register \"operating_hours\">\n"
	"      Address 100\n"
	"      Type \"uint32\"\n"
	"      WordOrder \"cdab\"\n"
	"      Unit \"h\"\n"
	"    </Register>\n"
	"  </RegisterMap>\n"
	"  <RegisterMap \"inverter\">\n"
	"    EvenCount true\n"
	"    <Register \"energy_export\">\n"
	"      Address 0x0100\n"
	"      Function 3\n"
	"      Type \"float32\"\n"
	"      Unit \"kWh\"\n"
	"      Obis \"1-0:2.8.0\"\n"
	"    </Register>\n"
	"    <Register \"power_ac\">\n"
	"      Address 0x0102\n"
	"      Type \"int32\"\n"
	"      Scale 10\n"
	"      Unit \"W\"\n"
	"      Obis \"1-0:2.7.0\"\n"
	"    </Register>\n"
	"  </RegisterMap>\n"
	"</Plugin>\n";

static void test_mb_full_conf(void **state)
{
	(void)state;
	need_modbus();
	struct sm_config c;
	load_ok(mb_bus_conf, &c);
	assert_int_equal(c.nmeters, 3);
	assert_int_equal(c.nmaps, 2);

	/* the maps as read */
	const struct sm_user_map *tr = c.maps[0], *inv = c.maps[1];
	assert_string_equal(tr->name, "trovis");
	assert_ptr_equal(tr->map.name, tr->name);
	assert_string_equal(tr->map.description, "Samson Trovis 5573 heating controller");
	assert_null(tr->map.caveat);
	assert_int_equal(tr->map.max_count, 32);
	assert_int_equal(tr->map.max_gap, 4);
	assert_false(tr->map.even);
	assert_int_equal(tr->map.nregs, 3);
	assert_ptr_equal(tr->map.regs, tr->regs);
	assert_int_equal(tr->line, 28);
	const struct sm_mb_reg *r = &tr->regs[0];
	assert_string_equal(r->name, "flow_temp");
	assert_ptr_equal(r->name, tr->reg_names[0]);
	assert_int_equal(r->function, SM_MB_FC_INPUT);
	assert_int_equal(r->address, 0x10);
	assert_int_equal(r->type, SM_MB_INT16);
	assert_int_equal(r->order, SM_MB_ABCD);
	assert_int_equal(r->mul, 1);
	assert_int_equal(r->exp, -1);
	assert_int_equal(r->unit, SM_UNIT_CELSIUS);
	assert_int_equal(r->obis.present, 0);
	assert_int_equal(r->flags, 0);
	assert_int_equal(tr->regs[1].unit, SM_UNIT_CELSIUS);
	r = &tr->regs[2];
	assert_string_equal(r->name, "operating_hours");
	assert_int_equal(r->function, SM_MB_FC_HOLDING);
	assert_int_equal(r->address, 100);
	assert_int_equal(r->type, SM_MB_UINT32);
	assert_int_equal(r->order, SM_MB_CDAB);
	assert_int_equal(r->mul, 1);
	assert_int_equal(r->exp, 0);
	assert_int_equal(r->unit, SM_UNIT_OTHER);
	assert_string_equal(r->unit_text, "h");

	assert_string_equal(inv->name, "inverter");
	assert_string_equal(inv->map.description, "register map of the configuration");
	assert_null(inv->description);
	assert_true(inv->map.even);
	assert_int_equal(inv->map.max_count, 124); /* EvenCount: the largest even count */
	assert_int_equal(inv->map.max_gap, SM_MB_GAP_ANY);
	r = &inv->regs[0];
	assert_int_equal(r->type, SM_MB_FLOAT32);
	assert_int_equal(r->unit, SM_UNIT_WH);
	assert_int_equal(r->mul, 1);
	assert_int_equal(r->exp, 3);
	struct sm_obis want;
	size_t used;
	assert_int_equal(sm_obis_parse("1-0:2.8.0", 9, &used, &want), SM_OK);
	assert_true(sm_obis_eq(&r->obis, &want));
	r = &inv->regs[1];
	assert_int_equal(r->type, SM_MB_INT32);
	assert_int_equal(r->unit, SM_UNIT_W);
	assert_int_equal(r->mul, 1);
	assert_int_equal(r->exp, 1);

	/* the meters, resolved and planned */
	const struct sm_meter_cfg *main_m = &c.meters[0], *hp = &c.meters[1], *pv = &c.meters[2];
	assert_ptr_equal(main_m->mb_map, sm_mb_model_find("sdm630"));
	assert_ptr_equal(hp->mb_map, &tr->map);
	assert_ptr_equal(pv->mb_map, &inv->map);
	assert_int_equal(main_m->slave, 1);
	assert_int_equal(hp->slave, 2);
	assert_int_equal(pv->slave, 3);
	assert_true(main_m->interval_s == 10);
	assert_true(hp->interval_s == 0); /* the reader applies the poll default */
	assert_true(main_m->timeout_s == SM_DEFAULT_MODBUS_TIMEOUT_S);
	assert_true(hp->timeout_s == 0.3);
	for (size_t i = 0; i < 3; i++) {
		const struct sm_meter_cfg *m = &c.meters[i];
		char line[32];
		sm_line_format(&m->line, line, sizeof(line));
		assert_string_equal(line, "9600 8N1");
		assert_non_null(m->mb_plan);
		assert_int_equal(m->mb_plan->nregs, m->mb_map->nregs);
		assert_true(m->mb_plan->nreq >= 1);
	}
	assert_true(main_m->mb_plan->nreq <= 2);
	assert_int_equal(hp->mb_plan->nreq, 2);  /* FC03 100 +2, FC04 0x10 +2 */
	assert_int_equal(pv->mb_plan->nreq, 1);  /* FC03 0x100 +4 */
	assert_int_equal(pv->nselect, 2);

	/* one bus */
	struct sm_port *ports;
	size_t np;
	assert_int_equal(sm_config_ports(&c, &ports, &np), SM_OK);
	assert_int_equal(np, 1);
	assert_int_equal(ports[0].nmeters, 3);
	assert_string_equal(ports[0].device, "/dev/ttyUSB0");
	sm_ports_free(ports, np);

	/* validating again replaces the plans (no leak, same result) */
	char err[512] = "";
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_ptr_equal(hp->mb_map, &tr->map);
	assert_int_equal(hp->mb_plan->nreq, 2);
	sm_config_free(&c);
	assert_int_equal(c.nmaps, 0);
	assert_null(c.maps);
}

static void test_mb_defaults(void **state)
{
	(void)state;
	need_modbus();
	struct sm_config c;
	load_ok(METER("m", MB_USB0 "Model \"sdm120\"\n"), &c);
	const struct sm_meter_cfg *m = &c.meters[0];
	assert_int_equal(m->slave, SM_DEFAULT_SLAVE);
	assert_true(m->timeout_s == SM_DEFAULT_MODBUS_TIMEOUT_S);
	assert_true(m->interval_s == 0);
	assert_int_equal(m->line.baud, 9600);
	assert_int_equal(m->line.databits, 8);
	assert_int_equal(m->line.parity, SM_PARITY_NONE);
	assert_int_equal(m->line.stopbits, 1);
	assert_ptr_equal(m->mb_map, sm_mb_model_find("sdm120"));
	assert_non_null(m->mb_plan);
	assert_null(m->register_map);
	assert_true(sm_proto_is_polled(m));
	sm_config_free(&c);
	/* a Timeout within the Modbus range, line settings as given */
	load_ok(METER("m", MB_USB0 "Model \"em24\"\nTimeout 0.01\nBaudrate 19200\nParity \"even\"\n"
			   "StopBits 1\nInterval 2.5\n")
		METER("n", MB_USB0 "Model \"em24\"\nTimeout 10\nSlave 2\nBaudrate 19200\nParity \"even\"\n"),
		&c);
	assert_true(c.meters[0].timeout_s == 0.01);
	assert_true(c.meters[1].timeout_s == 10);
	assert_true(c.meters[0].interval_s == 2.5);
	char line[32];
	sm_line_format(&c.meters[1].line, line, sizeof(line));
	assert_string_equal(line, "19200 8E1");
	sm_config_free(&c);
	/* a bare file of <Meter> and <RegisterMap> blocks */
	load_ok(METER("m", MB_USB0 "RegisterMap \"x\"\n") MAP("x", REG("v", "Address 0\n")), &c);
	assert_ptr_equal(c.meters[0].mb_map, &c.maps[0]->map);
	sm_config_free(&c);
	/* a map unused by any meter is not an error */
	load_ok(METER("m", MB_USB0 "Model \"sdm630\"\n") MAP("spare", REG("v", "Address 0\n")), &c);
	assert_int_equal(c.nmaps, 1);
	sm_config_free(&c);
}

/* Every type, word order, unit and a range of scales. */
static void test_mb_register_values(void **state)
{
	(void)state;
	static const char *const types[] = {"int16", "uint16", "int32", "uint32",
					    "int64", "uint64", "float32", "float64"};
	for (int i = 0; i < 8; i++) {
		char body[96];
		snprintf(body, sizeof(body), "Address 7\nType \"%s\"\n", types[i]);
		struct sm_mb_reg r = reg_of(body);
		assert_int_equal(r.type, i);
		snprintf(body, sizeof(body), "Address 7\nType \"%c%s\"\n", types[i][0] - 32, types[i] + 1);
		assert_int_equal(reg_of(body).type, i); /* any case */
	}
	static const char *const orders[] = {"ABCD", "CDAB", "BADC", "DCBA"};
	for (int i = 0; i < 4; i++) {
		char body[96];
		snprintf(body, sizeof(body), "Address 7\nType \"int32\"\nWordOrder \"%s\"\n", orders[i]);
		assert_int_equal(reg_of(body).order, i);
	}
	/* defaults */
	struct sm_mb_reg r = reg_of("Address 65535\n");
	assert_int_equal(r.address, 65535);
	assert_int_equal(r.function, 3);
	assert_int_equal(r.type, SM_MB_UINT16);
	assert_int_equal(r.order, SM_MB_ABCD);
	assert_int_equal(r.mul, 1);
	assert_int_equal(r.exp, 0);
	assert_int_equal(r.unit, SM_UNIT_NONE);
	assert_string_equal(r.unit_text, "");
	assert_int_equal(r.obis.present, 0);
	assert_int_equal(reg_of("address 0\nfunction 4\n").function, 4);
	/* units: the base unit and its exponent, with the Scale */
	static const struct {
		const char *unit;
		const char *scale;
		enum sm_unit want;
		int64_t mul;
		int exp;
	} units[] = {
		{"Wh", "1", SM_UNIT_WH, 1, 0},        {"kWh", "1", SM_UNIT_WH, 1, 3},
		{"kWh", "0.1", SM_UNIT_WH, 1, 2},     {"kWh", "0.01", SM_UNIT_WH, 1, 1},
		{"MWh", "0.001", SM_UNIT_WH, 1, 3},   {"kvarh", "1", SM_UNIT_VARH, 1, 3},
		{"kVAh", "2.5", SM_UNIT_VAH, 25, 2},  {"W", "10", SM_UNIT_W, 1, 1},
		{"kW", "0.001", SM_UNIT_W, 1, 0},     {"var", "1", SM_UNIT_VAR, 1, 0},
		{"kvar", "1", SM_UNIT_VAR, 1, 3},     {"VA", "1", SM_UNIT_VA, 1, 0},
		{"V", "0.1", SM_UNIT_V, 1, -1},       {"A", "0.001", SM_UNIT_A, 1, -3},
		{"mA", "1", SM_UNIT_A, 1, -3},        {"Hz", "0.01", SM_UNIT_HZ, 1, -2},
		{"m3", "0.001", SM_UNIT_M3, 1, -3},   {"l", "1", SM_UNIT_M3, 1, -3},
		{"s", "60", SM_UNIT_S, 6, 1},         {"\xc2\xb0" "C", "0.1", SM_UNIT_CELSIUS, 1, -1},
		{"kwh", "1", SM_UNIT_WH, 1, 3},       {"", "1", SM_UNIT_NONE, 1, 0},
		{"%", "0.01", SM_UNIT_OTHER, 1, -2},  {"rpm", "1", SM_UNIT_OTHER, 1, 0},
		{"1234567", "1", SM_UNIT_OTHER, 1, 0},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char body[128];
		snprintf(body, sizeof(body), "Address 1\nUnit \"%s\"\nScale %s\n", units[i].unit,
			 units[i].scale);
		r = reg_of(body);
		if (r.unit != units[i].want || r.mul != units[i].mul || r.exp != units[i].exp)
			fail_msg("Unit \"%s\" Scale %s: unit %d mul %lld exp %d, want %d %lld %d", units[i].unit,
				 units[i].scale, (int)r.unit, (long long)r.mul, r.exp, (int)units[i].want,
				 (long long)units[i].mul, units[i].exp);
		if (r.unit == SM_UNIT_OTHER)
			assert_string_equal(r.unit_text, units[i].unit);
	}
	/* Obis: a full code */
	r = reg_of("Address 1\nObis \"1-0:32.7.0\"\n");
	assert_int_equal(r.obis.v[SM_OBIS_C], 32);
	assert_int_equal(r.obis.v[SM_OBIS_D], 7);
	assert_int_equal(reg_of("Address 1\nObis \"1-0:1.8.0*255\"\n").obis.v[SM_OBIS_F], 255);
}

/* Scale becomes the shortest exact decimal; from config text and as
 * doubles the collectd tree hands over (collectd reads numbers with strtod). */
static void test_mb_scale_exact(void **state)
{
	(void)state;
	static const struct {
		double d;
		const char *text;
		int64_t mul;
		int exp;
	} cases[] = {
		{0.1, "0.1", 1, -1},
		{0.001, "0.001", 1, -3},
		{2.5, "2.5", 25, -1},
		{1e-6, "1e-6", 1, -6},
		{123.456, "123.456", 123456, -3},
		{-1, "-1", -1, 0},
		{1000, "1000", 1, 3},
		{1, "1.0", 1, 0},
		{0.3, "0.30", 3, -1},
		{-0.25, "-0.25", -25, -2},
		{100000, "1e5", 1, 5},
		{65536, "0x10000", 65536, 0},
		{1.1, "1.1", 11, -1},
		{0.07, "0.07", 7, -2},
		{1e-22, "1e-22", 1, -22},
		{1e22, "1e22", 1, 22},
		{123456789012345.0, "123456789012345", 123456789012345LL, 0},
		{0.123456789012345, "0.123456789012345", 123456789012345LL, -15},
		{999999999999999e-20, "999999999999999e-20", 999999999999999LL, -20},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double parsed;
		assert_true(sm_cfg_parse_number(cases[i].text, strlen(cases[i].text), &parsed));
		if (parsed != cases[i].d)
			fail_msg("\"%s\" parsed as %.17g, not %.17g", cases[i].text, parsed, cases[i].d);
		char body[96];
		snprintf(body, sizeof(body), "Address 1\nScale %s\n", cases[i].text);
		struct sm_mb_reg r = reg_of(body);
		if (r.mul != cases[i].mul || r.exp != cases[i].exp)
			fail_msg("Scale %s: %lld e%d, want %lld e%d", cases[i].text, (long long)r.mul, r.exp,
				 (long long)cases[i].mul, cases[i].exp);
		/* the same double through a converted (collectd) tree */
		struct sm_cfg_value name = vstr("m"), rname = vstr("r"), addr = vnum(1), sc = vnum(cases[i].d);
		struct sm_cfg_node opts[2] = {
			{.key = (char *)(uintptr_t)"Address", .values = &addr, .nvalues = 1},
			{.key = (char *)(uintptr_t)"Scale", .values = &sc, .nvalues = 1},
		};
		struct sm_cfg_node reg = {.key = (char *)(uintptr_t)"Register", .values = &rname, .nvalues = 1,
					  .children = opts, .nchildren = 2, .block = true};
		struct sm_cfg_node map = {.key = (char *)(uintptr_t)"RegisterMap", .values = &name, .nvalues = 1,
					  .children = &reg, .nchildren = 1, .block = true};
		struct sm_cfg_node plugin = {.key = (char *)(uintptr_t)"Plugin", .children = &map, .nchildren = 1,
					     .block = true};
		struct sm_config c;
		char err[512] = "";
		sm_config_init(&c);
		if (sm_config_from_tree(&c, &plugin, err, sizeof(err)) != SM_OK)
			fail_msg("%.17g: %s", cases[i].d, err);
		assert_int_equal(c.maps[0]->regs[0].mul, cases[i].mul);
		assert_int_equal(c.maps[0]->regs[0].exp, cases[i].exp);
		sm_config_free(&c);
	}
	/* not exact in 15 digits, zero, out of range, not a number */
	static const char *const bad[] = {"0.1234567890123456", "1234567890123456", "0", "-0", "1e-23",
					  "1e37", "0.30000000000000004"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double d;
		assert_true(sm_cfg_parse_number(bad[i], strlen(bad[i]), &d));
		char body[96], msg[256];
		snprintf(body, sizeof(body), REG("r", "Address 1\nScale %s\n"), bad[i]);
		snprintf(msg, sizeof(msg),
			 "register map \"m\": register \"r\": Scale: expected a nonzero number of at most 15 "
			 "significant digits (magnitude 1e-22 to 1e37), got %.17g",
			 d);
		map_fails(body, msg);
	}
	map_fails(REG("r", "Address 1\nScale \"0.1\"\n"),
		  "register map \"m\": register \"r\": Scale: expected a nonzero number, got \"0.1\"");
	map_fails(REG("r", "Address 1\nScale true\n"),
		  "register map \"m\": register \"r\": Scale: expected a nonzero number, got true");

	/* random decimals of 1..15 digits: the shortest form comes back */
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 20; round++) {
		enum { N = 200 };
		int64_t want_mul[N];
		int want_exp[N];
		size_t cap = N * 96 + 64, len = 0;
		char *text = malloc(cap);
		assert_non_null(text);
		len += (size_t)snprintf(text + len, cap - len, "<RegisterMap \"rnd\">\n");
		for (int i = 0; i < N; i++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			int digits = 1 + (int)(seed % 15);
			int64_t mul = 0;
			uint64_t x = seed >> 8;
			for (int k = 0; k < digits; k++) {
				mul = mul * 10 + (int64_t)(x % 10);
				x /= 10;
			}
			if (mul % 10 == 0)
				mul += 1 + (int64_t)(x % 9); /* no trailing zero: shortest as written */
			if (seed & 1)
				mul = -mul;
			int e = (int)((seed >> 40) % 41) - 20;
			want_mul[i] = mul;
			want_exp[i] = e;
			len += (size_t)snprintf(text + len, cap - len,
						"<Register \"r%d\">\nAddress %d\nScale %lldE%d\n</Register>\n", i,
						i, (long long)mul, e);
		}
		len += (size_t)snprintf(text + len, cap - len, "</RegisterMap>\n");
		assert_true(len < cap);
		struct sm_config c;
		char err[512] = "";
		if (load_tree(text, &c, err, sizeof(err)) != SM_OK)
			fail_msg("%s", err);
		for (int i = 0; i < N; i++) {
			const struct sm_mb_reg *r = &c.maps[0]->regs[i];
			if (r->mul != want_mul[i] || r->exp != want_exp[i])
				fail_msg("Scale %lldE%d read as %lld e%d", (long long)want_mul[i], want_exp[i],
					 (long long)r->mul, r->exp);
		}
		sm_config_free(&c);
		free(text);
	}
}

#define TYPES_LIST "int16, uint16, int32, uint32, int64, uint64, float32, float64"
#define MAP_OPTS "MaxRegisters, EvenCount, MaxGap, Description"
#define REG_OPTS "Address, Function, Type, WordOrder, Scale, Unit, Obis"
#define RERR(opt) "register map \"m\": register \"r\": " opt ": "

static void test_mb_map_errors(void **state)
{
	(void)state;
	/* register options */
	map_fails(REG("r", "Address 1\nType \"float\"\n"),
		  RERR("Type") "expected one of " TYPES_LIST ", got \"float\"");
	map_fails(REG("r", "Address 1\nType 16\n"), RERR("Type") "expected one of " TYPES_LIST ", got 16");
	map_fails(REG("r", "Address 1\nWordOrder \"BACD\"\n"),
		  RERR("WordOrder") "expected one of ABCD, CDAB, BADC, DCBA, got \"BACD\"");
	map_fails(REG("r", "Address 70000\n"),
		  RERR("Address") "expected a 0-based protocol address 0..65535, got 70000");
	map_fails(REG("r", "Address -1\n"), RERR("Address") "expected a 0-based protocol address 0..65535, got -1");
	map_fails(REG("r", "Address 1.5\n"), RERR("Address") "expected a 0-based protocol address 0..65535, got 1.5");
	map_fails(REG("r", "Address \"40001\"\n"),
		  RERR("Address") "expected a 0-based protocol address 0..65535, got \"40001\"");
	map_fails(REG("r", "Address\n"), RERR("Address") "expected a value, got none");
	map_fails(REG("r", "Address 1 2\n"), RERR("Address") "expected one value, got 2");
	map_fails(REG("r", "Address 1\nAddress 2\n"), RERR("Address") "given more than once");
	map_fails(REG("r", "Function 4\n"),
		  RERR("Address") "missing (expected the register's 0-based protocol address, 0..65535)");
	map_fails(REG("r", "Address 1\nFunction 6\n"),
		  RERR("Function") "expected 3 (holding registers) or 4 (input registers), got 6");
	map_fails(REG("r", "Address 1\nFunction \"input\"\n"),
		  RERR("Function") "expected 3 (holding registers) or 4 (input registers), got \"input\"");
	map_fails(REG("r", "Address 1\nUnit \"kilowatt\"\n"),
		  RERR("Unit") "expected a unit such as \"kWh\", \"W\", \"V\", \"A\" or \"Hz\" (text of up to 7 "
			       "characters for others), got \"kilowatt\"");
	map_fails(REG("r", "Address 1\nUnit 5\n"),
		  RERR("Unit") "expected a unit such as \"kWh\", \"W\", \"V\", \"A\" or \"Hz\" (text of up to 7 "
			       "characters for others), got 5");
	map_fails(REG("r", "Address 1\nUnit \"a\tb\"\n"),
		  RERR("Unit") "expected a unit such as \"kWh\", \"W\", \"V\", \"A\" or \"Hz\" (text of up to 7 "
			       "characters for others), got \"a\\x09b\"");
	map_fails(REG("r", "Address 1\nObis \"32.7.0\"\n"),
		  RERR("Obis") "expected an OBIS code A-B:C.D.E such as \"1-0:32.7.0\", got \"32.7.0\"");
	map_fails(REG("r", "Address 1\nObis \"1-0:32.7.0 \"\n"),
		  RERR("Obis") "expected an OBIS code A-B:C.D.E such as \"1-0:32.7.0\", got \"1-0:32.7.0 \"");
	map_fails(REG("r", "Address 1\nObis \"1-0:1.8\"\n"),
		  RERR("Obis") "expected an OBIS code A-B:C.D.E such as \"1-0:32.7.0\", got \"1-0:1.8\"");
	map_fails(REG("r", "Address 1\nObis \"\"\n"),
		  RERR("Obis") "expected an OBIS code A-B:C.D.E such as \"1-0:32.7.0\", got \"\"");
	map_fails(REG("r", "Address 1\nName \"x\"\n"),
		  "register map \"m\": register \"r\": unknown option \"Name\" (known: " REG_OPTS ")");
	map_fails(REG("r", "Address 1\n<Bits>\n</Bits>\n"),
		  "register map \"m\": register \"r\": unknown block <Bits> (line 5): expected the options " REG_OPTS);
	/* register names */
	map_fails(REG("voltage l1", "Address 1\n"),
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got \"voltage l1\"");
	map_fails(REG("voltage-l1", "Address 1\n"),
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got \"voltage-l1\"");
	map_fails(REG("", "Address 1\n"),
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got \"\"");
	map_fails(REG("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", "Address 1\n"),
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv\"");
	map_fails(REG("Voltage_l1", "Address 1\n"),
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got \"Voltage_l1\"");
	map_fails("<Register>\nAddress 1\n</Register>\n",
		  "register map \"m\": <Register> (line 3): expected one string argument, the register name "
		  "(1 to 47 characters of a-z 0-9 _), got 0 values");
	/* 47 characters are fine */
	struct sm_config c;
	char err[512] = "";
	assert_int_equal(load_tree(MAP("m", REG("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs_0", "Address 1\n")),
				   &c, err, sizeof(err)),
			 SM_OK);
	sm_config_free(&c);
	/* map options */
	map_fails("MaxRegisters 0\n" REG("r", "Address 1\n"),
		  "register map \"m\": MaxRegisters: expected 1..125 (registers per request), got 0");
	map_fails("MaxRegisters 126\n" REG("r", "Address 1\n"),
		  "register map \"m\": MaxRegisters: expected 1..125 (registers per request), got 126");
	map_fails("MaxGap 126\n" REG("r", "Address 1\n"),
		  "register map \"m\": MaxGap: expected 0..125 (unlisted registers a request may read "
		  "through), got 126");
	map_fails("EvenCount \"maybe\"\n" REG("r", "Address 1\n"),
		  "register map \"m\": EvenCount: expected true or false, got \"maybe\"");
	map_fails("EvenCount true\nMaxRegisters 81\n" REG("r", "Address 1\n"),
		  "register map \"m\": MaxRegisters: expected an even number with EvenCount true, got 81");
	map_fails("Description 5\n" REG("r", "Address 1\n"),
		  "register map \"m\": Description: expected a string of at most 200 printable characters, got 5");
	map_fails("MaxGap 1\nMaxGap 2\n" REG("r", "Address 1\n"), "register map \"m\": MaxGap: given more than once");
	map_fails("Model \"sdm630\"\n" REG("r", "Address 1\n"),
		  "register map \"m\": unknown option \"Model\" (known: " MAP_OPTS ", <Register \"name\">)");
	map_fails("<Meter \"x\">\n</Meter>\n",
		  "register map \"m\": unknown block <Meter> (line 3): expected <Register \"name\"> blocks and "
		  "the options " MAP_OPTS);
	map_fails("", "register map \"m\": expected at least one <Register \"name\"> block, got none");
	map_fails("MaxRegisters 10\n", "register map \"m\": expected at least one <Register \"name\"> block, got none");
	/* too many registers */
	{
		size_t cap = 300 * 48 + 64, len = 0;
		char *body = malloc(cap);
		assert_non_null(body);
		body[0] = '\0';
		for (int i = 0; i < 257; i++)
			len += (size_t)snprintf(body + len, cap - len, "<Register \"r%d\">\nAddress %d\n</Register>\n",
						i, i);
		map_fails(body, "register map \"m\": expected at most 256 <Register> blocks, got 257");
		free(body);
	}
	/* sm_mb_map_check's findings, with the map's name */
	static const char *const checks[] = {
		REG("a", "Address 0\nType \"float32\"\n") REG("b", "Address 1\n"),         /* overlap */
		REG("a", "Address 0\n") REG("a", "Address 5\n"),                           /* same name */
		"MaxRegisters 1\n" REG("a", "Address 0\nType \"int32\"\n"),                /* wider than a request */
		REG("a", "Address 65535\nType \"uint32\"\n"),                              /* beyond 65535 */
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), MAP("trovis", "%s"), checks[i]);
		if (load_tree(text, &c, err, sizeof(err)) != SM_E_CONFIG)
			fail_msg("no error for <<%s>>", checks[i]);
		assert_int_equal(strncmp(err, "register map \"trovis\": ", 23), 0);
		assert_true(strlen(err) > 23);
		assert_int_equal(c.nmaps, 0);
		sm_config_free(&c);
	}
	assert_int_equal(load_tree(MAP("trovis", REG("a", "Address 0\nType \"float32\"\n") REG("b", "Address 1\n")),
				   &c, err, sizeof(err)),
			 SM_E_CONFIG);
	assert_contains(err, "\"a\"");
	assert_contains(err, "\"b\"");
	sm_config_free(&c);
	/* the same address under the other function is not an overlap */
	assert_int_equal(load_tree(MAP("m", REG("a", "Address 0\nFunction 3\n") REG("b", "Address 0\nFunction 4\n")),
				   &c, err, sizeof(err)),
			 SM_OK);
	sm_config_free(&c);
}

static void test_mb_map_names(void **state)
{
	(void)state;
	load_fails(MAP("sdm630", REG("r", "Address 1\n")),
		   "register map \"sdm630\": the name of a built-in model (give the map a name of its own, or "
		   "use Model \"sdm630\")");
	load_fails(MAP("SDM630", REG("r", "Address 1\n")),
		   "register map \"SDM630\": the name of a built-in model (give the map a name of its own, or "
		   "use Model \"sdm630\")");
	load_fails(MAP("a", REG("r", "Address 1\n")) MAP("a", REG("r", "Address 1\n")),
		   "register map \"a\": defined more than once (map names must be unique)");
	load_fails(MAP("my map", REG("r", "Address 1\n")),
		   "register map name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got \"my map\"");
	load_fails("<RegisterMap>\n</RegisterMap>\n",
		   "<RegisterMap> (line 1): expected one string argument (the map name), got 0 values");
	load_fails("<RegisterMap 5>\n</RegisterMap>\n",
		   "<RegisterMap> (line 1): expected one string argument (the map name), got 5");
	/* a map of one <Plugin smartmeter> block is seen from another's meters,
	 * and names are unique across them */
	need_modbus();
	static const char two[] = "<Plugin smartmeter>\n" MAP("x", REG("v", "Address 0\n")) "</Plugin>\n"
				  "<Plugin smartmeter>\n" METER("m", MB_USB0 "RegisterMap \"x\"\n") "</Plugin>\n";
	struct sm_cfg_node root;
	struct sm_config c;
	char err[512] = "";
	parse_ok(two, &root);
	sm_config_init(&c);
	for (const struct sm_cfg_node *b = sm_cfg_next_smartmeter(&root, NULL); b != NULL;
	     b = sm_cfg_next_smartmeter(&root, b))
		assert_int_equal(sm_config_from_tree(&c, b, err, sizeof(err)), SM_OK);
	assert_int_equal(sm_config_validate(&c, err, sizeof(err)), SM_OK);
	assert_ptr_equal(c.meters[0].mb_map, &c.maps[0]->map);
	const struct sm_cfg_node *first = sm_cfg_next_smartmeter(&root, NULL);
	assert_int_equal(sm_config_from_tree(&c, first, err, sizeof(err)), SM_E_CONFIG);
	assert_string_equal(err, "register map \"x\": defined more than once (map names must be unique)");
	sm_config_free(&c);
	sm_cfg_node_free(&root);
	/* inside a <Meter> a <RegisterMap> is unknown */
	load_fails(METER("m", MB_USB0 MAP("x", REG("v", "Address 0\n"))),
		   "meter \"m\": unknown block <RegisterMap> (line 4)");
}

static void test_mb_validate_maps(void **state)
{
	(void)state;
	need_modbus();
	char msg[1024];
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nRegisterMap \"x\"\n") MAP("x", REG("v", "Address 0\n")),
		   "meter \"m\": Model and RegisterMap: expected one of them, got both (a meter has one "
		   "register map)");
	snprintf(msg, sizeof(msg),
		 "meter \"m\": Model or RegisterMap: missing (expected Model, one of %s, or RegisterMap, "
		 "the name of a <RegisterMap> block)",
		 sm_mb_model_names());
	load_fails(METER("m", MB_USB0), msg);
	load_fails(METER("m", MB_USB0 "RegisterMap \"trovis\"\n"),
		   "meter \"m\": RegisterMap: no <RegisterMap \"trovis\"> block (none is defined)");
	load_fails(METER("m", MB_USB0 "RegisterMap \"Trovis\"\n") MAP("trovis", REG("v", "Address 0\n"))
			   MAP("em", REG("v", "Address 0\n")),
		   "meter \"m\": RegisterMap: no <RegisterMap \"Trovis\"> block (defined: \"trovis\", \"em\")");
	load_fails(METER("m", MB_USB0 "RegisterMap \"sdm120\"\n"),
		   "meter \"m\": RegisterMap: no <RegisterMap \"sdm120\"> block (none is defined; \"sdm120\" is "
		   "a built-in model: use Model \"sdm120\")");
	/* the modbus options on a meter of another protocol */
	load_fails(METER("p1", DSMR_USB0 "Model \"sdm630\"\n"),
		   "meter \"p1\": Model: applies only to Protocol \"modbus\" (this meter's Protocol is \"dsmr\")");
	load_fails(METER("p1", DSMR_USB0 "Slave 2\n"),
		   "meter \"p1\": Slave: applies only to Protocol \"modbus\" (this meter's Protocol is \"dsmr\")");
	load_fails(METER("p1", DSMR_USB0 "RegisterMap \"x\"\n") MAP("x", REG("v", "Address 0\n")),
		   "meter \"p1\": RegisterMap: applies only to Protocol \"modbus\" (this meter's Protocol is "
		   "\"dsmr\")");
	/* other options that do not fit a Modbus meter */
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nIgnoreChecksum true\n"),
		   "meter \"m\": IgnoreChecksum: not for Protocol \"modbus\" (libmodbus checks the CRC of every "
		   "reply and drops a bad one)");
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nIgnoreChecksum false\n"),
		   "meter \"m\": IgnoreChecksum: not for Protocol \"modbus\" (libmodbus checks the CRC of every "
		   "reply and drops a bad one)");
	load_fails(METER("m", "Protocol \"modbus\"\nDevice \"file:/tmp/x\"\nModel \"sdm630\"\n"),
		   "meter \"m\": Device: expected a serial port, tcp://HOST:PORT or rtu+tcp://HOST:PORT for "
		   "Protocol \"modbus\", got \"file:/tmp/x\" (a replayed file cannot answer polls)");
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nDataBits 6\n"),
		   "meter \"m\": DataBits: expected 7 or 8 for Protocol \"modbus\", got 6");
	struct sm_config c;
	load_ok(METER("m", MB_USB0 "Model \"sdm630\"\nDataBits 7\nParity \"even\"\n"), &c);
	sm_config_free(&c);
	/* Timeout: the response timeout, 0.01..10 s */
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nTimeout 30\n"),
		   "meter \"m\": Timeout: expected a number of seconds from 0.01 to 10 (the response timeout "
		   "of one Modbus request), got 30");
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nTimeout 0.005\n"),
		   "meter \"m\": Timeout: expected a number of seconds from 0.01 to 10 (the response timeout "
		   "of one Modbus request), got 0.005");
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nTimeout 10.5\n"),
		   "meter \"m\": Timeout: expected a number of seconds from 0.01 to 10 (the response timeout "
		   "of one Modbus request), got 10.5");
	/* a map too big to poll: more words than a plan holds */
	{
		size_t cap = 256 * 80 + 64, len = 0;
		char *text = malloc(cap);
		assert_non_null(text);
		len += (size_t)snprintf(text + len, cap - len,
					METER("big", MB_USB0 "RegisterMap \"big\"\n") "<RegisterMap \"big\">\n");
		for (int i = 0; i < 256; i++)
			len += (size_t)snprintf(text + len, cap - len,
						"<Register \"r%d\">\nAddress %d\nType \"int64\"\n</Register>\n", i,
						i * 100);
		snprintf(text + len, cap - len, "</RegisterMap>\n");
		char err[512] = "";
		assert_int_equal(load(text, &c, err, sizeof(err)), SM_E_CONFIG);
		assert_int_equal(strncmp(err, "meter \"big\": RegisterMap \"big\": ", 32), 0);
		assert_true(strlen(err) > 32);
		sm_config_free(&c);
		free(text);
	}
}

static void test_mb_slaves(void **state)
{
	(void)state;
	need_modbus();
	struct sm_config c;
#define SLAVE_ERR(id, extra)                                                                    \
	"meter \"m\": Slave: expected 1..247 on a Modbus RTU Device (0 and 255 only with a tcp:// " \
	"Device, Modbus TCP), got " id extra
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nSlave 0\n"),
		   SLAVE_ERR("0", " (0 is the broadcast address: a read from it is never answered)"));
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nSlave 255\n"), SLAVE_ERR("255", ""));
	load_fails(METER("m", MB_USB0 "Model \"sdm630\"\nSlave 248\n"), SLAVE_ERR("248", ""));
	load_fails(METER("m", "Protocol \"modbus\"\nDevice \"rtu+tcp://h:4001\"\nModel \"sdm630\"\nSlave 0\n"),
		   SLAVE_ERR("0", " (0 is the broadcast address: a read from it is never answered)"));
#undef SLAVE_ERR
	/* Modbus TCP: 248..254 are refused as on RTU (libmodbus takes none of them) */
	load_fails(METER("m", "Protocol \"modbus\"\nDevice \"tcp://10.0.0.5:502\"\nModel \"sdm630\"\nSlave 250\n"),
		   "meter \"m\": Slave: expected 0..247 or 255 with a tcp:// Device, got 250");
	/* Modbus TCP: 0 and 255 address the gateway or the device itself */
	load_ok(METER("a", "Protocol \"modbus\"\nDevice \"tcp://10.0.0.5:502\"\nModel \"sdm630\"\nSlave 0\n")
			METER("b", "Protocol \"modbus\"\nDevice \"tcp://10.0.0.5:502\"\nModel \"sdm630\"\nSlave 255\n")
			METER("c", "Protocol \"modbus\"\nDevice \"tcp://10.0.0.5:502\"\nModel \"sdm630\"\n")
			METER("d", MB_USB0 "Model \"sdm630\"\nSlave 247\n"),
		&c);
	assert_int_equal(c.meters[0].slave, 0);
	assert_int_equal(c.meters[1].slave, 255);
	assert_int_equal(c.meters[2].slave, 1);
	assert_int_equal(c.meters[3].slave, 247);
	sm_config_free(&c);
	/* one id per bus */
	load_fails(METER("a", MB_USB0 "Model \"sdm630\"\nSlave 3\n") METER("b", MB_USB0 "Model \"em24\"\nSlave 3\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" and both have Slave 3: meters on one "
		   "Modbus bus need each a Slave id of its own");
	load_fails(METER("a", MB_USB0 "Model \"sdm630\"\n") METER("x", MB_USB0 "Model \"sdm630\"\nSlave 2\n")
			   METER("b", MB_USB0 "Model \"em24\"\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" and both have Slave 1: meters on one "
		   "Modbus bus need each a Slave id of its own");
	load_fails(METER("a", "Protocol \"modbus\"\nDevice \"tcp://h:502\"\nModel \"sdm630\"\nSlave 0\n")
			   METER("b", "Protocol \"modbus\"\nDevice \"tcp://h:502\"\nModel \"em24\"\nSlave 0\n"),
		   "meters \"a\" and \"b\" share Device \"tcp://h:502\" and both have Slave 0: meters on one "
		   "Modbus bus need each a Slave id of its own");
	/* the same id on different buses is fine */
	load_ok(METER("a", MB_USB0 "Model \"sdm630\"\n")
			METER("b", "Protocol \"modbus\"\nDevice \"/dev/ttyUSB1\"\nModel \"sdm630\"\n"),
		&c);
	sm_config_free(&c);
}

static void test_mb_shared_device(void **state)
{
	(void)state;
	need_modbus();
	struct sm_config c;
	/* only modbus meters on a Modbus bus, in either order */
	load_fails(METER("sdm", MB_USB0 "Model \"sdm630\"\n") METER("p1", DSMR_USB0),
		   "meters \"sdm\" and \"p1\" share Device \"/dev/ttyUSB0\", but \"p1\" is not a modbus meter "
		   "(Protocol \"dsmr\"): every meter on a Modbus bus must have Protocol \"modbus\"");
	load_fails(METER("p1", DSMR_USB0 "Baudrate 9600\n") METER("sdm", MB_USB0 "Model \"sdm630\"\n"),
		   "meters \"p1\" and \"sdm\" share Device \"/dev/ttyUSB0\", but \"p1\" is not a modbus meter "
		   "(Protocol \"dsmr\"): every meter on a Modbus bus must have Protocol \"modbus\"");
	load_fails(METER("sdm", "Protocol \"modbus\"\nDevice \"tcp://h:502\"\nModel \"sdm630\"\n")
			   METER("p1", "Protocol \"dsmr\"\nDevice \"tcp://h:502\"\n"),
		   "meters \"sdm\" and \"p1\" share Device \"tcp://h:502\", but \"p1\" is not a modbus meter "
		   "(Protocol \"dsmr\"): every meter on a Modbus bus must have Protocol \"modbus\"");
	/* an RTU bus: line settings must agree */
	load_fails(METER("a", MB_USB0 "Model \"sdm630\"\n")
			   METER("b", MB_USB0 "Model \"sdm630\"\nSlave 2\nBaudrate 19200\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on Baudrate (9600 vs "
		   "19200): meters on one device must use the same line settings");
	load_fails(METER("a", MB_USB0 "Model \"sdm630\"\nParity \"even\"\n")
			   METER("b", MB_USB0 "Model \"sdm630\"\nSlave 2\n"),
		   "meters \"a\" and \"b\" share Device \"/dev/ttyUSB0\" but disagree on Parity (even vs "
		   "none): meters on one device must use the same line settings");
	/* tcp:// and rtu+tcp://: the line settings are not used and cannot conflict */
	load_ok(METER("a", "Protocol \"modbus\"\nDevice \"tcp://h:502\"\nModel \"sdm630\"\n")
			METER("b", "Protocol \"modbus\"\nDevice \"tcp://h:502\"\nModel \"sdm630\"\nSlave 2\n"
				   "Baudrate 19200\nParity \"odd\"\n")
			METER("c", "Protocol \"modbus\"\nDevice \"rtu+tcp://h:4001\"\nModel \"sdm630\"\n"
				   "StopBits 2\n")
			METER("d", "Protocol \"modbus\"\nDevice \"rtu+tcp://h:4001\"\nModel \"sdm630\"\nSlave 9\n"
				   "DataBits 7\n"),
		&c);
	struct sm_port *ports;
	size_t np;
	assert_int_equal(sm_config_ports(&c, &ports, &np), SM_OK);
	assert_int_equal(np, 2);
	assert_int_equal(ports[0].nmeters, 2);
	assert_int_equal(ports[1].nmeters, 2);
	sm_ports_free(ports, np);
	sm_config_free(&c);
	/* other protocols keep their rules on tcp:// */
	load_fails(METER("a", "Protocol \"dsmr\"\nDevice \"tcp://h:1\"\n")
			   METER("b", "Protocol \"dsmr\"\nDevice \"tcp://h:1\"\nBaudrate 9600\n"),
		   "meters \"a\" and \"b\" share Device \"tcp://h:1\" but disagree on Baudrate (115200 vs "
		   "9600): meters on one device must use the same line settings");
}

/* Meters built by hand (as the command line does), with the stand-in
 * protocol when the real one is not built yet. */
static void test_mb_by_hand(void **state)
{
	(void)state;
	struct sm_config c;
	struct sm_meter_cfg *m;
	char err[512] = "";
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "cli", &m, err, sizeof(err)), SM_OK);
	m->proto = mb_proto();
	assert_int_equal(sm_meter_set_flag(m, "device", "/dev/ttyUSB3", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "model", "sdm72", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "slave", "5", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "timeout", "0.2", err, sizeof(err)), SM_OK);
	validate_ok(&c);
	assert_int_equal(c.meters[0].slave, 5);
	assert_true(c.meters[0].timeout_s == 0.2);
	assert_ptr_equal(c.meters[0].mb_map, sm_mb_model_find("sdm72"));
	assert_non_null(c.meters[0].mb_plan);
	sm_config_free(&c);
	/* a mixed bus by hand */
	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "a", &m, err, sizeof(err)), SM_OK);
	m->proto = mb_proto();
	assert_int_equal(sm_meter_set_flag(m, "device", "/dev/ttyUSB3", err, sizeof(err)), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "model", "sdm72", err, sizeof(err)), SM_OK);
	add_iec(&c, "b", "/dev/ttyUSB3", NULL);
	validate_fails(&c, "meters \"a\" and \"b\" share Device \"/dev/ttyUSB3\", but \"b\" is not a modbus "
			   "meter (Protocol \"iec62056-21\"): every meter on a Modbus bus must have Protocol "
			   "\"modbus\"");
}

/* Letters of an OBIS group are kept in obis_ names (SPEC section 6), so
 * Select takes capitals there, and only there. */
static void test_select_obis_name(void **state)
{
	(void)state;
	struct sm_config c;
	struct sm_meter_cfg *m = NULL;
	char err[256];

	sm_config_init(&c);
	assert_int_equal(sm_config_add_meter(&c, "home", &m, err, sizeof(err)), SM_OK);
	struct sm_cfg_value ob = vstr("obis_0_0_C_1_0");
	assert_int_equal(sm_meter_set(m, "Select", &ob, 1, err, sizeof(err)), SM_OK);
	assert_int_equal(m->nselect, 1);
	assert_string_equal(m->select[0], "obis_0_0_C_1_0");
	assert_true(sm_meter_selects(m, NULL, "obis_0_0_C_1_0"));
	assert_false(sm_meter_selects(m, NULL, "obis_0_0_c_1_0"));
	struct sm_cfg_value bad = vstr("Obis_0_0_C_1_0");
	assert_int_equal(sm_meter_set(m, "Select", &bad, 1, err, sizeof(err)), SM_E_CONFIG);
	sm_config_free(&c);
}

/* A key typed without quotes is never quoted back in a syntax error. */
static void test_parse_error_hides_keys(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"Key 8F3A-C9E1-8F3A-C9E1-8F3A-C9E1-8F3A-C9E1\n",
		"Key 0x8F3AC9E18F3AC9E18F3AC9E18F3AC9E1\n",
		"Key 8F3AC9E18F3AC9E1 8F3AC9E18F3AC9E1 <\n",
		"<Meter 8F3AC9E18F3AC9E1+8F3AC9E18F3AC9E1>\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sm_cfg_node root;
		char err[256] = "";
		memset(&root, 0, sizeof root);
		enum sm_err rc = parse_n(bad[i], strlen(bad[i]), "k.conf", &root, err, sizeof(err));
		sm_cfg_node_free(&root);
		assert_int_equal(rc, SM_E_CONFIG);
		assert_true(err[0] != '\0');
		if (strstr(err, "8F3A") != NULL || strstr(err, "C9E1") != NULL)
			fail_msg("a key shows in the error: %s", err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full_collectd_conf),
		cmocka_unit_test(test_parse_error_hides_keys),
		cmocka_unit_test(test_select_obis_name),
		cmocka_unit_test(test_parse_bare_meters),
		cmocka_unit_test(test_parse_plugin_block_not_first),
		cmocka_unit_test(test_parse_comments),
		cmocka_unit_test(test_parse_empty_inputs),
		cmocka_unit_test(test_parse_quoting_escapes),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_number_function),
		cmocka_unit_test(test_parse_booleans),
		cmocka_unit_test(test_parse_multiline_strings),
		cmocka_unit_test(test_parse_continuation_and_line_ends),
		cmocka_unit_test(test_parse_syntax_errors),
		cmocka_unit_test(test_parse_nul_bytes),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_misc),
		cmocka_unit_test(test_option_table),
		cmocka_unit_test_setup_teardown(test_opt_protocol, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_device, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_baudrate, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_times, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_ignore_checksum, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_select, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_arity_and_duplicates, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_unknown, fx_setup, fx_teardown),
		cmocka_unit_test(test_tree_errors),
		cmocka_unit_test(test_tree_names_ok),
		cmocka_unit_test(test_tree_from_converted_tree),
		cmocka_unit_test(test_validate_required),
		cmocka_unit_test(test_validate_defaults),
		cmocka_unit_test(test_ports_shared_device),
		cmocka_unit_test(test_ports_conflict),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test_setup_teardown(test_selects, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flags_valid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flags_invalid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_iec_values, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flags_iec, fx_setup, fx_teardown),
		cmocka_unit_test(test_option_protocols),
		cmocka_unit_test(test_iec_wrong_protocol),
		cmocka_unit_test(test_iec_defaults_and_line),
		cmocka_unit_test(test_iec_bus_rules),
		cmocka_unit_test(test_iec_from_text),
		cmocka_unit_test_setup_teardown(test_opt_key_values, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_opt_framing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_key_file, fx_setup, fx_teardown),
		cmocka_unit_test(test_key_validate),
		cmocka_unit_test(test_key_never_echoed),
		cmocka_unit_test(test_cfg_wipe_keys),
		cmocka_unit_test_setup_teardown(test_mb_options, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mb_device_rtu_tcp, fx_setup, fx_teardown),
		cmocka_unit_test(test_mb_full_conf),
		cmocka_unit_test(test_mb_defaults),
		cmocka_unit_test(test_mb_register_values),
		cmocka_unit_test(test_mb_scale_exact),
		cmocka_unit_test(test_mb_map_errors),
		cmocka_unit_test(test_mb_map_names),
		cmocka_unit_test(test_mb_validate_maps),
		cmocka_unit_test(test_mb_slaves),
		cmocka_unit_test(test_mb_shared_device),
		cmocka_unit_test(test_mb_by_hand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
