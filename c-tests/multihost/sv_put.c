/*
 * sv_put: one pvm_putinfo, its result printed when the call returns
 * (tests/survive.rs: the master's reply waits until its successor holds
 * the entry).
 *
 *   sv_put <name>
 *
 * Prints "enrolled", then "put <status>" once pvm_putinfo returned; then
 * reads the entry back. TAP lines.
 */
#include <stdio.h>
#include "pvm3.h"
#include "../check.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sv_put name\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	printf("enrolled\n");
	int v = 4243;
	int b = pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	int rc = pvm_putinfo(argv[1], b, PvmMboxDefault);
	printf("put %d\n", rc);
	CHECK_INT(rc, 0, "pvm_putinfo");
	int got = 0;
	b = pvm_recvinfo(argv[1], 0, PvmMboxDefault);
	CHECK_CMP(b, >, 0, "the entry is there");
	if (b > 0) {
		pvm_setrbuf(b);
		pvm_upkint(&got, 1, 1);
	}
	CHECK_INT(got, v, "with its value");
	pvm_exit();
	return check_done();
}
