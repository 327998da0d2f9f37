/*
 * sml.c - SML 1.04 transport framer, message decoder and encoder (sml.h).
 */
#include <stdio.h>
#include <string.h>
#include "sml.h"
#include "crc.h"
#include "dlms.h"

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

enum { ST_HUNT = 0, ST_BODY };

static const uint8_t ESC4[4] = { 0x1B, 0x1B, 0x1B, 0x1B };

void sm_sml_framer_init(struct sm_sml_framer *f)
{
	memset(f, 0, offsetof(struct sm_sml_framer, raw));
}

void sm_sml_framer_reset(struct sm_sml_framer *f)
{
	f->state = ST_HUNT;
	f->match = 0;
	f->esc = false;
	f->len = 0;
	f->plen = 0;
}

static void start_file(struct sm_sml_framer *f, uint8_t ver)
{
	memcpy(f->raw, ESC4, 4);
	memset(f->raw + 4, ver, 4);
	f->len = 8;
	f->plen = 0;
	f->esc = false;
	f->state = ST_BODY;
	f->match = 0;
}

/* One byte while hunting for the start sequence. */
static void hunt_byte(struct sm_sml_framer *f, uint8_t b)
{
	unsigned m = f->match;
	if (m < 4) {
		if (b == 0x1B) {
			f->match = m + 1;
		} else {
			f->skipped += m + 1;
			f->match = 0;
		}
		return;
	}
	if (m == 4) {
		if (b == 0x1B) { /* a longer run of escapes: keep the last four */
			f->skipped++;
			return;
		}
		if (b == 0x01 || b == 0x02) {
			f->raw[4] = b;
			f->match = 5;
			return;
		}
		f->skipped += 5;
		f->match = 0;
		return;
	}
	if (b == f->raw[4]) {
		if (++f->match == 8)
			start_file(f, b);
		return;
	}
	f->skipped += m + 1;
	f->match = b == 0x1B ? 1 : 0;
	if (b == 0x1B)
		f->skipped--;
}

static enum sm_err drop(struct sm_sml_framer *f, enum sm_err rc)
{
	f->state = ST_HUNT;
	f->match = 0;
	f->len = 0;
	f->plen = 0;
	f->esc = false;
	return rc;
}

/* A complete 4-byte group at raw[len-4..len). */
static enum sm_err group(struct sm_sml_framer *f, struct sm_frame *frame, struct sm_diag *diag)
{
	const uint8_t *g = f->raw + f->len - 4;
	if (!f->esc) {
		if (memcmp(g, ESC4, 4) == 0) {
			f->esc = true;
			return SM_NEED_MORE;
		}
		memcpy(f->payload + f->plen, g, 4);
		f->plen += 4;
		return SM_NEED_MORE;
	}
	f->esc = false;
	if (memcmp(g, ESC4, 4) == 0) {
		memcpy(f->payload + f->plen, g, 4);
		f->plen += 4;
		return SM_NEED_MORE;
	}
	if (g[0] == 0x01 || g[0] == 0x02) {
		if (g[1] == g[0] && g[2] == g[0] && g[3] == g[0]) {
			sm_diag_set(diag, "SML: new start sequence inside a file after %zu bytes",
				    f->len - 8);
			start_file(f, g[0]);
			return SM_E_TRUNCATED;
		}
	}
	if (g[0] == 0x1A) {
		unsigned pad = g[1];
		uint16_t x25 = sm_crc16_x25(0, f->raw, f->len - 2);
		uint16_t rx_lo = (uint16_t)(g[2] | (g[3] << 8));
		uint16_t rx_hi = (uint16_t)((g[2] << 8) | g[3]);
		bool kermit = false;
		if (x25 != rx_lo) {
			uint16_t k = sm_crc16_kermit(0, f->raw, f->len - 2);
			if (k != rx_hi) {
				sm_diag_set(diag, "SML: file CRC %02X%02X, computed X.25 %04X (low byte first)",
					    g[2], g[3], x25);
				return drop(f, SM_E_CRC);
			}
			kermit = true;
		}
		if (pad > f->plen) { /* DZG sends 4 fill bytes */
			sm_diag_set(diag, "SML: fill count %u invalid", pad);
			return drop(f, SM_E_SYNTAX);
		}
		frame->p = f->payload;
		frame->n = f->plen - pad;
		frame->check = SM_CHECK_OK;
		frame->unterminated = false;
		f->kermit_last = kermit;
		if (kermit)
			f->kermit++;
		f->state = ST_HUNT;
		f->match = 0;
		f->len = 0;
		return SM_FRAME;
	}
	if (f->raw[4] == 0x02 && (g[0] == 0x03 || g[0] == 0x04))
		return SM_NEED_MORE; /* version 2 timeout / block size commands: ignored */
	sm_diag_set(diag, "SML: unknown escape command %02X%02X%02X%02X", g[0], g[1], g[2], g[3]);
	return drop(f, SM_E_SYNTAX);
}

