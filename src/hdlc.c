/*
 * hdlc.c - DLMS over HDLC: framer, segment joining, encoders (hdlc.h).
 */
#include <string.h>

#include "crc.h"
#include "gcm.h"
#include "hdlc.h"

enum { ST_IDLE, ST_COLLECT, ST_SKIP };

void sm_hdlc_init(struct sm_hdlc *h)
{
	h->len = 0;
	h->drop = 0;
	h->state = ST_IDLE;
	h->synced = false;
	h->ready = false;
	h->ready_n = 0;
	h->alen = 0;
	h->skipped = 0;
	h->other = 0;
	h->extra = 0;
}

void sm_hdlc_reset(struct sm_hdlc *h)
{
	h->len = 0;
	h->drop = 0;
	h->state = ST_IDLE;
	h->synced = false;
	h->ready = false;
	h->alen = 0;
}

static void win_drop(struct sm_hdlc *h, size_t k)
{
	if (k >= h->len) {
		h->len = 0;
		return;
	}
	memmove(h->win, h->win + k, h->len - k);
	h->len -= k;
}

static void release(struct sm_hdlc *h)
{
	if (h->drop > 0) {
		win_drop(h, h->drop);
		h->drop = 0;
	}
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/*
 * One address at w[i..len): 1, 2 or 4 bytes, bit 0 set on the last.
 * Returns its length, 0 when more bytes are needed, -1 when invalid.
 */
static int addr_len(const uint8_t *w, size_t i, size_t len)
{
	for (size_t k = 0; k < 4; k++) {
		if (i + k >= len)
			return 0;
		if (w[i + k] & 1u) {
			size_t n = k + 1;
			return n == 3 ? -1 : (int)n;
		}
	}
	return -1;
}

/* Frame length between the flags, from the format field at w[1..3). */
static size_t format_len(const uint8_t *w)
{
	return ((size_t)(w[1] & 0x07u) << 8) | w[2];
}

/*
 * Look at the window's start.  SM_FRAME (frame set, h->drop set),
 * SM_NEED_MORE (*need more bytes are needed; 1 when empty), or a negative
 * code for a rejected candidate (its flag already dropped).  Starts that
 * cannot be a frame are dropped silently.
 */
static enum sm_err scan(struct sm_hdlc *h, size_t *need, struct sm_hdlc_frame *frame,
			struct sm_diag *diag)
{
	for (;;) {
		const uint8_t *w = h->win;
		size_t len = h->len;
		if (len == 0) {
			*need = 1;
			return SM_NEED_MORE;
		}
		if (w[0] != SM_HDLC_FLAG) {
			const uint8_t *p = memchr(w + 1, SM_HDLC_FLAG, len - 1);
			size_t k = p != NULL ? (size_t)(p - w) : len;
			h->skipped += k;
			win_drop(h, k);
			continue;
		}
		if (len < 3) {
			if (len == 2 && (w[1] & 0xF0u) != 0xA0u) {
				win_drop(h, 1); /* a flag not followed by a frame: not counted */
				continue;
			}
			*need = 3 - len;
			return SM_NEED_MORE;
		}
		if ((w[1] & 0xF0u) != 0xA0u) {
			win_drop(h, 1);
			continue;
		}
		size_t flen = format_len(w);
		if (flen < SM_HDLC_MIN_LEN) {
			h->skipped++;
			win_drop(h, 1);
			continue;
		}
		size_t end = 1 + flen; /* index of the closing flag */
		int dn = addr_len(w, 3, len < end ? len : end);
		int sn = dn > 0 ? addr_len(w, 3 + (size_t)dn, len < end ? len : end) : 0;
		if (dn < 0 || sn < 0 || ((dn == 0 || sn == 0) && len >= end)) {
			h->skipped++;
			win_drop(h, 1);
			continue;
		}
		if (dn == 0 || sn == 0) {
			*need = 1;
			return SM_NEED_MORE;
		}
		size_t ctl = 3 + (size_t)dn + (size_t)sn; /* index of the control byte */
		size_t hl = ctl;                         /* bytes of format .. control */
		if (hl + 2 > flen) {
			h->skipped++;
			win_drop(h, 1);
			continue;
		}
		bool has_info = flen > hl + 2;
		if (has_info) {
			size_t hcs_at = ctl + 1;
			if (hl + 5 > flen) {
				/* room for HCS and FCS but no information byte */
				h->skipped++;
				win_drop(h, 1);
				continue;
			}
			if (len < hcs_at + 2) {
				*need = hcs_at + 2 - len;
				return SM_NEED_MORE;
			}
			uint16_t hcs = sm_crc16_x25(0, w + 1, hl);
			if (le16(w + hcs_at) != hcs) {
				sm_diag_set(diag, "HDLC header checksum (HCS) %04X, computed %04X: resynchronising",
					    le16(w + hcs_at), hcs);
				h->skipped++;
				win_drop(h, 1);
				return SM_E_CRC;
			}
		}
		if (len < end + 1) {
			*need = end + 1 - len;
			return SM_NEED_MORE;
		}
		uint16_t fcs = sm_crc16_x25(0, w + 1, flen - 2);
		if (le16(w + end - 2) != fcs) {
			sm_diag_set(diag, "HDLC frame checksum (FCS) %04X, computed %04X (frame of %zu bytes)",
				    le16(w + end - 2), fcs, flen);
			h->skipped++;
			win_drop(h, 1);
			return SM_E_CRC;
		}
		if (w[end] != SM_HDLC_FLAG) {
			sm_diag_set(diag, "HDLC frame of %zu bytes without its closing flag (0x%02X)", flen,
				    w[end]);
			h->skipped++;
			win_drop(h, 1);
			return SM_E_SYNTAX;
		}
		frame->segmented = (w[1] & SM_HDLC_SEGMENT) != 0;
		frame->dest_n = (uint8_t)dn;
		frame->src_n = (uint8_t)sn;
		memcpy(frame->dest, w + 3, (size_t)dn);
		memcpy(frame->src, w + 3 + dn, (size_t)sn);
		frame->control = w[ctl];
		frame->info = has_info ? w + ctl + 3 : NULL;
		frame->info_n = has_info ? flen - hl - 4 : 0;
		frame->wire_len = end;
		h->drop = end; /* the closing flag may open the next frame */
		return SM_FRAME;
	}
}

/* Take bytes from in into the window, as many as scan asked for. */
static bool take(struct sm_hdlc *h, const uint8_t *in, size_t len, size_t *used, size_t need)
{
	if (*used == len)
		return false;
	if (h->len == 0) {
		const uint8_t *p = memchr(in + *used, SM_HDLC_FLAG, len - *used);
		size_t k = p != NULL ? (size_t)(p - (in + *used)) : len - *used;
		h->skipped += k;
		*used += k;
		if (*used == len)
			return false;
	}
	size_t t = len - *used;
	if (t > need)
		t = need;
	if (t > sizeof(h->win) - h->len)
		t = sizeof(h->win) - h->len; /* cannot happen: a frame fits */
	memcpy(h->win + h->len, in + *used, t);
	h->len += t;
	*used += t;
	return true;
}

enum sm_err sm_hdlc_frame_feed(struct sm_hdlc *h, const uint8_t *in, size_t len, size_t *used,
			       struct sm_hdlc_frame *frame, struct sm_diag *diag)
{
	*used = 0;
	release(h);
	for (;;) {
		size_t need = 0;
		enum sm_err rc = scan(h, &need, frame, diag);
		if (rc == SM_FRAME && frame->info == NULL) {
			h->other++;
			release(h);
			continue;
		}
		if (rc != SM_NEED_MORE)
			return rc;
		if (!take(h, in, len, used, need))
			return SM_NEED_MORE;
	}
}

enum sm_err sm_hdlc_frame_flush(struct sm_hdlc *h, struct sm_hdlc_frame *frame, struct sm_diag *diag)
{
	release(h);
	for (;;) {
		size_t need = 0;
		enum sm_err rc = scan(h, &need, frame, diag);
		if (rc == SM_FRAME && frame->info == NULL) {
			h->other++;
			release(h);
			continue;
		}
		if (rc != SM_NEED_MORE || h->len == 0)
			return rc;
		/* a candidate that will not complete now */
		if (h->len >= 3) {
			sm_diag_set(diag, "HDLC frame cut: %zu of %zu bytes", h->len - 1, format_len(h->win));
			h->skipped++;
			win_drop(h, 1);
			return SM_E_TRUNCATED;
		}
		h->len = 0;
		return SM_NEED_MORE;
	}
}

/* ---- joining segments ---- */

static void apdu_out(struct sm_hdlc *h, size_t n, struct sm_frame *apdu)
{
	apdu->p = h->apdu;
	apdu->n = n;
	apdu->check = SM_CHECK_OK;
	apdu->unterminated = false;
}

static void first_err(enum sm_err *err, struct sm_diag *diag, enum sm_err rc, const struct sm_diag *d2)
{
	if (*err != SM_NEED_MORE)
		return;
	*err = rc;
	if (diag != NULL)
		*diag = *d2;
}

static bool is_llc(const uint8_t *p, size_t n)
{
	return n >= 3 && p[0] == 0xE6 && (p[1] == 0xE7 || p[1] == 0xE6) && p[2] == 0x00;
}

static enum sm_err join(struct sm_hdlc *h, const struct sm_hdlc_frame *fr, struct sm_frame *apdu,
			struct sm_diag *diag)
{
	struct sm_diag tmp;
	enum sm_err err = SM_NEED_MORE;
	const uint8_t *p = fr->info;
	size_t n = fr->info_n;
	bool more = fr->segmented;
	bool was_synced = h->synced;
	h->synced = true;

	bool llc = is_llc(p, n);
	/* Without LLC only between messages: while skipping the rest of a
	 * dropped message (the previous frame had S set) a frame is its
	 * continuation whatever its first byte. */
	bool start = llc || (h->state == ST_IDLE && n > 0 && (p[0] == 0x0F || p[0] == 0xDB));
	if (start) {
		if (h->state == ST_COLLECT) {
			sm_diag_set(&tmp, "HDLC segment missing (%zu APDU bytes so far): a new APDU began, "
				    "the old one is dropped", h->alen);
			first_err(&err, diag, SM_E_TRUNCATED, &tmp);
		}
		if (llc) {
			p += 3;
			n -= 3;
		}
		h->state = ST_COLLECT;
		h->alen = 0;
	} else if (h->state != ST_COLLECT) {
		int was = h->state;
		h->state = more ? ST_SKIP : ST_IDLE;
		if (was == ST_SKIP || !was_synced)
			return SM_NEED_MORE;
		sm_diag_set(diag, "HDLC segment without its first segment (no LLC header): dropped");
		return SM_E_TRUNCATED;
	}

	if (n > sizeof(h->apdu) - h->alen) {
		sm_diag_set(&tmp, "DLMS APDU longer than %d bytes: dropped", SM_DLMS_MAX_APDU);
		first_err(&err, diag, SM_E_TOO_LONG, &tmp);
		h->state = more ? ST_SKIP : ST_IDLE;
		return err;
	}
	memcpy(h->apdu + h->alen, p, n);
	h->alen += n;

	size_t total = 0, done = 0;
	enum sm_err rc = sm_gcm_apdu_total(h->apdu, h->alen, SM_DLMS_MAX_APDU, &total, &tmp);
	if (rc != SM_OK && rc != SM_NEED_MORE) {
		first_err(&err, diag, rc, &tmp);
		h->state = more ? ST_SKIP : ST_IDLE;
		return err;
	}
	if (more)
		return err;

	h->state = ST_IDLE;
	rc = sm_gcm_apdu_complete(h->apdu, h->alen, total, &done, &tmp);
	if (rc != SM_OK) {
		first_err(&err, diag, rc, &tmp);
		return err;
	}
	h->extra += h->alen - done;
	if (err != SM_NEED_MORE) {
		h->ready = true;
		h->ready_n = done;
		return err;
	}
	apdu_out(h, done, apdu);
	return SM_FRAME;
}

enum sm_err sm_hdlc_feed(struct sm_hdlc *h, const uint8_t *in, size_t len, size_t *used,
			 struct sm_frame *apdu, struct sm_diag *diag)
{
	*used = 0;
	if (h->ready) {
		h->ready = false;
		apdu_out(h, h->ready_n, apdu);
		return SM_FRAME;
	}
	for (;;) {
		struct sm_hdlc_frame fr;
		size_t u = 0;
		enum sm_err rc = sm_hdlc_frame_feed(h, in + *used, len - *used, &u, &fr, diag);
		*used += u;
		if (rc < 0 && h->state == ST_COLLECT)
			h->state = ST_SKIP; /* the APDU lost a segment: drop it with this error */
		if (rc != SM_FRAME)
			return rc;
		rc = join(h, &fr, apdu, diag);
		if (rc != SM_NEED_MORE)
			return rc;
	}
}

enum sm_err sm_hdlc_flush(struct sm_hdlc *h, struct sm_frame *apdu, struct sm_diag *diag)
{
	if (h->ready) {
		h->ready = false;
		apdu_out(h, h->ready_n, apdu);
		return SM_FRAME;
	}
	for (;;) {
		struct sm_hdlc_frame fr;
		enum sm_err rc = sm_hdlc_frame_flush(h, &fr, diag);
		if (rc == SM_FRAME) {
			rc = join(h, &fr, apdu, diag);
			if (rc != SM_NEED_MORE)
				return rc;
			continue;
		}
		if (rc != SM_NEED_MORE) {
			if (h->state == ST_COLLECT)
				h->state = ST_IDLE; /* dropped together with the cut frame */
			return rc;
		}
		break;
	}
	int was = h->state;
	h->state = ST_IDLE;
	if (was == ST_COLLECT) {
		sm_diag_set(diag, "DLMS APDU incomplete when the line went quiet: its last HDLC segment "
			    "is missing (%zu bytes so far)", h->alen);
		return SM_E_TRUNCATED;
	}
	return SM_NEED_MORE;
}

/* ---- encoders ---- */

static bool addr_ok(const uint8_t *a, size_t n, size_t *dn)
{
	int d = addr_len(a, 0, n);
	if (d <= 0)
		return false;
	int s = addr_len(a, (size_t)d, n);
	if (s <= 0 || (size_t)(d + s) != n)
		return false;
	*dn = (size_t)d;
	return true;
}

enum sm_err sm_hdlc_encode_frame(bool segmented, const uint8_t *addr, size_t addr_n, uint8_t control,
				 const uint8_t *info, size_t n, uint8_t *out, size_t cap,
				 size_t *outlen)
{
	size_t dn = 0;
	if (!addr_ok(addr, addr_n, &dn))
		return SM_E_SYNTAX;
	size_t hl = 2 + addr_n + 1;
	size_t flen = hl + (n > 0 ? 2 + n : 0) + 2;
	if (flen > SM_HDLC_MAX_LEN)
		return SM_E_RANGE;
	if (cap < flen + 2)
		return SM_E_FULL;
	size_t at = 0;
	out[at++] = SM_HDLC_FLAG;
	out[at++] = (uint8_t)(0xA0u | (segmented ? SM_HDLC_SEGMENT : 0u) | ((flen >> 8) & 0x07u));
	out[at++] = (uint8_t)(flen & 0xFFu);
	memcpy(out + at, addr, addr_n);
	at += addr_n;
	out[at++] = control;
	if (n > 0) {
		uint16_t hcs = sm_crc16_x25(0, out + 1, hl);
		out[at++] = (uint8_t)(hcs & 0xFFu);
		out[at++] = (uint8_t)(hcs >> 8);
		memcpy(out + at, info, n);
		at += n;
	}
	uint16_t fcs = sm_crc16_x25(0, out + 1, at - 1);
	out[at++] = (uint8_t)(fcs & 0xFFu);
	out[at++] = (uint8_t)(fcs >> 8);
	out[at++] = SM_HDLC_FLAG;
	*outlen = at;
	return SM_OK;
}

#define ENC_SEG_MAX 2000

enum sm_err sm_hdlc_encode_apdu(const uint8_t *apdu, size_t n, size_t seg_max, uint8_t *out,
				size_t cap, size_t *outlen)
{
	static const uint8_t addr[] = {0x41, 0x08, 0x83};
	static const uint8_t llc[] = {0xE6, 0xE7, 0x00};
	uint8_t info[ENC_SEG_MAX];
	size_t total = n + sizeof(llc), off = 0, at = 0;

	if (seg_max < 1 || seg_max > ENC_SEG_MAX)
		return SM_E_RANGE;
	while (off < total) {
		size_t m = total - off < seg_max ? total - off : seg_max;
		/* info bytes off..off+m of LLC || APDU */
		for (size_t i = 0; i < m; i++) {
			size_t k = off + i;
			info[i] = k < sizeof(llc) ? llc[k] : apdu[k - sizeof(llc)];
		}
		size_t w = 0;
		enum sm_err rc = sm_hdlc_encode_frame(off + m < total, addr, sizeof(addr), 0x13, info, m,
						      out + at, cap - at, &w);
		if (rc != SM_OK)
			return rc;
		at += w;
		off += m;
	}
	*outlen = at;
	return SM_OK;
}
