/*
 * iec_session.c - the IEC 62056-21 sign-on state machine (iec_session.h).
 * Pure: every step is an action for the reader; no I/O, clock or log here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "iec62056_21.h"
#include "iec_session.h"

enum {
	S_IDLE = 0,   /* no poll running */
	S_SIGNON_LINE,/* SET_LINE sign-on sent */
	S_WAKE_SENT,  /* NULs sent */
	S_WAKE_WAIT,  /* pause after the NULs */
	S_REQ_SENT,   /* request sent */
	S_IDENT,      /* reading the identification */
	S_ACK_SENT,   /* mode C ACK sent */
	S_SWITCH_WAIT,/* pause before the baud switch */
	S_SWITCHED,   /* SET_LINE data speed sent */
	S_DATA,       /* reading the data message */
	S_DONE,
};


enum sm_err sm_iec_session_init(struct sm_iec_session *s, const struct sm_meter_cfg *cfg,
				struct sm_diag *diag)
{
	memset(s, 0, sizeof *s);
	s->mode = 'C';
	s->signon = (struct sm_line){ .baud = 300, .databits = 7, .parity = SM_PARITY_EVEN, .stopbits = 1 };
	s->switch_delay_ms = 300;
	const char *addr = NULL;
	if (cfg != NULL) {
		if (cfg->iec_mode == 'A' || cfg->iec_mode == 'B' || cfg->iec_mode == 'C')
			s->mode = cfg->iec_mode;
		addr = cfg->address;
		s->wakeup = cfg->wakeup;
		s->ignore_checksum = cfg->ignore_checksum;
		s->max_baud = cfg->max_baud > 0 ? cfg->max_baud : 0;
		double ms = cfg->baud_switch_delay_s * 1000.0;
		s->switch_delay_ms = ms > 0 ? (ms < 60000.0 ? (int)(ms + 0.5) : 60000) : 0;
		if (cfg->line.baud > 0)
			s->signon = cfg->line;
	}
	if (sm_iec_encode_request(addr, s->request, sizeof s->request, &s->request_n) != SM_OK) {
		sm_diag_set(diag, "Address: cannot be sent in a request (at most %d printable "
			 "characters other than / ! ( ))", SM_IEC_ADDRESS_MAX);
		return SM_E_CONFIG;
	}
	sm_iec_framer_init(&s->framer, s->ignore_checksum);
	s->step = S_IDLE;
	return SM_OK;
}

static void act_set(struct sm_action *act, enum sm_action_kind k)
{
	memset(act, 0, sizeof *act);
	act->kind = k;
}

static void act_line(struct sm_action *act, const struct sm_line *l)
{
	act_set(act, SM_ACT_SET_LINE);
	act->line = *l;
}

static void act_send(struct sm_action *act, const uint8_t *p, size_t n)
{
	act_set(act, SM_ACT_SEND);
	act->data = p;
	act->len = n;
	act->drain = true;
}

static void act_read(struct sm_action *act, int ms)
{
	act_set(act, SM_ACT_READ);
	act->ms = ms;
}

static void act_wait(struct sm_action *act, int ms)
{
	act_set(act, SM_ACT_WAIT);
	act->ms = ms;
}

enum sm_err sm_iec_session_start(struct sm_iec_session *s, struct sm_action *act)
{
	sm_iec_framer_reset(&s->framer);
	memset(&s->id, 0, sizeof s->id);
	s->line_n = 0;
	s->data_baud = s->signon.baud;
	s->step = S_SIGNON_LINE;
	act_line(act, &s->signon);
	return SM_OK;
}

/* End the poll with rc (negative). */
static enum sm_err fail(struct sm_iec_session *s, struct sm_action *act, enum sm_err rc)
{
	s->step = S_DONE;
	act_set(act, SM_ACT_DONE);
	return rc;
}

static void send_request(struct sm_iec_session *s, struct sm_action *act)
{
	s->step = S_REQ_SENT;
	act_send(act, s->request, s->request_n);
}

/* The data speed is set: read the data message. */
static void start_data(struct sm_iec_session *s, struct sm_action *act)
{
	s->step = S_DATA;
	act_read(act, SM_IEC_DATA_MS);
}

/* Hand the identification line to the framer, so that the frame it
 * completes is the whole message. */
static void framer_prime(struct sm_iec_session *s)
{
	size_t used = 0;
	struct sm_frame fr;
	struct sm_diag dg;
	sm_iec_framer_reset(&s->framer);
	(void)sm_iec_framer_feed(&s->framer, s->line, s->line_n, &used, &fr, &dg);
}

