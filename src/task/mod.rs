//! The task runtime: everything a PVM program's library state holds.
//!
//! One [`Runtime`] per process ([`rt`]) holds the task's identity, its
//! buffers, the queue of received messages and its options behind one lock,
//! and the connection to the daemon beside it. Blocking calls never hold the
//! state lock while they wait: one thread at a time reads frames from the
//! daemon (the `reading` flag), files them into the state, and wakes the
//! others through a condition variable. So several threads may call PVM at
//! once, and a thread blocked in `pvm_recv` does not stop another from
//! sending. The reader waits on the daemon connection and, for direct
//! routes (`direct`), on the task's links and listener too (one poll).
//!
//! The public functions here are the safe API the C entry points call; their
//! names follow the C functions they serve (`spawn` for `pvm_spawn`, ...).

mod api;
pub mod compat;
mod conn;
mod direct;
mod feed;
pub mod groups;
mod hosts;
pub mod logging;
mod mailbox;
pub mod mhf;
pub mod misc;
mod notify;
mod options;
mod output;
mod shm;

pub use api::*;
pub use conn::{ENV_NOAUTOSTART, ENV_SOCK, ENV_TID};
pub use hosts::{addhosts, delhosts};
pub use mailbox::*;
pub use misc::*;
pub use notify::notify;
pub use options::Options;
pub use output::{catchout, OutputSink, CATCHOUT_CODE, CATCHOUT_CTX};

use crate::msg::{Buffer, BufferTable, MsgInfo};
use crate::sync::Locked;
use crate::wire::{Frame, Kind, Landing, Reader, Writer};
use crate::{tid, Error, Result};
use conn::Conn;
use direct::{Link, Listener, Routes};
use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A user-supplied message matcher (pvm_recvf): `(bufid, tid, tag) -> rank`.
pub type Matcher = Arc<dyn Fn(i32, i32, i32) -> i32 + Send + Sync>;

/// The task's state, guarded by the runtime's lock.
pub struct State {
    /// Our tid, 0 while not enrolled.
    pub mytid: i32,
    /// Parent's tid, or PvmNoParent.
    pub parent: i32,
    /// Our daemon's tid.
    pub dtid: i32,
    /// Tasks spawned together with us.
    pub siblings: Vec<i32>,
    /// Message buffers (pvm_mkbuf & co.).
    pub bufs: BufferTable,
    /// Ids of received messages not yet taken, in arrival order.
    queue: VecDeque<i32>,
    /// Replies to our requests, by request id.
    replies: HashMap<i32, Frame>,
    /// Current message context.
    pub context: i32,
    /// Options of pvm_setopt.
    pub opts: Options,
    /// The user's matcher, if any.
    matcher: Option<Matcher>,
    next_wid: i32,
    /// A thread is reading from the daemon.
    reading: bool,
    /// Threads waiting on `Runtime::filed` (waking nobody costs a syscall).
    waiters: u32,
    /// The daemon connection failed; calls fail until re-enrolled.
    broken: bool,
    conn: Option<Arc<Conn>>,
    /// The spawn environment (PVM6_TID) was used already.
    used_spawn_env: bool,
    /// Direct routes: listener, links, per-peer message counts.
    routes: Routes,
}

/// The process-wide runtime.
pub struct Runtime {
    state: Mutex<State>,
    /// Signalled when a frame was filed or the reader finished.
    filed: Condvar,
    /// Serialises enrollment (connecting and the Connect request).
    enroll: Mutex<()>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime of this process.
pub fn rt() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        logging::init();
        Runtime::new()
    })
}

impl Runtime {
    fn new() -> Runtime {
        Runtime {
            state: Mutex::new(State {
                mytid: 0,
                parent: Error::NoParent.code(),
                dtid: 0,
                siblings: Vec::new(),
                bufs: BufferTable::new(),
                queue: VecDeque::new(),
                replies: HashMap::new(),
                context: 0,
                opts: Options::default(),
                matcher: None,
                next_wid: 1,
                reading: false,
                waiters: 0,
                broken: false,
                conn: None,
                used_spawn_env: false,
                routes: Routes::default(),
            }),
            filed: Condvar::new(),
            enroll: Mutex::new(()),
        }
    }
}

impl State {
    /// Sets our tid (0: not enrolled), also for the library's log lines.
    pub fn set_mytid(&mut self, t: i32) {
        self.mytid = t;
        logging::set_tid(t);
    }
}

/// How a receive chooses among queued messages.
#[derive(Clone, Copy, Debug)]
struct Want {
    tid: i32,
    tag: i32,
}

