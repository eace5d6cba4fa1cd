//! The wire protocol shared by tasks and daemons: frames and the control codec.
//!
//! Every exchange is a [`Frame`]: a fixed 32-byte header followed by one
//! contiguous body. The header is little-endian and versioned from the first
//! frame (see docs/PROTOCOL.md for the full description):
//!
//! ```text
//! offset size field
//!  0     2    magic   0x3650 ("P6" read as little-endian bytes 'P','6')
//!  2     1    version 1
//!  3     1    kind    (Kind)
//!  4     4    length of the body in bytes (u32)
//!  8     4    src     sending tid
//! 12     4    dst     destination tid
//! 16     4    tag     message tag, or the request code of Req/Reply frames
//! 20     4    ctx     message context
//! 24     4    enc     body encoding of Msg frames (PvmDataDefault, Raw, InPlace)
//! 28     4    wid     request id (Req/Reply) or wait id
//! ```
//!
//! Control bodies (Req/Reply) are written with [`Writer`] and read with
//! [`Reader`]: big-endian i32s and length-prefixed byte strings.

use crate::{Error, Result};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

/// Magic number at the start of every frame.
pub const MAGIC: u16 = u16::from_le_bytes(*b"P6");
/// Protocol version spoken by this build.
pub const VERSION: u8 = 1;
/// Size of the fixed frame header.
pub const HEADER_LEN: usize = 32;
/// Largest body accepted from a peer (a bound, not a promise: 4 GiB - 1).
pub const MAX_BODY: usize = u32::MAX as usize;
/// Tag of a feed's fence (docs/PROTOCOL.md "Feeds"): a Msg frame from a
/// task to another host's daemon, through its own, whose body is the count
/// of frames the task's feed took (two ints, high then low). Negative: no
/// user message can carry it.
pub const TAG_FEED_FENCE: i32 = -51;

/// What a frame carries.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user message (pvm_send & co.), routed by `dst`.
    Msg = 1,
    /// A request from a task to its daemon; `tag` is the [`Req`] code.
    Req = 2,
    /// The daemon's answer to a request with the same `wid`.
    Reply = 3,
    /// Daemon to daemon: a request served for a task of another host
    /// (`tag` the [`Req`] code, `src` the requesting task, `wid` the
    /// forwarding daemon's request id). Only on authenticated TCP links.
    DReq = 4,
    /// Daemon to daemon: the answer to the [`Kind::DReq`] with the same `wid`.
    DReply = 5,
    /// Daemon to daemon control (`tag` a [`Ctl`] code).
    Ctl = 6,
}

/// Control codes of [`Kind::Ctl`] frames between daemons (docs/PROTOCOL.md,
/// "Daemon links").
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctl {
    /// Master to a new slave: its index and the host table.
    Place = 1,
    /// Master to slaves: the host table after a change.
    Table = 2,
    /// Keeps an idle link alive.
    Heartbeat = 3,
    /// Master to a slave: stop (kill the tasks, exit).
    Halt = 4,
    /// Acceptor to connector: this link is kept; frames may flow.
    LinkOk = 5,
    /// Tell me when your task (body: tid) exits.
    Watch = 6,
    /// A watched task (body: tid) exited or never existed.
    TaskGone = 7,
    /// The full sibling list of a spawn spread over several hosts.
    Siblings = 8,
    /// Slave to master: lines a task of the slave wrote to stdout/stderr
    /// while its output goes to the log (body: tid, the lines as bytes).
    Output = 9,
    /// Who the resource manager is (body: its tid, 0 for none): a slave
    /// tells the master, the master every slave.
    Rm = 10,
    /// On a task's connection whose frames go through shared memory (see
    /// `crate::ring`): there is something in the ring for you, or room
    /// again. No body.
    Doorbell = 11,
    /// Daemon to one of its tasks: the task in the body (a tid of another
    /// host) has a feed into this daemon, so messages for it sent through
    /// this daemon go back on that feed (docs/PROTOCOL.md "Feeds").
    ReplyVia = 12,
}

