/*
 * hold.c - joins the groups named on its command line ("-b name count"
 * waits in a barrier of that group instead), writes "joined" and waits for
 * any message (tests/debian_libs.rs, pvm_gstat and pvmgroups).
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "pvm3.h"

int main(int argc, char **argv)
{
	int i;

	if (pvm_mytid() < 0)
		return 2;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-b") != 0 && pvm_joingroup(argv[i]) < 0)
			return 1;
		else if (strcmp(argv[i], "-b") == 0)
			i += 2;
	printf("joined\n");
	fflush(stdout);
	for (i = 1; i + 2 < argc; i++)
		if (strcmp(argv[i], "-b") == 0)
			pvm_barrier(argv[i + 1], atoi(argv[i + 2]));
	pvm_recv(-1, -1);
	pvm_exit();
	return 0;
}