enum sm_err sm_sml_framer_feed(struct sm_sml_framer *f, const uint8_t *in, size_t len,
			       size_t *used, struct sm_frame *frame, struct sm_diag *diag)
{
	size_t i = 0;
	while (i < len) {
		uint8_t b = in[i++];
		if (f->state == ST_HUNT) {
			hunt_byte(f, b);
			continue;
		}
		if (f->len >= SM_SML_MAX) {
			sm_diag_set(diag, "SML: file longer than %d bytes", SM_SML_MAX);
			drop(f, SM_E_TOO_LONG);
			hunt_byte(f, b);
			*used = i;
			return SM_E_TOO_LONG;
		}
		f->raw[f->len++] = b;
		if ((f->len & 3) != 0 && f->len >= 16 && f->raw[f->len - 1] == f->raw[f->len - 2] &&
		    (b == 0x01 || b == 0x02) && memcmp(f->raw + f->len - 8, ESC4, 4) == 0 &&
		    memcmp(f->raw + f->len - 4, f->raw + f->len - 3, 3) == 0) {
			/* a start sequence off the 4-byte grid: bytes were lost in
			 * the file before it; restart there */
			sm_diag_set(diag, "SML: start sequence inside a file after %zu bytes",
				    f->len - 16);
			start_file(f, b);
			*used = i;
			return SM_E_TRUNCATED;
		}
		if ((f->len & 3) == 0) {
			enum sm_err rc = group(f, frame, diag);
			if (rc != SM_NEED_MORE) {
				*used = i;
				return rc;
			}
		}
	}
	*used = len;
	return SM_NEED_MORE;
}

enum sm_err sm_sml_framer_flush(struct sm_sml_framer *f, struct sm_diag *diag)
{
	if (f->state == ST_BODY) {
		sm_diag_set(diag, "SML: file cut after %zu bytes", f->len);
		return drop(f, SM_E_TRUNCATED);
	}
	f->skipped += f->match;
	f->match = 0;
	return SM_NEED_MORE;
}

/* ------------------------------------------------------------------ */
/* TL iterator                                                         */
/* ------------------------------------------------------------------ */

enum { T_OCTET = 0, T_BOOL = 4, T_INT = 5, T_UINT = 6, T_LIST = 7 };
#define MAX_DEPTH 12

struct cur {
	const uint8_t *p;
	size_t n, pos;
};

struct tl {
	unsigned type;
	size_t len;        /* scalars: data bytes; lists: element count */
	const uint8_t *data;
	bool end;          /* 00: end of message */
};

/* Read one TL field (and, for scalars, step over its data). */
static bool tl_next(struct cur *c, struct tl *t)
{
	if (c->pos >= c->n)
		return false;
	uint8_t b = c->p[c->pos];
	memset(t, 0, sizeof *t);
	if (b == 0x00) {
		c->pos++;
		t->end = true;
		return true;
	}
	t->type = (b >> 4) & 7;
	size_t len = b & 0x0F;
	size_t ntl = 1;
	while (b & 0x80) {
		if (c->pos + ntl >= c->n || ntl >= 8)
			return false;
		b = c->p[c->pos + ntl];
		if (b & 0x70)
			return false;
		len = (len << 4) | (b & 0x0F);
		ntl++;
	}
	c->pos += ntl;
	if (t->type == T_LIST) {
		t->len = len;
		return true;
	}
	if (t->type != T_OCTET && t->type != T_BOOL && t->type != T_INT && t->type != T_UINT)
		return false;
	if (len < ntl || len - ntl > c->n - c->pos)
		return false;
	t->len = len - ntl;
	t->data = c->p + c->pos;
	c->pos += t->len;
	return true;
}

