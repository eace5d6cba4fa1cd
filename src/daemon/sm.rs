//! The scheduler (`SM_`) messages between the resource manager, the
//! daemons and the tasks: their tags, and turning requests into them and
//! their answers back into replies (the state is in rm.rs).

use crate::daemon::spawn::SpawnRequest;
use crate::msg::{Buffer, Encoding, MsgInfo};
use crate::wire::output::Inherit;
use crate::wire::{Frame, Reader, Req, Writer};
use crate::Error;

/// The first tag of the scheduler messages (PVM 3.4's `SM_FIRST`).
pub(super) const SM_FIRST: i32 = 0x8004_0001_u32 as i32;
/// A task's pvm_spawn, to the RM, and the RM's answer.
pub(super) const SM_SPAWN: i32 = SM_FIRST;
/// The RM asks a daemon to start tasks.
pub(super) const SM_EXEC: i32 = SM_FIRST + 1;
/// A daemon's answer to `SM_EXEC`; also "a task enrolled".
pub(super) const SM_EXECACK: i32 = SM_FIRST + 2;
/// A task's pvm_tasks, to the RM, and the answer.
pub(super) const SM_TASK: i32 = SM_FIRST + 3;
/// A task's pvm_config, to the RM, and the answer.
pub(super) const SM_CONFIG: i32 = SM_FIRST + 4;
/// A task's pvm_addhosts, to the RM, and the answer.
pub(super) const SM_ADDHOST: i32 = SM_FIRST + 5;
/// A task's pvm_delhosts, to the RM, and the answer.
pub(super) const SM_DELHOST: i32 = SM_FIRST + 6;
/// The RM asks the master to add hosts.
pub(super) const SM_ADD: i32 = SM_FIRST + 7;
/// The master's answer to `SM_ADD`.
pub(super) const SM_ADDACK: i32 = SM_FIRST + 8;
/// A task's pvm_notify, to the RM (no answer).
pub(super) const SM_NOTIFY: i32 = SM_FIRST + 9;
/// A task left (to the RM); from a tasker, a task it started ended.
pub(super) const SM_TASKX: i32 = SM_FIRST + 10;
/// A host left the machine (to the RM).
pub(super) const SM_HOSTX: i32 = SM_FIRST + 11;
/// The RM hands its role to another task.
pub(super) const SM_HANDOFF: i32 = SM_FIRST + 12;
/// Another task's pvm_reg_rm, to the RM, and the RM's answer.
pub(super) const SM_SCHED: i32 = SM_FIRST + 13;

/// Largest count accepted in an `SM_` message.
pub(super) const MAX_COUNT: i32 = 4096;

/// Reads the items of a received message body, in its encoding.
pub(super) struct Items(pub(super) Buffer);

impl Items {
    pub(super) fn of(frame: &Frame) -> Option<Items> {
        let enc = Encoding::from_code(frame.header.enc).ok()?;
        Some(Items(Buffer::from_received_with_encoding(
            frame.body.clone(),
            MsgInfo::of(&frame.header),
            enc,
        )))
    }
    pub(super) fn int(&mut self) -> Option<i32> {
        let mut v = [0i32];
        self.0.unpack(&mut v, 1, 1).ok()?;
        Some(v[0])
    }
    pub(super) fn count(&mut self) -> Option<usize> {
        self.int()
            .filter(|n| (0..=MAX_COUNT).contains(n))
            .map(|n| n as usize)
    }
    pub(super) fn str(&mut self) -> Option<String> {
        self.0
            .unpack_str()
            .ok()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
    }
    pub(super) fn strs(&mut self, n: usize) -> Option<Vec<String>> {
        (0..n).map(|_| self.str()).collect()
    }
}

/// Packs ints and strings into a PvmDataDefault body.
#[derive(Default)]
pub(super) struct Packer(pub(super) Option<Buffer>);

impl Packer {
    pub(super) fn new() -> Packer {
        Packer(Some(Buffer::new(Encoding::Default)))
    }
    pub(super) fn int(&mut self, v: i32) -> &mut Packer {
        if let Some(b) = &mut self.0 {
            if b.pack(&[v], 1, 1).is_err() {
                self.0 = None;
            }
        }
        self
    }
    pub(super) fn str(&mut self, s: &str) -> &mut Packer {
        if let Some(b) = &mut self.0 {
            if b.pack_str(s.as_bytes()).is_err() {
                self.0 = None;
            }
        }
        self
    }
    pub(super) fn finish(&mut self) -> Option<Vec<u8>> {
        self.0.take().map(Buffer::into_bytes)
    }
}

