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

    /// Where the daemon logs when `log` is not this user's own file
    /// (another user made it first): `pvml` in the private directory.
    pub fn fallback_log(&self) -> PathBuf {
        self.dir.join("pvml")
    }

    /// The files for the current user and environment.
    pub fn current() -> DaemonFiles {
        let vmid = env::var("PVM_VMID").ok().filter(|v| !v.is_empty());
        DaemonFiles::new(&tmp_dir(), crate::os::uid(), vmid.as_deref())
    }
}

/// Checks that `dir` is a private daemon directory one may trust: a real
/// directory (not a symbolic link: looked at with lstat), owned by the
/// current user, that nobody else can enter or write (no group or other
/// permission bits: mode 0700). A missing directory is `NotFound`; any
/// other failure is `PermissionDenied` with a text naming the path and the
/// owner found. Daemon and library both check with this before they use
/// the directory (the daemon also after creating it).
pub fn check_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    let me = crate::os::uid();
    if meta.file_type().is_symlink() {
        return refuse(format!(
            "a symbolic link (owned by uid {}), not a directory",
            meta.uid()
        ));
    }
    if !meta.file_type().is_dir() {
        return refuse(format!("not a directory (owned by uid {})", meta.uid()));
    }
    if meta.uid() != me {
        return refuse(format!(
            "owned by uid {}{}, not by this user (uid {me})",
            meta.uid(),
            user_name(meta.uid())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return refuse(format!(
            "mode {mode:04o}: group or others have access (must be 0700)"
        ));
    }
    Ok(())
}

/// The login name of `uid` from /etc/passwd, for messages (None when not
/// listed there).
pub fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
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
    fn private_dir_checks() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("pvm6-pd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let d = base.join("d");
        let e = check_private_dir(&d).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_private_dir(&d).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("mode 0777"), "{e}");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let l = base.join("l");
        std::os::unix::fs::symlink(&d, &l).unwrap();
        let e = check_private_dir(&l).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let f = base.join("f");
        std::fs::write(&f, b"").unwrap();
        assert!(check_private_dir(&f)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        std::fs::remove_dir_all(&base).unwrap();
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
