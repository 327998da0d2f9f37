/*
 * test_dlms.c - the DLMS data-notification decoder and encoder.
 *
 *  - fixtures (SM_SHARED): the plaintext APDU of every mbus-dlms fixture
 *    (the source's decrypted APDU from the .expected.json, or the plain
 *    .hex) decodes to every object listed there and to the values the
 *    sources assert; truncation at every byte and every length byte
 *    corrupted on the same APDUs;
 *  - round trips encoder -> decoder with random readings, both layouts;
 *  - every integer width, floats, bit-strings, strings, dates as values;
 *    the unit table; layouts other than the two real ones; meter time
 *    rules; limits (nesting, counts, a full set); encoder errors.
 * Every input is decoded from an exactly-sized heap copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"
#include "dlms.h"
#include "obis.h"
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

static enum sm_err decode_exact(const uint8_t *p, size_t n, struct sm_reading_set *s,
				struct sm_diag *d)
{
	uint8_t *c = exact(p, n);
	struct sm_diag local = { { 0 } };
	enum sm_err rc = sm_dlms_decode(c, n, s, d ? d : &local);
	free(c);
	return rc;
}

static struct sm_reading_set *new_set(void)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	assert_non_null(s);
	sm_set_clear(s);
	return s;
}

/* An APDU under construction: header (no date-time unless given), then
 * the body written by the test with w. */
struct apdu {
	uint8_t b[20000];
	struct sm_axdr_w w;
};

static struct apdu *apdu_new(const uint8_t *dt12)
{
	struct apdu *a = malloc(sizeof *a);
	assert_non_null(a);
	sm_axdr_w_init(&a->w, a->b, sizeof a->b);
	sm_axdr_put_byte(&a->w, 0x0F);
	sm_axdr_put_raw(&a->w, "\x00\x00\x00\x01", 4);
	if (dt12) {
		sm_axdr_put_byte(&a->w, 0x0C);
		sm_axdr_put_raw(&a->w, dt12, 12);
	} else {
		sm_axdr_put_byte(&a->w, 0x00);
	}
	return a;
}

static enum sm_err apdu_decode(struct apdu *a, struct sm_reading_set *s, struct sm_diag *d)
{
	assert_int_equal(sm_axdr_w_status(&a->w), SM_OK);
	return decode_exact(a->b, a->w.len, s, d);
}

static void put_obis(struct sm_axdr_w *w, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e,
		     uint8_t f)
{
	uint8_t o[6] = { a, b, c, d, e, f };
	sm_axdr_put_string(w, SM_AXDR_OCTETS, o, 6);
}

static void put_su(struct sm_axdr_w *w, int8_t scaler, uint8_t unit)
{
	sm_axdr_put_struct(w, 2);
	sm_axdr_put_i8(w, scaler);
	sm_axdr_put_enum(w, unit);
}

static const struct sm_reading *find(const struct sm_reading_set *s, uint8_t a, uint8_t b, uint8_t c,
				     uint8_t d, uint8_t e)
{
	struct sm_obis o = sm_obis_make(a, b, c, d, e, 255);
	return sm_set_find_obis(s, &o);
}

static void assert_num(const struct sm_reading *r, int64_t raw, int scale, enum sm_unit unit)
{
	assert_non_null(r);
	assert_false(r->is_text);
	assert_true(r->raw == raw);
	assert_int_equal(r->scale, scale);
	assert_int_equal(r->unit, unit);
}

static void assert_text(const struct sm_reading_set *s, const struct sm_reading *r, const char *t)
{
	assert_non_null(r);
	assert_true(r->is_text);
	assert_int_equal(r->text_len, strlen(t));
	assert_memory_equal(sm_reading_text(s, r), t, r->text_len);
}

/* ------------------------------------------------------------------ */
/* a tiny JSON reader for the .expected.json files                     */
/* ------------------------------------------------------------------ */

struct jv {
	const char *p; /* first byte of the value */
	const char *e; /* one past its last byte */
};

static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* End of the value starting at p (NULL if malformed). */
static const char *jskip(const char *p, const char *e)
{
	p = ws(p, e);
	if (p >= e)
		return NULL;
	if (*p == '"') {
		for (p++; p < e; p++) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				return p + 1;
		}
		return NULL;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		for (; p < e; p++) {
			if (*p == '"') {
				p = jskip(p, e);
				if (p == NULL)
					return NULL;
				p--;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return NULL;
	}
	while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
		p++;
	return p;
}

/* Member key of object obj. */
static bool jget(struct jv obj, const char *key, struct jv *out)
{
	const char *p = ws(obj.p, obj.e);
	if (p >= obj.e || *p != '{')
		return false;
	p++;
	size_t kl = strlen(key);
	for (;;) {
		p = ws(p, obj.e);
		if (p >= obj.e || *p == '}')
			return false;
		const char *ks = p;
		const char *ke = jskip(p, obj.e);
		if (ke == NULL)
			return false;
		p = ws(ke, obj.e);
		if (p >= obj.e || *p != ':')
			return false;
		const char *vs = ws(p + 1, obj.e);
		const char *ve = jskip(vs, obj.e);
		if (ve == NULL)
			return false;
		if ((size_t)(ke - ks) == kl + 2 && memcmp(ks + 1, key, kl) == 0) {
			out->p = vs;
			out->e = ve;
			return true;
		}
		p = ws(ve, obj.e);
		if (p < obj.e && *p == ',')
			p++;
	}
}

/* Element i of array arr. */
static bool jat(struct jv arr, size_t i, struct jv *out)
{
	const char *p = ws(arr.p, arr.e);
	if (p >= arr.e || *p != '[')
		return false;
	p++;
	for (size_t k = 0;; k++) {
		p = ws(p, arr.e);
		if (p >= arr.e || *p == ']')
			return false;
		const char *ve = jskip(p, arr.e);
		if (ve == NULL)
			return false;
		if (k == i) {
			out->p = p;
			out->e = ve;
			return true;
		}
		p = ws(ve, arr.e);
		if (p < arr.e && *p == ',')
			p++;
	}
}

static bool jnull(struct jv v) { return v.e - v.p == 4 && memcmp(v.p, "null", 4) == 0; }

/* A string without escapes (the fixtures' ids, hex and codes). */
static bool jstr(struct jv v, char *out, size_t cap)
{
	if (v.e - v.p < 2 || *v.p != '"')
		return false;
	size_t n = (size_t)(v.e - v.p) - 2;
	if (n >= cap || memchr(v.p + 1, '\\', n) != NULL)
		return false;
	memcpy(out, v.p + 1, n);
	out[n] = '\0';
	return true;
}

static bool jint(struct jv v, long long *out)
{
	char buf[32];
	size_t n = (size_t)(v.e - v.p);
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, v.p, n);
	buf[n] = '\0';
	char *end;
	*out = strtoll(buf, &end, 10);
	return *end == '\0';
}

static size_t unhex(const char *h, size_t hn, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (size_t i = 0; i < hn; i++) {
		int c = h[i], v;
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
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap);
	assert_non_null(b);
	len = fread(b, 1, cap - 1, f);
	fclose(f);
	b[len] = '\0';
	*n = len;
	return b;
}

/* ------------------------------------------------------------------ */
/* fixtures                                                            */
/* ------------------------------------------------------------------ */

static const char *fixture_dir(char *buf, size_t cap)
{
	const char *shared = getenv("SM_SHARED");
	snprintf(buf, cap, "%s/fixtures/mbus-dlms", shared ? shared : "../shared");
	return buf;
}

