//! The host calls of the Fortran 77 interface: pvmfaddhost and pvmfdelhost.
//!
//! Conventions as in `mod.rs`. Each call adds or deletes one host through
//! the C entry points `pvm_addhosts` / `pvm_delhosts`; `info` is the host's
//! result (the new daemon tid for pvmfaddhost, 0 for pvmfdelhost, or an
//! error code), or the call's own error code when it failed as a whole, as
//! PVM 3.4.6's wrappers report it.

use super::{fcstr, ret, FLen, MAX_NAME};
use crate::ffi::hosts::{pvm_addhosts, pvm_delhosts};
use std::ffi::{c_char, c_int};

/// Runs `op` on one host and stores the outcome in `info`.
///
/// # Safety
/// `host` is NULL or valid for reads of `host_len` bytes; `info` is NULL or
/// valid for a write of one int.
unsafe fn one_host(
    name: &str,
    op: unsafe extern "C" fn(*mut *mut c_char, c_int, *mut c_int) -> c_int,
    host: *const c_char,
    host_len: FLen,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe {
        ret(name, info, || {
            let h = fcstr(host, host_len, MAX_NAME)?;
            let mut list = [h.as_ptr() as *mut c_char];
            let mut result: c_int = 0;
            // SAFETY: one host name and room for its one result.
            let rc = op(list.as_mut_ptr(), 1, &mut result);
            Ok(if rc < 0 { rc } else { result })
        })
    }
}

/// `call pvmfaddhost(host, info)`: adds `host`; `info` is its daemon tid or
/// an error code.
///
/// # Safety
/// Arguments by reference as described in `mod.rs`.
#[no_mangle]
pub unsafe extern "C" fn pvmfaddhost_(host: *const c_char, info: *mut c_int, host_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden length.
    unsafe { one_host("pvmfaddhost", pvm_addhosts, host, host_len, info) }
}

/// `call pvmfdelhost(host, info)`: deletes `host` from the machine.
///
/// # Safety
/// Arguments by reference as described in `mod.rs`.
#[no_mangle]
pub unsafe extern "C" fn pvmfdelhost_(host: *const c_char, info: *mut c_int, host_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden length.
    unsafe { one_host("pvmfdelhost", pvm_delhosts, host, host_len, info) }
}
