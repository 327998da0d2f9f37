/* reading.c - reading sets, exact decimals and meter time (see reading.h). */
#include <string.h>

#include "reading.h"

/* ---- reading sets ---- */

void sm_set_clear(struct sm_reading_set *s)
{
	/* Only the header: readings are initialised as they are appended and
	 * the pool is read only up to text_used (the set is 24 KB). */
	s->n = 0;
	s->meter_time_ms = 0;
	s->text_used = 0;
	memset(&s->names, 0, sizeof s->names);
}

static struct sm_reading *set_append(struct sm_reading_set *s, const struct sm_obis *o, int64_t time_ms)
{
	if (s->n >= SM_MAX_READINGS)
		return NULL;
	struct sm_reading *r = &s->r[s->n++];
	memset(r, 0, sizeof *r);
	r->obis = *o;
	r->time_ms = time_ms;
	return r;
}

enum sm_err sm_set_add_number(struct sm_reading_set *s, const struct sm_obis *o,
			      int64_t raw, int8_t scale, enum sm_unit unit,
			      const char *unit_text, size_t unit_text_len, int64_t time_ms)
{
	struct sm_reading *r = set_append(s, o, time_ms);
	if (r == NULL)
		return SM_E_FULL;
	r->kind = SM_KIND_GAUGE;
	r->unit = unit;
	r->raw = raw;
	r->scale = scale;
	if (unit == SM_UNIT_OTHER && unit_text != NULL) {
		size_t k = unit_text_len < SM_UNIT_TEXT - 1 ? unit_text_len : SM_UNIT_TEXT - 1;
		memcpy(r->unit_text, unit_text, k);
		r->unit_text[k] = '\0';
	}
	return SM_OK;
}

enum sm_err sm_set_add_named(struct sm_reading_set *s, const char *name, const struct sm_obis *o,
			     int64_t raw, int8_t scale, enum sm_unit unit,
			     const char *unit_text, size_t unit_text_len, int64_t time_ms)
{
	static const struct sm_obis none;
	enum sm_err e = sm_set_add_number(s, o != NULL ? o : &none, raw, scale, unit, unit_text,
					  unit_text_len, time_ms);
	if (e != SM_OK)
		return e;
	struct sm_reading *r = &s->r[s->n - 1];
	size_t k = name != NULL ? strnlen(name, SM_NAME_LEN - 1) : 0;
	if (k > 0)
		memcpy(r->name, name, k);
	r->name[k] = '\0';
	r->fixed_name = true;
	return SM_OK;
}

enum sm_err sm_set_add_text(struct sm_reading_set *s, const struct sm_obis *o,
			    const char *text, size_t len, int64_t time_ms)
{
	if (s->n >= SM_MAX_READINGS || s->text_used > SM_TEXT_POOL ||
	    len > SM_TEXT_POOL - s->text_used || len > UINT16_MAX)
		return SM_E_FULL;
	struct sm_reading *r = set_append(s, o, time_ms);
	r->kind = SM_KIND_TEXT;
	r->unit = SM_UNIT_NONE;
	r->is_text = true;
	r->text_off = (uint16_t)s->text_used;
	r->text_len = (uint16_t)len;
	if (len > 0)
		memcpy(s->text_pool + s->text_used, text, len);
	s->text_used += len;
	return SM_OK;
}

void sm_set_finish(struct sm_reading_set *s)
{
	for (size_t i = 0; i < s->n && i < SM_MAX_READINGS; i++) {
		struct sm_reading *r = &s->r[i];
		if (!r->fixed_name)
			sm_obis_name(&r->obis, &s->names, r->name, sizeof r->name);
		r->kind = r->is_text ? SM_KIND_TEXT : sm_obis_kind(&r->obis, r->unit);
	}
}

const struct sm_reading *sm_set_find(const struct sm_reading_set *s, const char *name)
{
	for (size_t i = 0; i < s->n && i < SM_MAX_READINGS; i++)
		if (strcmp(s->r[i].name, name) == 0)
			return &s->r[i];
	return NULL;
}

