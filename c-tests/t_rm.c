/*
 * t_rm.c - pvm_reg_rm: this program registers as the resource manager and
 * checks the notifications its daemon sends it (measured against PVM
 * 3.4.6): a task that enrolls on its own is announced with SM_EXECACK
 * (count 1, tid) and every task that leaves with SM_TASKX (tid, status,
 * 4 ints of times), both from t80000000.
 *
 * Roles (a started copy learns its role from argv[1]):
 *   enroll  - started by fork/exec (not spawned): enrolls, waits, exits;
 *   child   - spawned by the manager: enrolls and exits;
 *   requester - spawned by the manager: its pvm_spawn goes to the manager
 *             as SM_SPAWN (file, flags, where, count, nargs, args, ...);
 *             the manager places one task by spawning it itself and
 *             answers SM_SPAWN (count, tids) with the request's wait id;
 *             the requester sends the manager what pvm_spawn returned;
 *   exit3   - spawned: pvm_exit, then exit(3): SM_TASKX carries the wait
 *             status 0x300 (the daemon reports it once the process is
 *             reaped), times 0 as PVM 3.4.6 sends them;
 *   exit5   - spawned: exit(5) without pvm_exit: status 0x500;
 *   second  - spawned: its pvm_reg_rm while the manager runs goes to the
 *             manager as SM_SCHED (empty, with a wait id); the manager's
 *             answer (status, then tid, name, arch, speed of a host) is
 *             what the call returns; the first answer is PvmDenied.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvm3.h"
#include "pvmproto.h"
#include "check.h"

static int short_role(void)
{
	if (pvm_mytid() <= 0)
		return 1;
	usleep(200000);
	pvm_exit();
	return 0;
}

static int requester_main(const char *prog)
{
	int tids[2] = { 0, 0 }, n, r[3];
	char *args[] = { "child", "two words", NULL };
	if (pvm_mytid() <= 0)
		return 1;
	n = pvm_spawn((char *)prog, args, PvmTaskHost, "placed-by-rm", 2, tids);
	r[0] = n;
	r[1] = tids[0];
	r[2] = tids[1];
	pvm_initsend(PvmDataDefault);
	pvm_pkint(r, 3, 1);
	pvm_send(pvm_parent(), 7);
	pvm_exit();
	return 0;
}

static int second_main(void)
{
	struct pvmhostinfo *hip = NULL;
	int r[6] = { 0, 0, 0, 0, 0, 0 };
	if (pvm_mytid() <= 0)
		return 1;
	r[0] = pvm_reg_rm(&hip);
	r[1] = pvm_reg_rm(&hip);
	if (r[1] == 0 && hip != NULL) {
		r[2] = hip->hi_tid;
		r[3] = hip->hi_speed;
		r[4] = strcmp(hip->hi_name, "somehost") == 0;
		r[5] = strcmp(hip->hi_arch, "ARCHX") == 0;
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(r, 6, 1);
	pvm_send(pvm_parent(), 8);
	pvm_exit();
	return 0;
}

/* Waits for the SM_TASKX naming task t (others are skipped); fills v. */
static int taskx_of(int t, int *v)
{
	for (int i = 0; i < 10; i++) {
		int bufid = wait_msg(-1, SM_TASKX, 20);
		if (bufid <= 0)
			return bufid;
		pvm_upkint(v, 6, 1);
		if (v[0] == t)
			return bufid;
	}
	return 0;
}

/* Answers the SM_SCHED in bufid with status st (and a host when 0). */
static int answer_sched(int bufid, int st)
{
	struct pvmminfo mi, m2;
	int sb, hostv[2] = { 0x1234, 777 };
	pvm_getminfo(bufid, &mi);
	sb = pvm_initsend(PvmDataDefault);
	pvm_pkint(&st, 1, 1);
	if (st == 0) {
		pvm_pkint(&hostv[0], 1, 1);
		pvm_pkstr("somehost");
		pvm_pkstr("ARCHX");
		pvm_pkint(&hostv[1], 1, 1);
	}
	pvm_getminfo(sb, &m2);
	m2.wid = mi.wid;
	pvm_setminfo(sb, &m2);
	return pvm_send(mi.src, SM_SCHED);
}