impl Runtime {
    /// Locks the state (a panic in another thread does not poison PVM).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    /// Our tid, or 0 when not enrolled (never connects).
    pub fn tid_if_enrolled(&self) -> i32 {
        self.lock().mytid
    }

    /// Enrolls in PVM if not yet done: connects (starting a daemon if
    /// needed) and asks for a tid. Returns the connection.
    fn conn(&self) -> Result<Arc<Conn>> {
        if let Some(c) = self.connected()? {
            return Ok(c);
        }
        let _g = self.enroll.locked();
        if let Some(c) = self.connected()? {
            return Ok(c);
        }
        let conn = Arc::new(Conn::connect_or_start()?);
        let spawned_tid = {
            let mut st = self.lock();
            let t = if st.used_spawn_env {
                0
            } else {
                std::env::var(ENV_TID)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            st.used_spawn_env = true;
            t
        };
        let name = std::env::args().next().unwrap_or_default();
        let body = Writer::new()
            .int(std::process::id() as i32)
            .int(spawned_tid)
            .str(&name)
            .finish();
        conn.send_connect(&body)?;
        // Nothing else can arrive before the reply: we are not enrolled yet.
        let reply = loop {
            let f = conn.read_frame()?;
            if f.header.kind == Kind::Reply && f.header.wid == 0 {
                break f;
            }
        };
        let mut r = Reader::new(&reply.body);
        let status = r.int()?;
        if status < 0 {
            return Err(Error::from_code(status).unwrap_or(Error::SysErr));
        }
        let mytid = r.int()?;
        let parent = r.int()?;
        let dtid = r.int()?;
        let n = r.count(4)?;
        let siblings = (0..n).map(|_| r.int()).collect::<Result<Vec<_>>>()?;
        let inherited = crate::wire::output::Inherit::read(&mut r)?;
        // Then, for direct routes across hosts: the machine's secret and
        // this host's addresses (optional: absent from older daemons).
        let secret = if r.is_empty() {
            None
        } else {
            crate::auth::Secret::from_hex(&r.str()?).ok()
        };
        let host_addrs = if r.is_empty() {
            Vec::new()
        } else {
            let n = r.count(4)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                if let Ok(a) = crate::net::addr::parse_sockaddr(&r.str()?) {
                    v.push(a);
                }
            }
            v
        };
        // Last, whether the daemon took the shared-memory rings we offered.
        let rings_taken = !r.is_empty() && r.int()? == 1;
        conn.connected(rings_taken);
        let mut st = self.lock();
        if let Some(i) = inherited.filter(|_| spawned_tid != 0 && mytid == spawned_tid) {
            output::apply_inherited(&mut st.opts, &i);
            st.context = i.context;
        }
        st.set_mytid(mytid);
        st.parent = parent;
        st.dtid = dtid;
        st.siblings = siblings;
        st.routes.set_host(secret, host_addrs);
        st.broken = false;
        st.conn = Some(conn.clone());
        mhf::enrolled();
        log::debug!("enrolled as {}", tid::fmt(mytid));
        logging::debug(compat::debug::TASK, || {
            format!(
                "enrolled as {}, parent {}, daemon {}",
                tid::fmt(mytid),
                tid::fmt(parent),
                tid::fmt(dtid)
            )
        });
        Ok(conn)
    }

    fn connected(&self) -> Result<Option<Arc<Conn>>> {
        let st = self.lock();
        if st.broken {
            return Err(Error::SysErr);
        }
        Ok(st.conn.clone())
    }

    /// Our tid, enrolling first if needed.
    pub fn mytid(&self) -> Result<i32> {
        self.conn()?;
        Ok(self.lock().mytid)
    }

    /// Sends a request and waits for its reply; returns the reply body
    /// after a non-negative status has been checked.
    pub fn request(&self, req: crate::wire::Req, body: &[u8]) -> Result<Vec<u8>> {
        let conn = self.conn()?;
        let (wid, me) = {
            let mut st = self.lock();
            let w = st.next_wid;
            st.next_wid = st.next_wid.wrapping_add(1).max(1);
            (w, st.mytid)
        };
        conn.send_simple(Kind::Req, req as i32, wid, me, body)?;
        let frame = self
            .wait_for(&conn, None, |st| st.replies.remove(&wid))?
            .ok_or(Error::SysErr)?;
        let mut r = Reader::new(&frame.body);
        let status = r.int()?;
        if status < 0 {
            return Err(Error::from_code(status).unwrap_or(Error::SysErr));
        }
        Ok(frame.body[4..].to_vec())
    }

