/*
 * config.c - meter configuration: the option table, setters with their
 * checks, the validator, ports, Select matching (config.h).
 *
 * One table (sm_meter_options) names every option; a parallel table of
 * setters (same order, checked at compile time) does the work, so config
 * files, the collectd plugin and command line flags share every check and
 * every message.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "config.h"
#include "gcm.h"

/* ---- the table ---- */

enum opt_id {
	OPT_PROTOCOL,
	OPT_DEVICE,
	OPT_BAUDRATE,
	OPT_PARITY,
	OPT_DATABITS,
	OPT_STOPBITS,
	OPT_INTERVAL,
	OPT_TIMEOUT,
	OPT_SELECT,
	OPT_IGNORE_CHECKSUM,
	OPT_MODE,
	OPT_ADDRESS,
	OPT_MAX_BAUDRATE,
	OPT_BAUD_SWITCH_DELAY,
	OPT_WAKE_UP,
	OPT_KEY,
	OPT_KEY_FILE,
	OPT_AUTH_KEY,
	OPT_FRAMING,
	OPT_SLAVE,
	OPT_MODEL,
	OPT_REGISTER_MAP,
	OPT_COUNT
};

#define IEC "iec62056-21"
#define CRYPT_PROTOS "dlms,dsmr"
#define MODBUS "modbus"

const struct sm_option_desc sm_meter_options[] = {
	[OPT_PROTOCOL] = {"Protocol", "protocol", SM_OPT_STRING, "NAME",
			  "protocol of the meter (required)", NULL},
	[OPT_DEVICE] = {"Device", "device", SM_OPT_STRING, "DEVICE",
			"serial port, tcp://HOST:PORT, rtu+tcp://HOST:PORT (modbus) or file:PATH "
			"(required)",
			NULL},
	[OPT_BAUDRATE] = {"Baudrate", "baudrate", SM_OPT_NUMBER, "BAUD",
			  "line speed (default: the protocol's)", NULL},
	[OPT_PARITY] = {"Parity", "parity", SM_OPT_STRING, "none|even|odd",
			"parity (default: the protocol's)", NULL},
	[OPT_DATABITS] = {"DataBits", "data-bits", SM_OPT_NUMBER, "5..8",
			  "data bits (default: the protocol's)", NULL},
	[OPT_STOPBITS] = {"StopBits", "stop-bits", SM_OPT_NUMBER, "1|2",
			  "stop bits (default: the protocol's)", NULL},
	[OPT_INTERVAL] = {"Interval", "interval", SM_OPT_NUMBER, "SECONDS",
			  "polled meters: seconds between polls (default 60, modbus 10); push meters: at most "
			  "one emission per interval (default 0: every frame)", NULL},
	[OPT_TIMEOUT] = {"Timeout", "timeout", SM_OPT_NUMBER, "SECONDS",
			 "push meters: seconds without a valid frame before the meter counts as "
			 "stalled (default 30); modbus: response timeout of one request (0.01..10, "
			 "default 0.5)",
			 NULL},
	[OPT_SELECT] = {"Select", "select", SM_OPT_LIST, "NAME|OBIS",
			"only these readings (canonical names or OBIS codes; repeatable)", NULL},
	[OPT_IGNORE_CHECKSUM] = {"IgnoreChecksum", "ignore-checksum", SM_OPT_BOOL, "true|false",
				 "accept frames with a wrong CRC/BCC (counted as unchecked)", NULL},
	[OPT_MODE] = {"Mode", "mode", SM_OPT_STRING, "A|B|C|D",
		      "IEC 62056-21 mode: A, B, C polled (default C), D push", IEC},
	[OPT_ADDRESS] = {"Address", "address", SM_OPT_STRING, "ADDRESS",
			 "IEC 62056-21 device address (1-32 of 0-9 A-Z a-z space), needed "
			 "for several meters on one bus",
			 IEC},
	[OPT_MAX_BAUDRATE] = {"MaxBaudrate", "max-baudrate", SM_OPT_NUMBER, "BAUD",
			      "IEC 62056-21: highest speed to switch to (300..19200; default: "
			      "the meter's offer)",
			      IEC},
	[OPT_BAUD_SWITCH_DELAY] = {"BaudSwitchDelay", "baud-switch-delay", SM_OPT_NUMBER, "SECONDS",
				   "IEC 62056-21: pause after the ACK before switching speed "
				   "(0..5, default 0.3)",
				   IEC},
	[OPT_WAKE_UP] = {"WakeUp", "wake-up", SM_OPT_BOOL, "true|false",
			 "IEC 62056-21: send NUL bytes to wake the meter before the sign-on "
			 "(default false)",
			 IEC},
	[OPT_KEY] = {"Key", "key", SM_OPT_STRING, "HEX",
		     "AES-128 key of an encrypted meter, 32 hex digits (dlms; dsmr: Luxembourg "
		     "Smarty frames)",
		     CRYPT_PROTOS},
	[OPT_KEY_FILE] = {"KeyFile", "key-file", SM_OPT_STRING, "PATH",
			  "file holding the Key (32 hex digits), read at start; instead of Key",
			  CRYPT_PROTOS},
	[OPT_AUTH_KEY] = {"AuthKey", "auth-key", SM_OPT_STRING, "HEX",
			  "authentication key, 32 hex digits: verify the tag of authenticated "
			  "frames (security control 0x30)",
			  CRYPT_PROTOS},
	[OPT_FRAMING] = {"Framing", "framing", SM_OPT_STRING, "mbus|hdlc|raw",
			 "dlms: M-Bus long frames (default), HDLC frames or a raw APDU stream",
			 "dlms"},
	[OPT_SLAVE] = {"Slave", "slave", SM_OPT_NUMBER, "ID",
		       "modbus: unit id of the meter, 1..247 (0 and 255 also with a tcp:// Device; "
		       "default 1)",
		       MODBUS},
	[OPT_MODEL] = {"Model", "model", SM_OPT_STRING, "MODEL",
		       "modbus: a built-in register map such as \"sdm630\" (or RegisterMap)", MODBUS},
	[OPT_REGISTER_MAP] = {"RegisterMap", "register-map", SM_OPT_STRING, "NAME",
			      "modbus: the name of a <RegisterMap> block of the configuration "
			      "(or Model)",
			      MODBUS},
	[OPT_COUNT] = {NULL, NULL, SM_OPT_STRING, NULL, NULL, NULL},
};

_Static_assert(sizeof(sm_meter_options) / sizeof(sm_meter_options[0]) == OPT_COUNT + 1,
	       "option table and enum opt_id disagree");
_Static_assert(OPT_COUNT <= 64, "opt_set has 64 bits");

static const int bauds[] = {300,   600,   1200,   2400,   4800,   9600,   19200,
			    38400, 57600, 115200, 230400, 460800, 921600};
/* IEC 62056-21 speeds (baud characters 0..6 / A..F) */
static const int iec_bauds[] = {300, 600, 1200, 2400, 4800, 9600, 19200};

/* Where an error goes and how it starts. */
struct optctx {
	const struct sm_meter_cfg *m;
	const char *flag; /* non-NULL: from a command line flag */
	const struct sm_option_desc *opt;
	char *err;
	size_t errlen;
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* s for a message: at most 64 bytes, unprintable bytes, quotes and
 * backslashes as \xHH, in double quotes when quoted. */
static void esc_str(const char *s, char *out, size_t cap, bool quoted)
{
	static const char hex[] = "0123456789abcdef";
	struct sm_buf b;
	sm_buf_init(&b, out, cap);
	if (s == NULL) {
		sm_buf_adds(&b, "(none)");
		return;
	}
	if (quoted && sm_buf_addc(&b, '"') != SM_OK)
		return;
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= 64 || b.len + 8 >= b.cap) {
			sm_buf_adds(&b, "...");
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			sm_buf_addc(&b, (char)ch);
		} else {
			char e[5] = {'\\', 'x', hex[ch >> 4], hex[ch & 15], '\0'};
			sm_buf_adds(&b, e);
		}
	}
	if (quoted)
		sm_buf_addc(&b, '"');
}

static void quote_str(const char *s, char *out, size_t cap)
{
	esc_str(s, out, cap, true);
}

/* A value as the user wrote it, for "got ..." */
static void describe_value(const struct sm_cfg_value *v, char *out, size_t cap)
{
	switch (v->type) {
	case SM_CV_STRING:
		quote_str(v->s, out, cap);
		return;
	case SM_CV_NUMBER:
		snprintf(out, cap, "%.15g", v->num);
		return;
	case SM_CV_BOOL:
		snprintf(out, cap, "%s", v->b ? "true" : "false");
		return;
	}
	snprintf(out, cap, "?");
}

static const char *meter_name(const struct sm_meter_cfg *m)
{
	return m != NULL && m->name != NULL ? m->name : "(unnamed)";
}

