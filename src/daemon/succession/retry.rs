//! Requests that outlive their master (docs/PROTOCOL.md "Succession" step 4):
//! a master-only request that was sent to a master lost before it answered
//! goes to the new one under the same request id, and the replica carries
//! each remote task's answer to its last request that changed the state,
//! so the try again is told what the old master did instead of being
//! served twice; the new master also drops the tasks that exited while the
//! old one was being lost (their daemons name their live tasks on following).
//! Part of [`super::Succession`], whose fields it reaches as its child.

use super::super::server::Daemon;
use crate::daemon::log::dlog;
use crate::tid;
use crate::wire::Writer;
use crate::Error;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a master-only request `tag` that was sent to a master lost
/// before it answered goes to the new master (every one: the mailbox, the
/// no-reset list, the groups, halt, addhosts, delhosts): what the old
/// master did with it is in the successor's copy, with its answer when it
/// changed anything (see [`Daemon::answered_before`]). A pvm_addhosts or
/// pvm_delhosts the old master had not answered is served again: a host it
/// added already counts as added, one it deleted as deleted
/// ([`Daemon::retrying`]).
pub(in crate::daemon) fn goes_to_successor(tag: i32) -> bool {
    super::super::multi::master_only(tag)
}

/// Whether request `tag` changes the host table (addhosts, delhosts): its
/// answer is always kept for a try again, and its reply waits for the
/// successor's acknowledgement of a replica sent after the new table (on
/// the same link), so a task told of a host change is never told
/// something the successor does not know.
pub(super) fn host_change(tag: i32) -> bool {
    matches!(tag, 60 | 61)
}

/// A replica body: the state, then the answers.
pub(super) fn with_answers(state: &[u8], answered: &BTreeMap<i32, (i32, Vec<u8>)>) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(answered.len() as i32);
    for (&t, (dwid, body)) in answered {
        w.int(t).int(*dwid).bytes(body);
    }
    let mut body = state.to_vec();
    body.extend_from_slice(&w.finish());
    body
}

/// The reply body (status first) of `result`, as the task gets it.
pub(super) fn reply_body(result: &Result<Vec<u8>, Error>) -> Vec<u8> {
    match result {
        Ok(rest) => {
            let mut b = Writer::new().int(0).finish();
            b.extend_from_slice(rest);
            b
        }
        Err(e) => Writer::new().int(e.code()).finish(),
    }
}

impl Daemon {
    /// Master: keeps `body`, the answer to task `t`'s request `dwid`, for
    /// a try again (at most [`super::MAX_ANSWERED`] tasks' answers).
    pub(super) fn keep_answer(&mut self, t: i32, dwid: i32, body: Vec<u8>) {
        let a = &mut self.succession.answered;
        if a.len() < super::MAX_ANSWERED || a.contains_key(&t) {
            a.insert(t, (dwid, body));
        } else {
            dlog!(
                self.log,
                Warn,
                "{} answers kept already; a try again of {}'s request may be served twice",
                super::MAX_ANSWERED,
                tid::fmt(t)
            );
        }
    }

    /// Master: the reply to a host change (addhosts `tag` 60, delhosts 61)
    /// on `token`, made when it ended: the answer is kept for a try again
    /// and goes to the successor in a replica behind the new table; the
    /// reply waits for its acknowledgement.
    pub(in crate::daemon) fn reply_host_change(
        &mut self,
        token: mio::Token,
        tag: i32,
        wid: i32,
        result: Result<Vec<u8>, Error>,
    ) {
        if self.multi.is_master() {
            if let Some((t, dwid)) = self.forwards.remote_req(token) {
                if t != 0 {
                    self.keep_answer(t, dwid, reply_body(&result));
                }
            }
            self.replicate(true);
        }
        self.reply_replicated(token, tag, wid, result);
    }

    /// Master: the answer recorded for task `t`'s request `dwid`, when
    /// that request changed the replicated state (served by this daemon,
    /// or by the master it replaced): a try again is told the same.
    pub(in crate::daemon) fn answered_before(&self, t: i32, dwid: i32) -> Option<Vec<u8>> {
        if !self.multi.is_master() || t == 0 {
            return None;
        }
        let (d, body) = self.succession.answered.get(&t)?;
        (*d == dwid).then(|| body.clone())
    }

    /// Master: task `t` (of another host) is gone; so is its answer.
    pub(in crate::daemon) fn answered_task_gone(&mut self, t: i32) {
        self.succession.answered.remove(&t);
    }

    /// Master: host `host` is gone, and its tasks' answers.
    pub(in crate::daemon) fn answered_host_gone(&mut self, host: i32) {
        self.succession
            .answered
            .retain(|&t, _| tid::host_of(t) != host);
    }

    /// Request `frame` of the task on `token`, sent to a master that was
    /// lost before it answered (as request `dwid`), goes to the new one:
    /// served here when this daemon is it (told what the old master did
    /// when its copy shows that), else forwarded under the same id.
    pub(in crate::daemon) fn forward_again(
        &mut self,
        token: mio::Token,
        frame: crate::wire::Frame,
        dwid: i32,
    ) {
        let h = frame.header;
        dlog!(
            self.log,
            Info,
            "request {} of {} goes to the new master {}",
            h.tag,
            self.conn_name(token),
            tid::fmt(self.multi.master())
        );
        if !self.multi.is_master() {
            let master = self.multi.master_host();
            self.forward_as(token, &frame, master, Some(dwid));
            return;
        }
        let from = self.requester(token).unwrap_or(0);
        match self.answered_before(from, dwid) {
            Some(body) => self.reply_raw(token, h.tag, h.wid, body),
            None => self.request_again(token, frame),
        }
    }

    /// New master: the tasks of `host` are `alive` (its daemon says so on
    /// following); any other of its tasks that the copy still has in a
    /// group, as a mailbox owner or with an answer exited while the old
    /// master was being lost, and goes as after its TaskGone.
    pub(super) fn tasks_alive_on(&mut self, host: i32, alive: &[i32]) {
        let gone: BTreeSet<i32> = self
            .groups
            .listing()
            .iter()
            .flat_map(|l| l.tids.iter().copied())
            .chain(self.succession.answered.keys().copied())
            .chain(self.mbox.owners())
            .filter(|&t| t > 0 && tid::host_of(t) == host && !alive.contains(&t))
            .collect();
        for t in gone {
            dlog!(
                self.log,
                Info,
                "task {} exited while the master was lost",
                tid::fmt(t)
            );
            self.groups_task_gone(t);
            self.mbox.task_gone(t);
            self.answered_task_gone(t);
        }
        self.replicate(false);
    }
}
