//! Feeds (docs/PROTOCOL.md "Feeds"): a task's TCP connection to the daemon
//! of another host, carrying the task's default-route messages for that
//! host's tasks, so that between hosts a message passes one daemon (the
//! receiver's) instead of two. The task opens it before its first message
//! to the host ([`crate::task::feed`]); the connection runs the machine
//! secret's handshake with role `Feed` (claimed id: the task's tid), and we
//! accept it with a `LinkOk` frame, after which only the task writes.
//!
//! What may come on a feed: Msg frames from the claimed task to a task of
//! this host. Anything else closes that feed (the task's later messages for
//! this host then go through its own daemon); the rest of the daemon is
//! untouched.
//!
//! Order against the daemon links: a task's exit reaches us as a TaskGone
//! from its daemon, on another TCP connection than its feed. Its last
//! messages must be delivered before the notices the exit fires, so the
//! TaskGone waits until the task's feed has reached its end (the task
//! closes its feeds before it leaves; a killed one's are closed by its
//! kernel), at most [`GONE_WAIT`].
//!
//! Fences: a task whose feed stalls or fails sends the rest of its messages
//! for us through its daemon, led by a fence (tag
//! [`crate::wire::TAG_FEED_FENCE`], to us) with the count of whole frames
//! its feed took. Its messages that come through the daemons after the
//! fence are held until the feed has delivered that many frames or ended
//! (at most [`HOLD_WAIT`]), so they cannot overtake the feed's.
//!
//! Back on the feed: a message that one of our tasks sends through us to a
//! task whose feed is up here goes back on that feed, so a ping-pong
//! between two hosts passes one daemon both ways, on one TCP connection
//! whose answers carry the acknowledgements. When we deliver a message from
//! a feed to one of our tasks, we first tell that task (Ctl ReplyVia) that
//! its messages to the feed's task may come through us; it then sends them
//! through us, unless it already sent that task something another way. A
//! remote task that a message of ours reached over a daemon link keeps
//! that way ([`Returns::linked`]), so one pair's order holds. Our task's
//! exit reaches other daemons as a TaskGone on a daemon link: it waits
//! until what the feeds back to that host carried has been acknowledged by
//! their tasks' kernels (at most [`GONE_WAIT`]); the task reads its feeds
//! before it files what its daemon gives it, so its last messages precede
//! its exit notices there too.
//!
//! The state is [`Feeds`], a field of the daemon that only this file
//! reaches (its fields are private); the loop asks it
//! [`Feeds::returns_waiting`].

