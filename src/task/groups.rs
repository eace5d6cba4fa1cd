//! The task side of dynamic process groups (libgpvm3): pvm_joingroup,
//! pvm_lvgroup, pvm_gettid, pvm_getinst, pvm_gsize, pvm_barrier, pvm_bcast,
//! pvm_reduce (and the predefined PvmMax, PvmMin, PvmSum, PvmProduct),
//! pvm_gather, pvm_scatter and pvm_freezegroup.
//!
//! Membership and synchronisation are requests to the group service of the
//! master daemon (`daemon::groups`); a barrier or freeze is acknowledged at
//! once and released later by a daemon message (tag `TAG_BARRIER` or
//! `TAG_FREEZE`). Data moves task to task: pvm_bcast multicasts the user's
//! send buffer with the user's tag in the current context (members receive
//! it with pvm_recv, as in PVM); reduce, gather and scatter send raw bytes
//! with the user's tag in the reserved context `GROUP_CTX`, which no user
//! receive can match. A frozen group's member list is cached here.

use super::rt;
use crate::msg::Encoding;
use crate::sync::Locked;
use crate::wire::vocabulary::{GROUP_CTX, TAG_BARRIER, TAG_FREEZE};
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};
use std::collections::HashMap;
use std::time::Duration;

/// PVM data type codes (pvm3.h) the collective calls accept.
pub const PVM_STR: i32 = 0;
pub const PVM_BYTE: i32 = 1;
pub const PVM_SHORT: i32 = 2;
pub const PVM_INT: i32 = 3;
pub const PVM_FLOAT: i32 = 4;
pub const PVM_CPLX: i32 = 5;
pub const PVM_DOUBLE: i32 = 6;
pub const PVM_DCPLX: i32 = 7;
pub const PVM_LONG: i32 = 8;

/// How often a task waiting for a member's data checks that it still lives.
const LIVENESS_CHECK: Duration = Duration::from_millis(500);

/// Size in bytes of one element of `datatype`. PVM 3.4.6 refuses the
/// unsigned types (PVM_USHORT, PVM_UINT, PVM_ULONG) in the collective calls
/// with PvmBadParam, and so does this; PVM_STR counts as bytes.
pub fn type_size(datatype: i32) -> Result<usize> {
    Ok(match datatype {
        PVM_STR | PVM_BYTE => 1,
        PVM_SHORT => 2,
        PVM_INT | PVM_FLOAT => 4,
        PVM_CPLX | PVM_DOUBLE | PVM_LONG => 8,
        PVM_DCPLX => 16,
        _ => return Err(Error::BadParam),
    })
}

/// Member lists of frozen groups (instance, tid), cached after
/// pvm_freezegroup or the first call that saw the group frozen; group name
/// -> (instance, tid) of each member. Lives in the runtime ([`super::rt`]).
pub(super) type FrozenCache = HashMap<Vec<u8>, Vec<(i32, i32)>>;

/// The combining step of pvm_reduce: `x` (the root's values) combined with
/// `y` (one member's values) into `x`.
pub type Combine<'a> = dyn FnMut(&mut [u8], &[u8]) -> Result<()> + 'a;

fn cached(name: &[u8]) -> Option<Vec<(i32, i32)>> {
    let g = super::rt().frozen.locked();
    g.as_ref().and_then(|m| m.get(name).cloned())
}

fn cache(name: &[u8], members: &[(i32, i32)]) {
    let mut g = super::rt().frozen.locked();
    g.get_or_insert_with(HashMap::new)
        .insert(name.to_vec(), members.to_vec());
}

fn uncache(name: &[u8]) {
    let mut g = super::rt().frozen.locked();
    if let Some(m) = g.as_mut() {
        m.remove(name);
    }
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() {
        return Err(Error::NullGroup);
    }
    Ok(())
}

fn ask(req: Req, name: &[u8], args: &[i32]) -> Result<Vec<u8>> {
    check_name(name)?;
    let mut w = Writer::new();
    w.bytes(name);
    for a in args {
        w.int(*a);
    }
    rt().request(req, &w.finish())
}

fn ask_int(req: Req, name: &[u8], args: &[i32]) -> Result<i32> {
    let reply = ask(req, name, args)?;
    Reader::new(&reply).int()
}

