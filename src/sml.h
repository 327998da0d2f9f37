/*
 * sml.h - SML 1.04 (German push meters): transport framer, message decoder
 * and encoder.
 *
 * Transport: 1B1B1B1B 01010101 (version 1) or 1B1B1B1B 02020202 (version 2)
 * starts a file; inside, a literal 1B1B1B1B is sent twice; 1B1B1B1B 1A pp
 * c1 c2 ends it, pp = number of 00 fill bytes before the end (alignment to
 * 4 bytes), c1 c2 = CRC-16/X.25 over every byte from the first escape up to
 * and including pp, low byte first.  CRC-16/KERMIT sent high byte first (a
 * Holley meter) is accepted as a fallback and reported (f.kermit_last, and
 * counted in f.kermit).
 *
 * Framer (push parser, fixed buffers, no allocation, one per meter):
 *   sm_sml_framer_init(&f);
 *   while (len) {
 *       rc = sm_sml_framer_feed(&f, in, len, &used, &frame, &diag);
 *       in += used; len -= used;
 *       if (rc == SM_FRAME) sm_sml_decode(&frame, ...);
 *       else if (rc < 0) count(rc);      // already resynchronised
 *   }
 * feed returns:
 *   SM_FRAME       *frame is the unescaped payload of one verified file
 *                  (messages, fill bytes removed; check OK);
 *                  *used may be < len: call again with the rest.
 *   SM_NEED_MORE   all input consumed, no file yet.
 *   SM_E_CRC       file CRC matches neither X.25 nor KERMIT: dropped.
 *   SM_E_TOO_LONG  a file grew beyond SM_SML_MAX bytes: dropped, hunting.
 *   SM_E_TRUNCATED a new start sequence arrived inside a file: the old one
 *                  is dropped, the new one kept.
 *   SM_E_SYNTAX    an escape followed by an unknown command, or a bad fill
 *                  count: dropped, hunting.
 * Bytes outside files are skipped silently and counted in f.skipped.
 * frame->p points into the framer until its next feed/flush/reset.
 * flush (silence / end of input): a started file is dropped
 * (SM_E_TRUNCATED); SM_NEED_MORE if nothing was pending.
 */
#ifndef SM_SML_H
#define SM_SML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "reading.h"
#include "proto.h"

/* The protocol table entry "sml" (proto_sml.c). */
extern const struct sm_proto sm_proto_sml;

/* Cap of one file as sent (escapes included). */
#define SM_SML_MAX 8192

struct sm_sml_framer {
	int state;           /* private */
	unsigned match;      /* private: start-sequence bytes matched */
	bool esc;            /* private: last group was an escape */
	size_t len;          /* private: raw bytes in raw */
	size_t plen;         /* private: unescaped bytes in payload */
	uint64_t skipped;    /* bytes skipped outside files (statistics) */
	uint64_t kermit;     /* files accepted with the KERMIT fallback CRC */
	bool kermit_last;    /* the last SM_FRAME was verified by KERMIT */
	uint8_t raw[SM_SML_MAX];
	uint8_t payload[SM_SML_MAX];
};

void sm_sml_framer_init(struct sm_sml_framer *f);
void sm_sml_framer_reset(struct sm_sml_framer *f);
enum sm_err sm_sml_framer_feed(struct sm_sml_framer *f, const uint8_t *in, size_t len,
			       size_t *used, struct sm_frame *frame, struct sm_diag *diag);
enum sm_err sm_sml_framer_flush(struct sm_sml_framer *f, struct sm_diag *diag);

/*
 * Decode the payload of one file (as the framer delivers it) into readings.
 * Pure.  Walks the messages with a bounded TL iterator (multi-byte TL
 * fields, nested lists up to a fixed depth, optional fields "01", end of
 * message "00", fill bytes).  Each message's CRC (X.25, or KERMIT) is
 * checked; a mismatch is counted in *bad_lines and *bad_msg_crc (may be
 * NULL) but the message is still used, because the file CRC already
 * verified the bytes (eBZ meters send wrong message CRCs).  Every valList
 * entry of a GetList.Res becomes one reading: numbers as raw * 10^scaler in
 * the base unit of the DLMS unit code (unknown codes: unit OTHER
 * "dlms<code>", value kept), octet strings as text (printable ASCII as
 * sent, anything else as upper-case hex), valTime timestamps as the
 * reading's time, actSensorTime timestamp as the set's meter time.
 * Entries that cannot be parsed are skipped and counted in *bad_lines.
 * Returns SM_READINGS, SM_E_EMPTY (no reading), SM_E_SYNTAX (no message
 * could be parsed at all), SM_E_FULL (set full: the readings that fit are
 * returned as SM_READINGS, the rest counted).  Calls sm_set_finish().
 */
enum sm_err sm_sml_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			  unsigned *bad_lines, unsigned *bad_msg_crc, struct sm_diag *diag);

/*
 * Encoder, used by the simulator and tests.  Builds one SML file: start
 * sequence, Open.Res, GetList.Res (one valList entry per reading: numbers
 * with DLMS unit codes and scaler = the reading's scale, as the smallest
 * signed integer that holds raw unless opts say otherwise; text readings as
 * octet strings; readings with their own time get a valTime timestamp; a set
 * meter time becomes actSensorTime timestamp), Close.Res, each with its
 * message CRC, escaping of 1B1B1B1B, fill bytes, end sequence and file CRC.
 * opts may be NULL (defaults: all zero).
 * Returns SM_OK and *outlen, SM_E_FULL (cap too small), SM_E_RANGE (a unit
 * without a DLMS code, a time before 1970 or after 2106).
 */
struct sm_sml_enc_opts {
	const uint8_t *server_id; /* NULL: a fixed 10-byte id */
	size_t server_id_len;     /* at most 64 */
	uint32_t sec_index;       /* 0: actSensorTime absent unless the set has a meter time */
	unsigned value_width;     /* 0: smallest; 1..8: integer bytes (raw must fit) */
	bool unsigned_values;     /* non-negative raws as unsigned integers */
	bool kermit;              /* file CRC as KERMIT high byte first (Holley) */
	bool bad_msg_crc;         /* tests: corrupt the GetList.Res message CRC */
	bool version2;            /* start with 1B1B1B1B 02020202 */
};
enum sm_err sm_sml_encode(const struct sm_reading_set *s, const struct sm_sml_enc_opts *opts,
			  uint8_t *out, size_t cap, size_t *outlen);

#endif
