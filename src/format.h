/*
 * format.h - the line sinks' formatting: JSON lines, influx line protocol,
 * and a human-readable table (SPEC.md section 8).  Pure: format into a
 * caller's struct sm_buf, never write; values are printed exactly from
 * raw*10^scale (no float step).  Text readings: JSON "text" key; influx
 * string field text="..."; in text format as the text.
 *
 * Each function appends one complete line ending in '\n' (the table: several
 * lines) or returns SM_E_FULL leaving the buffer unchanged.
 */
#ifndef SM_FORMAT_H
#define SM_FORMAT_H

#include <stdint.h>
#include "buf.h"
#include "err.h"
#include "reading.h"

enum sm_format { SM_FORMAT_JSON, SM_FORMAT_INFLUX, SM_FORMAT_TEXT };
/* "json" | "influx" | "text"; SM_E_USAGE for anything else. */
enum sm_err sm_format_parse(const char *s, enum sm_format *out);

/* {"time":T,"meter":"M","name":"N","obis":"O","unit":"U","value":V} or ..."text":"..."} */
enum sm_err sm_format_json(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			   const struct sm_reading *r, int64_t time_ms);
/* smartmeter,meter=M,name=N,obis=O,unit=U value=V T(ns)   (obis and unit tags omitted when "") */
enum sm_err sm_format_influx(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			     const struct sm_reading *r, int64_t time_ms);
/* One aligned row: name, value, unit, obis, time. */
enum sm_err sm_format_text_row(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			       const struct sm_reading *r, int64_t time_ms);
/* Append one reading in the chosen format. */
enum sm_err sm_format_reading(enum sm_format f, struct sm_buf *b, const char *meter,
			      const struct sm_reading_set *s, const struct sm_reading *r, int64_t time_ms);
/* Append a JSON string literal with escapes ("\u00XX" for controls). */
enum sm_err sm_json_string(struct sm_buf *b, const char *p, size_t n);

#endif
