/*
 * gbench.c - barrier and reduce latency of dynamic groups (not a test).
 * Usage: gbench <ntasks> <rounds>. Instance 0 spawns ntasks-1 copies of
 * itself; all join "gbench", then time `rounds` pvm_barrier(-1) calls and
 * `rounds` pvm_reduce(PvmSum, one int) calls followed by a barrier. The
 * root prints "ntasks barrier_us reduce_us" (mean per call).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
	int n, rounds, inst, i, v, tids[64];
	double t0, tb, tr;
	char *args[3], nbuf[16], rbuf[16];
	const char *self = strrchr(argv[0], '/');

	if (argc < 3)
		return 2;
	n = atoi(argv[1]);
	rounds = atoi(argv[2]);
	if (n < 1 || n > 64 || rounds < 1)
		return 2;
	inst = pvm_joingroup("gbench");
	if (inst < 0)
		return 1;
	if (inst == 0 && pvm_parent() < 0 && n > 1) {
		snprintf(nbuf, sizeof nbuf, "%d", n);
		snprintf(rbuf, sizeof rbuf, "%d", rounds);
		args[0] = nbuf;
		args[1] = rbuf;
		args[2] = NULL;
		if (pvm_spawn((char *)(self ? self + 1 : argv[0]), args, PvmTaskDefault, "", n - 1, tids) != n - 1)
			return 1;
	}
	while (pvm_gsize("gbench") < n)
		;
	pvm_barrier("gbench", n);
	t0 = now();
	for (i = 0; i < rounds; i++)
		pvm_barrier("gbench", n);
	tb = (now() - t0) / rounds;
	t0 = now();
	for (i = 0; i < rounds; i++) {
		v = inst;
		pvm_reduce(PvmSum, &v, 1, PVM_INT, 1000 + (i & 1023), "gbench", 0);
		pvm_barrier("gbench", n);
	}
	tr = (now() - t0) / rounds - tb;
	if (inst == 0)
		printf("%d %.1f %.1f\n", n, tb * 1e6, tr * 1e6);
	pvm_barrier("gbench", n);
	pvm_lvgroup("gbench");
	pvm_exit();
	return 0;
}
