//! PVM message buffers: what `pvm_pk*`/`pvm_upk*`, `pvm_mkbuf` and friends
//! operate on. This module owns the data encodings, the [`Buffer`] type and
//! the per-task [`BufferTable`] of buffer ids.
//!
//! # Encodings (byte layout of a message body)
//!
//! No encoding carries type tags: a body is the concatenation of the items
//! packed into it, in packing order. Sizes are PVM 3.4.6's (measured with
//! pvm_bufinfo on its libpvm3).
//!
//! - [`Encoding::Default`] (`PvmDataDefault`, also used for
//!   [`Encoding::Trace`]): portable, big-endian, XDR as PVM 3.4.6 writes it
//!   on LINUX64. `i32`/`u32`/`f32` 4 bytes, `f64` 8 bytes (floats as their
//!   IEEE-754 bit patterns); `i16`/`u16` 4 bytes each (sign-extended);
//!   `i64`/`u64` 4 bytes each (a value that needs more than 32 bits is
//!   refused with [`Error::Overflow`](crate::Error::Overflow)); `u8` 1
//!   byte each, and every packed run of bytes is padded with zeros to a
//!   multiple of 4 (unpacking skips the same padding per call).
//! - [`Encoding::Raw`] (`PvmDataRaw`): the native sizes (2-byte shorts,
//!   8-byte longs, no padding) in the host's native byte order
//!   (little-endian on x86-64).
//! - [`Encoding::InPlace`] (`PvmDataInPlace`): the Raw layout, but items
//!   packed with [`Buffer::pack_inplace`] are only referenced and read from
//!   the user's memory when the message is flattened for sending
//!   ([`Buffer::to_bytes`], [`Buffer::io_slices`]). Scalars packed with
//!   [`Buffer::pack`], strings and packed messages are copied.
//!
//! A string is a 4-byte unsigned length (the number of bytes including the
//! terminating NUL, in the buffer's byte order) followed by the bytes and a
//! NUL byte (then padding to 4 in the portable encoding).
//!
//! A message packed with [`Buffer::pack_message`] (`pvm_pkmesg`) is eight
//! 4-byte integers in the outer buffer's byte order — body length,
//! context, tag, wait id, encoding, checksum, source, destination — then
//! the inner body bytes in fragments of 4032 bytes, each with its length,
//! as PVM 3.4.6 packs it. See [`buffer`] for details.
//!
//! Decoders never panic on malformed input: reading past the end gives
//! [`Error::NoData`](crate::Error::NoData), structurally impossible contents
//! (a zero string length, a missing NUL, an unknown encoding code) give
//! [`Error::BadMsg`](crate::Error::BadMsg), and the read cursor is left
//! where it was.

pub mod buffer;
pub mod codec;
pub mod spare;
pub mod table;

pub use buffer::{Buffer, USER_EVENT_END};
pub use codec::{ByteOrder, Scalar};
pub use table::BufferTable;

use crate::{Error, Result};

/// Data signature of little-endian x86-64 (LINUX64) hosts, as PVM 3.4.6's
/// pvmd reports it in pvm_config (`conf` in the console shows 0x00408c41).
pub const DSIG_LINUX64: i32 = 0x0040_8c41;

/// Message encoding, as passed to `pvm_mkbuf`/`pvm_initsend`. The
/// discriminants are PVM's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `PvmDataDefault`: portable big-endian encoding.
    Default = 0,
    /// `PvmDataRaw`: native byte order, no conversion.
    Raw = 1,
    /// `PvmDataInPlace`: native byte order, typed arrays left in place
    /// until the message is sent.
    InPlace = 2,
    /// `PvmDataTrace`: used for trace messages; encoded like `Default`.
    Trace = 4,
}

impl Encoding {
    /// The encoding for a PVM code; [`Error::BadParam`] for any other value.
    pub fn from_code(c: i32) -> Result<Encoding> {
        match c {
            0 => Ok(Encoding::Default),
            1 => Ok(Encoding::Raw),
            2 => Ok(Encoding::InPlace),
            4 => Ok(Encoding::Trace),
            _ => Err(Error::BadParam),
        }
    }

    /// The PVM code of this encoding.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Byte order of the scalars in a body of this encoding.
    pub fn byte_order(self) -> ByteOrder {
        match self {
            Encoding::Default | Encoding::Trace => ByteOrder::Big,
            Encoding::Raw | Encoding::InPlace => ByteOrder::NATIVE,
        }
    }

