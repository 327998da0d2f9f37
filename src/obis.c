/* obis.c - OBIS codes: parse, format, units, kinds and canonical names
 * (see obis.h and SPEC.md section 6). */
#include <string.h>

#include "buf.h"
#include "obis.h"

struct sm_obis sm_obis_make(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f)
{
	struct sm_obis o = { .v = { a, b, c, d, e, f }, .present = 0x3f, .letter = 0 };
	return o;
}

struct sm_obis sm_obis_make5(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e)
{
	struct sm_obis o = { .v = { a, b, c, d, e, 255 }, .present = 0x1f, .letter = 0 };
	return o;
}

/* ---- parse ---- */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_upper(char ch) { return ch >= 'A' && ch <= 'Z'; }
static bool is_alnum(char ch) { return is_digit(ch) || is_upper(ch) || (ch >= 'a' && ch <= 'z'); }

/* One value group at p[*i]: decimal 0..255 or one letter A-Z. */
static enum sm_err parse_group(const char *p, size_t n, size_t *i, struct sm_obis *o, int g)
{
	size_t k = *i;
	if (k >= n)
		return SM_E_SYNTAX;
	if (is_upper(p[k])) {
		k++;
		if (k < n && is_alnum(p[k]))
			return SM_E_SYNTAX;
		o->v[g] = (uint8_t)p[*i];
		o->letter |= (uint8_t)SM_OBIS_BIT(g);
	} else if (is_digit(p[k])) {
		unsigned v = 0;
		while (k < n && is_digit(p[k])) {
			if (v <= 255)
				v = v * 10u + (unsigned)(p[k] - '0');
			k++;
		}
		if (k < n && is_alnum(p[k]))
			return SM_E_SYNTAX;
		if (v > 255)
			return SM_E_RANGE;
		o->v[g] = (uint8_t)v;
	} else {
		return SM_E_SYNTAX;
	}
	o->present |= (uint8_t)SM_OBIS_BIT(g);
	*i = k;
	return SM_OK;
}

/*
 * Besides the forms of obis.h this accepts what real meters and the DSMR
 * specification examples send: C.D*F ("6.26*01", Siemens UH50), a lone
 * letter address ("F(0)", an error register), a '.' before F
 * ("1-0:31.7.0.255", DSMR 4.2.2) and a ':' between C and D ("1-0:72:32.0",
 * DSMR 4.0).  Formatting always gives the canonical form.
 */
enum sm_err sm_obis_parse(const char *p, size_t n, size_t *used, struct sm_obis *out)
{
	struct sm_obis o = { .v = { 0, 0, 0, 0, 0, 255 }, .present = 0, .letter = 0 };
	size_t i = 0;
	enum sm_err e;

	if (p == NULL)
		return SM_E_SYNTAX;
	/* The first group is A (if followed by '-') or C (if followed by '.'). */
	struct sm_obis first = o;
	if ((e = parse_group(p, n, &i, &first, SM_OBIS_A)) != SM_OK)
		return e;
	bool full = false;
	if (i < n && p[i] == '-') {
		o = first;
		full = true;
		i++;
		if ((e = parse_group(p, n, &i, &o, SM_OBIS_B)) != SM_OK)
			return e;
		if (i >= n || p[i] != ':')
			return SM_E_SYNTAX;
		i++;
		if ((e = parse_group(p, n, &i, &o, SM_OBIS_C)) != SM_OK)
			return e;
	} else if (i < n && p[i] == '.') {
		i = 0;
		if ((e = parse_group(p, n, &i, &o, SM_OBIS_C)) != SM_OK)
			return e;
	} else if (first.letter != 0) {
		/* a lone letter address: "F(0)" */
		o.v[SM_OBIS_C] = first.v[SM_OBIS_A];
		o.present = (uint8_t)SM_OBIS_BIT(SM_OBIS_C);
		o.letter = (uint8_t)SM_OBIS_BIT(SM_OBIS_C);
		*out = o;
		*used = i;
		return SM_OK;
	} else {
		return SM_E_SYNTAX;
	}
	if (i >= n || (p[i] != '.' && !(full && p[i] == ':')))
		return SM_E_SYNTAX;
	i++;
	if ((e = parse_group(p, n, &i, &o, SM_OBIS_D)) != SM_OK)
		return e;
	if (i < n && p[i] == '.') {
		i++;
		if ((e = parse_group(p, n, &i, &o, SM_OBIS_E)) != SM_OK)
			return e;
		if (i < n && (p[i] == '*' || p[i] == '.')) {
			i++;
			if ((e = parse_group(p, n, &i, &o, SM_OBIS_F)) != SM_OK)
				return e;
		}
	} else if (i < n && p[i] == '*') {
		i++;
		if ((e = parse_group(p, n, &i, &o, SM_OBIS_F)) != SM_OK)
			return e;
	}
	*out = o;
	*used = i;
	return SM_OK;
}

