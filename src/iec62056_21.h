/*
 * iec62056_21.h - IEC 62056-21 (IEC 1107, "D0") readouts: identification
 * parsing, a framer for readouts and push (mode D) messages, the decoder,
 * and encoder helpers for the simulator and tests.  The sign-on session
 * (modes A, B, C) is iec_session.h; the protocol table entry
 * "iec62056-21" is proto_iec.c.
 *
 * Wire format (shared/notes/protocols.md section 2):
 *
 *   request         "/?" [address] "!" CR LF                  (host, 300 7E1)
 *   identification  "/" XXX Z ["\" W] ident CR LF              (meter)
 *   ACK             0x06 V Z Y CR LF                           (host, mode C)
 *   data message    STX data-lines "!" CR LF ETX BCC            (meter)
 *
 * BCC = XOR of every byte after STX up to and including ETX.  Push meters
 * (mode D) and some readouts send the data lines without STX/ETX/BCC:
 * "/ident CR LF data-lines ! CR LF".
 *
 * Everything here is pure: no I/O, no clock, no allocation, no globals.
 * Functions are thread-safe; a framer is used by one thread at a time.
 */
#ifndef SM_IEC62056_21_H
#define SM_IEC62056_21_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "proto.h"
#include "reading.h"

/* The protocol table entry "iec62056-21" (proto_iec.c). */
extern const struct sm_proto sm_proto_iec62056_21;

#define SM_IEC_STX 0x02
#define SM_IEC_ETX 0x03
#define SM_IEC_ACK 0x06
#define SM_IEC_NAK 0x15

/* ------------------------------------------------------------------ */
/* identification                                                      */
/* ------------------------------------------------------------------ */

#define SM_IEC_IDENT_MAX 64    /* identification text after Z [\W] */
#define SM_IEC_IDENT_LINE_MAX 128 /* a whole identification line incl. CR LF */
#define SM_IEC_ADDRESS_MAX 32 /* device address in a request */

struct sm_iec_ident {
	char manufacturer[4]; /* the three letters as sent ("ISk"), NUL-terminated */
	char baud_char;       /* Z as sent */
	int baud;             /* the speed Z offers: mode C/E digit '0'..'6' ->
				 300..19200, mode B letter 'A'..'F' -> 600..19200,
				 anything else 300 (mode A) */
	char mode;            /* 'C' (digit: modes C, D, E), 'B' (letter A-F),
				 'A' (anything else) */
	bool short_reaction;  /* third letter lower case: the meter answers within
				 20 ms (else 200 ms) */
	char enh;             /* W of an enhanced identification "\W" ('2' = mode E
				 capable), 0 when absent */
	char ident[SM_IEC_IDENT_MAX + 1]; /* the identification text, NUL-terminated */
};

/*
 * Parse an identification line p[0..n), without its CR LF (a trailing CR or
 * LF is tolerated and ignored): '/', three letters A-Z/a-z, the baud
 * character, an optional '\' + one byte, and 0..SM_IEC_IDENT_MAX bytes of
 * identification, all printable (0x20..0x7E) but not '/' or '!'.
 * Returns SM_OK and fills *out, or SM_E_SYNTAX (a request echo "/?...!",
 * too short, not letters, control bytes, too long).
 */
enum sm_err sm_iec_parse_ident(const char *p, size_t n, struct sm_iec_ident *out);

/* Mode C/E baud character for a speed: 300 -> '0', 600 -> '1', 1200 -> '2',
 * 2400 -> '3', 4800 -> '4', 9600 -> '5', 19200 -> '6'; 0 for any other
 * speed. */
char sm_iec_baud_char(int baud);
/* The speed a baud character stands for: '0'..'6' -> 300..19200 (mode C),
 * 'A'..'F' -> 600..19200 (mode B), anything else 300 (mode A). */
int sm_iec_baud_of_char(char z);
/* The highest standard speed (300..19200) that is <= max_baud and <= offer;
 * max_baud <= 0 means no cap.  Used for the mode C option select. */
int sm_iec_cap_baud(int offer, int max_baud);

/* ------------------------------------------------------------------ */
/* encoder helpers (simulator, tests, corpus)                          */
/* ------------------------------------------------------------------ */

/*
 * The host's request "/?" address "!" CR LF (address NULL or "" for none;
 * at most 32 printable bytes other than '/', '!', '(' and ')').
 * SM_OK and *outlen, SM_E_SYNTAX (bad address) or SM_E_FULL.
 */
enum sm_err sm_iec_encode_request(const char *address, uint8_t *out, size_t cap, size_t *outlen);

/* The mode C acknowledgement / option select 0x06 V Z Y CR LF (6 bytes):
 * v = '0' normal, z = baud char, y = '0' readout.  SM_OK or SM_E_FULL. */
enum sm_err sm_iec_encode_ack(char v, char z, char y, uint8_t *out, size_t cap, size_t *outlen);

