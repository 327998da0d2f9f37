/*
 * modbus_map.c - register maps, request planning, word decoding and
 * encoding (see modbus_map.h).  Pure: no I/O, no allocation, no locale.
 *
 * Exact arithmetic: a decoded number is kept as a 128-bit mantissa and a
 * decimal exponent until the register's factor (mul, exp) is applied; only
 * then is it brought into the int64 * 10^int8 of a reading, dropping
 * nothing but trailing zeros (anything else is SM_E_RANGE).
 *
 * Floats become the shortest decimal that reads back as the same float,
 * computed exactly in integers (shortest_decimal), as modbus_map.h says.
 */
#include <strings.h>
#include "modbus_map.h"

#include <math.h>
#include <string.h>

#include "buf.h"

/* ---- names ---- */

static const char *const type_names[] = {
	"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
};
static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA" };

static bool type_ok(enum sm_mb_type t)
{
	return (unsigned)t <= (unsigned)SM_MB_FLOAT64;
}

static bool order_ok(enum sm_mb_order o)
{
	return (unsigned)o <= (unsigned)SM_MB_DCBA;
}

unsigned sm_mb_type_words(enum sm_mb_type t)
{
	switch (t) {
	case SM_MB_INT16:
	case SM_MB_UINT16:
		return 1;
	case SM_MB_INT32:
	case SM_MB_UINT32:
	case SM_MB_FLOAT32:
		return 2;
	case SM_MB_INT64:
	case SM_MB_UINT64:
	case SM_MB_FLOAT64:
		return 4;
	}
	return 0;
}

const char *sm_mb_type_name(enum sm_mb_type t)
{
	return type_ok(t) ? type_names[t] : "?";
}

bool sm_mb_type_parse(const char *s, enum sm_mb_type *out)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
		if (strcasecmp(s, type_names[i]) == 0) {
			if (out != NULL)
				*out = (enum sm_mb_type)i;
			return true;
		}
	}
	return false;
}

const char *sm_mb_order_name(enum sm_mb_order o)
{
	return order_ok(o) ? order_names[o] : "?";
}

bool sm_mb_order_parse(const char *s, enum sm_mb_order *out)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < sizeof order_names / sizeof order_names[0]; i++) {
		if (strcasecmp(s, order_names[i]) == 0) {
			if (out != NULL)
				*out = (enum sm_mb_order)i;
			return true;
		}
	}
	return false;
}

const char *sm_mb_exception_str(int code)
{
	switch (code) {
	case 1: return "illegal function";
	case 2: return "illegal data address";
	case 3: return "illegal data value";
	case 4: return "slave device failure";
	case 5: return "acknowledge";
	case 6: return "slave device busy";
	case 8: return "memory parity error";
	case 10: return "gateway path unavailable";
	case 11: return "gateway target failed to respond";
	default: return "unknown exception";
	}
}

bool sm_mb_baud_ok(int baud)
{
	static const int rates[] = {
		110, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200,
		230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000,
		2000000, 2500000, 3000000, 3500000, 4000000,
	};
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
		if (rates[i] == baud)
			return true;
	return false;
}

/* ---- map check ---- */

static unsigned reg_words(const struct sm_mb_reg *r)
{
	return sm_mb_type_words(r->type);
}

/* Registers a request must read to hold one register alone (even rule). */
static uint32_t single_span(const struct sm_mb_map *map, const struct sm_mb_reg *r)
{
	uint32_t a = r->address, e = a + reg_words(r);
	if (map->even) {
		a &= ~1u;
		e = (e + 1u) & ~1u;
	}
	return e - a;
}

/* Sort key: function, then address. */
static bool reg_before(const struct sm_mb_reg *x, const struct sm_mb_reg *y)
{
	if (x->function != y->function)
		return x->function < y->function;
	return x->address < y->address;
}

/* idx[0..n) = 0..n-1 sorted by (function, address); insertion sort, stable. */
static void sort_regs(const struct sm_mb_reg *regs, size_t n, uint16_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		uint16_t v = (uint16_t)i;
		size_t j = i;
		while (j > 0 && reg_before(&regs[v], &regs[idx[j - 1]])) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
}

