/*
 * test_transport.c - serial (on a pseudo-terminal), TCP (on 127.0.0.1 and
 * ::1) and file transports.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pty.h>
#include <stdarg.h>
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

#include "transport.h"

static const struct sm_line line_8n1 = {115200, 8, SM_PARITY_NONE, 1};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An exactly-sized heap copy of s (without the NUL). */
static uint8_t *heap_copy(const char *s, size_t *n)
{
	*n = strlen(s);
	uint8_t *p = malloc(*n);
	assert_non_null(p);
	memcpy(p, s, *n);
	return p;
}

/* Read from t until want bytes arrived or deadline_ms passed. */
static size_t read_all(struct sm_transport *t, uint8_t *buf, size_t want, int deadline_ms)
{
	size_t have = 0;
	int64_t end = mono_ms() + deadline_ms;

	while (have < want && mono_ms() < end) {
		size_t got = 0;
		enum sm_err rc = sm_transport_read(t, buf + have, want - have, 50, &got);
		assert_int_equal(rc, SM_OK);
		have += got;
	}
	return have;
}

/* ---- pty ---- */

struct pty {
	int master, slave;
	char name[64];
	char dir[64];
	char link[96];
};

static void pty_open(struct pty *p)
{
	struct termios tio;

	memset(&tio, 0, sizeof tio);
	cfmakeraw(&tio);
	assert_int_equal(openpty(&p->master, &p->slave, p->name, &tio, NULL), 0);
	snprintf(p->dir, sizeof p->dir, "/tmp/sm-tt-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->link, sizeof p->link, "%s/ttyMeter", p->dir);
	assert_int_equal(symlink(p->name, p->link), 0);
}

static void pty_close(struct pty *p)
{
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	unlink(p->link);
	rmdir(p->dir);
}

static void test_kind_of(void **state)
{
	(void)state;
	assert_int_equal(sm_transport_kind_of("/dev/ttyUSB0"), SM_TRANSPORT_SERIAL);
	assert_int_equal(sm_transport_kind_of("tcp://10.0.0.1:23"), SM_TRANSPORT_TCP);
	assert_int_equal(sm_transport_kind_of("rtu+tcp://host:502"), SM_TRANSPORT_TCP);
	assert_int_equal(sm_transport_kind_of("file:/tmp/x"), SM_TRANSPORT_FILE);
	assert_int_equal(sm_transport_kind_of("ttyS0"), SM_TRANSPORT_SERIAL);
}

static void test_pty_read_write(void **state)
{
	struct pty p;
	struct sm_transport *t = NULL;
	char err[256];
	uint8_t buf[64];
	size_t n;
	(void)state;

	pty_open(&p);
	/* through the symlink, as /dev/serial/by-id or the simulator's link */
	assert_int_equal(sm_transport_open(p.link, &line_8n1, &t, err, sizeof err), SM_OK);
	assert_non_null(t);
	assert_string_equal(sm_transport_error(t), "");

	/* nothing there: returns within about the timeout with got == 0 */
	size_t got = 99;
	int64_t t0 = mono_ms();
	assert_int_equal(sm_transport_read(t, buf, sizeof buf, 100, &got), SM_OK);
	int64_t dt = mono_ms() - t0;
	assert_int_equal(got, 0);
	assert_true(dt >= 90 && dt < 300);
	t0 = mono_ms();
	assert_int_equal(sm_transport_read(t, buf, sizeof buf, 0, &got), SM_OK);
	assert_int_equal(got, 0);
	assert_true(mono_ms() - t0 < 50);

	/* meter -> reader, bytes untouched (CR LF stay CR LF: raw mode) */
	uint8_t *msg = heap_copy("/ISK5\\2M550T-1012\r\n\r\n!1234\r\n", &n);
	assert_int_equal(write(p.master, msg, n), (ssize_t)n);
	assert_int_equal(read_all(t, buf, n, 2000), n);
	assert_memory_equal(buf, msg, n);
	free(msg);

	/* a small cap returns at most cap bytes */
	assert_int_equal(write(p.master, "abcdef", 6), 6);
	assert_int_equal(read_all(t, buf, 6, 2000), 6);
	assert_memory_equal(buf, "abcdef", 6);

	/* reader -> meter */
	msg = heap_copy("/?!\r\n", &n);
	assert_int_equal(sm_transport_write(t, msg, n, 1000), SM_OK);
	assert_int_equal(sm_transport_drain(t), SM_OK);
	size_t have = 0;
	int64_t end = mono_ms() + 2000;
	while (have < n && mono_ms() < end) {
		struct pollfd pfd = {p.master, POLLIN, 0};
		if (poll(&pfd, 1, 50) > 0) {
			ssize_t r = read(p.master, buf + have, sizeof buf - have);
			assert_true(r > 0);
			have += (size_t)r;
		}
	}
	assert_int_equal(have, n);
	assert_memory_equal(buf, msg, n);
	free(msg);

	/* baud switch (IEC 62056-21) and other settings on a pty */
	struct sm_line l = {300, 7, SM_PARITY_EVEN, 1};
	assert_int_equal(sm_transport_set_line(t, &l), SM_OK);
	l = (struct sm_line){9600, 8, SM_PARITY_ODD, 2};
	assert_int_equal(sm_transport_set_line(t, &l), SM_OK);
	l = (struct sm_line){12345, 8, SM_PARITY_NONE, 1}; /* a pty has no baud */
	assert_int_equal(sm_transport_set_line(t, &l), SM_OK);
	l = (struct sm_line){9600, 9, SM_PARITY_NONE, 1};
	assert_int_equal(sm_transport_set_line(t, &l), SM_E_LINE);
	assert_non_null(strstr(sm_transport_error(t), "data bits"));
	l = (struct sm_line){9600, 8, SM_PARITY_NONE, 3};
	assert_int_equal(sm_transport_set_line(t, &l), SM_E_LINE);
	l = (struct sm_line){2400, 8, SM_PARITY_EVEN, 1};
	assert_int_equal(sm_transport_set_line(t, &l), SM_OK);
	assert_int_equal(write(p.master, "xyz", 3), 3);
	assert_int_equal(read_all(t, buf, 3, 2000), 3);
	assert_memory_equal(buf, "xyz", 3);

	/* the meter goes away: pending bytes first, then an I/O error */
	assert_int_equal(write(p.master, "tail", 4), 4);
	assert_int_equal(read_all(t, buf, 4, 2000), 4);
	close(p.master);
	p.master = -1;
	close(p.slave);
	p.slave = -1;
	enum sm_err rc = SM_OK;
	end = mono_ms() + 2000;
	while (rc == SM_OK && mono_ms() < end)
		rc = sm_transport_read(t, buf, sizeof buf, 50, &got);
	assert_int_equal(rc, SM_E_IO);
	assert_true(strlen(sm_transport_error(t)) > 0);
	sm_transport_close(t);
	pty_close(&p);
}

static void test_serial_open_errors(void **state)
{
	struct sm_transport *t = NULL;
	char err[256];
	(void)state;

	assert_int_equal(sm_transport_open("/dev/does-not-exist-sm", &line_8n1, &t, err, sizeof err),
			 SM_E_OPEN);
	assert_null(t);
	assert_non_null(strstr(err, "/dev/does-not-exist-sm"));
	assert_non_null(strstr(err, "No such file"));

	/* a dangling link (the simulator stopped) */
	char dir[] = "/tmp/sm-tt-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char link[64], file[64];
	snprintf(link, sizeof link, "%s/dangling", dir);
	snprintf(file, sizeof file, "%s/capture.bin", dir);
	assert_int_equal(symlink("/dev/pts/999999", link), 0);
	assert_int_equal(sm_transport_open(link, &line_8n1, &t, err, sizeof err), SM_E_OPEN);

	/* a regular file is not a port: hint at file: */
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sm_transport_open(file, &line_8n1, &t, err, sizeof err), SM_E_OPEN);
	assert_non_null(strstr(err, "file:"));

	/* a character device that is no terminal */
	assert_int_equal(sm_transport_open("/dev/null", &line_8n1, &t, err, sizeof err), SM_E_OPEN);
	assert_non_null(strstr(err, "/dev/null"));

	/* bad line settings are SM_E_LINE before anything is opened */
	struct sm_line bad = {9600, 4, SM_PARITY_NONE, 1};
	assert_int_equal(sm_transport_open("/dev/null", &bad, &t, err, sizeof err), SM_E_LINE);
	assert_int_equal(sm_transport_open("", &line_8n1, &t, err, sizeof err), SM_E_OPEN);

	unlink(link);
	unlink(file);
	rmdir(dir);
}

