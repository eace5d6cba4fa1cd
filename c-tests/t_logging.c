/*
 * t_logging.c - the library's own log lines (the `log` records of its task
 * runtime) reach a C program's stderr in the style of PVM's reports.
 *
 * PVM_LOG=debug is set before the first PVM call. The program spawns a
 * copy of itself, asks for direct routes and sends it one message: the
 * library logs that it offered the route, as
 * "libpvm [t<me>]: offered a direct route to t<child>", on the program's
 * own stderr (captured here in a temporary file). The child answers, so the
 * message is known to have gone; pvm_perror's line has the same prefix.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_HELLO 1
#define TAG_ANSWER 2
#define WAIT 30

static int child(int parent)
{
	int v = 0;
	if (wait_msg(parent, TAG_HELLO, WAIT) <= 0)
		return 1;
	pvm_upkint(&v, 1, 1);
	v++;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	pvm_send(parent, TAG_ANSWER);
	pvm_exit();
	return 0;
}

int main(void)
{
	char want[128], got[8192];
	int mytid, kid = 0, v = 41, saved;
	size_t len;
	FILE *tmp;

	/* Read once, by the first PVM call. */
	setenv("PVM_LOG", "debug", 1);
	mytid = pvm_mytid();
	if (pvm_parent() > 0)
		return child(pvm_parent());
	CHECK_INT(mytid > 0, 1, "pvm_mytid enrolls");
	CHECK_INT(pvm_spawn("t_logging", NULL, PvmTaskDefault, "", 1, &kid), 1, "spawned a copy");
	pvm_setopt(PvmRoute, PvmRouteDirect);

	tmp = tmpfile();
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	CHECK_INT(pvm_send(kid, TAG_HELLO), PvmOk, "pvm_send to the child");
	CHECK_INT(wait_msg(kid, TAG_ANSWER, WAIT) > 0, 1, "the child answered");
	pvm_upkint(&v, 1, 1);
	pvm_perror("after the route");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	CHECK_INT(v, 42, "the child's answer");

	rewind(tmp);
	len = fread(got, 1, sizeof got - 1, tmp);
	got[len] = '\0';
	fclose(tmp);
	snprintf(want, sizeof want, "libpvm [t%x]: offered a direct route to t%x\n", mytid, kid);
	CHECK_INT(strstr(got, want) != NULL, 1, "the route's offer is logged on stderr in PVM's style");
	snprintf(want, sizeof want, "libpvm [t%x]: after the route: ", mytid);
	CHECK_INT(strstr(got, want) != NULL, 1, "pvm_perror's line has the same prefix");
	if (check_failed)
		printf("# stderr was:\n%s", got);

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit returns PvmOk");
	return check_done();
}
