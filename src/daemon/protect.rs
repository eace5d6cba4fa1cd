//! What the daemon does when a protected link between hosts refuses a
//! frame (src/seal.rs; docs/HARDENING.md "Protected links"): nothing of the
//! refused record was delivered; the link ends with a log line saying why,
//! and the two daemons go on over a new link, opened at once. A slave does
//! not take this for the loss of its master, nor the master for the loss
//! of a host: a link refused on purpose is not a host gone.
//! (Part of the daemon's multi-host side; its state is
//! [`super::multi::Multi`].)

use super::multi::canon;
use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::tid;
use crate::wire::{ctl_frame, Ctl};
use mio::Token;
use std::time::Instant;

impl Daemon {
    /// Link `tok` refused a protected record: tell the peer (our side of
    /// the link is intact), let the link drain, and re-link.
    pub(super) fn link_refused(&mut self, tok: Token, why: &str) {
        if self.starting.start_of_link(tok).is_some() {
            // A host being started: its start fails as for any bad link.
            self.link_failed(tok, why);
            return;
        }
        let Some(link) = self.links.get_mut(tok) else {
            return;
        };
        let peer = link.peer;
        let host = tid::host_of(peer);
        let addr = canon(&link.peer_addr);
        dlog!(
            self.log,
            Warn,
            "link to {} at {addr} closed: {why}; nothing of it delivered, re-linking",
            tid::fmt(peer)
        );
        let held: Vec<Vec<u8>> = link.held.drain_all();
        if link.is_up() {
            // The new link waits until the peer closed this one (it does
            // on our Relink): until then it would refuse a second link.
            let bye = ctl_frame(self.me.dtid(), peer, Ctl::Relink, Vec::new());
            let _ = link.send_bytes(bye.to_bytes());
            link.drain();
            if self.links.of_host(host) == Some(tok) {
                self.links.unbind(host);
            }
            self.wait_for_link(host, held);
        } else {
            self.drop_link(tok);
            self.relink(host, held);
        }
    }

    /// A draining link ended (the peer closed it, or it went quiet): a new
    /// link to its host may be opened now.
    pub(super) fn drained(&mut self, tok: Token) {
        let host = self.links.get(tok).map(|l| tid::host_of(l.peer));
        self.drop_link(tok);
        if let Some(host) = host {
            self.relink(host, Vec::new());
        }
    }

    /// Whether a link to `host` may be opened now: not while a link to it
    /// drains, and a slave never opens one to its master (the master
    /// re-links, so the two never race for the one link of the pair).
    pub(super) fn may_link(&self, host: i32) -> bool {
        if !self.multi.is_master() && host == self.multi.master_host() {
            return false;
        }
        !self
            .links
            .iter()
            .any(|(_, l)| l.is_draining() && tid::host_of(l.peer) == host)
    }

    /// The peer refused a frame of ours on link `tok` and ends the link
    /// (Ctl Relink): close it and go on over a new one.
    pub(super) fn relink_asked(&mut self, tok: Token, peer: i32) {
        let Some(link) = self.links.get_mut(tok) else {
            return;
        };
        let addr = canon(&link.peer_addr);
        dlog!(
            self.log,
            Warn,
            "link to {} at {addr} closed by the peer: it refused a protected frame of ours; re-linking",
            tid::fmt(peer)
        );
        let held: Vec<Vec<u8>> = link.held.drain_all();
        self.drop_link(tok);
        self.relink(tid::host_of(peer), held);
    }

    /// `held` frames wait for the next link to `host` (opened lazily, see
    /// [`Daemon::may_link`]).
    fn wait_for_link(&mut self, host: i32, held: Vec<Vec<u8>>) {
        if held.is_empty() || !self.multi.table().contains(host) {
            return;
        }
        self.links.hold(host, held, Instant::now());
    }

    /// Opens a new link to `host` now when we may (a heartbeat goes on it
    /// first), `held` frames behind it, unless the host left the machine.
    fn relink(&mut self, host: i32, held: Vec<Vec<u8>>) {
        if !self.multi.table().contains(host) || host == self.me.host() {
            return;
        }
        self.wait_for_link(host, held);
        if self.may_link(host) || self.links.of_host(host).is_some() {
            let beat = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(host),
                Ctl::Heartbeat,
                Vec::new(),
            );
            self.send_to_host(host, beat.to_bytes());
        }
    }
}
