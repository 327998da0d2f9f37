/*
 * iec62056_21.c - IEC 62056-21 readouts and push messages: identification,
 * encoder helpers, transcript splitter, framer and decoder.  The contract
 * is iec62056_21.h; the wire format is summarised there and in
 * shared/notes/protocols.md section 2.
 *
 * Pure: no I/O, no clock, no allocation.  Data sets are parsed with the
 * shared OBIS text parser (obis_text.h); this file only knows how IEC
 * 62056-21 arranges them (several per line, '&'-separated values, value +
 * timestamp groups, '!' right after a data set, comments).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "crc.h"
#include "iec62056_21.h"
#include "obis.h"
#include "obis_text.h"
#include "reading.h"


static bool is_print(unsigned char c) { return c >= 0x20 && c <= 0x7e; }
/* A byte an identification may hold: printable, not '/' or '!'. */
static bool id_char(unsigned char c) { return c >= 0x20 && c <= 0x7e && c != '/' && c != '!'; }
static bool is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* ------------------------------------------------------------------ */
/* identification and baud characters                                  */
/* ------------------------------------------------------------------ */

static const int std_bauds[7] = { 300, 600, 1200, 2400, 4800, 9600, 19200 };

char sm_iec_baud_char(int baud)
{
	for (int i = 0; i < 7; i++)
		if (std_bauds[i] == baud)
			return (char)('0' + i);
	return 0;
}

int sm_iec_baud_of_char(char z)
{
	if (z >= '0' && z <= '6')
		return std_bauds[z - '0'];
	if (z >= 'A' && z <= 'F')
		return std_bauds[z - 'A' + 1];
	return 300;
}

int sm_iec_cap_baud(int offer, int max_baud)
{
	int lim = offer;
	if (max_baud > 0 && max_baud < lim)
		lim = max_baud;
	int best = 300;
	for (int i = 0; i < 7; i++)
		if (std_bauds[i] <= lim)
			best = std_bauds[i];
	return best;
}

enum sm_err sm_iec_parse_ident(const char *p, size_t n, struct sm_iec_ident *out)
{
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	if (p == NULL || n < 5 || p[0] != '/')
		return SM_E_SYNTAX;
	for (size_t i = 1; i <= 3; i++)
		if (!is_alpha((unsigned char)p[i]))
			return SM_E_SYNTAX;
	unsigned char z = (unsigned char)p[4];
	if (!id_char(z))
		return SM_E_SYNTAX;
	size_t i = 5;
	char enh = 0;
	if (i < n && p[i] == '\\') {
		if (i + 1 >= n || !id_char((unsigned char)p[i + 1]))
			return SM_E_SYNTAX;
		enh = p[i + 1];
		i += 2;
	}
	if (n - i > SM_IEC_IDENT_MAX)
		return SM_E_SYNTAX;
	for (size_t k = i; k < n; k++)
		if (!id_char((unsigned char)p[k]))
			return SM_E_SYNTAX;
	memset(out, 0, sizeof *out);
	memcpy(out->manufacturer, p + 1, 3);
	out->baud_char = (char)z;
	out->baud = sm_iec_baud_of_char((char)z);
	out->mode = (z >= '0' && z <= '6') ? 'C' : (z >= 'A' && z <= 'F') ? 'B' : 'A';
	out->short_reaction = p[3] >= 'a' && p[3] <= 'z';
	out->enh = enh;
	memcpy(out->ident, p + i, n - i);
	out->ident[n - i] = '\0';
	return SM_OK;
}

/* ------------------------------------------------------------------ */
/* encoder helpers                                                     */
/* ------------------------------------------------------------------ */

uint8_t sm_iec_bcc(const uint8_t *p, size_t n)
{
	return sm_bcc(0, p, n);
}

static enum sm_err put(uint8_t *out, size_t cap, size_t *len, const void *p, size_t n)
{
	if (n > cap - *len)
		return SM_E_FULL;
	if (n == 0)
		return SM_OK;
	memcpy(out + *len, p, n);
	*len += n;
	return SM_OK;
}

