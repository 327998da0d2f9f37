/*
 * dsmr.c - DSMR P1 telegrams: framer, decoder, encoder and restamp.
 * The contract is dsmr.h; the wire format is summarised there and in
 * shared/notes/protocols.md section 3.
 *
 * Pure: no I/O, no clock, no allocation.  Object lines are parsed with the
 * shared OBIS text parser (obis_text.h); this file only knows which DSMR
 * objects need special treatment:
 *
 *   0-0:1.0.0            meter time of the set (not a reading)
 *   1-3:0.2.8, 0-0:96.1.4  version (>= 4.0 needs a CRC)
 *   0-n:24.1.0           M-Bus device type -> medium of channel n (names)
 *   0-n:24.3.0           DSMR 2.2/3 gas header, value on the next line
 *   1-0:99.97.0          power failure log: count + latest duration
 *   0-0:98.1.0           Belgian 13-month peak buffer (one reading per
 *                        entry, F = 1..n as listed) or Hungarian monthly
 *                        block (19 values with implied codes, F = 1)
 *   (ts)(value) lines    a value with its own timestamp
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crc.h"
#include "dsmr.h"
#include "obis.h"
#include "obis_text.h"
#include "reading.h"

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

enum {
	ST_IDLE = 0, /* outside a telegram: wait for '/' anywhere */
	ST_BODY,     /* inside, not at a line start */
	ST_BODY_LS,  /* inside, at a line start ('/' and '!' are special here) */
	ST_CRC,      /* after '!': up to 4 hex digits */
	ST_LF,       /* after the CR that ends the '!' line */
};


void sm_dsmr_framer_init(struct sm_dsmr_framer *f, bool ignore_checksum)
{
	f->ignore_checksum = ignore_checksum;
	f->skipped = 0;
	sm_dsmr_framer_reset(f);
}

