//! Link I/O of the direct routes: one [`Link`] over a connected [`Stream`]
//! reads frames into its decoder (without the state lock; whoever holds it
//! takes them out), lands large bodies straight into a receive buffer,
//! passes small frames through a shared ring (Unix links) and large bodies
//! through shared memory (`super::shm`), writes frames (reading every link
//! meanwhile so two senders never block each other; that sending side is
//! in link/send.rs), and writes and parses the hello. Which link a message takes is [`super::route`]'s business.
//! A TCP link (another host) is protected by src/seal.rs once its handshake
//! is done, unless the machine's level is `none`: frames are sealed as they
//! are written and opened as they are read; a record that fails to open
//! closes the link (reported on stderr) and nothing of it is delivered.

use super::shm;
use super::transport::Stream;
use crate::auth::{Acceptor, Role, Secret, Step};
use crate::os::SharedMap;
use crate::ring::{self, Consumer, Dir, Producer, Record};
use crate::seal::{Keys, Level, Opener, Sealer};
use crate::wire::{Frame, FrameDecoder, Kind, Landing, Reader, Req};
use crate::{os, tid};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

mod send;

/// Bytes read from a Unix link per system call (TCP links read
/// `wire::READ_STEP` at a time, protected ones [`SEALED_CHUNK`]).
const READ_CHUNK: usize = 256 * 1024;
/// Bytes read from a protected TCP link per system call (several records).
const SEALED_CHUNK: usize = 256 * 1024;

/// Tag of the control frame (body-less, on the socket) that passes a Unix
/// link's ring for small frames (`crate::ring`) to the peer with SCM_RIGHTS.
const TAG_SMALL_RING: i32 = -53;
/// The ring of a Unix link's small frames: the producer's side of the pair
/// of rings `crate::ring::create` makes (the other one is not used).
pub(super) const SMALL_DIR: Dir = Dir::ToDaemon;

use crate::sync::Locked;

/// Received bytes of a link, decoded into frames by whoever holds the
/// state lock.
struct Rx {
    decoder: FrameDecoder,
    buf: Vec<u8>,
    /// End of stream, a read error or a malformed frame: nothing more comes.
    closed: bool,
    /// Descriptors received with the bytes (a shared-memory ring's).
    fds: Vec<OwnedFd>,
    /// The peer's shared-memory ring (`shm`; Unix links only).
    ring: shm::Rx,
    /// The peer's ring of small frames, once its offer came (Unix links).
    small: Option<Consumer>,
    /// What was taken from that ring and not given out yet, in order: a
    /// frame, or None for a marker (the next frame is on the socket).
    queue: VecDeque<Option<Frame>>,
    /// Frames read from the socket after the ring's offer, each waiting
    /// for its marker in `queue`.
    sock_q: VecDeque<Frame>,
    /// Frames read from the socket before that offer, not given out yet.
    pre: VecDeque<Frame>,
    /// An accepted TCP connection's handshake, until it succeeded.
    auth: Option<Box<Acceptor>>,
    /// Opens what a protected TCP link receives (src/seal.rs).
    opener: Option<Opener>,
}

/// The sending side of a link (held by a writer for one whole frame).
#[derive(Default)]
struct Tx {
    /// Our shared-memory ring for large bodies (`shm`).
    big: shm::Tx,
    /// Our ring for small frames, once its descriptor went to the peer.
    small: Option<Producer>,
    /// No ring for small frames on this link (TCP, or it could not be made).
    small_off: bool,
}

/// One open link (a connected stream socket, non-blocking).
pub struct Link {
    stream: Stream,
    rx: Mutex<Rx>,
    /// Held by a writer for one whole frame; our shared-memory rings.
    tx: Mutex<Tx>,
    /// The peer's ring of small frames (also in `Rx`), for looking at it
    /// without the lock and without a system call.
    small_in: OnceLock<Arc<SharedMap>>,
    /// A marker was taken from that ring and its frame is still to be
    /// read from the socket.
    want_socket: AtomicBool,
    /// The peer's tid once known (0 before its hello was checked).
    peer: AtomicI32,
    /// A write failed: the peer is gone; do not send here any more.
    broken: AtomicBool,
    /// The tid an accepted TCP connection proved (by the handshake) it
    /// speaks for; 0 for Unix links and before the handshake.
    authed: AtomicI32,
    /// The program polls the links' sockets itself (pvm_getfds): peers
    /// ring the socket after every record they put in this link's ring.
    ring_always: AtomicBool,
    /// When the link was made.
    opened: std::time::Instant,
    /// Seals what we write on a protected TCP link; taken by a writer
    /// (holding `tx`) and by nothing else while held.
    sealer: Mutex<Option<Sealer>>,
}

