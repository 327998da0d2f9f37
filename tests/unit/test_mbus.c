/*
 * test_mbus.c - wired M-Bus long-frame framer, DLMS segment reassembly and
 * the encoders (mbus.h).  Frames are built by our own encoders (or by hand
 * where a test needs a broken one); every input is fed from an
 * exactly-sized heap copy so AddressSanitizer sees any overread.  The
 * fixture frames of $SM_SHARED/fixtures/mbus-dlms are framed too when
 * present.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "gcm.h"
#include "mbus.h"

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

/* A general-glo-ciphering APDU with n bytes of "ciphertext" (not real:
 * the framer only needs the header).  BER length 1, 2 or 3 bytes. */
static size_t make_db(uint8_t *out, size_t ncipher, uint8_t seed)
{
	size_t l = 5 + ncipher, at = 0;
	out[at++] = 0xDB;
	out[at++] = 0x08;
	memcpy(out + at, "KFM\x67\x50\x00\x00\x09", 8);
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
	out[at++] = 0x20;
	out[at++] = 0x00;
	out[at++] = 0x00;
	out[at++] = 0x00;
	out[at++] = seed;
	for (size_t i = 0; i < ncipher; i++)
		out[at++] = (uint8_t)(seed * 31u + i * 7u + (i >> 3));
	return at;
}

/* A plain data-notification-like APDU of n bytes (0x0F first). */
static size_t make_0f(uint8_t *out, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(seed + i * 13u);
	out[0] = 0x0F;
	return n;
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
	char diags[8][160];
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
		e->crc = sm_crc16_x25(0, fr->p, fr->n);
	} else {
		assert_true(d->msg[0] != '\0');
		snprintf(l->diag, sizeof(l->diag), "%s", d->msg);
		if (l->n < 8)
			snprintf(l->diags[l->n], sizeof(l->diags[0]), "%s", d->msg);
	}
	l->n++;
}

/* Feed data cut at cuts[0..ncuts) (increasing offsets), then flush until
 * nothing is left. */
static void run_cuts(struct sm_mbus_dlms *d, const uint8_t *data, size_t size, const size_t *cuts,
		     size_t ncuts, struct evlog *l)
{
	size_t start = 0;
	memset(l, 0, sizeof(*l));
	sm_mbus_dlms_init(d);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		uint8_t *piece = exact(data + start, stop - start);
		size_t len = stop - start, off = 0;
		int guard = 0;
		do {
			struct sm_frame fr;
			struct sm_diag diag = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_mbus_dlms_feed(d, piece + off, len - off, &used, &fr, &diag);
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
		enum sm_err rc = sm_mbus_dlms_flush(d, &fr, &diag);
		if (rc == SM_NEED_MORE)
			return;
		log_ev(l, rc, &fr, &diag);
	}
	fail_msg("flush did not settle");
}

static void run(struct sm_mbus_dlms *d, const uint8_t *data, size_t size, struct evlog *l)
{
	run_cuts(d, data, size, NULL, 0, l);
}

static struct sm_mbus_dlms *new_dlms(void)
{
	struct sm_mbus_dlms *d = malloc(sizeof(*d));
	assert_non_null(d);
	return d;
}

static uint16_t crc_of(const uint8_t *p, size_t n)
{
	return sm_crc16_x25(0, p, n);
}

static size_t count_rc(const struct evlog *l, int rc)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += l->e[i].rc == rc;
	return k;
}

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

static void test_encode_frame(void **state)
{
	(void)state;
	uint8_t data[] = {0x01, 0x67, 0xAA, 0xBB};
	uint8_t out[64];
	size_t n = 0;
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x10, data, sizeof(data), out, sizeof(out), &n),
			 SM_OK);
	assert_int_equal(n, 13);
	const uint8_t want[] = {0x68, 0x07, 0x07, 0x68, 0x53, 0xFF, 0x10, 0x01, 0x67, 0xAA, 0xBB,
				(uint8_t)(0x53 + 0xFF + 0x10 + 0x01 + 0x67 + 0xAA + 0xBB), 0x16};
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x10, data, sizeof(data), out, 12, &n),
			 SM_E_FULL);
	static uint8_t big[300];
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x10, big, 253, out, sizeof(out), &n),
			 SM_E_RANGE);
	assert_int_equal(sm_mbus_encode_apdu(big, 10, 0, out, sizeof(out), &n), SM_E_RANGE);
	assert_int_equal(sm_mbus_encode_apdu(big, 10, SM_MBUS_MAX_SEGMENT + 1, out, sizeof(out), &n),
			 SM_E_RANGE);
	assert_int_equal(sm_mbus_encode_apdu(big, 100, 50, out, sizeof(out), &n), SM_E_FULL);
}

