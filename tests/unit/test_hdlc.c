/*
 * test_hdlc.c - DLMS over HDLC: framer (HCS, FCS, flags, addresses),
 * segment joining and the encoders (hdlc.h).  Frames come from our own
 * encoder or are built by hand where a test needs a broken one; every
 * input is fed from an exactly-sized heap copy so AddressSanitizer sees
 * any overread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "hdlc.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static struct sm_hdlc *new_hdlc(void)
{
	struct sm_hdlc *h = malloc(sizeof(*h));
	assert_non_null(h);
	sm_hdlc_init(h);
	return h;
}

static size_t make_db(uint8_t *out, size_t ncipher, uint8_t seed)
{
	size_t l = 5 + ncipher, at = 0;
	out[at++] = 0xDB;
	out[at++] = 0x08;
	memcpy(out + at, "SAGY\x05\xE8\x94\xB6", 8);
	at += 8;
	if (l < 0x80) {
		out[at++] = (uint8_t)l;
	} else if (l < 0x100) {
		out[at++] = 0x81;
		out[at++] = (uint8_t)l;
	} else {
		out[at++] = 0x82;
		out[at++] = (uint8_t)(l >> 8);
		out[at++] = (uint8_t)l;
	}
	out[at++] = 0x30;
	for (int i = 0; i < 4; i++)
		out[at++] = seed;
	for (size_t i = 0; i < ncipher; i++)
		out[at++] = (uint8_t)(seed * 17u + i * 5u + (i >> 4));
	return at;
}

static size_t make_0f(uint8_t *out, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(seed + i * 11u);
	out[0] = 0x0F;
	return n;
}

static uint16_t crc_of(const uint8_t *p, size_t n)
{
	return sm_crc16_x25(0, p, n);
}

struct ev {
	int rc;
	size_t n;
	uint16_t crc;
};

struct evlog {
	size_t n;
	struct ev e[128];
	char diag[160];
	char first_diag[160];
};

static void log_ev(struct evlog *l, enum sm_err rc, const struct sm_frame *fr, const struct sm_diag *d)
{
	assert_true(l->n < 128);
	struct ev *e = &l->e[l->n];
	memset(e, 0, sizeof(*e));
	e->rc = rc;
	if (rc == SM_FRAME) {
		assert_int_equal(fr->check, SM_CHECK_OK);
		assert_true(fr->n > 0 && fr->n <= SM_DLMS_MAX_APDU);
		e->n = fr->n;
		e->crc = crc_of(fr->p, fr->n);
	} else {
		assert_true(d->msg[0] != '\0');
		snprintf(l->diag, sizeof(l->diag), "%s", d->msg);
		if (l->first_diag[0] == '\0')
			snprintf(l->first_diag, sizeof(l->first_diag), "%s", d->msg);
	}
	l->n++;
}

static void run_cuts(struct sm_hdlc *h, const uint8_t *data, size_t size, const size_t *cuts,
		     size_t ncuts, struct evlog *l)
{
	size_t start = 0;
	memset(l, 0, sizeof(*l));
	sm_hdlc_init(h);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		uint8_t *piece = exact(data + start, stop - start);
		size_t len = stop - start, off = 0;
		int guard = 0;
		do {
			struct sm_frame fr;
			struct sm_diag diag = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_hdlc_feed(h, piece + off, len - off, &used, &fr, &diag);
			assert_true(used <= len - off);
			off += used;
			if (rc == SM_NEED_MORE)
				assert_int_equal(off, len);
			else
				log_ev(l, rc, &fr, &diag);
			assert_true(++guard < 10000);
		} while (off < len);
		free(piece);
		start = stop;
	}
	for (int i = 0; i < 64; i++) {
		struct sm_frame fr;
		struct sm_diag diag = { { 0 } };
		enum sm_err rc = sm_hdlc_flush(h, &fr, &diag);
		if (rc == SM_NEED_MORE)
			return;
		log_ev(l, rc, &fr, &diag);
	}
	fail_msg("flush did not settle");
}

static void run(struct sm_hdlc *h, const uint8_t *data, size_t size, struct evlog *l)
{
	run_cuts(h, data, size, NULL, 0, l);
}

static size_t count_rc(const struct evlog *l, int rc)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += l->e[i].rc == rc;
	return k;
}

/* ------------------------------------------------------------------ */
/* encoder and frame layer                                             */
/* ------------------------------------------------------------------ */

