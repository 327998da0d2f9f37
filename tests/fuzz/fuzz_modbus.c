/*
 * fuzz_modbus.c - libFuzzer target for the Modbus register maps: word
 * decoding, encoding, map checking and request planning.  Built with clang
 * -fsanitize=fuzzer (make fuzz-modbus) or with a replay main() over the
 * seed corpus (make check).
 *
 * Input layout (every part runs on every input):
 *   byte 0        a built-in model (index modulo the table)
 *   byte 1        unanswered requests: bit i set = request i (mod 8) failed
 *   bytes 2..     (a) the poll's words, big-endian pairs (missing words 0);
 *                 (c) a small map: count, max_count, even|gap, then 4 bytes
 *                     per register (function|order|type, address x2, name)
 *   last 16 bytes (b) one register: type, order, flags, exp, mul (int32 BE,
 *                     0 = 1), four words (BE)
 * Invariants (a broken one aborts, a finding):
 *   (a) sm_mb_decode's readings are the map's registers in map order, none
 *       from an unanswered request, each re-encodes to the words it came
 *       from; the return code agrees with the count;
 *   (b) a decoded value re-encodes (SM_OK) to words that decode to the
 *       same value, the same words unless the value is zero; "no value"
 *       only for the marker;
 *   (c) sm_mb_plan_make fails exactly when sm_mb_map_check does; a plan
 *       covers every register once, within max_count, the even rule and
 *       max_gap, sorted, with consistent offsets, as few requests as a
 *       dynamic program over the same limits finds; sm_mb_plan_format
 *       writes one line per request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "modbus_map.h"
#include "reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                        \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "fuzz_modbus: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                        \
		}                                                                       \
	} while (0)

struct ctx {
	struct sm_mb_plan plan;
	struct sm_reading_set set;
	uint16_t words[SM_MB_MAX_WORDS];
	bool ok[SM_MB_MAX_REQS];
	char text[8192];
};

static bool value_eq(int64_t r1, int s1, int64_t r2, int s2)
{
	if (r1 == 0 || r2 == 0)
		return r1 == r2;
	while (r1 % 10 == 0) {
		r1 /= 10;
		s1++;
	}
	while (r2 % 10 == 0) {
		r2 /= 10;
		s2++;
	}
	return r1 == r2 && s1 == s2;
}

static bool is_marker(const struct sm_mb_reg *r, const uint16_t *w)
{
	uint64_t u = 0;
	unsigned n = sm_mb_type_words(r->type);
	bool rev = r->order == SM_MB_CDAB || r->order == SM_MB_DCBA;
	bool swap = r->order == SM_MB_BADC || r->order == SM_MB_DCBA;
	for (unsigned i = 0; i < n; i++) {
		uint16_t x = w[rev ? n - 1 - i : i];
		if (swap)
			x = (uint16_t)((x >> 8) | (x << 8));
		u = (u << 16) | x;
	}
	switch (r->type) {
	case SM_MB_INT16: return u == 0x7FFFu;
	case SM_MB_INT32: return u == 0x7FFFFFFFu;
	case SM_MB_INT64: return u == (uint64_t)INT64_MAX;
	case SM_MB_UINT16: return u == 0xFFFFu;
	case SM_MB_UINT32:
	case SM_MB_FLOAT32: return u == 0xFFFFFFFFu;
	default: return u == UINT64_MAX;
	}
}

/* decode -> encode -> decode of one register's words */
static void round_trip(const struct sm_mb_reg *r, const uint16_t *w)
{
	int64_t raw, raw2;
	int8_t sc, sc2;
	uint16_t w2[4];
	enum sm_err e = sm_mb_value_decode(r, w, &raw, &sc);
	if (e == SM_E_EMPTY) {
		CHECK((r->flags & SM_MB_F_INVALID_MAX) != 0 && is_marker(r, w));
		return;
	}
	if (e != SM_OK) {
		CHECK(e == SM_E_RANGE);
		return;
	}
	CHECK(sm_mb_value_encode(r, raw, sc, w2) == SM_OK);
	CHECK(sm_mb_value_decode(r, w2, &raw2, &sc2) == SM_OK);
	CHECK(value_eq(raw, sc, raw2, sc2));
	if (raw != 0)
		CHECK(memcmp(w, w2, sm_mb_type_words(r->type) * sizeof w[0]) == 0);
}

