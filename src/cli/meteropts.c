#include <stdlib.h>
#include <string.h>
#include "meteropts.h"

void sm_cli_opts_init(struct sm_cli_opts *o, const struct option *cmd_opts, size_t ncmd)
{
	size_t nmeter = sm_cli_meter_optcount();
	o->n = ncmd + nmeter;
	o->opts = calloc(o->n + 1, sizeof *o->opts);
	if (o->opts == NULL)
		abort();
	memcpy(o->opts, cmd_opts, ncmd * sizeof *cmd_opts);
	sm_cli_meter_opts(o->opts + ncmd);
}

void sm_cli_opts_free(struct sm_cli_opts *o)
{
	free(o->opts);
	o->opts = NULL;
}

int sm_cli_meter_flag(struct sm_meter_cfg *m, int val, const char *arg)
{
	char err[512];
	const struct sm_option_desc *d = &sm_meter_options[val - SM_CLI_METER_OPT];
	if (sm_meter_set_flag(m, d->flag, arg, err, sizeof err) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		return -1;
	}
	return 0;
}

int sm_cli_short_flag(struct sm_meter_cfg *m, int c, const char *arg)
{
	char err[512];
	const char *flag = c == 'p' ? "protocol" : "device";
	if (sm_meter_set_flag(m, flag, arg, err, sizeof err) != SM_OK) {
		sm_cli_log(SM_LOG_ERROR, "%s", err);
		return -1;
	}
	return 0;
}

const char *sm_cli_prescan_name(int argc, char **argv, const char *dflt)
{
	const char *name = dflt;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strncmp(argv[i], "--name=", 7) == 0)
			name = argv[i] + 7;
	}
	return name;
}
