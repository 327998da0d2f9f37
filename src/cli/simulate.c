#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"
#include "dsmr.h"
#include "proto.h"

#define SIM_MAX_FIXTURE (1024 * 1024)
#define SIM_MAX_FRAMES 64

static void simulate_help(FILE *f)
{
	fputs("Usage: smartmeter simulate -p PROTOCOL [--fixture FILE] [--link PATH] [--period SECONDS]\n"
	      "                           [--count N] [--verbatim]\n"
	      "Behave like a meter on a pseudo-terminal: push protocols send a frame every period.\n\n"
	      "  -p, --protocol NAME     dsmr\n"
	      "      --fixture FILE      telegrams to send in turn (default: a built-in DSMR 5 meter\n"
	      "                          whose counters advance with a plausible load)\n"
	      "      --link PATH         symlink to the pseudo-terminal (replaced if it is a symlink)\n"
	      "      --period SECONDS    time between frames (default 1; fractions allowed)\n"
	      "      --count N           stop after N frames (default: run until SIGTERM/SIGINT)\n"
	      "      --verbatim          send the fixture file byte for byte as one frame; by default\n"
	      "                          each telegram gets the current time (0-0:1.0.0) and a new CRC\n"
	      "  -h, --help              this text\n"
	      "The pseudo-terminal's path is printed on stderr (\"I! ... on /dev/pts/N\").\n",
	      f);
}

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

/* Write a whole frame to the pty master, giving up after 500 ms: when no
 * reader drains the pty, the kernel buffer fills and the rest is dropped,
 * as a real meter's bytes are lost on an unread line. */