static bool skip_value(struct cur *c, unsigned depth)
{
	struct tl t;
	if (depth > MAX_DEPTH || !tl_next(c, &t) || t.end)
		return false;
	if (t.type == T_LIST) {
		if (t.len > c->n - c->pos)
			return false; /* every element takes at least one byte */
		for (size_t i = 0; i < t.len; i++)
			if (!skip_value(c, depth + 1))
				return false;
	}
	return true;
}

static bool is_absent(const struct tl *t)
{
	return t->type == T_OCTET && t->len == 0;
}

/* Unsigned or signed integer of 1..8 bytes (a bool as 0/1). */
static bool tl_uint(const struct tl *t, uint64_t *v)
{
	if ((t->type != T_UINT && t->type != T_INT && t->type != T_BOOL) || t->len < 1 || t->len > 8)
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < t->len; i++)
		x = (x << 8) | t->data[i];
	*v = x;
	return true;
}

static bool tl_int(const struct tl *t, int64_t *v, bool *is_unsigned)
{
	uint64_t x;
	if (!tl_uint(t, &x))
		return false;
	if (t->type == T_INT) {
		unsigned bits = (unsigned)t->len * 8;
		if (bits < 64 && (x >> (bits - 1)) & 1)
			x |= ~(uint64_t)0 << bits;
		*v = (int64_t)x;
		*is_unsigned = false;
	} else {
		*v = (int64_t)x;
		*is_unsigned = true;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* decoder                                                             */
/* ------------------------------------------------------------------ */

struct dec {
	struct sm_reading_set *out;
	unsigned bad;
	unsigned bad_crc;
	bool full;
	struct sm_diag *diag;
};

/* A time choice: list 2 {tag, value}; tag 1 secIndex, 2 timestamp, 3 local
 * timestamp {timestamp, localOffset, seasonOffset}.  *ms = 0 unless a
 * timestamp.  Also accepts the bare unsigned some meters send.  A timestamp
 * is an Unsigned32 of seconds; a wider one is no time (false). */
static bool read_time(struct cur *c, int64_t *ms)
{
	struct tl t, v;
	*ms = 0;
	if (!tl_next(c, &t) || t.end)
		return false;
	if (is_absent(&t))
		return true;
	if (t.type == T_UINT)
		return true; /* bare secIndex */
	if (t.type != T_LIST || t.len != 2)
		return false;
	uint64_t tag;
	if (!tl_next(c, &v) || !tl_uint(&v, &tag))
		return false;
	if (tag == 2) {
		uint64_t ts;
		if (!tl_next(c, &v) || !tl_uint(&v, &ts) || ts > UINT32_MAX)
			return false;
		*ms = (int64_t)ts * 1000;
		return true;
	}
	if (tag == 3) {
		struct tl l;
		uint64_t ts;
		if (!tl_next(c, &l) || l.type != T_LIST || l.len != 3)
			return false;
		if (!tl_next(c, &v) || !tl_uint(&v, &ts) || ts > UINT32_MAX)
			return false;
		*ms = (int64_t)ts * 1000;
		return skip_value(c, 1) && skip_value(c, 1);
	}
	return skip_value(c, 1);
}

static void add_rc(struct dec *d, enum sm_err rc)
{
	if (rc == SM_E_FULL) {
		d->full = true;
		d->bad++;
	}
}

static bool printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7E)
			return false;
	return true;
}

static void add_text(struct dec *d, const struct sm_obis *o, const uint8_t *p, size_t n, int64_t ms)
{
	if (printable(p, n)) {
		add_rc(d, sm_set_add_text(d->out, o, (const char *)p, n, ms));
		return;
	}
	char hex[2 * 256 + 1];
	static const char digits[] = "0123456789ABCDEF";
	if (n > 256)
		n = 256;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 15];
	}
	add_rc(d, sm_set_add_text(d->out, o, hex, 2 * n, ms));
}