use super::server::Daemon;
use crate::daemon::link::Phase;
use crate::daemon::log::dlog;
use crate::net::addr::fmt_sockaddr;
use crate::wire::ctl_frame;
use crate::wire::{Ctl, Frame, Kind, Reader, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Longest a TaskGone waits for the end of the task's feed.
pub(super) const GONE_WAIT: Duration = Duration::from_secs(2);
/// Longest messages wait behind a fence for the feed to catch up.
pub(super) const HOLD_WAIT: Duration = Duration::from_secs(10);

impl Daemon {
    /// A handshake with role Feed finished on incoming link `tok`. Accepted
    /// (with a LinkOk) when `claimed` is a task of another host of the
    /// machine. Returns false when the connection was refused.
    pub(super) fn feed_authenticated(&mut self, tok: Token, claimed: i32) -> bool {
        let host = tid::host_of(claimed);
        let known = self.multi.placed()
            && tid::is_task(claimed)
            && host != self.me.host()
            && self.multi.table().contains(host);
        let Some(link) = self.links.get_mut(tok) else {
            return false;
        };
        let peer_addr = fmt_sockaddr(&link.peer_addr);
        if !known {
            dlog!(
                self.log,
                Warn,
                "refused feed from {peer_addr}: {} is no task of another host",
                tid::fmt(claimed)
            );
            self.drop_feed(tok);
            return false;
        }
        link.feed = true;
        link.peer = claimed;
        self.feeds.returns.by_task.insert(claimed, tok);
        let ok = ctl_frame(self.me.dtid(), claimed, Ctl::LinkOk, Vec::new());
        link.held.push_front(ok.to_bytes());
        if link.set_up().is_err() {
            self.feed_closed(tok, "write failed", false);
            return false;
        }
        dlog!(
            self.log,
            Debug,
            "feed from {} at {peer_addr} up",
            tid::fmt(claimed)
        );
        true
    }

    /// A frame arrived on feed `tok`: a message for one of our tasks, or
    /// the end of that feed.
    pub(super) fn feed_frame(&mut self, tok: Token, f: Frame) {
        let peer = self.links.get(tok).map_or(0, |l| l.peer);
        let h = f.header;
        let ours = tid::is_task(h.dst) && tid::host_of(h.dst) == self.me.host();
        if h.kind != Kind::Msg || h.src != peer || !ours {
            let why = format!(
                "{:?} frame from {} to {} on a feed",
                h.kind,
                tid::fmt(h.src),
                tid::fmt(h.dst)
            );
            self.feed_closed(tok, &why, true);
            return;
        }
        self.offer_return(peer, h.dst);
        self.deliver_frame(f);
        let fed = self.links.get_mut(tok).map_or(0, |l| {
            l.fed += 1;
            l.fed
        });
        let go = self.feeds.holds.fed(peer, fed);
        self.deliver_each(go);
        self.flow_after_feed(tok, h.dst);
    }

    fn deliver_each(&mut self, frames: VecDeque<Frame>) {
        for f in frames {
            self.deliver_frame(f);
        }
    }

    /// A message from another daemon's link: held while its sender's
    /// fence waits for the feed, delivered otherwise.
    pub(super) fn link_msg(&mut self, f: Frame) {
        if let Some(f) = self.feeds.holds.offer(f) {
            self.deliver_frame(f);
        }
    }

    /// A message for us: when it is a fence (from a remote task whose feed
    /// was given up), holds that task's next messages until its feed has
    /// delivered the count it carries. Returns whether it was one.
    pub(super) fn feed_fence(&mut self, f: &Frame) -> bool {
        if f.header.tag != crate::wire::TAG_FEED_FENCE || !tid::is_task(f.header.src) {
            return false;
        }
        let mut r = Reader::new(&f.body);
        let (Ok(hi), Ok(lo)) = (r.int(), r.int()) else {
            return true;
        };
        let upto = (u64::from(hi as u32) << 32) | u64::from(lo as u32);
        let t = f.header.src;
        let fed = self
            .feed_of(t)
            .and_then(|tok| self.links.get(tok))
            .map(|l| l.fed);
        dlog!(
            self.log,
            Info,
            "feed from {} given up after {upto} frames ({} delivered so far)",
            tid::fmt(t),
            fed.map_or_else(|| "all".to_string(), |n| n.to_string())
        );
        self.feeds.holds.fence(t, upto, fed, Instant::now());
        true
    }

    /// Delivers what waited behind task `t`'s fence.
    fn release_hold(&mut self, t: i32) {
        let go = self.feeds.holds.release(t);
        self.deliver_each(go);
    }

    /// Feed `tok` ended (end of stream, error, or - `bad` - a frame it may
    /// not carry or cannot be decoded): it is closed, and a TaskGone that
    /// waited for it is handled.
    pub(super) fn feed_closed(&mut self, tok: Token, why: &str, bad: bool) {
        let peer = self.links.get(tok).map_or(0, |l| l.peer);
        // A task that gave its feed up still reads it until it closes:
        // what waits here for it goes first (as far as the socket takes).
        if let Some(l) = self.links.get_mut(tok).filter(|_| !bad) {
            let _ = l.flush();
        }
        self.drop_feed(tok);
        let level = if bad {
            log::Level::Warn
        } else {
            log::Level::Debug
        };
        let text = format!("feed from {} closed: {why}", tid::fmt(peer));
        self.log.msg(level, &text);
        self.release_hold(peer);
        if self.feeds.gone_waiting.contains_key(&peer) && self.feed_of(peer).is_none() {
            self.feeds.gone_waiting.remove(&peer);
            self.task_gone_fire(peer);
        }
    }

    fn drop_feed(&mut self, tok: Token) {
        if let Some(mut l) = self.links.remove(tok) {
            let _ = self.poll.registry().deregister(&mut l.stream);
            self.feeds.returns.forget(l.peer, tok);
        }
    }

    /// Before a message from feed task `t` reaches our task `to`: `to` is
    /// told (once) that its messages for `t` may come through us, unless
    /// messages for `t` go over a daemon link.
    fn offer_return(&mut self, t: i32, to: i32) {
        let r = &self.feeds.returns;
        if r.linked.contains(&t) || r.told.contains(&(t, to)) {
            return;
        }
        let f = ctl_frame(
            self.me.dtid(),
            to,
            Ctl::ReplyVia,
            Writer::new().int(t).finish(),
        );
        // Ahead of the message, also while the task is not connected yet.
        let conn = match self.tasks.get_mut(to) {
            Some(task) => match task.conn {
                Some(c) => Some(c),
                None => {
                    task.held.push_back(f.to_bytes());
                    None
                }
            },
            None => return,
        };
        self.feeds.returns.told.insert((t, to));
        if let Some(c) = conn {
            self.send_frame(c, f);
        }
    }

    /// A message for remote task `dst`: on `dst`'s feed when it has one up
    /// here and no message for it went over a daemon link (given back
    /// otherwise, `dst` then keeping the daemon links).
    pub(super) fn route_back(&mut self, frame: Frame) -> Option<Frame> {
        let dst = frame.header.dst;
        let r = &mut self.feeds.returns;
        match r.by_task.get(&dst) {
            Some(&tok) if !r.linked.contains(&dst) => {
                if r.used.insert(tok) {
                    dlog!(
                        self.log,
                        Debug,
                        "messages for {} go back on its feed",
                        tid::fmt(dst)
                    );
                }
                self.send_link_frame(tok, frame);
                None
            }
            _ => {
                if tid::is_task(dst) {
                    r.linked.insert(dst);
                }
                Some(frame)
            }
        }
    }

    /// Sends our task's TaskGone frame `bytes` to the daemon of `host`, once
    /// what feeds back to that host's tasks carried has been acknowledged
    /// (at most [`GONE_WAIT`]).
    pub(super) fn send_gone(&mut self, host: i32, bytes: Vec<u8>) {
        if self.feeds.returns.gone.is_empty() && !self.returns_in_flight(host) {
            self.send_to_host(host, bytes);
            return;
        }
        let until = Instant::now() + GONE_WAIT;
        self.feeds.returns.gone.push_back((host, bytes, until));
    }

    /// Whether a feed that carried messages back to a task of `host` may
    /// still hold some on their way.
    fn returns_in_flight(&self, host: i32) -> bool {
        self.feeds.returns.used.iter().any(|tok| {
            self.links
                .get(*tok)
                .is_some_and(|l| tid::host_of(l.peer) == host && l.in_flight())
        })
    }

    /// Sends the TaskGones that waited and may go now, in order.
    pub(super) fn returns_tick(&mut self, now: Instant) {
        while let Some(&(host, _, until)) = self.feeds.returns.gone.front() {
            if now < until && self.returns_in_flight(host) {
                return;
            }
            if let Some((host, bytes, _)) = self.feeds.returns.gone.pop_front() {
                self.send_to_host(host, bytes);
            }
        }
    }

    /// A feed still open from task `t`.
    fn feed_of(&self, t: i32) -> Option<Token> {
        self.links
            .iter()
            .find(|(_, l)| l.feed && l.peer == t)
            .map(|(tok, _)| *tok)
    }

    /// Another daemon says its task `t` exited (Ctl TaskGone). What a feed
    /// from `t` already brought is read first; if the feed is still open,
    /// the notices wait for its end (or [`GONE_WAIT`]).
    pub(super) fn task_gone_remote(&mut self, t: i32) {
        // A feed still in the listen queue, or still in its handshake, may
        // be t's: take in what has arrived on all of them.
        self.accept_links();
        let pending: Vec<Token> = self
            .links
            .iter()
            .filter(|(_, l)| l.feed || matches!(l.phase, Phase::Accepting(_)))
            .map(|(tok, _)| *tok)
            .collect();
        for tok in pending {
            self.link_event(tok, true, false);
        }
        if self.feed_of(t).is_some() {
            self.feeds
                .gone_waiting
                .insert(t, Instant::now() + GONE_WAIT);
            return;
        }
        self.task_gone_fire(t);
    }

    /// The effects of a remote task's exit: notices, and on the master its
    /// groups and mailbox entries (on a claimant, once its claim wins).
    fn task_gone_fire(&mut self, t: i32) {
        let notes = self.notify.task_exited(t);
        self.deliver_all(notes);
        if self.multi.is_master() {
            self.groups_task_gone(t);
            self.mbox.task_gone(t);
            self.answered_task_gone(t);
        } else {
            // A claimant: it leaves its groups when the claim wins.
            self.claim_task_gone(t);
        }
    }

    /// Tick: held messages whose feed did not catch up in time go; TaskGones
    /// that waited long enough for their feeds are handled (the feed is
    /// closed: its task is gone).
    pub(super) fn feeds_tick(&mut self, now: Instant) {
        // A feed not read from (its messages' queue is full, flow.rs) is
        // not late: what it still holds goes first.
        let paused = |d: &Daemon, t: i32| d.feed_of(t).is_some_and(|tok| d.feed_paused(tok));
        let late: Vec<i32> = self
            .feeds
            .holds
            .overdue(now)
            .into_iter()
            .filter(|t| !paused(self, *t))
            .collect();
        for t in late {
            dlog!(
                self.log,
                Warn,
                "feed from {} did not catch up with its fence in {} s: its held messages go",
                tid::fmt(t),
                HOLD_WAIT.as_secs()
            );
            self.release_hold(t);
        }
        let due: Vec<i32> = self
            .feeds
            .gone_waiting
            .iter()
            .filter(|(t, &d)| now >= d && !paused(self, **t))
            .map(|(&t, _)| t)
            .collect();
        for t in due {
            self.feeds.gone_waiting.remove(&t);
            while let Some(tok) = self.feed_of(t) {
                self.drop_feed(tok);
            }
            dlog!(
                self.log,
                Debug,
                "feed from {} still open {} s after its exit: closed",
                tid::fmt(t),
                GONE_WAIT.as_secs()
            );
            // What waited behind its fence goes before the notices.
            self.release_hold(t);
            self.task_gone_fire(t);
        }
    }

    /// Host `host` left the machine: its tasks' feeds close.
    pub(super) fn feeds_host_gone(&mut self, host: i32) {
        let toks: Vec<Token> = self
            .links
            .iter()
            .filter(|(_, l)| l.feed && tid::host_of(l.peer) == host)
            .map(|(tok, _)| *tok)
            .collect();
        for tok in toks {
            self.drop_feed(tok);
        }
        self.feeds
            .gone_waiting
            .retain(|&t, _| tid::host_of(t) != host);
        let held = self.feeds.holds.tasks(|t| tid::host_of(t) == host);
        for t in held {
            self.release_hold(t);
        }
    }

    /// DaemonAddr: the TCP addresses of the daemon of the host in the
    /// request (a host part or daemon tid), comma-separated.
    pub(super) fn req_daemon_addr(&self, r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
        let host = tid::host_of(r.int()?);
        if host == self.me.host() || !self.multi.placed() {
            return Err(Error::NoHost);
        }
        let entry = self.multi.table().by_tid(host).ok_or(Error::NoHost)?;
        let list: Vec<String> = entry.addrs.iter().map(fmt_sockaddr).collect();
        Ok(Writer::new().str(&list.join(",")).finish())
    }
}

/// The feeds' state: held messages, messages going back, TaskGones
/// waiting for feeds to end. Its fields are private to this file.
#[derive(Default)]
pub(super) struct Feeds {
    /// Remote tasks whose TaskGone waits for the end of their feed, with
    /// the time it waits until.
    gone_waiting: HashMap<i32, Instant>,
    /// Messages of remote tasks that came through their daemon after a
    /// fence, held until their feed caught up.
    holds: Holds,
    /// Messages going back on feeds.
    returns: Returns,
}

impl Feeds {
    /// Whether TaskGones of our tasks wait for feeds (the loop then looks
    /// again soon).
    pub(super) fn returns_waiting(&self) -> bool {
        self.returns.waiting()
    }
}

/// Messages going back on feeds (see the module's documentation).
#[derive(Default)]
struct Returns {
    /// The feeds that are up, by their task.
    by_task: HashMap<i32, Token>,
    /// Remote tasks a message went to over a daemon link: they keep that way.
    linked: HashSet<i32>,
    /// (feed task, our task) pairs where ours was told ReplyVia.
    told: HashSet<(i32, i32)>,
    /// Feeds that carried messages back.
    used: HashSet<Token>,
    /// Our tasks' TaskGones waiting for feeds back to that host: (host,
    /// frame, until when), in order.
    gone: VecDeque<(i32, Vec<u8>, Instant)>,
}

impl Returns {
    /// Feed `tok` of task `t` is gone.
    fn forget(&mut self, t: i32, tok: Token) {
        if self.by_task.get(&t) == Some(&tok) {
            self.by_task.remove(&t);
        }
        self.used.remove(&tok);
        self.told.retain(|&(ft, _)| ft != t);
    }

    /// Whether TaskGones wait (the loop then looks again soon).
    pub fn waiting(&self) -> bool {
        !self.gone.is_empty()
    }
}

/// Messages of remote tasks held behind their fences (sans IO: the daemon
/// feeds it what happens and delivers what it gives back).
#[derive(Default)]
struct Holds {
    by_task: HashMap<i32, Hold>,
}

/// One task's held messages.
struct Hold {
    /// Frames its feed must have delivered before they go.
    upto: u64,
    frames: VecDeque<Frame>,
    deadline: Instant,
}

impl Holds {
    /// Task `t`'s fence says its feed took `upto` frames; `fed` is how many
    /// its feed has delivered (None: the feed has ended). Returns whether
    /// its next messages are held.
    pub fn fence(&mut self, t: i32, upto: u64, fed: Option<u64>, now: Instant) -> bool {
        let behind = fed.is_some_and(|n| n < upto);
        if behind {
            self.by_task.insert(
                t,
                Hold {
                    upto,
                    frames: VecDeque::new(),
                    deadline: now + HOLD_WAIT,
                },
            );
        }
        behind
    }

    /// A message that came through the daemons: given back when it may be
    /// delivered now, kept when its sender is held.
    pub fn offer(&mut self, f: Frame) -> Option<Frame> {
        match self.by_task.get_mut(&f.header.src) {
            Some(h) => {
                h.frames.push_back(f);
                None
            }
            None => Some(f),
        }
    }

    /// Task `t`'s feed has delivered `fed` frames: what may go now.
    pub fn fed(&mut self, t: i32, fed: u64) -> VecDeque<Frame> {
        if self.by_task.get(&t).is_some_and(|h| fed >= h.upto) {
            return self.release(t);
        }
        VecDeque::new()
    }

    /// Everything held for task `t` (its feed ended, or its host left).
    pub fn release(&mut self, t: i32) -> VecDeque<Frame> {
        self.by_task
            .remove(&t)
            .map(|h| h.frames)
            .unwrap_or_default()
    }

    /// The held tasks matching `pred`.
    pub fn tasks(&self, pred: impl Fn(i32) -> bool) -> Vec<i32> {
        self.by_task.keys().copied().filter(|&t| pred(t)).collect()
    }

    /// The tasks held past their deadline at `now`.
    pub fn overdue(&self, now: Instant) -> Vec<i32> {
        self.by_task
            .iter()
            .filter(|(_, h)| now >= h.deadline)
            .map(|(&t, _)| t)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Header;

    fn msg(src: i32, n: u8) -> Frame {
        Frame::new(
            Header {
                src,
                dst: 0x40001,
                ..Header::new(Kind::Msg)
            },
            vec![n],
        )
    }

    const T: i32 = 0x80001;

    #[test]
    fn messages_behind_a_fence_wait_for_the_feed() {
        let now = Instant::now();
        let mut h = Holds::default();
        // The feed took 5 frames and has delivered 3: the next ones wait.
        assert!(h.fence(T, 5, Some(3), now));
        assert!(h.offer(msg(T, 1)).is_none());
        assert!(h.offer(msg(T, 2)).is_none());
        // Another task's messages are not held.
        assert_eq!(h.offer(msg(0x80002, 9)).map(|f| f.body), Some(vec![9]));
        assert!(h.fed(T, 4).is_empty());
        let go: Vec<u8> = h.fed(T, 5).into_iter().map(|f| f.body[0]).collect();
        assert_eq!(go, [1, 2]);
        // Released: later messages go at once.
        assert!(h.offer(msg(T, 3)).is_some());
    }

    #[test]
    fn a_fence_behind_nothing_holds_nothing() {
        let now = Instant::now();
        let mut h = Holds::default();
        assert!(!h.fence(T, 5, Some(5), now));
        assert!(!h.fence(T, 5, None, now));
        assert!(h.offer(msg(T, 1)).is_some());
    }

    #[test]
    fn held_messages_go_when_the_feed_ends_or_the_wait_is_over() {
        let now = Instant::now();
        let mut h = Holds::default();
        h.fence(T, 5, Some(0), now);
        assert!(h.offer(msg(T, 1)).is_none());
        assert_eq!(h.release(T).len(), 1);
        h.fence(T, 5, Some(0), now);
        assert!(h.overdue(now).is_empty());
        assert_eq!(h.overdue(now + HOLD_WAIT), [T]);
        assert_eq!(h.tasks(|t| tid::host_of(t) == tid::host_of(T)), [T]);
    }
}
