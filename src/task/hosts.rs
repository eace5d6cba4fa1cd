//! pvm_addhosts and pvm_delhosts: the requests AddHosts (60) and DelHosts
//! (61), served by the master daemon (a slave forwards them there).

use super::rt;
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};

/// Sends `req` with `names` and returns (successes, per-name results).
fn host_request(req: Req, names: &[String]) -> Result<(i32, Vec<i32>)> {
    if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
        return Err(Error::BadParam);
    }
    let reply = rt().request(req, &Writer::new().strs(names).finish())?;
    let mut r = Reader::new(&reply);
    let ok = r.int()?;
    let n = r.count(4)?;
    let codes = (0..n).map(|_| r.int()).collect::<Result<Vec<_>>>()?;
    if codes.len() != names.len() {
        return Err(Error::BadMsg);
    }
    Ok((ok, codes))
}

/// pvm_addhosts: adds the hosts (lines in hostfile syntax); per host its
/// host tid or an error code, and how many were added.
pub fn addhosts(lines: &[String]) -> Result<(i32, Vec<i32>)> {
    host_request(Req::AddHosts, lines)
}

/// pvm_delhosts: removes the named hosts (their tasks are killed); per host
/// 0 or an error code, and how many were removed.
pub fn delhosts(names: &[String]) -> Result<(i32, Vec<i32>)> {
    host_request(Req::DelHosts, names)
}
