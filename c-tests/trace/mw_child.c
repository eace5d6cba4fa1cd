/*
 * mw_child.c - a task of tests/tracing.rs: enrolls, computes for about a
 * quarter of a second of CPU time, leaves PVM and exits with status 3, so
 * its endtask event carries status 768 (3 << 8, as wait gives it) and
 * user time.
 */
#include <time.h>
#include "pvm3.h"

int main(void)
{
	volatile double x = 0;
	long i = 0;
	clock_t end;

	if (pvm_mytid() < 0)
		return 1;
	end = clock() + CLOCKS_PER_SEC / 4;
	while (clock() < end)
		for (i = 0; i < 100000; i++)
			x += i * 0.5;
	pvm_exit();
	return 3;
}
