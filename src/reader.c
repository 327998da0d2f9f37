/*
 * reader.c - one thread per port (see reader.h).
 *
 * The thread owns the transport, every meter's protocol state and all the
 * bookkeeping below; other threads touch only the atomics (stop, trigger,
 * done, statistics) and the condition variable that wakes back-off waits.
 *
 * Loop: open (back-off 1 s doubling to 60 s on failure or loss), read with
 * SM_READ_TIMEOUT_MS, feed the bytes to every meter's protocol until they
 * are used, count, filter (Select), space (Interval) and emit.  After a
 * read timeout that follows received bytes every protocol's idle is called
 * (silence ends a frame without an explicit end).  Stalls (Timeout), the
 * trigger and the stop flag are checked on every iteration, so the thread
 * never blocks longer than one read timeout (a TCP connect in progress is
 * cancelled through the stop flag as well).
 *
 * Details a user sees:
 *  - Interval on a push meter: a frame is emitted when at least Interval
 *    seconds (less a jitter allowance of a tenth of Interval, at most
 *    250 ms) have passed since the last emitted one; frames in between are
 *    counted but not emitted.
 *  - Trigger mode: the latest filtered set of each meter is emitted on each
 *    trigger (triggers that arrive between two iterations count as one);
 *    a meter that stalls (Timeout) forgets its latest set, so stale values
 *    are not emitted again.
 *  - The back-off after a loss starts over at 1 s once a good frame arrives.
 *  - Timeout is measured from the first successful open or the last good
 *    frame, whichever is later, and also while the port is closed after
 *    a loss (a vanished device stalls its meters).  Push meters only.
 *
 * Polled meters (sm_proto_is_polled: IEC 62056-21 modes A-C) are polled
 * by the same thread, one session at a time:
 *  - Schedule: every meter's Interval (SM_DEFAULT_POLL_S when 0), the first
 *    poll right after the first open.  Each poll is due one interval after
 *    the previous one was due; a poll that starts more than an interval
 *    late re-anchors the schedule at its start (no bursts of catch-up
 *    polls).  Due meters are polled earliest-due first, so meters sharing a
 *    bus take turns and a silent one delays the others only by its own
 *    timeouts.  In trigger mode polls run only on a trigger: every polled
 *    meter once, in configuration order (triggers during such a round ask
 *    for one more round).
 *  - A session runs poll_start, then carries out each action until DONE:
 *    SEND writes in pieces of at most SM_READ_TIMEOUT_MS each (with a
 *    drain after each piece when the action asks for one), SET_LINE
 *    switches the port, WAIT waits on the condition variable, READ reads
 *    in slices of at most SM_READ_TIMEOUT_MS until bytes arrive or the
 *    action's silence has passed.  Bytes the session does not take are
 *    offered again with its next READ (or read behind, when it just
 *    declined them).  Stop is checked between pieces and slices.
 *  - During a session all input goes to it; outside sessions input goes
 *    to the push meters of the port (polled meters never see it).
 *  - After a session the port's configured line settings are restored if
 *    the session changed them.
 *  - Results: SM_READINGS counts a frame and is emitted at once (Select
 *    applies; the interval handed to the sink is the poll interval; in
 *    trigger mode too).  A negative result counts as push frames do, with
 *    SM_E_TIMEOUT (the meter did not answer) in `timeout`, and is logged
 *    rate limited: "meter "x" (dev): no answer to the sign-on".  A line
 *    setting the port refuses is logged (rate limited) and ends the poll.
 *    A failed write or read loses the port (reopen with back-off).
 *
 * Failure messages (logrl.h): every failure class has its own struct
 * sm_logrl per meter (per port for opening and reading the port).  The
 * first failure of an episode is logged, further ones only with back-off
 * (1 minute doubling to a day, with the number of occurrences), and the end
 * of a logged episode once.  Every message names the meter and the device
 * ("meter "x" (dev): ..."; port-level ones "port "dev" (meters x, y): ...")
 * and says why.  The classes and what ends them:
 *   port: cannot open        a successful open
 *   port: read/write failed  bytes read again (push input, a poll's answer)
 *   checksum, decode, authentication, exception reply, no answer, refused
 *   line setting             a good frame or poll (a polled meter: a poll
 *                            with readings in which that class did not fail)
 *   wrong checksum accepted (IgnoreChecksum), fallback checksum (SML
 *   KERMIT), no GCM tag      a frame without that property
 *   stalled (Timeout)        a good frame
 *   polled less often        the meter answers (backoff_dead protocols;
 *                            its end is said with the end of "no answer")
 * The end of a FILE is noted (rate limited), not treated as a failure.
 * Key material never reaches a message: protocols' diags carry none
 * (gcm.h) and the reader adds only names, devices and counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "buf.h"
#include "logrl.h"
#include "modbus_link.h"
#include "modbus_map.h"
#include "proto.h"
#include "reader.h"
#include "transport.h"

struct meter {
	const struct sm_meter_cfg *cfg;
	const struct sm_proto *proto;
	void *st;
	bool inited;
	struct sm_reading_set *out;    /* the protocol's output */
	struct sm_reading_set *sel;    /* filtered by Select */
	struct sm_reading_set *latest; /* trigger mode: the last filtered set */
	bool have_latest;
	int64_t latest_rx_ms;

	bool polled;      /* sm_proto_is_polled */
	double poll_s;    /* polled: seconds between polls */
	int64_t next_poll;/* polled: mono ms when the next poll is due */
	unsigned dead;    /* polled, proto->backoff_dead: polls in a row without an answer */
	bool poll_readings;  /* the running poll: readings came */

	_Atomic uint64_t bytes, frames, crc, unchecked, unauthenticated, crc_fallback, decode, auth, timeout,
		reconnect, exception;
	_Atomic int64_t last_frame_ms;

	/* reader thread only; mono ms, -1 = never */
	int64_t last_emit;
	int64_t prev_frame;
	double period_s;  /* smoothed push period, 0 = unknown */
	int64_t ref;      /* stall reference: first open or last good frame */
	int64_t stall_ref;
	bool stalled;
	struct sm_logrl rl_crc, rl_decode, rl_auth, rl_stall;
	struct sm_logrl rl_unchecked; /* frames accepted by IgnoreChecksum: warned, rate limited */
	struct sm_logrl rl_unauth;    /* frames without a verified GCM tag: noted, rate limited */
	struct sm_logrl rl_fallback;  /* frames verified by a fallback checksum: noted, rate limited */
	struct sm_logrl rl_timeout;   /* polled: no answer */
	struct sm_logrl rl_line;      /* polled: a line setting the port refused */
	struct sm_logrl rl_exc;       /* Modbus exception replies */
	struct sm_logrl rl_dead;      /* polled, backoff_dead: polled less often */
	unsigned poll_fail;  /* the running poll: classes (1 << enum err_class) that failed in it */
};

/* A session that made this many steps without taking any input is stuck. */
#define SM_POLL_MAX_IDLE_STEPS 1000

