/*
 * hdlc.h - DLMS/COSEM over HDLC (IEC 62056-46 frame format type 3, as the
 * Nordic HAN ports and other push meters send it): a framer with HCS and
 * FCS verified, segment joining, and an encoder for tests and the
 * simulator.
 *
 * Frame:  7E <format 2> <dest addr> <src addr> <control> [<HCS 2> <info>]
 *         <FCS 2> 7E
 *   format = 1010 S LLL LLLLLLLL: type A (0xA in the top nibble), S = 0x08
 *            in the first byte (more segments follow), 11-bit length =
 *            bytes between the flags (format through FCS);
 *   addresses: 1, 2 or 4 bytes each, the last byte of each has bit 0 set;
 *   HCS: over format..control, present when an information field follows;
 *   FCS: over format..end of information (or format..control without one);
 *   both CRC-16/X.25 (crc.h sm_crc16_x25), sent low byte first.
 * No byte stuffing: the length field delimits the frame.  The closing flag
 * may be the opening flag of the next frame.
 *
 * Pure: no I/O, no clock, no logging, no allocation.  One thread at a time.
 *
 * ------------------------------------------------------------------------
 * Framer and segment joining
 *
 * A frame start is 7E followed by A0..AF.  Once the header is in (format,
 * addresses, control; HCS when the length says an information field
 * follows) the HCS is checked before the rest of the frame is awaited, so
 * a damaged header costs no more than its own bytes.  A frame is accepted
 * when its FCS verifies and a 7E follows it.  After any rejected candidate
 * the framer resynchronises on the next 7E Ax after the candidate's flag
 * (bytes taken for it are scanned again).  Starts that cannot be a frame
 * (length below 7, an address longer than 4 bytes or reaching past the
 * length) are skipped silently (f->skipped), as are frames without an
 * information field (f->other).
 *
 * The information fields of a segmented message are joined: the first
 * segment is the one that begins with the LLC header (E6 E7 00, or E6 E6
 * 00; skipped), or, between messages (not after a frame with S set), with
 * an APDU tag (0x0F, 0xDB: meters without LLC); it must hold the whole LLC
 * header.  A frame with S set is
 * followed by more; the frame with S clear completes the APDU.  A
 * general-glo-ciphering APDU (0xDB) must then have reached its BER length
 * (sm_gcm_apdu_length; bytes beyond it are ignored and counted in
 * f->extra).  The APDU is handed out as a struct sm_frame (check OK: all
 * HCS and FCS verified) valid until the next feed, flush or reset.
 *
 *   sm_hdlc_init(&h);
 *   while (len) {
 *       rc = sm_hdlc_feed(&h, in, len, &used, &apdu, &diag);
 *       in += used; len -= used;
 *       if (rc == SM_FRAME) use(apdu);
 *       else if (rc < 0) count(rc);      // already resynchronised
 *   }                                    // SM_NEED_MORE: used == len
 *   on silence or end of input: call sm_hdlc_flush until SM_NEED_MORE.
 *
 * feed returns:
 *   SM_FRAME        *apdu is complete; *used may be < len (call again with
 *                   the rest, also with len 0 after a negative code).
 *   SM_NEED_MORE    all input taken.
 *   SM_E_CRC        HCS or FCS mismatch: the frame is dropped, and with it
 *                   an APDU it belonged to.
 *   SM_E_SYNTAX     a verified frame without its closing flag; or a first
 *                   segment whose APDU starts 0xDB with a malformed header.
 *   SM_E_TRUNCATED  a segment is missing: a new first segment (LLC header)
 *                   arrived while an APDU was incomplete (the old one is
 *                   dropped, the new one kept), a continuation arrived
 *                   without a first segment (after the framer has seen a
 *                   frame; the tail we start listening in is skipped
 *                   silently), or a 0xDB APDU ended short of its length.
 *   SM_E_TOO_LONG   the joined APDU grew (or a 0xDB header announced one)
 *                   beyond SM_DLMS_MAX_APDU bytes: dropped up to its last
 *                   segment.
 * flush (silence, end of input): frames still in the window are processed
 * first; then a cut frame and an incomplete APDU are dropped as one
 * SM_E_TRUNCATED; SM_NEED_MORE when nothing is left.
 */
#ifndef SM_HDLC_H
#define SM_HDLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dlms.h"
#include "err.h"
#include "frame.h"

