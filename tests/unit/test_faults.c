/*
 * test_faults.c - fault injection through the real reader: real reader
 * threads, real protocols, meters simulated by threads writing to the
 * master side of pseudo-terminals (a Modbus slave thread answering on one).
 *
 *  1. test_vanish: a port that vanishes (pty closed, its symlink removed)
 *     and comes back 20 times while a second reader keeps delivering;
 *     no descriptor or thread is left behind afterwards.
 *  2. test_byte_vs_burst: every push protocol, the same frames written in
 *     one burst and one byte at a time: identical reading sets.
 *  3. test_bitflips: 10,000 frames of every push protocol, ~20% of them
 *     with random bit flips: no value of a corrupted frame is emitted, the
 *     values of every emitted set are exactly the encoded ones, and a
 *     corruption costs at most its neighbour.
 *  4. test_garbage: 4 MiB of random bytes, then good frames.
 *  5. test_endless: a frame that never ends (2 MiB), then good frames.
 *  6. test_stall: a meter stops in the middle of a frame: a stall is
 *     counted, no value of the half frame, the next frame is read.
 *  7. test_modbus_late: a Modbus slave answering some requests 400 ms late
 *     with other register contents: no stale answer is ever taken.
 *     test_modbus_late_race: the same with polls so frequent that a late
 *     answer meets the next identical request.
 *  test_iec_stx_damage: a damaged STX (and a damaged digit) never yields a
 *  value: such a message is dropped as a BCC failure.
 *  test_mbus_held_back: a good M-Bus frame behind a cut one is emitted at
 *  the next silence, not held until more input arrives.
 *
 * Every frame carries values derived from its index (frame i: energy
 * import 10000000 + i Wh, ...), so that the sink (on the reader thread)
 * can tell which frame a set came from and check every value.  Random
 * choices come from fixed seeds.  Waits are for events (emitted sets,
 * statistics, descriptors) with deadlines; the only timed pauses are a
 * simulated meter's send period and the Modbus slave's lateness.
 *
 * SM_FAULTS_VALGRIND=1 (the valgrind run in CI): only test_vanish and
 * test_bitflips with 2,000 frames per protocol.  SM_TEST_VERBOSE=1 prints
 * the readers' logs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "crc.h"
#include "dlms.h"
#include "dsmr.h"
#include "gcm.h"
#include "hdlc.h"
#include "iec62056_21.h"
#include "mbus.h"
#include "modbus_link.h"
#include "modbus_map.h"
#include "obis.h"
#include "reader.h"
#include "reading.h"
#include "sml.h"

#define BACKOFF_MS 20      /* the readers' first back-off in these tests */
#define SEND_PERIOD_MS 20  /* a simulated meter's send period (vanish test, tails) */

/* ---------------------------------------------------------------- */
/* small helpers                                                      */
/* ---------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool valgrind_mode(void)
{
	const char *v = getenv("SM_FAULTS_VALGRIND");
	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static bool verbose(void)
{
	return getenv("SM_TEST_VERBOSE") != NULL;
}


/* A short pause while polling a counter another thread advances (not a
 * fixed wait: callers loop until an event or their deadline). */
static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000L };
	nanosleep(&ts, NULL);
}

/* splitmix64: deterministic, seeded per test */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* uniform in [0, n) */
static size_t rng_below(struct rng *r, size_t n)
{
	return n > 0 ? (size_t)(rng_next(r) % n) : 0;
}

/* A growing byte buffer (test side only). */
struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		assert_non_null(q);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Entries of a /proc directory (descriptors, threads), '.' and '..' not
 * counted; -1 if it cannot be read. */
static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}

/* How many of the process's descriptors are open on path (a /dev/pts/N). */
static int fds_on(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char lp[300], target[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(lp, sizeof lp, "/proc/self/fd/%s", e->d_name);
		ssize_t k = readlink(lp, target, sizeof target - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		size_t pl = strlen(path);
		/* a closed pty's slave shows as "/dev/pts/N (deleted)" */
		n += strncmp(target, path, pl) == 0 && (target[pl] == '\0' || strcmp(target + pl, " (deleted)") == 0);
	}
	closedir(d);
	return n;
}

/* Resident set size in KiB (VmRSS), -1 if unknown. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* ---------------------------------------------------------------- */
/* the temporary directory for device links                           */
/* ---------------------------------------------------------------- */

static char tmp_dir[64];

static void tmp_setup(void)
{
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sm-faults-XXXXXX");
	assert_non_null(mkdtemp(tmp_dir));
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmp_dir, name);
}

static void tmp_teardown(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char p[PATH_MAX];
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmp_dir);
}

/* ---------------------------------------------------------------- */
/* pseudo-terminals: the meter's end is the master                    */
/* ---------------------------------------------------------------- */

struct pty {
	int master, slave; /* slave kept open: the master never sees a hangup */
	char name[64];     /* /dev/pts/N */
	char link[PATH_MAX];
};

/* Open a raw pty and (re)link it at link. */
static void pty_open(struct pty *p, const char *link)
{
	struct termios tio;
	char tmp[PATH_MAX + 8];

	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	assert_int_equal(openpty(&p->master, &p->slave, p->name, &tio, NULL), 0);
	int fl = fcntl(p->master, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fcntl(p->master, F_SETFL, fl | O_NONBLOCK), 0);
	fcntl(p->master, F_SETFD, FD_CLOEXEC);
	fcntl(p->slave, F_SETFD, FD_CLOEXEC);
	snprintf(p->link, sizeof p->link, "%s", link);
	snprintf(tmp, sizeof tmp, "%s.new", link);
	unlink(tmp);
	assert_int_equal(symlink(p->name, tmp), 0);
	assert_int_equal(rename(tmp, p->link), 0);
}

/* The device vanishes: link removed, both ends closed. */
static void pty_close(struct pty *p)
{
	unlink(p->link);
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	p->master = p->slave = -1;
}

/*
 * Write all of p[0..n) to a non-blocking fd, waiting for room (the reader
 * drains the pty).  stop (may be NULL) ends it early.  Returns the bytes
 * written (n unless stopped or the deadline passed).
 */
