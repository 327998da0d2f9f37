/*
 * meteropts.h - getopt_long tables made of a command's own options plus
 * every <Meter> option as a flag (owned array; free with sm_cli_opts_free).
 */
#ifndef SM_CLI_METEROPTS_H
#define SM_CLI_METEROPTS_H

#include "cli.h"

struct sm_cli_opts {
	struct option *opts; /* cmd options, then meter options, then a zero entry */
	size_t n;
};

void sm_cli_opts_init(struct sm_cli_opts *o, const struct option *cmd_opts, size_t ncmd);
void sm_cli_opts_free(struct sm_cli_opts *o);
/* Apply a meter flag (getopt val >= SM_CLI_METER_OPT).  0, or -1 after
 * printing the error. */
int sm_cli_meter_flag(struct sm_meter_cfg *m, int val, const char *arg);
/* -p PROTOCOL / -d DEVICE. */
int sm_cli_short_flag(struct sm_meter_cfg *m, int c, const char *arg);

/* The value of --name NAME / --name=NAME in argv (the last one wins), or
 * dflt: the meter must exist before getopt applies its other flags. */
const char *sm_cli_prescan_name(int argc, char **argv, const char *dflt);

#endif
