//! Requests of this host's tasks (and of other daemons for them): the dispatch
//! by request code, the replies, and the handlers of the task family (connect,
//! exit, spawn and starting a task, signals, task lists, contexts).

use super::children::{ChildProc, Pipe};
use super::log::dlog;
use super::mailbox::Outcome;
use super::output::Inherit;
use super::routes::RouteChange;
use super::server::{Daemon, MAX_NTASK};
use super::spawn::{self, SpawnRequest};
use super::task::{Task, TF_CONNECTED, TF_SPAWNED};
use crate::wire::{Frame, Header, Kind, Reader, Req, Writer};
use crate::{os, tid, Error};
use mio::unix::pipe::Receiver;
use mio::unix::SourceFd;
use mio::{Interest, Token};
use std::os::fd::AsRawFd;

impl Daemon {
    pub(super) fn request(&mut self, token: Token, frame: Frame) {
        let h = frame.header;
        if let Some(req @ (Req::RouteAdd | Req::RouteDelete)) = Req::from_i32(h.tag) {
            self.route_report(token, req, &frame.body);
            return;
        }
        if !self.is_remote_token(token) {
            if self.rm_redirect(token, &frame) {
                // Answered when the resource manager's answer comes (rm.rs).
                return;
            }
            if let Some(host) = self.forward_host(&frame) {
                self.forward(token, &frame, host);
                return;
            }
        }
        let mut r = Reader::new(&frame.body);
        let result = match Req::from_i32(h.tag) {
            Some(Req::Connect) => {
                let res = self.req_connect(token, &mut r);
                if res.is_ok() && self.connect_waits(token, h.wid) {
                    return;
                }
                res
            }
            Some(Req::Exit) => self.req_exit(token),
            Some(Req::Spawn) => self.req_spawn(token, h.wid, &frame.body, &mut r),
            Some(Req::Kill) => r.int().and_then(|t| self.req_signal(t, libc::SIGTERM)),
            Some(Req::SendSig) => r.int().and_then(|t| Ok((t, r.int()?))).and_then(|(t, s)| {
                if !(1..=64).contains(&s) {
                    return Err(Error::BadParam);
                }
                self.req_signal(t, s)
            }),
            Some(Req::Config) => Ok(self.config_body()),
            Some(Req::DaemonAddr) => self.req_daemon_addr(&mut r),
            Some(Req::Tasks) => r.int().and_then(|w| {
                if w == 0 {
                    if let Some(res) = self.tasks_all(token, h.wid) {
                        return res;
                    }
                }
                self.req_tasks(w)
            }),
            Some(Req::Pstat) => r.int().and_then(|t| self.req_pstat(t)),
            Some(Req::AddHosts) => self.req_add_hosts(token, h.wid, &mut r),
            Some(Req::DelHosts) => self.req_del_hosts(&mut r),
            Some(Req::Mstat) => r.str().and_then(|n| {
                if self.host_known(&n) {
                    Ok(Vec::new())
                } else {
                    Err(Error::NoHost)
                }
            }),
            Some(Req::Halt) => Ok(Vec::new()),
            Some(Req::RegTracer) => self.req_reg_tracer(self.requester(token).unwrap_or(0), &mut r),
            Some(Req::NewContext) => self.req_new_context(),
            Some(Req::Notify) => self.req_notify(token, &mut r),
            Some(Req::SetOutput) => self.req_set_output(token, &mut r),
            Some(Req::FreeContext) => r.int().and_then(|c| {
                if self.me.free_context(c) {
                    Ok(Vec::new())
                } else {
                    Err(Error::BadParam)
                }
            }),
            Some(req @ (Req::MboxPut | Req::MboxRecv | Req::MboxDel | Req::MboxInfo)) => {
                let from = self.requester(token).unwrap_or(0);
                match self.mbox.request(req, from, token, h.wid, &mut r) {
                    Outcome::Reply(res) => res,
                    // Answered when a matching entry is put (or forgotten with its task).
                    Outcome::Wait => return,
                }
            }
            Some(
                req @ (Req::HostSync
                | Req::Tickle
                | Req::NoReset
                | Req::GetNoResets
                | Req::RegTasker
                | Req::RegHoster
                | Req::RegRm),
            ) => self.misc_request(req, token, &mut r),
            Some(
                req @ (Req::GroupJoin
                | Req::GroupLeave
                | Req::GroupTid
                | Req::GroupInst
                | Req::GroupSize
                | Req::GroupBarrier
                | Req::GroupMembers
                | Req::GroupFreeze),
            ) => {
                // A task of another host asks through its daemon (a remote
                // token, no connection): its tid comes with the request.
                let from = self.requester(token).unwrap_or(0);
                self.group_request(req, from, &frame.body)
            }
            Some(Req::RouteAdd | Req::RouteDelete | Req::RouteHello) | None => {
                dlog!(
                    self.log,
                    Warn,
                    "unknown request {} from {}",
                    h.tag,
                    self.conn_name(token)
                );
                Err(Error::NotImpl)
            }
        };
        // The successor's copy is sent before any task is told, and the
        // reply waits for its acknowledgement (succession.rs).
        // A handler that answers later (forwarded parts, host starts) set this.
        let deferred = self.take_deferred();
        self.replicate_after(token, h.tag, (!deferred).then_some(&result));
        if !deferred {
            self.reply_replicated(token, h.tag, h.wid, result);
        }
        let notes = self.take_notes_after_reply();
        self.deliver_after_reply(notes);
        for w in self.mbox.take_woken() {
            self.reply_replicated(w.token, Req::MboxRecv as i32, w.wid, w.reply);
        }
        if h.tag == Req::Connect as i32 {
            self.rings_live(token);
            self.deliver_held(token);
        }
        if h.tag == Req::Halt as i32 {
            let who = self.conn_name(token);
            self.begin_halt(token, &who);
        }
    }