static void test_framer_fields(void **state)
{
	(void)state;
	uint8_t data[] = {0x01, 0x67, 0x0F, 0x01};
	uint8_t buf[64];
	size_t n = 0;
	assert_int_equal(sm_mbus_encode_frame(0x73, 0x01, 0x72, data, sizeof(data), buf, sizeof(buf), &n),
			 SM_OK);
	uint8_t *in = exact(buf, n);
	struct sm_mbus_framer *f = malloc(sizeof(*f));
	assert_non_null(f);
	sm_mbus_framer_init(f);
	struct sm_mbus_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	assert_int_equal(sm_mbus_framer_feed(f, in, n, &used, &fr, &diag), SM_FRAME);
	assert_int_equal(used, n);
	assert_int_equal(fr.c, 0x73);
	assert_int_equal(fr.a, 0x01);
	assert_int_equal(fr.ci, 0x72);
	assert_int_equal(fr.n, sizeof(data));
	assert_memory_equal(fr.data, data, sizeof(data));
	assert_false(fr.overflow);
	assert_int_equal(fr.wire_len, n);
	assert_int_equal(sm_mbus_framer_feed(f, in, 0, &used, &fr, &diag), SM_NEED_MORE);
	assert_int_equal(sm_mbus_framer_flush(f, &fr, &diag), SM_NEED_MORE);
	free(in);
	free(f);
}

/* A non-DLMS CI is reported (a plain M-Bus meter configured as dlms). */
static void test_other_ci(void **state)
{
	(void)state;
	uint8_t data[] = {0x01, 0x67, 0x0F};
	uint8_t buf[32];
	size_t n = 0;
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x72, data, sizeof(data), buf, sizeof(buf), &n),
			 SM_OK);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, buf, n, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	assert_non_null(strstr(l.diag, "CI 0x72"));
	assert_int_equal(d->other, 1);
	/* a segment without its SAPs */
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x10, data, 1, buf, sizeof(buf), &n), SM_OK);
	run(d, buf, n, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	free(d);
}

/* ------------------------------------------------------------------ */
/* reassembly                                                          */
/* ------------------------------------------------------------------ */

static void check_roundtrip(const uint8_t *apdu, size_t n, size_t seg, size_t want_n)
{
	static uint8_t wire[60000];
	size_t wn = 0;
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, seg, wire, sizeof(wire), &wn), SM_OK);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	if (l.n != 1 || l.e[0].rc != SM_FRAME)
		fail_msg("n %zu seg %zu: %zu events, first %d (%s)", n, seg, l.n, l.n ? l.e[0].rc : 0, l.diag);
	assert_int_equal(l.e[0].n, want_n);
	assert_int_equal(l.e[0].crc, crc_of(apdu, want_n));
	free(d);
}

static void test_reassembly_sizes(void **state)
{
	(void)state;
	static uint8_t apdu[SM_DLMS_MAX_APDU];
	static const size_t segs[] = {1, 2, 7, 13, 14, 100, 245, 249, 250};
	static const size_t sizes[] = {18, 120, 260, 278, 354, 1000, 3000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = make_db(apdu, sizes[i], (uint8_t)i);
		for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++) {
			if ((n + segs[k] - 1) / segs[k] > 15 && segs[k] < 7)
				continue; /* keep the counter test elsewhere */
			check_roundtrip(apdu, n, segs[k], n);
		}
		size_t m = make_0f(apdu, sizes[i], (uint8_t)i);
		for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++)
			check_roundtrip(apdu, m, segs[k], m);
	}
}

