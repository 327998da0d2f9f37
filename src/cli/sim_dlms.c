/*
 * sim_dlms.c - a simulated DLMS/COSEM push meter: data-notifications every
 * period, encrypted with --key (general-glo-ciphering, security control
 * 0x20/0x21 or, with --auth-key, 0x30/0x31 with a GCM tag) or plain, in
 * M-Bus long frames (as the Austrian customer interfaces send them), HDLC
 * frames (Nordic HAN) or as a raw APDU stream.
 *
 * The built-in meter is Austrian-style (EVN/Sagemcom flat list or Kaifa
 * list of structures, --layout): meter time, voltages and currents of the
 * three phases, import and export power and energy, power factor and the
 * meter number.  A fixture (hex frames, one a line, or raw bytes) is
 * reassembled into its APDUs; plain ones, and encrypted ones given their
 * --key, are sent with their date-times set to the current time and sealed
 * again with a frame counter that grows by one per frame; encrypted
 * APDUs without the key go out unchanged.  Whatever cannot be reassembled
 * is sent as it is, as is everything with --verbatim.
 *
 * The meter logs the speed the reader set on the pty whenever it changes
 * ("the reader's line is at 2400 Bd"), so tests can check the line
 * defaults (a pty has no parity: only the speed is seen).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "axdr.h"
#include "cli.h"
#include "cursor.h"
#include "dlms.h"
#include "gcm.h"
#include "hdlc.h"
#include "mbus.h"
#include "sim.h"

#define DLMS_MAX_APDUS 16
#define DLMS_MBUS_SEGMENT 245 /* APDU bytes per M-Bus frame: 68 FA FA 68, as EVN sends */
#define DLMS_HDLC_SEGMENT 200 /* information bytes per HDLC frame */
/* Room for one APDU in any framing: sealing adds 18 + 12 bytes, M-Bus 11
 * per segment of at least 1 byte... bounded by the segment sizes used. */
#define DLMS_WIRE_MAX (4 * SM_DLMS_MAX_APDU)

struct apdu {
	uint8_t *plain;     /* the plaintext data-notification (NULL: send cipher as is) */
	size_t plain_n;
	uint8_t *cipher;    /* the 0xDB APDU as the fixture had it (NULL for plain ones) */
	size_t cipher_n;
	uint8_t title[8];   /* its system title, security control and counter */
	uint8_t sc;
	uint32_t fc;
};

struct dlms_sim {
	const struct sim_opts *o;
	struct sm_gcm *g;
	uint8_t title[8];
	uint32_t fc;
	uint32_t invoke;
	/* the built-in meter's counters */
	double import_wh, export_wh;
	int64_t last_ms;
	/* fixture */
	struct apdu apdus[DLMS_MAX_APDUS];
	size_t napdus;
	char fixture_framing;  /* 'm', 'h', 'r' */
	size_t mbus_segment;   /* the fixture's first segment size */
	uint8_t *raw;          /* the fixture's bytes, sent as they are (verbatim,
				  or nothing could be reassembled) */
	size_t raw_n;
	/* scratch */
	uint8_t plain[SM_DLMS_MAX_APDU];
	uint8_t sealed[SM_DLMS_MAX_APDU + 64];
	uint8_t wire[DLMS_WIRE_MAX];
	/* sending */
	bool as_is;            /* raw as it is */
	char framing;
	uint8_t sc;            /* the built-in meter's security control */
	size_t next;           /* the fixture's next APDU */
};

/* ---------------------------------------------------------------- */
/* the built-in meter                                                */
/* ---------------------------------------------------------------- */

