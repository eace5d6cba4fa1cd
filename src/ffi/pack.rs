//! C entry points that pack and unpack every data type (pvm_pk*, pvm_upk*),
//! each traced with its event (PDA, PC, PSD in, CC out) when the task
//! traces.
//!
//! With PvmDataInPlace, typed arrays are not copied at pack time: an
//! [`InPlaceRef`] remembers where they are and the data is read when the
//! message is sent, as PVM 3.4 specifies; only dense data (stride 1) can
//! stay in place (PvmNotImpl otherwise, as in PVM 3.4.6).

use super::boundary::{call, cbytes, span};
use super::trace::Tev;
use crate::msg::{Encoding, InPlaceSource, Scalar};
use crate::task::trace::{did, ev, Val};
use crate::task::with_bufs;
use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_long, c_short, c_uint, c_ulong, c_ushort};

/// Runs a typed pack or unpack as traced call `kind` (pvmtev.h's
/// `TEV_PK*`/`TEV_UPK*`): the data address, count and stride go in, the
/// condition code out.
fn traced(
    kind: c_int,
    addr: usize,
    nitem: c_int,
    stride: c_int,
    body: impl FnOnce() -> c_int,
) -> c_int {
    let tev = Tev::top(kind);
    if let Some(t) = &tev {
        t.entry(&[
            (did::PDA, Val::Long(addr as i64)),
            (did::PC, Val::Int(nitem)),
            (did::PSD, Val::Int(stride)),
        ]);
    }
    Tev::cc(tev, body())
}

/// [`traced`] for pvm_pkstr and pvm_upkstr (the address alone goes in).
fn traced_str(kind: c_int, addr: usize, body: impl FnOnce() -> c_int) -> c_int {
    let tev = Tev::top(kind);
    if let Some(t) = &tev {
        t.entry(&[(did::PDA, Val::Long(addr as i64))]);
    }
    Tev::cc(tev, body())
}

/// User memory packed with PvmDataInPlace.
struct InPlaceRef {
    ptr: *const u8,
    /// Bytes per item (an element, or a pair for complex types).
    item: usize,
    nitem: usize,
    /// Distance between items, in bytes.
    step: usize,
}

// SAFETY: the pointer is only read, at send time, under the PVM contract
// that in-place data stays valid until the message is sent; the runtime
// reads it from whichever thread sends.
unsafe impl Send for InPlaceRef {}

impl InPlaceSource for InPlaceRef {
    fn len(&self) -> usize {
        self.item * self.nitem
    }

    fn contiguous(&self) -> Option<&[u8]> {
        (self.step == self.item).then(|| {
            // SAFETY: the caller of pvm_pk* promised nitem items of `item`
            // bytes at ptr, valid until the message is sent.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len()) }
        })
    }

    fn gather(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        for i in 0..self.nitem {
            // SAFETY: item i lies at ptr + i*step, inside the span the caller
            // of pvm_pk* declared valid (nitem items at stride).
            let s = unsafe { std::slice::from_raw_parts(self.ptr.add(i * self.step), self.item) };
            out.extend_from_slice(s);
        }
    }
}

/// Packs `nitem` items (each `width` scalars of `T`) at `stride` items.
///
/// # Safety
/// `p` is NULL or valid for `span(nitem, stride) * width` elements.
unsafe fn pack_typed<T: Scalar>(
    p: *const T,
    nitem: c_int,
    stride: c_int,
    width: usize,
) -> Result<c_int> {
    if stride < 1 && nitem > 0 {
        // SAFETY: the contract of pack_odd_stride is this function's.
        return unsafe { pack_odd_stride(p, nitem, stride, width) };
    }
    let n = span(nitem, stride)?;
    if nitem > 0 && p.is_null() {
        return Err(Error::BadParam);
    }
    with_bufs(|t| {
        let b = t.send_buf_mut()?;
        if nitem == 0 {
            return Ok(0);
        }
        if b.encoding() == Encoding::InPlace {
            if stride != 1 {
                // man pvm_pack: in place, only dense data (PvmNotImpl in
                // PVM 3.4.6).
                return Err(Error::NotImpl);
            }
            let src = InPlaceRef {
                ptr: p.cast(),
                item: T::SIZE * width,
                nitem: nitem as usize,
                step: T::SIZE * width * stride as usize,
            };
            b.pack_inplace(Box::new(src))?;
            return Ok(0);
        }
        // SAFETY: valid for n*width elements by this function's contract.
        let data = unsafe { std::slice::from_raw_parts(p, n * width) };
        if width == 2 {
            b.pack_complex(data, nitem as usize, stride as usize)?;
        } else {
            b.pack(data, nitem as usize, stride as usize)?;
        }
        Ok(0)
    })
}

