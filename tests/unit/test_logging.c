/*
 * test_logging.c - what the reader says about failures, and that no key
 * ever reaches a log line.
 *
 *  - logrl's back-off over simulated days (pure function, fake time).
 *  - Every failure class of the reader on its own port (pseudo-terminals,
 *    a TCP bridge on 127.0.0.1, a missing device), all at once: many
 *    failures within about a second, then recovery.  Each class must log
 *    exactly one start message and one recovery message, both naming the
 *    meter (port-level ones: the port and its meters), the device and the
 *    reason, and nothing else.
 *  - Keys: DLMS and Smarty meters with a wrong Key or AuthKey fed real
 *    encrypted frames (made here with the right keys, and the shared
 *    fixtures when SM_SHARED has them), and configuration errors about
 *    Key, AuthKey and KeyFile: no line holds a key's hex digits (any case,
 *    grouped or not) or its bytes.
 *
 * Every wait is for an event with a deadline; the only timed pauses are the
 * simulated meters' send periods.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "crc.h"
#include "dlms.h"
#include "gcm.h"
#include "logrl.h"
#include "modbus_link.h"
#include "obis.h"
#include "proto.h"
#include "reader.h"
#include "reading.h"
#include "sml.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The step of loops that look at a condition until a deadline. */
static void nap(int ms)
{
	(void)poll(NULL, 0, ms);
}

/* ---- log capture (one per reader) ---- */

#define LC_MAX 4096

struct logcap {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *tag;
	size_t n, lost;
	int level[LC_MAX];
	char *line[LC_MAX];
};

static struct logcap *lc_new(const char *tag)
{
	struct logcap *c = calloc(1, sizeof *c);
	pthread_condattr_t ca;

	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->tag = tag;
	return c;
}

static void lc_free(struct logcap *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->line[i]);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void lc_fn(void *ctx, enum sm_log_level level, const char *msg)
{
	struct logcap *c = ctx;

	pthread_mutex_lock(&c->mu);
	if (c->n < LC_MAX) {
		c->line[c->n] = strdup(msg);
		c->level[c->n] = (int)level;
		if (c->line[c->n] != NULL)
			c->n++;
		else
			c->lost++;
	} else {
		c->lost++;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (getenv("SM_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[%s] log %d: %s\n", c->tag, (int)level, msg);
}

/* Lines (not DEBUG) that contain needle. */
static size_t lc_count(struct logcap *c, const char *needle)
{
	size_t k = 0;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		k += c->level[i] != SM_LOG_DEBUG && strstr(c->line[i], needle) != NULL;
	pthread_mutex_unlock(&c->mu);
	return k;
}

/* Index of the first line (not DEBUG) with needle, -1 if none. */
static long lc_find(struct logcap *c, const char *needle)
{
	long at = -1;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n && at < 0; i++)
		if (c->level[i] != SM_LOG_DEBUG && strstr(c->line[i], needle) != NULL)
			at = (long)i;
	pthread_mutex_unlock(&c->mu);
	return at;
}

static void lc_print(struct logcap *c)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		print_message("  [%s] %d: %s\n", c->tag, c->level[i], c->line[i]);
	pthread_mutex_unlock(&c->mu);
}

/* ---- sink: counts emitted sets ---- */

struct sinkcap {
	atomic_uint sets;
};

static void sink_emit(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		      int64_t rx_ms, double interval_s)
{
	struct sinkcap *k = ctx;

	(void)m;
	(void)s;
	(void)rx_ms;
	(void)interval_s;
	atomic_fetch_add(&k->sets, 1u);
}

/* ---- pseudo-terminals ---- */

struct pty {
	pthread_mutex_t mu; /* master: the device threads write, the main thread plugs */
	int master, slave;
	char dir[64], link[96];
};

static void pty_init(struct pty *p)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	p->master = p->slave = -1;
	snprintf(p->dir, sizeof p->dir, "/tmp/sm-lg-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->link, sizeof p->link, "%s/tty", p->dir);
}

static void pty_plug(struct pty *p)
{
	struct termios tio;
	char name[64], tmp[128];
	int m, s;

	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	assert_int_equal(openpty(&m, &s, name, &tio, NULL), 0);
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	snprintf(tmp, sizeof tmp, "%s.new", p->link);
	unlink(tmp);
	assert_int_equal(symlink(name, tmp), 0);
	assert_int_equal(rename(tmp, p->link), 0);
	pthread_mutex_lock(&p->mu);
	p->master = m;
	p->slave = s;
	pthread_mutex_unlock(&p->mu);
}

static void pty_fini(struct pty *p)
{
	unlink(p->link);
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	rmdir(p->dir);
	pthread_mutex_destroy(&p->mu);
}

/* Write all of buf to fd within deadline_ms (non-blocking fd).  No cmocka
 * asserts: device threads use it. */
static bool write_all(int fd, const uint8_t *buf, size_t n, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;

	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		int left = (int)(end - mono_ms());
		if (left <= 0)
			return false;
		struct pollfd pf = {fd, POLLOUT, 0};
		(void)poll(&pf, 1, left < 20 ? left : 20);
	}
	return true;
}

/* ---- frames ---- */

/* A DSMR 5 telegram: power_import W watts; with its CRC, a wrong one, or no
 * objects at all (a valid CRC over a telegram that holds no readings). */
enum tel_kind { TEL_GOOD, TEL_BAD_CRC, TEL_EMPTY };

static size_t telegram(uint8_t *out, size_t cap, unsigned watts, enum tel_kind kind)
{
	char *o = (char *)out;
	int n;

	if (kind == TEL_EMPTY)
		n = snprintf(o, cap, "/XMX5LGBBFG1009\r\n\r\n!");
	else
		n = snprintf(o, cap,
			     "/XMX5LGBBFG1009\r\n\r\n"
			     "1-3:0.2.8(50)\r\n"
			     "0-0:96.1.1(4530303331303033333738333836373136)\r\n"
			     "1-0:1.8.1(001234.567*kWh)\r\n"
			     "1-0:1.7.0(%02u.%03u*kW)\r\n"
			     "!",
			     watts / 1000, watts % 1000);
	if (n <= 0 || (size_t)n + 7 > cap)
		return 0;
	uint16_t crc = sm_crc16_arc(0, out, (size_t)n);
	if (kind == TEL_BAD_CRC)
		crc ^= 0x1111;
	n += snprintf(o + n, cap - (size_t)n, "%04X\r\n", crc);
	return (size_t)n;
}

/* A reading set with energy and power, for the binary encoders. */
static struct sm_reading_set *sample_set(void)
{
	struct sm_reading_set *s = calloc(1, sizeof *s);
	struct sm_obis e = sm_obis_make5(1, 0, 1, 8, 0), p = sm_obis_make5(1, 0, 1, 7, 0);

