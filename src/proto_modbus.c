/*
 * proto_modbus.c - the "modbus" entry of the protocol table: one poll of a
 * Modbus meter is a session of SM_ACT_MODBUS actions, one per request of
 * the meter's plan (sm_mb_plan_make, made at configuration time), carried
 * out by the reader on the port's libmodbus link.  Pure: the session never
 * touches a port, a clock or libmodbus.
 *
 * A poll:
 *  - sends the plan's requests in order;
 *  - a timeout ends the poll (a dead unit costs one timeout per poll, two on
 *    RTU where the link waits for a late answer; the reader then backs it
 *    off): SM_E_TIMEOUT, and the values of requests
 *    answered before it are still emitted;
 *  - an exception reply (illegal address, busy, ...) is reported with the
 *    register names of the request (SM_E_EXCEPTION) and the poll goes on
 *    with the other requests;
 *  - a reply with a bad CRC or of the wrong shape (a late reply of another
 *    request, noise) is reported (SM_E_CRC, SM_E_SYNTAX) and the request is
 *    tried once more;
 *  - at the end the answered requests' registers are decoded into one
 *    reading set (SM_READINGS), or, when none was answered, the poll ends
 *    without readings.
 * A negative code that does not end the poll leaves a next action set (a
 * retry, the next request, or a zero WAIT after which the readings come).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "modbus_map.h"
#include "proto.h"

#define MB_ATTEMPTS 2 /* per request: the first try and one retry after a CRC or shape error */

struct mb_state {
	const struct sm_mb_map *map;
	const struct sm_mb_plan *plan;
	uint8_t slave;
	int timeout_ms;
	size_t next;      /* request in flight */
	unsigned attempt; /* of the request in flight, 1-based */
	bool finishing;   /* the poll is over: the next event delivers the readings */
	bool ok[SM_MB_MAX_REQS];
	uint16_t words[SM_MB_MAX_WORDS];
};

static enum sm_err mb_init(void *st, const struct sm_meter_cfg *cfg, struct sm_diag *diag)
{
	struct mb_state *s = st;

	if (cfg->mb_map == NULL || cfg->mb_plan == NULL || cfg->mb_plan->nreq == 0 ||
	    cfg->mb_plan->nreq > SM_MB_MAX_REQS || cfg->mb_plan->nwords > SM_MB_MAX_WORDS) {
		sm_diag_set(diag, "no register map (Model or RegisterMap) planned for this meter");
		return SM_E_CONFIG;
	}
	s->map = cfg->mb_map;
	s->plan = cfg->mb_plan;
	s->slave = (uint8_t)cfg->slave;
	double t = cfg->timeout_s > 0 ? cfg->timeout_s : SM_DEFAULT_MODBUS_TIMEOUT_S;
	s->timeout_ms = (int)(t * 1000.0 + 0.5);
	if (s->timeout_ms < 1)
		s->timeout_ms = 1;
	return SM_OK;
}

static void set_request(struct mb_state *s, struct sm_action *act)
{
	const struct sm_mb_req *q = &s->plan->req[s->next];

	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_MODBUS;
	act->ms = s->timeout_ms;
	act->mb_slave = s->slave;
	act->mb_function = q->function;
	act->mb_addr = q->start;
	act->mb_count = q->count;
	act->mb_dst = s->words + q->word_off;
}

static enum sm_err mb_poll_start(void *st, struct sm_action *act)
{
	struct mb_state *s = st;

	s->next = 0;
	s->attempt = 1;
	s->finishing = false;
	memset(s->ok, 0, sizeof s->ok);
	set_request(s, act);
	return SM_OK;
}

/* "FC04 0x0000+80 (voltage_l1 .. energy_export, 40 values)" */
static void describe(const struct mb_state *s, size_t i, char *out, size_t cap)
{
	const struct sm_mb_req *q = &s->plan->req[i];
	const char *first = "?", *last = "?";

	if (q->nregs > 0 && (size_t)q->first + q->nregs <= s->plan->nregs) {
		uint16_t a = s->plan->order[q->first], b = s->plan->order[q->first + q->nregs - 1];
		if (a < s->map->nregs && b < s->map->nregs) {
			first = s->map->regs[a].name;
			last = s->map->regs[b].name;
		}
	}
	if (q->nregs <= 1)
		snprintf(out, cap, "FC%02u 0x%04X+%u (%s)", q->function, q->start, q->count, first);
	else
		snprintf(out, cap, "FC%02u 0x%04X+%u (%s .. %s, %u values)", q->function, q->start,
			 q->count, first, last, q->nregs);
}