/* ---- compare / format ---- */

static bool has(const struct sm_obis *o, int g) { return (o->present & SM_OBIS_BIT(g)) != 0; }
static bool is_letter(const struct sm_obis *o, int g) { return (o->letter & SM_OBIS_BIT(g)) != 0; }

bool sm_obis_eq(const struct sm_obis *x, const struct sm_obis *y)
{
	for (int g = SM_OBIS_A; g <= SM_OBIS_E; g++) {
		if (has(x, g) != has(y, g))
			return false;
		if (!has(x, g))
			continue;
		if (is_letter(x, g) != is_letter(y, g) || x->v[g] != y->v[g])
			return false;
	}
	/* F: absent means 255 */
	bool xl = has(x, SM_OBIS_F) && is_letter(x, SM_OBIS_F);
	bool yl = has(y, SM_OBIS_F) && is_letter(y, SM_OBIS_F);
	uint8_t xf = has(x, SM_OBIS_F) ? x->v[SM_OBIS_F] : 255;
	uint8_t yf = has(y, SM_OBIS_F) ? y->v[SM_OBIS_F] : 255;
	return xl == yl && xf == yf;
}

static void add_group(struct sm_buf *b, const struct sm_obis *o, int g)
{
	if (is_letter(o, g))
		(void)sm_buf_addc(b, (char)o->v[g]);
	else
		(void)sm_buf_add_i64(b, o->v[g]);
}

/* Is F a historic value (present, and not the numeric 255)? */
static bool f_historic(const struct sm_obis *o)
{
	return has(o, SM_OBIS_F) && (is_letter(o, SM_OBIS_F) || o->v[SM_OBIS_F] != 255);
}

void sm_obis_format(const struct sm_obis *o, char *out, size_t cap)
{
	char tmp[SM_OBIS_STRLEN + 8];
	struct sm_buf b;
	if (o->present == 0) { /* no code at all (a Modbus register without one) */
		if (cap > 0)
			out[0] = '\0';
		return;
	}
	sm_buf_init(&b, tmp, sizeof tmp);
	if (has(o, SM_OBIS_A) && has(o, SM_OBIS_B)) {
		add_group(&b, o, SM_OBIS_A);
		(void)sm_buf_addc(&b, '-');
		add_group(&b, o, SM_OBIS_B);
		(void)sm_buf_addc(&b, ':');
	}
	add_group(&b, o, SM_OBIS_C);
	if (has(o, SM_OBIS_D)) {
		(void)sm_buf_addc(&b, '.');
		add_group(&b, o, SM_OBIS_D);
	}
	if (has(o, SM_OBIS_E)) {
		(void)sm_buf_addc(&b, '.');
		add_group(&b, o, SM_OBIS_E);
	}
	if (f_historic(o)) {
		(void)sm_buf_addc(&b, '*');
		add_group(&b, o, SM_OBIS_F);
	}
	if (cap == 0)
		return;
	size_t k = b.len < cap - 1 ? b.len : cap - 1;
	memcpy(out, tmp, k);
	out[k] = '\0';
}

/* ---- units ---- */

const char *sm_unit_str(enum sm_unit u)
{
	switch (u) {
	case SM_UNIT_NONE: return "";
	case SM_UNIT_WH: return "Wh";
	case SM_UNIT_VARH: return "varh";
	case SM_UNIT_VAH: return "VAh";
	case SM_UNIT_W: return "W";
	case SM_UNIT_VAR: return "var";
	case SM_UNIT_VA: return "VA";
	case SM_UNIT_V: return "V";
	case SM_UNIT_A: return "A";
	case SM_UNIT_HZ: return "Hz";
	case SM_UNIT_M3: return "m3";
	case SM_UNIT_S: return "s";
	case SM_UNIT_CELSIUS: return "\xc2\xb0" "C";
	case SM_UNIT_OTHER: return "?";
	}
	return "?";
}

