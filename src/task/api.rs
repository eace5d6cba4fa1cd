//! The safe task API: one function per PVM call that needs the daemon or the
//! task's identity. Buffer packing lives in [`crate::msg`]; the C entry
//! points in [`crate::ffi`] call these.

use super::compat::debug as dbg;
use super::logging::debug;
use super::{rt, Matcher};
use crate::msg::Encoding;
use crate::wire::{Reader, Req, Writer};
use crate::{tid, Error, Result};
use std::time::Duration;

/// A host as pvm_config reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub tid: i32,
    pub name: String,
    pub arch: String,
    pub speed: i32,
    pub dsig: i32,
}

/// A task as pvm_tasks reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    pub tid: i32,
    pub ptid: i32,
    pub host: i32,
    pub flag: i32,
    pub name: String,
    pub pid: i32,
}

/// pvm_mytid.
pub fn mytid() -> Result<i32> {
    rt().mytid()
}

/// pvm_exit.
pub fn exit() -> Result<()> {
    debug(dbg::TASK, || "pvm_exit()".into());
    rt().exit()
}

/// Debug line for a message taken by a receive call (buffer `id`, 0: none).
fn received(call: &str, id: i32) {
    if id > 0 && super::logging::debugging(dbg::MESSAGE) {
        if let Ok((len, tag, src)) = bufinfo(id) {
            debug(dbg::MESSAGE, || {
                format!(
                    "{call}() got message src {} tag {tag} len {len} (buffer {id})",
                    tid::fmt(src)
                )
            });
        }
    }
}

/// Debug line for a message sent by `call`.
fn sent(call: &str, dsts: &[i32], tag: i32) {
    debug(dbg::MESSAGE, || {
        let to: Vec<String> = dsts.iter().map(|&t| tid::fmt(t)).collect();
        format!(
            "{call}() dst {} tag {tag} ctx {}",
            to.join(","),
            rt().lock().context
        )
    });
}

/// pvm_parent: the parent's tid, `Err(NoParent)` without one.
pub fn parent() -> Result<i32> {
    rt().mytid()?;
    let p = rt().lock().parent;
    if p <= 0 {
        Err(Error::from_code(p).unwrap_or(Error::NoParent))
    } else {
        Ok(p)
    }
}

/// pvm_siblings: the tids spawned together with this task (just ours when
/// it was not spawned).
pub fn siblings() -> Result<Vec<i32>> {
    let me = rt().mytid()?;
    let st = rt().lock();
    Ok(if st.siblings.is_empty() {
        vec![me]
    } else {
        st.siblings.clone()
    })
}

/// pvm_spawn: starts `ntask` copies of `file`; returns one entry per task,
/// a tid or an error code.
pub fn spawn(
    file: &str,
    argv: &[String],
    flags: i32,
    where_: Option<&str>,
    ntask: i32,
) -> Result<Vec<i32>> {
    if ntask < 1 || file.is_empty() {
        return Err(Error::BadParam);
    }
    rt().mytid()?;
    let mut exported: Vec<String> = exported_env();
    let inherit = {
        let st = rt().lock();
        super::misc::spawn_extras(flags, &mut exported, &st.opts)?;
        super::output::spawn_settings(&st.opts, st.context)
    };
    let mut w = Writer::new();
    w.str(file)
        .int(flags)
        .str(where_.unwrap_or(""))
        .int(ntask)
        .strs(argv)
        .strs(&exported);
    inherit.write(&mut w);
    let body = w.finish();
    let reply = rt().request(Req::Spawn, &body)?;
    let mut r = Reader::new(&reply);
    let _count = r.int()?;
    (0..ntask).map(|_| r.int()).collect()
}

/// The `NAME=value` pairs named by `$PVM_EXPORT` (colon separated), passed
/// to spawned tasks.
pub(super) fn exported_env() -> Vec<String> {
    let Ok(list) = std::env::var("PVM_EXPORT") else {
        return Vec::new();
    };
    let mut v = vec![format!("PVM_EXPORT={list}")];
    for name in list.split(':').filter(|n| !n.is_empty()) {
        if let Ok(val) = std::env::var(name) {
            v.push(format!("{name}={val}"));
        }
    }
    v
}

fn tid_request(req: Req, t: i32, extra: Option<i32>) -> Result<()> {
    if !tid::is_task(t) {
        return Err(Error::BadParam);
    }
    let mut w = Writer::new();
    w.int(t);
    if let Some(x) = extra {
        w.int(x);
    }
    rt().request(req, &w.finish()).map(|_| ())
}

/// pvm_kill: terminates task `t` (not ourselves: use pvm_exit).
pub fn kill(t: i32) -> Result<()> {
    tid_request(Req::Kill, t, None)
}