const struct sm_reading *sm_set_find_obis(const struct sm_reading_set *s, const struct sm_obis *o)
{
	for (size_t i = 0; i < s->n && i < SM_MAX_READINGS; i++)
		if (sm_obis_eq(&s->r[i].obis, o))
			return &s->r[i];
	return NULL;
}

/* ---- exact decimals ---- */

#define MAX_SIG_DIGITS 18

static bool is_blank(char ch) { return ch == ' ' || ch == '\t'; }

enum sm_err sm_decimal_parse(const char *p, size_t n, int64_t *raw, int8_t *scale)
{
	if (p == NULL)
		return SM_E_SYNTAX;
	size_t i = 0;
	while (i < n && is_blank(p[i]))
		i++;
	while (n > i && is_blank(p[n - 1]))
		n--;
	bool neg = false;
	if (i < n && (p[i] == '+' || p[i] == '-')) {
		neg = p[i] == '-';
		i++;
	}
	uint64_t v = 0;
	unsigned sig = 0, ndig = 0;
	size_t frac = 0;
	bool dot = false, too_many = false;
	for (; i < n; i++) {
		char ch = p[i];
		if (ch == '.') {
			if (dot)
				return SM_E_SYNTAX;
			dot = true;
			continue;
		}
		if (ch < '0' || ch > '9')
			return SM_E_SYNTAX;
		ndig++;
		if (dot)
			frac++;
		if (sig == 0 && ch == '0')
			continue; /* leading zero */
		if (sig == MAX_SIG_DIGITS) {
			too_many = true;
			continue;
		}
		v = v * 10u + (uint64_t)(ch - '0');
		sig++;
	}
	if (ndig == 0)
		return SM_E_SYNTAX;
	if (too_many || frac > 128)
		return SM_E_RANGE;
	*raw = neg ? -(int64_t)v : (int64_t)v;
	*scale = (int8_t)-(int)frac;
	return SM_OK;
}

enum sm_err sm_decimal_rescale(int64_t *raw, int8_t *scale, int exp10)
{
	int64_t r = *raw;
	if (exp10 > 1000 || exp10 < -1000)
		return SM_E_RANGE;
	int e = *scale + exp10;
	if (r == 0) {
		*raw = 0;
		*scale = 0;
		return SM_OK;
	}
	/* move positive exponent into raw while it fits */
	while (e > 0 && r <= INT64_MAX / 10 && r >= INT64_MIN / 10) {
		r *= 10;
		e--;
	}
	/* a too negative exponent may lose trailing zeros of raw */
	while (e < INT8_MIN && r % 10 == 0) {
		r /= 10;
		e++;
	}
	if (e > INT8_MAX || e < INT8_MIN)
		return SM_E_RANGE;
	*raw = r;
	*scale = (int8_t)e;
	return SM_OK;
}

enum sm_err sm_decimal_format(struct sm_buf *b, int64_t raw, int8_t scale)
{
	char tmp[24 + 140];
	char dig[24];
	size_t nd = 0, k = 0;
	uint64_t m = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;

	if (m == 0)
		return sm_buf_addc(b, '0');
	do {
		dig[nd++] = (char)('0' + (int)(m % 10u));
		m /= 10u;
	} while (m != 0);
	/* dig[] holds the digits least significant first */
	if (raw < 0)
		tmp[k++] = '-';
	if (scale >= 0) {
		while (nd > 0)
			tmp[k++] = dig[--nd];
		for (int i = 0; i < scale; i++)
			tmp[k++] = '0';
		return sm_buf_add(b, tmp, k);
	}
	size_t fd = (size_t)-(int)scale; /* fractional digits */
	/* drop trailing fractional zeros */
	size_t lo = 0;
	while (lo < nd && lo < fd && dig[lo] == '0')
		lo++;
	if (nd > fd) {
		for (size_t i = nd; i > fd; i--)
			tmp[k++] = dig[i - 1];
	} else {
		tmp[k++] = '0';
	}
	if (lo < fd) {
		tmp[k++] = '.';
		for (size_t i = fd; i > lo; i--)
			tmp[k++] = i - 1 < nd ? dig[i - 1] : '0';
	}
	return sm_buf_add(b, tmp, k);
}