struct unit_row {
	const char *text;
	enum sm_unit unit;
	int8_t exp10;
	bool prefixable; /* accepts k/K (+3), M (+6), m (-3) in front */
};

static const struct unit_row unit_rows[] = {
	{ "Wh", SM_UNIT_WH, 0, true },
	{ "varh", SM_UNIT_VARH, 0, true },
	{ "VArh", SM_UNIT_VARH, 0, true },
	{ "VAh", SM_UNIT_VAH, 0, true },
	{ "W", SM_UNIT_W, 0, true },
	{ "var", SM_UNIT_VAR, 0, true },
	{ "VAr", SM_UNIT_VAR, 0, true },
	{ "VA", SM_UNIT_VA, 0, true },
	{ "V", SM_UNIT_V, 0, true },
	{ "A", SM_UNIT_A, 0, true },
	{ "Hz", SM_UNIT_HZ, 0, false },
	{ "s", SM_UNIT_S, 0, false },
	{ "m3", SM_UNIT_M3, 0, false },
	{ "dm3", SM_UNIT_M3, -3, false },
	{ "l", SM_UNIT_M3, -3, false },
	{ "\xc2\xb0" "C", SM_UNIT_CELSIUS, 0, false },
	{ "*C", SM_UNIT_CELSIUS, 0, false },
	{ "C", SM_UNIT_CELSIUS, 0, false },
};

static char ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool same_text(const char *a, const char *b, size_t n, bool fold)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];
		if (fold) {
			x = ascii_lower(x);
			y = ascii_lower(y);
		}
		if (x != y)
			return false;
	}
	return true;
}

static const struct unit_row *unit_lookup(const char *p, size_t n, bool fold)
{
	for (size_t i = 0; i < sizeof unit_rows / sizeof unit_rows[0]; i++) {
		const struct unit_row *r = &unit_rows[i];
		if (strlen(r->text) == n && same_text(r->text, p, n, fold))
			return r;
	}
	return NULL;
}

static bool unit_match(const char *p, size_t n, bool fold, enum sm_unit *unit, int8_t *exp10)
{
	const struct unit_row *r = unit_lookup(p, n, fold);
	if (r != NULL) {
		*unit = r->unit;
		*exp10 = r->exp10;
		return true;
	}
	if (n < 2)
		return false;
	int8_t e = 0;
	switch (p[0]) {
	case 'k': case 'K': e = 3; break;
	case 'M': e = 6; break;
	case 'm': e = -3; break;
	default: return false;
	}
	r = unit_lookup(p + 1, n - 1, fold);
	/* milli only for the small units: mA, mV */
	if (r == NULL || !r->prefixable ||
	    (e < 0 && r->unit != SM_UNIT_A && r->unit != SM_UNIT_V))
		return false;
	*unit = r->unit;
	*exp10 = (int8_t)(r->exp10 + e);
	return true;
}

/* Exact spelling first; then, because some meters send "kwh" or "v", the
 * same table ignoring ASCII case (the prefix letter keeps its meaning:
 * 'm' milli, 'M' mega). */
enum sm_err sm_unit_parse(const char *p, size_t n, enum sm_unit *unit, int8_t *exp10)
{
	*unit = SM_UNIT_NONE;
	*exp10 = 0;
	if (p == NULL || n == 0)
		return SM_OK;
	if (unit_match(p, n, false, unit, exp10) || unit_match(p, n, true, unit, exp10))
		return SM_OK;
	*unit = SM_UNIT_OTHER;
	*exp10 = 0;
	return SM_OK;
}

/* ---- kinds ---- */

const char *sm_kind_collectd_type(enum sm_kind k)
{
	switch (k) {
	case SM_KIND_GAUGE: return "gauge";
	case SM_KIND_ENERGY: return "energy_wh";
	case SM_KIND_POWER: return "power";
	case SM_KIND_VOLTAGE: return "voltage";
	case SM_KIND_CURRENT: return "current";
	case SM_KIND_FREQUENCY: return "frequency";
	case SM_KIND_COUNT: return "count";
	case SM_KIND_TEXT: return NULL;
	}
	return "gauge";
}

