//! Every integer constant of `include/pvm3.h` as a Rust constant with the C
//! name, and [`ALL`], the table of names and values the header tests compare
//! against the C header.
//!
//! Error codes are not repeated here: they are taken from [`crate::error::Error`].
#![allow(non_upper_case_globals)]

use crate::error::Error;

/// Declares each constant and collects all of them into [`ALL`].
macro_rules! pvm_consts {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $($(#[$doc])* pub const $name: i32 = $value;)*

        /// Name and value of every integer constant of `pvm3.h`.
        pub const ALL: &[(&str, i64)] = &[$((stringify!($name), $name as i64)),*];
    };
}

pvm_consts! {
    // Interface version ("3.4.6" is PVM_VER).
    /// Major version of the interface.
    PVM_MAJOR_VERSION = 3;
    /// Minor version of the interface.
    PVM_MINOR_VERSION = 4;
    /// Patch level of the interface.
    PVM_PATCH_VERSION = 6;

    // Message encodings (pvm_initsend, pvm_mkbuf).
    /// Portable XDR encoding.
    PvmDataDefault = 0;
    /// Native data, no conversion.
    PvmDataRaw = 1;
    /// Data left in the user's memory until the send.
    PvmDataInPlace = 2;
    /// Old alias of [`PvmDataDefault`].
    PvmDataFoo = PvmDataDefault;
    /// Encoding of trace event messages.
    PvmDataTrace = 4;

    // pvm_spawn flags.
    /// Let PVM choose where to start.
    PvmTaskDefault = 0;
    /// `where` names a host.
    PvmTaskHost = 1;
    /// `where` names an architecture.
    PvmTaskArch = 2;
    /// Start under a debugger.
    PvmTaskDebug = 4;
    /// The task emits trace events.
    PvmTaskTrace = 8;
    /// MPP front end.
    PvmMppFront = 16;
    /// Every host but `where`.
    PvmHostCompl = 32;
    /// The child has no parent.
    PvmNoSpawnParent = 64;

    // pvm_notify kinds.
    /// A task exited.
    PvmTaskExit = 1;
    /// A host was deleted or failed.
    PvmHostDelete = 2;
    /// Hosts were added.
    PvmHostAdd = 3;
    /// A direct route opened.
    PvmRouteAdd = 4;
    /// A direct route closed.
    PvmRouteDelete = 5;
    /// Or-ed with a kind: cancel earlier requests.
    PvmNotifyCancel = 256;

    // pvm_setopt / pvm_getopt options and values.
    /// Routing policy option.
    PvmRoute = 1;
    /// Routing value: never direct.
    PvmDontRoute = 1;
    /// Routing value: accept direct routes.
    PvmAllowDirect = 2;
    /// Routing value: ask for direct routes.
    PvmRouteDirect = 3;
    /// Library debug mask.
    PvmDebugMask = 2;
    /// Automatic error messages.
    PvmAutoErr = 3;
    /// Destination of children's output.
    PvmOutputTid = 4;
    /// Tag of children's output.
    PvmOutputCode = 5;
    /// Destination of children's trace events.
    PvmTraceTid = 6;
    /// Tag of children's trace events.
    PvmTraceCode = 7;
    /// Children's trace buffering.
    PvmTraceBuffer = 8;
    /// Children's trace options.
    PvmTraceOptions = 9;
    /// Trace option value: every event.
    PvmTraceFull = 1;
    /// Trace option value: timings only.
    PvmTraceTime = 2;
    /// Trace option value: counts only.
    PvmTraceCount = 3;
    /// Message fragment size.
    PvmFragSize = 10;
    /// Allow reserved tags and tids.
    PvmResvTids = 11;
    /// Destination of this task's output.
    PvmSelfOutputTid = 12;
    /// Tag of this task's output.
    PvmSelfOutputCode = 13;
    /// Destination of this task's trace events.
    PvmSelfTraceTid = 14;
    /// Tag of this task's trace events.
    PvmSelfTraceCode = 15;
    /// This task's trace buffering.
    PvmSelfTraceBuffer = 16;
    /// This task's trace options.
    PvmSelfTraceOptions = 17;
    /// pvm_catchout prefixes lines with tids.
    PvmShowTids = 18;
    /// Shared-memory wait method.
    PvmPollType = 19;
    /// Poll value: spin.
    PvmPollConstant = 1;
    /// Poll value: spin, then sleep.
    PvmPollSleep = 2;
    /// Spin time before sleeping.
    PvmPollTime = 20;
    /// Context of children's output.
    PvmOutputContext = 21;
    /// Context of children's trace events.
    PvmTraceContext = 22;
    /// Context of this task's output.
    PvmSelfOutputContext = 23;
    /// Context of this task's trace events.
    PvmSelfTraceContext = 24;
    /// The task survives a reset.
    PvmNoReset = 25;

    // pvm_gettmask / pvm_settmask.
    /// The calling task's mask.
    PvmTaskSelf = 0;
    /// The mask given to future children.
    PvmTaskChild = 1;

    // Contexts.
    /// Context of programs that never change it.
    PvmBaseContext = 0;

    // Mailbox flags (pvm_putinfo, pvm_recvinfo).
    /// One locked entry; read the first.
    PvmMboxDefault = 0;
    /// The entry outlives its owner.
    PvmMboxPersistent = 1;
    /// Several entries per class.
    PvmMboxMultiInstance = 2;
    /// Others may overwrite the entry.
    PvmMboxOverWritable = 4;
    /// First index at or after the one given.
    PvmMboxFirstAvail = 8;
    /// Read and delete atomically.
    PvmMboxReadAndDelete = 16;
    /// Block until the entry exists.
    PvmMboxWaitForInfo = 32;
    /// Highest flag bit.
    PvmMboxMaxFlag = 512;
    /// Position of a direct index inside the flags.
    PvmMboxDirectIndexShift = 10;
    /// Limit (exclusive) of a direct index.
    PvmMboxMaxDirectIndex = 1 << (31 - PvmMboxDirectIndexShift);

    // Result codes.
    /// Success.
    PvmOk = 0;
    /// Bad parameter.
    PvmBadParam = Error::BadParam as i32;
    /// Parameter mismatch.
    PvmMismatch = Error::Mismatch as i32;
    /// Value too large.
    PvmOverflow = Error::Overflow as i32;
    /// End of buffer.
    PvmNoData = Error::NoData as i32;
    /// No such host.
    PvmNoHost = Error::NoHost as i32;
    /// No such file.
    PvmNoFile = Error::NoFile as i32;
    /// Permission denied.
    PvmDenied = Error::Denied as i32;
    /// Out of memory.
    PvmNoMem = Error::NoMem as i32;
    /// Can't decode message.
    PvmBadMsg = Error::BadMsg as i32;
    /// Can't contact local daemon.
    PvmSysErr = Error::SysErr as i32;
    /// No current buffer.
    PvmNoBuf = Error::NoBuf as i32;
    /// No such buffer.
    PvmNoSuchBuf = Error::NoSuchBuf as i32;
    /// Null group name.
    PvmNullGroup = Error::NullGroup as i32;
    /// Already in group.
    PvmDupGroup = Error::DupGroup as i32;
    /// No such group.
    PvmNoGroup = Error::NoGroup as i32;
    /// Not in group.
    PvmNotInGroup = Error::NotInGroup as i32;
    /// No such instance.
    PvmNoInst = Error::NoInst as i32;
    /// Host failed.
    PvmHostFail = Error::HostFail as i32;
    /// No parent task.
    PvmNoParent = Error::NoParent as i32;
    /// Not implemented.
    PvmNotImpl = Error::NotImpl as i32;
    /// Pvmd system error.
    PvmDSysErr = Error::DSysErr as i32;
    /// Version mismatch.
    PvmBadVersion = Error::BadVersion as i32;
    /// Out of resources.
    PvmOutOfRes = Error::OutOfRes as i32;
    /// Duplicate host.
    PvmDupHost = Error::DupHost as i32;
    /// Can't start pvmd.
    PvmCantStart = Error::CantStart as i32;
    /// Already in progress.
    PvmAlready = Error::Already as i32;
    /// No such task.
    PvmNoTask = Error::NoTask as i32;
    /// Not found.
    PvmNotFound = Error::NotFound as i32;
    /// Already exists.
    PvmExists = Error::Exists as i32;
    /// Hoster must run on the master host.
    PvmHostrNMstr = Error::HostrNMstr as i32;
    /// The spawning parent chose PvmNoSpawnParent.
    PvmParentNotSet = Error::ParentNotSet as i32;
    /// Master host's address is the loopback.
    PvmIPLoopback = Error::IPLoopback as i32;
    /// PVM 3.3 name of [`PvmNotFound`].
    PvmNoEntry = PvmNotFound;
    /// PVM 3.3 name of [`PvmDenied`].
    PvmDupEntry = PvmDenied;

    // Element types (pvm_psend, pvm_precv, pvm_reduce).
    /// NUL-terminated string.
    PVM_STR = 0;
    /// Byte.
    PVM_BYTE = 1;
    /// short.
    PVM_SHORT = 2;
    /// int.
    PVM_INT = 3;
    /// float.
    PVM_FLOAT = 4;
    /// Complex of two floats.
    PVM_CPLX = 5;
    /// double.
    PVM_DOUBLE = 6;
    /// Complex of two doubles.
    PVM_DCPLX = 7;
    /// long.
    PVM_LONG = 8;
    /// unsigned short.
    PVM_USHORT = 9;
    /// unsigned int.
    PVM_UINT = 10;
    /// unsigned long.
    PVM_ULONG = 11;

    // Temporary names.
    /// Buffer size for PVMTMPNAMFUN when `<stdio.h>` (L_tmpnam) was not
    /// included before `pvm3.h`.
    PVMTMPNAMLEN = 128;
}

/// The version string `pvm_version()` returns and `PVM_VER` holds.
pub const PVM_VER: &str = "3.4.6";
/// Mailbox class of tasks that survive a reset.
pub const PVMNORESETCLASS: &str = "###_PVM_NO_RESET_###";
/// Mailbox class of the registered hoster.
pub const PVMHOSTERCLASS: &str = "###_PVM_HOSTER_###";
/// Mailbox class of the registered tasker.
pub const PVMTASKERCLASS: &str = "###_PVM_TASKER_###";
/// Mailbox class of the registered tracer.
pub const PVMTRACERCLASS: &str = "###_PVM_TRACER_###";
/// Mailbox class of the registered resource manager.
pub const PVMRMCLASS: &str = "###_PVM_RM_###";

/// Name and value of every string constant of `pvm3.h`.
pub const STRINGS: &[(&str, &str)] = &[
    ("PVM_VER", PVM_VER),
    ("PVMNORESETCLASS", PVMNORESETCLASS),
    ("PVMHOSTERCLASS", PVMHOSTERCLASS),
    ("PVMTASKERCLASS", PVMTASKERCLASS),
    ("PVMTRACERCLASS", PVMTRACERCLASS),
    ("PVMRMCLASS", PVMRMCLASS),
];

/// The flag bits that carry mailbox entry `index` (PvmMboxDirectIndex), or
/// `None` when the index is too large.
pub fn mbox_direct_index(index: i32) -> Option<i32> {
    (0..PvmMboxMaxDirectIndex)
        .contains(&index)
        .then_some(index << PvmMboxDirectIndexShift)
}

/// The entry index carried in mailbox `flags` (PvmMboxDirectIndexOf).
pub fn mbox_direct_index_of(flags: i32) -> i32 {
    ((flags as u32 & ((PvmMboxMaxDirectIndex as u32 - 1) << PvmMboxDirectIndexShift))
        >> PvmMboxDirectIndexShift) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_unique_and_errors_complete() {
        let names: HashSet<_> = ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), ALL.len());
        for e in crate::error::ALL {
            let v = e.code() as i64;
            assert!(
                ALL.iter().any(|(n, x)| *x == v && n.starts_with("Pvm")),
                "{e:?} missing"
            );
        }
        assert_eq!(PvmNoEntry, -32);
        assert_eq!(PvmDupEntry, -8);
        assert_eq!(PvmMboxMaxDirectIndex, 2_097_152);
    }

    #[test]
    fn direct_index_round_trips() {
        assert_eq!(mbox_direct_index(5), Some(5 << 10));
        assert_eq!(mbox_direct_index(PvmMboxMaxDirectIndex), None);
        assert_eq!(mbox_direct_index_of((7 << 10) | PvmMboxMultiInstance), 7);
    }
}
