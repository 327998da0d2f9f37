/*
 * logrl.h - rate limiting for the reader's failure messages.
 *
 * One struct sm_logrl per failure class and meter (or port).  A failure
 * episode is logged when it starts; while it lasts (and across episodes
 * that follow each other closely) further messages come at most with
 * exponential back-off, SM_LOGRL_MIN_MS doubling to SM_LOGRL_MAX_MS, and
 * carry the number of occurrences since the last message.  The end of an
 * episode is reported once, and only when its start was reported.  The
 * back-off starts over after a healthy period at least as long as it.
 *
 * Message times: the first failure of an episode at t0 (when no back-off is
 * running) is logged at once; then the next failure at or after t0 + 1 min,
 * then 2 min after that one, 4, 8 ... up to a day between messages.  Each
 * message after the first carries the occurrences since the previous one.
 * A new episode that starts while the back-off runs is not logged at once
 * (nor its end, if nothing of it was logged): flapping is rate limited like
 * a lasting failure.  A time before the last message (a clock that went
 * back) ends the wait: the failure is logged.
 *
 * Pure bookkeeping: the caller passes the time and does the logging.
 * Zero-initialise (or sm_logrl_init).  Not thread-safe: one owner.
 */
#ifndef SM_LOGRL_H
#define SM_LOGRL_H

#include <stdbool.h>
#include <stdint.h>

#define SM_LOGRL_MIN_MS (60LL * 1000)            /* 1 minute */
#define SM_LOGRL_MAX_MS (24LL * 3600 * 1000)     /* 1 day */

struct sm_logrl {
	bool failing;        /* inside an episode */
	bool logged;         /* something of this episode was logged */
	uint64_t count;      /* occurrences in this episode */
	uint64_t unreported; /* occurrences not mentioned in any message yet */
	int64_t next_ms;     /* no message before this time */
	int64_t gap_ms;      /* current back-off; 0 = none yet */
	int64_t ok_since_ms; /* end of the last episode */
};

void sm_logrl_init(struct sm_logrl *rl);

/*
 * One occurrence at now_ms.  Returns true when a message is due now;
 * *since then holds the occurrences since the previous message (this one
 * included, >= 1).
 */
bool sm_logrl_fail(struct sm_logrl *rl, int64_t now_ms, uint64_t *since);

/*
 * Things work again.  Returns true (once per episode) when the episode was
 * logged and its end should be; *total then holds its occurrences.
 */
bool sm_logrl_recover(struct sm_logrl *rl, int64_t now_ms, uint64_t *total);

#endif
