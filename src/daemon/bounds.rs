//! Bounds on what peers can make the daemon hold (issue 28, item 3;
//! docs/HARDENING.md "Bounds"):
//!
//! - back-pressure: a task whose message went to a queue holding more than
//!   [`Bounds::queue_cap`] bytes (a task that does not read, a slow daemon
//!   link) is not read from until that queue is down to half the cap. Its
//!   frames wait in its own socket and ring, and the task waits in its send
//!   as it would on a full socket; nothing is dropped or reordered (the
//!   frames already read are handled in order, and the one that went over
//!   the cap is queued: a queue exceeds the cap by at most one message per
//!   sender). A task sending to itself never waits for itself, and a sender
//!   is not held when the queue's owner waits (directly or along a chain)
//!   for the sender's own queue: two tasks filling each other's queues
//!   without reading do not deadlock, their queues grow instead. Frames
//!   from daemon links and feeds are held back by flow.rs (the sending
//!   daemon is asked to hold back, a feed is not read from), toward which
//!   [`Sink::Busy`] makes our own senders wait;
//! - holds: the frames held for a spawned task until it connects, and the
//!   frames waiting for another host's link to be opened or set up, count
//!   toward the same cap as a queue (bytes), and also in frames
//!   ([`HOLD_FRAMES`]): a local task that sent them waits as above. A frame
//!   whose sender cannot wait (it came from another host, or this daemon
//!   made it) is refused with a log line once the hold has twice the cap
//!   or twice [`HOLD_FRAMES`] (what was accepted before is never dropped);
//! - TCP connections before their handshake: at most
//!   [`Bounds::handshakes`] in progress (more wait in the listen queue, and
//!   the oldest one past [`EVICT_AFTER`] makes room), at most
//!   [`Bounds::handshakes_per_addr`] from one address (IPv6: one /64);
//!   beyond, a new one is closed at once;
//! - descriptors: a TCP connection is refused while fewer than
//!   [`Bounds::fd_reserve`] descriptors would be left, so local tasks can
//!   always connect;
//! - refusal log lines: at most [`LOG_BURST`] per [`LOG_WINDOW`], then one
//!   line with the count of those not written.
//!
//! The message size limit itself is the decoders' (`wire::FrameDecoder`,
//! `DaemonOptions::max_message`).

use super::log::dlog;
use super::server::Daemon;
use crate::tid;
use mio::Token;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Default of [`Bounds::queue_cap`]: 64 MiB.
pub const DEFAULT_QUEUE_CAP: usize = 64 << 20;
/// Default of [`Bounds::recv_cap`]: 256 MiB.
pub const DEFAULT_RECV_CAP: usize = 256 << 20;
/// Default of [`Bounds::handshakes`].
pub const DEFAULT_HANDSHAKES: usize = 128;
/// Default of [`Bounds::handshakes_per_addr`].
pub const DEFAULT_HANDSHAKES_PER_ADDR: usize = 32;
/// A handshake in progress this long may be closed to make room for a
/// new connection when [`Bounds::handshakes`] are in progress.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);
/// Refusal lines written per [`LOG_WINDOW`] before they are counted only.
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(10);
/// Frames held for one unconnected task, or waiting for one host's link,
/// above which the local tasks that sent them wait (as for bytes over
/// [`Bounds::queue_cap`]); twice this, frames whose sender cannot wait
/// are refused.
pub const HOLD_FRAMES: usize = 65_536;
/// Descriptors the daemon counts for itself beyond its connections
/// (stdio, listeners, poll, log, lock, signal pipe, spare).
const OWN_FDS: usize = 16;

/// Environment variable of [`Bounds::queue_cap`].
pub const ENV_QUEUE_CAP: &str = "PVM6_QUEUE_CAP";
/// Environment variable of [`Bounds::recv_cap`].
pub const ENV_RECV_CAP: &str = "PVM6_RECEIVE_CAP";
/// Environment variable of [`Bounds::handshakes`].
pub const ENV_HANDSHAKES: &str = "PVM6_MAX_HANDSHAKES";
/// Environment variable of [`Bounds::handshakes_per_addr`].
pub const ENV_HANDSHAKES_PER_ADDR: &str = "PVM6_MAX_HANDSHAKES_PER_ADDR";
/// Environment variable of [`Bounds::fd_reserve`].
pub const ENV_FD_RESERVE: &str = "PVM6_FD_RESERVE";

