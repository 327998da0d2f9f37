/*
 * axdr.c - A-XDR iterator and writer.  The contract is axdr.h.
 *
 * Every element header is decoded by one function (head()), which checks
 * the tag, the BER length and that the element's bytes (or at least one
 * byte per contained element) lie within the input; navigation and the
 * getters only use what head() has verified.
 */
#include <string.h>

#include "axdr.h"
#include "reading.h"

/* A decoded element header. */
struct head {
	int type;
	const uint8_t *val;  /* content */
	uint32_t len;        /* as sm_axdr_it.len */
	const uint8_t *next; /* after a scalar's content; containers: val */
};

/* Fixed content size of a type, 0 for a variable one, -1 for an unknown tag. */
static int fixed_size(uint8_t tag)
{
	switch (tag) {
	case SM_AXDR_NULL:
		return 0;
	case SM_AXDR_BOOL:
	case SM_AXDR_INT8:
	case SM_AXDR_UINT8:
	case SM_AXDR_ENUM:
	case SM_AXDR_BCD:
		return 1;
	case SM_AXDR_INT16:
	case SM_AXDR_UINT16:
		return 2;
	case SM_AXDR_INT32:
	case SM_AXDR_UINT32:
	case SM_AXDR_FLOAT32:
	case SM_AXDR_TIME:
		return 4;
	case SM_AXDR_DATE:
		return 5;
	case SM_AXDR_INT64:
	case SM_AXDR_UINT64:
	case SM_AXDR_FLOAT64:
		return 8;
	case SM_AXDR_DATETIME:
		return 12;
	case SM_AXDR_ARRAY:
	case SM_AXDR_STRUCT:
	case SM_AXDR_BITSTRING:
	case SM_AXDR_OCTETS:
	case SM_AXDR_VISIBLE:
	case SM_AXDR_UTF8:
		return 0;
	default:
		return -1;
	}
}

static bool is_variable(uint8_t tag)
{
	return tag == SM_AXDR_ARRAY || tag == SM_AXDR_STRUCT || tag == SM_AXDR_BITSTRING ||
	       tag == SM_AXDR_OCTETS || tag == SM_AXDR_VISIBLE || tag == SM_AXDR_UTF8;
}

/* BER length at *q (q < end not required). */
static enum sm_err ber_len(const uint8_t **q, const uint8_t *end, uint32_t *out)
{
	const uint8_t *p = *q;
	if (p >= end)
		return SM_E_TRUNCATED;
	uint8_t b = *p++;
	if (b < 0x80) {
		*out = b;
		*q = p;
		return SM_OK;
	}
	unsigned k = b & 0x7Fu;
	if (k == 0 || k > 4)
		return SM_E_SYNTAX;
	if ((size_t)(end - p) < k)
		return SM_E_TRUNCATED;
	uint32_t v = 0;
	for (unsigned i = 0; i < k; i++)
		v = (v << 8) | *p++;
	*out = v;
	*q = p;
	return SM_OK;
}

static enum sm_err head(const uint8_t *p, const uint8_t *end, struct head *h)
{
	if (p >= end)
		return SM_E_TRUNCATED;
	uint8_t tag = *p++;
	int size = fixed_size(tag);
	if (size < 0)
		return SM_E_SYNTAX;
	size_t left;
	if (!is_variable(tag)) {
		left = (size_t)(end - p);
		if (left < (size_t)size)
			return SM_E_TRUNCATED;
		h->type = tag;
		h->val = p;
		h->len = (uint32_t)size;
		h->next = p + size;
		return SM_OK;
	}
	uint32_t n;
	enum sm_err rc = ber_len(&p, end, &n);
	if (rc != SM_OK)
		return rc;
	left = (size_t)(end - p);
	h->type = tag;
	h->val = p;
	h->len = n;
	if (tag == SM_AXDR_ARRAY || tag == SM_AXDR_STRUCT) {
		if (n > SM_AXDR_MAX_COUNT)
			return SM_E_SYNTAX;
		if (n > left)
			return SM_E_TRUNCATED;
		h->next = p;
		return SM_OK;
	}
	uint64_t bytes = tag == SM_AXDR_BITSTRING ? ((uint64_t)n + 7) / 8 : n;
	if (bytes > left)
		return SM_E_TRUNCATED;
	h->next = p + bytes;
	return SM_OK;
}

