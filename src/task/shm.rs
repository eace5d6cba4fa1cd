//! The shared-memory ring of a direct link between two tasks on one host:
//! large message bodies travel through a memory mapping instead of the
//! socket, so each crosses memory once on the way in and once on the way out
//! (the socket path copies into and out of kernel buffers in small pieces).
//!
//! Each direction of a link has its own ring, created by the sending side
//! on its first large message: a sealed memfd (it can neither shrink nor
//! grow, so the peer's mapping never faults), passed to the peer with
//! SCM_RIGHTS attached to the first frame that uses it. The socket stays the
//! only doorbell and the only order: for a body placed in the ring the link
//! carries a small control frame ([`TAG_RING`], or [`TAG_RING_NEW`] with the
//! descriptor) holding the body's ring position and the message's real
//! header. The control frame goes out first and the sender then copies the
//! body in, publishing its progress (the producer position at
//! [`COMMITTED_AT`]) every [`CHUNK`]. The receiver, when it decodes that
//! frame, waits until the whole body is in and files the message with its
//! body left in the ring (a [`Lease`]): unpacking copies it from there into
//! the program's memory, one copy on the way out instead of two (a plain C
//! model of both on the benchmark VM took a 4 MiB message one way in 480
//! to 580 µs with the extra copy, 175 to 240 µs without). The room goes
//! back to the sender when the
//! message is freed, in ring order. Ring bodies and inline frames are taken
//! in exactly the order they were sent, and the hold-until-count logic of
//! `direct` is unchanged. Waking up is the socket's readability: nobody
//! waits on the ring except a receiver already taking a body (spinning for
//! [`STALL`], then sleeping in steps until the bytes come or the sender
//! hangs up).
//!
//! Ring layout: the first 8 bytes hold the consumer position (bytes given
//! back so far, written by the receiver), the 8 at [`COMMITTED_AT`] the producer
//! position (bytes copied in so far, written by the sender); data starts at
//! [`DATA_AT`]. Positions
//! grow without bound and wrap modulo the capacity; a body may wrap. When
//! the ring is empty, the sender starts the next body at the ring's start
//! (the memory most likely still in cache). A body that does not fit now,
//! or is small, goes inline through the socket as before: the sender never
//! waits for ring space, so the link's deadlock avoidance still holds.

use crate::os::{self, SharedMap};
use crate::sync::Locked;
use crate::wire::{Frame, Header, Kind, HEADER_LEN};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tag of a control frame whose message body is in the ring.
pub const TAG_RING: i32 = -51;
/// Same, and the frame carries the ring's descriptor (its first use).
pub const TAG_RING_NEW: i32 = -52;
/// Bodies smaller than this go inline: as one record of the link's ring
/// of small frames (`crate::ring`) when the frame fits one, so every body
/// too large for a record comes here and the socket carries none of them.
const MIN_BODY: usize = crate::ring::MAX_RECORD - HEADER_LEN + 1;
/// Ring capacity in bytes: two bodies of a little over 4 MiB fit at once
/// (a 4 MiB ping-pong's message still held while the next one comes).
const CAPACITY: usize = (8 << 20) + (64 << 10);
/// Bodies start on this boundary: a copy between buffers aligned alike is
/// fast, one between buffers a few bytes apart much slower.
const ALIGN: u64 = 64;
/// Where the data area starts (the first page holds the consumer position).
const DATA_AT: usize = 4096;
/// Size of a control frame's body: position, then the message's header.
const CTL_LEN: usize = 8 + HEADER_LEN;
/// Where the producer's position lives (bytes copied in so far), a cache
/// line away from the consumer's at 0.
const COMMITTED_AT: usize = 64;
/// The sender publishes its progress every this many bytes, so the
/// receiver copies a large body out while the rest is still coming in.
const CHUNK: usize = 128 * 1024;
/// How long a receiver spins for a body's next bytes before it waits in
/// steps of [`STALL_STEP`], watching for the sender to hang up (it died in
/// the middle of a copy; one stopped by a signal or a debugger is waited
/// for, so no message is lost).
const STALL: std::time::Duration = std::time::Duration::from_millis(10);
/// One wait of a stalled receiver.
const STALL_STEP: std::time::Duration = std::time::Duration::from_millis(1);
/// Bodies at least this big have their copy into the ring timed (see
/// [`Copier`]); smaller ones take too little time to tell.
const TIMED_BODY: usize = 64 * 1024;
/// A plain copy into the ring slower than this (bytes a second) is slow:
/// 2.5 to 4 GB/s where each line the peer has read costs a round trip, 30
/// to 48 GB/s otherwise (and from memory not in any cache, above 10).
const SLOW_RATE: f64 = 8e9;
/// How long bodies are copied with streaming stores before one is copied
/// plainly again, to see whether the machine still needs them.
const STREAM_FOR: Duration = Duration::from_millis(100);