/*
 * The plaintext APDU a fixture's source publishes: "plaintext_hex" in the
 * .expected.json, else the .hex file when it is an APDU (0F...), else an
 * M-Bus frame whose GCM header (security 0x20) is followed by cleartext (a
 * firmware log after decryption): header stripped by its own lengths.
 * 0 when there is none (an encrypted capture without a key).
 */
static size_t fixture_apdu(const char *dir, const char *base, struct jv js, uint8_t *out, size_t cap)
{
	struct jv v;
	if (jget(js, "plaintext_hex", &v))
		return unhex(v.p, (size_t)(v.e - v.p), out, cap);
	char path[1400];
	snprintf(path, sizeof path, "%s/%s.hex", dir, base);
	size_t hn = 0;
	char *hex = slurp(path, &hn);
	if (hex == NULL)
		return 0;
	static uint8_t raw[8192];
	size_t n = unhex(hex, hn, raw, sizeof raw);
	free(hex);
	if (n > 0 && raw[0] == 0x0F) {
		memcpy(out, raw, n);
		return n;
	}
	/* 68 L L 68 C A CI 01 67 | DB 08 <title> <BER len> SC FC(4) | APDU | CS 16 */
	if (n < 9 + 2 + 8 + 1 + 1 + 4 + 2 || raw[0] != 0x68 || raw[9] != 0xDB || raw[10] != 8)
		return 0;
	size_t off = 19;
	if (raw[off] == 0x81)
		off += 2;
	else if (raw[off] == 0x82)
		off += 3;
	else
		off += 1;
	off += 1 + 4;
	if (off >= n - 2 || raw[off] != 0x0F)
		return 0;
	memcpy(out, raw + off, n - 2 - off);
	return n - 2 - off;
}

static enum sm_unit unit_of(long long code)
{
	switch (code) {
	case 27: return SM_UNIT_W;
	case 28: return SM_UNIT_VA;
	case 29: return SM_UNIT_VAR;
	case 30: return SM_UNIT_WH;
	case 31: return SM_UNIT_VAH;
	case 32: return SM_UNIT_VARH;
	case 33: return SM_UNIT_A;
	case 35: return SM_UNIT_V;
	case 44: return SM_UNIT_HZ;
	default: return SM_UNIT_NONE;
	}
}

/* "2021-09-27T09:47:15" local with the DLMS deviation -> unix ms */
static int64_t iso_ms(const char *iso, long long deviation)
{
	int y, mo, d, h, mi, s;
	assert_int_equal(strlen(iso), 19);
	y = (int)strtol(iso, NULL, 10);
	mo = (int)strtol(iso + 5, NULL, 10);
	d = (int)strtol(iso + 8, NULL, 10);
	h = (int)strtol(iso + 11, NULL, 10);
	mi = (int)strtol(iso + 14, NULL, 10);
	s = (int)strtol(iso + 17, NULL, 10);
	int64_t ms;
	assert_true(sm_civil_to_ms(y, mo, d, h, mi, s, (int)-deviation, &ms));
	return ms;
}

/* Every object of the fixture's "decoded" list against the decoded set. */
static void check_objects(const char *base, struct jv decoded, const struct sm_reading_set *s)
{
	struct jv ndt, iso, dev, objs, o;
	char buf[256];
	long long dv = 0;
	assert_true(jget(decoded, "notification_date_time", &ndt));
	assert_true(jget(ndt, "iso_local", &iso) && jstr(iso, buf, sizeof buf));
	assert_true(jget(ndt, "deviation_min", &dev) && jint(dev, &dv));
	assert_int_equal(s->meter_time_ms, iso_ms(buf, dv));

	assert_true(jget(decoded, "objects", &objs));
	size_t expect = 0;
	for (size_t i = 0; jat(objs, i, &o); i++) {
		struct jv ob, ty, v;
		char code[64], type[64];
		assert_true(jget(o, "obis", &ob));
		assert_true(jget(o, "type", &ty) && jstr(ty, type, sizeof type));
		if (strncmp(type, "date-time", 9) == 0) {
			/* the bare date-time and the clock object: the set's
			 * time (the same instant as the notification's), no reading */
			struct jv dtv, di, dd;
			assert_true(jget(o, "value", &dtv));
			assert_true(jget(dtv, "iso_local", &di) && jstr(di, buf, sizeof buf));
			assert_true(jget(dtv, "deviation_min", &dd) && jint(dd, &dv));
			assert_int_equal(s->meter_time_ms, iso_ms(buf, dv));
			if (!jnull(ob)) {
				struct sm_obis oc;
				size_t used;
				assert_true(jstr(ob, code, sizeof code));
				assert_int_equal(sm_obis_parse(code, strlen(code), &used, &oc), SM_OK);
				assert_null(sm_set_find_obis(s, &oc));
			}
			continue;
		}
		expect++;
		struct sm_obis oc;
		if (jnull(ob)) {
			/* the EVN meter number without OBIS */
			oc = sm_obis_make(0, 0, 96, 1, 0, 255);
		} else {
			size_t used;
			assert_true(jstr(ob, code, sizeof code));
			assert_int_equal(sm_obis_parse(code, strlen(code), &used, &oc), SM_OK);
		}
		const struct sm_reading *r = sm_set_find_obis(s, &oc);
		if (r == NULL)
			fail_msg("%s: object %zu (%s) not decoded", base, i, jnull(ob) ? "no OBIS" : code);
		if (strcmp(type, "octet-string") == 0) {
			assert_true(jget(o, "value", &v) && jstr(v, buf, sizeof buf));
			assert_text(s, r, buf);
			continue;
		}
		struct jv jr, jsc, ju;
		long long raw = 0, sc = 0, u = 0;
		assert_true(jget(o, "raw", &jr) && jint(jr, &raw));
		assert_true(jget(o, "scaler", &jsc) && jint(jsc, &sc));
		assert_true(jget(o, "unit_enum", &ju) && jint(ju, &u));
		assert_num(r, raw, (int)sc, unit_of(u));
	}
	assert_int_equal(s->n, expect);
}

/* Values the sources themselves assert (golden rows, documented ids). */
struct asserted {
	const char *fixture;
	const char *name;
	int64_t raw;
	int scale;
	const char *text;
};

static const struct asserted source_asserts[] = {
	/* amsreader expected_unencrypted.h gh867-2: W 0/9, V, A, kWh 4752.026 */
	{ "at_sagemcom_t210d_gh867_plain", "power_import", 0, 0, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "power_export", 9, 0, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "voltage_l1", 2334, -1, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "voltage_l2", 2325, -1, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "voltage_l3", 2321, -1, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "current_l1", 2, -2, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "current_l2", 48, -2, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "current_l3", 83, -2, NULL },
	{ "at_sagemcom_t210d_gh867_plain", "energy_import", 4752026, 0, NULL },
	/* gh539-4: W 0/24, V, A, kWh 1403.036, meter id */
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "power_import", 0, 0, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "power_export", 24, 0, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "voltage_l1", 2330, -1, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "voltage_l2", 2325, -1, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "voltage_l3", 2330, -1, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "current_l1", 45, -2, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "current_l2", 43, -2, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "current_l3", 81, -2, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "energy_import", 1403036, 0, NULL },
	{ "at_vorarlberg_kaifa_ma309_gh539_plain", "obis_0_0_96_1_0", 0, 0, "1KFM0200182517" },
	/* fneur/smart-meter-tirol EXAMPLE.md (Gurux translation) */
	{ "at_tinetz_kaifa_ma309_2seg", "obis_0_0_96_1_0", 0, 0, "1KFM0100000035" },
	{ "at_tinetz_kaifa_ma309_2seg", "obis_0_0_42_0_0", 0, 0, "KFM1100100000035" },
	{ "at_tinetz_kaifa_ma309_2seg", "voltage_l1", 2308, -1, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "current_l1", 0, -2, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "power_import", 0, 0, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "power_export", 0, 0, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "energy_import", 9108, 0, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "energy_export", 0, 0, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "reactive_energy_import", 96, 0, NULL },
	{ "at_tinetz_kaifa_ma309_2seg", "reactive_energy_export", 9, 0, NULL },
	/* amsreader test_encrypted_kaifa_905: meter serial */
	{ "pl_kaifa_ma309_gh905_2seg", "obis_0_0_96_1_0", 0, 0, "1KFM0200169986" },
};