/* Arrive on the element at it->p (or at the end when none is left). */
static enum sm_err load(struct sm_axdr_it *it)
{
	if (it->left == 0) {
		it->type = SM_AXDR_END;
		it->val = it->p;
		it->len = 0;
		return SM_OK;
	}
	struct head h;
	enum sm_err rc = head(it->p, it->end, &h);
	if (rc != SM_OK)
		return rc;
	it->type = h.type;
	it->val = h.val;
	it->len = h.len;
	return SM_OK;
}

enum sm_err sm_axdr_init(struct sm_axdr_it *it, const uint8_t *p, size_t n, uint32_t count)
{
	static const uint8_t none[1] = { 0 };
	if (p == NULL) {
		p = none;
		n = 0;
	}
	it->p = p;
	it->end = p + n;
	it->left = count;
	it->depth = 0;
	it->type = SM_AXDR_END;
	it->val = p;
	it->len = 0;
	return load(it);
}

/* End of the current element, a container's whole subtree included. */
static enum sm_err skip_end(const struct sm_axdr_it *it, const uint8_t **out)
{
	if (it->type != SM_AXDR_ARRAY && it->type != SM_AXDR_STRUCT) {
		size_t bytes = it->type == SM_AXDR_BITSTRING ? ((size_t)it->len + 7) / 8 : it->len;
		*out = it->val + bytes;
		return SM_OK;
	}
	/* elements still to visit per open container */
	uint32_t left[SM_AXDR_MAX_DEPTH + 1];
	unsigned sp = 0;
	if (it->depth + 1u > SM_AXDR_MAX_DEPTH)
		return SM_E_SYNTAX;
	left[0] = it->len;
	const uint8_t *q = it->val;
	for (;;) {
		if (left[sp] == 0) {
			if (sp == 0)
				break;
			sp--;
			continue;
		}
		left[sp]--;
		struct head h;
		enum sm_err rc = head(q, it->end, &h);
		if (rc != SM_OK)
			return rc;
		q = h.next;
		if (h.type == SM_AXDR_ARRAY || h.type == SM_AXDR_STRUCT) {
			if (it->depth + sp + 2u > SM_AXDR_MAX_DEPTH)
				return SM_E_SYNTAX;
			left[++sp] = h.len;
		}
	}
	*out = q;
	return SM_OK;
}

enum sm_err sm_axdr_next(struct sm_axdr_it *it)
{
	if (it->type == SM_AXDR_END)
		return SM_E_SYNTAX;
	const uint8_t *q;
	enum sm_err rc = skip_end(it, &q);
	if (rc != SM_OK)
		return rc;
	it->p = q;
	it->left--;
	return load(it);
}

enum sm_err sm_axdr_enter(const struct sm_axdr_it *it, struct sm_axdr_it *child)
{
	if (it->type != SM_AXDR_ARRAY && it->type != SM_AXDR_STRUCT)
		return SM_E_SYNTAX;
	if (it->depth + 1u > SM_AXDR_MAX_DEPTH)
		return SM_E_SYNTAX;
	child->p = it->val;
	child->end = it->end;
	child->left = it->len;
	child->depth = (uint8_t)(it->depth + 1);
	return load(child);
}

enum sm_err sm_axdr_leave(struct sm_axdr_it *it, const struct sm_axdr_it *child)
{
	if (child->type != SM_AXDR_END || child->depth != it->depth + 1 || it->left == 0 ||
	    child->p < it->val || child->p > it->end)
		return SM_E_SYNTAX;
	it->p = child->p;
	it->left--;
	return load(it);
}

/* ---- getters ---- */

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

#define GETTER(name, ctype, tag, n, conv)                                   \
	enum sm_err name(const struct sm_axdr_it *it, ctype *v)             \
	{                                                                   \
		if (it->type != (tag))                                      \
			return SM_E_SYNTAX;                                 \
		*v = conv(be(it->val, (n)));                                \
		return SM_OK;                                               \
	}