#define SM_HDLC_FLAG 0x7E
#define SM_HDLC_MAX_LEN 2047  /* the 11-bit length field */
#define SM_HDLC_MIN_LEN 7     /* format 2, addresses 1 + 1, control, FCS 2 */
#define SM_HDLC_SEGMENT 0x08  /* S bit in the first format byte */
/* The largest frame on the wire: flag + length + closing flag. */
#define SM_HDLC_WIN (SM_HDLC_MAX_LEN + 2)

/* One verified frame (the framer's view, for tests and the fuzz target). */
struct sm_hdlc_frame {
	bool segmented;           /* S bit: more segments follow */
	uint8_t dest[4], src[4];  /* addresses as sent */
	uint8_t dest_n, src_n;
	uint8_t control;
	const uint8_t *info;      /* information field (NULL when none) */
	size_t info_n;
	size_t wire_len;          /* 7E .. FCS (the closing flag not counted) */
};

struct sm_hdlc {
	size_t len;          /* private: bytes in win */
	size_t drop;         /* private: bytes of the frame handed out last */
	int state;           /* private */
	bool synced;         /* private: a verified frame has been seen */
	bool ready;          /* private: apdu[0..ready_n) waits to be handed out */
	size_t ready_n;      /* private */
	size_t alen;         /* private: bytes in apdu */
	uint64_t skipped;    /* bytes outside frames (statistics) */
	uint64_t other;      /* verified frames without information (statistics) */
	uint64_t extra;      /* bytes beyond a 0xDB APDU's length (statistics) */
	uint8_t win[SM_HDLC_WIN];
	uint8_t apdu[SM_DLMS_MAX_APDU];
};

void sm_hdlc_init(struct sm_hdlc *h);
void sm_hdlc_reset(struct sm_hdlc *h);
enum sm_err sm_hdlc_feed(struct sm_hdlc *h, const uint8_t *in, size_t len, size_t *used,
			 struct sm_frame *apdu, struct sm_diag *diag);
enum sm_err sm_hdlc_flush(struct sm_hdlc *h, struct sm_frame *apdu, struct sm_diag *diag);

/*
 * The frame layer alone (tests, fuzzing): like sm_hdlc_feed but hands out
 * each verified frame with an information field (SM_FRAME, *frame set,
 * valid until the next call) instead of joining them; codes as above
 * (SM_E_CRC, SM_E_SYNTAX for a missing closing flag).  Do not mix with
 * sm_hdlc_feed on the same struct.  sm_hdlc_frame_flush: SM_FRAME for a
 * complete frame still in the window, SM_E_TRUNCATED for a cut one,
 * SM_NEED_MORE when the window is empty.
 */
enum sm_err sm_hdlc_frame_feed(struct sm_hdlc *h, const uint8_t *in, size_t len, size_t *used,
			       struct sm_hdlc_frame *frame, struct sm_diag *diag);
enum sm_err sm_hdlc_frame_flush(struct sm_hdlc *h, struct sm_hdlc_frame *frame, struct sm_diag *diag);

/* ------------------------------------------------------------------------
 * Encoders (tests, fuzz corpus, simulator)
 */

/*
 * One frame 7E format dest src control [HCS info] FCS 7E.  addr holds the
 * destination address followed by the source address, each 1, 2 or 4
 * bytes with bit 0 set on its last byte only (SM_E_SYNTAX otherwise);
 * info may be NULL when n is 0 (no information field, no HCS).
 * SM_OK and *outlen, SM_E_RANGE (frame longer than 2047), SM_E_FULL.
 */
enum sm_err sm_hdlc_encode_frame(bool segmented, const uint8_t *addr, size_t addr_n, uint8_t control,
				 const uint8_t *info, size_t n, uint8_t *out, size_t cap,
				 size_t *outlen);

/*
 * An APDU as a Nordic HAN meter pushes it: LLC header E6 E7 00 + APDU, cut
 * into information fields of at most seg_max bytes (1 .. 2000), UI frames
 * (control 0x13) to destination address 0x41 (one byte) from source
 * address 08 83 (two bytes), S set on all but the last.  SM_OK and
 * *outlen, SM_E_RANGE (seg_max), SM_E_FULL.
 */
enum sm_err sm_hdlc_encode_apdu(const uint8_t *apdu, size_t n, size_t seg_max, uint8_t *out,
				size_t cap, size_t *outlen);

#endif
