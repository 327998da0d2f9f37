/*
 * modbus_link.c - one libmodbus master context per port (see
 * modbus_link.h), and the reply composer simulators and tests use.  The
 * only file of the library that includes libmodbus.
 *
 * Three kinds of link:
 *   RTU       a serial port (or pty): modbus_new_rtu + modbus_connect;
 *   TCP       Modbus TCP: a socket we connect ourselves (with a deadline
 *             and the stop flag, which libmodbus's blocking connect lacks)
 *             handed to a modbus_new_tcp_pi context;
 *   RTU_TCP   RTU frames over a TCP bridge: our socket handed to an RTU
 *             context that is never "connected" (libmodbus's RTU send,
 *             recv and select are plain write/read/select on ctx->s, which
 *             work on a socket; its flush and close are termios calls,
 *             so we flush and close the socket ourselves).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>
#include <modbus.h>
#include "modbus_link.h"

#define CONNECT_MS 5000     /* longest TCP connect, all addresses together */
#define STOP_POLL_MS 100    /* how often a connect looks at *stop */
#define QUIET_EXTRA_MS 20   /* silence before a flush: 3.5 characters + this */
#define BYTE_TIMEOUT_MIN_MS 50
#define BYTE_TIMEOUT_MAX_MS 500 /* a gap inside one answer; bounds an uncancellable wait */

enum link_kind { LINK_RTU, LINK_TCP, LINK_RTU_TCP };

