/*
 * test_reader.c - the reader thread with the real "dsmr" protocol: a
 * simulated meter on a pseudo-terminal (a thread writing telegrams to the
 * master side), TCP on 127.0.0.1, and file replay.  Every wait is for an
 * event with a deadline; the only timed pauses are the simulated meter's
 * send period.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <poll.h>
#include <pty.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "crc.h"
#include "dsmr.h"
#include "logrl.h"
#include "obis.h"
#include "proto.h"
#include "reader.h"
#include "reading.h"

#define BACKOFF_MS 100 /* reader back-off in these tests */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- telegrams ---- */

/* A DSMR 5 telegram whose power_import is watts W, with a valid CRC (or a
 * wrong one), into out (no cmocka asserts: the simulated meter's thread
 * uses it).  Returns its length, 0 if it does not fit. */
static size_t telegram_fill(char *out, size_t cap, unsigned watts, bool good_crc, bool crlf)
{
	int n = snprintf(out, cap,
			 "/ISk5\\2MT382-1000\r\n\r\n"
			 "1-3:0.2.8(50)\r\n"
			 "0-0:1.0.0(240101120000W)\r\n"
			 "0-0:96.1.1(4B384547303034303436333935353037)\r\n"
			 "1-0:1.8.1(000123.456*kWh)\r\n"
			 "1-0:1.8.2(000654.321*kWh)\r\n"
			 "1-0:1.7.0(%02u.%03u*kW)\r\n"
			 "!",
			 watts / 1000, watts % 1000);
	if (n <= 0 || (size_t)n + 8 > cap)
		return 0;
	uint16_t crc = sm_crc16_arc(0, out, (size_t)n);
	if (!good_crc)
		crc ^= 0x5a5a;
	n += snprintf(out + n, cap - (size_t)n, "%04X%s", crc, crlf ? "\r\n" : "");
	return (size_t)n;
}

/* The same in an exactly-sized heap buffer. */
static uint8_t *telegram(unsigned watts, bool good_crc, bool crlf, size_t *len)
{
	char body[512];
	size_t n = telegram_fill(body, sizeof body, watts, good_crc, crlf);

	assert_true(n > 0);
	uint8_t *p = malloc(n);
	assert_non_null(p);
	memcpy(p, body, n);
	*len = n;
	return p;
}

/* ---- what the reader hands out ---- */

#define MAX_EV 512
#define MAX_LOG 256

struct ev {
	const struct sm_meter_cfg *m;
	size_t n;
	long watts; /* power_import, -1 if absent */
	bool has_t1, has_t2, has_id;
	int64_t rx_ms;
	double interval_s;
	int64_t mono;
	pthread_t tid;
	char tname[16];
};

struct cap {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t nev;
	struct ev ev[MAX_EV];
	size_t nlog;
	char log[MAX_LOG][256];
	int level[MAX_LOG];
};

static struct cap *cap_new(void)
{
	struct cap *c = calloc(1, sizeof *c);
	pthread_condattr_t ca;

	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	return c;
}

