//! pvm_notify registrations held by the daemon, and the notification
//! messages they produce.
//!
//! The table is pure bookkeeping: every operation returns the [`Note`]s to
//! deliver and the server sends them as ordinary `Kind::Msg` frames, so they
//! reach each task in order with its other messages. What each event sends
//! (checked against PVM 3.4.6, see docs/PROTOCOL.md):
//!
//! | kind | registered with | message body (packed ints) | src |
//! |---|---|---|---|
//! | PvmTaskExit (1) | a list of task tids | the exited tid | t80000000 |
//! | PvmHostDelete (2) | a list of host/daemon tids | the tid as registered | t80000000 |
//! | PvmHostAdd (3) | a count (-1 or below: until cancelled) | n, then n daemon tids | t80000000 |
//! | PvmRouteAdd (4) | a count, as HostAdd | the peer's tid, the route's fd | the owner itself |
//! | PvmRouteDelete (5) | a list of task tids | the peer's tid, -1 | the owner itself |
//!
//! A registration for something already gone (a task that does not run, a
//! host not in the machine, a route that is not open) fires at once.
//! `PvmNotifyCancel` removes one matching registration per listed tid and,
//! for the list kinds, delivers its message at once as if the event had
//! happened; for the count kinds it just stops them (no message). A task's
//! own registrations are dropped when it leaves.

use crate::msg::{Buffer, Encoding};
use crate::{tid, Error};
use std::collections::BTreeSet;

pub use crate::wire::vocabulary::{
    CANCEL, HOST_ADD, HOST_DELETE, PVMD_SRC, ROUTE_ADD, ROUTE_DELETE, TASK_EXIT,
};

/// A message to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub dst: i32,
    pub src: i32,
    pub tag: i32,
    pub ctx: i32,
    /// Body in PvmDataDefault encoding.
    pub body: Vec<u8>,
}

/// One registration.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reg {
    owner: i32,
    kind: i32,
    tag: i32,
    ctx: i32,
    /// The watched tid (list kinds); 0 for count kinds.
    target: i32,
    /// Notifications left (count kinds); negative: until cancelled.
    count: i32,
}

/// A decoded Notify request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyRequest {
    /// Kind, possibly with `CANCEL`.
    pub what: i32,
    pub tag: i32,
    pub ctx: i32,
    /// For the count kinds, the count.
    pub cnt: i32,
    /// For the list kinds, the tids.
    pub tids: Vec<i32>,
}

/// What the table must know about the machine when a registration comes in.
pub trait World {
    /// Whether task `t` runs (on any host).
    fn task_alive(&self, t: i32) -> bool;
    /// Whether the host of tid `t` (any tid with its host field) is in the machine.
    fn host_alive(&self, t: i32) -> bool;
}

/// Packs ints as pvm_pkint does with PvmDataDefault.
pub fn pack_ints(v: &[i32]) -> Vec<u8> {
    let mut b = Buffer::new(Encoding::Default);
    // Packing into a fresh Default buffer cannot fail.
    let _ = b.pack(v, v.len(), 1);
    b.into_bytes()
}

/// Every registration of this daemon's tasks, and the open direct routes.
#[derive(Default, Debug)]
pub struct NotifyTable {
    regs: Vec<Reg>,
    routes: BTreeSet<(i32, i32)>,
}

fn route_key(a: i32, b: i32) -> (i32, i32) {
    (a.min(b), a.max(b))
}

impl NotifyTable {
    /// An empty table.
    pub fn new() -> NotifyTable {
        NotifyTable::default()
    }

    /// Number of registrations held (for tests and debug logs).
    pub fn len(&self) -> usize {
        self.regs.len()
    }

    /// Whether no registration is held.
    pub fn is_empty(&self) -> bool {
        self.regs.is_empty()
    }

    fn note(r: &Reg, body: &[i32]) -> Note {
        let src = if r.kind == ROUTE_ADD || r.kind == ROUTE_DELETE {
            r.owner
        } else {
            PVMD_SRC
        };
        Note {
            dst: r.owner,
            src,
            tag: r.tag,
            ctx: r.ctx,
            body: pack_ints(body),
        }
    }

