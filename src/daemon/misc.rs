//! The daemon's side of the misc requests (codes 40-49 of docs/PROTOCOL.md):
//! clock samples (pvm_hostsync), debugging actions (pvm_tickle), the
//! no-reset list (PvmNoReset, pvm_getnoresets), and the registrations of a
//! tasker, a hoster and a resource manager.
//!
//! A registered tasker starts this daemon's tasks: for every task of a
//! pvm_spawn the daemon allocates the tid, records the task as spawned and
//! sends the tasker an `SM_STTASK` message (PvmDataDefault: tid, flags,
//! path, argc, argv, nenv, env — man pvm_reg_tasker), whose environment
//! holds `PVM6_TID`/`PVM6_SOCK` so the started process claims its tid when
//! it connects (PVM's PVMEPID cookie); its pid is learned then. The tasker
//! reports a task that could not start or exited with an `SM_TASKX`
//! message to the daemon (tid, status, user and system times), and the
//! daemon forgets the task. Spawns requested by the tasker itself are
//! started by the daemon (asking the tasker would deadlock it).
//!
//! A registered hoster starts slave daemons for the master: pvm_addhosts
//! queues each host's start here (`hoster_take`) and sends the hoster one
//! `SM_STHOST` (`hoster_flush`); its `SM_STHOSTACK` hands each slave's
//! reply line back to the start machinery of multi.rs.
//!
//! The resource manager's registration is served here and kept by rm.rs.
//!
//! This is a child module of `server` (declared there) so it can use the
//! daemon's state directly.

use super::server::Daemon;
use super::task::{Task, TF_SPAWNED};
use crate::daemon::log::dlog;
use crate::daemon::spawn::{Launch, SpawnRequest};
use crate::msg::{Buffer, Encoding, MsgInfo};
use crate::wire::output::Inherit;
use crate::wire::{Frame, Header, Kind, Reader, Req, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::sm::{SM_FIRST, SM_TASKX};

/// `SM_STHOST`: start slave daemons (to the hoster).
const SM_STHOST: i32 = SM_FIRST + 14;
/// `SM_STHOSTACK`: the hoster's results.
const SM_STHOSTACK: i32 = SM_FIRST + 15;
/// `SM_STTASK`: start a task (to the tasker).
const SM_STTASK: i32 = SM_FIRST + 16;

/// One slave daemon to start, as listed in an `SM_STHOST` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct HostJob {
    /// The host's tid (`pvm_config`'s hi_tid it will have).
    pub tid: i32,
    /// The hostfile's `so=` options (`pw` or empty).
    pub options: String,
    /// `[user@]host` to run the command on.
    pub login: String,
    /// The shell command to run there.
    pub command: String,
}

/// The registrations and lists this module keeps.
#[derive(Default)]
pub(super) struct Misc {
    tasker: Option<i32>,
    hoster: Option<i32>,
    noreset: BTreeSet<i32>,
    /// Tasks handed to the tasker that have not connected yet.
    starting: BTreeSet<i32>,
    /// Slave starts waiting to be sent to the hoster (with their start id).
    host_jobs: Vec<(u64, HostJob)>,
    /// Slave starts sent to the hoster: host tid → (start id, wait id).
    hosted: HashMap<i32, (u64, i32)>,
    /// The last wait id of an `SM_STHOST` message.
    host_wid: i32,
}

impl Misc {
    /// The no-reset list (the master's, which a successor keeps).
    pub(super) fn noresets(&self) -> Vec<i32> {
        self.noreset.iter().copied().collect()
    }

    /// Replaces the no-reset list (a successor taking over).
    pub(super) fn set_noresets(&mut self, list: &[i32]) {
        self.noreset = list.iter().copied().collect();
    }
}