/* ---- TCP ---- */

static int listen_any(int family, uint16_t *port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (family == AF_INET) {
		struct sockaddr_in a = {0};
		socklen_t al = sizeof a;
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			close(fd);
			return -1;
		}
		*port = ntohs(a.sin_port);
	} else {
		struct sockaddr_in6 a = {0};
		socklen_t al = sizeof a;
		a.sin6_family = AF_INET6;
		a.sin6_addr = in6addr_loopback;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
			close(fd);
			return -1;
		}
		*port = ntohs(a.sin6_port);
	}
	return fd;
}

static void tcp_roundtrip(const char *host, int family)
{
	uint16_t port;
	int lfd = listen_any(family, &port);
	if (lfd < 0) {
		print_message("skipping: no loopback for family %d\n", family);
		return;
	}
	char dev[64], err[256];
	snprintf(dev, sizeof dev, "tcp://%s:%u", host, port);
	struct sm_transport *t = NULL;
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_OK);
	int cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);

	uint8_t buf[64];
	size_t got = 7;
	int64_t t0 = mono_ms();
	assert_int_equal(sm_transport_read(t, buf, sizeof buf, 80, &got), SM_OK);
	assert_int_equal(got, 0);
	assert_true(mono_ms() - t0 < 300);

	size_t n;
	uint8_t *msg = heap_copy("!ABCD\r\n/next", &n);
	assert_int_equal(write(cfd, msg, n), (ssize_t)n);
	assert_int_equal(read_all(t, buf, n, 2000), n);
	assert_memory_equal(buf, msg, n);
	free(msg);

	assert_int_equal(sm_transport_write(t, (const uint8_t *)"ping", 4, 1000), SM_OK);
	assert_int_equal(sm_transport_drain(t), SM_OK);
	assert_int_equal(sm_transport_set_line(t, &line_8n1), SM_OK);
	size_t have = 0;
	int64_t end = mono_ms() + 2000;
	while (have < 4 && mono_ms() < end) {
		ssize_t r = recv(cfd, buf + have, 4 - have, 0);
		assert_true(r > 0);
		have += (size_t)r;
	}
	assert_memory_equal(buf, "ping", 4);

	/* peer closes: the last bytes, then SM_E_CLOSED */
	assert_int_equal(write(cfd, "bye", 3), 3);
	close(cfd);
	assert_int_equal(read_all(t, buf, 3, 2000), 3);
	enum sm_err rc = SM_OK;
	end = mono_ms() + 2000;
	while (rc == SM_OK && mono_ms() < end)
		rc = sm_transport_read(t, buf, sizeof buf, 50, &got);
	assert_int_equal(rc, SM_E_CLOSED);
	assert_non_null(strstr(sm_transport_error(t), "closed"));
	sm_transport_close(t);
	close(lfd);
}