	assert_non_null(s);
	sm_set_clear(s);
	assert_int_equal(sm_set_add_number(s, &e, 1234567, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	assert_int_equal(sm_set_add_number(s, &p, 815, 0, SM_UNIT_W, NULL, 0, 0), SM_OK);
	sm_set_finish(s);
	return s;
}

static const uint8_t TITLE[8] = {'S', 'M', 'T', 0x01, 0x23, 0x45, 0x67, 0x89};

/*
 * General-glo-ciphering with security control 0x30 whose tag covers an
 * empty AAD (how meters without an AuthKey authenticate; sm_gcm_seal makes
 * tags over SC || AuthKey only).  Device threads call it: no asserts.
 */
static size_t seal_no_aad(const uint8_t key[SM_KEY_LEN], uint32_t fc, const uint8_t *plain, size_t n,
			  uint8_t *out, size_t cap)
{
	size_t len = 5 + n + SM_GCM_TAG_LEN, hdr = 2 + 8 + (len < 0x80 ? 1 : len <= 0xFF ? 2 : 3);
	uint8_t iv[12];
	int outl = 0, fl = 0;
	bool ok;

	if (hdr + len > cap)
		return 0;
	size_t w = 0;
	out[w++] = 0xDB;
	out[w++] = 8;
	memcpy(out + w, TITLE, 8);
	w += 8;
	if (len >= 0x80 && len <= 0xFF) {
		out[w++] = 0x81;
	} else if (len > 0xFF) {
		out[w++] = 0x82;
		out[w++] = (uint8_t)(len >> 8);
	}
	out[w++] = (uint8_t)len;
	out[w++] = 0x30;
	for (int i = 3; i >= 0; i--)
		out[w++] = (uint8_t)(fc >> (8 * i));
	memcpy(iv, TITLE, 8);
	memcpy(iv + 8, out + w - 4, 4);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return 0;
	ok = EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_EncryptInit_ex(c, NULL, NULL, key, iv) == 1 &&
	     EVP_EncryptUpdate(c, out + w, &outl, plain, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(c, out + w + outl, &fl) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SM_GCM_TAG_LEN, out + w + n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? w + n + SM_GCM_TAG_LEN : 0;
}

/* ---- a fake polled protocol: SET_LINE, SEND "?\n", READ "V\r\n" ----
 * Each meter's behaviour comes from the control block named like it. */

struct fp_ctl {
	const char *name;
	atomic_bool bad_line; /* ask for 9 data bits, which every port refuses */
	atomic_bool silent;   /* the device does not answer */
};

static struct fp_ctl fp_ctls[] = {{"polltime", false, false}, {"pollline", false, false}};

static struct fp_ctl *fp_ctl_of(const char *name)
{
	for (size_t i = 0; i < sizeof fp_ctls / sizeof fp_ctls[0]; i++)
		if (strcmp(fp_ctls[i].name, name) == 0)
			return &fp_ctls[i];
	return NULL;
}

struct fp_state {
	struct fp_ctl *ctl;
	int step;
};

static const uint8_t fp_req[] = {'?', '\n'};

static enum sm_err fp_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct fp_state *s = st;

	s->ctl = fp_ctl_of(cfg->name);
	if (s->ctl == NULL) {
		sm_diag_set(diag, "no control block");
		return SM_E_CONFIG;
	}
	return SM_OK;
}

static enum sm_err fp_start(void *st, struct sm_action *act)
{
	struct fp_state *s = st;

	s->step = 1;
	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_SET_LINE;
	act->line = (struct sm_line){9600, atomic_load(&s->ctl->bad_line) ? 9 : 8, SM_PARITY_NONE, 1};
	return SM_OK;
}

static enum sm_err fp_event(void *st, const uint8_t *in, size_t n, size_t *used, bool timed_out,
			    struct sm_action *act, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct fp_state *s = st;

	*used = 0;
	switch (s->step) {
	case 1:
		memset(act, 0, sizeof *act);
		act->kind = SM_ACT_SEND;
		act->data = fp_req;
		act->len = sizeof fp_req;
		s->step = 2;
		return SM_OK;
	case 2:
		memset(act, 0, sizeof *act);
		act->kind = SM_ACT_READ;
		act->ms = 60;
		s->step = 3;
		return SM_OK;
	case 3:
		if (timed_out) {
			memset(act, 0, sizeof *act);
			act->kind = SM_ACT_DONE;
			sm_diag_set(&info->diag, "no answer to the request");
			return SM_E_TIMEOUT;
		}
		for (size_t i = 0; i < n; i++) {
			if (in[i] != '\n')
				continue;
			*used = i + 1;
			struct sm_obis o = sm_obis_make5(1, 0, 1, 7, 0);
			sm_set_clear(out);
			if (sm_set_add_number(out, &o, 123, 0, SM_UNIT_W, NULL, 0, 0) != SM_OK)
				return SM_E_INTERNAL;
			sm_set_finish(out);
			info->check = SM_CHECK_OK;
			memset(act, 0, sizeof *act);
			act->kind = SM_ACT_DONE;
			return SM_READINGS;
		}
		*used = n;
		memset(act, 0, sizeof *act);
		act->kind = SM_ACT_READ;
		act->ms = 60;
		return SM_OK;
	default:
		memset(act, 0, sizeof *act);
		act->kind = SM_ACT_DONE;
		return SM_OK;
	}
}

static const struct sm_proto fp_proto = {
	.name = "fakepoll",
	.description = "scripted polled protocol of test_logging",
	.line = {9600, 8, SM_PARITY_NONE, 1},
	.state_size = sizeof(struct fp_state),
	.init = fp_init,
	.poll_start = fp_start,
	.poll_event = fp_event,
};

/* ---- scenarios: one reader each, on its own port ---- */

enum dev_kind {
	DEV_NONE,   /* nothing on the far side (a missing device, plugged on recovery) */
	DEV_PUSH,   /* a thread writes frame() every PERIOD_MS */
	DEV_TCP,    /* a TCP bridge: closes each connection, then serves telegrams */
	DEV_MODBUS, /* an RTU bus of two slaves */
	DEV_POLL,   /* answers the fake polled protocol */
};

#define PERIOD_MS 20

/* One failure class and how its messages are recognised. */
struct expect {
	const char *meter;   /* the meter it is about */
	bool port_level;     /* "port "dev" (meter x): ..." */
	const char *start;   /* in the start message: the reason */
	const char *recover; /* in the recovery message */
	unsigned min_count;  /* the "after N" of the recovery message, 0: not a count */
};

struct scen;
typedef size_t (*frame_fn)(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap);
typedef uint64_t (*count_fn)(struct scen *s);

struct scen {
	const char *title;
	enum dev_kind dev;
	char device[160];
	struct expect ex[3];
	size_t nex;
	const char *also;  /* a message of another kind this port may log once, or NULL */
	frame_fn frame;
	count_fn failures; /* failures so far (statistics) */
	uint64_t min_failures;
	int64_t min_ms;    /* or: at least this long failing */

	struct logcap *lc;
	struct sinkcap sink;
	struct sm_config cfg;
	bool have_cfg;
	struct sm_meter_cfg hand;         /* a meter of the fake protocol */
	const struct sm_meter_cfg *hand_m[1];
	struct sm_port hand_port;
	struct sm_port *ports;
	size_t nports;
	struct sm_reader *r;

	struct pty pty;
	bool have_pty;
	int lfd;
	pthread_t tid;
	bool thread;
	atomic_bool recover, quit;
	int64_t t_fail;

	/* frame material, made before the threads start */
	uint8_t good[600], bad[600], empty[200], plain[600], sml_k[600], sml_x[600];
	size_t goodlen, badlen, emptylen, plainlen, sml_klen, sml_xlen;
	struct sm_gcm *g_fail, *g_ok;
	uint8_t key[SM_KEY_LEN];
	uint32_t fc;
	/* Modbus */
	struct sm_mb_responder *resp;
	struct sm_mb_image *img;
};

static void scen_meter(struct scen *s, const char *name, const char *const *flags)
{
	struct sm_meter_cfg *m = NULL;
	char err[512];

	if (!s->have_cfg) {
		sm_config_init(&s->cfg);
		s->have_cfg = true;
	}
	assert_int_equal(sm_config_add_meter(&s->cfg, name, &m, err, sizeof err), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "device", s->device, err, sizeof err), SM_OK);
	for (size_t i = 0; flags[i] != NULL; i += 2) {
		enum sm_err rc = sm_meter_set_flag(m, flags[i], flags[i + 1], err, sizeof err);
		if (rc != SM_OK)
			print_error("%s: --%s: %s\n", s->title, flags[i], err);
		assert_int_equal(rc, SM_OK);
	}
}

static void scen_ports(struct scen *s)
{
	char err[512];

	enum sm_err rc = sm_config_validate(&s->cfg, err, sizeof err);
	if (rc != SM_OK)
		print_error("%s: %s\n", s->title, err);
	assert_int_equal(rc, SM_OK);
	assert_int_equal(sm_config_ports(&s->cfg, &s->ports, &s->nports), SM_OK);
	assert_int_equal(s->nports, 1);
}

static void scen_expect(struct scen *s, const char *meter, bool port_level, const char *start,
			const char *recover, unsigned min_count)
{
	assert_true(s->nex < sizeof s->ex / sizeof s->ex[0]);
	s->ex[s->nex++] = (struct expect){meter, port_level, start, recover, min_count};
}

static uint64_t stat_of(struct scen *s, size_t i, size_t off)
{
	struct sm_stats st;

	sm_reader_stats(s->r, i, &st);
	return *(const uint64_t *)((const char *)&st + off);
}

static uint64_t n_crc(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, crc)); }
static uint64_t n_decode(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, decode)); }
static uint64_t n_auth(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, auth)); }
static uint64_t n_timeout(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, timeout)); }
static uint64_t n_reconnect(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, reconnect)); }
static uint64_t n_unchecked(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, unchecked)); }
static uint64_t n_fallback(struct scen *s) { return stat_of(s, 0, offsetof(struct sm_stats, crc_fallback)); }
static uint64_t n_unauth(struct scen *s)
{
	return stat_of(s, 0, offsetof(struct sm_stats, unauthenticated));
}

/* Modbus: meter 0 answers with exceptions, meter 1 is dead: the smaller. */
static uint64_t n_modbus(struct scen *s)
{
	uint64_t e = stat_of(s, 0, offsetof(struct sm_stats, exception));
	uint64_t t = stat_of(s, 1, offsetof(struct sm_stats, timeout));
	return e < t ? e : t;
}

/* ---- frame makers (device threads: no asserts) ---- */

static size_t fr_dsmr(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	(void)tick;
	const uint8_t *p = recover ? s->good : s->bad;
	size_t n = recover ? s->goodlen : s->badlen;
	if (n > cap)
		return 0;
	memcpy(out, p, n);
	return n;
}

static size_t fr_decode(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	(void)tick;
	const uint8_t *p = recover ? s->good : s->empty;
	size_t n = recover ? s->goodlen : s->emptylen;
	if (n > cap)
		return 0;
	memcpy(out, p, n);
	return n;
}

/* Failing: two telegrams, then a pause of 10 periods (Timeout is 0.1 s). */
static size_t fr_stall(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	if (!recover && tick % 12 >= 2)
		return 0;
	if (s->goodlen > cap)
		return 0;
	memcpy(out, s->good, s->goodlen);
	return s->goodlen;
}

