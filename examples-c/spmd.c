/*
 * spmd.c - single program, many copies: the copy started by hand spawns
 * NPROC-1 more of itself; all of them learn the group from pvm_siblings()
 * (the starter adds itself in front) and pass a token around the ring.
 * Each spawned task adds one to the token if its pvm_siblings() list matches
 * the ring, so the token returns to the starter as NPROC.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pvm3.h"

#define NPROC 4
#define TAG_TIDS 1
#define TAG_TOKEN 2

int main(int argc, char **argv)
{
	int ring[NPROC], nring, me, i, token, sib_ok = 0;
	int mytid = pvm_mytid();

	(void)argc;
	if (mytid < 0) {
		pvm_perror("spmd");
		return 1;
	}
	if (pvm_parent() == PvmNoParent) {
		/* the starter: spawn the others and tell them the whole ring */
		const char *name = argv[0];
		const char *slash;
		for (slash = name; *slash; slash++)
			if (*slash == '/')
				name = slash + 1;
		ring[0] = mytid;
		nring = 1 + pvm_spawn((char *)name, NULL, PvmTaskDefault, "", NPROC - 1, ring + 1);
		if (nring != NPROC) {
			printf("spmd: could only start %d of %d tasks\n", nring - 1, NPROC - 1);
			for (i = 1; i < nring; i++)
				pvm_kill(ring[i]);
			pvm_exit();
			return 1;
		}
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&nring, 1, 1);
		pvm_pkint(ring, nring, 1);
		pvm_mcast(ring + 1, nring - 1, TAG_TIDS);
		printf("spmd: ring of %d tasks:", nring);
		for (i = 0; i < nring; i++)
			printf(" t%x ->", ring[i]);
		printf(" t%x\n", ring[0]);
		me = 0;
	} else {
		int *sibs = NULL;
		int nsib = pvm_siblings(&sibs);
		pvm_recv(pvm_parent(), TAG_TIDS);
		pvm_upkint(&nring, 1, 1);
		if (nring > NPROC)
			nring = NPROC;
		pvm_upkint(ring, nring, 1);
		/* the spawned copies are each other's siblings, in spawn order */
		sib_ok = nsib == nring - 1;
		for (i = 0; sib_ok && i < nsib; i++)
			sib_ok = sibs[i] == ring[i + 1];
		for (me = 0; me < nring && ring[me] != mytid; me++)
			;
	}

	if (me == 0) {
		token = 1;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&token, 1, 1);
		pvm_send(ring[1 % nring], TAG_TOKEN);
		pvm_recv(ring[nring - 1], TAG_TOKEN);
		pvm_upkint(&token, 1, 1);
		printf("spmd: token ring done, token %d (expected %d)\n", token, nring);
	} else {
		pvm_recv(ring[me - 1], TAG_TOKEN);
		pvm_upkint(&token, 1, 1);
		token += sib_ok;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&token, 1, 1);
		pvm_send(ring[(me + 1) % nring], TAG_TOKEN);
	}

	pvm_exit();
	return me == 0 && token != nring ? 1 : 0;
}