/// The members of group `name` as (instance, tid), by instance; from the
/// cache when the group is frozen.
pub fn members(name: &[u8]) -> Result<Vec<(i32, i32)>> {
    check_name(name)?;
    if let Some(m) = cached(name) {
        return Ok(m);
    }
    let reply = ask(Req::GroupMembers, name, &[])?;
    let mut r = Reader::new(&reply);
    let frozen = r.int()? != 0;
    let n = r.count(8)?;
    let list = (0..n)
        .map(|_| Ok((r.int()?, r.int()?)))
        .collect::<Result<Vec<_>>>()?;
    if frozen {
        cache(name, &list);
    }
    Ok(list)
}

/// pvm_joingroup: our instance number in `name`.
pub fn joingroup(name: &[u8]) -> Result<i32> {
    ask_int(Req::GroupJoin, name, &[])
}

/// pvm_lvgroup: leaves `name` (and forgets a cached frozen group).
pub fn lvgroup(name: &[u8]) -> Result<()> {
    check_name(name)?;
    uncache(name);
    ask(Req::GroupLeave, name, &[]).map(|_| ())
}

/// pvm_gettid: the tid of instance `inst` of `name`.
pub fn gettid(name: &[u8], inst: i32) -> Result<i32> {
    if let Some(m) = cached(name) {
        return m
            .iter()
            .find(|(i, _)| *i == inst)
            .map(|(_, t)| *t)
            .ok_or(Error::NoInst);
    }
    ask_int(Req::GroupTid, name, &[inst])
}

/// pvm_getinst: the instance number of `tid` in `name`.
pub fn getinst(name: &[u8], tid: i32) -> Result<i32> {
    if let Some(m) = cached(name) {
        return m
            .iter()
            .find(|(_, t)| *t == tid)
            .map(|(i, _)| *i)
            .ok_or(Error::NotInGroup);
    }
    ask_int(Req::GroupInst, name, &[tid])
}

/// pvm_gsize: the number of members of `name`.
pub fn gsize(name: &[u8]) -> Result<i32> {
    if let Some(m) = cached(name) {
        return Ok(m.len() as i32);
    }
    ask_int(Req::GroupSize, name, &[])
}

/// Waits for the daemon's release message `tag` of sync `gen` of group
/// `name` (its call's reply gave the number); returns its status.
/// Releases of other syncs of the group (sent again by a new master,
/// docs/PROTOCOL.md "Succession") are dropped.
fn wait_release(tag: i32, name: &[u8], gen: i32) -> Result<i32> {
    let conn = rt().conn()?;
    let buf = rt()
        .wait_for(&conn, None, |st| {
            let of_group = |id: i32| {
                st.bufs.get(id).ok().and_then(|b| {
                    let i = b.info();
                    if i.ctx != GROUP_CTX || i.tag != tag {
                        return None;
                    }
                    release_of(&b.to_bytes()).filter(|(n, _)| n == name)
                })
            };
            let stale: Vec<i32> = st
                .queue
                .iter()
                .copied()
                .filter(|&id| of_group(id).is_some_and(|(_, g)| g != gen))
                .collect();
            let id = st
                .queue
                .iter()
                .copied()
                .find(|&id| of_group(id).is_some_and(|(_, g)| g == gen));
            for s in stale {
                st.queue.retain(|&q| q != s);
                let _ = st.bufs.take(s);
            }
            let id = id?;
            let pos = st.queue.iter().position(|&q| q == id)?;
            st.queue.remove(pos);
            st.bufs.take(id).ok()
        })?
        .ok_or(Error::SysErr)?;
    let body = buf.into_bytes();
    Reader::new(&body).int()
}

/// The group name and sync number of a release.
fn release_of(body: &[u8]) -> Option<(Vec<u8>, i32)> {
    let mut r = Reader::new(body);
    r.int().ok()?;
    let name = r.bytes().ok()?.to_vec();
    Some((name, r.int().ok()?))
}

/// pvm_barrier: blocks until `count` members (-1: all) called it.
pub fn barrier(name: &[u8], count: i32) -> Result<()> {
    let gen = ask_int(Req::GroupBarrier, name, &[count])?;
    let status = wait_release(TAG_BARRIER, name, gen)?;
    if status < 0 {
        return Err(Error::from_code(status).unwrap_or(Error::SysErr));
    }
    Ok(())
}

