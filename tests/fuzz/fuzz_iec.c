/*
 * fuzz_iec.c - libFuzzer target for the IEC 62056-21 framer, decoder,
 * transcript splitter, identification parser and sign-on session.  Built
 * with clang -fsanitize=fuzzer (make fuzz-iec) or with a replay main() over
 * the seed corpus (make check).
 *
 * For each input:
 *  1. the framer is fed the whole input, then the same input cut at two
 *     points derived from its bytes; both runs must give the same sequence
 *     of results (codes, frame bytes, decoded readings);
 *  2. the decoder gets the raw input as if it were a frame, the splitter and
 *     the identification parser get it as a transcript / line; a split
 *     transcript is encoded again and must frame and decode as before;
 *  3. the sign-on session is driven with the input as the meter's answer,
 *     in pieces whose sizes come from the input, with a timeout when it is
 *     used up; it must end (DONE) within a bounded number of actions and
 *     never ask for anything unknown.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crc.h"
#include "iec62056_21.h"
#include "iec_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct sm_iec_framer framer;
	struct sm_iec_framer framer2;
	struct sm_iec_session sess;
	struct sm_reading_set set;
	struct sm_reading_set set2;
	uint8_t enc[SM_IEC_MAX + 256];
};

struct digest {
	uint16_t h;
	size_t events;
};

static void dig(struct digest *d, const void *p, size_t n)
{
	d->h = sm_crc16_arc(d->h, p, n);
}

static void on_frame(struct ctx *c, struct digest *d, const struct sm_frame *fr)
{
	unsigned bad = 0;
	struct sm_diag diag = { { 0 } };
	enum sm_err rc = sm_iec_decode(fr, &c->set, &bad, NULL, &diag);
	int code = (int)rc;
	dig(d, fr->p, fr->n);
	dig(d, &code, sizeof code);
	dig(d, &c->set.n, sizeof c->set.n);
	for (size_t i = 0; i < c->set.n; i++) {
		const struct sm_reading *r = &c->set.r[i];
		dig(d, r->name, strnlen(r->name, sizeof r->name));
		dig(d, &r->raw, sizeof r->raw);
		if (r->name[0] == '\0')
			abort();
	}
}

static struct digest run(struct ctx *c, const uint8_t *data, size_t size, bool ignore,
			 const size_t *cuts, size_t ncuts)
{
	struct digest d = { 0, 0 };
	size_t start = 0;
	sm_iec_framer_init(&c->framer, ignore);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		size_t len = stop - start;
		uint8_t *piece = malloc(len ? len : 1);
		if (piece == NULL)
			abort();
		memcpy(piece, data + start, len);
		size_t off = 0;
		int stuck = 0;
		while (off < len) {
			struct sm_frame fr;
			struct sm_diag diag = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_iec_framer_feed(&c->framer, piece + off, len - off, &used,
							    &fr, &diag);
			if (used > len - off)
				abort();
			off += used;
			if (rc == SM_FRAME) {
				if (fr.n == 0 || fr.n > SM_IEC_MAX || fr.p[0] != '/')
					abort();
				on_frame(c, &d, &fr);
			} else if (rc != SM_NEED_MORE) {
				int code = (int)rc;
				if (rc >= 0)
					abort();
				dig(&d, &code, sizeof code);
			} else if (off != len) {
				abort();
			}
			if (rc != SM_NEED_MORE)
				d.events++;
			stuck = used == 0 ? stuck + 1 : 0;
			if (stuck > 1)
				abort();
		}
		free(piece);
		start = stop;
	}
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	enum sm_err rc = sm_iec_framer_flush(&c->framer, &fr, &diag);
	if (rc == SM_FRAME)
		on_frame(c, &d, &fr);
	else if (rc != SM_NEED_MORE) {
		int code = (int)rc;
		dig(&d, &code, sizeof code);
	}
	return d;
}

/* A transcript split into parts, sent again by our encoder, must frame
 * (BCC OK) and decode to the same readings as the original data. */
static void check_resend(struct ctx *c, const struct sm_iec_transcript *t)
{
	size_t n = 0, m = 0;
	if (t->data_n > 0 && (t->data[0] == '/' || memmem(t->data, t->data_n, "\n/", 2) != NULL))
		return; /* a line starting with '/' is a new message for the framer */
	if (sm_iec_encode_ident(&t->id, c->enc, sizeof c->enc, &n) != SM_OK)
		abort(); /* it parsed, so it must encode */
	if (sm_iec_encode_data((const char *)t->data, t->data_n, true, c->enc + n,
			       sizeof c->enc - n, &m) != SM_OK)
		return; /* data with STX/ETX inside: cannot be sent verbatim */
	n += m;
	if (n > SM_IEC_MAX)
		return;
	sm_iec_framer_init(&c->framer2, false);
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	enum sm_err rc = sm_iec_framer_feed(&c->framer2, c->enc, n, &used, &fr, &diag);
	if (rc != SM_FRAME || fr.check != SM_CHECK_OK || used != n) {
		fprintf(stderr, "own message not framed: %s (%s)\n", sm_err_name(rc), diag.msg);
		abort();
	}
	unsigned bad = 0;
	(void)sm_iec_decode(&fr, &c->set2, &bad, NULL, &diag);
}

