//! Feeds (docs/PROTOCOL.md "Feeds"): a task's messages for the tasks of
//! another host, on the default route, are written straight to that host's
//! daemon over TCP instead of going through our own daemon first. The
//! receiving daemon delivers them as it delivers messages from its links
//! (src/daemon/feeds.rs); what a PVM program sees does not change, and a
//! message between hosts passes one daemon instead of two.
//!
//! A feed is opened before the first message to a host, outside the state
//! lock ([`open`]): the daemon's addresses come from our daemon (DaemonAddr),
//! the connection runs the machine secret's handshake (role `Feed`) and
//! waits for the daemon's LinkOk. From then on every message to that host
//! goes on it, so one pair's messages stay in order with no fence: none
//! went another way before. When a host has no feed (the open failed,
//! `PVM6_FEEDS=0`, no common address family) its messages go through our
//! daemon, for good.
//!
//! Only we write on a feed, and the daemon reads it as it does a task
//! connection (it stops while the queue our messages go to is over its
//! cap, src/daemon/flow.rs), so a write waits only for the network and
//! that queue: a pvm_send to another host returns once the kernel took the
//! message (as a direct route's does), not once our daemon has it in
//! memory. A feed on which nothing moves for [`STALL`] (the host
//! unreachable, its daemon stopped, its receiver not reading) or whose
//! write fails is given up: it is shut down, the message and every
//! later one for that host go through our daemon, led by a fence (a
//! message with tag [`crate::wire::TAG_FEED_FENCE`] for the other daemon, carrying how many
//! whole frames the feed took) so that daemon holds them until the feed
//! has delivered that many or ended: one pair's order holds across the
//! switch.

//!
//! Back on the feed: the daemon may send us, on our feed, the messages its
//! tasks send us through it (src/daemon/feeds.rs), so a feed is read too
//! ([`FeedRx`], watched with the direct links). When the daemon tells us
//! (Ctl ReplyVia) that a task of another host has a feed into it, our
//! messages for that task go through our daemon instead of a feed of ours,
//! unless we already sent it something ([`Feeds::reply_via`]): one pair's
//! messages keep one way.
//!
//! A feed is protected as daemon links are (src/seal.rs, the machine's
//! level): the frames we write are sealed, what comes back is opened, and
//! a record that fails to open ends the feed's reading side (logged).

use crate::auth::{self, Role, Secret};
use crate::os;
use crate::seal::{Keys, Level, Opener, Sealer};
use crate::sync::Locked;
use crate::tid;
use crate::wire::{Ctl, Frame, FrameDecoder, Header, Kind, HEADER_LEN};
use std::collections::{HashMap, HashSet};
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bound on connecting, the handshake and the daemon's LinkOk.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A feed that takes no byte for this long while we write is given up.
pub const STALL: Duration = Duration::from_secs(1);

/// One open feed.
struct Feed {
    rx: Arc<FeedRx>,
    /// Whole frames written on it.
    frames: u64,
    /// Given up: its writing side is shut, and it is read until its end.
    draining: bool,
    /// Seals what we write (None: level none).
    sealer: Option<Sealer>,
}

/// A feed's received bytes: the decoder, and the opener of a protected feed.
#[derive(Default)]
struct FeedIn {
    decoder: FrameDecoder,
    opener: Option<Opener>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The daemon sees the end now, even while a reader still holds `rx`.
        if !self.draining {
            let _ = self.rx.stream.shutdown(Shutdown::Both);
        }
    }
}

/// The reading side of a feed: what the daemon sends back on it. Read by
/// whichever thread reads (without the state lock), like a direct link.
pub struct FeedRx {
    stream: TcpStream,
    /// Our tid, the only destination of what comes.
    me: i32,
    /// The host of the daemon at the other end.
    host: i32,
    decoder: Mutex<FeedIn>,
    closed: AtomicBool,
}

