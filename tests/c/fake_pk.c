/*
 * fake_pk.c - test double for the typed pack/unpack calls that c/varargs.c
 * makes: each call prints one line describing its arguments (values read at
 * the given stride) and unpack calls fill the target with known values.
 * Used by tests/header.rs only.
 */

#include <stdio.h>
#include <string.h>

#include "pvm3.h"

#ifdef FAKE_DEFINES_ERRNO
int pvm_errno;
#endif

int fake_sbuf = 1; /* what pvm_getsbuf returns */
int fake_rbuf = 2; /* what pvm_getrbuf returns */
int fake_fail_at = -1; /* index of the typed call that fails with PvmNoData */
int fake_calls;   /* typed calls made so far */

static int result(void)
{
	return fake_calls++ == fake_fail_at ? PvmNoData : 0;
}

int pvm6_lib_error(const char *func, int code)
{
	printf("  error %s %d\n", func, code);
	pvm_errno = code;
	return code;
}

int pvm_getsbuf(void) { return fake_sbuf; }
int pvm_getrbuf(void) { return fake_rbuf; }

int pvm_initsend(int enc)
{
	printf("  initsend %d\n", enc);
	if (enc != PvmDataDefault && enc != PvmDataRaw && enc != PvmDataInPlace)
		return PvmBadParam;
	fake_sbuf = 9;
	return 9;
}

#define PK(name, type, pf)                                                \
	int name(type *p, int n, int s)                                       \
	{                                                                     \
		int i;                                                            \
		printf("  " #name " n=%d s=%d [", n, s);                          \
		for (i = 0; i < n; i++)                                           \
			printf(i ? "," pf : pf, p[i * s]);                            \
		printf("]\n");                                                    \
		return result();                                                  \
	}
#define UPK(name, type, base)                                             \
	int name(type *p, int n, int s)                                       \
	{                                                                     \
		int i;                                                            \
		printf("  " #name " n=%d s=%d\n", n, s);                          \
		for (i = 0; i < n; i++)                                           \
			p[i * s] = (type)(base + i);                                  \
		return result();                                                  \
	}

PK(pvm_pkbyte, char, "%d")
PK(pvm_pkshort, short, "%d")
PK(pvm_pkushort, unsigned short, "%u")
PK(pvm_pkint, int, "%d")
PK(pvm_pkuint, unsigned int, "%u")
PK(pvm_pklong, long, "%ld")
PK(pvm_pkulong, unsigned long, "%lu")
PK(pvm_pkfloat, float, "%g")
PK(pvm_pkdouble, double, "%g")

int pvm_pkcplx(float *p, int n, int s)
{
	int i;
	printf("  pvm_pkcplx n=%d s=%d [", n, s);
	for (i = 0; i < n; i++)
		printf(i ? ",%g+%gi" : "%g+%gi", p[2 * i * s], p[2 * i * s + 1]);
	printf("]\n");
	return result();
}

int pvm_pkdcplx(double *p, int n, int s)
{
	int i;
	printf("  pvm_pkdcplx n=%d s=%d [", n, s);
	for (i = 0; i < n; i++)
		printf(i ? ",%g+%gi" : "%g+%gi", p[2 * i * s], p[2 * i * s + 1]);
	printf("]\n");
	return result();
}

int pvm_pkstr(char *sp)
{
	printf("  pvm_pkstr \"%s\"\n", sp ? sp : "(null)");
	return sp ? result() : PvmBadParam;
}

UPK(pvm_upkbyte, char, 'a')
UPK(pvm_upkshort, short, -10)
UPK(pvm_upkushort, unsigned short, 10)
UPK(pvm_upkint, int, 100)
UPK(pvm_upkuint, unsigned int, 200)
UPK(pvm_upklong, long, 300)
UPK(pvm_upkulong, unsigned long, 400)
UPK(pvm_upkfloat, float, 1.5)
UPK(pvm_upkdouble, double, 2.5)

int pvm_upkcplx(float *p, int n, int s)
{
	int i;
	printf("  pvm_upkcplx n=%d s=%d\n", n, s);
	for (i = 0; i < 2 * n; i += 2)
		p[i * s] = p[i * s + 1] = (float)i;
	return result();
}

int pvm_upkdcplx(double *p, int n, int s)
{
	int i;
	printf("  pvm_upkdcplx n=%d s=%d\n", n, s);
	for (i = 0; i < 2 * n; i += 2)
		p[i * s] = p[i * s + 1] = (double)i;
	return result();
}

int pvm_upkstr(char *sp)
{
	printf("  pvm_upkstr\n");
	strcpy(sp, "unpacked");
	return result();
}
