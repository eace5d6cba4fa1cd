//! The group calls of the Fortran 77 interface (libfpvm3's pvmfjoingroup ...
//! pvmfreduce) and the reduction functions `pvmmax_`, `pvmmin_`, `pvmsum_`,
//! `pvmproduct_` that Fortran programs pass to pvmfreduce.
//!
//! Conventions as in `mod.rs`: arguments by reference, hidden string
//! lengths last, `info` (or the result argument) stored on every path.
//! Group names longer than 31 characters (PVM 3.4.6's buffer) give
//! `PvmBadParam`. Each wrapper calls the C entry point of the group library
//! (`pvm_joingroup`, ...), so errors are reported as for C callers.
//! pvmfreduce hands the Fortran function on unchanged: the C reduction
//! functions take only pointers, so a Fortran SUBROUTINE
//! `f(datatype, x, y, num, info)` is called correctly, and `pvmsum` etc.
//! jump to `PvmSum` etc. Data type codes are the C ones (fpvm3.h's INTEGER4
//! is PVM_INT, ...).

use super::{arg, fcstr, ret, FLen, MAX_GROUP};
use crate::ffi::groups::{
    pvm_barrier, pvm_bcast, pvm_freezegroup, pvm_gather, pvm_getinst, pvm_gettid, pvm_gsize,
    pvm_joingroup, pvm_lvgroup, pvm_reduce, pvm_scatter, PvmMax, PvmMin, PvmProduct, PvmSum,
    ReduceFn,
};
use crate::Result;
use std::ffi::{c_char, c_int, c_void, CString};

/// A group name argument as a C string; longer than PVM 3.4.6's 31
/// characters, or NULL, is `BadParam`.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes.
unsafe fn group_name(p: *const c_char, len: FLen) -> Result<CString> {
    // SAFETY: forwarded contract.
    unsafe { fcstr(p, len, MAX_GROUP) }
}

/// `call pvmfjoingroup(group, inum)`: joins `group`; `inum` is the instance number or an error.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfjoingroup_(group: *const c_char, inum: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfjoingroup", inum, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_joingroup(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmflvgroup(group, info)`: leaves `group`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmflvgroup_(group: *const c_char, info: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmflvgroup", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_lvgroup(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfgsize(group, size)`: the number of members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgsize_(group: *const c_char, size: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgsize", size, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gsize(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfgettid(group, inum, tid)`: the tid of instance `inum`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgettid_(
    group: *const c_char,
    inum: *const c_int,
    tid: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgettid", tid, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gettid(g.as_ptr() as *mut c_char, arg(inum)?))
        })
    }
}

/// `call pvmfgetinst(group, tid, inum)`: the instance number of `tid`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetinst_(
    group: *const c_char,
    tid: *const c_int,
    inum: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgetinst", inum, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_getinst(g.as_ptr() as *mut c_char, arg(tid)?))
        })
    }
}

/// `call pvmfbarrier(group, count, info)`: waits until `count` members called it.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbarrier_(
    group: *const c_char,
    count: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfbarrier", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_barrier(g.as_ptr() as *mut c_char, arg(count)?))
        })
    }
}

/// `call pvmfbcast(group, msgtag, info)`: sends the active buffer to the other members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbcast_(
    group: *const c_char,
    msgtag: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfbcast", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_bcast(g.as_ptr() as *mut c_char, arg(msgtag)?))
        })
    }
}

/// `call pvmffreezegroup(group, size, info)`: makes the group static once it has `size` members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmffreezegroup_(
    group: *const c_char,
    size: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmffreezegroup", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_freezegroup(g.as_ptr() as *mut c_char, arg(size)?))
        })
    }
}

/// `call pvmfreduce(func, data, count, datatype, msgtag, group, root, info)`: combines `data` of all members with `func` (pvmmax, pvmmin, pvmsum, pvmproduct or a user subroutine); the result lands in `data` of instance `root`.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfreduce_(
    func: Option<ReduceFn>,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfreduce", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_reduce(
                func,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// `call pvmfgather(result, data, count, datatype, msgtag, group, root, info)`: instance `root` collects every member's `data` into `result`, in instance order.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfgather_(
    result: *mut c_void,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfgather", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gather(
                result,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// `call pvmfscatter(result, data, count, datatype, msgtag, group, root, info)`: instance `root` hands out `count` items of `data` to each member's `result`.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfscatter_(
    result: *mut c_void,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfscatter", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_scatter(
                result,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// The Fortran name of `PvmMax`, to pass to pvmfreduce (`external pvmmax`).
///
/// # Safety
/// As `PvmMax`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmmax_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmMax(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmMin`, to pass to pvmfreduce (`external pvmmin`).
///
/// # Safety
/// As `PvmMin`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmmin_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmMin(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmSum`, to pass to pvmfreduce (`external pvmsum`).
///
/// # Safety
/// As `PvmSum`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmsum_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmSum(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmProduct`, to pass to pvmfreduce (`external pvmproduct`).
///
/// # Safety
/// As `PvmProduct`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmproduct_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmProduct(datatype, x, y, num, info) }
}
