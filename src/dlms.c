/*
 * dlms.c - DLMS/COSEM data-notification decoder and encoder.  The contract
 * is dlms.h; wire facts in shared/notes/protocols.md section 6.
 *
 * The notification body is walked with the A-XDR iterator (axdr.h).  In
 * every container, elements are read left to right:
 *
 *   octet-string of 6 bytes (an OBIS code), then a scalar value, then
 *   optionally a structure {integer scaler, enum unit}  -> one reading
 *   any other array or structure                        -> walked the same way
 *   anything else                                       -> skipped (see below)
 *
 * so the EVN/Sagemcom flat list, the Kaifa list of structures and any other
 * arrangement of the same elements decode alike.  An OBIS followed by a
 * container or by nothing is not a reading (the container is walked).
 *
 * Decisions (the documentation describes them):
 *  - Meter time: the notification's date-time, else the date-time value of
 *    a clock object 0-0:1.0.0 in the body, else the first date-time (a
 *    12-byte octet-string that is a valid COSEM date-time, or the 0x19 type)
 *    that stands without an OBIS (the EVN flat list starts with one).  The
 *    clock object is not a reading.  DLMS deviation is UTC minus local
 *    time in minutes (CEST = -120): UTC = local + deviation.  A date-time
 *    with deviation 0x8000 (unknown) or unspecified fields gives no meter
 *    time (the reader then uses the receive time).
 *  - The string without an OBIS that ends the EVN flat list (the meter
 *    number) becomes a text reading 0-0:96.1.0*255 (COSEM "device ID 1"),
 *    unless the body has its own 0-0:96.1.0*255: the first such printable
 *    string of 1..32 bytes is taken (also one of 6 bytes that stands last
 *    in its container, where it cannot be an OBIS with a value); other
 *    unnamed values are skipped.
 *  - Text: octet-, visible- and utf8-strings whose bytes are printable
 *    ASCII (utf8: valid UTF-8 without control characters) are kept as they
 *    are; other octet-strings become upper-case hex.  A value that is a
 *    COSEM date-time (or date, or time) becomes ISO 8601 text
 *    ("2021-07-19T15:46:35+02:00", without the offset when it is unknown).
 *  - Numbers: every integer type (int8..int64, uint8..uint64, enum, bool,
 *    BCD) exactly; a uint64 above INT64_MAX is skipped.  Bit-strings of at
 *    most 63 bits are numbers (the first bit most significant), longer ones
 *    hex text.  float32/float64 are converted to the shortest decimal that
 *    reads back as the same float (230.1f -> 2301e-1, never 230.100006):
 *    the digits the float holds, no more; NaN and infinities are skipped.
 *  - Scaler and unit: value = raw * 10^scaler in the unit's base unit (the
 *    scaler becomes the reading's decimal scale).  DLMS unit codes: 27 W,
 *    28 VA, 29 var, 30 Wh, 31 VAh, 32 varh, 33 A, 35 V, 44 Hz, 7 s,
 *    9 degree Celsius, 13 m3 and 14 corrected m3 -> m3, 19 litre -> m3
 *    with scale -3; 0 and 255 -> no unit; other known codes keep their
 *    symbol as unit text (OTHER: "h", "min", "%", "K", "kg", "Ah", ...);
 *    unknown codes -> OTHER "dlmsNNN".  Without a {scaler, unit} structure
 *    the value has scale 0 and no unit.
 *  - M-Bus device types 0-n:24.1.0 name the channel's medium (as in DSMR).
 *  - Malformed A-XDR anywhere (an unknown tag, a bad length, a count the
 *    input cannot hold, nesting deeper than SM_AXDR_MAX_DEPTH) rejects the
 *    whole APDU: no reading leaves it.  Bytes after the body are ignored
 *    (diag notes them).  Values skipped for their content (out of range,
 *    NaN, null) and a full set are noted in diag with SM_READINGS.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"
#include "dlms.h"
#include "obis.h"
#include "reading.h"

#define APDU_DATA_NOTIFICATION 0x0F
#define ORPHAN_TEXT_MAX 32

/* ------------------------------------------------------------------ */
/* units                                                               */
/* ------------------------------------------------------------------ */

struct unit_map {
	uint8_t code;
	enum sm_unit unit;
	int8_t exp10;
	const char *text; /* OTHER: the symbol (at most SM_UNIT_TEXT - 1 bytes) */
};