enum sm_medium sm_medium_from_device_type(unsigned t)
{
	switch (t) {
	case 3: return SM_MEDIUM_GAS;
	case 6: case 7: return SM_MEDIUM_WATER;
	case 4: case 0x0C: return SM_MEDIUM_HEAT;
	default: return SM_MEDIUM_UNKNOWN;
	}
}

/* ---- canonical names: SPEC.md section 6 as a table ---- */

enum {
	ROW_TARIFF = 1, /* E = 1..9 also matches, adding "_tE" */
	ROW_POWERQ = 2, /* a power quantity: C.4.0 / C.6.0 give _demand / _max */
	ROW_COUNT = 4,  /* an event counter: kind COUNT */
	ROW_MBUS = 8,   /* M-Bus channel value: name from the channel's medium */
};

struct name_row {
	uint8_t a, c, d, e;
	uint8_t flags;
	const char *name;
};

static const struct name_row name_rows[] = {
	/* energy totals */
	{ 1, 1, 8, 0, ROW_TARIFF, "energy_import" },
	{ 1, 2, 8, 0, ROW_TARIFF, "energy_export" },
	{ 1, 3, 8, 0, 0, "reactive_energy_import" },
	{ 1, 4, 8, 0, 0, "reactive_energy_export" },
	{ 1, 5, 8, 0, 0, "reactive_energy_q1" },
	{ 1, 6, 8, 0, 0, "reactive_energy_q2" },
	{ 1, 7, 8, 0, 0, "reactive_energy_q3" },
	{ 1, 8, 8, 0, 0, "reactive_energy_q4" },
	{ 1, 9, 8, 0, 0, "apparent_energy_import" },
	{ 1, 10, 8, 0, 0, "apparent_energy_export" },
	{ 1, 15, 8, 0, 0, "energy_absolute" },
	{ 1, 16, 8, 0, 0, "energy_net" },
	{ 1, 21, 8, 0, 0, "energy_import_l1" },
	{ 1, 41, 8, 0, 0, "energy_import_l2" },
	{ 1, 61, 8, 0, 0, "energy_import_l3" },
	{ 1, 22, 8, 0, 0, "energy_export_l1" },
	{ 1, 42, 8, 0, 0, "energy_export_l2" },
	{ 1, 62, 8, 0, 0, "energy_export_l3" },
	/* instantaneous power */
	{ 1, 1, 7, 0, ROW_POWERQ, "power_import" },
	{ 1, 2, 7, 0, ROW_POWERQ, "power_export" },
	{ 1, 3, 7, 0, ROW_POWERQ, "reactive_power_import" },
	{ 1, 4, 7, 0, ROW_POWERQ, "reactive_power_export" },
	{ 1, 5, 7, 0, ROW_POWERQ, "reactive_power_q1" },
	{ 1, 6, 7, 0, ROW_POWERQ, "reactive_power_q2" },
	{ 1, 7, 7, 0, ROW_POWERQ, "reactive_power_q3" },
	{ 1, 8, 7, 0, ROW_POWERQ, "reactive_power_q4" },
	{ 1, 9, 7, 0, ROW_POWERQ, "apparent_power_import" },
	{ 1, 10, 7, 0, ROW_POWERQ, "apparent_power_export" },
	{ 1, 15, 7, 0, ROW_POWERQ, "power_absolute" },
	{ 1, 16, 7, 0, ROW_POWERQ, "power_net" },
	{ 1, 21, 7, 0, ROW_POWERQ, "power_import_l1" },
	{ 1, 41, 7, 0, ROW_POWERQ, "power_import_l2" },
	{ 1, 61, 7, 0, ROW_POWERQ, "power_import_l3" },
	{ 1, 22, 7, 0, ROW_POWERQ, "power_export_l1" },
	{ 1, 42, 7, 0, ROW_POWERQ, "power_export_l2" },
	{ 1, 62, 7, 0, ROW_POWERQ, "power_export_l3" },
	{ 1, 36, 7, 0, ROW_POWERQ, "power_net_l1" },
	{ 1, 56, 7, 0, ROW_POWERQ, "power_net_l2" },
	{ 1, 76, 7, 0, ROW_POWERQ, "power_net_l3" },
	/* current, voltage, power factor, frequency */
	{ 1, 31, 7, 0, 0, "current_l1" },
	{ 1, 51, 7, 0, 0, "current_l2" },
	{ 1, 71, 7, 0, 0, "current_l3" },
	{ 1, 91, 7, 0, 0, "current_neutral" },
	{ 1, 32, 7, 0, 0, "voltage_l1" },
	{ 1, 52, 7, 0, 0, "voltage_l2" },
	{ 1, 72, 7, 0, 0, "voltage_l3" },
	{ 1, 13, 7, 0, 0, "power_factor" },
	{ 1, 33, 7, 0, 0, "power_factor_l1" },
	{ 1, 53, 7, 0, 0, "power_factor_l2" },
	{ 1, 73, 7, 0, 0, "power_factor_l3" },
	{ 1, 14, 7, 0, 0, "frequency" },
	/* voltage quality events */
	{ 1, 32, 32, 0, ROW_COUNT, "voltage_sags_l1" },
	{ 1, 52, 32, 0, ROW_COUNT, "voltage_sags_l2" },
	{ 1, 72, 32, 0, ROW_COUNT, "voltage_sags_l3" },
	{ 1, 32, 36, 0, ROW_COUNT, "voltage_swells_l1" },
	{ 1, 52, 36, 0, ROW_COUNT, "voltage_swells_l2" },
	{ 1, 72, 36, 0, ROW_COUNT, "voltage_swells_l3" },
	/* abstract objects */
	{ 0, 96, 14, 0, 0, "tariff" },
	{ 0, 96, 7, 21, ROW_COUNT, "power_failures" },
	{ 0, 96, 7, 9, ROW_COUNT, "long_power_failures" },
	/* M-Bus channels 0-n:... */
	{ 0, 24, 2, 1, ROW_MBUS, NULL },
	{ 0, 24, 2, 3, ROW_MBUS, NULL },
	{ 0, 24, 3, 0, ROW_MBUS, NULL },
};
#define NAME_ROWS (sizeof name_rows / sizeof name_rows[0])

