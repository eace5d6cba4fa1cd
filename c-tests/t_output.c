/*
 * t_output.c - output collection on one host: PvmOutputTid/Code messages
 * (tid, count, bytes) with the -2/-1 announcements and the 0 end, options
 * inherited by children, pvm_catchout framing with and without PvmShowTids,
 * pvm_catchout(0), and pvm_exit waiting for children's output. The expected
 * texts were taken from PVM 3.4.6.
 *
 * Spawns copies of itself; argv[1] tells a copy what to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_OUT 77
#define TAG_OPTS 78
#define PVMD_SRC ((int)0x80000000u)

static int spawn_one(const char *self, const char *role)
{
	char *args[2];
	int tid = 0;
	args[0] = (char *)role;
	args[1] = NULL;
	if (pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid) != 1)
		return -1;
	return tid;
}

/* the whole content of f */
static char *slurp(FILE *f, char *buf, size_t size)
{
	size_t n;
	fflush(f);
	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = 0;
	fseek(f, 0, SEEK_END);
	return buf;
}

/* lets PVM calls run (catchout writes inside them) until f holds `needle` */
static void pump_until(FILE *f, const char *needle)
{
	char buf[4096];
	int i;
	for (i = 0; i < 100 && !strstr(slurp(f, buf, sizeof buf), needle); i++)
		wait_msg(-1, 9999, 0.1);
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	int me, tid, bid, len, tag, src, hdr[3], nmsg, got_begin, got_spawned, got_eof, ok_src, ok_parent;
	char data[4096], want[1024], buf[4096];
	size_t used;
	FILE *f;

	if (argc > 1 && pvm_parent() > 0) {
		if (strcmp(argv[1], "print") == 0) {
			printf("hello one\nhello two\n");
			fflush(stdout);
			fprintf(stderr, "err line\n");
			printf("no newline"); /* never flushed by hand */
		} else if (strcmp(argv[1], "opts") == 0) {
			int o[6];
			o[0] = pvm_getopt(PvmOutputTid);
			o[1] = pvm_getopt(PvmOutputCode);
			o[2] = pvm_getopt(PvmSelfOutputTid);
			o[3] = pvm_getopt(PvmSelfOutputCode);
			o[4] = pvm_getopt(PvmOutputContext);
			o[5] = pvm_getopt(PvmSelfOutputContext);
			pvm_initsend(PvmDataDefault);
			pvm_pkint(o, 6, 1);
			pvm_send(pvm_parent(), TAG_OPTS);
		} else if (strcmp(argv[1], "late") == 0) {
			sleep(1);
			printf("late line\n");
		}
		pvm_exit();
		return 0;
	}

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");

	/* 1. raw output messages */
	pvm_setopt(PvmOutputTid, me);
	pvm_setopt(PvmOutputCode, TAG_OUT);
	tid = spawn_one(self, "print");
	CHECK_CMP(tid, >, 0, "spawned a printing child");
	used = 0;
	nmsg = got_begin = got_spawned = got_eof = 0;
	ok_src = ok_parent = 1;
	while (!got_eof && nmsg < 50 && (bid = wait_msg(-1, TAG_OUT, 10)) > 0) {
		nmsg++;
		pvm_bufinfo(bid, &len, &tag, &src);
		if (src != PVMD_SRC)
			ok_src = 0;
		pvm_upkint(hdr, 2, 1);
		if (hdr[0] != tid)
			ok_src = 0;
		if (hdr[1] > 0 && used + hdr[1] < sizeof data) {
			pvm_upkbyte(data + used, hdr[1], 1);
			used += hdr[1];
		} else if (hdr[1] == 0) {
			got_eof = 1;
		} else if (hdr[1] == -1 || hdr[1] == -2) {
			if (hdr[1] == -1 && !got_spawned)
				ok_parent = 0; /* -2 comes first */
			got_begin += hdr[1] == -1;
			got_spawned += hdr[1] == -2;
			pvm_upkint(&hdr[2], 1, 1);
			if (hdr[2] != me)
				ok_parent = 0;
		}
	}
	data[used] = 0;
	CHECK(ok_src, "output messages come from t80000000 and name the child");
	CHECK_INT(got_spawned, 1, "one (tid, -2, parent) announcement");
	CHECK_INT(got_begin, 1, "one (tid, -1, parent) announcement");
	CHECK(ok_parent, "-2 before -1, both carrying the parent");
	CHECK_INT(got_eof, 1, "(tid, 0) ends the output");
	CHECK_STR(data, "hello one\nhello two\nerr line\nno newline",
		"stdout and stderr in order, unflushed text not lost");

	/* 2. children inherit the settings */
	pvm_setopt(PvmOutputContext, 0);
	tid = spawn_one(self, "opts");
	bid = wait_msg(tid, TAG_OPTS, 10);
	CHECK_CMP(bid, >, 0, "child reported its options");
	if (bid > 0) {
		int o[6];
		pvm_upkint(o, 6, 1);
		CHECK_INT(o[0], me, "child's PvmOutputTid inherited");
		CHECK_INT(o[1], TAG_OUT, "child's PvmOutputCode inherited");
		CHECK_INT(o[2], me, "child's PvmSelfOutputTid inherited");
		CHECK_INT(o[3], TAG_OUT, "child's PvmSelfOutputCode inherited");
	}
	/* drain that child's output messages */
	while (wait_msg(-1, TAG_OUT, 1) > 0) {
		pvm_upkint(hdr, 2, 1);
		if (hdr[0] == tid && hdr[1] == 0)
			break;
	}
	pvm_setopt(PvmOutputTid, 0);
	pvm_setopt(PvmOutputCode, 0);

	/* 3. pvm_catchout with PvmShowTids */
	f = tmpfile();
	CHECK_INT(pvm_catchout(f), 0, "pvm_catchout returns 0");
	CHECK_INT(pvm_getopt(PvmOutputTid), me, "catchout sets PvmOutputTid to us");
	CHECK_INT(pvm_getopt(PvmOutputCode), (int)0x80030005u, "catchout's reserved tag");
	CHECK_INT(pvm_getopt(PvmOutputContext), 0x7ffff, "catchout's reserved context");
	tid = spawn_one(self, "print");
	pump_until(f, "EOF");
	snprintf(want, sizeof want,
		"[t%x] BEGIN\n[t%x] hello one\n[t%x] hello two\n[t%x] err line\n[t%x] no newline\n[t%x] EOF\n",
		tid, tid, tid, tid, tid, tid);
	CHECK_STR(slurp(f, buf, sizeof buf), want, "catchout framing with PvmShowTids");
	CHECK_INT(wait_msg(-1, -1, 0.2), 0, "output messages do not reach pvm_recv");
	fclose(f);

	/* 4. without PvmShowTids: raw lines */
	f = tmpfile();
	pvm_catchout(f);
	pvm_setopt(PvmShowTids, 0);
	tid = spawn_one(self, "print");
	pump_until(f, "no newline\n");
	wait_msg(-1, 9999, 0.3);
	CHECK_STR(slurp(f, buf, sizeof buf), "hello one\nhello two\nerr line\nno newline\n",
		"catchout without PvmShowTids: just the text, last line ended");
	pvm_setopt(PvmShowTids, 1);

	/* 5. pvm_catchout(0) */
	CHECK_INT(pvm_catchout(NULL), 0, "pvm_catchout(NULL) returns 0");
	CHECK_INT(pvm_getopt(PvmOutputTid), 0, "catchout off clears PvmOutputTid");
	CHECK_INT(pvm_getopt(PvmOutputCode), 0, "catchout off clears PvmOutputCode");
	fclose(f);

	/* 6. pvm_exit waits for the children's output */
	f = tmpfile();
	pvm_catchout(f);
	tid = spawn_one(self, "late");
	CHECK_INT(pvm_exit(), 0, "pvm_exit with output pending");
	snprintf(want, sizeof want, "[t%x] BEGIN\n[t%x] late line\n[t%x] EOF\n", tid, tid, tid);
	CHECK_STR(slurp(f, buf, sizeof buf), want, "pvm_exit waited for the child's output");
	fclose(f);
	return check_done();
}