/* More than 16 segments: the counter wraps from 15 to 0. */
static void test_counter_wrap(void **state)
{
	(void)state;
	static uint8_t apdu[SM_DLMS_MAX_APDU];
	size_t n = make_db(apdu, 2000, 3);
	check_roundtrip(apdu, n, 50, n); /* 41 segments */
	size_t m = make_0f(apdu, 1000, 4);
	check_roundtrip(apdu, m, 20, m); /* 50 segments */

	/* an APDU dropped at its first segment is skipped over the wrap too:
	 * its 17th segment (counter 0 again) does not start a new APDU */
	static uint8_t wire[8000];
	size_t wn = 0, w = 0;
	n = make_db(apdu, 300, 5);
	apdu[1] = 0x0D; /* system title length 13: malformed */
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, 10, wire, sizeof(wire), &wn), SM_OK);
	uint8_t ok[40];
	size_t okn = make_0f(ok, sizeof(ok), 1);
	assert_int_equal(sm_mbus_encode_apdu(ok, okn, 245, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn + w, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	/* the same when a checksum error drops the APDU at segment 15 */
	n = make_db(apdu, 300, 5);
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, 10, wire, sizeof(wire), &wn), SM_OK);
	wire[15 * 21 + 12] ^= 0x01; /* frame 15 (counter 15) of 21 bytes each */
	assert_int_equal(sm_mbus_encode_apdu(ok, okn, 245, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	run(d, wire, wn + w, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_CHECKSUM);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	free(d);
}

/* The APDU ends at the 0xDB length, not at the end of the frames. */
static void test_db_length_not_frames(void **state)
{
	(void)state;
	uint8_t apdu[600];
	size_t n = make_db(apdu, 400, 9);
	/* padding after the APDU inside its last segment */
	memset(apdu + n, 0xEE, 20);
	check_roundtrip(apdu, n + 20, 245, n);

	/* complete before the last-segment flag: handed out at once; the
	 * segments after it are skipped, the next APDU decodes */
	static uint8_t wire[4000];
	size_t at = 0, w = 0;
	uint8_t seg[260];
	seg[0] = 0x01;
	seg[1] = 0x67;
	memcpy(seg + 2, apdu, 245);
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x00, seg, 247, wire + at, sizeof(wire) - at, &w),
			 SM_OK);
	at += w;
	memcpy(seg + 2, apdu + 245, n - 245);
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x01, seg, 2 + n - 245, wire + at,
					      sizeof(wire) - at, &w), SM_OK);
	at += w;
	memset(seg + 2, 0, 10);
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x12, seg, 12, wire + at, sizeof(wire) - at, &w),
			 SM_OK);
	at += w;
	uint8_t apdu2[100];
	size_t n2 = make_db(apdu2, 60, 2);
	assert_int_equal(sm_mbus_encode_apdu(apdu2, n2, 30, wire + at, sizeof(wire) - at, &w), SM_OK);
	at += w;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, at, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].n, n);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(apdu2, n2));
	free(d);
}

/* The last segment arrives before the 0xDB length is reached. */
static void test_db_short(void **state)
{
	(void)state;
	uint8_t apdu[400];
	size_t n = make_db(apdu, 300, 1);
	static uint8_t wire[2000];
	size_t wn = 0;
	assert_int_equal(sm_mbus_encode_apdu(apdu, n - 10, 245, wire, sizeof(wire), &wn), SM_OK);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diag, "ended after"));
	/* ended inside the header */
	assert_int_equal(sm_mbus_encode_apdu(apdu, 5, 245, wire, sizeof(wire), &wn), SM_OK);
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	/* a malformed header (system title length 7) */
	apdu[1] = 7;
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, 245, wire, sizeof(wire), &wn), SM_OK);
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
	free(d);
}

static void test_too_long(void **state)
{
	(void)state;
	static uint8_t apdu[SM_DLMS_MAX_APDU + 600];
	static uint8_t wire[3 * SM_DLMS_MAX_APDU];
	size_t wn = 0;
	/* a plain APDU that grows beyond the cap, then a good one */
	size_t n = make_0f(apdu, SM_DLMS_MAX_APDU + 500, 5);
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, 250, wire, sizeof(wire), &wn), SM_OK);
	uint8_t ok[50];
	size_t okn = make_0f(ok, sizeof(ok), 6);
	size_t w = 0;
	assert_int_equal(sm_mbus_encode_apdu(ok, okn, 250, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TOO_LONG);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	/* a 0xDB header announcing more than the cap: rejected at once */
	n = make_db(apdu, SM_DLMS_MAX_APDU, 7);
	assert_int_equal(sm_mbus_encode_apdu(apdu, 100, 50, wire, sizeof(wire), &wn), SM_OK);
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TOO_LONG);
	assert_non_null(strstr(l.diag, "exceeds"));
	free(d);
}

