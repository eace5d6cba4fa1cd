/*
 * t_notify.c - pvm_notify on one host: PvmTaskExit (pvm_exit, kill, exit
 * without pvm_exit, tids already gone), PvmNotifyCancel, PvmHostDelete,
 * PvmHostAdd, PvmRouteDelete without a route, the context of notices, and
 * the argument checks. Values were checked against PVM 3.4.6: notices come
 * from t80000000 and carry the tid as one packed int.
 *
 * Spawns copies of itself; argv[1] tells a copy what to do.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_GO 15
#define PVMD_SRC ((int)0x80000000u)

/* receives a notice with `tag` within `secs`; returns its first int, or -1000 */
static int notice(int tag, double secs, int *src)
{
	int bid = wait_msg(-1, tag, secs), len, t, s, v = -1000;
	if (bid <= 0)
		return -1000;
	pvm_bufinfo(bid, &len, &t, &s);
	if (src)
		*src = s;
	if (pvm_upkint(&v, 1, 1) < 0)
		return -1001;
	return v;
}

static int spawn_one(const char *self, const char *role)
{
	char *args[2];
	int tid = 0;
	args[0] = (char *)role;
	args[1] = NULL;
	if (pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid) != 1)
		return -1;
	return tid;
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	int me, src = 0, tids[2], bogus = 0x40099, dtid, ctx, old, v, n;

	if (argc > 1 && pvm_parent() > 0) {
		if (strcmp(argv[1], "wait") == 0) {
			wait_msg(pvm_parent(), TAG_GO, 30);
			pvm_exit();
		} else if (strcmp(argv[1], "abrupt") == 0) {
			pvm_mytid();
			exit(0); /* no pvm_exit */
		} else if (strcmp(argv[1], "sleep") == 0) {
			sleep(30);
		}
		return 0;
	}

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);

	/* TaskExit on two live tasks, a dead one, and a cancel */
	tids[0] = spawn_one(self, "wait");
	tids[1] = spawn_one(self, "wait");
	CHECK(tids[0] > 0 && tids[1] > 0, "spawned two waiting children");
	CHECK_INT(pvm_notify(PvmTaskExit, 40, 2, tids), 0, "notify TaskExit on two children");
	CHECK_INT(pvm_notify(PvmTaskExit, 41, 1, &bogus), 0, "notify TaskExit on a task that does not exist");
	CHECK_INT(notice(41, 5, &src), bogus, "notice for a tid already gone comes at once");
	CHECK_INT(src, PVMD_SRC, "notices come from t80000000");
	CHECK_INT(wait_msg(-1, 40, 0.3), 0, "no notice while both children run");
	CHECK_INT(pvm_notify(PvmTaskExit | PvmNotifyCancel, 41, 1, &tids[1]), 0, "cancel that matches nothing");
	CHECK_INT(wait_msg(-1, 41, 0.3), 0, "cancel that matches nothing sends nothing");
	CHECK_INT(pvm_notify(PvmTaskExit | PvmNotifyCancel, 40, 1, &tids[1]), 0, "cancel TaskExit on the second child");
	CHECK_INT(notice(40, 5, NULL), tids[1], "cancel delivers the notice at once");
	CHECK_INT(pvm_pstat(tids[1]), PvmOk, "the cancelled child still runs");
	pvm_initsend(PvmDataDefault);
	pvm_send(tids[0], TAG_GO);
	CHECK_INT(notice(40, 10, NULL), tids[0], "notice when the first child calls pvm_exit");
	pvm_initsend(PvmDataDefault);
	pvm_send(tids[1], TAG_GO);
	CHECK_INT(wait_msg(-1, 40, 1.5), 0, "no second notice for the cancelled child");

	/* killed task, and a task ending without pvm_exit */
	tids[0] = spawn_one(self, "sleep");
	CHECK_INT(pvm_notify(PvmTaskExit, 42, 1, tids), 0, "notify TaskExit on a sleeping child");
	CHECK_INT(pvm_kill(tids[0]), 0, "kill it");
	CHECK_INT(notice(42, 10, NULL), tids[0], "notice when a task is killed");
	tids[0] = spawn_one(self, "abrupt");
	CHECK_INT(pvm_notify(PvmTaskExit, 43, 1, tids), 0, "notify TaskExit on a child that exits without pvm_exit");
	CHECK_INT(notice(43, 10, NULL), tids[0], "notice when a task exits without pvm_exit");

	/* the context current at pvm_notify is the notice's context */
	ctx = pvm_newcontext();
	old = pvm_setcontext(ctx);
	pvm_notify(PvmTaskExit, 44, 1, &bogus);
	pvm_setcontext(old);
	CHECK_INT(wait_msg(-1, 44, 0.5), 0, "notice not seen in another context");
	pvm_setcontext(ctx);
	CHECK_INT(notice(44, 5, NULL), bogus, "notice arrives in the context of the request");
	pvm_setcontext(old);
	pvm_freecontext(ctx);

	/* HostDelete and HostAdd on one host */
	dtid = pvm_tidtohost(me);
	CHECK_INT(pvm_notify(PvmHostDelete, 45, 1, &dtid), 0, "notify HostDelete on our host");
	CHECK_INT(wait_msg(-1, 45, 0.3), 0, "no HostDelete notice while the host runs");
	CHECK_INT(pvm_notify(PvmHostDelete | PvmNotifyCancel, 45, 1, &dtid), 0, "cancel HostDelete");
	CHECK_INT(notice(45, 5, &src), dtid, "HostDelete cancel delivers the host's tid");
	CHECK_INT(pvm_notify(PvmHostAdd, 46, -1, NULL), 0, "notify HostAdd until cancelled");
	CHECK_INT(pvm_notify(PvmHostAdd, 46, 0, NULL), 0, "HostAdd count 0 accepted");
	CHECK_INT(pvm_notify(PvmHostAdd | PvmNotifyCancel, 46, -1, NULL), 0, "cancel HostAdd");
	CHECK_INT(wait_msg(-1, 46, 0.3), 0, "HostAdd cancel sends nothing");

	/* RouteDelete on a task with no direct route: at once, (tid, -1) from ourselves */
	bogus = 0x40077;
	CHECK_INT(pvm_notify(PvmRouteDelete, 47, 1, &bogus), 0, "notify RouteDelete without a route");
	CHECK_INT(notice(47, 5, &src), bogus, "RouteDelete notice carries the peer's tid");
	CHECK_INT(pvm_upkint(&v, 1, 1) >= 0 ? v : -1000, -1, "then -1");
	CHECK_INT(src, me, "route notices come from the task itself");
	CHECK_INT(pvm_notify(PvmRouteAdd, 48, -1, NULL), 0, "notify RouteAdd accepted");

	/* argument checks */
	n = pvm_notify(99, 49, 1, &me);
	CHECK_INT(n, PvmBadParam, "unknown event is PvmBadParam");
	CHECK_INT(pvm_notify(PvmTaskExit, 49, 0, &me), PvmBadParam, "TaskExit with cnt 0 is PvmBadParam");
	CHECK_INT(pvm_notify(PvmTaskExit, 49, -1, &me), PvmBadParam, "TaskExit with cnt -1 is PvmBadParam");
	CHECK_INT(pvm_notify(PvmTaskExit, -5, 1, &me), PvmBadParam, "negative tag is PvmBadParam");
	CHECK_INT(pvm_notify(PvmTaskExit, 49, 1, &dtid), PvmBadParam, "TaskExit on a daemon tid is PvmBadParam");

	pvm_exit();
	return check_done();
}
