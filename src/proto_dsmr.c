/*
 * proto_dsmr.c - the "dsmr" entry of the protocol table: the P1 framer and
 * decoder (dsmr.c) behind the struct sm_proto interface (proto.h).
 * Pure like its parts: no I/O, no clock, no allocation.
 */
#include <string.h>

#include "config.h"
#include "dsmr.h"
#include "proto.h"

struct dsmr_state {
	struct sm_dsmr_framer framer;
};

static enum sm_err dsmr_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct dsmr_state *s = st;
	(void)diag;
	sm_dsmr_framer_init(&s->framer, cfg != NULL && cfg->ignore_checksum);
	return SM_OK;
}

/* Decode a frame the framer accepted.  A frame accepted only because of
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

static enum sm_err dsmr_feed(void *st, const uint8_t *in, size_t n, size_t *used,
			     struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct dsmr_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	*used = 0;
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
	enum sm_err rc = sm_dsmr_framer_flush(&s->framer, &frame, &info->diag);
	if (rc == SM_FRAME)
		return dsmr_frame_out(&frame, out, info);
	return rc;
}

static void dsmr_reset(void *st)
{
	struct dsmr_state *s = st;
	sm_dsmr_framer_reset(&s->framer);
}

const struct sm_proto sm_proto_dsmr = {
	.name = "dsmr",
	.description = "DSMR P1 telegrams (DSMR 2.2, 3, 4.x, 5.0; Belgian e-MUCS, Luxembourg, "
		       "Hungarian, Austrian, Irish variants), CRC-16 checked when present; "
		       "115200 8N1 (DSMR 2.2/3 meters: 9600 7E1)",
	.line = { .baud = 115200, .databits = 8, .parity = SM_PARITY_NONE, .stopbits = 1 },
	.push = 1,
	.state_size = sizeof(struct dsmr_state),
	.init = dsmr_init,
	.feed = dsmr_feed,
	.idle = dsmr_idle,
	.reset = dsmr_reset,
	.fini = NULL,
};