struct sm_mb_link {
	modbus_t *ctx;
	enum link_kind kind;
	int fd;        /* the port or socket (owned by ctx for LINK_RTU) */
	int quiet_ms;  /* silence that ends a quiet flush */
	const _Atomic bool *stop; /* the owner's stop flag (may be NULL) */
	bool late_possible;       /* RTU: a request went unanswered; its answer may still come */
	_Atomic bool cancelled;   /* sm_mb_link_cancel was called */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_text(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_text(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (dst == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* opening                                                           */
/* ---------------------------------------------------------------- */

/* Line settings libmodbus can do, as its arguments.  false: err says why. */
static bool line_args(const struct sm_line *line, bool check_baud, char *parity, char *err, size_t errlen)
{
	if (check_baud && !sm_mb_baud_ok(line->baud)) {
		set_text(err, errlen,
			 "baud rate %d is not one libmodbus supports (it would silently use 9600): use a "
			 "standard rate such as 2400, 9600, 19200, 38400 or 115200",
			 line->baud);
		return false;
	}
	if (line->databits != 7 && line->databits != 8) {
		set_text(err, errlen, "%d data bits: Modbus RTU needs 7 or 8", line->databits);
		return false;
	}
	if (line->stopbits != 1 && line->stopbits != 2) {
		set_text(err, errlen, "%d stop bits: expected 1 or 2", line->stopbits);
		return false;
	}
	switch (line->parity) {
	case SM_PARITY_NONE:
		*parity = 'N';
		break;
	case SM_PARITY_EVEN:
		*parity = 'E';
		break;
	case SM_PARITY_ODD:
		*parity = 'O';
		break;
	default:
		set_text(err, errlen, "unknown parity setting %d", (int)line->parity);
		return false;
	}
	return true;
}

/* 3.5 character times at this line's speed (Modbus's inter-frame gap) plus
 * QUIET_EXTRA_MS. */
static int quiet_ms_of(const struct sm_line *line)
{
	int bits = 1 + line->databits + (line->parity != SM_PARITY_NONE) + line->stopbits;
	int baud = line->baud > 0 ? line->baud : 9600;
	/* ms, rounded up: 3.5 * bits * 1000 / baud */
	int gap = (7 * bits * 1000 + 2 * baud - 1) / (2 * baud);
	return gap + QUIET_EXTRA_MS;
}

/* "HOST:PORT" or "[V6]:PORT" into host (without brackets) and port.  false
 * when malformed. */
static bool split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *h = s;
	size_t hn;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return false;
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return false;
		hn = (size_t)(colon - s);
		if (memchr(s, ':', hn) != NULL) /* a bare IPv6 address needs brackets */
			return false;
	}
	if (hn == 0 || hn >= hostlen)
		return false;
	const char *p = colon + 1;
	size_t pn = strlen(p);
	if (pn == 0 || pn > 5 || pn >= portlen)
		return false;
	unsigned long v = 0;
	for (size_t i = 0; i < pn; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, p, pn + 1);
	return true;
}

static bool stopped(const _Atomic bool *stop)
{
	return stop != NULL && *stop;
}

/*
 * Connect a TCP socket to host:port, trying each address in turn, within
 * CONNECT_MS in all, looking at *stop every STOP_POLL_MS.  Returns the
 * connected non-blocking socket, or -1 with err set.
 */
static int tcp_connect(const char *host, const char *port, const _Atomic bool *stop, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int64_t deadline = now_ms() + CONNECT_MS;
	int fd = -1, last_errno = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0) {
		set_text(err, errlen, "cannot resolve %s: %s", host, gai_strerror(g));
		return -1;
	}
	for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (s < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
			fd = s;
			break;
		}
		if (errno != EINPROGRESS) {
			last_errno = errno;
			close(s);
			continue;
		}
		for (;;) {
			if (stopped(stop)) {
				close(s);
				freeaddrinfo(res);
				set_text(err, errlen, "connect cancelled");
				return -1;
			}
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				last_errno = ETIMEDOUT;
				close(s);
				break;
			}
			struct pollfd pfd = { .fd = s, .events = POLLOUT };
			int r = poll(&pfd, 1, (int)(left < STOP_POLL_MS ? left : STOP_POLL_MS));
			if (r < 0 && errno != EINTR) {
				last_errno = errno;
				close(s);
				break;
			}
			if (r <= 0)
				continue;
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
				soerr = errno;
			if (soerr == 0) {
				fd = s;
			} else {
				last_errno = soerr;
				close(s);
			}
			break;
		}
		if (now_ms() >= deadline)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (last_errno == ETIMEDOUT)
			set_text(err, errlen, "connect: no answer within %d s", CONNECT_MS / 1000);
		else
			set_text(err, errlen, "connect: %s", strerror(last_errno ? last_errno : ECONNREFUSED));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static enum sm_err open_rtu(struct sm_mb_link *l, const char *device, const struct sm_line *line, char *err,
			    size_t errlen, char *warn, size_t warnlen)
{
	char parity;

	if (!line_args(line, true, &parity, err, errlen))
		return SM_E_LINE;
	if (*device == '\0') {
		set_text(err, errlen, "empty device name");
		return SM_E_OPEN;
	}
	errno = 0;
	l->ctx = modbus_new_rtu(device, line->baud, parity, line->databits, line->stopbits);
	if (l->ctx == NULL) {
		set_text(err, errlen, "%s", errno == ENOMEM || errno == 0 ? "out of memory" : strerror(errno));
		return errno == ENOMEM || errno == 0 ? SM_E_NOMEM : SM_E_OPEN;
	}
	modbus_set_error_recovery(l->ctx, MODBUS_ERROR_RECOVERY_NONE);
	if (modbus_connect(l->ctx) != 0) {
		set_text(err, errlen, "%s", modbus_strerror(errno));
		return SM_E_OPEN;
	}
	l->fd = modbus_get_socket(l->ctx);
	/* O_EXCL does not lock a tty: TIOCEXCL keeps other programs (without
	 * CAP_SYS_ADMIN) from opening the port while we poll it. */
	if (ioctl(l->fd, TIOCEXCL) != 0 && errno != ENOTTY) {
		set_text(err, errlen, "cannot lock the port (TIOCEXCL): %s", strerror(errno));
		return SM_E_OPEN;
	}
	if (modbus_rtu_set_serial_mode(l->ctx, MODBUS_RTU_RS485) != 0)
		set_text(warn, warnlen,
			 "RS485 mode not available on this port (%s): continuing, make sure the adapter switches "
			 "direction by itself",
			 strerror(errno));
	return SM_OK;
}

static enum sm_err open_tcp(struct sm_mb_link *l, const char *hostport, bool rtu, const struct sm_line *line,
			    const _Atomic bool *stop, char *err, size_t errlen)
{
	char host[256], port[8], parity = 'N';

	if (!split_hostport(hostport, host, sizeof host, port, sizeof port)) {
		set_text(err, errlen, "expected %s://HOST:PORT (an IPv6 address in brackets), got \"%s\"",
			 rtu ? "rtu+tcp" : "tcp", hostport);
		return SM_E_OPEN;
	}
	if (rtu && !line_args(line, false, &parity, err, errlen))
		return SM_E_LINE;
	l->fd = tcp_connect(host, port, stop, err, errlen);
	if (l->fd < 0)
		return SM_E_OPEN;
	if (rtu)
		l->ctx = modbus_new_rtu("rtu+tcp", line->baud > 0 ? line->baud : 9600, parity, line->databits,
					line->stopbits);
	else
		l->ctx = modbus_new_tcp_pi(host, port);
	if (l->ctx == NULL) {
		set_text(err, errlen, "out of memory");
		return SM_E_NOMEM;
	}
	modbus_set_error_recovery(l->ctx, MODBUS_ERROR_RECOVERY_NONE);
	modbus_set_socket(l->ctx, l->fd);
	return SM_OK;
}

enum sm_err sm_mb_link_open(const char *device, const struct sm_line *line, const _Atomic bool *stop,
			    struct sm_mb_link **out, char *err, size_t errlen, char *warn, size_t warnlen)
{
	struct sm_mb_link *l;
	enum sm_err rc;