/* (a) a model's poll */
static void part_model(struct ctx *c, const uint8_t *data, size_t size)
{
	size_t nmodels = 0;
	while (sm_mb_models[nmodels] != NULL)
		nmodels++;
	const struct sm_mb_map *m = sm_mb_models[data[0] % nmodels];
	CHECK(sm_mb_plan_make(m, &c->plan, NULL) == SM_OK);
	const struct sm_mb_plan *p = &c->plan;
	uint8_t failed = size > 1 ? data[1] : 0;
	for (size_t i = 0; i < p->nreq; i++)
		c->ok[i] = ((failed >> (i % 8)) & 1u) == 0;
	for (size_t i = 0; i < p->nwords; i++) {
		size_t o = 2 + 2 * i;
		c->words[i] = o + 1 < size ? (uint16_t)(data[o] << 8 | data[o + 1]) : 0;
	}
	/* an exactly-sized copy of the words so overreads are caught */
	uint16_t *w = malloc(p->nwords * sizeof *w);
	CHECK(w != NULL);
	memcpy(w, c->words, p->nwords * sizeof *w);
	unsigned bad = 12345;
	enum sm_err e = sm_mb_decode(m, p, w, c->ok, &c->set, &bad);
	CHECK((e == SM_READINGS) == (c->set.n > 0));
	CHECK(e == SM_READINGS || e == SM_E_EMPTY);
	CHECK(c->set.n + bad <= m->nregs);
	size_t k = 0;
	unsigned nbad = 0;
	for (size_t i = 0; i < m->nregs; i++) {
		const struct sm_mb_reg *r = &m->regs[i];
		const struct sm_mb_req *q = &p->req[p->reg_req[i]];
		const uint16_t *rw = w + q->word_off + (r->address - q->start);
		int64_t raw;
		int8_t sc;
		enum sm_err re = sm_mb_value_decode(r, rw, &raw, &sc);
		if (!c->ok[p->reg_req[i]])
			continue;
		if (re == SM_E_RANGE)
			nbad++;
		if (re != SM_OK)
			continue;
		CHECK(k < c->set.n);
		const struct sm_reading *rd = &c->set.r[k++];
		CHECK(strcmp(rd->name, r->name) == 0);
		CHECK(rd->raw == raw && rd->scale == sc && rd->unit == r->unit);
		CHECK(rd->obis.present == r->obis.present);
		round_trip(r, rw);
	}
	CHECK(k == c->set.n);
	CHECK(nbad == bad);
	struct sm_buf b;
	sm_buf_init(&b, c->text, sizeof c->text);
	CHECK(sm_mb_plan_format(m, p, &b) == SM_OK);
	free(w);
}

