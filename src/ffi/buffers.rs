//! C entry points for message buffers: creating and choosing buffers, their
//! header information, and packing/unpacking every data type.
//!
//! With PvmDataInPlace, typed arrays are not copied at pack time: an
//! [`InPlaceRef`] remembers where they are and the data is read when the
//! message is sent, as PVM 3.4 specifies; only dense data (stride 1) can
//! stay in place (PvmNotImpl otherwise, as in PVM 3.4.6).

use super::boundary::{call, cbytes, put, span};
use super::types::PvmMInfo;
use crate::msg::{Buffer, Encoding, InPlaceSource, Scalar};
use crate::task::with_bufs;
use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_long, c_short, c_uint, c_ulong, c_ushort};

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
    // SAFETY: forwarded contract (c_char and u8 have one size and layout).
    call("pvm_pkbyte", || unsafe {
        pack_typed::<u8>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` bytes at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkbyte(xp: *mut c_char, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_char and u8 have one size and layout).
    call("pvm_upkbyte", || unsafe {
        unpack_typed::<u8>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` shorts at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkshort(xp: *mut c_short, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_short and i16 have one size and layout).
    call("pvm_pkshort", || unsafe {
        pack_typed::<i16>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` shorts at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkshort(xp: *mut c_short, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_short and i16 have one size and layout).
    call("pvm_upkshort", || unsafe {
        unpack_typed::<i16>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` unsigned shorts at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkushort(xp: *mut c_ushort, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_ushort and u16 have one size and layout).
    call("pvm_pkushort", || unsafe {
        pack_typed::<u16>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` unsigned shorts at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkushort(xp: *mut c_ushort, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_ushort and u16 have one size and layout).
    call("pvm_upkushort", || unsafe {
        unpack_typed::<u16>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` ints at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkint(xp: *mut c_int, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_int and i32 have one size and layout).
    call("pvm_pkint", || unsafe {
        pack_typed::<i32>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` ints at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkint(xp: *mut c_int, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_int and i32 have one size and layout).
    call("pvm_upkint", || unsafe {
        unpack_typed::<i32>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` unsigned ints at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkuint(xp: *mut c_uint, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_uint and u32 have one size and layout).
    call("pvm_pkuint", || unsafe {
        pack_typed::<u32>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` unsigned ints at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkuint(xp: *mut c_uint, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_uint and u32 have one size and layout).
    call("pvm_upkuint", || unsafe {
        unpack_typed::<u32>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` longs at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pklong(xp: *mut c_long, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_long and i64 have one size and layout).
    call("pvm_pklong", || unsafe {
        pack_typed::<i64>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` longs at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upklong(xp: *mut c_long, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_long and i64 have one size and layout).
    call("pvm_upklong", || unsafe {
        unpack_typed::<i64>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` unsigned longs at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkulong(xp: *mut c_ulong, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_ulong and u64 have one size and layout).
    call("pvm_pkulong", || unsafe {
        pack_typed::<u64>(xp.cast_const().cast(), nitem, stride, 1)
    })
}

/// Unpacks `nitem` unsigned longs at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkulong(xp: *mut c_ulong, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract (c_ulong and u64 have one size and layout).
    call("pvm_upkulong", || unsafe {
        unpack_typed::<u64>(xp.cast(), nitem, stride, 1)
    })
}

/// Packs `nitem` floats at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkfloat(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_pkfloat", || unsafe {
        pack_typed::<f32>(xp, nitem, stride, 1)
    })
}

/// Unpacks `nitem` floats at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkfloat(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_upkfloat", || unsafe {
        unpack_typed::<f32>(xp, nitem, stride, 1)
    })
}

/// Packs `nitem` doubles at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkdouble(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_pkdouble", || unsafe {
        pack_typed::<f64>(xp, nitem, stride, 1)
    })
}

/// Unpacks `nitem` doubles at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkdouble(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_upkdouble", || unsafe {
        unpack_typed::<f64>(xp, nitem, stride, 1)
    })
}

/// Packs `nitem` complex floats (pairs) at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkcplx(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_pkcplx", || unsafe {
        pack_typed::<f32>(xp, nitem, stride, 2)
    })
}

/// Unpacks `nitem` complex floats (pairs) at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkcplx(xp: *mut f32, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_upkcplx", || unsafe {
        unpack_typed::<f32>(xp, nitem, stride, 2)
    })
}

