/*
 * proto.h - the protocol table.  A protocol turns bytes into reading sets;
 * it never touches a port, a clock, a lock or a log (DESIGN.md section 1).
 *
 * Lifetime: the reader allocates proto->state_size bytes per meter, calls
 * init once, feed/idle any number of times, reset after a reconnect, fini
 * once.  One state is used by one thread at a time.
 */
#ifndef SM_PROTO_H
#define SM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "reading.h"

struct sm_meter_cfg;

enum sm_parity { SM_PARITY_NONE = 0, SM_PARITY_EVEN, SM_PARITY_ODD };

struct sm_line {
	int baud;            /* bits/s */
	int databits;        /* 5..8 */
	enum sm_parity parity;
	int stopbits;        /* 1 or 2 */
};

/* Per-frame outcome details a protocol reports besides the return code. */
struct sm_feed_info {
	enum sm_check check;  /* of the frame that produced readings */
	unsigned bad_lines;   /* decoder: lines/objects skipped in that frame */
	bool unauthenticated; /* readings of a meter with a Key from a frame no GCM tag
				 authenticated (DLMS security control 0x20/0x21, or a plain
				 APDU): still readings, but the reader may count them */
	bool crc_fallback;    /* the frame's checksum verified only by a documented
				 alternative (SML: CRC-16/KERMIT instead of X.25) */
	struct sm_diag diag;  /* text for a negative return code */
};

/*
 * Polled protocols (IEC 62056-21 modes A-C, later Modbus) are sessions: the
 * protocol returns actions and the reader carries them out, so that the
 * protocol never sleeps, never touches a port and never reads a clock.
 */
enum sm_action_kind {
	SM_ACT_SEND,     /* write data[0..len); then, if drain, wait until it left the port */
	SM_ACT_SET_LINE, /* switch the port to line (both directions) */
	SM_ACT_WAIT,     /* pause ms milliseconds (e.g. before a baud switch) */
	SM_ACT_READ,     /* read input; give up after ms milliseconds without any byte */
	SM_ACT_DONE,     /* the poll is over (readings, if any, came with SM_READINGS) */
	SM_ACT_MODBUS,   /* one Modbus read transaction on the port's libmodbus link
			    (modbus_link.h): mb_* fields; the reader fills mb_rc and
			    mb_exc and the words into mb_dst before poll_event */
};

struct sm_action {
	enum sm_action_kind kind;
	const uint8_t *data; /* SEND: borrowed from the session state, valid until the next call */
	size_t len;
	bool drain;          /* SEND: tcdrain before the next action */
	struct sm_line line; /* SET_LINE */
	int ms;              /* WAIT: pause; READ: silence allowed before timing out;
				MODBUS: response timeout */
	/* MODBUS: read mb_count registers at mb_addr of unit mb_slave with
	 * function mb_function (3/4) into mb_dst (borrowed from the session
	 * state).  Outcome, set by the reader: mb_rc as sm_mb_link_read returns
	 * it (SM_OK, SM_E_TIMEOUT, SM_E_CRC, SM_E_EXCEPTION with mb_exc,
	 * SM_E_SYNTAX); a lost port (SM_E_IO) ends the session instead. */
	uint8_t mb_slave, mb_function;
	uint16_t mb_addr, mb_count;
	uint16_t *mb_dst;
	enum sm_err mb_rc;
	int mb_exc;
};