struct sm_reader {
	char *device;
	struct sm_line line;
	enum sm_transport_kind kind;
	struct sm_sink sink;
	struct sm_log log;
	struct sm_reader_opts opts;
	size_t n;
	struct meter *m;
	char tname[16];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	atomic_bool done;
	atomic_uint trig;
	pthread_t tid;
	bool started, joined;

	/* reader thread only */
	unsigned trig_seen;
	struct sm_transport *t;
	bool modbus;         /* the port's meters use a Modbus link instead of t */
	struct sm_mb_link *mb;
	char mb_lost[160];   /* why the link was lost (libmodbus's text), for port_lost */
	bool mb_warned;      /* the link's open warning was logged */
	bool ever_opened;
	bool fed;       /* protocols got bytes since their last reset */
	bool pending;   /* bytes arrived since the last idle */
	int backoff_ms;
	struct sm_logrl rl_open, rl_read;
	struct sm_logrl rl_eof;  /* FILE: end of the file, replayed (not a failure) */
	char who[128];           /* "meter a" / "meters a, b": port-level messages name them */
	size_t npolled;      /* polled meters of the port */
	bool poll_round;     /* trigger mode: a round of polls was asked for */
	size_t round_next;   /* trigger mode: next meter of the running round, n = none */
	struct sm_line cur_line; /* line settings in force on the open port */
	size_t slen;         /* session input not taken yet (sbuf[0..slen)) */
	uint8_t buf[4096];
	uint8_t sbuf[4096];
};

/* ---- clocks ---- */

int64_t sm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sm_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int backoff_min(const struct sm_reader *r)
{
	return r->opts.backoff_min_ms > 0 ? r->opts.backoff_min_ms : SM_BACKOFF_MIN_MS;
}

/* ---- logging ---- */

static void rlog(struct sm_reader *r, enum sm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rlog(struct sm_reader *r, enum sm_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (r->log.fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->log.fn(r->log.ctx, level, msg);
}

/* "meter a" or "meters a, b" for port-level messages, at most cap - 1
 * characters ("meters a, b and 3 more" when the names do not fit). */
static void port_who(const struct sm_port *port, char *out, size_t cap)
{
	struct sm_buf b;
	size_t i;

	sm_buf_init(&b, out, cap);
	sm_buf_adds(&b, port->nmeters == 1 ? "meter " : "meters ");
	for (i = 0; i < port->nmeters; i++) {
		const char *name = port->meters[i]->name != NULL ? port->meters[i]->name : "";
		size_t more = port->nmeters - i > 1 ? 16 : 0; /* room for " and NN more" */
		if (i == 0) {
			/* the first name always, cut if it must be */
			size_t room = cap - b.len - 1 > more + 3 ? cap - b.len - 1 - more - 3 : 0;
			if (strlen(name) <= room)
				sm_buf_adds(&b, name);
			else
				sm_buf_addf(&b, "%.*s...", (int)room, name);
			continue;
		}
		if (b.len + 2 + strlen(name) + more >= cap)
			break;
		sm_buf_adds(&b, ", ");
		sm_buf_adds(&b, name);
	}
	if (i < port->nmeters)
		sm_buf_addf(&b, " and %zu more", port->nmeters - i);
}

/* " (N times since the last message)" when N > 1, else "". */
static const char *times_suffix(uint64_t since, char *buf, size_t cap)
{
	if (since <= 1)
		return "";
	snprintf(buf, cap, " (%" PRIu64 " times since the last message)", since);
	return buf;
}

static const char *errors_word(uint64_t n)
{
	return n == 1 ? "error" : "errors";
}

/* Seconds for a message: "30", "0.3", "0.05", "2.37" (at most two decimals). */
static void fmt_secs(double s, char *buf, size_t cap)
{
	double tenths = s * 10.0, off = tenths - (double)(int64_t)(tenths + 0.5);

	if (s >= 10 || s == (double)(int64_t)s)
		snprintf(buf, cap, "%.0f", s);
	else if (s >= 1 || (off < 1e-9 && off > -1e-9))
		snprintf(buf, cap, "%.1f", s);
	else
		snprintf(buf, cap, "%.2f", s);
}

/* ---- reading sets ---- */

static void set_copy(struct sm_reading_set *dst, const struct sm_reading_set *src)
{
	size_t n = src->n <= SM_MAX_READINGS ? src->n : SM_MAX_READINGS;
	size_t t = src->text_used <= SM_TEXT_POOL ? src->text_used : SM_TEXT_POOL;

	dst->n = n;
	dst->meter_time_ms = src->meter_time_ms;
	dst->names = src->names;
	dst->text_used = t;
	memcpy(dst->r, src->r, n * sizeof src->r[0]);
	memcpy(dst->text_pool, src->text_pool, t);
}

static void set_filter(const struct sm_meter_cfg *c, const struct sm_reading_set *in,
		       struct sm_reading_set *out)
{
	size_t n = in->n <= SM_MAX_READINGS ? in->n : SM_MAX_READINGS;

	out->n = 0;
	out->meter_time_ms = in->meter_time_ms;
	out->names = in->names;
	out->text_used = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sm_reading *src = &in->r[i];
		if (!sm_meter_selects(c, &src->obis, src->name))
			continue;
		struct sm_reading *d = &out->r[out->n];
		*d = *src;
		if (src->is_text) {
			size_t off = src->text_off, len = src->text_len;
			if (off > SM_TEXT_POOL || len > SM_TEXT_POOL - off ||
			    len > SM_TEXT_POOL - out->text_used)
				continue;
			memcpy(out->text_pool + out->text_used, in->text_pool + off, len);
			d->text_off = (uint16_t)out->text_used;
			out->text_used += len;
		}
		out->n++;
	}
}

/* ---- emitting ---- */

static double meter_interval(const struct meter *m)
{
	if (m->polled)
		return m->poll_s;
	return m->cfg->interval_s > 0 ? m->cfg->interval_s : m->period_s;
}

static void emit_frame(struct sm_reader *r, struct meter *m, int64_t now, int64_t rx_ms)
{
	const struct sm_reading_set *s = m->out;

	if (m->cfg->nselect > 0) {
		set_filter(m->cfg, m->out, m->sel);
		s = m->sel;
	}
	if (m->polled) {
		/* one emission per poll, also in trigger mode (the trigger
		 * asked for this poll) */
		if (s->n == 0)
			return;
		m->last_emit = now;
		r->sink.emit(r->sink.ctx, m->cfg, s, rx_ms, meter_interval(m));
		return;
	}
	if (r->opts.trigger_mode) {
		set_copy(m->latest, s);
		m->have_latest = true;
		m->latest_rx_ms = rx_ms;
		return;
	}
	if (m->cfg->interval_s > 0 && m->last_emit >= 0) {
		int64_t iv = (int64_t)(m->cfg->interval_s * 1000.0 + 0.5);
		int64_t slack = iv / 10 < 250 ? iv / 10 : 250;
		if (now - m->last_emit < iv - slack)
			return;
	}
	if (s->n == 0)
		return; /* Select left nothing */
	m->last_emit = now;
	r->sink.emit(r->sink.ctx, m->cfg, s, rx_ms, meter_interval(m));
}

static void handle_trigger(struct sm_reader *r)
{
	unsigned t = atomic_load(&r->trig);

	if (t == r->trig_seen)
		return;
	r->trig_seen = t;
	if (!r->opts.trigger_mode)
		return;
	if (r->npolled > 0)
		r->poll_round = true;
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (!m->polled && m->have_latest && m->latest->n > 0)
			r->sink.emit(r->sink.ctx, m->cfg, m->latest, m->latest_rx_ms, meter_interval(m));
	}
}