/* Two APDUs of two segments each, for the damage tests. */
static size_t two_apdus(uint8_t *wire, size_t cap, uint8_t *a, size_t *an, uint8_t *b, size_t *bn)
{
	size_t w1 = 0, w2 = 0;
	*an = make_db(a, 260 - 15, 1); /* 260 bytes: 245 + 15, like the EVN example */
	*bn = make_db(b, 341 - 2, 2);  /* a 0x82 length */
	assert_int_equal(sm_mbus_encode_apdu(a, *an, 245, wire, cap, &w1), SM_OK);
	assert_int_equal(sm_mbus_encode_apdu(b, *bn, 245, wire + w1, cap - w1, &w2), SM_OK);
	return w1 + w2;
}

static void test_missing_last_segment(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	/* drop A's second frame (15 + 9 bytes + ...): it starts after 256 bytes */
	size_t f1 = 256, f2 = 9 + 2 + (an - 245);
	memmove(wire + f1, wire + f1 + f2, wn - f1 - f2);
	wn -= f2;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diags[0], "segment 1 missing"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(b, bn));
	/* A's last segment missing at the end of the input: flush drops it */
	run(d, wire, f1, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diag, "quiet"));
	free(d);
}

static void test_missing_middle_segment(void **state)
{
	(void)state;
	uint8_t apdu[800];
	size_t n = make_0f(apdu, 700, 3);
	static uint8_t wire[2000];
	size_t wn = 0;
	assert_int_equal(sm_mbus_encode_apdu(apdu, n, 200, wire, sizeof(wire), &wn), SM_OK);
	/* 4 frames of 211 bytes, the last shorter: drop the second */
	memmove(wire + 211, wire + 422, wn - 422);
	wn -= 211;
	uint8_t ok[30];
	size_t okn = make_0f(ok, sizeof(ok), 8), w = 0;
	assert_int_equal(sm_mbus_encode_apdu(ok, okn, 200, wire + wn, sizeof(wire) - wn, &w), SM_OK);
	wn += w;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diags[0], "segment 2 arrived where 1 was expected"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(ok, okn));
	free(d);
}

/* Starting to listen in the middle of an APDU is silent; a continuation
 * without its first segment later is an error. */
static void test_orphan_continuation(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	/* from A's second frame on */
	run(d, wire + 256, wn - 256, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].crc, crc_of(b, bn));
	/* A's second frame again after B: an orphan once synchronised */
	static uint8_t wire2[3000];
	size_t f2 = 256 + 9 + 2 + (an - 245) - 256;
	memcpy(wire2, wire, wn);
	memcpy(wire2 + wn, wire + 256, f2);
	run(d, wire2, wn + f2, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[2].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diag, "without its first segment"));
	free(d);
}

/* ------------------------------------------------------------------ */
/* damage and resynchronisation                                        */
/* ------------------------------------------------------------------ */

static void test_bad_checksum(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	wire[100] ^= 0x01; /* inside A's first frame */
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_CHECKSUM);
	assert_non_null(strstr(l.diags[0], "M-Bus checksum"));
	/* A's second frame is skipped silently with its APDU */
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(b, bn));

	/* the checksum byte itself, and A's last frame */
	wire[100] ^= 0x01;
	wire[254] ^= 0x80;
	run(d, wire, wn, &l);
	assert_int_equal(count_rc(&l, SM_E_CHECKSUM), 1);
	assert_int_equal(count_rc(&l, SM_FRAME), 1);
	wire[254] ^= 0x80;
	wire[256 + 12] ^= 0x40;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_CHECKSUM);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(b, bn));
	free(d);
}

static void test_stop_byte(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	wire[255] = 0x17;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, wn, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.diags[0], "stop byte"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].crc, crc_of(b, bn));
	free(d);
}

/* Bytes lost inside a frame: its header takes bytes of the next frames,
 * which are found again by rescanning. */
static void test_lost_bytes(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	size_t cut[] = {1, 5, 30, 100, 200, 231}; /* B starts at 282 */
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		static uint8_t w2[2000];
		memcpy(w2, wire, 50);
		memcpy(w2 + 50, wire + 50 + cut[i], wn - 50 - cut[i]);
		struct sm_mbus_dlms *d = new_dlms();
		struct evlog l;
		run(d, w2, wn - cut[i], &l);
		if (l.n < 2)
			fail_msg("cut %zu: %zu events: %d %s", cut[i], l.n, l.n ? l.e[0].rc : 0, l.diag);
		assert_int_equal(count_rc(&l, SM_FRAME), 1);
		assert_int_equal(l.e[l.n - 1].rc, SM_FRAME);
		assert_int_equal(l.e[l.n - 1].crc, crc_of(b, bn));
		free(d);
	}
}