/// How the sender copies bodies into the ring. Plain stores are the fastest
/// way while the two processes share a CPU, or sit on CPUs that hand lines
/// over quickly. On some virtual machines (2-CPU AMD EPYC VMs, at times, for
/// minutes) a plain store to a line that the peer's CPU has read waits for a
/// round trip: the copy into the ring, whose lines the peer read when it
/// unpacked the body before last, ran at 2.5 to 4 GB/s, and NPpvm at 16 to 20
/// Gbps, where streaming (non-temporal) stores, which do not fetch the lines
/// they overwrite, copy at 28 GB/s. Streaming stores are slower where plain
/// ones are fast (the body goes to memory instead of staying in a cache the
/// peer shares: 100 against 150 to 170 Gbps on one CPU), so they are used only
/// after two slow plain copies in a row, for [`STREAM_FOR`], and then again at
/// once if the next plain copy is slow too. `PVM6_RING_STREAM=1` always uses
/// them, `=0` never.
#[derive(Default)]
struct Copier {
    /// Copy with streaming stores until then.
    stream_until: Option<Instant>,
    /// Slow plain copies in a row.
    slow: u8,
}

impl Copier {
    /// The `PVM6_RING_STREAM` setting, if any.
    fn forced() -> Option<bool> {
        static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
        *FORCED.get_or_init(|| match std::env::var("PVM6_RING_STREAM").as_deref() {
            Ok("1") => Some(true),
            Ok("0") => Some(false),
            _ => None,
        })
    }

    /// Whether the next body is copied with streaming stores.
    fn streaming(&self, now: Instant) -> bool {
        Copier::forced().unwrap_or_else(|| self.stream_until.is_some_and(|t| now < t))
    }

    /// Takes note of a plain copy of `len` bytes that took `took`.
    fn plain_copy(&mut self, len: usize, took: Duration, now: Instant) {
        if len < TIMED_BODY {
            return;
        }
        if (len as f64) < SLOW_RATE * took.as_secs_f64() {
            self.slow = self.slow.saturating_add(1);
            // Two in a row (one may have been preempted), or one right
            // after streaming (the machine was slow a moment ago).
            if self.slow >= 2 || self.stream_until.is_some() {
                self.stream_until = Some(now + STREAM_FOR);
                self.slow = 0;
            }
        } else {
            self.slow = 0;
            self.stream_until = None;
        }
    }
}

/// A body's room in the ring, reserved by [`Tx::place`]: send `frame`,
/// then copy the body in with [`Tx::fill`].
pub struct Placed {
    /// The control frame to write on the link.
    pub frame: Vec<u8>,
    /// The body's position in the ring.
    pos: u64,
}

/// Whether a frame read from a link refers to a body in the ring.
pub fn is_ring_frame(f: &Frame) -> bool {
    f.header.kind == Kind::Ctl && (f.header.tag == TAG_RING || f.header.tag == TAG_RING_NEW)
}

/// The sending side of one link's ring.
#[derive(Default)]
pub struct Tx {
    ring: Option<(OwnedFd, SharedMap)>,
    /// Position where the next body goes (bytes placed so far).
    head: u64,
    /// The descriptor has reached the peer.
    announced: bool,
    /// No ring for this link (creating it failed, or the peer misbehaved).
    disabled: bool,
    /// Plain or streaming stores.
    copier: Copier,
}