enum sm_err sm_iec_encode_request(const char *address, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t an = address ? strlen(address) : 0;
	size_t len = 0;
	*outlen = 0;
	if (an > SM_IEC_ADDRESS_MAX)
		return SM_E_SYNTAX;
	for (size_t i = 0; i < an; i++) {
		unsigned char c = (unsigned char)address[i];
		if (!is_print(c) || c == '/' || c == '!' || c == '(' || c == ')')
			return SM_E_SYNTAX;
	}
	if (put(out, cap, &len, "/?", 2) != SM_OK || put(out, cap, &len, address, an) != SM_OK ||
	    put(out, cap, &len, "!\r\n", 3) != SM_OK)
		return SM_E_FULL;
	*outlen = len;
	return SM_OK;
}

enum sm_err sm_iec_encode_ack(char v, char z, char y, uint8_t *out, size_t cap, size_t *outlen)
{
	const uint8_t ack[6] = { SM_IEC_ACK, (uint8_t)v, (uint8_t)z, (uint8_t)y, '\r', '\n' };
	*outlen = 0;
	if (cap < sizeof ack)
		return SM_E_FULL;
	memcpy(out, ack, sizeof ack);
	*outlen = sizeof ack;
	return SM_OK;
}

enum sm_err sm_iec_encode_ident(const struct sm_iec_ident *id, uint8_t *out, size_t cap,
				size_t *outlen)
{
	char line[SM_IEC_IDENT_LINE_MAX];
	size_t k = 0;
	*outlen = 0;
	size_t idn = strnlen(id->ident, sizeof id->ident);
	if (strnlen(id->manufacturer, sizeof id->manufacturer) != 3 || idn > SM_IEC_IDENT_MAX)
		return SM_E_SYNTAX;
	line[k++] = '/';
	memcpy(line + k, id->manufacturer, 3);
	k += 3;
	line[k++] = id->baud_char;
	if (id->enh != 0) {
		line[k++] = '\\';
		line[k++] = id->enh;
	}
	memcpy(line + k, id->ident, idn);
	k += idn;
	struct sm_iec_ident chk;
	if (sm_iec_parse_ident(line, k, &chk) != SM_OK || chk.enh != id->enh ||
	    strcmp(chk.ident, id->ident) != 0)
		return SM_E_SYNTAX; /* e.g. an ident that starts with '\' and no enh */
	size_t len = 0;
	if (put(out, cap, &len, line, k) != SM_OK || put(out, cap, &len, "\r\n", 2) != SM_OK)
		return SM_E_FULL;
	*outlen = len;
	return SM_OK;
}

enum sm_err sm_iec_encode_data(const char *lines, size_t n, bool with_stx, uint8_t *out,
			       size_t cap, size_t *outlen)
{
	size_t len = 0;
	*outlen = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)lines[i];
		if (c == '!' || c == SM_IEC_STX || c == SM_IEC_ETX)
			return SM_E_SYNTAX;
	}
	const uint8_t stx = SM_IEC_STX, etx = SM_IEC_ETX;
	if (with_stx && put(out, cap, &len, &stx, 1) != SM_OK)
		return SM_E_FULL;
	size_t body = len;
	if (put(out, cap, &len, lines, n) != SM_OK || put(out, cap, &len, "!\r\n", 3) != SM_OK)
		return SM_E_FULL;
	if (with_stx) {
		if (put(out, cap, &len, &etx, 1) != SM_OK)
			return SM_E_FULL;
		uint8_t bcc = sm_iec_bcc(out + body, len - body);
		if (put(out, cap, &len, &bcc, 1) != SM_OK)
			return SM_E_FULL;
	}
	*outlen = len;
	return SM_OK;
}

/* Index of the first '!' outside "(...)" in p[from..n), or n. */
static size_t find_bang(const uint8_t *p, size_t from, size_t n)
{
	bool paren = false;
	for (size_t i = from; i < n; i++) {
		uint8_t c = p[i];
		if (c == '(')
			paren = true;
		else if (c == ')' || c == '\n')
			paren = false;
		else if (c == '!' && !paren)
			return i;
	}
	return n;
}

