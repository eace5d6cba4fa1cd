//! Flow control between daemons (issue 28, item 3; docs/HARDENING.md
//! "Bounds", docs/PROTOCOL.md "Flow control"): frames that come from
//! another daemon's link cannot be held back by not reading that link
//! (its heartbeats, replies, replicas and control frames share it, and two
//! daemons each waiting for the other would deadlock), so a daemon link is
//! always read, and the daemon that made the frames is asked to stop
//! instead:
//!
//! - a message from daemon P's link whose queue here (a local task's
//!   connection or hold, or the link toward another host that the master
//!   relays it to, or a destination that host asked us to hold back) is over
//!   [`Bounds::queue_cap`](super::bounds::Bounds::queue_cap) makes us send P
//!   a Ctl Busy with the destination task's tid, once;
//! - P then treats that destination as a full queue: its local tasks that
//!   send to it wait (bounds.rs, [`Sink::Busy`]), and when P is itself a
//!   relay (the master) its own senders are asked in turn;
//! - once the queue here is down to half the cap, Ready goes to P. A Busy
//!   still standing is repeated every [`REFRESH`]; one not repeated for
//!   [`FORGET`] is dropped, so a lost Ready (a link that closed and was
//!   opened again, a host gone) never leaves senders waiting for good.
//!
//! What is already on its way when P hears the Busy still arrives, and is
//! queued: P's link queue toward us (which its own senders keep at the
//! cap), the sockets' buffers. So a queue fed by daemon links exceeds the
//! cap by about one cap per sending daemon plus the buffers, not by what
//! the senders can produce. Nothing is dropped, reordered or delivered
//! twice: only local tasks' connections stop being read.
//!
//! No deadlock across hosts: a Busy is never standing for a task that
//! itself waits in a send (its Ready goes out when it starts waiting, and
//! no Busy is sent for it meanwhile), so in a chain of waiting tasks no
//! link is a Busy toward a waiting task; two tasks on two hosts that fill
//! each other's queues without reading let one queue grow, as two such
//! tasks on one host do (bounds.rs).

use super::log::dlog;
use super::server::Daemon;
use crate::tid;
use crate::wire::{ctl_frame, Ctl, Writer};
use mio::Token;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A Busy still standing is sent again this often.
pub(super) const REFRESH: Duration = Duration::from_secs(1);
/// A Busy not repeated for this long is forgotten by its receiver.
pub(super) const FORGET: Duration = Duration::from_secs(3);

/// The state of the flow control: what peers asked us to hold back and
/// what we asked them.
#[derive(Default)]
pub(super) struct Flow {
    /// Remote tasks whose messages we hold back: by task, the hosts (host
    /// parts) that asked, and when they last did.
    held_back: HashMap<i32, HashMap<i32, Instant>>,
    /// Busy frames standing: (host asked, task) and when last sent.
    asked: HashMap<(i32, i32), Instant>,
    /// Feeds not read from, with the task whose queue they wait for.
    feeds: HashMap<Token, i32>,
}

impl Flow {
    /// Whether messages for `dst` are held back.
    pub(super) fn busy_for(&self, dst: i32) -> bool {
        self.held_back.contains_key(&dst)
    }

    /// Whether nothing is asked or held back.
    fn is_empty(&self) -> bool {
        self.held_back.is_empty() && self.asked.is_empty() && self.feeds.is_empty()
    }

    /// Host `host` asks (again) to hold back messages for `dst`.
    fn busy(&mut self, host: i32, dst: i32, now: Instant) {
        self.held_back.entry(dst).or_default().insert(host, now);
    }

    /// Host `host` no longer asks to hold back messages for `dst`.
    fn ready(&mut self, host: i32, dst: i32) {
        if let Some(by) = self.held_back.get_mut(&dst) {
            by.remove(&host);
            if by.is_empty() {
                self.held_back.remove(&dst);
            }
        }
    }

    /// Drops what was not repeated for [`FORGET`].
    fn forget_old(&mut self, now: Instant) {
        self.held_back.retain(|_, by| {
            by.retain(|_, at| now.duration_since(*at) < FORGET);
            !by.is_empty()
        });
    }
}

impl Daemon {
    /// A message for `dst` from daemon `peer`'s link was queued (or held):
    /// when its queue is over the cap, `peer` is asked to hold back (once).
    pub(super) fn flow_after_msg(&mut self, peer: i32, dst: i32) {
        let host = tid::host_of(peer);
        if !tid::is_daemon(peer) || self.flow.asked.contains_key(&(host, dst)) {
            return;
        }
        if !self.dst_over(dst) || self.task_waits(dst) {
            return;
        }
        self.flow.asked.insert((host, dst), Instant::now());
        dlog!(
            self.log,
            Debug,
            "{} asked to hold back messages for {}: its queue is over {} bytes",
            tid::fmt(peer),
            tid::fmt(dst),
            self.opts.bounds.queue_cap
        );
        self.flow_send(host, Ctl::Busy, dst);
    }

