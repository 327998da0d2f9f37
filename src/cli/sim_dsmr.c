/*
 * sim_dsmr.c - a simulated DSMR P1 meter: the fixture's telegrams (restamped,
 * new CRC) or a built-in DSMR 5 meter, pushed every period.  With a key it
 * is a Luxembourg Smarty meter: every telegram goes out inside a DLMS
 * general-glo-ciphering APDU (sm_dsmr_seal_smarty), with a frame counter
 * that grows by one per frame; a fixture of Smarty frames is decrypted
 * with that key first (its telegrams are then restamped and sealed anew).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "dsmr.h"
#include "gcm.h"
#include "sim.h"

#define SIM_MAX_FRAMES 64

struct frame {
	uint8_t *p;
	size_t n;
	size_t cap;
};

/* Split a fixture file into telegrams with the framer (checksums not
 * enforced: a fixture may carry a wrong one on purpose). */
static size_t split_dsmr(const unsigned char *in, size_t n, struct frame *frames, size_t max)
{
	struct sm_dsmr_framer *f = malloc(sizeof *f);
	size_t count = 0, off = 0;
	if (f == NULL)
		return 0;
	sm_dsmr_framer_init(f, true);
	for (int pass = 0; pass < 2 && count < max; pass++) {
		while (count < max) {
			struct sm_frame fr;
			struct sm_diag diag;
			size_t used = 0;
			enum sm_err rc;
			if (pass == 0) {
				if (off >= n)
					break;
				rc = sm_dsmr_framer_feed(f, in + off, n - off, &used, &fr, &diag);
				off += used;
			} else {
				rc = sm_dsmr_framer_flush(f, &fr, &diag);
			}
			if (rc == SM_FRAME) {
				size_t cap = fr.n + 64;
				frames[count].p = malloc(cap);
				if (frames[count].p == NULL)
					break;
				memcpy(frames[count].p, fr.p, fr.n);
				frames[count].n = fr.n;
				frames[count].cap = cap;
				count++;
			} else if (pass == 1 || rc == SM_NEED_MORE) {
				break;
			}
		}
	}
	free(f);
	return count;
}

/* Decrypt a fixture of Smarty frames into its telegrams (the key must be
 * the fixture's).  *title gets the first frame's system title, *fc its
 * frame counter.  Returns the number of telegrams, 0 after logging why. */
static size_t split_smarty(const unsigned char *in, size_t n, struct sm_gcm *g, const char *path,
			   struct frame *frames, size_t max, uint8_t title[8], uint32_t *fc)
{
	struct sm_smarty_framer *f = malloc(sizeof *f);
	uint8_t *plain = malloc(SM_SMARTY_MAX);
	size_t count = 0, off = 0, seen = 0;
	enum sm_err last = SM_OK;
	if (f == NULL || plain == NULL)
		goto out;
	sm_smarty_framer_init(f);
	while (off < n && count < max) {
		struct sm_frame fr, tg;
		struct sm_diag diag;
		struct sm_gcm_info info;
		size_t used = 0;
		enum sm_err rc = sm_smarty_framer_feed(f, in + off, n - off, &used, &fr, &diag);
		off += used;
		if (rc != SM_FRAME) {
			if (rc == SM_NEED_MORE)
				break;
			continue;
		}
		seen++;
		rc = sm_smarty_open(g, fr.p, fr.n, true, plain, SM_SMARTY_MAX, &tg, &info, &diag);
		if (rc != SM_FRAME) {
			last = rc;
			continue;
		}
		if (count == 0) {
			memcpy(title, info.system_title, 8);
			*fc = info.frame_counter;
		}
		size_t cap = tg.n + 64;
		frames[count].p = malloc(cap);
		if (frames[count].p == NULL)
			break;
		memcpy(frames[count].p, tg.p, tg.n);
		frames[count].n = tg.n;
		frames[count].cap = cap;
		count++;
	}
	if (count == 0 && seen > 0)
		sm_cli_log(SM_LOG_ERROR, "%s: %zu Smarty frame(s), none decrypts with this key (%s): check --key and --auth-key",
			   path, seen, sm_strerror(last));
	else if (count == 0)
		sm_cli_log(SM_LOG_ERROR, "%s: no DSMR telegram and no Smarty frame found", path);
out:
	if (plain != NULL)
		sm_wipe(plain, SM_SMARTY_MAX);
	free(plain);
	free(f);
	return count;
}

