//! Children of the daemon: their output pipes, their exit (pidfd or polling)
//! and signals to them. [`Children`] is the component (private state); the
//! `impl Daemon` work below reads the pipes and acts on exits.

use super::log::dlog;
use super::server::Daemon;
use super::task::TF_SPAWNED;
use crate::{os, tid};
use mio::unix::pipe::Receiver;
use mio::unix::SourceFd;
use mio::Token;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, ExitStatus};

/// A spawned task's output pipe.
pub(super) struct Pipe {
    pub(super) tid: i32,
    pub(super) rx: Receiver,
    pub(super) partial: Vec<u8>,
}

/// A child process of the daemon.
pub(super) struct ChildProc {
    pub(super) tid: i32,
    pub(super) child: Child,
    pub(super) pidfd: Option<OwnedFd>,
}

/// The daemon's child processes and their output pipes, by poll token.
#[derive(Default)]
pub(super) struct Children {
    pipes: HashMap<Token, Pipe>,
    /// Children watched by a pidfd (keyed by the pidfd's token).
    watched: HashMap<Token, ChildProc>,
    /// Children without a pidfd, checked every REAP_INTERVAL.
    unwatched: Vec<ChildProc>,
}

impl Children {
    /// A task's output pipe, registered on `token`.
    pub fn add_pipe(&mut self, token: Token, p: Pipe) {
        self.pipes.insert(token, p);
    }

    /// A child, watched by its pidfd on `token` (None: no pidfd, polled).
    pub fn add(&mut self, token: Option<Token>, c: ChildProc) {
        match token {
            Some(t) => {
                self.watched.insert(t, c);
            }
            None => self.unwatched.push(c),
        }
    }

    pub fn is_pipe(&self, token: Token) -> bool {
        self.pipes.contains_key(&token)
    }

    pub fn is_watched(&self, token: Token) -> bool {
        self.watched.contains_key(&token)
    }

    /// Whether some child has no pidfd (the loop polls them).
    pub fn has_unwatched(&self) -> bool {
        !self.unwatched.is_empty()
    }

    /// Whether no child process runs.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty() && self.unwatched.is_empty()
    }

    /// How many child processes run.
    pub fn count(&self) -> usize {
        self.watched.len() + self.unwatched.len()
    }

    /// How many output pipes are open.
    pub fn pipe_count(&self) -> usize {
        self.pipes.len()
    }

    /// The descriptors held: pipes and pidfds.
    pub fn fds(&self) -> usize {
        self.pipes.len() + self.watched.len()
    }

    /// Whether a child process runs task `t`.
    pub fn runs(&self, t: i32) -> bool {
        self.watched
            .values()
            .chain(&self.unwatched)
            .any(|c| c.tid == t)
    }

    /// The tokens of every pipe, or of task `t`'s.
    pub fn pipe_tokens(&self, t: Option<i32>) -> Vec<Token> {
        let of = |p: &Pipe| t.is_none_or(|t| p.tid == t);
        (self.pipes.iter().filter(|(_, p)| of(p)))
            .map(|(k, _)| *k)
            .collect()
    }

    fn pipe_mut(&mut self, token: Token) -> Option<&mut Pipe> {
        self.pipes.get_mut(&token)
    }

    /// The child on pidfd `token` if it exited, taken out of the table
    /// (with its status, None when it could not be read).
    fn exited(&mut self, token: Token) -> Option<(ChildProc, Option<ExitStatus>)> {
        let c = self.watched.get_mut(&token)?;
        let status = match c.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(s)) => Some(s),
            Err(_) => None,
        };
        self.watched.remove(&token).map(|c| (c, status))
    }

    /// The children without a pidfd that exited, taken out of the table.
    fn exited_unwatched(&mut self) -> Vec<(ChildProc, Option<ExitStatus>)> {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < self.unwatched.len() {
            let status = match self.unwatched[i].child.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(s)) => Some(s),
                Err(_) => None,
            };
            gone.push((self.unwatched.swap_remove(i), status));
        }
        gone
    }

    /// Sends `sig` to every child.
    pub fn signal(&self, sig: i32) {
        for c in self.watched.values().chain(self.unwatched.iter()) {
            os::kill(c.child.id() as i32, sig);
        }
    }
}

impl Daemon {
    pub(super) fn read_pipe(&mut self, token: Token, finishing: bool) {
        let Some(pipe) = self.children.pipe_mut(token) else {
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
        } else if let Some(pipe) = self.children.pipe_mut(token) {
            pipe.partial = rest;
        }
        self.task_lines(t, lines);
        if eof {
            if let Some(mut pipe) = self.children.pipes.remove(&token) {
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
        for k in self.children.pipe_tokens(Some(t)) {
            self.read_pipe(k, false);
        }
    }

    pub(super) fn check_child(&mut self, token: Token) {
        if let Some((c, status)) = self.children.exited(token) {
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
        for (c, status) in self.children.exited_unwatched() {
            self.child_gone(c, status);
        }
    }

    pub(super) fn child_gone(&mut self, c: ChildProc, status: Option<ExitStatus>) {
        let pid = c.child.id() as i32;
        if let Some(st) = status {
            use std::os::unix::process::ExitStatusExt;
            self.rm_child_exited(c.tid, st.into_raw());
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
                self.held_refused(c.tid, task.held.refused, "it exited unconnected");
                self.task_gone(c.tid);
            }
        }
        self.drain_pipes_of(c.tid);
    }

    pub(super) fn signal_children(&mut self, sig: i32) {
        self.children.signal(sig);
    }

    // ---- notify and output ------------------------------------------------
}