static int8_t to_i8(uint64_t x) { return (int8_t)(x >= 0x80u ? (int)x - 0x100 : (int)x); }
static uint8_t to_u8(uint64_t x) { return (uint8_t)x; }
static int16_t to_i16(uint64_t x) { return (int16_t)(x >= 0x8000u ? (int32_t)x - 0x10000 : (int32_t)x); }
static uint16_t to_u16(uint64_t x) { return (uint16_t)x; }
static int32_t to_i32(uint64_t x)
{
	return x >= 0x80000000u ? (int32_t)((int64_t)x - 0x100000000LL) : (int32_t)x;
}
static uint32_t to_u32(uint64_t x) { return (uint32_t)x; }
static int64_t to_i64(uint64_t x)
{
	return x > (uint64_t)INT64_MAX ? -(int64_t)(~x) - 1 : (int64_t)x;
}
static uint64_t to_u64(uint64_t x) { return x; }

GETTER(sm_axdr_get_i8, int8_t, SM_AXDR_INT8, 1, to_i8)
GETTER(sm_axdr_get_u8, uint8_t, SM_AXDR_UINT8, 1, to_u8)
GETTER(sm_axdr_get_i16, int16_t, SM_AXDR_INT16, 2, to_i16)
GETTER(sm_axdr_get_u16, uint16_t, SM_AXDR_UINT16, 2, to_u16)
GETTER(sm_axdr_get_i32, int32_t, SM_AXDR_INT32, 4, to_i32)
GETTER(sm_axdr_get_u32, uint32_t, SM_AXDR_UINT32, 4, to_u32)
GETTER(sm_axdr_get_i64, int64_t, SM_AXDR_INT64, 8, to_i64)
GETTER(sm_axdr_get_u64, uint64_t, SM_AXDR_UINT64, 8, to_u64)
GETTER(sm_axdr_get_enum, uint8_t, SM_AXDR_ENUM, 1, to_u8)

enum sm_err sm_axdr_get_bool(const struct sm_axdr_it *it, bool *v)
{
	if (it->type != SM_AXDR_BOOL)
		return SM_E_SYNTAX;
	*v = it->val[0] != 0;
	return SM_OK;
}

enum sm_err sm_axdr_get_bcd(const struct sm_axdr_it *it, uint8_t *v)
{
	if (it->type != SM_AXDR_BCD)
		return SM_E_SYNTAX;
	uint8_t b = it->val[0];
	if ((b >> 4) > 9 || (b & 0x0F) > 9)
		return SM_E_RANGE;
	*v = (uint8_t)((b >> 4) * 10 + (b & 0x0F));
	return SM_OK;
}

enum sm_err sm_axdr_get_float32(const struct sm_axdr_it *it, float *v)
{
	if (it->type != SM_AXDR_FLOAT32)
		return SM_E_SYNTAX;
	uint32_t bits = (uint32_t)be(it->val, 4);
	memcpy(v, &bits, sizeof *v);
	return SM_OK;
}

enum sm_err sm_axdr_get_float64(const struct sm_axdr_it *it, double *v)
{
	if (it->type != SM_AXDR_FLOAT64)
		return SM_E_SYNTAX;
	uint64_t bits = be(it->val, 8);
	memcpy(v, &bits, sizeof *v);
	return SM_OK;
}

bool sm_axdr_is_integer(const struct sm_axdr_it *it)
{
	switch (it->type) {
	case SM_AXDR_INT8:
	case SM_AXDR_INT16:
	case SM_AXDR_INT32:
	case SM_AXDR_INT64:
	case SM_AXDR_UINT8:
	case SM_AXDR_UINT16:
	case SM_AXDR_UINT32:
	case SM_AXDR_UINT64:
	case SM_AXDR_ENUM:
	case SM_AXDR_BOOL:
	case SM_AXDR_BCD:
		return true;
	default:
		return false;
	}
}

