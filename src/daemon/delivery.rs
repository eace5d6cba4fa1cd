//! What the daemon sends on its own: notifications (pvm_notify), group
//! releases, output settings, route and host events, and halting.

use super::groups::Release;
use super::log::dlog;
use super::notify::{Note, NotifyRequest};
use super::output::Dest;
use super::server::{Daemon, LocalWorld, SIGNALS};
use crate::wire::{Frame, Header, Kind, Reader, Req};
use crate::{os, tid, Error};
use mio::Token;

impl Daemon {
    /// Sends a daemon-made message (notification, output) like a routed
    /// one: to the task's connection, held until it connects, or dropped.
    pub(super) fn deliver(&mut self, note: Note) {
        let frame = Frame::new(
            Header {
                src: note.src,
                dst: note.dst,
                tag: note.tag,
                ctx: note.ctx,
                enc: crate::msg::Encoding::Default.code(),
                ..Header::new(Kind::Msg)
            },
            note.body,
        );
        let Some(frame) = self.route_remote(frame) else {
            return;
        };
        let Some(task) = self.tasks.get_mut(note.dst) else {
            dlog!(
                self.log,
                Debug,
                "notice tag {} to unknown task {} dropped",
                note.tag,
                tid::fmt(note.dst)
            );
            return;
        };
        match task.conn {
            Some(c) => self.send_bytes(c, frame.to_bytes()),
            None => self.hold_for(frame),
        }
    }

    pub(super) fn deliver_all(&mut self, notes: Vec<Note>) {
        for n in notes {
            self.deliver(n);
        }
    }

    /// Task `t` left (exit, closed connection, process gone): its last
    /// output is read, then its TaskExit notifications go out.
    pub(super) fn task_gone(&mut self, t: i32) {
        self.drain_pipes_of(t);
        self.trace_task_gone(t);
        self.output.forget(t);
        self.multi_task_gone(t);
        self.rm_task_gone(t);
        let notes = self.notify.task_exited(t);
        self.deliver_all(notes);
        let released = self.groups.task_gone(t);
        self.deliver_releases(released);
    }

    /// Serves a group request (70-77) of task `from`: the reply is returned
    /// (sent through the generic reply path), barrier and freeze releases
    /// go out after it as messages to the waiting tids. Takes no connection,
    /// so a request forwarded from another host's daemon is served alike.
    pub fn group_request(&mut self, req: Req, from: i32, body: &[u8]) -> Result<Vec<u8>, Error> {
        self.groups
            .request_then_release(req, from, &mut Reader::new(body))
    }

    /// Task `t` of another host is gone: it leaves its groups.
    pub fn groups_task_gone(&mut self, t: i32) {
        let released = self.groups.task_gone(t);
        self.deliver_releases(released);
    }

    /// Host `host` (host part) failed: its tasks leave their groups.
    pub fn groups_host_gone(&mut self, host: i32) {
        let released = self.groups.host_gone(host);
        self.deliver_releases(released);
    }

    /// Releases of barrier and freeze waiters: on a master they wait for
    /// the successor's copy that shows the change (succession.rs).
    pub(super) fn deliver_releases(&mut self, released: Vec<Release>) {
        self.release_replicated(released);
    }

    /// Sends release `r` (the group service no longer keeps it).
    pub(super) fn send_release(&mut self, r: Release) {
        self.groups.sent(&r);
        let note = release_note(self.me.dtid(), r);
        self.deliver(note);
    }

    /// The notices a request caused, sent after its reply; then the
    /// releases it caused, which wait like the reply
    /// ([`Daemon::deliver_releases`]).
    pub(super) fn deliver_after_reply(&mut self, notes: Vec<Note>) {
        self.deliver_all(notes);
        let released = self.groups.take_after_reply();
        self.deliver_releases(released);
    }