static void cap_free(struct cap *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void sink_emit(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		      int64_t rx_ms, double interval_s)
{
	struct cap *c = ctx;
	const struct sm_reading *r;

	pthread_mutex_lock(&c->mu);
	if (c->nev < MAX_EV) {
		struct ev *e = &c->ev[c->nev++];
		memset(e, 0, sizeof *e);
		e->m = m;
		e->n = s->n;
		r = sm_set_find(s, "power_import");
		e->watts = r != NULL ? (long)(sm_decimal_to_double(r->raw, r->scale) + 0.5) : -1;
		e->has_t1 = sm_set_find(s, "energy_import_t1") != NULL;
		e->has_t2 = sm_set_find(s, "energy_import_t2") != NULL;
		struct sm_obis id = sm_obis_make5(0, 0, 96, 1, 1);
		r = sm_set_find_obis(s, &id);
		e->has_id = r != NULL && r->is_text &&
			    r->text_len == 32 && memcmp(sm_reading_text(s, r), "4B38", 4) == 0;
		e->rx_ms = rx_ms;
		e->interval_s = interval_s;
		e->mono = mono_ms();
		e->tid = pthread_self();
		pthread_getname_np(e->tid, e->tname, sizeof e->tname);
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void log_fn(void *ctx, enum sm_log_level level, const char *msg)
{
	struct cap *c = ctx;

	pthread_mutex_lock(&c->mu);
	if (c->nlog < MAX_LOG) {
		snprintf(c->log[c->nlog], sizeof c->log[0], "%s", msg);
		c->level[c->nlog] = (int)level;
		c->nlog++;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (getenv("SM_TEST_VERBOSE") != NULL)
		fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

/* Wait (deadline ms) until pred(c, arg) holds; called with c->mu held. */
typedef bool (*pred_fn)(struct cap *c, const void *arg);

static bool cap_wait(struct cap *c, pred_fn pred, const void *arg, int deadline_ms)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += deadline_ms / 1000;
	ts.tv_nsec += (long)(deadline_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!(ok = pred(c, arg)))
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) {
			ok = pred(c, arg);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static bool p_nev(struct cap *c, const void *arg)
{
	return c->nev >= *(const size_t *)arg;
}

/* events of one meter */
static size_t count_ev(struct cap *c, const struct sm_meter_cfg *m)
{
	size_t k = 0;
	for (size_t i = 0; i < c->nev; i++)
		k += c->ev[i].m == m;
	return k;
}

struct logq {
	const char *needle;
	size_t n;
};

static size_t count_log_locked(struct cap *c, const char *needle)
{
	size_t k = 0;
	for (size_t i = 0; i < c->nlog; i++)
		k += strstr(c->log[i], needle) != NULL;
	return k;
}

static size_t count_log(struct cap *c, const char *needle)
{
	pthread_mutex_lock(&c->mu);
	size_t k = count_log_locked(c, needle);
	pthread_mutex_unlock(&c->mu);
	return k;
}

static bool p_log(struct cap *c, const void *arg)
{
	const struct logq *q = arg;
	return count_log_locked(c, q->needle) >= q->n;
}

static bool wait_log(struct cap *c, const char *needle, size_t n, int deadline_ms)
{
	struct logq q = {needle, n};
	return cap_wait(c, p_log, &q, deadline_ms);
}

/* events with watts >= min (values from after a given point) */
struct wq {
	long min_watts;
	size_t n;
};

static bool p_watts(struct cap *c, const void *arg)
{
	const struct wq *q = arg;
	size_t k = 0;
	for (size_t i = 0; i < c->nev; i++)
		k += c->ev[i].watts >= q->min_watts;
	return k >= q->n;
}

static size_t cap_nev(struct cap *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->nev;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Wait until stats of meter i satisfy frames >= n (polling the atomics,
 * woken by the capture's condition variable or every 10 ms). */
static bool wait_frames(struct cap *c, struct sm_reader *r, size_t i, uint64_t n, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;
	struct sm_stats st;

	for (;;) {
		sm_reader_stats(r, i, &st);
		if (st.frames >= n)
			return true;
		if (mono_ms() >= end)
			return false;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 10 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&c->mu);
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		pthread_mutex_unlock(&c->mu);
	}
}

/* ---- the simulated meter: a thread writing telegrams to a pty master ---- */

struct sim {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int master, slave;
	char dir[64], link[96];
	int period_ms;
	bool paused, quit, bad_crc;
	unsigned watts;     /* value of the next telegram */
	unsigned sent;
	pthread_t tid;
	bool running;
};

static void sim_pty(struct sim *s)
{
	struct termios tio;
	char name[64], tmp[128];

	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	assert_int_equal(openpty(&s->master, &s->slave, name, &tio, NULL), 0);
	int fl = fcntl(s->master, F_GETFL);
	fcntl(s->master, F_SETFL, fl | O_NONBLOCK);
	snprintf(tmp, sizeof tmp, "%s.new", s->link);
	unlink(tmp);
	assert_int_equal(symlink(name, tmp), 0);
	assert_int_equal(rename(tmp, s->link), 0);
}

static void sim_unplug(struct sim *s)
{
	pthread_mutex_lock(&s->mu);
	unlink(s->link);
	if (s->master >= 0)
		close(s->master);
	if (s->slave >= 0)
		close(s->slave);
	s->master = s->slave = -1;
	pthread_mutex_unlock(&s->mu);
}

static void sim_plug(struct sim *s)
{
	pthread_mutex_lock(&s->mu);
	sim_pty(s);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *sim_main(void *arg)
{
	struct sim *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		if (!s->paused && s->master >= 0) {
			char t[512];
			size_t n = telegram_fill(t, sizeof t, s->watts, !s->bad_crc, true);
			if (n > 0 && write(s->master, t, n) == (ssize_t)n) {
				s->watts++;
				s->sent++;
			}
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)s->period_ms * 1000000L;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts); /* the meter's send period */
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static struct sim *sim_new(int period_ms, bool plugged, bool bad_crc)
{
	struct sim *s = calloc(1, sizeof *s);
	pthread_condattr_t ca;

	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->master = s->slave = -1;
	s->period_ms = period_ms;
	s->watts = 1000;
	s->bad_crc = bad_crc;
	snprintf(s->dir, sizeof s->dir, "/tmp/sm-rd-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->link, sizeof s->link, "%s/ttyP1", s->dir);
	if (plugged)
		sim_pty(s);
	assert_int_equal(pthread_create(&s->tid, NULL, sim_main, s), 0);
	s->running = true;
	return s;
}

static void sim_set(struct sim *s, bool paused, bool bad_crc)
{
	pthread_mutex_lock(&s->mu);
	s->paused = paused;
	s->bad_crc = bad_crc;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static unsigned sim_watts(struct sim *s)
{
	pthread_mutex_lock(&s->mu);
	unsigned w = s->watts;
	pthread_mutex_unlock(&s->mu);
	return w;
}

static void sim_free(struct sim *s)
{
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->tid, NULL);
	sim_unplug(s);
	rmdir(s->dir);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- meters ---- */

static void meter_init(struct sm_meter_cfg *m, const char *name, const char *device)
{
	memset(m, 0, sizeof *m);
	m->name = (char *)name;
	m->proto = sm_proto_find("dsmr");
	assert_non_null(m->proto);
	assert_ptr_equal(m->proto, &sm_proto_dsmr);
	m->device = (char *)device;
	m->line = m->proto->line;
	m->timeout_s = SM_DEFAULT_TIMEOUT_S;
}

static struct sm_reader *reader_new(struct cap *c, const struct sm_meter_cfg **meters, size_t n,
				    bool trigger, bool exit_at_eof)
{
	struct sm_port port = {meters[0]->device, meters[0]->line, n, meters};
	struct sm_sink sink = {sink_emit, c};
	struct sm_log log = {log_fn, c};
	struct sm_reader_opts opts = {trigger, exit_at_eof, NULL, BACKOFF_MS};
	struct sm_reader *r = NULL;

	assert_int_equal(sm_reader_create(&port, &sink, &log, &opts, &r), SM_OK);
	assert_non_null(r);
	assert_int_equal(sm_reader_nmeters(r), n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(sm_reader_meter(r, i), meters[i]);
	assert_null(sm_reader_meter(r, n));
	assert_int_equal(sm_reader_start(r), SM_OK);
	return r;
}

/* stop + join, measured */
static int64_t reader_end(struct sm_reader *r)
{
	int64_t t0 = mono_ms();
	sm_reader_stop(r);
	sm_reader_join(r);
	int64_t dt = mono_ms() - t0;
	sm_reader_destroy(r);
	return dt;
}

/* ---- tests ---- */

static void test_logrl(void **state)
{
	struct sm_logrl rl;
	uint64_t n;
	(void)state;

	sm_logrl_init(&rl);
	assert_false(sm_logrl_recover(&rl, 0, &n));
	assert_true(sm_logrl_fail(&rl, 1000, &n));
	assert_int_equal(n, 1);
	for (int i = 1; i < 100; i++)
		assert_false(sm_logrl_fail(&rl, 1000 + i * 100, &n));
	/* one minute later: the next message, with the count */
	assert_true(sm_logrl_fail(&rl, 1000 + SM_LOGRL_MIN_MS, &n));
	assert_int_equal(n, 100);
	/* then two minutes */
	assert_false(sm_logrl_fail(&rl, 1000 + SM_LOGRL_MIN_MS + 2 * 60000 - 1, &n));
	assert_true(sm_logrl_fail(&rl, 1000 + SM_LOGRL_MIN_MS + 2 * 60000, &n));
	assert_int_equal(n, 2);
	assert_true(sm_logrl_recover(&rl, 200000, &n));
	assert_int_equal(n, 103);
	assert_false(sm_logrl_recover(&rl, 200001, &n));
	/* a new episode soon after: still rate limited, and its end is silent */
	assert_false(sm_logrl_fail(&rl, 200100, &n));
	assert_false(sm_logrl_recover(&rl, 200200, &n));
	/* after a long healthy period the back-off starts over */
	assert_true(sm_logrl_fail(&rl, 200200 + 10 * SM_LOGRL_MIN_MS, &n));
	assert_int_equal(n, 2);
	assert_false(sm_logrl_fail(&rl, 200300 + 10 * SM_LOGRL_MIN_MS, &n));
	assert_true(sm_logrl_recover(&rl, 200400 + 10 * SM_LOGRL_MIN_MS, &n));
	assert_int_equal(n, 2);
	/* the back-off is capped at a day */
	sm_logrl_init(&rl);
	int64_t t = 0;
	for (int i = 0; i < 40; i++) {
		assert_true(sm_logrl_fail(&rl, t, &n));
		t += rl.gap_ms;
	}
	assert_int_equal(rl.gap_ms, SM_LOGRL_MAX_MS);
}

static void test_pty_meter(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(40, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	size_t want = 5;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	sm_reader_stop(r);
	sm_reader_join(r);

	pthread_mutex_lock(&c->mu);
	size_t nev = c->nev;
	for (size_t i = 0; i < nev; i++) {
		struct ev *e = &c->ev[i];
		assert_ptr_equal(e->m, &m);
		assert_true(e->has_t1 && e->has_t2 && e->has_id);
		assert_true(e->watts >= 1000);
		if (i > 0)
			assert_int_equal(e->watts, c->ev[i - 1].watts + 1);
		assert_true(e->rx_ms > 0 && llabs(e->rx_ms - (int64_t)time(NULL) * 1000) < 10000);
		assert_false(pthread_equal(e->tid, pthread_self()));
		assert_string_equal(e->tname, "sm:ttyP1");
	}
	/* the push period is learnt from the second frame on */
	assert_true(c->ev[0].interval_s == 0.0);
	assert_true(c->ev[nev - 1].interval_s > 0.01 && c->ev[nev - 1].interval_s < 1.0);
	pthread_mutex_unlock(&c->mu);

	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.frames, nev); /* Interval 0: every frame */
	assert_true(st.bytes > 0);
	assert_int_equal(st.crc + st.decode + st.auth + st.timeout + st.reconnect + st.unchecked, 0);
	assert_true(st.last_frame_ms > 0);
	sm_reader_stats(r, 5, &st);
	assert_int_equal(st.frames, 0);
	assert_false(sm_reader_done(r));
	assert_int_equal(count_log(c, ""), 0); /* nothing to complain about */
	sm_reader_destroy(r);

	/* stop returns within one read timeout while data flows */
	r = reader_new(c, ms, 1, false, false);
	want = nev + 2;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	int64_t dt = reader_end(r);
	print_message("stop+join took %" PRId64 " ms\n", dt);
	assert_true(dt < 250);

	sim_free(s);
	cap_free(c);
}

static void test_two_meters_select(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(40, true, false);
	struct sm_meter_cfg a, b, o;
	const struct sm_meter_cfg *ms[] = {&a, &b, &o};
	(void)state;

	meter_init(&a, "a", s->link);
	meter_init(&b, "b", s->link);
	meter_init(&o, "o", s->link);
	b.nselect = 1;
	b.select[0] = (char *)"power_import";
	o.nselect = 2; /* OBIS codes, and a name that never occurs */
	o.select[0] = (char *)"1-0:1.8.2";
	o.select_obis[0] = sm_obis_make5(1, 0, 1, 8, 2);
	o.select_is_obis[0] = true;
	o.select[1] = (char *)"no_such_reading";

	struct sm_reader *r = reader_new(c, ms, 3, false, false);
	size_t want = 12;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	int64_t dt = reader_end(r);
	assert_true(dt < 250);

	pthread_mutex_lock(&c->mu);
	assert_true(count_ev(c, &a) >= 3);
	assert_true(count_ev(c, &b) >= 3);
	assert_true(count_ev(c, &o) >= 3);
	for (size_t i = 0; i < c->nev; i++) {
		struct ev *e = &c->ev[i];
		/* one thread for the port */
		assert_true(pthread_equal(e->tid, c->ev[0].tid));
		if (e->m == &a) {
			assert_int_equal(e->n, 5); /* version, id, two totals, power */
		} else if (e->m == &b) {
			assert_int_equal(e->n, 1);
			assert_true(e->watts >= 1000);
			assert_false(e->has_t1 || e->has_id);
		} else {
			assert_int_equal(e->n, 1);
			assert_true(e->has_t2);
			assert_int_equal(e->watts, -1);
		}
	}
	pthread_mutex_unlock(&c->mu);
	sim_free(s);
	cap_free(c);
}

static void test_backoff_and_recovery(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(40, false, false); /* no device yet */
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(wait_log(c, "cannot open", 1, 2000));
	/* back-off 100, 200, 400 ms: several more attempts, no more messages */
	assert_false(wait_log(c, "cannot open", 2, 800));
	pthread_mutex_lock(&c->mu);
	assert_int_equal(c->level[0], SM_LOG_ERROR);
	assert_non_null(strstr(c->log[0], s->link));
	assert_non_null(strstr(c->log[0], "No such file"));
	pthread_mutex_unlock(&c->mu);
	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.reconnect, 0);

	/* the device appears: opened, recovery logged once, values arrive */
	sim_plug(s);
	size_t want = 2;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	assert_int_equal(count_log(c, "open recovered after"), 1);
	assert_int_equal(count_log(c, "cannot open"), 1);
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.reconnect, 0); /* the first open is no reconnect */

	/* stop during a back-off wait is immediate too */
	sim_unplug(s);
	assert_true(wait_log(c, "reopening", 1, 2000));
	int64_t dt = reader_end(r);
	print_message("stop+join during back-off took %" PRId64 " ms\n", dt);
	assert_true(dt < 250);
	sim_free(s);
	cap_free(c);
}

static void test_reconnect(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(40, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	size_t want = 2;
	assert_true(cap_wait(c, p_nev, &want, 3000));

	/* pull the plug, put a new device under the same link */
	sim_set(s, true, false);
	sim_unplug(s);
	assert_true(wait_log(c, "reopening", 1, 2000));
	sim_plug(s);
	unsigned after = sim_watts(s);
	sim_set(s, false, false);
	struct wq q = {(long)after, 2};
	assert_true(cap_wait(c, p_watts, &q, 3000));

	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.reconnect, 1);
	assert_int_equal(st.timeout, 0);
	assert_true(st.frames >= 4);
	assert_int_equal(count_log(c, "reopening"), 1);
	assert_non_null(strstr(c->log[0], "device hung up"));
	assert_true(reader_end(r) < 250);
	sim_free(s);
	cap_free(c);
}

static void test_interval(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(25, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	m.interval_s = 0.3;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	size_t want = 4;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	assert_true(reader_end(r) < 250);

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nev; i++) {
		assert_true(c->ev[i].interval_s == 0.3);
		if (i > 0) {
			int64_t gap = c->ev[i].mono - c->ev[i - 1].mono;
			assert_true(gap >= 300 - 30);
			/* frames in between were counted, not emitted */
			assert_true(c->ev[i].watts - c->ev[i - 1].watts >= 5);
		}
	}
	pthread_mutex_unlock(&c->mu);
	sim_free(s);
	cap_free(c);
}

static void test_stall(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	m.timeout_s = 0.3;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	size_t want = 2;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	sim_set(s, true, false); /* the meter goes quiet */
	assert_true(wait_log(c, "meter \"home\": no valid frame for 0.3 s (stalled)", 1, 2000));
	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.timeout, 1);
	/* still quiet: still one stall, one message */
	assert_false(wait_log(c, "stalled", 2, 500));
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.timeout, 1);
	sim_set(s, false, false);
	assert_true(wait_log(c, "meter \"home\": frames again after ", 1, 2000));
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.timeout, 1);
	assert_int_equal(count_log(c, "stalled"), 1);
	assert_int_equal(count_log(c, "frames again"), 1);
	assert_true(reader_end(r) < 250);
	sim_free(s);
	cap_free(c);
}

static void test_crc_errors(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, true); /* wrong CRCs first */
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(wait_log(c, "CRC mismatch", 1, 2000));
	struct sm_stats st;
	int64_t end = mono_ms() + 3000;
	do {
		sm_reader_stats(r, 0, &st);
	} while (st.crc < 3 && mono_ms() < end && !wait_log(c, "never", 1, 10));
	assert_true(st.crc >= 3);
	assert_int_equal(count_log(c, "CRC mismatch"), 1); /* rate limited */
	assert_int_equal(cap_nev(c), 0);                        /* nothing from bad frames */
	sim_set(s, false, false);
	assert_true(wait_log(c, "checksum errors recovered after", 1, 2000));
	size_t want = 1;
	assert_true(cap_wait(c, p_nev, &want, 2000));
	pthread_mutex_lock(&c->mu);
	assert_non_null(strstr(c->log[0], "meter \"home\""));
	assert_non_null(strstr(c->log[0], s->link));
	assert_int_equal(c->level[0], SM_LOG_WARNING);
	pthread_mutex_unlock(&c->mu);
	assert_true(reader_end(r) < 250);
	sim_free(s);
	cap_free(c);
}

static void test_ignore_checksum(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, true);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	m.ignore_checksum = true;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	size_t want = 2;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	sm_reader_stop(r);
	sm_reader_join(r);
	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_true(st.unchecked >= 2);
	assert_int_equal(st.unchecked, st.frames);
	assert_int_equal(st.crc, 0);
	/* warned once when it starts, then rate limited (not once per frame) */
	assert_true(wait_log(c, "wrong checksum accepted (IgnoreChecksum)", 1, 1000));
	assert_int_equal(count_log(c, "wrong checksum accepted"), 1);
	sm_reader_destroy(r);
	sim_free(s);
	cap_free(c);
}

static bool p_frames_any(struct cap *c, const void *arg)
{
	(void)c;
	(void)arg;
	return false;
}

static void test_trigger(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	meter_init(&m, "home", s->link);
	struct sm_reader *r = reader_new(c, ms, 1, true, false);
	assert_true(wait_frames(c, r, 0, 3, 3000));
	assert_int_equal(cap_nev(c), 0); /* nothing without a trigger */
	sim_set(s, true, false);
	unsigned last = sim_watts(s) - 1;
	/* the frames already sent arrive; the latest is `last` */
	struct sm_stats st;
	int64_t end = mono_ms() + 2000;
	do {
		sm_reader_stats(r, 0, &st);
	} while (st.frames < last - 1000 + 1 && mono_ms() < end && !cap_wait(c, p_frames_any, NULL, 10));
	assert_int_equal(st.frames, last - 1000 + 1);

	sm_reader_trigger(r);
	size_t want = 1;
	assert_true(cap_wait(c, p_nev, &want, 1000));
	sm_reader_trigger(r);
	want = 2;
	assert_true(cap_wait(c, p_nev, &want, 1000));
	pthread_mutex_lock(&c->mu);
	assert_int_equal(c->ev[0].watts, (long)last);
	assert_int_equal(c->ev[1].watts, (long)last);
	assert_true(c->ev[0].has_t1 && c->ev[0].has_id);
	assert_false(pthread_equal(c->ev[0].tid, pthread_self()));
	pthread_mutex_unlock(&c->mu);
	assert_true(reader_end(r) < 250);
	assert_int_equal(cap_nev(c), 2);
	sim_free(s);
	cap_free(c);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static bool p_done(struct cap *c, const void *arg)
{
	(void)c;
	return sm_reader_done((const struct sm_reader *)arg);
}

static void test_file_eof(void **state)
{
	struct cap *c = cap_new();
	char dir[] = "/tmp/sm-rd-XXXXXX", path[64], dev[80];
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/capture.txt", dir);
	snprintf(dev, sizeof dev, "file:%s", path);
	/* three telegrams, the last without its line end: only idle at the
	 * end of the file completes it */
	uint8_t buf[4096];
	size_t len = 0, n;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t *t = telegram(500 + i, true, i < 2, &n);
		memcpy(buf + len, t, n);
		len += n;
		free(t);
	}
	uint8_t *data = malloc(len);
	assert_non_null(data);
	memcpy(data, buf, len);
	write_file(path, data, len);
	free(data);

	meter_init(&m, "replay", dev);
	struct sm_reader *r = reader_new(c, ms, 1, false, true);
	int64_t end = mono_ms() + 2000;
	while (!sm_reader_done(r) && mono_ms() < end)
		cap_wait(c, p_done, r, 10);
	assert_true(sm_reader_done(r));
	sm_reader_join(r);
	pthread_mutex_lock(&c->mu);
	assert_int_equal(c->nev, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(c->ev[i].watts, (long)(500 + i));
	assert_string_equal(c->ev[0].tname, "sm:capture.txt");
	pthread_mutex_unlock(&c->mu);
	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.frames, 3);
	assert_int_equal(st.bytes, len);
	sm_reader_destroy(r);

	/* a missing file with exit_at_eof: an error and the end */
	unlink(path);
	struct cap *c2 = cap_new();
	r = reader_new(c2, ms, 1, false, true);
	end = mono_ms() + 2000;
	while (!sm_reader_done(r) && mono_ms() < end)
		cap_wait(c2, p_done, r, 10);
	assert_true(sm_reader_done(r));
	assert_int_equal(count_log(c2, "cannot open"), 1);
	reader_end(r);
	cap_free(c2);
	rmdir(dir);
	cap_free(c);
}

/* ---- TCP: a serial bridge that drops the connection ---- */

static void test_tcp_bridge(void **state)
{
	struct cap *c = cap_new();
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	char dev[64];
	(void)state;

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	struct sockaddr_in a = {0};
	socklen_t al = sizeof a;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	snprintf(dev, sizeof dev, "tcp://127.0.0.1:%u", ntohs(a.sin_port));

	meter_init(&m, "bridge", dev);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	for (unsigned k = 0; k < 2; k++) {
		int cfd = accept(lfd, NULL, NULL);
		assert_true(cfd >= 0);
		size_t n;
		uint8_t *t = telegram(2000 + k, true, true, &n);
		assert_int_equal(write(cfd, t, n), (ssize_t)n);
		free(t);
		size_t want = k + 1;
		assert_true(cap_wait(c, p_nev, &want, 2000));
		struct sm_stats st;
		sm_reader_stats(r, 0, &st);
		assert_int_equal(st.reconnect, k);
		close(cfd); /* the bridge drops us; the reader comes back */
	}
	assert_true(wait_log(c, "connection closed by the peer, reopening", 1, 2000));
	assert_true(reader_end(r) < 250);
	close(lfd);
	cap_free(c);
}

/* ---- a thread starter of the caller's (the plugin's) ---- */

static atomic_int starts;

static int my_start(pthread_t *tid, void *(*fn)(void *), void *arg, const char *name)
{
	atomic_fetch_add(&starts, 1);
	assert_string_equal(name, "sm:ttyP1");
	return pthread_create(tid, NULL, fn, arg);
}

static int failing_start(pthread_t *tid, void *(*fn)(void *), void *arg, const char *name)
{
	(void)tid;
	(void)fn;
	(void)arg;
	(void)name;
	return EAGAIN;
}

/* The SigBlk mask of this process's thread named name (0 when not found). */
static unsigned long long thread_sigblk(const char *name, bool *found)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	unsigned long long mask = 0;

	*found = false;
	assert_non_null(dir);
	while (!*found && (e = readdir(dir)) != NULL) {
		char path[300], comm[64] = "", line[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) == NULL)
			comm[0] = '\0';
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, name) != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "SigBlk: %llx", &mask) == 1)
				*found = true;
		fclose(f);
	}
	closedir(dir);
	return mask;
}