    /// The message a list registration sends when its event happens.
    fn fire(r: &Reg) -> Note {
        match r.kind {
            ROUTE_DELETE => Self::note(r, &[r.target, -1]),
            _ => Self::note(r, &[r.target]),
        }
    }

    /// Handles a Notify request from `owner`; returns what to send now.
    pub fn request(
        &mut self,
        owner: i32,
        req: &NotifyRequest,
        world: &impl World,
    ) -> Result<Vec<Note>, Error> {
        let cancel = req.what & CANCEL != 0;
        let kind = req.what & !CANCEL;
        if req.tag < 0 || !(TASK_EXIT..=ROUTE_DELETE).contains(&kind) {
            return Err(Error::BadParam);
        }
        let listed = matches!(kind, TASK_EXIT | HOST_DELETE | ROUTE_DELETE);
        if listed {
            if req.tids.is_empty() {
                return Err(Error::BadParam);
            }
            if kind != HOST_DELETE && req.tids.iter().any(|&t| !tid::is_task(t)) {
                return Err(Error::BadParam);
            }
        }
        let mut out = Vec::new();
        if cancel {
            if listed {
                for &t in &req.tids {
                    let pos = self.regs.iter().position(|r| {
                        r.owner == owner && r.kind == kind && r.tag == req.tag && r.target == t
                    });
                    if let Some(i) = pos {
                        let r = self.regs.remove(i);
                        out.push(Self::fire(&r));
                    }
                }
            } else {
                self.regs
                    .retain(|r| !(r.owner == owner && r.kind == kind && r.tag == req.tag));
            }
            return Ok(out);
        }
        if listed {
            for &t in &req.tids {
                let reg = Reg {
                    owner,
                    kind,
                    tag: req.tag,
                    ctx: req.ctx,
                    target: t,
                    count: 1,
                };
                let gone = match kind {
                    TASK_EXIT => !world.task_alive(t),
                    HOST_DELETE => !world.host_alive(t),
                    _ => !self.routes.contains(&route_key(owner, t)),
                };
                if gone {
                    out.push(Self::fire(&reg));
                } else {
                    self.regs.push(reg);
                }
            }
        } else {
            // The count of a task's HostAdd (RouteAdd) messages is replaced
            // by each new request; 0 turns them off.
            self.regs.retain(|r| !(r.owner == owner && r.kind == kind));
            if req.cnt != 0 {
                self.regs.push(Reg {
                    owner,
                    kind,
                    tag: req.tag,
                    ctx: req.ctx,
                    target: 0,
                    count: req.cnt,
                });
            }
        }
        Ok(out)
    }

    /// Fires every list registration of `kind` whose target satisfies `hit`.
    fn fire_where(&mut self, kind: i32, hit: impl Fn(&Reg) -> bool) -> Vec<Note> {
        let mut out = Vec::new();
        self.regs.retain(|r| {
            if r.kind == kind && hit(r) {
                out.push(Self::fire(r));
                false
            } else {
                true
            }
        });
        out
    }

    /// Task `t` has gone: its TaskExit notifications, and its own
    /// registrations are dropped.
    pub fn task_exited(&mut self, t: i32) -> Vec<Note> {
        self.regs.retain(|r| r.owner != t);
        self.routes.retain(|&(a, b)| a != t && b != t);
        self.fire_where(TASK_EXIT, |r| r.target == t)
    }

    /// The tasks of host part `host` some registration waits on to exit.
    pub fn exit_targets_on(&self, host: i32) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .regs
            .iter()
            .filter(|r| r.kind == TASK_EXIT && tid::host_of(r.target) == host)
            .map(|r| r.target)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The host of daemon `dtid` left the machine: HostDelete notifications
    /// for every registration naming a tid of that host.
    pub fn host_deleted(&mut self, dtid: i32) -> Vec<Note> {
        let host = tid::host_of(dtid);
        self.fire_where(HOST_DELETE, |r| tid::host_of(r.target) == host)
    }

