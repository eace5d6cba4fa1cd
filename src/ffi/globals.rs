//! The FFI layer's process-wide state, in one place.
//!
//! Two groups:
//!
//! - The data symbols libpvm3 exports to C: `pvm_errno`, `pvm_nerr` and
//!   `pvm_errlist`, and the helpers the FFI layer uses to set and read
//!   `pvm_errno`. All three live in writable data (nm shows `B`/`D`), as in
//!   PVM 3.4, because C declares them as plain mutable objects
//!   (`extern int pvm_errno;`, `extern char *pvm_errlist[];`).
//! - Storage behind what the C and Fortran entry points hand out or keep
//!   between calls: tables and strings returned to C stay valid until the
//!   next call of the same function (as in PVM 3.4, whose library keeps them
//!   in its own statics), and the Fortran calls that deliver one item per call
//!   keep their cursor. This state is per process because the C API is: a
//!   pointer handed to one thread may be read by another. Each item sits
//!   behind a `Mutex`, so concurrent calls never see a half-written table.
//!
//! The task's own state (identity, buffers, routes, handlers) is not here but
//! in the runtime singleton `task::rt()`; see docs/ARCHITECTURE.md.

use super::messaging::MatchFn;
use super::types::{PvmHostInfo, PvmMboxInfo, PvmTaskInfo};
use crate::error::ERROR_TEXTS;
use std::cell::UnsafeCell;
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// Code of the last failing PVM call, read by C as `extern int pvm_errno`.
///
/// SAFETY of the layout: `AtomicI32` has the size, alignment and bit validity
/// of `i32` (= C `int` on every supported target), so C code that reads or
/// writes it as an `int` sees the same four bytes. Rust only touches it with
/// atomic operations, so Rust code never races with itself; a C program that
/// writes it from several threads races in C terms, exactly as with the
/// original library.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_errno: AtomicI32 = AtomicI32::new(0);

/// Number of entries of [`pvm_errlist`] (37, as in PVM 3.4.6). An atomic only
/// so that it lands in writable data like the original's `int pvm_nerr`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_nerr: AtomicI32 = AtomicI32::new(ERROR_TEXTS.len() as i32);

/// Number of texts.
const NERR: usize = ERROR_TEXTS.len();

/// Total bytes of all texts with their NULs.
const BLOB_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < NERR {
        n += ERROR_TEXTS[i].len() + 1;
        i += 1;
    }
    n
};

/// The texts of [`ERROR_TEXTS`] back to back, each followed by a NUL.
static BLOB: [u8; BLOB_LEN] = {
    let mut b = [0u8; BLOB_LEN];
    let mut at = 0;
    let mut i = 0;
    while i < NERR {
        let t = ERROR_TEXTS[i].as_bytes();
        let mut j = 0;
        while j < t.len() {
            b[at] = t[j];
            at += 1;
            j += 1;
        }
        at += 1; // the NUL
        i += 1;
    }
    b
};

/// Offset of each text inside [`BLOB`].
const OFFSETS: [usize; NERR] = {
    let mut o = [0usize; NERR];
    let mut at = 0;
    let mut i = 0;
    while i < NERR {
        o[i] = at;
        at += ERROR_TEXTS[i].len() + 1;
        i += 1;
    }
    o
};

/// The array behind `char *pvm_errlist[]`: one pointer per error text.
///
/// `#[repr(transparent)]` over an `UnsafeCell` of the array, so the symbol is
/// exactly `NERR` pointers in writable data, like C's array.
#[repr(transparent)]
pub struct ErrList(UnsafeCell<[*const c_char; NERR]>);

// SAFETY: the pointers point into the immutable static `BLOB`; Rust never
// writes the array (only `entry` reads it). C may write it, as it could with
// the original; that is the C program's own business.
unsafe impl Sync for ErrList {}

impl ErrList {
    /// Pointer number `i` of the table (`pvm_errlist[i]`), or None.
    pub fn entry(&self, i: usize) -> Option<*const c_char> {
        // SAFETY: `i` is bounds-checked and the cell holds a plain array of
        // pointers; reading one copy of it creates no lasting reference.
        (i < NERR).then(|| unsafe { (*self.0.get())[i] })
    }
}