/* Read more of the data message: SM_IEC_DATA_MS of silence, or, when a
 * message without STX has ended at its "!" line, only as long as the next
 * byte (an ETX after a damaged STX) would take: three characters of 10
 * bits at the data speed, plus 20 ms. */
static void read_data(const struct sm_iec_session *s, struct sm_action *act)
{
	int baud = s->data_baud > 0 ? s->data_baud : 300;
	act_read(act, sm_iec_framer_ends_soon(&s->framer) ? 3 * 10 * 1000 / baud + 20 : SM_IEC_DATA_MS);
}

/* Feed readout bytes; SM_NEED_MORE or a final result. */
static enum sm_err data_bytes(struct sm_iec_session *s, const uint8_t *in, size_t n,
			      struct sm_action *act, struct sm_reading_set *out,
			      struct sm_feed_info *info)
{
	size_t off = 0;
	while (off < n) {
		size_t used = 0;
		struct sm_frame fr;
		enum sm_err rc = sm_iec_framer_feed(&s->framer, in + off, n - off, &used, &fr, &info->diag);
		off += used;
		if (rc == SM_FRAME) {
			unsigned bad = 0;
			rc = sm_iec_decode(&fr, out, &bad, NULL, &info->diag);
			info->check = fr.check;
			info->bad_lines = bad;
			s->step = S_DONE;
			act_set(act, SM_ACT_DONE);
			return rc;
		}
		if (rc < 0)
			return fail(s, act, rc);
		if (used == 0)
			break;
	}
	read_data(s, act);
	return SM_NEED_MORE;
}

/* The identification is complete in s->line: choose the mode. */
static enum sm_err after_ident(struct sm_iec_session *s, const uint8_t *rest, size_t rest_n,
			       struct sm_action *act, struct sm_reading_set *out,
			       struct sm_feed_info *info)
{
	if (sm_iec_parse_ident((const char *)s->line, s->line_n, &s->id) != SM_OK) {
		char show[41];
		size_t k = 0;
		while (k < s->line_n && k < sizeof show - 1 && s->line[k] != '\r' && s->line[k] != '\n') {
			show[k] = (s->line[k] >= 0x20 && s->line[k] < 0x7f) ? (char)s->line[k] : '?';
			k++;
		}
		show[k] = '\0';
		sm_diag_set(&info->diag, "not an identification: \"%s\"", show);
		return fail(s, act, SM_E_SYNTAX);
	}
	framer_prime(s);
	char m = s->id.mode;
	if (s->mode == 'C' && m == 'C') {
		int baud = sm_iec_cap_baud(s->id.baud, s->max_baud);
		char z = sm_iec_baud_char(baud);
		size_t n = 0;
		(void)sm_iec_encode_ack('0', z, '0', s->tx, sizeof s->tx, &n);
		s->data_baud = baud;
		s->step = S_ACK_SENT;
		act_send(act, s->tx, n);
		return SM_OK; /* bytes after the identification are noise: dropped */
	}
	if ((s->mode == 'B' || s->mode == 'C') && m == 'B') {
		s->data_baud = s->id.baud;
		if (s->data_baud != s->signon.baud) {
			struct sm_line l = s->signon;
			l.baud = s->data_baud;
			s->step = S_SWITCHED;
			act_line(act, &l);
			return SM_OK; /* bytes read at the old speed are garbage */
		}
	}
	if ((s->mode == 'B' || s->mode == 'C') && m == 'B') {
		s->step = S_DATA;
		enum sm_err rc = data_bytes(s, rest, rest_n, act, out, info);
		return rc == SM_NEED_MORE ? SM_OK : rc;
	}
	/* mode A: the data follows at the sign-on speed, maybe in this read */
	s->data_baud = s->signon.baud;
	s->step = S_DATA;
	enum sm_err rc = data_bytes(s, rest, rest_n, act, out, info);
	return rc == SM_NEED_MORE ? SM_OK : rc;
}

/* Identification bytes: skip to '/', collect a line, skip request echoes. */
static enum sm_err ident_bytes(struct sm_iec_session *s, const uint8_t *in, size_t n,
			       struct sm_action *act, struct sm_reading_set *out,
			       struct sm_feed_info *info)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = in[i++];
		if (s->line_n == 0) {
			if (c == '/')
				s->line[s->line_n++] = c;
			continue;
		}
		if (c == '/') { /* a new start: what came before was noise */
			s->line_n = 0;
			s->line[s->line_n++] = c;
			continue;
		}
		if (s->line_n >= sizeof s->line) {
			sm_diag_set(&info->diag, "identification longer than %d bytes",
				 SM_IEC_IDENT_LINE_MAX);
			return fail(s, act, SM_E_TOO_LONG);
		}
		s->line[s->line_n++] = c;
		if (c != '\n')
			continue;
		if (s->line_n >= 2 && s->line[1] == '?') { /* echo of our request */
			s->line_n = 0;
			continue;
		}
		return after_ident(s, in + i, n - i, act, out, info);
	}
	act_read(act, SM_IEC_IDENT_MS);
	return SM_OK;
}

