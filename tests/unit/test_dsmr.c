/*
 * test_dsmr.c - DSMR P1 framer, decoder, encoder, restamp and the "dsmr"
 * protocol entry.  Telegrams are built by our own encoder (or from line
 * lists with the CRC computed here); every input is fed from an
 * exactly-sized heap copy so AddressSanitizer sees any overread.
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
#include "crc.h"
#include "dsmr.h"
#include "obis.h"
#include "proto.h"
#include "reading.h"

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

struct ev {
	int rc;
	enum sm_check check;
	size_t n;
	uint16_t sum; /* CRC of the frame bytes */
};

struct evlog {
	size_t n;
	struct ev e[64];
	char last_diag[160];
	uint64_t skipped;
};

static void log_ev(struct evlog *l, enum sm_err rc, const struct sm_frame *fr,
		   const struct sm_diag *d)
{
	assert_true(l->n < 64);
	struct ev *e = &l->e[l->n++];
	memset(e, 0, sizeof *e);
	e->rc = rc;
	if (rc == SM_FRAME && fr->unterminated) {
		/* A telegram without its '!' line is only a telegram if the
		 * decoder accepts it (DSMR 2.2 meters that never send '!'):
		 * log what the decoder makes of it when it refuses. */
		struct sm_reading_set *set = malloc(sizeof *set);
		struct sm_diag dd = { { 0 } };
		assert_non_null(set);
		enum sm_err drc = sm_dsmr_decode(fr, set, NULL, &dd);
		free(set);
		if (drc != SM_READINGS) {
			e->rc = drc;
			snprintf(l->last_diag, sizeof l->last_diag, "%s", dd.msg);
			return;
		}
	}
	if (rc == SM_FRAME) {
		e->check = fr->check;
		e->n = fr->n;
		e->sum = sm_crc16_arc(0, fr->p, fr->n);
	} else {
		snprintf(l->last_diag, sizeof l->last_diag, "%s", d->msg);
	}
}

/* Feed data in pieces cut at cuts[] (ascending), then flush. */
static void feed_cuts(const void *data, size_t n, bool ignore, const size_t *cuts, size_t ncuts,
		      struct evlog *l)
{
	struct sm_dsmr_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_dsmr_framer_init(f, ignore);
	memset(l, 0, sizeof *l);
	size_t start = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t stop = k < ncuts ? cuts[k] : n;
		uint8_t *piece = exact((const uint8_t *)data + start, stop - start);
		size_t len = stop - start, off = 0;
		while (off < len) {
			struct sm_frame fr;
			struct sm_diag d = { { 0 } };
			size_t used = 0;
			enum sm_err rc = sm_dsmr_framer_feed(f, piece + off, len - off, &used, &fr, &d);
			assert_true(used <= len - off);
			off += used;
			if (rc == SM_NEED_MORE)
				assert_int_equal(off, len);
			else
				log_ev(l, rc, &fr, &d);
		}
		free(piece);
		start = stop;
	}
	struct sm_frame fr;
	struct sm_diag d = { { 0 } };
	enum sm_err rc = sm_dsmr_framer_flush(f, &fr, &d);
	if (rc != SM_NEED_MORE)
		log_ev(l, rc, &fr, &d);
	l->skipped = f->skipped;
	free(f);
}

static void feed_whole(const void *data, size_t n, bool ignore, struct evlog *l)
{
	feed_cuts(data, n, ignore, NULL, 0, l);
}

static void assert_same_log(const struct evlog *a, const struct evlog *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->e[i].rc, b->e[i].rc);
		assert_int_equal(a->e[i].check, b->e[i].check);
		assert_int_equal(a->e[i].n, b->e[i].n);
		assert_int_equal(a->e[i].sum, b->e[i].sum);
	}
}

static size_t count_rc(const struct evlog *l, int rc)
{
	size_t c = 0;
	for (size_t i = 0; i < l->n; i++)
		c += l->e[i].rc == rc;
	return c;
}

static void num(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		int64_t raw, int8_t scale, enum sm_unit u, int64_t t)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	const char *ut = u == SM_UNIT_OTHER ? "GJ" : NULL;
	assert_int_equal(sm_set_add_number(s, &o, raw, scale, u, ut, ut ? 2 : 0, t), SM_OK);
}

static void txt(struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		const char *text)
{
	struct sm_obis o = sm_obis_make5(a, b, c, d, e);
	assert_int_equal(sm_set_add_text(s, &o, text, strlen(text), 0), SM_OK);
}

#define T0 1700000000000LL /* 2023-11-14 22:13:20 UTC */

/* A DSMR 4/5 style set with `channels` M-Bus devices (gas, water, gas, heat). */
static void meter_set(struct sm_reading_set *s, int version, int channels)
{
	sm_set_clear(s);
	s->meter_time_ms = T0;
	if (version)
		num(s, 1, 3, 0, 2, 8, version, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 0, 96, 1, 1, "4530303434303037333832323436303139");
	num(s, 1, 0, 1, 8, 1, 2130115, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 1, 8, 2, 245467, 0, SM_UNIT_WH, 0);
	num(s, 1, 0, 2, 8, 1, 12, 0, SM_UNIT_WH, 0);
	num(s, 0, 0, 96, 14, 0, 2, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 1, 7, 0, 111, 0, SM_UNIT_W, 0);
	num(s, 0, 0, 96, 7, 21, 5, 0, SM_UNIT_NONE, 0);
	num(s, 1, 0, 32, 32, 0, 1, 0, SM_UNIT_NONE, 0);
	txt(s, 0, 0, 96, 13, 0, "");
	num(s, 1, 0, 32, 7, 0, 2299, -1, SM_UNIT_V, 0);
	num(s, 1, 0, 31, 7, 0, 48, -2, SM_UNIT_A, 0);
	static const unsigned types[4] = { 3, 7, 3, 4 };
	for (int ch = 1; ch <= channels; ch++) {
		num(s, 0, (uint8_t)ch, 24, 1, 0, types[ch - 1], 0, SM_UNIT_NONE, 0);
		txt(s, 0, (uint8_t)ch, 96, 1, 0, "4730303339303031393336393930363139");
		num(s, 0, (uint8_t)ch, 24, 2, 1, 246138 + ch, -3,
		    types[ch - 1] == 4 ? SM_UNIT_OTHER : SM_UNIT_M3, T0 - 300000);
	}
}

/* Encode into an exactly-sized heap buffer. */
static uint8_t *encode(const struct sm_reading_set *s, const char *hdr, bool crc, size_t *n)
{
	static uint8_t buf[32768];
	assert_int_equal(sm_dsmr_encode(s, hdr, crc, buf, sizeof buf, n), SM_OK);
	return exact(buf, *n);
}

/* A telegram from lines; crc_mode 0 none, 1 upper, 2 lower, 3 wrong. */
static uint8_t *lines_telegram(const char *hdr, const char *const *lines, int crc_mode, size_t *outn)
{
	static char t[20000];
	size_t n = (size_t)snprintf(t, sizeof t, "/%s\r\n\r\n", hdr);
	for (size_t i = 0; lines[i] != NULL; i++)
		n += (size_t)snprintf(t + n, sizeof t - n, "%s\r\n", lines[i]);
	n += (size_t)snprintf(t + n, sizeof t - n, "!");
	uint16_t crc = sm_crc16_arc(0, t, n);
	if (crc_mode == 1)
		n += (size_t)snprintf(t + n, sizeof t - n, "%04X", crc);
	else if (crc_mode == 2)
		n += (size_t)snprintf(t + n, sizeof t - n, "%04x", crc);
	else if (crc_mode == 3)
		n += (size_t)snprintf(t + n, sizeof t - n, "%04X", (unsigned)(crc ^ 0x0101));
	n += (size_t)snprintf(t + n, sizeof t - n, "\r\n");
	*outn = n;
	return exact(t, n);
}

