/*
 * logrl.c - rate limiting for failure messages (see logrl.h).
 */
#include <string.h>
#include "logrl.h"

void sm_logrl_init(struct sm_logrl *rl)
{
	memset(rl, 0, sizeof *rl);
}

bool sm_logrl_fail(struct sm_logrl *rl, int64_t now_ms, uint64_t *since)
{
	if (!rl->failing) {
		/* A new episode after a healthy period as long as the back-off
		 * starts the back-off over. */
		if (rl->gap_ms > 0 && now_ms - rl->ok_since_ms >= rl->gap_ms)
			rl->gap_ms = 0;
		rl->failing = true;
		rl->logged = false;
		rl->count = 0;
	}
	rl->count++;
	rl->unreported++;
	/* Quiet until next_ms, unless the clock went back past the last
	 * message (next_ms - gap_ms): then the back-off would last for as long
	 * as the clock jumped. */
	if (rl->gap_ms != 0 && now_ms < rl->next_ms && now_ms >= rl->next_ms - rl->gap_ms)
		return false;
	rl->gap_ms = rl->gap_ms == 0 ? SM_LOGRL_MIN_MS : rl->gap_ms * 2;
	if (rl->gap_ms > SM_LOGRL_MAX_MS)
		rl->gap_ms = SM_LOGRL_MAX_MS;
	rl->next_ms = now_ms + rl->gap_ms;
	rl->logged = true;
	if (since != NULL)
		*since = rl->unreported;
	rl->unreported = 0;
	return true;
}

bool sm_logrl_recover(struct sm_logrl *rl, int64_t now_ms, uint64_t *total)
{
	if (!rl->failing)
		return false;
	bool report = rl->logged;
	if (total != NULL)
		*total = rl->count;
	rl->failing = false;
	rl->logged = false;
	rl->count = 0;
	rl->ok_since_ms = now_ms;
	return report;
}