impl Link {
    /// A link over `stream`; `ring_always`: see [`Link::set_ring_always`].
    pub(super) fn new(stream: Stream, ring_always: bool) -> io::Result<Link> {
        stream.set_nonblocking(true)?;
        let small_off = !matches!(stream, Stream::Unix(_));
        Ok(Link {
            stream,
            rx: Mutex::new(Rx {
                decoder: FrameDecoder::new(),
                buf: Vec::new(),
                closed: false,
                fds: Vec::new(),
                ring: shm::Rx::default(),
                small: None,
                queue: VecDeque::new(),
                sock_q: VecDeque::new(),
                pre: VecDeque::new(),
                auth: None,
                opener: None,
            }),
            tx: Mutex::new(Tx {
                small_off,
                ..Tx::default()
            }),
            small_in: OnceLock::new(),
            want_socket: AtomicBool::new(false),
            peer: AtomicI32::new(0),
            broken: AtomicBool::new(false),
            authed: AtomicI32::new(0),
            ring_always: AtomicBool::new(ring_always),
            opened: std::time::Instant::now(),
            sealer: Mutex::new(None),
        })
    }

    /// Protects the link with the keys of its handshake (the connecting
    /// side; None: level none). Before anything is sent or read.
    pub(super) fn set_keys(&self, keys: Option<Keys>) {
        if let Some(k) = keys {
            self.rx().opener = Some(k.rx);
            *self.sealer.locked() = Some(k.tx);
        }
    }

    /// An accepted TCP connection: its bytes go to the handshake first.
    pub(super) fn accepted_tcp(
        stream: Stream,
        secret: &Secret,
        level: Level,
        ring_always: bool,
    ) -> io::Result<Link> {
        let l = Link::new(stream, ring_always)?;
        l.rx().auth = Some(Box::new(Acceptor::new(secret, level)));
        Ok(l)
    }

    /// Feeds received bytes to a pending handshake. Returns what belongs to
    /// the frame decoder (bytes after the handshake), or None while the
    /// handshake goes on; a failure closes the link (logged).
    fn feed_auth(&self, rx: &mut Rx, input: &[u8]) -> Option<Vec<u8>> {
        let acceptor = rx.auth.as_mut()?;
        let fail = |rx: &mut Rx, why: String| {
            log::warn!("direct link refused: authentication failed ({why})");
            rx.closed = true;
            rx.auth = None;
            None
        };
        let out = match acceptor.feed(input) {
            Ok(Step::NeedMore) => return None,
            Ok(Step::Send(out)) => (out, None),
            Ok(Step::Done { peer, send, rest }) => {
                if peer.role != Role::Route || !tid::is_task(peer.claimed_id) {
                    return fail(rx, format!("{:?} {}", peer.role, peer.claimed_id));
                }
                self.authed.store(peer.claimed_id, Ordering::Relaxed);
                if let Some(k) = acceptor.take_keys() {
                    rx.opener = Some(k.rx);
                    // A leaf lock: nothing else is taken while it is held.
                    *self.sealer.locked() = Some(k.tx);
                }
                (send, Some(rest))
            }
            Err(e) => return fail(rx, format!("{e:?}")),
        };
        let (send, rest) = out;
        if !send.is_empty() {
            // A handshake message is small: a fresh socket takes it whole.
            let sent = os::send_nonblocking(self.fd(), &[IoSlice::new(&send)]);
            if !matches!(sent, Ok(n) if n == send.len()) {
                return fail(rx, "can't answer".into());
            }
        }
        if rest.is_some() {
            rx.auth = None;
        }
        rest
    }

    /// The socket's descriptor.
    /// The peer's tid once its hello was checked (0 before).
    pub(super) fn peer(&self) -> i32 {
        self.peer.load(Ordering::Relaxed)
    }

    pub(super) fn set_peer(&self, tid: i32) {
        self.peer.store(tid, Ordering::Relaxed);
    }