/// The bounds of one daemon, read once at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes queued toward one task or daemon link above which its senders
    /// wait (`$PVM6_QUEUE_CAP`, bytes or with k, m, g).
    pub queue_cap: usize,
    /// Bytes of large message bodies being received from task connections
    /// at once (`$PVM6_RECEIVE_CAP`, bytes or with k, m, g; receiving.rs).
    pub recv_cap: usize,
    /// TCP connections in their handshake at once (`$PVM6_MAX_HANDSHAKES`).
    pub handshakes: usize,
    /// ... of them from one address or IPv6 /64
    /// (`$PVM6_MAX_HANDSHAKES_PER_ADDR`).
    pub handshakes_per_addr: usize,
    /// Descriptors kept for local tasks (`$PVM6_FD_RESERVE`; when unset, a
    /// quarter of the RLIMIT_NOFILE of the moment, between 16 and 1024).
    pub fd_reserve: Option<usize>,
}

impl Bounds {
    /// The bounds from the environment (defaults for what is unset or
    /// unparsable).
    pub fn from_env() -> Bounds {
        let num = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        let queue_cap = std::env::var(ENV_QUEUE_CAP)
            .ok()
            .and_then(|v| crate::wire::parse_size(&v))
            .unwrap_or(DEFAULT_QUEUE_CAP);
        let recv_cap = std::env::var(ENV_RECV_CAP)
            .ok()
            .and_then(|v| crate::wire::parse_size(&v))
            .unwrap_or(DEFAULT_RECV_CAP);
        Bounds {
            queue_cap,
            recv_cap,
            handshakes: num(ENV_HANDSHAKES, DEFAULT_HANDSHAKES),
            handshakes_per_addr: num(ENV_HANDSHAKES_PER_ADDR, DEFAULT_HANDSHAKES_PER_ADDR),
            fd_reserve: std::env::var(ENV_FD_RESERVE)
                .ok()
                .and_then(|v| v.trim().parse().ok()),
        }
    }

    /// The descriptors kept for local tasks under the limit `nofile`.
    pub fn fd_reserve_under(&self, nofile: usize) -> usize {
        self.fd_reserve.unwrap_or((nofile / 4).clamp(16, 1024))
    }
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds::from_env()
    }
}

/// Where a sender's message went: a task's connection, the hold of a task
/// not connected yet, or toward another host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    Conn(Token),
    /// The frames held for local task `tid` until it connects.
    Held(i32),
    /// Host `host`: its link's write queue, the frames its link holds
    /// while it is set up, the frames waiting for it to be opened.
    Host(i32),
    /// Remote task `dst`, whose host (or the master relaying for it) asked
    /// us to hold back messages for it (flow.rs).
    Busy(i32),
}

/// The daemon's state for its bounds.
#[derive(Default)]
pub struct Pacing {
    /// The TCP port listens (a one-host machine's only binds it until a
    /// host is added).
    listening: bool,
    /// Task connections not read from (each has `Conn::waits_on`).
    paused: Vec<Token>,
    /// The large bodies being received (receiving.rs).
    bodies: super::receiving::Bodies,
    /// When each TCP connection still in its handshake was accepted.
    handshaking: HashMap<Token, (Instant, AddrKey)>,
    /// The TCP listener was not emptied (too many handshakes): accept
    /// again when one ends.
    accept_deferred: bool,
    /// Refusal lines: start of the window, lines written in it, lines not
    /// written.
    window: Option<Instant>,
    written: u32,
    suppressed: u64,
}

/// An address as the per-address cap counts it: IPv4 whole, IPv6 by /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey(u128);

impl AddrKey {
    pub fn of(a: &SocketAddr) -> AddrKey {
        match a.ip() {
            IpAddr::V4(v4) => AddrKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(u32::from(v4) as u128),
                None => AddrKey((u128::from(v6) >> 64) << 64 | 1),
            },
        }
    }
}