static void test_encode_frame(void **state)
{
	(void)state;
	static const uint8_t addr[] = {0x41, 0x08, 0x83};
	static const uint8_t info[] = {0xE6, 0xE7, 0x00, 0x0F, 0x01};
	uint8_t out[64];
	size_t n = 0;
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, info, sizeof(info), out, sizeof(out), &n),
			 SM_OK);
	/* 7E A0 0F 41 08 83 13 HCS HCS info.. FCS FCS 7E */
	assert_int_equal(n, 17);
	assert_int_equal(out[0], 0x7E);
	assert_int_equal(out[1], 0xA0);
	assert_int_equal(out[2], 15);
	assert_int_equal(out[16], 0x7E);
	/* the X.25 residue over a frame with its FCS is the good-FCS constant */
	assert_int_equal(sm_crc16_x25(0, out + 1, 15), 0x0F47);
	assert_int_equal(sm_crc16_x25(0, out + 1, 8), 0x0F47); /* header + HCS */
	assert_memory_equal(out + 9, info, sizeof(info));
	/* segmented, and without information */
	assert_int_equal(sm_hdlc_encode_frame(true, addr, 3, 0x13, info, 1, out, sizeof(out), &n), SM_OK);
	assert_int_equal(out[1], 0xA8);
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x73, NULL, 0, out, sizeof(out), &n), SM_OK);
	assert_int_equal(n, 10);
	assert_int_equal(out[2], 8);
	/* bad addresses */
	static const uint8_t a3[] = {0x40, 0x40, 0x41, 0x03};
	static const uint8_t noterm[] = {0x40, 0x40};
	static const uint8_t a4[] = {0x00, 0x02, 0x00, 0x23, 0x41};
	assert_int_equal(sm_hdlc_encode_frame(false, a3, 4, 0x13, info, 1, out, sizeof(out), &n), SM_E_SYNTAX);
	assert_int_equal(sm_hdlc_encode_frame(false, noterm, 2, 0x13, info, 1, out, sizeof(out), &n),
			 SM_E_SYNTAX);
	assert_int_equal(sm_hdlc_encode_frame(false, a4, 5, 0x13, info, 1, out, sizeof(out), &n), SM_OK);
	assert_int_equal(n, 1 + 2 + 5 + 1 + 2 + 1 + 2 + 1);
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, info, 5, out, 16, &n), SM_E_FULL);
	static uint8_t big[2100], bigout[2200];
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, big, 2040, bigout, sizeof(bigout), &n),
			 SM_E_RANGE);
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, big, 2047 - 10, bigout, sizeof(bigout),
					      &n), SM_OK);
	assert_int_equal(n, 2049);
	assert_int_equal(sm_hdlc_encode_apdu(big, 10, 0, bigout, sizeof(bigout), &n), SM_E_RANGE);
	assert_int_equal(sm_hdlc_encode_apdu(big, 10, 2001, bigout, sizeof(bigout), &n), SM_E_RANGE);
	assert_int_equal(sm_hdlc_encode_apdu(big, 100, 20, bigout, 50, &n), SM_E_FULL);
}

