/*
 * obis_text.h - the OBIS text data sets shared by DSMR P1 and IEC 62056-21:
 *
 *   1-0:1.8.1(001234.567*kWh)
 *   0-1:24.2.1(170102161005W)(00000.107*m3)       several value groups
 *   1-0:1.8.0*255(00052185.7825309*kWh)          billing-period suffix
 *   (00001.001)                                   a group without address
 *   0.0(        18438636)                         padded value, reduced code
 *
 * Pure, no allocation: the result points into the caller's bytes.
 */
#ifndef SM_OBIS_TEXT_H
#define SM_OBIS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "obis.h"
#include "reading.h"

#define SM_OT_MAX_GROUPS 64

struct sm_ot_group {
	const char *val;  /* text between '(' and '*' or ')' (may be empty) */
	size_t val_n;
	const char *unit; /* text after '*' up to ')', NULL when there was no '*' */
	size_t unit_n;
};

struct sm_ot_set {
	bool has_obis;          /* false for a bare "(...)" continuation */
	struct sm_obis obis;
	size_t ngroups;
	struct sm_ot_group g[SM_OT_MAX_GROUPS];
};

/*
 * Parse one data set at the start of p[0..n): an optional OBIS code followed
 * by one or more "(...)" groups.  Stops after the last ')' of the set (the
 * next byte is whatever follows: CR, LF, another address).  *used = bytes
 * consumed.  Groups longer than the input, a missing ')', '(' inside a group,
 * or more than SM_OT_MAX_GROUPS groups give SM_E_SYNTAX (SM_E_TOO_LONG for
 * too many groups).  Control characters inside a group are SM_E_SYNTAX.
 */
enum sm_err sm_ot_parse(const char *p, size_t n, size_t *used, struct sm_ot_set *out);

/*
 * Convert a group's value and unit to an exact reading value in base units:
 * "001234.567" "kWh" -> raw 1234567, scale 0, WH.  Blanks around the value
 * are ignored.  Unit OTHER when the unit text is unknown (text in *unit_text,
 * truncated to SM_UNIT_TEXT-1 bytes).  SM_E_SYNTAX if the value is not a
 * decimal; SM_E_RANGE if it does not fit.
 */
enum sm_err sm_ot_group_number(const struct sm_ot_group *g, int64_t *raw, int8_t *scale,
			       enum sm_unit *unit, char unit_text[SM_UNIT_TEXT]);

/*
 * A DSMR/IEC timestamp "YYMMDDhhmmssX" (X = 'S' summer time, UTC+2; 'W'
 * winter time, UTC+1) or "YYMMDDhhmmss" (no X: local time unknown, returns
 * false).  Year = 2000+YY.  False for anything invalid ("632525252525S").
 */
bool sm_ot_timestamp(const char *p, size_t n, int64_t *out_ms);

#endif
