//! Fortran mailbox calls: pvmfputinfo ... pvmfgetmboxinfo (conventions in
//! `mod.rs`).

use super::*;
use crate::ffi::globals::MBOX_CYCLE;
use crate::ffi::mailbox;
use crate::ffi::types::PvmMboxInfo;
use std::ffi::{c_char, c_int};

/// `call pvmfputinfo(name, bufid, flags, index)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfputinfo_(
    name: *const c_char,
    bufid: *const c_int,
    flags: *const c_int,
    index: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfputinfo", index, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_putinfo(
                n.as_ptr() as *mut c_char,
                arg(bufid)?,
                arg(flags)?,
            ))
        })
    }
}

/// `call pvmfrecvinfo(name, index, flags, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfrecvinfo_(
    name: *const c_char,
    index: *const c_int,
    flags: *const c_int,
    bufid: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfrecvinfo", bufid, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_recvinfo(
                n.as_ptr() as *mut c_char,
                arg(index)?,
                arg(flags)?,
            ))
        })
    }
}

/// `call pvmfdelinfo(name, index, flags, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfdelinfo_(
    name: *const c_char,
    index: *const c_int,
    flags: *const c_int,
    info: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfdelinfo", info, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_delinfo(
                n.as_ptr() as *mut c_char,
                arg(index)?,
                arg(flags)?,
            ))
        })
    }
}

/// `call pvmfgetmboxinfo(pattern, name, nclasses, nentries, indices,
/// owners, flags, info)`: one mailbox class matching `pattern` per call:
/// its name, number of entries, and their indices, owner tids and flags.
/// `nclasses` is the number of classes of the snapshot the cycle walks;
/// after the last class the next call gives `info = PvmNotFound` and ends
/// the cycle, and `nclasses = -1` on entry starts a new one.
///
/// # Safety
/// Arguments by reference as described in the module docs; `indices`,
/// `owners` and `flags` have room for the class's entries.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetmboxinfo_(
    pattern: *const c_char,
    name: *mut c_char,
    nclasses: *mut c_int,
    nentries: *mut c_int,
    indices: *mut c_int,
    owners: *mut c_int,
    flags: *mut c_int,
    info: *mut c_int,
    pattern_len: FLen,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfgetmboxinfo", info, || {
            let mut c = lock(&MBOX_CYCLE);
            if arg(nclasses) == Ok(-1) {
                c.classes = None;
            }
            if c.classes.is_none() {
                let pat = fcstr(pattern, pattern_len, MAX_NAME)?;
                let (mut n, mut cp) = (0, std::ptr::null_mut::<PvmMboxInfo>());
                let rc = mailbox::pvm_getmboxinfo(pat.as_ptr() as *mut c_char, &mut n, &mut cp);
                if rc < 0 {
                    return Ok(rc);
                }
                let list = if cp.is_null() || n <= 0 {
                    &[][..]
                } else {
                    // SAFETY: pvm_getmboxinfo hands out `n` classes valid until its next call.
                    std::slice::from_raw_parts(cp, n as usize)
                };
                let ints = |p: *mut c_int, k: c_int| -> Vec<c_int> {
                    if p.is_null() || k <= 0 {
                        Vec::new()
                    } else {
                        // SAFETY: each array of a class holds mi_nentries ints.
                        std::slice::from_raw_parts(p, k as usize).to_vec()
                    }
                };
                let snapshot = list
                    .iter()
                    .map(|m| {
                        (
                            ctext(m.mi_name),
                            ints(m.mi_indices, m.mi_nentries),
                            ints(m.mi_owners, m.mi_nentries),
                            ints(m.mi_flags, m.mi_nentries),
                        )
                    })
                    .collect();
                c.classes = Some(snapshot);
                c.next = 0;
            }
            let next = c.next;
            let list = c.classes.take().unwrap_or_default();
            put(nclasses, list.len() as c_int);
            let Some((cname, idx, own, flg)) = list.get(next) else {
                return Err(Error::NotFound);
            };
            fstore(name, name_len, cname);
            put(nentries, idx.len() as c_int);
            for (out, v) in [(indices, idx), (owners, own), (flags, flg)] {
                if !out.is_null() {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), out, v.len());
                }
            }
            c.next = next + 1;
            c.classes = Some(list);
            Ok(0)
        })
    }
}