/* One valList entry. */
static bool entry(struct dec *d, struct cur *c)
{
	struct tl l, name, t;
	if (!tl_next(c, &l) || l.type != T_LIST)
		return false;
	if (l.len != 7) { /* not an entry we know: step over it */
		for (size_t i = 0; i < l.len; i++)
			if (!skip_value(c, 2))
				return false;
		d->bad++;
		return true;
	}
	if (!tl_next(c, &name) || name.end)
		return false;
	if (!skip_value(c, 2)) /* status */
		return false;
	int64_t ms;
	size_t before = c->pos;
	if (!read_time(c, &ms)) {
		c->pos = before;
		if (!skip_value(c, 2))
			return false;
		ms = 0;
	}
	bool have_unit = false, have_scaler = false, bad_su = false;
	uint64_t unit = 0;
	int64_t scaler = 0;
	bool us;
	size_t upos = c->pos;
	if (!skip_value(c, 2))
		return false;
	struct cur uc = { c->p, c->n, upos };
	if (!tl_next(&uc, &t))
		return false;
	if (!is_absent(&t)) {
		have_unit = tl_uint(&t, &unit);
		bad_su = !have_unit;
	}
	size_t spos = c->pos;
	if (!skip_value(c, 2))
		return false;
	struct cur scc = { c->p, c->n, spos };
	if (!tl_next(&scc, &t))
		return false;
	if (!is_absent(&t)) {
		have_scaler = tl_int(&t, &scaler, &us);
		bad_su = bad_su || !have_scaler;
	}
	struct tl v;
	size_t vpos = c->pos;
	if (!skip_value(c, 2)) /* value */
		return false;
	if (!skip_value(c, 2)) /* valueSignature */
		return false;
	struct cur vc = { c->p, c->n, vpos };
	if (!tl_next(&vc, &v))
		return false;
	/* a value sent as a choice {tag, value} (an EMH sends a time that way):
	 * the value inside */
	for (unsigned depth = 0; v.type == T_LIST && v.len == 2 && depth < 4; depth++) {
		struct tl tag;
		uint64_t tv;
		if (!tl_next(&vc, &tag) || !tl_uint(&tag, &tv) || !tl_next(&vc, &v))
			break;
	}
	if (name.type != T_OCTET || name.len != 6 || bad_su) {
		d->bad++;
		return true;
	}
	struct sm_obis o;
	memset(&o, 0, sizeof o);
	memcpy(o.v, name.data, 6);
	o.present = 0x3F;
	if (v.type == T_OCTET) {
		add_text(d, &o, v.data, v.len, ms);
		return true;
	}
	int64_t raw;
	if (v.type == T_LIST || !tl_int(&v, &raw, &us) || (us && raw < 0)) {
		d->bad++;
		return true;
	}
	enum sm_unit su = SM_UNIT_NONE;
	int8_t ex = 0;
	const char *text = NULL;
	char buf[SM_UNIT_TEXT];
	if (have_unit) {
		if (unit > 255 || !sm_dlms_unit_from_code((uint8_t)unit, &su, &ex, &text)) {
			su = SM_UNIT_OTHER;
			snprintf(buf, sizeof buf, "dlms%u", (unsigned)(unit & 0xFF));
			text = buf;
		}
	}
	if (have_scaler && (scaler < -128 || scaler > 127)) {
		d->bad++;
		return true;
	}
	int8_t sc = 0;
	int64_t r = raw;
	if (sm_decimal_rescale(&r, &sc, (int)scaler + ex) != SM_OK) {
		d->bad++;
		return true;
	}
	add_rc(d, sm_set_add_number(d->out, &o, r, sc, su, text, text ? strlen(text) : 0, ms));
	return true;
}

