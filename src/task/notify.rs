//! pvm_notify on the task side: checks the arguments as PVM 3.4.6 does and
//! registers (or cancels) with the daemon, which sends the notifications as
//! ordinary messages (see `daemon::notify`).

use super::rt;
use crate::wire::vocabulary::{CANCEL, HOST_ADD, HOST_DELETE, ROUTE_ADD, ROUTE_DELETE, TASK_EXIT};
use crate::wire::{Req, Writer};
use crate::{tid, Error, Result};

/// pvm_notify: asks for a message with `tag` when the event `what` happens
/// (optionally or-ed with PvmNotifyCancel). For PvmTaskExit, PvmHostDelete
/// and PvmRouteDelete `tids` lists what to watch (at least one); for
/// PvmHostAdd and PvmRouteAdd `cnt` is how many messages to send (negative:
/// until cancelled, 0: none) and `tids` is not used. The notifications
/// arrive in the context current at this call.
pub fn notify(what: i32, tag: i32, cnt: i32, tids: &[i32]) -> Result<()> {
    let kind = what & !CANCEL;
    if tag < 0 || !(TASK_EXIT..=ROUTE_DELETE).contains(&kind) {
        return Err(Error::BadParam);
    }
    let listed = matches!(kind, TASK_EXIT | HOST_DELETE | ROUTE_DELETE);
    let mut w = Writer::new();
    if listed {
        if cnt < 1 || tids.len() < cnt as usize {
            return Err(Error::BadParam);
        }
        let tids = &tids[..cnt as usize];
        if kind != HOST_DELETE && tids.iter().any(|&t| !tid::is_task(t)) {
            return Err(Error::BadParam);
        }
        rt().mytid()?;
        let ctx = rt().lock().context;
        w.int(what).int(tag).int(ctx).int(cnt).int(cnt);
        for &t in tids {
            w.int(t);
        }
    } else {
        debug_assert!(kind == HOST_ADD || kind == ROUTE_ADD);
        rt().mytid()?;
        let ctx = rt().lock().context;
        w.int(what).int(tag).int(ctx).int(cnt).int(0);
    }
    rt().request(Req::Notify, &w.finish()).map(|_| ())
}
