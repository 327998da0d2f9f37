#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "meteropts.h"
#include "cursor.h"
#include "proto.h"

#define DECODE_MAX_INPUT (64u * 1024 * 1024)

static void decode_help(FILE *f)
{
	fputs("Usage: smartmeter decode -p PROTOCOL [--hex] [--format json|influx|text] [--name NAME]\n"
	      "                         [meter options] [FILE|-]\n"
	      "Decode captured bytes (raw, or hex text with --hex) and print every reading of\n"
	      "every valid frame.  Rejected frames are reported on stderr with the reason.\n"
	      "Exit status: 0 when at least one frame decoded, 1 when none did, 2 on usage errors.\n\n"
	      "  -p, --protocol NAME     the protocol (required)\n"
	      "      --hex               the input is hex text (whitespace ignored)\n"
	      "      --format FORMAT     json (default), influx or text\n"
	      "      --name NAME         meter name in the output (default \"meter\")\n"
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

/* Hex text to bytes in place; whitespace ignored.  -1 on a bad character
 * or an odd number of digits. */
static long unhex(unsigned char *p, size_t n, size_t *bad_at)
{
	size_t o = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		int v = sm_hexval(c);
		if (v < 0) {
			*bad_at = i;
			return -1;
		}
		if (hi < 0) {
			hi = v;
		} else {
			p[o++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		*bad_at = n;
		return -1;
	}
	return (long)o;
}

struct decode_run {
	const struct sm_proto *proto;
	const struct sm_meter_cfg *m;
	struct sm_out *out;
	size_t frames, rejected, unchecked;
};

static void report(struct decode_run *d, enum sm_err rc, const struct sm_feed_info *info,
		   const struct sm_reading_set *set, size_t offset)
{
	if (rc == SM_READINGS) {
		d->frames++;
		if (info->diag.msg[0] != '\0')
			sm_cli_log(SM_LOG_WARNING, "frame ending at byte %zu: %s", offset, info->diag.msg);
		if (info->check == SM_CHECK_IGNORED) {
			d->unchecked++;
			sm_cli_log(SM_LOG_WARNING, "frame ending at byte %zu accepted with a wrong checksum (IgnoreChecksum)",
				   offset);
		}
		sm_out_emit(d->out, d->m, set, sm_now_ms());
	} else if (rc < 0) {
		d->rejected++;
		sm_cli_log(SM_LOG_WARNING, "rejected frame at byte %zu: %s", offset,
			   info->diag.msg[0] ? info->diag.msg : sm_strerror(rc));
	}
}

int sm_cmd_decode(int argc, char **argv)
{
	static const struct option cmd_opts[] = {
		{ "hex", no_argument, NULL, 'x' },
		{ "format", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct sm_cli_opts o;
	struct sm_config cfg;
	struct sm_meter_cfg *m = NULL;
	enum sm_format format = SM_FORMAT_JSON;
	const char *name = "meter";
	bool hex = false;
	int status = SM_EXIT_USAGE, c;
	char err[512];
	unsigned char *input = NULL;
	size_t inlen = 0;
	void *st = NULL;
	struct sm_out out;
	bool out_ready = false;

	/* The meter name must be known before options are applied: scan first. */
	/* The meter is created before its options are applied: find its name first. */
	name = sm_cli_prescan_name(argc, argv, name);
	sm_cli_opts_init(&o, cmd_opts, sizeof cmd_opts / sizeof cmd_opts[0]);
	sm_config_init(&cfg);
	if (sm_config_add_meter(&cfg, name, &m, err, sizeof err) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		goto out;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:d:h", o.opts, NULL)) != -1) {
		switch (c) {
		case '?':
		case ':':
			sm_cli_option_error("decode", c, argc, argv);
			goto out;
		case 'x':
			hex = true;
			break;
		case 'f':
			if (sm_cli_format_opt(optarg, &format) != 0)
				goto out;
			break;
		case 'n':
			break;
		case 'h':
			decode_help(stdout);
			status = SM_EXIT_OK;
			goto out;
		case 'p':
		case 'd':
			if (sm_cli_short_flag(m, c, optarg) != 0)
				goto out;
			break;
		default:
			if (c >= SM_CLI_METER_OPT) {
				if (sm_cli_meter_flag(m, c, optarg) != 0)
					goto out;
				break;
			}
			decode_help(stderr);
			goto out;
		}
	}
	if (argc - optind > 1) {
		sm_cli_log(SM_LOG_ERROR, "decode takes one input file, got %d", argc - optind);
		goto out;
	}
	const char *path = optind < argc ? argv[optind] : "-";
	if (m->proto == NULL) {
		sm_cli_log(SM_LOG_ERROR, "decode needs -p PROTOCOL (one of: %s)", sm_proto_names());
		goto out;
	}
	if (m->proto->feed == NULL || m->proto->idle == NULL) {
		/* Modbus: libmodbus checks and takes apart each answer as it reads it */
		sm_cli_log(SM_LOG_ERROR, "decode: Protocol \"%s\" is polled register by register: there are no "
			   "frames to decode from captured bytes (use smartmeter read)", m->proto->name);
		goto out;
	}
	if (m->device == NULL) {
		char dev[4096];
		snprintf(dev, sizeof dev, "file:%s", path);
		if (sm_meter_set_flag(m, "device", dev, err, sizeof err) != SM_OK) {
			sm_cli_log(SM_LOG_ERROR, "%s", err);
			goto out;
		}
	}
	enum sm_err vrc = sm_config_validate(&cfg, err, sizeof err);
	print_config_warnings(&cfg);
	if (vrc != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		goto out;
	}
	if (sm_read_file(path, DECODE_MAX_INPUT, &input, &inlen, err, sizeof err) != 0) {
		if (sm_text_has_key_digits(path)) /* a key without its --key: not echoed */
			sm_cli_log(SM_LOG_ERROR, "decode: cannot read the input file given (%zu characters, not "
				   "shown: they look like key digits; a key goes after --key)", strlen(path));
		else
			sm_cli_log(SM_LOG_ERROR, "%s", err);
		goto out;
	}
	if (hex) {
		size_t bad_at = 0;
		long n = unhex(input, inlen, &bad_at);
		if (n < 0) {
			sm_cli_log(SM_LOG_ERROR, "--hex: %s: not hex text (at byte %zu)", path, bad_at);
			goto out;
		}
		inlen = (size_t)n;
	}

	const struct sm_proto *proto = m->proto;
	struct sm_diag diag = { { 0 } };
	st = calloc(1, proto->state_size ? proto->state_size : 1);
	struct sm_reading_set *set = malloc(sizeof *set);
	if (st == NULL || set == NULL) {
		free(set);
		sm_cli_log(SM_LOG_ERROR, "out of memory");
		status = SM_EXIT_NONE;
		goto out;
	}
	if (proto->init(st, m, &diag) != SM_OK) {
		free(set);
		sm_cli_log(SM_LOG_ERROR, "meter \"%s\": %s", m->name, diag.msg);
		free(st);
		st = NULL;
		goto out;
	}
	sm_out_init(&out, stdout, format, 0);
	out_ready = true;

	struct decode_run d = { .proto = proto, .m = m, .out = &out };
	size_t off = 0;
	while (off < inlen) {
		struct sm_feed_info info = { .check = SM_CHECK_OK };
		size_t used = 0;
		enum sm_err rc = proto->feed(st, input + off, inlen - off, &used, set, &info);
		if (used > inlen - off)
			used = inlen - off;
		off += used;
		report(&d, rc, &info, set, off);
		if (used == 0 && rc != SM_READINGS && rc >= 0)
			break; /* defensive: a protocol that consumes nothing and wants more */
	}
	for (int guard = 0; guard < 4; guard++) {
		struct sm_feed_info info = { .check = SM_CHECK_OK };
		enum sm_err rc = proto->idle(st, set, &info);
		if (rc == SM_NEED_MORE)
			break;
		report(&d, rc, &info, set, inlen);
	}
	if (proto->fini)
		proto->fini(st);
	free(st);
	st = NULL;
	free(set);
	if (out.failed)
		sm_cli_log(SM_LOG_ERROR, "cannot write to stdout");
	if (d.frames == 0)
		sm_cli_log(SM_LOG_ERROR, "no valid frame in %s (%zu rejected)", path, d.rejected);
	status = d.frames > 0 ? SM_EXIT_OK : SM_EXIT_NONE;
out:
	if (out_ready)
		sm_out_destroy(&out);
	free(input);
	sm_config_free(&cfg);
	sm_cli_opts_free(&o);
	return status;
}
