//! pvmd, the daemon of one host: options, start-up (private directory, lock,
//! socket, pid and address files) and shut-down around the event loop in
//! [`server`].
//!
//! Structure: [`server::Daemon`] owns the poll loop, the connections
//! ([`conn`]), the task table ([`task`]), the spawner ([`spawn`]) and the log
//! ([`log`]); the message mailbox is [`mailbox`], the table of direct routes
//! tasks report is [`routes`], the group service [`groups`]. This host is
//! host 1 (host part 0x40000, daemon tid t80040000) unless it is a slave of
//! a multi-host machine (`pvmd3 -s`, see [`startup`]), whose index the
//! master chose. Multi-host machines: [`hosts`] is the host table, [`link`]
//! one TCP connection to another daemon (authenticated with src/auth.rs),
//! and the child module `server/multi.rs` the links, forwarding, slave
//! startup and failure handling (docs/ARCHITECTURE.md, "Multi-host").
//! The child modules `server/misc.rs` (tasker, hoster, no-reset list,
//! tickle) and `server/rm.rs` (the resource manager and its `SM_`
//! messages) serve the registrations of pvm_reg_tasker, pvm_reg_hoster and
//! pvm_reg_rm.
//! [`embedded`] starts a daemon from inside a task's program.

pub mod conn;
pub mod embedded;
pub mod groups;
pub mod hosts;
pub mod link;
pub mod log;
pub mod mailbox;
pub mod notify;
pub mod output;
pub mod outq;
pub mod routes;
pub mod server;
pub mod spawn;
pub mod startup;
pub mod task;

pub use embedded::{start_background, start_background_with, wait_ready};

use crate::paths::{self, DaemonFiles};
use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

/// Data signature of little-endian x86-64 (LINUX64) hosts, as PVM 3.4.6's
/// pvmd reports it in pvm_config (`conf` in the console shows 0x00408c41).
pub const DSIG_LINUX64: i32 = 0x0040_8c41;
/// Relative speed reported for this host (PVM's default).
pub const DEFAULT_SPEED: i32 = 1000;
/// How long tasks get after SIGTERM at halt before they are sent SIGKILL.
pub const HALT_GRACE: Duration = Duration::from_secs(2);

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
    /// A master's hostfile: its hosts are added at start (`&` ones remembered).
    pub hostfile: Option<crate::hostfile::Hostfile>,
    /// `$PVM_RSH` (the remote shell starting slaves; `ssh` when unset).
    pub rsh: String,
    /// `$PVM6_CLOCK_SKEW_US`: microseconds added to the clock this daemon
    /// reports to pvm_hostsync (0 when unset). A test and debugging knob: it
    /// makes one host look like another whose clock runs ahead (positive) or
    /// behind; nothing else in the daemon uses it.
    pub clock_skew_us: i64,
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
            hostfile: None,
            rsh: startup::rsh_program(std::env::var("PVM_RSH").ok()),
            clock_skew_us: std::env::var("PVM6_CLOCK_SKEW_US")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
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
        self.slave = Some(a.clone());
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
    let meta = fs::symlink_metadata(&files.dir)?;
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", files.dir.display()),
        ))
    };
    if !meta.file_type().is_dir() {
        return refuse("not a directory");
    }
    if meta.uid() != crate::os::uid() {
        return refuse("owned by another user");
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return refuse("group or others have access (must be mode 0700)");
    }
    Ok(())
}

/// The files a running daemon holds; removed again when it ends.
struct Held {
    files: DaemonFiles,
    _lock: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        for p in [&self.files.sock, &self.files.pid, &self.files.addr] {
            // Already gone is fine; nothing else can be done about a failure here.
            let _ = fs::remove_file(p);
        }
    }
}

/// Runs the daemon until it is halted. Returns `Ok(())` at once, doing
/// nothing, when another live daemon holds the lock.
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
        if opts.log_facade {
            ::log::info!("pvmd: another daemon holds {}", opts.files.lock.display());
        }
        return Ok(());
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
    let tcp = match crate::os::tcp_listen(opts.port, true) {
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
    if opts.slave.is_some() {
        // The master reads this line through the remote shell; closing our
        // stdio then lets the remote shell (and ssh) end.
        slave_report(&startup::reply_line(
            tcp_addr.port(),
            &opts.arch,
            opts.speed,
            DSIG_LINUX64,
        ));
    }
    let mut daemon =
        server::Daemon::new(opts, unix, mio::net::TcpListener::from_std(tcp), tcp_addr)?;
    let result = daemon.run_loop();
    drop(daemon);
    drop(held);
    result
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