/* One data-notification of the model at now_ms (wall clock). */
static enum sm_err model_apdu(struct dlms_sim *d, int64_t now_ms, size_t *outlen)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	if (s == NULL)
		return SM_E_NOMEM;
	double t = (double)(now_ms % 86400000) / 1000.0;
	double load = 520.0 + 340.0 * sin(t / 700.0) + 90.0 * sin(t / 23.0);
	double pv = 700.0 * fmax(0.0, sin(t / 2100.0));
	double net = load - pv;
	double dt_h = d->last_ms ? (double)(now_ms - d->last_ms) / 3600000.0 : 0.0;
	d->last_ms = now_ms;
	if (net > 0)
		d->import_wh += net * dt_h;
	else
		d->export_wh += -net * dt_h;
	double u[3] = { 230.4 + 2.0 * sin(t / 40.0), 231.1 + 1.5 * sin(t / 55.0), 229.8 + 2.5 * sin(t / 65.0) };
	struct num {
		uint8_t g[5];
		double v;
		int decimals;
		enum sm_unit unit;
	} nums[] = {
		{ { 1, 0, 32, 7, 0 }, u[0], 1, SM_UNIT_V },
		{ { 1, 0, 52, 7, 0 }, u[1], 1, SM_UNIT_V },
		{ { 1, 0, 72, 7, 0 }, u[2], 1, SM_UNIT_V },
		{ { 1, 0, 31, 7, 0 }, fabs(net) / 3.0 / u[0], 2, SM_UNIT_A },
		{ { 1, 0, 51, 7, 0 }, fabs(net) / 3.0 / u[1], 2, SM_UNIT_A },
		{ { 1, 0, 71, 7, 0 }, fabs(net) / 3.0 / u[2], 2, SM_UNIT_A },
		{ { 1, 0, 1, 7, 0 }, net > 0 ? net : 0, 0, SM_UNIT_W },
		{ { 1, 0, 2, 7, 0 }, net < 0 ? -net : 0, 0, SM_UNIT_W },
		{ { 1, 0, 1, 8, 0 }, d->import_wh, 0, SM_UNIT_WH },
		{ { 1, 0, 2, 8, 0 }, d->export_wh, 0, SM_UNIT_WH },
		{ { 1, 0, 13, 7, 0 }, 0.95 + 0.04 * sin(t / 300.0), 3, SM_UNIT_NONE },
	};
	static const char meter_number[] = "1SIM0123456789";
	enum sm_err e = SM_OK;
	sm_set_clear(s);
	for (size_t i = 0; i < sizeof nums / sizeof nums[0] && e == SM_OK; i++) {
		struct sm_obis ob = sm_obis_make5(nums[i].g[0], nums[i].g[1], nums[i].g[2], nums[i].g[3],
						  nums[i].g[4]);
		double scaled = nums[i].v;
		for (int k = 0; k < nums[i].decimals; k++)
			scaled *= 10.0;
		e = sm_set_add_number(s, &ob, (int64_t)llround(scaled), (int8_t)-nums[i].decimals, nums[i].unit,
				      NULL, 0, 0);
	}
	if (e == SM_OK) {
		struct sm_obis id = sm_obis_make5(0, 0, 96, 1, 0);
		e = sm_set_add_text(s, &id, meter_number, sizeof meter_number - 1, 0);
	}
	if (e == SM_OK) {
		char letter;
		s->meter_time_ms = now_ms - now_ms % 1000;
		e = sm_dlms_encode(s, d->o->layout == 's' ? SM_DLMS_STRUCTS : SM_DLMS_FLAT, d->invoke++,
				   sm_cet_offset(now_ms, &letter), d->plain, sizeof d->plain, outlen);
	}
	free(s);
	return e;
}

/* ---------------------------------------------------------------- */
/* fixtures                                                          */
/* ---------------------------------------------------------------- */


/* Keep one reassembled APDU of the fixture: plain, decrypted with the key,
 * or (without it) as the ciphered bytes.  false after logging a fatal
 * problem (a key that does not open it). */
static bool keep_apdu(struct dlms_sim *d, const uint8_t *p, size_t n)
{
	if (d->napdus >= DLMS_MAX_APDUS || n == 0)
		return true;
	struct apdu *a = &d->apdus[d->napdus];
	memset(a, 0, sizeof *a);
	if (p[0] == 0xDB) {
		a->cipher = malloc(n);
		if (a->cipher == NULL)
			return false;
		memcpy(a->cipher, p, n);
		a->cipher_n = n;
		if (d->g != NULL) {
			struct sm_gcm_info info;
			struct sm_diag diag = { { 0 } };
			size_t pn = 0;
			enum sm_err rc = sm_gcm_open(d->g, p, n, d->plain, sizeof d->plain, &pn, &info, &diag);
			if (rc == SM_OK && (pn == 0 || d->plain[0] != 0x0F))
				rc = SM_E_NOT_APDU;
			if (rc != SM_OK) {
				const char *why = rc == SM_E_NOT_APDU ? "the decrypted data is not a DLMS APDU: check --key"
						  : rc == SM_E_AUTH   ? "authentication failed: check --key and --auth-key"
						  : diag.msg[0]       ? diag.msg
								      : sm_strerror(rc);
				sm_cli_log(SM_LOG_ERROR, "%s: APDU %zu (frame counter %u) does not open with this key: %s",
					   d->o->fixture, d->napdus + 1, (unsigned)info.frame_counter, why);
				free(a->cipher);
				a->cipher = NULL;
				return false;
			}
			memcpy(a->title, info.system_title, 8);
			a->sc = info.security_control;
			a->fc = info.frame_counter;
			if ((a->sc & 0x10) && !d->o->has_auth_key)
				a->sc = (uint8_t)(a->sc & ~0x10); /* cannot tag it again: send untagged */
			if (d->o->security != 0)
				a->sc = d->o->security;
			a->plain = malloc(pn);
			if (a->plain == NULL)
				return false;
			memcpy(a->plain, d->plain, pn);
			a->plain_n = pn;
			sm_wipe(d->plain, pn);
		}
	} else {
		a->plain = malloc(n);
		if (a->plain == NULL)
			return false;
		memcpy(a->plain, p, n);
		a->plain_n = n;
		a->sc = sim_security(d->o);
		memcpy(a->title, d->title, 8);
	}
	d->napdus++;
	return true;
}

