/*
 * proto_dlms.c - the "dlms" entry of the protocol table (declared in
 * mbus.h): DLMS/COSEM push meters.  A framer per Framing cuts APDUs out of
 * the byte stream, ciphered ones are decrypted (gcm.h) and the
 * data-notification is decoded (dlms.h).
 *
 *   Framing "mbus" (default; 2400 8E1): wired M-Bus long frames, DLMS
 *            segments reassembled (mbus.h);
 *   Framing "hdlc" (2400 8N1): HDLC frames, segments joined (hdlc.h);
 *   Framing "raw" (2400 8N1): APDUs back to back with nothing around them (TCP
 *            bridges that strip the framing, captures): a 0xDB APDU is found
 *            by its plausible header (system title length 8, a BER length
 *            within SM_DLMS_MAX_APDU, security control 0x20/0x21/0x30/0x31)
 *            and its length; a 0x0F data-notification by its header (date-time
 *            00 or 0C + a valid date-time, a body that starts with an array or
 *            a structure) and the end of its A-XDR body.  Other bytes are
 *            skipped; there is no checksum (info->check ABSENT unless a GCM
 *            tag authenticated the APDU).
 *
 * APDUs:
 *   0xDB with a Key: decrypted; a tag mismatch or a missing AuthKey is
 *        SM_E_AUTH (gcm.h); plaintext that does not start with 0x0F is
 *        SM_E_NOT_APDU ("decrypted data is not a DLMS APDU: check Key");
 *        readings decrypted without a verified tag (SC 0x20/0x21) are
 *        marked info->unauthenticated, unless an AuthKey is configured:
 *        then such frames are refused (SM_E_AUTH: they could be forged or
 *        downgraded).
 *   0xDB without a Key: SM_E_AUTH, "frame is encrypted ... but no Key is
 *        configured" (counted with the authentication errors: the cure is the
 *        same, a key).
 *   0x0F: decoded directly (meters with encryption off); with a Key
 *        configured such readings are marked info->unauthenticated too, and
 *        with an AuthKey they are refused (SM_E_AUTH).
 *   any other tag: SM_E_SYNTAX.
 * info->check is OK for M-Bus and HDLC (every checksum of the APDU's
 * frames verified).  Key bytes never appear in a diag.
 *
 * The AES context is made in init and freed (keys wiped) in fini;
 * otherwise pure: no I/O, no clock, no allocation after init.
 */
#include <stdio.h>
#include <string.h>

#include "axdr.h"
#include "config.h"
#include "dlms.h"
#include "gcm.h"
#include "hdlc.h"
#include "mbus.h"
#include "proto.h"

/* ---- raw APDU stream ---- */

struct raw_framer {
	size_t len;      /* bytes in buf */
	size_t drop;     /* bytes of the APDU handed out last */
	uint64_t skipped;
	uint8_t buf[SM_DLMS_MAX_APDU];
};

static void raw_init(struct raw_framer *r)
{
	r->len = 0;
	r->drop = 0;
	r->skipped = 0;
}

static void raw_drop(struct raw_framer *r, size_t k)
{
	if (k >= r->len) {
		r->len = 0;
		return;
	}
	memmove(r->buf, r->buf + k, r->len - k);
	r->len -= k;
}

static bool sc_plausible(uint8_t sc)
{
	return sc == 0x20 || sc == 0x21 || sc == 0x30 || sc == 0x31;
}

enum cand { C_NEED, C_BAD, C_OK };

/* A 0xDB candidate at buf[0..len): its total length when plausible. */
static enum cand raw_db(const uint8_t *p, size_t len, size_t *total)
{
	size_t t = 0;
	enum sm_err rc = sm_gcm_apdu_length(p, len, SM_DLMS_MAX_APDU, &t);
	if (rc == SM_NEED_MORE)
		return C_NEED;
	if (rc != SM_OK)
		return C_BAD;
	size_t sc_at = 10 + (p[10] < 0x80 ? 1 : (size_t)(p[10] & 0x7Fu) + 1);
	if (len <= sc_at)
		return C_NEED;
	if (!sc_plausible(p[sc_at]) || ((p[sc_at] & 0x10u) && t < sc_at + 5 + SM_GCM_TAG_LEN))
		return C_BAD;
	*total = t;
	return C_OK;
}