/* Frame one telegram (must succeed) and decode it into *s. */
static enum sm_err frame_decode(const uint8_t *tel, size_t n, bool ignore, struct sm_reading_set *s,
				unsigned *bad, enum sm_check *check, char *diag)
{
	struct sm_dsmr_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_dsmr_framer_init(f, ignore);
	struct sm_frame fr;
	struct sm_diag d = { { 0 } };
	size_t used = 0;
	enum sm_err rc = sm_dsmr_framer_feed(f, tel, n, &used, &fr, &d);
	if (rc == SM_NEED_MORE)
		rc = sm_dsmr_framer_flush(f, &fr, &d);
	if (rc != SM_FRAME) {
		if (diag)
			snprintf(diag, 160, "%s", d.msg);
		free(f);
		return rc;
	}
	if (check)
		*check = fr.check;
	unsigned b = 0;
	rc = sm_dsmr_decode(&fr, s, &b, &d);
	if (bad)
		*bad = b;
	if (diag)
		snprintf(diag, 160, "%s", d.msg);
	free(f);
	return rc;
}

/* Exact comparison of raw*10^scale values. */
static void norm(int64_t *raw, int8_t *scale)
{
	if (*raw == 0) {
		*scale = 0;
		return;
	}
	while (*raw % 10 == 0) {
		*raw /= 10;
		(*scale)++;
	}
}

static const struct sm_reading *find_obis(const struct sm_reading_set *s, const char *code)
{
	struct sm_obis o;
	size_t used;
	assert_int_equal(sm_obis_parse(code, strlen(code), &used, &o), SM_OK);
	for (size_t i = 0; i < s->n; i++) {
		const struct sm_reading *r = &s->r[i];
		if (sm_obis_eq(&r->obis, &o) &&
		    ((o.present & SM_OBIS_BIT(SM_OBIS_F)) ||
		     !(r->obis.present & SM_OBIS_BIT(SM_OBIS_F)) || r->obis.v[SM_OBIS_F] == 255))
			return r;
	}
	return NULL;
}

static void check_value(const struct sm_reading_set *s, const char *code, const char *name,
			int64_t raw, int8_t scale, enum sm_unit unit, int64_t time_ms)
{
	const struct sm_reading *r = find_obis(s, code);
	if (r == NULL)
		fail_msg("no reading %s", code);
	assert_false(r->is_text);
	if (name)
		assert_string_equal(r->name, name);
	int64_t a = r->raw, b = raw;
	int8_t as = r->scale, bs = scale;
	norm(&a, &as);
	norm(&b, &bs);
	if (a != b || as != bs)
		fail_msg("%s: %lld e%d, expected %lld e%d", code, (long long)r->raw, r->scale,
			 (long long)raw, scale);
	assert_int_equal(r->unit, unit);
	assert_int_equal(r->time_ms, time_ms);
}

static void check_text(const struct sm_reading_set *s, const char *code, const char *text)
{
	const struct sm_reading *r = find_obis(s, code);
	if (r == NULL)
		fail_msg("no reading %s", code);
	assert_true(r->is_text);
	assert_int_equal(r->text_len, strlen(text));
	assert_memory_equal(sm_reading_text(s, r), text, r->text_len ? r->text_len : 0);
}

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

/* ------------------------------------------------------------------ */
/* encoder + decoder                                                   */
/* ------------------------------------------------------------------ */

static void test_v5_roundtrip(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	meter_set(in, 50, 1);
	size_t n;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &n);
	/* the shape a DSMR 5 meter sends */
	assert_memory_equal(tel, "/ISK5\\2M550T-1012\r\n\r\n0-0:1.0.0(231114231320W)\r\n", 47);
	assert_non_null(strstr((const char *)tel, "\r\n1-0:1.8.1(2130.115*kWh)\r\n"));
	assert_non_null(strstr((const char *)tel, "\r\n1-0:32.7.0(229.9*V)\r\n"));
	assert_non_null(strstr((const char *)tel, "\r\n0-1:24.2.1(231114230820W)(246.139*m3)\r\n"));
	assert_int_equal(tel[n - 7], '!');

	enum sm_check check = SM_CHECK_IGNORED;
	unsigned bad = 99;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_OK);
	assert_int_equal(bad, 0);
	assert_int_equal(out->n, in->n);
	assert_int_equal(out->meter_time_ms, T0);
	check_value(out, "1-0:1.8.1", "energy_import_t1", 2130115, 0, SM_UNIT_WH, 0);
	check_value(out, "1-0:1.7.0", "power_import", 111, 0, SM_UNIT_W, 0);
	check_value(out, "1-0:32.7.0", "voltage_l1", 2299, -1, SM_UNIT_V, 0);
	check_value(out, "1-0:31.7.0", "current_l1", 48, -2, SM_UNIT_A, 0);
	check_value(out, "0-0:96.14.0", "tariff", 2, 0, SM_UNIT_NONE, 0);
	check_value(out, "0-0:96.7.21", "power_failures", 5, 0, SM_UNIT_NONE, 0);
	check_value(out, "1-0:32.32.0", "voltage_sags_l1", 1, 0, SM_UNIT_NONE, 0);
	check_value(out, "0-1:24.2.1", "gas_volume", 246139, -3, SM_UNIT_M3, T0 - 300000);
	check_text(out, "0-0:96.1.1", "4530303434303037333832323436303139");
	check_text(out, "0-0:96.13.0", "");
	assert_int_equal(out->names.media[1], SM_MEDIUM_GAS);
	free(tel);
	free(in);
	free(out);
}

static void test_v22_no_crc(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	meter_set(in, 0, 1);
	in->meter_time_ms = 0;
	size_t n;
	uint8_t *tel = encode(in, "ISk5\\2MT382-1004", false, &n);
	assert_memory_equal(tel + n - 3, "!\r\n", 3);
	enum sm_check check = SM_CHECK_OK;
	assert_int_equal(frame_decode(tel, n, false, out, NULL, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_ABSENT);
	assert_int_equal(out->n, in->n);
	assert_int_equal(out->meter_time_ms, 0);
	/* "!" at the very end of the input: completed by flush */
	assert_int_equal(frame_decode(tel, n - 2, false, out, NULL, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_ABSENT);
	free(tel);
	free(in);
	free(out);
}

static void test_version4_without_crc_rejected(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	static const int versions[] = { 40, 42, 50 };
	for (size_t i = 0; i < 3; i++) {
		meter_set(in, versions[i], 1);
		size_t n;
		uint8_t *tel = encode(in, "KFM5KAIFA-METER", false, &n);
		char diag[160] = "";
		assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, diag), SM_E_NO_CRC);
		assert_non_null(strstr(diag, "no CRC"));
		free(tel);
	}
	/* Belgian version object */
	static const char *const be[] = { "0-0:96.1.4(50217)", "1-0:1.8.1(000000.034*kWh)", NULL };
	size_t n;
	uint8_t *tel = lines_telegram("FLU5\\253769484_A", be, 0, &n);
	assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, NULL), SM_E_NO_CRC);
	free(tel);
	tel = lines_telegram("FLU5\\253769484_A", be, 1, &n);
	assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, NULL), SM_READINGS);
	check_text(out, "0-0:96.1.4", "50217");
	free(tel);
	free(in);
	free(out);
}

