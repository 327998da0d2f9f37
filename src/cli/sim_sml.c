/*
 * sim_sml.c - a simulated SML push meter (German eHZ / "moderne
 * Messeinrichtung"): an SML 1.04 file every period, built by our own
 * encoder (sm_sml_encode: Open.Res, GetList.Res, Close.Res, message CRCs,
 * escaping, fill bytes, file CRC-16/X.25).
 *
 * The built-in meter: energy import and export (1-0:1.8.0, 2.8.0, in
 * 0.1 Wh as most meters send them), signed net power (1-0:16.7.0, negative
 * while the solar panels of the simulated house export) and its phases
 * (36/56/76.7.0), the voltages (32/52/72.7.0) and the server id
 * (1-0:96.1.0, an octet string).  The counters advance with the power.
 *
 * A fixture (SML files in hex, one a line, '#' comments; or raw bytes) is
 * run through the SML framer and decoder; each file's readings are encoded
 * anew in turn, with their times set to now (a KERMIT file keeps its
 * KERMIT CRC).  With --verbatim, or when no file of the fixture passes the
 * framer, its bytes go out as they are.
 *
 * The meter logs the speed the reader set on the pty whenever it changes
 * ("the reader's line is at 9600 Bd").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "cursor.h"
#include "sim.h"
#include "sml.h"

#define SML_MAX_FILES 16

struct sml_file {
	struct sm_reading_set *set; /* the file's readings (owned) */
	bool kermit;                /* the fixture's file had a KERMIT CRC */
};

struct sml_sim {
	/* the built-in meter */
	double import_wh, export_wh;
	int64_t last_ms;
	struct sm_reading_set set; /* scratch for the model */
	/* fixture */
	struct sml_file files[SML_MAX_FILES];
	size_t nfiles;
	uint8_t *raw;       /* the fixture's bytes (verbatim, or nothing passed the framer) */
	size_t raw_n;
	uint8_t wire[SM_SML_MAX];
	struct sm_sml_framer framer;
	bool as_is;         /* send raw as it is */
	size_t next;        /* the fixture's next file */
};

/* The built-in meter's server id: type 0A, 01, manufacturer "SML", serial. */
static const uint8_t server_id[10] = { 0x0A, 0x01, 'S', 'M', 'L', 0x00, 0x01, 0xE2, 0x40, 0x31 };

/* ---------------------------------------------------------------- */
/* the built-in meter                                                */
/* ---------------------------------------------------------------- */

/* The model's readings at now_ms (wall clock) into d->set. */
static enum sm_err model_set(struct sml_sim *d, int64_t now_ms)
{
	struct sm_reading_set *s = &d->set;
	double t = (double)(now_ms % 86400000) / 1000.0;
	/* a household load, and solar panels under passing clouds: the net
	 * power crosses zero every few seconds */
	double load = 480.0 + 140.0 * sin(t / 9.0) + 60.0 * sin(t / 2.3);
	double pv = 1100.0 * (0.5 + 0.5 * sin(t / 1.3));
	double net = load - pv;
	double dt_h = d->last_ms ? (double)(now_ms - d->last_ms) / 3600000.0 : 0.0;
	d->last_ms = now_ms;
	if (net > 0)
		d->import_wh += net * dt_h;
	else
		d->export_wh += -net * dt_h;
	double share[3] = { 0.41, 0.33, 0.26 };
	struct num {
		uint8_t c;
		double v;
		int decimals;
		enum sm_unit unit;
	} nums[] = {
		{ 1, d->import_wh, 1, SM_UNIT_WH },
		{ 2, d->export_wh, 1, SM_UNIT_WH },
		{ 16, net, 0, SM_UNIT_W },
		{ 36, net * share[0], 0, SM_UNIT_W },
		{ 56, net * share[1], 0, SM_UNIT_W },
		{ 76, net * share[2], 0, SM_UNIT_W },
		{ 32, 230.4 + 2.0 * sin(t / 40.0), 1, SM_UNIT_V },
		{ 52, 231.1 + 1.5 * sin(t / 55.0), 1, SM_UNIT_V },
		{ 72, 229.8 + 2.5 * sin(t / 65.0), 1, SM_UNIT_V },
	};
	enum sm_err e = SM_OK;
	sm_set_clear(s);
	for (size_t i = 0; i < sizeof nums / sizeof nums[0] && e == SM_OK; i++) {
		uint8_t dgrp = nums[i].unit == SM_UNIT_WH ? 8 : 7;
		struct sm_obis ob = sm_obis_make(1, 0, nums[i].c, dgrp, 0, 255);
		double scaled = nums[i].v;
		for (int k = 0; k < nums[i].decimals; k++)
			scaled *= 10.0;
		e = sm_set_add_number(s, &ob, (int64_t)llround(scaled), (int8_t)-nums[i].decimals, nums[i].unit,
				      NULL, 0, 0);
	}
	if (e == SM_OK) {
		struct sm_obis id = sm_obis_make(1, 0, 96, 1, 0, 255);
		e = sm_set_add_text(s, &id, (const char *)server_id, sizeof server_id, 0);
	}
	if (e == SM_OK)
		sm_set_finish(s);
	return e;
}