/// pvm_sendsig: sends signal `sig` to task `t`.
pub fn sendsig(t: i32, sig: i32) -> Result<()> {
    if !(0..65).contains(&sig) {
        return Err(Error::BadParam);
    }
    tid_request(Req::SendSig, t, Some(sig))
}

/// pvm_pstat: Ok when task `t` runs, `Err(NoTask)` when not.
pub fn pstat(t: i32) -> Result<()> {
    if !tid::is_task(t) {
        return Err(Error::BadParam);
    }
    tid_request(Req::Pstat, t, None)
}

/// pvm_mstat: Ok when host `name` is in the machine and running.
pub fn mstat(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::BadParam);
    }
    rt().request(Req::Mstat, &Writer::new().str(name).finish())
        .map(|_| ())
}

/// pvm_tidtohost: the host part of `t` (as PVM 3.4 does, by masking, with
/// no check that the host exists).
pub fn tidtohost(t: i32) -> Result<i32> {
    Ok(tid::host_of(t))
}

/// pvm_config: the number of architectures and the hosts.
pub fn config() -> Result<(i32, Vec<HostInfo>)> {
    let reply = rt().request(Req::Config, &[])?;
    let mut r = Reader::new(&reply);
    let nhost = r.count(20)?;
    let narch = r.int()?;
    let hosts = (0..nhost)
        .map(|_| {
            Ok(HostInfo {
                tid: r.int()?,
                name: r.str()?,
                arch: r.str()?,
                speed: r.int()?,
                dsig: r.int()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((narch, hosts))
}

/// The hosts the local daemon suspects (silent for a few heartbeats, not
/// yet declared dead), as (daemon tid, seconds silent), and the machine's
/// host timeout in seconds: what the console's `conf` shows beside
/// pvm_config's table (read from the end of the same reply).
pub fn host_suspicions() -> Result<(u32, Vec<(i32, u32)>)> {
    let reply = rt().request(Req::Config, &[])?;
    let mut r = Reader::new(&reply);
    let nhost = r.count(20)?;
    let _narch = r.int()?;
    for _ in 0..nhost {
        r.int()?;
        r.str()?;
        r.str()?;
        r.int()?;
        r.int()?;
    }
    let Ok(timeout) = r.int() else {
        return Ok((0, Vec::new()));
    };
    let n = r.count(8)?;
    let list = (0..n)
        .map(|_| Ok((r.int()?, r.int()?.max(0) as u32)))
        .collect::<Result<Vec<_>>>()?;
    Ok((timeout.max(0) as u32, list))
}

/// pvm_tasks: tasks of the machine (`where_` 0), of one host (a daemon
/// tid) or one task.
pub fn tasks(where_: i32) -> Result<Vec<TaskInfo>> {
    let reply = rt().request(Req::Tasks, &Writer::new().int(where_).finish())?;
    let mut r = Reader::new(&reply);
    let n = r.count(24)?;
    (0..n)
        .map(|_| {
            Ok(TaskInfo {
                tid: r.int()?,
                ptid: r.int()?,
                host: r.int()?,
                flag: r.int()?,
                name: r.str()?,
                pid: r.int()?,
            })
        })
        .collect()
}

/// pvm_halt: stops the whole machine. The daemon closing the connection
/// before its reply is the expected outcome (PVM 3.4.6's pvm_halt returns
/// 0 then), so that is success too.
pub fn halt() -> Result<()> {
    rt().mytid()?;
    let r = match rt().request(Req::Halt, &[]) {
        Ok(_) | Err(Error::SysErr) => Ok(()),
        Err(e) => Err(e),
    };
    let mut st = rt().lock();
    st.conn = None;
    st.set_mytid(0);
    r
}

/// pvm_archcode: the data signature of architecture `arch`, as the hosts of
/// the machine report it (equal codes exchange raw data); `Err(NotFound)`
/// when no host of the machine has that architecture.
pub fn archcode(arch: &str) -> Result<i32> {
    let (_, hosts) = config()?;
    hosts
        .iter()
        .find(|h| h.arch == arch)
        .map(|h| h.dsig)
        .ok_or(Error::NotFound)
}

/// pvm_newcontext: a context unique on this machine (pvm_setcontext makes
/// it current).
pub fn newcontext() -> Result<i32> {
    let reply = rt().request(Req::NewContext, &[])?;
    Reader::new(&reply).int()
}

/// pvm_setcontext: makes `ctx` current; returns the previous one.
pub fn setcontext(ctx: i32) -> Result<i32> {
    if ctx < 0 {
        return Err(Error::BadParam);
    }
    rt().mytid()?;
    Ok(std::mem::replace(&mut rt().lock().context, ctx))
}

/// pvm_getcontext: the current context.
pub fn getcontext() -> Result<i32> {
    rt().mytid()?;
    Ok(rt().lock().context)
}

/// pvm_freecontext: gives a context back.
pub fn freecontext(ctx: i32) -> Result<()> {
    if ctx <= 0 {
        return Err(Error::BadParam);
    }
    rt().request(Req::FreeContext, &Writer::new().int(ctx).finish())
        .map(|_| ())
}

/// pvm_getopt.
pub fn getopt(what: i32) -> Result<i32> {
    rt().lock().opts.get(what)
}

/// pvm_setopt: returns the previous value. A change of the task's own
/// output destination (PvmSelfOutput*) is told to the daemon.
pub fn setopt(what: i32, val: i32) -> Result<i32> {
    // As in PVM 3.4.6, the daemon is told (and the task enrolled) only
    // when the task's own output has or gets a destination: PVM's console
    // sets PvmSelfOutputTid to -1 before it starts the daemon.
    let local_only = {
        let st = rt().lock();
        st.opts.self_output_tid <= 0 && (what != crate::consts::PvmSelfOutputTid || val <= 0)
    };
    if !super::output::moves_own_output(what) || local_only {
        let old = {
            let mut st = rt().lock();
            let old = st.opts.set(what, val)?;
            super::trace::rearm(&st);
            old
        };
        super::misc::option_changed(what, old, val)?;
        return Ok(old);
    }
    // Enroll first, so the settings inherited at enrollment do not
    // overwrite the one being set.
    rt().mytid()?;
    let old = {
        let mut st = rt().lock();
        let old = st.opts.set(what, val)?;
        super::trace::rearm(&st);
        old
    };
    super::output::send_own_output()?;
    super::misc::option_changed(what, old, val)?;
    Ok(old)
}

/// pvm_send of the active send buffer.
pub fn send(dst: i32, tag: i32) -> Result<()> {
    if dst == super::trace::USER_TID && tag == super::trace::USER_CODE {
        return super::trace::user_event();
    }
    rt().send(dst, tag)?;
    sent("pvm_send", &[dst], tag);
    Ok(())
}

/// pvm_mcast of the active send buffer.
pub fn mcast(dsts: &[i32], tag: i32) -> Result<()> {
    rt().mcast(dsts, tag)?;
    sent("pvm_mcast", dsts, tag);
    Ok(())
}

/// pvm_psend: sends `buf` (packed by the caller) without touching the
/// active send buffer.
pub fn psend(dst: i32, tag: i32, body: &[u8]) -> Result<()> {
    if tag < 0 || (!tid::is_task(dst) && !tid::is_daemon(dst)) {
        return Err(Error::BadParam);
    }
    rt().send_bytes(body, Encoding::Raw.code(), dst, tag, None)?;
    sent("pvm_psend", &[dst], tag);
    Ok(())
}

/// pvm_recv: blocks until a matching message arrives; returns its buffer id.
pub fn recv(t: i32, tag: i32) -> Result<i32> {
    let id = rt().receive(t, tag, None, true)?;
    received("pvm_recv", id);
    Ok(id)
}

/// pvm_nrecv: a matching message's buffer id, or 0 when none has arrived.
pub fn nrecv(t: i32, tag: i32) -> Result<i32> {
    let id = rt().receive(t, tag, Some(Duration::ZERO), true)?;
    received("pvm_nrecv", id);
    Ok(id)
}

/// pvm_trecv: like recv, but gives up (0) after `timeout` (None: forever).
pub fn trecv(t: i32, tag: i32, timeout: Option<Duration>) -> Result<i32> {
    let id = rt().receive(t, tag, timeout, true)?;
    received("pvm_trecv", id);
    Ok(id)
}

/// pvm_probe: the buffer id of a matching arrived message (left queued), or 0.
pub fn probe(t: i32, tag: i32) -> Result<i32> {
    rt().receive(t, tag, Some(Duration::ZERO), false)
}

/// pvm_precv into `dst`: a large body may land there directly
/// ([`Runtime::receive_into`]).
pub fn precv_into(t: i32, tag: i32, dst: &mut [u8], bytes_only: bool) -> Result<super::Precv> {
    rt().receive_into(t, tag, dst, bytes_only)
}

/// pvm_recvf: installs a matcher (None restores the default); returns the old one.
pub fn recvf(m: Option<Matcher>) -> Option<Matcher> {
    rt().set_matcher(m)
}

/// Runs `f` on the buffer table (pvm_mkbuf, pvm_pk*, pvm_upk*, ...).
pub fn with_bufs<R>(f: impl FnOnce(&mut crate::msg::BufferTable) -> Result<R>) -> Result<R> {
    f(&mut rt().lock().bufs)
}

/// pvm_bufinfo: (bytes, tag, source tid) of buffer `id` (bytes as
/// [`crate::msg::Buffer::reported_len`] counts them).
pub fn bufinfo(id: i32) -> Result<(i32, i32, i32)> {
    if id <= 0 {
        return Err(Error::BadParam);
    }
    with_bufs(|t| {
        let b = t.get(id)?;
        Ok((b.reported_len() as i32, b.info().tag, b.info().src))
    })
}

/// pvm_initsend: a fresh active send buffer with `enc`.
pub fn initsend(enc: i32) -> Result<i32> {
    let enc = Encoding::from_code(enc)?;
    with_bufs(|t| t.initsend(enc))
}

/// pvm_perror: prints `libpvm [t40001]: <msg>: <text of pvm_errno>`.
pub fn perror(msg: &str, errno: i32) {
    let text = crate::error::text_of(errno);
    let line = if msg.is_empty() {
        text
    } else {
        format!("{msg}: {text}")
    };
    report_line(&line);
}

/// Writes one `libpvm [tXXX]: ...` line to stderr (`libpvm [pidN]` before
/// the task has a tid), as the original's error reports do.
pub fn report_line(line: &str) {
    use std::io::Write;
    let who = super::logging::who();
    let _ = writeln!(std::io::stderr().lock(), "libpvm [{who}]: {line}");
}

/// The automatic error report of a failed call (PvmAutoErr): prints
/// `libpvm [t40001]: pvm_send(): Bad parameter`, and exits or aborts for
/// settings 2 and 3.
pub fn auto_error(func: &str, err: Error) {
    let mode = rt().lock().opts.auto_err;
    if mode == 0 {
        return;
    }
    report_line(&format!("{func}(): {}", err.text()));
    match mode {
        2 => {
            let _ = exit();
            std::process::exit(1);
        }
        3 => std::process::abort(),
        _ => {}
    }
}

/// The descriptors a program may select() on for incoming messages
/// (pvm_getfds): the daemon connection first, then the direct-route listener
/// and links, if any.
pub fn fds() -> Result<Vec<i32>> {
    let conn = rt().conn()?;
    // The program will poll the socket itself for messages: the daemon
    // must ring it for each one it puts in the shared ring.
    conn.ring_always();
    let mut v = vec![conn.fd()];
    v.extend(rt().lock().routes.fds());
    Ok(v)
}

/// What libpvm 3.4 kept in its globals `pvmmyctx` and `pvmctrc` (which
/// some programs, like Debian's srm.pvm, read directly): the current
/// context and the settings children get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Internals {
    /// The current message context (as pvm_getcontext returns it).
    pub context: i32,
    /// Children's trace tid, context, tag, output tid, context, tag, trace
    /// buffer and trace options, in `struct Pvmtracer` order.
    pub child: [i32; 8],
    /// Children's trace mask (pvm_gettmask(PvmTaskChild)).
    pub child_tmask: String,
    /// The task's own trace tid, context, tag, output tid, context, tag,
    /// trace buffer and trace options (the `PvmSelf*` options), in
    /// `struct Pvmtracer` order.
    pub own: [i32; 8],
    /// The task's own trace mask (pvm_gettmask(PvmTaskSelf)).
    pub own_tmask: String,
}

/// The [`Internals`] of an enrolled task; None before enrollment (this
/// never enrolls).
pub fn internals() -> Option<Internals> {
    use crate::consts::*;
    let mut st = rt().lock();
    if st.mytid <= 0 {
        return None;
    }
    let mut child = [0i32; 8];
    let which = [
        PvmTraceTid,
        PvmTraceContext,
        PvmTraceCode,
        PvmOutputTid,
        PvmOutputContext,
        PvmOutputCode,
        PvmTraceBuffer,
        PvmTraceOptions,
    ];
    for (v, w) in child.iter_mut().zip(which) {
        *v = st.opts.get(w).unwrap_or(0);
    }
    let mut own = [0i32; 8];
    let which = [
        PvmSelfTraceTid,
        PvmSelfTraceContext,
        PvmSelfTraceCode,
        PvmSelfOutputTid,
        PvmSelfOutputContext,
        PvmSelfOutputCode,
        PvmSelfTraceBuffer,
        PvmSelfTraceOptions,
    ];
    for (v, w) in own.iter_mut().zip(which) {
        *v = st.opts.get(w).unwrap_or(0);
    }
    let context = st.context;
    drop(st);
    let child_tmask = super::misc::gettmask(super::misc::TASK_CHILD).unwrap_or_default();
    let own_tmask = super::misc::gettmask(super::misc::TASK_SELF).unwrap_or_default();
    Some(Internals {
        context,
        child,
        child_tmask,
        own,
        own_tmask,
    })
}