    /// Sends the reply to request `tag`/`wid` on `token`: the status, then
    /// the body of a success.
    pub(super) fn reply(
        &mut self,
        token: Token,
        tag: i32,
        wid: i32,
        result: Result<Vec<u8>, Error>,
    ) {
        let body = match result {
            Ok(mut rest) => {
                let mut b = Writer::new().int(0).finish();
                b.append(&mut rest);
                b
            }
            Err(e) => Writer::new().int(e.code()).finish(),
        };
        self.reply_raw(token, tag, wid, body);
    }

    /// Sends a reply whose body (status first) is ready: to a local
    /// connection, or back to the daemon a remote request came from.
    pub(super) fn reply_raw(&mut self, token: Token, tag: i32, wid: i32, body: Vec<u8>) {
        if self.reply_remote(token, tag, body.clone()) {
            return;
        }
        let dst = self.conns.tid_of(token).unwrap_or(0);
        let reply = Frame::new(
            Header {
                src: self.me.dtid(),
                dst,
                tag,
                wid,
                ..Header::new(Kind::Reply)
            },
            body,
        );
        self.send_bytes(token, reply.to_bytes());
    }

    /// RouteAdd/RouteDelete: a task reports a direct link opened or closed
    /// (no reply).
    pub(super) fn route_report(&mut self, token: Token, req: Req, body: &[u8]) {
        let from = self.conns.tid_of(token);
        match self.routes.request(from, req, body) {
            Ok(Some(RouteChange::Added(a, b))) => {
                self.route_added(a, b);
                dlog!(
                    self.log,
                    Debug,
                    "route {} - {} added",
                    tid::fmt(a),
                    tid::fmt(b)
                );
            }
            Ok(Some(RouteChange::Deleted(a, b))) => {
                self.route_deleted(a, b);
                dlog!(
                    self.log,
                    Debug,
                    "route {} - {} deleted",
                    tid::fmt(a),
                    tid::fmt(b)
                );
            }
            Ok(None) => {}
            Err(e) => {
                let who = self.conn_name(token);
                dlog!(self.log, Debug, "bad route report from {who}: {e}");
            }
        }
    }

