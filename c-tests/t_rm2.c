/*
 * t_rm2.c - the resource manager's side of pvm_reg_rm beyond spawn
 * (measured against PVM 3.4.6; see docs/COMPATIBILITY.md):
 *
 *  - SM_EXEC to a daemon starts tasks with the given parent and is
 *    answered SM_EXECACK (count, tids or error codes) from t80000000 with
 *    the request's wait id;
 *  - SM_ADD to the master is answered SM_ADDACK (count, narch, per host
 *    tid or error, name, arch, speed, dsig);
 *  - another task's pvm_config, pvm_tasks, pvm_addhosts, pvm_delhosts,
 *    pvm_notify and pvm_spawn arrive as SM_CONFIG, SM_TASK, SM_ADDHOST,
 *    SM_DELHOST, SM_NOTIFY and SM_SPAWN, and the manager's answers are
 *    what those calls return;
 *  - SM_HANDOFF makes another task the manager.
 *
 * Roles (argv[1]): exec (started by SM_EXEC: reports its parent), client
 * (makes the calls, reports the results to argv[2]), rm2 (takes over as
 * manager, answers one SM_CONFIG), client2 (pvm_config after the handoff).
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

#define TAG_EXEC 11
#define TAG_CLIENT 12
#define TAG_RM2 13
#define TAG_CLIENT2 14

/* Sends the active send buffer to dst with tag and wait id wid. */
static int send_wid(int dst, int tag, int wid)
{
	struct pvmminfo m;
	pvm_getminfo(pvm_getsbuf(), &m);
	m.wid = wid;
	pvm_setminfo(pvm_getsbuf(), &m);
	return pvm_send(dst, tag);
}

static void start(const char *self, const char *role, int arg)
{
	char a[32];
	snprintf(a, sizeof a, "%d", arg);
	if (fork() == 0) {
		execl(self, self, role, a, (char *)NULL);
		_exit(127);
	}
}

static int exec_main(void)
{
	int v[2];
	if ((v[1] = pvm_mytid()) <= 0)
		return 1;
	v[0] = pvm_parent();
	pvm_initsend(PvmDataDefault);
	pvm_pkint(v, 2, 1);
	pvm_send(v[0], TAG_EXEC);
	pvm_exit();
	return 0;
}

static int client_main(int rm)
{
	int r[32], k = 0, n = 0, na = 0, nt = 0, st[2] = { 0, 0 }, tids[2] = { 0, 0 };
	int watch[2] = { rm, 0x40099 };
	struct pvmhostinfo *hi = NULL;
	struct pvmtaskinfo *ti = NULL;
	char *names[2] = { "h1", "h2" };
	char name[64] = "", arch[64] = "", aout[64] = "";

	if (pvm_mytid() <= 0)
		return 1;
	pvm_setopt(PvmAutoErr, 0);
	r[k++] = pvm_config(&n, &na, &hi);
	r[k++] = n;
	r[k++] = na;
	if (r[0] == 0 && n == 1) {
		r[k++] = hi[0].hi_tid;
		r[k++] = hi[0].hi_speed;
		r[k++] = hi[0].hi_dsig;
		strncpy(name, hi[0].hi_name, sizeof name - 1);
		strncpy(arch, hi[0].hi_arch, sizeof arch - 1);
	} else {
		k += 3;
	}
	r[k++] = pvm_tasks(rm, &nt, &ti);
	r[k++] = nt;
	if (r[6] == 0 && nt == 1) {
		r[k++] = ti[0].ti_tid;
		r[k++] = ti[0].ti_ptid;
		r[k++] = ti[0].ti_flag;
		r[k++] = ti[0].ti_pid;
		strncpy(aout, ti[0].ti_a_out, sizeof aout - 1);
	} else {
		k += 4;
	}
	r[k++] = pvm_tasks(0, &nt, &ti);
	r[k++] = pvm_addhosts(names, 2, st);
	r[k++] = st[0];
	r[k++] = st[1];
	r[k++] = pvm_delhosts(names, 2, st);
	r[k++] = st[0];
	r[k++] = st[1];
	r[k++] = pvm_notify(PvmTaskExit, 77, 2, watch);
	r[k++] = pvm_notify(PvmHostAdd, 78, -1, NULL);
	r[k++] = pvm_spawn("nowhere", NULL, PvmTaskDefault, "", 2, tids);
	r[k++] = tids[0];
	r[k++] = tids[1];
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&k, 1, 1);
	pvm_pkint(r, k, 1);
	pvm_pkstr(name);
	pvm_pkstr(arch);
	pvm_pkstr(aout);
	pvm_send(rm, TAG_CLIENT);
	pvm_exit();
	return 0;
}