impl Daemon {
    /// Serves a request of the misc range for the task on `token`.
    pub(super) fn misc_request(
        &mut self,
        req: Req,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let me = self.requester(token);
        match req {
            Req::HostSync => {
                let host = r.int()?;
                if host != self.me.host() && host != self.me.dtid() {
                    return Err(Error::NoHost);
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_micros() as i64)
                    .unwrap_or(0)
                    + self.opts.clock_skew_us;
                Ok(Writer::new()
                    .int(now.div_euclid(1_000_000) as i32)
                    .int(now.rem_euclid(1_000_000) as i32)
                    .finish())
            }
            Req::Tickle => {
                let n = r.count(4)?;
                let args = (0..n).map(|_| r.int()).collect::<Result<Vec<_>, _>>()?;
                let res = self.tickle(&args)?;
                let mut w = Writer::new();
                w.int(res.len() as i32);
                for v in res {
                    w.int(v);
                }
                Ok(w.finish())
            }
            Req::NoReset => {
                let on = r.int()? != 0;
                let t = me.ok_or(Error::NoTask)?;
                if on {
                    self.misc.noreset.insert(t);
                } else {
                    self.misc.noreset.remove(&t);
                }
                Ok(Vec::new())
            }
            Req::GetNoResets => {
                let live: Vec<i32> = self
                    .misc
                    .noreset
                    .iter()
                    .copied()
                    .filter(|t| self.task_alive_anywhere(*t))
                    .collect();
                self.misc.noreset = live.iter().copied().collect();
                let mut w = Writer::new();
                w.int(live.len() as i32);
                for t in live {
                    w.int(t);
                }
                Ok(w.finish())
            }
            Req::RegRm => {
                let on = r.int()? != 0;
                let t = me.ok_or(Error::NoTask)?;
                self.rm_register(t, on)?;
                dlog!(
                    self.log,
                    Info,
                    "{} {} resource manager",
                    tid::fmt(t),
                    if on {
                        "registered as"
                    } else {
                        "unregistered as"
                    }
                );
                // The master host, as pvm_reg_rm's pvmhostinfo shows it.
                Ok(self.rm_master_info())
            }
            Req::RegTasker | Req::RegHoster => {
                let on = r.int()? != 0;
                let t = me.ok_or(Error::NoTask)?;
                let current = match req {
                    Req::RegTasker => self.misc.tasker,
                    _ => self.misc.hoster,
                };
                let holder = current.filter(|&h| self.is_connected(h));
                let new = match (on, holder) {
                    (true, Some(h)) if h != t => return Err(Error::Already),
                    (true, _) => Some(t),
                    (false, Some(h)) if h != t => return Err(Error::NoTask),
                    (false, _) => None,
                };
                let what = match req {
                    Req::RegTasker => {
                        self.misc.tasker = new;
                        "tasker"
                    }
                    _ => {
                        self.misc.hoster = new;
                        "hoster"
                    }
                };
                dlog!(
                    self.log,
                    Info,
                    "{} {} {what}",
                    tid::fmt(t),
                    if on {
                        "registered as"
                    } else {
                        "unregistered as"
                    }
                );
                Ok(Vec::new())
            }
            _ => Err(Error::NotImpl),
        }
    }

    fn is_connected(&self, t: i32) -> bool {
        self.tasks.get(t).is_some_and(|task| task.conn.is_some())
    }

    /// The live tasker, if one is registered and connected.
    fn tasker(&self) -> Option<(i32, Token)> {
        let t = self.misc.tasker?;
        let conn = self.tasks.get(t)?.conn?;
        Some((t, conn))
    }

    /// Starts one task of a Spawn request from `requester`: through the
    /// registered tasker, or by forking (`start_task`).
    pub(super) fn spawn_one(
        &mut self,
        requester: i32,
        req: &SpawnRequest,
        launch: &Launch,
        cwd: &Path,
        ptid: i32,
        inherit: Inherit,
    ) -> Result<i32, Error> {
        match self.tasker() {
            Some((tasker, conn)) if tasker != requester => {
                self.start_by_tasker(tasker, conn, req, launch, cwd, ptid)
            }
            _ => self.start_task(req, launch, cwd, ptid, inherit),
        }
    }

