/*
 * sim_modbus.c - `smartmeter simulate -p modbus`: a bus of Modbus RTU
 * slaves on a pseudo-terminal, or a Modbus TCP server (or RTU frames over
 * TCP, as a serial bridge passes them on).
 *
 * Each slave (--meter ID=MODEL[:FAULT...]) answers from a register image
 * built from its model's built-in map: every register holds a plausible,
 * deterministic value (a function of the unit id and the register), chosen
 * so that the register's encoding represents it exactly
 * (sm_mb_value_encode; never libmodbus's float setters, which write the
 * wrong word layout in 3.1.6).  --values writes those values as JSON lines.
 *
 * Requests are framed here, not by modbus_receive (which, after a frame
 * for another unit, swallows the next frame as that unit's reply): RTU
 * frames by their function's length rules (CRC checked; a frame of an
 * unknown function ends at a gap in the input), Modbus TCP frames by their
 * MBAP header.  The answers come from libmodbus's own reply code
 * (modbus_link.h: sm_mb_respond), after the model's limits are checked
 * here (exception 3).  Answers are queued with the time they are due, so
 * that late slaves and --pace never hold up reading the next request.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "buf.h"
#include "cli.h"
#include "crc.h"
#include "modbus_link.h"
#include "modbus_map.h"
#include "sim.h"

#define MB_QUEUE 64        /* answers waiting for their time */
#define MB_RX_MAX 1024     /* unframed input */
#define MB_GAP_MS 20       /* a pause that ends an RTU frame of unknown length */
#define MB_LATE_MAX 60000

struct mb_slave {
	uint8_t id;
	const struct sm_mb_map *map;
	struct sm_mb_image *img;
	int late_ms;
	bool crc, busy, garbage, dead;
	unsigned long requests, replies;
	int64_t *raw; /* per map register: the value it holds (raw * 10^scale) */
	int8_t *scale;
};

struct mb_reply {
	int64_t due;
	size_t len;
	uint8_t b[SM_MB_ADU_MAX];
};

struct mb_sim {
	const struct sim_opts *o;
	struct mb_slave *slaves;
	size_t nslaves;
	struct mb_slave *by_id[256];
	enum sm_mb_framing framing;
	struct sm_mb_responder *resp;
	/* I/O */
	struct sim_pty pty;
	bool have_pty;
	int sfd;       /* signalfd */
	int listen_fd; /* --listen */
	int fd;        /* where requests come from: the pty master or the connection */
	/* input */
	uint8_t rx[MB_RX_MAX];
	size_t rxn;
	int64_t last_rx;
	/* answers */
	struct mb_reply q[MB_QUEUE];
	size_t nq;
	bool warned_full;
	/* --pace */
	double char_ms; /* one character on the emulated line */
	double t35_ms;
	FILE *log;
	long long served;   /* requests for our unit ids */
	unsigned long dropped; /* bytes of input that were no frame */
	uint64_t rng;
};

/* ---------------------------------------------------------------- */
/* the slaves                                                        */
/* ---------------------------------------------------------------- */

/* "late=MS", "crc", "busy", "garbage", "dead" into s.  false: unknown. */
static bool parse_fault(const char *f, size_t n, struct mb_slave *s)
{
	if (n == 3 && strncmp(f, "crc", 3) == 0) {
		s->crc = true;
	} else if (n == 4 && strncmp(f, "busy", 4) == 0) {
		s->busy = true;
	} else if (n == 7 && strncmp(f, "garbage", 7) == 0) {
		s->garbage = true;
	} else if (n == 4 && strncmp(f, "dead", 4) == 0) {
		s->dead = true;
	} else if (n > 5 && strncmp(f, "late=", 5) == 0) {
		long v = 0;
		for (size_t i = 5; i < n; i++) {
			if (f[i] < '0' || f[i] > '9' || v > MB_LATE_MAX)
				return false;
			v = v * 10 + (f[i] - '0');
		}
		if (v < 1 || v > MB_LATE_MAX)
			return false;
		s->late_ms = (int)v;
	} else {
		return false;
	}
	return true;
}

