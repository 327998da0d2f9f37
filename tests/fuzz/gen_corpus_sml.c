/*
 * gen_corpus_sml.c - seed corpus for fuzz_sml: SML files built by our own
 * encoder (every integer width, signed and unsigned, text, times, escapes,
 * KERMIT, version 2, a bad message CRC), and the same files bare (payload
 * only) and concatenated with junk.
 *   ./tests/fuzz/gen_corpus_sml DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sml.h"

static void put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n) {
		perror(path);
		exit(1);
	}
	fclose(fp);
}

static void add(struct sm_reading_set *s, uint8_t c, uint8_t d, int64_t raw, int8_t sc,
		enum sm_unit u)
{
	struct sm_obis o;
	memset(&o, 0, sizeof o);
	uint8_t v[6] = { 1, 0, c, d, 0, 255 };
	memcpy(o.v, v, 6);
	o.present = 0x3F;
	sm_set_add_number(s, &o, raw, sc, u, NULL, 0, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	static struct sm_reading_set s;
	static uint8_t buf[SM_SML_MAX], two[2 * SM_SML_MAX + 16];
	sm_set_clear(&s);
	struct sm_obis id;
	memset(&id, 0, sizeof id);
	uint8_t idv[6] = { 129, 129, 199, 130, 3, 255 };
	memcpy(id.v, idv, 6);
	id.present = 0x3F;
	sm_set_add_text(&s, &id, "EMH", 3, 0);
	add(&s, 1, 8, 123456789, -1, SM_UNIT_WH);
	add(&s, 2, 8, 0x1B1B1B1B, -1, SM_UNIT_WH);
	add(&s, 16, 7, -1234, 0, SM_UNIT_W);
	add(&s, 36, 7, 500, -2, SM_UNIT_W);
	s.r[1].time_ms = 1700000000000LL;
	s.meter_time_ms = 1700000001000LL;
	char name[64];
	for (unsigned w = 0; w <= 8; w++) {
		for (int uns = 0; uns <= 1; uns++) {
			struct sm_sml_enc_opts o = { .value_width = w ? w : 0, .unsigned_values = uns != 0,
						     .kermit = (w % 3) == 1, .version2 = (w % 4) == 2,
						     .bad_msg_crc = w == 5 };
			if (w != 0 && w < 4)
				o.value_width = 4; /* 0x1B1B1B1B needs 4 bytes */
			size_t n;
			if (sm_sml_encode(&s, &o, buf, sizeof buf, &n) != SM_OK)
				continue;
			snprintf(name, sizeof name, "w%u_%s", w, uns ? "u" : "s");
			put(argv[1], name, buf, n);
			if (w == 0 && !uns) {
				put(argv[1], "payload", buf + 8, n - 16);
				memcpy(two, "\x00\x1b\x1b\x01", 4);
				memcpy(two + 4, buf, n);
				memcpy(two + 4 + n, buf, n / 2);
				memcpy(two + 4 + n + n / 2, buf, n);
				put(argv[1], "junk_damaged_good", two, 4 + 2 * n + n / 2);
			}
		}
	}
	return 0;
}
