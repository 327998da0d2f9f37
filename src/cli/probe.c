#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "proto.h"
#include "transport.h"

/* One candidate: a push protocol at one line setting, listened to for up to
 * listen_ms (DSMR 4 pushes every 10 s, DSMR 5 every second). */
struct candidate {
	const char *protocol;
	struct sm_line line;
	int listen_ms;
};

static void probe_help(FILE *f)
{
	fputs("Usage: smartmeter probe DEVICE\n"
	      "Listen on DEVICE with the protocols and line settings that make sense there and\n"
	      "print what answered as a ready <Meter> block for collectd.conf or read -c.\n"
	      "Exit status 0 when a meter was found, 1 when none was.\n",
	      f);
}

static bool try_candidate(const char *device, const struct candidate *cand, struct sm_reading_set *set,
			  char *why, size_t whylen)
{
	const struct sm_proto *proto = sm_proto_find(cand->protocol);
	struct sm_transport *t = NULL;
	struct sm_meter_cfg m;
	struct sm_diag diag = { { 0 } };
	char err[512];
	bool found = false;
	void *st;

	if (proto == NULL)
		return false;
	memset(&m, 0, sizeof m);
	m.name = (char *)"probe";
	m.proto = proto;
	m.device = (char *)device;
	m.line = cand->line;
	m.timeout_s = SM_DEFAULT_TIMEOUT_S;
	st = calloc(1, proto->state_size);
	if (st == NULL || proto->init(st, &m, &diag) != SM_OK) {
		free(st);
		return false;
	}
	if (sm_transport_open(device, &cand->line, &t, err, sizeof err) != SM_OK) {
		snprintf(why, whylen, "%s", err);
		goto out;
	}
	int64_t deadline = sm_mono_ms() + cand->listen_ms;
	uint8_t buf[4096];
	while (!found && sm_mono_ms() < deadline) {
		size_t got = 0, off = 0;
		enum sm_err rc = sm_transport_read(t, buf, sizeof buf, 100, &got);
		if (rc != SM_OK) {
			snprintf(why, whylen, "%s", sm_transport_error(t));
			break;
		}
		while (off < got && !found) {
			struct sm_feed_info info = { .check = SM_CHECK_OK };
			size_t used = 0;
			rc = proto->feed(st, buf + off, got - off, &used, set, &info);
			off += used;
			if (rc == SM_READINGS)
				found = true;
			else if (rc < 0)
				snprintf(why, whylen, "%s", info.diag.msg[0] ? info.diag.msg : sm_strerror(rc));
			if (used == 0 && rc == SM_NEED_MORE)
				break;
		}
	}
	sm_transport_close(t);
out:
	if (proto->fini)
		proto->fini(st);
	free(st);
	return found;
}

int sm_cmd_probe(int argc, char **argv)
{
	static const struct candidate cands[] = {
		{ "dsmr", { 115200, 8, SM_PARITY_NONE, 1 }, 12000 },
		{ "dsmr", { 9600, 7, SM_PARITY_EVEN, 1 }, 12000 },
	};
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		probe_help(stdout);
		return SM_EXIT_OK;
	}
	if (argc != 2) {
		probe_help(stderr);
		return SM_EXIT_USAGE;
	}
	const char *device = argv[1];
	/* Not a device: an option (probe --key=...) or a bare key.  Refused
	 * without echoing what may be key digits. */
	if (device[0] == '-' || (strchr(device, '/') == NULL && sm_text_has_key_digits(device))) {
		if (sm_text_has_key_digits(device))
			sm_cli_log(SM_LOG_ERROR, "probe: expected a DEVICE, got %zu characters (not shown: they "
				   "look like key digits; probe needs no key)", strlen(device));
		else
			sm_cli_log(SM_LOG_ERROR, "probe: expected a DEVICE, got \"%s\" (probe takes no options)",
				   device);
		return SM_EXIT_USAGE;
	}
	struct sm_reading_set *set = malloc(sizeof *set);
	if (set == NULL)
		return SM_EXIT_NONE;
	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
		char line[32], why[512] = "no valid frame";
		sm_line_format(&cands[i].line, line, sizeof line);
		sm_cli_log(SM_LOG_INFO, "trying %s at %s for %d s", cands[i].protocol, line, cands[i].listen_ms / 1000);
		if (try_candidate(device, &cands[i], set, why, sizeof why)) {
			const char *parity = cands[i].line.parity == SM_PARITY_EVEN ? "even"
					     : cands[i].line.parity == SM_PARITY_ODD ? "odd" : "none";
			sm_cli_log(SM_LOG_INFO, "found %s at %s (%zu readings)", cands[i].protocol, line, set->n);
			printf("<Meter \"meter\">\n"
			       "  Protocol \"%s\"\n"
			       "  Device \"%s\"\n"
			       "  Baudrate %d\n"
			       "  Parity \"%s\"\n"
			       "  DataBits %d\n"
			       "  StopBits %d\n"
			       "</Meter>\n",
			       cands[i].protocol, device, cands[i].line.baud, parity, cands[i].line.databits,
			       cands[i].line.stopbits);
			fflush(stdout);
			free(set);
			return SM_EXIT_OK;
		}
		sm_cli_log(SM_LOG_INFO, "%s at %s: %s", cands[i].protocol, line, why);
	}
	free(set);
	sm_cli_log(SM_LOG_ERROR, "no meter found on %s", device);
	return SM_EXIT_NONE;
}