/* A unit id 1..247 at p[0..n).  -1 when it is not one. */
static int parse_id(const char *p, size_t n)
{
	int v = 0;
	if (n == 0 || n > 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 247 ? v : -1;
}

/*
 * "ID[-LAST][=MODEL[:FAULT...]]" into template t (map and faults) and the
 * id range.  Logs and returns false when malformed.
 */
static bool parse_meter_arg(const char *arg, struct mb_slave *t, int *first, int *last)
{
	const char *eq = strchr(arg, '=');
	size_t idn = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *dash = memchr(arg, '-', idn);
	const char *model = "sdm630";
	char name[64];

	memset(t, 0, sizeof *t);
	*first = parse_id(arg, dash ? (size_t)(dash - arg) : idn);
	*last = dash ? parse_id(dash + 1, idn - (size_t)(dash + 1 - arg)) : *first;
	if (*first < 0 || *last < *first) {
		sm_cli_log(SM_LOG_ERROR, "--meter \"%s\": expected a unit id 1..247 (or a range FIRST-LAST) before '='",
			   arg);
		return false;
	}
	const char *rest = NULL;
	if (eq != NULL) {
		const char *colon = strchr(eq + 1, ':');
		size_t mn = colon ? (size_t)(colon - eq - 1) : strlen(eq + 1);
		if (mn == 0 || mn >= sizeof name) {
			sm_cli_log(SM_LOG_ERROR, "--meter \"%s\": expected ID=MODEL, MODEL one of %s", arg,
				   sm_mb_model_names());
			return false;
		}
		memcpy(name, eq + 1, mn);
		name[mn] = '\0';
		model = name;
		rest = colon;
	}
	t->map = sm_mb_model_find(model);
	if (t->map == NULL) {
		sm_cli_log(SM_LOG_ERROR, "--meter \"%s\": no built-in register map \"%s\" (models: %s)", arg, model,
			   sm_mb_model_names());
		return false;
	}
	while (rest != NULL) {
		const char *f = rest + 1;
		const char *next = strchr(f, ':');
		size_t fn = next ? (size_t)(next - f) : strlen(f);
		if (!parse_fault(f, fn, t)) {
			sm_cli_log(SM_LOG_ERROR,
				   "--meter \"%s\": unknown fault \"%.*s\" (expected late=MS with MS 1..%d, crc, busy, "
				   "garbage or dead)",
				   arg, (int)fn, f, MB_LATE_MAX);
			return false;
		}
		rest = next;
	}
	return true;
}

/* ---- plausible values ---- */

struct phase {
	double v, i, pf, p, q, s;
};

/* The electrical state of unit id at phase 1..3 (0: the totals). */
static struct phase phase_of(int id, int ph)
{
	struct phase r;
	if (ph == 0) {
		struct phase t = { 0, 0, 0, 0, 0, 0 };
		for (int k = 1; k <= 3; k++) {
			struct phase x = phase_of(id, k);
			t.v += x.v / 3;
			t.i += x.i / 3;
			t.p += x.p;
			t.q += x.q;
			t.s += x.s;
		}
		t.pf = t.s > 0 ? (t.p < 0 ? -t.p : t.p) / t.s : 1;
		if (t.pf > 0.99)
			t.pf = 0.99;
		return t;
	}
	r.v = 229.0 + ((id * 7 + ph * 3) % 30) * 0.1;
	r.i = 1.5 + ((id * 13 + ph * 5) % 60) * 0.1;
	r.pf = 0.80 + ((id * 3 + ph * 7) % 19) * 0.01;
	r.s = r.v * r.i;
	/* the third phase of even units exports (solar) */
	double sign = (ph == 3 && id % 2 == 0) ? -1.0 : 1.0;
	r.p = sign * r.s * r.pf;
	double q2 = r.s * r.s - r.p * r.p;
	double q = 0;
	/* square root by Newton's method (no libm needed for this) */
	if (q2 > 0) {
		q = r.s;
		for (int k = 0; k < 40; k++)
			q = 0.5 * (q + q2 / q);
	}
	r.q = ph == 2 ? -q : q;
	return r;
}

static bool has(const char *name, const char *part)
{
	return strstr(name, part) != NULL;
}

/* The phase a register name ends with ("_l1".."_l3"), 0 for none; *ll for
 * a line-to-line voltage ("voltage_l1_l2"). */
static int name_phase(const char *name, bool *ll)
{
	size_t n = strlen(name);
	*ll = has(name, "_l1_l2") || has(name, "_l2_l3") || has(name, "_l3_l1") || has(name, "_ll");
	if (n >= 3 && name[n - 3] == '_' && name[n - 2] == 'l' && name[n - 1] >= '1' && name[n - 1] <= '3')
		return name[n - 1] - '0';
	return 0;
}

/* The value register idx of id's map holds, before rounding. */
static double value_for(int id, size_t idx, const struct sm_mb_reg *reg)
{
	bool ll;
	int ph = name_phase(reg->name, &ll);
	struct phase x = phase_of(id, ph);
	/* energies: some MWh imported, less exported */
	double e_imp = 1.0e6 + id * 123456.7 + 0.37 * (double)(id % 7) * 1.0e5;
	double e_exp = e_imp * 0.18;
	static const double share[4] = { 1.0, 0.31, 0.33, 0.36 };
	bool imp = has(reg->name, "import"), exp = has(reg->name, "export");

	switch (reg->unit) {
	case SM_UNIT_V:
		if (ll)
			return 398.0 + ((id + ph * 5) % 20) * 0.1;
		return x.v;
	case SM_UNIT_A:
		if (has(reg->name, "neutral"))
			return 0.1 + (id % 7) * 0.1;
		return x.i;
	case SM_UNIT_W:
		if (imp)
			return x.p > 0 ? x.p : 0;
		if (exp)
			return x.p < 0 ? -x.p : 0;
		if (has(reg->name, "absolute"))
			return x.p < 0 ? -x.p : x.p;
		return x.p;
	case SM_UNIT_VAR:
		if (imp)
			return x.q > 0 ? x.q : 0;
		if (exp)
			return x.q < 0 ? -x.q : 0;
		return x.q;
	case SM_UNIT_VA:
		return x.s;
	case SM_UNIT_HZ:
		return 50.0 + ((id % 5) - 2) * 0.01;
	case SM_UNIT_WH:
		if (has(reg->name, "net"))
			return (e_imp - e_exp) * share[ph];
		if (has(reg->name, "absolute"))
			return (e_imp + e_exp) * share[ph];
		return (exp ? e_exp : e_imp) * share[ph];
	case SM_UNIT_VARH:
		return (exp ? e_imp * 0.05 : e_imp * 0.21) * share[ph];
	case SM_UNIT_VAH:
		return e_imp * 1.12 * share[ph];
	case SM_UNIT_NONE:
		if (has(reg->name, "power_factor"))
			return x.pf;
		break;
	default:
		break;
	}
	return 1.0 + (double)((id * 3 + (int)idx) % 10) * 0.5;
}

/* v as a decimal with 4 fraction digits. */
static void to_decimal(double v, int64_t *raw, int8_t *scale)
{
	double m = v * 10000.0;
	*raw = (int64_t)(m < 0 ? m - 0.5 : m + 0.5);
	*scale = -4;
}

/* Drop the last digit of raw, rounding half away from zero. */
static void round_digit(int64_t *raw, int8_t *scale)
{
	int64_t r = *raw;
	*raw = r < 0 ? -((-r + 5) / 10) : (r + 5) / 10;
	(*scale)++;
}

/*
 * The words of register reg holding value v, rounded to what the register
 * represents exactly.  SM_OK with (*raw, *scale) the value held.
 */
static enum sm_err encode_value(const struct sm_mb_reg *reg, double v, uint16_t *w, int64_t *raw, int8_t *scale)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		double x = attempt == 0 ? v : attempt == 1 ? (v < 0 ? -v : v) : 0.0;
		int64_t r;
		int8_t sc;
		to_decimal(x, &r, &sc);
		for (int k = 0; k < 22; k++) {
			if (sm_mb_value_encode(reg, r, sc, w) == SM_OK) {
				*raw = r;
				*scale = sc;
				return SM_OK;
			}
			round_digit(&r, &sc);
		}
	}
	return SM_E_RANGE;
}