/* The built-in meter: a DSMR 5 telegram from a model whose load follows a
 * slow daily-ish curve and whose counters integrate it. */
struct model {
	double import_wh[2], export_wh[2], gas_m3;
	int64_t last_ms;
};

static enum sm_err model_telegram(struct model *md, int64_t now_ms, uint8_t *out, size_t cap, size_t *outlen)
{
	struct sm_reading_set *s = malloc(sizeof *s);
	enum sm_err e;
	if (s == NULL)
		return SM_E_NOMEM;
	double t = (double)(now_ms % 86400000) / 1000.0;
	double load = 450.0 + 300.0 * sin(t / 900.0) + 120.0 * sin(t / 37.0);
	double pv = 600.0 * fmax(0.0, sin(t / 1800.0));
	double net = load - pv; /* > 0 import, < 0 export */
	double dt_h = md->last_ms ? (double)(now_ms - md->last_ms) / 3600000.0 : 0.0;
	int tariff = ((now_ms / 60000) % 2) ? 2 : 1;
	md->last_ms = now_ms;
	if (net > 0)
		md->import_wh[tariff - 1] += net * dt_h;
	else
		md->export_wh[tariff - 1] += -net * dt_h;
	md->gas_m3 += 0.0002 * dt_h * 3600.0 / 10.0;

	sm_set_clear(s);
	struct num {
		uint8_t g[5];
		double v;
		int decimals;
		enum sm_unit unit;
	} nums[] = {
		{ { 1, 3, 0, 2, 8 }, 50, 0, SM_UNIT_NONE },
		{ { 1, 0, 1, 8, 1 }, md->import_wh[0], 0, SM_UNIT_WH },
		{ { 1, 0, 1, 8, 2 }, md->import_wh[1], 0, SM_UNIT_WH },
		{ { 1, 0, 2, 8, 1 }, md->export_wh[0], 0, SM_UNIT_WH },
		{ { 1, 0, 2, 8, 2 }, md->export_wh[1], 0, SM_UNIT_WH },
		{ { 0, 0, 96, 14, 0 }, tariff, 0, SM_UNIT_NONE },
		{ { 1, 0, 1, 7, 0 }, net > 0 ? net : 0, 0, SM_UNIT_W },
		{ { 1, 0, 2, 7, 0 }, net < 0 ? -net : 0, 0, SM_UNIT_W },
		{ { 0, 0, 96, 7, 21 }, 4, 0, SM_UNIT_NONE },
		{ { 0, 0, 96, 7, 9 }, 1, 0, SM_UNIT_NONE },
		{ { 1, 0, 32, 32, 0 }, 0, 0, SM_UNIT_NONE },
		{ { 1, 0, 32, 36, 0 }, 0, 0, SM_UNIT_NONE },
		{ { 1, 0, 32, 7, 0 }, 230.0 + 3.0 * sin(t / 50.0), 1, SM_UNIT_V },
		{ { 1, 0, 52, 7, 0 }, 231.0 + 2.0 * sin(t / 70.0), 1, SM_UNIT_V },
		{ { 1, 0, 72, 7, 0 }, 229.0 + 2.5 * sin(t / 90.0), 1, SM_UNIT_V },
		{ { 1, 0, 31, 7, 0 }, fabs(net) / 3.0 / 230.0, 2, SM_UNIT_A },
		{ { 1, 0, 51, 7, 0 }, fabs(net) / 3.0 / 230.0, 2, SM_UNIT_A },
		{ { 1, 0, 71, 7, 0 }, fabs(net) / 3.0 / 230.0, 2, SM_UNIT_A },
		{ { 1, 0, 21, 7, 0 }, net > 0 ? net / 3 : 0, 0, SM_UNIT_W },
		{ { 1, 0, 41, 7, 0 }, net > 0 ? net / 3 : 0, 0, SM_UNIT_W },
		{ { 1, 0, 61, 7, 0 }, net > 0 ? net / 3 : 0, 0, SM_UNIT_W },
		{ { 1, 0, 22, 7, 0 }, net < 0 ? -net / 3 : 0, 0, SM_UNIT_W },
		{ { 1, 0, 42, 7, 0 }, net < 0 ? -net / 3 : 0, 0, SM_UNIT_W },
		{ { 1, 0, 62, 7, 0 }, net < 0 ? -net / 3 : 0, 0, SM_UNIT_W },
		{ { 0, 1, 24, 1, 0 }, 3, 0, SM_UNIT_NONE },
	};
	static const char equipment[] = "4530303434303037333832323436303139";
	static const char gas_id[] = "4730303339303031393336393930363139";

	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		struct sm_obis ob = sm_obis_make5(nums[i].g[0], nums[i].g[1], nums[i].g[2], nums[i].g[3], nums[i].g[4]);
		double scaled = nums[i].v;
		for (int d = 0; d < nums[i].decimals; d++)
			scaled *= 10.0;
		e = sm_set_add_number(s, &ob, (int64_t)llround(scaled), (int8_t)-nums[i].decimals, nums[i].unit,
				      NULL, 0, 0);
		if (e != SM_OK)
			goto out;
		if (i == 0) {
			struct sm_obis id = sm_obis_make5(0, 0, 96, 1, 1);
			e = sm_set_add_text(s, &id, equipment, sizeof equipment - 1, 0);
			if (e != SM_OK)
				goto out;
		}
	}
	{
		struct sm_obis id = sm_obis_make5(0, 1, 96, 1, 0);
		struct sm_obis gas = sm_obis_make5(0, 1, 24, 2, 1);
		e = sm_set_add_text(s, &id, gas_id, sizeof gas_id - 1, 0);
		if (e == SM_OK)
			e = sm_set_add_number(s, &gas, (int64_t)llround(md->gas_m3 * 1000.0), -3, SM_UNIT_M3, NULL, 0,
					      now_ms - now_ms % 300000);
		if (e != SM_OK)
			goto out;
	}
	s->meter_time_ms = now_ms - now_ms % 1000;
	e = sm_dsmr_encode(s, "SIM5\\2SMARTMETER-SIMULATOR", true, out, cap, outlen);