static void test_mbus_channels(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	meter_set(in, 42, 4);
	size_t n;
	uint8_t *tel = encode(in, "KFM5KAIFA-METER", true, &n);
	assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, NULL), SM_READINGS);
	assert_int_equal(out->names.media[1], SM_MEDIUM_GAS);
	assert_int_equal(out->names.media[2], SM_MEDIUM_WATER);
	assert_int_equal(out->names.media[3], SM_MEDIUM_GAS);
	assert_int_equal(out->names.media[4], SM_MEDIUM_HEAT);
	assert_int_equal(out->names.medium_rank[1], 1);
	assert_int_equal(out->names.medium_rank[2], 1);
	assert_int_equal(out->names.medium_rank[3], 2);
	assert_int_equal(out->names.medium_rank[4], 1);
	check_value(out, "0-1:24.2.1", "gas_volume", 246139, -3, SM_UNIT_M3, T0 - 300000);
	check_value(out, "0-2:24.2.1", "water_volume", 246140, -3, SM_UNIT_M3, T0 - 300000);
	check_value(out, "0-3:24.2.1", "gas_volume_ch2", 246141, -3, SM_UNIT_M3, T0 - 300000);
	const struct sm_reading *heat = find_obis(out, "0-4:24.2.1");
	assert_non_null(heat);
	assert_int_equal(heat->unit, SM_UNIT_OTHER);
	assert_string_equal(heat->unit_text, "GJ");
	check_value(out, "0-1:24.1.0", NULL, 3, 0, SM_UNIT_NONE, 0);
	free(tel);
	free(in);
	free(out);
}

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

static void test_every_byte_corruption_rejected(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 1);
	size_t n;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &n);
	uint8_t *bad = exact(tel, n);
	static const uint8_t masks[] = { 0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff };
	struct evlog *l = malloc(sizeof *l);
	assert_non_null(l);
	size_t crc_end = n - 2; /* '/' .. last CRC digit */
	for (size_t i = 0; i < crc_end; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(bad, tel, n);
			bad[i] ^= masks[m];
			feed_whole(bad, n, false, l);
			if (count_rc(l, SM_FRAME) != 0)
				fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
			/* without its '/' the bytes are skipped as noise; else
			 * the telegram is rejected with a reason */
			assert_true(i == 0 || l->n >= 1);
		}
	}
	free(l);
	free(bad);
	free(tel);
	free(in);
}

static void test_crc_digit_corruption_rejected(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 0);
	size_t n;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &n);
	uint8_t *bad = exact(tel, n);
	struct evlog *l = malloc(sizeof *l);
	assert_non_null(l);
	static const char hex[] = "0123456789ABCDEFabcdef";
	for (size_t pos = n - 6; pos < n - 2; pos++) {
		for (size_t h = 0; hex[h]; h++) {
			memcpy(bad, tel, n);
			bad[pos] = (uint8_t)hex[h];
			feed_whole(bad, n, false, l);
			assert_int_equal(l->n, 1);
			bool same = bad[pos] == tel[pos] ||
				    (tel[pos] >= 'A' && bad[pos] == tel[pos] + ('a' - 'A'));
			if (same) {
				/* the same digit in either case */
				assert_int_equal(l->e[0].rc, SM_FRAME);
				assert_int_equal(l->e[0].check, SM_CHECK_OK);
			} else {
				assert_int_equal(l->e[0].rc, SM_E_CRC);
				assert_non_null(strstr(l->last_diag, "CRC mismatch: telegram says "));
			}
		}
		/* a non-hex byte in the CRC */
		memcpy(bad, tel, n);
		bad[pos] = 'G';
		feed_whole(bad, n, false, l);
		assert_int_equal(count_rc(l, SM_FRAME), 0);
	}
	/* 1 or 2 digits, and 5 */
	memcpy(bad, tel, n);
	memcpy(bad + n - 4, "\r\n\r\n", 4);
	feed_whole(bad, n, false, l);
	assert_int_equal(l->e[0].rc, SM_E_SYNTAX);
	feed_whole(bad, n - 1, false, l);
	assert_int_equal(count_rc(l, SM_FRAME), 0);
	free(bad);
	bad = malloc(n + 1);
	assert_non_null(bad);
	memcpy(bad, tel, n - 2);
	memcpy(bad + n - 2, "0\r\n", 3);
	feed_whole(bad, n + 1, false, l);
	assert_int_equal(l->e[0].rc, SM_E_SYNTAX);
	free(l);
	free(bad);
	free(tel);
	free(in);
}

static void test_crc_diag_text(void **state)
{
	(void)state;
	static const char *const lines[] = { "1-3:0.2.8(50)", "1-0:1.8.1(000001.000*kWh)", NULL };
	size_t n;
	uint8_t *tel = lines_telegram("XMX5TEST", lines, 3, &n);
	struct evlog l;
	feed_whole(tel, n, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_E_CRC);
	uint16_t good = sm_crc16_arc(0, tel, n - 6);
	char want[80];
	snprintf(want, sizeof want, "CRC mismatch: telegram says %04X, computed %04X",
		 (unsigned)(good ^ 0x0101), (unsigned)good);
	assert_string_equal(l.last_diag, want);
	free(tel);
}

static void test_truncation_every_byte(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 1);
	size_t n;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &n);
	struct evlog *l = malloc(sizeof *l);
	assert_non_null(l);
	size_t bang = n - 7;
	for (size_t k = 0; k < n; k++) {
		feed_whole(tel, k, false, l);
		if (k <= bang) {
			assert_int_equal(count_rc(l, SM_FRAME), 0);
			if (k > 0)
				assert_int_equal(l->e[0].rc, SM_E_TRUNCATED);
		} else if (k < bang + 5) {
			/* "!", "!X", "!XX", "!XXX": never accepted as this telegram */
			for (size_t i = 0; i < l->n; i++)
				if (l->e[i].rc == SM_FRAME)
					assert_int_not_equal(l->e[i].check, SM_CHECK_IGNORED);
			assert_true(count_rc(l, SM_FRAME) == 0 ||
				    (k == bang + 1 && l->e[0].check == SM_CHECK_ABSENT) ||
				    (k == bang + 4 && tel[bang + 1] == '0'));
		} else {
			/* CRC complete: the line end is optional at end of input */
			assert_int_equal(l->n, 1);
			assert_int_equal(l->e[0].rc, SM_FRAME);
			assert_int_equal(l->e[0].check, SM_CHECK_OK);
			assert_int_equal(l->e[0].n, n - 2);
		}
	}
	free(l);
	free(tel);
	free(in);
}

/* Two telegrams with garbage around them. */
static uint8_t *stream_of_two(size_t *outn, size_t *tel_n)
{
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 1);
	size_t n1, n2;
	uint8_t *t1 = encode(in, "ISK5\\2M550T-1012", true, &n1);
	in->meter_time_ms += 1000;
	uint8_t *t2 = encode(in, "ISK5\\2M550T-1012", true, &n2);
	static const char g1[] = "\x00\xff\r\nline noise ! 12\r\n";
	static const char g2[] = "\r\nmore noise\x7f\r\n";
	size_t n = sizeof g1 - 1 + n1 + sizeof g2 - 1 + n2;
	uint8_t *s = malloc(n);
	assert_non_null(s);
	size_t o = 0;
	memcpy(s + o, g1, sizeof g1 - 1);
	o += sizeof g1 - 1;
	memcpy(s + o, t1, n1);
	o += n1;
	memcpy(s + o, g2, sizeof g2 - 1);
	o += sizeof g2 - 1;
	memcpy(s + o, t2, n2);
	*outn = n;
	*tel_n = n1;
	free(t1);
	free(t2);
	free(in);
	return s;
}

static void test_garbage_between_telegrams(void **state)
{
	(void)state;
	size_t n, tn;
	uint8_t *s = stream_of_two(&n, &tn);
	struct evlog l;
	feed_whole(s, n, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[0].n, tn - 2);
	assert_int_equal(l.skipped, n - 2 * tn);
	free(s);
}

