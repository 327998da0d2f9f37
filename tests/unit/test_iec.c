/*
 * test_iec.c - IEC 62056-21 identification, encoder helpers, transcript
 * splitter, framer, decoder and the feed/idle side of the "iec62056-21"
 * protocol entry.  Messages are built by our own encoder from data lines
 * shaped like the real readouts (reduced and full codes, letters, *F
 * suffixes, padded values, several data sets per line, '&' values, LF LF
 * line ends, no STX); every input is fed from an exactly-sized heap copy so
 * AddressSanitizer sees any overread.  The sign-on session is
 * test_iec_session.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crc.h"
#include "iec62056_21.h"
#include "obis.h"
#include "proto.h"
#include "reading.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* A message built by our encoder: identification line + data message. */
struct msg {
	uint8_t b[SM_IEC_MAX + 4096];
	size_t n;
};

static void msg_ident(struct msg *m, const char *man, char z, char enh, const char *ident)
{
	struct sm_iec_ident id;
	memset(&id, 0, sizeof id);
	memcpy(id.manufacturer, man, 3);
	id.baud_char = z;
	id.enh = enh;
	snprintf(id.ident, sizeof id.ident, "%s", ident);
	size_t n = 0;
	assert_int_equal(sm_iec_encode_ident(&id, m->b + m->n, sizeof m->b - m->n, &n), SM_OK);
	m->n += n;
}

static void msg_data(struct msg *m, const char *lines, bool stx)
{
	size_t n = 0;
	assert_int_equal(sm_iec_encode_data(lines, strlen(lines), stx, m->b + m->n, sizeof m->b - m->n,
					    &n),
			 SM_OK);
	m->n += n;
}

static void msg_raw(struct msg *m, const void *p, size_t n)
{
	assert_true(n <= sizeof m->b - m->n);
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

#define msg_lit(m, lit) msg_raw((m), (lit), sizeof(lit) - 1)

static struct msg *msg_new(void)
{
	struct msg *m = calloc(1, sizeof *m);
	assert_non_null(m);
	return m;
}

struct ev {
	int rc;
	enum sm_check check;
	bool unterminated;
	size_t n;
	uint16_t sum; /* CRC of the frame bytes */
	size_t readings;
};

struct evlog {
	size_t n;
	struct ev e[64];
	char last_diag[160];
};

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

static void log_ev(struct evlog *l, enum sm_err rc, const struct sm_frame *fr,
		   const struct sm_diag *d)
{
	assert_true(l->n < 64);
	struct ev *e = &l->e[l->n++];
	memset(e, 0, sizeof *e);
	e->rc = rc;
	if (rc == SM_FRAME) {
		e->check = fr->check;
		e->unterminated = fr->unterminated;
		e->n = fr->n;
		e->sum = sm_crc16_arc(0, fr->p, fr->n);
		struct sm_reading_set *s = new_set();
		unsigned bad = 0;
		if (sm_iec_decode(fr, s, &bad, NULL, NULL) == SM_READINGS)
			e->readings = s->n;
		free(s);
	} else {
		snprintf(l->last_diag, sizeof l->last_diag, "%s", d->msg);
	}
}

/* Feed p[0..n) cut at the given offsets (each piece an exact heap copy),
 * then flush; log every result but SM_NEED_MORE. */
static void feed_cuts(struct sm_iec_framer *f, const uint8_t *p, size_t n, const size_t *cuts,
		      size_t ncuts, struct evlog *l)
{
	size_t start = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : n;
		uint8_t *piece = exact(p + start, stop - start);
		size_t len = stop - start, off = 0;
		int stuck = 0;
		while (off < len) {
			struct sm_frame fr;
			struct sm_diag d = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_iec_framer_feed(f, piece + off, len - off, &used, &fr, &d);
			assert_true(used <= len - off);
			off += used;
			if (rc == SM_NEED_MORE)
				assert_int_equal(off, len);
			else
				log_ev(l, rc, &fr, &d);
			stuck = used == 0 ? stuck + 1 : 0;
			assert_true(stuck < 2);
		}
		free(piece);
		start = stop;
	}
	struct sm_frame fr;
	struct sm_diag d = { { 0 } };
	enum sm_err rc = sm_iec_framer_flush(f, &fr, &d);
	if (rc != SM_NEED_MORE)
		log_ev(l, rc, &fr, &d);
}

static void feed_all(const uint8_t *p, size_t n, bool ignore, struct evlog *l)
{
	struct sm_iec_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_iec_framer_init(f, ignore);
	memset(l, 0, sizeof *l);
	feed_cuts(f, p, n, NULL, 0, l);
	free(f);
}

/* Frame the whole input (exactly one frame expected) and decode it. */
static enum sm_err decode_msg(const struct msg *m, bool ignore, struct sm_reading_set *s,
			      enum sm_check *check, unsigned *bad)
{
	struct sm_iec_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_iec_framer_init(f, ignore);
	uint8_t *p = exact(m->b, m->n);
	size_t off = 0;
	enum sm_err out = SM_NEED_MORE;
	struct sm_frame fr;
	struct sm_diag d = { { 0 } };
	while (off < m->n) {
		size_t used = 0;
		enum sm_err rc = sm_iec_framer_feed(f, p + off, m->n - off, &used, &fr, &d);
		off += used;
		if (rc == SM_FRAME) {
			out = sm_iec_decode(&fr, s, bad, NULL, &d);
			*check = fr.check;
			break;
		}
		if (rc != SM_NEED_MORE) {
			out = rc;
			break;
		}
	}
	if (out == SM_NEED_MORE) {
		enum sm_err rc = sm_iec_framer_flush(f, &fr, &d);
		if (rc == SM_FRAME) {
			out = sm_iec_decode(&fr, s, bad, NULL, &d);
			*check = fr.check;
		} else {
			out = rc;
		}
	}
	free(p);
	free(f);
	return out;
}

/* The reading named name: value as exact decimal text and unit. */
static void assert_num(const struct sm_reading_set *s, const char *name, const char *value,
		       const char *unit)
{
	const struct sm_reading *r = sm_set_find(s, name);
	if (r == NULL)
		fail_msg("no reading %s", name);
	assert_false(r->is_text);
	char vb[64];
	struct sm_buf b;
	sm_buf_init(&b, vb, sizeof vb);
	assert_int_equal(sm_decimal_format(&b, r->raw, r->scale), SM_OK);
	if (strcmp(vb, value) != 0)
		fail_msg("%s: value %s, expected %s", name, vb, value);
	const char *u = r->unit == SM_UNIT_OTHER ? r->unit_text : sm_unit_str(r->unit);
	if (strcmp(u, unit) != 0)
		fail_msg("%s: unit '%s', expected '%s'", name, u, unit);
}