enum sm_err sm_iec_session_event(struct sm_iec_session *s, const uint8_t *in, size_t n,
				 size_t *used, bool timed_out, struct sm_action *act,
				 struct sm_reading_set *out, struct sm_feed_info *info)
{
	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	info->check = SM_CHECK_OK;
	*used = n;
	if (in == NULL)
		n = 0;

	switch (s->step) {
	case S_SIGNON_LINE:
		if (s->wakeup) {
			memset(s->tx, 0, sizeof s->tx);
			s->step = S_WAKE_SENT;
			act_send(act, s->tx, SM_IEC_WAKEUP_NULS);
			return SM_OK;
		}
		send_request(s, act);
		return SM_OK;
	case S_WAKE_SENT:
		s->step = S_WAKE_WAIT;
		act_wait(act, SM_IEC_WAKEUP_PAUSE_MS);
		return SM_OK;
	case S_WAKE_WAIT:
		send_request(s, act);
		return SM_OK;
	case S_REQ_SENT:
		s->step = S_IDENT;
		s->line_n = 0;
		act_read(act, SM_IEC_IDENT_MS);
		return SM_OK;
	case S_IDENT:
		if (n > 0)
			return ident_bytes(s, in, n, act, out, info);
		if (timed_out) {
			sm_diag_set(&info->diag, "no identification within %d ms of the request%s",
				 SM_IEC_IDENT_MS, s->line_n > 0 ? " (an incomplete line came)" : "");
			return fail(s, act, SM_E_TIMEOUT);
		}
		act_read(act, SM_IEC_IDENT_MS);
		return SM_OK;
	case S_ACK_SENT:
		if (s->data_baud == s->signon.baud) {
			start_data(s, act);
			return SM_OK;
		}
		if (s->switch_delay_ms > 0) {
			s->step = S_SWITCH_WAIT;
			act_wait(act, s->switch_delay_ms);
			return SM_OK;
		}
		/* fall through */
	case S_SWITCH_WAIT: {
		struct sm_line l = s->signon;
		l.baud = s->data_baud;
		s->step = S_SWITCHED;
		act_line(act, &l);
		return SM_OK;
	}
	case S_SWITCHED:
		start_data(s, act);
		return SM_OK;
	case S_DATA: {
		if (n > 0) {
			enum sm_err rc = data_bytes(s, in, n, act, out, info);
			return rc == SM_NEED_MORE ? SM_OK : rc;
		}
		if (!timed_out) {
			read_data(s, act);
			return SM_OK;
		}
		if (!sm_iec_framer_in_data(&s->framer)) {
			sm_diag_set(&info->diag, "no data message within %d ms after the %s at %d Bd",
				 SM_IEC_DATA_MS, s->step == S_DATA && s->id.mode == 'C' && s->mode == 'C'
				 ? "acknowledgement" : "identification", s->data_baud);
			return fail(s, act, SM_E_TIMEOUT);
		}
		struct sm_frame fr;
		enum sm_err rc = sm_iec_framer_flush(&s->framer, &fr, &info->diag);
		if (rc == SM_FRAME && fr.check == SM_CHECK_ABSENT &&
		    memchr(fr.p, SM_IEC_STX, fr.n) != NULL) {
			/* a readout that began with STX ends with ETX and BCC;
			 * without them it is unchecked: no values from it */
			sm_diag_set(&info->diag, "data message truncated: no ETX and BCC after its '!' "
				 "line within %d ms", SM_IEC_DATA_MS);
			return fail(s, act, SM_E_TRUNCATED);
		}
		if (rc == SM_FRAME) {
			unsigned bad = 0;
			rc = sm_iec_decode(&fr, out, &bad, NULL, &info->diag);
			info->check = fr.check;
			info->bad_lines = bad;
			s->step = S_DONE;
			act_set(act, SM_ACT_DONE);
			return rc;
		}
		if (rc >= 0) {
			sm_diag_set(&info->diag, "no data message");
			rc = SM_E_TIMEOUT;
		}
		return fail(s, act, rc);
	}
	case S_IDLE:
	case S_DONE:
	default:
		act_set(act, SM_ACT_DONE);
		return SM_OK;
	}
}
