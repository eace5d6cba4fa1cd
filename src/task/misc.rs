//! The rest of the task API: the export list (`pvm_export`), trace masks
//! (`pvm_settmask`), `pvm_hostsync`, `pvm_tickle`, the no-reset list
//! (`PvmNoReset`, `pvm_getnoresets`), `pvm_start_pvmd` and the
//! registrations of taskers, hosters, resource managers and tracers.
//!
//! Trace masks are kept as PVM keeps them: printable strings of
//! [`TMASK_LEN`]` - 1` characters ('@' is an empty group of four bits), the
//! child mask is passed to spawned tasks in `PVMTMASK` and a task reads its
//! own from there. The events themselves are made in `trace.rs`.

use super::rt;
use crate::daemon::embedded::{self as daemon, DaemonOptions};
use crate::sync::Locked;
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::wire::vocabulary::{ENV_TMASK, TMASK_LEN};
/// `pvm_gettmask`/`pvm_settmask`: the calling task's mask.
pub const TASK_SELF: i32 = 0;
/// `pvm_gettmask`/`pvm_settmask`: the mask given to tasks spawned from now on.
pub const TASK_CHILD: i32 = 1;
/// pvm_spawn flag PvmTaskTrace.
pub const TASK_TRACE: i32 = 8;
/// pvm_setopt code PvmNoReset.
const OPT_NO_RESET: i32 = 25;

/// Tags of the system messages (pvmsdpro's SM_ range) that taskers and
/// resource managers exchange with the daemon.
pub mod sm {
    /// First SM_ tag.
    pub const FIRST: i32 = 0x8004_0001_u32 as i32;
    /// Task exited or failed to start (tasker → daemon, daemon → RM).
    pub const TASKX: i32 = FIRST + 10;
    /// Start a task (daemon → tasker).
    pub const STTASK: i32 = FIRST + 16;
    /// Start slave daemons (daemon → hoster).
    pub const STHOST: i32 = FIRST + 14;
}

/// The empty trace mask: every character '@' (no bit set).
pub fn empty_tmask() -> String {
    "@".repeat(TMASK_LEN - 1)
}

/// The trace masks (pvm_settmask); live in the runtime ([`super::rt`]).
#[derive(Default)]
pub(super) struct Masks {
    own: Option<String>,
    child: Option<String>,
}

fn masks() -> std::sync::MutexGuard<'static, Masks> {
    super::rt().masks.locked()
}

/// A mask as stored: at most TMASK_LEN - 1 characters, padded with '@'.
fn normalise(mask: &[u8]) -> String {
    let mut s: String = mask
        .iter()
        .take(TMASK_LEN - 1)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '@'
            }
        })
        .collect();
    while s.len() < TMASK_LEN - 1 {
        s.push('@');
    }
    s
}

/// pvm_gettmask: the mask of `who` (PvmTaskSelf, PvmTaskChild).
pub fn gettmask(who: i32) -> Result<String> {
    let mut m = masks();
    match who {
        TASK_SELF => Ok(m
            .own
            .get_or_insert_with(|| {
                std::env::var(ENV_TMASK)
                    .map(|v| normalise(v.as_bytes()))
                    .unwrap_or_else(|_| empty_tmask())
            })
            .clone()),
        TASK_CHILD => Ok(m.child.get_or_insert_with(empty_tmask).clone()),
        _ => Err(Error::BadParam),
    }
}

/// pvm_settmask: sets the mask of `who`.
pub fn settmask(who: i32, mask: &[u8]) -> Result<()> {
    let mut m = masks();
    match who {
        TASK_SELF => m.own = Some(normalise(mask)),
        TASK_CHILD => m.child = Some(normalise(mask)),
        _ => return Err(Error::BadParam),
    }
    Ok(())
}

/// Adjusts a spawn request's environment: a child trace mask that is not
/// empty goes to the children in `PVMTMASK`, and with a trace destination
/// for children (PvmTraceTid) its buffer and options in `PVMTRCBUF` and
/// `PVMTRCOPT`, as PVM 3.4 passes them. (PvmTaskTrace itself changes
/// nothing here: the children are traced when PvmTraceTid names a tracer,
/// or when a tracer is registered with the daemon.)
pub(super) fn spawn_extras(_flags: i32, env: &mut Vec<String>, o: &super::Options) -> Result<()> {
    let child = masks().child.clone();
    if let Some(c) = child.filter(|c| *c != empty_tmask()) {
        env.retain(|kv| !kv.starts_with("PVMTMASK="));
        env.push(format!("{ENV_TMASK}={c}"));
    }
    if o.trace_tid > 0 {
        env.retain(|kv| !kv.starts_with("PVMTRCBUF=") && !kv.starts_with("PVMTRCOPT="));
        env.push(format!("PVMTRCBUF={}", o.trace_buffer));
        if o.trace_options > 0 {
            env.push(format!("PVMTRCOPT={}", o.trace_options));
        }
    }
    Ok(())
}