/* A reader thread takes no process signal (SIGTERM goes to a host thread,
 * which collectd's main loop needs), but still the fault signals; the
 * caller's own mask is as it was. */
static void test_thread_signals(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	sigset_t before, after;
	(void)state;

	meter_init(&m, "home", s->link);
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		assert_int_equal(sigismember(&before, sig), sigismember(&after, sig));
	size_t want = 1;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	bool found = false;
	unsigned long long blk = thread_sigblk("sm:ttyP1", &found);
	assert_true(found);
	static const int blocked[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD, SIGALRM };
	static const int open_[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
		assert_true(blk & (1ULL << (blocked[i] - 1)));
	for (size_t i = 0; i < sizeof open_ / sizeof open_[0]; i++)
		assert_false(blk & (1ULL << (open_[i] - 1)));
	assert_true(reader_end(r) < 250);
	sim_free(s);
	cap_free(c);
}

static void test_start_fn(void **state)
{
	struct cap *c = cap_new();
	struct sim *s = sim_new(30, true, false);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	struct sm_port port = {s->link, {115200, 8, SM_PARITY_NONE, 1}, 1, ms};
	struct sm_sink sink = {sink_emit, c};
	struct sm_reader_opts opts = {false, false, my_start, 0};
	struct sm_reader *r = NULL;
	(void)state;

	meter_init(&m, "home", s->link);
	assert_int_equal(sm_reader_create(&port, &sink, NULL, &opts, &r), SM_OK);
	assert_int_equal(sm_reader_start(r), SM_OK);
	assert_int_equal(atomic_load(&starts), 1);
	size_t want = 1;
	assert_true(cap_wait(c, p_nev, &want, 3000));
	assert_true(reader_end(r) < 250);

	opts.start = failing_start;
	assert_int_equal(sm_reader_create(&port, &sink, NULL, &opts, &r), SM_OK);
	assert_int_equal(sm_reader_start(r), SM_E_INTERNAL);
	sm_reader_stop(r);
	sm_reader_join(r);
	sm_reader_destroy(r);

	/* bad arguments */
	struct sm_port empty = {s->link, {115200, 8, SM_PARITY_NONE, 1}, 0, ms};
	assert_int_equal(sm_reader_create(&empty, &sink, NULL, &opts, &r), SM_E_INTERNAL);
	assert_null(r);
	struct sm_sink nosink = {NULL, NULL};
	assert_int_equal(sm_reader_create(&port, &nosink, NULL, &opts, &r), SM_E_INTERNAL);
	sim_free(s);
	cap_free(c);
}


/* ---- polled meters: a scripted test protocol and a scripted bus ---- */

/*
 * The test protocol "polltest" (polled only: no feed).  Its session, built
 * from the meter's configuration:
 *   SET_LINE 300 7E1, SEND "/?ADDR!\r\n" (drained), WAIT BaudSwitchDelay
 *   (when > 0), SET_LINE MaxBaudrate 7E1 (when > 0; databits 9 when < 0,
 *   which the port refuses), READ with Timeout seconds of silence for the
 *   answer line "V=watts\r\n", then SEND "B\r\n" and DONE.
 * No answer: SM_E_TIMEOUT "no answer to the sign-on".  WakeUp: take at most
 * 3 bytes per event (the reader must offer the rest again).
 */
struct tp_state {
	const struct sm_meter_cfg *cfg;
	int step;
	uint8_t req[48];
	size_t reqlen;
	char line[64];
	size_t linelen;
};

static const uint8_t tp_bye[] = {'B', '\r', '\n'};

static enum sm_err tp_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct tp_state *s = st;
	(void)diag;
	s->cfg = cfg;
	int n = snprintf((char *)s->req, sizeof s->req, "/?%s!\r\n",
			 cfg->address != NULL ? cfg->address : "");
	s->reqlen = (size_t)n;
	return SM_OK;
}

