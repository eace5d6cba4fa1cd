//! Direct task-to-task routes (`pvm_setopt(PvmRoute, PvmRouteDirect)`): the
//! task's listener, its links to peers, and the bookkeeping that keeps
//! per-pair FIFO order across the switch from the daemon route to a link.
//!
//! How a link is opened (docs/PROTOCOL.md, "Direct routes"):
//! 1. Task A, with PvmRouteDirect, sends to task B for the first time. A
//!    opens its listener (once per enrollment: a Unix socket in the private
//!    0700 daemon directory) and sends B, *through the daemon*, an offer: a
//!    Msg frame with the reserved tag [`TAG_OFFER`] carrying the listener's
//!    address and a random nonce for B. The message itself goes through the
//!    daemon too, as do A's further messages until the link is up.
//! 2. B's reader meets the offer in its daemon stream. Unless B has
//!    PvmDontRoute (then nothing happens and both keep the daemon route), B
//!    connects, writes its hello (a `RouteHello` frame: the nonce, and how
//!    many messages B has sent A through the daemon) and from then on sends
//!    to A over the link.
//! 3. A's reader accepts the connection and reads the hello. The nonce proves
//!    the connector is the task the offer was routed to (only the daemon saw
//!    it, and it delivers a message to its `dst` alone); [`verify_peer`]
//!    checks the transport (SO_PEERCRED: same uid). A answers with its own
//!    hello (the nonce, and its count of messages sent to B via the daemon),
//!    tells its daemon (`RouteAdd`) and sends to B over the link from then on.
//!
//! Order: each side holds the messages it reads from a link until it has
//! received, through the daemon, as many messages from that peer as the
//! peer's hello announced. Every send chooses its route and counts daemon
//! sends under the state lock, and the hello is written under the same lock,
//! so the announced count covers every message sent before the switch.
//! When both tasks offer at once, the lower tid's offer wins.
//!
//! Deadlock: a link, unlike the daemon, does not buffer without bound. A
//! sender whose link is full keeps reading every link into its decoder while
//! it waits ([`Link::send`]), so two tasks sending large messages to each
//! other both progress. Frames are then taken out of the decoders by whoever
//! holds the state lock.
//!
//! Across hosts (docs/PROTOCOL.md, "Direct routes across hosts"): the offer
//! to a task of another host carries `tcp:` and this host's addresses with
//! the port of a TCP listener (bound to `[::]`, dual-stack, or `0.0.0.0` on
//! an IPv4-only host); the peer picks the address it can reach
//! ([`crate::net::pick_family`]) and connects. Before any frame both ends run
//! the machine-secret handshake of [`crate::auth`] (`Role::Route`, claimed id
//! = the connecting task's tid): the connector blocks on it in [`connect`],
//! the acceptor feeds it from the non-blocking reader ([`Link::fill`]). A
//! peer that fails it is logged and dropped; one that passes must still
//! present the offer's nonce in its hello, as on one host. The secret and
//! the host's addresses come from the local daemon's Connect reply.

use super::conn::Conn;
use super::feed::Sent;
use super::shm;
use crate::auth::{self, Acceptor, Role, Secret, Step};
use crate::net::addr::{fmt_sockaddr, parse_sockaddr_zone};
use crate::os::SharedMap;
use crate::ring::{self, Consumer, Dir, Producer, Record};
use crate::wire::{self, Frame, FrameDecoder, Header, Kind, Landing, Reader, Req, Writer};
use crate::{os, tid};
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Tag of the offer message (negative: no user message can carry it).
pub const TAG_OFFER: i32 = -50;
/// Version of the offer body.
const OFFER_VERSION: i32 = 1;
/// Bytes read from a Unix link per system call (TCP links read
/// `wire::READ_STEP` at a time).
const READ_CHUNK: usize = 256 * 1024;
/// Bound on connecting to a peer's TCP listener and on the handshake.
const TCP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// An accepted connection that has not presented a valid hello (after the
/// handshake, for TCP) this long after it was accepted is closed, the next
/// time the task reads (a genuine peer sends its hello at once).
const UNVERIFIED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Tag of the control frame (body-less, on the socket) that passes a Unix
/// link's ring for small frames (`crate::ring`) to the peer with SCM_RIGHTS.
const TAG_SMALL_RING: i32 = -53;
/// The ring of a Unix link's small frames: the producer's side of the pair
/// of rings `crate::ring::create` makes (the other one is not used).
pub(super) const SMALL_DIR: Dir = Dir::ToDaemon;
/// How long a sender whose ring to the peer is full waits at a time for
/// the peer's doorbell before it looks again.
const ROOM_STEP: std::time::Duration = std::time::Duration::from_millis(1);
/// The program polls the links' sockets itself (pvm_getfds): peers ring
/// the socket after every record they put in a link's ring.
static RING_ALWAYS: AtomicBool = AtomicBool::new(false);

// The route options of pvm_setopt that matter here.
use super::options::{DONT_ROUTE, ROUTE_DIRECT};
use crate::sync::Locked;

/// A listening socket: Unix (same host) or TCP (other hosts).
enum ListenSock {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// This task's listener for incoming links.
pub struct Listener {
    sock: ListenSock,
    /// The socket file of a Unix listener.
    path: Option<PathBuf>,
    addr: String,
}

impl Listener {
    /// Listens at `<dir>/task-<tid>.sock` (non-blocking). A file left there
    /// by a dead task with the same tid is replaced.
    fn open(dir: &Path, me: i32) -> io::Result<Listener> {
        let path = dir.join(format!("task-{:x}.sock", me));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let sock = UnixListener::bind(&path)?;
        sock.set_nonblocking(true)?;
        let addr = format!("unix:{}", path.display());
        Ok(Listener {
            sock: ListenSock::Unix(sock),
            path: Some(path),
            addr,
        })
    }

    /// Listens on a TCP port of every interface: `[::]` (dual-stack, with
    /// IPV6_V6ONLY switched off explicitly: a host with
    /// `net.ipv6.bindv6only=1` still takes the IPv4 connections its IPv4
    /// addresses invite) when the host has an IPv6 address, else (or when
    /// IPv6 is unavailable) `0.0.0.0`. The address offered lists `host` (this host's addresses
    /// as the host table has them) with the listener's port, comma-separated.
    fn open_tcp(host: &[SocketAddr]) -> io::Result<Listener> {
        let sock = os::tcp_listen(0, host.iter().any(|a| a.is_ipv6()))?;
        let bound = sock.local_addr()?;
        let port = bound.port();
        let listed: Vec<String> = host
            .iter()
            .filter(|a| bound.is_ipv6() || a.is_ipv4())
            .map(|a| {
                let mut a = *a;
                a.set_port(port);
                fmt_sockaddr(&a)
            })
            .collect();
        if listed.is_empty() {
            return Err(io::Error::other("this host has no address to offer"));
        }
        Ok(Listener {
            sock: ListenSock::Tcp(sock),
            path: None,
            addr: format!("tcp:{}", listed.join(",")),
        })
    }

    /// The listening socket's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.sock {
            ListenSock::Unix(s) => s.as_fd(),
            ListenSock::Tcp(s) => s.as_fd(),
        }
    }

    #[cfg(test)]
    fn fd_port(&self) -> u16 {
        match &self.sock {
            ListenSock::Tcp(s) => s.local_addr().map(|a| a.port()).unwrap_or(0),
            ListenSock::Unix(_) => 0,
        }
    }

    /// Accepts one pending connection.
    fn accept(&self) -> io::Result<Stream> {
        match &self.sock {
            ListenSock::Unix(s) => s.accept().map(|(c, _)| Stream::Unix(c)),
            ListenSock::Tcp(s) => s.accept().map(|(c, _)| Stream::Tcp(c)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            // Nothing more can be done if it is already gone.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A link's connected socket.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tcp(s) => s.set_nonblocking(on),
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tcp(s) => (&*s).read(buf),
        }
    }
}

