//! Unit tests of [`Buffer`]: encodings, strides, strings, packed messages,
//! in-place items, error handling and randomised round trips.

use super::*;
use crate::msg::OwnedSource;
use std::sync::{Arc, Mutex};

const ALL_ENC: [Encoding; 4] = [
    Encoding::Default,
    Encoding::Raw,
    Encoding::InPlace,
    Encoding::Trace,
];

/// Tiny xorshift64* generator for reproducible random tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Re-read a send buffer's body as a received one.
fn received(b: &Buffer) -> Buffer {
    Buffer::from_received_with_encoding(b.to_bytes(), *b.info(), b.encoding())
}

fn portable(enc: Encoding) -> bool {
    matches!(enc, Encoding::Default | Encoding::Trace)
}

/// Bytes `n` elements of `T` take in `enc` (PVM 3.4.6's sizes).
fn packed_len<T: Scalar>(enc: Encoding, n: usize) -> usize {
    if portable(enc) {
        (n * T::XDR_SIZE).div_ceil(4) * 4
    } else {
        n * T::SIZE
    }
}

fn round_trip<T: Scalar + PartialEq + std::fmt::Debug>(vals: &[T]) {
    for enc in ALL_ENC {
        let mut b = Buffer::new(enc);
        if portable(enc) && !vals.iter().all(|v| v.xdr_fits()) {
            // Longs beyond 32 bits have no portable form.
            assert_eq!(b.pack(vals, vals.len(), 1), Err(Error::Overflow));
            assert_eq!(b.len(), 0);
            continue;
        }
        b.pack(vals, vals.len(), 1).unwrap();
        assert_eq!(b.len(), packed_len::<T>(enc, vals.len()), "{enc:?}");
        let mut r = received(&b);
        let mut out = vec![T::default(); vals.len()];
        r.unpack(&mut out, vals.len(), 1).unwrap();
        assert_eq!(out, vals, "{enc:?}");
        assert_eq!(r.remaining(), 0);
        // The send buffer itself can be read back too.
        let mut out = vec![T::default(); vals.len()];
        b.unpack(&mut out, vals.len(), 1).unwrap();
        assert_eq!(out, vals);
    }
}

#[test]
fn every_scalar_type_round_trips_in_every_encoding() {
    round_trip(&[0u8, 1, 127, 128, 255]);
    round_trip(&[0i8, -1, i8::MIN, i8::MAX]);
    round_trip(&[0i16, -1, i16::MIN, i16::MAX, 0x1234]);
    round_trip(&[0u16, 1, u16::MAX, 0xabcd]);
    round_trip(&[0i32, -1, i32::MIN, i32::MAX, 0x1234_5678]);
    round_trip(&[0u32, u32::MAX, 0xdead_beef]);
    round_trip(&[0i64, -1, i64::MIN, i64::MAX]);
    round_trip(&[0i64, -1, i64::from(i32::MIN), i64::from(i32::MAX)]);
    round_trip(&[0u64, u64::MAX, 0x0102_0304_0506_0708]);
    round_trip(&[0u64, u64::from(u32::MAX), 0x0102_0304]);
    round_trip(&[
        0.0f32,
        -0.0,
        1.5,
        f32::MIN_POSITIVE,
        f32::INFINITY,
        f32::MAX,
    ]);
    round_trip(&[0.0f64, -1e300, 3.25, f64::EPSILON, f64::NEG_INFINITY]);
}

#[test]
fn nan_bit_patterns_survive() {
    for enc in ALL_ENC {
        let mut b = Buffer::new(enc);
        let v = [f64::from_bits(0x7ff8_0000_dead_beef)];
        b.pack(&v, 1, 1).unwrap();
        let mut out = [0f64];
        received(&b).unpack(&mut out, 1, 1).unwrap();
        assert_eq!(out[0].to_bits(), 0x7ff8_0000_dead_beef);
    }
}

#[test]
fn default_is_big_endian_and_raw_is_native() {
    let mut d = Buffer::new(Encoding::Default);
    d.pack(&[0x0102_0304i32], 1, 1).unwrap();
    d.pack(&[0x0506i16, -2], 2, 1).unwrap();
    d.pack(&[7u8], 1, 1).unwrap();
    d.pack(&[1.0f64], 1, 1).unwrap();
    d.pack(&[-3i64], 1, 1).unwrap();
    d.pack(&[0xffffu16], 1, 1).unwrap();
    // PVM 3.4.6's XDR: shorts and longs as 4-byte words, bytes padded.
    assert_eq!(
        d.to_bytes(),
        [
            1, 2, 3, 4, 0, 0, 5, 6, 0xff, 0xff, 0xff, 0xfe, 7, 0, 0, 0, 0x3f, 0xf0, 0, 0, 0, 0, 0,
            0, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0xff, 0xff
        ]
    );
    let mut back = received(&d);
    let mut i = [0i32];
    let mut h = [0i16; 2];
    let mut c = [0u8];
    let mut f = [0f64];
    let mut l = [0i64];
    let mut u = [0u16];
    back.unpack(&mut i, 1, 1).unwrap();
    back.unpack(&mut h, 2, 1).unwrap();
    back.unpack(&mut c, 1, 1).unwrap();
    back.unpack(&mut f, 1, 1).unwrap();
    back.unpack(&mut l, 1, 1).unwrap();
    back.unpack(&mut u, 1, 1).unwrap();
    assert_eq!(
        (i, h, c, f, l, u),
        ([0x0102_0304], [0x0506, -2], [7], [1.0], [-3], [0xffff])
    );
    assert_eq!(back.remaining(), 0);
    let mut r = Buffer::new(Encoding::Raw);
    r.pack(&[0x0102_0304i32], 1, 1).unwrap();
    r.pack(&[0x0506i16], 1, 1).unwrap();
    let mut want = 0x0102_0304i32.to_ne_bytes().to_vec();
    want.extend_from_slice(&0x0506i16.to_ne_bytes());
    assert_eq!(r.to_bytes(), want);
    #[cfg(target_endian = "little")]
    assert_eq!(r.to_bytes(), [4, 3, 2, 1, 6, 5]);
    // Trace encodes like Default.
    let mut t = Buffer::new(Encoding::Trace);
    t.pack(&[0x0102_0304i32], 1, 1).unwrap();
    assert_eq!(t.to_bytes(), [1, 2, 3, 4]);
}

