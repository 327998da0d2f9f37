/*
 * dsmr.h - DSMR P1 telegrams: framer, decoder and encoder; with a Key, the
 * Luxembourg Smarty frames around them (framer, open, seal: end of file).
 *
 * Telegram: "/XXXZ ident CR LF CR LF" + one COSEM object per line +
 * "!" [CRC 3..4 hex digits] CR LF.  CRC-16/ARC over '/' .. '!' inclusive.
 *
 * Framer (push parser, DESIGN.md section 3): struct sm_dsmr_framer holds a
 * fixed SM_DSMR_MAX buffer; no allocation.  Not thread-safe: one per meter.
 *
 *   sm_dsmr_framer_init(&f, ignore_checksum);
 *   while (len) {
 *       rc = sm_dsmr_framer_feed(&f, in, len, &used, &frame, &diag);
 *       in += used; len -= used;
 *       if (rc == SM_FRAME) decode(frame);
 *       else if (rc < 0) count(rc);      // already resynchronised
 *   }                                    // SM_NEED_MORE: used == len
 *   on silence or end of input: rc = sm_dsmr_framer_flush(&f, &frame, &diag);
 *
 * feed returns:
 *   SM_FRAME      *frame is a complete telegram '/'..'!'+CRC (CRC checked,
 *                 or absent for 2.2/3 telegrams ending "!" CR LF, or wrong and
 *                 accepted because ignore_checksum: frame->check says which);
 *                 *used may be < len: call again with the rest.
 *   SM_NEED_MORE  all input consumed, no frame yet.
 *   SM_E_CRC      CRC mismatch; the telegram is dropped.
 *   SM_E_TOO_LONG a telegram grew beyond SM_DSMR_MAX; dropped at its first byte
 *                 that does not fit (the same byte however the input is cut),
 *                 then waiting for '/'.
 *   SM_E_TRUNCATED a new '/' at a line start arrived before the '!' of the
 *                 previous telegram; the old one is dropped, the new one kept.
 *   SM_E_SYNTAX   bytes after '!' that are neither a CRC nor a line end.
 * Bytes outside telegrams (before '/') are skipped silently and counted in
 * f.skipped.  frame->p points into the framer and stays valid until the next
 * feed, flush or reset.
 * flush: a telegram that ended with "!" and is waiting for a possible CRC
 * or line end is completed (SM_FRAME, check ABSENT or OK for a CRC not
 * followed by CR LF); a telegram that ended after a complete line but has
 * no "!" line (some DSMR 2.2 meters never send one) is handed out as
 * SM_FRAME with frame->unterminated set and check ABSENT (the decoder
 * rejects it as SM_E_TRUNCATED unless it is a telegram of a version without
 * CRC); a telegram cut inside a line is dropped (SM_E_TRUNCATED);
 * SM_NEED_MORE if nothing was pending.
 */
#ifndef SM_DSMR_H
#define SM_DSMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "reading.h"
#include "proto.h"
#include "gcm.h"

/* The protocol table entry "dsmr" (proto_dsmr.c). */
extern const struct sm_proto sm_proto_dsmr;

#define SM_DSMR_MAX 8192

struct sm_dsmr_framer {
	bool ignore_checksum;
	int state;          /* private */
	size_t len;         /* private: bytes in buf */
	size_t bang;        /* private: index of '!' in buf */
	unsigned crc_digits;/* private */
	uint16_t crc_rx;    /* private */
	uint64_t skipped;   /* bytes skipped outside telegrams (statistics) */
	uint8_t buf[SM_DSMR_MAX];
};

void sm_dsmr_framer_init(struct sm_dsmr_framer *f, bool ignore_checksum);
void sm_dsmr_framer_reset(struct sm_dsmr_framer *f);
enum sm_err sm_dsmr_framer_feed(struct sm_dsmr_framer *f, const uint8_t *in, size_t len,
				size_t *used, struct sm_frame *frame, struct sm_diag *diag);
enum sm_err sm_dsmr_framer_flush(struct sm_dsmr_framer *f, struct sm_frame *frame,
				 struct sm_diag *diag);