enum sm_err sm_mb_map_check(const struct sm_mb_map *map, struct sm_diag *diag)
{
	if (map == NULL) {
		sm_diag_set(diag, "no register map");
		return SM_E_CONFIG;
	}
	if (map->max_count < 1 || map->max_count > SM_MB_MAX_COUNT) {
		sm_diag_set(diag, "registers per request %u out of range (expected 1..%d)",
			    (unsigned)map->max_count, SM_MB_MAX_COUNT);
		return SM_E_CONFIG;
	}
	if (map->even && map->max_count % 2u != 0) {
		sm_diag_set(diag, "registers per request %u is odd but even counts are required",
			    (unsigned)map->max_count);
		return SM_E_CONFIG;
	}
	if (map->nregs < 1 || map->regs == NULL) {
		sm_diag_set(diag, "no registers");
		return SM_E_CONFIG;
	}
	if (map->nregs > SM_MB_MAX_REGS) {
		sm_diag_set(diag, "too many registers (%zu, at most %d)", map->nregs, SM_MB_MAX_REGS);
		return SM_E_CONFIG;
	}
	for (size_t i = 0; i < map->nregs; i++) {
		const struct sm_mb_reg *r = &map->regs[i];
		if (r->name == NULL || r->name[0] == '\0') {
			sm_diag_set(diag, "register %zu has no name", i + 1);
			return SM_E_CONFIG;
		}
		if (strnlen(r->name, SM_NAME_LEN) >= SM_NAME_LEN) {
			sm_diag_set(diag, "register name \"%.*s...\" is longer than %d characters", 20,
				    r->name, SM_NAME_LEN - 1);
			return SM_E_CONFIG;
		}
		if (r->function != SM_MB_FC_HOLDING && r->function != SM_MB_FC_INPUT) {
			sm_diag_set(diag, "register \"%s\": function %u (expected 3 or 4)", r->name,
				    (unsigned)r->function);
			return SM_E_CONFIG;
		}
		if (!type_ok(r->type)) {
			sm_diag_set(diag, "register \"%s\": invalid type %d", r->name, (int)r->type);
			return SM_E_CONFIG;
		}
		if (!order_ok(r->order)) {
			sm_diag_set(diag, "register \"%s\": invalid word order %d", r->name, (int)r->order);
			return SM_E_CONFIG;
		}
		if (r->mul == 0) {
			sm_diag_set(diag, "register \"%s\": scale factor is zero", r->name);
			return SM_E_CONFIG;
		}
		if ((unsigned)r->unit > (unsigned)SM_UNIT_OTHER ||
		    memchr(r->unit_text, '\0', sizeof r->unit_text) == NULL) {
			sm_diag_set(diag, "register \"%s\": invalid unit", r->name);
			return SM_E_CONFIG;
		}
		if ((uint32_t)r->address + reg_words(r) > 65536u) {
			sm_diag_set(diag, "register \"%s\" (FC%02u 0x%04X, %u words) runs past address 65535",
				    r->name, (unsigned)r->function, (unsigned)r->address, reg_words(r));
			return SM_E_CONFIG;
		}
		uint32_t span = single_span(map, r);
		if (span > map->max_count) {
			sm_diag_set(diag,
				    "register \"%s\" (FC%02u 0x%04X) needs %u registers in one request, more than the %u allowed",
				    r->name, (unsigned)r->function, (unsigned)r->address, (unsigned)span,
				    (unsigned)map->max_count);
			return SM_E_CONFIG;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(map->regs[j].name, r->name) == 0) {
				sm_diag_set(diag, "register \"%s\" is defined twice", r->name);
				return SM_E_CONFIG;
			}
		}
	}
	uint16_t idx[SM_MB_MAX_REGS];
	sort_regs(map->regs, map->nregs, idx);
	for (size_t k = 1; k < map->nregs; k++) {
		const struct sm_mb_reg *p = &map->regs[idx[k - 1]], *r = &map->regs[idx[k]];
		if (p->function == r->function && (uint32_t)r->address < (uint32_t)p->address + reg_words(p)) {
			sm_diag_set(diag, "register \"%s\" overlaps \"%s\" (FC%02u 0x%04X)", r->name, p->name,
				    (unsigned)r->function, (unsigned)r->address);
			return SM_E_CONFIG;
		}
	}
	return SM_OK;
}

/* ---- planning ---- */