static void test_frame_layer(void **state)
{
	(void)state;
	static const uint8_t a4[] = {0x00, 0x02, 0x00, 0x23, 0x03};
	static const uint8_t a1[] = {0x41, 0x21};
	static const uint8_t info[] = {0xE6, 0xE7, 0x00, 0x0F, 0x01, 0x02};
	uint8_t wire[200];
	size_t at = 0, w = 0;
	/* no information (RR): skipped */
	assert_int_equal(sm_hdlc_encode_frame(false, a1, 2, 0x31, NULL, 0, wire + at, sizeof(wire) - at, &w),
			 SM_OK);
	at += w;
	/* two frames sharing a flag */
	assert_int_equal(sm_hdlc_encode_frame(true, a4, 5, 0x10, info, 6, wire + at, sizeof(wire) - at, &w),
			 SM_OK);
	at += w - 1;
	assert_int_equal(sm_hdlc_encode_frame(false, a1, 2, 0x13, info + 3, 3, wire + at, sizeof(wire) - at,
					      &w), SM_OK);
	at += w;
	uint8_t *in = exact(wire, at);
	struct sm_hdlc *h = new_hdlc();
	struct sm_hdlc_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0, off = 0;
	assert_int_equal(sm_hdlc_frame_feed(h, in, at, &used, &fr, &diag), SM_FRAME);
	off += used;
	assert_true(fr.segmented);
	assert_int_equal(fr.dest_n, 4);
	assert_int_equal(fr.src_n, 1);
	assert_memory_equal(fr.dest, a4, 4);
	assert_int_equal(fr.src[0], 0x03);
	assert_int_equal(fr.control, 0x10);
	assert_int_equal(fr.info_n, 6);
	assert_memory_equal(fr.info, info, 6);
	assert_int_equal(h->other, 1);
	assert_int_equal(sm_hdlc_frame_feed(h, in + off, at - off, &used, &fr, &diag), SM_FRAME);
	off += used;
	assert_false(fr.segmented);
	assert_int_equal(fr.dest_n, 1);
	assert_int_equal(fr.src_n, 1);
	assert_int_equal(fr.info_n, 3);
	assert_int_equal(sm_hdlc_frame_feed(h, in + off, at - off, &used, &fr, &diag), SM_NEED_MORE);
	assert_int_equal(off + used, at);
	assert_int_equal(sm_hdlc_frame_flush(h, &fr, &diag), SM_NEED_MORE);
	free(in);
	free(h);
}

/* A damaged header is rejected as soon as its HCS is in. */
static void test_bad_hcs(void **state)
{
	(void)state;
	uint8_t apdu[300];
	size_t n = make_0f(apdu, 250, 1);
	static uint8_t wire[1000];
	size_t wn = 0;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, 300, wire, sizeof(wire), &wn), SM_OK);
	wire[4] ^= 0x10; /* the source address: still 2 bytes, HCS wrong */
	struct sm_hdlc *h = new_hdlc();
	uint8_t *in = exact(wire, 12);
	struct sm_hdlc_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	assert_int_equal(sm_hdlc_frame_feed(h, in, 12, &used, &fr, &diag), SM_E_CRC);
	assert_true(used <= 9);
	assert_non_null(strstr(diag.msg, "HCS"));
	free(in);
	/* and the next frame decodes */
	size_t w = 0;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, 300, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	struct evlog l;
	run(h, wire, wn + w, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_CRC);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(apdu, n));
	free(h);
}

static void test_bad_fcs_and_flag(void **state)
{
	(void)state;
	uint8_t apdu[300];
	size_t n = make_0f(apdu, 200, 2);
	static uint8_t wire[2000];
	size_t wn = 0, w = 0;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, 300, wire, sizeof(wire), &wn), SM_OK);
	size_t one = wn;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, 300, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	for (size_t pos = 11; pos < one - 1; pos += 37) {
		wire[pos] ^= 0x04; /* information or FCS */
		run(h, wire, wn, &l);
		assert_int_equal(l.n, 2);
		assert_int_equal(l.e[0].rc, SM_E_CRC);
		assert_non_null(strstr(l.first_diag, "FCS"));
		assert_int_equal(l.e[1].rc, SM_FRAME);
		wire[pos] ^= 0x04;
	}
	/* the closing flag replaced */
	wire[one - 1] = 0x00;
	run(h, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	assert_non_null(strstr(l.first_diag, "closing flag"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	free(h);
}

/* ------------------------------------------------------------------ */
/* segments                                                            */
/* ------------------------------------------------------------------ */

static void check_roundtrip(const uint8_t *apdu, size_t n, size_t seg, size_t want_n)
{
	static uint8_t wire[60000];
	size_t wn = 0;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, seg, wire, sizeof(wire), &wn), SM_OK);
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	run(h, wire, wn, &l);
	if (l.n != 1 || l.e[0].rc != SM_FRAME)
		fail_msg("n %zu seg %zu: %zu events, first %d (%s)", n, seg, l.n, l.n ? l.e[0].rc : 0, l.diag);
	assert_int_equal(l.e[0].n, want_n);
	assert_int_equal(l.e[0].crc, crc_of(apdu, want_n));
	free(h);
}