/*
 * Decode a telegram (as the framer delivers it) into readings.  Pure.
 * Every object line becomes readings with exact values in base units:
 * numbers (with unit), text objects (equipment ids, hex text messages:
 * kept as sent), M-Bus channel values with their own timestamps (medium from
 * 0-n:24.1.0, DSMR 2.2/3 "24.3.0 ... (m3)" with the value on the next line,
 * Belgian 24.2.3), the power failure log (count as 1-0:99.97.0 and the latest
 * event's duration as 0-0:96.7.19 in s, timed at its end), Belgian and
 * Hungarian 98.1.0 buffers (Belgian: one 1-0:1.6.0 reading per entry with
 * F = 1..n in the order sent, timed at the peak; Hungarian: the 19 values of
 * the monthly block as 1.8.0 .. 2.6.2 with F = 1, timed at the block; see
 * dsmr.c), 0-0:1.0.0 as the set's meter time.  Lines that cannot be
 * parsed are skipped and counted in *bad_lines (an invalid timestamp costs
 * only that timestamp).  Telegrams that declare version >= 4.0 (1-3:0.2.8 or
 * 0-0:96.1.4) but have no CRC are rejected (SM_E_NO_CRC); an unterminated
 * frame (see flush) of such a version, or one that stops in the middle of a
 * DSMR 2.2/3 gas value, is rejected as SM_E_TRUNCATED.
 * Returns SM_READINGS, SM_E_EMPTY (no reading at all), SM_E_NO_CRC,
 * SM_E_TRUNCATED, or
 * SM_E_FULL (set full: the readings that fit are kept and returned anyway
 * as SM_READINGS with *bad_lines counting the rest).
 * out->names is filled from 24.1.0 lines and sm_set_finish() is called.
 */
enum sm_err sm_dsmr_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			   unsigned *bad_lines, struct sm_diag *diag);

/*
 * Encoder, used by the simulator and tests.  Writes a telegram with header
 * line "/header" CR LF CR LF, one line per reading in the set (numbers in the
 * given unit text with as many decimals as the scale needs, e.g. "kWh" from a
 * Wh reading with 3 decimals; text readings as given; readings with their own
 * time as "(YYMMDDhhmmssX)(value*unit)"), "!" and, when with_crc, the CRC as
 * 4 hex digits, CR LF.  A set with a meter time starts with a 0-0:1.0.0
 * line.  Times are written as Dutch local time (W = UTC+1, S = UTC+2 under
 * the EU summer time rule).  A NUL is written after the telegram, so cap
 * must exceed it by one byte.  Returns SM_OK and *outlen, SM_E_FULL (also
 * for a telegram longer than SM_DSMR_MAX from '/' to its CRC, which no
 * framer would take), or
 * SM_E_SYNTAX for a header or text that cannot be sent ('(', ')' or control
 * characters) or SM_E_RANGE for a time outside 2000..2099 or a value that
 * needs more than 18 digits in the unit written.
 */
enum sm_err sm_dsmr_encode(const struct sm_reading_set *s, const char *header, bool with_crc,
			   uint8_t *out, size_t cap, size_t *outlen);

/*
 * Rewrite a telegram for replay: set 0-0:1.0.0 (if present) to the given time
 * (local time with S/W as DSMR does, offset in minutes east of UTC and the
 * letter) and recompute the CRC if the telegram had one.  In place:
 * buf holds len bytes, capacity cap.  SM_OK / SM_E_SYNTAX / SM_E_FULL.
 */
enum sm_err sm_dsmr_restamp(uint8_t *buf, size_t len, size_t cap, size_t *newlen,
			    int64_t unix_ms, int utc_offset_min, char dst_letter);

/*
 * Luxembourg Smarty P1: with a Key, the meter sends each telegram inside a
 * DLMS general-glo-ciphering APDU (gcm.h) directly on the line, nothing
 * around it: DB 08 <system title> 82 <len 2> <SC> <FC 4> <ciphertext>
 * [<tag 12>].  The plaintext is an ordinary telegram ('/' .. '!' CRC CR LF).
 *
 * Framer (push parser like the plain one, fixed buffer, no allocation):
 * waits for 0xDB, accepts a header only when it is plausible (system-title
 * length 8, BER length 1..3 bytes and >= 5, security control 0x20, 0x21,
 * 0x30 or 0x31) and then collects exactly the bytes the length announces
 * (sm_gcm_apdu_length).  An implausible header is resynchronised by
 * scanning the bytes after its 0xDB for the next 0xDB; bytes skipped so
 * are counted in f.skipped.  feed returns:
 *   SM_FRAME      *frame is one ciphered APDU (not yet verified: check is
 *                 ABSENT; sm_smarty_open decrypts and verifies it);
 *                 *used may be < len: call again with the rest.
 *   SM_NEED_MORE  all input consumed, no APDU yet.
 *   SM_E_TOO_LONG a plausible header announced more than SM_SMARTY_MAX
 *                 bytes; skipped, resynchronising after its 0xDB.
 * flush (silence or end of input): an APDU whose header was complete but
 * whose body was cut is dropped (SM_E_TRUNCATED); a partial header is
 * dropped silently (counted in skipped); SM_NEED_MORE if nothing was
 * pending.  frame->p points into the framer until its next feed/reset.
 */