/* Two decimals are the same number. */
static bool same_decimal(int64_t a, int8_t as, int64_t b, int8_t bs)
{
	char x[48], y[48];
	struct sm_buf bx, by;
	sm_buf_init(&bx, x, sizeof x);
	sm_buf_init(&by, y, sizeof y);
	return sm_decimal_format(&bx, a, as) == SM_OK && sm_decimal_format(&by, b, bs) == SM_OK &&
	       strcmp(x, y) == 0;
}

/* The span of the map's registers of one function (the even rule widens
 * it to even bounds).  false when the map has none. */
static bool map_span(const struct sm_mb_map *map, uint8_t fc, uint16_t *start, uint32_t *n)
{
	uint32_t lo = 65536, hi = 0;
	for (size_t i = 0; i < map->nregs; i++) {
		const struct sm_mb_reg *r = &map->regs[i];
		if (r->function != fc)
			continue;
		uint32_t end = (uint32_t)r->address + sm_mb_type_words(r->type);
		if (r->address < lo)
			lo = r->address;
		if (end > hi)
			hi = end;
	}
	if (hi == 0)
		return false;
	if (map->even) {
		lo &= ~1u;
		if (hi % 2 && hi < 65536)
			hi++;
	}
	*start = (uint16_t)lo;
	*n = hi - lo;
	return true;
}

