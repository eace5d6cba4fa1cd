//! The receive queue: received messages filed into the buffer table in
//! arrival order, chosen by source, tag and context (or by the user's
//! matcher, pvm_recvf), and taken out by pvm_recv, pvm_nrecv, pvm_trecv,
//! pvm_probe and pvm_precv. Filing runs under the state lock; waiting for
//! what is not there yet is [`super::reader`]'s.

use super::{mhf, output, Matcher, Runtime, State};
use crate::msg::{Buffer, MsgInfo};
use crate::wire::{Frame, Kind, Landing, Reader};
use crate::{tid, Error, Result};
use std::time::{Duration, Instant};

/// How a receive chooses among queued messages.
#[derive(Clone, Copy, Debug)]
pub(super) struct Want {
    pub(super) tid: i32,
    pub(super) tag: i32,
}

impl Runtime {
    /// Finds a queued message for `want`, by the user's matcher when one is
    /// set (called without the lock held, since matchers call pvm_bufinfo).
    pub(super) fn pick(&self, want: Want) -> Result<Option<i32>> {
        let (matcher, snapshot) = {
            let st = self.lock();
            match &st.matcher {
                None => return Ok(st.find_default(want)),
                Some(m) => (m.clone(), st.queue.iter().copied().collect::<Vec<_>>()),
            }
        };
        let mut best: Option<(i32, i32)> = None;
        for id in snapshot {
            let rank = matcher(id, want.tid, want.tag);
            if rank < 0 {
                return Err(Error::from_code(rank).unwrap_or(Error::BadParam));
            }
            if rank == 1 {
                best = Some((id, i32::MAX));
                break;
            }
            if rank > 1 && best.is_none_or(|(_, r)| rank > r) {
                best = Some((id, rank));
            }
        }
        Ok(best.map(|(id, _)| id))
    }

    /// Removes `id` from the queue and makes it the active receive buffer.
    pub(super) fn take(&self, id: i32) -> Option<i32> {
        let mut st = self.lock();
        let pos = st.queue.iter().position(|&q| q == id)?;
        st.queue.remove(pos);
        let old = st.bufs.rbuf();
        if old > 0 && old != id {
            let _ = st.bufs.freebuf(old);
        }
        st.bufs.set_rbuf(id).ok()?;
        Some(id)
    }

    /// The source and tag a receive may ask for (BadParam otherwise).
    pub(super) fn check_want(&self, tid: i32, tag: i32) -> Result<()> {
        // t80000000 ("the local pvmd") is where notifications come from.
        if (tid < -1 && tid != tid::DAEMON_BIT)
            || (tid > 0
                && !crate::tid::is_task(tid)
                && !crate::tid::is_daemon(tid)
                && !crate::tid::is_host(tid))
                && tid != 0
        {
            return Err(Error::BadParam);
        }
        // Reserved (negative) tags need PvmResvTids (taskers, resource managers).
        if tag < -1 && self.lock().opts.resv_tids == 0 {
            return Err(Error::BadParam);
        }
        Ok(())
    }

