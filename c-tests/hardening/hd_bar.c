/*
 * hd_bar: a slave host deleted while its tasks wait in a barrier.
 *
 *   hd_bar DELETED-HOST STAYING-HOST
 *
 * Joins group "hd_bar" and spawns two members on the host to delete and
 * one on the staying host; they join and call pvm_barrier("hd_bar", 4),
 * which cannot complete (this task never calls it).  Once all three wait,
 * pvm_delhosts removes the first host: the staying member's barrier must
 * fail with an error (PvmNoInst: too few members left) within 20 s, not
 * hang, and the group must have two members left (this task and it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define GROUP "hd_bar"
#define TAG_JOINED 1
#define TAG_RESULT 2

static int member(void)
{
	int inst = pvm_joingroup(GROUP);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&inst, 1, 1);
	pvm_send(pvm_parent(), TAG_JOINED);
	int cc = pvm_barrier(GROUP, 4);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&cc, 1, 1);
	pvm_send(pvm_parent(), TAG_RESULT);
	pvm_lvgroup(GROUP);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "member") == 0)
		return member();
	if (argc < 3) {
		fprintf(stderr, "usage: hd_bar deleted-host staying-host\n");
		return 2;
	}
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *margs[] = { "member", NULL };
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK_CMP(pvm_joingroup(GROUP), >=, 0, "joined the group");
	int del[2] = { 0, 0 }, stay = 0;
	CHECK_INT(pvm_spawn(prog, margs, PvmTaskHost, argv[1], 2, del), 2, "two members on the host to delete");
	CHECK_INT(pvm_spawn(prog, margs, PvmTaskHost, argv[2], 1, &stay), 1, "one member on the staying host");
	struct timeval tmo = { 20, 0 };
	for (int i = 0; i < 3; i++)
		CHECK_CMP(pvm_trecv(-1, TAG_JOINED, &tmo), >, 0, "a member joined");
	CHECK_INT(pvm_gsize(GROUP), 4, "four members");
	/* Give the barrier calls time to reach the group service. */
	sleep(1);
	CHECK_INT(pvm_nrecv(-1, TAG_RESULT), 0, "nobody passed the barrier");
	int info = 0;
	char *names[] = { argv[1] };
	CHECK_INT(pvm_delhosts(names, 1, &info), 1, "host deleted");
	printf("deleted\n");
	int cc = 1;
	int b = pvm_trecv(stay, TAG_RESULT, &tmo);
	CHECK_CMP(b, >, 0, "the staying member's barrier returned (no hang)");
	if (b > 0)
		pvm_upkint(&cc, 1, 1);
	printf("# barrier returned %d\n", cc);
	CHECK_INT(cc, PvmNoInst, "with PvmNoInst (too few members left)");
	sleep(1);
	CHECK_INT(pvm_gsize(GROUP), 1, "only this task is left in the group");
	pvm_lvgroup(GROUP);
	pvm_exit();
	return check_done();
}