/* The image and values of slave s. */
static int build_slave(struct mb_slave *s)
{
	const struct sm_mb_map *map = s->map;
	uint16_t hs = 0, is = 0;
	uint32_t hn = 0, in = 0;

	map_span(map, SM_MB_FC_HOLDING, &hs, &hn);
	map_span(map, SM_MB_FC_INPUT, &is, &in);
	if (sm_mb_image_new(hs, hn, is, in, &s->img) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return -1;
	}
	s->raw = calloc(map->nregs ? map->nregs : 1, sizeof *s->raw);
	s->scale = calloc(map->nregs ? map->nregs : 1, sizeof *s->scale);
	if (s->raw == NULL || s->scale == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < map->nregs; i++) {
		const struct sm_mb_reg *reg = &map->regs[i];
		uint16_t w[4] = { 0, 0, 0, 0 };
		unsigned nw = sm_mb_type_words(reg->type);
		if (encode_value(reg, value_for(s->id, i, reg), w, &s->raw[i], &s->scale[i]) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "slave %u (%s): no value fits register \"%s\"", (unsigned)s->id,
				   map->name, reg->name);
			return -1;
		}
		int64_t back;
		int8_t bsc;
		if (sm_mb_value_decode(reg, w, &back, &bsc) != SM_OK ||
		    !same_decimal(back, bsc, s->raw[i], s->scale[i]))
			sm_cli_log(SM_LOG_WARNING, "slave %u (%s): register \"%s\" does not read back as written",
				   (unsigned)s->id, map->name, reg->name);
		if (sm_mb_image_set(s->img, reg->function, reg->address, w, nw) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "slave %u (%s): register \"%s\" is outside the image", (unsigned)s->id,
				   map->name, reg->name);
			return -1;
		}
	}
	return 0;
}

static int setup_slaves(struct mb_sim *b)
{
	static const char *const dflt[] = { "1=sdm630" };
	const char *const *args = b->o->nmeter_args > 0 ? b->o->meter_args : dflt;
	size_t nargs = b->o->nmeter_args > 0 ? b->o->nmeter_args : 1;

	b->slaves = calloc(247, sizeof *b->slaves);
	if (b->slaves == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return -1;
	}
	for (size_t a = 0; a < nargs; a++) {
		struct mb_slave t;
		int first, last;
		if (!parse_meter_arg(args[a], &t, &first, &last))
			return -1;
		for (int id = first; id <= last; id++) {
			if (b->by_id[id] != NULL) {
				sm_cli_log(SM_LOG_ERROR, "--meter \"%s\": unit id %d is given twice", args[a], id);
				return -1;
			}
			struct mb_slave *s = &b->slaves[b->nslaves++];
			*s = t;
			s->id = (uint8_t)id;
			b->by_id[id] = s;
			if (build_slave(s) != 0)
				return -1;
		}
	}
	return 0;
}

static void free_slaves(struct mb_sim *b)
{
	for (size_t i = 0; i < b->nslaves; i++) {
		sm_mb_image_free(b->slaves[i].img);
		free(b->slaves[i].raw);
		free(b->slaves[i].scale);
	}
	free(b->slaves);
	b->slaves = NULL;
	b->nslaves = 0;
}

/* ---- --values ---- */

static void json_str(struct sm_buf *o, const char *s)
{
	sm_buf_addc(o, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sm_buf_addf(o, "\\%c", *p);
		else if (*p < 0x20)
			sm_buf_addf(o, "\\u%04x", *p);
		else
			sm_buf_addc(o, (char)*p);
	}
	sm_buf_addc(o, '"');
}

