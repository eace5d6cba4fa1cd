/*
 * t_env.c - the smaller task calls: pvm_export / pvm_unexport (and their
 * effect on spawned tasks), pvm_gettmask / pvm_settmask (inherited by
 * children), pvm_hostsync, pvm_tickle, PvmNoReset with pvm_getnoresets,
 * pvm_start_pvmd with a daemon running, pvm_reg_rm / pvm_reg_hoster, and
 * pvm_reg_tracer's registration and a spawn with PvmTaskTrace.
 * A spawned copy of this program reports its environment and trace mask.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define TAG_REPORT 30
#define MASKLEN 36

static int child_main(void)
{
	char mask[MASKLEN + 8];
	const char *v = getenv("T_ENV_VALUE");
	const char *e = getenv("PVM_EXPORT");
	memset(mask, 0, sizeof mask);
	pvm_gettmask(PvmTaskSelf, mask);
	pvm_initsend(PvmDataDefault);
	pvm_pkstr((char *)(v ? v : "(unset)"));
	pvm_pkstr((char *)(e ? e : "(unset)"));
	pvm_pkstr(mask);
	pvm_send(pvm_parent(), TAG_REPORT);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, rc, child = 0, n, i, found, nres, res[4], args[12];
	int *tids = NULL;
	char mask[MASKLEN + 8], want[MASKLEN], s1[64], s2[128], s3[64];
	struct timeval clk, delta, now, tv;
	struct pvmhostinfo *hi = NULL;
	const char *e;

	if (pvm_parent() > 0)
		return child_main();
	(void)argc;
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);

	/* ---- export list ---- */
	setenv("PVM_EXPORT", "SHELL:HOME", 1);
	CHECK_INT(pvm_export("DISPLAY"), 0, "export DISPLAY");
	pvm_export("TERM");
	pvm_unexport("HOME");
	pvm_export("TERM");
	pvm_unexport("NOT_THERE");
	e = getenv("PVM_EXPORT");
	CHECK_STR(e, "SHELL:DISPLAY:TERM", "PVM_EXPORT edited as the man page shows");
	unsetenv("PVM_EXPORT");
	pvm_export("T_ENV_VALUE");
	CHECK_STR(getenv("PVM_EXPORT"), "T_ENV_VALUE", "export with PVM_EXPORT unset");
	setenv("T_ENV_VALUE", "forty two", 1);

	/* ---- trace masks ---- */
	memset(mask, 'Z', sizeof mask);
	CHECK_INT(pvm_gettmask(PvmTaskSelf, mask), 0, "gettmask self");
	memset(want, '@', MASKLEN - 1);
	want[MASKLEN - 1] = 0;
	CHECK_STR(mask, want, "own mask starts empty (35 '@')");
	CHECK_INT(pvm_gettmask(7, mask), PvmBadParam, "gettmask(bad who)");
	CHECK_INT(pvm_settmask(-1, want), PvmBadParam, "settmask(bad who)");
	want[4] = 'A';
	CHECK_INT(pvm_settmask(PvmTaskChild, want), 0, "settmask child");
	pvm_gettmask(PvmTaskChild, mask);
	CHECK_STR(mask, want, "child mask stored");

	/* ---- a child sees both ---- */
	rc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &child);
	CHECK_INT(rc, 1, "spawned a reporter");
	tv.tv_sec = 20;
	tv.tv_usec = 0;
	rc = pvm_trecv(child, TAG_REPORT, &tv);
	CHECK_CMP(rc, >, 0, "report received");
	s1[0] = s2[0] = s3[0] = 0;
	pvm_upkstr(s1);
	pvm_upkstr(s2);
	pvm_upkstr(s3);
	CHECK_STR(s1, "forty two", "exported variable reached the child");
	CHECK_STR(s2, "T_ENV_VALUE", "child sees PVM_EXPORT");
	CHECK_STR(s3, want, "child's own trace mask is the parent's child mask");

	/* ---- the tracer role: each pvm_reg_tracer call toggles it ---- */
	CHECK_INT(pvm_reg_tracer(pvm_getcontext(), 91, pvm_getcontext(), 92, mask, 0, 1), 0,
		  "pvm_reg_tracer registers");
	CHECK_CMP(pvm_recvinfo("###_PVM_TRACER_###", 0, PvmMboxDefault), >, 0,
		  "the tracer is published in the mailbox");
	CHECK_INT(pvm_reg_tracer(0, 0, 0, 0, mask, 0, 0), 0, "the next call gives the role up");
	CHECK_INT(pvm_recvinfo("###_PVM_TRACER_###", 0, PvmMboxDefault), PvmNotFound,
		  "and its mailbox entry");
	child = 0;
	rc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskTrace, "", 1, &child);
	CHECK_INT(rc, 1, "spawn with PvmTaskTrace starts the task");
	rc = pvm_trecv(child, TAG_REPORT, &tv);
	CHECK_CMP(rc, >, 0, "the traced task runs and reports");
	CHECK_INT(pvm_setopt(PvmTraceTid, me), 0, "PvmTraceTid stored");
	CHECK_INT(pvm_getopt(PvmTraceTid), me, "PvmTraceTid returned");

	/* ---- hostsync ---- */
	rc = pvm_hostsync(pvm_tidtohost(me), &clk, &delta);
	gettimeofday(&now, NULL);
	CHECK_INT(rc, 0, "hostsync of our host");
	CHECK(delta.tv_sec == 0 || (delta.tv_sec == -1 && delta.tv_usec > 900000), "delta is about 0 on one host");
	CHECK(delta.tv_usec >= 0 && delta.tv_usec < 1000000, "delta microseconds normalised");
	CHECK(labs((long)(now.tv_sec - clk.tv_sec)) <= 2, "host clock is now");
	CHECK_INT(pvm_hostsync(0x80000000 | pvm_tidtohost(me), NULL, NULL), 0, "hostsync by daemon tid, NULL outputs");
	CHECK_INT(pvm_hostsync(0x123, &clk, &delta), PvmNoHost, "hostsync(not a host): PvmNoHost");

	/* ---- tickle ---- */
	args[0] = 5;
	nres = -1;
	res[0] = -1;
	CHECK_INT(pvm_tickle(1, args, &nres, res), 0, "tickle 5 (get debug mask)");
	CHECK_INT(nres, 1, "tickle 5 gives one result");
	args[0] = 6;
	args[1] = res[0];
	CHECK_INT(pvm_tickle(2, args, &nres, res), 0, "tickle 6 (set debug mask)");
	CHECK_INT(nres, 0, "tickle 6 gives no result");
	args[0] = 2;
	CHECK_INT(pvm_tickle(1, args, &nres, res), 0, "tickle 2 (dump tasks)");
	/* PVM 3.4.6's pvmd logs an action it does not know and answers with
	 * no results; so do 0 (heap), 7 (nopax) and 100 (shared memory). */
	args[0] = 4242;
	nres = -1;
	CHECK_INT(pvm_tickle(1, args, &nres, res), 0, "tickle unknown: PvmOk, as PVM 3.4.6");
	CHECK_INT(nres, 0, "tickle unknown gives no result");
	args[0] = -1;
	nres = -1;
	CHECK_INT(pvm_tickle(1, args, &nres, res), 0, "tickle -1: PvmOk");
	CHECK_INT(nres, 0, "tickle -1 gives no result");
	args[0] = 7;
	args[1] = 3;
	nres = -1;
	CHECK_INT(pvm_tickle(2, args, &nres, res), 0, "tickle 7 (nopax)");
	CHECK_INT(nres, 0, "tickle 7 gives no result");
	args[0] = 8;
	args[1] = 0x123;
	nres = -1;
	res[0] = -1;
	CHECK_INT(pvm_tickle(2, args, &nres, res), 0, "tickle 8 (fail a host) of no host");
	CHECK_INT(nres, 1, "tickle 8 gives one result");
	CHECK_INT(res[0], 0, "tickle 8: no host failed");
	CHECK_INT(pvm_tickle(0, args, &nres, res), PvmBadParam, "tickle without an action: PvmBadParam");
	CHECK_INT(pvm_tickle(11, args, &nres, res), PvmBadParam, "tickle with 11 values: PvmBadParam");

	/* ---- no-reset list ---- */
	n = -1;
	CHECK_INT(pvm_getnoresets(&tids, &n), 0, "getnoresets");
	CHECK_INT(n, 0, "nobody asked for PvmNoReset yet");
	CHECK_INT(pvm_setopt(PvmNoReset, 1), 0, "setopt PvmNoReset");
	pvm_getnoresets(&tids, &n);
	found = 0;
	for (i = 0; i < n; i++)
		if (tids[i] == me)
			found = 1;
	CHECK_INT(n, 1, "one no-reset task");
	CHECK_INT(found, 1, "it is us");
	CHECK_INT(pvm_setopt(PvmNoReset, 0), 1, "clear PvmNoReset (old value 1)");
	pvm_getnoresets(&tids, &n);
	CHECK_INT(n, 0, "no-reset list empty again");

	/* ---- start_pvmd while one runs ---- */
	CHECK_INT(pvm_start_pvmd(0, NULL, 0), PvmDupHost, "start_pvmd with a daemon running: PvmDupHost");

	/* ---- registrations ---- */
	CHECK_INT(pvm_reg_rm(&hi), 0, "reg_rm");
	CHECK(hi != NULL, "reg_rm gives the master host");
	if (hi) {
		CHECK_INT(hi->hi_tid, pvm_tidtohost(me), "master host tid");
		CHECK_STR(hi->hi_arch, "LINUX64", "master host arch");
		CHECK_INT(hi->hi_speed, 1000, "master host speed");
	}
	CHECK_INT(pvm_reg_hoster(), 0, "reg_hoster");
	CHECK_INT(pvm_reg_hoster(), 0, "reg_hoster again by the same task");

	pvm_exit();
	return check_done();
}