impl Ctl {
    /// The control code `v`.
    pub fn from_i32(v: i32) -> Option<Ctl> {
        use Ctl::*;
        Some(match v {
            1 => Place,
            2 => Table,
            3 => Heartbeat,
            4 => Halt,
            5 => LinkOk,
            6 => Watch,
            7 => TaskGone,
            8 => Siblings,
            9 => Output,
            10 => Rm,
            11 => Doorbell,
            12 => ReplyVia,
            _ => return None,
        })
    }
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Msg),
            2 => Some(Kind::Req),
            3 => Some(Kind::Reply),
            4 => Some(Kind::DReq),
            5 => Some(Kind::DReply),
            6 => Some(Kind::Ctl),
            _ => None,
        }
    }
}

/// Request codes of task-to-daemon requests (the `tag` of Req/Reply frames).
/// Arguments and results of each are listed in docs/PROTOCOL.md.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Req {
    Connect = 1,
    Exit = 2,
    Spawn = 3,
    Kill = 4,
    SendSig = 5,
    Config = 6,
    Tasks = 7,
    Pstat = 8,
    Mstat = 9,
    Halt = 10,
    NewContext = 11,
    FreeContext = 12,
    /// pvm_putinfo / pvm_insert: store a message in the mailbox.
    MboxPut = 20,
    /// pvm_recvinfo / pvm_lookup: copy (or take) a mailbox entry.
    MboxRecv = 21,
    /// pvm_delinfo / pvm_delete: remove a mailbox entry.
    MboxDel = 22,
    /// pvm_getmboxinfo: list the mailbox classes matching a pattern.
    MboxInfo = 23,
    /// Direct routes (docs/PROTOCOL.md "Direct routes"): a task reports a
    /// link it opened to a peer. No reply.
    RouteAdd = 50,
    /// A task reports that its link to a peer closed. No reply.
    RouteDelete = 51,
    /// First frame each side writes on a direct link (never sent to a daemon).
    RouteHello = 52,
    /// The TCP addresses of another host's daemon (body: its host part or
    /// daemon tid; reply: the addresses, comma-separated), for a feed
    /// (docs/PROTOCOL.md "Feeds").
    DaemonAddr = 53,
    /// pvm_notify registration or cancel (docs/PROTOCOL.md).
    Notify = 30,
    /// The task's own output destination changed (PvmSelfOutputTid & co.).
    SetOutput = 31,
    // Misc requests (40-49): see docs/PROTOCOL.md.
    HostSync = 40,
    Tickle = 41,
    NoReset = 42,
    GetNoResets = 43,
    RegTasker = 44,
    RegHoster = 45,
    RegRm = 46,
    /// pvm_addhosts (served by the master): host lines in hostfile syntax.
    AddHosts = 60,
    /// pvm_delhosts (served by the master): host names.
    DelHosts = 61,
    // Dynamic groups (70-77), served by the master daemon: docs/PROTOCOL.md.
    /// pvm_joingroup.
    GroupJoin = 70,
    /// pvm_lvgroup.
    GroupLeave = 71,
    /// pvm_gettid.
    GroupTid = 72,
    /// pvm_getinst.
    GroupInst = 73,
    /// pvm_gsize.
    GroupSize = 74,
    /// pvm_barrier: replied at once; the release is a message.
    GroupBarrier = 75,
    /// The members of a group (for bcast, reduce, gather, scatter).
    GroupMembers = 76,
    /// pvm_freezegroup: replied at once; the release is a message.
    GroupFreeze = 77,
}

impl Req {
    /// The request with code `v`.
    pub fn from_i32(v: i32) -> Option<Req> {
        use Req::*;
        Some(match v {
            1 => Connect,
            2 => Exit,
            3 => Spawn,
            4 => Kill,
            5 => SendSig,
            6 => Config,
            7 => Tasks,
            8 => Pstat,
            9 => Mstat,
            10 => Halt,
            11 => NewContext,
            12 => FreeContext,
            20 => MboxPut,
            21 => MboxRecv,
            22 => MboxDel,
            23 => MboxInfo,
            50 => RouteAdd,
            51 => RouteDelete,
            52 => RouteHello,
            53 => DaemonAddr,
            30 => Notify,
            31 => SetOutput,
            40 => HostSync,
            41 => Tickle,
            42 => NoReset,
            43 => GetNoResets,
            44 => RegTasker,
            45 => RegHoster,
            46 => RegRm,
            60 => AddHosts,
            61 => DelHosts,
            70 => GroupJoin,
            71 => GroupLeave,
            72 => GroupTid,
            73 => GroupInst,
            74 => GroupSize,
            75 => GroupBarrier,
            76 => GroupMembers,
            77 => GroupFreeze,
            _ => return None,
        })
    }
}

