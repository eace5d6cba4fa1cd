/*
 * t_task.c - task and virtual machine information calls on one host:
 * pvm_mytid, pvm_parent, pvm_spawn (flags, counts, errors, argv), pvm_kill,
 * pvm_sendsig, pvm_tidtohost, pvm_config, pvm_tasks, pvm_pstat, pvm_mstat,
 * pvm_archcode, pvm_version, pvm_perror, pvm_siblings, pvm_exit.
 *
 * Spawns copies of itself; a copy knows it is a child because pvm_parent()
 * returns a tid, and argv[1] tells it what to do.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_ARGS 11
#define TAG_SIBS 12
#define TAG_READY 13
#define TAG_GOTSIG 14
#define TAG_GO 15

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* wait for a message, at most `secs` seconds; returns the buffer id or <= 0 */
static int child_main(int argc, char **argv)
{
	int parent = pvm_parent();
	int i, n;

	if (argc > 1 && strcmp(argv[1], "args") == 0) {
		/* report argv[1..] and our parent */
		pvm_initsend(PvmDataDefault);
		n = argc - 1;
		pvm_pkint(&n, 1, 1);
		for (i = 1; i < argc; i++)
			pvm_pkstr(argv[i]);
		pvm_pkint(&parent, 1, 1);
		pvm_send(parent, TAG_ARGS);
	} else if (argc > 1 && strcmp(argv[1], "siblings") == 0) {
		int *sibs = NULL;
		int me = pvm_mytid();
		n = pvm_siblings(&sibs);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&me, 1, 1);
		pvm_pkint(&n, 1, 1);
		if (n > 0)
			pvm_pkint(sibs, n, 1);
		pvm_send(parent, TAG_SIBS);
	} else if (argc > 1 && strcmp(argv[1], "wait") == 0) {
		/* tell the parent we are alive, then wait (bounded) to be killed */
		pvm_initsend(PvmDataDefault);
		pvm_send(parent, TAG_READY);
		wait_msg(parent, TAG_GO, 30);
	} else if (argc > 1 && strcmp(argv[1], "signal") == 0) {
		signal(SIGUSR1, on_usr1);
		pvm_initsend(PvmDataDefault);
		pvm_send(parent, TAG_READY);
		for (i = 0; i < 300 && !got_usr1; i++)
			usleep(20000);
		n = got_usr1;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&n, 1, 1);
		pvm_send(parent, TAG_GOTSIG);
	}
	pvm_exit();
	return 0;
}

