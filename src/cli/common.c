#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "config.h"

static const char *prefix(enum sm_log_level level)
{
	switch (level) {
	case SM_LOG_ERROR:
		return "E! ";
	case SM_LOG_WARNING:
		return "W! ";
	case SM_LOG_DEBUG:
		return "D! ";
	default:
		return "I! ";
	}
}

void sm_cli_log(enum sm_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	sm_cli_log_cb(NULL, level, line);
}

void sm_cli_log_cb(void *ctx, enum sm_log_level level, const char *msg)
{
	/* One fputs per line: stderr is unbuffered, lines from several
	 * reader threads must not interleave within a line. */
	char line[1100];
	snprintf(line, sizeof line, "%s%s\n", prefix(level), msg);
	fputs(line, stderr);
}

size_t sm_cli_meter_optcount(void)
{
	size_t n = 0;
	while (sm_meter_options[n].name != NULL)
		n++;
	return n;
}

void sm_cli_meter_opts(struct option *opts)
{
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++) {
		opts[i].name = sm_meter_options[i].flag;
		opts[i].has_arg = sm_meter_options[i].type == SM_OPT_BOOL ? optional_argument : required_argument;
		opts[i].flag = NULL;
		opts[i].val = SM_CLI_METER_OPT + (int)i;
	}
}

void sm_cli_meter_help(FILE *f)
{
	fputs("Meter options (each <Meter> option of collectd-smartmeter(5) as a flag):\n", f);
	for (size_t i = 0; sm_meter_options[i].name != NULL; i++) {
		const struct sm_option_desc *d = &sm_meter_options[i];
		char left[64];
		if (d->type == SM_OPT_BOOL)
			snprintf(left, sizeof left, "--%s[=true|false]", d->flag);
		else
			snprintf(left, sizeof left, "--%s %s", d->flag, d->arg ? d->arg : "VALUE");
		fprintf(f, "  %-30s %s\n", left, d->help ? d->help : "");
	}
}

enum { SM_OUT_CAP = 64 * 1024 };

void sm_out_init(struct sm_out *o, FILE *f, enum sm_format format, int64_t window_ms)
{
	pthread_mutex_init(&o->mu, NULL);
	o->f = f;
	o->format = format;
	o->window_ms = window_ms;
	o->failed = false;
	o->storage = malloc(SM_OUT_CAP);
}

void sm_out_destroy(struct sm_out *o)
{
	free(o->storage);
	o->storage = NULL;
	pthread_mutex_destroy(&o->mu);
}

/* Write and empty the buffer. */
static void out_flush(struct sm_out *o, struct sm_buf *b)
{
	if (b->len > 0 && !o->failed) {
		if (fwrite(b->p, 1, b->len, o->f) != b->len || fflush(o->f) != 0)
			o->failed = true;
	}
	sm_buf_reset(b);
}

size_t sm_out_emit(struct sm_out *o, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		   int64_t rx_ms)
{
	struct sm_buf b;
	size_t printed = 0;

	pthread_mutex_lock(&o->mu);
	if (o->storage == NULL) {
		pthread_mutex_unlock(&o->mu);
		return 0;
	}
	sm_buf_init(&b, o->storage, SM_OUT_CAP);
	if (o->format == SM_FORMAT_TEXT && s->n > 0) {
		sm_buf_addf(&b, "%-12s %-34s %22s %-5s %-18s %s\n", "METER", "NAME", "VALUE", "UNIT", "OBIS", "TIME");
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct sm_reading *r = &s->r[i];
		if (!sm_meter_selects(m, &r->obis, r->name))
			continue;
		int64_t t = sm_reading_time(s, r, rx_ms, o->window_ms);
		if (sm_format_reading(o->format, &b, m->name, s, r, t) != SM_OK) {
			out_flush(o, &b);
			if (sm_format_reading(o->format, &b, m->name, s, r, t) != SM_OK)
				continue; /* a single line larger than the buffer: cannot happen with the set's caps */
		}
		printed++;
	}
	if (o->format == SM_FORMAT_TEXT && printed > 0)
		sm_buf_addc(&b, '\n');
	out_flush(o, &b);
	pthread_mutex_unlock(&o->mu);
	return printed;
}

int sm_read_file(const char *path, size_t max, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= len) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			unsigned char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return -1;
}

int sm_cli_format_opt(const char *arg, enum sm_format *out)
{
	if (sm_format_parse(arg, out) == SM_OK)
		return 0;
	sm_cli_log(SM_LOG_ERROR, "--format: expected json, influx or text, got \"%s\"", arg);
	return -1;
}

void sm_cli_option_error(const char *cmd, int c, int argc, char **argv)
{
	/* A short option names itself (optopt; the rest of its cluster is not
	 * looked at); a long one is the argument getopt just passed. */
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	bool long_opt = strncmp(arg, "--", 2) == 0;
	/* (a long option given a value it takes none of sets optopt to its
	 * own code: it still names itself by its argument) */
	bool short_opt = c == '?' && optopt > 0 && !long_opt;
	char name[64];

	if (short_opt && optopt < 128 && optopt > ' ') {
		snprintf(name, sizeof name, "-%c", optopt);
	} else if (sm_text_has_key_digits(arg)) { /* a key in the wrong place: never echoed */
		sm_cli_log(SM_LOG_ERROR, "%s: a bad option of %zu characters (not shown: they look like key "
			   "digits; a key goes after --key)", cmd, strlen(arg));
		return;
	} else {
		snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
	}
	if (c == ':')
		sm_cli_log(SM_LOG_ERROR, "%s: option %s needs a value", cmd, name);
	else if (long_opt && optopt > 0)
		sm_cli_log(SM_LOG_ERROR, "%s: option %s takes no value", cmd, name);
	else
		sm_cli_log(SM_LOG_ERROR, "%s: unknown option %s (smartmeter %s --help lists them)", cmd, name, cmd);
}