void sm_dsmr_framer_reset(struct sm_dsmr_framer *f)
{
	f->state = ST_IDLE;
	f->len = 0;
	f->bang = 0;
	f->crc_digits = 0;
	f->crc_rx = 0;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The '!' line is complete: check the CRC and hand the frame out.  The
 * framer goes idle either way. */
static enum sm_err framer_complete(struct sm_dsmr_framer *f, struct sm_frame *frame,
				   struct sm_diag *diag)
{
	size_t n = f->bang + 1 + f->crc_digits;
	unsigned digits = f->crc_digits;

	f->state = ST_IDLE;
	if (digits == 1 || digits == 2) {
		sm_diag_set(diag, "CRC after '!' has %u hex digit%s (3 or 4 expected)", digits,
			 digits == 1 ? "" : "s");
		return SM_E_SYNTAX;
	}
	frame->p = f->buf;
	frame->n = n;
	frame->unterminated = false;
	if (digits == 0) {
		frame->check = SM_CHECK_ABSENT;
		return SM_FRAME;
	}
	uint16_t crc = sm_crc16_arc(0, f->buf, f->bang + 1);
	if (crc == f->crc_rx) {
		frame->check = SM_CHECK_OK;
		return SM_FRAME;
	}
	if (f->ignore_checksum) {
		frame->check = SM_CHECK_IGNORED;
		return SM_FRAME;
	}
	sm_diag_set(diag, "CRC mismatch: telegram says %.*s, computed %04X", (int)digits,
		 (const char *)f->buf + f->bang + 1, (unsigned)crc);
	return SM_E_CRC;
}

/* Start a telegram with the '/' just seen. */
static void framer_start(struct sm_dsmr_framer *f)
{
	f->buf[0] = '/';
	f->len = 1;
	f->crc_digits = 0;
	f->crc_rx = 0;
	f->state = ST_BODY;
}

enum sm_err sm_dsmr_framer_feed(struct sm_dsmr_framer *f, const uint8_t *in, size_t len,
				size_t *used, struct sm_frame *frame, struct sm_diag *diag)
{
	size_t i = 0;

	while (i < len) {
		switch (f->state) {
		case ST_IDLE: {
			const uint8_t *s = memchr(in + i, '/', len - i);
			if (s == NULL) {
				f->skipped += len - i;
				i = len;
				break;
			}
			f->skipped += (size_t)(s - (in + i));
			i = (size_t)(s - in) + 1;
			framer_start(f);
			break;
		}
		case ST_BODY: {
			/* copy up to and including the next LF */
			const uint8_t *nl = memchr(in + i, '\n', len - i);
			size_t take = nl ? (size_t)(nl - (in + i)) + 1 : len - i;
			if (take > SM_DSMR_MAX - f->len) {
				/* the first byte that does not fit ends the telegram,
				 * wherever the input was cut: the search for the next
				 * '/' starts right after it */
				i += SM_DSMR_MAX - f->len + 1;
				f->state = ST_IDLE;
				*used = i;
				sm_diag_set(diag, "telegram longer than %d bytes: dropped", SM_DSMR_MAX);
				return SM_E_TOO_LONG;
			}
			memcpy(f->buf + f->len, in + i, take);
			f->len += take;
			i += take;
			if (nl)
				f->state = ST_BODY_LS;
			break;
		}
		case ST_BODY_LS: {
			uint8_t c = in[i];
			if (c == '/') {
				size_t old = f->len;
				i++;
				framer_start(f);
				*used = i;
				sm_diag_set(diag, "telegram truncated: a new telegram started after %zu bytes, "
					 "before the '!'", old);
				return SM_E_TRUNCATED;
			}
			if (f->len >= SM_DSMR_MAX) {
				i++;
				f->state = ST_IDLE;
				*used = i;
				sm_diag_set(diag, "telegram longer than %d bytes: dropped", SM_DSMR_MAX);
				return SM_E_TOO_LONG;
			}
			if (c == '!') {
				f->bang = f->len;
				f->buf[f->len++] = c;
				f->state = ST_CRC;
				i++;
				break;
			}
			f->state = ST_BODY; /* the byte is copied there */
			break;
		}
		case ST_CRC: {
			uint8_t c = in[i];
			int h = hexval(c);
			if (h >= 0) {
				if (f->crc_digits >= 4 || f->len >= SM_DSMR_MAX) {
					i++;
					f->state = ST_IDLE;
					*used = i;
					sm_diag_set(diag, "more than 4 hex digits after '!'");
					return SM_E_SYNTAX;
				}
				f->buf[f->len++] = c;
				f->crc_digits++;
				f->crc_rx = (uint16_t)((f->crc_rx << 4) | (unsigned)h);
				i++;
				break;
			}
			if (c == '\r') {
				i++;
				f->state = ST_LF;
				break;
			}
			if (c == '\n') {
				i++;
				*used = i;
				enum sm_err rc = framer_complete(f, frame, diag);
				return rc;
			}
			if (c == '/') {
				/* the next telegram follows without a line end: end this
				 * one here and leave the '/' for the next call */
				*used = i;
				return framer_complete(f, frame, diag);
			}
			i++;
			f->state = ST_IDLE;
			*used = i;
			sm_diag_set(diag, "unexpected byte 0x%02X after '!'", (unsigned)c);
			return SM_E_SYNTAX;
		}
		case ST_LF:
		default:
			if (in[i] == '\n')
				i++;
			*used = i;
			return framer_complete(f, frame, diag);
		}
	}
	*used = i;
	return SM_NEED_MORE;
}

enum sm_err sm_dsmr_framer_flush(struct sm_dsmr_framer *f, struct sm_frame *frame,
				 struct sm_diag *diag)
{
	switch (f->state) {
	case ST_CRC:
	case ST_LF:
		return framer_complete(f, frame, diag);
	case ST_BODY_LS:
		/* Ended after a complete line but without "!": some DSMR 2.2
		 * meters never send it.  Hand it out as unterminated; the
		 * decoder rejects it unless it is a telegram without CRC. */
		f->state = ST_IDLE;
		frame->p = f->buf;
		frame->n = f->len;
		frame->check = SM_CHECK_ABSENT;
		frame->unterminated = true;
		return SM_FRAME;
	case ST_BODY: {
		size_t n = f->len;
		f->state = ST_IDLE;
		sm_diag_set(diag, "telegram truncated: input ended after %zu bytes, before the '!'", n);
		return SM_E_TRUNCATED;
	}
	default:
		return SM_NEED_MORE;
	}
}

/* ------------------------------------------------------------------ */
/* decoder                                                             */
/* ------------------------------------------------------------------ */

/* Object code C.D.E with numeric groups (A and B any). */
static bool obis_cde(const struct sm_obis *o, int c, int d, int e)
{
	const uint8_t need = SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D) | SM_OBIS_BIT(SM_OBIS_E);
	if ((o->present & need) != need || (o->letter & need) != 0)
		return false;
	return o->v[SM_OBIS_C] == c && o->v[SM_OBIS_D] == d && (e < 0 || o->v[SM_OBIS_E] == e);
}

/* Objects whose value is text even when it looks like a number. */
static bool is_text_object(const struct sm_obis *o)
{
	return obis_cde(o, 96, 1, -1) ||  /* equipment ids, 96.1.4 version */
	       obis_cde(o, 96, 13, -1) || /* text messages */
	       obis_cde(o, 42, 0, 0) ||   /* Luxembourg logical device name */
	       obis_cde(o, 0, 0, -1) ||   /* device address / meter serial */
	       obis_cde(o, 96, 5, -1);    /* status words (hex) */
}

/* "YYMMDDhhmmss" with an optional S/W letter: the shape, not the validity. */
static bool looks_like_timestamp(const struct sm_ot_group *g)
{
	size_t n = g->val_n;
	if (g->unit != NULL)
		return false;
	if (n == 13) {
		char x = g->val[12];
		if (x != 'S' && x != 'W' && x != 's' && x != 'w')
			return false;
		n = 12;
	} else if (n != 12) {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (g->val[i] < '0' || g->val[i] > '9')
			return false;
	return true;
}

/* Timestamp of a group; 0 when absent or invalid.  Years 70..99 are
 * invalid too: DSMR years are 2000+YY, and meters without a valid clock or
 * reading send their zero time "700101010000W" (1970). */
static int64_t group_time(const struct sm_ot_group *g)
{
	int64_t ms = 0;
	if (g->val_n < 2 || g->val[0] >= '7' || !sm_ot_timestamp(g->val, g->val_n, &ms) || ms <= 0)
		return 0;
	return ms;
}

struct dec {
	struct sm_reading_set *out;
	unsigned bad;
	bool full;
	int version;         /* x10: 50 for DSMR 5.0; 0 unknown */
	/* DSMR 2.2/3 gas header waiting for its value line */
	bool pending;
	struct sm_obis pend_obis;
	const char *pend_unit;
	size_t pend_unit_n;
	int64_t pend_time;
};

static void dec_add_rc(struct dec *d, enum sm_err rc)
{
	if (rc == SM_E_FULL) {
		d->full = true;
		d->bad++;
	} else if (rc != SM_OK) {
		d->bad++;
	}
}

static void add_number(struct dec *d, const struct sm_obis *o, const struct sm_ot_group *g,
		       int64_t time_ms)
{
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];

	if (d->full) {
		d->bad++;
		return;
	}
	if (sm_ot_group_number(g, &raw, &scale, &unit, ut) != SM_OK) {
		d->bad++;
		return;
	}
	dec_add_rc(d, sm_set_add_number(d->out, o, raw, scale, unit, ut,
					unit == SM_UNIT_OTHER ? strnlen(ut, sizeof ut) : 0, time_ms));
}