static int rm2_main(int rm)
{
	int me = pvm_mytid(), b, cfg[5] = { 1, 1, 0, 777, 0x408c41 };
	struct pvmminfo mi;
	if (me <= 0)
		return 1;
	pvm_setopt(PvmResvTids, 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&me, 1, 1);
	pvm_send(rm, TAG_RM2);
	b = wait_msg(-1, SM_CONFIG, 20);
	if (b > 0) {
		pvm_getminfo(b, &mi);
		cfg[2] = pvm_tidtohost(me);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(cfg, 3, 1);
		pvm_pkstr("rm2host");
		pvm_pkstr("RM2ARCH");
		pvm_pkint(cfg + 3, 2, 1);
		send_wid(mi.src, SM_CONFIG, mi.wid);
	}
	/* stay until the old manager is done with us */
	wait_msg(rm, TAG_RM2, 20);
	pvm_exit();
	return 0;
}

static int client2_main(int rm)
{
	int n = 0, na = 0, cc;
	struct pvmhostinfo *hi = NULL;
	if (pvm_mytid() <= 0)
		return 1;
	cc = pvm_config(&n, &na, &hi);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&cc, 1, 1);
	pvm_pkstr(cc == 0 && n == 1 ? hi[0].hi_name : "");
	pvm_send(rm, TAG_CLIENT2);
	pvm_exit();
	return 0;
}

