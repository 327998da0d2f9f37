/*
 * test_smarty.c - DSMR with a Key (Luxembourg Smarty): the 0xDB framer on
 * P1, sm_smarty_open (decrypt, verify, frame the telegram inside), the
 * seal helper the simulator uses, and the "dsmr" protocol entry with a Key.
 * The real fixtures (SM_SHARED) decode to the values of their decrypted
 * telegram; our own frames (sm_dsmr_seal_smarty) test the rest.  Every
 * input is fed from an exactly-sized heap copy.
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
#include "gcm.h"
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

static const uint8_t KEY[16] = { 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
				 0x98, 0xA9, 0xBA, 0xCB, 0xDC, 0xED, 0xFE, 0x0F };
static const uint8_t AK[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF };
static const uint8_t ST[8] = { 'S', 'A', 'G', 'g', 0x70, 0x01, 0xBD, 0x54 };

/* A Luxembourg-style telegram; crc_mode 0 none, 1 right, 2 wrong. */
static size_t telegram(char *t, size_t cap, unsigned wh, int crc_mode)
{
	size_t n = (size_t)snprintf(t, cap,
				    "/Lux5\\253663629_D\r\n\r\n"
				    "1-3:0.2.8(42)\r\n"
				    "0-0:1.0.0(180130102122W)\r\n"
				    "0-0:42.0.0(53414731303330373030313134303034534147313033303730303131"
				    "3430303453414731303330373030313134303034)\r\n"
				    "1-0:1.8.0(%06u.%03u*kWh)\r\n"
				    "1-0:2.8.0(000000.025*kWh)\r\n"
				    "1-0:32.7.0(230.1*V)\r\n"
				    "1-0:31.7.0(001*A)\r\n"
				    "0-0:96.13.0()\r\n"
				    "!",
				    wh / 1000, wh % 1000);
	if (crc_mode != 0) {
		uint16_t crc = sm_crc16_arc(0, (const uint8_t *)t, n);
		if (crc_mode == 2)
			crc ^= 0x0101;
		n += (size_t)snprintf(t + n, cap - n, "%04X", (unsigned)crc);
	}
	n += (size_t)snprintf(t + n, cap - n, "\r\n");
	return n;
}

static struct sm_gcm *gcm(const uint8_t *key, const uint8_t *ak)
{
	struct sm_gcm *g = NULL;
	assert_int_equal(sm_gcm_new(key, ak, &g), SM_OK);
	return g;
}

/* Seal a telegram as a Smarty meter does; exactly-sized heap result. */
static uint8_t *seal(const char *t, size_t tn, uint8_t sc, uint32_t fc, size_t *n)
{
	struct sm_gcm *g = gcm(KEY, AK);
	static uint8_t out[SM_SMARTY_MAX + 64];
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, fc, sc, (const uint8_t *)t, tn, out, sizeof out, n),
			 SM_OK);
	sm_gcm_free(g);
	return exact(out, *n);
}

static uint8_t *sealed_telegram(unsigned wh, int crc_mode, uint8_t sc, size_t *n)
{
	char t[1024];
	size_t tn = telegram(t, sizeof t, wh, crc_mode);
	return seal(t, tn, sc, 0x1000 + wh, n);
}

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

/* The "dsmr" protocol with a Key (and optionally AuthKey). */
struct meter {
	struct sm_meter_cfg cfg;
	void *st;
};

static void meter_open(struct meter *m, const uint8_t *key, const uint8_t *ak, bool ignore)
{
	memset(&m->cfg, 0, sizeof m->cfg);
	m->cfg.ignore_checksum = ignore;
	if (key != NULL) {
		m->cfg.has_key = true;
		memcpy(m->cfg.key, key, 16);
	}
	if (ak != NULL) {
		m->cfg.has_auth_key = true;
		memcpy(m->cfg.auth_key, ak, 16);
	}
	m->st = calloc(1, sm_proto_dsmr.state_size);
	assert_non_null(m->st);
	struct sm_diag d = { { 0 } };
	assert_int_equal(sm_proto_dsmr.init(m->st, &m->cfg, &d), SM_OK);
}

static void meter_close(struct meter *m)
{
	assert_non_null(sm_proto_dsmr.fini);
	sm_proto_dsmr.fini(m->st);
	free(m->st);
}

struct result {
	size_t n;
	int rc[32];
	enum sm_check check[32];
	int64_t wh[32];      /* energy_import of each SM_READINGS, -1 if absent */
	char diag[32][160];
};

