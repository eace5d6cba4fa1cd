/*
 * t_pack.c - every pvm_pk* / pvm_upk* routine with strides, in the
 * PvmDataDefault, PvmDataRaw and PvmDataInPlace encodings (InPlace: the
 * array is modified after packing and the receiver sees the new values),
 * pvm_pkstr/pvm_upkstr, pvm_packf/pvm_unpackf, and the packing errors
 * (PvmNoData past the end, PvmNoBuf, bad counts).  Messages go to ourselves.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define N 7            /* items packed per call */
#define PKSTRIDE 2     /* stride used when packing */
#define UPSTRIDE 3     /* stride used when unpacking */
#define TAG 31

static int mytid;

static const char *enc_name(int enc)
{
	return enc == PvmDataDefault ? "Default" : enc == PvmDataRaw ? "Raw" : "InPlace";
}

/* send the active buffer to ourselves and make the reply the receive buffer */
static int loop_back(void)
{
	struct timeval tv;
	if (pvm_send(mytid, TAG) < 0)
		return -1;
	tv.tv_sec = 20;
	tv.tv_usec = 0;
	return pvm_trecv(mytid, TAG, &tv);
}

/*
 * One round for a scalar type: pack N items with stride PKSTRIDE (stride 1 for
 * InPlace, which then changes the source array after packing), send,
 * unpack with stride UPSTRIDE, compare every slot.
 * W is the number of scalars per item (2 for complex types).
 */