/* A value group of object o: text for text objects and for values that
 * are not numbers, else a number. */
static void add_value(struct dec *d, const struct sm_obis *o, const struct sm_ot_group *g,
		      int64_t time_ms)
{
	if (d->full) {
		d->bad++;
		return;
	}
	if (is_text_object(o)) {
		dec_add_rc(d, sm_set_add_text(d->out, o, g->val, g->val_n, time_ms));
		return;
	}
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];
	enum sm_err rc = sm_ot_group_number(g, &raw, &scale, &unit, ut);
	if (rc == SM_OK) {
		dec_add_rc(d, sm_set_add_number(d->out, o, raw, scale, unit, ut,
						unit == SM_UNIT_OTHER ? strnlen(ut, sizeof ut) : 0,
						time_ms));
	} else if (rc == SM_E_SYNTAX && g->unit == NULL && g->val_n > 0) {
		/* not a number: keep the meter's text */
		dec_add_rc(d, sm_set_add_text(d->out, o, g->val, g->val_n, time_ms));
	} else {
		d->bad++;
	}
}

/* Leading two digits of a version text: "50" -> 50, "42" -> 42, "50217" -> 50. */
static int version_of(const struct sm_ot_group *g)
{
	size_t i = 0;
	while (i < g->val_n && g->val[i] == ' ')
		i++;
	if (i + 2 > g->val_n || g->val[i] < '0' || g->val[i] > '9' || g->val[i + 1] < '0' ||
	    g->val[i + 1] > '9')
		return 0;
	return (g->val[i] - '0') * 10 + (g->val[i + 1] - '0');
}

/* 1-0:99.97.0(n)(0-0:96.7.19)(end ts)(duration*s)... */
static void dec_failure_log(struct dec *d, const struct sm_ot_set *set)
{
	add_number(d, &set->obis, &set->g[0], 0);
	if (set->ngroups < 2)
		return;
	struct sm_obis code;
	size_t used = 0;
	if (sm_obis_parse(set->g[1].val, set->g[1].val_n, &used, &code) != SM_OK ||
	    used != set->g[1].val_n)
		code = sm_obis_make5(0, 0, 96, 7, 19);
	size_t npairs = (set->ngroups - 2) / 2;
	if ((set->ngroups - 2) % 2 != 0)
		d->bad++;
	if (npairs == 0)
		return;
	size_t best = 0;
	int64_t best_t = 0;
	for (size_t i = 0; i < npairs; i++) {
		int64_t t = group_time(&set->g[2 + 2 * i]);
		if (t > best_t) {
			best_t = t;
			best = i;
		}
	}
	add_number(d, &code, &set->g[3 + 2 * best], best_t);
}

static const uint8_t hu_codes[19][3] = {
	{ 1, 8, 0 }, { 1, 8, 1 }, { 1, 8, 2 }, { 2, 8, 0 }, { 2, 8, 1 }, { 2, 8, 2 },
	{ 3, 8, 0 }, { 4, 8, 0 }, { 5, 8, 0 }, { 6, 8, 0 }, { 7, 8, 0 }, { 8, 8, 0 },
	{ 15, 8, 0 }, { 1, 6, 0 }, { 1, 6, 1 }, { 1, 6, 2 }, { 2, 6, 0 }, { 2, 6, 1 },
	{ 2, 6, 2 },
};

