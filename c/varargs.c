/*
 * varargs.c - pvm_packf, pvm_unpackf, pvm_vpackf and pvm_vunpackf of pvm6.
 *
 * C-variadic functions cannot be written in stable Rust, so these four live
 * here and are built into libpvm3 by build.rs. They only parse the format and
 * call the typed exported functions (pvm_pkint, pvm_upkdouble, ...).
 *
 * Format (man pvm_packf):
 *   format : [ "%+" ] { text | conversion }
 *   conversion : '%' [count] ['.' stride] {h|l|u} ('c'|'d'|'f'|'x'|'s')
 *   count, stride : digits | '*'   ('*' takes an int from the arguments)
 * "%+" is only recognised at the very start of a pvm_packf format and takes
 * the encoding for pvm_initsend() from the arguments. Text outside
 * conversions is skipped. h = short, l = long / double (l wins over h),
 * u = unsigned; c = bytes, d = integers, f = floats, x = complex floats,
 * s = a NUL-terminated string (count and stride are then ignored).
 *
 * When packing, a conversion without count and stride takes its argument by
 * value (as printf does; %f takes a double and packs a float, %c an int and
 * packs one byte); with a count or a stride it takes a pointer to nitem
 * elements spaced stride apart. %x and %s always take a pointer. Unpacking
 * always takes pointers, with count and stride 1 by default.
 *
 * Each returns 0 on success, or the code of the first failing step: the
 * typed call's code, PvmBadParam for a malformed format, PvmNoBuf when there
 * is no current buffer.
 */

#include <stddef.h>
#include <stdarg.h>

#include "pvm3.h"

/*
 * Built into the library, the entry points are exported by small Rust
 * trampolines (a cdylib only exports symbols Rust defines), so the C bodies
 * get internal names there. Built alone (tests), they carry the public names.
 */
#ifdef PVM6_VARARGS_BEHIND_RUST
#define PACKF pvm6_c_packf
#define UNPACKF pvm6_c_unpackf
#define VPACKF pvm6_c_vpackf
#define VUNPACKF pvm6_c_vunpackf
int pvm6_c_packf(const char *, ...);
int pvm6_c_unpackf(const char *, ...);
int pvm6_c_vpackf(const char *, va_list);
int pvm6_c_vunpackf(const char *, va_list);
#else
#define PACKF pvm_packf
#define UNPACKF pvm_unpackf
#define VPACKF pvm_vpackf
#define VUNPACKF pvm_vunpackf
#endif

/*
 * Optional hook of the library: records the error in pvm_errno and prints it
 * when PvmAutoErr asks for it, naming the failing function. When it is not
 * linked in, only pvm_errno is set.
 */
extern int pvm6_lib_error(const char *func, int code) __attribute__((weak));

static int fail(const char *func, int code)
{
	if (pvm6_lib_error)
		return pvm6_lib_error(func, code);
	pvm_errno = code;
	return code;
}

/* One parsed conversion. */
struct conv {
	int count;    /* number of items */
	int stride;   /* distance between items, in items */
	int by_value; /* neither count nor stride was given */
	char size;    /* 0, 'h' or 'l' */
	int is_unsigned;
	char kind;    /* c d f x s */
};

/* Reads "digits" or "*"; returns 1 if something was there. */
static int number(const char **f, va_list *ap, int *out)
{
	if (**f == '*') {
		*out = va_arg(*ap, int);
		(*f)++;
		return 1;
	}
	if (**f >= '0' && **f <= '9') {
		int v = 0;
		while (**f >= '0' && **f <= '9') {
			v = v * 10 + (**f - '0');
			(*f)++;
		}
		*out = v;
		return 1;
	}
	return 0;
}

/* Parses the conversion after a '%'; returns 0 or PvmBadParam. */
static int parse(const char **f, va_list *ap, struct conv *c)
{
	int has_count, has_stride = 0;

	c->count = 1;
	c->stride = 1;
	c->size = 0;
	c->is_unsigned = 0;
	has_count = number(f, ap, &c->count);
	if (**f == '.') {
		(*f)++;
		has_stride = 1;
		number(f, ap, &c->stride);
	}
	c->by_value = !has_count && !has_stride;
	for (;; (*f)++) {
		if (**f == 'h') {
			if (c->size != 'l')
				c->size = 'h';
		} else if (**f == 'l') {
			c->size = 'l';
		} else if (**f == 'u') {
			c->is_unsigned = 1;
		} else {
			break;
		}
	}
	switch (**f) {
	case 'c': case 'd': case 'f': case 'x': case 's':
		c->kind = **f;
		(*f)++;
		return 0;
	default:
		return PvmBadParam;
	}
}

/* Packs integers given by pointer. */
static int pack_ints(const struct conv *c, void *p)
{
	if (c->size == 'h')
		return c->is_unsigned ? pvm_pkushort(p, c->count, c->stride)
		                      : pvm_pkshort(p, c->count, c->stride);
	if (c->size == 'l')
		return c->is_unsigned ? pvm_pkulong(p, c->count, c->stride)
		                      : pvm_pklong(p, c->count, c->stride);
	return c->is_unsigned ? pvm_pkuint(p, c->count, c->stride)
	                      : pvm_pkint(p, c->count, c->stride);
}