    fn start_by_tasker(
        &mut self,
        tasker: i32,
        conn: Token,
        req: &SpawnRequest,
        launch: &Launch,
        cwd: &Path,
        ptid: i32,
    ) -> Result<i32, Error> {
        let t = self.tasks.alloc_tid().ok_or(Error::OutOfRes)?;
        let path = launch.program.to_string_lossy().into_owned();
        let mut argv = vec![path.clone()];
        argv.extend(launch.args.iter().map(|a| a.to_string_lossy().into_owned()));
        let mut env = req.env.clone();
        env.push(format!("{}={t}", crate::wire::vocabulary::ENV_TID));
        env.push(format!(
            "{}={}",
            crate::wire::vocabulary::ENV_SOCK,
            self.opts.files.sock.display()
        ));
        if cwd != self.opts.home {
            // The working directory asked for with "where:dir" (PVM has no
            // field for it; the tasker may honour it).
            env.push(format!("PVM6_WD={}", cwd.display()));
        }
        let body = pack_sttask(t, req.flags, &path, &argv, &env).map_err(|_| Error::NoMem)?;
        let frame = Frame::new(
            Header {
                src: self.me.dtid(),
                dst: tasker,
                tag: SM_STTASK,
                ..Header::new(Kind::Msg)
            },
            body,
        );
        self.send_bytes(conn, frame.to_bytes());
        self.tasks.insert(Task {
            tid: t,
            ptid,
            pid: 0,
            flags: TF_SPAWNED,
            aout: req.file.clone(),
            siblings: Vec::new(),
            conn: None,
            held: Default::default(),
        });
        self.misc.starting.insert(t);
        dlog!(
            self.log,
            Debug,
            "asked tasker {} to start {path} as {}",
            tid::fmt(tasker),
            tid::fmt(t)
        );
        Ok(t)
    }

    /// A message addressed to the daemon itself: `SM_TASKX` from the
    /// tasker. Returns whether it was consumed.
    pub(super) fn misc_daemon_message(&mut self, frame: &Frame) -> bool {
        let h = frame.header;
        if h.tag == SM_STHOSTACK {
            self.sthost_ack(frame);
            return true;
        }
        if h.tag != SM_TASKX {
            return false;
        }
        if self.misc.tasker != Some(h.src) {
            dlog!(
                self.log,
                Warn,
                "SM_TASKX from {}, which is not the tasker, dropped",
                tid::fmt(h.src)
            );
            return true;
        }
        let Some([t, status, us, uu, ss, su]) = unpack_ints::<6>(frame) else {
            dlog!(self.log, Warn, "malformed SM_TASKX from the tasker dropped");
            return true;
        };
        self.misc.starting.remove(&t);
        // A connected task is forgotten when its connection closes; one that
        // never connected is forgotten now.
        let unconnected = self
            .tasks
            .get(t)
            .is_some_and(|task| task.flags & TF_SPAWNED != 0 && task.conn.is_none());
        if unconnected {
            self.tasks.remove(t);
        }
        dlog!(
            self.log,
            Info,
            "tasker reports {} ended, status {status} (user {us}.{uu:06}s, system {ss}.{su:06}s){}",
            tid::fmt(t),
            if unconnected {
                "; it never connected"
            } else {
                ""
            }
        );
        true
    }

    /// The live hoster, if one is registered and connected.
    fn hoster(&self) -> Option<(i32, Token)> {
        let t = self.misc.hoster?;
        let conn = self.tasks.get(t)?.conn?;
        Some((t, conn))
    }

    /// Master, adding a host: with a hoster registered, queues `job` (start
    /// `id`) for the next `SM_STHOST` message and returns true; without
    /// one returns false and the daemon runs the remote shell itself.
    pub(super) fn hoster_take(&mut self, id: u64, job: HostJob) -> bool {
        if self.hoster().is_none() {
            return false;
        }
        self.misc.host_jobs.push((id, job));
        true
    }