/* "meter "home": Baudrate: " or "--baudrate: " followed by fmt. */
static void __attribute__((format(printf, 2, 3)))
opt_err(const struct optctx *x, const char *fmt, ...)
{
	if (x->err == NULL || x->errlen == 0)
		return;
	int k;
	if (x->flag != NULL) {
		k = snprintf(x->err, x->errlen, "--%s: ", x->opt->flag);
	} else {
		char q[96];
		quote_str(meter_name(x->m), q, sizeof(q));
		k = snprintf(x->err, x->errlen, "meter %s: %s: ", q, x->opt->name);
	}
	if (k < 0 || (size_t)k >= x->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err + k, x->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

/* "expected WHAT, got VALUE[ (DETAIL)]" */
static enum sm_err expected(const struct optctx *x, const char *what,
			    const struct sm_cfg_value *v, const char *detail)
{
	char got[96];
	describe_value(v, got, sizeof(got));
	if (detail != NULL)
		opt_err(x, "expected %s, got %s (%s)", what, got, detail);
	else
		opt_err(x, "expected %s, got %s", what, got);
	return SM_E_CONFIG;
}

static enum sm_err one_value(const struct optctx *x, size_t nv)
{
	if (nv == 1)
		return SM_OK;
	if (nv == 0)
		opt_err(x, "expected a value, got none");
	else
		opt_err(x, "expected one value, got %zu", nv);
	return SM_E_CONFIG;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

static enum sm_err out_of_memory(const struct optctx *x)
{
	opt_err(x, "out of memory");
	return SM_E_NOMEM;
}

/* An integral number in [lo, hi]; false otherwise. */
static bool int_in(const struct sm_cfg_value *v, double lo, double hi, int *out)
{
	if (v->type != SM_CV_NUMBER || !isfinite(v->num) || v->num < lo || v->num > hi ||
	    v->num != floor(v->num))
		return false;
	*out = (int)v->num;
	return true;
}

/* ---- setters ---- */

static enum sm_err set_protocol(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	char what[160];
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	snprintf(what, sizeof(what), "one of %s", sm_proto_names());
	const struct sm_proto *p = NULL;
	if (v->type == SM_CV_STRING && v->s != NULL)
		p = sm_proto_find(v->s);
	if (p == NULL)
		return expected(x, what, v, NULL);
	m->proto = p;
	return SM_OK;
}

#define DEVICE_WHAT "a serial port path, tcp://HOST:PORT, rtu+tcp://HOST:PORT or file:PATH"
#define TCP_PREFIX "tcp://"
#define RTU_TCP_PREFIX "rtu+tcp://"

static bool is_tcp_device(const char *dev)
{
	return dev != NULL && strncmp(dev, TCP_PREFIX, strlen(TCP_PREFIX)) == 0;
}

static bool is_rtu_tcp_device(const char *dev)
{
	return dev != NULL && strncmp(dev, RTU_TCP_PREFIX, strlen(RTU_TCP_PREFIX)) == 0;
}

/* What is wrong with the HOST:PORT of a network Device, or NULL. */
static const char *host_port_problem(const char *hp)
{
	const char *colon = strrchr(hp, ':');
	if (colon == NULL)
		return "no port";
	size_t hl = (size_t)(colon - hp);
	if (hl == 0)
		return "no host";
	if (hp[0] == '[' && (hl < 3 || hp[hl - 1] != ']'))
		return "bad [IPv6] host";
	if (hp[0] != '[' && memchr(hp, ':', hl) != NULL)
		return "write an IPv6 host in brackets";
	for (size_t i = 0; i < hl; i++)
		if (hp[i] == '/' || hp[i] == ' ')
			return "bad host";
	const char *pp = colon + 1;
	unsigned long port = 0;
	size_t digits = 0;
	for (; pp[digits] != '\0'; digits++) {
		if (pp[digits] < '0' || pp[digits] > '9' || digits >= 5)
			return "port must be 1..65535";
		port = port * 10 + (unsigned long)(pp[digits] - '0');
	}
	if (digits == 0 || port < 1 || port > 65535)
		return "port must be 1..65535";
	return NULL;
}

static enum sm_err set_device(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			      const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type != SM_CV_STRING || v->s == NULL)
		return expected(x, DEVICE_WHAT, v, NULL);
	const char *s = v->s;
	if (s[0] == '\0')
		return expected(x, DEVICE_WHAT, v, "empty");
	for (const char *q = s; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return expected(x, DEVICE_WHAT, v, "control character");
	if (is_tcp_device(s) || is_rtu_tcp_device(s)) {
		const char *why = host_port_problem(strstr(s, "://") + 3);
		if (why != NULL)
			return expected(x, DEVICE_WHAT, v, why);
	} else if (strncmp(s, "file:", 5) == 0) {
		if (s[5] == '\0')
			return expected(x, DEVICE_WHAT, v, "empty path");
	} else {
		const char *sep = strstr(s, "://");
		if (sep != NULL && strchr(s, '/') > sep)
			return expected(x, DEVICE_WHAT, v, "unknown scheme");
	}
	char *d = xstrdup(s);
	if (d == NULL)
		return out_of_memory(x);
	free(m->device);
	m->device = d;
	return SM_OK;
}

/* One of list[0..n): true and *out set; else the error "expected one of ...". */
static enum sm_err get_baud(const struct sm_cfg_value *v, size_t nv, const struct optctx *x,
			    const int *list, size_t n, int *out)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	int b;
	if (int_in(v, 1, 1e7, &b)) {
		for (size_t i = 0; i < n; i++) {
			if (list[i] == b) {
				*out = b;
				return SM_OK;
			}
		}
	}
	char what[160];
	struct sm_buf w;
	sm_buf_init(&w, what, sizeof(what));
	sm_buf_adds(&w, "one of ");
	for (size_t i = 0; i < n; i++)
		sm_buf_addf(&w, "%s%d", i ? ", " : "", list[i]);
	return expected(x, what, v, NULL);
}

static enum sm_err set_baudrate(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	int b;
	enum sm_err rc = get_baud(v, nv, x, bauds, sizeof(bauds) / sizeof(bauds[0]), &b);
	if (rc != SM_OK)
		return rc;
	m->line.baud = b;
	m->line_set |= SM_LINE_BAUD;
	return SM_OK;
}

static enum sm_err set_parity(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			      const struct optctx *x)
{
	static const char *const names[] = {"none", "even", "odd"};
	static const enum sm_parity vals[] = {SM_PARITY_NONE, SM_PARITY_EVEN, SM_PARITY_ODD};
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type == SM_CV_STRING && v->s != NULL) {
		for (size_t i = 0; i < 3; i++) {
			if (strcasecmp(v->s, names[i]) == 0) {
				m->line.parity = vals[i];
				m->line_set |= SM_LINE_PARITY;
				return SM_OK;
			}
		}
	}
	return expected(x, "\"none\", \"even\" or \"odd\"", v, NULL);
}

static enum sm_err set_databits(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	int b;
	if (!int_in(v, 5, 8, &b))
		return expected(x, "5, 6, 7 or 8", v, NULL);
	m->line.databits = b;
	m->line_set |= SM_LINE_DATABITS;
	return SM_OK;
}

static enum sm_err set_stopbits(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	int b;
	if (!int_in(v, 1, 2, &b))
		return expected(x, "1 or 2", v, NULL);
	m->line.stopbits = b;
	m->line_set |= SM_LINE_STOPBITS;
	return SM_OK;
}

static enum sm_err get_seconds(const struct sm_cfg_value *v, size_t nv, const struct optctx *x,
			       bool zero_ok, double *out)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	const char *what = zero_ok ? "a number of seconds >= 0 (at most 86400)"
				   : "a number of seconds > 0 (at most 86400)";
	if (v->type != SM_CV_NUMBER || !isfinite(v->num) || v->num < 0 ||
	    (!zero_ok && v->num == 0) || v->num > SM_MAX_SECONDS)
		return expected(x, what, v, NULL);
	*out = v->num;
	return SM_OK;
}

static enum sm_err set_interval(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	return get_seconds(v, nv, x, true, &m->interval_s);
}

static enum sm_err set_timeout(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			       const struct optctx *x)
{
	return get_seconds(v, nv, x, false, &m->timeout_s);
}

static bool is_reading_name(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		/* capitals only in the OBIS groups of obis_A_B_C_D_E names
		 * (obis_0_0_C_1_0): elsewhere one is a typo */
		bool upper = ch >= 'A' && ch <= 'Z' && strncmp(s, "obis_", 5) == 0;
		if (!((ch >= 'a' && ch <= 'z') || upper || (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return n > 0 && n < SM_NAME_LEN;
}

#define SELECT_WHAT "reading names ([a-z0-9_]+, obis_0_0_C_1_0) or OBIS codes such as \"1-0:1.8.0\""

static enum sm_err set_select(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			      const struct optctx *x)
{
	if (nv == 0) {
		opt_err(x, "expected at least one value, got none");
		return SM_E_CONFIG;
	}
	if (m->nselect + nv > SM_MAX_SELECT) {
		opt_err(x, "expected at most %d entries in all, got %zu", SM_MAX_SELECT,
			m->nselect + nv);
		return SM_E_CONFIG;
	}
	struct sm_obis codes[SM_MAX_SELECT];
	bool is_obis[SM_MAX_SELECT];
	for (size_t i = 0; i < nv; i++) {
		if (v[i].type != SM_CV_STRING || v[i].s == NULL)
			return expected(x, SELECT_WHAT, &v[i], NULL);
		const char *s = v[i].s;
		is_obis[i] = false;
		if (is_reading_name(s))
			continue;
		size_t len = strlen(s), used = 0;
		if (len > 0 && sm_obis_parse(s, len, &used, &codes[i]) == SM_OK && used == len) {
			is_obis[i] = true;
			continue;
		}
		return expected(x, SELECT_WHAT, &v[i], NULL);
	}
	char *copies[SM_MAX_SELECT];
	for (size_t i = 0; i < nv; i++) {
		copies[i] = xstrdup(v[i].s);
		if (copies[i] == NULL) {
			while (i-- > 0)
				free(copies[i]);
			return out_of_memory(x);
		}
	}
	for (size_t i = 0; i < nv; i++) {
		size_t k = m->nselect++;
		m->select[k] = copies[i];
		m->select_is_obis[k] = is_obis[i];
		if (is_obis[i])
			m->select_obis[k] = codes[i];
		else
			memset(&m->select_obis[k], 0, sizeof(m->select_obis[k]));
	}
	return SM_OK;
}

/* true/false/yes/no/on/off, case-insensitive (also "1"/"0" when digits). */
static bool bool_word(const char *s, bool digits, bool *out)
{
	static const char *const t[] = {"true", "yes", "on"};
	static const char *const f[] = {"false", "no", "off"};
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*out = false;
			return true;
		}
	}
	if (digits && (strcmp(s, "1") == 0 || strcmp(s, "0") == 0)) {
		*out = s[0] == '1';
		return true;
	}
	return false;
}

static enum sm_err get_bool(const struct sm_cfg_value *v, size_t nv, const struct optctx *x,
			    bool *out)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	bool b;
	if (v->type == SM_CV_BOOL)
		b = v->b;
	else if (v->type != SM_CV_STRING || v->s == NULL || !bool_word(v->s, false, &b))
		return expected(x, "true or false", v, NULL);
	*out = b;
	return SM_OK;
}

static enum sm_err set_ignore_checksum(struct sm_meter_cfg *m, const struct sm_cfg_value *v,
				       size_t nv, const struct optctx *x)
{
	return get_bool(v, nv, x, &m->ignore_checksum);
}

/* ---- IEC 62056-21 ---- */

static enum sm_err set_mode(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			    const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type == SM_CV_STRING && v->s != NULL && v->s[0] != '\0' && v->s[1] == '\0') {
		char ch = v->s[0];
		if (ch >= 'a' && ch <= 'd')
			ch = (char)(ch - 'a' + 'A');
		if (ch >= 'A' && ch <= 'D') {
			m->iec_mode = ch;
			return SM_OK;
		}
	}
	return expected(x, "\"A\", \"B\", \"C\" or \"D\"", v, NULL);
}

#define ADDRESS_WHAT "1 to 32 characters of 0-9 A-Z a-z or space"

static enum sm_err set_address(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			       const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type == SM_CV_NUMBER)
		return expected(x, "a quoted string of " ADDRESS_WHAT, v,
				"quote it: leading zeros are part of an address");
	if (v->type != SM_CV_STRING || v->s == NULL)
		return expected(x, "a string of " ADDRESS_WHAT, v, NULL);
	size_t n = 0;
	for (; v->s[n] != '\0'; n++) {
		char ch = v->s[n];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      ch == ' ') ||
		    n >= SM_MAX_ADDRESS_LEN)
			return expected(x, "a string of " ADDRESS_WHAT, v, NULL);
	}
	if (n == 0)
		return expected(x, "a string of " ADDRESS_WHAT, v, "empty");
	char *d = xstrdup(v->s);
	if (d == NULL)
		return out_of_memory(x);
	free(m->address);
	m->address = d;
	return SM_OK;
}

static enum sm_err set_max_baudrate(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				    const struct optctx *x)
{
	return get_baud(v, nv, x, iec_bauds, sizeof(iec_bauds) / sizeof(iec_bauds[0]), &m->max_baud);
}

static enum sm_err set_baud_switch_delay(struct sm_meter_cfg *m, const struct sm_cfg_value *v,
					 size_t nv, const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type != SM_CV_NUMBER || !isfinite(v->num) || v->num < 0 ||
	    v->num > SM_MAX_BAUD_SWITCH_DELAY_S)
		return expected(x, "a number of seconds from 0 to 5", v, NULL);
	m->baud_switch_delay_s = v->num;
	return SM_OK;
}

static enum sm_err set_wake_up(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			       const struct optctx *x)
{
	return get_bool(v, nv, x, &m->wakeup);
}

/* ---- keys (Protocol "dlms", and "dsmr" for Luxembourg Smarty) ----
 *
 * No message here ever contains a byte of what the user gave as a key:
 * errors say how long the text was and how many of its characters are not
 * hex digits, never the text. */

#define KEY_WHAT "32 hex digits (an AES-128 key)"
#define KEY_FILE_MAX 4096

