/*
 * frame.h - what a framer hands to a decoder: a verified byte span.
 */
#ifndef SM_FRAME_H
#define SM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sm_check {
	SM_CHECK_OK = 0,     /* checksum present and verified */
	SM_CHECK_ABSENT,     /* the protocol version carries none (DSMR 2.2/3) */
	SM_CHECK_IGNORED,    /* checksum wrong, accepted because IgnoreChecksum */
};

struct sm_frame {
	const uint8_t *p; /* borrowed from the framer: valid until its next feed/reset */
	size_t n;
	enum sm_check check;
	bool unterminated; /* ended by silence or the end of input, not by the
			      protocol's end marker (DSMR: a telegram without
			      its '!' line, as some DSMR 2.2 meters send):
			      the decoder decides whether that is acceptable */
};

/* Details of a rejected frame, for logs and `decode` (pure text, no I/O). */
struct sm_diag {
	char msg[160];
};

/* printf into d->msg (truncated to fit); d may be NULL (nothing happens). */
void sm_diag_set(struct sm_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
