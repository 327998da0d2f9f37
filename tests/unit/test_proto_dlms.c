/*
 * test_proto_dlms.c - the "dlms" protocol entry: framings (M-Bus, HDLC,
 * raw), decryption and decoding behind feed/idle, the error codes and
 * messages a reader counts, and round trips through our own encoders
 * (readings -> data-notification -> general-glo-ciphering -> frames) with
 * random keys, both security levels, both body layouts and random
 * readings.  Every input is fed from an exactly-sized heap copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dlms.h"
#include "gcm.h"
#include "hdlc.h"
#include "mbus.h"
#include "proto.h"
#include "reading.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng = x;
	return x;
}

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static const uint8_t KEY[16] = {0x36, 0xC6, 0x66, 0x39, 0xE4, 0x8A, 0x8C, 0xA4,
				0xD6, 0xBC, 0x8B, 0x28, 0x2A, 0x79, 0x3B, 0xBB};
static const uint8_t AKEY[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
static const uint8_t TITLE[8] = {'K', 'F', 'M', 0x67, 0x50, 0x00, 0x00, 0x09};

static void cfg_make(struct sm_meter_cfg *c, char framing, const uint8_t *key, const uint8_t *akey)
{
	memset(c, 0, sizeof(*c));
	c->framing = framing;
	if (key != NULL) {
		c->has_key = true;
		memcpy(c->key, key, 16);
	}
	if (akey != NULL) {
		c->has_auth_key = true;
		memcpy(c->auth_key, akey, 16);
	}
}

struct run {
	size_t n;
	int rc[64];
	bool unauth[64];
	enum sm_check check[64];
	char diag[64][160];
	size_t readings;           /* of the last SM_READINGS */
	struct sm_reading_set *set; /* copy of the last readings */
};

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof(*s));
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

static void note(struct run *r, enum sm_err rc, const struct sm_feed_info *info,
		 const struct sm_reading_set *out)
{
	assert_true(r->n < 64);
	r->rc[r->n] = rc;
	r->unauth[r->n] = info->unauthenticated;
	r->check[r->n] = info->check;
	snprintf(r->diag[r->n], sizeof(r->diag[0]), "%s", info->diag.msg);
	if (rc == SM_READINGS) {
		r->readings = out->n;
		memcpy(r->set, out, sizeof(*out));
	} else {
		assert_true(rc < 0);
		assert_true(info->diag.msg[0] != '\0');
		assert_false(info->unauthenticated);
	}
	r->n++;
}

/* Feed data (cut at cuts[]), then idle until nothing is pending. */
static void feed_cuts(const struct sm_meter_cfg *cfg, const uint8_t *data, size_t size,
		      const size_t *cuts, size_t ncuts, struct run *r)
{
	const struct sm_proto *p = &sm_proto_dlms;
	void *st = calloc(1, p->state_size);
	struct sm_reading_set *out = new_set();
	struct sm_diag diag = { { 0 } };
	assert_non_null(st);
	struct sm_reading_set *keep = r->set;
	memset(r, 0, sizeof(*r));
	r->set = keep;
	assert_int_equal(p->init(st, cfg, &diag), SM_OK);
	size_t start = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : size;
		size_t len = stop - start, off = 0;
		uint8_t *in = exact(data + start, len);
		int guard = 0;
		while (off < len) {
			struct sm_feed_info info;
			memset(&info, 0, sizeof(info));
			size_t used = 0;
			enum sm_err rc = p->feed(st, in + off, len - off, &used, out, &info);
			assert_true(used <= len - off);
			off += used;
			if (rc == SM_NEED_MORE) {
				assert_int_equal(off, len);
				break;
			}
			note(r, rc, &info, out);
			assert_true(++guard < 1000);
		}
		free(in);
		start = stop;
	}
	for (int i = 0;; i++) {
		struct sm_feed_info info;
		memset(&info, 0, sizeof(info));
		enum sm_err rc = p->idle(st, out, &info);
		if (rc == SM_NEED_MORE)
			break;
		note(r, rc, &info, out);
		assert_true(i < 16);
	}
	p->fini(st);
	free(st);
	free(out);
}

