/*
 * test_sml.c - the SML transport framer, message decoder and encoder.
 *
 *  - fixtures (SM_SHARED): every file of fixtures/sml decodes to as many
 *    readings as its .expected.json lists valList entries (the capture with
 *    a stray byte is rejected, its repaired twin accepted, the Holley file
 *    accepted through the KERMIT fallback and flagged);
 *  - file CRC failures, message CRC failures (counted, kept), truncation at
 *    every byte, split feeding at every point = whole, junk between files,
 *    escaping of 1B1B1B1B inside the payload, version 2 start, size cap;
 *  - round trips encoder -> framer -> decoder with random values at every
 *    integer width, signed and unsigned, text values, times, units;
 *  - rare encodings: multi-byte TL for integers, choice forms, manufacturer
 *    objects, unknown units.
 * Every input is fed from an exactly-sized heap copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crc.h"
#include "sml.h"

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

struct result {
	unsigned frames, errors, readings_total;
	enum sm_err last_err;
	unsigned kermit;
	unsigned bad_crc;
	size_t n_last;
};

/* Feed buf in pieces of `step` bytes (0: whole), decode every frame. */
static void feed_all(const uint8_t *buf, size_t n, size_t step, struct result *res,
		     struct sm_reading_set *last)
{
	struct sm_sml_framer *f = malloc(sizeof *f);
	assert_non_null(f);
	sm_sml_framer_init(f);
	memset(res, 0, sizeof *res);
	size_t off = 0;
	while (off < n) {
		size_t chunk = step ? step : n;
		if (chunk > n - off)
			chunk = n - off;
		uint8_t *piece = dup_exact(buf + off, chunk);
		size_t pos = 0;
		while (pos < chunk) {
			size_t used = 0;
			struct sm_frame fr;
			struct sm_diag d;
			enum sm_err rc = sm_sml_framer_feed(f, piece + pos, chunk - pos, &used, &fr, &d);
			assert_true(used <= chunk - pos);
			pos += used;
			if (rc == SM_FRAME) {
				unsigned bad = 0, badc = 0;
				enum sm_err drc = sm_sml_decode(&fr, last, &bad, &badc, &d);
				res->frames++;
				res->bad_crc += badc;
				if (f->kermit_last)
					res->kermit++;
				if (drc == SM_READINGS) {
					res->readings_total += (unsigned)last->n;
					res->n_last = last->n;
				} else {
					res->errors++;
					res->last_err = drc;
				}
			} else if (rc < 0) {
				res->errors++;
				res->last_err = rc;
			} else {
				assert_int_equal(rc, SM_NEED_MORE);
				assert_int_equal(pos, chunk);
			}
		}
		free(piece);
		off += chunk;
	}
	struct sm_diag d;
	enum sm_err rc = sm_sml_framer_flush(f, &d);
	if (rc < 0) {
		res->errors++;
		res->last_err = rc;
	}
	free(f);
}

/* ---- fixtures ---------------------------------------------------------- */

static char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	size_t cap = 1 << 16;
	char *b = malloc(cap + 1);
	assert_non_null(b);
	*n = fread(b, 1, cap, fp);
	b[*n] = '\0';
	fclose(fp);
	return b;
}