static void assert_text(const struct sm_reading_set *s, const char *name, const char *text)
{
	const struct sm_reading *r = sm_set_find(s, name);
	if (r == NULL)
		fail_msg("no reading %s", name);
	assert_true(r->is_text);
	assert_int_equal(r->kind, SM_KIND_TEXT);
	if (r->text_len != strlen(text) || memcmp(sm_reading_text(s, r), text, r->text_len) != 0)
		fail_msg("%s: text '%.*s', expected '%s'", name, (int)r->text_len,
			 sm_reading_text(s, r), text);
}

/* ------------------------------------------------------------------ */
/* identification, baud characters, encoders                           */
/* ------------------------------------------------------------------ */

static void parse_id(const char *line, struct sm_iec_ident *id)
{
	uint8_t *p = exact(line, strlen(line));
	enum sm_err rc = sm_iec_parse_ident((const char *)p, strlen(line), id);
	free(p);
	if (rc != SM_OK)
		fail_msg("identification \"%s\" rejected", line);
}

static enum sm_err parse_id_rc(const char *line, size_t n)
{
	struct sm_iec_ident id;
	uint8_t *p = exact(line, n);
	enum sm_err rc = sm_iec_parse_ident((const char *)p, n, &id);
	free(p);
	return rc;
}

static void test_ident_parse(void **state)
{
	(void)state;
	struct sm_iec_ident id;

	parse_id("/ISk5MT174-0001", &id);
	assert_string_equal(id.manufacturer, "ISk");
	assert_int_equal(id.baud_char, '5');
	assert_int_equal(id.baud, 9600);
	assert_int_equal(id.mode, 'C');
	assert_true(id.short_reaction);
	assert_int_equal(id.enh, 0);
	assert_string_equal(id.ident, "MT174-0001");

	parse_id("/LGZ5\\2ZMD4104407.B31\r\n", &id); /* CR LF tolerated */
	assert_string_equal(id.manufacturer, "LGZ");
	assert_false(id.short_reaction);
	assert_int_equal(id.enh, '2');
	assert_string_equal(id.ident, "ZMD4104407.B31");

	parse_id("/ACE0\\3k260V01.18", &id);
	assert_int_equal(id.baud, 300);
	assert_int_equal(id.mode, 'C');
	assert_int_equal(id.enh, '3');
	assert_string_equal(id.ident, "k260V01.18");

	parse_id("/SIEC2WR5", &id);
	assert_int_equal(id.mode, 'B');
	assert_int_equal(id.baud, 2400);
	assert_string_equal(id.ident, "2WR5");

	parse_id("/HAg5eHZ010C_EHZ1vA02", &id);
	assert_true(id.short_reaction);
	parse_id("/ABCZ", &id); /* empty identification, mode A */
	assert_int_equal(id.mode, 'A');
	assert_int_equal(id.baud, 300);
	assert_string_equal(id.ident, "");

	/* every baud character */
	static const int c_bauds[7] = { 300, 600, 1200, 2400, 4800, 9600, 19200 };
	for (int i = 0; i < 7; i++) {
		char line[32];
		snprintf(line, sizeof line, "/ABC%cX", '0' + i);
		parse_id(line, &id);
		assert_int_equal(id.mode, 'C');
		assert_int_equal(id.baud, c_bauds[i]);
		if (i > 0) {
			snprintf(line, sizeof line, "/ABC%cX", 'A' + i - 1);
			parse_id(line, &id);
			assert_int_equal(id.mode, 'B');
			assert_int_equal(id.baud, c_bauds[i]);
		}
	}
	const char others[] = "789GHIZaz -_.";
	for (size_t i = 0; others[i]; i++) {
		char line[32];
		snprintf(line, sizeof line, "/ABC%cX", others[i]);
		parse_id(line, &id);
		assert_int_equal(id.mode, 'A');
		assert_int_equal(id.baud, 300);
	}

	/* the longest identification, and one more */
	char line[SM_IEC_IDENT_MAX + 16];
	memcpy(line, "/ABC5", 5);
	memset(line + 5, 'x', SM_IEC_IDENT_MAX + 1);
	assert_int_equal(parse_id_rc(line, 5 + SM_IEC_IDENT_MAX), SM_OK);
	assert_int_equal(parse_id_rc(line, 5 + SM_IEC_IDENT_MAX + 1), SM_E_SYNTAX);

	/* not identifications */
	const char *bad[] = { "/?!", "/?Bla0!", "/AB", "/ABC", "ABC5x", "/A1C5x", "/ABC5\\",
			      "/ABC5x!", "/ABC5x/y", "/AB 5x", "", NULL };
	for (size_t i = 0; bad[i]; i++)
		if (parse_id_rc(bad[i], strlen(bad[i])) != SM_E_SYNTAX)
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(parse_id_rc("/ABC5x\x01y", 8), SM_E_SYNTAX);
	assert_int_equal(parse_id_rc("/ABC5x\x80y", 8), SM_E_SYNTAX);
	assert_int_equal(parse_id_rc("/ABC\x02x", 6), SM_E_SYNTAX);
}

static void test_baud_chars(void **state)
{
	(void)state;
	static const int bauds[7] = { 300, 600, 1200, 2400, 4800, 9600, 19200 };
	for (int i = 0; i < 7; i++) {
		assert_int_equal(sm_iec_baud_char(bauds[i]), '0' + i);
		assert_int_equal(sm_iec_baud_of_char((char)('0' + i)), bauds[i]);
	}
	for (int i = 1; i < 7; i++)
		assert_int_equal(sm_iec_baud_of_char((char)('A' + i - 1)), bauds[i]);
	assert_int_equal(sm_iec_baud_char(115200), 0);
	assert_int_equal(sm_iec_baud_char(0), 0);
	assert_int_equal(sm_iec_baud_of_char('7'), 300);
	assert_int_equal(sm_iec_baud_of_char('G'), 300);
	assert_int_equal(sm_iec_baud_of_char('a'), 300);

	assert_int_equal(sm_iec_cap_baud(9600, 0), 9600);
	assert_int_equal(sm_iec_cap_baud(9600, 4800), 4800);
	assert_int_equal(sm_iec_cap_baud(9600, 19200), 9600);
	assert_int_equal(sm_iec_cap_baud(19200, 5000), 4800);
	assert_int_equal(sm_iec_cap_baud(300, 9600), 300);
	assert_int_equal(sm_iec_cap_baud(9600, 100), 300);
}

