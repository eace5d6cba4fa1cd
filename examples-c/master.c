/*
 * master.c - master/slave demo: start workers (3 per host, or the number
 * given as argv[1]), hand each one a slice of 1..N, collect the partial
 * sums and check the total against N(N+1)/2.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pvm3.h"

#define MAXWORKERS 32
#define N 1000
#define TAG_WORK 1
#define TAG_RESULT 2

int main(int argc, char **argv)
{
	int tids[MAXWORKERS], data[N];
	int nhost = 0, narch = 0, nwork, started, i, lo, count;
	long total = 0, expected = (long)N * (N + 1) / 2;
	struct pvmhostinfo *hosts;

	if (pvm_mytid() < 0) {
		pvm_perror("master");
		return 1;
	}
	pvm_config(&nhost, &narch, &hosts);
	nwork = argc > 1 ? atoi(argv[1]) : nhost * 3;
	if (nwork < 1)
		nwork = 1;
	if (nwork > MAXWORKERS)
		nwork = MAXWORKERS;

	printf("master: starting %d workers\n", nwork);
	started = pvm_spawn("slave", NULL, PvmTaskDefault, "", nwork, tids);
	if (started < nwork) {
		printf("master: only %d of %d workers started:", started, nwork);
		for (i = started; i < nwork; i++)
			printf(" %d", tids[i]);
		printf("\n");
		for (i = 0; i < started; i++)
			pvm_kill(tids[i]);
		pvm_exit();
		return 1;
	}

	for (i = 0; i < N; i++)
		data[i] = i + 1;

	/* worker i gets the slice [lo, lo + count) */
	for (i = 0; i < nwork; i++) {
		lo = (int)((long)N * i / nwork);
		count = (int)((long)N * (i + 1) / nwork) - lo;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_pkint(&count, 1, 1);
		pvm_pkint(data + lo, count, 1);
		pvm_send(tids[i], TAG_WORK);
	}

	for (i = 0; i < nwork; i++) {
		int who = -1;
		long part = 0;
		pvm_recv(-1, TAG_RESULT);
		pvm_upkint(&who, 1, 1);
		pvm_upklong(&part, 1, 1);
		printf("master: worker %d (t%x) sum %ld\n", who,
			who >= 0 && who < nwork ? tids[who] : 0, part);
		total += part;
	}
	printf("master: total %ld (expected %ld) %s\n", total, expected,
		total == expected ? "OK" : "WRONG");

	pvm_exit();
	return total == expected ? 0 : 1;
}