static bool key_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

static bool key_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Why s[0..n) is not a key, in words that hold none of its characters:
 * "31 characters", "32 characters, 2 of them not hex digits", ... (blanks
 * around it do not count, as for sm_key_parse_hex). */
static void describe_key_text(const char *s, size_t n, char *out, size_t cap)
{
	size_t a = 0, b = n, bad = 0;
	while (a < b && key_space(s[a]))
		a++;
	while (b > a && key_space(s[b - 1]))
		b--;
	for (size_t i = a; i < b; i++)
		if (!key_hex(s[i]))
			bad++;
	size_t len = b - a;
	if (len == 0) {
		snprintf(out, cap, n == 0 ? "nothing" : "only blanks");
		return;
	}
	struct sm_buf o;
	sm_buf_init(&o, out, cap);
	sm_buf_addf(&o, "%zu character%s", len, len == 1 ? "" : "s");
	if (bad > 0)
		sm_buf_addf(&o, ", %zu of them not %s", bad, bad == 1 ? "a hex digit" : "hex digits");
	if (len >= 2 && s[a] == '0' && (s[a + 1] == 'x' || s[a + 1] == 'X'))
		sm_buf_adds(&o, " (leave out the 0x prefix)");
	else if (bad > 0 && bad == len - 2 * SM_KEY_LEN)
		sm_buf_adds(&o, " (leave out the separators)");
}

/* (config.h) */
bool sm_text_has_key_digits(const char *s)
{
	size_t run = 0;

	if (s == NULL)
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		char ch = s[i];
		bool sep = ch == ' ' || ch == '\t' || ch == ':' || ch == '-' || ch == ',' ||
			   ((ch == 'x' || ch == 'X') && i > 0 && s[i - 1] == '0');
		if (key_hex(ch)) {
			if (++run >= 16)
				return true;
		} else if (!sep) {
			run = 0;
		}
	}
	return false;
}

/* A key from text; on error nothing of the text goes into the message. */
static enum sm_err parse_key_text(const char *s, size_t n, uint8_t out[SM_KEY_LEN], const char *where,
				  const struct optctx *x)
{
	if (sm_key_parse_hex(s, n, out) == SM_OK)
		return SM_OK;
	char why[128];
	describe_key_text(s, n, why, sizeof(why));
	opt_err(x, "expected %s" KEY_WHAT ", got %s", where, why);
	return SM_E_CONFIG;
}

static enum sm_err get_key(const struct sm_cfg_value *v, size_t nv, const struct optctx *x,
			   uint8_t out[SM_KEY_LEN])
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type != SM_CV_STRING || v->s == NULL) {
		/* not described: a number may be a key whose digits are all decimal */
		opt_err(x, "expected a quoted string of " KEY_WHAT ", got %s",
			v->type == SM_CV_NUMBER ? "a number (write the key in double quotes)" : "a boolean");
		return SM_E_CONFIG;
	}
	return parse_key_text(v->s, strlen(v->s), out, "", x);
}

static enum sm_err key_alternatives(const struct sm_meter_cfg *m, enum opt_id other,
				    const struct optctx *x)
{
	if ((m->opt_set & (1ull << other)) == 0)
		return SM_OK;
	if (x->flag != NULL)
		opt_err(x, "--%s is given as well: give the key either with --key or with --key-file, "
			   "not both",
			sm_meter_options[other].flag);
	else
		opt_err(x, "%s is given as well: give the key either with Key or with KeyFile, not both",
			sm_meter_options[other].name);
	return SM_E_CONFIG;
}

static enum sm_err set_key(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			   const struct optctx *x)
{
	enum sm_err rc = key_alternatives(m, OPT_KEY_FILE, x);
	if (rc != SM_OK)
		return rc;
	uint8_t k[SM_KEY_LEN];
	rc = get_key(v, nv, x, k);
	if (rc == SM_OK) {
		memcpy(m->key, k, SM_KEY_LEN);
		m->has_key = true;
	}
	sm_wipe(k, sizeof(k));
	return rc;
}

static enum sm_err set_auth_key(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	uint8_t k[SM_KEY_LEN];
	enum sm_err rc = get_key(v, nv, x, k);
	if (rc == SM_OK) {
		memcpy(m->auth_key, k, SM_KEY_LEN);
		m->has_auth_key = true;
	}
	sm_wipe(k, sizeof(k));
	return rc;
}

/* Append one line to an owned list of '\n'-terminated lines. */
static enum sm_err add_line(char **list, const char *line)
{
	size_t old = *list != NULL ? strlen(*list) : 0, n = strlen(line);
	char *p = realloc(*list, old + n + 2);
	if (p == NULL)
		return SM_E_NOMEM;
	memcpy(p + old, line, n);
	p[old + n] = '\n';
	p[old + n + 1] = '\0';
	*list = p;
	return SM_OK;
}

/* The beginning of a message about x's option: "meter "home": KeyFile: " or
 * "--key-file: " (as opt_err writes it). */
static void opt_prefix(const struct optctx *x, char *out, size_t cap)
{
	if (x->flag != NULL) {
		snprintf(out, cap, "--%s: ", x->opt->flag);
	} else {
		char q[96];
		quote_str(meter_name(x->m), q, sizeof(q));
		snprintf(out, cap, "meter %s: %s: ", q, x->opt->name);
	}
}

#define KEY_FILE_WHAT "the path of a file holding the key"

static enum sm_err set_key_file(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				const struct optctx *x)
{
	enum sm_err rc = key_alternatives(m, OPT_KEY, x);
	if (rc == SM_OK)
		rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type == SM_CV_NUMBER && !(fabs(v->num) < 1e9 && v->num == floor(v->num))) {
		/* not echoed: a long number may be a key whose digits are all decimal */
		opt_err(x, "expected " KEY_FILE_WHAT ", got a number (not shown: it may hold key digits)");
		return SM_E_CONFIG;
	}
	if (v->type != SM_CV_STRING || v->s == NULL)
		return expected(x, KEY_FILE_WHAT, v, NULL);
	const char *path = v->s;
	uint8_t k[SM_KEY_LEN];
	if (path[0] == '\0')
		return expected(x, KEY_FILE_WHAT, v, "empty");
	if (sm_key_parse_hex(path, strlen(path), k) == SM_OK) {
		/* The key itself where its file's path belongs: not echoed. */
		sm_wipe(k, sizeof(k));
		opt_err(x, "expected " KEY_FILE_WHAT ", got 32 hex digits (a key itself goes into Key)");
		return SM_E_CONFIG;
	}
	/* The path in messages, unless it holds what looks like key digits
	 * (a key pasted into KeyFile, a file named after its key). */
	char qp[96];
	if (sm_text_has_key_digits(path))
		snprintf(qp, sizeof(qp), "the file given (%zu characters, not shown: they look like key digits)",
			 strlen(path));
	else
		quote_str(path, qp, sizeof(qp));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		char eb[128];
		int e = errno;
		opt_err(x, "cannot open %s: %s", qp, strerror_r(e, eb, sizeof(eb)));
		return SM_E_CONFIG;
	}
	struct stat st;
	char text[KEY_FILE_MAX + 1];
	size_t n = 0;
	rc = SM_E_CONFIG;
	if (fstat(fd, &st) != 0) {
		char eb[128];
		int e = errno;
		opt_err(x, "cannot read %s: %s", qp, strerror_r(e, eb, sizeof(eb)));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		opt_err(x, "expected %s to be a regular file holding the key", qp);
		goto out;
	}
	while (n < sizeof(text)) {
		ssize_t got = read(fd, text + n, sizeof(text) - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			char eb[128];
			int e = errno;
			opt_err(x, "cannot read %s: %s", qp, strerror_r(e, eb, sizeof(eb)));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > KEY_FILE_MAX) {
		opt_err(x, "expected %s to hold " KEY_WHAT ", but it is larger than %d bytes", qp,
			KEY_FILE_MAX);
		goto out;
	}
	char where[160];
	snprintf(where, sizeof(where), "%s to hold ", qp);
	if (parse_key_text(text, n, k, where, x) != SM_OK)
		goto out;
	char *dup = xstrdup(path);
	if (dup == NULL) {
		rc = out_of_memory(x);
		goto out;
	}
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		char w[512], pre[160];
		opt_prefix(x, pre, sizeof(pre));
		snprintf(w, sizeof(w),
			 "%s%s is readable by %s (mode %04o): the key should be readable by its owner "
			 "only (chmod 600)",
			 pre, qp,
			 (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others"
			 : (st.st_mode & S_IRGRP)                         ? "its group"
									  : "others",
			 (unsigned)(st.st_mode & 07777));
		if (add_line(&m->warnings, w) != SM_OK) {
			free(dup);
			rc = out_of_memory(x);
			goto out;
		}
	}
	free(m->key_file);
	m->key_file = dup;
	memcpy(m->key, k, SM_KEY_LEN);
	m->has_key = true;
	rc = SM_OK;
out:
	sm_wipe(k, sizeof(k));
	sm_wipe(text, sizeof(text));
	close(fd);
	return rc;
}

static enum sm_err set_framing(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			       const struct optctx *x)
{
	static const char *const names[] = {"mbus", "hdlc", "raw"};
	static const char codes[] = {'m', 'h', 'r'};
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type == SM_CV_STRING && v->s != NULL) {
		for (size_t i = 0; i < 3; i++) {
			if (strcasecmp(v->s, names[i]) == 0) {
				m->framing = codes[i];
				return SM_OK;
			}
		}
	}
	return expected(x, "\"mbus\", \"hdlc\" or \"raw\"", v, NULL);
}

/* ---- modbus ---- */

#define SLAVE_WHAT "a unit id 1..247 (0 and 255 also with a tcp:// Device)"
#define MAP_NAME_WHAT "1 to 63 characters of A-Z a-z 0-9 _ . -"

static bool valid_meter_name(const char *s);

static enum sm_err set_slave(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			     const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	int id;
	if (!int_in(v, 0, 255, &id))
		return expected(x, SLAVE_WHAT, v, NULL);
	m->slave = id;
	return SM_OK;
}

static enum sm_err set_model(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
			     const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	const struct sm_mb_map *map = NULL;
	if (v->type == SM_CV_STRING && v->s != NULL)
		map = sm_mb_model_find(v->s);
	if (map == NULL || map->name == NULL) {
		char what[640];
		snprintf(what, sizeof(what), "one of %s", sm_mb_model_names());
		const char *hint = NULL;
		if (v->type == SM_CV_STRING && v->s != NULL && valid_meter_name(v->s))
			hint = "a map of your own goes into a <RegisterMap> block, named by RegisterMap";
		return expected(x, what, v, hint);
	}
	char *d = xstrdup(map->name);
	if (d == NULL)
		return out_of_memory(x);
	free(m->model);
	m->model = d;
	return SM_OK;
}

static enum sm_err set_register_map(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				    const struct optctx *x)
{
	enum sm_err rc = one_value(x, nv);
	if (rc != SM_OK)
		return rc;
	if (v->type != SM_CV_STRING || v->s == NULL || !valid_meter_name(v->s))
		return expected(x, "the name of a <RegisterMap> block (" MAP_NAME_WHAT ")", v, NULL);
	char *d = xstrdup(v->s);
	if (d == NULL)
		return out_of_memory(x);
	free(m->register_map);
	m->register_map = d;
	return SM_OK;
}

typedef enum sm_err (*setter_fn)(struct sm_meter_cfg *m, const struct sm_cfg_value *v, size_t nv,
				 const struct optctx *x);

