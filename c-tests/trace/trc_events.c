/*
 * trc_events.c - events of group calls and message handlers, traced by a
 * registered tracer (tests/tracing.rs group_handler_and_user_events; built
 * against pvm6's group library and against Debian's libgpvm3).
 *
 * Sets its own mask (joingroup, lvgroup, barrier, bcast, mhf_invoke,
 * user_defined), installs a handler for tag 7, joins group "trcg", spawns a
 * member (which joins, meets it at a barrier of 2, sends tag 7 and waits
 * for the broadcast), broadcasts tag 5 to the group, sends one user-defined
 * event (an int 42 and the string "hello") and leaves the group.
 * Lines: "result <what> <value>".
 */
#include <stdio.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "pvmtev.h"

static volatile int handled;

static int handler(int mid)
{
	(void)mid;
	handled++;
	return 0;
}

static int member(void)
{
	int parent = pvm_parent(), x = 1;

	pvm_joingroup("trcg");
	pvm_barrier("trcg", 2);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&x, 1, 1);
	pvm_send(parent, 7);
	pvm_recv(parent, 5);
	pvm_lvgroup("trcg");
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, m = 0, cc, x = 42, i, sb, old;
	char *av[] = {"member", NULL};
	struct timeval tv = {20, 0};
	Pvmtmask mask;

	if (argc > 1 && argv[1][0] == 'm')
		return member();
	if ((me = pvm_mytid()) < 0)
		return 1;
	TEV_MASK_INIT(mask);
	TEV_MASK_SET(mask, TEV_JOINGROUP);
	TEV_MASK_SET(mask, TEV_LVGROUP);
	TEV_MASK_SET(mask, TEV_BARRIER);
	TEV_MASK_SET(mask, TEV_BCAST);
	TEV_MASK_SET(mask, TEV_MHF_INVOKE);
	TEV_MASK_SET(mask, TEV_USER_DEFINED);
	printf("result settmask %d\n", pvm_settmask(PvmTaskSelf, mask));
	printf("result mytid %d\n", me);
	pvm_addmhf(-1, 7, -1, handler);
	printf("result join %d\n", pvm_joingroup("trcg"));
	printf("result spawn %d\n", pvm_spawn(argv[0], av, PvmTaskDefault, "", 1, &m));
	printf("result member %d\n", m);
	printf("result barrier %d\n", pvm_barrier("trcg", 2));
	for (i = 0; i < 2000 && !handled; i++) {
		pvm_nrecv(-1, 99);
		usleep(5000);
	}
	printf("result handled %d\n", handled);
	pvm_notify(PvmTaskExit, 9, 1, &m);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&x, 1, 1);
	cc = pvm_bcast("trcg", 5);
	printf("result bcast %d\n", cc);
	/* a user-defined event, as PVM 3.4.6 makes one */
	sb = pvm_mkbuf(PvmDataTrace);
	old = pvm_setsbuf(sb);
	pvm_pkint(&x, 1, 1);
	pvm_pkstr("hello");
	printf("result user %d\n", pvm_send(PVM_TRACE_TID, PVM_TRACE_CODE));
	pvm_setsbuf(old);
	pvm_freebuf(sb);
	pvm_trecv(m, 9, &tv);
	printf("result leave %d\n", pvm_lvgroup("trcg"));
	fflush(stdout);
	pvm_exit();
	return 0;
}