/// Packs `nitem` complex doubles (pairs) at `stride` into the active send buffer.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkdcplx(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_pkdcplx", || unsafe {
        pack_typed::<f64>(xp, nitem, stride, 2)
    })
}

/// Unpacks `nitem` complex doubles (pairs) at `stride` from the active receive buffer.
///
/// # Safety
/// `xp` is valid for writes of `(nitem-1)*stride+1` items.
#[no_mangle]
pub unsafe extern "C" fn pvm_upkdcplx(xp: *mut f64, nitem: c_int, stride: c_int) -> c_int {
    // SAFETY: forwarded contract.
    call("pvm_upkdcplx", || unsafe {
        unpack_typed::<f64>(xp, nitem, stride, 2)
    })
}

/// Packs a NUL-terminated string.
///
/// # Safety
/// `cp` is a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_pkstr(cp: *mut c_char) -> c_int {
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
}

/// Unpacks a string into `cp`, NUL-terminated.
///
/// # Safety
/// `cp` has room for the string and its NUL (the PVM contract).
#[no_mangle]
pub unsafe extern "C" fn pvm_upkstr(cp: *mut c_char) -> c_int {
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
}

/// Creates a buffer with `encoding`; returns its id.
#[no_mangle]
pub extern "C" fn pvm_mkbuf(encoding: c_int) -> c_int {
    call("pvm_mkbuf", || {
        let enc = Encoding::from_code(encoding)?;
        with_bufs(|t| Ok(t.mkbuf(enc)))
    })
}

/// Frees buffer `bufid`.
#[no_mangle]
pub extern "C" fn pvm_freebuf(bufid: c_int) -> c_int {
    call("pvm_freebuf", || {
        with_bufs(|t| t.freebuf(bufid)).map(|()| 0)
    })
}

/// Clears the send buffer and makes a new one with `encoding`.
#[no_mangle]
pub extern "C" fn pvm_initsend(encoding: c_int) -> c_int {
    call("pvm_initsend", || crate::task::initsend(encoding))
}

/// The active send buffer's id (0 when none).
#[no_mangle]
pub extern "C" fn pvm_getsbuf() -> c_int {
    call("pvm_getsbuf", || with_bufs(|t| Ok(t.sbuf())))
}

/// The active receive buffer's id (0 when none).
#[no_mangle]
pub extern "C" fn pvm_getrbuf() -> c_int {
    call("pvm_getrbuf", || with_bufs(|t| Ok(t.rbuf())))
}

/// Makes `bufid` the send buffer; returns the previous one.
#[no_mangle]
pub extern "C" fn pvm_setsbuf(bufid: c_int) -> c_int {
    call("pvm_setsbuf", || with_bufs(|t| t.set_sbuf(bufid)))
}

/// Makes `bufid` the receive buffer; returns the previous one.
#[no_mangle]
pub extern "C" fn pvm_setrbuf(bufid: c_int) -> c_int {
    call("pvm_setrbuf", || with_bufs(|t| t.set_rbuf(bufid)))
}

/// Length, tag and source of buffer `bufid`.
///
/// # Safety
/// Each out-pointer is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn pvm_bufinfo(
    bufid: c_int,
    bytes: *mut c_int,
    msgtag: *mut c_int,
    tid: *mut c_int,
) -> c_int {
    call("pvm_bufinfo", || {
        let (len, tag, src) = crate::task::bufinfo(bufid)?;
        // SAFETY: out-pointers per the contract.
        unsafe {
            put(bytes, len);
            put(msgtag, tag);
            put(tid, src);
        }
        Ok(0)
    })
}

/// The header fields of buffer `bufid`.
///
/// # Safety
/// `info` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn pvm_getminfo(bufid: c_int, info: *mut PvmMInfo) -> c_int {
    call("pvm_getminfo", || {
        if info.is_null() {
            return Err(Error::BadParam);
        }
        let m = with_bufs(|t| {
            let b = t.get(bufid)?;
            let i = b.info();
            Ok(PvmMInfo {
                len: b.reported_len() as c_int,
                ctx: i.ctx,
                tag: i.tag,
                wid: i.wid,
                enc: minfo_encoding(b.encoding()),
                crc: i.crc,
                src: i.src,
                dst: i.dst,
            })
        })?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { info.write(m) };
        Ok(0)
    })
}

/// The `enc` field pvm_getminfo reports, as PVM 3.4 does: a flag for the
/// portable encoding, the data signature of the host format for raw data.
fn minfo_encoding(e: Encoding) -> c_int {
    e.minfo_code()
}