static enum sm_err tp_start(void *st, struct sm_action *act)
{
	struct tp_state *s = st;
	s->step = 1;
	s->linelen = 0;
	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_SET_LINE;
	act->line = (struct sm_line){300, 7, SM_PARITY_EVEN, 1};
	return SM_OK;
}

static void tp_read(const struct tp_state *s, struct sm_action *act)
{
	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_READ;
	act->ms = (int)(s->cfg->timeout_s * 1000.0 + 0.5);
}

static enum sm_err tp_event(void *st, const uint8_t *in, size_t n, size_t *used, bool timed_out,
			    struct sm_action *act, struct sm_reading_set *out,
			    struct sm_feed_info *info)
{
	struct tp_state *s = st;
	*used = 0;
	switch (s->step) {
	case 1:
		memset(act, 0, sizeof *act);
		act->kind = SM_ACT_SEND;
		act->data = s->req;
		act->len = s->reqlen;
		act->drain = true;
		s->step = 2;
		return SM_OK;
	case 2:
		if (s->cfg->baud_switch_delay_s > 0) {
			memset(act, 0, sizeof *act);
			act->kind = SM_ACT_WAIT;
			act->ms = (int)(s->cfg->baud_switch_delay_s * 1000.0 + 0.5);
			s->step = 3;
			return SM_OK;
		}
		/* fall through */
	case 3:
		if (s->cfg->max_baud != 0) {
			memset(act, 0, sizeof *act);
			act->kind = SM_ACT_SET_LINE;
			act->line = (struct sm_line){s->cfg->max_baud, s->cfg->max_baud > 0 ? 7 : 9,
						     SM_PARITY_EVEN, 1};
			s->step = 4;
			return SM_OK;
		}
		/* fall through */
	case 4:
		tp_read(s, act);
		s->step = 5;
		return SM_OK;
	case 5: {
		if (timed_out) {
			act->kind = SM_ACT_DONE;
			snprintf(info->diag.msg, sizeof info->diag.msg, "no answer to the sign-on");
			return SM_E_TIMEOUT;
		}
		size_t take = s->cfg->wakeup && n > 3 ? 3 : n;
		for (size_t i = 0; i < take; i++) {
			char ch = (char)in[i];
			if (s->linelen + 1 >= sizeof s->line) {
				act->kind = SM_ACT_DONE;
				*used = i + 1;
				return SM_E_TOO_LONG;
			}
			s->line[s->linelen++] = ch;
			if (ch != '\n')
				continue;
			*used = i + 1;
			s->line[s->linelen] = '\0';
			char *end = NULL;
			long w = strncmp(s->line, "V=", 2) == 0 ? strtol(s->line + 2, &end, 10) : -1;
			if (w < 0 || end == NULL || strcmp(end, "\r\n") != 0) {
				act->kind = SM_ACT_DONE;
				snprintf(info->diag.msg, sizeof info->diag.msg, "bad answer");
				return SM_E_SYNTAX;
			}
			sm_set_clear(out);
			struct sm_obis o = sm_obis_make5(1, 0, 1, 7, 0);
			assert_int_equal(sm_set_add_number(out, &o, w, 0, SM_UNIT_W, NULL, 0, 0), SM_OK);
			sm_set_finish(out);
			info->check = SM_CHECK_OK;
			memset(act, 0, sizeof *act);
			act->kind = SM_ACT_SEND;
			act->data = tp_bye;
			act->len = sizeof tp_bye;
			s->step = 6;
			return SM_READINGS;
		}
		*used = take;
		tp_read(s, act);
		return SM_OK;
	}
	default:
		act->kind = SM_ACT_DONE;
		return SM_OK;
	}
}