/* 0-0:98.1.0: Belgian peak buffer or Hungarian monthly block. */
static void dec_buffer(struct dec *d, const struct sm_ot_set *set)
{
	const struct sm_ot_group *g = set->g;
	size_t ng = set->ngroups;

	if (looks_like_timestamp(&g[0])) {
		/* Hungarian: (ts) + 19 values without codes */
		if (ng != 20) {
			d->bad++;
			return;
		}
		int64_t t = group_time(&g[0]);
		for (size_t i = 0; i < 19; i++) {
			struct sm_obis o = sm_obis_make(1, 0, hu_codes[i][0], hu_codes[i][1],
							hu_codes[i][2], 1);
			add_number(d, &o, &g[1 + i], t);
		}
		return;
	}
	/* Belgian: (n)(code)(code) then n x (period ts)(peak ts)(value) */
	int64_t nraw;
	int8_t nscale;
	if (ng < 3 || g[0].unit != NULL || sm_decimal_parse(g[0].val, g[0].val_n, &nraw, &nscale) != SM_OK ||
	    nscale != 0 || nraw < 0 || nraw > (int64_t)(SM_OT_MAX_GROUPS / 3) ||
	    ng != 3 + 3 * (size_t)nraw) {
		d->bad++;
		return;
	}
	struct sm_obis code;
	size_t used = 0;
	if (sm_obis_parse(g[2].val, g[2].val_n, &used, &code) != SM_OK || used != g[2].val_n) {
		d->bad++;
		return;
	}
	for (size_t i = 0; i < (size_t)nraw; i++) {
		struct sm_obis o = code;
		o.v[SM_OBIS_F] = (uint8_t)(i + 1);
		o.present |= SM_OBIS_BIT(SM_OBIS_F);
		o.letter &= (uint8_t)~SM_OBIS_BIT(SM_OBIS_F);
		add_number(d, &o, &g[3 + 3 * i + 2], group_time(&g[3 + 3 * i + 1]));
	}
}

/* 0-n:24.3.0(ts)(00)(60)(1)(0-n:24.2.1)(m3), value on the next line. */
static void dec_gas_header(struct dec *d, const struct sm_ot_set *set)
{
	if (set->ngroups < 6) {
		d->bad++;
		return;
	}
	struct sm_obis code;
	size_t used = 0;
	const struct sm_ot_group *cg = &set->g[4];
	if (sm_obis_parse(cg->val, cg->val_n, &used, &code) != SM_OK || used != cg->val_n)
		code = sm_obis_make5(0, set->obis.v[SM_OBIS_B], 24, 2, 1);
	const struct sm_ot_group *ug = &set->g[set->ngroups - 1];
	d->pending = true;
	d->pend_obis = code;
	d->pend_unit = ug->val;
	d->pend_unit_n = ug->val_n;
	d->pend_time = group_time(&set->g[0]);
}

static void dec_set(struct dec *d, const struct sm_ot_set *set)
{
	if (!set->has_obis) {
		if (!d->pending || set->ngroups != 1) {
			d->bad++;
			d->pending = false;
			return;
		}
		struct sm_ot_group g = set->g[0];
		if (g.unit == NULL && d->pend_unit_n > 0) {
			g.unit = d->pend_unit;
			g.unit_n = d->pend_unit_n;
		}
		d->pending = false;
		add_number(d, &d->pend_obis, &g, d->pend_time);
		return;
	}
	if (d->pending) { /* the value line of a 24.3.0 header is missing */
		d->pending = false;
		d->bad++;
	}
	const struct sm_obis *o = &set->obis;
	const struct sm_ot_group *g = set->g;
	size_t ng = set->ngroups;

	if (ng == 0) {
		d->bad++;
		return;
	}
	if (obis_cde(o, 1, 0, 0) && o->v[SM_OBIS_A] == 0) {
		int64_t t = group_time(&g[0]);
		if (t != 0)
			d->out->meter_time_ms = t;
		else
			d->bad++;
		return;
	}
	if (obis_cde(o, 0, 2, 8) || obis_cde(o, 96, 1, 4)) {
		int v = version_of(&g[0]);
		if (v > d->version)
			d->version = v;
	}
	if (obis_cde(o, 99, 97, 0)) {
		dec_failure_log(d, set);
		return;
	}
	if (obis_cde(o, 98, 1, 0)) {
		dec_buffer(d, set);
		return;
	}
	if (obis_cde(o, 24, 3, 0)) {
		dec_gas_header(d, set);
		return;
	}
	if (obis_cde(o, 24, 1, 0)) {
		unsigned ch = o->v[SM_OBIS_B];
		int64_t raw;
		int8_t scale;
		enum sm_unit unit;
		char ut[SM_UNIT_TEXT];
		if (ch >= 1 && ch < 8 && g[0].unit == NULL &&
		    sm_ot_group_number(&g[0], &raw, &scale, &unit, ut) == SM_OK && scale == 0 &&
		    raw >= 0 && raw < 256)
			d->out->names.media[ch] = sm_medium_from_device_type((unsigned)raw);
	}
	if (ng == 1) {
		add_value(d, o, &g[0], 0);
		return;
	}
	if (looks_like_timestamp(&g[0])) {
		/* (ts)(value): the value carries its own time; an invalid time
		 * (632525252525S) costs only the time */
		add_value(d, o, &g[ng - 1], group_time(&g[0]));
		return;
	}
	/* several values (1-1:31.4.0(100*A)(-063*A)): the first one */
	add_value(d, o, &g[0], 0);
}

/* Channel n's rank among channels of the same medium (second gas meter -> 2). */
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

enum sm_err sm_dsmr_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			   unsigned *bad_lines, struct sm_diag *diag)
{
	struct dec d;
	memset(&d, 0, sizeof d);
	d.out = out;
	sm_set_clear(out);
	if (bad_lines)
		*bad_lines = 0;

	const char *p = (const char *)frame->p;
	const char *end = p + frame->n;
	if (frame->n == 0 || p[0] != '/') {
		sm_diag_set(diag, "not a DSMR telegram (no '/')");
		return SM_E_SYNTAX;
	}
	/* skip the identification line */
	const char *nl = memchr(p, '\n', frame->n);
	p = nl ? nl + 1 : end;

