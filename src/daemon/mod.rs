//! pvmd, the daemon of one host: options, start-up (private directory, lock,
//! socket, pid and address files) and shut-down around the event loop in
//! [`server`].
//!
//! Structure (docs/ARCHITECTURE.md, "Daemon", has the table): [`server::Daemon`]
//! holds the state and runs the poll loop over the connections ([`conn`]);
//! its work is split by concern into `impl Daemon` blocks: requests.rs (the
//! dispatch by request code), children.rs (pipes, exits, signals),
//! delivery.rs (notifications, releases, host and route events), misc.rs
//! (tasker, hoster, no-reset list, tickle), rm.rs and sm.rs (the resource
//! manager and its `SM_` messages), gstools.rs. Components with their own
//! methods and private state: [`task`], [`mailbox`], [`routes`], [`groups`],
//! [`notify`], [`output`], the connection table ([`conn::ConnTable`]),
//! identity.rs (host part, tid, local names, contexts). This host is host 1 (host part 0x40000, daemon tid
//! t80040000) unless it is a slave of a multi-host machine (`pvmd3 -s`, see
//! [`startup`]), whose index the master chose. Multi-host machines: [`hosts`]
//! is the host table, [`link`] one TCP connection to another daemon
//! (authenticated with src/auth.rs); multi.rs holds the multi-host state,
//! worked on by host_start.rs (slave start-up), links.rs (the `Links`
//! component) and link_events.rs (its events: connect, accept, frames,
//! failure), machine.rs (heartbeat tick, host removal), forward.rs and
//! feeds.rs
//! (docs/ARCHITECTURE.md, "Multi-host").
//! [`embedded`] starts a daemon from inside a task's program.

pub mod bounds;
mod children;
pub mod conn;
mod delivery;
mod dialog;
pub mod embedded;
mod feeds;
mod flow;
mod forward;
#[doc(hidden)]
pub mod fuzz;
pub mod groups;
mod gstools;
mod host_start;
pub mod hosts;
mod identity;
pub mod link;
mod link_events;
mod links;
pub mod log;
mod machine;
pub mod mailbox;
mod misc;
mod multi;
pub mod notify;
pub mod output;
pub mod outq;
mod protect;
mod receiving;
mod requests;
mod rings;
mod rm;
pub mod routes;
pub mod server;
mod sm;
pub mod spawn;
pub mod startup;
mod succession;
pub mod task;
mod trace;

pub use embedded::{start_background, start_background_with, wait_ready};

use crate::paths::{self, DaemonFiles};
use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

/// Relative speed reported for this host (PVM's default).
pub const DEFAULT_SPEED: i32 = 1000;
/// How long tasks get after SIGTERM at halt before they are sent SIGKILL.
pub const HALT_GRACE: Duration = Duration::from_secs(2);

/// Whether the master daemon may talk with the user on its terminal
/// (stdin, stderr) for `so=pw` and `so=ms` (man pvmd3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialog {
    /// No terminal: `so=ms` goes through files, `so=pw` is not asked.
    #[default]
    Off,
    /// `pvmd3 -f` on a terminal: dialogs for as long as the daemon runs.
    Foreground,
    /// `pvmd3 hostfile` on a terminal: the detached daemon keeps the
    /// terminal until its hostfile's hosts are in (pvmd3 waits until then),
    /// then lets it go.
    Detached,
}

