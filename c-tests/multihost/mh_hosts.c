/*
 * mh_hosts: the machine across hosts.  Run with the expected number of
 * hosts as argv[1]: checks pvm_config, spawns one copy of itself on every
 * host with PvmTaskHost and collects each child's answer (its hostname and
 * its pvm_tidtohost), checks pvm_tasks(0) sees the children, and (with
 * argv[2] = "spread") also spawns one task per host with default placement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_ANSWER 11

static int child(void)
{
	char name[256];
	int me = pvm_mytid();
	gethostname(name, sizeof name);
	name[sizeof name - 1] = 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkstr(name);
	pvm_pkint(&me, 1, 1);
	pvm_send(pvm_parent(), TAG_ANSWER);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	int want = argc > 1 ? atoi(argv[1]) : 1;
	int spread = argc > 2 && strcmp(argv[2], "spread") == 0;
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	CHECK_INT(nhost, want, "number of hosts");
	CHECK_INT(narch, 1, "one architecture");
	for (int i = 0; i < nhost; i++)
		printf("# host %s tid 0x%x arch %s speed %d\n", hp[i].hi_name, hp[i].hi_tid,
			hp[i].hi_arch, hp[i].hi_speed);
	int names_ok = 1;
	char hosts[16][256];
	int htids[16];
	for (int i = 0; i < nhost && i < 16; i++) {
		snprintf(hosts[i], sizeof hosts[i], "%s", hp[i].hi_name);
		htids[i] = hp[i].hi_tid;
	}
	CHECK(names_ok, "host names copied");
	/* By its bare name: found through each host's ep= search path. */
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *args[] = { "child", NULL };
	int answered = 0;
	for (int i = 0; i < nhost && i < 16; i++) {
		int tid = 0;
		int n = pvm_spawn(prog, args, PvmTaskHost, hosts[i], 1, &tid);
		CHECK_INT(n, 1, "spawn on a named host");
		if (n != 1) {
			printf("# spawn on %s gave %d\n", hosts[i], tid);
			continue;
		}
		CHECK_INT(pvm_tidtohost(tid), htids[i], "child's tid is of that host");
		int bufid = pvm_trecv(tid, TAG_ANSWER, &(struct timeval){ 20, 0 });
		CHECK_CMP(bufid, >, 0, "answer from the child");
		if (bufid > 0) {
			char name[256];
			int ctid = 0;
			pvm_upkstr(name);
			pvm_upkint(&ctid, 1, 1);
			printf("# child t%x on %s answered from %s\n", tid, hosts[i], name);
			CHECK_INT(ctid, tid, "the child knows its tid");
			answered++;
		}
	}
	CHECK_INT(answered, nhost, "every host answered");
	if (spread) {
		int tids[16];
		int n = pvm_spawn(prog, args, PvmTaskDefault, NULL, nhost, tids);
		CHECK_INT(n, nhost, "default placement starts them all");
		int seen = 0;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nhost; j++)
				if (pvm_tidtohost(tids[i]) == htids[j])
					seen |= 1 << j;
		CHECK_INT(seen, (1 << nhost) - 1, "default placement used every host");
		for (int i = 0; i < n; i++)
			CHECK_CMP(pvm_trecv(-1, TAG_ANSWER, &(struct timeval){ 20, 0 }), >, 0,
				"answer from a spread child");
	}
	int ntask = 0;
	struct pvmtaskinfo *tp = NULL;
	CHECK_INT(pvm_tasks(0, &ntask, &tp), 0, "pvm_tasks(0)");
	CHECK_CMP(ntask, >=, 1, "pvm_tasks lists this task");
	int found = 0;
	for (int i = 0; i < ntask; i++)
		if (tp[i].ti_tid == me)
			found = 1;
	CHECK(found, "pvm_tasks(0) includes me");
	CHECK_INT(pvm_mstat(hosts[nhost - 1]), PvmOk, "pvm_mstat of the last host");
	CHECK_INT(pvm_mstat("no-such-host"), PvmNoHost, "pvm_mstat of an unknown host");
	pvm_exit();
	return check_done();
}
