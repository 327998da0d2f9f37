/*
 * gen_corpus_modbus.c - seed corpus for fuzz_modbus (layout: see there):
 *   - every built-in model with plausible values encoded by our own
 *     sm_mb_value_encode, all requests answered, one unanswered, and with
 *     NaN / "no value" markers in place of the first value;
 *   - one register of every type and word order (plain or with a factor),
 *     and of every type with the INVALID_MAX flag and its marker;
 *   - small maps: contiguous, gaps, even rule, mixed functions, overlaps,
 *     duplicate names, a register too wide, the top of the address space.
 *   ./tests/fuzz/gen_corpus_modbus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus_map.h"

static const char *outdir;

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", outdir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n) {
		perror(path);
		exit(1);
	}
	fclose(fp);
}

/* a register descriptor (the last 16 bytes of an input) */
static void reg_desc(uint8_t *d, unsigned type, unsigned order, unsigned flags, int exp, int32_t mul,
		     const uint16_t *w)
{
	d[0] = (uint8_t)type;
	d[1] = (uint8_t)order;
	d[2] = (uint8_t)flags;
	d[3] = (uint8_t)(int8_t)exp;
	d[4] = (uint8_t)((uint32_t)mul >> 24);
	d[5] = (uint8_t)((uint32_t)mul >> 16);
	d[6] = (uint8_t)((uint32_t)mul >> 8);
	d[7] = (uint8_t)mul;
	for (int i = 0; i < 4; i++) {
		d[8 + 2 * i] = (uint8_t)(w[i] >> 8);
		d[9 + 2 * i] = (uint8_t)w[i];
	}
}

/* a plausible value for a register, as a whole number of its resolution */
static void plausible(const struct sm_mb_reg *r, size_t i, int64_t *raw, int8_t *sc)
{
	const char *n = r->name;
	int64_t v;
	int8_t s = -1;
	if (strncmp(n, "voltage", 7) == 0)
		v = 2301 + (int64_t)i;
	else if (strncmp(n, "current", 7) == 0)
		v = 52 + (int64_t)i;
	else if (strncmp(n, "power_factor", 12) == 0) {
		v = 95 - (int64_t)i % 7;
		s = -2;
	} else if (strcmp(n, "frequency") == 0)
		v = 500;
	else if (strncmp(n, "energy", 6) == 0 || strncmp(n, "reactive_energy", 15) == 0) {
		v = 12345 + 10 * (int64_t)i;
		s = 3;
	} else
		v = (i % 2 ? -1 : 1) * (11960 + (int64_t)i);
	/* round to the register's resolution (integers: 10^exp) */
	if (r->type != SM_MB_FLOAT32 && r->type != SM_MB_FLOAT64) {
		while (s < r->exp) {
			v /= 10;
			s++;
		}
	}
	*raw = v;
	*sc = s;
}

static void models(void)
{
	for (size_t mi = 0; sm_mb_models[mi] != NULL; mi++) {
		const struct sm_mb_map *m = sm_mb_models[mi];
		static struct sm_mb_plan plan;
		if (sm_mb_plan_make(m, &plan, NULL) != SM_OK) {
			fprintf(stderr, "%s: no plan\n", m->name);
			exit(1);
		}
		uint16_t words[SM_MB_MAX_WORDS];
		memset(words, 0, sizeof words);
		for (size_t i = 0; i < m->nregs; i++) {
			const struct sm_mb_reg *r = &m->regs[i];
			const struct sm_mb_req *q = &plan.req[plan.reg_req[i]];
			int64_t raw;
			int8_t sc;
			plausible(r, i, &raw, &sc);
			if (sm_mb_value_encode(r, raw, sc, words + q->word_off + (r->address - q->start)) != SM_OK) {
				fprintf(stderr, "%s %s: cannot encode\n", m->name, r->name);
				exit(1);
			}
		}
		size_t n = 2 + 2 * plan.nwords + 16;
		uint8_t *buf = calloc(1, n);
		if (buf == NULL)
			exit(1);
		buf[0] = (uint8_t)mi;
		for (size_t i = 0; i < plan.nwords; i++) {
			buf[2 + 2 * i] = (uint8_t)(words[i] >> 8);
			buf[3 + 2 * i] = (uint8_t)words[i];
		}
		const struct sm_mb_reg *r0 = &m->regs[0];
		const struct sm_mb_req *q0 = &plan.req[plan.reg_req[0]];
		uint16_t w0[4] = { 0, 0, 0, 0 };
		memcpy(w0, words + q0->word_off + (r0->address - q0->start), sm_mb_type_words(r0->type) * 2);
		reg_desc(buf + n - 16, r0->type, r0->order, r0->flags, r0->exp, (int32_t)r0->mul, w0);
		char name[64];
		snprintf(name, sizeof name, "model_%s", m->name);
		put(name, buf, n);
		buf[1] = 0x02; /* the second request unanswered */
		snprintf(name, sizeof name, "model_%s_lost2", m->name);
		put(name, buf, n);
		buf[1] = 0;
		/* the first value: all ones (NaN / marker / -1) */
		size_t o = 2 + 2 * (q0->word_off + (r0->address - q0->start));
		memset(buf + o, 0xFF, 2 * sm_mb_type_words(r0->type));
		snprintf(name, sizeof name, "model_%s_ones", m->name);
		put(name, buf, n);
		free(buf);
	}
}