enum sm_err sm_iec_split_transcript(const uint8_t *p, size_t n, struct sm_iec_transcript *out)
{
	size_t i = 0;
	memset(out, 0, sizeof *out);
	for (;;) {
		const uint8_t *s = i < n ? memchr(p + i, '/', n - i) : NULL;
		if (s == NULL)
			return SM_E_SYNTAX;
		i = (size_t)(s - p);
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t le = nl ? (size_t)(nl - p) : n;
		if (i + 1 < n && p[i + 1] == '?') { /* echoed request */
			i = le;
			continue;
		}
		size_t ln = le - i;
		while (ln > 0 && p[i + ln - 1] == '\r')
			ln--;
		if (sm_iec_parse_ident((const char *)p + i, ln, &out->id) != SM_OK) {
			i++;
			continue;
		}
		out->ident_line = p + i;
		out->ident_n = ln;
		i = nl ? le + 1 : n;
		break;
	}
	/* blank lines, NULs, echoed ACK lines */
	while (i < n) {
		uint8_t c = p[i];
		if (c == '\r' || c == '\n' || c == 0) {
			i++;
		} else if (c == SM_IEC_ACK) {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			i = nl ? (size_t)(nl - p) + 1 : n;
		} else {
			break;
		}
	}
	if (i < n && p[i] == SM_IEC_STX) {
		out->has_stx = true;
		i++;
	}
	size_t bang = find_bang(p, i, n);
	if (bang >= n)
		return SM_E_SYNTAX;
	out->data = p + i;
	out->data_n = bang - i;
	size_t j = bang + 1;
	if (j < n && p[j] == '\r')
		j++;
	if (j < n && p[j] == '\n')
		j++;
	if (out->has_stx && j + 1 < n && p[j] == SM_IEC_ETX) {
		out->has_bcc = true;
		out->bcc_rx = p[j + 1];
		out->bcc_ok = sm_iec_bcc(out->data, j + 1 - i) == out->bcc_rx;
		j += 2;
	}
	out->next = j;
	return SM_OK;
}

/* ------------------------------------------------------------------ */
/* framer                                                              */
/* ------------------------------------------------------------------ */

enum {
	F_IDLE = 0, /* outside a message: wait for '/' */
	F_IDENT,    /* inside the identification line */
	F_PRE,      /* between identification and data */
	F_ACKLINE,  /* skipping an echoed ACK line */
	F_DATA,     /* data lines, not at a line start */
	F_DATA_LS,  /* data lines, at a line start */
	F_BANG,     /* after '!': line end, then (STX blocks) ETX */
	F_BCC,      /* after ETX: the BCC byte */
	F_AFTER,    /* a message without STX ended "!" CR LF: is an ETX next? */
	F_LOSTBCC,  /* ETX after a message without STX: its BCC byte */
};

void sm_iec_framer_init(struct sm_iec_framer *f, bool ignore_checksum)
{
	f->ignore_checksum = ignore_checksum;
	f->skipped = 0;
	sm_iec_framer_reset(f);
}

bool sm_iec_framer_in_data(const struct sm_iec_framer *f)
{
	return f->state == F_DATA || f->state == F_DATA_LS || f->state == F_BANG ||
	       f->state == F_BCC || f->state == F_AFTER || f->state == F_LOSTBCC;
}

bool sm_iec_framer_ends_soon(const struct sm_iec_framer *f)
{
	return f->state == F_AFTER;
}

void sm_iec_framer_reset(struct sm_iec_framer *f)
{
	f->state = F_IDLE;
	f->len = 0;
	f->line_start = 0;
	f->stx = false;
	f->in_paren = false;
	f->bcc = 0;
}

static void framer_start(struct sm_iec_framer *f)
{
	f->buf[0] = '/';
	f->len = 1;
	f->line_start = 0;
	f->stx = false;
	f->in_paren = false;
	f->bcc = 0;
	f->state = F_IDENT;
}