static size_t unhex(const char *p, size_t n, uint8_t *out, size_t cap)
{
	size_t k = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		int c = p[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(k < cap);
			out[k++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return k;
}

static unsigned count_str(const char *s, const char *needle)
{
	unsigned c = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		c++;
	return c;
}

static void test_fixtures(void **state)
{
	(void)state;
	const char *shared = getenv("SM_SHARED");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/fixtures/sml", shared ? shared : "../shared");
	DIR *d = opendir(dir);
	if (d == NULL) {
		print_message("SKIP: no sml fixtures under SM_SHARED (%s)\n", dir);
		skip();
	}
	struct sm_reading_set *s = new_set();
	struct dirent *e;
	unsigned files = 0;
	while ((e = readdir(d)) != NULL) {
		size_t L = strlen(e->d_name);
		if (L < 5 || strcmp(e->d_name + L - 4, ".hex") != 0)
			continue;
		char path[2048], base[512];
		snprintf(base, sizeof base, "%.*s", (int)(L - 4), e->d_name);
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t hn;
		char *hex = slurp(path, &hn);
		assert_non_null(hex);
		static uint8_t bin[32768];
		size_t bn = unhex(hex, hn, bin, sizeof bin);
		free(hex);
		snprintf(path, sizeof path, "%s/%s.expected.json", dir, base);
		size_t jn;
		char *js = slurp(path, &jn);
		assert_non_null(js);
		char *cut_at = strstr(js, "\"decode_error\""); /* the decoded part only */
		if (cut_at != NULL)
			*cut_at = '\0';
		unsigned want = count_str(js, "\"obis\":");
		free(js);
		uint8_t *in = dup_exact(bin, bn);
		struct result r;
		feed_all(in, bn, 0, &r, s);
		bool stray = strcmp(base, "vzlogger_emh_basic") == 0;
		print_message("%s: %u frames, %u errors, %zu readings (want %u)%s\n", base, r.frames,
			      r.errors, r.n_last, want, r.kermit ? ", KERMIT" : "");
		if (stray) {
			assert_int_equal(r.frames, 0);
			assert_true(r.errors >= 1);
		} else {
			assert_int_equal(r.frames, 1);
			assert_int_equal(r.errors, 0);
			assert_int_equal(r.n_last, want);
		}
		if (strcmp(base, "smllib_holley_issue8_kermit_crc") == 0)
			assert_int_equal(r.kermit, 1);
		else
			assert_int_equal(r.kermit, 0);
		/* split feeding at every point = whole */
		for (size_t cut = 1; cut < bn && !stray; cut++) {
			struct result r2;
			struct sm_sml_framer *f = malloc(sizeof *f);
			sm_sml_framer_init(f);
			uint8_t *a = dup_exact(in, cut), *b = dup_exact(in + cut, bn - cut);
			size_t used;
			struct sm_frame fr;
			struct sm_diag dg;
			enum sm_err rc = sm_sml_framer_feed(f, a, cut, &used, &fr, &dg);
			assert_int_equal(rc, SM_NEED_MORE);
			rc = sm_sml_framer_feed(f, b, bn - cut, &used, &fr, &dg);
			assert_int_equal(rc, SM_FRAME);
			unsigned bad, badc;
			assert_int_equal(sm_sml_decode(&fr, s, &bad, &badc, &dg), SM_READINGS);
			assert_int_equal(s->n, r.n_last);
			(void)r2;
			free(a);
			free(b);
			free(f);
		}
		/* truncation at every byte: never a frame, never a crash */
		for (size_t cut = 0; cut < bn; cut++) {
			struct result r3;
			uint8_t *a = dup_exact(in, cut);
			feed_all(a, cut, 0, &r3, s);
			assert_int_equal(r3.frames, 0);
			free(a);
		}
		free(in);
		files++;
	}
	closedir(d);
	free(s);
	assert_true(files >= 10);
}

/* ---- encoder round trips ----------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct sm_obis obis6(unsigned a, unsigned b, unsigned c, unsigned dd, unsigned e2, unsigned f)
{
	struct sm_obis o;
	memset(&o, 0, sizeof o);
	o.v[0] = (uint8_t)a; o.v[1] = (uint8_t)b; o.v[2] = (uint8_t)c;
	o.v[3] = (uint8_t)dd; o.v[4] = (uint8_t)e2; o.v[5] = (uint8_t)f;
	o.present = 0x3F;
	return o;
}

static size_t encode(const struct sm_reading_set *s, const struct sm_sml_enc_opts *o, uint8_t *out,
		     size_t cap)
{
	size_t n = 0;
	assert_int_equal(sm_sml_encode(s, o, out, cap, &n), SM_OK);
	return n;
}

static void decode_one(const uint8_t *buf, size_t n, struct sm_reading_set *out, unsigned *badc,
		       bool *kermit)
{
	uint8_t *in = dup_exact(buf, n);
	struct sm_sml_framer *f = malloc(sizeof *f);
	sm_sml_framer_init(f);
	size_t used;
	struct sm_frame fr;
	struct sm_diag d;
	assert_int_equal(sm_sml_framer_feed(f, in, n, &used, &fr, &d), SM_FRAME);
	assert_int_equal(used, n);
	unsigned bad = 0, bc = 0;
	assert_int_equal(sm_sml_decode(&fr, out, &bad, &bc, &d), SM_READINGS);
	if (badc)
		*badc = bc;
	else
		assert_int_equal(bad, 0);
	if (kermit)
		*kermit = f->kermit_last;
	free(f);
	free(in);
}

static void test_roundtrip_widths(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set(), *o = new_set();
	static uint8_t buf[SM_SML_MAX];
	for (unsigned w = 1; w <= 8; w++) {
		for (int uns = 0; uns <= 1; uns++) {
			for (unsigned iter = 0; iter < 200; iter++) {
				sm_set_clear(s);
				unsigned k = 1 + (unsigned)(rnd() % 20);
				for (unsigned i = 0; i < k; i++) {
					int64_t v = (int64_t)rnd();
					unsigned bits = 8 * w - (uns ? 1 : 0);
					if (bits < 64) {
						if (uns)
							v = (int64_t)((uint64_t)v & ((1ull << bits) - 1));
						else
							v = v >> (64 - bits);
					} else if (uns) {
						v &= INT64_MAX;
					}
					struct sm_obis ob = obis6(1, 0, 1 + i, 8, (unsigned)(rnd() % 4), 255);
					enum sm_unit u = (rnd() & 1) ? SM_UNIT_WH : SM_UNIT_W;
					int8_t sc = (int8_t)((int)(rnd() % 7) - 3);
					assert_int_equal(sm_set_add_number(s, &ob, v, sc, u, NULL, 0, 0), SM_OK);
				}
				struct sm_sml_enc_opts eo = { .value_width = w, .unsigned_values = uns != 0 };
				size_t n = encode(s, &eo, buf, sizeof buf);
				decode_one(buf, n, o, NULL, NULL);
				assert_int_equal(o->n, s->n);
				for (size_t i = 0; i < s->n; i++) {
					assert_memory_equal(o->r[i].obis.v, s->r[i].obis.v, 6);
					int64_t a = o->r[i].raw, b = s->r[i].raw;
					int8_t sa = o->r[i].scale, sb = s->r[i].scale;
					/* equal as decimals */
					assert_int_equal(sm_decimal_rescale(&a, &sa, 0), SM_OK);
					while (sa > sb) { a *= 10; sa--; }
					while (sb > sa) { b *= 10; sb--; }
					assert_true(a == b);
					assert_int_equal(o->r[i].unit, s->r[i].unit);
				}
			}
		}
	}
	free(s);
	free(o);
}