static void test_segments(void **state)
{
	(void)state;
	static uint8_t apdu[SM_DLMS_MAX_APDU];
	/* (the first segment carries the whole LLC header: 3 bytes at least) */
	static const size_t segs[] = {3, 4, 5, 50, 120, 228, 1000, 2000};
	static const size_t sizes[] = {10, 120, 227, 228, 600, 2500, 4000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = make_db(apdu, sizes[i], (uint8_t)i);
		for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++)
			check_roundtrip(apdu, n, segs[k], n);
		size_t m = make_0f(apdu, sizes[i], (uint8_t)i);
		for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++)
			check_roundtrip(apdu, m, segs[k], m);
	}
	/* bytes after a 0xDB APDU's length are ignored */
	size_t n = make_db(apdu, 300, 7);
	memset(apdu + n, 0x55, 9);
	check_roundtrip(apdu, n + 9, 100, n);
}

/* Frames without an LLC header that start an APDU (some meters) */
static void test_no_llc(void **state)
{
	(void)state;
	static const uint8_t addr[] = {0x41, 0x08, 0x83};
	uint8_t apdu[100];
	size_t n = make_0f(apdu, 80, 3);
	uint8_t wire[300];
	size_t wn = 0, w = 0;
	assert_int_equal(sm_hdlc_encode_frame(true, addr, 3, 0x13, apdu, 40, wire, sizeof(wire), &wn), SM_OK);
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, apdu + 40, 40, wire + wn,
					      sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	run(h, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].crc, crc_of(apdu, n));
	free(h);
}

static size_t two_apdus(uint8_t *wire, size_t cap, uint8_t *a, size_t *an, uint8_t *b, size_t *bn,
			size_t *alen)
{
	size_t w1 = 0, w2 = 0;
	*an = make_db(a, 300, 1);
	*bn = make_0f(b, 250, 2);
	assert_int_equal(sm_hdlc_encode_apdu(a, *an, 120, wire, cap, &w1), SM_OK);
	assert_int_equal(sm_hdlc_encode_apdu(b, *bn, 120, wire + w1, cap - w1, &w2), SM_OK);
	*alen = w1;
	return w1 + w2;
}

/* frame k of an encode_apdu output (all segments have seg bytes but the
 * last): offset and length */
static size_t frame_at(const uint8_t *wire, size_t k, size_t *len)
{
	size_t at = 0;
	for (;;) {
		size_t fl = (((size_t)wire[at + 1] & 7u) << 8 | wire[at + 2]) + 2;
		if (k-- == 0) {
			*len = fl;
			return at;
		}
		at += fl;
	}
}

