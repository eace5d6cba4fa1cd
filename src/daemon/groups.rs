//! The group service (dynamic process groups, libgpvm3): the table of named
//! groups, their members and instance numbers, barriers and frozen groups.
//!
//! It lives in the daemon that is the machine's master (on one host, the
//! local daemon), so no group server has to be installed or spawned. Only
//! membership and synchronisation come here (requests 70-77 of
//! docs/PROTOCOL.md); the data of pvm_bcast, pvm_reduce, pvm_gather and
//! pvm_scatter travels task to task.
//!
//! Members are addressed by tid only (never by connection), and every answer
//! is either the request's reply or a message to a tid ([`Release`]), so a
//! request forwarded from another host's daemon is served the same way.
//!
//! Rules (measured against PVM 3.4.6's pvmgs where it answers, documented in
//! docs/COMPATIBILITY.md where it hangs):
//! - A join takes the lowest free instance number; a group disappears when
//!   its last member leaves.
//! - A barrier (and a freeze) completes when `count` members have called it
//!   (-1: the group's size at the first call); a call with another count
//!   than the one in progress, or a count of 0 or below -1, is PvmMismatch.
//! - A member that leaves (pvm_lvgroup, exit, its host lost) while a
//!   barrier or freeze is in progress: when fewer members remain than the
//!   count still needs, every waiter is released with PvmNoInst (a dynamic
//!   group) or PvmNoGroup (a frozen one, which also becomes defunct: later
//!   barriers on it fail with PvmNoGroup, as pvm_freezegroup(3PVM) says).

use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};
use std::collections::BTreeMap;

pub use crate::wire::vocabulary::{GROUP_CTX, TAG_BARRIER, TAG_FREEZE};

/// A message the daemon sends to a member: tag, status, group name and
/// the number of the sync it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub tid: i32,
    pub tag: i32,
    pub status: i32,
    pub name: Vec<u8>,
    /// The sync's number (the machine's count of syncs begun), which the
    /// call's reply gave the waiter: a waiter takes only the release of
    /// its own sync, so one sent again by a new master is harmless.
    pub gen: i32,
}

impl Release {
    /// The body of the release message (control encoding).
    pub fn body(&self) -> Vec<u8> {
        Writer::new()
            .int(self.status)
            .bytes(&self.name)
            .int(self.gen)
            .finish()
    }

    fn write(&self, w: &mut Writer) {
        w.int(self.tid)
            .int(self.tag)
            .int(self.status)
            .bytes(&self.name)
            .int(self.gen);
    }

    fn read(r: &mut Reader<'_>) -> Result<Release> {
        Ok(Release {
            tid: r.int()?,
            tag: r.int()?,
            status: r.int()?,
            name: r.bytes()?.to_vec(),
            gen: r.int()?,
        })
    }
}

/// At most this many releases are kept until the master has sent them
/// (one per waiter of a sync that ended; beyond, the oldest is forgotten).
const MAX_UNSENT: usize = 65_536;

/// A barrier or freeze in progress.
#[derive(Clone, Debug, Default)]
struct Sync {
    count: usize,
    waiting: Vec<i32>,
    /// Its number (see [`Release::gen`]).
    gen: i32,
}

#[derive(Clone, Debug, Default)]
struct Group {
    /// Instance number -> tid.
    members: BTreeMap<i32, i32>,
    /// Set once pvm_freezegroup completed.
    frozen: bool,
    /// A frozen group that lost a member.
    defunct: bool,
    barrier: Option<Sync>,
    freeze: Option<Sync>,
}

impl Group {
    fn inst_of(&self, tid: i32) -> Option<i32> {
        self.members
            .iter()
            .find(|(_, &t)| t == tid)
            .map(|(&i, _)| i)
    }

    fn lowest_free(&self) -> i32 {
        let mut n = 0;
        for &i in self.members.keys() {
            if i != n {
                break;
            }
            n += 1;
        }
        n
    }
}