    /// The `enc` pvm_getminfo reports for a message of this encoding, as
    /// PVM 3.4.6 does: a flag for the portable encoding, the host's data
    /// signature for native data. Also the encoding field of a packed
    /// message ([`Buffer::pack_message`]).
    pub fn minfo_code(self) -> i32 {
        match self {
            Encoding::Default | Encoding::Trace => buffer::MINFO_PORTABLE,
            Encoding::Raw | Encoding::InPlace => DSIG_LINUX64,
        }
    }

    /// The encoding of a packed message's encoding field; None for data of
    /// a foreign host format.
    pub fn from_minfo_code(c: i32) -> Option<Encoding> {
        match c {
            buffer::MINFO_PORTABLE => Some(Encoding::Default),
            DSIG_LINUX64 => Some(Encoding::Raw),
            _ => None,
        }
    }

    /// Whether bodies of the two encodings have the same layout, so one can
    /// be spliced into the other (`pvm_pkmesgbody`).
    pub fn compatible(self, other: Encoding) -> bool {
        self.byte_order() == other.byte_order()
    }
}

/// Header attributes of a message (what `pvm_bufinfo`/`pvm_getminfo`
/// report). The encoding lives in the [`Buffer`] itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgInfo {
    /// Source task id.
    pub src: i32,
    /// Destination task id.
    pub dst: i32,
    /// Message tag.
    pub tag: i32,
    /// Message context.
    pub ctx: i32,
    /// Wait id (used by daemon replies).
    pub wid: i32,
    /// Checksum.
    pub crc: i32,
}

/// Data packed with `PvmDataInPlace`: read from the user's memory at send
/// time, not copied at pack time. The FFI layer implements it over a raw
/// pointer; the core only sees this trait.
pub trait InPlaceSource: Send {
    /// Bytes this item contributes to the body.
    fn len(&self) -> usize;
    /// Whether the item contributes no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes as one slice, when they are contiguous (stride 1); allows
    /// zero-copy `writev`.
    fn contiguous(&self) -> Option<&[u8]>;
    /// Append the item's bytes to `out` (handles strides).
    fn gather(&self, out: &mut Vec<u8>);
    /// Copies the item's bytes from `off` on into `dst` (all of it); false
    /// when they do not reach that far.
    fn read_at(&self, off: usize, dst: &mut [u8]) -> bool {
        let end = match off.checked_add(dst.len()) {
            Some(e) if e <= self.len() => e,
            _ => return false,
        };
        match self.contiguous() {
            Some(b) => dst.copy_from_slice(&b[off..end]),
            None => {
                let mut all = Vec::with_capacity(self.len());
                self.gather(&mut all);
                dst.copy_from_slice(&all[off..end]);
            }
        }
        true
    }
}

/// An [`InPlaceSource`] over an owned byte vector; useful for tests and for
/// callers that already hold the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedSource(pub Vec<u8>);

impl InPlaceSource for OwnedSource {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn contiguous(&self) -> Option<&[u8]> {
        Some(&self.0)
    }
    fn gather(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_codes_round_trip() {
        for (c, e) in [
            (0, Encoding::Default),
            (1, Encoding::Raw),
            (2, Encoding::InPlace),
            (4, Encoding::Trace),
        ] {
            assert_eq!(Encoding::from_code(c), Ok(e));
            assert_eq!(e.code(), c);
        }
        for c in [-1, 3, 5, 7, 8, i32::MIN, i32::MAX] {
            assert_eq!(Encoding::from_code(c), Err(Error::BadParam));
        }
    }

    #[test]
    fn byte_orders_and_compatibility() {
        assert_eq!(Encoding::Default.byte_order(), ByteOrder::Big);
        assert_eq!(Encoding::Trace.byte_order(), ByteOrder::Big);
        assert_eq!(Encoding::Raw.byte_order(), ByteOrder::NATIVE);
        assert_eq!(Encoding::InPlace.byte_order(), ByteOrder::NATIVE);
        assert!(Encoding::Raw.compatible(Encoding::InPlace));
        assert!(Encoding::Default.compatible(Encoding::Trace));
        #[cfg(target_endian = "little")]
        assert!(!Encoding::Default.compatible(Encoding::Raw));
    }

    #[test]
    fn owned_source_reports_its_bytes() {
        let s = OwnedSource(vec![1, 2, 3]);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert_eq!(s.contiguous(), Some(&[1u8, 2, 3][..]));
        let mut v = vec![9];
        s.gather(&mut v);
        assert_eq!(v, [9, 1, 2, 3]);
        assert!(OwnedSource::default().is_empty());
    }
}
