#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "cli.h"
#include "gcm.h"
#include "meteropts.h"
#include "modbus_map.h"
#include "proto.h"
#include "transport.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

static void read_help(FILE *f)
{
	fputs("Usage: smartmeter read [-c FILE] [--check | --plan] [--format json|influx|text] [--trigger none|stdin]\n"
	      "       smartmeter read -p PROTOCOL -d DEVICE [--name NAME] [meter options]\n"
	      "Run meters and print their readings on stdout, one record per line, until\n"
	      "SIGTERM or SIGINT (or stdin closes, with --trigger stdin).\n\n"
	      "  -c, --config FILE       meters from FILE: a whole collectd.conf (its\n"
	      "                          <Plugin smartmeter> block) or bare <Meter> blocks\n"
	      "      --format FORMAT     json (default), influx or text\n"
	      "      --check             parse and validate the configuration, print the meters, exit\n"
	      "      --plan              validate, print the Modbus requests of every poll, exit\n"
	      "      --trigger MODE      none (default): print every frame (spaced by Interval);\n"
	      "                          stdin: print the latest values once per line on stdin\n"
	      "  -p, --protocol NAME     flag form: the protocol of the one meter\n"
	      "  -d, --device DEVICE     flag form: /dev/ttyUSB0, tcp://HOST:PORT or file:PATH\n"
	      "      --name NAME         flag form: the meter's name (default \"meter\")\n"
	      "  -h, --help              this text\n\n",
	      f);
	sm_cli_meter_help(f);
}

/* The configuration's warnings (a KeyFile others can read), one "W! " line each. */
static void print_config_warnings(const struct sm_config *c)
{
	for (const char *w = c->warnings; w != NULL && *w != '\0';) {
		const char *nl = strchr(w, '\n');
		size_t n = nl != NULL ? (size_t)(nl - w) : strlen(w);
		sm_cli_log(SM_LOG_WARNING, "%.*s", (int)n, w);
		w += n + (nl != NULL);
	}
}

static void emit_cb(void *ctx, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		    int64_t rx_ms, double interval_s)
{
	(void)interval_s;
	sm_out_emit(ctx, m, s, rx_ms);
}

static int load_config_file(struct sm_config *cfg, const char *path)
{
	unsigned char *text = NULL;
	size_t n = 0;
	char err[1024];
	struct sm_cfg_node root;
	int rc = -1;

	memset(&root, 0, sizeof root);
	if (sm_read_file(path, CONFIG_MAX_BYTES, &text, &n, err, sizeof err) != 0) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		return -1;
	}
	if (sm_cfg_parse((const char *)text, n, path, &root, err, sizeof err) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		goto out;
	}
	/* Every <Plugin smartmeter> block, as collectd would read them; a file
	 * without one holds bare <Meter> blocks. */
	const struct sm_cfg_node *block = sm_cfg_next_smartmeter(&root, NULL);
	if (block == NULL)
		block = &root;
	do {
		if (sm_config_from_tree(cfg, block, err, sizeof err) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "%s: %s", path, err);
			goto out;
		}
	} while (block != &root && (block = sm_cfg_next_smartmeter(&root, block)) != NULL);
	rc = 0;
out:
	/* Keys live on in the meters only. */
	sm_cfg_wipe_keys(&root);
	sm_cfg_node_free(&root);
	sm_wipe(text, n);
	free(text);
	return rc;
}

struct run {
	struct sm_port *ports;
	size_t nports;
	struct sm_reader **readers;
};

/* `read --plan`: every Modbus meter's requests per poll. */
static void print_plans(const struct run *r)
{
	size_t shown = 0;

	for (size_t i = 0; i < r->nports; i++) {
		for (size_t k = 0; k < r->ports[i].nmeters; k++) {
			const struct sm_meter_cfg *m = r->ports[i].meters[k];
			if (m->mb_map == NULL || m->mb_plan == NULL)
				continue;
			char text[8192];
			struct sm_buf b;
			sm_buf_init(&b, text, sizeof text);
			(void)sm_mb_plan_format(m->mb_map, m->mb_plan, &b);
			printf("meter \"%s\": slave %d on %s, map \"%s\"%s%s%s: %zu values in %zu %s "
			       "(%zu registers) per poll\n",
			       m->name, m->slave, r->ports[i].device, m->mb_map->name,
			       m->mb_map->description != NULL ? " (" : "",
			       m->mb_map->description != NULL ? m->mb_map->description : "",
			       m->mb_map->description != NULL ? ")" : "", m->mb_map->nregs, m->mb_plan->nreq,
			       m->mb_plan->nreq == 1 ? "request" : "requests", m->mb_plan->nwords);
			for (size_t a = 0, st = 0; a < b.len; a++) {
				if (text[a] != '\n')
					continue;
				printf("  %.*s\n", (int)(a - st), text + st);
				st = a + 1;
			}
			if (m->mb_map->caveat != NULL)
				printf("  note: %s\n", m->mb_map->caveat);
			shown++;
		}
	}
	if (shown == 0)
		printf("no Modbus meters: nothing to plan\n");
}

