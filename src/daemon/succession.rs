//! The replaceable master (docs/PROTOCOL.md "Succession"): the master ships
//! its master-only state (groups, mailbox, no-reset list; the host table,
//! with its epoch and next index, every slave has already) to its successor,
//! the next host of the table, which keeps the latest copy and acknowledges
//! it. When the master is lost, the successor takes over: it claims the
//! machine with a higher epoch (the others follow it), restores the copy,
//! and removes the old master as a failed host. A claim after silence (not
//! a closed connection) needs a majority of the table; a master that finds
//! itself in a minority halts, as does a daemon that was stopped for longer
//! than the machine's host timeout (the others have gone on without it).
//!
//! The state here is [`Succession`], a field of [`super::multi::Multi`];
//! only this file reaches its fields. Nothing here is on the message path:
//! replicas go after master-only requests and on the machine's tick.

use super::groups::Groups;
use super::links::SILENT;
use super::mailbox::Mailbox;
use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::tid;
use crate::wire::{ctl_frame, Ctl, Reader, Writer};
use crate::Error;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

mod retry;
pub(super) use retry::goes_to_successor;
use retry::{host_change, reply_body, with_answers};

/// How long a slave that lost its master waits for the successor's claim
/// (after a death it saw at once, the host timeout more: the successor may
/// see the loss only by silence).
const ORPHAN_GRACE: Duration = Duration::from_secs(5);
/// How long a successor gathers answers to its claim after silence.
const CLAIM_WAIT: Duration = Duration::from_secs(10);
/// Between replicas sent from the tick when nothing else sent one.
const REPLICA_EVERY: Duration = Duration::from_secs(1);
/// How long the probe of a master whose link closed may take to connect.
const PROBE_TIME: Duration = Duration::from_secs(3);
/// How long after a probe that was answered the second one goes (a daemon
/// killed a moment ago has closed its listener by then).
const REPROBE_AFTER: Duration = Duration::from_millis(300);
/// How many hosts of the line of succession keep the replica: the
/// successor and the next one, so the machine outlives the loss of the
/// master and its successor at once with its state.
const REPLICA_HOLDERS: usize = 2;
/// At most this many replies wait for the successor's acknowledgement
/// (one per request in progress: far more than a machine's tasks have);
/// beyond it a reply goes at once, and the log says so.
const MAX_HELD: usize = 16_384;
/// At most this many tasks' last answers are kept for a try again.
const MAX_ANSWERED: usize = 65_536;

/// Whether sequence number `a` is at or after `b` (they wrap).
fn seq_reached(a: i32, b: i32) -> bool {
    a.wrapping_sub(b) >= 0
}

/// Items (replies) held until the replica numbered with them, or a later
/// one, is acknowledged; released in the order they came.
pub(super) struct Held<T> {
    q: VecDeque<(i32, T)>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held { q: VecDeque::new() }
    }
}

impl<T> Held<T> {
    /// Holds `item` until replica `seq` is acknowledged; gives it back when
    /// [`MAX_HELD`] items wait already.
    pub(super) fn hold(&mut self, seq: i32, item: T) -> Result<(), T> {
        if self.q.len() >= MAX_HELD {
            return Err(item);
        }
        self.q.push_back((seq, item));
        Ok(())
    }

    /// The items whose replica is acknowledged now that `acked` is, in order.
    pub(super) fn release(&mut self, acked: i32) -> Vec<T> {
        let mut out = Vec::new();
        while self.q.front().is_some_and(|(s, _)| seq_reached(acked, *s)) {
            if let Some((_, item)) = self.q.pop_front() {
                out.push(item);
            }
        }
        out
    }

    /// Every item, in order (there is no successor to wait for).
    pub(super) fn release_all(&mut self) -> Vec<T> {
        self.q.drain(..).map(|(_, item)| item).collect()
    }
}

/// A reply to a request, waiting for the successor's acknowledgement.
pub(super) struct HeldReply {
    token: mio::Token,
    tag: i32,
    wid: i32,
    result: Result<Vec<u8>, Error>,
}

/// What waits for the successor's acknowledgement: a reply, or the release
/// of a barrier or freeze waiter (sent only once the successor's copy
/// shows the sync ended, so a new master's copy never keeps waiters that
/// were released).
pub(super) enum Waiting {
    Reply(HeldReply),
    Release(super::groups::Release),
}

/// A successor's claim waiting for a majority.
struct Claim {
    old: i32,
    epoch: i32,
    deadline: Instant,
    /// Hosts in the table when the claim began (the old master included).
    of: usize,
    followers: BTreeSet<i32>,
    /// The live tasks each follower named.
    alive: Vec<(i32, Vec<i32>)>,
}