#define SM_SMARTY_MAX (SM_DSMR_MAX + 32) /* header 13 + SC/FC 5 + tag 12 + telegram */

struct sm_smarty_framer {
	size_t len;       /* private: bytes in buf */
	size_t need;      /* private: APDU length once the header is known, else 0 */
	uint64_t skipped; /* bytes skipped outside APDUs (statistics) */
	uint8_t buf[SM_SMARTY_MAX];
};

void sm_smarty_framer_init(struct sm_smarty_framer *f);
void sm_smarty_framer_reset(struct sm_smarty_framer *f);
enum sm_err sm_smarty_framer_feed(struct sm_smarty_framer *f, const uint8_t *in, size_t len,
				  size_t *used, struct sm_frame *frame, struct sm_diag *diag);
enum sm_err sm_smarty_framer_flush(struct sm_smarty_framer *f, struct sm_diag *diag);

/*
 * Decrypt one ciphered APDU (as the Smarty framer delivers it) into
 * plain[0..cap) and frame the telegram inside.  Pure (the gcm context is
 * the caller's).  Returns SM_FRAME with *telegram pointing into plain
 * ('/' .. '!' + CRC, as the plain framer delivers it) and *info set, or:
 *   the codes of sm_gcm_open (SM_E_AUTH: tag mismatch, e.g. a wrong Key
 *   or AuthKey; SM_E_TRUNCATED, SM_E_SYNTAX, SM_E_FULL);
 *   SM_E_NOT_APDU  the plaintext is not a DSMR telegram (does not start
 *                  with a printable "/..." line): "decrypted data is not a
 *                  DSMR telegram: check Key" (untagged frames: wrong Key);
 *   SM_E_TRUNCATED the telegram has no '!' line, or a second '/' line;
 *   SM_E_SYNTAX    1, 2 or more than 4 CRC digits, or bytes after the CRC
 *                  other than CR/LF;
 *   SM_E_CRC       wrong inner CRC in a frame without tag (SC 0x20/0x21)
 *                  and not ignore_checksum.
 * The inner CRC: right -> check OK; absent -> ABSENT (the decoder decides);
 * wrong in a frame whose GCM tag authenticated it -> accepted, check OK and
 * *diag says "inner CRC mismatch ... accepted: the GCM tag authenticated
 * the frame" (the only case where SM_FRAME comes with a diag text); wrong
 * in an untagged frame with ignore_checksum -> check IGNORED.  No diag
 * ever holds key bytes.
 */
enum sm_err sm_smarty_open(struct sm_gcm *g, const uint8_t *apdu, size_t n, bool ignore_checksum,
			   uint8_t *plain, size_t cap, struct sm_frame *telegram,
			   struct sm_gcm_info *info, struct sm_diag *diag);

/*
 * Encrypt a telegram the way a Smarty meter sends it (for the simulator and
 * tests): out receives the exact P1 bytes, the 0xDB APDU with security
 * control sc (0x30 as Smarty meters send, needs the AuthKey; 0x20/0x21:
 * no tag) and the shortest BER length (82 xx xx for every real telegram).
 * The telegram must start with '/' and hold at most SM_DSMR_MAX bytes.
 * SM_OK (*outlen), SM_E_SYNTAX (not a telegram, unsupported sc), SM_E_FULL,
 * SM_E_AUTH (0x3x without AuthKey); see sm_gcm_seal.
 */
enum sm_err sm_dsmr_seal_smarty(struct sm_gcm *g, const uint8_t system_title[8], uint32_t frame_counter,
				uint8_t sc, const uint8_t *telegram, size_t n, uint8_t *out, size_t cap,
				size_t *outlen);

#endif
