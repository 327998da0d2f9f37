/*
 * proto_dsmr.c - the "dsmr" entry of the protocol table: the P1 framer and
 * decoder (dsmr.c) behind the struct sm_proto interface (proto.h).
 *
 * Without a Key the meter sends plain telegrams.  With a Key (Luxembourg
 * Smarty) it sends general-glo-ciphering APDUs (0xDB) on the line: the
 * Smarty framer cuts them, sm_smarty_open decrypts and verifies them, and
 * the telegram inside goes to the same decoder.  The AES context is made
 * in init and freed (keys wiped) in fini; otherwise pure like its parts:
 * no I/O, no clock, no allocation after init.
 */
#include <string.h>

#include "config.h"
#include "dsmr.h"
#include "gcm.h"
#include "proto.h"

struct dsmr_state {
	struct sm_dsmr_framer framer;
	bool ignore_checksum;
	struct sm_gcm *gcm;           /* Smarty: set when the meter has a Key */
	bool require_tag;             /* an AuthKey is configured: untagged frames are refused */
	struct sm_smarty_framer smarty;
	uint8_t plain[SM_DSMR_MAX];   /* the decrypted telegram */
};

static enum sm_err dsmr_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct dsmr_state *s = st;
	s->ignore_checksum = cfg != NULL && cfg->ignore_checksum;
	sm_dsmr_framer_init(&s->framer, s->ignore_checksum);
	sm_smarty_framer_init(&s->smarty);
	s->gcm = NULL;
	s->require_tag = cfg != NULL && cfg->has_key && cfg->has_auth_key;
	if (cfg != NULL && cfg->has_key) {
		enum sm_err rc = sm_gcm_new(cfg->key, cfg->has_auth_key ? cfg->auth_key : NULL, &s->gcm);
		if (rc != SM_OK) {
			sm_diag_set(diag, "cannot set up AES-128-GCM for the Key: %s", sm_strerror(rc));
			return rc;
		}
	}
	return SM_OK;
}

static void dsmr_fini(void *st)
{
	struct dsmr_state *s = st;
	sm_gcm_free(s->gcm);
	s->gcm = NULL;
	sm_wipe(s->plain, sizeof s->plain);
	sm_wipe(s->smarty.buf, sizeof s->smarty.buf);
}

/* Decode a telegram the framer accepted.  A frame accepted only because of
 * IgnoreChecksum says so in info->check (the reader counts it). */
static enum sm_err dsmr_frame_out(const struct sm_frame *frame, struct sm_reading_set *out,
				  struct sm_feed_info *info)
{
	unsigned bad = 0;
	enum sm_err rc = sm_dsmr_decode(frame, out, &bad, &info->diag);
	info->check = frame->check;
	info->bad_lines = bad;
	return rc;
}

/* A Smarty APDU: decrypt, verify, decode.  A wrong inner CRC accepted
 * because the GCM tag authenticated the frame is reported in info->diag
 * (with SM_READINGS), unless the decoder has something to say. */
static enum sm_err smarty_frame_out(struct dsmr_state *s, const struct sm_frame *apdu,
				    struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct sm_frame tel;
	struct sm_diag note = { { 0 } };
	struct sm_gcm_info gi;
	memset(&gi, 0, sizeof gi);
	enum sm_err rc = sm_smarty_open(s->gcm, apdu->p, apdu->n, s->ignore_checksum, s->plain,
					sizeof s->plain, &tel, &gi, &note);
	if (rc != SM_FRAME) {
		info->diag = note;
		return rc;
	}
	/* With an AuthKey the meter is expected to authenticate every frame:
	 * a frame without tag (security 0x20/0x21) could be a forged or
	 * downgraded one. */
	if (!gi.authenticated && s->require_tag) {
		sm_diag_set(&info->diag, "authentication failed: frame without GCM tag (security control "
			    "0x%02X) although an AuthKey is configured", gi.security_control);
		return SM_E_AUTH;
	}
	info->unauthenticated = !gi.authenticated;
	rc = dsmr_frame_out(&tel, out, info);
	if (note.msg[0] != '\0' && info->diag.msg[0] == '\0')
		info->diag = note;
	return rc;
}

static enum sm_err dsmr_feed(void *st, const uint8_t *in, size_t n, size_t *used,
			     struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct dsmr_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	*used = 0;
	if (s->gcm != NULL) {
		enum sm_err rc = sm_smarty_framer_feed(&s->smarty, in, n, used, &frame, &info->diag);
		if (rc == SM_FRAME)
			return smarty_frame_out(s, &frame, out, info);
		return rc;
	}
	enum sm_err rc = sm_dsmr_framer_feed(&s->framer, in, n, used, &frame, &info->diag);
	if (rc == SM_FRAME)
		return dsmr_frame_out(&frame, out, info);
	return rc; /* SM_NEED_MORE (all used), or a rejected telegram (resynchronised) */
}

static enum sm_err dsmr_idle(void *st, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct dsmr_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	if (s->gcm != NULL)
		return sm_smarty_framer_flush(&s->smarty, &info->diag);
	enum sm_err rc = sm_dsmr_framer_flush(&s->framer, &frame, &info->diag);
	if (rc == SM_FRAME)
		return dsmr_frame_out(&frame, out, info);
	return rc;
}

static void dsmr_reset(void *st)
{
	struct dsmr_state *s = st;
	sm_dsmr_framer_reset(&s->framer);
	sm_smarty_framer_reset(&s->smarty);
}

const struct sm_proto sm_proto_dsmr = {
	.name = "dsmr",
	.description = "DSMR P1 telegrams (DSMR 2.2, 3, 4.x, 5.0; Belgian e-MUCS, Luxembourg, "
		       "Hungarian, Austrian, Irish variants), CRC-16 checked when present; with Key: "
		       "Luxembourg Smarty frames (AES-128-GCM); "
		       "115200 8N1 (DSMR 2.2/3 meters: 9600 7E1)",
	.line = { .baud = 115200, .databits = 8, .parity = SM_PARITY_NONE, .stopbits = 1 },
	.push = 1,
	.state_size = sizeof(struct dsmr_state),
	.init = dsmr_init,
	.feed = dsmr_feed,
	.idle = dsmr_idle,
	.reset = dsmr_reset,
	.fini = dsmr_fini,
};