static const setter_fn setters[OPT_COUNT] = {
	[OPT_PROTOCOL] = set_protocol,
	[OPT_DEVICE] = set_device,
	[OPT_BAUDRATE] = set_baudrate,
	[OPT_PARITY] = set_parity,
	[OPT_DATABITS] = set_databits,
	[OPT_STOPBITS] = set_stopbits,
	[OPT_INTERVAL] = set_interval,
	[OPT_TIMEOUT] = set_timeout,
	[OPT_SELECT] = set_select,
	[OPT_IGNORE_CHECKSUM] = set_ignore_checksum,
	[OPT_MODE] = set_mode,
	[OPT_ADDRESS] = set_address,
	[OPT_MAX_BAUDRATE] = set_max_baudrate,
	[OPT_BAUD_SWITCH_DELAY] = set_baud_switch_delay,
	[OPT_WAKE_UP] = set_wake_up,
	[OPT_KEY] = set_key,
	[OPT_KEY_FILE] = set_key_file,
	[OPT_AUTH_KEY] = set_auth_key,
	[OPT_FRAMING] = set_framing,
	[OPT_SLAVE] = set_slave,
	[OPT_MODEL] = set_model,
	[OPT_REGISTER_MAP] = set_register_map,
};

const struct sm_option_desc *sm_option_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++)
		if (strcasecmp(sm_meter_options[i].name, name) == 0)
			return &sm_meter_options[i];
	return NULL;
}

const struct sm_option_desc *sm_option_find_flag(const char *flag)
{
	if (flag == NULL)
		return NULL;
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++)
		if (strcmp(sm_meter_options[i].flag, flag) == 0)
			return &sm_meter_options[i];
	return NULL;
}

bool sm_option_applies(const struct sm_option_desc *d, const struct sm_proto *p)
{
	if (d == NULL || d->protocols == NULL)
		return true;
	if (p == NULL || p->name == NULL)
		return false;
	size_t len = strlen(p->name);
	for (const char *q = d->protocols; *q != '\0';) {
		const char *end = strchr(q, ',');
		size_t n = end != NULL ? (size_t)(end - q) : strlen(q);
		if (n == len && strncasecmp(q, p->name, n) == 0)
			return true;
		if (end == NULL)
			break;
		q = end + 1;
	}
	return false;
}

/* Run the setter of opt, refusing a second use of a single-valued option. */
static enum sm_err apply(struct sm_meter_cfg *m, const struct sm_option_desc *opt,
			 const struct sm_cfg_value *vals, size_t nvals, const struct optctx *x)
{
	size_t id = (size_t)(opt - sm_meter_options);
	unsigned long long bit = 1ull << id;
	if (opt->type != SM_OPT_LIST && (m->opt_set & bit) != 0) {
		opt_err(x, "given more than once");
		return SM_E_CONFIG;
	}
	enum sm_err rc = setters[id](m, vals, nvals, x);
	if (rc == SM_OK)
		m->opt_set |= bit;
	return rc;
}

/* "Protocol, Device, ..." or "--protocol, --device, ..." */
static void list_options(struct sm_buf *b, bool flags)
{
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++) {
		if (i > 0)
			sm_buf_adds(b, ", ");
		if (flags)
			sm_buf_addf(b, "--%s", sm_meter_options[i].flag);
		else
			sm_buf_adds(b, sm_meter_options[i].name);
	}
}

enum sm_err sm_meter_set(struct sm_meter_cfg *m, const char *option,
			 const struct sm_cfg_value *vals, size_t nvals, char *err, size_t errlen)
{
	const struct sm_option_desc *opt = sm_option_find(option);
	if (m == NULL || (vals == NULL && nvals > 0)) {
		set_err(err, errlen, "internal: sm_meter_set without a meter or values");
		return SM_E_CONFIG;
	}
	if (opt == NULL) {
		char q[96], qn[96], known[400];
		struct sm_buf b;
		sm_buf_init(&b, known, sizeof(known));
		list_options(&b, false);
		quote_str(meter_name(m), qn, sizeof(qn));
		if (sm_text_has_key_digits(option)) /* a key where a name goes: never echoed */
			snprintf(q, sizeof(q), "of %zu characters (not shown: they look like key digits)",
				 option != NULL ? strlen(option) : 0);
		else
			quote_str(option, q, sizeof(q));
		set_err(err, errlen, "meter %s: unknown option %s (known: %s)", qn, q, known);
		return SM_E_CONFIG;
	}
	struct optctx x = {m, NULL, opt, err, errlen};
	return apply(m, opt, vals, nvals, &x);
}

enum sm_err sm_meter_set_flag(struct sm_meter_cfg *m, const char *flag, const char *value,
			      char *err, size_t errlen)
{
	if (m == NULL || flag == NULL) {
		set_err(err, errlen, "internal: sm_meter_set_flag without a meter or flag");
		return SM_E_CONFIG;
	}
	if (strncmp(flag, "--", 2) == 0)
		flag += 2;
	const struct sm_option_desc *opt = sm_option_find_flag(flag);
	if (opt == NULL) {
		char q[96], known[400];
		struct sm_buf b;
		sm_buf_init(&b, known, sizeof(known));
		list_options(&b, true);
		if (sm_text_has_key_digits(flag)) { /* a key where a flag goes: never echoed */
			set_err(err, errlen, "an unknown option of %zu characters (not shown: they look like key "
				"digits; a key goes after --key) (known: %s)", strlen(flag), known);
			return SM_E_CONFIG;
		}
		esc_str(flag, q, sizeof(q), false);
		set_err(err, errlen, "--%s: unknown option (known: %s)", q, known);
		return SM_E_CONFIG;
	}
	struct optctx x = {m, flag, opt, err, errlen};
	if (value == NULL && opt->type != SM_OPT_BOOL) {
		opt_err(&x, "expected a value (%s), got none", opt->arg);
		return SM_E_CONFIG;
	}
	struct sm_cfg_value v;
	memset(&v, 0, sizeof(v));
	switch (opt->type) {
	case SM_OPT_STRING:
		v.type = SM_CV_STRING;
		v.s = (char *)(uintptr_t)value;
		return apply(m, opt, &v, 1, &x);
	case SM_OPT_NUMBER:
		if (!sm_cfg_parse_number(value, strlen(value), &v.num)) {
			char q[96];
			quote_str(value, q, sizeof(q));
			opt_err(&x, "expected a number, got %s", q);
			return SM_E_CONFIG;
		}
		v.type = SM_CV_NUMBER;
		return apply(m, opt, &v, 1, &x);
	case SM_OPT_BOOL:
		v.type = SM_CV_BOOL;
		if (value == NULL) {
			v.b = true;
		} else if (!bool_word(value, true, &v.b)) {
			char q[96];
			quote_str(value, q, sizeof(q));
			opt_err(&x, "expected true, false, yes, no, 1 or 0, got %s", q);
			return SM_E_CONFIG;
		}
		return apply(m, opt, &v, 1, &x);
	case SM_OPT_LIST: {
		/* Comma-separated entries; copy so the pieces can be terminated. */
		char *copy = xstrdup(value);
		if (copy == NULL)
			return out_of_memory(&x);
		struct sm_cfg_value vals[SM_MAX_SELECT];
		size_t nv = 0;
		enum sm_err rc = SM_OK;
		char *p = copy;
		for (;;) {
			char *comma = strchr(p, ',');
			if (comma != NULL)
				*comma = '\0';
			if (nv == SM_MAX_SELECT) {
				opt_err(&x, "expected at most %d entries in all, got more", SM_MAX_SELECT);
				rc = SM_E_CONFIG;
				break;
			}
			memset(&vals[nv], 0, sizeof(vals[nv]));
			vals[nv].type = SM_CV_STRING;
			vals[nv].s = p;
			nv++;
			if (comma == NULL)
				break;
			p = comma + 1;
		}
		if (rc == SM_OK)
			rc = apply(m, opt, vals, nv, &x);
		free(copy);
		return rc;
	}
	}
	opt_err(&x, "internal: unknown option type");
	return SM_E_CONFIG;
}

/* ---- config, meters ---- */

void sm_config_init(struct sm_config *c)
{
	c->nmeters = 0;
	c->meters = NULL;
	c->warnings = NULL;
	c->nmaps = 0;
	c->maps = NULL;
}

static void user_map_free(struct sm_user_map *um)
{
	if (um == NULL)
		return;
	if (um->reg_names != NULL)
		for (size_t i = 0; i < um->map.nregs; i++)
			free(um->reg_names[i]);
	free(um->reg_names);
	free(um->regs);
	free(um->name);
	free(um->description);
	free(um);
}

static void meter_free(struct sm_meter_cfg *m)
{
	free(m->name);
	free(m->device);
	free(m->address);
	free(m->key_file);
	free(m->warnings);
	free(m->model);
	free(m->register_map);
	free(m->mb_plan);
	for (size_t i = 0; i < m->nselect; i++)
		free(m->select[i]);
	/* sm_wipe, not memset: a store to memory about to be freed may be elided. */
	sm_wipe(m->key, sizeof(m->key));
	sm_wipe(m->auth_key, sizeof(m->auth_key));
	memset(m, 0, sizeof(*m));
}

void sm_config_free(struct sm_config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nmeters; i++)
		meter_free(&c->meters[i]);
	free(c->meters);
	free(c->warnings);
	for (size_t i = 0; i < c->nmaps; i++)
		user_map_free(c->maps[i]);
	free(c->maps);
	sm_config_init(c);
}

/* Options whose values are key material, wherever they stand in a tree. */
static bool is_key_option(const char *key)
{
	return key != NULL && (strcasecmp(key, "Key") == 0 || strcasecmp(key, "AuthKey") == 0);
}

void sm_cfg_wipe_keys(struct sm_cfg_node *n)
{
	if (n == NULL)
		return;
	if (is_key_option(n->key) && n->nchildren == 0) {
		for (size_t i = 0; i < n->nvalues; i++) {
			struct sm_cfg_value *v = &n->values[i];
			if (v->type == SM_CV_STRING && v->s != NULL)
				sm_wipe(v->s, strlen(v->s));
			else if (v->type == SM_CV_NUMBER)
				sm_wipe(&v->num, sizeof(v->num));
		}
	}
	for (size_t i = 0; i < n->nchildren; i++)
		sm_cfg_wipe_keys(&n->children[i]);
}

static bool valid_meter_name(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
		if (n >= 63)
			return false;
	}
	return n >= 1;
}

enum sm_err sm_config_add_meter(struct sm_config *c, const char *name,
				struct sm_meter_cfg **out, char *err, size_t errlen)
{
	char q[96];
	if (c == NULL || name == NULL) {
		set_err(err, errlen, "internal: sm_config_add_meter without a config or name");
		return SM_E_CONFIG;
	}
	quote_str(name, q, sizeof(q));
	if (!valid_meter_name(name)) {
		set_err(err, errlen,
			"meter name: expected 1 to 63 characters of A-Z a-z 0-9 _ . -, got %s", q);
		return SM_E_CONFIG;
	}
	for (size_t i = 0; i < c->nmeters; i++) {
		if (strcmp(c->meters[i].name, name) == 0) {
			set_err(err, errlen, "meter %s: defined more than once (meter names must be unique)",
				q);
			return SM_E_CONFIG;
		}
	}
	char *dup = xstrdup(name);
	if (dup == NULL) {
		set_err(err, errlen, "meter %s: out of memory", q);
		return SM_E_NOMEM;
	}
	struct sm_meter_cfg *arr = realloc(c->meters, (c->nmeters + 1) * sizeof(*arr));
	if (arr == NULL) {
		free(dup);
		set_err(err, errlen, "meter %s: out of memory", q);
		return SM_E_NOMEM;
	}
	c->meters = arr;
	struct sm_meter_cfg *m = &arr[c->nmeters++];
	memset(m, 0, sizeof(*m));
	m->name = dup;
	m->iec_mode = SM_DEFAULT_IEC_MODE;
	m->baud_switch_delay_s = SM_DEFAULT_BAUD_SWITCH_DELAY_S;
	m->framing = SM_DEFAULT_FRAMING;
	m->slave = SM_DEFAULT_SLAVE;
	if (out != NULL)
		*out = m;
	return SM_OK;
}