/// Everything the daemon needs to know, read once before it starts (so a
/// daemon forked inside a program never reads the live environment).
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Where the socket, lock, pid, address and log files live.
    pub files: DaemonFiles,
    /// TCP port to listen on (`$PVM6_PORT`; 0 for any).
    pub port: u16,
    /// The `-d` debug mask; non-zero also writes debug messages to the log.
    pub debug_mask: u32,
    /// This host's name (gethostname, or `-n name`).
    pub hostname: String,
    /// This host's architecture name.
    pub arch: String,
    /// `$PVM_ROOT`.
    pub pvm_root: Option<PathBuf>,
    /// `$HOME`: the working directory of spawned tasks.
    pub home: PathBuf,
    /// Directories searched for spawned executables.
    pub search_path: Vec<PathBuf>,
    /// The environment passed on to spawned tasks.
    pub env: Vec<(OsString, OsString)>,
    /// Whether messages also go to the `log` facade (false in a daemon forked
    /// inside a user's program).
    pub log_facade: bool,
    /// SIGTERM-to-SIGKILL grace at halt.
    pub halt_grace: Duration,
    /// This host's index: 1 for a master, the master's choice for a slave.
    pub host_index: i32,
    /// Relative speed reported in the host table (`sp=`).
    pub speed: i32,
    /// Debugger for PvmTaskDebug (`bx=`); `$PVM_ROOT/lib/debugger` when unset.
    pub debugger: Option<PathBuf>,
    /// The machine's secret: drawn at start by a master, read from stdin by a slave.
    pub secret: Option<crate::auth::Secret>,
    /// Set for a slave daemon (`pvmd3 -s`).
    pub slave: Option<startup::SlaveArgs>,
    /// Protection of the TCP links between hosts (src/seal.rs): a master's
    /// from its hostfile's `protect=`, else `$PVM6_PROTECT` (an unknown
    /// value counts as the default, encrypted); a slave's from its master.
    pub protect: crate::seal::Level,
    /// A master's hostfile: its hosts are added at start (`&` ones remembered).
    pub hostfile: Option<crate::hostfile::Hostfile>,
    /// `$PVM_RSH` (the remote shell starting slaves; `ssh` when unset).
    pub rsh: String,
    /// `$PVM6_CLOCK_SKEW_US`: microseconds added to the clock this daemon
    /// reports to pvm_hostsync (0 when unset). A test and debugging knob: it
    /// makes one host look like another whose clock runs ahead (positive) or
    /// behind; nothing else in the daemon uses it.
    pub clock_skew_us: i64,
    /// `$PVM_VMID`: the virtual machine id (part of `files`); slaves this
    /// master starts join the same one.
    pub vmid: Option<String>,
    /// Terminal dialogs for so=pw / so=ms.
    pub dialog: Dialog,
    /// The largest message body accepted (`$PVM6_MAX_MESSAGE`, `pvmd3
    /// -m<size>`; [`crate::wire::DEFAULT_MAX_MESSAGE`] when unset). Local
    /// tasks learn it with their Connect reply and refuse larger sends.
    pub max_message: usize,
    /// The bounds on queues and connections (docs/HARDENING.md "Bounds").
    pub bounds: bounds::Bounds,
    /// The machine's host timeout in seconds (`pvmd3 -t`, else
    /// `$PVM6_HOST_TIMEOUT`); a master's hostfile `to=` comes between the
    /// two (see `daemon::links::machine_timeout`).
    pub host_timeout: Option<u32>,
    /// Whether `host_timeout` came from `pvmd3 -t` (it then beats the
    /// hostfile's `to=`).
    pub host_timeout_arg: bool,
}

impl DaemonOptions {
    /// Options from the environment: PVM_TMP, PVM_VMID, PVM6_PORT, PVM_ROOT,
    /// PVM_ARCH, HOME, PVM_PATH, PVM_RSH, PVM6_CLOCK_SKEW_US.
    pub fn from_env() -> DaemonOptions {
        let port = std::env::var("PVM6_PORT")
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        DaemonOptions {
            files: DaemonFiles::current(),
            port,
            debug_mask: 0,
            hostname: crate::os::hostname(),
            arch: paths::arch(),
            pvm_root: paths::pvm_root(),
            home: paths::home(),
            search_path: paths::spawn_search_path(),
            env: std::env::vars_os().collect(),
            log_facade: false,
            halt_grace: HALT_GRACE,
            host_index: 1,
            speed: DEFAULT_SPEED,
            debugger: None,
            secret: None,
            slave: None,
            protect: crate::seal::Level::from_env()
                .ok()
                .flatten()
                .unwrap_or_default(),
            hostfile: None,
            rsh: startup::rsh_program(std::env::var("PVM_RSH").ok()),
            clock_skew_us: std::env::var("PVM6_CLOCK_SKEW_US")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            vmid: std::env::var("PVM_VMID").ok().filter(|v| !v.is_empty()),
            dialog: Dialog::Off,
            max_message: crate::wire::max_message_from_env(),
            bounds: bounds::Bounds::from_env(),
            host_timeout: std::env::var("PVM6_HOST_TIMEOUT")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            host_timeout_arg: false,
        }
    }