static void test_roundtrip_text_time_escape(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set(), *o = new_set();
	static uint8_t buf[SM_SML_MAX];
	struct sm_obis id = obis6(129, 129, 199, 130, 3, 255);
	assert_int_equal(sm_set_add_text(s, &id, "EMH", 3, 0), SM_OK);
	/* a value whose bytes hold 1B1B1B1B: escaped on the wire */
	struct sm_obis e1 = obis6(1, 0, 1, 8, 0, 255);
	assert_int_equal(sm_set_add_number(s, &e1, 0x1B1B1B1B1B1BLL, -1, SM_UNIT_WH, NULL, 0,
					   1700000000000LL), SM_OK);
	struct sm_obis p = obis6(1, 0, 16, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &p, -1234, 0, SM_UNIT_W, NULL, 0, 0), SM_OK);
	struct sm_obis odd = obis6(1, 0, 96, 50, 1, 1);
	assert_int_equal(sm_set_add_number(s, &odd, 7, 0, SM_UNIT_OTHER, "dlms200", 7, 0), SM_OK);
	/* a long octet string: multi-byte TL */
	char longtext[300];
	memset(longtext, 'x', sizeof longtext);
	struct sm_obis lt = obis6(1, 0, 0, 0, 9, 255);
	assert_int_equal(sm_set_add_text(s, &lt, longtext, sizeof longtext, 0), SM_OK);
	s->meter_time_ms = 1699999999000LL;
	for (int v2 = 0; v2 <= 1; v2++) {
		for (int kermit = 0; kermit <= 1; kermit++) {
			struct sm_sml_enc_opts eo = { .kermit = kermit != 0, .version2 = v2 != 0 };
			size_t n = encode(s, &eo, buf, sizeof buf);
			bool esc = false;
			for (size_t i = 8; i + 8 <= n; i += 4)
				if (memcmp(buf + i, "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", 8) == 0)
					esc = true;
			assert_true(esc);
			bool k;
			decode_one(buf, n, o, NULL, &k);
			assert_int_equal(k, kermit != 0);
			assert_int_equal(o->n, 5);
			assert_int_equal(o->meter_time_ms, 1699999999000LL);
			assert_true(o->r[0].is_text);
			assert_memory_equal(sm_reading_text(o, &o->r[0]), "EMH", 3);
			assert_int_equal(o->r[1].raw, 0x1B1B1B1B1B1BLL);
			assert_int_equal(o->r[1].scale, -1);
			assert_int_equal(o->r[1].time_ms, 1700000000000LL);
			assert_int_equal(o->r[2].raw, -1234);
			assert_string_equal(o->r[2].name, "power_net");
			assert_int_equal(o->r[3].unit, SM_UNIT_OTHER);
			assert_string_equal(o->r[3].unit_text, "dlms200");
			assert_int_equal(o->r[3].raw, 7);
			assert_int_equal(o->r[4].text_len, 300);
			/* the protocol entry reports the fallback so the reader counts it */
			const struct sm_proto *pr = &sm_proto_sml;
			void *st = calloc(1, pr->state_size);
			struct sm_meter_cfg cfg;
			struct sm_diag pd = { { 0 } };
			struct sm_feed_info info;
			size_t used = 0;
			assert_non_null(st);
			memset(&cfg, 0, sizeof cfg);
			memset(&info, 0, sizeof info);
			assert_int_equal(pr->init(st, &cfg, &pd), SM_OK);
			uint8_t *copy = malloc(n);
			assert_non_null(copy);
			memcpy(copy, buf, n);
			assert_int_equal(pr->feed(st, copy, n, &used, o, &info), SM_READINGS);
			assert_int_equal(info.crc_fallback, kermit != 0);
			if (pr->fini)
				pr->fini(st);
			free(copy);
			free(st);
		}
	}
	free(s);
	free(o);
}