/* Reassemble the fixture's APDUs by its own framing (seen from its first
 * byte).  false after logging a fatal problem. */
static bool load_fixture(struct dlms_sim *d)
{
	const uint8_t *p = d->raw;
	size_t n = d->raw_n;
	if (n == 0)
		return true;
	if (p[0] == SM_MBUS_START) {
		struct sm_mbus_dlms *m = malloc(sizeof *m);
		if (m == NULL)
			return false;
		d->fixture_framing = 'm';
		/* the first frame's APDU segment: L - 5 (C A CI and the SAPs) */
		if (n >= 4 && p[1] == p[2] && p[3] == SM_MBUS_START && p[1] > 5)
			d->mbus_segment = (size_t)p[1] - 5;
		sm_mbus_dlms_init(m);
		size_t off = 0;
		bool ok = true;
		for (int guard = 0; guard < 100000 && ok; guard++) {
			struct sm_frame fr;
			struct sm_diag diag;
			size_t used = 0;
			enum sm_err rc = off < n ? sm_mbus_dlms_feed(m, p + off, n - off, &used, &fr, &diag)
						 : sm_mbus_dlms_flush(m, &fr, &diag);
			off += used;
			if (rc == SM_FRAME)
				ok = keep_apdu(d, fr.p, fr.n);
			else if (rc == SM_NEED_MORE && off >= n)
				break;
		}
		free(m);
		return ok;
	}
	if (p[0] == SM_HDLC_FLAG) {
		struct sm_hdlc *h = malloc(sizeof *h);
		if (h == NULL)
			return false;
		d->fixture_framing = 'h';
		sm_hdlc_init(h);
		size_t off = 0;
		bool ok = true;
		for (int guard = 0; guard < 100000 && ok; guard++) {
			struct sm_frame fr;
			struct sm_diag diag;
			size_t used = 0;
			enum sm_err rc = off < n ? sm_hdlc_feed(h, p + off, n - off, &used, &fr, &diag)
						 : sm_hdlc_flush(h, &fr, &diag);
			off += used;
			if (rc == SM_FRAME)
				ok = keep_apdu(d, fr.p, fr.n);
			else if (rc == SM_NEED_MORE && off >= n)
				break;
		}
		free(h);
		return ok;
	}
	d->fixture_framing = 'r';
	if (p[0] == 0xDB) {
		/* APDUs back to back, each as long as its header says */
		size_t off = 0;
		while (off < n) {
			size_t total = 0;
			if (sm_gcm_apdu_length(p + off, n - off, SM_DLMS_MAX_APDU, &total) != SM_OK ||
			    total > n - off)
				break;
			if (!keep_apdu(d, p + off, total))
				return false;
			off += total;
		}
		return true;
	}
	if (p[0] == 0x0F)
		return keep_apdu(d, p, n);
	return true;
}

/* Set every date-time of a plain data-notification to now (each keeps its
 * deviation and clock status; one of unknown deviation gets the local
 * time of Central Europe): the notification's own, and those in its body
 * found by walking the A-XDR data (type 0x19, or an octet-string of 12
 * bytes that parses as a fully specified date-time). */
