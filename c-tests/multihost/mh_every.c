/*
 * mh_every: a task on every host, the way users check a machine.  Run with
 * the expected number of hosts as argv[1].  Spawns itself by its bare name
 * (so each daemon must find it through its ep= search path) on every host
 * with PvmTaskHost, then starts a relay on the last host, which spawns one
 * task per host with default placement and reports where they ran.  Both
 * rounds must reach every host, the master's included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_ANSWER 21
#define TAG_RELAY 22
#define MAXH 16

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

/* Spawns n children by default placement; tells the parent how many
 * started, how many answered, and on which hosts (daemon tids) they ran. */
static int relay(const char *prog, int n)
{
	int tids[MAXH];
	int hosts[MAXH];
	char *args[] = { "child", NULL };
	if (n > MAXH)
		n = MAXH;
	int started = pvm_spawn((char *)prog, args, PvmTaskDefault, NULL, n, tids);
	int answered = 0;
	for (int i = 0; i < started && i < n; i++) {
		hosts[i] = pvm_tidtohost(tids[i]);
		if (pvm_trecv(-1, TAG_ANSWER, &(struct timeval){ 20, 0 }) > 0)
			answered++;
	}
	if (started < 0) {
		printf("# relay: pvm_spawn gave %d\n", started);
		started = 0;
	}
	for (int i = started; i < n; i++)
		printf("# relay: task %d not started: %d\n", i, tids[i]);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&started, 1, 1);
	pvm_pkint(&answered, 1, 1);
	pvm_pkint(hosts, started, 1);
	pvm_send(pvm_parent(), TAG_RELAY);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc > 2 && strcmp(argv[1], "relay") == 0)
		return relay(prog, atoi(argv[2]));
	int want = argc > 1 ? atoi(argv[1]) : 1;
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	CHECK_INT(nhost, want, "number of hosts");
	if (nhost > MAXH)
		nhost = MAXH;
	char hosts[MAXH][256];
	int htids[MAXH];
	for (int i = 0; i < nhost; i++) {
		snprintf(hosts[i], sizeof hosts[i], "%s", hp[i].hi_name);
		htids[i] = hp[i].hi_tid;
		printf("# host %s tid 0x%x\n", hosts[i], htids[i]);
	}
	char *args[] = { "child", NULL };
	for (int i = 0; i < nhost; i++) {
		int tid = 0;
		int n = pvm_spawn(prog, args, PvmTaskHost, hosts[i], 1, &tid);
		char what[300];
		snprintf(what, sizeof what, "PvmTaskHost spawn on %s", hosts[i]);
		CHECK_INT(n, 1, what);
		if (n != 1) {
			printf("# spawn on %s gave %d\n", hosts[i], tid);
			continue;
		}
		CHECK_INT(pvm_tidtohost(tid), htids[i], "the task runs on that host");
		CHECK_CMP(pvm_trecv(tid, TAG_ANSWER, &(struct timeval){ 20, 0 }), >, 0,
			"answer from the task");
	}
	/* The relay on the last host (a remote one when there are several). */
	char count[16];
	snprintf(count, sizeof count, "%d", nhost);
	char *rargs[] = { "relay", count, NULL };
	int rtid = 0;
	CHECK_INT(pvm_spawn(prog, rargs, PvmTaskHost, hosts[nhost - 1], 1, &rtid), 1,
		"relay spawned on the last host");
	if (rtid > 0 && pvm_trecv(rtid, TAG_RELAY, &(struct timeval){ 60, 0 }) > 0) {
		int started = 0, answered = 0, where[MAXH];
		pvm_upkint(&started, 1, 1);
		pvm_upkint(&answered, 1, 1);
		if (started > 0 && started <= MAXH)
			pvm_upkint(where, started, 1);
		CHECK_INT(started, nhost, "default placement from the remote task started them all");
		CHECK_INT(answered, started, "every placed task answered");
		int seen = 0;
		for (int i = 0; i < started && i < MAXH; i++)
			for (int j = 0; j < nhost; j++)
				if (where[i] == htids[j])
					seen |= 1 << j;
		CHECK_INT(seen, (1 << nhost) - 1, "default placement used every host");
	} else {
		CHECK(0, "report from the relay");
	}
	pvm_exit();
	return check_done();
}