/* Any integer type as (negative?, magnitude-or-value). */
static enum sm_err get_any(const struct sm_axdr_it *it, bool *neg, uint64_t *mag)
{
	uint64_t x;
	*neg = false;
	switch (it->type) {
	case SM_AXDR_INT8:
	case SM_AXDR_INT16:
	case SM_AXDR_INT32:
	case SM_AXDR_INT64: {
		unsigned n = it->len;
		x = be(it->val, n);
		uint64_t sign = (uint64_t)1 << (8 * n - 1);
		if (x & sign) {
			/* two's complement magnitude within n bytes */
			uint64_t mask = n == 8 ? UINT64_MAX : (((uint64_t)1 << (8 * n)) - 1);
			*neg = true;
			*mag = ((~x) & mask) + 1;
			return SM_OK;
		}
		*mag = x;
		return SM_OK;
	}
	case SM_AXDR_UINT8:
	case SM_AXDR_UINT16:
	case SM_AXDR_UINT32:
	case SM_AXDR_UINT64:
	case SM_AXDR_ENUM:
		*mag = be(it->val, it->len);
		return SM_OK;
	case SM_AXDR_BOOL:
		*mag = it->val[0] != 0;
		return SM_OK;
	case SM_AXDR_BCD: {
		uint8_t b;
		enum sm_err rc = sm_axdr_get_bcd(it, &b);
		if (rc != SM_OK)
			return rc;
		*mag = b;
		return SM_OK;
	}
	default:
		return SM_E_SYNTAX;
	}
}

enum sm_err sm_axdr_get_int(const struct sm_axdr_it *it, int64_t *v)
{
	bool neg;
	uint64_t mag;
	enum sm_err rc = get_any(it, &neg, &mag);
	if (rc != SM_OK)
		return rc;
	if (neg) {
		/* mag <= 2^63 here (at most 8 bytes of two's complement) */
		*v = mag == ((uint64_t)1 << 63) ? INT64_MIN : -(int64_t)mag;
		return SM_OK;
	}
	if (mag > (uint64_t)INT64_MAX)
		return SM_E_RANGE;
	*v = (int64_t)mag;
	return SM_OK;
}

enum sm_err sm_axdr_get_uint(const struct sm_axdr_it *it, uint64_t *v)
{
	bool neg;
	uint64_t mag;
	enum sm_err rc = get_any(it, &neg, &mag);
	if (rc != SM_OK)
		return rc;
	if (neg)
		return SM_E_RANGE;
	*v = mag;
	return SM_OK;
}

enum sm_err sm_axdr_get_bytes(const struct sm_axdr_it *it, const uint8_t **p, size_t *n)
{
	if (it->type != SM_AXDR_OCTETS && it->type != SM_AXDR_VISIBLE && it->type != SM_AXDR_UTF8)
		return SM_E_SYNTAX;
	*p = it->val;
	*n = it->len;
	return SM_OK;
}

enum sm_err sm_axdr_get_bits(const struct sm_axdr_it *it, const uint8_t **p, size_t *nbits)
{
	if (it->type != SM_AXDR_BITSTRING)
		return SM_E_SYNTAX;
	*p = it->val;
	*nbits = it->len;
	return SM_OK;
}

/* ---- date and time ---- */

static bool field_ok(uint8_t v, uint8_t lo, uint8_t hi)
{
	return v == 0xFF || (v >= lo && v <= hi);
}

static bool date_fields_ok(const struct sm_axdr_datetime *dt)
{
	return (dt->month == 0xFD || dt->month == 0xFE || field_ok(dt->month, 1, 12)) &&
	       (dt->day == 0xFD || dt->day == 0xFE || field_ok(dt->day, 1, 31)) &&
	       field_ok(dt->wday, 1, 7);
}

static bool time_fields_ok(const struct sm_axdr_datetime *dt)
{
	return field_ok(dt->hour, 0, 23) && field_ok(dt->min, 0, 59) && field_ok(dt->sec, 0, 59) &&
	       field_ok(dt->hundredths, 0, 99);
}

static void dt_unspecified(struct sm_axdr_datetime *dt)
{
	dt->year = 0xFFFF;
	dt->month = dt->day = dt->wday = 0xFF;
	dt->hour = dt->min = dt->sec = dt->hundredths = 0xFF;
	dt->deviation = SM_AXDR_DEVIATION_UNKNOWN;
	dt->clock_status = 0xFF;
}