#[test]
fn from_received_decodes_as_default() {
    let mut b = Buffer::from_received(vec![0, 0, 1, 0], MsgInfo::default());
    assert_eq!(b.encoding(), Encoding::Default);
    let mut v = [0i32];
    b.unpack(&mut v, 1, 1).unwrap();
    assert_eq!(v, [256]);
}

#[test]
fn strides_pack_every_nth_and_unpack_scatters() {
    for enc in ALL_ENC {
        let src: Vec<i32> = (0..20).collect();
        let mut b = Buffer::new(enc);
        b.pack(&src, 5, 4).unwrap(); // 0 4 8 12 16
        b.pack(&src[1..], 3, 7).unwrap(); // 1 8 15
        assert_eq!(b.len(), 8 * 4);
        let mut r = received(&b);
        let mut dense = [0i32; 5];
        r.unpack(&mut dense, 5, 1).unwrap();
        assert_eq!(dense, [0, 4, 8, 12, 16]);
        let mut sparse = [-1i32; 7];
        r.unpack(&mut sparse, 3, 3).unwrap();
        assert_eq!(sparse, [1, -1, -1, 8, -1, -1, 15]);
    }
}

#[test]
fn stride_exact_minimum_length_is_accepted() {
    let mut b = Buffer::new(Encoding::Default);
    // (nitem-1)*stride+1 = 7 elements.
    let src = [1u16, 0, 0, 2, 0, 0, 3];
    b.pack(&src, 3, 3).unwrap();
    assert_eq!(b.pack(&src[..6], 3, 3), Err(Error::BadParam));
    let mut out = [0u16; 7];
    b.unpack(&mut out, 3, 3).unwrap();
    assert_eq!(out, [1, 0, 0, 2, 0, 0, 3]);
}

#[test]
fn bad_parameters() {
    let mut b = Buffer::new(Encoding::Raw);
    assert_eq!(b.pack(&[1i32, 2], 1, 0), Err(Error::BadParam));
    assert_eq!(b.pack(&[1i32, 2], 3, 1), Err(Error::BadParam));
    assert_eq!(b.pack(&[1i32, 2, 3], 2, 3), Err(Error::BadParam));
    assert_eq!(b.pack::<i32>(&[], 1, 1), Err(Error::BadParam));
    assert_eq!(b.pack(&[1i32], usize::MAX, 2), Err(Error::BadParam));
    assert_eq!(b.len(), 0);
    // nitem 0 is fine, even with an empty slice.
    b.pack::<f64>(&[], 0, 1).unwrap();
    assert_eq!(b.len(), 0);
    b.pack(&[1i32, 2, 3], 3, 1).unwrap();
    let mut out = [0i32; 2];
    assert_eq!(b.unpack(&mut out, 3, 1), Err(Error::BadParam));
    assert_eq!(b.unpack(&mut out, 1, 0), Err(Error::BadParam));
    assert_eq!(b.unpack(&mut out, 2, 2), Err(Error::BadParam));
    assert_eq!(b.position(), 0);
    b.unpack::<i32>(&mut [], 0, 1).unwrap();
    assert_eq!(b.position(), 0);
    b.unpack(&mut out, 2, 1).unwrap();
    assert_eq!(out, [1, 2]);
}