/* ---- protocol results ---- */

enum err_class { EC_NONE, EC_CRC, EC_DECODE, EC_AUTH, EC_TIMEOUT, EC_EXCEPTION };

static enum err_class classify(enum sm_err rc)
{
	switch (rc) {
	case SM_OK:
	case SM_NEED_MORE:
	case SM_FRAME:
	case SM_READINGS:
		return EC_NONE;
	case SM_E_CRC:
	case SM_E_BCC:
	case SM_E_CHECKSUM:
	case SM_E_NO_CRC:
		return EC_CRC;
	case SM_E_AUTH:
	case SM_E_NOT_APDU:
		return EC_AUTH;
	case SM_E_TIMEOUT:
		return EC_TIMEOUT; /* a polled meter did not answer */
	case SM_E_EXCEPTION:
		return EC_EXCEPTION; /* a Modbus exception reply */
	default:
		/* SYNTAX, TOO_LONG, TRUNCATED, EMPTY, FULL, RANGE and anything
		 * unexpected: the frame did not decode */
		return EC_DECODE;
	}
}

/* Whether class c failed in the running poll of a polled meter: a poll
 * that brings readings ends an episode only of the classes that did not
 * fail in it (a Modbus meter's exception reply to one request and readings
 * from the others is no recovery from exception replies). */
static bool failed_in_poll(const struct meter *m, enum err_class c)
{
	return m->polled && (m->poll_fail & (1u << c)) != 0;
}

/* A good frame (or poll) of m: the episodes it ends. */
static void recover_logs(struct sm_reader *r, struct meter *m, int64_t now_ms)
{
	static const char *const what[] = {"checksum", "decode", "authentication", "exception reply"};
	static const enum err_class cls[] = {EC_CRC, EC_DECODE, EC_AUTH, EC_EXCEPTION};
	struct sm_logrl *rls[] = {&m->rl_crc, &m->rl_decode, &m->rl_auth, &m->rl_exc};
	uint64_t total;

	for (size_t i = 0; i < 4; i++)
		if (!failed_in_poll(m, cls[i]) && sm_logrl_recover(rls[i], now_ms, &total))
			rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): %s errors recovered after %" PRIu64 " %s",
			     m->cfg->name, r->device, what[i], total, errors_word(total));
	/* Readings end a dead unit's back-off (poll_one); that end is said
	 * with the end of the timeouts, or alone when those go on (a request
	 * of the poll timed out) or were not logged. */
	bool dead = sm_logrl_recover(&m->rl_dead, now_ms, NULL);
	char secs[32], again[64];
	fmt_secs(m->poll_s, secs, sizeof secs);
	snprintf(again, sizeof again, ": polled every %s s again", secs);
	if (!failed_in_poll(m, EC_TIMEOUT) && sm_logrl_recover(&m->rl_timeout, now_ms, &total))
		rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): answers again after %" PRIu64 " unanswered %s%s",
		     m->cfg->name, r->device, total, total == 1 ? "poll" : "polls", dead ? again : "");
	else if (dead)
		rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): answers again%s", m->cfg->name, r->device, again);
	if (sm_logrl_recover(&m->rl_line, now_ms, &total))
		rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): line settings accepted again after %" PRIu64
		     " %s", m->cfg->name, r->device, total, errors_word(total));
}

/* A good frame without property bad: the end of an episode of frames with
 * it (IgnoreChecksum, fallback checksum, no GCM tag). */
static void recover_property(struct sm_reader *r, struct meter *m, struct sm_logrl *rl, int64_t now_ms,
			     const char *what, const char *which)
{
	uint64_t total;

	if (sm_logrl_recover(rl, now_ms, &total))
		rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): %s again after %" PRIu64 " %s %s", m->cfg->name,
		     r->device, what, total, total == 1 ? "frame" : "frames", which);
}

static void good_frame(struct sm_reader *r, struct meter *m, const struct sm_feed_info *info,
		       int64_t now, int64_t now_ms)
{
	m->poll_readings = true;
	atomic_fetch_add(&m->frames, 1);
	if (info->check == SM_CHECK_IGNORED) {
		uint64_t since;
		atomic_fetch_add(&m->unchecked, 1);
		if (sm_logrl_fail(&m->rl_unchecked, now_ms, &since))
			rlog(r, SM_LOG_WARNING,
			     "meter \"%s\" (%s): %" PRIu64 " %s with a wrong checksum accepted (IgnoreChecksum)",
			     m->cfg->name, r->device, since, since == 1 ? "frame" : "frames");
	} else if (info->check == SM_CHECK_OK) {
		recover_property(r, m, &m->rl_unchecked, now_ms, "checksums right",
				 "with a wrong checksum");
	}
	if (info->crc_fallback) {
		uint64_t since;
		atomic_fetch_add(&m->crc_fallback, 1);
		if (sm_logrl_fail(&m->rl_fallback, now_ms, &since))
			rlog(r, SM_LOG_NOTICE,
			     "meter \"%s\" (%s): %" PRIu64 " %s verified by the fallback checksum (SML: "
			     "CRC-16/KERMIT instead of X.25)",
			     m->cfg->name, r->device, since, since == 1 ? "frame" : "frames");
	} else if (info->check == SM_CHECK_OK) {
		recover_property(r, m, &m->rl_fallback, now_ms, "the standard checksum verifies",
				 "verified by the fallback checksum");
	}
	if (info->unauthenticated) {
		uint64_t since;
		atomic_fetch_add(&m->unauthenticated, 1);
		if (sm_logrl_fail(&m->rl_unauth, now_ms, &since))
			rlog(r, SM_LOG_NOTICE,
			     "meter \"%s\" (%s): %" PRIu64 " %s decrypted without authentication (no GCM tag: "
			     "security 0x20/0x21, or not encrypted)",
			     m->cfg->name, r->device, since, since == 1 ? "frame" : "frames");
	} else {
		recover_property(r, m, &m->rl_unauth, now_ms, "GCM tags verified",
				 "without authentication");
	}
	if (info->bad_lines > 0)
		atomic_fetch_add(&m->decode, info->bad_lines);
	atomic_store(&m->last_frame_ms, now_ms);

	recover_logs(r, m, now_ms);
	if (m->stalled) {
		uint64_t total;
		char secs[32];
		m->stalled = false;
		if (sm_logrl_recover(&m->rl_stall, now_ms, &total)) {
			fmt_secs((double)(now - m->stall_ref) / 1000.0, secs, sizeof secs);
			rlog(r, SM_LOG_NOTICE, "meter \"%s\": frames again after %s s on %s", m->cfg->name, secs,
			     r->device);
		}
	}
	if (m->prev_frame >= 0 && now > m->prev_frame) {
		double d = (double)(now - m->prev_frame) / 1000.0;
		m->period_s = m->period_s > 0 ? 0.75 * m->period_s + 0.25 * d : d;
	}
	m->prev_frame = now;
	m->ref = now;
	r->backoff_ms = backoff_min(r);
	emit_frame(r, m, now, now_ms);
}