    /// Sends the queued starts to the hoster in one `SM_STHOST` message
    /// (called once the hosts of a pvm_addhosts are all looked at).
    pub(super) fn hoster_flush(&mut self) {
        if self.misc.host_jobs.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.misc.host_jobs);
        let Some((hoster, conn)) = self.hoster() else {
            // It left in between: the starts time out.
            dlog!(
                self.log,
                Warn,
                "the hoster left; {} start(s) lost",
                jobs.len()
            );
            return;
        };
        self.misc.host_wid = self.misc.host_wid.wrapping_add(1).max(1);
        let wid = self.misc.host_wid;
        let list: Vec<HostJob> = jobs.iter().map(|(_, j)| j.clone()).collect();
        let secret = self.multi.secret().to_hex();
        let Ok(body) = pack_sthost(&list, &secret) else {
            return;
        };
        for (id, j) in jobs {
            self.misc.hosted.insert(j.tid, (id, wid));
        }
        let frame = Frame::new(
            Header {
                src: self.me.dtid(),
                dst: hoster,
                tag: SM_STHOST,
                wid,
                ..Header::new(Kind::Msg)
            },
            body,
        );
        self.send_bytes(conn, frame.to_bytes());
        dlog!(
            self.log,
            Debug,
            "asked hoster {} to start {} host(s)",
            tid::fmt(hoster),
            list.len()
        );
    }

    /// `SM_STHOSTACK` from the hoster: each host's slave reply line (the
    /// start goes on as after the daemon's own remote shell) or an error
    /// name.
    fn sthost_ack(&mut self, frame: &Frame) {
        let h = frame.header;
        if self.misc.hoster != Some(h.src) {
            dlog!(
                self.log,
                Warn,
                "SM_STHOSTACK from {}, which is not the hoster, dropped",
                tid::fmt(h.src)
            );
            return;
        }
        for (host, status) in unpack_sthostack(frame) {
            let id = match self.misc.hosted.get(&host) {
                Some(&(id, wid)) if wid == h.wid => id,
                _ => {
                    dlog!(
                        self.log,
                        Warn,
                        "SM_STHOSTACK names {} (wait id {}), which the hoster was not asked to start",
                        tid::fmt(host),
                        h.wid
                    );
                    continue;
                }
            };
            self.misc.hosted.remove(&host);
            if status.starts_with("pvm6 ") {
                self.start_line(id, &status);
            } else {
                dlog!(self.log, Warn, "hoster: {}: {status}", tid::fmt(host));
                self.start_done(id, Err(error_by_name(&status)));
            }
        }
    }

    /// The `ti_flag` bits of task `t`'s registrations (pvm_tasks, the
    /// console's `ps`): resource manager `R`, hoster `H`, tasker `T`.
    pub(super) fn role_flags(&self, t: i32) -> i32 {
        let mut f = self.rm_flag(t);
        if self.misc.hoster == Some(t) {
            f |= crate::daemon::task::TF_HOSTER;
        }
        if self.misc.tasker == Some(t) {
            f |= crate::daemon::task::TF_TASKER;
        }
        f
    }

    /// pvm_tickle actions, numbered as PVM 3.4.6's pvmd numbers them (man
    /// pvm_tickle, the console's `help tickle`); see docs/PROTOCOL.md. `args`
    /// holds 1 to 10 values; missing arguments count as 0, as in PVM 3.4.6.
    /// Like PVM 3.4.6, an action pvm6 has nothing to act on, or does not
    /// know, is logged and answered with no results (no error).
    fn tickle(&mut self, args: &[i32]) -> Result<Vec<i32>, Error> {
        let how = *args.first().ok_or(Error::BadParam)?;
        let arg = |i: usize| args.get(i).copied().unwrap_or(0);
        dlog!(self.log, Info, "tickle #{how} {:?}", &args[1..]);
        match how {
            0 => {
                dlog!(
                    self.log,
                    Info,
                    "tickle #0: no heap dump (pvm6 has no allocator of its own)"
                );
                Ok(Vec::new())
            }
            1 => {
                let lines: Vec<String> = self
                    .multi
                    .table()
                    .hosts
                    .iter()
                    .map(|h| {
                        let addrs: Vec<String> = h.addrs.iter().map(|a| a.to_string()).collect();
                        format!(
                            "host {} {} arch {} speed {} dsig 0x{:x} daemon {} addrs [{}]",
                            tid::fmt(h.host()),
                            h.name,
                            h.arch,
                            h.speed,
                            h.dsig,
                            tid::fmt(h.dtid()),
                            addrs.join(" ")
                        )
                    })
                    .collect();
                dlog!(
                    self.log,
                    Info,
                    "host table: {} host(s), version {}, master {}",
                    lines.len(),
                    self.multi.table().version,
                    tid::fmt(self.multi.master())
                );
                for l in lines {
                    dlog!(self.log, Info, "  {l}");
                }
                Ok(Vec::new())
            }
            2 => {
                let lines: Vec<String> = self
                    .tasks
                    .iter()
                    .map(|t| {
                        format!(
                            "task {} parent {} pid {} flag 0x{:x} {} held {} {}",
                            tid::fmt(t.tid),
                            tid::fmt(t.ptid.max(0)),
                            t.pid,
                            t.flags,
                            if t.conn.is_some() {
                                "connected"
                            } else {
                                "unconnected"
                            },
                            t.held.len(),
                            t.aout
                        )
                    })
                    .collect();
                dlog!(self.log, Info, "task table: {} task(s)", lines.len());
                for l in lines {
                    dlog!(self.log, Info, "  {l}");
                }
                Ok(Vec::new())
            }
            3 => {
                let tasks = &self.tasks;
                self.misc
                    .starting
                    .retain(|t| tasks.get(*t).is_some_and(|task| task.conn.is_none()));
                let waiting: Vec<String> =
                    self.misc.starting.iter().map(|t| tid::fmt(*t)).collect();
                dlog!(
                    self.log,
                    Info,
                    "waits: tasks handed to the tasker, not connected yet: [{}]",
                    waiting.join(" ")
                );
                Ok(Vec::new())
            }
            4 => {
                let classes = self.mbox.info(b"");
                dlog!(
                    self.log,
                    Info,
                    "mailbox: {} class(es), {} request(s) waiting",
                    classes.len(),
                    self.mbox.waiting()
                );
                for c in classes {
                    let entries: Vec<String> = c
                        .entries
                        .iter()
                        .map(|(i, owner, flags)| format!("{i}:{}/0x{flags:x}", tid::fmt(*owner)))
                        .collect();
                    dlog!(
                        self.log,
                        Info,
                        "  \"{}\" {}",
                        String::from_utf8_lossy(&c.name),
                        entries.join(" ")
                    );
                }
                Ok(Vec::new())
            }
            5 => Ok(vec![self.opts.debug_mask as i32]),
            6 => {
                let mask = arg(1);
                self.opts.debug_mask = mask as u32;
                self.log = super::log::DaemonLog::open(
                    &self.opts.files.log,
                    &self.opts.files.fallback_log(),
                    self.me.dtid(),
                    mask != 0,
                    self.opts.log_facade,
                );
                dlog!(self.log, Info, "debug mask is 0x{mask:x}");
                Ok(Vec::new())
            }
            7 => {
                dlog!(
                    self.log,
                    Info,
                    "tickle #7: nopax {} has no effect (pvm6's daemons talk over TCP, no packet windows)",
                    arg(1)
                );
                Ok(Vec::new())
            }
            8 => {
                // Host failure test: the host of tid arg(1) is removed as if
                // it had failed (its link closes, notify(HostDelete) fires).
                let target = self
                    .multi
                    .table()
                    .by_tid(arg(1))
                    .map(|h| (h.host(), h.name.clone()));
                match target {
                    Some((h, name)) if h != self.me.host() && self.multi.is_master() => {
                        dlog!(self.log, Info, "tickle #8: failing {name}");
                        self.remove_host(h, "failed (pvm_tickle 8)");
                        Ok(vec![1])
                    }
                    Some((_, name)) => {
                        dlog!(
                            self.log,
                            Info,
                            "tickle #8: can't fail {name} (this host, or not the master)"
                        );
                        Ok(vec![0])
                    }
                    None => {
                        dlog!(self.log, Info, "tickle #8: no such host {:x}", arg(1));
                        Ok(vec![0])
                    }
                }
            }
            9 => {
                dlog!(
                    self.log,
                    Info,
                    "stats: {} connection(s), {} task(s), {} child process(es), {} output pipe(s), {} context(s) allocated",
                    self.conns.len(),
                    self.tasks.len(),
                    self.children.count(),
                    self.children.pipe_count(),
                    self.me.contexts()
                );
                Ok(Vec::new())
            }
            100 => {
                dlog!(
                    self.log,
                    Info,
                    "tickle #100: no shared-memory tables to dump (pvm6 uses per-task rings)"
                );
                Ok(Vec::new())
            }
            _ => {
                dlog!(self.log, Info, "tickle: don't know #{how}");
                Ok(Vec::new())
            }
        }
    }
}