static void test_interleaved_garbage(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000], w2[3000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	static const uint8_t junk[] = {0x68, 0x68, 0x00, 0xE5, 0x10, 0x5B, 0xFE, 0x59, 0x16, 0x68, 0x03,
				       0x03, 0x68, 0x16, 0x68, 0xFA, 0xFA, 0x68, 0x08, 0x68, 0x68};
	size_t at = 0;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire, 256); /* A, frame 1 */
	at += 256;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	memcpy(w2 + at, wire + 256, wn - 256);
	at += wn - 256;
	memcpy(w2 + at, junk, sizeof(junk));
	at += sizeof(junk);
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, w2, at, &l);
	assert_int_equal(count_rc(&l, SM_FRAME), 2);
	size_t k = 0;
	for (size_t i = 0; i < l.n; i++)
		if (l.e[i].rc == SM_FRAME)
			assert_int_equal(l.e[i].crc, k++ == 0 ? crc_of(a, an) : crc_of(b, bn));
	assert_true(d->framer.skipped > 0);
	free(d);
}

/* 68 01 01 68 and 68 00 00 68 headers that do not verify as an L
 * overflow are rejected; the frames after them decode. */
static void test_bogus_headers(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000], w2[4000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	static const uint8_t bogus[][8] = {
		{0x68, 0x01, 0x01, 0x68, 0x53, 0xFF, 0x00, 0x01},
		{0x68, 0x00, 0x00, 0x68, 0x53, 0xFF, 0x10, 0x01},
		{0x68, 0x05, 0x05, 0x68, 0x73, 0xFF, 0x11, 0x01},
	};
	for (size_t i = 0; i < 3; i++) {
		size_t at = 0;
		memcpy(w2, bogus[i], 8);
		at += 8;
		memcpy(w2 + at, wire, wn);
		at += wn;
		memcpy(w2 + at, bogus[i], 6); /* and a short trailer at the end */
		at += 6;
		struct sm_mbus_dlms *d = new_dlms();
		struct evlog l;
		run(d, w2, at, &l);
		assert_int_equal(count_rc(&l, SM_FRAME), 2);
		assert_int_equal(count_rc(&l, SM_E_SYNTAX), 2);
		assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
		assert_non_null(strstr(l.diags[0], "impossible"));
		assert_int_equal(l.e[l.n - 1].rc, SM_E_SYNTAX);
		free(d);
	}
}

/* The Sagemcom T210-D overflow: 257 bytes of C..data under 68 01 01 68,
 * checksum and stop byte right. */
static void test_l_overflow(void **state)
{
	(void)state;
	uint8_t apdu[300];
	size_t n = make_db(apdu, 248 - 5, 0x33); /* 81 F8: 260 bytes */
	assert_int_equal(n, 260);
	static uint8_t wire[600];
	size_t at = 0;
	wire[at++] = 0x68;
	wire[at++] = 0x01;
	wire[at++] = 0x01;
	wire[at++] = 0x68;
	size_t body = at;
	wire[at++] = 0x53;
	wire[at++] = 0xFF;
	wire[at++] = 0x00;
	wire[at++] = 0x01;
	wire[at++] = 0x67;
	memcpy(wire + at, apdu, 252);
	at += 252;
	assert_int_equal(at - body, 257);
	wire[at] = sm_mbus_sum(0, wire + body, at - body);
	at++;
	wire[at++] = 0x16;
	uint8_t seg[10] = {0x01, 0x67};
	memcpy(seg + 2, apdu + 252, 8);
	size_t w = 0;
	assert_int_equal(sm_mbus_encode_frame(0x53, 0xFF, 0x11, seg, 10, wire + at, sizeof(wire) - at, &w),
			 SM_OK);
	assert_int_equal(w, 19); /* the 68 0D 0D 68 frame */
	at += w;
	struct sm_mbus_dlms *d = new_dlms();
	struct evlog l;
	run(d, wire, at, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].n, n);
	assert_int_equal(l.e[0].crc, crc_of(apdu, n));
	assert_int_equal(d->framer.overflows, 1);

	/* the framer alone says so */
	struct sm_mbus_framer *f = malloc(sizeof(*f));
	assert_non_null(f);
	sm_mbus_framer_init(f);
	uint8_t *in = exact(wire, at);
	struct sm_mbus_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	assert_int_equal(sm_mbus_framer_feed(f, in, at, &used, &fr, &diag), SM_FRAME);
	assert_true(fr.overflow);
	assert_int_equal(fr.n, 254);
	assert_int_equal(fr.wire_len, 263);
	assert_int_equal(used, 263);
	free(in);
	free(f);
	free(d);
}