bool sm_axdr_datetime_parse(const uint8_t *p, size_t n, struct sm_axdr_datetime *dt)
{
	if (n != 12)
		return false;
	struct sm_axdr_datetime d;
	d.year = (uint16_t)((p[0] << 8) | p[1]);
	d.month = p[2];
	d.day = p[3];
	d.wday = p[4];
	d.hour = p[5];
	d.min = p[6];
	d.sec = p[7];
	d.hundredths = p[8];
	d.deviation = to_i16((uint64_t)((p[9] << 8) | p[10]));
	d.clock_status = p[11];
	if (!date_fields_ok(&d) || !time_fields_ok(&d))
		return false;
	if (d.deviation != SM_AXDR_DEVIATION_UNKNOWN && (d.deviation < -720 || d.deviation > 720))
		return false;
	*dt = d;
	return true;
}

bool sm_axdr_datetime_to_ms(const struct sm_axdr_datetime *dt, int64_t *ms)
{
	if (dt->year == 0xFFFF || dt->month < 1 || dt->month > 12 || dt->day < 1 || dt->day > 31 ||
	    dt->hour > 23 || dt->min > 59 || dt->sec > 59 ||
	    dt->deviation == SM_AXDR_DEVIATION_UNKNOWN || dt->deviation < -720 ||
	    dt->deviation > 720)
		return false;
	int64_t t;
	/* DLMS: UTC = local + deviation, so local = UTC - deviation */
	if (!sm_civil_to_ms(dt->year, dt->month, dt->day, dt->hour, dt->min, dt->sec, -dt->deviation,
			    &t))
		return false;
	if (dt->hundredths <= 99)
		t += (int64_t)dt->hundredths * 10;
	*ms = t;
	return true;
}

enum sm_err sm_axdr_get_datetime(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt)
{
	if (it->type != SM_AXDR_DATETIME && !(it->type == SM_AXDR_OCTETS && it->len == 12))
		return SM_E_SYNTAX;
	return sm_axdr_datetime_parse(it->val, 12, dt) ? SM_OK : SM_E_SYNTAX;
}

enum sm_err sm_axdr_get_date(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt)
{
	if (it->type != SM_AXDR_DATE)
		return SM_E_SYNTAX;
	struct sm_axdr_datetime d;
	dt_unspecified(&d);
	d.year = (uint16_t)((it->val[0] << 8) | it->val[1]);
	d.month = it->val[2];
	d.day = it->val[3];
	d.wday = it->val[4];
	if (!date_fields_ok(&d))
		return SM_E_SYNTAX;
	*dt = d;
	return SM_OK;
}

enum sm_err sm_axdr_get_time(const struct sm_axdr_it *it, struct sm_axdr_datetime *dt)
{
	if (it->type != SM_AXDR_TIME)
		return SM_E_SYNTAX;
	struct sm_axdr_datetime d;
	dt_unspecified(&d);
	d.hour = it->val[0];
	d.min = it->val[1];
	d.sec = it->val[2];
	d.hundredths = it->val[3];
	if (!time_fields_ok(&d))
		return SM_E_SYNTAX;
	*dt = d;
	return SM_OK;
}

void sm_axdr_datetime_put(const struct sm_axdr_datetime *dt, uint8_t out[12])
{
	uint16_t dev = (uint16_t)dt->deviation;
	out[0] = (uint8_t)(dt->year >> 8);
	out[1] = (uint8_t)dt->year;
	out[2] = dt->month;
	out[3] = dt->day;
	out[4] = dt->wday;
	out[5] = dt->hour;
	out[6] = dt->min;
	out[7] = dt->sec;
	out[8] = dt->hundredths;
	out[9] = (uint8_t)(dev >> 8);
	out[10] = (uint8_t)dev;
	out[11] = dt->clock_status;
}

