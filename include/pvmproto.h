/*
 * pvmproto.h - pvm6: the message tags of PVM 3.4's system services, for
 * programs that act as a resource manager (pvm_reg_rm), hoster
 * (pvm_reg_hoster) or tasker (pvm_reg_tasker). The values are those of
 * PVM 3.4.6, so such programs build unchanged.
 *
 * Only the SM_ tags are given. PVM 3.4.6's header of this name also lists
 * its daemons' internal protocol (DM_, TM_ and TC_ tags, the UDP
 * retransmission settings); pvm6's daemons speak another protocol
 * (docs/PROTOCOL.md), so those names have no meaning here.
 */
#ifndef PVM6_PVMPROTO_H
#define PVM6_PVMPROTO_H

/* Version of the resource manager protocol (as PVM 3.4.6). */
#define SDPROTOCOL 4302

#define SM_FIRST ((int)0x80040001)
#define SM_SPAWN (SM_FIRST + 0)      /* pvm_spawn of a task, and the answer */
#define SM_EXEC (SM_FIRST + 1)       /* manager to daemon: start tasks */
#define SM_EXECACK (SM_FIRST + 2)    /* daemon to manager: tasks started */
#define SM_TASK (SM_FIRST + 3)       /* pvm_tasks of a task, and the answer */
#define SM_CONFIG (SM_FIRST + 4)     /* pvm_config of a task, and the answer */
#define SM_ADDHOST (SM_FIRST + 5)    /* pvm_addhosts of a task, and the answer */
#define SM_DELHOST (SM_FIRST + 6)    /* pvm_delhosts of a task, and the answer */
#define SM_ADD (SM_FIRST + 7)        /* manager to daemon: add hosts */
#define SM_ADDACK (SM_FIRST + 8)     /* daemon to manager: hosts added */
#define SM_NOTIFY (SM_FIRST + 9)     /* pvm_notify of a task */
#define SM_TASKX (SM_FIRST + 10)     /* daemon to manager: a task exited */
#define SM_HOSTX (SM_FIRST + 11)     /* daemon to manager: a host left */
#define SM_HANDOFF (SM_FIRST + 12)   /* manager to daemon: a new manager */
#define SM_SCHED (SM_FIRST + 13)     /* pvm_reg_rm of another task */
#define SM_STHOST (SM_FIRST + 14)    /* daemon to hoster: start slave daemons */
#define SM_STHOSTACK (SM_FIRST + 15) /* hoster to daemon: their replies */
#define SM_STTASK (SM_FIRST + 16)    /* daemon to tasker: start a task */
#define SM_LAST (SM_FIRST + 16)

#endif /* PVM6_PVMPROTO_H */
