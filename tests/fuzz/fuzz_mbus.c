/*
 * fuzz_mbus.c - libFuzzer target for the wired M-Bus framer and the DLMS
 * segment reassembly (mbus.h).  Built with clang -fsanitize=fuzzer (make
 * fuzz-mbus) or with a replay main() over the seed corpus (make check).
 *
 * For each input:
 *  1. the reassembler is fed the whole input, then the same input cut at
 *     two points derived from its bytes (and, for small inputs, one byte at
 *     a time), each run ending with flush until it settles; all runs must
 *     give the same sequence of results (codes, APDU bytes).  Every APDU is
 *     1..SM_DLMS_MAX_APDU bytes, and a 0xDB APDU is exactly as long as its
 *     header says;
 *  2. the framer alone: every frame it hands out verifies (checksum, stop
 *     byte, L or L + 256), lies within what was fed, and no call returns
 *     without progress more than a bounded number of times;
 *  3. round trip: the input taken as an APDU is cut into segments by our
 *     encoder (segment size from the input) and must come back whole, or as
 *     its 0xDB length says, or be rejected as the rules say;
 *  4. the whole "dlms" protocol (proto_dlms.c: the raw APDU stream framer,
 *     decryption, decoding), its framing and whether it has a Key taken
 *     from the input: whole and split feeding give the same results, every
 *     error says why, readings come only with SM_READINGS.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crc.h"
#include "gcm.h"
#include "mbus.h"
#include "proto.h"
#include "reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WIRE_CAP (SM_DLMS_MAX_APDU * 13 + 64)

struct ctx {
	struct sm_mbus_dlms d;
	struct sm_mbus_framer f;
	uint8_t wire[WIRE_CAP];
};

struct digest {
	uint16_t h;
	size_t events;
	size_t frames;
	int last_rc;
	size_t last_n;
	uint16_t last_crc;
};

static void dig(struct digest *d, const void *p, size_t n)
{
	d->h = sm_crc16_arc(d->h, p, n);
}

static void on_result(struct digest *d, enum sm_err rc, const struct sm_frame *fr,
		      const struct sm_diag *diag)
{
	int code = (int)rc;
	dig(d, &code, sizeof(code));
	d->events++;
	d->last_rc = code;
	if (rc == SM_FRAME) {
		if (fr->n == 0 || fr->n > SM_DLMS_MAX_APDU || fr->check != SM_CHECK_OK)
			abort();
		if (fr->p[0] == 0xDB) {
			size_t total = 0;
			if (sm_gcm_apdu_length(fr->p, fr->n, SM_DLMS_MAX_APDU, &total) != SM_OK ||
			    total != fr->n)
				abort();
		}
		dig(d, fr->p, fr->n);
		d->frames++;
		d->last_n = fr->n;
		d->last_crc = sm_crc16_x25(0, fr->p, fr->n);
	} else if (rc >= 0 || diag->msg[0] == '\0') {
		abort(); /* an error always says why */
	}
}

static struct digest run(struct ctx *c, const uint8_t *data, size_t size, const size_t *cuts,
			 size_t ncuts)
{
	struct digest d;
	size_t start = 0;
	memset(&d, 0, sizeof(d));
	sm_mbus_dlms_init(&c->d);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		size_t len = stop - start, off = 0;
		uint8_t *piece = malloc(len ? len : 1);
		if (piece == NULL)
			abort();
		memcpy(piece, data + start, len);
		unsigned stuck = 0;
		while (off < len) {
			struct sm_frame fr;
			struct sm_diag diag = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_mbus_dlms_feed(&c->d, piece + off, len - off, &used, &fr, &diag);
			if (used > len - off)
				abort();
			off += used;
			if (rc == SM_NEED_MORE) {
				if (off != len)
					abort();
				break;
			}
			on_result(&d, rc, &fr, &diag);
			stuck = used == 0 ? stuck + 1 : 0;
			if (stuck > SM_MBUS_WIN + 2)
				abort(); /* each call without input drops window bytes */
		}
		free(piece);
		start = stop;
	}
	for (int i = 0;; i++) {
		struct sm_frame fr;
		struct sm_diag diag = { { 0 } };
		enum sm_err rc = sm_mbus_dlms_flush(&c->d, &fr, &diag);
		if (rc == SM_NEED_MORE)
			break;
		on_result(&d, rc, &fr, &diag);
		if (i > SM_MBUS_WIN + 4)
			abort();
	}
	return d;
}