/* Answers the client's requests, checking each; returns how many came. */
static int serve_client(int me, int client)
{
	int served = 0, b, v[8];
	char s[256];
	struct pvmminfo mi;

	for (int i = 0; i < 12; i++) {
		int bytes, tag, src;
		b = wait_msg(client, -1, 20);
		if (b <= 0)
			break;
		pvm_bufinfo(b, &bytes, &tag, &src);
		pvm_getminfo(b, &mi);
		served++;
		if (tag == SM_CONFIG) {
			int a[5] = { 1, 1, 0x40000, 1234, 0x408c41 };
			CHECK_INT(bytes, 0, "SM_CONFIG: empty");
			CHECK_CMP(mi.wid, >, 0, "SM_CONFIG: a wait id");
			pvm_initsend(PvmDataDefault);
			pvm_pkint(a, 3, 1);
			pvm_pkstr("hostx");
			pvm_pkstr("ARCHX");
			pvm_pkint(a + 3, 2, 1);
			send_wid(src, SM_CONFIG, mi.wid);
		} else if (tag == SM_TASK) {
			pvm_upkint(v, 1, 1);
			pvm_initsend(PvmDataDefault);
			if (v[0] == me) {
				int a[5] = { 0, me, 0x40005, 0x40000, 6 }, pid = 999;
				CHECK_INT(bytes, 4, "SM_TASK: one int");
				pvm_pkint(a, 5, 1);
				pvm_pkstr("aout");
				pvm_pkint(&pid, 1, 1);
			} else {
				int e = PvmNoHost;
				CHECK_INT(v[0], 0, "SM_TASK: where 0");
				pvm_pkint(&e, 1, 1);
			}
			send_wid(src, SM_TASK, mi.wid);
		} else if (tag == SM_ADDHOST || tag == SM_DELHOST) {
			const char *what = tag == SM_ADDHOST ? "SM_ADDHOST" : "SM_DELHOST";
			char t1[64], t2[64];
			pvm_upkint(v, 1, 1);
			pvm_upkstr(t1);
			pvm_upkstr(t2);
			snprintf(s, sizeof s, "%s: count 2, names h1 h2", what);
			CHECK(v[0] == 2 && strcmp(t1, "h1") == 0 && strcmp(t2, "h2") == 0, s);
			pvm_initsend(PvmDataDefault);
			if (tag == SM_ADDHOST) {
				int a[3] = { 2, 1, 0x80000 }, q[2] = { 1000, 0x408c41 }, e = PvmNoHost;
				pvm_pkint(a, 3, 1);
				pvm_pkstr("h1");
				pvm_pkstr("A1");
				pvm_pkint(q, 2, 1);
				pvm_pkint(&e, 1, 1);
				pvm_pkstr("");
				pvm_pkstr("");
				pvm_pkint(q, 2, 1);
			} else {
				int d[3] = { 2, 0, PvmNoHost };
				pvm_pkint(d, 3, 1);
			}
			send_wid(src, tag, mi.wid);
		} else if (tag == SM_NOTIFY) {
			int n = bytes / 4 > 8 ? 8 : bytes / 4;
			pvm_upkint(v, n, 1);
			CHECK_INT(mi.wid, 0, "SM_NOTIFY: no wait id (no answer)");
			if (v[0] == PvmTaskExit) {
				CHECK_INT(n, 6, "SM_NOTIFY TaskExit: six ints");
				CHECK(v[1] == 0 && v[2] == 77 && v[3] == 2 && v[4] == me && v[5] == 0x40099,
				      "SM_NOTIFY TaskExit: what, context, tag, count, tids");
			} else {
				CHECK_INT(n, 4, "SM_NOTIFY HostAdd: four ints");
				CHECK(v[0] == PvmHostAdd && v[1] == 0 && v[2] == 78 && v[3] == -1,
				      "SM_NOTIFY HostAdd: what, context, tag, count -1, no tids");
			}
		} else if (tag == SM_SPAWN) {
			int a[3] = { 2, 0x40077, PvmNoFile };
			pvm_upkstr(s);
			pvm_upkint(v, 1, 1);
			CHECK(strcmp(s, "nowhere") == 0 && v[0] == PvmTaskDefault, "SM_SPAWN: file, flags");
			pvm_initsend(PvmDataDefault);
			pvm_pkint(a, 3, 1);
			send_wid(src, SM_SPAWN, mi.wid);
		} else if (tag == TAG_CLIENT) {
			int k = 0, r[32];
			char name[64], arch[64], aout[64];
			pvm_upkint(&k, 1, 1);
			pvm_upkint(r, k, 1);
			pvm_upkstr(name);
			pvm_upkstr(arch);
			pvm_upkstr(aout);
			CHECK_INT(k, 24, "client: 24 results");
			CHECK_INT(r[0], 0, "pvm_config: 0");
			CHECK(r[1] == 1 && r[2] == 1, "pvm_config: 1 host, 1 arch (the manager's answer)");
			CHECK(r[3] == 0x40000 && r[4] == 1234 && r[5] == 0x408c41, "pvm_config: tid, speed, dsig");
			CHECK(strcmp(name, "hostx") == 0 && strcmp(arch, "ARCHX") == 0, "pvm_config: name, arch");
			CHECK(r[6] == 0 && r[7] == 1, "pvm_tasks(tid): 0, one task");
			CHECK(r[8] == me && r[9] == 0x40005 && r[10] == 6 && r[11] == 999,
			      "pvm_tasks: tid, ptid, flag, pid as answered");
			CHECK_STR(aout, "aout", "pvm_tasks: a.out as answered");
			CHECK_INT(r[12], PvmNoHost, "pvm_tasks(0): the manager's error");
			CHECK_INT(r[13], 1, "pvm_addhosts: 1 (results >= 0)");
			CHECK(r[14] == 0x80000 && r[15] == PvmNoHost, "pvm_addhosts: per-host results");
			CHECK_INT(r[16], 1, "pvm_delhosts: 1 (results >= 0)");
			CHECK(r[17] == 0 && r[18] == PvmNoHost, "pvm_delhosts: per-host results");
			CHECK_INT(r[19], 0, "pvm_notify(TaskExit): 0");
			CHECK_INT(r[20], 0, "pvm_notify(HostAdd): 0");
			CHECK_INT(r[21], 1, "pvm_spawn: 1 (tids > 0)");
			CHECK(r[22] == 0x40077 && r[23] == PvmNoFile, "pvm_spawn: the manager's tids");
			break;
		}
	}
	return served;
}