/// Sets the header fields (context, tag, wait id, source, destination,
/// crc) of buffer `bufid`; length and encoding are not settable.
///
/// # Safety
/// `info` is valid for one read.
#[no_mangle]
pub unsafe extern "C" fn pvm_setminfo(bufid: c_int, info: *mut PvmMInfo) -> c_int {
    call("pvm_setminfo", || {
        if info.is_null() {
            return Err(Error::BadParam);
        }
        // SAFETY: non-NULL and readable per the contract.
        let m = unsafe { info.read() };
        with_bufs(|t| {
            let i = t.get_mut(bufid)?.info_mut();
            i.ctx = m.ctx;
            i.tag = m.tag;
            i.wid = m.wid;
            i.crc = m.crc;
            i.src = m.src;
            i.dst = m.dst;
            Ok(0)
        })
    })
}

/// The wait id of buffer `bufid` (man pvm_reg_hoster: a hoster answers
/// with the wait id of the request).
#[no_mangle]
pub extern "C" fn pvm_getmwid(bufid: c_int) -> c_int {
    call("pvm_getmwid", || {
        if bufid <= 0 {
            return Err(Error::BadParam);
        }
        with_bufs(|t| Ok(t.get(bufid)?.info().wid))
    })
}

/// Sets the wait id of buffer `bufid`.
#[no_mangle]
pub extern "C" fn pvm_setmwid(bufid: c_int, waitid: c_int) -> c_int {
    call("pvm_setmwid", || {
        if bufid <= 0 {
            return Err(Error::BadParam);
        }
        with_bufs(|t| {
            t.get_mut(bufid)?.info_mut().wid = waitid;
            Ok(0)
        })
    })
}

/// Packs message `bufid` (header and body) into the send buffer.
#[no_mangle]
pub extern "C" fn pvm_pkmesg(bufid: c_int) -> c_int {
    call("pvm_pkmesg", || {
        with_bufs(|t| {
            let (s, m) = t.send_buf_and(bufid)?;
            s.pack_message(m)
        })
        .map(|()| 0)
    })
}

/// Packs the body of message `bufid` into the send buffer.
#[no_mangle]
pub extern "C" fn pvm_pkmesgbody(bufid: c_int) -> c_int {
    call("pvm_pkmesgbody", || {
        with_bufs(|t| {
            let (s, m) = t.send_buf_and(bufid)?;
            s.pack_message_body(m)
        })
        .map(|()| 0)
    })
}

/// Unpacks a message packed with pvm_pkmesg into a new buffer; returns its id.
#[no_mangle]
pub extern "C" fn pvm_upkmesg() -> c_int {
    call("pvm_upkmesg", || {
        with_bufs(|t| {
            let m = t.recv_buf_mut()?.unpack_message()?;
            Ok(t.insert(m))
        })
    })
}

/// Element size and width (scalars per item) of a PVM_* data type.
fn datatype(ty: c_int) -> Result<(usize, usize)> {
    Ok(match ty {
        0 => return Err(Error::NotImpl), // PVM_STR, as in PVM 3.4.6
        1 => (1, 1),                     // PVM_BYTE
        2 | 9 => (2, 1),                 // PVM_SHORT, PVM_USHORT
        3 | 10 => (4, 1),                // PVM_INT, PVM_UINT
        4 => (4, 1),                     // PVM_FLOAT
        5 => (4, 2),                     // PVM_CPLX
        6 => (8, 1),                     // PVM_DOUBLE
        7 => (8, 2),                     // PVM_DCPLX
        8 | 11 => (8, 1),                // PVM_LONG, PVM_ULONG
        _ => return Err(Error::BadParam),
    })
}

/// Up to `max` items of `T` (`width` per item) decoded from the rest of
/// a portable message, as native bytes.
fn native_items<T: Scalar>(msg: &mut Buffer, width: usize, max: usize) -> Result<Vec<u8>> {
    let have = msg.remaining() / (T::XDR_SIZE * width);
    let n = have.min(max);
    let mut items = vec![T::default(); n * width];
    if n > 0 {
        if width == 2 {
            msg.unpack_complex(&mut items, n, 1)?;
        } else {
            msg.unpack(&mut items, n, 1)?;
        }
    }
    let mut out = vec![0u8; items.len() * T::SIZE];
    for (o, v) in out.chunks_exact_mut(T::SIZE).zip(&items) {
        if cfg!(target_endian = "little") {
            v.put_le(o);
        } else {
            v.put_be(o);
        }
    }
    Ok(out)
}