/* Truncation at every byte: no reading, the right reason. */
static void check_truncations(const uint8_t *apdu, size_t n)
{
	struct sm_reading_set *s = new_set();
	for (size_t k = 0; k < n; k++) {
		enum sm_err rc = decode_exact(apdu, k, s, NULL);
		assert_int_equal(rc, k == 0 ? SM_E_NOT_APDU : SM_E_TRUNCATED);
		assert_int_equal(s->n, 0);
	}
	free(s);
}

/* Offsets of every length/count byte of the body that starts at off. */
static size_t length_bytes(const uint8_t *p, size_t n, size_t off, size_t *out, size_t cap)
{
	size_t k = 0;
	size_t i = off;
	/* the body is a flat sequence of headers when read left to right */
	while (i < n && k < cap) {
		uint8_t t = p[i];
		if (t == SM_AXDR_ARRAY || t == SM_AXDR_STRUCT) {
			out[k++] = i + 1;
			i += 2;
		} else if (t == SM_AXDR_OCTETS || t == SM_AXDR_VISIBLE || t == SM_AXDR_UTF8) {
			out[k++] = i + 1;
			i += 2 + p[i + 1];
		} else if (t == SM_AXDR_UINT32 || t == SM_AXDR_INT32) {
			i += 5;
		} else if (t == SM_AXDR_UINT16 || t == SM_AXDR_INT16) {
			i += 3;
		} else {
			i += 2;
		}
	}
	return k;
}

static void check_length_corruption(const uint8_t *apdu, size_t n)
{
	static const uint8_t vals[] = { 0x00, 0x01, 0x05, 0x0B, 0x0D, 0x7F, 0x80, 0x81,
					0x82, 0x83, 0x84, 0x85, 0xFE, 0xFF };
	size_t offs[512];
	size_t body = apdu[5] == 0x0C ? 18 : 6;
	size_t k = length_bytes(apdu, n, body, offs, 512);
	assert_true(k > 10);
	struct sm_reading_set *s = new_set();
	uint8_t *mod = malloc(n);
	assert_non_null(mod);
	unsigned rejected = 0;
	for (size_t i = 0; i < k; i++) {
		for (size_t v = 0; v < sizeof vals + 2; v++) {
			memcpy(mod, apdu, n);
			uint8_t nv = v < sizeof vals ? vals[v] : (uint8_t)(apdu[offs[i]] + (v == sizeof vals ? 1 : -1));
			if (nv == apdu[offs[i]])
				continue;
			mod[offs[i]] = nv;
			enum sm_err rc = decode_exact(mod, n, s, NULL);
			assert_true(rc == SM_READINGS || rc == SM_E_SYNTAX || rc == SM_E_TRUNCATED ||
				    rc == SM_E_EMPTY);
			if (rc != SM_READINGS) {
				assert_int_equal(s->n, 0);
				rejected++;
			}
		}
	}
	assert_true(rejected > k);
	free(mod);
	free(s);
}

static void test_fixtures(void **state)
{
	(void)state;
	char dir[1024];
	fixture_dir(dir, sizeof dir);
	DIR *d = opendir(dir);
	if (d == NULL) {
		print_message("SKIP: no mbus-dlms fixtures under SM_SHARED (%s)\n", dir);
		skip();
	}
	struct dirent *e;
	unsigned files = 0, decoded = 0, asserted = 0;
	struct sm_reading_set *s = new_set();
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		const char *suffix = ".expected.json";
		if (nl <= strlen(suffix) || strcmp(e->d_name + nl - strlen(suffix), suffix) != 0)
			continue;
		char base[256], path[1400];
		snprintf(base, sizeof base, "%.*s", (int)(nl - strlen(suffix)), e->d_name);
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t jn = 0;
		char *json = slurp(path, &jn);
		assert_non_null(json);
		files++;
		struct jv js = { json, json + jn }, dec;
		static uint8_t apdu[8192];
		size_t n = fixture_apdu(dir, base, js, apdu, sizeof apdu);
		if (n == 0 || !jget(js, "decoded", &dec)) {
			print_message("%s: no plaintext APDU published (encrypted, no key)\n", base);
			free(json);
			continue;
		}
		struct sm_diag diag = { { 0 } };
		enum sm_err rc = decode_exact(apdu, n, s, &diag);
		if (rc != SM_READINGS)
			fail_msg("%s: %s (%s)", base, sm_err_name(rc), diag.msg);
		assert_string_equal(diag.msg, "");
		check_objects(base, dec, s);
		for (size_t i = 0; i < sizeof source_asserts / sizeof source_asserts[0]; i++) {
			const struct asserted *a = &source_asserts[i];
			if (strcmp(a->fixture, base) != 0)
				continue;
			const struct sm_reading *r = sm_set_find(s, a->name);
			if (r == NULL)
				fail_msg("%s: no %s", base, a->name);
			if (a->text)
				assert_text(s, r, a->text);
			else
				assert_true(r->raw == a->raw && r->scale == a->scale);
			asserted++;
		}
		print_message("%s: %zu readings, meter time %lld\n", base, s->n,
			      (long long)s->meter_time_ms);
		check_truncations(apdu, n);
		check_length_corruption(apdu, n);
		decoded++;
		free(json);
	}
	closedir(d);
	free(s);
	if (files == 0) {
		print_message("SKIP: no .expected.json in %s\n", dir);
		skip();
	}
	assert_int_equal(asserted, sizeof source_asserts / sizeof source_asserts[0]);
	assert_true(decoded >= 6);
}

/* ------------------------------------------------------------------ */
/* round trips                                                         */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static int64_t rnd_raw(void)
{
	switch (rnd() % 9) {
	case 0: return (int64_t)(rnd() % 256);
	case 1: return (int64_t)(rnd() % 65536);
	case 2: return (int64_t)(rnd() % 4294967296ull);
	case 3: return (int64_t)(rnd() >> 1);
	case 4: return -(int64_t)(rnd() % 128) - 1;
	case 5: return -(int64_t)(rnd() % 32768) - 1;
	case 6: return -(int64_t)(rnd() % 2147483648ull) - 1;
	case 7: return (int64_t)(rnd() | (1ull << 63));
	default: return rnd() % 2 ? INT64_MIN : INT64_MAX;
	}
}