static void describe_node(const struct sm_cfg_node *n, char *out, size_t cap)
{
	char k[96];
	esc_str(n->key != NULL ? n->key : "", k, sizeof(k), false);
	if (n->block || n->nchildren > 0)
		snprintf(out, cap, "block <%s>", k);
	else
		snprintf(out, cap, "option \"%s\"", k);
	if (n->line > 0) {
		size_t l = strlen(out);
		snprintf(out + l, cap - l, " (line %d)", n->line);
	}
}

/* ---- <RegisterMap> blocks ---- */

#define MAP_DEFAULT_DESCRIPTION "register map of the configuration"
#define MAP_MAX_DESCRIPTION 200
#define REG_NAME_MAX 47
#define REG_NAME_WHAT "1 to 47 characters of a-z 0-9 _"
#define MAP_OPTIONS "MaxRegisters, EvenCount, MaxGap, Description"
#define REG_OPTIONS "Address, Function, Type, WordOrder, Scale, Unit, Obis"

/* Where a map error goes and how it starts: "register map "m": " and, inside
 * a <Register>, "register "r": ". */
struct mapctx {
	const char *map;
	const char *reg; /* NULL outside a <Register> block */
	char *err;
	size_t errlen;
};

static void __attribute__((format(printf, 3, 4)))
map_err(const struct mapctx *x, const char *opt, const char *fmt, ...)
{
	if (x->err == NULL || x->errlen == 0)
		return;
	char qm[96], qr[96];
	quote_str(x->map, qm, sizeof(qm));
	int k;
	if (x->reg != NULL) {
		quote_str(x->reg, qr, sizeof(qr));
		k = snprintf(x->err, x->errlen, "register map %s: register %s: %s%s", qm, qr,
			     opt != NULL ? opt : "", opt != NULL ? ": " : "");
	} else {
		k = snprintf(x->err, x->errlen, "register map %s: %s%s", qm, opt != NULL ? opt : "",
			     opt != NULL ? ": " : "");
	}
	if (k < 0 || (size_t)k >= x->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err + k, x->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

static enum sm_err map_expected(const struct mapctx *x, const char *opt, const char *what,
				const struct sm_cfg_value *v)
{
	char got[96];
	describe_value(v, got, sizeof(got));
	map_err(x, opt, "expected %s, got %s", what, got);
	return SM_E_CONFIG;
}

/* The one value of option node o, or NULL with the error set. */
static const struct sm_cfg_value *map_one_value(const struct mapctx *x, const struct sm_cfg_node *o)
{
	if (o->nvalues == 1)
		return &o->values[0];
	if (o->nvalues == 0)
		map_err(x, o->key, "expected a value, got none");
	else
		map_err(x, o->key, "expected one value, got %zu", o->nvalues);
	return NULL;
}

static enum sm_err map_nomem(const struct mapctx *x)
{
	map_err(x, NULL, "out of memory");
	return SM_E_NOMEM;
}

/* A BOOL, or a string true/false/yes/no/on/off. */
static bool cfg_bool(const struct sm_cfg_value *v, bool *out)
{
	if (v->type == SM_CV_BOOL) {
		*out = v->b;
		return true;
	}
	return v->type == SM_CV_STRING && v->s != NULL && bool_word(v->s, false, out);
}

/* Exact powers of ten (every one up to 1e22 is a double). */
static const double pow10_tab[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
#define SCALE_MAX_EXP 22
#define SCALE_MAX_MUL 1000000000000000LL /* 10^15: mul has at most 15 digits */

/*
 * v as the shortest decimal mul * 10^exp that reads back as v: the largest
 * exp (so the fewest digits) for which some mul below 10^15 gives v again.
 * A candidate is checked exactly: mul and 10^|exp| are exact doubles and
 * one multiplication or division rounds once, which is what reading the
 * decimal text gives (the classic exact fast path of decimal conversion).
 * false for 0, non-finite values and values that need more than 15 digits
 * or an exponent beyond +-22.
 */
static bool scale_decimal(double v, int64_t *mul, int *exp)
{
	if (!isfinite(v) || v == 0)
		return false;
	for (int e = SCALE_MAX_EXP; e >= -SCALE_MAX_EXP; e--) {
		double t = e >= 0 ? v / pow10_tab[e] : v * pow10_tab[-e];
		if (fabs(t) >= (double)SCALE_MAX_MUL + 1)
			break;
		long long n0 = llround(t);
		for (long long n = n0 - 1; n <= n0 + 1; n++) {
			if (n == 0 || n >= SCALE_MAX_MUL || n <= -SCALE_MAX_MUL)
				continue;
			double back = e >= 0 ? (double)n * pow10_tab[e] : (double)n / pow10_tab[-e];
			if (back == v) {
				*mul = n;
				*exp = e;
				return true;
			}
		}
	}
	return false;
}

static bool valid_reg_name(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		/* lower case, as reading names are (Select takes them so) */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
		if (n >= REG_NAME_MAX)
			return false;
	}
	return n >= 1;
}

/* "one of int16, uint16, ..." / "one of ABCD, ..." */
static void type_list(char *out, size_t cap, bool orders)
{
	struct sm_buf b;
	sm_buf_init(&b, out, cap);
	sm_buf_adds(&b, "one of ");
	for (int i = 0; i < (orders ? 4 : 8); i++) {
		const char *nm = orders ? sm_mb_order_name((enum sm_mb_order)i)
					: sm_mb_type_name((enum sm_mb_type)i);
		sm_buf_addf(&b, "%s%s", i ? ", " : "", nm != NULL ? nm : "?");
	}
}

enum reg_opt { RO_ADDRESS, RO_FUNCTION, RO_TYPE, RO_WORD_ORDER, RO_SCALE, RO_UNIT, RO_OBIS, RO_COUNT };
static const char *const reg_opt_names[RO_COUNT] = {"Address", "Function", "Type", "WordOrder",
						    "Scale",   "Unit",     "Obis"};

/* One option of a <Register> block into r (scale and unit exponents are
 * kept apart in *scale_exp / *unit_exp until the block ends). */
static enum sm_err register_option(const struct mapctx *x, enum reg_opt id, const struct sm_cfg_node *o,
				   struct sm_mb_reg *r, int *scale_exp, int *unit_exp)
{
	const char *opt = reg_opt_names[id];
	const struct sm_cfg_value *v = map_one_value(x, o);
	if (v == NULL)
		return SM_E_CONFIG;
	int iv;
	char what[160];
	switch (id) {
	case RO_ADDRESS:
		if (!int_in(v, 0, 65535, &iv))
			return map_expected(x, opt, "a 0-based protocol address 0..65535", v);
		r->address = (uint16_t)iv;
		return SM_OK;
	case RO_FUNCTION:
		if (!int_in(v, SM_MB_FC_HOLDING, SM_MB_FC_INPUT, &iv))
			return map_expected(x, opt, "3 (holding registers) or 4 (input registers)", v);
		r->function = (uint8_t)iv;
		return SM_OK;
	case RO_TYPE:
		if (v->type != SM_CV_STRING || v->s == NULL || !sm_mb_type_parse(v->s, &r->type)) {
			type_list(what, sizeof(what), false);
			return map_expected(x, opt, what, v);
		}
		return SM_OK;
	case RO_WORD_ORDER:
		if (v->type != SM_CV_STRING || v->s == NULL || !sm_mb_order_parse(v->s, &r->order)) {
			type_list(what, sizeof(what), true);
			return map_expected(x, opt, what, v);
		}
		return SM_OK;
	case RO_SCALE: {
		int64_t mul;
		int e;
		if (v->type != SM_CV_NUMBER)
			return map_expected(x, opt, "a nonzero number", v);
		if (!scale_decimal(v->num, &mul, &e)) {
			map_err(x, opt,
				"expected a nonzero number of at most 15 significant digits (magnitude "
				"1e-22 to 1e37), got %.17g",
				v->num);
			return SM_E_CONFIG;
		}
		r->mul = mul;
		*scale_exp = e;
		return SM_OK;
	}
	case RO_UNIT: {
		enum sm_unit u;
		int8_t ue;
		const char *what_unit = "a unit such as \"kWh\", \"W\", \"V\", \"A\" or \"Hz\" (text "
					"of up to 7 characters for others)";
		if (v->type != SM_CV_STRING || v->s == NULL)
			return map_expected(x, opt, what_unit, v);
		size_t n = strlen(v->s);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)v->s[i] < 0x20 || v->s[i] == 0x7f)
				return map_expected(x, opt, what_unit, v);
		if (sm_unit_parse(v->s, n, &u, &ue) != SM_OK)
			return map_expected(x, opt, what_unit, v);
		if (u == SM_UNIT_OTHER) {
			if (n >= SM_UNIT_TEXT)
				return map_expected(x, opt, what_unit, v);
			memcpy(r->unit_text, v->s, n + 1);
		} else {
			memset(r->unit_text, 0, sizeof(r->unit_text));
		}
		r->unit = u;
		*unit_exp = ue;
		return SM_OK;
	}
	case RO_OBIS: {
		const char *what_obis = "an OBIS code A-B:C.D.E such as \"1-0:32.7.0\"";
		struct sm_obis ob;
		size_t used = 0;
		const unsigned need = SM_OBIS_BIT(SM_OBIS_A) | SM_OBIS_BIT(SM_OBIS_B) |
				      SM_OBIS_BIT(SM_OBIS_C) | SM_OBIS_BIT(SM_OBIS_D) |
				      SM_OBIS_BIT(SM_OBIS_E);
		if (v->type != SM_CV_STRING || v->s == NULL)
			return map_expected(x, opt, what_obis, v);
		size_t n = strlen(v->s);
		if (n == 0 || sm_obis_parse(v->s, n, &used, &ob) != SM_OK || used != n ||
		    (ob.present & need) != need)
			return map_expected(x, opt, what_obis, v);
		r->obis = ob;
		return SM_OK;
	}
	case RO_COUNT:
		break;
	}
	map_err(x, opt, "internal: unknown option");
	return SM_E_CONFIG;
}

/* The index of key among names[0..count) (case-insensitive), marking it in
 * *seen; -1 after reporting an unknown option (listing known) or one given
 * twice. */
static int opt_lookup(struct mapctx *x, const char *key, const char *const *names, size_t count,
		      unsigned *seen, const char *known)
{
	size_t id = 0;
	while (id < count && strcasecmp(key, names[id]) != 0)
		id++;
	if (id == count) {
		char q[96];
		quote_str(key, q, sizeof(q));
		map_err(x, NULL, "unknown option %s (known: %s)", q, known);
		return -1;
	}
	if (*seen & (1u << id)) {
		map_err(x, names[id], "given more than once");
		return -1;
	}
	*seen |= 1u << id;
	return (int)id;
}

