/*
 * sim_iec.c - a simulated IEC 62056-21 meter (or a bus of addressed
 * meters) on a pseudo-terminal.
 *
 * Modes A, B and C answer sign-on requests; mode D pushes.  A pty has no
 * line speed of its own, but the termios speed the reader sets on the slave
 * can be read from the master (Linux hands TCGETS on a pty master to the
 * slave).  The meter checks it at every step and logs what it saw, so that
 * tests can assert that the reader signed on at 300 Bd and switched to the
 * agreed speed; a step at the wrong speed is not answered, as a real meter
 * would not understand it.  (Data bits and parity cannot be checked: the
 * Linux pty driver forces CS8 without parity on the slave.)
 *
 * One session runs at a time on the bus (half duplex):
 *   IDLE --"/?[addr]!" at 300 Bd--> reaction time --> identification
 *     mode A: data message at 300 Bd
 *     mode B: wait until the reader switched to the offered speed, data
 *     mode C: WAIT_ACK (1.5 s) --ACK 0 Z 0 CR LF--> wait for the switch to
 *             Z's speed (3 s), data
 * A new request at any point starts over.  Everything the meter sends
 * goes through one output queue, written at once or, with --pace, at the
 * line's real character rate (10 bits per 7E1 character).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"
#include "iec62056_21.h"
#include "sim.h"

#define IEC_MAX_MSGS 64
#define IEC_OUT_MAX (SM_IEC_MAX + 2 * SM_IEC_IDENT_LINE_MAX)
#define IEC_IN_MAX 256
#define IEC_ACK_WAIT_MS 1500   /* the meter's wait for the option select */
#define IEC_SWITCH_WAIT_MS 6000 /* how long the reader may take to switch (BaudSwitchDelay is at most 5 s) */
#define IEC_POLL_MS 10          /* termios polling while waiting for a switch */

/* The built-in meter's registers (Wh, varh) and its load model. */
struct model {
	double imp_wh[2], exp_wh, q_varh[4];
	int64_t last_ms;
	double phase; /* per meter, so that the meters of a bus differ */
	double power_w;
};

struct meter {
	char address[SM_IEC_ADDRESS_MAX + 1];
	char label[SM_IEC_ADDRESS_MAX + 16]; /* meter "ADDR" */
	const char *fixture;                 /* NULL: built-in */
	unsigned char *file;                 /* fixture bytes (owned) */
	size_t filelen;
	struct sm_iec_transcript msgs[IEC_MAX_MSGS]; /* spans into file */
	size_t msg_off[IEC_MAX_MSGS];        /* where each message's transcript began */
	size_t nmsgs, next;
	struct sm_iec_ident id;              /* identification as served */
	int offer;                           /* the speed offered (modes B, C) */
	struct model md;
};

enum session { S_IDLE, S_REACT, S_WAIT_ACK, S_WAIT_SWITCH };

struct bus {
	const struct sim_opts *o;
	struct sim_pty pty;
	size_t nmeters;
	struct meter meters[SIM_MAX_METERS];
	/* session */
	enum session st;
	struct meter *cur;
	int64_t deadline;   /* S_REACT: when to answer; WAIT_*: when to give up */
	int target;         /* the speed of the data message */
	/* input from the reader */
	uint8_t in[IEC_IN_MAX];
	size_t in_n;
	/* output queue */
	uint8_t out[IEC_OUT_MAX];
	size_t out_n, out_done;
	int64_t out_start;
	int out_baud;       /* --pace: characters per second = baud / 10 */
	bool out_is_data;   /* the queue holds a data message (counts as a readout) */
	bool dropping;      /* the last output was dropped (logged once) */
	long long served;
	/* mode D */
	int push_baud;
	int seen_baud;      /* last speed logged */
};

/* ------------------------------------------------------------------ */
/* the reader's line                                                   */
/* ------------------------------------------------------------------ */

