/*
 * pvm3.h - C interface of pvm6, a Rust rebuild of PVM 3.4.6.
 *
 * Programs written for PVM 3.4 compile against this file unchanged and link
 * with libpvm3 (SONAME libpvm3.so.3).  Every value and structure layout below
 * matches PVM 3.4.6 so that existing binaries keep working.
 */

#ifndef _PVM3_H_
#define _PVM3_H_

#include <stdarg.h>
#include <sys/time.h>

/* ---- Version of the interface ---------------------------------------- */

#define PVM_VER "3.4.6"
#define PVM_MAJOR_VERSION 3
#define PVM_MINOR_VERSION 4
#define PVM_PATCH_VERSION 6

/* ---- Message encodings, the argument of pvm_initsend() / pvm_mkbuf() --- */

#define PvmDataDefault 0 /* portable (XDR) */
#define PvmDataRaw 1     /* native byte order, no conversion */
#define PvmDataInPlace 2 /* data stays in the user's memory until sent */
#define PvmDataFoo 0     /* same as PvmDataDefault */
#define PvmDataTrace 4   /* encoding of trace event messages */

/* ---- Flags of pvm_spawn() --------------------------------------------- */

#define PvmTaskDefault 0   /* let PVM pick the host */
#define PvmTaskHost 1      /* "where" names a host */
#define PvmTaskArch 2      /* "where" names an architecture */
#define PvmTaskDebug 4     /* run the task under a debugger */
#define PvmTaskTrace 8     /* the task emits trace events */
#define PvmMppFront 16     /* MPP systems: start on the front end */
#define PvmHostCompl 32    /* use every host except "where" */
#define PvmNoSpawnParent 64 /* the child gets no parent */

/* ---- Event kinds of pvm_notify() -------------------------------------- */

#define PvmTaskExit 1    /* a task exited */
#define PvmHostDelete 2  /* a host was deleted or crashed */
#define PvmHostAdd 3     /* hosts were added */
#define PvmRouteAdd 4    /* a direct route between tasks opened */
#define PvmRouteDelete 5 /* a direct route between tasks closed */
#define PvmNotifyCancel 256 /* or-ed with a kind: cancel earlier requests */

/* ---- Options of pvm_setopt() / pvm_getopt() and their values ----------- */

#define PvmRoute 1             /* routing policy, one of: */
#define PvmDontRoute 1         /*   never use direct routes */
#define PvmAllowDirect 2       /*   accept direct routes, ask for none */
#define PvmRouteDirect 3       /*   ask for direct routes */
#define PvmDebugMask 2         /* library debug mask */
#define PvmAutoErr 3           /* print error messages automatically */
#define PvmOutputTid 4         /* where children's output goes */
#define PvmOutputCode 5        /* message tag of children's output */
#define PvmTraceTid 6          /* where children's trace events go */
#define PvmTraceCode 7         /* message tag of children's trace events */
#define PvmTraceBuffer 8       /* trace buffering of children */
#define PvmTraceOptions 9      /* trace options of children, one of: */
#define PvmTraceFull 1         /*   every event */
#define PvmTraceTime 2         /*   call timings only */
#define PvmTraceCount 3        /*   call counts only */
#define PvmFragSize 10         /* message fragment size */
#define PvmResvTids 11         /* allow the reserved tags and tids */
#define PvmSelfOutputTid 12    /* where this task's output goes */
#define PvmSelfOutputCode 13   /* message tag of this task's output */
#define PvmSelfTraceTid 14     /* where this task's trace events go */
#define PvmSelfTraceCode 15    /* message tag of this task's trace events */
#define PvmSelfTraceBuffer 16  /* trace buffering of this task */
#define PvmSelfTraceOptions 17 /* trace options of this task */
#define PvmShowTids 18         /* pvm_catchout() prefixes lines with tids */
#define PvmPollType 19         /* how to wait on shared memory, one of: */
#define PvmPollConstant 1      /*   spin */
#define PvmPollSleep 2         /*   spin, then sleep */
#define PvmPollTime 20         /* spin time before sleeping */
#define PvmOutputContext 21    /* message context of children's output */
#define PvmTraceContext 22     /* message context of children's traces */
#define PvmSelfOutputContext 23 /* message context of this task's output */
#define PvmSelfTraceContext 24 /* message context of this task's traces */
#define PvmNoReset 25          /* survive a reset of the virtual machine */