static void random_set(struct sm_reading_set *s, bool with_id)
{
	static const enum sm_unit units[] = { SM_UNIT_NONE, SM_UNIT_WH, SM_UNIT_VARH, SM_UNIT_VAH,
					      SM_UNIT_W, SM_UNIT_VAR, SM_UNIT_VA, SM_UNIT_V,
					      SM_UNIT_A, SM_UNIT_HZ, SM_UNIT_M3, SM_UNIT_S,
					      SM_UNIT_CELSIUS, SM_UNIT_OTHER };
	static const char *others[] = { "h", "%", "K", "Ah", "dlms77", "m3/h", "1/varh" };
	sm_set_clear(s);
	size_t n = 1 + rnd() % 80;
	for (size_t i = 0; i < n; i++) {
		if (rnd() % 5 == 0) {
			char t[64];
			size_t len = rnd() % 40;
			for (size_t k = 0; k < len; k++)
				t[k] = (char)(0x20 + rnd() % 95);
			struct sm_obis o = sm_obis_make(0, 0, 96, (uint8_t)(2 + i % 200), (uint8_t)(i / 200), 255);
			assert_int_equal(sm_set_add_text(s, &o, t, len, 0), SM_OK);
			continue;
		}
		enum sm_unit u = units[rnd() % (sizeof units / sizeof units[0])];
		const char *ut = u == SM_UNIT_OTHER ? others[rnd() % (sizeof others / sizeof others[0])] : NULL;
		struct sm_obis o = sm_obis_make(1, (uint8_t)(rnd() % 2), (uint8_t)(1 + rnd() % 99),
						(uint8_t)(rnd() % 256), (uint8_t)i, (uint8_t)(rnd() % 3 ? 255 : rnd() % 100));
		assert_int_equal(sm_set_add_number(s, &o, rnd_raw(), (int8_t)((int)(rnd() % 256) - 128), u,
						   ut, ut ? strlen(ut) : 0, 0),
				 SM_OK);
	}
	if (with_id) {
		struct sm_obis id = sm_obis_make(0, 0, 96, 1, 0, 255);
		assert_int_equal(sm_set_add_text(s, &id, "181220000009", 12, 0), SM_OK);
	}
	s->meter_time_ms = rnd() % 4 == 0 ? 0 : 946684800000LL + (int64_t)(rnd() % 3155760000ull) * 1000 + (int64_t)(rnd() % 100) * 10;
	sm_set_finish(s);
}

static void assert_same_reading(const struct sm_reading_set *a, const struct sm_reading *x,
				const struct sm_reading_set *b, const struct sm_reading *y)
{
	assert_true(sm_obis_eq(&x->obis, &y->obis));
	assert_int_equal(x->is_text, y->is_text);
	if (x->is_text) {
		assert_int_equal(x->text_len, y->text_len);
		assert_memory_equal(sm_reading_text(a, x), sm_reading_text(b, y), x->text_len);
		return;
	}
	assert_true(x->raw == y->raw);
	assert_int_equal(x->scale, y->scale);
	assert_int_equal(x->unit, y->unit);
	if (x->unit == SM_UNIT_OTHER)
		assert_string_equal(x->unit_text, y->unit_text);
	assert_string_equal(x->name, y->name);
}

static void test_roundtrip_random(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set(), *t = new_set();
	static uint8_t buf[65536];
	for (int iter = 0; iter < 400; iter++) {
		random_set(s, iter % 3 == 0);
		enum sm_dlms_layout layout = iter % 2 ? SM_DLMS_FLAT : SM_DLMS_STRUCTS;
		int off = (int)(rnd() % 97) * 15 - 720;
		size_t n = 0;
		assert_int_equal(sm_dlms_encode(s, layout, (uint32_t)rnd(), off, buf, sizeof buf, &n), SM_OK);
		assert_int_equal(buf[0], 0x0F);
		struct sm_diag d = { { 0 } };
		assert_int_equal(decode_exact(buf, n, t, &d), SM_READINGS);
		assert_string_equal(d.msg, "");
		assert_int_equal(t->n, s->n);
		assert_int_equal(t->meter_time_ms, s->meter_time_ms);
		for (size_t i = 0; i < s->n; i++) {
			const struct sm_reading *y = sm_set_find_obis(t, &s->r[i].obis);
			assert_non_null(y);
			assert_same_reading(s, &s->r[i], t, y);
		}
		/* the flat layout sends the id last without OBIS, like EVN */
		if (layout == SM_DLMS_FLAT && iter % 3 == 0) {
			assert_int_equal(buf[n - 14], 0x09);
			assert_int_equal(buf[n - 13], 12);
			assert_memory_equal(buf + n - 12, "181220000009", 12);
		}
		/* too small a buffer: SM_E_FULL at every size below */
		if (iter < 20) {
			for (size_t cap = 0; cap < n; cap += 1 + cap / 7) {
				uint8_t *small = malloc(cap ? cap : 1);
				size_t m = 99;
				assert_int_equal(sm_dlms_encode(s, layout, 1, off, small, cap, &m), SM_E_FULL);
				assert_int_equal(m, 0);
				free(small);
			}
		}
	}
	free(s);
	free(t);
}

/* Our encoder reproduces the fixture shapes byte for byte. */
static void test_encoder_shapes(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct sm_obis o;
	o = sm_obis_make(1, 0, 1, 8, 0, 255);
	sm_set_add_number(s, &o, 12937, 0, SM_UNIT_WH, NULL, 0, 0);
	o = sm_obis_make(1, 0, 32, 7, 0, 255);
	sm_set_add_number(s, &o, 2337, -1, SM_UNIT_V, NULL, 0, 0);
	o = sm_obis_make(1, 0, 13, 7, 0, 255);
	sm_set_add_number(s, &o, 1000, -3, SM_UNIT_NONE, NULL, 0, 0);
	o = sm_obis_make(0, 0, 96, 1, 0, 255);
	sm_set_add_text(s, &o, "181220000009", 12, 0);
	s->meter_time_ms = 1632728835000LL;
	uint8_t buf[512];
	size_t n;
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 0x8006870E, 120, buf, sizeof buf, &n), SM_OK);
	static const uint8_t flat[] = {
		0x0F, 0x80, 0x06, 0x87, 0x0E, 0x0C, 0x07, 0xE5, 0x09, 0x1B, 0x01, 0x09, 0x2F, 0x0F,
		0x00, 0xFF, 0x88, 0x00, 0x02, 0x0B, 0x09, 0x0C, 0x07, 0xE5, 0x09, 0x1B, 0x01, 0x09,
		0x2F, 0x0F, 0x00, 0xFF, 0x88, 0x00, 0x09, 0x06, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF,
		0x12, 0x32, 0x89, 0x02, 0x02, 0x0F, 0x00, 0x16, 0x1E, 0x09, 0x06, 0x01, 0x00, 0x20,
		0x07, 0x00, 0xFF, 0x12, 0x09, 0x21, 0x02, 0x02, 0x0F, 0xFF, 0x16, 0x23, 0x09, 0x06,
		0x01, 0x00, 0x0D, 0x07, 0x00, 0xFF, 0x12, 0x03, 0xE8, 0x02, 0x02, 0x0F, 0xFD, 0x16,
		0xFF, 0x09, 0x0C, '1', '8', '1', '2', '2', '0', '0', '0', '0', '0', '0', '9',
	};
	assert_int_equal(n, sizeof flat);
	assert_memory_equal(buf, flat, n);

	assert_int_equal(sm_dlms_encode(s, SM_DLMS_STRUCTS, 0x0029B2DC, 120, buf, sizeof buf, &n), SM_OK);
	static const uint8_t structs[] = {
		0x0F, 0x00, 0x29, 0xB2, 0xDC, 0x0C, 0x07, 0xE5, 0x09, 0x1B, 0x01, 0x09, 0x2F, 0x0F,
		0x00, 0xFF, 0x88, 0x00, 0x02, 0x05,
		0x02, 0x02, 0x09, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFF,
		0x09, 0x0C, 0x07, 0xE5, 0x09, 0x1B, 0x01, 0x09, 0x2F, 0x0F, 0x00, 0xFF, 0x88, 0x00,
		0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x12, 0x32, 0x89,
		0x02, 0x02, 0x0F, 0x00, 0x16, 0x1E,
		0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x20, 0x07, 0x00, 0xFF, 0x12, 0x09, 0x21,
		0x02, 0x02, 0x0F, 0xFF, 0x16, 0x23,
		0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x0D, 0x07, 0x00, 0xFF, 0x12, 0x03, 0xE8,
		0x02, 0x02, 0x0F, 0xFD, 0x16, 0xFF,
		0x02, 0x02, 0x09, 0x06, 0x00, 0x00, 0x60, 0x01, 0x00, 0xFF,
		0x09, 0x0C, '1', '8', '1', '2', '2', '0', '0', '0', '0', '0', '0', '9',
	};
	assert_int_equal(n, sizeof structs);
	assert_memory_equal(buf, structs, n);
	check_truncations(buf, n);
	check_length_corruption(buf, n);

	/* no meter time: 00 in the header, no clock item */
	s->meter_time_ms = 0;
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_STRUCTS, 1, 0, buf, sizeof buf, &n), SM_OK);
	assert_int_equal(buf[5], 0x00);
	assert_int_equal(buf[6], 0x02);
	assert_int_equal(buf[7], 4);
	free(s);
}