/* (b) one register */
static void part_register(const uint8_t *data, size_t size)
{
	if (size < 16)
		return;
	const uint8_t *d = data + size - 16;
	struct sm_mb_reg r;
	memset(&r, 0, sizeof r);
	r.name = "x";
	r.function = SM_MB_FC_HOLDING;
	r.type = (enum sm_mb_type)(d[0] % 8);
	r.order = (enum sm_mb_order)(d[1] % 4);
	r.flags = d[2] & SM_MB_F_INVALID_MAX;
	r.exp = (int8_t)d[3];
	int32_t mul = (int32_t)((uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7]);
	r.mul = mul != 0 ? mul : 1;
	uint16_t *w = malloc(4 * sizeof *w);
	CHECK(w != NULL);
	for (int i = 0; i < 4; i++)
		w[i] = (uint16_t)(d[8 + 2 * i] << 8 | d[9 + 2 * i]);
	round_trip(&r, w);
	/* and an integer value of the input encoded, if representable */
	int64_t v = (int64_t)((uint64_t)d[8] << 56 | (uint64_t)d[9] << 48 | (uint64_t)d[10] << 40 |
			      (uint64_t)d[11] << 32 | (uint64_t)d[12] << 24 | (uint64_t)d[13] << 16 |
			      (uint64_t)d[14] << 8 | d[15]);
	int8_t sc = (int8_t)(d[2] >> 1) - 32;
	uint16_t w2[4];
	if (sm_mb_value_encode(&r, v >> (d[1] % 64), sc, w2) == SM_OK) {
		int64_t raw;
		int8_t sc2;
		CHECK(sm_mb_value_decode(&r, w2, &raw, &sc2) == SM_OK);
		CHECK(value_eq(v >> (d[1] % 64), sc, raw, sc2));
	}
	free(w);
}

/* the optimum over blocks of sorted registers (one function) */
static size_t dp_requests(const struct sm_mb_map *m, uint8_t fc)
{
	uint32_t a[16], e[16];
	size_t n = 0;
	for (size_t i = 0; i < m->nregs; i++) {
		if (m->regs[i].function != fc)
			continue;
		uint32_t ad = m->regs[i].address, en = ad + sm_mb_type_words(m->regs[i].type);
		size_t k = n++;
		while (k > 0 && a[k - 1] > ad) {
			a[k] = a[k - 1];
			e[k] = e[k - 1];
			k--;
		}
		a[k] = ad;
		e[k] = en;
	}
	size_t best[17];
	best[n] = 0;
	for (size_t i = n; i-- > 0;) {
		best[i] = SIZE_MAX;
		for (size_t j = i; j < n; j++) {
			if (j > i && m->max_gap != SM_MB_GAP_ANY && a[j] - e[j - 1] > m->max_gap)
				break;
			uint32_t s = m->even ? (a[i] & ~1u) : a[i];
			uint32_t en = m->even ? ((e[j] + 1) & ~1u) : e[j];
			if (en - s > m->max_count)
				break;
			if (best[j + 1] != SIZE_MAX && best[j + 1] + 1 < best[i])
				best[i] = best[j + 1] + 1;
		}
		CHECK(best[i] != SIZE_MAX);
	}
	return best[0];
}