    /// pvm_recv / pvm_trecv / pvm_nrecv / pvm_probe: `timeout` None blocks,
    /// Some(0) polls. With `take` false the message stays queued (probe).
    pub fn receive(
        &self,
        tid: i32,
        tag: i32,
        timeout: Option<Duration>,
        take: bool,
    ) -> Result<i32> {
        self.check_want(tid, tag)?;
        let conn = self.conn()?;
        let want = Want { tid, tag };
        if self.lock().matcher.is_none() {
            // Fast path: the matching runs under the lock inside wait_for.
            if timeout == Some(Duration::ZERO) {
                self.drain_ready(&conn)?;
            }
            let found =
                self.wait_for(&conn, timeout.filter(|t| !t.is_zero()).or(timeout), |st| {
                    let id = st.find_default(want)?;
                    if take {
                        let pos = st.queue.iter().position(|&q| q == id)?;
                        st.queue.remove(pos);
                        let old = st.bufs.rbuf();
                        if old > 0 && old != id {
                            let _ = st.bufs.freebuf(old);
                        }
                        st.bufs.set_rbuf(id).ok()?;
                    }
                    Some(id)
                })?;
            return Ok(found.unwrap_or(0));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.drain_ready(&conn)?;
            if let Some(id) = self.pick(want)? {
                if !take {
                    return Ok(id);
                }
                if let Some(id) = self.take(id) {
                    return Ok(id);
                }
                continue;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if deadline.is_some() && left.is_zero() {
                return Ok(0);
            }
            // Block until one more frame was filed, then rank again.
            let before = self.lock().queue.len();
            self.wait_for(&conn, Some(left), |st| {
                (st.queue.len() != before).then_some(())
            })?;
        }
    }

    /// pvm_precv: the next message from `tid` with `tag` (-1: any) in the
    /// current context. A large one that comes over a direct TCP link while
    /// this call waits lands straight in `dst` ([`Precv::Landed`]) when its
    /// body fits there and its encoding needs no conversion (native byte
    /// order, or `bytes_only`: the caller takes bytes as they are); any other
    /// is handed over as a buffer, removed from the queue and the buffer
    /// table without touching the active receive buffer (going through it,
    /// as `receive` does, lets concurrent callers free each other's
    /// messages).
    pub fn receive_into(
        &self,
        tid: i32,
        tag: i32,
        dst: &mut [u8],
        bytes_only: bool,
    ) -> Result<Precv> {
        if self.lock().matcher.is_some() {
            // A user matcher ranks by buffer id: use the ordinary path.
            let saved = self.lock().bufs.set_rbuf(0)?;
            let got = self.receive(tid, tag, None, true);
            let mut st = self.lock();
            let msg = got.and_then(|id| st.bufs.take(id));
            let _ = st.bufs.set_rbuf(saved);
            return msg.map(Precv::Buffer);
        }
        // Checked as `receive` does; frames are then read one at a time as
        // needed, leaving a backlog in the socket (not all in memory).
        self.check_want(tid, tag)?;
        let conn = self.conn()?;
        let want = Want { tid, tag };
        let (me, ctx) = {
            let st = self.lock();
            (st.mytid, st.context)
        };
        let accepts = move |h: &crate::wire::Header| {
            h.dst == me
                && h.ctx == ctx
                && (want.tid == -1 || want.tid == h.src)
                && (want.tag == -1 || want.tag == h.tag)
                && crate::msg::Encoding::from_code(h.enc)
                    .is_ok_and(|e| bytes_only || e.byte_order() == crate::msg::ByteOrder::NATIVE)
        };
        let mut landing = Landing {
            dst,
            peer: 0,
            accepts: &accepts,
            busy: false,
            done: None,
        };
        // A message handler may claim the message: it must reach the
        // buffer table first, so nothing lands while one is installed.
        let offer = mhf::none().then_some(&mut landing);
        let got = self.wait_landing(&conn, None, offer, |st| {
            let id = st.find_default(want)?;
            let pos = st.queue.iter().position(|&q| q == id)?;
            st.queue.remove(pos);
            st.bufs.take(id).ok()
        })?;
        match (got, landing.done) {
            (Some(msg), _) => Ok(Precv::Buffer(msg)),
            (None, Some(h)) => Ok(Precv::Landed {
                src: h.src,
                tag: h.tag,
                len: h.len as usize,
            }),
            (None, None) => Err(Error::SysErr),
        }
    }

    /// Installs or removes the user's matcher; returns the previous one.
    pub fn set_matcher(&self, m: Option<Matcher>) -> Option<Matcher> {
        std::mem::replace(&mut self.lock().matcher, m)
    }
}

impl State {
    /// Files a frame from the daemon: messages go to the queue (direct-route
    /// offers to `direct`), replies to the reply table.
    pub(super) fn file(&mut self, f: Frame) {
        match f.header.kind {
            Kind::Msg => {
                if output::intercept(&f, self.opts.show_tids != 0) {
                    return;
                }
                for f in self.routes.daemon_msg(f, self.mytid, self.opts.route) {
                    self.enqueue(f);
                }
            }
            Kind::Reply => {
                self.replies.insert(f.header.wid, f);
            }
            Kind::Ctl if f.header.tag == crate::wire::Ctl::ReplyVia as i32 => {
                if let Ok(t) = Reader::new(&f.body).int() {
                    self.routes.feeds.reply_via(t);
                }
            }
            Kind::Req | Kind::DReq | Kind::DReply | Kind::Ctl => {
                log::debug!("ignoring {:?} frame from daemon", f.header.kind)
            }
        }
    }

    /// Files the frames every link has decoded so far (after a blocked
    /// sender read them).
    pub(super) fn absorb_links(&mut self) {
        let conn = self.conn.clone();
        for l in self.routes.links() {
            for f in self.routes.link_frames(&l, self.mytid, conn.as_deref()) {
                self.enqueue(f);
            }
        }
    }

    /// Puts a received message into the buffer table and the queue.
    pub(super) fn enqueue(&mut self, f: Frame) {
        match f.header.kind {
            Kind::Msg => {
                let info = MsgInfo::of(&f.header);
                let enc = crate::msg::Encoding::from_code(f.header.enc)
                    .unwrap_or(crate::msg::Encoding::Default);
                let buf = match f.held {
                    Some(held) => Buffer::from_received_held(Box::new(held), info, enc),
                    None => Buffer::from_received_with_encoding(f.body, info, enc),
                };
                let id = self.bufs.insert(buf);
                // A message handler (mhf.rs) takes matching messages instead of the queue.
                // Group-internal messages (groups.rs) are never handed to handlers.
                if self.bufs.get(id).is_ok_and(|b| {
                    b.info().ctx != crate::wire::vocabulary::GROUP_CTX && mhf::claim(id, b.info())
                }) {
                    return;
                }
                self.queue.push_back(id);
            }
            _ => log::debug!("non-message frame dropped"),
        }
    }

    /// The first queued message matching source, tag and current context.
    pub(super) fn find_default(&self, want: Want) -> Option<i32> {
        self.queue.iter().copied().find(|&id| {
            self.bufs.get(id).is_ok_and(|b| {
                let i = b.info();
                (want.tid == -1 || want.tid == i.src)
                    && (want.tag == -1 || want.tag == i.tag)
                    && i.ctx == self.context
            })
        })
    }
}

/// What pvm_precv received ([`Runtime::receive_into`]).
pub enum Precv {
    /// The body is in the caller's memory already: `len` bytes from `src`.
    Landed { src: i32, tag: i32, len: usize },
    /// Any other message, to be unpacked into the caller's memory.
    Buffer(Buffer),
}