	struct sm_ot_set setbuf;
	struct sm_ot_set *set = &setbuf;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		size_t n = (size_t)(le - p);
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		size_t lead = 0;
		while (lead < n && (p[lead] == ' ' || p[lead] == '\t'))
			lead++;
		if (lead == n) {
			p = next;
			continue;
		}
		if (p[lead] == '!')
			break;
		size_t used = 0;
		if (sm_ot_parse(p + lead, n - lead, &used, set) == SM_OK)
			dec_set(&d, set);
		else
			d.bad++;
		p = next;
	}
	if (d.pending)
		d.bad++;

	if (frame->unterminated && (d.version >= 40 || d.pending || out->n == 0)) {
		sm_diag_set(diag, "telegram truncated: it ended without its '!' line%s",
			 d.version >= 40 ? " and its version requires one with a CRC" : "");
		sm_set_clear(out);
		if (bad_lines)
			*bad_lines = d.bad;
		return SM_E_TRUNCATED;
	}
	if (frame->check == SM_CHECK_ABSENT && d.version >= 40) {
		sm_diag_set(diag, "telegram declares DSMR %d.%d but carries no CRC", d.version / 10,
			 d.version % 10);
		sm_set_clear(out);
		if (bad_lines)
			*bad_lines = d.bad;
		return SM_E_NO_CRC;
	}
	fill_ranks(&out->names);
	sm_set_finish(out);
	if (bad_lines)
		*bad_lines = d.bad;
	if (out->n == 0) {
		sm_diag_set(diag, "telegram holds no readings (%u unusable line%s)", d.bad,
			 d.bad == 1 ? "" : "s");
		return SM_E_EMPTY;
	}
	if (d.full)
		sm_diag_set(diag, "too many readings: %zu kept, the rest dropped", out->n);
	return SM_READINGS;
}

/* ------------------------------------------------------------------ */
/* time formatting (encoder, restamp)                                  */
/* ------------------------------------------------------------------ */

/* "YYMMDDhhmmss" + letter (if letter != 0) of local = UTC + offset. */
static enum sm_err format_ts(char *out, size_t cap, int64_t unix_ms, int offset_min, char letter)
{
	struct sm_civil c;
	sm_ms_to_civil(unix_ms, offset_min, &c);
	if (c.year < 2000 || c.year > 2099)
		return SM_E_RANGE;
	int n;
	if (letter)
		n = snprintf(out, cap, "%02d%02d%02d%02d%02d%02d%c", c.year - 2000, c.month, c.day, c.hour,
			     c.min, c.sec, letter);
	else
		n = snprintf(out, cap, "%02d%02d%02d%02d%02d%02d", c.year - 2000, c.month, c.day, c.hour,
			     c.min, c.sec);
	return (n > 0 && (size_t)n < cap) ? SM_OK : SM_E_FULL;
}

/* Local time as DSMR meters send it: W = UTC+1, S = UTC+2. */
static enum sm_err format_ts_nl(char *out, size_t cap, int64_t unix_ms)
{
	char letter;
	int off = sm_cet_offset(unix_ms, &letter);
	return format_ts(out, cap, unix_ms, off, letter);
}

/* ------------------------------------------------------------------ */
/* encoder                                                             */
/* ------------------------------------------------------------------ */

/* raw * 10^exp10 as a plain decimal with exactly max(0, -exp10) decimals. */
static enum sm_err put_decimal(struct sm_buf *b, int64_t raw, int exp10)
{
	char digits[64];
	uint64_t mag = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
	/* meters and our parser take at most 18 significant digits: drop
	 * fractional zeros that would exceed that */
	while (exp10 < 0 && mag >= 1000000000000000000ULL && mag % 10 == 0) {
		mag /= 10;
		exp10++;
	}
	int nd = 0;
	do {
		digits[nd++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag != 0 && nd < 40);
	/* digits before the point that a parser counts, with the zeros a
	 * positive exponent appends: more than 18 cannot be read back */
	if (nd + (exp10 > 0 ? exp10 : 0) > 18)
		return SM_E_RANGE;
	char txt[96];
	size_t t = 0;
	if (raw < 0)
		txt[t++] = '-';
	if (exp10 >= 0) {
		for (int i = nd - 1; i >= 0; i--)
			txt[t++] = digits[i];
		for (int i = 0; i < exp10; i++)
			txt[t++] = '0';
	} else {
		int dec = -exp10;
		if (dec > 40)
			return SM_E_RANGE;
		while (nd <= dec) /* at least one digit before the point */
			digits[nd++] = '0';
		for (int i = nd - 1; i >= 0; i--) {
			txt[t++] = digits[i];
			if (i == dec)
				txt[t++] = '.';
		}
	}
	return sm_buf_add(b, txt, t);
}

/* The unit text and display exponent shift for a reading. */
static const char *enc_unit(const struct sm_reading *r, int *shift)
{
	*shift = 0;
	switch (r->unit) {
	case SM_UNIT_WH: *shift = 3; return "kWh";
	case SM_UNIT_VARH: *shift = 3; return "kvarh";
	case SM_UNIT_VAH: *shift = 3; return "kVAh";
	case SM_UNIT_W: *shift = 3; return "kW";
	case SM_UNIT_VAR: *shift = 3; return "kvar";
	case SM_UNIT_VA: *shift = 3; return "kVA";
	case SM_UNIT_NONE: return NULL;
	case SM_UNIT_OTHER: return r->unit_text;
	default: return sm_unit_str(r->unit);
	}
}

static bool text_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || c == '(' || c == ')')
			return false;
	}
	return true;
}