impl FeedRx {
    /// The socket, for poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// Whether it ended (it is then no longer watched).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Reads what the socket holds now and returns the whole messages for
    /// our task. A frame that is not a message to us, or bytes that do not
    /// decode, end the feed's reading side (the daemon sends nothing else).
    pub fn take(&self) -> Vec<Frame> {
        let me = self.me;
        let mut out = Vec::new();
        if self.is_closed() {
            return out;
        }
        let mut guard = self.decoder.locked();
        let FeedIn { decoder: d, opener } = &mut *guard;
        let mut scratch = [0u8; crate::wire::READ_STEP];
        let mut ended = false;
        let stream = &self.stream;
        loop {
            let got = match opener.as_mut() {
                None => d.read_from(stream, &mut scratch),
                Some(o) => match (&*stream).read(&mut scratch) {
                    Ok(n) if n > 0 => {
                        if let Err(e) = o.open(&mut scratch[..n], |b| d.feed(b)) {
                            log::warn!(
                                "feed to {} closed: {e}",
                                tid::fmt(tid::daemon_tid(self.host))
                            );
                            let _ = stream.shutdown(Shutdown::Both);
                            // Whole frames before the refused record are
                            // delivered below; nothing of that record is.
                            ended = true;
                            break;
                        }
                        Ok(n)
                    }
                    other => other,
                },
            };
            match got {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(_) if opener.is_none() && d.drained() => break,
                Ok(n) if opener.is_some() && n < scratch.len() => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    let h = f.header;
                    // From a task of that host, from a daemon (output
                    // caught with pvm_catchout), or relayed by that daemon.
                    let fits = h.kind == Kind::Msg && h.dst == me;
                    if !fits {
                        log::warn!(
                            "{:?} frame from {} to {} on the feed to {}: reading it ends",
                            h.kind,
                            tid::fmt(h.src),
                            tid::fmt(h.dst),
                            tid::fmt(tid::daemon_tid(self.host))
                        );
                        ended = true;
                        break;
                    }
                    out.push(f);
                }
                Ok(None) => break,
                Err(_) => {
                    log::warn!(
                        "malformed frame on the feed to {}: reading it ends",
                        tid::fmt(tid::daemon_tid(self.host))
                    );
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            self.closed.store(true, Ordering::Relaxed);
        }
        out
    }
}

/// Our feeds, by host part. `None`: that host's messages go through our
/// daemon.
#[derive(Default)]
pub struct Feeds {
    by_host: HashMap<i32, Option<Feed>>,
    /// Tasks of other hosts with a feed into our daemon whose messages from
    /// us go through it (Ctl ReplyVia came before we sent them anything).
    via_daemon: HashSet<i32>,
    /// Tasks of hosts we tried a feed to that we sent something.
    sent: HashSet<i32>,
    /// Feeds given up, still read: what the daemon sent back before it saw
    /// their end still comes.
    draining: Vec<Arc<FeedRx>>,
}

/// Whether feeds are used (`PVM6_FEEDS=0` turns them off).
pub fn enabled() -> bool {
    std::env::var("PVM6_FEEDS").map_or(true, |v| v != "0")
}

/// What became of a message given to [`Feeds::send`].
pub enum Sent {
    /// No feed for its host: send it through the daemon.
    NoFeed,
    /// On the feed.
    Fed,
    /// The feed was given up: send the fence (header and body; none when
    /// nothing went on the feed) and then the message through the daemon.
    GaveUp(Option<(Header, Vec<u8>)>),
}

impl Feeds {
    /// The host of `dst` when a message from `me` to it should have a feed
    /// opened first: a task of another host we have not tried yet.
    pub fn wants(&self, me: i32, dst: i32) -> Option<i32> {
        let host = tid::host_of(dst);
        let other = tid::is_task(dst) && me != 0 && host != tid::host_of(me);
        let ours = other && !self.via_daemon.contains(&dst);
        (ours && !self.by_host.contains_key(&host)).then_some(host)
    }

    /// Records the outcome of opening a feed to `host` for task `me`, unless another
    /// thread did first (its outcome stays: messages may have followed it).
    pub fn settle(&mut self, host: i32, me: i32, opened: Option<(TcpStream, Option<Keys>)>) {
        // Read when ready, written with waits of our own (write_frame): a
        // feed that cannot be made non-blocking is not used.
        let opened = opened.filter(|(s, _)| s.set_nonblocking(true).is_ok());
        self.by_host
            .entry(host)
            .or_insert(opened.map(|(stream, keys)| {
                let (sealer, opener) = match keys {
                    Some(k) => (Some(k.tx), Some(k.rx)),
                    None => (None, None),
                };
                Feed {
                    rx: Arc::new(FeedRx {
                        stream,
                        me,
                        host,
                        decoder: Mutex::new(FeedIn {
                            decoder: FrameDecoder::new(),
                            opener,
                        }),
                        closed: AtomicBool::new(false),
                    }),
                    frames: 0,
                    draining: false,
                    sealer,
                }
            }));
    }

