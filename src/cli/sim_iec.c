/*
 * sim_iec.c - a simulated IEC 62056-21 meter (not in this build yet).
 */
#include "cli.h"
#include "sim.h"

int sim_iec(const struct sim_opts *o)
{
	sm_cli_log(SM_LOG_ERROR, "simulate: protocol %s cannot be simulated by this build", o->proto);
	return SM_EXIT_USAGE;
}