/// Every group of the machine.
#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<Vec<u8>, Group>,
    /// The number of the last sync begun.
    gen: i32,
    /// The releases of syncs that ended, until the master has sent them
    /// ([`Groups::sent`]): part of the successor's copy, so a new master
    /// sends again those its predecessor may not have sent.
    unsent: Vec<Release>,
    /// The releases of the request being served, sent after its reply.
    after_reply: Vec<Release>,
}

fn name_of(r: &mut Reader<'_>) -> Result<Vec<u8>> {
    let n = r.bytes()?;
    if n.is_empty() {
        return Err(Error::NullGroup);
    }
    Ok(n.to_vec())
}

/// The count a barrier or freeze waits for: -1 is the group's size.
fn sync_count(count: i32, size: usize) -> Result<usize> {
    match count {
        -1 => Ok(size),
        c if c >= 1 => Ok(c as usize),
        _ => Err(Error::Mismatch),
    }
}

/// One group as PVM 3.4's group server lists it (its `GSLS` answer, which
/// pvm_gstat prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub name: Vec<u8>,
    /// Members.
    pub size: i32,
    /// Tid of each instance number from 0 up to the highest, -1 where none.
    pub tids: Vec<i32>,
    /// The count of the barrier in progress (0: none).
    pub barrier_count: i32,
    /// The members waiting in it, in arrival order.
    pub waiting: Vec<i32>,
}

impl Groups {
    pub fn new() -> Groups {
        Groups::default()
    }

    /// The state a successor keeps (daemon/succession.rs): every group's
    /// name, frozen and defunct flags, members, and the barrier and freeze
    /// in progress (count, then the members waiting, in arrival order; a
    /// count of 0: none). So the waiters of a sync in progress when the
    /// master is lost are released by the new master when the others
    /// arrive; a sync that completed is not in the copy (its releases wait
    /// for the copy that shows it, succession.rs).
    pub fn snapshot(&self, w: &mut Writer) {
        w.int(self.groups.len() as i32);
        for (name, g) in &self.groups {
            w.bytes(name)
                .int(i32::from(g.frozen))
                .int(i32::from(g.defunct))
                .int(g.members.len() as i32);
            for (&inst, &t) in &g.members {
                w.int(inst).int(t);
            }
            for slot in [&g.barrier, &g.freeze] {
                match slot {
                    Some(s) => {
                        w.int(s.count as i32).int(s.gen).int(s.waiting.len() as i32);
                        for &t in &s.waiting {
                            w.int(t);
                        }
                    }
                    None => {
                        w.int(0).int(0).int(0);
                    }
                }
            }
        }
        w.int(self.gen).int(self.unsent.len() as i32);
        for rel in &self.unsent {
            rel.write(w);
        }
    }