/* The poll is over: a zero wait, after which mb_finish delivers. */
static void finish_later(struct mb_state *s, struct sm_action *act)
{
	s->finishing = true;
	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_WAIT;
	act->ms = 0;
}

static enum sm_err mb_finish(struct mb_state *s, struct sm_action *act, struct sm_reading_set *out,
			     struct sm_feed_info *info)
{
	unsigned bad = 0;

	memset(act, 0, sizeof *act);
	act->kind = SM_ACT_DONE;
	s->finishing = false;
	bool any = false;
	for (size_t i = 0; i < s->plan->nreq && !any; i++)
		any = s->ok[i];
	if (!any) {
		sm_set_clear(out);
		return SM_OK; /* nothing answered: the failures were reported already */
	}
	enum sm_err rc = sm_mb_decode(s->map, s->plan, s->words, s->ok, out, &bad);
	info->bad_lines = bad;
	info->check = SM_CHECK_OK;
	if (rc == SM_E_EMPTY && bad == 0)
		return SM_OK; /* only "no value" markers */
	if (rc == SM_E_EMPTY)
		sm_diag_set(&info->diag, "slave %u: none of the %u values read is a number (NaN or out of range)",
			    s->slave, bad);
	return rc;
}

/* Move on to the next request, or finish. */
static void advance(struct mb_state *s, struct sm_action *act)
{
	s->next++;
	s->attempt = 1;
	if (s->next < s->plan->nreq)
		set_request(s, act);
	else
		finish_later(s, act);
}

static enum sm_err mb_poll_event(void *st, const uint8_t *in, size_t n, size_t *used, bool timed_out,
				 struct sm_action *act, struct sm_reading_set *out, struct sm_feed_info *info)
{
	struct mb_state *s = st;
	char what[128];

	(void)in;
	(void)n;
	(void)timed_out;
	*used = 0;
	info->diag.msg[0] = '\0';
	info->bad_lines = 0;
	if (s->finishing || act->kind != SM_ACT_MODBUS || s->next >= s->plan->nreq)
		return mb_finish(s, act, out, info);

	enum sm_err rc = act->mb_rc;
	int exc = act->mb_exc;
	describe(s, s->next, what, sizeof what);
	switch (rc) {
	case SM_OK:
		s->ok[s->next] = true;
		advance(s, act);
		return SM_OK;
	case SM_E_TIMEOUT:
		sm_diag_set(&info->diag, "slave %u did not answer %s within %d ms", s->slave, what,
			    s->timeout_ms);
		s->next = s->plan->nreq;
		finish_later(s, act);
		return SM_E_TIMEOUT;
	case SM_E_EXCEPTION:
		sm_diag_set(&info->diag, "slave %u answered %s with exception %d (%s)", s->slave, what, exc,
			    sm_mb_exception_str(exc));
		advance(s, act);
		return SM_E_EXCEPTION;
	case SM_E_CRC:
	case SM_E_SYNTAX:
	default: {
		bool retry = s->attempt < MB_ATTEMPTS;
		sm_diag_set(&info->diag, "slave %u: %s to %s%s", s->slave,
			    rc == SM_E_CRC ? "CRC error in the answer" : "malformed or stray answer", what,
			    retry ? ": trying again" : "");
		if (retry) {
			s->attempt++;
			set_request(s, act);
		} else {
			advance(s, act);
		}
		return rc == SM_E_CRC ? SM_E_CRC : SM_E_SYNTAX;
	}
	}
}

static void mb_reset(void *st)
{
	struct mb_state *s = st;

	s->finishing = false;
	s->next = 0;
}

const struct sm_proto sm_proto_modbus = {
	.name = "modbus",
	.description = "Modbus RTU/TCP polling of register maps (several slaves per bus)",
	.line = { .baud = 9600, .databits = 8, .parity = SM_PARITY_NONE, .stopbits = 1 },
	.push = 0,
	.state_size = sizeof(struct mb_state),
	.init = mb_init,
	.poll_start = mb_poll_start,
	.poll_event = mb_poll_event,
	.backoff_dead = true,
	.modbus_link = true,
	.poll_default_s = 10.0,
	.reset = mb_reset,
};
