/*
 * test_iec_session.c - the IEC 62056-21 sign-on session (iec_session.h)
 * driven by a scripted fake meter in this file: the meter answers what a
 * real one would (identification at 300 Bd, data message at the speed it
 * switched to, echoes of a half-duplex head), bytes sent at another speed
 * than the host listens at arrive as garbage, and every action the session
 * asks for is logged and checked.  Bytes reach the session in exactly-sized
 * heap copies.
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
#include "iec62056_21.h"
#include "iec_session.h"
#include "proto.h"
#include "reading.h"

/* ------------------------------------------------------------------ */
/* the fake meter                                                      */
/* ------------------------------------------------------------------ */

#define QMAX 8192
#define LOGMAX 256

struct act_rec {
	enum sm_action_kind kind;
	uint8_t data[64];
	size_t len;
	bool drain;
	int baud;      /* SET_LINE: the new speed; SEND: the speed it went at */
	int ms;
};

struct meter {
	/* script */
	const char *ident;   /* identification line without CR LF */
	const char *address; /* answers only this address; NULL: any request */
	const char *lines;   /* data lines */
	bool stx;            /* data message with STX/ETX/BCC */
	bool bad_bcc;
	bool no_etx;         /* STX block that stops after "!" CR LF */
	bool echo;           /* half-duplex head: what the host sends comes back */
	size_t chunk;        /* bytes per READ (0: all queued) */
	int silent_from;     /* the k-th READ and all later ones time out (0: never) */
	int listen;          /* the sign-on speed the meter listens at (300) */
	/* state */
	int host_baud;
	uint8_t q[QMAX];
	int qbaud[QMAX];     /* the speed each queued byte was sent at */
	bool qstart[QMAX];   /* a message starts here: a READ ends before it (the
				meter pauses for its reaction time) */
	size_t qn, qoff;
	int reads;
	int last_read_ms; /* the silence the session allowed last */
	/* what happened */
	int req_baud, ack_baud, data_baud;
	bool got_request, got_ack;
	size_t nlog;
	struct act_rec log[LOGMAX];
	int final_rc;
	enum sm_check check;
	unsigned bad_lines;
	char diag[160];
};

static void meter_init(struct meter *m, const char *ident, const char *lines)
{
	memset(m, 0, sizeof *m);
	m->ident = ident;
	m->lines = lines;
	m->stx = true;
	m->host_baud = -1;
	m->listen = 300;
}

static void enqueue(struct meter *m, const void *p, size_t n, int baud)
{
	assert_true(m->qn + n <= QMAX);
	memcpy(m->q + m->qn, p, n);
	for (size_t i = 0; i < n; i++) {
		m->qbaud[m->qn + i] = baud;
		m->qstart[m->qn + i] = i == 0;
	}
	m->qn += n;
}

static void meter_data(struct meter *m, int baud)
{
	static uint8_t buf[QMAX];
	size_t n = 0;
	assert_int_equal(sm_iec_encode_data(m->lines, strlen(m->lines), m->stx, buf, sizeof buf, &n),
			 SM_OK);
	if (m->bad_bcc)
		buf[n - 1] ^= 0x11;
	if (m->no_etx)
		n -= 2;
	enqueue(m, buf, n, baud);
	m->data_baud = baud;
}

/* The meter hears what the host sent at the host's speed. */
static void meter_hears(struct meter *m, const uint8_t *p, size_t n)
{
	if (m->echo)
		enqueue(m, p, n, m->host_baud);
	if (n >= 5 && p[0] == '/' && p[1] == '?' && p[n - 3] == '!' && p[n - 2] == '\r' &&
	    p[n - 1] == '\n') {
		m->got_request = true;
		m->req_baud = m->host_baud;
		size_t an = n - 5;
		if (m->host_baud != m->listen)
			return; /* a meter listens at its sign-on speed only */
		if (m->address != NULL &&
		    (strlen(m->address) != an || memcmp(m->address, p + 2, an) != 0))
			return; /* not me */
		static char line[SM_IEC_IDENT_LINE_MAX + 32];
		snprintf(line, sizeof line, "%s\r\n", m->ident);
		enqueue(m, line, strlen(line), m->listen);
		char z = m->ident[4];
		if (z >= 'A' && z <= 'F')
			meter_data(m, sm_iec_baud_of_char(z)); /* mode B: switch, no ACK */
		else if (!(z >= '0' && z <= '6'))
			meter_data(m, m->listen); /* mode A */
		return;
	}
	if (n == 6 && p[0] == SM_IEC_ACK && p[4] == '\r' && p[5] == '\n') {
		m->got_ack = true;
		m->ack_baud = m->host_baud;
		meter_data(m, sm_iec_baud_of_char((char)p[2]));
	}
}