static enum sm_err enc_reading(struct sm_buf *b, const struct sm_reading_set *s,
			       const struct sm_reading *r)
{
	char code[SM_OBIS_STRLEN];
	sm_obis_format(&r->obis, code, sizeof code);
	if (sm_buf_adds(b, code) != SM_OK)
		return SM_E_FULL;
	if (r->time_ms != 0) {
		char ts[32];
		enum sm_err rc = format_ts_nl(ts, sizeof ts, r->time_ms);
		if (rc != SM_OK)
			return rc;
		if (sm_buf_addf(b, "(%s)", ts) != SM_OK)
			return SM_E_FULL;
	}
	if (sm_buf_addc(b, '(') != SM_OK)
		return SM_E_FULL;
	if (r->is_text) {
		const char *t = sm_reading_text(s, r);
		if (!text_ok(t, r->text_len))
			return SM_E_SYNTAX;
		if (sm_buf_add(b, t, r->text_len) != SM_OK)
			return SM_E_FULL;
	} else {
		int shift;
		const char *u = enc_unit(r, &shift);
		enum sm_err rc = put_decimal(b, r->raw, (int)r->scale - shift);
		if (rc != SM_OK)
			return rc;
		if (u != NULL && u[0] != '\0') {
			if (sm_buf_addc(b, '*') != SM_OK || sm_buf_adds(b, u) != SM_OK)
				return SM_E_FULL;
		}
	}
	if (sm_buf_adds(b, ")\r\n") != SM_OK)
		return SM_E_FULL;
	return SM_OK;
}

enum sm_err sm_dsmr_encode(const struct sm_reading_set *s, const char *header, bool with_crc,
			   uint8_t *out, size_t cap, size_t *outlen)
{
	struct sm_buf b;
	enum sm_err rc;

	*outlen = 0;
	if (cap < 2)
		return SM_E_FULL;
	/* sm_buf keeps a NUL: the telegram may use all but that byte */
	sm_buf_init(&b, (char *)out, cap);
	if (header == NULL || !text_ok(header, strlen(header)))
		return SM_E_SYNTAX;
	if (sm_buf_addc(&b, '/') != SM_OK || sm_buf_adds(&b, header) != SM_OK ||
	    sm_buf_adds(&b, "\r\n\r\n") != SM_OK)
		return SM_E_FULL;
	if (s->meter_time_ms != 0) {
		char ts[32];
		rc = format_ts_nl(ts, sizeof ts, s->meter_time_ms);
		if (rc != SM_OK)
			return rc;
		if (sm_buf_addf(&b, "0-0:1.0.0(%s)\r\n", ts) != SM_OK)
			return SM_E_FULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		rc = enc_reading(&b, s, &s->r[i]);
		if (rc != SM_OK)
			return rc;
	}
	if (sm_buf_addc(&b, '!') != SM_OK)
		return SM_E_FULL;
	if (with_crc) {
		uint16_t crc = sm_crc16_arc(0, b.p, b.len);
		if (sm_buf_addf(&b, "%04X", (unsigned)crc) != SM_OK)
			return SM_E_FULL;
	}
	if (b.len > SM_DSMR_MAX) /* more than a framer takes ('/' .. CRC) */
		return SM_E_FULL;
	if (sm_buf_adds(&b, "\r\n") != SM_OK)
		return SM_E_FULL;
	*outlen = b.len;
	return SM_OK;
}

/* ------------------------------------------------------------------ */
/* restamp                                                             */
/* ------------------------------------------------------------------ */

/* Replace buf[at .. at+oldn) by repl[0..newn) in place. */
static enum sm_err splice(uint8_t *buf, size_t *len, size_t cap, size_t at, size_t oldn,
			  const void *repl, size_t newn)
{
	if (newn > oldn && *len + (newn - oldn) > cap)
		return SM_E_FULL;
	memmove(buf + at + newn, buf + at + oldn, *len - at - oldn);
	memcpy(buf + at, repl, newn);
	*len = *len - oldn + newn;
	return SM_OK;
}

/* Index of the first occurrence of needle at a line start, or len. */
static size_t find_line(const uint8_t *buf, size_t len, const char *needle)
{
	size_t nn = strlen(needle);
	for (size_t i = 0; i + nn <= len; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, needle, nn) == 0)
			return i;
	}
	return len;
}