static void test_encoder_errors(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	uint8_t buf[256];
	size_t n;
	struct sm_obis o;
	size_t used;
	/* letters, absent groups */
	assert_int_equal(sm_obis_parse("0-0:C.1.0", 9, &used, &o), SM_OK);
	sm_set_add_text(s, &o, "x", 1, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	sm_set_clear(s);
	assert_int_equal(sm_obis_parse("1.8.0", 5, &used, &o), SM_OK);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	/* F absent is 255 */
	sm_set_clear(s);
	assert_int_equal(sm_obis_parse("1-0:1.8.0", 9, &used, &o), SM_OK);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_OK);
	assert_memory_equal(buf + 8, "\x09\x06\x01\x00\x01\x08\x00\xFF", 8);
	/* units without a DLMS code */
	sm_set_clear(s);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_OTHER, "kWh?", 4, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	sm_set_clear(s);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_OTHER, "dlms256", 7, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	sm_set_clear(s);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_OTHER, "dlms", 4, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	/* offset and layout */
	sm_set_clear(s);
	sm_set_add_number(s, &o, 1, 0, SM_UNIT_WH, NULL, 0, 0);
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 721, buf, sizeof buf, &n), SM_E_RANGE);
	assert_int_equal(sm_dlms_encode(s, (enum sm_dlms_layout)7, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	/* meter times a date-time cannot carry */
	s->meter_time_ms = -1;
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_E_RANGE);
	s->meter_time_ms = INT64_MAX;
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 720, buf, sizeof buf, &n), SM_E_RANGE);
	s->meter_time_ms = 253402257599999LL; /* 9999-12-31T11:59:59.999Z */
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 720, buf, sizeof buf, &n), SM_OK);
	assert_memory_equal(buf + 6, "\x27\x0F\x0C\x1F", 4);
	free(s);
}

/* ------------------------------------------------------------------ */
/* values                                                              */
/* ------------------------------------------------------------------ */

static void test_every_integer_width(void **state)
{
	(void)state;
	struct apdu *a = apdu_new(NULL);
	struct sm_axdr_w *w = &a->w;
	sm_axdr_put_array(w, 13);
	for (int i = 0; i < 13; i++) {
		sm_axdr_put_struct(w, 3);
		put_obis(w, 1, 0, 1, 8, (uint8_t)i, 255);
		switch (i) {
		case 0: sm_axdr_put_i8(w, -7); break;
		case 1: sm_axdr_put_u8(w, 200); break;
		case 2: sm_axdr_put_i16(w, -30000); break;
		case 3: sm_axdr_put_u16(w, 60000); break;
		case 4: sm_axdr_put_i32(w, -2000000000); break;
		case 5: sm_axdr_put_u32(w, 4000000000u); break;
		case 6: sm_axdr_put_i64(w, INT64_MIN); break;
		case 7: sm_axdr_put_u64(w, (uint64_t)INT64_MAX); break;
		case 8: sm_axdr_put_enum(w, 3); break;
		case 9: sm_axdr_put_bool(w, true); break;
		case 10: sm_axdr_put_bcd(w, 99); break;
		case 11: sm_axdr_put_u64(w, (uint64_t)INT64_MAX + 1); break; /* skipped */
		default: sm_axdr_put_i64(w, INT64_MAX); break;
		}
		put_su(w, (int8_t)(i - 6), 30);
	}
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, 12);
	assert_non_null(strstr(d.msg, "1 value skipped"));
	assert_non_null(strstr(d.msg, "1-0:1.8.11"));
	static const int64_t want[] = { -7, 200, -30000, 60000, -2000000000, 4000000000LL, INT64_MIN,
					INT64_MAX, 3, 1, 99, 0, INT64_MAX };
	for (int i = 0; i < 13; i++) {
		if (i == 11) {
			assert_null(find(s, 1, 0, 1, 8, 11));
			continue;
		}
		assert_num(find(s, 1, 0, 1, 8, (uint8_t)i), want[i], i - 6, SM_UNIT_WH);
	}
	free(a);
	free(s);
}

struct float_case {
	bool single;
	double v;
	int8_t scaler;
	int64_t raw;
	int scale;
};

static void test_floats(void **state)
{
	(void)state;
	static const struct float_case cases[] = {
		{ true, 230.1f, 0, 2301, -1 },
		{ true, 0.3f, 0, 3, -1 },
		{ true, -2.5f, 0, -25, -1 },
		{ true, 1e10f, 0, 1, 10 },
		{ true, 16777216.0f, 0, 16777216, 0 },
		{ true, 1.17549435e-38f, 0, 11754944, -45 },
		{ true, 3.40282347e38f, 0, 34028235, 31 },
		{ true, 49.98f, 0, 4998, -2 },
		{ true, 1234.5f, 3, 12345, 2 },
		{ false, 0.1, 0, 1, -1 },
		{ false, 230.1, -1, 2301, -2 },
		{ false, 0.0, 0, 0, 0 },
		{ false, -0.0, 0, 0, 0 },
		{ false, 123456789012345.6, 0, 1234567890123456, -1 },
		{ false, 4.9e-324, 0, 0, 0 }, /* 5e-324: scale out of int8: skipped */
	};
	size_t nc = sizeof cases / sizeof cases[0];
	struct apdu *a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, (uint32_t)(3 * nc));
	for (size_t i = 0; i < nc; i++) {
		put_obis(&a->w, 1, 0, 32, 7, (uint8_t)i, 255);
		if (cases[i].single)
			sm_axdr_put_float32(&a->w, (float)cases[i].v);
		else
			sm_axdr_put_float64(&a->w, cases[i].v);
		put_su(&a->w, cases[i].scaler, 35);
	}
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, nc - 1);
	assert_non_null(strstr(d.msg, "1-0:32.7.14"));
	for (size_t i = 0; i + 1 < nc; i++)
		assert_num(find(s, 1, 0, 32, 7, (uint8_t)i), cases[i].raw, cases[i].scale, SM_UNIT_V);
	free(a);

	/* NaN and infinities are skipped; alone they leave an empty set */
	a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, 6);
	put_obis(&a->w, 1, 0, 14, 7, 0, 255);
	sm_axdr_put_float32(&a->w, NAN);
	put_obis(&a->w, 1, 0, 14, 7, 1, 255);
	sm_axdr_put_float64(&a->w, INFINITY);
	put_obis(&a->w, 1, 0, 14, 7, 2, 255);
	sm_axdr_put_float64(&a->w, -INFINITY);
	assert_int_equal(apdu_decode(a, s, &d), SM_E_EMPTY);
	assert_non_null(strstr(d.msg, "3 values skipped"));
	assert_int_equal(s->n, 0);
	free(a);
	free(s);
}