/* ---- Whose trace mask pvm_gettmask() / pvm_settmask() address ---------- */

#define PvmTaskSelf 0  /* the calling task */
#define PvmTaskChild 1 /* tasks it spawns from now on */

/* ---- Message context of programs that never change it ----------------- */

#define PvmBaseContext 0

/* ---- Flags of pvm_putinfo() / pvm_recvinfo() (message mailbox) --------- */

#define PvmMboxDefault 0       /* one locked entry; read the first */
#define PvmMboxPersistent 1    /* entry outlives its owner */
#define PvmMboxMultiInstance 2 /* the class may hold several entries */
#define PvmMboxOverWritable 4  /* others may replace the entry */
#define PvmMboxFirstAvail 8    /* first index at or after the one given */
#define PvmMboxReadAndDelete 16 /* read and remove in one step */
#define PvmMboxWaitForInfo 32  /* block until the entry exists */
#define PvmMboxMaxFlag 512     /* highest flag bit */

/* An entry index may be carried inside the flags, above the flag bits. */
#define PvmMboxDirectIndexShift 10
#define PvmMboxMaxDirectIndex ((unsigned)1 << (31 - PvmMboxDirectIndexShift))
#define PvmMboxDirectIndexOf(f)                                              \
	(((f) & ((PvmMboxMaxDirectIndex - 1) << PvmMboxDirectIndexShift)) >>    \
	 PvmMboxDirectIndexShift)
/* Needs <stdio.h> where it is used: a too large index is reported there. */
#define PvmMboxDirectIndex(i)                                                \
	(((i) >= PvmMboxMaxDirectIndex)                                          \
	     ? (fprintf(stderr, "Mbox Direct Index Too Large: %d >= %d\n", (i),  \
	                PvmMboxMaxDirectIndex),                                  \
	        0)                                                               \
	     : ((i) << PvmMboxDirectIndexShift))

/* Mailbox classes the system itself uses. */
#define PVMNORESETCLASS "###_PVM_NO_RESET_###"
#define PVMHOSTERCLASS "###_PVM_HOSTER_###"
#define PVMTASKERCLASS "###_PVM_TASKER_###"
#define PVMTRACERCLASS "###_PVM_TRACER_###"
#define PVMRMCLASS "###_PVM_RM_###"

/* ---- Result codes: 0 is success, errors are negative ------------------- */

#define PvmOk 0
#define PvmBadParam -2
#define PvmMismatch -3
#define PvmOverflow -4
#define PvmNoData -5
#define PvmNoHost -6
#define PvmNoFile -7
#define PvmDenied -8
#define PvmNoMem -10
#define PvmBadMsg -12
#define PvmSysErr -14
#define PvmNoBuf -15
#define PvmNoSuchBuf -16
#define PvmNullGroup -17
#define PvmDupGroup -18
#define PvmNoGroup -19
#define PvmNotInGroup -20
#define PvmNoInst -21
#define PvmHostFail -22
#define PvmNoParent -23
#define PvmNotImpl -24
#define PvmDSysErr -25
#define PvmBadVersion -26
#define PvmOutOfRes -27
#define PvmDupHost -28
#define PvmCantStart -29
#define PvmAlready -30
#define PvmNoTask -31
#define PvmNotFound -32
#define PvmExists -33
#define PvmHostrNMstr -34
#define PvmParentNotSet -35
#define PvmIPLoopback -36

/* Names PVM 3.3 used for the old database calls. */
#define PvmNoEntry -32  /* = PvmNotFound */
#define PvmDupEntry -8  /* = PvmDenied */

/* ---- Element types of pvm_psend(), pvm_precv() and pvm_reduce() -------- */