enum sm_err sm_dsmr_restamp(uint8_t *buf, size_t len, size_t cap, size_t *newlen,
			    int64_t unix_ms, int utc_offset_min, char dst_letter)
{
	*newlen = len;
	if (len == 0 || buf[0] != '/')
		return SM_E_SYNTAX;
	size_t bang = find_line(buf, len, "!");
	if (bang >= len)
		return SM_E_SYNTAX;

	size_t at = find_line(buf, bang, "0-0:1.0.0(");
	if (at < bang) {
		size_t v = at + strlen("0-0:1.0.0(");
		size_t e = v;
		while (e < bang && buf[e] != ')' && buf[e] != '\n')
			e++;
		if (e >= bang || buf[e] != ')')
			return SM_E_SYNTAX;
		char ts[32];
		enum sm_err rc = format_ts(ts, sizeof ts, unix_ms, utc_offset_min, dst_letter);
		if (rc != SM_OK)
			return rc == SM_E_RANGE ? SM_E_SYNTAX : rc;
		size_t tn = strlen(ts);
		rc = splice(buf, &len, cap, v, e - v, ts, tn);
		if (rc != SM_OK)
			return rc;
		bang = bang - (e - v) + tn;
	}
	size_t digits = 0;
	while (bang + 1 + digits < len && digits < 5 && hexval(buf[bang + 1 + digits]) >= 0)
		digits++;
	if (digits > 4)
		return SM_E_SYNTAX;
	if (digits > 0) {
		char crc[8];
		snprintf(crc, sizeof crc, "%04X", (unsigned)sm_crc16_arc(0, buf, bang + 1));
		enum sm_err rc = splice(buf, &len, cap, bang + 1, digits, crc, 4);
		if (rc != SM_OK)
			return rc;
	}
	*newlen = len;
	return SM_OK;
}

/* ------------------------------------------------------------------ */
/* Smarty: telegrams inside general-glo-ciphering APDUs                */
/* ------------------------------------------------------------------ */

void sm_smarty_framer_init(struct sm_smarty_framer *f)
{
	f->skipped = 0;
	sm_smarty_framer_reset(f);
}

void sm_smarty_framer_reset(struct sm_smarty_framer *f)
{
	f->len = 0;
	f->need = 0;
}

static bool smarty_sc_ok(uint8_t sc)
{
	return sc == 0x20 || sc == 0x21 || sc == 0x30 || sc == 0x31;
}

enum smarty_hdr { HDR_MORE, HDR_OK, HDR_BAD, HDR_LONG };

/* Judge the header at p[0..n): plausible (total set), implausible, too
 * long, or undecided yet. */
static enum smarty_hdr smarty_header(const uint8_t *p, size_t n, size_t *total)
{
	size_t t = 0;
	enum sm_err rc = sm_gcm_apdu_length(p, n, SIZE_MAX, &t);
	if (rc == SM_NEED_MORE)
		return HDR_MORE;
	if (rc != SM_OK)
		return HDR_BAD;
	size_t h = p[10] < 0x80 ? 11 : p[10] == 0x81 ? 12 : 13;
	if (n <= h)
		return HDR_MORE;
	if (!smarty_sc_ok(p[h]))
		return HDR_BAD;
	*total = t;
	return t > SM_SMARTY_MAX ? HDR_LONG : HDR_OK;
}

/* Drop buf[0] (a 0xDB that did not start an APDU) and keep what follows
 * from the next 0xDB on. */
static void smarty_shift(struct sm_smarty_framer *f)
{
	const uint8_t *s = f->len > 1 ? memchr(f->buf + 1, 0xDB, f->len - 1) : NULL;
	size_t drop = s ? (size_t)(s - f->buf) : f->len;
	f->skipped += drop;
	memmove(f->buf, f->buf + drop, f->len - drop);
	f->len -= drop;
	f->need = 0;
}

/* Decide the header in buf as far as its bytes allow. */
static enum sm_err smarty_settle(struct sm_smarty_framer *f, struct sm_diag *diag)
{
	while (f->len > 0) {
		size_t total = 0;
		switch (smarty_header(f->buf, f->len, &total)) {
		case HDR_MORE:
			return SM_OK;
		case HDR_OK:
			f->need = total;
			return SM_OK;
		case HDR_LONG:
			sm_diag_set(diag, "ciphered APDU of %zu bytes announced, more than %d: skipped",
				    total, SM_SMARTY_MAX);
			smarty_shift(f);
			return SM_E_TOO_LONG;
		case HDR_BAD:
		default:
			smarty_shift(f);
			break;
		}
	}
	return SM_OK;
}

enum sm_err sm_smarty_framer_feed(struct sm_smarty_framer *f, const uint8_t *in, size_t len,
				  size_t *used, struct sm_frame *frame, struct sm_diag *diag)
{
	size_t i = 0;

	while (i < len) {
		if (f->len == 0) {
			const uint8_t *s = memchr(in + i, 0xDB, len - i);
			if (s == NULL) {
				f->skipped += len - i;
				i = len;
				break;
			}
			f->skipped += (size_t)(s - (in + i));
			i = (size_t)(s - in) + 1;
			f->buf[0] = 0xDB;
			f->len = 1;
			f->need = 0;
			continue;
		}
		if (f->need == 0) {
			/* header: one byte at a time (at most 14) */
			f->buf[f->len++] = in[i++];
			enum sm_err rc = smarty_settle(f, diag);
			if (rc != SM_OK) {
				*used = i;
				return rc;
			}
			continue;
		}
		size_t take = f->need - f->len;
		if (take > len - i)
			take = len - i;
		memcpy(f->buf + f->len, in + i, take);
		f->len += take;
		i += take;
		if (f->len == f->need) {
			frame->p = f->buf;
			frame->n = f->len;
			frame->check = SM_CHECK_ABSENT;
			frame->unterminated = false;
			f->len = 0;
			f->need = 0;
			*used = i;
			return SM_FRAME;
		}
	}
	*used = i;
	return SM_NEED_MORE;
}