    /// Whether a write failed (the peer is gone).
    pub(super) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    pub(super) fn set_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
    }

    /// The tid an accepted TCP connection proved it speaks for (0 for Unix
    /// links and before the handshake).
    pub(super) fn authed(&self) -> i32 {
        self.authed.load(Ordering::Relaxed)
    }

    /// Whether the link is a Unix socket (same host; the peer's uid was checked).
    pub(super) fn is_unix(&self) -> bool {
        matches!(self.stream, Stream::Unix(_))
    }

    /// Bytes in the decoder not yet made into a frame.
    #[cfg(test)]
    pub(super) fn decoder_pending(&self) -> usize {
        self.rx().decoder.pending()
    }

    /// When the link was made.
    pub(super) fn opened(&self) -> std::time::Instant {
        self.opened
    }

    /// From now on the peer rings the socket after every record it puts in
    /// our ring of small frames (the program polls the socket itself:
    /// pvm_getfds), so a readable socket alone says when one came.
    pub(super) fn set_ring_always(&self) {
        self.ring_always.store(true, Ordering::Relaxed);
        if let Some(m) = self.small_in() {
            ring::ring_always(m, SMALL_DIR);
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    fn rx(&self) -> std::sync::MutexGuard<'_, Rx> {
        self.rx.locked()
    }

    /// Whether a message body is landing in a receiver's memory.
    pub fn is_landing(&self) -> bool {
        self.rx().decoder.is_landing()
    }

    /// Whether reading ended (nothing more will arrive).
    pub fn is_closed(&self) -> bool {
        self.rx().closed
    }

    /// Reads everything available now into the decoder (never blocks).
    /// While an accepted TCP connection's handshake runs, the bytes go to it.
    /// With `landing` (a receiver waiting for a message) and `may_land`
    /// (`Routes::landable`), a large matching body on a TCP link lands in
    /// the receiver's memory; once one started, it is read to its end with
    /// that landing whatever `may_land` says, and reads without it leave
    /// the link alone.
    pub fn fill(&self, mut landing: Option<&mut Landing<'_>>, may_land: bool) {
        let mut rx = self.rx();
        if rx.closed {
            return;
        }
        let landing_here = rx.decoder.is_landing();
        if let Some(l) = landing.as_deref_mut() {
            l.peer = self.peer.load(Ordering::Relaxed);
        }
        let mut landing = match landing {
            Some(l) if landing_here || (may_land && !l.busy && l.done.is_none()) => Some(l),
            _ if landing_here => return,
            _ => None,
        };
        if rx.buf.is_empty() {
            let size = match self.stream {
                Stream::Unix(_) => READ_CHUNK,
                Stream::Tcp(_) if rx.opener.is_some() => SEALED_CHUNK,
                Stream::Tcp(_) => crate::wire::READ_STEP,
            };
            rx.buf = vec![0u8; size];
        }
        loop {
            let rx = &mut *rx;
            // Unix links may pass a shared-memory ring's descriptor (`shm`).
            let got = match &self.stream {
                Stream::Unix(_) => os::recv_with_fds(self.fd(), &mut rx.buf, &mut rx.fds),
                // After the handshake, large bodies are read straight into place.
                // Reading stops once something is complete: what the peer
                // sent beyond stays in the socket (its flow control holds
                // a fast sender back) and may land at the next receive.
                // Protected: records are read through `buf`, opened, and
                // their bytes fed (landing as above).
                Stream::Tcp(_) if rx.auth.is_none() && rx.opener.is_some() => {
                    match self.stream.read(&mut rx.buf) {
                        Ok(n) if n > 0 => {
                            if let Err(why) = Self::open_in(rx, n, landing.as_deref_mut()) {
                                self.refused(rx, &why, landing);
                                return;
                            }
                            if let Some(h) = rx.decoder.take_landed() {
                                if let Some(l) = landing.take() {
                                    l.busy = false;
                                    l.done = Some(h);
                                }
                                return;
                            }
                            if n == rx.buf.len() && rx.decoder.wants_more() {
                                continue;
                            }
                            return;
                        }
                        other => other,
                    }
                }
                Stream::Tcp(t) if rx.auth.is_none() => {
                    let Rx { decoder, buf, .. } = rx;
                    let got = decoder.read_landing(t, buf, landing.as_deref_mut());
                    if let Some(h) = decoder.take_landed() {
                        if let Some(l) = landing.take() {
                            l.busy = false;
                            l.done = Some(h);
                        }
                        return;
                    }
                    match got {
                        Ok(n) if n > 0 && decoder.wants_more() && !decoder.drained() => continue,
                        Ok(n) if n > 0 => return,
                        other => other,
                    }
                }
                Stream::Tcp(_) => self.stream.read(&mut rx.buf),
            };
            match got {
                Ok(0) => rx.closed = true,
                Ok(n) => {
                    if rx.auth.is_some() {
                        let input = rx.buf[..n].to_vec();
                        match self.feed_auth(rx, &input) {
                            Some(mut rest) => {
                                let opened = match rx.opener.as_mut() {
                                    Some(o) => {
                                        let d = &mut rx.decoder;
                                        o.open(&mut rest, |b| d.feed(b))
                                            .map_err(|e| format!("{}", e))
                                    }
                                    None => {
                                        rx.decoder.feed(&rest);
                                        Ok(())
                                    }
                                };
                                if let Err(why) = opened {
                                    self.refused(rx, &why, landing);
                                    return;
                                }
                            }
                            None if rx.closed => return,
                            None => {}
                        }
                    } else {
                        rx.decoder.feed(&rx.buf[..n]);
                    }
                    if n == rx.buf.len() {
                        continue;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    log::debug!("link read failed: {e}");
                    rx.closed = true;
                }
            }
            if rx.closed && rx.decoder.is_landing() {
                log::debug!("direct link ended while a message landed; that message is lost");
                if let Some(l) = landing {
                    l.busy = false;
                }
            }
            return;
        }
    }

    /// Opens the `n` bytes read into `rx.buf` into the decoder.
    fn open_in(rx: &mut Rx, n: usize, mut landing: Option<&mut Landing<'_>>) -> Result<(), String> {
        let Rx {
            decoder,
            buf,
            opener,
            ..
        } = rx;
        let Some(o) = opener.as_mut() else {
            decoder.feed(&buf[..n]);
            return Ok(());
        };
        let mut bad = None;
        o.open(&mut buf[..n], |b| {
            if let Err(e) = decoder.feed_landing(b, landing.as_deref_mut()) {
                bad.get_or_insert(e);
            }
        })
        .map_err(|e| e.to_string())?;
        match bad {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    /// A protected link's record failed to open: the link ends here,
    /// nothing of it is delivered, and the user is told why (stderr, like
    /// the library's other reports about direct links).
    fn refused(&self, rx: &mut Rx, why: &str, landing: Option<&mut Landing<'_>>) {
        use std::io::Write;
        // Frames completed before the refused record came from records
        // that opened: they are delivered; what the refused one began is not.
        self.decode(rx);
        rx.closed = true;
        rx.decoder = FrameDecoder::new();
        if let Some(l) = landing {
            l.busy = false;
        }
        self.stream.shutdown();
        let peer = match self.peer() {
            0 => self.authed(),
            p => p,
        };
        let _ = writeln!(
            std::io::stderr().lock(),
            "libpvm [{}]: direct link to {} closed: {why}",
            super::logging::who(),
            tid::fmt(peer)
        );
    }

    /// The complete frames received so far, and whether the link ended.
    /// Once the peer's ring of small frames came, frames are given out in
    /// the ring's order, each socket frame in the place of its marker.
    pub(super) fn take_frames(&self) -> (Vec<Frame>, bool) {
        let mut rx = self.rx();
        self.decode(&mut rx);
        let mut frames: Vec<Frame> = rx.pre.drain(..).collect();
        let room_due = self.drain_small(&mut rx);
        // In the ring's order; a large body's control frame is taken (its
        // body looked up in the large bodies' ring) only in its turn, after
        // the one that brought that ring.
        let Rx {
            queue,
            sock_q,
            ring: big,
            fds,
            closed,
            ..
        } = &mut *rx;
        while let Some(item) = queue.front_mut() {
            let f = match item.take() {
                Some(f) => f,
                None => match sock_q.pop_front() {
                    Some(f) => f,
                    None => break,
                },
            };
            queue.pop_front();
            if !shm::is_ring_frame(&f) {
                frames.push(f);
                continue;
            }
            match big.take(&f, fds, self.fd()) {
                Ok(m) => frames.push(m),
                Err(e) => {
                    log::warn!("bad shared-memory frame on a direct link ({e}); link closed");
                    *closed = true;
                    queue.clear();
                    break;
                }
            }
        }
        self.want_socket
            .store(!rx.queue.is_empty() && !rx.closed, Ordering::Relaxed);
        let ended = rx.closed;
        if ended {
            rx.buf = Vec::new();
        }
        drop(rx);
        if room_due {
            self.ring_peer();
        }
        (frames, ended)
    }

    /// Moves the frames complete in the decoder to `pre` (before the
    /// peer's ring of small frames came) or `sock_q` (after: each waits for
    /// its marker); takes the ring's offer and drops doorbells on the way.
    /// A malformed frame closes the link.
    fn decode(&self, rx: &mut Rx) {
        loop {
            let f = match rx.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    log::warn!("malformed frame on a direct link ({e}); link closed");
                    rx.closed = true;
                    return;
                }
            };
            let got = if is_small_offer(&f) {
                self.accept_small(rx).map(|()| None)
            } else if crate::wire::is_doorbell(&f.header) {
                // Also before the peer's ring came: the peer rings when it
                // took from ours, whether or not it has sent its own yet.
                Ok(None)
            } else if shm::is_ring_frame(&f) && rx.small.is_none() {
                let Rx { ring, fds, .. } = &mut *rx;
                ring.take(&f, fds, self.fd()).map(Some)
            } else {
                Ok(Some(f))
            };
            match got {
                Ok(Some(f)) if rx.small.is_some() => rx.sock_q.push_back(f),
                Ok(Some(f)) => rx.pre.push_back(f),
                Ok(None) => {}
                Err(e) => {
                    log::warn!("bad shared-memory frame on a direct link ({e}); link closed");
                    rx.closed = true;
                    return;
                }
            }
        }
    }

    /// Maps the ring of small frames the peer passed with its offer frame
    /// (the next descriptor received), checked sealed and big enough.
    fn accept_small(&self, rx: &mut Rx) -> io::Result<()> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        if rx.small.is_some() || !matches!(self.stream, Stream::Unix(_)) {
            return Err(bad("second ring for small frames"));
        }
        if rx.fds.is_empty() {
            return Err(bad("ring offer without its descriptor"));
        }
        let fd = rx.fds.remove(0);
        let map = ring::accept(fd.as_fd())?;
        if self.ring_always.load(Ordering::Relaxed) {
            ring::ring_always(&map, SMALL_DIR);
        }
        rx.small = Some(Consumer::new(map.clone(), SMALL_DIR));
        // Set once: a second offer is refused above.
        let _ = self.small_in.set(map);
        Ok(())
    }

    /// Moves every record of the peer's ring of small frames into `queue`
    /// (a malformed one closes the link). Returns whether the peer waits
    /// for room and must be rung ([`Link::ring_peer`], without `rx`).
    fn drain_small(&self, rx: &mut Rx) -> bool {
        let Rx {
            small,
            queue,
            closed,
            ..
        } = rx;
        let Some(c) = small.as_mut() else {
            return false;
        };
        let mut took = false;
        loop {
            let item = match c.pop() {
                Ok(None) => break,
                Ok(Some(Record::Marker)) => Ok(None),
                Ok(Some(Record::Frames(v))) => crate::wire::one_frame(v).map(Some),
                Err(e) => Err(e),
            };
            took = true;
            match item {
                Ok(f) => queue.push_back(f),
                Err(e) => {
                    log::warn!("bad shared ring on a direct link ({e}); link closed");
                    *closed = true;
                    *small = None;
                    return false;
                }
            }
        }
        took && c.room_due()
    }

    /// Reads what the link holds now into its decoder and queue, without
    /// giving anything out (for senders that must keep reading while they
    /// wait).
    fn absorb_pending(&self) {
        let mut rx = self.rx();
        self.decode(&mut rx);
        let room_due = self.drain_small(&mut rx);
        drop(rx);
        if room_due {
            self.ring_peer();
        }
    }

    /// The peer's ring of small frames, once it came.
    pub fn small_in(&self) -> Option<&SharedMap> {
        self.small_in.get().map(|m| &**m)
    }

    /// Whether a frame announced in the ring waits to be read from the
    /// socket, or the program polls the socket itself (pvm_getfds), which
    /// must then be emptied of doorbells whenever the ring is read.
    pub fn wants_socket(&self) -> bool {
        self.marker_waits() || self.ring_always.load(Ordering::Relaxed)
    }

    /// Whether a marker was taken from the ring and its frame is still to
    /// be read from the socket.
    pub(super) fn marker_waits(&self) -> bool {
        self.want_socket.load(Ordering::Relaxed)
    }
}

