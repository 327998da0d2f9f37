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
 * Reads: after a CRC error, a reply from another unit or a malformed reply
 * the input is flushed once the line has been quiet for a short while
 * (bounded by the response timeout).  Late replies: input that arrived
 * before a request goes out is dropped; after a timeout (RTU) the link
 * waits up to one more response timeout for the late reply to start and
 * drops it, so an unanswered request costs up to twice the timeout; and
 * until the next clean exchange, an answer followed right away by a second
 * one is dropped with it (the slave answered an earlier request late and
 * this one on time: RTU frames carry no transaction id to tell them
 * apart).  Modbus TCP matches transaction ids.  What no master can tell
 * on RTU: a reply later than twice the timeout, arriving after the next
 * identical request went out, from a slave that then ignores that request.
 * sm_mb_link_flush drops whatever is pending (the reader calls it before
 * each meter's poll).
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
 * SM_E_OPEN (cannot open or connect; err names the device and says why,
 * e.g. "/dev/ttyUSB0: No such file or directory", as sm_transport_open's
 * messages do); SM_E_NOMEM.  The call may block for a TCP connect (at most
 * about 5 s; stop is polled every 100 ms and cancels it: SM_E_OPEN).
 */
enum sm_err sm_mb_link_open(const char *device, const struct sm_line *line, const _Atomic bool *stop,
			    struct sm_mb_link **out, char *err, size_t errlen, char *warn, size_t warnlen);

/*
 * Read count (1..125) registers from address addr of unit slave with
 * function 3 or 4 into dst[0..count), waiting at most timeout_ms for the
 * answer (the response timeout; bytes within an answer may be at most
 * max(timeout_ms, 50) ms apart, and never more than 500 ms, which bounds
 * the one wait that stop cannot end).  Unit ids: RTU 0..247 (0 is a broadcast,
 * which no slave answers); Modbus TCP 0..247 and 255 (libmodbus 3.1.6
 * refuses 248..254: SM_E_INTERNAL).  Input that arrived since the last
 * transaction is dropped before the request goes out.
 * Returns:
 *   SM_OK            dst filled
 *   SM_E_TIMEOUT     no (complete) answer in time; input flushed
 *   SM_E_CRC         an answer with a bad CRC; input flushed
 *   SM_E_EXCEPTION   an exception reply; *exc = its code (1..255)
 *   SM_E_SYNTAX      a malformed answer, a reply from another unit or of
 *                    another shape (a late reply), or two answers back to
 *                    back after a timeout (see above); input flushed
 *   SM_E_IO          the port is gone (EIO, EBADF, connection reset):
 *                    close the link and reopen with back-off
 *   SM_E_INTERNAL    bad arguments
 * After sm_mb_link_cancel or with the stop flag set: SM_E_TIMEOUT or
 * SM_E_IO, err "cancelled".
 * err gets a short text for negative codes (libmodbus's message).
 */
enum sm_err sm_mb_link_read(struct sm_mb_link *l, uint8_t slave, uint8_t function, uint16_t addr,
			    uint16_t count, int timeout_ms, uint16_t *dst, int *exc, char *err, size_t errlen);

/*
 * Make a sm_mb_link_read waiting on another thread return soon (within
 * about 100 ms; it returns SM_E_TIMEOUT or SM_E_IO, err "cancelled"), and
 * every later read at once.  Safe to call from any thread while the owner
 * is inside sm_mb_link_read, as long as the link is not being closed at the
 * same time (the caller serialises cancel against close).  The stop flag
 * given to sm_mb_link_open is looked at in every wait as well, so a link
 * whose flag is set needs no cancel for RTU; a socket link (tcp://,
 * rtu+tcp://) is shut down, which wakes a read inside libmodbus.
 */
void sm_mb_link_cancel(struct sm_mb_link *l);

/* Drop any pending input at once. */
void sm_mb_link_flush(struct sm_mb_link *l);

/* Close and free (NULL is fine). */
void sm_mb_link_close(struct sm_mb_link *l);

/* ---- the slave side: composing replies (simulators and tests) ---- */
/*
 * A responder answers requests from register images with libmodbus's own
 * reply code (modbus_reply, modbus_reply_exception) without touching any
 * port: the reply bytes are handed back to the caller, which sends them, or
 * delays, breaks or drops them to simulate a faulty slave.  Replies carry
 * the request's unit id (and, for Modbus TCP, its transaction id).
 * One responder and its images are used by one thread at a time.
 */
struct sm_mb_responder;
struct sm_mb_image;

enum sm_mb_framing {
	SM_MB_FRAMING_RTU = 0, /* unit id, PDU, CRC-16 (low byte first) */
	SM_MB_FRAMING_TCP,     /* MBAP header (transaction, protocol 0, length, unit id), PDU */
};
#define SM_MB_ADU_MAX 260 /* the longest Modbus frame (TCP), bytes */

/* SM_OK (*out set), SM_E_NOMEM. */
enum sm_err sm_mb_responder_new(enum sm_mb_framing framing, struct sm_mb_responder **out);
/* NULL is fine. */
void sm_mb_responder_free(struct sm_mb_responder *r);

/*
 * A register image: holding registers (function 3) at addresses
 * [hold_start, hold_start + hold_n) and input registers (function 4) at
 * [in_start, in_start + in_n), all zero; reads outside get exception 2.
 * Starts plus counts may not exceed 65536.  SM_OK (*out set),
 * SM_E_INTERNAL (bad range), SM_E_NOMEM.
 */
enum sm_err sm_mb_image_new(uint16_t hold_start, uint32_t hold_n, uint16_t in_start, uint32_t in_n,
			    struct sm_mb_image **out);
/* NULL is fine. */
void sm_mb_image_free(struct sm_mb_image *img);
/* Store n words at addr of the function's table.  SM_OK, or SM_E_RANGE
 * when a word would fall outside the image (nothing stored). */
enum sm_err sm_mb_image_set(struct sm_mb_image *img, uint8_t function, uint16_t addr, const uint16_t *w,
			    size_t n);

/*
 * The reply to one whole request frame req[0..len) (with its CRC or MBAP
 * header; not checked here: the caller has framed and verified it) from
 * img, as modbus_reply gives it: the registers asked for, or exception 2
 * for addresses outside the image, 3 for a count of 0 or above 125, 1 for
 * a function other than 3 and 4.  out[0..*outlen) gets the whole frame
 * (cap >= SM_MB_ADU_MAX).  SM_OK; SM_E_SYNTAX when the frame is too short
 * for its function's fields (nothing to answer); SM_E_INTERNAL.
 */
enum sm_err sm_mb_respond(struct sm_mb_responder *r, const uint8_t *req, size_t len, struct sm_mb_image *img,
			  uint8_t *out, size_t cap, size_t *outlen);
/* The exception reply with code to req, as modbus_reply_exception gives
 * it: code 1..11 (the codes libmodbus knows; others SM_E_INTERNAL).  Same
 * returns as sm_mb_respond. */
enum sm_err sm_mb_respond_exception(struct sm_mb_responder *r, const uint8_t *req, size_t len, int code,
				    uint8_t *out, size_t cap, size_t *outlen);

#endif
