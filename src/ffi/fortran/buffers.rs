//! Fortran message buffers and packing: pvmfinitsend ... pvmfunpack
//! (conventions in `mod.rs`).

use super::*;
use crate::ffi::{buffers, pack};
use std::ffi::{c_int, c_long, c_short, c_void};

/// `call pvmfinitsend(encoding, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfinitsend_(encoding: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfinitsend", bufid, || {
            Ok(buffers::pvm_initsend(arg(encoding)?))
        })
    }
}

/// `call pvmfmkbuf(encoding, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfmkbuf_(encoding: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfmkbuf", bufid, || {
            Ok(buffers::pvm_mkbuf(arg(encoding)?))
        })
    }
}

/// `call pvmffreebuf(bufid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmffreebuf_(bufid: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmffreebuf", info, || {
            Ok(buffers::pvm_freebuf(arg(bufid)?))
        })
    }
}

/// `call pvmfgetsbuf(bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetsbuf_(bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetsbuf", bufid, || Ok(buffers::pvm_getsbuf())) }
}

/// `call pvmfgetrbuf(bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetrbuf_(bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetrbuf", bufid, || Ok(buffers::pvm_getrbuf())) }
}

/// `call pvmfsetsbuf(bufid, oldbuf)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetsbuf_(bufid: *const c_int, oldbuf: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetsbuf", oldbuf, || {
            Ok(buffers::pvm_setsbuf(arg(bufid)?))
        })
    }
}

/// `call pvmfsetrbuf(bufid, oldbuf)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetrbuf_(bufid: *const c_int, oldbuf: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetrbuf", oldbuf, || {
            Ok(buffers::pvm_setrbuf(arg(bufid)?))
        })
    }
}

/// `call pvmfbufinfo(bufid, bytes, msgtag, tid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbufinfo_(
    bufid: *const c_int,
    bytes: *mut c_int,
    msgtag: *mut c_int,
    tid: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfbufinfo", info, || {
            Ok(buffers::pvm_bufinfo(arg(bufid)?, bytes, msgtag, tid))
        })
    }
}

/// Packs or unpacks `nitem` items of Fortran type `what` at `xp`.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items of the type `what` names.
unsafe fn pack_any(
    what: c_int,
    xp: *mut c_void,
    nitem: c_int,
    stride: c_int,
    unpack: bool,
) -> c_int {
    use ftype::*;
    // SAFETY: forwarded contract; each arm casts to the element type `what` names.
    unsafe {
        match (what, unpack) {
            (STRING | BYTE1, false) => pack::pvm_pkbyte(xp.cast(), nitem, stride),
            (STRING | BYTE1, true) => pack::pvm_upkbyte(xp.cast(), nitem, stride),
            (INTEGER2, false) => pack::pvm_pkshort(xp.cast::<c_short>(), nitem, stride),
            (INTEGER2, true) => pack::pvm_upkshort(xp.cast::<c_short>(), nitem, stride),
            (INTEGER4, false) => pack::pvm_pkint(xp.cast(), nitem, stride),
            (INTEGER4, true) => pack::pvm_upkint(xp.cast(), nitem, stride),
            (INTEGER8, false) => pack::pvm_pklong(xp.cast::<c_long>(), nitem, stride),
            (INTEGER8, true) => pack::pvm_upklong(xp.cast::<c_long>(), nitem, stride),
            (REAL4, false) => pack::pvm_pkfloat(xp.cast(), nitem, stride),
            (REAL4, true) => pack::pvm_upkfloat(xp.cast(), nitem, stride),
            (COMPLEX8, false) => pack::pvm_pkcplx(xp.cast(), nitem, stride),
            (COMPLEX8, true) => pack::pvm_upkcplx(xp.cast(), nitem, stride),
            (REAL8, false) => pack::pvm_pkdouble(xp.cast(), nitem, stride),
            (REAL8, true) => pack::pvm_upkdouble(xp.cast(), nitem, stride),
            (COMPLEX16, false) => pack::pvm_pkdcplx(xp.cast(), nitem, stride),
            (COMPLEX16, true) => pack::pvm_upkdcplx(xp.cast(), nitem, stride),
            _ => Error::BadParam.code(),
        }
    }
}

/// `call pvmfpack(what, xp, nitem, stride, info)`: packs `nitem` items of
/// type `what` (STRING, BYTE1, INTEGER2, INTEGER4, INTEGER8, REAL4,
/// COMPLEX8, REAL8, COMPLEX16) into the active send buffer. A CHARACTER
/// `xp` adds a hidden length after `info`, which is not used: STRING packs
/// `nitem` characters.
///
/// # Safety
/// Arguments by reference as described in the module docs; `xp` holds the
/// items.
#[no_mangle]
pub unsafe extern "C" fn pvmfpack_(
    what: *const c_int,
    xp: *mut c_void,
    nitem: *const c_int,
    stride: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `xp` per the contract.
    unsafe {
        ret("pvmfpack", info, || {
            Ok(pack_any(arg(what)?, xp, arg(nitem)?, arg(stride)?, false))
        })
    }
}

/// `call pvmfunpack(what, xp, nitem, stride, info)`: the reverse of pvmfpack.
///
/// # Safety
/// Arguments by reference as described in the module docs; `xp` has room
/// for the items.
#[no_mangle]
pub unsafe extern "C" fn pvmfunpack_(
    what: *const c_int,
    xp: *mut c_void,
    nitem: *const c_int,
    stride: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `xp` per the contract.
    unsafe {
        ret("pvmfunpack", info, || {
            Ok(pack_any(arg(what)?, xp, arg(nitem)?, arg(stride)?, true))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_pack_type_is_badparam() {
        let mut x = 0i32;
        // SAFETY: nitem 1 item of an int; the type is rejected before any access.
        let rc = unsafe { pack_any(9, (&mut x as *mut i32).cast(), 1, 1, false) };
        assert_eq!(rc, Error::BadParam.code());
    }
}