/// Whether a new TCP connection may start its handshake.
pub enum Admit {
    Yes,
    /// Refused: the reason for the log.
    No(String),
}

impl Pacing {
    /// The state of a daemon whose TCP port listens already or not.
    pub fn listening(listening: bool) -> Pacing {
        Pacing {
            listening,
            ..Pacing::default()
        }
    }

    /// The large bodies being received.
    pub(super) fn bodies(&mut self) -> &mut super::receiving::Bodies {
        &mut self.bodies
    }

    /// Whether refusal lines are counted and not yet reported.
    pub fn pending(&self) -> bool {
        self.suppressed > 0
    }
}

impl Daemon {
    // ---- back-pressure ---------------------------------------------------

    /// Bytes and frames queued toward `sink` (frames are counted for holds
    /// only); None when it is gone.
    fn sink_load(&self, sink: Sink) -> Option<(usize, usize)> {
        match sink {
            Sink::Conn(t) => self.conns.get(t).map(|c| (c.queued(), 0)),
            Sink::Held(t) => self.tasks.get(t).map(|t| (t.held.bytes(), t.held.len())),
            Sink::Host(h) => Some(self.links.load_of(h)),
            Sink::Busy(d) => Some(if self.flow.busy_for(d) {
                (usize::MAX, 0)
            } else {
                (0, 0)
            }),
        }
    }

    /// Whether a queue with `load` is down to half the cap (its senders
    /// may go on).
    fn below_half(&self, (bytes, frames): (usize, usize)) -> bool {
        bytes <= self.opts.bounds.queue_cap / 2 && frames <= HOLD_FRAMES / 2
    }

    /// Whether the queue toward `dst` is over the cap (flow.rs).
    pub(super) fn dst_over(&self, dst: i32) -> bool {
        self.sink_of(dst).is_some_and(|s| self.over_cap(s))
    }

    /// Whether the queue toward `dst` is down to half the cap, or gone.
    pub(super) fn dst_drained(&self, dst: i32) -> bool {
        self.sink_of(dst)
            .and_then(|s| self.sink_load(s))
            .is_none_or(|l| self.below_half(l))
    }

    /// Whether `sink` holds more than its senders may add to.
    fn over_cap(&self, sink: Sink) -> bool {
        let cap = self.opts.bounds.queue_cap;
        self.sink_load(sink)
            .is_some_and(|(bytes, frames)| bytes > cap || frames > HOLD_FRAMES)
    }

    /// Where a message for `dst` was queued.
    fn sink_of(&self, dst: i32) -> Option<Sink> {
        let host = tid::host_of(dst);
        if host == self.me.host() || host == 0 {
            let task = self.tasks.get(dst)?;
            return Some(task.conn.map_or(Sink::Held(dst), Sink::Conn));
        }
        if self.flow.busy_for(dst) {
            return Some(Sink::Busy(dst));
        }
        Some(Sink::Host(self.carrier_of(host)))
    }

    /// The host whose link carries frames for `host`: the master's when
    /// this slave relays through it (no link to `host` and nothing waiting
    /// for one: they share no address family, link_events.rs).
    fn carrier_of(&self, host: i32) -> i32 {
        let relayed = !self.multi.is_master()
            && self.multi.placed()
            && self.links.of_host(host).is_none()
            && self.links.load_of(host) == (0, 0);
        if relayed {
            self.multi.master_host()
        } else {
            host
        }
    }

    /// Whether frames from `src` come from a task of this host: it is made
    /// to wait ([`Daemon::pace`]) rather than its frames being refused.
    fn sender_waits(&self, src: i32) -> bool {
        tid::host_of(src) == self.me.host() && tid::is_task(src)
    }

    /// Whether a hold with `bytes` and `frames` takes no frame whose sender
    /// cannot wait.
    fn hold_full(&self, (bytes, frames): (usize, usize)) -> bool {
        bytes >= 2 * self.opts.bounds.queue_cap || frames >= 2 * HOLD_FRAMES
    }

