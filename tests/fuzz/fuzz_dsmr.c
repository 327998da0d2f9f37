/*
 * fuzz_dsmr.c - libFuzzer target for the DSMR P1 framer, decoder and
 * encoder.  Built with clang -fsanitize=fuzzer (make fuzz-dsmr) or with a
 * replay main() over the seed corpus (make check).
 *
 * For each input:
 *  1. the framer is fed the whole input, then the same input cut at two
 *     points derived from its bytes; both runs must give the same sequence
 *     of results (codes, frame bytes, decoded readings);
 *  2. the decoder gets the raw input as if it were a frame;
 *  3. every decoded set is encoded again; our own telegram must frame with a
 *     valid CRC and decode to the same number of readings.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "dsmr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct sm_dsmr_framer framer;
	struct sm_reading_set set;
	struct sm_reading_set set2;
	struct sm_dsmr_framer framer2;
	uint8_t enc[3 * SM_DSMR_MAX];
};

/* Running digest of everything a run produced. */
struct digest {
	uint16_t h;
	size_t events;
};

static void dig(struct digest *d, const void *p, size_t n)
{
	d->h = sm_crc16_arc(d->h, p, n);
}

static void check_roundtrip(struct ctx *c)
{
	size_t n = 0;
	enum sm_err rc = sm_dsmr_encode(&c->set, "FUZ5\\2roundtrip", true, c->enc, sizeof c->enc, &n);
	if (rc != SM_OK)
		return; /* a text the wire cannot carry, a time out of range, too big */
	sm_dsmr_framer_init(&c->framer2, false);
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	rc = sm_dsmr_framer_feed(&c->framer2, c->enc, n, &used, &fr, &diag);
	if (rc != SM_FRAME || fr.check != SM_CHECK_OK) {
		fprintf(stderr, "own telegram not framed: %s (%s)\n%.*s\n", sm_err_name(rc),
			diag.msg, (int)n, (const char *)c->enc);
		abort();
	}
	unsigned bad = 0;
	rc = sm_dsmr_decode(&fr, &c->set2, &bad, &diag);
	if (c->set.n > 0 && (rc != SM_READINGS || c->set2.n != c->set.n ||
			     c->set2.meter_time_ms != c->set.meter_time_ms)) {
		fprintf(stderr, "round trip: %zu readings -> %s, %zu readings (%s)\n%.*s\n",
			c->set.n, sm_err_name(rc), c->set2.n, diag.msg, (int)n, (const char *)c->enc);
		abort();
	}
}

static void on_frame(struct ctx *c, struct digest *d, const struct sm_frame *fr, bool roundtrip)
{
	unsigned bad = 0;
	struct sm_diag diag = { { 0 } };
	enum sm_err rc = sm_dsmr_decode(fr, &c->set, &bad, &diag);
	int code = (int)rc;
	dig(d, fr->p, fr->n);
	dig(d, &code, sizeof code);
	dig(d, &c->set.n, sizeof c->set.n);
	if (rc == SM_READINGS && roundtrip)
		check_roundtrip(c);
}

/* Feed data cut into pieces at the given offsets; flush at the end. */
static struct digest run(struct ctx *c, const uint8_t *data, size_t size, bool ignore,
			 const size_t *cuts, size_t ncuts, bool roundtrip)
{
	struct digest d = { 0, 0 };
	size_t start = 0;
	sm_dsmr_framer_init(&c->framer, ignore);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		/* a copy of exactly this piece, so ASan sees reads past it */
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
			enum sm_err rc = sm_dsmr_framer_feed(&c->framer, piece + off, len - off, &used,
							     &fr, &diag);
			if (used > len - off)
				abort();
			off += used;
			if (rc == SM_FRAME) {
				on_frame(c, &d, &fr, roundtrip);
			} else if (rc != SM_NEED_MORE) {
				int code = (int)rc;
				dig(&d, &code, sizeof code);
			} else if (off != len) {
				abort(); /* NEED_MORE must consume everything */
			}
			if (rc != SM_NEED_MORE)
				d.events++;
			/* a call may end a telegram without consuming a byte, but
			 * never twice in a row */
			stuck = used == 0 ? stuck + 1 : 0;
			if (stuck > 1)
				abort();
		}
		free(piece);
		start = stop;
	}
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	enum sm_err rc = sm_dsmr_framer_flush(&c->framer, &fr, &diag);
	if (rc == SM_FRAME)
		on_frame(c, &d, &fr, roundtrip);
	else if (rc != SM_NEED_MORE) {
		int code = (int)rc;
		dig(&d, &code, sizeof code);
	}
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* one work area for all runs (a harness, not library code: a static
	 * keeps ASan's allocator out of the measured loop) */
	static struct ctx ctx;
	struct ctx *c = &ctx;
	uint16_t h = sm_crc16_arc(0, data, size);
	bool ignore = size == 0 || (data[0] & 1) == 0 || (h & 0x100) != 0;

	/* 1. whole vs two cuts */
	struct digest whole = run(c, data, size, ignore, NULL, 0, true);
	size_t cuts[2] = { size ? h % (size + 1) : 0, size ? (size_t)(h >> 5) % (size + 1) : 0 };
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	struct digest split = run(c, data, size, ignore, cuts, 2, false);
	if (whole.h != split.h || whole.events != split.events) {
		fprintf(stderr, "split feeding at %zu,%zu differs from whole feeding\n", cuts[0],
			cuts[1]);
		abort();
	}

	/* 2. the decoder on arbitrary bytes (an exact-size copy) */
	if (size > 0) {
		uint8_t *copy = malloc(size);
		if (copy != NULL) {
			memcpy(copy, data, size);
			struct sm_frame fr = { copy, size, (enum sm_check)(h % 3), (h & 4) != 0 };
			unsigned bad;
			struct sm_diag diag = { { 0 } };
			(void)sm_dsmr_decode(&fr, &c->set, &bad, &diag);
			free(copy);
		}
	}
	return 0;
}