static void feed_all(const struct sm_meter_cfg *cfg, const uint8_t *data, size_t size, struct run *r)
{
	feed_cuts(cfg, data, size, NULL, 0, r);
}

static struct run *new_run(void)
{
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->set = new_set();
	return r;
}

static void free_run(struct run *r)
{
	free(r->set);
	free(r);
}

/* A small set like the EVN example: energies, powers, voltages, an id. */
static void example_set(struct sm_reading_set *s)
{
	struct sm_obis o;
	sm_set_clear(s);
	o = sm_obis_make(1, 0, 1, 8, 0, 255);
	assert_int_equal(sm_set_add_number(s, &o, 12937, 0, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	o = sm_obis_make(1, 0, 2, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &o, 4863, 0, SM_UNIT_W, NULL, 0, 0), SM_OK);
	o = sm_obis_make(1, 0, 32, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &o, 2337, -1, SM_UNIT_V, NULL, 0, 0), SM_OK);
	o = sm_obis_make(1, 0, 31, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &o, 691, -2, SM_UNIT_A, NULL, 0, 0), SM_OK);
	o = sm_obis_make(0, 0, 96, 1, 0, 255);
	assert_int_equal(sm_set_add_text(s, &o, "1KFM0200169986", 14, 0), SM_OK);
	s->meter_time_ms = 1632728835000LL;
	sm_set_finish(s);
}

static void random_set(struct sm_reading_set *s)
{
	static const struct {
		uint8_t c, d;
		enum sm_unit u;
	} q[] = {
		{1, 8, SM_UNIT_WH},   {2, 8, SM_UNIT_WH},  {3, 8, SM_UNIT_VARH}, {4, 8, SM_UNIT_VARH},
		{1, 7, SM_UNIT_W},    {2, 7, SM_UNIT_W},   {32, 7, SM_UNIT_V},   {52, 7, SM_UNIT_V},
		{72, 7, SM_UNIT_V},   {31, 7, SM_UNIT_A},  {51, 7, SM_UNIT_A},   {71, 7, SM_UNIT_A},
		{13, 7, SM_UNIT_NONE}, {14, 7, SM_UNIT_HZ}, {9, 7, SM_UNIT_VA},  {3, 7, SM_UNIT_VAR},
	};
	size_t nq = sizeof(q) / sizeof(q[0]);
	sm_set_clear(s);
	size_t n = 1 + rnd() % nq;
	size_t first = rnd() % nq;
	for (size_t i = 0; i < n; i++) {
		size_t k = (first + i) % nq;
		struct sm_obis o = sm_obis_make(1, 0, q[k].c, q[k].d, 0, 255);
		int64_t raw = (int64_t)(rnd() % 4000000000ull) - (rnd() % 4 == 0 ? 2000000000 : 0);
		int8_t scale = (int8_t)((int)(rnd() % 7) - 3);
		assert_int_equal(sm_set_add_number(s, &o, raw, scale, q[k].u, NULL, 0, 0), SM_OK);
	}
	if (rnd() % 2) {
		char id[20];
		size_t len = 8 + rnd() % 10;
		for (size_t i = 0; i < len; i++)
			id[i] = (char)('0' + rnd() % 10);
		struct sm_obis o = sm_obis_make(0, 0, 96, 1, 0, 255);
		assert_int_equal(sm_set_add_text(s, &o, id, len, 0), SM_OK);
	}
	s->meter_time_ms = rnd() % 3 == 0 ? 0 : 1500000000000LL + (int64_t)(rnd() % 400000000) * 1000;
	sm_set_finish(s);
}

static void assert_same_set(const struct sm_reading_set *want, const struct sm_reading_set *got)
{
	assert_int_equal(got->n, want->n);
	assert_true(got->meter_time_ms == want->meter_time_ms);
	for (size_t i = 0; i < want->n; i++) {
		const struct sm_reading *x = &want->r[i];
		const struct sm_reading *y = sm_set_find_obis(got, &x->obis);
		assert_non_null(y);
		assert_int_equal(x->is_text, y->is_text);
		if (x->is_text) {
			assert_int_equal(x->text_len, y->text_len);
			assert_memory_equal(sm_reading_text(want, x), sm_reading_text(got, y), x->text_len);
		} else {
			assert_true(x->raw == y->raw);
			assert_int_equal(x->scale, y->scale);
			assert_int_equal(x->unit, y->unit);
		}
		assert_string_equal(x->name, y->name);
	}
}

