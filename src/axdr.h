/*
 * axdr.h - A-XDR (IEC 61334-6 / DLMS COSEM "Data") reading and writing.
 *
 * Reading is a bounded pull iterator in the style of tinycbor: an iterator
 * stands on one element of a container (or of the top level) and knows its
 * type; scalars are read with checked getters, arrays (01) and structures
 * (02) are entered with sm_axdr_enter() and left with sm_axdr_leave();
 * sm_axdr_next() steps over the current element, a whole subtree included.
 *
 * The iterator borrows the bytes (they must outlive it) and never reads
 * outside [p, p+n) given to sm_axdr_init().  Every header is checked when
 * the iterator arrives on an element: the tag must be a known type, the BER
 * length must be well formed (one byte < 0x80, or 0x81..0x84 followed by 1..4
 * bytes; 0x80 and 0x85.. are errors), a string's bytes must lie within the
 * input, and a container's element count must not exceed the bytes left
 * (every element takes at least one byte) nor SM_AXDR_MAX_COUNT.  Nesting
 * deeper than SM_AXDR_MAX_DEPTH containers is an error, also while skipping.
 * Nothing here allocates, locks or logs; everything is thread-safe on
 * distinct iterators.
 *
 * Return codes (all functions returning enum sm_err):
 *   SM_OK           done
 *   SM_E_TRUNCATED  the input ends inside an element (a header, a fixed
 *                   size value, a string's bytes, a container's elements)
 *   SM_E_SYNTAX     an unknown tag, a malformed BER length, a count larger
 *                   than the input can hold or than SM_AXDR_MAX_COUNT, nesting
 *                   deeper than SM_AXDR_MAX_DEPTH, a getter called on the wrong
 *                   type, sm_axdr_next()/enter at the end of a container,
 *                   sm_axdr_leave() before the child has reached its end
 *   SM_E_RANGE      a getter's value does not fit the requested C type
 *                   (uint64 above INT64_MAX as int64, a negative value as
 *                   unsigned, a BCD byte with a nibble above 9)
 * After an error the iterator is unchanged (getters) or must not be used
 * further (navigation: next, enter, leave); the caller stops there.
 *
 * Writing (struct sm_axdr_w) appends elements to a caller-provided buffer;
 * the first write that does not fit sets a sticky overflow flag and nothing
 * more is written, so a sequence of puts needs one check at the end.
 */
#ifndef SM_AXDR_H
#define SM_AXDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* Type tags (DLMS "Data" CHOICE). */
enum sm_axdr_type {
	SM_AXDR_NULL = 0x00,
	SM_AXDR_ARRAY = 0x01,
	SM_AXDR_STRUCT = 0x02,
	SM_AXDR_BOOL = 0x03,
	SM_AXDR_BITSTRING = 0x04,
	SM_AXDR_INT32 = 0x05,
	SM_AXDR_UINT32 = 0x06,
	SM_AXDR_OCTETS = 0x09,
	SM_AXDR_VISIBLE = 0x0A,
	SM_AXDR_UTF8 = 0x0C,
	SM_AXDR_BCD = 0x0D,
	SM_AXDR_INT8 = 0x0F,
	SM_AXDR_INT16 = 0x10,
	SM_AXDR_UINT8 = 0x11,
	SM_AXDR_UINT16 = 0x12,
	SM_AXDR_INT64 = 0x14,
	SM_AXDR_UINT64 = 0x15,
	SM_AXDR_ENUM = 0x16,
	SM_AXDR_FLOAT32 = 0x17,
	SM_AXDR_FLOAT64 = 0x18,
	SM_AXDR_DATETIME = 0x19,
	SM_AXDR_DATE = 0x1A,
	SM_AXDR_TIME = 0x1B,
	SM_AXDR_END = 0x100, /* no element: the container (or the input) is done */
};
/* (compact-array 0x13 and the delta types are not supported: SM_E_SYNTAX) */

#define SM_AXDR_MAX_DEPTH 16      /* containers nested in containers */
#define SM_AXDR_MAX_COUNT 65535u  /* elements of one container */

struct sm_axdr_it {
	const uint8_t *p;   /* the current element's tag (at the end: where the
			       container's elements end) */
	const uint8_t *end; /* end of the input */
	uint32_t left;      /* elements left in this container, the current one
			       included (0 at the end) */
	uint8_t depth;      /* containers entered to get here (0: top level) */
	int type;           /* enum sm_axdr_type of the current element */
	const uint8_t *val; /* the current element's content (after tag and length) */
	uint32_t len;       /* strings: bytes; bit-string: bits; containers:
			       element count; fixed-size types: their size */
};

/*
 * Iterate over count consecutive elements at p[0..n) (count 1 for one DLMS
 * "Data" value).  The iterator stands on the first one (SM_AXDR_END when
 * count is 0).  Errors as listed above for that element's header.
 */
enum sm_err sm_axdr_init(struct sm_axdr_it *it, const uint8_t *p, size_t n, uint32_t count);