static size_t sample(uint8_t *buf, size_t cap, const struct sm_sml_enc_opts *eo)
{
	struct sm_reading_set *s = new_set();
	struct sm_obis e1 = obis6(1, 0, 1, 8, 0, 255);
	assert_int_equal(sm_set_add_number(s, &e1, 123456789, -1, SM_UNIT_WH, NULL, 0, 0), SM_OK);
	struct sm_obis p = obis6(1, 0, 16, 7, 0, 255);
	assert_int_equal(sm_set_add_number(s, &p, -250, 0, SM_UNIT_W, NULL, 0, 0), SM_OK);
	size_t n = encode(s, eo, buf, cap);
	free(s);
	return n;
}

static void test_crc_failures(void **state)
{
	(void)state;
	static uint8_t buf[1024];
	struct sm_reading_set *o = new_set();
	size_t n = sample(buf, sizeof buf, NULL);
	/* file CRC: any flipped bit in the file is rejected */
	for (size_t i = 8; i < n; i++) {
		uint8_t *c = dup_exact(buf, n);
		c[i] ^= 0x10;
		struct result r;
		feed_all(c, n, 0, &r, o);
		assert_int_equal(r.frames, 0);
		assert_true(r.errors >= 1);
		free(c);
	}
	/* message CRC: counted, readings kept */
	struct sm_sml_enc_opts eo = { .bad_msg_crc = true };
	n = sample(buf, sizeof buf, &eo);
	unsigned badc = 0;
	decode_one(buf, n, o, &badc, NULL);
	assert_int_equal(badc, 1);
	assert_int_equal(o->n, 2);
	free(o);
}

static void test_junk_and_resync(void **state)
{
	(void)state;
	static uint8_t one[1024], stream[8192];
	struct sm_reading_set *o = new_set();
	size_t n = sample(one, sizeof one, NULL);
	size_t k = 0;
	static const uint8_t junk[] = { 0x1B, 0x1B, 0x00, 0x1B, 0x1B, 0x1B, 0x1B, 0x01, 0x01, 0x42, 0xFF };
	for (int i = 0; i < 3; i++) {
		memcpy(stream + k, junk, sizeof junk);
		k += sizeof junk;
		memcpy(stream + k, one, n);
		k += n;
	}
	/* a damaged file, then a good one */
	memcpy(stream + k, one, n / 2);
	k += n / 2;
	memcpy(stream + k, one, n);
	k += n;
	for (size_t step = 0; step <= 7; step++) {
		struct result r;
		feed_all(stream, k, step, &r, o);
		assert_int_equal(r.frames, 4);
		assert_int_equal(r.readings_total, 8);
		assert_int_equal(r.errors, 1); /* the new start inside the damaged file */
	}
	free(o);
}