static void test_strings_dates_bits(void **state)
{
	(void)state;
	struct sm_axdr_datetime dt;
	sm_axdr_datetime_from_ms(1632728835000LL, 120, &dt);
	struct apdu *a = apdu_new(NULL);
	struct sm_axdr_w *w = &a->w;
	sm_axdr_put_struct(w, 22);
	put_obis(w, 0, 0, 96, 1, 1, 255);
	sm_axdr_put_string(w, SM_AXDR_OCTETS, "\x01\x02\xAB", 3); /* binary: hex */
	put_obis(w, 0, 0, 96, 1, 2, 255);
	sm_axdr_put_string(w, SM_AXDR_VISIBLE, "Kaifa MA309", 11);
	put_obis(w, 0, 0, 96, 1, 3, 255);
	sm_axdr_put_string(w, SM_AXDR_UTF8, "Z\xC3\xA4hler", 7);
	put_obis(w, 0, 0, 96, 1, 4, 255);
	sm_axdr_put_string(w, SM_AXDR_UTF8, "bad\xC3", 4); /* invalid UTF-8: hex */
	put_obis(w, 0, 0, 0, 1, 2, 255);
	sm_axdr_put_datetime(w, &dt, true);
	put_obis(w, 0, 0, 0, 1, 3, 255);
	sm_axdr_put_datetime(w, &dt, false);
	put_obis(w, 0, 0, 0, 1, 4, 255);
	sm_axdr_put_date(w, &dt);
	put_obis(w, 0, 0, 0, 1, 5, 255);
	sm_axdr_put_time(w, &dt);
	put_obis(w, 0, 0, 96, 5, 0, 255);
	sm_axdr_put_bits(w, (const uint8_t *)"\xA5\x80", 9);
	put_obis(w, 0, 0, 96, 5, 1, 255);
	sm_axdr_put_bits(w, (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08\x09", 72);
	put_obis(w, 0, 0, 96, 13, 0, 255);
	sm_axdr_put_null(w); /* no value: skipped */
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, 10);
	assert_text(s, find(s, 0, 0, 96, 1, 1), "0102AB");
	assert_text(s, find(s, 0, 0, 96, 1, 2), "Kaifa MA309");
	assert_text(s, find(s, 0, 0, 96, 1, 3), "Z\xC3\xA4hler");
	assert_text(s, find(s, 0, 0, 96, 1, 4), "626164C3");
	assert_text(s, find(s, 0, 0, 0, 1, 2), "2021-09-27T09:47:15+02:00");
	assert_text(s, find(s, 0, 0, 0, 1, 3), "2021-09-27T09:47:15+02:00");
	assert_text(s, find(s, 0, 0, 0, 1, 4), "2021-09-27");
	assert_text(s, find(s, 0, 0, 0, 1, 5), "09:47:15");
	assert_num(find(s, 0, 0, 96, 5, 0), 331, 0, SM_UNIT_NONE);
	assert_text(s, find(s, 0, 0, 96, 5, 1), "010203040506070809");
	assert_null(find(s, 0, 0, 96, 13, 0));
	assert_non_null(strstr(d.msg, "null"));
	/* no date-time without OBIS, no clock: no meter time */
	assert_int_equal(s->meter_time_ms, 0);
	free(a);
	free(s);
}

static void test_units(void **state)
{
	(void)state;
	static const struct {
		uint8_t code;
		enum sm_unit unit;
		int shift;
		const char *text;
	} cases[] = {
		{ 27, SM_UNIT_W, 0, NULL },     { 28, SM_UNIT_VA, 0, NULL },
		{ 29, SM_UNIT_VAR, 0, NULL },   { 30, SM_UNIT_WH, 0, NULL },
		{ 31, SM_UNIT_VAH, 0, NULL },   { 32, SM_UNIT_VARH, 0, NULL },
		{ 33, SM_UNIT_A, 0, NULL },     { 35, SM_UNIT_V, 0, NULL },
		{ 44, SM_UNIT_HZ, 0, NULL },    { 7, SM_UNIT_S, 0, NULL },
		{ 9, SM_UNIT_CELSIUS, 0, NULL }, { 13, SM_UNIT_M3, 0, NULL },
		{ 14, SM_UNIT_M3, 0, NULL },    { 19, SM_UNIT_M3, -3, NULL },
		{ 0, SM_UNIT_NONE, 0, NULL },   { 255, SM_UNIT_NONE, 0, NULL },
		{ 5, SM_UNIT_OTHER, 0, "h" },   { 56, SM_UNIT_OTHER, 0, "%" },
		{ 52, SM_UNIT_OTHER, 0, "K" },  { 200, SM_UNIT_OTHER, 0, "dlms200" },
	};
	size_t nc = sizeof cases / sizeof cases[0];
	struct apdu *a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, (uint32_t)nc);
	for (size_t i = 0; i < nc; i++) {
		sm_axdr_put_struct(&a->w, 3);
		put_obis(&a->w, 1, 0, 99, 7, (uint8_t)i, 255);
		sm_axdr_put_u16(&a->w, 1234);
		put_su(&a->w, -1, cases[i].code);
	}
	struct sm_reading_set *s = new_set();
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->n, nc);
	for (size_t i = 0; i < nc; i++) {
		const struct sm_reading *r = find(s, 1, 0, 99, 7, (uint8_t)i);
		assert_num(r, 1234, -1 + cases[i].shift, cases[i].unit);
		if (cases[i].text)
			assert_string_equal(r->unit_text, cases[i].text);
	}
	/* every DLMS unit code round-trips through the encoder */
	uint8_t buf[256];
	size_t n;
	struct sm_reading_set *t = new_set();
	for (unsigned code = 0; code < 256; code++) {
		free(a);
		a = apdu_new(NULL);
		sm_axdr_put_struct(&a->w, 3);
		put_obis(&a->w, 1, 0, 1, 8, 0, 255);
		sm_axdr_put_u8(&a->w, 5);
		put_su(&a->w, 0, (uint8_t)code);
		assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
		assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_OK);
		assert_int_equal(decode_exact(buf, n, t, NULL), SM_READINGS);
		assert_same_reading(s, &s->r[0], t, &t->r[0]);
	}
	free(t);
	free(a);
	free(s);
}

/* ------------------------------------------------------------------ */
/* layouts                                                             */
/* ------------------------------------------------------------------ */

