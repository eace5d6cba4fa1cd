//! The frame: header, body, and blocking read and write.

use super::codes::{Ctl, Kind};
use crate::{Error, Result};
use std::io::{self, IoSlice, Read, Write};

/// Magic number at the start of every frame.
pub const MAGIC: u16 = u16::from_le_bytes(*b"P6");
/// Protocol version spoken by this build.
pub const VERSION: u8 = 1;
/// Size of the fixed frame header.
pub const HEADER_LEN: usize = 32;
/// Largest body accepted from a peer (a bound, not a promise: 4 GiB - 1).
pub const MAX_BODY: usize = u32::MAX as usize;
/// The largest message body a daemon accepts by default (1 GiB): far above
/// what PVM programs send in one message (the tests' largest is 256 MiB),
/// low enough that a peer's claim cannot make a daemon reserve its memory.
/// Set with `$PVM6_MAX_MESSAGE` or `pvmd3 -m<size>` (docs/HARDENING.md).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;
/// The environment variable of the largest message body.
pub const ENV_MAX_MESSAGE: &str = "PVM6_MAX_MESSAGE";
/// The smallest limit one may set: room for every control frame.
pub const MIN_MAX_MESSAGE: usize = 64 * 1024;

/// Parses a size: bytes, or with a suffix `k`, `m`, `g` (KiB, MiB, GiB;
/// either case). Between [`MIN_MAX_MESSAGE`] and [`MAX_BODY`]; `None` for
/// anything else.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1usize << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = digits.parse::<usize>().ok()?.checked_mul(unit)?;
    (MIN_MAX_MESSAGE..=MAX_BODY).contains(&n).then_some(n)
}

/// The largest message body from `$PVM6_MAX_MESSAGE`, else
/// [`DEFAULT_MAX_MESSAGE`] (an unparsable value is ignored with a warning).
pub fn max_message_from_env() -> usize {
    match std::env::var(ENV_MAX_MESSAGE) {
        Ok(v) => parse_size(&v).unwrap_or_else(|| {
            log::warn!(
                "{ENV_MAX_MESSAGE}={v:?} is not a size between {MIN_MAX_MESSAGE} and {MAX_BODY} bytes; using {DEFAULT_MAX_MESSAGE}"
            );
            DEFAULT_MAX_MESSAGE
        }),
        Err(_) => DEFAULT_MAX_MESSAGE,
    }
}

/// Tag of a feed's fence (docs/PROTOCOL.md "Feeds"): a Msg frame from a
/// task to another host's daemon, through its own, whose body is the count
/// of frames the task's feed took (two ints, high then low). Negative: no
/// user message can carry it.
pub const TAG_FEED_FENCE: i32 = -51;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub len: u32,
    pub src: i32,
    pub dst: i32,
    pub tag: i32,
    pub ctx: i32,
    pub enc: i32,
    pub wid: i32,
}

impl Header {
    /// A header of `kind` with every other field zero.
    pub fn new(kind: Kind) -> Header {
        Header {
            kind,
            len: 0,
            src: 0,
            dst: 0,
            tag: 0,
            ctx: 0,
            enc: 0,
            wid: 0,
        }
    }

    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        b[2] = VERSION;
        b[3] = self.kind as u8;
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        for (i, v) in [self.src, self.dst, self.tag, self.ctx, self.enc, self.wid]
            .iter()
            .enumerate()
        {
            b[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Parses a header; `Err(BadMsg)` for a wrong magic, version or kind.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header> {
        if u16::from_le_bytes([b[0], b[1]]) != MAGIC {
            return Err(Error::BadMsg);
        }
        if b[2] != VERSION {
            return Err(Error::BadVersion);
        }
        let kind = Kind::from_u8(b[3]).ok_or(Error::BadMsg)?;
        let word = |i: usize| i32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Ok(Header {
            kind,
            len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            src: word(8),
            dst: word(12),
            tag: word(16),
            ctx: word(20),
            enc: word(24),
            wid: word(28),
        })
    }
}

/// A whole frame: header and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub body: Vec<u8>,
    /// A message body left where it arrived (in a direct link's
    /// shared-memory ring, `task::shm`) instead of `body`, which is then
    /// empty: read when the message is unpacked, its room given back when
    /// the message is freed.
    pub held: Option<HeldBody>,
}

/// A message body held outside the frame ([`Frame::held`]).
#[derive(Clone)]
pub struct HeldBody(pub std::sync::Arc<dyn crate::msg::InPlaceSource + Sync>);

impl HeldBody {
    /// Bytes of the body.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for HeldBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeldBody({} bytes)", self.0.len())
    }
}

