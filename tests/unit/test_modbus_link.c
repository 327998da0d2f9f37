/*
 * test_modbus_link.c - the libmodbus master link against real libmodbus
 * slaves: an RTU slave thread on a pseudo-terminal (it frames requests
 * itself and answers with modbus_reply from a modbus_mapping, or misbehaves
 * on purpose: silent, bad CRC, exception, late, wrong unit id, wrong
 * length), a libmodbus Modbus TCP server thread on 127.0.0.1, and an RTU
 * slave behind a TCP socket (rtu+tcp://).  Also the reply composer
 * (sm_mb_respond) frame by frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <modbus.h>

#include "crc.h"
#include "modbus_link.h"

#define HOLD_START 100
#define HOLD_N 20
#define IN_N 10
#define UNIT 7

static const struct sm_line line_9600 = { 9600, 8, SM_PARITY_NONE, 1 };
/* 300 Bd: a quiet flush waits 3.5 characters (117 ms) + 20 ms of silence;
 * a pty does not care about the speed */
static const struct sm_line line_300 = { 300, 8, SM_PARITY_NONE, 1 };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An exactly-sized heap copy. */
static uint8_t *heap_copy(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n);
	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

/* ---------------------------------------------------------------- */
/* an RTU slave on an fd (pty master or socket)                      */
/* ---------------------------------------------------------------- */

enum behaviour {
	B_OK,          /* modbus_reply */
	B_SILENT,      /* no answer */
	B_BADCRC,      /* the right answer with its CRC broken */
	B_BUSY,        /* modbus_reply_exception 6 */
	B_LATE,        /* modbus_reply after late_ms */
	B_LATE_EVENT,  /* modbus_reply once the test sets release */
	B_WRONG_UNIT,  /* the answer of another unit */
	B_SHORT,       /* an answer with one register less (valid CRC) */
	B_CLOSE,       /* close the connection / pty */
};

struct srv {
	int fd;        /* pty master or accepted socket */
	int listen_fd; /* rtu+tcp: accept one connection first; else -1 */
	modbus_t *ctx; /* RTU context whose socket is fd */
	modbus_mapping_t *map;
	_Atomic int mode;
	_Atomic int late_ms;
	_Atomic bool release;
	_Atomic bool quit;
	_Atomic int received;     /* requests seen; holding register HOLD_START holds this */
	_Atomic int late_written; /* late answers written */
	pthread_t tid;
	bool joined;
};

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The answer to req built by hand (for the broken variants). */
static size_t build_answer(struct srv *s, const uint8_t *req, uint8_t unit, unsigned nb, uint8_t *out)
{
	unsigned addr = (unsigned)req[2] << 8 | req[3];
	size_t n = 0;
	out[n++] = unit;
	out[n++] = req[1];
	out[n++] = (uint8_t)(2 * nb);
	for (unsigned i = 0; i < nb; i++) {
		uint16_t v = req[1] == 3 ? s->map->tab_registers[addr - HOLD_START + i] : s->map->tab_input_registers[addr + i];
		out[n++] = (uint8_t)(v >> 8);
		out[n++] = (uint8_t)v;
	}
	uint16_t crc = sm_crc16_modbus(0xFFFF, out, n);
	out[n++] = (uint8_t)crc;
	out[n++] = (uint8_t)(crc >> 8);
	return n;
}

