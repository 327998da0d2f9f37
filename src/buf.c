/* buf.c - capped byte buffer over caller storage (see buf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

void sm_buf_init(struct sm_buf *b, char *storage, size_t cap)
{
	b->p = storage;
	b->cap = cap;
	b->len = 0;
	if (cap > 0)
		storage[0] = '\0';
}

void sm_buf_reset(struct sm_buf *b)
{
	b->len = 0;
	if (b->cap > 0)
		b->p[0] = '\0';
}

enum sm_err sm_buf_add(struct sm_buf *b, const void *p, size_t n)
{
	if (b->cap == 0 || n > b->cap - 1 - b->len)
		return SM_E_FULL;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return SM_OK;
}

enum sm_err sm_buf_adds(struct sm_buf *b, const char *s)
{
	return sm_buf_add(b, s, strlen(s));
}

enum sm_err sm_buf_addc(struct sm_buf *b, char c)
{
	return sm_buf_add(b, &c, 1);
}

enum sm_err sm_buf_addf(struct sm_buf *b, const char *fmt, ...)
{
	if (b->cap == 0)
		return SM_E_FULL;
	size_t room = b->cap - b->len; /* includes the NUL */
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= room) {
		b->p[b->len] = '\0'; /* undo the partial write */
		return SM_E_FULL;
	}
	b->len += (size_t)r;
	return SM_OK;
}

enum sm_err sm_buf_add_i64(struct sm_buf *b, int64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	/* work on the magnitude as unsigned so INT64_MIN is fine */
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[--i] = (char)('0' + (int)(m % 10u));
		m /= 10u;
	} while (m != 0);
	if (v < 0)
		tmp[--i] = '-';
	return sm_buf_add(b, tmp + i, sizeof tmp - i);
}
