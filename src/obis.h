/*
 * obis.h - OBIS codes (IEC 62056-61): parse, format, and the canonical name,
 * kind and unit of a reading (SPEC.md section 6).  Pure, thread-safe, no
 * allocation.
 *
 * A code has six value groups A-B:C.D.E*F.  Texts may omit A-B ("1.8.0",
 * reduced IEC 62056-21 addresses), E, or F, and IEC 62056-21 allows letters in
 * groups (C.1.0, F.F, 0-0:C.51.2).  struct sm_obis remembers which groups were
 * present and which were letters, so formatting gives back what was meant.
 */
#ifndef SM_OBIS_H
#define SM_OBIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

enum { SM_OBIS_A, SM_OBIS_B, SM_OBIS_C, SM_OBIS_D, SM_OBIS_E, SM_OBIS_F };

struct sm_obis {
	uint8_t v[6];    /* group values; for a letter group, the ASCII letter */
	uint8_t present; /* bit i: group i was given (bits A,B,C,D always set
			    after sm_obis_parse of a full code) */
	uint8_t letter;  /* bit i: group i is a letter (v[i] holds it) */
};
#define SM_OBIS_BIT(g) (1u << (g))

/* Build a full numeric code A-B:C.D.E*F (all six present). */
struct sm_obis sm_obis_make(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f);
/* Build A-B:C.D.E (F absent, meaning "current value"). */
struct sm_obis sm_obis_make5(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e);

/*
 * Parse an OBIS code at the start of p[0..n).  Accepted forms:
 *   A-B:C.D.E*F  A-B:C.D.E  A-B:C.D  C.D.E*F  C.D.E  C.D   (also '&' for '*'
 *   is NOT accepted).  Groups are decimal 0..255 or one ASCII letter A-Z.
 *   Also accepted, as real meters send them: C.D*F ("6.26*01"), a lone
 *   letter address "F" (only C present), '.' before F ("1-0:31.7.0.255")
 *   and ':' between C and D after A-B: ("1-0:72:32.0").
 * On success returns SM_OK and sets *used to the number of bytes consumed
 * (parsing stops at the first byte that cannot continue the code, typically
 * '(').  SM_E_SYNTAX if no code starts at p; SM_E_RANGE if a group > 255.
 */
enum sm_err sm_obis_parse(const char *p, size_t n, size_t *used, struct sm_obis *out);

/* Codes are equal when the same groups are present with the same values
 * (letters included), except that an absent F equals F=255. */
bool sm_obis_eq(const struct sm_obis *x, const struct sm_obis *y);

/* "A-B:C.D.E" plus "*F" when F is present and not 255; groups not present are
 * left out as they were ("1.8.0").  Letters print as letters.  A code with
 * no group present at all (present == 0: a reading without OBIS code) gives "".  Always
 * NUL-terminates; needs at most SM_OBIS_STRLEN bytes. */
#define SM_OBIS_STRLEN 28
void sm_obis_format(const struct sm_obis *o, char *out, size_t cap);

/* ---- units ---- */
enum sm_unit {
	SM_UNIT_NONE = 0,
	SM_UNIT_WH, SM_UNIT_VARH, SM_UNIT_VAH,
	SM_UNIT_W, SM_UNIT_VAR, SM_UNIT_VA,
	SM_UNIT_V, SM_UNIT_A, SM_UNIT_HZ,
	SM_UNIT_M3, SM_UNIT_S, SM_UNIT_CELSIUS,
	SM_UNIT_OTHER, /* a unit we do not normalise; its text is kept in the reading */
};
/* "Wh", "varh", ..., "°C"; "" for NONE; "?" for OTHER (use the reading's text). */
const char *sm_unit_str(enum sm_unit u);
/*
 * Map a unit text as meters send it to a base unit and a decimal exponent:
 * "kWh" -> WH, +3; "MWh" -> WH, +6; "Wh" -> WH, 0; "kW" -> W, +3; "kvarh",
 * "kVAh", "kvar", "kVA" likewise; "V","A","Hz","s","m3" 0; "mA" -> A, -3;
 * "l" -> M3, -3; "dm3" -> M3, -3; "*C","°C","C" -> CELSIUS (only where the
 * caller means temperature: "C" is accepted); matching is case-insensitive
 * for the prefix k/K, M and exact for the rest; when nothing matches exactly,
 * the same table is tried ignoring ASCII case ("kwh", "v": some meters send
 * lower case; the prefix keeps its meaning, 'm' milli only for mA/mV);
 * "" or n==0 -> NONE, 0.
 * Unknown text -> OTHER, 0 (returns SM_OK: the caller keeps the text).
 */
enum sm_err sm_unit_parse(const char *p, size_t n, enum sm_unit *unit, int8_t *exp10);

/* ---- kinds (SPEC.md section 5: selects the collectd type) ---- */
enum sm_kind {
	SM_KIND_GAUGE = 0, /* collectd type "gauge" */
	SM_KIND_ENERGY,    /* "energy_wh": Wh, varh, VAh totals */
	SM_KIND_POWER,     /* "power": W, var, VA */
	SM_KIND_VOLTAGE,   /* "voltage" */
	SM_KIND_CURRENT,   /* "current" */
	SM_KIND_FREQUENCY, /* "frequency" */
	SM_KIND_COUNT,     /* "count": power failures, sags, swells */
	SM_KIND_TEXT,      /* not a number: never dispatched to collectd */
};
/* collectd type name of a kind ("gauge", "energy_wh", ...); NULL for TEXT. */
const char *sm_kind_collectd_type(enum sm_kind k);

/* ---- canonical names (SPEC.md section 6) ---- */
/* M-Bus medium of a channel, from 0-n:24.1.0 (device type). */
enum sm_medium { SM_MEDIUM_UNKNOWN = 0, SM_MEDIUM_GAS, SM_MEDIUM_WATER, SM_MEDIUM_HEAT };
/* Device type number (M-Bus EN 13757-3): 3 gas, 7 water (6 warm water also),
 * 4 heat (0x0C heat too); anything else UNKNOWN. */
enum sm_medium sm_medium_from_device_type(unsigned t);

/*
 * Context for naming M-Bus channel readings: media[n] is the medium of
 * channel n (1..4) as announced in the same frame, and medium_rank[n] is the
 * 1-based index of channel n among the channels with the same medium (so the
 * second gas meter gets "_ch2").  Zero-initialise when unknown.
 */
struct sm_name_ctx {
	enum sm_medium media[8];
	uint8_t medium_rank[8];
};

/*
 * Canonical name of a reading with code o (SPEC.md section 6), e.g.
 * "energy_import_t1", "power_net_l2", "voltage_sags_l1", "gas_volume",
 * "obis_0_0_96_1_1".  F other than 255 (or absent) adds "_fF".  The unit is
 * used only to tell M-Bus readings apart when the medium is unknown (m3 ->
 * gas_volume is NOT assumed: unknown medium gives obis_...).  Electricity
 * codes (A=1) are named for any B in 0..1; B>1 adds "_chB".
 * Always NUL-terminates; SM_NAME_LEN is enough for every name.
 */
#define SM_NAME_LEN 48
void sm_obis_name(const struct sm_obis *o, const struct sm_name_ctx *ctx, char *out, size_t cap);

/* Kind of a numeric reading: from the unit (energy/power/voltage/current/
 * frequency), COUNT for the event counters named in SPEC section 6
 * (power_failures, long_power_failures, voltage_sags_*, voltage_swells_*),
 * otherwise GAUGE. */
enum sm_kind sm_obis_kind(const struct sm_obis *o, enum sm_unit unit);

#endif