static const struct unit_map unit_table[] = {
	{ 0, SM_UNIT_NONE, 0, NULL },
	{ 1, SM_UNIT_OTHER, 0, "a" },
	{ 2, SM_UNIT_OTHER, 0, "mo" },
	{ 3, SM_UNIT_OTHER, 0, "wk" },
	{ 4, SM_UNIT_OTHER, 0, "d" },
	{ 5, SM_UNIT_OTHER, 0, "h" },
	{ 6, SM_UNIT_OTHER, 0, "min" },
	{ 7, SM_UNIT_S, 0, NULL },
	{ 8, SM_UNIT_OTHER, 0, "deg" },
	{ 9, SM_UNIT_CELSIUS, 0, NULL },
	{ 10, SM_UNIT_OTHER, 0, "cur" },
	{ 11, SM_UNIT_OTHER, 0, "m" },
	{ 12, SM_UNIT_OTHER, 0, "m/s" },
	{ 13, SM_UNIT_M3, 0, NULL },
	{ 14, SM_UNIT_M3, 0, NULL },
	{ 15, SM_UNIT_OTHER, 0, "m3/h" },
	{ 16, SM_UNIT_OTHER, 0, "m3/h" },
	{ 17, SM_UNIT_OTHER, 0, "m3/d" },
	{ 18, SM_UNIT_OTHER, 0, "m3/d" },
	{ 19, SM_UNIT_M3, -3, NULL },
	{ 20, SM_UNIT_OTHER, 0, "kg" },
	{ 21, SM_UNIT_OTHER, 0, "N" },
	{ 22, SM_UNIT_OTHER, 0, "Nm" },
	{ 23, SM_UNIT_OTHER, 0, "Pa" },
	{ 24, SM_UNIT_OTHER, 0, "bar" },
	{ 25, SM_UNIT_OTHER, 0, "J" },
	{ 26, SM_UNIT_OTHER, 0, "J/h" },
	{ 27, SM_UNIT_W, 0, NULL },
	{ 28, SM_UNIT_VA, 0, NULL },
	{ 29, SM_UNIT_VAR, 0, NULL },
	{ 30, SM_UNIT_WH, 0, NULL },
	{ 31, SM_UNIT_VAH, 0, NULL },
	{ 32, SM_UNIT_VARH, 0, NULL },
	{ 33, SM_UNIT_A, 0, NULL },
	{ 34, SM_UNIT_OTHER, 0, "As" },
	{ 35, SM_UNIT_V, 0, NULL },
	{ 36, SM_UNIT_OTHER, 0, "V/m" },
	{ 37, SM_UNIT_OTHER, 0, "F" },
	{ 38, SM_UNIT_OTHER, 0, "Ohm" },
	{ 39, SM_UNIT_OTHER, 0, "Ohmm" },
	{ 40, SM_UNIT_OTHER, 0, "Wb" },
	{ 41, SM_UNIT_OTHER, 0, "T" },
	{ 42, SM_UNIT_OTHER, 0, "A/m" },
	{ 43, SM_UNIT_OTHER, 0, "H" },
	{ 44, SM_UNIT_HZ, 0, NULL },
	{ 45, SM_UNIT_OTHER, 0, "1/Wh" },
	{ 46, SM_UNIT_OTHER, 0, "1/varh" },
	{ 47, SM_UNIT_OTHER, 0, "1/VAh" },
	{ 48, SM_UNIT_OTHER, 0, "V2h" },
	{ 49, SM_UNIT_OTHER, 0, "A2h" },
	{ 50, SM_UNIT_OTHER, 0, "kg/s" },
	{ 51, SM_UNIT_OTHER, 0, "1/Ohm" },
	{ 52, SM_UNIT_OTHER, 0, "K" },
	{ 53, SM_UNIT_OTHER, 0, "1/V2h" },
	{ 54, SM_UNIT_OTHER, 0, "1/A2h" },
	{ 55, SM_UNIT_OTHER, 0, "1/m3" },
	{ 56, SM_UNIT_OTHER, 0, "%" },
	{ 57, SM_UNIT_OTHER, 0, "Ah" },
	{ 60, SM_UNIT_OTHER, 0, "Wh/m3" },
	{ 61, SM_UNIT_OTHER, 0, "J/m3" },
	{ 62, SM_UNIT_OTHER, 0, "mol%" },
	{ 63, SM_UNIT_OTHER, 0, "g/m3" },
	{ 64, SM_UNIT_OTHER, 0, "Pa s" },
	{ 65, SM_UNIT_OTHER, 0, "J/kg" },
	{ 70, SM_UNIT_OTHER, 0, "dBm" },
	{ 254, SM_UNIT_OTHER, 0, "other" },
	{ 255, SM_UNIT_NONE, 0, NULL },
};

