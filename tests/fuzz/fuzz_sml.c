/*
 * fuzz_sml.c - libFuzzer target for the SML framer, decoder and encoder.
 * Built with clang -fsanitize=fuzzer (make fuzz-sml) or with a replay
 * main() over the seed corpus (make check).
 *
 * For each input:
 *  1. the framer is fed the whole input, then the same input cut at a point
 *     derived from its first bytes; both runs must give the same sequence of
 *     results (codes, payload bytes, decoded readings);
 *  2. the decoder gets the raw input as if it were a payload;
 *  3. every decoded set is encoded again; our own file must frame with a
 *     valid CRC and decode to the same number of readings.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "sml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct sm_sml_framer framer;
	struct sm_sml_framer framer2;
	struct sm_reading_set set;
	struct sm_reading_set set2;
	uint8_t enc[SM_SML_MAX];
};

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
	if (sm_sml_encode(&c->set, NULL, c->enc, sizeof c->enc, &n) != SM_OK)
		return; /* a unit without a code, a time out of range, too big */
	sm_sml_framer_init(&c->framer2);
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	enum sm_err rc = sm_sml_framer_feed(&c->framer2, c->enc, n, &used, &fr, &diag);
	if (rc != SM_FRAME || used != n) {
		fprintf(stderr, "own file not framed: %s (%s)\n", sm_err_name(rc), diag.msg);
		abort();
	}
	unsigned bad = 0, badc = 0;
	rc = sm_sml_decode(&fr, &c->set2, &bad, &badc, &diag);
	if (rc != SM_READINGS || c->set2.n != c->set.n || badc != 0) {
		fprintf(stderr, "own file decoded to %zu readings (%s), not %zu\n", c->set2.n,
			sm_err_name(rc), c->set.n);
		abort();
	}
}

static void run(struct ctx *c, const uint8_t *data, size_t size, size_t cut, struct digest *d,
		bool roundtrip)
{
	sm_sml_framer_init(&c->framer);
	size_t bounds[2] = { cut, size };
	size_t off = 0;
	for (int k = 0; k < 2; k++) {
		size_t end = bounds[k];
		while (off < end) {
			size_t used = 0;
			struct sm_frame fr;
			struct sm_diag diag;
			enum sm_err rc = sm_sml_framer_feed(&c->framer, data + off, end - off, &used, &fr,
							    &diag);
			if (used > end - off)
				abort();
			off += used;
			if (rc == SM_NEED_MORE)
				continue;
			int code = (int)rc;
			dig(d, &code, sizeof code);
			d->events++;
			if (rc != SM_FRAME)
				continue;
			dig(d, fr.p, fr.n);
			unsigned bad = 0, badc = 0;
			rc = sm_sml_decode(&fr, &c->set, &bad, &badc, &diag);
			code = (int)rc;
			dig(d, &code, sizeof code);
			dig(d, &c->set.n, sizeof c->set.n);
			if (rc == SM_READINGS && roundtrip)
				check_roundtrip(c);
		}
	}
	struct sm_diag diag;
	int code = (int)sm_sml_framer_flush(&c->framer, &diag);
	dig(d, &code, sizeof code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx *c;
	if (c == NULL) {
		c = malloc(sizeof *c);
		if (c == NULL)
			abort();
	}
	struct digest whole = { 0, 0 }, split = { 0, 0 };
	run(c, data, size, size, &whole, true);
	size_t cut = size ? ((size_t)data[0] * 31 + (size > 1 ? data[1] : 0)) % (size + 1) : 0;
	run(c, data, size, cut, &split, false);
	if (whole.h != split.h || whole.events != split.events) {
		fprintf(stderr, "split feeding at %zu differs from whole\n", cut);
		abort();
	}
	/* the raw input as a payload */
	struct sm_frame fr = { data, size, SM_CHECK_OK, false };
	unsigned bad = 0, badc = 0;
	struct sm_diag diag;
	(void)sm_sml_decode(&fr, &c->set, &bad, &badc, &diag);
	return 0;
}