	set_text(err, errlen, "%s", "");
	set_text(warn, warnlen, "%s", "");
	if (out == NULL)
		return SM_E_INTERNAL;
	*out = NULL;
	if (device == NULL || line == NULL) {
		set_text(err, errlen, "no device or line settings");
		return SM_E_INTERNAL;
	}
	l = calloc(1, sizeof *l);
	if (l == NULL) {
		set_text(err, errlen, "out of memory");
		return SM_E_NOMEM;
	}
	l->fd = -1;
	l->stop = stop;
	atomic_init(&l->cancelled, false);
	l->quiet_ms = quiet_ms_of(line);
	if (strncmp(device, "tcp://", 6) == 0) {
		l->kind = LINK_TCP;
		l->quiet_ms = QUIET_EXTRA_MS;
		rc = open_tcp(l, device + 6, false, line, stop, err, errlen);
	} else if (strncmp(device, "rtu+tcp://", 10) == 0) {
		l->kind = LINK_RTU_TCP;
		rc = open_tcp(l, device + 10, true, line, stop, err, errlen);
	} else {
		l->kind = LINK_RTU;
		rc = open_rtu(l, device, line, err, errlen, warn, warnlen);
	}
	if (rc != SM_OK) {
		/* name the device first, as the byte transports do */
		char why[256];
		set_text(why, sizeof why, "%s", err != NULL && errlen > 0 ? err : "");
		set_text(err, errlen, "%s: %s", device, why);
		sm_mb_link_close(l);
		return rc;
	}
	*out = l;
	return SM_OK;
}

/* ---------------------------------------------------------------- */
/* reading                                                           */
/* ---------------------------------------------------------------- */

/* The owner stopped or cancelled: every wait ends. */
static bool given_up(struct sm_mb_link *l)
{
	return atomic_load(&l->cancelled) || stopped(l->stop);
}

/* Drop whatever input is waiting now. */
static void drop_pending(struct sm_mb_link *l)
{
	int n = 0;

	if (l->fd < 0)
		return;
	if (ioctl(l->fd, FIONREAD, &n) != 0 || n <= 0)
		return;
	if (l->kind == LINK_RTU) {
		tcflush(l->fd, TCIFLUSH);
		return;
	}
	/* sockets: tcflush does not apply; read and drop */
	uint8_t junk[512];
	while (recv(l->fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
}

/*
 * After a failed transaction: wait until the line has been silent for
 * quiet_ms (bounded by bound_ms in all), dropping whatever arrives, so that
 * the rest of a bad or late answer cannot be taken for the next one; then
 * drop what is still pending.
 */
static void quiet_flush(struct sm_mb_link *l, int bound_ms)
{
	int64_t start = now_ms(), last = start;
	uint8_t junk[256];

	while (l->fd >= 0 && !given_up(l)) {
		int64_t now = now_ms();
		int64_t wait = last + l->quiet_ms - now;
		if (start + bound_ms - now < wait)
			wait = start + bound_ms - now;
		if (wait <= 0)
			break;
		if (wait > STOP_POLL_MS)
			wait = STOP_POLL_MS;
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)wait);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pfd.revents & POLLNVAL)
			break;
		ssize_t n = read(l->fd, junk, sizeof junk);
		if (n > 0) {
			last = now_ms();
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		break; /* end of stream or an error: the next read reports it */
	}
	drop_pending(l);
}

static enum sm_err map_errno(int e, int *exc)
{
	if (e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX) {
		if (exc != NULL)
			*exc = e - MODBUS_ENOBASE;
		return SM_E_EXCEPTION;
	}
	switch (e) {
	case ETIMEDOUT:
		return SM_E_TIMEOUT;
	case EMBBADCRC:
		return SM_E_CRC;
	case EMBBADDATA:
	case EMBBADSLAVE:
	case EMBBADEXC:
	case EMBUNKEXC:
	case EMBMDATA:
		return SM_E_SYNTAX;
	case EINVAL:
		return SM_E_INTERNAL;
	default:
		/* EIO, EBADF, ECONNRESET, EPIPE, ENOTCONN, ENXIO, ENODEV and
		 * anything else the system says: the port is not usable */
		return SM_E_IO;
	}
}

/*
 * Wait until the link has input, at most ms, looking at the stop flag and
 * cancel every STOP_POLL_MS.  1 = input (or an error or end of stream for
 * the next read to report), 0 = timeout, -1 = given up.
 */
static int wait_input(struct sm_mb_link *l, int ms)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		if (given_up(l))
			return -1;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)(left < STOP_POLL_MS ? left : STOP_POLL_MS));
		if (r < 0 && errno != EINTR)
			return 1;
		if (r > 0)
			return 1;
	}
}