/* readings -> plain APDU */
static size_t notification(const struct sm_reading_set *s, enum sm_dlms_layout layout, uint8_t *out,
			   size_t cap)
{
	size_t n = 0;
	assert_int_equal(sm_dlms_encode(s, layout, 0x8006870E, 120, out, cap, &n), SM_OK);
	return n;
}

/* plain APDU -> general-glo-ciphering */
static size_t seal(const uint8_t *key, const uint8_t *akey, uint8_t sc, uint32_t fc, const uint8_t *plain,
		   size_t n, uint8_t *out, size_t cap)
{
	struct sm_gcm *g = NULL;
	size_t len = 0;
	assert_int_equal(sm_gcm_new(key, akey, &g), SM_OK);
	assert_int_equal(sm_gcm_seal(g, TITLE, fc, sc, plain, n, out, cap, &len), SM_OK);
	sm_gcm_free(g);
	return len;
}

/* APDU -> wire for a framing */
static size_t wrap(char framing, const uint8_t *apdu, size_t n, size_t seg, uint8_t *out, size_t cap)
{
	size_t len = 0;
	switch (framing) {
	case 'm':
		assert_int_equal(sm_mbus_encode_apdu(apdu, n, seg > 250 ? 245 : seg, out, cap, &len), SM_OK);
		break;
	case 'h':
		assert_int_equal(sm_hdlc_encode_apdu(apdu, n, seg, out, cap, &len), SM_OK);
		break;
	default:
		assert_true(n <= cap);
		memcpy(out, apdu, n);
		len = n;
		break;
	}
	return len;
}

static const char framings[] = {'m', 'h', 'r'};

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

static void test_table(void **state)
{
	(void)state;
	/* (the table entry and sm_proto_names() are checked by test_format) */
	const struct sm_proto *p = &sm_proto_dlms;
	assert_string_equal(p->name, "dlms");
	assert_int_equal(p->push, 1);
	assert_null(p->poll_start);
	assert_null(p->poll_event);
	struct sm_meter_cfg c;
	struct sm_line l;
	cfg_make(&c, 'm', NULL, NULL);
	p->line_defaults(&c, &l);
	assert_int_equal(l.baud, 2400);
	assert_int_equal(l.databits, 8);
	assert_int_equal(l.parity, SM_PARITY_EVEN);
	assert_int_equal(l.stopbits, 1);
	cfg_make(&c, 'h', NULL, NULL);
	p->line_defaults(&c, &l);
	assert_int_equal(l.baud, 2400);
	assert_int_equal(l.parity, SM_PARITY_NONE);
	cfg_make(&c, 'r', NULL, NULL);
	p->line_defaults(&c, &l);
	assert_int_equal(l.baud, 2400);
	assert_int_equal(l.parity, SM_PARITY_NONE);
	assert_int_equal(p->line.baud, 2400);
	assert_int_equal(p->line.parity, SM_PARITY_EVEN);

	void *st = calloc(1, p->state_size);
	struct sm_diag d = { { 0 } };
	cfg_make(&c, 'x', NULL, NULL);
	assert_int_equal(p->init(st, &c, &d), SM_E_CONFIG);
	assert_non_null(strstr(d.msg, "Framing"));
	/* no configuration at all: M-Bus, no key */
	assert_int_equal(p->init(st, NULL, &d), SM_OK);
	p->fini(st);
	free(st);
}

