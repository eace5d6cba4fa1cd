/*
 * rm_mh.c - a resource manager on one host serving tasks of another
 * (tests/rm_multihost.rs).
 *
 *   rm_mh rm N [add HOST] - registers as resource manager, prints
 *                    "registered", then serves N requests: SM_SPAWN by
 *                    SM_EXEC to the daemon of the requester's host
 *                    (answering with the tids of the SM_EXECACK),
 *                    SM_ADDHOST by refusing every host (PvmNoHost),
 *                    SM_CONFIG, SM_TASK and SM_DELHOST with made-up
 *                    answers, SM_NOTIFY by printing it; prints "served
 *                    <tag> from t<src>". With "add HOST": sends SM_ADD of
 *                    HOST to the daemon of the last requester's host and at
 *                    once another to its own daemon, prints both SM_ADDACKs
 *                    ("addack <count> <first>"). Then waits for an SM_SCHED
 *                    (another task's pvm_reg_rm), answers it with the
 *                    master host, hands off to that task (SM_HANDOFF) and
 *                    prints "handed off to t<tid>".
 *   rm_mh client   - pvm_spawn of one child, pvm_addhosts, pvm_config,
 *                    pvm_tasks, pvm_delhosts and pvm_notify; prints
 *                    "result <what> <value>" lines.
 *   rm_mh rm2      - pvm_reg_rm (prints "rm2 registered <rc>"), then
 *                    answers one SM_CONFIG (3 hosts) as the new manager.
 *   rm_mh client2  - pvm_config; prints "result config2 <nhost>".
 *   rm_mh child    - sends its parent's tid to its parent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "pvmproto.h"

static int wait_msg(int src, int tag, int secs)
{
	struct timeval tmo = { secs, 0 };
	return pvm_trecv(src, tag, &tmo);
}

static void set_wid(int wid)
{
	struct pvmminfo m;
	pvm_getminfo(pvm_getsbuf(), &m);
	m.wid = wid;
	pvm_setminfo(pvm_getsbuf(), &m);
}

/* SM_SPAWN of `src`: starts the tasks on the requester's host. */
static void serve_spawn(int src, int wid)
{
	char file[256], where[256], arg[256];
	int flags, count, nargs, z[6] = { 0, 0, 0, 0, 0, 0 }, zero = 0, one = 1, b, n = 0, v[64];
	pvm_upkstr(file);
	pvm_upkint(&flags, 1, 1);
	pvm_upkstr(where);
	pvm_upkint(&count, 1, 1);
	pvm_upkint(&nargs, 1, 1);
	if (count < 1 || count > 32 || nargs != 1)
		return;
	pvm_upkstr(arg);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&src, 1, 1); /* parent: the requester */
	pvm_pkstr(file);
	pvm_pkint(&flags, 1, 1);
	pvm_pkint(&count, 1, 1);
	pvm_pkint(&one, 1, 1);
	pvm_pkstr(arg);
	pvm_pkint(z, 6, 1);
	pvm_pkint(&zero, 1, 1);
	pvm_pkint(&zero, 1, 1);
	pvm_pkint(&count, 1, 1);
	set_wid(77);
	pvm_send((int)0x80000000u | pvm_tidtohost(src), SM_EXEC);
	b = wait_msg(-1, SM_EXECACK, 20);
	if (b > 0) {
		pvm_upkint(&n, 1, 1);
		if (n > 0 && n <= 32)
			pvm_upkint(v, n, 1);
	}
	printf("exec on t%x: %d task(s), first t%x\n", pvm_tidtohost(src), n, n > 0 ? v[0] : 0);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(v, n, 1);
	set_wid(wid);
	pvm_send(src, SM_SPAWN);
}