static int write_values(const struct mb_sim *b, const char *path)
{
	bool std = strcmp(path, "-") == 0;
	char tmp[4096 + 16];
	FILE *f = stdout;

	if (!std) {
		/* written aside and renamed: whoever waits for the file sees it whole */
		if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) {
			sm_cli_log(SM_LOG_ERROR, "--values %s: path too long", path);
			return -1;
		}
		f = fopen(tmp, "w");
		if (f == NULL) {
			sm_cli_log(SM_LOG_ERROR, "--values %s: %s", path, strerror(errno));
			return -1;
		}
	}
	for (size_t i = 0; i < b->nslaves; i++) {
		const struct mb_slave *s = &b->slaves[i];
		for (size_t k = 0; k < s->map->nregs; k++) {
			const struct sm_mb_reg *reg = &s->map->regs[k];
			char line[512];
			struct sm_buf o;
			sm_buf_init(&o, line, sizeof line);
			sm_buf_addf(&o, "{\"slave\":%u,\"name\":", (unsigned)s->id);
			json_str(&o, reg->name);
			sm_buf_adds(&o, ",\"unit\":");
			json_str(&o, reg->unit == SM_UNIT_OTHER ? reg->unit_text : sm_unit_str(reg->unit));
			sm_buf_adds(&o, ",\"value\":");
			sm_decimal_format(&o, s->raw[k], s->scale[k]);
			sm_buf_adds(&o, "}\n");
			fputs(line, f);
		}
	}
	if (std) {
		fflush(f);
		return 0;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		sm_cli_log(SM_LOG_ERROR, "--values %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* serving                                                           */
/* ---------------------------------------------------------------- */

static uint64_t next_rand(struct mb_sim *b)
{
	uint64_t x = b->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x;
}

static void log_request(struct mb_sim *b, unsigned unit, unsigned fc, unsigned addr, unsigned count,
			const char *outcome)
{
	if (b->log == NULL)
		return;
	fprintf(b->log, "%lld %u %u %u %u %s\n", (long long)sm_mono_ms(), unit, fc, addr, count, outcome);
	fflush(b->log);
}

/* Queue an answer, in order of the time it is due. */
static void enqueue(struct mb_sim *b, int64_t due, const uint8_t *p, size_t n)
{
	if (b->nq == MB_QUEUE) {
		if (!b->warned_full)
			sm_cli_log(SM_LOG_WARNING, "more than %d answers waiting: dropping answers", MB_QUEUE);
		b->warned_full = true;
		return;
	}
	size_t at = b->nq;
	while (at > 0 && b->q[at - 1].due > due)
		at--;
	memmove(&b->q[at + 1], &b->q[at], (b->nq - at) * sizeof b->q[0]);
	b->q[at].due = due;
	b->q[at].len = n;
	memcpy(b->q[at].b, p, n);
	b->nq++;
}

/* --pace: the bus time of this exchange (SDM-style slaves: the answer
 * starts after the request and a processing time, both framed by t3.5). */
static int64_t pace_ms(const struct mb_sim *b, size_t req_len, size_t rsp_len)
{
	if (!b->o->pace)
		return 0;
	double t = (double)(req_len + rsp_len) * b->char_ms + 2 * b->t35_ms + b->o->proc_ms;
	return (int64_t)(t + 0.5);
}

/* One whole request frame (RTU with its CRC, verified; or MBAP + PDU). */
static void handle(struct mb_sim *b, const uint8_t *f, size_t len)
{
	bool rtu = b->framing == SM_MB_FRAMING_RTU;
	size_t off = rtu ? 1 : 7;
	unsigned unit = rtu ? f[0] : f[6];
	const uint8_t *pdu = f + off;
	size_t pdulen = len - off - (rtu ? 2 : 0);
	unsigned fc = pdu[0];
	unsigned addr = pdulen >= 3 ? (unsigned)pdu[1] << 8 | pdu[2] : 0;
	unsigned count = pdulen >= 5 ? (unsigned)pdu[3] << 8 | pdu[4] : 0;
	struct mb_slave *s = b->by_id[unit];
	uint8_t out[SM_MB_ADU_MAX];
	size_t n = 0;
	enum sm_err rc;
	const char *outcome;
	char excname[8];

	if (s == NULL || unit == 0) {
		log_request(b, unit, fc, addr, count, "silent");
		return;
	}
	b->served++;
	s->requests++;
	if (s->dead) {
		log_request(b, unit, fc, addr, count, "silent");
		return;
	}
	if (s->busy && s->requests % 2 == 0) {
		rc = sm_mb_respond_exception(b->resp, f, len, 6, out, sizeof out, &n);
	} else if (fc == SM_MB_FC_HOLDING || fc == SM_MB_FC_INPUT) {
		const struct sm_mb_map *m = s->map;
		if (pdulen != 5 || count < 1 || count > m->max_count || (m->even && (addr % 2 || count % 2)))
			rc = sm_mb_respond_exception(b->resp, f, len, 3, out, sizeof out, &n);
		else
			rc = sm_mb_respond(b->resp, f, len, s->img, out, sizeof out, &n);
	} else {
		rc = sm_mb_respond_exception(b->resp, f, len, 1, out, sizeof out, &n);
	}
	if (rc != SM_OK || n == 0) {
		log_request(b, unit, fc, addr, count, "silent");
		return;
	}
	size_t fco = rtu ? 1 : 7;
	if (out[fco] & 0x80) {
		snprintf(excname, sizeof excname, "exc%u", (unsigned)out[fco + 1]);
		outcome = excname;
	} else {
		outcome = "ok";
	}
	s->replies++;
	if (s->garbage && s->replies % 2 == 0) {
		for (size_t i = 0; i < n; i++)
			out[i] = (uint8_t)(next_rand(b) >> 24);
		outcome = "garbage";
	} else if (s->crc && s->replies % 2 == 0) {
		if (rtu)
			out[n - 1] ^= 0xA5; /* the CRC's high byte */
		else
			out[0] ^= 0x5A; /* no CRC in Modbus TCP: another transaction's answer */
		outcome = "crc";
	} else if (s->late_ms > 0) {
		outcome = "late";
	}
	log_request(b, unit, fc, addr, count, outcome);
	enqueue(b, sm_mono_ms() + s->late_ms + pace_ms(b, len, n), out, n);
}

/* The length of the RTU request frame starting at p[0..n): the frame's
 * length, 0 when more bytes are needed to tell, -1 for a function whose
 * length the rules do not give (the frame ends at a gap). */
static long rtu_frame_len(const uint8_t *p, size_t n)
{
	if (n < 2)
		return 0;
	switch (p[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6:
		return 8;
	case 7: case 11: case 12: case 17:
		return 4;
	case 22:
		return 10;
	case 15: case 16:
		return n < 7 ? 0 : 9 + (long)p[6];
	case 23:
		return n < 11 ? 0 : 13 + (long)p[10];
	default:
		return -1;
	}
}

static void rx_consume(struct mb_sim *b, size_t n)
{
	memmove(b->rx, b->rx + n, b->rxn - n);
	b->rxn -= n;
}

/* The offset (>= 1) of the first whole frame of a known length with a good
 * CRC further on in the input, 0 for none. */
static size_t frame_further_on(const struct mb_sim *b)
{
	for (size_t k = 1; k + 4 <= b->rxn; k++) {
		long n = rtu_frame_len(b->rx + k, b->rxn - k);
		if (n > 0 && n <= 256 && (size_t)n <= b->rxn - k && sm_crc16_modbus(0xFFFF, b->rx + k, (size_t)n) == 0)
			return k;
	}
	return 0;
}

/* Frame what arrived; gap: the line has been quiet for MB_GAP_MS. */
static void rtu_frames(struct mb_sim *b, bool gap)
{
	while (b->rxn > 0) {
		long need = rtu_frame_len(b->rx, b->rxn);
		if (need > 256) { /* no such frame: not a frame start */
			rx_consume(b, 1);
			b->dropped++;
			continue;
		}
		if (need <= 0 || b->rxn < (size_t)need) {
			/* noise before a request: skip to the request */
			size_t k = frame_further_on(b);
			if (k > 0) {
				rx_consume(b, k);
				b->dropped += k;
				continue;
			}
			if (!gap)
				return;
			/* the frame ended at the gap: all of it, or nothing */
			if (b->rxn >= 4 && sm_crc16_modbus(0xFFFF, b->rx, b->rxn) == 0) {
				uint8_t *f = malloc(b->rxn);
				if (f != NULL) {
					memcpy(f, b->rx, b->rxn);
					handle(b, f, b->rxn);
					free(f);
				}
			} else {
				b->dropped += b->rxn;
			}
			b->rxn = 0;
			return;
		}
		if (sm_crc16_modbus(0xFFFF, b->rx, (size_t)need) == 0) {
			uint8_t f[260];
			memcpy(f, b->rx, (size_t)need);
			rx_consume(b, (size_t)need);
			handle(b, f, (size_t)need);
		} else {
			/* a bad CRC: no answer; look for a frame start further on */
			rx_consume(b, 1);
			b->dropped++;
		}
	}
}

/* Modbus TCP: frames by their MBAP header.  false: not Modbus TCP (the
 * connection is closed). */
static bool tcp_frames(struct mb_sim *b)
{
	while (b->rxn >= 7) {
		unsigned proto = (unsigned)b->rx[2] << 8 | b->rx[3];
		unsigned len = (unsigned)b->rx[4] << 8 | b->rx[5];
		if (proto != 0 || len < 2 || len > 254) {
			sm_cli_log(SM_LOG_WARNING,
				   "not a Modbus TCP frame (protocol id %u, length %u): closing the connection", proto,
				   len);
			return false;
		}
		size_t total = 6 + (size_t)len;
		if (b->rxn < total)
			return true;
		uint8_t f[260];
		memcpy(f, b->rx, total);
		rx_consume(b, total);
		handle(b, f, total);
	}
	return true;
}

static void drop_connection(struct mb_sim *b)
{
	if (b->fd >= 0 && !b->have_pty) {
		close(b->fd);
		b->fd = -1;
		sm_cli_log(SM_LOG_INFO, "connection closed");
	}
	b->rxn = 0;
	b->nq = 0;
}

/* Send the answers that are due. */
static void send_due(struct mb_sim *b, int64_t now)
{
	while (b->nq > 0 && b->q[0].due <= now) {
		if (b->fd >= 0)
			sim_write(b->fd, b->q[0].b, b->q[0].len);
		memmove(&b->q[0], &b->q[1], (b->nq - 1) * sizeof b->q[0]);
		b->nq--;
	}
}

/* Read what the master sent.  false: the connection ended. */
static bool take_input(struct mb_sim *b, int64_t now)
{
	uint8_t buf[512];
	for (;;) {
		ssize_t r = read(b->fd, buf, sizeof buf);
		if (r > 0) {
			if (b->framing == SM_MB_FRAMING_RTU && b->rxn > 0 && now - b->last_rx >= MB_GAP_MS)
				rtu_frames(b, true);
			b->last_rx = now;
			size_t room = sizeof b->rx - b->rxn;
			size_t n = (size_t)r < room ? (size_t)r : room;
			if (n < (size_t)r)
				b->dropped += (size_t)r - n;
			memcpy(b->rx + b->rxn, buf, n);
			b->rxn += n;
			if (b->framing == SM_MB_FRAMING_RTU)
				rtu_frames(b, false);
			else if (!tcp_frames(b))
				return false;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return true;
		/* a pty master has no end of file while we hold the slave */
		return b->have_pty;
	}
}

/* SIGTERM, SIGINT, SIGHUP into a signalfd; SIGPIPE ignored. */
static int signals_open(void)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

/* "HOST:PORT" / "[V6]:PORT": a listening socket, or -1 after logging why. */
static int listen_on(const char *spec)
{
	char host[256], port[8];
	const char *h = spec, *colon;
	size_t hn;

	if (*spec == '[') {
		const char *close_br = strchr(spec, ']');
		if (close_br == NULL || close_br[1] != ':')
			goto bad;
		h = spec + 1;
		hn = (size_t)(close_br - h);
		colon = close_br + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			goto bad;
		hn = (size_t)(colon - spec);
		if (memchr(spec, ':', hn) != NULL)
			goto bad;
	}
	if (hn == 0 || hn >= sizeof host || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof port)
		goto bad;
	memcpy(host, h, hn);
	host[hn] = '\0';
	snprintf(port, sizeof port, "%s", colon + 1);
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			goto bad;

	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g != 0) {
		sm_cli_log(SM_LOG_ERROR, "--listen %s: %s", spec, gai_strerror(g));
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 4) != 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		sm_cli_log(SM_LOG_ERROR, "--listen %s: %s", spec, strerror(err));
	return fd;
bad:
	sm_cli_log(SM_LOG_ERROR, "--listen: expected HOST:PORT (an IPv6 address in brackets), got \"%s\"", spec);
	return -1;
}

static void accept_one(struct mb_sim *b)
{
	int c = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	b->fd = c;
	b->rxn = 0;
	b->nq = 0;
	sm_cli_log(SM_LOG_INFO, "connection accepted");
}

/* Serve until a signal (or --count).  0 on a clean stop. */
static int serve(struct mb_sim *b)
{
	const struct sim_opts *o = b->o;

	for (;;) {
		int64_t now = sm_mono_ms();
		send_due(b, now);
		if (o->count > 0 && b->served >= o->count && b->nq == 0)
			return 0;
		int64_t wake = now + 1000;
		if (b->nq > 0 && b->q[0].due < wake)
			wake = b->q[0].due;
		bool gap_pending = b->framing == SM_MB_FRAMING_RTU && b->rxn > 0;
		if (gap_pending && b->last_rx + MB_GAP_MS < wake)
			wake = b->last_rx + MB_GAP_MS;
		struct pollfd pfd[3] = {
			{ .fd = b->sfd, .events = POLLIN },
			{ .fd = b->fd, .events = POLLIN },
			{ .fd = b->fd < 0 ? b->listen_fd : -1, .events = POLLIN },
		};
		int64_t wait = wake - now;
		int r = poll(pfd, 3, (int)(wait < 0 ? 0 : wait));
		if (r < 0 && errno != EINTR) {
			sm_cli_log(SM_LOG_ERROR, "poll: %s", strerror(errno));
			return -1;
		}
		now = sm_mono_ms();
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(b->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				sm_cli_log(SM_LOG_INFO, "%s received, stopping", strsignal((int)si.ssi_signo));
				return 0;
			}
		}
		if (r > 0 && b->fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!take_input(b, now))
				drop_connection(b);
		}
		if (r > 0 && (pfd[2].revents & POLLIN))
			accept_one(b);
		if (b->framing == SM_MB_FRAMING_RTU && b->rxn > 0 && now - b->last_rx >= MB_GAP_MS)
			rtu_frames(b, true);
	}
}

int sim_modbus(const struct sim_opts *o)
{
	struct mb_sim *b = calloc(1, sizeof *b);
	int status = SM_EXIT_NONE;

	if (b == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return SM_EXIT_NONE;
	}
	b->o = o;
	b->fd = b->listen_fd = b->sfd = -1;
	b->rng = 0x9E3779B97F4A7C15ull;
	b->framing = (o->listen != NULL && !o->rtu_over_tcp) ? SM_MB_FRAMING_TCP : SM_MB_FRAMING_RTU;
	int baud = o->baud > 0 ? o->baud : 9600;
	b->char_ms = (o->parity == 'N' ? 10.0 : 11.0) * 1000.0 / baud;
	b->t35_ms = baud > 19200 ? 1.75 : 3.5 * b->char_ms;

	/* usage errors before anything exists */
	if (setup_slaves(b) != 0) {
		status = SM_EXIT_USAGE;
		goto done;
	}
	if (sm_mb_responder_new(b->framing, &b->resp) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		goto done;
	}
	if (o->log_requests != NULL) {
		b->log = strcmp(o->log_requests, "-") == 0 ? stdout : fopen(o->log_requests, "w");
		if (b->log == NULL) {
			sm_cli_log(SM_LOG_ERROR, "--log-requests %s: %s", o->log_requests, strerror(errno));
			goto done;
		}
	}

	const char *where;
	if (o->listen != NULL) {
		b->listen_fd = listen_on(o->listen);
		if (b->listen_fd < 0)
			goto done;
		b->sfd = signals_open();
		where = o->listen;
	} else {
		if (sim_pty_open(&b->pty, o->link) != 0)
			goto done;
		b->have_pty = true;
		b->sfd = b->pty.sfd;
		b->fd = b->pty.master;
		where = b->pty.pts;
	}
	if (o->values != NULL && write_values(b, o->values) != 0)
		goto done;

	char list[512];
	struct sm_buf lb;
	sm_buf_init(&lb, list, sizeof list);
	for (size_t i = 0; i < b->nslaves; i++) {
		const struct mb_slave *s = &b->slaves[i];
		if (sm_buf_addf(&lb, "%s%u (%s%s%s%s%s%s)", i ? ", " : "", (unsigned)s->id, s->map->name,
				s->crc ? ", crc" : "", s->busy ? ", busy" : "", s->garbage ? ", garbage" : "",
				s->dead ? ", dead" : "", s->late_ms ? ", late" : "") != SM_OK) {
			sm_buf_adds(&lb, ", ...");
			break;
		}
	}
	sm_cli_log(SM_LOG_INFO, "simulating Modbus %s slave%s %s on %s%s%s%s",
		   b->framing == SM_MB_FRAMING_TCP ? "TCP" : "RTU", b->nslaves == 1 ? "" : "s", list, where,
		   o->link ? " (" : "", o->link ? o->link : "", o->link ? ")" : "");
	if (o->pace)
		sm_cli_log(SM_LOG_INFO, "pacing answers for %d Bd 8%c1, %d ms processing", baud, o->parity, o->proc_ms);

	if (serve(b) == 0)
		status = SM_EXIT_OK;
	sm_cli_log(SM_LOG_INFO, "served %lld requests", b->served);
	if (b->dropped > 0)
		sm_cli_log(SM_LOG_INFO, "%lu bytes of input were no request (bad CRC or noise)", b->dropped);
done:
	if (b->have_pty) {
		sim_pty_close(&b->pty);
		b->fd = -1;
		b->sfd = -1;
	}
	if (b->fd >= 0)
		close(b->fd);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->sfd >= 0)
		close(b->sfd);
	if (b->log != NULL && b->log != stdout)
		fclose(b->log);
	sm_mb_responder_free(b->resp);
	free_slaves(b);
	free(b);
	return status;
}
