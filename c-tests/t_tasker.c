/*
 * t_tasker.c - pvm_reg_tasker: this program registers as the task starter
 * and starts, with fork and exec, the tasks another task spawns.
 *
 * Roles (a spawned copy learns its role from argv[1]):
 *   tasker    (the first process) registers, spawns the requester, serves
 *             SM_STTASK messages, reports SM_TASKX to the daemon;
 *   requester spawns three workers (the daemon hands them to the tasker),
 *             collects the workers' hellos and reports to the tasker;
 *   worker    says hello (tid, parent, pid) to its parent and exits.
 * The third worker is deliberately not started: the tasker reports it with
 * SM_TASKX and the daemon must forget it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvm3.h"
#include "pvmproto.h"
#include "check.h"

/* pvmsdpro.h of PVM 3.4 (not installed with pvm3.h) */

#define TAG_HELLO 40
#define TAG_REPORT 41
#define TAG_DONE 42
#define NWORK 3
#define MAXARG 16

static int worker_main(void)
{
	int v[3];
	v[0] = pvm_mytid();
	v[1] = pvm_parent();
	v[2] = (int)getpid();
	pvm_initsend(PvmDataDefault);
	pvm_pkint(v, 3, 1);
	pvm_send(v[1], TAG_HELLO);
	pvm_exit();
	return 0;
}

static int requester_main(const char *prog)
{
	int tasker = pvm_parent(), tids[NWORK], n, i, rc, hello[2][3];
	char *args[] = {"worker", NULL};

	pvm_setopt(PvmAutoErr, 0);
	rc = pvm_reg_tasker();
	n = pvm_spawn((char *)prog, args, PvmTaskDefault, "", NWORK, tids);
	memset(hello, 0, sizeof hello);
	for (i = 0; i < 2; i++)
		if (wait_msg(-1, TAG_HELLO, 20) > 0)
			pvm_upkint(hello[i], 3, 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&rc, 1, 1);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(tids, NWORK, 1);
	pvm_pkint(&hello[0][0], 6, 1);
	pvm_send(tasker, TAG_REPORT);
	wait_msg(tasker, TAG_DONE, 30);
	pvm_exit();
	return 0;
}

/* one SM_STTASK: fills tid, path, argv (malloc'd strings) and env */
static int read_sttask(int *tid, int *flags, char *path, char **av, int *ac, char **env, int *nenv)
{
	int i, n;
	char buf[4096];
	if (pvm_upkint(tid, 1, 1) < 0 || pvm_upkint(flags, 1, 1) < 0 || pvm_upkstr(path) < 0)
		return -1;
	pvm_upkint(&n, 1, 1);
	if (n < 1 || n >= MAXARG)
		return -1;
	for (i = 0; i < n; i++) {
		pvm_upkstr(buf);
		av[i] = strdup(buf);
	}
	av[n] = NULL;
	*ac = n;
	pvm_upkint(&n, 1, 1);
	if (n < 0 || n >= 64)
		return -1;
	for (i = 0; i < n; i++) {
		pvm_upkstr(buf);
		env[i] = strdup(buf);
	}
	env[n] = NULL;
	*nenv = n;
	return 0;
}

static void send_taskx(int daemon, int tid, int status)
{
	int v[6] = {0, 0, 0, 0, 0, 0};
	v[0] = tid;
	v[1] = status;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(v, 6, 1);
	pvm_send(daemon, SM_TASKX);
}

