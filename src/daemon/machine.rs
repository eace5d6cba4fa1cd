//! The machine as a whole: applying a pushed host table, a host's removal, the
//! table as pvm_config and pvm_mstat see it, the heartbeat tick (liveness,
//! timeouts, retries) and halting the slaves.
//! (Part of the daemon's multi-host side; its state is
//! [`super::multi::Multi`].)

use super::links::Tick;
use super::server::Daemon;
use crate::daemon::hosts::HostTable;
use crate::daemon::log::dlog;
use crate::net::addr::HostName;
use crate::tid;
use crate::wire::{ctl_frame, Ctl, Writer};
use mio::Token;
use std::net::IpAddr;
use std::time::Instant;

impl Daemon {
    /// Slave: the master's new table; hosts gone are removed here too.
    pub(super) fn apply_table(&mut self, t: HostTable) {
        let new: Vec<i32> = t.hosts.iter().map(|h| h.host()).collect();
        let timeout = t.timeout;
        let Some(old) = self.multi.adopt_table(t) else {
            return;
        };
        if timeout > 0 {
            self.set_host_timeout(timeout);
        }
        for h in old.iter().filter(|h| !new.contains(h)) {
            self.host_gone(*h);
        }
        let added: Vec<i32> = new
            .iter()
            .filter(|h| !old.contains(h))
            .map(|h| tid::daemon_tid(*h))
            .collect();
        if !added.is_empty() {
            self.notify_host_add(&added);
        }
    }

    /// Master: host `host` leaves the machine (failed or deleted).
    pub(super) fn remove_host(&mut self, host: i32, why: &str) {
        if self.multi.remove_host(host).is_none() {
            return;
        }
        dlog!(self.log, Info, "host {} removed: {why}", tid::fmt(host));
        self.push_table(None);
        self.host_gone(host);
        // The successor may have changed, and its copy with the host gone.
        self.replicate(false);
    }

    /// Every daemon: host `host` is no longer in the machine.
    pub(super) fn host_gone(&mut self, host: i32) {
        self.rm_host_gone(host);
        self.trace_host_gone(host);
        self.feeds_host_gone(host);
        if let Some(tok) = self.links.unbind(host) {
            self.drop_link(tok);
        }
        if self.multi.is_master() {
            // Its tasks leave their groups (a barrier waiting on them fails)
            // and their mailbox entries go.
            self.groups_host_gone(host);
            self.mbox.host_gone(host);
            self.answered_host_gone(host);
        }
        if let Some(frames) = self.links.take_waiting(host) {
            dlog!(
                self.log,
                Info,
                "{} frame(s) for {} dropped",
                frames.len(),
                tid::fmt(host)
            );
        }
        self.forwards_host_gone(host);
        let dtid = tid::daemon_tid(host);
        self.notify_host_delete(dtid);
        for t in self.notify.exit_targets_on(host) {
            let notes = self.notify.task_exited(t);
            self.deliver_all(notes);
        }
    }

    // ---- heartbeat and deadlines -------------------------------------------

    /// Heartbeats, dead links, start deadlines, lazy-link retries.
    pub(super) fn multi_tick(&mut self) {
        let now = Instant::now();
        let Some(Tick {
            beats,
            dead,
            suspected,
            resumed,
            expired,
            retry,
            stalled,
        }) = self.links.tick(now)
        else {
            return;
        };
        if let Some(gap) = stalled {
            self.stalled_out(gap);
            return;
        }
        for peer in suspected {
            dlog!(
                self.log,
                Warn,
                "host {} suspected: silent for 3 s (dead after {} s)",
                tid::fmt(peer),
                self.links.dead_after().as_secs()
            );
        }
        for (peer, silent) in resumed {
            dlog!(
                self.log,
                Info,
                "host {} answers again after {:.1} s of silence",
                tid::fmt(peer),
                silent.as_secs_f64()
            );
            self.forwards_resumed(tid::host_of(peer), now);
        }
        for (tok, peer) in beats {
            let f = ctl_frame(self.me.dtid(), peer, Ctl::Heartbeat, Vec::new());
            self.send_link(tok, f.to_bytes());
        }
        for (tok, why) in dead {
            self.link_failed(tok, &why);
        }
        self.succession_tick(now);
        self.feeds_tick(now);
        self.forwards_tick(now);
        self.starts_tick(now);
        // Lazy links: retry or give up.
        for (h, n) in expired {
            dlog!(
                self.log,
                Warn,
                "no link to {}: {n} frame(s) dropped",
                tid::fmt(h)
            );
        }
        for h in retry {
            if let Some(e) = self.multi.table().by_tid(h).cloned() {
                self.try_link(&e);
            }
        }
        self.starting.reap_exited();
        if self.multi.master_overdue(now) {
            dlog!(self.log, Warn, "the master never connected; exiting");
            self.halt_now("no master");
        }
    }