static void log_act(struct meter *m, const struct sm_action *a)
{
	assert_true(m->nlog < LOGMAX);
	struct act_rec *r = &m->log[m->nlog++];
	memset(r, 0, sizeof *r);
	r->kind = a->kind;
	r->ms = a->ms;
	if (a->kind == SM_ACT_SET_LINE)
		r->baud = a->line.baud;
	if (a->kind == SM_ACT_SEND) {
		assert_non_null(a->data);
		assert_true(a->len > 0 && a->len <= sizeof r->data);
		memcpy(r->data, a->data, a->len);
		r->len = a->len;
		r->drain = a->drain;
		r->baud = m->host_baud;
	}
}

/* Run one poll against the meter; returns the final code. */
static enum sm_err run_poll(struct sm_iec_session *s, struct meter *m, struct sm_reading_set *out)
{
	struct sm_action act;
	m->nlog = 0;
	m->final_rc = SM_OK;
	assert_int_equal(sm_iec_session_start(s, &act), SM_OK);
	for (int steps = 0; steps < 20000; steps++) {
		log_act(m, &act);
		struct sm_feed_info info;
		memset(&info, 0, sizeof info);
		size_t used = 0;
		enum sm_err rc;
		switch (act.kind) {
		case SM_ACT_DONE:
			return (enum sm_err)m->final_rc;
		case SM_ACT_SET_LINE:
			assert_int_equal(act.line.databits, 7);
			assert_int_equal(act.line.parity, SM_PARITY_EVEN);
			assert_int_equal(act.line.stopbits, 1);
			m->host_baud = act.line.baud;
			rc = sm_iec_session_event(s, NULL, 0, &used, false, &act, out, &info);
			break;
		case SM_ACT_SEND: {
			uint8_t copy[64];
			memcpy(copy, act.data, act.len);
			meter_hears(m, copy, act.len);
			rc = sm_iec_session_event(s, NULL, 0, &used, false, &act, out, &info);
			break;
		}
		case SM_ACT_WAIT:
			assert_true(act.ms > 0);
			rc = sm_iec_session_event(s, NULL, 0, &used, false, &act, out, &info);
			break;
		case SM_ACT_READ: {
			assert_true(act.ms > 0 && act.ms <= 3000);
			m->last_read_ms = act.ms;
			m->reads++;
			size_t left = m->qn - m->qoff;
			if (left == 0 || (m->silent_from > 0 && m->reads >= m->silent_from)) {
				rc = sm_iec_session_event(s, NULL, 0, &used, true, &act, out, &info);
				break;
			}
			size_t k = m->chunk && m->chunk < left ? m->chunk : left;
			for (size_t j = 1; j < k; j++)
				if (m->qstart[m->qoff + j]) {
					k = j;
					break;
				}
			uint8_t *p = malloc(k);
			assert_non_null(p);
			for (size_t i = 0; i < k; i++) /* another speed: garbage */
				p[i] = m->qbaud[m->qoff + i] == m->host_baud ? m->q[m->qoff + i] : 0xFE;
			rc = sm_iec_session_event(s, p, k, &used, false, &act, out, &info);
			free(p);
			assert_int_equal(used, k);
			m->qoff += k;
			break;
		}
		default:
			fail_msg("unknown action %d", (int)act.kind);
			return SM_E_INTERNAL;
		}
		if (rc == SM_READINGS || rc < 0) {
			assert_int_equal(act.kind, SM_ACT_DONE);
			m->final_rc = rc;
			m->check = info.check;
			m->bad_lines = info.bad_lines;
			snprintf(m->diag, sizeof m->diag, "%s", info.diag.msg);
		} else {
			assert_int_equal(rc, SM_OK);
		}
	}
	fail_msg("the session did not end");
	return SM_E_INTERNAL;
}

