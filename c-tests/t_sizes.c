/*
 * t_sizes.c - message sizes as PVM 3.4.6 counts them (pvm_bufinfo's bytes,
 * pvm_getminfo's len), measured on its libpvm3:
 *   PvmDataDefault (XDR): shorts and longs take 4 bytes, every pvm_pkbyte
 *     call and every string is padded to a multiple of 4;
 *   PvmDataRaw: native sizes, no padding;
 *   PvmDataInPlace: the sender counts 0 bytes (the data is read when it is
 *     sent), the receiver the whole body;
 *   pvm_pkmesg: 32 bytes of header, then the body in fragments of 4032
 *     bytes, each with a 4-byte length.
 * Values survive the trip to another task (role "echo": unpacks a mixed
 * portable message and answers with what it found).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

static int size_of(int bufid)
{
	int bytes = -1, tag, src;
	if (pvm_bufinfo(bufid, &bytes, &tag, &src) < 0)
		return -1;
	return bytes;
}

static int minfo_len(int bufid)
{
	struct pvmminfo mi;
	mi.len = -1;
	if (pvm_getminfo(bufid, &mi) < 0)
		return -1;
	return mi.len;
}

static char bytes[64] = "abcdefghijklmnopqrstuvwxyz";
static short shorts[4] = { 1, -2, 3, 4 };
static unsigned short ushorts[4] = { 65535, 2, 3, 4 };
static int ints[4] = { 1, 2, 3, 4 };
static long longs[4] = { 100000, 2, 3, 4 };
static unsigned long ulongs[4] = { 4294967295UL, 2, 3, 4 };
static float floats[8] = { 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f, 8.5f };
static double doubles[8] = { 1.25, 2.25, 3.25, 4.25, 5.25, 6.25, 7.25, 8.25 };
static int big[4096];

/* Packs one item kind into a fresh buffer of encoding enc; returns it. */
static int pack_one(int enc, int what)
{
	int b = pvm_initsend(enc);
	switch (what) {
	case 0: pvm_pkbyte(bytes, 1, 1); break;
	case 1: pvm_pkbyte(bytes, 3, 1); break;
	case 2: pvm_pkbyte(bytes, 5, 1); break;
	case 3: pvm_pkbyte(bytes, 3, 2); break;
	case 4: pvm_pkbyte(bytes, 1, 1); pvm_pkbyte(bytes, 1, 1); break;
	case 5: pvm_pkshort(shorts, 3, 1); break;
	case 6: pvm_pkushort(ushorts, 3, 1); break;
	case 7: pvm_pkint(ints, 3, 1); break;
	case 8: pvm_pklong(longs, 3, 1); break;
	case 9: pvm_pkulong(ulongs, 3, 1); break;
	case 10: pvm_pkfloat(floats, 3, 1); break;
	case 11: pvm_pkdouble(doubles, 3, 1); break;
	case 12: pvm_pkcplx(floats, 3, 1); break;
	case 13: pvm_pkdcplx(doubles, 3, 1); break;
	case 14: pvm_pkstr(""); break;
	case 15: pvm_pkstr("abc"); break;
	case 16: pvm_pkstr("abcd"); break;
	case 17: pvm_pkstr("hello, world!"); break;
	case 18: pvm_pkstr("a"); pvm_pkint(ints, 1, 1); break;
	case 19: pvm_pkshort(shorts, 1, 1); pvm_pkint(ints, 1, 1); break;
	case 20: pvm_packf("%hd %c", 5, 'x'); break;
	}
	return b;
}

static const char *what_name[] = {
	"1 byte", "3 bytes", "5 bytes", "3 bytes at stride 2", "1 byte twice",
	"3 shorts", "3 ushorts", "3 ints", "3 longs", "3 ulongs", "3 floats",
	"3 doubles", "3 cplx", "3 dcplx", "string \"\"", "string \"abc\"",
	"string \"abcd\"", "string of 13", "string \"a\" and an int",
	"a short and an int", "packf %hd %c",
};
/* Measured on PVM 3.4.6 (LINUX64). */
static const int xdr_size[] = { 4, 4, 8, 4, 8, 12, 12, 12, 12, 12, 12, 24, 24, 48, 8, 8,
				12, 20, 12, 8, 8 };
static const int raw_size[] = { 1, 3, 5, 3, 2, 6, 6, 12, 24, 24, 12, 24, 24, 48, 5, 8,
				9, 18, 10, 6, 3 };
#define NWHAT ((int)(sizeof xdr_size / sizeof xdr_size[0]))