/// pvm_freezegroup: makes `name` static once `size` members (-1: the
/// current size) called it; returns the size.
pub fn freezegroup(name: &[u8], size: i32) -> Result<i32> {
    let gen = ask_int(Req::GroupFreeze, name, &[size])?;
    let status = wait_release(TAG_FREEZE, name, gen)?;
    if status < 0 {
        return Err(Error::from_code(status).unwrap_or(Error::SysErr));
    }
    members(name)?;
    Ok(status)
}

/// pvm_bcast: sends the active send buffer with `tag` to every member of
/// `name` but us; the tids it went to. PvmNoInst when nobody else is in
/// the group (as PVM 3.4.6).
pub fn bcast(name: &[u8], tag: i32) -> Result<Vec<i32>> {
    let me = rt().mytid()?;
    let tids: Vec<i32> = members(name)?
        .into_iter()
        .map(|(_, t)| t)
        .filter(|&t| t != me)
        .collect();
    if tids.is_empty() {
        return Err(Error::NoInst);
    }
    if tag < 0 {
        return Err(Error::BadParam);
    }
    rt().mcast(&tids, tag)?;
    Ok(tids)
}

/// Sends `bytes` to `dst` with `tag` in the group context.
fn send_data(dst: i32, tag: i32, bytes: Vec<u8>) -> Result<()> {
    rt().send_bytes(&bytes, Encoding::Raw.code(), dst, tag, Some(GROUP_CTX))
}

/// Receives the group-context message `tag` from `src`. Fails with
/// PvmNoInst when `src` exits before sending (checked every half second),
/// so a collective call never waits for a task that is gone.
fn recv_data(src: i32, tag: i32) -> Result<Vec<u8>> {
    let r = rt();
    let conn = r.conn()?;
    loop {
        let got = r.wait_for(&conn, Some(LIVENESS_CHECK), |st| {
            let id = st.queue.iter().copied().find(|&id| {
                st.bufs.get(id).is_ok_and(|b| {
                    let i = b.info();
                    i.ctx == GROUP_CTX && i.tag == tag && i.src == src
                })
            })?;
            let pos = st.queue.iter().position(|&q| q == id)?;
            st.queue.remove(pos);
            st.bufs.take(id).ok()
        })?;
        if let Some(b) = got {
            return Ok(b.into_bytes());
        }
        if super::pstat(src).is_err() {
            return Err(Error::NoInst);
        }
    }
}

/// What a collective call needs to know: the members, the root's tid, our
/// tid and our position among the members.
struct Roles {
    members: Vec<(i32, i32)>,
    root: i32,
    me: i32,
}

fn roles(name: &[u8], root_inst: i32) -> Result<Roles> {
    let me = rt().mytid()?;
    let members = members(name)?;
    let root = members
        .iter()
        .find(|(i, _)| *i == root_inst)
        .map(|(_, t)| *t)
        .ok_or(Error::NoInst)?;
    if !members.iter().any(|(_, t)| *t == me) {
        return Err(Error::NotInGroup);
    }
    Ok(Roles { members, root, me })
}

fn check_args(count: i32, datatype: i32) -> Result<usize> {
    let size = type_size(datatype)?;
    if count <= 0 {
        return Err(Error::BadParam);
    }
    Ok(size * count as usize)
}

