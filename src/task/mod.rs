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
//! routes (`route`, `link`, `transport`), on the task's links and listener too
//! (one poll; `reader`).
//!
//! The public functions here are the safe API the C entry points call; their
//! names follow the C functions they serve (`spawn` for `pvm_spawn`, ...).

mod api;
pub mod compat;
mod conn;
mod enroll;
mod feed;
#[doc(hidden)]
pub mod fuzz;
pub mod groups;
mod hosts;
mod link;
pub mod logging;
mod mailbox;
pub mod mhf;
pub mod misc;
mod notify;
mod options;
mod output;
mod reader;
mod recvq;
mod route;
mod shm;
mod spin;
pub mod trace;
mod transport;

pub use api::*;
pub use conn::{ENV_NOAUTOSTART, ENV_SOCK, ENV_TID};
pub use hosts::{addhosts, delhosts};
pub use mailbox::*;
pub use misc::*;
pub use notify::notify;
pub use options::Options;
pub use output::{catchout, OutputSink, CATCHOUT_CODE, CATCHOUT_CTX};
pub use recvq::Precv;

use crate::msg::BufferTable;
use crate::sync::Locked;
use crate::wire::{Frame, Kind, Reader, Writer};
use crate::{tid, Error, Result};
use conn::Conn;
use route::Routes;
use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

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
    /// The largest message body the daemon takes (its Connect reply says;
    /// `$PVM6_MAX_MESSAGE` or the default before): larger sends fail with
    /// PvmNoMem on every route.
    pub max_message: usize,
}

/// The process-wide runtime.
pub struct Runtime {
    state: Mutex<State>,
    /// Signalled when a frame was filed or the reader finished.
    filed: Condvar,
    /// Serialises enrollment (connecting and the Connect request).
    enroll: Mutex<()>,
    /// Whether feeds to other hosts' daemons may be used (read once from
    /// the environment, at the first send that could take one).
    feeds_enabled: OnceLock<bool>,
    /// Output collection of children (pvm_catchout; `output`).
    catch: Mutex<output::Catch>,
    /// Message handlers (pvm_addmhf; `mhf`).
    mhf: Mutex<mhf::Table>,
    /// Trace masks (pvm_settmask; `misc`).
    masks: Mutex<misc::Masks>,
    /// Members of frozen groups (`groups`).
    frozen: Mutex<Option<groups::FrozenCache>>,
    /// Trace events (`trace`).
    trace: trace::Trace,
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
                max_message: crate::wire::max_message_from_env(),
            }),
            filed: Condvar::new(),
            enroll: Mutex::new(()),
            feeds_enabled: OnceLock::new(),
            catch: Mutex::default(),
            mhf: Mutex::default(),
            masks: Mutex::default(),
            frozen: Mutex::new(None),
            trace: trace::Trace::default(),
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

impl Runtime {
    /// Locks the state (a panic in another thread does not poison PVM).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    /// Our tid, or 0 when not enrolled (never connects).
    pub fn tid_if_enrolled(&self) -> i32 {
        self.lock().mytid
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
            max: st.max_message,
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
        let st = self.lock();
        if !*self.feeds_enabled.get_or_init(feed::enabled) {
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
                Some((secret, addrs, level)) => self
                    .request(
                        crate::wire::Req::DaemonAddr,
                        &Writer::new().int(host).finish(),
                    )
                    .and_then(|b| Reader::new(&b).str())
                    .map_err(|e| e.text().to_string())
                    .and_then(|list| {
                        feed::open(&list, addrs, secret, me, *level)
                            .map_err(|e| format!("{list}: {e}"))
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
            max: st.max_message,
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
        trace::rearm(&st);
        st.parent = Error::NoParent.code();
        st.siblings.clear();
        st.queue.clear();
        st.replies.clear();
        mhf::drop_pending(&mut st);
        mhf::exit();
        r.map(|_| ())
    }
}

/// A message on its way out: its body's slices, encoding code and wait id,
/// and the largest body allowed.
struct Outgoing<'a> {
    slices: &'a [IoSlice<'a>],
    enc: i32,
    wid: i32,
    max: usize,
}

/// Sends one message to `dst` by the route [`Routes::send`] chooses. Runs
/// under the state lock (so route choice, counts and hellos agree). Returns
/// whether a link send had to wait (and read links meanwhile).
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
    if len > msg.max {
        log::debug!(
            "message of {len} bytes over the largest ({} bytes, {})",
            msg.max,
            crate::wire::ENV_MAX_MESSAGE
        );
        return Err(Error::NoMem);
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
    routes.send(conn, me, opt, &h, slices)
}