static void test_split_every_point(void **state)
{
	(void)state;
	size_t n, tn;
	uint8_t *s = stream_of_two(&n, &tn);
	struct evlog *whole = malloc(sizeof *whole), *part = malloc(sizeof *part);
	assert_non_null(whole);
	assert_non_null(part);
	feed_whole(s, n, false, whole);
	for (size_t i = 0; i <= n; i++) {
		feed_cuts(s, n, false, &i, 1, part);
		assert_same_log(whole, part);
	}
	free(s);

	/* every pair of cut points over a short telegram */
	static const char *const lines[] = { "1-3:0.2.8(50)", "0-0:1.0.0(101209113020W)",
					     "1-0:1.8.1(000001.000*kWh)", NULL };
	s = lines_telegram("XMX5TEST", lines, 1, &n);
	feed_whole(s, n, false, whole);
	assert_int_equal(whole->e[0].rc, SM_FRAME);
	for (size_t i = 0; i <= n; i++)
		for (size_t j = i; j <= n; j++) {
			size_t cuts[2] = { i, j };
			feed_cuts(s, n, false, cuts, 2, part);
			assert_same_log(whole, part);
		}
	free(s);
	free(whole);
	free(part);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	size_t n, tn;
	uint8_t *s = stream_of_two(&n, &tn);
	struct evlog *whole = malloc(sizeof *whole), *part = malloc(sizeof *part);
	size_t *cuts = malloc(n * sizeof *cuts);
	assert_non_null(whole);
	assert_non_null(part);
	assert_non_null(cuts);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	feed_whole(s, n, false, whole);
	feed_cuts(s, n, false, cuts, n - 1, part);
	assert_same_log(whole, part);
	free(cuts);
	free(s);
	free(whole);
	free(part);
}

static void test_new_telegram_before_bang(void **state)
{
	(void)state;
	size_t n, tn;
	uint8_t *s = stream_of_two(&n, &tn);
	/* cut the first telegram after a line: the second starts at a line start */
	const uint8_t *t1 = memchr(s, '/', n);
	assert_non_null(t1);
	size_t at = (size_t)(t1 - s) + tn / 2;
	while (s[at - 1] != '\n')
		at--;
	const uint8_t *t2 = s + n - tn;
	size_t m = at + tn;
	uint8_t *x = malloc(m);
	assert_non_null(x);
	memcpy(x, s, at);
	memcpy(x + at, t2, tn);
	struct evlog l;
	feed_whole(x, m, false, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].rc, SM_E_TRUNCATED);
	assert_non_null(strstr(l.last_diag, "truncated"));
	assert_int_equal(l.e[1].rc, SM_FRAME);
	assert_int_equal(l.e[1].check, SM_CHECK_OK);
	/* a '/' inside a line is data, not a new telegram */
	static const char *const lines[] = { "0-0:96.13.0(test-/-test)", "1-0:1.8.1(000001.000*kWh)",
					     NULL };
	free(x);
	x = lines_telegram("ISk5\\2MT382-1003", lines, 1, &m);
	feed_whole(x, m, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	free(x);
	free(s);
}

static void test_oversized_then_good(void **state)
{
	(void)state;
	static char big[SM_DSMR_MAX + 1024];
	size_t m = (size_t)snprintf(big, sizeof big, "/BIG5\r\n\r\n");
	while (m < SM_DSMR_MAX + 100)
		m += (size_t)snprintf(big + m, sizeof big - m, "0-0:96.13.0(%s)\r\n",
				      "303132333435363738393A3B3C3D3E3F");
	m += (size_t)snprintf(big + m, sizeof big - m, "!%04X\r\n",
			      (unsigned)sm_crc16_arc(0, big, m + 1));
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 1);
	size_t tn;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &tn);
	size_t n = m + tn;
	uint8_t *s = malloc(n);
	assert_non_null(s);
	memcpy(s, big, m);
	memcpy(s + m, tel, tn);
	struct evlog *whole = malloc(sizeof *whole), *part = malloc(sizeof *part);
	assert_non_null(whole);
	assert_non_null(part);
	feed_whole(s, n, false, whole);
	assert_int_equal(whole->n, 2);
	assert_int_equal(whole->e[0].rc, SM_E_TOO_LONG);
	assert_int_equal(whole->e[1].rc, SM_FRAME);
	assert_int_equal(whole->e[1].check, SM_CHECK_OK);
	for (size_t i = 0; i <= n; i += 7) {
		feed_cuts(s, n, false, &i, 1, part);
		assert_same_log(whole, part);
	}
	free(s);
	free(whole);
	free(part);
	free(tel);
	free(in);
}

/*
 * Regression (fuzz finding): a telegram that overflows inside a long line
 * used to be dropped up to the end of the line when fed whole, but only up
 * to the end of the piece when the input was cut inside that line, so a '/'
 * later in the line started a telegram in one case and not in the other.
 * Now the first byte that does not fit ends it, wherever the input is cut,
 * and an endless line without a line end costs no more than itself.
 */
static void test_overflow_inside_line(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set();
	meter_set(in, 50, 1);
	size_t tn;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &tn);
	struct evlog *whole = malloc(sizeof *whole), *part = malloc(sizeof *part);
	assert_non_null(whole);
	assert_non_null(part);
	for (int variant = 0; variant < 2; variant++) {
		/* 0: a long line with a '/' beyond the limit, then a line end;
		 * 1: "/" and an endless line of 'A' without any line end */
		size_t line = SM_DSMR_MAX + 2000, n = 9 + line + 2 + tn;
		uint8_t *s = malloc(n);
		assert_non_null(s);
		size_t o = 0;
		memcpy(s, variant == 0 ? "/BIG5\r\n\r\n" : "/AAAAAAAA", 9);
		o = 9;
		memset(s + o, 'A', line);
		if (variant == 0)
			s[o + SM_DSMR_MAX - 500] = '/';
		o += line;
		memcpy(s + o, variant == 0 ? "\r\n" : "AA", 2);
		o += 2;
		memcpy(s + o, tel, tn);
		feed_whole(s, n, false, whole);
		assert_true(whole->n >= 2);
		assert_int_equal(whole->e[0].rc, SM_E_TOO_LONG);
		assert_int_equal(whole->e[whole->n - 1].rc, SM_FRAME);
		assert_int_equal(whole->e[whole->n - 1].check, SM_CHECK_OK);
		for (size_t i = SM_DSMR_MAX - 600; i <= SM_DSMR_MAX + 700 && i <= n; i++) {
			feed_cuts(s, n, false, &i, 1, part);
			assert_same_log(whole, part);
		}
		free(s);
	}
	free(whole);
	free(part);
	free(tel);
	free(in);
}

static void test_max_size_accepted(void **state)
{
	(void)state;
	static char t[SM_DSMR_MAX + 64];
	size_t m = (size_t)snprintf(t, sizeof t, "/MAX5\r\n\r\n");
	/* fill with lines so that '/' .. CRC is exactly SM_DSMR_MAX bytes */
	while (m + 31 + 20 <= SM_DSMR_MAX) /* 31-byte lines, leaving 20..50 bytes */
		m += (size_t)snprintf(t + m, sizeof t - m, "0-0:96.13.0(%s)\r\n", "3031323334353637");
	size_t pad = SM_DSMR_MAX - 5 - m - strlen("0-0:96.13.0()\r\n");
	m += (size_t)snprintf(t + m, sizeof t - m, "0-0:96.13.0(");
	memset(t + m, '3', pad);
	m += pad;
	m += (size_t)snprintf(t + m, sizeof t - m, ")\r\n!");
	assert_int_equal(m, SM_DSMR_MAX - 4);
	m += (size_t)snprintf(t + m, sizeof t - m, "%04X\r\n", (unsigned)sm_crc16_arc(0, t, m));
	struct evlog l;
	uint8_t *x = exact(t, m);
	feed_whole(x, m, false, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].rc, SM_FRAME);
	assert_int_equal(l.e[0].n, SM_DSMR_MAX);
	free(x);
}