static void restamp_dt(uint8_t *b, int64_t now_ms)
{
	struct sm_axdr_datetime dt;
	if (!sm_axdr_datetime_parse(b, 12, &dt))
		return;
	/* not a point in time (a schedule, a mask): left alone */
	if (dt.year == 0xFFFF || dt.month > 12 || dt.day > 31 || dt.hour > 23 || dt.min > 59)
		return;
	if (dt.deviation == SM_AXDR_DEVIATION_UNKNOWN) {
		char letter;
		struct sm_axdr_datetime now;
		sm_axdr_datetime_from_ms(now_ms, sm_cet_offset(now_ms, &letter), &now);
		now.deviation = SM_AXDR_DEVIATION_UNKNOWN;
		now.clock_status = dt.clock_status;
		sm_axdr_datetime_put(&now, b);
		return;
	}
	uint8_t status = dt.clock_status;
	sm_axdr_datetime_from_ms(now_ms - now_ms % 1000, -dt.deviation, &dt);
	dt.clock_status = status;
	sm_axdr_datetime_put(&dt, b);
}

static void restamp_walk(uint8_t *base, struct sm_axdr_it *it, int64_t now_ms, int depth)
{
	while (!sm_axdr_at_end(it) && depth <= SM_AXDR_MAX_DEPTH) {
		int type = sm_axdr_type(it);
		if (sm_axdr_is_container(it)) {
			struct sm_axdr_it child;
			if (sm_axdr_enter(it, &child) != SM_OK)
				return;
			restamp_walk(base, &child, now_ms, depth + 1);
			while (!sm_axdr_at_end(&child))
				if (sm_axdr_next(&child) != SM_OK)
					return;
			if (sm_axdr_leave(it, &child) != SM_OK)
				return;
			continue;
		}
		if ((type == SM_AXDR_DATETIME || type == SM_AXDR_OCTETS) && sm_axdr_len(it) == 12)
			restamp_dt(base + (it->val - base), now_ms);
		if (sm_axdr_next(it) != SM_OK)
			return;
	}
}

static void restamp(uint8_t *p, size_t n, int64_t now_ms)
{
	/* 0F <invoke 4> (0C <12 bytes> | 00) <body> */
	if (n < 6 || p[0] != 0x0F)
		return;
	size_t at = 5;
	if (p[at] == 0x0C && n >= at + 13) {
		restamp_dt(p + at + 1, now_ms);
		at += 13;
	} else if (p[at] == 0x00) {
		at += 1;
	} else {
		return;
	}
	struct sm_axdr_it it;
	if (at < n && sm_axdr_init(&it, p + at, n - at, 1) == SM_OK)
		restamp_walk(p, &it, now_ms, 0);
}

/* ---------------------------------------------------------------- */
/* sending                                                           */
/* ---------------------------------------------------------------- */

/* The APDU apdu[0..n) in the meter's framing into d->wire. */
static enum sm_err wrap(struct dlms_sim *d, const uint8_t *apdu, size_t n, char framing, size_t *outlen)
{
	switch (framing) {
	case 'h':
		return sm_hdlc_encode_apdu(apdu, n, DLMS_HDLC_SEGMENT, d->wire, sizeof d->wire, outlen);
	case 'r':
		if (n > sizeof d->wire)
			return SM_E_FULL;
		memcpy(d->wire, apdu, n);
		*outlen = n;
		return SM_OK;
	default:
		return sm_mbus_encode_apdu(apdu, n, d->mbus_segment, d->wire, sizeof d->wire, outlen);
	}
}

/* Seal a plain APDU (when there is a key) and frame it; the wire bytes are
 * in d->wire[0..*outlen). */
static enum sm_err seal_and_wrap(struct dlms_sim *d, const uint8_t *plain, size_t n, const uint8_t title[8],
				 uint8_t sc, uint32_t fc, char framing, size_t *outlen)
{
	if (d->g == NULL)
		return wrap(d, plain, n, framing, outlen);
	size_t sn = 0;
	enum sm_err e = sm_gcm_seal(d->g, title, fc, sc, plain, n, d->sealed, sizeof d->sealed, &sn);
	if (e != SM_OK)
		return e;
	return wrap(d, d->sealed, sn, framing, outlen);
}

static const char *framing_name(char f)
{
	return f == 'h' ? "HDLC" : f == 'r' ? "raw APDUs" : "M-Bus";
}


/* The next frame (sim_frame_fn). */
static enum sm_err next_frame(void *ctx, int64_t mono_ms, int64_t wall_ms, const uint8_t **p, size_t *n)
{
	struct dlms_sim *d = ctx;
	enum sm_err e;