    /// Applies a slave's command-line arguments (`pvmd3 -s ...`).
    pub fn apply_slave(&mut self, a: &startup::SlaveArgs) {
        self.host_index = a.index;
        self.hostname = a.name.clone();
        self.debug_mask = a.debug;
        if let Some(r) = &a.root {
            if self.pvm_root.is_none() {
                self.pvm_root = Some(PathBuf::from(r));
                self.env.retain(|(k, _)| k != "PVM_ROOT");
                self.env.push(("PVM_ROOT".into(), r.into()));
                if std::env::var_os("PVM_PATH").is_none() {
                    self.search_path = vec![
                        self.home.join("pvm3/bin").join(&self.arch),
                        PathBuf::from(r).join("bin").join(&self.arch),
                    ];
                }
            }
        }
        if let Some(ep) = &a.ep {
            self.search_path = split_path(ep, &self.home);
        }
        if let Some(l) = a.protect {
            self.protect = l;
        }
        if let Some(m) = a.max_message {
            // The master's limit: one for the whole machine.
            self.max_message = m;
        }
        if let Some(wd) = &a.wd {
            self.home = self.home.join(wd);
        }
        if let Some(bx) = &a.bx {
            self.debugger = Some(PathBuf::from(bx));
        }
        if let Some(p) = a.port {
            self.port = p;
        }
        if let Some(sp) = a.speed {
            self.speed = sp;
        }
        if let Some(id) = &a.vmid {
            // The master's machine, not the one the remote login names:
            // its files, and the PVM_VMID its tasks find it by.
            let tmp = self
                .files
                .dir
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(paths::tmp_dir);
            let id = Some(id.as_str()).filter(|i| !i.is_empty());
            self.files = DaemonFiles::new(&tmp, crate::os::uid(), id);
            self.vmid = id.map(str::to_string);
            self.env.retain(|(k, _)| k != "PVM_VMID");
            if let Some(i) = id {
                self.env.push(("PVM_VMID".into(), i.into()));
            }
        }
        self.slave = Some(a.clone());
    }
}

/// Parses a debug mask as man pvmd3 gives it: hexadecimal with `0x`, octal
/// with a leading `0`, else decimal. One function for `pvmd3 -d`,
/// `pvm -d` and `pvm_start_pvmd`. `None` for anything else (`ff`, `0x`,
/// `09`, a sign, a value over 32 bits).
pub fn parse_debug_mask(s: &str) -> Option<u32> {
    let digits_in = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        digits_in(h, 16).then(|| u32::from_str_radix(h, 16).ok())?
    } else if s.len() > 1 && s.starts_with('0') {
        digits_in(&s[1..], 8).then(|| u32::from_str_radix(&s[1..], 8).ok())?
    } else {
        digits_in(s, 10).then(|| s.parse().ok())?
    }
}

/// The options of the master daemon's command line (`pvmd3 [-d<mask>]
/// [-n<name>] [-f] [-v] [hostfile]`), parsed by one function for pvmd3 and
/// for `pvm_start_pvmd`'s argv. The slave form (`-s ...`) is not parsed
/// here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterArgs {
    /// `-d<mask>`.
    pub debug_mask: Option<u32>,
    /// `-n<name>` or `-n name`.
    pub hostname: Option<String>,
    /// `-f`: stay in the foreground.
    pub foreground: bool,
    /// `-v` / `--version`.
    pub version: bool,
    /// `-m<size>`: the largest message body (bytes, or with k, m, g).
    pub max_message: Option<usize>,
    /// The hostfile's path.
    pub hostfile: Option<String>,
    /// `-t<seconds>`: the machine's host timeout (pvm6 extension).
    pub timeout: Option<u32>,
}

/// The usage line of the master's options.
pub const MASTER_USAGE: &str =
    "pvmd3 [-d<mask>] [-n<name>] [-m<size>] [-t<seconds>] [-f] [-v] [hostfile]";

