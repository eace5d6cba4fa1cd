/*
 * t_rm.c - pvm_reg_rm: this program registers as the resource manager and
 * checks the notifications its daemon sends it (measured against PVM
 * 3.4.6): a task that enrolls on its own is announced with SM_EXECACK
 * (count 1, tid) and every task that leaves with SM_TASKX (tid, status,
 * 4 ints of times), both from t80000000.
 *
 * Roles (a started copy learns its role from argv[1]):
 *   enroll  - started by fork/exec (not spawned): enrolls, waits, exits;
 *   child   - spawned by the manager: enrolls and exits.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define SM_FIRST ((int)0x80040001)
#define SM_EXECACK (SM_FIRST + 2)
#define SM_TASKX (SM_FIRST + 10)

static int wait_msg(int tag, int secs)
{
	struct timeval tmo = { secs, 0 };
	return pvm_trecv(-1, tag, &tmo);
}

static int short_role(void)
{
	if (pvm_mytid() <= 0)
		return 1;
	usleep(200000);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	struct pvmhostinfo *hip = NULL;
	int me, bufid, bytes, tag, src, v[6], child = 0;
	pid_t pid;

	if (argc > 1 && (strcmp(argv[1], "enroll") == 0 || strcmp(argv[1], "child") == 0))
		return short_role();

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	CHECK_INT(pvm_setopt(PvmResvTids, 1), 0, "PvmResvTids allows the SM_ tags");
	CHECK_INT(pvm_reg_rm(&hip), 0, "pvm_reg_rm");
	CHECK(hip != NULL && hip->hi_tid == pvm_tidtohost(me), "the master host comes back");

	/* A task that enrolls by itself. */
	pid = fork();
	if (pid == 0) {
		execl(argv[0], argv[0], "enroll", (char *)NULL);
		_exit(127);
	}
	CHECK_CMP(pid, >, 0, "fork");
	bufid = wait_msg(SM_EXECACK, 20);
	CHECK_CMP(bufid, >, 0, "SM_EXECACK for the enrolled task");
	if (bufid > 0) {
		pvm_bufinfo(bufid, &bytes, &tag, &src);
		CHECK(src == (int)0x80000000u, "from t80000000");
		CHECK_INT(bytes, 8, "two ints");
		pvm_upkint(v, 2, 1);
		CHECK_INT(v[0], 1, "count 1");
		CHECK(v[1] > 0 && v[1] != me && pvm_tidtohost(v[1]) == pvm_tidtohost(me),
		      "a task of this host");
		child = v[1];
	}
	bufid = wait_msg(SM_TASKX, 20);
	CHECK_CMP(bufid, >, 0, "SM_TASKX when it leaves");
	if (bufid > 0) {
		pvm_bufinfo(bufid, &bytes, &tag, &src);
		CHECK(src == (int)0x80000000u, "from t80000000");
		CHECK_INT(bytes, 24, "six ints");
		pvm_upkint(v, 6, 1);
		CHECK_INT(v[0], child, "names the task");
		CHECK_INT(v[1], 0, "status 0");
	}
	if (pid > 0) {
		int st = -1;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the enrolled task ran");
	}

	/* A task the manager spawns leaves: SM_TASKX too. */
	{
		char *args[] = { "child", NULL };
		int n = pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &child);
		CHECK_INT(n, 1, "spawn");
	}
	for (int i = 0; i < 5; i++) {
		bufid = wait_msg(SM_TASKX, 20);
		if (bufid <= 0)
			break;
		pvm_upkint(v, 6, 1);
		if (v[0] == child)
			break;
	}
	CHECK_CMP(bufid, >, 0, "SM_TASKX for the spawned task");
	CHECK_INT(v[0], child, "names the spawned task");
	pvm_exit();
	return check_done();
}