/* Feed data in chunks of `chunk` bytes (0: all at once), then idle. */
static void run(struct meter *m, const uint8_t *data, size_t n, size_t chunk, bool idle,
		struct result *r, struct sm_reading_set *out)
{
	memset(r, 0, sizeof *r);
	size_t off = 0;
	while (off < n) {
		size_t len = chunk == 0 || n - off < chunk ? n - off : chunk;
		uint8_t *piece = exact(data + off, len);
		size_t at = 0;
		while (at < len) {
			struct sm_feed_info info;
			size_t used = 0;
			memset(&info, 0, sizeof info);
			enum sm_err rc = sm_proto_dsmr.feed(m->st, piece + at, len - at, &used, out, &info);
			assert_true(used <= len - at);
			at += used;
			if (rc == SM_NEED_MORE) {
				assert_int_equal(at, len);
				continue;
			}
			assert_true(r->n < 32);
			r->rc[r->n] = rc;
			r->check[r->n] = info.check;
			snprintf(r->diag[r->n], sizeof r->diag[0], "%s", info.diag.msg);
			r->wh[r->n] = -1;
			if (rc == SM_READINGS) {
				const struct sm_reading *e = sm_set_find(out, "energy_import");
				if (e != NULL)
					r->wh[r->n] = e->raw;
			}
			r->n++;
		}
		free(piece);
		off += len;
	}
	if (idle) {
		struct sm_feed_info info;
		memset(&info, 0, sizeof info);
		enum sm_err rc = sm_proto_dsmr.idle(m->st, out, &info);
		if (rc != SM_NEED_MORE) {
			assert_true(r->n < 32);
			r->rc[r->n] = rc;
			r->check[r->n] = info.check;
			snprintf(r->diag[r->n], sizeof r->diag[0], "%s", info.diag.msg);
			r->wh[r->n] = -1;
			if (rc == SM_READINGS) {
				const struct sm_reading *e = sm_set_find(out, "energy_import");
				if (e != NULL)
					r->wh[r->n] = e->raw;
			}
			r->n++;
		}
	}
}

static void assert_no_key_text(const char *msg)
{
	const uint8_t *keys[2] = { KEY, AK };
	for (int k = 0; k < 2; k++) {
		char up[33], lo[33];
		for (size_t i = 0; i < 16; i++) {
			snprintf(up + 2 * i, 3, "%02X", keys[k][i]);
			snprintf(lo + 2 * i, 3, "%02x", keys[k][i]);
		}
		for (size_t i = 0; i + 8 <= 32; i += 2) {
			char u[9], l[9];
			memcpy(u, up + i, 8);
			memcpy(l, lo + i, 8);
			u[8] = l[8] = '\0';
			assert_null(strstr(msg, u));
			assert_null(strstr(msg, l));
		}
	}
}

/* ------------------------------------------------------------------ */
/* fixtures                                                            */
/* ------------------------------------------------------------------ */

static const char *shared_dir(void)
{
	const char *s = getenv("SM_SHARED");
	return s && *s ? s : "../shared";
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	fclose(f);
	char *c = (char *)exact(buf, len);
	free(buf);
	*n = len;
	return c;
}

static char *json_str(const char *json, size_t jn, const char *name)
{
	char *z = malloc(jn + 1);
	assert_non_null(z);
	memcpy(z, json, jn);
	z[jn] = '\0';
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\"", name);
	const char *p = strstr(z, pat);
	char *v = NULL;
	if (p != NULL) {
		p += strlen(pat);
		while (*p == ' ' || *p == ':')
			p++;
		if (*p == '"') {
			const char *e = strchr(++p, '"');
			assert_non_null(e);
			v = malloc((size_t)(e - p) + 1);
			assert_non_null(v);
			memcpy(v, p, (size_t)(e - p));
			v[e - p] = '\0';
		}
	}
	free(z);
	return v;
}

static void assert_same_sets(const struct sm_reading_set *a, const struct sm_reading_set *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->meter_time_ms, b->meter_time_ms);
	for (size_t i = 0; i < a->n; i++) {
		const struct sm_reading *x = &a->r[i], *y = &b->r[i];
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->unit, y->unit);
		assert_int_equal(x->is_text, y->is_text);
		assert_int_equal(x->time_ms, y->time_ms);
		if (x->is_text) {
			assert_int_equal(x->text_len, y->text_len);
			assert_memory_equal(sm_reading_text(a, x), sm_reading_text(b, y), x->text_len);
		} else {
			assert_int_equal(x->raw, y->raw);
			assert_int_equal(x->scale, y->scale);
		}
	}
}

