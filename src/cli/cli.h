/*
 * cli.h - shared pieces of the smartmeter program's commands.
 *
 * The program's stdout carries only data (whole lines, flushed per frame);
 * diagnostics go to stderr with Telegraf's prefixes "E! ", "W! ", "I! ".
 */
#ifndef SM_CLI_H
#define SM_CLI_H

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include "config.h"
#include "format.h"
#include "reader.h"

/* Exit codes of decode (SPEC.md section 7) and of the other commands. */
#define SM_EXIT_OK 0
#define SM_EXIT_NONE 1  /* decode: no frame decoded; other commands: runtime failure */
#define SM_EXIT_USAGE 2

int sm_cmd_read(int argc, char **argv);
int sm_cmd_decode(int argc, char **argv);
int sm_cmd_simulate(int argc, char **argv);
int sm_cmd_probe(int argc, char **argv);

/* stderr diagnostics: one line with the prefix of the level. */
void sm_cli_log(enum sm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long returned c ('?' unknown option, ':' missing value; the
 * option strings start with ':' and opterr is 0): log it ourselves, never
 * echoing text that looks like key digits. */
void sm_cli_option_error(const char *cmd, int c, int argc, char **argv);
/* struct sm_log callback writing to stderr. */
void sm_cli_log_cb(void *ctx, enum sm_log_level level, const char *msg);

/* --format ARG: 0, or -1 after printing the error. */
int sm_cli_format_opt(const char *arg, enum sm_format *out);

/* ---- meter flags: every <Meter> option as --flag (config.h's table) ---- */
/* Number of long options the meter table contributes. */
size_t sm_cli_meter_optcount(void);
/* Fill opts[0..count) with the meter options; their val is SM_CLI_METER_OPT + index. */
#define SM_CLI_METER_OPT 1000
void sm_cli_meter_opts(struct option *opts);
/* Print the meter flags for --help. */
void sm_cli_meter_help(FILE *f);

/* A command's output: whole frames are formatted into a buffer and written
 * with one write under a mutex, then flushed. */
struct sm_out {
	pthread_mutex_t mu;
	enum sm_format format;
	FILE *f;
	int64_t window_ms; /* meter-time plausibility window (0 = accept any) */
	bool failed;       /* stdout broke (EPIPE) */
	char *storage;     /* one set's lines, reused (under mu); NULL: out of memory */
};
void sm_out_init(struct sm_out *o, FILE *f, enum sm_format format, int64_t window_ms);
void sm_out_destroy(struct sm_out *o);
/* Print every reading of the set that passes m's Select list.  Returns the
 * number of readings printed. */
size_t sm_out_emit(struct sm_out *o, const struct sm_meter_cfg *m, const struct sm_reading_set *s,
		   int64_t rx_ms);

/* Read a whole file ("-" = stdin) into a malloc'd buffer (cap max bytes).
 * Returns 0 or -1 with errno-style text in err. */
int sm_read_file(const char *path, size_t max, unsigned char **out, size_t *outlen, char *err, size_t errlen);

#endif
