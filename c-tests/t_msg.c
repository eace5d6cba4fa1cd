/*
 * t_msg.c - point to point and multicast messaging: pvm_send, pvm_mcast,
 * pvm_psend/pvm_precv for every PVM_* type, pvm_recv, pvm_nrecv, pvm_trecv
 * (timeout), pvm_probe, pvm_recvf (custom matcher), -1 wildcards, per-pair
 * FIFO order of 1000 messages, and the error codes for bad arguments.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define NWORK 2
#define NFIFO 1000
#define TAG_MC 60
#define TAG_MCREPLY 61
#define TAG_FIFO 62
#define TAG_QUIT 99

static int mytid;

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static int worker(void)
{
	int parent = pvm_parent();
	int i, v = 0;

	/* answer the multicast, then stream NFIFO numbered messages */
	if (wait_msg(parent, TAG_MC, 30) > 0) {
		pvm_upkint(&v, 1, 1);
		v += 1;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_pkint(&mytid, 1, 1);
		pvm_send(parent, TAG_MCREPLY);
		for (i = 0; i < NFIFO; i++) {
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&i, 1, 1);
			pvm_send(parent, TAG_FIFO);
		}
	}
	wait_msg(parent, TAG_QUIT, 30);
	pvm_exit();
	return 0;
}

/* pvm3.h declares pvm_recvf's result type oddly; go through void (*)(void) */
typedef int (*matcher_fn)(int, int, int);
#define AS_MATCHER(f) ((matcher_fn)(void (*)(void))(f))

static int match_tag82(int bufid, int tid, int tag)
{
	int len, mtag, src;
	(void)tid;
	(void)tag;
	if (pvm_bufinfo(bufid, &len, &mtag, &src) < 0)
		return -1;
	return mtag == 82 ? 1 : 0;
}

