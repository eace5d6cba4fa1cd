//! Scalar encodings: the [`Scalar`] trait for the types `pvm_pk*`/`pvm_upk*`
//! move, and the strided array encoders and decoders the message buffer
//! uses. Everything here works on byte slices whose sizes the caller has
//! already checked; the loops are written over `chunks_exact` so that the
//! compiler turns the contiguous native-order case into a plain copy and
//! the big-endian case into a vectorised byte swap.

/// Byte order of the scalars in a message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first (`PvmDataDefault`).
    Big,
    /// Least significant byte first.
    Little,
}

impl ByteOrder {
    /// The host's byte order (`PvmDataRaw`).
    #[cfg(target_endian = "little")]
    pub const NATIVE: ByteOrder = ByteOrder::Little;
    /// The host's byte order (`PvmDataRaw`).
    #[cfg(target_endian = "big")]
    pub const NATIVE: ByteOrder = ByteOrder::Big;
}

/// A scalar type that can be packed into a message: `u8`, `i16`, `u16`,
/// `i32`, `u32`, `i64`, `u64`, `f32`, `f64`. Complex numbers are pairs of
/// `f32`/`f64`.
pub trait Scalar: Copy + Default + Send + Sync + 'static {
    /// Encoded size in bytes (the same in every encoding).
    const SIZE: usize;
    /// Write `self` big-endian into `out` (exactly `SIZE` bytes).
    fn put_be(self, out: &mut [u8]);
    /// Write `self` little-endian into `out` (exactly `SIZE` bytes).
    fn put_le(self, out: &mut [u8]);
    /// Read a big-endian value from `inp` (exactly `SIZE` bytes).
    fn get_be(inp: &[u8]) -> Self;
    /// Read a little-endian value from `inp` (exactly `SIZE` bytes).
    fn get_le(inp: &[u8]) -> Self;
    /// Encoded size in the portable encoding (`PvmDataDefault`, XDR as
    /// PVM 3.4.6 writes it): shorts and longs take 4 bytes there.
    const XDR_SIZE: usize = Self::SIZE;
    /// Whether the value survives the portable encoding (a long must fit
    /// in 32 bits).
    #[inline(always)]
    fn xdr_fits(self) -> bool {
        true
    }
    /// Write `self` in the portable encoding into `out` (exactly
    /// `XDR_SIZE` bytes).
    #[inline(always)]
    fn put_xdr(self, out: &mut [u8]) {
        self.put_be(out)
    }
    /// Read a value of the portable encoding from `inp` (exactly
    /// `XDR_SIZE` bytes).
    #[inline(always)]
    fn get_xdr(inp: &[u8]) -> Self {
        Self::get_be(inp)
    }
    /// `s` as the bytes it is encoded as, in every encoding and byte order
    /// (only for bytes themselves), so that decoding is a plain copy.
    #[inline(always)]
    fn as_encoded_bytes(_s: &mut [Self]) -> Option<&mut [u8]> {
        None
    }
}

/// A big-endian 4-byte word of the portable encoding.
#[inline(always)]
fn xdr_word(inp: &[u8]) -> [u8; 4] {
    let mut b = [0u8; 4];
    b.copy_from_slice(inp);
    b
}

macro_rules! scalar_impl {
    ($t:ty $(; $($xdr:tt)*)?) => {
        impl Scalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn put_be(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_be_bytes());
            }
            #[inline(always)]
            fn put_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            #[inline(always)]
            fn get_be(inp: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(inp);
                <$t>::from_be_bytes(b)
            }
            #[inline(always)]
            fn get_le(inp: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(inp);
                <$t>::from_le_bytes(b)
            }
            $($($xdr)*)?
        }
    };
}

