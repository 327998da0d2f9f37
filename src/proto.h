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
	struct sm_diag diag;  /* text for a negative return code */
};

struct sm_proto {
	const char *name;          /* "dsmr", as in the config's Protocol */
	const char *description;
	struct sm_line line;       /* line defaults (SPEC.md section 2) */
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
	 * SM_NEED_MORE when nothing was pending. */
	enum sm_err (*idle)(void *st, struct sm_reading_set *out, struct sm_feed_info *info);
	/* Forget partial input (after a reconnect). */
	void (*reset)(void *st);
	/* Release what init acquired (wipe keys).  May be NULL. */
	void (*fini)(void *st);
};

/* Look a protocol up by name; NULL if unknown. */
const struct sm_proto *sm_proto_find(const char *name);
/* Comma-separated names of all protocols of this build, for messages. */
const char *sm_proto_names(void);
/* The table, NULL-terminated. */
extern const struct sm_proto *const sm_protocols[];

#endif