static const struct {
	speed_t code;
	int baud;
} speeds[] = {
	{ B50, 50 },	   { B75, 75 },	    { B110, 110 },     { B134, 134 },	  { B150, 150 },
	{ B200, 200 },	   { B300, 300 },   { B600, 600 },     { B1200, 1200 },	  { B1800, 1800 },
	{ B2400, 2400 },   { B4800, 4800 }, { B9600, 9600 },   { B19200, 19200 }, { B38400, 38400 },
	{ B57600, 57600 }, { B115200, 115200 }, { B230400, 230400 }, { B460800, 460800 },
	{ B921600, 921600 },
};

/* The speed the reader set on its end of the pty, 0 if unknown. */
static int reader_baud(int master)
{
	struct termios t;
	if (tcgetattr(master, &t) != 0)
		return 0;
	speed_t s = cfgetispeed(&t);
	if (s == B0)
		s = cfgetospeed(&t);
	for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++)
		if (speeds[i].code == s)
			return speeds[i].baud;
	return 0;
}

/* ------------------------------------------------------------------ */
/* meters: fixtures and the built-in model                             */
/* ------------------------------------------------------------------ */

static char mode_baud_char(char mode, int baud)
{
	if (mode == 'B')
		return baud > 300 ? (char)('A' + (sm_iec_baud_char(baud) - '1')) : 0;
	if (mode == 'A')
		return '-'; /* no speed: mode A stays at 300 Bd */
	return sm_iec_baud_char(baud);
}

static int load_fixture(struct meter *m, const struct sim_opts *o)
{
	char err[512];
	if (sm_read_file(m->fixture, SIM_MAX_FIXTURE, &m->file, &m->filelen, err, sizeof err) != 0) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		return -1;
	}
	size_t off = 0;
	while (off < m->filelen && m->nmsgs < IEC_MAX_MSGS) {
		struct sm_iec_transcript *t = &m->msgs[m->nmsgs];
		if (sm_iec_split_transcript(m->file + off, m->filelen - off, t) != SM_OK || t->next == 0)
			break;
		if (!o->verbatim) {
			/* The data lines are sent again through the encoder, which
			 * takes no '!', STX or ETX inside them. */
			uint8_t probe[SM_IEC_MAX + 8];
			size_t n;
			if (sm_iec_encode_data((const char *)t->data, t->data_n, true, probe, sizeof probe, &n) !=
			    SM_OK) {
				sm_cli_log(SM_LOG_ERROR, "%s: readout %zu cannot be encoded again (too long, or STX/ETX "
							 "inside its data lines); --verbatim serves it as it is",
					   m->fixture, m->nmsgs + 1);
				return -1;
			}
		}
		if (o->verbatim && o->mode != 'D' &&
		    off + t->next - (size_t)(t->data - m->file) + 1 > IEC_OUT_MAX) {
			sm_cli_log(SM_LOG_ERROR, "%s: readout %zu is longer than %d bytes", m->fixture, m->nmsgs + 1,
				   IEC_OUT_MAX);
			return -1;
		}
		m->msg_off[m->nmsgs] = off;
		off += t->next;
		m->nmsgs++;
	}
	if (o->verbatim && o->mode == 'D' && m->filelen > IEC_OUT_MAX) {
		sm_cli_log(SM_LOG_ERROR, "%s: more than %d bytes to push at once", m->fixture, IEC_OUT_MAX);
		return -1;
	}
	if (m->nmsgs == 0) {
		sm_cli_log(SM_LOG_ERROR, "%s: no IEC 62056-21 readout found (an identification line \"/XXXZ...\" and "
					 "data lines ending with '!')",
			   m->fixture);
		return -1;
	}
	m->id = m->msgs[0].id;
	return 0;
}

static void model_init(struct meter *m, size_t index)
{
	struct model *md = &m->md;
	memset(md, 0, sizeof *md);
	md->imp_wh[0] = 7654321.0 + 1000000.0 * (double)index;
	md->imp_wh[1] = 2345678.0 + 100000.0 * (double)index;
	md->exp_wh = 123456.0;
	md->q_varh[0] = 345678.0;
	md->q_varh[1] = 1234.0;
	md->q_varh[2] = 2345.0;
	md->q_varh[3] = 456789.0;
	md->phase = 1000.0 * (double)index;
	memcpy(m->id.manufacturer, "SIM", 4);
	snprintf(m->id.ident, sizeof m->id.ident, "IEC-SIMULATOR");
	m->id.enh = 0;
}

