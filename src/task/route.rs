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
//!    it, and it delivers a message to its `dst` alone); `transport::verify_peer`
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
//! = the connecting task's tid): the connector blocks on it in `transport::connect`,
//! the acceptor feeds it from the non-blocking reader ([`Link::fill`]). A
//! peer that fails it is logged and dropped; one that passes must still
//! present the offer's nonce in its hello, as on one host. The secret and
//! the host's addresses come from the local daemon's Connect reply.//!
//! The pieces: [`super::transport`] (listeners, connecting, the handshake's
//! use), [`super::link`] (frames over one link), and here the route choice
//! ([`Routes`]): which way a message goes (a direct link, our feed to
//! another host's daemon, or our daemon), the offers and hellos, and the
//! per-pair counts that keep FIFO order across a switch.

use super::conn::Conn;
use super::feed::Sent;
use super::link::{parse_hello, Link};
use super::transport::{connect, verify_peer, Listener, Stream, TcpCtx};
use crate::auth::Secret;
use crate::net::addr::fmt_sockaddr;
use crate::tid;
use crate::wire::{Frame, Header, Kind, Reader, Req, Writer};
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// Tag of the offer message (negative: no user message can carry it).
pub const TAG_OFFER: i32 = -50;
/// Version of the offer body.
const OFFER_VERSION: i32 = 1;
/// An accepted connection that has not presented a valid hello (after the
/// handshake, for TCP) this long after it was accepted is closed, the next
/// time the task reads (a genuine peer sends its hello at once).
const UNVERIFIED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