/// What the connecting side needs for a TCP route: the machine's secret,
/// this host's addresses, and our tid (the id the handshake claims).
struct TcpCtx<'a> {
    secret: Option<&'a Secret>,
    host: &'a [SocketAddr],
    me: i32,
}

/// Connects to a peer's listener address; a TCP connection also passes the
/// handshake (we prove our knowledge of the secret and check the peer's).
fn connect(addr: &str, ctx: &TcpCtx<'_>) -> io::Result<Stream> {
    if let Some(path) = addr.strip_prefix("unix:") {
        return UnixStream::connect(path).map(Stream::Unix);
    }
    let Some(list) = addr.strip_prefix("tcp:") else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("unknown link address {addr}"),
        ));
    };
    let secret = ctx
        .secret
        .ok_or_else(|| io::Error::other("no machine secret from the daemon"))?;
    let target = pick_target(list, ctx.host)?;
    let mut s = os::tcp_connect(target, TCP_TIMEOUT)?;
    auth::connect_blocking(&mut s, secret, Role::Route, ctx.me, TCP_TIMEOUT)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, format!("{e:?}")))?;
    Ok(Stream::Tcp(s))
}

/// The offered address (of the comma-separated `list`) this host reaches:
/// a family both hosts have, chosen as daemons choose ([`crate::net::pick_family`]).
/// A link-local IPv6 target takes the zone of our own address it pairs with.
pub(super) fn pick_target(list: &str, host: &[SocketAddr]) -> io::Result<SocketAddr> {
    // Zones are the offering host's interface names: ours comes below.
    let offered: Vec<SocketAddr> = list
        .split(',')
        .filter_map(|a| parse_sockaddr_zone(a.trim()).ok().map(|(sa, _)| sa))
        .collect();
    let ours: Vec<IpAddr> = host.iter().map(|a| a.ip()).collect();
    let theirs: Vec<IpAddr> = offered.iter().map(|a| a.ip()).collect();
    let (our_ip, their_ip) = crate::net::pick_family(&ours, &theirs)
        .ok_or_else(|| io::Error::other(format!("no address family in common with {list}")))?;
    let port = offered
        .iter()
        .find(|a| a.ip().to_canonical() == their_ip)
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("picked address not offered"))?;
    let mut target = SocketAddr::new(their_ip, port);
    if let (SocketAddr::V6(t), Some(SocketAddr::V6(o))) =
        (&mut target, host.iter().find(|a| a.ip() == our_ip))
    {
        if t.ip().is_unicast_link_local() {
            t.set_scope_id(o.scope_id());
        }
    }
    Ok(target)
}

/// The authentication hook every new link passes (both sides) before its
/// hello is trusted. On one host the listener lives in the 0700 daemon
/// directory, so only our uid can connect; we also check the peer's uid
/// with SO_PEERCRED. The nonce of the hello then tells which task it is.
/// A TCP transport (multi-host) adds its handshake here.
/// A TCP stream is checked by the handshake instead (see [`connect`] and
/// [`Link::fill`]).
fn verify_peer(stream: &Stream) -> io::Result<()> {
    let Stream::Unix(stream) = stream else {
        return Ok(());
    };
    let (_, uid, _) = os::peer_cred(stream)?;
    if uid != os::uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("link peer has uid {uid}"),
        ));
    }
    Ok(())
}

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
    /// When the link was made.
    opened: std::time::Instant,
}