static size_t fr_smarty(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	size_t n = 0;
	(void)tick;
	if (sm_gcm_seal(recover ? s->g_ok : s->g_fail, TITLE, ++s->fc, 0x30, s->plain, s->plainlen, out, cap,
			&n) != SM_OK)
		return 0;
	return n;
}

static size_t fr_unauth(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	size_t n = 0;
	(void)tick;
	if (recover)
		return seal_no_aad(s->key, ++s->fc, s->plain, s->plainlen, out, cap);
	if (sm_gcm_seal(s->g_ok, TITLE, ++s->fc, 0x20, s->plain, s->plainlen, out, cap, &n) != SM_OK)
		return 0;
	return n;
}

static size_t fr_sml(struct scen *s, bool recover, unsigned tick, uint8_t *out, size_t cap)
{
	(void)tick;
	const uint8_t *p = recover ? s->sml_x : s->sml_k;
	size_t n = recover ? s->sml_xlen : s->sml_klen;
	if (n > cap)
		return 0;
	memcpy(out, p, n);
	return n;
}

/* ---- device threads ---- */

static void tick_wait(struct scen *s)
{
	struct pollfd pf = {-1, 0, 0};
	(void)s;
	(void)poll(&pf, 0, PERIOD_MS); /* the meter's send period */
}

static void *push_main(void *arg)
{
	struct scen *s = arg;
	uint8_t buf[1024];

	for (unsigned tick = 0; !atomic_load(&s->quit); tick++) {
		size_t n = s->frame(s, atomic_load(&s->recover), tick, buf, sizeof buf);
		pthread_mutex_lock(&s->pty.mu);
		int fd = s->pty.master;
		pthread_mutex_unlock(&s->pty.mu);
		if (n > 0 && fd >= 0)
			(void)write_all(fd, buf, n, 200);
		tick_wait(s);
	}
	return NULL;
}