/*
 * One RTU transaction (a serial port or rtu+tcp): libmodbus builds and
 * sends the request (modbus_send_raw_request adds the CRC) and receives the
 * answer (modbus_receive_confirmation: its length from the function code,
 * the CRC checked), but the wait for the answer's first byte is ours, so
 * that stop and cancel end it.  Then the answer is matched to the request
 * as libmodbus's read functions do: the unit, the function (or its
 * exception), the byte count.  Returns 0 with dst filled, or -1 with errno
 * as libmodbus's read functions set it (ETIMEDOUT also when given up).
 */
static int rtu_transaction(struct sm_mb_link *l, uint8_t slave, uint8_t function, uint16_t addr, uint16_t count,
			   int timeout_ms, uint16_t *dst)
{
	uint8_t req[6] = { slave, function, (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(count >> 8),
			   (uint8_t)count };
	uint8_t rsp[MODBUS_RTU_MAX_ADU_LENGTH];
	int64_t start = now_ms();

	if (modbus_send_raw_request(l->ctx, req, (int)sizeof req) < 0)
		return -1;
	int w = wait_input(l, timeout_ms);
	if (w <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	int left = (int)(start + timeout_ms - now_ms());
	if (left < 1)
		left = 1;
	modbus_set_response_timeout(l->ctx, (uint32_t)(left / 1000), (uint32_t)(left % 1000) * 1000u);
	int n = modbus_receive_confirmation(l->ctx, rsp);
	if (n < 0)
		return -1;
	if (n < 5 || rsp[0] != slave) { /* libmodbus passes another unit's answer on as 0 bytes */
		errno = EMBBADSLAVE;
		return -1;
	}
	if (rsp[1] == (function | 0x80u)) {
		errno = rsp[2] > 0 && rsp[2] < MODBUS_EXCEPTION_MAX ? MODBUS_ENOBASE + rsp[2] : EMBBADEXC;
		return -1;
	}
	if (rsp[1] != function || rsp[2] != 2u * count || n != 3 + 2 * (int)count + 2) {
		errno = EMBBADDATA;
		return -1;
	}
	for (uint16_t i = 0; i < count; i++)
		dst[i] = (uint16_t)((uint16_t)rsp[3 + 2 * i] << 8 | rsp[4 + 2 * i]);
	return 0;
}

enum sm_err sm_mb_link_read(struct sm_mb_link *l, uint8_t slave, uint8_t function, uint16_t addr,
			    uint16_t count, int timeout_ms, uint16_t *dst, int *exc, char *err, size_t errlen)
{
	set_text(err, errlen, "%s", "");
	if (l == NULL || l->ctx == NULL || dst == NULL || (function != SM_MB_FC_HOLDING && function != SM_MB_FC_INPUT) ||
	    count < 1 || count > SM_MB_MAX_COUNT || (uint32_t)addr + count > 65536u || timeout_ms <= 0) {
		set_text(err, errlen, "bad arguments");
		return SM_E_INTERNAL;
	}
	if (exc != NULL)
		*exc = 0;
	if (l->fd < 0) {
		set_text(err, errlen, "%s", strerror(EBADF));
		return SM_E_IO;
	}
	if (given_up(l)) {
		set_text(err, errlen, "cancelled");
		return SM_E_TIMEOUT;
	}
	if (modbus_set_slave(l->ctx, slave) != 0) {
		set_text(err, errlen, "unit id %u is not allowed on this link", (unsigned)slave);
		return SM_E_INTERNAL;
	}
	int bt = timeout_ms > BYTE_TIMEOUT_MIN_MS ? timeout_ms : BYTE_TIMEOUT_MIN_MS;
	if (bt > BYTE_TIMEOUT_MAX_MS)
		bt = BYTE_TIMEOUT_MAX_MS;
	modbus_set_response_timeout(l->ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000u);
	modbus_set_byte_timeout(l->ctx, (uint32_t)(bt / 1000), (uint32_t)(bt % 1000) * 1000u);

	/* A late answer that arrived since the last transaction is not ours. */
	drop_pending(l);

	/* A socket: libmodbus writes with write() (RTU) or send() without
	 * MSG_NOSIGNAL on some builds, which would raise SIGPIPE on a closed
	 * connection; keep it off this thread and let the write fail with
	 * EPIPE instead. */
	sigset_t pipe_set, old_set;
	bool guard = l->kind != LINK_RTU;
	if (guard) {
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	}
	errno = 0;
	int rc;
	if (l->kind == LINK_TCP) /* transaction ids match answers; cancel shuts the socket down */
		rc = (function == SM_MB_FC_HOLDING ? modbus_read_registers(l->ctx, addr, count, dst)
						   : modbus_read_input_registers(l->ctx, addr, count, dst)) == (int)count
			     ? 0
			     : -1;
	else
		rc = rtu_transaction(l, slave, function, addr, count, timeout_ms, dst);
	int e = rc == 0 ? 0 : errno != 0 ? errno : EMBBADDATA;
	if (guard) {
		if (rc < 0 && e == EPIPE) {
			sigset_t pending;
			sigpending(&pending);
			if (sigismember(&pending, SIGPIPE) == 1) {
				struct timespec zero = { 0, 0 };
				sigtimedwait(&pipe_set, NULL, &zero);
			}
		}
		pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	}
	if (rc == 0 && l->late_possible && l->kind != LINK_TCP) {
		/* After an unanswered request, an answer may be a late one: if
		 * a second answer follows right behind it, the slave answered
		 * the old request late and this one on time, and the two
		 * cannot be told apart (RTU frames carry no transaction id). */
		int w = wait_input(l, l->quiet_ms);
		if (w == 0) {
			l->late_possible = false;
			return SM_OK;
		}
		if (w > 0) {
			set_text(err, errlen, "two answers to one request (a late answer to an earlier request "
					      "and this one cannot be told apart): both dropped");
			quiet_flush(l, timeout_ms);
			return SM_E_SYNTAX;
		}
	}
	if (rc == 0)
		return SM_OK;
	if (given_up(l)) {
		set_text(err, errlen, "cancelled");
		return e == ETIMEDOUT ? SM_E_TIMEOUT : map_errno(e, exc);
	}
	enum sm_err r = map_errno(e, exc);
	set_text(err, errlen, "%s", modbus_strerror(e));
	if (r == SM_E_TIMEOUT && l->kind != LINK_TCP) {
		/* the answer may still come: give it one more Timeout to
		 * start, and drop it, before anything else goes out */
		l->late_possible = true;
		if (wait_input(l, timeout_ms) != 0)
			quiet_flush(l, timeout_ms);
	} else if (r == SM_E_TIMEOUT || r == SM_E_CRC || r == SM_E_SYNTAX) {
		quiet_flush(l, timeout_ms);
	}
	return r;
}

void sm_mb_link_cancel(struct sm_mb_link *l)
{
	if (l == NULL)
		return;
	atomic_store(&l->cancelled, true);
	if (l->kind != LINK_RTU && l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR); /* wakes libmodbus's select on the socket */
}

void sm_mb_link_flush(struct sm_mb_link *l)
{
	if (l == NULL || l->fd < 0)
		return;
	if (l->kind == LINK_RTU) {
		modbus_flush(l->ctx); /* tcflush(TCIOFLUSH) */
		return;
	}
	uint8_t junk[512];
	while (recv(l->fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
}

void sm_mb_link_close(struct sm_mb_link *l)
{
	if (l == NULL)
		return;
	if (l->ctx != NULL) {
		if (l->kind == LINK_RTU) {
			/* let the next open in (TIOCEXCL outlives our fd while
			 * another process keeps the tty open, e.g. a pty's owner) */
			if (l->fd >= 0)
				ioctl(l->fd, TIOCNXCL);
			modbus_close(l->ctx);
		} else {
			/* our socket: libmodbus's RTU close would tcsetattr an
			 * uninitialised termios on it */
			modbus_set_socket(l->ctx, -1);
		}
		modbus_free(l->ctx);
	}
	if (l->kind != LINK_RTU && l->fd >= 0)
		close(l->fd);
	free(l);
}

/* ---------------------------------------------------------------- */
/* the slave side                                                    */
/* ---------------------------------------------------------------- */

struct sm_mb_responder {
	modbus_t *ctx;
	enum sm_mb_framing framing;
	int sv[2]; /* ctx writes replies into sv[0]; we take them from sv[1] */
};

struct sm_mb_image {
	modbus_mapping_t *map;
};

enum sm_err sm_mb_responder_new(enum sm_mb_framing framing, struct sm_mb_responder **out)
{
	struct sm_mb_responder *r;

	if (out == NULL || (framing != SM_MB_FRAMING_RTU && framing != SM_MB_FRAMING_TCP))
		return SM_E_INTERNAL;
	*out = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return SM_E_NOMEM;
	r->framing = framing;
	r->sv[0] = r->sv[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sv) != 0) {
		free(r);
		return SM_E_NOMEM;
	}
	fcntl(r->sv[1], F_SETFL, fcntl(r->sv[1], F_GETFL) | O_NONBLOCK);
	r->ctx = framing == SM_MB_FRAMING_RTU ? modbus_new_rtu("responder", 9600, 'N', 8, 1)
					       : modbus_new_tcp_pi("127.0.0.1", "502");
	if (r->ctx == NULL) {
		sm_mb_responder_free(r);
		return SM_E_NOMEM;
	}
	modbus_set_error_recovery(r->ctx, MODBUS_ERROR_RECOVERY_NONE);
	/* libmodbus sleeps a response timeout before some exception replies
	 * (we answer those ourselves, but keep any such pause short) */
	modbus_set_response_timeout(r->ctx, 0, 1000);
	modbus_set_socket(r->ctx, r->sv[0]);
	*out = r;
	return SM_OK;
}

void sm_mb_responder_free(struct sm_mb_responder *r)
{
	if (r == NULL)
		return;
	if (r->ctx != NULL) {
		modbus_set_socket(r->ctx, -1);
		modbus_free(r->ctx);
	}
	if (r->sv[0] >= 0)
		close(r->sv[0]);
	if (r->sv[1] >= 0)
		close(r->sv[1]);
	free(r);
}

enum sm_err sm_mb_image_new(uint16_t hold_start, uint32_t hold_n, uint16_t in_start, uint32_t in_n,
			    struct sm_mb_image **out)
{
	struct sm_mb_image *img;

	if (out == NULL)
		return SM_E_INTERNAL;
	*out = NULL;
	if ((uint32_t)hold_start + hold_n > 65536u || (uint32_t)in_start + in_n > 65536u)
		return SM_E_INTERNAL;
	img = calloc(1, sizeof *img);
	if (img == NULL)
		return SM_E_NOMEM;
	img->map = modbus_mapping_new_start_address(0, 0, 0, 0, hold_start, hold_n, in_start, in_n);
	if (img->map == NULL) {
		free(img);
		return SM_E_NOMEM;
	}
	*out = img;
	return SM_OK;
}

void sm_mb_image_free(struct sm_mb_image *img)
{
	if (img == NULL)
		return;
	modbus_mapping_free(img->map);
	free(img);
}

enum sm_err sm_mb_image_set(struct sm_mb_image *img, uint8_t function, uint16_t addr, const uint16_t *w,
			    size_t n)
{
	unsigned start, nb;
	uint16_t *tab;

	if (img == NULL || (n > 0 && w == NULL))
		return SM_E_INTERNAL;
	if (function == SM_MB_FC_HOLDING) {
		start = img->map->start_registers;
		nb = (unsigned)img->map->nb_registers;
		tab = img->map->tab_registers;
	} else if (function == SM_MB_FC_INPUT) {
		start = img->map->start_input_registers;
		nb = (unsigned)img->map->nb_input_registers;
		tab = img->map->tab_input_registers;
	} else {
		return SM_E_RANGE;
	}
	if (addr < start || (size_t)(addr - start) + n > nb)
		return SM_E_RANGE;
	if (n > 0)
		memcpy(tab + (addr - start), w, n * sizeof *w);
	return SM_OK;
}

/* Take what the context wrote into the socket pair. */
static enum sm_err take_reply(struct sm_mb_responder *r, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t got = 0;

	for (;;) {
		uint8_t tmp[SM_MB_ADU_MAX];
		ssize_t n = recv(r->sv[1], tmp, sizeof tmp, MSG_DONTWAIT);
		if (n <= 0)
			break;
		if (got + (size_t)n > cap)
			return SM_E_INTERNAL; /* (cannot happen: cap >= SM_MB_ADU_MAX) */
		memcpy(out + got, tmp, (size_t)n);
		got += (size_t)n;
	}
	*outlen = got;
	return SM_OK;
}

/* The function code's offset in a request frame, and the shortest frame
 * that carries the fields libmodbus will look at; 0 when too short. */
static size_t pdu_offset(const struct sm_mb_responder *r, size_t len)
{
	size_t off = r->framing == SM_MB_FRAMING_RTU ? 1 : 7;
	return len > off ? off : 0;
}

enum sm_err sm_mb_respond(struct sm_mb_responder *r, const uint8_t *req, size_t len, struct sm_mb_image *img,
			  uint8_t *out, size_t cap, size_t *outlen)
{
	if (r == NULL || req == NULL || img == NULL || out == NULL || outlen == NULL || cap < SM_MB_ADU_MAX)
		return SM_E_INTERNAL;
	*outlen = 0;
	size_t off = pdu_offset(r, len);
	if (off == 0)
		return SM_E_SYNTAX;
	uint8_t fc = req[off];
	if (fc != SM_MB_FC_HOLDING && fc != SM_MB_FC_INPUT)
		return sm_mb_respond_exception(r, req, len, MODBUS_EXCEPTION_ILLEGAL_FUNCTION, out, cap, outlen);
	if (len < off + 5)
		return SM_E_SYNTAX;
	unsigned nb = (unsigned)req[off + 3] << 8 | req[off + 4];
	/* libmodbus pauses a response timeout before this exception: do it
	 * ourselves */
	if (nb < 1 || nb > MODBUS_MAX_READ_REGISTERS)
		return sm_mb_respond_exception(r, req, len, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE, out, cap, outlen);
	/* modbus_reply reads only the fields checked above */
	if (modbus_reply(r->ctx, req, (int)len, img->map) < 0)
		return SM_E_INTERNAL;
	return take_reply(r, out, cap, outlen);
}

enum sm_err sm_mb_respond_exception(struct sm_mb_responder *r, const uint8_t *req, size_t len, int code,
				    uint8_t *out, size_t cap, size_t *outlen)
{
	if (r == NULL || req == NULL || out == NULL || outlen == NULL || cap < SM_MB_ADU_MAX || code < 1 ||
	    code >= MODBUS_EXCEPTION_MAX)
		return SM_E_INTERNAL;
	*outlen = 0;
	if (pdu_offset(r, len) == 0)
		return SM_E_SYNTAX;
	if (modbus_reply_exception(r->ctx, req, (unsigned)code) < 0)
		return SM_E_INTERNAL;
	return take_reply(r, out, cap, outlen);
}