static size_t write_all(int fd, const uint8_t *p, size_t n, const atomic_bool *stop, int deadline_ms)
{
	size_t off = 0;
	int64_t end = mono_ms() + deadline_ms;

	while (off < n) {
		if (stop != NULL && atomic_load(stop))
			break;
		ssize_t w = write(fd, p + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (mono_ms() >= end)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		poll(&pfd, 1, 20);
	}
	return off;
}

/* ---------------------------------------------------------------- */
/* the push protocols and their frames                                */
/* ---------------------------------------------------------------- */

enum pk { P_DSMR, P_SMARTY, P_IEC, P_MBUS, P_HDLC, P_RAW, P_SML, NPK };

static const char *const pk_name[NPK] = {
	"dsmr5", "smarty", "iec-d", "dlms-mbus", "dlms-hdlc", "dlms-raw", "sml",
};

/* Keys of the encrypted variants (test values, not secrets). */
#define KEY_SMARTY "AEBD2C3E4F5061728394A5B6C7D8E9F0"
#define AUTH_SMARTY "00112233445566778899AABBCCDDEEFF"
#define KEY_MBUS "36C66639E48A8CA4D6BC8B282A793BBB"
#define KEY_RAW "000102030405060708090A0B0C0D0E0F"
#define AUTH_RAW "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"

/* The <Meter> options of each variant besides Device (and Timeout). */
static const char *const pk_options[NPK] = {
	"Protocol \"dsmr\"\n",
	"Protocol \"dsmr\"\nKey \"" KEY_SMARTY "\"\nAuthKey \"" AUTH_SMARTY "\"\n",
	"Protocol \"iec62056-21\"\nMode \"D\"\n",
	"Protocol \"dlms\"\nFraming \"mbus\"\nKey \"" KEY_MBUS "\"\n",
	"Protocol \"dlms\"\nFraming \"hdlc\"\n",
	"Protocol \"dlms\"\nFraming \"raw\"\nKey \"" KEY_RAW "\"\nAuthKey \"" AUTH_RAW "\"\n",
	"Protocol \"sml\"\n",
};

#define T0_MS 1709294400000LL /* 2024-03-01 12:00:00 UTC: frame i's meter time is T0 + 10 s * i */
#define FRAME_MAX 16384

/* What frame i carries, in base units. */
#define V_IMPORT(i) (10000000 + (int64_t)(i))
#define V_EXPORT(i) (5000000 + 3 * (int64_t)(i))
#define V_POWER(i) ((int64_t)(((i) * 37u) % 10000u))
#define V_VOLT(i) (2200 + (int64_t)((i) % 200u)) /* scale -1 */
#define V_CURR(i) ((int64_t)((i) % 1000u))        /* scale -2 */

static bool pk_has_version(enum pk k)
{
	return k == P_DSMR || k == P_SMARTY; /* 1-3:0.2.8(50): DSMR 5 needs its CRC */
}

static bool pk_has_time(enum pk k)
{
	return k != P_IEC; /* IEC 62056-21 data lines carry no zoned time */
}

/* The reading set frame i encodes (and what the sink must get back). */
static enum sm_err build_set(enum pk k, unsigned i, struct sm_reading_set *s)
{
	struct sm_obis o;
	enum sm_err e = SM_OK;
	char id[16];

	sm_set_clear(s);
	if (pk_has_version(k)) {
		o = sm_obis_make5(1, 3, 0, 2, 8);
		e = sm_set_add_number(s, &o, 50, 0, SM_UNIT_NONE, NULL, 0, 0);
	}
	o = sm_obis_make5(1, 0, 1, 8, 0);
	if (e == SM_OK)
		e = sm_set_add_number(s, &o, V_IMPORT(i), 0, SM_UNIT_WH, NULL, 0, 0);
	o = sm_obis_make5(1, 0, 2, 8, 0);
	if (e == SM_OK)
		e = sm_set_add_number(s, &o, V_EXPORT(i), 0, SM_UNIT_WH, NULL, 0, 0);
	o = sm_obis_make5(1, 0, 1, 7, 0);
	if (e == SM_OK)
		e = sm_set_add_number(s, &o, V_POWER(i), 0, SM_UNIT_W, NULL, 0, 0);
	o = sm_obis_make5(1, 0, 32, 7, 0);
	if (e == SM_OK)
		e = sm_set_add_number(s, &o, V_VOLT(i), -1, SM_UNIT_V, NULL, 0, 0);
	o = sm_obis_make5(1, 0, 31, 7, 0);
	if (e == SM_OK)
		e = sm_set_add_number(s, &o, V_CURR(i), -2, SM_UNIT_A, NULL, 0, 0);
	o = sm_obis_make5(0, 0, 96, 1, 0);
	snprintf(id, sizeof id, "ID%08u", i);
	if (e == SM_OK)
		e = sm_set_add_text(s, &o, id, strlen(id), 0);
	s->meter_time_ms = pk_has_time(k) ? T0_MS + 10000LL * i : 0;
	sm_set_finish(s);
	return e;
}

/*
 * The frame generator: encoders only (no cmocka asserts: writer threads
 * use it too).  One per thread.
 */
struct gen {
	struct sm_gcm *g_smarty, *g_mbus, *g_raw;
	struct sm_reading_set *set;
	uint8_t *a, *b; /* scratch, FRAME_MAX each */
};

static const uint8_t title[8] = { 'F', 'L', 'T', 0x01, 0x02, 0x03, 0x04, 0x05 };

static void hex_key(const char *hex, uint8_t out[16])
{
	assert_int_equal(sm_key_parse_hex(hex, strlen(hex), out), SM_OK);
}

static struct gen *gen_new(void)
{
	struct gen *g = calloc(1, sizeof *g);
	uint8_t k[16], a[16];

	assert_non_null(g);
	g->set = malloc(sizeof *g->set);
	g->a = malloc(FRAME_MAX);
	g->b = malloc(FRAME_MAX);
	assert_true(g->set != NULL && g->a != NULL && g->b != NULL);
	hex_key(KEY_SMARTY, k);
	hex_key(AUTH_SMARTY, a);
	assert_int_equal(sm_gcm_new(k, a, &g->g_smarty), SM_OK);
	hex_key(KEY_MBUS, k);
	assert_int_equal(sm_gcm_new(k, NULL, &g->g_mbus), SM_OK);
	hex_key(KEY_RAW, k);
	hex_key(AUTH_RAW, a);
	assert_int_equal(sm_gcm_new(k, a, &g->g_raw), SM_OK);
	return g;
}

static void gen_free(struct gen *g)
{
	if (g == NULL)
		return;
	sm_gcm_free(g->g_smarty);
	sm_gcm_free(g->g_mbus);
	sm_gcm_free(g->g_raw);
	free(g->set);
	free(g->a);
	free(g->b);
	free(g);
}

/* IEC 62056-21 data lines "A-B:C.D.E(value*unit)" CR LF for the set. */
static enum sm_err iec_lines(const struct sm_reading_set *s, char *out, size_t cap, size_t *outlen)
{
	struct sm_buf b;

	sm_buf_init(&b, out, cap);
	for (size_t j = 0; j < s->n; j++) {
		const struct sm_reading *r = &s->r[j];
		char ob[SM_OBIS_STRLEN];
		sm_obis_format(&r->obis, ob, sizeof ob);
		if (sm_buf_adds(&b, ob) != SM_OK || sm_buf_addc(&b, '(') != SM_OK)
			return SM_E_FULL;
		if (r->is_text) {
			if (sm_buf_add(&b, sm_reading_text(s, r), r->text_len) != SM_OK)
				return SM_E_FULL;
		} else {
			if (sm_decimal_format(&b, r->raw, r->scale) != SM_OK)
				return SM_E_FULL;
			if (r->unit != SM_UNIT_NONE &&
			    (sm_buf_addc(&b, '*') != SM_OK || sm_buf_adds(&b, sm_unit_str(r->unit)) != SM_OK))
				return SM_E_FULL;
		}
		if (sm_buf_adds(&b, ")\r\n") != SM_OK)
			return SM_E_FULL;
	}
	*outlen = b.len;
	return SM_OK;
}

/*
 * Which bytes of a frame its check covers: a flip in [lo, hi) must make
 * the frame rejected, except a "neutral" one (see flip_class).  Outside:
 *   dsmr5   the CR LF after the CRC (the CRC covers '/' .. '!');
 *   iec-d   the identification line and the STX (the BCC covers the bytes
 *           after STX through ETX; a push message may come without STX,
 *           so a damaged STX makes an unchecked message of it);
 * everything else is covered (M-Bus sums with start/stop bytes, HDLC
 * HCS/FCS with flags, SML CRC with escapes, GCM tags with their headers
 * as IV and AAD, and M-Bus under Key without tag: the sums).
 */
struct frame_info {
	size_t lo, hi;
	size_t crc_at; /* dsmr5: index of the first CRC digit */
};

/* Frame i of variant k into out.  SM_OK and *len, or an encoder error. */
static enum sm_err gen_frame(struct gen *g, enum pk k, unsigned i, uint8_t *out, size_t cap, size_t *len,
			     struct frame_info *fi)
{
	enum sm_err e = build_set(k, i, g->set);
	size_t n = 0, m = 0;

	if (e != SM_OK)
		return e;
	memset(fi, 0, sizeof *fi);
	switch (k) {
	case P_DSMR:
		e = sm_dsmr_encode(g->set, "FLT5\\2FAULT-INJECTION", true, out, cap, &n);
		if (e == SM_OK) {
			const uint8_t *bang = memchr(out, '!', n);
			if (bang == NULL)
				return SM_E_SYNTAX;
			fi->crc_at = (size_t)(bang - out) + 1;
			fi->hi = fi->crc_at + 4;
		}
		break;
	case P_SMARTY:
		e = sm_dsmr_encode(g->set, "FLT5\\2FAULT-SMARTY", true, g->a, FRAME_MAX, &m);
		if (e == SM_OK)
			e = sm_dsmr_seal_smarty(g->g_smarty, title, i + 1, 0x30, g->a, m, out, cap, &n);
		fi->hi = n;
		break;
	case P_IEC: {
		struct sm_iec_ident id;
		size_t ln = 0;
		memset(&id, 0, sizeof id);
		memcpy(id.manufacturer, "FLT", 4);
		id.baud_char = '5';
		snprintf(id.ident, sizeof id.ident, "FAULT-IEC-D");
		e = sm_iec_encode_ident(&id, out, cap, &n);
		if (e == SM_OK)
			e = iec_lines(g->set, (char *)g->a, FRAME_MAX, &ln);
		if (e == SM_OK)
			e = sm_iec_encode_data((const char *)g->a, ln, true, out + n, cap - n, &m);
		fi->lo = n + 1; /* after STX */
		n += m;
		fi->hi = n;
		break;
	}
	case P_MBUS:
		e = sm_dlms_encode(g->set, SM_DLMS_FLAT, i, 60, g->a, FRAME_MAX, &m);
		if (e == SM_OK)
			e = sm_gcm_seal(g->g_mbus, title, i + 1, 0x20, g->a, m, g->b, FRAME_MAX, &m);
		if (e == SM_OK)
			e = sm_mbus_encode_apdu(g->b, m, 120, out, cap, &n); /* two or more frames */
		fi->hi = n;
		break;
	case P_HDLC:
		e = sm_dlms_encode(g->set, SM_DLMS_STRUCTS, i, 60, g->a, FRAME_MAX, &m);
		if (e == SM_OK)
			e = sm_hdlc_encode_apdu(g->a, m, 100, out, cap, &n); /* two or more frames */
		fi->hi = n;
		break;
	case P_RAW:
		e = sm_dlms_encode(g->set, SM_DLMS_FLAT, i, 60, g->a, FRAME_MAX, &m);
		if (e == SM_OK)
			e = sm_gcm_seal(g->g_raw, title, i + 1, 0x30, g->a, m, out, cap, &n);
		fi->hi = n;
		break;
	case P_SML:
		e = sm_sml_encode(g->set, NULL, out, cap, &n);
		fi->hi = n;
		break;
	default:
		return SM_E_INTERNAL;
	}
	*len = n;
	return e;
}

static bool is_hex_letter(uint8_t c)
{
	return (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* A flip the frame's check need not catch: outside [lo, hi), or the case
 * bit of a hex letter of the DSMR CRC (the same CRC value: the telegram is
 * unchanged).  Only frames whose every flip is such are "unguarded". */
static bool flip_unguarded(enum pk k, const uint8_t *orig, const struct frame_info *fi, size_t pos, int bit)
{
	if (pos < fi->lo || pos >= fi->hi)
		return true;
	return k == P_DSMR && pos >= fi->crc_at && bit == 5 && is_hex_letter(orig[pos]);
}

/* ---------------------------------------------------------------- */
/* checking an emitted set against what its frame encoded             */
/* ---------------------------------------------------------------- */

/* raw * 10^scale with trailing zeros folded into the scale */
static void dec_norm(int64_t *raw, int *scale)
{
	if (*raw == 0) {
		*scale = 0;
		return;
	}
	while (*raw % 10 == 0) {
		*raw /= 10;
		(*scale)++;
	}
}

static bool dec_eq(int64_t ra, int sa, int64_t rb, int sb)
{
	dec_norm(&ra, &sa);
	dec_norm(&rb, &sb);
	return ra == rb && sa == sb;
}

/* The frame index a set's values name: from energy import, energy export
 * or the id text, whichever is there (a set is checked reading by reading
 * afterwards).  false when none is there. */
static bool set_index(const struct sm_reading_set *s, unsigned *idx)
{
	for (size_t j = 0; j < s->n; j++) {
		const struct sm_reading *r = &s->r[j];
		int64_t raw = r->raw;
		int sc = r->scale;
		if (r->is_text) {
			const char *t = sm_reading_text(s, r);
			if (r->obis.v[SM_OBIS_C] == 96 && r->text_len == 10 && memcmp(t, "ID", 2) == 0) {
				unsigned v = 0;
				for (int q = 2; q < 10; q++) {
					if (t[q] < '0' || t[q] > '9')
						return false;
					v = v * 10 + (unsigned)(t[q] - '0');
				}
				*idx = v;
				return true;
			}
			continue;
		}
		dec_norm(&raw, &sc);
		while (sc > 0 && raw < INT64_MAX / 10) {
			raw *= 10;
			sc--;
		}
		if (sc != 0)
			continue;
		if (r->obis.v[SM_OBIS_C] == 1 && r->obis.v[SM_OBIS_D] == 8 && raw >= V_IMPORT(0)) {
			*idx = (unsigned)(raw - V_IMPORT(0));
			return true;
		}
		if (r->obis.v[SM_OBIS_C] == 2 && r->obis.v[SM_OBIS_D] == 8 && raw >= V_EXPORT(0) &&
		    (raw - V_EXPORT(0)) % 3 == 0) {
			*idx = (unsigned)((raw - V_EXPORT(0)) / 3);
			return true;
		}
	}
	return false;
}

/*
 * Check set s against frame idx of variant k: every reading must be one
 * the frame encoded, with the same OBIS code, unit and value (or text);
 * strict: also all of them, no other, and the meter time.  Returns true,
 * or false with a reason in why.
 */
static bool check_set(enum pk k, const struct sm_reading_set *s, unsigned idx, bool strict,
		      struct sm_reading_set *scratch, char *why, size_t whylen)
{
	if (build_set(k, idx, scratch) != SM_OK) {
		snprintf(why, whylen, "frame %u: cannot build the expected set", idx);
		return false;
	}
	const struct sm_reading_set *x = scratch;
	if (strict && s->n != x->n) {
		snprintf(why, whylen, "frame %u: %zu readings, %zu expected", idx, s->n, x->n);
		return false;
	}
	if (strict && s->meter_time_ms != x->meter_time_ms) {
		snprintf(why, whylen, "frame %u: meter time %" PRId64 ", %" PRId64 " expected", idx,
			 s->meter_time_ms, x->meter_time_ms);
		return false;
	}
	for (size_t j = 0; j < s->n; j++) {
		const struct sm_reading *r = &s->r[j];
		const struct sm_reading *w = sm_set_find_obis(x, &r->obis);
		char ob[SM_OBIS_STRLEN];
		sm_obis_format(&r->obis, ob, sizeof ob);
		if (w == NULL) {
			snprintf(why, whylen, "frame %u: unexpected reading %s (%s)", idx, ob, r->name);
			return false;
		}
		if (strcmp(w->name, r->name) != 0 || r->is_text != w->is_text) {
			snprintf(why, whylen, "frame %u: %s named %s, %s expected", idx, ob, r->name, w->name);
			return false;
		}
		if (r->is_text) {
			if (r->text_len != w->text_len ||
			    memcmp(sm_reading_text(s, r), sm_reading_text(x, w), r->text_len) != 0) {
				snprintf(why, whylen, "frame %u: %s text \"%.*s\", \"%.*s\" expected", idx, ob,
					 (int)r->text_len, sm_reading_text(s, r), (int)w->text_len,
					 sm_reading_text(x, w));
				return false;
			}
			continue;
		}
		if (r->unit != w->unit || !dec_eq(r->raw, r->scale, w->raw, w->scale)) {
			snprintf(why, whylen, "frame %u: %s = %" PRId64 "e%d %s, %" PRId64 "e%d %s expected", idx, ob,
				 r->raw, r->scale, sm_unit_str(r->unit), w->raw, w->scale, sm_unit_str(w->unit));
			return false;
		}
	}
	return true;
}

/* ---------------------------------------------------------------- */
/* streams of frames                                                  */
/* ---------------------------------------------------------------- */

enum fstate { F_GOOD = 0, F_GUARDED, F_UNGUARDED }; /* corrupted: the check must catch it, or need not */

struct stream {
	struct bytes b;
	unsigned n;            /* frames */
	uint8_t *state;        /* enum fstate per frame */
	unsigned corrupted, guarded, flips;
};

static void stream_free(struct stream *s)
{
	bytes_free(&s->b);
	free(s->state);
	memset(s, 0, sizeof *s);
}

/* Append frame i (no faults). */
static void stream_add_good(struct gen *g, enum pk k, unsigned i, struct bytes *b)
{
	uint8_t *f = malloc(FRAME_MAX);
	size_t n = 0;
	struct frame_info fi;

	assert_non_null(f);
	assert_int_equal(gen_frame(g, k, i, f, FRAME_MAX, &n, &fi), SM_OK);
	bytes_add(b, f, n);
	free(f);
}

/*
 * Frames 0..n-1; each one with probability pct % gets 1 to max_flips
 * distinct random bit flips anywhere in the frame; it is F_GUARDED when one
 * of them lies where its check must see it (flip_unguarded), else
 * F_UNGUARDED.
 */
static void stream_make(struct gen *g, enum pk k, unsigned n, unsigned pct, unsigned max_flips, uint64_t seed,
			struct stream *s)
{
	struct rng r = { seed };
	uint8_t *f = malloc(FRAME_MAX), *orig = malloc(FRAME_MAX);

	assert_true(f != NULL && orig != NULL);
	memset(s, 0, sizeof *s);
	s->n = n;
	s->state = calloc(n > 0 ? n : 1, 1);
	assert_non_null(s->state);
	for (unsigned i = 0; i < n; i++) {
		size_t len = 0;
		struct frame_info fi;
		assert_int_equal(gen_frame(g, k, i, f, FRAME_MAX, &len, &fi), SM_OK);
		if (rng_below(&r, 100) < pct) {
			unsigned nf = 1 + (unsigned)rng_below(&r, max_flips);
			size_t pos[4];
			int bit[4];
			bool guarded = false;
			memcpy(orig, f, len);
			for (unsigned q = 0; q < nf; q++) {
				bool dup;
				do {
					pos[q] = rng_below(&r, len);
					bit[q] = (int)rng_below(&r, 8);
					dup = false;
					for (unsigned z = 0; z < q; z++)
						dup = dup || (pos[z] == pos[q] && bit[z] == bit[q]);
				} while (dup);
				f[pos[q]] ^= (uint8_t)(1u << bit[q]);
				guarded = guarded || !flip_unguarded(k, orig, &fi, pos[q], bit[q]);
			}
			s->state[i] = guarded ? F_GUARDED : F_UNGUARDED;
			s->corrupted++;
			s->guarded += guarded;
			s->flips += nf;
		}
		bytes_add(&s->b, f, len);
	}
	free(f);
	free(orig);
}

/* Most flips per corrupted frame: 1 where a single flip is what the check
 * is sure to catch (IEC BCC, M-Bus sum), up to 3 for CRC-16 and GCM. */
static unsigned pk_max_flips(enum pk k)
{
	return k == P_IEC || k == P_MBUS ? 1 : 3;
}

/* ---------------------------------------------------------------- */
/* what the readers hand out                                          */
/* ---------------------------------------------------------------- */

/*
 * A capture: the sink of one reader.  The sink runs on the reader thread,
 * so it never asserts; it identifies each set's frame (set_index), checks
 * the values (check_set: strictly for frames sent intact) and counts what
 * is wrong, for the test thread to assert on.
 */
struct cap {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum pk k;
	unsigned nframes;      /* frames 0..nframes-1 are tracked in seen[]; higher ones are a tail */
	const uint8_t *state;  /* enum fstate per tracked frame, NULL: all intact */
	unsigned *seen;        /* sets per tracked frame */
	unsigned nsets, tail_sets;
	long max_index;        /* highest frame index seen, -1 none */
	unsigned from_guarded, from_unguarded, bad, unidentified, dup;
	char problem[256];     /* the first problem */
	/* record mode: every set serialised (byte vs burst) */
	bool record;
	char **rec;
	size_t nrec, caprec;
	struct sm_reading_set *scratch;
};

static struct cap *cap_new(enum pk k, unsigned nframes, const uint8_t *state)
{
	struct cap *c = calloc(1, sizeof *c);
	pthread_condattr_t ca;

	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->k = k;
	c->nframes = nframes;
	c->state = state;
	c->seen = calloc(nframes > 0 ? nframes : 1, sizeof *c->seen);
	c->scratch = malloc(sizeof *c->scratch);
	assert_true(c->seen != NULL && c->scratch != NULL);
	c->max_index = -1;
	return c;
}

static void cap_free(struct cap *c)
{
	for (size_t i = 0; i < c->nrec; i++)
		free(c->rec[i]);
	free(c->rec);
	free(c->seen);
	free(c->scratch);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void cap_problem(struct cap *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cap_problem(struct cap *c, const char *fmt, ...)
{
	va_list ap;

	if (c->problem[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof c->problem, fmt, ap);
	va_end(ap);
}

/* Everything a set says except the receive time, as one text. */
static char *set_text(const struct sm_reading_set *s)
{
	size_t cap = 256 + s->n * 160 + s->text_used * 2;
	char *t = malloc(cap);
	struct sm_buf b;

	if (t == NULL)
		return NULL;
	sm_buf_init(&b, t, cap);
	(void)sm_buf_addf(&b, "time %" PRId64 "\n", s->meter_time_ms);
	for (size_t j = 0; j < s->n; j++) {
		const struct sm_reading *r = &s->r[j];
		char ob[SM_OBIS_STRLEN];
		sm_obis_format(&r->obis, ob, sizeof ob);
		(void)sm_buf_addf(&b, "%s %s kind %d unit %s %.*s t %" PRId64 " ", r->name, ob, (int)r->kind,
				  sm_unit_str(r->unit), (int)strnlen(r->unit_text, SM_UNIT_TEXT), r->unit_text,
				  r->time_ms);
		if (r->is_text)
			(void)sm_buf_addf(&b, "text \"%.*s\"\n", (int)r->text_len, sm_reading_text(s, r));
		else
			(void)sm_buf_addf(&b, "value %" PRId64 "e%d\n", r->raw, (int)r->scale);
	}
	return t;
}

static void sink_emit(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s, int64_t rx_ms,
		      double interval_s)
{
	struct cap *c = ctx;
	unsigned idx = 0;
	char why[200];

	(void)m;
	(void)rx_ms;
	(void)interval_s;
	pthread_mutex_lock(&c->mu);
	c->nsets++;
	if (c->record) {
		if (c->nrec == c->caprec) {
			size_t nc = c->caprec ? 2 * c->caprec : 32;
			char **q = realloc(c->rec, nc * sizeof *q);
			if (q != NULL) {
				c->rec = q;
				c->caprec = nc;
			}
		}
		if (c->nrec < c->caprec)
			c->rec[c->nrec++] = set_text(s);
	}
	if (!set_index(s, &idx)) {
		c->unidentified++;
		cap_problem(c, "a set of %zu readings names no frame", s->n);
	} else if (idx >= c->nframes) {
		c->tail_sets++;
		if (!check_set(c->k, s, idx, true, c->scratch, why, sizeof why)) {
			c->bad++;
			cap_problem(c, "%s", why);
		}
	} else {
		uint8_t st = c->state != NULL ? c->state[idx] : F_GOOD;
		if (c->seen[idx]++ > 0) {
			c->dup++;
			cap_problem(c, "frame %u emitted twice", idx);
		}
		if (st == F_GUARDED) {
			c->from_guarded++;
			cap_problem(c, "frame %u was corrupted where its check covers it, yet emitted", idx);
		} else if (st == F_UNGUARDED) {
			c->from_unguarded++;
		}
		/* values must be the encoded ones; all of them unless an
		 * unchecked byte (IEC: STX) was damaged */
		if (!check_set(c->k, s, idx, st == F_GOOD, c->scratch, why, sizeof why)) {
			c->bad++;
			cap_problem(c, "%s", why);
		}
	}
	if (s->n > 0 && set_index(s, &idx) && (long)idx > c->max_index)
		c->max_index = (long)idx;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void log_fn(void *ctx, enum sm_log_level level, const char *msg)
{
	const struct cap *c = ctx;

	if (verbose())
		fprintf(stderr, "  log %d [%s]: %s\n", (int)level, pk_name[c->k], msg);
}

typedef bool (*pred_fn)(struct cap *c, const void *arg);

/* Wait (deadline ms) until pred(c, arg) holds (called with c->mu held);
 * woken by every set, and every 20 ms for predicates on statistics. */
static bool cap_wait(struct cap *c, pred_fn pred, const void *arg, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;
	bool ok;

	pthread_mutex_lock(&c->mu);
	while (!(ok = pred(c, arg))) {
		int64_t now = mono_ms();
		if (now >= end)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t step = end - now < 20 ? end - now : 20;
		ts.tv_nsec += (long)step * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static bool p_nsets(struct cap *c, const void *arg)
{
	return c->nsets >= *(const unsigned *)arg;
}

static bool p_tail(struct cap *c, const void *arg)
{
	(void)arg;
	return c->tail_sets > 0;
}

static bool p_seen(struct cap *c, const void *arg)
{
	unsigned i = *(const unsigned *)arg;
	return i < c->nframes && c->seen[i] > 0;
}

static bool p_index(struct cap *c, const void *arg)
{
	return c->max_index >= *(const long *)arg;
}

/* ---------------------------------------------------------------- */
/* readers from configuration text                                    */
/* ---------------------------------------------------------------- */

struct rd {
	struct sm_cfg_node root;
	struct sm_config cfg;
	struct sm_port *ports;
	size_t nports;
	struct sm_reader *r;
};

/* A <Meter> block for variant k on device, with Timeout seconds. */
static void meter_text(char *out, size_t cap, enum pk k, const char *device, double timeout_s)
{
	snprintf(out, cap, "<Meter \"%s\">\n%sDevice \"%s\"\nTimeout %g\n</Meter>\n", pk_name[k], pk_options[k],
		 device, timeout_s);
}

/* Parse, validate, create and start the reader of the one port. */
static struct rd *rd_start_sink(const char *text, const struct sm_sink *sink, const struct sm_log *log)
{
	struct rd *d = calloc(1, sizeof *d);
	char err[512];

	assert_non_null(d);
	sm_config_init(&d->cfg);
	enum sm_err rc = sm_cfg_parse(text, strlen(text), "faults.conf", &d->root, err, sizeof err);
	if (rc == SM_OK)
		rc = sm_config_from_tree(&d->cfg, sm_cfg_find_smartmeter(&d->root), err, sizeof err);
	if (rc == SM_OK)
		rc = sm_config_validate(&d->cfg, err, sizeof err);
	if (rc != SM_OK)
		print_error("configuration: %s\n%s", err, text);
	assert_int_equal(rc, SM_OK);
	sm_cfg_wipe_keys(&d->root);
	assert_int_equal(sm_config_ports(&d->cfg, &d->ports, &d->nports), SM_OK);
	assert_int_equal(d->nports, 1);

	struct sm_reader_opts opts = { false, false, NULL, BACKOFF_MS };
	assert_int_equal(sm_reader_create(&d->ports[0], sink, log, &opts, &d->r), SM_OK);
	assert_int_equal(sm_reader_start(d->r), SM_OK);
	return d;
}

static struct rd *rd_start(const char *text, struct cap *c)
{
	struct sm_sink sink = { sink_emit, c };
	struct sm_log log = { log_fn, c };
	return rd_start_sink(text, &sink, &log);
}

static void rd_stats(struct rd *d, struct sm_stats *st)
{
	sm_reader_stats(d->r, 0, st);
}

/* Stop, join, take the final statistics (st may be NULL), free. */
static void rd_end(struct rd *d, struct sm_stats *st)
{
	if (d == NULL)
		return;
	sm_reader_stop(d->r);
	sm_reader_join(d->r);
	if (st != NULL)
		rd_stats(d, st);
	sm_reader_destroy(d->r);
	sm_ports_free(d->ports, d->nports);
	sm_config_free(&d->cfg);
	sm_cfg_node_free(&d->root);
	free(d);
}

/* A reader of variant k on a fresh pty linked at tmp_dir/name. */
static struct rd *rd_on_pty(enum pk k, const char *name, double timeout_s, struct cap *c, struct pty *p)
{
	char link[PATH_MAX], text[PATH_MAX + 1024];

	tmp_path(link, sizeof link, name);
	pty_open(p, link);
	meter_text(text, sizeof text, k, link, timeout_s);
	return rd_start(text, c);
}

/* ---------------------------------------------------------------- */
/* a writer thread: a stream, then (optionally) a tail of good frames  */
/* ---------------------------------------------------------------- */

struct writer {
	int fd;
	const uint8_t *p;
	size_t n;
	bool tail;           /* after the stream: frames tail_from, +1, ... every SEND_PERIOD_MS */
	unsigned tail_from;
	enum pk k;
	struct gen *g;       /* the tail's encoder (this thread's own) */
	atomic_bool stop;
	atomic_size_t written;
	pthread_t tid;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t *f = malloc(FRAME_MAX);

	atomic_store(&w->written, write_all(w->fd, w->p, w->n, &w->stop, 120000));
	for (unsigned i = w->tail_from; w->tail && f != NULL && !atomic_load(&w->stop); i++) {
		size_t len = 0;
		struct frame_info fi;
		if (gen_frame(w->g, w->k, i, f, FRAME_MAX, &len, &fi) == SM_OK)
			(void)write_all(w->fd, f, len, &w->stop, 1000);
		poll(NULL, 0, SEND_PERIOD_MS); /* the meter's send period */
	}
	free(f);
	return NULL;
}

static void writer_start(struct writer *w, int fd, const uint8_t *p, size_t n, enum pk k, bool tail, unsigned tail_from)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->p = p;
	w->n = n;
	w->k = k;
	w->tail = tail;
	w->tail_from = tail_from;
	if (tail)
		w->g = gen_new();
	atomic_init(&w->stop, false);
	atomic_init(&w->written, 0);
	assert_int_equal(pthread_create(&w->tid, NULL, writer_main, w), 0);
}

static void writer_end(struct writer *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->tid, NULL);
	gen_free(w->g);
	w->g = NULL;
}

/* ---------------------------------------------------------------- */
/* 3. random bit flips                                                */
/* ---------------------------------------------------------------- */

/* Variants whose framer resynchronises at once after a damaged frame:
 * not even its neighbour may be lost.  (DSMR: a damaged line end before
 * the next '/' costs that telegram; Smarty and raw DLMS: a damaged APDU
 * length swallows the start of the next APDU.) */
static bool pk_resyncs_at_once(enum pk k)
{
	return k == P_IEC || k == P_MBUS || k == P_HDLC || k == P_SML;
}

static void run_bitflips(enum pk k)
{
	unsigned n = valgrind_mode() ? 2000 : 10000;
	struct gen *g = gen_new();
	struct stream s;
	struct pty p;
	struct writer w;
	struct sm_stats st;

	stream_make(g, k, n, 20, pk_max_flips(k), 0x5EED0000u + (unsigned)k, &s);
	gen_free(g);
	struct cap *c = cap_new(k, n, s.state);
	struct rd *d = rd_on_pty(k, pk_name[k], 30, c, &p);
	int64_t t0 = mono_ms();
	writer_start(&w, p.master, s.b.p, s.b.n, k, true, n);
	bool done = cap_wait(c, p_tail, NULL, 60000); /* the stream is through */
	int64_t dt = mono_ms() - t0;
	writer_end(&w);
	rd_end(d, &st);
	pty_close(&p);

	unsigned good = 0, delivered = 0, lost_nb = 0, lost_far = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s.state[i] != F_GOOD)
			continue;
		good++;
		if (c->seen[i] > 0)
			delivered++;
		else if (i > 0 && s.state[i - 1] != F_GOOD)
			lost_nb++;
		else
			lost_far++;
	}
	print_message("%-9s %u frames (%zu bytes) in %" PRId64 " ms: %u corrupted by %u flips (%u where the "
		      "check covers them); rejected: crc %" PRIu64 ", decode %" PRIu64 ", auth %" PRIu64
		      "; good frames delivered %u of %u (lost: %u next to a corrupted frame, %u elsewhere); "
		      "%u sets from frames damaged outside the check (values intact)\n",
		      pk_name[k], n, s.b.n, dt, s.corrupted, s.flips, s.guarded, st.crc, st.decode, st.auth,
		      delivered, good, lost_nb, lost_far, c->from_unguarded);
	if (c->problem[0] != '\0')
		print_error("%s: %s\n", pk_name[k], c->problem);
	assert_true(done);
	assert_true(atomic_load(&w.written) == s.b.n);
	assert_int_equal(c->from_guarded, 0);
	assert_int_equal(c->bad, 0);
	assert_int_equal(c->unidentified, 0);
	assert_int_equal(c->dup, 0);
	assert_true(s.corrupted > n / 10 && s.corrupted < n * 3 / 10);
	assert_true(delivered + s.corrupted >= good); /* a corruption costs at most its neighbour */
	if (!valgrind_mode()) /* (valgrind may pause the writer long enough for an idle flush) */
		assert_int_equal(lost_far, 0);
	if (pk_resyncs_at_once(k))
		assert_int_equal(lost_nb, 0);
	/* Interval 0: every frame that decoded was emitted */
	assert_int_equal(st.frames, c->nsets);
	assert_int_equal(st.reconnect, 0);
	/* rejected frames are counted (a frame whose start marker was hit
	 * is skipped as noise, uncounted: that is the rest) */
	assert_true(st.crc + st.decode + st.auth >= s.guarded * 8 / 10);
	cap_free(c);
	stream_free(&s);
}

#define FLIP_TEST(k, fn)                 \
	static void fn(void **state)     \
	{                                \
		(void)state;             \
		run_bitflips(k);         \
	}
FLIP_TEST(P_DSMR, test_bitflips_dsmr)
FLIP_TEST(P_SMARTY, test_bitflips_smarty)
FLIP_TEST(P_IEC, test_bitflips_iec)
FLIP_TEST(P_MBUS, test_bitflips_mbus)
FLIP_TEST(P_HDLC, test_bitflips_hdlc)
FLIP_TEST(P_RAW, test_bitflips_raw)
FLIP_TEST(P_SML, test_bitflips_sml)

/* ---------------------------------------------------------------- */
/* 2. byte at a time and in one burst                                 */
/* ---------------------------------------------------------------- */

#define BB_FRAMES 20

/* Run the stream through a fresh reader, in one burst or one byte at a
 * time (the next byte only once the reader has taken the previous one);
 * the serialised sets go to *out (owned by the caller's capture).
 * Returns the longest pause between two bytes (ms), 0 for a burst. */
static int64_t bb_run(enum pk k, const struct bytes *b, bool bytewise, struct cap **out)
{
	struct cap *c = cap_new(k, BB_FRAMES, NULL);
	struct pty p;
	struct sm_stats st;
	int64_t gap = 0;

	c->record = true;
	struct rd *d = rd_on_pty(k, bytewise ? "bytewise" : "burst", 30, c, &p);
	if (!bytewise) {
		assert_int_equal(write_all(p.master, b->p, b->n, NULL, 10000), b->n);
	} else {
		int64_t last = mono_ms();
		for (size_t j = 0; j < b->n; j++) {
			assert_int_equal(write_all(p.master, b->p + j, 1, NULL, 1000), 1);
			int64_t now = mono_ms();
			if (j > 0 && now - last > gap)
				gap = now - last;
			last = now;
			/* the reader counts a byte before it feeds it: wait for it */
			int64_t end = now + 2000;
			for (;;) {
				rd_stats(d, &st);
				if (st.bytes >= j + 1)
					break;
				assert_true(mono_ms() < end);
				nap_us(30);
			}
		}
	}
	unsigned want = BB_FRAMES;
	bool ok = cap_wait(c, p_nsets, &want, 10000);
	rd_end(d, &st);
	pty_close(&p);
	if (!ok || c->problem[0] != '\0')
		print_error("%s %s: %u sets; %s\n", pk_name[k], bytewise ? "byte at a time" : "burst", c->nsets,
			    c->problem);
	assert_true(ok);
	assert_int_equal(st.bytes, b->n);
	assert_int_equal(st.crc + st.decode + st.auth + st.timeout, 0);
	assert_int_equal(c->bad + c->unidentified + c->dup, 0);
	*out = c;
	return gap;
}

static void test_byte_vs_burst(void **state)
{
	(void)state;
	for (int k = 0; k < NPK; k++) {
		struct gen *g = gen_new();
		struct bytes b = { 0 };
		struct cap *burst = NULL, *bytes = NULL;
		int64_t t0 = mono_ms(), gap = 0;

		for (unsigned i = 0; i < BB_FRAMES; i++)
			stream_add_good(g, (enum pk)k, i, &b);
		gen_free(g);
		bb_run((enum pk)k, &b, false, &burst);
		/* Silence of 100 ms ends a frame (the reader's idle): a byte
		 * that came later than that would legitimately cut a frame.
		 * Such a run (a stalled test thread) is repeated. */
		for (int attempt = 0; attempt < 3; attempt++) {
			if (bytes != NULL)
				cap_free(bytes);
			gap = bb_run((enum pk)k, &b, true, &bytes);
			if (gap < SM_READ_TIMEOUT_MS * 8 / 10)
				break;
			print_message("%s: a pause of %" PRId64 " ms between two bytes: again\n", pk_name[k], gap);
		}
		print_message("%-9s %u frames, %zu bytes: burst and byte at a time (longest pause %" PRId64
			      " ms) give the same %zu sets (%" PRId64 " ms)\n",
			      pk_name[k], BB_FRAMES, b.n, gap, burst->nrec, mono_ms() - t0);
		assert_true(gap < SM_READ_TIMEOUT_MS);
		assert_int_equal(burst->nrec, BB_FRAMES);
		assert_int_equal(bytes->nrec, BB_FRAMES);
		for (size_t i = 0; i < BB_FRAMES; i++) {
			assert_non_null(burst->rec[i]);
			assert_non_null(bytes->rec[i]);
			assert_string_equal(burst->rec[i], bytes->rec[i]);
			assert_int_equal(burst->seen[i], 1);
		}
		cap_free(burst);
		cap_free(bytes);
		bytes_free(&b);
	}
}

/*
 * Was a defect (found here, fixed in iec62056_21.c): the BCC of an IEC
 * 62056-21 message covers the bytes after STX, but whether the BCC was
 * checked at all depended on the STX byte itself.  Any single flip
 * of STX (0x02 -> 0x00, 0x03, 0x06, 0x0A, 0x12, 0x22, 0x42, 0x82) makes
 * sm_iec_framer_feed (iec62056_21.c) take the data lines as a message
 * without STX (check ABSENT) and skip the ETX and BCC after its '!' line
 * as noise.  In test_bitflips_iec (one flip per frame) the values still
 * come out right; with one more flip in a data digit, which the BCC would
 * have caught, a wrong value is emitted.  Here: frames 0, 2, .. 14 have
 * STX flipped at each bit and a digit of energy_export flipped; frames 1,
 * 3, .. 15 are intact.  (A '!' line followed by ETX and a byte in a message
 * without STX could be taken for a damaged STX and rejected.)
 */
static void test_iec_stx_damage(void **state)
{
	(void)state;
	/* (fixed: iec62056_21.c drops such a message as SM_E_BCC) */
	enum { NF = 16 };
	struct gen *g = gen_new();
	struct stream s;
	uint8_t *f = malloc(FRAME_MAX);
	struct pty p;
	struct writer w;
	struct sm_stats st;

	assert_non_null(f);
	memset(&s, 0, sizeof s);
	s.n = NF;
	s.state = calloc(NF, 1);
	assert_non_null(s.state);
	for (unsigned i = 0; i < NF; i++) {
		size_t len = 0;
		struct frame_info fi;
		assert_int_equal(gen_frame(g, P_IEC, i, f, FRAME_MAX, &len, &fi), SM_OK);
		if (i % 2 == 0) {
			static const char key[] = "1-0:2.8.0(";
			uint8_t *at = memmem(f, len, key, sizeof key - 1);
			assert_non_null(at);
			assert_int_equal(f[fi.lo - 1], SM_IEC_STX);
			f[fi.lo - 1] ^= (uint8_t)(1u << (i / 2)); /* STX */
			at[sizeof key] ^= 0x01;                     /* the value's second digit */
			s.state[i] = F_GUARDED;
			s.corrupted++;
		}
		bytes_add(&s.b, f, len);
	}
	free(f);
	gen_free(g);
	struct cap *c = cap_new(P_IEC, NF, s.state);
	struct rd *d = rd_on_pty(P_IEC, "iec-stx", 30, c, &p);
	writer_start(&w, p.master, s.b.p, s.b.n, P_IEC, true, NF);
	bool done = cap_wait(c, p_tail, NULL, 10000);
	writer_end(&w);
	rd_end(d, &st);
	pty_close(&p);
	print_message("iec-d: %u frames with STX and a data digit flipped: %u emitted, %u sets with wrong values; "
		      "bcc errors %" PRIu64 "\n",
		      s.corrupted, c->from_guarded, c->bad, st.crc);
	if (c->problem[0] != '\0')
		print_error("iec-d: %s\n", c->problem);
	assert_true(done);
	for (unsigned i = 1; i < NF; i += 2)
		assert_int_equal(c->seen[i], 1);
	assert_int_equal(c->from_guarded, 0);
	assert_int_equal(c->bad, 0);
	cap_free(c);
	stream_free(&s);
}

/*
 * Was a defect (found here, fixed in reader.c): a good frame behind a cut
 * one waited for the next input.  The M-Bus framer
 * (mbus.h) hands out one result per flush ("call flush until it returns
 * SM_NEED_MORE"): after a plausible header that announced more bytes than
 * came (68 FF FF 68 53 ..., noise or a frame cut off) and a good APDU
 * behind it, the first flush rejects the cut frame (SM_E_TRUNCATED) and
 * only the second hands out the good APDU.  reader.c calls the protocol's
 * idle once per silence (idle_all, also at the end of a file in
 * input_ended), so the good frame is emitted only when the meter's next
 * bytes arrive, or never (a meter that stops, the end of a replayed file).
 */
static void test_mbus_held_back(void **state)
{
	(void)state;
	/* (fixed: reader.c calls idle until nothing is pending) */
	static const uint8_t cut[] = { 0x68, 0xFF, 0xFF, 0x68, 0x53, 0xFF, 0x10, 0x01, 0x67, 0x0F };
	struct gen *g = gen_new();
	struct bytes b = { 0 };
	struct cap *c = cap_new(P_MBUS, 1, NULL);
	struct pty p;
	struct sm_stats st;
	unsigned i0 = 0;

	bytes_add(&b, cut, sizeof cut);
	stream_add_good(g, P_MBUS, 0, &b);
	gen_free(g);
	struct rd *d = rd_on_pty(P_MBUS, "mbus-held", 30, c, &p);
	assert_int_equal(write_all(p.master, b.p, b.n, NULL, 2000), b.n);
	/* the reader idles 100 ms after the last byte */
	bool seen = cap_wait(c, p_seen, &i0, 2000);
	rd_end(d, &st);
	pty_close(&p);
	print_message("dlms-mbus: a cut frame, then a good APDU, then silence: the APDU %s; decode %" PRIu64 "\n",
		      seen ? "was read" : "was not read within 2 s", st.decode);
	assert_true(seen);
	cap_free(c);
	bytes_free(&b);
}

/* ---------------------------------------------------------------- */
/* 4. and 5. garbage, and a frame that never ends, then good frames    */
/* ---------------------------------------------------------------- */

#define AFTER_FRAMES 10

/*
 * prefix, then frames 0..AFTER_FRAMES-1, then a tail of good frames every
 * SEND_PERIOD_MS until the reader has emitted one of the tail.  The first
 * frame may be lost to whatever the prefix left pending (a DSMR '/' in
 * the garbage makes the telegram's own '/' no line start); every later
 * one must come, exactly once and with its values.  Returns the capture
 * (statistics in *st).
 */
static struct cap *run_after(enum pk k, const struct bytes *prefix, const char *what, struct sm_stats *st)
{
	struct gen *g = gen_new();
	struct bytes b = { 0 };
	struct cap *c = cap_new(k, AFTER_FRAMES, NULL);
	struct pty p;
	struct writer w;

	bytes_add(&b, prefix->p, prefix->n);
	for (unsigned i = 0; i < AFTER_FRAMES; i++)
		stream_add_good(g, k, i, &b);
	gen_free(g);
	struct rd *d = rd_on_pty(k, pk_name[k], 30, c, &p);
	long rss0 = rss_kib();
	int64_t t0 = mono_ms();
	writer_start(&w, p.master, b.p, b.n, k, true, AFTER_FRAMES);
	bool done = cap_wait(c, p_tail, NULL, 60000);
	int64_t dt = mono_ms() - t0;
	writer_end(&w);
	long rss1 = rss_kib();
	rd_end(d, st);
	pty_close(&p);

	unsigned after = 0;
	for (unsigned i = 0; i < AFTER_FRAMES; i++)
		after += c->seen[i] > 0;
	print_message("%-9s %s (%zu bytes), then %u good frames: %u of them read (%" PRId64 " ms); "
		      "crc %" PRIu64 ", decode %" PRIu64 ", auth %" PRIu64 "; RSS %+ld KiB\n",
		      pk_name[k], what, prefix->n, AFTER_FRAMES, after, dt, st->crc, st->decode, st->auth,
		      rss1 - rss0);
	if (c->problem[0] != '\0')
		print_error("%s: %s\n", pk_name[k], c->problem);
	assert_true(done);
	assert_int_equal(atomic_load(&w.written), b.n);
	assert_int_equal(c->bad + c->unidentified + c->dup, 0);
	for (unsigned i = 1; i < AFTER_FRAMES; i++)
		assert_int_equal(c->seen[i], 1);
	assert_int_equal(st->reconnect, 0);
	/* fixed buffers: nothing grows with the input (the writer thread's
	 * stack and allocator arenas are all that may appear) */
	if (rss0 > 0 && rss1 > 0)
		assert_true(rss1 - rss0 < 2048);
	bytes_free(&b);
	return c;
}

static void test_garbage(void **state)
{
	(void)state;
	size_t n = 4u << 20;
	struct bytes garbage = { 0 };
	struct rng r = { 0x6A7BA6E0u };

	garbage.p = malloc(n);
	assert_non_null(garbage.p);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(&r);
		memcpy(garbage.p + i, &v, n - i < 8 ? n - i : 8);
	}
	garbage.n = garbage.cap = n;
	for (int k = 0; k < NPK; k++) {
		struct sm_stats st;
		struct cap *c = run_after((enum pk)k, &garbage, "4 MiB of random bytes", &st);
		/* the text framers see frame starts in random bytes: they must
		 * have rejected (and counted) what followed them */
		if (k == P_DSMR || k == P_IEC)
			assert_true(st.crc + st.decode > 0);
		cap_free(c);
	}
	bytes_free(&garbage);
}

/* A frame start of variant k that never ends: n bytes in all. */
static void endless_frame(enum pk k, size_t n, struct bytes *b)
{
	uint8_t *f = malloc(FRAME_MAX);
	size_t len = 0;

	assert_non_null(f);
	switch (k) {
	case P_DSMR:
	case P_IEC: /* "/" and a line that never ends */
		bytes_add(b, "/", 1);
		memset(f, 'A', FRAME_MAX);
		while (b->n < n)
			bytes_add(b, f, n - b->n < FRAME_MAX ? n - b->n : FRAME_MAX);
		break;
	case P_SMARTY:
	case P_RAW: {
		/* a plausible 0xDB header announcing 4000 bytes, then bytes
		 * that never hold another 0xDB */
		static const uint8_t h[] = { 0xDB, 0x08, 'F', 'L', 'T', 1, 2, 3, 4, 5, 0x82, 0x0F, 0xA0, 0x30 };
		bytes_add(b, h, sizeof h);
		memset(f, 'A', FRAME_MAX);
		while (b->n < n)
			bytes_add(b, f, n - b->n < FRAME_MAX ? n - b->n : FRAME_MAX);
		break;
	}
	case P_MBUS: {
		/* an APDU whose last segment never comes: valid frames with
		 * segment counters 0, 1, .. 15, 0, .. */
		uint8_t seg[2 + 200];
		seg[0] = 0x01;
		seg[1] = 0x67;
		memset(seg + 2, 0x11, sizeof seg - 2);
		seg[2] = 0x0F; /* a data-notification, for the first segment */
		for (unsigned q = 0; b->n < n; q++) {
			assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, (uint8_t)(q % 16), seg, sizeof seg, f,
							      FRAME_MAX, &len), SM_OK);
			bytes_add(b, f, len);
			seg[2] = 0x11;
		}
		break;
	}
	case P_HDLC: {
		/* a segmented message that never ends: LLC header, then
		 * frames with the segment bit set */
		static const uint8_t addr[] = { 0x41, 0x08, 0x83 };
		uint8_t info[200];
		memset(info, 0x11, sizeof info);
		info[0] = 0xE6;
		info[1] = 0xE7;
		info[2] = 0x00;
		info[3] = 0x0F;
		for (unsigned q = 0; b->n < n; q++) {
			assert_int_equal(sm_hdlc_encode_frame(true, addr, sizeof addr, 0x13, info, sizeof info, f,
							      FRAME_MAX, &len), SM_OK);
			bytes_add(b, f, len);
			info[0] = info[1] = info[2] = info[3] = 0x11;
		}
		break;
	}
	case P_SML: {
		/* a start sequence and no end */
		static const uint8_t start[] = { 0x1B, 0x1B, 0x1B, 0x1B, 0x01, 0x01, 0x01, 0x01 };
		bytes_add(b, start, sizeof start);
		memset(f, 0x76, FRAME_MAX);
		while (b->n < n)
			bytes_add(b, f, n - b->n < FRAME_MAX ? n - b->n : FRAME_MAX);
		break;
	}
	default:
		fail();
	}
	free(f);
}

static void test_endless(void **state)
{
	(void)state;
	for (int k = 0; k < NPK; k++) {
		struct bytes b = { 0 };
		struct sm_stats st;
		endless_frame((enum pk)k, 2u << 20, &b);
		struct cap *c = run_after((enum pk)k, &b, "a frame that never ends", &st);
		/* the oversized frame was dropped with a reason */
		assert_true(st.crc + st.decode + st.auth > 0);
		cap_free(c);
		bytes_free(&b);
	}
}

/* ---------------------------------------------------------------- */
/* 6. a meter that stops in the middle of a frame                      */
/* ---------------------------------------------------------------- */

static bool p_stalled(struct cap *c, const void *arg)
{
	(void)c;
	struct sm_stats st;
	rd_stats((struct rd *)arg, &st);
	return st.timeout > 0;
}

static void test_stall(void **state)
{
	(void)state;
	for (int k = 0; k < NPK; k++) {
		struct gen *g = gen_new();
		struct bytes f0 = { 0 }, f1 = { 0 }, f2 = { 0 };
		struct cap *c = cap_new((enum pk)k, 3, NULL);
		struct pty p;
		struct sm_stats st;
		unsigned i0 = 0, i2 = 2;

		stream_add_good(g, (enum pk)k, 0, &f0);
		stream_add_good(g, (enum pk)k, 1, &f1);
		stream_add_good(g, (enum pk)k, 2, &f2);
		gen_free(g);
		struct rd *d = rd_on_pty((enum pk)k, pk_name[k], 0.3, c, &p);
		int64_t t0 = mono_ms();
		assert_int_equal(write_all(p.master, f0.p, f0.n, NULL, 2000), f0.n);
		assert_true(cap_wait(c, p_seen, &i0, 3000));
		/* half of frame 1, then silence beyond Timeout */
		assert_int_equal(write_all(p.master, f1.p, f1.n / 2, NULL, 2000), f1.n / 2);
		assert_true(cap_wait(c, p_stalled, d, 5000));
		int64_t stalled = mono_ms() - t0;
		assert_int_equal(write_all(p.master, f2.p, f2.n, NULL, 2000), f2.n);
		assert_true(cap_wait(c, p_seen, &i2, 3000));
		rd_end(d, &st);
		pty_close(&p);
		print_message("%-9s stalled after %" PRId64 " ms; half frame dropped (crc %" PRIu64 ", decode %" PRIu64
			      ", auth %" PRIu64 "), next frame read; %u sets\n",
			      pk_name[k], stalled, st.crc, st.decode, st.auth, c->nsets);
		if (c->problem[0] != '\0')
			print_error("%s: %s\n", pk_name[k], c->problem);
		assert_int_equal(c->seen[0], 1);
		assert_int_equal(c->seen[1], 0); /* nothing of the half frame */
		assert_int_equal(c->seen[2], 1); /* not glued to the half frame */
		assert_int_equal(c->nsets, 2);
		assert_int_equal(c->bad + c->unidentified + c->dup, 0);
		assert_true(st.timeout >= 1);
		assert_int_equal(st.frames, 2);
		assert_true(st.crc + st.decode + st.auth >= 1); /* dropped with a reason */
		cap_free(c);
		bytes_free(&f0);
		bytes_free(&f1);
		bytes_free(&f2);
	}
}

/* ---------------------------------------------------------------- */
/* 1. a port that vanishes and comes back                             */
/* ---------------------------------------------------------------- */

/* A meter sending frame next, next + 1, ... every SEND_PERIOD_MS to
 * whatever pty it has (none while unplugged). */
struct msim {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pty pty; /* master -1 while unplugged */
	enum pk k;
	unsigned next;
	bool quit;
	struct gen *g;
	pthread_t tid;
};

static void *msim_main(void *arg)
{
	struct msim *m = arg;
	uint8_t *f = malloc(FRAME_MAX);

	pthread_mutex_lock(&m->mu);
	while (!m->quit && f != NULL) {
		size_t len = 0;
		struct frame_info fi;
		if (m->pty.master >= 0 && gen_frame(m->g, m->k, m->next, f, FRAME_MAX, &len, &fi) == SM_OK) {
			/* a meter does not wait for a reader: whatever does not
			 * fit the line is lost */
			ssize_t w = write(m->pty.master, f, len);
			(void)w;
			m->next++;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SEND_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->cv, &m->mu, &ts); /* the send period */
	}
	pthread_mutex_unlock(&m->mu);
	free(f);
	return NULL;
}

static struct msim *msim_new(enum pk k, const char *link)
{
	struct msim *m = calloc(1, sizeof *m);
	pthread_condattr_t ca;

	assert_non_null(m);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	m->k = k;
	m->g = gen_new();
	pty_open(&m->pty, link);
	assert_int_equal(pthread_create(&m->tid, NULL, msim_main, m), 0);
	return m;
}

/* Pull the plug: the link goes, both ends close.  *name gets the pty's
 * name. */
static void msim_unplug(struct msim *m, char *name, size_t cap)
{
	pthread_mutex_lock(&m->mu);
	snprintf(name, cap, "%s", m->pty.name);
	pty_close(&m->pty);
	pthread_mutex_unlock(&m->mu);
}

/* A new device at the same link; returns the first frame it will carry. */
static unsigned msim_plug(struct msim *m)
{
	char link[PATH_MAX];

	pthread_mutex_lock(&m->mu);
	snprintf(link, sizeof link, "%s", m->pty.link);
	pty_open(&m->pty, link);
	unsigned first = m->next;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return first;
}

static void msim_free(struct msim *m)
{
	pthread_mutex_lock(&m->mu);
	m->quit = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->tid, NULL);
	if (m->pty.master >= 0)
		pty_close(&m->pty);
	gen_free(m->g);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static bool wait_fds_closed(const char *name, int deadline_ms)
{
	int64_t end = mono_ms() + deadline_ms;

	for (;;) {
		if (fds_on(name) == 0)
			return true;
		if (mono_ms() >= end)
			return false;
		nap_us(1000);
	}
}

#define VANISH_CYCLES 20

static void test_vanish(void **state)
{
	(void)state;
	char link_a[PATH_MAX], link_b[PATH_MAX], text[2 * PATH_MAX + 1024];

	/* warm up what allocates once per process (OpenSSL, the resolver of
	 * thread names...), then count descriptors and threads */
	gen_free(gen_new());
	int fd0 = count_dir("/proc/self/fd"), th0 = count_dir("/proc/self/task");
	assert_true(fd0 > 0 && th0 > 0);

	tmp_path(link_a, sizeof link_a, "vanishing");
	tmp_path(link_b, sizeof link_b, "steady");
	struct cap *ca = cap_new(P_DSMR, 0, NULL), *cb = cap_new(P_SML, 0, NULL);
	struct msim *ma = msim_new(P_DSMR, link_a), *mb = msim_new(P_SML, link_b);
	meter_text(text, sizeof text, P_DSMR, link_a, 30);
	struct rd *ra = rd_start(text, ca);
	meter_text(text, sizeof text, P_SML, link_b, 30);
	struct rd *rb = rd_start(text, cb);
	long want = 2;
	assert_true(cap_wait(ca, p_index, &want, 5000));
	assert_true(cap_wait(cb, p_index, &want, 5000));

	int64_t t0 = mono_ms(), worst = 0;
	for (int cycle = 0; cycle < VANISH_CYCLES; cycle++) {
		char name[64];
		struct stat sb;
		int64_t c0 = mono_ms();
		pthread_mutex_lock(&cb->mu);
		unsigned b0 = cb->nsets + 1;
		pthread_mutex_unlock(&cb->mu);

		msim_unplug(ma, name, sizeof name);
		assert_true(lstat(link_a, &sb) != 0);
		/* the reader noticed: it closed its descriptor of the old pty */
		if (!wait_fds_closed(name, 5000))
			fail_msg("cycle %d: the reader still holds %s", cycle, name);
		long first = (long)msim_plug(ma);
		if (!cap_wait(ca, p_index, &first, 5000))
			fail_msg("cycle %d: no frame from the new device", cycle);
		/* the other port delivered meanwhile */
		if (!cap_wait(cb, p_nsets, &b0, 3000))
			fail_msg("cycle %d: the steady meter stopped delivering", cycle);
		if (mono_ms() - c0 > worst)
			worst = mono_ms() - c0;
	}
	int64_t dt = mono_ms() - t0;
	struct sm_stats sa, sb;
	rd_end(ra, &sa);
	rd_end(rb, &sb);
	print_message("%d cycles of vanish and return in %" PRId64 " ms (slowest %" PRId64 " ms): reconnects %" PRIu64
		      ", frames %" PRIu64 "; the steady meter: %" PRIu64 " frames, %" PRIu64 " reconnects\n",
		      VANISH_CYCLES, dt, worst, sa.reconnect, sa.frames, sb.frames, sb.reconnect);
	assert_int_equal(sa.reconnect, VANISH_CYCLES);
	assert_int_equal(sb.reconnect, 0);
	assert_int_equal(sb.crc + sb.decode + sb.auth + sb.timeout, 0);
	assert_int_equal(ca->bad + ca->unidentified + ca->dup + cb->bad + cb->unidentified + cb->dup, 0);
	assert_int_equal(sa.frames, ca->nsets);

	msim_free(ma);
	msim_free(mb);
	cap_free(ca);
	cap_free(cb);
	int fd1 = count_dir("/proc/self/fd"), th1 = count_dir("/proc/self/task");
	print_message("descriptors %d before, %d after; threads %d before, %d after\n", fd0, fd1, th0, th1);
	assert_int_equal(fd1, fd0);
	assert_int_equal(th1, th0);
}

/* ---------------------------------------------------------------- */
/* 7. a Modbus slave that answers late                                */
/* ---------------------------------------------------------------- */

#define MB_MAX_REQ 4096
#define MB_LATE_BASE 5000000 /* late answers carry 5000000 + ..., on-time ones less */

/*
 * The slave: frames requests on the pty master itself and composes every
 * answer with sm_mb_respond from an image filled for that request: each
 * register of the map holds the float q * 100 + r (q = the request's
 * number, r = the register's index in the map), or MB_LATE_BASE + that
 * for the requests (about 30 %, fixed seed) it answers late_ms late.
 * Answers wait in a queue by due time.  So a value tells which request's
 * answer it came from, and whether that answer was a late one.
 */
struct mbreq {
	uint16_t addr, count;
	bool late;
};

struct mbslave {
	int late_ms;                 /* how late a late answer is */
	int fd;
	const struct sm_mb_map *map;
	struct sm_mb_responder *resp;
	struct sm_mb_image *img;
	struct rng rng;
	atomic_bool quit;
	pthread_t tid;
	pthread_mutex_t mu; /* guards req[] and the counters (the sink reads them) */
	pthread_cond_t *cv; /* broadcast when a late answer went out */
	unsigned nreq, nlate, late_sent;
	struct mbreq req[MB_MAX_REQ];
	struct {
		int64_t due;
		bool late;
		size_t n;
		uint8_t b[SM_MB_ADU_MAX];
	} q[16];
	size_t nq;
};

static void mb_words(float v, uint16_t w[2])
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	w[0] = (uint16_t)(u >> 16); /* ABCD: high word first */
	w[1] = (uint16_t)u;
}

/* A whole request frame req[0..8) arrived. */
static void mb_handle(struct mbslave *s, const uint8_t *req)
{
	uint16_t addr = (uint16_t)(req[2] << 8 | req[3]), count = (uint16_t)(req[4] << 8 | req[5]);

	pthread_mutex_lock(&s->mu);
	unsigned q = s->nreq;
	bool late = rng_below(&s->rng, 100) < 30;
	if (q < MB_MAX_REQ) {
		s->req[q].addr = addr;
		s->req[q].count = count;
		s->req[q].late = late;
		s->nreq++;
		s->nlate += late;
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t r = 0; r < s->map->nregs; r++) {
		uint16_t w[2];
		mb_words((float)((late ? MB_LATE_BASE : 0) + q * 100 + r), w);
		(void)sm_mb_image_set(s->img, s->map->regs[r].function, s->map->regs[r].address, w, 2);
	}
	if (s->nq < sizeof s->q / sizeof s->q[0]) {
		uint8_t *heap = malloc(8);
		if (heap == NULL)
			return;
		memcpy(heap, req, 8);
		if (sm_mb_respond(s->resp, heap, 8, s->img, s->q[s->nq].b, sizeof s->q[s->nq].b, &s->q[s->nq].n) ==
		    SM_OK) {
			s->q[s->nq].due = mono_ms() + (late ? s->late_ms : 0);
			s->q[s->nq].late = late;
			s->nq++;
		}
		free(heap);
	}
}

static void *mbslave_main(void *arg)
{
	struct mbslave *s = arg;
	uint8_t in[64];
	size_t have = 0;

	while (!atomic_load(&s->quit)) {
		int64_t now = mono_ms();
		/* send what is due, earliest first */
		for (;;) {
			size_t best = s->nq;
			for (size_t i = 0; i < s->nq; i++)
				if (s->q[i].due <= now && (best == s->nq || s->q[i].due < s->q[best].due))
					best = i;
			if (best == s->nq)
				break;
			(void)write_all(s->fd, s->q[best].b, s->q[best].n, NULL, 500);
			if (s->q[best].late) {
				pthread_mutex_lock(&s->mu);
				s->late_sent++;
				pthread_cond_broadcast(s->cv);
				pthread_mutex_unlock(&s->mu);
			}
			memmove(&s->q[best], &s->q[best + 1], (s->nq - best - 1) * sizeof s->q[0]);
			s->nq--;
		}
		int wait = 20;
		for (size_t i = 0; i < s->nq; i++)
			if (s->q[i].due - now < wait)
				wait = s->q[i].due - now > 0 ? (int)(s->q[i].due - now) : 0;
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		if (poll(&pfd, 1, wait) <= 0)
			continue;
		ssize_t r = read(s->fd, in + have, sizeof in - have);
		if (r <= 0)
			continue;
		have += (size_t)r;
		while (have >= 8) {
			if (sm_crc16_modbus(0xFFFF, in, 8) == 0) {
				mb_handle(s, in);
				memmove(in, in + 8, have - 8);
				have -= 8;
			} else {
				memmove(in, in + 1, have - 1);
				have--;
			}
		}
	}
	return NULL;
}

/* The sink of the Modbus meter: every value is traced back to the answer
 * it came from. */
struct mbcap {
	pthread_mutex_t mu; /* the slave's: one lock for both */
	pthread_cond_t cv;
	struct mbslave *slave;
	const struct sm_mb_map *map;
	unsigned nsets, values, bad, from_late, reused;
	uint8_t used[MB_MAX_REQ]; /* sets that took values of request q's answer */
	char problem[256];
};

static void mb_problem(struct mbcap *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mb_problem(struct mbcap *c, const char *fmt, ...)
{
	va_list ap;

	c->bad++;
	if (c->problem[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof c->problem, fmt, ap);
	va_end(ap);
}

static void mb_emit(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s, int64_t rx_ms,
		    double interval_s)
{
	struct mbcap *c = ctx;
	struct mbslave *sl = c->slave;
	uint8_t in_set[MB_MAX_REQ / 8 + 1];

	(void)m;
	(void)rx_ms;
	(void)interval_s;
	memset(in_set, 0, sizeof in_set);
	pthread_mutex_lock(&sl->mu);
	c->nsets++;
	for (size_t j = 0; j < s->n; j++) {
		const struct sm_reading *r = &s->r[j];
		size_t ri = 0;
		while (ri < c->map->nregs && strcmp(c->map->regs[ri].name, r->name) != 0)
			ri++;
		if (ri == c->map->nregs || r->is_text) {
			mb_problem(c, "unexpected reading %s", r->name);
			continue;
		}
		const struct sm_mb_reg *reg = &c->map->regs[ri];
		double v = sm_decimal_to_double(r->raw, r->scale);
		for (int e = 0; e < reg->exp; e++)
			v /= 10.0;
		for (int e = 0; e > reg->exp; e--)
			v *= 10.0;
		long long code = (long long)(v >= 0 ? v + 0.5 : v - 0.5);
		c->values++;
		if ((double)code != v || code < 0) {
			mb_problem(c, "%s = %g is no value the slave sent", r->name, v);
			continue;
		}
		bool late = code >= MB_LATE_BASE;
		unsigned q = (unsigned)((code % MB_LATE_BASE) / 100);
		if (late) {
			c->from_late++;
			mb_problem(c, "%s = %lld: from the late answer to request %u (a stale answer was taken)",
				   r->name, code, q);
			continue;
		}
		if ((size_t)(code % 100) != ri || q >= sl->nreq) {
			mb_problem(c, "%s = %lld: no such register or request", r->name, code);
			continue;
		}
		const struct mbreq *rq = &sl->req[q];
		if (rq->late || reg->address < rq->addr || reg->address + 2u > (unsigned)rq->addr + rq->count) {
			mb_problem(c, "%s = %lld: request %u (%u +%u%s) did not ask for it", r->name, code, q,
				   rq->addr, rq->count, rq->late ? ", answered late" : "");
			continue;
		}
		if (!(in_set[q / 8] & (1u << (q % 8)))) {
			in_set[q / 8] |= (uint8_t)(1u << (q % 8));
			if (c->used[q]++ > 0) {
				c->reused++;
				mb_problem(c, "the answer to request %u was used again", q);
			}
		}
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&sl->mu);
}

static void mb_log(void *ctx, enum sm_log_level level, const char *msg)
{
	(void)ctx;
	if (verbose())
		fprintf(stderr, "  log %d [modbus]: %s\n", (int)level, msg);
}

static void run_modbus_late(double interval_s, int late_ms)
{
	struct mbslave *sl = calloc(1, sizeof *sl);
	struct mbcap *c = calloc(1, sizeof *c);
	struct pty p;
	char link[PATH_MAX], text[PATH_MAX + 512];
	pthread_condattr_t ca;

	assert_true(sl != NULL && c != NULL);
	sl->late_ms = late_ms;
	pthread_mutex_init(&sl->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	sl->cv = &c->cv;
	sl->map = sm_mb_model_find("sdm120");
	assert_non_null(sl->map);
	sl->rng.s = 0x1A7E0000u;
	assert_int_equal(sm_mb_responder_new(SM_MB_FRAMING_RTU, &sl->resp), SM_OK);
	assert_int_equal(sm_mb_image_new(0, 0, 0, 0x200, &sl->img), SM_OK);
	c->slave = sl;
	c->map = sl->map;
	atomic_init(&sl->quit, false);

	tmp_path(link, sizeof link, "modbus");
	pty_open(&p, link);
	sl->fd = p.master;
	assert_int_equal(pthread_create(&sl->tid, NULL, mbslave_main, sl), 0);
	snprintf(text, sizeof text,
		 "<Meter \"mb\">\nProtocol \"modbus\"\nDevice \"%s\"\nModel \"sdm120\"\nSlave 1\n"
		 "Timeout 0.2\nInterval %g\n</Meter>\n",
		 link, interval_s);
	struct sm_sink sink = { mb_emit, c };
	struct sm_log log = { mb_log, c };
	struct rd *d = rd_start_sink(text, &sink, &log);

	/* until 4 late answers went out and 6 polls were emitted */
	int64_t t0 = mono_ms(), end = t0 + 30000;
	pthread_mutex_lock(&sl->mu);
	while ((sl->late_sent < 4 || c->nsets < 6) && mono_ms() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &sl->mu, &ts);
	}
	pthread_mutex_unlock(&sl->mu);
	int64_t dt = mono_ms() - t0;
	struct sm_stats st;
	rd_end(d, &st);
	atomic_store(&sl->quit, true);
	pthread_join(sl->tid, NULL);
	pty_close(&p);

	print_message("modbus (Interval %g s): %u requests in %" PRId64 " ms, %u answered %d ms late (%u of them "
		      "sent), %u sets with %u values, %u of them from late answers; timeouts %" PRIu64 ", crc %" PRIu64
		      ", decode %" PRIu64 "\n",
		      interval_s, sl->nreq, dt, sl->nlate, late_ms, sl->late_sent, c->nsets, c->values, c->from_late,
		      st.timeout, st.crc, st.decode);
	if (c->problem[0] != '\0')
		print_error("modbus: %s\n", c->problem);
	assert_true(sl->late_sent >= 4);
	assert_true(c->nsets >= 6);
	assert_int_equal(c->bad, 0);
	assert_int_equal(c->from_late, 0);
	assert_int_equal(c->reused, 0);
	/* every late answer was a timeout of the reader */
	assert_true(st.timeout >= sl->late_sent);
	assert_true(st.timeout <= sl->nlate);
	assert_int_equal(st.frames, c->nsets);

	sm_mb_image_free(sl->img);
	sm_mb_responder_free(sl->resp);
	pthread_mutex_destroy(&sl->mu);
	pthread_cond_destroy(&c->cv);
	free(sl);
	free(c);
}

/*
 * Interval 0.6 s: a poll ends with the timeout (200 ms); a late answer
 * comes 400 ms after its request (at most about 410 ms after its poll
 * began), while no request waits for an answer, and must be dropped before
 * the next request goes out (the link drops pending input before each
 * request, the reader flushes before each poll).
 */
static void test_modbus_late(void **state)
{
	(void)state;
	run_modbus_late(0.6, 400);
}

/*
 * Was a defect (found here, fixed in modbus_link.c): with Interval 0.1 s
 * the polls are due every 100 ms, so an answer that comes late arrived
 * just after a later poll sent the same request (the same function,
 * address and count), and RTU answers carry no transaction id: the stale
 * answer was taken.  Now, after a timeout the link waits one more Timeout
 * for the late answer and drops it, and until the next clean exchange an
 * answer followed right away by a second one is dropped with it.  Answers
 * 300 ms late against Timeout 0.2 must all be dropped.  (Later than twice
 * the Timeout, from a slave that is late with the next identical request
 * too, no RTU master can tell; modbus_link.h says so.)
 */
static void test_modbus_late_race(void **state)
{
	(void)state;
	run_modbus_late(0.1, 300);
}

/* ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	tmp_setup();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tmp_teardown();
	return 0;
}

int main(void)
{
	/* under valgrind (CI): the vanishing port and a reduced bit-flip run */
	const struct CMUnitTest under_valgrind[] = {
		cmocka_unit_test(test_vanish),
		cmocka_unit_test(test_bitflips_dsmr),
		cmocka_unit_test(test_bitflips_smarty),
		cmocka_unit_test(test_bitflips_iec),
		cmocka_unit_test(test_bitflips_mbus),
		cmocka_unit_test(test_bitflips_hdlc),
		cmocka_unit_test(test_bitflips_raw),
		cmocka_unit_test(test_bitflips_sml),
	};
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_vanish),
		cmocka_unit_test(test_byte_vs_burst),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_endless),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_modbus_late),
		cmocka_unit_test(test_modbus_late_race),
		cmocka_unit_test(test_bitflips_dsmr),
		cmocka_unit_test(test_bitflips_smarty),
		cmocka_unit_test(test_bitflips_iec),
		cmocka_unit_test(test_bitflips_mbus),
		cmocka_unit_test(test_bitflips_hdlc),
		cmocka_unit_test(test_bitflips_raw),
		cmocka_unit_test(test_bitflips_sml),
		cmocka_unit_test(test_iec_stx_damage),
		cmocka_unit_test(test_mbus_held_back),
	};
	if (valgrind_mode())
		return cmocka_run_group_tests(under_valgrind, group_setup, group_teardown);
	return cmocka_run_group_tests(all, group_setup, group_teardown);
}