int main(int argc, char **argv)
{
	struct pvmhostinfo *hip = NULL;
	int me, b, bytes, tag, src, v[8], dtid, rm2 = 0, st;
	const char *self = argv[0];
	struct pvmminfo mi;

	if (argc > 2 && strcmp(argv[1], "client") == 0)
		return client_main(atoi(argv[2]));
	if (argc > 2 && strcmp(argv[1], "rm2") == 0)
		return rm2_main(atoi(argv[2]));
	if (argc > 2 && strcmp(argv[1], "client2") == 0)
		return client2_main(atoi(argv[2]));
	if (argc > 1 && strcmp(argv[1], "exec") == 0)
		return exec_main();

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmResvTids, 1);
	CHECK_INT(pvm_reg_rm(&hip), 0, "pvm_reg_rm");
	dtid = (int)0x80000000u | pvm_tidtohost(me);

	/* SM_EXEC: two copies of this program, parent = me. */
	{
		int head[2] = { me, 0 }, z[6] = { 0, 0, 0, 0, 0, 0 }, one = 1, zero = 0, two = 2;
		int got = 0, parents = 0, t[2] = { 0, 0 };
		pvm_initsend(PvmDataDefault);
		pvm_pkint(head, 1, 1);
		pvm_pkstr((char *)self);
		pvm_pkint(&zero, 1, 1); /* flags */
		pvm_pkint(&two, 1, 1);  /* count */
		pvm_pkint(&one, 1, 1);  /* nargs */
		pvm_pkstr("exec");
		pvm_pkint(z, 6, 1);
		pvm_pkint(&one, 1, 1); /* nenv */
		pvm_pkstr("T_RM2=1");
		pvm_pkint(&zero, 1, 1); /* instance */
		pvm_pkint(&two, 1, 1);  /* out of */
		CHECK_INT(send_wid(dtid, SM_EXEC, 4242), 0, "SM_EXEC sent to the daemon");
		b = wait_msg(-1, SM_EXECACK, 20);
		CHECK_CMP(b, >, 0, "SM_EXECACK comes");
		if (b > 0) {
			pvm_getminfo(b, &mi);
			CHECK(mi.src == (int)0x80000000u, "SM_EXECACK from t80000000");
			CHECK_INT(mi.wid, 4242, "SM_EXECACK: the request's wait id");
			CHECK_INT(mi.len > 0 ? 1 : 0, 1, "SM_EXECACK: a body");
			pvm_upkint(v, 3, 1);
			CHECK_INT(v[0], 2, "SM_EXECACK: count 2");
			CHECK(v[1] > 0 && v[2] > 0 && v[1] != v[2], "SM_EXECACK: two tids");
			t[0] = v[1];
			t[1] = v[2];
		}
		for (int i = 0; i < 2; i++) {
			b = wait_msg(-1, TAG_EXEC, 20);
			if (b <= 0)
				break;
			pvm_upkint(v, 2, 1);
			got++;
			if (v[0] == me && (v[1] == t[0] || v[1] == t[1]))
				parents++;
		}
		CHECK_INT(got, 2, "both started tasks ran");
		CHECK_INT(parents, 2, "their parent is SM_EXEC's ptid, their tids the acknowledged ones");

		/* A file that does not exist: PvmNoFile in each slot. */
		pvm_initsend(PvmDataDefault);
		pvm_pkint(head, 1, 1);
		pvm_pkstr("/nonexistent/t_rm2-prog");
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(&two, 1, 1);
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(z, 6, 1);
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(&two, 1, 1);
		send_wid(dtid, SM_EXEC, 4243);
		b = wait_msg(-1, SM_EXECACK, 20);
		CHECK_CMP(b, >, 0, "SM_EXECACK for a missing file");
		if (b > 0) {
			pvm_getminfo(b, &mi);
			pvm_upkint(v, 3, 1);
			CHECK_INT(mi.wid, 4243, "its wait id");
			CHECK(v[0] == 2 && v[1] == PvmNoFile && v[2] == PvmNoFile, "count 2, PvmNoFile twice");
		}
	}

	/* SM_ADD of a host that cannot be added. */
	{
		int one = 1;
		char s1[64] = "x", s2[64] = "x";
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&one, 1, 1);
		pvm_pkstr("nosuchhost.invalid");
		send_wid(dtid, SM_ADD, 4244);
		b = wait_msg(-1, SM_ADDACK, 30);
		CHECK_CMP(b, >, 0, "SM_ADDACK comes");
		if (b > 0) {
			pvm_getminfo(b, &mi);
			CHECK(mi.src == (int)0x80000000u, "SM_ADDACK from t80000000");
			CHECK_INT(mi.wid, 4244, "SM_ADDACK: the request's wait id");
			pvm_upkint(v, 3, 1);
			pvm_upkstr(s1);
			pvm_upkstr(s2);
			pvm_upkint(v + 3, 2, 1);
			CHECK(v[0] == 1 && v[1] == 0, "SM_ADDACK: count 1, no architecture");
			/* PvmNoHost here; PVM 3.4.6 says PvmIPLoopback on a loopback master */
			CHECK_CMP(v[2], <, 0, "SM_ADDACK: an error code for the host");
			CHECK(s1[0] == 0 && s2[0] == 0 && v[3] == 0 && v[4] == 0,
			      "SM_ADDACK: empty name and arch, zero speed and dsig");
		}
	}

	/* Another task's calls come to the manager. */
	start(self, "client", me);
	{
		int client = 0;
		for (int i = 0; i < 10 && !client; i++) {
			b = wait_msg(-1, SM_EXECACK, 20);
			if (b <= 0)
				break;
			pvm_upkint(v, 2, 1);
			if (v[0] == 1)
				client = v[1];
		}
		CHECK_CMP(client, >, 0, "the client enrolls (SM_EXECACK)");
		if (client > 0)
			CHECK_INT(serve_client(me, client), 9, "eight requests and the report");
	}

	/* SM_HANDOFF: a second manager takes over. */
	start(self, "rm2", me);
	b = wait_msg(-1, TAG_RM2, 20);
	CHECK_CMP(b, >, 0, "the second manager enrolls");
	if (b > 0) {
		char name[64] = "";
		pvm_upkint(&rm2, 1, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&rm2, 1, 1);
		CHECK_INT(pvm_send(dtid, SM_HANDOFF), 0, "SM_HANDOFF sent");
		usleep(300000);
		start(self, "client2", me);
		b = wait_msg(-1, TAG_CLIENT2, 20);
		CHECK_CMP(b, >, 0, "the later client reports");
		if (b > 0) {
			pvm_upkint(&st, 1, 1);
			pvm_upkstr(name);
			CHECK_INT(st, 0, "its pvm_config: 0");
			CHECK_STR(name, "rm2host", "answered by the new manager");
		}
		pvm_initsend(PvmDataDefault);
		pvm_send(rm2, TAG_RM2);
	}
	(void)bytes;
	(void)tag;
	(void)src;
	while (waitpid(-1, &st, WNOHANG) > 0 || wait(&st) > 0)
		;
	pvm_exit();
	return check_done();
}