/// The body of an `SM_STTASK` message (PvmDataDefault).
fn pack_sttask(
    t: i32,
    flags: i32,
    path: &str,
    argv: &[String],
    env: &[String],
) -> crate::Result<Vec<u8>> {
    let mut b = Buffer::new(Encoding::Default);
    b.pack(&[t, flags], 2, 1)?;
    b.pack_str(path.as_bytes())?;
    b.pack(&[argv.len() as i32], 1, 1)?;
    for a in argv {
        b.pack_str(a.as_bytes())?;
    }
    b.pack(&[env.len() as i32], 1, 1)?;
    for e in env {
        b.pack_str(e.as_bytes())?;
    }
    Ok(b.into_bytes())
}

/// The body of an `SM_STHOST` message (PvmDataDefault): int nhosts, then
/// per host int tid, string options, string login, string command; then
/// pvm6's addition, the string the hoster writes (with a newline) to each
/// started command's standard input: the machine's secret.
fn pack_sthost(jobs: &[HostJob], secret: &str) -> crate::Result<Vec<u8>> {
    let mut b = Buffer::new(Encoding::Default);
    b.pack(&[jobs.len() as i32], 1, 1)?;
    for j in jobs {
        b.pack(&[j.tid], 1, 1)?;
        b.pack_str(j.options.as_bytes())?;
        b.pack_str(j.login.as_bytes())?;
        b.pack_str(j.command.as_bytes())?;
    }
    b.pack_str(secret.as_bytes())?;
    Ok(b.into_bytes())
}