struct sm_proto {
	const char *name;          /* "dsmr", as in the config's Protocol */
	const char *description;
	struct sm_line line;       /* line defaults (SPEC.md section 2) */
	/* Line defaults that depend on the meter's other options (IEC 62056-21
	 * mode D pushes at 9600 7E1); NULL: line.  Called by the validator for
	 * settings the meter does not give explicitly. */
	void (*line_defaults)(const struct sm_meter_cfg *cfg, struct sm_line *out);
	int push;                  /* 1: the meter sends on its own */
	size_t state_size;
	/* Prepare a zeroed state for this meter.  SM_OK or SM_E_CONFIG (diag set). */
	enum sm_err (*init)(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag);
	/*
	 * Push bytes.  Returns SM_READINGS when *out holds the readings of one
	 * complete, verified frame (*used may be < n: call again with the rest),
	 * SM_NEED_MORE when all n bytes were consumed, or a negative code for
	 * a rejected frame or bad bytes (already resynchronised; info->diag
	 * says why).  The caller loops until all bytes are used.
	 */
	enum sm_err (*feed)(void *st, const uint8_t *in, size_t n, size_t *used,
			    struct sm_reading_set *out, struct sm_feed_info *info);
	/* The line went quiet, or the input ended: complete a pending frame
	 * that has no explicit end (SM_READINGS), or drop it (negative), or
	 * SM_NEED_MORE when nothing was pending.  More than one result may be
	 * pending (a cut frame and a good one behind it): the caller calls
	 * idle again until it returns SM_NEED_MORE. */
	enum sm_err (*idle)(void *st, struct sm_reading_set *out, struct sm_feed_info *info);
	/*
	 * Polled protocols only (NULL for push-only protocols).  A protocol
	 * may offer both: which one a meter uses follows from its
	 * configuration (sm_proto_is_polled; IEC 62056-21 mode D is push).
	 *
	 * poll_start begins one poll cycle of this meter and sets the first
	 * action.  poll_event reports the outcome of the last action and sets
	 * the next one:
	 *   after SEND/SET_LINE/WAIT: in = NULL, n = 0, timed_out = false;
	 *   after READ: the bytes that arrived (in, n; *used says how many the
	 *   session took, the rest is offered again with the next call), or
	 *   timed_out = true when ms passed without a byte.
	 *   after MODBUS: in = NULL, n = 0, timed_out = (act->mb_rc ==
	 *   SM_E_TIMEOUT); the outcome is in the action passed in (mb_rc,
	 *   mb_exc), which the call then overwrites with the next action.
	 * Returns SM_OK (next action set), SM_READINGS (out holds the readout;
	 * the action is DONE or more steps follow, e.g. a sign-off), or a
	 * negative code (counted and logged like a rejected frame, info->diag
	 * says why; SM_E_TIMEOUT when the meter did not answer).  After a
	 * negative code the poll is over when the action is DONE; otherwise it
	 * goes on (a Modbus meter's other requests after an exception reply).  The reader runs
	 * actions until DONE and starts the next poll after the meter's
	 * Interval; every poll starts from scratch (no state carried over
	 * besides the configuration).
	 */
	bool (*is_polled)(const struct sm_meter_cfg *cfg); /* for protocols with both; NULL: polled
							       whenever poll_start is set */
	enum sm_err (*poll_start)(void *st, struct sm_action *act);
	enum sm_err (*poll_event)(void *st, const uint8_t *in, size_t n, size_t *used, bool timed_out,
				  struct sm_action *act, struct sm_reading_set *out,
				  struct sm_feed_info *info);
	/* A polled meter that did not answer (SM_E_TIMEOUT) is backed off:
	 * polled again after 2, 4, 8 ... intervals (at most SM_POLL_BACKOFF_MAX
	 * intervals and SM_POLL_BACKOFF_MAX_S seconds) until it answers, so a
	 * dead unit on a bus costs its neighbours only a timeout (two on RTU) now
	 * and then.  false: polled every interval regardless. */
	bool backoff_dead;
	/* Uses the port's Modbus link (modbus_link.h) instead of a byte
	 * transport: every meter of such a port must have it. */
	bool modbus_link;
	/* Default Interval of a polled meter of this protocol (seconds); 0:
	 * SM_DEFAULT_POLL_S (config.h). */
	double poll_default_s;
	/* Forget partial input (after a reconnect). */
	void (*reset)(void *st);
	/* Release what init acquired (wipe keys).  May be NULL. */
	void (*fini)(void *st);
};

#define SM_POLL_BACKOFF_MAX 32
#define SM_POLL_BACKOFF_MAX_S 900

/* Whether this meter is polled (its protocol has poll_start and the meter's
 * configuration asks for polling, e.g. IEC 62056-21 modes A-C) or a push
 * meter (feed/idle). */
bool sm_proto_is_polled(const struct sm_meter_cfg *m);

/* Look a protocol up by name; NULL if unknown. */
const struct sm_proto *sm_proto_find(const char *name);
/* Comma-separated names of all protocols of this build, for messages. */
const char *sm_proto_names(void);
/* The table, NULL-terminated. */
extern const struct sm_proto *const sm_protocols[];

#endif