static void bad_frame(struct sm_reader *r, struct meter *m, enum sm_err rc,
		      const struct sm_feed_info *info, int64_t now_ms)
{
	struct sm_logrl *rl;
	enum sm_log_level level = SM_LOG_WARNING;
	char sfx[64];
	uint64_t since;
	enum err_class ec = classify(rc);

	if (ec != EC_NONE && m->polled)
		m->poll_fail |= 1u << ec;
	switch (ec) {
	case EC_NONE:
		return;
	case EC_CRC:
		atomic_fetch_add(&m->crc, 1);
		rl = &m->rl_crc;
		break;
	case EC_AUTH:
		atomic_fetch_add(&m->auth, 1);
		rl = &m->rl_auth;
		level = SM_LOG_ERROR;
		break;
	case EC_EXCEPTION:
		atomic_fetch_add(&m->exception, 1);
		rl = &m->rl_exc;
		break;
	case EC_TIMEOUT:
		atomic_fetch_add(&m->timeout, 1);
		if (!sm_logrl_fail(&m->rl_timeout, now_ms, &since))
			return;
		rlog(r, level, "meter \"%s\" (%s): %.*s%s", m->cfg->name, r->device,
		     (int)sizeof info->diag.msg, info->diag.msg[0] != '\0' ? info->diag.msg : "no answer",
		     times_suffix(since, sfx, sizeof sfx));
		return;
	default:
		atomic_fetch_add(&m->decode, 1);
		rl = &m->rl_decode;
		break;
	}
	if (!sm_logrl_fail(rl, now_ms, &since))
		return;
	/* The protocol's own text says what happened (it starts with the
	 * reason: "CRC mismatch: ...", "authentication failed: ..."); the
	 * generic text only when it gave none. */
	if (info->diag.msg[0] != '\0')
		rlog(r, level, "meter \"%s\" (%s): %.*s%s", m->cfg->name, r->device,
		     (int)sizeof info->diag.msg, info->diag.msg, times_suffix(since, sfx, sizeof sfx));
	else
		rlog(r, level, "meter \"%s\" (%s): %s%s", m->cfg->name, r->device, sm_strerror(rc),
		     times_suffix(since, sfx, sizeof sfx));
}

static void result(struct sm_reader *r, struct meter *m, enum sm_err rc,
		   const struct sm_feed_info *info, int64_t now, int64_t now_ms)
{
	if (rc == SM_READINGS)
		good_frame(r, m, info, now, now_ms);
	else if (rc < 0)
		bad_frame(r, m, rc, info, now_ms);
}

static void feed_meter(struct sm_reader *r, struct meter *m, const uint8_t *p, size_t n,
		       int64_t now, int64_t now_ms)
{
	unsigned stuck = 0;

	atomic_fetch_add(&m->bytes, n);
	while (n > 0 && !atomic_load(&r->stop)) {
		struct sm_feed_info info;
		size_t used = 0;

		memset(&info, 0, sizeof info);
		enum sm_err rc = m->proto->feed(m->st, p, n, &used, m->out, &info);
		if (used > n)
			used = n;
		p += used;
		n -= used;
		result(r, m, rc, &info, now, now_ms);
		if (used == 0) {
			/* No progress: a protocol may hand out a frame without
			 * consuming, but not forever. */
			if (rc == SM_NEED_MORE || ++stuck > 4)
				break;
		} else {
			stuck = 0;
		}
	}
}

static void idle_all(struct sm_reader *r, int64_t now, int64_t now_ms)
{
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		struct sm_feed_info info;

		if (m->polled || m->proto->idle == NULL)
			continue;
		/* until nothing is pending: a good frame behind a cut one
		 * must not wait for the meter's next bytes (bounded, in case
		 * a protocol never says SM_NEED_MORE) */
		for (int k = 0; k < 16; k++) {
			memset(&info, 0, sizeof info);
			enum sm_err rc = m->proto->idle(m->st, m->out, &info);
			if (rc == SM_NEED_MORE)
				break;
			result(r, m, rc, &info, now, now_ms);
		}
	}
}

static void check_stalls(struct sm_reader *r, int64_t now, int64_t now_ms)
{
	if (!r->ever_opened)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		double to = m->cfg->timeout_s;
		char sfx[64], secs[32];
		uint64_t since;

		if (m->polled || m->stalled || !(to > 0) || (double)(now - m->ref) < to * 1000.0)
			continue;
		m->stalled = true;
		m->stall_ref = m->ref;
		m->have_latest = false;
		atomic_fetch_add(&m->timeout, 1);
		if (sm_logrl_fail(&m->rl_stall, now_ms, &since)) {
			fmt_secs(to, secs, sizeof secs);
			rlog(r, SM_LOG_WARNING, "meter \"%s\": no valid frame for %s s (stalled) on %s%s",
			     m->cfg->name, secs, r->device, times_suffix(since, sfx, sizeof sfx));
		}
	}
}

/* ---- the port ---- */

/* Wait ms on the condition variable; returns early on stop.  Triggers that
 * arrive meanwhile are served. */
static void wait_ms(struct sm_reader *r, int ms)
{
	int64_t deadline = sm_mono_ms() + ms;

	for (;;) {
		handle_trigger(r);
		int64_t now = sm_mono_ms();
		check_stalls(r, now, sm_now_ms());
		if (atomic_load(&r->stop) || now >= deadline)
			return;
		/* wake at least every read timeout for stall checks */
		int64_t until = deadline - now > SM_READ_TIMEOUT_MS ? now + SM_READ_TIMEOUT_MS : deadline;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (until - now) * 1000000LL;
		ts.tv_sec += (time_t)(ns / 1000000000LL);
		ts.tv_nsec = (long)(ns % 1000000000LL);
		pthread_mutex_lock(&r->mu);
		if (!atomic_load(&r->stop) && atomic_load(&r->trig) == r->trig_seen)
			(void)pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		pthread_mutex_unlock(&r->mu);
	}
}