    pub(super) fn req_connect(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let pid = r.int()?;
        let spawned = r.int()?;
        let name = r.str()?;
        let offered = !r.is_empty() && r.int()? == 1;
        if self.conns.get(token).is_some_and(|c| c.tid.is_some()) {
            return Err(Error::Already);
        }
        let claim = self
            .tasks
            .get(spawned)
            .is_some_and(|t| spawned != 0 && t.flags & TF_SPAWNED != 0 && t.conn.is_none());
        let t = if claim {
            let task = self.tasks.get_mut(spawned).ok_or(Error::NoTask)?;
            task.conn = Some(token);
            task.flags |= TF_CONNECTED;
            if pid > 0 {
                task.pid = pid;
            }
            spawned
        } else {
            let t = self.tasks.alloc_tid().ok_or(Error::OutOfRes)?;
            self.tasks.insert(Task {
                tid: t,
                ptid: 0,
                pid: pid.max(0),
                flags: TF_CONNECTED,
                aout: String::new(),
                siblings: Vec::new(),
                conn: Some(token),
                held: Default::default(),
            });
            self.rm_task_new(t);
            self.trace_connected(t, &name);
            t
        };
        if let Some(c) = self.conns.get_mut(token) {
            c.tid = Some(t);
            c.decoder.set_limit(self.opts.max_message);
        }
        self.take_rings(token, offered);
        dlog!(
            self.log,
            Debug,
            "task {} connected (pid {pid}, {name})",
            tid::fmt(t)
        );
        self.connect_body(t)
    }

    /// The Connect reply body of task `t` (after the status).
    pub(super) fn connect_body(&self, t: i32) -> Result<Vec<u8>, Error> {
        let task = self.tasks.get(t).ok_or(Error::NoTask)?;
        let ptid = if task.ptid == 0 {
            Error::NoParent.code()
        } else {
            task.ptid
        };
        let mut w = Writer::new();
        w.int(t)
            .int(ptid)
            .int(self.me.dtid())
            .int(task.siblings.len() as i32);
        for s in &task.siblings {
            w.int(*s);
        }
        self.output.inherited(t).write(&mut w);
        // For direct routes to tasks of other hosts: the machine's secret
        // (only ever sent to local tasks, over the private Unix socket) and
        // this host's addresses as the host table advertises them.
        w.str(&self.multi.secret().to_hex());
        let me = self.multi.table().by_tid(self.me.dtid());
        let ips: Vec<String> = me
            .map(|e| e.addrs.iter().map(crate::net::addr::fmt_sockaddr).collect())
            .unwrap_or_default();
        w.int(ips.len() as i32);
        for ip in &ips {
            w.str(ip);
        }
        // Last: whether this task's rings were taken.
        let rings = task
            .conn
            .and_then(|c| self.conns.get(c))
            .is_some_and(|c| c.rings.is_some());
        w.int(rings as i32);
        // Then the largest message body this daemon takes (bounds.rs): the
        // library refuses larger sends itself.
        w.str(&self.opts.max_message.to_string());
        // Then how links between hosts are protected (src/seal.rs), for the
        // task's direct routes and feeds.
        w.int(i32::from(self.multi.protect().code()));
        Ok(w.finish())
    }

    /// Hands a newly connected task the messages that arrived before it.
    pub(super) fn deliver_held(&mut self, token: Token) {
        let Some(t) = self.conns.tid_of(token) else {
            return;
        };
        let (held, refused) = match self.tasks.get_mut(t) {
            Some(task) => (
                task.held.drain_all(),
                std::mem::take(&mut task.held.refused),
            ),
            None => return,
        };
        self.held_refused(t, refused, "it connected");
        for bytes in held {
            self.send_bytes(token, bytes);
        }
    }

    pub(super) fn req_exit(&mut self, token: Token) -> Result<Vec<u8>, Error> {
        let t = self
            .conns
            .get_mut(token)
            .and_then(|c| c.tid.take())
            .ok_or(Error::NoTask)?;
        self.tasks.remove(t);
        self.mbox.task_gone(t);
        dlog!(self.log, Debug, "task {} exited", tid::fmt(t));
        self.task_gone(t);
        Ok(Vec::new())
    }