static bool getlist(struct dec *d, struct cur *c)
{
	struct tl l, t;
	if (!tl_next(c, &l) || l.type != T_LIST || l.len != 7)
		return false;
	if (!skip_value(c, 1) || !skip_value(c, 1) || !skip_value(c, 1)) /* client, server, listName */
		return false;
	int64_t ms;
	size_t before = c->pos;
	if (!read_time(c, &ms)) {
		c->pos = before;
		if (!skip_value(c, 1))
			return false;
		ms = 0;
	}
	if (ms != 0)
		d->out->meter_time_ms = ms;
	if (!tl_next(c, &t) || t.type != T_LIST)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if (!entry(d, c))
			return false;
	return skip_value(c, 1) && skip_value(c, 1);
}

/* One message at c; false for a structure error (stop). */
static bool message(struct dec *d, struct cur *c)
{
	size_t start = c->pos;
	struct tl l, t;
	if (!tl_next(c, &l) || l.type != T_LIST || l.len != 6)
		return false;
	if (!skip_value(c, 1) || !skip_value(c, 1) || !skip_value(c, 1))
		return false;
	size_t body = c->pos;
	if (!skip_value(c, 1))
		return false;
	size_t crc_at = c->pos;
	if (!tl_next(c, &t) || t.end)
		return false;
	uint64_t rx;
	if (tl_uint(&t, &rx)) {
		uint16_t x = sm_crc16_x25(0, c->p + start, crc_at - start);
		uint16_t k = sm_crc16_kermit(0, c->p + start, crc_at - start);
		uint16_t xs = (uint16_t)((x >> 8) | (x << 8));
		if (rx != xs && rx != k && rx != x) {
			d->bad_crc++;
			d->bad++;
		}
	} else {
		d->bad_crc++;
		d->bad++;
	}
	if (!tl_next(c, &t) || !t.end)
		return false;
	/* the body: list 2 {tag, choice} */
	struct cur bc = { c->p, crc_at, body };
	struct tl tag;
	uint64_t tagv;
	if (!tl_next(&bc, &l) || l.type != T_LIST || l.len != 2 || !tl_next(&bc, &tag) ||
	    !tl_uint(&tag, &tagv))
		return false;
	if (tagv == 0x0701) {
		if (!getlist(d, &bc)) {
			d->bad++;
			sm_diag_set(d->diag, "SML: malformed GetList.Res at byte %zu", body);
		}
	}
	return true;
}

enum sm_err sm_sml_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			  unsigned *bad_lines, unsigned *bad_msg_crc, struct sm_diag *diag)
{
	struct dec d = { .out = out, .diag = diag };
	struct cur c = { frame->p, frame->n, 0 };
	sm_set_clear(out);
	unsigned msgs = 0;
	bool broken = false;
	while (c.pos < c.n) {
		if (c.p[c.pos] == 0x00) { /* fill */
			c.pos++;
			continue;
		}
		if (!message(&d, &c)) {
			sm_diag_set(diag, "SML: malformed message at byte %zu", c.pos);
			d.bad++;
			broken = true;
			break;
		}
		msgs++;
	}
	if (bad_lines)
		*bad_lines = d.bad;
	if (bad_msg_crc)
		*bad_msg_crc = d.bad_crc;
	sm_set_finish(out);
	if (out->n > 0)
		return SM_READINGS;
	if (msgs == 0 && broken)
		return SM_E_SYNTAX;
	if (broken)
		return SM_E_SYNTAX;
	sm_diag_set(diag, "SML: file holds no readings");
	return SM_E_EMPTY;
}

/* ------------------------------------------------------------------ */
/* encoder                                                             */
/* ------------------------------------------------------------------ */

struct enc {
	uint8_t *p;
	size_t cap, n;
	bool full;
};

static void put(struct enc *e, const void *src, size_t n)
{
	if (e->full || n > e->cap - e->n) {
		e->full = true;
		return;
	}
	memcpy(e->p + e->n, src, n);
	e->n += n;
}

static void put1(struct enc *e, uint8_t b)
{
	put(e, &b, 1);
}

/* TL field: type, and for scalars the data length (TL bytes added). */
static void put_tl(struct enc *e, unsigned type, size_t len)
{
	size_t ntl = 1;
	if (type == T_LIST) {
		while (ntl < 8 && (len >> (4 * ntl)) != 0)
			ntl++;
	} else {
		while (ntl < 8 && ((len + ntl) >> (4 * ntl)) != 0)
			ntl++;
		len += ntl;
	}
	for (size_t i = 0; i < ntl; i++) {
		uint8_t b = (uint8_t)((len >> (4 * (ntl - 1 - i))) & 0x0F);
		if (i == 0)
			b |= (uint8_t)(type << 4);
		if (i + 1 < ntl)
			b |= 0x80;
		put1(e, b);
	}
}

