/*
 * t_held.c - large messages on a direct route between tasks of one host,
 * whose bodies stay in the link's shared-memory ring until the message is
 * freed (src/task/shm.rs), while the receiver holds several of them.
 *
 * Checks: a child sends NHELD messages of 2 MiB (bytes, then doubles, then
 * an int, each message its own pattern) over PvmRouteDirect, more than the
 * ring holds at once; the parent receives them all and keeps every buffer
 * (pvm_setrbuf(0) after each receive), so later bodies find the ring full
 * and come inline; it then unpacks them in another order than they came
 * (last, first, the rest), checks bufinfo lengths and every value, frees
 * them out of order, forwards one still unread back to the child (the
 * child checks it and answers 1), and receives one more with pvm_precv
 * straight into its buffer; after all that a further round of messages
 * still arrives intact (the freed room came back).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define TAG_GO 30
#define TAG_HELD 31
#define TAG_FWD 32
#define TAG_FWDOK 33
#define TAG_PRECV 34
#define TAG_QUIT 35

#define NHELD 6
#define NBYTE (1 << 20)
#define NDBL (128 * 1024)
#define WAIT 30

static unsigned char byte_at(int i, int seed)
{
	return (unsigned char)((i * 13 + seed * 29) & 0xff);
}

static double dbl_at(int i, int seed)
{
	return i * 0.25 - seed;
}

/* Packs message `seed` into a new send buffer with `enc`. */
static void pack_one(int enc, int seed, unsigned char *b, double *d)
{
	int i;
	for (i = 0; i < NBYTE; i++)
		b[i] = byte_at(i, seed);
	for (i = 0; i < NDBL; i++)
		d[i] = dbl_at(i, seed);
	pvm_initsend(enc);
	pvm_pkbyte((char *)b, NBYTE, 1);
	pvm_pkdouble(d, NDBL, 1);
	pvm_pkint(&seed, 1, 1);
}

/* Unpacks the active receive buffer; 1 when it is message `seed`. */
static int unpack_one(int seed, unsigned char *b, double *d)
{
	int i, s = -1;
	memset(b, 0, NBYTE);
	memset(d, 0, NDBL * sizeof *d);
	if (pvm_upkbyte((char *)b, NBYTE, 1) < 0 || pvm_upkdouble(d, NDBL, 1) < 0 || pvm_upkint(&s, 1, 1) < 0)
		return 0;
	for (i = 0; i < NBYTE; i++)
		if (b[i] != byte_at(i, seed))
			return 0;
	for (i = 0; i < NDBL; i++)
		if (d[i] != dbl_at(i, seed))
			return 0;
	return s == seed;
}

static int child(void)
{
	int parent = pvm_parent(), round, k, ok;
	unsigned char *b = malloc(NBYTE);
	double *d = malloc(NDBL * sizeof *d);
	if (!b || !d)
		return 1;
	pvm_setopt(PvmRoute, PvmRouteDirect);
	for (round = 0; round < 2; round++) {
		if (wait_msg(parent, TAG_GO, WAIT) <= 0)
			return 1;
		for (k = 0; k < NHELD; k++) {
			pack_one(k % 2 ? PvmDataRaw : PvmDataDefault, round * 100 + k, b, d);
			pvm_send(parent, TAG_HELD);
		}
		if (round == 0) {
			if (wait_msg(parent, TAG_FWD, WAIT) <= 0)
				return 1;
			ok = unpack_one(2, b, d);
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&ok, 1, 1);
			pvm_send(parent, TAG_FWDOK);
			for (k = 0; k < NBYTE; k++)
				b[k] = byte_at(k, 77);
			pvm_psend(parent, TAG_PRECV, b, NBYTE, PVM_BYTE);
		}
	}
	wait_msg(parent, TAG_QUIT, WAIT);
	free(b);
	free(d);
	return 0;
}

int main(int argc, char **argv)
{
	int kid, cc, k, bufs[NHELD], order[NHELD], bytes, tag, src, ok, i, good;
	unsigned char *b, *got;
	double *d;

	(void)argc;
	if (pvm_parent() > 0) {
		int rc = child();
		pvm_exit();
		return rc;
	}
	b = malloc(NBYTE);
	got = malloc(NBYTE);
	d = malloc(NDBL * sizeof *d);
	if (!b || !got || !d)
		return 1;
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	pvm_setopt(PvmRoute, PvmRouteDirect);
	cc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &kid);
	CHECK_INT(cc, 1, "spawned the sending child");

	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_GO);
	for (k = 0; k < NHELD; k++) {
		bufs[k] = wait_msg(kid, TAG_HELD, WAIT);
		/* Keep it: the next receive must not free it. */
		pvm_setrbuf(0);
	}
	good = 1;
	for (k = 0; k < NHELD; k++)
		good = good && bufs[k] > 0;
	CHECK(good, "received all held messages (12 MiB, more than one ring)");
	good = 1;
	for (k = 0; k < NHELD; k++) {
		cc = pvm_bufinfo(bufs[k], &bytes, &tag, &src);
		good = good && cc == 0 && tag == TAG_HELD && src == kid && bytes >= NBYTE + NDBL * 8 + 4;
	}
	CHECK(good, "bufinfo of each held message: its tag, source and full length");

	/* Forward message 2 unread: the child checks it. */
	pvm_setsbuf(bufs[2]);
	cc = pvm_send(kid, TAG_FWD);
	CHECK_INT(cc, 0, "forwarded a held message unread");
	pvm_setsbuf(0);
	ok = 0;
	if (wait_msg(kid, TAG_FWDOK, WAIT) > 0)
		pvm_upkint(&ok, 1, 1);
	CHECK_INT(ok, 1, "the child found the forwarded message intact");
	pvm_freebuf(pvm_getrbuf());

	/* Unpack last, first, then the rest; free out of order. */
	order[0] = NHELD - 1;
	order[1] = 0;
	for (k = 2; k < NHELD; k++)
		order[k] = k - 1;
	good = 1;
	for (k = 0; k < NHELD; k++) {
		pvm_setrbuf(bufs[order[k]]);
		if (!unpack_one(order[k], b, d))
			good = 0;
		pvm_setrbuf(0);
		if (k == 1) {
			/* The newest freed while the older ones are still held. */
			pvm_freebuf(bufs[NHELD - 1]);
			bufs[NHELD - 1] = 0;
		}
	}
	CHECK(good, "every held message unpacks to its own bytes, doubles and int");
	for (k = 0; k < NHELD; k++)
		if (bufs[k] > 0)
			pvm_freebuf(bufs[k]);

	memset(got, 0, NBYTE);
	cc = pvm_precv(kid, TAG_PRECV, got, NBYTE, PVM_BYTE, &src, &tag, &bytes);
	good = cc == 0 && src == kid && tag == TAG_PRECV && bytes == NBYTE;
	for (i = 0; good && i < NBYTE; i++)
		good = got[i] == byte_at(i, 77);
	CHECK(good, "pvm_precv of a large message straight into the caller's buffer");

	/* A second round after all that room was given back. */
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_GO);
	good = 1;
	for (k = 0; k < NHELD; k++) {
		if (wait_msg(kid, TAG_HELD, WAIT) <= 0 || !unpack_one(100 + k, b, d))
			good = 0;
	}
	CHECK(good, "a second round of large messages arrives intact");

	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_QUIT);
	free(b);
	free(got);
	free(d);
	pvm_exit();
	return check_done();
}