#define PVM_STR 0
#define PVM_BYTE 1
#define PVM_SHORT 2
#define PVM_INT 3
#define PVM_FLOAT 4
#define PVM_CPLX 5
#define PVM_DOUBLE 6
#define PVM_DCPLX 7
#define PVM_LONG 8
#define PVM_USHORT 9
#define PVM_UINT 10
#define PVM_ULONG 11

/* ---- Structures the library fills in --------------------------------- */

/* One host of the virtual machine (pvm_config, pvm_reg_rm). */
struct pvmhostinfo {
	int hi_tid;     /* tid of the host's daemon */
	char *hi_name;  /* host name */
	char *hi_arch;  /* architecture name */
	int hi_speed;   /* relative speed */
	int hi_dsig;    /* data format signature */
};

/* One task (pvm_tasks). */
struct pvmtaskinfo {
	int ti_tid;     /* the task */
	int ti_ptid;    /* its parent */
	int ti_host;    /* tid of its host's daemon */
	int ti_flag;    /* state flags */
	char *ti_a_out; /* program name */
	int ti_pid;     /* operating system process id */
};

/* Header of a message buffer (pvm_getminfo, pvm_setminfo). */
struct pvmminfo {
	int len; /* length in bytes */
	int ctx; /* context */
	int tag; /* message tag */
	int wid; /* wait id */
	int enc; /* encoding */
	int crc; /* checksum */
	int src; /* sender */
	int dst; /* receiver */
};

/* One mailbox class (pvm_getmboxinfo). */
struct pvmmboxinfo {
	char *mi_name;    /* class name */
	int mi_nentries;  /* number of entries */
	int *mi_indices;  /* their indices */
	int *mi_owners;   /* their owners */
	int *mi_flags;    /* their flags */
};

/* ---- Temporary file names -------------------------------------------- */

#ifdef NOTMPNAM
#define PVMTMPNAMFUN(x) pvmtmpnam(x)
#define PVMTMPNAMLEN 128
#else
#define PVMTMPNAMFUN(x) tmpnam(x)
#ifdef L_tmpnam
#define PVMTMPNAMLEN L_tmpnam
#else
#define PVMTMPNAMLEN 128
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Data of the library --------------------------------------------- */

extern int pvm_errno;       /* code of the last failing call */
extern int pvm_nerr;        /* number of entries of pvm_errlist */
extern char *pvm_errlist[]; /* error texts, indexed by -code */

/* ---- Functions -------------------------------------------------------- */

#ifdef NOTMPNAM
char *pvmtmpnam(char *);
#endif
char *pvmgetrsh(void);
char *pvmgettmp(void);
char *pvm_strerror(void);

int pvm_addhosts(char **, int, int *);
int pvm_addmhf(int, int, int, int (*)(int));
int pvm_archcode(char *);
int pvm_bufinfo(int, int *, int *, int *);
#if defined(EOF)
int pvm_catchout(FILE *);
#endif
int pvm_config(int *, int *, struct pvmhostinfo **);
int pvm_delhosts(char **, int, int *);
int pvm_delinfo(char *, int, int);
int pvm_delmhf(int);
int pvm_exit(void);
int pvm_export(char *);
int pvm_freebuf(int);
int pvm_freecontext(int);
int pvm_getcontext(void);
int pvm_getfds(int **);
int pvm_getminfo(int, struct pvmminfo *);
int pvm_getmboxinfo(char *, int *, struct pvmmboxinfo **);
int pvm_getnoresets(int **, int *);
int pvm_getopt(int);
int pvm_getrbuf(void);
int pvm_getsbuf(void);
int pvm_gettmask(int, char *);
int pvm_halt(void);
int pvm_hostsync(int, struct timeval *, struct timeval *);
int pvm_initsend(int);
int pvm_kill(int);
int pvm_mcast(int *, int, int);
int pvm_mkbuf(int);
int pvm_mstat(char *);
int pvm_mytid(void);
int pvm_newcontext(void);
int pvm_notify(int, int, int, int *);
int pvm_nrecv(int, int);
int pvm_packf(const char *, ...);
int pvm_parent(void);
int pvm_perror(char *);
int pvm_pkbyte(char *, int, int);
int pvm_pkcplx(float *, int, int);
int pvm_pkdcplx(double *, int, int);
int pvm_pkdouble(double *, int, int);
int pvm_pkfloat(float *, int, int);
int pvm_pkint(int *, int, int);
int pvm_pklong(long *, int, int);
int pvm_pkshort(short *, int, int);
int pvm_pkstr(char *);
int pvm_pkuint(unsigned int *, int, int);
int pvm_pkulong(unsigned long *, int, int);
int pvm_pkushort(unsigned short *, int, int);
int pvm_pkmesg(int);
int pvm_pkmesgbody(int);
int pvm_precv(int, int, void *, int, int, int *, int *, int *);
int pvm_probe(int, int);
int pvm_psend(int, int, void *, int, int);
int pvm_pstat(int);
int pvm_putinfo(char *, int, int);
int pvm_recv(int, int);
/*
 * pvm_recvf installs a message matching function and returns the old one.
 * The declared return type is PVM 3.4.6's, kept for source compatibility:
 * a pointer to a function taking such a matching function.
 */
