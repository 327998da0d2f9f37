/*
 * transport_int.h - private to the transport implementations
 * (transport.c, transport_serial.c, transport_tcp.c, transport_file.c).
 * Nothing outside them includes this.
 *
 * Every transport object starts with struct sm_transport; the backend's
 * own struct embeds it as its first member and the ops table does the rest.
 */
#ifndef SM_TRANSPORT_INT_H
#define SM_TRANSPORT_INT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "transport.h"

struct sm_transport_ops {
	enum sm_err (*read)(struct sm_transport *t, uint8_t *buf, size_t cap, int timeout_ms,
			    size_t *got);
	enum sm_err (*write)(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms);
	enum sm_err (*drain)(struct sm_transport *t);
	enum sm_err (*set_line)(struct sm_transport *t, const struct sm_line *line);
	void (*close)(struct sm_transport *t); /* closes and frees */
};

struct sm_transport {
	const struct sm_transport_ops *ops;
	enum sm_transport_kind kind;
	char err[256];
};

/* Backends.  Same contract as sm_transport_open; cancel may be NULL. */
enum sm_err sm_serial_open(const char *path, const struct sm_line *line,
			   struct sm_transport **out, char *err, size_t errlen);
enum sm_err sm_tcp_open(const char *device, const atomic_bool *cancel,
			struct sm_transport **out, char *err, size_t errlen);
enum sm_err sm_file_open(const char *path, struct sm_transport **out, char *err, size_t errlen);

/* Shared helpers (transport.c). */
void sm_transport_seterr(struct sm_transport *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sm_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int64_t sm_transport_clock_ms(void);
/*
 * Wait up to timeout_ms for events on fd (restarting after EINTR with the
 * remaining time).  Returns the revents (0 on timeout), or -1 with errno set.
 */
int sm_fd_wait(int fd, short events, int timeout_ms);
/*
 * poll + read on a non-blocking fd: SM_OK (got may be 0), SM_E_CLOSED
 * (read returned 0), SM_E_IO (t->err set).  what names the operation.
 */
enum sm_err sm_fd_read(struct sm_transport *t, int fd, uint8_t *buf, size_t cap,
		       int timeout_ms, size_t *got);
/* Write all n bytes within timeout_ms on a non-blocking fd (send with
 * MSG_NOSIGNAL when is_socket).  SM_OK, SM_E_TIMEOUT, SM_E_IO. */
enum sm_err sm_fd_write(struct sm_transport *t, int fd, const uint8_t *p, size_t n,
			int timeout_ms, bool is_socket);

#endif