static enum sm_err framer_out(struct sm_iec_framer *f, struct sm_frame *frame, enum sm_check check,
			      bool unterminated)
{
	f->state = F_IDLE;
	frame->p = f->buf;
	frame->n = f->len;
	frame->check = check;
	frame->unterminated = unterminated;
	return SM_FRAME;
}

/* Append one byte of the data message (BCC counted for STX blocks). */
static void put_data(struct sm_iec_framer *f, uint8_t c)
{
	f->buf[f->len++] = c;
	if (f->stx)
		f->bcc ^= c;
}

enum sm_err sm_iec_framer_feed(struct sm_iec_framer *f, const uint8_t *in, size_t len,
			       size_t *used, struct sm_frame *frame, struct sm_diag *diag)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = in[i];
		switch (f->state) {
		case F_IDLE: {
			const uint8_t *s = memchr(in + i, '/', len - i);
			if (s == NULL) {
				f->skipped += len - i;
				i = len;
				break;
			}
			f->skipped += (size_t)(s - (in + i));
			i = (size_t)(s - in) + 1;
			framer_start(f);
			break;
		}
		case F_IDENT:
			i++;
			if (c == '/') { /* garbage before: start again here */
				f->skipped += f->len;
				framer_start(f);
				break;
			}
			if (f->len >= SM_IEC_IDENT_LINE_MAX) {
				f->state = F_IDLE;
				*used = i;
				sm_diag_set(diag, "identification line longer than %d bytes: dropped",
					 SM_IEC_IDENT_LINE_MAX);
				return SM_E_TOO_LONG;
			}
			f->buf[f->len++] = c;
			if (c != '\n')
				break;
			{
				struct sm_iec_ident id;
				if (f->len >= 2 && f->buf[1] == '?') { /* echoed request */
					f->skipped += f->len;
					f->state = F_IDLE;
					break;
				}
				if (sm_iec_parse_ident((const char *)f->buf, f->len, &id) != SM_OK) {
					char show[41];
					size_t n = 0;
					while (n < f->len && n < sizeof show - 1 && f->buf[n] != '\r' &&
					       f->buf[n] != '\n') {
						show[n] = is_print(f->buf[n]) ? (char)f->buf[n] : '?';
						n++;
					}
					show[n] = '\0';
					f->state = F_IDLE;
					*used = i;
					sm_diag_set(diag, "not an identification line: \"%s\"", show);
					return SM_E_SYNTAX;
				}
			}
			f->state = F_PRE;
			break;
		case F_PRE:
			if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
				i++;
				f->skipped++;
			} else if (c == SM_IEC_ACK) {
				i++;
				f->skipped++;
				f->state = F_ACKLINE;
			} else if (c == '/') {
				/* another identification: the first had no data */
				f->skipped += f->len;
				i++;
				framer_start(f);
			} else if (c == SM_IEC_STX) {
				i++;
				f->buf[f->len++] = c;
				f->stx = true;
				f->bcc = 0;
				f->line_start = f->len;
				f->state = F_DATA_LS;
			} else if (c < 0x20) {
				i++;
				f->skipped++;
			} else {
				f->line_start = f->len;
				f->state = F_DATA_LS; /* data without STX; the byte is copied there */
			}
			break;
		case F_ACKLINE:
			i++;
			f->skipped++;
			if (c == '\n')
				f->state = F_PRE;
			break;
		case F_DATA_LS:
			if (c == '/') {
				size_t old = f->len;
				i++;
				framer_start(f);
				*used = i;
				sm_diag_set(diag, "message truncated: a new identification arrived after "
					 "%zu bytes, before the end of the data", old);
				return SM_E_TRUNCATED;
			}
			f->state = F_DATA;
			/* fall through */
		case F_DATA:
			if (f->len >= SM_IEC_MAX) {
				i++;
				f->state = F_IDLE;
				*used = i;
				sm_diag_set(diag, "message longer than %d bytes: dropped", SM_IEC_MAX);
				return SM_E_TOO_LONG;
			}
			i++;
			if (c == '!' && !f->in_paren) {
				put_data(f, c);
				f->state = F_BANG;
				break;
			}
			if (c == SM_IEC_ETX && f->stx) {
				put_data(f, c);
				f->state = F_BCC;
				break;
			}
			put_data(f, c);
			if (c == '(') {
				f->in_paren = true;
			} else if (c == ')') {
				f->in_paren = false;
			} else if (c == '\n') {
				f->in_paren = false;
				f->line_start = f->len;
				f->state = F_DATA_LS;
			}
			break;
		case F_BANG:
			if (c == '\r' || (c == '\n')) {
				if (f->len >= SM_IEC_MAX) {
					i++;
					f->state = F_IDLE;
					*used = i;
					sm_diag_set(diag, "message longer than %d bytes: dropped", SM_IEC_MAX);
					return SM_E_TOO_LONG;
				}
				i++;
				put_data(f, c);
				if (c == '\n' && !f->stx)
					f->state = F_AFTER;
				break;
			}
			if (f->stx && c == SM_IEC_ETX && f->len < SM_IEC_MAX) {
				i++;
				put_data(f, c);
				f->state = F_BCC;
				break;
			}
			if (!f->stx || c == '/') {
				/* no line end (no STX) or no ETX (a new message
				 * follows): the message ends here, the byte stays */
				*used = i;
				return framer_out(f, frame, SM_CHECK_ABSENT, false);
			}
			i++;
			f->state = F_IDLE;
			*used = i;
			sm_diag_set(diag, "unexpected byte 0x%02X after '!' (ETX expected)", (unsigned)c);
			return SM_E_SYNTAX;
		case F_AFTER:
			/* A message without STX is complete at "!" CR LF, unless
			 * ETX follows: then it had an STX, damaged on the way, and
			 * its BCC cannot be trusted to cover what we took for the
			 * message.  Anything else stays for the next message. */
			if (c != SM_IEC_ETX) {
				*used = i;
				return framer_out(f, frame, SM_CHECK_ABSENT, false);
			}
			i++;
			f->state = F_LOSTBCC;
			break;
		case F_LOSTBCC:
			i++;
			*used = i;
			if (f->ignore_checksum)
				return framer_out(f, frame, SM_CHECK_IGNORED, false);
			f->state = F_IDLE;
			sm_diag_set(diag, "ETX and BCC after a message without STX: its STX was damaged, "
				    "the BCC cannot be checked: dropped");
			return SM_E_BCC;
		case F_BCC:
		default: {
			i++;
			*used = i;
			if (c == f->bcc)
				return framer_out(f, frame, SM_CHECK_OK, false);
			if (f->ignore_checksum)
				return framer_out(f, frame, SM_CHECK_IGNORED, false);
			f->state = F_IDLE;
			sm_diag_set(diag, "BCC mismatch: message says %02X, computed %02X", (unsigned)c,
				 (unsigned)f->bcc);
			return SM_E_BCC;
		}
		}
	}
	*used = i;
	return SM_NEED_MORE;
}