static void test_encoders(void **state)
{
	(void)state;
	uint8_t out[128];
	size_t n = 0;

	assert_int_equal(sm_iec_encode_request(NULL, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "/?!\r\n", 5);
	assert_int_equal(sm_iec_encode_request("", out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 5);
	assert_int_equal(sm_iec_encode_request("Bla0", out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "/?Bla0!\r\n", 9);
	char addr[40];
	memset(addr, '7', sizeof addr);
	addr[SM_IEC_ADDRESS_MAX] = '\0';
	assert_int_equal(sm_iec_encode_request(addr, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, SM_IEC_ADDRESS_MAX + 5);
	addr[SM_IEC_ADDRESS_MAX] = '7';
	addr[SM_IEC_ADDRESS_MAX + 1] = '\0';
	assert_int_equal(sm_iec_encode_request(addr, out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_request("a!b", out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_request("a/b", out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_request("a\rb", out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_request("Bla0", out, 8, &n), SM_E_FULL);

	assert_int_equal(sm_iec_encode_ack('0', '5', '0', out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "\x06" "050\r\n", 6);
	assert_int_equal(sm_iec_encode_ack('0', '5', '0', out, 5, &n), SM_E_FULL);

	struct sm_iec_ident id;
	memset(&id, 0, sizeof id);
	memcpy(id.manufacturer, "LGZ", 3);
	id.baud_char = '5';
	id.enh = '2';
	snprintf(id.ident, sizeof id.ident, "ZMD120");
	assert_int_equal(sm_iec_encode_ident(&id, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 15);
	assert_memory_equal(out, "/LGZ5\\2ZMD120\r\n", 15);
	assert_int_equal(sm_iec_encode_ident(&id, out, 14, &n), SM_E_FULL);
	memcpy(id.manufacturer, "L1Z", 3);
	assert_int_equal(sm_iec_encode_ident(&id, out, sizeof out, &n), SM_E_SYNTAX);
	memcpy(id.manufacturer, "LGZ", 3);
	id.enh = 0;
	snprintf(id.ident, sizeof id.ident, "\\2x"); /* would read back as enh */
	assert_int_equal(sm_iec_encode_ident(&id, out, sizeof out, &n), SM_E_SYNTAX);
	snprintf(id.ident, sizeof id.ident, "a!b");
	assert_int_equal(sm_iec_encode_ident(&id, out, sizeof out, &n), SM_E_SYNTAX);

	/* data message: STX lines ! CR LF ETX BCC; BCC after STX through ETX */
	const char *lines = "1.8.0(1*kWh)\r\n";
	assert_int_equal(sm_iec_encode_data(lines, strlen(lines), true, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 1 + 14 + 3 + 2);
	assert_int_equal(out[0], SM_IEC_STX);
	assert_memory_equal(out + 1, lines, 14);
	assert_memory_equal(out + 15, "!\r\n\x03", 4);
	assert_int_equal(out[n - 1], sm_bcc(0, out + 1, n - 2));
	assert_int_equal(sm_iec_bcc(out + 1, n - 2), out[n - 1]);
	assert_int_equal(sm_iec_encode_data(lines, strlen(lines), false, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 17);
	assert_memory_equal(out + 14, "!\r\n", 3);
	assert_int_equal(sm_iec_encode_data("a!b", 3, true, out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_data("a\x03", 2, true, out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_iec_encode_data("a\x02", 2, false, out, sizeof out, &n), SM_E_SYNTAX);
	for (size_t cap = 0; cap < 20; cap++)
		assert_int_equal(sm_iec_encode_data(lines, strlen(lines), true, out, cap, &n), SM_E_FULL);
	/* BCC of a known message: XOR of "1.8.0(1*kWh)\r\n!\r\n\x03" */
	uint8_t x = 0;
	const char *region = "1.8.0(1*kWh)\r\n!\r\n\x03";
	for (size_t i = 0; region[i]; i++)
		x ^= (uint8_t)region[i];
	assert_int_equal(sm_iec_encode_data(lines, strlen(lines), true, out, sizeof out, &n), SM_OK);
	assert_int_equal(out[n - 1], x);
}

/* ------------------------------------------------------------------ */
/* decoding readouts                                                   */
/* ------------------------------------------------------------------ */

/* Lines shaped like the real readouts (our own values). */
static const char readout_lines[] =
	"F.F(00)\r\n"
	"0.0(        18438636)\r\n"
	"C.1.0(18438636)\r\n"
	"C.1.1(        )\r\n"
	"1.8.0(001234.567*kWh)\r\n"
	"1.8.1(000000.000*kWh)\r\n"
	"2.8.0(000010.5*kWh)\r\n"
	"15.8.0(001234.567*kWh)\r\n"
	"5.8.0(000012.3*kvarh)\r\n"
	"32.7(233*V)\r\n"
	"31.7(002.30*A)\r\n"
	"16.7(001.66*kW)\r\n"
	"1-0:1.8.1*255(0008048.375*kWh)\r\n"
	"1-0:1.8.0*01(0007904.135*kWh)\r\n"
	"1-0:1.8.1*07(0006334.294*kWh)\r\n"
	"0-0:C.51.2*255(1140716101053)\r\n"
	"0-0:C.1.6*255(FDF5)\r\n"
	"0-0:F.F.0*255(0000000)\r\n"
	"1-0:0.9.1*255(201455)\r\n"
	"1-0:0.9.2*255(0170318)\r\n"
	"1-0:0.2.0*255(1.03)\r\n"
	"1-0:1.6.0*255(02.468*kW)(1703100930)\r\n"
	"1-0:2.6.0*255(00.000*kW)(250101120000W)\r\n"
	"1-0:1.6.2*01()\r\n"
	"1-0:1.8.0*255(000125.25688570*kWh) # energy meter\r\n"
	"1-0:96.5.0*255(001C0104)\r\n"
	"1.9.0(000001.2965)\r\n"
	"1.7.0(5*)\r\n"
	"2.7.0(7*kw)\r\n"
	"81.7.6(  80*Deg)\r\n"
	"6.33(001.476*m3ph)\r\n";

static void test_readout_values(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ISk", '5', 0, "MT174-0001");
	msg_data(m, readout_lines, true);
	struct sm_reading_set *s = new_set();
	enum sm_check check = SM_CHECK_ABSENT;
	unsigned bad = 99;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_int_equal(check, SM_CHECK_OK);
	assert_int_equal(bad, 0);

	assert_text(s, "obis_F_F", "00");
	assert_text(s, "obis_0_0", "18438636");
	assert_text(s, "obis_C_1_0", "18438636");
	assert_text(s, "obis_C_1_1", ""); /* blanks only: an empty text */
	assert_num(s, "energy_import", "1234567", "Wh");
	assert_num(s, "energy_import_t1", "0", "Wh");
	assert_num(s, "energy_export", "10500", "Wh");
	assert_num(s, "energy_absolute", "1234567", "Wh");
	assert_num(s, "reactive_energy_q1", "12300", "varh");
	assert_num(s, "obis_32_7", "233", "V"); /* C.D without E: not guessed */
	assert_num(s, "obis_31_7", "2.3", "A");
	assert_num(s, "obis_16_7", "1660", "W");
	/* F = 255 is the current value: no suffix; other F: _fF */
	const struct sm_reading *t1 = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->r[i].name, "energy_import_t1") == 0 && s->r[i].obis.present & SM_OBIS_BIT(SM_OBIS_A))
			t1 = &s->r[i];
	assert_non_null(t1);
	assert_int_equal(t1->raw, 8048375);
	assert_num(s, "energy_import_f1", "7904135", "Wh");
	assert_num(s, "energy_import_t1_f7", "6334294", "Wh");
	assert_num(s, "obis_0_0_C_51_2", "1140716101053", "");
	assert_text(s, "obis_0_0_C_1_6", "FDF5");
	assert_text(s, "obis_0_0_F_F_0", "0000000");
	assert_text(s, "obis_1_0_0_9_1", "201455");
	assert_text(s, "obis_1_0_0_9_2", "0170318");
	assert_text(s, "obis_1_0_0_2_0", "1.03");
	/* max demand + a timestamp without zone: value only, no own time */
	assert_num(s, "power_import_max", "2468", "W");
	assert_int_equal(sm_set_find(s, "power_import_max")->time_ms, 0);
	/* with a zone letter the time is the reading's: 2025-01-01 12:00 +01 */
	assert_num(s, "power_export_max", "0", "W");
	assert_true(sm_set_find(s, "power_export_max")->time_ms == 1735729200000LL);
	assert_null(sm_set_find(s, "obis_1_0_1_6_2_f1")); /* "()" gives no reading */
	/* a comment after the data set */
	const struct sm_reading *e = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->r[i].name, "energy_import") == 0 && s->r[i].scale != 0)
			e = &s->r[i];
	assert_non_null(e);
	char vb[64];
	struct sm_buf b;
	sm_buf_init(&b, vb, sizeof vb);
	assert_int_equal(sm_decimal_format(&b, e->raw, e->scale), SM_OK);
	assert_string_equal(vb, "125256.8857");
	assert_text(s, "obis_1_0_96_5_0", "001C0104");
	assert_num(s, "obis_1_9_0", "1.2965", ""); /* no unit */
	assert_num(s, "power_import", "5", "");    /* empty unit */
	assert_num(s, "power_export", "7000", "W"); /* unit in lower case */
	assert_num(s, "obis_81_7_6", "80", "Deg");
	assert_num(s, "obis_6_33", "1.476", "m3ph");
	assert_int_equal(s->meter_time_ms, 0); /* IEC times carry no zone */
	free(s);
	free(m);
}

static const char heat_line[] =
	"6.8(0029.055*MWh)6.26(01589.28*m3)9.21(00010213)6.26*01(01563.92*m3)F(0)9.20(64030874)"
	"6.35(60*m)6.6(0017.2*kW)9.4(088*C&082*C)6.31(0030710*h)9.22(R)9.6(000&00010213&0)"
	"6.36(01-01)6.8.1()6.8.1*01()9.4*01(087*C&081*C)9.36(2017-01-18&01:36:47)9.2(&&)"
	"9.1(0&1&0&-&CV&3&2.14)9.17(0)9.18()0.0(00010213)";

static void test_heat_meter_line(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "SIE", 'C', 0, "2WR5");
	msg_data(m, heat_line, true); /* '!' right after the last data set */
	struct sm_reading_set *s = new_set();
	enum sm_check check;
	unsigned bad = 99;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_int_equal(check, SM_CHECK_OK);
	assert_int_equal(bad, 0);
	assert_num(s, "obis_6_8", "29055000", "Wh");
	assert_num(s, "obis_6_26", "1589.28", "m3");
	assert_num(s, "obis_6_26_f1", "1563.92", "m3");
	assert_num(s, "obis_9_20", "64030874", "");
	assert_text(s, "obis_F", "0");
	assert_num(s, "obis_6_6", "17200", "W");
	assert_num(s, "obis_6_35", "60", "m");
	/* '&' numbers: one reading per part, the second with "_v2" */
	assert_num(s, "obis_9_4", "88", "°C");
	assert_num(s, "obis_9_4_v2", "82", "°C");
	assert_num(s, "obis_9_4_f1", "87", "°C");
	assert_num(s, "obis_9_4_f1_v2", "81", "°C");
	assert_num(s, "obis_9_6", "0", "");
	assert_num(s, "obis_9_6_v2", "10213", "");
	assert_num(s, "obis_9_6_v3", "0", "");
	/* '&' with text parts: the whole group as text */
	assert_text(s, "obis_9_36", "2017-01-18&01:36:47");
	assert_text(s, "obis_9_1", "0&1&0&-&CV&3&2.14");
	assert_null(sm_set_find(s, "obis_9_2")); /* "(&&)": nothing */
	assert_null(sm_set_find(s, "obis_6_8_1"));
	assert_null(sm_set_find(s, "obis_9_18"));
	assert_text(s, "obis_9_22", "R");
	assert_text(s, "obis_6_36", "01-01");
	assert_text(s, "obis_0_0", "00010213");
	assert_num(s, "obis_6_31", "30710", "h");
	assert_int_equal(s->n, 22);
	free(s);
	free(m);
}

static void test_lflf_and_no_etx(void **state)
{
	(void)state;
	/* LF LF line ends; STX but no ETX/BCC after the '!' (as captured) */
	static const char lines[] = "F.F(00)\n\n0.0(        18438636)\n\n1.8.0(000219.252*kWh)\n\n"
				    "32.7(233*V)\n\nC.5.0(1420)\n\n";
	struct msg *m = msg_new();
	msg_ident(m, "LGZ", '4', 0, "ZMF100AC.M27");
	msg_lit(m, "\n");
	msg_lit(m, "\x02");
	msg_raw(m, lines, strlen(lines));
	msg_lit(m, "!");
	struct sm_reading_set *s = new_set();
	enum sm_check check = SM_CHECK_OK;
	unsigned bad = 99;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_int_equal(check, SM_CHECK_ABSENT);
	assert_int_equal(s->n, 5);
	assert_num(s, "energy_import", "219252", "Wh");
	assert_num(s, "obis_C_5_0", "1420", "");
	free(s);
	free(m);
}

static void test_no_stx_with_echo(void **state)
{
	(void)state;
	/* echoed request, identification, data lines without STX, '!' last */
	struct msg *m = msg_new();
	msg_lit(m, "/?!\r\n");
	msg_ident(m, "LGZ", '5', 0, "2ZMD120APt.G03");
	msg_lit(m, "F.F(00000000)\r\n0.0.0( 20000)\r\n1.8.1(001846.0*kWh)\r\n2.8.1(004329.6*kWh)\r\n!");
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].check, SM_CHECK_ABSENT);
	assert_int_equal(l.e[0].readings, 4);
	struct sm_reading_set *s = new_set();
	enum sm_check check;
	unsigned bad;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_num(s, "energy_import_t1", "1846000", "Wh");
	assert_num(s, "energy_export_t1", "4329600", "Wh");
	assert_text(s, "obis_0_0_0", "20000");
	free(s);
	free(m);
}

static void test_ack_echo_and_noise_before_data(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_lit(m, "\0\0\0");
	msg_ident(m, "ISk", '5', 0, "MT174");
	msg_lit(m, "\x06" "050\r\n\xff\x00\r\n"); /* echoed ACK, baud switch noise */
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].check, SM_CHECK_OK);
	assert_int_equal(l.e[0].readings, 1);
	free(m);
}

static void test_push_two_messages(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "HAG", '5', 0, "eHZ010C_EHZ1vA02");
	msg_lit(m, "1-0:1.8.0*255(000001.2963)\r\n!\n");
	msg_ident(m, "HAG", '5', 0, "eHZ010C_EHZ1vA02");
	msg_lit(m, "1-0:1.7.0*255(000001.2964)\r\n1-0:1.9.0*255(000001.2965)\r\n!\n");
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].readings, 1);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].readings, 2);
	/* '!' without a line end, the next message right after it */
	m->n = 0;
	msg_ident(m, "EBZ", '5', 0, "DD3");
	msg_lit(m, "1.8.0(1*kWh)\r\n!");
	msg_ident(m, "EBZ", '5', 0, "DD3");
	msg_data(m, "1.8.0(2*kWh)\r\n", false);
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].readings, 1);
	assert_int_equal(l.e[1].readings, 1);
	free(m);
}