// The route options of pvm_setopt that matter here.
use super::options::{DONT_ROUTE, ROUTE_DIRECT};

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
    /// How links to other hosts are protected (Connect reply).
    level: crate::seal::Level,
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
    pub(super) feeds: super::feed::Feeds,
    /// The program polls the links' sockets itself (pvm_getfds, [`Routes::fds`]):
    /// every link, and every link made later, asks its peer to ring the
    /// socket after each record it puts in the link's ring.
    ring_always: bool,
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

    /// Takes the machine's protection level of links between hosts (from
    /// the daemon's Connect reply).
    pub fn set_level(&mut self, level: crate::seal::Level) {
        self.level = level;
    }

    /// The link to use for a message to `dst`, or None for the daemon route
    /// (the send is then counted). With PvmRouteDirect the first send to a
    /// task also offers it a link (through `conn`, before the message).
    fn route(&mut self, me: i32, dst: i32, opt: i32, conn: &Conn) -> Option<Arc<Link>> {
        if !tid::is_task(dst) || dst == me {
            return None;
        }
        if let Some(p) = self.peers.get(&dst) {
            if !p.link.is_broken() {
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
    pub fn feed_ctx(&self) -> Option<(Secret, Vec<SocketAddr>, crate::seal::Level)> {
        Some((self.secret.clone()?, self.host.clone(), self.level))
    }

    /// Sends one message frame (header `h` from `me`, body `body`) by the
    /// route it takes: the direct link to `h.dst` when there is one (with
    /// PvmRouteDirect in `opt`, sends to a task we have no link with are
    /// counted and preceded by an offer), else the default route
    /// ([`Routes::send_default`]). Runs under the state lock, so route
    /// choice, counts and hellos agree. Returns whether a link send had to
    /// wait (and read links meanwhile).
    pub fn send(
        &mut self,
        conn: &Conn,
        me: i32,
        opt: i32,
        h: &Header,
        body: &[IoSlice<'_>],
    ) -> crate::Result<bool> {
        if let Some(link) = self.route(me, h.dst, opt, conn) {
            match link.send(h, body, || self.links()) {
                Ok(blocked) => return Ok(blocked),
                Err(e) => {
                    // The peer is gone: the daemon drops the message as it drops
                    // any message to a task that exited (or delivers it, should
                    // the peer still live). The reader closes the link.
                    log::debug!("direct route to {} failed: {e}", tid::fmt(h.dst));
                    self.send_default(conn, h, body)?;
                    return Ok(true);
                }
            }
        }
        self.send_default(conn, h, body)?;
        Ok(false)
    }

    /// Sends a message frame by the default route: on the feed to the
    /// destination's host when there is one, through the daemon otherwise
    /// (after the fence, when the feed was just given up).
    fn send_default(&mut self, conn: &Conn, h: &Header, body: &[IoSlice<'_>]) -> crate::Result<()> {
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
            let keep = now.duration_since(l.opened()) < UNVERIFIED_TIMEOUT;
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
    pub fn fds(&mut self) -> Vec<RawFd> {
        self.ring_always = true;
        for l in self.links().iter().chain(&self.unverified) {
            l.set_ring_always();
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
            Stream::Unix(_) => verify_peer(&s).and_then(|()| Link::new(s, self.ring_always)),
            Stream::Tcp(t) => {
                t.set_nodelay(true)?;
                let peer = t.peer_addr().map(|a| fmt_sockaddr(&a)).unwrap_or_default();
                log::debug!("direct-route TCP connection from {peer}");
                match &self.secret {
                    Some(secret) => Link::accepted_tcp(s, secret, self.level, self.ring_always),
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
        let peer = link.peer();
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
            level: self.level,
        };
        let link = connect(&addr, &ctx)
            .and_then(|(s, keys)| verify_peer(&s).map(|()| (s, keys)))
            .and_then(|(s, keys)| {
                let l = Link::new(s, self.ring_always)?;
                l.set_keys(keys);
                Ok(l)
            })
            .and_then(|l| l.send_hello(me, from, nonce, count).map(|()| l));
        match link {
            Ok(l) => {
                l.set_peer(from);
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
        let mut peer = link.peer();
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

    /// Checks the hello of an accepted connection (see [`hello_ok`]); the peer's tid, or 0
    /// when it is refused.
    fn accept_hello(&mut self, link: &Arc<Link>, f: &Frame, me: i32, conn: Option<&Conn>) -> i32 {
        let from = f.header.src;
        let authed = link.authed();
        let ok = hello_ok(
            f,
            me,
            link.is_unix() || authed == from,
            self.offered.get(&from).copied(),
            self.peers.contains_key(&from),
        );
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
            link.set_broken();
        }
        link.set_peer(from);
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
        // pvm_getfds's effect outlives the enrollment.
        *self = Routes {
            ring_always: self.ring_always,
            ..Routes::default()
        };
    }
}

/// Whether `f`, the first frame on a connection accepted by task `me`, is a
/// hello it may accept: (nonce, count) when it is a RouteHello for `me`
/// whose nonce is the one `offered` to its claimed source (non-zero), on a
/// connection that source may use (`may_claim`: a Unix socket in our
/// private directory, or a TCP connection authenticated as that tid), from
/// a task not `known` as a peer already. Fuzzed (`crate::fuzzing`).
pub(super) fn hello_ok(
    f: &Frame,
    me: i32,
    may_claim: bool,
    offered: Option<u64>,
    known: bool,
) -> Option<(u64, u64)> {
    parse_hello(f).filter(|(nonce, _)| {
        may_claim && f.header.dst == me && *nonce != 0 && offered == Some(*nonce) && !known
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;
    use crate::task::link::SMALL_DIR;
    use crate::task::options::DONT_ROUTE;
    use crate::task::transport::*;
    use crate::wire::Landing;
    use crate::{auth, os, ring};
    use std::io::IoSlice;
    use std::net::SocketAddr;
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

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
        let l = Arc::new(Link::new(Stream::Unix(x), false).unwrap());
        l.set_peer(peer);
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
        let other_side = Link::new(Stream::Unix(other), false).unwrap();
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
        Link::new(Stream::Unix(other), false)
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
                level: Default::default(),
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
        assert_eq!(link.authed(), 0);
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
                level: Default::default(),
            };
            connect(&addr, &ctx).map(|_| ())
        });
        wait(&mut acc, &l);
        let link = acc.unverified[0].clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while link.authed() == 0 && std::time::Instant::now() < deadline {
            link.fill(None, false);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        t.join().unwrap().unwrap();
        assert_eq!(link.authed(), B);
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
        let l = Arc::new(Link::new(Stream::Unix(x), false).unwrap());
        r.unverified.push(l.clone());
        let a_side = Link::new(Stream::Unix(y), false).unwrap();
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
        let a = Arc::new(Link::new(Stream::Unix(x), false).unwrap());
        let b = Arc::new(Link::new(Stream::Unix(y), false).unwrap());
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
        let link = Link::new(Stream::Tcp(lis.accept().unwrap().0), false).unwrap();
        link.set_peer(PEER);
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
        assert_eq!(link.decoder_pending(), 0, "read on after the landing");
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
            Arc::new(Link::new(Stream::Unix(x), false).unwrap()),
            Arc::new(Link::new(Stream::Unix(y), false).unwrap()),
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
