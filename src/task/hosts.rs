//! Adding and removing hosts of the virtual machine (pvm_addhosts,
//! pvm_delhosts) on the task side.
//!
//! PLACEHOLDER until multi-host support merges: both calls answer
//! `Err(Error::NotImpl)` here. The console (`src/console/`) is written
//! against these signatures; the multi-host branch replaces this file with
//! the real requests (AddHosts / DelHosts), and only this file changes.

use crate::{Error, Result};

/// pvm_addhosts: adds the hosts given as host lines in hostfile syntax
/// (`name [option=value ...]`, see docs/HOSTFILE.md); one entry per line,
/// the new daemon's tid or an error code.
pub fn addhosts(lines: &[String]) -> Result<Vec<i32>> {
    let _ = lines;
    Err(Error::NotImpl)
}

/// pvm_delhosts: removes the named hosts; one entry per name, 0 or an
/// error code.
pub fn delhosts(names: &[String]) -> Result<Vec<i32>> {
    let _ = names;
    Err(Error::NotImpl)
}