static void back_off(struct sm_reader *r)
{
	wait_ms(r, r->backoff_ms);
	r->backoff_ms = r->backoff_ms >= SM_BACKOFF_MAX_MS / 2 ? SM_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static bool port_open(struct sm_reader *r)
{
	char err[256], sfx[64], warn[256];
	uint64_t n;
	struct sm_transport *t = NULL;
	struct sm_mb_link *mb = NULL;
	enum sm_err rc;

	err[0] = warn[0] = '\0';
	if (r->modbus)
		rc = sm_mb_link_open(r->device, &r->line, &r->stop, &mb, err, sizeof err, warn, sizeof warn);
	else
		rc = sm_transport_open_cancel(r->device, &r->line, &r->stop, &t, err, sizeof err);
	int64_t now = sm_mono_ms(), now_ms = sm_now_ms();

	if (rc != SM_OK) {
		if (atomic_load(&r->stop))
			return false;
		if (sm_logrl_fail(&r->rl_open, now_ms, &n))
			rlog(r, SM_LOG_ERROR, "port \"%s\" (%s): cannot open %s%s", r->device, r->who,
			     err[0] != '\0' ? err : sm_strerror(rc), times_suffix(n, sfx, sizeof sfx));
		return false;
	}
	if (sm_logrl_recover(&r->rl_open, now_ms, &n))
		rlog(r, SM_LOG_NOTICE, "port \"%s\" (%s): open recovered after %" PRIu64 " %s", r->device,
		     r->who, n, errors_word(n));
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (r->ever_opened) {
			atomic_fetch_add(&m->reconnect, 1);
		} else {
			m->ref = now;
			m->next_poll = now; /* the first poll right away */
		}
		m->prev_frame = -1; /* a gap is no push period */
		if (r->fed && m->proto->reset != NULL)
			m->proto->reset(m->st);
	}
	if (warn[0] != '\0' && !r->mb_warned) {
		r->mb_warned = true; /* once: it is a property of the port */
		rlog(r, SM_LOG_WARNING, "port \"%s\" (%s): %s", r->device, r->who, warn);
	}
	r->fed = false;
	r->ever_opened = true;
	r->pending = false;
	r->t = t;
	r->mb_lost[0] = '\0';
	pthread_mutex_lock(&r->mu); /* sm_reader_stop cancels a read on it */
	r->mb = mb;
	pthread_mutex_unlock(&r->mu);
	r->cur_line = r->line;
	return true;
}

static bool port_is_open(const struct sm_reader *r)
{
	return r->t != NULL || r->mb != NULL;
}

static void port_close(struct sm_reader *r)
{
	if (r->mb != NULL) {
		struct sm_mb_link *mb = r->mb;
		pthread_mutex_lock(&r->mu); /* no cancel on a closed link */
		r->mb = NULL;
		pthread_mutex_unlock(&r->mu);
		sm_mb_link_close(mb);
	}
	if (r->t != NULL) {
		sm_transport_close(r->t);
		r->t = NULL;
	}
}

static void port_lost(struct sm_reader *r, enum sm_err rc, int64_t now_ms)
{
	char sfx[64];
	uint64_t n;
	const char *why = r->t != NULL && sm_transport_error(r->t)[0] != '\0' ? sm_transport_error(r->t)
			  : r->mb_lost[0] != '\0'                              ? r->mb_lost
										: sm_strerror(rc);

	if (rc == SM_E_CLOSED && r->kind == SM_TRANSPORT_FILE) {
		/* A replayed file: its end is no failure (nothing to recover
		 * from), but noted, rate limited like one. */
		if (sm_logrl_fail(&r->rl_eof, now_ms, &n))
			rlog(r, SM_LOG_NOTICE, "port \"%s\" (%s): %s, replaying it again%s", r->device, r->who,
			     why, times_suffix(n, sfx, sizeof sfx));
		(void)sm_logrl_recover(&r->rl_eof, now_ms, &n);
	} else if (sm_logrl_fail(&r->rl_read, now_ms, &n)) {
		rlog(r, SM_LOG_WARNING, "port \"%s\" (%s): %s, reopening%s", r->device, r->who, why,
		     times_suffix(n, sfx, sizeof sfx));
	}
	port_close(r);
}

/* Input arrived (push bytes, a poll's answer): the end of a logged episode
 * of read failures. */
static void read_recovered(struct sm_reader *r, int64_t now_ms)
{
	uint64_t n;

	if (sm_logrl_recover(&r->rl_read, now_ms, &n))
		rlog(r, SM_LOG_NOTICE, "port \"%s\" (%s): reading recovered after %" PRIu64 " %s", r->device,
		     r->who, n, errors_word(n));
}

/* ---- polled meters: sessions ---- */

/* How a session ended, besides the protocol's own result. */
enum sess_end {
	SESS_DONE, /* the session ran to its end (or failed on its own) */
	SESS_STOP, /* the reader was asked to stop */
	SESS_LOST, /* the port failed: *lost_rc says how */
};

static bool line_eq(const struct sm_line *a, const struct sm_line *b)
{
	return a->baud == b->baud && a->databits == b->databits && a->parity == b->parity &&
	       a->stopbits == b->stopbits;
}

/* A session's own failure that is not the protocol's verdict (stuck
 * session, answer too long, refused line setting): counted and logged as
 * a rejected frame. */
static void session_fail(struct sm_reader *r, struct meter *m, enum sm_err rc, const char *msg)
{
	struct sm_feed_info info;

	memset(&info, 0, sizeof info);
	snprintf(info.diag.msg, sizeof info.diag.msg, "%s", msg);
	bad_frame(r, m, rc, &info, sm_now_ms());
}

/* SEND: in pieces that take at most about one read timeout each (at the
 * current speed, when the action drains), so that stop is honoured. */
static enum sess_end do_send(struct sm_reader *r, const struct sm_action *a, enum sm_err *lost_rc)
{
	size_t piece = 256;

	if (a->drain) {
		const struct sm_line *l = &r->cur_line;
		int bits = 1 + l->databits + (l->parity != SM_PARITY_NONE ? 1 : 0) + l->stopbits;
		long per = bits > 0 && l->baud > 0 ? (long)l->baud * SM_READ_TIMEOUT_MS / (1000L * bits) : 1;
		piece = per >= 1 ? (size_t)per : 1;
	}
	for (size_t off = 0; off < a->len;) {
		if (atomic_load(&r->stop))
			return SESS_STOP;
		size_t n = a->len - off < piece ? a->len - off : piece;
		enum sm_err rc = sm_transport_write(r->t, a->data + off, n, SM_READ_TIMEOUT_MS);
		if (rc == SM_OK && a->drain)
			rc = sm_transport_drain(r->t);
		if (rc != SM_OK) {
			*lost_rc = rc;
			return SESS_LOST;
		}
		off += n;
	}
	return SESS_DONE;
}

/*
 * READ: hand the session bytes.  Leftover input it has not declined yet is
 * offered at once; otherwise read (appending to the leftover) in slices
 * until bytes arrive or ms of silence have passed (*timed_out).
 */
static enum sess_end do_read(struct sm_reader *r, struct meter *m, const struct sm_action *a,
			     bool offer_leftover, bool *timed_out, enum sm_err *lost_rc)
{
	int64_t deadline = sm_mono_ms() + (a->ms > 0 ? a->ms : 0);

	*timed_out = false;
	if ((offer_leftover && r->slen > 0) || r->slen >= sizeof r->sbuf)
		return SESS_DONE; /* (a full buffer is offered again: declined, the poll ends) */
	for (;;) {
		handle_trigger(r);
		if (atomic_load(&r->stop))
			return SESS_STOP;
		int64_t now = sm_mono_ms();
		int64_t left = deadline - now;
		int tmo = left <= 0 ? 0 : left > SM_READ_TIMEOUT_MS ? SM_READ_TIMEOUT_MS : (int)left;
		size_t got = 0;
		enum sm_err rc = sm_transport_read(r->t, r->sbuf + r->slen, sizeof r->sbuf - r->slen, tmo,
						   &got);
		if (rc != SM_OK) {
			*lost_rc = rc;
			return SESS_LOST;
		}
		now = sm_mono_ms();
		check_stalls(r, now, sm_now_ms());
		if (got > 0) {
			read_recovered(r, sm_now_ms());
			atomic_fetch_add(&m->bytes, got);
			r->slen += got;
			return SESS_DONE;
		}
		if (now >= deadline) {
			*timed_out = true;
			return SESS_DONE;
		}
	}
}