static const struct sm_proto tp_proto = {
	.name = "polltest",
	.description = "scripted polled protocol of test_reader",
	.line = {300, 7, SM_PARITY_EVEN, 1},
	.state_size = sizeof(struct tp_state),
	.init = tp_init,
	.poll_start = tp_start,
	.poll_event = tp_event,
};

static void poll_meter_init(struct sm_meter_cfg *m, const char *name, const char *device,
			    const char *address)
{
	memset(m, 0, sizeof *m);
	m->name = (char *)name;
	m->proto = &tp_proto;
	m->device = (char *)device;
	m->line = tp_proto.line;
	m->address = (char *)address;
	m->iec_mode = 'C';
	m->timeout_s = 0.3; /* the answer's silence */
	m->interval_s = 0.4;
	assert_true(sm_proto_is_polled(m));
}

/* The meters on the far end of a pty: answer "/?ADDR!\r\n" with "V=w\r\n"
 * once the line has the meter's speed; count sign-offs; optionally push a
 * DSMR telegram after each sign-off. */
#define BUS_SLOTS 3

struct slot {
	char addr[40];
	bool silent;
	int switch_baud;      /* answer only once the port runs at this speed (0: at once) */
	unsigned watts;
	unsigned requests, answers;
	speed_t req_speed, reply_speed;
	int64_t req_ms[64], switch_ms[64];
	/* IEC 62056-21 mode C (the real protocol): identification with baud
	 * character '5', ACK, switch, data message with BCC */
	bool iec;
	bool bad_bcc_once;    /* the first data message has a wrong BCC */
	unsigned acks;
	char ack_char;
	speed_t ack_speed;
	int64_t ack_ms[64];
};

struct bus {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int master, slave;
	char dir[64], link[96];
	bool quit;
	bool push_after_bye;  /* write a DSMR telegram after every sign-off */
	unsigned pushed_watts;
	size_t nslots;
	struct slot slots[BUS_SLOTS];
	unsigned signoffs, unknown;
	char order[256];      /* addresses of the requests in order, one letter each */
	size_t norder;
	struct slot *cur;     /* the meter signed on last */
	pthread_t tid;
};

static speed_t bus_speed(struct bus *b)
{
	struct termios tio;
	if (tcgetattr(b->master, &tio) != 0)
		return (speed_t)-1;
	return cfgetospeed(&tio);
}

static speed_t speed_of(int baud)
{
	switch (baud) {
	case 300: return B300;
	case 2400: return B2400;
	case 9600: return B9600;
	case 19200: return B19200;
	default: return B0;
	}
}

/* Wait (b->mu held, released meanwhile) until the pty runs at baud; the
 * time it did, or -1 after a 2 s deadline. */
static int64_t bus_await_speed(struct bus *b, int baud)
{
	int64_t t = mono_ms();
	speed_t want = speed_of(baud);
	while (bus_speed(b) != want) {
		if (mono_ms() - t >= 2000 || b->quit)
			return -1;
		pthread_mutex_unlock(&b->mu);
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL); /* termios changes raise no event: poll them */
		pthread_mutex_lock(&b->mu);
	}
	return mono_ms();
}

/* IEC 62056-21 mode C: the ACK "06 '0' Z '0' CR LF" of the meter signed on
 * last; switch to Z's speed and send the data message. */
static void bus_iec_ack(struct bus *b, const char *line, size_t len)
{
	static const int speeds[] = {300, 600, 1200, 2400, 4800, 9600, 19200};
	struct slot *sl = b->cur;
	if (sl == NULL || !sl->iec || len != 6 || line[1] != '0' || line[2] < '0' || line[2] > '6' ||
	    line[3] != '0') {
		b->unknown++;
		return;
	}
	unsigned k = sl->acks++;
	sl->ack_char = line[2];
	sl->ack_speed = bus_speed(b);
	if (k < 64)
		sl->ack_ms[k] = mono_ms();
	int64_t sw = bus_await_speed(b, speeds[line[2] - '0']);
	if (k < 64)
		sl->switch_ms[k] = sw;
	sl->reply_speed = bus_speed(b);
	char msg[256];
	int n = snprintf(msg, sizeof msg,
			 "\002" "1.8.0(%06u.000*kWh)\r\n1.7.0(%02u.%03u*kW)\r\n0.0.0(%s)\r\n!\r\n\003",
			 1000 + sl->watts, sl->watts / 1000, sl->watts % 1000, sl->addr);
	unsigned char bcc = 0;
	for (int i = 1; i < n; i++)
		bcc ^= (unsigned char)msg[i];
	if (sl->bad_bcc_once) {
		sl->bad_bcc_once = false;
		bcc ^= 0x55;
	}
	msg[n++] = (char)bcc;
	if (write(b->master, msg, (size_t)n) == n) {
		sl->watts++;
		sl->answers++;
	}
}