static void test_cap(void **state)
{
	(void)state;
	size_t n = SM_SML_MAX + 64;
	uint8_t *b = calloc(1, n);
	assert_non_null(b);
	memcpy(b, "\x1b\x1b\x1b\x1b\x01\x01\x01\x01", 8);
	struct result r;
	struct sm_reading_set *o = new_set();
	feed_all(b, n, 0, &r, o);
	assert_int_equal(r.frames, 0);
	assert_int_equal(r.last_err, SM_E_TOO_LONG);
	free(b);
	free(o);
}

/* Hand-built GetList.Res with rare encodings, wrapped into a file. */
static size_t wrap(const uint8_t *msgs, size_t mn, uint8_t *out)
{
	size_t k = 0;
	memcpy(out, "\x1b\x1b\x1b\x1b\x01\x01\x01\x01", 8);
	k = 8;
	memcpy(out + k, msgs, mn);
	k += mn;
	size_t pad = (4 - (mn & 3)) & 3;
	memset(out + k, 0, pad);
	k += pad;
	memcpy(out + k, "\x1b\x1b\x1b\x1b\x1a", 5);
	k += 5;
	out[k++] = (uint8_t)pad;
	uint16_t c = sm_crc16_x25(0, out, k);
	out[k++] = (uint8_t)c;
	out[k++] = (uint8_t)(c >> 8);
	return k;
}

/* A hand-built message m[0..k) gets its CRC and end (4 bytes, within cap),
 * is wrapped into a file and decoded; no message may be bad. */
static struct sm_reading_set *decode_built(uint8_t *m, size_t k, size_t cap)
{
	assert_true(k + 4 <= cap);
	uint16_t c = sm_crc16_x25(0, m, k);
	m[k++] = 0x63;
	m[k++] = (uint8_t)(c >> 8);
	m[k++] = (uint8_t)c;
	m[k++] = 0x00;
	uint8_t file[300];
	assert_true(k + 24 <= sizeof file);
	size_t n = wrap(m, k, file);
	struct sm_reading_set *o = new_set();
	unsigned badc = 9;
	decode_one(file, n, o, &badc, NULL);
	assert_int_equal(badc, 0);
	return o;
}

static void test_rare_encodings(void **state)
{
	(void)state;
	uint8_t m[256];
	size_t k = 0;
#define B(...) do { const uint8_t t_[] = { __VA_ARGS__ }; memcpy(m + k, t_, sizeof t_); k += sizeof t_; } while (0)
	B(0x76, 0x02, 0x01, 0x62, 0x00, 0x62, 0x00, 0x72, 0x63, 0x07, 0x01);
	B(0x77, 0x01, 0x03, 0xAA, 0xBB, 0x01, 0x72, 0x62, 0x01, 0x65, 0x00, 0x00, 0x01, 0x00);
	B(0x74); /* valList: 4 entries */
	/* manufacturer object, text */
	B(0x77, 0x07, 0x81, 0x81, 0xC7, 0x82, 0x03, 0xFF, 0x01, 0x01, 0x01, 0x01, 0x04, 'D', 'Z', 'G', 0x01);
	/* energy with a 2-byte TL for an unsigned 7-byte value (0x80|0x0, 0x09) */
	B(0x77, 0x07, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x65, 0x00, 0x01, 0x01, 0x82,
	  0x72, 0x62, 0x01, 0x65, 0x00, 0x00, 0x00, 0x10, 0x62, 0x1E, 0x52, 0xFF,
	  0xE0, 0x09, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x01);
	/* power with a choice timestamp and a 65-coded tag, signed 3 bytes */
	B(0x77, 0x07, 0x01, 0x00, 0x10, 0x07, 0x00, 0xFF, 0x01, 0x72, 0x65, 0x00, 0x00, 0x00, 0x02,
	  0x65, 0x65, 0x53, 0xF1, 0x00, 0x62, 0x1B, 0x52, 0x00, 0x54, 0xFF, 0xFF, 0x38, 0x01);
	/* unknown unit code 200 */
	B(0x77, 0x07, 0x01, 0x00, 0x60, 0x32, 0x01, 0x01, 0x01, 0x01, 0x62, 0xC8, 0x01, 0x52, 0x05, 0x01);
	B(0x01, 0x01);
	struct sm_reading_set *o = decode_built(m, k, sizeof m);
	assert_int_equal(o->n, 4);
	assert_true(o->r[0].is_text);
	assert_int_equal(o->r[0].obis.v[5], 0xFF);
	assert_int_equal(o->r[1].raw, 0x010203);
	assert_int_equal(o->r[1].scale, -1);
	assert_int_equal(o->r[1].unit, SM_UNIT_WH);
	assert_int_equal(o->r[2].raw, -200);
	assert_int_equal(o->r[2].time_ms, 0x6553F100LL * 1000);
	assert_string_equal(o->r[2].name, "power_net");
	assert_int_equal(o->r[3].unit, SM_UNIT_OTHER);
	assert_string_equal(o->r[3].unit_text, "dlms200");
	assert_int_equal(o->r[3].raw, 5); /* scaler absent */
	assert_int_equal(o->r[3].scale, 0);
	free(o);
#undef B
}