static void serve_addhost(int src, int wid)
{
	int n, zero = 0, e = PvmNoHost;
	char name[256];
	pvm_upkint(&n, 1, 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(&zero, 1, 1);
	for (int i = 0; i < n && i < 32; i++) {
		pvm_upkstr(name);
		pvm_pkint(&e, 1, 1);
		pvm_pkstr("");
		pvm_pkstr("");
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(&zero, 1, 1);
	}
	set_wid(wid);
	pvm_send(src, SM_ADDHOST);
}

/* SM_CONFIG: nhost made-up hosts. */
static void serve_config(int src, int wid, int nhost)
{
	int v[2] = { 1, 1 }, h[3] = { 0x99000, 4321, 7 };
	v[0] = nhost;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(v, 2, 1);
	for (int i = 0; i < nhost; i++) {
		pvm_pkint(&h[0], 1, 1);
		pvm_pkstr("rmview");
		pvm_pkstr("RMARCH");
		pvm_pkint(&h[1], 2, 1);
	}
	set_wid(wid);
	pvm_send(src, SM_CONFIG);
}

/* SM_TASK: one made-up task. */
static void serve_task(int src, int wid)
{
	int v[4] = { 0, 0x12345, 0, 0x99000 }, f[2] = { 0, 42 };
	pvm_initsend(PvmDataDefault);
	pvm_pkint(v, 4, 1);
	pvm_pkint(&f[0], 1, 1);
	pvm_pkstr("fake");
	pvm_pkint(&f[1], 1, 1);
	set_wid(wid);
	pvm_send(src, SM_TASK);
}

/* SM_DELHOST: every host deleted (0). */
static void serve_delhost(int src, int wid)
{
	int n, zero = 0;
	pvm_upkint(&n, 1, 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	for (int i = 0; i < n && i < 32; i++)
		pvm_pkint(&zero, 1, 1);
	set_wid(wid);
	pvm_send(src, SM_DELHOST);
}

/* Two SM_ADDs of `host` at once (to dtid, then to the own daemon). */
static void add_twice(int dtid, const char *host)
{
	int one = 1;
	for (int k = 0; k < 2; k++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&one, 1, 1);
		pvm_pkstr((char *)host);
		set_wid(201 + k);
		pvm_send(k == 0 ? dtid : (int)0x80000000u | pvm_tidtohost(pvm_mytid()), SM_ADD);
	}
	for (int k = 0; k < 2; k++) {
		int b = wait_msg(-1, SM_ADDACK, 90), c = 0, first = 0, narch;
		if (b <= 0)
			break;
		pvm_upkint(&c, 1, 1);
		if (c > 0) {
			pvm_upkint(&narch, 1, 1);
			pvm_upkint(&first, 1, 1);
		}
		printf("addack %d %d\n", c, first);
		fflush(stdout);
	}
}

/* Waits for an SM_SCHED, answers it with the master host, hands off. */
static void hand_off(void)
{
	struct pvmminfo mi;
	int b = wait_msg(-1, SM_SCHED, 60), st = 0, h[2] = { 0x40000, 1000 };
	if (b <= 0)
		return;
	pvm_getminfo(b, &mi);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&st, 1, 1);
	pvm_pkint(&h[0], 1, 1);
	pvm_pkstr("master");
	pvm_pkstr("LINUX64");
	pvm_pkint(&h[1], 1, 1);
	set_wid(mi.wid);
	pvm_send(mi.src, SM_SCHED);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&mi.src, 1, 1);
	pvm_send((int)0x80000000u | pvm_tidtohost(pvm_mytid()), SM_HANDOFF);
	printf("handed off to t%x\n", mi.src);
	fflush(stdout);
}

static int rm_main(int n, const char *add)
{
	struct pvmhostinfo *hip;
	struct pvmminfo mi;
	int last = 0;
	if (pvm_mytid() <= 0)
		return 1;
	pvm_setopt(PvmResvTids, 1);
	if (pvm_reg_rm(&hip) != 0)
		return 1;
	printf("registered t%x\n", pvm_mytid());
	fflush(stdout);
	for (int k = 0; k < n;) {
		int b = wait_msg(-1, -1, 60);
		if (b <= 0)
			break;
		pvm_getminfo(b, &mi);
		if (mi.tag == SM_CONFIG || mi.tag == SM_TASK || mi.tag == SM_DELHOST ||
		    mi.tag == SM_NOTIFY)
			last = mi.src;
		if (mi.tag == SM_CONFIG) {
			printf("served SM_CONFIG from t%x\n", mi.src);
			serve_config(mi.src, mi.wid, 1);
			k++;
		} else if (mi.tag == SM_TASK) {
			int where = -1;
			pvm_upkint(&where, 1, 1);
			printf("served SM_TASK from t%x where %d\n", mi.src, where);
			serve_task(mi.src, mi.wid);
			k++;
		} else if (mi.tag == SM_DELHOST) {
			printf("served SM_DELHOST from t%x\n", mi.src);
			serve_delhost(mi.src, mi.wid);
			k++;
		} else if (mi.tag == SM_NOTIFY) {
			int v[5] = { 0, 0, 0, 0, 0 };
			pvm_upkint(v, 5, 1);
			printf("served SM_NOTIFY from t%x what %d tag %d cnt %d tid t%x\n", mi.src, v[0],
			       v[2], v[3], v[4]);
			k++;
		} else if (mi.tag == SM_SPAWN) {
			printf("served SM_SPAWN from t%x\n", mi.src);
			serve_spawn(mi.src, mi.wid);
			k++;
		} else if (mi.tag == SM_ADDHOST) {
			printf("served SM_ADDHOST from t%x\n", mi.src);
			serve_addhost(mi.src, mi.wid);
			k++;
		}
		fflush(stdout);
	}
	if (add != NULL && last != 0)
		add_twice((int)0x80000000u | pvm_tidtohost(last), add);
	hand_off();
	pvm_exit();
	return 0;
}

