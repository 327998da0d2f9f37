/*
 * proto_sml.c - the "sml" entry of the protocol table: the SML transport
 * framer and message decoder (sml.c) behind struct sm_proto (proto.h).
 * Pure like its parts: no I/O, no clock, no allocation.
 *
 * A file whose CRC is CRC-16/KERMIT (Holley) is accepted; info->diag then
 * says so with SM_READINGS, so that the reader can log or count it.
 * Message CRC mismatches inside a file whose CRC was right are counted in
 * info->bad_lines (eBZ meters send wrong message CRCs).
 */
#include <string.h>

#include "config.h"
#include "sml.h"
#include "proto.h"

struct sml_state {
	struct sm_sml_framer framer;
};

static enum sm_err sml_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct sml_state *s = st;
	(void)cfg;
	(void)diag;
	sm_sml_framer_init(&s->framer);
	return SM_OK;
}

static enum sm_err sml_feed(void *st, const uint8_t *in, size_t n, size_t *used,
			    struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct sml_state *s = st;
	struct sm_frame frame;

	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	*used = 0;
	enum sm_err rc = sm_sml_framer_feed(&s->framer, in, n, used, &frame, &info->diag);
	if (rc != SM_FRAME)
		return rc;
	unsigned bad = 0, bad_crc = 0;
	rc = sm_sml_decode(&frame, out, &bad, &bad_crc, &info->diag);
	info->check = frame.check;
	info->bad_lines = bad;
	info->crc_fallback = rc == SM_READINGS && s->framer.kermit_last;
	if (rc == SM_READINGS && s->framer.kermit_last && info->diag.msg[0] == '\0')
		sm_diag_set(&info->diag, "SML: file CRC verified as CRC-16/KERMIT (fallback)");
	else if (rc == SM_READINGS && bad_crc > 0 && info->diag.msg[0] == '\0')
		sm_diag_set(&info->diag, "SML: %u message CRC(s) wrong in a file with a good CRC",
			    bad_crc);
	return rc;
}

static enum sm_err sml_idle(void *st, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct sml_state *s = st;
	(void)out;
	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	return sm_sml_framer_flush(&s->framer, &info->diag);
}

static void sml_reset(void *st)
{
	struct sml_state *s = st;
	sm_sml_framer_reset(&s->framer);
}

const struct sm_proto sm_proto_sml = {
	.name = "sml",
	.description = "SML 1.04 push files (German eHZ/EMH/EasyMeter/DZG/Holley/Iskra/eBZ meters), "
		       "CRC-16/X.25 checked (KERMIT accepted as fallback); 9600 8N1",
	.line = { .baud = 9600, .databits = 8, .parity = SM_PARITY_NONE, .stopbits = 1 },
	.push = 1,
	.state_size = sizeof(struct sml_state),
	.init = sml_init,
	.feed = sml_feed,
	.idle = sml_idle,
	.reset = sml_reset,
};
