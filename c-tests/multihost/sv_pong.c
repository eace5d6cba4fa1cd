/*
 * sv_pong: ping-pong pairs across hosts that must lose nothing while a
 * daemon stalls or dies (tests/survive.rs).
 *
 *   sv_pong <stopfile> <hostA> <hostB> [<hostA> <hostB> ...]
 *
 * For each pair the parent spawns a pinger on hostA and a ponger on hostB.
 * The pinger sends windows of WINDOW numbered messages to the ponger, which
 * echoes each; the pinger checks every echo arrives once and in order, until
 * <stopfile> exists. The parent prints "ready" once every pair has done a few
 * rounds, then for each pair "pair I: N rounds, E errors", then the hosts of
 * pvm_config ("hosts N" and "host NAME"), and TAP lines for the checks.
 * Waits are bounded (a receive waits up to 90 s, longer than any stall a
 * test makes and shorter than the test's own limit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PEER 1
#define TAG_PING 2
#define TAG_PONG 3
#define TAG_DONE 4
#define TAG_STARTED 5
#define TAG_RESULT 6
#define WINDOW 4
#define WAIT_S 90

static struct timeval wait_tv(void)
{
	struct timeval tv = { WAIT_S, 0 };
	return tv;
}

static int ponger(void)
{
	for (;;) {
		struct timeval tv = wait_tv();
		int bufid = pvm_trecv(-1, -1, &tv);
		if (bufid <= 0)
			break;
		int len, tag, src;
		pvm_bufinfo(bufid, &len, &tag, &src);
		if (tag == TAG_DONE)
			break;
		if (tag != TAG_PING)
			continue;
		int seq;
		pvm_upkint(&seq, 1, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&seq, 1, 1);
		pvm_send(src, TAG_PONG);
	}
	pvm_exit();
	return 0;
}

static int pinger(const char *stopfile)
{
	int parent = pvm_parent();
	struct timeval tv = wait_tv();
	int peer = 0;
	if (pvm_trecv(parent, TAG_PEER, &tv) > 0)
		pvm_upkint(&peer, 1, 1);
	int seq = 0, rounds = 0, errors = 0, started = 0;
	while (peer > 0 && access(stopfile, F_OK) != 0) {
		for (int i = 0; i < WINDOW; i++) {
			int s = seq + i;
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&s, 1, 1);
			if (pvm_send(peer, TAG_PING) < 0)
				errors++;
		}
		for (int i = 0; i < WINDOW; i++) {
			tv = wait_tv();
			int got = -1;
			if (pvm_trecv(peer, TAG_PONG, &tv) <= 0) {
				errors++;
				fprintf(stderr, "sv_pong: no echo of %d\n", seq + i);
				peer = 0;
				break;
			}
			pvm_upkint(&got, 1, 1);
			if (got != seq + i) {
				errors++;
				fprintf(stderr, "sv_pong: echo %d, expected %d\n", got, seq + i);
			}
		}
		seq += WINDOW;
		rounds++;
		if (rounds == 10 && !started) {
			started = 1;
			pvm_initsend(PvmDataDefault);
			pvm_send(parent, TAG_STARTED);
		}
	}
	if (peer > 0) {
		pvm_initsend(PvmDataDefault);
		pvm_send(peer, TAG_DONE);
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&rounds, 1, 1);
	pvm_pkint(&errors, 1, 1);
	pvm_send(parent, TAG_RESULT);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-ponger") == 0)
		return ponger();
	if (argc > 2 && strcmp(argv[1], "-pinger") == 0)
		return pinger(argv[2]);
	if (argc < 4 || (argc - 2) % 2 != 0) {
		fprintf(stderr, "usage: sv_pong stopfile hostA hostB [hostA hostB ...]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *stopfile = argv[1];
	int npairs = (argc - 2) / 2;
	int pingers[16], pongers[16];
	CHECK_CMP(npairs, <=, 16, "at most 16 pairs");
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	for (int i = 0; i < npairs; i++) {
		char *pa[] = { "-pinger", (char *)stopfile, NULL };
		char *po[] = { "-ponger", NULL };
		CHECK_CMP(pvm_spawn(prog, po, PvmTaskHost, argv[3 + 2 * i], 1, &pongers[i]), ==, 1,
			  "ponger spawned");
		CHECK_CMP(pvm_spawn(prog, pa, PvmTaskHost, argv[2 + 2 * i], 1, &pingers[i]), ==, 1,
			  "pinger spawned");
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&pongers[i], 1, 1);
		pvm_send(pingers[i], TAG_PEER);
	}
	for (int i = 0; i < npairs; i++) {
		struct timeval tv = wait_tv();
		CHECK_CMP(pvm_trecv(pingers[i], TAG_STARTED, &tv), >, 0, "pair started");
	}
	printf("ready\n");
	int all_ok = 1;
	for (int i = 0; i < npairs; i++) {
		/* Waits for the stop file plus the last window. */
		struct timeval tv = { 300, 0 };
		int rounds = -1, errors = -1;
		if (pvm_trecv(pingers[i], TAG_RESULT, &tv) > 0) {
			pvm_upkint(&rounds, 1, 1);
			pvm_upkint(&errors, 1, 1);
		}
		printf("pair %d: %d rounds, %d errors\n", i, rounds, errors);
		if (rounds <= 10 || errors != 0)
			all_ok = 0;
	}
	CHECK(all_ok, "every pair went on without a loss");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_CMP(pvm_config(&nhost, &narch, &hp), ==, 0, "pvm_config");
	printf("hosts %d\n", nhost);
	for (int i = 0; i < nhost; i++)
		printf("host %s\n", hp[i].hi_name);
	printf("<end>\n");
	pvm_exit();
	return check_done();
}