/* Decode the plain fixture with the plain protocol (IgnoreChecksum where
 * its source CRC is wrong) for the reference set. */
static void plain_reference(const char *t, size_t tn, struct sm_reading_set *ref, enum sm_check *check)
{
	struct meter m;
	struct result r;
	meter_open(&m, NULL, NULL, true);
	uint8_t *c = exact(t, tn);
	run(&m, c, tn, 0, true, &r, ref);
	free(c);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_READINGS);
	*check = r.check[0];
	meter_close(&m);
}

static void check_fixture(const char *dir, const char *name, int64_t want_wh, bool crc_bad,
			  unsigned *done)
{
	char path[1024];
	size_t jn = 0, bn = 0, tn = 0;
	snprintf(path, sizeof path, "%s/%s.expected.json", dir, name);
	char *json = slurp(path, &jn);
	if (json == NULL)
		return;
	snprintf(path, sizeof path, "%s/%s.bin", dir, name);
	char *bin = slurp(path, &bn);
	assert_non_null(bin);
	char *keyhex = json_str(json, jn, "key");
	char *aad = json_str(json, jn, "aad_full");
	char *dec = json_str(json, jn, "decrypted_fixture");
	assert_non_null(keyhex);
	assert_non_null(dec);
	snprintf(path, sizeof path, "%s/%s", dir, dec);
	char *tel = slurp(path, &tn);
	assert_non_null(tel);
	uint8_t key[16], ak[16];
	assert_int_equal(sm_key_parse_hex(keyhex, strlen(keyhex), key), SM_OK);
	if (aad != NULL) {
		assert_int_equal(strlen(aad), 34);
		assert_int_equal(sm_key_parse_hex(aad + 2, 32, ak), SM_OK);
	}

	struct sm_reading_set *ref = new_set(), *out = new_set();
	enum sm_check plain_check;
	plain_reference(tel, tn, ref, &plain_check);
	assert_int_equal(plain_check, crc_bad ? SM_CHECK_IGNORED : SM_CHECK_OK);

	/* whole, in 7-byte pieces, byte by byte: one set, equal to the plain one */
	static const size_t chunks[] = { 0, 7, 1 };
	for (size_t c = 0; c < 3; c++) {
		struct meter m;
		struct result r;
		meter_open(&m, key, aad ? ak : NULL, false);
		run(&m, (const uint8_t *)bin, bn, chunks[c], true, &r, out);
		assert_int_equal(r.n, 1);
		if (r.rc[0] != SM_READINGS)
			print_message("%s: %s (%s)\n", name, sm_err_name(r.rc[0]), r.diag[0]);
		assert_int_equal(r.rc[0], SM_READINGS);
		assert_int_equal(r.check[0], SM_CHECK_OK);
		assert_int_equal(r.wh[0], want_wh);
		if (crc_bad)
			assert_non_null(strstr(r.diag[0], "inner CRC mismatch"));
		else
			assert_string_equal(r.diag[0], "");
		assert_same_sets(out, ref);
		meter_close(&m);
	}

	/* a flipped ciphertext bit: no value, an authentication error */
	uint8_t *bad = exact(bin, bn);
	bad[bn / 2] ^= 0x10;
	struct meter m;
	struct result r;
	meter_open(&m, key, aad ? ak : NULL, false);
	run(&m, bad, bn, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_E_AUTH);
	meter_close(&m);
	free(bad);
	/* the wrong key */
	key[3] ^= 0x40;
	meter_open(&m, key, aad ? ak : NULL, false);
	run(&m, (const uint8_t *)bin, bn, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_E_AUTH);
	meter_close(&m);
	/* the file followed by itself: two sets */
	key[3] ^= 0x40;
	uint8_t *two = malloc(2 * bn);
	assert_non_null(two);
	memcpy(two, bin, bn);
	memcpy(two + bn, bin, bn);
	meter_open(&m, key, aad ? ak : NULL, false);
	run(&m, two, 2 * bn, 100, true, &r, out);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.rc[0], SM_READINGS);
	assert_int_equal(r.rc[1], SM_READINGS);
	meter_close(&m);
	free(two);

	print_message("%s: %zu readings, energy_import %lld Wh%s\n", name, ref->n, (long long)want_wh,
		      crc_bad ? " (inner CRC wrong in the source: accepted on the GCM tag)" : "");
	free(ref);
	free(out);
	free(json);
	free(bin);
	free(keyhex);
	free(aad);
	free(dec);
	free(tel);
	(*done)++;
}