double sm_decimal_to_double(int64_t raw, int8_t scale)
{
	double v = (double)raw;
	int s = scale;
	/* 10^k is exact in a double up to k = 22 */
	double p = 1.0;
	int a = s < 0 ? -s : s;
	for (int i = 0; i < a; i++)
		p *= 10.0;
	return s < 0 ? v / p : v * p;
}

/* ---- time ---- */

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const uint8_t dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

bool sm_civil_to_ms(int year, int month, int day, int hour, int min, int sec,
		    int utc_offset_min, int64_t *out_ms)
{
	static const uint16_t before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
	if (year < 1970 || year > 2099 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour < 0 || hour > 23 || min < 0 || min > 59 ||
	    sec < 0 || sec > 60 || utc_offset_min < -24 * 60 || utc_offset_min > 24 * 60)
		return false;
	if (sec == 60)
		sec = 59;
	/* leap years in [1970, year): every 4th from 1972 (2000 is one; 2100 is out of range) */
	int64_t days = (int64_t)365 * (year - 1970) + (year - 1969) / 4;
	days += before[month - 1] + (month > 2 && is_leap(year) ? 1 : 0);
	days += day - 1;
	int64_t secs = days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
	secs -= (int64_t)utc_offset_min * 60;
	*out_ms = secs * 1000;
	return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void sm_ms_to_civil(int64_t unix_ms, int utc_offset_min, struct sm_civil *out)
{
	int64_t secs = floor_div(unix_ms, 1000) + (int64_t)utc_offset_min * 60;
	int64_t days = floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;
	/* days since 1970-01-01 -> proleptic Gregorian date, in 400-year eras
	 * counted from 0000-03-01 (so the leap day ends a year) */
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	out->year = (int)(yoe + era * 400 + (m <= 2));
	out->month = (int)m;
	out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	out->hour = (int)(sod / 3600);
	out->min = (int)(sod / 60 % 60);
	out->sec = (int)(sod % 60);
}

/* Unix seconds of the last Sunday of a 31-day month at 01:00 UTC. */
static int64_t last_sunday_0100(int year, int month)
{
	int64_t ms = 0;
	sm_civil_to_ms(year, month, 31, 1, 0, 0, 0, &ms);
	int64_t days = floor_div(ms, 86400000);
	int64_t wd = days + 4 - floor_div(days + 4, 7) * 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
	return (days - wd) * 86400 + 3600;
}

int sm_cet_offset(int64_t unix_ms, char *letter)
{
	struct sm_civil c;
	int64_t s = floor_div(unix_ms, 1000);
	sm_ms_to_civil(unix_ms, 0, &c);
	bool summer = c.year >= 1970 && c.year <= 2099 && s >= last_sunday_0100(c.year, 3) &&
		      s < last_sunday_0100(c.year, 10);
	if (letter != NULL)
		*letter = summer ? 'S' : 'W';
	return summer ? 120 : 60;
}

static bool plausible(int64_t t, int64_t rx_ms, int64_t window_ms)
{
	if (t == 0)
		return false;
	if (window_ms <= 0)
		return true;
	/* the difference in unsigned arithmetic cannot overflow */
	uint64_t d = t > rx_ms ? (uint64_t)t - (uint64_t)rx_ms : (uint64_t)rx_ms - (uint64_t)t;
	return d <= (uint64_t)window_ms;
}

int64_t sm_reading_time(const struct sm_reading_set *s, const struct sm_reading *r,
			int64_t rx_ms, int64_t window_ms)
{
	if (r != NULL && plausible(r->time_ms, rx_ms, window_ms))
		return r->time_ms;
	if (s != NULL && plausible(s->meter_time_ms, rx_ms, window_ms))
		return s->meter_time_ms;
	return rx_ms;
}
