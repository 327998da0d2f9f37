/*
 * iec_session.h - the IEC 62056-21 sign-on (modes A, B, C) as a pure state
 * machine: it returns actions (proto.h: send, set line, wait, read) for the
 * reader to carry out and never touches a port, a clock or a log.
 *
 * One poll:
 *   SET_LINE  sign-on line (the meter's Baudrate/Parity/... settings,
 *             default 300 7E1), before every sign-on
 *   [SEND 40 NULs (drain), WAIT 1500 ms]                  WakeUp true
 *   SEND "/?" Address "!" CR LF (drain)
 *   READ  the identification "/XXXZ[\W]ident" CR LF (SM_IEC_IDENT_MS of
 *         silence allowed); an echo of the request ("/?...") and bytes
 *         before '/' are skipped
 *   then by the baud character Z of the identification and the Mode:
 *   - mode C (Mode "C" and Z a digit '0'..'6'): SEND ACK 06 '0' Z' '0' CR LF
 *     at the sign-on speed with drain, where Z' is the offered speed capped
 *     by MaxBaudrate; if Z' changes the speed: WAIT BaudSwitchDelay (if >
 *     0), SET_LINE Z' (same framing); READ the data message
 *   - mode B (Mode "B" or "C" and Z a letter 'A'..'F'): SET_LINE at once to
 *     the letter's speed (no ACK; the meter switches by itself, so
 *     MaxBaudrate cannot lower it); READ
 *   - mode A (Mode "A", or any other Z): READ at the sign-on speed
 *   READ  the data message (SM_IEC_DATA_MS of silence allowed, repeated
 *         while bytes arrive; a message without STX is complete after a
 *         silence of three characters after its "!" line); an echoed ACK
 *         line is skipped; the message
 *         is framed and decoded as iec62056_21.h describes (but a block
 *         that began with STX must end with ETX and BCC here: a polled
 *         readout cut off after its '!' line is SM_E_TRUNCATED, while
 *         feed/idle accept such captures unchecked); SM_READINGS
 *   DONE
 * Any failure ends the poll with a negative code and DONE; the next poll
 * starts from scratch at the sign-on line:
 *   SM_E_TIMEOUT   no identification, or no data message, in time
 *   SM_E_SYNTAX    the answer is no identification line
 *   SM_E_TOO_LONG  identification line or message too long
 *   SM_E_TRUNCATED the data message stopped before its end
 *   SM_E_BCC       BCC wrong (unless IgnoreChecksum)
 *   SM_E_EMPTY     a message without readings
 * The session always takes all bytes offered (*used = n).
 *
 * Ownership: the caller owns struct sm_iec_session (large: it holds a
 * framer); no allocation; one thread at a time.
 */
#ifndef SM_IEC_SESSION_H
#define SM_IEC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "iec62056_21.h"
#include "proto.h"
#include "reading.h"

struct sm_meter_cfg;

#define SM_IEC_WAKEUP_NULS 40
#define SM_IEC_WAKEUP_PAUSE_MS 1500
#define SM_IEC_IDENT_MS 2000 /* silence allowed while waiting for the identification */
#define SM_IEC_DATA_MS 2000  /* silence allowed while reading the data message */

struct sm_iec_session {
	/* configuration (from init) */
	char mode;                 /* 'A', 'B' or 'C' */
	bool wakeup;
	bool ignore_checksum;
	int max_baud;              /* 0: no cap */
	int switch_delay_ms;
	struct sm_line signon;     /* sign-on line settings */
	uint8_t request[SM_IEC_ADDRESS_MAX + 8];
	size_t request_n;
	/* one poll (private) */
	int step;
	struct sm_iec_ident id;    /* the identification of the last poll */
	int data_baud;             /* speed of the data message */
	uint8_t tx[SM_IEC_WAKEUP_NULS];
	uint8_t line[SM_IEC_IDENT_LINE_MAX];
	size_t line_n;
	struct sm_iec_framer framer;
};

/*
 * Configure from the meter's settings (iec_mode, address, max_baud,
 * baud_switch_delay_s, wakeup, ignore_checksum, line; cfg may be NULL:
 * mode C, no address, 300 7E1).  SM_OK, or SM_E_CONFIG with diag set (an
 * address that cannot be sent).
 */
enum sm_err sm_iec_session_init(struct sm_iec_session *s, const struct sm_meter_cfg *cfg,
				struct sm_diag *diag);
/* Begin a poll: *act is the first action (SET_LINE sign-on).  SM_OK. */
enum sm_err sm_iec_session_start(struct sm_iec_session *s, struct sm_action *act);
/* The outcome of the last action; sets the next one (proto.h poll_event). */
enum sm_err sm_iec_session_event(struct sm_iec_session *s, const uint8_t *in, size_t n,
				 size_t *used, bool timed_out, struct sm_action *act,
				 struct sm_reading_set *out, struct sm_feed_info *info);

#endif
