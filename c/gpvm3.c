/*
 * gpvm3.c - the only object of pvm6's libgpvm3 (libgpvm3.a and libgpvm3.so.3).
 *
 * pvm6 implements the group calls (pvm_joingroup, pvm_barrier, ...) in
 * libpvm3 itself; libgpvm3 exists so that the classic link line
 * "-lgpvm3 -lpvm3" and programs linked against PVM 3.4's libgpvm3.so.3 keep
 * working.  The shared libgpvm3 only names libpvm3.so.3 as needed; this
 * object carries no code, just a marker saying what the library is.
 */
const char pvm6_libgpvm3[] = "pvm6 libgpvm3: the group calls are in libpvm3";
