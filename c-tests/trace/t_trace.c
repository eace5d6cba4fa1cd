/*
 * t_trace.c - trace events as a tracer sees them, with the program itself
 * as the tracer: it sets PvmTraceTid/PvmTraceCode to itself and a child
 * trace mask of send, spawn and exit, and spawns itself traced. The child
 * sends three messages with PvmSelfTraceTid switched off for the second
 * one, receives one (recv is not in the mask) and spawns a grandchild,
 * which inherits the tracing and sends once. Each event comes as one
 * message (no trace buffer): marker -5 (descriptor) or -7 (record), then
 * the event id; the data identifier list (-3) comes first from each sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pvm3.h"
#include "pvmtev.h"

#define TRACE_CODE 77
#define SENDS 2
#define DONE 1
#define GRAND 3

static int failures, checks;

static void check(int ok, const char *what)
{
	checks++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
	if (!ok)
		failures++;
}

static int grand(void)
{
	int x = 3;

	pvm_initsend(PvmDataDefault);
	pvm_pkint(&x, 1, 1);
	pvm_send(pvm_parent(), GRAND);
	pvm_exit();
	return 0;
}

static int child(void)
{
	int parent = pvm_parent(), x = 1, g;
	char *av[] = {"grand", NULL};

	pvm_initsend(PvmDataDefault);
	pvm_pkint(&x, 1, 1);
	pvm_send(parent, SENDS);                 /* traced */
	pvm_setopt(PvmSelfTraceTid, 0);
	pvm_send(parent, SENDS);                 /* not traced */
	pvm_setopt(PvmSelfTraceTid, parent);
	pvm_send(parent, SENDS);                 /* traced again */
	if (pvm_spawn("t_trace", av, PvmTaskTrace, "", 1, &g) == 1)
		pvm_recv(g, GRAND);              /* recv: not in the mask */
	pvm_send(parent, DONE);
	pvm_exit();
	return 0;
}

struct count {
	int tid, id, n;
};

static struct count counts[256];
static int ncounts;

static void count(int tid, int id)
{
	int i;

	for (i = 0; i < ncounts; i++)
		if (counts[i].tid == tid && counts[i].id == id) {
			counts[i].n++;
			return;
		}
	if (ncounts < 256) {
		counts[ncounts].tid = tid;
		counts[ncounts].id = id;
		counts[ncounts++].n = 1;
	}
}

static int got(int tid, int id)
{
	int i;

	for (i = 0; i < ncounts; i++)
		if (counts[i].tid == tid && counts[i].id == id)
			return counts[i].n;
	return 0;
}

/* takes one trace message; returns 1 if one was there */
static int take(int tid, int tag, struct timeval *tmout)
{
	int bufid, len, src, mark, id;

	bufid = pvm_trecv(tid, tag, tmout);
	if (bufid <= 0)
		return 0;
	pvm_bufinfo(bufid, &len, &tag, &src);
	if (pvm_upkint(&mark, 1, 1) < 0)
		return 1;
	if (mark == TEV_MARK_DATA_ID) {
		count(src, -3);
		return 1;
	}
	if ((mark == TEV_MARK_EVENT_DESC || mark == TEV_MARK_EVENT_RECORD)
	    && pvm_upkint(&id, 1, 1) >= 0)
		count(src, id);
	return 1;
}

int main(int argc, char **argv)
{
	int me, c, gtid = 0, i, done = 0, daemon_newtask = 0;
	char *av[] = {"child", NULL};
	struct timeval tv = {0, 500000}, longer = {20, 0};
	Pvmtmask mask;

	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc > 1 && strcmp(argv[1], "grand") == 0)
		return grand();
	if ((me = pvm_mytid()) < 0)
		return 1;
	pvm_setopt(PvmTraceTid, me);
	pvm_setopt(PvmTraceCode, TRACE_CODE);
	pvm_setopt(PvmTraceBuffer, 0);
	TEV_MASK_INIT(mask);
	TEV_MASK_SET(mask, TEV_SEND);
	TEV_MASK_SET(mask, TEV_SPAWN);
	TEV_MASK_SET(mask, TEV_EXIT);
	check(pvm_settmask(PvmTaskChild, mask) == 0, "child mask set");
	check(pvm_spawn("t_trace", av, PvmTaskTrace, "", 1, &c) == 1, "traced child spawned");
	pvm_notify(PvmTaskExit, 9, 1, &c);
	/* the child's messages (three SENDS, DONE) and the trace events */
	while (!done) {
		if (take(-1, TRACE_CODE, &tv))
			continue;
		if (pvm_nrecv(c, SENDS) > 0)
			continue;
		if (pvm_nrecv(c, DONE) > 0)
			done = 1;
		else if (pvm_trecv(-1, 9, &longer) > 0)
			break;
	}
	check(done, "child finished");
	pvm_trecv(c, 9, &longer);
	while (take(-1, TRACE_CODE, &tv))
		;
	for (i = 0; i < ncounts; i++) {
		if ((counts[i].tid & 0x80000000) && counts[i].id == TEV_NEWTASK)
			daemon_newtask += counts[i].n;
		if (counts[i].tid != c && counts[i].tid != me
		    && !(counts[i].tid & 0x80000000))
			gtid = counts[i].tid;
	}
	check(got(c, -3) >= 1, "child sent the data identifier list");
	check(got(c, TEV_MYTID | TEV_EVENT_ENTRY) == 0, "mytid not in the mask: no event");
	check(got(c, TEV_SEND | TEV_EVENT_ENTRY) == 3,
	      "three of four sends traced (PvmSelfTraceTid off for one)");
	check(got(c, TEV_SEND | TEV_EVENT_EXIT) == 3, "and their exits");
	check(got(c, TEV_RECV | TEV_EVENT_ENTRY) == 0, "recv not in the mask: no event");
	check(got(c, TEV_SPAWN | TEV_EVENT_ENTRY) == 1 && got(c, TEV_SPAWN | TEV_EVENT_EXIT) == 1,
	      "spawn entry and exit");
	check(got(c, TEV_EXIT | TEV_EVENT_ENTRY) == 1, "exit entry");
	check(gtid > 0, "grandchild traced (inherited tracer and mask)");
	check(got(gtid, TEV_SEND | TEV_EVENT_ENTRY) == 1 && got(gtid, TEV_EXIT | TEV_EVENT_ENTRY) == 1,
	      "grandchild's send and exit");
	check(daemon_newtask >= 2, "daemon's newtask events for child and grandchild");
	check(got(me, TEV_SEND | TEV_EVENT_ENTRY) == 0, "the tracer itself is not traced");
	pvm_exit();
	printf("1..%d\n", checks);
	return failures ? 1 : 0;
}
