//! The tasks' shared-memory rings as the loop sees them (`crate::ring`):
//! which connections have rings, and which have frames waiting for room in
//! their task's ring. The loop looks at every ring on each turn and arms
//! them all before it sleeps.

use super::conn::Rings;
use super::log::dlog;
use super::server::Daemon;
use crate::os::SharedMap;
use crate::ring;
use mio::Token;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most tasks whose rings one daemon takes (each one is looked at on every
/// turn of the loop); later tasks use the socket alone.
pub(super) const MAX_RING_CONNS: usize = 64;

/// The connections whose task's rings were taken, and those with frames
/// waiting for room in their task's ring.
#[derive(Default)]
pub(super) struct RingConns {
    /// Connections whose task's rings were taken, and their memory.
    conns: Vec<(Token, Arc<SharedMap>)>,
    /// Connections with frames waiting for room in their task's ring.
    backlog: BTreeSet<Token>,
}

impl RingConns {
    /// Forgets the connection `token` (closed).
    pub(super) fn remove(&mut self, token: Token) {
        self.conns.retain(|(t, _)| *t != token);
        self.backlog.remove(&token);
    }
}

impl Daemon {
    /// Keeps the backlog set right for the connection `token`.
    pub(super) fn note_backlog(&mut self, token: Token) {
        let waits = self
            .conns
            .get(token)
            .and_then(|c| c.rings.as_ref())
            .is_some_and(|r| r.has_backlog());
        if waits {
            self.rings.backlog.insert(token);
        } else {
            self.rings.backlog.remove(&token);
        }
    }

    /// Takes the rings the task on `token` offered with its Connect request
    /// (`offered`), when there is room for them.
    pub(super) fn take_rings(&mut self, token: Token, offered: bool) {
        let room = self.rings.conns.len() < MAX_RING_CONNS;
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(fd) = conn.passed.take().filter(|_| offered && room) else {
            return;
        };
        match Rings::take(fd) {
            Ok(r) => {
                self.rings.conns.push((token, r.map.clone()));
                conn.rings = Some(r);
            }
            Err(e) => {
                dlog!(
                    self.log,
                    Warn,
                    "rings offered by pid {} refused: {e}",
                    conn.peer_pid
                );
            }
        }
    }

    /// The Connect reply to the task on `token` is queued: from now on its
    /// frames go through its ring, if it has one.
    pub(super) fn rings_live(&mut self, token: Token) {
        if let Some(r) = self.conns.get_mut(token).and_then(|c| c.rings.as_mut()) {
            r.live = true;
        }
    }

    /// Serves every connection with something in its ring, and those with
    /// frames waiting for room in theirs (no system call when none has).
    /// True when a ring had something (frames waiting for a task that does
    /// not read are not activity).
    pub(super) fn serve_rings(&mut self) -> bool {
        let due: Vec<Token> = self
            .rings
            .conns
            .iter()
            // A paused task's records wait (bounds.rs): not work now.
            .filter(|(t, m)| ring::pending(m, ring::Dir::ToDaemon) && !self.paused(*t))
            .map(|(t, _)| *t)
            .collect();
        let waiting: Vec<Token> = self
            .rings
            .backlog
            .iter()
            .filter(|t| !due.contains(t))
            .copied()
            .collect();
        for &t in due.iter().chain(&waiting) {
            self.serve_conn(t, false);
        }
        !due.is_empty()
    }

    /// Before sleeping: asks every task with rings to ring the socket.
    /// True: one put something in its ring meanwhile (do not sleep).
    pub(super) fn arm_rings(&self) -> bool {
        let mut came = false;
        for (t, m) in &self.rings.conns {
            // A paused task's records wait (bounds.rs): not a reason to wake.
            came |= ring::arm(m, ring::Dir::ToDaemon) && !self.paused(*t);
        }
        came
    }

    pub(super) fn disarm_rings(&self) {
        for (_, m) in &self.rings.conns {
            ring::disarm(m, ring::Dir::ToDaemon);
        }
    }
}