static struct sm_iec_session *new_session(const struct sm_meter_cfg *cfg)
{
	struct sm_iec_session *s = malloc(sizeof *s);
	assert_non_null(s);
	struct sm_diag d = { { 0 } };
	assert_int_equal(sm_iec_session_init(s, cfg, &d), SM_OK);
	return s;
}

static void cfg_init(struct sm_meter_cfg *c, char mode)
{
	memset(c, 0, sizeof *c);
	c->iec_mode = mode;
	c->baud_switch_delay_s = 0.3;
	c->line = (struct sm_line){ .baud = 300, .databits = 7, .parity = SM_PARITY_EVEN, .stopbits = 1 };
}

static struct meter *new_meter(const char *ident, const char *lines)
{
	struct meter *m = malloc(sizeof *m);
	assert_non_null(m);
	meter_init(m, ident, lines);
	return m;
}

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

static const char lines3[] = "1.8.0(001234.567*kWh)\r\n2.8.0(000001.000*kWh)\r\n0.0.0(12345678)\r\n";

static void expect(const struct meter *m, size_t i, enum sm_action_kind k)
{
	if (i >= m->nlog)
		fail_msg("action %zu missing (only %zu)", i, m->nlog);
	if (m->log[i].kind != k)
		fail_msg("action %zu is %d, expected %d", i, (int)m->log[i].kind, (int)k);
}

static void expect_send(const struct meter *m, size_t i, const void *bytes, size_t n, int baud)
{
	expect(m, i, SM_ACT_SEND);
	assert_int_equal(m->log[i].len, n);
	assert_memory_equal(m->log[i].data, bytes, n);
	assert_true(m->log[i].drain);
	assert_int_equal(m->log[i].baud, baud);
}

static void expect_line(const struct meter *m, size_t i, int baud)
{
	expect(m, i, SM_ACT_SET_LINE);
	assert_int_equal(m->log[i].baud, baud);
}

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

static void test_mode_c(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	cfg.address = "Bla0";
	struct sm_iec_session *s = new_session(&cfg);
	struct meter *m = new_meter("/ISk5MT174-0001", lines3);
	m->address = "Bla0";
	struct sm_reading_set *out = new_set();

	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	assert_int_equal(m->check, SM_CHECK_OK);
	assert_int_equal(out->n, 3);
	assert_non_null(sm_set_find(out, "energy_import"));
	expect_line(m, 0, 300);
	expect_send(m, 1, "/?Bla0!\r\n", 9, 300);
	expect(m, 2, SM_ACT_READ);
	size_t i = 3;
	while (i < m->nlog && m->log[i].kind == SM_ACT_READ)
		i++;
	expect_send(m, i, "\x06" "050\r\n", 6, 300); /* at the OLD speed, drained */
	expect(m, i + 1, SM_ACT_WAIT);
	assert_int_equal(m->log[i + 1].ms, 300);
	expect_line(m, i + 2, 9600);
	expect(m, i + 3, SM_ACT_READ);
	expect(m, m->nlog - 1, SM_ACT_DONE);
	assert_int_equal(m->req_baud, 300);
	assert_int_equal(m->ack_baud, 300);
	assert_int_equal(m->data_baud, 9600);
	assert_int_equal(s->id.baud, 9600);
	assert_string_equal(s->id.manufacturer, "ISk");

	/* the next poll starts again at 300 Bd */
	meter_init(m, "/ISk5MT174-0001", lines3);
	m->address = "Bla0";
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	expect_line(m, 0, 300);
	/* events after DONE keep it done */
	struct sm_action act;
	struct sm_feed_info info;
	size_t used;
	assert_int_equal(sm_iec_session_event(s, NULL, 0, &used, false, &act, out, &info), SM_OK);
	assert_int_equal(act.kind, SM_ACT_DONE);
	free(out);
	free(m);
	free(s);
}

