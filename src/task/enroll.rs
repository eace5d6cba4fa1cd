//! Enrollment: the first call that needs the daemon connects to it
//! (starting one when there is none, [`Conn::connect_or_start`]), sends the
//! Connect request and takes the reply into the state: tid, parent, daemon,
//! siblings, inherited output options, and for direct routes across hosts
//! the machine's secret and this host's addresses.

use super::conn::{Conn, ENV_TID};
use super::{compat, logging, mhf, output, trace, Runtime};
use crate::sync::Locked;
use crate::wire::{Kind, Reader, Writer};
use crate::{tid, Error, Result};
use std::sync::Arc;

impl Runtime {
    /// Enrolls in PVM if not yet done: connects (starting a daemon if
    /// needed) and asks for a tid. Returns the connection.
    pub(super) fn conn(&self) -> Result<Arc<Conn>> {
        if let Some(c) = self.connected()? {
            return Ok(c);
        }
        let _g = self.enroll.locked();
        if let Some(c) = self.connected()? {
            return Ok(c);
        }
        let conn = Arc::new(Conn::connect_or_start()?);
        let spawned_tid = {
            let mut st = self.lock();
            let t = if st.used_spawn_env {
                0
            } else {
                std::env::var(ENV_TID)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            st.used_spawn_env = true;
            t
        };
        let name = std::env::args().next().unwrap_or_default();
        let body = Writer::new()
            .int(std::process::id() as i32)
            .int(spawned_tid)
            .str(&name)
            .finish();
        conn.send_connect(&body)?;
        // Nothing else can arrive before the reply: we are not enrolled yet.
        let reply = loop {
            let f = conn.read_frame()?;
            if f.header.kind == Kind::Reply && f.header.wid == 0 {
                break f;
            }
        };
        let mut r = Reader::new(&reply.body);
        let status = r.int()?;
        if status < 0 {
            return Err(Error::from_code(status).unwrap_or(Error::SysErr));
        }
        let mytid = r.int()?;
        let parent = r.int()?;
        let dtid = r.int()?;
        let n = r.count(4)?;
        let siblings = (0..n).map(|_| r.int()).collect::<Result<Vec<_>>>()?;
        let inherited = crate::wire::output::Inherit::read(&mut r)?;
        // Then, for direct routes across hosts: the machine's secret and
        // this host's addresses (optional: absent from older daemons).
        let secret = if r.is_empty() {
            None
        } else {
            crate::auth::Secret::from_hex(&r.str()?).ok()
        };
        let host_addrs = if r.is_empty() {
            Vec::new()
        } else {
            let n = r.count(4)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                if let Ok(a) = crate::net::addr::parse_sockaddr(&r.str()?) {
                    v.push(a);
                }
            }
            v
        };
        // Last, whether the daemon took the shared-memory rings we offered.
        let rings_taken = !r.is_empty() && r.int()? == 1;
        // Then the largest message body the daemon takes.
        let max_message = if r.is_empty() {
            None
        } else {
            r.str()?.parse::<usize>().ok()
        };
        // Then how links to other hosts are protected (encrypted when absent).
        let level = if r.is_empty() {
            crate::seal::Level::default()
        } else {
            crate::seal::Level::from_code(r.int()? as u8).unwrap_or_default()
        };
        conn.connected(rings_taken);
        let mut st = self.lock();
        if let Some(m) = max_message {
            st.max_message = m;
        }
        let spawned = spawned_tid != 0 && mytid == spawned_tid;
        // A task that enrolls on its own gets settings only from a tracer
        // registered with the daemon (src/daemon/trace.rs).
        if let Some(i) = inherited.filter(|i| spawned || i.trace_tid > 0) {
            output::apply_inherited(&mut st.opts, &i);
            st.context = i.context;
        }
        st.set_mytid(mytid);
        st.parent = parent;
        st.dtid = dtid;
        st.siblings = siblings;
        st.routes.set_host(secret, host_addrs);
        st.routes.set_level(level);
        st.broken = false;
        st.conn = Some(conn.clone());
        trace::settings_from_env(&mut st.opts);
        trace::rearm(&st);
        let from_tracer = !spawned && st.opts.self_trace_tid > 0;
        drop(st);
        if from_tracer {
            trace::settings_from_tracer();
        }
        mhf::enrolled();
        log::debug!("enrolled as {}", tid::fmt(mytid));
        logging::debug(compat::debug::TASK, || {
            format!(
                "enrolled as {}, parent {}, daemon {}",
                tid::fmt(mytid),
                tid::fmt(parent),
                tid::fmt(dtid)
            )
        });
        Ok(conn)
    }

    pub(super) fn connected(&self) -> Result<Option<Arc<Conn>>> {
        let st = self.lock();
        if st.broken {
            return Err(Error::SysErr);
        }
        Ok(st.conn.clone())
    }
}