    /// Count registrations of `kind` produce one message each, and run down.
    fn count_down(&mut self, kind: i32, owner: Option<i32>, body: &[i32]) -> Vec<Note> {
        let mut out = Vec::new();
        self.regs.retain_mut(|r| {
            if r.kind != kind || owner.is_some_and(|o| o != r.owner) {
                return true;
            }
            out.push(Self::note(r, body));
            if r.count > 0 {
                r.count -= 1;
            }
            r.count != 0
        });
        out
    }

    /// Hosts with daemon tids `dtids` joined: one HostAdd message per
    /// registration, carrying the count and the tids.
    pub fn hosts_added(&mut self, dtids: &[i32]) -> Vec<Note> {
        if dtids.is_empty() {
            return Vec::new();
        }
        let mut body = vec![dtids.len() as i32];
        body.extend_from_slice(dtids);
        self.count_down(HOST_ADD, None, &body)
    }

    /// A direct route between tasks `a` and `b` was opened; `fd_a`/`fd_b`
    /// are the descriptors each side uses (-1 when not known).
    pub fn route_added(&mut self, a: i32, fd_a: i32, b: i32, fd_b: i32) -> Vec<Note> {
        self.routes.insert(route_key(a, b));
        let mut out = self.count_down(ROUTE_ADD, Some(a), &[b, fd_a]);
        if a != b {
            out.extend(self.count_down(ROUTE_ADD, Some(b), &[a, fd_b]));
        }
        out
    }