#define ROUND(T, W, PK, UPK, GEN, enc) do { \
	T src_[N * PKSTRIDE * (W)], dst_[N * UPSTRIDE * (W)]; \
	int k_, j_, bad_ = 0, cc_; \
	int ps_ = (enc) == PvmDataInPlace ? 1 : PKSTRIDE; \
	char what_[128]; \
	for (k_ = 0; k_ < N * PKSTRIDE * (W); k_++) \
		src_[k_] = (T)(GEN(k_)); \
	memset(dst_, 0, sizeof dst_); \
	CHECK_CMP(pvm_initsend(enc), >, 0, "pvm_initsend"); \
	snprintf(what_, sizeof what_, "%s %s returns PvmOk", #PK, enc_name(enc)); \
	CHECK_INT(PK(src_, N, ps_), PvmOk, what_); \
	if ((enc) == PvmDataInPlace) \
		for (k_ = 0; k_ < N * PKSTRIDE * (W); k_++) \
			src_[k_] = (T)(GEN(k_ + 1)); \
	cc_ = loop_back(); \
	snprintf(what_, sizeof what_, "%s %s message arrives", #PK, enc_name(enc)); \
	CHECK_CMP(cc_, >, 0, what_); \
	snprintf(what_, sizeof what_, "%s %s returns PvmOk", #UPK, enc_name(enc)); \
	CHECK_INT(UPK(dst_, N, UPSTRIDE), PvmOk, what_); \
	for (k_ = 0; k_ < N; k_++) \
		for (j_ = 0; j_ < (W); j_++) { \
			if (dst_[(k_ * UPSTRIDE) * (W) + j_] != src_[(k_ * ps_) * (W) + j_]) \
				bad_++; \
			if (dst_[(k_ * UPSTRIDE + 1) * (W) + j_] != (T)0) \
				bad_++; \
		} \
	snprintf(what_, sizeof what_, "%s/%s %s: values survive, strides honoured", \
		#PK, #UPK, enc_name(enc)); \
	CHECK_INT(bad_, 0, what_); \
	snprintf(what_, sizeof what_, "%s %s past the end is PvmNoData", #UPK, enc_name(enc)); \
	CHECK_INT(UPK(dst_, 1, 1), PvmNoData, what_); \
} while (0)

#define GEN_BYTE(k) ((k) * 37 + 1)
#define GEN_SHORT(k) ((k) * 1111 - 20000)
#define GEN_USHORT(k) ((k) * 3001 + 7)
#define GEN_INT(k) ((k) * 123456789 - 1000000000)
#define GEN_UINT(k) (0xf0000000u + (unsigned)(k) * 77u)
#define GEN_LONG(k) ((long)(k) * 1234567L + 987654L)
#define GEN_ULONG(k) (4000000000UL + (unsigned long)(k) * 5UL)
#define GEN_FLOAT(k) ((k) * 1.5f - 3.25f)
#define GEN_DOUBLE(k) ((k) * 1.0e10 + 0.125)

static void one_encoding(int enc)
{
	ROUND(char, 1, pvm_pkbyte, pvm_upkbyte, GEN_BYTE, enc);
	ROUND(short, 1, pvm_pkshort, pvm_upkshort, GEN_SHORT, enc);
	ROUND(unsigned short, 1, pvm_pkushort, pvm_upkushort, GEN_USHORT, enc);
	ROUND(int, 1, pvm_pkint, pvm_upkint, GEN_INT, enc);
	ROUND(unsigned int, 1, pvm_pkuint, pvm_upkuint, GEN_UINT, enc);
	ROUND(long, 1, pvm_pklong, pvm_upklong, GEN_LONG, enc);
	ROUND(unsigned long, 1, pvm_pkulong, pvm_upkulong, GEN_ULONG, enc);
	ROUND(float, 1, pvm_pkfloat, pvm_upkfloat, GEN_FLOAT, enc);
	ROUND(double, 1, pvm_pkdouble, pvm_upkdouble, GEN_DOUBLE, enc);
	ROUND(float, 2, pvm_pkcplx, pvm_upkcplx, GEN_FLOAT, enc);
	ROUND(double, 2, pvm_pkdcplx, pvm_upkdcplx, GEN_DOUBLE, enc);
}

/* several types in one message, unpacked in the same order */
static void mixed_message(int enc)
{
	int iv[3] = { 1, -2, 3 }, io[3] = { 0, 0, 0 };
	double dv = -6.5, dout = 0;
	char bv[4] = { 'a', 'b', 'c', 'd' }, bo[4] = { 0, 0, 0, 0 };
	char what[128];
	int cc;

	pvm_initsend(enc);
	pvm_pkint(iv, 3, 1);
	pvm_pkdouble(&dv, 1, 1);
	pvm_pkbyte(bv, 4, 1);
	cc = loop_back();
	snprintf(what, sizeof what, "mixed %s message arrives", enc_name(enc));
	CHECK_CMP(cc, >, 0, what);
	pvm_upkint(io, 3, 1);
	pvm_upkdouble(&dout, 1, 1);
	pvm_upkbyte(bo, 4, 1);
	snprintf(what, sizeof what, "mixed %s message: ints, double, bytes", enc_name(enc));
	CHECK(io[0] == 1 && io[1] == -2 && io[2] == 3 && dout == -6.5 && memcmp(bo, bv, 4) == 0, what);
}

static void strings(int enc)
{
	char out1[64], out2[64], out3[64];
	char what[128];
	int cc;

	pvm_initsend(enc);
	CHECK_INT(pvm_pkstr("hello, world"), PvmOk, "pvm_pkstr returns PvmOk");
	CHECK_INT(pvm_pkstr(""), PvmOk, "pvm_pkstr of an empty string");
	CHECK_INT(pvm_pkstr("third string"), PvmOk, "pvm_pkstr of a third string");
	cc = loop_back();
	snprintf(what, sizeof what, "string %s message arrives", enc_name(enc));
	CHECK_CMP(cc, >, 0, what);
	strcpy(out2, "junk");
	CHECK_INT(pvm_upkstr(out1), PvmOk, "pvm_upkstr 1");
	CHECK_INT(pvm_upkstr(out2), PvmOk, "pvm_upkstr 2");
	CHECK_INT(pvm_upkstr(out3), PvmOk, "pvm_upkstr 3");
	snprintf(what, sizeof what, "strings survive in %s", enc_name(enc));
	CHECK(strcmp(out1, "hello, world") == 0 && out2[0] == '\0' && strcmp(out3, "third string") == 0, what);
	CHECK_INT(pvm_upkstr(out1), PvmNoData, "pvm_upkstr past the end is PvmNoData");
}

static void packf(int enc)
{
	int iarr[4] = { 10, 20, 30, 40 }, iout[4] = { 0, 0, 0, 0 };
	int n = 0, cnt = 4;
	long larr[6] = { 1, 2, 3, 4, 5, 6 }, lout[6] = { 0, 0, 0, 0, 0, 0 };
	double d = 0;
	float f = 0;
	short h = 0;
	char s[32], c = 0;
	char what[128];
	int cc;

	cc = pvm_packf("%+ %d %*d %s %lf %f %hd %c %3.2ld", enc, 42, cnt, iarr, "packf string",
		2.5, 0.75, 123, 'Z', larr);
	snprintf(what, sizeof what, "pvm_packf %s returns PvmOk", enc_name(enc));
	CHECK_INT(cc, PvmOk, what);
	cc = loop_back();
	CHECK_CMP(cc, >, 0, "packf message arrives");
	cc = pvm_unpackf("%d %*d %s %lf %f %hd %c %3.2ld", &n, cnt, iout, s, &d, &f, &h, &c, lout);
	snprintf(what, sizeof what, "pvm_unpackf %s returns PvmOk", enc_name(enc));
	CHECK_INT(cc, PvmOk, what);
	CHECK_INT(n, 42, "unpackf %d");
	CHECK(iout[0] == 10 && iout[1] == 20 && iout[2] == 30 && iout[3] == 40, "unpackf %*d array");
	CHECK_STR(s, "packf string", "unpackf %s");
	CHECK_DBL(d, 2.5, 0.0, "unpackf %lf");
	CHECK_DBL(f, 0.75, 0.0, "unpackf %f");
	CHECK_INT(h, 123, "unpackf %hd");
	CHECK_INT(c, 'Z', "unpackf %c");
	CHECK(lout[0] == 1 && lout[1] == 0 && lout[2] == 3 && lout[3] == 0 && lout[4] == 5,
		"unpackf %3.2ld: count 3 stride 2");
}

int main(void)
{
	int encs[3] = { PvmDataDefault, PvmDataRaw, PvmDataInPlace };
	int i, arr[4] = { 1, 2, 3, 4 };

	mytid = pvm_mytid();
	CHECK_CMP(mytid, >, 0, "enrolled");

	for (i = 0; i < 3; i++) {
		one_encoding(encs[i]);
		mixed_message(encs[i]);
	}
	strings(PvmDataDefault);
	strings(PvmDataRaw);
	packf(PvmDataDefault);
	packf(PvmDataRaw);

	/* values that need all 64 bits of a long survive Raw */
	{
		long big[3] = { 0x123456789abcdefL, -0x23456789abcdefL, -5L }, out[3] = { 0, 0, 0 };
		pvm_initsend(PvmDataRaw);
		pvm_pklong(big, 3, 1);
		CHECK_CMP(loop_back(), >, 0, "64-bit long message arrives");
		pvm_upklong(out, 3, 1);
		CHECK(out[0] == big[0] && out[1] == big[1] && out[2] == big[2], "Raw keeps 64-bit and negative longs");
	}

	/* errors */
	pvm_setopt(PvmAutoErr, 0);
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_pkint(arr, -1, 1), PvmBadParam, "pvm_pkint with a negative count is PvmBadParam");
	CHECK_INT(pvm_pkint(arr, 0, 1), PvmOk, "pvm_pkint with count 0 packs nothing");
	pvm_initsend(PvmDataInPlace);
	CHECK_CMP(pvm_pkstr("no strings in place"), <, 0, "pvm_pkstr in InPlace mode is refused (man pvm_pkstr)");
	i = pvm_getrbuf();
	CHECK_INT(pvm_setrbuf(0), i, "pvm_setrbuf(0) returns the previous receive buffer");
	CHECK_INT(pvm_getrbuf(), 0, "after pvm_setrbuf(0) there is no receive buffer");
	CHECK_INT(pvm_upkint(arr, 1, 1), PvmNoBuf, "unpacking with no receive buffer is PvmNoBuf");
	pvm_setopt(PvmAutoErr, 1);

	CHECK_INT(pvm_exit(), PvmOk, "pvm_exit");
	return check_done();
}
