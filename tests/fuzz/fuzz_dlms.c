/*
 * fuzz_dlms.c - libFuzzer target for the A-XDR iterator and the DLMS
 * data-notification decoder and encoder.  Built with clang
 * -fsanitize=fuzzer (make fuzz-dlms) or with a replay main() over the seed
 * corpus (make check).
 *
 * For each input (an exactly-sized heap copy):
 *  1. the A-XDR iterator walks the input (from byte 0 and from the usual
 *     body offsets) twice, entering every container and skipping whole
 *     subtrees: both walks must agree on the result and the end position;
 *  2. the decoder gets the input as an APDU: a rejected APDU must leave no
 *     reading, and the code must be one the header documents;
 *  3. every decoded set is encoded again in both layouts; our own APDU
 *     must decode to the same readings and the same meter time.
 * A broken invariant aborts (a finding), as does any sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axdr.h"
#include "dlms.h"
#include "reading.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct sm_reading_set a, b;
	uint8_t enc[65536];
};

static volatile uint8_t sink;

static enum sm_err walk(struct sm_axdr_it *it)
{
	enum sm_err rc;
	while (!sm_axdr_at_end(it)) {
		if (sm_axdr_is_container(it)) {
			struct sm_axdr_it c;
			if ((rc = sm_axdr_enter(it, &c)) != SM_OK)
				return rc;
			if ((rc = walk(&c)) != SM_OK)
				return rc;
			if ((rc = sm_axdr_leave(it, &c)) != SM_OK)
				return rc;
			continue;
		}
		/* exercise the getters on whatever stands here */
		int64_t i;
		uint64_t u;
		const uint8_t *p;
		size_t n;
		struct sm_axdr_datetime dt;
		(void)sm_axdr_get_int(it, &i);
		(void)sm_axdr_get_uint(it, &u);
		/* touch both ends of every span the getters hand out */
		if (sm_axdr_get_bytes(it, &p, &n) == SM_OK && n > 0)
			sink ^= p[0] ^ p[n - 1];
		if (sm_axdr_get_bits(it, &p, &n) == SM_OK && n > 0)
			sink ^= p[(n - 1) / 8];
		if (sm_axdr_get_datetime(it, &dt) == SM_OK)
			(void)sm_axdr_datetime_to_ms(&dt, &i);
		(void)sm_axdr_get_date(it, &dt);
		(void)sm_axdr_get_time(it, &dt);
		if ((rc = sm_axdr_next(it)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static void check_axdr(const uint8_t *p, size_t n, uint32_t count)
{
	struct sm_axdr_it w, s;
	enum sm_err rw = sm_axdr_init(&w, p, n, count);
	if (rw == SM_OK)
		rw = walk(&w);
	enum sm_err rs = sm_axdr_init(&s, p, n, count);
	while (rs == SM_OK && !sm_axdr_at_end(&s))
		rs = sm_axdr_next(&s);
	if (rw != rs || (rw == SM_OK && sm_axdr_pos(&w) != sm_axdr_pos(&s))) {
		fprintf(stderr, "walk %s and skip %s disagree\n", sm_err_name(rw), sm_err_name(rs));
		abort();
	}
	if (rw != SM_OK && rw != SM_E_SYNTAX && rw != SM_E_TRUNCATED)
		abort();
}

static bool same_reading(const struct sm_reading_set *a, const struct sm_reading *x,
			 const struct sm_reading_set *b, const struct sm_reading *y)
{
	if (!sm_obis_eq(&x->obis, &y->obis) || x->is_text != y->is_text)
		return false;
	if (x->is_text)
		return x->text_len == y->text_len &&
		       memcmp(sm_reading_text(a, x), sm_reading_text(b, y), x->text_len) == 0;
	return x->raw == y->raw && x->scale == y->scale && x->unit == y->unit &&
	       strcmp(x->unit_text, y->unit_text) == 0 && strcmp(x->name, y->name) == 0 &&
	       x->kind == y->kind;
}

static void check_roundtrip(struct ctx *c, enum sm_dlms_layout layout, int off)
{
	size_t n = 0;
	enum sm_err rc = sm_dlms_encode(&c->a, layout, 0x12345678, off, c->enc, sizeof c->enc, &n);
	if (rc != SM_OK) {
		fprintf(stderr, "a decoded set does not encode: %s\n", sm_err_name(rc));
		abort();
	}
	uint8_t *copy = malloc(n);
	if (copy == NULL)
		abort();
	memcpy(copy, c->enc, n);
	struct sm_diag diag = { { 0 } };
	rc = sm_dlms_decode(copy, n, &c->b, &diag);
	free(copy);
	if (rc != SM_READINGS || c->b.n != c->a.n || c->b.meter_time_ms != c->a.meter_time_ms) {
		fprintf(stderr, "round trip (layout %d): %zu readings, time %lld -> %s, %zu, %lld (%s)\n",
			(int)layout, c->a.n, (long long)c->a.meter_time_ms, sm_err_name(rc), c->b.n,
			(long long)c->b.meter_time_ms, diag.msg);
		abort();
	}
	/* same readings; the flat layout moves the meter id to the end */
	static bool used[SM_MAX_READINGS];
	memset(used, 0, sizeof used);
	for (size_t i = 0; i < c->a.n; i++) {
		size_t j = i;
		if (used[j] || !same_reading(&c->a, &c->a.r[i], &c->b, &c->b.r[j])) {
			for (j = 0; j < c->b.n; j++)
				if (!used[j] && same_reading(&c->a, &c->a.r[i], &c->b, &c->b.r[j]))
					break;
			if (j == c->b.n) {
				fprintf(stderr, "round trip (layout %d): reading %zu (%s) lost\n",
					(int)layout, i, c->a.r[i].name);
				abort();
			}
		}
		used[j] = true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* one work area for all runs (a harness, not library code) */
	static struct ctx ctx;
	struct ctx *c = &ctx;
	uint8_t *copy = calloc(1, size ? size : 1);
	if (copy == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);

	/* 1. the iterator alone */
	check_axdr(copy, size, 1);
	if (size > 6)
		check_axdr(copy + 6, size - 6, 1);
	if (size > 18)
		check_axdr(copy + 18, size - 18, 1);

	/* 2. the decoder */
	struct sm_diag diag = { { 0 } };
	enum sm_err rc = sm_dlms_decode(copy, size, &c->a, &diag);
	if (rc != SM_READINGS) {
		if (c->a.n != 0 || (rc != SM_E_NOT_APDU && rc != SM_E_SYNTAX &&
				    rc != SM_E_TRUNCATED && rc != SM_E_EMPTY)) {
			fprintf(stderr, "%s with %zu readings\n", sm_err_name(rc), c->a.n);
			abort();
		}
		free(copy);
		return 0;
	}
	if (c->a.n == 0 || c->a.n > SM_MAX_READINGS)
		abort();

	/* 3. our encoder and back, in both layouts; an offset that keeps the
	 * local time within the years a date-time can carry */
	int off = size > 1 ? (int)(copy[1] % 97) * 15 - 720 : 0;
	int64_t t = c->a.meter_time_ms;
	if (t < 86400000LL || t > 4102358400000LL) /* 1970-01-02 .. 2099-12-31 */
		off = 0;
	free(copy);
	check_roundtrip(c, SM_DLMS_FLAT, off);
	check_roundtrip(c, SM_DLMS_STRUCTS, off);
	return 0;
}
