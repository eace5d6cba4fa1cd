/*
 * mh_fail: survives the loss of a host.  argv[1] names the host that will
 * fail, argv[2] a host that stays.  Spawns a child on the first, watches
 * it (PvmTaskExit) and its host (PvmHostDelete), prints "ready" and waits
 * (bounded) for both notices once the test has broken the host; then checks
 * the machine carries on: the host is gone from pvm_config, the child is
 * PvmNoTask, a message to it is dropped cleanly, and a task on the staying
 * host answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_ANSWER 11
#define TAG_EXIT 21
#define TAG_HOSTDEL 22

static int child(void)
{
	int me = pvm_mytid();
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&me, 1, 1);
	pvm_send(pvm_parent(), TAG_ANSWER);
	/* Waits for a message that never comes; returns when the daemon is gone. */
	pvm_recv(-1, 99);
	pvm_exit();
	return 0;
}

static int host_tid_of(const char *name, int *nhost_out)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	if (pvm_config(&nhost, &narch, &hp) < 0)
		return -1;
	*nhost_out = nhost;
	for (int i = 0; i < nhost; i++)
		if (strcmp(hp[i].hi_name, name) == 0)
			return hp[i].hi_tid;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc < 3) {
		fprintf(stderr, "usage: mh_fail failing-host staying-host\n");
		return 2;
	}
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *args[] = { "child", NULL };
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int nhost = 0;
	int victim = host_tid_of(argv[1], &nhost);
	CHECK_CMP(victim, >, 0, "the failing host is in the machine");
	int tid = 0;
	CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, argv[1], 1, &tid), 1, "child on the failing host");
	CHECK_CMP(pvm_trecv(tid, TAG_ANSWER, &(struct timeval){ 20, 0 }), >, 0, "child answered");
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &tid), 0, "notify TaskExit of the child");
	CHECK_INT(pvm_notify(PvmHostDelete, TAG_HOSTDEL, 1, &victim), 0, "notify HostDelete of its host");
	printf("ready\n");
	fflush(stdout);
	int got_exit = 0, got_del = 0;
	for (int i = 0; i < 4 && !(got_exit && got_del); i++) {
		int bufid = pvm_trecv(-1, -1, &(struct timeval){ 30, 0 });
		if (bufid <= 0)
			break;
		int bytes, tag, src, who = 0;
		pvm_bufinfo(bufid, &bytes, &tag, &src);
		pvm_upkint(&who, 1, 1);
		if (tag == TAG_EXIT && who == tid)
			got_exit = 1;
		if (tag == TAG_HOSTDEL && who == victim)
			got_del = 1;
		printf("# notice tag %d about t%x\n", tag, who);
	}
	printf("notified\n");
	fflush(stdout);
	CHECK(got_exit, "PvmTaskExit for the child on the failed host");
	CHECK(got_del, "PvmHostDelete for the failed host");
	int now = 0;
	CHECK_INT(host_tid_of(argv[1], &now), 0, "the failed host left pvm_config");
	CHECK_INT(now, nhost - 1, "one host fewer");
	CHECK_INT(pvm_pstat(tid), PvmNoTask, "the child counts as exited");
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_send(tid, 5), 0, "a message to it is dropped, not an error");
	int t2 = 0;
	CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, argv[2], 1, &t2), 1, "spawn on a staying host");
	CHECK_CMP(pvm_trecv(t2, TAG_ANSWER, &(struct timeval){ 20, 0 }), >, 0, "it answers");
	pvm_kill(t2);
	pvm_exit();
	return check_done();
}
