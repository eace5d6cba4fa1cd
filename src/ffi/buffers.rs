//! C entry points for message buffers: creating and choosing buffers, their
//! header information (pvm_bufinfo, pvm_getminfo, pvm_setminfo, wait ids),
//! packing whole messages (pvm_pkmesg), and pvm_psend/pvm_precv. The typed
//! packing calls are in pack.rs.

use super::boundary::{call, put, span};
use super::trace::Tev;
use super::types::PvmMInfo;
use crate::msg::{Buffer, Encoding, Scalar};
use crate::task::trace::{did, ev, Field, Val};
use crate::task::with_bufs;
use crate::{Error, Result};
use std::ffi::c_int;

/// Creates a buffer with `encoding`; returns its id.
#[no_mangle]
pub extern "C" fn pvm_mkbuf(encoding: c_int) -> c_int {
    let tev = Tev::top(ev::MKBUF);
    traced_in(&tev, &[(did::ME, Val::Int(encoding))]);
    let r = call("pvm_mkbuf", || {
        let enc = Encoding::from_code(encoding)?;
        with_bufs(|t| Ok(t.mkbuf(enc)))
    });
    traced_out(tev, did::MB, r)
}

/// Frees buffer `bufid`.
#[no_mangle]
pub extern "C" fn pvm_freebuf(bufid: c_int) -> c_int {
    let tev = Tev::top(ev::FREEBUF);
    traced_in(&tev, &[(did::MB, Val::Int(bufid))]);
    let r = call("pvm_freebuf", || {
        with_bufs(|t| t.freebuf(bufid)).map(|()| 0)
    });
    Tev::cc(tev, r)
}

/// Clears the send buffer and makes a new one with `encoding`.
#[no_mangle]
pub extern "C" fn pvm_initsend(encoding: c_int) -> c_int {
    let tev = Tev::top(ev::INITSEND);
    traced_in(&tev, &[(did::ME, Val::Int(encoding))]);
    let r = call("pvm_initsend", || crate::task::initsend(encoding));
    traced_out(tev, did::MSB, r)
}

/// The active send buffer's id (0 when none).
#[no_mangle]
pub extern "C" fn pvm_getsbuf() -> c_int {
    let tev = Tev::top(ev::GETSBUF);
    traced_in(&tev, &[]);
    let r = call("pvm_getsbuf", || with_bufs(|t| Ok(t.sbuf())));
    traced_out(tev, did::MSB, r)
}

/// The active receive buffer's id (0 when none).
#[no_mangle]
pub extern "C" fn pvm_getrbuf() -> c_int {
    let tev = Tev::top(ev::GETRBUF);
    traced_in(&tev, &[]);
    let r = call("pvm_getrbuf", || with_bufs(|t| Ok(t.rbuf())));
    traced_out(tev, did::MRB, r)
}

/// Makes `bufid` the send buffer; returns the previous one.
#[no_mangle]
pub extern "C" fn pvm_setsbuf(bufid: c_int) -> c_int {
    let tev = Tev::top(ev::SETSBUF);
    traced_in(&tev, &[(did::MB, Val::Int(bufid))]);
    let r = call("pvm_setsbuf", || with_bufs(|t| t.set_sbuf(bufid)));
    traced_out(tev, did::MSB, r)
}

/// Makes `bufid` the receive buffer; returns the previous one.
#[no_mangle]
pub extern "C" fn pvm_setrbuf(bufid: c_int) -> c_int {
    let tev = Tev::top(ev::SETRBUF);
    traced_in(&tev, &[(did::MB, Val::Int(bufid))]);
    let r = call("pvm_setrbuf", || with_bufs(|t| t.set_rbuf(bufid)));
    traced_out(tev, did::MRB, r)
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
    let tev = Tev::top(ev::BUFINFO);
    traced_in(&tev, &[(did::MB, Val::Int(bufid))]);
    let mut got = (-1, -1, -1);
    let cc = call("pvm_bufinfo", || {
        let (len, tag, src) = crate::task::bufinfo(bufid)?;
        got = (len, tag, src);
        // SAFETY: out-pointers per the contract.
        unsafe {
            put(bytes, len);
            put(msgtag, tag);
            put(tid, src);
        }
        Ok(0)
    });
    if let Some(t) = tev {
        t.exit(&[
            (did::CC, Val::Int(cc)),
            (did::INB, Val::Int(got.0)),
            (did::IMC, Val::Int(got.1)),
            (did::IST, Val::Int(got.2)),
        ]);
    }
    cc
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
    let tev = Tev::top(ev::PSEND);
    traced_in(
        &tev,
        &[
            (did::DST, Val::Int(tid)),
            (did::MC, Val::Int(msgtag)),
            (did::MCX, Val::Int(super::trace::context())),
            (did::PDA, Val::Long(buf as usize as i64)),
            (did::PC, Val::Int(len)),
            (did::PDT, Val::Int(datatype_)),
        ],
    );
    let cc = call("pvm_psend", || {
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
    });
    Tev::cc(tev, cc)
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
    let tev = Tev::top(ev::PRECV);
    traced_in(
        &tev,
        &[
            (did::RST, Val::Int(tid)),
            (did::RMC, Val::Int(msgtag)),
            (did::RCX, Val::Int(super::trace::context())),
            (did::PDA, Val::Long(buf as usize as i64)),
            (did::PC, Val::Int(len)),
            (did::PDT, Val::Int(datatype_)),
        ],
    );
    let mut got = (-1, -1, -1);
    let cc = call("pvm_precv", || {
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
        got = (src, tag, total as c_int);
        Ok(0)
    });
    if let Some(t) = tev {
        t.exit(&[
            (did::CC, Val::Int(cc)),
            (did::MNB, Val::Int(got.2)),
            (did::MC, Val::Int(got.1)),
            (did::MCX, Val::Int(super::trace::context())),
            (did::SRC, Val::Int(got.0)),
        ]);
    }
    cc
}

/// The entry event of a traced buffer call.
fn traced_in(tev: &Option<Tev>, fields: &[Field<'_>]) {
    if let Some(t) = tev {
        t.entry(fields);
    }
}

/// The exit event of a traced buffer call: its result as `id`.
fn traced_out(tev: Option<Tev>, id: i32, r: c_int) -> c_int {
    if let Some(t) = tev {
        t.exit(&[(id, Val::Int(r))]);
    }
    r
}
