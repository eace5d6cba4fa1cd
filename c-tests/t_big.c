/*
 * t_big.c - a 64 MiB message round trip: the parent packs 64 MiB of
 * patterned bytes, a spawned copy checks them, computes a checksum and sends
 * the whole block back; the parent compares checksum and contents.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define BIG (64 * 1024 * 1024)
#define TAG_BIG 51
#define TAG_BACK 52

/* Fletcher-style 64-bit checksum */
static uint64_t checksum(const unsigned char *p, size_t n)
{
	uint64_t a = 1, b = 0;
	size_t i;
	for (i = 0; i < n; i++) {
		a = (a + p[i]) % 4294967291u;
		b = (b + a) % 4294967291u;
	}
	return (b << 32) | a;
}

static void fill(unsigned char *p, size_t n)
{
	size_t i;
	uint32_t x = 2463534242u;
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static int child(void)
{
	int parent = pvm_parent();
	unsigned char *buf = malloc(BIG);
	int n = 0, len = 0, tag, src;
	unsigned long sum;

	if (buf && wait_msg(parent, TAG_BIG, 120) > 0) {
		pvm_bufinfo(pvm_getrbuf(), &len, &tag, &src);
		pvm_upkint(&n, 1, 1);
		if (n == BIG && pvm_upkbyte((char *)buf, n, 1) == PvmOk) {
			sum = (unsigned long)checksum(buf, BIG);
			pvm_initsend(PvmDataRaw);
			pvm_pkulong(&sum, 1, 1);
			pvm_pkint(&len, 1, 1);
			pvm_pkbyte((char *)buf, BIG, 1);
			pvm_send(parent, TAG_BACK);
		}
	}
	free(buf);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	unsigned char *out, *back;
	int tid = 0, cc, n = BIG, len = 0, tag = 0, src = 0, childlen = 0;
	unsigned long sum = 0;
	uint64_t want;

	(void)argc;
	if (pvm_parent() > 0)
		return child();
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");

	out = malloc(BIG);
	back = malloc(BIG);
	CHECK(out != NULL && back != NULL, "allocated 2 x 64 MiB");
	if (!out || !back)
		return check_done();
	fill(out, BIG);
	want = checksum(out, BIG);

	cc = pvm_spawn((char *)self, NULL, PvmTaskDefault, "", 1, &tid);
	CHECK_INT(cc, 1, "spawn the echo task");
	if (cc == 1) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&n, 1, 1);
		CHECK_INT(pvm_pkbyte((char *)out, BIG, 1), PvmOk, "pack 64 MiB");
		CHECK_INT(pvm_send(tid, TAG_BIG), PvmOk, "send 64 MiB");
		cc = wait_msg(tid, TAG_BACK, 120);
		CHECK_CMP(cc, >, 0, "64 MiB come back");
		if (cc > 0) {
			pvm_bufinfo(cc, &len, &tag, &src);
			CHECK_INT(len, BIG + 12, "returned message length: checksum, length, data");
			pvm_upkulong(&sum, 1, 1);
			pvm_upkint(&childlen, 1, 1);
			CHECK_INT(childlen, BIG + 4, "the child saw a message of 64 MiB + 4 bytes");
			CHECK(sum == (unsigned long)want, "the child's checksum matches ours");
			CHECK_INT(pvm_upkbyte((char *)back, BIG, 1), PvmOk, "unpack 64 MiB");
			CHECK(memcmp(out, back, BIG) == 0, "the returned 64 MiB are identical");
		}
	}
	free(out);
	free(back);
	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit");
	return check_done();
}