/* TCP: failing, every connection is closed at once; recovered, telegrams. */
static void *tcp_main(void *arg)
{
	struct scen *s = arg;

	while (!atomic_load(&s->quit)) {
		struct pollfd pf = {s->lfd, POLLIN, 0};
		if (poll(&pf, 1, PERIOD_MS) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (!atomic_load(&s->recover)) {
			close(fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		while (!atomic_load(&s->quit) && write_all(fd, s->good, s->goodlen, 200))
			tick_wait(s);
		close(fd);
	}
	return NULL;
}

/* An RTU bus: slave 1 answers with exception 6 (busy) while failing, slave
 * 2 not at all; recovered, both answer from the register image. */
static void *modbus_main(void *arg)
{
	struct scen *s = arg;
	uint8_t in[256], out[SM_MB_ADU_MAX];
	size_t len = 0;

	while (!atomic_load(&s->quit)) {
		struct pollfd pf = {s->pty.master, POLLIN, 0};
		if (poll(&pf, 1, PERIOD_MS) <= 0)
			continue;
		ssize_t got = read(s->pty.master, in + len, sizeof in - len);
		if (got <= 0)
			continue;
		len += (size_t)got;
		while (len >= 8) {
			uint16_t crc = sm_crc16_modbus(0xFFFF, in, 6);
			if ((in[1] != 3 && in[1] != 4) || in[6] != (uint8_t)crc || in[7] != (uint8_t)(crc >> 8)) {
				memmove(in, in + 1, --len);
				continue;
			}
			bool rec = atomic_load(&s->recover);
			size_t n = 0;
			enum sm_err rc = SM_E_INTERNAL;
			if (in[0] == 1 && !rec)
				rc = sm_mb_respond_exception(s->resp, in, 8, 6, out, sizeof out, &n);
			else if (in[0] == 1 || (in[0] == 2 && rec))
				rc = sm_mb_respond(s->resp, in, 8, s->img, out, sizeof out, &n);
			if (rc == SM_OK)
				(void)write_all(s->pty.master, out, n, 200);
			len -= 8;
			memmove(in, in + 8, len);
		}
	}
	return NULL;
}

/* The fake polled protocol's device: "V\r\n" to each "?\n" unless silent. */
static void *poll_main(void *arg)
{
	struct scen *s = arg;
	struct fp_ctl *ctl = fp_ctl_of(s->hand.name);
	uint8_t in[256];

	while (!atomic_load(&s->quit)) {
		struct pollfd pf = {s->pty.master, POLLIN, 0};
		if (poll(&pf, 1, PERIOD_MS) <= 0)
			continue;
		ssize_t got = read(s->pty.master, in, sizeof in);
		for (ssize_t i = 0; i < got; i++)
			if (in[i] == '\n' && !atomic_load(&ctl->silent))
				(void)write_all(s->pty.master, (const uint8_t *)"V\r\n", 3, 200);
	}
	return NULL;
}

/* ---- setting the scenarios up ---- */

static void scen_pty(struct scen *s, bool plugged)
{
	pty_init(&s->pty);
	s->have_pty = true;
	snprintf(s->device, sizeof s->device, "%s", s->pty.link);
	if (plugged)
		pty_plug(&s->pty);
}

static void scen_telegrams(struct scen *s)
{
	s->goodlen = telegram(s->good, sizeof s->good, 815, TEL_GOOD);
	s->badlen = telegram(s->bad, sizeof s->bad, 815, TEL_BAD_CRC);
	s->emptylen = telegram(s->empty, sizeof s->empty, 0, TEL_EMPTY);
	assert_true(s->goodlen > 0 && s->badlen > 0 && s->emptylen > 0);
}

static const char KEY_HEX[] = "8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C";
static const char AUTH_HEX[] = "D1C2B3A4958677685F4E3D2C1B0A9F8E";
static const char WRONG_HEX[] = "4B7E1A9C3D5F60718293A4B5C6D7E8F9";

static void hex_key(const char *hex, uint8_t out[SM_KEY_LEN])
{
	assert_int_equal(sm_key_parse_hex(hex, strlen(hex), out), SM_OK);
}

static struct sm_gcm *gcm_of(const char *key_hex, const char *auth_hex)
{
	uint8_t k[SM_KEY_LEN], a[SM_KEY_LEN];
	struct sm_gcm *g = NULL;

	hex_key(key_hex, k);
	if (auth_hex != NULL)
		hex_key(auth_hex, a);
	assert_int_equal(sm_gcm_new(k, auth_hex != NULL ? a : NULL, &g), SM_OK);
	return g;
}

static void setup_open(struct scen *s)
{
	s->title = "open";
	scen_pty(s, false);
	scen_meter(s, "opn", (const char *const[]){"protocol", "dsmr", NULL});
	scen_expect(s, "opn", true, "cannot open", "open recovered after", 4);
	s->min_ms = 700;
}

static void setup_lost(struct scen *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;

	s->title = "lost";
	s->dev = DEV_TCP;
	scen_telegrams(s);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	snprintf(s->device, sizeof s->device, "tcp://127.0.0.1:%u", ntohs(a.sin_port));
	scen_meter(s, "bridge", (const char *const[]){"protocol", "dsmr", NULL});
	scen_expect(s, "bridge", true, "connection closed by the peer, reopening", "reading recovered after", 3);
	s->failures = n_reconnect;
	s->min_failures = 3;
}

static void setup_crc(struct scen *s)
{
	s->title = "crc";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	scen_telegrams(s);
	s->frame = fr_dsmr;
	scen_meter(s, "crc", (const char *const[]){"protocol", "dsmr", NULL});
	scen_expect(s, "crc", false, "CRC", "checksum errors recovered after", 5);
	s->failures = n_crc;
	s->min_failures = 5;
}

static void setup_decode(struct scen *s)
{
	s->title = "decode";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	scen_telegrams(s);
	s->frame = fr_decode;
	scen_meter(s, "dec", (const char *const[]){"protocol", "dsmr", NULL});
	scen_expect(s, "dec", false, "holds no readings", "decode errors recovered after", 5);
	s->failures = n_decode;
	s->min_failures = 5;
}

static void setup_auth(struct scen *s)
{
	s->title = "auth";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	scen_telegrams(s);
	memcpy(s->plain, s->good, s->goodlen);
	s->plainlen = s->goodlen;
	s->g_fail = gcm_of(WRONG_HEX, AUTH_HEX); /* the meter changed its key */
	s->g_ok = gcm_of(KEY_HEX, AUTH_HEX);
	s->frame = fr_smarty;
	scen_meter(s, "lux",
		   (const char *const[]){"protocol", "dsmr", "key", KEY_HEX, "auth-key", AUTH_HEX, NULL});
	scen_expect(s, "lux", false, "authentication failed", "authentication errors recovered after", 5);
	s->failures = n_auth;
	s->min_failures = 5;
}

static void setup_unauth(struct scen *s)
{
	struct sm_reading_set *set = sample_set();

	s->title = "unauth";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	assert_int_equal(sm_dlms_encode(set, SM_DLMS_FLAT, 1, 0, s->plain, sizeof s->plain, &s->plainlen), SM_OK);
	free(set);
	hex_key(KEY_HEX, s->key);
	s->g_ok = gcm_of(KEY_HEX, NULL);
	s->frame = fr_unauth;
	scen_meter(s, "at", (const char *const[]){"protocol", "dlms", "framing", "raw", "key", KEY_HEX, NULL});
	scen_expect(s, "at", false, "decrypted without authentication", "GCM tags verified again after", 5);
	s->failures = n_unauth;
	s->min_failures = 5;
}

static void setup_unchecked(struct scen *s)
{
	s->title = "unchecked";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	scen_telegrams(s);
	s->frame = fr_dsmr;
	scen_meter(s, "lax", (const char *const[]){"protocol", "dsmr", "ignore-checksum", "true", NULL});
	scen_expect(s, "lax", false, "wrong checksum accepted (IgnoreChecksum)", "checksums right again after",
		    5);
	s->failures = n_unchecked;
	s->min_failures = 5;
}

static void setup_fallback(struct scen *s)
{
	struct sm_reading_set *set = sample_set();
	struct sm_sml_enc_opts o;

	s->title = "fallback";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	memset(&o, 0, sizeof o);
	o.kermit = true;
	assert_int_equal(sm_sml_encode(set, &o, s->sml_k, sizeof s->sml_k, &s->sml_klen), SM_OK);
	o.kermit = false;
	assert_int_equal(sm_sml_encode(set, &o, s->sml_x, sizeof s->sml_x, &s->sml_xlen), SM_OK);
	free(set);
	s->frame = fr_sml;
	scen_meter(s, "ehz", (const char *const[]){"protocol", "sml", NULL});
	scen_expect(s, "ehz", false, "fallback checksum (SML: CRC-16/KERMIT instead of X.25)",
		    "the standard checksum verifies again after", 5);
	s->failures = n_fallback;
	s->min_failures = 5;
}

static void setup_stall(struct scen *s)
{
	s->title = "stall";
	s->dev = DEV_PUSH;
	scen_pty(s, true);
	scen_telegrams(s);
	s->frame = fr_stall;
	scen_meter(s, "stl", (const char *const[]){"protocol", "dsmr", "timeout", "0.1", NULL});
	scen_expect(s, "stl", false, "no valid frame for 0.1 s (stalled)", "frames again after", 0);
	s->failures = n_timeout;
	s->min_failures = 3;
}

static void setup_modbus(struct scen *s)
{
	s->title = "modbus";
	s->dev = DEV_MODBUS;
	scen_pty(s, true);
	assert_int_equal(sm_mb_responder_new(SM_MB_FRAMING_RTU, &s->resp), SM_OK);
	assert_int_equal(sm_mb_image_new(0, 16, 0, 0x400, &s->img), SM_OK);
	const char *const common[] = {"protocol", "modbus", "model", "sdm120", "interval", "0.05", "timeout", "0.05"};
	scen_meter(s, "mbexc",
		   (const char *const[]){common[0], common[1], common[2], common[3], common[4], common[5], common[6],
					 common[7], "slave", "1", NULL});
	scen_meter(s, "mbdead",
		   (const char *const[]){common[0], common[1], common[2], common[3], common[4], common[5], common[6],
					 common[7], "slave", "2", NULL});
	scen_expect(s, "mbexc", false, "with exception 6", "exception reply errors recovered after", 3);
	scen_expect(s, "mbdead", false, "slave 2 did not answer", "answers again after", 3);
	scen_expect(s, "mbdead", false, "does not answer: polled less often", "polled every 0.05 s again", 0);
	s->also = "RS485 mode not available"; /* a pty is no RS485 port: warned once */
	s->failures = n_modbus;
	s->min_failures = 3;
}

static void setup_poll(struct scen *s, const char *name)
{
	s->dev = DEV_POLL;
	scen_pty(s, true);
	memset(&s->hand, 0, sizeof s->hand);
	s->hand.name = (char *)name;
	s->hand.proto = &fp_proto;
	s->hand.device = s->device;
	s->hand.line = fp_proto.line;
	s->hand.interval_s = 0.05;
	s->hand.timeout_s = 1;
	assert_true(sm_proto_is_polled(&s->hand));
	s->hand_m[0] = &s->hand;
	s->hand_port = (struct sm_port){s->device, s->hand.line, 1, s->hand_m};
}

static void setup_polltime(struct scen *s)
{
	s->title = "polltime";
	setup_poll(s, "polltime");
	atomic_store(&fp_ctl_of("polltime")->silent, true);
	scen_expect(s, "polltime", false, "no answer to the request", "answers again after", 4);
	s->failures = n_timeout;
	s->min_failures = 4;
}

static void setup_pollline(struct scen *s)
{
	s->title = "pollline";
	setup_poll(s, "pollline");
	atomic_store(&fp_ctl_of("pollline")->bad_line, true);
	scen_expect(s, "pollline", false, "cannot switch the line to 9600 9N1: data bits 9 not supported",
		    "line settings accepted again after", 4);
	s->min_ms = 700;
}

static void scen_start(struct scen *s)
{
	struct sm_sink sink = {sink_emit, &s->sink};
	struct sm_log log = {lc_fn, s->lc};
	struct sm_reader_opts opts = {false, false, NULL, 5};
	if (s->ports == NULL && s->hand.name == NULL)
		scen_ports(s);
	const struct sm_port *port = s->ports != NULL ? &s->ports[0] : &s->hand_port;
	assert_int_equal(sm_reader_create(port, &sink, &log, &opts, &s->r), SM_OK);
	void *(*fn)(void *) = s->dev == DEV_PUSH     ? push_main
			      : s->dev == DEV_TCP    ? tcp_main
			      : s->dev == DEV_MODBUS ? modbus_main
			      : s->dev == DEV_POLL   ? poll_main
						     : NULL;
	if (fn != NULL) {
		assert_int_equal(pthread_create(&s->tid, NULL, fn, s), 0);
		s->thread = true;
	}
	s->t_fail = mono_ms();
	assert_int_equal(sm_reader_start(s->r), SM_OK);
}

static void scen_recover(struct scen *s)
{
	if (s->dev == DEV_NONE)
		pty_plug(&s->pty);
	if (s->dev == DEV_POLL) {
		struct fp_ctl *ctl = fp_ctl_of(s->hand.name);
		atomic_store(&ctl->silent, false);
		atomic_store(&ctl->bad_line, false);
	}
	atomic_store(&s->recover, true);
}

static bool scen_enough(struct scen *s)
{
	if (s->min_ms > 0 && mono_ms() - s->t_fail < s->min_ms)
		return false;
	return s->failures == NULL || s->failures(s) >= s->min_failures;
}

static bool scen_recovered(struct scen *s)
{
	for (size_t i = 0; i < s->nex; i++)
		if (lc_count(s->lc, s->ex[i].recover) == 0)
			return false;
	return true;
}

static void scen_free(struct scen *s)
{
	if (s->r != NULL) {
		sm_reader_stop(s->r);
		sm_reader_join(s->r);
	}
	atomic_store(&s->quit, true);
	if (s->thread)
		pthread_join(s->tid, NULL);
	sm_reader_destroy(s->r);
	if (s->have_pty)
		pty_fini(&s->pty);
	if (s->lfd >= 0)
		close(s->lfd);
	sm_gcm_free(s->g_fail);
	sm_gcm_free(s->g_ok);
	sm_mb_responder_free(s->resp);
	sm_mb_image_free(s->img);
	if (s->ports != NULL)
		sm_ports_free(s->ports, s->nports);
	if (s->have_cfg)
		sm_config_free(&s->cfg);
	lc_free(s->lc);
}

/* The number after "after " in line, 0 if none. */
static unsigned long after_count(const char *line)
{
	const char *p = strstr(line, "after ");
	return p != NULL ? strtoul(p + 6, NULL, 10) : 0;
}

/* The messages of one scenario: one start and one recovery per class, each
 * naming meter, device and reason, and nothing else. */
static void scen_check(struct scen *s)
{
	struct logcap *c = s->lc;
	char who[200];
	bool ok = true;

	for (size_t i = 0; i < s->nex; i++) {
		const struct expect *e = &s->ex[i];
		size_t ns = lc_count(c, e->start), nr = lc_count(c, e->recover);
		long is = lc_find(c, e->start), ir = lc_find(c, e->recover);
		if (ns != 1 || nr != 1 || is < 0 || ir < is) {
			print_error("%s: class \"%s\": %zu start and %zu recovery messages (want 1 and 1, in "
				    "that order)\n", s->title, e->start, ns, nr);
			ok = false;
			continue;
		}
		if (e->port_level)
			snprintf(who, sizeof who, "port \"%s\" (meter %s)", s->device, e->meter);
		else
			snprintf(who, sizeof who, "meter \"%s\"", e->meter);
		pthread_mutex_lock(&c->mu);
		const char *ls = c->line[is], *lr = c->line[ir];
		bool named = strstr(ls, who) != NULL && strstr(ls, s->device) != NULL && strstr(lr, who) != NULL &&
			     strstr(lr, s->device) != NULL;
		unsigned long cnt = after_count(lr);
		pthread_mutex_unlock(&c->mu);
		if (!named) {
			print_error("%s: class \"%s\": the messages do not name %s and %s\n", s->title, e->start,
				    who, s->device);
			ok = false;
		}
		if (e->min_count > 0 && cnt < e->min_count) {
			print_error("%s: class \"%s\": recovery after %lu failures, want at least %u\n", s->title,
				    e->start, cnt, e->min_count);
			ok = false;
		}
	}
	/* nothing else */
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		if (c->level[i] == SM_LOG_DEBUG)
			continue;
		bool known = s->also != NULL && strstr(c->line[i], s->also) != NULL;
		for (size_t j = 0; j < s->nex && !known; j++)
			known = strstr(c->line[i], s->ex[j].start) != NULL ||
				strstr(c->line[i], s->ex[j].recover) != NULL;
		if (!known) {
			print_error("%s: unexpected message: %s\n", s->title, c->line[i]);
			ok = false;
		}
	}
	size_t lost = c->lost;
	pthread_mutex_unlock(&c->mu);
	if (!ok || lost > 0)
		lc_print(c);
	assert_true(ok);
	assert_int_equal(lost, 0);
}

enum { SC_OPEN, SC_LOST, SC_CRC, SC_DECODE, SC_AUTH, SC_UNAUTH, SC_UNCHECKED, SC_FALLBACK, SC_STALL,
       SC_MODBUS, SC_POLLTIME, SC_POLLLINE, SC_COUNT };

static void test_failure_classes(void **state)
{
	static void (*const setups[SC_COUNT])(struct scen *) = {
		setup_open,     setup_lost,  setup_crc,    setup_decode, setup_auth,     setup_unauth,
		setup_unchecked, setup_fallback, setup_stall, setup_modbus, setup_polltime, setup_pollline};
	struct scen *sc = calloc(SC_COUNT, sizeof *sc);
	(void)state;

	assert_non_null(sc);
	for (size_t i = 0; i < SC_COUNT; i++) {
		atomic_init(&sc[i].recover, false);
		atomic_init(&sc[i].quit, false);
		sc[i].lfd = -1;
		setups[i](&sc[i]);
		sc[i].lc = lc_new(sc[i].title);
	}
	int64_t t0 = mono_ms();
	for (size_t i = 0; i < SC_COUNT; i++)
		scen_start(&sc[i]);

	/* failing: every class started, and failed often enough */
	int64_t end = mono_ms() + 6000;
	size_t done = 0;
	while (mono_ms() < end) {
		done = 0;
		for (size_t i = 0; i < SC_COUNT; i++)
			done += scen_enough(&sc[i]) && lc_count(sc[i].lc, sc[i].ex[0].start) > 0;
		if (done == SC_COUNT)
			break;
		nap(10);
	}
	for (size_t i = 0; i < SC_COUNT && done < SC_COUNT; i++)
		if (!scen_enough(&sc[i]) || lc_count(sc[i].lc, sc[i].ex[0].start) == 0) {
			print_error("%s: did not fail often enough in time\n", sc[i].title);
			lc_print(sc[i].lc);
		}
	assert_int_equal(done, SC_COUNT);
	print_message("all classes failing after %" PRId64 " ms\n", mono_ms() - t0);

	/* recovery */
	for (size_t i = 0; i < SC_COUNT; i++)
		scen_recover(&sc[i]);
	end = mono_ms() + 8000;
	while (mono_ms() < end) {
		done = 0;
		for (size_t i = 0; i < SC_COUNT; i++)
			done += scen_recovered(&sc[i]);
		if (done == SC_COUNT)
			break;
		nap(10);
	}
	for (size_t i = 0; i < SC_COUNT && done < SC_COUNT; i++)
		if (!scen_recovered(&sc[i])) {
			print_error("%s: no recovery message in time\n", sc[i].title);
			lc_print(sc[i].lc);
		}
	assert_int_equal(done, SC_COUNT);
	print_message("all classes recovered after %" PRId64 " ms\n", mono_ms() - t0);
	for (size_t i = 0; i < SC_COUNT; i++) {
		sm_reader_stop(sc[i].r);
		sm_reader_join(sc[i].r);
	}
	for (size_t i = 0; i < SC_COUNT; i++)
		scen_check(&sc[i]);
	for (size_t i = 0; i < SC_COUNT; i++)
		scen_free(&sc[i]);
	free(sc);
}

/* ---- logrl over simulated days ---- */

static void test_logrl_backoff(void **state)
{
	struct sm_logrl rl;
	uint64_t n;
	(void)state;

	/* one failure per second for five days: messages at the start, then
	 * 1, 2, 4, 8 ... minutes apart, capped at a day, each with the count
	 * since the one before */
	sm_logrl_init(&rl);
	const int64_t s0 = 1000000; /* any origin */
	int64_t last = -1, want_gap = 60;
	size_t msgs = 0;
	for (int64_t t = 0; t < 5 * 86400; t++) {
		if (!sm_logrl_fail(&rl, s0 + t * 1000, &n))
			continue;
		if (last < 0) {
			assert_int_equal(t, 0);
			assert_int_equal(n, 1);
		} else {
			assert_int_equal(t - last, want_gap);
			assert_int_equal(n, (uint64_t)want_gap);
			want_gap = want_gap * 2 > 86400 ? 86400 : want_gap * 2;
		}
		last = t;
		msgs++;
	}
	/* 0, then gaps 60 .. 61440 s (11 of them, 34 h), then one a day */
	print_message("%zu messages in 5 days of failures\n", msgs);
	assert_int_equal(msgs, 1 + 11 + 3); /* cap reached at 34 h; then days 2.4, 3.4, 4.4 */
	assert_int_equal(want_gap, 86400);
	/* the end of the episode: once, with the total */
	int64_t t_end = s0 + 5 * 86400 * 1000LL;
	assert_true(sm_logrl_recover(&rl, t_end, &n));
	assert_int_equal(n, 5 * 86400);
	assert_false(sm_logrl_recover(&rl, t_end + 1000, &n));

	/* failures again an hour later (healthy for less than the back-off):
	 * not logged at once, nor their end; logged when the day is over */
	int64_t t = t_end + 3600 * 1000LL;
	assert_false(sm_logrl_fail(&rl, t, &n));
	assert_false(sm_logrl_fail(&rl, t + 1000, &n));
	assert_false(sm_logrl_recover(&rl, t + 2000, &n));
	int64_t next = s0 + last * 1000 + 86400 * 1000LL;
	assert_false(sm_logrl_fail(&rl, next - 1, &n));
	assert_true(sm_logrl_fail(&rl, next, &n));
	/* since the last message: the rest of the long episode, the two, the
	 * one before, this one */
	assert_int_equal(n, (uint64_t)(5 * 86400 - 1 - last) + 4);
	assert_true(sm_logrl_recover(&rl, next + 1000, &n));
	assert_int_equal(n, 2);

	/* after a healthy day the back-off starts over: at once, then 1 min */
	t = next + 1000 + 86400 * 1000LL;
	assert_true(sm_logrl_fail(&rl, t, &n));
	assert_int_equal(n, 1);
	assert_false(sm_logrl_fail(&rl, t + 59999, &n));
	assert_true(sm_logrl_fail(&rl, t + 60000, &n));
	assert_int_equal(n, 2);

	/* a clock that goes back does not silence the next failure */
	assert_true(sm_logrl_fail(&rl, t - 3600 * 1000LL, &n));
	assert_int_equal(n, 1);
	/* ... and the back-off goes on from there */
	assert_false(sm_logrl_fail(&rl, t - 3600 * 1000LL + 1000, &n));

	/* many failures within a few seconds: one message */
	sm_logrl_init(&rl);
	size_t k = 0;
	for (int i = 0; i < 500; i++)
		k += sm_logrl_fail(&rl, 7000 + i * 5, &n);
	assert_int_equal(k, 1);
	assert_true(sm_logrl_recover(&rl, 10000, &n));
	assert_int_equal(n, 500);
	/* an episode that was never logged ends silently */
	sm_logrl_init(&rl);
	assert_false(sm_logrl_recover(&rl, 0, &n));
}

/* ---- keys ---- */

/* Lower-case hex digits of text, everything else (and "0x" prefixes)
 * dropped: grouped hex ("8F 3A C9", "8f:3a", "0x8F,0x3A") joins up. */
static size_t squeeze_hex(const char *text, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		char ch = text[i];
		if (ch == '0' && i + 1 < n && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
			i++;
			continue;
		}
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))
			out[k++] = ch;
	}
	out[k] = '\0';
	return k;
}

