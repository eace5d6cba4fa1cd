/*
 * mh_start: pvm_start_pvmd with a hostfile, as a program starts its own
 * machine.  argv[1] = block (0 or 1), argv[2] = the hostfile, argv[3] = the
 * number of hosts it makes.  With block the call returns once the hosts
 * are in: pvm_config at once lists them all.  Without it the call returns
 * as soon as the daemon listens; the first PVM call then waits for the
 * hosts, so pvm_config lists them too.  A second call says PvmDupHost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: mh_start block hostfile nhosts\n");
		return 2;
	}
	int block = atoi(argv[1]);
	int want = atoi(argv[3]);
	char *args[] = { "-d0x8", argv[2], NULL };
	pvm_setopt(PvmAutoErr, 0);
	double t0 = now();
	CHECK_INT(pvm_start_pvmd(2, args, block), 0, "pvm_start_pvmd with a hostfile");
	double t1 = now();
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	double t2 = now();
	CHECK_INT(nhost, want, "every host of the hostfile is in");
	printf("# start returned after %.3f s, pvm_config after %.3f s more\n", t1 - t0, t2 - t1);
	printf("result start_ms %d\n", (int)((t1 - t0) * 1000));
	printf("result config_ms %d\n", (int)((t2 - t1) * 1000));
	CHECK_INT(pvm_start_pvmd(2, args, block), PvmDupHost, "a second start: PvmDupHost");
	pvm_exit();
	return check_done();
}
