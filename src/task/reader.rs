//! Waiting and reading: one thread at a time (the `reading` flag) waits,
//! without the state lock, on the daemon connection, the direct-route
//! listeners and links, our feeds and the wake pipe (spinning on the rings
//! first), reads what came, and files it under the lock; the others wait on
//! the runtime's condition variable.

use super::conn::Conn;
use super::link::{Link, SMALL_DIR as LINK};
use super::route::{self, Routes};
use super::spin::spin_then_poll;
use super::transport::Listener;
use super::{mhf, Runtime, State};
use crate::wire::{Frame, Landing};
use crate::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Runtime {
    /// Waits until `check` finds what it looks for in the state, reading
    /// frames from the daemon meanwhile. `Ok(None)` when `timeout` passes.
    pub(super) fn wait_for<T>(
        &self,
        conn: &Arc<Conn>,
        timeout: Option<Duration>,
        check: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<Option<T>> {
        self.wait_landing(conn, timeout, None, check)
    }

    /// [`Runtime::wait_for`] with a [`Landing`] offered to the direct links
    /// this thread reads: a body that starts landing is read to its end
    /// (this thread keeps the reader's role meanwhile, and message handlers
    /// wait) and then ends the wait, `check` or not.
    pub(super) fn wait_landing<T>(
        &self,
        conn: &Arc<Conn>,
        timeout: Option<Duration>,
        mut landing: Option<&mut Landing<'_>>,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<Option<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock();
        loop {
            // A body is landing: this thread kept the reader's role for it.
            let busy = landing.as_ref().is_some_and(|l| l.busy);
            if landing.as_ref().is_some_and(|l| l.done.is_some()) {
                return Ok(None);
            }
            if !busy {
                if let Some(v) = check(&mut st) {
                    return Ok(Some(v));
                }
            }
            if st.broken {
                if busy {
                    st.reading = false;
                }
                return Err(Error::SysErr);
            }
            let left = match deadline {
                // A body that started landing is read to its end.
                Some(_) if busy => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    Some(d - now)
                }
                None => None,
            };
            if st.reading && !busy {
                st.waiters += 1;
                st = match left {
                    Some(l) => {
                        self.filed
                            .wait_timeout(st, l)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => self.filed.wait(st).unwrap_or_else(|e| e.into_inner()),
                };
                st.waiters -= 1;
                continue;
            }
            let watch = match st.routes.watch() {
                Ok(w) => w,
                Err(_) => {
                    st.reading = false;
                    return Err(Error::SysErr);
                }
            };
            st.reading = true;
            drop(st);
            let got = collect(conn, watch, left, landing.as_deref_mut());
            st = self.lock();
            let busy = landing.as_ref().is_some_and(|l| l.busy);
            st.reading = busy;
            if let Err(e) = got.and_then(|c| st.absorb(c)) {
                st.broken = true;
                st.conn = None;
                st.reading = false;
                self.wake_waiters(&st);
                return Err(e);
            }
            self.wake_waiters(&st);
            if !busy {
                // Message handlers (mhf.rs) run without the state lock.
                drop(st);
                mhf::run_pending(self);
                st = self.lock();
            }
        }
    }

    /// Reads every frame already waiting, without blocking (for pvm_nrecv
    /// and pvm_probe). Leaves the reading to another thread if one reads.
    pub(super) fn drain_ready(&self, conn: &Arc<Conn>) -> Result<()> {
        loop {
            let watch;
            {
                let mut st = self.lock();
                if st.reading || st.broken {
                    return if st.broken {
                        Err(Error::SysErr)
                    } else {
                        Ok(())
                    };
                }
                st.reading = true;
                watch = st.routes.watch().map_err(|_| Error::SysErr);
            }
            let got = watch.and_then(|w| collect(conn, w, Some(Duration::ZERO), None));
            let mut st = self.lock();
            st.reading = false;
            let more = match got.and_then(|c| {
                let any = !c.is_empty();
                st.absorb(c).map(|()| any)
            }) {
                Ok(any) => any,
                Err(e) => {
                    st.broken = true;
                    st.conn = None;
                    self.wake_waiters(&st);
                    return Err(e);
                }
            };
            self.wake_waiters(&st);
            // Message handlers (mhf.rs) run without the state lock.
            drop(st);
            mhf::run_pending(self);
            if !more {
                return Ok(());
            }
        }
    }
}

impl State {
    /// Files what a reader collected: new connections on the listener,
    /// frames from links, a frame from the daemon (an error: it is gone).
    pub(super) fn absorb(&mut self, c: Collected) -> Result<()> {
        for l in c.listeners {
            self.routes.accept(&l);
        }
        let conn = self.conn.clone();
        for l in c.links {
            for f in self.routes.link_frames(&l, self.mytid, conn.as_deref()) {
                self.enqueue(f);
            }
        }
        // What came back on feeds first: it was there before anything the
        // daemon gives with it (src/daemon/feeds.rs, exit notices).
        for f in c.feeds {
            self.file(f);
        }
        match c.daemon {
            Some(Ok(f)) => self.file(f),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        Ok(())
    }
}

/// What one reader round found ready (read without the state lock).
pub(super) struct Collected {
    daemon: Option<Result<Frame>>,
    listeners: Vec<Arc<Listener>>,
    links: Vec<Arc<Link>>,
    /// Messages that came back on feeds.
    feeds: Vec<Frame>,
}

impl Collected {
    fn is_empty(&self) -> bool {
        self.daemon.is_none()
            && self.listeners.is_empty()
            && self.links.is_empty()
            && self.feeds.is_empty()
    }
}

/// Waits up to `timeout` for the daemon connection, the direct-route
/// listener and links, and the wake pipe; reads one frame from the daemon
/// and whatever the ready links hold.
pub(super) fn collect(
    conn: &Conn,
    watch: route::Watch,
    timeout: Option<Duration>,
    mut landing: Option<&mut Landing<'_>>,
) -> Result<Collected> {
    use crate::os::Ready;
    use std::os::fd::AsFd;
    let read = Ready {
        read: true,
        write: false,
    };
    if let Some(l) = landing.as_deref_mut() {
        if l.busy && !watch.links.iter().any(|k| k.is_landing()) {
            // The link it was landing from is gone (closed and dropped):
            // that message is lost, as a partial frame of a dead link is.
            log::debug!("direct link dropped while a message landed; that message is lost");
            l.busy = false;
        }
    }
    let mut set = vec![(conn.as_fd(), read), (watch.wake.as_fd(), read)];
    set.extend(watch.listeners.iter().map(|l| (l.fd(), read)));
    set.extend(watch.links.iter().map(|l| (l.fd(), read)));
    set.extend(watch.feeds.iter().map(|f| (f.fd(), read)));
    let i = 2 + watch.listeners.len();
    let j = i + watch.links.len();
    let rings: Vec<(usize, &crate::os::SharedMap)> = watch
        .links
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.small_in().map(|m| (i + k, m)))
        .collect();
    // Watching only the daemon and links that have rings (their listener
    // besides, for new links): what comes, comes through the rings.
    let ring_only = conn.has_rings()
        && watch.feeds.is_empty()
        && rings.len() == watch.links.len()
        && !watch.links.iter().any(|l| l.wants_socket());
    let (ready, polled) = spin_then_poll(&set, timeout, Some(conn), &rings, LINK, ring_only)
        .map_err(|e| {
            log::debug!("poll failed: {e}");
            Error::SysErr
        })?;
    drop(rings);
    drop(set);
    if ready[1].read {
        Routes::drain_wake(&watch.wake);
    }
    let listeners: Vec<Arc<Listener>> = watch
        .listeners
        .into_iter()
        .zip(&ready[2..i])
        .filter(|(_, r)| r.read)
        .map(|(l, _)| l)
        .collect();
    let links: Vec<(Arc<Link>, bool)> = watch
        .links
        .into_iter()
        .zip(watch.landable)
        .zip(&ready[i..j])
        .filter(|(_, r)| r.read)
        .map(|(l, _)| l)
        .collect();
    for (l, landable) in &links {
        if !polled && !l.wants_socket() {
            // Only its ring said so: its socket holds nothing we need.
            continue;
        }
        // A link where a body is landing is always offered the landing, to finish it.
        l.fill(landing.as_deref_mut(), *landable);
    }
    let links = links.into_iter().map(|(l, _)| l).collect();
    let daemon = if ready[0].read || conn.has_input() {
        conn.try_read_frame().transpose()
    } else {
        None
    };
    // Feeds are read after the daemon's frame: what a feed brought before
    // that frame was made is then in hand too.
    let feeds = watch
        .feeds
        .iter()
        .zip(&ready[j..])
        .filter(|(_, r)| r.read || daemon.is_some())
        .flat_map(|(f, _)| f.take())
        .collect();
    Ok(Collected {
        daemon,
        listeners,
        links,
        feeds,
    })
}