impl MasterArgs {
    /// Parses `args` (without the program name). Errors say what is wrong.
    pub fn parse(args: &[String]) -> Result<MasterArgs, String> {
        let mut out = MasterArgs::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "-f" {
                out.foreground = true;
            } else if a == "-v" || a == "--version" {
                out.version = true;
            } else if let Some(m) = a.strip_prefix("-d") {
                out.debug_mask =
                    Some(parse_debug_mask(m).ok_or_else(|| format!("bad debug mask \"{m}\""))?);
            } else if let Some(m) = a.strip_prefix("-m") {
                let m = if m.is_empty() {
                    it.next().cloned().unwrap_or_default()
                } else {
                    m.to_string()
                };
                out.max_message = Some(crate::wire::parse_size(&m).ok_or_else(|| {
                    format!(
                        "bad message size \"{m}\" (bytes, or with k, m, g; from {} to {})",
                        crate::wire::MIN_MAX_MESSAGE,
                        crate::wire::MAX_BODY
                    )
                })?);
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
            } else if let Some(t) = a.strip_prefix("-t") {
                let t = if t.is_empty() {
                    it.next().cloned().unwrap_or_default()
                } else {
                    t.to_string()
                };
                out.timeout = Some(
                    t.parse()
                        .ok()
                        .filter(|v| crate::hostfile::TIMEOUT_RANGE.contains(v))
                        .ok_or_else(|| format!("bad timeout \"{t}\" (seconds 1..86400)"))?,
                );
            } else if a.starts_with('-') && a.len() > 1 {
                return Err(format!("unknown option \"{a}\"; usage: {MASTER_USAGE}"));
            } else if out.hostfile.is_some() {
                return Err(format!("more than one hostfile (\"{a}\")"));
            } else {
                out.hostfile = Some(a.clone());
            }
        }
        Ok(out)
    }

    /// Reads and parses the hostfile, if one was given.
    pub fn read_hostfile(&self) -> Result<Option<crate::hostfile::Hostfile>, String> {
        let Some(path) = &self.hostfile else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("can't read hostfile \"{path}\": {e}"))?;
        crate::hostfile::Hostfile::parse(&text)
            .map(Some)
            .map_err(|e| format!("{path}: {e}"))
    }

    /// Applies the options to `opts` (the hostfile given parsed).
    pub fn apply(&self, opts: &mut DaemonOptions, hostfile: Option<crate::hostfile::Hostfile>) {
        if let Some(m) = self.debug_mask {
            opts.debug_mask = m;
        }
        if let Some(n) = &self.hostname {
            opts.hostname = n.clone();
        }
        if let Some(m) = self.max_message {
            opts.max_message = m;
        }
        if let Some(t) = self.timeout {
            opts.host_timeout = Some(t);
            opts.host_timeout_arg = true;
        }
        if let Some(l) = hostfile.as_ref().and_then(|h| h.defaults.protect) {
            opts.protect = l;
        }
        opts.hostfile = hostfile;
    }
}

/// A colon-separated search path (`ep=`), relative entries under `home`.
pub fn split_path(ep: &str, home: &std::path::Path) -> Vec<PathBuf> {
    ep.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                home.join(p)
            }
        })
        .collect()
}

/// Creates the private daemon directory (mode 0700), or checks that an
/// existing one is a directory of ours that nobody else can enter.
pub fn prepare_dir(files: &DaemonFiles) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(&files.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("can't create {}: {e}", files.dir.display()),
            ))
        }
    }
    // Never chmod or chown a directory found there: one we did not make
    // this way (another user's, a link, open to others) is refused.
    paths::check_private_dir(&files.dir)
}

/// The files a running daemon holds; removed again when it ends.
struct Held {
    files: DaemonFiles,
    _lock: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        let secret = self.files.dir.join("pvmd.secret");
        for p in [&self.files.sock, &self.files.pid, &self.files.addr, &secret] {
            // Already gone is fine; nothing else can be done about a failure here.
            let _ = fs::remove_file(p);
        }
    }
}