#[test]
fn complex_stride_semantics() {
    // Complex number i lives at [2*i*stride], [2*i*stride+1].
    let src: Vec<f32> = (0..14).map(|x| x as f32).collect();
    for enc in ALL_ENC {
        let mut b = Buffer::new(enc);
        b.pack_complex(&src, 3, 3).unwrap(); // (0,1) (6,7) (12,13)
        assert_eq!(b.len(), 3 * 8);
        // Minimum length is 2*(nitem-1)*stride+2 = 14.
        assert_eq!(b.pack_complex(&src[..13], 3, 3), Err(Error::BadParam));
        assert_eq!(b.pack_complex(&src, 1, 0), Err(Error::BadParam));
        let mut r = received(&b);
        let mut flat = [0f32; 6];
        r.unpack(&mut flat, 6, 1).unwrap();
        assert_eq!(flat, [0.0, 1.0, 6.0, 7.0, 12.0, 13.0]);
        r.rewind();
        let mut out = [-1f32; 10];
        r.unpack_complex(&mut out, 3, 2).unwrap();
        assert_eq!(
            out,
            [0.0, 1.0, -1.0, -1.0, 6.0, 7.0, -1.0, -1.0, 12.0, 13.0]
        );
        r.rewind();
        let mut short = [0f32; 9];
        assert_eq!(r.unpack_complex(&mut short, 3, 2), Err(Error::BadParam));
    }
    let d: Vec<f64> = vec![1.5, -2.5, 9.0, 9.0, 3.5, 4.5];
    let mut b = Buffer::new(Encoding::Default);
    b.pack_complex(&d, 2, 2).unwrap();
    let mut out = [0f64; 4];
    received(&b).unpack_complex(&mut out, 2, 1).unwrap();
    assert_eq!(out, [1.5, -2.5, 3.5, 4.5]);
}

#[test]
fn strings_layout_and_round_trip() {
    let mut d = Buffer::new(Encoding::Default);
    d.pack_str(b"hi").unwrap();
    // Padded to 4 in the portable encoding (PVM 3.4.6: 8 bytes).
    assert_eq!(d.to_bytes(), [0, 0, 0, 3, b'h', b'i', 0, 0]);
    let mut r = Buffer::new(Encoding::Raw);
    r.pack_str(b"hi").unwrap();
    let mut want = 3u32.to_ne_bytes().to_vec();
    want.extend_from_slice(b"hi\0");
    assert_eq!(r.to_bytes(), want);

    let long: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 + 1).collect();
    let odd = vec![0xff, 0xfe, 0x80, 0xc3, 0x28, b'x'];
    for enc in ALL_ENC {
        let mut b = Buffer::new(enc);
        b.pack_str(b"").unwrap();
        b.pack_str(b"hello, world").unwrap();
        b.pack_str(&long).unwrap();
        b.pack_str(&odd).unwrap();
        b.pack_str(b"a\0b").unwrap();
        let str_len = |n: usize| 4 + packed_len::<u8>(enc, n + 1);
        let want = str_len(0) + str_len(12) + str_len(long.len()) + str_len(6) + str_len(3);
        assert_eq!(b.len(), want, "{enc:?}");
        let mut r = received(&b);
        assert_eq!(r.unpack_str().unwrap(), b"");
        assert_eq!(r.unpack_str().unwrap(), b"hello, world");
        assert_eq!(r.unpack_str().unwrap(), long);
        assert_eq!(r.unpack_str().unwrap(), odd);
        assert_eq!(r.unpack_str().unwrap(), b"a\0b");
        assert_eq!(r.unpack_str(), Err(Error::NoData));
    }
}

#[test]
fn malformed_strings() {
    // Zero length: no room for the NUL.
    let mut b = Buffer::from_received(vec![0, 0, 0, 0, 0], MsgInfo::default());
    assert_eq!(b.unpack_str(), Err(Error::BadMsg));
    assert_eq!(b.position(), 0);
    // Missing NUL.
    let mut b = Buffer::from_received(vec![0, 0, 0, 2, b'a', b'b'], MsgInfo::default());
    assert_eq!(b.unpack_str(), Err(Error::BadMsg));
    assert_eq!(b.position(), 0);
    // Truncated length.
    let mut b = Buffer::from_received(vec![0, 0, 3], MsgInfo::default());
    assert_eq!(b.unpack_str(), Err(Error::NoData));
    // Truncated text.
    let mut b = Buffer::from_received(vec![0, 0, 0, 4, b'a', 0], MsgInfo::default());
    assert_eq!(b.unpack_str(), Err(Error::NoData));
    // Absurd length.
    let mut b = Buffer::from_received(vec![0xff, 0xff, 0xff, 0xff, 0], MsgInfo::default());
    assert_eq!(b.unpack_str(), Err(Error::NoData));
    assert_eq!(b.position(), 0);
    // The bytes are still there for other unpacks.
    let mut raw = [0u8; 5];
    b.unpack(&mut raw, 5, 1).unwrap();
    assert_eq!(raw, [0xff, 0xff, 0xff, 0xff, 0]);
}

#[test]
fn nodata_past_the_end_keeps_the_cursor() {
    for enc in ALL_ENC {
        let mut b = Buffer::new(enc);
        b.pack(&[10i32, 20], 2, 1).unwrap();
        b.pack(&[1u8, 2, 3], 3, 1).unwrap();
        let mut r = received(&b);
        let mut i = [0i32; 4];
        // One int more than the body holds (the padded bytes make a word).
        let over = if portable(enc) { 4 } else { 3 };
        assert_eq!(r.unpack(&mut i, over, 1), Err(Error::NoData));
        assert_eq!(r.position(), 0);
        assert_eq!(i, [0, 0, 0, 0]);
        r.unpack(&mut i, 2, 1).unwrap();
        assert_eq!(&i[..2], [10, 20]);
        assert_eq!(r.position(), 8);
        let mut d = [0f64];
        assert_eq!(r.unpack(&mut d, 1, 1), Err(Error::NoData));
        if !portable(enc) {
            // (Portably the three bytes take a padded word, which an int
            // could read.)
            assert_eq!(r.unpack(&mut i, 1, 1), Err(Error::NoData));
        }
        assert_eq!(r.unpack_str(), Err(Error::NoData));
        assert_eq!(r.unpack_message().err(), Some(Error::NoData));
        assert_eq!(r.position(), 8);
        let mut c = [0u8; 3];
        r.unpack(&mut c, 3, 1).unwrap();
        assert_eq!(c, [1, 2, 3]);
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.unpack(&mut c, 1, 1), Err(Error::NoData));
        assert_eq!(r.position(), 8 + packed_len::<u8>(enc, 3));
    }
}

