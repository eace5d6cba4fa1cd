/*
 * pvm_start_pvmd before any other PVM call: argument errors (pvmd3's
 * own parser: -s, -v and a mask pvmd3 refuses are refused), a hostfile
 * (its deferred `&` host is remembered, not started), PvmDupHost once a
 * daemon runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include "pvm3.h"
#include "check.h"

int main(void)
{
	char path[512], missing[512];
	char *bad_opt[] = { "-x", NULL };
	char *slave_opt[] = { "-s", NULL };
	char *version_opt[] = { "-v", NULL };
	char *hex_without_0x[] = { "-dff", NULL };
	char *no_file[] = { missing, NULL };
	char *good[] = { "-d0", path, NULL };
	const char *home = getenv("HOME");
	int nhost = 0, narch = 0, me;
	struct pvmhostinfo *hosts = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/hostfile", home ? home : "/tmp");
	snprintf(missing, sizeof missing, "%s/no-such-hostfile", home ? home : "/tmp");
	f = fopen(path, "w");
	CHECK(f != NULL, "write a hostfile");
	if (!f)
		return check_done();
	fputs("# this host only; the other one is known but not started\n& notstarted.invalid\n", f);
	fclose(f);

	pvm_setopt(PvmAutoErr, 0);
	CHECK_INT(pvm_start_pvmd(1, bad_opt, 1), PvmBadParam, "an option pvmd3 does not take");
	CHECK_INT(pvm_start_pvmd(1, slave_opt, 1), PvmBadParam, "-s: a slave cannot be started so");
	CHECK_INT(pvm_start_pvmd(1, version_opt, 1), PvmBadParam, "-v starts nothing");
	CHECK_INT(pvm_start_pvmd(1, hex_without_0x, 1), PvmBadParam,
		"-dff: hex needs 0x, as pvmd3 -d takes it");
	CHECK_INT(pvm_start_pvmd(1, no_file, 1), PvmNoFile, "a missing hostfile");
	CHECK_INT(pvm_start_pvmd(2, good, 1), 0, "start with -d0 and a hostfile");
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled after the start");
	CHECK_INT(pvm_config(&nhost, &narch, &hosts), 0, "pvm_config");
	CHECK_INT(nhost, 1, "deferred hosts are not started");
	CHECK_INT(pvm_start_pvmd(2, good, 1), PvmDupHost, "a second start: PvmDupHost");
	pvm_exit();
	return check_done();
}