static void test_ignore_checksum(void **state)
{
	(void)state;
	static const char *const lines[] = { "1-3:0.2.8(50)", "1-0:1.8.1(000001.000*kWh)", NULL };
	size_t n;
	uint8_t *tel = lines_telegram("XMX5TEST", lines, 3, &n);
	struct sm_reading_set *out = new_set();
	enum sm_check check = SM_CHECK_OK;
	assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, NULL), SM_E_CRC);
	assert_int_equal(frame_decode(tel, n, true, out, NULL, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_IGNORED);
	check_value(out, "1-0:1.8.1", "energy_import_t1", 1000, 0, SM_UNIT_WH, 0);
	free(tel);
	/* a correct CRC is still reported as checked */
	tel = lines_telegram("XMX5TEST", lines, 1, &n);
	assert_int_equal(frame_decode(tel, n, true, out, NULL, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_OK);
	free(tel);
	free(out);
}

static void test_three_digit_and_lower_case_crc(void **state)
{
	(void)state;
	static char hdr[32];
	const char *lines[] = { "1-3:0.2.8(50)", "1-0:1.8.1(000001.000*kWh)", NULL };
	struct sm_reading_set *out = new_set();
	bool found = false;
	for (int i = 0; i < 4096 && !found; i++) {
		snprintf(hdr, sizeof hdr, "NWA-WARMTELINK%d", i);
		size_t n;
		uint8_t *tel = lines_telegram(hdr, lines, 1, &n);
		if (tel[n - 6] == '0') {
			/* send "!B9F" instead of "!0B9F" */
			uint8_t *three = malloc(n - 1);
			assert_non_null(three);
			memcpy(three, tel, n - 6);
			memcpy(three + n - 6, tel + n - 5, 5);
			enum sm_check check = SM_CHECK_IGNORED;
			assert_int_equal(frame_decode(three, n - 1, false, out, NULL, &check, NULL),
					 SM_READINGS);
			assert_int_equal(check, SM_CHECK_OK);
			free(three);
			found = true;
		}
		free(tel);
	}
	assert_true(found);
	size_t n;
	uint8_t *tel = lines_telegram("XMX5TEST", lines, 2, &n);
	enum sm_check check = SM_CHECK_IGNORED;
	assert_int_equal(frame_decode(tel, n, false, out, NULL, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_OK);
	free(tel);
	free(out);
}

/* ------------------------------------------------------------------ */
/* decoder: object shapes                                              */
/* ------------------------------------------------------------------ */

/* 2020-05-12 13:45:58 CEST = 11:45:58 UTC */
#define TS_200512134558S 1589283958000LL

static void test_invalid_timestamps(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"1-3:0.2.8(42)",
		"0-0:1.0.0(250000000000W)",
		"0-1:24.1.0(003)",
		"0-1:24.2.1(200512134558S)(00000.006*m3)",
		"0-2:24.1.0(007)",
		"0-2:24.2.1(632525252525S)(00000.000)",
		"0-3:24.1.0(003)",
		"0-3:24.2.1(700101010000W)(00000000)",
		"1-0:1.8.0(000025.653*kWh)",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("Lux5\\253694471_M", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 0;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(out->meter_time_ms, 0); /* month 00: no meter time */
	assert_int_equal(bad, 1);                /* only the 0-0:1.0.0 line */
	check_value(out, "0-1:24.2.1", "gas_volume", 6, -3, SM_UNIT_M3, TS_200512134558S);
	check_value(out, "0-2:24.2.1", "water_volume", 0, 0, SM_UNIT_NONE, 0);
	check_value(out, "0-3:24.2.1", "gas_volume_ch2", 0, 0, SM_UNIT_NONE, 0);
	check_value(out, "1-0:1.8.0", "energy_import", 25653, 0, SM_UNIT_WH, 0);
	free(tel);
	free(out);
}

static void test_failure_log(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"1-3:0.2.8(50)",
		"1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)(101208151004W)(0000000301*s)",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("ISk5\\2MT382-1000", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 9;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 0);
	check_value(out, "1-0:99.97.0", NULL, 2, 0, SM_UNIT_NONE, 0);
	/* the latest event (ends 2010-12-08 15:24:15 CET = 14:24:15 UTC) */
	check_value(out, "0-0:96.7.19", NULL, 240, 0, SM_UNIT_S, 1291818255000LL);
	free(tel);

	/* the latest event listed last */
	static const char *const later[] = {
		"1-0:99.97.0(2)(0-0:96.7.19)(240523144934S)(0005564711*s)(241109083138W)(0000000124*s)",
		NULL,
	};
	tel = lines_telegram("GRE5\\\\12341234_A", later, 1, &n);
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	check_value(out, "0-0:96.7.19", NULL, 124, 0, SM_UNIT_S, 1731137498000LL);
	free(tel);

	static const char *const empty[] = { "1-3:0.2.8(50)", "1-0:99.97.0(0)(0-0:96.7.19)", NULL };
	tel = lines_telegram("ISk5\\2MT382-1000", empty, 1, &n);
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 0);
	check_value(out, "1-0:99.97.0", NULL, 0, 0, SM_UNIT_NONE, 0);
	assert_null(find_obis(out, "0-0:96.7.19"));
	free(tel);
	free(out);
}

static void test_belgian_peak_buffer(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"0-0:96.1.4(50217)",
		"1-0:1.6.0(200509134558S)(02.589*kW)",
		"0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)"
		"(200401000000S)(200305122139S)(05.980*kW)(200301000000S)(200210035421W)(04.318*kW)",
		"0-1:24.1.0(003)",
		"0-1:24.2.3(200512134558S)(00112.384*m3)",
		"0-2:24.1.0(007)",
		"0-2:24.2.1(200512134558S)(00872.234*m3)",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("FLU5\\253769484_A", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 9;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 0);
	/* 2020-05-09 13:45:58 CEST */
	check_value(out, "1-0:1.6.0", "power_import_max", 2589, 0, SM_UNIT_W, 1589024758000LL);
	check_value(out, "1-0:1.6.0*1", "power_import_max_f1", 3695, 0, SM_UNIT_W, 1587662738000LL);
	check_value(out, "1-0:1.6.0*2", "power_import_max_f2", 5980, 0, SM_UNIT_W, 1583403699000LL);
	check_value(out, "1-0:1.6.0*3", "power_import_max_f3", 4318, 0, SM_UNIT_W, 1581303261000LL);
	check_value(out, "0-1:24.2.3", "gas_volume", 112384, -3, SM_UNIT_M3, TS_200512134558S);
	check_value(out, "0-2:24.2.1", "water_volume", 872234, -3, SM_UNIT_M3, TS_200512134558S);
	free(tel);

	/* a count that does not match the groups: skipped and counted */
	static const char *const wrong[] = {
		"0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)",
		"1-0:1.8.1(000000.034*kWh)", NULL,
	};
	tel = lines_telegram("FLU5\\253769484_A", wrong, 1, &n);
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 1);
	assert_int_equal(out->n, 1);
	free(tel);
	free(out);
}

static void test_hungarian_month_block(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"0-0:1.0.0(230724150730S)",
		"1-0:13.7.0(0.956)",
		"1-0:14.7.0(50.00*Hz)",
		"1-0:5.8.0(000000.668*kvarh)",
		"0-0:98.1.0(230701000000S)(000040.777*kWh)(000008.950*kWh)(000031.827*kWh)"
		"(000142.250*kWh)(000111.164*kWh)(000031.086*kWh)(000000.030*kvarh)(000073.988*kvarh)"
		"(000000.205*kvarh)(000000.048*kvarh)(000039.199*kvarh)(000035.020*kvarh)"
		"(000183.027*kWh)(03.564*kW)(02.156*kW)(03.564*kW)(04.104*kW)(04.104*kW)(03.400*kW)",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("SAG5SAG-METER", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 9;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 0);
	assert_int_equal(out->n, 3 + 19);
	check_value(out, "1-0:13.7.0", "power_factor", 956, -3, SM_UNIT_NONE, 0);
	check_value(out, "1-0:14.7.0", "frequency", 5000, -2, SM_UNIT_HZ, 0);
	check_value(out, "1-0:5.8.0", "reactive_energy_q1", 668, 0, SM_UNIT_VARH, 0);
	const int64_t t = 1688162400000LL; /* 2023-07-01 00:00 CEST */
	check_value(out, "1-0:1.8.0*1", "energy_import_f1", 40777, 0, SM_UNIT_WH, t);
	check_value(out, "1-0:1.8.1*1", NULL, 8950, 0, SM_UNIT_WH, t);
	check_value(out, "1-0:1.8.2*1", NULL, 31827, 0, SM_UNIT_WH, t);
	check_value(out, "1-0:2.8.0*1", NULL, 142250, 0, SM_UNIT_WH, t);
	check_value(out, "1-0:3.8.0*1", NULL, 30, 0, SM_UNIT_VARH, t);
	check_value(out, "1-0:8.8.0*1", NULL, 35020, 0, SM_UNIT_VARH, t);
	check_value(out, "1-0:15.8.0*1", NULL, 183027, 0, SM_UNIT_WH, t);
	check_value(out, "1-0:1.6.0*1", NULL, 3564, 0, SM_UNIT_W, t);
	check_value(out, "1-0:2.6.2*1", NULL, 3400, 0, SM_UNIT_W, t);
	free(tel);

	/* 18 values: skipped and counted */
	static const char *const short_block[] = {
		"1-0:1.8.0(000173.640*kWh)",
		"0-0:98.1.0(230701000000S)(1*kWh)(2*kWh)(3*kWh)(4*kWh)(5*kWh)(6*kWh)(7*kvarh)(8*kvarh)"
		"(9*kvarh)(10*kvarh)(11*kvarh)(12*kvarh)(13*kWh)(14*kW)(15*kW)(16*kW)(17*kW)(18*kW)",
		NULL,
	};
	tel = lines_telegram("SAG5SAG-METER", short_block, 1, &n);
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 1);
	assert_int_equal(out->n, 1);
	free(tel);
	free(out);
}