scalar_impl!(u8;
    #[inline(always)]
    fn as_encoded_bytes(s: &mut [u8]) -> Option<&mut [u8]> {
        Some(s)
    }
);
scalar_impl!(i8);
scalar_impl!(i32);
scalar_impl!(u32);
scalar_impl!(f32);
scalar_impl!(f64);
// Shorts travel as 4-byte words, sign-extended (an unsigned short too, as
// PVM 3.4.6 writes it); unpacking keeps the low 16 bits.
scalar_impl!(i16;
    const XDR_SIZE: usize = 4;
    #[inline(always)]
    fn put_xdr(self, out: &mut [u8]) {
        out.copy_from_slice(&i32::from(self).to_be_bytes());
    }
    #[inline(always)]
    fn get_xdr(inp: &[u8]) -> Self {
        i32::from_be_bytes(xdr_word(inp)) as i16
    }
);
scalar_impl!(u16;
    const XDR_SIZE: usize = 4;
    #[inline(always)]
    fn put_xdr(self, out: &mut [u8]) {
        out.copy_from_slice(&i32::from(self as i16).to_be_bytes());
    }
    #[inline(always)]
    fn get_xdr(inp: &[u8]) -> Self {
        i32::from_be_bytes(xdr_word(inp)) as u16
    }
);
// Longs travel as 4-byte words, as PVM 3.4.6 writes them on LINUX64; a
// value that needs more than 32 bits is refused (PvmOverflow) rather than
// cut. Unpacking sign-extends a long and zero-extends an unsigned long.
scalar_impl!(i64;
    const XDR_SIZE: usize = 4;
    #[inline(always)]
    fn xdr_fits(self) -> bool {
        i32::try_from(self).is_ok()
    }
    #[inline(always)]
    fn put_xdr(self, out: &mut [u8]) {
        out.copy_from_slice(&(self as i32).to_be_bytes());
    }
    #[inline(always)]
    fn get_xdr(inp: &[u8]) -> Self {
        i64::from(i32::from_be_bytes(xdr_word(inp)))
    }
);
scalar_impl!(u64;
    const XDR_SIZE: usize = 4;
    #[inline(always)]
    fn xdr_fits(self) -> bool {
        u32::try_from(self).is_ok()
    }
    #[inline(always)]
    fn put_xdr(self, out: &mut [u8]) {
        out.copy_from_slice(&(self as u32).to_be_bytes());
    }
    #[inline(always)]
    fn get_xdr(inp: &[u8]) -> Self {
        u64::from(u32::from_be_bytes(xdr_word(inp)))
    }
);