/// The succession state of a daemon.
#[derive(Default)]
pub(super) struct Succession {
    // Master side.
    /// The hosts the replicas go to (the first [`REPLICA_HOLDERS`] of the
    /// line of succession), and the last one sent.
    shipped_to: Vec<i32>,
    last_body: Vec<u8>,
    seq: i32,
    /// The last replica each holder acknowledged.
    acks: std::collections::BTreeMap<i32, i32>,
    last_sent: Option<Instant>,
    /// Replies to master-only requests waiting for the acknowledgement of
    /// the replica that carries what they tell.
    held: Held<Waiting>,
    /// The replicated state of the last replica (without `answered`).
    last_state: Vec<u8>,
    /// The answer to another host's task whose request changed the
    /// replicated state, by task: the request id its daemon gave it and
    /// the reply body. Part of the replica, so a try again after a lost
    /// master is told what the old master did, and not served twice.
    answered: std::collections::BTreeMap<i32, (i32, Vec<u8>)>,
    /// The answer of the request being served (for `answered`).
    answering: Option<(i32, i32, Vec<u8>)>,
    // Successor side.
    /// The latest replica from the master, and its sequence number.
    copy: Option<(i32, Vec<u8>)>,
    claim: Option<Claim>,
    // Any slave.
    /// A slave whose master is lost waits for a claim until then.
    orphan_until: Option<Instant>,
    /// The connection probing the master after its link closed.
    probe: Option<mio::Token>,
    /// Whether this probe is the second look after a reset.
    probe_again: bool,
    /// Whether the probe of the successor is the second look.
    ahead_again: bool,
    /// When to probe again (the master, or the successor while this daemon
    /// waits for it as next in line).
    reprobe_at: Option<Instant>,
    /// Hosts known lost since the last take-over: the masters lost, and
    /// hosts ahead in the line of succession found gone. The next master
    /// removes them all.
    lost: BTreeSet<i32>,
    /// A slave second in line while it waits for the successor's claim:
    /// the master lost (its daemon tid), the successor it waits for, and
    /// whether the master's loss was a silence. When no claim comes, it
    /// claims in their place.
    next_in_line: Option<(i32, i32, bool)>,
    /// The connection probing the successor ([`Succession::next_in_line`])
    /// whose link is not up.
    probe_ahead: Option<mio::Token>,
}

impl Succession {
    /// Master: whether every holder acknowledged the last replica.
    fn all_acked(&self) -> bool {
        self.shipped_to
            .iter()
            .all(|h| self.acks.get(h) == Some(&self.seq))
    }

    /// Master: the latest replica every holder acknowledged (`None` while
    /// one has acknowledged none).
    fn confirmed(&self) -> Option<i32> {
        let acks: Vec<i32> = self
            .shipped_to
            .iter()
            .map(|h| self.acks.get(h).copied())
            .collect::<Option<_>>()?;
        acks.iter()
            .copied()
            .find(|&a| acks.iter().all(|&b| seq_reached(b, a)))
    }
}

/// What a replica holds.
struct State {
    groups: Groups,
    mbox: Mailbox,
    noresets: Vec<i32>,
    /// The master's hostfile (`&` hosts, `*` defaults) as text.
    known: String,
    answered: std::collections::BTreeMap<i32, (i32, Vec<u8>)>,
}

/// The master-only state as a replica body (without the answers).
fn snapshot(groups: &Groups, mbox: &Mailbox, noresets: &[i32], known: &str) -> Vec<u8> {
    let mut w = Writer::new();
    groups.snapshot(&mut w);
    mbox.snapshot(&mut w);
    w.int(noresets.len() as i32);
    for &t in noresets {
        w.int(t);
    }
    w.str(known);
    w.finish()
}

/// The parts of a replica body.
fn restore(body: &[u8]) -> crate::Result<State> {
    let mut r = Reader::new(body);
    let groups = Groups::restore(&mut r)?;
    let mbox = Mailbox::restore(&mut r)?;
    let n = r.count(4)?;
    let noresets = (0..n).map(|_| r.int()).collect::<crate::Result<Vec<_>>>()?;
    let known = r.str()?;
    let mut answered = std::collections::BTreeMap::new();
    for _ in 0..r.count(12)? {
        let t = r.int()?;
        let dwid = r.int()?;
        answered.insert(t, (dwid, r.bytes()?.to_vec()));
    }
    Ok(State {
        groups,
        mbox,
        noresets,
        known,
        answered,
    })
}

impl Daemon {
    // ---- master: replicas ----------------------------------------------------

    /// After a request on `token` (answered `result`, `None` when the
    /// answer comes later): a master-only one may have changed what the
    /// successor must keep, so the replica goes before the reply; when it
    /// did and another host's task asked, the answer goes with it.
    pub(super) fn replicate_after(
        &mut self,
        token: mio::Token,
        code: i32,
        result: Option<&Result<Vec<u8>, Error>>,
    ) {
        if !self.multi.is_master() || !super::multi::master_only(code) {
            return;
        }
        if let (Some(res), Some((t, dwid))) = (result, self.forwards.remote_req(token)) {
            if t != 0 && host_change(code) {
                // The table changed, not the replicated state: kept always.
                self.keep_answer(t, dwid, reply_body(res));
            } else if t != 0 && goes_to_successor(code) {
                self.succession.answering = Some((t, dwid, reply_body(res)));
            }
        }
        // After a host change, a replica behind the new table.
        self.replicate(result.is_some() && host_change(code));
        self.succession.answering = None;
    }