/* Whether text[0..n) holds any trace of key (16 bytes): 12 hex digits of it
 * in a row (any case, separators between them ignored), or 6 of its bytes. */
static bool has_key_trace(const char *text, size_t n, const uint8_t key[SM_KEY_LEN])
{
	char hex[2 * SM_KEY_LEN + 1];
	char *sq = malloc(n + 1);

	assert_non_null(sq);
	for (size_t i = 0; i < SM_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	size_t m = squeeze_hex(text, n, sq, n + 1);
	bool found = false;
	for (size_t i = 0; i + 12 <= 2 * SM_KEY_LEN && !found; i++)
		found = memmem(sq, m, hex + i, 12) != NULL;
	for (size_t i = 0; i + 6 <= SM_KEY_LEN && !found; i++)
		found = memmem(text, n, key + i, 6) != NULL;
	free(sq);
	return found;
}

struct keyset {
	size_t n;
	uint8_t k[8][SM_KEY_LEN];
};

static void keyset_add(struct keyset *ks, const char *hex)
{
	assert_true(ks->n < 8);
	hex_key(hex, ks->k[ks->n++]);
}

/* No line of c holds a trace of any key of ks.  Returns the lines scanned. */
static size_t assert_no_keys(struct logcap *c, const struct keyset *ks, const char *what)
{
	size_t bad = 0;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		for (size_t j = 0; j < ks->n; j++)
			if (has_key_trace(c->line[i], strlen(c->line[i]), ks->k[j])) {
				print_error("%s: key material in: %s\n", what, c->line[i]);
				bad++;
			}
	size_t n = c->n;
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(bad, 0);
	return n;
}

static void assert_text_no_keys(const char *text, const struct keyset *ks, const char *what)
{
	for (size_t j = 0; j < ks->n; j++)
		if (has_key_trace(text, strlen(text), ks->k[j])) {
			print_error("%s: key material in: %s\n", what, text);
			fail();
		}
}

/* The trace check itself: it sees keys however they are written. */
static void test_key_trace(void **state)
{
	uint8_t k[SM_KEY_LEN];
	(void)state;

	hex_key(KEY_HEX, k);
	const char *const with[] = {
		"x 8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C y",
		"8f3ac9e1d7b24f6a0c5e9d3b7a1f4e2c",
		"8F 3A C9 E1 D7 B2 4F 6A 0C 5E 9D 3B 7A 1F 4E 2C",
		"8f:3a:c9:e1:d7:b2:4f:6a",
		"{0x8F, 0x3A, 0xC9, 0xE1, 0xD7, 0xB2}",
		"key ends 9d3b7a1f4e2c",
	};
	for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
		assert_true(has_key_trace(with[i], strlen(with[i]), k));
	char raw[40] = "bytes: ";
	memcpy(raw + 7, k + 3, 6);
	assert_true(has_key_trace(raw, 13, k));
	const char *const without[] = {
		"meter \"lux\" (/tmp/sm-lg-a1b2c3/tty): authentication failed: GCM tag mismatch (frame counter 7)",
		"8F3AC9E1D7",
		"port \"/dev/ttyUSB0\" (meter home): cannot open /dev/ttyUSB0: No such file or directory",
	};
	for (size_t i = 0; i < sizeof without / sizeof without[0]; i++)
		assert_false(has_key_trace(without[i], strlen(without[i]), k));
}

/* A reader on a pty for one meter given by flags; the frames are written to
 * it back to back; waits until the meter counted want (auth failures, or
 * frames when frames is set). */
struct keyrun {
	struct pty pty;
	struct sm_config cfg;
	struct sm_port *ports;
	size_t nports;
	struct sm_reader *r;
	struct logcap *lc;
	struct sinkcap sink;
};

static void keyrun_start(struct keyrun *k, const char *title, const char *const *flags)
{
	struct sm_meter_cfg *m = NULL;
	char err[512];

	memset(k, 0, sizeof *k);
	pty_init(&k->pty);
	pty_plug(&k->pty);
	sm_config_init(&k->cfg);
	k->lc = lc_new(title);
	atomic_init(&k->sink.sets, 0u);
	assert_int_equal(sm_config_add_meter(&k->cfg, "kmeter", &m, err, sizeof err), SM_OK);
	assert_int_equal(sm_meter_set_flag(m, "device", k->pty.link, err, sizeof err), SM_OK);
	for (size_t i = 0; flags[i] != NULL; i += 2)
		assert_int_equal(sm_meter_set_flag(m, flags[i], flags[i + 1], err, sizeof err), SM_OK);
	assert_int_equal(sm_config_validate(&k->cfg, err, sizeof err), SM_OK);
	assert_int_equal(sm_config_ports(&k->cfg, &k->ports, &k->nports), SM_OK);
	struct sm_sink sink = {sink_emit, &k->sink};
	struct sm_log log = {lc_fn, k->lc};
	struct sm_reader_opts opts = {false, false, NULL, 5};
	assert_int_equal(sm_reader_create(&k->ports[0], &sink, &log, &opts, &k->r), SM_OK);
	assert_int_equal(sm_reader_start(k->r), SM_OK);
}

/* Write the frames (each in an exactly-sized heap copy) and wait until the
 * meter has counted want of them in field off of struct sm_stats. */
static void keyrun_feed(struct keyrun *k, const uint8_t *const *frames, const size_t *lens, size_t nframes,
			size_t off, uint64_t want)
{
	for (size_t i = 0; i < nframes; i++) {
		uint8_t *p = malloc(lens[i]);
		assert_non_null(p);
		memcpy(p, frames[i], lens[i]);
		assert_true(write_all(k->pty.master, p, lens[i], 2000));
		free(p);
	}
	int64_t end = mono_ms() + 4000;
	struct sm_stats st;
	for (;;) {
		sm_reader_stats(k->r, 0, &st);
		uint64_t got = *(const uint64_t *)((const char *)&st + off);
		if (got >= want || mono_ms() >= end)
			break;
		nap(10);
	}
	uint64_t got = *(const uint64_t *)((const char *)&st + off);
	if (got < want)
		lc_print(k->lc);
	assert_true(got >= want);
}

static size_t keyrun_end(struct keyrun *k, const struct keyset *ks, const char *what)
{
	sm_reader_stop(k->r);
	sm_reader_join(k->r);
	size_t n = assert_no_keys(k->lc, ks, what);
	if (getenv("SM_TEST_VERBOSE") != NULL)
		lc_print(k->lc);
	sm_reader_destroy(k->r);
	sm_ports_free(k->ports, k->nports);
	sm_config_free(&k->cfg);
	pty_fini(&k->pty);
	lc_free(k->lc);
	return n;
}

#define NFRAMES 8

/* Frames of our own, encrypted with the right keys; readers with wrong ones. */
static void test_keys_not_logged(void **state)
{
	struct keyset ks = {0};
	struct sm_reading_set *set = sample_set();
	uint8_t tel[600], dl[600];
	size_t tellen = telegram(tel, sizeof tel, 815, TEL_GOOD), dllen = 0;
	uint8_t fr30[NFRAMES][1024], fr20[NFRAMES][1024], dl20[NFRAMES][1024], dl30[NFRAMES][1024];
	const uint8_t *p30[NFRAMES], *p20[NFRAMES], *pd20[NFRAMES], *pd30[NFRAMES];
	size_t l30[NFRAMES], l20[NFRAMES], ld20[NFRAMES], ld30[NFRAMES];
	size_t lines = 0, auth_off = offsetof(struct sm_stats, auth);
	(void)state;

	keyset_add(&ks, KEY_HEX);
	keyset_add(&ks, AUTH_HEX);
	keyset_add(&ks, WRONG_HEX);
	assert_true(tellen > 0);
	assert_int_equal(sm_dlms_encode(set, SM_DLMS_FLAT, 7, 0, dl, sizeof dl, &dllen), SM_OK);
	free(set);
	struct sm_gcm *g30 = gcm_of(KEY_HEX, AUTH_HEX);
	for (size_t i = 0; i < NFRAMES; i++) {
		assert_int_equal(sm_gcm_seal(g30, TITLE, 100 + (uint32_t)i, 0x30, tel, tellen, fr30[i],
					     sizeof fr30[i], &l30[i]), SM_OK);
		assert_int_equal(sm_gcm_seal(g30, TITLE, 200 + (uint32_t)i, 0x20, tel, tellen, fr20[i],
					     sizeof fr20[i], &l20[i]), SM_OK);
		assert_int_equal(sm_gcm_seal(g30, TITLE, 300 + (uint32_t)i, 0x20, dl, dllen, dl20[i],
					     sizeof dl20[i], &ld20[i]), SM_OK);
		assert_int_equal(sm_gcm_seal(g30, TITLE, 400 + (uint32_t)i, 0x30, dl, dllen, dl30[i],
					     sizeof dl30[i], &ld30[i]), SM_OK);
		p30[i] = fr30[i];
		p20[i] = fr20[i];
		pd20[i] = dl20[i];
		pd30[i] = dl30[i];
	}
	sm_gcm_free(g30);

	static const struct {
		const char *title, *proto, *key, *auth;
		int frames; /* 0: Smarty 0x30, 1: Smarty 0x20, 2: DLMS 0x20, 3: DLMS 0x30 */
	} runs[] = {
		{"smarty wrong Key", "dsmr", WRONG_HEX, AUTH_HEX, 0},
		{"smarty wrong AuthKey", "dsmr", KEY_HEX, WRONG_HEX, 0},
		{"smarty wrong Key, no tag", "dsmr", WRONG_HEX, NULL, 1},
		{"dlms wrong Key, no tag", "dlms", WRONG_HEX, NULL, 2},
		{"dlms wrong Key", "dlms", WRONG_HEX, AUTH_HEX, 3},
		{"dlms wrong AuthKey", "dlms", KEY_HEX, WRONG_HEX, 3},
	};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct keyrun k;
		const char *flags[12];
		size_t f = 0;
		flags[f++] = "protocol";
		flags[f++] = runs[i].proto;
		flags[f++] = "key";
		flags[f++] = runs[i].key;
		if (runs[i].auth != NULL) {
			flags[f++] = "auth-key";
			flags[f++] = runs[i].auth;
		}
		if (strcmp(runs[i].proto, "dlms") == 0) {
			flags[f++] = "framing";
			flags[f++] = "raw";
		}
		flags[f] = NULL;
		keyrun_start(&k, runs[i].title, flags);
		const uint8_t *const *pp = runs[i].frames == 0 ? p30 : runs[i].frames == 1 ? p20
					   : runs[i].frames == 2 ? pd20 : pd30;
		const size_t *ll = runs[i].frames == 0 ? l30 : runs[i].frames == 1 ? l20
				   : runs[i].frames == 2 ? ld20 : ld30;
		keyrun_feed(&k, pp, ll, NFRAMES, auth_off, NFRAMES);
		/* said once for all frames (rate limited), and no values */
		assert_int_equal(lc_count(k.lc, "kmeter"), 1);
		assert_int_equal(atomic_load(&k.sink.sets), 0);
		lines += keyrun_end(&k, &ks, runs[i].title);
	}

	/* the right keys: values, and still no key in any line (DEBUG included) */
	struct keyrun k;
	keyrun_start(&k, "dlms right keys",
		     (const char *const[]){"protocol", "dlms", "framing", "raw", "key", KEY_HEX, "auth-key",
					   AUTH_HEX, NULL});
	keyrun_feed(&k, pd30, ld30, NFRAMES, offsetof(struct sm_stats, frames), NFRAMES);
	lines += keyrun_end(&k, &ks, "dlms right keys");
	print_message("%zu log lines scanned for key material\n", lines);
}