static const struct unit_map *unit_by_code(uint8_t code)
{
	for (size_t i = 0; i < sizeof unit_table / sizeof unit_table[0]; i++)
		if (unit_table[i].code == code)
			return &unit_table[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* decoder                                                             */
/* ------------------------------------------------------------------ */

struct dec {
	struct sm_reading_set *out;
	bool full;
	unsigned skipped;
	char why[96];      /* the first skipped value and the reason */
	bool have_clock;   /* a 0-0:1.0.0 date-time */
	int64_t clock_ms;
	bool have_bare;    /* a date-time without OBIS */
	int64_t bare_ms;
	bool have_orphan;  /* a printable string without OBIS */
	const uint8_t *orphan;
	size_t orphan_n;
	bool saw_id;       /* the body names its own 0-0:96.1.0 */
};

static void skip_note(struct dec *d, const struct sm_obis *o, const char *why)
{
	if (d->skipped++ == 0) {
		char code[SM_OBIS_STRLEN];
		sm_obis_format(o, code, sizeof code);
		snprintf(d->why, sizeof d->why, "%s: %s", code, why);
	}
}

static void add_rc(struct dec *d, enum sm_err rc)
{
	if (rc == SM_E_FULL)
		d->full = true;
}

static bool obis_is(const struct sm_obis *o, int a, int b, int c, int dd, int e)
{
	return o->v[SM_OBIS_A] == a && (b < 0 || o->v[SM_OBIS_B] == b) && o->v[SM_OBIS_C] == c &&
	       o->v[SM_OBIS_D] == dd && o->v[SM_OBIS_E] == e;
}

static bool is_obis(const struct sm_axdr_it *it)
{
	return sm_axdr_type(it) == SM_AXDR_OCTETS && sm_axdr_len(it) == 6;
}

static struct sm_obis obis_at(const struct sm_axdr_it *it)
{
	const uint8_t *p = it->val;
	return sm_obis_make(p[0], p[1], p[2], p[3], p[4], p[5]);
}

/* A structure {integer scaler in int8 range, enum (or unsigned) unit}. */
static bool scaler_unit(const struct sm_axdr_it *it, int8_t *scaler, uint8_t *unit)
{
	if (sm_axdr_type(it) != SM_AXDR_STRUCT || sm_axdr_len(it) != 2)
		return false;
	struct sm_axdr_it c;
	int64_t s;
	uint64_t u;
	if (sm_axdr_enter(it, &c) != SM_OK || !sm_axdr_is_integer(&c) ||
	    sm_axdr_type(&c) == SM_AXDR_BOOL || sm_axdr_get_int(&c, &s) != SM_OK || s < INT8_MIN ||
	    s > INT8_MAX || sm_axdr_next(&c) != SM_OK)
		return false;
	if (sm_axdr_type(&c) != SM_AXDR_ENUM && sm_axdr_type(&c) != SM_AXDR_UINT8)
		return false;
	if (sm_axdr_get_uint(&c, &u) != SM_OK || sm_axdr_next(&c) != SM_OK || !sm_axdr_at_end(&c))
		return false;
	*scaler = (int8_t)s;
	*unit = (uint8_t)u;
	return true;
}

static bool printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7E)
			return false;
	return true;
}

/* Valid UTF-8 (no overlongs, no surrogates) without C0 controls or DEL. */
static bool utf8_text(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = p[i];
		if (b < 0x80) {
			if (b < 0x20 || b == 0x7F)
				return false;
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (b >= 0xC2 && b <= 0xDF) {
			k = 1;
			cp = b & 0x1Fu;
		} else if (b >= 0xE0 && b <= 0xEF) {
			k = 2;
			cp = b & 0x0Fu;
		} else if (b >= 0xF0 && b <= 0xF4) {
			k = 3;
			cp = b & 0x07u;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3Fu);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		i += k + 1;
	}
	return true;
}

static enum sm_err add_hex(struct dec *d, const struct sm_obis *o, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sm_reading_set *s = d->out;
	if (s->text_used > SM_TEXT_POOL || n > (SM_TEXT_POOL - s->text_used) / 2 || 2 * n > UINT16_MAX)
		return SM_E_FULL;
	/* an empty text reading, then its hex digits written straight into
	 * the pool behind it */
	enum sm_err rc = sm_set_add_text(s, o, "", 0, 0);
	if (rc != SM_OK)
		return rc;
	struct sm_reading *r = &s->r[s->n - 1];
	char *dst = s->text_pool + s->text_used;
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hex[p[i] >> 4];
		dst[2 * i + 1] = hex[p[i] & 0x0F];
	}
	r->text_len = (uint16_t)(2 * n);
	s->text_used += 2 * n;
	return SM_OK;
}

