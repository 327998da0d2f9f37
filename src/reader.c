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
 *    a loss (a vanished device stalls its meters).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "logrl.h"
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

	_Atomic uint64_t bytes, frames, crc, unchecked, decode, auth, timeout, reconnect;
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
};

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
	bool ever_opened;
	bool fed;       /* protocols got bytes since their last reset */
	bool pending;   /* bytes arrived since the last idle */
	int backoff_ms;
	struct sm_logrl rl_open, rl_read;
	uint8_t buf[4096];
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

static void fmt_secs(double s, char *buf, size_t cap)
{
	if (s >= 10 || s == (double)(int64_t)s)
		snprintf(buf, cap, "%.0f", s);
	else
		snprintf(buf, cap, "%.1f", s);
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
	return m->cfg->interval_s > 0 ? m->cfg->interval_s : m->period_s;
}

static void emit_frame(struct sm_reader *r, struct meter *m, int64_t now, int64_t rx_ms)
{
	const struct sm_reading_set *s = m->out;

	if (m->cfg->nselect > 0) {
		set_filter(m->cfg, m->out, m->sel);
		s = m->sel;
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
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (m->have_latest && m->latest->n > 0)
			r->sink.emit(r->sink.ctx, m->cfg, m->latest, m->latest_rx_ms, meter_interval(m));
	}
}

/* ---- protocol results ---- */

enum err_class { EC_NONE, EC_CRC, EC_DECODE, EC_AUTH };

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
	default:
		/* SYNTAX, TOO_LONG, TRUNCATED, EMPTY, FULL, RANGE and anything
		 * unexpected: the frame did not decode */
		return EC_DECODE;
	}
}

static void recover_logs(struct sm_reader *r, struct meter *m, int64_t now_ms)
{
	static const char *const what[] = {"checksum", "decode", "authentication"};
	struct sm_logrl *rls[] = {&m->rl_crc, &m->rl_decode, &m->rl_auth};
	uint64_t total;

	for (size_t i = 0; i < 3; i++)
		if (sm_logrl_recover(rls[i], now_ms, &total))
			rlog(r, SM_LOG_NOTICE, "meter \"%s\" (%s): %s errors recovered after %" PRIu64 " %s",
			     m->cfg->name, r->device, what[i], total, errors_word(total));
}

