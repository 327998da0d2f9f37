/*
 * simulate.c - `smartmeter simulate`: the command line and the
 * pseudo-terminal; the meters themselves are in sim_dsmr.c, sim_iec.c,
 * sim_dlms.c, sim_sml.c and sim_modbus.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "cursor.h"
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"
#include "gcm.h"
#include "modbus_map.h"
#include "proto.h"
#include "sim.h"

static void simulate_help(FILE *f)
{
	fputs("Usage: smartmeter simulate -p PROTOCOL [--fixture FILE] [--link PATH] [--period SECONDS]\n"
	      "                           [--count N] [--verbatim]\n"
	      "       smartmeter simulate -p iec62056-21 [--fixture FILE] [--mode A|B|C|D] [--address ADDR]\n"
	      "                           [--meter ADDR[=FILE]]... [--baudrate BAUD] [--echo] [--pace]\n"
	      "                           [--link PATH] [--period SECONDS] [--count N] [--verbatim]\n"
	      "       smartmeter simulate -p dlms [--key HEX|--key-file PATH] [--auth-key HEX]\n"
	      "                           [--security 20|21|30|31] [--framing mbus|hdlc|raw]\n"
	      "                           [--layout flat|structs] [--fixture FILE] [--link PATH]\n"
	      "                           [--period SECONDS] [--count N] [--verbatim]\n"
	      "       smartmeter simulate -p dsmr --key HEX|--key-file PATH [--auth-key HEX]\n"
	      "                           [--security 20|21|30|31] [...]\n"
	      "       smartmeter simulate -p modbus [--meter ID=MODEL[:FAULT...]]... [--values FILE]\n"
	      "                           [--link PATH | --listen HOST:PORT [--rtu-over-tcp]]\n"
	      "                           [--pace] [--baudrate BAUD] [--parity none|even|odd]\n"
	      "                           [--proc-ms MS] [--log-requests FILE] [--count N]\n"
	      "Behave like a meter on a pseudo-terminal: push protocols send a frame every period;\n"
	      "an IEC 62056-21 meter in mode A, B or C answers sign-on requests; Modbus slaves\n"
	      "answer polls from register images.\n\n"
	      "  -p, --protocol NAME     dsmr, iec62056-21, dlms, sml or modbus\n"
	      "      --fixture FILE      dsmr: telegrams to send in turn (default: a built-in DSMR 5\n"
	      "                          meter whose counters advance with a plausible load);\n"
	      "                          iec62056-21: a readout whose identification and data lines\n"
	      "                          are served (default: a built-in meter);\n"
	      "                          dlms: frames in hex, one a line (as captured: M-Bus, HDLC\n"
	      "                          or raw APDUs), or raw bytes; their APDUs are sent with the\n"
	      "                          current time (needs --key for encrypted ones, else they go\n"
	      "                          out as they are) in the --framing given (default: the\n"
	      "                          fixture's); default: a built-in Austrian-style meter;\n"
	      "                          sml: SML files in hex, one a line, or raw bytes; each\n"
	      "                          file's readings are sent in turn in SML files built anew\n"
	      "                          with the current time; default: a built-in German meter\n"
	      "                          (energy import and export, signed net power and its\n"
	      "                          phases, voltages, server id)\n"
	      "      --link PATH         symlink to the pseudo-terminal (replaced if it is a symlink)\n"
	      "      --period SECONDS    time between frames of a push meter (default 1; fractions\n"
	      "                          allowed)\n"
	      "      --count N           stop after N frames or readouts (modbus: requests; default:\n"
	      "                          run until SIGTERM/SIGINT)\n"
	      "      --verbatim          dsmr: send the fixture file byte for byte as one frame (by\n"
	      "                          default each telegram gets the current time (0-0:1.0.0) and\n"
	      "                          a new CRC); iec62056-21: serve the fixture's data message as\n"
	      "                          captured (by default it is encoded anew with a correct BCC);\n"
	      "                          dlms, sml: send the fixture's bytes as they are\n"
	      "IEC 62056-21:\n"
	      "      --mode MODE         A (readout at 300 Bd), B (switch without ACK), C (ACK and\n"
	      "                          switch; the default) or D (push every period)\n"
	      "      --address ADDR      answer \"/?ADDR!\" as well as \"/?!\"; silent for others\n"
	      "      --meter ADDR[=FILE] one meter of a simulated RS485 bus (repeatable, up to 16):\n"
	      "                          it answers \"/?ADDR!\" with FILE's readout (default: the\n"
	      "                          --fixture, else the built-in meter); \"/?!\" is answered\n"
	      "                          by a bus of one meter or by the meter \"=FILE\" (no address)\n"
	      "      --baudrate BAUD     modes B, C: the speed offered (default: the fixture's, else\n"
	      "                          9600); mode D: the push speed (default 9600)\n"
	      "      --echo              echo every byte the reader sends, as a half-duplex optical\n"
	      "                          head does\n"
	      "      --pace              send at the line's real character rate (10 bits a character:\n"
	      "                          a readout at 300 Bd takes seconds), not all at once\n"
	      "dlms, and dsmr as a Luxembourg Smarty meter:\n"
	      "      --key HEX           encrypt with this AES-128 key (32 hex digits): DLMS\n"
	      "                          general-glo-ciphering; dsmr: Smarty frames (the telegram\n"
	      "                          inside a 0xDB APDU); dlms without a key: plain APDUs\n"
	      "      --key-file PATH     the key from a file (as KeyFile)\n"
	      "      --auth-key HEX      authentication key: frames carry a GCM tag (security 0x30)\n"
	      "      --security SC       security control: 20 or 21 (encrypted, no tag; the default\n"
	      "                          without --auth-key), 30 or 31 (encrypted and\n"
	      "                          authenticated; the default with --auth-key)\n"
	      "dlms:\n"
	      "      --framing FRAMING   mbus (default: M-Bus long frames 53 FF, segments of 245\n"
	      "                          bytes, as Austrian meters send them), hdlc (HDLC UI frames\n"
	      "                          with LLC header, segments of 200 bytes) or raw (APDUs\n"
	      "                          back to back)\n"
	      "      --layout LAYOUT     the built-in meter's body: flat (EVN/Sagemcom: OBIS, value,\n"
	      "                          scaler and unit in one structure; the default) or structs\n"
	      "                          (Kaifa: a structure per reading)\n"
	      "modbus (a bus of Modbus RTU slaves, or a Modbus TCP server):\n"
	      "      --meter ID=MODEL[:FAULT[:FAULT]]\n"
	      "                          a slave (repeatable; default 1=sdm630): unit ID 1..247 (or a\n"
	      "                          range FIRST-LAST) answering from a register image of the\n"
	      "                          built-in map MODEL (see smartmeter(1) for the list) with\n"
	      "                          plausible values: voltages around 230 V, currents of a few A,\n"
	      "                          signed powers, power factors below 1, 50 Hz, energies of some\n"
	      "                          MWh; each exact in its register's encoding and always the\n"
	      "                          same for a unit id and register.  Requests beyond the model's\n"
	      "                          limits (more registers than it reads at once, an odd start or\n"
	      "                          count where it needs even ones) get exception 3, addresses\n"
	      "                          outside its map exception 2, other functions exception 1;\n"
	      "                          unknown unit ids and bad CRCs no answer.  FAULTs:\n"
	      "                            late=MS  answer MS milliseconds late\n"
	      "                            crc      every 2nd answer with a broken CRC (Modbus TCP: a\n"
	      "                                     wrong transaction id)\n"
	      "                            busy     every 2nd request answered with exception 6\n"
	      "                            garbage  every 2nd answer replaced by random bytes\n"
	      "                            dead     listed but silent\n"
	      "      --values FILE       write the register images' values as JSON lines\n"
	      "                          ({\"slave\":1,\"name\":\"voltage_l1\",\"unit\":\"V\",\"value\":230.1})\n"
	      "                          before serving (\"-\": stdout)\n"
	      "      --listen HOST:PORT  a Modbus TCP server on that address instead of a pty (one\n"
	      "                          connection at a time; [::1]:PORT for IPv6)\n"
	      "      --rtu-over-tcp      with --listen: RTU frames over the TCP connection (a serial\n"
	      "                          bridge)\n"
	      "      --pace              emulate the bus time: answer after (request + answer bytes) x\n"
	      "                          character time + 2 x t3.5 + the processing time\n"
	      "      --baudrate BAUD     the bus speed --pace emulates (default 9600)\n"
	      "      --parity PARITY     none (default), even or odd: 10 or 11 bits a character\n"
	      "      --proc-ms MS        the slave's processing time with --pace (default 10)\n"
	      "      --log-requests FILE one line per request received, flushed per line\n"
	      "                          (\"-\": stdout): MONO_MS SLAVE FC ADDR COUNT OUTCOME, OUTCOME\n"
	      "                          one of ok, exc1, exc2, exc3, exc6, silent, crc, late, garbage\n"
	      "                          (MONO_MS: CLOCK_MONOTONIC milliseconds)\n"
	      "  -h, --help              this text\n"
	      "The pseudo-terminal's path is printed on stderr (\"I! ... on /dev/pts/N\").\n"
	      "IEC 62056-21 meters log the speed the reader set for each step, e.g.\n"
	      "  I! meter \"42\": sign-on at 300 Bd\n"
	      "  I! meter \"42\": readout at 9600 Bd, 316 bytes\n"
	      "and stay silent when it is wrong (a sign-on not at 300 Bd, a readout not at the\n"
	      "agreed speed).  A dlms meter logs the speed the reader set whenever it changes\n"
	      "(\"I! the reader's line is at 2400 Bd\").  Modbus slaves print \"I! served N requests\"\n"
	      "when they stop.  See smartmeter(1).\n",
	      f);
}

int sim_pty_open(struct sim_pty *p, const char *link)
{
	struct termios tio;
	memset(p, 0, sizeof *p);
	p->master = p->slave = p->sfd = -1;
	p->link = link;
	if (openpty(&p->master, &p->slave, NULL, NULL, NULL) != 0) {
		sm_cli_log(SM_LOG_ERROR, "openpty: %s", strerror(errno));
		return -1;
	}
	/* Raw line discipline: the bytes arrive as a meter sends them (no CR/LF
	 * translation, no echo).  We keep the slave open so the master never
	 * sees a hangup between two readers. */
	if (tcgetattr(p->slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(p->slave, TCSANOW, &tio);
	}
	fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
	p->pts = ttyname(p->slave);
	if (p->pts == NULL) {
		sm_cli_log(SM_LOG_ERROR, "ttyname: %s", strerror(errno));
		goto fail;
	}
	if (link != NULL) {
		struct stat st;
		if (lstat(link, &st) == 0) {
			if (!S_ISLNK(st.st_mode)) {
				sm_cli_log(SM_LOG_ERROR, "--link %s exists and is not a symlink: not replacing it",
					   link);
				goto fail;
			}
			unlink(link);
		}
		if (symlink(p->pts, link) != 0) {
			sm_cli_log(SM_LOG_ERROR, "--link %s: %s", link, strerror(errno));
			goto fail;
		}
		p->linked = true;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	p->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	return 0;
fail:
	close(p->slave);
	close(p->master);
	p->slave = p->master = -1;
	return -1;
}

void sim_pty_close(struct sim_pty *p)
{
	/* Give a reader the chance to take the last frame before the pty goes:
	 * wait (at most 2 s) until nothing is left unread on the slave side,
	 * seen twice 20 ms apart, since the kernel moves what the master
	 * wrote to the slave side a little later (a work queue).  (tcdrain
	 * on a pty master would wait forever without a reader.) */
	int empty = 0;
	for (int64_t until = sm_mono_ms() + 2000; p->slave >= 0 && sm_mono_ms() < until;) {
		int left = 0;
		if (ioctl(p->slave, FIONREAD, &left) != 0)
			break;
		empty = left == 0 ? empty + 1 : 0;
		if (empty >= 2)
			break;
		struct pollfd none = { .fd = -1 };
		poll(&none, 0, left == 0 ? 20 : 10);
	}
	if (p->linked)
		unlink(p->link);
	if (p->sfd >= 0)
		close(p->sfd);
	if (p->slave >= 0)
		close(p->slave);
	if (p->master >= 0)
		close(p->master);
	p->sfd = p->slave = p->master = -1;
	p->linked = false;
}

int sim_push(struct sim_pty *pty, const struct sim_opts *o, bool report_baud, const char *what,
	     sim_frame_fn frame, void *ctx)
{
	int64_t period_ms = (int64_t)llround(o->period * 1000.0);
	if (period_ms < 1)
		period_ms = 1;
	int64_t due = sm_mono_ms();
	long long sent = 0;
	int last_baud = -1;

	for (;;) {
		int64_t now = sm_mono_ms();
		if (report_baud) {
			int baud = sim_reader_baud(pty->master);
			if (baud != last_baud && baud > 0) {
				sm_cli_log(SM_LOG_INFO, "the reader's line is at %d Bd", baud);
				last_baud = baud;
			}
		}
		if (now >= due) {
			const uint8_t *p = NULL;
			size_t n = 0;
			enum sm_err e = frame(ctx, now, sm_now_ms(), &p, &n);
			if (e != SM_OK)
				sm_cli_log(SM_LOG_ERROR, "cannot build %s: %s", what, sm_strerror(e));
			else if (n > 0)
				sim_write(pty->master, p, n);
			/* drop what a half-duplex reader might send (nothing for
			 * push meters), so the pty never fills in that direction */
			uint8_t junk[256];
			while (read(pty->master, junk, sizeof junk) > 0) {
			}
			sent++;
			if (o->count > 0 && sent >= o->count)
				break;
			due += period_ms;
			if (due < now)
				due = now + period_ms;
		}
		/* with report_baud, wake up at least every 200 ms to see the
		 * reader's speed */
		int64_t until = report_baud && due > now + 200 ? now + 200 : due;
		if (sim_wait(pty, until, false) == SIM_STOP)
			break;
	}
	return SM_EXIT_OK;
}

enum sim_wake sim_wait(struct sim_pty *p, int64_t until_ms, bool input)
{
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = p->sfd, .events = POLLIN },
			{ .fd = input ? p->master : -1, .events = POLLIN },
		};
		int64_t wait = until_ms - sm_mono_ms();
		if (wait < 0)
			wait = 0;
		int r = poll(pfd, 2, (int)(wait > 1000 ? 1000 : wait));
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(p->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				sm_cli_log(SM_LOG_INFO, "%s received, stopping", strsignal((int)si.ssi_signo));
				return SIM_STOP;
			}
		}
		if (r > 0 && (pfd[1].revents & POLLIN))
			return SIM_INPUT;
		if (sm_mono_ms() >= until_ms)
			return SIM_TIME;
	}
}