fn sample_message(enc: Encoding) -> Buffer {
    let mut m = Buffer::new(enc);
    *m.info_mut() = MsgInfo {
        src: 0x40001,
        dst: 0x40002,
        tag: 77,
        ctx: 5,
        wid: 9,
        crc: -3,
    };
    m.pack(&[1i32, -2, 3], 3, 1).unwrap();
    m.pack_str(b"inner").unwrap();
    m.pack(&[2.5f64], 1, 1).unwrap();
    m
}

/// What a received message packed and unpacked again looks like: native
/// data comes back Raw, trace data Default, and no checksum is kept.
fn as_unpacked(m: &Buffer) -> Buffer {
    let enc = match m.encoding() {
        Encoding::InPlace => Encoding::Raw,
        Encoding::Trace => Encoding::Default,
        e => e,
    };
    let mut info = *m.info();
    info.crc = 0;
    Buffer::from_received_with_encoding(m.to_bytes(), info, enc)
}

#[test]
fn pack_message_layout() {
    // As PVM 3.4.6's pvm_pkmesg: len, ctx, tag, wid, enc, 0, src, dst, then
    // the body in fragments of 4032 bytes, each with its length.
    let inner = sample_message(Encoding::Raw);
    let mut outer = Buffer::new(Encoding::Default);
    outer.pack_message(&inner).unwrap();
    let bytes = outer.to_bytes();
    let n = inner.len() as u32;
    let mut want = Vec::new();
    for f in [n, 5, 77, 9, 0x0040_8c41, 0, 0x40001, 0x40002, n] {
        want.extend_from_slice(&f.to_be_bytes());
    }
    want.extend_from_slice(&inner.to_bytes());
    want.resize(want.len().div_ceil(4) * 4, 0);
    assert_eq!(bytes, want);
    assert_eq!(outer.len(), 36 + inner.len().div_ceil(4) * 4);
    // A raw outer buffer does not pad; an empty message has one empty
    // fragment; the sizes PVM 3.4.6's pvm_bufinfo shows.
    let mut raw = Buffer::new(Encoding::Raw);
    raw.pack_message(&inner).unwrap();
    assert_eq!(raw.len(), 36 + inner.len());
    for (ints, want) in [
        (0usize, 36usize),
        (3, 48),
        (1008, 4068),
        (1009, 4076),
        (2017, 8112),
    ] {
        let mut m = Buffer::new(Encoding::Default);
        m.pack(&vec![7i32; ints], ints, 1).unwrap();
        let mut o = Buffer::new(Encoding::Default);
        o.pack_message(&m).unwrap();
        assert_eq!(o.len(), want, "{ints} ints");
        assert_eq!(received(&o).unpack_message().unwrap(), as_unpacked(&m));
    }
}

#[test]
fn pack_and_unpack_message_give_an_equal_buffer() {
    for outer_enc in ALL_ENC {
        for inner_enc in ALL_ENC {
            let inner = sample_message(inner_enc);
            let mut outer = Buffer::new(outer_enc);
            outer.pack_str(b"before").unwrap();
            outer.pack_message(&inner).unwrap();
            outer.pack_message(&Buffer::new(inner_enc)).unwrap();
            outer.pack(&[42i16], 1, 1).unwrap();
            let mut r = received(&outer);
            assert_eq!(r.unpack_str().unwrap(), b"before");
            let mut got = r.unpack_message().unwrap();
            assert_eq!(got, as_unpacked(&inner));
            assert_eq!(got.position(), 0);
            // And it decodes in its own encoding.
            let mut ints = [0i32; 3];
            got.unpack(&mut ints, 3, 1).unwrap();
            assert_eq!(ints, [1, -2, 3]);
            assert_eq!(got.unpack_str().unwrap(), b"inner");
            let mut f = [0f64];
            got.unpack(&mut f, 1, 1).unwrap();
            assert_eq!(f, [2.5]);
            let empty = r.unpack_message().unwrap();
            assert!(empty.is_empty());
            assert_eq!(empty.encoding(), as_unpacked(&inner).encoding());
            let mut s = [0i16];
            r.unpack(&mut s, 1, 1).unwrap();
            assert_eq!(s, [42]);
        }
    }
}

#[test]
fn nested_messages() {
    let inner = sample_message(Encoding::Default);
    let mut mid = Buffer::new(Encoding::Raw);
    mid.pack_message(&inner).unwrap();
    let mut outer = Buffer::new(Encoding::Default);
    outer.pack_message(&mid).unwrap();
    let mut got_mid = received(&outer).unpack_message().unwrap();
    assert_eq!(got_mid, mid);
    assert_eq!(got_mid.unpack_message().unwrap(), as_unpacked(&inner));
}