out:
	free(s);
	return e;
}

/* What the meter sends, for next_telegram. */
struct sender {
	const struct frame *frames; /* the fixture's telegrams (none: the model) */
	size_t nframes, next;
	bool verbatim;              /* frames[0] as it is */
	struct model md;
	struct sm_gcm *g;           /* Smarty: seal with it */
	const uint8_t *title;
	uint32_t fc;
	uint8_t sc;
	uint8_t *sealed;            /* SM_SMARTY_MAX + 128 bytes */
	uint8_t buf[SM_DSMR_MAX + 128];
};

/* The next telegram, restamped, or a Smarty frame (sim_frame_fn). */
static enum sm_err next_telegram(void *ctx, int64_t mono_ms, int64_t wall_ms, const uint8_t **p, size_t *n)
{
	struct sender *t = ctx;
	size_t len = 0;

	(void)mono_ms;
	*p = t->buf;
	*n = 0;
	if (t->verbatim) {
		*p = t->frames[0].p;
		*n = t->frames[0].n;
		return SM_OK;
	}
	if (t->nframes == 0) {
		if (model_telegram(&t->md, wall_ms, t->buf, sizeof t->buf - 2, &len) != SM_OK)
			return SM_OK; /* nothing this time */
	} else {
		const struct frame *fr = &t->frames[t->next++ % t->nframes];
		char letter;
		int off = sm_cet_offset(wall_ms, &letter);
		memcpy(t->buf, fr->p, fr->n);
		len = fr->n;
		if (sm_dsmr_restamp(t->buf, len, sizeof t->buf - 2, &len, wall_ms, off, letter) != SM_OK)
			len = fr->n;
	}
	if (len == 0)
		return SM_OK;
	if (len < 2 || t->buf[len - 1] != '\n') {
		t->buf[len++] = '\r';
		t->buf[len++] = '\n';
	}
	if (t->g == NULL) {
		*n = len;
		return SM_OK;
	}
	*p = t->sealed;
	return sm_dsmr_seal_smarty(t->g, t->title, t->fc++, t->sc, t->buf, len, t->sealed, SM_SMARTY_MAX + 128, n);
}

