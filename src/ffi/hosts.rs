//! C entry points that change the virtual machine: pvm_addhosts and
//! pvm_delhosts.

use super::boundary::{call, cstr, slice, slice_mut};
use crate::task;
use crate::Error;
use std::ffi::{c_char, c_int};

/// Reads `nhost` C strings from `hosts`.
///
/// # Safety
/// `hosts` is NULL or points at `nhost` C string pointers.
unsafe fn names(hosts: *mut *mut c_char, nhost: c_int) -> crate::Result<Vec<String>> {
    if nhost < 1 {
        return Err(Error::BadParam);
    }
    // SAFETY: forwarded contract: nhost readable pointers.
    let ptrs = unsafe { slice(hosts as *const *mut c_char, nhost, 1) }?;
    ptrs.iter()
        // SAFETY: each entry is a NUL-terminated string (cstr checks NULL).
        .map(|&p| unsafe { cstr(p) })
        .collect()
}

/// Stores per-host results in `infos` when it is not NULL.
///
/// # Safety
/// `infos` is NULL or has room for `codes.len()` ints.
unsafe fn store(infos: *mut c_int, codes: &[i32]) -> crate::Result<()> {
    if infos.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    let out = unsafe { slice_mut(infos, codes.len() as c_int, 1) }?;
    out.copy_from_slice(codes);
    Ok(())
}

/// Adds hosts to the virtual machine (lines in hostfile syntax).
///
/// # Safety
/// `hosts` points at `nhost` C strings; `infos` is NULL or has room for
/// `nhost` ints.
///
/// # Returns
/// The number of hosts added; `infos[i]` holds each new host's tid or an
/// error code (PvmDupHost, PvmNoHost, PvmCantStart, PvmBadParam).
#[no_mangle]
pub unsafe extern "C" fn pvm_addhosts(
    hosts: *mut *mut c_char,
    nhost: c_int,
    infos: *mut c_int,
) -> c_int {
    call("pvm_addhosts", || {
        // SAFETY: per this function's contract.
        let list = unsafe { names(hosts, nhost) }?;
        let (ok, codes) = task::addhosts(&list)?;
        // SAFETY: per this function's contract.
        unsafe { store(infos, &codes) }?;
        Ok(ok)
    })
}

/// Deletes hosts from the virtual machine; their tasks are killed.
///
/// # Safety
/// `hosts` points at `nhost` C strings; `infos` is NULL or has room for
/// `nhost` ints.
///
/// # Returns
/// The number of hosts deleted; `infos[i]` holds 0 or an error code.
#[no_mangle]
pub unsafe extern "C" fn pvm_delhosts(
    hosts: *mut *mut c_char,
    nhost: c_int,
    infos: *mut c_int,
) -> c_int {
    call("pvm_delhosts", || {
        // SAFETY: per this function's contract.
        let list = unsafe { names(hosts, nhost) }?;
        let (ok, codes) = task::delhosts(&list)?;
        // SAFETY: per this function's contract.
        unsafe { store(infos, &codes) }?;
        Ok(ok)
    })
}