    pub(super) fn req_spawn(
        &mut self,
        token: Token,
        wid: i32,
        body: &[u8],
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let mut req = SpawnRequest {
            file: r.str()?,
            flags: r.int()?,
            where_: r.str()?,
            ntask: r.int()?,
            argv: r.strs()?,
            env: r.strs()?,
        };
        let mut inherit = Inherit::read(r)?.unwrap_or_default();
        self.trace_spawn_defaults(&mut inherit, &mut req.env);
        if req.ntask < 1 || req.ntask > MAX_NTASK {
            return Err(Error::BadParam);
        }
        let parent = self.requester(token).unwrap_or(0);
        let remote = self.is_remote_token(token);
        let results: Vec<Result<i32, Error>> = match self.placement(token, &req) {
            Some(plan) if !(plan.len() == 1 && plan[0].0 == self.me.host()) => {
                return self.spawn_spread(token, wid, body, &req, inherit, plan);
            }
            Some(_) => self.spawn_here(parent, &req, inherit),
            None if remote => self.spawn_here(parent, &req, inherit),
            None => {
                let (host_or_arch, _) = crate::net::split_where(&req.where_);
                let selected =
                    spawn::host_selected(req.flags, host_or_arch, &self.opts.arch, |h| {
                        self.is_local_name(h)
                    });
                if selected {
                    self.spawn_here(parent, &req, inherit)
                } else {
                    vec![Err(Error::NoHost); req.ntask as usize]
                }
            }
        };
        let started: Vec<i32> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        for t in &started {
            if let Some(task) = self.tasks.get_mut(*t) {
                task.siblings = started.clone();
            }
            self.trace_spntask(*t, parent, &inherit);
        }
        if remote {
            // Part of a spawn spread over hosts: the full list follows.
            self.mark_sibling_wait(&started);
        }
        let mut w = Writer::new();
        w.int(started.len() as i32);
        for r in &results {
            w.int(match r {
                Ok(t) => *t,
                Err(e) => e.code(),
            });
        }
        Ok(w.finish())
    }

    /// Starts the `ntask` tasks of `req` on this host, for `parent`.
    pub(super) fn spawn_here(
        &mut self,
        parent: i32,
        req: &SpawnRequest,
        inherit: Inherit,
    ) -> Vec<Result<i32, Error>> {
        let ptid = if req.flags & spawn::NO_SPAWN_PARENT != 0 {
            Error::ParentNotSet.code()
        } else {
            parent
        };
        let (_, dir) = crate::net::split_where(&req.where_);
        let n = req.ntask as usize;
        let mut results: Vec<Result<i32, Error>> = Vec::with_capacity(n);
        match spawn::resolve(req, &self.opts) {
            Err(e) => results.resize(n, Err(e)),
            Ok((path, launch)) => {
                if req.flags & spawn::TASK_DEBUG != 0 && launch.program == path {
                    dlog!(
                        self.log,
                        Info,
                        "PvmTaskDebug: no $PVM_ROOT/lib/debugger, starting {} plainly",
                        path.display()
                    );
                }
                let cwd = match dir {
                    Some(d) if !d.is_empty() => self.opts.home.join(d),
                    _ => self.opts.home.clone(),
                };
                for _ in 0..n {
                    let r = self.spawn_one(parent, req, &launch, &cwd, ptid, inherit);
                    if let Ok(t) = r {
                        self.trace_newtask(t, ptid, req.flags, &req.file, &inherit);
                    }
                    results.push(r);
                }
            }
        }
        results
    }