/// The body of the `SM_` message for request `req` of a task (its pvm6
/// request body in `body`), as libpvm 3.4.6 packs it, with the count of
/// names it carries; None when `req` is not handed to the RM.
pub(super) fn sm_request(req: Req, body: &[u8]) -> Option<(i32, Vec<u8>, usize)> {
    let mut r = Reader::new(body);
    let mut p = Packer::new();
    match req {
        Req::Spawn => {
            let file = r.str().ok()?;
            let flags = r.int().ok()?;
            let where_ = r.str().ok()?;
            let ntask = r.int().ok()?;
            let argv = r.strs().ok()?;
            let mut env = r.strs().ok()?;
            let inherit = Inherit::read(&mut r).ok()?.unwrap_or_default();
            if !(1..=0x3ffff).contains(&ntask) {
                // Refused by the daemon itself (PvmBadParam).
                return None;
            }
            p.str(&file)
                .int(flags)
                .str(&where_)
                .int(ntask)
                .int(argv.len() as i32);
            for a in &argv {
                p.str(a);
            }
            // The spawner's settings for its children: output and trace
            // tid, context, tag; and in the environment, as libpvm 3.4.6
            // adds them, the trace mask, buffer and options and the context.
            let i = inherit;
            for v in [
                i.out_tid,
                i.out_ctx,
                i.out_code,
                i.trace_tid,
                i.trace_ctx,
                i.trace_code,
            ] {
                p.int(v);
            }
            let mut add = |name: &str, value: String| {
                if !env.iter().any(|e| e.starts_with(&format!("{name}="))) {
                    env.push(format!("{name}={value}"));
                }
            };
            add(
                "PVMTMASK",
                "@".repeat(crate::wire::vocabulary::TMASK_LEN - 1),
            );
            add("PVMTRCBUF", i.trace_buffer.to_string());
            add("PVMTRCOPT", i.trace_options.to_string());
            add("PVMCTX", format!("{:#x}", i.context));
            p.int(env.len() as i32);
            for e in &env {
                p.str(e);
            }
            Some((SM_SPAWN, p.finish()?, 0))
        }
        Req::Config => Some((SM_CONFIG, p.finish()?, 0)),
        // pvm_reg_rm of another task: SM_SCHED, empty (unregistering is
        // the daemon's own business).
        Req::RegRm if r.int().ok()? != 0 => Some((SM_SCHED, p.finish()?, 0)),
        Req::Tasks => {
            let w = r.int().ok()?;
            Some((SM_TASK, p.int(w).finish()?, 0))
        }
        Req::AddHosts | Req::DelHosts => {
            let names = r.strs().ok()?;
            if names.is_empty() {
                return None;
            }
            p.int(names.len() as i32);
            for n in &names {
                p.str(n);
            }
            let tag = if req == Req::AddHosts {
                SM_ADDHOST
            } else {
                SM_DELHOST
            };
            Some((tag, p.finish()?, names.len()))
        }
        Req::Notify => {
            // what, tag, context, cnt, list of tids (the daemon's order);
            // the message has what, context, tag, cnt, tids.
            let what = r.int().ok()?;
            let tag = r.int().ok()?;
            let ctx = r.int().ok()?;
            let cnt = r.int().ok()?;
            let n = r.count(4).ok()?;
            let tids = (0..n)
                .map(|_| r.int())
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            // PvmTaskExit, PvmHostDelete and PvmHostAdd go to the RM;
            // route notifications are the library's own in PVM 3.4.
            if !(1..=3).contains(&(what & 0xff)) {
                return None;
            }
            p.int(what).int(ctx).int(tag).int(cnt);
            for t in tids {
                p.int(t);
            }
            Some((SM_NOTIFY, p.finish()?, 0))
        }
        _ => None,
    }
}

/// The request an `SM_` answer tag answers.
pub(super) fn answered_req(tag: i32) -> Option<Req> {
    Some(match tag {
        SM_SPAWN => Req::Spawn,
        SM_CONFIG => Req::Config,
        SM_TASK => Req::Tasks,
        SM_ADDHOST => Req::AddHosts,
        SM_DELHOST => Req::DelHosts,
        SM_SCHED => Req::RegRm,
        _ => return None,
    })
}