	(void)mono_ms;
	*n = 0;
	if (d->as_is) {
		*p = d->raw;
		*n = d->raw_n;
		return SM_OK;
	}
	*p = d->wire;
	if (d->napdus > 0) {
		struct apdu *a = &d->apdus[d->next++ % d->napdus];
		if (a->plain == NULL)
			return wrap(d, a->cipher, a->cipher_n, d->framing, n);
		memcpy(d->plain, a->plain, a->plain_n);
		restamp(d->plain, a->plain_n, wall_ms);
		return seal_and_wrap(d, d->plain, a->plain_n, a->title, a->sc, ++a->fc, d->framing, n);
	}
	size_t pn = 0;
	e = model_apdu(d, wall_ms, &pn);
	if (e == SM_OK)
		e = seal_and_wrap(d, d->plain, pn, d->title, d->sc, d->fc++, d->framing, n);
	return e;
}

int sim_dlms(const struct sim_opts *o)
{
	int status = SM_EXIT_USAGE;
	unsigned char *file = NULL;
	size_t filelen = 0;
	char err[512];
	struct sim_pty pty;
	struct dlms_sim *d = calloc(1, sizeof *d);

	if (d == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return SM_EXIT_NONE;
	}
	d->o = o;
	static const uint8_t title[8] = { 'S', 'I', 'M', 0x12, 0x34, 0x56, 0x78, 0x9A };
	memcpy(d->title, title, 8);
	d->fc = 1;
	d->invoke = 1;
	d->import_wh = 4711042.0;
	d->export_wh = 1234567.0;
	d->mbus_segment = DLMS_MBUS_SEGMENT;
	if (o->has_key && sm_gcm_new(o->key, o->has_auth_key ? o->auth_key : NULL, &d->g) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		status = SM_EXIT_NONE;
		goto out;
	}
	if (o->verbatim && o->fixture == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --verbatim needs --fixture");
		goto out;
	}
	char framing = o->framing ? o->framing : 'm';
	if (o->fixture != NULL) {
		if (sm_read_file(o->fixture, SIM_MAX_FIXTURE, &file, &filelen, err, sizeof err) != 0) {
			sm_cli_log(SM_LOG_ERROR, "%s", err);
			goto out;
		}
		d->raw = file;
		d->raw_n = sim_fixture_bytes(file, filelen);
		if (d->raw_n == 0) {
			sm_cli_log(SM_LOG_ERROR, "%s: empty", o->fixture);
			goto out;
		}
		if (!o->verbatim) {
			if (!load_fixture(d))
				goto out;
			if (!o->framing_set && d->fixture_framing != 0)
				framing = d->fixture_framing;
			if (d->napdus == 0)
				sm_cli_log(SM_LOG_WARNING, "%s: no complete DLMS APDU found: sending its bytes as they are",
					   o->fixture);
			else if (d->apdus[0].plain == NULL)
				sm_cli_log(SM_LOG_INFO,
					   "%s: encrypted, no --key: its APDUs go out unchanged (old time, same "
					   "frame counter)",
					   o->fixture);
		}
	}

	if (sim_pty_open(&pty, o->link) != 0) {
		status = SM_EXIT_NONE;
		goto out;
	}
	d->sc = sim_security(o);
	d->framing = framing;
	d->as_is = o->fixture != NULL && (o->verbatim || d->napdus == 0);
	if (d->as_is)
		sm_cli_log(SM_LOG_INFO, "simulating a dlms meter (%s as they are) on %s%s%s%s, every %g s",
			   o->fixture, pty.pts, o->link ? " (link " : "", o->link ? o->link : "", o->link ? ")" : "",
			   o->period);
	else
		sm_cli_log(SM_LOG_INFO, "simulating a dlms meter (%s, %s) on %s%s%s%s, a frame every %g s",
			   framing_name(framing),
			   d->napdus > 0 && d->apdus[0].plain == NULL ? "encrypted APDUs as captured"
			   : d->g == NULL                             ? "plain"
			   : (d->napdus > 0 ? d->apdus[0].sc : d->sc) & 0x10 ? "encrypted and authenticated"
									     : "encrypted",
			   pty.pts, o->link ? " (link " : "", o->link ? o->link : "", o->link ? ")" : "", o->period);
	status = sim_push(&pty, o, true, "a frame", next_frame, d);
	sim_pty_close(&pty);
out:
	for (size_t i = 0; i < d->napdus; i++) {
		if (d->apdus[i].plain != NULL)
			sm_wipe(d->apdus[i].plain, d->apdus[i].plain_n);
		free(d->apdus[i].plain);
		free(d->apdus[i].cipher);
	}
	sm_gcm_free(d->g);
	sm_wipe(d, sizeof *d);
	free(d);
	free(file);
	return status;
}
