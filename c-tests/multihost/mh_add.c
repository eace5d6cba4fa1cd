/*
 * mh_add: pvm_addhosts of the host lines given as arguments; prints one
 * "result <line> <code>" line per host, the count added, and the number
 * of hosts pvm_config shows afterwards, then "config <name> <tid>" for
 * each of them.  With "-d" first, pvm_delhosts of
 * the given names instead.
 */
#include <stdio.h>
#include <string.h>
#include "pvm3.h"
#include "../check.h"

int main(int argc, char **argv)
{
	int del = argc > 1 && strcmp(argv[1], "-d") == 0;
	char **names = argv + 1 + del;
	int n = argc - 1 - del;
	int infos[32];
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK(n > 0 && n <= 32, "1 to 32 hosts given");
	if (n <= 0 || n > 32)
		return check_done();
	int cc = del ? pvm_delhosts(names, n, infos) : pvm_addhosts(names, n, infos);
	for (int i = 0; i < n; i++)
		printf("result %s %d\n", names[i], infos[i]);
	printf("%s %d\n", del ? "deleted" : "added", cc);
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	printf("hosts %d\n", nhost);
	for (int i = 0; i < nhost && hp; i++)
		printf("config %s %d\n", hp[i].hi_name, hp[i].hi_tid);
	pvm_exit();
	return check_done();
}
