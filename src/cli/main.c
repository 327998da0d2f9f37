#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "proto.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  smartmeter read     [-c FILE] [--format json|influx|text] [--trigger none|stdin]\n"
		"  smartmeter read     -p PROTOCOL -d DEVICE [--name NAME] [meter options]\n"
		"  smartmeter decode   -p PROTOCOL [--hex] [--format ...] [meter options] [FILE|-]\n"
		"  smartmeter probe    DEVICE\n"
		"  smartmeter simulate -p PROTOCOL [--fixture FILE] [--link PATH] [--period SECONDS]\n"
		"  smartmeter --version | --help | <command> --help\n"
		"\n"
		"Reads utility meters (protocols: %s) and prints their readings as JSON lines,\n"
		"influx line protocol or a table.  See smartmeter(1) and collectd-smartmeter(5).\n",
		sm_proto_names());
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return SM_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return SM_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("smartmeter %s\n", sm_version());
		return SM_EXIT_OK;
	}
	if (strcmp(cmd, "read") == 0)
		return sm_cmd_read(argc - 1, argv + 1);
	if (strcmp(cmd, "decode") == 0)
		return sm_cmd_decode(argc - 1, argv + 1);
	if (strcmp(cmd, "simulate") == 0)
		return sm_cmd_simulate(argc - 1, argv + 1);
	if (strcmp(cmd, "probe") == 0)
		return sm_cmd_probe(argc - 1, argv + 1);
	fprintf(stderr, "E! unknown command \"%s\"\n", cmd);
	usage(stderr);
	return SM_EXIT_USAGE;
}
