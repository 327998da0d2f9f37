/* cursor.c - bounded text and binary cursors (see cursor.h). */
#include <string.h>

#include "cursor.h"

bool sm_cur_accept(struct sm_cur *c, char ch)
{
	if (c->p < c->end && *c->p == (uint8_t)ch) {
		c->p++;
		return true;
	}
	return false;
}

bool sm_cur_accept_str(struct sm_cur *c, const char *s)
{
	size_t n = strlen(s);
	if (n > sm_cur_left(c) || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

size_t sm_cur_skip_blanks(struct sm_cur *c)
{
	size_t k = 0;
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
		c->p++;
		k++;
	}
	return k;
}

bool sm_cur_until(struct sm_cur *c, char delim, size_t max, const uint8_t **out, size_t *outn)
{
	size_t left = sm_cur_left(c);
	/* the delimiter may sit right after max content bytes */
	for (size_t i = 0; i < left && i <= max; i++) {
		if (c->p[i] == (uint8_t)delim) {
			*out = c->p;
			*outn = i;
			c->p += i;
			return true;
		}
	}
	return false;
}

bool sm_cur_uint(struct sm_cur *c, unsigned max_digits, uint64_t *v)
{
	const uint8_t *q = c->p;
	uint64_t x = 0;
	unsigned nd = 0;
	while (q < c->end && *q >= '0' && *q <= '9') {
		if (nd == max_digits)
			return false;
		unsigned d = (unsigned)(*q - '0');
		if (x > (UINT64_MAX - d) / 10u)
			return false;
		x = x * 10u + d;
		nd++;
		q++;
	}
	if (nd == 0)
		return false;
	*v = x;
	c->p = q;
	return true;
}

bool sm_cur_digits(struct sm_cur *c, unsigned n, uint64_t *v)
{
	if (n == 0 || n > 18 || sm_cur_left(c) < n)
		return false;
	uint64_t x = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t ch = c->p[i];
		if (ch < '0' || ch > '9')
			return false;
		x = x * 10u + (uint64_t)(ch - '0');
	}
	*v = x;
	c->p += n;
	return true;
}

int sm_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

enum sm_err sm_cur_u8(struct sm_cur *c, uint8_t *v)
{
	if (sm_cur_left(c) < 1)
		return SM_E_TRUNCATED;
	*v = *c->p++;
	return SM_OK;
}

enum sm_err sm_cur_u16(struct sm_cur *c, uint16_t *v)
{
	if (sm_cur_left(c) < 2)
		return SM_E_TRUNCATED;
	*v = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return SM_OK;
}

enum sm_err sm_cur_u32(struct sm_cur *c, uint32_t *v)
{
	if (sm_cur_left(c) < 4)
		return SM_E_TRUNCATED;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	return SM_OK;
}

enum sm_err sm_cur_u64(struct sm_cur *c, uint64_t *v)
{
	if (sm_cur_left(c) < 8)
		return SM_E_TRUNCATED;
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | c->p[i];
	*v = x;
	c->p += 8;
	return SM_OK;
}

enum sm_err sm_cur_u16_le(struct sm_cur *c, uint16_t *v)
{
	if (sm_cur_left(c) < 2)
		return SM_E_TRUNCATED;
	*v = (uint16_t)((unsigned)c->p[1] << 8 | c->p[0]);
	c->p += 2;
	return SM_OK;
}

enum sm_err sm_cur_bytes(struct sm_cur *c, size_t n, const uint8_t **out)
{
	if (sm_cur_left(c) < n)
		return SM_E_TRUNCATED;
	*out = c->p;
	c->p += n;
	return SM_OK;
}

enum sm_err sm_cur_skip(struct sm_cur *c, size_t n)
{
	if (sm_cur_left(c) < n)
		return SM_E_TRUNCATED;
	c->p += n;
	return SM_OK;
}