/// Unpacks `nitem` items (each `width` scalars of `T`) at `stride` items.
///
/// # Safety
/// `p` is NULL or valid for writes of `span(nitem, stride) * width` elements.
unsafe fn unpack_typed<T: Scalar>(
    p: *mut T,
    nitem: c_int,
    stride: c_int,
    width: usize,
) -> Result<c_int> {
    if stride < 1 && nitem > 0 {
        // SAFETY: the contract of unpack_odd_stride is this function's.
        return unsafe { unpack_odd_stride(p, nitem, stride, width) };
    }
    let n = span(nitem, stride)?;
    if nitem > 0 && p.is_null() {
        return Err(Error::BadParam);
    }
    with_bufs(|t| {
        let b = t.recv_buf_mut()?;
        if nitem == 0 {
            return Ok(0);
        }
        // SAFETY: valid and exclusive for n*width elements by this function's contract.
        let out = unsafe { std::slice::from_raw_parts_mut(p, n * width) };
        if width == 2 {
            b.unpack_complex(out, nitem as usize, stride as usize)?;
        } else {
            b.unpack(out, nitem as usize, stride as usize)?;
        }
        Ok(0)
    })
}

/// The element offset of item `i` at `stride` items of `width` scalars
/// (negative for a negative stride); None on overflow.
fn item_offset(i: usize, stride: c_int, width: usize) -> Option<isize> {
    (i as isize)
        .checked_mul(stride as isize)?
        .checked_mul(width as isize)
}

/// Packs with a stride of 0 or below, which PVM 3.4.6 accepts: item `i` is
/// read at `p + i*stride` (0 packs the same item `nitem` times, a negative
/// stride walks backwards). With PvmDataInPlace it is PvmNotImpl, as
/// for every stride other than 1 (PVM 3.4.6).
///
/// # Safety
/// `p` is NULL or valid for reads of `width` elements at each item's offset.
unsafe fn pack_odd_stride<T: Scalar>(
    p: *const T,
    nitem: c_int,
    stride: c_int,
    width: usize,
) -> Result<c_int> {
    if p.is_null() || nitem < 0 {
        return Err(Error::BadParam);
    }
    let n = nitem as usize;
    let mut items: Vec<T> = Vec::with_capacity(n.checked_mul(width).ok_or(Error::BadParam)?);
    for i in 0..n {
        let off = item_offset(i, stride, width).ok_or(Error::BadParam)?;
        // SAFETY: item i lies at p + off, valid for `width` elements by the
        // contract (the caller named these items).
        let item = unsafe { std::slice::from_raw_parts(p.offset(off), width) };
        items.extend_from_slice(item);
    }
    with_bufs(|t| {
        let b = t.send_buf_mut()?;
        if b.encoding() == Encoding::InPlace {
            return Err(Error::NotImpl);
        }
        if width == 2 {
            b.pack_complex(&items, n, 1)?;
        } else {
            b.pack(&items, n, 1)?;
        }
        Ok(0)
    })
}

/// Unpacks with a stride of 0 or below, as PVM 3.4.6 does: item `i` is
/// written at `p + i*stride` (with 0 every item goes to the same place and
/// the last one stays).
///
/// # Safety
/// `p` is NULL or valid for writes of `width` elements at each item's
/// offset, with no other reference to them.
unsafe fn unpack_odd_stride<T: Scalar>(
    p: *mut T,
    nitem: c_int,
    stride: c_int,
    width: usize,
) -> Result<c_int> {
    if p.is_null() || nitem < 0 {
        return Err(Error::BadParam);
    }
    let n = nitem as usize;
    let mut items = vec![T::default(); n.checked_mul(width).ok_or(Error::BadParam)?];
    with_bufs(|t| {
        let b = t.recv_buf_mut()?;
        if width == 2 {
            b.unpack_complex(&mut items, n, 1)
        } else {
            b.unpack(&mut items, n, 1)
        }
    })?;
    for (i, item) in items.chunks(width).enumerate() {
        let off = item_offset(i, stride, width).ok_or(Error::BadParam)?;
        // SAFETY: item i lies at p + off, valid and exclusive for `width`
        // elements by the contract.
        let dst = unsafe { std::slice::from_raw_parts_mut(p.offset(off), width) };
        dst.copy_from_slice(item);
    }
    Ok(0)
}

// The typed pack and unpack entry points, written out one by one (not by a
// macro) so that tests/prototypes.rs, which reads the Rust code with
// cbindgen, sees and checks each signature against pvm3.h.