/* A <Register "name"> block into r; *name_out gets the owned name. */
static enum sm_err read_register(struct mapctx *x, const struct sm_cfg_node *n, struct sm_mb_reg *r,
				 char **name_out)
{
	if (n->nvalues != 1 || n->values[0].type != SM_CV_STRING || n->values[0].s == NULL ||
	    !valid_reg_name(n->values[0].s)) {
		char got[96], where[32] = "";
		if (n->nvalues == 1)
			describe_value(&n->values[0], got, sizeof(got));
		else
			snprintf(got, sizeof(got), "%zu values", n->nvalues);
		if (n->line > 0)
			snprintf(where, sizeof(where), " (line %d)", n->line);
		map_err(x, NULL,
			"<Register>%s: expected one string argument, the register name (" REG_NAME_WHAT
			"), got %s",
			where, got);
		return SM_E_CONFIG;
	}
	x->reg = n->values[0].s;
	memset(r, 0, sizeof(*r));
	r->function = SM_MB_FC_HOLDING;
	r->type = SM_MB_UINT16;
	r->order = SM_MB_ABCD;
	r->mul = 1;
	r->unit = SM_UNIT_NONE;
	int scale_exp = 0, unit_exp = 0;
	unsigned seen = 0;
	for (size_t j = 0; j < n->nchildren; j++) {
		const struct sm_cfg_node *o = &n->children[j];
		char d[160];
		if (o->block || o->nchildren > 0 || o->key == NULL) {
			describe_node(o, d, sizeof(d));
			map_err(x, NULL, "unknown %s: expected the options " REG_OPTIONS, d);
			return SM_E_CONFIG;
		}
		int id = opt_lookup(x, o->key, reg_opt_names, RO_COUNT, &seen, REG_OPTIONS);
		if (id < 0)
			return SM_E_CONFIG;
		enum sm_err rc = register_option(x, (enum reg_opt)id, o, r, &scale_exp, &unit_exp);
		if (rc != SM_OK)
			return rc;
	}
	if (!(seen & (1u << RO_ADDRESS))) {
		map_err(x, "Address", "missing (expected the register's 0-based protocol address, 0..65535)");
		return SM_E_CONFIG;
	}
	/* |scale_exp| <= 22 and |unit_exp| <= 6 or so: the sum fits int8_t */
	int e = scale_exp + unit_exp;
	if (e < INT8_MIN || e > INT8_MAX) {
		map_err(x, "Scale", "the scale and the unit's prefix together are out of range");
		return SM_E_CONFIG;
	}
	r->exp = (int8_t)e;
	char *dup = xstrdup(n->values[0].s);
	if (dup == NULL)
		return map_nomem(x);
	*name_out = dup;
	r->name = dup;
	x->reg = NULL;
	return SM_OK;
}

enum map_opt { MO_MAX_REGISTERS, MO_EVEN_COUNT, MO_MAX_GAP, MO_DESCRIPTION, MO_COUNT };
static const char *const map_opt_names[MO_COUNT] = {"MaxRegisters", "EvenCount", "MaxGap",
						    "Description"};

static enum sm_err map_option(const struct mapctx *x, enum map_opt id, const struct sm_cfg_node *o,
			      struct sm_user_map *um)
{
	const char *opt = map_opt_names[id];
	const struct sm_cfg_value *v = map_one_value(x, o);
	if (v == NULL)
		return SM_E_CONFIG;
	int iv;
	bool b;
	switch (id) {
	case MO_MAX_REGISTERS:
		if (!int_in(v, 1, SM_MB_MAX_COUNT, &iv))
			return map_expected(x, opt, "1..125 (registers per request)", v);
		um->map.max_count = (uint16_t)iv;
		return SM_OK;
	case MO_EVEN_COUNT:
		if (!cfg_bool(v, &b))
			return map_expected(x, opt, "true or false", v);
		um->map.even = b;
		return SM_OK;
	case MO_MAX_GAP:
		if (!int_in(v, 0, SM_MB_MAX_COUNT, &iv))
			return map_expected(x, opt,
					    "0..125 (unlisted registers a request may read through)", v);
		um->map.max_gap = (uint16_t)iv;
		return SM_OK;
	case MO_DESCRIPTION: {
		const char *what = "a string of at most 200 printable characters";
		if (v->type != SM_CV_STRING || v->s == NULL)
			return map_expected(x, opt, what, v);
		size_t n = strlen(v->s);
		if (n > MAP_MAX_DESCRIPTION)
			return map_expected(x, opt, what, v);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)v->s[i] < 0x20 || v->s[i] == 0x7f)
				return map_expected(x, opt, what, v);
		char *d = xstrdup(v->s);
		if (d == NULL)
			return map_nomem(x);
		free(um->description);
		um->description = d;
		um->map.description = d;
		return SM_OK;
	}
	case MO_COUNT:
		break;
	}
	map_err(x, opt, "internal: unknown option");
	return SM_E_CONFIG;
}

static bool is_block_named(const struct sm_cfg_node *n, const char *name)
{
	return (n->block || n->nchildren > 0) && n->key != NULL && strcasecmp(n->key, name) == 0;
}

/* Read the items of a <RegisterMap> block into um (its name is set). */
static enum sm_err read_map_items(struct mapctx *x, const struct sm_cfg_node *n, struct sm_user_map *um)
{
	size_t nregs = 0;
	for (size_t j = 0; j < n->nchildren; j++)
		if (is_block_named(&n->children[j], "Register"))
			nregs++;
	if (nregs > SM_MB_MAX_REGS) {
		map_err(x, NULL, "expected at most %d <Register> blocks, got %zu", SM_MB_MAX_REGS, nregs);
		return SM_E_CONFIG;
	}
	if (nregs > 0) {
		um->regs = calloc(nregs, sizeof(*um->regs));
		um->reg_names = calloc(nregs, sizeof(*um->reg_names));
		if (um->regs == NULL || um->reg_names == NULL)
			return map_nomem(x);
	}
	um->map.regs = um->regs;
	unsigned seen = 0;
	bool max_given = false;
	for (size_t j = 0; j < n->nchildren; j++) {
		const struct sm_cfg_node *o = &n->children[j];
		char d[160];
		if (is_block_named(o, "Register")) {
			size_t k = um->map.nregs;
			enum sm_err rc = read_register(x, o, &um->regs[k], &um->reg_names[k]);
			if (rc != SM_OK)
				return rc;
			um->map.nregs = k + 1;
			continue;
		}
		if (o->block || o->nchildren > 0 || o->key == NULL) {
			describe_node(o, d, sizeof(d));
			map_err(x, NULL,
				"unknown %s: expected <Register \"name\"> blocks and the options " MAP_OPTIONS,
				d);
			return SM_E_CONFIG;
		}
		int id = opt_lookup(x, o->key, map_opt_names, MO_COUNT, &seen,
				    MAP_OPTIONS ", <Register \"name\">");
		if (id < 0)
			return SM_E_CONFIG;
		enum sm_err rc = map_option(x, (enum map_opt)id, o, um);
		if (rc != SM_OK)
			return rc;
		max_given |= id == MO_MAX_REGISTERS;
	}
	if (um->map.nregs == 0) {
		map_err(x, NULL, "expected at least one <Register \"name\"> block, got none");
		return SM_E_CONFIG;
	}
	if (um->map.even) {
		if (!max_given) {
			um->map.max_count = SM_MB_MAX_COUNT - 1; /* the largest even count */
		} else if (um->map.max_count % 2 != 0) {
			map_err(x, "MaxRegisters", "expected an even number with EvenCount true, got %u",
				(unsigned)um->map.max_count);
			return SM_E_CONFIG;
		}
	}
	struct sm_diag diag;
	memset(&diag, 0, sizeof(diag));
	if (sm_mb_map_check(&um->map, &diag) != SM_OK) {
		map_err(x, NULL, "%s", diag.msg[0] != '\0' ? diag.msg : "invalid map");
		return SM_E_CONFIG;
	}
	return SM_OK;
}

static enum sm_err read_register_map(struct sm_config *c, const struct sm_cfg_node *n, char *err,
				     size_t errlen)
{
	if (n->nvalues != 1 || n->values[0].type != SM_CV_STRING || n->values[0].s == NULL) {
		char got[96], where[32] = "";
		if (n->nvalues == 1)
			describe_value(&n->values[0], got, sizeof(got));
		else
			snprintf(got, sizeof(got), "%zu values", n->nvalues);
		if (n->line > 0)
			snprintf(where, sizeof(where), " (line %d)", n->line);
		set_err(err, errlen, "<RegisterMap>%s: expected one string argument (the map name), got %s",
			where, got);
		return SM_E_CONFIG;
	}
	const char *name = n->values[0].s;
	char q[96];
	quote_str(name, q, sizeof(q));
	if (!valid_meter_name(name)) {
		set_err(err, errlen, "register map name: expected " MAP_NAME_WHAT ", got %s", q);
		return SM_E_CONFIG;
	}
	const struct sm_mb_map *builtin = sm_mb_model_find(name);
	if (builtin != NULL) {
		char qb[96];
		quote_str(builtin->name, qb, sizeof(qb));
		set_err(err, errlen,
			"register map %s: the name of a built-in model (give the map a name of its own, "
			"or use Model %s)",
			q, qb);
		return SM_E_CONFIG;
	}
	for (size_t i = 0; i < c->nmaps; i++) {
		if (strcmp(c->maps[i]->name, name) == 0) {
			set_err(err, errlen, "register map %s: defined more than once (map names must be unique)",
				q);
			return SM_E_CONFIG;
		}
	}
	struct mapctx x = {name, NULL, err, errlen};
	struct sm_user_map **arr = realloc(c->maps, (c->nmaps + 1) * sizeof(*arr));
	if (arr == NULL)
		return map_nomem(&x);
	c->maps = arr;
	struct sm_user_map *um = calloc(1, sizeof(*um));
	if (um == NULL || (um->name = xstrdup(name)) == NULL) {
		free(um);
		return map_nomem(&x);
	}
	um->line = n->line;
	um->map.name = um->name;
	um->map.description = MAP_DEFAULT_DESCRIPTION;
	um->map.caveat = NULL;
	um->map.max_count = SM_MB_MAX_COUNT;
	um->map.even = false;
	um->map.max_gap = SM_MB_GAP_ANY;
	enum sm_err rc = read_map_items(&x, n, um);
	if (rc != SM_OK) {
		user_map_free(um);
		return rc;
	}
	c->maps[c->nmaps++] = um;
	return SM_OK;
}

