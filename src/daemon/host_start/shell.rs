//! Starting a slave with the remote shell (`$PVM_RSH`, ssh by default):
//! the command runs off the loop (work.rs), its stdout joins the loop, the
//! slave's reply line is read from it and the master connects to the slave
//! (docs/PROTOCOL.md "Slave startup"). The launcher's step (step.rs) uses
//! the same reply lines and connection.

use super::super::multi::{canon, order_addrs, with_port, Shell};
use super::super::server::Daemon;
use super::work::Job;
use crate::daemon::log::dlog;
use crate::daemon::startup;
use crate::{tid, Error};
use mio::unix::pipe::Receiver;
use mio::{Interest, Token};
use std::io::{self, Read};
use std::process::{Child, Command};
use std::time::Instant;

impl Daemon {
    /// Runs the remote shell of start `id` (its `shell`), with `password`
    /// for ssh's askpass when the user typed one (so=pw).
    pub(in crate::daemon) fn spawn_shell(
        &mut self,
        id: u64,
        password: Option<String>,
    ) -> Result<(), Error> {
        let Some(sh) = self
            .starting
            .starts
            .get_mut(&id)
            .and_then(|st| st.shell.take())
        else {
            return Err(Error::CantStart);
        };
        let name = self.starting.starts[&id].name.clone();
        let Shell { reach, lo, cmd } = sh;
        let mut c = Command::new(&self.opts.rsh);
        c.args(crate::launch::ssh::options(
            &self.opts.rsh,
            std::env::var(crate::launch::ssh::ENV_KEX).ok().as_deref(),
        ));
        if let Some(lo) = &lo {
            c.arg("-l").arg(lo);
        }
        c.arg(&reach).arg(&cmd);
        if let Some(pw) = password {
            let askpass = self.opts.files.dir.join("askpass");
            let script = "#!/bin/sh\nprintf '%s\\n' \"$PVM6_PASSWORD\"\n";
            if let Err(err) = crate::os::write_private(&askpass, script).and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))
            }) {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't write {}: {err}",
                    askpass.display()
                );
                return Err(Error::CantStart);
            }
            // ssh asks the helper, which prints the password from its
            // environment (readable by this user only), never a file.
            c.env("SSH_ASKPASS", &askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("PVM6_PASSWORD", pw);
        }
        self.launcher_stdio(&mut c);
        dlog!(
            self.log,
            Debug,
            "add {name}: {} {reach} {cmd}",
            self.opts.rsh
        );
        // fork/exec and the secret's write happen on a worker thread
        // (work.rs); the child comes back in `spawned`.
        let job = Job::Spawn {
            id,
            cmd: Box::new(c),
            input: format!("{}\n", self.multi.secret().to_hex()),
        };
        if let Err(err) = self.submit_work(job) {
            dlog!(
                self.log,
                Warn,
                "add {name}: can't run {}: {err}",
                self.opts.rsh
            );
            return Err(Error::CantStart);
        }
        Ok(())
    }

    /// A remote shell (or a launcher's step) was started off the loop: its
    /// stdout joins the loop, or the start fails.
    pub(super) fn spawned(&mut self, id: u64, res: std::io::Result<Child>) {
        if self.starting.steps.contains_key(&id) {
            self.step_spawned(id, res);
            return;
        }
        if self.starting.tree.is_relay(id) {
            self.relay_spawned(id, res);
            return;
        }
        let Some(st) = self.starting.starts.get(&id) else {
            // The start ended meanwhile (deadline, halt): its shell goes too.
            if let Ok(mut ch) = res {
                let _ = ch.kill();
                self.starting.reap.push(ch);
            }
            return;
        };
        let name = st.name.clone();
        let mut child = match res {
            Ok(ch) => ch,
            Err(err) => {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't run {}: {err}",
                    self.opts.rsh
                );
                self.start_done(id, Err(Error::CantStart));
                return;
            }
        };
        if let Some(out) = child.stdout.take() {
            if let Some(tok) = self.watch_pipe(out) {
                if let Some(st) = self.starting.starts.get_mut(&id) {
                    st.pipe = Some(tok);
                }
                self.starting.pipe_start.insert(tok, id);
            }
        }
        if let Some(st) = self.starting.starts.get_mut(&id) {
            st.child = Some(child);
        }
    }

    /// Registers a child's stdout with the loop (non-blocking, readable);
    /// its token, the pipe kept in `start_pipes`.
    pub(super) fn watch_pipe(&mut self, out: std::process::ChildStdout) -> Option<Token> {
        let mut rx = Receiver::from(out);
        let tok = self.token();
        if rx.set_nonblocking(true).is_ok()
            && self
                .poll
                .registry()
                .register(&mut rx, tok, Interest::READABLE)
                .is_ok()
        {
            self.starting.start_pipes.insert(tok, rx);
            Some(tok)
        } else {
            None
        }
    }

    /// The remote shell's stdout of a start is readable.
    pub(in crate::daemon) fn start_pipe_event(&mut self, tok: Token) {
        if self.starting.step_pipes.contains_key(&tok) {
            self.step_pipe_event(tok);
            return;
        }
        if self.starting.tree.is_relay_pipe(tok) {
            self.relay_pipe_event(tok);
            return;
        }
        let Some(&id) = self.starting.pipe_start.get(&tok) else {
            return;
        };
        let (data, eof) = self.read_pipe_now(tok);
        let line = {
            let Some(st) = self.starting.starts.get_mut(&id) else {
                self.close_start_pipe(tok);
                return;
            };
            st.partial.extend_from_slice(&data);
            if st.reply.is_some() {
                None
            } else {
                st.partial.iter().position(|&b| b == b'\n').map(|i| {
                    let l = String::from_utf8_lossy(&st.partial[..i]).trim().to_string();
                    st.partial.drain(..=i);
                    l
                })
            }
        };
        if let Some(l) = line {
            self.start_line(id, &l);
        }
        if eof {
            self.close_start_pipe(tok);
            let no_reply = self
                .starting
                .starts
                .get(&id)
                .is_some_and(|s| s.reply.is_none());
            if no_reply {
                let name = self.starting.starts[&id].name.clone();
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: the remote shell ended without the slave's reply line"
                );
                self.start_done(id, Err(Error::CantStart));
            }
        }
    }

    /// What a start pipe holds now, and whether it reached its end.
    pub(super) fn read_pipe_now(&mut self, tok: Token) -> (Vec<u8>, bool) {
        let mut eof = false;
        let mut data = Vec::new();
        if let Some(rx) = self.starting.start_pipes.get_mut(&tok) {
            let mut buf = [0u8; 4096];
            loop {
                match rx.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        (data, eof)
    }

    pub(super) fn close_start_pipe(&mut self, tok: Token) {
        self.starting.pipe_start.remove(&tok);
        if let Some(mut rx) = self.starting.start_pipes.remove(&tok) {
            let _ = self.poll.registry().deregister(&mut rx);
        }
    }

    /// The slave's reply line arrived: connect to it.
    pub(in crate::daemon) fn start_line(&mut self, id: u64, line: &str) {
        // The remote shell's work is done: its starter may take another.
        self.tree_release(id);
        let Some(st) = self.starting.starts.get_mut(&id) else {
            return;
        };
        let name = st.name.clone();
        match startup::parse_reply(line) {
            Ok(reply) => {
                st.candidates = order_addrs(
                    &st.ips
                        .iter()
                        .map(|a| with_port(*a, reply.port))
                        .collect::<Vec<_>>(),
                );
                st.reply = Some(reply);
                dlog!(self.log, Debug, "add {name}: slave says \"{line}\"");
                self.starting.replied.insert(id, std::time::Instant::now());
                self.start_connect(id);
            }
            Err(e) => {
                dlog!(self.log, Warn, "add {name}: {e}");
                if e.contains("already runs") {
                    self.starting.occupied.insert(id);
                }
                self.start_done(id, Err(Error::CantStart));
            }
        }
    }

    /// Connects to the next candidate address of a start.
    pub(in crate::daemon) fn start_connect(&mut self, id: u64) {
        loop {
            let Some(st) = self.starting.starts.get_mut(&id) else {
                return;
            };
            let Some(a) = st.candidates.pop_front() else {
                let name = st.name.clone();
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't connect to its daemon at any address"
                );
                self.start_done(id, Err(Error::CantStart));
                return;
            };
            let index = st.index;
            let deadline = st.deadline;
            match self.connect_link(a, tid::host_tid(index), deadline) {
                Ok(tok) => {
                    self.starting.link_start.insert(tok, id);
                    if let Some(st) = self.starting.starts.get_mut(&id) {
                        st.link = Some(tok);
                    }
                    return;
                }
                Err(e) => dlog!(self.log, Info, "connect to {}: {e}", canon(&a)),
            }
        }
    }

    /// The machine's tick for starts: those past their deadline fail;
    /// manual starts whose reply file appeared go on.
    pub(in crate::daemon) fn starts_tick(&mut self, now: Instant) {
        self.starts_again(now);
        let late: Vec<u64> = self
            .starting
            .lookups
            .iter()
            .filter(|(_, l)| now > l.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(l) = self.starting.lookups.remove(&id) {
                dlog!(
                    self.log,
                    Warn,
                    "add {}: its name's lookup did not end within the deadline",
                    l.entry.name
                );
                self.group_result(l.group, l.slot, Err(Error::CantStart));
                self.lookups_settled(l.group);
            }
        }
        let ids: Vec<u64> = self.starting.starts.keys().copied().collect();
        for id in ids {
            let Some(st) = self.starting.starts.get(&id) else {
                continue;
            };
            if now > st.deadline {
                let name = st.name.clone();
                dlog!(self.log, Warn, "add {name}: no answer within the deadline");
                self.start_done(id, Err(Error::CantStart));
                continue;
            }
            if let (Some(f), None) = (st.manual.clone(), st.reply.as_ref()) {
                if let Ok(text) = std::fs::read_to_string(&f) {
                    if let Some(line) = text.lines().next().filter(|_| text.ends_with('\n')) {
                        let line = line.to_string();
                        self.start_line(id, &line);
                    }
                }
            }
        }
    }
}
