/*
 * transport_tcp.c - "tcp://HOST:PORT" (and "rtu+tcp://HOST:PORT"): a raw byte
 * stream from a network serial bridge.  HOST may be a name, an IPv4 address
 * or a bracketed IPv6 address ("[::1]:2000").  Connects without blocking
 * for longer than SM_TRANSPORT_CONNECT_MS (all addresses together), reads
 * with poll.  A peer that closes gives SM_E_CLOSED.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "transport_int.h"

struct tcp {
	struct sm_transport base;
	int fd;
};

static enum sm_err tcp_read(struct sm_transport *t, uint8_t *buf, size_t cap, int timeout_ms,
			    size_t *got)
{
	struct tcp *c = (struct tcp *)t;
	enum sm_err rc = sm_fd_read(t, c->fd, buf, cap, timeout_ms, got);

	if (rc == SM_E_CLOSED)
		sm_transport_seterr(t, "connection closed by the peer");
	return rc;
}

static enum sm_err tcp_write(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms)
{
	struct tcp *c = (struct tcp *)t;

	return sm_fd_write(t, c->fd, p, n, timeout_ms, true);
}

static enum sm_err tcp_drain(struct sm_transport *t)
{
	return SM_OK;
}

static enum sm_err tcp_set_line(struct sm_transport *t, const struct sm_line *line)
{
	return SM_OK;
}

static void tcp_close(struct sm_transport *t)
{
	struct tcp *c = (struct tcp *)t;

	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static const struct sm_transport_ops tcp_ops = {
	.read = tcp_read,
	.write = tcp_write,
	.drain = tcp_drain,
	.set_line = tcp_set_line,
	.close = tcp_close,
};

/*
 * Split "HOST:PORT" / "[V6]:PORT" into host and port.  The port must be a
 * decimal 1..65535.
 */
static bool split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *h, *he, *p;

	if (s[0] == '[') {
		h = s + 1;
		he = strchr(h, ']');
		if (he == NULL || he[1] != ':')
			return false;
		p = he + 2;
	} else {
		h = s;
		he = strrchr(s, ':');
		if (he == NULL)
			return false;
		if (memchr(h, ':', (size_t)(he - h)) != NULL)
			return false; /* bare IPv6 address: needs brackets */
		p = he + 1;
	}
	size_t hl = (size_t)(he - h), pl = strlen(p);
	if (hl == 0 || hl >= hcap || pl == 0 || pl > 5 || pl >= pcap)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < pl; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, p, pl);
	port[pl] = '\0';
	return true;
}

/* Connect one address within deadline.  Returns the fd or -1 (errno set;
 * ECANCELED when cancelled, ETIMEDOUT at the deadline). */
static int connect_one(const struct addrinfo *ai, int64_t deadline, const atomic_bool *cancel)
{
	if (cancel != NULL && atomic_load(cancel)) {
		errno = ECANCELED;
		return -1;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	for (;;) {
		if (cancel != NULL && atomic_load(cancel)) {
			close(fd);
			errno = ECANCELED;
			return -1;
		}
		int64_t now = sm_transport_clock_ms();
		if (now >= deadline) {
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
		int64_t left = deadline - now;
		int ev = sm_fd_wait(fd, POLLOUT, left > 100 ? 100 : (int)left);
		if (ev < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (ev == 0)
			continue;
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
		if (soerr != 0) {
			close(fd);
			errno = soerr;
			return -1;
		}
		return fd;
	}
}

static void keepalive(int fd)
{
	int on = 1, idle = 60, intvl = 10, cnt = 6;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

enum sm_err sm_tcp_open(const char *device, const atomic_bool *cancel,
			struct sm_transport **out, char *err, size_t errlen)
{
	const char *rest = strstr(device, "://");
	char host[256], port[8];
	struct addrinfo hints, *res = NULL;
	int64_t deadline;
	int fd = -1, e = EHOSTUNREACH;

	rest = rest != NULL ? rest + 3 : device;
	if (!split_hostport(rest, host, sizeof host, port, sizeof port)) {
		sm_errf(err, errlen, "%s: expected tcp://HOST:PORT (PORT 1..65535, IPv6 as [ADDR]:PORT)",
			device);
		return SM_E_OPEN;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g == EAI_ADDRFAMILY || g == EAI_NONAME || g == EAI_FAMILY) {
		/* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on hosts without a
		 * configured address; loopback must still work. */
		hints.ai_flags = AI_NUMERICSERV;
		g = getaddrinfo(host, port, &hints, &res);
	}
	if (g != 0) {
		sm_errf(err, errlen, "%s: cannot resolve %s: %s", device, host,
			g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return SM_E_OPEN;
	}
	deadline = sm_transport_clock_ms() + SM_TRANSPORT_CONNECT_MS;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = connect_one(ai, deadline, cancel);
		if (fd >= 0)
			break;
		e = errno;
		if (e == ECANCELED || e == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (e == ECANCELED)
			sm_errf(err, errlen, "%s: cancelled", device);
		else if (e == ETIMEDOUT)
			sm_errf(err, errlen, "%s: connect timed out after %d ms", device,
				SM_TRANSPORT_CONNECT_MS);
		else
			sm_errf(err, errlen, "%s: connect: %s", device, strerror(e));
		return SM_E_OPEN;
	}
	keepalive(fd);

	struct tcp *c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		sm_errf(err, errlen, "%s: out of memory", device);
		return SM_E_NOMEM;
	}
	c->base.ops = &tcp_ops;
	c->base.kind = SM_TRANSPORT_TCP;
	c->fd = fd;
	*out = &c->base;
	return SM_OK;
}