    /// Holds `frame` for local task `dst`, which has not connected yet. A
    /// task of this host that sent it waits ([`Daemon::pace`]); a frame
    /// from another host or from this daemon is refused once the hold is
    /// full ([`Daemon::hold_full`]): the first refusal for the task is
    /// logged, the others counted and reported when the hold empties.
    pub(super) fn hold_for(&mut self, frame: crate::wire::Frame) {
        let h = frame.header;
        let waits = self.sender_waits(h.src);
        let Some(task) = self.tasks.get(h.dst) else {
            return;
        };
        let load = (task.held.bytes(), task.held.len());
        let full = !waits && self.hold_full(load);
        let Some(task) = self.tasks.get_mut(h.dst) else {
            return;
        };
        if !full {
            task.held.push_back(frame.to_bytes());
            return;
        }
        task.held.refused += 1;
        if task.held.refused == 1 {
            dlog!(
                self.log,
                Warn,
                "message tag {} from {} to {} refused: {} frame(s) of {} bytes wait for it to connect (at most {} bytes or {} frames, twice {}); later ones are counted",
                h.tag,
                tid::fmt(h.src),
                tid::fmt(h.dst),
                load.1,
                load.0,
                2 * self.opts.bounds.queue_cap,
                2 * HOLD_FRAMES,
                ENV_QUEUE_CAP
            );
        }
    }

    /// Reports the frames refused for task `t` while it was not connected
    /// (`refused` of them; `why`: it connected, it ended).
    pub(super) fn held_refused(&mut self, t: i32, refused: u64, why: &str) {
        if refused > 0 {
            dlog!(
                self.log,
                Warn,
                "{refused} message(s) for {} refused while it was not connected (its hold was full); {why}",
                tid::fmt(t)
            );
        }
    }

    /// Whether host `host` has a link up.
    pub(super) fn link_up(&self, host: i32) -> bool {
        self.links
            .of_host(host)
            .and_then(|t| self.links.get(t))
            .is_some_and(|l| l.is_up())
    }

    /// [`Daemon::refuse_for_host`] for an encoded frame.
    pub(super) fn refuse_bytes_for_host(&mut self, host: i32, bytes: &[u8]) -> bool {
        let head = bytes
            .get(..crate::wire::HEADER_LEN)
            .and_then(|b| <&[u8; crate::wire::HEADER_LEN]>::try_from(b).ok());
        match head.map(crate::wire::Header::decode) {
            Some(Ok(h)) => self.refuse_for_host(host, &h),
            _ => false,
        }
    }

    /// Whether a frame with header `h` for host `host`, whose link is not
    /// up, must be refused: its sender cannot wait (see
    /// [`Daemon::sender_waits`]) and twice the cap already waits for that
    /// link. Logged at most [`LOG_BURST`] times per [`LOG_WINDOW`], the
    /// others counted.
    pub(super) fn refuse_for_host(&mut self, host: i32, h: &crate::wire::Header) -> bool {
        if h.kind == crate::wire::Kind::Msg && self.sender_waits(h.src) {
            return false;
        }
        let load = self.links.load_of(host);
        if !self.hold_full(load) {
            return false;
        }
        let text = format!(
            "{:?} frame from {} to {} refused: {} frame(s) of {} bytes wait for the link to {} (at most {} bytes or {} frames, twice {})",
            h.kind,
            tid::fmt(h.src),
            tid::fmt(h.dst),
            load.1,
            load.0,
            tid::fmt(tid::daemon_tid(host)),
            2 * self.opts.bounds.queue_cap,
            2 * HOLD_FRAMES,
            ENV_QUEUE_CAP
        );
        self.refused(&text);
        true
    }

    /// After the message of the task on `token` for `dst` was delivered:
    /// when the queue it went to is over the cap, the task is not read
    /// from until that queue drains (see the module doc).
    pub(super) fn pace(&mut self, token: Token, dst: i32) {
        let Some(sink) = self.sink_of(dst) else {
            return;
        };
        if sink == Sink::Conn(token) {
            return;
        }
        if !self.over_cap(sink) {
            return;
        }
        // No wait for a queue whose owner waits, along a chain, for ours.
        let mut at = sink;
        for _ in 0..=self.pacing.paused.len() {
            let Sink::Conn(t) = at else { break };
            match self.conns.get(t).and_then(|c| c.waits_on) {
                Some(Sink::Conn(next)) if next == token => return,
                Some(next) => at = next,
                None => break,
            }
        }
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        if conn.waits_on.is_none() {
            conn.waits_on = Some(sink);
            self.pacing.paused.push(token);
            dlog!(
                self.log,
                Debug,
                "{} waits: {sink:?} holds over {} bytes or {HOLD_FRAMES} frames",
                self.conn_name(token),
                self.opts.bounds.queue_cap
            );
            self.flow_paced(token);
        }
    }