/*
 * A meter's identification reply "/" XXX Z ["\" W] ident CR LF from *id
 * (manufacturer, baud_char, enh, ident; other fields ignored).
 * SM_OK and *outlen; SM_E_SYNTAX when a field would not parse back with
 * sm_iec_parse_ident; SM_E_FULL.
 */
enum sm_err sm_iec_encode_ident(const struct sm_iec_ident *id, uint8_t *out, size_t cap,
				size_t *outlen);

/*
 * A data message from raw data-line text lines[0..n) (sent verbatim, e.g.
 * a fixture's lines with their own line ends; the text may end without a
 * line end, as Siemens meters put the '!' right after the last data set):
 *   with_stx:  STX lines "!" CR LF ETX BCC     (BCC over lines .. ETX)
 *   otherwise: lines "!" CR LF                 (mode D, readouts without STX)
 * lines must not contain '!', STX, ETX (SM_E_SYNTAX).  SM_OK and *outlen,
 * or SM_E_FULL.
 */
enum sm_err sm_iec_encode_data(const char *lines, size_t n, bool with_stx, uint8_t *out,
			       size_t cap, size_t *outlen);

/* The BCC a data message carries: XOR of p[0..n) (give it the bytes after
 * STX through ETX). */
uint8_t sm_iec_bcc(const uint8_t *p, size_t n);

/*
 * Split a captured transcript (the bytes a host receives, as the fixture
 * .txt files hold them: maybe wake-up NULs or an echoed request "/?...!"
 * CR LF, the identification line, maybe an echoed ACK line, then the data
 * block with or without STX..ETX BCC) into its parts.  Starts at p[0] and
 * stops after the first message's end ("!" line end, plus ETX and BCC when
 * it began with STX); *next is the offset after it, so that a file of
 * several push messages is split by calling again at p + *next.
 *
 * The spans point into p.  data/data_n is the data-line text between STX
 * (or the identification and any ACK line) and the '!' (exclusive), exactly
 * as sm_iec_encode_data takes it.
 * Returns SM_OK or SM_E_SYNTAX (no identification line, or no '!' after
 * it).  A message that began with STX but has no ETX and BCC after its '!'
 * line is returned with has_bcc false.
 */
struct sm_iec_transcript {
	struct sm_iec_ident id;
	const uint8_t *ident_line; /* "/XXXZ..." without CR LF */
	size_t ident_n;
	const uint8_t *data;       /* data-line text */
	size_t data_n;
	bool has_stx;              /* the data block began with STX */
	bool has_bcc;              /* ETX and BCC followed the '!' line */
	uint8_t bcc_rx;            /* the BCC byte received (has_bcc) */
	bool bcc_ok;               /* bcc_rx matches the computed BCC (has_bcc) */
	size_t next;               /* offset after this message */
};
enum sm_err sm_iec_split_transcript(const uint8_t *p, size_t n, struct sm_iec_transcript *out);

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

/*
 * Push parser with the DSMR framer's shape (DESIGN.md section 3): a frame
 * runs from the '/' of an identification line to the end of its data
 * message.  Between the identification and the data it skips blank lines,
 * NULs and echoed ACK lines (0x06 ...); a line "/?...!" is an echoed
 * request and skipped.  The data block either starts with STX (then "!"
 * line end, ETX and the BCC byte follow, and the BCC is checked) or
 * directly with data lines (no check).  '!' outside "(...)" ends the data
 * lines, also right after a data set ("0.0(00010213)!").  A message
 * without STX is complete with the first byte after its "!" CR LF (or on
 * flush), because an ETX there means its STX was damaged on the way: such
 * a message is dropped (SM_E_BCC), as its BCC cannot be checked.
 *
 *   sm_iec_framer_init(&f, ignore_checksum);
 *   while (len) {
 *       rc = sm_iec_framer_feed(&f, in, len, &used, &frame, &diag);
 *       in += used; len -= used;
 *       if (rc == SM_FRAME) sm_iec_decode(&frame, ...);
 *       else if (rc < 0) count(rc);      // already resynchronised
 *   }                                    // SM_NEED_MORE: used == len
 *   on silence or end of input: rc = sm_iec_framer_flush(&f, &frame, &diag);
 *
 * feed returns:
 *   SM_FRAME       *frame is a complete message '/'..(ETX BCC): check OK
 *                  (BCC verified), ABSENT (no STX, or an STX block whose '!'
 *                  line was followed by a new '/' or other bytes instead of
 *                  ETX), or IGNORED (BCC wrong, accepted because
 *                  ignore_checksum).  *used may be < len: call again.
 *   SM_NEED_MORE   all input consumed, no frame yet.
 *   SM_E_BCC       BCC mismatch, or ETX and BCC after a message without
 *                  STX (a damaged STX); the message is dropped.
 *   SM_E_TOO_LONG  a message grew beyond SM_IEC_MAX, or an identification
 *                  line beyond SM_IEC_IDENT_LINE_MAX; dropped, waiting for '/'.
 *   SM_E_TRUNCATED a new '/' at a line start arrived before the end of the
 *                  message; the old one is dropped, the new one kept.
 *   SM_E_SYNTAX    a line starting with '/' that is no identification, or a
 *                  byte other than a line end, ETX or '/' after the '!' line
 *                  of a block that began with STX.
 * Bytes outside messages are skipped and counted in f.skipped.
 * frame->p points into the framer and stays valid until the next feed,
 * flush or reset; it holds the identification line and the data message.
 *
 * flush (silence or end of input): a message whose data lines ended with
 * '!' (waiting for its line end or an ETX) is completed (SM_FRAME, check
 * ABSENT); one that ended with ETX but no BCC byte is SM_E_TRUNCATED; a
 * message without STX that ended after a complete data line but without
 * '!' is handed out with frame->unterminated set (check ABSENT; the
 * decoder accepts it); anything else pending is SM_E_TRUNCATED;
 * SM_NEED_MORE if nothing was pending.
 */