static void test_bcc_every_byte(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "BCC");
	size_t start = m->n; /* STX */
	msg_data(m, readout_lines, true);
	static const uint8_t flips[] = { 0x01, 0x40, 0x10 };
	struct evlog l;
	for (size_t f = 0; f < sizeof flips; f++) {
		for (size_t i = start + 1; i < m->n; i++) {
			m->b[i] ^= flips[f];
			feed_all(m->b, m->n, false, &l);
			m->b[i] ^= flips[f];
			for (size_t k = 0; k < l.n; k++)
				if (l.e[k].rc == SM_FRAME && l.e[k].readings > 0)
					fail_msg("byte %zu ^ 0x%02X: a frame with readings (check %d)",
						 i - start, flips[f], (int)l.e[k].check);
			bool neg = false;
			for (size_t k = 0; k < l.n; k++)
				neg = neg || l.e[k].rc < 0;
			if (!neg)
				fail_msg("byte %zu ^ 0x%02X: nothing rejected", i - start, flips[f]);
		}
	}
	/* the BCC byte itself wrong: SM_E_BCC with a message saying so */
	m->b[m->n - 1] ^= 0x20;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_BCC);
	assert_non_null(strstr(l.last_diag, "BCC mismatch"));
	/* IgnoreChecksum: accepted and marked */
	feed_all(m->b, m->n, true, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].check, SM_CHECK_IGNORED);
	assert_true(l.e[0].readings > 20);
	free(m);
}