    /// Whether the loop needs its tick (links, a slave waiting for its
    /// master or for a successor's claim, hosts being started).
    pub(super) fn ticking(&self) -> bool {
        self.links.active()
            || self.multi.active()
            || self.succession_pending()
            || self.starting.active()
    }

    /// This daemon did not run for `gap` (stopped, swapped out), about as
    /// long as the host timeout: the machine has gone on without it (a
    /// successor took the master's place, or the master removed this
    /// host). It halts its tasks and exits without telling anyone.
    pub(super) fn stalled_out(&mut self, gap: std::time::Duration) {
        if self.is_halting() {
            return;
        }
        dlog!(
            self.log,
            Warn,
            "this daemon did not run for {:.1} s (host timeout {} s): the machine has gone on \
             without it; killing tasks, exiting",
            gap.as_secs_f64(),
            self.links.dead_after().as_secs()
        );
        self.multi.resign();
        self.halt_now("a stall longer than the host timeout");
    }

    /// Stops this daemon (tasks killed) without a requester.
    pub(super) fn halt_now(&mut self, who: &str) {
        self.begin_halt(Token(usize::MAX), who);
    }

    /// The host fields of every other host of the machine.
    pub(super) fn other_hosts(&self) -> Vec<i32> {
        self.multi
            .table()
            .hosts
            .iter()
            .map(|h| h.host())
            .filter(|&h| h != self.me.host())
            .collect()
    }

    /// Master halting: every slave is told to stop too.
    pub(super) fn halt_slaves(&mut self) {
        if !self.multi.is_master() {
            return;
        }
        for h in self.other_hosts() {
            let f = ctl_frame(self.me.dtid(), tid::daemon_tid(h), Ctl::Halt, Vec::new());
            self.send_to_host(h, f.to_bytes());
        }
        self.starting.kill_shells();
    }

    /// Writes what links still hold (at exit).
    pub(super) fn flush_links(&mut self) {
        self.links.flush_all();
        self.starting.reap_exited();
    }

    // ---- routing ----------------------------------------------------------

    /// Config: the host table.
    pub(super) fn config_body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let hosts = &self.multi.table().hosts;
        let mut archs: Vec<&str> = hosts.iter().map(|h| h.arch.as_str()).collect();
        archs.sort();
        archs.dedup();
        w.int(hosts.len() as i32).int(archs.len() as i32);
        for h in hosts {
            w.int(h.host())
                .str(&h.name)
                .str(&h.arch)
                .int(h.speed)
                .int(h.dsig);
        }
        // After the hosts (pvm_config reads no further): the host timeout
        // and the hosts this daemon suspects, with how long they are silent.
        let now = Instant::now();
        let suspects: Vec<(i32, u32)> = hosts
            .iter()
            .filter_map(|h| {
                let since = self.links.suspected(h.dtid())?;
                Some((h.dtid(), now.duration_since(since).as_secs() as u32))
            })
            .collect();
        w.int(self.links.dead_after().as_secs() as i32)
            .int(suspects.len() as i32);
        for (t, secs) in suspects {
            w.int(t).int(secs as i32);
        }
        w.finish()
    }

    /// Mstat: whether `name` is a host of the machine.
    pub(super) fn host_known(&self, name: &str) -> bool {
        self.is_local_name(name) || self.host_by_name(name).is_some()
    }

    /// The host part of the host `name` denotes (name as added, an
    /// address of it, or this host's names).
    pub(super) fn host_by_name(&self, name: &str) -> Option<i32> {
        if self.is_local_name(name) {
            return Some(self.me.host());
        }
        if let Some(e) = self.multi.table().by_name(name) {
            return Some(e.host());
        }
        let ip = HostName::parse(name.trim()).ok().and_then(|h| match h {
            HostName::V4(a) => Some(IpAddr::V4(a)),
            HostName::V6 { addr, .. } => Some(IpAddr::V6(addr)),
            HostName::Name(_) => None,
        })?;
        self.multi
            .table()
            .hosts
            .iter()
            .find(|e| {
                e.addrs
                    .iter()
                    .any(|a| a.ip().to_canonical() == ip.to_canonical())
            })
            .map(|e| e.host())
    }
}
