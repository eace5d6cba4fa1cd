//! Links to other daemons ([`Links`]): the connections (authenticated, one
//! per pair of daemons, and the feeds of other hosts' tasks), which link
//! serves which host, frames waiting for a lazily opened link, and the
//! liveness of each peer (heartbeats, suspicion after silence, death after
//! the machine's timeout). The `impl Daemon` part, in link_events.rs,
//! connects, accepts and authenticates links, reads their frames and
//! control codes, sends to a host and handles a link's failure.

use crate::daemon::link::Link;
use crate::tid;
use mio::Token;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Heartbeat on a link that sent nothing for this long.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);
/// A peer that sent nothing for this long is suspected (shown as such,
/// nothing else changes): three heartbeats missed.
pub(super) const SUSPECT_AFTER: Duration = Duration::from_secs(3);
/// The default of the machine's host timeout: a peer silent this long is
/// dead.
pub(super) const DEFAULT_DEAD_AFTER: Duration = Duration::from_secs(60);
/// The shortest host timeout accepted: longer than the suspicion, so a
/// peer is never declared dead before it missed several heartbeats.
pub(super) const MIN_DEAD_AFTER: Duration = Duration::from_secs(5);
/// Connect plus handshake of a link (at least; see [`Links::setup_time`]).
pub(super) const LINK_SETUP: Duration = Duration::from_secs(10);
/// How long frames wait for a lazily connected link before being dropped
/// (at least; see [`Links::wait_time`]).
pub(super) const WAIT_FOR_LINK: Duration = Duration::from_secs(10);
/// Between attempts to connect a lazy link.
pub(super) const RETRY: Duration = Duration::from_secs(1);
/// Tick of the loop while multi-host work is going on.
pub(super) const TICK: Duration = Duration::from_millis(200);
/// How the death of a silent peer is reported (a link that failed for
/// another reason closed or broke: a death that is certain).
pub(super) const SILENT: &str = "no answer for";

/// The host timeout for `secs` seconds, kept at or above [`MIN_DEAD_AFTER`].
pub(super) fn dead_after(secs: u32) -> Duration {
    Duration::from_secs(secs.into()).max(MIN_DEAD_AFTER)
}

/// A master's host timeout at start: `pvmd3 -t`, else `to=` on its
/// hostfile's `*` line, else `$PVM6_HOST_TIMEOUT`, else 60 s (the master's
/// own hostfile line may set it later,
/// [`Daemon::set_host_timeout`](super::server::Daemon::set_host_timeout)).
/// A slave takes the master's from the host table.
pub(super) fn machine_timeout(opts: &super::DaemonOptions) -> Duration {
    let from_file = opts.hostfile.as_ref().and_then(|h| h.defaults.to);
    let secs = match (opts.host_timeout_arg, from_file) {
        (false, Some(t)) => Some(t),
        _ => opts.host_timeout,
    };
    secs.map_or(DEFAULT_DEAD_AFTER, dead_after)
}

/// Frames for a host that has no link yet.
struct Waiting {
    frames: super::outq::Held,
    deadline: Instant,
    next_try: Instant,
}

/// What one liveness tick found (see [`Links::tick`]).
#[derive(Default)]
pub(super) struct Tick {
    /// Links that need a heartbeat, with their peer.
    pub beats: Vec<(Token, i32)>,
    /// Links that are dead, and why.
    pub dead: Vec<(Token, String)>,
    /// Peers (daemon tids) that fell silent now.
    pub suspected: Vec<i32>,
    /// Peers that spoke again, and how long they had been silent.
    pub resumed: Vec<(i32, Duration)>,
    /// Hosts whose waiting frames were dropped, and how many.
    pub expired: Vec<(i32, usize)>,
    /// Hosts whose lazy link should be tried again.
    pub retry: Vec<i32>,
    /// This daemon itself did not run for this long, longer than the host
    /// timeout: the others have declared it dead.
    pub stalled: Option<Duration>,
}

