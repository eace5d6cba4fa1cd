//! The rest of the task API: the export list (`pvm_export`), trace masks
//! (`pvm_settmask`), `pvm_hostsync`, `pvm_tickle`, the no-reset list
//! (`PvmNoReset`, `pvm_getnoresets`), `pvm_start_pvmd` and the
//! registrations of taskers, hosters, resource managers and tracers.
//!
//! Trace masks are kept as PVM keeps them: printable strings of
//! [`TMASK_LEN`]` - 1` characters ('@' is an empty group of four bits), the
//! child mask is passed to spawned tasks in `PVMTMASK` and a task reads its
//! own from there. Nothing produces trace events (see docs/COMPATIBILITY.md).

use super::rt;
use crate::daemon::{self, DaemonOptions};
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size of a `Pvmtmask` (pvmtev.h: a NUL-terminated string of 35 characters).
pub const TMASK_LEN: usize = 36;
/// Environment variable carrying the trace mask to a spawned task.
pub const ENV_TMASK: &str = "PVMTMASK";
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

struct Masks {
    own: Option<String>,
    child: Option<String>,
}

static MASKS: Mutex<Masks> = Mutex::new(Masks {
    own: None,
    child: None,
});

fn masks() -> std::sync::MutexGuard<'static, Masks> {
    MASKS.lock().unwrap_or_else(|e| e.into_inner())
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

/// Adjusts a spawn request: PvmTaskTrace is refused (no tracing, see
/// docs/COMPATIBILITY.md) and a child trace mask that is not empty goes
/// to the children in `PVMTMASK`.
pub(super) fn spawn_extras(flags: i32, env: &mut Vec<String>) -> Result<()> {
    if flags & TASK_TRACE != 0 {
        return Err(Error::NotImpl);
    }
    let child = masks().child.clone();
    if let Some(c) = child.filter(|c| *c != empty_tmask()) {
        env.retain(|kv| !kv.starts_with("PVMTMASK="));
        env.push(format!("{ENV_TMASK}={c}"));
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

/// pvm_reg_tracer: not available (no trace events; docs/COMPATIBILITY.md).
pub fn reg_tracer() -> Result<()> {
    Err(Error::NotImpl)
}

/// What `pvm_start_pvmd`'s arguments ask for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StartArgs {
    pub debug_mask: Option<u32>,
    pub hostname: Option<String>,
    /// A hostfile: its hosts are added when the daemon starts.
    pub hostfile: Option<String>,
}

/// Parses a debug mask as pvmd3 does: hex with 0x, octal with a leading 0,
/// else decimal. PVM's own pvmd reads `-d` as hex; pvmd3 here also takes
/// plain hex digits when they cannot be decimal.
fn parse_mask(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok().or_else(|| u32::from_str_radix(s, 16).ok())
    }
}

/// Parses `pvm_start_pvmd` arguments: `-d<mask>`, `-n<name>` (or `-n
/// name`) and a hostfile, as pvmd3 takes them. Other options are refused
/// with a message saying why.
pub fn parse_start_args(args: &[String]) -> std::result::Result<StartArgs, String> {
    let mut out = StartArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(m) = a.strip_prefix("-d") {
            out.debug_mask = Some(parse_mask(m).ok_or(format!("bad debug mask \"{m}\""))?);
        } else if let Some(n) = a.strip_prefix("-n") {
            let name = if n.is_empty() {
                it.next().cloned().unwrap_or_default()
            } else {
                n.to_string()
            };
            if name.is_empty() {
                return Err("-n needs a host name".into());
            }
            out.hostname = Some(name);
        } else if a.starts_with('-') {
            return Err(format!(
                "option \"{a}\" is not supported (pvmd3 takes -d<mask> and -n<name>)"
            ));
        } else if out.hostfile.is_some() {
            return Err(format!("more than one hostfile (\"{a}\")"));
        } else {
            out.hostfile = Some(a.clone());
        }
    }
    Ok(out)
}

/// pvm_start_pvmd: starts a daemon with `args` and waits until it answers,
/// then enrolls. `Err(DupHost)` when a daemon runs already. A hostfile's
/// hosts are added by the daemon before it serves any task, so enrolling
/// waits for them whatever `block` says (the original returns earlier
/// without `block`).
pub fn start_pvmd(args: &[String], _block: bool) -> Result<()> {
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
    let hostfile = match &parsed.hostfile {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                super::report_line(&format!("pvm_start_pvmd(): {path}: {e}"));
                Error::NoFile
            })?;
            Some(crate::hostfile::Hostfile::parse(&text).map_err(|e| {
                super::report_line(&format!("pvm_start_pvmd(): {path}: {e}"));
                Error::BadParam
            })?)
        }
    };
    if let Some(m) = parsed.debug_mask {
        opts.debug_mask = m;
    }
    if let Some(n) = parsed.hostname {
        opts.hostname = n;
    }
    opts.hostfile = hostfile;
    daemon::prepare_dir(&opts.files).map_err(|_| Error::CantStart)?;
    let files = opts.files.clone();
    daemon::start_background_with(opts)?;
    if !daemon::wait_ready(&files, Duration::from_secs(15)) {
        return Err(Error::CantStart);
    }
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
        spawn_extras(0, &mut env).unwrap();
        assert_eq!(env, vec![format!("PVMTMASK=@A{}", "@".repeat(33))]);
        assert_eq!(spawn_extras(TASK_TRACE, &mut env), Err(Error::NotImpl));
        settmask(TASK_CHILD, b"").unwrap();
    }

    #[test]
    fn start_args() {
        let s = |v: &[&str]| parse_start_args(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["-d0x41", "-nfoo"]).unwrap(),
            StartArgs {
                debug_mask: Some(0x41),
                hostname: Some("foo".into()),
                hostfile: None,
            }
        );
        assert_eq!(s(&["-d41"]).unwrap().debug_mask, Some(41));
        assert_eq!(s(&["-n", "bar"]).unwrap().hostname.as_deref(), Some("bar"));
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
        assert!(s(&["-s"]).unwrap_err().contains("not supported"));
        assert!(s(&["-dzz"]).is_err());
    }
}