static void test_tcp_ipv4(void **state)
{
	(void)state;
	tcp_roundtrip("127.0.0.1", AF_INET);
	tcp_roundtrip("localhost", AF_INET);
}

static void test_tcp_ipv6(void **state)
{
	(void)state;
	tcp_roundtrip("[::1]", AF_INET6);
}

static void test_tcp_errors(void **state)
{
	struct sm_transport *t = NULL;
	char dev[64], err[256];
	uint16_t port;
	(void)state;

	/* a port nobody listens on: refused at once */
	int lfd = listen_any(AF_INET, &port);
	assert_true(lfd >= 0);
	close(lfd);
	snprintf(dev, sizeof dev, "tcp://127.0.0.1:%u", port);
	int64_t t0 = mono_ms();
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_E_OPEN);
	assert_true(mono_ms() - t0 < SM_TRANSPORT_CONNECT_MS);
	assert_null(t);
	assert_non_null(strstr(err, "refused"));

	static const char *const bad[] = {
		"tcp://", "tcp://host", "tcp://host:", "tcp://:23", "tcp://host:0",
		"tcp://host:65536", "tcp://host:12a", "tcp://::1:23", "tcp://[::1]23",
		"tcp://[::1", "tcp://host:123456",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(sm_transport_open(bad[i], NULL, &t, err, sizeof err), SM_E_OPEN);
		assert_non_null(strstr(err, "HOST:PORT"));
	}

	/* cancelled before connecting */
	lfd = listen_any(AF_INET, &port);
	assert_true(lfd >= 0);
	snprintf(dev, sizeof dev, "tcp://127.0.0.1:%u", port);
	atomic_bool cancel = true;
	assert_int_equal(sm_transport_open_cancel(dev, NULL, &cancel, &t, err, sizeof err), SM_E_OPEN);
	assert_non_null(strstr(err, "cancelled"));
	atomic_store(&cancel, false);
	assert_int_equal(sm_transport_open_cancel(dev, NULL, &cancel, &t, err, sizeof err), SM_OK);
	sm_transport_close(t);
	close(lfd);
}

