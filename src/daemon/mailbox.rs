//! The message mailbox of pvmd (pvm_putinfo, pvm_recvinfo, pvm_delinfo,
//! pvm_getmboxinfo and the 3.3 calls pvm_insert/pvm_lookup/pvm_delete built
//! on them): the table of classes and entries, the rules of who may replace
//! or delete what, the cleanup when an owner task goes away, and the
//! pending pvm_recvinfo(PvmMboxWaitForInfo) requests answered when a
//! matching entry is put. The table is owned by the daemon's event loop
//! ([`super::server`]), which calls [`Mailbox::request`] for request codes
//! 20-23 and [`Mailbox::task_gone`] / [`Mailbox::conn_gone`] on exits.
//!
//! Rules (PVM 3.4.6's pvmd, as measured, where its man page leaves room):
//! - A class holds entries keyed by index >= 0; an entry is a message body,
//!   its encoding, the tid that put it (the received copy's source), its
//!   owner (0 once a persistent entry's owner has gone) and the flags given
//!   to pvm_putinfo, kept as given (direct index bits included).
//! - A put without PvmMboxMultiInstance targets index 0 (or the direct
//!   index in the flags): a free index is taken; an existing entry is
//!   replaced when the putter owns it or it is PvmMboxOverWritable, else the
//!   put fails with PvmDenied. (The original never answers PvmExists there.)
//!   An existing entry at a direct index > 0 must also be multi-instance.
//! - A put with PvmMboxMultiInstance takes the lowest free index.
//! - Reading is free for all; deleting (pvm_delinfo, PvmMboxReadAndDelete)
//!   needs ownership or PvmMboxOverWritable, else PvmDenied. pvm_delinfo
//!   answers the deleted index.
//! - When a task exits its entries go, except persistent ones, whose owner
//!   becomes 0 (nobody may then replace or delete them unless overwritable).
//! - Classes are listed in creation order; an emptied class disappears.
//! - A pattern matches a class name when it occurs in it, `*` standing for
//!   any run of characters (no anchors, every other character literal):
//!   "" and "*" match every name.

use crate::consts::{
    mbox_direct_index_of, PvmMboxFirstAvail, PvmMboxMultiInstance, PvmMboxOverWritable,
    PvmMboxPersistent, PvmMboxReadAndDelete, PvmMboxWaitForInfo,
};
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};
use mio::Token;
use std::collections::BTreeMap;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Owner tid; 0 when a persistent entry's owner has exited.
    pub owner: i32,
    /// The task that put it (source of the copies handed out).
    pub src: i32,
    /// Flags as given to pvm_putinfo.
    pub flags: i32,
    /// Encoding code of `body`.
    pub enc: i32,
    /// The packed message body.
    pub body: Vec<u8>,
}

impl Entry {
    /// Whether `tid` may replace or delete this entry.
    fn writable_by(&self, tid: i32) -> bool {
        (self.owner != 0 && self.owner == tid) || self.flags & PvmMboxOverWritable != 0
    }
}

/// A class: a name and its entries by index.
#[derive(Debug)]
struct Class {
    name: Vec<u8>,
    entries: BTreeMap<i32, Entry>,
}

/// What pvm_getmboxinfo reports for one class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    pub name: Vec<u8>,
    /// (index, owner, flags) of each entry, by index.
    pub entries: Vec<(i32, i32, i32)>,
}

/// A pvm_recvinfo(PvmMboxWaitForInfo) waiting for its entry.
#[derive(Debug)]
struct Waiter {
    token: Token,
    tid: i32,
    wid: i32,
    name: Vec<u8>,
    index: i32,
    flags: i32,
}

/// A waiting request now answered: reply `reply` to request `wid` on `token`.
#[derive(Debug)]
pub struct Woken {
    pub token: Token,
    pub wid: i32,
    pub reply: Result<Vec<u8>>,
}

/// How a mailbox request is answered.
#[derive(Debug)]
pub enum Outcome {
    /// Reply now (the body after the status).
    Reply(Result<Vec<u8>>),
    /// The request waits; its reply comes through [`Mailbox::take_woken`].
    Wait,
}

/// The mailbox of one daemon.
#[derive(Debug, Default)]
pub struct Mailbox {
    classes: Vec<Class>,
    waiters: Vec<Waiter>,
    woken: Vec<Woken>,
}