static void test_mode_c_capped_no_delay_no_address(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	cfg.max_baud = 4800;
	cfg.baud_switch_delay_s = 0;
	struct sm_iec_session *s = new_session(&cfg);
	struct meter *m = new_meter("/LGZ6\\2ZMD", lines3);
	struct sm_reading_set *out = new_set();
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	expect_send(m, 1, "/?!\r\n", 5, 300);
	size_t i = 3;
	while (m->log[i].kind == SM_ACT_READ)
		i++;
	expect_send(m, i, "\x06" "040\r\n", 6, 300);
	expect_line(m, i + 1, 4800); /* no WAIT with BaudSwitchDelay 0 */
	assert_int_equal(m->data_baud, 4800);
	free(out);
	free(m);
	free(s);
}

static void test_offer_300_and_signon_speed(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	struct sm_iec_session *s = new_session(&cfg);
	struct meter *m = new_meter("/ACE0\\3k260V01.18", lines3);
	struct sm_reading_set *out = new_set();
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	size_t i = 3;
	while (m->log[i].kind == SM_ACT_READ)
		i++;
	expect_send(m, i, "\x06" "000\r\n", 6, 300);
	expect(m, i + 1, SM_ACT_READ); /* no speed change: no WAIT, no SET_LINE */
	for (size_t k = 1; k < m->nlog; k++)
		assert_int_not_equal(m->log[k].kind, SM_ACT_SET_LINE);
	free(s);

	/* an RS485 meter configured to sign on at 9600 Bd: the sign-on line
	 * is the configured one (a real meter of this kind listens there) */
	cfg.line.baud = 9600;
	s = new_session(&cfg);
	meter_init(m, "/ABC5X", lines3);
	m->listen = 9600;
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	expect_line(m, 0, 9600);
	expect_send(m, 1, "/?!\r\n", 5, 9600);
	i = 3;
	while (m->log[i].kind == SM_ACT_READ)
		i++;
	expect_send(m, i, "\x06" "050\r\n", 6, 9600);
	expect(m, i + 1, SM_ACT_READ);
	assert_int_equal(m->data_baud, 9600);
	free(out);
	free(m);
	free(s);
}

static void test_echo_suppression(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	cfg.address = "12345678";
	struct sm_reading_set *out = new_set();
	struct meter *m = new_meter("/ISk5MT174", lines3);
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct sm_iec_session *s = new_session(&cfg);
		meter_init(m, "/ISk5MT174", lines3);
		m->address = "12345678";
		m->echo = true;
		m->chunk = chunks[c];
		assert_int_equal(run_poll(s, m, out), SM_READINGS);
		assert_int_equal(m->check, SM_CHECK_OK);
		assert_int_equal(out->n, 3);
		assert_true(m->got_ack);
		free(s);
	}
	/* a meter with another address does not answer: timeout */
	struct sm_iec_session *s = new_session(&cfg);
	meter_init(m, "/ISk5MT174", lines3);
	m->address = "87654321";
	m->echo = true;
	assert_int_equal(run_poll(s, m, out), SM_E_TIMEOUT);
	assert_false(m->got_ack);
	assert_non_null(strstr(m->diag, "identification"));
	free(s);
	free(out);
	free(m);
}

static void test_mode_b(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	struct sm_reading_set *out = new_set();
	struct meter *m = new_meter("/SIEC2WR5", lines3);
	for (const char *mode = "BC"; *mode; mode++) {
		cfg_init(&cfg, *mode);
		cfg.max_baud = 1200; /* mode B cannot negotiate: the meter's speed wins */
		struct sm_iec_session *s = new_session(&cfg);
		meter_init(m, "/SIEC2WR5", lines3);
		m->chunk = 5;
		assert_int_equal(run_poll(s, m, out), SM_READINGS);
		assert_false(m->got_ack);
		size_t i = 3;
		while (m->log[i].kind == SM_ACT_READ)
			i++;
		expect_line(m, i, 2400); /* right after the identification, no ACK */
		expect(m, i + 1, SM_ACT_READ);
		assert_int_equal(out->n, 3);
		free(s);
	}
	free(out);
	free(m);
}

