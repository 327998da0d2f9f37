/*
 * buf.h - a capped byte buffer over caller-provided storage.
 *
 * Ownership: the caller owns the storage (usually an array in a struct or on
 * the stack); struct sm_buf only points at it.  Nothing here allocates.
 * Every append either fits completely or changes nothing and returns
 * SM_E_FULL; the content is always NUL-terminated (cap includes the NUL), so
 * a buffer can be used as a C string.  Not thread-safe: one owner at a time.
 */
#ifndef SM_BUF_H
#define SM_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct sm_buf {
	char *p;    /* storage, cap bytes */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* size of storage; at most cap-1 bytes of content */
};

/* Point b at storage of cap >= 1 bytes and empty it. */
void sm_buf_init(struct sm_buf *b, char *storage, size_t cap);
void sm_buf_reset(struct sm_buf *b);
/* SM_OK, or SM_E_FULL (buffer unchanged). */
enum sm_err sm_buf_add(struct sm_buf *b, const void *p, size_t n);
enum sm_err sm_buf_adds(struct sm_buf *b, const char *s);
enum sm_err sm_buf_addc(struct sm_buf *b, char c);
/* printf-style append; SM_E_FULL if the result would not fit (buffer unchanged). */
enum sm_err sm_buf_addf(struct sm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append a signed decimal integer. */
enum sm_err sm_buf_add_i64(struct sm_buf *b, int64_t v);

#endif