void sm_axdr_datetime_from_ms(int64_t unix_ms, int utc_offset_min, struct sm_axdr_datetime *dt)
{
	struct sm_civil c;
	int64_t local;
	if (__builtin_add_overflow(unix_ms, (int64_t)utc_offset_min * 60000, &local)) {
		utc_offset_min = 0; /* beyond any date-time: keep the arithmetic defined */
		local = unix_ms;
	}
	sm_ms_to_civil(unix_ms, utc_offset_min, &c);
	int64_t day = local / 86400000;
	if (local % 86400000 < 0)
		day--;
	int64_t msec = local % 1000;
	if (msec < 0)
		msec += 1000;
	int64_t w = (day % 7 + 7 + 3) % 7; /* 1970-01-01 was a Thursday: 3 days after Monday */
	dt->year = (uint16_t)c.year;
	dt->month = (uint8_t)c.month;
	dt->day = (uint8_t)c.day;
	dt->wday = (uint8_t)(w + 1);
	dt->hour = (uint8_t)c.hour;
	dt->min = (uint8_t)c.min;
	dt->sec = (uint8_t)c.sec;
	dt->hundredths = (uint8_t)(msec / 10);
	dt->deviation = (int16_t)-utc_offset_min;
	dt->clock_status = 0;
}

/* ---- writer ---- */

void sm_axdr_w_init(struct sm_axdr_w *w, uint8_t *storage, size_t cap)
{
	w->p = storage;
	w->cap = storage ? cap : 0;
	w->len = 0;
	w->overflow = false;
}

