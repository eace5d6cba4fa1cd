/*
 * roles.c - a task that registers as hoster and tasker (pvm_reg_hoster,
 * pvm_reg_tasker), says "ready <flag>" with its own ti_flag, and then
 * waits until it is killed or a message with tag 1 arrives.  Used by
 * tests/console.rs to see the H and T letters of `ps`.
 */
#include <stdio.h>

#include "pvm3.h"

int main(void)
{
	struct pvmtaskinfo *ti = NULL;
	int me, n = 0, flag = -1;

	me = pvm_mytid();
	if (me < 0)
		return 1;
	if (pvm_reg_hoster() < 0 || pvm_reg_tasker() < 0)
		return 2;
	if (pvm_tasks(me, &n, &ti) == 0 && n == 1)
		flag = ti[0].ti_flag;
	printf("ready %x\n", (unsigned)flag);
	fflush(stdout);
	pvm_recv(-1, 1);
	pvm_exit();
	return 0;
}