#[test]
fn malformed_packed_messages() {
    let mut outer = Buffer::new(Encoding::Default);
    outer
        .pack_message(&sample_message(Encoding::Default))
        .unwrap();
    let good = outer.to_bytes();
    // Truncated anywhere: NoData, cursor intact.
    for cut in [0, 1, 31, 32, 33, good.len() - 1] {
        let mut r = Buffer::from_received(good[..cut].to_vec(), MsgInfo::default());
        assert_eq!(r.unpack_message().err(), Some(Error::NoData), "cut {cut}");
        assert_eq!(r.position(), 0);
    }
    // Unknown encoding code (a foreign data signature).
    for code in [3u8, 5, 0xff] {
        let mut bad = good.clone();
        bad[19] = code;
        let mut r = Buffer::from_received(bad, MsgInfo::default());
        assert_eq!(r.unpack_message().err(), Some(Error::BadMsg));
        assert_eq!(r.position(), 0);
    }
    // Huge lengths: of the body, of the fragment.
    let mut bad = good.clone();
    bad[0..4].copy_from_slice(&[0xff; 4]);
    let mut r = Buffer::from_received(bad, MsgInfo::default());
    assert_eq!(r.unpack_message().err(), Some(Error::NoData));
    let mut bad = good.clone();
    bad[32..36].copy_from_slice(&[0xff; 4]);
    let mut r = Buffer::from_received(bad, MsgInfo::default());
    assert_eq!(r.unpack_message().err(), Some(Error::BadMsg));
    assert_eq!(r.position(), 0);
}

#[test]
fn pack_message_body_splices_compatible_bodies() {
    let inner = sample_message(Encoding::Raw);
    let mut outer = Buffer::new(Encoding::InPlace);
    outer.pack(&[5u8], 1, 1).unwrap();
    outer.pack_message_body(&inner).unwrap();
    let mut want = vec![5u8];
    want.extend_from_slice(&inner.to_bytes());
    assert_eq!(outer.to_bytes(), want);
    // The included message is left unaltered.
    assert_eq!(inner, sample_message(Encoding::Raw));

    let mut d = Buffer::new(Encoding::Default);
    d.pack_message_body(&sample_message(Encoding::Trace))
        .unwrap();
    let mut r = received(&d);
    let mut ints = [0i32; 3];
    r.unpack(&mut ints, 3, 1).unwrap();
    assert_eq!(ints, [1, -2, 3]);

    #[cfg(target_endian = "little")]
    {
        let mut d = Buffer::new(Encoding::Default);
        assert_eq!(d.pack_message_body(&inner), Err(Error::Mismatch));
        assert_eq!(d.len(), 0);
    }
}

/// An in-place item over shared memory the test can change after packing,
/// read with a stride like the FFI's strided sources.
struct SharedStrided {
    mem: Arc<Mutex<Vec<u8>>>,
    elem: usize,
    nitem: usize,
    stride: usize,
}

impl InPlaceSource for SharedStrided {
    fn len(&self) -> usize {
        self.elem * self.nitem
    }
    fn contiguous(&self) -> Option<&[u8]> {
        None
    }
    fn gather(&self, out: &mut Vec<u8>) {
        let mem = self.mem.lock().unwrap();
        for i in 0..self.nitem {
            let at = i * self.stride * self.elem;
            out.extend_from_slice(&mem[at..at + self.elem]);
        }
    }
}

#[test]
fn inplace_only_for_inplace_buffers() {
    for enc in [Encoding::Default, Encoding::Raw, Encoding::Trace] {
        let mut b = Buffer::new(enc);
        assert_eq!(
            b.pack_inplace(Box::new(OwnedSource(vec![1]))),
            Err(Error::BadParam)
        );
        assert!(b.is_empty());
    }
}

#[test]
fn inplace_bytes_are_read_at_send_time() {
    let mem = Arc::new(Mutex::new(vec![1u8, 2, 3, 4, 5, 6, 7, 8]));
    let mut b = Buffer::new(Encoding::InPlace);
    b.pack_str(b"x").unwrap();
    b.pack_inplace(Box::new(SharedStrided {
        mem: mem.clone(),
        elem: 2,
        nitem: 2,
        stride: 2,
    }))
    .unwrap();
    b.pack(&[9u8], 1, 1).unwrap();
    assert!(b.has_inplace());
    assert_eq!(b.len(), 6 + 4 + 1);
    let mut head = 2u32.to_ne_bytes().to_vec();
    head.extend_from_slice(b"x\0");
    let mut want = head.clone();
    want.extend_from_slice(&[1, 2, 5, 6, 9]);
    assert_eq!(b.to_bytes(), want);
    // The user changes the memory after packing: the new bytes are sent.
    mem.lock()
        .unwrap()
        .copy_from_slice(&[10, 20, 30, 40, 50, 60, 70, 80]);
    let mut want = head.clone();
    want.extend_from_slice(&[10, 20, 50, 60, 9]);
    assert_eq!(b.to_bytes(), want);
    let mut scratch = vec![0xaa; 3];
    let flat: Vec<u8> = b
        .io_slices(&mut scratch)
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(flat, want);
    // Unpacking reads the memory as it is at that moment.
    mem.lock().unwrap()[0] = 99;
    assert_eq!(b.unpack_str().unwrap(), b"x");
    let mut v = [0u8; 5];
    b.unpack(&mut v, 5, 1).unwrap();
    assert_eq!(v, [99, 20, 50, 60, 9]);
    assert!(!b.has_inplace());
}