static void test_plain_each_framing(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct run *r = new_run();
	static uint8_t apdu[SM_DLMS_MAX_APDU], wire[20000];
	example_set(s);
	for (int layout = 0; layout < 2; layout++) {
		size_t n = notification(s, layout ? SM_DLMS_STRUCTS : SM_DLMS_FLAT, apdu, sizeof(apdu));
		for (size_t f = 0; f < 3; f++) {
			struct sm_meter_cfg c;
			cfg_make(&c, framings[f], NULL, NULL);
			size_t wn = wrap(framings[f], apdu, n, 40, wire, sizeof(wire));
			feed_all(&c, wire, wn, r);
			assert_int_equal(r->n, 1);
			assert_int_equal(r->rc[0], SM_READINGS);
			assert_false(r->unauth[0]);
			assert_int_equal(r->check[0], framings[f] == 'r' ? SM_CHECK_ABSENT : SM_CHECK_OK);
			assert_same_set(s, r->set);
			/* with a Key configured, a plain APDU is marked unauthenticated */
			cfg_make(&c, framings[f], KEY, NULL);
			feed_all(&c, wire, wn, r);
			assert_int_equal(r->rc[0], SM_READINGS);
			assert_true(r->unauth[0]);
		}
	}
	free(s);
	free_run(r);
}

static void test_encrypted_each_framing(void **state)
{
	(void)state;
	static const uint8_t scs[] = {0x20, 0x21, 0x30, 0x31};
	struct sm_reading_set *s = new_set();
	struct run *r = new_run();
	static uint8_t plain[SM_DLMS_MAX_APDU], apdu[SM_DLMS_MAX_APDU], wire[20000];
	example_set(s);
	size_t pn = notification(s, SM_DLMS_FLAT, plain, sizeof(plain));
	for (size_t k = 0; k < 4; k++) {
		bool tag = scs[k] & 0x10;
		size_t n = seal(KEY, tag ? AKEY : NULL, scs[k], 0x23 + (uint32_t)k, plain, pn, apdu, sizeof(apdu));
		for (size_t f = 0; f < 3; f++) {
			struct sm_meter_cfg c;
			cfg_make(&c, framings[f], KEY, tag ? AKEY : NULL);
			size_t wn = wrap(framings[f], apdu, n, 245, wire, sizeof(wire));
			feed_all(&c, wire, wn, r);
			if (r->n != 1 || r->rc[0] != SM_READINGS)
				fail_msg("sc %02X framing %c: %zu results, %d: %s", scs[k], framings[f], r->n,
					 r->rc[0], r->diag[0]);
			assert_int_equal(r->unauth[0], !tag);
			assert_int_equal(r->check[0],
					 framings[f] == 'r' && !tag ? SM_CHECK_ABSENT : SM_CHECK_OK);
			assert_same_set(s, r->set);
		}
	}
	free(s);
	free_run(r);
}

static bool has_key_hex(const char *msg, const uint8_t *key)
{
	char hex[33], lower[33];
	for (int i = 0; i < 16; i++) {
		snprintf(hex + 2 * i, 3, "%02X", key[i]);
		snprintf(lower + 2 * i, 3, "%02x", key[i]);
	}
	/* any 4 consecutive key bytes */
	for (int i = 0; i + 8 <= 32; i += 2) {
		char part[9];
		memcpy(part, hex + i, 8);
		part[8] = '\0';
		if (strstr(msg, part))
			return true;
		memcpy(part, lower + i, 8);
		if (strstr(msg, part))
			return true;
	}
	return false;
}