    /// A message for `dst` from the feed `tok` was queued (or held): when
    /// its queue is over the cap, the feed is not read from until it
    /// drains. Its task waits in its write, as a local task does, and
    /// gives the feed up after a while (src/task/feed.rs): its next
    /// messages come through its daemon, which is asked to hold back.
    pub(super) fn flow_after_feed(&mut self, tok: Token, dst: i32) {
        if self.flow.feeds.contains_key(&tok) || !self.dst_over(dst) || self.task_waits(dst) {
            return;
        }
        self.flow.feeds.insert(tok, dst);
        let peer = self.links.get(tok).map_or(0, |l| l.peer);
        dlog!(
            self.log,
            Debug,
            "feed from {} waits: the queue toward {} is over {} bytes",
            tid::fmt(peer),
            tid::fmt(dst),
            self.opts.bounds.queue_cap
        );
    }

    /// Whether feed `tok` is not read from now.
    pub(super) fn feed_paused(&self, tok: Token) -> bool {
        self.flow.feeds.contains_key(&tok)
    }

    fn flow_send(&mut self, host: i32, code: Ctl, dst: i32) {
        let f = ctl_frame(
            self.me.dtid(),
            tid::daemon_tid(host),
            code,
            Writer::new().int(dst).finish(),
        );
        self.send_to_host(host, f.to_bytes());
    }

    /// Ctl Busy or Ready for task `dst` from daemon `peer`.
    pub(super) fn flow_ctl(&mut self, peer: i32, code: Ctl, dst: i32) {
        let host = tid::host_of(peer);
        match code {
            Ctl::Busy => {
                if !self.flow.busy_for(dst) {
                    dlog!(
                        self.log,
                        Debug,
                        "messages for {} held back ({} asked)",
                        tid::fmt(dst),
                        tid::fmt(peer)
                    );
                }
                self.flow.busy(host, dst, Instant::now());
            }
            _ => self.flow.ready(host, dst),
        }
    }

    /// Whether `dst` is a local task that waits in a send (bounds.rs): no
    /// Busy stands for it (see the module doc).
    fn task_waits(&self, dst: i32) -> bool {
        self.tasks
            .get(dst)
            .and_then(|t| t.conn)
            .and_then(|c| self.conns.get(c))
            .is_some_and(|c| c.waits_on.is_some())
    }

    /// The task on connection `token` started to wait: the Busy frames
    /// standing for it are withdrawn.
    pub(super) fn flow_paced(&mut self, token: Token) {
        let Some(t) = self.conns.get(token).and_then(|c| c.tid) else {
            return;
        };
        let hosts: Vec<i32> = self
            .flow
            .asked
            .keys()
            .filter(|(_, d)| *d == t)
            .map(|(h, _)| *h)
            .collect();
        for h in hosts {
            self.flow.asked.remove(&(h, t));
            self.flow_send(h, Ctl::Ready, t);
        }
    }

    /// On every turn of the loop: Ready for the queues that drained (or
    /// whose task now waits), Busy again for those still full after
    /// [`REFRESH`]; what peers asked and did not repeat is forgotten.
    pub(super) fn flow_tick(&mut self) {
        if self.flow.is_empty() {
            return;
        }
        let now = Instant::now();
        self.flow.forget_old(now);
        self.resume_feeds();
        let asked: Vec<((i32, i32), Instant)> =
            self.flow.asked.iter().map(|(k, at)| (*k, *at)).collect();
        for ((host, dst), at) in asked {
            if self.links.of_host(host).is_none() {
                // Gone, or re-linking: it forgets the Busy in time.
                self.flow.asked.remove(&(host, dst));
            } else if self.dst_drained(dst) || self.task_waits(dst) {
                self.flow.asked.remove(&(host, dst));
                dlog!(
                    self.log,
                    Debug,
                    "{} may send for {} again",
                    tid::fmt(tid::daemon_tid(host)),
                    tid::fmt(dst)
                );
                self.flow_send(host, Ctl::Ready, dst);
            } else if now.duration_since(at) >= REFRESH {
                self.flow.asked.insert((host, dst), now);
                self.flow_send(host, Ctl::Busy, dst);
            }
        }
    }

    /// Reads again from the feeds whose queue drained (or whose task now
    /// waits, or that closed).
    fn resume_feeds(&mut self) {
        if self.flow.feeds.is_empty() {
            return;
        }
        let ready: Vec<Token> = self
            .flow
            .feeds
            .iter()
            .filter(|(tok, dst)| {
                !self.links.is_link(**tok) || self.dst_drained(**dst) || self.task_waits(**dst)
            })
            .map(|(tok, _)| *tok)
            .collect();
        for tok in ready {
            self.flow.feeds.remove(&tok);
            if self.links.is_link(tok) {
                // Edge-triggered: what came meanwhile raised no new event.
                self.link_event(tok, true, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_back_until_every_asking_host_is_ready_or_forgotten() {
        let now = Instant::now();
        let mut f = Flow::default();
        let (a, b, t) = (1 << tid::HOST_SHIFT, 2 << tid::HOST_SHIFT, 0x40005);
        assert!(!f.busy_for(t) && f.is_empty());
        f.busy(a, t, now);
        f.busy(b, t, now + FORGET / 2);
        f.ready(a, t);
        assert!(f.busy_for(t), "b still asks");
        f.forget_old(now + FORGET);
        assert!(f.busy_for(t), "b asked within FORGET");
        f.forget_old(now + FORGET / 2 + FORGET);
        assert!(!f.busy_for(t) && f.is_empty());
        f.busy(a, t, now);
        f.ready(a, t);
        assert!(!f.busy_for(t));
    }
}
