/*
 * varargs_driver.c - runs pvm_packf / pvm_unpackf / pvm_vpackf on a set of
 * formats against the test double of fake_pk.c and prints each call and
 * result, for tests/header.rs to compare with the expected transcript.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pvm3.h"

extern int fake_sbuf, fake_rbuf, fake_fail_at, fake_calls;

#define PK(...)                                                           \
	do {                                                                  \
		printf("packf %s\n", #__VA_ARGS__);                               \
		printf("  -> %d\n", pvm_packf(__VA_ARGS__));                      \
	} while (0)
#define UPK(...)                                                          \
	do {                                                                  \
		printf("unpackf %s\n", #__VA_ARGS__);                             \
		printf("  -> %d\n", pvm_unpackf(__VA_ARGS__));                    \
	} while (0)

static int via_vpackf(const char *fmt, ...)
{
	va_list ap;
	int cc;
	va_start(ap, fmt);
	cc = pvm_vpackf(fmt, ap);
	va_end(ap);
	return cc;
}

static int via_vunpackf(const char *fmt, ...)
{
	va_list ap;
	int cc;
	va_start(ap, fmt);
	cc = pvm_vunpackf(fmt, ap);
	va_end(ap);
	return cc;
}

int main(void)
{
	int ia[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	double da[6] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5};
	float fa[6] = {0.25f, 1.25f, 2.25f, 3.25f, 4.25f, 5.25f};
	short sa[4] = {-1, -2, -3, -4};
	unsigned short usa[4] = {1, 2, 3, 4};
	long la[4] = {-10, -20, -30, -40};
	unsigned long ula[4] = {10, 20, 30, 40};
	unsigned int uia[4] = {7, 8, 9, 10};
	char ca[5] = "wxyz";
	int oi[8];
	double od[4];
	float of[4];
	short os[2];
	unsigned long oul[2];
	char oc[16], os2[16];

	setvbuf(stdout, NULL, _IONBF, 0);
	memset(oi, 0, sizeof oi);
	memset(od, 0, sizeof od);
	memset(of, 0, sizeof of);
	memset(os, 0, sizeof os);
	memset(oul, 0, sizeof oul);
	memset(oc, 0, sizeof oc);
	memset(os2, 0, sizeof os2);

	/* the man page's example */
	PK("%+ %d %*d %4lf", PvmDataRaw, 5, 3, ia, da);
	/* values */
	PK("%d %ud %hd %uhd %ld %uld %f %lf %c %s", -5, 6u, 70000, 65537, -9L,
	   10UL, 2.5, 3.75, 'z', "hi");
	/* arrays, counts and strides from the format and from arguments */
	PK("%3.2d %.2d %*.*f %2c %2hd %2uhd %2ld %2uld %2ud", ia, ia, 2, 3, fa,
	   ca, sa, usa, la, ula, uia);
	/* complex numbers always by pointer; l makes them double */
	PK("%x %lx %2.2x %*lx", fa, da, fa, 2, da);
	/* h and l together: l wins; s ignores count and stride */
	PK("%hld %lhf %3.2s %*s", 4L, 1.0, "str", 7, "str2");
	/* text outside conversions is skipped; %+ only at the start */
	PK("abc %d def%d", 1, 2);
	PK("%++d", PvmDataDefault);
	PK("%d %+", 1);
	/* malformed conversions */
	PK("%u", 1);
	PK("%5z", ia);
	PK("% d", 1);
	PK("%-d", 1);
	PK("%", 1);
	PK("%2 d", ia);
	/* count 0 still consumes the pointer */
	PK("%0d %d", ia, 3);
	/* encoding refused by pvm_initsend */
	PK("%+ %d", 99, 1);
	/* no current send buffer */
	fake_sbuf = 0;
	PK("%d", 1);
	PK("");
	fake_sbuf = -14;
	PK("%d", 1);
	fake_sbuf = 1;
	/* first failing typed call stops the walk */
	fake_calls = 0;
	fake_fail_at = 1;
	PK("%d %d %d", 1, 2, 3);
	fake_fail_at = -1;
	printf("vpackf -> %d\n", via_vpackf("%*d %lf", 2, ia, 9.5));
	PK((const char *)0);

	UPK("%d %2lf %s %hd %c %x %lx %ud %uld %uhd %f", oi, od, oc, os, oc,
	    of, od, oi, oul, os, of);
	UPK("%*.*d %3c %.2uld", 2, 3, oi, os2, oul);
	printf("  oi=%d,%d,%d,%d oc=%s os2=%.3s od=%g,%g os=%d oul=%lu\n", oi[0],
	       oi[1], oi[2], oi[3], oc, os2, od[0], od[1], os[0], oul[0]);
	UPK("%+ %d", 1, oi);
	UPK("%q", oi);
	fake_rbuf = 0;
	UPK("%d", oi);
	fake_rbuf = 2;
	printf("vunpackf -> %d\n", via_vunpackf("%d %2f", oi, of));
	printf("pvm_errno=%d\n", pvm_errno);
	return 0;
}