/// Whether `pattern` occurs in `name`, `*` matching any run of bytes.
pub fn pattern_matches(pattern: &[u8], name: &[u8]) -> bool {
    // Unanchored: the same as an anchored glob of "*pattern*".
    let mut p = Vec::with_capacity(pattern.len() + 2);
    p.push(b'*');
    p.extend_from_slice(pattern);
    p.push(b'*');
    glob(&p, name)
}

/// Anchored match of `p` (with `*` wildcards) against all of `s`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl Mailbox {
    /// An empty mailbox.
    pub fn new() -> Mailbox {
        Mailbox::default()
    }

    /// The state a successor keeps (daemon/succession.rs): every class and
    /// its entries. Waiting pvm_recvinfo calls are not part of it: they
    /// wait at the master and fail with it.
    pub fn snapshot(&self, w: &mut crate::wire::Writer) {
        w.int(self.classes.len() as i32);
        for c in &self.classes {
            w.bytes(&c.name).int(c.entries.len() as i32);
            for (&i, e) in &c.entries {
                w.int(i)
                    .int(e.owner)
                    .int(e.src)
                    .int(e.flags)
                    .int(e.enc)
                    .bytes(&e.body);
            }
        }
    }

    /// The mailbox of a [`Mailbox::snapshot`].
    pub fn restore(r: &mut crate::wire::Reader<'_>) -> Result<Mailbox> {
        let mut classes = Vec::new();
        for _ in 0..r.count(8)? {
            let name = r.bytes()?.to_vec();
            let mut entries = BTreeMap::new();
            for _ in 0..r.count(24)? {
                let i = r.int()?;
                let e = Entry {
                    owner: r.int()?,
                    src: r.int()?,
                    flags: r.int()?,
                    enc: r.int()?,
                    body: r.bytes()?.to_vec(),
                };
                entries.insert(i, e);
            }
            classes.push(Class { name, entries });
        }
        Ok(Mailbox {
            classes,
            ..Mailbox::default()
        })
    }

    fn class(&self, name: &[u8]) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }

    fn class_mut(&mut self, name: &[u8]) -> Option<&mut Class> {
        self.classes.iter_mut().find(|c| c.name == name)
    }

    fn drop_empty(&mut self) {
        self.classes.retain(|c| !c.entries.is_empty());
    }

    /// pvm_putinfo by `tid` (`exact` >= 0: pvm_insert at exactly that
    /// index, failing with PvmDenied when it is taken). Returns the index.
    pub fn put(
        &mut self,
        tid: i32,
        name: &[u8],
        flags: i32,
        exact: i32,
        enc: i32,
        body: Vec<u8>,
    ) -> Result<i32> {
        if name.is_empty() || tid == 0 {
            return Err(Error::BadParam);
        }
        let entry = Entry {
            owner: tid,
            src: tid,
            flags,
            enc,
            body,
        };
        if self.class(name).is_none() {
            self.classes.push(Class {
                name: name.to_vec(),
                entries: BTreeMap::new(),
            });
        }
        let class = self.class_mut(name).ok_or(Error::SysErr)?;
        let index = if exact >= 0 {
            if class.entries.contains_key(&exact) {
                return Err(Error::Denied);
            }
            exact
        } else {
            let direct = mbox_direct_index_of(flags);
            if flags & PvmMboxMultiInstance != 0 && direct == 0 {
                (0..).find(|i| !class.entries.contains_key(i)).unwrap_or(0)
            } else {
                if let Some(old) = class.entries.get(&direct) {
                    if !old.writable_by(tid)
                        || (direct > 0 && old.flags & PvmMboxMultiInstance == 0)
                    {
                        return Err(Error::Denied);
                    }
                }
                direct
            }
        };
        class.entries.insert(index, entry);
        self.wake(name);
        Ok(index)
    }

    /// The entry pvm_recvinfo(`name`, `index`, `flags`) by `tid` finds,
    /// deleted when PvmMboxReadAndDelete asks for it. Returns its index and
    /// a copy (the entry itself when deleted).
    pub fn recv(&mut self, tid: i32, name: &[u8], index: i32, flags: i32) -> Result<(i32, Entry)> {
        if name.is_empty() || index < 0 {
            return Err(Error::BadParam);
        }
        let class = self.class_mut(name).ok_or(Error::NotFound)?;
        let found = if flags & PvmMboxFirstAvail != 0 {
            class.entries.range(index..).next().map(|(&i, _)| i)
        } else {
            class.entries.contains_key(&index).then_some(index)
        };
        let i = found.ok_or(Error::NotFound)?;
        if flags & PvmMboxReadAndDelete != 0 {
            if !class.entries.get(&i).is_some_and(|e| e.writable_by(tid)) {
                return Err(Error::Denied);
            }
            let e = class.entries.remove(&i).ok_or(Error::NotFound)?;
            self.drop_empty();
            Ok((i, e))
        } else {
            let e = class.entries.get(&i).ok_or(Error::NotFound)?.clone();
            Ok((i, e))
        }
    }

    /// pvm_delinfo by `tid`: returns the deleted index.
    pub fn delete(&mut self, tid: i32, name: &[u8], index: i32) -> Result<i32> {
        if name.is_empty() || index < 0 {
            return Err(Error::BadParam);
        }
        let class = self.class_mut(name).ok_or(Error::NotFound)?;
        let e = class.entries.get(&index).ok_or(Error::NotFound)?;
        if !e.writable_by(tid) {
            return Err(Error::Denied);
        }
        class.entries.remove(&index);
        self.drop_empty();
        Ok(index)
    }

    /// pvm_getmboxinfo: the classes whose names match `pattern`.
    pub fn info(&self, pattern: &[u8]) -> Vec<ClassInfo> {
        self.classes
            .iter()
            .filter(|c| pattern_matches(pattern, &c.name))
            .map(|c| ClassInfo {
                name: c.name.clone(),
                entries: c
                    .entries
                    .iter()
                    .map(|(&i, e)| (i, e.owner, e.flags))
                    .collect(),
            })
            .collect()
    }

    /// Task `tid` is gone: its entries go, its persistent ones lose their
    /// owner (0), and its waiting requests are forgotten.
    pub fn task_gone(&mut self, tid: i32) {
        if tid == 0 {
            return;
        }
        self.owners_gone(|owner| owner == tid);
    }

    /// The owners of entries (tids; 0 for none).
    pub fn owners(&self) -> Vec<i32> {
        self.classes
            .iter()
            .flat_map(|c| c.entries.values().map(|e| e.owner))
            .collect()
    }

    /// Host `host` (host part) left the machine: as [`Mailbox::task_gone`]
    /// for each of its tasks.
    pub fn host_gone(&mut self, host: i32) {
        if host == 0 {
            return;
        }
        self.owners_gone(|owner| owner != 0 && crate::tid::host_of(owner) == host);
    }

    fn owners_gone(&mut self, gone: impl Fn(i32) -> bool) {
        for c in &mut self.classes {
            c.entries.retain(|_, e| {
                if !gone(e.owner) {
                    return true;
                }
                if e.flags & PvmMboxPersistent != 0 {
                    e.owner = 0;
                    true
                } else {
                    false
                }
            });
        }
        self.drop_empty();
        self.waiters.retain(|w| !gone(w.tid));
    }

    /// A connection closed: its waiting requests are forgotten.
    pub fn conn_gone(&mut self, token: Token) {
        self.waiters.retain(|w| w.token != token);
    }

    /// Requests waiting for an entry.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Answers the waiters of class `name` that now find their entry, in
    /// the order they arrived.
    fn wake(&mut self, name: &[u8]) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].name != name {
                i += 1;
                continue;
            }
            let (tid, index, flags) = {
                let w = &self.waiters[i];
                (w.tid, w.index, w.flags)
            };
            match self.recv(tid, name, index, flags) {
                Err(Error::NotFound) => i += 1,
                r => {
                    let w = self.waiters.remove(i);
                    self.woken.push(Woken {
                        token: w.token,
                        wid: w.wid,
                        reply: r.map(|(i, e)| recv_reply(i, &e)),
                    });
                }
            }
        }
    }

    /// Replies owed to waiting requests answered since the last call.
    pub fn take_woken(&mut self) -> Vec<Woken> {
        std::mem::take(&mut self.woken)
    }

    /// Serves mailbox request `req` (wire body in `r`) from task `tid` on
    /// connection `token`, request id `wid`.
    pub fn request(
        &mut self,
        req: Req,
        tid: i32,
        token: Token,
        wid: i32,
        r: &mut Reader<'_>,
    ) -> Outcome {
        match self.serve(req, tid, token, wid, r) {
            Ok(Some(body)) => Outcome::Reply(Ok(body)),
            Ok(None) => Outcome::Wait,
            Err(e) => Outcome::Reply(Err(e)),
        }
    }

    fn serve(
        &mut self,
        req: Req,
        tid: i32,
        token: Token,
        wid: i32,
        r: &mut Reader<'_>,
    ) -> Result<Option<Vec<u8>>> {
        match req {
            Req::MboxPut => {
                let name = r.bytes()?;
                let flags = r.int()?;
                let exact = r.int()?;
                let enc = r.int()?;
                let body = r.bytes()?.to_vec();
                let i = self.put(tid, name, flags, exact, enc, body)?;
                Ok(Some(Writer::new().int(i).finish()))
            }
            Req::MboxRecv => {
                let name = r.bytes()?;
                let index = r.int()?;
                let flags = r.int()?;
                match self.recv(tid, name, index, flags) {
                    Ok((i, e)) => Ok(Some(recv_reply(i, &e))),
                    Err(Error::NotFound) if flags & PvmMboxWaitForInfo != 0 && tid != 0 => {
                        self.waiters.push(Waiter {
                            token,
                            tid,
                            wid,
                            name: name.to_vec(),
                            index,
                            flags,
                        });
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            Req::MboxDel => {
                let name = r.bytes()?;
                let index = r.int()?;
                let _flags = r.int()?;
                let i = self.delete(tid, name, index)?;
                Ok(Some(Writer::new().int(i).finish()))
            }
            Req::MboxInfo => {
                let pattern = r.bytes()?;
                let list = self.info(pattern);
                let mut w = Writer::new();
                w.int(list.len() as i32);
                for c in &list {
                    w.bytes(&c.name).int(c.entries.len() as i32);
                    for &(i, o, f) in &c.entries {
                        w.int(i).int(o).int(f);
                    }
                }
                Ok(Some(w.finish()))
            }
            _ => Err(Error::NotImpl),
        }
    }
}

/// The reply body of a successful MboxRecv: index, source, encoding, body.
fn recv_reply(index: i32, e: &Entry) -> Vec<u8> {
    Writer::new()
        .int(index)
        .int(e.src)
        .int(e.enc)
        .bytes(&e.body)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::{mbox_direct_index, PVMNORESETCLASS, PVMRMCLASS};

    const A: i32 = 0x40001;
    const B: i32 = 0x40002;
    const OW: i32 = PvmMboxOverWritable;
    const MI: i32 = PvmMboxMultiInstance;
    const PE: i32 = PvmMboxPersistent;
    const INSERT_FLAGS: i32 = PE | MI;

    fn put(m: &mut Mailbox, tid: i32, name: &str, flags: i32, v: u8) -> Result<i32> {
        m.put(tid, name.as_bytes(), flags, -1, 0, vec![v])
    }

    fn body(m: &mut Mailbox, tid: i32, name: &str, index: i32, flags: i32) -> Result<(i32, u8)> {
        m.recv(tid, name.as_bytes(), index, flags)
            .map(|(i, e)| (i, e.body[0]))
    }

    #[test]
    fn snapshot_restores_entries_without_waiters() {
        let mut m = Mailbox::new();
        assert_eq!(put(&mut m, A, "keep", PE, 7), Ok(0));
        assert_eq!(put(&mut m, B, "multi", MI, 8), Ok(0));
        assert_eq!(put(&mut m, B, "multi", MI, 9), Ok(1));
        let mut w = crate::wire::Writer::new();
        m.snapshot(&mut w);
        let body = w.finish();
        let mut back = Mailbox::restore(&mut crate::wire::Reader::new(&body)).unwrap();
        assert_eq!(back.info(b""), m.info(b""));
        assert_eq!(body_of(&mut back, "multi", 1), Ok((1, 9)));
        // The copy behaves as the original: A's host goes, its persistent
        // entry stays without an owner.
        back.host_gone(0x40000);
        assert_eq!(back.info(b"keep")[0].entries, vec![(0, 0, PE)]);
        assert_eq!(back.waiting(), 0);
    }

    fn body_of(m: &mut Mailbox, name: &str, index: i32) -> Result<(i32, u8)> {
        body(m, B, name, index, 0)
    }

    #[test]
    fn default_entry_is_replaced_by_owner_denied_to_others() {
        let mut m = Mailbox::new();
        assert_eq!(put(&mut m, A, "x", 0, 1), Ok(0));
        assert_eq!(put(&mut m, A, "x", 0, 2), Ok(0));
        assert_eq!(put(&mut m, B, "x", 0, 3), Err(Error::Denied));
        assert_eq!(put(&mut m, B, "x", OW, 3), Err(Error::Denied));
        assert_eq!(body(&mut m, B, "x", 0, 0), Ok((0, 2)));
        // A multi-instance put goes beside it.
        assert_eq!(put(&mut m, B, "x", MI, 4), Ok(1));
        assert_eq!(m.delete(B, b"x", 0), Err(Error::Denied));
        assert_eq!(m.delete(A, b"x", 0), Ok(0));
        assert_eq!(m.delete(A, b"x", 0), Err(Error::NotFound));
    }

    #[test]
    fn overwritable_entries_change_owner() {
        let mut m = Mailbox::new();
        assert_eq!(put(&mut m, A, "o", OW, 1), Ok(0));
        assert_eq!(put(&mut m, B, "o", 0, 2), Ok(0));
        let info = m.info(b"o");
        assert_eq!(info[0].entries, vec![(0, B, 0)]);
        assert_eq!(put(&mut m, A, "o", 0, 3), Err(Error::Denied));
    }

    #[test]
    fn multi_instance_fills_lowest_free_index() {
        let mut m = Mailbox::new();
        for v in 0..3 {
            assert_eq!(put(&mut m, A, "m", MI, v), Ok(v as i32));
        }
        assert_eq!(m.delete(A, b"m", 1), Ok(1));
        assert_eq!(put(&mut m, A, "m", MI, 9), Ok(1));
        assert_eq!(body(&mut m, B, "m", 1, 0), Ok((1, 9)));
        assert_eq!(body(&mut m, B, "m", 3, 0), Err(Error::NotFound));
        assert_eq!(body(&mut m, B, "m", 2, PvmMboxFirstAvail), Ok((2, 2)));
        assert_eq!(
            body(&mut m, B, "m", 3, PvmMboxFirstAvail),
            Err(Error::NotFound)
        );
        assert_eq!(body(&mut m, B, "m", -1, 0), Err(Error::BadParam));
    }

    #[test]
    fn read_and_delete_needs_the_right_to_delete() {
        let mut m = Mailbox::new();
        put(&mut m, A, "r", MI, 1).unwrap();
        put(&mut m, A, "r", MI | OW, 2).unwrap();
        assert_eq!(
            body(&mut m, B, "r", 0, PvmMboxReadAndDelete),
            Err(Error::Denied)
        );
        assert_eq!(body(&mut m, B, "r", 1, PvmMboxReadAndDelete), Ok((1, 2)));
        assert_eq!(body(&mut m, B, "r", 1, 0), Err(Error::NotFound));
        assert_eq!(body(&mut m, A, "r", 0, PvmMboxReadAndDelete), Ok((0, 1)));
        assert!(m.info(b"*").is_empty(), "emptied class disappears");
    }

    #[test]
    fn exit_removes_entries_and_orphans_persistent_ones() {
        let mut m = Mailbox::new();
        put(&mut m, A, "gone", 0, 1).unwrap();
        put(&mut m, A, "kept", PE, 2).unwrap();
        put(&mut m, A, "pm", PE | MI, 3).unwrap();
        put(&mut m, B, "pm", PE | MI, 4).unwrap();
        m.task_gone(A);
        let info = m.info(b"");
        assert_eq!(info.len(), 2);
        assert_eq!(info[0].name, b"kept");
        assert_eq!(info[0].entries, vec![(0, 0, PE)]);
        assert_eq!(info[1].entries, vec![(0, 0, PE | MI), (1, B, PE | MI)]);
        // Nobody owns it now: not replaceable, not deletable; still readable.
        assert_eq!(put(&mut m, B, "kept", 0, 5), Err(Error::Denied));
        assert_eq!(m.delete(B, b"kept", 0), Err(Error::Denied));
        assert_eq!(body(&mut m, B, "kept", 0, 0), Ok((0, 2)));
        assert_eq!(m.recv(B, b"kept", 0, 0).unwrap().1.src, A);
    }

    #[test]
    fn direct_index_targets_that_index() {
        let mut m = Mailbox::new();
        let di = |i| mbox_direct_index(i).unwrap();
        assert_eq!(put(&mut m, A, "d", OW, 1), Ok(0));
        assert_eq!(put(&mut m, A, "d", di(3) | OW, 2), Ok(3));
        assert_eq!(put(&mut m, B, "d", di(3) | OW, 3), Err(Error::Denied));
        assert_eq!(put(&mut m, A, "d", di(2) | OW | MI, 4), Ok(2));
        assert_eq!(put(&mut m, B, "d", di(2) | OW | MI, 5), Ok(2));
        assert_eq!(body(&mut m, A, "d", 2, 0), Ok((2, 5)));
        assert_eq!(m.info(b"d")[0].entries[1], (2, B, di(2) | OW | MI));
    }

    #[test]
    fn insert_at_exact_index() {
        let mut m = Mailbox::new();
        let ins = |m: &mut Mailbox, i| m.put(A, b"i", INSERT_FLAGS, i, 0, vec![0]);
        assert_eq!(ins(&mut m, 0), Ok(0));
        assert_eq!(ins(&mut m, 0), Err(Error::Denied));
        assert_eq!(ins(&mut m, 5), Ok(5));
        assert_eq!(put(&mut m, A, "i", INSERT_FLAGS, 0), Ok(1));
    }

    #[test]
    fn patterns_are_unanchored_with_star() {
        assert!(pattern_matches(b"*", b"abc"));
        assert!(pattern_matches(b"", b"abc"));
        assert!(pattern_matches(b"ab", b"xabc"));
        assert!(pattern_matches(b"a*c", b"xa.yc"));
        assert!(pattern_matches(b"*c", b"abc"));
        assert!(!pattern_matches(b"ab?", b"abc"));
        assert!(!pattern_matches(b".*", b"abc"));
        assert!(!pattern_matches(b"^M$", b"M"));
        assert!(pattern_matches(b"a.c", b"a.c"));
        assert!(!pattern_matches(b"abd", b"abc"));
    }

    #[test]
    fn system_class_names_are_ordinary() {
        let mut m = Mailbox::new();
        assert_eq!(put(&mut m, A, PVMNORESETCLASS, INSERT_FLAGS, 1), Ok(0));
        assert_eq!(put(&mut m, A, PVMRMCLASS, 0, 2), Ok(0));
        assert_eq!(m.info(b"###").len(), 2);
        assert_eq!(body(&mut m, B, PVMRMCLASS, 0, 0), Ok((0, 2)));
    }

    #[test]
    fn waiters_are_answered_by_a_matching_put() {
        let mut m = Mailbox::new();
        let req = |name: &str, index: i32, flags: i32| {
            Writer::new()
                .bytes(name.as_bytes())
                .int(index)
                .int(flags)
                .finish()
        };
        let w = PvmMboxWaitForInfo;
        let b1 = req("w", 0, w | PvmMboxReadAndDelete);
        let b2 = req("w", 1, w | PvmMboxFirstAvail);
        let o1 = m.request(Req::MboxRecv, B, Token(7), 11, &mut Reader::new(&b1));
        let o2 = m.request(Req::MboxRecv, B, Token(7), 12, &mut Reader::new(&b2));
        assert!(matches!(o1, Outcome::Wait) && matches!(o2, Outcome::Wait));
        assert_eq!(m.waiting(), 2);
        put(&mut m, A, "other", 0, 1).unwrap();
        assert!(m.take_woken().is_empty());
        assert_eq!(put(&mut m, A, "w", MI | OW, 1), Ok(0));
        let woken = m.take_woken();
        assert_eq!(woken.len(), 1);
        assert_eq!(woken[0].wid, 11);
        let body = woken[0].reply.clone().unwrap();
        let mut r = Reader::new(&body);
        assert_eq!((r.int(), r.int(), r.int()), (Ok(0), Ok(A), Ok(0)));
        assert_eq!(r.bytes(), Ok(&[1u8][..]));
        assert!(m.info(b"w").is_empty(), "read and deleted");
        assert_eq!(put(&mut m, A, "w", MI, 2), Ok(0));
        assert!(m.take_woken().is_empty(), "index 0 is below the wanted 1");
        assert_eq!(put(&mut m, A, "w", MI, 3), Ok(1));
        assert_eq!(m.take_woken()[0].wid, 12);
        assert_eq!(m.waiting(), 0);
        // Waiters die with their connection or task.
        let b3 = req("z", 0, w);
        m.request(Req::MboxRecv, B, Token(8), 13, &mut Reader::new(&b3));
        m.conn_gone(Token(8));
        m.request(Req::MboxRecv, B, Token(9), 14, &mut Reader::new(&b3));
        m.task_gone(B);
        assert_eq!(m.waiting(), 0);
    }
}