impl Tx {
    /// Reserves room for a message body of `len` bytes when it is large and
    /// fits now; returns the control frame to write on the link instead of
    /// the message (pass [`Tx::fd_to_pass`] with it, then call
    /// [`Tx::passed`]), after which [`Tx::fill`] copies the body in. None:
    /// send the message inline.
    pub fn place(&mut self, header: &Header, len: usize) -> Option<Placed> {
        if self.disabled || !(MIN_BODY..=CAPACITY).contains(&len) {
            return None;
        }
        if self.ring.is_none() {
            match os::sealed_memfd("pvm6-ring", DATA_AT + CAPACITY)
                .and_then(|fd| SharedMap::map(fd.as_fd(), DATA_AT + CAPACITY).map(|m| (fd, m)))
            {
                Ok(r) => self.ring = Some(r),
                Err(e) => {
                    log::debug!("no shared-memory ring: {e}");
                    self.disabled = true;
                    return None;
                }
            }
        }
        let (_, map) = self.ring.as_ref()?;
        let cap = CAPACITY as u64;
        let tail = map.load(0);
        if tail > self.head {
            log::warn!("direct link peer reported a bad ring position; ring disabled");
            self.disabled = true;
            return None;
        }
        let start = self.head.next_multiple_of(cap);
        if tail == self.head {
            self.head = start;
            // The receiver only ever stores positions it was sent; keep it in step.
            map.store(0, self.head);
        } else if start + len as u64 <= tail + cap {
            // The ring's start is free although bodies are still held (the
            // receiver keeps the last message until its next receive): go
            // back there, so that a ping-pong's bodies take turns in two
            // places still in cache instead of walking the whole ring. The
            // skipped rest counts as used until the receiver is past it.
            self.head = start;
        } else {
            self.head = self.head.next_multiple_of(ALIGN);
        }
        if self.head - map.load(0) + len as u64 > cap {
            return None;
        }
        let pos = self.head;
        self.head = pos + len as u64;
        let ctl = Header {
            len: CTL_LEN as u32,
            tag: if self.announced {
                TAG_RING
            } else {
                TAG_RING_NEW
            },
            ..Header::new(Kind::Ctl)
        };
        let mut frame = Vec::with_capacity(HEADER_LEN + CTL_LEN);
        frame.extend_from_slice(&ctl.encode());
        frame.extend_from_slice(&pos.to_be_bytes());
        frame.extend_from_slice(&header.encode());
        Some(Placed { frame, pos })
    }