    /// Our daemon says task `t` (of another host) has a feed into it: our
    /// messages for `t` go through our daemon from now on, unless we sent
    /// `t` something already (they keep the way they took).
    pub fn reply_via(&mut self, t: i32) {
        if tid::is_task(t) && !self.sent.contains(&t) {
            self.via_daemon.insert(t);
        }
    }

    /// The reading sides of the open feeds.
    pub fn receivers(&self) -> Vec<Arc<FeedRx>> {
        self.by_host
            .values()
            .flatten()
            .map(|f| &f.rx)
            .chain(&self.draining)
            .filter(|rx| !rx.is_closed())
            .cloned()
            .collect()
    }

    /// Writes a message frame on the feed to its destination's host. Only
    /// messages to tasks go on feeds; those to a daemon go through ours.
    pub fn send(&mut self, h: &Header, body: &[IoSlice<'_>]) -> Sent {
        let host = tid::host_of(h.dst);
        if self.via_daemon.contains(&h.dst) {
            return Sent::NoFeed;
        }
        if tid::is_task(h.dst) && self.by_host.contains_key(&host) {
            self.sent.insert(h.dst);
        }
        let Some(Some(feed)) = self.by_host.get_mut(&host).filter(|_| tid::is_task(h.dst)) else {
            return Sent::NoFeed;
        };
        let Err(e) = write_frame(&feed.rx.stream, feed.sealer.as_mut(), h, body) else {
            feed.frames += 1;
            return Sent::Fed;
        };
        let daemon = tid::daemon_tid(host);
        log::debug!(
            "feed to {} given up ({e}); messages for that host go through our daemon",
            tid::fmt(daemon)
        );
        // What the feed still holds reaches the daemon, then its end; a
        // frame cut short is dropped there (this one goes again below).
        // What the daemon sent back is read until it closes its side.
        let _ = feed.rx.stream.shutdown(Shutdown::Write);
        feed.draining = true;
        let frames = feed.frames;
        self.draining.retain(|rx| !rx.is_closed());
        self.draining.push(feed.rx.clone());
        self.by_host.insert(host, None);
        if frames == 0 {
            return Sent::GaveUp(None);
        }
        let body = crate::wire::Writer::new()
            .int((frames >> 32) as i32)
            .int(frames as i32)
            .finish();
        let fence = Header {
            len: body.len() as u32,
            src: h.src,
            dst: daemon,
            tag: crate::wire::TAG_FEED_FENCE,
            ..Header::new(Kind::Msg)
        };
        Sent::GaveUp(Some((fence, body)))
    }
}

/// Writes one frame, waiting for room while the feed takes bytes; fails
/// when it takes none for [`STALL`].
fn write_frame(
    stream: &TcpStream,
    sealer: Option<&mut Sealer>,
    h: &Header,
    body: &[IoSlice<'_>],
) -> io::Result<()> {
    let head = h.encode();
    let owned = crate::wire::frame_slices(&head, body);
    let Some(sealer) = sealer else {
        return write_slices(stream, owned);
    };
    let parts: Vec<&[u8]> = owned.iter().map(|s| &**s).collect();
    sealer.seal_windows(&parts, |sealed| {
        write_slices(stream, vec![IoSlice::new(sealed)])
    })
}

/// Writes all of `owned`, waiting as [`write_frame`] says.
fn write_slices(stream: &TcpStream, mut owned: Vec<IoSlice<'_>>) -> io::Result<()> {
    let mut slices: &mut [IoSlice<'_>] = &mut owned;
    let want = [(
        stream.as_fd(),
        os::Ready {
            read: false,
            write: true,
        },
    )];
    while !slices.is_empty() {
        match os::send_nonblocking(stream.as_fd(), slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !os::poll_many(&want, Some(STALL))?[0].write {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("nothing taken for {} s", STALL.as_secs()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens a feed for task `me` to the daemon at one of `list` (its
/// addresses, comma-separated, as DaemonAddr gives them), choosing the
/// address family as direct routes do; `host` are our own addresses.
pub fn open(
    list: &str,
    host: &[SocketAddr],
    secret: &Secret,
    me: i32,
    level: Level,
) -> io::Result<(TcpStream, Option<Keys>)> {
    let target = super::transport::pick_target(list, host)?;
    let mut s = crate::os::tcp_connect(target, OPEN_TIMEOUT)?;
    let mut keys = auth::connect_blocking(&mut s, secret, Role::Feed, me, level, OPEN_TIMEOUT)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?
        .keys;
    // The daemon accepts with a LinkOk frame (one record when protected),
    // or closes the connection.
    s.set_read_timeout(Some(OPEN_TIMEOUT))?;
    let mut head = [0u8; HEADER_LEN];
    match keys.as_mut() {
        None => s.read_exact(&mut head)?,
        Some(k) => {
            let mut rec = [0u8; crate::seal::OVERHEAD + HEADER_LEN];
            s.read_exact(&mut rec)?;
            let mut got = Vec::new();
            k.rx.open(&mut rec, |b| got.extend_from_slice(b))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if got.len() == HEADER_LEN {
                head.copy_from_slice(&got);
            }
        }
    }
    let ok = Header::decode(&head).is_ok_and(|h| {
        h.kind == Kind::Ctl && h.tag == Ctl::LinkOk as i32 && h.len == 0 && h.dst == me
    });
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the daemon did not accept the feed",
        ));
    }
    s.set_read_timeout(None)?;
    os::set_socket_buffers(&s, 4 << 20);
    Ok((s, keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, FrameDecoder};
    use std::io::Write;
    use std::net::TcpListener;

    const ME: i32 = 0x40001;
    const TASK: i32 = 0x80002;
    const DAEMON: i32 = 0x8008_0000u32 as i32;

    fn header(dst: i32, tag: i32, len: usize) -> Header {
        Header {
            len: len as u32,
            src: ME,
            dst,
            tag,
            ..Header::new(Kind::Msg)
        }
    }

    /// The bytes of a message frame the daemon writes back on a feed.
    fn back(src: i32, dst: i32, tag: i32, body: &[u8]) -> Vec<u8> {
        let h = Header {
            src,
            dst,
            tag,
            ..Header::new(Kind::Msg)
        };
        Frame::new(h, body.to_vec()).to_bytes()
    }

    /// A feed to host 0x80000 whose far end is `rx`.
    fn feeds() -> (Feeds, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let tx = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (rx, _) = l.accept().unwrap();
        let mut f = Feeds::default();
        assert_eq!(f.wants(ME, TASK), Some(tid::host_of(TASK)));
        f.settle(tid::host_of(TASK), ME, Some((tx, None)));
        (f, rx)
    }

    #[test]
    fn only_tasks_of_other_hosts_want_a_feed_once() {
        let (f, _rx) = feeds();
        assert_eq!(f.wants(ME, TASK), None, "tried already");
        assert_eq!(f.wants(ME, 0x40002), None, "same host");
        assert_eq!(f.wants(ME, DAEMON), None, "a daemon");
        assert_eq!(f.wants(0, TASK), None, "not enrolled");
        assert_eq!(f.wants(ME, 0xc0001), Some(0xc0000));
    }

    #[test]
    fn messages_to_tasks_go_on_the_feed_and_to_daemons_do_not() {
        let (mut f, mut rx) = feeds();
        let body = [1u8, 2, 3];
        assert!(matches!(
            f.send(&header(DAEMON, 5, 3), &[IoSlice::new(&body)]),
            Sent::NoFeed
        ));
        assert!(matches!(
            f.send(&header(0xc0001, 5, 3), &[IoSlice::new(&body)]),
            Sent::NoFeed
        ));
        assert!(matches!(
            f.send(&header(TASK, 7, 3), &[IoSlice::new(&body)]),
            Sent::Fed
        ));
        let mut d = FrameDecoder::new();
        let mut buf = [0u8; 64];
        let got: Frame = loop {
            let n = rx.read(&mut buf).unwrap();
            d.feed(&buf[..n]);
            if let Some(f) = d.next_frame().unwrap() {
                break f;
            }
        };
        assert_eq!((got.header.dst, got.header.tag), (TASK, 7));
        assert_eq!(got.body, body);
    }

    #[test]
    fn reply_via_sends_through_the_daemon_unless_sent_already() {
        let (mut f, _rx) = feeds();
        let body = [5u8; 2];
        // Told before we sent it anything: through the daemon, and no feed
        // of ours is opened for it.
        f.reply_via(0x80003);
        assert!(matches!(
            f.send(&header(0x80003, 1, 2), &[IoSlice::new(&body)]),
            Sent::NoFeed
        ));
        f.reply_via(0xc0001);
        assert_eq!(f.wants(ME, 0xc0001), None, "no feed for it");
        assert_eq!(f.wants(ME, 0xc0002), Some(0xc0000), "its host's others");
        // Told after we sent it something: it keeps our feed.
        assert!(matches!(
            f.send(&header(TASK, 1, 2), &[IoSlice::new(&body)]),
            Sent::Fed
        ));
        f.reply_via(TASK);
        assert!(matches!(
            f.send(&header(TASK, 2, 2), &[IoSlice::new(&body)]),
            Sent::Fed
        ));
        f.reply_via(DAEMON);
        assert!(matches!(
            f.send(&header(DAEMON, 3, 2), &[IoSlice::new(&body)]),
            Sent::NoFeed
        ));
    }

    /// Frames the daemon writes back: messages to us come out of `take`,
    /// whole, in order; anything else ends the feed's reading side.
    #[test]
    fn messages_come_back_on_the_feed() {
        let (f, mut rx) = feeds();
        let r = f.receivers();
        assert_eq!(r.len(), 1);
        let big = vec![7u8; 300_000];
        let mut bytes = back(TASK, ME, 1, b"one");
        bytes.extend(back(0x80000000u32 as i32, ME, 2, &big));
        rx.write_all(&bytes).unwrap();
        let mut got = Vec::new();
        for _ in 0..1000 {
            got.extend(r[0].take());
            if got.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(got.len(), 2, "both messages came");
        assert_eq!((got[0].header.tag, &got[0].body[..]), (1, &b"one"[..]));
        assert_eq!((got[1].header.tag, got[1].body.len()), (2, big.len()));
        assert!(got[1].body == big);
        assert!(!r[0].is_closed());
        // A message for another task: the reading side ends.
        rx.write_all(&back(TASK, 0x40002, 3, b"x")).unwrap();
        for _ in 0..1000 {
            assert!(r[0].take().is_empty());
            if r[0].is_closed() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(r[0].is_closed());
        assert!(f.receivers().is_empty(), "no longer watched");
    }

    /// A feed whose daemon stops reading is given up, but what the daemon
    /// had sent back before still comes out of it.
    #[test]
    fn a_feed_given_up_is_read_until_its_end() {
        let (mut f, mut rx) = feeds();
        rx.write_all(&back(TASK, ME, 9, b"back")).unwrap();
        // rx never reads: the writes stall once the buffers are full.
        let big = vec![3u8; 1 << 20];
        let mut gave_up = false;
        for i in 0..64 {
            match f.send(&header(TASK, i, big.len()), &[IoSlice::new(&big)]) {
                Sent::Fed => {}
                Sent::GaveUp(_) => {
                    gave_up = true;
                    break;
                }
                Sent::NoFeed => panic!("no feed while it was up"),
            }
        }
        assert!(gave_up, "64 MiB went into a socket nobody reads");
        let r = f.receivers();
        assert_eq!(r.len(), 1, "still read");
        let got = r[0].take();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].header.tag, &got[0].body[..]), (9, &b"back"[..]));
        // The daemon closes its side: the feed is read no more.
        drop(rx);
        for _ in 0..1000 {
            r[0].take();
            if r[0].is_closed() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(f.receivers().is_empty());
    }

    #[test]
    fn a_failed_feed_is_given_up_behind_a_fence() {
        let (mut f, rx) = feeds();
        let body = [9u8; 4];
        assert!(matches!(
            f.send(&header(TASK, 1, 4), &[IoSlice::new(&body)]),
            Sent::Fed
        ));
        drop(rx);
        // The peer's end is gone: a write fails (at once or after the RST).
        let mut gave_up = None;
        for _ in 0..100 {
            match f.send(&header(TASK, 2, 4), &[IoSlice::new(&body)]) {
                Sent::Fed => std::thread::sleep(Duration::from_millis(10)),
                Sent::GaveUp(fence) => {
                    gave_up = Some(fence);
                    break;
                }
                Sent::NoFeed => panic!("no feed while it was up"),
            }
        }
        let (fence, fb) = gave_up
            .expect("the feed was never given up")
            .expect("frames went on the feed: a fence");
        assert_eq!(fence.dst, tid::daemon_tid(tid::host_of(TASK)));
        assert_eq!(fence.tag, crate::wire::TAG_FEED_FENCE);
        let mut r = crate::wire::Reader::new(&fb);
        let n = (r.int().unwrap() as u64) << 32 | r.int().unwrap() as u32 as u64;
        assert!(n >= 1, "the first frame was taken: fence count {n}");
        // From now on, that host's messages go through the daemon.
        assert!(matches!(
            f.send(&header(TASK, 3, 4), &[IoSlice::new(&body)]),
            Sent::NoFeed
        ));
        assert_eq!(f.wants(ME, TASK), None, "not tried again");
    }
}
