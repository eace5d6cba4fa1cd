//! The direct routes between tasks of this host, as the tasks report them
//! (requests RouteAdd 50 and RouteDelete 51, docs/PROTOCOL.md "Direct
//! routes"). The daemon carries no traffic of a link; it only keeps the set
//! of open routes so that pvm_notify's PvmRouteAdd/PvmRouteDelete fire once
//! per route: both ends may report a closed link (the one that exits and the
//! one that sees the end of stream), only the first report counts.

use crate::wire::{Reader, Req};
use crate::{tid, Error};
use std::collections::BTreeSet;

/// A change of the route set, for the notification hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// A link between the two tasks (lower tid first) opened.
    Added(i32, i32),
    /// The link between the two tasks closed.
    Deleted(i32, i32),
}

/// The open routes, each as (lower tid, higher tid).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: BTreeSet<(i32, i32)>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// Applies a RouteAdd/RouteDelete request from task `from` (None when
    /// the connection has not enrolled) with body `body`. Returns the
    /// change, or None when nothing changed (a repeated report) or the
    /// request is invalid (the error, for the log).
    pub fn request(
        &mut self,
        from: Option<i32>,
        req: Req,
        body: &[u8],
    ) -> Result<Option<RouteChange>, Error> {
        let from = from.ok_or(Error::NoTask)?;
        let peer = Reader::new(body).int()?;
        if !tid::is_task(peer) || peer == from {
            return Err(Error::BadParam);
        }
        let key = (from.min(peer), from.max(peer));
        Ok(match req {
            Req::RouteAdd => self
                .routes
                .insert(key)
                .then_some(RouteChange::Added(key.0, key.1)),
            Req::RouteDelete => self
                .routes
                .remove(&key)
                .then_some(RouteChange::Deleted(key.0, key.1)),
            _ => return Err(Error::BadParam),
        })
    }

    /// Whether the two tasks have a route open.
    pub fn contains(&self, a: i32, b: i32) -> bool {
        self.routes.contains(&(a.min(b), a.max(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    #[test]
    fn add_and_delete_count_once() {
        let mut t = RouteTable::new();
        let b = |p: i32| Writer::new().int(p).finish();
        assert_eq!(
            t.request(Some(0x40002), Req::RouteAdd, &b(0x40001)),
            Ok(Some(RouteChange::Added(0x40001, 0x40002)))
        );
        assert!(t.contains(0x40002, 0x40001));
        assert_eq!(
            t.request(Some(0x40001), Req::RouteAdd, &b(0x40002)),
            Ok(None)
        );
        assert_eq!(
            t.request(Some(0x40001), Req::RouteDelete, &b(0x40002)),
            Ok(Some(RouteChange::Deleted(0x40001, 0x40002)))
        );
        assert_eq!(
            t.request(Some(0x40002), Req::RouteDelete, &b(0x40001)),
            Ok(None)
        );
        assert_eq!(
            t.request(None, Req::RouteAdd, &b(0x40001)),
            Err(Error::NoTask)
        );
        assert_eq!(
            t.request(Some(0x40001), Req::RouteAdd, &b(0x40001)),
            Err(Error::BadParam)
        );
        assert_eq!(
            t.request(Some(0x40001), Req::RouteAdd, &[]),
            Err(Error::BadMsg)
        );
    }
}