/// Runs the daemon until it is halted. When another live daemon holds the
/// lock it returns at once, doing nothing, with an error of kind
/// `AlreadyExists` whose text names the lock and the other daemon's pid.
pub fn run(opts: DaemonOptions) -> io::Result<()> {
    crate::os::ignore_sigpipe();
    prepare_dir(&opts.files)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&opts.files.lock)?;
    if !crate::os::try_lock_exclusive(&lock)? {
        if opts.slave.is_some() {
            slave_report("error a pvm6 daemon already runs on this host for this user");
        }
        let pid = fs::read_to_string(&opts.files.pid)
            .ok()
            .map(|p| format!(" (pid {})", p.trim()))
            .unwrap_or_default();
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is held by another pvmd{pid}: pvmd already running?",
                opts.files.lock.display()
            ),
        ));
    }
    // From here on the lock is ours: any socket file left is a dead daemon's.
    let held = Held {
        files: opts.files.clone(),
        _lock: lock,
    };
    match fs::remove_file(&opts.files.sock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // A one-host machine does not listen on TCP until it needs to (a host
    // is added: bounds.rs); the port is taken now all the same, so the
    // address file is right from the start.
    let listen_now = opts.slave.is_some() || opts.hostfile.is_some() || listen_always();
    let open = if listen_now {
        crate::os::tcp_listen
    } else {
        crate::os::tcp_bind
    };
    let tcp = match open(opts.port, true) {
        Ok(l) => l,
        Err(e) => {
            if opts.slave.is_some() {
                slave_report(&format!("error can't listen on port {}: {e}", opts.port));
            }
            return Err(e);
        }
    };
    let tcp_addr = tcp.local_addr()?;
    crate::os::write_private(&opts.files.pid, &format!("{}\n", std::process::id()))?;
    crate::os::write_private(&opts.files.addr, &format!("{tcp_addr}\n"))?;
    // The socket comes last: whoever sees it finds the pid and address files.
    let unix = mio::net::UnixListener::bind(&opts.files.sock)?;
    fs::set_permissions(&opts.files.sock, fs::Permissions::from_mode(0o600))?;
    let mut opts = opts;
    if opts.secret.is_none() {
        opts.secret = Some(
            crate::auth::Secret::generate()
                .map_err(|e| io::Error::other(format!("no secret: {e}")))?,
        );
    }
    if let Some(a) = &opts.slave {
        // The master reads this line through the remote shell; closing our
        // stdio then lets the remote shell (and ssh) end. In a launcher's
        // step (many slaves, one stdout) it says which slave it is.
        let line = startup::reply_line(
            tcp_addr.port(),
            &opts.arch,
            opts.speed,
            crate::wire::vocabulary::DSIG_LINUX64,
        );
        match a.hosts {
            Some(_) => slave_report(&format!("@{} {line}", a.index)),
            None => slave_report(&line),
        }
    }
    let mut daemon =
        server::Daemon::new(opts, unix, mio::net::TcpListener::from_std(tcp), tcp_addr)?;
    let result = daemon.run_loop();
    drop(daemon);
    drop(held);
    result
}

/// `$PVM6_LISTEN=1`: listen on TCP from the start, even as a one-host
/// machine (other hosts' tools, tests of the port).
pub const ENV_LISTEN: &str = "PVM6_LISTEN";

fn listen_always() -> bool {
    std::env::var(ENV_LISTEN).is_ok_and(|v| v.trim() == "1")
}

/// Writes a slave's one line to stdout, then points stdio at /dev/null.
fn slave_report(line: &str) {
    let mut out = io::stdout().lock();
    // If the master is gone there is nobody to tell; the daemon then times out.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    let _ = crate::os::stdio_to_dev_null();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_as_man_pvmd3_gives_them() {
        assert_eq!(parse_debug_mask("0x41"), Some(0x41));
        assert_eq!(parse_debug_mask("0X1f"), Some(0x1f));
        assert_eq!(parse_debug_mask("041"), Some(0o41));
        assert_eq!(parse_debug_mask("41"), Some(41));
        assert_eq!(parse_debug_mask("0"), Some(0));
        assert_eq!(parse_debug_mask("0xffffffff"), Some(u32::MAX));
        for bad in ["", "ff", "0x", "09", "-1", "+1", "0x100000000", "1 "] {
            assert_eq!(parse_debug_mask(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn master_args() {
        let p =
            |v: &[&str]| MasterArgs::parse(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let a = p(&["-d0x8", "-n", "node1", "-f", "hosts"]).unwrap();
        assert_eq!(
            a,
            MasterArgs {
                debug_mask: Some(8),
                hostname: Some("node1".into()),
                foreground: true,
                version: false,
                max_message: None,
                hostfile: Some("hosts".into()),
                timeout: None,
            }
        );
        assert_eq!(p(&["-t30"]).unwrap().timeout, Some(30));
        assert_eq!(p(&["-t", "90"]).unwrap().timeout, Some(90));
        assert!(p(&["-t0"]).unwrap_err().contains("bad timeout"));
        assert!(p(&["-v"]).unwrap().version);
        assert_eq!(p(&["-m64m"]).unwrap().max_message, Some(64 << 20));
        assert_eq!(p(&["-m", "2G"]).unwrap().max_message, Some(2 << 30));
        assert!(p(&["-m1k"]).unwrap_err().contains("bad message size"));
        assert!(p(&["-mfoo"]).is_err());
        assert!(p(&["-dff"]).unwrap_err().contains("bad debug mask"));
        assert!(p(&["-n"]).is_err());
        assert!(p(&["-q"]).unwrap_err().contains("usage"));
        assert!(p(&["a", "b"]).is_err());
    }
}
