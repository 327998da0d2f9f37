/*
 * reading.h - readings and reading sets: the values that leave a decoder.
 *
 * A numeric reading is exact: value = raw * 10^scale, with raw an int64 and
 * the unit already normalised to a base unit (kWh -> Wh is a scale change,
 * never a float step).  Conversion to double happens only in a sink.
 * A text reading (equipment ids, messages) carries bytes in the set's text
 * pool instead of a number.
 *
 * struct sm_reading_set is a value type of fixed size: decoders fill one the
 * caller provides, sinks may copy it.  No pointers inside (text is an offset
 * into the set's own pool), so a plain struct copy is a deep copy.
 * Nothing here allocates, locks or reads a clock.
 */
#ifndef SM_READING_H
#define SM_READING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "obis.h"
#include "buf.h"

#define SM_MAX_READINGS 512
#define SM_TEXT_POOL 16384
#define SM_UNIT_TEXT 8

struct sm_reading {
	struct sm_obis obis;
	char name[SM_NAME_LEN]; /* canonical name, set by sm_set_finish() */
	enum sm_kind kind;      /* set by sm_set_finish(); TEXT for text readings */
	enum sm_unit unit;
	char unit_text[SM_UNIT_TEXT]; /* the meter's unit text when unit == OTHER */
	int64_t raw;            /* numeric: value = raw * 10^scale */
	int8_t scale;
	bool is_text;
	uint16_t text_off;      /* text: bytes text_pool[text_off .. +text_len) */
	uint16_t text_len;
	int64_t time_ms;        /* the reading's own meter time (unix ms, UTC),
				   0 = none: use the set's time */
	bool fixed_name;        /* name was given by the decoder (Modbus register
				   maps): sm_set_finish keeps it */
};

struct sm_reading_set {
	size_t n;
	int64_t meter_time_ms;  /* the frame's meter time (unix ms, UTC), 0 = none */
	size_t text_used;
	struct sm_name_ctx names; /* M-Bus channel media for naming */
	struct sm_reading r[SM_MAX_READINGS];
	char text_pool[SM_TEXT_POOL];
};

/* Empty the set (n = 0, no time, empty pool, unknown media). */
void sm_set_clear(struct sm_reading_set *s);

/* Append a numeric reading; unit text used only when unit == OTHER (may be
 * NULL otherwise).  SM_E_FULL when the set is full. */
enum sm_err sm_set_add_number(struct sm_reading_set *s, const struct sm_obis *o,
			      int64_t raw, int8_t scale, enum sm_unit unit,
			      const char *unit_text, size_t unit_text_len, int64_t time_ms);
/* Append a numeric reading with a name of its own (Modbus registers): o may
 * be NULL for a reading without an OBIS code (obis.present == 0; it formats
 * as "").  name is truncated to SM_NAME_LEN - 1 bytes.  sm_set_finish keeps
 * the name and takes the kind from the unit.  SM_E_FULL when the set is full. */
enum sm_err sm_set_add_named(struct sm_reading_set *s, const char *name, const struct sm_obis *o,
			     int64_t raw, int8_t scale, enum sm_unit unit,
			     const char *unit_text, size_t unit_text_len, int64_t time_ms);
/* Append a text reading (bytes copied into the pool).  SM_E_FULL when the set
 * or the pool is full. */
enum sm_err sm_set_add_text(struct sm_reading_set *s, const struct sm_obis *o,
			    const char *text, size_t len, int64_t time_ms);
/* Text bytes of a text reading (not NUL-terminated; length r->text_len). */
static inline const char *sm_reading_text(const struct sm_reading_set *s, const struct sm_reading *r)
{
	return s->text_pool + r->text_off;
}
/* Give every reading its canonical name and kind (using s->names).  Call once
 * after a decoder has added everything. */
void sm_set_finish(struct sm_reading_set *s);
/* First reading with this canonical name, or NULL. */
const struct sm_reading *sm_set_find(const struct sm_reading_set *s, const char *name);
/* First reading with this OBIS code (sm_obis_eq), or NULL. */
const struct sm_reading *sm_set_find_obis(const struct sm_reading_set *s, const struct sm_obis *o);

/* ---- exact decimals ---- */
/*
 * Parse a meter's decimal text: optional leading/trailing blanks, optional
 * sign, digits with at most one '.', at most 18 significant digits (leading
 * zeros do not count).  "022803.012" -> raw 22803012, scale -3.
 * SM_E_SYNTAX for anything else (empty, letters, two dots); SM_E_RANGE if too
 * many digits.
 */
enum sm_err sm_decimal_parse(const char *p, size_t n, int64_t *raw, int8_t *scale);
/* raw*10^scale + exp10 applied exactly: returns the new (raw, scale) in place,
 * moving digits into raw while it fits (22803012e-3 with exp10 +3 -> 22803012e0).
 * SM_E_RANGE if the result cannot be represented. */
enum sm_err sm_decimal_rescale(int64_t *raw, int8_t *scale, int exp10);
/* Format exactly as a JSON number ("22803012", "-0.5", "230.1"): no exponent,
 * trailing fractional zeros removed.  SM_E_FULL if it does not fit. */
enum sm_err sm_decimal_format(struct sm_buf *b, int64_t raw, int8_t scale);
/* The value as a double (for collectd only). */
double sm_decimal_to_double(int64_t raw, int8_t scale);

/* ---- time ---- */
/*
 * Civil time to unix ms: year 1970..2099, month 1..12, day 1..days-in-month,
 * hour 0..23, min 0..59, sec 0..59 (60 is accepted as a leap second -> 59),
 * minus utc_offset_min (local = UTC + offset).  Returns false for an invalid
 * date (e.g. "632525252525": month 25).
 */
bool sm_civil_to_ms(int year, int month, int day, int hour, int min, int sec,
		    int utc_offset_min, int64_t *out_ms);
/* Civil time fields (proleptic Gregorian). */
struct sm_civil {
	int year, month, day, hour, min, sec;
};
/* Unix ms to the civil time at utc_offset_min east of UTC (the inverse of
 * sm_civil_to_ms; any int64 input, no range check). */
void sm_ms_to_civil(int64_t unix_ms, int utc_offset_min, struct sm_civil *out);
/*
 * Central European time as DSMR and most European meters keep it: CEST
 * (UTC+2, letter 'S') from the last Sunday of March 01:00 UTC to the last
 * Sunday of October 01:00 UTC, else CET (UTC+1, 'W').  Returns the offset
 * in minutes; *letter (may be NULL) gets 'S' or 'W'.
 */
int sm_cet_offset(int64_t unix_ms, char *letter);
/*
 * The time a reading is reported with: its own time, else the set's meter
 * time, else rx_ms.  A meter time is used only when plausible: when
 * window_ms > 0 it must lie within +-window_ms of rx_ms; window_ms == 0
 * accepts any meter time (offline decoding).
 */
int64_t sm_reading_time(const struct sm_reading_set *s, const struct sm_reading *r,
			int64_t rx_ms, int64_t window_ms);

#endif