/// `char *pvm_errlist[]`: error texts indexed by the negated code.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_errlist: ErrList = ErrList(UnsafeCell::new({
    let mut p = [std::ptr::null::<c_char>(); NERR];
    let mut i = 0;
    while i < NERR {
        // SAFETY: OFFSETS[i] < BLOB_LEN, so the pointer stays inside BLOB.
        p[i] = unsafe { BLOB.as_ptr().add(OFFSETS[i]) }.cast::<c_char>();
        i += 1;
    }
    p
}));

/// Stores `code` in `pvm_errno`.
pub fn set_errno(code: i32) {
    pvm_errno.store(code as c_int, Ordering::Relaxed);
}

/// The current value of `pvm_errno`.
pub fn errno() -> i32 {
    pvm_errno.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// Storage handed to C, valid until the next call of the same function.
// ---------------------------------------------------------------------------

/// Host and task tables handed out by pvm_config, pvm_tasks and
/// pvm_siblings, with the strings their pointers point into.
#[derive(Default)]
pub(crate) struct Handed {
    pub(crate) hosts: Vec<PvmHostInfo>,
    pub(crate) host_strings: Vec<CString>,
    pub(crate) tasks: Vec<PvmTaskInfo>,
    pub(crate) task_strings: Vec<CString>,
    pub(crate) siblings: Vec<c_int>,
}

// SAFETY: the raw pointers inside point into the CStrings kept beside them;
// nothing is shared across threads without the mutex.
unsafe impl Send for Handed {}

/// The tables of [`Handed`] (`process.rs`): each replaced by the next call of
/// its function, so C may read the previous one until then.
pub(crate) static HANDED: Mutex<Handed> = Mutex::new(Handed {
    hosts: Vec::new(),
    host_strings: Vec::new(),
    tasks: Vec::new(),
    task_strings: Vec::new(),
    siblings: Vec::new(),
});

/// The mailbox classes last handed out by pvm_getmboxinfo, with the storage
/// their pointers point into.
pub(crate) struct MboxHanded {
    pub(crate) infos: Vec<PvmMboxInfo>,
    pub(crate) names: Vec<CString>,
    /// Per class: indices, owners, flags.
    pub(crate) arrays: Vec<[Vec<c_int>; 3]>,
}

// SAFETY: the raw pointers in `infos` point into `names` and `arrays`, which
// are kept beside them and only touched under the mutex.
unsafe impl Send for MboxHanded {}

/// pvm_getmboxinfo's classes (`mailbox.rs`), valid until its next call.
pub(crate) static MBOX_HANDED: Mutex<MboxHanded> = Mutex::new(MboxHanded {
    infos: Vec::new(),
    names: Vec::new(),
    arrays: Vec::new(),
});

/// The string pvmgetrsh last returned (`process.rs`), valid until its next
/// call.
pub(crate) static RSH: Mutex<Option<CString>> = Mutex::new(None);

/// The string pvmgettmp last returned (`process.rs`), valid until its
/// next call.
pub(crate) static TMP: Mutex<Option<CString>> = Mutex::new(None);

/// The tids handed out by pvm_getnoresets (`misc.rs`), kept until the next
/// call.
pub(crate) static NORESETS: Mutex<Vec<c_int>> = Mutex::new(Vec::new());

/// The master host handed out by pvm_reg_rm, with its strings.
pub(crate) struct RmHost {
    pub(crate) info: PvmHostInfo,
    pub(crate) _strings: (CString, CString),
}

// SAFETY: the pointers in `info` point into the CStrings kept beside them;
// access goes through the mutex.
unsafe impl Send for RmHost {}

/// pvm_reg_rm's `*hip` (`misc.rs`), boxed so its address stays put until the
/// next call replaces it.
pub(crate) static RM_HOST: Mutex<Option<Box<RmHost>>> = Mutex::new(None);

/// The C matching function pvm_recvf installed (`messaging.rs`): kept only
/// to return it as the previous one on the next call; the runtime holds its
/// own wrapper.
pub(crate) static MATCHER: Mutex<MatchFn> = Mutex::new(None);

/// The descriptors pvm_getfds last handed out (`messaging.rs`), valid until
/// its next call.
pub(crate) static FDS: Mutex<Vec<c_int>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------------------
// Fortran cursors: calls that deliver one item per call and walk a snapshot.
// ---------------------------------------------------------------------------

/// One host of pvmfconfig's snapshot: (dtid, name, arch, speed).
pub(crate) type HostRow = (c_int, Vec<u8>, Vec<u8>, c_int);

/// Host table snapshot pvmfconfig walks through, one host per call.
pub(crate) struct HostCycle {
    /// Hosts of the snapshot; empty when no cycle is running.
    pub(crate) hosts: Vec<HostRow>,
    pub(crate) narch: c_int,
    pub(crate) next: usize,
}

/// pvmfconfig's cursor (`fortran/process.rs`).
pub(crate) static HOST_CYCLE: Mutex<HostCycle> = Mutex::new(HostCycle {
    hosts: Vec::new(),
    narch: 0,
    next: 0,
});

/// One task of pvmftasks' snapshot: (tid, ptid, host, flag, a.out).
pub(crate) type TaskRow = (c_int, c_int, c_int, c_int, Vec<u8>);

/// Task table snapshot pvmftasks walks through, one task per call.
pub(crate) struct TaskCycle {
    /// Tasks of the snapshot; empty when no cycle is running.
    pub(crate) tasks: Vec<TaskRow>,
    pub(crate) next: usize,
}

/// pvmftasks' cursor (`fortran/process.rs`).
pub(crate) static TASK_CYCLE: Mutex<TaskCycle> = Mutex::new(TaskCycle {
    tasks: Vec::new(),
    next: 0,
});

/// The sibling list (or the error code) fetched by the first pvmfsiblings
/// call (`fortran/process.rs`); later calls index into it.
pub(crate) static SIBLINGS: Mutex<Option<std::result::Result<Vec<c_int>, c_int>>> =
    Mutex::new(None);

/// One mailbox class as pvmfgetmboxinfo hands it out.
pub(crate) type MboxClass = (Vec<u8>, Vec<c_int>, Vec<c_int>, Vec<c_int>);

/// Mailbox classes pvmfgetmboxinfo walks through, one per call.
pub(crate) struct MboxCycle {
    /// None: no cycle running; Some(list): the snapshot being walked.
    pub(crate) classes: Option<Vec<MboxClass>>,
    pub(crate) next: usize,
}

/// pvmfgetmboxinfo's cursor (`fortran/mailbox.rs`).
pub(crate) static MBOX_CYCLE: Mutex<MboxCycle> = Mutex::new(MboxCycle {
    classes: None,
    next: 0,
});

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn errlist_texts_equal_error_texts() {
        assert_eq!(pvm_nerr.load(Ordering::Relaxed), 37);
        for (i, text) in ERROR_TEXTS.iter().enumerate() {
            let p = pvm_errlist.entry(i).unwrap();
            // SAFETY: entries point at NUL-terminated texts inside BLOB.
            let c = unsafe { CStr::from_ptr(p) };
            assert_eq!(c.to_str().unwrap(), *text, "entry {i}");
        }
        assert!(pvm_errlist.entry(37).is_none());
        assert_eq!(
            std::mem::size_of::<ErrList>(),
            37 * std::mem::size_of::<*const c_char>()
        );
    }

    #[test]
    fn errno_helpers_round_trip() {
        set_errno(-14);
        assert_eq!(errno(), -14);
        set_errno(0);
        assert_eq!(errno(), 0);
        assert_eq!(
            std::mem::size_of::<AtomicI32>(),
            std::mem::size_of::<c_int>()
        );
        assert_eq!(
            std::mem::align_of::<AtomicI32>(),
            std::mem::align_of::<c_int>()
        );
    }
}
