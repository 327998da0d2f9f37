/*
 * transport.c - dispatch by device kind, and the fd helpers the backends
 * share (poll-based reads and writes with a deadline).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "transport_int.h"

enum sm_transport_kind sm_transport_kind_of(const char *device)
{
	if (device == NULL)
		return SM_TRANSPORT_SERIAL;
	if (strncmp(device, "tcp://", 6) == 0 || strncmp(device, "rtu+tcp://", 10) == 0)
		return SM_TRANSPORT_TCP;
	if (strncmp(device, "file:", 5) == 0)
		return SM_TRANSPORT_FILE;
	return SM_TRANSPORT_SERIAL;
}

enum sm_err sm_transport_open_cancel(const char *device, const struct sm_line *line,
				     const atomic_bool *cancel, struct sm_transport **out,
				     char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return SM_E_INTERNAL;
	*out = NULL;
	if (device == NULL || device[0] == '\0') {
		sm_errf(err, errlen, "no device given");
		return SM_E_OPEN;
	}
	switch (sm_transport_kind_of(device)) {
	case SM_TRANSPORT_TCP:
		return sm_tcp_open(device, cancel, out, err, errlen);
	case SM_TRANSPORT_FILE:
		return sm_file_open(device + 5, out, err, errlen);
	case SM_TRANSPORT_SERIAL:
		break;
	}
	if (line == NULL) {
		sm_errf(err, errlen, "%s: no line settings given", device);
		return SM_E_LINE;
	}
	return sm_serial_open(device, line, out, err, errlen);
}

enum sm_err sm_transport_open(const char *device, const struct sm_line *line,
			      struct sm_transport **out, char *err, size_t errlen)
{
	return sm_transport_open_cancel(device, line, NULL, out, err, errlen);
}

enum sm_err sm_transport_read(struct sm_transport *t, uint8_t *buf, size_t cap,
			      int timeout_ms, size_t *got)
{
	if (got != NULL)
		*got = 0;
	if (t == NULL || buf == NULL || got == NULL)
		return SM_E_INTERNAL;
	if (cap == 0)
		return SM_OK;
	if (timeout_ms < 0)
		timeout_ms = 0;
	return t->ops->read(t, buf, cap, timeout_ms, got);
}

enum sm_err sm_transport_write(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms)
{
	if (t == NULL || (p == NULL && n > 0))
		return SM_E_INTERNAL;
	if (n == 0)
		return SM_OK;
	if (timeout_ms < 0)
		timeout_ms = 0;
	return t->ops->write(t, p, n, timeout_ms);
}

enum sm_err sm_transport_drain(struct sm_transport *t)
{
	if (t == NULL)
		return SM_E_INTERNAL;
	return t->ops->drain(t);
}

enum sm_err sm_transport_set_line(struct sm_transport *t, const struct sm_line *line)
{
	if (t == NULL || line == NULL)
		return SM_E_INTERNAL;
	return t->ops->set_line(t, line);
}

const char *sm_transport_error(const struct sm_transport *t)
{
	return t != NULL ? t->err : "";
}

void sm_transport_close(struct sm_transport *t)
{
	if (t != NULL)
		t->ops->close(t);
}

/* ---- helpers ---- */

void sm_transport_seterr(struct sm_transport *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
}

void sm_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int64_t sm_transport_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sm_fd_wait(int fd, short events, int timeout_ms)
{
	int64_t deadline = sm_transport_clock_ms() + timeout_ms;
	struct pollfd pfd;
	int left = timeout_ms;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		int rc = poll(&pfd, 1, left);
		if (rc > 0)
			return pfd.revents;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -1;
		int64_t now = sm_transport_clock_ms();
		if (now >= deadline)
			return 0;
		left = (int)(deadline - now);
	}
}

enum sm_err sm_fd_read(struct sm_transport *t, int fd, uint8_t *buf, size_t cap,
		       int timeout_ms, size_t *got)
{
	int ev = sm_fd_wait(fd, POLLIN, timeout_ms);

	*got = 0;
	if (ev < 0) {
		sm_transport_seterr(t, "poll: %s", strerror(errno));
		return SM_E_IO;
	}
	if (ev == 0)
		return SM_OK;
	if (ev & POLLNVAL) {
		sm_transport_seterr(t, "poll: descriptor not open");
		return SM_E_IO;
	}
	/* POLLHUP/POLLERR: read() tells what happened (data first, then EOF
	 * or the error). */
	for (;;) {
		ssize_t r = read(fd, buf, cap);
		if (r > 0) {
			*got = (size_t)r;
			return SM_OK;
		}
		if (r == 0) {
			sm_transport_seterr(t, "end of stream");
			return SM_E_CLOSED;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return SM_OK;
		sm_transport_seterr(t, "read: %s", strerror(errno));
		return SM_E_IO;
	}
}

enum sm_err sm_fd_write(struct sm_transport *t, int fd, const uint8_t *p, size_t n,
			int timeout_ms, bool is_socket)
{
	int64_t deadline = sm_transport_clock_ms() + timeout_ms;
	size_t off = 0;

	while (off < n) {
		ssize_t w;
		if (is_socket)
			w = send(fd, p + off, n - off, MSG_NOSIGNAL);
		else
			w = write(fd, p + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			sm_transport_seterr(t, "write: %s", strerror(errno));
			return SM_E_IO;
		}
		int64_t now = sm_transport_clock_ms();
		if (now >= deadline) {
			sm_transport_seterr(t, "write: timed out after %d ms (%zu of %zu bytes sent)",
					    timeout_ms, off, n);
			return SM_E_TIMEOUT;
		}
		int ev = sm_fd_wait(fd, POLLOUT, (int)(deadline - now));
		if (ev < 0) {
			sm_transport_seterr(t, "poll: %s", strerror(errno));
			return SM_E_IO;
		}
		if (ev & (POLLERR | POLLNVAL)) {
			sm_transport_seterr(t, "write: device error");
			return SM_E_IO;
		}
		if ((ev & POLLHUP) && !(ev & POLLOUT)) {
			sm_transport_seterr(t, "write: peer hung up");
			return SM_E_IO;
		}
	}
	return SM_OK;
}
