/*
 * proto_iec.c - the "iec62056-21" entry of the protocol table: the sign-on
 * session (iec_session.c) for modes A, B and C, and the framer and decoder
 * (iec62056_21.c) behind feed/idle for push meters (mode D) and for
 * offline decoding: feed/idle frame every '/'..'!' message whatever the
 * Mode, so `smartmeter decode` reads transcripts of readouts and pushes
 * alike.  Pure like its parts: no I/O, no clock, no allocation.
 */
#include <string.h>

#include "config.h"
#include "iec62056_21.h"
#include "iec_session.h"
#include "proto.h"

struct iec_state {
	struct sm_iec_session sess; /* its framer also serves feed/idle */
};

static enum sm_err iec_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct iec_state *s = st;
	return sm_iec_session_init(&s->sess, cfg, diag);
}

static enum sm_err iec_frame_out(const struct sm_frame *frame, struct sm_reading_set *out,
				 struct sm_feed_info *info)
{
	unsigned bad = 0;
	enum sm_err rc = sm_iec_decode(frame, out, &bad, NULL, &info->diag);
	info->check = frame->check;
	info->bad_lines = bad;
	return rc;
}

static enum sm_err iec_feed(void *st, const uint8_t *in, size_t n, size_t *used,
			    struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct iec_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	*used = 0;
	enum sm_err rc = sm_iec_framer_feed(&s->sess.framer, in, n, used, &frame, &info->diag);
	if (rc == SM_FRAME)
		return iec_frame_out(&frame, out, info);
	return rc;
}

static enum sm_err iec_idle(void *st, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct iec_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	enum sm_err rc = sm_iec_framer_flush(&s->sess.framer, &frame, &info->diag);
	if (rc == SM_FRAME)
		return iec_frame_out(&frame, out, info);
	return rc;
}

static enum sm_err iec_poll_start(void *st, struct sm_action *act)
{
	struct iec_state *s = st;
	return sm_iec_session_start(&s->sess, act);
}

static enum sm_err iec_poll_event(void *st, const uint8_t *in, size_t n, size_t *used,
				  bool timed_out, struct sm_action *act, struct sm_reading_set *out,
				  struct sm_feed_info *info)
{
	struct iec_state *s = st;
	return sm_iec_session_event(&s->sess, in, n, used, timed_out, act, out, info);
}

static bool iec_is_polled(const struct sm_meter_cfg *cfg)
{
	return cfg == NULL || cfg->iec_mode != 'D';
}

static void iec_line_defaults(const struct sm_meter_cfg *cfg, struct sm_line *out)
{
	out->baud = (cfg != NULL && cfg->iec_mode == 'D') ? 9600 : 300;
	out->databits = 7;
	out->parity = SM_PARITY_EVEN;
	out->stopbits = 1;
}

static void iec_reset(void *st)
{
	struct iec_state *s = st;
	sm_iec_framer_reset(&s->sess.framer);
}

const struct sm_proto sm_proto_iec62056_21 = {
	.name = "iec62056-21",
	.description = "IEC 62056-21 (IEC 1107, \"D0\") optical and RS485 readout: modes A, B, C "
		       "(sign-on /?[Address]!, identification, ACK and baud switch, BCC checked) at "
		       "300 7E1, and push mode D (9600 7E1)",
	.line = { .baud = 300, .databits = 7, .parity = SM_PARITY_EVEN, .stopbits = 1 },
	.line_defaults = iec_line_defaults,
	.push = 0,
	.state_size = sizeof(struct iec_state),
	.init = iec_init,
	.feed = iec_feed,
	.idle = iec_idle,
	.is_polled = iec_is_polled,
	.poll_start = iec_poll_start,
	.poll_event = iec_poll_event,
	.reset = iec_reset,
	.fini = NULL,
};
