/*
 * t_mhf.c - message handlers: pvm_addmhf / pvm_delmhf.
 *
 * Checks the error codes, that a matching message is given to its handler
 * (as the active receive buffer) from inside any call that reads messages
 * and never reaches pvm_recv, that source, tag and context all take part in
 * matching (-1 matching any), that the caller's buffers are saved around a
 * handler, that a handler may send, and that pvm_delmhf stops it.
 * A spawned copy of this program sends the messages of the cross-task part.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_H 5       /* handled by h_count */
#define TAG_PLAIN 6   /* never handled */
#define TAG_REPLY 7   /* sent by h_reply from inside the handler */
#define TAG_ASK 8     /* handled by h_reply */
#define TAG_CHILD 20  /* child -> parent, handled */
#define TAG_DONE 21   /* child -> parent, plain */

static int count;
static int last_value;
static int last_mid_was_rbuf;
static int last_src;

static int h_count(int mid)
{
	int v = -1, bytes, tag, src;
	last_mid_was_rbuf = (pvm_getrbuf() == mid);
	pvm_upkint(&v, 1, 1);
	pvm_bufinfo(mid, &bytes, &tag, &src);
	last_src = src;
	last_value = v;
	count++;
	return 0;
}

/* frees its message itself, as PVM's mhf_server example does */
static int h_free_self(int mid)
{
	int rbf = pvm_setrbuf(mid);
	int v = -1;
	pvm_upkint(&v, 1, 1);
	last_value = v;
	count++;
	pvm_freebuf(pvm_setrbuf(rbf));
	return 0;
}

/* answers from inside the handler with its own send buffer */
static int h_reply(int mid)
{
	int v = -1, me = pvm_mytid();
	(void)mid;
	pvm_upkint(&v, 1, 1);
	v *= 2;
	pvm_setsbuf(pvm_mkbuf(PvmDataDefault));
	pvm_pkint(&v, 1, 1);
	pvm_send(me, TAG_REPLY);
	pvm_freebuf(pvm_setsbuf(0));
	count++;
	return 0;
}

static void send_int(int to, int tag, int v)
{
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	pvm_send(to, tag);
}

/* lets libpvm read what has arrived: a short timed receive of a tag nobody sends */
static void pump(void)
{
	struct timeval tv;
	int i;
	for (i = 0; i < 5; i++) {
		tv.tv_sec = 0;
		tv.tv_usec = 20000;
		pvm_trecv(-1, 999, &tv);
	}
}

/* the same with pvm_probe, which leaves the active receive buffer alone,
 * until the handler count passes `want` (bounded: 2 s) */
static void pump_probe(int want)
{
	int i;
	for (i = 0; i < 200 && count < want; i++) {
		pvm_probe(-1, 999);
		if (count < want)
			usleep(10000);
	}
}