/// pvm_reduce: every member but the root sends `data` to the root, which
/// combines the values of all members into its `data` with `combine(x, y)`,
/// in instance order. `data` holds `count` elements of `datatype`.
pub fn reduce(
    combine: &mut Combine<'_>,
    data: &mut [u8],
    count: i32,
    datatype: i32,
    tag: i32,
    name: &[u8],
    root_inst: i32,
) -> Result<()> {
    let len = check_args(count, datatype)?;
    if data.len() < len {
        return Err(Error::BadParam);
    }
    let ro = roles(name, root_inst)?;
    if ro.me != ro.root {
        return send_data(ro.root, tag, data[..len].to_vec());
    }
    let mut first_err = None;
    for &(_, t) in &ro.members {
        if t == ro.me {
            continue;
        }
        let y = recv_data(t, tag)?;
        if y.len() != len {
            first_err.get_or_insert(Error::Mismatch);
            continue;
        }
        if first_err.is_none() {
            if let Err(e) = combine(&mut data[..len], &y) {
                first_err = Some(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// pvm_gather: every member sends `data` (`count` elements) to the root;
/// the root's answer is the concatenation by instance order (a member's
/// block at its rank among the instances, which is its instance number
/// when no number is missing). Non-roots get `None`.
pub fn gather(
    data: &[u8],
    count: i32,
    datatype: i32,
    tag: i32,
    name: &[u8],
    root_inst: i32,
) -> Result<Option<Vec<u8>>> {
    let len = check_args(count, datatype)?;
    if data.len() < len {
        return Err(Error::BadParam);
    }
    let ro = roles(name, root_inst)?;
    if ro.me != ro.root {
        send_data(ro.root, tag, data[..len].to_vec())?;
        return Ok(None);
    }
    let mut out = Vec::with_capacity(len * ro.members.len());
    for &(_, t) in &ro.members {
        if t == ro.me {
            out.extend_from_slice(&data[..len]);
        } else {
            let y = recv_data(t, tag)?;
            if y.len() != len {
                return Err(Error::Mismatch);
            }
            out.extend_from_slice(&y);
        }
    }
    Ok(Some(out))
}

/// pvm_scatter: the root sends the i-th block of `count` elements of its
/// data to the i-th member (by instance order), itself included; every
/// member returns its block. `root_data` is asked (at the root only) for
/// the given number of bytes.
pub fn scatter(
    root_data: impl FnOnce(usize) -> Result<Vec<u8>>,
    count: i32,
    datatype: i32,
    tag: i32,
    name: &[u8],
    root_inst: i32,
) -> Result<Vec<u8>> {
    let len = check_args(count, datatype)?;
    let ro = roles(name, root_inst)?;
    if ro.me != ro.root {
        let y = recv_data(ro.root, tag)?;
        if y.len() != len {
            return Err(Error::Mismatch);
        }
        return Ok(y);
    }
    let all = root_data(len * ro.members.len())?;
    let mut mine = Vec::new();
    for (k, &(_, t)) in ro.members.iter().enumerate() {
        let block = all[k * len..(k + 1) * len].to_vec();
        if t == ro.me {
            mine = block;
        } else {
            send_data(t, tag, block)?;
        }
    }
    Ok(mine)
}

/// The predefined reduce functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Max,
    Min,
    Sum,
    Product,
}

/// Applies `op` element-wise: `x[i] = op(x[i], y[i])` for `num` elements of
/// `datatype` (native byte order). Max and Min compare complex values by
/// modulus and take the whole pair; Sum and Product refuse PVM_BYTE (and
/// PVM_STR) with PvmBadParam, as the man page says.
pub fn apply(op: ReduceOp, datatype: i32, x: &mut [u8], y: &[u8], num: usize) -> Result<()> {
    macro_rules! each {
        ($t:ty) => {{
            const W: usize = std::mem::size_of::<$t>();
            for (a, b) in x.chunks_exact_mut(W).zip(y.chunks_exact(W)).take(num) {
                let p = <$t>::from_ne_bytes(a.try_into().unwrap_or_default());
                let q = <$t>::from_ne_bytes(b.try_into().unwrap_or_default());
                let v = match op {
                    ReduceOp::Max => {
                        if q > p {
                            q
                        } else {
                            p
                        }
                    }
                    ReduceOp::Min => {
                        if q < p {
                            q
                        } else {
                            p
                        }
                    }
                    ReduceOp::Sum => p.wrapping_add_(q),
                    ReduceOp::Product => p.wrapping_mul_(q),
                };
                a.copy_from_slice(&v.to_ne_bytes());
            }
        }};
    }
    macro_rules! cplx {
        ($t:ty) => {{
            const W: usize = std::mem::size_of::<$t>();
            for (a, b) in x
                .chunks_exact_mut(2 * W)
                .zip(y.chunks_exact(2 * W))
                .take(num)
            {
                let get = |s: &[u8], i: usize| {
                    <$t>::from_ne_bytes(s[i * W..(i + 1) * W].try_into().unwrap_or_default())
                };
                let (pr, pi, qr, qi) = (get(a, 0), get(a, 1), get(b, 0), get(b, 1));
                let (r, i) = match op {
                    ReduceOp::Max | ReduceOp::Min => {
                        let mp = pr * pr + pi * pi;
                        let mq = qr * qr + qi * qi;
                        let take_q = if op == ReduceOp::Max {
                            mq > mp
                        } else {
                            mq < mp
                        };
                        if take_q {
                            (qr, qi)
                        } else {
                            (pr, pi)
                        }
                    }
                    ReduceOp::Sum => (pr + qr, pi + qi),
                    ReduceOp::Product => (pr * qr - pi * qi, pr * qi + pi * qr),
                };
                a[..W].copy_from_slice(&r.to_ne_bytes());
                a[W..].copy_from_slice(&i.to_ne_bytes());
            }
        }};
    }
    let need = num * type_size(datatype)?;
    if x.len() < need || y.len() < need {
        return Err(Error::BadParam);
    }
    match datatype {
        PVM_STR | PVM_BYTE if matches!(op, ReduceOp::Sum | ReduceOp::Product) => {
            return Err(Error::BadParam)
        }
        // PVM_BYTE is a signed char in PVM 3.4.6's reductions.
        PVM_STR | PVM_BYTE => each!(i8),
        PVM_SHORT => each!(i16),
        PVM_INT => each!(i32),
        PVM_LONG => each!(i64),
        PVM_FLOAT => each!(f32),
        PVM_DOUBLE => each!(f64),
        PVM_CPLX => cplx!(f32),
        PVM_DCPLX => cplx!(f64),
        _ => return Err(Error::BadParam),
    }
    Ok(())
}

/// Wrapping arithmetic for integers, plain arithmetic for floats, under one
/// name for the `apply` macro.
trait Arith: Sized {
    fn wrapping_add_(self, o: Self) -> Self;
    fn wrapping_mul_(self, o: Self) -> Self;
}

macro_rules! arith_int {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn wrapping_add_(self, o: Self) -> Self { self.wrapping_add(o) }
            fn wrapping_mul_(self, o: Self) -> Self { self.wrapping_mul(o) }
        }
    )*};
}
macro_rules! arith_float {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            fn wrapping_add_(self, o: Self) -> Self { self + o }
            fn wrapping_mul_(self, o: Self) -> Self { self * o }
        }
    )*};
}
arith_int!(i8, i16, i32, i64);
arith_float!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    #[test]
    fn integer_ops() {
        for (op, want) in [
            (ReduceOp::Max, [5, 2, -1]),
            (ReduceOp::Min, [1, -7, -3]),
            (ReduceOp::Sum, [6, -5, -4]),
            (ReduceOp::Product, [5, -14, 3]),
        ] {
            let mut x = ints(&[1, 2, -1]);
            apply(op, PVM_INT, &mut x, &ints(&[5, -7, -3]), 3).unwrap();
            assert_eq!(x, ints(&want), "{op:?}");
        }
    }

    #[test]
    fn bytes_are_signed_and_refuse_sum() {
        let mut x = vec![250u8, 1];
        apply(ReduceOp::Max, PVM_BYTE, &mut x, &[30, 0], 2).unwrap();
        assert_eq!(x, [30, 1]);
        assert_eq!(
            apply(ReduceOp::Sum, PVM_BYTE, &mut x, &[1, 1], 2),
            Err(Error::BadParam)
        );
        assert_eq!(
            apply(ReduceOp::Max, 10, &mut x, &[1, 1], 1),
            Err(Error::BadParam)
        );
    }

    #[test]
    fn complex_by_modulus_and_product() {
        let c = |v: &[f64]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let mut x = c(&[3.0, 4.0]);
        apply(ReduceOp::Max, PVM_DCPLX, &mut x, &c(&[0.0, 5.5]), 1).unwrap();
        assert_eq!(x, c(&[0.0, 5.5]));
        let mut x = c(&[1.0, 2.0]);
        apply(ReduceOp::Product, PVM_DCPLX, &mut x, &c(&[3.0, 4.0]), 1).unwrap();
        assert_eq!(x, c(&[-5.0, 10.0]));
        assert_eq!(type_size(PVM_CPLX), Ok(8));
        assert_eq!(type_size(11), Err(Error::BadParam));
    }
}