static void test_fixtures(void **state)
{
	(void)state;
	char dir[1024];
	unsigned done = 0;
	snprintf(dir, sizeof dir, "%s/fixtures/dsmr", shared_dir());
	check_fixture(dir, "lu_smarty_sagemcom_encrypted", 6695, true, &done);
	check_fixture(dir, "athombv_lu_smarty_spec_example_encrypted_with_aad", 25653, true, &done);
	check_fixture(dir, "athombv_lu_smarty_spec_example_encrypted_without_aad", 25653, true, &done);
	if (done == 0) {
		print_message("SKIP: no Smarty fixtures under %s (set SM_SHARED)\n", dir);
		skip();
	}
	assert_int_equal(done, 3);
}

/* ------------------------------------------------------------------ */
/* our own frames                                                      */
/* ------------------------------------------------------------------ */

static void test_seal_layout(void **state)
{
	(void)state;
	char t[1024];
	size_t tn = telegram(t, sizeof t, 6695, 1), n = 0;
	uint8_t *f = seal(t, tn, 0x30, 0x0005A8E3, &n);
	/* DB 08 title 82 len(2) 30 FC(4) ciphertext tag(12): nothing else */
	assert_int_equal(n, 2 + 8 + 3 + 5 + tn + 12);
	assert_int_equal(f[0], 0xDB);
	assert_int_equal(f[1], 0x08);
	assert_memory_equal(f + 2, ST, 8);
	assert_int_equal(f[10], 0x82);
	assert_int_equal((size_t)(f[11] << 8 | f[12]), n - 13);
	assert_int_equal(f[13], 0x30);
	assert_int_equal(f[14], 0x00);
	assert_int_equal(f[17], 0xE3);
	free(f);

	struct sm_gcm *g = gcm(KEY, AK);
	uint8_t out[64];
	size_t len = 7;
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, (const uint8_t *)"xyz", 3, out, sizeof out,
					     &len), SM_E_SYNTAX);
	assert_int_equal(len, 0);
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, (const uint8_t *)"/", 0, out, sizeof out,
					     &len), SM_E_SYNTAX);
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, (const uint8_t *)t, tn, out, sizeof out,
					     &len), SM_E_FULL);
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x40, (const uint8_t *)t, tn, out, sizeof out,
					     &len), SM_E_SYNTAX);
	static uint8_t big[SM_DSMR_MAX + 1];
	static uint8_t bigout[SM_SMARTY_MAX + 64];
	memset(big, 'x', sizeof big);
	big[0] = '/';
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, big, sizeof big, bigout, sizeof bigout, &len),
			 SM_E_FULL);
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, big, SM_DSMR_MAX, bigout, sizeof bigout,
					     &len), SM_OK);
	assert_true(len <= SM_SMARTY_MAX);
	sm_gcm_free(g);
	g = gcm(KEY, NULL);
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 1, 0x30, (const uint8_t *)t, tn, bigout,
					     sizeof bigout, &len), SM_E_AUTH);
	sm_gcm_free(g);
}

/* Every security control, right CRC: readings; the largest telegram the
 * plain framer takes also passes encrypted. */
static void test_security_controls(void **state)
{
	(void)state;
	static const uint8_t scs[4] = { 0x20, 0x21, 0x30, 0x31 };
	struct sm_reading_set *out = new_set();
	for (size_t k = 0; k < 4; k++) {
		size_t n = 0;
		uint8_t *f = sealed_telegram(1234 + (unsigned)k, 1, scs[k], &n);
		struct meter m;
		struct result r;
		/* untagged frames are read without an AuthKey; with one they are refused */
		meter_open(&m, KEY, (scs[k] & 0x10) ? AK : NULL, false);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.rc[0], SM_READINGS);
		assert_int_equal(r.check[0], SM_CHECK_OK);
		assert_int_equal(r.wh[0], 1234 + (int64_t)k);
		assert_string_equal(r.diag[0], "");
		if (!(scs[k] & 0x10)) {
			meter_close(&m);
			meter_open(&m, KEY, AK, false);
			run(&m, f, n, 0, true, &r, out);
			assert_int_equal(r.n, 1);
			assert_int_equal(r.rc[0], SM_E_AUTH);
			assert_non_null(strstr(r.diag[0], "without GCM tag"));
			assert_no_key_text(r.diag[0]);
		}
		meter_close(&m);
		free(f);
	}
	free(out);
}

