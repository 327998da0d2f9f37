/*
 * modbus_link.h - one libmodbus context for one port (a Modbus master):
 * the only module that includes libmodbus.  Used by the reader thread of a
 * port whose meters speak Protocol "modbus"; never shared between threads.
 *
 * Devices:
 *   /dev/ttyUSB0, /dev/serial/by-id/..., a pty   Modbus RTU (modbus_new_rtu)
 *   tcp://HOST:PORT                              Modbus TCP (MBAP, modbus_new_tcp_pi)
 *   rtu+tcp://HOST:PORT                          RTU frames over a TCP bridge: an RTU
 *                                                context on a socket we connect
 *
 * RTU details: the baud rate is validated here (libmodbus silently falls
 * back to 9600 for a rate it does not know); data bits 7 or 8, parity
 * N/E/O, stop bits 1 or 2 come from the line.  RS485 mode is requested
 * after connecting; when the port refuses it (ENOTTY on ptys and most USB
 * adapters with automatic direction control) the open still succeeds and
 * the reason is returned as a warning for the caller to log once.  The port
 * is opened exclusively (TIOCEXCL), so two programs cannot poll one bus.
 *
 * Reads: after a timeout, a CRC error, a reply from another unit or a
 * malformed reply the input is flushed once the line has been quiet for a
 * short while (bounded by the response timeout), so that a late reply is
 * never taken for the answer to the next request.  sm_mb_link_flush drops
 * whatever is pending (the reader calls it before each meter's poll).
 */
#ifndef SM_MODBUS_LINK_H
#define SM_MODBUS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "modbus_map.h" /* sm_mb_exception_str */
#include "proto.h"

struct sm_mb_link;

/*
 * Open a link.  SM_OK (*out set; warn holds "" or one line to log once as a
 * warning, e.g. "RS485 mode not available on this port (Inappropriate ioctl
 * for device): continuing, make sure the adapter switches direction by
 * itself"); SM_E_LINE (a line setting libmodbus cannot do: err says which);
 * SM_E_OPEN (cannot open or connect; err says why, e.g. "No such file or
 * directory"); SM_E_NOMEM.  The call may block for a TCP connect (at most
 * about 5 s; stop is polled every 100 ms and cancels it: SM_E_OPEN).
 */
enum sm_err sm_mb_link_open(const char *device, const struct sm_line *line, const _Atomic bool *stop,
			    struct sm_mb_link **out, char *err, size_t errlen, char *warn, size_t warnlen);

/*
 * Read count (1..125) registers from address addr of unit slave with
 * function 3 or 4 into dst[0..count), waiting at most timeout_ms for the
 * answer (the response timeout; bytes within an answer may be at most
 * max(timeout_ms, 50) ms apart).
 * Returns:
 *   SM_OK            dst filled
 *   SM_E_TIMEOUT     no (complete) answer in time; input flushed
 *   SM_E_CRC         an answer with a bad CRC; input flushed
 *   SM_E_EXCEPTION   an exception reply; *exc = its code (1..255)
 *   SM_E_SYNTAX      a malformed answer, a reply from another unit or of
 *                    another shape (a late reply); input flushed
 *   SM_E_IO          the port is gone (EIO, EBADF, connection reset):
 *                    close the link and reopen with back-off
 *   SM_E_INTERNAL    bad arguments
 * err gets a short text for negative codes (libmodbus's message).
 */
enum sm_err sm_mb_link_read(struct sm_mb_link *l, uint8_t slave, uint8_t function, uint16_t addr,
			    uint16_t count, int timeout_ms, uint16_t *dst, int *exc, char *err, size_t errlen);

/* Drop any pending input at once. */
void sm_mb_link_flush(struct sm_mb_link *l);

/* Close and free (NULL is fine). */
void sm_mb_link_close(struct sm_mb_link *l);

#endif