    /// The reply to request `tag` (`wid`) on `token`: a master's reply to a
    /// request on the replicated state (mailbox, no-reset list, groups) waits while a replica is not acknowledged yet
    /// (it may carry the change this reply tells of, or one the reply
    /// shows), so that no task is told of a state the replica holders do
    /// not hold; it goes when every holder (the successor and the next
    /// host in line) acknowledged that replica (or a later one), or at
    /// once when there is no other host. Every other
    /// reply goes at once, and messages never wait for replicas.
    pub(super) fn reply_replicated(
        &mut self,
        token: mio::Token,
        tag: i32,
        wid: i32,
        result: Result<Vec<u8>, Error>,
    ) {
        let s = &mut self.succession;
        // The mailbox, the no-reset list and the groups: what a replica holds.
        // And the host changes (retry.rs `host_change`).
        let replicated = matches!(tag, 20..=23 | 42 | 43 | 60 | 61 | 70..=79);
        let waits =
            self.multi.is_master() && replicated && !s.shipped_to.is_empty() && !s.all_acked();
        if !waits {
            self.reply(token, tag, wid, result);
            return;
        }
        let item = HeldReply {
            token,
            tag,
            wid,
            result,
        };
        let seq = s.seq;
        match s.held.hold(seq, Waiting::Reply(item)) {
            Ok(()) => dlog!(
                self.log,
                Debug,
                "reply to request {tag} held until replica {seq} is acknowledged"
            ),
            Err(r) => {
                dlog!(
                    self.log,
                    Warn,
                    "{MAX_HELD} replies wait for the successor already; one goes unconfirmed"
                );
                self.send_waiting(r);
            }
        }
    }

    /// Master: the releases of barrier and freeze waiters (`notes`) wait,
    /// like the replies, for the acknowledgement of the replica that shows
    /// the sync completed (or ended by a departure), sent now if not yet.
    /// So the successor's copy still has the waiters of an end it never
    /// saw (none of them was released: the new master releases them when
    /// the others arrive, or their calls come again). The releases of an
    /// end it saw stay in the copy until sent ([`Groups::unsent`]): the
    /// new master sends them again, and a waiter takes only the release of
    /// its own sync, once (a doubled one would let it through its next
    /// barrier).
    pub(super) fn release_replicated(&mut self, notes: Vec<super::groups::Release>) {
        if notes.is_empty() {
            return;
        }
        self.replicate(false);
        let s = &self.succession;
        let waits = self.multi.is_master() && !s.shipped_to.is_empty() && !s.all_acked();
        if !waits {
            for r in notes {
                self.send_release(r);
            }
            return;
        }
        let seq = s.seq;
        dlog!(
            self.log,
            Debug,
            "{} release(s) held until replica {seq} is acknowledged",
            notes.len()
        );
        for n in notes {
            if let Err(w) = self.succession.held.hold(seq, Waiting::Release(n)) {
                dlog!(
                    self.log,
                    Warn,
                    "{MAX_HELD} replies wait for the successor already; a release goes unconfirmed"
                );
                self.send_waiting(w);
            }
        }
    }

    fn send_waiting(&mut self, w: Waiting) {
        match w {
            Waiting::Reply(r) => self.reply(r.token, r.tag, r.wid, r.result),
            Waiting::Release(r) => self.send_release(r),
        }
    }

    /// Sends the held replies that replica `acked` confirms (all of them
    /// when `None`).
    fn send_held(&mut self, acked: Option<i32>) {
        let ready = match acked {
            Some(a) => self.succession.held.release(a),
            None => self.succession.held.release_all(),
        };
        for w in ready {
            self.send_waiting(w);
        }
    }