static void test_key_errors(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct run *r = new_run();
	static uint8_t plain[SM_DLMS_MAX_APDU], apdu[SM_DLMS_MAX_APDU], wire[20000];
	example_set(s);
	size_t pn = notification(s, SM_DLMS_STRUCTS, plain, sizeof(plain));
	uint8_t wrong[16];
	memcpy(wrong, KEY, 16);
	wrong[7] ^= 0x01;
	for (size_t f = 0; f < 3; f++) {
		struct sm_meter_cfg c;
		/* encrypted, no Key configured */
		size_t n = seal(KEY, NULL, 0x20, 1, plain, pn, apdu, sizeof(apdu));
		size_t wn = wrap(framings[f], apdu, n, 245, wire, sizeof(wire));
		cfg_make(&c, framings[f], NULL, NULL);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->rc[0], SM_E_AUTH);
		assert_non_null(strstr(r->diag[0], "no Key is configured"));
		assert_non_null(strstr(r->diag[0], "KFM 6750000009"));
		/* wrong key, encryption only: not an APDU */
		cfg_make(&c, framings[f], wrong, NULL);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->rc[0], SM_E_NOT_APDU);
		assert_non_null(strstr(r->diag[0], "check Key"));
		assert_false(has_key_hex(r->diag[0], wrong));
		assert_false(has_key_hex(r->diag[0], KEY));
		/* wrong key with a tag: authentication failed */
		n = seal(KEY, AKEY, 0x30, 2, plain, pn, apdu, sizeof(apdu));
		wn = wrap(framings[f], apdu, n, 245, wire, sizeof(wire));
		cfg_make(&c, framings[f], wrong, AKEY);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->rc[0], SM_E_AUTH);
		assert_false(has_key_hex(r->diag[0], wrong));
		assert_false(has_key_hex(r->diag[0], AKEY));
		/* right key, wrong AuthKey; no AuthKey */
		uint8_t wak[16];
		memcpy(wak, AKEY, 16);
		wak[0] ^= 0x80;
		cfg_make(&c, framings[f], KEY, wak);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->rc[0], SM_E_AUTH);
		cfg_make(&c, framings[f], KEY, NULL);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->rc[0], SM_E_AUTH);
		/* a flipped ciphertext bit (frames re-made: their checksums are right) */
		apdu[n - 20] ^= 0x04;
		wn = wrap(framings[f], apdu, n, 245, wire, sizeof(wire));
		cfg_make(&c, framings[f], KEY, AKEY);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->rc[0], SM_E_AUTH);
		/* the same without a tag: no reading with the wrong value... the
		 * flipped bit flips a plaintext bit; the first byte is kept right
		 * here, so it decodes (this is why SC 0x20 counts as unauthenticated) */
		n = seal(KEY, NULL, 0x20, 3, plain, pn, apdu, sizeof(apdu));
		apdu[n - 1] ^= 0x01;
		wn = wrap(framings[f], apdu, n, 245, wire, sizeof(wire));
		cfg_make(&c, framings[f], KEY, NULL);
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		if (r->rc[0] == SM_READINGS)
			assert_true(r->unauth[0]);
	}
	free(s);
	free_run(r);
}

static void test_frame_damage(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct run *r = new_run();
	static uint8_t plain[SM_DLMS_MAX_APDU], apdu[SM_DLMS_MAX_APDU], wire[20000];
	example_set(s);
	size_t pn = notification(s, SM_DLMS_FLAT, plain, sizeof(plain));
	size_t n = seal(KEY, NULL, 0x20, 9, plain, pn, apdu, sizeof(apdu));
	struct sm_meter_cfg c;

	/* M-Bus: a bad checksum, then a missing segment, then good */
	cfg_make(&c, 'm', KEY, NULL);
	const size_t fsz = 11 + 30; /* a frame of 30 APDU bytes */
	size_t one = wrap('m', apdu, n, 30, wire, sizeof(wire));
	assert_true(one > 3 * fsz);
	memcpy(wire + one, wire, one);
	memcpy(wire + 2 * one, wire, one);
	wire[20] ^= 0x01;
	memmove(wire + one + fsz, wire + one + 2 * fsz, 2 * one - 2 * fsz); /* copy 2 loses frame 2 */
	size_t wn = 3 * one - fsz;
	feed_all(&c, wire, wn, r);
	assert_int_equal(r->n, 3);
	assert_int_equal(r->rc[0], SM_E_CHECKSUM);
	assert_int_equal(r->rc[1], SM_E_TRUNCATED);
	assert_int_equal(r->rc[2], SM_READINGS);
	assert_same_set(s, r->set);
	/* cut at the end */
	feed_all(&c, wire + 2 * one - fsz, one - 20, r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->rc[0], SM_E_TRUNCATED);

	/* HDLC: bad FCS, bad HCS, then good */
	cfg_make(&c, 'h', KEY, NULL);
	one = wrap('h', apdu, n, 2000, wire, sizeof(wire));
	memcpy(wire + one, wire, one);
	memcpy(wire + 2 * one, wire, one);
	wire[40] ^= 0x01;
	wire[one + 4] ^= 0x10;
	feed_all(&c, wire, 3 * one, r);
	assert_int_equal(r->n, 3);
	assert_int_equal(r->rc[0], SM_E_CRC);
	assert_non_null(strstr(r->diag[0], "FCS"));
	assert_int_equal(r->rc[1], SM_E_CRC);
	assert_non_null(strstr(r->diag[1], "HCS"));
	assert_int_equal(r->rc[2], SM_READINGS);

	/* an APDU that is neither 0F nor DB */
	static const uint8_t other[] = {0xC4, 0x01, 0xC1, 0x00, 0x06, 0x00, 0x00, 0x00, 0x01};
	for (size_t f = 0; f < 2; f++) {
		cfg_make(&c, framings[f], NULL, NULL);
		wn = wrap(framings[f], other, sizeof(other), 245, wire, sizeof(wire));
		feed_all(&c, wire, wn, r);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->rc[0], SM_E_SYNTAX);
		assert_non_null(strstr(r->diag[0], "C4"));
	}
	/* a plain APDU that does not decode */
	size_t m = notification(s, SM_DLMS_FLAT, plain, sizeof(plain));
	cfg_make(&c, 'm', NULL, NULL);
	wn = wrap('m', plain, m - 3, 245, wire, sizeof(wire));
	feed_all(&c, wire, wn, r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->rc[0], SM_E_TRUNCATED);
	free(s);
	free_run(r);
}