int main(int argc, char **argv)
{
	struct pvmhostinfo *hip = NULL;
	int me, bufid, bytes, tag, src, v[6], child = 0;
	pid_t pid;

	if (argc > 1 && (strcmp(argv[1], "enroll") == 0 || strcmp(argv[1], "child") == 0))
		return short_role();
	if (argc > 1 && strcmp(argv[1], "requester") == 0)
		return requester_main(check_basename(argv[0]));
	if (argc > 1 && strcmp(argv[1], "second") == 0)
		return second_main();
	if (argc > 1 && (strcmp(argv[1], "exit3") == 0 || strcmp(argv[1], "exit5") == 0)) {
		if (pvm_mytid() <= 0)
			return 1;
		if (argv[1][4] == '3') {
			pvm_exit();
			return 3;
		}
		return 5;
	}

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
	bufid = wait_msg(-1, SM_EXECACK, 20);
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
	bufid = wait_msg(-1, SM_TASKX, 20);
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
		bufid = wait_msg(-1, SM_TASKX, 20);
		if (bufid <= 0)
			break;
		pvm_upkint(v, 6, 1);
		if (v[0] == child)
			break;
	}
	CHECK_CMP(bufid, >, 0, "SM_TASKX for the spawned task");
	CHECK_INT(v[0], child, "names the spawned task");

	/* Another task's pvm_spawn comes to the manager as SM_SPAWN. */
	{
		char *args[] = { "requester", NULL };
		int req = 0, placed = 0, r[3] = { 0, 0, 0 };
		char s[256];
		struct pvmminfo mi;
		CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &req),
			  1, "requester spawned (the manager's own spawn is not redirected)");
		bufid = wait_msg(-1, SM_SPAWN, 20);
		CHECK_CMP(bufid, >, 0, "SM_SPAWN from the requester");
		if (bufid > 0) {
			pvm_getminfo(bufid, &mi);
			CHECK_INT(mi.src, req, "sent by the requesting task");
			CHECK_CMP(mi.wid, >, 0, "with a wait id");
			pvm_upkstr(s);
			CHECK(strcmp(s, check_basename(argv[0])) == 0, "file");
			pvm_upkint(v, 1, 1);
			CHECK_INT(v[0], PvmTaskHost, "flags");
			pvm_upkstr(s);
			CHECK(strcmp(s, "placed-by-rm") == 0, "where");
			pvm_upkint(v, 2, 1);
			CHECK_INT(v[0], 2, "count");
			CHECK_INT(v[1], 2, "nargs");
			pvm_upkstr(s);
			CHECK(strcmp(s, "child") == 0, "arg 1");
			pvm_upkstr(s);
			CHECK(strcmp(s, "two words") == 0, "arg 2");
			/* Place one task (here, by spawning it), refuse the other. */
			char *cargs[] = { "child", NULL };
			CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), cargs, PvmTaskDefault, "",
					    1, &placed), 1, "the manager starts the placed task");
			int sb = pvm_initsend(PvmDataDefault);
			int ans[3] = { 2, placed, PvmNoHost };
			pvm_pkint(ans, 3, 1);
			struct pvmminfo m2;
			pvm_getminfo(sb, &m2);
			m2.wid = mi.wid;
			pvm_setminfo(sb, &m2);
			CHECK_INT(pvm_send(req, SM_SPAWN), 0, "SM_SPAWN answer sent");
		}
		bufid = wait_msg(-1, 7, 20);
		CHECK_CMP(bufid, >, 0, "the requester reports");
		if (bufid > 0)
			pvm_upkint(r, 3, 1);
		CHECK_INT(r[0], 1, "its pvm_spawn returned 1");
		CHECK_INT(r[1], placed, "the placed task's tid");
		CHECK_INT(r[2], PvmNoHost, "the refused one's error");
	}

	/* SM_TASKX carries the exit status of a spawned task. */
	{
		char *a3[] = { "exit3", NULL };
		char *a5[] = { "exit5", NULL };
		int t3 = 0, t5 = 0;
		CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), a3, PvmTaskDefault, "", 1, &t3),
			  1, "spawn a task that exits with 3");
		memset(v, 0, sizeof v);
		CHECK_CMP(taskx_of(t3, v), >, 0, "its SM_TASKX");
		CHECK_INT(v[1], 3 << 8, "wait status of exit(3) after pvm_exit");
		CHECK(v[2] == 0 && v[3] == 0 && v[4] == 0 && v[5] == 0, "times 0");
		CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), a5, PvmTaskDefault, "", 1, &t5),
			  1, "spawn a task that exits with 5");
		memset(v, 0, sizeof v);
		CHECK_CMP(taskx_of(t5, v), >, 0, "its SM_TASKX");
		CHECK_INT(v[1], 5 << 8, "wait status of exit(5) without pvm_exit");
	}

	/* Another task's pvm_reg_rm comes to the manager as SM_SCHED. */
	{
		char *args[] = { "second", NULL };
		int sec = 0, r[6] = { 0, 0, 0, 0, 0, 0 };
		struct pvmminfo mi;
		CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &sec),
			  1, "spawn a second would-be manager");
		bufid = wait_msg(-1, SM_SCHED, 20);
		CHECK_CMP(bufid, >, 0, "SM_SCHED from its pvm_reg_rm");
		if (bufid > 0) {
			pvm_getminfo(bufid, &mi);
			pvm_bufinfo(bufid, &bytes, &tag, &src);
			CHECK_INT(src, sec, "sent by that task");
			CHECK_INT(bytes, 0, "empty");
			CHECK_CMP(mi.wid, >, 0, "with a wait id");
			CHECK_INT(answer_sched(bufid, PvmDenied), 0, "answered PvmDenied");
		}
		bufid = wait_msg(-1, SM_SCHED, 20);
		CHECK_CMP(bufid, >, 0, "SM_SCHED of its second call");
		if (bufid > 0)
			CHECK_INT(answer_sched(bufid, 0), 0, "answered with a host");
		bufid = wait_msg(-1, 8, 20);
		CHECK_CMP(bufid, >, 0, "it reports");
		if (bufid > 0)
			pvm_upkint(r, 6, 1);
		CHECK_INT(r[0], PvmDenied, "the first pvm_reg_rm returned PvmDenied");
		CHECK_INT(r[1], 0, "the second returned 0");
		CHECK_INT(r[2], 0x1234, "with the host tid the manager gave");
		CHECK_INT(r[3], 777, "its speed");
		CHECK_INT(r[4], 1, "its name");
		CHECK_INT(r[5], 1, "its arch");
	}
	pvm_exit();
	return check_done();
}