/* ISO 8601 text of a date-time, date or time. */
static size_t format_dt(const struct sm_axdr_datetime *dt, int type, char *out, size_t cap)
{
	int n = 0;
	bool date = type != SM_AXDR_TIME, time = type != SM_AXDR_DATE;
	if (date) {
		char y[8] = "????", m[4] = "??", dd[4] = "??";
		if (dt->year != 0xFFFF)
			snprintf(y, sizeof y, "%04u", dt->year);
		if (dt->month >= 1 && dt->month <= 12)
			snprintf(m, sizeof m, "%02u", dt->month);
		if (dt->day >= 1 && dt->day <= 31)
			snprintf(dd, sizeof dd, "%02u", dt->day);
		n = snprintf(out, cap, "%s-%s-%s", y, m, dd);
	}
	if (time && n >= 0 && (size_t)n < cap) {
		char h[4] = "??", mi[4] = "??", s[4] = "??";
		if (dt->hour <= 23)
			snprintf(h, sizeof h, "%02u", dt->hour);
		if (dt->min <= 59)
			snprintf(mi, sizeof mi, "%02u", dt->min);
		if (dt->sec <= 59)
			snprintf(s, sizeof s, "%02u", dt->sec);
		n += snprintf(out + n, cap - (size_t)n, "%s%s:%s:%s", date ? "T" : "", h, mi, s);
	}
	if (type != SM_AXDR_DATE && type != SM_AXDR_TIME && n >= 0 && (size_t)n < cap &&
	    dt->deviation != SM_AXDR_DEVIATION_UNKNOWN) {
		int off = -dt->deviation;
		char sign = off < 0 ? '-' : '+';
		if (off < 0)
			off = -off;
		n += snprintf(out + n, cap - (size_t)n, "%c%02d:%02d", sign, off / 60, off % 60);
	}
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/*
 * The shortest decimal digits m * 10^e that read back as v (as a float when
 * single): what the float holds, without invented digits.  Parsing only
 * "DDDDeN" text (no decimal point) keeps it independent of the locale.
 */
static bool float_decimal(double v, bool single, int64_t *raw, int *exp10)
{
	if (!isfinite(v))
		return false;
	if (v == 0) {
		*raw = 0;
		*exp10 = 0;
		return true;
	}
	int maxp = single ? 9 : 17;
	for (int prec = 1; prec <= maxp; prec++) {
		char buf[48];
		int len = snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
		if (len <= 0 || (size_t)len >= sizeof buf)
			return false;
		const char *q = buf;
		bool neg = false;
		if (*q == '-') {
			neg = true;
			q++;
		}
		int64_t m = 0;
		int nd = 0;
		while (*q != '\0' && *q != 'e' && *q != 'E') {
			if (*q >= '0' && *q <= '9') {
				m = m * 10 + (*q - '0');
				nd++;
			}
			q++;
		}
		if (*q == '\0' || nd == 0)
			return false;
		q++;
		int es = 1, e = 0;
		if (*q == '-') {
			es = -1;
			q++;
		} else if (*q == '+') {
			q++;
		}
		while (*q >= '0' && *q <= '9' && e < 10000)
			e = e * 10 + (*q++ - '0');
		int ex = es * e - (nd - 1);
		char back[48];
		snprintf(back, sizeof back, "%s%llde%d", neg ? "-" : "", (long long)m, ex);
		double r = single ? (double)strtof(back, NULL) : strtod(back, NULL);
		if (r != v)
			continue;
		while (m != 0 && m % 10 == 0) {
			m /= 10;
			ex++;
		}
		*raw = neg ? -m : m;
		*exp10 = ex;
		return true;
	}
	return false;
}

static void add_number(struct dec *d, const struct sm_obis *o, int64_t raw, int exp10, bool su,
		       int8_t scaler, uint8_t unit_code)
{
	enum sm_unit unit = SM_UNIT_NONE;
	const char *text = NULL;
	char buf[SM_UNIT_TEXT];
	int scale = exp10;
	if (su) {
		const struct unit_map *u = unit_by_code(unit_code);
		if (u != NULL) {
			unit = u->unit;
			text = u->text;
			scale += u->exp10;
		} else {
			unit = SM_UNIT_OTHER;
			snprintf(buf, sizeof buf, "dlms%u", unit_code);
			text = buf;
		}
		scale += scaler;
	}
	int64_t r = raw;
	int8_t sc = 0;
	if (scale < INT8_MIN || scale > INT8_MAX) {
		/* move digits in or out of raw if that makes it fit */
		if (sm_decimal_rescale(&r, &sc, scale) != SM_OK) {
			skip_note(d, o, "value out of range after scaling");
			return;
		}
	} else {
		sc = (int8_t)scale;
	}
	enum sm_err rc = sm_set_add_number(d->out, o, r, sc, unit, text, text ? strlen(text) : 0, 0);
	add_rc(d, rc);
	/* an M-Bus device type names the channel's medium (whole numbers only) */
	if (rc == SM_OK && obis_is(o, 0, -1, 24, 1, 0) && o->v[SM_OBIS_B] >= 1 &&
	    o->v[SM_OBIS_B] <= 7 && sc == 0 && r >= 0)
		d->out->names.media[o->v[SM_OBIS_B]] = sm_medium_from_device_type((unsigned)r);
}

static void add_dt_text(struct dec *d, const struct sm_obis *o, const struct sm_axdr_datetime *dt,
			int type)
{
	char t[40];
	size_t n = format_dt(dt, type, t, sizeof t);
	add_rc(d, sm_set_add_text(d->out, o, t, n, 0));
}

/* One OBIS with its value (val) and optional scaler/unit. */
static void add_value(struct dec *d, const struct sm_obis *o, const struct sm_axdr_it *val, bool su,
		      int8_t scaler, uint8_t unit)
{
	struct sm_axdr_datetime dt;
	int type = sm_axdr_type(val);

	if (obis_is(o, 0, 0, 1, 0, 0)) {
		/* the clock object: the meter time, not a reading */
		int64_t ms;
		if (sm_axdr_get_datetime(val, &dt) == SM_OK) {
			if (!d->have_clock && sm_axdr_datetime_to_ms(&dt, &ms)) {
				d->have_clock = true;
				d->clock_ms = ms;
			}
			return;
		}
	}
	if (obis_is(o, 0, 0, 96, 1, 0) && o->v[SM_OBIS_F] == 255)
		d->saw_id = true;

	if (sm_axdr_is_integer(val)) {
		int64_t v;
		if (sm_axdr_get_int(val, &v) != SM_OK) {
			skip_note(d, o, type == SM_AXDR_BCD ? "invalid BCD" : "uint64 above int64 range");
			return;
		}
		add_number(d, o, v, 0, su, scaler, unit);
		return;
	}
	switch (type) {
	case SM_AXDR_FLOAT32:
	case SM_AXDR_FLOAT64: {
		double f;
		if (type == SM_AXDR_FLOAT32) {
			float f32;
			(void)sm_axdr_get_float32(val, &f32);
			f = f32;
		} else {
			(void)sm_axdr_get_float64(val, &f);
		}
		int64_t raw;
		int ex;
		if (!float_decimal(f, type == SM_AXDR_FLOAT32, &raw, &ex)) {
			skip_note(d, o, "float is not a finite number");
			return;
		}
		add_number(d, o, raw, ex, su, scaler, unit);
		return;
	}
	case SM_AXDR_OCTETS:
	case SM_AXDR_VISIBLE:
	case SM_AXDR_UTF8: {
		const uint8_t *p;
		size_t n;
		(void)sm_axdr_get_bytes(val, &p, &n);
		if (type == SM_AXDR_OCTETS && sm_axdr_datetime_parse(p, n, &dt)) {
			add_dt_text(d, o, &dt, SM_AXDR_DATETIME);
			return;
		}
		if (printable(p, n) || (type == SM_AXDR_UTF8 && utf8_text(p, n)))
			add_rc(d, sm_set_add_text(d->out, o, (const char *)p, n, 0));
		else
			add_rc(d, add_hex(d, o, p, n));
		return;
	}
	case SM_AXDR_BITSTRING: {
		const uint8_t *p;
		size_t bits;
		(void)sm_axdr_get_bits(val, &p, &bits);
		if (bits <= 63) {
			uint64_t v = 0;
			for (size_t i = 0; i < bits; i++)
				v = (v << 1) | ((p[i / 8] >> (7 - i % 8)) & 1u);
			add_number(d, o, (int64_t)v, 0, su, scaler, unit);
		} else {
			add_rc(d, add_hex(d, o, p, (bits + 7) / 8));
		}
		return;
	}
	case SM_AXDR_DATETIME:
		if (sm_axdr_get_datetime(val, &dt) == SM_OK)
			add_dt_text(d, o, &dt, SM_AXDR_DATETIME);
		else
			skip_note(d, o, "invalid date-time");
		return;
	case SM_AXDR_DATE:
		if (sm_axdr_get_date(val, &dt) == SM_OK)
			add_dt_text(d, o, &dt, SM_AXDR_DATE);
		else
			skip_note(d, o, "invalid date");
		return;
	case SM_AXDR_TIME:
		if (sm_axdr_get_time(val, &dt) == SM_OK)
			add_dt_text(d, o, &dt, SM_AXDR_TIME);
		else
			skip_note(d, o, "invalid time");
		return;
	case SM_AXDR_NULL:
	default:
		skip_note(d, o, "no value (null)");
		return;
	}
}

/* A scalar that stands without an OBIS. */
static void orphan(struct dec *d, const struct sm_axdr_it *it)
{
	struct sm_axdr_datetime dt;
	int64_t ms;
	if (sm_axdr_get_datetime(it, &dt) == SM_OK) {
		if (!d->have_bare && sm_axdr_datetime_to_ms(&dt, &ms)) {
			d->have_bare = true;
			d->bare_ms = ms;
		}
		return;
	}
	const uint8_t *p;
	size_t n;
	if (!d->have_orphan && sm_axdr_get_bytes(it, &p, &n) == SM_OK && n >= 1 &&
	    n <= ORPHAN_TEXT_MAX && printable(p, n)) {
		d->have_orphan = true;
		d->orphan = p;
		d->orphan_n = n;
	}
}

/* Walk the elements of one container (or the top level). */
static enum sm_err walk(struct dec *d, struct sm_axdr_it *it)
{
	enum sm_err rc;
	while (!sm_axdr_at_end(it)) {
		if (is_obis(it)) {
			struct sm_obis o = obis_at(it);
			struct sm_axdr_it cand = *it;
			if ((rc = sm_axdr_next(it)) != SM_OK)
				return rc;
			if (sm_axdr_at_end(it)) {
				/* six bytes last in their container: a short meter
				 * number rather than a code without a value */
				orphan(d, &cand);
				continue;
			}
			if (sm_axdr_is_container(it))
				continue; /* no scalar value: walk on */
			struct sm_axdr_it val = *it;
			if ((rc = sm_axdr_next(it)) != SM_OK)
				return rc;
			int8_t scaler = 0;
			uint8_t unit = 255;
			bool su = scaler_unit(it, &scaler, &unit);
			if (su && (rc = sm_axdr_next(it)) != SM_OK)
				return rc;
			add_value(d, &o, &val, su, scaler, unit);
			continue;
		}
		if (sm_axdr_is_container(it)) {
			struct sm_axdr_it child;
			if ((rc = sm_axdr_enter(it, &child)) != SM_OK)
				return rc;
			if ((rc = walk(d, &child)) != SM_OK)
				return rc;
			if ((rc = sm_axdr_leave(it, &child)) != SM_OK)
				return rc;
			continue;
		}
		orphan(d, it);
		if ((rc = sm_axdr_next(it)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

/* Channel n's rank among channels of the same medium. */
static void fill_ranks(struct sm_name_ctx *nc)
{
	for (size_t n = 1; n < 8; n++) {
		nc->medium_rank[n] = 0;
		if (nc->media[n] == SM_MEDIUM_UNKNOWN)
			continue;
		uint8_t rank = 0;
		for (size_t m = 1; m <= n; m++)
			if (nc->media[m] == nc->media[n])
				rank++;
		nc->medium_rank[n] = rank;
	}
}

static const char *where(enum sm_err rc)
{
	return rc == SM_E_TRUNCATED ? "ends inside an element" : "is malformed";
}

enum sm_err sm_dlms_decode(const uint8_t *apdu, size_t n, struct sm_reading_set *out,
			   struct sm_diag *diag)
{
	sm_set_clear(out);
	if (n == 0 || apdu == NULL || apdu[0] != APDU_DATA_NOTIFICATION) {
		sm_diag_set(diag, "not a data-notification APDU (first byte %s%02X, expected 0F)",
			    n ? "" : "missing: ", n ? apdu[0] : 0);
		return SM_E_NOT_APDU;
	}
	if (n < 6) {
		sm_diag_set(diag, "data-notification truncated in its header (%zu bytes)", n);
		return SM_E_TRUNCATED;
	}
	size_t off = 5; /* tag + long-invoke-id-and-priority */
	bool have_note_dt = false;
	int64_t note_ms = 0;
	if (apdu[off] == 0x0C) {
		if (n - off - 1 < 12) {
			sm_diag_set(diag, "data-notification truncated in its date-time");
			return SM_E_TRUNCATED;
		}
		struct sm_axdr_datetime dt;
		if (sm_axdr_datetime_parse(apdu + off + 1, 12, &dt) &&
		    sm_axdr_datetime_to_ms(&dt, &note_ms))
			have_note_dt = true;
		off += 13;
	} else if (apdu[off] == 0x00) {
		off += 1;
	} else {
		sm_diag_set(diag, "data-notification date-time: byte %02X at offset %zu is neither "
			    "00 (absent) nor 0C (12 bytes)", apdu[off], off);
		return SM_E_SYNTAX;
	}

	struct dec d;
	memset(&d, 0, sizeof d);
	d.out = out;
	struct sm_axdr_it it;
	enum sm_err rc = sm_axdr_init(&it, apdu + off, n - off, 1);
	if (rc == SM_OK)
		rc = walk(&d, &it);
	if (rc != SM_OK) {
		/* the deepest position reached is not tracked: say where the body starts */
		sm_diag_set(diag, "notification body (offset %zu) %s: %s", off, where(rc),
			    sm_strerror(rc));
		sm_set_clear(out);
		return rc;
	}
	size_t trailing = (size_t)(apdu + n - sm_axdr_pos(&it));

	if (d.have_orphan && !d.saw_id) {
		struct sm_obis id = sm_obis_make(0, 0, 96, 1, 0, 255);
		add_rc(&d, sm_set_add_text(out, &id, (const char *)d.orphan, d.orphan_n, 0));
	}
	if (have_note_dt)
		out->meter_time_ms = note_ms;
	else if (d.have_clock)
		out->meter_time_ms = d.clock_ms;
	else if (d.have_bare)
		out->meter_time_ms = d.bare_ms;

	fill_ranks(&out->names);
	sm_set_finish(out);
	if (out->n == 0) {
		if (d.skipped)
			sm_diag_set(diag, "data-notification holds no readings (%u value%s skipped; "
				    "first %s)", d.skipped, d.skipped == 1 ? "" : "s", d.why);
		else
			sm_diag_set(diag, "data-notification holds no readings");
		return SM_E_EMPTY;
	}
	if (d.full)
		sm_diag_set(diag, "too many readings: %zu kept, the rest dropped", out->n);
	else if (d.skipped)
		sm_diag_set(diag, "%u value%s skipped (first %s)", d.skipped,
			    d.skipped == 1 ? "" : "s", d.why);
	else if (trailing)
		sm_diag_set(diag, "%zu byte%s after the notification body ignored", trailing,
			    trailing == 1 ? "" : "s");
	return SM_READINGS;
}

bool sm_dlms_unit_from_code(uint8_t code, enum sm_unit *unit, int8_t *exp10, const char **text)
{
	const struct unit_map *u = unit_by_code(code);
	if (u == NULL)
		return false;
	*unit = u->unit;
	*exp10 = u->exp10;
	*text = u->text;
	return true;
}

/* ------------------------------------------------------------------ */
/* encoder                                                             */
/* ------------------------------------------------------------------ */

static enum sm_err unit_code(const struct sm_reading *r, uint8_t *code)
{
	switch (r->unit) {
	case SM_UNIT_NONE: *code = 255; return SM_OK;
	case SM_UNIT_WH: *code = 30; return SM_OK;
	case SM_UNIT_VARH: *code = 32; return SM_OK;
	case SM_UNIT_VAH: *code = 31; return SM_OK;
	case SM_UNIT_W: *code = 27; return SM_OK;
	case SM_UNIT_VAR: *code = 29; return SM_OK;
	case SM_UNIT_VA: *code = 28; return SM_OK;
	case SM_UNIT_V: *code = 35; return SM_OK;
	case SM_UNIT_A: *code = 33; return SM_OK;
	case SM_UNIT_HZ: *code = 44; return SM_OK;
	case SM_UNIT_M3: *code = 13; return SM_OK;
	case SM_UNIT_S: *code = 7; return SM_OK;
	case SM_UNIT_CELSIUS: *code = 9; return SM_OK;
	case SM_UNIT_OTHER:
		for (size_t i = 0; i < sizeof unit_table / sizeof unit_table[0]; i++)
			if (unit_table[i].text != NULL && strcmp(unit_table[i].text, r->unit_text) == 0) {
				*code = unit_table[i].code;
				return SM_OK;
			}
		if (strncmp(r->unit_text, "dlms", 4) == 0) {
			unsigned v = 0;
			const char *q = r->unit_text + 4;
			if (*q == '\0')
				return SM_E_RANGE;
			for (; *q; q++) {
				if (*q < '0' || *q > '9' || v > 25)
					return SM_E_RANGE;
				v = v * 10 + (unsigned)(*q - '0');
			}
			if (v > 255)
				return SM_E_RANGE;
			*code = (uint8_t)v;
			return SM_OK;
		}
		return SM_E_RANGE;
	}
	return SM_E_RANGE;
}

enum sm_err sm_dlms_unit_to_code(const struct sm_reading *r, uint8_t *code)
{
	return unit_code(r, code);
}

/* The six groups of an OBIS code (all of A..E numeric and present; F 255
 * when absent). */
static enum sm_err obis_bytes(const struct sm_obis *o, uint8_t b[6])
{
	for (int g = SM_OBIS_A; g <= SM_OBIS_F; g++) {
		if (o->letter & SM_OBIS_BIT(g))
			return SM_E_RANGE;
		if (!(o->present & SM_OBIS_BIT(g))) {
			if (g != SM_OBIS_F)
				return SM_E_RANGE;
			b[g] = 255;
			continue;
		}
		b[g] = o->v[g];
	}
	return SM_OK;
}

static bool is_id_code(const struct sm_reading *r)
{
	uint8_t b[6];
	return obis_bytes(&r->obis, b) == SM_OK && b[0] == 0 && b[1] == 0 && b[2] == 96 &&
	       b[3] == 1 && b[4] == 0 && b[5] == 255;
}

/*
 * The reading the flat layout sends last without its OBIS, as EVN meters
 * send the meter number: the only 0-0:96.1.0 of the set, when it is a
 * printable text our decoder takes back (1..32 bytes).  NULL when none.
 */
static const struct sm_reading *flat_id(const struct sm_reading_set *s, size_t n)
{
	const struct sm_reading *id = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct sm_reading *r = &s->r[i];
		if (!is_id_code(r))
			continue;
		if (id != NULL)
			return NULL;
		id = r;
	}
	if (id == NULL || !id->is_text || id->text_len < 1 || id->text_len > ORPHAN_TEXT_MAX ||
	    !printable((const uint8_t *)sm_reading_text(s, id), id->text_len))
		return NULL;
	return id;
}

/* Printable ASCII as an octet-string (as meters send ids), anything else
 * as a utf8-string (so that our decoder gives back the same bytes). */
static void put_text(struct sm_axdr_w *w, const struct sm_reading_set *s, const struct sm_reading *r)
{
	const char *t = sm_reading_text(s, r);
	bool plain = printable((const uint8_t *)t, r->text_len);
	sm_axdr_put_string(w, plain ? SM_AXDR_OCTETS : SM_AXDR_UTF8, t, r->text_len);
}

static void put_reading(struct sm_axdr_w *w, const struct sm_reading_set *s,
			const struct sm_reading *r, const uint8_t ob[6], uint8_t ucode,
			enum sm_dlms_layout layout)
{
	if (layout == SM_DLMS_STRUCTS)
		sm_axdr_put_struct(w, r->is_text ? 2 : 3);
	sm_axdr_put_string(w, SM_AXDR_OCTETS, ob, 6);
	if (r->is_text) {
		put_text(w, s, r);
		return;
	}
	sm_axdr_put_int_min(w, r->raw);
	sm_axdr_put_struct(w, 2);
	sm_axdr_put_i8(w, r->scale);
	sm_axdr_put_enum(w, ucode);
}

enum sm_err sm_dlms_encode(const struct sm_reading_set *s, enum sm_dlms_layout layout, uint32_t invoke_id,
			   int utc_offset_min, uint8_t *out, size_t cap, size_t *outlen)
{
	if (outlen)
		*outlen = 0;
	if (layout != SM_DLMS_FLAT && layout != SM_DLMS_STRUCTS)
		return SM_E_RANGE;
	if (utc_offset_min < -720 || utc_offset_min > 720)
		return SM_E_RANGE;
	/* meter times from 1970 to the end of 9999 (local time at any offset) */
	if (s->meter_time_ms < 0 || s->meter_time_ms >= 253402300800000LL - 12 * 3600000LL)
		return SM_E_RANGE;
	size_t n = s->n < SM_MAX_READINGS ? s->n : SM_MAX_READINGS;
	/* check every reading first, count the body's elements */
	uint32_t count = s->meter_time_ms != 0 ? 1 : 0;
	const struct sm_reading *id = layout == SM_DLMS_FLAT ? flat_id(s, n) : NULL;
	for (size_t i = 0; i < n; i++) {
		const struct sm_reading *r = &s->r[i];
		uint8_t ob[6], uc = 0;
		if (obis_bytes(&r->obis, ob) != SM_OK)
			return SM_E_RANGE;
		if (!r->is_text && unit_code(r, &uc) != SM_OK)
			return SM_E_RANGE;
		if (r == id)
			count += 1;
		else
			count += layout == SM_DLMS_STRUCTS ? 1 : (r->is_text ? 2 : 3);
	}

	struct sm_axdr_w w;
	sm_axdr_w_init(&w, out, cap);
	sm_axdr_put_byte(&w, APDU_DATA_NOTIFICATION);
	uint8_t inv[4] = { (uint8_t)(invoke_id >> 24), (uint8_t)(invoke_id >> 16),
			   (uint8_t)(invoke_id >> 8), (uint8_t)invoke_id };
	sm_axdr_put_raw(&w, inv, 4);
	struct sm_axdr_datetime dt;
	if (s->meter_time_ms != 0) {
		uint8_t b[12];
		sm_axdr_datetime_from_ms(s->meter_time_ms, utc_offset_min, &dt);
		sm_axdr_datetime_put(&dt, b);
		sm_axdr_put_byte(&w, 0x0C);
		sm_axdr_put_raw(&w, b, 12);
	} else {
		sm_axdr_put_byte(&w, 0x00);
	}
	sm_axdr_put_struct(&w, count);
	if (s->meter_time_ms != 0) {
		if (layout == SM_DLMS_STRUCTS) {
			static const uint8_t clock[6] = { 0, 0, 1, 0, 0, 255 };
			sm_axdr_put_struct(&w, 2);
			sm_axdr_put_string(&w, SM_AXDR_OCTETS, clock, 6);
		}
		sm_axdr_put_datetime(&w, &dt, true);
	}
	for (size_t i = 0; i < n; i++) {
		const struct sm_reading *r = &s->r[i];
		if (r == id)
			continue;
		uint8_t ob[6], uc = 0;
		(void)obis_bytes(&r->obis, ob);
		if (!r->is_text)
			(void)unit_code(r, &uc);
		put_reading(&w, s, r, ob, uc, layout);
	}
	if (id != NULL)
		put_text(&w, s, id);
	if (sm_axdr_w_status(&w) != SM_OK)
		return SM_E_FULL;
	if (outlen)
		*outlen = w.len;
	return SM_OK;
}