/* A 0x0F candidate: its total length once its body is complete. */
static enum cand raw_0f(const uint8_t *p, size_t len, size_t *total)
{
	if (len < 6)
		return C_NEED;
	size_t off;
	if (p[5] == 0x00) {
		off = 6;
	} else if (p[5] == 0x0C) {
		if (len < 18)
			return C_NEED;
		struct sm_axdr_datetime dt;
		if (!sm_axdr_datetime_parse(p + 6, 12, &dt))
			return C_BAD;
		off = 18;
	} else {
		return C_BAD;
	}
	if (len <= off)
		return C_NEED;
	if (p[off] != SM_AXDR_ARRAY && p[off] != SM_AXDR_STRUCT)
		return C_BAD;
	struct sm_axdr_it it;
	enum sm_err rc = sm_axdr_init(&it, p + off, len - off, 1);
	if (rc == SM_OK)
		rc = sm_axdr_next(&it);
	if (rc == SM_E_TRUNCATED)
		return C_NEED;
	if (rc != SM_OK)
		return C_BAD;
	*total = (size_t)(sm_axdr_pos(&it) - p);
	return C_OK;
}

/* SM_FRAME, SM_NEED_MORE (*need bytes more at least), or SM_E_TOO_LONG. */
static enum sm_err raw_scan(struct raw_framer *r, size_t *need, struct sm_frame *apdu,
			    struct sm_diag *diag)
{
	for (;;) {
		const uint8_t *p = r->buf;
		size_t len = r->len;
		if (len == 0) {
			*need = 1;
			return SM_NEED_MORE;
		}
		if (p[0] != 0xDB && p[0] != 0x0F) {
			size_t k = 1;
			while (k < len && p[k] != 0xDB && p[k] != 0x0F)
				k++;
			r->skipped += k;
			raw_drop(r, k);
			continue;
		}
		size_t total = 0;
		enum cand c = p[0] == 0xDB ? raw_db(p, len, &total) : raw_0f(p, len, &total);
		if (c == C_BAD) {
			r->skipped++;
			raw_drop(r, 1);
			continue;
		}
		if (c == C_NEED) {
			if (len == sizeof(r->buf)) {
				sm_diag_set(diag, "data-notification longer than %d bytes (or garbage): "
					    "resynchronising", SM_DLMS_MAX_APDU);
				r->skipped++;
				raw_drop(r, 1);
				return SM_E_TOO_LONG;
			}
			*need = 1;
			return SM_NEED_MORE;
		}
		if (len < total) {
			*need = total - len;
			return SM_NEED_MORE;
		}
		apdu->p = r->buf;
		apdu->n = total;
		apdu->check = SM_CHECK_ABSENT;
		apdu->unterminated = false;
		r->drop = total;
		return SM_FRAME;
	}
}

static enum sm_err raw_feed(struct raw_framer *r, const uint8_t *in, size_t len, size_t *used,
			    struct sm_frame *apdu, struct sm_diag *diag)
{
	*used = 0;
	if (r->drop > 0) {
		raw_drop(r, r->drop);
		r->drop = 0;
	}
	for (;;) {
		size_t need = 0;
		enum sm_err rc = raw_scan(r, &need, apdu, diag);
		if (rc != SM_NEED_MORE)
			return rc;
		if (*used == len)
			return SM_NEED_MORE;
		size_t t = len - *used;
		if (t > need)
			t = need;
		if (t > sizeof(r->buf) - r->len)
			t = sizeof(r->buf) - r->len;
		memcpy(r->buf + r->len, in + *used, t);
		r->len += t;
		*used += t;
	}
}

static enum sm_err raw_flush(struct raw_framer *r, struct sm_frame *apdu, struct sm_diag *diag)
{
	if (r->drop > 0) {
		raw_drop(r, r->drop);
		r->drop = 0;
	}
	size_t need = 0;
	enum sm_err rc = raw_scan(r, &need, apdu, diag);
	if (rc != SM_NEED_MORE || r->len == 0)
		return rc;
	/* a plausible APDU start that did not complete */
	sm_diag_set(diag, "APDU (tag %02X) cut after %zu bytes", r->buf[0], r->len);
	r->skipped++;
	raw_drop(r, 1);
	return SM_E_TRUNCATED;
}

/* ---- the protocol ---- */