/// The connections to other daemons (and the feeds of other hosts' tasks)
/// and their liveness. Private state; the loop and the multi-host files
/// reach it through these methods.
pub(super) struct Links {
    conns: HashMap<Token, Link>,
    /// Link token by peer host part.
    by_host: HashMap<i32, Token>,
    waiting: HashMap<i32, Waiting>,
    /// Peers (daemon tids) silent for [`SUSPECT_AFTER`], since when.
    suspects: HashMap<i32, Instant>,
    /// The machine's host timeout.
    dead_after: Duration,
    last_tick: Instant,
    /// Whether links existed at the last tick (the loop then ticks every
    /// [`TICK`], so a longer gap means this process did not run).
    was_active: bool,
}

impl Links {
    pub(super) fn new(dead_after: Duration) -> Links {
        Links {
            conns: HashMap::new(),
            by_host: HashMap::new(),
            waiting: HashMap::new(),
            suspects: HashMap::new(),
            dead_after,
            last_tick: Instant::now(),
            was_active: false,
        }
    }

    /// Whether any link or waiting frame needs the loop's tick.
    pub(super) fn active(&self) -> bool {
        !self.conns.is_empty() || !self.waiting.is_empty()
    }

    /// How many links there are (each holds a descriptor).
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub(super) fn is_link(&self, t: Token) -> bool {
        self.conns.contains_key(&t)
    }

    pub(super) fn get(&self, t: Token) -> Option<&Link> {
        self.conns.get(&t)
    }

    pub(super) fn get_mut(&mut self, t: Token) -> Option<&mut Link> {
        self.conns.get_mut(&t)
    }

    pub(super) fn insert(&mut self, t: Token, l: Link) {
        self.conns.insert(t, l);
    }

    /// Takes link `t` out (and out of `by_host` if it served its peer).
    pub(super) fn remove(&mut self, t: Token) -> Option<Link> {
        let l = self.conns.remove(&t)?;
        if self.conns.is_empty() {
            // The loop may stop ticking now: a later gap is no stall.
            self.was_active = false;
        }
        let host = tid::host_of(l.peer);
        if self.by_host.get(&host) == Some(&t) {
            self.by_host.remove(&host);
        }
        Some(l)
    }