static void test_mode_a(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	struct sm_reading_set *out = new_set();
	struct meter *m = new_meter("/ABCZmodeA", lines3);
	static const size_t chunks[] = { 0, 1, 9 };
	for (size_t c = 0; c < 3; c++) {
		struct sm_iec_session *s = new_session(&cfg);
		meter_init(m, "/ABCZmodeA", lines3);
		m->chunk = chunks[c];
		assert_int_equal(run_poll(s, m, out), SM_READINGS);
		assert_int_equal(out->n, 3);
		for (size_t k = 2; k < m->nlog - 1; k++)
			assert_int_equal(m->log[k].kind, SM_ACT_READ); /* no ACK, no switch */
		free(s);
	}
	/* Mode "A" or "B" never acknowledges a mode C meter: it reads on at the
	 * sign-on speed (here the meter waits for an ACK: timeout) */
	for (const char *mode = "AB"; *mode; mode++) {
		cfg_init(&cfg, *mode);
		struct sm_iec_session *s = new_session(&cfg);
		meter_init(m, "/ISk5MT174", lines3);
		assert_int_equal(run_poll(s, m, out), SM_E_TIMEOUT);
		assert_false(m->got_ack);
		for (size_t k = 2; k < m->nlog - 1; k++)
			assert_int_equal(m->log[k].kind, SM_ACT_READ);
		free(s);
	}
	free(out);
	free(m);
}

static void test_wakeup(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	cfg.wakeup = true;
	struct sm_iec_session *s = new_session(&cfg);
	struct meter *m = new_meter("/ISk5MT174", lines3);
	struct sm_reading_set *out = new_set();
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	expect_line(m, 0, 300);
	static const uint8_t nuls[SM_IEC_WAKEUP_NULS] = { 0 };
	expect_send(m, 1, nuls, sizeof nuls, 300);
	expect(m, 2, SM_ACT_WAIT);
	assert_int_equal(m->log[2].ms, SM_IEC_WAKEUP_PAUSE_MS);
	expect_send(m, 3, "/?!\r\n", 5, 300);
	free(out);
	free(m);
	free(s);
}

static void test_timeouts_every_read(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	struct sm_reading_set *out = new_set();
	struct meter *m = new_meter("/ISk5MT174", lines3);
	for (int echo = 0; echo < 2; echo++) {
		/* how many READs a good poll takes */
		struct sm_iec_session *s = new_session(&cfg);
		meter_init(m, "/ISk5MT174", lines3);
		m->chunk = 8;
		m->echo = echo;
		assert_int_equal(run_poll(s, m, out), SM_READINGS);
		int reads = m->reads;
		assert_true(reads > 5);
		for (int k = 1; k <= reads; k++) {
			meter_init(m, "/ISk5MT174", lines3);
			m->chunk = 8;
			m->echo = echo;
			m->silent_from = k;
			enum sm_err rc = run_poll(s, m, out);
			if (rc != SM_E_TIMEOUT && rc != SM_E_TRUNCATED)
				fail_msg("silent from read %d of %d: %d", k, reads, (int)rc);
			expect(m, m->nlog - 1, SM_ACT_DONE);
			assert_true(m->diag[0] != '\0');
		}
		free(s);
	}
	/* no data at all after the ACK: a timeout that says so */
	struct sm_iec_session *s = new_session(&cfg);
	meter_init(m, "/ISk5MT174", lines3);
	m->silent_from = 2;
	assert_int_equal(run_poll(s, m, out), SM_E_TIMEOUT);
	assert_non_null(strstr(m->diag, "data"));
	/* a polled STX readout must end with ETX and BCC */
	meter_init(m, "/ISk5MT174", lines3);
	m->no_etx = true;
	assert_int_equal(run_poll(s, m, out), SM_E_TRUNCATED);
	/* a readout without STX ends at its '!' line: after it the session
	 * waits only for a few characters (at 300 Bd: 120 ms), not for the
	 * silence allowed inside a readout */
	meter_init(m, "/ISk5MT174", lines3);
	m->stx = false;
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	assert_int_equal(m->check, SM_CHECK_ABSENT);
	assert_true(m->last_read_ms <= 120);
	meter_init(m, "/ISk5MT174", lines3);
	m->no_etx = true;
	assert_int_equal(run_poll(s, m, out), SM_E_TRUNCATED);
	assert_int_equal(m->last_read_ms, SM_IEC_DATA_MS);
	free(s);
	free(out);
	free(m);
}

