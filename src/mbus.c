/*
 * mbus.c - wired M-Bus long frames and DLMS segment reassembly (mbus.h).
 */
#include <string.h>

#include "crc.h"
#include "gcm.h"
#include "mbus.h"

/* ---- framer ---- */

static bool plausible_c(uint8_t c)
{
	return c == 0x53 || c == 0x73; /* SND_UD, FCB clear or set */
}

void sm_mbus_framer_init(struct sm_mbus_framer *f)
{
	memset(f, 0, sizeof(*f));
}

void sm_mbus_framer_reset(struct sm_mbus_framer *f)
{
	f->len = 0;
	f->drop = 0;
}

/* Remove k bytes from the front of the window. */
static void win_drop(struct sm_mbus_framer *f, size_t k)
{
	if (k >= f->len) {
		f->len = 0;
		return;
	}
	memmove(f->win, f->win + k, f->len - k);
	f->len -= k;
}

static void release(struct sm_mbus_framer *f)
{
	if (f->drop > 0) {
		win_drop(f, f->drop);
		f->drop = 0;
	}
}

/* Bytes of C..data the header at the window's start announces (L, or
 * L + 256 for an impossible L: the T210-D overflow). */
static size_t body_len(uint8_t l)
{
	return l < SM_MBUS_MIN_L ? (size_t)l + 256 : l;
}

/*
 * Look at the window's start.  SM_FRAME (frame set, f->drop set),
 * SM_NEED_MORE (*need more bytes are needed to decide; 1 when the window
 * is empty), or a negative code for a rejected candidate (its first byte
 * already dropped).  Bytes that cannot start a frame are dropped silently.
 */
static enum sm_err scan(struct sm_mbus_framer *f, size_t *need, struct sm_mbus_frame *frame,
			struct sm_diag *diag)
{
	for (;;) {
		const uint8_t *w = f->win;
		size_t len = f->len;
		if (len == 0) {
			*need = 1;
			return SM_NEED_MORE;
		}
		if (w[0] != SM_MBUS_START) {
			const uint8_t *p = memchr(w + 1, SM_MBUS_START, len - 1);
			size_t k = p != NULL ? (size_t)(p - w) : len;
			f->skipped += k;
			win_drop(f, k);
			continue;
		}
		if ((len >= 3 && w[2] != w[1]) || (len >= 4 && w[3] != SM_MBUS_START) ||
		    (len >= 5 && !plausible_c(w[4]))) {
			f->skipped++;
			win_drop(f, 1);
			continue;
		}
		if (len < 5) {
			*need = 5 - len;
			return SM_NEED_MORE;
		}
		uint8_t l = w[1];
		size_t body = body_len(l);
		size_t flen = 4 + body + 2;
		if (len < flen) {
			*need = flen - len;
			return SM_NEED_MORE;
		}
		uint8_t cs = sm_mbus_sum(0, w + 4, body);
		if (w[flen - 1] == SM_MBUS_STOP && w[flen - 2] == cs) {
			frame->c = w[4];
			frame->a = w[5];
			frame->ci = w[6];
			frame->data = w + 7;
			frame->n = body - 3;
			frame->overflow = l < SM_MBUS_MIN_L;
			frame->wire_len = flen;
			if (frame->overflow)
				f->overflows++;
			f->drop = flen;
			return SM_FRAME;
		}
		enum sm_err rc;
		if (l < SM_MBUS_MIN_L) {
			sm_diag_set(diag, "M-Bus header 68 %02X %02X 68: length %u is impossible and no frame "
				    "of %zu bytes verifies there either: resynchronising", l, l, l, body);
			rc = SM_E_SYNTAX;
		} else if (w[flen - 1] == SM_MBUS_STOP) {
			sm_diag_set(diag, "M-Bus checksum 0x%02X, computed 0x%02X (frame of %zu bytes)",
				    w[flen - 2], cs, flen);
			rc = SM_E_CHECKSUM;
		} else {
			sm_diag_set(diag, "M-Bus frame of %zu bytes (L %u) has 0x%02X where its stop byte 16 "
				    "should be: bytes lost, resynchronising", flen, l, w[flen - 1]);
			rc = SM_E_TRUNCATED;
		}
		f->skipped++;
		win_drop(f, 1);
		return rc;
	}
}