/* A fixture file as bytes: hex text (one frame a line, '#' comments,
 * blanks ignored) when it is nothing but that, else the raw bytes.  In
 * place; returns the byte count. */
size_t sim_fixture_bytes(unsigned char *p, size_t n)
{
	bool hex = true;
	size_t digits = 0;
	for (size_t i = 0; i < n && hex; i++) {
		unsigned char c = p[i];
		if (c == '#') {
			while (i < n && p[i] != '\n')
				i++;
		} else if (sm_hexval(c) >= 0) {
			digits++;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			hex = false;
		}
	}
	if (!hex || digits == 0 || digits % 2 != 0)
		return n;
	size_t o = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c == '#') {
			while (i < n && p[i] != '\n')
				i++;
			continue;
		}
		int v = sm_hexval(c);
		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			p[o++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return o;
}

int sim_reader_baud(int master)
{
	static const struct {
		speed_t code;
		int baud;
	} speeds[] = {
		{ B300, 300 },       { B600, 600 },       { B1200, 1200 },     { B2400, 2400 },
		{ B4800, 4800 },     { B9600, 9600 },     { B19200, 19200 },   { B38400, 38400 },
		{ B57600, 57600 },   { B115200, 115200 }, { B230400, 230400 }, { B460800, 460800 },
		{ B921600, 921600 },
	};
	struct termios t;
	if (tcgetattr(master, &t) != 0)
		return 0;
	speed_t sp = cfgetispeed(&t);
	if (sp == B0)
		sp = cfgetospeed(&t);
	for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++)
		if (speeds[i].code == sp)
			return speeds[i].baud;
	return 0;
}