/* ---- the shared fixtures: real captures with published keys ---- */

static char *fixture_path(const char *rel)
{
	const char *dir = getenv("SM_SHARED");
	char buf[1024];

	snprintf(buf, sizeof buf, "%s/fixtures/%s", dir != NULL && dir[0] != '\0' ? dir : SM_SRCDIR "/../shared",
		 rel);
	return strdup(buf);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *q = realloc(p, cap);
			assert_non_null(q);
			p = q;
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*len = n;
	return p;
}

/* One hex line -> bytes (exactly sized). */
static uint8_t *unhex(const char *s, size_t n, size_t *out_len)
{
	uint8_t *p = malloc(n / 2 + 1);
	size_t k = 0;
	int hi = -1;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			p[k++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	uint8_t *q = malloc(k > 0 ? k : 1);
	assert_non_null(q);
	memcpy(q, p, k);
	free(p);
	*out_len = k;
	return q;
}

static void test_keys_fixtures(void **state)
{
	(void)state;
	char *mbus = fixture_path("mbus-dlms/at_netznoe_example_kaifa_2seg.hex");
	char *lux = fixture_path("dsmr/lu_smarty_sagemcom_encrypted.bin");
	size_t hexlen = 0, luxlen = 0;
	uint8_t *hex = read_all(mbus, &hexlen), *luxb = read_all(lux, &luxlen);

	if (hex == NULL || luxb == NULL) {
		print_message("SKIP: the shared fixtures are not there (%s, %s): set SM_SHARED\n", mbus, lux);
		free(hex);
		free(luxb);
		free(mbus);
		free(lux);
		skip();
		return;
	}
	/* published keys of these captures (fixtures/SOURCES.md) */
	static const char EVN_KEY[] = "36C66639E48A8CA4D6BC8B282A793BBB";
	static const char LUX_KEY[] = "D491470F47126332B07D1923B3504188";
	static const char LUX_AUTH[] = "00112233445566778899AABBCCDDEEFF";
	struct keyset ks = {0};
	keyset_add(&ks, EVN_KEY);
	keyset_add(&ks, LUX_KEY);
	keyset_add(&ks, LUX_AUTH);
	keyset_add(&ks, WRONG_HEX);
	size_t lines = 0;

	/* Netz NÖ example: two M-Bus long frames, one per line, repeated */
	uint8_t *fr[2 * NFRAMES];
	size_t fl[2 * NFRAMES], nf = 0;
	const char *p = (const char *)hex, *e = p + hexlen;
	size_t per = 0;
	while (p < e && nf < 2) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(e - p);
		if (n > 8) {
			fr[nf] = unhex(p, n, &fl[nf]);
			nf++;
		}
		p += n + 1;
	}
	assert_int_equal(nf, 2);
	per = nf;
	for (size_t i = 2; i < 2 * NFRAMES; i++) {
		fl[i] = fl[i % per];
		fr[i] = malloc(fl[i]);
		assert_non_null(fr[i]);
		memcpy(fr[i], fr[i % per], fl[i]);
		nf++;
	}
	struct keyrun k;
	keyrun_start(&k, "evn wrong Key", (const char *const[]){"protocol", "dlms", "key", WRONG_HEX, NULL});
	keyrun_feed(&k, (const uint8_t *const *)fr, fl, nf, offsetof(struct sm_stats, auth), NFRAMES);
	assert_int_equal(lc_count(k.lc, "check Key"), 1);
	lines += keyrun_end(&k, &ks, "evn wrong Key");
	keyrun_start(&k, "evn right Key", (const char *const[]){"protocol", "dlms", "key", EVN_KEY, NULL});
	keyrun_feed(&k, (const uint8_t *const *)fr, fl, nf, offsetof(struct sm_stats, frames), NFRAMES);
	lines += keyrun_end(&k, &ks, "evn right Key");
	for (size_t i = 0; i < nf; i++)
		free(fr[i]);

	/* Sagemcom Smarty capture: wrong Key, wrong AuthKey, right ones */
	const uint8_t *lf[NFRAMES];
	size_t ll[NFRAMES];
	for (size_t i = 0; i < NFRAMES; i++) {
		lf[i] = luxb;
		ll[i] = luxlen;
	}
	static const struct {
		const char *title, *key, *auth;
	} lruns[] = {
		{"lux wrong Key", WRONG_HEX, LUX_AUTH},
		{"lux wrong AuthKey", LUX_KEY, WRONG_HEX},
	};
	for (size_t i = 0; i < 2; i++) {
		keyrun_start(&k, lruns[i].title,
			     (const char *const[]){"protocol", "dsmr", "key", lruns[i].key, "auth-key", lruns[i].auth,
						   NULL});
		keyrun_feed(&k, lf, ll, NFRAMES, offsetof(struct sm_stats, auth), NFRAMES);
		assert_int_equal(lc_count(k.lc, "authentication failed"), 1);
		lines += keyrun_end(&k, &ks, lruns[i].title);
	}
	keyrun_start(&k, "lux right keys",
		     (const char *const[]){"protocol", "dsmr", "key", LUX_KEY, "auth-key", LUX_AUTH, NULL});
	keyrun_feed(&k, lf, ll, NFRAMES, offsetof(struct sm_stats, frames), NFRAMES);
	lines += keyrun_end(&k, &ks, "lux right keys");
	print_message("%zu log lines of the fixtures scanned for key material\n", lines);
	free(hex);
	free(luxb);
	free(mbus);
	free(lux);
}