enum sm_err sm_iec_framer_flush(struct sm_iec_framer *f, struct sm_frame *frame,
				struct sm_diag *diag)
{
	switch (f->state) {
	case F_IDLE:
		return SM_NEED_MORE;
	case F_BANG:
	case F_AFTER:
		return framer_out(f, frame, SM_CHECK_ABSENT, false);
	case F_LOSTBCC:
		f->state = F_IDLE;
		sm_diag_set(diag, "ETX after a message without STX: its STX was damaged: dropped");
		return SM_E_BCC;
	case F_DATA_LS:
		if (!f->stx) {
			/* ended after a complete line without '!' */
			return framer_out(f, frame, SM_CHECK_ABSENT, true);
		}
		break;
	case F_BCC:
		f->state = F_IDLE;
		sm_diag_set(diag, "message truncated: input ended after ETX, before the BCC");
		return SM_E_TRUNCATED;
	default:
		break;
	}
	size_t n = f->len;
	f->state = F_IDLE;
	sm_diag_set(diag, "message truncated: input ended after %zu bytes, before the '!'", n);
	return SM_E_TRUNCATED;
}

/* ------------------------------------------------------------------ */
/* decoder                                                             */
/* ------------------------------------------------------------------ */

/* Groups C and D are the given value or letter. */
static bool obis_cd(const struct sm_obis *o, int c, int d)
{
	const uint8_t need = SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D);
	if ((o->present & need) != need)
		return false;
	return o->v[SM_OBIS_C] == c && o->v[SM_OBIS_D] == d &&
	       ((o->letter & SM_OBIS_BIT(SM_OBIS_C)) != 0) == (c >= 'A' && c <= 'Z') &&
	       ((o->letter & SM_OBIS_BIT(SM_OBIS_D)) != 0) == (d >= 'A' && d <= 'Z');
}

