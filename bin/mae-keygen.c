/* mae-keygen: the CURVE keys of a run whose stages talk over tcp:// (mae(7), SECURITY). */
#include "mae/stream/curve.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] =
	"usage: mae-keygen [-q] [--client NAME] DIR\n"
	"  DIR            make a run's keys there: server.key/.pub, client.key/.pub, clients.pub\n"
	"  --client NAME  add a client pair NAME.key/.pub and list NAME.pub in clients.pub\n"
	"Use: MAE_CURVE=DIR in every process (the launcher: 'curve DIR'); keys are never overwritten.\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"client", 1, 0, 'c'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *client = NULL;
	int quiet = 0, opt;
	char err[1300];
	mae_setprog(argv[0]);
	while ((opt = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q': quiet = 1; break;
		case 'c': client = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (argc - optind != 1)
		mae_usage_error(usage, "one directory");
	if (mae_curve_keygen(argv[optind], client, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	if (!quiet)
		fprintf(stderr, "mae-keygen: %s/%s.key and .pub%s\n", argv[optind], client ? client : "server, client",
		        client ? ", listed in clients.pub" : ", clients.pub");
	return 0;
}