enum sm_err sm_mb_plan_make(const struct sm_mb_map *map, struct sm_mb_plan *out, struct sm_diag *diag)
{
	enum sm_err e = sm_mb_map_check(map, diag);
	if (e != SM_OK)
		return e;
	memset(out, 0, sizeof *out);
	out->nregs = map->nregs;
	sort_regs(map->regs, map->nregs, out->order);

	const struct sm_mb_reg *regs = map->regs;
	size_t n = map->nregs, i = 0, nwords = 0, nreq = 0;
	while (i < n) {
		const struct sm_mb_reg *r0 = &regs[out->order[i]];
		uint32_t start = r0->address;
		if (map->even)
			start &= ~1u;
		uint32_t end = (uint32_t)r0->address + reg_words(r0);
		size_t j = i + 1;
		while (j < n) {
			const struct sm_mb_reg *rj = &regs[out->order[j]];
			if (rj->function != r0->function)
				break;
			uint32_t gap = (uint32_t)rj->address - end;
			if (map->max_gap != SM_MB_GAP_ANY && gap > map->max_gap)
				break;
			uint32_t nend = (uint32_t)rj->address + reg_words(rj);
			uint32_t cend = map->even ? ((nend + 1u) & ~1u) : nend;
			if (cend - start > map->max_count)
				break;
			end = nend;
			j++;
		}
		if (map->even)
			end = (end + 1u) & ~1u;
		uint32_t count = end - start;
		if (nreq >= SM_MB_MAX_REQS || nwords + count > SM_MB_MAX_WORDS) {
			sm_diag_set(diag, "the map needs more than %d requests or %d registers per poll",
				    SM_MB_MAX_REQS, SM_MB_MAX_WORDS);
			return SM_E_FULL;
		}
		struct sm_mb_req *q = &out->req[nreq];
		q->function = r0->function;
		q->start = (uint16_t)start;
		q->count = (uint16_t)count;
		q->word_off = (uint16_t)nwords;
		q->first = (uint16_t)i;
		q->nregs = (uint16_t)(j - i);
		for (size_t k = i; k < j; k++)
			out->reg_req[out->order[k]] = (uint16_t)nreq;
		nwords += count;
		nreq++;
		i = j;
	}
	out->nreq = nreq;
	out->nwords = nwords;
	return SM_OK;
}

enum sm_err sm_mb_plan_format(const struct sm_mb_map *map, const struct sm_mb_plan *plan, struct sm_buf *b)
{
	for (size_t i = 0; i < plan->nreq; i++) {
		const struct sm_mb_req *q = &plan->req[i];
		if (sm_buf_addf(b, "FC%02u 0x%04X +%u:", (unsigned)q->function, (unsigned)q->start,
				(unsigned)q->count) != SM_OK)
			return SM_E_FULL;
		for (size_t k = q->first; k < (size_t)q->first + q->nregs && k < plan->nregs; k++) {
			size_t ri = plan->order[k];
			if (ri >= map->nregs)
				continue;
			if (sm_buf_addc(b, ' ') != SM_OK || sm_buf_adds(b, map->regs[ri].name) != SM_OK)
				return SM_E_FULL;
		}
		if (sm_buf_addf(b, " (%u value%s)\n", (unsigned)q->nregs, q->nregs == 1 ? "" : "s") != SM_OK)
			return SM_E_FULL;
	}
	return SM_OK;
}

/* ---- words ---- */

static bool order_reverses(enum sm_mb_order o)
{
	return o == SM_MB_CDAB || o == SM_MB_DCBA;
}

static bool order_swaps(enum sm_mb_order o)
{
	return o == SM_MB_BADC || o == SM_MB_DCBA;
}

static uint16_t bswap16(uint16_t x)
{
	return (uint16_t)((x >> 8) | (x << 8));
}

/* The big-endian value A B C D ... held by n words in order o. */
static uint64_t words_get(const uint16_t *w, unsigned n, enum sm_mb_order o)
{
	uint64_t u = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t x = w[order_reverses(o) ? n - 1 - i : i];
		if (order_swaps(o))
			x = bswap16(x);
		u = (u << 16) | x;
	}
	return u;
}

