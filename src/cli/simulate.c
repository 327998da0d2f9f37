/*
 * simulate.c - `smartmeter simulate`: the command line and the
 * pseudo-terminal; the meters themselves are in sim_dsmr.c and sim_iec.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"
#include "proto.h"
#include "sim.h"

static void simulate_help(FILE *f)
{
	fputs("Usage: smartmeter simulate -p PROTOCOL [--fixture FILE] [--link PATH] [--period SECONDS]\n"
	      "                           [--count N] [--verbatim]\n"
	      "       smartmeter simulate -p iec62056-21 [--fixture FILE] [--mode A|B|C|D] [--address ADDR]\n"
	      "                           [--meter ADDR[=FILE]]... [--baudrate BAUD] [--echo] [--pace]\n"
	      "                           [--link PATH] [--period SECONDS] [--count N] [--verbatim]\n"
	      "Behave like a meter on a pseudo-terminal: push protocols send a frame every period;\n"
	      "an IEC 62056-21 meter in mode A, B or C answers sign-on requests.\n\n"
	      "  -p, --protocol NAME     dsmr or iec62056-21\n"
	      "      --fixture FILE      dsmr: telegrams to send in turn (default: a built-in DSMR 5\n"
	      "                          meter whose counters advance with a plausible load);\n"
	      "                          iec62056-21: a readout whose identification and data lines\n"
	      "                          are served (default: a built-in meter)\n"
	      "      --link PATH         symlink to the pseudo-terminal (replaced if it is a symlink)\n"
	      "      --period SECONDS    time between frames of a push meter (default 1; fractions\n"
	      "                          allowed)\n"
	      "      --count N           stop after N frames or readouts (default: run until\n"
	      "                          SIGTERM/SIGINT)\n"
	      "      --verbatim          dsmr: send the fixture file byte for byte as one frame (by\n"
	      "                          default each telegram gets the current time (0-0:1.0.0) and\n"
	      "                          a new CRC); iec62056-21: serve the fixture's data message as\n"
	      "                          captured (by default it is encoded anew with a correct BCC)\n"
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
	      "  -h, --help              this text\n"
	      "The pseudo-terminal's path is printed on stderr (\"I! ... on /dev/pts/N\").\n"
	      "IEC 62056-21 meters log the speed the reader set for each step, e.g.\n"
	      "  I! meter \"42\": sign-on at 300 Bd\n"
	      "  I! meter \"42\": readout at 9600 Bd, 316 bytes\n"
	      "and stay silent when it is wrong (a sign-on not at 300 Bd, a readout not at the\n"
	      "agreed speed).  See smartmeter(1).\n",
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
	 * wait (at most 2 s) until nothing is left unread on the slave side.
	 * (tcdrain on a pty master would wait forever without a reader.) */
	for (int64_t until = sm_mono_ms() + 2000; p->slave >= 0 && sm_mono_ms() < until;) {
		int left = 0;
		if (ioctl(p->slave, FIONREAD, &left) != 0 || left == 0)
			break;
		struct pollfd none = { .fd = -1 };
		poll(&none, 0, 10);
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_opts o;
	const char *proto_name = NULL;
	bool iec_opt = false;
	int c;
	char *end;

	memset(&o, 0, sizeof o);
	o.period = 1.0;
	o.count = -1;
	o.mode = 'C';
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			proto_name = optarg;
			break;
		case 'F':
			o.fixture = optarg;
			break;
		case 'l':
			o.link = optarg;
			break;
		case 'P':
			errno = 0;
			o.period = strtod(optarg, &end);
			if (errno || *end || !(o.period > 0.0) || o.period > 86400.0) {
				sm_cli_log(SM_LOG_ERROR, "--period: expected seconds > 0, got \"%s\"", optarg);
				return SM_EXIT_USAGE;
			}
			o.period_set = true;
			break;
		case 'n':
			errno = 0;
			o.count = strtoll(optarg, &end, 10);
			if (errno || *end || o.count < 1) {
				sm_cli_log(SM_LOG_ERROR, "--count: expected a whole number >= 1, got \"%s\"", optarg);
				return SM_EXIT_USAGE;
			}
			break;
		case 'v':
			o.verbatim = true;
			break;
		case 'm':
			if (strlen(optarg) != 1 || strchr("ABCDabcd", optarg[0]) == NULL) {
				sm_cli_log(SM_LOG_ERROR, "--mode: expected A, B, C or D, got \"%s\"", optarg);
				return SM_EXIT_USAGE;
			}
			o.mode = (char)(optarg[0] & ~0x20);
			iec_opt = true;
			break;
		case 'a': {
			struct sim_meter_arg tmp;
			if (strchr(optarg, '=') != NULL || !parse_meter(optarg, &tmp) || tmp.address_n == 0) {
				sm_cli_log(SM_LOG_ERROR,
					   "--address: expected 1 to 32 characters of 0-9, A-Z, a-z or blank, got \"%s\"",
					   optarg);
				return SM_EXIT_USAGE;
			}
			o.address = optarg;
			iec_opt = true;
			break;
		}
		case 'M':
			if (o.nmeters >= SIM_MAX_METERS) {
				sm_cli_log(SM_LOG_ERROR, "--meter: at most %d meters", SIM_MAX_METERS);
				return SM_EXIT_USAGE;
			}
			if (!parse_meter(optarg, &o.meters[o.nmeters])) {
				sm_cli_log(SM_LOG_ERROR,
					   "--meter: expected ADDR or ADDR=FILE, ADDR up to 32 characters of 0-9, A-Z, "
					   "a-z or blank, got \"%s\"",
					   optarg);
				return SM_EXIT_USAGE;
			}
			o.nmeters++;
			iec_opt = true;
			break;
		case 'b':
			errno = 0;
			o.baud = (int)strtol(optarg, &end, 10);
			if (errno || *end || (o.baud != 300 && o.baud != 600 && o.baud != 1200 && o.baud != 2400 &&
					       o.baud != 4800 && o.baud != 9600 && o.baud != 19200)) {
				sm_cli_log(SM_LOG_ERROR,
					   "--baudrate: expected one of 300, 600, 1200, 2400, 4800, 9600, 19200, got \"%s\"",
					   optarg);
				return SM_EXIT_USAGE;
			}
			iec_opt = true;
			break;
		case 'e':
			o.echo = true;
			iec_opt = true;
			break;
		case 'c':
			o.pace = true;
			iec_opt = true;
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
	const struct sm_proto *proto = sm_proto_find(proto_name);
	if (proto == NULL) {
		sm_cli_log(SM_LOG_ERROR, "simulate needs -p PROTOCOL (one of: %s)", sm_proto_names());
		return SM_EXIT_USAGE;
	}
	o.proto = proto->name;
	if (strcmp(proto->name, "dsmr") == 0) {
		if (iec_opt) {
			sm_cli_log(SM_LOG_ERROR,
				   "simulate: --mode, --address, --meter, --baudrate, --echo and --pace are for -p iec62056-21");
			return SM_EXIT_USAGE;
		}
		return sim_dsmr(&o);
	}
	if (strcmp(proto->name, "iec62056-21") == 0)
		return sim_iec(&o);
	sm_cli_log(SM_LOG_ERROR, "simulate: protocol %s cannot be simulated by this build", proto->name);
	return SM_EXIT_USAGE;
}