void sm_axdr_put_raw(struct sm_axdr_w *w, const void *p, size_t n)
{
	if (w->overflow)
		return;
	if (n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void sm_axdr_put_byte(struct sm_axdr_w *w, uint8_t b)
{
	sm_axdr_put_raw(w, &b, 1);
}

static void put_be(struct sm_axdr_w *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	sm_axdr_put_raw(w, b, n);
}

void sm_axdr_put_len(struct sm_axdr_w *w, uint32_t n)
{
	if (n < 0x80) {
		sm_axdr_put_byte(w, (uint8_t)n);
	} else if (n <= 0xFF) {
		sm_axdr_put_byte(w, 0x81);
		put_be(w, n, 1);
	} else if (n <= 0xFFFF) {
		sm_axdr_put_byte(w, 0x82);
		put_be(w, n, 2);
	} else if (n <= 0xFFFFFF) {
		sm_axdr_put_byte(w, 0x83);
		put_be(w, n, 3);
	} else {
		sm_axdr_put_byte(w, 0x84);
		put_be(w, n, 4);
	}
}

static void put_tag_be(struct sm_axdr_w *w, uint8_t tag, uint64_t v, unsigned n)
{
	sm_axdr_put_byte(w, tag);
	put_be(w, v, n);
}

void sm_axdr_put_array(struct sm_axdr_w *w, uint32_t count)
{
	sm_axdr_put_byte(w, SM_AXDR_ARRAY);
	sm_axdr_put_len(w, count);
}

void sm_axdr_put_struct(struct sm_axdr_w *w, uint32_t count)
{
	sm_axdr_put_byte(w, SM_AXDR_STRUCT);
	sm_axdr_put_len(w, count);
}

void sm_axdr_put_null(struct sm_axdr_w *w) { sm_axdr_put_byte(w, SM_AXDR_NULL); }
void sm_axdr_put_bool(struct sm_axdr_w *w, bool v) { put_tag_be(w, SM_AXDR_BOOL, v ? 1 : 0, 1); }
void sm_axdr_put_i8(struct sm_axdr_w *w, int8_t v) { put_tag_be(w, SM_AXDR_INT8, (uint8_t)v, 1); }
void sm_axdr_put_u8(struct sm_axdr_w *w, uint8_t v) { put_tag_be(w, SM_AXDR_UINT8, v, 1); }
void sm_axdr_put_i16(struct sm_axdr_w *w, int16_t v) { put_tag_be(w, SM_AXDR_INT16, (uint16_t)v, 2); }
void sm_axdr_put_u16(struct sm_axdr_w *w, uint16_t v) { put_tag_be(w, SM_AXDR_UINT16, v, 2); }
void sm_axdr_put_i32(struct sm_axdr_w *w, int32_t v) { put_tag_be(w, SM_AXDR_INT32, (uint32_t)v, 4); }
void sm_axdr_put_u32(struct sm_axdr_w *w, uint32_t v) { put_tag_be(w, SM_AXDR_UINT32, v, 4); }
void sm_axdr_put_i64(struct sm_axdr_w *w, int64_t v) { put_tag_be(w, SM_AXDR_INT64, (uint64_t)v, 8); }
void sm_axdr_put_u64(struct sm_axdr_w *w, uint64_t v) { put_tag_be(w, SM_AXDR_UINT64, v, 8); }
void sm_axdr_put_enum(struct sm_axdr_w *w, uint8_t v) { put_tag_be(w, SM_AXDR_ENUM, v, 1); }

void sm_axdr_put_bcd(struct sm_axdr_w *w, uint8_t v)
{
	put_tag_be(w, SM_AXDR_BCD, (uint8_t)(((v / 10) % 10) << 4 | (v % 10)), 1);
}

void sm_axdr_put_float32(struct sm_axdr_w *w, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	put_tag_be(w, SM_AXDR_FLOAT32, bits, 4);
}

void sm_axdr_put_float64(struct sm_axdr_w *w, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	put_tag_be(w, SM_AXDR_FLOAT64, bits, 8);
}

void sm_axdr_put_int_min(struct sm_axdr_w *w, int64_t v)
{
	if (v >= 0) {
		if (v <= UINT8_MAX)
			sm_axdr_put_u8(w, (uint8_t)v);
		else if (v <= UINT16_MAX)
			sm_axdr_put_u16(w, (uint16_t)v);
		else if (v <= (int64_t)UINT32_MAX)
			sm_axdr_put_u32(w, (uint32_t)v);
		else
			sm_axdr_put_u64(w, (uint64_t)v);
	} else {
		if (v >= INT8_MIN)
			sm_axdr_put_i8(w, (int8_t)v);
		else if (v >= INT16_MIN)
			sm_axdr_put_i16(w, (int16_t)v);
		else if (v >= INT32_MIN)
			sm_axdr_put_i32(w, (int32_t)v);
		else
			sm_axdr_put_i64(w, v);
	}
}

void sm_axdr_put_string(struct sm_axdr_w *w, enum sm_axdr_type type, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->overflow = true;
		return;
	}
	sm_axdr_put_byte(w, (uint8_t)type);
	sm_axdr_put_len(w, (uint32_t)n);
	sm_axdr_put_raw(w, p, n);
}

void sm_axdr_put_bits(struct sm_axdr_w *w, const uint8_t *p, size_t nbits)
{
	if (nbits > UINT32_MAX) {
		w->overflow = true;
		return;
	}
	sm_axdr_put_byte(w, SM_AXDR_BITSTRING);
	sm_axdr_put_len(w, (uint32_t)nbits);
	sm_axdr_put_raw(w, p, (nbits + 7) / 8);
}

void sm_axdr_put_datetime(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt, bool as_octets)
{
	uint8_t b[12];
	sm_axdr_datetime_put(dt, b);
	if (as_octets) {
		sm_axdr_put_string(w, SM_AXDR_OCTETS, b, sizeof b);
	} else {
		sm_axdr_put_byte(w, SM_AXDR_DATETIME);
		sm_axdr_put_raw(w, b, sizeof b);
	}
}

void sm_axdr_put_date(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt)
{
	uint8_t b[5] = { (uint8_t)(dt->year >> 8), (uint8_t)dt->year, dt->month, dt->day, dt->wday };
	sm_axdr_put_byte(w, SM_AXDR_DATE);
	sm_axdr_put_raw(w, b, sizeof b);
}

void sm_axdr_put_time(struct sm_axdr_w *w, const struct sm_axdr_datetime *dt)
{
	uint8_t b[4] = { dt->hour, dt->min, dt->sec, dt->hundredths };
	sm_axdr_put_byte(w, SM_AXDR_TIME);
	sm_axdr_put_raw(w, b, sizeof b);
}
