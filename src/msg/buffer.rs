//! The message buffer: a body being packed or unpacked, its encoding, its
//! header attributes and its read cursor.
//!
//! A [`Buffer`] keeps the bytes it copied in one vector and, for
//! `PvmDataInPlace`, a list of referenced items, each remembering the
//! offset in the copied bytes where it sits. The logical body is the
//! copied bytes with every referenced item spliced in at its offset. The
//! read cursor counts bytes of that logical body; the first unpack from a
//! buffer that still holds referenced items reads them into the copied
//! bytes.
//!
//! Layout of a message packed with [`Buffer::pack_message`] (PVM 3.4.6's
//! `pvm_pkmesg`, measured), all integers 4 bytes in the outer buffer's
//! encoding:
//!
//! | offset | field                                                     |
//! |--------|-----------------------------------------------------------|
//! | 0      | body length `n`                                           |
//! | 4      | context                                                   |
//! | 8      | tag                                                       |
//! | 12     | wait id                                                   |
//! | 16     | encoding as pvm_getminfo shows it (0x10000000 portable, the data signature for native) |
//! | 20     | 0 (PVM 3.4.6 writes 0 here; a checksum is not kept)         |
//! | 24     | source tid                                                |
//! | 28     | destination tid                                           |
//! | 32     | the body in fragments of at most [`PACKED_MSG_FRAG`] bytes (at least one): each a length, then its bytes packed as bytes of the outer buffer (padded to 4 in the portable encoding) |

use std::fmt;
use std::io::IoSlice;

use super::codec::{self, ByteOrder, Scalar};
use super::{Encoding, InPlaceSource, MsgInfo};
use crate::{Error, Result};

/// Size of the header [`Buffer::pack_message`] writes before the body.
pub const PACKED_MSG_HEADER: usize = 32;

/// Fragment size of a body packed by [`Buffer::pack_message`]: PVM
/// 3.4.6 keeps bodies in fragments of this many bytes and packs each with
/// its own length.
pub const PACKED_MSG_FRAG: usize = 4032;

/// The `enc` of pvm_getminfo (and of a packed message) for the portable
/// encoding, as PVM 3.4.6 reports it.
pub const MINFO_PORTABLE: i32 = 0x1000_0000;

/// The end marker of a user-defined trace event (pvmtev.h's
/// `TEV_MARK_USER_EVENT_RECORD_END`), added when it is sent.
pub const USER_EVENT_END: i32 = -10;
const TEV_DATA_BYTE: i32 = 1;
const TEV_DATA_INT: i32 = 6;

/// pvmtev.h's data type of a packed `T` (`complex`: pairs of it), as PVM
/// 3.4.6's trace encoders write them (unsigned ints and shorts as signed).
fn tev_type<T: 'static>(complex: bool) -> i32 {
    use std::any::TypeId;
    let t = TypeId::of::<T>();
    let is = |u: TypeId| t == u;
    if is(TypeId::of::<u8>()) || is(TypeId::of::<i8>()) {
        TEV_DATA_BYTE
    } else if is(TypeId::of::<i16>()) || is(TypeId::of::<u16>()) {
        10
    } else if is(TypeId::of::<i64>()) {
        8
    } else if is(TypeId::of::<u64>()) {
        9
    } else if is(TypeId::of::<f32>()) {
        if complex {
            2
        } else {
            5
        }
    } else if is(TypeId::of::<f64>()) {
        if complex {
            3
        } else {
            4
        }
    } else {
        TEV_DATA_INT
    }
}

/// A referenced (`PvmDataInPlace`) item and where it sits in the body.
struct InPlaceItem {
    /// Offset in the copied bytes the item is spliced in at.
    at: usize,
    src: Box<dyn InPlaceSource>,
}

/// A PVM message buffer.
pub struct Buffer {
    enc: Encoding,
    info: MsgInfo,
    /// Copied body bytes (everything but referenced items).
    data: Vec<u8>,
    /// Referenced items, in packing order (non-decreasing `at`).
    inplace: Vec<InPlaceItem>,
    /// Read cursor in the logical body.
    pos: usize,
    /// A user-defined trace event (`pvm_mkbuf(PvmDataTrace)`): each packed
    /// item is preceded by its pvmtev.h data type (and count, for more
    /// than one), as PVM 3.4.6's trace encoders write them.
    annotate: bool,
}