/* (c) a small map */
static void part_map(struct ctx *c, const uint8_t *data, size_t size)
{
	static const char *const names[] = { "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7",
					     "r8", "r9", "r10", "r11", "", "r0", "voltage_l1", "x" };
	if (size < 5)
		return;
	const uint8_t *d = data + 2;
	size_t left = size - 2;
	struct sm_mb_reg regs[12];
	size_t n = 1 + d[0] % 12;
	if (left < 3 + 4 * n)
		n = (left - 3) / 4;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *q = d + 3 + 4 * i;
		memset(&regs[i], 0, sizeof regs[i]);
		/* q[0]: bit 7 holding, bits 4-5 order, bits 0-3 type (mod 9: 8 is
		 * invalid); 0x4F in bits 6 and 0-3: an invalid function */
		regs[i].function = (q[0] & 0x80) ? SM_MB_FC_HOLDING : SM_MB_FC_INPUT;
		if ((q[0] & 0x4F) == 0x4F)
			regs[i].function = 5;
		regs[i].type = (enum sm_mb_type)((q[0] & 0x0F) % 9);
		regs[i].order = (enum sm_mb_order)((q[0] >> 4) & 3);
		regs[i].address = (q[1] & 0x80) ? (uint16_t)(q[1] << 8 | q[2]) : q[2];
		/* names: distinct by position unless the byte asks for a table entry */
		regs[i].name = (q[3] & 0x80) ? names[q[3] % 16] : names[i];
		regs[i].mul = (q[3] & 0x40) ? 0 : 1;
		if ((q[3] & 0xC0) == 0xC0)
			regs[i].mul = 7;
	}
	struct sm_mb_map m;
	memset(&m, 0, sizeof m);
	m.name = "fuzz";
	m.max_count = d[1] & 0x80 ? (uint16_t)(d[1] & 0x7F) : (uint16_t)(1 + d[1] % 16);
	m.even = (d[2] & 1) != 0;
	m.max_gap = (d[2] >> 1) == 0x7F ? SM_MB_GAP_ANY : (uint16_t)((d[2] >> 1) % 9);
	m.nregs = n;
	m.regs = regs;
	struct sm_diag diag;
	enum sm_err ce = sm_mb_map_check(&m, &diag);
	enum sm_err pe = sm_mb_plan_make(&m, &c->plan, &diag);
	if (ce != SM_OK) {
		CHECK(ce == SM_E_CONFIG && pe == SM_E_CONFIG);
		CHECK(diag.msg[0] != '\0');
		return;
	}
	CHECK(pe == SM_OK);
	const struct sm_mb_plan *p = &c->plan;
	CHECK(p->nregs == n && p->nreq >= 1 && p->nreq <= n);
	size_t seen = 0, words = 0;
	bool hit[12] = { false };
	for (size_t i = 0; i < p->nreq; i++) {
		const struct sm_mb_req *q = &p->req[i];
		CHECK(q->count >= 1 && q->count <= m.max_count);
		CHECK((uint32_t)q->start + q->count <= 65536u);
		CHECK(q->word_off == words && q->first == seen && q->nregs >= 1);
		if (m.even)
			CHECK(q->start % 2 == 0 && q->count % 2 == 0);
		if (i > 0)
			CHECK(p->req[i - 1].function < q->function ||
			      (p->req[i - 1].function == q->function && p->req[i - 1].start < q->start));
		uint32_t prev_end = 0;
		for (size_t k = q->first; k < (size_t)q->first + q->nregs; k++) {
			CHECK(k < n && p->order[k] < n && !hit[p->order[k]]);
			hit[p->order[k]] = true;
			const struct sm_mb_reg *r = &regs[p->order[k]];
			uint32_t a = r->address, e = a + sm_mb_type_words(r->type);
			CHECK(p->reg_req[p->order[k]] == i && r->function == q->function);
			CHECK(a >= q->start && e <= (uint32_t)q->start + q->count);
			if (k > q->first) {
				CHECK(a >= prev_end);
				CHECK(m.max_gap == SM_MB_GAP_ANY || a - prev_end <= m.max_gap);
			}
			prev_end = e;
		}
		words += q->count;
		seen += q->nregs;
	}
	CHECK(seen == n && words == p->nwords);
	CHECK(p->nreq == dp_requests(&m, SM_MB_FC_HOLDING) + dp_requests(&m, SM_MB_FC_INPUT));
	struct sm_buf b;
	sm_buf_init(&b, c->text, sizeof c->text);
	CHECK(sm_mb_plan_format(&m, p, &b) == SM_OK);
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += c->text[i] == '\n';
	CHECK(lines == p->nreq);
	/* a poll of this map: whatever the words, decoding stays in bounds */
	uint16_t *w = calloc(p->nwords, sizeof *w);
	CHECK(w != NULL);
	for (size_t i = 0; i < p->nwords && 2 + 2 * i + 1 < size; i++)
		w[i] = (uint16_t)(data[size - 1 - 2 * i] << 8 | data[size - 2 - 2 * i]);
	unsigned bad;
	enum sm_err de = sm_mb_decode(&m, p, w, NULL, &c->set, &bad);
	CHECK(de == SM_READINGS || de == SM_E_EMPTY);
	CHECK(c->set.n + bad <= n);
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct ctx *c = malloc(sizeof *c);
	if (c == NULL)
		return 0;
	part_model(c, data, size);
	part_register(data, size);
	part_map(c, data, size);
	free(c);
	return 0;
}