    /// The direct route between `a` and `b` was closed.
    pub fn route_deleted(&mut self, a: i32, b: i32) -> Vec<Note> {
        self.routes.remove(&route_key(a, b));
        self.fire_where(ROUTE_DELETE, |r| {
            (r.owner == a && r.target == b) || (r.owner == b && r.target == a)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::MsgInfo;

    struct W {
        tasks: Vec<i32>,
        hosts: Vec<i32>,
    }
    impl World for W {
        fn task_alive(&self, t: i32) -> bool {
            self.tasks.contains(&t)
        }
        fn host_alive(&self, t: i32) -> bool {
            self.hosts.contains(&tid::host_of(t))
        }
    }
    fn world() -> W {
        W {
            tasks: vec![0x40001, 0x40002, 0x40003],
            hosts: vec![0x40000],
        }
    }
    fn req(what: i32, tag: i32, cnt: i32, tids: &[i32]) -> NotifyRequest {
        NotifyRequest {
            what,
            tag,
            ctx: 7,
            cnt,
            tids: tids.to_vec(),
        }
    }
    fn ints(n: &Note) -> Vec<i32> {
        let mut b = Buffer::from_received(n.body.clone(), MsgInfo::default());
        let k = n.body.len() / 4;
        let mut v = vec![0i32; k];
        b.unpack(&mut v, k, 1).unwrap();
        v
    }

    #[test]
    fn task_exit_fires_once_per_watch_and_at_once_for_the_dead() {
        let mut t = NotifyTable::new();
        let now = t
            .request(
                0x40001,
                &req(TASK_EXIT, 40, 2, &[0x40002, 0x40099]),
                &world(),
            )
            .unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(
            (now[0].dst, now[0].src, now[0].tag, now[0].ctx),
            (0x40001, PVMD_SRC, 40, 7)
        );
        assert_eq!(ints(&now[0]), vec![0x40099]);
        assert_eq!(t.len(), 1);
        let fired = t.task_exited(0x40002);
        assert_eq!(fired.len(), 1);
        assert_eq!(ints(&fired[0]), vec![0x40002]);
        assert!(t.task_exited(0x40002).is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn bad_parameters() {
        let mut t = NotifyTable::new();
        let w = world();
        for r in [
            req(99, 1, 1, &[0x40002]),
            req(TASK_EXIT | 512, 1, 1, &[0x40002]),
            req(TASK_EXIT, -5, 1, &[0x40002]),
            req(TASK_EXIT, 1, 0, &[]),
            req(TASK_EXIT, 1, 1, &[tid::daemon_tid(0x40000)]),
            req(ROUTE_DELETE, 1, 1, &[0]),
        ] {
            assert_eq!(t.request(0x40001, &r, &w), Err(Error::BadParam), "{r:?}");
        }
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_delivers_list_kinds_and_silences_count_kinds() {
        let mut t = NotifyTable::new();
        let w = world();
        t.request(0x40001, &req(TASK_EXIT, 40, 2, &[0x40002, 0x40003]), &w)
            .unwrap();
        // A cancel that matches nothing does nothing.
        let none = t
            .request(0x40001, &req(TASK_EXIT | CANCEL, 41, 1, &[0x40003]), &w)
            .unwrap();
        assert!(none.is_empty());
        let c = t
            .request(0x40001, &req(TASK_EXIT | CANCEL, 40, 1, &[0x40003]), &w)
            .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(ints(&c[0]), vec![0x40003]);
        assert!(t.task_exited(0x40003).is_empty());
        assert_eq!(t.task_exited(0x40002).len(), 1);

        t.request(0x40001, &req(HOST_ADD, 42, -1, &[]), &w).unwrap();
        let c = t
            .request(0x40001, &req(HOST_ADD | CANCEL, 42, -1, &[]), &w)
            .unwrap();
        assert!(c.is_empty());
        assert!(t.hosts_added(&[tid::daemon_tid(0x80000)]).is_empty());
    }

    #[test]
    fn host_delete_and_add() {
        let mut t = NotifyTable::new();
        let w = world();
        let d2 = tid::daemon_tid(0x80000);
        // Host 0x80000 is not in the machine: at once.
        let now = t
            .request(0x40001, &req(HOST_DELETE, 43, 2, &[0x40000, d2]), &w)
            .unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(ints(&now[0]), vec![d2]);
        // Any tid of a deleted host fires, carrying the tid registered.
        let fired = t.host_deleted(tid::daemon_tid(0x40000));
        assert_eq!(fired.len(), 1);
        assert_eq!(ints(&fired[0]), vec![0x40000]);
        assert_eq!(fired[0].src, PVMD_SRC);

        t.request(0x40001, &req(HOST_ADD, 44, 2, &[]), &w).unwrap();
        t.request(0x40002, &req(HOST_ADD, 45, -1, &[]), &w).unwrap();
        let a = t.hosts_added(&[d2]);
        assert_eq!(a.len(), 2);
        assert_eq!(ints(&a[0]), vec![1, d2]);
        let d3 = tid::daemon_tid(0xc0000);
        let a = t.hosts_added(&[d2, d3]);
        assert_eq!(a.len(), 2);
        assert_eq!(ints(&a[1]), vec![2, d2, d3]);
        // The count of 2 ran out; -1 goes on.
        let a = t.hosts_added(&[d3]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].dst, 0x40002);
        // A new request replaces the count; 0 turns them off.
        t.request(0x40002, &req(HOST_ADD, 45, 0, &[]), &w).unwrap();
        assert!(t.hosts_added(&[d3]).is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn routes() {
        let mut t = NotifyTable::new();
        let w = world();
        t.request(0x40001, &req(ROUTE_ADD, 48, -1, &[]), &w)
            .unwrap();
        // No route to 0x40002 yet: RouteDelete fires at once with -1.
        let now = t
            .request(0x40001, &req(ROUTE_DELETE, 49, 1, &[0x40002]), &w)
            .unwrap();
        assert_eq!(ints(&now[0]), vec![0x40002, -1]);
        assert_eq!(
            now[0].src, 0x40001,
            "route notices come from the task itself"
        );
        let add = t.route_added(0x40002, 9, 0x40001, 4);
        assert_eq!(add.len(), 1);
        assert_eq!((add[0].dst, add[0].tag), (0x40001, 48));
        assert_eq!(ints(&add[0]), vec![0x40002, 4]);
        assert!(t
            .request(0x40001, &req(ROUTE_DELETE, 49, 1, &[0x40002]), &w)
            .unwrap()
            .is_empty());
        let del = t.route_deleted(0x40001, 0x40002);
        assert_eq!(del.len(), 1);
        assert_eq!(ints(&del[0]), vec![0x40002, -1]);
        // The owner leaving drops its registrations.
        t.task_exited(0x40001);
        assert!(t.is_empty());
    }
}