/* Handle one line from the reader (called with b->mu held). */
static void bus_line(struct bus *b, const char *line, size_t len)
{
	int64_t t = mono_ms();
	if (len >= 1 && line[0] == 0x06) {
		bus_iec_ack(b, line, len);
		return;
	}
	if (len == 3 && memcmp(line, "B\r\n", 3) == 0) {
		b->signoffs++;
		if (b->push_after_bye) {
			char tel[512];
			size_t n = telegram_fill(tel, sizeof tel, b->pushed_watts, true, true);
			if (n > 0 && write(b->master, tel, n) == (ssize_t)n)
				b->pushed_watts++;
		}
		return;
	}
	if (len < 5 || line[0] != '/' || line[1] != '?' || memcmp(line + len - 3, "!\r\n", 3) != 0) {
		b->unknown++;
		return;
	}
	size_t alen = len - 5;
	struct slot *sl = NULL;
	for (size_t i = 0; i < b->nslots; i++)
		if (strlen(b->slots[i].addr) == alen && memcmp(b->slots[i].addr, line + 2, alen) == 0)
			sl = &b->slots[i];
	if (sl == NULL) {
		b->unknown++;
		return;
	}
	if (b->norder + 1 < sizeof b->order)
		b->order[b->norder++] = (char)('a' + (sl - b->slots));
	unsigned k = sl->requests++;
	if (k < 64)
		sl->req_ms[k] = t;
	sl->req_speed = bus_speed(b);
	b->cur = sl;
	if (sl->silent)
		return;
	if (sl->iec) {
		/* identification: manufacturer TST, 9600 Bd offered */
		static const char id[] = "/TST5METER\r\n";
		if (write(b->master, id, sizeof id - 1) != (ssize_t)(sizeof id - 1))
			b->unknown++;
		return;
	}
	if (sl->switch_baud != 0) {
		/* the reader switches after its pause: wait for it */
		int64_t sw = bus_await_speed(b, sl->switch_baud);
		if (k < 64)
			sl->switch_ms[k] = sw;
	}
	sl->reply_speed = bus_speed(b);
	char ans[32];
	int n = snprintf(ans, sizeof ans, "V=%u\r\n", sl->watts);
	if (write(b->master, ans, (size_t)n) == n) {
		sl->watts++;
		sl->answers++;
	}
}

