//! Waiting for input on sockets and shared rings: spin on the rings (and a
//! poll without timeout) for the spin budget, then sleep in poll with the
//! writers asked to ring the sockets. Used by the reader ([`super::reader`])
//! and by a link's writer waiting for room ([`super::link`]).

use super::conn::Conn;
use std::time::{Duration, Instant};

/// `poll_many`, but first polling without a timeout for up to the spin
/// budget (bounded: an idle reader sleeps after it, using no CPU). With
/// `conn` (its socket first in `set`), a record in its ring from the daemon
/// counts as that socket being readable, and so does a record in the ring
/// of each of `rings` (a link's ring of small frames, read in direction
/// `dir`: the index of the link's socket in `set`, and the ring); both are looked for without a
/// system call, and before sleeping the writers are asked to ring the
/// sockets. With `ring_only` (everything that comes comes through those
/// rings) most turns look only at memory. Returns what is ready and
/// whether it was a poll that said so (false: only rings were looked at).
pub(super) fn spin_then_poll(
    set: &[(std::os::fd::BorrowedFd<'_>, crate::os::Ready)],
    timeout: Option<Duration>,
    conn: Option<&Conn>,
    rings: &[(usize, &crate::os::SharedMap)],
    dir: crate::ring::Dir,
    ring_only: bool,
) -> std::io::Result<(Vec<crate::os::Ready>, bool)> {
    use crate::os::{poll_many, Ready};
    use crate::ring;
    // What the rings hold now, as readiness of their sockets (None: nothing).
    let ring_ready = || {
        let mut r: Option<Vec<Ready>> = None;
        let mut mark =
            |i: usize| r.get_or_insert_with(|| vec![Ready::default(); set.len()])[i].read = true;
        if conn.is_some_and(Conn::has_input) {
            mark(0);
        }
        for (i, m) in rings {
            if ring::pending(m, dir) {
                mark(*i);
            }
        }
        r
    };
    // A poll's answer, with what the rings hold besides.
    let with_rings = |mut ready: Vec<Ready>| {
        if let Some(r) = ring_ready() {
            for (a, b) in ready.iter_mut().zip(r) {
                a.read |= b.read;
            }
        }
        ready
    };
    let sleep = |t: Option<Duration>| -> std::io::Result<(Vec<Ready>, bool)> {
        if t.is_some_and(|t| t.is_zero()) {
            return poll_many(set, t).map(|r| (with_rings(r), true));
        }
        let mut came = conn.is_some_and(Conn::arm);
        for (_, m) in rings {
            came |= ring::arm(m, dir);
        }
        let r = match came {
            true => None,
            false => Some(poll_many(set, t)),
        };
        if let Some(c) = conn {
            c.disarm();
        }
        for (_, m) in rings {
            ring::disarm(m, dir);
        }
        match r {
            Some(r) => r.map(|r| (with_rings(r), true)),
            None => Ok((
                ring_ready().unwrap_or_else(|| vec![Ready::default(); set.len()]),
                false,
            )),
        }
    };
    let spin = crate::os::spin_budget();
    if timeout.is_some_and(|t| t.is_zero()) || !crate::os::spin_allowed() {
        if let Some(r) = ring_ready() {
            return Ok((r, false));
        }
        return sleep(timeout);
    }
    let start = Instant::now();
    let deadline = timeout.map(|t| start + t);
    let until = start + timeout.map_or(spin, |t| t.min(spin));
    let mut turn = 0u32;
    loop {
        if let Some(r) = ring_ready() {
            return Ok((r, false));
        }
        if !ring_only || turn.is_multiple_of(8) {
            let ready = poll_many(set, Some(Duration::ZERO))?;
            if ready.iter().any(|r| r.read || r.write) {
                return Ok((with_rings(ready), true));
            }
            if let Some(r) = ring_ready() {
                return Ok((r, false));
            }
        }
        turn = turn.wrapping_add(1);
        let now = Instant::now();
        if now >= until {
            return sleep(deadline.map(|d| d.saturating_duration_since(now)));
        }
        // Yielding lets a peer that was woken on this CPU answer at once.
        if !crate::os::spin_pause() {
            return sleep(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        }
    }
}
