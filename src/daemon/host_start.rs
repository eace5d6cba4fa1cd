//! The host table's growth: starting slaves (ssh/rsh or a hoster, the manual
//! and password dialogs, the reply line), adding them to the machine and
//! deleting hosts (pvm_addhosts, pvm_delhosts).
//! (Part of the daemon's multi-host side.) Its state is [`HostStarts`], a
//! field of the daemon whose fields only this file reaches; the links,
//! the loop and the machine's tick ask it through its methods.

use super::multi::{
    canon, login_name, order_addrs, own_pvmd3, with_port, AddGroup, Shell, Start, MANUAL_TIMEOUT,
};
use super::rm::AddAck;
use super::server::Daemon;
use crate::daemon::hosts::HostEntry;
use crate::daemon::log::dlog;
use crate::daemon::startup::{self, SlaveArgs};
use crate::hostfile;
use crate::net::addr::{self, HostName};
use crate::wire::{ctl_frame, Ctl, Reader, Req, Writer};
use crate::{tid, Error};
use mio::unix::pipe::Receiver;
use mio::{Interest, Token};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Slaves being started and the AddHosts requests they answer. Its fields
/// are private to this file.
pub(super) struct HostStarts {
    /// `&` hosts of the hostfile, and its defaults for later additions.
    known: hostfile::Hostfile,
    /// The daemon executable to run on other hosts.
    dx: String,
    /// The starts in progress, by start id.
    starts: HashMap<u64, Start>,
    /// The remote shells' stdout pipes to their start id.
    pipe_start: HashMap<Token, u64>,
    /// The remote shells' stdout pipes, by token.
    start_pipes: HashMap<Token, Receiver>,
    /// Links of slaves being started (not in the link table's `by_host`
    /// yet), to their start id.
    link_start: HashMap<Token, u64>,
    /// The AddHosts requests (or the hostfile at start) in progress.
    groups: HashMap<u64, AddGroup>,
    /// Children (remote shells) to reap.
    reap: Vec<Child>,
}

impl HostStarts {
    /// The state for a daemon with `opts`.
    pub(super) fn new(opts: &super::DaemonOptions) -> HostStarts {
        HostStarts {
            known: opts.hostfile.clone().unwrap_or_default(),
            dx: own_pvmd3(),
            starts: HashMap::new(),
            pipe_start: HashMap::new(),
            start_pipes: HashMap::new(),
            link_start: HashMap::new(),
            groups: HashMap::new(),
            reap: Vec::new(),
        }
    }

    /// Whether the loop needs its tick for starts or shells to reap.
    pub(super) fn active(&self) -> bool {
        !self.starts.is_empty() || !self.reap.is_empty()
    }

    /// Whether start `id` is still in progress.
    pub(super) fn start_waits(&self, id: u64) -> bool {
        self.starts.contains_key(&id)
    }

    /// Whether `t` is a remote shell's stdout pipe.
    pub(super) fn is_start_pipe(&self, t: Token) -> bool {
        self.pipe_start.contains_key(&t)
    }

    /// The start whose link is `tok`, if it is one.
    pub(super) fn start_of_link(&self, tok: Token) -> Option<u64> {
        self.link_start.get(&tok).copied()
    }

    /// Link `tok` closed: if it was a start's, that start has no link now;
    /// returns the start.
    pub(super) fn link_closed(&mut self, tok: Token) -> Option<u64> {
        let id = self.link_start.remove(&tok)?;
        if let Some(st) = self.starts.get_mut(&id) {
            st.link = None;
        }
        Some(id)
    }

    /// Kills the remote shells of the starts in progress (halt).
    pub(super) fn kill_shells(&mut self) {
        for st in self.starts.values_mut() {
            if let Some(c) = st.child.as_mut() {
                let _ = c.kill();
            }
        }
    }