/* ------------------------------------------------------------------ */
/* splits and truncations                                              */
/* ------------------------------------------------------------------ */

static size_t damaged_stream(uint8_t *w, size_t cap, uint8_t *b, size_t *bn)
{
	uint8_t a[400], c[100];
	size_t an, at = 0, x = 0;
	static const uint8_t junk[] = {0x00, 0x68, 0x10, 0x68, 0x01, 0x01, 0x68, 0x53, 0xFF, 0x16};
	memcpy(w + at, junk, sizeof(junk));
	at += sizeof(junk);
	at += two_apdus(w + at, cap - at, a, &an, b, bn);
	size_t cn = make_0f(c, 80, 4);
	assert_int_equal(sm_mbus_encode_apdu(c, cn, 50, w + at, cap - at, &x), SM_OK);
	w[at + 20] ^= 0x08; /* bad checksum */
	at += x;
	memcpy(w + at, junk, sizeof(junk));
	at += sizeof(junk);
	assert_int_equal(sm_mbus_encode_apdu(c, cn, 79, w + at, cap - at, &x), SM_OK);
	at += x;
	return at;
}

static void same_log(const struct evlog *a, const struct evlog *b, size_t cut)
{
	if (a->n != b->n)
		fail_msg("cut %zu: %zu events instead of %zu", cut, b->n, a->n);
	for (size_t i = 0; i < a->n; i++) {
		if (a->e[i].rc != b->e[i].rc || a->e[i].n != b->e[i].n || a->e[i].crc != b->e[i].crc)
			fail_msg("cut %zu: event %zu differs (%d vs %d)", cut, i, b->e[i].rc, a->e[i].rc);
	}
}

static void test_every_split(void **state)
{
	(void)state;
	static uint8_t wire[4000];
	uint8_t b[400];
	size_t bn;
	size_t wn = damaged_stream(wire, sizeof(wire), b, &bn);
	struct sm_mbus_dlms *d = new_dlms();
	static struct evlog whole, l;
	run(d, wire, wn, &whole);
	assert_int_equal(count_rc(&whole, SM_FRAME), 3);
	assert_int_equal(count_rc(&whole, SM_E_CHECKSUM), 1);
	for (size_t cut = 1; cut < wn; cut++) {
		run_cuts(d, wire, wn, &cut, 1, &l);
		same_log(&whole, &l, cut);
	}
	/* byte by byte */
	static size_t cuts[4000];
	for (size_t i = 0; i + 1 < wn; i++)
		cuts[i] = i + 1;
	run_cuts(d, wire, wn, cuts, wn - 1, &l);
	same_log(&whole, &l, 0);
	free(d);
}

/* Every prefix of an APDU's frames followed by a good APDU: the cut one
 * never gives a frame, the good one always does. */
static void test_every_truncation(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000], w2[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	size_t alen = 256 + 11 + (an - 245); /* A's two frames */
	struct sm_mbus_dlms *d = new_dlms();
	static struct evlog l;
	for (size_t k = 0; k < alen; k++) {
		/* alone: no frame, at most one error per cut */
		run(d, wire, k, &l);
		assert_int_equal(count_rc(&l, SM_FRAME), 0);
		for (size_t i = 0; i < l.n; i++)
			assert_true(l.e[i].rc == SM_E_TRUNCATED || l.e[i].rc == SM_E_SYNTAX);
		/* followed by B */
		memcpy(w2, wire, k);
		memcpy(w2 + k, wire + alen, wn - alen);
		run(d, w2, k + wn - alen, &l);
		if (count_rc(&l, SM_FRAME) != 1)
			fail_msg("prefix %zu: %zu frames", k, count_rc(&l, SM_FRAME));
		assert_int_equal(l.e[l.n - 1].rc, SM_FRAME);
		assert_int_equal(l.e[l.n - 1].crc, crc_of(b, bn));
	}
	free(d);
}