int sim_dsmr(const struct sim_opts *o)
{
	int status = SM_EXIT_USAGE;
	struct frame frames[SIM_MAX_FRAMES];
	size_t nframes = 0;
	unsigned char *file = NULL;
	size_t filelen = 0;
	char err[512];
	struct sim_pty pty;
	struct sm_gcm *g = NULL;
	/* Smarty frames: the fixture's system title and counter, or ours. */
	uint8_t title[8] = { 'S', 'A', 'G', 'Y', 0x00, 0x00, 0x00, 0x01 };
	uint32_t fc = 1;
	uint8_t sc = sim_security(o);
	uint8_t *sealed = NULL;

	memset(frames, 0, sizeof frames);
	if (o->has_key) {
		sealed = malloc(SM_SMARTY_MAX + 128);
		if (sealed == NULL || sm_gcm_new(o->key, o->has_auth_key ? o->auth_key : NULL, &g) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "out of memory");
			status = SM_EXIT_NONE;
			goto out;
		}
	}
	if (o->verbatim && o->fixture == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --verbatim needs --fixture");
		return SM_EXIT_USAGE;
	}
	if (o->fixture != NULL) {
		if (sm_read_file(o->fixture, SIM_MAX_FIXTURE, &file, &filelen, err, sizeof err) != 0) {
			sm_cli_log(SM_LOG_ERROR, "%s", err);
			return SM_EXIT_USAGE;
		}
		if (o->verbatim) {
			frames[0].p = file;
			frames[0].n = filelen;
			frames[0].cap = filelen;
			file = NULL;
			nframes = 1;
		} else {
			nframes = split_dsmr(file, filelen, frames, SIM_MAX_FRAMES);
			if (nframes == 0 && g != NULL && filelen > 0 && file[0] == 0xDB) {
				nframes = split_smarty(file, filelen, g, o->fixture, frames, SIM_MAX_FRAMES, title, &fc);
				if (nframes == 0)
					goto out;
				fc++;
			} else if (nframes == 0) {
				sm_cli_log(SM_LOG_ERROR, "%s: no DSMR telegram found", o->fixture);
				goto out;
			}
		}
	}

	if (sim_pty_open(&pty, o->link) != 0) {
		status = SM_EXIT_NONE;
		goto out;
	}
	sm_cli_log(SM_LOG_INFO, "simulating a %s meter%s on %s%s%s%s, a frame every %g s", o->proto,
		   g == NULL || o->verbatim ? ""
		   : sc & 0x10       ? " (Luxembourg Smarty frames, encrypted and authenticated)"
				     : " (Luxembourg Smarty frames, encrypted)",
		   pty.pts, o->link ? " (link " : "", o->link ? o->link : "", o->link ? ")" : "", o->period);

	struct sender *t = calloc(1, sizeof *t);
	if (t == NULL) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		status = SM_EXIT_NONE;
		sim_pty_close(&pty);
		goto out;
	}
	t->frames = frames;
	t->nframes = nframes;
	t->verbatim = o->verbatim;
	t->md.import_wh[0] = 1234567.0;
	t->md.import_wh[1] = 2345678.0;
	t->md.export_wh[0] = 345678.0;
	t->md.export_wh[1] = 45678.0;
	t->md.gas_m3 = 4711.25;
	t->g = g;
	t->title = title;
	t->fc = fc;
	t->sc = sc;
	t->sealed = sealed;
	status = sim_push(&pty, o, false, "a Smarty frame", next_telegram, t);
	free(t);
	sim_pty_close(&pty);
out:
	for (size_t i = 0; i < nframes; i++)
		free(frames[i].p);
	free(file);
	free(sealed);
	sm_gcm_free(g);
	return status;
}