    pub(super) fn req_notify(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let owner = self.requester(token).ok_or(Error::NoTask)?;
        let what = r.int()?;
        let tag = r.int()?;
        let ctx = r.int()?;
        let cnt = r.int()?;
        let n = r.count(4)?;
        let tids = (0..n).map(|_| r.int()).collect::<Result<Vec<_>, _>>()?;
        let req = NotifyRequest {
            what,
            tag,
            ctx,
            cnt,
            tids,
        };
        let world = LocalWorld {
            tasks: &self.tasks,
            host: self.me.host(),
            table: self.multi.table(),
        };
        let now = self.notify.request(owner, &req, &world)?;
        if what == super::notify::TASK_EXIT {
            // Remote tasks are watched at their daemons, which report exits.
            let remote: Vec<i32> = req.tids.clone();
            self.watch_remote(&remote);
        }
        dlog!(
            self.log,
            Debug,
            "notify {what:#x} tag {tag} from {}: {} now, {} held",
            tid::fmt(owner),
            now.len(),
            self.notify.len()
        );
        // Replied first, so the caller's pvm_notify has returned when the
        // notices it caused arrive (they follow the reply on the socket).
        self.note_after_reply(now);
        Ok(Vec::new())
    }

    pub(super) fn req_set_output(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let t = self.conns.tid_of(token).ok_or(Error::NoTask)?;
        let dest = Dest {
            tid: r.int()?,
            code: r.int()?,
            ctx: r.int()?,
        };
        self.output.set_dest(t, dest);
        Ok(Vec::new())
    }

    /// Host `dtid` left the machine: PvmHostDelete notifications (for the
    /// host table of multi-host machines).
    pub fn notify_host_delete(&mut self, dtid: i32) {
        let notes = self.notify.host_deleted(dtid);
        self.deliver_all(notes);
    }

    /// Hosts `dtids` joined the machine: PvmHostAdd notifications. They
    /// carry the hosts' tids as pvm_config gives them (the host part, no
    /// daemon bit), as PVM 3.4.6's do: its tracer looks them up there.
    pub fn notify_host_add(&mut self, dtids: &[i32]) {
        let hosts: Vec<i32> = dtids.iter().map(|&d| crate::tid::host_of(d)).collect();
        let notes = self.notify.hosts_added(&hosts);
        self.deliver_all(notes);
    }

    /// A direct route between tasks `a` and `b` opened (fds unknown to the
    /// daemon are -1): PvmRouteAdd notifications to both ends.
    pub fn route_added(&mut self, a: i32, b: i32) {
        self.route_added_fds(a, -1, b, -1);
    }

    /// As [`Daemon::route_added`], with the descriptor each end uses.
    pub fn route_added_fds(&mut self, a: i32, fd_a: i32, b: i32, fd_b: i32) {
        let notes = self.notify.route_added(a, fd_a, b, fd_b);
        self.deliver_all(notes);
    }

    /// The direct route between tasks `a` and `b` closed: PvmRouteDelete
    /// notifications.
    pub fn route_deleted(&mut self, a: i32, b: i32) {
        let notes = self.notify.route_deleted(a, b);
        self.deliver_all(notes);
    }

    // ---- halt -------------------------------------------------------------

    /// SIGTERM or SIGINT arrived: halt as the console's halt does.
    pub(super) fn signalled(&mut self) {
        self.drain_signals();
        self.begin_halt(SIGNALS, "a signal");
    }

    pub(super) fn begin_halt(&mut self, token: Token, who: &str) {
        if self.is_halting() {
            return;
        }
        dlog!(self.log, Info, "halt requested by {who}, halting");
        self.halt_slaves();
        let requester = self.conns.tid_of(token);
        for t in self.tasks.iter() {
            if Some(t.tid) != requester && t.pid > 0 {
                os::kill(t.pid, libc::SIGTERM);
            }
        }
        self.signal_children(libc::SIGTERM);
        self.arm_halt();
    }
}

/// The message releasing a barrier or freeze waiter.
pub(super) fn release_note(dtid: i32, r: Release) -> Note {
    Note {
        dst: r.tid,
        src: dtid,
        tag: r.tag,
        ctx: super::groups::GROUP_CTX,
        body: r.body(),
    }
}
