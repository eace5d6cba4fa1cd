//! Where things live: the per-user daemon directory and its files, the log,
//! PVM_ROOT, PVM_ARCH and the executable search path. Daemon and tasks both
//! read their locations from here, so they always agree.

use std::env;
use std::path::{Path, PathBuf};

/// The architecture name of this build, as PVM 3.4 names it.
pub const ARCH: &str = if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
    "LINUX64"
} else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
    "LINUXAARCH64"
} else {
    "LINUX"
};

/// `$PVM_TMP`, default `/tmp`.
pub fn tmp_dir() -> PathBuf {
    env::var_os("PVM_TMP")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// `$PVM_ARCH`, default [`ARCH`].
pub fn arch() -> String {
    env::var("PVM_ARCH")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| ARCH.to_string())
}

/// `$PVM_ROOT`, if set.
pub fn pvm_root() -> Option<PathBuf> {
    env::var_os("PVM_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$HOME`, default `/`.
pub fn home() -> PathBuf {
    env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The files of one user's daemon (for one `$PVM_VMID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonFiles {
    /// The private (0700) directory holding the rest.
    pub dir: PathBuf,
    /// Unix stream socket local tasks connect to.
    pub sock: PathBuf,
    /// Lock file: held (flock) by the live daemon.
    pub lock: PathBuf,
    /// The daemon's process id, in decimal.
    pub pid: PathBuf,
    /// The daemon's TCP address, `[v6]:port`.
    pub addr: PathBuf,
    /// The daemon's log, `$PVM_TMP/pvml.<uid>`.
    pub log: PathBuf,
}

impl DaemonFiles {
    /// The files for `uid` under `tmp`, with an optional virtual machine id.
    pub fn new(tmp: &Path, uid: u32, vmid: Option<&str>) -> DaemonFiles {
        let name = match vmid {
            Some(v) => format!("pvm6.{uid}.{v}"),
            None => format!("pvm6.{uid}"),
        };
        let dir = tmp.join(name);
        DaemonFiles {
            sock: dir.join("pvmd.sock"),
            lock: dir.join("pvmd.lock"),
            pid: dir.join("pvmd.pid"),
            addr: dir.join("pvmd.addr"),
            log: tmp.join(format!("pvml.{uid}")),
            dir,
        }
    }

    /// The files for the current user and environment.
    pub fn current() -> DaemonFiles {
        let vmid = env::var("PVM_VMID").ok().filter(|v| !v.is_empty());
        DaemonFiles::new(&tmp_dir(), crate::os::uid(), vmid.as_deref())
    }
}

/// Directories searched for spawned executables: `$PVM_PATH` (colon
/// separated) when set, else `$HOME/pvm3/bin/$PVM_ARCH:$PVM_ROOT/bin/$PVM_ARCH`.
pub fn spawn_search_path() -> Vec<PathBuf> {
    if let Some(p) = env::var_os("PVM_PATH").filter(|v| !v.is_empty()) {
        return env::split_paths(&p).collect();
    }
    let arch = arch();
    let mut v = vec![home().join("pvm3").join("bin").join(&arch)];
    if let Some(root) = pvm_root() {
        v.push(root.join("bin").join(&arch));
    }
    v
}

/// Finds the executable for `name`: names containing '/' are used as given,
/// others are looked up in `path`. `None` when nothing executable is there.
pub fn find_executable(name: &str, path: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let usable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return usable(&p).then_some(p);
    }
    path.iter().map(|d| d.join(name)).find(|p| usable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_files_layout() {
        let f = DaemonFiles::new(Path::new("/t"), 1000, None);
        assert_eq!(f.sock, Path::new("/t/pvm6.1000/pvmd.sock"));
        assert_eq!(f.log, Path::new("/t/pvml.1000"));
        let g = DaemonFiles::new(Path::new("/t"), 1000, Some("x"));
        assert_eq!(g.dir, Path::new("/t/pvm6.1000.x"));
    }

    #[test]
    fn find_executable_by_path_and_name() {
        assert_eq!(
            find_executable("/bin/sh", &[]),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            find_executable("sh", &[PathBuf::from("/bin")]),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            find_executable("no-such-program-x", &[PathBuf::from("/bin")]),
            None
        );
    }
}