enum sm_err sm_mbus_framer_feed(struct sm_mbus_framer *f, const uint8_t *in, size_t len,
				size_t *used, struct sm_mbus_frame *frame, struct sm_diag *diag)
{
	*used = 0;
	release(f);
	for (;;) {
		size_t need = 0;
		enum sm_err rc = scan(f, &need, frame, diag);
		if (rc != SM_NEED_MORE)
			return rc;
		if (*used == len)
			return SM_NEED_MORE;
		if (f->len == 0) {
			/* fast path between frames: skip to the next start byte */
			const uint8_t *p = memchr(in + *used, SM_MBUS_START, len - *used);
			size_t k = p != NULL ? (size_t)(p - (in + *used)) : len - *used;
			f->skipped += k;
			*used += k;
			if (*used == len)
				return SM_NEED_MORE;
		}
		size_t take = len - *used;
		if (take > need)
			take = need;
		if (take > sizeof(f->win) - f->len)
			take = sizeof(f->win) - f->len; /* cannot happen: need fits */
		memcpy(f->win + f->len, in + *used, take);
		f->len += take;
		*used += take;
	}
}

enum sm_err sm_mbus_framer_flush(struct sm_mbus_framer *f, struct sm_mbus_frame *frame,
				 struct sm_diag *diag)
{
	release(f);
	size_t need = 0;
	enum sm_err rc = scan(f, &need, frame, diag);
	if (rc != SM_NEED_MORE || f->len == 0)
		return rc;
	/* The window starts with a candidate that will not complete now. */
	if (f->len >= 5) {
		uint8_t l = f->win[1];
		if (l < SM_MBUS_MIN_L) {
			sm_diag_set(diag, "M-Bus header 68 %02X %02X 68: length %u is impossible and the "
				    "input ended after %zu bytes: dropped", l, l, l, f->len);
			rc = SM_E_SYNTAX;
		} else {
			sm_diag_set(diag, "M-Bus frame cut: %zu of %zu bytes", f->len, (size_t)l + 6);
			rc = SM_E_TRUNCATED;
		}
		f->skipped++;
		win_drop(f, 1);
		return rc;
	}
	f->skipped += f->len;
	f->len = 0;
	return SM_NEED_MORE;
}

/* ---- DLMS segments -> APDU ---- */

enum { ST_IDLE, ST_COLLECT, ST_SKIP };

void sm_mbus_dlms_init(struct sm_mbus_dlms *d)
{
	sm_mbus_framer_init(&d->framer);
	d->state = ST_IDLE;
	d->expect = 0;
	d->synced = false;
	d->ready = false;
	d->ready_n = 0;
	d->len = 0;
	d->total = 0;
	d->extra = 0;
	d->other = 0;
}

void sm_mbus_dlms_reset(struct sm_mbus_dlms *d)
{
	sm_mbus_framer_reset(&d->framer);
	d->state = ST_IDLE;
	d->expect = 0;
	d->synced = false;
	d->ready = false;
	d->len = 0;
	d->total = 0;
}

static void apdu_out(struct sm_mbus_dlms *d, size_t n, struct sm_frame *apdu)
{
	apdu->p = d->apdu;
	apdu->n = n;
	apdu->check = SM_CHECK_OK;
	apdu->unterminated = false;
}

/* Keep the first error of a step: *err and diag are set only once. */
static void first_err(enum sm_err *err, struct sm_diag *diag, enum sm_err rc, const struct sm_diag *d2)
{
	if (*err != SM_NEED_MORE)
		return;
	*err = rc;
	if (diag != NULL)
		*diag = *d2;
}

/*
 * One verified frame.  SM_FRAME (APDU complete, *apdu set), SM_NEED_MORE,
 * or an error; an error may come with a completed APDU that is then kept
 * in d->ready for the next call.
 */
static enum sm_err segment(struct sm_mbus_dlms *d, const struct sm_mbus_frame *fr,
			   struct sm_frame *apdu, struct sm_diag *diag)
{
	struct sm_diag tmp;
	enum sm_err err = SM_NEED_MORE;