static int child_main(void)
{
	int parent = pvm_parent(), i;
	for (i = 1; i <= 3; i++)
		send_int(parent, TAG_CHILD, 100 + i);
	send_int(parent, TAG_DONE, 0);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, id1, id2, id3, id4, rc, v, bufA, sbuf, ctx, child = 0;

	if (pvm_parent() > 0)
		return child_main();
	(void)argc;
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);

	/* ---- error codes ---- */
	id1 = pvm_addmhf(-1, TAG_H, -1, h_count);
	/* PVM 3.4.6's library installs nine handlers of its own when it
	 * enrolls (ids 0-8); a program's first handler gets 9 */
	CHECK_INT(id1, 9, "first handler id of an enrolled task is 9, as in PVM 3.4.6");
	CHECK_INT(pvm_addmhf(-1, TAG_H, -1, h_count), PvmExists, "same src/tag/ctx twice: PvmExists");
	CHECK_INT(pvm_addmhf(-1, TAG_H, -1, h_free_self), PvmExists, "same triple, other function: PvmExists");
	CHECK_INT(pvm_delmhf(-1), PvmBadParam, "delmhf(-1): PvmBadParam");
	CHECK_INT(pvm_delmhf(12345), PvmNotFound, "delmhf(unknown): PvmNotFound");

	/* ---- a handled self-send never reaches recv ---- */
	count = 0;
	send_int(me, TAG_H, 42);
	send_int(me, TAG_PLAIN, 43);
	rc = wait_msg(-1, TAG_PLAIN, 10);
	CHECK_CMP(rc, >, 0, "plain message received");
	pvm_upkint(&v, 1, 1);
	CHECK_INT(v, 43, "plain payload");
	pump();
	CHECK_INT(count, 1, "handler ran once");
	CHECK_INT(last_value, 42, "handler unpacked its payload");
	CHECK_INT(last_mid_was_rbuf, 1, "handler's message is the active receive buffer");
	CHECK_INT(last_src, me, "bufinfo of the handler's message gives the source");
	CHECK_INT(pvm_nrecv(-1, TAG_H), 0, "handled message was consumed");

	/* ---- buffers are saved around the handler ---- */
	send_int(me, TAG_PLAIN, 77);
	bufA = wait_msg(-1, TAG_PLAIN, 10);
	CHECK_CMP(bufA, >, 0, "message A received");
	sbuf = pvm_initsend(PvmDataDefault);
	v = 5;
	pvm_pkint(&v, 1, 1);
	send_int(me, TAG_H, 55);             /* initsend again: new sbuf */
	sbuf = pvm_getsbuf();
	pvm_setrbuf(bufA);
	pump_probe(2);
	CHECK_INT(count, 2, "handler ran inside pvm_probe");
	CHECK_INT(last_value, 55, "second handled payload");
	CHECK_INT(pvm_getrbuf(), bufA, "receive buffer restored after the handler");
	CHECK_INT(pvm_getsbuf(), sbuf, "send buffer restored after the handler");
	v = 0;
	CHECK_INT(pvm_upkint(&v, 1, 1), 0, "message A still unpackable");
	CHECK_INT(v, 77, "message A intact");

	/* ---- a handler that frees its own message ---- */
	id2 = pvm_addmhf(me, TAG_PLAIN + 100, 0, h_free_self);
	CHECK_CMP(id2, >=, 0, "addmhf with a source and a context");
	CHECK(id2 != id1, "ids differ");
	send_int(me, TAG_PLAIN + 100, 9);
	pump();
	CHECK_INT(count, 3, "self-freeing handler ran");
	CHECK_INT(last_value, 9, "self-freeing handler payload");

	/* ---- context takes part in matching ---- */
	ctx = pvm_newcontext();
	pvm_setcontext(ctx);
	send_int(me, TAG_PLAIN + 100, 10);     /* handler wants context 0 */
	rc = wait_msg(-1, TAG_PLAIN + 100, 10);
	CHECK_CMP(rc, >, 0, "other context: message not handled, received");
	CHECK_INT(count, 3, "handler not run for another context");
	send_int(me, TAG_H, 11);               /* ctx -1: any context */
	pump();
	CHECK_INT(count, 4, "wildcard context handler ran in a new context");
	pvm_setcontext(0);
	pvm_freecontext(ctx);

	/* ---- source takes part in matching ---- */
	id3 = pvm_addmhf(me + 1000, TAG_PLAIN + 200, -1, h_count);
	CHECK_CMP(id3, >=, 0, "addmhf for another source");
	CHECK_INT(id3, 11, "ids count up: the third handler is 11");
	send_int(me, TAG_PLAIN + 200, 12);
	rc = wait_msg(-1, TAG_PLAIN + 200, 10);
	CHECK_CMP(rc, >, 0, "message from another source than the handler's: received");
	CHECK_INT(count, 4, "handler for another source not run");

	/* ---- a handler may send ---- */
	id4 = pvm_addmhf(-1, TAG_ASK, -1, h_reply);
	send_int(me, TAG_ASK, 21);
	rc = wait_msg(-1, TAG_REPLY, 10);
	CHECK_CMP(rc, >, 0, "reply sent from inside a handler arrived");
	v = 0;
	pvm_upkint(&v, 1, 1);
	CHECK_INT(v, 42, "reply payload");

	/* ---- delmhf stops the handler ---- */
	CHECK_INT(pvm_delmhf(id1), 0, "delmhf");
	CHECK_INT(pvm_delmhf(id1), PvmNotFound, "delmhf twice: PvmNotFound");
	send_int(me, TAG_H, 13);
	rc = wait_msg(-1, TAG_H, 10);
	CHECK_CMP(rc, >, 0, "after delmhf the message is received");
	pvm_upkint(&v, 1, 1);
	CHECK_INT(v, 13, "its payload");

	/* ---- messages from another task, handled inside a blocking recv ---- */
	count = 0;
	id1 = pvm_addmhf(-1, TAG_CHILD, -1, h_count);
	CHECK_INT(id1, 9, "the lowest free id is reused");
	CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &child), 1, "spawned the sender");
	rc = wait_msg(child, TAG_DONE, 20);
	CHECK_CMP(rc, >, 0, "sender finished");
	CHECK_INT(count, 3, "three messages of the child handled while blocked in recv");
	CHECK_INT(last_src, child, "handled message came from the child");
	CHECK_INT(last_value, 103, "last child payload");
	CHECK_INT(pvm_nrecv(-1, TAG_CHILD), 0, "none of them was queued");

	CHECK_INT(id4, 12, "the fourth handler is 12");
	CHECK_INT(pvm_delmhf(id1), 0, "delmhf of the child handler");
	/* pvm_exit removes the program's handlers, as PVM 3.4.6's does; their
	 * ids are reused, the most recently freed first: 10, 11, 12 (freed by
	 * pvm_exit), then 9 (freed before) */
	pvm_exit();
	CHECK_INT(pvm_delmhf(id2), PvmNotFound, "pvm_exit removed the handlers");
	CHECK_INT(pvm_addmhf(-1, TAG_H, -1, h_count), 10, "after pvm_exit: id 10 again");
	CHECK_INT(pvm_addmhf(-1, TAG_H + 1, -1, h_count), 11, "then 11");
	CHECK_INT(pvm_addmhf(-1, TAG_H + 2, -1, h_count), 12, "then 12");
	CHECK_INT(pvm_addmhf(-1, TAG_H + 3, -1, h_count), 9, "then 9");
	CHECK_INT(pvm_addmhf(-1, TAG_H + 4, -1, h_count), 13, "then a new one, 13");
	id1 = pvm_addmhf(-1, TAG_H + 5, -1, h_count);
	id2 = pvm_addmhf(-1, TAG_H + 6, -1, h_count);
	CHECK(id1 == 14 && id2 == 15, "14 and 15");
	pvm_delmhf(id1);
	pvm_delmhf(id2);
	CHECK_INT(pvm_addmhf(-1, TAG_H + 7, -1, h_count), 15, "the most recently freed id first (15)");
	CHECK_INT(pvm_addmhf(-1, TAG_H + 8, -1, h_count), 14, "then 14");
	return check_done();
}