static void test_dsmr22_gas_next_line(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"0-0:96.1.1(00000000000000)",
		"1-0:1.8.1(00001.001*kWh)",
		"0-0:96.13.0()",
		"0-1:24.1.0(3)",
		"0-1:96.1.0(000000000000)",
		"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
		"(00001.001)",
		"0-1:24.4.0(1)",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("ISk5\\2MT382-1004", lines, 0, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 9;
	enum sm_check check = SM_CHECK_OK;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, &check, NULL), SM_READINGS);
	assert_int_equal(check, SM_CHECK_ABSENT);
	assert_int_equal(bad, 0);
	check_value(out, "0-1:24.2.1", "gas_volume", 1001, -3, SM_UNIT_M3, 0);
	check_text(out, "0-0:96.1.1", "00000000000000");
	check_text(out, "0-1:96.1.0", "000000000000");
	check_text(out, "0-0:96.13.0", "");
	check_value(out, "0-1:24.4.0", NULL, 1, 0, SM_UNIT_NONE, 0);
	assert_null(find_obis(out, "0-1:24.3.0"));
	free(tel);

	/* header without its value line: counted, the rest kept */
	static const char *const missing[] = {
		"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)", "0-1:24.4.0(1)", NULL,
	};
	tel = lines_telegram("ISk5\\2MT382-1004", missing, 0, &n);
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 1);
	assert_int_equal(out->n, 1);
	free(tel);
	free(out);
}

static void test_text_units_and_odd_lines(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"1-0:0.0.0*255(0272031312565)",
		"1-0:1.8.0*255(00052185.7825309*kWh)",
		"1-0:21.7.0*255(000747.85*W)",
		"0-0:96.1.255*255(1ESY1313002565)",
		"0-0:96.13.0(303132333435363738393A3B3C3D3E3F)",
		"0-0:42.0.0(53414731303330373930303032353734)",
		"1-0:1.8.1(123456.789*kwh)",
		"1-0:3.8.0(00001234.432*kVArh)",
		"1-0:32.7.0(220.1*v)",
		"1-1:31.4.0(100*A)(-063*A)",
		"0-0:96.14.0(0002)",
		"1-0:1.7.0(000000286*W)",
		"this line is no object",
		"",
		NULL,
	};
	size_t n;
	uint8_t *tel = lines_telegram("ESY5Q3DB1024 V3.04", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 9;
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, NULL), SM_READINGS);
	assert_int_equal(bad, 1);
	check_text(out, "1-0:0.0.0", "0272031312565");
	check_value(out, "1-0:1.8.0", "energy_import", 521857825309LL, -4, SM_UNIT_WH, 0);
	check_value(out, "1-0:21.7.0", "power_import_l1", 74785, -2, SM_UNIT_W, 0);
	check_text(out, "0-0:96.1.255", "1ESY1313002565");
	check_text(out, "0-0:96.13.0", "303132333435363738393A3B3C3D3E3F");
	check_text(out, "0-0:42.0.0", "53414731303330373930303032353734");
	check_value(out, "1-0:1.8.1", NULL, 123456789, 0, SM_UNIT_WH, 0);
	check_value(out, "1-0:3.8.0", NULL, 1234432, 0, SM_UNIT_VARH, 0);
	check_value(out, "1-0:32.7.0", NULL, 2201, -1, SM_UNIT_V, 0);
	check_value(out, "1-1:31.4.0", NULL, 100, 0, SM_UNIT_A, 0);
	check_value(out, "0-0:96.14.0", "tariff", 2, 0, SM_UNIT_NONE, 0);
	check_value(out, "1-0:1.7.0", "power_import", 286, 0, SM_UNIT_W, 0);
	free(tel);
	free(out);
}

static void test_empty_telegram(void **state)
{
	(void)state;
	static const char *const lines[] = { "garbage", NULL };
	size_t n;
	uint8_t *tel = lines_telegram("XMX5EMPTY", lines, 1, &n);
	struct sm_reading_set *out = new_set();
	unsigned bad = 0;
	char diag[160];
	assert_int_equal(frame_decode(tel, n, false, out, &bad, NULL, diag), SM_E_EMPTY);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(diag, "no readings"));
	free(tel);
	free(out);
}

