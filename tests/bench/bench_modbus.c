/*
 * bench_modbus.c - decoding of Modbus polls on one core, against a baseline
 * over the same words in the same run:
 *   memcpy   copying the poll's words (the cost of touching them)
 *   values   sm_mb_value_decode of every register (no reading set)
 *   poll     sm_mb_decode: words -> finished reading set (what the reader
 *            does per poll)
 *   encode   sm_mb_value_encode of every register (simulators)
 * for the sdm630 (34 float32 values in 2 requests, 96 words) and the
 * em340 (int32/int16 with factors, 2 requests), with plausible values.
 * Prints polls/s and the ratios.  Not part of make check:
 *   make bench-modbus      or   ./tests/bench/bench_modbus [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus_map.h"
#include "reading.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

/* a plausible value of a register (a whole number of its resolution) */
static void value_of(const struct sm_mb_reg *r, size_t i, int64_t *raw, int8_t *sc)
{
	int64_t v;
	int8_t s = -2;
	if (strncmp(r->name, "voltage", 7) == 0)
		v = 23012 + 7 * (int64_t)i;
	else if (strncmp(r->name, "current", 7) == 0)
		v = 523 + (int64_t)i;
	else if (strncmp(r->name, "power_factor", 12) == 0)
		v = 97 - (int64_t)i % 5;
	else if (strcmp(r->name, "frequency") == 0)
		v = 4998;
	else if (strstr(r->name, "energy") != NULL) {
		v = 1234567 + 1000 * (int64_t)i; /* 1234.567 kWh in Wh */
		s = 0;
	} else
		v = (i % 2 ? -1 : 1) * (119634 + 11 * (int64_t)i);
	if (r->type != SM_MB_FLOAT32 && r->type != SM_MB_FLOAT64)
		while (s < r->exp) {
			v /= 10;
			s++;
		}
	*raw = v;
	*sc = s;
}

static int bench(const char *model, double secs)
{
	const struct sm_mb_map *m = sm_mb_model_find(model);
	static struct sm_mb_plan plan;
	static struct sm_reading_set set;
	static uint16_t words[SM_MB_MAX_WORDS], copy[SM_MB_MAX_WORDS];
	if (m == NULL || sm_mb_plan_make(m, &plan, NULL) != SM_OK)
		return 1;
	int64_t vals[SM_MB_MAX_REGS];
	int8_t scs[SM_MB_MAX_REGS];
	for (size_t i = 0; i < m->nregs; i++) {
		const struct sm_mb_reg *r = &m->regs[i];
		const struct sm_mb_req *q = &plan.req[plan.reg_req[i]];
		value_of(r, i, &vals[i], &scs[i]);
		if (sm_mb_value_encode(r, vals[i], scs[i], words + q->word_off + (r->address - q->start)) != SM_OK) {
			fprintf(stderr, "%s %s: cannot encode\n", model, r->name);
			return 1;
		}
	}
	bool ok[SM_MB_MAX_REQS];
	for (size_t i = 0; i < plan.nreq; i++)
		ok[i] = true;
	unsigned bad = 0;
	if (sm_mb_decode(m, &plan, words, ok, &set, &bad) != SM_READINGS || set.n != m->nregs || bad != 0) {
		fprintf(stderr, "%s: decode failed\n", model);
		return 1;
	}
	printf("%s: %zu values, %zu requests, %zu words per poll\n", model, m->nregs, plan.nreq, plan.nwords);

	const char *names[] = { "memcpy", "values", "poll", "encode" };
	double rate[4];
	for (int cs = 0; cs < 4; cs++) {
		size_t polls = 0;
		double t0 = now_s(), t;
		do {
			for (int k = 0; k < 64; k++) {
				if (cs == 0) {
					memcpy(copy, words, plan.nwords * sizeof words[0]);
					sink += copy[k % plan.nwords];
				} else if (cs == 1) {
					for (size_t i = 0; i < m->nregs; i++) {
						const struct sm_mb_reg *r = &m->regs[i];
						const struct sm_mb_req *q = &plan.req[plan.reg_req[i]];
						int64_t raw;
						int8_t sc;
						sm_mb_value_decode(r, words + q->word_off + (r->address - q->start), &raw, &sc);
						sink += (uint64_t)raw;
					}
				} else if (cs == 2) {
					sm_mb_decode(m, &plan, words, ok, &set, &bad);
					sink += set.n;
				} else {
					for (size_t i = 0; i < m->nregs; i++) {
						const struct sm_mb_reg *r = &m->regs[i];
						const struct sm_mb_req *q = &plan.req[plan.reg_req[i]];
						sm_mb_value_encode(r, vals[i], scs[i], copy + q->word_off + (r->address - q->start));
					}
					sink += copy[0];
				}
				polls++;
			}
			t = now_s() - t0;
		} while (t < secs);
		rate[cs] = (double)polls / t;
		printf("  %-7s %12.0f polls/s %10.0f values/s %8.3f us/poll\n", names[cs], rate[cs],
		       rate[cs] * (double)m->nregs, 1e6 / rate[cs]);
	}
	printf("  poll/memcpy %.0fx slower; poll/values %.2fx slower (reading set); encode/poll %.2fx slower\n",
	       rate[0] / rate[2], rate[1] / rate[2], rate[2] / rate[3]);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0))
		secs = 1.0;
	if (bench("sdm630", secs) != 0 || bench("em340", secs) != 0)
		return 1;
	return 0;
}