static inline int sm_axdr_type(const struct sm_axdr_it *it) { return it->type; }
static inline bool sm_axdr_at_end(const struct sm_axdr_it *it) { return it->type == SM_AXDR_END; }
static inline bool sm_axdr_is_container(const struct sm_axdr_it *it)
{
	return it->type == SM_AXDR_ARRAY || it->type == SM_AXDR_STRUCT;
}
/* Element count of the current array/structure, byte length of the current
 * string, bit count of a bit-string; the size of a fixed-size type. */
static inline uint32_t sm_axdr_len(const struct sm_axdr_it *it) { return it->len; }
/* Where the current element's tag is (at the end: where the elements end). */
static inline const uint8_t *sm_axdr_pos(const struct sm_axdr_it *it) { return it->p; }

/* Step over the current element (a whole container with everything in it)
 * to the next one, or to SM_AXDR_END. */
enum sm_err sm_axdr_next(struct sm_axdr_it *it);
/* The current element must be an array or a structure: child iterates over
 * its elements.  it is not moved (use sm_axdr_leave() afterwards). */
enum sm_err sm_axdr_enter(const struct sm_axdr_it *it, struct sm_axdr_it *child);
/* child (from sm_axdr_enter(it, child)) must be at its end: it moves past
 * the container to the next element. */
enum sm_err sm_axdr_leave(struct sm_axdr_it *it, const struct sm_axdr_it *child);

/* ---- checked getters: the type must match exactly (else SM_E_SYNTAX) ---- */
enum sm_err sm_axdr_get_i8(const struct sm_axdr_it *it, int8_t *v);
enum sm_err sm_axdr_get_u8(const struct sm_axdr_it *it, uint8_t *v);
enum sm_err sm_axdr_get_i16(const struct sm_axdr_it *it, int16_t *v);
enum sm_err sm_axdr_get_u16(const struct sm_axdr_it *it, uint16_t *v);
enum sm_err sm_axdr_get_i32(const struct sm_axdr_it *it, int32_t *v);
enum sm_err sm_axdr_get_u32(const struct sm_axdr_it *it, uint32_t *v);
enum sm_err sm_axdr_get_i64(const struct sm_axdr_it *it, int64_t *v);
enum sm_err sm_axdr_get_u64(const struct sm_axdr_it *it, uint64_t *v);
enum sm_err sm_axdr_get_enum(const struct sm_axdr_it *it, uint8_t *v);
enum sm_err sm_axdr_get_bool(const struct sm_axdr_it *it, bool *v);
enum sm_err sm_axdr_get_float32(const struct sm_axdr_it *it, float *v);
enum sm_err sm_axdr_get_float64(const struct sm_axdr_it *it, double *v);
/* BCD: one byte of two decimal digits (0x42 -> 42); a nibble > 9 is SM_E_RANGE. */
enum sm_err sm_axdr_get_bcd(const struct sm_axdr_it *it, uint8_t *v);

/* True for the integer types: int8..int64, uint8..uint64, enum, bool, bcd. */
bool sm_axdr_is_integer(const struct sm_axdr_it *it);
/* Any integer type as int64 (SM_E_RANGE: a uint64 above INT64_MAX or a bad
 * BCD byte) or as uint64 (SM_E_RANGE: a negative value). */
enum sm_err sm_axdr_get_int(const struct sm_axdr_it *it, int64_t *v);
enum sm_err sm_axdr_get_uint(const struct sm_axdr_it *it, uint64_t *v);

/* Borrow a string's bytes: octet-string, visible-string or utf8-string
 * (any of the three; *p points into the input, n bytes, not terminated). */
enum sm_err sm_axdr_get_bytes(const struct sm_axdr_it *it, const uint8_t **p, size_t *n);
/* Borrow a bit-string: *nbits bits in (*nbits + 7) / 8 bytes, the first bit
 * in the most significant bit of the first byte. */
enum sm_err sm_axdr_get_bits(const struct sm_axdr_it *it, const uint8_t **p, size_t *nbits);

/* ---- date and time (COSEM date-time, date, time) ---- */
#define SM_AXDR_DEVIATION_UNKNOWN INT16_MIN /* 0x8000 */

/*
 * A COSEM date-time: local civil time plus deviation.  Unspecified fields
 * hold their wire value (year 0xFFFF, others 0xFF); month 0xFD/0xFE (DST end
 * and begin) and day 0xFD/0xFE (second last / last day of the month) are
 * kept as sent.  deviation is UTC minus local time in minutes (the DLMS
 * convention: CEST is -120, i.e. UTC = local + deviation), or
 * SM_AXDR_DEVIATION_UNKNOWN.  clock_status bit 0x80: daylight saving active.
 */
struct sm_axdr_datetime {
	uint16_t year;
	uint8_t month, day, wday, hour, min, sec, hundredths;
	int16_t deviation;
	uint8_t clock_status;
};