static void words_put(uint64_t u, unsigned n, enum sm_mb_order o, uint16_t *w)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t x = (uint16_t)(u >> (16u * (n - 1 - i)));
		if (order_swaps(o))
			x = bswap16(x);
		w[order_reverses(o) ? n - 1 - i : i] = x;
	}
}

/* ---- exact decimals ---- */

typedef __int128 i128;

#define I64_MAX_128 ((i128)INT64_MAX)
#define I64_MIN_128 ((i128)INT64_MIN)

/* m * 10^sc into int64 * 10^int8: trailing zeros may be dropped, positive
 * exponents are moved into raw while it fits (as sm_decimal_rescale does). */
static enum sm_err dec_normalize(i128 m, int sc, int64_t *raw, int8_t *scale)
{
	if (m == 0) {
		*raw = 0;
		*scale = 0;
		return SM_OK;
	}
	while (m > I64_MAX_128 || m < I64_MIN_128) {
		if (m % 10 != 0)
			return SM_E_RANGE;
		m /= 10;
		sc++;
	}
	while (sc > 0 && m <= I64_MAX_128 / 10 && m >= I64_MIN_128 / 10) {
		m *= 10;
		sc--;
	}
	while (sc < INT8_MIN && m % 10 == 0) {
		m /= 10;
		sc++;
	}
	if (sc > INT8_MAX || sc < INT8_MIN)
		return SM_E_RANGE;
	*raw = (int64_t)m;
	*scale = (int8_t)sc;
	return SM_OK;
}

