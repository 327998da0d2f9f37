/*
 * dlms.h - DLMS/COSEM push data at the APDU level: the data-notification
 * APDU (tag 0x0F) decoded into readings, and an encoder for tests and the
 * simulator.  Pure: no I/O, no clock, no allocation.  Framing (M-Bus long
 * frames, HDLC, raw streams) and decryption (gcm.h) happen before.
 *
 * Data-notification: 0F <long-invoke-id-and-priority 4> <date-time: 0C +
 * 12 bytes, or 00> <notification body: one A-XDR value>.  The body is
 * walked with the A-XDR iterator (axdr.h); OBIS octet-strings (09 06 ...)
 * followed by a value and an optional {scaler, unit} structure become
 * readings wherever they stand (EVN/Sagemcom flat lists, Kaifa lists of
 * structures, other layouts), never by byte offsets.
 *
 * What the decoder makes of the elements (details at the top of dlms.c):
 *  - value = raw * 10^scaler in the base unit of the DLMS unit code (27 W,
 *    28 VA, 29 var, 30 Wh, 31 VAh, 32 varh, 33 A, 35 V, 44 Hz, 7 s, 9 degC,
 *    13/14 m3, 19 litre as m3 with scale -3; 0 and 255 no unit; other codes
 *    SM_UNIT_OTHER with their symbol, unknown ones "dlmsNNN"); no
 *    {scaler, unit}: scale 0, no unit.  Every integer type is exact;
 *    float32/float64 become the shortest decimal that reads back as the
 *    same float; NaN, infinities, nulls and uint64 above INT64_MAX are
 *    skipped (noted in diag).
 *  - strings: printable ASCII (or valid UTF-8 in a utf8-string) as text,
 *    other octet-strings as upper-case hex; date-time/date/time values as
 *    ISO 8601 text.
 *  - meter time: the notification's date-time, else a clock object
 *    0-0:1.0.0 in the body (not a reading), else the first date-time that
 *    stands without an OBIS.  The DLMS deviation is UTC minus local time in
 *    minutes (CEST -120): UTC = local + deviation; 0x8000 (unknown) or
 *    unspecified fields give no meter time.
 *  - the printable string without an OBIS that ends the EVN flat list (the
 *    meter number, 1..32 bytes) becomes the text reading 0-0:96.1.0*255,
 *    unless the body carries its own 0-0:96.1.0*255.
 * Thread-safe (no state); out is the caller's.
 */
#ifndef SM_DLMS_H
#define SM_DLMS_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "frame.h"
#include "reading.h"

#define SM_DLMS_MAX_APDU 4096

/*
 * Decode a plaintext APDU.  SM_READINGS (out filled, sm_set_finish done,
 * out->meter_time_ms from the notification's or the body's date-time when
 * valid, with its deviation applied), SM_E_NOT_APDU (the first byte is not
 * a data-notification: e.g. a wrong key), SM_E_SYNTAX / SM_E_TRUNCATED
 * (malformed A-XDR; diag says where), SM_E_EMPTY (no reading found).
 * On any error out is left empty (n == 0): no value of a malformed APDU
 * leaves it.  With SM_READINGS diag may still carry a note (values skipped,
 * more readings than a set holds -- the first SM_MAX_READINGS are kept --,
 * bytes after the body, which are ignored); otherwise it is untouched.
 * apdu may be NULL when n == 0.
 */
enum sm_err sm_dlms_decode(const uint8_t *apdu, size_t n, struct sm_reading_set *out,
			   struct sm_diag *diag);

enum sm_dlms_layout {
	SM_DLMS_FLAT,       /* EVN/Sagemcom: one structure: date-time, then
			       [09 06 obis, value, 02 02 {0F scaler, 16 unit}]..., meter number */
	SM_DLMS_STRUCTS,    /* Kaifa: structure of structures {obis, value[, {scaler, unit}]} */
};

/*
 * Encode the numeric and text readings of s as a data-notification (for the
 * simulator and round trips): invoke id, s->meter_time_ms as the date-time
 * (deviation utc_offset_min), values with the smallest integer type that
 * fits raw, scaler = the reading's scale, DLMS unit codes for the base
 * units.  SM_OK, SM_E_FULL, SM_E_RANGE (a scale outside int8 or a unit
 * without a DLMS code).
 *
 * The header date-time is local time at utc_offset_min east of UTC
 * (-720..720, else SM_E_RANGE) with deviation -utc_offset_min, clock status
 * 00; meter_time_ms 0 sends 00 (no date-time); a meter time before 1970 or
 * after 9999 is SM_E_RANGE.  Layouts:
 *   FLAT     02 N [date-time octet-string] then obis, value, {scaler, unit}
 *            per number and obis, text per text; the set's only
 *            0-0:96.1.0*255, when printable and 1..32 bytes, goes last
 *            without OBIS (as EVN sends the meter number);
 *   STRUCTS  02 N [02 02 {0-0:1.0.0, date-time}] then 02 03 {obis, value,
 *            {scaler, unit}} per number and 02 02 {obis, text} per text.
 * Texts of printable ASCII are octet-strings, others utf8-strings.  OBIS
 * codes need groups A..E numeric and present (F absent = 255), else
 * SM_E_RANGE; units OTHER need a symbol of the decoder's table or
 * "dlmsNNN".  Per-reading times are not sent.  *outlen = 0 on error.
 */
enum sm_err sm_dlms_encode(const struct sm_reading_set *s, enum sm_dlms_layout layout, uint32_t invoke_id,
			   int utc_offset_min, uint8_t *out, size_t cap, size_t *outlen);


/*
 * DLMS unit codes (IEC 62056-62), shared with SML (sml.c).
 * sm_dlms_unit_from_code: the base unit and decimal exponent of a code
 * (19 litre -> M3, -3); *text is the symbol for codes kept as OTHER (NULL
 * otherwise).  false for a code not in the table (the caller keeps it as
 * OTHER "dlms<code>").  0 and 255 are NONE.
 * sm_dlms_unit_to_code: the code for a reading's unit (NONE -> 255; OTHER by
 * its symbol or "dlms<code>"); SM_OK or SM_E_RANGE.
 */
bool sm_dlms_unit_from_code(uint8_t code, enum sm_unit *unit, int8_t *exp10, const char **text);
enum sm_err sm_dlms_unit_to_code(const struct sm_reading *r, uint8_t *code);

#endif