/*
 * Parse the 12 bytes of a date-time (as carried in an octet-string or the
 * 0x19 type).  False when n != 12 or a field is outside its range (month
 * 1..12 or 0xFD..0xFF, day 1..31 or 0xFD..0xFF, weekday 1..7 or 0xFF, hour
 * 0..23, minute and second 0..59, hundredths 0..99, each or 0xFF;
 * deviation -720..720 or 0x8000): meter numbers in ASCII never pass.
 */
bool sm_axdr_datetime_parse(const uint8_t *p, size_t n, struct sm_axdr_datetime *dt);
/*
 * Unix ms (UTC) of a date-time: true only when year, month, day, hour,
 * minute and second are specified and valid and the deviation is known
 * (hundredths add their milliseconds when specified).
 */
bool sm_axdr_datetime_to_ms(const struct sm_axdr_datetime *dt, int64_t *ms);
/* The current element as a date-time: type 0x19, or an octet-string of 12
 * bytes that sm_axdr_datetime_parse() accepts (else SM_E_SYNTAX). */
enum sm_err sm_axdr_get_datetime(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt);
/* date (0x1A, 5 bytes: year month day weekday) and time (0x1B, 4 bytes:
 * hour minute second hundredths): the other fields of *dt are unspecified
 * (0xFF, deviation unknown).  SM_E_SYNTAX for another type or a bad field. */
enum sm_err sm_axdr_get_date(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt);
enum sm_err sm_axdr_get_time(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt);
/* The 12 wire bytes of a date-time. */
void sm_axdr_datetime_put(const struct sm_axdr_datetime *dt, uint8_t out[12]);
/* dt for unix ms at utc_offset_min east of UTC (deviation = -utc_offset_min,
 * weekday computed, hundredths from the milliseconds, clock status 0).
 * Years beyond 0..65535 do not fit the year field: the caller keeps times
 * within what it means to send. */
void sm_axdr_datetime_from_ms(int64_t unix_ms, int utc_offset_min, struct sm_axdr_datetime *dt);

/* ---- writer ---- */
struct sm_axdr_w {
	uint8_t *p;    /* caller's storage */
	size_t cap;
	size_t len;    /* bytes written */
	bool overflow; /* a write did not fit: len stays where it stopped */
};

void sm_axdr_w_init(struct sm_axdr_w *w, uint8_t *storage, size_t cap);
/* SM_OK, or SM_E_FULL once anything did not fit. */
static inline enum sm_err sm_axdr_w_status(const struct sm_axdr_w *w)
{
	return w->overflow ? SM_E_FULL : SM_OK;
}
void sm_axdr_put_raw(struct sm_axdr_w *w, const void *p, size_t n);
void sm_axdr_put_byte(struct sm_axdr_w *w, uint8_t b);
/* A BER length (1, 2, 3 or 5 bytes). */
void sm_axdr_put_len(struct sm_axdr_w *w, uint32_t n);
void sm_axdr_put_array(struct sm_axdr_w *w, uint32_t count);
void sm_axdr_put_struct(struct sm_axdr_w *w, uint32_t count);
void sm_axdr_put_null(struct sm_axdr_w *w);
void sm_axdr_put_bool(struct sm_axdr_w *w, bool v);
void sm_axdr_put_i8(struct sm_axdr_w *w, int8_t v);
void sm_axdr_put_u8(struct sm_axdr_w *w, uint8_t v);
void sm_axdr_put_i16(struct sm_axdr_w *w, int16_t v);
void sm_axdr_put_u16(struct sm_axdr_w *w, uint16_t v);
void sm_axdr_put_i32(struct sm_axdr_w *w, int32_t v);
void sm_axdr_put_u32(struct sm_axdr_w *w, uint32_t v);
void sm_axdr_put_i64(struct sm_axdr_w *w, int64_t v);
void sm_axdr_put_u64(struct sm_axdr_w *w, uint64_t v);
void sm_axdr_put_enum(struct sm_axdr_w *w, uint8_t v);
void sm_axdr_put_bcd(struct sm_axdr_w *w, uint8_t v); /* v 0..99 */
void sm_axdr_put_float32(struct sm_axdr_w *w, float v);
void sm_axdr_put_float64(struct sm_axdr_w *w, double v);
/* The smallest integer type that holds v: uint8/16/32/64 for v >= 0,
 * int8/16/32/64 below. */
void sm_axdr_put_int_min(struct sm_axdr_w *w, int64_t v);
/* String types 09, 0A, 0C: tag, BER length, bytes. */
void sm_axdr_put_string(struct sm_axdr_w *w, enum sm_axdr_type type, const void *p, size_t n);
void sm_axdr_put_bits(struct sm_axdr_w *w, const uint8_t *p, size_t nbits);
/* date-time as the 0x19 type, or as an octet-string of 12 bytes. */
void sm_axdr_put_datetime(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt, bool as_octets);
void sm_axdr_put_date(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt);
void sm_axdr_put_time(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt);

#endif
