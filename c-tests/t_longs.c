/*
 * t_longs.c - pvm_pklong / pvm_upklong (and the unsigned pair) with values
 * that need more than 32 bits, in every encoding.
 *
 * PvmDataDefault carries a long as a 4-byte word (PVM 3.4.6's XDR layout on
 * LINUX64).  PVM 3.4.6 then silently keeps the low 32 bits of a larger
 * value and unpacks without sign extension (-5 comes back as 4294967291);
 * pvm6 refuses a value that does not fit with PvmOverflow, packing nothing
 * of that call, and sign-extends on unpacking (docs/COMPATIBILITY.md,
 * "Message sizes and encodings").  So this program pins pvm6's behaviour and
 * fails against the original on purpose.  PvmDataRaw and PvmDataInPlace
 * carry all 64 bits in both.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define TAG 7

static int mytid;

static int loop_back(void)
{
	struct timeval tv;
	if (pvm_send(mytid, TAG) < 0)
		return -1;
	tv.tv_sec = 20;
	tv.tv_usec = 0;
	return pvm_trecv(mytid, TAG, &tv);
}

static int sbuf_bytes(void)
{
	int bytes = -1, tag, tid;
	pvm_bufinfo(pvm_getsbuf(), &bytes, &tag, &tid);
	return bytes;
}

static void portable(void)
{
	long big[1] = { 0x123456789aL };
	long mixed[3] = { 1L, -2L, -0x123456789aL };
	long fits[4] = { -5L, (long)INT_MIN, (long)INT_MAX, 0L };
	long out[4] = { 0, 0, 0, 0 };
	unsigned long ubig[1] = { 0x100000000UL };
	unsigned long ufits[2] = { 0xffffffffUL, 7UL };
	unsigned long uout[2] = { 0, 0 };

	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_pklong(big, 1, 1), PvmOverflow, "Default: a long beyond 32 bits is PvmOverflow");
	CHECK_INT(sbuf_bytes(), 0, "Default: nothing was packed");
	CHECK_INT(pvm_pklong(mixed, 3, 1), PvmOverflow, "Default: one long beyond 32 bits in an array is PvmOverflow");
	CHECK_INT(sbuf_bytes(), 0, "Default: nothing of that array was packed");
	CHECK_INT(pvm_pkulong(ubig, 1, 1), PvmOverflow, "Default: an unsigned long beyond 32 bits is PvmOverflow");
	CHECK_INT(pvm_pklong(fits, 4, 1), 0, "Default: longs within 32 bits pack");
	CHECK_INT(sbuf_bytes(), 16, "Default: four longs are 16 bytes");
	CHECK_INT(pvm_pkulong(ufits, 2, 1), 0, "Default: unsigned longs within 32 bits pack");
	CHECK_CMP(loop_back(), >, 0, "Default message arrives");
	CHECK_INT(pvm_upklong(out, 4, 1), 0, "Default: upklong");
	CHECK(out[0] == -5L, "Default: -5 comes back as -5 (sign-extended)");
	CHECK(out[1] == (long)INT_MIN && out[2] == (long)INT_MAX && out[3] == 0L, "Default: INT_MIN, INT_MAX and 0 come back");
	CHECK_INT(pvm_upkulong(uout, 2, 1), 0, "Default: upkulong");
	CHECK(uout[0] == 0xffffffffUL && uout[1] == 7UL, "Default: 0xffffffff comes back unsigned");
}

static void native(int enc, const char *name)
{
	long vals[4] = { 0x123456789abcdefL, -0x123456789aL, LONG_MAX, LONG_MIN };
	long out[4] = { 0, 0, 0, 0 };
	unsigned long uvals[2] = { 0xffffffff00000001UL, ULONG_MAX };
	unsigned long uout[2] = { 0, 0 };
	char what[120];

	pvm_initsend(enc);
	snprintf(what, sizeof what, "%s: 64-bit longs pack", name);
	CHECK_INT(pvm_pklong(vals, 4, 1), 0, what);
	snprintf(what, sizeof what, "%s: 64-bit unsigned longs pack", name);
	CHECK_INT(pvm_pkulong(uvals, 2, 1), 0, what);
	if (enc == PvmDataRaw) {
		CHECK_INT(sbuf_bytes(), 48, "Raw: six longs are 48 bytes");
	}
	snprintf(what, sizeof what, "%s message arrives", name);
	CHECK_CMP(loop_back(), >, 0, what);
	pvm_upklong(out, 4, 1);
	pvm_upkulong(uout, 2, 1);
	snprintf(what, sizeof what, "%s: every bit of the longs survives", name);
	CHECK(out[0] == vals[0] && out[1] == vals[1] && out[2] == LONG_MAX && out[3] == LONG_MIN, what);
	snprintf(what, sizeof what, "%s: every bit of the unsigned longs survives", name);
	CHECK(uout[0] == uvals[0] && uout[1] == ULONG_MAX, what);
}

int main(void)
{
	mytid = pvm_mytid();
	CHECK_CMP(mytid, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);
	portable();
	native(PvmDataRaw, "Raw");
	native(PvmDataInPlace, "InPlace");
	pvm_exit();
	return check_done();
}
