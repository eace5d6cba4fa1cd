/*
 * trc_lib.c - a tracer built on PVM 3.4's tracer library (Debian's
 * libpvmtrc.a, no header shipped: the few declarations it needs are
 * below) and linked with -lpvmtrc -lpvm3: it becomes the tracer, spawns
 * itself as a traced child that exchanges a message with it, lets
 * libpvmtrc receive the events and write the trace file (argv[1]), then
 * checks the file has the events of both tasks.
 *
 * TRC_ID is libpvmtrc's tracer handle; the four ints at offsets 8..20 are
 * its event context and tag and output context and tag (what tracer's
 * own start-up sets before trc_set_tracing_codes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "pvmtev.h"

extern int TRC_TID;
extern char *TRC_NAME;
extern char *TRC_VERSION;
extern int TRC_HOST_ADD_NOTIFY_CODE;
extern int TRC_HOST_DEL_NOTIFY_CODE;
void trc_tracer_init(void);
void *trc_get_tracer_id(void);
void trc_set_tracing_codes(void *id);
int trc_set_trace_file(void *id, char *name);
int trc_reset_trace_file(void *id);
void trc_initialize_hosts(void *id);
int trc_save_host_status_events(void *id);
int trc_recv_messages(void *id, int tmout, int *nmsgs);
void trc_end_trace(void *id);

static int failures;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (!ok)
		failures++;
}

/* Lines of `file` starting with `prefix` (0 when unreadable). */
static int lines_with(const char *file, const char *prefix)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f))
		n += strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return n;
}

static int child(void)
{
	int parent = pvm_parent(), x = 42;

	pvm_initsend(PvmDataDefault);
	pvm_pkint(&x, 1, 1);
	pvm_send(parent, 5);
	pvm_recv(parent, 6);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, tid, x, n, i, *codes;
	char line[512], *file;
	Pvmtmask mask;
	void *id;
	FILE *f;
	int seen_send = 0, seen_recv = 0, seen_newtask = 0, seen_endtask = 0;

	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc < 2)
		return 2;
	file = argv[1];
	if ((me = pvm_mytid()) < 0)
		return 1;
	trc_tracer_init();
	TRC_HOST_ADD_NOTIFY_CODE = 99;
	TRC_HOST_DEL_NOTIFY_CODE = 100;
	TRC_VERSION = "1.0";
	TRC_NAME = "trc_lib";
	TRC_TID = me;
	id = trc_get_tracer_id();
	codes = (int *)id;
	codes[2] = pvm_getcontext();
	codes[3] = 666;
	codes[4] = pvm_getcontext();
	codes[5] = 667;
	trc_set_tracing_codes(id);
	check(pvm_getopt(PvmTraceTid) == me, "libpvmtrc made us the children's tracer");
	check(pvm_getopt(PvmTraceCode) == 666, "with its event tag");
	trc_set_trace_file(id, file);
	check(trc_reset_trace_file(id) != 0, "trace file opened");
	trc_initialize_hosts(id);
	trc_save_host_status_events(id);
	TEV_MASK_INIT(mask);
	TEV_MASK_SET(mask, TEV_SEND);
	TEV_MASK_SET(mask, TEV_RECV);
	TEV_MASK_SET(mask, TEV_EXIT);
	pvm_settmask(PvmTaskChild, mask);
	if (pvm_spawn("trc_lib", (char *[]){"child", NULL}, PvmTaskTrace, "", 1, &tid) != 1) {
		check(0, "traced child spawned (trc_lib in PVM_ROOT/bin/LINUX64)");
		pvm_exit();
		return 1;
	}
	check(1, "traced child spawned");
	/* libpvmtrc takes in the events until the child's message arrives */
	for (i = 0; i < 200 && pvm_probe(tid, 5) <= 0; i++)
		trc_recv_messages(id, 1, &n);
	check(pvm_recv(tid, 5) > 0 && pvm_upkint(&x, 1, 1) == 0 && x == 42, "child's message");
	pvm_initsend(PvmDataDefault);
	pvm_send(tid, 6);
	for (i = 0; i < 100 && pvm_pstat(tid) == PvmOk; i++)
		trc_recv_messages(id, 1, &n);
	/* The daemon sends endtask once it has reaped the child, which may be
	   a moment after the child's link closed: take events in until it is
	   in the file (at most 5 s), then a few more rounds. */
	for (i = 0; i < 250; i++) {
		trc_recv_messages(id, 1, &n);
		fflush(NULL);
		if (lines_with(file, "\"endtask(0)\"") > 0)
			break;
		usleep(20000);
	}
	for (i = 0; i < 20; i++)
		trc_recv_messages(id, 1, &n);
	trc_end_trace(id);
	fflush(NULL);
	if ((f = fopen(file, "r")) == NULL) {
		check(0, "trace file readable");
	} else {
		while (fgets(line, sizeof line, f)) {
			if (line[0] != '"')
				continue;
			seen_send += strncmp(line, "\"send(0.0)\"", 11) == 0;
			seen_recv += strncmp(line, "\"recv(1.1)\"", 11) == 0;
			seen_newtask += strncmp(line, "\"newtask(0)\"", 12) == 0;
			seen_endtask += strncmp(line, "\"endtask(0)\"", 12) == 0;
		}
		fclose(f);
		check(seen_send >= 1, "child's send entry recorded");
		check(seen_recv >= 1, "child's recv exit recorded");
		check(seen_newtask >= 1, "daemon's newtask recorded");
		check(seen_endtask >= 1, "daemon's endtask recorded");
	}
	pvm_exit();
	printf("1..%d\n", 9);
	return failures ? 1 : 0;
}