enum sm_err sm_smarty_framer_flush(struct sm_smarty_framer *f, struct sm_diag *diag)
{
	size_t have = f->len, need = f->need;
	if (have == 0)
		return SM_NEED_MORE;
	sm_smarty_framer_reset(f);
	if (need == 0) {
		f->skipped += have;
		return SM_NEED_MORE;
	}
	sm_diag_set(diag, "ciphered APDU truncated: input ended after %zu of its %zu bytes", have, need);
	return SM_E_TRUNCATED;
}

/* A DSMR telegram starts with a printable "/XXX5..." identification line. */
static bool looks_like_telegram(const uint8_t *p, size_t n)
{
	if (n < 6 || p[0] != '/')
		return false;
	size_t i = 1;
	for (; i < n && p[i] != '\r' && p[i] != '\n'; i++)
		if (p[i] < 0x20 || p[i] > 0x7E)
			return false;
	return i >= 5;
}

enum sm_err sm_smarty_open(struct sm_gcm *g, const uint8_t *apdu, size_t n, bool ignore_checksum,
			   uint8_t *plain, size_t cap, struct sm_frame *telegram,
			   struct sm_gcm_info *info, struct sm_diag *diag)
{
	size_t pn = 0;
	struct sm_gcm_info gi;
	if (info == NULL)
		info = &gi;
	enum sm_err rc = sm_gcm_open(g, apdu, n, plain, cap, &pn, info, diag);
	if (rc != SM_OK)
		return rc;
	if (!looks_like_telegram(plain, pn)) {
		if (info->authenticated)
			sm_diag_set(diag, "decrypted data (authenticated, frame counter %08X) is not a "
				    "DSMR telegram", (unsigned)info->frame_counter);
		else
			sm_diag_set(diag, "decrypted data is not a DSMR telegram: check Key");
		return SM_E_NOT_APDU;
	}
	/* the '!' at a line start; a '/' at a line start before it is a
	 * second telegram */
	size_t bang = 0;
	for (size_t i = 1; i < pn; i++) {
		if (plain[i - 1] != '\n')
			continue;
		if (plain[i] == '!') {
			bang = i;
			break;
		}
		if (plain[i] == '/') {
			sm_diag_set(diag, "decrypted telegram truncated: a new telegram starts at byte %zu", i);
			return SM_E_TRUNCATED;
		}
	}
	if (bang == 0) {
		sm_diag_set(diag, "decrypted telegram truncated: no '!' line in %zu bytes", pn);
		return SM_E_TRUNCATED;
	}
	size_t i = bang + 1;
	unsigned digits = 0;
	uint16_t crc_rx = 0;
	while (i < pn && hexval(plain[i]) >= 0) {
		if (++digits > 4) {
			sm_diag_set(diag, "decrypted telegram: more than 4 hex digits after '!'");
			return SM_E_SYNTAX;
		}
		crc_rx = (uint16_t)((crc_rx << 4) | (unsigned)hexval(plain[i]));
		i++;
	}
	if (digits == 1 || digits == 2) {
		sm_diag_set(diag, "decrypted telegram: CRC after '!' has %u hex digit%s (3 or 4 expected)",
			    digits, digits == 1 ? "" : "s");
		return SM_E_SYNTAX;
	}
	for (size_t k = i; k < pn; k++) {
		if (plain[k] != '\r' && plain[k] != '\n') {
			sm_diag_set(diag, "decrypted telegram: unexpected byte 0x%02X after its end",
				    (unsigned)plain[k]);
			return SM_E_SYNTAX;
		}
	}
	telegram->p = plain;
	telegram->n = bang + 1 + digits;
	telegram->unterminated = false;
	if (digits == 0) {
		telegram->check = SM_CHECK_ABSENT;
		return SM_FRAME;
	}
	uint16_t crc = sm_crc16_arc(0, plain, bang + 1);
	if (crc == crc_rx) {
		telegram->check = SM_CHECK_OK;
		return SM_FRAME;
	}
	if (info->authenticated) {
		telegram->check = SM_CHECK_OK;
		sm_diag_set(diag, "inner CRC mismatch (telegram says %.*s, computed %04X) accepted: the "
			    "GCM tag authenticated the frame", (int)digits, (const char *)plain + bang + 1,
			    (unsigned)crc);
		return SM_FRAME;
	}
	if (ignore_checksum) {
		telegram->check = SM_CHECK_IGNORED;
		return SM_FRAME;
	}
	sm_diag_set(diag, "CRC mismatch in the decrypted telegram (no GCM tag): telegram says %.*s, "
		    "computed %04X", (int)digits, (const char *)plain + bang + 1, (unsigned)crc);
	return SM_E_CRC;
}

enum sm_err sm_dsmr_seal_smarty(struct sm_gcm *g, const uint8_t system_title[8], uint32_t frame_counter,
				uint8_t sc, const uint8_t *telegram, size_t n, uint8_t *out, size_t cap,
				size_t *outlen)
{
	*outlen = 0;
	if (n == 0 || telegram[0] != '/')
		return SM_E_SYNTAX;
	if (n > SM_DSMR_MAX)
		return SM_E_FULL;
	return sm_gcm_seal(g, system_title, frame_counter, sc, telegram, n, out, cap, outlen);
}
