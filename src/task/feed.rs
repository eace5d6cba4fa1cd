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
//! Only we write on a feed, and the daemon reads without bound, as it does
//! a task connection, so a write waits only for the network: a pvm_send to
//! another host returns once the kernel took the message (as a direct
//! route's does), not once our daemon has it in memory. A feed on which
//! nothing moves for [`STALL`] (the host unreachable, its daemon stopped)
//! or whose write fails is given up: it is shut down, the message and every
//! later one for that host go through our daemon, led by a fence (a
//! message with tag [`crate::wire::TAG_FEED_FENCE`] for the other daemon, carrying how many
//! whole frames the feed took) so that daemon holds them until the feed
//! has delivered that many or ended: one pair's order holds across the
//! switch.

use crate::auth::{self, Role, Secret};
use crate::sys;
use crate::tid;
use crate::wire::{Ctl, Header, Kind, HEADER_LEN};
use std::collections::HashMap;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

/// Bound on connecting, the handshake and the daemon's LinkOk.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A feed that takes no byte for this long while we write is given up.
pub const STALL: Duration = Duration::from_secs(1);

/// One open feed.
struct Feed {
    stream: TcpStream,
    /// Whole frames written on it.
    frames: u64,
}

/// Our feeds, by host part. `None`: that host's messages go through our
/// daemon.
#[derive(Default)]
pub struct Feeds {
    by_host: HashMap<i32, Option<Feed>>,
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
        (other && !self.by_host.contains_key(&host)).then_some(host)
    }

    /// Records the outcome of opening a feed to `host`, unless another
    /// thread did first (its outcome stays: messages may have followed it).
    pub fn settle(&mut self, host: i32, stream: Option<TcpStream>) {
        self.by_host
            .entry(host)
            .or_insert(stream.map(|stream| Feed { stream, frames: 0 }));
    }

    /// Writes a message frame on the feed to its destination's host. Only
    /// messages to tasks go on feeds; those to a daemon go through ours.
    pub fn send(&mut self, h: &Header, body: &[IoSlice<'_>]) -> Sent {
        let host = tid::host_of(h.dst);
        let Some(Some(feed)) = self.by_host.get_mut(&host).filter(|_| tid::is_task(h.dst)) else {
            return Sent::NoFeed;
        };
        let Err(e) = write_frame(&feed.stream, h, body) else {
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
        let _ = feed.stream.shutdown(Shutdown::Write);
        let frames = feed.frames;
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
fn write_frame(stream: &TcpStream, h: &Header, body: &[IoSlice<'_>]) -> io::Result<()> {
    let head = h.encode();
    let mut owned = crate::wire::frame_slices(&head, body);
    let mut slices: &mut [IoSlice<'_>] = &mut owned;
    let want = [(
        stream.as_fd(),
        sys::Ready {
            read: false,
            write: true,
        },
    )];
    while !slices.is_empty() {
        match sys::send_nonblocking(stream.as_fd(), slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !sys::poll_many(&want, Some(STALL))?[0].write {
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
pub fn open(list: &str, host: &[SocketAddr], secret: &Secret, me: i32) -> io::Result<TcpStream> {
    let target = super::direct::pick_target(list, host)?;
    let mut s = TcpStream::connect_timeout(&target, OPEN_TIMEOUT)?;
    s.set_nodelay(true)?;
    auth::connect_blocking(&mut s, secret, Role::Feed, me, OPEN_TIMEOUT)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, format!("{e:?}")))?;
    // The daemon accepts with a LinkOk frame, or closes the connection.
    s.set_read_timeout(Some(OPEN_TIMEOUT))?;
    let mut head = [0u8; HEADER_LEN];
    s.read_exact(&mut head)?;
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
    sys::set_socket_buffers(&s, 4 << 20);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, FrameDecoder};
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

    /// A feed to host 0x80000 whose far end is `rx`.
    fn feeds() -> (Feeds, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let tx = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (rx, _) = l.accept().unwrap();
        let mut f = Feeds::default();
        assert_eq!(f.wants(ME, TASK), Some(tid::host_of(TASK)));
        f.settle(tid::host_of(TASK), Some(tx));
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