/* Objects whose value is text even when it looks like a number: leading
 * zeros and hex digits matter. */
static bool is_text_object(const struct sm_obis *o)
{
	return obis_cd(o, 0, 0) ||     /* device address, serial number */
	       obis_cd(o, 96, 1) ||    /* equipment ids */
	       obis_cd(o, 96, 5) ||    /* status words */
	       obis_cd(o, 0, 2) ||     /* firmware version, configuration ids */
	       obis_cd(o, 0, 9) ||     /* time hhmmss, date YYMMDD (no zone) */
	       obis_cd(o, 'C', 1) ||   /* C.1.x serial numbers */
	       obis_cd(o, 'F', 'F') || /* F.F error register */
	       (o->present == SM_OBIS_BIT(SM_OBIS_C) && (o->letter & SM_OBIS_BIT(SM_OBIS_C)) &&
		o->v[SM_OBIS_C] == 'F'); /* lone "F": error register */
}

struct dec {
	struct sm_reading_set *out;
	unsigned bad;
	bool full;
	uint8_t part[SM_MAX_READINGS]; /* '&' part number (>= 2) of each reading, 0 = none */
};

static void dec_add_rc(struct dec *d, enum sm_err rc)
{
	if (rc == SM_E_FULL) {
		d->full = true;
		d->bad++;
	} else if (rc != SM_OK) {
		d->bad++;
	}
}

