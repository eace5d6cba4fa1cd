/*
 * timing.c - measure PVM message round trips and bandwidth against
 * timing_slave, which echoes every message back.  Prints one table line per
 * message size and ends with "done".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "pvm3.h"

#define REPS 20
#define TAG_ECHO 1
#define TAG_STOP 2

static long usec_since(const struct timeval *t0)
{
	struct timeval t1;
	gettimeofday(&t1, NULL);
	return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_usec - t0->tv_usec);
}

int main(void)
{
	static const int sizes[] = { 0, 100, 1000, 10000, 100000, 1000000 };
	int me, slave = 0, s, r, n;
	int *data;
	struct timeval t0;

	me = pvm_mytid();
	if (me < 0) {
		pvm_perror("timing");
		return 1;
	}
	printf("timing: i'm t%x\n", me);
	if (pvm_spawn("timing_slave", NULL, PvmTaskDefault, "", 1, &slave) != 1) {
		printf("timing: can't start timing_slave (code %d)\n", slave);
		pvm_exit();
		return 1;
	}
	printf("timing: slave is t%x\n", slave);

	data = calloc(1000000 / sizeof(int) + 1, sizeof(int));
	if (!data) {
		pvm_kill(slave);
		pvm_exit();
		return 1;
	}
	printf("%10s %8s %12s %10s\n", "bytes", "trips", "usec/trip", "MB/s");
	for (s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++) {
		long total;
		double mbs;
		n = sizes[s] / (int)sizeof(int);
		gettimeofday(&t0, NULL);
		for (r = 0; r < REPS; r++) {
			pvm_initsend(PvmDataRaw);
			pvm_pkint(data, n, 1);
			pvm_send(slave, TAG_ECHO);
			pvm_recv(slave, TAG_ECHO);
		}
		total = usec_since(&t0);
		if (total < 1)
			total = 1;
		mbs = 2.0 * REPS * (double)(n * (int)sizeof(int)) / (double)total;
		printf("%10d %8d %12ld %10.2f\n", n * (int)sizeof(int), REPS, total / REPS, mbs);
	}
	free(data);

	pvm_initsend(PvmDataDefault);
	pvm_send(slave, TAG_STOP);
	printf("timing: done\n");
	pvm_exit();
	return 0;
}