#[test]
fn io_slices_are_zero_copy_for_contiguous_items() {
    let mut b = Buffer::new(Encoding::InPlace);
    b.pack_inplace(Box::new(OwnedSource(vec![1, 2, 3])))
        .unwrap();
    b.pack_inplace(Box::new(OwnedSource(Vec::new()))).unwrap();
    b.pack(&[7i32], 1, 1).unwrap();
    b.pack_inplace(Box::new(OwnedSource(vec![4, 5]))).unwrap();
    let mut scratch = Vec::new();
    let slices = b.io_slices(&mut scratch);
    let lens: Vec<usize> = slices.iter().map(|s| s.len()).collect();
    assert_eq!(lens, [3, 4, 2]);
    assert!(scratch.is_empty());
    let mut want = vec![1, 2, 3];
    want.extend_from_slice(&7i32.to_ne_bytes());
    want.extend_from_slice(&[4, 5]);
    assert_eq!(b.to_bytes(), want);
    assert_eq!(b.len(), 9);
    let mut copy = Buffer::new(Encoding::InPlace);
    copy.pack_message_body(&b).unwrap();
    assert_eq!(copy.to_bytes(), want);
    assert!(!copy.has_inplace());
    assert_eq!(b.into_bytes(), want);
}

#[test]
fn io_slices_without_inplace_items() {
    let b = Buffer::new(Encoding::Default);
    let mut scratch = Vec::new();
    assert!(b.io_slices(&mut scratch).is_empty());
    let mut b = Buffer::new(Encoding::Raw);
    b.pack(&[1u8, 2], 2, 1).unwrap();
    let s = b.io_slices(&mut scratch);
    assert_eq!(s.len(), 1);
    assert_eq!(&*s[0], &[1, 2]);
}

#[test]
fn equality_ignores_the_cursor() {
    let a = sample_message(Encoding::Default);
    let mut b = sample_message(Encoding::Default);
    let mut x = [0i32];
    b.unpack(&mut x, 1, 1).unwrap();
    assert_eq!(a, b);
    b.info_mut().tag = 1;
    assert_ne!(a, b);
    assert_ne!(
        sample_message(Encoding::Raw),
        sample_message(Encoding::InPlace)
    );
    assert!(format!("{a:?}").contains("Default"));
}

#[test]
fn large_messages_pack_and_unpack() {
    const N: usize = 8 << 20; // 8 Mi f64 = 64 MiB
    let src: Vec<f64> = (0..N).map(|i| i as f64 * 0.5).collect();
    for enc in [Encoding::Default, Encoding::Raw] {
        let mut b = Buffer::new(enc);
        b.pack(&src, N, 1).unwrap();
        assert_eq!(b.len(), 64 << 20);
        let mut r = Buffer::from_received_with_encoding(b.into_bytes(), MsgInfo::default(), enc);
        let mut out = vec![0f64; N];
        r.unpack(&mut out, N, 1).unwrap();
        assert!(out == src);
    }
    // Many small packs stay linear (amortised growth).
    let mut b = Buffer::new(Encoding::Default);
    for i in 0..(1i32 << 20) {
        b.pack(&[i], 1, 1).unwrap();
    }
    assert_eq!(b.len(), 4 << 20);
    let mut r = received(&b);
    let mut out = vec![0i32; 1 << 20];
    r.unpack(&mut out, 1 << 20, 1).unwrap();
    assert!(out.iter().enumerate().all(|(i, &v)| v == i as i32));
}

