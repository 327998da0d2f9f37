/*
 * cursor.h - bounded cursors over borrowed bytes, for text and binary parsing.
 *
 * A cursor never reads outside [p, end).  Every getter checks the bound first
 * and returns false (text getters) or SM_E_TRUNCATED (binary getters) without
 * moving when the input is short or does not match; a failed call leaves the
 * cursor where it was.  No allocation, no locale, no sscanf/strtol.
 * The cursor borrows the bytes: they must outlive it.
 */
#ifndef SM_CURSOR_H
#define SM_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct sm_cur {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last byte */
};

static inline void sm_cur_init(struct sm_cur *c, const void *p, size_t n)
{
	c->p = (const uint8_t *)p;
	c->end = c->p + n;
}
static inline size_t sm_cur_left(const struct sm_cur *c) { return (size_t)(c->end - c->p); }
static inline bool sm_cur_eof(const struct sm_cur *c) { return c->p >= c->end; }
/* Next byte, or -1 at the end. */
static inline int sm_cur_peek(const struct sm_cur *c) { return c->p < c->end ? *c->p : -1; }

/* ---- text ---- */
/* Consume ch if it is next. */
bool sm_cur_accept(struct sm_cur *c, char ch);
/* Consume the literal s if it is next. */
bool sm_cur_accept_str(struct sm_cur *c, const char *s);
/* Skip spaces (0x20) and tabs; returns how many. */
size_t sm_cur_skip_blanks(struct sm_cur *c);
/* Take bytes up to (not including) delim, at most max bytes; the span is
 * returned in *out and *outn.  False (cursor unchanged) if delim does not occur
 * within max bytes or before the end.  The delimiter is not consumed. */
bool sm_cur_until(struct sm_cur *c, char delim, size_t max, const uint8_t **out, size_t *outn);
/* Unsigned decimal of 1..max_digits digits into *v (no sign, no blanks).
 * False on no digit, more digits than max_digits, or overflow of uint64. */
bool sm_cur_uint(struct sm_cur *c, unsigned max_digits, uint64_t *v);
/* Exactly n decimal digits (n <= 18). */
bool sm_cur_digits(struct sm_cur *c, unsigned n, uint64_t *v);
/* One hex digit value of ch, or -1. */
int sm_hexval(int ch);

/* ---- binary (big-endian unless named _le) ---- */
enum sm_err sm_cur_u8(struct sm_cur *c, uint8_t *v);
enum sm_err sm_cur_u16(struct sm_cur *c, uint16_t *v);
enum sm_err sm_cur_u32(struct sm_cur *c, uint32_t *v);
enum sm_err sm_cur_u64(struct sm_cur *c, uint64_t *v);
enum sm_err sm_cur_u16_le(struct sm_cur *c, uint16_t *v);
/* Borrow n bytes: *out points into the input. */
enum sm_err sm_cur_bytes(struct sm_cur *c, size_t n, const uint8_t **out);
enum sm_err sm_cur_skip(struct sm_cur *c, size_t n);

#endif