    /// Every link, for a look at all of them.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Token, &Link)> {
        self.conns.iter()
    }

    /// The link serving host `host`.
    pub(super) fn of_host(&self, host: i32) -> Option<Token> {
        self.by_host.get(&host).copied()
    }

    /// Link `t` serves host `host` from now on.
    pub(super) fn bind(&mut self, host: i32, t: Token) {
        self.by_host.insert(host, t);
    }

    /// Host `host` has no link any more; returns the one it had.
    pub(super) fn unbind(&mut self, host: i32) -> Option<Token> {
        self.suspects.remove(&tid::daemon_tid(host));
        self.by_host.remove(&host)
    }

    /// Writes what every link still holds (at exit).
    pub(super) fn flush_all(&mut self) {
        for l in self.conns.values_mut() {
            let _ = l.flush();
        }
    }

    /// The machine's host timeout.
    pub(super) fn dead_after(&self) -> Duration {
        self.dead_after
    }

    pub(super) fn set_dead_after(&mut self, d: Duration) {
        self.dead_after = d.max(MIN_DEAD_AFTER);
    }

    /// How long a link's connect and handshake may take: a stalled peer
    /// may take up to the host timeout to answer.
    pub(super) fn setup_time(&self) -> Duration {
        LINK_SETUP.max(self.dead_after)
    }

    /// How long frames wait for a lazily opened link.
    pub(super) fn wait_time(&self) -> Duration {
        WAIT_FOR_LINK.max(self.dead_after)
    }

    /// Whether host `host` has a link up that is not suspected.
    pub(super) fn hears_from(&self, host: i32) -> bool {
        self.by_host
            .get(&host)
            .and_then(|t| self.conns.get(t))
            .is_some_and(|l| l.is_up() && !self.suspects.contains_key(&l.peer))
    }

    /// How long this daemon did not run, when that came close to the host
    /// timeout (within two heartbeats): its peers may have declared it
    /// dead meanwhile, so a link closing now is not their death but its own.
    pub(super) fn woke_after_stall(&self, now: Instant) -> Option<Duration> {
        let gap = now.duration_since(self.last_tick);
        (self.was_active && gap + 2 * HEARTBEAT > self.dead_after).then_some(gap)
    }

    /// Since when peer daemon `dtid` is silent, if it is suspected.
    pub(super) fn suspected(&self, dtid: i32) -> Option<Instant> {
        self.suspects.get(&dtid).copied()
    }

    // ---- frames waiting for a link ----------------------------------------

    /// Queues `bytes` behind the frames already waiting for `host`; false
    /// (and `bytes` given back) when none wait.
    pub(super) fn queue(&mut self, host: i32, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        match self.waiting.get_mut(&host) {
            Some(w) => {
                w.frames.push_back(bytes);
                Ok(())
            }
            None => Err(bytes),
        }
    }

    /// Frames for `host` wait (behind any that already do) for a link to
    /// be opened; the next attempt is at `next_try`.
    pub(super) fn hold(&mut self, host: i32, frames: Vec<Vec<u8>>, next_try: Instant) {
        let deadline = Instant::now() + self.wait_time();
        let w = self.waiting.entry(host).or_insert(Waiting {
            frames: Default::default(),
            deadline,
            next_try,
        });
        w.frames.extend(frames);
    }

    /// The frames waiting for `host`, taken out.
    pub(super) fn take_waiting(&mut self, host: i32) -> Option<Vec<Vec<u8>>> {
        self.waiting.remove(&host).map(|mut w| w.frames.drain_all())
    }

    /// What waits for host `host` to get a link up, in bytes and frames:
    /// the frames waiting for it to be opened and those held by its link
    /// while it is being set up, plus what its link has queued for the
    /// socket (bounds.rs).
    pub(super) fn load_of(&self, host: i32) -> (usize, usize) {
        let (mut bytes, mut frames) = self
            .waiting
            .get(&host)
            .map_or((0, 0), |w| (w.frames.bytes(), w.frames.len()));
        if let Some(l) = self.by_host.get(&host).and_then(|t| self.conns.get(t)) {
            bytes += l.held.bytes() + l.queued();
            frames += l.held.len();
        }
        (bytes, frames)
    }

    /// The next attempt to link `host` is after [`RETRY`].
    pub(super) fn retry_later(&mut self, host: i32) {
        if let Some(w) = self.waiting.get_mut(&host) {
            w.next_try = Instant::now() + RETRY;
        }
    }

    // ---- liveness -----------------------------------------------------------

    /// Heartbeats due, dead links, peers suspected or back, waiting frames
    /// given up or to retry; `None` when the last tick was less than half a
    /// [`TICK`] ago.
    pub(super) fn tick(&mut self, now: Instant) -> Option<Tick> {
        let gap = now.duration_since(self.last_tick);
        if gap < TICK / 2 {
            return None;
        }
        let mut t = Tick {
            stalled: (self.was_active && gap > self.dead_after).then_some(gap),
            ..Tick::default()
        };
        self.last_tick = now;
        self.was_active = !self.conns.is_empty();
        for (tok, l) in &self.conns {
            if l.feed {
                // Only the task writes on its feed; it ends with the task.
                continue;
            }
            if !l.is_up() {
                if now > l.deadline {
                    t.dead.push((*tok, "handshake timed out".to_string()));
                }
                continue;
            }
            let silent = now.duration_since(l.last_rx);
            let current = self.by_host.get(&tid::host_of(l.peer)) == Some(tok);
            if silent > self.dead_after {
                t.dead
                    .push((*tok, format!("{SILENT} {} s", self.dead_after.as_secs())));
                continue;
            }
            if current {
                match self.suspects.get(&l.peer) {
                    None if silent > SUSPECT_AFTER => {
                        self.suspects.insert(l.peer, l.last_rx);
                        t.suspected.push(l.peer);
                    }
                    Some(&since) if silent <= SUSPECT_AFTER => {
                        self.suspects.remove(&l.peer);
                        t.resumed.push((l.peer, l.last_rx.duration_since(since)));
                    }
                    _ => {}
                }
            }
            if now.duration_since(l.last_tx) >= HEARTBEAT && l.idle_out() {
                t.beats.push((*tok, l.peer));
            }
        }
        let hosts: Vec<i32> = self.waiting.keys().copied().collect();
        for h in hosts {
            let Some(w) = self.waiting.get(&h) else {
                continue;
            };
            if now > w.deadline {
                let n = w.frames.len();
                self.waiting.remove(&h);
                t.expired.push((h, n));
            } else if now >= w.next_try && !self.by_host.contains_key(&h) {
                t.retry.push(h);
            }
        }
        Some(t)
    }
}