/* The inner CRC: advisory with a tag, required without. */
static void test_inner_crc(void **state)
{
	(void)state;
	struct sm_reading_set *out = new_set();
	struct meter m;
	struct result r;
	size_t n = 0;
	uint8_t *f;

	/* tag + wrong CRC: accepted, said in diag */
	f = sealed_telegram(500, 2, 0x30, &n);
	meter_open(&m, KEY, AK, false);
	run(&m, f, n, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_READINGS);
	assert_int_equal(r.check[0], SM_CHECK_OK);
	assert_int_equal(r.wh[0], 500);
	assert_non_null(strstr(r.diag[0], "inner CRC mismatch"));
	assert_non_null(strstr(r.diag[0], "authenticated"));
	meter_close(&m);
	free(f);

	/* no tag + wrong CRC: rejected, no value */
	static const uint8_t untagged[2] = { 0x20, 0x21 };
	for (int k = 0; k < 2; k++) {
		f = sealed_telegram(501, 2, untagged[k], &n);
		meter_open(&m, KEY, NULL, false);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.rc[0], SM_E_CRC);
		assert_non_null(strstr(r.diag[0], "CRC mismatch"));
		meter_close(&m);
		/* ... unless IgnoreChecksum: accepted and counted as such */
		meter_open(&m, KEY, NULL, true);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.rc[0], SM_READINGS);
		assert_int_equal(r.check[0], SM_CHECK_IGNORED);
		meter_close(&m);
		free(f);
	}

	/* no CRC at all in a 4.2 telegram: the decoder's rule (rejected) */
	f = sealed_telegram(502, 0, 0x30, &n);
	meter_open(&m, KEY, AK, false);
	run(&m, f, n, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_E_NO_CRC);
	meter_close(&m);
	free(f);
	free(out);
}

/* A wrong key: "not a DSMR telegram: check Key" without a tag, an
 * authentication error with one; no key bytes in any text. */
static void test_wrong_key(void **state)
{
	(void)state;
	struct sm_reading_set *out = new_set();
	uint8_t wrong[16];
	memcpy(wrong, KEY, 16);
	wrong[0] ^= 1;
	static const uint8_t scs[4] = { 0x20, 0x21, 0x30, 0x31 };
	for (size_t k = 0; k < 4; k++) {
		size_t n = 0;
		uint8_t *f = sealed_telegram(77, 1, scs[k], &n);
		struct meter m;
		struct result r;
		meter_open(&m, wrong, AK, false);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.n, 1);
		if (scs[k] & 0x10) {
			assert_int_equal(r.rc[0], SM_E_AUTH);
			assert_non_null(strstr(r.diag[0], "authentication failed"));
		} else {
			assert_int_equal(r.rc[0], SM_E_NOT_APDU);
			assert_string_equal(r.diag[0], "decrypted data is not a DSMR telegram: check Key");
		}
		assert_no_key_text(r.diag[0]);
		meter_close(&m);
		/* wrong AuthKey and no AuthKey */
		uint8_t ak2[16];
		memcpy(ak2, AK, 16);
		ak2[9] ^= 0x20;
		meter_open(&m, KEY, ak2, false);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.rc[0], SM_E_AUTH); /* tag mismatch, or no tag although AuthKey */
		assert_no_key_text(r.diag[0]);
		meter_close(&m);
		meter_open(&m, KEY, NULL, false);
		run(&m, f, n, 0, true, &r, out);
		assert_int_equal(r.rc[0], scs[k] & 0x10 ? SM_E_AUTH : SM_READINGS);
		if (scs[k] & 0x10)
			assert_non_null(strstr(r.diag[0], "AuthKey"));
		meter_close(&m);
		free(f);
	}
	free(out);
}

/* A flipped bit anywhere in a tagged frame: never a value from it, and the
 * next good frame decodes. */