    /// Master: sends the master-only state to the successor when it changed
    /// since the last replica (or `force`, or the successor changed).
    pub(super) fn replicate(&mut self, force: bool) {
        if !self.multi.is_master() {
            return;
        }
        let mut holders = self.multi.table().line_of(self.me.dtid());
        holders.truncate(REPLICA_HOLDERS);
        if holders.is_empty() {
            // Alone: nobody to keep a copy, nothing to wait for.
            self.succession.shipped_to.clear();
            self.succession.acks.clear();
            self.send_held(None);
            return;
        }
        let known = self.starting.known().to_text();
        let state = snapshot(&self.groups, &self.mbox, &self.misc.noresets(), &known);
        let s = &mut self.succession;
        if let Some((t, dwid, reply)) = s.answering.take() {
            // Only a request that changed the state needs its answer kept:
            // any other is served alike again.
            if state != s.last_state {
                self.keep_answer(t, dwid, reply);
            }
        }
        let s = &mut self.succession;
        let body = with_answers(&state, &s.answered);
        s.last_state = state;
        if !force && s.shipped_to == holders && s.last_body == body {
            return;
        }
        if s.shipped_to != holders {
            let names: Vec<String> = holders
                .iter()
                .map(|&h| tid::fmt(tid::daemon_tid(h)))
                .collect();
            dlog!(
                self.log,
                Info,
                "successor: {} (replica holders {})",
                names[0],
                names.join(", ")
            );
        }
        let s = &mut self.succession;
        s.acks.retain(|h, _| holders.contains(h));
        s.shipped_to = holders.clone();
        s.seq = s.seq.wrapping_add(1);
        s.last_sent = Some(Instant::now());
        let mut w = Writer::new();
        w.int(s.seq).bytes(&body);
        s.last_body = body;
        dlog!(
            self.log,
            Debug,
            "replica {} ({} bytes) to {} host(s)",
            s.seq,
            s.last_body.len(),
            holders.len()
        );
        let body = w.finish();
        for h in holders {
            let f = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(h),
                Ctl::Replica,
                body.clone(),
            );
            self.send_to_host(h, f.to_bytes());
        }
    }

    /// The machine's tick: a change made outside a request (a task's exit
    /// leaving its groups, say) reaches the successor within a second.
    pub(super) fn succession_tick(&mut self, now: Instant) {
        if self.multi.is_master() {
            // A new successor (a host added or lost) got its copy when the
            // table changed; a change made outside a request is looked for
            // every second, and a replica the successor did not acknowledge
            // within a second goes again.
            let s = &self.succession;
            let late = s
                .last_sent
                .is_none_or(|t| now.duration_since(t) >= REPLICA_EVERY);
            let mut holders = self.multi.table().line_of(self.me.dtid());
            holders.truncate(REPLICA_HOLDERS);
            let due = s.shipped_to != holders || late;
            let unacked = !s.shipped_to.is_empty() && !s.all_acked();
            if due {
                self.succession.last_sent = Some(now);
                self.replicate(late && unacked);
            }
            return;
        }
        if self.succession.reprobe_at.is_some_and(|t| now >= t) {
            self.succession.reprobe_at = None;
            match self.succession.next_in_line {
                Some((_, ahead, _)) if self.succession.ahead_again => self.probe_ahead(ahead),
                _ if self.succession.probe_again => self.master_lost("closed after the probe"),
                _ => {}
            }
        }
        if let Some(c) = &self.succession.claim {
            if now > c.deadline {
                let (n, of) = (c.followers.len() + 1, c.of);
                dlog!(
                    self.log,
                    Warn,
                    "no majority for the take-over ({n} of {of} hosts); killing tasks, exiting"
                );
                self.succession.claim = None;
                self.halt_now("no majority");
                return;
            }
        }
        if self.succession.orphan_until.is_some_and(|d| now > d) {
            self.succession.orphan_until = None;
            if let Some((old, ahead, _)) = self.succession.next_in_line.take() {
                // Next in line: the successor did not claim (gone too, or
                // cut off): this daemon claims in its place, after silence
                // (it may be alive behind a partition), so only with a
                // majority.
                dlog!(
                    self.log,
                    Warn,
                    "no claim came from the successor {}; claiming in its place",
                    tid::fmt(tid::daemon_tid(ahead))
                );
                self.drop_probe_ahead();
                self.succession.lost.insert(ahead);
                self.in_line(old, "no claim came", true);
                return;
            }
            dlog!(
                self.log,
                Warn,
                "no successor took over; killing tasks, exiting"
            );
            self.halt_now("loss of the master");
        }
    }

    // ---- successor: the copy -------------------------------------------------

    /// A control frame of the succession (Replica, ReplicaAck, Claim,
    /// Follow) from daemon `sender`.
    pub(super) fn on_succession_ctl(&mut self, code: Ctl, sender: i32, r: &mut Reader<'_>) {
        match code {
            Ctl::Replica if sender == self.multi.master() && !self.multi.is_master() => {
                let (Ok(seq), Ok(body)) = (r.int(), r.bytes()) else {
                    return;
                };
                dlog!(self.log, Debug, "replica {seq} ({} bytes) kept", body.len());
                self.succession.copy = Some((seq, body.to_vec()));
                let ack = ctl_frame(
                    self.me.dtid(),
                    sender,
                    Ctl::ReplicaAck,
                    Writer::new().int(seq).finish(),
                );
                self.send_to_host(tid::host_of(sender), ack.to_bytes());
            }
            Ctl::ReplicaAck if self.multi.is_master() => {
                let Ok(seq) = r.int() else {
                    return;
                };
                let s = &mut self.succession;
                let h = tid::host_of(sender);
                let newer = s.acks.get(&h).is_none_or(|&a| seq_reached(seq, a));
                if s.shipped_to.contains(&h) && newer {
                    s.acks.insert(h, seq);
                    if let Some(c) = s.confirmed() {
                        self.send_held(Some(c));
                    }
                }
            }
            Ctl::Claim => {
                let Ok(epoch) = r.int() else {
                    return;
                };
                self.claimed(sender, epoch);
            }
            Ctl::Follow => {
                let Ok(epoch) = r.int() else {
                    return;
                };
                // Then the follower's live tasks.
                let alive = r
                    .count(4)
                    .and_then(|n| (0..n).map(|_| r.int()).collect::<crate::Result<Vec<_>>>())
                    .unwrap_or_default();
                self.followed(sender, epoch, alive);
            }
            _ => {}
        }
    }

    // ---- losing the master ---------------------------------------------------

    /// Whether the master may be being replaced (this slave probes its
    /// port after its link closed, waits for a claim, or claims the
    /// machine itself): requests for the master wait, and go to whichever
    /// daemon is the master afterwards ([`Daemon::forwards_new_master`]).
    pub(super) fn succession_pending(&self) -> bool {
        self.succession.probe.is_some()
            || self.succession.reprobe_at.is_some()
            || self.succession.orphan_until.is_some()
            || self.succession.claim.is_some()
    }

    /// A claimant: a task of a follower exited (its TaskGone came after
    /// the Follow that named it alive): it is alive no more when the claim
    /// wins, so it leaves its groups then.
    pub(super) fn claim_task_gone(&mut self, t: i32) {
        if let Some(c) = &mut self.succession.claim {
            for (_, alive) in c.alive.iter_mut() {
                alive.retain(|&x| x != t);
            }
        }
    }

    /// A slave's link to another slave, `host`, closed (`why`): when this
    /// daemon waits for that host's claim as next in line, it looks at
    /// the host's port (a refusal: it is gone too, and this daemon claims).
    pub(super) fn peer_link_lost(&mut self, host: i32, why: &str) {
        let waits_for = self
            .succession
            .next_in_line
            .is_some_and(|(_, a, _)| a == host);
        if waits_for && !why.starts_with(SILENT) && self.succession.probe_ahead.is_none() {
            self.probe_ahead(host);
        }
    }

    /// Probes the port of `ahead`, the successor this daemon waits for.
    fn probe_ahead(&mut self, ahead: i32) {
        let target = self
            .multi
            .table()
            .by_tid(ahead)
            .and_then(|e| super::multi::order_addrs(&e.addrs).front().copied());
        match target.and_then(|a| {
            self.connect_link(a, ahead, Instant::now() + PROBE_TIME)
                .ok()
        }) {
            Some(tok) => {
                dlog!(
                    self.log,
                    Info,
                    "probing the port of the successor {}",
                    tid::fmt(tid::daemon_tid(ahead))
                );
                self.succession.probe_ahead = Some(tok);
            }
            None => self.ahead_gone(ahead, "no address to reach it"),
        }
    }

    fn drop_probe_ahead(&mut self) {
        if let Some(tok) = self.succession.probe_ahead.take() {
            self.drop_link(tok);
        }
    }

    /// Whether link `tok` is the probe of the successor.
    pub(super) fn is_probe_ahead(&self, tok: mio::Token) -> bool {
        self.succession.probe_ahead == Some(tok)
    }

    /// The probe of the successor ended (see [`Daemon::probe_result`]);
    /// `accepted` as soon as its port took the connection: the probe is
    /// closed then, before its handshake ends (a successor that became the
    /// master meanwhile would take a finished one for this slave's link).
    pub(super) fn probe_ahead_result(
        &mut self,
        tok: mio::Token,
        answered: bool,
        accepted: bool,
        why: &str,
    ) {
        self.succession.probe_ahead = None;
        self.drop_link(tok);
        let Some((_, ahead, _)) = self.succession.next_in_line else {
            return;
        };
        let name = tid::fmt(tid::daemon_tid(ahead));
        // A daemon killed a moment ago may still hold its listener (its
        // port takes the connection, or takes it and closes it): a second
        // look a moment later tells.
        if (accepted || answered) && !self.succession.ahead_again {
            self.succession.ahead_again = true;
            self.succession.reprobe_at = Some(Instant::now() + REPROBE_AFTER);
            return;
        }
        self.succession.ahead_again = false;
        if accepted {
            dlog!(
                self.log,
                Info,
                "the successor {name} runs; waiting for its claim"
            );
            return;
        }
        if answered || why.contains("timed out") {
            // It runs (and refused a second link), or it does not answer:
            // its claim is awaited; without one, this daemon claims after
            // the wait, with a majority.
            dlog!(
                self.log,
                Info,
                "the successor {name} did not refuse the probe ({why}); waiting for its claim"
            );
            return;
        }
        self.ahead_gone(ahead, why);
    }

    /// The successor `ahead` is gone too (its port refused): the next in
    /// line claims in its place.
    fn ahead_gone(&mut self, ahead: i32, why: &str) {
        let Some((old, _, silent)) = self.succession.next_in_line.take() else {
            return;
        };
        dlog!(
            self.log,
            Warn,
            "the successor {} is gone too ({why})",
            tid::fmt(tid::daemon_tid(ahead))
        );
        self.succession.lost.insert(ahead);
        self.succession.orphan_until = None;
        self.in_line(old, "its successor is gone too", silent);
    }

    /// A slave lost the link to its master (`why`: a silence, or a closed
    /// or failed connection). A closed connection is first checked with a
    /// probe of the master's port ([`Daemon::probe_result`]): a refusal
    /// means its daemon is gone, a connection that the master accepts
    /// means it is alive (and dropped this host, or lost the link only).
    pub(super) fn master_lost(&mut self, why: &str) {
        if why.starts_with(SILENT) {
            self.master_gone(why, true);
            return;
        }
        let host = tid::host_of(self.multi.master());
        let target = self
            .multi
            .table()
            .by_tid(host)
            .and_then(|e| super::multi::order_addrs(&e.addrs).front().copied());
        let probe =
            target.and_then(|a| self.connect_link(a, host, Instant::now() + PROBE_TIME).ok());
        match probe {
            Some(tok) => {
                dlog!(
                    self.log,
                    Info,
                    "link to the master {} closed ({why}); probing its port",
                    tid::fmt(self.multi.master())
                );
                self.succession.probe = Some(tok);
            }
            None => self.master_gone(why, false),
        }
    }

    /// Whether link `tok` is the probe of the master or of its successor.
    pub(super) fn is_probe(&self, tok: mio::Token) -> bool {
        self.succession.probe == Some(tok) || self.succession.probe_ahead == Some(tok)
    }

    /// The probe `tok` of the master (or of its successor) ended:
    /// `answered` when its port accepted the connection (the daemon runs),
    /// `accepted` when it also took this daemon back (the probe is its link
    /// from now on).
    pub(super) fn probe_result(
        &mut self,
        tok: mio::Token,
        answered: bool,
        accepted: bool,
        why: &str,
    ) {
        self.probe_ended(tok, answered, false, accepted, why);
    }

    /// A probe's link failed (`answered`: its port took the connection;
    /// `proven`: the peer proved the secret before it closed, so its
    /// daemon runs and refused this host, which is not looked at again).
    pub(super) fn probe_failed(
        &mut self,
        tok: mio::Token,
        answered: bool,
        proven: bool,
        why: &str,
    ) {
        self.probe_ended(tok, answered, proven, false, why);
    }

    fn probe_ended(
        &mut self,
        tok: mio::Token,
        answered: bool,
        proven: bool,
        accepted: bool,
        why: &str,
    ) {
        if self.succession.probe_ahead == Some(tok) {
            self.probe_ahead_result(tok, answered, accepted, why);
            return;
        }
        if self.succession.probe != Some(tok) {
            return;
        }
        self.succession.probe = None;
        let master = self.multi.master();
        if accepted {
            self.succession.probe_again = false;
            dlog!(
                self.log,
                Info,
                "linked to the master {} again",
                tid::fmt(master)
            );
            self.links.bind(tid::host_of(master), tok);
            // The requests in flight on the old link go again, and those
            // held during the probe go to it after all.
            self.forwards_relinked(tid::host_of(master));
            self.forwards_new_master();
            return;
        }
        self.drop_link(tok);
        if answered && !self.succession.probe_again && !proven {
            // A daemon killed a moment ago may still have held its listener
            // when we connected, or even taken the connection: its death
            // resets or closes it. Look once more, a moment later (its
            // listener is closed by then); a live master that dropped this
            // host closes the second probe too, a dead one's port refuses it.
            self.succession.probe_again = true;
            self.succession.reprobe_at = Some(Instant::now() + REPROBE_AFTER);
            return;
        }
        self.succession.probe_again = false;
        if answered {
            dlog!(
                self.log,
                Warn,
                "the master {} runs but dropped this host ({why}); killing tasks, exiting",
                tid::fmt(master)
            );
            self.halt_now("removal by the master");
        } else if why.contains("timed out") {
            // Nothing answers: the host is down or cut off, as for a silence.
            self.master_gone("its host does not answer", true);
        } else {
            self.master_gone(&format!("its port: {why}"), false);
        }
    }

    /// The master is gone (`silent`: it may be alive behind a partition).
    /// The successor takes over; the others wait for its claim.
    fn master_gone(&mut self, why: &str, silent: bool) {
        let old = self.multi.master();
        let table = self.multi.table();
        let s = &mut self.succession;
        s.lost.insert(tid::host_of(old));
        s.lost.retain(|&h| table.contains(h));
        self.in_line(old, why, silent);
    }

    /// Where this daemon stands in the line of succession after the lost
    /// master `old` (its hosts known lost left out): the first claims the
    /// machine; the second waits for the first's claim and probes its
    /// port when it does not hear from it (a refusal: it is gone too, and
    /// the second claims; no claim within the wait: the second claims,
    /// with a majority); the others wait for a claim a little longer.
    fn in_line(&mut self, old: i32, why: &str, silent: bool) {
        let full = self.multi.table().line_of(old);
        let line: Vec<i32> = full
            .iter()
            .copied()
            .filter(|h| !self.succession.lost.contains(h))
            .collect();
        let me = self.me.host();
        // Past the epoch of any claim a host ahead of us in the line made.
        let pos = full.iter().position(|&h| h == me).unwrap_or(0) as i32;
        let epoch = self.multi.table().epoch + 1 + pos;
        let rank = line.iter().position(|&h| h == me);
        if rank == Some(0) {
            let also: Vec<String> = self
                .succession
                .lost
                .iter()
                .filter(|&&h| h != tid::host_of(old))
                .map(|&h| tid::fmt(tid::daemon_tid(h)))
                .collect();
            let also = if also.is_empty() {
                String::new()
            } else {
                format!(" in place of {} too", also.join(", "))
            };
            dlog!(
                self.log,
                Warn,
                "lost the master {} ({why}); taking over{also}",
                tid::fmt(old)
            );
            self.succession.next_in_line = None;
            self.drop_probe_ahead();
            self.claim(old, epoch, silent);
            return;
        }
        if self.succession.orphan_until.is_some() {
            return;
        }
        // After a silence the successor sees the loss about when we do
        // (the master's heartbeats reach all alike); after a death seen at
        // once here it may need up to the host timeout. Behind the next in
        // line, a claim it makes in the successor's place comes after that.
        let mut wait = if silent {
            ORPHAN_GRACE
        } else {
            self.links.dead_after() + ORPHAN_GRACE
        };
        let ahead = line.first().copied();
        if rank != Some(1) {
            wait += ORPHAN_GRACE;
        }
        dlog!(
            self.log,
            Warn,
            "lost the master {} ({why}); waiting up to {} s for {} to take over",
            tid::fmt(old),
            wait.as_secs(),
            ahead.map_or_else(
                || "a successor".to_string(),
                |h| tid::fmt(tid::daemon_tid(h))
            )
        );
        self.succession.orphan_until = Some(Instant::now() + wait);
        if let (Some(1), Some(ahead)) = (rank, ahead) {
            self.succession.next_in_line = Some((old, ahead, silent));
            if !self.links.hears_from(ahead) && self.succession.probe_ahead.is_none() {
                self.probe_ahead(ahead);
            }
        }
    }

    /// This daemon claims the machine with `epoch` in place of the master
    /// `old` (and of the hosts ahead of it in line that are lost). After a
    /// death seen for certain (a refused probe) it is the master at once;
    /// after a silence only once a majority follows.
    fn claim(&mut self, old: i32, epoch: i32, silent: bool) {
        let of = self.multi.table().hosts.len();
        let others: Vec<i32> = self
            .other_hosts()
            .into_iter()
            .filter(|&h| h != tid::host_of(old) && !self.succession.lost.contains(&h))
            .collect();
        for &h in &others {
            let f = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(h),
                Ctl::Claim,
                Writer::new().int(epoch).finish(),
            );
            self.send_to_host(h, f.to_bytes());
        }
        if !silent {
            self.take_over(old, epoch);
            return;
        }
        self.succession.claim = Some(Claim {
            old,
            epoch,
            deadline: Instant::now() + CLAIM_WAIT,
            of,
            followers: BTreeSet::new(),
            alive: Vec::new(),
        });
        self.check_claim();
    }

    /// A claim with a majority (the claimant counts itself) wins.
    fn check_claim(&mut self) {
        let Some(c) = &self.succession.claim else {
            return;
        };
        if (c.followers.len() + 1) * 2 > c.of {
            let Some(c) = self.succession.claim.take() else {
                return;
            };
            self.take_over(c.old, c.epoch);
            for (host, alive) in c.alive {
                self.tasks_alive_on(host, &alive);
            }
        }
    }

    /// Daemon `from` claims the machine with `epoch`: followed when newer
    /// than ours, refused otherwise.
    fn claimed(&mut self, from: i32, epoch: i32) {
        let mine = self.multi.table().epoch;
        if epoch <= mine || from == self.me.dtid() || !self.multi.table().contains(from) {
            dlog!(
                self.log,
                Warn,
                "claim of epoch {epoch} by {} refused (epoch {mine})",
                tid::fmt(from)
            );
            return;
        }
        dlog!(
            self.log,
            Warn,
            "following {} as the master (epoch {epoch}, was {} in epoch {mine})",
            tid::fmt(from),
            tid::fmt(self.multi.master())
        );
        let old = self.multi.follow(from, epoch);
        self.succession.orphan_until = None;
        self.succession.claim = None;
        self.succession.next_in_line = None;
        self.drop_probe_ahead();
        self.succession.reprobe_at = None;
        self.succession.probe_again = false;
        self.succession.ahead_again = false;
        if let Some(tok) = self.succession.probe.take() {
            self.drop_link(tok);
        }
        // The old master's link (a stalled one may still be open) is closed:
        // nothing of its epoch is taken any more.
        if old != from {
            if let Some(tok) = self.links.unbind(tid::host_of(old)) {
                self.drop_link(tok);
            }
        }
        // With our live tasks: an exit the old master heard of last may
        // not be in the new master's copy.
        let mut w = Writer::new();
        w.int(epoch).int(self.tasks.len() as i32);
        for t in self.tasks.iter() {
            w.int(t.tid);
        }
        let f = ctl_frame(self.me.dtid(), from, Ctl::Follow, w.finish());
        self.send_to_host(tid::host_of(from), f.to_bytes());
        self.forwards_new_master();
    }

    /// Daemon `from` follows our claim of `epoch`; `alive`: its tasks.
    fn followed(&mut self, from: i32, epoch: i32, alive: Vec<i32>) {
        let host = tid::host_of(from);
        if let Some(c) = &mut self.succession.claim {
            if c.epoch == epoch {
                c.followers.insert(host);
                c.alive.push((host, alive));
                self.check_claim();
            }
        } else if self.multi.is_master() && epoch == self.multi.table().epoch {
            self.tasks_alive_on(host, &alive);
        }
    }

    /// This daemon becomes the master of `epoch` in place of `old`: the
    /// copy of the master-only state is restored, the old master is removed
    /// as a failed host (its tasks exit, its group members leave, its
    /// non-persistent mailbox entries go, PvmHostDelete fires) and the
    /// new table goes to every slave.
    fn take_over(&mut self, old: i32, epoch: i32) {
        self.multi.take_over(self.me.dtid(), epoch);
        self.succession.orphan_until = None;
        // Our replica holders get a first copy (when removing the old
        // master below does not send them one).
        self.succession.shipped_to.clear();
        self.succession.acks.clear();
        let mut again = Vec::new();
        match self.succession.copy.take().map(|(_, b)| restore(&b)) {
            Some(Ok(st)) => {
                // Releases the old master may not have sent: sent again
                // (a waiter takes only its own sync's, once).
                again = st.groups.unsent();
                self.groups = st.groups;
                self.mbox = st.mbox;
                self.misc.set_noresets(&st.noresets);
                self.succession.answered = st.answered;
                self.succession.last_state = Vec::new();
                if let Ok(h) = crate::hostfile::Hostfile::parse(&st.known) {
                    self.starting.set_known(h);
                }
            }
            Some(Err(e)) => dlog!(self.log, Error, "the master's replica is unreadable: {e}"),
            None => dlog!(
                self.log,
                Warn,
                "no replica of the master's state came: its groups, mailbox, no-reset list \
                 and hostfile defaults are lost"
            ),
        }
        dlog!(
            self.log,
            Warn,
            "master of the machine now (epoch {epoch}), in place of {}",
            tid::fmt(old)
        );
        // The old master goes, and the hosts ahead of this one in the line
        // of succession that were lost with it (and a master lost before
        // the one we followed), in one new table.
        self.succession.next_in_line = None;
        self.drop_probe_ahead();
        let mut gone = vec![tid::host_of(old)];
        let lost = std::mem::take(&mut self.succession.lost);
        gone.extend(lost.into_iter().filter(|&h| h != tid::host_of(old)));
        let mut removed = Vec::new();
        for h in gone {
            if let Some(tok) = self.links.unbind(h) {
                self.drop_link(tok);
            }
            if self.multi.remove_host(h).is_some() {
                let why = if h == tid::host_of(old) {
                    "the master was lost"
                } else {
                    "lost with the master"
                };
                dlog!(self.log, Info, "host {} removed: {why}", tid::fmt(h));
                removed.push(h);
            }
        }
        self.push_table(None);
        for h in removed {
            self.host_gone(h);
        }
        self.replicate(false);
        if !again.is_empty() {
            dlog!(
                self.log,
                Info,
                "{} release(s) of ended syncs sent again",
                again.len()
            );
            self.deliver_releases(again);
        }
        let mine: Vec<i32> = self.tasks.iter().map(|t| t.tid).collect();
        self.tasks_alive_on(self.me.host(), &mine);
        self.forwards_new_master();
    }

    // ---- quorum ----------------------------------------------------------------

    /// Master: whether, without host `gone` (lost to silence), this daemon
    /// and the hosts it still hears from are at least half of the table
    /// (on a tie the master's side goes on).
    pub(super) fn master_keeps_quorum(&self, gone: i32) -> bool {
        let n = self.multi.table().hosts.len();
        let alive = 1 + self
            .other_hosts()
            .into_iter()
            .filter(|&h| h != gone && self.links.hears_from(h))
            .count();
        alive * 2 >= n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_wait_for_the_acknowledgement_of_their_replica_in_order() {
        let mut h: Held<&str> = Held::default();
        // A join told of in replica 3, a put in replica 4, a read after it.
        h.hold(3, "join").unwrap();
        h.hold(4, "put").unwrap();
        h.hold(4, "gsize").unwrap();
        assert!(h.release(2).is_empty(), "an older replica confirms nothing");
        assert_eq!(h.release(3), ["join"]);
        assert!(h.release(3).is_empty());
        // A later replica (resent, or to a new successor) carries them all.
        h.hold(5, "leave").unwrap();
        assert_eq!(h.release(6), ["put", "gsize", "leave"]);
        h.hold(7, "alone").unwrap();
        assert_eq!(h.release_all(), ["alone"]);
    }

    #[test]
    fn a_replica_carries_the_answers_for_a_try_again() {
        let state = snapshot(&Groups::default(), &Mailbox::new(), &[0x40002], "* ep=/x\n");
        let mut answered = std::collections::BTreeMap::new();
        answered.insert(0x80001, (7, reply_body(&Ok(vec![0, 0, 0, 3]))));
        answered.insert(0xc0002, (9, reply_body(&Err(Error::DupGroup))));
        let st = restore(&with_answers(&state, &answered)).unwrap();
        assert_eq!(st.noresets, [0x40002]);
        assert_eq!(st.known, "* ep=/x\n");
        assert_eq!(st.answered, answered);
        assert_eq!(st.answered[&0x80001].1, [0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(
            st.answered[&0xc0002].1,
            Error::DupGroup.code().to_be_bytes().to_vec()
        );
        assert!(goes_to_successor(70) && goes_to_successor(21) && goes_to_successor(10));
        assert!(goes_to_successor(60) && goes_to_successor(61) && !goes_to_successor(3));
        assert!(host_change(60) && host_change(61) && !host_change(70));
    }

    #[test]
    fn a_replica_carries_syncs_in_progress_and_unsent_releases() {
        use crate::wire::Req;
        let mut g = Groups::default();
        let call = |g: &mut Groups, req: Req, from: i32, name: &[u8], arg: Option<i32>| {
            let mut w = Writer::new();
            w.bytes(name);
            if let Some(a) = arg {
                w.int(a);
            }
            g.request(req, from, &mut Reader::new(&w.finish()))
        };
        for t in [0x80001, 0xc0001, 0xc0002] {
            call(&mut g, Req::GroupJoin, t, b"b", None).0.unwrap();
        }
        // A barrier with a waiter, and one that ended but is not sent yet.
        call(&mut g, Req::GroupBarrier, 0x80001, b"b", Some(-1))
            .0
            .unwrap();
        call(&mut g, Req::GroupJoin, 0x80001, b"d", None).0.unwrap();
        let (_, done) = call(&mut g, Req::GroupBarrier, 0x80001, b"d", Some(1));
        let state = snapshot(&g, &Mailbox::new(), &[], "");
        let st = restore(&with_answers(&state, &Default::default())).unwrap();
        assert_eq!(st.groups.listing(), g.listing());
        assert_eq!(st.groups.listing()[0].waiting, [0x80001]);
        assert_eq!(st.groups.unsent(), done);
        assert_eq!(done.len(), 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut h: Held<u8> = Held::default();
        h.hold(i32::MAX, 1).unwrap();
        h.hold(i32::MIN, 2).unwrap();
        assert_eq!(h.release(i32::MAX), [1]);
        assert_eq!(h.release(i32::MIN.wrapping_add(1)), [2]);
        assert!(seq_reached(i32::MIN, i32::MAX) && !seq_reached(i32::MAX, i32::MIN));
    }

    #[test]
    fn the_queue_has_a_bound() {
        let mut h: Held<usize> = Held::default();
        for i in 0..MAX_HELD {
            h.hold(1, i).unwrap();
        }
        assert_eq!(h.hold(1, MAX_HELD), Err(MAX_HELD));
        assert_eq!(h.release(1).len(), MAX_HELD);
    }
}