/* Packs one integer given by value. */
static int pack_int_value(const struct conv *c, va_list *ap)
{
	if (c->size == 'h') {
		int v = va_arg(*ap, int);
		if (c->is_unsigned) {
			unsigned short u = (unsigned short)v;
			return pvm_pkushort(&u, 1, 1);
		} else {
			short s = (short)v;
			return pvm_pkshort(&s, 1, 1);
		}
	}
	if (c->size == 'l') {
		if (c->is_unsigned) {
			unsigned long u = va_arg(*ap, unsigned long);
			return pvm_pkulong(&u, 1, 1);
		} else {
			long l = va_arg(*ap, long);
			return pvm_pklong(&l, 1, 1);
		}
	}
	if (c->is_unsigned) {
		unsigned int u = va_arg(*ap, unsigned int);
		return pvm_pkuint(&u, 1, 1);
	} else {
		int i = va_arg(*ap, int);
		return pvm_pkint(&i, 1, 1);
	}
}

static int pack_one(const struct conv *c, va_list *ap)
{
	if (c->kind == 's')
		return pvm_pkstr(va_arg(*ap, char *));
	if (c->kind == 'x')
		return c->size == 'l'
		           ? pvm_pkdcplx(va_arg(*ap, double *), c->count, c->stride)
		           : pvm_pkcplx(va_arg(*ap, float *), c->count, c->stride);
	if (c->by_value) {
		switch (c->kind) {
		case 'c': {
			char b = (char)va_arg(*ap, int);
			return pvm_pkbyte(&b, 1, 1);
		}
		case 'f':
			if (c->size == 'l') {
				double d = va_arg(*ap, double);
				return pvm_pkdouble(&d, 1, 1);
			} else {
				float fl = (float)va_arg(*ap, double);
				return pvm_pkfloat(&fl, 1, 1);
			}
		default:
			return pack_int_value(c, ap);
		}
	}
	switch (c->kind) {
	case 'c':
		return pvm_pkbyte(va_arg(*ap, char *), c->count, c->stride);
	case 'f':
		return c->size == 'l'
		           ? pvm_pkdouble(va_arg(*ap, double *), c->count, c->stride)
		           : pvm_pkfloat(va_arg(*ap, float *), c->count, c->stride);
	default:
		return pack_ints(c, va_arg(*ap, void *));
	}
}

static int unpack_one(const struct conv *c, va_list *ap)
{
	void *p = va_arg(*ap, void *);

	switch (c->kind) {
	case 's':
		return pvm_upkstr(p);
	case 'c':
		return pvm_upkbyte(p, c->count, c->stride);
	case 'x':
		return c->size == 'l' ? pvm_upkdcplx(p, c->count, c->stride)
		                      : pvm_upkcplx(p, c->count, c->stride);
	case 'f':
		return c->size == 'l' ? pvm_upkdouble(p, c->count, c->stride)
		                      : pvm_upkfloat(p, c->count, c->stride);
	default:
		break;
	}
	if (c->size == 'h')
		return c->is_unsigned ? pvm_upkushort(p, c->count, c->stride)
		                      : pvm_upkshort(p, c->count, c->stride);
	if (c->size == 'l')
		return c->is_unsigned ? pvm_upkulong(p, c->count, c->stride)
		                      : pvm_upklong(p, c->count, c->stride);
	return c->is_unsigned ? pvm_upkuint(p, c->count, c->stride)
	                      : pvm_upkint(p, c->count, c->stride);
}

/* Walks the format, handing each conversion to `one`. */
static int walk(const char *func, const char *f, va_list *ap,
                int (*one)(const struct conv *, va_list *))
{
	struct conv c;
	int cc;

	while (*f) {
		if (*f++ != '%')
			continue;
		if ((cc = parse(&f, ap, &c)) < 0)
			return fail(func, cc);
		if ((cc = one(&c, ap)) < 0)
			return cc;
	}
	return 0;
}

int VPACKF(const char *fmt, va_list args)
{
	va_list ap;
	int cc;

	if (!fmt)
		return fail("pvm_packf", PvmBadParam);
	va_copy(ap, args);
	if (fmt[0] == '%' && fmt[1] == '+') {
		fmt += 2;
		if ((cc = pvm_initsend(va_arg(ap, int))) < 0) {
			va_end(ap);
			return cc;
		}
	}
	if ((cc = pvm_getsbuf()) <= 0) {
		va_end(ap);
		return cc < 0 ? cc : fail("pvm_packf", PvmNoBuf);
	}
	cc = walk("pvm_packf", fmt, &ap, pack_one);
	va_end(ap);
	return cc;
}

int VUNPACKF(const char *fmt, va_list args)
{
	va_list ap;
	int cc;

	if (!fmt)
		return fail("pvm_unpackf", PvmBadParam);
	if ((cc = pvm_getrbuf()) <= 0)
		return cc < 0 ? cc : fail("pvm_unpackf", PvmNoBuf);
	va_copy(ap, args);
	cc = walk("pvm_unpackf", fmt, &ap, unpack_one);
	va_end(ap);
	return cc;
}

int PACKF(const char *fmt, ...)
{
	va_list ap;
	int cc;

	va_start(ap, fmt);
	cc = VPACKF(fmt, ap);
	va_end(ap);
	return cc;
}

int UNPACKF(const char *fmt, ...)
{
	va_list ap;
	int cc;

	va_start(ap, fmt);
	cc = VUNPACKF(fmt, ap);
	va_end(ap);
	return cc;
}