    /// Waits until `check` finds what it looks for in the state, reading
    /// frames from the daemon meanwhile. `Ok(None)` when `timeout` passes.
    fn wait_for<T>(
        &self,
        conn: &Arc<Conn>,
        timeout: Option<Duration>,
        check: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<Option<T>> {
        self.wait_landing(conn, timeout, None, check)
    }

    /// [`Runtime::wait_for`] with a [`Landing`] offered to the direct links
    /// this thread reads: a body that starts landing is read to its end
    /// (this thread keeps the reader's role meanwhile, and message handlers
    /// wait) and then ends the wait, `check` or not.
    fn wait_landing<T>(
        &self,
        conn: &Arc<Conn>,
        timeout: Option<Duration>,
        mut landing: Option<&mut Landing<'_>>,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<Option<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock();
        loop {
            // A body is landing: this thread kept the reader's role for it.
            let busy = landing.as_ref().is_some_and(|l| l.busy);
            if landing.as_ref().is_some_and(|l| l.done.is_some()) {
                return Ok(None);
            }
            if !busy {
                if let Some(v) = check(&mut st) {
                    return Ok(Some(v));
                }
            }
            if st.broken {
                if busy {
                    st.reading = false;
                }
                return Err(Error::SysErr);
            }
            let left = match deadline {
                // A body that started landing is read to its end.
                Some(_) if busy => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    Some(d - now)
                }
                None => None,
            };
            if st.reading && !busy {
                st.waiters += 1;
                st = match left {
                    Some(l) => {
                        self.filed
                            .wait_timeout(st, l)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => self.filed.wait(st).unwrap_or_else(|e| e.into_inner()),
                };
                st.waiters -= 1;
                continue;
            }
            let watch = match st.routes.watch() {
                Ok(w) => w,
                Err(_) => {
                    st.reading = false;
                    return Err(Error::SysErr);
                }
            };
            st.reading = true;
            drop(st);
            let got = collect(conn, watch, left, landing.as_deref_mut());
            st = self.lock();
            let busy = landing.as_ref().is_some_and(|l| l.busy);
            st.reading = busy;
            if let Err(e) = got.and_then(|c| st.absorb(c)) {
                st.broken = true;
                st.conn = None;
                st.reading = false;
                self.wake_waiters(&st);
                return Err(e);
            }
            self.wake_waiters(&st);
            if !busy {
                // Message handlers (mhf.rs) run without the state lock.
                drop(st);
                mhf::run_pending(self);
                st = self.lock();
            }
        }
    }

    /// Reads every frame already waiting, without blocking (for pvm_nrecv
    /// and pvm_probe). Leaves the reading to another thread if one reads.
    fn drain_ready(&self, conn: &Arc<Conn>) -> Result<()> {
        loop {
            let watch;
            {
                let mut st = self.lock();
                if st.reading || st.broken {
                    return if st.broken {
                        Err(Error::SysErr)
                    } else {
                        Ok(())
                    };
                }
                st.reading = true;
                watch = st.routes.watch().map_err(|_| Error::SysErr);
            }
            let got = watch.and_then(|w| collect(conn, w, Some(Duration::ZERO), None));
            let mut st = self.lock();
            st.reading = false;
            let more = match got.and_then(|c| {
                let any = !c.is_empty();
                st.absorb(c).map(|()| any)
            }) {
                Ok(any) => any,
                Err(e) => {
                    st.broken = true;
                    st.conn = None;
                    self.wake_waiters(&st);
                    return Err(e);
                }
            };
            self.wake_waiters(&st);
            // Message handlers (mhf.rs) run without the state lock.
            drop(st);
            mhf::run_pending(self);
            if !more {
                return Ok(());
            }
        }
    }

    /// Finds a queued message for `want`, by the user's matcher when one is
    /// set (called without the lock held, since matchers call pvm_bufinfo).
    fn pick(&self, want: Want) -> Result<Option<i32>> {
        let (matcher, snapshot) = {
            let st = self.lock();
            match &st.matcher {
                None => return Ok(st.find_default(want)),
                Some(m) => (m.clone(), st.queue.iter().copied().collect::<Vec<_>>()),
            }
        };
        let mut best: Option<(i32, i32)> = None;
        for id in snapshot {
            let rank = matcher(id, want.tid, want.tag);
            if rank < 0 {
                return Err(Error::from_code(rank).unwrap_or(Error::BadParam));
            }
            if rank == 1 {
                best = Some((id, i32::MAX));
                break;
            }
            if rank > 1 && best.is_none_or(|(_, r)| rank > r) {
                best = Some((id, rank));
            }
        }
        Ok(best.map(|(id, _)| id))
    }

    /// Removes `id` from the queue and makes it the active receive buffer.
    fn take(&self, id: i32) -> Option<i32> {
        let mut st = self.lock();
        let pos = st.queue.iter().position(|&q| q == id)?;
        st.queue.remove(pos);
        let old = st.bufs.rbuf();
        if old > 0 && old != id {
            let _ = st.bufs.freebuf(old);
        }
        st.bufs.set_rbuf(id).ok()?;
        Some(id)
    }

    /// The source and tag a receive may ask for (BadParam otherwise).
    fn check_want(&self, tid: i32, tag: i32) -> Result<()> {
        // t80000000 ("the local pvmd") is where notifications come from.
        if (tid < -1 && tid != tid::DAEMON_BIT)
            || (tid > 0
                && !crate::tid::is_task(tid)
                && !crate::tid::is_daemon(tid)
                && !crate::tid::is_host(tid))
                && tid != 0
        {
            return Err(Error::BadParam);
        }
        // Reserved (negative) tags need PvmResvTids (taskers, resource managers).
        if tag < -1 && self.lock().opts.resv_tids == 0 {
            return Err(Error::BadParam);
        }
        Ok(())
    }

    /// pvm_recv / pvm_trecv / pvm_nrecv / pvm_probe: `timeout` None blocks,
    /// Some(0) polls. With `take` false the message stays queued (probe).
    pub fn receive(
        &self,
        tid: i32,
        tag: i32,
        timeout: Option<Duration>,
        take: bool,
    ) -> Result<i32> {
        self.check_want(tid, tag)?;
        let conn = self.conn()?;
        let want = Want { tid, tag };
        if self.lock().matcher.is_none() {
            // Fast path: the matching runs under the lock inside wait_for.
            if timeout == Some(Duration::ZERO) {
                self.drain_ready(&conn)?;
            }
            let found =
                self.wait_for(&conn, timeout.filter(|t| !t.is_zero()).or(timeout), |st| {
                    let id = st.find_default(want)?;
                    if take {
                        let pos = st.queue.iter().position(|&q| q == id)?;
                        st.queue.remove(pos);
                        let old = st.bufs.rbuf();
                        if old > 0 && old != id {
                            let _ = st.bufs.freebuf(old);
                        }
                        st.bufs.set_rbuf(id).ok()?;
                    }
                    Some(id)
                })?;
            return Ok(found.unwrap_or(0));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.drain_ready(&conn)?;
            if let Some(id) = self.pick(want)? {
                if !take {
                    return Ok(id);
                }
                if let Some(id) = self.take(id) {
                    return Ok(id);
                }
                continue;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if deadline.is_some() && left.is_zero() {
                return Ok(0);
            }
            // Block until one more frame was filed, then rank again.
            let before = self.lock().queue.len();
            self.wait_for(&conn, Some(left), |st| {
                (st.queue.len() != before).then_some(())
            })?;
        }
    }

    /// pvm_precv: the next message from `tid` with `tag` (-1: any) in the
    /// current context. A large one that comes over a direct TCP link while
    /// this call waits lands straight in `dst` ([`Precv::Landed`]) when its
    /// body fits there and its encoding needs no conversion (native byte
    /// order, or `bytes_only`: the caller takes bytes as they are); any other
    /// is handed over as a buffer, removed from the queue and the buffer
    /// table without touching the active receive buffer (going through it,
    /// as `receive` does, lets concurrent callers free each other's
    /// messages).
    pub fn receive_into(
        &self,
        tid: i32,
        tag: i32,
        dst: &mut [u8],
        bytes_only: bool,
    ) -> Result<Precv> {
        if self.lock().matcher.is_some() {
            // A user matcher ranks by buffer id: use the ordinary path.
            let saved = self.lock().bufs.set_rbuf(0)?;
            let got = self.receive(tid, tag, None, true);
            let mut st = self.lock();
            let msg = got.and_then(|id| st.bufs.take(id));
            let _ = st.bufs.set_rbuf(saved);
            return msg.map(Precv::Buffer);
        }
        // Checked as `receive` does; frames are then read one at a time as
        // needed, leaving a backlog in the socket (not all in memory).
        self.check_want(tid, tag)?;
        let conn = self.conn()?;
        let want = Want { tid, tag };
        let (me, ctx) = {
            let st = self.lock();
            (st.mytid, st.context)
        };
        let accepts = move |h: &crate::wire::Header| {
            h.dst == me
                && h.ctx == ctx
                && (want.tid == -1 || want.tid == h.src)
                && (want.tag == -1 || want.tag == h.tag)
                && crate::msg::Encoding::from_code(h.enc)
                    .is_ok_and(|e| bytes_only || e.byte_order() == crate::msg::ByteOrder::NATIVE)
        };
        let mut landing = Landing {
            dst,
            peer: 0,
            accepts: &accepts,
            busy: false,
            done: None,
        };
        // A message handler may claim the message: it must reach the
        // buffer table first, so nothing lands while one is installed.
        let offer = mhf::none().then_some(&mut landing);
        let got = self.wait_landing(&conn, None, offer, |st| {
            let id = st.find_default(want)?;
            let pos = st.queue.iter().position(|&q| q == id)?;
            st.queue.remove(pos);
            st.bufs.take(id).ok()
        })?;
        match (got, landing.done) {
            (Some(msg), _) => Ok(Precv::Buffer(msg)),
            (None, Some(h)) => Ok(Precv::Landed {
                src: h.src,
                tag: h.tag,
                len: h.len as usize,
            }),
            (None, None) => Err(Error::SysErr),
        }
    }

    /// Installs or removes the user's matcher; returns the previous one.
    pub fn set_matcher(&self, m: Option<Matcher>) -> Option<Matcher> {
        std::mem::replace(&mut self.lock().matcher, m)
    }

    /// Sends `body` as one message of encoding `enc` in context `ctx` (the
    /// current one when None), without a send buffer: pvm_psend's memory
    /// goes out as it is; the group library's messages use their context.
    pub fn send_bytes(
        &self,
        body: &[u8],
        enc: i32,
        dst: i32,
        tag: i32,
        ctx: Option<i32>,
    ) -> Result<()> {
        let conn = self.conn()?;
        let mut guard = self.lock_for_send(&[dst]);
        let st = &mut *guard;
        let slices = [IoSlice::new(body)];
        let msg = Outgoing {
            slices: &slices,
            enc,
            wid: 0,
        };
        let blocked = send_one(
            &mut st.routes,
            st.opts.route,
            &conn,
            &msg,
            st.mytid,
            dst,
            tag,
            ctx.unwrap_or(st.context),
        );
        if blocked.as_ref().is_ok_and(|b| *b) {
            self.after_blocked_send(st);
        }
        blocked.map(|_| ())
    }

    /// The state lock for a send to `dsts`. When some of them should go on
    /// a feed (src/task/feed.rs) not tried yet, the lock is let go while
    /// those feeds open (our daemon gives the other daemon's addresses, then
    /// connect and handshake), and taken again. A host whose feed cannot be
    /// opened is not tried again; its messages go through our daemon.
    fn lock_for_send(&self, dsts: &[i32]) -> MutexGuard<'_, State> {
        static ENABLED: OnceLock<bool> = OnceLock::new();
        let st = self.lock();
        if !*ENABLED.get_or_init(feed::enabled) {
            return st;
        }
        let me = st.mytid;
        let mut hosts: Vec<i32> = dsts
            .iter()
            .filter_map(|&d| st.routes.feeds.wants(me, d))
            .collect();
        if hosts.is_empty() {
            return st;
        }
        let ctx = st.routes.feed_ctx();
        drop(st);
        hosts.sort_unstable();
        hosts.dedup();
        for host in hosts {
            let opened = match &ctx {
                None => Err("no machine secret from the daemon".to_string()),
                Some((secret, addrs)) => self
                    .request(
                        crate::wire::Req::DaemonAddr,
                        &Writer::new().int(host).finish(),
                    )
                    .and_then(|b| Reader::new(&b).str())
                    .map_err(|e| e.text().to_string())
                    .and_then(|list| {
                        feed::open(&list, addrs, secret, me).map_err(|e| format!("{list}: {e}"))
                    }),
            };
            let daemon = tid::fmt(tid::daemon_tid(host));
            match &opened {
                Ok(_) => log::debug!("feed to {daemon} open"),
                Err(e) => log::debug!("no feed to {daemon} ({e}): its messages go through ours"),
            }
            let mut st = self.lock();
            st.routes.feeds.settle(host, me, opened.ok());
            // A reader waiting now watches the new feed from its next round.
            st.routes.wake_reader();
        }
        self.lock()
    }

    /// Wakes the threads waiting for a filed frame (the caller holds the
    /// state lock, under which `waiters` changes).
    fn wake_waiters(&self, st: &State) {
        if st.waiters > 0 {
            self.filed.notify_all();
        }
    }

    /// A link send had to wait and read links meanwhile: file what it read
    /// and wake the reader and the waiters (the data they poll for is gone).
    fn after_blocked_send(&self, st: &mut State) {
        st.absorb_links();
        st.routes.wake_reader();
        self.wake_waiters(st);
    }

    /// Sends the active send buffer (pvm_send).
    pub fn send(&self, dst: i32, tag: i32) -> Result<()> {
        self.mcast(&[dst], tag)
    }

    /// Sends the active send buffer to each of `dsts` (pvm_mcast); our own
    /// tid is skipped as the original does.
    pub fn mcast(&self, dsts: &[i32], tag: i32) -> Result<()> {
        if tag < 0 && self.lock().opts.resv_tids == 0 {
            return Err(Error::BadParam);
        }
        if let Some(&bad) = dsts
            .iter()
            .find(|&&t| !tid::is_task(t) && !tid::is_daemon(t) && !tid::is_host(t))
        {
            log::debug!("bad destination {}", tid::fmt(bad));
            return Err(Error::BadParam);
        }
        let conn = self.conn()?;
        let mut guard = self.lock_for_send(dsts);
        let st = &mut *guard;
        let me = st.mytid;
        let ctx = st.context;
        let opt = st.opts.route;
        let buf = st.bufs.get(st.bufs.sbuf()).map_err(|_| Error::NoBuf)?;
        let mut scratch = Vec::new();
        let slices = buf.io_slices(&mut scratch);
        let msg = Outgoing {
            slices: &slices,
            enc: buf.encoding().code(),
            // The buffer's wait id travels with it (pvm_setmwid; a hoster's
            // SM_STHOSTACK must carry the one of the request).
            wid: buf.info().wid,
        };
        let single = dsts.len() == 1;
        let mut blocked = false;
        let mut result = Ok(());
        for &d in dsts {
            if d == me && !single {
                continue;
            }
            match send_one(&mut st.routes, opt, &conn, &msg, me, d, tag, ctx) {
                Ok(b) => blocked |= b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if blocked {
            self.after_blocked_send(st);
        }
        result
    }

    /// Leaves PVM (pvm_exit): tells the daemon, closes the connection and
    /// forgets the identity; buffers stay for the program to free.
    pub fn exit(&self) -> Result<()> {
        let conn = match self.connected() {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(_) => {
                let mut st = self.lock();
                st.broken = false;
                st.set_mytid(0);
                return Ok(());
            }
        };
        output::wait_children(self, &conn);
        {
            let mut st = self.lock();
            let me = st.mytid;
            st.routes.shut_down(me, Some(&conn));
        }
        let r = self.request(crate::wire::Req::Exit, &[]);
        drop(conn);
        let mut st = self.lock();
        st.conn = None;
        st.set_mytid(0);
        st.parent = Error::NoParent.code();
        st.siblings.clear();
        st.queue.clear();
        st.replies.clear();
        mhf::drop_pending(&mut st);
        mhf::exit();
        r.map(|_| ())
    }
}

impl State {
    /// Files a frame from the daemon: messages go to the queue (direct-route
    /// offers to `direct`), replies to the reply table.
    fn file(&mut self, f: Frame) {
        match f.header.kind {
            Kind::Msg => {
                if output::intercept(&f, self.opts.show_tids != 0) {
                    return;
                }
                for f in self.routes.daemon_msg(f, self.mytid, self.opts.route) {
                    self.enqueue(f);
                }
            }
            Kind::Reply => {
                self.replies.insert(f.header.wid, f);
            }
            Kind::Ctl if f.header.tag == crate::wire::Ctl::ReplyVia as i32 => {
                if let Ok(t) = Reader::new(&f.body).int() {
                    self.routes.feeds.reply_via(t);
                }
            }
            Kind::Req | Kind::DReq | Kind::DReply | Kind::Ctl => {
                log::debug!("ignoring {:?} frame from daemon", f.header.kind)
            }
        }
    }

    /// Files what a reader collected: new connections on the listener,
    /// frames from links, a frame from the daemon (an error: it is gone).
    fn absorb(&mut self, c: Collected) -> Result<()> {
        for l in c.listeners {
            self.routes.accept(&l);
        }
        let conn = self.conn.clone();
        for l in c.links {
            for f in self.routes.link_frames(&l, self.mytid, conn.as_deref()) {
                self.enqueue(f);
            }
        }
        // What came back on feeds first: it was there before anything the
        // daemon gives with it (src/daemon/feeds.rs, exit notices).
        for f in c.feeds {
            self.file(f);
        }
        match c.daemon {
            Some(Ok(f)) => self.file(f),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        Ok(())
    }

    /// Files the frames every link has decoded so far (after a blocked
    /// sender read them).
    fn absorb_links(&mut self) {
        let conn = self.conn.clone();
        for l in self.routes.links() {
            for f in self.routes.link_frames(&l, self.mytid, conn.as_deref()) {
                self.enqueue(f);
            }
        }
    }

    /// Puts a received message into the buffer table and the queue.
    fn enqueue(&mut self, f: Frame) {
        match f.header.kind {
            Kind::Msg => {
                let info = MsgInfo::of(&f.header);
                let enc = crate::msg::Encoding::from_code(f.header.enc)
                    .unwrap_or(crate::msg::Encoding::Default);
                let buf = match f.held {
                    Some(held) => Buffer::from_received_held(Box::new(held), info, enc),
                    None => Buffer::from_received_with_encoding(f.body, info, enc),
                };
                let id = self.bufs.insert(buf);
                // A message handler (mhf.rs) takes matching messages instead of the queue.
                // Group-internal messages (groups.rs) are never handed to handlers.
                if self.bufs.get(id).is_ok_and(|b| {
                    b.info().ctx != crate::wire::vocabulary::GROUP_CTX && mhf::claim(id, b.info())
                }) {
                    return;
                }
                self.queue.push_back(id);
            }
            _ => log::debug!("non-message frame dropped"),
        }
    }

    /// The first queued message matching source, tag and current context.
    fn find_default(&self, want: Want) -> Option<i32> {
        self.queue.iter().copied().find(|&id| {
            self.bufs.get(id).is_ok_and(|b| {
                let i = b.info();
                (want.tid == -1 || want.tid == i.src)
                    && (want.tag == -1 || want.tag == i.tag)
                    && i.ctx == self.context
            })
        })
    }
}

/// A message on its way out: its body's slices, encoding code and wait id.
struct Outgoing<'a> {
    slices: &'a [IoSlice<'a>],
    enc: i32,
    wid: i32,
}

/// Sends one message to `dst`: over a direct link when there is one, else
/// through the daemon (counted, and with PvmRouteDirect preceded by a link
/// offer). Runs under the state lock (so route choice, counts and hellos
/// agree). Returns whether a link send had to wait (and read links meanwhile).
#[allow(clippy::too_many_arguments)]
fn send_one(
    routes: &mut Routes,
    opt: i32,
    conn: &Conn,
    msg: &Outgoing<'_>,
    me: i32,
    dst: i32,
    tag: i32,
    ctx: i32,
) -> Result<bool> {
    let slices = msg.slices;
    let len: usize = slices.iter().map(|s| s.len()).sum();
    if len > crate::wire::MAX_BODY {
        return Err(Error::Overflow);
    }
    let h = crate::wire::Header {
        kind: Kind::Msg,
        len: len as u32,
        src: me,
        dst,
        tag,
        ctx,
        enc: msg.enc,
        wid: msg.wid,
    };
    if let Some(link) = routes.route(me, dst, opt, conn) {
        match link.send(&h, slices, || routes.links()) {
            Ok(blocked) => return Ok(blocked),
            Err(e) => {
                // The peer is gone: the daemon drops the message as it drops
                // any message to a task that exited (or delivers it, should
                // the peer still live). The reader closes the link.
                log::debug!("direct route to {} failed: {e}", tid::fmt(dst));
                routes.send_default(conn, &h, slices)?;
                return Ok(true);
            }
        }
    }
    routes.send_default(conn, &h, slices)?;
    Ok(false)
}

/// What pvm_precv received ([`Runtime::receive_into`]).
pub enum Precv {
    /// The body is in the caller's memory already: `len` bytes from `src`.
    Landed { src: i32, tag: i32, len: usize },
    /// Any other message, to be unpacked into the caller's memory.
    Buffer(Buffer),
}

/// What one reader round found ready (read without the state lock).
struct Collected {
    daemon: Option<Result<Frame>>,
    listeners: Vec<Arc<Listener>>,
    links: Vec<Arc<Link>>,
    /// Messages that came back on feeds.
    feeds: Vec<Frame>,
}

impl Collected {
    fn is_empty(&self) -> bool {
        self.daemon.is_none()
            && self.listeners.is_empty()
            && self.links.is_empty()
            && self.feeds.is_empty()
    }
}

/// Waits up to `timeout` for the daemon connection, the direct-route
/// listener and links, and the wake pipe; reads one frame from the daemon
/// and whatever the ready links hold.
fn collect(
    conn: &Conn,
    watch: direct::Watch,
    timeout: Option<Duration>,
    mut landing: Option<&mut Landing<'_>>,
) -> Result<Collected> {
    use crate::os::Ready;
    use std::os::fd::AsFd;
    let read = Ready {
        read: true,
        write: false,
    };
    if let Some(l) = landing.as_deref_mut() {
        if l.busy && !watch.links.iter().any(|k| k.is_landing()) {
            // The link it was landing from is gone (closed and dropped):
            // that message is lost, as a partial frame of a dead link is.
            log::debug!("direct link dropped while a message landed; that message is lost");
            l.busy = false;
        }
    }
    let mut set = vec![(conn.as_fd(), read), (watch.wake.as_fd(), read)];
    set.extend(watch.listeners.iter().map(|l| (l.fd(), read)));
    set.extend(watch.links.iter().map(|l| (l.fd(), read)));
    set.extend(watch.feeds.iter().map(|f| (f.fd(), read)));
    let i = 2 + watch.listeners.len();
    let j = i + watch.links.len();
    let rings: Vec<(usize, &crate::os::SharedMap)> = watch
        .links
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.small_in().map(|m| (i + k, m)))
        .collect();
    // Watching only the daemon and links that have rings (their listener
    // besides, for new links): what comes, comes through the rings.
    let ring_only = conn.has_rings()
        && watch.feeds.is_empty()
        && rings.len() == watch.links.len()
        && !watch.links.iter().any(|l| l.wants_socket());
    let (ready, polled) =
        spin_then_poll(&set, timeout, Some(conn), &rings, ring_only).map_err(|e| {
            log::debug!("poll failed: {e}");
            Error::SysErr
        })?;
    drop(rings);
    drop(set);
    if ready[1].read {
        Routes::drain_wake(&watch.wake);
    }
    let listeners: Vec<Arc<Listener>> = watch
        .listeners
        .into_iter()
        .zip(&ready[2..i])
        .filter(|(_, r)| r.read)
        .map(|(l, _)| l)
        .collect();
    let links: Vec<(Arc<Link>, bool)> = watch
        .links
        .into_iter()
        .zip(watch.landable)
        .zip(&ready[i..j])
        .filter(|(_, r)| r.read)
        .map(|(l, _)| l)
        .collect();
    for (l, landable) in &links {
        if !polled && !l.wants_socket() {
            // Only its ring said so: its socket holds nothing we need.
            continue;
        }
        // A link where a body is landing is always offered the landing, to finish it.
        l.fill(landing.as_deref_mut(), *landable);
    }
    let links = links.into_iter().map(|(l, _)| l).collect();
    let daemon = if ready[0].read || conn.has_input() {
        conn.try_read_frame().transpose()
    } else {
        None
    };
    // Feeds are read after the daemon's frame: what a feed brought before
    // that frame was made is then in hand too.
    let feeds = watch
        .feeds
        .iter()
        .zip(&ready[j..])
        .filter(|(_, r)| r.read || daemon.is_some())
        .flat_map(|(f, _)| f.take())
        .collect();
    Ok(Collected {
        daemon,
        listeners,
        links,
        feeds,
    })
}

/// `poll_many`, but first polling without a timeout for up to the spin
/// budget (bounded: an idle reader sleeps after it, using no CPU). With
/// `conn` (its socket first in `set`), a record in its ring from the daemon
/// counts as that socket being readable, and so does a record in the ring
/// of each of `rings` (a link's ring of small frames: the index of the
/// link's socket in `set`, and the ring); both are looked for without a
/// system call, and before sleeping the writers are asked to ring the
/// sockets. With `ring_only` (everything that comes comes through those
/// rings) most turns look only at memory. Returns what is ready and
/// whether it was a poll that said so (false: only rings were looked at).
fn spin_then_poll(
    set: &[(std::os::fd::BorrowedFd<'_>, crate::os::Ready)],
    timeout: Option<Duration>,
    conn: Option<&Conn>,
    rings: &[(usize, &crate::os::SharedMap)],
    ring_only: bool,
) -> std::io::Result<(Vec<crate::os::Ready>, bool)> {
    use crate::os::{poll_many, Ready};
    use crate::ring;
    use direct::SMALL_DIR as LINK;
    // What the rings hold now, as readiness of their sockets (None: nothing).
    let ring_ready = || {
        let mut r: Option<Vec<Ready>> = None;
        let mut mark =
            |i: usize| r.get_or_insert_with(|| vec![Ready::default(); set.len()])[i].read = true;
        if conn.is_some_and(Conn::has_input) {
            mark(0);
        }
        for (i, m) in rings {
            if ring::pending(m, LINK) {
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
            came |= ring::arm(m, LINK);
        }
        let r = match came {
            true => None,
            false => Some(poll_many(set, t)),
        };
        if let Some(c) = conn {
            c.disarm();
        }
        for (_, m) in rings {
            ring::disarm(m, LINK);
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