static void test_layout_variants(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };

	/* Nordic style: array of structures, values without scaler/unit, an
	 * OBIS whose "value" is a structure (walked, not a reading), a scaler
	 * as int16 and the unit as uint8, deeper nesting */
	struct apdu *a = apdu_new(NULL);
	struct sm_axdr_w *w = &a->w;
	sm_axdr_put_array(w, 5);
	sm_axdr_put_struct(w, 2);
	put_obis(w, 1, 0, 1, 7, 0, 255);
	sm_axdr_put_u32(w, 1234);
	sm_axdr_put_struct(w, 3);
	put_obis(w, 1, 0, 32, 7, 0, 255);
	sm_axdr_put_u16(w, 2301);
	sm_axdr_put_struct(w, 2);
	sm_axdr_put_i16(w, -1);
	sm_axdr_put_u8(w, 35);
	sm_axdr_put_struct(w, 2);
	put_obis(w, 0, 0, 99, 1, 0, 255);
	sm_axdr_put_struct(w, 2); /* the value is a container: walked */
	put_obis(w, 1, 0, 14, 7, 0, 255);
	sm_axdr_put_u16(w, 4998);
	sm_axdr_put_array(w, 1);
	sm_axdr_put_array(w, 1);
	sm_axdr_put_struct(w, 3);
	put_obis(w, 1, 0, 2, 8, 0, 255);
	sm_axdr_put_i64(w, 77);
	put_su(w, 3, 30);
	/* a trailing OBIS with nothing after it */
	put_obis(w, 1, 0, 3, 8, 0, 255);
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, 4);
	assert_num(find(s, 1, 0, 1, 7, 0), 1234, 0, SM_UNIT_NONE);
	assert_num(find(s, 1, 0, 32, 7, 0), 2301, -1, SM_UNIT_V);
	assert_num(find(s, 1, 0, 14, 7, 0), 4998, 0, SM_UNIT_NONE);
	assert_num(find(s, 1, 0, 2, 8, 0), 77, 3, SM_UNIT_WH);
	assert_string_equal(sm_set_find(s, "energy_export")->name, "energy_export");
	free(a);

	/* a structure that looks like scaler/unit but is not: {int8, int8} */
	a = apdu_new(NULL);
	w = &a->w;
	sm_axdr_put_struct(w, 3);
	put_obis(w, 1, 0, 1, 8, 0, 255);
	sm_axdr_put_u32(w, 5);
	sm_axdr_put_struct(w, 2);
	sm_axdr_put_i8(w, 1);
	sm_axdr_put_i8(w, 30);
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, 1);
	assert_num(find(s, 1, 0, 1, 8, 0), 5, 0, SM_UNIT_NONE);
	free(a);

	/* the body is a single value, not a container */
	a = apdu_new(NULL);
	sm_axdr_put_u8(&a->w, 5);
	assert_int_equal(apdu_decode(a, s, &d), SM_E_EMPTY);
	assert_int_equal(s->n, 0);
	free(a);
	free(s);
}

static void test_meter_time_rules(void **state)
{
	(void)state;
	struct sm_axdr_datetime t1, t2, t3;
	sm_axdr_datetime_from_ms(1632728835000LL, 120, &t1); /* notification */
	sm_axdr_datetime_from_ms(1632728836000LL, 60, &t2);  /* clock object */
	sm_axdr_datetime_from_ms(1632728837000LL, 0, &t3);   /* bare date-time */
	uint8_t b1[12];
	sm_axdr_datetime_put(&t1, b1);
	struct sm_reading_set *s = new_set();
	for (int variant = 0; variant < 5; variant++) {
		struct apdu *a = apdu_new(variant == 0 ? b1 : NULL);
		struct sm_axdr_w *w = &a->w;
		sm_axdr_put_struct(w, 5);
		sm_axdr_put_datetime(w, &t3, true);
		sm_axdr_put_struct(w, 2);
		put_obis(w, 0, 0, 1, 0, 0, 255);
		struct sm_axdr_datetime c = t2;
		if (variant == 2)
			c.deviation = SM_AXDR_DEVIATION_UNKNOWN;
		if (variant == 3)
			c.year = 0xFFFF;
		sm_axdr_put_datetime(w, &c, variant != 4);
		put_obis(w, 1, 0, 1, 8, 0, 255);
		sm_axdr_put_u32(w, 1);
		put_su(w, 0, 30);
		assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
		assert_int_equal(s->n, 1); /* the clock object is no reading */
		switch (variant) {
		case 0: assert_int_equal(s->meter_time_ms, 1632728835000LL); break;
		case 1: assert_int_equal(s->meter_time_ms, 1632728836000LL); break;
		case 2:
		case 3: assert_int_equal(s->meter_time_ms, 1632728837000LL); break;
		default: assert_int_equal(s->meter_time_ms, 1632728836000LL); break;
		}
		free(a);
	}
	/* an unknown deviation in the notification: no meter time at all */
	uint8_t bu[12];
	memcpy(bu, b1, 12);
	bu[9] = 0x80;
	bu[10] = 0x00;
	struct apdu *a = apdu_new(bu);
	sm_axdr_put_struct(&a->w, 2);
	put_obis(&a->w, 1, 0, 1, 8, 0, 255);
	sm_axdr_put_u32(&a->w, 1);
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->meter_time_ms, 0);
	free(a);
	free(s);
}

static void test_orphan_id(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	/* the body names its own 0-0:96.1.0: the unnamed string is dropped */
	struct apdu *a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, 4);
	put_obis(&a->w, 0, 0, 96, 1, 0, 255);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "ID1", 3);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "181220000009", 12);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "second", 6);
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->n, 1);
	assert_text(s, find(s, 0, 0, 96, 1, 0), "ID1");
	free(a);
	/* a 0-0:96.1.0 of another billing period F does not count */
	a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, 3);
	put_obis(&a->w, 0, 0, 96, 1, 0, 254);
	sm_axdr_put_u8(&a->w, 33);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "181220000009", 12);
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->n, 2);
	assert_text(s, find(s, 0, 0, 96, 1, 0), "181220000009");
	free(a);
	/* only the first printable unnamed string of 1..32 bytes counts */
	a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, 4);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "\x01\x02", 2);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "012345678901234567890123456789012", 33);
	sm_axdr_put_string(&a->w, SM_AXDR_VISIBLE, "METER-7", 7);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "later", 5);
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->n, 1);
	assert_text(s, find(s, 0, 0, 96, 1, 0), "METER-7");
	assert_string_equal(s->r[0].name, "obis_0_0_96_1_0");
	free(a);
	/* a six-character meter number last in the list is no OBIS */
	a = apdu_new(NULL);
	sm_axdr_put_struct(&a->w, 4);
	put_obis(&a->w, 1, 0, 1, 8, 0, 255);
	sm_axdr_put_u32(&a->w, 1);
	put_su(&a->w, 0, 30);
	sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, "123456", 6);
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_int_equal(s->n, 2);
	assert_text(s, find(s, 0, 0, 96, 1, 0), "123456");
	/* and our flat encoder gives it back the same way */
	uint8_t buf[128];
	size_t n;
	struct sm_reading_set *t = new_set();
	assert_int_equal(sm_dlms_encode(s, SM_DLMS_FLAT, 1, 0, buf, sizeof buf, &n), SM_OK);
	assert_memory_equal(buf + n - 8, "\x09\x06" "123456", 8);
	assert_int_equal(decode_exact(buf, n, t, NULL), SM_READINGS);
	assert_int_equal(t->n, 2);
	assert_text(t, find(t, 0, 0, 96, 1, 0), "123456");
	free(t);
	free(a);
	free(s);
}

static void test_mbus_channel_media(void **state)
{
	(void)state;
	struct apdu *a = apdu_new(NULL);
	struct sm_axdr_w *w = &a->w;
	sm_axdr_put_struct(w, 10);
	put_obis(w, 0, 1, 24, 1, 0, 255);
	sm_axdr_put_u8(w, 3); /* gas */
	put_obis(w, 0, 1, 24, 2, 1, 255);
	sm_axdr_put_u32(w, 123456);
	put_su(w, -3, 13);
	put_obis(w, 0, 2, 24, 1, 0, 255);
	sm_axdr_put_u8(w, 7); /* water */
	put_obis(w, 0, 2, 24, 2, 1, 255);
	sm_axdr_put_u32(w, 5);
	put_su(w, 0, 19); /* litres */
	struct sm_reading_set *s = new_set();
	assert_int_equal(apdu_decode(a, s, NULL), SM_READINGS);
	assert_num(sm_set_find(s, "gas_volume"), 123456, -3, SM_UNIT_M3);
	assert_num(sm_set_find(s, "water_volume"), 5, -3, SM_UNIT_M3);
	free(a);
	free(s);
}