/// Rounds `n` up to a multiple of 4: the portable encoding pads every
/// packed run of bytes (and every string) to a 4-byte boundary.
pub fn xdr_padded(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// Number of source elements an array of `nitem` items with `stride`
/// spans, times `width` elements per item: `(nitem-1)*stride*width + width`
/// (0 when `nitem` is 0). `None` on overflow.
pub fn span(nitem: usize, stride: usize, width: usize) -> Option<usize> {
    if nitem == 0 {
        return Some(0);
    }
    (nitem - 1)
        .checked_mul(stride)?
        .checked_mul(width)?
        .checked_add(width)
}

/// Encode `nitem` groups of `width` consecutive elements of `src`, group
/// `i` starting at `src[i*stride*width]`, into `out`, which must be exactly
/// `nitem*width*T::SIZE` bytes; `src` must hold [`span`] elements.
/// `width` is 1 for plain scalars and 2 for complex numbers.
pub fn encode<T: Scalar>(
    src: &[T],
    nitem: usize,
    stride: usize,
    width: usize,
    order: ByteOrder,
    out: &mut [u8],
) {
    if stride == 1 {
        let src = &src[..nitem * width];
        match order {
            ByteOrder::Big => {
                for (o, v) in out.chunks_exact_mut(T::SIZE).zip(src) {
                    v.put_be(o);
                }
            }
            ByteOrder::Little => {
                for (o, v) in out.chunks_exact_mut(T::SIZE).zip(src) {
                    v.put_le(o);
                }
            }
        }
        return;
    }
    let step = stride * width;
    let groups = src.chunks(step).take(nitem);
    let outs = out.chunks_exact_mut(T::SIZE * width);
    for (o, g) in outs.zip(groups) {
        for (oo, v) in o.chunks_exact_mut(T::SIZE).zip(&g[..width]) {
            match order {
                ByteOrder::Big => v.put_be(oo),
                ByteOrder::Little => v.put_le(oo),
            }
        }
    }
}

/// Decode `nitem*width*T::SIZE` bytes of `inp` into `nitem` groups of
/// `width` elements of `dst`, group `i` starting at `dst[i*stride*width]`;
/// `dst` must hold [`span`] elements. Elements between groups are left
/// untouched.
pub fn decode<T: Scalar>(
    inp: &[u8],
    nitem: usize,
    stride: usize,
    width: usize,
    order: ByteOrder,
    dst: &mut [T],
) {
    if stride == 1 {
        let dst = &mut dst[..nitem * width];
        match order {
            ByteOrder::Big => {
                for (d, i) in dst.iter_mut().zip(inp.chunks_exact(T::SIZE)) {
                    *d = T::get_be(i);
                }
            }
            ByteOrder::Little => {
                for (d, i) in dst.iter_mut().zip(inp.chunks_exact(T::SIZE)) {
                    *d = T::get_le(i);
                }
            }
        }
        return;
    }
    let step = stride * width;
    let groups = dst.chunks_mut(step).take(nitem);
    let ins = inp.chunks_exact(T::SIZE * width);
    for (g, i) in groups.zip(ins) {
        for (d, ii) in g[..width].iter_mut().zip(i.chunks_exact(T::SIZE)) {
            *d = match order {
                ByteOrder::Big => T::get_be(ii),
                ByteOrder::Little => T::get_le(ii),
            };
        }
    }
}

/// Like [`encode`] in the portable encoding: each element takes
/// `T::XDR_SIZE` bytes of `out` (exactly `nitem*width*T::XDR_SIZE`).
pub fn encode_xdr<T: Scalar>(src: &[T], nitem: usize, stride: usize, width: usize, out: &mut [u8]) {
    if T::XDR_SIZE == T::SIZE {
        encode(src, nitem, stride, width, ByteOrder::Big, out);
        return;
    }
    let step = stride * width;
    let groups = src.chunks(step).take(nitem);
    for (o, g) in out.chunks_exact_mut(T::XDR_SIZE * width).zip(groups) {
        for (oo, v) in o.chunks_exact_mut(T::XDR_SIZE).zip(&g[..width]) {
            v.put_xdr(oo);
        }
    }
}

/// Like [`decode`] from the portable encoding (`T::XDR_SIZE` bytes per
/// element).
pub fn decode_xdr<T: Scalar>(inp: &[u8], nitem: usize, stride: usize, width: usize, dst: &mut [T]) {
    if T::XDR_SIZE == T::SIZE {
        decode(inp, nitem, stride, width, ByteOrder::Big, dst);
        return;
    }
    let step = stride * width;
    let groups = dst.chunks_mut(step).take(nitem);
    for (g, i) in groups.zip(inp.chunks_exact(T::XDR_SIZE * width)) {
        for (d, ii) in g[..width].iter_mut().zip(i.chunks_exact(T::XDR_SIZE)) {
            *d = T::get_xdr(ii);
        }
    }
}

/// Encode one `u32` (string and message lengths) in `order`.
pub fn u32_bytes(v: u32, order: ByteOrder) -> [u8; 4] {
    match order {
        ByteOrder::Big => v.to_be_bytes(),
        ByteOrder::Little => v.to_le_bytes(),
    }
}

/// Decode one `u32` from exactly 4 bytes in `order`.
pub fn u32_from(b: [u8; 4], order: ByteOrder) -> u32 {
    match order {
        ByteOrder::Big => u32::from_be_bytes(b),
        ByteOrder::Little => u32::from_le_bytes(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Scalar + PartialEq + std::fmt::Debug>(vals: &[T], be: &[u8]) {
        let n = vals.len();
        let mut out = vec![0u8; n * T::SIZE];
        encode(vals, n, 1, 1, ByteOrder::Big, &mut out);
        assert_eq!(out, be);
        let mut back = vec![T::default(); n];
        decode(&out, n, 1, 1, ByteOrder::Big, &mut back);
        assert_eq!(back, vals);
        let mut le = vec![0u8; n * T::SIZE];
        encode(vals, n, 1, 1, ByteOrder::Little, &mut le);
        let mut rev = Vec::new();
        for c in be.chunks(T::SIZE) {
            rev.extend(c.iter().rev());
        }
        assert_eq!(le, rev);
        let mut back = vec![T::default(); n];
        decode(&le, n, 1, 1, ByteOrder::Little, &mut back);
        assert_eq!(back, vals);
    }

    #[test]
    fn scalar_sizes() {
        assert_eq!(u8::SIZE, 1);
        assert_eq!(i8::SIZE, 1);
        assert_eq!(i16::SIZE, 2);
        assert_eq!(u16::SIZE, 2);
        assert_eq!(i32::SIZE, 4);
        assert_eq!(u32::SIZE, 4);
        assert_eq!(f32::SIZE, 4);
        assert_eq!(i64::SIZE, 8);
        assert_eq!(u64::SIZE, 8);
        assert_eq!(f64::SIZE, 8);
    }

    #[test]
    fn big_endian_layouts() {
        round(&[0x12u8, 0xff], &[0x12, 0xff]);
        round(&[-2i16, 0x0102], &[0xff, 0xfe, 1, 2]);
        round(&[0xfeffu16], &[0xfe, 0xff]);
        round(&[-1i32, 0x01020304], &[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
        round(&[0x8000_0001u32], &[0x80, 0, 0, 1]);
        round(&[0x0102_0304_0506_0708i64], &[1, 2, 3, 4, 5, 6, 7, 8]);
        round(&[u64::MAX], &[0xff; 8]);
        round(&[1.0f32], &[0x3f, 0x80, 0, 0]);
        round(&[-2.0f64], &[0xc0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn portable_layouts_are_pvm_3_4_6s() {
        // Shorts and longs as 4-byte words; other types as big-endian.
        let mut out = [0u8; 8];
        encode_xdr(&[-2i16, 7], 2, 1, 1, &mut out);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 7]);
        let mut back = [0i16; 2];
        decode_xdr(&out, 2, 1, 1, &mut back);
        assert_eq!(back, [-2, 7]);
        encode_xdr(&[0xffffu16, 1], 2, 1, 1, &mut out);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
        let mut back = [0u16; 2];
        decode_xdr(&out, 2, 1, 1, &mut back);
        assert_eq!(back, [0xffff, 1]);
        encode_xdr(&[-5i64, 6], 2, 1, 1, &mut out);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xfb, 0, 0, 0, 6]);
        let mut back = [0i64; 2];
        decode_xdr(&out, 2, 1, 1, &mut back);
        assert_eq!(back, [-5, 6]);
        let mut back = [0u64; 2];
        decode_xdr(&out, 2, 1, 1, &mut back);
        assert_eq!(back, [0xffff_fffb, 6]);
        assert!(!(1i64 << 31).xdr_fits() && (-1i64 << 31).xdr_fits());
        assert!(u64::from(u32::MAX).xdr_fits() && !(1u64 << 32).xdr_fits());
        // Strided: every second short.
        let mut out = [0u8; 8];
        encode_xdr(&[1i16, 9, 2], 2, 2, 1, &mut out);
        assert_eq!(out, [0, 0, 0, 1, 0, 0, 0, 2]);
        let mut back = [0i16; 3];
        decode_xdr(&out, 2, 2, 1, &mut back);
        assert_eq!(back, [1, 0, 2]);
        assert_eq!(xdr_padded(0), Some(0));
        assert_eq!(xdr_padded(5), Some(8));
        assert_eq!(xdr_padded(usize::MAX), None);
    }

    #[test]
    fn strided_encode_and_decode() {
        let src: Vec<i32> = (0..10).collect();
        let mut out = vec![0u8; 4 * 4];
        encode(&src, 4, 3, 1, ByteOrder::Big, &mut out);
        let got: Vec<i32> = out
            .chunks(4)
            .map(|c| i32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [0, 3, 6, 9]);
        let mut dst = vec![-1i32; 10];
        decode(&out, 4, 3, 1, ByteOrder::Big, &mut dst);
        assert_eq!(dst, [0, -1, -1, 3, -1, -1, 6, -1, -1, 9]);
    }

    #[test]
    fn complex_groups_with_stride() {
        // 3 complex numbers, stride 2: pairs at [0,1], [4,5], [8,9].
        let src: Vec<f32> = (0..10).map(|x| x as f32).collect();
        let mut out = vec![0u8; 3 * 2 * 4];
        encode(&src, 3, 2, 2, ByteOrder::Little, &mut out);
        let got: Vec<f32> = out
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [0.0, 1.0, 4.0, 5.0, 8.0, 9.0]);
        let mut dst = vec![-1.0f32; 10];
        decode(&out, 3, 2, 2, ByteOrder::Little, &mut dst);
        assert_eq!(dst, [0.0, 1.0, -1.0, -1.0, 4.0, 5.0, -1.0, -1.0, 8.0, 9.0]);
    }

    #[test]
    fn span_arithmetic() {
        assert_eq!(span(0, 5, 1), Some(0));
        assert_eq!(span(1, 5, 1), Some(1));
        assert_eq!(span(3, 2, 1), Some(5));
        assert_eq!(span(3, 2, 2), Some(10));
        assert_eq!(span(usize::MAX, 2, 1), None);
    }

    #[test]
    fn u32_helpers() {
        assert_eq!(u32_bytes(0x01020304, ByteOrder::Big), [1, 2, 3, 4]);
        assert_eq!(u32_bytes(0x01020304, ByteOrder::Little), [4, 3, 2, 1]);
        assert_eq!(u32_from([1, 2, 3, 4], ByteOrder::Big), 0x01020304);
        assert_eq!(u32_from([1, 2, 3, 4], ByteOrder::Little), 0x04030201);
    }
}
