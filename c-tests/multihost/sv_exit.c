/*
 * sv_exit: a task that exits while the successor's claim waits for its
 * majority (tests/survive_claim.rs).
 *
 *   sv_exit <child-host>
 *
 * This task and a child on <child-host> join the group "sve"; this task
 * watches the child (PvmTaskExit) and prints "ready". The test then cuts
 * the master off and kills the child while the claim waits. Once the
 * notice came ("notified") and pvm_config lists 3 hosts (the master
 * removed by the new one), the group has this task alone. TAP lines;
 * "<end>" last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_JOINED 1
#define TAG_EXIT 21

static int child_main(void)
{
	int ok = pvm_joingroup("sve") >= 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_send(pvm_parent(), TAG_JOINED);
	/* Until the test kills it. */
	pvm_recv(-1, 99);
	return 0;
}

static int nhosts(void)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	if (pvm_config(&nhost, &narch, &hp) < 0)
		return -1;
	return nhost;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-child") == 0)
		return child_main();
	if (argc < 2) {
		fprintf(stderr, "usage: sv_exit child-host\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *ca[] = { "-child", NULL };
	int child = 0, ok = 0;
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK_CMP(pvm_joingroup("sve"), >=, 0, "this task joined");
	CHECK_INT(pvm_spawn(prog, ca, PvmTaskHost, argv[1], 1, &child), 1, "child spawned");
	struct timeval tv = { 60, 0 };
	if (pvm_trecv(child, TAG_JOINED, &tv) > 0)
		pvm_upkint(&ok, 1, 1);
	CHECK(ok, "the child joined");
	CHECK_INT(pvm_gsize("sve"), 2, "two members before");
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &child), 0, "watching the child");
	printf("ready\n");

	int who = 0;
	tv.tv_sec = 200;
	if (pvm_trecv(-1, TAG_EXIT, &tv) > 0)
		pvm_upkint(&who, 1, 1);
	CHECK_INT(who, child, "PvmTaskExit of the child");
	printf("notified\n");
	for (int i = 0; i < 120 && nhosts() != 3; i++)
		sleep(1);
	CHECK_INT(nhosts(), 3, "pvm_config lists the three survivors");
	CHECK_INT(pvm_gsize("sve"), 1, "the child left the group");
	CHECK_INT(pvm_getinst("sve", child), PvmNotInGroup, "the child is no member");
	CHECK_INT(pvm_lvgroup("sve"), 0, "this task leaves");
	printf("<end>\n");
	pvm_exit();
	return check_done();
}