int main(int argc, char **argv)
{
	int me, daemon, requester = 0, rc, i, j, bufid, bytes, tag, src;
	int tid[NWORK], flags[NWORK], ac, nenv, report[2 + NWORK + 6];
	pid_t pid[NWORK];
	char path[4096], *av[MAXARG], *env[64];
	int has_tid_env = 0, status;

	if (argc > 1 && strcmp(argv[1], "worker") == 0)
		return worker_main();
	if (argc > 1 && strcmp(argv[1], "requester") == 0)
		return requester_main(check_basename(argv[0]));

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	daemon = (int)0x80000000 | pvm_tidtohost(me);
	CHECK_INT(pvm_setopt(PvmResvTids, 1), 0, "PvmResvTids allows the SM_ tags");
	CHECK_INT(pvm_reg_tasker(), 0, "reg_tasker");
	CHECK_INT(pvm_reg_tasker(), 0, "reg_tasker again by the same task");

	{
		char *args[] = {"requester", NULL};
		rc = pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &requester);
		CHECK_INT(rc, 1, "the tasker's own spawn is started by the daemon");
	}

	for (i = 0; i < NWORK; i++) {
		tid[i] = 0;
		pid[i] = 0;
		bufid = wait_msg(-1, SM_STTASK, 20);
		CHECK_CMP(bufid, >, 0, "SM_STTASK received");
		if (bufid <= 0)
			break;
		pvm_bufinfo(bufid, &bytes, &tag, &src);
		CHECK_INT(src, daemon, "SM_STTASK comes from the daemon");
		rc = read_sttask(&tid[i], &flags[i], path, av, &ac, env, &nenv);
		CHECK_INT(rc, 0, "SM_STTASK unpacks as man pvm_reg_tasker gives it");
		if (rc < 0)
			break;
		CHECK_INT(flags[i], PvmTaskDefault, "flags as passed to spawn");
		CHECK(strstr(path, check_basename(argv[0])) != NULL && path[0] == '/', "absolute path of the executable");
		CHECK_INT(ac, 2, "argc counts argv[0] and one argument");
		CHECK_STR(av[1], "worker", "the spawn's argument");
		has_tid_env = 0;
		for (j = 0; j < nenv; j++)
			if (strncmp(env[j], "PVM6_TID=", 9) == 0 && atoi(env[j] + 9) == tid[i])
				has_tid_env = 1;
		CHECK_INT(has_tid_env, 1, "environment carries the task's identity");
		if (i == NWORK - 1)
			break; /* the last one is not started */
		pid[i] = fork();
		if (pid[i] == 0) {
			for (j = 0; j < nenv; j++)
				putenv(env[j]);
			execv(path, av);
			_exit(127);
		}
		CHECK_CMP(pid[i], >, 0, "forked the task");
	}

	bufid = wait_msg(requester, TAG_REPORT, 30);
	CHECK_CMP(bufid, >, 0, "requester's report");
	memset(report, 0, sizeof report);
	pvm_upkint(report, 2 + NWORK + 6, 1);
	CHECK_INT(report[0], PvmAlready, "a second tasker is refused: PvmAlready");
	CHECK_INT(report[1], NWORK, "requester's spawn counted every task");
	for (i = 0; i < NWORK; i++)
		CHECK_INT(report[2 + i], tid[i], "spawn's tids are the SM_STTASK tids");
	for (i = 0; i < 2; i++) {
		int *h = &report[2 + NWORK + 3 * i];
		int k = (h[0] == tid[0]) ? 0 : 1;
		CHECK_INT(h[0], tid[k], "started worker has its tid");
		CHECK_INT(h[1], requester, "started worker's parent is the requester");
		CHECK_INT(h[2], pid[k], "started worker is the process the tasker forked");
	}

	/* the task never started: recorded until SM_TASKX says otherwise */
	CHECK_INT(pvm_pstat(tid[NWORK - 1]), 0, "unstarted task is known before SM_TASKX");
	send_taskx(daemon, tid[NWORK - 1], 127 << 8);
	for (i = 0; i < 100 && pvm_pstat(tid[NWORK - 1]) == 0; i++)
		usleep(20000);
	pvm_setopt(PvmAutoErr, 0);
	CHECK_INT(pvm_pstat(tid[NWORK - 1]), PvmNoTask, "SM_TASKX made the daemon forget it");

	for (i = 0; i < NWORK - 1; i++) {
		if (pid[i] > 0 && waitpid(pid[i], &status, 0) == pid[i])
			send_taskx(daemon, tid[i], status);
	}
	pvm_initsend(PvmDataDefault);
	pvm_send(requester, TAG_DONE);
	pvm_exit();
	return check_done();
}