static bool same(const struct digest *a, const struct digest *b)
{
	return a->h == b->h && a->events == b->events && a->frames == b->frames;
}

/* The framer alone: frames verify and lie within the input. */
static void framer_only(struct ctx *c, const uint8_t *data, size_t size)
{
	uint8_t *in = malloc(size ? size : 1);
	if (in == NULL)
		abort();
	memcpy(in, data, size);
	sm_mbus_framer_init(&c->f);
	size_t off = 0, frames_bytes = 0;
	for (int flushing = 0; flushing < 2; flushing++) {
		for (unsigned guard = 0;; guard++) {
			struct sm_mbus_frame fr;
			struct sm_diag diag = { { 0 } };
			size_t used = 0;
			enum sm_err rc = flushing ? sm_mbus_framer_flush(&c->f, &fr, &diag)
						  : sm_mbus_framer_feed(&c->f, in + off, size - off, &used,
									&fr, &diag);
			off += used;
			if (rc == SM_NEED_MORE)
				break;
			if (rc == SM_FRAME) {
				size_t body = fr.n + 3;
				const uint8_t *p = fr.data - 7;
				if (p[0] != 0x68 || p[3] != 0x68 || p[1] != p[2] || p[4] != fr.c ||
				    p[5] != fr.a || p[6] != fr.ci || fr.wire_len != body + 6 ||
				    p[4 + body] != sm_mbus_sum(0, p + 4, body) || p[5 + body] != 0x16 ||
				    (fr.overflow ? (size_t)p[1] + 256 : p[1]) != body)
					abort();
				frames_bytes += fr.wire_len;
				if (frames_bytes > size)
					abort();
			}
			if (guard > size + SM_MBUS_WIN + 8)
				abort();
		}
	}
	if (off != size)
		abort();
	free(in);
}

/* The input as an APDU, through our encoder and back. */
static void round_trip(struct ctx *c, const uint8_t *data, size_t size)
{
	if (size == 0 || size > SM_DLMS_MAX_APDU)
		return;
	size_t seg = 1 + (size_t)data[size - 1] % SM_MBUS_MAX_SEGMENT;
	if (size > 600 && seg < 16)
		seg += 16; /* keep the wire small */
	size_t wn = 0;
	if (sm_mbus_encode_apdu(data, size, seg, c->wire, sizeof(c->wire), &wn) != SM_OK)
		abort();
	struct digest d = run(c, c->wire, wn, NULL, 0);
	size_t want = size;
	bool ok = true;
	if (data[0] == 0xDB) {
		size_t total = 0;
		ok = sm_gcm_apdu_length(data, size, SM_DLMS_MAX_APDU, &total) == SM_OK && total <= size;
		want = total;
	}
	if (ok) {
		if (d.events != 1 || d.frames != 1 || d.last_n != want ||
		    d.last_crc != sm_crc16_x25(0, data, want)) {
			fprintf(stderr, "round trip: %zu events, %zu frames, %zu of %zu bytes\n", d.events,
				d.frames, d.last_n, want);
			abort();
		}
	} else if (d.frames != 0 || d.events != 1) {
		fprintf(stderr, "round trip of a bad 0xDB APDU: %zu events, %zu frames\n", d.events,
			d.frames);
		abort();
	}
}

