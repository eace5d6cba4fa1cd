//! C entry points for event notification and output collection:
//! pvm_notify and pvm_catchout (whose `FILE*` stays in this layer, wrapped
//! as the core's `OutputSink`).

use super::boundary::{call, ok, slice};
use super::trace::Tev;
use crate::task::trace::{did, ev, Val};
use crate::task::{self, OutputSink};
use crate::Error;
use std::ffi::c_int;

/// Requests a message with tag `msgtag` when the event `what` happens
/// (PvmTaskExit, PvmHostDelete, PvmHostAdd, PvmRouteAdd, PvmRouteDelete,
/// optionally or-ed with PvmNotifyCancel).
///
/// # Safety
/// For PvmTaskExit, PvmHostDelete and PvmRouteDelete, `tids` is NULL or
/// points at `cnt` ints; for the other kinds it is not read.
///
/// # Returns
/// PvmOk, PvmBadParam for invalid arguments, PvmSysErr without a daemon.
#[no_mangle]
pub unsafe extern "C" fn pvm_notify(
    what: c_int,
    msgtag: c_int,
    cnt: c_int,
    tids: *mut c_int,
) -> c_int {
    let tev = Tev::top(ev::NOTIFY);
    let cc = call("pvm_notify", || {
        let kind = what & !256;
        let listed = matches!(kind, 1 | 2 | 5);
        let list: &[c_int] = if listed {
            if cnt < 1 || tids.is_null() {
                return Err(Error::BadParam);
            }
            // SAFETY: non-NULL and `cnt` ints long by the contract above.
            unsafe { slice(tids as *const c_int, cnt, 1) }?
        } else {
            &[]
        };
        if let Some(t) = &tev {
            t.entry(&[
                (did::NE, Val::Int(what)),
                (did::NMC, Val::Int(msgtag)),
                (did::NTL, Val::Ints(list)),
            ]);
        }
        ok(task::notify(what, msgtag, cnt, list))
    });
    Tev::cc(tev, cc)
}

/// A C stdio stream that pvm_catchout writes to.
struct CFile(*mut libc::FILE);

// SAFETY: a FILE* may be used from any thread (stdio locks each stream);
// the pointer is only used while the caller keeps the stream open, which
// pvm_catchout's contract requires.
unsafe impl Send for CFile {}

impl OutputSink for CFile {
    fn write(&mut self, data: &[u8]) {
        // SAFETY: self.0 is an open FILE* (pvm_catchout's contract) and
        // `data` is a valid slice of data.len() bytes.
        unsafe { libc::fwrite(data.as_ptr().cast(), 1, data.len(), self.0) };
    }
    fn flush(&mut self) {
        // SAFETY: as in write.
        unsafe { libc::fflush(self.0) };
    }
}

/// Collects the output of tasks spawned from now on and writes it to `ff`
/// (NULL turns collection off for later children).
///
/// # Safety
/// `ff` is NULL or an open stdio stream that stays open while output may
/// arrive (until pvm_exit, or until the children's output has ended).
///
/// # Returns
/// 0 (PvmSysErr when no daemon can be reached).
#[no_mangle]
pub unsafe extern "C" fn pvm_catchout(ff: *mut libc::FILE) -> c_int {
    call("pvm_catchout", || {
        let sink: Option<Box<dyn OutputSink>> = if ff.is_null() {
            None
        } else {
            Some(Box::new(CFile(ff)))
        };
        ok(task::catchout(sink))
    })
}