/* Advance the model to now and write its data lines. */
static size_t model_lines(struct meter *m, int64_t now_ms, char *out, size_t cap)
{
	struct model *md = &m->md;
	double t = (double)(now_ms % 86400000) / 1000.0 + md->phase;
	double load = 520.0 + 280.0 * sin(t / 700.0) + 90.0 * sin(t / 31.0); /* W, always > 0 */
	double dt_h = md->last_ms ? (double)(now_ms - md->last_ms) / 3600000.0 : 0.0;
	int tariff = ((now_ms / 60000) % 2) ? 1 : 0;
	md->last_ms = now_ms;
	md->power_w = load;
	md->imp_wh[tariff] += load * dt_h;
	md->q_varh[0] += 0.25 * load * dt_h;
	md->q_varh[3] += 0.05 * load * dt_h;

	long long imp1 = llround(md->imp_wh[0]), imp2 = llround(md->imp_wh[1]);
	long long imp = imp1 + imp2, exp = llround(md->exp_wh);
	long long q[4];
	for (int i = 0; i < 4; i++)
		q[i] = llround(md->q_varh[i]);
	long long p = llround(md->power_w); /* W, sent as kW with 3 decimals */
	const char *serial = m->address[0] ? m->address : "12345678";
	int n = snprintf(out, cap,
			 "0-0:C.1.0(%s)\r\n"
			 "0-0:F.F.0(00000000)\r\n"
			 "1-0:1.8.0(%06lld.%03lld*kWh)\r\n"
			 "1-0:1.8.1(%06lld.%03lld*kWh)\r\n"
			 "1-0:1.8.2(%06lld.%03lld*kWh)\r\n"
			 "1-0:2.8.0(%06lld.%03lld*kWh)\r\n"
			 "1-0:15.8.0(%06lld.%03lld*kWh)\r\n"
			 "1-0:5.8.0(%06lld.%03lld*kvarh)\r\n"
			 "1-0:6.8.0(%06lld.%03lld*kvarh)\r\n"
			 "1-0:7.8.0(%06lld.%03lld*kvarh)\r\n"
			 "1-0:8.8.0(%06lld.%03lld*kvarh)\r\n"
			 "1-0:1.7.0(%02lld.%03lld*kW)\r\n",
			 serial, imp / 1000, imp % 1000, imp1 / 1000, imp1 % 1000, imp2 / 1000, imp2 % 1000,
			 exp / 1000, exp % 1000, (imp + exp) / 1000, (imp + exp) % 1000, q[0] / 1000, q[0] % 1000,
			 q[1] / 1000, q[1] % 1000, q[2] / 1000, q[2] % 1000, q[3] / 1000, q[3] % 1000, p / 1000,
			 p % 1000);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ------------------------------------------------------------------ */
/* output                                                              */
/* ------------------------------------------------------------------ */

/* Queue bytes for the reader; paced at baud when --pace. */
static void out_queue(struct bus *b, const uint8_t *p, size_t n, int baud, bool is_data)
{
	if (b->out_done >= b->out_n) {
		b->out_n = b->out_done = 0;
		b->out_start = sm_mono_ms();
		b->out_baud = baud;
	}
	if (n > sizeof b->out - b->out_n)
		n = sizeof b->out - b->out_n;
	memcpy(b->out + b->out_n, p, n);
	b->out_n += n;
	b->out_is_data = is_data;
}

static bool out_pending(const struct bus *b)
{
	return b->out_done < b->out_n;
}

/* Write what is due; returns the time the next byte is due (0 when the
 * queue is empty).  When the pty stays full for 500 ms (nobody reads),
 * the rest is dropped, as a meter's bytes are lost on an unread line. */
static int64_t out_pump(struct bus *b)
{
	if (!out_pending(b))
		return 0;
	size_t due = b->out_n;
	bool paced = b->o->pace && b->out_baud >= 10;
	if (paced) {
		int64_t el = sm_mono_ms() - b->out_start;
		long long chars = el * (b->out_baud / 10) / 1000 + 1;
		if (chars >= 0 && (unsigned long long)chars < due)
			due = (size_t)chars;
	}
	if (due > b->out_done) {
		size_t want = due - b->out_done;
		size_t w = sim_write(b->pty.master, b->out + b->out_done, want);
		b->out_done += w;
		if (w < want) {
			if (!b->dropping)
				sm_cli_log(SM_LOG_WARNING, "nobody reads the pseudo-terminal: output dropped "
							   "until a reader takes it");
			b->dropping = true;
			b->out_n = b->out_done = 0;
			b->out_is_data = false;
			return 0;
		}
	}
	if (!out_pending(b)) {
		if (b->dropping)
			sm_cli_log(SM_LOG_INFO, "the pseudo-terminal is read again");
		b->dropping = false;
		if (b->out_is_data) {
			b->out_is_data = false;
			b->served++;
		}
		return 0;
	}
	return b->out_start + (int64_t)(b->out_done * 1000 / (size_t)(b->out_baud / 10));
}

/* ------------------------------------------------------------------ */
/* the session                                                         */
/* ------------------------------------------------------------------ */

static void send_ident(struct bus *b)
{
	struct meter *m = b->cur;
	uint8_t buf[SM_IEC_IDENT_LINE_MAX];
	size_t n;
	struct sm_iec_ident id = m->id;
	id.baud_char = mode_baud_char(b->o->mode, m->offer);
	if (sm_iec_encode_ident(&id, buf, sizeof buf, &n) != SM_OK) {
		sm_cli_log(SM_LOG_WARNING, "%s: identification cannot be encoded: no answer", m->label);
		b->st = S_IDLE;
		return;
	}
	const char *how = b->o->mode == 'A' ? "" : " offering";
	sm_cli_log(SM_LOG_INFO, "%s: identification %.*s (mode %c%s %d Bd)", m->label, (int)(n - 2), (const char *)buf,
		   b->o->mode, how, b->o->mode == 'A' ? 300 : m->offer);
	out_queue(b, buf, n, 300, false);
	if (b->o->mode == 'A') {
		b->target = 300;
		b->st = S_WAIT_SWITCH;
		b->deadline = sm_mono_ms() + IEC_SWITCH_WAIT_MS;
	} else if (b->o->mode == 'B') {
		b->target = m->offer;
		b->st = S_WAIT_SWITCH;
		b->deadline = sm_mono_ms() + IEC_SWITCH_WAIT_MS;
	} else {
		b->st = S_WAIT_ACK;
		b->deadline = sm_mono_ms() + IEC_ACK_WAIT_MS;
	}
}

static void send_data(struct bus *b)
{
	struct meter *m = b->cur;
	uint8_t *buf = malloc(IEC_OUT_MAX);
	char *lines = malloc(SM_IEC_MAX);
	size_t n = 0;
	enum sm_err e = SM_E_NOMEM;
	if (buf != NULL && lines != NULL) {
		if (m->nmsgs == 0) {
			size_t ln = model_lines(m, sm_now_ms(), lines, SM_IEC_MAX);
			e = sm_iec_encode_data(lines, ln, true, buf, IEC_OUT_MAX, &n);
		} else {
			const struct sm_iec_transcript *t = &m->msgs[m->next++ % m->nmsgs];
			size_t k = (size_t)(t - m->msgs);
			if (b->o->verbatim) {
				/* the data message as captured: from its STX (or first
				 * data line) to the end of the message */
				size_t from = (size_t)(t->data - m->file) - (t->has_stx ? 1 : 0);
				size_t to = m->msg_off[k] + t->next;
				n = to - from < IEC_OUT_MAX ? to - from : IEC_OUT_MAX;
				memcpy(buf, m->file + from, n);
				e = SM_OK;
			} else {
				e = sm_iec_encode_data((const char *)t->data, t->data_n, true, buf, IEC_OUT_MAX, &n);
			}
		}
	}
	if (e != SM_OK || n == 0) {
		sm_cli_log(SM_LOG_WARNING, "%s: data message cannot be built (%s): no readout", m->label, sm_strerror(e));
	} else {
		sm_cli_log(SM_LOG_INFO, "%s: readout at %d Bd, %zu bytes", m->label, b->target, n);
		out_queue(b, buf, n, b->target, true);
	}
	b->st = S_IDLE;
	free(lines);
	free(buf);
}

static struct meter *find_meter(struct bus *b, const char *addr, size_t n)
{
	if (n == 0) {
		if (b->nmeters == 1)
			return &b->meters[0];
		for (size_t i = 0; i < b->nmeters; i++)
			if (b->meters[i].address[0] == '\0')
				return &b->meters[i];
		return NULL;
	}
	for (size_t i = 0; i < b->nmeters; i++)
		if (strlen(b->meters[i].address) == n && memcmp(b->meters[i].address, addr, n) == 0)
			return &b->meters[i];
	return NULL;
}

static void on_request(struct bus *b, const char *addr, size_t n)
{
	int baud = reader_baud(b->pty.master);
	struct meter *m = find_meter(b, addr, n);
	b->st = S_IDLE;
	b->out_n = b->out_done = 0; /* a new request ends whatever was going on */
	b->out_is_data = false;
	if (m == NULL) {
		if (n == 0)
			sm_cli_log(SM_LOG_INFO, "sign-on without address on a bus of %zu meters: no answer (they would "
						"all answer at once)",
				   b->nmeters);
		else
			sm_cli_log(SM_LOG_INFO, "sign-on for address \"%.*s\": no such meter, no answer", (int)n, addr);
		return;
	}
	if (baud != 300) {
		sm_cli_log(SM_LOG_WARNING, "%s: sign-on at %d Bd ignored: expected 300 Bd", m->label, baud);
		return;
	}
	sm_cli_log(SM_LOG_INFO, "%s: sign-on at 300 Bd", m->label);
	b->cur = m;
	b->st = S_REACT;
	b->deadline = sm_mono_ms() + (m->id.manufacturer[2] >= 'a' && m->id.manufacturer[2] <= 'z' ? 20 : 200);
}

static void on_ack(struct bus *b, const uint8_t *a)
{
	struct meter *m = b->cur;
	int baud = reader_baud(b->pty.master);
	char v = (char)a[1], z = (char)a[2], y = (char)a[3];
	b->st = S_IDLE;
	if (v != '0' && v != '1') {
		sm_cli_log(SM_LOG_WARNING, "%s: ACK with protocol control '%c' (mode E/HDLC is not simulated): no "
					   "answer",
			   m->label, v);
		return;
	}
	if (y != '0') {
		sm_cli_log(SM_LOG_WARNING, "%s: ACK asks for mode '%c' (programming is not simulated): no answer",
			   m->label, y);
		return;
	}
	if (z < '0' || z > '6' || sm_iec_baud_of_char(z) > m->offer) {
		sm_cli_log(SM_LOG_WARNING, "%s: ACK asks for baud character '%c', more than the %d Bd offered: no "
					   "answer",
			   m->label, z, m->offer);
		return;
	}
	b->target = sm_iec_baud_of_char(z);
	/* The reader sends the ACK at the old speed and switches after its
	 * delay; one that switched at once may already be at the new one. */
	if (baud != 300 && baud != b->target) {
		sm_cli_log(SM_LOG_WARNING, "%s: ACK at %d Bd ignored: expected 300 Bd", m->label, baud);
		return;
	}
	sm_cli_log(SM_LOG_INFO, "%s: ACK at %d Bd, readout at %d Bd requested", m->label, baud, b->target);
	b->st = S_WAIT_SWITCH;
	b->deadline = sm_mono_ms() + IEC_SWITCH_WAIT_MS;
}

/* Take complete requests and ACKs from the input buffer. */
static void on_input(struct bus *b)
{
	for (;;) {
		size_t i = 0;
		while (i < b->in_n && b->in[i] != '/' && b->in[i] != SM_IEC_ACK)
			i++; /* wake-up NULs, line noise, sign-off messages */
		memmove(b->in, b->in + i, b->in_n - i);
		b->in_n -= i;
		if (b->in_n == 0)
			return;
		const uint8_t *nl = memchr(b->in, '\n', b->in_n);
		if (nl == NULL) {
			if (b->in_n >= 2 * SM_IEC_ADDRESS_MAX) { /* no line end: not a request */
				memmove(b->in, b->in + 1, b->in_n - 1);
				b->in_n--;
				continue;
			}
			return;
		}
		size_t len = (size_t)(nl - b->in) + 1;
		if (b->in[0] == '/') {
			/* "/?" addr "!" CR LF */
			if (len >= 5 && b->in[1] == '?' && b->in[len - 2] == '\r' && b->in[len - 3] == '!' &&
			    len - 5 <= SM_IEC_ADDRESS_MAX)
				on_request(b, (const char *)b->in + 2, len - 5);
			else
				sm_cli_log(SM_LOG_WARNING, "not a sign-on request (%zu bytes from '/' to the line end): "
							   "ignored",
					   len);
		} else if (len == 6 && b->in[4] == '\r') {
			if (b->st == S_WAIT_ACK)
				on_ack(b, b->in);
			else
				sm_cli_log(SM_LOG_WARNING, "ACK outside a mode C sign-on: ignored");
		} else {
			sm_cli_log(SM_LOG_WARNING, "malformed ACK (%zu bytes): ignored", len);
		}
		memmove(b->in, b->in + len, b->in_n - len);
		b->in_n -= len;
	}
}

/* Read what the reader sent; echo it with --echo. */
static void read_input(struct bus *b)
{
	uint8_t buf[256];
	ssize_t r;
	while ((r = read(b->pty.master, buf, sizeof buf)) > 0) {
		if (b->o->echo)
			sim_write(b->pty.master, buf, (size_t)r);
		if (b->o->mode == 'D')
			continue; /* a push meter listens to nothing */
		size_t take = (size_t)r;
		if (take > sizeof b->in - b->in_n) { /* keep the newest bytes */
			size_t drop = take - (sizeof b->in - b->in_n);
			if (drop > b->in_n)
				drop = b->in_n;
			memmove(b->in, b->in + drop, b->in_n - drop);
			b->in_n -= drop;
			if (take > sizeof b->in - b->in_n)
				take = sizeof b->in - b->in_n;
		}
		memcpy(b->in + b->in_n, buf + (size_t)r - take, take);
		b->in_n += take;
		on_input(b);
	}
}

/* Timers of the session; returns the next time something is due. */
static int64_t session_step(struct bus *b)
{
	int64_t now = sm_mono_ms();
	switch (b->st) {
	case S_IDLE:
		return now + 1000;
	case S_REACT:
		if (now >= b->deadline) {
			send_ident(b);
			return session_step(b);
		}
		return b->deadline;
	case S_WAIT_ACK:
		if (out_pending(b)) /* the wait starts when the identification has left */
			b->deadline = now + IEC_ACK_WAIT_MS;
		if (now >= b->deadline) {
			sm_cli_log(SM_LOG_WARNING, "%s: no ACK within %d ms: back to waiting for a sign-on", b->cur->label,
				   IEC_ACK_WAIT_MS);
			b->st = S_IDLE;
			return now + 1000;
		}
		return b->deadline;
	case S_WAIT_SWITCH: {
		if (out_pending(b)) { /* the identification is still going out */
			b->deadline = now + IEC_SWITCH_WAIT_MS;
			return now + IEC_POLL_MS;
		}
		int baud = reader_baud(b->pty.master);
		if (baud == b->target) {
			send_data(b);
			return now + 1000;
		}
		if (now >= b->deadline) {
			sm_cli_log(SM_LOG_WARNING, "%s: the reader stayed at %d Bd, not %d Bd: no readout", b->cur->label,
				   baud, b->target);
			b->st = S_IDLE;
			return now + 1000;
		}
		return now + IEC_POLL_MS;
	}
	}
	return now + 1000;
}

/* ------------------------------------------------------------------ */
/* mode D                                                              */
/* ------------------------------------------------------------------ */

static void push_once(struct bus *b)
{
	struct meter *m = &b->meters[0];
	int baud = reader_baud(b->pty.master);
	if (baud != b->seen_baud) {
		if (baud == b->push_baud)
			sm_cli_log(SM_LOG_INFO, "push at %d Bd", baud);
		else
			sm_cli_log(SM_LOG_WARNING, "push at %d Bd: the reader listens at %d Bd, frames withheld",
				   b->push_baud, baud);
		b->seen_baud = baud;
	}
	if (baud != b->push_baud)
		return;
	if (b->o->verbatim) {
		out_queue(b, m->file, m->filelen, b->push_baud, true);
		return;
	}
	uint8_t *buf = malloc(IEC_OUT_MAX);
	char *lines = malloc(SM_IEC_MAX);
	size_t n = 0, k = 0;
	enum sm_err e = SM_E_NOMEM;
	if (buf != NULL && lines != NULL) {
		const char *data = lines;
		size_t dn = 0;
		struct sm_iec_ident id = m->id;
		if (m->nmsgs == 0) {
			dn = model_lines(m, sm_now_ms(), lines, SM_IEC_MAX);
			id.baud_char = sm_iec_baud_char(b->push_baud);
		} else {
			const struct sm_iec_transcript *t = &m->msgs[m->next++ % m->nmsgs];
			id = t->id;
			data = (const char *)t->data;
			dn = t->data_n;
		}
		e = sm_iec_encode_ident(&id, buf, IEC_OUT_MAX, &k);
		if (e == SM_OK && k + 2 <= IEC_OUT_MAX) {
			memcpy(buf + k, "\r\n", 2); /* a blank line, as eBZ and DSMR meters send */
			k += 2;
			e = sm_iec_encode_data(data, dn, false, buf + k, IEC_OUT_MAX - k, &n);
		}
	}
	if (e == SM_OK)
		out_queue(b, buf, k + n, b->push_baud, true);
	else
		sm_cli_log(SM_LOG_WARNING, "push frame cannot be built (%s)", sm_strerror(e));
	free(lines);
	free(buf);
}

/* ------------------------------------------------------------------ */

static int setup_meters(struct bus *b, const struct sim_opts *o)
{
	if (o->nmeters > 0) {
		if (o->address != NULL) {
			sm_cli_log(SM_LOG_ERROR, "simulate: --address and --meter do not go together (give each "
						 "meter its address with --meter ADDR[=FILE])");
			return -1;
		}
		if (o->mode == 'D') {
			sm_cli_log(SM_LOG_ERROR, "simulate: --meter is for addressed meters (modes A, B, C); a mode D "
						 "meter pushes without being asked");
			return -1;
		}
		for (size_t i = 0; i < o->nmeters; i++) {
			for (size_t j = 0; j < i; j++) {
				if (o->meters[i].address_n == o->meters[j].address_n &&
				    memcmp(o->meters[i].address, o->meters[j].address, o->meters[i].address_n) == 0) {
					sm_cli_log(SM_LOG_ERROR, "simulate: --meter: address \"%.*s\" given twice",
						   (int)o->meters[i].address_n, o->meters[i].address);
					return -1;
				}
			}
			struct meter *m = &b->meters[b->nmeters++];
			memcpy(m->address, o->meters[i].address, o->meters[i].address_n);
			m->address[o->meters[i].address_n] = '\0';
			m->fixture = o->meters[i].fixture ? o->meters[i].fixture : o->fixture;
		}
	} else {
		struct meter *m = &b->meters[b->nmeters++];
		if (o->address != NULL)
			snprintf(m->address, sizeof m->address, "%s", o->address);
		m->fixture = o->fixture;
	}
	for (size_t i = 0; i < b->nmeters; i++) {
		struct meter *m = &b->meters[i];
		snprintf(m->label, sizeof m->label, "meter \"%s\"", m->address);
		if (m->fixture != NULL) {
			if (load_fixture(m, o) != 0)
				return -1;
		} else {
			if (o->verbatim) {
				sm_cli_log(SM_LOG_ERROR, "simulate: --verbatim needs --fixture");
				return -1;
			}
			model_init(m, i);
		}
		int offer = o->baud ? o->baud : (m->fixture && m->id.baud > 300 ? m->id.baud : 9600);
		if (o->mode == 'B' && offer <= 300) {
			sm_cli_log(SM_LOG_ERROR, "simulate: mode B offers 600 to 19200 Bd, not %d", offer);
			return -1;
		}
		m->offer = offer;
	}
	return 0;
}

int sim_iec(const struct sim_opts *o)
{
	struct bus *b = calloc(1, sizeof *b);
	int status = SM_EXIT_USAGE;
	if (b == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return SM_EXIT_NONE;
	}
	b->o = o;
	if (o->period_set && o->mode != 'D') {
		sm_cli_log(SM_LOG_ERROR, "simulate: --period is for push meters (--mode D); modes A, B and C answer "
					 "when asked");
		goto out;
	}
	if (setup_meters(b, o) != 0)
		goto out;
	b->push_baud = o->baud ? o->baud : 9600;
	if (sim_pty_open(&b->pty, o->link) != 0) {
		status = SM_EXIT_NONE;
		goto out;
	}
	const char *lk = o->link ? o->link : "";
	const char *lo = o->link ? " (link " : "", *lc = o->link ? ")" : "";
	status = SM_EXIT_OK;
	if (o->mode == 'D') {
		/* The slave starts at 38400 Bd 8N1 (openpty's default): frames
		 * go out once a reader has set the push speed, which confirms
		 * that it did. */
		b->seen_baud = reader_baud(b->pty.master);
		sm_cli_log(SM_LOG_INFO, "simulating an %s meter in mode D on %s%s%s%s, a frame every %g s at %d Bd 7E1",
			   o->proto, b->pty.pts, lo, lk, lc, o->period, b->push_baud);
		int64_t period_ms = (int64_t)llround(o->period * 1000.0);
		if (period_ms < 1)
			period_ms = 1;
		int64_t due = sm_mono_ms();
		for (;;) {
			int64_t now = sm_mono_ms();
			if (now >= due && !out_pending(b)) {
				push_once(b);
				due += period_ms;
				if (due < now)
					due = now + period_ms;
			}
			int64_t next = out_pump(b);
			if (!out_pending(b) && o->count > 0 && b->served >= o->count)
				break;
			int64_t until = due;
			if (next != 0 && next < until)
				until = next;
			enum sim_wake w = sim_wait(&b->pty, until, true);
			if (w == SIM_STOP)
				break;
			if (w == SIM_INPUT)
				read_input(b);
		}
	} else {
		sm_cli_log(SM_LOG_INFO, "simulating an %s bus of %zu meter(s) in mode %c on %s%s%s%s", o->proto,
			   b->nmeters, o->mode, b->pty.pts, lo, lk, lc);
		for (;;) {
			int64_t next = out_pump(b);
			if (!out_pending(b) && o->count > 0 && b->served >= o->count)
				break;
			int64_t until = session_step(b);
			int64_t n2 = out_pump(b);
			if (n2 != 0)
				next = n2;
			if (next != 0 && next < until)
				until = next;
			enum sim_wake w = sim_wait(&b->pty, until, true);
			if (w == SIM_STOP)
				break;
			if (w == SIM_INPUT)
				read_input(b);
		}
	}
	sim_pty_close(&b->pty);
out:
	for (size_t i = 0; i < b->nmeters; i++)
		free(b->meters[i].file);
	free(b);
	return status;
}
