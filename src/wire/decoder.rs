//! The incremental frame reader of the event loops.

use super::codes::Kind;
use super::frame::{Frame, Header, HEADER_LEN};
use crate::{Error, Result};
use std::collections::VecDeque;
use std::io::{self, Read};

/// Bytes a stream reader asks for per system call outside a large body
/// (which is read whole, into place): a small frame comes whole, and at
/// most this much of a large one goes through the decoder's buffer.
/// Reads of up to 256 KiB made a 512 KiB message between two hosts take
/// 181-191 µs one way instead of 81-102 (pvm_recv, InPlace, 2-CPU VM),
/// 369 instead of 201 through the daemons, and one through the daemon of
/// one host 59-70 µs instead of 45-47 at 128 KiB.
pub const READ_STEP: usize = 16 * 1024;

/// Bodies from this size on are read straight into their own buffer
/// (`FrameDecoder::read_from`) instead of through the decoder's.
pub(super) const BIG_BODY: usize = 64 * 1024;

/// What a large body reserves before its bytes arrive (a header's length is
/// only a claim: more is allocated as the bytes really come).
const BIG_RESERVE: usize = 64 << 20;

/// A reader that can append to a Vec's spare capacity without zeroing it
/// first (sockets do: one `recv` straight into place).
pub trait ReadSpare: Read {
    /// Appends at most `max` bytes read now to `v`; returns their number.
    fn read_spare(&mut self, v: &mut Vec<u8>, max: usize) -> io::Result<usize>;
}

/// Sockets read with one `recv` into the spare capacity.
macro_rules! read_spare_by_recv {
    ($($t:ty),*) => {$(
        impl ReadSpare for &$t {
            fn read_spare(&mut self, v: &mut Vec<u8>, max: usize) -> io::Result<usize> {
                crate::os::recv_spare(std::os::fd::AsFd::as_fd(*self), v, max)
            }
        }
    )*};
}
read_spare_by_recv!(
    std::net::TcpStream,
    std::os::unix::net::UnixStream,
    mio::net::TcpStream,
    mio::net::UnixStream
);

/// Incremental frame decoder for non-blocking readers: feed bytes, take frames.
pub struct FrameDecoder {
    /// Largest body accepted: a header claiming more is an error (nothing
    /// is reserved for it, and nothing more is read).
    limit: usize,
    /// Complete frames, in order, before `big`, a landing and `buf`'s
    /// bytes: large ones read into their own Vec, small ones set apart
    /// from `buf` as they came whole.
    ready: VecDeque<Frame>,
    pub(super) buf: Vec<u8>,
    start: usize,
    /// A large frame being received: its header and the body so far.
    big: Option<(Header, Vec<u8>)>,
    /// A large frame landing in a receiver's memory ([`Landing`]): its
    /// header and the bytes landed so far.
    landing: Option<(Header, usize)>,
    /// The header of a frame that finished landing, until taken.
    landed: Option<Header>,
    /// Whether the last read got less than it asked for.
    short: bool,
    /// Large bodies begun so far (each read into its own Vec).
    bigs: u64,
}

impl Default for FrameDecoder {
    fn default() -> FrameDecoder {
        FrameDecoder::with_limit(super::frame::MAX_BODY)
    }
}

/// A receiver's offer to take the body of one large message straight into
/// its own memory (pvm_precv's buffer), saving the copy out of a message
/// buffer. Lives across the reads of one receive call.
pub struct Landing<'a> {
    /// Where the body goes; bodies longer than this do not land.
    pub dst: &'a mut [u8],
    /// The sender a frame must come from (set per link by its reader).
    pub peer: i32,
    /// Whether a message with this header is the one the receiver waits
    /// for (destination, tag, context, encoding).
    pub accepts: &'a dyn Fn(&Header) -> bool,
    /// A body is landing (on one link; no other may start).
    pub busy: bool,
    /// The header of the message that landed: the receive is over.
    pub done: Option<Header>,
}