    /// Copies the body of a placed message into its room, publishing the
    /// progress every [`CHUNK`] bytes (the receiver may be copying the
    /// first chunks out already).
    pub fn fill(&mut self, placed: &Placed, body: &[IoSlice<'_>]) {
        let Some((_, map)) = self.ring.as_ref() else {
            return;
        };
        let cap = CAPACITY as u64;
        let mut at = placed.pos;
        let mut unpublished = 0;
        let started = Instant::now();
        let streaming = self.copier.streaming(started);
        for s in body {
            let mut s: &[u8] = s;
            while !s.is_empty() {
                let off = (at % cap) as usize;
                let n = s.len().min(CAPACITY - off).min(CHUNK);
                if streaming {
                    map.write_at_streaming(DATA_AT + off, &s[..n]);
                } else {
                    map.write_at(DATA_AT + off, &s[..n]);
                }
                s = &s[n..];
                at += n as u64;
                unpublished += n;
                if unpublished >= CHUNK {
                    map.store(COMMITTED_AT, at);
                    unpublished = 0;
                }
            }
        }
        map.store(COMMITTED_AT, at);
        if !streaming {
            let now = Instant::now();
            let len = (at - placed.pos) as usize;
            self.copier.plain_copy(len, now - started, now);
        }
    }

    /// The ring's descriptor while the peer has not received it yet.
    pub fn fd_to_pass(&self) -> Option<BorrowedFd<'_>> {
        match &self.ring {
            Some((fd, _)) if !self.announced => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// The descriptor went out (with the first bytes of its frame).
    pub fn passed(&mut self) {
        self.announced = true;
    }
}

/// The receiving side's mapping of a ring and the bodies still held in
/// it, in ring order: each one's end and whether its message was freed.
struct RxRing {
    map: SharedMap,
    held: Mutex<VecDeque<(u64, bool)>>,
}

/// The receiving side of one link's ring.
#[derive(Default)]
pub struct Rx {
    ring: Option<Arc<RxRing>>,
    /// End of the last body taken: the next one cannot start before it.
    last_end: u64,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A message body left in the ring: the message is unpacked straight out
/// of it (one copy, into the program's memory, instead of two), and its
/// room goes back to the sender when the message is freed. The consumer
/// position then moves past it, once every body before it was freed too,
/// so the sender never writes over a body still held; while bodies are
/// held the ring has less room, and a body that does not fit goes inline
/// on the socket as before (the sender never waits for room).
pub struct Lease {
    ring: Arc<RxRing>,
    pos: u64,
    len: usize,
}

impl Lease {
    /// Copies the body's bytes from `off` on into `dst` (the ring may wrap).
    fn read(&self, off: usize, dst: &mut [u8]) -> bool {
        let cap = CAPACITY as u64;
        let mut at = self.pos + off as u64;
        let mut done = 0;
        while done < dst.len() {
            let o = (at % cap) as usize;
            let k = (dst.len() - done).min(CAPACITY - o);
            if !self.ring.map.read_to(DATA_AT + o, &mut dst[done..done + k]) {
                return false;
            }
            done += k;
            at += k as u64;
        }
        true
    }
}

impl crate::msg::InPlaceSource for Lease {
    fn len(&self) -> usize {
        self.len
    }
    fn contiguous(&self) -> Option<&[u8]> {
        // Never a slice of the other process's memory: bytes are copied out.
        None
    }
    fn gather(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.len, 0);
        if !self.read(0, &mut out[at..]) {
            out.truncate(at);
        }
    }
    fn read_at(&self, off: usize, dst: &mut [u8]) -> bool {
        match off.checked_add(dst.len()) {
            Some(e) if e <= self.len => self.read(off, dst),
            _ => false,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let end = self.pos + self.len as u64;
        let mut held = self.ring.held.locked();
        if let Some(e) = held.iter_mut().find(|e| e.0 == end) {
            e.1 = true;
        }
        let mut tail = None;
        while held.front().is_some_and(|e| e.1) {
            tail = held.pop_front().map(|e| e.0);
        }
        if let Some(t) = tail {
            self.ring.map.store(0, t);
        }
    }
}

impl Rx {
    /// The message a ring control frame stands for: maps the ring first when
    /// the frame brings it (the first of `fds`, received with the frame's
    /// bytes), waits until the sender has copied the whole body in, and
    /// returns the message with its body held in the ring ([`Lease`]).
    pub fn take(
        &mut self,
        f: &Frame,
        fds: &mut Vec<OwnedFd>,
        link: BorrowedFd<'_>,
    ) -> io::Result<Frame> {
        if f.header.tag == TAG_RING_NEW {
            if fds.is_empty() {
                return Err(bad("ring frame without its descriptor"));
            }
            let fd = fds.remove(0);
            let size = os::sealed_size(fd.as_fd())?;
            if size != DATA_AT + CAPACITY {
                return Err(bad("ring of unexpected size"));
            }
            self.ring = Some(Arc::new(RxRing {
                map: SharedMap::map(fd.as_fd(), size)?,
                held: Mutex::new(VecDeque::new()),
            }));
            self.last_end = 0;
        }
        let ring = self
            .ring
            .as_ref()
            .ok_or_else(|| bad("ring frame before its ring"))?;
        let map = &ring.map;
        if f.body.len() != CTL_LEN {
            return Err(bad("bad ring frame"));
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&f.body[..8]);
        let pos = u64::from_be_bytes(word);
        let head: &[u8; HEADER_LEN] = f.body[8..].try_into().map_err(|_| bad("bad ring frame"))?;
        let header = Header::decode(head).map_err(|_| bad("bad header in ring frame"))?;
        let len = header.len as usize;
        if len > CAPACITY || header.kind != Kind::Msg {
            return Err(bad("bad ring message"));
        }
        let end = pos
            .checked_add(len as u64)
            .ok_or_else(|| bad("bad ring position"))?;
        // Bodies follow each other, and none overlaps one still held.
        let tail = map.load(0);
        if pos < self.last_end || end.saturating_sub(tail.min(pos)) > CAPACITY as u64 {
            return Err(bad("ring body out of place"));
        }
        // The sender may still be copying: wait until the whole body is in.
        let mut seen = map.load(COMMITTED_AT);
        let mut progress = std::time::Instant::now();
        while seen < end {
            if progress.elapsed() < STALL {
                std::thread::yield_now();
            } else if os::wait_hangup(link, STALL_STEP) && map.load(COMMITTED_AT) <= seen {
                return Err(bad("the sender left in the middle of a ring body"));
            }
            let now = map.load(COMMITTED_AT);
            if now > seen {
                seen = now;
                progress = std::time::Instant::now();
            }
        }
        ring.held.locked().push_back((end, false));
        self.last_end = end;
        let lease = Lease {
            ring: Arc::clone(ring),
            pos,
            len,
        };
        Ok(Frame {
            header,
            body: Vec::new(),
            held: Some(crate::wire::HeldBody(Arc::new(lease))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_header(len: usize) -> Header {
        Header {
            len: len as u32,
            src: 0x40001,
            dst: 0x40002,
            tag: 7,
            ..Header::new(Kind::Msg)
        }
    }

    fn ctl_frame(bytes: &[u8]) -> Frame {
        let head: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
        Frame {
            header: Header::decode(head).unwrap(),
            body: bytes[HEADER_LEN..].to_vec(),
            held: None,
        }
    }

    /// The body of a message taken from the ring (held there).
    fn body_of(m: &Frame) -> Vec<u8> {
        let mut v = Vec::new();
        crate::msg::InPlaceSource::gather(m.held.as_ref().expect("held body"), &mut v);
        v
    }

    /// Passes the descriptor the way a socket would: a duplicate.
    fn dup(fd: BorrowedFd<'_>) -> OwnedFd {
        fd.try_clone_to_owned().unwrap()
    }

    #[test]
    fn bodies_round_trip_in_order_and_wrap() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let mut fds = Vec::new();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        // Small bodies stay inline.
        assert!(tx.place(&msg_header(10), 10).is_none());
        // Three 3 MiB bodies: the third wraps around the 8 MiB ring (after
        // the first two were taken) and must come back intact.
        for round in 0..3u8 {
            let a: Vec<u8> = (0..1 << 20).map(|i| (i as u8) ^ round).collect();
            let b = vec![round; 2 << 20];
            let len = a.len() + b.len();
            let placed = tx.place(&msg_header(len), len).expect("fits");
            tx.fill(&placed, &[IoSlice::new(&a), IoSlice::new(&b)]);
            let frame = placed.frame;
            if let Some(fd) = tx.fd_to_pass() {
                fds.push(dup(fd));
                tx.passed();
            }
            let f = ctl_frame(&frame);
            assert!(is_ring_frame(&f));
            assert_eq!(
                f.header.tag,
                if round == 0 { TAG_RING_NEW } else { TAG_RING }
            );
            let m = rx.take(&f, &mut fds, link.0.as_fd()).unwrap();
            assert_eq!(m.header, msg_header(len));
            assert!(m.body.is_empty());
            let body = body_of(&m);
            assert_eq!(&body[..a.len()], &a[..]);
            assert!(body[a.len()..].iter().all(|&x| x == round));
        }
    }

    #[test]
    fn copier_streams_after_two_slow_copies_and_checks_again_later() {
        let mut c = Copier::default();
        let t0 = Instant::now();
        let slow = Duration::from_millis(1); // 1 MiB in 1 ms: 1 GB/s
        let fast = Duration::from_micros(25); // 1 MiB in 25 µs: 42 GB/s
        assert!(!c.streaming(t0));
        // Small bodies say nothing, however long they took.
        c.plain_copy(TIMED_BODY - 1, slow, t0);
        c.plain_copy(TIMED_BODY - 1, slow, t0);
        assert!(!c.streaming(t0));
        // One slow copy may have been preempted; a fast one clears it.
        c.plain_copy(1 << 20, slow, t0);
        c.plain_copy(1 << 20, fast, t0);
        c.plain_copy(1 << 20, slow, t0);
        assert!(!c.streaming(t0));
        // Two in a row: streaming stores for STREAM_FOR.
        c.plain_copy(1 << 20, slow, t0);
        assert!(c.streaming(t0));
        assert!(c.streaming(t0 + STREAM_FOR - Duration::from_millis(1)));
        let later = t0 + STREAM_FOR;
        assert!(!c.streaming(later));
        // The plain copy made then is slow again: back to streaming at once.
        c.plain_copy(1 << 20, slow, later);
        assert!(c.streaming(later));
        // Once a check finds plain copies fast, they stay plain.
        let after = later + STREAM_FOR;
        assert!(!c.streaming(after));
        c.plain_copy(1 << 20, fast, after);
        assert!(!c.streaming(after));
        c.plain_copy(1 << 20, slow, after);
        assert!(!c.streaming(after));
    }

    #[test]
    fn streamed_bodies_round_trip_at_odd_offsets_and_across_the_wrap() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let mut fds = Vec::new();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        // Copies with streaming stores from the start.
        tx.copier.stream_until = Some(Instant::now() + Duration::from_secs(3600));
        let mut held = VecDeque::new();
        let mut wrapped = false;
        // Growing bodies, the one before always held: the third cannot go
        // back to the ring's start and wraps.
        for (round, mib) in [2u32, 3, 4, 3, 4].into_iter().enumerate() {
            let round = round as u32;
            // Two slices of odd lengths: the second starts off alignment.
            let a: Vec<u8> = (0..100_003u32).map(|i| (i * 31 + round) as u8).collect();
            let b: Vec<u8> = (0..(mib << 20) - 100_000)
                .map(|i| (i ^ round) as u8)
                .collect();
            let len = a.len() + b.len();
            let placed = tx.place(&msg_header(len), len).expect("fits");
            assert!(tx.copier.streaming(Instant::now()));
            wrapped |= placed.pos % CAPACITY as u64 + len as u64 > CAPACITY as u64;
            tx.fill(&placed, &[IoSlice::new(&a), IoSlice::new(&b)]);
            if let Some(fd) = tx.fd_to_pass() {
                fds.push(dup(fd));
                tx.passed();
            }
            let m = rx
                .take(&ctl_frame(&placed.frame), &mut fds, link.0.as_fd())
                .unwrap();
            let body = body_of(&m);
            assert_eq!(&body[..a.len()], &a[..], "round {round}");
            assert_eq!(&body[a.len()..], &b[..], "round {round}");
            // Keep the last one held, as a ping-pong's receiver does, so
            // bodies land at different places of the ring and wrap.
            held.push_back(m);
            if held.len() > 1 {
                held.pop_front();
            }
        }
        assert!(wrapped);
    }

    /// A thread taking the body of `placed` (passed the ring's descriptor
    /// as the first frame does) and the sender's end of their link.
    fn start_reader(
        tx: &mut Tx,
        placed: &Placed,
    ) -> (
        std::thread::JoinHandle<io::Result<Vec<u8>>>,
        std::os::unix::net::UnixStream,
    ) {
        let fd = dup(tx.fd_to_pass().unwrap());
        tx.passed();
        let f = ctl_frame(&placed.frame);
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut rx = Rx::default();
            rx.take(&f, &mut vec![fd], ours.as_fd())
                .map(|m| body_of(&m))
        });
        (reader, theirs)
    }

    #[test]
    fn receiver_takes_a_body_while_it_is_copied_in() {
        let mut tx = Tx::default();
        let len = 5 << 20;
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let placed = tx.place(&msg_header(len), len).unwrap();
        // The receiver starts before a byte is in.
        let (reader, theirs) = start_reader(&mut tx, &placed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        tx.fill(&placed, &[IoSlice::new(&body)]);
        assert!(reader.join().unwrap().unwrap() == body);
        drop(theirs);
    }

    #[test]
    fn a_sender_that_hangs_up_mid_body_is_an_error_not_a_hang() {
        let mut tx = Tx::default();
        let len = 1 << 20;
        let placed = tx.place(&msg_header(len), len).unwrap();
        let (reader, theirs) = start_reader(&mut tx, &placed);
        // Half the body, then the sender is gone.
        let half = vec![1u8; len / 2];
        let placed_half = Placed {
            frame: Vec::new(),
            pos: placed.pos,
        };
        tx.fill(&placed_half, &[IoSlice::new(&half)]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(theirs);
        let got = reader.join().unwrap();
        assert_eq!(got.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn held_bodies_give_their_room_back_in_ring_order() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let mut fds = Vec::new();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        let big = 3 << 20;
        let mut take = |tx: &mut Tx, rx: &mut Rx, fill: u8| {
            let placed = tx.place(&msg_header(big), big).expect("fits");
            tx.fill(&placed, &[IoSlice::new(&vec![fill; big])]);
            if let Some(fd) = tx.fd_to_pass() {
                fds.push(dup(fd));
                tx.passed();
            }
            rx.take(&ctl_frame(&placed.frame), &mut fds, link.0.as_fd())
                .unwrap()
        };
        let a = take(&mut tx, &mut rx, 1);
        let b = take(&mut tx, &mut rx, 2);
        // Both held: 6 of 8 MiB in use, a third body goes inline.
        assert!(tx.place(&msg_header(big), big).is_none());
        // Freeing the second gives nothing back while the first is held...
        assert_eq!(body_of(&b), vec![2; big]);
        drop(b);
        assert!(tx.place(&msg_header(big), big).is_none());
        // ...freeing the first gives both back.
        let mut piece = [0u8; 16];
        let held = a.held.as_ref().unwrap();
        assert!(crate::msg::InPlaceSource::read_at(
            held,
            big - 16,
            &mut piece
        ));
        assert_eq!(piece, [1; 16]);
        assert!(!crate::msg::InPlaceSource::read_at(
            held,
            big - 15,
            &mut piece
        ));
        drop(a);
        let c = take(&mut tx, &mut rx, 3);
        assert_eq!(body_of(&c), vec![3; big]);
    }

    /// The ring position a control frame gives its body.
    fn pos_of(frame: &[u8]) -> u64 {
        u64::from_be_bytes(frame[HEADER_LEN..HEADER_LEN + 8].try_into().unwrap())
    }

    #[test]
    fn bodies_go_back_to_the_ring_start_when_it_is_free_and_start_aligned() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let mut fds = Vec::new();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        let cap = CAPACITY as u64;
        let mut send = |tx: &mut Tx, rx: &mut Rx, len: usize| {
            let placed = tx.place(&msg_header(len), len).expect("fits");
            tx.fill(&placed, &[IoSlice::new(&vec![9u8; len])]);
            if let Some(fd) = tx.fd_to_pass() {
                fds.push(dup(fd));
                tx.passed();
            }
            let m = rx
                .take(&ctl_frame(&placed.frame), &mut fds, link.0.as_fd())
                .unwrap();
            (pos_of(&placed.frame), m)
        };
        // A ping-pong's pattern: each message is held until the next one came.
        let odd = (1 << 20) + 3;
        let (p1, m1) = send(&mut tx, &mut rx, odd);
        let (p2, m2) = send(&mut tx, &mut rx, odd);
        assert_eq!(p1, 0);
        assert_eq!(
            p2,
            (odd as u64).next_multiple_of(ALIGN),
            "after the first, aligned"
        );
        drop(m1);
        let (p3, m3) = send(&mut tx, &mut rx, odd);
        assert_eq!(p3, cap, "back at the start while the second is held");
        drop(m2);
        let (p4, m4) = send(&mut tx, &mut rx, odd);
        assert_eq!(p4, p3 + p2, "and the two places take turns");
        drop(m3);
        drop(m4);
        // Two bodies of 4 MiB and a little fit at once.
        let big = (4 << 20) + 3;
        let (_, a) = send(&mut tx, &mut rx, big);
        let (_, b) = send(&mut tx, &mut rx, big);
        assert_eq!(body_of(&a), vec![9u8; big]);
        assert_eq!(body_of(&b), vec![9u8; big]);
    }

    #[test]
    fn a_body_out_of_place_is_an_error() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        let len = MIN_BODY;
        let placed = tx.place(&msg_header(len), len).unwrap();
        tx.fill(&placed, &[IoSlice::new(&vec![0u8; len])]);
        let mut fds = vec![dup(tx.fd_to_pass().unwrap())];
        tx.passed();
        let first = rx
            .take(&ctl_frame(&placed.frame), &mut fds, link.0.as_fd())
            .unwrap();
        // The same position again: a body cannot start before the last one's end.
        let mut f = ctl_frame(&placed.frame);
        f.header.tag = TAG_RING;
        assert_eq!(
            rx.take(&f, &mut Vec::new(), link.0.as_fd())
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
        drop(first);
    }

    #[test]
    fn full_ring_falls_back_inline() {
        let mut tx = Tx::default();
        let big = 3 << 20;
        assert!(tx.place(&msg_header(big), big).is_some());
        assert!(tx.place(&msg_header(big), big).is_some());
        // Nothing was taken: 6 of 8 MiB are in use.
        assert!(tx.place(&msg_header(big), big).is_none());
        let huge = CAPACITY + 1;
        assert!(tx.place(&msg_header(huge), huge).is_none());
    }

    #[test]
    fn ring_frame_without_descriptor_is_an_error() {
        let mut tx = Tx::default();
        let body = vec![5u8; MIN_BODY];
        let placed = tx.place(&msg_header(body.len()), body.len()).unwrap();
        tx.fill(&placed, &[IoSlice::new(&body)]);
        let frame = placed.frame;
        let mut rx = Rx::default();
        let link = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(
            rx.take(&ctl_frame(&frame), &mut Vec::new(), link.0.as_fd())
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }
}