static const char *const medium_names[] = {
	[SM_MEDIUM_UNKNOWN] = NULL,
	[SM_MEDIUM_GAS] = "gas_volume",
	[SM_MEDIUM_WATER] = "water_volume",
	[SM_MEDIUM_HEAT] = "heat_energy",
};

/* Demand / maximum processing of a power quantity (value group D). */
struct derived_d {
	uint8_t d;
	const char *suffix;
};
static const struct derived_d derived_ds[] = {
	{ 4, "_demand" },
	{ 6, "_max" },
};

struct name_match {
	const struct name_row *row;
	const char *suffix;  /* "_demand"/"_max" or NULL */
	unsigned tariff;     /* 1..9 or 0 */
	unsigned channel;    /* B > 1 of an electricity code, or 0 */
	unsigned mbus_ch;    /* M-Bus channel B of an ROW_MBUS row */
};

static const struct name_row *row_find(int a, unsigned c, unsigned d, unsigned e, unsigned *tariff)
{
	for (size_t i = 0; i < NAME_ROWS; i++) {
		const struct name_row *r = &name_rows[i];
		if ((a >= 0 && r->a != a) || r->c != c || r->d != d)
			continue;
		if (r->e == e) {
			*tariff = 0;
			return r;
		}
		if ((r->flags & ROW_TARIFF) && e >= 1 && e <= 9) {
			*tariff = e;
			return r;
		}
	}
	return NULL;
}