static void drive_session(struct ctx *c, const uint8_t *data, size_t size, uint16_t h)
{
	struct sm_meter_cfg cfg;
	memset(&cfg, 0, sizeof cfg);
	static const char modes[3] = { 'A', 'B', 'C' };
	cfg.iec_mode = modes[h % 3];
	cfg.address = (h & 8) ? "12345678" : NULL;
	cfg.max_baud = (h & 16) ? 4800 : 0;
	cfg.baud_switch_delay_s = (h & 32) ? 0.2 : 0;
	cfg.wakeup = (h & 64) != 0;
	cfg.ignore_checksum = (h & 128) != 0;
	struct sm_diag diag = { { 0 } };
	if (sm_iec_session_init(&c->sess, &cfg, &diag) != SM_OK)
		abort();
	struct sm_action act;
	if (sm_iec_session_start(&c->sess, &act) != SM_OK || act.kind != SM_ACT_SET_LINE)
		abort();
	size_t off = 0;
	unsigned k = 0;
	for (int steps = 0;; steps++) {
		if (steps > 100000)
			abort(); /* every step either reads or moves on */
		struct sm_feed_info info = { .check = SM_CHECK_OK };
		size_t used = 0;
		enum sm_err rc;
		switch (act.kind) {
		case SM_ACT_DONE:
			return;
		case SM_ACT_SEND:
			if (act.data == NULL || act.len == 0 || act.len > 64)
				abort();
			/* fall through */
		case SM_ACT_SET_LINE:
		case SM_ACT_WAIT:
			if (act.kind == SM_ACT_SET_LINE &&
			    (act.line.baud < 300 || act.line.baud > 19200))
				abort();
			rc = sm_iec_session_event(&c->sess, NULL, 0, &used, false, &act, &c->set, &info);
			break;
		case SM_ACT_READ: {
			if (act.ms <= 0)
				abort();
			if (off >= size) {
				rc = sm_iec_session_event(&c->sess, NULL, 0, &used, true, &act, &c->set,
							  &info);
				break;
			}
			size_t piece = 1 + (size_t)((h >> (k++ % 8)) & 0x3f) * 7;
			if (piece > size - off)
				piece = size - off;
			uint8_t *p = malloc(piece);
			if (p == NULL)
				abort();
			memcpy(p, data + off, piece);
			rc = sm_iec_session_event(&c->sess, p, piece, &used, false, &act, &c->set, &info);
			free(p);
			if (used > piece)
				abort();
			off += used ? used : piece;
			break;
		}
		default:
			abort();
		}
		if (rc != SM_OK && rc != SM_READINGS && rc >= 0)
			abort();
		if ((rc < 0 || rc == SM_READINGS) && act.kind != SM_ACT_DONE)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx ctx; /* a harness: keep the big buffers off the stack */
	struct ctx *c = &ctx;
	uint16_t h = sm_crc16_arc(0, data, size);
	bool ignore = size == 0 || (data[0] & 1) == 0 || (h & 0x100) != 0;

	/* 1. whole vs two cuts */
	struct digest whole = run(c, data, size, ignore, NULL, 0);
	size_t cuts[2] = { size ? h % (size + 1) : 0, size ? (size_t)(h >> 5) % (size + 1) : 0 };
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	struct digest split = run(c, data, size, ignore, cuts, 2);
	if (whole.h != split.h || whole.events != split.events) {
		fprintf(stderr, "split feeding at %zu,%zu differs from whole feeding\n", cuts[0],
			cuts[1]);
		abort();
	}

	/* 2. decoder, splitter, identification parser on the raw bytes */
	if (size > 0) {
		uint8_t *copy = malloc(size);
		if (copy == NULL)
			abort();
		memcpy(copy, data, size);
		struct sm_frame fr = { copy, size, (enum sm_check)(h % 3), (h & 4) != 0 };
		unsigned bad;
		struct sm_diag diag = { { 0 } };
		struct sm_iec_ident id;
		(void)sm_iec_decode(&fr, &c->set, &bad, &id, &diag);
		(void)sm_iec_parse_ident((const char *)copy, size, &id);
		size_t at = 0;
		for (int k = 0; k < 8 && at < size; k++) {
			struct sm_iec_transcript t;
			if (sm_iec_split_transcript(copy + at, size - at, &t) != SM_OK)
				break;
			if (t.next == 0 || t.next > size - at || t.data + t.data_n > copy + size)
				abort();
			check_resend(c, &t);
			at += t.next;
		}
		free(copy);
	}

	/* 3. the session with the input as the meter's answer */
	drive_session(c, data, size, h);
	return 0;
}