    /// Whether the connection `token` is not read from now.
    pub(super) fn paused(&self, token: Token) -> bool {
        self.conns
            .get(token)
            .is_some_and(|c| c.waits_on.is_some() || c.body_wait)
    }

    /// Reads again from the tasks whose queue drained to half the cap (or
    /// went away). Called on every turn of the loop (cheap: usually none
    /// waits).
    pub(super) fn resume_paced(&mut self) {
        self.resume_bodies();
        self.flow_tick();
        if self.pacing.paused.is_empty() {
            return;
        }
        let drained = |l: (usize, usize)| self.below_half(l);
        let ready: Vec<Token> = self
            .pacing
            .paused
            .iter()
            .copied()
            .filter(|t| {
                match self.conns.get(*t).and_then(|c| c.waits_on) {
                    Some(sink) => self.sink_load(sink).is_none_or(drained),
                    None => true, // closed meanwhile
                }
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        self.pacing.paused.retain(|t| !ready.contains(t));
        for t in ready {
            if let Some(c) = self.conns.get_mut(t) {
                c.waits_on = None;
                // Edge-triggered: what came meanwhile raised no new event.
                self.serve_conn(t, true);
            }
        }
    }

    /// The largest frame body read from a daemon link or feed: a message
    /// of the largest size, with room for control frames beside.
    pub(super) fn link_body_limit(&self) -> usize {
        self.opts
            .max_message
            .saturating_add(crate::wire::MIN_MAX_MESSAGE)
            .min(crate::wire::MAX_BODY)
    }

    // ---- TCP admission ---------------------------------------------------

    /// Starts listening on the TCP port when this daemon needs it: hosts
    /// are being added, it has others in its machine, or links. Until then
    /// (a one-host machine) nothing is accepted from the network: the port
    /// is bound (its number is in pvmd.addr) and refuses connections.
    pub(super) fn listen_when_needed(&mut self) {
        if self.pacing.listening {
            return;
        }
        let needed = self.starting.active()
            || self.multi.table().hosts.len() > 1
            || !self.links.is_empty()
            || self.opts.slave.is_some();
        if !needed {
            return;
        }
        let res = crate::os::start_listening(&self.tcp).and_then(|()| {
            self.poll.registry().register(
                &mut self.tcp,
                super::server::TCP_LISTENER,
                mio::Interest::READABLE,
            )
        });
        match res {
            Ok(()) => {
                self.pacing.listening = true;
                let port = self.tcp.local_addr().map(|a| a.port()).unwrap_or(0);
                dlog!(
                    self.log,
                    Info,
                    "listening on TCP port {port} (hosts are being added)"
                );
                self.accept_links();
            }
            Err(e) => dlog!(self.log, Error, "can't listen on the TCP port: {e}"),
        }
    }

    /// Before accepting TCP connections: whether a handshake may start
    /// now. At the cap, the oldest handshake in progress for at least
    /// [`EVICT_AFTER`] is closed to make room; else accepting waits (the
    /// connections stay in the listen queue) until one ends.
    pub(super) fn tcp_room(&mut self) -> bool {
        self.forget_handshakes();
        if self.pacing.handshaking.len() < self.opts.bounds.handshakes {
            return true;
        }
        let now = Instant::now();
        let oldest = self
            .pacing
            .handshaking
            .iter()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(t, (at, _))| (*t, *at));
        match oldest {
            Some((tok, at)) if now.duration_since(at) >= EVICT_AFTER => {
                self.pacing.handshaking.remove(&tok);
                self.link_failed(tok, "handshake not done in time while others wait");
                true
            }
            _ => {
                self.pacing.accept_deferred = true;
                false
            }
        }
    }

    /// Drops handshakes that ended (the link is up, failed or gone).
    fn forget_handshakes(&mut self) {
        let links = &self.links;
        self.pacing.handshaking.retain(|t, _| {
            links
                .get(*t)
                .is_some_and(|l| matches!(l.phase, super::link::Phase::Accepting(_)))
        });
    }

    /// A TCP connection from `peer` was accepted: whether it may start its
    /// handshake (the per-address cap and the descriptors kept for local
    /// tasks). The caller closes it otherwise, with [`Daemon::refused`].
    pub(super) fn admit_tcp(&mut self, peer: &SocketAddr) -> Admit {
        let b = self.opts.bounds;
        let used = OWN_FDS + self.conns.len() + self.links.len() + self.children.fds();
        let limit = crate::os::nofile_limit();
        let reserve = b.fd_reserve_under(limit);
        if used.saturating_add(reserve + 1) > limit {
            return Admit::No(format!(
                "{used} of {limit} descriptors in use, {reserve} kept for local tasks"
            ));
        }
        let key = AddrKey::of(peer);
        let from_there = self
            .pacing
            .handshaking
            .values()
            .filter(|(_, k)| *k == key)
            .count();
        if from_there >= b.handshakes_per_addr {
            return Admit::No(format!(
                "{from_there} handshakes from that address in progress (at most {})",
                b.handshakes_per_addr
            ));
        }
        Admit::Yes
    }

    /// A TCP connection `tok` from `peer` started its handshake.
    pub(super) fn handshake_started(&mut self, tok: Token, peer: &SocketAddr) {
        self.pacing
            .handshaking
            .insert(tok, (Instant::now(), AddrKey::of(peer)));
    }

    /// Accepts again if accepting was held back and a handshake ended.
    /// Called on every turn of the loop.
    pub(super) fn accept_if_deferred(&mut self) {
        if !self.pacing.accept_deferred {
            return;
        }
        self.forget_handshakes();
        if self.pacing.handshaking.len() < self.opts.bounds.handshakes {
            self.pacing.accept_deferred = false;
            self.accept_links();
        }
    }

    /// Whether the loop must wake up for the bounds (deferred accepts,
    /// counted refusals): then within this.
    pub(super) fn pacing_timeout(&self) -> Option<Duration> {
        if self.pacing.accept_deferred {
            Some(Duration::from_millis(100))
        } else if self.pacing.pending() {
            Some(LOG_WINDOW)
        } else {
            None
        }
    }

    // ---- refusal lines ---------------------------------------------------

    /// Reports counted refusal lines once their window is over (on every
    /// turn of the loop).
    pub(super) fn refusals_tick(&mut self) {
        if self.pacing.pending() {
            self.refusal_window(Instant::now());
        }
    }

    /// Logs a refused connection, at most [`LOG_BURST`] lines per
    /// [`LOG_WINDOW`]; the others are counted and reported in one line.
    pub(super) fn refused(&mut self, text: &str) {
        let now = Instant::now();
        self.refusal_window(now);
        if self.pacing.written < LOG_BURST {
            self.pacing.written += 1;
            dlog!(self.log, Warn, "{text}");
        } else {
            self.pacing.suppressed += 1;
        }
    }

    /// Starts a new window when the last one is over, reporting the lines
    /// not written in it.
    pub(super) fn refusal_window(&mut self, now: Instant) {
        let over = self
            .pacing
            .window
            .is_none_or(|w| now.duration_since(w) >= LOG_WINDOW);
        if !over {
            return;
        }
        if self.pacing.suppressed > 0 {
            let n = std::mem::take(&mut self.pacing.suppressed);
            dlog!(
                self.log,
                Warn,
                "{n} more refused connection(s) not logged in the last {} s",
                LOG_WINDOW.as_secs()
            );
        }
        self.pacing.window = Some(now);
        self.pacing.written = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, Header, Kind};

    /// A daemon of the fuzz harness (its own directory), with a queue cap of
    /// 64 KiB.
    fn small_daemon(name: &str) -> Option<(Daemon, std::path::PathBuf)> {
        let dir = std::env::temp_dir().join(format!("pvm6-bounds-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut d = super::super::fuzz::daemon(&dir)?;
        d.opts.bounds.queue_cap = 64 << 10;
        Some((d, dir))
    }

    fn msg(src: i32, dst: i32, len: usize) -> Frame {
        Frame::new(
            Header {
                src,
                dst,
                ..Header::new(Kind::Msg)
            },
            vec![7; len],
        )
    }

    #[test]
    fn holds_refuse_only_what_cannot_wait_and_only_past_twice_the_cap() {
        let Some((mut d, dir)) = small_daemon("hold") else {
            return;
        };
        let cap = d.opts.bounds.queue_cap;
        let t = d.me.host() | 5;
        d.tasks.insert(super::super::task::Task {
            tid: t,
            ptid: 0,
            pid: 0,
            flags: super::super::task::TF_SPAWNED,
            aout: "late".into(),
            siblings: Vec::new(),
            conn: None,
            held: Default::default(),
        });
        // From another host's task: held up to twice the cap, then refused.
        let remote = (2 << tid::HOST_SHIFT) | 1;
        for _ in 0..100 {
            d.hold_for(msg(remote, t, 4096));
        }
        let held = &d.tasks.get(t).unwrap().held;
        let frame = 4096 + crate::wire::HEADER_LEN;
        assert!(held.bytes() >= 2 * cap && held.bytes() < 2 * cap + frame);
        assert_eq!(held.len() as u64 + held.refused, 100);
        // From a task of this host: never refused (its sender waits instead).
        let local = d.me.host() | 7;
        d.hold_for(msg(local, t, 4096));
        let held = &d.tasks.get(t).unwrap().held;
        assert_eq!(held.len() as u64 + held.refused, 101);
        assert_eq!(held.bytes() % frame, 0);
        assert!(d.over_cap(Sink::Held(t)));
        assert_eq!(d.sink_of(t), Some(Sink::Held(t)));

        // Frames waiting for another host's link: the same rule.
        let host = 3 << tid::HOST_SHIFT;
        let far = Header {
            src: remote,
            dst: host | 1,
            ..Header::new(Kind::Msg)
        };
        let ours = Header { src: local, ..far };
        let ctl = Header {
            src: d.me.dtid(),
            ..Header::new(Kind::Ctl)
        };
        assert!(!d.refuse_for_host(host, &far));
        let fill: Vec<Vec<u8>> = (0..40)
            .map(|_| msg(remote, host | 1, 4096).to_bytes())
            .collect();
        d.links.hold(host, fill, Instant::now());
        assert_eq!(d.links.load_of(host), (40 * frame, 40));
        assert!(d.over_cap(Sink::Host(host)));
        assert!(d.refuse_for_host(host, &far), "relayed message");
        assert!(d.refuse_for_host(host, &ctl), "control frame");
        assert!(
            !d.refuse_for_host(host, &ours),
            "our task's message waits instead"
        );
        drop(d);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn addresses_group_by_v4_and_v6_64() {
        let a = |s: &str| AddrKey::of(&s.parse().unwrap());
        assert_eq!(a("127.0.0.1:1"), a("127.0.0.1:2"));
        assert_ne!(a("127.0.0.1:1"), a("127.0.0.2:1"));
        assert_eq!(a("[fd00::1]:1"), a("[fd00::2:3]:9"));
        assert_ne!(a("[fd00::1]:1"), a("[fd00:0:0:1::1]:1"));
        assert_eq!(a("[::ffff:10.0.0.1]:5"), a("10.0.0.1:7"));
    }

    #[test]
    fn bounds_from_the_environment() {
        let b = Bounds::from_env();
        assert!(b.queue_cap >= crate::wire::MIN_MAX_MESSAGE);
        assert!(b.fd_reserve_under(100) >= 16);
        assert_eq!(
            Bounds {
                fd_reserve: None,
                ..b
            }
            .fd_reserve_under(20_000),
            1024
        );
        assert_eq!(
            Bounds {
                fd_reserve: None,
                ..b
            }
            .fd_reserve_under(100),
            25
        );
        assert!(b.handshakes_per_addr <= b.handshakes || b.handshakes > 0);
    }
}