/* A timestamp is an Unsigned32 of seconds: one sent wider but within 32 bits
 * is taken; a wider value (fuzz finding: its milliseconds overflowed) is no
 * time, and the values around it are still read. */
static void test_wide_timestamp(void **state)
{
	(void)state;
	uint8_t m[256];
	size_t k = 0;
#define B(...) do { const uint8_t t_[] = { __VA_ARGS__ }; memcpy(m + k, t_, sizeof t_); k += sizeof t_; } while (0)
#define HUGE_TS 0x69, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
	B(0x76, 0x02, 0x01, 0x62, 0x00, 0x62, 0x00, 0x72, 0x63, 0x07, 0x01);
	/* GetList.Res whose actSensorTime is a timestamp of 2^56 s */
	B(0x77, 0x01, 0x03, 0xAA, 0xBB, 0x01, 0x72, 0x62, 0x02, HUGE_TS);
	B(0x73); /* valList: 3 entries */
	/* energy, valTime a timestamp of 2^56 s */
	B(0x77, 0x07, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x01, 0x72, 0x62, 0x02, HUGE_TS,
	  0x62, 0x1E, 0x52, 0xFF, 0x65, 0x00, 0x00, 0x00, 0x10, 0x01);
	/* power, valTime a local timestamp {2^56 s, 60, 0} */
	B(0x77, 0x07, 0x01, 0x00, 0x10, 0x07, 0x00, 0xFF, 0x01, 0x72, 0x62, 0x03, 0x73, HUGE_TS,
	  0x53, 0x00, 0x3C, 0x53, 0x00, 0x00, 0x62, 0x1B, 0x52, 0x00, 0x53, 0xFF, 0x38, 0x01);
	/* voltage, valTime the largest timestamp, sent in 8 bytes */
	B(0x77, 0x07, 0x01, 0x00, 0x20, 0x07, 0x00, 0xFF, 0x01, 0x72, 0x62, 0x02,
	  0x69, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
	  0x62, 0x23, 0x52, 0xFF, 0x63, 0x09, 0x06, 0x01);
	B(0x01, 0x01);
	struct sm_reading_set *o = decode_built(m, k, sizeof m);
	assert_int_equal(o->meter_time_ms, 0);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->r[0].raw, 16);
	assert_int_equal(o->r[0].time_ms, 0);
	assert_int_equal(o->r[1].raw, -200);
	assert_int_equal(o->r[1].time_ms, 0);
	assert_int_equal(o->r[2].raw, 2310);
	assert_int_equal(o->r[2].time_ms, (int64_t)UINT32_MAX * 1000);
	free(o);
#undef HUGE_TS
#undef B
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_roundtrip_widths),
		cmocka_unit_test(test_roundtrip_text_time_escape),
		cmocka_unit_test(test_crc_failures),
		cmocka_unit_test(test_junk_and_resync),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_rare_encodings),
		cmocka_unit_test(test_wide_timestamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