/*
 * Regression (found by the fault injection test): a damaged STX made the
 * framer take the data for a message without STX and skip the ETX and BCC
 * behind it, so a second flip in a digit went unnoticed.  Every single
 * flip of STX, alone and with a flipped digit, must now be rejected.
 */
static void test_damaged_stx(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "STX");
	size_t stx = m->n;
	msg_data(m, readout_lines, true);
	assert_int_equal(m->b[stx], SM_IEC_STX);
	const uint8_t *digit = memchr(m->b + stx, '(', m->n - stx);
	assert_non_null(digit);
	size_t d = (size_t)(digit - m->b) + 1;
	assert_true(m->b[d] >= '0' && m->b[d] <= '9');
	struct evlog l;
	for (int bit = 0; bit < 8; bit++)
		for (int with_digit = 0; with_digit < 2; with_digit++) {
			m->b[stx] ^= (uint8_t)(1u << bit);
			if (with_digit)
				m->b[d] ^= 0x01;
			feed_all(m->b, m->n, false, &l);
			m->b[stx] ^= (uint8_t)(1u << bit);
			if (with_digit)
				m->b[d] ^= 0x01;
			bool rejected = false;
			for (size_t k = 0; k < l.n; k++) {
				if (l.e[k].rc == SM_FRAME && l.e[k].readings > 0)
					fail_msg("STX ^ 0x%02X%s: a frame with readings", 1u << bit,
						 with_digit ? " and a digit flipped" : "");
				rejected = rejected || l.e[k].rc == SM_E_BCC;
			}
			if (!rejected)
				fail_msg("STX ^ 0x%02X: not rejected as SM_E_BCC", 1u << bit);
		}
	/* a message without STX is still complete at its "!" CR LF, with the
	 * next byte or on flush */
	free(m);
	m = msg_new();
	msg_ident(m, "ABC", '5', 0, "PUSH");
	msg_data(m, readout_lines, false);
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].check, SM_CHECK_ABSENT);
	free(m);
}

