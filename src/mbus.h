/*
 * mbus.h - wired M-Bus long frames carrying DLMS/COSEM (the Austrian
 * customer interface and other M-Bus push meters): a framer with the
 * checksum verified, DLMS segment reassembly, and encoders for tests and
 * the simulator.  Also declares the "dlms" protocol table entry
 * (proto_dlms.c), which puts these framers, HDLC (hdlc.h) and raw APDU
 * streams in front of decryption (gcm.h) and decoding (dlms.h).
 *
 * Long frame (EN 13757-2):  68 L L 68 C A CI <data> CS 16
 *   L  = bytes from C through the last data byte (3..255);
 *   CS = sum mod 256 of those same L bytes (crc.h sm_mbus_sum).
 * DLMS over M-Bus (IEC 62056-7-3 as EVN, TINETZ, Kaifa, Sagemcom send it):
 *   C = 53 (SND_UD, also 73 with the FCB bit), A = FF (broadcast),
 *   CI 0x00..0x1F: bit 0x10 = last segment, low nibble = segment counter
 *   (0 for the first segment, +1 per segment, modulo 16), then the
 *   transport SAPs (01 67 on every meter seen) and the APDU segment.
 *
 * Pure: no I/O, no clock, no logging, no allocation.  Every struct here is
 * used by one thread at a time; it holds fixed buffers (no pointers out).
 *
 * ------------------------------------------------------------------------
 * Framer
 *
 * Nothing on the wire is trusted before it is verified.  A frame start is a
 * "plausible header": 68 L L 68 with both L equal, then C = 53 or 73.  A
 * header with L >= 6 (C A CI + two SAPs + at least one APDU byte) is
 * checked at its end: the byte after the data must be CS and the next 16.
 * The field has two kinds of bogus headers:
 *   - L overflow: Sagemcom T210-D units of Netz NOe send 257 bytes of
 *     C..data under the header 68 01 01 68 (the length modulo 256); a
 *     header with L < 6 is tried as L + 256 (256..261 bytes), and accepted
 *     only when the checksum and the stop byte at that place verify
 *     (frame->overflow is set, f->overflows counts them);
 *   - otherwise an impossible L (68 00 00 68, 68 01 01 68 that do not
 *     verify as above) is rejected (SM_E_SYNTAX).
 * After any rejected candidate the framer resynchronises on the next
 * plausible header after the candidate's first byte: bytes it had taken
 * for the bad frame are scanned again, so a good frame hidden behind a
 * bogus header is still found.  Bytes that do not start a plausible
 * header are skipped silently (f->skipped).
 *
 * The framer copies only the bytes it needs into its window, so a call
 * never takes bytes beyond the end of the frame it returns; a frame's
 * data stays valid until the next feed, flush or reset.
 *
 *   sm_mbus_framer_init(&f);
 *   while (len) {
 *       rc = sm_mbus_framer_feed(&f, in, len, &used, &frame, &diag);
 *       in += used; len -= used;
 *       if (rc == SM_FRAME) use(frame);
 *       else if (rc < 0) count(rc);      // already resynchronised
 *   }                                    // SM_NEED_MORE: used == len
 *   on silence or end of input: until sm_mbus_framer_flush(&f, &frame, &diag)
 *   returns SM_NEED_MORE (it hands out frames still in the window first)
 *
 * feed returns:
 *   SM_FRAME        *frame is a verified long frame (any CI); *used may be
 *                   < len (call again with the rest, also with len 0 after a
 *                   negative code: the window may hold more).
 *   SM_NEED_MORE    all input taken, no complete frame in the window.
 *   SM_E_CHECKSUM   a frame whose stop byte is right but whose CS is not.
 *   SM_E_TRUNCATED  a plausible header whose frame has no 16 where its end
 *                   should be (bytes lost, or a new frame began early).
 *   SM_E_SYNTAX     a plausible header with an impossible L that does not
 *                   verify as an L overflow either.
 * flush (silence, end of input): hands out a complete frame still in the
 * window (as feed with no input would); otherwise a plausible header whose
 * frame will not complete now is rejected like a bad candidate (its first
 * byte dropped, the rest rescanned on the next call): SM_E_TRUNCATED, or
 * SM_E_SYNTAX for an impossible L; a shorter start is dropped silently;
 * SM_NEED_MORE when nothing is left.  Call it until SM_NEED_MORE.
 */