static int client_main(const char *self)
{
	int tid = 0, n, st = 0, b, parent = 0, nhost = 0, narch = 0, ntask = 0;
	char *args[] = { "child", NULL };
	char *hosts[] = { "nosuchhost.invalid" };
	char *gone[] = { "node9" };
	struct pvmhostinfo *hi = NULL;
	struct pvmtaskinfo *ti = NULL;
	int me = pvm_mytid();
	if (me <= 0)
		return 1;
	n = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid);
	printf("result spawn %d\n", n);
	printf("result samehost %d\n", n == 1 && pvm_tidtohost(tid) == pvm_tidtohost(me));
	b = wait_msg(tid, 5, 20);
	if (b > 0)
		pvm_upkint(&parent, 1, 1);
	printf("result childparent %d\n", parent == me);
	n = pvm_addhosts(hosts, 1, &st);
	printf("result addhosts %d\n", n);
	printf("result addstatus %d\n", st);
	n = pvm_config(&nhost, &narch, &hi);
	printf("result config %d\n", n);
	printf("result confighost %d\n", n == 0 && nhost == 1 && hi != NULL &&
	       strcmp(hi[0].hi_name, "rmview") == 0 && hi[0].hi_speed == 4321);
	n = pvm_tasks(0, &ntask, &ti);
	printf("result tasks %d\n", n);
	printf("result tasklist %d\n", n == 0 && ntask == 1 && ti != NULL &&
	       ti[0].ti_tid == 0x12345 && ti[0].ti_pid == 42);
	st = 1;
	n = pvm_delhosts(gone, 1, &st);
	printf("result delhosts %d\n", n);
	printf("result delstatus %d\n", st);
	n = pvm_notify(PvmTaskExit, 9, 1, &tid);
	printf("result notify %d\n", n);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc > 2 && strcmp(argv[1], "rm") == 0)
		return rm_main(atoi(argv[2]), argc > 4 && strcmp(argv[3], "add") == 0 ? argv[4] : NULL);
	if (argc > 1 && strcmp(argv[1], "client") == 0)
		return client_main(self);
	if (argc > 1 && strcmp(argv[1], "rm2") == 0) {
		struct pvmhostinfo *hip = NULL;
		struct pvmminfo mi;
		int b, rc;
		if (pvm_mytid() <= 0)
			return 1;
		pvm_setopt(PvmResvTids, 1);
		rc = pvm_reg_rm(&hip);
		printf("rm2 registered %d %s\n", rc, rc == 0 && hip ? hip->hi_name : "-");
		fflush(stdout);
		b = wait_msg(-1, SM_CONFIG, 60);
		if (b > 0) {
			pvm_getminfo(b, &mi);
			printf("rm2 served SM_CONFIG from t%x\n", mi.src);
			serve_config(mi.src, mi.wid, 3);
		}
		fflush(stdout);
		pvm_exit();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "client2") == 0) {
		int nhost = 0, narch = 0, n;
		struct pvmhostinfo *hi;
		if (pvm_mytid() <= 0)
			return 1;
		n = pvm_config(&nhost, &narch, &hi);
		printf("result config2 %d\n", n == 0 ? nhost : n);
		pvm_exit();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		int p;
		if (pvm_mytid() <= 0)
			return 1;
		p = pvm_parent();
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&p, 1, 1);
		pvm_send(p, 5);
		pvm_exit();
		return 0;
	}
	fprintf(stderr, "usage: rm_mh rm N [add HOST] | client | rm2 | client2 | child\n");
	return 2;
}