static void put_octets(struct enc *e, const void *p, size_t n)
{
	put_tl(e, T_OCTET, n);
	put(e, p, n);
}

static void put_int(struct enc *e, unsigned type, uint64_t v, size_t width)
{
	put_tl(e, type, width);
	for (size_t i = 0; i < width; i++)
		put1(e, (uint8_t)(v >> (8 * (width - 1 - i))));
}

static size_t width_signed(int64_t v)
{
	size_t w = 1;
	while (w < 8) {
		int64_t lo = -((int64_t)1 << (8 * w - 1));
		int64_t hi = ((int64_t)1 << (8 * w - 1)) - 1;
		if (v >= lo && v <= hi)
			break;
		w++;
	}
	return w;
}

static size_t width_unsigned(uint64_t v)
{
	size_t w = 1;
	while (w < 8 && (v >> (8 * w)) != 0)
		w++;
	return w;
}

static void put_time(struct enc *e, int64_t ms)
{
	put_tl(e, T_LIST, 2);
	put_int(e, T_UINT, 2, 1);
	put_int(e, T_UINT, (uint64_t)(ms / 1000), 4);
}

static const uint8_t DEFAULT_SERVER[10] = { 0x0A, 0x01, 0x53, 0x4D, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* Message: list 6 {transactionId, groupNo, abortOnError, body, crc, 00};
 * body_fn writes {tag, body}. */
static void msg_begin(struct enc *e, uint8_t tid, size_t *start)
{
	*start = e->n;
	put_tl(e, T_LIST, 6);
	uint8_t id[4] = { 0x53, 0x4D, 0x00, tid };
	put_octets(e, id, sizeof id);
	put_int(e, T_UINT, 0, 1);
	put_int(e, T_UINT, 0, 1);
}

static void msg_end(struct enc *e, size_t start, bool corrupt)
{
	if (e->full)
		return;
	uint16_t x = sm_crc16_x25(0, e->p + start, e->n - start);
	x = (uint16_t)((x >> 8) | (x << 8));
	if (corrupt)
		x ^= 0x5A5A;
	put_int(e, T_UINT, x, 2);
	put1(e, 0x00);
}

static enum sm_err encode_messages(const struct sm_reading_set *s, const struct sm_sml_enc_opts *o,
				   struct enc *e)
{
	const uint8_t *sid = o->server_id ? o->server_id : DEFAULT_SERVER;
	size_t sidn = o->server_id ? o->server_id_len : sizeof DEFAULT_SERVER;
	if (sidn > 64)
		return SM_E_RANGE;
	size_t st;
	/* Open.Res */
	msg_begin(e, 1, &st);
	put_tl(e, T_LIST, 2);
	put_int(e, T_UINT, 0x0101, 2);
	put_tl(e, T_LIST, 6);
	put1(e, 0x01);
	put1(e, 0x01);
	uint8_t fid[3] = { 0x46, 0x49, 0x44 };
	put_octets(e, fid, sizeof fid);
	put_octets(e, sid, sidn);
	put1(e, 0x01);
	put1(e, 0x01);
	msg_end(e, st, false);
	/* GetList.Res */
	msg_begin(e, 2, &st);
	put_tl(e, T_LIST, 2);
	put_int(e, T_UINT, 0x0701, 2);
	put_tl(e, T_LIST, 7);
	put1(e, 0x01);
	put_octets(e, sid, sidn);
	put1(e, 0x01);
	if (s->meter_time_ms != 0) {
		if (s->meter_time_ms < 0 || s->meter_time_ms / 1000 > UINT32_MAX)
			return SM_E_RANGE;
		put_time(e, s->meter_time_ms);
	} else if (o->sec_index != 0) {
		put_tl(e, T_LIST, 2);
		put_int(e, T_UINT, 1, 1);
		put_int(e, T_UINT, o->sec_index, 4);
	} else {
		put1(e, 0x01);
	}
	put_tl(e, T_LIST, s->n);
	for (size_t i = 0; i < s->n; i++) {
		const struct sm_reading *r = &s->r[i];
		put_tl(e, T_LIST, 7);
		put_octets(e, r->obis.v, 6);
		put1(e, 0x01);
		if (r->time_ms != 0) {
			if (r->time_ms < 0 || r->time_ms / 1000 > UINT32_MAX)
				return SM_E_RANGE;
			put_time(e, r->time_ms);
		} else {
			put1(e, 0x01);
		}
		if (r->is_text) {
			put1(e, 0x01);
			put1(e, 0x01);
			put_octets(e, sm_reading_text(s, r), r->text_len);
		} else {
			uint8_t code;
			if (sm_dlms_unit_to_code(r, &code) != SM_OK)
				return SM_E_RANGE;
			if (code == 255)
				put1(e, 0x01);
			else
				put_int(e, T_UINT, code, 1);
			put_int(e, T_INT, (uint64_t)(int64_t)r->scale, 1);
			if (o->unsigned_values && r->raw >= 0) {
				size_t w = o->value_width ? o->value_width : width_unsigned((uint64_t)r->raw);
				if (w > 8 || width_unsigned((uint64_t)r->raw) > w)
					return SM_E_RANGE;
				put_int(e, T_UINT, (uint64_t)r->raw, w);
			} else {
				size_t w = o->value_width ? o->value_width : width_signed(r->raw);
				if (w > 8 || width_signed(r->raw) > w)
					return SM_E_RANGE;
				put_int(e, T_INT, (uint64_t)r->raw, w);
			}
		}
		put1(e, 0x01);
	}
	put1(e, 0x01);
	put1(e, 0x01);
	msg_end(e, st, o->bad_msg_crc);
	/* Close.Res */
	msg_begin(e, 3, &st);
	put_tl(e, T_LIST, 2);
	put_int(e, T_UINT, 0x0201, 2);
	put_tl(e, T_LIST, 1);
	put1(e, 0x01);
	msg_end(e, st, false);
	return e->full ? SM_E_FULL : SM_OK;
}

enum sm_err sm_sml_encode(const struct sm_reading_set *s, const struct sm_sml_enc_opts *opts,
			  uint8_t *out, size_t cap, size_t *outlen)
{
	static const struct sm_sml_enc_opts defaults;
	const struct sm_sml_enc_opts *o = opts ? opts : &defaults;
	/* messages first into the tail of out, then escaped to the front */
	uint8_t msgs[SM_SML_MAX];
	struct enc m = { msgs, sizeof msgs, 0, false };
	enum sm_err rc = encode_messages(s, o, &m);
	if (rc != SM_OK)
		return rc;
	size_t pad = (4 - (m.n & 3)) & 3;
	for (size_t i = 0; i < pad; i++)
		put1(&m, 0x00);
	if (m.full)
		return SM_E_FULL;
	struct enc e = { out, cap, 0, false };
	uint8_t ver = o->version2 ? 0x02 : 0x01;
	uint8_t start[8] = { 0x1B, 0x1B, 0x1B, 0x1B, ver, ver, ver, ver };
	put(&e, start, sizeof start);
	for (size_t i = 0; i < m.n; i += 4) {
		if (memcmp(msgs + i, ESC4, 4) == 0)
			put(&e, ESC4, 4);
		put(&e, msgs + i, 4);
	}
	put(&e, ESC4, 4);
	put1(&e, 0x1A);
	put1(&e, (uint8_t)pad);
	if (e.full)
		return SM_E_FULL;
	if (o->kermit) {
		uint16_t k = sm_crc16_kermit(0, out, e.n);
		put1(&e, (uint8_t)(k >> 8));
		put1(&e, (uint8_t)k);
	} else {
		uint16_t x = sm_crc16_x25(0, out, e.n);
		put1(&e, (uint8_t)x);
		put1(&e, (uint8_t)(x >> 8));
	}
	if (e.full)
		return SM_E_FULL;
	*outlen = e.n;
	return SM_OK;
}