enum sm_err sm_config_from_tree(struct sm_config *c, const struct sm_cfg_node *block,
				char *err, size_t errlen)
{
	if (c == NULL || block == NULL) {
		set_err(err, errlen, "internal: sm_config_from_tree without a config or tree");
		return SM_E_CONFIG;
	}
	for (size_t i = 0; i < block->nchildren; i++) {
		const struct sm_cfg_node *n = &block->children[i];
		char d[160];
		if (is_block_named(n, "RegisterMap")) {
			enum sm_err rc = read_register_map(c, n, err, errlen);
			if (rc != SM_OK)
				return rc;
			continue;
		}
		if (!is_block_named(n, "Meter")) {
			describe_node(n, d, sizeof(d));
			if (block->key == NULL) /* a whole file without <Plugin smartmeter> */
				set_err(err, errlen,
					"unknown %s: expected <Meter \"name\"> or <RegisterMap \"name\"> "
					"blocks, or a <Plugin smartmeter> block holding them",
					d);
			else
				set_err(err, errlen,
					"unknown %s: expected <Meter \"name\"> or <RegisterMap \"name\"> "
					"blocks here",
					d);
			return SM_E_CONFIG;
		}
		if (n->nvalues != 1 || n->values[0].type != SM_CV_STRING || n->values[0].s == NULL) {
			char got[96];
			if (n->nvalues == 1)
				describe_value(&n->values[0], got, sizeof(got));
			else
				snprintf(got, sizeof(got), "%zu values", n->nvalues);
			if (n->line > 0)
				set_err(err, errlen,
					"<Meter> (line %d): expected one string argument (the meter name), got %s",
					n->line, got);
			else
				set_err(err, errlen,
					"<Meter>: expected one string argument (the meter name), got %s",
					got);
			return SM_E_CONFIG;
		}
		struct sm_meter_cfg *m;
		enum sm_err rc = sm_config_add_meter(c, n->values[0].s, &m, err, errlen);
		if (rc != SM_OK)
			return rc;
		for (size_t j = 0; j < n->nchildren; j++) {
			const struct sm_cfg_node *o = &n->children[j];
			if (o->block || o->nchildren > 0 || o->key == NULL) {
				char q[96];
				describe_node(o, d, sizeof(d));
				quote_str(m->name, q, sizeof(q));
				set_err(err, errlen, "meter %s: unknown %s", q, d);
				return SM_E_CONFIG;
			}
			rc = sm_meter_set(m, o->key, o->values, o->nvalues, err, errlen);
			if (rc != SM_OK)
				return rc;
		}
	}
	return SM_OK;
}

/* ---- validation ---- */

static char parity_char(enum sm_parity p)
{
	switch (p) {
	case SM_PARITY_NONE:
		return 'N';
	case SM_PARITY_EVEN:
		return 'E';
	case SM_PARITY_ODD:
		return 'O';
	}
	return '?';
}

void sm_line_format(const struct sm_line *l, char *out, size_t cap)
{
	if (out == NULL || cap == 0)
		return;
	snprintf(out, cap, "%d %d%c%d", l->baud, l->databits, parity_char(l->parity), l->stopbits);
}

static const char *parity_name(enum sm_parity p)
{
	switch (p) {
	case SM_PARITY_NONE:
		return "none";
	case SM_PARITY_EVEN:
		return "even";
	case SM_PARITY_ODD:
		return "odd";
	}
	return "?";
}

/* First line setting in which a and b differ; false if none. */
static bool line_differs(const struct sm_line *a, const struct sm_line *b, const char **what,
			 char *av, char *bv, size_t cap)
{
	if (a->baud != b->baud) {
		*what = "Baudrate";
		snprintf(av, cap, "%d", a->baud);
		snprintf(bv, cap, "%d", b->baud);
	} else if (a->databits != b->databits) {
		*what = "DataBits";
		snprintf(av, cap, "%d", a->databits);
		snprintf(bv, cap, "%d", b->databits);
	} else if (a->parity != b->parity) {
		*what = "Parity";
		snprintf(av, cap, "%s", parity_name(a->parity));
		snprintf(bv, cap, "%s", parity_name(b->parity));
	} else if (a->stopbits != b->stopbits) {
		*what = "StopBits";
		snprintf(av, cap, "%d", a->stopbits);
		snprintf(bv, cap, "%d", b->stopbits);
	} else {
		return false;
	}
	return true;
}

/* "dlms,dsmr" -> "\"dlms\" or \"dsmr\"" */
static void protocol_list(const char *list, char *out, size_t cap)
{
	struct sm_buf b;
	sm_buf_init(&b, out, cap);
	size_t count = 1;
	for (const char *q = list; *q != '\0'; q++)
		count += *q == ',';
	size_t i = 0;
	for (const char *q = list;; i++) {
		const char *end = strchr(q, ',');
		size_t n = end != NULL ? (size_t)(end - q) : strlen(q);
		if (i > 0)
			sm_buf_adds(&b, i + 1 == count ? " or " : ", ");
		sm_buf_addf(&b, "\"%.*s\"", (int)n, q);
		if (end == NULL)
			break;
		q = end + 1;
	}
}

static bool is_iec(const struct sm_meter_cfg *m)
{
	return m->proto != NULL && m->proto->name != NULL && strcasecmp(m->proto->name, IEC) == 0;
}

/* Two meters on one Device that cannot share it (IEC 62056-21 bus rules):
 * true and err set. */
static bool bus_conflict(const struct sm_meter_cfg *a, const struct sm_meter_cfg *b, char *err,
			 size_t errlen)
{
	if (!is_iec(a) || !is_iec(b))
		return false;
	char qa[96], qb[96], qd[96];
	quote_str(a->name, qa, sizeof(qa));
	quote_str(b->name, qb, sizeof(qb));
	quote_str(a->device, qd, sizeof(qd));
	if (a->iec_mode == 'D' || b->iec_mode == 'D') {
		set_err(err, errlen,
			"meters %s and %s share Device %s, but %s pushes (Mode \"D\"): a pushing "
			IEC " meter needs a Device of its own",
			qa, qb, qd, a->iec_mode == 'D' ? qa : qb);
		return true;
	}
	const char *why = NULL;
	char detail[128];
	if (a->address == NULL && b->address == NULL) {
		why = "neither has an Address";
	} else if (a->address == NULL || b->address == NULL) {
		snprintf(detail, sizeof(detail), "%s has no Address", a->address == NULL ? qa : qb);
		why = detail;
	} else if (strcmp(a->address, b->address) == 0) {
		char qaddr[96];
		quote_str(a->address, qaddr, sizeof(qaddr));
		snprintf(detail, sizeof(detail), "both have Address %s", qaddr);
		why = detail;
	}
	if (why == NULL)
		return false;
	set_err(err, errlen,
		"meters %s and %s share Device %s but %s: " IEC
		" meters on one bus need each an Address of its own",
		qa, qb, qd, why);
	return true;
}

static bool is_modbus(const struct sm_meter_cfg *m)
{
	return m->proto != NULL && m->proto->modbus_link;
}

/* A Device where the line settings do not matter (Modbus TCP, RTU over TCP). */
static bool is_network_device(const char *dev)
{
	return is_tcp_device(dev) || is_rtu_tcp_device(dev);
}

/* "(defined: "a", "b")" or "(none is defined)", plus a hint when name is a
 * built-in model's. */
static void defined_maps(const struct sm_config *c, const char *name, char *out, size_t cap)
{
	struct sm_buf b;
	sm_buf_init(&b, out, cap);
	if (c->nmaps == 0) {
		sm_buf_adds(&b, "none is defined");
	} else {
		sm_buf_adds(&b, "defined: ");
		for (size_t i = 0; i < c->nmaps; i++) {
			char q[96];
			quote_str(c->maps[i]->name, q, sizeof(q));
			sm_buf_addf(&b, "%s%s", i ? ", " : "", q);
		}
	}
	const struct sm_mb_map *builtin = sm_mb_model_find(name);
	if (builtin != NULL) {
		char q[96];
		quote_str(builtin->name, q, sizeof(q));
		sm_buf_addf(&b, "; %s is a built-in model: use Model %s", q, q);
	}
}

/* The modbus rules of one meter (its line settings are filled in). */
static enum sm_err validate_modbus(struct sm_config *c, struct sm_meter_cfg *m, const char *q,
				   char *err, size_t errlen)
{
	if (m->opt_set & (1ull << OPT_IGNORE_CHECKSUM)) {
		set_err(err, errlen,
			"meter %s: IgnoreChecksum: not for Protocol \"" MODBUS "\" (libmodbus checks the "
			"CRC of every reply and drops a bad one)",
			q);
		return SM_E_CONFIG;
	}
	if (strncmp(m->device, "file:", 5) == 0) {
		char qd[96];
		quote_str(m->device, qd, sizeof(qd));
		set_err(err, errlen,
			"meter %s: Device: expected a serial port, tcp://HOST:PORT or rtu+tcp://HOST:PORT "
			"for Protocol \"" MODBUS "\", got %s (a replayed file cannot answer polls)",
			q, qd);
		return SM_E_CONFIG;
	}
	bool has_model = m->model != NULL, has_map = m->register_map != NULL;
	if (has_model && has_map) {
		set_err(err, errlen,
			"meter %s: Model and RegisterMap: expected one of them, got both (a meter has "
			"one register map)",
			q);
		return SM_E_CONFIG;
	}
	if (!has_model && !has_map) {
		set_err(err, errlen,
			"meter %s: Model or RegisterMap: missing (expected Model, one of %s, or "
			"RegisterMap, the name of a <RegisterMap> block)",
			q, sm_mb_model_names());
		return SM_E_CONFIG;
	}
	const struct sm_mb_map *map = NULL;
	char qmap[96];
	if (has_model) {
		map = sm_mb_model_find(m->model);
		quote_str(m->model, qmap, sizeof(qmap));
		if (map == NULL) { /* the setter checked it: only a meter built by hand */
			set_err(err, errlen, "meter %s: Model: expected one of %s, got %s", q,
				sm_mb_model_names(), qmap);
			return SM_E_CONFIG;
		}
	} else {
		quote_str(m->register_map, qmap, sizeof(qmap));
		for (size_t i = 0; i < c->nmaps && map == NULL; i++)
			if (strcmp(c->maps[i]->name, m->register_map) == 0)
				map = &c->maps[i]->map;
		if (map == NULL) {
			char defined[512];
			defined_maps(c, m->register_map, defined, sizeof(defined));
			set_err(err, errlen, "meter %s: RegisterMap: no <RegisterMap %s> block (%s)", q, qmap,
				defined);
			return SM_E_CONFIG;
		}
	}
	if (!(m->opt_set & (1ull << OPT_TIMEOUT))) {
		m->timeout_s = SM_DEFAULT_MODBUS_TIMEOUT_S;
	} else if (!(m->timeout_s >= SM_MIN_MODBUS_TIMEOUT_S && m->timeout_s <= SM_MAX_MODBUS_TIMEOUT_S)) {
		set_err(err, errlen,
			"meter %s: Timeout: expected a number of seconds from 0.01 to 10 (the response "
			"timeout of one Modbus request), got %.15g",
			q, m->timeout_s);
		return SM_E_CONFIG;
	}
	if (!is_tcp_device(m->device) && (m->slave < 1 || m->slave > 247)) {
		set_err(err, errlen,
			"meter %s: Slave: expected 1..247 on a Modbus RTU Device (0 and 255 only with a "
			"tcp:// Device, Modbus TCP), got %d%s",
			q, m->slave,
			m->slave == 0 ? " (0 is the broadcast address: a read from it is never answered)"
				      : "");
		return SM_E_CONFIG;
	}
	if (m->slave > 247 && m->slave < 255) { /* libmodbus refuses these on Modbus TCP too */
		set_err(err, errlen, "meter %s: Slave: expected 0..247 or 255 with a tcp:// Device, got %d", q,
			m->slave);
		return SM_E_CONFIG;
	}
	if (!is_network_device(m->device)) {
		if (!sm_mb_baud_ok(m->line.baud)) {
			set_err(err, errlen,
				"meter %s: Baudrate: %d is not a speed libmodbus can set on a Modbus RTU "
				"line",
				q, m->line.baud);
			return SM_E_CONFIG;
		}
		if (m->line.databits != 7 && m->line.databits != 8) {
			set_err(err, errlen,
				"meter %s: DataBits: expected 7 or 8 for Protocol \"" MODBUS "\", got %d", q,
				m->line.databits);
			return SM_E_CONFIG;
		}
	}
	struct sm_mb_plan *plan = malloc(sizeof(*plan));
	if (plan == NULL) {
		set_err(err, errlen, "meter %s: out of memory", q);
		return SM_E_NOMEM;
	}
	struct sm_diag diag;
	memset(&diag, 0, sizeof(diag));
	enum sm_err rc = sm_mb_plan_make(map, plan, &diag);
	if (rc != SM_OK) {
		free(plan);
		const char *what = has_model ? "Model" : "RegisterMap";
		if (diag.msg[0] != '\0')
			set_err(err, errlen, "meter %s: %s %s: %s", q, what, qmap, diag.msg);
		else if (rc == SM_E_FULL)
			set_err(err, errlen,
				"meter %s: %s %s: needs more than %d requests or %d registers per poll", q,
				what, qmap, SM_MB_MAX_REQS, SM_MB_MAX_WORDS);
		else
			set_err(err, errlen, "meter %s: %s %s: the requests cannot be planned (%s)", q, what,
				qmap, sm_strerror(rc));
		return SM_E_CONFIG;
	}
	free(m->mb_plan);
	m->mb_plan = plan;
	m->mb_map = map;
	return SM_OK;
}