/// The (tid, status) pairs of an `SM_STHOSTACK` message (implied count:
/// as many as unpack).
fn unpack_sthostack(frame: &Frame) -> Vec<(i32, String)> {
    let Some(mut b) = received(frame) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    loop {
        let mut t = [0i32];
        if b.unpack(&mut t, 1, 1).is_err() {
            break;
        }
        let Ok(s) = b.unpack_str() else {
            break;
        };
        out.push((t[0], String::from_utf8_lossy(&s).trim().to_string()));
    }
    out
}

/// The error a hoster names (`PvmCantStart`, `PvmDSysErr`, ...; man
/// pvm_reg_hoster); anything else is PvmCantStart.
fn error_by_name(name: &str) -> Error {
    (1..=36)
        .filter_map(|k| Error::from_code(-k))
        .find(|e| format!("Pvm{e:?}") == name)
        .unwrap_or(Error::CantStart)
}

/// A message frame as a buffer to unpack, in its own encoding (None for an
/// unknown encoding).
fn received(frame: &Frame) -> Option<Buffer> {
    let enc = Encoding::from_code(frame.header.enc).ok()?;
    Some(Buffer::from_received_with_encoding(
        frame.body.clone(),
        MsgInfo::of(&frame.header),
        enc,
    ))
}

/// The first `N` ints of a message body in the frame's encoding.
fn unpack_ints<const N: usize>(frame: &Frame) -> Option<[i32; N]> {
    let mut b = received(frame)?;
    let mut out = [0i32; N];
    b.unpack(&mut out, N, 1).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sttask_body_unpacks_in_man_page_order() {
        let body = pack_sttask(
            0x40003,
            4,
            "/bin/x",
            &["/bin/x".into(), "a".into()],
            &["A=1".into()],
        )
        .unwrap();
        let mut b =
            Buffer::from_received_with_encoding(body, MsgInfo::default(), Encoding::Default);
        let mut v = [0i32; 2];
        b.unpack(&mut v, 2, 1).unwrap();
        assert_eq!(v, [0x40003, 4]);
        assert_eq!(b.unpack_str().unwrap(), b"/bin/x");
        let mut n = [0i32; 1];
        b.unpack(&mut n, 1, 1).unwrap();
        assert_eq!(n[0], 2);
        assert_eq!(b.unpack_str().unwrap(), b"/bin/x");
        assert_eq!(b.unpack_str().unwrap(), b"a");
        b.unpack(&mut n, 1, 1).unwrap();
        assert_eq!(n[0], 1);
        assert_eq!(b.unpack_str().unwrap(), b"A=1");
    }

    #[test]
    fn taskx_ints_read_from_a_frame() {
        let mut b = Buffer::new(Encoding::Default);
        b.pack(&[0x40005, 256, 1, 2, 3, 4], 6, 1).unwrap();
        let f = Frame::new(
            Header {
                tag: SM_TASKX,
                ..Header::new(Kind::Msg)
            },
            b.into_bytes(),
        );
        assert_eq!(unpack_ints::<6>(&f), Some([0x40005, 256, 1, 2, 3, 4]));
        assert_eq!(unpack_ints::<7>(&f), None);
    }
}