	if (fr->ci > 0x1F) {
		d->other++;
		sm_diag_set(diag, "M-Bus frame with CI 0x%02X is not a DLMS segment (CI 00..1F)", fr->ci);
		return SM_E_SYNTAX;
	}
	if (fr->n < 2) {
		sm_diag_set(diag, "DLMS segment (CI 0x%02X) without its transport SAPs", fr->ci);
		return SM_E_SYNTAX;
	}
	const uint8_t *p = fr->data + 2;
	size_t n = fr->n - 2;
	unsigned ctr = fr->ci & 0x0Fu;
	bool last = (fr->ci & 0x10u) != 0;
	bool was_synced = d->synced;
	uint8_t expect = d->expect;
	d->synced = true;
	d->expect = (uint8_t)((ctr + 1) & 0x0Fu); /* what a continuation of this one would carry */

	/* counter 0 starts an APDU, unless it is the continuation after 15
	 * (an APDU being collected or skipped: the counter wraps) */
	bool wraps = (d->state == ST_COLLECT || d->state == ST_SKIP) && expect == 0;
	if (ctr == 0 && !wraps) {
		if (d->state == ST_COLLECT) {
			sm_diag_set(&tmp, "DLMS segment %u missing (%zu APDU bytes so far): a new APDU "
				    "began, the old one is dropped", expect, d->len);
			first_err(&err, diag, SM_E_TRUNCATED, &tmp);
		}
		d->state = ST_COLLECT;
		d->len = 0;
		d->total = 0;
	} else if (d->state == ST_COLLECT) {
		if (ctr != expect) {
			sm_diag_set(diag, "DLMS segment %u arrived where %u was expected: APDU dropped",
				    ctr, expect);
			d->state = last ? ST_IDLE : ST_SKIP;
			return SM_E_TRUNCATED;
		}
	} else {
		int was = d->state;
		d->state = last ? ST_IDLE : ST_SKIP;
		if (was == ST_SKIP || !was_synced)
			return SM_NEED_MORE; /* the rest of a dropped APDU, or the tail we came in on */
		sm_diag_set(diag, "DLMS segment %u without its first segment: dropped", ctr);
		return SM_E_TRUNCATED;
	}

	if (n > sizeof(d->apdu) - d->len) {
		sm_diag_set(&tmp, "DLMS APDU longer than %d bytes: dropped", SM_DLMS_MAX_APDU);
		first_err(&err, diag, SM_E_TOO_LONG, &tmp);
		d->state = last ? ST_IDLE : ST_SKIP;
		return err;
	}
	memcpy(d->apdu + d->len, p, n);
	d->len += n;

	if (d->total == 0) {
		enum sm_err rc = sm_gcm_apdu_total(d->apdu, d->len, SM_DLMS_MAX_APDU, &d->total, &tmp);
		if (rc != SM_OK && rc != SM_NEED_MORE) {
			first_err(&err, diag, rc, &tmp);
			d->state = last ? ST_IDLE : ST_SKIP;
			return err;
		}
	}

	size_t done = 0;
	if (d->total > 0 && d->len >= d->total) {
		/* complete with its header's length, whatever segments follow */
		d->extra += d->len - d->total;
		done = d->total;
		d->state = last ? ST_IDLE : ST_SKIP;
	} else if (last) {
		d->state = ST_IDLE;
		enum sm_err rc = sm_gcm_apdu_complete(d->apdu, d->len, d->total, &done, &tmp);
		if (rc != SM_OK) {
			first_err(&err, diag, rc, &tmp);
			return err;
		}
	} else {
		return err;
	}
	if (err != SM_NEED_MORE) {
		d->ready = true;
		d->ready_n = done;
		return err;
	}
	apdu_out(d, done, apdu);
	return SM_FRAME;
}