/* ------------------------------------------------------------------ */
/* malformed input and limits                                          */
/* ------------------------------------------------------------------ */

static void test_not_apdu_and_header(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	static const uint8_t db[] = { 0xDB, 0x08, 'K', 'F', 'M' };
	assert_int_equal(decode_exact(db, sizeof db, s, &d), SM_E_NOT_APDU);
	assert_non_null(strstr(d.msg, "DB"));
	assert_int_equal(sm_dlms_decode(NULL, 0, s, &d), SM_E_NOT_APDU);
	static const uint8_t bad_dt[] = { 0x0F, 0, 0, 0, 1, 0x05, 0x02, 0x00 };
	assert_int_equal(decode_exact(bad_dt, sizeof bad_dt, s, &d), SM_E_SYNTAX);
	/* empty body structure */
	static const uint8_t empty[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x02, 0x00 };
	assert_int_equal(decode_exact(empty, sizeof empty, s, &d), SM_E_EMPTY);
	/* unknown tag inside: the whole APDU is rejected, no partial readings */
	static const uint8_t unknown[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x02, 0x03, 0x09, 0x06, 1, 0,
					   1, 8, 0, 0xFF, 0x11, 0x05, 0x13, 0x00 };
	assert_int_equal(decode_exact(unknown, sizeof unknown, s, &d), SM_E_SYNTAX);
	assert_int_equal(s->n, 0);
	assert_non_null(strstr(d.msg, "offset 6"));
	/* trailing bytes after the body: decoded, noted */
	static const uint8_t trailing[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x02, 0x02, 0x09, 0x06, 1, 0,
					    1, 8, 0, 0xFF, 0x11, 0x05, 0xAA, 0xBB };
	assert_int_equal(decode_exact(trailing, sizeof trailing, s, &d), SM_READINGS);
	assert_int_equal(s->n, 1);
	assert_non_null(strstr(d.msg, "2 bytes after"));
	free(s);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	for (unsigned depth = 1; depth <= 300; depth += depth < 20 ? 1 : 40) {
		struct apdu *a = apdu_new(NULL);
		for (unsigned i = 0; i < depth; i++)
			sm_axdr_put_struct(&a->w, i + 1 == depth ? 2 : 1);
		put_obis(&a->w, 1, 0, 1, 8, 0, 255);
		sm_axdr_put_u8(&a->w, 9);
		enum sm_err rc = apdu_decode(a, s, NULL);
		if (depth <= SM_AXDR_MAX_DEPTH) {
			assert_int_equal(rc, SM_READINGS);
			assert_num(find(s, 1, 0, 1, 8, 0), 9, 0, SM_UNIT_NONE);
		} else {
			assert_int_equal(rc, SM_E_SYNTAX);
			assert_int_equal(s->n, 0);
		}
		free(a);
	}
	free(s);
}

static void test_huge_counts(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set();
	static const uint8_t a[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00 };
	static const uint8_t b[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x02, 0x82, 0xFF, 0xFF, 0x00 };
	static const uint8_t c[] = { 0x0F, 0, 0, 0, 1, 0x00, 0x02, 0x01, 0x09, 0x84, 0x7F, 0xFF,
				     0xFF, 0xFF };
	assert_int_equal(decode_exact(a, sizeof a, s, NULL), SM_E_SYNTAX);
	assert_int_equal(decode_exact(b, sizeof b, s, NULL), SM_E_TRUNCATED);
	assert_int_equal(decode_exact(c, sizeof c, s, NULL), SM_E_TRUNCATED);
	free(s);
}

static void test_full_set(void **state)
{
	(void)state;
	/* more readings than a set holds: the first SM_MAX_READINGS kept */
	struct apdu *a = apdu_new(NULL);
	size_t total = SM_MAX_READINGS + 100;
	sm_axdr_put_array(&a->w, (uint32_t)total);
	for (size_t i = 0; i < total; i++) {
		sm_axdr_put_struct(&a->w, 2);
		put_obis(&a->w, 1, 0, 1, 8, (uint8_t)(i % 256), (uint8_t)(i / 256));
		sm_axdr_put_u16(&a->w, (uint16_t)i);
	}
	struct sm_reading_set *s = new_set();
	struct sm_diag d = { { 0 } };
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, SM_MAX_READINGS);
	assert_non_null(strstr(d.msg, "too many readings"));
	free(a);
	/* a text pool overflow (long binary strings as hex) likewise */
	a = apdu_new(NULL);
	static uint8_t blob[1000];
	sm_axdr_put_array(&a->w, 9);
	for (int i = 0; i < 9; i++) {
		sm_axdr_put_struct(&a->w, 2);
		put_obis(&a->w, 0, 0, 96, 99, (uint8_t)i, 255);
		sm_axdr_put_string(&a->w, SM_AXDR_OCTETS, blob, sizeof blob);
	}
	assert_int_equal(apdu_decode(a, s, &d), SM_READINGS);
	assert_int_equal(s->n, SM_TEXT_POOL / 2000);
	assert_non_null(strstr(d.msg, "too many readings"));
	free(a);
	free(s);
}

/* Every byte of an encoded APDU set to every value: never a crash or an
 * overread; a rejected APDU never leaves readings behind. */
static void test_corrupt_every_byte(void **state)
{
	(void)state;
	struct sm_reading_set *s = new_set(), *t = new_set();
	struct sm_obis o = sm_obis_make(1, 0, 1, 8, 0, 255);
	sm_set_add_number(s, &o, 12937, 0, SM_UNIT_WH, NULL, 0, 0);
	o = sm_obis_make(1, 0, 31, 7, 0, 255);
	sm_set_add_number(s, &o, -5, -2, SM_UNIT_A, NULL, 0, 0);
	o = sm_obis_make(0, 0, 96, 1, 0, 255);
	sm_set_add_text(s, &o, "1KFM0200182517", 14, 0);
	s->meter_time_ms = 1632728835000LL;
	for (int layout = SM_DLMS_FLAT; layout <= SM_DLMS_STRUCTS; layout++) {
		uint8_t buf[256], mod[256];
		size_t n;
		assert_int_equal(sm_dlms_encode(s, (enum sm_dlms_layout)layout, 7, 120, buf, sizeof buf, &n),
				 SM_OK);
		for (size_t k = 0; k < n; k++) {
			for (unsigned v = 0; v < 256; v++) {
				if (v == buf[k])
					continue;
				memcpy(mod, buf, n);
				mod[k] = (uint8_t)v;
				enum sm_err rc = decode_exact(mod, n, t, NULL);
				if (rc != SM_READINGS)
					assert_int_equal(t->n, 0);
			}
		}
	}
	free(s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_encoder_shapes),
		cmocka_unit_test(test_encoder_errors),
		cmocka_unit_test(test_every_integer_width),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_strings_dates_bits),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_layout_variants),
		cmocka_unit_test(test_meter_time_rules),
		cmocka_unit_test(test_orphan_id),
		cmocka_unit_test(test_mbus_channel_media),
		cmocka_unit_test(test_not_apdu_and_header),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_huge_counts),
		cmocka_unit_test(test_full_set),
		cmocka_unit_test(test_corrupt_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