impl Landing<'_> {
    /// Whether a frame with header `h` may start landing now.
    fn takes(&self, h: &Header) -> bool {
        !self.busy
            && self.done.is_none()
            && h.kind == Kind::Msg
            && h.src == self.peer
            && h.len as usize <= self.dst.len()
            && (self.accepts)(h)
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// An empty decoder refusing bodies longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit,
            ready: VecDeque::new(),
            buf: Vec::new(),
            start: 0,
            big: None,
            landing: None,
            landed: None,
            short: false,
            bigs: 0,
        }
    }

    /// Sets the largest body accepted from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// The largest body accepted.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The length claimed by the next frame's header when it is over the
    /// limit (the reason [`FrameDecoder::next_frame`] failed).
    pub fn oversize(&self) -> Option<usize> {
        let head = self.buf.get(self.start..self.start + HEADER_LEN)?;
        let h = Header::decode(head.try_into().ok()?).ok()?;
        (h.len as usize > self.limit).then_some(h.len as usize)
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, mut data: &[u8]) {
        if let Some((h, body)) = &mut self.big {
            let n = (h.len as usize - body.len()).min(data.len());
            body.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.settle_big();
            if data.is_empty() {
                return;
            }
        }
        self.reclaim();
        self.buf.extend_from_slice(data);
    }

    /// Appends bytes that came otherwise than by [`FrameDecoder::read_from`]
    /// (opened from a protected link's records, src/seal.rs), a large body
    /// going into its own Vec, or into the `landing` receiver's memory when
    /// it takes that message, as `read_landing` does. A landing in progress
    /// needs that same offer (`InvalidInput` without it).
    pub fn feed_landing(
        &mut self,
        mut data: &[u8],
        mut landing: Option<&mut Landing<'_>>,
    ) -> io::Result<()> {
        if let Some((h, filled)) = &mut self.landing {
            let Some(to) = landing.as_deref_mut() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a body is landing in another receiver's memory",
                ));
            };
            let len = h.len as usize;
            let n = (len - *filled).min(data.len());
            to.dst[*filled..*filled + n].copy_from_slice(&data[..n]);
            *filled += n;
            data = &data[n..];
            if *filled == len {
                self.landed = self.landing.take().map(|(h, _)| h);
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        self.feed(data);
        // One landing per receive: none after a body landed.
        self.go_large(landing.filter(|_| self.landed.is_none()));
        Ok(())
    }

    /// The length a large body being received claims, while it is
    /// incomplete (its bytes arrive in its own Vec, as they come).
    pub fn big_claim(&self) -> Option<usize> {
        self.big.as_ref().map(|(h, _)| h.len as usize)
    }

    /// The header of the large body being received, while it is incomplete.
    pub fn big_header(&self) -> Option<Header> {
        self.big.as_ref().map(|(h, _)| *h)
    }

    /// How many large bodies were begun: tells one from the next (a
    /// reader's budget for a body, daemon/receiving.rs).
    pub fn bigs_begun(&self) -> u64 {
        self.bigs
    }

    /// Bytes buffered and not yet taken.
    pub fn pending(&self) -> usize {
        let ready: usize = self.ready.iter().map(|f| HEADER_LEN + f.body.len()).sum();
        let big = self.big.as_ref().map_or(0, |(_, b)| HEADER_LEN + b.len());
        let landing = self.landing.as_ref().map_or(0, |(_, n)| HEADER_LEN + n);
        ready + self.buf.len() - self.start + big + landing
    }

    /// Whether reading on would complete something: a large body is still
    /// incomplete, or no whole frame is there to take. A reader that may
    /// leave bytes in its socket (polling it level-triggered) stops when
    /// this is false, so what the peer sends beyond waits there, not in
    /// memory, and the next large body may land in its receiver's memory.
    pub fn wants_more(&self) -> bool {
        if self.landing.is_some() {
            return true;
        }
        if let Some((h, body)) = &self.big {
            return body.len() < h.len as usize;
        }
        if !self.ready.is_empty() || self.landed.is_some() {
            return false;
        }
        match self.header_at(self.start) {
            Ok(Some(h)) => self.buf.len() - self.start < HEADER_LEN + h.len as usize,
            Ok(None) => true,
            Err(_) => false, // next_frame reports it
        }
    }

    /// The header of the frame at `at` in the buffer, once it all came
    /// (`Ok(None)` before); an error when it is malformed.
    fn header_at(&self, at: usize) -> Result<Option<Header>> {
        match self.buf.get(at..at + HEADER_LEN) {
            Some(head) => {
                let h = Header::decode(head.try_into().map_err(|_| Error::BadMsg)?)?;
                if h.len as usize > self.limit {
                    return Err(Error::NoMem);
                }
                Ok(Some(h))
            }
            None => Ok(None),
        }
    }

    /// The frame at the buffer's start, once it all came.
    fn take_buffered(&mut self) -> Result<Option<Frame>> {
        let Some(header) = self.header_at(self.start)? else {
            return Ok(None);
        };
        let (from, to) = (
            self.start + HEADER_LEN,
            self.start + HEADER_LEN + header.len as usize,
        );
        let Some(body) = self.buf.get(from..to) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start = to;
        Ok(Some(Frame {
            header,
            body,
            held: None,
        }))
    }

    /// Drops the bytes already taken from the buffer once what is left is
    /// no longer than they are: each byte is moved at most as often as
    /// bytes were taken before it, and the buffer never grows by them.
    fn reclaim(&mut self) {
        if self.start > 0 && self.buf.len() - self.start <= self.start {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Moves a large frame whose body is complete to the ready ones.
    fn settle_big(&mut self) {
        if self
            .big
            .as_ref()
            .is_some_and(|(h, body)| body.len() >= h.len as usize)
        {
            if let Some((header, body)) = self.big.take() {
                self.ready.push_back(Frame {
                    header,
                    body,
                    held: None,
                });
            }
        }
    }

    /// Whether the last read ([`FrameDecoder::read_landing`]) got less
    /// than it asked for: the socket had no more then, and an
    /// edge-triggered reader may wait for its next event.
    pub fn drained(&self) -> bool {
        self.short
    }

    /// Whether a body is landing in a receiver's memory (only that
    /// receiver's reads, with its [`Landing`], may go on).
    pub fn is_landing(&self) -> bool {
        self.landing.is_some()
    }

    /// The header of the frame that finished landing, once.
    pub fn take_landed(&mut self) -> Option<Header> {
        self.landed.take()
    }

    /// Reads what `r` has now (one read): straight into a large frame's
    /// body when one is incomplete, else through `scratch`. Returns the
    /// bytes read, 0 at end of stream; errors as `r` gives them (WouldBlock
    /// when a non-blocking reader has nothing).
    pub fn read_from<R: ReadSpare>(&mut self, r: R, scratch: &mut [u8]) -> io::Result<usize> {
        self.read_landing(r, scratch, None)
    }

    /// [`FrameDecoder::read_from`], letting a large message the `landing`
    /// receiver accepts go straight into its memory. A landing in progress
    /// needs that same offer on every read until it is done (`InvalidInput`
    /// without it); when it finishes, [`FrameDecoder::take_landed`] has its
    /// header and no frame is decoded for it.
    pub fn read_landing<R: ReadSpare>(
        &mut self,
        mut r: R,
        scratch: &mut [u8],
        landing: Option<&mut Landing<'_>>,
    ) -> io::Result<usize> {
        if let Some((h, filled)) = &mut self.landing {
            let Some(to) = landing else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a body is landing in another receiver's memory",
                ));
            };
            let len = h.len as usize;
            let n = r.read(&mut to.dst[*filled..len])?;
            self.short = n < len - *filled;
            *filled += n;
            if *filled == len {
                self.landed = self.landing.take().map(|(h, _)| h);
            }
            return Ok(n);
        }
        if let Some((h, body)) = &mut self.big {
            let ask = (h.len as usize - body.len()).min(BIG_RESERVE);
            let n = r.read_spare(body, ask)?;
            self.short = n < ask;
            self.settle_big();
            return Ok(n);
        }
        if self.header_at(self.start).is_err() {
            // A malformed or oversized header waits at the front: nothing
            // after it will be decoded, so nothing more is read (a peer
            // cannot fill memory behind a bad header).
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed or oversized frame header",
            ));
        }
        let n = r.read(scratch)?;
        self.short = n < scratch.len();
        self.feed(&scratch[..n]);
        if n > 0 {
            self.go_large(landing);
        }
        Ok(n)
    }

    /// Sets the complete frames in the decoder's buffer apart; when a large
    /// frame's body is incomplete behind them, moves what came of it out:
    /// into the receiver's memory when `landing` takes it, else into the
    /// body's own Vec; the rest then arrives there directly. A message
    /// lands only when no frame is in front of it (they are taken in order,
    /// and one of them may be the one the receiver waits for).
    fn go_large(&mut self, landing: Option<&mut Landing<'_>>) {
        if self.big.is_some() || self.landing.is_some() {
            return;
        }
        // Complete frames are set apart, in order, up to the first one
        // still incomplete: so no byte is looked at twice however long the
        // reader goes on before taking frames.
        let header = loop {
            let Ok(Some(header)) = self.header_at(self.start) else {
                return; // more to come, or malformed (next_frame reports it)
            };
            let len = header.len as usize;
            if self.buf.len() - self.start >= HEADER_LEN + len {
                if let Ok(Some(f)) = self.take_buffered() {
                    self.ready.push_back(f);
                }
                continue;
            }
            if len < BIG_BODY {
                return;
            }
            break header;
        };
        let len = header.len as usize;
        let part = &self.buf[self.start + HEADER_LEN..];
        match landing {
            Some(to) if self.ready.is_empty() && to.takes(&header) => {
                to.dst[..part.len()].copy_from_slice(part);
                to.busy = true;
                self.landing = Some((header, part.len()));
            }
            _ => {
                let mut body = Vec::with_capacity(len.min(BIG_RESERVE));
                body.extend_from_slice(part);
                self.big = Some((header, body));
                self.bigs += 1;
            }
        }
        self.buf.clear();
        self.start = 0;
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or an
    /// error for a malformed header (the connection should be closed).
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if let Some(f) = self.ready.pop_front() {
            return Ok(Some(f));
        }
        if self.landing.is_some() || self.big.is_some() {
            return Ok(None);
        }
        let Some(frame) = self.take_buffered()? else {
            if self.header_at(self.start)?.is_some() {
                // The rest of a large body goes straight into its own Vec.
                self.go_large(None);
            }
            return Ok(None);
        };
        self.reclaim();
        Ok(Some(frame))
    }
}