static uint16_t proto_run(void *st, struct sm_reading_set *out, const struct sm_meter_cfg *cfg,
			  const uint8_t *data, size_t size, size_t cut)
{
	const struct sm_proto *p = &sm_proto_dlms;
	struct sm_diag d = { { 0 } };
	uint16_t h = 0;
	memset(st, 0, p->state_size);
	if (p->init(st, cfg, &d) != SM_OK)
		abort();
	size_t start = 0;
	for (int k = 0; k < 2; k++) {
		size_t stop = k == 0 ? cut : size, len = stop - start, off = 0;
		uint8_t *piece = malloc(len ? len : 1);
		if (piece == NULL)
			abort();
		memcpy(piece, data + start, len);
		for (unsigned guard = 0; off < len; guard++) {
			struct sm_feed_info info;
			size_t used = 0;
			memset(&info, 0, sizeof(info));
			enum sm_err rc = p->feed(st, piece + off, len - off, &used, out, &info);
			if (used > len - off || guard > len + 2 * SM_DLMS_MAX_APDU)
				abort();
			off += used;
			if (rc == SM_NEED_MORE)
				break;
			int code = (int)rc;
			h = sm_crc16_arc(h, &code, sizeof(code));
			if (rc == SM_READINGS)
				h = sm_crc16_arc(h, &out->n, sizeof(out->n));
			else if (rc >= 0 || info.diag.msg[0] == '\0' || info.unauthenticated)
				abort();
		}
		free(piece);
		start = stop;
	}
	for (int i = 0;; i++) {
		struct sm_feed_info info;
		memset(&info, 0, sizeof(info));
		enum sm_err rc = p->idle(st, out, &info);
		if (rc == SM_NEED_MORE)
			break;
		int code = (int)rc;
		h = sm_crc16_arc(h, &code, sizeof(code));
		if (rc == SM_READINGS)
			h = sm_crc16_arc(h, &out->n, sizeof(out->n));
		else if (rc >= 0 || info.diag.msg[0] == '\0')
			abort();
		if (i > SM_DLMS_MAX_APDU + 8)
			abort();
	}
	p->fini(st);
	return h;
}

static void proto_check(const uint8_t *data, size_t size)
{
	static void *st;
	static struct sm_reading_set *out;
	if (st == NULL) {
		st = malloc(sm_proto_dlms.state_size);
		out = malloc(sizeof(*out));
		if (st == NULL || out == NULL)
			abort();
	}
	if (size < 2)
		return;
	/* the last byte chooses: framing (value % 3: mbus, hdlc, raw), a Key
	 * of 0x5A bytes (0x10), an AuthKey of 0xA5 bytes (0x20) */
	static const char fr[] = {'m', 'h', 'r'};
	uint8_t sel = data[size - 1];
	struct sm_meter_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.framing = fr[sel % 3];
	if (sel & 0x10) {
		cfg.has_key = true;
		memset(cfg.key, 0x5A, sizeof(cfg.key));
	}
	if (sel & 0x20) {
		cfg.has_auth_key = true;
		memset(cfg.auth_key, 0xA5, sizeof(cfg.auth_key));
	}
	size_t cut = 1 + (size_t)data[size / 2] * 13 % (size - 1);
	if (proto_run(st, out, &cfg, data, size, size) != proto_run(st, out, &cfg, data, size, cut)) {
		fprintf(stderr, "protocol (%c): split at %zu differs\n", cfg.framing, cut);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx *c;
	if (c == NULL) {
		c = malloc(sizeof(*c));
		if (c == NULL)
			abort();
	}
	if (size > 3 * SM_DLMS_MAX_APDU)
		return 0;

	struct digest whole = run(c, data, size, NULL, 0);
	if (size >= 2) {
		size_t a = 1 + (size_t)data[0] * 7 % (size - 1);
		size_t b = 1 + (size_t)data[size / 2] * 131 % (size - 1);
		size_t cuts[2] = {a < b ? a : b, a < b ? b : a};
		size_t nc = cuts[0] == cuts[1] ? 1 : 2;
		struct digest split = run(c, data, size, cuts, nc);
		if (!same(&whole, &split)) {
			fprintf(stderr, "split at %zu,%zu differs\n", cuts[0], cuts[1]);
			abort();
		}
	}
	if (size >= 2 && size <= 700) {
		static size_t bytes[700];
		for (size_t i = 0; i + 1 < size; i++)
			bytes[i] = i + 1;
		struct digest each = run(c, data, size, bytes, size - 1);
		if (!same(&whole, &each)) {
			fprintf(stderr, "byte-by-byte feeding differs\n");
			abort();
		}
	}
	framer_only(c, data, size);
	round_trip(c, data, size);
	proto_check(data, size);
	return 0;
}
