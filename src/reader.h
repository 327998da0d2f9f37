/*
 * reader.h - one reader per port (Device): a thread that opens the
 * transport (re-opening with back-off 1 s doubling to 60 s), reads with a
 * short timeout, feeds every meter's protocol state, and hands complete
 * reading sets to a sink.  Only the reader knows about threads and time.
 *
 * Ownership: sm_reader_create copies what it needs from the port (the meter
 * configs are borrowed: they must outlive the reader).  The reader owns the
 * transport, the protocol states and the statistics.  sm_reader_destroy
 * frees everything (after stop + join).
 *
 * Polled meters (sm_proto_is_polled, e.g. IEC 62056-21 modes A-C) are
 * polled by the same thread, one session at a time, every Interval seconds
 * (when Interval is 0: the protocol's poll_default_s, else
 * SM_DEFAULT_POLL_S); meters sharing a port take turns, earliest due first.  During a session all input goes to it;
 * outside sessions input goes to the port's push meters.  The port's line
 * settings are restored after a session that changed them.  A poll that
 * fails counts as a rejected frame does (SM_E_TIMEOUT, the meter did not
 * answer: the `timeout` counter); the stall logic (Timeout) applies to push
 * meters only.  Stop is honoured within about one read timeout in any step
 * of a session.  reader.c describes the details.
 *
 * Threads: the reader's thread calls sink->emit and log->fn.  stop, join,
 * trigger and stats may be called from any other thread.  Statistics are
 * C11 atomics.
 */
#ifndef SM_READER_H
#define SM_READER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "err.h"
#include "reading.h"

#define SM_READ_TIMEOUT_MS 100   /* one read wait; bounds stop latency */
#define SM_BACKOFF_MIN_MS 1000
#define SM_BACKOFF_MAX_MS 60000
#define SM_TIME_WINDOW_MS (36LL * 3600 * 1000) /* meter time plausible within this of now */

enum sm_log_level { SM_LOG_ERROR = 3, SM_LOG_WARNING = 4, SM_LOG_NOTICE = 5, SM_LOG_INFO = 6, SM_LOG_DEBUG = 7 };

struct sm_log {
	/* One complete message without trailing newline; meter may be NULL for
	 * port-level messages.  Called on the reader thread. */
	void (*fn)(void *ctx, enum sm_log_level level, const char *msg);
	void *ctx;
};

struct sm_sink {
	/*
	 * A frame's readings, already filtered by Select and spaced by Interval
	 * (push meters; a polled meter emits every poll's readout).
	 * rx_ms: when the frame was received (unix ms).  interval_s: the poll
	 * interval (Interval, or the protocol's default), or for push meters
	 * Interval or else the observed push period (0 until known).  Called
	 * on the reader thread; must not block.
	 */
	void (*emit)(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		     int64_t rx_ms, double interval_s);
	void *ctx;
};

/* Per-meter counters (SPEC.md section 5). */
struct sm_stats {
	uint64_t bytes;
	uint64_t frames;       /* frames that produced readings */
	uint64_t crc;          /* CRC/BCC/checksum failures */
	uint64_t unchecked;    /* frames accepted with a wrong checksum (IgnoreChecksum) */
	uint64_t unauthenticated; /* frames of a meter with a Key that no GCM tag authenticated */
	uint64_t crc_fallback; /* frames whose checksum verified only by a fallback (SML KERMIT) */
	uint64_t decode;       /* frames/objects that did not decode (incl. oversize, truncation) */
	uint64_t auth;         /* authentication failures */
	uint64_t timeout;      /* push meters: stalls (Timeout seconds without a valid frame);
				  polled meters: polls the meter did not answer */
	uint64_t reconnect;    /* port (re)opens after a failure or loss */
	uint64_t exception;    /* Modbus exception replies (illegal address, busy, ...) */
	int64_t last_frame_ms; /* unix ms of the last good frame, 0 = never */
};

struct sm_reader;

/* Thread starter: the plugin passes one that uses plugin_thread_create; NULL
 * means pthread_create.  Returns 0 on success. */
typedef int (*sm_thread_start_fn)(pthread_t *tid, void *(*fn)(void *), void *arg, const char *name);

struct sm_reader_opts {
	bool trigger_mode;    /* emit only on sm_reader_trigger (latest values) */
	bool exit_at_eof;     /* FILE transports: finish at the end instead of reopening
				 (also when the file cannot be opened) */
	sm_thread_start_fn start;
	int backoff_min_ms;   /* first back-off; 0 = SM_BACKOFF_MIN_MS (tests use less) */
};

/*
 * Set up a reader for a port: allocates every meter's protocol state and
 * calls the protocol's init with the meter's config.  log may be NULL (no
 * messages); sink->emit is required.  Nothing is opened or started yet.
 * SM_OK; SM_E_CONFIG when a protocol's init refuses a meter (the reason is
 * logged through log); SM_E_NOMEM; SM_E_INTERNAL for a port without meters
 * or a meter without protocol.
 */
enum sm_err sm_reader_create(const struct sm_port *port, const struct sm_sink *sink,
			     const struct sm_log *log, const struct sm_reader_opts *opts,
			     struct sm_reader **out);
/* Start the thread.  It blocks every signal except the fault signals
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT), so a process
 * signal such as SIGTERM is handled by a host thread, never by a reader.
 * SM_OK or SM_E_INTERNAL. */
enum sm_err sm_reader_start(struct sm_reader *r);
/* Ask the thread to stop (wakes back-off waits); returns at once. */
void sm_reader_stop(struct sm_reader *r);
/* Wait for the thread; returns within one read timeout of stop. */
void sm_reader_join(struct sm_reader *r);
/* Whether the thread has ended by itself (exit_at_eof reached). */
bool sm_reader_done(const struct sm_reader *r);
/* Trigger mode: emit the latest reading set of every push meter once (on
 * the reader thread, within one read timeout; triggers that arrive faster
 * than that count as one), and poll every polled meter once, in
 * configuration order, emitting what each poll reads (triggers that arrive
 * during such a round ask for one more round).  Polled meters are polled
 * only on triggers then.  A meter that stalled (Timeout) has no latest set. */
void sm_reader_trigger(struct sm_reader *r);
/* Snapshot of the counters of the port's i-th meter. */
void sm_reader_stats(const struct sm_reader *r, size_t i, struct sm_stats *out);
size_t sm_reader_nmeters(const struct sm_reader *r);
const struct sm_meter_cfg *sm_reader_meter(const struct sm_reader *r, size_t i);
void sm_reader_destroy(struct sm_reader *r);

/* Unix time in ms (CLOCK_REALTIME) and a monotonic ms clock. */
int64_t sm_now_ms(void);
int64_t sm_mono_ms(void);

#endif
