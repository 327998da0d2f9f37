/*
 * transport.h - byte streams a reader opens: local serial ports (through
 * libserialport), raw TCP streams from serial bridges ("tcp://host:port"),
 * and captured files ("file:PATH").  Only transport_serial.c includes
 * libserialport.
 *
 * Serial ports: the path is resolved first (symlinks such as
 * /dev/serial/by-id/... or a simulator's pty link).  Real ports go through
 * libserialport; pseudo-terminals (which libserialport 0.1.1 cannot open)
 * and ttys without a sysfs entry go through termios directly.  A pty takes
 * any line setting (it has no baud rate), so set_line never fails there
 * for settings that are valid at all.  A tty that hangs up (unplugged USB
 * adapter, pty whose master closed) reads as SM_E_IO.
 * FILE: writes are accepted and discarded; drain and set_line do nothing.
 * TCP: drain and set_line do nothing.
 *
 * Ownership: sm_transport_open allocates the object; sm_transport_close
 * closes and frees it.  One object is used by one thread at a time.
 * No call blocks longer than the timeout it is given (open of a TCP stream
 * uses SM_TRANSPORT_CONNECT_MS).  Error details (the OS's message) are kept
 * in the object (sm_transport_error) or written to err for open.
 */
#ifndef SM_TRANSPORT_H
#define SM_TRANSPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "proto.h"

#define SM_TRANSPORT_CONNECT_MS 3000

enum sm_transport_kind { SM_TRANSPORT_SERIAL, SM_TRANSPORT_TCP, SM_TRANSPORT_FILE };

struct sm_transport;

/* Which kind a Device string names (no I/O): "tcp://" TCP, "file:" FILE,
 * anything else SERIAL.  "rtu+tcp://" is TCP as well (Modbus only). */
enum sm_transport_kind sm_transport_kind_of(const char *device);

/*
 * Open device with line settings (ignored for TCP and FILE; may be NULL
 * there).  SM_OK; SM_E_OPEN (missing device, not a terminal, refused
 * connection, bad host:port; err says which and why, naming the device);
 * SM_E_LINE (a line setting out of range, or the port rejects it);
 * SM_E_NOMEM.
 */
enum sm_err sm_transport_open(const char *device, const struct sm_line *line,
			      struct sm_transport **out, char *err, size_t errlen);
/*
 * The same, but a TCP connect gives up within 100 ms once *cancel is true
 * (SM_E_OPEN, err "cancelled"), so a stopping reader is not held for
 * SM_TRANSPORT_CONNECT_MS.  cancel may be NULL.  (Name resolution through
 * getaddrinfo is not cancellable; numeric addresses never block.)
 */
enum sm_err sm_transport_open_cancel(const char *device, const struct sm_line *line,
				     const atomic_bool *cancel, struct sm_transport **out,
				     char *err, size_t errlen);

/*
 * Read what is available, waiting at most timeout_ms for the first byte.
 * SM_OK with *got > 0 bytes, or *got == 0 when nothing arrived in time;
 * SM_E_CLOSED at the end of a file or when the peer closed the stream;
 * SM_E_IO when the device failed or vanished (close and reopen it).
 * A FILE transport returns its bytes in chunks of at most cap.
 */
enum sm_err sm_transport_read(struct sm_transport *t, uint8_t *buf, size_t cap,
			      int timeout_ms, size_t *got);

/* Write all n bytes within timeout_ms: SM_OK, SM_E_TIMEOUT, SM_E_IO. */
enum sm_err sm_transport_write(struct sm_transport *t, const uint8_t *p, size_t n, int timeout_ms);

/* Wait until written bytes have left (tcdrain); SM_OK or SM_E_IO. */
enum sm_err sm_transport_drain(struct sm_transport *t);

/* Change line settings of an open serial port (baud switch of IEC 62056-21).
 * SM_OK (no-op for TCP/FILE), SM_E_LINE. */
enum sm_err sm_transport_set_line(struct sm_transport *t, const struct sm_line *line);

/* The last error's text, "" if none.  Valid until the next call on t. */
const char *sm_transport_error(const struct sm_transport *t);

void sm_transport_close(struct sm_transport *t);

#endif