static void test_truncation_every_byte(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "CUT");
	size_t id_end = m->n;
	msg_data(m, "1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n", true);
	size_t bang = m->n - 5; /* '!' CR LF ETX BCC */
	assert_int_equal(m->b[bang], '!');
	struct evlog l;
	for (size_t k = 0; k <= m->n; k++) {
		feed_all(m->b, k, false, &l);
		if (k == 0) {
			assert_int_equal(l.n, 0);
		} else if (k == m->n) {
			assert_int_equal(l.n, 1);
			assert_int_equal(l.e[0].check, SM_CHECK_OK);
		} else if (k > bang && k < m->n - 1) {
			/* cut after '!' but before ETX: the data is whole but
			 * unchecked (some captures end so) */
			assert_int_equal(l.n, 1);
			assert_int_equal(l.e[0].rc, SM_FRAME);
			assert_int_equal(l.e[0].check, SM_CHECK_ABSENT);
		} else {
			if (l.n != 1 || l.e[0].rc != SM_E_TRUNCATED)
				fail_msg("cut at %zu of %zu (ident %zu): %zu events, rc %d", k, m->n,
					 id_end, l.n, l.n ? l.e[0].rc : 0);
		}
	}
	/* without STX: a cut after a complete line is an unterminated frame
	 * (push meters that stop), a cut inside a line is truncated */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "CUT");
	msg_data(m, "1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n", false);
	for (size_t k = id_end + 1; k < m->n; k++) {
		feed_all(m->b, k, false, &l);
		assert_int_equal(l.n, 1);
		bool at_line = m->b[k - 1] == '\n' || m->b[k - 1] == '!' || k >= m->n - 2;
		if (at_line) {
			assert_int_equal(l.e[0].rc, SM_FRAME);
			assert_true(l.e[0].readings >= 1);
		} else {
			assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
		}
	}
	free(m);
}

static void test_split_every_point(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_lit(m, "junk/?12!\r\n");
	msg_ident(m, "ABC", '5', '2', "SPLIT");
	msg_lit(m, "\x06" "050\r\n");
	msg_data(m, readout_lines, true);
	msg_ident(m, "SIE", 'C', 0, "2WR5");
	msg_data(m, heat_line, false);
	msg_ident(m, "ABC", '5', 0, "BAD");
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	m->b[m->n - 1] ^= 1;
	msg_ident(m, "LGZ", '4', 0, "LAST");
	msg_lit(m, "1.8.0(3*kWh)\n\n!");
	struct evlog whole, part;
	feed_all(m->b, m->n, false, &whole);
	assert_int_equal(whole.n, 4);
	assert_int_equal(whole.e[0].rc, SM_FRAME);
	assert_int_equal(whole.e[1].rc, SM_FRAME);
	assert_int_equal(whole.e[2].rc, SM_E_BCC);
	assert_int_equal(whole.e[3].rc, SM_FRAME);
	struct sm_iec_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	for (size_t cut = 0; cut <= m->n; cut++) {
		sm_iec_framer_init(f, false);
		memset(&part, 0, sizeof part);
		feed_cuts(f, m->b, m->n, &cut, 1, &part);
		assert_int_equal(part.n, whole.n);
		assert_memory_equal(part.e, whole.e, whole.n * sizeof whole.e[0]);
	}
	/* byte by byte */
	size_t *cuts = malloc(m->n * sizeof *cuts);
	assert_non_null(cuts);
	for (size_t i = 0; i < m->n; i++)
		cuts[i] = i;
	sm_iec_framer_init(f, false);
	memset(&part, 0, sizeof part);
	feed_cuts(f, m->b, m->n, cuts, m->n, &part);
	assert_int_equal(part.n, whole.n);
	assert_memory_equal(part.e, whole.e, whole.n * sizeof whole.e[0]);
	free(cuts);
	free(f);
	free(m);
}

static void test_garbage(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	/* noise, a request echo, a '/' line that is no identification, noise
	 * with control bytes, then a good message */
	msg_lit(m, "\x00\xff\x13garbage\r\n/?Bla0!\r\n/12 no ident\r\n\x02\x03!!))((\r\n");
	msg_ident(m, "ABC", '5', 0, "OK");
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	msg_lit(m, "\x00\x00trailing");
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].readings, 1);
	struct sm_iec_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_iec_framer_init(f, false);
	struct evlog l2 = { 0 };
	feed_cuts(f, m->b, m->n, NULL, 0, &l2);
	assert_true(f->skipped > 20);
	free(f);

	/* '!' inside a value does not end the data; '!' after a data set does */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "BANG");
	msg_lit(m, "0.0(a!b)\r\n1.8.0(1*kWh)2.8.0(2*kWh)!\r\n3.8.0(3*kvarh)\r\n");
	feed_all(m->b, m->n, false, &l);
	assert_true(l.n >= 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].readings, 3);

	/* a garbage data line costs that line only */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "OK");
	msg_data(m, "1.8.0(1*kWh)junk\r\n(00)\r\n\x7f\x80xx\r\n2.8.0(12345678901234567890*kWh)\r\n"
		    "1.8.1(1.5.5*kWh)\r\n3.8.0(2*kvarh)\r\n1.8.2(12\r\n", true);
	struct sm_reading_set *s = new_set();
	enum sm_check check;
	unsigned bad = 0;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_int_equal(s->n, 2);
	assert_num(s, "energy_import", "1000", "Wh");
	assert_num(s, "reactive_energy_import", "2000", "varh");
	assert_int_equal(bad, 6);
	free(s);
	free(m);
}