/* ---------------------------------------------------------------- */
/* fixtures                                                          */
/* ---------------------------------------------------------------- */


/* The readings of s copied into out; with drop_other, numbers of a unit
 * we do not normalise (OTHER) are left out.  Returns how many were left
 * out, or -1 when out is full. */
static int copy_set(const struct sm_reading_set *s, struct sm_reading_set *out, bool drop_other)
{
	int dropped = 0;
	sm_set_clear(out);
	out->meter_time_ms = s->meter_time_ms;
	for (size_t i = 0; i < s->n; i++) {
		const struct sm_reading *r = &s->r[i];
		enum sm_err e;
		if (r->is_text) {
			e = sm_set_add_text(out, &r->obis, sm_reading_text(s, r), r->text_len, r->time_ms);
		} else if (r->unit == SM_UNIT_OTHER && drop_other) {
			dropped++;
			continue;
		} else {
			e = sm_set_add_number(out, &r->obis, r->raw, r->scale, r->unit, r->unit_text,
					      strnlen(r->unit_text, sizeof r->unit_text), r->time_ms);
		}
		if (e != SM_OK)
			return -1;
	}
	sm_set_finish(out);
	return dropped;
}

/* Keep the readings of one verified file of the fixture.  false after
 * logging a fatal problem. */
static bool keep_file(struct sml_sim *d, const char *name, const struct sm_frame *fr, bool kermit)
{
	if (d->nfiles >= SML_MAX_FILES)
		return true;
	struct sm_reading_set *s = malloc(sizeof *s);
	struct sm_reading_set *t = malloc(sizeof *t);
	if (s == NULL || t == NULL) {
		free(s);
		free(t);
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return false;
	}
	struct sm_diag diag = { { 0 } };
	unsigned bad = 0, bad_crc = 0;
	enum sm_err rc = sm_sml_decode(fr, s, &bad, &bad_crc, &diag);
	if (rc != SM_READINGS) {
		sm_cli_log(SM_LOG_WARNING, "%s: file %zu gives no readings (%s): skipped", name, d->nfiles + 1,
			   diag.msg[0] ? diag.msg : sm_strerror(rc));
		free(s);
		free(t);
		return true;
	}
	/* Units the decoder kept by their symbol or code go out with that code;
	 * should the encoder refuse one, those readings are left out. */
	int dropped = copy_set(s, t, false);
	size_t len = 0;
	if (dropped == 0 && sm_sml_encode(t, NULL, d->wire, sizeof d->wire, &len) == SM_E_RANGE)
		dropped = copy_set(s, t, true);
	free(s);
	if (dropped < 0) {
		sm_cli_log(SM_LOG_ERROR, "%s: file %zu: too many readings", name, d->nfiles + 1);
		free(t);
		return false;
	}
	if (dropped > 0)
		sm_cli_log(SM_LOG_WARNING, "%s: file %zu: %d reading(s) with units the encoder has no code for are not sent",
			   name, d->nfiles + 1, dropped);
	d->files[d->nfiles].set = t;
	d->files[d->nfiles].kermit = kermit;
	d->nfiles++;
	return true;
}