static void wait_until(int64_t t)
{
	/* a slow slave: it answers at t */
	for (int64_t now = mono_ms(); now < t; now = mono_ms()) {
		struct timespec ts = { 0, (long)(t - now) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void handle(struct srv *s, const uint8_t *req)
{
	int mode = atomic_load(&s->mode);
	uint8_t out[300], alt[8];
	int n = atomic_fetch_add(&s->received, 1) + 1;

	s->map->tab_registers[0] = (uint16_t)n;
	switch (mode) {
	case B_OK:
		modbus_reply(s->ctx, req, 8, s->map);
		break;
	case B_SILENT:
		break;
	case B_BADCRC: {
		size_t len = build_answer(s, req, req[0], (unsigned)req[4] << 8 | req[5], out);
		out[len - 1] ^= 0x5A;
		write_all(s->fd, out, len);
		break;
	}
	case B_BUSY:
		modbus_reply_exception(s->ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
		break;
	case B_LATE:
		wait_until(mono_ms() + atomic_load(&s->late_ms));
		modbus_reply(s->ctx, req, 8, s->map);
		atomic_fetch_add(&s->late_written, 1);
		break;
	case B_LATE_EVENT: {
		int64_t until = mono_ms() + 3000;
		while (!atomic_load(&s->release) && !atomic_load(&s->quit) && mono_ms() < until) {
			struct pollfd none = { .fd = -1 };
			poll(&none, 0, 2);
		}
		modbus_reply(s->ctx, req, 8, s->map);
		atomic_fetch_add(&s->late_written, 1);
		break;
	}
	case B_WRONG_UNIT:
		memcpy(alt, req, 8);
		alt[0] = (uint8_t)(req[0] + 1);
		modbus_reply(s->ctx, alt, 8, s->map);
		break;
	case B_SHORT: {
		size_t len = build_answer(s, req, req[0], ((unsigned)req[4] << 8 | req[5]) - 1, out);
		write_all(s->fd, out, len);
		break;
	}
	default:
		break;
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	uint8_t buf[64];
	size_t have = 0;

	if (s->listen_fd >= 0) {
		while (!atomic_load(&s->quit) && s->fd < 0) {
			struct pollfd pfd = { .fd = s->listen_fd, .events = POLLIN };
			if (poll(&pfd, 1, 20) > 0)
				s->fd = accept(s->listen_fd, NULL, NULL);
		}
		modbus_set_socket(s->ctx, s->fd);
	}
	while (!atomic_load(&s->quit)) {
		if (atomic_load(&s->mode) == B_CLOSE) {
			close(s->fd);
			s->fd = -1;
			modbus_set_socket(s->ctx, -1);
			break;
		}
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		ssize_t r = read(s->fd, buf + have, sizeof buf - have);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			/* the master is gone (EIO on a pty without a slave) */
			struct pollfd none = { .fd = -1 };
			poll(&none, 0, 5);
			continue;
		}
		have += (size_t)r;
		while (have >= 8) {
			if (sm_crc16_modbus(0xFFFF, buf, 8) == 0) {
				uint8_t *req = heap_copy(buf, 8);
				handle(s, req);
				free(req);
				memmove(buf, buf + 8, have - 8);
				have -= 8;
			} else {
				memmove(buf, buf + 1, have - 1);
				have--;
			}
		}
	}
	return NULL;
}

static void srv_init(struct srv *s)
{
	memset(s, 0, sizeof *s);
	s->fd = s->listen_fd = -1;
	s->map = modbus_mapping_new_start_address(0, 0, 0, 0, HOLD_START, HOLD_N, 0, IN_N);
	assert_non_null(s->map);
	for (int i = 0; i < HOLD_N; i++)
		s->map->tab_registers[i] = (uint16_t)(0x1000 + i);
	for (int i = 0; i < IN_N; i++)
		s->map->tab_input_registers[i] = (uint16_t)(0x2000 + i);
	s->ctx = modbus_new_rtu("test-slave", 9600, 'N', 8, 1);
	assert_non_null(s->ctx);
	atomic_init(&s->mode, B_OK);
	atomic_init(&s->late_ms, 0);
	atomic_init(&s->release, false);
	atomic_init(&s->quit, false);
	atomic_init(&s->received, 0);
	atomic_init(&s->late_written, 0);
}

static void srv_start(struct srv *s)
{
	if (s->fd >= 0)
		modbus_set_socket(s->ctx, s->fd);
	assert_int_equal(pthread_create(&s->tid, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->quit, true);
	if (!s->joined)
		pthread_join(s->tid, NULL);
	modbus_set_socket(s->ctx, -1);
	modbus_free(s->ctx);
	modbus_mapping_free(s->map);
	if (s->fd >= 0)
		close(s->fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
}

/* A pty whose master the slave thread serves; *path is the slave's name. */
static void pty_srv(struct srv *s, char *path, size_t pathlen)
{
	int master, slave;
	struct termios tio;
	char name[128];

	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	srv_init(s);
	assert_int_equal(openpty(&master, &slave, name, &tio, NULL), 0);
	snprintf(path, pathlen, "%s", name);
	/* the link opens the slave by name; keeping ours open as well would
	 * keep the pty alive after the master closes */
	close(slave);
	s->fd = master;
}

static struct sm_mb_link *open_ok(const char *dev, const struct sm_line *line, char *warn, size_t warnlen)
{
	struct sm_mb_link *l = NULL;
	char err[256];

	enum sm_err rc = sm_mb_link_open(dev, line, NULL, &l, err, sizeof err, warn, warnlen);
	if (rc != SM_OK)
		print_error("open %s: %s (%s)\n", dev, sm_err_name(rc), err);
	assert_int_equal(rc, SM_OK);
	assert_non_null(l);
	return l;
}

/* read HOLD_START.. count registers of UNIT */
static enum sm_err rd(struct sm_mb_link *l, uint8_t fc, uint16_t addr, uint16_t count, int timeout_ms, uint16_t *dst,
		      int *exc, char *err, size_t errlen)
{
	return sm_mb_link_read(l, UNIT, fc, addr, count, timeout_ms, dst, exc, err, errlen);
}

static void expect_ok_read(struct sm_mb_link *l, struct srv *s)
{
	uint16_t *w = calloc(4, sizeof *w);
	char err[128];
	int exc = -1;

	assert_non_null(w);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 500, w, &exc, err, sizeof err), SM_OK);
	assert_int_equal(w[0], atomic_load(&s->received)); /* this request's answer, not an older one */
	assert_int_equal(w[1], 0x1001);
	assert_int_equal(w[3], 0x1003);
	free(w);
}

/* ---------------------------------------------------------------- */
/* RTU on a pty                                                      */
/* ---------------------------------------------------------------- */

static void test_rtu_reads(void **state)
{
	(void)state;
	struct srv s;
	char path[128], warn[256], err[128];
	uint16_t w[IN_N];
	int exc = -1;

	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	struct sm_mb_link *l = open_ok(path, &line_9600, warn, sizeof warn);
	/* a pty has no RS485 mode: a warning, not an error */
	assert_non_null(strstr(warn, "RS485 mode not available"));
	assert_non_null(strstr(warn, "Inappropriate ioctl"));

	expect_ok_read(l, &s);
	assert_int_equal(rd(l, 4, 0, IN_N, 500, w, &exc, err, sizeof err), SM_OK);
	for (int i = 0; i < IN_N; i++)
		assert_int_equal(w[i], 0x2000 + i);
	assert_int_equal(exc, 0);
	assert_string_equal(err, "");
	/* one register, the last of the image */
	assert_int_equal(rd(l, 3, HOLD_START + HOLD_N - 1, 1, 500, w, &exc, err, sizeof err), SM_OK);
	assert_int_equal(w[0], 0x1000 + HOLD_N - 1);

	/* outside the image: modbus_reply's exception 2 */
	assert_int_equal(rd(l, 3, 0, 2, 500, w, &exc, err, sizeof err), SM_E_EXCEPTION);
	assert_int_equal(exc, 2);
	assert_string_equal(err, "Illegal data address");
	assert_int_equal(rd(l, 4, IN_N - 1, 2, 500, w, &exc, err, sizeof err), SM_E_EXCEPTION);
	assert_int_equal(exc, 2);

	/* busy */
	atomic_store(&s.mode, B_BUSY);
	assert_int_equal(rd(l, 3, HOLD_START, 2, 500, w, &exc, err, sizeof err), SM_E_EXCEPTION);
	assert_int_equal(exc, 6);
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);

	/* bad arguments */
	assert_int_equal(rd(l, 3, HOLD_START, 0, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(rd(l, 3, HOLD_START, 126, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(rd(l, 6, HOLD_START, 1, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(rd(l, 3, 65535, 2, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(rd(l, 3, HOLD_START, 2, 0, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(sm_mb_link_read(l, 248, 3, HOLD_START, 2, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(sm_mb_link_read(NULL, 1, 3, HOLD_START, 2, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);

	sm_mb_link_flush(l);
	expect_ok_read(l, &s);
	sm_mb_link_close(l);
	srv_stop(&s);
}

static void test_rtu_faults(void **state)
{
	(void)state;
	struct srv s;
	char path[128], warn[256], err[128];
	uint16_t w[8];
	int exc = -1;

	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	struct sm_mb_link *l = open_ok(path, &line_9600, warn, sizeof warn);

	/* silent: a timeout within the response timeout and the quiet flush */
	atomic_store(&s.mode, B_SILENT);
	int64_t t0 = mono_ms();
	assert_int_equal(rd(l, 3, HOLD_START, 2, 100, w, &exc, err, sizeof err), SM_E_TIMEOUT);
	int64_t took = mono_ms() - t0;
	assert_true(took >= 95);
	assert_true(took < 1000);
	assert_string_equal(err, "Connection timed out");
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);

	/* a broken CRC */
	atomic_store(&s.mode, B_BADCRC);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 500, w, &exc, err, sizeof err), SM_E_CRC);
	assert_string_equal(err, "Invalid CRC");
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);

	/* the answer of another unit */
	atomic_store(&s.mode, B_WRONG_UNIT);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 500, w, &exc, err, sizeof err), SM_E_SYNTAX);
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);

	/* an answer of the wrong length */
	atomic_store(&s.mode, B_SHORT);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 500, w, &exc, err, sizeof err), SM_E_SYNTAX);
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);
	assert_int_equal(rd(l, 4, 0, 2, 500, w, &exc, err, sizeof err), SM_OK);

	sm_mb_link_close(l);
	srv_stop(&s);
}

/* A late answer that arrives while the link waits for the line to go
 * quiet is dropped: the next request gets its own answer. */
static void test_rtu_late_in_quiet_window(void **state)
{
	(void)state;
	struct srv s;
	char path[128], warn[256], err[128];
	uint16_t w[8];
	int exc = -1;

	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	struct sm_mb_link *l = open_ok(path, &line_300, warn, sizeof warn);

	atomic_store(&s.late_ms, 170); /* 20 ms after the 150 ms timeout */
	atomic_store(&s.mode, B_LATE);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 150, w, &exc, err, sizeof err), SM_E_TIMEOUT);
	atomic_store(&s.mode, B_OK);
	/* same shape as the late answer: only its content tells them apart */
	expect_ok_read(l, &s);
	expect_ok_read(l, &s);
	assert_int_equal(atomic_load(&s.late_written), 1);
	sm_mb_link_close(l);
	srv_stop(&s);
}

/* A late answer that arrives after the link gave up and before the next
 * request is dropped before that request; one that could still arrive
 * afterwards is never taken for the next answer (another shape: a
 * malformed answer at worst). */
static void test_rtu_late_after_timeout(void **state)
{
	(void)state;
	struct srv s;
	char path[128], warn[256], err[128];
	uint16_t *w = calloc(8, sizeof *w);
	int exc = -1;

	assert_non_null(w);
	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	struct sm_mb_link *l = open_ok(path, &line_9600, warn, sizeof warn);

	/* The late answer is written before the next request; only the
	 * kernel's pty hand-over can still be in flight, so nearly every
	 * round must read the new answer (without the drop before a request,
	 * none would: the stale 2-register answer is SM_E_SYNTAX for 3). */
	int oks = 0;
	for (int round = 0; round < 10; round++) {
		atomic_store(&s.release, false);
		atomic_store(&s.mode, B_LATE_EVENT);
		int before = atomic_load(&s.late_written);
		assert_int_equal(rd(l, 3, HOLD_START, 2, 80, w, &exc, err, sizeof err), SM_E_TIMEOUT);
		atomic_store(&s.mode, B_OK);
		atomic_store(&s.release, true);
		int64_t until = mono_ms() + 3000;
		while (atomic_load(&s.late_written) == before && mono_ms() < until) {
			struct pollfd none = { .fd = -1 };
			poll(&none, 0, 2);
		}
		assert_int_equal(atomic_load(&s.late_written), before + 1);
		enum sm_err rc = rd(l, 3, HOLD_START, 3, 500, w, &exc, err, sizeof err);
		assert_true(rc == SM_OK || rc == SM_E_SYNTAX);
		if (rc == SM_OK) {
			assert_int_equal(w[0], atomic_load(&s.received));
			oks++;
		}
		expect_ok_read(l, &s);
	}
	assert_true(oks >= 8);
	free(w);
	sm_mb_link_close(l);
	srv_stop(&s);
}

/* The pty goes away: SM_E_IO; a new link on a new pty works. */
static void test_rtu_reconnect(void **state)
{
	(void)state;
	struct srv s;
	char path[128], warn[256], err[128];
	uint16_t w[8];
	int exc = -1;

	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	struct sm_mb_link *l = open_ok(path, &line_9600, warn, sizeof warn);
	expect_ok_read(l, &s);
	atomic_store(&s.mode, B_CLOSE); /* the slave thread closes the master and ends */
	pthread_join(s.tid, NULL);
	s.joined = true;
	enum sm_err rc = rd(l, 3, HOLD_START, 2, 200, w, &exc, err, sizeof err);
	if (rc != SM_E_IO)
		print_error("read after hangup: %s (%s)\n", sm_err_name(rc), err);
	assert_int_equal(rc, SM_E_IO);
	assert_int_equal(rd(l, 3, HOLD_START, 2, 200, w, &exc, err, sizeof err), SM_E_IO);
	sm_mb_link_close(l);
	atomic_store(&s.quit, true);
	srv_stop(&s);

	pty_srv(&s, path, sizeof path);
	srv_start(&s);
	l = open_ok(path, &line_9600, warn, sizeof warn);
	expect_ok_read(l, &s);
	sm_mb_link_close(l);
	/* closing released TIOCEXCL: the port opens again */
	l = open_ok(path, &line_9600, warn, sizeof warn);
	expect_ok_read(l, &s);
	sm_mb_link_close(l);
	srv_stop(&s);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct sm_mb_link *l = (struct sm_mb_link *)&l;
	char err[256], warn[256];
	struct sm_line line = line_9600;

	line.baud = 12345;
	assert_int_equal(sm_mb_link_open("/dev/null", &line, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_LINE);
	assert_null(l);
	assert_non_null(strstr(err, "12345"));
	line = line_9600;
	line.databits = 6;
	assert_int_equal(sm_mb_link_open("/dev/null", &line, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_LINE);
	line = line_9600;
	line.stopbits = 3;
	assert_int_equal(sm_mb_link_open("/dev/null", &line, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_LINE);
	line = line_9600;
	line.parity = (enum sm_parity)7;
	assert_int_equal(sm_mb_link_open("/dev/null", &line, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_LINE);

	assert_int_equal(sm_mb_link_open("/nonexistent/ttyUSB9", &line_9600, NULL, &l, err, sizeof err, warn,
					 sizeof warn),
			 SM_E_OPEN);
	assert_null(l);
	assert_string_equal(err, "/nonexistent/ttyUSB9: No such file or directory");
	assert_int_equal(sm_mb_link_open("", &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_OPEN);
	/* not a tty */
	assert_int_equal(sm_mb_link_open("/dev/null", &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn),
			 SM_E_OPEN);

	/* malformed TCP addresses */
	assert_int_equal(sm_mb_link_open("tcp://127.0.0.1", &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn),
			 SM_E_OPEN);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_int_equal(sm_mb_link_open("tcp://::1:502", &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn),
			 SM_E_OPEN);
	assert_int_equal(sm_mb_link_open("tcp://127.0.0.1:0", &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn),
			 SM_E_OPEN);
	assert_int_equal(sm_mb_link_open("rtu+tcp://127.0.0.1:70000", &line_9600, NULL, &l, err, sizeof err, warn,
					 sizeof warn),
			 SM_E_OPEN);
	sm_mb_link_close(NULL);
	sm_mb_link_flush(NULL);
}

/* ---------------------------------------------------------------- */
/* TCP                                                               */
/* ---------------------------------------------------------------- */

/* A listening socket on 127.0.0.1 (or ::1) at a free port. */
static int listen_any(bool v6, int backlog, int *port)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (v6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		socklen_t al = sizeof a;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			close(fd);
			return -1;
		}
		*port = ntohs(a.sin6_port);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof a;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			close(fd);
			return -1;
		}
		*port = ntohs(a.sin_port);
	}
	return fd;
}

/* A libmodbus Modbus TCP server: we accept, libmodbus receives and replies. */
struct tcpsrv {
	int listen_fd;
	modbus_t *ctx;
	modbus_mapping_t *map;
	_Atomic bool quit;
	_Atomic int served;
	pthread_t tid;
};

static void *tcpsrv_main(void *arg)
{
	struct tcpsrv *t = arg;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];

	while (!atomic_load(&t->quit)) {
		struct pollfd pfd = { .fd = t->listen_fd, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int c = accept(t->listen_fd, NULL, NULL);
		if (c < 0)
			continue;
		modbus_set_socket(t->ctx, c);
		while (!atomic_load(&t->quit)) {
			int n = modbus_receive(t->ctx, q);
			if (n > 0) {
				modbus_reply(t->ctx, q, n, t->map);
				atomic_fetch_add(&t->served, 1);
			} else if (n < 0 && errno != ETIMEDOUT) {
				break;
			}
		}
		modbus_set_socket(t->ctx, -1);
		close(c);
	}
	return NULL;
}

static void test_tcp(void **state)
{
	(void)state;
	struct tcpsrv t;
	int port;
	char dev[64], warn[256], err[256];
	uint16_t w[8];
	int exc = -1;

	memset(&t, 0, sizeof t);
	t.listen_fd = listen_any(false, 4, &port);
	assert_true(t.listen_fd >= 0);
	t.map = modbus_mapping_new_start_address(0, 0, 0, 0, HOLD_START, HOLD_N, 0, IN_N);
	assert_non_null(t.map);
	for (int i = 0; i < HOLD_N; i++)
		t.map->tab_registers[i] = (uint16_t)(0x3000 + i);
	t.ctx = modbus_new_tcp("127.0.0.1", port);
	assert_non_null(t.ctx);
	modbus_set_indication_timeout(t.ctx, 0, 50000);
	atomic_init(&t.quit, false);
	atomic_init(&t.served, 0);
	assert_int_equal(pthread_create(&t.tid, NULL, tcpsrv_main, &t), 0);

	snprintf(dev, sizeof dev, "tcp://127.0.0.1:%d", port);
	struct sm_mb_link *l = open_ok(dev, &line_9600, warn, sizeof warn);
	assert_string_equal(warn, "");
	assert_int_equal(sm_mb_link_read(l, 1, 3, HOLD_START, 3, 500, w, &exc, err, sizeof err), SM_OK);
	assert_int_equal(w[0], 0x3000);
	assert_int_equal(w[2], 0x3002);
	/* unit ids of Modbus TCP: 0 and 255 too */
	assert_int_equal(sm_mb_link_read(l, 255, 3, HOLD_START + 5, 1, 500, w, &exc, err, sizeof err), SM_OK);
	assert_int_equal(w[0], 0x3005);
	assert_int_equal(sm_mb_link_read(l, 0, 4, 0, 2, 500, w, &exc, err, sizeof err), SM_OK);
	/* (libmodbus 3.1.6 takes no other ids above 247) */
	assert_int_equal(sm_mb_link_read(l, 250, 4, 0, 2, 500, w, &exc, err, sizeof err), SM_E_INTERNAL);
	assert_int_equal(sm_mb_link_read(l, 1, 4, 5, 10, 500, w, &exc, err, sizeof err), SM_E_EXCEPTION);
	assert_int_equal(exc, 2);
	/* (the server counts after its reply went out) */
	for (int64_t until = mono_ms() + 2000; atomic_load(&t.served) < 4 && mono_ms() < until;) {
		struct pollfd none = { .fd = -1 };
		poll(&none, 0, 1);
	}
	assert_int_equal(atomic_load(&t.served), 4);
	sm_mb_link_flush(l);
	assert_int_equal(sm_mb_link_read(l, 1, 3, HOLD_START, 1, 500, w, &exc, err, sizeof err), SM_OK);
	sm_mb_link_close(l);

	atomic_store(&t.quit, true);
	pthread_join(t.tid, NULL);
	modbus_free(t.ctx);
	modbus_mapping_free(t.map);

	/* nobody listens any more: refused at once */
	close(t.listen_fd);
	l = (struct sm_mb_link *)&l;
	int64_t t0 = mono_ms();
	assert_int_equal(sm_mb_link_open(dev, &line_9600, NULL, &l, err, sizeof err, warn, sizeof warn), SM_E_OPEN);
	assert_null(l);
	assert_true(mono_ms() - t0 < 1000);
	assert_non_null(strstr(err, "Connection refused"));
}

/* Sets *arg (a stop flag) after 150 ms. */
static void *stop_later(void *arg)
{
	struct timespec ts = { 0, 150 * 1000000L };
	nanosleep(&ts, NULL);
	atomic_store((_Atomic bool *)arg, true);
	return NULL;
}

/* A connect that hangs (the listener's queue is full) is cancelled by a
 * stop that comes while it waits. */
static void test_tcp_connect_stop(void **state)
{
	(void)state;
	int port;
	char dev[64], warn[256], err[256];
	struct sm_mb_link *l = NULL;
	_Atomic bool stop;
	pthread_t tid;

	int lfd = listen_any(false, 0, &port);
	assert_true(lfd >= 0);
	/* fill the accept queue so that the next connect waits */
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	connect(filler, (struct sockaddr *)&a, sizeof a);
	struct pollfd pfd = { .fd = filler, .events = POLLOUT };
	assert_int_equal(poll(&pfd, 1, 2000), 1);

	atomic_init(&stop, false);
	snprintf(dev, sizeof dev, "tcp://127.0.0.1:%d", port);
	assert_int_equal(pthread_create(&tid, NULL, stop_later, &stop), 0);
	int64_t t0 = mono_ms();
	enum sm_err rc = sm_mb_link_open(dev, &line_9600, &stop, &l, err, sizeof err, warn, sizeof warn);
	int64_t took = mono_ms() - t0;
	pthread_join(tid, NULL);
	assert_int_equal(rc, SM_E_OPEN);
	assert_null(l);
	assert_non_null(strstr(err, "cancelled"));
	/* it waited for the stop, and ended within one look at the flag */
	assert_true(took >= 140);
	assert_true(took < 150 + 100 + 250);
	close(filler);
	close(lfd);
}

/*
 * A late answer that arrives after the next identical request went out is
 * followed by the slave's answer to that request: after a timeout, until
 * the next clean exchange, two answers back to back are both dropped
 * (SM_E_SYNTAX), since nothing in an RTU frame tells which is which.  The
 * test thread is the slave here: it takes the two requests and sends the
 * late answer and the on-time one in one write.
 */
struct twice {
	struct sm_mb_link *l;
	enum sm_err rc1, rc2, rc3;
	char err2[256];
	uint16_t w[4];
};

static void *twice_reader(void *arg)
{
	struct twice *t = arg;
	char err[256];
	int exc;

	t->rc1 = sm_mb_link_read(t->l, UNIT, 3, HOLD_START, 2, 100, t->w, &exc, err, sizeof err);
	t->rc2 = sm_mb_link_read(t->l, UNIT, 3, HOLD_START, 2, 2000, t->w, &exc, t->err2, sizeof t->err2);
	t->rc3 = sm_mb_link_read(t->l, UNIT, 3, HOLD_START, 2, 2000, t->w, &exc, err, sizeof err);
	return NULL;
}

static size_t take_request(int master, uint8_t *req)
{
	size_t have = 0;
	int64_t until = mono_ms() + 5000;
	while (have < 8 && mono_ms() < until) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		if (poll(&pfd, 1, 100) == 1) {
			ssize_t n = read(master, req + have, 8 - have);
			if (n > 0)
				have += (size_t)n;
		}
	}
	return have;
}

static void test_rtu_two_answers(void **state)
{
	(void)state;
	struct srv s;
	char dev[128], warn[256];
	struct twice t;
	uint8_t req[8], out[600];
	pthread_t tid;

	pty_srv(&s, dev, sizeof dev); /* no slave thread: the test answers */
	memset(&t, 0, sizeof t);
	t.l = open_ok(dev, &line_9600, warn, sizeof warn);
	assert_int_equal(pthread_create(&tid, NULL, twice_reader, &t), 0);
	assert_int_equal(take_request(s.fd, req), 8); /* the first: not answered in time */
	assert_int_equal(take_request(s.fd, req), 8); /* the second */
	s.map->tab_registers[0] = 0xAAAA;             /* the late answer's value */
	size_t n = build_answer(&s, req, UNIT, 2, out);
	s.map->tab_registers[0] = 0xBBBB;             /* the on-time one's */
	n += build_answer(&s, req, UNIT, 2, out + n);
	write_all(s.fd, out, n);
	assert_int_equal(take_request(s.fd, req), 8); /* the third: a clean exchange */
	n = build_answer(&s, req, UNIT, 2, out);
	write_all(s.fd, out, n);
	pthread_join(tid, NULL);
	assert_int_equal(t.rc1, SM_E_TIMEOUT);
	assert_int_equal(t.rc2, SM_E_SYNTAX);
	assert_non_null(strstr(t.err2, "two answers"));
	assert_int_equal(t.rc3, SM_OK);
	assert_int_equal(t.w[0], 0xBBBB);
	sm_mb_link_close(t.l);
	close(s.fd);
	modbus_free(s.ctx);
	modbus_mapping_free(s.map);
}

/*
 * Stop and cancel end a read that waits for an answer (Timeout up to 10 s)
 * at once: the peer takes the request and never answers; once the request
 * has arrived, another thread sets the stop flag (RTU on a pty) or calls
 * sm_mb_link_cancel (tcp://, rtu+tcp://, and RTU as well).
 */
struct canceller {
	int peer;             /* pty master, or the listening socket to accept from */
	bool accept_first;
	bool use_cancel;      /* sm_mb_link_cancel; else the stop flag */
	struct sm_mb_link *l;
	_Atomic bool *stop;
	int64_t cancelled_at;
	int conn;
};

static void *canceller_main(void *arg)
{
	struct canceller *c = arg;
	int fd = c->peer;

	if (c->accept_first) {
		struct pollfd lp = { .fd = c->peer, .events = POLLIN };
		if (poll(&lp, 1, 5000) != 1)
			return NULL;
		fd = c->conn = accept(c->peer, NULL, NULL);
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 5000) != 1) /* the request is there: the link waits now */
		return NULL;
	c->cancelled_at = mono_ms();
	if (c->use_cancel)
		sm_mb_link_cancel(c->l);
	else
		atomic_store(c->stop, true);
	return NULL;
}

static void cancel_case(const char *dev, int peer, bool accept_first, bool use_cancel)
{
	struct canceller c;
	_Atomic bool stop;
	char warn[256], err[256];
	uint16_t w[4];
	int exc;
	pthread_t tid;

	atomic_init(&stop, false);
	memset(&c, 0, sizeof c);
	c.peer = peer;
	c.accept_first = accept_first;
	c.use_cancel = use_cancel;
	c.stop = &stop;
	c.conn = -1;
	assert_int_equal(sm_mb_link_open(dev, &line_9600, &stop, &c.l, err, sizeof err, warn, sizeof warn), SM_OK);
	assert_int_equal(pthread_create(&tid, NULL, canceller_main, &c), 0);
	int64_t t0 = mono_ms();
	enum sm_err rc = sm_mb_link_read(c.l, UNIT, 3, HOLD_START, 2, 10000, w, &exc, err, sizeof err);
	int64_t end = mono_ms();
	pthread_join(tid, NULL);
	assert_true(c.cancelled_at > 0);
	print_message("%s, %s: the read ended %lld ms after the cancel (%s, \"%s\")\n", dev,
		      use_cancel ? "sm_mb_link_cancel" : "stop flag", (long long)(end - c.cancelled_at),
		      sm_err_name(rc), err);
	assert_true(end - c.cancelled_at < 300);
	assert_true(end - t0 < 2000);
	assert_true(rc == SM_E_TIMEOUT || rc == SM_E_IO);
	assert_string_equal(err, "cancelled");
	/* and every later read ends at once */
	t0 = mono_ms();
	rc = sm_mb_link_read(c.l, UNIT, 3, HOLD_START, 2, 10000, w, &exc, err, sizeof err);
	assert_true(rc == SM_E_TIMEOUT || rc == SM_E_IO);
	assert_true(mono_ms() - t0 < 100);
	sm_mb_link_close(c.l);
	if (c.conn >= 0)
		close(c.conn);
}

static void test_cancel(void **state)
{
	(void)state;
	char dev[128];
	int port;

	for (int k = 0; k < 2; k++) {
		struct srv s;
		pty_srv(&s, dev, sizeof dev); /* no slave thread: nobody answers */
		cancel_case(dev, s.fd, false, k == 1);
		close(s.fd);
		modbus_free(s.ctx);
		modbus_mapping_free(s.map);
	}
	for (int k = 0; k < 2; k++) {
		int lfd = listen_any(false, 4, &port);
		assert_true(lfd >= 0);
		snprintf(dev, sizeof dev, "%s://127.0.0.1:%d", k == 0 ? "tcp" : "rtu+tcp", port);
		cancel_case(dev, lfd, true, true);
		close(lfd);
	}
}

/* RTU frames over TCP: an RTU slave thread behind an accepted socket. */
static void run_rtu_over_tcp(bool v6)
{
	struct srv s;
	int port;
	char dev[64], warn[256], err[256];
	uint16_t w[IN_N];
	int exc = -1;

	srv_init(&s);
	s.listen_fd = listen_any(v6, 4, &port);
	if (s.listen_fd < 0) {
		srv_stop(&s);
		if (v6) /* no IPv6 loopback here */
			return;
		fail_msg("cannot listen on 127.0.0.1");
	}
	srv_start(&s);
	snprintf(dev, sizeof dev, v6 ? "rtu+tcp://[::1]:%d" : "rtu+tcp://127.0.0.1:%d", port);
	struct sm_mb_link *l = open_ok(dev, &line_9600, warn, sizeof warn);
	assert_string_equal(warn, "");
	expect_ok_read(l, &s);
	assert_int_equal(rd(l, 4, 0, IN_N, 500, w, &exc, err, sizeof err), SM_OK);
	assert_int_equal(w[IN_N - 1], 0x2000 + IN_N - 1);

	atomic_store(&s.mode, B_BADCRC);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 300, w, &exc, err, sizeof err), SM_E_CRC);
	atomic_store(&s.mode, B_SILENT);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 80, w, &exc, err, sizeof err), SM_E_TIMEOUT);
	atomic_store(&s.mode, B_WRONG_UNIT);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 300, w, &exc, err, sizeof err), SM_E_SYNTAX);
	atomic_store(&s.mode, B_BUSY);
	assert_int_equal(rd(l, 3, HOLD_START, 4, 300, w, &exc, err, sizeof err), SM_E_EXCEPTION);
	assert_int_equal(exc, 6);
	atomic_store(&s.mode, B_OK);
	expect_ok_read(l, &s);

	/* the bridge closes the connection: SM_E_IO, and no SIGPIPE on the
	 * writes that follow */
	atomic_store(&s.mode, B_CLOSE);
	pthread_join(s.tid, NULL);
	s.joined = true;
	assert_int_equal(rd(l, 3, HOLD_START, 2, 200, w, &exc, err, sizeof err), SM_E_IO);
	assert_int_equal(rd(l, 3, HOLD_START, 2, 200, w, &exc, err, sizeof err), SM_E_IO);
	assert_int_equal(rd(l, 3, HOLD_START, 2, 200, w, &exc, err, sizeof err), SM_E_IO);
	sm_mb_link_close(l);
	atomic_store(&s.quit, true);
	srv_stop(&s);
}