static void trim(const char **p, size_t *n)
{
	while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* One value "value[*unit]" of p[0..n) as a group. */
static struct sm_ot_group make_group(const char *p, size_t n)
{
	struct sm_ot_group g;
	const char *star = memchr(p, '*', n);
	g.val = p;
	if (star != NULL) {
		g.val_n = (size_t)(star - p);
		g.unit = star + 1;
		g.unit_n = n - g.val_n - 1;
	} else {
		g.val_n = n;
		g.unit = NULL;
		g.unit_n = 0;
	}
	return g;
}

/* A group as a number; the unit text tried ignoring case. */
static enum sm_err group_number(const struct sm_ot_group *g, int64_t *raw, int8_t *scale,
				enum sm_unit *unit, char unit_text[SM_UNIT_TEXT])
{
	struct sm_ot_group g2 = *g;
	trim(&g2.unit, &g2.unit_n);
	if (g2.unit != NULL && g2.unit_n == 0)
		g2.unit = NULL; /* "(5*)": an empty unit */
	return sm_ot_group_number(&g2, raw, scale, unit, unit_text);
}

static void add_num(struct dec *d, const struct sm_obis *o, int64_t raw, int8_t scale,
		    enum sm_unit unit, const char *ut, int64_t time_ms, unsigned part)
{
	size_t idx = d->out->n;
	enum sm_err rc = sm_set_add_number(d->out, o, raw, scale, unit, ut,
					   unit == SM_UNIT_OTHER ? strnlen(ut, SM_UNIT_TEXT) : 0, time_ms);
	if (rc == SM_OK && idx < SM_MAX_READINGS)
		d->part[idx] = (uint8_t)(part > 255 ? 255 : part);
	dec_add_rc(d, rc);
}

static void add_text(struct dec *d, const struct sm_obis *o, const char *p, size_t n, int64_t time_ms)
{
	trim(&p, &n);
	dec_add_rc(d, sm_set_add_text(d->out, o, p, n, time_ms));
}

/* The value group of a data set.  raw content p[0..n) between '(' and ')'. */
static void add_value(struct dec *d, const struct sm_obis *o, const char *p, size_t n,
		      int64_t time_ms)
{
	if (d->full) {
		d->bad++;
		return;
	}
	if (n == 0)
		return; /* "()": no value */
	if (is_text_object(o)) {
		add_text(d, o, p, n, time_ms);
		return;
	}
	int64_t raw;
	int8_t scale;
	enum sm_unit unit;
	char ut[SM_UNIT_TEXT];

	if (memchr(p, '&', n) != NULL) {
		/* "088*C&082*C": numbers only, else the whole group as text */
		bool numbers = true, any = false;
		size_t s = 0;
		while (s <= n) {
			const char *a = memchr(p + s, '&', n - s);
			size_t e = a ? (size_t)(a - p) : n;
			const char *pp = p + s;
			size_t pn = e - s;
			trim(&pp, &pn);
			if (pn > 0) {
				struct sm_ot_group g = make_group(pp, pn);
				any = true;
				if (group_number(&g, &raw, &scale, &unit, ut) != SM_OK)
					numbers = false;
			}
			s = e + 1;
		}
		if (!any)
			return; /* "(&&)" */
		if (!numbers) {
			add_text(d, o, p, n, time_ms);
			return;
		}
		unsigned part = 0;
		s = 0;
		while (s <= n) {
			const char *a = memchr(p + s, '&', n - s);
			size_t e = a ? (size_t)(a - p) : n;
			const char *pp = p + s;
			size_t pn = e - s;
			part++;
			trim(&pp, &pn);
			if (pn > 0) {
				struct sm_ot_group g = make_group(pp, pn);
				if (group_number(&g, &raw, &scale, &unit, ut) == SM_OK)
					add_num(d, o, raw, scale, unit, ut, time_ms, part);
			}
			s = e + 1;
		}
		return;
	}
	struct sm_ot_group g = make_group(p, n);
	enum sm_err rc = group_number(&g, &raw, &scale, &unit, ut);
	if (rc == SM_OK) {
		add_num(d, o, raw, scale, unit, ut, time_ms, 0);
		return;
	}
	const char *tp = p;
	size_t tn = n;
	trim(&tp, &tn);
	if (tn == 0) {
		/* "(        )": a value of blanks, kept as an empty text */
		add_text(d, o, p, n, time_ms);
	} else if (rc == SM_E_SYNTAX && g.unit == NULL) {
		add_text(d, o, p, n, time_ms); /* not a number: the meter's text */
	} else {
		d->bad++;
	}
}

/* The raw text between '(' and ')' of a group. */
static void group_raw(const struct sm_ot_group *g, const char **p, size_t *n)
{
	*p = g->val;
	*n = g->unit != NULL ? (size_t)(g->unit + g->unit_n - g->val) : g->val_n;
}

/* "YYMMDDhhmm", "YYMMDDhhmmss", optionally with an S/W zone letter. */
static bool looks_like_timestamp(const struct sm_ot_group *g)
{
	size_t n = g->val_n;
	if (g->unit != NULL)
		return false;
	if (n == 11 || n == 13) {
		char x = g->val[n - 1];
		if (x != 'S' && x != 'W' && x != 's' && x != 'w')
			return false;
		n--;
	}
	if (n != 10 && n != 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (g->val[i] < '0' || g->val[i] > '9')
			return false;
	return true;
}

/* The time of a timestamp group: only with a zone letter (S/W, as DSMR
 * meters send it); 0 otherwise. */
static int64_t group_time(const struct sm_ot_group *g)
{
	int64_t ms = 0;
	if (g->val_n != 13 || g->val[0] >= '7')
		return 0;
	char t[13];
	memcpy(t, g->val, 13);
	if (t[12] == 's')
		t[12] = 'S';
	else if (t[12] == 'w')
		t[12] = 'W';
	if (!sm_ot_timestamp(t, 13, &ms) || ms <= 0)
		return 0;
	return ms;
}

static void dec_set(struct dec *d, const struct sm_ot_set *set)
{
	if (!set->has_obis || set->ngroups == 0) {
		d->bad++; /* a value without address cannot be named */
		return;
	}
	const struct sm_ot_group *g = set->g;
	size_t ng = set->ngroups;
	const char *p;
	size_t n;
	if (ng >= 2 && looks_like_timestamp(&g[0]) && !looks_like_timestamp(&g[ng - 1])) {
		/* (ts)(value) */
		group_raw(&g[ng - 1], &p, &n);
		add_value(d, &set->obis, p, n, group_time(&g[0]));
		return;
	}
	int64_t t = 0;
	if (ng >= 2 && looks_like_timestamp(&g[1]))
		t = group_time(&g[1]); /* (value)(ts): max demand and its time */
	group_raw(&g[0], &p, &n);
	add_value(d, &set->obis, p, n, t);
}

/* Decode the data sets of one line p[0..n).  Returns true at the end of
 * the data ('!' or ETX). */
static bool dec_line(struct dec *d, const char *p, size_t n, struct sm_ot_set *set)
{
	size_t i = 0;
	for (;;) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == 0 ||
				 p[i] == SM_IEC_STX))
			i++;
		if (i >= n)
			return false;
		if (p[i] == '!' || p[i] == SM_IEC_ETX)
			return true;
		if (p[i] == '#')
			return false; /* comment */
		if (p[i] == SM_IEC_ACK)
			return false; /* an echoed ACK line */
		size_t used = 0;
		enum sm_err rc = sm_ot_parse(p + i, n - i, &used, set);
		if (rc != SM_OK || used == 0) {
			d->bad++;
			/* the rest of the line may still hold the end marker */
			const char *b = memchr(p + i, '!', n - i);
			const char *e = memchr(p + i, SM_IEC_ETX, n - i);
			return b != NULL || e != NULL;
		}
		dec_set(d, set);
		i += used;
	}
}

