//! Startup of the console: attaching to the running daemon or starting
//! one (with the hostfile given on the command line), enrolling, and adding
//! the hosts of a hostfile.

use super::*;

/// Whether a daemon answers on this user's socket.
pub(super) fn daemon_running(files: &DaemonFiles) -> bool {
    std::os::unix::net::UnixStream::connect(&files.sock).is_ok()
}

/// Waits until process `pid` is gone (or a zombie), at most `limit`.
pub(super) fn wait_process_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|s| s.split_whitespace().next());
                if state == Some("Z") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether hostfile name `name` is the master `me` (the daemon skips the
/// line naming its own host; names may be given with or without a domain).
pub(super) fn same_host(name: &str, me: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let bare = bare.split('%').next().unwrap_or(bare);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        let ip = ip.to_canonical();
        return ip.is_loopback()
            || crate::net::addr::local_addresses()
                .iter()
                .any(|a| a.to_canonical() == ip);
    }
    let short = |s: &str| s.split('.').next().unwrap_or("").to_ascii_lowercase();
    name.eq_ignore_ascii_case(me)
        || short(name) == short(me)
        || name.eq_ignore_ascii_case("localhost")
}

/// A host line (hostfile syntax) for `e`, its options merged with the
/// defaults it was read with.
pub fn host_line(e: &HostEntry) -> String {
    let o = &e.opts;
    let mut s = String::new();
    if e.overload_ok {
        s.push('$');
    }
    s.push_str(&e.name);
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={v}"));
        }
    };
    opt("lo", o.lo.clone());
    opt("so", o.so_pw.then(|| "pw".to_string()));
    opt("so", o.manual.then(|| "ms".to_string()));
    opt("dx", o.dx.clone());
    opt("ep", o.ep.clone());
    opt("wd", o.wd.clone());
    opt("sp", o.sp.map(|v| v.to_string()));
    opt("bx", o.bx.clone());
    opt("ip", o.ip.clone());
    opt("id", o.id.clone());
    opt("po", o.po.map(|v| v.to_string()));
    opt("launcher", o.launcher.map(|v| v.to_string()));
    s
}

/// How the console found its daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Started {
    /// It started the daemon, with the hostfile when one was given (the
    /// daemon then added its hosts and took the master's own line).
    WithHostfile,
    /// A daemon was running already.
    Attached,
}

impl Console {
    /// Attaches to the running daemon or starts one (as `pvmd3 [-d] [-n]
    /// [hostfile]` would, so the master takes its own hostfile line and the
    /// `*` options before it); enrolls.
    pub(super) fn attach(&mut self, opts: &Options) -> Result<Started, String> {
        let files = DaemonFiles::current();
        let mut started = Started::Attached;
        if daemon_running(&files) {
            stderr_text("pvmd already running.\n");
            if opts.debug_mask.is_some() || opts.name.is_some() {
                stderr_text("pvm: -d and -n apply only when the console starts pvmd: ignored\n");
            }
        } else {
            let mut args = Vec::new();
            if let Some(m) = &opts.debug_mask {
                args.push(format!("-d{m}"));
            }
            if let Some(n) = &opts.name {
                args.push(format!("-n{n}"));
            }
            if let Some(hf) = &opts.hostfile {
                args.push(hf.display().to_string());
            }
            match task::start_pvmd(&args, true) {
                Ok(()) => started = Started::WithHostfile,
                // Another program started one meanwhile: attach to it.
                Err(Error::DupHost) => stderr_text("pvmd already running.\n"),
                Err(e) => return Err(format!("cannot start pvmd: {}", e.text())),
            }
        }
        self.enroll()?;
        Ok(started)
    }

    /// After starting the daemon with a hostfile: says which of its hosts
    /// (not `&`, not this host) are not in the machine; the daemon's log
    /// tells why.
    pub(super) fn check_hostfile(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let Ok(hf) = hostfile::Hostfile::parse(&text) else {
            return;
        };
        let Ok((_, hosts)) = task::config() else {
            return;
        };
        let me = hosts.first().map(|h| h.name.clone()).unwrap_or_default();
        let missing: Vec<&str> = hf
            .hosts
            .iter()
            .filter(|e| !e.no_start)
            .filter(|e| !hosts.iter().any(|h| h.name.eq_ignore_ascii_case(&e.name)))
            .filter(|e| !same_host(&e.name, &me))
            .map(|e| e.name.as_str())
            .collect();
        if !missing.is_empty() {
            self.error(&format!(
                "pvm: hostfile {}: not added: {} (see {})",
                path.display(),
                missing.join(" "),
                DaemonFiles::current().log.display()
            ));
        }
    }

    pub(super) fn enroll(&mut self) -> Result<(), String> {
        let me = task::mytid().map_err(|e| format!("cannot contact pvmd: {}", e.text()))?;
        self.me = me;
        // Like PVM 3.4.6's console: `reset` (from any console) spares it.
        let _ = task::setopt(OPT_NO_RESET, 1);
        let mut s = self.shared.session();
        s.attached = true;
        s.gone = false;
        Ok(())
    }

    /// Adds the hosts of a hostfile (those not marked `&` and not in the
    /// machine yet).
    pub(super) fn add_hostfile(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(&format!(
                    "pvm: cannot read hostfile {}: {e}",
                    path.display()
                ));
                return;
            }
        };
        let hf = match hostfile::Hostfile::parse(&text) {
            Ok(h) => h,
            Err(e) => {
                self.error(&format!("pvm: hostfile {}: {e}", path.display()));
                return;
            }
        };
        let known: Vec<String> = task::config()
            .map(|(_, h)| h.into_iter().map(|h| h.name).collect())
            .unwrap_or_default();
        let me = known.first().cloned().unwrap_or_default();
        if let Some(own) = hf
            .hosts
            .iter()
            .find(|e| same_host(&e.name, &me) && !e.opts.is_empty())
        {
            stderr_text(&format!(
                "pvm: options of hostfile line \"{}\" ignored: they apply when pvm starts pvmd\n",
                own.name
            ));
        }
        let entries: Vec<&HostEntry> = hf
            .hosts
            .iter()
            .filter(|e| !e.no_start && !known.contains(&e.name) && !same_host(&e.name, &me))
            .collect();
        if entries.is_empty() {
            return;
        }
        let lines: Vec<String> = entries.iter().map(|e| host_line(e)).collect();
        let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        self.do_add(&names, &lines);
    }
}