/* ---- file ---- */

static void test_file(void **state)
{
	char dir[] = "/tmp/sm-tt-XXXXXX";
	char path[64], dev[80], err[256];
	struct sm_transport *t = NULL;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/capture.bin", dir);
	snprintf(dev, sizeof dev, "file:%s", path);
	const size_t n = 10000;
	uint8_t *data = malloc(n);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);

	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_OK);
	uint8_t *buf = malloc(4096);
	assert_non_null(buf);
	size_t off = 0, got;
	static const size_t expect[] = {4096, 4096, 1808};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sm_transport_read(t, buf, 4096, 100, &got), SM_OK);
		assert_int_equal(got, expect[i]);
		assert_memory_equal(buf, data + off, got);
		off += got;
	}
	int64_t t0 = mono_ms();
	assert_int_equal(sm_transport_read(t, buf, 4096, 100, &got), SM_E_CLOSED);
	assert_true(mono_ms() - t0 < 50);
	assert_int_equal(got, 0);
	assert_int_equal(sm_transport_write(t, (const uint8_t *)"/?!\r\n", 5, 100), SM_OK);
	assert_int_equal(sm_transport_set_line(t, &line_8n1), SM_OK);
	assert_int_equal(sm_transport_drain(t), SM_OK);
	sm_transport_close(t);

	/* tiny chunks */
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_OK);
	off = 0;
	while (sm_transport_read(t, buf, 3, 0, &got) == SM_OK) {
		assert_true(got > 0 && got <= 3);
		assert_memory_equal(buf, data + off, got);
		off += got;
	}
	assert_int_equal(off, n);
	sm_transport_close(t);

	/* empty file: SM_E_CLOSED at once */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_OK);
	assert_int_equal(sm_transport_read(t, buf, 4096, 100, &got), SM_E_CLOSED);
	sm_transport_close(t);

	unlink(path);
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_E_OPEN);
	assert_non_null(strstr(err, path));
	assert_int_equal(sm_transport_open("file:", NULL, &t, err, sizeof err), SM_E_OPEN);
	snprintf(dev, sizeof dev, "file:%s", dir);
	assert_int_equal(sm_transport_open(dev, NULL, &t, err, sizeof err), SM_E_OPEN);
	rmdir(dir);
	free(buf);
	free(data);
	sm_transport_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_of),
		cmocka_unit_test(test_pty_read_write),
		cmocka_unit_test(test_serial_open_errors),
		cmocka_unit_test(test_tcp_ipv4),
		cmocka_unit_test(test_tcp_ipv6),
		cmocka_unit_test(test_tcp_errors),
		cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