#define SM_IEC_MAX 16384

struct sm_iec_framer {
	bool ignore_checksum;
	int state;          /* private */
	size_t len;         /* private: bytes in buf */
	size_t line_start;  /* private: index of the current line's start */
	bool stx;           /* private: the data block began with STX */
	bool in_paren;      /* private: inside "(...)" */
	uint8_t bcc;        /* private: running BCC */
	uint64_t skipped;   /* bytes skipped outside messages (statistics) */
	uint8_t buf[SM_IEC_MAX];
};

void sm_iec_framer_init(struct sm_iec_framer *f, bool ignore_checksum);
/* Whether a data block has begun (a byte of data lines, or STX, after the
 * identification): the sign-on session tells "no answer" from "cut off". */
bool sm_iec_framer_in_data(const struct sm_iec_framer *f);
/* Whether a message without STX has ended at its "!" line and waits only
 * for the next byte (ETX there means its STX was damaged: SM_E_BCC) or for
 * a flush: a reader need not wait long for it. */
bool sm_iec_framer_ends_soon(const struct sm_iec_framer *f);
void sm_iec_framer_reset(struct sm_iec_framer *f);
enum sm_err sm_iec_framer_feed(struct sm_iec_framer *f, const uint8_t *in, size_t len,
			       size_t *used, struct sm_frame *frame, struct sm_diag *diag);
enum sm_err sm_iec_framer_flush(struct sm_iec_framer *f, struct sm_frame *frame,
				struct sm_diag *diag);

/* ------------------------------------------------------------------ */
/* decoder                                                             */
/* ------------------------------------------------------------------ */

/*
 * Decode a message as the framer delivers it (identification line first)
 * into readings.  Pure.  Data sets are parsed with the shared OBIS text
 * parser (obis_text.h); several data sets per line are allowed, and text
 * after a data set starting with '#' is a comment.  Per data set:
 *   - an empty value "()" gives no reading (not bad); a value of blanks
 *     only "(        )" is an empty text reading (the meter sent the
 *     object, without a value);
 *   - objects whose digits are not amounts are text readings (blanks
 *     around them removed): 0.0.x device address / serial, C.1.x serial
 *     numbers, 96.1.x ids, 96.5.x status words, 0.2.x firmware and
 *     configuration ids, 0.9.x time and date, F.F / F.F.x / F error
 *     registers;
 *   - otherwise a number (with a unit or none) becomes a numeric reading
 *     in base units (kWh -> Wh exactly; "*C" is deg C); units are matched
 *     ignoring case when no exact match exists; a unit we do not know
 *     ("m3ph", "h", "Deg") is kept as text with the reading;
 *   - anything else becomes a text reading holding the value as sent
 *     (blanks around it removed);
 *   - value + timestamp groups "(02.468*kW)(1703100930)" (also
 *     "(timestamp)(value)"): the value is the reading; a timestamp group
 *     gives the reading its own time only when it carries its zone
 *     ("YYMMDDhhmmssS"/"...W"): IEC 62056-21 times "YYMMDDhhmm[ss]" are
 *     meter local time without a zone, so they are not used (the reading
 *     gets the set's time); further groups are ignored;
 *   - '&'-separated values in one group "9.4(088*C&082*C)": when every
 *     non-empty part is a number, each part is a reading of the same code,
 *     the first named as the code, part k (k >= 2) with "_vk" appended to
 *     its name ("obis_9_4", "obis_9_4_v2"); otherwise the whole group is
 *     one text reading ("2017-01-18&01:36:47").
 * Lines that cannot be parsed are skipped and counted in *bad_lines.
 * Returns SM_READINGS, SM_E_EMPTY (no reading at all), SM_E_SYNTAX (not a
 * message: no '/'), or SM_READINGS with the readings that fit when the set
 * fills up (the rest counted in *bad_lines, diag says so).
 * If id is not NULL it receives the parsed identification.
 */
enum sm_err sm_iec_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			  unsigned *bad_lines, struct sm_iec_ident *id, struct sm_diag *diag);

#endif