static void test_reset(void **state)
{
	(void)state;
	uint8_t a[400], b[400];
	size_t an, bn;
	static uint8_t wire[2000];
	size_t wn = two_apdus(wire, sizeof(wire), a, &an, b, &bn);
	struct sm_mbus_dlms *d = new_dlms();
	sm_mbus_dlms_init(d);
	uint8_t *in = exact(wire, 270);
	struct sm_frame fr;
	struct sm_diag diag = { { 0 } };
	size_t used = 0;
	assert_int_equal(sm_mbus_dlms_feed(d, in, 270, &used, &fr, &diag), SM_NEED_MORE);
	free(in);
	sm_mbus_dlms_reset(d);
	in = exact(wire + 256, wn - 256);
	/* A's tail after a reset is the tail we came in on: silent */
	size_t off = 0;
	int frames = 0;
	while (off < wn - 256) {
		enum sm_err rc = sm_mbus_dlms_feed(d, in + off, wn - 256 - off, &used, &fr, &diag);
		off += used;
		if (rc == SM_FRAME) {
			frames++;
			assert_int_equal(crc_of(fr.p, fr.n), crc_of(b, bn));
		} else {
			assert_int_equal(rc, SM_NEED_MORE);
		}
	}
	assert_int_equal(frames, 1);
	free(in);
	free(d);
}

/* ------------------------------------------------------------------ */
/* fixtures                                                            */
/* ------------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t read_hex(const char *path, uint8_t *out, size_t cap)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = 0;
	int hi = -1, c;
	while ((c = fgetc(fp)) != EOF) {
		int v = hexval(c);
		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(fp);
	return n;
}

static void test_fixtures(void **state)
{
	(void)state;
	const char *shared = getenv("SM_SHARED");
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/fixtures/mbus-dlms", shared ? shared : "../shared");
	DIR *dp = opendir(dir);
	if (dp == NULL) {
		printf("skipped: no fixtures at %s (set SM_SHARED)\n", dir);
		skip();
	}
	struct dirent *e;
	int seen = 0;
	while ((e = readdir(dp)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl < 5 || strcmp(e->d_name + nl - 4, ".hex") != 0)
			continue;
		char path[1400];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		static uint8_t buf[8192];
		size_t n = read_hex(path, buf, sizeof(buf));
		if (n == 0 || buf[0] != 0x68)
			continue; /* a plain APDU file */
		struct sm_mbus_dlms *d = new_dlms();
		static struct evlog l;
		run(d, buf, n, &l);
		if (strstr(e->d_name, "quirk") != NULL) {
			/* 68 00 00 68 with a firmware-reassembled body: rejected */
			assert_int_equal(count_rc(&l, SM_FRAME), 0);
			assert_int_equal(l.n, 1);
			assert_int_equal(l.e[0].rc, SM_E_SYNTAX);
		} else {
			if (l.n != 1 || l.e[0].rc != SM_FRAME)
				fail_msg("%s: %zu events (%s)", e->d_name, l.n, l.diag);
			size_t total = 0;
			assert_int_equal(d->apdu[0], 0xDB); /* the last APDU is still there */
			assert_int_equal(sm_gcm_apdu_length(d->apdu, l.e[0].n, SM_DLMS_MAX_APDU, &total), SM_OK);
			assert_int_equal(total, l.e[0].n);
		}
		seen++;
		free(d);
	}
	closedir(dp);
	assert_true(seen >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_frame),
		cmocka_unit_test(test_framer_fields),
		cmocka_unit_test(test_other_ci),
		cmocka_unit_test(test_reassembly_sizes),
		cmocka_unit_test(test_counter_wrap),
		cmocka_unit_test(test_db_length_not_frames),
		cmocka_unit_test(test_db_short),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_missing_last_segment),
		cmocka_unit_test(test_missing_middle_segment),
		cmocka_unit_test(test_orphan_continuation),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_stop_byte),
		cmocka_unit_test(test_lost_bytes),
		cmocka_unit_test(test_interleaved_garbage),
		cmocka_unit_test(test_bogus_headers),
		cmocka_unit_test(test_l_overflow),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