static int echo_main(void)
{
	char s[64], b3[4] = { 0 }, b1[2] = { 0 };
	short sh[2];
	unsigned short us;
	long lo[2];
	unsigned long ul;
	float f[2];
	double d, z[2];
	int cc = 0, r[12];
	struct timeval tmo = { 30, 0 };

	if (pvm_mytid() <= 0)
		return 1;
	if (pvm_trecv(pvm_parent(), 1, &tmo) <= 0)
		return 1;
	cc |= pvm_upkstr(s);
	cc |= pvm_upkbyte(b3, 3, 1);
	cc |= pvm_upkshort(sh, 2, 1);
	cc |= pvm_upkbyte(b1, 1, 1);
	cc |= pvm_upkushort(&us, 1, 1);
	cc |= pvm_upklong(lo, 2, 1);
	cc |= pvm_upkulong(&ul, 1, 1);
	cc |= pvm_upkfloat(f, 1, 1);
	cc |= pvm_upkdouble(&d, 1, 1);
	cc |= pvm_upkcplx(f, 1, 1);
	cc |= pvm_upkdcplx(z, 1, 1);
	r[0] = cc;
	r[1] = (int)strlen(s) * 1000 + s[0];
	r[2] = b3[0] * 10000 + b3[2];
	r[3] = sh[0];
	r[4] = sh[1];
	r[5] = b1[0];
	r[6] = us;
	r[7] = (int)lo[0];
	r[8] = (int)lo[1];
	r[9] = ul == 4294967295UL;
	r[10] = (int)(d * 100) + (int)(f[0] * 10);
	r[11] = (int)(z[0] * 100 + z[1]);
	pvm_initsend(PvmDataRaw);
	pvm_pkint(r, 12, 1);
	pvm_send(pvm_parent(), 2);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, b, r, i, child = 0, inner, old;
	char label[128];
	struct timeval tmo = { 30, 0 };

	if (argc > 1 && strcmp(argv[1], "echo") == 0)
		return echo_main();

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");

	for (i = 0; i < NWHAT; i++) {
		b = pack_one(PvmDataDefault, i);
		snprintf(label, sizeof label, "PvmDataDefault: %s takes %d bytes", what_name[i], xdr_size[i]);
		CHECK_INT(size_of(b), xdr_size[i], label);
		b = pack_one(PvmDataRaw, i);
		snprintf(label, sizeof label, "PvmDataRaw: %s takes %d bytes", what_name[i], raw_size[i]);
		CHECK_INT(size_of(b), raw_size[i], label);
	}

	/* getminfo's len, and the size the receiver sees. */
	b = pack_one(PvmDataDefault, 17);
	pvm_pkbyte(bytes, 1, 1);
	CHECK_INT(minfo_len(b), 24, "pvm_getminfo len of a string of 13 and a byte");
	pvm_send(me, 3);
	r = pvm_trecv(me, 3, &tmo);
	CHECK_INT(size_of(r), 24, "the receiver counts the same bytes");
	CHECK_INT(minfo_len(r), 24, "and so does its pvm_getminfo");

	/* Unpacking follows the padding of each call. */
	{
		char o[4] = { 0 };
		b = pvm_initsend(PvmDataDefault);
		pvm_pkbyte(bytes, 3, 1);
		pvm_send(me, 4);
		pvm_trecv(me, 4, &tmo);
		CHECK_INT(pvm_upkbyte(o, 1, 1), 0, "unpack 1 of 3 packed bytes");
		CHECK_INT(pvm_upkbyte(o + 1, 2, 1), PvmNoData, "the rest of the word was padding");
		CHECK_INT(o[0], 'a', "the byte");
	}
	{
		short sv[2] = { 0, 0 };
		int iv[2] = { 0, 0 };
		pvm_initsend(PvmDataDefault);
		pvm_pkshort(shorts, 2, 1);
		pvm_send(me, 5);
		pvm_trecv(me, 5, &tmo);
		CHECK_INT(pvm_upkint(iv, 2, 1), 0, "two shorts unpack as two ints");
		CHECK(iv[0] == 1 && iv[1] == -2, "sign-extended words");
		pvm_initsend(PvmDataDefault);
		pvm_pkshort(shorts, 2, 1);
		pvm_send(me, 5);
		pvm_trecv(me, 5, &tmo);
		CHECK_INT(pvm_upkshort(sv, 2, 1), 0, "and as shorts");
		CHECK(sv[0] == 1 && sv[1] == -2, "the shorts");
	}

	/* PvmDataInPlace: nothing counted until sent; dense data only. */
	b = pvm_initsend(PvmDataInPlace);
	CHECK_INT(pvm_pkint(ints, 3, 1), 0, "pack 3 ints in place");
	CHECK_INT(pvm_pkbyte(bytes, 3, 1), 0, "pack 3 bytes in place");
	CHECK_INT(size_of(b), 0, "PvmDataInPlace: pvm_bufinfo counts 0 bytes");
	CHECK_INT(minfo_len(b), 0, "and pvm_getminfo len 0");
	CHECK_INT(pvm_pkint(ints, 2, 2), PvmNotImpl, "in place with stride 2: PvmNotImpl");
	CHECK_INT(pvm_pkstr("x"), PvmNotImpl, "a string in place: PvmNotImpl");
	pvm_send(me, 6);
	CHECK_INT(size_of(b), 0, "still 0 after the send");
	r = pvm_trecv(me, 6, &tmo);
	CHECK_INT(size_of(r), 15, "the receiver gets 15 bytes");
	{
		int g[3] = { 0, 0, 0 };
		char gb[4] = { 0 };
		pvm_upkint(g, 3, 1);
		pvm_upkbyte(gb, 3, 1);
		CHECK(g[0] == 1 && g[2] == 3 && strcmp(gb, "abc") == 0, "and the data");
	}

	/* pvm_pkmesg: header, then fragments of 4032 bytes with lengths. */
	{
		static const int nint[] = { 0, 3, 1008, 1009, 2017 };
		static const int want[] = { 36, 48, 4068, 4076, 8112 };
		for (i = 0; i < 5; i++) {
			inner = pvm_mkbuf(PvmDataDefault);
			old = pvm_setsbuf(inner);
			if (nint[i] > 0)
				pvm_pkint(big, nint[i], 1);
			pvm_setsbuf(old);
			b = pvm_initsend(PvmDataDefault);
			pvm_pkmesg(inner);
			snprintf(label, sizeof label, "pvm_pkmesg of %d ints takes %d bytes", nint[i], want[i]);
			CHECK_INT(size_of(b), want[i], label);
			pvm_freebuf(inner);
		}
		inner = pvm_mkbuf(PvmDataRaw);
		old = pvm_setsbuf(inner);
		pvm_pkbyte(bytes, 3, 1);
		pvm_setsbuf(old);
		b = pvm_initsend(PvmDataDefault);
		pvm_pkmesg(inner);
		CHECK_INT(size_of(b), 40, "pvm_pkmesg of 3 raw bytes, portably: 40 (padded)");
		b = pvm_initsend(PvmDataRaw);
		pvm_pkmesg(inner);
		CHECK_INT(size_of(b), 39, "and in a raw buffer: 39");
		pvm_freebuf(inner);

		inner = pvm_mkbuf(PvmDataDefault);
		old = pvm_setsbuf(inner);
		pvm_pkint(ints, 3, 1);
		pvm_pkstr("inner");
		pvm_setsbuf(old);
		pvm_initsend(PvmDataDefault);
		pvm_pkmesg(inner);
		pvm_send(me, 7);
		pvm_freebuf(inner);
		pvm_trecv(me, 7, &tmo);
		inner = pvm_upkmesg();
		CHECK_CMP(inner, >, 0, "pvm_upkmesg of a received message");
		if (inner > 0) {
			int g[3] = { 0, 0, 0 };
			char s[16] = "";
			CHECK_INT(size_of(inner), 24, "the inner message's bytes");
			pvm_setrbuf(inner);
			pvm_upkint(g, 3, 1);
			pvm_upkstr(s);
			CHECK(g[0] == 1 && g[2] == 3 && strcmp(s, "inner") == 0, "its data");
		}
	}

	/* Another task unpacks a mixed portable message. */
	{
		char *args[] = { "echo", NULL };
		int rv[12];
		long lv[2] = { 123456, 7 };
		float cf[2] = { 0.5f, 1.0f };
		double dz[2] = { 3.0, 4.0 };
		CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &child),
			  1, "echo task spawned");
		pvm_initsend(PvmDataDefault);
		pvm_pkstr("hello");
		pvm_pkbyte(bytes, 3, 1);
		pvm_pkshort(shorts, 2, 1);
		pvm_pkbyte(bytes + 25, 1, 1);
		pvm_pkushort(ushorts, 1, 1);
		pvm_pklong(lv, 2, 1);
		pvm_pkulong(ulongs, 1, 1);
		pvm_pkfloat(floats, 1, 1);
		pvm_pkdouble(doubles, 1, 1);
		pvm_pkcplx(cf, 1, 1);
		pvm_pkdcplx(dz, 1, 1);
		CHECK_INT(size_of(pvm_getsbuf()), 80, "the mixed message takes 80 bytes");
		pvm_send(child, 1);
		r = pvm_trecv(child, 2, &tmo);
		CHECK_CMP(r, >, 0, "the echo answers");
		memset(rv, 0, sizeof rv);
		if (r > 0)
			pvm_upkint(rv, 12, 1);
		CHECK_INT(rv[0], 0, "every unpack succeeded there");
		CHECK_INT(rv[1], 5000 + 'h', "string");
		CHECK_INT(rv[2], 'a' * 10000 + 'c', "3 bytes");
		CHECK_INT(rv[3], 1, "short 1");
		CHECK_INT(rv[4], -2, "short -2");
		CHECK_INT(rv[5], 'z', "1 byte");
		CHECK_INT(rv[6], 65535, "ushort 65535");
		CHECK_INT(rv[7], 123456, "long 123456");
		CHECK_INT(rv[8], 7, "long 7");
		CHECK_INT(rv[9], 1, "ulong 4294967295");
		CHECK_INT(rv[10], 125 + 5, "float and double");
		CHECK_INT(rv[11], 304, "dcplx");
	}

	pvm_exit();
	return check_done();
}
