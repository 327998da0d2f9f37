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
 */
enum sm_err sm_dlms_encode(const struct sm_reading_set *s, enum sm_dlms_layout layout, uint32_t invoke_id,
			   int utc_offset_min, uint8_t *out, size_t cap, size_t *outlen);

#endif