static void test_bad_answers(void **state)
{
	(void)state;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	struct sm_reading_set *out = new_set();
	struct meter *m = new_meter("/ISk5MT174", lines3);
	struct sm_iec_session *s = new_session(&cfg);

	m->bad_bcc = true;
	assert_int_equal(run_poll(s, m, out), SM_E_BCC);
	assert_non_null(strstr(m->diag, "BCC"));
	free(s);
	cfg.ignore_checksum = true;
	s = new_session(&cfg);
	meter_init(m, "/ISk5MT174", lines3);
	m->bad_bcc = true;
	assert_int_equal(run_poll(s, m, out), SM_READINGS);
	assert_int_equal(m->check, SM_CHECK_IGNORED);

	/* not an identification */
	meter_init(m, "/12x", lines3);
	assert_int_equal(run_poll(s, m, out), SM_E_SYNTAX);
	assert_non_null(strstr(m->diag, "/12x"));
	/* an identification line that does not end */
	static char longid[SM_IEC_IDENT_LINE_MAX + 20];
	memset(longid, 'x', sizeof longid - 1);
	memcpy(longid, "/ABC5", 5);
	meter_init(m, longid, lines3);
	assert_int_equal(run_poll(s, m, out), SM_E_TOO_LONG);
	/* a message without readings */
	meter_init(m, "/ISk5MT174", "1.8.0()\r\n");
	assert_int_equal(run_poll(s, m, out), SM_E_EMPTY);
	free(s);

	/* an address that cannot be sent */
	cfg.address = "a!b";
	struct sm_iec_session *s2 = malloc(sizeof *s2);
	assert_non_null(s2);
	struct sm_diag d = { { 0 } };
	assert_int_equal(sm_iec_session_init(s2, &cfg, &d), SM_E_CONFIG);
	assert_non_null(strstr(d.msg, "Address"));
	/* no configuration: mode C, no address, 300 7E1 */
	assert_int_equal(sm_iec_session_init(s2, NULL, &d), SM_OK);
	meter_init(m, "/ISk5MT174", lines3);
	assert_int_equal(run_poll(s2, m, out), SM_READINGS);
	expect_send(m, 1, "/?!\r\n", 5, 300);
	free(s2);
	free(out);
	free(m);
}

static void test_proto_poll(void **state)
{
	(void)state;
	const struct sm_proto *p = &sm_proto_iec62056_21;
	struct sm_meter_cfg cfg;
	cfg_init(&cfg, 'C');
	cfg.address = "01";
	void *st = calloc(1, p->state_size);
	assert_non_null(st);
	struct sm_diag d = { { 0 } };
	assert_int_equal(p->init(st, &cfg, &d), SM_OK);
	struct sm_action act;
	assert_int_equal(p->poll_start(st, &act), SM_OK);
	assert_int_equal(act.kind, SM_ACT_SET_LINE);
	assert_int_equal(act.line.baud, 300);
	struct sm_reading_set *out = new_set();
	struct sm_feed_info info;
	size_t used;
	assert_int_equal(p->poll_event(st, NULL, 0, &used, false, &act, out, &info), SM_OK);
	assert_int_equal(act.kind, SM_ACT_SEND);
	assert_int_equal(act.len, 7);
	assert_memory_equal(act.data, "/?01!\r\n", 7);
	assert_int_equal(p->poll_event(st, NULL, 0, &used, false, &act, out, &info), SM_OK);
	assert_int_equal(act.kind, SM_ACT_READ);
	assert_int_equal(p->poll_event(st, NULL, 0, &used, true, &act, out, &info), SM_E_TIMEOUT);
	assert_int_equal(act.kind, SM_ACT_DONE);
	free(out);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_c),
		cmocka_unit_test(test_mode_c_capped_no_delay_no_address),
		cmocka_unit_test(test_offer_300_and_signon_speed),
		cmocka_unit_test(test_echo_suppression),
		cmocka_unit_test(test_mode_b),
		cmocka_unit_test(test_mode_a),
		cmocka_unit_test(test_wakeup),
		cmocka_unit_test(test_timeouts_every_read),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_proto_poll),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
