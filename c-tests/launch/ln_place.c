/*
 * ln_place: the machine a batch job makes, as a user's program sees it.
 * Run with the number of tasks as argv[1].  Prints "result nhost N", one
 * "result speed HOST SPEED" line per host of pvm_config, spawns N copies of
 * itself (by its path, default placement, no host named), and each child
 * answers with its host name; prints "result answers N" and one
 * "result on HOST COUNT" line per host that ran children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_ANSWER 31
#define MAXT 64

static int child(void)
{
	char name[256];
	gethostname(name, sizeof name);
	name[sizeof name - 1] = 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkstr(name);
	pvm_send(pvm_parent(), TAG_ANSWER);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	int n = argc > 1 ? atoi(argv[1]) : 0;
	CHECK(n > 0 && n <= MAXT, "1 to 64 tasks asked for");
	if (n <= 0 || n > MAXT)
		return check_done();
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	printf("result nhost %d\n", nhost);
	for (int i = 0; i < nhost; i++)
		printf("result speed %s %d\n", hp[i].hi_name, hp[i].hi_speed);
	int tids[MAXT];
	char *args[] = { "child", NULL };
	int got = pvm_spawn(argv[0], args, PvmTaskDefault, "", n, tids);
	CHECK_INT(got, n, "every task spawned");
	char names[MAXT][256];
	int counts[MAXT] = { 0 }, distinct = 0, answers = 0;
	for (int i = 0; i < got; i++) {
		char name[256];
		if (pvm_trecv(-1, TAG_ANSWER, &(struct timeval){ 30, 0 }) <= 0)
			break;
		pvm_upkstr(name);
		answers++;
		int k;
		for (k = 0; k < distinct; k++)
			if (strcmp(names[k], name) == 0)
				break;
		if (k == distinct)
			strcpy(names[distinct++], name);
		counts[k]++;
	}
	printf("result answers %d\n", answers);
	for (int k = 0; k < distinct; k++)
		printf("result on %s %d\n", names[k], counts[k]);
	fflush(stdout);
	pvm_exit();
	return check_done();
}