int (*pvm_recvf(int (*)(int, int, int)))(int (*)(int, int, int));
int pvm_recvinfo(char *, int, int);
int pvm_reg_hoster(void);
int pvm_reg_rm(struct pvmhostinfo **);
int pvm_reg_tasker(void);
int pvm_reg_tracer(int, int, int, int, char *, int, int);
int pvm_send(int, int);
int pvm_sendsig(int, int);
int pvm_setcontext(int);
int pvm_setminfo(int, struct pvmminfo *);
int pvm_setopt(int, int);
int pvm_setrbuf(int);
int pvm_setsbuf(int);
int pvm_settmask(int, char *);
int pvm_siblings(int **);
int pvm_spawn(char *, char **, int, char *, int, int *);
int pvm_start_pvmd(int, char **, int);
int pvm_tasks(int, int *, struct pvmtaskinfo **);
int pvm_tickle(int, int *, int *, int *);
int pvm_tidtohost(int);
int pvm_trecv(int, int, struct timeval *);
int pvm_unexport(char *);
int pvm_unpackf(const char *, ...);
int pvm_upkbyte(char *, int, int);
int pvm_upkcplx(float *, int, int);
int pvm_upkdcplx(double *, int, int);
int pvm_upkdouble(double *, int, int);
int pvm_upkfloat(float *, int, int);
int pvm_upkint(int *, int, int);
int pvm_upklong(long *, int, int);
int pvm_upkshort(short *, int, int);
int pvm_upkstr(char *);
int pvm_upkuint(unsigned int *, int, int);
int pvm_upkulong(unsigned long *, int, int);
int pvm_upkushort(unsigned short *, int, int);
int pvm_upkmesg(void);
int pvm_vpackf(const char *, va_list);
int pvm_vunpackf(const char *, va_list);
char *pvm_version(void);

/* The 3.3 database calls, now carried by the mailbox. */
int pvm_delete(char *, int);
int pvm_insert(char *, int, int);
int pvm_lookup(char *, int, int *);

#ifdef PVM33COMPAT
int pvm_getmwid(int);
int pvm_setmwid(int, int);
#endif

/* Dynamic groups (library libgpvm3). */
int pvm_barrier(char *, int);
int pvm_bcast(char *, int);
int pvm_freezegroup(char *, int);
int pvm_gather(void *, void *, int, int, int, char *, int);
int pvm_getinst(char *, int);
int pvm_gettid(char *, int);
int pvm_gsize(char *);
int pvm_joingroup(char *);
int pvm_lvgroup(char *);
int pvm_reduce(void (*)(int *, void *, void *, int *, int *), void *, int,
               int, int, char *, int);
int pvm_scatter(void *, void *, int, int, int, char *, int);

/* Combining functions for pvm_reduce(). */
void PvmMax(int *, void *, void *, int *, int *);
void PvmMin(int *, void *, void *, int *, int *);
void PvmSum(int *, void *, void *, int *, int *);
void PvmProduct(int *, void *, void *, int *, int *);

#ifdef __cplusplus
}
#endif

#endif /* _PVM3_H_ */
