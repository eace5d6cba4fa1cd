//! Children of the daemon: their output pipes, their exit (pidfd or polling)
//! and signals to them.

use super::log::dlog;
use super::server::{ChildProc, Daemon};
use super::task::TF_SPAWNED;
use crate::{os, tid};
use mio::unix::SourceFd;
use mio::Token;
use std::io::{self, Read};
use std::os::fd::AsRawFd;

impl Daemon {
    pub(super) fn read_pipe(&mut self, token: Token, finishing: bool) {
        let Some(pipe) = self.pipes.get_mut(&token) else {
            return;
        };
        let mut eof = false;
        loop {
            match pipe.rx.read(&mut self.buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => pipe.partial.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        let t = pipe.tid;
        let mut data = std::mem::take(&mut pipe.partial);
        if self.output.captured(t) {
            if let Some(note) = self.output.data(t, &data) {
                self.deliver(note);
            }
            data.clear();
        }
        let mut start = 0;
        let mut lines = Vec::new();
        while let Some(i) = data[start..].iter().position(|&b| b == b'\n') {
            lines.push(data[start..start + i].to_vec());
            start += i + 1;
        }
        let rest = data.split_off(start);
        if (eof || finishing) && !rest.is_empty() {
            lines.push(rest);
        } else if let Some(pipe) = self.pipes.get_mut(&token) {
            pipe.partial = rest;
        }
        self.task_lines(t, lines);
        if eof {
            if let Some(mut pipe) = self.pipes.remove(&token) {
                // The pipe is closed anyway; a failed deregister changes nothing.
                let _ = self.poll.registry().deregister(&mut pipe.rx);
            }
            if let Some(note) = self.output.pipe_closed(t) {
                self.deliver(note);
            }
        }
    }

    /// Reads what task `t`'s pipes hold now, so that its last output is
    /// passed on before it counts as gone.
    pub(super) fn drain_pipes_of(&mut self, t: i32) {
        let tokens: Vec<Token> = self
            .pipes
            .iter()
            .filter(|(_, p)| p.tid == t)
            .map(|(k, _)| *k)
            .collect();
        for k in tokens {
            self.read_pipe(k, false);
        }
    }

    pub(super) fn check_child(&mut self, token: Token) {
        let Some(c) = self.children.get_mut(&token) else {
            return;
        };
        let status = match os::reap_child(c.child.id() as i32) {
            Ok(None) => return,
            Ok(Some(s)) => Some(s),
            Err(_) => None,
        };
        if let Some(c) = self.children.remove(&token) {
            if let Some(fd) = c.pidfd.as_ref() {
                // The pidfd is closed right after; a failed deregister changes nothing.
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&fd.as_raw_fd()));
            }
            self.child_gone(c, status);
        }
    }

    pub(super) fn reap_unwatched(&mut self) {
        let mut i = 0;
        while i < self.unwatched.len() {
            let status = match os::reap_child(self.unwatched[i].child.id() as i32) {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(s)) => Some(s),
                Err(_) => None,
            };
            let c = self.unwatched.swap_remove(i);
            self.child_gone(c, status);
        }
    }

    /// Child `c` ended (`status`: its wait status and CPU times, None when
    /// it could not be reaped here).
    pub(super) fn child_gone(&mut self, c: ChildProc, status: Option<os::Reaped>) {
        let pid = c.child.id() as i32;
        if let Some(st) = status {
            self.rm_child_exited(c.tid, st.status);
            self.trace_reaped(c.tid, st);
        }
        dlog!(
            self.log,
            Debug,
            "task {} (pid {pid}) exited: {:?}",
            tid::fmt(c.tid),
            status
        );
        let ours = self
            .tasks
            .get(c.tid)
            .is_some_and(|t| t.flags & TF_SPAWNED != 0);
        if ours {
            if let Some(task) = self.tasks.remove(c.tid) {
                self.mbox.task_gone(c.tid);
                if !task.held.is_empty() {
                    dlog!(
                        self.log,
                        Info,
                        "{} message(s) for {} dropped: it exited unconnected",
                        task.held.len(),
                        tid::fmt(c.tid)
                    );
                }
                self.task_gone(c.tid);
            }
        }
        self.drain_pipes_of(c.tid);
    }

    pub(super) fn signal_children(&mut self, sig: i32) {
        for c in self.children.values().chain(self.unwatched.iter()) {
            os::kill(c.child.id() as i32, sig);
        }
    }

    // ---- notify and output ------------------------------------------------
}