static void test_bit_flips(void **state)
{
	(void)state;
	struct sm_reading_set *out = new_set();
	size_t n = 0, gn = 0;
	uint8_t *f = sealed_telegram(900, 1, 0x30, &n);
	uint8_t *good = sealed_telegram(901, 1, 0x30, &gn);
	uint8_t *buf = malloc(n + gn);
	assert_non_null(buf);
	struct meter m;
	meter_open(&m, KEY, AK, false);
	for (size_t pos = 0; pos < n; pos += (pos < 20 ? 1 : 7)) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, f, n);
			memcpy(buf + n, good, gn);
			buf[pos] ^= (uint8_t)(1u << bit);
			struct result r;
			sm_proto_dsmr.reset(m.st);
			/* the silence between Smarty frames lets idle drop a
			 * frame whose length was damaged */
			run(&m, buf, n, 0, true, &r, out);
			for (size_t i = 0; i < r.n; i++)
				assert_int_not_equal(r.rc[i], SM_READINGS);
			run(&m, buf + n, gn, 0, true, &r, out);
			size_t ok = 0;
			for (size_t i = 0; i < r.n; i++) {
				if (r.rc[i] == SM_READINGS) {
					assert_int_equal(r.wh[i], 901);
					ok++;
				}
			}
			assert_int_equal(ok, 1);
		}
	}
	meter_close(&m);
	free(buf);
	free(f);
	free(good);
	free(out);
}

/* Several frames with garbage between them (stray 0xDB bytes, implausible
 * headers, a plain telegram), cut at every point: the same sets. */
static void test_stream_resync(void **state)
{
	(void)state;
	struct sm_reading_set *out = new_set();
	size_t n1 = 0, n2 = 0, n3 = 0;
	uint8_t *f1 = sealed_telegram(1, 1, 0x30, &n1);
	uint8_t *f2 = sealed_telegram(2, 1, 0x31, &n2);
	uint8_t *f3 = sealed_telegram(3, 1, 0x31, &n3);
	static const uint8_t junk1[] = { 0x00, 0xDB, 0xDB, 0x07, 0xDB, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
					 0x83, 0xDB, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x01, 0x00,
					 0x10, 0xFF };
	static const char junk2[] = "/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.0(000001.000*kWh)\r\n!1234\r\n";
	uint8_t *s = malloc(n1 + n2 + n3 + sizeof junk1 + sizeof junk2 + 2);
	assert_non_null(s);
	size_t n = 0;
	memcpy(s + n, junk1, sizeof junk1);
	n += sizeof junk1;
	memcpy(s + n, f1, n1);
	n += n1;
	memcpy(s + n, junk2, sizeof junk2 - 1);
	n += sizeof junk2 - 1;
	memcpy(s + n, f2, n2);
	n += n2;
	s[n++] = 0xDB; /* stray: its header is decided by f3's first bytes */
	memcpy(s + n, f3, n3);
	n += n3;

	static const size_t chunks[] = { 0, 1, 2, 3, 13, 14, 100, 333 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct meter m;
		struct result r;
		meter_open(&m, KEY, AK, false);
		run(&m, s, n, chunks[c], true, &r, out);
		size_t k = 0;
		int64_t want[3] = { 1, 2, 3 };
		for (size_t i = 0; i < r.n; i++) {
			assert_int_equal(r.rc[i], SM_READINGS);
			assert_true(k < 3);
			assert_int_equal(r.wh[i], want[k++]);
		}
		assert_int_equal(k, 3);
		meter_close(&m);
	}
	/* cut at every point into two pieces */
	for (size_t cut = 0; cut <= n; cut++) {
		struct meter m;
		struct result r1, r2;
		meter_open(&m, KEY, AK, false);
		run(&m, s, cut, 0, false, &r1, out);
		run(&m, s + cut, n - cut, 0, true, &r2, out);
		assert_int_equal(r1.n + r2.n, 3);
		for (size_t i = 0; i < r1.n; i++)
			assert_int_equal(r1.rc[i], SM_READINGS);
		for (size_t i = 0; i < r2.n; i++)
			assert_int_equal(r2.rc[i], SM_READINGS);
		meter_close(&m);
	}
	free(s);
	free(f1);
	free(f2);
	free(f3);
	free(out);
}

/* The framer alone: truncation at every byte (idle drops it with a reason
 * once the header is complete), the oversize cap, skipped bytes. */