/// Called after pvm_setopt changed option `what` from `old` to `new`:
/// PvmNoReset is told to the daemon.
pub(super) fn option_changed(what: i32, old: i32, new: i32) -> Result<()> {
    if what == OPT_NO_RESET && (old != 0) != (new != 0) {
        rt().request(
            Req::NoReset,
            &Writer::new().int(i32::from(new != 0)).finish(),
        )?;
    }
    Ok(())
}

/// pvm_getnoresets: the tasks that set PvmNoReset.
pub fn getnoresets() -> Result<Vec<i32>> {
    let reply = rt().request(Req::GetNoResets, &[])?;
    let mut r = Reader::new(&reply);
    let n = r.count(4)?;
    (0..n).map(|_| r.int()).collect()
}

/// Edits a colon-separated list: adds `name` if missing (`add`) or
/// removes every occurrence of it.
pub fn edit_list(list: &str, name: &str, add: bool) -> String {
    let mut items: Vec<&str> = list.split(':').filter(|s| !s.is_empty()).collect();
    if add {
        if !items.contains(&name) {
            items.push(name);
        }
    } else {
        items.retain(|&i| i != name);
    }
    items.join(":")
}

/// pvm_export: adds `name` to `$PVM_EXPORT` (once).
pub fn export(name: &str) -> Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    let cur = std::env::var("PVM_EXPORT").unwrap_or_default();
    std::env::set_var("PVM_EXPORT", edit_list(&cur, name, true));
    Ok(())
}

/// pvm_unexport: removes `name` from `$PVM_EXPORT`; a name not in it is no error.
pub fn unexport(name: &str) -> Result<()> {
    if let Ok(cur) = std::env::var("PVM_EXPORT") {
        std::env::set_var("PVM_EXPORT", edit_list(&cur, name, false));
    }
    Ok(())
}

