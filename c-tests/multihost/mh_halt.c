/*
 * mh_halt: stops the whole virtual machine with pvm_halt (every daemon on
 * every host) and checks the call succeeded.
 */
#include <stdio.h>
#include "pvm3.h"
#include "../check.h"

int main(void)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	printf("# halting a machine of %d host(s)\n", nhost);
	CHECK_INT(pvm_halt(), 0, "pvm_halt");
	return check_done();
}