uint8_t sim_security(const struct sim_opts *o)
{
	if (o->security != 0)
		return o->security;
	return o->has_auth_key ? 0x30 : 0x20;
}

/* --key, --key-file, --auth-key: checked as the meter options are (the
 * messages never hold key material).  0, or -1 after logging why. */
static int key_opt(const char *flag, const char *arg, uint8_t out[SM_KEY_LEN])
{
	struct sm_config c;
	struct sm_meter_cfg *m;
	char err[512];
	int rc = -1;
	sm_config_init(&c);
	if (sm_config_add_meter(&c, "simulated", &m, err, sizeof err) == SM_OK &&
	    sm_meter_set_flag(m, flag, arg, err, sizeof err) == SM_OK) {
		memcpy(out, strcmp(flag, "auth-key") == 0 ? m->auth_key : m->key, SM_KEY_LEN);
		for (const char *w = m->warnings; w != NULL && *w != '\0';) {
			const char *nl = strchr(w, '\n');
			size_t n = nl != NULL ? (size_t)(nl - w) : strlen(w);
			sm_cli_log(SM_LOG_WARNING, "%.*s", (int)n, w);
			w += n + (nl != NULL);
		}
		rc = 0;
	} else {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
	}
	sm_config_free(&c);
	return rc;
}