static void test_set_full(void **state)
{
	(void)state;
	/* more readings than a set holds do not fit in an 8 KiB telegram:
	 * hand the decoder the frame directly */
	static char t[64 * 1024];
	size_t m = (size_t)snprintf(t, sizeof t, "/FULL5\r\n\r\n");
	for (int i = 0; i < SM_MAX_READINGS + 10; i++)
		m += (size_t)snprintf(t + m, sizeof t - m, "1-0:1.8.%d(%d*kWh)\r\n", i % 250, i);
	m += (size_t)snprintf(t + m, sizeof t - m, "!");
	m += (size_t)snprintf(t + m, sizeof t - m, "%04X\r\n", (unsigned)sm_crc16_arc(0, t, m));
	uint8_t *tel = exact(t, m);
	struct sm_reading_set *out = new_set();
	unsigned bad = 0;
	struct sm_frame fr = { tel, m, SM_CHECK_OK, false };
	struct sm_diag d = { { 0 } };
	assert_int_equal(sm_dsmr_decode(&fr, out, &bad, &d), SM_READINGS);
	assert_int_equal(out->n, SM_MAX_READINGS);
	assert_int_equal(bad, 10);
	assert_non_null(strstr(d.msg, "too many readings"));
	free(tel);
	free(out);
}

/* ------------------------------------------------------------------ */
/* encoder details, restamp                                            */
/* ------------------------------------------------------------------ */

static void test_encode_limits(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	/* 19 digits with a fractional zero: written with 18 (fuzz finding) */
	num(in, 1, 0, 2, 7, 0, 3031323334353637380LL, 2, SM_UNIT_W, 0);
	num(in, 1, 0, 1, 7, 0, -5, -1, SM_UNIT_W, 0);
	size_t n;
	uint8_t *tel = encode(in, "FUZ5", true, &n);
	assert_non_null(strstr((const char *)tel, "1-0:2.7.0(303132333435363738*kW)"));
	assert_non_null(strstr((const char *)tel, "1-0:1.7.0(-0.0005*kW)"));
	assert_int_equal(frame_decode(tel, n, false, out, NULL, NULL, NULL), SM_READINGS);
	assert_int_equal(out->n, 2);
	check_value(out, "1-0:2.7.0", NULL, 303132333435363738LL, 3, SM_UNIT_W, 0);
	check_value(out, "1-0:1.7.0", NULL, -5, -1, SM_UNIT_W, 0);
	free(tel);

	/* a value that needs more than 18 digits in kW cannot be written (fuzz finding) */
	sm_set_clear(in);
	num(in, 1, 0, 2, 7, 0, 3031323334356363380LL, 5, SM_UNIT_W, 0);
	static uint8_t big[256];
	assert_int_equal(sm_dsmr_encode(in, "FUZ5", true, big, sizeof big, &n), SM_E_RANGE);
	sm_set_clear(in);
	num(in, 1, 0, 2, 7, 0, 999999999999999999LL, 0, SM_UNIT_WH, 0);
	num(in, 1, 0, 2, 8, 0, 5, -30, SM_UNIT_WH, 0);
	assert_int_equal(sm_dsmr_encode(in, "FUZ5", true, big, sizeof big, &n), SM_OK);
	assert_non_null(strstr((const char *)big, "(999999999999999.999*kWh)"));
	assert_non_null(strstr((const char *)big, "(0.000000000000000000000000000000005*kWh)"));
	assert_int_equal(frame_decode(big, n, false, out, NULL, NULL, NULL), SM_READINGS);
	check_value(out, "1-0:2.7.0", NULL, 999999999999999999LL, 0, SM_UNIT_WH, 0);
	check_value(out, "1-0:2.8.0", NULL, 5, -30, SM_UNIT_WH, 0);

	/* texts the wire cannot carry; a buffer too small */
	static uint8_t buf[64];
	sm_set_clear(in);
	txt(in, 0, 0, 96, 13, 0, "a)b");
	assert_int_equal(sm_dsmr_encode(in, "X", true, buf, sizeof buf, &n), SM_E_SYNTAX);
	assert_int_equal(sm_dsmr_encode(in, "X\r\n", true, buf, sizeof buf, &n), SM_E_SYNTAX);
	meter_set(in, 50, 1);
	assert_int_equal(sm_dsmr_encode(in, "X", true, buf, sizeof buf, &n), SM_E_FULL);

	/* a telegram longer than a framer takes is not written, however large
	 * the buffer (fuzz finding: a decoded set encoded again grew beyond
	 * SM_DSMR_MAX) */
	sm_set_clear(in);
	for (int i = 0; i < 400; i++)
		num(in, 1, 0, 1 + i % 90, 8, i / 90, 999999999999999999LL, -3, SM_UNIT_WH, 0);
	uint8_t *huge = malloc(4 * SM_DSMR_MAX);
	assert_non_null(huge);
	assert_int_equal(sm_dsmr_encode(in, "X", true, huge, 4 * SM_DSMR_MAX, &n), SM_E_FULL);
	in->n = 100; /* fewer lines fit, and frame */
	assert_int_equal(sm_dsmr_encode(in, "X", true, huge, 4 * SM_DSMR_MAX, &n), SM_OK);
	assert_int_equal(frame_decode(huge, n, false, out, NULL, NULL, NULL), SM_READINGS);
	free(huge);
	free(in);
	free(out);
}

static void test_restamp(void **state)
{
	(void)state;
	struct sm_reading_set *in = new_set(), *out = new_set();
	meter_set(in, 50, 1);
	size_t n;
	uint8_t *tel = encode(in, "ISK5\\2M550T-1012", true, &n);
	uint8_t *buf = malloc(n + 16);
	assert_non_null(buf);
	memcpy(buf, tel, n);
	size_t nn = 0;
	/* 2024-07-01 12:00:00 UTC, summer time */
	const int64_t t = 1719835200000LL;
	assert_int_equal(sm_dsmr_restamp(buf, n, n + 16, &nn, t, 120, 'S'), SM_OK);
	assert_int_equal(nn, n);
	assert_non_null(strstr((const char *)buf, "0-0:1.0.0(240701140000S)"));
	assert_int_equal(frame_decode(buf, nn, false, out, NULL, NULL, NULL), SM_READINGS);
	assert_int_equal(out->meter_time_ms, t);

	/* no CRC: none added; a 12-digit stamp grows by the letter */
	static const char *const lines[] = { "0-0:1.0.0(161107190000)", "1-0:1.8.1(00001.001*kWh)",
					     NULL };
	free(tel);
	tel = lines_telegram("ISk5\\2MT382-1004", lines, 0, &n);
	free(buf);
	buf = malloc(n + 1);
	assert_non_null(buf);
	memcpy(buf, tel, n);
	assert_int_equal(sm_dsmr_restamp(buf, n, n + 1, &nn, t, 60, 'W'), SM_OK);
	assert_int_equal(nn, n + 1);
	assert_memory_equal(buf + nn - 3, "!\r\n", 3);
	assert_int_equal(sm_dsmr_restamp(buf, nn, nn, &nn, t, 60, 'W'), SM_OK);
	/* no room for a longer stamp */
	memcpy(buf, tel, n);
	assert_int_equal(sm_dsmr_restamp(buf, n, n, &nn, t, 60, 'W'), SM_E_FULL);
	/* not a telegram */
	memcpy(buf, "hello\r\n", 7);
	assert_int_equal(sm_dsmr_restamp(buf, 7, n, &nn, t, 60, 'W'), SM_E_SYNTAX);
	free(buf);
	free(tel);
	free(in);
	free(out);
}

/* DSMR 2.2 meters that never send the '!' line: a telegram that ends at a
 * complete line and then goes quiet is decoded (no CRC to miss); the same
 * for a DSMR 5 telegram, or one cut inside a line or a gas continuation,
 * is rejected as truncated. */