enum sm_err sm_mbus_dlms_feed(struct sm_mbus_dlms *d, const uint8_t *in, size_t len, size_t *used,
			      struct sm_frame *apdu, struct sm_diag *diag)
{
	*used = 0;
	if (d->ready) {
		d->ready = false;
		apdu_out(d, d->ready_n, apdu);
		return SM_FRAME;
	}
	for (;;) {
		struct sm_mbus_frame fr;
		size_t u = 0;
		enum sm_err rc = sm_mbus_framer_feed(&d->framer, in + *used, len - *used, &u, &fr, diag);
		*used += u;
		if (rc < 0 && d->state == ST_COLLECT) {
			/* the APDU lost a segment: dropped with this error; what
			 * follows it is skipped (its counter one further) */
			d->state = ST_SKIP;
			d->expect = (uint8_t)((d->expect + 1) & 0x0Fu);
		}
		if (rc != SM_FRAME)
			return rc;
		rc = segment(d, &fr, apdu, diag);
		if (rc != SM_NEED_MORE)
			return rc;
	}
}

enum sm_err sm_mbus_dlms_flush(struct sm_mbus_dlms *d, struct sm_frame *apdu, struct sm_diag *diag)
{
	if (d->ready) {
		d->ready = false;
		apdu_out(d, d->ready_n, apdu);
		return SM_FRAME;
	}
	for (;;) {
		struct sm_mbus_frame fr;
		enum sm_err rc = sm_mbus_framer_flush(&d->framer, &fr, diag);
		if (rc == SM_FRAME) {
			rc = segment(d, &fr, apdu, diag);
			if (rc != SM_NEED_MORE)
				return rc;
			continue;
		}
		if (rc != SM_NEED_MORE) {
			/* a cut or bad frame: an APDU waiting for it is lost with it */
			if (d->state == ST_COLLECT) {
				d->state = ST_SKIP;
				d->expect = (uint8_t)((d->expect + 1) & 0x0Fu);
			}
			return rc;
		}
		break;
	}
	int was = d->state;
	d->state = ST_IDLE;
	if (was == ST_COLLECT) {
		sm_diag_set(diag, "DLMS APDU incomplete when the line went quiet: segment %u missing "
			    "(%zu bytes so far)", d->expect, d->len);
		return SM_E_TRUNCATED;
	}
	return SM_NEED_MORE;
}

/* ---- encoders ---- */

enum sm_err sm_mbus_encode_frame(uint8_t c, uint8_t a, uint8_t ci, const uint8_t *data, size_t n,
				 uint8_t *out, size_t cap, size_t *outlen)
{
	if (n > SM_MBUS_MAX_L - 3)
		return SM_E_RANGE;
	size_t flen = n + 9;
	if (cap < flen)
		return SM_E_FULL;
	uint8_t l = (uint8_t)(n + 3);
	out[0] = SM_MBUS_START;
	out[1] = l;
	out[2] = l;
	out[3] = SM_MBUS_START;
	out[4] = c;
	out[5] = a;
	out[6] = ci;
	if (n > 0)
		memcpy(out + 7, data, n);
	out[7 + n] = sm_mbus_sum(0, out + 4, (size_t)l);
	out[8 + n] = SM_MBUS_STOP;
	*outlen = flen;
	return SM_OK;
}

enum sm_err sm_mbus_encode_apdu(const uint8_t *apdu, size_t n, size_t seg_max, uint8_t *out,
				size_t cap, size_t *outlen)
{
	uint8_t seg[2 + SM_MBUS_MAX_SEGMENT];
	size_t off = 0, at = 0;
	unsigned k = 0;

	if (seg_max < 1 || seg_max > SM_MBUS_MAX_SEGMENT)
		return SM_E_RANGE;
	seg[0] = 0x01;
	seg[1] = 0x67;
	do {
		size_t m = n - off < seg_max ? n - off : seg_max;
		bool last = off + m == n;
		size_t w = 0;
		if (m > 0)
			memcpy(seg + 2, apdu + off, m);
		uint8_t ci = (uint8_t)((k & 0x0Fu) | (last ? 0x10u : 0u));
		enum sm_err rc = sm_mbus_encode_frame(0x53, 0xFF, ci, seg, m + 2, out + at, cap - at, &w);
		if (rc != SM_OK)
			return rc;
		at += w;
		off += m;
		k++;
	} while (off < n);
	*outlen = at;
	return SM_OK;
}