static void *bus_main(void *arg)
{
	struct bus *b = arg;
	char line[128];
	size_t len = 0;

	pthread_mutex_lock(&b->mu);
	while (!b->quit) {
		pthread_mutex_unlock(&b->mu);
		struct pollfd pfd = {b->master, POLLIN, 0};
		int ev = poll(&pfd, 1, 20);
		pthread_mutex_lock(&b->mu);
		if (ev <= 0 || !(pfd.revents & POLLIN))
			continue;
		char buf[256];
		ssize_t got = read(b->master, buf, sizeof buf);
		for (ssize_t i = 0; i < got; i++) {
			if (len < sizeof line)
				line[len++] = buf[i];
			if (buf[i] == '\n') {
				bus_line(b, line, len);
				len = 0;
			}
		}
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static struct bus *bus_new(void)
{
	struct bus *b = calloc(1, sizeof *b);
	pthread_condattr_t ca;
	struct termios tio;
	char name[64], tmp[128];

	assert_non_null(b);
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	b->pushed_watts = 5000;
	snprintf(b->dir, sizeof b->dir, "/tmp/sm-rd-XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->link, sizeof b->link, "%s/ttyBus", b->dir);
	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	assert_int_equal(openpty(&b->master, &b->slave, name, &tio, NULL), 0);
	snprintf(tmp, sizeof tmp, "%s.new", b->link);
	assert_int_equal(symlink(name, tmp), 0);
	assert_int_equal(rename(tmp, b->link), 0);
	return b;
}

static struct slot *bus_slot(struct bus *b, const char *addr, bool silent, int switch_baud,
			     unsigned watts)
{
	assert_true(b->nslots < BUS_SLOTS);
	struct slot *sl = &b->slots[b->nslots++];
	snprintf(sl->addr, sizeof sl->addr, "%s", addr);
	sl->silent = silent;
	sl->switch_baud = switch_baud;
	sl->watts = watts;
	return sl;
}

static void bus_start(struct bus *b)
{
	assert_int_equal(pthread_create(&b->tid, NULL, bus_main, b), 0);
}

static void bus_free(struct bus *b)
{
	pthread_mutex_lock(&b->mu);
	b->quit = true;
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->tid, NULL);
	unlink(b->link);
	close(b->master);
	close(b->slave);
	rmdir(b->dir);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* Wait until *counter >= n (read under b->mu) or deadline_ms passed. */
static bool bus_wait(struct bus *b, const unsigned *counter, unsigned n, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;
	bool ok;

	pthread_mutex_lock(&b->mu);
	while (!(ok = *counter >= n)) {
		int64_t left = end - mono_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (left > 20 ? 20 : left) * 1000000LL;
		ts.tv_sec += (time_t)(ns / 1000000000LL);
		ts.tv_nsec = (long)(ns % 1000000000LL);
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
	}
	pthread_mutex_unlock(&b->mu);
	return ok;
}

static unsigned bus_get(struct bus *b, const unsigned *counter)
{
	pthread_mutex_lock(&b->mu);
	unsigned v = *counter;
	pthread_mutex_unlock(&b->mu);
	return v;
}

/* Wait until the pty runs at speed (the reader restores its line). */
static bool bus_wait_speed(struct bus *b, speed_t want, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;
	for (;;) {
		if (bus_speed(b) == want)
			return true;
		if (mono_ms() >= end)
			return false;
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL); /* termios changes raise no event: poll them */
	}
}

static size_t count_ev_locked(struct cap *c, const struct sm_meter_cfg *m)
{
	return count_ev(c, m);
}

struct evq {
	const struct sm_meter_cfg *m;
	size_t n;
};

static bool p_ev_of(struct cap *c, const void *arg)
{
	const struct evq *q = arg;
	return count_ev_locked(c, q->m) >= q->n;
}

static bool wait_ev_of(struct cap *c, const struct sm_meter_cfg *m, size_t n, int deadline_ms)
{
	struct evq q = {m, n};
	return cap_wait(c, p_ev_of, &q, deadline_ms);
}

/* ---- polled tests ---- */

static void test_poll_session(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *sl = bus_slot(b, "", false, 9600, 700);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	bus_start(b);
	poll_meter_init(&m, "optical", b->link, NULL);
	m.line.baud = 2400; /* the port's own line, restored after every session */
	m.max_baud = 9600;
	m.baud_switch_delay_s = 0.15;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(wait_ev_of(c, &m, 3, 3000));
	assert_true(bus_wait_speed(b, B2400, 1000));
	sm_reader_stop(r);
	sm_reader_join(r);

	pthread_mutex_lock(&c->mu);
	size_t nev = c->nev;
	for (size_t i = 0; i < nev; i++) {
		struct ev *e = &c->ev[i];
		assert_ptr_equal(e->m, &m);
		assert_int_equal(e->n, 1);
		assert_int_equal(e->watts, (long)(700 + i));
		assert_true(e->interval_s == 0.4); /* the poll interval */
		assert_true(e->rx_ms > 0 && llabs(e->rx_ms - (int64_t)time(NULL) * 1000) < 10000);
		assert_string_equal(e->tname, "sm:ttyBus");
		if (i > 0) {
			/* one poll per Interval: not more often, not much later */
			int64_t gap = e->mono - c->ev[i - 1].mono;
			assert_true(gap >= 400 - 40);
			assert_true(gap < 400 + 200);
		}
	}
	pthread_mutex_unlock(&c->mu);

	pthread_mutex_lock(&b->mu);
	assert_true(sl->requests >= 3 && sl->answers >= 3);
	assert_int_equal(sl->req_speed, B300);    /* the sign-on at 300 Bd */
	assert_int_equal(sl->reply_speed, B9600); /* the answer after the switch */
	for (unsigned k = 0; k < 3; k++) {
		/* WAIT honoured, and not much longer than asked */
		int64_t pause = sl->switch_ms[k] - sl->req_ms[k];
		print_message("poll %u: switched %" PRId64 " ms after the request\n", k, pause);
		assert_true(pause >= 150 - 30);
		assert_true(pause < 150 + 150);
	}
	assert_true(b->signoffs >= 3);
	assert_int_equal(b->unknown, 0);
	pthread_mutex_unlock(&b->mu);

	struct sm_stats st;
	sm_reader_stats(r, 0, &st);
	assert_int_equal(st.frames, nev);
	assert_true(st.bytes >= nev * 7); /* "V=700\r\n" */
	assert_int_equal(st.crc + st.decode + st.auth + st.timeout + st.reconnect + st.unchecked, 0);
	assert_true(st.last_frame_ms > 0);
	assert_int_equal(count_log(c, ""), 0);
	sm_reader_destroy(r);
	bus_free(b);
	cap_free(c);
}

static void test_poll_bites_select(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	bus_slot(b, "0042", false, 0, 9000);
	struct sm_meter_cfg m, o;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	bus_start(b);
	/* no pause, no speed switch; the session takes 3 bytes at a time */
	poll_meter_init(&m, "bites", b->link, "0042");
	m.wakeup = true;
	m.interval_s = 0.1;
	m.nselect = 1;
	m.select[0] = (char *)"power_import";
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(wait_ev_of(c, &m, 3, 3000));
	assert_true(reader_end(r) < 250);
	pthread_mutex_lock(&c->mu);
	size_t nev = c->nev;
	for (size_t i = 0; i < nev; i++)
		assert_int_equal(c->ev[i].watts, (long)(9000 + i));
	pthread_mutex_unlock(&c->mu);

	/* Select that leaves nothing: polled, counted, not emitted */
	poll_meter_init(&o, "none", b->link, "0042");
	o.interval_s = 0.1;
	o.nselect = 1;
	o.select[0] = (char *)"voltage_l1";
	ms[0] = &o;
	r = reader_new(c, ms, 1, false, false);
	assert_true(wait_frames(c, r, 0, 2, 3000));
	sm_reader_stop(r);
	sm_reader_join(r);
	assert_int_equal(cap_nev(c), nev);
	sm_reader_destroy(r);
	bus_free(b);
	cap_free(c);
}

static void test_poll_silent(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *sl = bus_slot(b, "7", true, 0, 100);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	char want[200];
	(void)state;

	bus_start(b);
	poll_meter_init(&m, "quiet", b->link, "7");
	m.timeout_s = 0.1;
	m.interval_s = 0.2;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(wait_log(c, "no answer", 1, 2000));
	/* every poll is a timeout, logged once (rate limited) */
	assert_true(bus_wait(b, &sl->requests, 3, 3000));
	struct sm_stats st;
	int64_t end = mono_ms() + 2000;
	do {
		sm_reader_stats(r, 0, &st);
	} while (st.timeout < 2 && mono_ms() < end && !wait_log(c, "never", 1, 10));
	assert_true(st.timeout >= 2);
	assert_int_equal(st.frames + st.decode + st.crc, 0);
	assert_int_equal(count_log(c, ""), 1);
	snprintf(want, sizeof want, "meter \"quiet\" (%s): no answer to the sign-on", b->link);
	pthread_mutex_lock(&c->mu);
	assert_string_equal(c->log[0], want);
	assert_int_equal(c->level[0], SM_LOG_WARNING);
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(cap_nev(c), 0);

	/* it answers again: values, and the recovery is logged once */
	pthread_mutex_lock(&b->mu);
	sl->silent = false;
	pthread_mutex_unlock(&b->mu);
	assert_true(wait_ev_of(c, &m, 1, 2000));
	assert_true(wait_log(c, "answers again after", 1, 1000));
	snprintf(want, sizeof want, "meter \"quiet\" (%s): answers again after ", b->link);
	assert_int_equal(count_log(c, want), 1);
	assert_int_equal(count_log(c, "stalled"), 0); /* no stall logic for polled meters */
	assert_true(reader_end(r) < 250);
	bus_free(b);
	cap_free(c);
}

static void test_poll_stop_latency(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *sl = bus_slot(b, "", true, 0, 1);
	struct sm_meter_cfg m;
	const struct sm_meter_cfg *ms[] = {&m};
	(void)state;

	bus_start(b);
	/* during a READ of up to 5 s */
	poll_meter_init(&m, "reading", b->link, NULL);
	m.timeout_s = 5;
	struct sm_reader *r = reader_new(c, ms, 1, false, false);
	assert_true(bus_wait(b, &sl->requests, 1, 2000));
	int64_t dt = reader_end(r);
	print_message("stop+join during READ took %" PRId64 " ms\n", dt);
	assert_true(dt < 250);

	/* during a WAIT of 5 s */
	poll_meter_init(&m, "waiting", b->link, NULL);
	m.baud_switch_delay_s = 5;
	m.max_baud = 9600;
	r = reader_new(c, ms, 1, false, false);
	assert_true(bus_wait(b, &sl->requests, 2, 2000));
	dt = reader_end(r);
	print_message("stop+join during WAIT took %" PRId64 " ms\n", dt);
	assert_true(dt < 250);

	/* a line setting the port refuses: logged (rate limited), the poll ends,
	 * the next one comes */
	poll_meter_init(&m, "badline", b->link, NULL);
	m.max_baud = -1;
	m.interval_s = 0.1;
	r = reader_new(c, ms, 1, false, false);
	assert_true(bus_wait(b, &sl->requests, 5, 3000));
	assert_true(reader_end(r) < 250);
	char want[200];
	snprintf(want, sizeof want,
		 "meter \"badline\" (%s): cannot switch the line to -1 9E1: data bits 9 not supported",
		 b->link);
	assert_int_equal(count_log(c, want), 1);
	assert_int_equal(count_log(c, "no answer"), 0);
	bus_free(b);
	cap_free(c);
}

static void test_poll_bus(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *s1 = bus_slot(b, "1", true, 0, 0);
	struct slot *s2 = bus_slot(b, "2", false, 0, 200);
	struct sm_meter_cfg m1, m2;
	const struct sm_meter_cfg *ms[] = {&m1, &m2};
	(void)state;

	bus_start(b);
	poll_meter_init(&m1, "silent", b->link, "1");
	poll_meter_init(&m2, "talks", b->link, "2");
	m1.timeout_s = m2.timeout_s = 0.2;
	m1.interval_s = m2.interval_s = 0.3;
	struct sm_reader *r = reader_new(c, ms, 2, false, false);
	assert_true(wait_ev_of(c, &m2, 5, 5000));
	sm_reader_stop(r);
	sm_reader_join(r);

	pthread_mutex_lock(&c->mu);
	int64_t prev = -1;
	for (size_t i = 0; i < c->nev; i++) {
		struct ev *e = &c->ev[i];
		assert_ptr_equal(e->m, &m2); /* nothing from the silent one */
		assert_true(pthread_equal(e->tid, c->ev[0].tid));
		if (prev >= 0) {
			/* polled every cycle: delayed by the silent meter's
			 * timeout at most */
			int64_t gap = e->mono - prev;
			assert_true(gap >= 300 - 40);
			assert_true(gap < 300 + 200);
		}
		prev = e->mono;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&b->mu);
	print_message("bus order: %.*s\n", (int)b->norder, b->order);
	assert_true(s1->requests >= 5 && s2->requests >= 5);
	for (size_t i = 0; i + 1 < b->norder; i++)
		assert_true(b->order[i] != b->order[i + 1]); /* in turn */
	assert_int_equal(b->unknown, 0);
	pthread_mutex_unlock(&b->mu);
	struct sm_stats st1, st2;
	sm_reader_stats(r, 0, &st1);
	sm_reader_stats(r, 1, &st2);
	assert_true(st1.timeout >= 4);
	assert_int_equal(st1.frames, 0);
	assert_int_equal(st2.timeout, 0);
	assert_true(st2.frames >= 5);
	assert_int_equal(count_log(c, "meter \"silent\""), 1);
	assert_int_equal(count_log(c, "meter \"talks\""), 0);
	sm_reader_destroy(r);
	bus_free(b);
	cap_free(c);
}

static void test_poll_trigger(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *s1 = bus_slot(b, "A1", false, 0, 10);
	struct slot *s2 = bus_slot(b, "A2", false, 0, 20);
	struct sm_meter_cfg m1, m2;
	const struct sm_meter_cfg *ms[] = {&m1, &m2};
	(void)state;

	bus_start(b);
	poll_meter_init(&m1, "t1", b->link, "A1");
	poll_meter_init(&m2, "t2", b->link, "A2");
	m1.interval_s = m2.interval_s = 0.05; /* no schedule in trigger mode */
	struct sm_reader *r = reader_new(c, ms, 2, true, false);
	assert_false(bus_wait(b, &s1->requests, 1, 300)); /* nothing without a trigger */
	for (unsigned k = 1; k <= 2; k++) {
		sm_reader_trigger(r);
		size_t want = 2 * k;
		assert_true(cap_wait(c, p_nev, &want, 2000));
		assert_int_equal(bus_get(b, &s1->requests), k);
		assert_int_equal(bus_get(b, &s2->requests), k);
	}
	/* and no more polls until the next trigger */
	assert_false(bus_wait(b, &s1->requests, 3, 300));
	assert_true(reader_end(r) < 250);
	pthread_mutex_lock(&c->mu);
	assert_int_equal(c->nev, 4);
	assert_ptr_equal(c->ev[0].m, &m1);
	assert_int_equal(c->ev[0].watts, 10);
	assert_ptr_equal(c->ev[1].m, &m2);
	assert_int_equal(c->ev[1].watts, 20);
	assert_int_equal(c->ev[2].watts, 11);
	assert_int_equal(c->ev[3].watts, 21);
	assert_true(c->ev[0].interval_s == 0.05);
	pthread_mutex_unlock(&c->mu);
	bus_free(b);
	cap_free(c);
}

static void test_poll_with_push(void **state)
{
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	bus_slot(b, "", false, 0, 300);
	b->push_after_bye = true; /* a DSMR telegram after every poll */
	struct sm_meter_cfg p, q;
	const struct sm_meter_cfg *ms[] = {&p, &q};
	(void)state;

	meter_init(&p, "p1", b->link);
	p.line = (struct sm_line){300, 7, SM_PARITY_EVEN, 1};
	poll_meter_init(&q, "optical", b->link, NULL);
	q.interval_s = 0.15;
	bus_start(b);
	struct sm_reader *r = reader_new(c, ms, 2, false, false);
	assert_true(wait_ev_of(c, &p, 3, 3000));
	assert_true(wait_ev_of(c, &q, 3, 3000));
	sm_reader_stop(r);
	sm_reader_join(r);
	pthread_mutex_lock(&c->mu);
	long pw = 5000, qw = 300;
	for (size_t i = 0; i < c->nev; i++) {
		struct ev *e = &c->ev[i];
		if (e->m == &p) {
			assert_int_equal(e->watts, pw++);
			assert_true(e->has_t1 && e->has_id);
		} else {
			assert_ptr_equal(e->m, &q);
			assert_int_equal(e->n, 1);
			assert_int_equal(e->watts, qw++);
		}
	}
	pthread_mutex_unlock(&c->mu);
	struct sm_stats sp, sq;
	sm_reader_stats(r, 0, &sp);
	sm_reader_stats(r, 1, &sq);
	assert_int_equal(sp.crc + sp.decode + sp.timeout, 0);
	assert_int_equal(sq.crc + sq.decode + sq.timeout, 0);
	assert_true(sp.frames >= 3 && sq.frames >= 3);
	assert_int_equal(count_log(c, ""), 0);
	sm_reader_destroy(r);
	bus_free(b);
	cap_free(c);
}

static void test_poll_iec62056_21(void **state)
{
	const struct sm_proto *iec = sm_proto_find("iec62056-21");
	(void)state;
	if (iec == NULL) {
		print_message("protocol iec62056-21 not in this build: skipped\n");
		skip();
	}
	struct cap *c = cap_new();
	struct bus *b = bus_new();
	struct slot *s1 = bus_slot(b, "00000001", false, 0, 1500);
	struct slot *s2 = bus_slot(b, "00000002", false, 0, 2500);
	s1->iec = s2->iec = true;
	s2->bad_bcc_once = true;
	struct sm_meter_cfg m1, m2;
	const struct sm_meter_cfg *ms[] = {&m1, &m2};

	/* two addressed mode C meters on one RS485 bus, set up as the
	 * validator leaves them */
	struct sm_meter_cfg *cfgs[] = {&m1, &m2};
	for (size_t i = 0; i < 2; i++) {
		struct sm_meter_cfg *m = cfgs[i];
		memset(m, 0, sizeof *m);
		m->name = (char *)(i == 0 ? "m1" : "m2");
		m->proto = iec;
		m->device = b->link;
		m->address = (char *)(i == 0 ? "00000001" : "00000002");
		m->iec_mode = 'C';
		iec->line_defaults(m, &m->line);
		m->timeout_s = SM_DEFAULT_TIMEOUT_S;
		m->interval_s = 0.4;
		assert_true(sm_proto_is_polled(m));
	}
	m1.max_baud = 2400;          /* the meter offers 9600: capped */
	m1.baud_switch_delay_s = 0.1;
	m2.baud_switch_delay_s = 0.05;
	bus_start(b);
	struct sm_reader *r = reader_new(c, ms, 2, false, false);
	assert_true(wait_ev_of(c, &m1, 2, 4000));
	assert_true(wait_ev_of(c, &m2, 2, 4000));
	sm_reader_stop(r);
	sm_reader_join(r);

	pthread_mutex_lock(&c->mu);
	long w1 = 1500, w2 = 2501; /* m2's first readout had a wrong BCC */
	for (size_t i = 0; i < c->nev; i++) {
		struct ev *e = &c->ev[i];
		assert_int_equal(e->n, 3); /* energy_import, power_import, 0.0.0 */
		assert_int_equal(e->watts, e->m == &m1 ? w1++ : w2++);
		assert_true(e->interval_s == 0.4);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&b->mu);
	print_message("bus order: %.*s\n", (int)b->norder, b->order);
	assert_int_equal(s1->req_speed, B300);
	assert_int_equal(s1->ack_speed, B300); /* the ACK at the old speed */
	assert_int_equal(s1->ack_char, '3');   /* 9600 offered, MaxBaudrate 2400 */
	assert_int_equal(s1->reply_speed, B2400);
	assert_int_equal(s2->ack_char, '5');
	assert_int_equal(s2->reply_speed, B9600);
	for (unsigned k = 0; k < 2; k++) {
		int64_t pause = s1->switch_ms[k] - s1->ack_ms[k];
		print_message("m1 poll %u: switched %" PRId64 " ms after the ACK\n", k, pause);
		assert_true(pause >= 100 - 30 && pause < 100 + 150);
	}
	for (size_t i = 0; i + 1 < b->norder; i++)
		assert_true(b->order[i] != b->order[i + 1]); /* in turn */
	assert_int_equal(b->unknown, 0);
	pthread_mutex_unlock(&b->mu);
	struct sm_stats st1, st2;
	sm_reader_stats(r, 0, &st1);
	sm_reader_stats(r, 1, &st2);
	assert_int_equal(st1.crc + st1.decode + st1.timeout, 0);
	assert_int_equal(st2.crc, 1);
	assert_int_equal(st2.decode + st2.timeout, 0);
	char want[160];
	snprintf(want, sizeof want, "meter \"m2\" (%s): BCC mismatch", b->link);
	assert_int_equal(count_log(c, want), 1);
	sm_reader_destroy(r);
	bus_free(b);
	cap_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logrl),
		cmocka_unit_test(test_pty_meter),
		cmocka_unit_test(test_two_meters_select),
		cmocka_unit_test(test_backoff_and_recovery),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_crc_errors),
		cmocka_unit_test(test_ignore_checksum),
		cmocka_unit_test(test_trigger),
		cmocka_unit_test(test_file_eof),
		cmocka_unit_test(test_tcp_bridge),
		cmocka_unit_test(test_start_fn),
		cmocka_unit_test(test_thread_signals),
		cmocka_unit_test(test_poll_session),
		cmocka_unit_test(test_poll_bites_select),
		cmocka_unit_test(test_poll_silent),
		cmocka_unit_test(test_poll_stop_latency),
		cmocka_unit_test(test_poll_bus),
		cmocka_unit_test(test_poll_trigger),
		cmocka_unit_test(test_poll_with_push),
		cmocka_unit_test(test_poll_iec62056_21),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