enum sm_err sm_iec_decode(const struct sm_frame *frame, struct sm_reading_set *out,
			  unsigned *bad_lines, struct sm_iec_ident *id, struct sm_diag *diag)
{
	struct dec d;
	struct sm_iec_ident idbuf;
	d.out = out;
	d.bad = 0;
	d.full = false;
	memset(d.part, 0, sizeof d.part);
	sm_set_clear(out);
	if (bad_lines)
		*bad_lines = 0;
	if (id == NULL)
		id = &idbuf;

	const char *p = (const char *)frame->p;
	const char *end = p + frame->n;
	const char *nl = frame->n > 0 ? memchr(p, '\n', frame->n) : NULL;
	size_t idn = nl ? (size_t)(nl - p) : frame->n;
	if (frame->n == 0 || p[0] != '/' || sm_iec_parse_ident(p, idn, id) != SM_OK) {
		sm_diag_set(diag, "not an IEC 62056-21 message (no identification line)");
		return SM_E_SYNTAX;
	}
	p = nl ? nl + 1 : end;

	struct sm_ot_set setbuf;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (dec_line(&d, p, (size_t)(le - p), &setbuf))
			break;
		p = nl ? nl + 1 : end;
	}

	sm_set_finish(out);
	for (size_t k = 0; k < out->n; k++) {
		if (d.part[k] >= 2) {
			struct sm_reading *r = &out->r[k];
			size_t l = strnlen(r->name, sizeof r->name);
			snprintf(r->name + l, sizeof r->name - l, "_v%u", (unsigned)d.part[k]);
		}
	}
	if (bad_lines)
		*bad_lines = d.bad;
	if (out->n == 0) {
		sm_diag_set(diag, "message holds no readings (%u unusable data set%s)", d.bad,
			 d.bad == 1 ? "" : "s");
		return SM_E_EMPTY;
	}
	if (d.full)
		sm_diag_set(diag, "too many readings: %zu kept, the rest dropped", out->n);
	return SM_READINGS;
}