struct dlms_state {
	char framing;        /* 'm', 'h' or 'r' */
	bool has_key;
	bool require_tag; /* an AuthKey is configured: frames without a verified tag are refused */
	struct sm_gcm *gcm;  /* set when the meter has a Key */
	union {
		struct sm_mbus_dlms mbus;
		struct sm_hdlc hdlc;
		struct raw_framer raw;
	} f;
	uint8_t plain[SM_DLMS_MAX_APDU];
};

static void framer_init(struct dlms_state *s)
{
	switch (s->framing) {
	case 'h':
		sm_hdlc_init(&s->f.hdlc);
		break;
	case 'r':
		raw_init(&s->f.raw);
		break;
	default:
		sm_mbus_dlms_init(&s->f.mbus);
		break;
	}
}

static enum sm_err dlms_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct dlms_state *s = st;
	s->framing = cfg != NULL && cfg->framing != '\0' ? cfg->framing : SM_DEFAULT_FRAMING;
	if (s->framing != 'm' && s->framing != 'h' && s->framing != 'r') {
		sm_diag_set(diag, "Framing: unknown framing '%c' (mbus, hdlc or raw expected)", s->framing);
		return SM_E_CONFIG;
	}
	s->has_key = cfg != NULL && cfg->has_key;
	s->require_tag = s->has_key && cfg->has_auth_key;
	s->gcm = NULL;
	framer_init(s);
	if (s->has_key) {
		enum sm_err rc = sm_gcm_new(cfg->key, cfg->has_auth_key ? cfg->auth_key : NULL, &s->gcm);
		if (rc != SM_OK) {
			sm_diag_set(diag, "cannot set up AES-128-GCM for the Key: %s", sm_strerror(rc));
			return rc;
		}
	}
	return SM_OK;
}

static void dlms_fini(void *st)
{
	struct dlms_state *s = st;
	sm_gcm_free(s->gcm);
	s->gcm = NULL;
	sm_wipe(s->plain, sizeof(s->plain));
	sm_wipe(&s->f, sizeof(s->f)); /* ciphertext and plain APDUs */
}

static void dlms_reset(void *st)
{
	struct dlms_state *s = st;
	switch (s->framing) {
	case 'h':
		sm_hdlc_reset(&s->f.hdlc);
		break;
	case 'r':
		s->f.raw.len = 0;
		s->f.raw.drop = 0;
		break;
	default:
		sm_mbus_dlms_reset(&s->f.mbus);
		break;
	}
}

/* The system title for messages: its manufacturer letters when printable,
 * then hex (it is sent in clear on the wire; no key material). */