static void test_rtu_over_tcp(void **state)
{
	(void)state;
	run_rtu_over_tcp(false);
	run_rtu_over_tcp(true);
}

/* ---------------------------------------------------------------- */
/* the reply composer                                                */
/* ---------------------------------------------------------------- */

static size_t rtu_req(uint8_t *f, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count)
{
	f[0] = unit;
	f[1] = fc;
	f[2] = (uint8_t)(addr >> 8);
	f[3] = (uint8_t)addr;
	f[4] = (uint8_t)(count >> 8);
	f[5] = (uint8_t)count;
	uint16_t crc = sm_crc16_modbus(0xFFFF, f, 6);
	f[6] = (uint8_t)crc;
	f[7] = (uint8_t)(crc >> 8);
	return 8;
}

static void test_responder(void **state)
{
	(void)state;
	struct sm_mb_responder *r = NULL;
	struct sm_mb_image *img = NULL;
	uint8_t f[16], out[SM_MB_ADU_MAX];
	size_t n = 0;
	const uint16_t words[3] = { 0x4366, 0x199A, 0xBEEF };

	assert_int_equal(sm_mb_responder_new(SM_MB_FRAMING_RTU, &r), SM_OK);
	assert_int_equal(sm_mb_image_new(0x100, 4, 0, 0x50, &img), SM_OK);
	assert_int_equal(sm_mb_image_set(img, 4, 0x0000, words, 2), SM_OK);
	assert_int_equal(sm_mb_image_set(img, 3, 0x0103, words + 2, 1), SM_OK);
	assert_int_equal(sm_mb_image_set(img, 3, 0x0103, words, 2), SM_E_RANGE);
	assert_int_equal(sm_mb_image_set(img, 3, 0x00FF, words, 1), SM_E_RANGE);
	assert_int_equal(sm_mb_image_set(img, 4, 0x004F, words, 2), SM_E_RANGE);
	assert_int_equal(sm_mb_image_set(img, 5, 0, words, 1), SM_E_RANGE);

	/* FC04 0x0000 +2 of unit 9 */
	size_t len = rtu_req(f, 9, 4, 0, 2);
	uint8_t *req = heap_copy(f, len);
	assert_int_equal(sm_mb_respond(r, req, len, img, out, sizeof out, &n), SM_OK);
	free(req);
	static const uint8_t want1[] = { 9, 4, 4, 0x43, 0x66, 0x19, 0x9A };
	assert_int_equal(n, sizeof want1 + 2);
	assert_memory_equal(out, want1, sizeof want1);
	assert_int_equal(sm_crc16_modbus(0xFFFF, out, n), 0);

	/* FC03 0x0103 +1 */
	len = rtu_req(f, 200, 3, 0x0103, 1);
	req = heap_copy(f, len);
	assert_int_equal(sm_mb_respond(r, req, len, img, out, sizeof out, &n), SM_OK);
	free(req);
	static const uint8_t want2[] = { 200, 3, 2, 0xBE, 0xEF };
	assert_int_equal(n, sizeof want2 + 2);
	assert_memory_equal(out, want2, sizeof want2);

	/* outside: 2; count 0 or 126: 3; another function: 1 */
	static const struct {
		uint8_t fc;
		uint16_t addr, count;
		uint8_t exc;
	} cases[] = {
		{ 3, 0x0103, 2, 2 }, { 4, 0x0050, 1, 2 }, { 3, 0, 1, 2 },
		{ 4, 0, 0, 3 },      { 4, 0, 126, 3 },    { 6, 0x0100, 1, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = rtu_req(f, 5, cases[i].fc, cases[i].addr, cases[i].count);
		req = heap_copy(f, len);
		assert_int_equal(sm_mb_respond(r, req, len, img, out, sizeof out, &n), SM_OK);
		free(req);
		assert_int_equal(n, 5);
		assert_int_equal(out[0], 5);
		assert_int_equal(out[1], cases[i].fc | 0x80);
		assert_int_equal(out[2], cases[i].exc);
		assert_int_equal(sm_crc16_modbus(0xFFFF, out, n), 0);
	}
	/* an explicit exception */
	len = rtu_req(f, 5, 3, 0x0100, 1);
	req = heap_copy(f, len);
	assert_int_equal(sm_mb_respond_exception(r, req, len, 6, out, sizeof out, &n), SM_OK);
	assert_int_equal(n, 5);
	assert_int_equal(out[1], 0x83);
	assert_int_equal(out[2], 6);
	assert_int_equal(sm_mb_respond_exception(r, req, len, 12, out, sizeof out, &n), SM_E_INTERNAL);
	assert_int_equal(sm_mb_respond(r, req, 1, img, out, sizeof out, &n), SM_E_SYNTAX);
	assert_int_equal(sm_mb_respond(r, req, len, img, out, 100, &n), SM_E_INTERNAL);
	free(req);
	sm_mb_responder_free(r);

	/* Modbus TCP: transaction id and unit echoed, MBAP length set */
	assert_int_equal(sm_mb_responder_new(SM_MB_FRAMING_TCP, &r), SM_OK);
	static const uint8_t treq[] = { 0x12, 0x34, 0, 0, 0, 6, 0xFF, 4, 0, 0, 0, 2 };
	req = heap_copy(treq, sizeof treq);
	assert_int_equal(sm_mb_respond(r, req, sizeof treq, img, out, sizeof out, &n), SM_OK);
	static const uint8_t twant[] = { 0x12, 0x34, 0, 0, 0, 7, 0xFF, 4, 4, 0x43, 0x66, 0x19, 0x9A };
	assert_int_equal(n, sizeof twant);
	assert_memory_equal(out, twant, sizeof twant);
	assert_int_equal(sm_mb_respond(r, req, 7, img, out, sizeof out, &n), SM_E_SYNTAX);
	free(req);
	sm_mb_responder_free(r);
	sm_mb_image_free(img);

	assert_int_equal(sm_mb_image_new(0xFFFF, 2, 0, 0, &img), SM_E_INTERNAL);
	sm_mb_responder_free(NULL);
	sm_mb_image_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_responder),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_rtu_reads),
		cmocka_unit_test(test_rtu_faults),
		cmocka_unit_test(test_rtu_late_in_quiet_window),
		cmocka_unit_test(test_rtu_late_after_timeout),
		cmocka_unit_test(test_rtu_reconnect),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_tcp_connect_stop),
		cmocka_unit_test(test_rtu_over_tcp),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_rtu_two_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