static void test_oversized(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	/* an identification line that never ends */
	msg_lit(m, "/ABC5");
	for (int i = 0; i < SM_IEC_IDENT_LINE_MAX; i++)
		msg_lit(m, "x");
	msg_lit(m, "\r\n");
	/* a message beyond SM_IEC_MAX */
	msg_ident(m, "ABC", '5', 0, "BIG");
	msg_lit(m, "\x02");
	while (m->n < SM_IEC_MAX + 600)
		msg_lit(m, "1.8.0(1*kWh)\r\n");
	msg_lit(m, "!\r\n\x03\x00");
	/* then a good one */
	msg_ident(m, "ABC", '5', 0, "OK");
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.e[0].rc, SM_E_TOO_LONG);
	assert_int_equal(l.e[1].rc, SM_E_TOO_LONG);
	assert_int_equal(l.e[2].rc, SM_FRAME);
	assert_int_equal(l.e[2].readings, 1);

	/* one long line of data sets that still fits */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "LONG");
	char *line = malloc(SM_IEC_MAX);
	assert_non_null(line);
	size_t n = 0;
	for (int i = 0; n + 40 < SM_IEC_MAX - 200; i++)
		n += (size_t)snprintf(line + n, SM_IEC_MAX - n, "9.%d(%d*kWh)", i % 250, i);
	msg_data(m, line, true);
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].check, SM_CHECK_OK);
	assert_int_equal(l.e[0].readings, SM_MAX_READINGS); /* the set is full */
	free(line);
	free(m);
}

static void test_new_message_before_end(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "ONE");
	msg_lit(m, "\x02" "1.8.0(1*kWh)\r\n");
	msg_ident(m, "ABC", '5', 0, "TWO");
	msg_data(m, "1.8.0(2*kWh)\r\n", true);
	struct evlog l;
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].check, SM_CHECK_OK);
	/* junk after '!' of an STX block where ETX belongs */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "ONE");
	msg_lit(m, "\x02" "1.8.0(1*kWh)\r\n!\r\nX");
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	/* an identification alone, then the next one with data */
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "ALONE");
	msg_ident(m, "ABC", '5', 0, "TWO");
	msg_data(m, "1.8.0(2*kWh)\r\n", true);
	feed_all(m->b, m->n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	/* cut in the identification, or right after it */
	feed_all((const uint8_t *)"/ABC5xy", 7, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	feed_all((const uint8_t *)"/ABC5xy\r\n\r\n", 11, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	feed_all((const uint8_t *)"/ABC5xy\r\n\x02\x03", 11, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	free(m);
}

static void test_empty_and_not_a_message(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "EMPTY");
	msg_data(m, "1.8.0()\r\n6.8.1*01()\r\n9.2(&&)\r\n", true);
	struct sm_reading_set *s = new_set();
	enum sm_check check;
	unsigned bad = 99;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_E_EMPTY);
	assert_int_equal(bad, 0);
	m->n = 0;
	msg_ident(m, "ABC", '5', 0, "EMPTY");
	msg_data(m, "", true);
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_E_EMPTY);

	struct sm_diag d = { { 0 } };
	uint8_t *p = exact("1.8.0(1*kWh)\r\n!\r\n", 17);
	struct sm_frame fr = { p, 17, SM_CHECK_ABSENT, false };
	assert_int_equal(sm_iec_decode(&fr, s, &bad, NULL, &d), SM_E_SYNTAX);
	assert_true(d.msg[0] != '\0');
	free(p);
	p = exact("/?!\r\n1.8.0(1*kWh)\r\n!\r\n", 22);
	fr.p = p;
	fr.n = 22;
	assert_int_equal(sm_iec_decode(&fr, s, &bad, NULL, &d), SM_E_SYNTAX);
	free(p);
	fr.n = 0;
	assert_int_equal(sm_iec_decode(&fr, s, &bad, NULL, &d), SM_E_SYNTAX);

	/* the identification comes back from the decoder */
	p = exact("/ISk5MT174\r\n1.8.0(1*kWh)\r\n!", 27);
	fr.p = p;
	fr.n = 27;
	struct sm_iec_ident id;
	assert_int_equal(sm_iec_decode(&fr, s, &bad, &id, &d), SM_READINGS);
	assert_string_equal(id.manufacturer, "ISk");
	assert_string_equal(id.ident, "MT174");
	free(p);
	free(s);
	free(m);
}

static void test_set_full(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_ident(m, "ABC", '5', 0, "FULL");
	char *lines = malloc(SM_IEC_MAX);
	assert_non_null(lines);
	size_t n = 0;
	for (int f = 1; f <= SM_MAX_READINGS + 20; f++)
		n += (size_t)snprintf(lines + n, SM_IEC_MAX - n, "1-0:1.8.0*%d(%d.000*kWh)\r\n", f % 250, f);
	msg_data(m, lines, true);
	struct sm_reading_set *s = new_set();
	enum sm_check check;
	unsigned bad = 0;
	assert_int_equal(decode_msg(m, false, s, &check, &bad), SM_READINGS);
	assert_int_equal(s->n, SM_MAX_READINGS);
	assert_int_equal(bad, 20);
	free(lines);
	free(s);
	free(m);
}

/* ------------------------------------------------------------------ */
/* transcript splitter                                                 */
/* ------------------------------------------------------------------ */

