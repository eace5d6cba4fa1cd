//! The daemon's budget for large message bodies being received at once
//! (issue 28; docs/HARDENING.md "Bounds"): each task connection may be in
//! the middle of a frame of up to the largest message, so without a bound
//! N connections could make the daemon hold N times that.
//!
//! A large body (the decoder reads it into its own Vec as it comes,
//! `wire::FrameDecoder`) is read only once it has room in
//! [`Bounds::recv_cap`](super::bounds::Bounds::recv_cap): its whole claimed
//! length is counted from its first bytes until it is complete. When the
//! budget has no room, the connection is not read from (back-pressure: the
//! task waits in its send, as on a full socket) until bodies being
//! received complete; waiting connections get room in the order they began.
//! A body alone always gets room, so one message of the largest size still
//! passes when the budget is smaller. Never given: to a connection that
//! waits for a full queue (bounds.rs), so a body waiting for a queue to
//! drain never holds room others need to make it drain. A message whose
//! destination's queue (or hold, or host link) is over its cap waits there
//! before its body is read: queues exceed their cap by small messages only.
//!
//! What the daemon holds for bodies being received is so at most the
//! budget or one largest message, plus what each connection read before
//! its body began (at most one read step, `wire::READ_STEP`). Daemon links
//! and feeds are not in the budget; each holds at most one body being
//! received, of at most the largest message plus 64 KiB
//! (`Daemon::link_body_limit`): there is one link per other host, and a
//! feed is another host's task's (one per task and host it sends to),
//! authenticated by the machine's secret, the same trust as the user's own
//! local tasks. Taking them into the budget would make a link's control
//! frames (heartbeats, replies) wait behind other connections' bodies.

use super::log::dlog;
use super::server::Daemon;
use mio::Token;

/// The room taken by large bodies being received, and who waits for it.
#[derive(Default)]
pub struct Bodies {
    /// Bytes claimed by the bodies being received.
    taken: usize,
    /// Connections whose large body waits for room, in the order they
    /// began.
    queue: Vec<Token>,
}

impl Bodies {
    /// Whether a body of `claim` bytes fits now (a body alone always does).
    fn fits(&self, claim: usize, cap: usize) -> bool {
        self.taken == 0 || self.taken.saturating_add(claim) <= cap
    }

    /// Whether `token` may take room before others (none waits before it).
    fn turn_of(&self, token: Token) -> bool {
        self.queue.first().is_none_or(|t| *t == token)
    }

    fn take(&mut self, token: Token, claim: usize) {
        self.taken += claim;
        self.queue.retain(|t| *t != token);
    }

    fn give_back(&mut self, n: usize) {
        self.taken -= n;
    }

    fn wait(&mut self, token: Token) {
        if !self.queue.contains(&token) {
            self.queue.push(token);
        }
    }

    fn forget(&mut self, token: Token) {
        self.queue.retain(|t| *t != token);
    }

    fn first(&self) -> Option<Token> {
        self.queue.first().copied()
    }
}

impl Daemon {
    /// After connection `token` was read: frees the room of a body that
    /// completed, and gives room to a large body that began. Returns
    /// whether it got room now (the caller reads on: reading stopped where
    /// the body began); else the connection waits ([`Conn::body_wait`]).
    ///
    /// [`Conn::body_wait`]: super::conn::Conn::body_wait
    pub(super) fn budget_body(&mut self, token: Token) -> bool {
        let cap = self.opts.bounds.recv_cap;
        let Some(c) = self.conns.get_mut(token) else {
            return false;
        };
        let current = c.decoder.big_claim().is_some() && c.decoder.bigs_begun() == c.body_id;
        if c.body_reserved > 0 && !current {
            self.pacing.bodies().give_back(c.body_reserved);
            c.body_reserved = 0;
        }
        if !c.body_unbudgeted() {
            if std::mem::take(&mut c.body_wait) {
                self.pacing.bodies().forget(token);
            }
            return false;
        }
        // A message for a queue over its cap waits before its body is read
        // (bounds.rs), so a queue exceeds its cap by no large message.
        let head = c.decoder.big_header();
        if let Some(h) = head.filter(|h| h.kind == crate::wire::Kind::Msg) {
            self.pace(token, h.dst);
        }
        let Some(c) = self.conns.get_mut(token) else {
            return false;
        };
        let bodies = self.pacing.bodies();
        if c.waits_on.is_some() {
            // Waits for a queue first; asks again once read from.
            c.body_wait = false;
            bodies.forget(token);
            return false;
        }
        let claim = c.decoder.big_claim().unwrap_or(0);
        // A task that hung up cannot send more than its socket holds.
        let hung_up = || {
            crate::os::wait_hangup(
                std::os::fd::AsFd::as_fd(&c.stream),
                std::time::Duration::ZERO,
            )
        };
        if (bodies.turn_of(token) && bodies.fits(claim, cap)) || hung_up() {
            c.body_id = c.decoder.bigs_begun();
            c.body_reserved = claim;
            c.body_wait = false;
            bodies.take(token, claim);
            return true;
        }
        c.body_wait = true;
        bodies.wait(token);
        let taken = bodies.taken;
        dlog!(
            self.log,
            Debug,
            "{} waits: a body of {claim} bytes, {taken} bytes of bodies being received (at most {cap})",
            self.conn_name(token)
        );
        false
    }

    /// Connection `token` closed: the room its body had goes back.
    pub(super) fn body_gone(&mut self, token: Token, reserved: usize) {
        let bodies = self.pacing.bodies();
        bodies.give_back(reserved);
        bodies.forget(token);
    }

    /// Reads again from the connections whose bodies now have room, in the
    /// order they began. Called on every turn of the loop.
    pub(super) fn resume_bodies(&mut self) {
        let cap = self.opts.bounds.recv_cap;
        while let Some(t) = self.pacing.bodies().first() {
            let Some(c) = self.conns.get_mut(t) else {
                self.pacing.bodies().forget(t);
                continue;
            };
            if c.waits_on.is_some() {
                // Waits for a queue: asks again once read from (bounds.rs).
                c.body_wait = false;
                self.pacing.bodies().forget(t);
                continue;
            }
            let claim = c.decoder.big_claim().unwrap_or(0);
            if !self.pacing.bodies().fits(claim, cap) {
                return;
            }
            if let Some(c) = self.conns.get_mut(t) {
                c.body_wait = false;
            }
            // Gets its room (or waits again) as it is served.
            self.serve_conn(t, true);
            if self.pacing.bodies().first() == Some(t) {
                return; // still waiting
            }
        }
    }
}