#ifndef SM_MBUS_H
#define SM_MBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dlms.h"
#include "err.h"
#include "frame.h"
#include "proto.h"

/* The protocol table entry "dlms" (proto_dlms.c): Framing "mbus" (default,
 * 2400 8E1), "hdlc" (2400 8N1) or "raw" (2400 8N1); see proto_dlms.c. */
extern const struct sm_proto sm_proto_dlms;

#define SM_MBUS_START 0x68
#define SM_MBUS_STOP 0x16
#define SM_MBUS_MIN_L 6          /* C A CI SAP SAP + one APDU byte */
#define SM_MBUS_MAX_L 255
#define SM_MBUS_OVERFLOW_MAX_L (SM_MBUS_MIN_L - 1 + 256) /* L + 256 for L < 6 */
/* Bytes of the largest frame on the wire: 4 header + body + CS + 16. */
#define SM_MBUS_WIN (4 + SM_MBUS_OVERFLOW_MAX_L + 2)
/* APDU bytes one segment carries at most (a regular frame, L = 255). */
#define SM_MBUS_MAX_SEGMENT (SM_MBUS_MAX_L - 5)

struct sm_mbus_frame {
	uint8_t c, a, ci;
	const uint8_t *data; /* after CI (the SAPs of a DLMS segment included) */
	size_t n;            /* L - 3, or L + 256 - 3 for an overflow frame */
	bool overflow;       /* its L was 256 short (T210-D), see above */
	size_t wire_len;     /* bytes on the wire, 68 .. 16 */
};

struct sm_mbus_framer {
	size_t len;          /* private: bytes in win */
	size_t drop;         /* private: bytes of the frame handed out last */
	uint64_t skipped;    /* bytes outside frames (statistics) */
	uint64_t overflows;  /* frames accepted as L + 256 (statistics) */
	uint8_t win[SM_MBUS_WIN];
};

void sm_mbus_framer_init(struct sm_mbus_framer *f);
void sm_mbus_framer_reset(struct sm_mbus_framer *f);
enum sm_err sm_mbus_framer_feed(struct sm_mbus_framer *f, const uint8_t *in, size_t len,
				size_t *used, struct sm_mbus_frame *frame, struct sm_diag *diag);
enum sm_err sm_mbus_framer_flush(struct sm_mbus_framer *f, struct sm_mbus_frame *frame,
				 struct sm_diag *diag);