static void test_missing_segments(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn, alen, fl;
	static uint8_t wire[2000], w2[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn, &alen);
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	/* A's last segment missing: B's first (LLC) says so */
	size_t f = frame_at(wire, 2, &fl);
	assert_int_equal(f + fl, alen);
	memcpy(w2, wire, f);
	memcpy(w2 + f, wire + alen, wn - alen);
	run(h, w2, f + wn - alen, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.first_diag, "new APDU"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(b, bn));
	/* A's middle segment missing: A ends short of its 0xDB length */
	f = frame_at(wire, 1, &fl);
	memcpy(w2, wire, f);
	memcpy(w2 + f, wire + f + fl, wn - f - fl);
	run(h, w2, wn - fl, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.first_diag, "ended after"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	/* A's first segment missing: its tail is silent at the start... */
	f = frame_at(wire, 1, &fl);
	run(h, wire + f, wn - f, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].crc, crc_of(b, bn));
	/* ...and an error once synchronised */
	memcpy(w2, wire, wn);
	memcpy(w2 + wn, wire + f, alen - f);
	run(h, w2, wn + alen - f, &l);
	assert_int_equal(count_rc(&l, SM_FRAME), 2);
	assert_int_equal(count_rc(&l, SM_E_TRUNCATED), 1);
	assert_non_null(strstr(l.diag, "without its first segment"));
	/* the input ends before A's last segment */
	f = frame_at(wire, 2, &fl);
	run(h, wire, f, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diag, "quiet"));
	/* cut inside a frame */
	run(h, wire, f + 20, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diag, "cut"));
	free(h);
}

static void test_too_long(void **state)
{
	(void)state;
	static uint8_t apdu[SM_DLMS_MAX_APDU + 600];
	static uint8_t wire[3 * SM_DLMS_MAX_APDU];
	size_t wn = 0, w = 0;
	size_t n = make_0f(apdu, SM_DLMS_MAX_APDU + 1, 5);
	assert_int_equal(sm_hdlc_encode_apdu(apdu, n, 1000, wire, sizeof(wire), &wn), SM_OK);
	uint8_t ok[50];
	size_t okn = make_0f(ok, sizeof(ok), 6);
	assert_int_equal(sm_hdlc_encode_apdu(ok, okn, 1000, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	run(h, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TOO_LONG);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	/* a 0xDB header announcing too much; a malformed one */
	n = make_db(apdu, SM_DLMS_MAX_APDU, 1);
	assert_int_equal(sm_hdlc_encode_apdu(apdu, 100, 1000, wire, sizeof(wire), &wn), SM_OK);
	run(h, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TOO_LONG);
	apdu[1] = 0x10;
	assert_int_equal(sm_hdlc_encode_apdu(apdu, 100, 1000, wire, sizeof(wire), &wn), SM_OK);
	run(h, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	(void)n;
	free(h);
}

/* The rest of a dropped message is skipped even where a continuation
 * happens to begin with an APDU tag. */
static void test_skip_continuations(void **state)
{
	(void)state;
	static const uint8_t addr[] = {0x41, 0x08, 0x83};
	uint8_t info[3 + 40] = {0xE6, 0xE7, 0x00, 0xDB, 0x10}; /* system title length 16 */
	uint8_t cont[40];
	memset(cont, 0x33, sizeof(cont));
	cont[0] = 0x0F;
	static uint8_t wire[600];
	size_t at = 0, w = 0;
	assert_int_equal(sm_hdlc_encode_frame(true, addr, 3, 0x13, info, sizeof(info), wire, sizeof(wire), &w),
			 SM_OK);
	at += w;
	assert_int_equal(sm_hdlc_encode_frame(true, addr, 3, 0x13, cont, sizeof(cont), wire + at,
					      sizeof(wire) - at, &w), SM_OK);
	at += w;
	cont[0] = 0xDB;
	assert_int_equal(sm_hdlc_encode_frame(false, addr, 3, 0x13, cont, sizeof(cont), wire + at,
					      sizeof(wire) - at, &w), SM_OK);
	at += w;
	uint8_t ok[30];
	size_t okn = make_0f(ok, sizeof(ok), 4);
	assert_int_equal(sm_hdlc_encode_apdu(ok, okn, 100, wire + at, sizeof(wire) - at, &w), SM_OK);
	at += w;
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	run(h, wire, at, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	free(h);
}

static void test_interleaved_garbage(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn, alen;
	static uint8_t wire[2000], w2[3000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn, &alen);
	static const uint8_t junk[] = {0x7E, 0x7E, 0xA0, 0x7E, 0xA8, 0x01, 0x7E, 0xA0, 0x05, 0x41,
				       0x03, 0x13, 0x00, 0x7E, 0x00, 0xFF, 0x7E};
	size_t fl, f1 = frame_at(wire, 1, &fl);
	size_t at = 0;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire, f1);
	at += f1;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire + f1, wn - f1);
	at += wn - f1;
	memcpy(w2 + at, junk, 5);
	at += 5;
	struct sm_hdlc *h = new_hdlc();
	struct evlog l;
	run(h, w2, at, &l);
	assert_int_equal(count_rc(&l, SM_FRAME), 2);
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++)
		if (l.e[i].rc == SM_FRAME)
			assert_int_equal(l.e[i].crc, k++ == 0 ? crc_of(a, an) : crc_of(b, bn));
	free(h);
}

static void same_log(const struct evlog *a, const struct evlog *b, size_t cut)
{
	if (a->n != b->n)
		fail_msg("cut %zu: %zu events instead of %zu", cut, b->n, a->n);
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].rc != b->e[i].rc || a->e[i].n != b->e[i].n || a->e[i].crc != b->e[i].crc)
			fail_msg("cut %zu: event %zu differs (%d vs %d)", cut, i, b->e[i].rc, a->e[i].rc);
}