/* Run the fixture's bytes through the framer and decoder.  false after
 * logging a fatal problem. */
static bool load_fixture(struct sml_sim *d, const char *name)
{
	sm_sml_framer_init(&d->framer);
	size_t off = 0;
	while (off < d->raw_n) {
		struct sm_frame fr;
		struct sm_diag diag = { { 0 } };
		size_t used = 0;
		enum sm_err rc = sm_sml_framer_feed(&d->framer, d->raw + off, d->raw_n - off, &used, &fr, &diag);
		off += used;
		if (rc == SM_FRAME) {
			if (!keep_file(d, name, &fr, d->framer.kermit_last))
				return false;
		} else if (rc < 0) {
			sm_cli_log(SM_LOG_WARNING, "%s: a file is dropped: %s", name,
				   diag.msg[0] ? diag.msg : sm_strerror(rc));
		}
		if (used == 0 && rc != SM_FRAME)
			break;
	}
	return true;
}

/* Every time of a fixture's set moved to now (whole seconds). */
static void restamp(struct sm_reading_set *s, int64_t now_ms)
{
	int64_t now = now_ms - now_ms % 1000;
	if (s->meter_time_ms != 0)
		s->meter_time_ms = now;
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].time_ms != 0)
			s->r[i].time_ms = now;
}

/* The next SML file (sim_frame_fn). */
static enum sm_err next_file(void *ctx, int64_t mono_ms, int64_t wall_ms, const uint8_t **p, size_t *n)
{
	struct sml_sim *d = ctx;
	struct sm_sml_enc_opts eo;
	enum sm_err e;

	if (d->as_is) {
		*p = d->raw;
		*n = d->raw_n;
		return SM_OK;
	}
	memset(&eo, 0, sizeof eo);
	if (d->nfiles > 0) {
		struct sml_file *f = &d->files[d->next++ % d->nfiles];
		eo.kermit = f->kermit;
		restamp(f->set, wall_ms);
		e = sm_sml_encode(f->set, &eo, d->wire, sizeof d->wire, n);
	} else {
		eo.server_id = server_id;
		eo.server_id_len = sizeof server_id;
		eo.sec_index = (uint32_t)(mono_ms / 1000);
		e = model_set(d, wall_ms);
		if (e == SM_OK)
			e = sm_sml_encode(&d->set, &eo, d->wire, sizeof d->wire, n);
	}
	*p = d->wire;
	return e;
}

int sim_sml(const struct sim_opts *o)
{
	int status = SM_EXIT_USAGE;
	unsigned char *file = NULL;
	size_t filelen = 0;
	char err[512];
	struct sim_pty pty;
	struct sml_sim *d = calloc(1, sizeof *d);

	if (d == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		return SM_EXIT_NONE;
	}
	d->import_wh = 12345678.9;
	d->export_wh = 2345678.9;
	if (o->verbatim && o->fixture == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --verbatim needs --fixture");
		goto out;
	}
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
			if (!load_fixture(d, o->fixture)) {
				status = SM_EXIT_NONE;
				goto out;
			}
			if (d->nfiles == 0)
				sm_cli_log(SM_LOG_WARNING, "%s: no SML file with readings found: sending its bytes as they are",
					   o->fixture);
		}
	}

	if (sim_pty_open(&pty, o->link) != 0) {
		status = SM_EXIT_NONE;
		goto out;
	}
	d->as_is = o->fixture != NULL && (o->verbatim || d->nfiles == 0);
	sm_cli_log(SM_LOG_INFO, "simulating an sml meter (%s) on %s%s%s%s, a file every %g s",
		   d->as_is ? "the fixture's bytes as they are" : o->fixture != NULL ? "the fixture's readings" : "built-in",
		   pty.pts, o->link ? " (link " : "", o->link ? o->link : "", o->link ? ")" : "", o->period);
	status = sim_push(&pty, o, true, "an SML file", next_file, d);
	sim_pty_close(&pty);
out:
	for (size_t i = 0; i < d->nfiles; i++)
		free(d->files[i].set);
	free(d);
	free(file);
	return status;
}