/* ------------------------------------------------------------------------
 * DLMS over M-Bus: frames -> APDUs
 *
 * struct sm_mbus_dlms runs the framer and joins the APDU segments of the
 * frames with CI 0x00..0x1F (SAPs stripped).  An APDU is complete
 *   - when it is a general-glo-ciphering APDU (0xDB) and its BER length
 *     (sm_gcm_apdu_length) is reached, whatever the frame sizes; bytes of
 *     its segments beyond that length, and further segments up to the
 *     last one, are ignored (f->extra counts the bytes);
 *   - otherwise (a plain data-notification 0x0F, or anything else) at the
 *     segment with the last-segment bit.
 * Segment counters run 0, 1, .. 15, 0, ..: a counter 0 that follows 15 of
 * an APDU being collected (or skipped after an error) continues it; any
 * other counter 0 starts a new APDU.  After a rejected frame the APDU it
 * belonged to is dropped with that error and its further segments are
 * skipped silently.
 * A single-frame APDU (CI 0x10) is the same with one segment.  The APDU is
 * handed out as a struct sm_frame (check OK: every M-Bus checksum of it
 * verified); it stays valid until the next feed, flush or reset.
 *
 * feed returns SM_FRAME (*apdu complete), SM_NEED_MORE (all input taken),
 * a framer error (above), or:
 *   SM_E_TRUNCATED  a segment is missing: a first segment (counter 0)
 *                   arrived while an APDU was incomplete (the old one is
 *                   dropped, the new one kept), a counter other than the
 *                   next one arrived (the APDU is dropped and its later
 *                   segments skipped), a continuation arrived without its
 *                   first segment (only once the framer has seen a frame:
 *                   the tail of an APDU cut by starting to listen is
 *                   skipped silently), or the last segment arrived before
 *                   the 0xDB APDU's length was reached;
 *   SM_E_TOO_LONG   the APDU grew, or a 0xDB header announced, beyond
 *                   SM_DLMS_MAX_APDU bytes (dropped; segments skipped up to
 *                   the last one);
 *   SM_E_SYNTAX     a verified frame whose CI is not a DLMS segment (not
 *                   0x00..0x1F), a segment without its two SAP bytes, or
 *                   an APDU starting 0xDB whose header is malformed.
 * flush (silence, end of input): frames still in the framer's window are
 * processed first (a completed APDU is SM_FRAME); then a cut frame and an
 * incomplete APDU are dropped together as one SM_E_TRUNCATED; SM_NEED_MORE
 * when nothing was pending.  Call flush until it returns SM_NEED_MORE.
 */
struct sm_mbus_dlms {
	struct sm_mbus_framer framer;
	int state;           /* private */
	uint8_t expect;      /* private: the next segment counter */
	bool synced;         /* private: a verified frame has been seen */
	bool ready;          /* private: apdu[0..ready_n) waits to be handed out */
	size_t ready_n;      /* private */
	size_t len;          /* private: bytes in apdu */
	size_t total;        /* private: 0xDB length once known, else 0 */
	uint64_t extra;      /* segment bytes beyond a 0xDB APDU's length (statistics) */
	uint64_t other;      /* verified frames of other CIs (statistics) */
	uint8_t apdu[SM_DLMS_MAX_APDU];
};

void sm_mbus_dlms_init(struct sm_mbus_dlms *d);
void sm_mbus_dlms_reset(struct sm_mbus_dlms *d);
enum sm_err sm_mbus_dlms_feed(struct sm_mbus_dlms *d, const uint8_t *in, size_t len, size_t *used,
			      struct sm_frame *apdu, struct sm_diag *diag);
enum sm_err sm_mbus_dlms_flush(struct sm_mbus_dlms *d, struct sm_frame *apdu, struct sm_diag *diag);

/* ------------------------------------------------------------------------
 * Encoders (tests, fuzz corpus, simulator)
 */

/* One long frame 68 L L 68 c a ci data CS 16 (L = n + 3, n <= 252).
 * SM_OK and *outlen, SM_E_FULL (cap), SM_E_RANGE (n too large). */
enum sm_err sm_mbus_encode_frame(uint8_t c, uint8_t a, uint8_t ci, const uint8_t *data, size_t n,
				 uint8_t *out, size_t cap, size_t *outlen);

/*
 * An APDU cut into DLMS segments of at most seg_max bytes (1 ..
 * SM_MBUS_MAX_SEGMENT), each in a long frame 53 FF CI 01 67: CI = counter
 * (0, 1, ... modulo 16) | 0x10 on the last one.  n = 0 gives one empty
 * last segment.  SM_OK and *outlen, SM_E_FULL (cap), SM_E_RANGE (seg_max).
 */
enum sm_err sm_mbus_encode_apdu(const uint8_t *apdu, size_t n, size_t seg_max, uint8_t *out,
				size_t cap, size_t *outlen);

#endif