/// A frame header.
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
const BIG_BODY: usize = 64 * 1024;

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
#[derive(Default)]
pub struct FrameDecoder {
    /// Complete frames, in order, before `big`, a landing and `buf`'s
    /// bytes: large ones read into their own Vec, small ones set apart
    /// from `buf` as they came whole.
    ready: VecDeque<Frame>,
    buf: Vec<u8>,
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
            Some(head) => Header::decode(head.try_into().map_err(|_| Error::BadMsg)?).map(Some),
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

/// Writer of control bodies: big-endian i32s and length-prefixed strings.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty body.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// Appends an i32.
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a byte string (length, then bytes).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends a UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Appends a list of strings (count, then each).
    pub fn strs<S: AsRef<[u8]>>(&mut self, v: &[S]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.bytes(s.as_ref());
        }
        self
    }
    /// The body bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reader of control bodies; every getter fails with `BadMsg` on short input.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }
    /// Next i32.
    pub fn int(&mut self) -> Result<i32> {
        let (head, rest) = self.data.split_first_chunk::<4>().ok_or(Error::BadMsg)?;
        self.data = rest;
        Ok(i32::from_be_bytes(*head))
    }
    /// Next count, checked against the bytes left (each item takes at least
    /// `min_item` bytes) so a hostile count cannot make us allocate.
    pub fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.int()?;
        let n = usize::try_from(n).map_err(|_| Error::BadMsg)?;
        if n.saturating_mul(min_item.max(1)) > self.data.len() && min_item > 0 {
            return Err(Error::BadMsg);
        }
        Ok(n)
    }
    /// Next byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.count(1)?;
        if n > self.data.len() {
            return Err(Error::BadMsg);
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    /// Next string (lossy UTF-8).
    pub fn str(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// Next list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>> {
        let n = self.count(4)?;
        (0..n).map(|_| self.str()).collect()
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            kind: Kind::Msg,
            len: 7,
            src: 0x40001,
            dst: 0x40002,
            tag: -1,
            ctx: 3,
            enc: 1,
            wid: 9,
        };
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        let mut bad = h.encode();
        bad[0] = 0;
        assert_eq!(Header::decode(&bad), Err(Error::BadMsg));
        let mut bad = h.encode();
        bad[3] = 99;
        assert_eq!(Header::decode(&bad), Err(Error::BadMsg));
    }

    /// A reader that hands out at most 7000 bytes a call.
    struct Dribble<'a>(&'a [u8]);
    impl ReadSpare for &mut Dribble<'_> {
        fn read_spare(&mut self, v: &mut Vec<u8>, max: usize) -> io::Result<usize> {
            let len = v.len();
            v.resize(len + max.min(64 * 1024), 0);
            let got = self.read(&mut v[len..]);
            v.truncate(len + *got.as_ref().unwrap_or(&0));
            got
        }
    }
    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(7000);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn msg(src: i32, tag: i32, body: Vec<u8>) -> Frame {
        let mut h = Header::new(Kind::Msg);
        h.src = src;
        h.tag = tag;
        Frame::new(h, body)
    }

    #[test]
    fn decoder_lands_the_accepted_large_body_in_the_receivers_memory() {
        let body = |seed: u32| (0..200_000u32).map(|i| (i * 7 + seed) as u8).collect();
        let small = msg(5, 2, b"first".to_vec());
        let wanted = msg(5, 2, body(1));
        let other = msg(5, 3, body(2));
        let mut all = wanted.to_bytes();
        for f in [&small, &other, &small] {
            all.extend(f.to_bytes());
        }
        let mut src = Dribble(&all);
        let mut d = FrameDecoder::new();
        let mut scratch = vec![0u8; 4096];
        let mut mem = vec![0u8; 300_000];
        let accepts = |h: &Header| h.tag == 2;
        let mut landing = Landing {
            dst: &mut mem,
            peer: 5,
            accepts: &accepts,
            busy: false,
            done: None,
        };
        let mut got = Vec::new();
        let mut refused = false;
        for _ in 0..10_000 {
            if d.is_landing() && !refused {
                // Only the receiver whose memory it is may go on reading.
                let e = d.read_landing(&mut src, &mut scratch, None).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
                refused = true;
            }
            if d.read_landing(&mut src, &mut scratch, Some(&mut landing))
                .unwrap()
                == 0
            {
                break;
            }
            if let Some(h) = d.take_landed() {
                landing.busy = false;
                landing.done = Some(h);
            }
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert!(refused);
        // The frames after it are decoded as usual, the large one of
        // another tag too (a landing is for one message).
        assert_eq!(got, vec![small.clone(), other, small]);
        assert_eq!(landing.done, Some(wanted.header));
        assert_eq!(&mem[..200_000], &wanted.body[..]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn decoder_lands_nothing_too_long_or_from_another_sender() {
        for (peer, room) in [(6, 300_000), (5, 100_000)] {
            let wanted = msg(5, 2, vec![9u8; 200_000]);
            let all = wanted.to_bytes();
            let mut src = Dribble(&all);
            let mut d = FrameDecoder::new();
            let mut scratch = vec![0u8; 4096];
            let mut mem = vec![0u8; room];
            let accepts = |_: &Header| true;
            let mut landing = Landing {
                dst: &mut mem,
                peer,
                accepts: &accepts,
                busy: false,
                done: None,
            };
            let mut got = Vec::new();
            for _ in 0..10_000 {
                if d.read_landing(&mut src, &mut scratch, Some(&mut landing))
                    .unwrap()
                    == 0
                {
                    break;
                }
                assert!(!d.is_landing() && d.take_landed().is_none());
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, vec![wanted]);
            assert!(!landing.busy && landing.done.is_none());
        }
    }

    #[test]
    fn decoder_reads_large_bodies_straight_into_place() {
        let big = Frame::new(
            Header::new(Kind::Msg),
            (0..200_000u32).map(|i| i as u8).collect(),
        );
        let small = Frame::new(Header::new(Kind::Req), b"after".to_vec());
        let mut all = small.to_bytes();
        all.extend(big.to_bytes());
        all.extend(small.to_bytes());
        let mut src = Dribble(&all);
        let mut d = FrameDecoder::new();
        let mut scratch = vec![0u8; 4096];
        let mut got = Vec::new();
        for _ in 0..10_000 {
            if d.read_from(&mut src, &mut scratch).unwrap() == 0 {
                break;
            }
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![small.clone(), big, small]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn large_bodies_keep_their_own_vecs_when_frames_are_not_taken_between_reads() {
        // A reader that goes on reading (the daemon's edge-triggered one)
        // before taking frames: each large body still goes straight into
        // its own Vec, small frames in front of a large one are set apart,
        // and the frames come out in the order they were sent.
        let big = |seed: u32| {
            Frame::new(
                Header::new(Kind::Msg),
                (0..150_000u32).map(|i| (i * 3 + seed) as u8).collect(),
            )
        };
        let small = Frame::new(Header::new(Kind::Req), b"s".to_vec());
        let sent = vec![big(1), big(2), small.clone(), big(3), small.clone(), small];
        let all: Vec<u8> = sent.iter().flat_map(|f| f.to_bytes()).collect();
        let mut src = Dribble(&all);
        let mut d = FrameDecoder::new();
        let mut scratch = vec![0u8; 4096];
        let mut most_buffered = 0;
        while d.read_from(&mut src, &mut scratch).unwrap() > 0 {
            most_buffered = most_buffered.max(d.buf.len());
        }
        assert!(
            most_buffered < 8192,
            "{most_buffered} bytes went through the buffer"
        );
        let mut got = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            got.push(f);
        }
        assert_eq!(got, sent);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn wants_more_until_a_frame_is_whole() {
        let f = msg(5, 2, vec![7u8; 100_000]);
        let bytes = f.to_bytes();
        let mut d = FrameDecoder::new();
        assert!(d.wants_more());
        let mut src = Dribble(&bytes);
        let mut scratch = vec![0u8; 4096];
        let mut reads = 0;
        while d.wants_more() {
            assert!(d.read_from(&mut src, &mut scratch).unwrap() > 0);
            reads += 1;
        }
        assert!(reads > 1);
        assert_eq!(d.next_frame().unwrap(), Some(f));
        assert!(d.wants_more());
        // A whole small frame: nothing more is needed to take it.
        d.feed(&msg(5, 3, b"x".to_vec()).to_bytes()[..HEADER_LEN]);
        assert!(d.wants_more());
        d.feed(b"x");
        assert!(!d.wants_more());
    }

    #[test]
    fn frames_come_out_in_order_however_reads_and_takes_interleave() {
        // Seeded runs: small and large frames, reads of random sizes,
        // frames taken (or not) between reads, and a receiver that from a
        // random read on offers its memory for one tag until a message
        // lands there. Every frame comes out once, in the order sent,
        // either as a frame or as the landing it was.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut landed = 0;
        for _ in 0..60 {
            let sent: Vec<Frame> = (0..12)
                .map(|i| {
                    let len = match next(3) {
                        0 => next(40) as usize,
                        1 => next(20_000) as usize,
                        _ => BIG_BODY + next(150_000) as usize,
                    };
                    let body = (0..len).map(|k| (k as u32 * 7 + i) as u8).collect();
                    msg(5, 1 + next(2) as i32, body)
                })
                .collect();
            let all: Vec<u8> = sent.iter().flat_map(|f| f.to_bytes()).collect();
            let mut src = Dribble(&all);
            let mut d = FrameDecoder::new();
            let mut scratch = vec![0u8; 1 + next(70_000) as usize];
            let mut mem = vec![0u8; 250_000];
            let accepts = |h: &Header| h.tag == 2;
            let mut got: Vec<Frame> = Vec::new();
            let mut offered = false;
            loop {
                let mut landing = Landing {
                    dst: &mut mem,
                    peer: 5,
                    accepts: &accepts,
                    busy: d.is_landing(),
                    done: None,
                };
                // A landing in progress needs its receiver on every read.
                offered = d.is_landing() || offered || next(3) == 0;
                let read = d.read_landing(&mut src, &mut scratch, offered.then_some(&mut landing));
                let n = read.unwrap();
                if let Some(h) = d.take_landed() {
                    let len = h.len as usize;
                    got.push(Frame::new(h, landing.dst[..len].to_vec()));
                    offered = false;
                    landed += 1;
                }
                if n == 0 || next(3) != 0 {
                    while let Some(f) = d.next_frame().unwrap() {
                        got.push(f);
                    }
                }
                if n == 0 {
                    break;
                }
            }
            assert_eq!(got.len(), sent.len());
            for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
                assert_eq!(g.header, s.header, "frame {i}");
                assert!(g.body == s.body, "frame {i}: body differs");
            }
            assert_eq!(d.pending(), 0);
        }
        assert!(landed > 10, "only {landed} landings");
    }

    #[test]
    fn decoder_handles_split_and_joined_frames() {
        let f1 = Frame::new(Header::new(Kind::Msg), b"hello".to_vec());
        let f2 = Frame::new(Header::new(Kind::Req), vec![]);
        let mut all = f1.to_bytes();
        all.extend(f2.to_bytes());
        let mut d = FrameDecoder::new();
        for b in &all {
            d.feed(std::slice::from_ref(b));
        }
        assert_eq!(d.next_frame().unwrap().unwrap(), f1);
        assert_eq!(d.next_frame().unwrap().unwrap(), f2);
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn control_codec_round_trip_and_short_input() {
        let body = Writer::new().int(-5).str("abc").strs(&["x", "yz"]).finish();
        let mut r = Reader::new(&body);
        assert_eq!(r.int().unwrap(), -5);
        assert_eq!(r.str().unwrap(), "abc");
        assert_eq!(r.strs().unwrap(), vec!["x", "yz"]);
        assert!(r.is_empty());
        assert_eq!(Reader::new(&body[..2]).int(), Err(Error::BadMsg));
        let huge = Writer::new().int(i32::MAX).finish();
        assert_eq!(Reader::new(&huge).strs(), Err(Error::BadMsg));
    }

    #[test]
    fn blocking_read_write() {
        let mut out = Vec::new();
        let h = Header {
            len: 3,
            ..Header::new(Kind::Reply)
        };
        write_frame(&mut out, &h, &[IoSlice::new(b"ab"), IoSlice::new(b"c")]).unwrap();
        let f = read_frame(&mut &out[..]).unwrap().unwrap();
        assert_eq!(f.body, b"abc");
        assert_eq!(read_frame(&mut &[][..]).unwrap(), None);
    }
}
