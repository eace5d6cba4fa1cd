/*
 * mw_launch.c - the registered tracer is machine-wide (tests/tracing.rs
 * registered_tracer_is_machine_wide). Started from a shell on a host that
 * is not the tracer's:
 *   mw_launch run HOST HERE  prints its own trace destination, adds HOST
 *                       to the machine, spawns mw_child there and once on
 *                       HERE (its own host), and waits until both have
 *                       exited;
 *   mw_launch reg       tries to register as the tracer too (prints the
 *                       result: PvmAlready while another is registered);
 *   mw_launch check     prints its trace destination only.
 * Lines: "result <what> <value>".
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "pvm3.h"
#include "pvmtev.h"

int main(int argc, char **argv)
{
	int me = pvm_mytid();
	int tids[2] = {0, 0}, info, n;
	char *host;
	struct timeval tv = {30, 0};
	Pvmtmask m;

	if (me < 0 || argc < 2)
		return 1;
	printf("result mytid %d\n", me);
	printf("result trace %d\n", pvm_getopt(PvmSelfTraceTid));
	if (!strcmp(argv[1], "reg")) {
		TEV_MASK_INIT(m);
		printf("result reg %d\n", pvm_reg_tracer(0, 91, 0, 92, m, 0, 0));
	} else if (!strcmp(argv[1], "run") && argc > 3) {
		host = argv[2];
		n = pvm_addhosts(&host, 1, &info);
		printf("result added %d %d\n", n, info);
		n = pvm_spawn("mw_child", NULL, PvmTaskHost, host, 1, &tids[0]);
		printf("result remote %d %d\n", n, tids[0]);
		n = pvm_spawn("mw_child", NULL, PvmTaskHost, argv[3], 1, &tids[1]);
		printf("result local %d %d\n", n, tids[1]);
		pvm_notify(PvmTaskExit, 99, 2, tids);
		n = (pvm_trecv(-1, 99, &tv) > 0) + (pvm_trecv(-1, 99, &tv) > 0);
		printf("result exits %d\n", n);
	}
	fflush(stdout);
	pvm_exit();
	return 0;
}
