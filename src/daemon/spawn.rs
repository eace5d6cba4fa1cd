//! The spawner: pvm_spawn's host/arch selection on one host, executable
//! lookup, and starting the child processes with their environment and
//! output pipes.

use super::DaemonOptions;
use crate::Error;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `PvmTaskHost`: `where` names a host.
pub const TASK_HOST: i32 = 1;
/// `PvmTaskArch`: `where` names an architecture.
pub const TASK_ARCH: i32 = 2;
/// `PvmTaskDebug`: start under `$PVM_ROOT/lib/debugger`.
pub const TASK_DEBUG: i32 = 4;
/// `PvmHostCompl`: use the complement of the selected host set.
pub const HOST_COMPL: i32 = 32;
/// `PvmNoSpawnParent`: the children get no parent.
pub const NO_SPAWN_PARENT: i32 = 64;

/// A decoded Spawn request.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub file: String,
    pub flags: i32,
    pub where_: String,
    pub ntask: i32,
    pub argv: Vec<String>,
    pub env: Vec<String>,
}

/// Whether this host is selected by `flags`/`host_or_arch`.
/// `is_local` tells whether a name denotes this host.
pub fn host_selected(
    flags: i32,
    host_or_arch: &str,
    arch: &str,
    is_local: impl Fn(&str) -> bool,
) -> bool {
    let by_host = flags & TASK_HOST != 0 && !host_or_arch.is_empty();
    let by_arch = !by_host && flags & TASK_ARCH != 0 && !host_or_arch.is_empty();
    let selected = if by_host {
        is_local(host_or_arch)
    } else if by_arch {
        host_or_arch == arch
    } else {
        true
    };
    if flags & HOST_COMPL != 0 && (by_host || by_arch) {
        !selected
    } else {
        selected
    }
}

/// What to execute for a spawn: the program, and the argv[0] it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program started (the task itself, or the debugger script).
    pub program: PathBuf,
    /// Arguments after argv[0].
    pub args: Vec<OsString>,
}

/// Resolves the executable and (for PvmTaskDebug) the debugger wrapper.
/// `Err(NoFile)` when the executable is not found.
pub fn resolve(req: &SpawnRequest, opts: &DaemonOptions) -> Result<(PathBuf, Launch), Error> {
    let path = crate::paths::find_executable(&req.file, &opts.search_path).ok_or(Error::NoFile)?;
    let mut args: Vec<OsString> = req.argv.iter().map(OsString::from).collect();
    if req.flags & TASK_DEBUG != 0 {
        let bx = opts
            .debugger
            .as_ref()
            .and_then(|d| crate::paths::find_executable(d.to_str()?, &[]));
        if let Some(dbg) = bx.or_else(|| debugger(opts.pvm_root.as_deref())) {
            // The debugger script gets the task's path and arguments.
            args.insert(0, path.clone().into_os_string());
            return Ok((path, Launch { program: dbg, args }));
        }
    }
    Ok((
        path.clone(),
        Launch {
            program: path,
            args,
        },
    ))
}

/// `$PVM_ROOT/lib/debugger`, when it exists and is executable.
fn debugger(root: Option<&Path>) -> Option<PathBuf> {
    let p = root?.join("lib").join("debugger");
    crate::paths::find_executable(p.to_str()?, &[])
}

/// Starts one task process: argv[0] is the program's path, the environment
/// is the daemon's plus `extra_env` plus PVM6_TID/PVM6_SOCK, the working
/// directory `cwd`, stdin /dev/null, stdout and stderr both on one pipe to
/// the daemon (as in PVM 3.4, so their order is kept). Returns the child and
/// the pipe's read end.
pub fn start(
    launch: &Launch,
    opts: &DaemonOptions,
    extra_env: &[String],
    tid: i32,
    cwd: &Path,
) -> std::io::Result<(Child, OwnedFd)> {
    let mut cmd = Command::new(&launch.program);
    cmd.arg0(&launch.program).args(&launch.args);
    // The environment is built from the snapshot taken at start-up, never
    // from the live process environment (see embedded.rs on fork safety).
    cmd.env_clear();
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    for kv in extra_env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                cmd.env(k, v);
            }
            _ => {}
        }
    }
    cmd.env("PVM6_TID", tid.to_string());
    cmd.env("PVM6_SOCK", &opts.files.sock);
    let (rx, tx) = std::io::pipe()?;
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(tx.try_clone()?)
        .stderr(tx);
    let child = cmd.spawn()?;
    // `cmd` (holding the write ends) is dropped on return, so the pipe ends
    // when the task and its descendants have closed it.
    Ok((child, OwnedFd::from(rx)))
}

/// The PVM error code for a failed process start.
pub fn start_error_code(e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NoFile,
        std::io::ErrorKind::PermissionDenied => Error::Denied,
        _ => Error::OutOfRes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_splits_host_and_directory() {
        assert_eq!(crate::net::split_where("vm"), ("vm", None));
        assert_eq!(crate::net::split_where("vm:/tmp"), ("vm", Some("/tmp")));
        assert_eq!(crate::net::split_where(":/tmp"), ("", Some("/tmp")));
        assert_eq!(crate::net::split_where("[::1]:/x"), ("::1", Some("/x")));
        assert_eq!(crate::net::split_where("[::1]"), ("::1", None));
        assert_eq!(crate::net::split_where("fd42::2"), ("fd42::2", None));
    }

    #[test]
    fn host_and_arch_selection_with_complement() {
        let local = |n: &str| n == "." || n == "vm";
        assert!(host_selected(0, "", "LINUX64", local));
        assert!(host_selected(TASK_HOST, ".", "LINUX64", local));
        assert!(!host_selected(TASK_HOST, "other", "LINUX64", local));
        assert!(!host_selected(
            TASK_HOST | HOST_COMPL,
            "vm",
            "LINUX64",
            local
        ));
        assert!(host_selected(
            TASK_HOST | HOST_COMPL,
            "other",
            "LINUX64",
            local
        ));
        assert!(host_selected(TASK_ARCH, "LINUX64", "LINUX64", local));
        assert!(!host_selected(TASK_ARCH, "SUN4", "LINUX64", local));
        assert!(
            host_selected(HOST_COMPL, "", "LINUX64", local),
            "complement only with a host or arch"
        );
    }
}