static void test_framer(void **state)
{
	(void)state;
	size_t n = 0;
	uint8_t *f = sealed_telegram(42, 1, 0x30, &n);
	struct sm_smarty_framer *fr = malloc(sizeof *fr);
	assert_non_null(fr);
	for (size_t k = 0; k < n; k++) {
		sm_smarty_framer_init(fr);
		uint8_t *p = exact(f, k);
		struct sm_frame frame;
		struct sm_diag d = { { 0 } };
		size_t used = 0;
		assert_int_equal(sm_smarty_framer_feed(fr, p, k, &used, &frame, &d), SM_NEED_MORE);
		assert_int_equal(used, k);
		enum sm_err rc = sm_smarty_framer_flush(fr, &d);
		if (k <= 13) {
			assert_int_equal(rc, SM_NEED_MORE); /* header incomplete: skipped */
			assert_int_equal(fr->skipped, k);
		} else {
			assert_int_equal(rc, SM_E_TRUNCATED);
			assert_non_null(strstr(d.msg, "truncated"));
		}
		assert_int_equal(sm_smarty_framer_flush(fr, &d), SM_NEED_MORE);
		free(p);
	}
	/* whole: one frame, exactly the APDU, nothing skipped */
	sm_smarty_framer_init(fr);
	uint8_t *p = exact(f, n);
	struct sm_frame frame;
	struct sm_diag d = { { 0 } };
	size_t used = 0;
	assert_int_equal(sm_smarty_framer_feed(fr, p, n, &used, &frame, &d), SM_FRAME);
	assert_int_equal(used, n);
	assert_int_equal(frame.n, n);
	assert_memory_equal(frame.p, f, n);
	assert_int_equal(fr->skipped, 0);
	free(p);

	/* a plausible header announcing more than the cap */
	uint8_t big[32] = { 0xDB, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0xFF, 0x00, 0x30, 0, 0, 0, 1 };
	p = exact(big, sizeof big);
	sm_smarty_framer_init(fr);
	assert_int_equal(sm_smarty_framer_feed(fr, p, sizeof big, &used, &frame, &d), SM_E_TOO_LONG);
	assert_int_equal(used, 14);
	assert_non_null(strstr(d.msg, "more than"));
	assert_int_equal(sm_smarty_framer_feed(fr, p + used, sizeof big - used, &used, &frame, &d),
			 SM_NEED_MORE);
	assert_int_equal(sm_smarty_framer_flush(fr, &d), SM_NEED_MORE);
	free(p);
	/* the largest frame that fits the cap is taken */
	static uint8_t tel[SM_DSMR_MAX];
	memset(tel, 'x', sizeof tel);
	tel[0] = '/';
	struct sm_gcm *g = gcm(KEY, AK);
	static uint8_t out[SM_SMARTY_MAX];
	size_t on = 0;
	assert_int_equal(sm_dsmr_seal_smarty(g, ST, 5, 0x30, tel, sizeof tel, out, sizeof out, &on), SM_OK);
	sm_gcm_free(g);
	p = exact(out, on);
	sm_smarty_framer_init(fr);
	assert_int_equal(sm_smarty_framer_feed(fr, p, on, &used, &frame, &d), SM_FRAME);
	assert_int_equal(frame.n, on);
	free(p);
	/* a frame that has been handed out is not handed out again on idle */
	assert_int_equal(sm_smarty_framer_flush(fr, &d), SM_NEED_MORE);
	free(fr);
	free(f);
}

/* sm_smarty_open on plaintexts that are not proper telegrams. */
static void open_plain(const char *text, size_t tn, uint8_t sc, enum sm_err want, const char *diag)
{
	size_t n = 0;
	struct sm_gcm *g = gcm(KEY, AK);
	static uint8_t f[4096];
	assert_int_equal(sm_gcm_seal(g, ST, 9, sc, (const uint8_t *)text, tn, f, sizeof f, &n), SM_OK);
	uint8_t *in = exact(f, n);
	uint8_t *plain = malloc(tn ? tn : 1);
	assert_non_null(plain);
	struct sm_frame tel;
	struct sm_gcm_info info;
	struct sm_diag d = { { 0 } };
	enum sm_err rc = sm_smarty_open(g, in, n, false, plain, tn, &tel, &info, &d);
	if (rc != want)
		print_message("got %s (%s)\n", sm_err_name(rc), d.msg);
	assert_int_equal(rc, want);
	if (diag != NULL)
		assert_non_null(strstr(d.msg, diag));
	if (rc == SM_FRAME) {
		assert_ptr_equal(tel.p, plain);
		assert_true(tel.n <= tn);
	}
	free(plain);
	free(in);
	sm_gcm_free(g);
}

