//! The machine at start: a master starts its hostfile's hosts (or those of
//! the batch job's allocation, step.rs) before it serves tasks; a slave
//! waits for its master.

use super::super::server::Daemon;
use crate::daemon::log::dlog;
use mio::Interest;

impl Daemon {
    /// Called once when the loop starts: a master starts its hostfile's
    /// hosts (holding back local tasks until they are in), a slave waits
    /// for its master.
    pub(in crate::daemon) fn multi_start(&mut self) {
        if self.multi.is_master() {
            self.alloc_machine();
        }
        let hf = self.starting.known.clone();
        let mut lines = Vec::new();
        for e in &hf.hosts {
            if self.is_local_name(&e.name) {
                // The master's own line: its options apply to this daemon.
                if let Some(ep) = &e.opts.ep {
                    self.opts.search_path = crate::daemon::split_path(ep, &self.opts.home);
                }
                if let Some(to) = e.opts.to.filter(|_| !self.opts.host_timeout_arg) {
                    self.set_host_timeout(to);
                }
                if let Some(sp) = e.opts.sp {
                    self.opts.speed = sp;
                    self.multi.set_own_speed(self.me.host(), sp);
                }
                // wd= and bx= as a slave applies them (DaemonOptions::apply_slave):
                // tasks start in wd (relative to $HOME), PvmTaskDebug runs bx.
                if let Some(wd) = &e.opts.wd {
                    self.opts.home = self.opts.home.join(wd);
                }
                if let Some(bx) = &e.opts.bx {
                    self.opts.debugger = Some(std::path::PathBuf::from(bx));
                }
                continue;
            }
            if !e.no_start {
                lines.push(e.clone());
            }
        }
        if lines.is_empty() {
            self.open_unix();
            return;
        }
        dlog!(
            self.log,
            Info,
            "starting {} host(s) of the hostfile",
            lines.len()
        );
        let parsed = lines.into_iter().map(Ok).collect();
        self.add_hosts(None, 0, None, parsed);
    }

    pub(in crate::daemon) fn open_unix(&mut self) {
        if self.unix_open {
            return;
        }
        match self.poll.registry().register(
            &mut self.unix,
            crate::daemon::server::UNIX_LISTENER,
            Interest::READABLE,
        ) {
            Ok(()) => self.unix_open = true,
            Err(e) => dlog!(self.log, Error, "can't watch the task socket: {e}"),
        }
        // Connections that queued meanwhile are waiting in the backlog.
        self.accept_unix();
    }

    // ---- adding hosts -----------------------------------------------------
}