/* Run one poll of m to its end.  Readings are emitted on the way. */
static enum sess_end poll_meter(struct sm_reader *r, struct meter *m, enum sm_err *lost_rc)
{
	struct sm_action act;
	struct sm_feed_info info;
	enum sess_end end = SESS_DONE;
	bool offer_leftover = true; /* false: the session declined the leftover */
	unsigned idle_steps = 0;
	char msg[160];

	r->slen = 0;
	memset(&act, 0, sizeof act);
	memset(&info, 0, sizeof info);
	enum sm_err rc = m->proto->poll_start(m->st, &act);
	if (rc < 0) {
		bad_frame(r, m, rc, &info, sm_now_ms());
		return SESS_DONE;
	}
	while (act.kind != SM_ACT_DONE) {
		const uint8_t *in = NULL;
		size_t n = 0;
		bool timed_out = false;

		if (atomic_load(&r->stop))
			return SESS_STOP;
		if (++idle_steps > SM_POLL_MAX_IDLE_STEPS) {
			snprintf(msg, sizeof msg, "the poll made no progress in %d steps: given up",
				 SM_POLL_MAX_IDLE_STEPS);
			session_fail(r, m, SM_E_INTERNAL, msg);
			break;
		}
		switch (act.kind) {
		case SM_ACT_SEND:
			if (act.data == NULL && act.len > 0) {
				session_fail(r, m, SM_E_INTERNAL, "the poll asked to send from no buffer");
				return SESS_DONE;
			}
			end = do_send(r, &act, lost_rc);
			break;
		case SM_ACT_SET_LINE: {
			enum sm_err lrc = sm_transport_set_line(r->t, &act.line);
			if (lrc == SM_E_IO) {
				*lost_rc = lrc;
				return SESS_LOST;
			}
			if (lrc != SM_OK) {
				char ls[32];
				uint64_t since;
				char sfx[64];
				sm_line_format(&act.line, ls, sizeof ls);
				if (sm_logrl_fail(&m->rl_line, sm_now_ms(), &since))
					rlog(r, SM_LOG_ERROR, "meter \"%s\" (%s): cannot switch the line to %s: %s%s",
					     m->cfg->name, r->device, ls,
					     sm_transport_error(r->t)[0] != '\0' ? sm_transport_error(r->t)
										  : sm_strerror(lrc),
					     times_suffix(since, sfx, sizeof sfx));
				/* the port may be half switched: restore it */
				r->cur_line = act.line;
				return SESS_DONE;
			}
			r->cur_line = act.line;
			break;
		}
		case SM_ACT_WAIT:
			if (act.ms > 0)
				wait_ms(r, act.ms);
			if (atomic_load(&r->stop))
				return SESS_STOP;
			break;
		case SM_ACT_MODBUS: {
			char err[160];
			if (r->mb == NULL || act.mb_dst == NULL) {
				session_fail(r, m, SM_E_INTERNAL, "a Modbus request on a port without a Modbus link");
				return SESS_DONE;
			}
			err[0] = '\0';
			act.mb_exc = 0;
			act.mb_rc = sm_mb_link_read(r->mb, act.mb_slave, act.mb_function, act.mb_addr,
						    act.mb_count, act.ms, act.mb_dst, &act.mb_exc, err, sizeof err);
			if (atomic_load(&r->stop))
				return SESS_STOP; /* whatever a cancelled read says */
			if (act.mb_rc == SM_E_IO || act.mb_rc == SM_E_CLOSED) {
				snprintf(r->mb_lost, sizeof r->mb_lost, "%s", err); /* the link's reason */
				*lost_rc = act.mb_rc;
				return SESS_LOST;
			}
			if (act.mb_rc == SM_OK)
				atomic_fetch_add(&m->bytes, 5u + 2u * act.mb_count);
			timed_out = act.mb_rc == SM_E_TIMEOUT;
			idle_steps = 0;
			break;
		}
		case SM_ACT_READ:
			end = do_read(r, m, &act, offer_leftover, &timed_out, lost_rc);
			if (end == SESS_DONE && !timed_out) {
				in = r->sbuf;
				n = r->slen;
			}
			break;
		default:
			snprintf(msg, sizeof msg, "the poll asked for an unknown action %d", (int)act.kind);
			session_fail(r, m, SM_E_INTERNAL, msg);
			return SESS_DONE;
		}
		if (end != SESS_DONE)
			return end;
		/* a Modbus answer of any kind: the port reads again */
		if (act.kind == SM_ACT_MODBUS && act.mb_rc != SM_E_TIMEOUT && act.mb_rc != SM_E_INTERNAL)
			read_recovered(r, sm_now_ms());

		size_t used = 0;
		memset(&info, 0, sizeof info);
		rc = m->proto->poll_event(m->st, in, n, &used, timed_out, &act, m->out, &info);
		offer_leftover = true;
		if (in != NULL) {
			if (used > n)
				used = n;
			if (used > 0) {
				memmove(r->sbuf, r->sbuf + used, n - used);
				r->slen = n - used;
				idle_steps = 0;
			} else {
				offer_leftover = false; /* read more before offering again */
				if (r->slen == sizeof r->sbuf && rc >= 0 && act.kind == SM_ACT_READ) {
					snprintf(msg, sizeof msg,
						 "the answer does not fit %zu bytes of input", sizeof r->sbuf);
					session_fail(r, m, SM_E_TOO_LONG, msg);
					break;
				}
			}
		}
		if (rc == SM_READINGS) {
			good_frame(r, m, &info, sm_mono_ms(), sm_now_ms());
		} else if (rc < 0) {
			bad_frame(r, m, rc, &info, sm_now_ms());
			if (act.kind == SM_ACT_DONE)
				break; /* the poll failed: it is over */
			/* else the poll goes on (a Modbus meter's other requests) */
		}
	}
	return SESS_DONE;
}

/* The polled meter to poll now, or NULL; *wait_ms how long until the next
 * one is due (for the read timeout; -1: none scheduled). */
static struct meter *due_meter(struct sm_reader *r, int64_t now, int64_t *wait)
{
	*wait = -1;
	if (r->npolled == 0)
		return NULL;
	if (r->opts.trigger_mode) {
		if (r->round_next >= r->n && r->poll_round) {
			r->poll_round = false;
			r->round_next = 0;
		}
		while (r->round_next < r->n && !r->m[r->round_next].polled)
			r->round_next++;
		return r->round_next < r->n ? &r->m[r->round_next++] : NULL;
	}
	struct meter *best = NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (m->polled && (best == NULL || m->next_poll < best->next_poll))
			best = m;
	}
	if (best->next_poll <= now)
		return best;
	*wait = best->next_poll - now;
	return NULL;
}