/* Find the table row naming o (groups A..E; F is handled by the caller). */
static bool name_match(const struct sm_obis *o, struct name_match *m)
{
	memset(m, 0, sizeof *m);
	if ((o->letter & 0x1f) != 0)
		return false;
	if (!has(o, SM_OBIS_C) || !has(o, SM_OBIS_D) || !has(o, SM_OBIS_E))
		return false;
	/* A reduced code (no A-B) is matched against every medium. */
	int a = has(o, SM_OBIS_A) ? o->v[SM_OBIS_A] : -1;
	unsigned b = has(o, SM_OBIS_B) ? o->v[SM_OBIS_B] : 0;
	unsigned c = o->v[SM_OBIS_C], d = o->v[SM_OBIS_D], e = o->v[SM_OBIS_E];
	const struct name_row *r = row_find(a, c, d, e, &m->tariff);
	if (r == NULL && e == 0) {
		for (size_t i = 0; i < sizeof derived_ds / sizeof derived_ds[0]; i++) {
			if (derived_ds[i].d != d)
				continue;
			r = row_find(a, c, 7, 0, &m->tariff);
			if (r != NULL && (r->flags & ROW_POWERQ)) {
				m->suffix = derived_ds[i].suffix;
				break;
			}
			r = NULL;
		}
	}
	if (r == NULL)
		return false;
	if (r->flags & ROW_MBUS) {
		if (a < 0 || !has(o, SM_OBIS_B) || b < 1)
			return false;
		m->mbus_ch = b;
	} else if (r->a == 1) {
		if (b > 1)
			m->channel = b;
	} else if (b != 0) {
		return false;
	}
	m->row = r;
	return true;
}

static void copy_out(const struct sm_buf *b, char *out, size_t cap)
{
	if (cap == 0)
		return;
	size_t k = b->len < cap - 1 ? b->len : cap - 1;
	memcpy(out, b->p, k);
	out[k] = '\0';
}

static void add_suffix_f(struct sm_buf *b, const struct sm_obis *o)
{
	if (f_historic(o)) {
		(void)sm_buf_adds(b, "_f");
		add_group(b, o, SM_OBIS_F);
	}
}

void sm_obis_name(const struct sm_obis *o, const struct sm_name_ctx *ctx, char *out, size_t cap)
{
	char tmp[SM_NAME_LEN + 16];
	struct sm_buf b;
	struct name_match m;
	sm_buf_init(&b, tmp, sizeof tmp);

	const char *base = NULL;
	unsigned rank = 0;
	if (name_match(o, &m)) {
		if (m.row->flags & ROW_MBUS) {
			unsigned ch = m.mbus_ch;
			if (ctx != NULL && ch < sizeof ctx->media / sizeof ctx->media[0]) {
				enum sm_medium md = ctx->media[ch];
				if ((unsigned)md < sizeof medium_names / sizeof medium_names[0])
					base = medium_names[md];
				rank = ctx->medium_rank[ch];
			}
		} else {
			base = m.row->name;
		}
	}
	if (base != NULL) {
		(void)sm_buf_adds(&b, base);
		if (m.suffix != NULL)
			(void)sm_buf_adds(&b, m.suffix);
		if (m.tariff != 0)
			(void)sm_buf_addf(&b, "_t%u", m.tariff);
		if (rank > 1)
			(void)sm_buf_addf(&b, "_ch%u", rank);
		if (m.channel != 0)
			(void)sm_buf_addf(&b, "_ch%u", m.channel);
	} else {
		(void)sm_buf_adds(&b, "obis");
		for (int g = SM_OBIS_A; g <= SM_OBIS_E; g++) {
			if (!has(o, g))
				continue;
			(void)sm_buf_addc(&b, '_');
			add_group(&b, o, g);
		}
	}
	add_suffix_f(&b, o);
	copy_out(&b, out, cap);
}

enum sm_kind sm_obis_kind(const struct sm_obis *o, enum sm_unit unit)
{
	struct name_match m;
	if (name_match(o, &m) && (m.row->flags & ROW_COUNT) && m.suffix == NULL)
		return SM_KIND_COUNT;
	switch (unit) {
	case SM_UNIT_WH: case SM_UNIT_VARH: case SM_UNIT_VAH: return SM_KIND_ENERGY;
	case SM_UNIT_W: case SM_UNIT_VAR: case SM_UNIT_VA: return SM_KIND_POWER;
	case SM_UNIT_V: return SM_KIND_VOLTAGE;
	case SM_UNIT_A: return SM_KIND_CURRENT;
	case SM_UNIT_HZ: return SM_KIND_FREQUENCY;
	default: return SM_KIND_GAUGE;
	}
}