/// Two held bodies are equal when they are the same body.
impl PartialEq for HeldBody {
    fn eq(&self, other: &HeldBody) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for HeldBody {}

impl crate::msg::InPlaceSource for HeldBody {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn contiguous(&self) -> Option<&[u8]> {
        self.0.contiguous()
    }
    fn gather(&self, out: &mut Vec<u8>) {
        self.0.gather(out)
    }
    fn read_at(&self, off: usize, dst: &mut [u8]) -> bool {
        self.0.read_at(off, dst)
    }
}

impl Frame {
    /// A frame with `header` (its `len` is set from `body`).
    pub fn new(mut header: Header, body: Vec<u8>) -> Frame {
        header.len = body.len() as u32;
        Frame {
            header,
            body,
            held: None,
        }
    }

    /// Header and body as one byte vector (for queues of non-blocking writers).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.body.len());
        v.extend_from_slice(&self.header.encode());
        v.extend_from_slice(&self.body);
        v
    }
}

/// The slices of one frame for a vectored write: the encoded header, then
/// the body's non-empty slices.
pub fn frame_slices<'a>(head: &'a [u8], body: &'a [IoSlice<'_>]) -> Vec<IoSlice<'a>> {
    let mut v = Vec::with_capacity(body.len() + 1);
    v.push(IoSlice::new(head));
    v.extend(
        body.iter()
            .filter(|s| !s.is_empty())
            .map(|s| IoSlice::new(s)),
    );
    v
}

/// Writes a header and body slices with as few system calls as possible
/// (`writev`), looping over short writes. The header's `len` must equal the
/// total of `body`.
pub fn write_frame<W: Write>(w: &mut W, header: &Header, body: &[IoSlice<'_>]) -> io::Result<()> {
    let head = header.encode();
    let mut owned = frame_slices(&head, body);
    let mut slices: &mut [IoSlice<'_>] = &mut owned;
    while !slices.is_empty() {
        let n = match w.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Reads one whole frame (blocking). `Ok(None)` at a clean end of stream.
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Frame>> {
    read_frame_with(r, Vec::with_capacity)
}

/// [`read_frame`], with the body read into `body_vec(length)` (an empty
/// Vec, e.g. a recycled one).
pub fn read_frame_with<R: Read>(
    r: &mut R,
    body_vec: impl FnOnce(usize) -> Vec<u8>,
) -> io::Result<Option<Frame>> {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let header =
        Header::decode(&head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // Read straight into the body's final Vec, without zeroing it first.
    let len = header.len as usize;
    let mut body = body_vec(len);
    if r.take(len as u64).read_to_end(&mut body)? < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(Frame {
        header,
        body,
        held: None,
    }))
}

/// A daemon control frame (`Kind::Ctl`, `tag` the [`Ctl`] code).
pub fn ctl_frame(src: i32, dst: i32, code: Ctl, body: Vec<u8>) -> Frame {
    Frame::new(
        Header {
            src,
            dst,
            tag: code as i32,
            ..Header::new(Kind::Ctl)
        },
        body,
    )
}

impl crate::msg::MsgInfo {
    /// The attributes a received frame's header carries (no checksum).
    pub fn of(h: &Header) -> crate::msg::MsgInfo {
        crate::msg::MsgInfo {
            src: h.src,
            dst: h.dst,
            tag: h.tag,
            ctx: h.ctx,
            wid: h.wid,
            crc: 0,
        }
    }
}

/// Doorbells and frame records of the shared-memory rings ([`crate::ring`]).
/// The header of a doorbell: a body-less control frame on the socket.
pub fn doorbell() -> Header {
    Header {
        tag: Ctl::Doorbell as i32,
        ..Header::new(Kind::Ctl)
    }
}

/// Whether a frame read from the socket is a doorbell.
pub fn is_doorbell(h: &Header) -> bool {
    h.kind == Kind::Ctl && h.tag == Ctl::Doorbell as i32 && h.len == 0
}

/// The one frame a frame record holds (its body moved to the front of the
/// record's own buffer: no second allocation).
pub fn one_frame(mut v: Vec<u8>) -> std::result::Result<Frame, crate::ring::Bad> {
    let hb: &[u8; HEADER_LEN] = v
        .get(..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(crate::ring::Bad("record shorter than a frame header"))?;
    let header =
        Header::decode(hb).map_err(|_| crate::ring::Bad("bad frame header in a record"))?;
    if header.len as usize != v.len() - HEADER_LEN {
        return Err(crate::ring::Bad("record length is not its frame's"));
    }
    v.drain(..HEADER_LEN);
    Ok(Frame {
        header,
        body: v,
        held: None,
    })
}