/* Poll m (scheduling its next poll).  SESS_DONE, SESS_STOP or SESS_LOST. */
static enum sess_end poll_one(struct sm_reader *r, struct meter *m, enum sm_err *lost_rc)
{
	int64_t start = sm_mono_ms();
	int64_t iv = (int64_t)(m->poll_s * 1000.0 + 0.5);

	if (iv < 1)
		iv = 1;
	m->next_poll += iv;
	if (m->next_poll <= start)
		m->next_poll = start + iv; /* late by an interval or more: re-anchor */
	m->poll_readings = false;
	m->poll_fail = 0;
	if (r->mb != NULL)
		sm_mb_link_flush(r->mb); /* nothing stale may pass for an answer */
	enum sess_end end = poll_meter(r, m, lost_rc);
	r->slen = 0;
	if (end == SESS_DONE && m->proto->backoff_dead && !r->opts.trigger_mode) {
		if (failed_in_poll(m, EC_TIMEOUT) && !m->poll_readings) {
			/* a dead unit: poll it after 2, 4, 8 ... intervals, at most
			 * SM_POLL_BACKOFF_MAX intervals and SM_POLL_BACKOFF_MAX_S */
			int64_t cap = (int64_t)SM_POLL_BACKOFF_MAX_S * 1000;
			int64_t most = iv * SM_POLL_BACKOFF_MAX < cap ? iv * SM_POLL_BACKOFF_MAX : cap;
			if (most < iv)
				most = iv; /* never more often than the interval */
			unsigned k = m->dead + 1;
			int64_t gap = iv;
			for (unsigned i = 0; i < k && gap < most; i++)
				gap = gap * 2 < most ? gap * 2 : most;
			uint64_t since;
			char sfx[64], upto[32];
			if (m->dead == 0 && sm_logrl_fail(&m->rl_dead, sm_now_ms(), &since)) {
				fmt_secs((double)most / 1000.0, upto, sizeof upto);
				rlog(r, SM_LOG_INFO, "meter \"%s\" (%s): does not answer: polled less often "
				     "(up to every %s s) until it does%s", m->cfg->name, r->device, upto,
				     times_suffix(since, sfx, sizeof sfx));
			}
			m->dead = k < 64 ? k : 64;
			m->next_poll = start + gap;
		} else if (m->poll_readings) {
			m->dead = 0;
		}
	}
	if (end == SESS_DONE && r->t != NULL && !line_eq(&r->cur_line, &r->line)) {
		enum sm_err rc = sm_transport_set_line(r->t, &r->line);
		if (rc != SM_OK) {
			*lost_rc = rc;
			return SESS_LOST;
		}
		r->cur_line = r->line;
	}
	return end;
}

/* ---- the loop ---- */

/* The port failed or the input ended (rc from a read or write).  Returns
 * true when the reader is done (end of a file with exit_at_eof). */
static bool input_ended(struct sm_reader *r, enum sm_err rc, int64_t now, int64_t now_ms)
{
	/* End of a file or stream, or a port that hung up or failed:
	 * complete what was pending (a frame that ended just before is
	 * good; one that was cut is counted as such). */
	if (r->pending)
		idle_all(r, now, now_ms);
	r->pending = false;
	if (rc == SM_E_CLOSED && r->kind == SM_TRANSPORT_FILE && r->opts.exit_at_eof) {
		port_close(r);
		atomic_store(&r->done, true);
		return true;
	}
	port_lost(r, rc, now_ms);
	back_off(r);
	return false;
}

static void run(struct sm_reader *r)
{
	r->backoff_ms = backoff_min(r);
	r->round_next = r->n;
	while (!atomic_load(&r->stop)) {
		handle_trigger(r);
		if (!port_is_open(r)) {
			if (!port_open(r)) {
				if (r->opts.exit_at_eof && r->kind == SM_TRANSPORT_FILE) {
					atomic_store(&r->done, true);
					return;
				}
				back_off(r);
				continue;
			}
		}
		int64_t until = -1;
		struct meter *due = due_meter(r, sm_mono_ms(), &until);
		if (due != NULL) {
			enum sm_err lost = SM_OK;
			enum sess_end end = poll_one(r, due, &lost);
			if (end == SESS_LOST && input_ended(r, lost, sm_mono_ms(), sm_now_ms()))
				return;
			continue;
		}
		int tmo = until >= 0 && until < SM_READ_TIMEOUT_MS ? (int)until : SM_READ_TIMEOUT_MS;
		if (r->modbus) {
			/* a Modbus bus has only polled meters: wait for the next one */
			if (tmo > 0)
				wait_ms(r, tmo);
			continue;
		}
		size_t got = 0;
		enum sm_err rc = sm_transport_read(r->t, r->buf, sizeof r->buf, tmo, &got);
		int64_t now = sm_mono_ms(), now_ms = sm_now_ms();
		if (rc == SM_OK && got > 0) {
			read_recovered(r, now_ms);
			r->fed = true;
			r->pending = true;
			for (size_t i = 0; i < r->n; i++)
				if (!r->m[i].polled)
					feed_meter(r, &r->m[i], r->buf, got, now, now_ms);
		} else if (rc == SM_OK) {
			if (r->pending && got == 0 && tmo == SM_READ_TIMEOUT_MS) {
				r->pending = false;
				idle_all(r, now, now_ms);
			}
		} else {
			if (input_ended(r, rc, now, now_ms))
				return;
			continue;
		}
		check_stalls(r, now, now_ms);
	}
}

static void *reader_main(void *arg)
{
	struct sm_reader *r = arg;

	/* The starter names the thread too, but only after it runs. */
	(void)pthread_setname_np(pthread_self(), r->tname);
	run(r);
	port_close(r);
	return NULL;
}

/* ---- public ---- */

static void thread_name(struct sm_reader *r)
{
	const char *tail = strrchr(r->device, '/');

	tail = tail != NULL && tail[1] != '\0' ? tail + 1 : r->device;
	snprintf(r->tname, sizeof r->tname, "sm:%s", tail);
}

/* The debug log shows each Modbus meter's requests (as `read --plan` does). */
static void log_plan(struct sm_reader *r, const struct meter *m)
{
	char text[4096];
	struct sm_buf b;

	if (r->log.fn == NULL)
		return;
	sm_buf_init(&b, text, sizeof text);
	(void)sm_mb_plan_format(m->cfg->mb_map, m->cfg->mb_plan, &b);
	rlog(r, SM_LOG_DEBUG, "meter \"%s\" (%s): slave %d, map \"%s\", %zu %s per poll", m->cfg->name,
	     r->device, m->cfg->slave, m->cfg->mb_map->name, m->cfg->mb_plan->nreq,
	     m->cfg->mb_plan->nreq == 1 ? "request" : "requests");
	size_t start = 0;
	for (size_t i = 0; i < b.len; i++) {
		if (text[i] != '\n')
			continue;
		rlog(r, SM_LOG_DEBUG, "meter \"%s\":   %.*s", m->cfg->name, (int)(i - start), text + start);
		start = i + 1;
	}
}

