#include <string.h>
#include "format.h"

enum sm_err sm_format_parse(const char *s, enum sm_format *out)
{
	if (s == NULL)
		return SM_E_USAGE;
	if (strcmp(s, "json") == 0)
		*out = SM_FORMAT_JSON;
	else if (strcmp(s, "influx") == 0)
		*out = SM_FORMAT_INFLUX;
	else if (strcmp(s, "text") == 0)
		*out = SM_FORMAT_TEXT;
	else
		return SM_E_USAGE;
	return SM_OK;
}

/* The unit text a reading is printed with. */
static const char *unit_of(const struct sm_reading *r, size_t *n)
{
	const char *u = r->unit == SM_UNIT_OTHER ? r->unit_text : sm_unit_str(r->unit);
	*n = strnlen(u, SM_UNIT_TEXT);
	return u;
}

enum sm_err sm_json_string(struct sm_buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t mark = b->len;
	enum sm_err e = sm_buf_addc(b, '"');
	for (size_t i = 0; e == SM_OK && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			e = sm_buf_add(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			e = sm_buf_add(b, esc, 6);
		} else {
			e = sm_buf_addc(b, (char)c);
		}
	}
	if (e == SM_OK)
		e = sm_buf_addc(b, '"');
	if (e != SM_OK) {
		b->len = mark;
		b->p[mark] = '\0';
	}
	return e;
}

/* Restore the buffer to mark when a multi-part append fails. */
static enum sm_err rollback(struct sm_buf *b, size_t mark, enum sm_err e)
{
	if (e != SM_OK) {
		b->len = mark;
		b->p[mark] = '\0';
	}
	return e;
}

enum sm_err sm_format_json(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			   const struct sm_reading *r, int64_t time_ms)
{
	size_t mark = b->len, un;
	char obis[SM_OBIS_STRLEN];
	const char *unit = unit_of(r, &un);
	enum sm_err e;

	sm_obis_format(&r->obis, obis, sizeof obis);
	e = sm_buf_adds(b, "{\"time\":");
	if (e == SM_OK) e = sm_buf_add_i64(b, time_ms);
	if (e == SM_OK) e = sm_buf_adds(b, ",\"meter\":");
	if (e == SM_OK) e = sm_json_string(b, meter, strlen(meter));
	if (e == SM_OK) e = sm_buf_adds(b, ",\"name\":");
	if (e == SM_OK) e = sm_json_string(b, r->name, strnlen(r->name, sizeof r->name));
	if (e == SM_OK) e = sm_buf_adds(b, ",\"obis\":");
	if (e == SM_OK) e = sm_json_string(b, obis, strlen(obis));
	if (e == SM_OK) e = sm_buf_adds(b, ",\"unit\":");
	if (e == SM_OK) e = sm_json_string(b, unit, un);
	if (r->is_text) {
		if (e == SM_OK) e = sm_buf_adds(b, ",\"text\":");
		if (e == SM_OK) e = sm_json_string(b, sm_reading_text(s, r), r->text_len);
	} else {
		if (e == SM_OK) e = sm_buf_adds(b, ",\"value\":");
		if (e == SM_OK) e = sm_decimal_format(b, r->raw, r->scale);
	}
	if (e == SM_OK) e = sm_buf_adds(b, "}\n");
	return rollback(b, mark, e);
}

/* Influx tag values and keys: escape ',', '=', ' ' with '\'; control
 * characters (which the parser cannot take) become '_'. */
static enum sm_err influx_tag(struct sm_buf *b, const char *p, size_t n)
{
	enum sm_err e = SM_OK;
	for (size_t i = 0; e == SM_OK && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ',' || c == '=' || c == ' ' || c == '\\')
			e = sm_buf_addc(b, '\\');
		if (e == SM_OK)
			e = sm_buf_addc(b, (c < 0x20 || c == 0x7f) ? '_' : (char)c);
	}
	return e;
}