    pub(super) fn start_task(
        &mut self,
        req: &SpawnRequest,
        launch: &spawn::Launch,
        cwd: &std::path::Path,
        ptid: i32,
        inherit: Inherit,
    ) -> Result<i32, Error> {
        let t = self.tasks.alloc_tid().ok_or(Error::OutOfRes)?;
        let (child, out) = match spawn::start(launch, &self.opts, &req.env, t, cwd) {
            Ok(c) => c,
            Err(e) => {
                dlog!(
                    self.log,
                    Warn,
                    "can't start {}: {e}",
                    launch.program.display()
                );
                return Err(spawn::start_error_code(&e));
            }
        };
        let pid = child.id() as i32;
        let mut npipes = 0;
        let mut rx = Receiver::from(out);
        let token = self.token();
        if rx.set_nonblocking(true).is_ok()
            && self
                .poll
                .registry()
                .register(&mut rx, token, Interest::READABLE)
                .is_ok()
        {
            self.children.add_pipe(
                token,
                Pipe {
                    tid: t,
                    rx,
                    partial: Vec::new(),
                },
            );
            npipes = 1;
        }
        let pidfd = os::pidfd_open(pid).ok();
        let proc_ = ChildProc {
            tid: t,
            child,
            pidfd,
        };
        match proc_.pidfd.as_ref().map(|fd| fd.as_raw_fd()) {
            Some(raw) => {
                let token = self.token();
                match self
                    .poll
                    .registry()
                    .register(&mut SourceFd(&raw), token, Interest::READABLE)
                {
                    Ok(()) => self.children.add(Some(token), proc_),
                    Err(_) => self.children.add(None, proc_),
                }
            }
            None => self.children.add(None, proc_),
        }
        self.tasks.insert(Task {
            tid: t,
            ptid,
            pid,
            flags: TF_SPAWNED,
            aout: req.file.clone(),
            siblings: Vec::new(),
            conn: None,
            held: Default::default(),
        });
        for note in self.output.spawned(t, ptid, npipes, inherit) {
            self.deliver(note);
        }
        dlog!(
            self.log,
            Debug,
            "spawned {} as {} pid {pid}",
            launch.program.display(),
            tid::fmt(t)
        );
        Ok(t)
    }

    pub(super) fn req_signal(&mut self, t: i32, sig: i32) -> Result<Vec<u8>, Error> {
        if !tid::is_task(t) {
            return Err(Error::BadParam);
        }
        let task = self.tasks.get(t).ok_or(Error::NoTask)?;
        if task.pid <= 0 || !os::kill(task.pid, sig) {
            return Err(Error::DSysErr);
        }
        dlog!(
            self.log,
            Debug,
            "signal {sig} to {} (pid {})",
            tid::fmt(t),
            task.pid
        );
        Ok(Vec::new())
    }

    pub(super) fn req_tasks(&self, where_: i32) -> Result<Vec<u8>, Error> {
        self.tasks_body(where_)
    }

    /// The task list for `where_` (0, this host, or a local task).
    pub(super) fn tasks_body(&self, where_: i32) -> Result<Vec<u8>, Error> {
        let list: Vec<&Task> =
            if where_ == 0 || where_ == self.me.host() || where_ == self.me.dtid() {
                self.tasks.iter().collect()
            } else if tid::is_daemon(where_)
                || (where_ > 0 && where_ & tid::LOCAL_MASK == 0 && where_ & tid::HOST_MASK != 0)
            {
                return Err(Error::NoHost);
            } else if tid::is_task(where_) {
                vec![self.tasks.get(where_).ok_or(Error::NoTask)?]
            } else {
                return Err(Error::BadParam);
            };
        let mut w = Writer::new();
        w.int(list.len() as i32);
        for t in list {
            w.int(t.tid)
                .int(t.ptid.max(0))
                .int(self.me.host())
                .int(t.flags | self.role_flags(t.tid))
                .str(&t.aout)
                .int(t.pid);
        }
        Ok(w.finish())
    }

    pub(super) fn req_pstat(&self, t: i32) -> Result<Vec<u8>, Error> {
        if t == self.me.dtid() || t == self.me.host() {
            return Ok(Vec::new());
        }
        if !tid::is_task(t) && !tid::is_daemon(t) {
            return Err(Error::BadParam);
        }
        self.tasks.get(t).map(|_| Vec::new()).ok_or(Error::NoTask)
    }

    pub(super) fn req_new_context(&mut self) -> Result<Vec<u8>, Error> {
        let ctx = self.me.new_context().ok_or(Error::OutOfRes)?;
        Ok(Writer::new().int(ctx).finish())
    }

    /// Whether `name` denotes this host: its name (short or full),
    /// "localhost", ".", or one of its addresses.
    pub(super) fn is_local_name(&self, name: &str) -> bool {
        self.me.is_local_name(name)
    }

    // ---- children and their output -------------------------------------
}
