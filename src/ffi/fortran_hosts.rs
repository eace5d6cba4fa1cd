//! The host calls of the Fortran 77 interface: pvmfaddhost and pvmfdelhost.
//!
//! Conventions as in `fortran.rs`. Each call adds or deletes one host
//! through the C entry points `pvm_addhosts` / `pvm_delhosts` (declared
//! here by their pvm3.h signatures, resolved inside libpvm3); `info` is the
//! host's result (the new daemon tid for pvmfaddhost, 0 for pvmfdelhost,
//! or an error code), or the call's own error code when it failed as a
//! whole, as PVM 3.4.6's wrappers report it.
//!
//! Built only when libpvm3 has those entry points (`pub mod
//! fortran_hosts;` in `ffi/mod.rs`).

use super::fortran::{FLen, MAX_NAME};
use crate::{Error, Result};
use std::ffi::{c_char, c_int, CString};

extern "C" {
    fn pvm_addhosts(hosts: *mut *mut c_char, nhost: c_int, infos: *mut c_int) -> c_int;
    fn pvm_delhosts(hosts: *mut *mut c_char, nhost: c_int, infos: *mut c_int) -> c_int;
}

/// A host name argument as a C string; too long or NULL is `BadParam`.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes.
unsafe fn host_name(p: *const c_char, len: FLen) -> Result<CString> {
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL and `len` readable bytes by the caller's contract.
    let raw = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    let t = super::fortran::ftext(raw, MAX_NAME).ok_or(Error::BadParam)?;
    CString::new(t).map_err(|_| Error::BadParam)
}

/// Runs `op` on one host and stores the outcome in `info`.
///
/// # Safety
/// `host` as [`host_name`]; `info` is NULL or valid for a write of one int.
unsafe fn one_host(
    name: &str,
    op: unsafe extern "C" fn(*mut *mut c_char, c_int, *mut c_int) -> c_int,
    host: *const c_char,
    host_len: FLen,
    info: *mut c_int,
) {
    let v = super::boundary::guard(name, Error::SysErr.code(), || {
        // SAFETY: forwarded contract.
        let h = match unsafe { host_name(host, host_len) } {
            Ok(h) => h,
            Err(e) => return e.code(),
        };
        let mut list = [h.as_ptr() as *mut c_char];
        let mut result: c_int = 0;
        // SAFETY: one host name and room for its one result.
        let rc = unsafe { op(list.as_mut_ptr(), 1, &mut result) };
        if rc < 0 {
            rc
        } else {
            result
        }
    });
    // SAFETY: forwarded contract.
    unsafe { super::boundary::put(info, v) };
}

/// `call pvmfaddhost(host, info)`: adds `host`; `info` is its daemon tid or
/// an error code.
///
/// # Safety
/// Arguments by reference as described in `fortran.rs`.
#[no_mangle]
pub unsafe extern "C" fn pvmfaddhost_(host: *const c_char, info: *mut c_int, host_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden length.
    unsafe { one_host("pvmfaddhost", pvm_addhosts, host, host_len, info) }
}

/// `call pvmfdelhost(host, info)`: deletes `host` from the machine.
///
/// # Safety
/// Arguments by reference as described in `fortran.rs`.
#[no_mangle]
pub unsafe extern "C" fn pvmfdelhost_(host: *const c_char, info: *mut c_int, host_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden length.
    unsafe { one_host("pvmfdelhost", pvm_delhosts, host, host_len, info) }
}