/// pvm_precv of a portable (PvmDataDefault) message: up to `max` items of
/// PVM_* type `ty` decoded into native bytes.
fn portable_items(msg: &mut Buffer, ty: c_int, max: usize) -> Result<Vec<u8>> {
    match ty {
        2 => native_items::<i16>(msg, 1, max),
        9 => native_items::<u16>(msg, 1, max),
        3 => native_items::<i32>(msg, 1, max),
        10 => native_items::<u32>(msg, 1, max),
        4 => native_items::<f32>(msg, 1, max),
        5 => native_items::<f32>(msg, 2, max),
        6 => native_items::<f64>(msg, 1, max),
        7 => native_items::<f64>(msg, 2, max),
        8 => native_items::<i64>(msg, 1, max),
        11 => native_items::<u64>(msg, 1, max),
        _ => Ok(msg.to_bytes()),
    }
}

/// Sends `len` items of `datatype` at `buf` to `tid` in one call, without
/// touching the active send buffer.
///
/// # Safety
/// `buf` is valid for `len` items of the type.
#[no_mangle]
pub unsafe extern "C" fn pvm_psend(
    tid: c_int,
    msgtag: c_int,
    buf: *mut std::ffi::c_void,
    len: c_int,
    datatype_: c_int,
) -> c_int {
    call("pvm_psend", || {
        let (size, width) = datatype(datatype_)?;
        let nbytes = span(len, 1)?
            .checked_mul(size * width)
            .ok_or(Error::BadParam)?;
        if nbytes > 0 && buf.is_null() {
            return Err(Error::BadParam);
        }
        let bytes: &[u8] = if nbytes == 0 {
            &[]
        } else {
            // SAFETY: non-NULL and valid for len items (nbytes bytes) per the contract.
            unsafe { std::slice::from_raw_parts(buf as *const u8, nbytes) }
        };
        // The caller's bytes go out as they are (PvmDataRaw), not copied.
        crate::task::psend(tid, msgtag, bytes).map(|()| 0)
    })
}

/// Receives a message into `buf` (at most `len` items of `datatype`)
/// without changing the active receive buffer.
///
/// # Safety
/// `buf` is valid for writes of `len` items; each out-pointer is NULL or
/// valid for one write.
#[no_mangle]
pub unsafe extern "C" fn pvm_precv(
    tid: c_int,
    msgtag: c_int,
    buf: *mut std::ffi::c_void,
    len: c_int,
    datatype_: c_int,
    rtid: *mut c_int,
    rtag: *mut c_int,
    rlen: *mut c_int,
) -> c_int {
    call("pvm_precv", || {
        let (size, width) = datatype(datatype_)?;
        let cap = span(len, 1)?
            .checked_mul(size * width)
            .ok_or(Error::BadParam)?;
        if cap > 0 && buf.is_null() {
            return Err(Error::BadParam);
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: non-NULL (checked above) and valid for writes of cap
            // bytes (len items) per the contract, for the whole call.
            unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, cap) }
        };
        let (src, tag, total) = match crate::task::precv_into(tid, msgtag, out, size == 1)? {
            // A large body arrived straight in the caller's memory.
            crate::task::Precv::Landed { src, tag, len } => (src, tag, len),
            crate::task::Precv::Buffer(mut msg) => {
                let total = msg.len();
                let (src, tag) = (msg.info().src, msg.info().tag);
                let portable =
                    msg.encoding().byte_order() != crate::msg::ByteOrder::NATIVE && size > 1;
                if !portable && msg.has_inplace() {
                    // A body held where it arrived: copied once, straight into `out`.
                    msg.copy_body_into(out);
                } else {
                    let body = if portable {
                        // Portable data: decoded item by item (PVM 3.4.6 copies the
                        // bytes as they are, leaving the caller encoded data).
                        portable_items(&mut msg, datatype_, len as usize)?
                    } else {
                        // The received body itself, not a copy.
                        msg.into_bytes()
                    };
                    let n = body.len().min(cap);
                    out[..n].copy_from_slice(&body[..n]);
                    crate::msg::spare::recycle(body);
                }
                (src, tag, total)
            }
        };
        // SAFETY: out-pointers per the contract.
        unsafe {
            put(rtid, src);
            put(rtag, tag);
            put(rlen, total as c_int);
        }
        Ok(0)
    })
}