/* ---- configuration errors about keys ---- */

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* err must be an error about option opt of meter "k", without key material. */
static void check_err(const char *err, const char *opt_prefix, const struct keyset *ks, const char *what)
{
	if (strstr(err, opt_prefix) == NULL) {
		print_error("%s: the error does not name %s: %s\n", what, opt_prefix, err);
		fail();
	}
	assert_text_no_keys(err, ks, what);
	if (getenv("SM_TEST_VERBOSE") != NULL)
		print_message("%s: %s\n", what, err);
}

static void test_key_config_errors(void **state)
{
	struct keyset ks = {0};
	struct sm_config cfg;
	struct sm_meter_cfg *m = NULL;
	char err[1024], dir[] = "/tmp/sm-lg-keys-XXXXXX", path[256], text[8192];
	(void)state;

	keyset_add(&ks, KEY_HEX);
	keyset_add(&ks, "12345678901234567890123456789012");
	uint8_t key[SM_KEY_LEN];
	hex_key(KEY_HEX, key);
	assert_non_null(mkdtemp(dir));
	sm_config_init(&cfg);
	assert_int_equal(sm_config_add_meter(&cfg, "k", &m, err, sizeof err), SM_OK);

	/* Key and AuthKey: malformed texts made from the key */
	char k31[40], k33[40], spaced[64], colons[64], x0[40], bad1[40], lower[40], two[80];
	snprintf(k31, sizeof k31, "%.31s", KEY_HEX);
	snprintf(k33, sizeof k33, "%s7", KEY_HEX);
	size_t w = 0;
	for (size_t i = 0; i < 16; i++)
		w += (size_t)snprintf(spaced + w, sizeof spaced - w, i ? " %.2s" : "%.2s", KEY_HEX + 2 * i);
	w = 0;
	for (size_t i = 0; i < 16; i++)
		w += (size_t)snprintf(colons + w, sizeof colons - w, i ? ":%.2s" : "%.2s", KEY_HEX + 2 * i);
	snprintf(x0, sizeof x0, "0x%s", KEY_HEX);
	snprintf(bad1, sizeof bad1, "%s", KEY_HEX);
	bad1[20] = 'G';
	for (size_t i = 0; i < 32; i++)
		lower[i] = (char)(KEY_HEX[i] >= 'A' ? KEY_HEX[i] - 'A' + 'a' : KEY_HEX[i]);
	lower[32] = '\0';
	lower[5] = 'z';
	snprintf(two, sizeof two, "%s%s", KEY_HEX, KEY_HEX);
	const char *const bad_keys[] = {k31, k33, spaced, colons, x0, bad1, lower, two, "", "   "};
	const char *const opts[] = {"Key", "AuthKey"};
	for (size_t o = 0; o < 2; o++) {
		char pre[64];
		snprintf(pre, sizeof pre, "meter \"k\": %s: ", opts[o]);
		for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
			struct sm_cfg_value v = {SM_CV_STRING, (char *)bad_keys[i], 0, false};
			assert_int_equal(sm_meter_set(m, opts[o], &v, 1, err, sizeof err), SM_E_CONFIG);
			check_err(err, pre, &ks, opts[o]);
		}
		/* a key of decimal digits written as a number */
		struct sm_cfg_value num = {SM_CV_NUMBER, NULL, 12345678901234567890123456789012.0, false};
		assert_int_equal(sm_meter_set(m, opts[o], &num, 1, err, sizeof err), SM_E_CONFIG);
		check_err(err, pre, &ks, "number");
		/* two values */
		struct sm_cfg_value twov[2] = {{SM_CV_STRING, (char *)KEY_HEX, 0, false},
					       {SM_CV_STRING, (char *)KEY_HEX, 0, false}};
		assert_int_equal(sm_meter_set(m, opts[o], twov, 2, err, sizeof err), SM_E_CONFIG);
		check_err(err, pre, &ks, "two values");
		/* the same as command line flags */
		const char *flag = o == 0 ? "key" : "auth-key";
		snprintf(pre, sizeof pre, "--%s: ", flag);
		for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
			assert_int_equal(sm_meter_set_flag(m, flag, bad_keys[i], err, sizeof err), SM_E_CONFIG);
			check_err(err, pre, &ks, flag);
		}
	}
	/* given twice; Key and KeyFile together */
	struct sm_cfg_value good = {SM_CV_STRING, (char *)KEY_HEX, 0, false};
	assert_int_equal(sm_meter_set(m, "Key", &good, 1, err, sizeof err), SM_OK);
	assert_int_equal(sm_meter_set(m, "Key", &good, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"k\": Key: ", &ks, "Key twice");

	/* KeyFile: values that are (nearly) the key itself */
	struct sm_meter_cfg *m2 = NULL;
	assert_int_equal(sm_config_add_meter(&cfg, "kf", &m2, err, sizeof err), SM_OK);
	m = &cfg.meters[0]; /* the add may have moved it */
	const char *const kf_values[] = {KEY_HEX, k31, k33, spaced, colons, x0, lower};
	for (size_t i = 0; i < sizeof kf_values / sizeof kf_values[0]; i++) {
		struct sm_cfg_value v = {SM_CV_STRING, (char *)kf_values[i], 0, false};
		assert_int_equal(sm_meter_set(m2, "KeyFile", &v, 1, err, sizeof err), SM_E_CONFIG);
		check_err(err, "meter \"kf\": KeyFile: ", &ks, "KeyFile value");
		assert_int_equal(sm_meter_set_flag(m2, "key-file", kf_values[i], err, sizeof err), SM_E_CONFIG);
		check_err(err, "--key-file: ", &ks, "--key-file value");
	}
	struct sm_cfg_value num = {SM_CV_NUMBER, NULL, 12345678901234567890123456789012.0, false};
	assert_int_equal(sm_meter_set(m2, "KeyFile", &num, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"kf\": KeyFile: ", &ks, "KeyFile number");
	/* a path that holds key digits (a file named after the key) */
	snprintf(path, sizeof path, "%s/%.31s", dir, KEY_HEX);
	struct sm_cfg_value pv = {SM_CV_STRING, path, 0, false};
	assert_int_equal(sm_meter_set(m2, "KeyFile", &pv, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"kf\": KeyFile: ", &ks, "KeyFile named after the key");

	/* KeyFile: files whose content is not a key */
	snprintf(path, sizeof path, "%s/home.key", dir);
	struct {
		const char *what;
		char content[5000];
		size_t len;
	} *files = calloc(12, sizeof *files);
	assert_non_null(files);
	size_t nfiles = 0;
#define ADD_FILE(w, ...)                                                                              \
	do {                                                                                          \
		files[nfiles].what = (w);                                                             \
		int nn = snprintf(files[nfiles].content, sizeof files[nfiles].content, __VA_ARGS__); \
		files[nfiles].len = (size_t)nn;                                                       \
		nfiles++;                                                                             \
	} while (0)
	ADD_FILE("33 hex digits", "%s7\n", KEY_HEX);
	ADD_FILE("31 hex digits", "%.31s\n", KEY_HEX);
	ADD_FILE("KEY= prefix", "KEY=%s\n", KEY_HEX);
	ADD_FILE("key and a comment", "%s # meter 1\n", KEY_HEX);
	ADD_FILE("grouped", "%s\n", spaced);
	ADD_FILE("colons", "%s\n", colons);
	ADD_FILE("0x prefix", "%s\n", x0);
	ADD_FILE("two keys", "%s\n%s\n", KEY_HEX, AUTH_HEX);
	ADD_FILE("empty", "%s", "");
	files[nfiles].what = "raw bytes";
	memcpy(files[nfiles].content, key, SM_KEY_LEN);
	files[nfiles].len = SM_KEY_LEN;
	nfiles++;
	files[nfiles].what = "too large";
	for (size_t i = 0; i < 4500; i += 32)
		memcpy(files[nfiles].content + i, KEY_HEX, 32);
	files[nfiles].len = 4500 / 32 * 32 + 32;
	nfiles++;
#undef ADD_FILE
	keyset_add(&ks, AUTH_HEX);
	for (size_t i = 0; i < nfiles; i++) {
		write_file(path, files[i].content, files[i].len, 0600);
		struct sm_cfg_value v = {SM_CV_STRING, path, 0, false};
		assert_int_equal(sm_meter_set(m2, "KeyFile", &v, 1, err, sizeof err), SM_E_CONFIG);
		check_err(err, "meter \"kf\": KeyFile: ", &ks, files[i].what);
		/* and the text of the error is not the file's */
		if (files[i].len >= 8)
			assert_null(memmem(err, strlen(err), files[i].content, 8));
		assert_int_equal(sm_meter_set_flag(m2, "key-file", path, err, sizeof err), SM_E_CONFIG);
		check_err(err, "--key-file: ", &ks, files[i].what);
	}
	free(files);
	/* a directory */
	struct sm_cfg_value dv = {SM_CV_STRING, dir, 0, false};
	assert_int_equal(sm_meter_set(m2, "KeyFile", &dv, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"kf\": KeyFile: ", &ks, "directory");

	/* a good key file others can read: the warning names the file, not the key */
	snprintf(text, sizeof text, "  %s\n", KEY_HEX);
	write_file(path, text, strlen(text), 0644);
	struct sm_cfg_value v = {SM_CV_STRING, path, 0, false};
	assert_int_equal(sm_meter_set(m2, "KeyFile", &v, 1, err, sizeof err), SM_OK);
	assert_non_null(m2->warnings);
	assert_non_null(strstr(m2->warnings, "readable by"));
	assert_text_no_keys(m2->warnings, &ks, "KeyFile warning");
	/* KeyFile after Key, Key after KeyFile */
	assert_int_equal(sm_meter_set(m, "KeyFile", &v, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"k\": KeyFile: ", &ks, "KeyFile after Key");
	assert_int_equal(sm_meter_set(m2, "Key", &good, 1, err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"kf\": Key: ", &ks, "Key after KeyFile");
	unlink(path);

	/* a whole configuration: Key with a typo, through the parser */
	struct sm_config c2;
	struct sm_cfg_node root;
	sm_config_init(&c2);
	snprintf(text, sizeof text, "<Meter \"t\">\n  Protocol \"dlms\"\n  Device \"/dev/null\"\n  Key \"%s\"\n</Meter>\n",
		 k33);
	assert_int_equal(sm_cfg_parse(text, strlen(text), "t.conf", &root, err, sizeof err), SM_OK);
	assert_int_equal(sm_config_from_tree(&c2, sm_cfg_find_smartmeter(&root), err, sizeof err), SM_E_CONFIG);
	check_err(err, "meter \"t\": Key: ", &ks, "config file");
	sm_cfg_wipe_keys(&root);
	sm_cfg_node_free(&root);
	sm_config_free(&c2);

	sm_config_free(&cfg);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a bridge writing to a connection the reader closed */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logrl_backoff),
		cmocka_unit_test(test_key_trace),
		cmocka_unit_test(test_failure_classes),
		cmocka_unit_test(test_keys_not_logged),
		cmocka_unit_test(test_keys_fixtures),
		cmocka_unit_test(test_key_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
