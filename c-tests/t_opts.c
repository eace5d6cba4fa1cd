/*
 * t_opts.c - pvm_getopt/pvm_setopt for every option (defaults, previous value
 * returned, bad values and options), PvmRouteDirect between two tasks with
 * ordered delivery, and PvmOutputTid/PvmOutputCode output messages.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define TAG_PING 21
#define TAG_PONG 22
#define TAG_OUT 77
#define NPING 300

static int child_main(int argc, char **argv)
{
	int parent = pvm_parent();
	int i, v, route;

	if (argc > 1 && strcmp(argv[1], "echo") == 0) {
		pvm_setopt(PvmRoute, PvmRouteDirect);
		route = pvm_getopt(PvmRoute);
		for (i = 0; i < NPING; i++) {
			if (wait_msg(parent, TAG_PING, 20) <= 0)
				break;
			pvm_upkint(&v, 1, 1);
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&v, 1, 1);
			pvm_pkint(&route, 1, 1);
			pvm_send(parent, TAG_PONG);
		}
	} else if (argc > 1 && strcmp(argv[1], "print") == 0) {
		printf("output line from child\n");
		fflush(stdout);
	}
	pvm_exit();
	return 0;
}

/* set an option and check the previous value returned and the new value read back */
static void setget(int opt, const char *name, int want_before, int val)
{
	char what[160];
	snprintf(what, sizeof what, "%s: default/previous value returned by setopt", name);
	CHECK_INT(pvm_setopt(opt, val), want_before, what);
	snprintf(what, sizeof what, "%s: getopt reads back the new value", name);
	CHECK_INT(pvm_getopt(opt), val, what);
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	int mytid, cc, i, tid = 0;
	char *args[2];

	if (pvm_parent() > 0)
		return child_main(argc, argv);

	mytid = pvm_mytid();
	CHECK_CMP(mytid, >, 0, "enrolled");

	/* documented defaults */
	CHECK_INT(pvm_getopt(PvmRoute), PvmAllowDirect, "PvmRoute defaults to PvmAllowDirect");
	CHECK_INT(pvm_getopt(PvmDebugMask), 0, "PvmDebugMask defaults to 0");
	CHECK_INT(pvm_getopt(PvmAutoErr), 1, "PvmAutoErr defaults to 1");
	CHECK_INT(pvm_getopt(PvmOutputTid), 0, "PvmOutputTid defaults to 0 (no parent)");
	CHECK_INT(pvm_getopt(PvmOutputCode), 0, "PvmOutputCode defaults to 0");
	CHECK_INT(pvm_getopt(PvmTraceTid), 0, "PvmTraceTid defaults to 0");
	CHECK_INT(pvm_getopt(PvmTraceCode), 0, "PvmTraceCode defaults to 0");
	CHECK_INT(pvm_getopt(PvmTraceBuffer), 0, "PvmTraceBuffer defaults to 0");
	CHECK_INT(pvm_getopt(PvmTraceOptions), 0, "PvmTraceOptions defaults to 0");
	CHECK_INT(pvm_getopt(PvmFragSize), 4080, "PvmFragSize defaults to 4080");
	CHECK_INT(pvm_getopt(PvmResvTids), 0, "PvmResvTids defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfOutputTid), 0, "PvmSelfOutputTid defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfOutputCode), 0, "PvmSelfOutputCode defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfTraceTid), 0, "PvmSelfTraceTid defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfTraceCode), 0, "PvmSelfTraceCode defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfTraceBuffer), 0, "PvmSelfTraceBuffer defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfTraceOptions), 0, "PvmSelfTraceOptions defaults to 0");
	CHECK_INT(pvm_getopt(PvmShowTids), 1, "PvmShowTids defaults to 1");
	CHECK_INT(pvm_getopt(PvmOutputContext), 0, "PvmOutputContext defaults to 0");
	CHECK_INT(pvm_getopt(PvmTraceContext), 0, "PvmTraceContext defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfOutputContext), 0, "PvmSelfOutputContext defaults to 0");
	CHECK_INT(pvm_getopt(PvmSelfTraceContext), 0, "PvmSelfTraceContext defaults to 0");
	CHECK_INT(pvm_getopt(PvmNoReset), 0, "PvmNoReset defaults to 0");

	/* bad options; the shared-memory poll options are not supported on this build */
	pvm_setopt(PvmAutoErr, 0);
	CHECK_INT(pvm_getopt(0), PvmBadParam, "getopt(0) is PvmBadParam");
	CHECK_INT(pvm_getopt(26), PvmBadParam, "getopt(26) is PvmBadParam");
	CHECK_INT(pvm_getopt(-1), PvmBadParam, "getopt(-1) is PvmBadParam");
	CHECK_INT(pvm_setopt(0, 1), PvmBadParam, "setopt(0) is PvmBadParam");
	CHECK_INT(pvm_setopt(26, 1), PvmBadParam, "setopt(26) is PvmBadParam");
	CHECK_INT(pvm_setopt(-1, 1), PvmBadParam, "setopt(-1) is PvmBadParam");
	CHECK_INT(pvm_getopt(PvmPollType), PvmBadParam, "getopt(PvmPollType) is PvmBadParam (no shared memory)");
	CHECK_INT(pvm_getopt(PvmPollTime), PvmBadParam, "getopt(PvmPollTime) is PvmBadParam (no shared memory)");
	CHECK_INT(pvm_setopt(PvmPollType, PvmPollSleep), PvmNotImpl, "setopt(PvmPollType) is PvmNotImpl");
	CHECK_INT(pvm_setopt(PvmPollTime, 1234), PvmNotImpl, "setopt(PvmPollTime) is PvmNotImpl");
	CHECK_INT(pvm_setopt(PvmSelfOutputContext, 3), PvmNotImpl, "setopt(PvmSelfOutputContext) is PvmNotImpl");
	CHECK_INT(pvm_setopt(PvmSelfTraceContext, 3), PvmNotImpl, "setopt(PvmSelfTraceContext) is PvmNotImpl");
	CHECK_INT(pvm_getopt(PvmSelfOutputContext), 0, "PvmSelfOutputContext unchanged");
	CHECK_INT(pvm_getopt(PvmSelfTraceContext), 0, "PvmSelfTraceContext unchanged");

	/* setopt returns the previous value */
	setget(PvmAutoErr, "PvmAutoErr", 0, 2);
	setget(PvmAutoErr, "PvmAutoErr", 2, 0);
	setget(PvmRoute, "PvmRoute", PvmAllowDirect, PvmDontRoute);
	CHECK_INT(pvm_setopt(PvmRoute, 9), PvmBadParam, "PvmRoute 9 is PvmBadParam");
	CHECK_INT(pvm_getopt(PvmRoute), PvmDontRoute, "PvmRoute unchanged by a bad value");
	setget(PvmRoute, "PvmRoute", PvmDontRoute, PvmAllowDirect);
	setget(PvmDebugMask, "PvmDebugMask", 0, 0);
	setget(PvmOutputTid, "PvmOutputTid", 0, mytid);
	setget(PvmOutputCode, "PvmOutputCode", 0, 5);
	setget(PvmOutputTid, "PvmOutputTid", mytid, 0);
	setget(PvmOutputCode, "PvmOutputCode", 5, 0);
	setget(PvmTraceTid, "PvmTraceTid", 0, mytid);
	setget(PvmTraceCode, "PvmTraceCode", 0, 9);
	setget(PvmTraceBuffer, "PvmTraceBuffer", 0, 4096);
	setget(PvmTraceOptions, "PvmTraceOptions", 0, PvmTraceCount);
	setget(PvmTraceTid, "PvmTraceTid", mytid, 0);
	setget(PvmFragSize, "PvmFragSize", 4080, 1000);
	CHECK_INT(pvm_setopt(PvmFragSize, 10), PvmBadParam, "PvmFragSize 10 (too small) is PvmBadParam");
	CHECK_INT(pvm_setopt(PvmFragSize, 10000000), PvmBadParam, "PvmFragSize 10000000 (too big) is PvmBadParam");
	CHECK_INT(pvm_getopt(PvmFragSize), 1000, "PvmFragSize unchanged by bad values");
	setget(PvmFragSize, "PvmFragSize", 1000, 4080);
	setget(PvmResvTids, "PvmResvTids", 0, 1);
	setget(PvmResvTids, "PvmResvTids", 1, 0);
	setget(PvmSelfOutputTid, "PvmSelfOutputTid", 0, mytid);
	setget(PvmSelfOutputCode, "PvmSelfOutputCode", 0, 7);
	setget(PvmSelfOutputTid, "PvmSelfOutputTid", mytid, 0);
	setget(PvmSelfTraceTid, "PvmSelfTraceTid", 0, mytid);
	setget(PvmSelfTraceCode, "PvmSelfTraceCode", 0, 9);
	setget(PvmSelfTraceBuffer, "PvmSelfTraceBuffer", 0, 4096);
	setget(PvmSelfTraceOptions, "PvmSelfTraceOptions", 0, PvmTraceCount);
	setget(PvmSelfTraceTid, "PvmSelfTraceTid", mytid, 0);
	setget(PvmShowTids, "PvmShowTids", 1, 0);
	setget(PvmShowTids, "PvmShowTids", 0, 1);
	setget(PvmOutputContext, "PvmOutputContext", 0, 3);
	setget(PvmOutputContext, "PvmOutputContext", 3, 0);
	setget(PvmTraceContext, "PvmTraceContext", 0, 3);
	setget(PvmTraceContext, "PvmTraceContext", 3, 0);
	setget(PvmNoReset, "PvmNoReset", 0, 1);
	setget(PvmNoReset, "PvmNoReset", 1, 0);
	pvm_setopt(PvmAutoErr, 1);

	/* PvmRouteDirect: both ends ask for a direct link, order still holds */
	CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect), PvmAllowDirect, "switch to PvmRouteDirect");
	args[0] = "echo";
	args[1] = NULL;
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid);
	CHECK_INT(cc, 1, "spawn the echo task");
	if (cc == 1) {
		int inorder = 0, v = -1, route = 0, got = 0;
		/* send everything first, then read the echoes: tests queueing on the link */
		for (i = 0; i < NPING; i++) {
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&i, 1, 1);
			if (pvm_send(tid, TAG_PING) < 0)
				break;
		}
		for (i = 0; i < NPING; i++) {
			if (wait_msg(tid, TAG_PONG, 20) <= 0)
				break;
			got++;
			pvm_upkint(&v, 1, 1);
			pvm_upkint(&route, 1, 1);
			if (v == i)
				inorder++;
		}
		CHECK_INT(got, NPING, "every echo came back over the direct route");
		CHECK_INT(inorder, NPING, "echoes came back in order");
		CHECK_INT(route, PvmRouteDirect, "the child's PvmRoute reads PvmRouteDirect");
	}
	pvm_setopt(PvmRoute, PvmAllowDirect);

	/* PvmOutputTid/Code: a child's stdout comes back as messages
	 * (int tid, int count, count bytes); count 0 marks the end */
	pvm_setopt(PvmOutputTid, mytid);
	pvm_setopt(PvmOutputCode, TAG_OUT);
	args[0] = "print";
	cc = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid);
	CHECK_INT(cc, 1, "spawn a child whose output we collect");
	if (cc == 1) {
		char text[1024];
		size_t used = 0;
		int seen_eof = 0, from_child = 1;
		text[0] = '\0';
		for (i = 0; i < 50 && !seen_eof; i++) {
			int who = 0, n = 0;
			if (wait_msg(-1, TAG_OUT, 20) <= 0)
				break;
			pvm_upkint(&who, 1, 1);
			pvm_upkint(&n, 1, 1);
			if (who != tid)
				from_child = 0;
			if (n == 0)
				seen_eof = 1;
			else if (n > 0 && used + (size_t)n < sizeof text) {
				pvm_upkbyte(text + used, n, 1);
				used += (size_t)n;
				text[used] = '\0';
			}
		}
		CHECK_INT(seen_eof, 1, "output stream ends with a count 0 message");
		CHECK_INT(from_child, 1, "every output message names the child's tid");
		CHECK_STR(text, "output line from child\n", "collected output is the child's stdout");
	}
	pvm_setopt(PvmOutputTid, 0);
	pvm_setopt(PvmOutputCode, 0);

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit");
	return check_done();
}