/* Two meters on one Device that cannot share it (Modbus bus rules): true
 * and err set. */
static bool modbus_bus_conflict(const struct sm_meter_cfg *a, const struct sm_meter_cfg *b, char *err,
				size_t errlen)
{
	bool ma = is_modbus(a), mb = is_modbus(b);
	if (!ma && !mb)
		return false;
	char qa[96], qb[96], qd[96];
	quote_str(a->name, qa, sizeof(qa));
	quote_str(b->name, qb, sizeof(qb));
	quote_str(a->device, qd, sizeof(qd));
	if (ma != mb) {
		const struct sm_meter_cfg *other = ma ? b : a;
		char qp[96];
		quote_str(other->proto != NULL ? other->proto->name : NULL, qp, sizeof(qp));
		set_err(err, errlen,
			"meters %s and %s share Device %s, but %s is not a modbus meter (Protocol %s): "
			"every meter on a Modbus bus must have Protocol \"" MODBUS "\"",
			qa, qb, qd, ma ? qb : qa, qp);
		return true;
	}
	if (a->slave == b->slave) {
		set_err(err, errlen,
			"meters %s and %s share Device %s and both have Slave %d: meters on one Modbus "
			"bus need each a Slave id of its own",
			qa, qb, qd, a->slave);
		return true;
	}
	return false;
}

/* c->warnings: the meters' warnings, in meter order. */
static enum sm_err collect_warnings(struct sm_config *c)
{
	free(c->warnings);
	c->warnings = NULL;
	size_t total = 0;
	for (size_t i = 0; i < c->nmeters; i++)
		total += c->meters[i].warnings != NULL ? strlen(c->meters[i].warnings) : 0;
	if (total == 0)
		return SM_OK;
	c->warnings = malloc(total + 1);
	if (c->warnings == NULL)
		return SM_E_NOMEM;
	size_t at = 0;
	for (size_t i = 0; i < c->nmeters; i++) {
		const char *w = c->meters[i].warnings;
		size_t n = w != NULL ? strlen(w) : 0;
		memcpy(c->warnings + at, w != NULL ? w : "", n);
		at += n;
	}
	c->warnings[at] = '\0';
	return SM_OK;
}

enum sm_err sm_config_validate(struct sm_config *c, char *err, size_t errlen)
{
	if (c != NULL && collect_warnings(c) != SM_OK) {
		set_err(err, errlen, "out of memory");
		return SM_E_NOMEM;
	}
	if (c == NULL || c->nmeters == 0) {
		set_err(err, errlen, "no meters configured (expected at least one <Meter \"name\"> block)");
		return SM_E_CONFIG;
	}
	for (size_t i = 0; i < c->nmeters; i++) {
		struct sm_meter_cfg *m = &c->meters[i];
		char q[96];
		quote_str(meter_name(m), q, sizeof(q));
		if (m->proto == NULL) {
			set_err(err, errlen, "meter %s: Protocol: missing (expected one of %s)", q,
				sm_proto_names());
			return SM_E_CONFIG;
		}
		if (m->device == NULL) {
			set_err(err, errlen, "meter %s: Device: missing (expected %s)", q, DEVICE_WHAT);
			return SM_E_CONFIG;
		}
		for (size_t k = 0; k < OPT_COUNT; k++) {
			const struct sm_option_desc *o = &sm_meter_options[k];
			if ((m->opt_set & (1ull << k)) == 0 || sm_option_applies(o, m->proto))
				continue;
			char qp[96], qo[160];
			quote_str(m->proto->name, qp, sizeof(qp));
			protocol_list(o->protocols, qo, sizeof(qo));
			set_err(err, errlen,
				"meter %s: %s: applies only to Protocol %s (this meter's Protocol is %s)",
				q, o->name, qo, qp);
			return SM_E_CONFIG;
		}
		bool mb = is_modbus(m);
		if (!mb && is_rtu_tcp_device(m->device)) {
			char qp[96];
			quote_str(m->proto->name, qp, sizeof(qp));
			set_err(err, errlen,
				"meter %s: Device: rtu+tcp:// is Modbus RTU over TCP: for Protocol "
				"\"" MODBUS "\" only (this meter's Protocol is %s)",
				q, qp);
			return SM_E_CONFIG;
		}
		if (!(m->opt_set & (1ull << OPT_MODE)) || m->iec_mode == '\0')
			m->iec_mode = SM_DEFAULT_IEC_MODE;
		if (!(m->opt_set & (1ull << OPT_BAUD_SWITCH_DELAY)))
			m->baud_switch_delay_s = SM_DEFAULT_BAUD_SWITCH_DELAY_S;
		if (!(m->opt_set & (1ull << OPT_FRAMING)) || m->framing == '\0')
			m->framing = SM_DEFAULT_FRAMING;
		if (m->has_auth_key && !m->has_key) {
			set_err(err, errlen,
				"meter %s: AuthKey: needs Key or KeyFile as well (the AuthKey only "
				"authenticates frames encrypted with the Key)",
				q);
			return SM_E_CONFIG;
		}
		if (is_iec(m) && m->iec_mode == 'D') {
			static const enum opt_id signon[] = {OPT_ADDRESS, OPT_MAX_BAUDRATE,
							     OPT_BAUD_SWITCH_DELAY, OPT_WAKE_UP};
			for (size_t k = 0; k < sizeof(signon) / sizeof(signon[0]); k++) {
				if ((m->opt_set & (1ull << signon[k])) == 0)
					continue;
				set_err(err, errlen,
					"meter %s: %s: not used in Mode \"D\" (the meter pushes without a "
					"sign-on; %s applies to modes A, B and C)",
					q, sm_meter_options[signon[k]].name, sm_meter_options[signon[k]].name);
				return SM_E_CONFIG;
			}
		}
		if (!mb && (m->opt_set & (1ull << OPT_TIMEOUT)) && sm_proto_is_polled(m)) {
			set_err(err, errlen,
				"meter %s: Timeout: applies to push meters only (a polled meter counts "
				"every unanswered poll as a timeout; see Interval)",
				q);
			return SM_E_CONFIG;
		}
		struct sm_line defaults = m->proto->line;
		if (m->proto->line_defaults != NULL)
			m->proto->line_defaults(m, &defaults);
		const struct sm_line *d = &defaults;
		if (!(m->line_set & SM_LINE_BAUD))
			m->line.baud = d->baud;
		if (!(m->line_set & SM_LINE_DATABITS))
			m->line.databits = d->databits;
		if (!(m->line_set & SM_LINE_PARITY))
			m->line.parity = d->parity;
		if (!(m->line_set & SM_LINE_STOPBITS))
			m->line.stopbits = d->stopbits;
		if (!(m->opt_set & (1ull << OPT_TIMEOUT)))
			m->timeout_s = SM_DEFAULT_TIMEOUT_S;
		if (mb) {
			enum sm_err rc = validate_modbus(c, m, q, err, errlen);
			if (rc != SM_OK)
				return rc;
		}
	}
	for (size_t i = 0; i < c->nmeters; i++) {
		for (size_t j = i + 1; j < c->nmeters; j++) {
			const struct sm_meter_cfg *a = &c->meters[i], *b = &c->meters[j];
			if (strcmp(a->device, b->device) != 0)
				continue;
			if (modbus_bus_conflict(a, b, err, errlen) || bus_conflict(a, b, err, errlen))
				return SM_E_CONFIG;
		}
	}
	for (size_t i = 0; i < c->nmeters; i++) {
		for (size_t j = i + 1; j < c->nmeters; j++) {
			const struct sm_meter_cfg *a = &c->meters[i], *b = &c->meters[j];
			if (strcmp(a->device, b->device) != 0)
				continue;
			/* Modbus TCP and RTU over TCP: the line settings are not used */
			if (is_modbus(a) && is_modbus(b) && is_network_device(a->device))
				continue;
			const char *what;
			char av[32], bv[32], qa[96], qb[96], qd[96];
			if (!line_differs(&a->line, &b->line, &what, av, bv, sizeof(av)))
				continue;
			quote_str(a->name, qa, sizeof(qa));
			quote_str(b->name, qb, sizeof(qb));
			quote_str(a->device, qd, sizeof(qd));
			set_err(err, errlen,
				"meters %s and %s share Device %s but disagree on %s (%s vs %s): "
				"meters on one device must use the same line settings",
				qa, qb, qd, what, av, bv);
			return SM_E_CONFIG;
		}
	}
	return SM_OK;
}

/* ---- ports ---- */

void sm_ports_free(struct sm_port *ports, size_t nports)
{
	if (ports == NULL)
		return;
	for (size_t i = 0; i < nports; i++)
		free(ports[i].meters);
	free(ports);
}

enum sm_err sm_config_ports(const struct sm_config *c, struct sm_port **ports, size_t *nports)
{
	*ports = NULL;
	*nports = 0;
	if (c == NULL || c->nmeters == 0)
		return SM_OK;
	struct sm_port *p = calloc(c->nmeters, sizeof(*p));
	if (p == NULL)
		return SM_E_NOMEM;
	size_t np = 0;
	for (size_t i = 0; i < c->nmeters; i++) {
		const struct sm_meter_cfg *m = &c->meters[i];
		size_t k = 0;
		while (k < np && strcmp(p[k].device, m->device) != 0)
			k++;
		if (k == np) {
			/* First meter of a new port: size its array for every
			 * later meter on the same device. */
			size_t cnt = 0;
			for (size_t j = i; j < c->nmeters; j++)
				if (strcmp(c->meters[j].device, m->device) == 0)
					cnt++;
			p[k].meters = calloc(cnt, sizeof(*p[k].meters));
			if (p[k].meters == NULL) {
				sm_ports_free(p, np);
				return SM_E_NOMEM;
			}
			p[k].device = m->device;
			p[k].line = m->line;
			np++;
		}
		p[k].meters[p[k].nmeters++] = m;
	}
	*ports = p;
	*nports = np;
	return SM_OK;
}

/* ---- Select ---- */

bool sm_meter_selects(const struct sm_meter_cfg *m, const struct sm_obis *o, const char *name)
{
	if (m == NULL || m->nselect == 0)
		return true;
	for (size_t i = 0; i < m->nselect; i++) {
		if (m->select_is_obis[i]) {
			if (o != NULL && sm_obis_eq(o, &m->select_obis[i]))
				return true;
		} else if (name != NULL && strcmp(name, m->select[i]) == 0) {
			return true;
		}
	}
	return false;
}