static void test_unterminated(void **state)
{
	(void)state;
	const struct sm_proto *p = &sm_proto_dsmr;
	struct sm_meter_cfg cfg;
	struct sm_diag diag;
	struct sm_feed_info info;
	size_t used = 0;
	memset(&cfg, 0, sizeof cfg);
	void *st = calloc(1, p->state_size);
	struct sm_reading_set *out = new_set();
	assert_non_null(st);
	assert_int_equal(p->init(st, &cfg, &diag), SM_OK);

	static const char t22[] = "/ISk5\\2MT382-1003\r\n\r\n1-0:1.8.1(39837.604*kWh)\r\n0-1:24.1.0(3)\r\n"
				  "0-1:24.3.0(250423090000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(13032.850)\r\n";
	uint8_t *b = exact(t22, sizeof t22 - 1);
	memset(&info, 0, sizeof info);
	assert_int_equal(p->feed(st, b, sizeof t22 - 1, &used, out, &info), SM_NEED_MORE);
	assert_int_equal(p->idle(st, out, &info), SM_READINGS);
	assert_int_equal(info.check, SM_CHECK_ABSENT);
	const struct sm_reading *r = sm_set_find(out, "energy_import_t1");
	assert_non_null(r);
	assert_int_equal(r->raw, 39837604);
	assert_non_null(sm_set_find(out, "gas_volume"));
	free(b);

	/* cut before the gas value of its continuation line: truncated */
	static const char cut[] = "/ISk5\\2MT382-1003\r\n\r\n1-0:1.8.1(39837.604*kWh)\r\n"
				  "0-1:24.3.0(250423090000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n";
	b = exact(cut, sizeof cut - 1);
	assert_int_equal(p->feed(st, b, sizeof cut - 1, &used, out, &info), SM_NEED_MORE);
	assert_int_equal(p->idle(st, out, &info), SM_E_TRUNCATED);
	free(b);

	/* a DSMR 5 telegram without '!' is never accepted, even at a line end */
	static const char t50[] = "/ISK5\\2M550T-1012\r\n\r\n1-3:0.2.8(50)\r\n1-0:1.8.1(002130.115*kWh)\r\n";
	b = exact(t50, sizeof t50 - 1);
	assert_int_equal(p->feed(st, b, sizeof t50 - 1, &used, out, &info), SM_NEED_MORE);
	assert_int_equal(p->idle(st, out, &info), SM_E_TRUNCATED);
	assert_non_null(strstr(info.diag.msg, "truncated"));
	free(b);

	/* cut inside a line: dropped */
	b = exact(t22, 40);
	assert_int_equal(p->feed(st, b, 40, &used, out, &info), SM_NEED_MORE);
	assert_true(p->idle(st, out, &info) < 0);
	free(b);
	if (p->fini)
		p->fini(st);
	free(st);
	free(out);
}

/* ------------------------------------------------------------------ */
/* the protocol entry                                                  */
/* ------------------------------------------------------------------ */

static void test_proto_entry(void **state)
{
	(void)state;
	const struct sm_proto *p = &sm_proto_dsmr;
	assert_string_equal(p->name, "dsmr");
	assert_int_equal(p->line.baud, 115200);
	assert_int_equal(p->line.databits, 8);
	assert_int_equal(p->line.parity, SM_PARITY_NONE);
	assert_int_equal(p->line.stopbits, 1);
	assert_int_equal(p->push, 1);
	assert_non_null(strstr(p->description, "9600 7E1"));

	void *st = calloc(1, p->state_size);
	assert_non_null(st);
	struct sm_meter_cfg cfg;
	memset(&cfg, 0, sizeof cfg);
	struct sm_diag diag;
	assert_int_equal(p->init(st, &cfg, &diag), SM_OK);

	size_t n, tn;
	uint8_t *s = stream_of_two(&n, &tn);
	struct sm_reading_set *out = new_set();
	struct sm_feed_info info;
	size_t off = 0, sets = 0;
	while (off < n) {
		size_t chunk = n - off < 100 ? n - off : 100, used = 0;
		memset(&info, 0, sizeof info);
		enum sm_err rc = p->feed(st, s + off, chunk, &used, out, &info);
		off += used;
		if (rc == SM_READINGS) {
			sets++;
			assert_int_equal(info.check, SM_CHECK_OK);
			assert_int_equal(info.bad_lines, 0);
			assert_non_null(sm_set_find(out, "gas_volume"));
		} else {
			assert_int_equal(rc, SM_NEED_MORE);
			assert_int_equal(used, chunk);
		}
	}
	assert_int_equal(sets, 2);
	assert_int_equal(p->idle(st, out, &info), SM_NEED_MORE);

	/* a telegram ending at "!" is completed by idle; a CRC error carries diag */
	static const char *const v22[] = { "1-0:1.8.1(00001.001*kWh)", NULL };
	free(s);
	s = lines_telegram("ISk5\\2MT382-1004", v22, 0, &n);
	size_t used = 0;
	assert_int_equal(p->feed(st, s, n - 2, &used, out, &info), SM_NEED_MORE);
	assert_int_equal(p->idle(st, out, &info), SM_READINGS);
	assert_int_equal(info.check, SM_CHECK_ABSENT);
	free(s);
	static const char *const v5[] = { "1-3:0.2.8(50)", "1-0:1.8.1(00001.001*kWh)", NULL };
	s = lines_telegram("XMX5TEST", v5, 3, &n);
	assert_int_equal(p->feed(st, s, n, &used, out, &info), SM_E_CRC);
	assert_int_equal(used, n);
	assert_non_null(strstr(info.diag.msg, "CRC mismatch"));
	free(s);
	/* a decode error of one telegram is returned as its code */
	s = lines_telegram("XMX5TEST", v5, 0, &n);
	assert_int_equal(p->feed(st, s, n, &used, out, &info), SM_E_NO_CRC);
	assert_non_null(strstr(info.diag.msg, "no CRC"));
	free(s);
	/* IgnoreChecksum from the meter's config */
	p->reset(st);
	cfg.ignore_checksum = true;
	assert_int_equal(p->init(st, &cfg, &diag), SM_OK);
	s = lines_telegram("XMX5TEST", v5, 3, &n);
	assert_int_equal(p->feed(st, s, n, &used, out, &info), SM_READINGS);
	assert_int_equal(info.check, SM_CHECK_IGNORED);
	/* reset forgets a partial telegram */
	assert_int_equal(p->feed(st, s, n / 2, &used, out, &info), SM_NEED_MORE);
	p->reset(st);
	assert_int_equal(p->idle(st, out, &info), SM_NEED_MORE);
	free(s);
	if (p->fini)
		p->fini(st);
	free(st);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v5_roundtrip),
		cmocka_unit_test(test_v22_no_crc),
		cmocka_unit_test(test_version4_without_crc_rejected),
		cmocka_unit_test(test_mbus_channels),
		cmocka_unit_test(test_every_byte_corruption_rejected),
		cmocka_unit_test(test_crc_digit_corruption_rejected),
		cmocka_unit_test(test_crc_diag_text),
		cmocka_unit_test(test_truncation_every_byte),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_garbage_between_telegrams),
		cmocka_unit_test(test_split_every_point),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_new_telegram_before_bang),
		cmocka_unit_test(test_oversized_then_good),
		cmocka_unit_test(test_overflow_inside_line),
		cmocka_unit_test(test_max_size_accepted),
		cmocka_unit_test(test_ignore_checksum),
		cmocka_unit_test(test_three_digit_and_lower_case_crc),
		cmocka_unit_test(test_invalid_timestamps),
		cmocka_unit_test(test_failure_log),
		cmocka_unit_test(test_belgian_peak_buffer),
		cmocka_unit_test(test_hungarian_month_block),
		cmocka_unit_test(test_dsmr22_gas_next_line),
		cmocka_unit_test(test_text_units_and_odd_lines),
		cmocka_unit_test(test_empty_telegram),
		cmocka_unit_test(test_set_full),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_restamp),
		cmocka_unit_test(test_proto_entry),
	};
	return cmocka_run_group_tests_name("dsmr", tests, NULL, NULL);
}
