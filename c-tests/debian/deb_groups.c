/*
 * deb_groups.c - built against Debian's pvm3.h and linked with Debian's
 * libgpvm3.so.3 in front of pvm6's libpvm3.so.3 (tests/debian_libs.rs):
 * the group calls go to Debian's group server pvmgs over pvm6's messages.
 * The first copy spawns three more; all join "deb", meet in a barrier,
 * instance 0 broadcasts 4242, the sum of (instance + 1) is reduced to
 * instance 0, and every member reports what it saw to the first copy.
 */
#include <stdio.h>
#include <string.h>
#include "pvm3.h"

#define N 4

int main(int argc, char **argv)
{
	int me = pvm_mytid(), tids[N], inst, size, v = 0, sum, i, ntask;
	int rep[5], all[N][5], served = 0, starter;
	struct pvmtaskinfo *ti;

	(void)argc;
	if (me < 0)
		return 2;
	if (pvm_parent() == PvmNoParent
	    && pvm_spawn(argv[0], NULL, PvmTaskDefault, "", N - 1, tids) != N - 1) {
		printf("spawn failed\n");
		pvm_exit();
		return 1;
	}
	starter = pvm_parent() == PvmNoParent ? me : pvm_parent();
	memset(all, -1, sizeof all);
	inst = pvm_joingroup("deb");
	if (inst < 0 || pvm_barrier("deb", N) < 0) {
		printf("join/barrier failed: %d\n", inst);
		pvm_exit();
		return 1;
	}
	size = pvm_gsize("deb");
	if (inst == 0) {
		v = 4242;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_bcast("deb", 7);
	} else {
		pvm_recv(-1, 7);
		pvm_upkint(&v, 1, 1);
	}
	sum = inst + 1;
	if (pvm_reduce(PvmSum, &sum, 1, PVM_INT, 8, "deb", 0) < 0)
		printf("reduce failed\n");
	rep[0] = inst;
	rep[1] = size;
	rep[2] = v;
	rep[3] = pvm_getinst("deb", me) == inst && pvm_gettid("deb", inst) == me;
	rep[4] = inst == 0 ? sum : -1;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(rep, 5, 1);
	pvm_send(starter, 9);
	if (me == starter) {
		for (i = 0; i < N; i++) {
			pvm_recv(-1, 9);
			pvm_upkint(rep, 5, 1);
			if (rep[0] >= 0 && rep[0] < N)
				memcpy(all[rep[0]], rep, sizeof rep);
		}
		for (i = 0; i < N; i++)
			printf("member: inst %d size %d bcast %d lookup %s\n", all[i][0],
			       all[i][1], all[i][2], all[i][3] ? "ok" : "bad");
		printf("sum at instance 0: %d\n", all[0][4]);
		if (pvm_tasks(0, &ntask, &ti) == 0)
			for (i = 0; i < ntask; i++)
				if (strcmp(ti[i].ti_a_out, "pvmgs") == 0)
					served = 1;
		printf("served by pvmgs: %s\n", served ? "yes" : "no");
	}
	pvm_barrier("deb", N);
	pvm_lvgroup("deb");
	pvm_exit();
	return 0;
}