enum sm_err sm_reader_create(const struct sm_port *port, const struct sm_sink *sink,
			     const struct sm_log *log, const struct sm_reader_opts *opts,
			     struct sm_reader **out)
{
	struct sm_reader *r;

	if (out == NULL)
		return SM_E_INTERNAL;
	*out = NULL;
	if (port == NULL || port->device == NULL || port->nmeters == 0 || port->meters == NULL ||
	    sink == NULL || sink->emit == NULL)
		return SM_E_INTERNAL;
	for (size_t i = 0; i < port->nmeters; i++) {
		const struct sm_meter_cfg *mc = port->meters[i];
		if (mc == NULL || mc->proto == NULL || mc->proto->init == NULL ||
		    (!sm_proto_is_polled(mc) && mc->proto->feed == NULL))
			return SM_E_INTERNAL;
	}

	r = calloc(1, sizeof *r);
	if (r == NULL)
		return SM_E_NOMEM;
	r->device = strdup(port->device);
	r->m = calloc(port->nmeters, sizeof *r->m);
	if (r->device == NULL || r->m == NULL)
		goto nomem;
	r->n = port->nmeters;
	r->line = port->line;
	r->kind = sm_transport_kind_of(port->device);
	r->sink = *sink;
	if (log != NULL)
		r->log = *log;
	if (opts != NULL)
		r->opts = *opts;
	atomic_init(&r->stop, false);
	atomic_init(&r->done, false);
	atomic_init(&r->trig, 0u);
	thread_name(r);
	port_who(port, r->who, sizeof r->who);

	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		goto nomem;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int crc = pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (crc != 0) {
		free(r->m);
		free(r->device);
		free(r);
		return SM_E_NOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);

	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		m->cfg = port->meters[i];
		m->proto = m->cfg->proto;
		m->last_emit = -1;
		m->prev_frame = -1;
		m->polled = sm_proto_is_polled(m->cfg);
		if (m->polled) {
			r->npolled++;
			m->poll_s = m->cfg->interval_s > 0	       ? m->cfg->interval_s
				    : m->proto->poll_default_s > 0 ? m->proto->poll_default_s
								   : SM_DEFAULT_POLL_S;
		}
		if (m->proto->modbus_link)
			r->modbus = true;
		m->st = calloc(1, m->proto->state_size > 0 ? m->proto->state_size : 1);
		m->out = calloc(1, sizeof *m->out);
		m->sel = calloc(1, sizeof *m->sel);
		m->latest = calloc(1, sizeof *m->latest);
		if (m->st == NULL || m->out == NULL || m->sel == NULL || m->latest == NULL) {
			sm_reader_destroy(r);
			return SM_E_NOMEM;
		}
		struct sm_diag diag;
		memset(&diag, 0, sizeof diag);
		enum sm_err rc = m->proto->init(m->st, m->cfg, &diag);
		if (rc != SM_OK) {
			rlog(r, SM_LOG_ERROR, "meter \"%s\" (%s): %s: %.*s", m->cfg->name, r->device, sm_strerror(rc),
			     (int)sizeof diag.msg, diag.msg[0] != '\0' ? diag.msg : "protocol setup failed");
			sm_reader_destroy(r);
			return rc == SM_E_NOMEM ? SM_E_NOMEM : SM_E_CONFIG;
		}
		m->inited = true;
		if (m->proto->modbus_link && m->cfg->mb_map != NULL && m->cfg->mb_plan != NULL)
			log_plan(r, m);
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->m[i].proto->modbus_link != r->modbus) {
			rlog(r, SM_LOG_ERROR, "port \"%s\": meter \"%s\": Modbus and other protocols cannot share "
			     "a port", r->device, r->m[i].cfg->name);
			sm_reader_destroy(r);
			return SM_E_CONFIG;
		}
	}
	*out = r;
	return SM_OK;

nomem:
	free(r->m);
	free(r->device);
	free(r);
	return SM_E_NOMEM;
}

enum sm_err sm_reader_start(struct sm_reader *r)
{
	int rc;

	if (r == NULL || r->started)
		return SM_E_INTERNAL;
	/* The thread takes no process signal: it inherits a mask that blocks
	 * every signal but those a fault raises in the faulting thread.  Were
	 * SIGTERM taken here, its handler would run in this thread and the
	 * host's main thread would sleep on (collectd: up to an Interval). */
	sigset_t all, old;
	sigfillset(&all);
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
		sigdelset(&all, faults[i]);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	if (r->opts.start != NULL) {
		rc = r->opts.start(&r->tid, reader_main, r, r->tname);
	} else {
		rc = pthread_create(&r->tid, NULL, reader_main, r);
		if (rc == 0)
			(void)pthread_setname_np(r->tid, r->tname);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return SM_E_INTERNAL;
	r->started = true;
	return SM_OK;
}

void sm_reader_stop(struct sm_reader *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->stop, true);
	pthread_cond_broadcast(&r->cv);
	if (r->mb != NULL)
		sm_mb_link_cancel(r->mb); /* a request waiting for its answer ends now */
	pthread_mutex_unlock(&r->mu);
}

void sm_reader_join(struct sm_reader *r)
{
	if (r == NULL || !r->started || r->joined)
		return;
	pthread_join(r->tid, NULL);
	r->joined = true;
}

bool sm_reader_done(const struct sm_reader *r)
{
	return r != NULL && atomic_load(&((struct sm_reader *)r)->done);
}

void sm_reader_trigger(struct sm_reader *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	atomic_fetch_add(&r->trig, 1u);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void sm_reader_stats(const struct sm_reader *cr, size_t i, struct sm_stats *out)
{
	struct sm_reader *r = (struct sm_reader *)cr;

	memset(out, 0, sizeof *out);
	if (r == NULL || i >= r->n)
		return;
	struct meter *m = &r->m[i];
	out->bytes = atomic_load(&m->bytes);
	out->frames = atomic_load(&m->frames);
	out->crc = atomic_load(&m->crc);
	out->unchecked = atomic_load(&m->unchecked);
	out->unauthenticated = atomic_load(&m->unauthenticated);
	out->crc_fallback = atomic_load(&m->crc_fallback);
	out->decode = atomic_load(&m->decode);
	out->auth = atomic_load(&m->auth);
	out->timeout = atomic_load(&m->timeout);
	out->reconnect = atomic_load(&m->reconnect);
	out->exception = atomic_load(&m->exception);
	out->last_frame_ms = atomic_load(&m->last_frame_ms);
}

size_t sm_reader_nmeters(const struct sm_reader *r)
{
	return r != NULL ? r->n : 0;
}

const struct sm_meter_cfg *sm_reader_meter(const struct sm_reader *r, size_t i)
{
	return r != NULL && i < r->n ? r->m[i].cfg : NULL;
}

void sm_reader_destroy(struct sm_reader *r)
{
	if (r == NULL)
		return;
	if (r->started && !r->joined) {
		sm_reader_stop(r);
		sm_reader_join(r);
	}
	port_close(r);
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (m->inited && m->proto->fini != NULL)
			m->proto->fini(m->st);
		free(m->st);
		free(m->out);
		free(m->sel);
		free(m->latest);
	}
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->m);
	free(r->device);
	free(r);
}