static enum sm_err influx_string_field(struct sm_buf *b, const char *p, size_t n)
{
	enum sm_err e = sm_buf_addc(b, '"');
	for (size_t i = 0; e == SM_OK && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			e = sm_buf_addc(b, '\\');
		if (e == SM_OK)
			e = sm_buf_addc(b, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
	}
	if (e == SM_OK)
		e = sm_buf_addc(b, '"');
	return e;
}

enum sm_err sm_format_influx(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			     const struct sm_reading *r, int64_t time_ms)
{
	size_t mark = b->len, un;
	char obis[SM_OBIS_STRLEN];
	const char *unit = unit_of(r, &un);
	enum sm_err e;

	sm_obis_format(&r->obis, obis, sizeof obis);
	e = sm_buf_adds(b, "smartmeter,meter=");
	if (e == SM_OK) e = influx_tag(b, meter, strlen(meter));
	if (e == SM_OK) e = sm_buf_adds(b, ",name=");
	if (e == SM_OK) e = influx_tag(b, r->name, strnlen(r->name, sizeof r->name));
	if (e == SM_OK && obis[0] != '\0') { /* a tag may not be empty */
		e = sm_buf_adds(b, ",obis=");
		if (e == SM_OK) e = influx_tag(b, obis, strlen(obis));
	}
	if (e == SM_OK && un > 0) {
		e = sm_buf_adds(b, ",unit=");
		if (e == SM_OK) e = influx_tag(b, unit, un);
	}
	if (r->is_text) {
		if (e == SM_OK) e = sm_buf_adds(b, " text=");
		if (e == SM_OK) e = influx_string_field(b, sm_reading_text(s, r), r->text_len);
	} else {
		if (e == SM_OK) e = sm_buf_adds(b, " value=");
		if (e == SM_OK) e = sm_decimal_format(b, r->raw, r->scale);
	}
	if (e == SM_OK) e = sm_buf_addc(b, ' ');
	if (e == SM_OK) e = sm_buf_add_i64(b, time_ms);
	if (e == SM_OK) e = sm_buf_adds(b, "000000\n");
	return rollback(b, mark, e);
}

/* ISO 8601 UTC from unix ms, for the text table. */
static enum sm_err add_iso_time(struct sm_buf *b, int64_t ms)
{
	struct sm_civil c;
	sm_ms_to_civil(ms, 0, &c);
	return sm_buf_addf(b, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour, c.min, c.sec);
}

enum sm_err sm_format_text_row(struct sm_buf *b, const char *meter, const struct sm_reading_set *s,
			       const struct sm_reading *r, int64_t time_ms)
{
	size_t mark = b->len, un;
	char obis[SM_OBIS_STRLEN], valbuf[64];
	struct sm_buf v;
	const char *unit = unit_of(r, &un);
	enum sm_err e;

	sm_obis_format(&r->obis, obis, sizeof obis);
	sm_buf_init(&v, valbuf, sizeof valbuf);
	if (r->is_text) {
		size_t n = r->text_len;
		e = sm_buf_add(&v, sm_reading_text(s, r), n < 40 ? n : 40);
		if (e == SM_OK && n > 40)
			e = sm_buf_adds(&v, "...");
		for (size_t i = 0; i < v.len; i++)
			if ((unsigned char)v.p[i] < 0x20 || v.p[i] == 0x7f)
				v.p[i] = '.';
	} else {
		e = sm_decimal_format(&v, r->raw, r->scale);
	}
	if (e == SM_OK)
		e = sm_buf_addf(b, "%-12s %-34s %22s %-5.*s %-18s ", meter, r->name, v.p, (int)un, unit, obis);
	if (e == SM_OK)
		e = add_iso_time(b, time_ms);
	if (e == SM_OK)
		e = sm_buf_addc(b, '\n');
	return rollback(b, mark, e);
}

enum sm_err sm_format_reading(enum sm_format f, struct sm_buf *b, const char *meter,
			      const struct sm_reading_set *s, const struct sm_reading *r, int64_t time_ms)
{
	switch (f) {
	case SM_FORMAT_JSON:
		return sm_format_json(b, meter, s, r, time_ms);
	case SM_FORMAT_INFLUX:
		return sm_format_influx(b, meter, s, r, time_ms);
	case SM_FORMAT_TEXT:
		return sm_format_text_row(b, meter, s, r, time_ms);
	}
	return SM_E_USAGE;
}