/// Packs `nitem` bytes at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkbyte(xp: *mut c_char, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKBYTE, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_char and u8 have one size and layout).
        call("pvm_pkbyte", || unsafe {
            pack_typed::<u8>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` bytes at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkbyte(xp: *mut c_char, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKBYTE, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_char and u8 have one size and layout).
        call("pvm_upkbyte", || unsafe {
            unpack_typed::<u8>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` shorts at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkshort(xp: *mut c_short, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKSHORT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_short and i16 have one size and layout).
        call("pvm_pkshort", || unsafe {
            pack_typed::<i16>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` shorts at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkshort(xp: *mut c_short, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKSHORT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_short and i16 have one size and layout).
        call("pvm_upkshort", || unsafe {
            unpack_typed::<i16>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` unsigned shorts at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkushort(xp: *mut c_ushort, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKUSHORT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_ushort and u16 have one size and layout).
        call("pvm_pkushort", || unsafe {
            pack_typed::<u16>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` unsigned shorts at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkushort(xp: *mut c_ushort, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKUSHORT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_ushort and u16 have one size and layout).
        call("pvm_upkushort", || unsafe {
            unpack_typed::<u16>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` ints at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkint(xp: *mut c_int, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKINT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_int and i32 have one size and layout).
        call("pvm_pkint", || unsafe {
            pack_typed::<i32>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` ints at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkint(xp: *mut c_int, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKINT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_int and i32 have one size and layout).
        call("pvm_upkint", || unsafe {
            unpack_typed::<i32>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` unsigned ints at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkuint(xp: *mut c_uint, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKUINT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_uint and u32 have one size and layout).
        call("pvm_pkuint", || unsafe {
            pack_typed::<u32>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` unsigned ints at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkuint(xp: *mut c_uint, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKUINT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_uint and u32 have one size and layout).
        call("pvm_upkuint", || unsafe {
            unpack_typed::<u32>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` longs at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pklong(xp: *mut c_long, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKLONG, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_long and i64 have one size and layout).
        call("pvm_pklong", || unsafe {
            pack_typed::<i64>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` longs at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upklong(xp: *mut c_long, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKLONG, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_long and i64 have one size and layout).
        call("pvm_upklong", || unsafe {
            unpack_typed::<i64>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` unsigned longs at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkulong(xp: *mut c_ulong, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKULONG, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_ulong and u64 have one size and layout).
        call("pvm_pkulong", || unsafe {
            pack_typed::<u64>(xp.cast_const().cast(), nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` unsigned longs at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkulong(xp: *mut c_ulong, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKULONG, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract (c_ulong and u64 have one size and layout).
        call("pvm_upkulong", || unsafe {
            unpack_typed::<u64>(xp.cast(), nitem, stride, 1)
        })
    })
}

/// Packs `nitem` floats at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkfloat(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKFLOAT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_pkfloat", || unsafe {
            pack_typed::<f32>(xp, nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` floats at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkfloat(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKFLOAT, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_upkfloat", || unsafe {
            unpack_typed::<f32>(xp, nitem, stride, 1)
        })
    })
}

/// Packs `nitem` doubles at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkdouble(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKDOUBLE, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_pkdouble", || unsafe {
            pack_typed::<f64>(xp, nitem, stride, 1)
        })
    })
}

/// Unpacks `nitem` doubles at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkdouble(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKDOUBLE, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_upkdouble", || unsafe {
            unpack_typed::<f64>(xp, nitem, stride, 1)
        })
    })
}

/// Packs `nitem` complex floats (pairs) at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkcplx(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKCPLX, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_pkcplx", || unsafe {
            pack_typed::<f32>(xp, nitem, stride, 2)
        })
    })
}

/// Unpacks `nitem` complex floats (pairs) at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkcplx(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKCPLX, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_upkcplx", || unsafe {
            unpack_typed::<f32>(xp, nitem, stride, 2)
        })
    })
}

/// Packs `nitem` complex doubles (pairs) at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkdcplx(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::PKDCPLX, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_pkdcplx", || unsafe {
            pack_typed::<f64>(xp, nitem, stride, 2)
        })
    })
}

/// Unpacks `nitem` complex doubles (pairs) at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkdcplx(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    traced(ev::UPKDCPLX, xp as usize, nitem, stride, || {
        // SAFETY: forwarded contract.
        call("pvm_upkdcplx", || unsafe {
            unpack_typed::<f64>(xp, nitem, stride, 2)
        })
    })
}

/// Packs a NUL-terminated string.
///
/// # Safety
/// `cp` is a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkstr(cp: *mut c_char) -> c_int {
    traced_str(ev::PKSTR, cp as usize, || {
        call("pvm_pkstr", || {
            // SAFETY: the contract above.
            let s = unsafe { cbytes(cp) }?;
            with_bufs(|t| {
                let b = t.send_buf_mut()?;
                // man pvm_pkstr: strings cannot be packed in place.
                if b.encoding() == Encoding::InPlace {
                    return Err(Error::NotImpl);
                }
                b.pack_str(s)
            })
            .map(|()| 0)
        })
    })
}

/// Unpacks a string into `cp`, NUL-terminated.
///
/// # Safety
/// `cp` has room for the string and its NUL (the PVM contract).
#[no_mangle]
pub unsafe extern "C" fn pvm_upkstr(cp: *mut c_char) -> c_int {
    traced_str(ev::UPKSTR, cp as usize, || {
        call("pvm_upkstr", || {
            if cp.is_null() {
                return Err(Error::BadParam);
            }
            let s = with_bufs(|t| t.recv_buf_mut()?.unpack_str())?;
            // SAFETY: room for s.len()+1 bytes by the contract above; regions do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(s.as_ptr(), cp.cast::<u8>(), s.len());
                *cp.add(s.len()) = 0;
            }
            Ok(0)
        })
    })
}