static void test_open_plaintexts(void **state)
{
	(void)state;
	char t[1024];
	size_t tn = telegram(t, sizeof t, 5, 1);
	open_plain(t, tn, 0x30, SM_FRAME, NULL);
	open_plain(t, tn - 2, 0x30, SM_FRAME, NULL);           /* no CR LF after the CRC */
	open_plain(t, tn, 0x20, SM_FRAME, NULL);
	open_plain("", 0, 0x30, SM_E_NOT_APDU, "is not a DSMR telegram");
	open_plain("\x0F\x00\x01\x02\x03\x04\x05", 7, 0x30, SM_E_NOT_APDU, "is not a DSMR telegram");
	open_plain("/AB\x01\x02\r\n", 7, 0x20, SM_E_NOT_APDU, "check Key");
	open_plain("/ABC5 no end\r\n1-0:1.8.0(1*kWh)\r\n", 33, 0x30, SM_E_TRUNCATED, "no '!'");
	open_plain("/ABC5\r\n\r\n/ABC5\r\n!\r\n", 19, 0x30, SM_E_TRUNCATED, "new telegram");
	open_plain("/ABC5\r\n\r\n!12\r\n", 14, 0x30, SM_E_SYNTAX, "2 hex digits");
	open_plain("/ABC5\r\n\r\n!12345\r\n", 17, 0x30, SM_E_SYNTAX, "more than 4");
	open_plain("/ABC5\r\n\r\n!\r\nxyz", 15, 0x30, SM_E_SYNTAX, "after its end");
	open_plain("/ABC5\r\n\r\n!\r\n", 12, 0x30, SM_FRAME, NULL);
	/* the output buffer must hold the plaintext */
	size_t n = 0;
	struct sm_gcm *g = gcm(KEY, AK);
	static uint8_t f[2048];
	assert_int_equal(sm_gcm_seal(g, ST, 9, 0x30, (const uint8_t *)t, tn, f, sizeof f, &n), SM_OK);
	uint8_t *plain = malloc(tn - 1);
	assert_non_null(plain);
	struct sm_frame tel;
	struct sm_diag d = { { 0 } };
	assert_int_equal(sm_smarty_open(g, f, n, false, plain, tn - 1, &tel, NULL, &d), SM_E_FULL);
	free(plain);
	sm_gcm_free(g);
}

/* With a Key, plain telegrams are not read (skipped); without a Key,
 * Smarty frames give nothing either; reset forgets a partial frame. */
static void test_proto_modes(void **state)
{
	(void)state;
	struct sm_reading_set *out = new_set();
	char t[1024];
	size_t tn = telegram(t, sizeof t, 31, 1), n = 0;
	uint8_t *f = sealed_telegram(31, 1, 0x30, &n);
	uint8_t *tc = exact(t, tn);
	struct meter m;
	struct result r;
	meter_open(&m, KEY, AK, false);
	run(&m, tc, tn, 0, true, &r, out);
	assert_int_equal(r.n, 0);
	/* reset in the middle of a frame */
	run(&m, f, n / 2, 0, false, &r, out);
	assert_int_equal(r.n, 0);
	sm_proto_dsmr.reset(m.st);
	run(&m, f + n / 2, n - n / 2, 0, true, &r, out);
	for (size_t i = 0; i < r.n; i++)
		assert_int_not_equal(r.rc[i], SM_READINGS);
	run(&m, f, n, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_READINGS);
	meter_close(&m);

	meter_open(&m, NULL, NULL, false);
	run(&m, f, n, 0, true, &r, out);
	for (size_t i = 0; i < r.n; i++)
		assert_int_not_equal(r.rc[i], SM_READINGS);
	run(&m, tc, tn, 0, true, &r, out);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.rc[0], SM_READINGS);
	assert_int_equal(r.wh[0], 31);
	meter_close(&m);
	free(tc);
	free(f);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_seal_layout),
		cmocka_unit_test(test_security_controls),
		cmocka_unit_test(test_inner_crc),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_stream_resync),
		cmocka_unit_test(test_framer),
		cmocka_unit_test(test_open_plaintexts),
		cmocka_unit_test(test_proto_modes),
	};
	return cmocka_run_group_tests_name("smarty", tests, NULL, NULL);
}
