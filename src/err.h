/*
 * err.h - result codes of the whole library.
 *
 * One X-macro list gives the enum, the symbolic names and the human messages.
 * 0 is success, positive codes are informational (a framer wants more input, a
 * frame or a reading set is ready), negative codes are errors grouped in ranges:
 *   -1xx framing (checksums, sizes, resync)    -2xx decoding
 *   -3xx crypto                                 -4xx transport
 *   -5xx configuration / usage                  -6xx resources
 * The library never prints: callers turn codes into log lines with
 * sm_strerror().  Both functions are thread-safe and never return NULL.
 */
#ifndef SM_ERR_H
#define SM_ERR_H

#define SM_ERR_LIST(X)                                                        \
	X(SM_OK, 0, "ok")                                                     \
	X(SM_NEED_MORE, 1, "need more input")                                 \
	X(SM_FRAME, 2, "frame complete")                                      \
	X(SM_READINGS, 3, "readings decoded")                                 \
	X(SM_E_CRC, -101, "checksum mismatch (CRC)")                          \
	X(SM_E_BCC, -102, "checksum mismatch (BCC)")                          \
	X(SM_E_CHECKSUM, -103, "checksum mismatch")                           \
	X(SM_E_TOO_LONG, -104, "frame too long")                              \
	X(SM_E_TRUNCATED, -105, "frame truncated")                            \
	X(SM_E_NO_CRC, -106, "frame carries no checksum but its version requires one") \
	X(SM_E_SYNTAX, -201, "malformed data")                                \
	X(SM_E_RANGE, -202, "number out of range")                            \
	X(SM_E_FULL, -203, "too many readings in one frame")                  \
	X(SM_E_EMPTY, -204, "frame holds no readings")                        \
	X(SM_E_EXCEPTION, -205, "exception reply from the device")            \
	X(SM_E_AUTH, -301, "authentication failed")                           \
	X(SM_E_NOT_APDU, -302, "decrypted data is not a DLMS APDU: check Key") \
	X(SM_E_IO, -401, "input/output error")                                \
	X(SM_E_TIMEOUT, -402, "timed out")                                    \
	X(SM_E_CLOSED, -403, "end of stream")                                 \
	X(SM_E_OPEN, -404, "cannot open device")                              \
	X(SM_E_LINE, -405, "unsupported line setting")                        \
	X(SM_E_CONFIG, -501, "configuration error")                           \
	X(SM_E_USAGE, -502, "usage error")                                    \
	X(SM_E_NOMEM, -601, "out of memory")                                  \
	X(SM_E_INTERNAL, -602, "internal error")

enum sm_err {
#define SM_ERR_ENUM(sym, val, msg) sym = (val),
	SM_ERR_LIST(SM_ERR_ENUM)
#undef SM_ERR_ENUM
};

/* "SM_E_CRC" etc.; "SM_UNKNOWN" for a value not in the list. */
const char *sm_err_name(enum sm_err e);
/* "checksum mismatch (CRC)" etc.; "unknown error" for a value not in the list. */
const char *sm_strerror(enum sm_err e);

#endif