/// One packed item for the random round trip.
#[derive(Debug, PartialEq)]
enum Item {
    U8(Vec<u8>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Str(Vec<u8>),
    InPlace(Vec<u8>),
}

#[test]
fn random_round_trips() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let enc = ALL_ENC[round % 4];
        let mut b = Buffer::new(enc);
        let mut items = Vec::new();
        let mut expect_len = 0;
        for _ in 0..rng.below(12) {
            let n = match rng.below(4) {
                0 => 0,
                1 => rng.below(4),
                2 => rng.below(100),
                _ => rng.below(5000),
            };
            let stride = 1 + rng.below(3);
            let span = if n == 0 { 0 } else { (n - 1) * stride + 1 };
            let raw = rng.bytes(span * 8);
            let pick = |w: usize| -> Vec<usize> { (0..n).map(|i| i * stride * w).collect() };
            let item = match rng.below(8) {
                0 => {
                    b.pack(&raw[..span], n, stride).unwrap();
                    Item::U8(pick(1).iter().map(|&i| raw[i]).collect())
                }
                1 => {
                    let v: Vec<i16> = raw
                        .chunks(2)
                        .map(|c| i16::from_ne_bytes([c[0], c[1]]))
                        .collect();
                    b.pack(&v[..span], n, stride).unwrap();
                    Item::I16((0..n).map(|i| v[i * stride]).collect())
                }
                2 => {
                    let v: Vec<u32> = raw
                        .chunks(4)
                        .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
                        .collect();
                    b.pack(&v[..span], n, stride).unwrap();
                    Item::U32((0..n).map(|i| v[i * stride]).collect())
                }
                3 => {
                    // (Portably a long must fit in 32 bits.)
                    let v: Vec<i64> = raw
                        .chunks(8)
                        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
                        .map(|l| if portable(enc) { l >> 33 } else { l })
                        .collect();
                    b.pack(&v[..span], n, stride).unwrap();
                    Item::I64((0..n).map(|i| v[i * stride]).collect())
                }
                4 => {
                    let v: Vec<f32> = raw
                        .chunks(4)
                        .map(|c| (u32::from_ne_bytes(c.try_into().unwrap()) >> 9) as f32)
                        .collect();
                    b.pack(&v[..span], n, stride).unwrap();
                    Item::F32((0..n).map(|i| v[i * stride]).collect())
                }
                5 => {
                    let v: Vec<f64> = raw
                        .chunks(8)
                        .map(|c| (u64::from_ne_bytes(c.try_into().unwrap()) >> 12) as f64 / 3.0)
                        .collect();
                    b.pack(&v[..span], n, stride).unwrap();
                    Item::F64((0..n).map(|i| v[i * stride]).collect())
                }
                6 => {
                    let s = raw[..n].to_vec();
                    b.pack_str(&s).unwrap();
                    expect_len += 4 + packed_len::<u8>(enc, n + 1) - n;
                    Item::Str(s)
                }
                _ if enc == Encoding::InPlace => {
                    let s = raw[..n].to_vec();
                    b.pack_inplace(Box::new(OwnedSource(s.clone()))).unwrap();
                    Item::InPlace(s)
                }
                _ => {
                    b.pack(&raw[..n], n, 1).unwrap();
                    Item::U8(raw[..n].to_vec())
                }
            };
            expect_len += match &item {
                Item::U8(v) => packed_len::<u8>(enc, v.len()),
                Item::Str(v) | Item::InPlace(v) => v.len(),
                Item::I16(v) => packed_len::<i16>(enc, v.len()),
                Item::U32(v) => packed_len::<u32>(enc, v.len()),
                Item::F32(v) => packed_len::<f32>(enc, v.len()),
                Item::I64(v) => packed_len::<i64>(enc, v.len()),
                Item::F64(v) => packed_len::<f64>(enc, v.len()),
            };
            items.push(item);
        }
        assert_eq!(b.len(), expect_len);
        let mut scratch = Vec::new();
        let flat: Vec<u8> = b
            .io_slices(&mut scratch)
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        assert_eq!(flat, b.to_bytes());
        let mut r = received(&b);
        for item in &items {
            match item {
                Item::U8(v) | Item::InPlace(v) => {
                    let mut o = vec![0u8; v.len()];
                    r.unpack(&mut o, v.len(), 1).unwrap();
                    assert_eq!(&o, v);
                }
                Item::I16(v) => {
                    let mut o = vec![0i16; v.len() * 2];
                    r.unpack(&mut o, v.len(), 2).unwrap();
                    assert!(o.iter().step_by(2).eq(v.iter()));
                }
                Item::U32(v) => {
                    let mut o = vec![0u32; v.len()];
                    r.unpack(&mut o, v.len(), 1).unwrap();
                    assert_eq!(&o, v);
                }
                Item::I64(v) => {
                    let mut o = vec![0i64; v.len()];
                    r.unpack(&mut o, v.len(), 1).unwrap();
                    assert_eq!(&o, v);
                }
                Item::F32(v) => {
                    let mut o = vec![0f32; v.len()];
                    r.unpack(&mut o, v.len(), 1).unwrap();
                    assert_eq!(&o, v);
                }
                Item::F64(v) => {
                    let mut o = vec![0f64; v.len() * 3];
                    r.unpack(&mut o, v.len(), 3).unwrap();
                    assert!(o.iter().step_by(3).eq(v.iter()));
                }
                Item::Str(v) => assert_eq!(&r.unpack_str().unwrap(), v),
            }
        }
        assert_eq!(r.remaining(), 0);
    }
}