impl Link {
    fn new(stream: Stream) -> io::Result<Link> {
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
            opened: std::time::Instant::now(),
        })
    }

    /// An accepted TCP connection: its bytes go to the handshake first.
    fn accepted_tcp(stream: Stream, secret: &Secret) -> io::Result<Link> {
        let l = Link::new(stream)?;
        l.rx().auth = Some(Box::new(Acceptor::new(secret)));
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
                            Some(rest) => rx.decoder.feed(&rest),
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

    /// The complete frames received so far, and whether the link ended.
    /// Once the peer's ring of small frames came, frames are given out in
    /// the ring's order, each socket frame in the place of its marker.
    fn take_frames(&self) -> (Vec<Frame>, bool) {
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
            } else if wire::is_doorbell(&f.header) {
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
        if RING_ALWAYS.load(Ordering::Relaxed) {
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
                Ok(Some(Record::Frames(v))) => wire::one_frame(v).map(Some),
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

    /// Rings the peer (it waits for room in its ring to us), unless a
    /// writer of ours is busy on the link: then the peer finds the room
    /// when its wait's step ends ([`ROOM_STEP`]).
    fn ring_peer(&self) {
        if let Ok(_tx) = self.tx.try_lock() {
            let bell = wire::doorbell().encode();
            if let Err(e) = self.write_all(&mut [IoSlice::new(&bell)], None, Vec::new) {
                log::debug!("can't ring the peer of a direct link: {e}");
            }
        }
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
        self.marker_waits() || RING_ALWAYS.load(Ordering::Relaxed)
    }

    /// Whether a marker was taken from the ring and its frame is still to
    /// be read from the socket.
    fn marker_waits(&self) -> bool {
        self.want_socket.load(Ordering::Relaxed)
    }

    /// Writes one frame. While the socket is full it waits for room and
    /// meanwhile reads every link of `others()` (and this one) into their
    /// decoders, so a peer writing to us at the same time can finish.
    /// Returns whether it had to wait (the caller then files what was read).
    /// On a Unix link a frame of up to [`ring::MAX_RECORD`] bytes goes
    /// through our ring of small frames (no system call while the peer is
    /// awake), a larger one on the socket after a marker in that ring.
    pub fn send(
        &self,
        header: &Header,
        body: &[IoSlice<'_>],
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let head = header.encode();
        let mut guard = self.tx.locked();
        let tx = &mut *guard;
        let mut blocked = false;
        if tx.small.is_none() && !tx.small_off {
            blocked |= self.offer_small(tx, &others)?;
        }
        // A large body goes through the shared-memory ring when it fits.
        let ring_frame = match self.stream {
            Stream::Unix(_) => tx.big.place(header, body.iter().map(|s| s.len()).sum()),
            Stream::Tcp(_) => None,
        };
        let mut owned: Vec<IoSlice<'_>> = match &ring_frame {
            Some(placed) => vec![IoSlice::new(&placed.frame)],
            None => crate::wire::frame_slices(&head, body),
        };
        // The large bodies' ring's descriptor goes with its first frame, on the socket.
        let pass_fd = ring_frame.is_some() && tx.big.fd_to_pass().is_some();
        if tx.small.is_some() {
            let total: usize = owned.iter().map(|s| s.len()).sum();
            if !pass_fd && ring::fits(total) {
                let parts: Vec<&[u8]> = owned.iter().map(|s| &**s).collect();
                blocked |= self.push_small(tx, |p| p.push_frames(&parts), &others)?;
                if tx.small.as_ref().is_some_and(Producer::wake_due) {
                    let bell = wire::doorbell().encode();
                    blocked |= self.write_all(&mut [IoSlice::new(&bell)], None, &others)?;
                }
                if let Some(placed) = &ring_frame {
                    // The peer may already be copying the first chunks out.
                    tx.big.fill(placed, body);
                }
                return Ok(blocked);
            }
            // The frame itself wakes a peer that sleeps.
            blocked |= self.push_small(tx, Producer::push_marker, &others)?;
        }
        let fd = if pass_fd { tx.big.fd_to_pass() } else { None };
        blocked |= self.write_all(&mut owned, fd, &others)?;
        if pass_fd {
            tx.big.passed();
        }
        if let Some(placed) = &ring_frame {
            tx.big.fill(placed, body);
        }
        Ok(blocked)
    }

    /// Writes the whole of `slices` on the socket, passing `fd` with the
    /// first bytes; waits for room as [`Link::send`] does. Returns whether
    /// it had to wait.
    fn write_all(
        &self,
        mut slices: &mut [IoSlice<'_>],
        mut fd: Option<BorrowedFd<'_>>,
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let mut blocked = false;
        while !slices.is_empty() {
            let sent = match fd {
                Some(fd) => os::send_nonblocking_with_fd(self.fd(), slices, fd),
                None => os::send_nonblocking(self.fd(), slices),
            };
            match sent {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    fd = None;
                    IoSlice::advance_slices(&mut slices, n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    self.wait_writable(&others())?;
                }
                Err(e) => {
                    self.broken.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(blocked)
    }

    /// Makes our ring of small frames and passes it to the peer with a
    /// body-less control frame; from then on frames go through it. Without
    /// shared memory the link keeps the socket alone.
    fn offer_small(&self, tx: &mut Tx, others: impl Fn() -> Vec<Arc<Link>>) -> io::Result<bool> {
        let (fd, map) = match ring::create() {
            Ok(r) => r,
            Err(e) => {
                log::debug!("no ring for small frames on a direct link: {e}");
                tx.small_off = true;
                return Ok(false);
            }
        };
        let offer = Header {
            tag: TAG_SMALL_RING,
            ..Header::new(Kind::Ctl)
        }
        .encode();
        let blocked = self.write_all(&mut [IoSlice::new(&offer)], Some(fd.as_fd()), others)?;
        tx.small = Some(Producer::new(map, SMALL_DIR));
        Ok(blocked)
    }

    /// Pushes into our ring of small frames, waiting for room while the
    /// peer reads; meanwhile every link of `others()` (and this one) is
    /// read, so a peer that waits for us in the same way can go on. Returns
    /// whether it had to wait.
    fn push_small(
        &self,
        tx: &mut Tx,
        mut push: impl FnMut(&mut Producer) -> Result<bool, ring::Bad>,
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let Some(p) = tx.small.as_mut() else {
            return Ok(false);
        };
        let failed = |e: ring::Bad| {
            log::warn!("{e} (direct link peer side)");
            self.broken.store(true, Ordering::Relaxed);
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        };
        let mut blocked = false;
        loop {
            if push(p).map_err(failed)? {
                return Ok(blocked);
            }
            p.want_room();
            if push(p).map_err(failed)? {
                return Ok(blocked);
            }
            blocked = true;
            self.wait_room(&others())?;
        }
    }

    /// One wait of a sender for room in its ring to the peer: until the
    /// peer's doorbell (or [`ROOM_STEP`]), reading every link meanwhile.
    /// Fails when the peer has gone.
    fn wait_room(&self, others: &[Arc<Link>]) -> io::Result<()> {
        let readers = self.readers(others);
        if readers.first().is_none_or(|l| !std::ptr::eq(*l, self)) {
            self.broken.store(true, Ordering::Relaxed);
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let read = os::Ready {
            read: true,
            write: false,
        };
        let set: Vec<(BorrowedFd<'_>, os::Ready)> =
            readers.iter().map(|l| (l.fd(), read)).collect();
        let ready = super::spin_then_poll(&set, Some(ROOM_STEP), None, &[], false)?.0;
        for (l, r) in readers.iter().zip(&ready) {
            if r.read {
                l.fill(None, false);
            }
            l.absorb_pending();
        }
        Ok(())
    }

    /// The links a waiting sender reads: this one first, then `others`
    /// (without it), those still open.
    fn readers<'a>(&'a self, others: &'a [Arc<Link>]) -> Vec<&'a Link> {
        std::iter::once(self)
            .chain(
                others
                    .iter()
                    .map(|l| &**l)
                    .filter(|l| !std::ptr::eq(*l, self)),
            )
            .filter(|l| !l.is_closed())
            .collect()
    }

    fn wait_writable(&self, others: &[Arc<Link>]) -> io::Result<()> {
        let readers = self.readers(others);
        let mut set: Vec<(BorrowedFd<'_>, os::Ready)> = readers
            .iter()
            .map(|l| {
                (
                    l.fd(),
                    os::Ready {
                        read: true,
                        write: false,
                    },
                )
            })
            .collect();
        if set.is_empty() {
            set.push((self.fd(), os::Ready::default()));
        }
        set[0].1.write = true;
        // Room comes back as the peer reads: soon, on a busy link.
        let ready = super::spin_then_poll(&set, None, None, &[], false)?.0;
        for (l, r) in readers.iter().zip(&ready) {
            if r.read {
                l.fill(None, false);
            }
        }
        Ok(())
    }

    fn send_hello(&self, me: i32, peer: i32, nonce: u64, count: u64) -> io::Result<()> {
        let body = Writer::new()
            .int((nonce >> 32) as i32)
            .int(nonce as i32)
            .int((count >> 32) as i32)
            .int(count as i32)
            .finish();
        let h = Header {
            len: body.len() as u32,
            src: me,
            dst: peer,
            tag: Req::RouteHello as i32,
            ..Header::new(Kind::Req)
        };
        self.send(&h, &[IoSlice::new(&body)], Vec::new).map(|_| ())
    }
}

/// Whether a frame from a link passes the peer's ring of small frames.
fn is_small_offer(f: &Frame) -> bool {
    f.header.kind == Kind::Ctl && f.header.tag == TAG_SMALL_RING && f.header.len == 0
}

/// Parses a hello body: (nonce, count of messages sent via the daemon).
fn parse_hello(f: &Frame) -> Option<(u64, u64)> {
    if f.header.kind != Kind::Req || f.header.tag != Req::RouteHello as i32 {
        return None;
    }
    let mut r = Reader::new(&f.body);
    let mut word = || r.int().ok().map(|v| v as u32 as u64);
    let nonce = (word()? << 32) | word()?;
    let count = (word()? << 32) | word()?;
    Some((nonce, count))
}

/// Messages read from a peer's link, held until the daemon has delivered as
/// many of that peer's messages as its hello announced.
#[derive(Default)]
struct Held {
    /// The count announced by the peer's hello (None until it arrived).
    need: Option<u64>,
    frames: VecDeque<Frame>,
}

/// A peer we have a link with.
struct Peer {
    link: Arc<Link>,
    /// The nonce of the offer that opened the link.
    nonce: u64,
    held: Held,
}

/// What a reader should watch besides the daemon connection.
pub struct Watch {
    /// The Unix listener and the TCP listener, those that are open.
    pub listeners: Vec<Arc<Listener>>,
    pub links: Vec<Arc<Link>>,
    /// For each link, whether a message may land from it (`Routes::landable`).
    pub landable: Vec<bool>,
    pub wake: Arc<UnixStream>,
    /// The reading sides of our feeds (src/task/feed.rs).
    pub feeds: Vec<Arc<super::feed::FeedRx>>,
}

/// The direct-route state of a task (part of the runtime's `State`, so every
/// method runs under the state lock).
#[derive(Default)]
pub struct Routes {
    listener: Option<Arc<Listener>>,
    /// The TCP listener for peers on other hosts (opened at the first such offer).
    tcp_listener: Option<Arc<Listener>>,
    /// The machine's secret (from the daemon's Connect reply).
    secret: Option<Secret>,
    /// This host's addresses as the host table has them (Connect reply).
    host: Vec<SocketAddr>,
    peers: HashMap<i32, Peer>,
    /// Accepted connections whose hello has not arrived yet.
    unverified: Vec<Arc<Link>>,
    /// Our pending offers: peer -> nonce.
    offered: HashMap<i32, u64>,
    /// Closed links whose held messages wait for the daemon's.
    draining: HashMap<i32, Held>,
    /// Messages sent to each task through the daemon.
    sent_daemon: HashMap<i32, u64>,
    /// Messages received from each task through the daemon.
    recv_daemon: HashMap<i32, u64>,
    /// Self-pipe that interrupts a reader's poll: (reader's end, writer's end).
    wake: Option<(Arc<UnixStream>, UnixStream)>,
    /// Our feeds to other hosts' daemons (the default route between hosts).
    pub feeds: super::feed::Feeds,
}

/// Sends a RouteAdd/RouteDelete report to the daemon (no reply comes).
fn report(conn: Option<&Conn>, me: i32, req: Req, peer: i32) {
    if let Some(c) = conn {
        let body = Writer::new().int(peer).finish();
        if let Err(e) = c.send_simple(Kind::Req, req as i32, 0, me, &body) {
            log::debug!("can't report route change to the daemon: {e}");
        }
    }
}

impl Routes {
    /// Takes what the daemon's Connect reply gave for routes to other
    /// hosts: the machine's secret and this host's addresses.
    pub fn set_host(&mut self, secret: Option<Secret>, host: Vec<SocketAddr>) {
        self.secret = secret;
        self.host = host;
    }

    /// The link to use for a message to `dst`, or None for the daemon route
    /// (the send is then counted). With PvmRouteDirect the first send to a
    /// task also offers it a link (through `conn`, before the message).
    pub fn route(&mut self, me: i32, dst: i32, opt: i32, conn: &Conn) -> Option<Arc<Link>> {
        if !tid::is_task(dst) || dst == me {
            return None;
        }
        if let Some(p) = self.peers.get(&dst) {
            if !p.link.broken.load(Ordering::Relaxed) {
                return Some(p.link.clone());
            }
        } else if opt == ROUTE_DIRECT && !self.offered.contains_key(&dst) {
            if let Err(e) = self.offer(me, dst, conn) {
                log::debug!("no direct route to {}: {e}", tid::fmt(dst));
                // Do not try again for this peer.
                self.offered.insert(dst, 0);
            }
        }
        *self.sent_daemon.entry(dst).or_default() += 1;
        None
    }

    /// What opening a feed needs: the machine's secret and this host's
    /// addresses (None without a secret).
    pub fn feed_ctx(&self) -> Option<(Secret, Vec<SocketAddr>)> {
        Some((self.secret.clone()?, self.host.clone()))
    }

    /// Sends a message frame by the default route: on the feed to the
    /// destination's host when there is one, through the daemon otherwise
    /// (after the fence, when the feed was just given up).
    pub fn send_default(
        &mut self,
        conn: &Conn,
        h: &Header,
        body: &[IoSlice<'_>],
    ) -> crate::Result<()> {
        match self.feeds.send(h, body) {
            Sent::Fed => Ok(()),
            Sent::NoFeed | Sent::GaveUp(None) => conn.send(h, body),
            Sent::GaveUp(Some((fence, fb))) => {
                conn.send(&fence, &[IoSlice::new(&fb)])?;
                conn.send(h, body)
            }
        }
    }

    fn offer(&mut self, me: i32, dst: i32, conn: &Conn) -> io::Result<()> {
        let addr = if tid::host_of(dst) == tid::host_of(me) {
            if self.listener.is_none() {
                self.listener = Some(Arc::new(Listener::open(conn.dir(), me)?));
                self.wake_reader();
            }
            self.listener.as_ref().map(|l| l.addr.clone())
        } else {
            if self.secret.is_none() {
                return Err(io::Error::other("no machine secret from the daemon"));
            }
            if self.tcp_listener.is_none() {
                let l = Listener::open_tcp(&self.host)?;
                log::debug!("direct-route TCP listener at {}", l.addr);
                self.tcp_listener = Some(Arc::new(l));
                self.wake_reader();
            }
            self.tcp_listener.as_ref().map(|l| l.addr.clone())
        }
        .unwrap_or_default();
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
        let nonce = u64::from_ne_bytes(nonce) | 1;
        let body = Writer::new()
            .int(OFFER_VERSION)
            .str(&addr)
            .int((nonce >> 32) as i32)
            .int(nonce as i32)
            .finish();
        let h = Header {
            len: body.len() as u32,
            src: me,
            dst,
            tag: TAG_OFFER,
            ..Header::new(Kind::Msg)
        };
        self.send_default(conn, &h, &[IoSlice::new(&body)])
            .map_err(|e| io::Error::other(e.text()))?;
        self.offered.insert(dst, nonce);
        log::debug!("offered a direct route to {}", tid::fmt(dst));
        Ok(())
    }

    /// Every open link (for senders that must keep reading while blocked).
    pub fn links(&self) -> Vec<Arc<Link>> {
        self.peers.values().map(|p| p.link.clone()).collect()
    }

    /// What a reader polls: the listener, every link, and the wake pipe.
    pub fn watch(&mut self) -> io::Result<Watch> {
        if self.wake.is_none() {
            let (r, w) = UnixStream::pair()?;
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            self.wake = Some((Arc::new(r), w));
        }
        let wake = self
            .wake
            .as_ref()
            .map(|w| w.0.clone())
            .ok_or(io::ErrorKind::Other)?;
        self.prune_unverified(std::time::Instant::now());
        let mut links = self.links();
        links.extend(self.unverified.iter().cloned());
        links.retain(|l| !l.is_closed());
        let landable = links.iter().map(|l| self.landable(l)).collect();
        Ok(Watch {
            landable,
            listeners: self
                .listener
                .iter()
                .chain(self.tcp_listener.iter())
                .cloned()
                .collect(),
            links,
            wake,
            feeds: self.feeds.receivers(),
        })
    }

    /// Closes accepted connections still unverified [`UNVERIFIED_TIMEOUT`]
    /// after they were accepted (a silent stranger on the TCP listener).
    fn prune_unverified(&mut self, now: std::time::Instant) {
        self.unverified.retain(|l| {
            let keep = now.duration_since(l.opened) < UNVERIFIED_TIMEOUT;
            if !keep {
                log::warn!("direct link refused: no valid hello within the time bound");
            }
            keep
        });
    }

    /// Interrupts a reader blocked in poll (its watch list changed, or
    /// another thread took the data it waited for).
    pub fn wake_reader(&mut self) {
        if let Some((_, w)) = &mut self.wake {
            // A full pipe already wakes the reader; nothing else can fail usefully.
            let _ = w.write(&[1]);
        }
    }

    /// Empties the wake pipe (the reader, after poll).
    pub fn drain_wake(wake: &UnixStream) {
        let mut b = [0u8; 64];
        while matches!((&*wake).read(&mut b), Ok(n) if n > 0) {}
    }

    /// The descriptors a program may select() on besides the daemon's
    /// (pvm_getfds): the listener, every link and every feed.
    /// From now on every peer rings a link's socket after each record it
    /// puts in the link's ring, so the socket alone says when one came.
    pub fn fds(&self) -> Vec<RawFd> {
        RING_ALWAYS.store(true, Ordering::Relaxed);
        for l in self.links().iter().chain(&self.unverified) {
            if let Some(m) = l.small_in() {
                ring::ring_always(m, SMALL_DIR);
            }
            // Doorbells rung before are read now (kept in the decoder, and
            // dropped there), so a readable socket means a new one.
            l.fill(None, false);
        }
        let mut v: Vec<RawFd> = self
            .listener
            .iter()
            .chain(self.tcp_listener.iter())
            .map(|l| l.fd().as_raw_fd())
            .collect();
        let mut links: Vec<(i32, RawFd)> = self
            .peers
            .iter()
            .map(|(t, p)| (*t, p.link.fd().as_raw_fd()))
            .collect();
        links.sort();
        v.extend(links.into_iter().map(|(_, fd)| fd));
        v.extend(self.unverified.iter().map(|l| l.fd().as_raw_fd()));
        // Our feeds, on which our daemon's peers may send messages back.
        v.extend(self.feeds.receivers().iter().map(|f| f.fd().as_raw_fd()));
        v
    }

    /// Accepts pending connections on `listener` (they wait for their hello).
    pub fn accept(&mut self, listener: &Listener) {
        loop {
            match listener.accept() {
                Ok(s) => match self.new_accepted(s) {
                    Ok(l) => self.unverified.push(Arc::new(l)),
                    Err(e) => log::warn!("direct link refused: {e}"),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        log::debug!("accept on the direct-route listener: {e}");
                    }
                    return;
                }
            }
        }
    }

    /// Wraps an accepted connection: a Unix one passes [`verify_peer`], a
    /// TCP one must first complete the handshake (fed by [`Link::fill`]).
    fn new_accepted(&self, s: Stream) -> io::Result<Link> {
        match &s {
            Stream::Unix(_) => verify_peer(&s).and_then(|()| Link::new(s)),
            Stream::Tcp(t) => {
                t.set_nodelay(true)?;
                let peer = t.peer_addr().map(|a| fmt_sockaddr(&a)).unwrap_or_default();
                log::debug!("direct-route TCP connection from {peer}");
                match &self.secret {
                    Some(secret) => Link::accepted_tcp(s, secret),
                    None => Err(io::Error::other("no machine secret")),
                }
            }
        }
    }

    /// A Msg frame from the daemon. Offers are handled here (None is
    /// returned); other messages are counted and returned for the queue,
    /// followed by any link messages of the same sender that are now due.
    pub fn daemon_msg(&mut self, f: Frame, me: i32, opt: i32) -> Vec<Frame> {
        let src = f.header.src;
        if !tid::is_task(src) {
            return vec![f];
        }
        if f.header.tag == TAG_OFFER {
            self.on_offer(&f, me, opt);
            return Vec::new();
        }
        *self.recv_daemon.entry(src).or_default() += 1;
        let mut out = vec![f];
        out.extend(self.release(src));
        out
    }

    /// Whether a message on `link` may land straight in a receiver's memory
    /// (`Link::fill`): the link is its peer's verified one and nothing from
    /// that peer is held back waiting for daemon-routed messages.
    pub fn landable(&self, link: &Arc<Link>) -> bool {
        let peer = link.peer.load(Ordering::Relaxed);
        let got = self.recv_daemon.get(&peer).copied().unwrap_or(0);
        peer != 0
            && !self.draining.contains_key(&peer)
            && self.peers.get(&peer).is_some_and(|p| {
                Arc::ptr_eq(&p.link, link)
                    && p.held.frames.is_empty()
                    && p.held.need.is_some_and(|n| got >= n)
            })
    }

    /// Held link messages of `src` that may now be delivered.
    fn release(&mut self, src: i32) -> Vec<Frame> {
        let got = self.recv_daemon.get(&src).copied().unwrap_or(0);
        let due = |h: &Held| h.need.is_some_and(|n| got >= n);
        let mut out = Vec::new();
        if let Some(p) = self.peers.get_mut(&src) {
            if due(&p.held) {
                out.extend(p.held.frames.drain(..));
            }
        }
        if self.draining.get(&src).is_some_and(due) {
            if let Some(h) = self.draining.remove(&src) {
                out.extend(h.frames);
            }
        }
        out
    }

    fn on_offer(&mut self, f: &Frame, me: i32, opt: i32) {
        let from = f.header.src;
        if opt == DONT_ROUTE || self.peers.contains_key(&from) {
            log::debug!("direct route offer from {} ignored", tid::fmt(from));
            return;
        }
        if self.offered.contains_key(&from) {
            if me < from {
                return; // both offered: the lower tid's offer wins, and that is ours
            }
            self.offered.remove(&from);
        }
        let mut r = Reader::new(&f.body);
        let parsed = (|| {
            if r.int().ok()? != OFFER_VERSION {
                return None;
            }
            let addr = r.str().ok()?;
            let hi = r.int().ok()? as u32 as u64;
            let lo = r.int().ok()? as u32 as u64;
            Some((addr, (hi << 32) | lo))
        })();
        let Some((addr, nonce)) = parsed else {
            log::warn!("malformed direct route offer from {}", tid::fmt(from));
            return;
        };
        let count = self.sent_daemon.get(&from).copied().unwrap_or(0);
        let ctx = TcpCtx {
            secret: self.secret.as_ref(),
            host: &self.host,
            me,
        };
        let link = connect(&addr, &ctx)
            .and_then(|s| verify_peer(&s).map(|()| s))
            .and_then(Link::new)
            .and_then(|l| l.send_hello(me, from, nonce, count).map(|()| l));
        match link {
            Ok(l) => {
                l.peer.store(from, Ordering::Relaxed);
                log::debug!("direct route to {} (connected)", tid::fmt(from));
                self.peers.insert(
                    from,
                    Peer {
                        link: Arc::new(l),
                        nonce,
                        held: Held::default(),
                    },
                );
            }
            Err(e) => log::debug!("can't open the direct route to {}: {e}", tid::fmt(from)),
        }
    }

    /// Takes the frames that arrived on `link`: checks hellos, promotes a
    /// verified connection to a peer, drops a closed link, and returns the
    /// messages that may go to the queue now (in order).
    pub fn link_frames(&mut self, link: &Arc<Link>, me: i32, conn: Option<&Conn>) -> Vec<Frame> {
        let (mut frames, mut ended) = link.take_frames();
        if link.marker_waits() {
            // A marker came first (the ring is seen before the socket): its
            // frame is most likely on the socket already.
            link.fill(None, false);
            let (more, end) = link.take_frames();
            frames.extend(more);
            ended = end;
        }
        let mut frames = frames.into_iter();
        let mut peer = link.peer.load(Ordering::Relaxed);
        let mut out = Vec::new();
        if peer == 0 {
            // An accepted connection: its first frame must be a hello for one of our offers.
            if let Some(f) = frames.next() {
                peer = self.accept_hello(link, &f, me, conn);
                if peer == 0 {
                    self.unverified.retain(|l| !Arc::ptr_eq(l, link));
                    return out;
                }
            }
        }
        for f in frames {
            let Some(p) = self
                .peers
                .get_mut(&peer)
                .filter(|p| Arc::ptr_eq(&p.link, link))
            else {
                break;
            };
            if p.held.need.is_none() {
                match parse_hello(&f).filter(|(n, _)| *n == p.nonce && f.header.src == peer) {
                    Some((_, count)) => p.held.need = Some(count),
                    None => {
                        log::warn!("bad hello on the direct route to {}", tid::fmt(peer));
                        self.close(peer, me, conn);
                        return out;
                    }
                }
                out.extend(self.release(peer));
                continue;
            }
            if f.header.kind != Kind::Msg || f.header.src != peer || f.header.dst != me {
                log::debug!(
                    "unexpected frame on the direct route to {} dropped",
                    tid::fmt(peer)
                );
                continue;
            }
            let got = self.recv_daemon.get(&peer).copied().unwrap_or(0);
            if p.held.frames.is_empty() && p.held.need.is_some_and(|n| got >= n) {
                out.push(f);
            } else {
                if p.held.frames.is_empty() {
                    log::debug!(
                        "holding link messages from {} until {:?} came via the daemon (now {got})",
                        tid::fmt(peer),
                        p.held.need
                    );
                }
                p.held.frames.push_back(f);
            }
        }
        if ended {
            if peer == 0 {
                self.unverified.retain(|l| !Arc::ptr_eq(l, link));
            } else if self
                .peers
                .get(&peer)
                .is_some_and(|p| Arc::ptr_eq(&p.link, link))
            {
                self.close(peer, me, conn);
            }
        }
        out
    }

    /// Checks the hello of an accepted connection; the peer's tid, or 0
    /// when it is refused.
    fn accept_hello(&mut self, link: &Arc<Link>, f: &Frame, me: i32, conn: Option<&Conn>) -> i32 {
        let from = f.header.src;
        let authed = link.authed.load(Ordering::Relaxed);
        let ok = parse_hello(f).filter(|(nonce, _)| {
            (matches!(link.stream, Stream::Unix(_)) || authed == from)
                && f.header.dst == me
                && *nonce != 0
                && self.offered.get(&from) == Some(nonce)
                && !self.peers.contains_key(&from)
        });
        let Some((nonce, count)) = ok else {
            // Someone knew the listener but not the nonce offered to that
            // tid (or replayed an old one): say so where the user sees it,
            // like the library's other reports (stderr, so the daemon log
            // for a spawned task). Not through `report_line`: the state
            // lock may be held here.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "libpvm [{}]: direct link claiming to be {} refused",
                tid::fmt(me),
                tid::fmt(from)
            );
            return 0;
        };
        self.offered.remove(&from);
        self.unverified.retain(|l| !Arc::ptr_eq(l, link));
        let ours = self.sent_daemon.get(&from).copied().unwrap_or(0);
        if let Err(e) = link.send_hello(me, from, nonce, ours) {
            // The peer may have sent everything it had and exited before we
            // got to answer (EPIPE). Its hello was verified, so what it sent
            // on the link is still delivered; only our sends use the daemon.
            log::debug!("can't answer {} on the direct route: {e}", tid::fmt(from));
            link.broken.store(true, Ordering::Relaxed);
        }
        link.peer.store(from, Ordering::Relaxed);
        self.peers.insert(
            from,
            Peer {
                link: link.clone(),
                nonce,
                held: Held {
                    need: Some(count),
                    frames: VecDeque::new(),
                },
            },
        );
        log::debug!("direct route to {} (accepted)", tid::fmt(from));
        report(conn, me, Req::RouteAdd, from);
        from
    }

    /// Forgets the link to `peer` (it closed: the peer exited). Messages
    /// still held for it stay until the daemon's have arrived.
    fn close(&mut self, peer: i32, me: i32, conn: Option<&Conn>) {
        if let Some(p) = self.peers.remove(&peer) {
            log::debug!("direct route to {} closed", tid::fmt(peer));
            if !p.held.frames.is_empty() {
                self.draining.insert(peer, p.held);
            }
            report(conn, me, Req::RouteDelete, peer);
        }
    }

    /// Leaving PVM: reports and closes every link, removes the listener.
    pub fn shut_down(&mut self, me: i32, conn: Option<&Conn>) {
        let mut peers: Vec<i32> = self.peers.keys().copied().collect();
        peers.sort();
        for p in peers {
            report(conn, me, Req::RouteDelete, p);
        }
        *self = Routes::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(src: i32, dst: i32, n: i32) -> Frame {
        Frame::new(
            Header {
                src,
                dst,
                tag: 1,
                ..Header::new(Kind::Msg)
            },
            n.to_be_bytes().to_vec(),
        )
    }

    fn num(f: &Frame) -> i32 {
        i32::from_be_bytes(f.body[..4].try_into().unwrap())
    }

    /// A linked pair (a, b) as both sides of a connected socket pair.
    fn peer_link(r: &mut Routes, peer: i32, nonce: u64) -> (Arc<Link>, UnixStream) {
        let (x, y) = UnixStream::pair().unwrap();
        let l = Arc::new(Link::new(Stream::Unix(x)).unwrap());
        l.peer.store(peer, Ordering::Relaxed);
        r.peers.insert(
            peer,
            Peer {
                link: l.clone(),
                nonce,
                held: Held::default(),
            },
        );
        (l, y)
    }

    #[test]
    fn link_messages_wait_for_the_announced_daemon_messages() {
        const A: i32 = 0x40001;
        const B: i32 = 0x40002;
        let mut r = Routes::default();
        let (l, other) = peer_link(&mut r, A, 77);
        // A announced 2 messages via the daemon, then sends 10 and 11 on the link.
        let other_side = Link::new(Stream::Unix(other)).unwrap();
        other_side.send_hello(A, B, 77, 2).unwrap();
        for n in [10, 11] {
            let f = msg(A, B, n);
            other_side
                .send(&f.header, &[IoSlice::new(&f.body)], Vec::new)
                .unwrap();
        }
        l.fill(None, false);
        assert!(
            r.link_frames(&l, B, None).is_empty(),
            "held until 2 came via the daemon"
        );
        let got = r.daemon_msg(msg(A, B, 0), B, 2);
        assert_eq!(got.iter().map(num).collect::<Vec<_>>(), vec![0]);
        let got = r.daemon_msg(msg(A, B, 1), B, 2);
        assert_eq!(got.iter().map(num).collect::<Vec<_>>(), vec![1, 10, 11]);
        // Now link messages pass at once; a closed link is dropped.
        let f = msg(A, B, 12);
        other_side
            .send(&f.header, &[IoSlice::new(&f.body)], Vec::new)
            .unwrap();
        drop(other_side);
        l.fill(None, false);
        l.fill(None, false); // a short read ends a fill; the next one sees the end of stream
        let got = r.link_frames(&l, B, None);
        assert_eq!(got.iter().map(num).collect::<Vec<_>>(), vec![12]);
        assert!(r.peers.is_empty(), "closed link forgotten");
    }

    #[test]
    fn bad_hello_closes_and_offers_need_dont_route_off() {
        const A: i32 = 0x40001;
        const B: i32 = 0x40002;
        let mut r = Routes::default();
        let (l, other) = peer_link(&mut r, A, 5);
        Link::new(Stream::Unix(other))
            .unwrap()
            .send_hello(A, B, 6, 0)
            .unwrap();
        l.fill(None, false);
        assert!(r.link_frames(&l, B, None).is_empty());
        assert!(r.peers.is_empty(), "wrong nonce: link dropped");
        // An offer to a task with PvmDontRoute is ignored and not counted.
        let offer = Frame::new(
            Header {
                src: A,
                dst: B,
                tag: TAG_OFFER,
                ..Header::new(Kind::Msg)
            },
            Writer::new()
                .int(1)
                .str("unix:/nonexistent")
                .int(0)
                .int(1)
                .finish(),
        );
        assert!(r.daemon_msg(offer, B, DONT_ROUTE).is_empty());
        assert!(r.recv_daemon.is_empty());
    }

    #[test]
    fn tcp_offer_lists_host_addresses_and_peer_picks_a_common_family() {
        let host: Vec<SocketAddr> = vec![
            "[fd00::1]:7000".parse().unwrap(),
            "10.0.0.1:7000".parse().unwrap(),
        ];
        let l = Listener::open_tcp(&host).unwrap();
        let port = l.fd_port();
        assert_eq!(
            l.addr,
            format!("tcp:[fd00::1]:{port},10.0.0.1:{port}"),
            "both addresses, with the listener's port"
        );
        let list = l.addr.strip_prefix("tcp:").unwrap();
        let v4_only: Vec<SocketAddr> = vec!["10.0.0.2:7000".parse().unwrap()];
        assert_eq!(
            pick_target(list, &v4_only).unwrap(),
            format!("10.0.0.1:{port}").parse().unwrap()
        );
        let v6_only: Vec<SocketAddr> = vec!["[fd00::2]:7000".parse().unwrap()];
        assert_eq!(
            pick_target(list, &v6_only).unwrap(),
            format!("[fd00::1]:{port}").parse().unwrap()
        );
        let none: Vec<SocketAddr> = vec!["[fe80::2]:7000".parse().unwrap()];
        assert!(pick_target("10.0.0.1:1", &none).is_err());
        // A link-local offer carries the offering host's zone (an interface
        // this host need not have): ours, of the address it pairs with, is
        // used instead.
        let ll: Vec<SocketAddr> = vec![SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::2".parse().unwrap(),
            7000,
            0,
            7,
        ))];
        assert_eq!(
            pick_target("[fe80::1%nosuchif9]:4000", &ll).unwrap(),
            SocketAddr::V6(std::net::SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                4000,
                0,
                7
            ))
        );
    }

    #[test]
    fn tcp_link_needs_the_secret() {
        const A: i32 = 0x40001;
        const B: i32 = 0x80001;
        let secret = Secret::from_bytes([3; auth::SECRET_LEN]);
        let mut acc = Routes::default();
        acc.set_host(Some(secret.clone()), vec!["127.0.0.1:1".parse().unwrap()]);
        let l = Listener::open_tcp(&acc.host).unwrap();
        let port = l.fd_port();
        let addr = format!("tcp:127.0.0.1:{port}");
        let host: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().unwrap()];
        let wait = |acc: &mut Routes, l: &Listener| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while acc.unverified.is_empty() && std::time::Instant::now() < deadline {
                acc.accept(l);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        // Without the secret: the connector's handshake fails, the link closes.
        let h1 = host.clone();
        let t = std::thread::spawn(move || {
            let wrong = Secret::from_bytes([4; auth::SECRET_LEN]);
            let ctx = TcpCtx {
                secret: Some(&wrong),
                host: &h1,
                me: B,
            };
            connect(&addr, &ctx).is_err()
        });
        wait(&mut acc, &l);
        let link = acc.unverified[0].clone();
        while !link.is_closed() {
            link.fill(None, false);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(t.join().unwrap(), "connector saw the acceptor's bad MAC");
        assert_eq!(link.authed.load(Ordering::Relaxed), 0);
        assert!(acc.link_frames(&link, A, None).is_empty());
        assert!(acc.unverified.is_empty(), "dropped");
        // With it: authenticated as the claimed tid.
        let addr = format!("tcp:127.0.0.1:{port}");
        let s2 = secret.clone();
        let t = std::thread::spawn(move || {
            let ctx = TcpCtx {
                secret: Some(&s2),
                host: &host,
                me: B,
            };
            connect(&addr, &ctx).map(|_| ())
        });
        wait(&mut acc, &l);
        let link = acc.unverified[0].clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while link.authed.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
            link.fill(None, false);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        t.join().unwrap().unwrap();
        assert_eq!(link.authed.load(Ordering::Relaxed), B);
        // Authenticated but no hello: closed after the time bound.
        acc.prune_unverified(std::time::Instant::now());
        assert_eq!(acc.unverified.len(), 1);
        acc.prune_unverified(std::time::Instant::now() + UNVERIFIED_TIMEOUT);
        assert!(acc.unverified.is_empty());
    }

    #[test]
    fn messages_of_a_peer_that_left_before_our_hello_are_kept() {
        // B accepted A's connection, but A wrote its hello and all its
        // messages and exited before B read them: B's answering hello fails
        // (EPIPE), yet A's messages arrive and B falls back to the daemon.
        const A: i32 = 0x40002;
        const B: i32 = 0x40001;
        let mut r = Routes::default();
        r.offered.insert(A, 99);
        let (x, y) = UnixStream::pair().unwrap();
        let l = Arc::new(Link::new(Stream::Unix(x)).unwrap());
        r.unverified.push(l.clone());
        let a_side = Link::new(Stream::Unix(y)).unwrap();
        a_side.send_hello(A, B, 99, 0).unwrap();
        for n in [0, 1, 2] {
            let f = msg(A, B, n);
            a_side
                .send(&f.header, &[IoSlice::new(&f.body)], Vec::new)
                .unwrap();
        }
        drop(a_side);
        l.fill(None, false);
        l.fill(None, false); // a short read ends a fill; the next one sees the end of stream
        let got = r.link_frames(&l, B, None);
        assert_eq!(got.iter().map(num).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(r.peers.is_empty() && r.unverified.is_empty(), "link gone");
        assert!(r.offered.is_empty(), "offer used up");
    }

    #[test]
    fn blocked_sender_keeps_reading() {
        // Both ends write 4 MiB to each other at once from two threads.
        let (x, y) = UnixStream::pair().unwrap();
        let a = Arc::new(Link::new(Stream::Unix(x)).unwrap());
        let b = Arc::new(Link::new(Stream::Unix(y)).unwrap());
        let big = vec![7u8; 4 << 20];
        let h = Header {
            len: big.len() as u32,
            ..Header::new(Kind::Msg)
        };
        // Each side, once its own send is done, reads until the peer's
        // message is complete (as a task would in its next receive).
        fn read_one(l: &Link) -> Vec<Frame> {
            loop {
                let got = l.take_frames().0;
                if !got.is_empty() {
                    return got;
                }
                let ready = (
                    l.fd(),
                    os::Ready {
                        read: true,
                        write: false,
                    },
                );
                os::poll_many(&[ready], Some(std::time::Duration::from_secs(10))).unwrap();
                l.fill(None, false);
            }
        }
        let b2 = b.clone();
        let big2 = big.clone();
        let t = std::thread::spawn(move || {
            b2.send(&h, &[IoSlice::new(&big2)], Vec::new).unwrap();
            read_one(&b2)
        });
        a.send(&h, &[IoSlice::new(&big)], Vec::new).unwrap();
        let at_a = read_one(&a);
        let got = t.join().unwrap();
        // Bodies this large stay in the link's shared-memory ring (shm.rs).
        for f in [&at_a[0], &got[0]] {
            let mut body = f.body.clone();
            if let Some(held) = &f.held {
                crate::msg::InPlaceSource::gather(held, &mut body);
            }
            assert!(body == big);
        }
    }

    #[test]
    fn a_tcp_reader_stops_once_a_message_landed() {
        // Large messages sent at once on a TCP link: the one a receiver
        // waits for lands in its memory, and reading stops there (the rest
        // stays in the socket, nothing piles up in the decoder); the rest
        // then come in order.
        const PEER: i32 = 0x80001;
        let lis = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(lis.local_addr().unwrap()).unwrap();
        let link = Link::new(Stream::Tcp(lis.accept().unwrap().0)).unwrap();
        link.peer.store(PEER, Ordering::Relaxed);
        let body = |i: u32| -> Vec<u8> { (0..200_000u32).map(|k| (k * 5 + i) as u8).collect() };
        let writer = std::thread::spawn(move || {
            for i in 0..4 {
                let h = Header {
                    src: PEER,
                    tag: 5,
                    len: 200_000,
                    ..Header::new(Kind::Msg)
                };
                crate::wire::write_frame(&mut a, &h, &[IoSlice::new(&body(i))]).unwrap();
            }
            a
        });
        let mut mem = vec![0u8; 300_000];
        let accepts = |h: &Header| h.tag == 5;
        let mut landing = Landing {
            dst: &mut mem,
            peer: 0,
            accepts: &accepts,
            busy: false,
            done: None,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while landing.done.is_none() {
            assert!(std::time::Instant::now() < deadline, "nothing landed");
            link.fill(Some(&mut landing), true);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(landing.done.map(|h| h.len), Some(200_000));
        assert_eq!(&mem[..200_000], &body(0)[..]);
        assert_eq!(link.rx().decoder.pending(), 0, "read on after the landing");
        let rest = read_n(&link, 3);
        let _a = writer.join().unwrap();
        for (i, f) in rest.iter().enumerate() {
            assert_eq!(f.body, body(i as u32 + 1), "message {}", i + 1);
        }
    }

    /// A linked pair of Unix links (both ends of one socket pair).
    fn unix_pair() -> (Arc<Link>, Arc<Link>) {
        let (x, y) = UnixStream::pair().unwrap();
        (
            Arc::new(Link::new(Stream::Unix(x)).unwrap()),
            Arc::new(Link::new(Stream::Unix(y)).unwrap()),
        )
    }

    fn send_msg(l: &Link, tag: i32, body: &[u8]) {
        let h = Header {
            len: body.len() as u32,
            tag,
            ..Header::new(Kind::Msg)
        };
        l.send(&h, &[IoSlice::new(body)], Vec::new).unwrap();
    }

    fn body_of(f: &Frame) -> Vec<u8> {
        let mut body = f.body.clone();
        if let Some(held) = &f.held {
            crate::msg::InPlaceSource::gather(held, &mut body);
        }
        body
    }

    /// Whether the socket of `l` holds bytes now.
    fn socket_readable(l: &Link) -> bool {
        let r = os::Ready {
            read: true,
            write: false,
        };
        os::poll_many(&[(l.fd(), r)], Some(std::time::Duration::ZERO)).unwrap()[0].read
    }

    /// Reads `l` as a task's reader would (its ring, then its socket,
    /// sleeping in poll with the ring armed) until `n` frames came.
    fn read_n(l: &Link, n: usize) -> Vec<Frame> {
        let _ = env_logger::builder().is_test(true).try_init();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while got.len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} frames came",
                got.len()
            );
            let (frames, ended) = l.take_frames();
            got.extend(frames);
            assert!(
                !ended || got.len() >= n,
                "link ended after {} frames",
                got.len()
            );
            if got.len() >= n {
                break;
            }
            let came = l.small_in().is_some_and(|m| ring::arm(m, SMALL_DIR));
            if !came {
                let r = os::Ready {
                    read: true,
                    write: false,
                };
                os::poll_many(&[(l.fd(), r)], Some(std::time::Duration::from_millis(50))).unwrap();
            }
            if let Some(m) = l.small_in() {
                ring::disarm(m, SMALL_DIR);
            }
            l.fill(None, false);
        }
        got
    }

    #[test]
    fn small_frames_go_through_the_ring_in_order_with_the_socket_ones() {
        let (a, b) = unix_pair();
        // Small, large (the large bodies' ring's first frame carries its
        // descriptor: socket, after a marker), small, large (its control
        // frame is a record), and the largest frame that fits a record.
        let large = vec![9u8; 20 << 10];
        let bodies: Vec<Vec<u8>> = vec![
            b"one".to_vec(),
            large.clone(),
            b"three".to_vec(),
            large.clone(),
            vec![5u8; ring::MAX_RECORD - crate::wire::HEADER_LEN],
        ];
        for (i, body) in bodies.iter().enumerate() {
            send_msg(&a, i as i32, body);
        }
        let got = read_n(&b, bodies.len());
        assert_eq!(got.len(), bodies.len());
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f.header.tag, i as i32);
            assert!(body_of(f) == bodies[i], "body {i} differs");
        }
        assert!(b.small_in().is_some(), "the peer's ring was taken");
        assert!(!socket_readable(&b), "nothing left on the socket");
        // A reader that does not sleep gets small frames without a byte on the socket.
        send_msg(&a, 7, b"quiet");
        assert!(!socket_readable(&b));
        let (f, ended) = b.take_frames();
        assert!(!ended);
        assert_eq!(
            (f.len(), f[0].header.tag, &f[0].body[..]),
            (1, 7, &b"quiet"[..])
        );
        // One that is about to sleep is rung.
        assert!(!ring::arm(b.small_in().unwrap(), SMALL_DIR));
        send_msg(&a, 8, b"wake");
        assert!(socket_readable(&b), "a sleeping reader gets a doorbell");
        ring::disarm(b.small_in().unwrap(), SMALL_DIR);
        let got = read_n(&b, 1);
        assert_eq!((got.len(), got[0].header.tag), (1, 8));
        // The doorbell is read with the socket's next bytes and dropped.
        b.fill(None, false);
        assert!(b.take_frames().0.is_empty(), "a doorbell is not a frame");
        assert!(!socket_readable(&b));
    }

    #[test]
    fn a_doorbell_before_the_peers_ring_is_no_frame() {
        // b rings a (it took from a's ring) before b ever sent a frame.
        let (a, b) = unix_pair();
        b.ring_peer();
        send_msg(&b, 1, b"after");
        let got = read_n(&a, 1);
        assert_eq!((got.len(), got[0].header.tag), (1, 1));
        assert!(!a.is_closed());
    }

    #[test]
    fn a_full_ring_makes_the_sender_wait_for_the_reader() {
        // Far more than the ring holds (128 KiB), with the reader slower.
        let (a, b) = unix_pair();
        const N: i32 = 5000;
        let t = std::thread::spawn(move || {
            for i in 0..N {
                send_msg(&a, i, &i.to_le_bytes().repeat(25));
            }
            a
        });
        let mut got = Vec::new();
        while got.len() < N as usize {
            got.extend(read_n(&b, 1));
            if got.len() % 1000 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let _a = t.join().unwrap();
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f.header.tag, i as i32);
            assert_eq!(f.body, (i as i32).to_le_bytes().repeat(25));
        }
    }

    #[test]
    fn two_senders_with_full_rings_both_finish() {
        // Both ends send more than a ring holds before either reads.
        let (a, b) = unix_pair();
        const N: i32 = 4000;
        let run = |l: Arc<Link>| {
            std::thread::spawn(move || {
                for i in 0..N {
                    send_msg(&l, i, &[1u8; 60]);
                }
                read_n(&l, N as usize)
            })
        };
        let (ta, tb) = (run(a), run(b));
        for t in [ta, tb] {
            let got = t.join().unwrap();
            assert!(got
                .iter()
                .enumerate()
                .all(|(i, f)| f.header.tag == i as i32));
        }
    }

    #[test]
    fn a_ring_that_breaks_the_rules_closes_that_link_only() {
        let (a, b) = unix_pair();
        let (c, d) = unix_pair();
        send_msg(&a, 1, b"first");
        send_msg(&c, 1, b"first");
        assert_eq!(read_n(&b, 1).len(), 1);
        assert_eq!(read_n(&d, 1).len(), 1);
        // The producer's position far beyond what the ring holds.
        b.small_in().unwrap().store(64, u64::MAX / 2);
        let (frames, ended) = b.take_frames();
        assert!(frames.is_empty() && ended, "the bad ring's link is closed");
        send_msg(&c, 2, b"second");
        let got = read_n(&d, 1);
        assert_eq!((got[0].header.tag, &got[0].body[..]), (2, &b"second"[..]));
    }
}