static void title_text(const uint8_t *apdu, size_t n, char *out, size_t cap)
{
	if (n < 10 || apdu[1] != 8) {
		snprintf(out, cap, "?");
		return;
	}
	const uint8_t *t = apdu + 2;
	bool letters = true;
	for (int i = 0; i < 3; i++)
		letters = letters && ((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'));
	if (letters)
		snprintf(out, cap, "%c%c%c %02X%02X%02X%02X%02X", t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
	else
		snprintf(out, cap, "%02X%02X%02X%02X%02X%02X%02X%02X", t[0], t[1], t[2], t[3], t[4], t[5],
			 t[6], t[7]);
}

static enum sm_err apdu_out(struct dlms_state *s, const struct sm_frame *apdu, struct sm_reading_set *out,
			    struct sm_feed_info *info)
{
	const uint8_t *p = apdu->p;
	size_t n = apdu->n;
	info->check = apdu->check;
	info->unauthenticated = false;

	if (n > 0 && p[0] == 0xDB) {
		if (s->gcm == NULL) {
			char title[40];
			title_text(p, n, title, sizeof(title));
			sm_diag_set(&info->diag, "frame is encrypted (general-glo-ciphering, system title "
				    "%s) but no Key is configured", title);
			return SM_E_AUTH;
		}
		struct sm_gcm_info gi;
		size_t pn = 0;
		memset(&gi, 0, sizeof(gi));
		enum sm_err rc = sm_gcm_open(s->gcm, p, n, s->plain, sizeof(s->plain), &pn, &gi, &info->diag);
		if (rc != SM_OK)
			return rc;
		if (pn == 0 || s->plain[0] != 0x0F) {
			sm_diag_set(&info->diag, "decrypted data is not a DLMS APDU (first byte %s%02X, "
				    "0F expected; security control %02X): check Key", pn ? "" : "missing: ",
				    pn ? s->plain[0] : 0u, gi.security_control);
			return SM_E_NOT_APDU;
		}
		/* With an AuthKey every frame must be authenticated: one without a
		 * tag (0x20/0x21) could be forged or downgraded. */
		if (!gi.authenticated && s->require_tag) {
			sm_wipe(s->plain, pn);
			sm_diag_set(&info->diag, "authentication failed: frame without GCM tag (security "
				    "control %02X) although an AuthKey is configured", gi.security_control);
			return SM_E_AUTH;
		}
		rc = sm_dlms_decode(s->plain, pn, out, &info->diag);
		if (rc == SM_READINGS) {
			info->unauthenticated = !gi.authenticated;
			if (gi.authenticated)
				info->check = SM_CHECK_OK;
		}
		return rc;
	}
	if (n > 0 && p[0] == 0x0F) {
		if (s->require_tag) {
			sm_diag_set(&info->diag, "authentication failed: unencrypted data-notification "
				    "although an AuthKey is configured");
			return SM_E_AUTH;
		}
		enum sm_err rc = sm_dlms_decode(p, n, out, &info->diag);
		if (rc == SM_READINGS)
			info->unauthenticated = s->has_key;
		return rc;
	}
	sm_diag_set(&info->diag, "APDU tag 0x%02X is neither a data-notification (0F) nor "
		    "general-glo-ciphering (DB)", n > 0 ? p[0] : 0u);
	return SM_E_SYNTAX;
}

static enum sm_err dlms_feed(void *st, const uint8_t *in, size_t n, size_t *used,
			     struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct dlms_state *s = st;
	struct sm_frame apdu;
	enum sm_err rc;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	info->unauthenticated = false;
	*used = 0;
	switch (s->framing) {
	case 'h':
		rc = sm_hdlc_feed(&s->f.hdlc, in, n, used, &apdu, &info->diag);
		break;
	case 'r':
		rc = raw_feed(&s->f.raw, in, n, used, &apdu, &info->diag);
		break;
	default:
		rc = sm_mbus_dlms_feed(&s->f.mbus, in, n, used, &apdu, &info->diag);
		break;
	}
	if (rc == SM_FRAME)
		return apdu_out(s, &apdu, out, info);
	return rc;
}

static enum sm_err dlms_idle(void *st, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct dlms_state *s = st;
	struct sm_frame apdu;
	enum sm_err rc;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	info->unauthenticated = false;
	switch (s->framing) {
	case 'h':
		rc = sm_hdlc_flush(&s->f.hdlc, &apdu, &info->diag);
		break;
	case 'r':
		rc = raw_flush(&s->f.raw, &apdu, &info->diag);
		break;
	default:
		rc = sm_mbus_dlms_flush(&s->f.mbus, &apdu, &info->diag);
		break;
	}
	if (rc == SM_FRAME)
		return apdu_out(s, &apdu, out, info);
	return rc;
}

static void dlms_line_defaults(const struct sm_meter_cfg *cfg, struct sm_line *out)
{
	out->baud = 2400;
	out->databits = 8;
	/* M-Bus: 8E1 (the Austrian customer interface); HDLC and raw: 8N1 */
	bool mbus = cfg == NULL || cfg->framing == 'm' || cfg->framing == '\0';
	out->parity = mbus ? SM_PARITY_EVEN : SM_PARITY_NONE;
	out->stopbits = 1;
}

const struct sm_proto sm_proto_dlms = {
	.name = "dlms",
	.description = "DLMS/COSEM push (data-notification), plain or encrypted (general-glo-ciphering, "
		       "AES-128-GCM with Key, optional AuthKey): over wired M-Bus long frames "
		       "(Framing \"mbus\", the Austrian customer interface; 2400 8E1), HDLC frames "
		       "(\"hdlc\", Nordic HAN; 2400 8N1) or as a raw APDU stream (\"raw\")",
	.line = { .baud = 2400, .databits = 8, .parity = SM_PARITY_EVEN, .stopbits = 1 },
	.line_defaults = dlms_line_defaults,
	.push = 1,
	.state_size = sizeof(struct dlms_state),
	.init = dlms_init,
	.feed = dlms_feed,
	.idle = dlms_idle,
	.reset = dlms_reset,
	.fini = dlms_fini,
};