#[test]
fn decoders_never_panic_on_random_input() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..4000 {
        let n = match rng.below(3) {
            0 => rng.below(8),
            1 => rng.below(64),
            _ => rng.below(600),
        };
        let mut body = rng.bytes(n);
        // Make plausible small lengths common so deeper paths run too.
        if n >= 4 && rng.below(2) == 0 {
            let l = rng.below(n + 4) as u32;
            let enc = ALL_ENC[round % 4];
            body[..4].copy_from_slice(&codec::u32_bytes(l, enc.byte_order()));
        }
        if n >= 32 && rng.below(2) == 0 {
            body[0..4].copy_from_slice(&codec::u32_bytes(
                rng.below(5) as u32,
                ALL_ENC[round % 4].byte_order(),
            ));
            let l = rng.below(n) as u32;
            body[28..32].copy_from_slice(&codec::u32_bytes(l, ALL_ENC[round % 4].byte_order()));
        }
        let mut b =
            Buffer::from_received_with_encoding(body, MsgInfo::default(), ALL_ENC[round % 4]);
        for _ in 0..20 {
            let before = b.position();
            let res: Result<()> = match rng.below(7) {
                0 => b.unpack_str().map(|_| ()),
                1 => b.unpack_message().map(|_| ()),
                2 => {
                    let k = rng.below(40);
                    let mut o = vec![0i32; k];
                    b.unpack(&mut o, k, 1)
                }
                3 => {
                    let mut o = vec![0f64; 9];
                    b.unpack(&mut o, 1 + rng.below(3), 1 + rng.below(4))
                }
                4 => {
                    let mut o = vec![0u8; 3];
                    b.unpack(&mut o, rng.below(4), 1)
                }
                5 => {
                    let mut o = vec![0f32; 8];
                    b.unpack_complex(&mut o, rng.below(5), 1)
                }
                _ => {
                    let mut o = [0i16; 1];
                    b.unpack(&mut o, 1, 1)
                }
            };
            match res {
                Ok(()) => assert!(b.position() >= before && b.position() <= b.len()),
                Err(e) => {
                    assert!(matches!(e, Error::NoData | Error::BadMsg), "{e:?}");
                    assert_eq!(b.position(), before);
                }
            }
        }
    }
}

#[test]
fn buffers_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let mut b = Buffer::new(Encoding::InPlace);
    b.pack_inplace(Box::new(OwnedSource(vec![1, 2]))).unwrap();
    assert_send(&b);
    let bytes = std::thread::spawn(move || b.to_bytes()).join().unwrap();
    assert_eq!(bytes, [1, 2]);
}

/// A body held elsewhere that offers no slice (like a shared-memory ring).
struct Held(Vec<u8>);

impl InPlaceSource for Held {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn contiguous(&self) -> Option<&[u8]> {
        None
    }
    fn gather(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0)
    }
}

#[test]
fn a_held_body_unpacks_as_the_same_body_received_whole() {
    for enc in [Encoding::Default, Encoding::Raw] {
        // Bytes (an odd count: padding in the portable encoding), then
        // doubles spanning several of the pieces a held body is read by,
        // then an int.
        let bytes: Vec<u8> = (0..100_001u32).map(|i| (i % 251) as u8).collect();
        let doubles: Vec<f64> = (0..20_000).map(|i| i as f64 * 0.5 - 7.0).collect();
        let mut b = Buffer::new(enc);
        b.pack(&bytes, bytes.len(), 1).unwrap();
        b.pack(&doubles, doubles.len(), 1).unwrap();
        b.pack(&[42i32], 1, 1).unwrap();
        let body = b.to_bytes();
        let mut whole = Buffer::from_received_with_encoding(body.clone(), MsgInfo::default(), enc);
        let mut held =
            Buffer::from_received_held(Box::new(Held(body.clone())), MsgInfo::default(), enc);
        assert_eq!(held.len(), whole.len());
        let mut out = vec![0u8; body.len()];
        assert_eq!(held.copy_body_into(&mut out), body.len());
        assert!(out == body);
        for b in [&mut whole, &mut held] {
            let mut got = vec![0u8; bytes.len()];
            b.unpack(&mut got, bytes.len(), 1).unwrap();
            assert!(got == bytes, "{enc:?}");
            let mut d = vec![0f64; doubles.len()];
            b.unpack(&mut d, doubles.len(), 1).unwrap();
            assert!(d == doubles, "{enc:?}");
            // Past the end: NoData, the cursor stays.
            let mut two = [0i32; 2];
            assert_eq!(b.unpack(&mut two, 2, 1), Err(Error::NoData));
            let mut one = [0i32; 1];
            b.unpack(&mut one, 1, 1).unwrap();
            assert_eq!(one, [42]);
            assert_eq!(b.remaining(), 0);
        }
        // Other reads see the whole body too (it is read out first).
        let mut held =
            Buffer::from_received_held(Box::new(Held(body.clone())), MsgInfo::default(), enc);
        assert_eq!(held.to_bytes(), body);
        let mut strided = vec![0u8; 3];
        held.unpack(&mut strided, 2, 2).unwrap();
        assert_eq!(strided, [bytes[0], 0, bytes[1]]);
    }
}

#[test]
fn user_event_buffers_annotate_what_is_packed() {
    let mut b = Buffer::user_event(1000, 2000);
    b.pack(&[42i32], 1, 1).unwrap();
    b.pack(&[1.5f64, 2.5], 2, 1).unwrap();
    b.pack_str(b"hi").unwrap();
    let w = |v: i32| v.to_be_bytes().to_vec();
    let mut want = [w(-9), w(108), w(13)].concat();
    want.extend_from_slice(b"user_defined\0\0\0\0");
    want.extend([w(1000), w(2000)].concat());
    // an int: its type, the value
    want.extend([w(6), w(42)].concat());
    // two doubles: type | array, count, values
    want.extend([w(4 | 0x80), w(2)].concat());
    want.extend_from_slice(&1.5f64.to_be_bytes());
    want.extend_from_slice(&2.5f64.to_be_bytes());
    // a string: an int (its length), then bytes (count, bytes, padding)
    want.extend([w(6), w(3), w(1 | 0x80), w(3)].concat());
    want.extend_from_slice(b"hi\0\0");
    assert_eq!(b.to_bytes(), want);
}