/* psend to ourselves and precv it back for one data type */
#define PROUND(T, TYPE, NAME, GEN) do { \
	T in_[5], out_[5]; \
	int k_, rt_ = -1, rg_ = -1, rc_ = -1, cc_; \
	for (k_ = 0; k_ < 5; k_++) { in_[k_] = (T)(GEN); out_[k_] = (T)0; } \
	CHECK_INT(pvm_psend(mytid, 90 + TYPE, in_, 5, TYPE), PvmOk, "pvm_psend " NAME); \
	cc_ = pvm_precv(mytid, 90 + TYPE, out_, 5, TYPE, &rt_, &rg_, &rc_); \
	CHECK_INT(cc_, PvmOk, "pvm_precv " NAME); \
	CHECK_INT(rt_, mytid, "pvm_precv " NAME " source"); \
	CHECK_INT(rg_, 90 + TYPE, "pvm_precv " NAME " tag"); \
	CHECK_INT(rc_, (long)sizeof in_, "pvm_precv " NAME " alen is the length in bytes"); \
	CHECK(memcmp(in_, out_, sizeof in_) == 0, "pvm_precv " NAME " data"); \
} while (0)

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	int tids[NWORK], cc, i, k, v;

	(void)argc;
	mytid = pvm_mytid();
	if (pvm_parent() > 0)
		return worker();
	CHECK_CMP(mytid, >, 0, "enrolled");

	/* pvm_nrecv with nothing there */
	CHECK_INT(pvm_nrecv(-1, -1), 0, "pvm_nrecv returns 0 when nothing is there");

	/* pvm_trecv times out */
	{
		struct timeval tv;
		double t0 = now(), dt;
		tv.tv_sec = 1;
		tv.tv_usec = 0;
		cc = pvm_trecv(-1, 12345, &tv);
		dt = now() - t0;
		CHECK_INT(cc, 0, "pvm_trecv returns 0 on timeout");
		CHECK(dt >= 0.9 && dt < 5.0, "pvm_trecv waited about the time given (1 s)");
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		CHECK_INT(pvm_trecv(-1, 12345, &tv), 0, "pvm_trecv with a zero timeout polls");
	}

	/* send to ourselves, pvm_probe, pvm_recv with wildcards */
	pvm_initsend(PvmDataDefault);
	v = 7;
	pvm_pkint(&v, 1, 1);
	CHECK_INT(pvm_send(mytid, 70), PvmOk, "pvm_send to ourselves");
	cc = 0;
	for (i = 0; i < 500 && cc == 0; i++) {
		struct timeval tv;
		cc = pvm_probe(-1, 70);
		tv.tv_sec = 0;
		tv.tv_usec = 10000;
		if (cc == 0)
			select(0, NULL, NULL, NULL, &tv);
	}
	CHECK_CMP(cc, >, 0, "pvm_probe sees the message");
	CHECK_INT(pvm_probe(-1, 71), 0, "pvm_probe for another tag sees nothing");
	k = pvm_recv(-1, -1);
	CHECK_CMP(k, >, 0, "pvm_recv(-1, -1) gets it");
	CHECK_INT(k, cc, "pvm_recv returns the buffer pvm_probe reported");
	v = 0;
	pvm_upkint(&v, 1, 1);
	CHECK_INT(v, 7, "data received");
	CHECK_INT(pvm_nrecv(-1, -1), 0, "nothing left");

	/* pvm_recvf: a matcher that wants tag 82 only */
	{
		matcher_fn old;
		int len, tag, src;
		for (i = 80; i <= 82; i++) {
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&i, 1, 1);
			pvm_send(mytid, i);
		}
		old = AS_MATCHER(pvm_recvf(match_tag82));
		cc = wait_msg(-1, -1, 20);
		CHECK_CMP(cc, >, 0, "pvm_recv with a custom matcher gets a message");
		pvm_bufinfo(cc, &len, &tag, &src);
		CHECK_INT(tag, 82, "the custom matcher picked tag 82 over the earlier 80 and 81");
		CHECK(AS_MATCHER(pvm_recvf(old)) == match_tag82, "pvm_recvf returns the matcher it replaces");
		cc = wait_msg(mytid, -1, 20);
		pvm_bufinfo(cc, &len, &tag, &src);
		CHECK_INT(tag, 80, "with the default matcher again, tag 80 comes first");
		cc = wait_msg(-1, 81, 20);
		pvm_bufinfo(cc, &len, &tag, &src);
		CHECK_INT(tag, 81, "then tag 81");
		CHECK_INT(pvm_bufinfo(cc, NULL, NULL, NULL), PvmOk, "pvm_bufinfo accepts NULL out pointers");
	}

	/* pvm_psend / pvm_precv for every data type */
	{
		char s[6] = "abcde", so[6] = "";
		int rt = -1, rg = -1, rc = -1;
		PROUND(char, PVM_BYTE, "PVM_BYTE", 'a' + k_);
		PROUND(short, PVM_SHORT, "PVM_SHORT", -300 * k_);
		PROUND(int, PVM_INT, "PVM_INT", -70000 * k_ + 3);
		PROUND(float, PVM_FLOAT, "PVM_FLOAT", k_ * 0.5f - 1.0f);
		PROUND(double, PVM_DOUBLE, "PVM_DOUBLE", k_ * 1e-3 - 1e9);
		PROUND(long, PVM_LONG, "PVM_LONG", (long)k_ * 0x100000001L - 3);
		PROUND(unsigned short, PVM_USHORT, "PVM_USHORT", 60000 + k_);
		PROUND(unsigned int, PVM_UINT, "PVM_UINT", 0xfffffff0u + (unsigned)k_);
		PROUND(unsigned long, PVM_ULONG, "PVM_ULONG", 0xfffffffffff0UL + (unsigned long)k_);
		{
			float cin[10], cout[10];
			double zin[10], zout[10];
			for (k = 0; k < 10; k++) {
				cin[k] = k * 0.25f;
				cout[k] = 0;
				zin[k] = k * -2.5;
				zout[k] = 0;
			}
			CHECK_INT(pvm_psend(mytid, 95, cin, 5, PVM_CPLX), PvmOk, "pvm_psend PVM_CPLX");
			CHECK_INT(pvm_precv(mytid, 95, cout, 5, PVM_CPLX, &rt, &rg, &rc), PvmOk, "pvm_precv PVM_CPLX");
			CHECK_INT(rc, 40, "PVM_CPLX alen: 5 complex = 40 bytes");
			CHECK(memcmp(cin, cout, sizeof cin) == 0, "PVM_CPLX data");
			CHECK_INT(pvm_psend(mytid, 97, zin, 5, PVM_DCPLX), PvmOk, "pvm_psend PVM_DCPLX");
			CHECK_INT(pvm_precv(mytid, 97, zout, 5, PVM_DCPLX, &rt, &rg, &rc), PvmOk, "pvm_precv PVM_DCPLX");
			CHECK_INT(rc, 80, "PVM_DCPLX alen: 5 double complex = 80 bytes");
			CHECK(memcmp(zin, zout, sizeof zin) == 0, "PVM_DCPLX data");
		}
		/* PVM_STR is not supported by psend/precv */
		pvm_setopt(PvmAutoErr, 0);
		CHECK_INT(pvm_psend(mytid, 98, s, 6, PVM_STR), PvmNotImpl, "pvm_psend PVM_STR is PvmNotImpl");
		CHECK_INT(pvm_precv(mytid, 98, so, 6, PVM_STR, &rt, &rg, &rc), PvmNotImpl, "pvm_precv PVM_STR is PvmNotImpl");
		CHECK_STR(so, "", "PVM_STR: nothing received");
		pvm_setopt(PvmAutoErr, 1);
		/* wildcard precv */
		v = 31;
		pvm_psend(mytid, 96, &v, 1, PVM_INT);
		v = 0;
		CHECK_INT(pvm_precv(-1, -1, &v, 1, PVM_INT, &rt, &rg, &rc), PvmOk, "pvm_precv with wildcards");
		CHECK(v == 31 && rt == mytid && rg == 96 && rc == 4, "pvm_precv wildcard results");
	}

	/* errors */
	pvm_setopt(PvmAutoErr, 0);
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_send(-1, 1), PvmBadParam, "pvm_send to tid -1 is PvmBadParam");
	CHECK_INT(pvm_send(mytid, -1), PvmBadParam, "pvm_send with tag -1 is PvmBadParam");
	CHECK_INT(pvm_mcast(tids, -1, 1), PvmBadParam, "pvm_mcast with a negative count is PvmBadParam");
	CHECK_INT(pvm_mcast(&mytid, 1, -1), PvmBadParam, "pvm_mcast with tag -1 is PvmBadParam");
	CHECK_INT(pvm_psend(-1, 1, &v, 1, PVM_INT), PvmBadParam, "pvm_psend to tid -1 is PvmBadParam");
	CHECK_INT(pvm_psend(mytid, 1, &v, 1, 99), PvmBadParam, "pvm_psend with a bad type is PvmBadParam");
	pvm_setopt(PvmAutoErr, 1);

	/* spawn workers; multicast; 1000 messages each in order */
	cc = pvm_spawn((char *)self, NULL, PvmTaskDefault, "", NWORK, tids);
	CHECK_INT(cc, NWORK, "spawn the workers");
	if (cc == NWORK) {
		int replies = 0, next[NWORK], inorder = 1, total = 0;
		pvm_initsend(PvmDataDefault);
		v = 41;
		pvm_pkint(&v, 1, 1);
		CHECK_INT(pvm_mcast(tids, NWORK, TAG_MC), PvmOk, "pvm_mcast returns PvmOk");
		for (i = 0; i < NWORK; i++) {
			int who = 0;
			if (wait_msg(-1, TAG_MCREPLY, 20) <= 0)
				break;
			pvm_upkint(&v, 1, 1);
			pvm_upkint(&who, 1, 1);
			if (v == 42 && (who == tids[0] || who == tids[1]))
				replies++;
		}
		CHECK_INT(replies, NWORK, "every worker got the multicast value");
		for (i = 0; i < NWORK; i++)
			next[i] = 0;
		for (i = 0; i < NWORK * NFIFO; i++) {
			int len, tag, src, w;
			cc = wait_msg(-1, TAG_FIFO, 20);
			if (cc <= 0)
				break;
			pvm_bufinfo(cc, &len, &tag, &src);
			pvm_upkint(&v, 1, 1);
			w = src == tids[0] ? 0 : src == tids[1] ? 1 : -1;
			if (w < 0 || v != next[w])
				inorder = 0;
			else
				next[w]++;
			total++;
		}
		CHECK_INT(total, NWORK * NFIFO, "all 2000 messages arrived");
		CHECK_INT(inorder, 1, "each worker's 1000 messages arrived in order");
		pvm_initsend(PvmDataDefault);
		pvm_mcast(tids, NWORK, TAG_QUIT);
	}

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit");
	return check_done();
}