/* Raw streams: APDUs back to back, garbage between, any split. */
static void test_raw_stream(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set(), *s2 = new_set();
	struct run *r = new_run(), *r2 = new_run();
	static uint8_t plain[SM_DLMS_MAX_APDU], wire[20000];
	static const uint8_t junk[] = {0x00, 0xDB, 0x07, 0x0F, 0x00, 0x00, 0x00, 0x01, 0x05, 0xFF,
				       0xDB, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x05, 0x99};
	example_set(s);
	random_set(s2);
	size_t at = 0;
	memcpy(wire + at, junk, sizeof(junk));
	at += sizeof(junk);
	size_t pn = notification(s, SM_DLMS_FLAT, plain, sizeof(plain));
	at += seal(KEY, AKEY, 0x30, 1, plain, pn, wire + at, sizeof(wire) - at);
	memcpy(wire + at, plain, pn); /* the same in clear */
	at += pn;
	memcpy(wire + at, junk, sizeof(junk));
	at += sizeof(junk);
	pn = notification(s2, SM_DLMS_STRUCTS, plain, sizeof(plain));
	at += seal(KEY, NULL, 0x21, 2, plain, pn, wire + at, sizeof(wire) - at);
	struct sm_meter_cfg c;
	cfg_make(&c, 'r', KEY, AKEY);
	feed_all(&c, wire, at, r);
	assert_int_equal(r->n, 3);
	assert_int_equal(r->rc[0], SM_READINGS);
	assert_false(r->unauth[0]);
	assert_int_equal(r->check[0], SM_CHECK_OK);
	/* with an AuthKey, frames without a verified tag are refused */
	assert_int_equal(r->rc[1], SM_E_AUTH);
	assert_non_null(strstr(r->diag[1], "unencrypted"));
	assert_int_equal(r->rc[2], SM_E_AUTH);
	assert_non_null(strstr(r->diag[2], "without GCM tag"));
	/* without one they are read, as unauthenticated (and the tagged frame,
	 * whose tag covers the AuthKey, fails) */
	struct sm_meter_cfg c2;
	cfg_make(&c2, 'r', KEY, NULL);
	feed_all(&c2, wire, at, r2);
	assert_int_equal(r2->n, 3);
	assert_int_equal(r2->rc[0], SM_E_AUTH);
	assert_int_equal(r2->rc[1], SM_READINGS);
	assert_true(r2->unauth[1]);
	assert_int_equal(r2->rc[2], SM_READINGS);
	assert_true(r2->unauth[2]);
	assert_int_equal(r2->check[2], SM_CHECK_ABSENT);
	assert_same_set(s2, r2->set);
	for (size_t cut = 1; cut < at; cut += 3) {
		feed_cuts(&c, wire, at, &cut, 1, r2);
		assert_int_equal(r2->n, r->n);
		for (size_t i = 0; i < r->n; i++)
			assert_int_equal(r2->rc[i], r->rc[i]);
	}
	/* cut short at the end: truncated */
	feed_all(&c, wire, at - 5, r);
	assert_int_equal(r->n, 3);
	assert_int_equal(r->rc[2], SM_E_TRUNCATED);
	free(s);
	free(s2);
	free_run(r);
	free_run(r2);
}