static void trigger_all(struct run *r)
{
	for (size_t i = 0; i < r->nports; i++)
		if (r->readers[i])
			sm_reader_trigger(r->readers[i]);
}

static bool all_done(const struct run *r)
{
	for (size_t i = 0; i < r->nports; i++)
		if (r->readers[i] && !sm_reader_done(r->readers[i]))
			return false;
	return true;
}

int sm_cmd_read(int argc, char **argv)
{
	static const struct option cmd_opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "trigger", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "check", no_argument, NULL, 'k' },
		{ "plan", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct sm_cli_opts o;
	struct sm_config cfg;
	struct sm_meter_cfg *m = NULL;
	enum sm_format format = SM_FORMAT_JSON;
	const char *config_path = NULL, *name = "meter";
	bool trigger = false, flags_used = false, check_only = false, plan_only = false;
	int status = SM_EXIT_USAGE, c, sfd = -1;
	char err[1024];
	struct run run = { 0 };
	struct sm_out out;
	bool out_ready = false;
	sigset_t sigs;

	/* The meter is created before its options are applied: find its name first. */
	name = sm_cli_prescan_name(argc, argv, name);
	sm_cli_opts_init(&o, cmd_opts, sizeof cmd_opts / sizeof cmd_opts[0]);
	sm_config_init(&cfg);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:p:d:h", o.opts, NULL)) != -1) {
		switch (c) {
		case '?':
		case ':':
			sm_cli_option_error("read", c, argc, argv);
			goto out;
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			if (sm_cli_format_opt(optarg, &format) != 0)
				goto out;
			break;
		case 't':
			if (strcmp(optarg, "stdin") == 0) {
				trigger = true;
			} else if (strcmp(optarg, "none") == 0) {
				trigger = false;
			} else {
				sm_cli_log(SM_LOG_ERROR, "--trigger: expected none or stdin, got \"%s\"", optarg);
				goto out;
			}
			break;
		case 'n':
			break;
		case 'k':
			check_only = true;
			break;
		case 'P':
			plan_only = true;
			break;
		case 'h':
			read_help(stdout);
			status = SM_EXIT_OK;
			goto out;
		default:
			if (c == 'p' || c == 'd' || c >= SM_CLI_METER_OPT) {
				if (m == NULL && sm_config_add_meter(&cfg, name, &m, err, sizeof err) != SM_OK) {
					sm_cli_log(SM_LOG_ERROR, "%s", err);
					goto out;
				}
				flags_used = true;
				if ((c == 'p' || c == 'd') ? sm_cli_short_flag(m, c, optarg) != 0
							   : sm_cli_meter_flag(m, c, optarg) != 0)
					goto out;
				break;
			}
			read_help(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		if (sm_text_has_key_digits(argv[optind])) /* a key without its --key: not echoed */
			sm_cli_log(SM_LOG_ERROR, "read: unexpected argument of %zu characters (not shown: they "
				   "look like key digits; a key goes after --key)", strlen(argv[optind]));
		else
			sm_cli_log(SM_LOG_ERROR, "read: unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (config_path != NULL && flags_used) {
		sm_cli_log(SM_LOG_ERROR, "read: use either -c FILE or meter flags (-p, -d, ...), not both");
		goto out;
	}
	if (config_path == NULL && !flags_used) {
		sm_cli_log(SM_LOG_ERROR, "read: needs -c FILE or -p PROTOCOL -d DEVICE (see smartmeter read --help)");
		goto out;
	}
	if (config_path != NULL && load_config_file(&cfg, config_path) != 0)
		goto out;
	enum sm_err vrc = sm_config_validate(&cfg, err, sizeof err);
	print_config_warnings(&cfg);
	if (vrc != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		goto out;
	}
	status = SM_EXIT_NONE;
	if (sm_config_ports(&cfg, &run.ports, &run.nports) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		goto out;
	}
	if (plan_only) {
		print_plans(&run);
		status = SM_EXIT_OK;
		goto out;
	}
	if (check_only) {
		for (size_t i = 0; i < run.nports; i++) {
			char line[64];
			sm_line_format(&run.ports[i].line, line, sizeof line);
			for (size_t k = 0; k < run.ports[i].nmeters; k++)
				printf("meter \"%s\": protocol %s on %s (%s)\n", run.ports[i].meters[k]->name,
				       run.ports[i].meters[k]->proto->name, run.ports[i].device, line);
		}
		printf("configuration OK: %zu meter(s) on %zu port(s)\n", cfg.nmeters, run.nports);
		status = SM_EXIT_OK;
		goto out;
	}

	/* Signals are taken synchronously by this thread only; readers inherit
	 * the blocked mask.  SIGHUP/SIGUSR1/SIGUSR2 must not kill us (Telegraf
	 * may be configured to send them); SIGPIPE becomes EPIPE. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		sm_cli_log(SM_LOG_ERROR, "signalfd: %s", strerror(errno));
		goto out;
	}

	sm_out_init(&out, stdout, format, SM_TIME_WINDOW_MS);
	out_ready = true;
	struct sm_sink sink = { .emit = emit_cb, .ctx = &out };
	struct sm_log log = { .fn = sm_cli_log_cb, .ctx = NULL };
	run.readers = calloc(run.nports, sizeof *run.readers);
	if (run.readers == NULL)
		goto out;
	for (size_t i = 0; i < run.nports; i++) {
		struct sm_reader_opts ropts = {
			.trigger_mode = trigger,
			.exit_at_eof = sm_transport_kind_of(run.ports[i].device) == SM_TRANSPORT_FILE,
			.start = NULL,
		};
		if (sm_reader_create(&run.ports[i], &sink, &log, &ropts, &run.readers[i]) != SM_OK ||
		    sm_reader_start(run.readers[i]) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "cannot start the reader of %s", run.ports[i].device);
			goto stop;
		}
	}
	for (size_t i = 0; i < run.nports; i++) {
		char line[64];
		sm_line_format(&run.ports[i].line, line, sizeof line);
		for (size_t k = 0; k < run.ports[i].nmeters; k++)
			sm_cli_log(SM_LOG_INFO, "meter \"%s\": %s on %s (%s)", run.ports[i].meters[k]->name,
				   run.ports[i].meters[k]->proto->name, run.ports[i].device, line);
	}

	bool stdin_open = trigger;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
		int n = poll(pfd, stdin_open ? 2 : 1, 100);
		if (n < 0 && errno != EINTR) {
			sm_cli_log(SM_LOG_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					sm_cli_log(SM_LOG_INFO, "%s received, stopping", strsignal((int)si.ssi_signo));
					status = SM_EXIT_OK;
					break;
				}
				sm_cli_log(SM_LOG_INFO, "%s received%s", strsignal((int)si.ssi_signo),
					   trigger ? ": polling the polled meters, emitting the latest push values" : " (ignored)");
				if (trigger)
					trigger_all(&run);
			}
		}
		if (n > 0 && stdin_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[512];
			ssize_t got = read(0, buf, sizeof buf);
			if (got <= 0) {
				if (got < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				sm_cli_log(SM_LOG_INFO, "stdin closed, stopping");
				status = SM_EXIT_OK;
				break;
			}
			for (ssize_t i = 0; i < got; i++)
				if (buf[i] == '\n')
					trigger_all(&run);
		}
		if (out.failed) {
			sm_cli_log(SM_LOG_ERROR, "cannot write to stdout, stopping");
			status = SM_EXIT_NONE;
			break;
		}
		if (all_done(&run)) {
			status = SM_EXIT_OK;
			break;
		}
	}
stop:
	for (size_t i = 0; i < run.nports; i++)
		if (run.readers && run.readers[i])
			sm_reader_stop(run.readers[i]);
	for (size_t i = 0; i < run.nports; i++)
		if (run.readers && run.readers[i]) {
			sm_reader_join(run.readers[i]);
			sm_reader_destroy(run.readers[i]);
		}
out:
	if (sfd >= 0)
		close(sfd);
	free(run.readers);
	if (run.ports)
		sm_ports_free(run.ports, run.nports);
	if (out_ready)
		sm_out_destroy(&out);
	sm_config_free(&cfg);
	sm_cli_opts_free(&o);
	return status;
}