static void registers(void)
{
	static const struct {
		int exp;
		int32_t mul;
		unsigned flags;
	} f[] = { { 0, 1, 0 }, { -1, 1, 0 }, { 3, 1, 0 }, { -2, -7, 0 }, { 0, 1, SM_MB_F_INVALID_MAX } };
	for (unsigned t = 0; t < 8; t++) {
		for (unsigned o = 0; o < 4; o++) {
			/* one factor per type and order; the marker for every type */
			for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
				if (k != (t + o) % 4 && !(k == 4 && o == 0))
					continue;
				struct sm_mb_reg r;
				memset(&r, 0, sizeof r);
				r.name = "x";
				r.function = 3;
				r.type = (enum sm_mb_type)t;
				r.order = (enum sm_mb_order)o;
				r.exp = (int8_t)f[k].exp;
				r.mul = f[k].mul;
				r.flags = f[k].flags;
				uint16_t w[4] = { 0, 0, 0, 0 };
				if (f[k].flags)
					memset(w, 0xFF, sizeof w); /* unsigned marker; signed: -1 */
				else if (sm_mb_value_encode(&r, -23010 * f[k].mul, (int8_t)(f[k].exp - 1), w) != SM_OK &&
					 sm_mb_value_encode(&r, 23010 * f[k].mul, (int8_t)(f[k].exp - 1), w) != SM_OK) {
					fprintf(stderr, "%s/%s: cannot encode\n", sm_mb_type_name(r.type),
						sm_mb_order_name(r.order));
					exit(1);
				}
				uint8_t buf[2 + 16];
				buf[0] = 0;
				buf[1] = 0;
				reg_desc(buf + 2, t, o, f[k].flags, f[k].exp, f[k].mul, w);
				char name[64];
				snprintf(name, sizeof name, "reg_%s_%s_%zu", sm_mb_type_name(r.type), sm_mb_order_name(r.order),
					 k);
				put(name, buf, sizeof buf);
			}
		}
	}
}

/* map bytes: count, max_count byte, even|gap byte, 4 bytes per register */
static void map(const char *name, uint8_t maxc, uint8_t even_gap, const uint8_t (*regs)[4], size_t n)
{
	uint8_t buf[2 + 3 + 4 * 12 + 16];
	size_t len = 0;
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = (uint8_t)(n - 1);
	buf[len++] = maxc;
	buf[len++] = even_gap;
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + len, regs[i], 4);
		len += 4;
	}
	uint16_t w[4] = { 0x4366, 0x199A, 0, 0 };
	reg_desc(buf + len, 6, 0, 0, 0, 1, w);
	len += 16;
	put(name, buf, len);
}

/* register bytes: [0x80 holding | order << 4 | type], address hi, lo, name */
#define R(fc, ty, hi, lo) { (uint8_t)((fc) == 3 ? 0x80 | (ty) : (ty)), (hi), (lo), 0 }

static void maps(void)
{
	const uint8_t contiguous[][4] = { R(4, 6, 0, 0), R(4, 6, 0, 2), R(4, 6, 0, 4), R(4, 6, 0, 6) };
	map("map_contiguous", 0x80 | 80, 0x01, contiguous, 4);
	map("map_small_count", 3, 0x00, contiguous, 4);
	const uint8_t gaps[][4] = { R(4, 0, 0, 0), R(4, 0, 0, 3), R(4, 0, 0, 9), R(4, 2, 0, 20), R(4, 4, 0, 30) };
	map("map_gaps", 0x80 | 40, 0x02 << 1, gaps, 5);
	map("map_gaps_any", 0x80 | 40, 0xFE, gaps, 5);
	const uint8_t evenr[][4] = { R(4, 0, 0, 1), R(4, 6, 0, 3), R(4, 1, 0, 7), R(4, 4, 0, 11) };
	map("map_even", 8, 0xFF, evenr, 4);
	const uint8_t mixed[][4] = { R(4, 6, 0, 20), R(3, 6, 0, 0), R(4, 6, 0, 0), R(3, 1, 0, 2) };
	map("map_mixed", 0x80 | 125, 0xFE, mixed, 4);
	const uint8_t overlap[][4] = { R(4, 6, 0, 0), R(4, 6, 0, 1) };
	map("map_overlap", 0x80 | 80, 0xFE, overlap, 2);
	const uint8_t dup[][4] = { R(4, 0, 0, 0), { 0x00, 0, 5, 0x80 } };
	map("map_duplicate_name", 0x80 | 80, 0xFE, dup, 2);
	const uint8_t wide[][4] = { R(3, 4, 0, 10) };
	map("map_too_wide", 2, 0x00, wide, 1);
	const uint8_t top[][4] = { R(3, 0, 0xFF, 0xFF), R(3, 2, 0xFF, 0xFA), R(3, 0, 0xFF, 0xFE) };
	map("map_top", 0x80 | 124, 0xFF, top, 3);
	const uint8_t past[][4] = { R(3, 2, 0xFF, 0xFF) };
	map("map_past_end", 0x80 | 124, 0xFE, past, 1);
	const uint8_t badfc[][4] = { { 0x4F, 0, 0, 0 } };
	map("map_bad_function", 10, 0, badfc, 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	models();
	registers();
	maps();
	return 0;
}
