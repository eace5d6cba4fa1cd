/*
 * t_buffers.c - message buffers and contexts: pvm_mkbuf, pvm_freebuf,
 * pvm_initsend, pvm_getsbuf/setsbuf, pvm_getrbuf/setrbuf, pvm_bufinfo,
 * pvm_getminfo/setminfo, pvm_pkmesg/pvm_pkmesgbody/pvm_upkmesg,
 * pvm_newcontext/setcontext/getcontext/freecontext.  Messages go to ourselves.
 */
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

int main(void)
{
	int mytid, b1, b2, cc, v, len = -1, tag = -1, src = -1;
	int vals[5] = { 5, 6, 7, 8, 9 }, out[5];
	struct pvmminfo mi;

	mytid = pvm_mytid();
	CHECK_CMP(mytid, >, 0, "enrolled");

	/* pvm_mkbuf / setsbuf / getsbuf / freebuf */
	b1 = pvm_mkbuf(PvmDataDefault);
	CHECK_CMP(b1, >, 0, "pvm_mkbuf returns a buffer id");
	b2 = pvm_mkbuf(PvmDataRaw);
	CHECK_CMP(b2, >, 0, "a second pvm_mkbuf returns a buffer id");
	CHECK(b1 != b2, "the two buffers differ");
	CHECK_INT(pvm_setsbuf(b1), 0, "pvm_setsbuf returns the previous send buffer (none: 0)");
	CHECK_INT(pvm_getsbuf(), b1, "pvm_getsbuf is the buffer just set");
	CHECK_INT(pvm_pkint(vals, 2, 1), PvmOk, "pack into b1");
	CHECK_INT(pvm_setsbuf(b2), b1, "pvm_setsbuf returns b1");
	CHECK_INT(pvm_pkint(vals + 2, 3, 1), PvmOk, "pack into b2");
	CHECK_INT(pvm_send(mytid, 41), PvmOk, "send b2");
	CHECK_INT(pvm_setsbuf(b1), b2, "switch back to b1");
	CHECK_INT(pvm_send(mytid, 42), PvmOk, "send b1");

	cc = wait_msg(mytid, 42, 20);
	CHECK_CMP(cc, >, 0, "message from b1 arrives (tag 42 selected first)");
	CHECK_INT(pvm_getrbuf(), cc, "pvm_getrbuf is the received buffer");
	CHECK_INT(pvm_bufinfo(cc, &len, &tag, &src), PvmOk, "pvm_bufinfo returns PvmOk");
	CHECK_INT(len, 8, "pvm_bufinfo bytes: 2 ints in XDR are 8 bytes");
	CHECK_INT(tag, 42, "pvm_bufinfo tag");
	CHECK_INT(src, mytid, "pvm_bufinfo src");
	memset(out, 0, sizeof out);
	pvm_upkint(out, 2, 1);
	CHECK(out[0] == 5 && out[1] == 6, "b1 contents");

	/* a new receive frees the current receive buffer unless it is set aside */
	CHECK_INT(pvm_setrbuf(0), cc, "pvm_setrbuf(0) sets the received buffer aside");
	b2 = wait_msg(mytid, 41, 20);
	CHECK_CMP(b2, >, 0, "message from b2 arrives");
	pvm_bufinfo(b2, &len, &tag, &src);
	CHECK_INT(len, 12, "Raw message of 3 ints is 12 bytes");
	/* setrbuf switches between received buffers */
	CHECK_INT(pvm_setrbuf(cc), b2, "pvm_setrbuf returns the previous receive buffer");
	CHECK_INT(pvm_upkint(out, 1, 1), PvmNoData, "b1 was fully unpacked: PvmNoData");
	CHECK_INT(pvm_setrbuf(b2), cc, "pvm_setrbuf back to b2");
	pvm_upkint(out, 3, 1);
	CHECK(out[0] == 7 && out[1] == 8 && out[2] == 9, "b2 contents");

	/* pvm_getminfo */
	memset(&mi, 0, sizeof mi);
	CHECK_INT(pvm_getminfo(b2, &mi), PvmOk, "pvm_getminfo returns PvmOk");
	CHECK_INT(mi.len, 12, "minfo len");
	CHECK_INT(mi.tag, 41, "minfo tag");
	CHECK_INT(mi.src, mytid, "minfo src");
	CHECK_INT(mi.dst, mytid, "minfo dst");
	{
		int nh = 0, na = 0;
		struct pvmhostinfo *hp = NULL;
		pvm_config(&nh, &na, &hp);
		CHECK_INT(mi.enc, hp ? hp[0].hi_dsig : -1, "minfo enc of a Raw message is the host's data signature");
	}
	CHECK_INT(mi.ctx, 0, "minfo ctx is the base context");

	/* pvm_freebuf */
	CHECK_INT(pvm_freebuf(cc), PvmOk, "pvm_freebuf of a received buffer");
	CHECK_INT(pvm_freebuf(b2), PvmOk, "pvm_freebuf of the current receive buffer");
	CHECK_INT(pvm_getrbuf(), 0, "freeing the receive buffer leaves none");
	pvm_setopt(PvmAutoErr, 0);
	CHECK_INT(pvm_freebuf(cc), PvmNoSuchBuf, "double pvm_freebuf is PvmNoSuchBuf");
	CHECK_INT(pvm_freebuf(99999), PvmNoSuchBuf, "pvm_freebuf of a bad id is PvmNoSuchBuf");
	CHECK_INT(pvm_freebuf(-3), PvmBadParam, "pvm_freebuf of a negative id is PvmBadParam");
	CHECK_INT(pvm_setsbuf(99999), PvmNoSuchBuf, "pvm_setsbuf of a bad id is PvmNoSuchBuf");
	CHECK_INT(pvm_setrbuf(99999), PvmNoSuchBuf, "pvm_setrbuf of a bad id is PvmNoSuchBuf");
	CHECK_INT(pvm_bufinfo(99999, &len, &tag, &src), PvmNoSuchBuf, "pvm_bufinfo of a bad id is PvmNoSuchBuf");
	CHECK_INT(pvm_getminfo(99999, &mi), PvmNoSuchBuf, "pvm_getminfo of a bad id is PvmNoSuchBuf");
	CHECK_INT(pvm_mkbuf(99), PvmBadParam, "pvm_mkbuf with a bad encoding is PvmBadParam");
	CHECK_INT(pvm_initsend(99), PvmBadParam, "pvm_initsend with a bad encoding is PvmBadParam");
	CHECK_INT(pvm_setsbuf(0), b1, "pvm_setsbuf(0) returns the previous buffer");
	CHECK_INT(pvm_pkint(vals, 1, 1), PvmNoBuf, "packing with no send buffer is PvmNoBuf");
	CHECK_INT(pvm_send(mytid, 1), PvmNoBuf, "sending with no send buffer is PvmNoBuf");
	pvm_setopt(PvmAutoErr, 1);
	CHECK_INT(pvm_freebuf(b1), PvmOk, "free b1");

	/* pvm_initsend replaces the send buffer */
	b1 = pvm_initsend(PvmDataDefault);
	CHECK_CMP(b1, >, 0, "pvm_initsend returns a buffer id");
	CHECK_INT(pvm_getsbuf(), b1, "... which is the send buffer");

	/* pvm_setminfo: change the tag of a buffer before sending it */
	pvm_pkint(vals, 1, 1);
	memset(&mi, 0, sizeof mi);
	CHECK_INT(pvm_getminfo(b1, &mi), PvmOk, "getminfo on a send buffer");
	mi.tag = 4711;
	CHECK_INT(pvm_setminfo(b1, &mi), PvmOk, "pvm_setminfo returns PvmOk");
	memset(&mi, 0, sizeof mi);
	pvm_getminfo(b1, &mi);
	CHECK_INT(mi.tag, 4711, "pvm_setminfo changed the tag");

	/* pvm_pkmesg: a whole message (with its header) packed in another */
	cc = pvm_mkbuf(PvmDataDefault);
	pvm_setsbuf(cc);
	v = 1234;
	pvm_pkint(&v, 1, 1);
	memset(&mi, 0, sizeof mi);
	pvm_getminfo(cc, &mi);
	mi.tag = 77;
	mi.src = mytid;
	pvm_setminfo(cc, &mi);
	CHECK_INT(pvm_setsbuf(0), cc, "set the inner message aside (pvm_initsend would free it)");
	b2 = pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_pkmesg(cc), PvmOk, "pvm_pkmesg returns PvmOk");
	CHECK_INT(pvm_pkmesgbody(cc), PvmOk, "pvm_pkmesgbody returns PvmOk");
	pvm_freebuf(cc);
	CHECK_INT(pvm_send(mytid, 43), PvmOk, "send the carrier message");
	cc = wait_msg(mytid, 43, 20);
	CHECK_CMP(cc, >, 0, "carrier arrives");
	b1 = pvm_upkmesg();
	CHECK_CMP(b1, >, 0, "pvm_upkmesg returns a new buffer id");
	if (b1 > 0) {
		memset(&mi, 0, sizeof mi);
		pvm_getminfo(b1, &mi);
		CHECK_INT(mi.tag, 77, "unpacked message keeps its tag");
		v = 0;
		pvm_setrbuf(b1);
		pvm_upkint(&v, 1, 1);
		CHECK_INT(v, 1234, "unpacked message body");
		pvm_setrbuf(cc);
	}
	v = 0;
	CHECK_INT(pvm_upkint(&v, 1, 1), PvmOk, "pkmesgbody: the body is plain data in the carrier");
	CHECK_INT(v, 1234, "pkmesgbody data");

	/* contexts */
	{
		int base = pvm_getcontext(), c1, old;
		CHECK_INT(base, PvmBaseContext, "initial context is PvmBaseContext");
		c1 = pvm_newcontext();
		CHECK_CMP(c1, >, 0, "pvm_newcontext returns a new context");
		old = pvm_setcontext(c1);
		CHECK_INT(old, base, "pvm_setcontext returns the previous context");
		CHECK_INT(pvm_getcontext(), c1, "pvm_getcontext reads back the new context");
		pvm_initsend(PvmDataDefault);
		v = 111;
		pvm_pkint(&v, 1, 1);
		pvm_send(mytid, 50);
		CHECK_INT(pvm_setcontext(base), c1, "back to the base context");
		cc = pvm_nrecv(mytid, 50);
		{
			struct timeval tv;
			tv.tv_sec = 1;
			tv.tv_usec = 0;
			if (cc == 0)
				cc = pvm_trecv(mytid, 50, &tv);
		}
		CHECK_INT(cc, 0, "a message sent in another context is not received in the base context");
		CHECK_INT(pvm_probe(-1, -1), 0, "pvm_probe in the base context sees nothing");
		pvm_setcontext(c1);
		cc = wait_msg(mytid, 50, 20);
		CHECK_CMP(cc, >, 0, "it is received in its own context");
		v = 0;
		pvm_upkint(&v, 1, 1);
		CHECK_INT(v, 111, "context message data");
		memset(&mi, 0, sizeof mi);
		pvm_getminfo(cc, &mi);
		CHECK_INT(mi.ctx, c1, "minfo ctx names the context");
		pvm_setcontext(base);
		CHECK_INT(pvm_freecontext(c1), PvmOk, "pvm_freecontext returns PvmOk");
	}

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit");
	return check_done();
}