static void test_random_roundtrips(void **state)
{
	(void)state;
	static const uint8_t scs[] = {0x20, 0x21, 0x30, 0x31};
	struct sm_reading_set *s = new_set();
	struct run *r = new_run();
	static uint8_t plain[SM_DLMS_MAX_APDU], apdu[SM_DLMS_MAX_APDU], wire[60000];
	for (int iter = 0; iter < 300; iter++) {
		uint8_t key[16], akey[16];
		for (int i = 0; i < 16; i++) {
			key[i] = (uint8_t)rnd();
			akey[i] = (uint8_t)rnd();
		}
		random_set(s);
		enum sm_dlms_layout layout = rnd() % 2 ? SM_DLMS_FLAT : SM_DLMS_STRUCTS;
		size_t pn = notification(s, layout, plain, sizeof(plain));
		char framing = framings[rnd() % 3];
		bool encrypt = rnd() % 4 != 0;
		uint8_t sc = scs[rnd() % 4];
		bool tag = sc & 0x10;
		const uint8_t *ap = plain;
		size_t n = pn;
		if (encrypt) {
			n = seal(key, tag ? akey : NULL, sc, (uint32_t)rnd(), plain, pn, apdu, sizeof(apdu));
			ap = apdu;
		}
		size_t seg = framing == 'h' ? 3 + rnd() % 300 : 1 + rnd() % 250;
		size_t wn = wrap(framing, ap, n, seg, wire, sizeof(wire));
		struct sm_meter_cfg c;
		cfg_make(&c, framing, encrypt || rnd() % 2 ? key : NULL, encrypt && tag ? akey : NULL);
		feed_all(&c, wire, wn, r);
		if (r->n != 1 || r->rc[0] != SM_READINGS)
			fail_msg("iter %d (%c, sc %02X, %s): %zu results, %d: %s", iter, framing, sc,
				 encrypt ? "encrypted" : "plain", r->n, r->rc[0], r->diag[0]);
		assert_int_equal(r->unauth[0], c.has_key && !(encrypt && tag));
		assert_same_set(s, r->set);
	}
	free(s);
	free_run(r);
}

static void test_reset_and_idle(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	static uint8_t plain[SM_DLMS_MAX_APDU], wire[4000];
	example_set(s);
	size_t pn = notification(s, SM_DLMS_FLAT, plain, sizeof(plain));
	for (size_t f = 0; f < 3; f++) {
		const struct sm_proto *p = &sm_proto_dlms;
		struct sm_meter_cfg c;
		cfg_make(&c, framings[f], NULL, NULL);
		void *st = calloc(1, p->state_size);
		struct sm_reading_set *out = new_set();
		struct sm_diag d = { { 0 } };
		assert_int_equal(p->init(st, &c, &d), SM_OK);
		size_t wn = wrap(framings[f], plain, pn, 50, wire, sizeof(wire));
		uint8_t *in = exact(wire, wn);
		struct sm_feed_info info;
		memset(&info, 0, sizeof(info));
		size_t used = 0;
		/* half a frame, a reset (reconnect), the whole thing */
		assert_int_equal(p->feed(st, in, wn / 2, &used, out, &info), SM_NEED_MORE);
		p->reset(st);
		assert_int_equal(p->idle(st, out, &info), SM_NEED_MORE);
		size_t off = 0;
		int readings = 0;
		while (off < wn) {
			enum sm_err rc = p->feed(st, in + off, wn - off, &used, out, &info);
			off += used;
			if (rc == SM_READINGS)
				readings++;
			else
				assert_int_equal(rc, SM_NEED_MORE);
		}
		if (readings == 0)
			assert_int_equal(p->idle(st, out, &info), SM_READINGS); /* raw: at idle at the latest */
		assert_int_equal(p->idle(st, out, &info), SM_NEED_MORE);
		free(in);
		p->fini(st);
		free(st);
		free(out);
	}
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_plain_each_framing),
		cmocka_unit_test(test_encrypted_each_framing),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_frame_damage),
		cmocka_unit_test(test_raw_stream),
		cmocka_unit_test(test_random_roundtrips),
		cmocka_unit_test(test_reset_and_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