static size_t write_frame(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;
	int64_t until = sm_mono_ms() + 500;
	while (done < n && sm_mono_ms() < until) {
		ssize_t w = write(fd, p + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		poll(&pfd, 1, 20);
	}
	return done;
}

static int make_link(const char *link, const char *target)
{
	struct stat st;
	if (lstat(link, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			sm_cli_log(SM_LOG_ERROR, "--link %s exists and is not a symlink: not replacing it", link);
			return -1;
		}
		unlink(link);
	}
	if (symlink(target, link) != 0) {
		sm_cli_log(SM_LOG_ERROR, "--link %s: %s", link, strerror(errno));
		return -1;
	}
	return 0;
}

int sm_cmd_simulate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "protocol", required_argument, NULL, 'p' },
		{ "fixture", required_argument, NULL, 'F' },
		{ "link", required_argument, NULL, 'l' },
		{ "period", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'n' },
		{ "verbatim", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *proto_name = NULL, *fixture = NULL, *link = NULL;
	double period = 1.0;
	long long count = -1;
	bool verbatim = false;
	int c, status = SM_EXIT_USAGE, master = -1, slave = -1, sfd = -1;
	struct frame frames[SIM_MAX_FRAMES];
	size_t nframes = 0;
	unsigned char *file = NULL;
	size_t filelen = 0;
	char err[512], *end;
	bool linked = false;

	memset(frames, 0, sizeof frames);
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			proto_name = optarg;
			break;
		case 'F':
			fixture = optarg;
			break;
		case 'l':
			link = optarg;
			break;
		case 'P':
			errno = 0;
			period = strtod(optarg, &end);
			if (errno || *end || !(period > 0.0) || period > 86400.0) {
				sm_cli_log(SM_LOG_ERROR, "--period: expected seconds > 0, got \"%s\"", optarg);
				return SM_EXIT_USAGE;
			}
			break;
		case 'n':
			errno = 0;
			count = strtoll(optarg, &end, 10);
			if (errno || *end || count < 1) {
				sm_cli_log(SM_LOG_ERROR, "--count: expected a whole number >= 1, got \"%s\"", optarg);
				return SM_EXIT_USAGE;
			}
			break;
		case 'v':
			verbatim = true;
			break;
		case 'h':
			simulate_help(stdout);
			return SM_EXIT_OK;
		default:
			simulate_help(stderr);
			return SM_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sm_cli_log(SM_LOG_ERROR, "simulate: unexpected argument \"%s\"", argv[optind]);
		return SM_EXIT_USAGE;
	}
	if (proto_name == NULL || sm_proto_find(proto_name) == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate needs -p PROTOCOL (one of: %s)", sm_proto_names());
		return SM_EXIT_USAGE;
	}
	if (strcmp(sm_proto_find(proto_name)->name, "dsmr") != 0) {
		sm_cli_log(SM_LOG_ERROR, "simulate: protocol %s cannot be simulated by this build", proto_name);
		return SM_EXIT_USAGE;
	}
	if (verbatim && fixture == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --verbatim needs --fixture");
		return SM_EXIT_USAGE;
	}
	if (fixture != NULL) {
		if (sm_read_file(fixture, SIM_MAX_FIXTURE, &file, &filelen, err, sizeof err) != 0) {
			sm_cli_log(SM_LOG_ERROR, "%s", err);
			return SM_EXIT_USAGE;
		}
		if (verbatim) {
			frames[0].p = file;
			frames[0].n = filelen;
			frames[0].cap = filelen;
			file = NULL;
			nframes = 1;
		} else {
			nframes = split_dsmr(file, filelen, frames, SIM_MAX_FRAMES);
			if (nframes == 0) {
				sm_cli_log(SM_LOG_ERROR, "%s: no DSMR telegram found", fixture);
				goto out;
			}
		}
	}

	struct termios tio;
	if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
		sm_cli_log(SM_LOG_ERROR, "openpty: %s", strerror(errno));
		status = SM_EXIT_NONE;
		goto out;
	}
	/* Raw line discipline: the bytes arrive as a meter sends them (no CR/LF
	 * translation, no echo).  We keep the slave open so the master never
	 * sees a hangup between two readers. */
	if (tcgetattr(slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(slave, TCSANOW, &tio);
	}
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	const char *pts = ttyname(slave);
	if (pts == NULL) {
		sm_cli_log(SM_LOG_ERROR, "ttyname: %s", strerror(errno));
		status = SM_EXIT_NONE;
		goto out;
	}
	if (link != NULL) {
		if (make_link(link, pts) != 0)
			goto out;
		linked = true;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	sm_cli_log(SM_LOG_INFO, "simulating a %s meter on %s%s%s%s, a frame every %g s", proto_name, pts,
		   link ? " (link " : "", link ? link : "", link ? ")" : "", period);

	struct model md;
	memset(&md, 0, sizeof md);
	md.import_wh[0] = 1234567.0;
	md.import_wh[1] = 2345678.0;
	md.export_wh[0] = 345678.0;
	md.export_wh[1] = 45678.0;
	md.gas_m3 = 4711.25;
	size_t next = 0;
	long long sent = 0;
	int64_t period_ms = (int64_t)llround(period * 1000.0);
	if (period_ms < 1)
		period_ms = 1;
	int64_t due = sm_mono_ms();
	status = SM_EXIT_OK;
	for (;;) {
		int64_t now = sm_mono_ms();
		if (now >= due) {
			uint8_t buf[SM_DSMR_MAX + 128];
			size_t len = 0;
			if (nframes == 0) {
				if (model_telegram(&md, sm_now_ms(), buf, sizeof buf - 2, &len) != SM_OK)
					len = 0;
			} else if (verbatim) {
				write_frame(master, frames[0].p, frames[0].n);
			} else {
				struct frame *fr = &frames[next++ % nframes];
				char letter;
				int64_t wall = sm_now_ms();
				int off = sm_cet_offset(wall, &letter);
				memcpy(buf, fr->p, fr->n);
				len = fr->n;
				if (sm_dsmr_restamp(buf, len, sizeof buf - 2, &len, wall, off, letter) != SM_OK)
					len = fr->n;
			}
			if (len > 0) {
				if (len < 2 || buf[len - 1] != '\n') {
					buf[len++] = '\r';
					buf[len++] = '\n';
				}
				write_frame(master, buf, len);
			}
			/* Drain what a half-duplex reader might send (nothing for push
			 * meters) so the pty never fills in that direction. */
			uint8_t junk[256];
			while (read(master, junk, sizeof junk) > 0) {
			}
			sent++;
			if (count > 0 && sent >= count)
				break;
			due += period_ms;
			if (due < now)
				due = now + period_ms;
		}
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		int64_t wait = due - sm_mono_ms();
		if (wait < 0)
			wait = 0;
		if (poll(&pfd, sfd >= 0 ? 1 : 0, (int)(wait > 1000 ? 1000 : wait)) > 0) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				sm_cli_log(SM_LOG_INFO, "%s received, stopping", strsignal((int)si.ssi_signo));
				break;
			}
		}
	}
	/* Give a reader the chance to take the last frame before the pty goes:
	 * wait (at most 2 s) until nothing is left unread on the slave side.
	 * (tcdrain on a pty master would wait forever without a reader.) */
	for (int64_t until = sm_mono_ms() + 2000; sm_mono_ms() < until;) {
		int left = 0;
		if (ioctl(slave, FIONREAD, &left) != 0 || left == 0)
			break;
		struct pollfd none = { .fd = -1 };
		poll(&none, 0, 10);
	}
out:
	if (linked)
		unlink(link);
	if (sfd >= 0)
		close(sfd);
	if (slave >= 0)
		close(slave);
	if (master >= 0)
		close(master);
	for (size_t i = 0; i < nframes; i++)
		free(frames[i].p);
	free(file);
	return status;
}