/// A time as (seconds, microseconds) with microseconds in 0..1_000_000 and
/// the sign in the seconds, as man pvm_hostsync describes.
pub fn split_micros(us: i64) -> (i64, i64) {
    (us.div_euclid(1_000_000), us.rem_euclid(1_000_000))
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// pvm_hostsync: the clock of host `host` (a host or daemon tid) and its
/// difference from the local clock, both in microseconds. The difference is
/// PVM 3.4.6's: the mean of the local samples taken before and after the
/// request minus the remote clock, so a remote clock running ahead gives a
/// negative delta.
pub fn hostsync(host: i32) -> Result<(i64, i64)> {
    let before = now_micros();
    let reply = rt().request(Req::HostSync, &Writer::new().int(host).finish())?;
    let after = now_micros();
    let mut r = Reader::new(&reply);
    let sec = i64::from(r.int()?);
    let usec = i64::from(r.int()?);
    let remote = sec * 1_000_000 + usec;
    Ok((remote, (before + after) / 2 - remote))
}

/// pvm_tickle: asks the daemon for a debugging action; `args[0]` is the
/// action (see docs/PROTOCOL.md), the rest its arguments (1 to 10 values in
/// all, as PVM 3.4.6 takes them). Returns the results.
pub fn tickle(args: &[i32]) -> Result<Vec<i32>> {
    if args.is_empty() || args.len() > 10 {
        return Err(Error::BadParam);
    }
    let mut w = Writer::new();
    w.int(args.len() as i32);
    for a in args {
        w.int(*a);
    }
    let reply = rt().request(Req::Tickle, &w.finish())?;
    let mut r = Reader::new(&reply);
    let n = r.count(4)?;
    (0..n).map(|_| r.int()).collect()
}

fn register(req: Req) -> Result<Vec<u8>> {
    rt().request(req, &Writer::new().int(1).finish())
}

/// pvm_reg_tasker: this task starts the daemon's tasks from now on.
pub fn reg_tasker() -> Result<()> {
    register(Req::RegTasker).map(|_| ())
}

/// pvm_reg_hoster: this task starts the daemon's slave daemons.
pub fn reg_hoster() -> Result<()> {
    register(Req::RegHoster).map(|_| ())
}

/// pvm_reg_rm: this task is the resource manager; returns the master
/// host as (host tid, name, arch, speed).
pub fn reg_rm() -> Result<(i32, String, String, i32)> {
    let reply = register(Req::RegRm)?;
    let mut r = Reader::new(&reply);
    Ok((r.int()?, r.str()?, r.str()?, r.int()?))
}

pub use super::trace::reg_tracer;

/// Parses `pvm_start_pvmd`'s arguments: pvmd3's own options, by the same
/// function (`daemon::MasterArgs`): `-d<mask>`, `-n<name>` (or `-n name`),
/// `-f` (accepted; the daemon runs detached from the program either way)
/// and a hostfile. `-v` and the slave forms `-s`/`-S` are refused with a
/// message saying why.
pub fn parse_start_args(args: &[String]) -> std::result::Result<daemon::MasterArgs, String> {
    if let Some(a) = args
        .iter()
        .find(|a| a.starts_with("-s") || a.starts_with("-S"))
    {
        return Err(format!(
            "option \"{a}\" starts a slave daemon; pvm_start_pvmd starts a master"
        ));
    }
    let parsed = daemon::MasterArgs::parse(args)?;
    if parsed.version {
        return Err("option -v prints pvmd3's version; it starts no daemon".into());
    }
    Ok(parsed)
}

/// pvm_start_pvmd: starts a master daemon with `args` (as `pvmd3 args`
/// would: a hostfile's hosts are added and the master takes its own line).
/// `Err(DupHost)` when a daemon runs already. With `block`, returns once
/// every host of the hostfile not marked `&` has been started (or failed)
/// and the caller is enrolled; without it, returns as soon as the daemon
/// listens (the hosts are still being added; the caller's first PVM call
/// then waits until they are).
pub fn start_pvmd(args: &[String], block: bool) -> Result<()> {
    let parsed = parse_start_args(args).map_err(|why| {
        super::report_line(&format!("pvm_start_pvmd(): {why}"));
        Error::BadParam
    })?;
    let mut opts = DaemonOptions::from_env();
    if rt().tid_if_enrolled() > 0
        || std::os::unix::net::UnixStream::connect(&opts.files.sock).is_ok()
    {
        return Err(Error::DupHost);
    }
    let hostfile = parsed.read_hostfile().map_err(|why| {
        super::report_line(&format!("pvm_start_pvmd(): {why}"));
        if parsed
            .hostfile
            .as_ref()
            .is_some_and(|p| !std::path::Path::new(p).is_file())
        {
            Error::NoFile
        } else {
            Error::BadParam
        }
    })?;
    parsed.apply(&mut opts, hostfile);
    daemon::prepare_dir(&opts.files).map_err(|_| Error::CantStart)?;
    let files = opts.files.clone();
    daemon::start_background_with(opts)?;
    if !daemon::wait_ready(&files, Duration::from_secs(15)) {
        return Err(Error::CantStart);
    }
    if !block {
        return Ok(());
    }
    // The daemon serves tasks only once its hostfile's hosts are in.
    rt().mytid().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_list_editing() {
        assert_eq!(
            edit_list("SHELL:HOME", "DISPLAY", true),
            "SHELL:HOME:DISPLAY"
        );
        assert_eq!(edit_list("SHELL:HOME", "HOME", true), "SHELL:HOME");
        assert_eq!(
            edit_list("SHELL:HOME:DISPLAY", "HOME", false),
            "SHELL:DISPLAY"
        );
        assert_eq!(edit_list("", "A", true), "A");
        assert_eq!(edit_list("A", "A", false), "");
        assert_eq!(edit_list("A::B", "C", false), "A:B");
    }

    #[test]
    fn micros_split_like_the_man_page() {
        assert_eq!(split_micros(3_250_000), (3, 250_000));
        assert_eq!(split_micros(0), (0, 0));
        assert_eq!(split_micros(-1), (-1, 999_999));
        assert_eq!(split_micros(-1_000_000), (-1, 0));
        assert_eq!(split_micros(-1_100_000), (-2, 900_000));
    }

    #[test]
    fn tmask_normalised_and_who_checked() {
        assert_eq!(empty_tmask().len(), TMASK_LEN - 1);
        assert_eq!(normalise(b"AB"), format!("AB{}", "@".repeat(33)));
        assert_eq!(normalise(&[b'A'; 50]).len(), 35);
        assert_eq!(gettmask(7), Err(Error::BadParam));
        assert_eq!(settmask(-1, b"@"), Err(Error::BadParam));
        settmask(TASK_CHILD, b"@A").unwrap();
        assert!(gettmask(TASK_CHILD).unwrap().starts_with("@A@"));
        let mut env = vec![];
        spawn_extras(0, &mut env, &super::super::Options::default()).unwrap();
        assert_eq!(env, vec![format!("PVMTMASK=@A{}", "@".repeat(33))]);
        settmask(TASK_CHILD, b"").unwrap();
    }

    #[test]
    fn start_args() {
        let s = |v: &[&str]| parse_start_args(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let a = s(&["-d0x41", "-nfoo"]).unwrap();
        assert_eq!(a.debug_mask, Some(0x41));
        assert_eq!(a.hostname.as_deref(), Some("foo"));
        assert_eq!(a.hostfile, None);
        assert_eq!(s(&["-d41"]).unwrap().debug_mask, Some(41));
        assert_eq!(s(&["-d041"]).unwrap().debug_mask, Some(0o41));
        assert_eq!(s(&["-n", "bar"]).unwrap().hostname.as_deref(), Some("bar"));
        assert!(s(&["-f"]).unwrap().foreground);
        assert_eq!(
            s(&["-d1", "/u/jones/pvmd_hosts"])
                .unwrap()
                .hostfile
                .as_deref(),
            Some("/u/jones/pvmd_hosts")
        );
        assert!(s(&["a", "b"])
            .unwrap_err()
            .contains("more than one hostfile"));
        assert!(s(&["-s"]).unwrap_err().contains("slave"));
        assert!(s(&["-S"]).unwrap_err().contains("slave"));
        assert!(s(&["-v"]).unwrap_err().contains("version"));
        assert!(s(&["-x"]).unwrap_err().contains("unknown option"));
        // As pvmd3: hex needs 0x (the drifted copy took "ff").
        assert!(s(&["-dff"]).is_err());
        assert!(s(&["-dzz"]).is_err());
    }
}