static void good_frame(struct sm_reader *r, struct meter *m, const struct sm_feed_info *info,
		       int64_t now, int64_t now_ms)
{
	atomic_fetch_add(&m->frames, 1);
	if (info->check == SM_CHECK_IGNORED) {
		uint64_t since;
		atomic_fetch_add(&m->unchecked, 1);
		if (sm_logrl_fail(&m->rl_unchecked, now_ms, &since))
			rlog(r, SM_LOG_WARNING,
			     "meter \"%s\" (%s): %" PRIu64 " %s with a wrong checksum accepted (IgnoreChecksum)",
			     m->cfg->name, r->device, since, since == 1 ? "frame" : "frames");
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
			rlog(r, SM_LOG_NOTICE, "meter \"%s\": frames again after %s s", m->cfg->name, secs);
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

	switch (classify(rc)) {
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
	default:
		atomic_fetch_add(&m->decode, 1);
		rl = &m->rl_decode;
		break;
	}
	if (!sm_logrl_fail(rl, now_ms, &since))
		return;
	if (info->diag.msg[0] != '\0')
		rlog(r, level, "meter \"%s\" (%s): %s: %.*s%s", m->cfg->name, r->device, sm_strerror(rc),
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

		if (m->proto->idle == NULL)
			continue;
		memset(&info, 0, sizeof info);
		enum sm_err rc = m->proto->idle(m->st, m->out, &info);
		result(r, m, rc, &info, now, now_ms);
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

		if (m->stalled || !(to > 0) || (double)(now - m->ref) < to * 1000.0)
			continue;
		m->stalled = true;
		m->stall_ref = m->ref;
		m->have_latest = false;
		atomic_fetch_add(&m->timeout, 1);
		if (sm_logrl_fail(&m->rl_stall, now_ms, &since)) {
			fmt_secs(to, secs, sizeof secs);
			rlog(r, SM_LOG_WARNING, "meter \"%s\": no valid frame for %s s (stalled)%s",
			     m->cfg->name, secs, times_suffix(since, sfx, sizeof sfx));
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
	char err[256], sfx[64];
	uint64_t n;
	struct sm_transport *t = NULL;
	enum sm_err rc = sm_transport_open_cancel(r->device, &r->line, &r->stop, &t, err, sizeof err);
	int64_t now = sm_mono_ms(), now_ms = sm_now_ms();

	if (rc != SM_OK) {
		if (atomic_load(&r->stop))
			return false;
		if (sm_logrl_fail(&r->rl_open, now_ms, &n))
			rlog(r, SM_LOG_ERROR, "port \"%s\": cannot open %s%s", r->device,
			     err[0] != '\0' ? err : sm_strerror(rc), times_suffix(n, sfx, sizeof sfx));
		return false;
	}
	if (sm_logrl_recover(&r->rl_open, now_ms, &n))
		rlog(r, SM_LOG_NOTICE, "port \"%s\": open recovered after %" PRIu64 " %s", r->device, n,
		     errors_word(n));
	for (size_t i = 0; i < r->n; i++) {
		struct meter *m = &r->m[i];
		if (r->ever_opened)
			atomic_fetch_add(&m->reconnect, 1);
		else
			m->ref = now;
		m->prev_frame = -1; /* a gap is no push period */
		if (r->fed && m->proto->reset != NULL)
			m->proto->reset(m->st);
	}
	r->fed = false;
	r->ever_opened = true;
	r->pending = false;
	r->t = t;
	return true;
}

static void port_close(struct sm_reader *r)
{
	if (r->t != NULL) {
		sm_transport_close(r->t);
		r->t = NULL;
	}
}

static void port_lost(struct sm_reader *r, enum sm_err rc, int64_t now_ms)
{
	char sfx[64];
	uint64_t n;
	bool eof = rc == SM_E_CLOSED && r->kind == SM_TRANSPORT_FILE;

	if (sm_logrl_fail(&r->rl_read, now_ms, &n))
		rlog(r, eof ? SM_LOG_NOTICE : SM_LOG_WARNING, "port \"%s\": %s, %s%s", r->device,
		     r->t != NULL && sm_transport_error(r->t)[0] != '\0' ? sm_transport_error(r->t)
									 : sm_strerror(rc),
		     eof ? "replaying it again" : "reopening", times_suffix(n, sfx, sizeof sfx));
	port_close(r);
}

static void run(struct sm_reader *r)
{
	r->backoff_ms = backoff_min(r);
	while (!atomic_load(&r->stop)) {
		handle_trigger(r);
		if (r->t == NULL) {
			if (!port_open(r)) {
				if (r->opts.exit_at_eof && r->kind == SM_TRANSPORT_FILE) {
					atomic_store(&r->done, true);
					return;
				}
				back_off(r);
				continue;
			}
		}
		size_t got = 0;
		enum sm_err rc = sm_transport_read(r->t, r->buf, sizeof r->buf, SM_READ_TIMEOUT_MS, &got);
		int64_t now = sm_mono_ms(), now_ms = sm_now_ms();
		if (rc == SM_OK && got > 0) {
			uint64_t n;
			if (sm_logrl_recover(&r->rl_read, now_ms, &n))
				rlog(r, SM_LOG_NOTICE, "port \"%s\": reading recovered after %" PRIu64 " %s",
				     r->device, n, errors_word(n));
			r->fed = true;
			r->pending = true;
			for (size_t i = 0; i < r->n; i++)
				feed_meter(r, &r->m[i], r->buf, got, now, now_ms);
		} else if (rc == SM_OK) {
			if (r->pending) {
				r->pending = false;
				idle_all(r, now, now_ms);
			}
		} else {
			/* End of a file or stream: complete what was pending. */
			if (rc == SM_E_CLOSED && r->pending)
				idle_all(r, now, now_ms);
			r->pending = false;
			if (rc == SM_E_CLOSED && r->kind == SM_TRANSPORT_FILE && r->opts.exit_at_eof) {
				port_close(r);
				atomic_store(&r->done, true);
				return;
			}
			port_lost(r, rc, now_ms);
			back_off(r);
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
	for (size_t i = 0; i < port->nmeters; i++)
		if (port->meters[i] == NULL || port->meters[i]->proto == NULL ||
		    port->meters[i]->proto->feed == NULL || port->meters[i]->proto->init == NULL)
			return SM_E_INTERNAL;

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
			rlog(r, SM_LOG_ERROR, "meter \"%s\": %s: %.*s", m->cfg->name, sm_strerror(rc),
			     (int)sizeof diag.msg, diag.msg[0] != '\0' ? diag.msg : "protocol setup failed");
			sm_reader_destroy(r);
			return rc == SM_E_NOMEM ? SM_E_NOMEM : SM_E_CONFIG;
		}
		m->inited = true;
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
	if (r->opts.start != NULL) {
		rc = r->opts.start(&r->tid, reader_main, r, r->tname);
	} else {
		rc = pthread_create(&r->tid, NULL, reader_main, r);
		if (rc == 0)
			(void)pthread_setname_np(r->tid, r->tname);
	}
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
	out->decode = atomic_load(&m->decode);
	out->auth = atomic_load(&m->auth);
	out->timeout = atomic_load(&m->timeout);
	out->reconnect = atomic_load(&m->reconnect);
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