static void test_split_transcript(void **state)
{
	(void)state;
	struct msg *m = msg_new();
	msg_lit(m, "\0\0/?Bla0!\r\n");
	msg_ident(m, "ISk", '5', 0, "MT174-0001");
	msg_lit(m, "\x06" "050\r\n");
	size_t data_at = m->n;
	msg_data(m, readout_lines, true);
	size_t end1 = m->n;
	msg_ident(m, "SIE", '3', 0, "2WR5");
	msg_data(m, heat_line, false);
	uint8_t *p = exact(m->b, m->n);

	struct sm_iec_transcript t;
	assert_int_equal(sm_iec_split_transcript(p, m->n, &t), SM_OK);
	assert_string_equal(t.id.manufacturer, "ISk");
	assert_int_equal(t.ident_n, 15);
	assert_memory_equal(t.ident_line, "/ISk5MT174-0001", 15);
	assert_true(t.has_stx);
	assert_true(t.has_bcc);
	assert_true(t.bcc_ok);
	assert_ptr_equal(t.data, p + data_at + 1);
	assert_int_equal(t.data_n, strlen(readout_lines));
	assert_memory_equal(t.data, readout_lines, t.data_n);
	assert_int_equal(t.next, end1);
	/* re-encoded, the data message is the same bytes */
	uint8_t out[4096];
	size_t n = 0;
	assert_int_equal(sm_iec_encode_data((const char *)t.data, t.data_n, true, out, sizeof out, &n),
			 SM_OK);
	assert_int_equal(n, end1 - data_at);
	assert_memory_equal(out, m->b + data_at, n);

	assert_int_equal(sm_iec_split_transcript(p + t.next, m->n - t.next, &t), SM_OK);
	assert_string_equal(t.id.ident, "2WR5");
	assert_false(t.has_stx);
	assert_false(t.has_bcc);
	assert_int_equal(t.data_n, strlen(heat_line));
	assert_memory_equal(t.data, heat_line, t.data_n);
	free(p);

	/* a wrong BCC is reported, not refused */
	m->b[end1 - 1] ^= 1;
	p = exact(m->b, m->n);
	assert_int_equal(sm_iec_split_transcript(p, m->n, &t), SM_OK);
	assert_true(t.has_bcc);
	assert_false(t.bcc_ok);
	free(p);

	/* no identification, no '!' */
	p = exact("/?!\r\nno ident\r\n", 15);
	assert_int_equal(sm_iec_split_transcript(p, 15, &t), SM_E_SYNTAX);
	free(p);
	p = exact("/ABC5x\r\n1.8.0(1)\r\n", 18);
	assert_int_equal(sm_iec_split_transcript(p, 18, &t), SM_E_SYNTAX);
	free(p);
	/* STX block without ETX/BCC */
	p = exact("/ABC5x\n\x02" "1.8.0(1)\n!\n", 19);
	assert_int_equal(sm_iec_split_transcript(p, 19, &t), SM_OK);
	assert_true(t.has_stx);
	assert_false(t.has_bcc);
	assert_int_equal(t.next, 19);
	free(p);
	free(m);
}

/* ------------------------------------------------------------------ */
/* protocol entry (feed/idle side)                                     */
/* ------------------------------------------------------------------ */

static void test_proto_entry(void **state)
{
	(void)state;
	/* (the table and sm_proto_names() are checked by test_format) */
	const struct sm_proto *p = &sm_proto_iec62056_21;
	assert_string_equal(p->name, "iec62056-21");
	assert_int_equal(p->line.baud, 300);
	assert_int_equal(p->line.databits, 7);
	assert_int_equal(p->line.parity, SM_PARITY_EVEN);
	assert_non_null(p->poll_start);
	assert_non_null(p->poll_event);
	assert_non_null(p->line_defaults);

	struct sm_meter_cfg cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.proto = p;
	struct sm_line l;
	for (const char *mode = "ABC"; *mode; mode++) {
		cfg.iec_mode = *mode;
		p->line_defaults(&cfg, &l);
		assert_int_equal(l.baud, 300);
		assert_int_equal(l.databits, 7);
		assert_int_equal(l.parity, SM_PARITY_EVEN);
		assert_int_equal(l.stopbits, 1);
		assert_true(p->is_polled(&cfg));
	}
	cfg.iec_mode = 'D';
	p->line_defaults(&cfg, &l);
	assert_int_equal(l.baud, 9600);
	assert_int_equal(l.databits, 7);
	assert_false(p->is_polled(&cfg));

	/* feed/idle decode any '/'..'!' message whatever the mode */
	struct msg *m = msg_new();
	msg_ident(m, "ISk", '5', 0, "MT174");
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	msg_ident(m, "ISk", '5', 0, "MT174");
	msg_data(m, "1.8.0(1*kWh)\r\n", true);
	m->b[m->n - 1] ^= 1;
	msg_ident(m, "EBZ", '5', 0, "DD3");
	msg_lit(m, "1.8.0(2*kWh)\r\n!");
	cfg.iec_mode = 'C';
	void *st = calloc(1, p->state_size);
	assert_non_null(st);
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	assert_int_equal(p->init(st, &cfg, &d), SM_OK);
	uint8_t *in = exact(m->b, m->n);
	size_t off = 0;
	int results[8], nres = 0;
	while (off < m->n) {
		struct sm_feed_info info;
		size_t used = 0;
		enum sm_err rc = p->feed(st, in + off, m->n - off, &used, s, &info);
		off += used;
		if (rc != SM_NEED_MORE) {
			assert_true(nres < 8);
			results[nres++] = rc;
			if (rc == SM_READINGS)
				assert_int_equal(info.check, SM_CHECK_OK);
			else
				assert_non_null(strstr(info.diag.msg, "BCC"));
		}
	}
	struct sm_feed_info info;
	results[nres++] = p->idle(st, s, &info);
	assert_int_equal(info.check, SM_CHECK_ABSENT);
	assert_int_equal(p->idle(st, s, &info), SM_NEED_MORE);
	assert_int_equal(nres, 3);
	assert_int_equal(results[0], SM_READINGS);
	assert_int_equal(results[1], SM_E_BCC);
	assert_int_equal(results[2], SM_READINGS);
	assert_num(s, "energy_import", "2000", "Wh");
	/* reset forgets a partial message */
	size_t used;
	assert_int_equal(p->feed(st, in, 20, &used, s, &info), SM_NEED_MORE);
	p->reset(st);
	assert_int_equal(p->idle(st, s, &info), SM_NEED_MORE);
	/* an address that cannot be sent is a configuration error */
	cfg.address = "a!b";
	assert_int_equal(p->init(st, &cfg, &d), SM_E_CONFIG);
	assert_true(d.msg[0] != '\0');
	/* init without a configuration */
	assert_int_equal(p->init(st, NULL, &d), SM_OK);
	free(in);
	free(s);
	free(st);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_parse),
		cmocka_unit_test(test_baud_chars),
		cmocka_unit_test(test_encoders),
		cmocka_unit_test(test_readout_values),
		cmocka_unit_test(test_heat_meter_line),
		cmocka_unit_test(test_lflf_and_no_etx),
		cmocka_unit_test(test_no_stx_with_echo),
		cmocka_unit_test(test_ack_echo_and_noise_before_data),
		cmocka_unit_test(test_push_two_messages),
		cmocka_unit_test(test_bcc_every_byte),
		cmocka_unit_test(test_damaged_stx),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_split_every_point),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_new_message_before_end),
		cmocka_unit_test(test_empty_and_not_a_message),
		cmocka_unit_test(test_set_full),
		cmocka_unit_test(test_split_transcript),
		cmocka_unit_test(test_proto_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