static void test_every_split(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn, alen;
	static uint8_t wire[3000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn, &alen);
	static const uint8_t junk[] = {0x7E, 0xA0, 0x20, 0x41, 0x03, 0x13, 0x11, 0x22, 0x33, 0x7E};
	memcpy(wire + wn, junk, sizeof(junk));
	wn += sizeof(junk);
	size_t w = 0;
	assert_int_equal(sm_hdlc_encode_apdu(b, bn, 2000, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wire[wn + 30] ^= 1; /* a bad FCS */
	wn += w;
	assert_int_equal(sm_hdlc_encode_apdu(b, bn, 2000, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_hdlc *h = new_hdlc();
	static struct evlog whole, l;
	run(h, wire, wn, &whole);
	assert_int_equal(count_rc(&whole, SM_FRAME), 3);
	assert_int_equal(count_rc(&whole, SM_E_CRC), 2);
	for (size_t cut = 1; cut < wn; cut++) {
		run_cuts(h, wire, wn, &cut, 1, &l);
		same_log(&whole, &l, cut);
	}
	static size_t cuts[3000];
	for (size_t i = 0; i + 1 < wn; i++)
		cuts[i] = i + 1;
	run_cuts(h, wire, wn, cuts, wn - 1, &l);
	same_log(&whole, &l, 0);
	free(h);
}

static void test_every_truncation(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn, alen;
	static uint8_t wire[2000], w2[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn, &alen);
	struct sm_hdlc *h = new_hdlc();
	static struct evlog l;
	for (size_t k = 0; k < alen; k++) {
		run(h, wire, k, &l);
		assert_int_equal(count_rc(&l, SM_FRAME), 0);
		for (size_t i = 0; i < l.n; i++)
			assert_int_equal(l.e[i].rc, SM_E_TRUNCATED);
		memcpy(w2, wire, k);
		memcpy(w2 + k, wire + alen, wn - alen);
		run(h, w2, k + wn - alen, &l);
		/* B's opening flag closes A when only A's flag is missing */
		size_t want = k == alen - 1 ? 2 : 1;
		if (count_rc(&l, SM_FRAME) != want)
			fail_msg("prefix %zu: %zu frames (%s)", k, count_rc(&l, SM_FRAME), l.diag);
		assert_int_equal(l.e[l.n - 1].rc, SM_FRAME);
		assert_int_equal(l.e[l.n - 1].crc, crc_of(b, bn));
	}
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_frame),
		cmocka_unit_test(test_frame_layer),
		cmocka_unit_test(test_bad_hcs),
		cmocka_unit_test(test_bad_fcs_and_flag),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_no_llc),
		cmocka_unit_test(test_missing_segments),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_skip_continuations),
		cmocka_unit_test(test_interleaved_garbage),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_every_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