    /// Reaps the remote shells that exited.
    pub(super) fn reap_exited(&mut self) {
        self.reap.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}

impl Daemon {
    /// The machine's tick for starts: those past their deadline fail;
    /// manual starts whose reply file appeared go on.
    pub(super) fn starts_tick(&mut self, now: Instant) {
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

    /// Called once when the loop starts: a master starts its hostfile's
    /// hosts (holding back local tasks until they are in), a slave waits
    /// for its master.
    pub(super) fn multi_start(&mut self) {
        let hf = self.starting.known.clone();
        let mut lines = Vec::new();
        for e in &hf.hosts {
            if self.is_local_name(&e.name) {
                // The master's own line: its options apply to this daemon.
                if let Some(ep) = &e.opts.ep {
                    self.opts.search_path = super::split_path(ep, &self.opts.home);
                }
                if let Some(sp) = e.opts.sp {
                    self.opts.speed = sp;
                    if let Some(me) = self.multi.table.hosts.first_mut() {
                        me.speed = sp;
                    }
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

    pub(super) fn open_unix(&mut self) {
        if self.multi.unix_open {
            return;
        }
        match self.poll.registry().register(
            &mut self.unix,
            super::server::UNIX_LISTENER,
            Interest::READABLE,
        ) {
            Ok(()) => self.multi.unix_open = true,
            Err(e) => dlog!(self.log, Error, "can't watch the task socket: {e}"),
        }
        // Connections that queued meanwhile are waiting in the backlog.
        self.accept_unix();
    }

    // ---- adding hosts -----------------------------------------------------

    /// AddHosts (master): host lines in hostfile syntax.
    pub(super) fn req_add_hosts(
        &mut self,
        token: Token,
        wid: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master {
            return Err(Error::NotImpl);
        }
        // As PvmAlready in man pvm_addhosts: another task is adding hosts.
        // (A single task's pvm_addhosts blocks, so a second one in progress
        // is another task's or another thread's; the hostfile's own start
        // at boot has no token and ends before tasks are served.)
        if self.adding_hosts() {
            dlog!(
                self.log,
                Info,
                "addhosts refused: another add is in progress"
            );
            return Err(Error::Already);
        }
        let lines = r.strs()?;
        if lines.is_empty() {
            return Err(Error::BadParam);
        }
        let parsed: Vec<Result<hostfile::HostEntry, Error>> = lines
            .iter()
            .map(|l| match hostfile::parse_line(l) {
                Ok(Some(e)) => {
                    let e = match self.starting.known.find(&e.name) {
                        // A host known from the hostfile (`&`) keeps its options.
                        Some(k) if e.opts.is_empty() => k.clone(),
                        _ => hostfile::HostEntry {
                            opts: e.opts.merged_over(&self.starting.known.defaults),
                            ..e
                        },
                    };
                    Ok(e.expand(|n| std::env::var(n).ok()))
                }
                Ok(None) => Err(Error::BadParam),
                Err(err) => {
                    dlog!(self.log, Info, "addhosts: {err}");
                    Err(Error::BadParam)
                }
            })
            .collect();
        self.add_hosts(Some(token), wid, None, parsed);
        self.multi.deferred = true;
        Ok(Vec::new())
    }

    /// Whether a task's pvm_addhosts or the resource manager's `SM_ADD` is
    /// in progress (the hostfile's own adds at boot do not count).
    pub(super) fn adding_hosts(&self) -> bool {
        self.starting
            .groups
            .values()
            .any(|g| g.token.is_some() || g.rm.is_some())
    }

    /// Master: the hosts named in the resource manager's `SM_ADD`; the
    /// answer goes to `ack` (rm.rs `rm_add_done`).
    pub(super) fn add_hosts_for_rm(&mut self, ack: AddAck, names: &[String]) {
        let parsed = names
            .iter()
            .map(|n| match hostfile::parse_line(n) {
                Ok(Some(e)) => Ok(hostfile::HostEntry {
                    opts: e.opts.merged_over(&self.starting.known.defaults),
                    ..e
                }
                .expand(|v| std::env::var(v).ok())),
                _ => Err(Error::BadParam),
            })
            .collect();
        self.add_hosts(None, 0, Some(ack), parsed);
    }

    pub(super) fn add_hosts(
        &mut self,
        token: Option<Token>,
        wid: i32,
        rm: Option<AddAck>,
        hosts: Vec<Result<hostfile::HostEntry, Error>>,
    ) {
        let gid = self.multi.id();
        self.starting.groups.insert(
            gid,
            AddGroup {
                token,
                wid,
                rm,
                results: vec![None; hosts.len()],
            },
        );
        let mut taken: Vec<String> = Vec::new();
        for (slot, h) in hosts.into_iter().enumerate() {
            let res = match h {
                Err(e) => Err(e),
                Ok(e) => {
                    let key = e.name.to_ascii_lowercase();
                    if taken.contains(&key) {
                        Err(Error::DupHost)
                    } else {
                        taken.push(key);
                        self.start_host(gid, slot, e)
                    }
                }
            };
            if let Err(e) = res {
                self.group_result(gid, slot, Err(e));
            }
        }
        self.hoster_flush();
    }

    /// Begins starting host `e` for slot `slot` of group `gid`.
    pub(super) fn start_host(
        &mut self,
        gid: u64,
        slot: usize,
        e: hostfile::HostEntry,
    ) -> Result<(), Error> {
        let name = e.name.clone();
        if self.is_local_name(&name)
            || self.multi.table.by_name(&name).is_some()
            || self
                .starting
                .starts
                .values()
                .any(|s| s.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::DupHost);
        }
        let reach = e.opts.ip.clone().unwrap_or_else(|| name.clone());
        let hn = HostName::parse(&reach).map_err(|_| Error::BadParam)?;
        let ips: Vec<SocketAddr> = match addr::resolve(&hn, 0) {
            Ok(v) => v,
            Err(err) => {
                dlog!(self.log, Info, "add {name}: {err}");
                return Err(Error::NoHost);
            }
        };
        let dup = self.multi.table.hosts.iter().any(|h| {
            h.addrs.iter().any(|a| {
                ips.iter()
                    .any(|i| i.ip().to_canonical() == a.ip().to_canonical())
            })
        });
        if dup {
            return Err(Error::DupHost);
        }
        let reserved: Vec<i32> = self.starting.starts.values().map(|s| s.index).collect();
        let index = self
            .multi
            .table
            .alloc_index(&reserved)
            .ok_or(Error::OutOfRes)?;
        let mut args = SlaveArgs::for_host(
            index,
            self.dtid,
            &name,
            self.opts.debug_mask,
            self.opts.pvm_root.as_ref(),
            self.opts.vmid.as_deref(),
            &e.opts,
        );
        args.protect = Some(self.multi.protect);
        // No dx=: the remote's $PVM_DPATH or $PVM_ROOT/lib/pvmd, else ours.
        let cmd = match &e.opts.dx {
            Some(dx) => startup::remote_command(dx, &args),
            None => startup::remote_command_default_dx(&self.starting.dx, &args),
        };
        let id = self.multi.id();
        let mut st = Start {
            group: gid,
            slot,
            index,
            name: name.clone(),
            ips,
            child: None,
            pipe: None,
            partial: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS),
            manual: None,
            candidates: VecDeque::new(),
            link: None,
            reply: None,
            shell: None,
        };
        let dialog = self.opts.dialog != super::Dialog::Off;
        if e.opts.manual && dialog {
            // man pvmd3 MANUAL STARTUP, on the master's terminal. The slave
            // reads the machine's secret first, so the command carries it.
            let line = format!(
                "echo {} | {}",
                self.multi.secret.to_hex(),
                cmd.strip_prefix("exec ").unwrap_or(&cmd)
            );
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.starting.starts.insert(id, st);
            self.dialog_ask(
                id,
                super::dialog::Ask::Manual {
                    host: name,
                    cmd: line,
                },
            );
            return Ok(());
        }
        if e.opts.manual {
            let secret_file = self.opts.files.dir.join("pvmd.secret");
            let reply_file = self.opts.files.dir.join(format!("reply.{name}"));
            let _ = std::fs::remove_file(&reply_file);
            if let Err(err) =
                crate::os::write_private(&secret_file, &format!("{}\n", self.multi.secret.to_hex()))
            {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't write {}: {err}",
                    secret_file.display()
                );
                return Err(Error::CantStart);
            }
            dlog!(
                self.log,
                Info,
                "manual start of {name}: on {name} run `{cmd}` with the line of {} on its standard input, then write the line it prints to {} (waiting {} s)",
                secret_file.display(),
                reply_file.display(),
                MANUAL_TIMEOUT.as_secs()
            );
            st.manual = Some(reply_file);
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.starting.starts.insert(id, st);
            return Ok(());
        }
        // A registered hoster starts the slave instead (misc.rs).
        let job = super::misc::HostJob {
            tid: tid::host_tid(index),
            options: if e.opts.so_pw { "pw" } else { "" }.to_string(),
            login: match &e.opts.lo {
                Some(lo) => format!("{lo}@{reach}"),
                None => reach.clone(),
            },
            command: cmd.clone(),
        };
        if self.hoster_take(id, job) {
            self.starting.starts.insert(id, st);
            return Ok(());
        }
        st.shell = Some(Shell {
            reach: reach.clone(),
            lo: e.opts.lo.clone(),
            cmd,
        });
        if e.opts.so_pw && dialog {
            let login = e.opts.lo.clone().unwrap_or_else(login_name);
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.starting.starts.insert(id, st);
            self.dialog_ask(
                id,
                super::dialog::Ask::Password {
                    prompt: format!("Password ({reach}:{login}): "),
                },
            );
            return Ok(());
        }
        if e.opts.so_pw {
            dlog!(
                self.log,
                Warn,
                "add {name}: so=pw, but the master has no terminal to ask on (start it as `pvmd3 hostfile` or `pvmd3 -f hostfile` on a terminal); starting without a password"
            );
        }
        self.starting.starts.insert(id, st);
        if let Err(err) = self.spawn_shell(id, None) {
            self.starting.starts.remove(&id);
            return Err(err);
        }
        Ok(())
    }

    /// Runs the remote shell of start `id` (its `shell`), with `password`
    /// for ssh's askpass when the user typed one (so=pw).
    pub(super) fn spawn_shell(&mut self, id: u64, password: Option<String>) -> Result<(), Error> {
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
        let log_err = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.opts.files.log)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_err);
        dlog!(
            self.log,
            Debug,
            "add {name}: {} {reach} {cmd}",
            self.opts.rsh
        );
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(err) => {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't run {}: {err}",
                    self.opts.rsh
                );
                return Err(Error::CantStart);
            }
        };
        // The secret travels on the remote shell's stdin, never on a command line.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{}\n", self.multi.secret.to_hex()).as_bytes());
        }
        if let Some(out) = child.stdout.take() {
            let mut rx = Receiver::from(out);
            let tok = self.token();
            if rx.set_nonblocking(true).is_ok()
                && self
                    .poll
                    .registry()
                    .register(&mut rx, tok, Interest::READABLE)
                    .is_ok()
            {
                if let Some(st) = self.starting.starts.get_mut(&id) {
                    st.pipe = Some(tok);
                }
                self.starting.pipe_start.insert(tok, id);
                self.starting.start_pipes.insert(tok, rx);
            }
        }
        if let Some(st) = self.starting.starts.get_mut(&id) {
            st.child = Some(child);
        }
        Ok(())
    }

    /// The remote shell's stdout of a start is readable.
    pub(super) fn start_pipe_event(&mut self, tok: Token) {
        let Some(&id) = self.starting.pipe_start.get(&tok) else {
            return;
        };
        let mut eof = false;
        let mut data = Vec::new();
        if let Some(rx) = self.starting.start_pipes.get_mut(&tok) {
            let mut buf = [0u8; 1024];
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

    pub(super) fn close_start_pipe(&mut self, tok: Token) {
        self.starting.pipe_start.remove(&tok);
        if let Some(mut rx) = self.starting.start_pipes.remove(&tok) {
            let _ = self.poll.registry().deregister(&mut rx);
        }
    }

    /// The slave's reply line arrived: connect to it.
    pub(super) fn start_line(&mut self, id: u64, line: &str) {
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
                self.start_connect(id);
            }
            Err(e) => {
                dlog!(self.log, Warn, "add {name}: {e}");
                self.start_done(id, Err(Error::CantStart));
            }
        }
    }

    /// Connects to the next candidate address of a start.
    pub(super) fn start_connect(&mut self, id: u64) {
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

    /// The end of a start: the host's tid or an error, into its group.
    pub(super) fn start_done(&mut self, id: u64, res: Result<i32, Error>) {
        let Some(mut st) = self.starting.starts.remove(&id) else {
            return;
        };
        if let Some(tok) = st.pipe.take() {
            self.close_start_pipe(tok);
        }
        if let Some(mut ch) = st.child.take() {
            if res.is_err() {
                let _ = ch.kill();
            }
            self.starting.reap.push(ch);
        }
        if res.is_err() {
            if let Some(tok) = st.link.take() {
                self.starting.link_start.remove(&tok);
                self.drop_link(tok);
            }
        }
        if let Some(f) = st.manual.take() {
            let _ = std::fs::remove_file(f);
        }
        self.group_result(st.group, st.slot, res);
    }

    pub(super) fn group_result(&mut self, gid: u64, slot: usize, res: Result<i32, Error>) {
        let Some(g) = self.starting.groups.get_mut(&gid) else {
            return;
        };
        if let Some(s) = g.results.get_mut(slot) {
            *s = Some(res.unwrap_or_else(|e| e.code()));
        }
        if g.results.iter().any(Option::is_none) {
            return;
        }
        let Some(g) = self.starting.groups.remove(&gid) else {
            return;
        };
        let codes: Vec<i32> = g.results.into_iter().map(|r| r.unwrap_or(0)).collect();
        let ok = codes.iter().filter(|&&c| c > 0).count();
        if let Some(ack) = g.rm {
            self.rm_add_done(ack, &codes);
            return;
        }
        match g.token {
            Some(tok) => {
                let mut w = Writer::new();
                w.int(ok as i32).int(codes.len() as i32);
                for c in &codes {
                    w.int(*c);
                }
                self.reply(tok, Req::AddHosts as i32, g.wid, Ok(w.finish()));
            }
            None => {
                dlog!(
                    self.log,
                    Info,
                    "hostfile: {ok} of {} host(s) added; {} host(s) in the machine",
                    codes.len(),
                    self.multi.table.hosts.len()
                );
                self.dialogs_release();
                self.open_unix();
            }
        }
    }

    /// A start's link is up: the host joins the machine.
    pub(super) fn start_linked(&mut self, id: u64, tok: Token) {
        let Some(st) = self.starting.starts.get(&id) else {
            return;
        };
        let Some(reply) = st.reply.clone() else {
            return;
        };
        let Some(link) = self.multi.links.get(&tok) else {
            return;
        };
        let mut addrs = vec![with_port(link.peer_addr, reply.port)];
        for ip in &st.ips {
            let a = with_port(*ip, reply.port);
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        let entry = HostEntry {
            index: st.index,
            name: st.name.clone(),
            arch: reply.arch.clone(),
            speed: reply.speed,
            dsig: reply.dsig,
            addrs,
        };
        let host = entry.host();
        let dtid = entry.dtid();
        dlog!(
            self.log,
            Info,
            "host {} ({}) added as {} at {}",
            entry.name,
            reply.arch,
            tid::fmt(dtid),
            canon(&link.peer_addr)
        );
        self.starting.link_start.remove(&tok);
        self.multi.by_host.insert(host, tok);
        self.multi.table.insert(entry);
        // The new slave learns its place first, then everyone the new table.
        let mut w = Writer::new();
        w.int(tid::host_index(host));
        self.multi.table.encode(&mut w);
        let place = ctl_frame(self.dtid, dtid, Ctl::Place, w.finish());
        self.send_link(tok, place.to_bytes());
        self.push_table(Some(host));
        self.rm_tell_new_host(host);
        self.notify_host_add(&[dtid]);
        self.start_done(id, Ok(host));
    }

    /// Master: sends the table to every slave (but `skip`).
    pub(super) fn push_table(&mut self, skip: Option<i32>) {
        let mut w = Writer::new();
        self.multi.table.encode(&mut w);
        let body = w.finish();
        let hosts: Vec<i32> = self
            .multi
            .table
            .hosts
            .iter()
            .map(|h| h.host())
            .filter(|&h| h != self.host && Some(h) != skip)
            .collect();
        for h in hosts {
            let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Table, body.clone());
            self.send_to_host(h, f.to_bytes());
        }
    }

    /// DelHosts (master): stops the named slaves.
    pub(super) fn req_del_hosts(&mut self, r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master {
            return Err(Error::NotImpl);
        }
        let names = r.strs()?;
        if names.is_empty() {
            return Err(Error::BadParam);
        }
        let mut codes = Vec::new();
        for n in &names {
            let code = match self.multi.table.by_name(n).map(|e| e.host()) {
                None if self.is_local_name(n) => Error::BadParam.code(),
                None => Error::NoHost.code(),
                Some(h) if h == self.host => Error::BadParam.code(),
                Some(h) => {
                    let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Halt, Vec::new());
                    self.send_to_host(h, f.to_bytes());
                    dlog!(self.log, Info, "host {n} deleted");
                    self.remove_host(h, "deleted");
                    0
                }
            };
            codes.push(code);
        }
        let ok = codes.iter().filter(|&&c| c == 0).count();
        let mut w = Writer::new();
        w.int(ok as i32).int(codes.len() as i32);
        for c in codes {
            w.int(c);
        }
        Ok(w.finish())
    }

    // ---- links --------------------------------------------------------------
}