/* poll pvm_pstat until it reports PvmNoTask, at most ~10 s */
static int wait_gone(int tid)
{
	int i, cc = PvmOk;
	for (i = 0; i < 500; i++) {
		cc = pvm_pstat(tid);
		if (cc != PvmOk)
			break;
		usleep(20000);
	}
	return cc;
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	char host[256];
	int mytid, cc, i, n, nhost = -1, narch = -1, ntask = -1;
	int tids[4];
	struct pvmhostinfo *hosts = NULL;
	struct pvmtaskinfo *tasks = NULL;
	char *args[4];

	if (pvm_parent() > 0)
		return child_main(argc, argv);

	gethostname(host, sizeof host);
	host[sizeof host - 1] = '\0';

	/* pvm_mytid */
	mytid = pvm_mytid();
	CHECK_CMP(mytid, >, 0, "pvm_mytid enrolls and returns a tid");
	CHECK_INT(mytid & 0x3ffc0000, 0x40000, "first task is on host field 0x40000");
	CHECK_CMP(mytid & 0x3ffff, >=, 1, "local part of the tid is at least 1");
	CHECK_INT(pvm_mytid(), mytid, "pvm_mytid again returns the same tid");

	/* pvm_parent */
	CHECK_INT(pvm_parent(), PvmNoParent, "pvm_parent without a parent is PvmNoParent");

	/* pvm_version, pvm_archcode */
	CHECK_STR(pvm_version(), "3.4.6", "pvm_version is 3.4.6");
	CHECK_CMP(pvm_archcode("LINUX64"), >, 0, "pvm_archcode(LINUX64) is positive");
	CHECK_INT(pvm_archcode("NOSUCHARCH"), PvmNotFound, "pvm_archcode of an unknown arch is PvmNotFound");

	/* pvm_config */
	cc = pvm_config(&nhost, &narch, &hosts);
	CHECK_INT(cc, PvmOk, "pvm_config returns PvmOk");
	CHECK_INT(nhost, 1, "pvm_config: one host");
	CHECK_INT(narch, 1, "pvm_config: one architecture");
	if (cc == PvmOk && nhost >= 1 && hosts) {
		CHECK_INT(hosts[0].hi_tid, 0x40000, "pvm_config: hi_tid of the first host is 0x40000");
		CHECK_STR(hosts[0].hi_arch, "LINUX64", "pvm_config: hi_arch is LINUX64");
		CHECK_STR(hosts[0].hi_name, host, "pvm_config: hi_name is the host name");
		CHECK_CMP(hosts[0].hi_speed, >, 0, "pvm_config: hi_speed is positive");
	}

	/* pvm_tidtohost */
	CHECK_INT(pvm_tidtohost(mytid), 0x40000, "pvm_tidtohost(mytid) is the host's tid");

	/* pvm_mstat */
	CHECK_INT(pvm_mstat(host), PvmOk, "pvm_mstat(local host) is PvmOk");
	CHECK_INT(pvm_mstat("no-such-host.invalid"), PvmNoHost, "pvm_mstat(bogus host) is PvmNoHost");

	/* pvm_pstat */
	CHECK_INT(pvm_pstat(mytid), PvmOk, "pvm_pstat(mytid) is PvmOk");
	CHECK_INT(pvm_pstat(0x40000 | 0x3fff0), PvmNoTask, "pvm_pstat of an unused tid is PvmNoTask");

	/* pvm_tasks */
	cc = pvm_tasks(mytid, &ntask, &tasks);
	CHECK_INT(cc, PvmOk, "pvm_tasks(mytid) returns PvmOk");
	CHECK_INT(ntask, 1, "pvm_tasks(mytid) reports one task");
	if (cc == PvmOk && ntask == 1 && tasks) {
		CHECK_INT(tasks[0].ti_tid, mytid, "pvm_tasks: ti_tid is mytid");
		CHECK_INT(tasks[0].ti_ptid, 0, "pvm_tasks: ti_ptid is 0 for an unspawned task");
		CHECK_INT(tasks[0].ti_host, 0x40000, "pvm_tasks: ti_host is 0x40000");
		CHECK_INT(tasks[0].ti_pid, getpid(), "pvm_tasks: ti_pid is our pid");
	}
	ntask = -1;
	cc = pvm_tasks(0, &ntask, &tasks);
	CHECK_INT(cc, PvmOk, "pvm_tasks(0) returns PvmOk");
	n = 0;
	for (i = 0; cc == PvmOk && i < ntask; i++)
		if (tasks[i].ti_tid == mytid)
			n++;
	CHECK_INT(n, 1, "pvm_tasks(0) lists us exactly once");
	ntask = -1;
	cc = pvm_tasks(0x40000, &ntask, &tasks);
	CHECK_INT(cc, PvmOk, "pvm_tasks(host tid) returns PvmOk");
	n = 0;
	for (i = 0; cc == PvmOk && i < ntask; i++)
		if (tasks[i].ti_tid == mytid)
			n++;
	CHECK_INT(n, 1, "pvm_tasks(host tid) lists us exactly once");

	/* pvm_siblings of an unspawned task: just itself */
	{
		int *sibs = NULL;
		n = pvm_siblings(&sibs);
		CHECK_INT(n, 1, "pvm_siblings of an unspawned task is 1");
		if (n == 1 && sibs)
			CHECK_INT(sibs[0], mytid, "pvm_siblings of an unspawned task lists itself");
	}

	/* pvm_spawn, PvmTaskDefault, argv passed through */
	args[0] = "args";
	args[1] = "alpha";
	args[2] = "beta gamma";
	args[3] = NULL;
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, tids);
	CHECK_INT(cc, 1, "pvm_spawn(PvmTaskDefault, 1) starts one task");
	if (cc == 1) {
		char s[3][64];
		int parent = 0, src = 0, len = 0, tag = 0;
		CHECK_INT(tids[0] & 0x3ffc0000, 0x40000, "spawned tid is on our host");
		CHECK(tids[0] != mytid, "spawned tid differs from ours");
		cc = wait_msg(tids[0], TAG_ARGS, 20);
		CHECK_CMP(cc, >, 0, "child's argv report arrives");
		if (cc > 0) {
			CHECK_INT(pvm_bufinfo(cc, &len, &tag, &src), PvmOk, "pvm_bufinfo on the report");
			CHECK_INT(src, tids[0], "report comes from the child");
			CHECK_INT(tag, TAG_ARGS, "report has the tag it was sent with");
			pvm_upkint(&n, 1, 1);
			CHECK_INT(n, 3, "child got 3 arguments");
			for (i = 0; i < 3 && i < n; i++)
				pvm_upkstr(s[i]);
			if (n == 3) {
				CHECK_STR(s[0], "args", "child argv[1]");
				CHECK_STR(s[1], "alpha", "child argv[2]");
				CHECK_STR(s[2], "beta gamma", "child argv[3] keeps its blank");
			}
			pvm_upkint(&parent, 1, 1);
			CHECK_INT(parent, mytid, "child's pvm_parent is our tid");
		}
		CHECK_CMP(wait_gone(tids[0]), ==, PvmNoTask, "pvm_pstat of the exited child is PvmNoTask");
	}

	/* ntask > 1 and pvm_siblings in the children */
	args[0] = "siblings";
	args[1] = NULL;
	for (i = 0; i < 4; i++)
		tids[i] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 3, tids);
	CHECK_INT(cc, 3, "pvm_spawn with ntask 3 starts 3 tasks");
	if (cc == 3) {
		int sibok = 0;
		CHECK(tids[0] != tids[1] && tids[1] != tids[2] && tids[0] != tids[2],
			"the 3 tids are distinct");
		for (i = 0; i < 3; i++) {
			int bid = wait_msg(-1, TAG_SIBS, 20);
			int who = 0, ns = 0, sibs[8], k;
			if (bid <= 0)
				break;
			pvm_upkint(&who, 1, 1);
			pvm_upkint(&ns, 1, 1);
			if (ns == 3) {
				pvm_upkint(sibs, 3, 1);
				for (k = 0; k < 3 && sibs[k] == tids[k]; k++)
					;
				if (k == 3)
					sibok++;
			}
		}
		CHECK_INT(sibok, 3, "each child's pvm_siblings is the spawned tid list, in order");
	}

	/* PvmTaskHost with our host name */
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskHost, host, 1, tids);
	CHECK_INT(cc, 1, "pvm_spawn(PvmTaskHost, local host) starts one task");
	if (cc == 1)
		wait_msg(tids[0], TAG_SIBS, 20);

	/* PvmTaskHost with a bogus host */
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskHost, "no-such-host.invalid", 1, tids);
	CHECK_INT(cc, 0, "pvm_spawn on a bogus host starts nothing");
	CHECK_INT(tids[0], PvmNoHost, "pvm_spawn on a bogus host: tids[0] is PvmNoHost");

	/* PvmTaskArch */
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskArch, "LINUX64", 1, tids);
	CHECK_INT(cc, 1, "pvm_spawn(PvmTaskArch, LINUX64) starts one task");
	if (cc == 1)
		wait_msg(tids[0], TAG_SIBS, 20);
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskArch, "NOSUCHARCH", 1, tids);
	CHECK_INT(cc, 0, "pvm_spawn on an unknown arch starts nothing");
	CHECK_INT(tids[0], PvmNoHost, "pvm_spawn on an unknown arch: tids[0] is PvmNoHost");

	/* nonexistent executable */
	tids[0] = tids[1] = 0;
	cc = pvm_spawn("pvm6-no-such-program", NULL, PvmTaskDefault, "", 2, tids);
	CHECK_INT(cc, 0, "pvm_spawn of a missing executable returns 0");
	CHECK_INT(tids[0], PvmNoFile, "missing executable: tids[0] is PvmNoFile");
	CHECK_INT(tids[1], PvmNoFile, "missing executable: tids[1] is PvmNoFile");

	/* bad parameters */
	CHECK_INT(pvm_spawn((char *)self, NULL, PvmTaskDefault, "", 0, tids), PvmBadParam,
		"pvm_spawn with ntask 0 is PvmBadParam");

	/* pvm_kill */
	args[0] = "wait";
	args[1] = NULL;
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, tids);
	CHECK_INT(cc, 1, "spawn a task to kill");
	if (cc == 1) {
		CHECK_CMP(wait_msg(tids[0], TAG_READY, 20), >, 0, "victim says it is ready");
		CHECK_INT(pvm_pstat(tids[0]), PvmOk, "pvm_pstat of the live child is PvmOk");
		ntask = -1;
		cc = pvm_tasks(tids[0], &ntask, &tasks);
		CHECK_INT(ntask, 1, "pvm_tasks(child) reports one task");
		if (cc == PvmOk && ntask == 1 && tasks) {
			CHECK_INT(tasks[0].ti_ptid, mytid, "pvm_tasks(child): ti_ptid is us");
			CHECK(strstr(tasks[0].ti_a_out, self) != NULL, "pvm_tasks(child): ti_a_out names the program");
		}
		CHECK_INT(pvm_kill(tids[0]), PvmOk, "pvm_kill returns PvmOk");
		CHECK_INT(wait_gone(tids[0]), PvmNoTask, "killed child disappears (pvm_pstat PvmNoTask)");
	}

	/* pvm_sendsig */
	args[0] = "signal";
	tids[0] = 0;
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, tids);
	CHECK_INT(cc, 1, "spawn a task to signal");
	if (cc == 1) {
		int got = 0;
		CHECK_CMP(wait_msg(tids[0], TAG_READY, 20), >, 0, "signal target says it is ready");
		CHECK_INT(pvm_sendsig(tids[0], SIGUSR1), PvmOk, "pvm_sendsig returns PvmOk");
		cc = wait_msg(tids[0], TAG_GOTSIG, 20);
		CHECK_CMP(cc, >, 0, "signal target reports back");
		if (cc > 0)
			pvm_upkint(&got, 1, 1);
		CHECK_INT(got, 1, "the child caught SIGUSR1");
		CHECK_INT(wait_gone(tids[0]), PvmNoTask, "signalled child exits");
	}

	/* pvm_perror: message goes to stderr as libpvm [tNNN]: <msg>: <text> */
	{
		char want[256], got[512];
		FILE *tmp = tmpfile();
		int saved = dup(2);
		size_t len;
		pvm_setopt(PvmAutoErr, 0);
		CHECK_INT(pvm_send(-5, 1), PvmBadParam, "pvm_send to a bad tid is PvmBadParam");
		fflush(stderr);
		dup2(fileno(tmp), 2);
		cc = pvm_perror("checking perror");
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		CHECK_INT(cc, PvmOk, "pvm_perror returns PvmOk");
		rewind(tmp);
		len = fread(got, 1, sizeof got - 1, tmp);
		got[len] = '\0';
		fclose(tmp);
		snprintf(want, sizeof want, "libpvm [t%x]: checking perror: Bad parameter\n", mytid);
		CHECK_STR(got, want, "pvm_perror text on stderr");
		pvm_setopt(PvmAutoErr, 1);
	}

	/* pvm_tidtohost only masks the host field, without asking the daemon */
	CHECK_INT(pvm_tidtohost(0x40005), 0x40000, "pvm_tidtohost(0x40005) is 0x40000");
	CHECK_INT(pvm_tidtohost(0xc0007), 0xc0000, "pvm_tidtohost(0xc0007) is 0xc0000");

	/* PvmAutoErr 1 (the default) prints failing calls: libpvm [tNNN]: pvm_xxx(): <text> */
	{
		char want[256], got[512];
		FILE *tmp = tmpfile();
		int saved = dup(2);
		size_t len;
		CHECK_INT(pvm_getopt(PvmAutoErr), 1, "PvmAutoErr is back to 1");
		fflush(stderr);
		dup2(fileno(tmp), 2);
		cc = pvm_send(-5, 1);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		CHECK_INT(cc, PvmBadParam, "pvm_send to a bad tid is PvmBadParam again");
		rewind(tmp);
		len = fread(got, 1, sizeof got - 1, tmp);
		got[len] = '\0';
		fclose(tmp);
		snprintf(want, sizeof want, "libpvm [t%x]: pvm_send(): Bad parameter\n", mytid);
		CHECK_STR(got, want, "PvmAutoErr error line on stderr");
	}

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit returns PvmOk");
	return check_done();
}