impl Buffer {
    /// An empty send buffer with encoding `enc`.
    pub fn new(enc: Encoding) -> Buffer {
        Buffer {
            enc,
            info: MsgInfo::default(),
            data: Vec::new(),
            inplace: Vec::new(),
            pos: 0,
            annotate: false,
        }
    }

    /// A user-defined trace event (`pvm_mkbuf(PvmDataTrace)`, PVM 3.4.6's
    /// layout): marker -9, event id 108, the name `user_defined`, the time
    /// of day (seconds, microseconds); then what is packed, each item with
    /// its data type (see `annotate`); [`USER_EVENT_END`] follows at send.
    pub fn user_event(secs: i32, usecs: i32) -> Buffer {
        let mut b = Buffer::new(Encoding::Trace);
        // Fresh in-memory buffer: these cannot fail short of memory.
        let _ = b.put_word(-9);
        let _ = b.put_word(108);
        let _ = b.pack_str(b"user_defined");
        let _ = b.put_word(secs);
        let _ = b.put_word(usecs);
        b.annotate = true;
        b
    }

    /// One big-endian int, unannotated.
    fn put_word(&mut self, v: i32) -> Result<()> {
        self.data.try_reserve(4).map_err(|_| Error::NoMem)?;
        self.data.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    /// An arrived message encoded with `PvmDataDefault`; read cursor at 0.
    pub fn from_received(body: Vec<u8>, info: MsgInfo) -> Buffer {
        Buffer::from_received_with_encoding(body, info, Encoding::Default)
    }

    /// An arrived message whose body uses encoding `enc`; read cursor at 0.
    /// An InPlace body arrives as a Raw one (its items were read when it
    /// was sent), as in PVM 3.4.6.
    pub fn from_received_with_encoding(body: Vec<u8>, info: MsgInfo, enc: Encoding) -> Buffer {
        let enc = match enc {
            Encoding::InPlace => Encoding::Raw,
            e => e,
        };
        Buffer {
            enc,
            info,
            data: body,
            inplace: Vec::new(),
            pos: 0,
            annotate: false,
        }
    }

    /// An arrived message whose body is held elsewhere (`src`: a direct
    /// link's shared-memory ring) and is read from there when unpacked;
    /// encoding as for [`Buffer::from_received_with_encoding`].
    pub fn from_received_held(src: Box<dyn InPlaceSource>, info: MsgInfo, enc: Encoding) -> Buffer {
        let mut b = Buffer::from_received_with_encoding(Vec::new(), info, enc);
        b.inplace.push(InPlaceItem { at: 0, src });
        b
    }

    /// The single item a held body consists of (nothing copied in yet).
    fn held_body(&self) -> Option<&dyn InPlaceSource> {
        match self.inplace.as_slice() {
            [item] if item.at == 0 && self.data.is_empty() => Some(&*item.src),
            _ => None,
        }
    }

    /// Copies the whole body into `out` (up to its length); returns the
    /// body's length. A held body is read straight into `out`.
    pub fn copy_body_into(&self, out: &mut [u8]) -> usize {
        let len = self.len();
        let n = len.min(out.len());
        if let Some(src) = self.held_body() {
            if src.read_at(0, &mut out[..n]) {
                return len;
            }
        }
        let body = self.to_bytes();
        out[..n].copy_from_slice(&body[..n]);
        len
    }

    /// The buffer's encoding.
    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    /// Header attributes.
    pub fn info(&self) -> &MsgInfo {
        &self.info
    }

    /// Header attributes, for the sender/receiver to fill in.
    pub fn info_mut(&mut self) -> &mut MsgInfo {
        &mut self.info
    }

    /// Body length in bytes, referenced in-place items included.
    pub fn len(&self) -> usize {
        self.data.len() + self.inplace.iter().map(|i| i.src.len()).sum::<usize>()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte count pvm_bufinfo and pvm_getminfo report: the body length,
    /// except 0 for a PvmDataInPlace buffer being packed (PVM 3.4.6 counts
    /// in-place data only once it is sent; the receiver sees it all).
    pub fn reported_len(&self) -> usize {
        if self.enc == Encoding::InPlace {
            0
        } else {
            self.len()
        }
    }

    /// Whether the body uses the portable (XDR) encoding.
    fn portable(&self) -> bool {
        matches!(self.enc, Encoding::Default | Encoding::Trace)
    }

    /// Encoded size of one element of `T` in this buffer's encoding.
    fn elem_size<T: Scalar>(&self) -> usize {
        if self.portable() {
            T::XDR_SIZE
        } else {
            T::SIZE
        }
    }

    /// Bytes a run of `n` encoded bytes takes, padding included (the
    /// portable encoding pads each packed run to 4 bytes).
    fn run_size(&self, n: usize) -> Option<usize> {
        if self.portable() {
            codec::xdr_padded(n)
        } else {
            Some(n)
        }
    }

    /// Whether the body still references in-place items.
    pub fn has_inplace(&self) -> bool {
        !self.inplace.is_empty()
    }

    /// The read cursor (bytes of the body already unpacked).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to unpack.
    pub fn remaining(&self) -> usize {
        self.len().saturating_sub(self.pos)
    }

    /// Move the read cursor back to the start of the body.
    pub fn rewind(&mut self) {
        self.pos = 0;
    }

    fn order(&self) -> ByteOrder {
        self.enc.byte_order()
    }

    /// Make room for `n` more copied bytes and return the new zeroed tail.
    fn grow(&mut self, n: usize) -> Result<&mut [u8]> {
        let start = self.data.len();
        self.data.try_reserve(n).map_err(|_| Error::NoMem)?;
        self.data.resize(start + n, 0);
        Ok(&mut self.data[start..])
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.data
            .try_reserve(bytes.len())
            .map_err(|_| Error::NoMem)?;
        self.data.extend_from_slice(bytes);
        Ok(())
    }

    fn pack_groups<T: Scalar>(
        &mut self,
        data: &[T],
        nitem: usize,
        stride: usize,
        width: usize,
    ) -> Result<()> {
        if stride == 0 {
            return Err(Error::BadParam);
        }
        let need = codec::span(nitem, stride, width).ok_or(Error::BadParam)?;
        if data.len() < need {
            return Err(Error::BadParam);
        }
        if nitem == 0 {
            return Ok(());
        }
        if self.annotate {
            let ty = tev_type::<T>(width == 2);
            if nitem == 1 {
                self.put_word(ty)?;
            } else {
                self.put_word(ty | 0x80)?;
                self.put_word(i32::try_from(nitem).map_err(|_| Error::Overflow)?)?;
            }
        }
        let portable = self.portable();
        if portable && T::XDR_SIZE < T::SIZE {
            // A long that needs more than 32 bits has no portable form.
            let step = stride * width;
            let fits = data
                .chunks(step)
                .take(nitem)
                .all(|g| g[..width].iter().all(|v| v.xdr_fits()));
            if !fits {
                return Err(Error::Overflow);
            }
        }
        let bytes = nitem
            .checked_mul(width)
            .and_then(|n| n.checked_mul(self.elem_size::<T>()))
            .ok_or(Error::NoMem)?;
        let total = self.run_size(bytes).ok_or(Error::NoMem)?;
        let order = self.order();
        let out = &mut self.grow(total)?[..bytes];
        if portable {
            codec::encode_xdr(data, nitem, stride, width, out);
        } else {
            codec::encode(data, nitem, stride, width, order, out);
        }
        Ok(())
    }

    /// Pack `nitem` scalars of `data`, item `i` at `data[i*stride]`.
    /// `stride` must be at least 1 and `data` must hold
    /// `(nitem-1)*stride+1` elements when `nitem > 0`; otherwise
    /// [`Error::BadParam`]. `nitem` 0 packs nothing.
    pub fn pack<T: Scalar>(&mut self, data: &[T], nitem: usize, stride: usize) -> Result<()> {
        self.pack_groups(data, nitem, stride, 1)
    }

    /// Pack `nitem` complex numbers stored as (re, im) pairs of `T`:
    /// number `i` is `data[2*i*stride]`, `data[2*i*stride+1]`. `data` must
    /// hold `2*(nitem-1)*stride+2` elements when `nitem > 0`.
    pub fn pack_complex<T: Scalar>(
        &mut self,
        data: &[T],
        nitem: usize,
        stride: usize,
    ) -> Result<()> {
        self.pack_groups(data, nitem, stride, 2)
    }

    /// Reference an item to be read at send time. Only `PvmDataInPlace`
    /// buffers accept this ([`Error::BadParam`] otherwise).
    pub fn pack_inplace(&mut self, src: Box<dyn InPlaceSource>) -> Result<()> {
        if self.enc != Encoding::InPlace {
            return Err(Error::BadParam);
        }
        if self.inplace.try_reserve(1).is_err() {
            return Err(Error::NoMem);
        }
        self.inplace.push(InPlaceItem {
            at: self.data.len(),
            src,
        });
        Ok(())
    }

    /// Pack a string given without its NUL: the 4-byte length (bytes plus
    /// one), the bytes, a NUL (then zeros to a 4-byte boundary in the
    /// portable encoding). Strings of 4 GiB or more give
    /// [`Error::Overflow`].
    pub fn pack_str(&mut self, s: &[u8]) -> Result<()> {
        let n = s
            .len()
            .checked_add(1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(Error::Overflow)?;
        if self.annotate {
            // PVM packs a string as an int (its length) and bytes: in a
            // trace event, an int scalar and then a byte array.
            self.put_word(TEV_DATA_INT)?;
            self.put_word(n as i32)?;
            self.put_word(TEV_DATA_BYTE | 0x80)?;
        }
        let order = self.order();
        let run = self.run_size(n as usize).ok_or(Error::Overflow)?;
        self.data.try_reserve(run + 4).map_err(|_| Error::NoMem)?;
        self.data.extend_from_slice(&codec::u32_bytes(n, order));
        self.data.extend_from_slice(s);
        let end = self.data.len() + run - s.len();
        self.data.resize(end, 0);
        Ok(())
    }

    /// `pvm_pkmesg`: pack `msg`'s header attributes, encoding and body
    /// (layout in the module documentation). A body of 4 GiB or more gives
    /// [`Error::Overflow`].
    pub fn pack_message(&mut self, msg: &Buffer) -> Result<()> {
        let body = msg.to_bytes();
        let n = u32::try_from(body.len()).map_err(|_| Error::Overflow)?;
        let order = self.order();
        let i = msg.info;
        let fields = [
            n,
            i.ctx as u32,
            i.tag as u32,
            i.wid as u32,
            msg.enc.minfo_code() as u32,
            // PVM 3.4.6 writes 0 here whatever the checksum.
            0,
            i.src as u32,
            i.dst as u32,
        ];
        let frags = body.len().div_ceil(PACKED_MSG_FRAG).max(1);
        let room = PACKED_MSG_HEADER + 4 * frags + body.len() + 3 * frags;
        self.data.try_reserve(room).map_err(|_| Error::NoMem)?;
        for f in fields {
            self.data.extend_from_slice(&codec::u32_bytes(f, order));
        }
        let mut rest: &[u8] = &body;
        for _ in 0..frags {
            let (frag, tail) = rest.split_at(rest.len().min(PACKED_MSG_FRAG));
            rest = tail;
            self.data
                .extend_from_slice(&codec::u32_bytes(frag.len() as u32, order));
            self.data.extend_from_slice(frag);
            let end = self.data.len() + self.run_size(frag.len()).unwrap_or(0) - frag.len();
            self.data.resize(end, 0);
        }
        Ok(())
    }

    /// `pvm_pkmesgbody`: append `msg`'s body as is. The two bodies must
    /// share a byte order (Default/Trace, or Raw/InPlace); otherwise
    /// [`Error::Mismatch`].
    pub fn pack_message_body(&mut self, msg: &Buffer) -> Result<()> {
        if !self.enc.compatible(msg.enc) {
            return Err(Error::Mismatch);
        }
        let body = msg.to_bytes();
        self.append(&body)
    }

    /// Turn referenced in-place items into copied bytes (reading them now).
    fn materialize(&mut self) {
        if !self.inplace.is_empty() {
            self.data = self.to_bytes();
            self.inplace.clear();
        }
    }

    /// The next `n` unread bytes, without moving the cursor; `NoData` when
    /// fewer remain.
    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        self.materialize();
        let end = self.pos.checked_add(n).ok_or(Error::NoData)?;
        self.data.get(self.pos..end).ok_or(Error::NoData)
    }

    fn unpack_groups<T: Scalar>(
        &mut self,
        out: &mut [T],
        nitem: usize,
        stride: usize,
        width: usize,
    ) -> Result<()> {
        if stride == 0 {
            return Err(Error::BadParam);
        }
        let need = codec::span(nitem, stride, width).ok_or(Error::BadParam)?;
        if out.len() < need {
            return Err(Error::BadParam);
        }
        if nitem == 0 {
            return Ok(());
        }
        let bytes = nitem
            .checked_mul(width)
            .and_then(|n| n.checked_mul(self.elem_size::<T>()))
            .ok_or(Error::NoData)?;
        let order = self.order();
        let portable = self.portable();
        let total = self.run_size(bytes).ok_or(Error::NoData)?;
        if stride == 1 && width == 1 && self.held_body().is_some() {
            return self.unpack_held(out, nitem, bytes, total);
        }
        let inp = self.peek(bytes)?;
        if portable {
            codec::decode_xdr(inp, nitem, stride, width, out);
        } else {
            codec::decode(inp, nitem, stride, width, order, out);
        }
        self.skip(total);
        Ok(())
    }

    /// `unpack_groups` of `nitem` contiguous items (`bytes` encoded, `total`
    /// with padding) from a held body, read piece by piece through a small
    /// buffer that stays in cache (bytes, the bulk of large messages, go
    /// straight to `out`), so the body is not copied into the buffer first.
    fn unpack_held<T: Scalar>(
        &mut self,
        out: &mut [T],
        nitem: usize,
        bytes: usize,
        total: usize,
    ) -> Result<()> {
        const PIECE: usize = 64 * 1024;
        let (len, pos, order, portable) = (self.len(), self.pos, self.order(), self.portable());
        let src = self.held_body().ok_or(Error::NoData)?;
        if pos.checked_add(bytes).is_none_or(|e| e > len) {
            return Err(Error::NoData);
        }
        if let Some(dst) = T::as_encoded_bytes(&mut out[..nitem]) {
            if !src.read_at(pos, dst) {
                return Err(Error::NoData);
            }
            self.pos = pos.saturating_add(total).min(len);
            return Ok(());
        }
        let size = bytes / nitem;
        let per = (PIECE / size).max(1);
        let mut piece = vec![0u8; per * size];
        let mut done = 0;
        while done < nitem {
            let k = per.min(nitem - done);
            let inp = &mut piece[..k * size];
            if !src.read_at(pos + done * size, inp) {
                return Err(Error::NoData);
            }
            let dst = &mut out[done..done + k];
            if portable {
                codec::decode_xdr(inp, k, 1, 1, dst);
            } else {
                codec::decode(inp, k, 1, 1, order, dst);
            }
            done += k;
        }
        self.pos = pos.saturating_add(total).min(len);
        Ok(())
    }

    /// Moves the cursor over `n` bytes, or to the end when fewer remain
    /// (padding missing at the very end of a body is forgiven).
    fn skip(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.data.len());
    }

    /// Unpack `nitem` scalars into `out`, item `i` at `out[i*stride]`
    /// (elements between are untouched). Parameter rules as for
    /// [`Buffer::pack`]; [`Error::NoData`] when the body holds fewer than
    /// `nitem` items past the cursor, which then stays put.
    pub fn unpack<T: Scalar>(&mut self, out: &mut [T], nitem: usize, stride: usize) -> Result<()> {
        self.unpack_groups(out, nitem, stride, 1)
    }

    /// Unpack `nitem` complex numbers into (re, im) pairs, number `i` at
    /// `out[2*i*stride]`, `out[2*i*stride+1]`.
    pub fn unpack_complex<T: Scalar>(
        &mut self,
        out: &mut [T],
        nitem: usize,
        stride: usize,
    ) -> Result<()> {
        self.unpack_groups(out, nitem, stride, 2)
    }

    /// Unpack a string; returns its bytes without the NUL.
    /// [`Error::NoData`] when the length or the bytes run past the end,
    /// [`Error::BadMsg`] for a zero length or a missing NUL.
    pub fn unpack_str(&mut self) -> Result<Vec<u8>> {
        let order = self.order();
        let mut lb = [0u8; 4];
        lb.copy_from_slice(self.peek(4)?);
        let n = usize::try_from(codec::u32_from(lb, order)).map_err(|_| Error::NoData)?;
        if n == 0 {
            return Err(Error::BadMsg);
        }
        let total = n.checked_add(4).ok_or(Error::NoData)?;
        let all = self.peek(total)?;
        let (text, nul) = all[4..].split_at(n - 1);
        if nul != [0] {
            return Err(Error::BadMsg);
        }
        let s = text.to_vec();
        let run = self.run_size(n).ok_or(Error::NoData)?;
        self.skip(run + 4);
        Ok(s)
    }

    /// `pvm_upkmesg`: unpack a message packed by [`Buffer::pack_message`]
    /// into a new buffer (read cursor 0) equal to the one packed.
    /// [`Error::NoData`] when truncated, [`Error::BadMsg`] for an unknown
    /// encoding code.
    pub fn unpack_message(&mut self) -> Result<Buffer> {
        let order = self.order();
        let word = |b: &[u8]| {
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            codec::u32_from(w, order)
        };
        let mut f = [0u32; 8];
        for (k, c) in self.peek(PACKED_MSG_HEADER)?.chunks_exact(4).enumerate() {
            f[k] = word(c);
        }
        let enc = Encoding::from_minfo_code(f[4] as i32).ok_or(Error::BadMsg)?;
        let n = usize::try_from(f[0]).map_err(|_| Error::NoData)?;
        // The fragments, up to the body length (one, maybe empty, at least).
        let mut at = PACKED_MSG_HEADER;
        let mut body = Vec::new();
        loop {
            let len = word(self.peek(at + 4)?.get(at..).ok_or(Error::NoData)?);
            let len = usize::try_from(len).map_err(|_| Error::NoData)?;
            if len > n - body.len() {
                return Err(Error::BadMsg);
            }
            let start = at + 4;
            let end = start.checked_add(len).ok_or(Error::NoData)?;
            body.try_reserve(len).map_err(|_| Error::NoMem)?;
            body.extend_from_slice(&self.peek(end)?[start..]);
            let run = self.run_size(len).ok_or(Error::NoData)?;
            at = start + run.min(self.data.len().saturating_sub(self.pos + start));
            if body.len() == n {
                break;
            }
            if len == 0 {
                return Err(Error::BadMsg);
            }
        }
        self.skip(at);
        let info = MsgInfo {
            ctx: f[1] as i32,
            tag: f[2] as i32,
            wid: f[3] as i32,
            crc: 0,
            src: f[6] as i32,
            dst: f[7] as i32,
        };
        Ok(Buffer::from_received_with_encoding(body, info, enc))
    }

    /// The flattened body, reading in-place items now.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.inplace.is_empty() {
            return self.data.clone();
        }
        let mut out = Vec::with_capacity(self.len());
        let mut prev = 0;
        for item in &self.inplace {
            out.extend_from_slice(&self.data[prev..item.at]);
            match item.src.contiguous() {
                Some(b) => out.extend_from_slice(b),
                None => item.src.gather(&mut out),
            }
            prev = item.at;
        }
        out.extend_from_slice(&self.data[prev..]);
        out
    }

    /// The flattened body, consuming the buffer (no copy unless in-place
    /// items must be read).
    pub fn into_bytes(self) -> Vec<u8> {
        if self.inplace.is_empty() {
            self.data
        } else {
            self.to_bytes()
        }
    }

    /// The body as slices for `writev`, in order, empty pieces left out.
    /// Copied bytes and contiguous in-place items are borrowed directly;
    /// strided in-place items are gathered into `scratch` (cleared first).
    /// The slices together equal [`Buffer::to_bytes`].
    pub fn io_slices<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Vec<IoSlice<'a>> {
        scratch.clear();
        let mut ranges = Vec::with_capacity(self.inplace.len());
        for item in &self.inplace {
            if item.src.contiguous().is_some() {
                ranges.push(0..0);
            } else {
                let s = scratch.len();
                item.src.gather(scratch);
                ranges.push(s..scratch.len());
            }
        }
        let scratch: &'a [u8] = scratch;
        let mut out = Vec::with_capacity(2 * self.inplace.len() + 1);
        let mut push = |b: &'a [u8]| {
            if !b.is_empty() {
                out.push(IoSlice::new(b));
            }
        };
        let mut prev = 0;
        for (item, r) in self.inplace.iter().zip(ranges) {
            push(&self.data[prev..item.at]);
            push(match item.src.contiguous() {
                Some(b) => b,
                None => &scratch[r],
            });
            prev = item.at;
        }
        push(&self.data[prev..]);
        out
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("enc", &self.enc)
            .field("info", &self.info)
            .field("len", &self.len())
            .field("inplace_items", &self.inplace.len())
            .field("pos", &self.pos)
            .finish()
    }
}

/// Buffers are equal when encoding, header attributes and flattened body
/// are; the read cursor does not count.
impl PartialEq for Buffer {
    fn eq(&self, other: &Buffer) -> bool {
        self.enc == other.enc && self.info == other.info && self.to_bytes() == other.to_bytes()
    }
}

#[cfg(test)]
#[path = "buffer_tests.rs"]
mod tests;