size_t sim_write(int fd, const uint8_t *p, size_t n)
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

/* "ADDR=FILE" or "ADDR" into m; false when ADDR is not [0-9A-Za-z ]{0,32}. */
static bool parse_meter(const char *arg, struct sim_meter_arg *m)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = arg[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' '))
			return false;
	}
	m->address = arg;
	m->address_n = n;
	m->fixture = eq ? eq + 1 : NULL;
	if (m->fixture != NULL && *m->fixture == '\0')
		return false;
	return true;
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
		{ "mode", required_argument, NULL, 'm' },
		{ "address", required_argument, NULL, 'a' },
		{ "meter", required_argument, NULL, 'M' },
		{ "baudrate", required_argument, NULL, 'b' },
		{ "echo", no_argument, NULL, 'e' },
		{ "pace", no_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'K' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "auth-key", required_argument, NULL, 'A' },
		{ "security", required_argument, NULL, 's' },
		{ "framing", required_argument, NULL, 'f' },
		{ "layout", required_argument, NULL, 'L' },
		{ "values", required_argument, NULL, 'V' },
		{ "listen", required_argument, NULL, 'T' },
		{ "rtu-over-tcp", no_argument, NULL, 'R' },
		{ "parity", required_argument, NULL, 'Y' },
		{ "proc-ms", required_argument, NULL, 'C' },
		{ "log-requests", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Every way out wipes o (it may hold keys). */
	struct sim_opts o;
	const char *proto_name = NULL, *key_flag = "";
	/* flags only some protocols take: the first one given, for the message */
	const char *iec_only = NULL, *bus_opt = NULL, *mb_only = NULL, *push_opt = NULL;
	bool key_opt_used = false, dlms_opt = false;
	int c, status = SM_EXIT_USAGE;
	char *end;

	memset(&o, 0, sizeof o);
	o.period = 1.0;
	o.count = -1;
	o.mode = 'C';
	o.framing = 'm';
	o.layout = 'f';
	o.parity = 'N';
	o.proc_ms = 10;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:h", opts, NULL)) != -1) {
		switch (c) {
		case '?':
		case ':':
			sm_cli_option_error("simulate", c, argc, argv);
			goto out;
		case 'p':
			proto_name = optarg;
			break;
		case 'F':
			o.fixture = optarg;
			push_opt = push_opt ? push_opt : "--fixture";
			break;
		case 'l':
			o.link = optarg;
			break;
		case 'P':
			errno = 0;
			o.period = strtod(optarg, &end);
			if (errno || *end || !(o.period > 0.0) || o.period > 86400.0) {
				sm_cli_log(SM_LOG_ERROR, "--period: expected seconds > 0, got \"%s\"", optarg);
				goto out;
			}
			o.period_set = true;
			push_opt = push_opt ? push_opt : "--period";
			break;
		case 'n':
			errno = 0;
			o.count = strtoll(optarg, &end, 10);
			if (errno || *end || o.count < 1) {
				sm_cli_log(SM_LOG_ERROR, "--count: expected a whole number >= 1, got \"%s\"", optarg);
				goto out;
			}
			break;
		case 'v':
			o.verbatim = true;
			push_opt = push_opt ? push_opt : "--verbatim";
			break;
		case 'm':
			if (strlen(optarg) != 1 || strchr("ABCDabcd", optarg[0]) == NULL) {
				sm_cli_log(SM_LOG_ERROR, "--mode: expected A, B, C or D, got \"%s\"", optarg);
				goto out;
			}
			o.mode = (char)(optarg[0] & ~0x20);
			iec_only = iec_only ? iec_only : "--mode";
			break;
		case 'a': {
			struct sim_meter_arg tmp;
			if (strchr(optarg, '=') != NULL || !parse_meter(optarg, &tmp) || tmp.address_n == 0) {
				sm_cli_log(SM_LOG_ERROR,
					   "--address: expected 1 to 32 characters of 0-9, A-Z, a-z or blank, got \"%s\"",
					   optarg);
				goto out;
			}
			o.address = optarg;
			iec_only = iec_only ? iec_only : "--address";
			break;
		}
		case 'M':
			/* checked once the protocol is known (its syntax differs) */
			if (o.nmeter_args >= SIM_MAX_METER_ARGS) {
				sm_cli_log(SM_LOG_ERROR, "--meter: at most %d meters", SIM_MAX_METER_ARGS);
				goto out;
			}
			o.meter_args[o.nmeter_args++] = optarg;
			bus_opt = bus_opt ? bus_opt : "--meter";
			break;
		case 'b':
			errno = 0;
			{
				long v = strtol(optarg, &end, 10);
				if (errno || *end || end == optarg || v <= 0 || v > 4000000) {
					sm_cli_log(SM_LOG_ERROR, "--baudrate: expected a baud rate, got \"%s\"", optarg);
					goto out;
				}
				o.baud = (int)v;
			}
			bus_opt = bus_opt ? bus_opt : "--baudrate";
			break;
		case 'e':
			o.echo = true;
			iec_only = iec_only ? iec_only : "--echo";
			break;
		case 'c':
			o.pace = true;
			bus_opt = bus_opt ? bus_opt : "--pace";
			break;
		case 'V':
			o.values = optarg;
			mb_only = mb_only ? mb_only : "--values";
			break;
		case 'T':
			o.listen = optarg;
			mb_only = mb_only ? mb_only : "--listen";
			break;
		case 'R':
			o.rtu_over_tcp = true;
			mb_only = mb_only ? mb_only : "--rtu-over-tcp";
			break;
		case 'Y':
			if (strcasecmp(optarg, "none") == 0 || strcasecmp(optarg, "N") == 0) {
				o.parity = 'N';
			} else if (strcasecmp(optarg, "even") == 0 || strcasecmp(optarg, "E") == 0) {
				o.parity = 'E';
			} else if (strcasecmp(optarg, "odd") == 0 || strcasecmp(optarg, "O") == 0) {
				o.parity = 'O';
			} else {
				sm_cli_log(SM_LOG_ERROR, "--parity: expected none, even or odd, got \"%s\"", optarg);
				goto out;
			}
			mb_only = mb_only ? mb_only : "--parity";
			break;
		case 'C':
			errno = 0;
			{
				long v = strtol(optarg, &end, 10);
				if (errno || *end || end == optarg || v < 0 || v > 60000) {
					sm_cli_log(SM_LOG_ERROR, "--proc-ms: expected milliseconds 0..60000, got \"%s\"",
						   optarg);
					goto out;
				}
				o.proc_ms = (int)v;
			}
			mb_only = mb_only ? mb_only : "--proc-ms";
			break;
		case 'G':
			o.log_requests = optarg;
			mb_only = mb_only ? mb_only : "--log-requests";
			break;
		case 'K':
		case 'k':
			if (o.has_key) {
				const char *self = c == 'K' ? "key" : "key-file";
				if (strcmp(self, key_flag) == 0)
					sm_cli_log(SM_LOG_ERROR, "--%s: given more than once", self);
				else
					sm_cli_log(SM_LOG_ERROR,
						   "--%s: --%s is given as well: give the key either with --key or "
						   "with --key-file, not both",
						   self, key_flag);
				goto out;
			}
			key_flag = c == 'K' ? "key" : "key-file";
			if (key_opt(c == 'K' ? "key" : "key-file", optarg, o.key) != 0)
				goto out;
			o.has_key = true;
			key_opt_used = true;
			break;
		case 'A':
			if (key_opt("auth-key", optarg, o.auth_key) != 0)
				goto out;
			o.has_auth_key = true;
			key_opt_used = true;
			break;
		case 's':
			errno = 0;
			{
				unsigned long sc = strtoul(optarg, &end, 16);
				if (errno || *end || end == optarg ||
				    (sc != 0x20 && sc != 0x21 && sc != 0x30 && sc != 0x31)) {
					sm_cli_log(SM_LOG_ERROR, "--security: expected 20, 21, 30 or 31 (hex), got \"%s\"",
						   optarg);
					goto out;
				}
				o.security = (uint8_t)sc;
			}
			key_opt_used = true;
			break;
		case 'f':
			if (strcasecmp(optarg, "mbus") == 0) {
				o.framing = 'm';
			} else if (strcasecmp(optarg, "hdlc") == 0) {
				o.framing = 'h';
			} else if (strcasecmp(optarg, "raw") == 0) {
				o.framing = 'r';
			} else {
				sm_cli_log(SM_LOG_ERROR, "--framing: expected mbus, hdlc or raw, got \"%s\"", optarg);
				goto out;
			}
			o.framing_set = true;
			dlms_opt = true;
			break;
		case 'L':
			if (strcasecmp(optarg, "flat") == 0) {
				o.layout = 'f';
			} else if (strcasecmp(optarg, "structs") == 0) {
				o.layout = 's';
			} else {
				sm_cli_log(SM_LOG_ERROR, "--layout: expected flat or structs, got \"%s\"", optarg);
				goto out;
			}
			dlms_opt = true;
			break;
		case 'h':
			simulate_help(stdout);
			status = SM_EXIT_OK;
			goto out;
		default:
			simulate_help(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		if (sm_text_has_key_digits(argv[optind])) /* a key without its --key: not echoed */
			sm_cli_log(SM_LOG_ERROR, "simulate: unexpected argument of %zu characters (not shown: "
				   "they look like key digits; a key goes after --key)", strlen(argv[optind]));
		else
			sm_cli_log(SM_LOG_ERROR, "simulate: unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	/* dlms, sml and modbus are simulated whether or not this build reads them. */
	const struct sm_proto *proto = sm_proto_find(proto_name);
	if (proto != NULL)
		o.proto = proto->name;
	else if (proto_name != NULL && strcasecmp(proto_name, "dlms") == 0)
		o.proto = "dlms";
	else if (proto_name != NULL && strcasecmp(proto_name, "sml") == 0)
		o.proto = "sml";
	else if (proto_name != NULL && strcasecmp(proto_name, "modbus") == 0)
		o.proto = "modbus";
	if (o.proto == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate needs -p PROTOCOL (one of: %s%s%s%s)", sm_proto_names(),
			   sm_proto_find("dlms") == NULL ? ", dlms" : "", sm_proto_find("sml") == NULL ? ", sml" : "",
			   sm_proto_find("modbus") == NULL ? ", modbus" : "");
		goto out;
	}
	bool is_dsmr = strcmp(o.proto, "dsmr") == 0, is_dlms = strcmp(o.proto, "dlms") == 0;
	bool is_iec = strcmp(o.proto, "iec62056-21") == 0, is_modbus = strcmp(o.proto, "modbus") == 0;
	if (iec_only != NULL && !is_iec) {
		sm_cli_log(SM_LOG_ERROR, "simulate: %s is for -p iec62056-21 (--mode, --address and --echo are)",
			   iec_only);
		goto out;
	}
	if (bus_opt != NULL && !is_iec && !is_modbus) {
		sm_cli_log(SM_LOG_ERROR, "simulate: %s is for -p iec62056-21 and -p modbus (--meter, --baudrate and "
			   "--pace are)", bus_opt);
		goto out;
	}
	if (mb_only != NULL && !is_modbus) {
		sm_cli_log(SM_LOG_ERROR,
			   "simulate: %s is for -p modbus (--values, --listen, --rtu-over-tcp, --parity, --proc-ms "
			   "and --log-requests are)",
			   mb_only);
		goto out;
	}
	if (push_opt != NULL && is_modbus) {
		sm_cli_log(SM_LOG_ERROR, "simulate: %s is not for -p modbus (its slaves are given with --meter "
			   "ID=MODEL)", push_opt);
		goto out;
	}
	if (is_iec) {
		if (o.baud != 0 && o.baud != 300 && o.baud != 600 && o.baud != 1200 && o.baud != 2400 &&
		    o.baud != 4800 && o.baud != 9600 && o.baud != 19200) {
			sm_cli_log(SM_LOG_ERROR,
				   "--baudrate: expected one of 300, 600, 1200, 2400, 4800, 9600, 19200, got \"%d\"",
				   o.baud);
			goto out;
		}
		if (o.nmeter_args > SIM_MAX_METERS) {
			sm_cli_log(SM_LOG_ERROR, "--meter: at most %d meters", SIM_MAX_METERS);
			goto out;
		}
		for (size_t i = 0; i < o.nmeter_args; i++) {
			if (!parse_meter(o.meter_args[i], &o.meters[i])) {
				sm_cli_log(SM_LOG_ERROR,
					   "--meter: expected ADDR or ADDR=FILE, ADDR up to 32 characters of 0-9, A-Z, "
					   "a-z or blank, got \"%s\"",
					   o.meter_args[i]);
				goto out;
			}
		}
		o.nmeters = o.nmeter_args;
	}
	if (is_modbus && o.baud != 0 && !sm_mb_baud_ok(o.baud)) {
		sm_cli_log(SM_LOG_ERROR, "--baudrate: %d is not a baud rate a Modbus RTU port can use (e.g. 2400, "
			   "9600, 19200, 38400, 115200)", o.baud);
		goto out;
	}
	if (o.rtu_over_tcp && o.listen == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --rtu-over-tcp needs --listen HOST:PORT");
		goto out;
	}
	if (o.listen != NULL && o.link != NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --link is for a pseudo-terminal; with --listen there is none");
		goto out;
	}
	if (key_opt_used && !is_dsmr && !is_dlms) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --key, --key-file, --auth-key and --security are for -p dlms and -p dsmr");
		goto out;
	}
	if (dlms_opt && !is_dlms) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --framing and --layout are for -p dlms");
		goto out;
	}
	if (key_opt_used && !o.has_key) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --auth-key and --security need --key or --key-file");
		goto out;
	}
	if ((o.security & 0x10) && !o.has_auth_key) {
		sm_cli_log(SM_LOG_ERROR, "simulate: --security %02x (authenticated) needs --auth-key", o.security);
		goto out;
	}
	if (is_dsmr)
		status = sim_dsmr(&o);
	else if (is_iec)
		status = sim_iec(&o);
	else if (is_dlms)
		status = sim_dlms(&o);
	else if (strcmp(o.proto, "sml") == 0)
		status = sim_sml(&o);
	else if (is_modbus)
		status = sim_modbus(&o);
	else
		sm_cli_log(SM_LOG_ERROR, "simulate: protocol %s cannot be simulated by this build", o.proto);
out:
	sm_wipe(&o, sizeof o);
	return status;
}
