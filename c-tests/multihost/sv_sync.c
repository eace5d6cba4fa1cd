/*
 * sv_sync: a barrier and a freeze in progress when the master dies
 * (tests/survive_sync.rs; docs/PROTOCOL.md "Succession").
 *
 *   sv_sync <member-host> <go-file>
 *
 * Run on a slave. Two members are spawned on <member-host>: W joins
 * "svs-b" and waits in pvm_barrier("svs-b", -1); F joins "svs-b" and
 * "svs-f" and waits in pvm_freezegroup("svs-f", -1). This task joins both
 * and prints "waiting" once both have called (a second after they said
 * they would). Then, once <go-file> exists (the test has stopped the
 * successor's daemon), it prints "arriving" and calls
 * pvm_freezegroup("svs-f", -1), which completes the freeze at the master
 * (whose release and reply wait for the stopped successor; the test kills
 * the master meanwhile): the call and F's return 2 once the new master has
 * served the request again. Then F and this task arrive at the barrier:
 * every member leaves it once with 0; W goes straight into a second
 * barrier, which must not let it through before the others come (no stale
 * release). TAP lines; "<end>" last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define BAR "svs-b"
#define FRZ "svs-f"
#define TAG_JOINED 1
#define TAG_GO 2
#define TAG_ENTERING 3
#define TAG_FROZEN 4
#define TAG_DONE 5
#define TAG_GO2 6
#define TAG_DONE2 7
#define TAG_LEAVE 8

static void say(int tag, int v)
{
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	pvm_send(pvm_parent(), tag);
}

/* The int task `tid` sends with `tag` within `secs` (`none` if nothing). */
static int hear(int tid, int tag, int secs, int none)
{
	struct timeval tv = { secs, 0 };
	int v = none;
	if (pvm_trecv(tid, tag, &tv) > 0)
		pvm_upkint(&v, 1, 1);
	return v;
}

static int waiter(void)
{
	say(TAG_JOINED, pvm_joingroup(BAR));
	if (hear(pvm_parent(), TAG_GO, 200, -1) < 0)
		return 1;
	say(TAG_ENTERING, 0);
	say(TAG_DONE, pvm_barrier(BAR, -1));
	/* Straight on: only all three may end this one. */
	say(TAG_DONE2, pvm_barrier(BAR, -1));
	hear(pvm_parent(), TAG_LEAVE, 60, 0);
	pvm_lvgroup(BAR);
	pvm_exit();
	return 0;
}

static int freezer(void)
{
	int a = pvm_joingroup(BAR);
	int b = pvm_joingroup(FRZ);
	say(TAG_JOINED, a < 0 ? a : b);
	if (hear(pvm_parent(), TAG_GO, 200, -1) < 0)
		return 1;
	say(TAG_ENTERING, 0);
	say(TAG_FROZEN, pvm_freezegroup(FRZ, -1));
	say(TAG_DONE, pvm_barrier(BAR, -1));
	if (hear(pvm_parent(), TAG_GO2, 200, -1) < 0)
		return 1;
	say(TAG_DONE2, pvm_barrier(BAR, -1));
	hear(pvm_parent(), TAG_LEAVE, 60, 0);
	pvm_lvgroup(BAR);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-waiter") == 0)
		return waiter();
	if (argc > 1 && strcmp(argv[1], "-freezer") == 0)
		return freezer();
	if (argc < 3) {
		fprintf(stderr, "usage: sv_sync member-host go-file\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *wa[] = { "-waiter", NULL };
	char *fa[] = { "-freezer", NULL };
	int w = 0, f = 0;
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK_CMP(pvm_spawn(prog, wa, PvmTaskHost, argv[1], 1, &w), ==, 1, "W spawned");
	CHECK_CMP(pvm_spawn(prog, fa, PvmTaskHost, argv[1], 1, &f), ==, 1, "F spawned");
	CHECK_CMP(hear(w, TAG_JOINED, 60, -1), >=, 0, "W joined");
	CHECK_CMP(hear(f, TAG_JOINED, 60, -1), >=, 0, "F joined");
	CHECK_CMP(pvm_joingroup(BAR), >=, 0, "this task joined " BAR);
	CHECK_CMP(pvm_joingroup(FRZ), >=, 0, "this task joined " FRZ);
	CHECK_INT(pvm_gsize(BAR), 3, BAR " has three members");
	CHECK_INT(pvm_gsize(FRZ), 2, FRZ " has two members");
	int go = 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&go, 1, 1);
	pvm_send(w, TAG_GO);
	pvm_send(f, TAG_GO);
	CHECK_INT(hear(w, TAG_ENTERING, 60, -1), 0, "W goes into the barrier");
	CHECK_INT(hear(f, TAG_ENTERING, 60, -1), 0, "F goes into the freeze");
	sleep(1);
	printf("waiting\n");
	int polls = 0;
	while (access(argv[2], F_OK) != 0 && polls++ < 1200)
		usleep(100000);
	printf("arriving\n");
	int size = pvm_freezegroup(FRZ, -1);
	printf("frozen %d\n", size);
	CHECK_INT(size, 2, "pvm_freezegroup returns the size, once served by the new master");
	CHECK_INT(hear(f, TAG_FROZEN, 60, -99), 2, "F leaves the freeze with the size");
	CHECK_INT(pvm_barrier(BAR, -1), 0, "this task leaves the barrier");
	CHECK_INT(hear(w, TAG_DONE, 60, -99), 0, "W, waiting since before the loss, leaves it with 0");
	CHECK_INT(hear(f, TAG_DONE, 60, -99), 0, "F leaves it with 0");
	/* W is in the second barrier already: nothing may let it through. */
	CHECK_INT(hear(w, TAG_DONE2, 3, -99), -99, "W still waits in the second barrier");
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&go, 1, 1);
	pvm_send(f, TAG_GO2);
	CHECK_INT(pvm_barrier(BAR, -1), 0, "the second barrier: this task");
	CHECK_INT(hear(w, TAG_DONE2, 60, -99), 0, "the second barrier: W");
	CHECK_INT(hear(f, TAG_DONE2, 60, -99), 0, "the second barrier: F");
	CHECK_INT(pvm_gsize(BAR), 3, BAR " still has three members");
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&go, 1, 1);
	pvm_send(w, TAG_LEAVE);
	pvm_send(f, TAG_LEAVE);
	pvm_lvgroup(BAR);
	pvm_exit();
	printf("<end>\n");
	return check_done();
}