    /// The groups of a [`Groups::snapshot`].
    pub fn restore(r: &mut Reader<'_>) -> Result<Groups> {
        let mut groups = BTreeMap::new();
        for _ in 0..r.count(24)? {
            let name = r.bytes()?.to_vec();
            let mut g = Group {
                frozen: r.int()? != 0,
                defunct: r.int()? != 0,
                ..Group::default()
            };
            for _ in 0..r.count(8)? {
                let inst = r.int()?;
                g.members.insert(inst, r.int()?);
            }
            let mut sync = || -> Result<Option<Sync>> {
                let count = r.int()?;
                let gen = r.int()?;
                let waiting = (0..r.count(4)?)
                    .map(|_| r.int())
                    .collect::<Result<Vec<i32>>>()?;
                Ok((count > 0).then_some(Sync {
                    count: count as usize,
                    waiting,
                    gen,
                }))
            };
            g.barrier = sync()?;
            g.freeze = sync()?;
            groups.insert(name, g);
        }
        let gen = r.int()?;
        let unsent = (0..r.count(20)?)
            .map(|_| Release::read(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Groups {
            groups,
            gen,
            unsent,
            after_reply: Vec::new(),
        })
    }

    /// The releases of syncs that ended and that the master may not have
    /// sent (a new master sends them again: a waiter takes only its own).
    pub fn unsent(&self) -> Vec<Release> {
        self.unsent.clone()
    }

    /// The master sent `rel`: it is no longer kept.
    pub fn sent(&mut self, rel: &Release) {
        self.unsent
            .retain(|u| (u.tid, u.tag, u.gen) != (rel.tid, rel.tag, rel.gen));
    }

    /// Keeps `out` until sent; returns them.
    fn ended(&mut self, out: Vec<Release>) -> Vec<Release> {
        self.unsent.extend(out.iter().cloned());
        if self.unsent.len() > MAX_UNSENT {
            let extra = self.unsent.len() - MAX_UNSENT;
            self.unsent.drain(..extra);
        }
        out
    }

    /// The releases a request caused, for after its reply.
    pub fn take_after_reply(&mut self) -> Vec<Release> {
        std::mem::take(&mut self.after_reply)
    }

    /// Every group, by name.
    pub fn listing(&self) -> Vec<Listing> {
        self.groups
            .iter()
            .map(|(name, g)| {
                let top = g.members.keys().next_back().map_or(0, |&i| i + 1);
                let tids = (0..top)
                    .map(|i| g.members.get(&i).copied().unwrap_or(-1))
                    .collect();
                let (barrier_count, waiting) = g
                    .barrier
                    .as_ref()
                    .map_or((0, Vec::new()), |b| (b.count as i32, b.waiting.clone()));
                Listing {
                    name: name.clone(),
                    size: g.members.len() as i32,
                    tids,
                    barrier_count,
                    waiting,
                }
            })
            .collect()
    }

    /// Serves group request `req` from task `from` (0 when not enrolled).
    /// Returns the reply (status and body) and the messages to send after it.
    pub fn request(
        &mut self,
        req: Req,
        from: i32,
        r: &mut Reader<'_>,
    ) -> (Result<Vec<u8>>, Vec<Release>) {
        let mut out = Vec::new();
        let res = self.serve(req, from, r, &mut out);
        (res, self.ended(out))
    }

    /// As [`Groups::request`], the releases kept for after the reply
    /// ([`Groups::take_after_reply`]).
    pub fn request_then_release(
        &mut self,
        req: Req,
        from: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>> {
        let (res, out) = self.request(req, from, r);
        self.after_reply.extend(out);
        res
    }

    fn serve(
        &mut self,
        req: Req,
        from: i32,
        r: &mut Reader<'_>,
        out: &mut Vec<Release>,
    ) -> Result<Vec<u8>> {
        let name = name_of(r)?;
        let int = |v: i32| Ok(Writer::new().int(v).finish());
        match req {
            Req::GroupJoin => {
                if from == 0 {
                    return Err(Error::SysErr);
                }
                let g = self.groups.entry(name).or_default();
                if g.frozen {
                    // PVM 3.4.6 answers any join to a frozen group so.
                    return Err(Error::NotInGroup);
                }
                if g.inst_of(from).is_some() {
                    return Err(Error::DupGroup);
                }
                let inst = g.lowest_free();
                g.members.insert(inst, from);
                int(inst)
            }
            Req::GroupLeave => {
                let g = self.groups.get(&name).ok_or(Error::NoGroup)?;
                if g.inst_of(from).is_none() {
                    return Err(Error::NotInGroup);
                }
                out.extend(self.leave(&name, from));
                Ok(Vec::new())
            }
            Req::GroupTid => {
                let inst = r.int()?;
                let g = self.groups.get(&name).ok_or(Error::NoGroup)?;
                g.members.get(&inst).map_or(Err(Error::NoInst), |&t| int(t))
            }
            Req::GroupInst => {
                let tid = r.int()?;
                let g = self.groups.get(&name).ok_or(Error::NoGroup)?;
                g.inst_of(tid).map_or(Err(Error::NotInGroup), int)
            }
            Req::GroupSize => {
                let g = self.groups.get(&name).ok_or(Error::NoGroup)?;
                int(g.members.len() as i32)
            }
            Req::GroupMembers => {
                let g = self.groups.get(&name).ok_or(Error::NoGroup)?;
                let mut w = Writer::new();
                w.int(g.frozen as i32).int(g.members.len() as i32);
                for (&i, &t) in &g.members {
                    w.int(i).int(t);
                }
                Ok(w.finish())
            }
            Req::GroupBarrier | Req::GroupFreeze => {
                let count = r.int()?;
                let freeze = req == Req::GroupFreeze;
                let next = self.gen.wrapping_add(1);
                let g = self.groups.get_mut(&name).ok_or(Error::NoGroup)?;
                if g.defunct && !freeze {
                    return Err(Error::NoGroup);
                }
                if g.inst_of(from).is_none() {
                    return Err(Error::NotInGroup);
                }
                if freeze && g.frozen {
                    return Err(Error::DupGroup);
                }
                let size = g.members.len();
                let slot = if freeze {
                    &mut g.freeze
                } else {
                    &mut g.barrier
                };
                let count = match slot {
                    Some(s) if count == -1 => s.count,
                    Some(s) => {
                        let c = sync_count(count, size)?;
                        if c != s.count {
                            return Err(Error::Mismatch);
                        }
                        c
                    }
                    None => sync_count(count, size)?,
                };
                if slot.is_none() {
                    self.gen = next;
                }
                let s = slot.get_or_insert_with(|| Sync {
                    count,
                    waiting: Vec::new(),
                    gen: next,
                });
                if s.waiting.contains(&from) {
                    return Err(Error::Mismatch);
                }
                s.waiting.push(from);
                let gen = s.gen;
                if s.waiting.len() >= s.count {
                    let done = slot.take().unwrap_or_default();
                    let (tag, status) = if freeze {
                        g.frozen = true;
                        (TAG_FREEZE, done.count as i32)
                    } else {
                        (TAG_BARRIER, 0)
                    };
                    out.extend(done.waiting.into_iter().map(|tid| Release {
                        tid,
                        tag,
                        status,
                        name: name.clone(),
                        gen,
                    }));
                }
                // The waiter takes only this sync's release.
                int(gen)
            }
            _ => Err(Error::NotImpl),
        }
    }

    /// Removes `tid` from group `name` (a member); fails the syncs it
    /// makes impossible; forgets an empty group.
    fn leave(&mut self, name: &[u8], tid: i32) -> Vec<Release> {
        let mut out = Vec::new();
        let Some(g) = self.groups.get_mut(name) else {
            return out;
        };
        let Some(inst) = g.inst_of(tid) else {
            return out;
        };
        g.members.remove(&inst);
        if g.frozen {
            g.defunct = true;
        }
        let size = g.members.len();
        let frozen = g.frozen;
        for (slot, tag) in [(&mut g.barrier, TAG_BARRIER), (&mut g.freeze, TAG_FREEZE)] {
            let Some(s) = slot.as_mut() else {
                continue;
            };
            s.waiting.retain(|&t| t != tid);
            if frozen || size < s.count {
                let status = if frozen {
                    Error::NoGroup.code()
                } else {
                    Error::NoInst.code()
                };
                let done = slot.take().unwrap_or_default();
                out.extend(done.waiting.into_iter().map(|t| Release {
                    tid: t,
                    tag,
                    status,
                    name: name.to_vec(),
                    gen: done.gen,
                }));
            }
        }
        if g.members.is_empty() {
            self.groups.remove(name);
        }
        out
    }

    /// Task `tid` is gone (exit, lost connection, host failure): it leaves
    /// every group it was in.
    pub fn task_gone(&mut self, tid: i32) -> Vec<Release> {
        let names: Vec<Vec<u8>> = self
            .groups
            .iter()
            .filter(|(_, g)| g.inst_of(tid).is_some())
            .map(|(n, _)| n.clone())
            .collect();
        let out = names.iter().flat_map(|n| self.leave(n, tid)).collect();
        self.ended(out)
    }

    /// Every task of host `host` (its host part) is gone.
    pub fn host_gone(&mut self, host: i32) -> Vec<Release> {
        let tids: Vec<i32> = self
            .groups
            .values()
            .flat_map(|g| g.members.values().copied())
            .filter(|&t| crate::tid::host_of(t) == host)
            .collect();
        tids.into_iter().flat_map(|t| self.task_gone(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        g: &mut Groups,
        req: Req,
        from: i32,
        args: &[i32],
        name: &str,
    ) -> (Result<Vec<i32>>, Vec<Release>) {
        let mut w = Writer::new();
        w.bytes(name.as_bytes());
        for a in args {
            w.int(*a);
        }
        let body = w.finish();
        let (res, rel) = g.request(req, from, &mut Reader::new(&body));
        let res = res.map(|b| {
            let mut r = Reader::new(&b);
            let mut v = Vec::new();
            while let Ok(x) = r.int() {
                v.push(x);
            }
            v
        });
        (res, rel)
    }

    /// A call that must succeed; its releases.
    fn must(g: &mut Groups, req: Req, from: i32, args: &[i32], name: &str) -> Vec<Release> {
        let (res, rel) = call(g, req, from, args, name);
        assert!(res.is_ok(), "{req:?} {name}: {res:?}");
        rel
    }

    const A: i32 = 0x40001;
    const B: i32 = 0x40002;
    const C: i32 = 0x40003;
    const D: i32 = 0x40004;

    #[test]
    fn snapshot_keeps_members_flags_and_syncs_in_progress() {
        let mut g = Groups::new();
        must(&mut g, Req::GroupJoin, A, &[], "g");
        must(&mut g, Req::GroupJoin, B, &[], "g");
        must(&mut g, Req::GroupJoin, C, &[], "h");
        must(&mut g, Req::GroupJoin, D, &[], "h");
        must(&mut g, Req::GroupLeave, A, &[], "g");
        must(&mut g, Req::GroupBarrier, C, &[2], "h");
        must(&mut g, Req::GroupFreeze, D, &[-1], "h");
        let mut w = Writer::new();
        g.snapshot(&mut w);
        let body = w.finish();
        let mut back = Groups::restore(&mut Reader::new(&body)).unwrap();
        assert_eq!(back.listing(), g.listing());
        // B keeps instance 1 with the hole at 0.
        assert_eq!(back.listing()[0].tids, vec![-1, B]);
        assert_eq!(back.listing()[1].waiting, vec![C]);
        // The copy completes them: C and D are released once each, with
        // the freeze's size; a second barrier needs both again.
        let rel = must(&mut back, Req::GroupBarrier, D, &[2], "h");
        assert_eq!(
            rel.iter()
                .map(|r| (r.tid, r.tag, r.status))
                .collect::<Vec<_>>(),
            [(C, TAG_BARRIER, 0), (D, TAG_BARRIER, 0)]
        );
        let rel = must(&mut back, Req::GroupFreeze, C, &[-1], "h");
        assert_eq!(
            rel.iter()
                .map(|r| (r.tid, r.tag, r.status))
                .collect::<Vec<_>>(),
            [(D, TAG_FREEZE, 2), (C, TAG_FREEZE, 2)]
        );
        assert!(must(&mut back, Req::GroupBarrier, C, &[2], "h").is_empty());
        assert_eq!(back.listing()[1].waiting, vec![C]);
        // A member lost with the old master: the waiter is released with
        // PvmNoGroup (the group is frozen now).
        let rel = back.task_gone(D);
        assert_eq!(
            rel.iter().map(|r| (r.tid, r.status)).collect::<Vec<_>>(),
            [(C, Error::NoGroup.code())]
        );
        // A restored dynamic group whose waiters outnumber the survivors.
        let mut g = Groups::new();
        // E is on another host.
        const E: i32 = 0x80001;
        for t in [A, B, E] {
            must(&mut g, Req::GroupJoin, t, &[], "d");
        }
        must(&mut g, Req::GroupBarrier, A, &[-1], "d");
        let mut w = Writer::new();
        g.snapshot(&mut w);
        let body = w.finish();
        let mut back = Groups::restore(&mut Reader::new(&body)).unwrap();
        let rel = back.host_gone(crate::tid::host_of(E));
        assert_eq!(
            rel.iter().map(|r| (r.tid, r.status)).collect::<Vec<_>>(),
            [(A, Error::NoInst.code())]
        );
    }

    #[test]
    fn releases_are_kept_in_the_copy_until_sent() {
        let mut g = Groups::new();
        for t in [A, B] {
            must(&mut g, Req::GroupJoin, t, &[], "k");
        }
        assert_eq!(
            call(&mut g, Req::GroupBarrier, A, &[-1], "k").0,
            Ok(vec![1])
        );
        let rel = must(&mut g, Req::GroupBarrier, B, &[-1], "k");
        assert_eq!(g.unsent(), rel);
        // A copy taken now has them: a new master sends them again.
        let mut w = Writer::new();
        g.snapshot(&mut w);
        let body = w.finish();
        let mut back = Groups::restore(&mut Reader::new(&body)).unwrap();
        assert_eq!(back.unsent(), rel);
        // The next barrier has another number: the waiter of that one
        // takes no release sent again for the first.
        assert_eq!(
            call(&mut back, Req::GroupBarrier, A, &[-1], "k").0,
            Ok(vec![2])
        );
        back.sent(&rel[0]);
        assert_eq!(back.unsent(), rel[1..]);
        g.sent(&rel[0]);
        g.sent(&rel[1]);
        assert!(g.unsent().is_empty());
        // A departure's releases are kept alike.
        let rel = back.task_gone(B);
        assert_eq!(
            rel.iter()
                .map(|r| (r.tid, r.status, r.gen))
                .collect::<Vec<_>>(),
            [(A, Error::NoInst.code(), 2)]
        );
        assert_eq!(back.unsent().len(), 2);
    }

    #[test]
    fn listing_shows_instances_holes_and_barrier_waiters() {
        let mut g = Groups::new();
        for t in [0x40001, 0x40002, 0x40003] {
            must(&mut g, Req::GroupJoin, t, &[], "grp");
        }
        must(&mut g, Req::GroupLeave, 0x40002, &[], "grp");
        must(&mut g, Req::GroupBarrier, 0x40003, &[2], "grp");
        let l = g.listing();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, b"grp");
        assert_eq!(l[0].size, 2);
        assert_eq!(l[0].tids, [0x40001, -1, 0x40003]);
        assert_eq!(
            (l[0].barrier_count, l[0].waiting.clone()),
            (2, vec![0x40003])
        );
    }

    #[test]
    fn instances_are_the_lowest_free() {
        let mut g = Groups::new();
        assert_eq!(call(&mut g, Req::GroupJoin, A, &[], "w").0, Ok(vec![0]));
        assert_eq!(call(&mut g, Req::GroupJoin, B, &[], "w").0, Ok(vec![1]));
        assert_eq!(call(&mut g, Req::GroupJoin, C, &[], "w").0, Ok(vec![2]));
        assert_eq!(
            call(&mut g, Req::GroupJoin, B, &[], "w").0,
            Err(Error::DupGroup)
        );
        assert_eq!(call(&mut g, Req::GroupLeave, B, &[], "w").0, Ok(vec![]));
        assert_eq!(
            call(&mut g, Req::GroupLeave, B, &[], "w").0,
            Err(Error::NotInGroup)
        );
        assert_eq!(call(&mut g, Req::GroupJoin, D, &[], "w").0, Ok(vec![1]));
        assert_eq!(call(&mut g, Req::GroupSize, A, &[], "w").0, Ok(vec![3]));
        assert_eq!(call(&mut g, Req::GroupTid, A, &[1], "w").0, Ok(vec![D]));
        assert_eq!(
            call(&mut g, Req::GroupTid, A, &[5], "w").0,
            Err(Error::NoInst)
        );
        assert_eq!(call(&mut g, Req::GroupInst, A, &[C], "w").0, Ok(vec![2]));
        assert_eq!(
            call(&mut g, Req::GroupInst, A, &[B], "w").0,
            Err(Error::NotInGroup)
        );
        assert_eq!(
            call(&mut g, Req::GroupSize, A, &[], "x").0,
            Err(Error::NoGroup)
        );
        assert_eq!(
            call(&mut g, Req::GroupSize, A, &[], "").0,
            Err(Error::NullGroup)
        );
        for t in [A, C, D] {
            must(&mut g, Req::GroupLeave, t, &[], "w");
        }
        assert_eq!(
            call(&mut g, Req::GroupSize, A, &[], "w").0,
            Err(Error::NoGroup)
        );
    }

    #[test]
    fn barrier_releases_at_count_and_fails_when_members_leave() {
        let mut g = Groups::new();
        for t in [A, B, C] {
            must(&mut g, Req::GroupJoin, t, &[], "w");
        }
        // The reply is the sync's number, which its release carries.
        let (r, rel) = call(&mut g, Req::GroupBarrier, A, &[2], "w");
        assert_eq!((r, rel.len()), (Ok(vec![1]), 0));
        assert_eq!(
            call(&mut g, Req::GroupBarrier, B, &[3], "w").0,
            Err(Error::Mismatch)
        );
        let (r, rel) = call(&mut g, Req::GroupBarrier, B, &[2], "w");
        assert_eq!(r, Ok(vec![1]));
        assert_eq!(
            rel.iter()
                .map(|r| (r.tid, r.status, r.gen))
                .collect::<Vec<_>>(),
            [(A, 0, 1), (B, 0, 1)]
        );
        assert_eq!(
            call(&mut g, Req::GroupBarrier, A, &[0], "w").0,
            Err(Error::Mismatch)
        );
        // -1: all three; C exits meanwhile -> PvmNoInst for the waiters.
        must(&mut g, Req::GroupBarrier, A, &[-1], "w");
        must(&mut g, Req::GroupBarrier, B, &[-1], "w");
        let rel = g.task_gone(C);
        assert_eq!(
            rel.iter()
                .map(|r| (r.tid, r.tag, r.status))
                .collect::<Vec<_>>(),
            [
                (A, TAG_BARRIER, Error::NoInst.code()),
                (B, TAG_BARRIER, Error::NoInst.code())
            ]
        );
        assert_eq!(
            call(&mut g, Req::GroupBarrier, C, &[1], "w").0,
            Err(Error::NotInGroup)
        );
    }

    #[test]
    fn freeze_then_defunct() {
        let mut g = Groups::new();
        for t in [A, B] {
            must(&mut g, Req::GroupJoin, t, &[], "f");
        }
        assert!(call(&mut g, Req::GroupFreeze, A, &[-1], "f").1.is_empty());
        let (_, rel) = call(&mut g, Req::GroupFreeze, B, &[-1], "f");
        assert_eq!(
            rel.iter().map(|r| (r.tag, r.status)).collect::<Vec<_>>(),
            [(TAG_FREEZE, 2); 2]
        );
        assert_eq!(
            call(&mut g, Req::GroupFreeze, A, &[-1], "f").0,
            Err(Error::DupGroup)
        );
        assert_eq!(
            call(&mut g, Req::GroupJoin, C, &[], "f").0,
            Err(Error::NotInGroup)
        );
        assert_eq!(
            call(&mut g, Req::GroupMembers, C, &[], "f").0,
            Ok(vec![1, 2, 0, A, 1, B])
        );
        must(&mut g, Req::GroupBarrier, A, &[2], "f");
        let rel = g.task_gone(B);
        assert_eq!(
            rel,
            [Release {
                tid: A,
                tag: TAG_BARRIER,
                status: Error::NoGroup.code(),
                name: b"f".to_vec(),
                gen: 2
            }]
        );
        assert_eq!(
            call(&mut g, Req::GroupBarrier, A, &[1], "f").0,
            Err(Error::NoGroup)
        );
    }
}