/// Whether a frame from a link passes the peer's ring of small frames.
pub(super) fn is_small_offer(f: &Frame) -> bool {
    f.header.kind == Kind::Ctl && f.header.tag == TAG_SMALL_RING && f.header.len == 0
}

/// Parses a hello body: (nonce, count of messages sent via the daemon).
pub(super) fn parse_hello(f: &Frame) -> Option<(u64, u64)> {
    if f.header.kind != Kind::Req || f.header.tag != Req::RouteHello as i32 {
        return None;
    }
    let mut r = Reader::new(&f.body);
    let mut word = || r.int().ok().map(|v| v as u32 as u64);
    let nonce = (word()? << 32) | word()?;
    let count = (word()? << 32) | word()?;
    Some((nonce, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{connect_blocking, Role, Secret};
    use crate::wire::Header;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    const A: i32 = 0x40001;
    const B: i32 = 0x80001;

    /// An accepted direct TCP link (the acceptor's side, as a task holds
    /// it) and the connector's raw socket with its keys.
    fn pair(level: Level) -> (Link, TcpStream, Option<Keys>) {
        let secret = Secret::from_bytes([5; crate::auth::SECRET_LEN]);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s2 = secret.clone();
        let t = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let session =
                connect_blocking(&mut c, &s2, Role::Route, B, level, Duration::from_secs(5))
                    .unwrap();
            (c, session.keys)
        });
        let (a, _) = l.accept().unwrap();
        let link = Link::accepted_tcp(Stream::Tcp(a), &secret, level, false).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while link.authed() == 0 && std::time::Instant::now() < deadline {
            link.fill(None, false);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(link.authed(), B);
        let (c, keys) = t.join().unwrap();
        (link, c, keys)
    }

    fn msg(tag: i32, body: &[u8]) -> Vec<u8> {
        Frame::new(
            Header {
                src: B,
                dst: A,
                tag,
                ..Header::new(Kind::Msg)
            },
            body.to_vec(),
        )
        .to_bytes()
    }

    fn frames_until(link: &Link, n: usize) -> (Vec<Frame>, bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        loop {
            link.fill(None, false);
            let (f, ended) = link.take_frames();
            got.extend(f);
            if got.len() >= n || ended || std::time::Instant::now() > deadline {
                return (got, ended);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn sealed_frames_arrive_and_a_tampered_one_ends_the_link() {
        for level in [Level::Encrypted, Level::Integrity] {
            let (link, mut c, keys) = pair(level);
            let mut k = keys.expect("keys at a protected level");
            // Two frames, one larger than a record, arrive whole.
            let big = vec![0x5a; 3 * crate::seal::CHUNK + 7];
            let mut out = k.tx.sealed(&[&msg(1, b"hello")]).unwrap();
            out.extend(k.tx.sealed(&[&msg(2, &big)]).unwrap());
            c.write_all(&out).unwrap();
            let (got, ended) = frames_until(&link, 2);
            assert!(!ended, "{level}");
            assert_eq!(got.len(), 2, "{level}");
            assert_eq!(got[0].body, b"hello");
            assert_eq!(got[1].body, big);
            // One flipped byte: nothing of that frame, or after it, comes;
            // the link ends.
            let mut bad = k.tx.sealed(&[&msg(3, b"tampered")]).unwrap();
            bad[10] ^= 1;
            bad.extend(k.tx.sealed(&[&msg(4, b"after")]).unwrap());
            c.write_all(&bad).unwrap();
            let (got, ended) = frames_until(&link, 1);
            assert!(ended && got.is_empty(), "{level}: {} frame(s)", got.len());
        }
    }

    #[test]
    fn replayed_and_clear_frames_end_the_link() {
        let (link, mut c, keys) = pair(Level::Encrypted);
        let mut k = keys.unwrap();
        let rec = k.tx.sealed(&[&msg(1, b"once")]).unwrap();
        c.write_all(&rec).unwrap();
        c.write_all(&rec).unwrap();
        let (got, ended) = frames_until(&link, 2);
        assert!(ended, "replay not refused");
        assert_eq!(got.len(), 1, "only the first copy is delivered");
        // A frame in the clear after the handshake.
        let (link, mut c, _) = pair(Level::Encrypted);
        c.write_all(&msg(1, b"clear")).unwrap();
        let (got, ended) = frames_until(&link, 1);
        assert!(ended && got.is_empty());
    }

    #[test]
    fn level_none_carries_clear_frames() {
        let (link, mut c, keys) = pair(Level::None);
        assert!(keys.is_none());
        c.write_all(&msg(9, b"plain")).unwrap();
        let (got, ended) = frames_until(&link, 1);
        assert!(!ended);
        assert_eq!(got[0].body, b"plain");
    }
}