/* 10^n as a double: exact for n <= 22, rounded beyond. */
static double pow10_d(int n)
{
	static const double p[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	double v = 1.0;
	while (n > 22) {
		v *= p[22];
		n -= 22;
	}
	return v * p[n];
}

/* v * 10^d */
static double scale10(double v, int d)
{
	return d >= 0 ? v * pow10_d(d) : v / pow10_d(-d);
}

/*
 * Exact decimal expansions of binary floating-point values.
 *
 * A finite float is M * 2^f with integers M, f; so are the midpoints
 * between it and its neighbours.  M * 2^f is exactly the decimal
 * (M << f) for f >= 0 and (M * 5^-f) * 10^f for f < 0, computed with a
 * small fixed-size bignum.  The shortest decimal that reads back as the
 * float is then found by comparing digit strings, without any floating-point
 * arithmetic: no double rounding, no inexact powers of ten.
 */
#define BN_LIMBS 84   /* 2688 bits: 2^55 * 5^1075 (float64 midpoints) fits */
#define DEC_DIGITS 810 /* decimal digits of the largest such number */

struct bn {
	uint32_t l[BN_LIMBS]; /* little-endian limbs */
	size_t n;             /* limbs in use; 0 = zero */
};

static void bn_set(struct bn *b, uint64_t v)
{
	b->n = 0;
	while (v != 0) {
		b->l[b->n++] = (uint32_t)v;
		v >>= 32;
	}
}

static void bn_mul_small(struct bn *b, uint32_t f)
{
	uint64_t carry = 0;
	for (size_t i = 0; i < b->n; i++) {
		uint64_t t = (uint64_t)b->l[i] * f + carry;
		b->l[i] = (uint32_t)t;
		carry = t >> 32;
	}
	if (carry != 0 && b->n < BN_LIMBS)
		b->l[b->n++] = (uint32_t)carry;
}

static void bn_shl(struct bn *b, unsigned bits)
{
	if (b->n == 0)
		return;
	size_t words = bits / 32u;
	unsigned r = bits % 32u;
	size_t n = b->n + words + 1;
	if (n > BN_LIMBS)
		n = BN_LIMBS;
	for (size_t i = n; i-- > 0;) {
		uint64_t hi = (i >= words && i - words < b->n) ? b->l[i - words] : 0;
		uint64_t lo = (r != 0 && i >= words + 1 && i - words - 1 < b->n) ? b->l[i - words - 1] : 0;
		b->l[i] = (uint32_t)((hi << r) | (lo >> (32u - r)));
	}
	b->n = n;
	while (b->n > 0 && b->l[b->n - 1] == 0)
		b->n--;
}

/* b /= d, returns the remainder */
static uint32_t bn_divmod_small(struct bn *b, uint32_t d)
{
	uint64_t rem = 0;
	for (size_t i = b->n; i-- > 0;) {
		uint64_t cur = (rem << 32) | b->l[i];
		b->l[i] = (uint32_t)(cur / d);
		rem = cur % d;
	}
	while (b->n > 0 && b->l[b->n - 1] == 0)
		b->n--;
	return (uint32_t)rem;
}

/* A positive decimal: the integer d[0..n) (no leading zero) times 10^e. */
struct decs {
	char d[DEC_DIGITS];
	size_t n;
	int e;
};

/* The exact decimal of M * 2^f (M >= 1, |f| <= 1100). */
static void dyadic_to_dec(uint64_t m, int f, struct decs *out)
{
	struct bn b;
	bn_set(&b, m);
	out->e = 0;
	if (f >= 0) {
		bn_shl(&b, (unsigned)f);
	} else {
		int k = -f;
		out->e = f;
		while (k >= 13) {
			bn_mul_small(&b, 1220703125u); /* 5^13 */
			k -= 13;
		}
		uint32_t p = 1;
		while (k-- > 0)
			p *= 5u;
		bn_mul_small(&b, p);
	}
	/* nine digits at a time, least significant first */
	char tmp[DEC_DIGITS + 9];
	size_t t = 0;
	while (b.n > 0 && t + 9 <= sizeof tmp) {
		uint32_t chunk = bn_divmod_small(&b, 1000000000u);
		for (int i = 0; i < 9; i++) {
			tmp[t++] = (char)('0' + chunk % 10u);
			chunk /= 10u;
		}
	}
	while (t > 1 && tmp[t - 1] == '0')
		t--;
	size_t z = 0; /* trailing zeros go into the exponent */
	while (z + 1 < t && tmp[z] == '0')
		z++;
	out->e += (int)z;
	out->n = 0;
	for (size_t i = t; i-- > z && out->n < DEC_DIGITS;)
		out->d[out->n++] = tmp[i];
}

/* Compare the positive decimals a = d[0..n) * 10^e and b. */
static int decs_cmp(const char *ad, size_t an, int ae, const struct decs *b)
{
	long ma = (long)an + ae, mb = (long)b->n + b->e; /* magnitude of the leading digit */
	if (ma != mb)
		return ma < mb ? -1 : 1;
	size_t n = an > b->n ? an : b->n;
	for (size_t i = 0; i < n; i++) {
		char x = i < an ? ad[i] : '0', y = i < b->n ? b->d[i] : '0';
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* Is the decimal strictly inside (lo, hi), or on a bound when ties round to v? */
static bool decs_inside(const char *d, size_t n, int e, const struct decs *lo, const struct decs *hi, bool ties)
{
	int a = decs_cmp(d, n, e, lo), b = decs_cmp(d, n, e, hi);
	return (a > 0 || (ties && a == 0)) && (b < 0 || (ties && b == 0));
}

static bool digits_to_i64(const char *d, size_t n, int64_t *out)
{
	if (n > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (d[i] - '0');
	*out = v;
	return true;
}

/*
 * The shortest decimal r * 10^sc that reads back (round to nearest, ties to
 * even) as the positive finite float M * 2^f, where the float's neighbours
 * are (M - 1) * 2^f and (M + 1) * 2^f except at the bottom of a binade
 * (low_half: the neighbour below is half as far).  Of two candidates of the
 * same length the nearer is taken (on a tie the even one).
 */
static bool shortest_decimal(uint64_t m, int f, bool low_half, int64_t *r, int *sc)
{
	struct decs v, lo, hi;
	dyadic_to_dec(m, f, &v);
	dyadic_to_dec(2 * m + 1, f - 1, &hi);
	if (low_half)
		dyadic_to_dec(4 * m - 1, f - 2, &lo);
	else
		dyadic_to_dec(2 * m - 1, f - 1, &lo);
	bool ties = (m & 1u) == 0;
	char up[20];
	for (size_t p = 1; p <= 18; p++) {
		const char *best = NULL;
		size_t bn = 0;
		int be = 0;
		if (v.n <= p) { /* the float's own decimal is this short */
			best = v.d;
			bn = v.n;
			be = v.e;
		} else {
			int e = v.e + (int)(v.n - p);
			/* v truncated to p digits, and the next p-digit decimal up */
			memcpy(up, v.d, p);
			size_t un = p;
			int ue = e;
			size_t i = p;
			while (i > 0 && up[i - 1] == '9')
				up[--i] = '0';
			if (i > 0) {
				up[i - 1]++;
			} else { /* 99..9 + 1 = 10^p */
				up[0] = '1';
				un = 1;
				ue = e + (int)p;
			}
			bool in_dn = decs_inside(v.d, p, e, &lo, &hi, ties);
			bool in_up = decs_inside(up, un, ue, &lo, &hi, ties);
			if (in_dn && in_up) {
				/* the nearer of the two: compare what was cut off with one half */
				int c = v.d[p] - '5';
				if (c == 0) {
					for (size_t k = p + 1; k < v.n; k++)
						if (v.d[k] != '0')
							c = 1;
				}
				if (c == 0) /* exactly between: the even one */
					c = ((v.d[p - 1] - '0') % 2 == 0) ? -1 : 1;
				in_dn = c < 0;
				in_up = !in_dn;
			}
			if (in_dn) {
				best = v.d;
				bn = p;
				be = e;
			} else if (in_up) {
				best = up;
				bn = un;
				be = ue;
			}
		}
		if (best != NULL) {
			int64_t x;
			if (!digits_to_i64(best, bn, &x))
				return false;
			while (x % 10 == 0) {
				x /= 10;
				be++;
			}
			*r = x;
			*sc = be;
			return true;
		}
	}
	return false;
}

/* The register's number as mantissa * 10^sc, before its factor. */
static enum sm_err reg_number(const struct sm_mb_reg *reg, const uint16_t *w, i128 *m_out, int *sc)
{
	unsigned n = sm_mb_type_words(reg->type);
	uint64_t u = words_get(w, n, reg->order);
	bool inv = (reg->flags & SM_MB_F_INVALID_MAX) != 0;
	*sc = 0;
	switch (reg->type) {
	case SM_MB_INT16:
		if (inv && u == 0x7FFFu)
			return SM_E_EMPTY;
		*m_out = (int16_t)(uint16_t)u;
		return SM_OK;
	case SM_MB_UINT16:
		if (inv && u == 0xFFFFu)
			return SM_E_EMPTY;
		*m_out = (i128)u;
		return SM_OK;
	case SM_MB_INT32:
		if (inv && u == 0x7FFFFFFFu)
			return SM_E_EMPTY;
		*m_out = (int32_t)(uint32_t)u;
		return SM_OK;
	case SM_MB_UINT32:
		if (inv && u == 0xFFFFFFFFu)
			return SM_E_EMPTY;
		*m_out = (i128)u;
		return SM_OK;
	case SM_MB_INT64:
		if (inv && u == (uint64_t)INT64_MAX)
			return SM_E_EMPTY;
		*m_out = (int64_t)u;
		return SM_OK;
	case SM_MB_UINT64:
		if (inv && u == UINT64_MAX)
			return SM_E_EMPTY;
		*m_out = (i128)u;
		return SM_OK;
	case SM_MB_FLOAT32:
	case SM_MB_FLOAT64: {
		bool is32 = reg->type == SM_MB_FLOAT32;
		if (inv && u == (is32 ? 0xFFFFFFFFu : UINT64_MAX))
			return SM_E_EMPTY;
		/* |value| = m * 2^f */
		unsigned mbits = is32 ? 23u : 52u, ebits = is32 ? 8u : 11u;
		int bias = is32 ? 127 : 1023;
		uint64_t frac = u & ((1ull << mbits) - 1u);
		unsigned ef = (unsigned)(u >> mbits) & ((1u << ebits) - 1u);
		bool neg = ((u >> (mbits + ebits)) & 1u) != 0;
		if (ef == (1u << ebits) - 1u)
			return SM_E_RANGE; /* NaN, infinities */
		uint64_t m;
		int f;
		if (ef == 0) {
			if (frac == 0) { /* +0 and -0 */
				*m_out = 0;
				return SM_OK;
			}
			m = frac;
			f = 1 - bias - (int)mbits;
		} else {
			m = frac | (1ull << mbits);
			f = (int)ef - bias - (int)mbits;
		}
		int64_t r;
		int d;
		if (!shortest_decimal(m, f, frac == 0 && ef > 1, &r, &d))
			return SM_E_RANGE;
		*m_out = neg ? -(i128)r : (i128)r;
		*sc = d;
		return SM_OK;
	}
	}
	return SM_E_RANGE;
}

static bool reg_valid(const struct sm_mb_reg *reg)
{
	return reg != NULL && type_ok(reg->type) && order_ok(reg->order) && reg->mul != 0;
}

enum sm_err sm_mb_value_decode(const struct sm_mb_reg *reg, const uint16_t *w, int64_t *raw, int8_t *scale)
{
	if (!reg_valid(reg) || w == NULL)
		return SM_E_RANGE;
	i128 m;
	int sc;
	enum sm_err e = reg_number(reg, w, &m, &sc);
	if (e != SM_OK)
		return e;
	/* |m| < 2^64 and |mul| <= 2^63: the product fits */
	m *= (i128)reg->mul;
	return dec_normalize(m, sc + reg->exp, raw, scale);
}

/* 10^n as i128, false beyond 10^38. */
static bool pow10_128(int n, i128 *out)
{
	if (n < 0 || n > 38)
		return false;
	i128 v = 1;
	for (int i = 0; i < n; i++)
		v *= 10;
	*out = v;
	return true;
}

/* raw * 10^scale == r2 * 10^s2 as values */
static bool dec_equal(int64_t r1, int s1, int64_t r2, int s2)
{
	if (r1 == 0 || r2 == 0)
		return r1 == r2;
	while (r1 % 10 == 0) {
		r1 /= 10;
		s1++;
	}
	while (r2 % 10 == 0) {
		r2 /= 10;
		s2++;
	}
	return r1 == r2 && s1 == s2;
}

static enum sm_err encode_int(const struct sm_mb_reg *reg, int64_t raw, int8_t scale, uint16_t *w)
{
	int t = (int)scale - (int)reg->exp;
	i128 num, den, p;
	i128 n;
	if (raw == 0) {
		n = 0;
	} else {
		if (!pow10_128(t > 0 ? t : 0, &p) || __builtin_mul_overflow((i128)raw, p, &num))
			return SM_E_RANGE;
		if (!pow10_128(t < 0 ? -t : 0, &p) || __builtin_mul_overflow((i128)reg->mul, p, &den))
			return SM_E_RANGE; /* |den| > 10^38 > |num|: not a whole multiple */
		if (num % den != 0)
			return SM_E_RANGE;
		n = num / den;
	}
	bool inv = (reg->flags & SM_MB_F_INVALID_MAX) != 0;
	uint64_t u;
	switch (reg->type) {
	case SM_MB_INT16:
		if (n < INT16_MIN || n > INT16_MAX || (inv && n == INT16_MAX))
			return SM_E_RANGE;
		u = (uint16_t)(int16_t)n;
		break;
	case SM_MB_UINT16:
		if (n < 0 || n > UINT16_MAX || (inv && n == UINT16_MAX))
			return SM_E_RANGE;
		u = (uint64_t)n;
		break;
	case SM_MB_INT32:
		if (n < INT32_MIN || n > INT32_MAX || (inv && n == INT32_MAX))
			return SM_E_RANGE;
		u = (uint32_t)(int32_t)n;
		break;
	case SM_MB_UINT32:
		if (n < 0 || n > UINT32_MAX || (inv && n == UINT32_MAX))
			return SM_E_RANGE;
		u = (uint64_t)n;
		break;
	case SM_MB_INT64:
		if (n < I64_MIN_128 || n > I64_MAX_128 || (inv && n == I64_MAX_128))
			return SM_E_RANGE;
		u = (uint64_t)(int64_t)n;
		break;
	case SM_MB_UINT64:
		if (n < 0 || n > (i128)UINT64_MAX || (inv && n == (i128)UINT64_MAX))
			return SM_E_RANGE;
		u = (uint64_t)n;
		break;
	default:
		return SM_E_RANGE;
	}
	words_put(u, sm_mb_type_words(reg->type), reg->order, w);
	return SM_OK;
}

/* Does the float with these bits decode to raw * 10^scale?  Writes the words. */
static bool float_try(const struct sm_mb_reg *reg, uint64_t bits, int64_t raw, int8_t scale, uint16_t *w)
{
	words_put(bits, sm_mb_type_words(reg->type), reg->order, w);
	int64_t r2;
	int8_t s2;
	if (sm_mb_value_decode(reg, w, &r2, &s2) != SM_OK)
		return false;
	return dec_equal(raw, scale, r2, s2);
}

static enum sm_err encode_float(const struct sm_mb_reg *reg, int64_t raw, int8_t scale, uint16_t *w)
{
	bool is32 = reg->type == SM_MB_FLOAT32;
	if (raw == 0) {
		words_put(0, sm_mb_type_words(reg->type), reg->order, w);
		return SM_OK;
	}
	/* approximate number = raw * 10^(scale - exp) / mul; try its neighbours */
	double x = scale10((double)raw, (int)scale - (int)reg->exp) / (double)reg->mul;
	if (!isfinite(x))
		return SM_E_RANGE;
	if (is32) {
		float f = (float)x;
		if (!isfinite(f))
			return SM_E_RANGE;
		float cand[3] = { f, nextafterf(f, INFINITY), nextafterf(f, -INFINITY) };
		for (int i = 0; i < 3; i++) {
			uint32_t b;
			memcpy(&b, &cand[i], sizeof b);
			if (isfinite(cand[i]) && float_try(reg, b, raw, scale, w))
				return SM_OK;
		}
	} else {
		/* x is within a few units in the last place (several roundings
		 * when |scale - exp| > 22) */
		double up = x, dn = x;
		for (int i = 0; i < 12; i++) {
			uint64_t b;
			if (isfinite(up)) {
				memcpy(&b, &up, sizeof b);
				if (float_try(reg, b, raw, scale, w))
					return SM_OK;
			}
			if (i > 0 && isfinite(dn)) {
				memcpy(&b, &dn, sizeof b);
				if (float_try(reg, b, raw, scale, w))
					return SM_OK;
			}
			up = nextafter(up, INFINITY);
			dn = nextafter(dn, -INFINITY);
		}
	}
	return SM_E_RANGE;
}

enum sm_err sm_mb_value_encode(const struct sm_mb_reg *reg, int64_t raw, int8_t scale, uint16_t *w)
{
	if (!reg_valid(reg) || w == NULL)
		return SM_E_RANGE;
	if (reg->type == SM_MB_FLOAT32 || reg->type == SM_MB_FLOAT64)
		return encode_float(reg, raw, scale, w);
	return encode_int(reg, raw, scale, w);
}

/* ---- a poll ---- */

enum sm_err sm_mb_decode(const struct sm_mb_map *map, const struct sm_mb_plan *plan, const uint16_t *words,
			 const bool *ok, struct sm_reading_set *out, unsigned *bad)
{
	unsigned nbad = 0;
	sm_set_clear(out);
	for (size_t i = 0; i < map->nregs && i < plan->nregs; i++) {
		const struct sm_mb_reg *r = &map->regs[i];
		size_t qi = plan->reg_req[i];
		if (qi >= plan->nreq)
			continue;
		if (ok != NULL && !ok[qi])
			continue;
		const struct sm_mb_req *q = &plan->req[qi];
		unsigned nw = sm_mb_type_words(r->type);
		if (r->function != q->function || r->address < q->start ||
		    (uint32_t)r->address + nw > (uint32_t)q->start + q->count) {
			nbad++; /* a plan of another map: never for a plan made from this map */
			continue;
		}
		int64_t raw;
		int8_t scale;
		enum sm_err e = sm_mb_value_decode(r, words + q->word_off + (r->address - q->start), &raw, &scale);
		if (e == SM_E_EMPTY)
			continue;
		if (e != SM_OK) {
			nbad++;
			continue;
		}
		const char *ut = NULL;
		size_t utn = 0;
		if (r->unit == SM_UNIT_OTHER) {
			ut = r->unit_text;
			utn = strnlen(r->unit_text, sizeof r->unit_text);
		}
		if (sm_set_add_named(out, r->name, r->obis.present ? &r->obis : NULL, raw, scale, r->unit, ut,
				     utn, 0) != SM_OK)
			nbad++;
	}
	sm_set_finish(out);
	if (bad != NULL)
		*bad = nbad;
	return out->n > 0 ? SM_READINGS : SM_E_EMPTY;
}
