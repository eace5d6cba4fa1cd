//! C entry points of the message mailbox: pvm_putinfo, pvm_recvinfo,
//! pvm_delinfo, pvm_getmboxinfo and the PVM 3.3 database calls pvm_insert,
//! pvm_lookup and pvm_delete.
//!
//! As in PVM 3.4.6, the answers "not found" (PvmNotFound), "denied"
//! (PvmDenied) and "exists" (PvmExists) set pvm_errno without an automatic
//! error report; other errors (a bad parameter, no daemon) are reported.
//! The array pvm_getmboxinfo hands out lives in library storage until the
//! next pvm_getmboxinfo call.

use super::boundary::{call_quiet, cbytes, fail, put};
use super::globals::{MboxHanded, MBOX_HANDED};
use super::trace::Tev;
use super::types::PvmMboxInfo;
use crate::sync::Locked;
use crate::task;
use crate::task::trace::{did, ev, Val};
use crate::{Error, Result};
use std::ffi::{c_char, c_int, CString};

/// Runs `body`; answers are quiet, other errors reported (see the module docs).
fn mbox_call(name: &str, body: impl FnOnce() -> Result<c_int>) -> c_int {
    call_quiet(name, || match body() {
        Err(e) if !matches!(e, Error::NotFound | Error::Denied | Error::Exists) => {
            Ok(fail(name, e))
        }
        r => r,
    })
}

/// Stores a copy of message buffer `bufid` in the mailbox under `name`;
/// returns the entry's index.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_putinfo(name: *mut c_char, bufid: c_int, flags: c_int) -> c_int {
    let tev = Tev::top(ev::PUTINFO);
    let r = mbox_call("pvm_putinfo", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        mbox_entry(&tev, n, -1, Some(bufid), flags);
        task::putinfo(n, bufid, flags)
    });
    Tev::cc(tev, r)
}

/// A copy of the mailbox entry `<name, index>` as a new (and the active)
/// receive buffer; returns its id.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_recvinfo(name: *mut c_char, index: c_int, flags: c_int) -> c_int {
    let tev = Tev::top(ev::GETINFO);
    let r = mbox_call("pvm_recvinfo", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        mbox_entry(&tev, n, index, None, flags);
        task::recvinfo(n, index, flags)
    });
    if let Some(t) = tev {
        t.exit(&[(did::CC, Val::Int(r)), (did::CR, Val::Int(r))]);
    }
    r
}

/// Deletes the mailbox entry `<name, index>`; returns its index (PvmOk for 0).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_delinfo(name: *mut c_char, index: c_int, flags: c_int) -> c_int {
    let tev = Tev::top(ev::DELINFO);
    let r = mbox_call("pvm_delinfo", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        mbox_entry(&tev, n, index, None, flags);
        task::delinfo(n, index, flags)
    });
    Tev::cc(tev, r)
}

/// The mailbox classes whose names match `pattern`.
///
/// # Safety
/// `pattern` is NULL or a NUL-terminated string; `nclasses` and `classes`
/// are NULL or valid for one write. `*classes` points at library storage
/// valid until the next pvm_getmboxinfo call.
#[no_mangle]
pub unsafe extern "C" fn pvm_getmboxinfo(
    pattern: *mut c_char,
    nclasses: *mut c_int,
    classes: *mut *mut PvmMboxInfo,
) -> c_int {
    mbox_call("pvm_getmboxinfo", || {
        // SAFETY: the contract above.
        let p = unsafe { cbytes(pattern) }?;
        let list = task::getmboxinfo(p)?;
        let mut h = MBOX_HANDED.locked();
        h.names = list
            .iter()
            .map(|c| CString::new(c.name.clone()).unwrap_or_default())
            .collect();
        h.arrays = list
            .into_iter()
            .map(|c| [c.indices, c.owners, c.flags])
            .collect();
        let MboxHanded {
            infos,
            names,
            arrays,
        } = &mut *h;
        *infos = names
            .iter()
            .zip(arrays.iter_mut())
            .map(|(n, [ix, ow, fl])| PvmMboxInfo {
                mi_name: n.as_ptr() as *mut c_char,
                mi_nentries: ix.len() as c_int,
                mi_indices: ix.as_mut_ptr(),
                mi_owners: ow.as_mut_ptr(),
                mi_flags: fl.as_mut_ptr(),
            })
            .collect();
        // SAFETY: out-pointers per the contract; the array lives in MBOX_HANDED until the next call.
        unsafe {
            put(nclasses, infos.len() as c_int);
            put(classes, infos.as_mut_ptr());
        }
        Ok(0)
    })
}

/// PVM 3.3: stores the integer `data` at `<name, index>` (-1: first free
/// index); returns the index.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_insert(name: *mut c_char, index: c_int, data: c_int) -> c_int {
    mbox_call("pvm_insert", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        task::insert(n, index, data)
    })
}

/// PVM 3.3: the integer stored at `<name, index>` (-1: the first entry)
/// into `*data`; returns the index it was found at.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `data` is NULL or valid for
/// one write.
#[no_mangle]
pub unsafe extern "C" fn pvm_lookup(name: *mut c_char, index: c_int, data: *mut c_int) -> c_int {
    mbox_call("pvm_lookup", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        let (at, v) = task::lookup(n, index)?;
        // SAFETY: NULL or writable per the contract.
        unsafe { put(data, v) };
        Ok(at)
    })
}

/// PVM 3.3: deletes `<name, index>`; returns the index (PvmOk for 0).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_delete(name: *mut c_char, index: c_int) -> c_int {
    mbox_call("pvm_delete", || {
        // SAFETY: the contract above.
        let n = unsafe { cbytes(name) }?;
        task::delete(n, index)
    })
}

/// The entry event of a traced mailbox call (CN, CI, CF[, CD]).
fn mbox_entry(tev: &Option<Tev>, name: &[u8], index: c_int, data: Option<c_int>, flags: c_int) {
    if let Some(t) = tev {
        let mut f = vec![
            (did::CN, Val::Str(name)),
            (did::CI, Val::Int(index)),
            (did::CF, Val::Int(flags)),
        ];
        if let Some(d) = data {
            f.push((did::CD, Val::Int(d)));
        }
        t.entry(&f);
    }
}