/// The pvm6 reply body (after the status) for the RM's answer `m` to
/// request `req` (`count` names asked for AddHosts/DelHosts), as libpvm
/// 3.4.6 reads such an answer.
pub(super) fn reply_of(req: Req, m: &mut Items, count: usize) -> Result<Vec<u8>, Error> {
    let bad = Error::BadMsg;
    let mut w = Writer::new();
    match req {
        Req::Spawn => {
            let n = m.count().filter(|&n| n > 0).ok_or(bad)?;
            let tids = (0..n).map(|_| m.int()).collect::<Option<Vec<_>>>();
            let tids = tids.ok_or(bad)?;
            w.int(tids.iter().filter(|&&t| t > 0).count() as i32);
            for t in tids {
                w.int(t);
            }
        }
        Req::Config => {
            let n = m.count().ok_or(bad)?;
            let narch = m.int().ok_or(bad)?;
            w.int(n as i32).int(narch);
            for _ in 0..n {
                let (t, name, arch) = (m.int(), m.str(), m.str());
                let (speed, dsig) = (m.int(), m.int());
                w.int(t.ok_or(bad)?)
                    .str(&name.ok_or(bad)?)
                    .str(&arch.ok_or(bad)?)
                    .int(speed.ok_or(bad)?)
                    .int(dsig.ok_or(bad)?);
            }
        }
        Req::Tasks => {
            let status = m.int().ok_or(bad)?;
            if status < 0 {
                return Err(Error::from_code(status).unwrap_or(Error::SysErr));
            }
            // Entries as long as they unpack (libpvm's way).
            let mut entries = Writer::new();
            let mut n = 0;
            while let Some(t) = m.int() {
                let (ptid, host, flag) = (m.int(), m.int(), m.int());
                let (aout, pid) = (m.str(), m.int());
                entries
                    .int(t)
                    .int(ptid.ok_or(bad)?)
                    .int(host.ok_or(bad)?)
                    .int(flag.ok_or(bad)?)
                    .str(&aout.ok_or(bad)?)
                    .int(pid.ok_or(bad)?);
                n += 1;
            }
            w.int(n);
            let mut rest = entries.finish();
            let mut head = w.finish();
            head.append(&mut rest);
            return Ok(head);
        }
        Req::AddHosts | Req::DelHosts => {
            let n = m.int().ok_or(bad)?;
            if n < 0 {
                return Err(Error::from_code(n).unwrap_or(Error::SysErr));
            }
            if n as usize != count {
                // libpvm 3.4.6: "sent count %d received count %d".
                return Err(Error::OutOfRes);
            }
            let mut codes = Vec::with_capacity(count);
            if req == Req::AddHosts {
                m.int().ok_or(bad)?; // narch
                for _ in 0..count {
                    codes.push(m.int().ok_or(bad)?);
                    // name, arch, speed, dsig
                    m.str().ok_or(bad)?;
                    m.str().ok_or(bad)?;
                    m.int().ok_or(bad)?;
                    m.int().ok_or(bad)?;
                }
            } else {
                for _ in 0..count {
                    codes.push(m.int().ok_or(bad)?);
                }
            }
            w.int(codes.iter().filter(|&&c| c >= 0).count() as i32)
                .int(count as i32);
            for c in codes {
                w.int(c);
            }
        }
        Req::RegRm => {
            // `int status` (< 0: the error pvm_reg_rm returns), then the
            // host: `int tid, string name, arch, int speed`.
            let status = m.int().ok_or(bad)?;
            if status < 0 {
                return Err(Error::from_code(status).unwrap_or(Error::SysErr));
            }
            let (t, name, arch, speed) = (m.int(), m.str(), m.str(), m.int());
            w.int(t.ok_or(bad)?)
                .str(&name.ok_or(bad)?)
                .str(&arch.ok_or(bad)?)
                .int(speed.ok_or(bad)?);
        }
        _ => return Err(Error::NotImpl),
    }
    Ok(w.finish())
}

/// The fields of an `SM_EXEC` message (PVM 3.4's `DM_EXEC` layout).
pub(super) struct Exec {
    pub(super) ptid: i32,
    pub(super) req: SpawnRequest,
    pub(super) inherit: Inherit,
}

pub(super) fn parse_exec(frame: &Frame) -> Option<Exec> {
    let mut m = Items::of(frame)?;
    let ptid = m.int()?;
    let file = m.str()?;
    let flags = m.int()?;
    let ntask = m.int().filter(|n| (1..=MAX_COUNT).contains(n))?;
    let nargs = m.count()?;
    let argv = m.strs(nargs)?;
    let mut o = [0i32; 6];
    for v in &mut o {
        *v = m.int()?;
    }
    let nenv = m.count()?;
    let env = m.strs(nenv)?;
    // Instance and "out of" follow (PVM's bookkeeping); not needed here.
    let context = env
        .iter()
        .find_map(|e| e.strip_prefix("PVMCTX="))
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(h) => i32::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(0);
    Some(Exec {
        ptid,
        req: SpawnRequest {
            file,
            flags,
            where_: String::new(),
            ntask,
            argv,
            env,
        },
        inherit: Inherit {
            out_tid: o[0],
            out_ctx: o[1],
            out_code: o[2],
            trace_tid: o[3],
            trace_ctx: o[4],
            trace_code: o[5],
            trace_buffer: 0,
            trace_options: 0,
            context,
        },
    })
}
