//! Multi-host test harness: a [`Cluster`] of throw-away hosts, each a Linux
//! network namespace with its own addresses, hostname, private `/tmp` and a
//! real OpenSSH `sshd`, all joined by a bridge in a dedicated "switch"
//! namespace that has no link to the machine's own network.
//!
//! Owns: creating the hosts (namespaces, veth pairs, bridge, fd00::/8 and
//! optional 198.18.0.0/15 addresses, `/etc/netns/<ns>/hosts`), the ssh keys
//! and configs, the `PVM_RSH` wrapper, running and killing processes inside a
//! host, link failures, and removing all of it on drop — after a panic too,
//! and (through a watchdog process) even when the test process is killed.
//!
//! Include it with `#[path = "common/netns.rs"] mod netns;`. Traffic only ever
//! goes between the namespaces made here, or to their own loopback: the
//! switch namespace has no link to the machine's network, no host has a
//! default route, and each host's resolv.conf points at its own loopback.
//!
//! ```ignore
//! let specs = [HostSpec::v6("node1"), HostSpec::dual("node2"), HostSpec::v4("node3")];
//! let Some(c) = netns::require("mytest", &specs) else { return }; // SKIP banner, or panic under CI=true
//! c.exec_ok("node1", ""$PVM_RSH" node2 hostname");          // "node2\n", over IPv6
//! let mut d = c.spawn("node2", "exec my-daemon");              // runs until killed or the drop
//! c.link_down("node2"); /* ... */ c.link_up("node2");
//! c.kill_in("node2", "my-daemon");
//! ```
//!
//! Per host: its own network stack, hostname (UTS namespace) and `/tmp`
//! (bind mount in a private mount namespace). Everything else — `/root`,
//! `$HOME`, `/var/tmp`, the project's directories — is the machine's, shared
//! by all hosts. Commands run through [`Cluster::exec`] start in `/` with this
//! process's environment plus `PVM_RSH`; commands arriving over ssh get a
//! login environment from sshd, with `PVM_RSH` set by its `SetEnv`.

#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every namespace, `/etc/netns` entry and directory of this harness starts
/// with this, followed by `.<pid>.<seq>.`; stale-cleanup keys on it.
const TAG: &str = "pvm6t";
/// The interface name of a host's link, inside its namespace, unless its
/// spec names another ([`HostSpec::with_if`]).
const HOST_IF: &str = "eth0";
/// Default bound of [`Cluster::exec`].
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an sshd may take to come up.
const SSHD_START: Duration = Duration::from_secs(15);
/// At most this many stale entries are removed per cluster creation.
const STALE_MAX: usize = 256;

/// Serialises namespace creation within one test process (`ip netns add`
/// mounts /run/netns on first use and is not safe to race).
static SETUP: Mutex<()> = Mutex::new(());
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Why the machine cannot host a cluster (not root, a tool missing, no
/// namespace support). See [`require`] for how a test reports it.
pub struct Skip(pub String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Skip({:?})", self.0)
    }
}

/// One host to create: its name (lowercase letters, digits, '-'; it becomes
/// the hostname and the name in every host's `/etc/hosts`) and its address
/// families.
#[derive(Clone, Debug)]
pub struct HostSpec {
    pub name: String,
    pub v6: bool,
    pub v4: bool,
    /// The name of its link inside the host (`eth0` unless set).
    pub ifname: String,
}

impl HostSpec {
    /// An IPv6-only host.
    pub fn v6(name: impl Into<String>) -> HostSpec {
        HostSpec {
            name: name.into(),
            v6: true,
            v4: false,
            ifname: HOST_IF.into(),
        }
    }
    /// An IPv4-only host (IPv6 disabled on its link; `::1` stays).
    pub fn v4(name: impl Into<String>) -> HostSpec {
        HostSpec {
            name: name.into(),
            v6: false,
            v4: true,
            ifname: HOST_IF.into(),
        }
    }
    /// The same host with its link called `ifname` (at most 15
    /// characters) instead of eth0: link-local zones then differ between
    /// hosts, as on real machines.
    pub fn with_if(mut self, ifname: impl Into<String>) -> HostSpec {
        self.ifname = ifname.into();
        self
    }
    /// A dual-stack host.
    pub fn dual(name: impl Into<String>) -> HostSpec {
        HostSpec {
            name: name.into(),
            v6: true,
            v4: true,
            ifname: HOST_IF.into(),
        }
    }
}

/// A created host.
#[derive(Debug)]
pub struct Host {
    pub spec: HostSpec,
    /// Its network namespace (`ip netns` name).
    pub ns: String,
    pub addr6: Option<Ipv6Addr>,
    pub addr4: Option<Ipv4Addr>,
    /// The link-local address the kernel gave its link (fe80::/64, from
    /// the link's MAC), for hosts with IPv6; reached as `<addr>%eth0` from
    /// the other hosts (see [`Host::link_local`]). sshd listens on it.
    pub ll6: Option<Ipv6Addr>,
    /// Its directory in the cluster directory (sshd config, keys, log, tmp).
    pub dir: PathBuf,
    /// The process holding its UTS and mount namespaces; everything run in
    /// the host enters the namespaces of this process.
    holder: u32,
    /// Its port on the switch's bridge.
    port: String,
}

impl Host {
    /// `fe80::...%IF`: how this host names its own link-local address, and
    /// how another host whose link has the same name (eth0 by default)
    /// names it; see [`Host::link_local_from`].
    pub fn link_local(&self) -> Option<String> {
        self.ll6.map(|a| format!("{a}%{}", self.spec.ifname))
    }

    /// `fe80::...%IF` with the zone of host `from`'s link: how `from`
    /// names this host by its link-local address.
    pub fn link_local_from(&self, from: &Host) -> Option<String> {
        self.ll6.map(|a| format!("{a}%{}", from.spec.ifname))
    }

    /// The host's private `/tmp`, as seen from outside the host.
    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}

/// A set of hosts on one switch; dropping it removes everything it made.
pub struct Cluster {
    /// `pvm6t.<pid>.<seq>.<prefix>`: the switch namespace's name and the
    /// first part of every host namespace's name.
    tag: String,
    dir: PathBuf,
    hosts: Vec<Host>,
    /// Holders and sshds: killed and reaped on drop.
    children: Mutex<Vec<Child>>,
    /// sshd per host index, so that it can be restarted.
    sshd_pids: Mutex<Vec<Option<u32>>>,
    watchdog: Option<(Child, ChildStdin)>,
    setup_time: Duration,
}

/// Outcome of [`Cluster::new`] as a test should treat it: the cluster, or
/// `None` after [`report_skip`] printed a loud SKIP line — except under
/// `CI=true`, where a missing prerequisite fails the test (CI must run it).
pub fn require(prefix: &str, specs: &[HostSpec]) -> Option<Cluster> {
    match Cluster::new(prefix, specs) {
        Ok(c) => Some(c),
        Err(skip) => {
            report_skip(&format!("multi-host test `{prefix}`"), &skip);
            None
        }
    }
}

/// Panics under CI; elsewhere writes a SKIP banner straight to the
/// process's stderr (not through `eprintln!`, which the test runner
/// captures and hides for tests that pass).
pub fn report_skip(what: &str, skip: &Skip) {
    if in_ci() {
        panic!("{what} cannot run under CI because {skip}");
    }
    let banner = format!(
        "\n################################################################\n\
         ## SKIP {what} because {skip}\n\
         ## (not run here; under CI=true this is a failure)\n\
         ################################################################\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
}

/// True when the environment says this is CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// The lock held while clusters are made (and stale leftovers removed);
/// a test that plants fake leftovers holds it meanwhile.
pub fn setup_lock() -> std::sync::MutexGuard<'static, ()> {
    SETUP.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// Creates the hosts of `specs` (names unique, at most 200), with sshd
    /// running in each. `prefix` labels the run (letters, digits, '-').
    /// Returns `Err(Skip)` when the machine lacks the means; panics (after
    /// cleaning up) on any other failure.
    pub fn new(prefix: &str, specs: &[HostSpec]) -> Result<Cluster, Skip> {
        let started = Instant::now();
        check_names(prefix, specs);
        prerequisites()?;
        let guard = setup_lock();
        stale_cleanup();

        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{TAG}.{}.{seq}.{prefix}", std::process::id());
        let dir = base_dir().join(&tag);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .map_err(|e| Skip(format!("cannot create {}: {e}", dir.display())))?;

        let mut c = Cluster {
            tag: tag.clone(),
            dir: dir.clone(),
            hosts: Vec::new(),
            children: Mutex::new(Vec::new()),
            sshd_pids: Mutex::new(vec![None; specs.len()]),
            watchdog: None,
            setup_time: Duration::ZERO,
        };
        // From here on, dropping `c` (early return or panic) cleans up.
        let all_ns: Vec<String> = std::iter::once(tag.clone())
            .chain(specs.iter().map(|s| format!("{tag}.{}", s.name)))
            .collect();
        c.write_cleanup_script(&all_ns);
        c.start_watchdog();

        // The switch: a namespace with a bridge and nothing else.
        if let Err(e) = ip(&["netns", "add", &tag]) {
            return Err(Skip(format!("`ip netns add` does not work here: {e}")));
        }
        if let Err(e) = ip(&[
            "-n",
            &tag,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]) {
            return Err(Skip(format!("cannot create a bridge in a namespace: {e}")));
        }
        must_ip(&["-n", &tag, "link", "set", "br0", "up"]);

        let prefix6 = ula_prefix(seq);
        for (i, spec) in specs.iter().enumerate() {
            let n = i as u16 + 1;
            let ns = format!("{tag}.{}", spec.name);
            let hdir = dir.join("hosts").join(&spec.name);
            fs::create_dir_all(hdir.join("tmp")).unwrap();
            fs::set_permissions(hdir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
            c.hosts.push(Host {
                spec: spec.clone(),
                ns,
                addr6: spec.v6.then(|| {
                    let s = prefix6.segments();
                    Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, n)
                }),
                addr4: spec.v4.then(|| Ipv4Addr::new(198, 18, 0, n as u8)),
                ll6: None,
                dir: hdir,
                holder: 0,
                port: format!("p{n}"),
            });
        }
        for i in 0..c.hosts.len() {
            if let Err(e) = c.make_link(i) {
                if i == 0 {
                    return Err(Skip(format!(
                        "cannot create a veth pair between namespaces: {e}"
                    )));
                }
                panic!("{e}");
            }
        }
        for i in 0..c.hosts.len() {
            c.hosts[i].ll6 = c.read_link_local(i);
        }
        c.write_hosts_files();
        for i in 0..c.hosts.len() {
            c.start_holder(i);
        }
        drop(guard);

        c.make_ssh_files();
        for i in 0..c.hosts.len() {
            c.spawn_sshd(i);
        }
        for i in 0..c.hosts.len() {
            c.wait_sshd(i);
        }
        c.setup_time = started.elapsed();
        Ok(c)
    }

    /// Wall time `new` took.
    pub fn setup_time(&self) -> Duration {
        self.setup_time
    }

    /// The cluster's directory (not under /tmp, so every host sees it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All hosts, in the order of the specs.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host named `name`; panics if there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.spec.name == name)
            .unwrap_or_else(|| panic!("no host {name:?} in cluster {}", self.tag))
    }

    /// The names of every namespace of this cluster (switch first).
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.tag.clone())
            .chain(self.hosts.iter().map(|h| h.ns.clone()))
            .collect()
    }

    /// The value for `PVM_RSH`: a script running `ssh -F <our config>`.
    /// Set already for everything started through this cluster, and (by
    /// sshd's `SetEnv`) for every command arriving over ssh.
    pub fn ssh_command(&self) -> PathBuf {
        self.dir.join("ssh")
    }

    /// The ssh client config (`ssh -F`).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// A command that runs `program` inside `host` (its network, hostname
    /// and private /tmp), with `PVM_RSH` set and stdin from /dev/null.
    /// Unbounded: the caller bounds what it runs.
    pub fn command(&self, host: &str, program: &str) -> Command {
        let h = self.host(host);
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(h.holder.to_string())
            .args(["-n", "-u", "-m", "--", program])
            .env("PVM_RSH", self.ssh_command())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `sh -c script` in `host`, killed after 60 s.
    pub fn exec(&self, host: &str, script: &str) -> Output {
        self.exec_timeout(host, script, EXEC_TIMEOUT)
    }

    /// Runs `sh -c script` in `host`, killed after `limit` (exit status 124
    /// or 137 then, as with timeout(1)).
    pub fn exec_timeout(&self, host: &str, script: &str, limit: Duration) -> Output {
        let secs = format!("{:.3}", limit.as_secs_f64());
        self.command(host, "timeout")
            .args(["-k", "2", &secs, "sh", "-c", script])
            .output()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"))
    }

    /// Like [`exec`](Self::exec) but panics (with its output) unless it
    /// exits 0; returns its stdout.
    pub fn exec_ok(&self, host: &str, script: &str) -> String {
        let out = self.exec(host, script);
        if !out.status.success() {
            panic!(
                "on {host}: `{script}` failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `sh -c script` in `host` in the background, stdout and stderr
    /// piped. Killed at the latest when the cluster is dropped; the caller
    /// should still wait for it.
    pub fn spawn(&self, host: &str, script: &str) -> Child {
        self.command(host, "sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"))
    }

    /// Pids of every process in `host`'s network namespace (the harness's
    /// holder process included).
    pub fn pids_in(&self, host: &str) -> Vec<u32> {
        let out = ip(&["netns", "pids", &self.host(host).ns]).unwrap_or_default();
        out.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Sends SIGKILL to every process in `host` whose command line contains
    /// `pattern` (like `pkill -f`); returns how many were signalled.
    pub fn kill_in(&self, host: &str, pattern: &str) -> usize {
        self.signal_in(host, pattern, "KILL")
    }

    /// Sends `signal` (a name as for `kill -s`: TERM, KILL, STOP, CONT, ...)
    /// to every process in `host` whose command line contains `pattern`.
    pub fn signal_in(&self, host: &str, pattern: &str, signal: &str) -> usize {
        let holder = self.host(host).holder;
        let mut n = 0;
        for pid in self.pids_in(host) {
            if pid == holder {
                continue;
            }
            let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(pattern) {
                let ok = Command::new("kill")
                    .args(["-s", signal, &pid.to_string()])
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                n += ok as usize;
            }
        }
        n
    }

    /// Takes `host`'s own interface down (`ip link set eth0 down` in the
    /// host): its addresses stay, its routes go, nothing gets in or out.
    pub fn link_down(&self, host: &str) {
        let h = self.host(host);
        must_ip(&["-n", &h.ns, "link", "set", &h.spec.ifname, "down"]);
    }

    /// Brings `host`'s interface back up (routes return with it).
    pub fn link_up(&self, host: &str) {
        let h = self.host(host);
        must_ip(&["-n", &h.ns, "link", "set", &h.spec.ifname, "up"]);
    }

    /// Pulls `host`'s cable: its switch port goes down, the host keeps its
    /// link up but loses carrier (local routes and addresses untouched).
    pub fn unplug(&self, host: &str) {
        must_ip(&[
            "-n",
            &self.tag,
            "link",
            "set",
            &self.host(host).port,
            "down",
        ]);
    }

    /// Plugs `host`'s cable back in.
    pub fn plug(&self, host: &str) {
        must_ip(&["-n", &self.tag, "link", "set", &self.host(host).port, "up"]);
    }

    /// Kills `host`'s sshd (if running) and starts a new one, waiting until
    /// it listens.
    pub fn restart_sshd(&self, host: &str) {
        let i = self.index(host);
        if let Some(pid) = self.sshd_pids.lock().unwrap()[i].take() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status();
        }
        let _ = fs::remove_file(self.hosts[i].dir.join("sshd.pid"));
        self.spawn_sshd(i);
        self.wait_sshd(i);
    }

    fn index(&self, host: &str) -> usize {
        self.hosts
            .iter()
            .position(|h| h.spec.name == host)
            .unwrap_or_else(|| panic!("no host {host:?} in cluster {}", self.tag))
    }

    /// The veth pair of host `i`: `p<n>` on the switch's bridge, `eth0` in
    /// the host, plus loopback and addresses.
    fn make_link(&self, i: usize) -> Result<(), String> {
        let h = &self.hosts[i];
        let hif = h.spec.ifname.as_str();
        let sw = self.tag.as_str();
        ip(&["netns", "add", &h.ns])?;
        ip(&[
            "-n", sw, "link", "add", &h.port, "type", "veth", "peer", "name", hif, "netns", &h.ns,
        ])?;
        ip(&["-n", sw, "link", "set", &h.port, "master", "br0", "up"])?;
        ip(&["-n", &h.ns, "link", "set", "lo", "up"])?;
        // Keep static IPv6 addresses across link_down/link_up; no IPv6 at
        // all on the link of an IPv4-only host.
        sysctl(
            &h.ns,
            &format!("net.ipv6.conf.{hif}.keep_addr_on_down"),
            "1",
        )?;
        if !h.spec.v6 {
            sysctl(&h.ns, &format!("net.ipv6.conf.{hif}.disable_ipv6"), "1")?;
        } else {
            // No duplicate address detection: the link-local address the
            // kernel makes when the link comes up is usable at once (sshd
            // binds it right away); the switch is ours, nothing collides.
            sysctl(&h.ns, &format!("net.ipv6.conf.{hif}.accept_dad"), "0")?;
        }
        if let Some(a) = h.addr6 {
            // nodad: usable at once (sshd binds it right away).
            ip(&[
                "-n",
                &h.ns,
                "addr",
                "add",
                &format!("{a}/64"),
                "dev",
                hif,
                "nodad",
            ])?;
        }
        if let Some(a) = h.addr4 {
            ip(&["-n", &h.ns, "addr", "add", &format!("{a}/24"), "dev", hif])?;
        }
        ip(&["-n", &h.ns, "link", "set", hif, "up"])?;
        Ok(())
    }

    /// The link-local address of host `i`'s link, once the kernel made it
    /// (up to 5 s after the link came up); `None` for IPv4-only hosts.
    fn read_link_local(&self, i: usize) -> Option<Ipv6Addr> {
        let h = &self.hosts[i];
        let hif = h.spec.ifname.as_str();
        if !h.spec.v6 {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = ip(&[
                "-n", &h.ns, "-6", "-o", "addr", "show", "dev", hif, "scope", "link",
            ])
            .unwrap_or_default();
            let found = out
                .lines()
                .filter(|l| !l.contains("tentative"))
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    w.find(|x| *x == "inet6")?;
                    w.next()?.split('/').next()?.parse::<Ipv6Addr>().ok()
                })
                .find(|a| a.is_unicast_link_local());
            if found.is_some() {
                return found;
            }
            if Instant::now() > deadline {
                panic!("no link-local address on {} of {}: {out}", hif, h.spec.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `/etc/netns/<ns>/hosts` (every host's names) and `resolv.conf` (a
    /// nameserver on the host's own loopback, so no lookup leaves it).
    fn write_hosts_files(&self) {
        let mut hosts =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for h in &self.hosts {
            if let Some(a) = h.addr6 {
                hosts += &format!("{a}\t{}\n", h.spec.name);
            }
            if let Some(a) = h.addr4 {
                hosts += &format!("{a}\t{}\n", h.spec.name);
            }
        }
        for h in &self.hosts {
            let d = Path::new("/etc/netns").join(&h.ns);
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
            fs::write(d.join("hosts"), &hosts).unwrap();
            fs::write(
                d.join("resolv.conf"),
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            )
            .unwrap();
        }
    }

    /// Starts host `i`'s holder: `ip netns exec` (network namespace and the
    /// /etc/netns files), then `unshare` of a UTS and a private mount
    /// namespace in which it sets the hostname and bind-mounts the host's
    /// tmp directory over /tmp, then sleeps until killed.
    fn start_holder(&mut self, i: usize) {
        let h = &self.hosts[i];
        // The project's directories stay visible when they lie under /tmp
        // (a checkout there, as CI may make): each is bind-mounted into the
        // host's tmp at the same place before that replaces /tmp.
        let script = "echo \"$1\" > /proc/sys/kernel/hostname && t=\"$2\" && shift 2 \
                      && for p in \"$@\"; do r=\"${p#/tmp}\"; mkdir -p \"$t$r\" \
                      && mount --bind \"$p\" \"$t$r\" || exit 1; done \
                      && mount --rbind \"$t\" /tmp && echo ready && exec sleep infinity";
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &h.ns,
                "unshare",
                "--uts",
                "--mount",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", script, "holder"])
            .arg(&h.spec.name)
            .arg(h.tmp())
            .args(kept_under_tmp())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
        let pid = child.id();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        // Bounded: the script either prints "ready" or exits (EOF).
        let _ = BufReader::new(stdout).read_line(&mut line);
        let ok = line.trim() == "ready";
        self.children.lock().unwrap().push(child);
        if !ok {
            let mut children = self.children.lock().unwrap();
            let c = children.last_mut().unwrap();
            let _ = c.kill();
            let out = c.stderr.take().map(|mut e| {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
                s
            });
            panic!(
                "holder of {} did not start: {}",
                h.spec.name,
                out.unwrap_or_default()
            );
        }
        self.hosts[i].holder = pid;
    }

    /// Keys (one user key, one host key per host), authorized_keys,
    /// known_hosts with every host's key, per-host sshd_config, the client
    /// config and the `PVM_RSH` wrapper. Also /run/sshd (sshd's privilege
    /// separation directory) when missing.
    fn make_ssh_files(&self) {
        let d = &self.dir;
        fs::create_dir_all("/run/sshd").unwrap();
        fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755)).unwrap();
        keygen(&d.join("id_ed25519"), "pvm6-test-user");
        fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let mut known = String::new();
        for h in &self.hosts {
            let key = h.dir.join("ssh_host_ed25519_key");
            keygen(&key, &h.spec.name);
            let pubkey = fs::read_to_string(key.with_extension("pub")).unwrap();
            let pubkey: Vec<&str> = pubkey.split_whitespace().take(2).collect();
            let mut names = vec![h.spec.name.clone()];
            names.extend(h.addr6.map(|a| a.to_string()));
            names.extend(h.addr4.map(|a| a.to_string()));
            // Its link-local address as each host names it (the zone is
            // the client's own link).
            for n in self.hosts.iter().filter_map(|from| h.link_local_from(from)) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            known += &format!("{} {}\n", names.join(","), pubkey.join(" "));

            let mut listen = String::from("ListenAddress 127.0.0.1\nListenAddress ::1\n");
            if let Some(a) = h.addr6 {
                listen += &format!("ListenAddress {a}\n");
            }
            if let Some(a) = h.addr4 {
                listen += &format!("ListenAddress {a}\n");
            }
            if let Some(a) = h.link_local() {
                listen += &format!("ListenAddress {a}\n");
            }
            let cfg = format!(
                "# sshd of test host {name}\n\
                 Port 22\n\
                 {listen}\
                 HostKey {key}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {auth}\n\
                 PermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 UseDNS no\n\
                 X11Forwarding no\n\
                 AllowTcpForwarding no\n\
                 PrintMotd no\n\
                 PrintLastLog no\n\
                 MaxStartups 200\n\
                 MaxSessions 200\n\
                 LogLevel VERBOSE\n\
                 AcceptEnv PVM_* PVM6_* RUST_LOG\n\
                 SetEnv PVM_RSH={rsh}\n",
                name = h.spec.name,
                key = key.display(),
                pid = h.dir.join("sshd.pid").display(),
                auth = d.join("authorized_keys").display(),
                rsh = self.ssh_command().display(),
            );
            fs::write(h.dir.join("sshd_config"), cfg).unwrap();
        }
        fs::write(d.join("known_hosts"), known).unwrap();
        let client = format!(
            "# ssh client config of test cluster {tag}\n\
             Host localhost 127.0.0.1 ::1\n\
             \x20 StrictHostKeyChecking no\n\
             \x20 UserKnownHostsFile /dev/null\n\
             Host *\n\
             \x20 User root\n\
             \x20 Port 22\n\
             \x20 IdentityFile {id}\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile {known}\n\
             \x20 GlobalKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 CheckHostIP no\n\
             \x20 BatchMode yes\n\
             \x20 ConnectTimeout 5\n\
             \x20 ConnectionAttempts 1\n\
             \x20 ServerAliveInterval 5\n\
             \x20 ServerAliveCountMax 2\n\
             \x20 LogLevel ERROR\n",
            tag = self.tag,
            id = d.join("id_ed25519").display(),
            known = d.join("known_hosts").display(),
        );
        fs::write(self.ssh_config(), client).unwrap();
        let rsh = self.ssh_command();
        fs::write(
            &rsh,
            format!(
                "#!/bin/sh\nexec ssh -F '{}' \"$@\"\n",
                self.ssh_config().display()
            ),
        )
        .unwrap();
        fs::set_permissions(&rsh, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Starts host `i`'s sshd in the foreground (`-D`), as a child of this
    /// process, inside the host's namespaces; log in `<host dir>/sshd.log`.
    fn spawn_sshd(&self, i: usize) {
        let h = &self.hosts[i];
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.dir.join("sshd.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg("-t")
            .arg(h.holder.to_string())
            .args(["-n", "-u", "-m", "--", "/usr/sbin/sshd", "-D", "-e", "-f"])
            .arg(h.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"));
        self.sshd_pids.lock().unwrap()[i] = Some(child.id());
        self.children.lock().unwrap().push(child);
    }

    /// Waits (bounded) until host `i`'s sshd wrote its pid file, which it
    /// does once it listens.
    fn wait_sshd(&self, i: usize) {
        let h = &self.hosts[i];
        let pidfile = h.dir.join("sshd.pid");
        let deadline = Instant::now() + SSHD_START;
        let pid = self.sshd_pids.lock().unwrap()[i];
        loop {
            if fs::metadata(&pidfile).map(|m| m.len() > 0).unwrap_or(false) {
                return;
            }
            let dead = pid.is_none_or(|p| !Path::new(&format!("/proc/{p}/exe")).exists());
            if dead || Instant::now() > deadline {
                let log = fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default();
                panic!("sshd of {} did not start; its log:\n{log}", h.spec.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The script that removes everything; run by `drop`, and by the
    /// watchdog when this process dies without dropping the cluster.
    fn write_cleanup_script(&self, namespaces: &[String]) {
        let list = namespaces.join(" ");
        let script = format!(
            "#!/bin/sh\n\
             # Removes test cluster {tag}: kills every process in its namespaces\n\
             # (bounded retries), deletes the namespaces (their veths and bridge\n\
             # go with them), their /etc/netns entries and the cluster directory.\n\
             NSS='{list}'\n\
             # Never touch the namespace this script runs in, whatever its name.\n\
             own=$(stat -L -c %d:%i /proc/self/ns/net) || exit 1\n\
             KILL=\n\
             for ns in $NSS; do\n\
             \x20 id=$(stat -L -c %d:%i \"/run/netns/$ns\" 2>/dev/null)\n\
             \x20 [ \"$id\" = \"$own\" ] || KILL=\"$KILL $ns\"\n\
             done\n\
             i=0\n\
             while [ $i -lt 50 ]; do\n\
             \x20 left=\n\
             \x20 for ns in $KILL; do\n\
             \x20   p=$(ip netns pids \"$ns\" 2>/dev/null)\n\
             \x20   if [ -n \"$p\" ]; then left=1; kill -9 $p 2>/dev/null; fi\n\
             \x20 done\n\
             \x20 [ -z \"$left\" ] && break\n\
             \x20 i=$((i+1)); sleep 0.1\n\
             done\n\
             for ns in $NSS; do\n\
             \x20 ip netns del \"$ns\" 2>/dev/null\n\
             \x20 rm -rf \"/etc/netns/$ns\"\n\
             done\n\
             rm -rf '{dir}'\n",
            tag = self.tag,
            dir = self.dir.display(),
        );
        // Kept outside the cluster directory, which it removes.
        fs::write(self.cleanup_script(), script).unwrap();
    }

    fn cleanup_script(&self) -> PathBuf {
        self.dir.with_file_name(format!("{}.cleanup.sh", self.tag))
    }

    /// A shell in the root namespace that ignores terminal signals and
    /// reads its stdin: "done" from `drop` ends it; EOF (this process died
    /// without dropping) makes it run the cleanup script.
    fn start_watchdog(&mut self) {
        let script = self.cleanup_script();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(
                "trap '' INT HUP TERM QUIT PIPE; read -r line; \
                 if [ \"$line\" != done ]; then sh \"$1\"; fi; rm -f \"$1\"",
            )
            .arg("watchdog")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        let stdin = child.stdin.take().unwrap();
        self.watchdog = Some((child, stdin));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = self.cleanup_script();
        let ran = Command::new("sh")
            .arg(&script)
            .stdin(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            // If the script could not run, let the watchdog try again.
            let _ = writeln!(stdin, "{}", if ran { "done" } else { "retry" });
            drop(stdin);
            let _ = child.wait();
        }
        let _ = fs::remove_file(&script);
    }
}

/// The project's directories that lie under /tmp (the checkout and cargo's
/// target tmp dir), outermost first, which hosts must still see.
fn kept_under_tmp() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    for p in [env!("CARGO_MANIFEST_DIR"), env!("CARGO_TARGET_TMPDIR")] {
        let p = Path::new(p);
        if p.starts_with("/tmp") && p != Path::new("/tmp") && !v.iter().any(|k| p.starts_with(k)) {
            v.push(p.to_path_buf());
        }
    }
    v
}

/// Root directory of cluster directories: cargo's per-target tmp dir unless
/// it lies under /tmp (which every host replaces), else /var/tmp.
fn base_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Paths go into sshd/ssh configs and a shell script, unquoted or in
    // single quotes: keep them plain.
    let plain = target.to_str().is_some_and(|s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    });
    let base = if target.starts_with("/tmp") || !plain {
        Path::new("/var/tmp")
    } else {
        target
    };
    base.join("pvm6-netns")
}

fn check_names(prefix: &str, specs: &[HostSpec]) {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 24
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    assert!(
        ok(prefix),
        "bad cluster prefix {prefix:?} (a-z, 0-9, '-', at most 24)"
    );
    assert!(
        !specs.is_empty() && specs.len() <= 200,
        "1 to 200 hosts, not {}",
        specs.len()
    );
    for (i, s) in specs.iter().enumerate() {
        assert!(
            ok(&s.name),
            "bad host name {:?} (a-z, 0-9, '-', at most 24)",
            s.name
        );
        assert!(s.v6 || s.v4, "host {} has no address family", s.name);
        assert!(
            specs[..i].iter().all(|o| o.name != s.name),
            "host name {} given twice",
            s.name
        );
    }
}

/// Whether this machine can host a cluster: root, and the tools ip (with
/// netns), nsenter, unshare, mount, timeout, kill, sshd, ssh, ssh-keygen.
pub fn prerequisites() -> Result<(), Skip> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(Skip(format!(
            "it needs root to create network namespaces (effective uid is {euid})"
        )));
    }
    for tool in [
        "ip",
        "nsenter",
        "unshare",
        "mount",
        "timeout",
        "ssh",
        "ssh-keygen",
        "kill",
        "sh",
    ] {
        if find_program(tool).is_none() {
            return Err(Skip(format!("`{tool}` is not installed")));
        }
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        return Err(Skip(
            "/usr/sbin/sshd (openssh-server) is not installed".into(),
        ));
    }
    if let Err(e) = ip(&["netns", "list"]) {
        return Err(Skip(format!("`ip netns` is not available: {e}")));
    }
    Ok(())
}

/// Where `name` is: the first match in PATH, /usr/sbin, /usr/bin, /sbin, /bin.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// Removes what runs of this harness left behind when they were killed
/// (their pid no longer exists): namespaces, /etc/netns entries, directories.
/// Bounded by `STALE_MAX` entries.
fn stale_cleanup() {
    let dead = |name: &str| -> bool {
        let mut parts = name.split('.');
        if parts.next() != Some(TAG) {
            return false;
        }
        match parts.next().and_then(|p| p.parse::<u32>().ok()) {
            Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        }
    };
    let listed = ip(&["netns", "list"]).unwrap_or_default();
    let stale: Vec<String> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| dead(n))
        .take(STALE_MAX)
        .map(String::from)
        .collect();
    for ns in &stale {
        if is_own_netns(ns) {
            // Someone named this process's own namespace like ours: never
            // kill its processes, just drop the name.
            let _ = ip(&["netns", "del", ns]);
            continue;
        }
        for _ in 0..20 {
            let pids = ip(&["netns", "pids", ns]).unwrap_or_default();
            if pids.trim().is_empty() {
                break;
            }
            let _ = Command::new("kill")
                .arg("-9")
                .args(pids.split_whitespace())
                .stderr(Stdio::null())
                .status();
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = ip(&["netns", "del", ns]);
    }
    for dir in [Path::new("/etc/netns").to_path_buf(), base_dir()] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.take(STALE_MAX).flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = fs::remove_dir_all(e.path());
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Whether the named namespace is the one this process runs in.
fn is_own_netns(ns: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let own = id(Path::new("/proc/self/ns/net"));
    own.is_none() || id(&Path::new("/run/netns").join(ns)) == own
}

/// An fd00::/8 /64 prefix that differs between runs and clusters.
fn ula_prefix(seq: usize) -> Ipv6Addr {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut x = (nanos as u64) ^ ((std::process::id() as u64) << 20) ^ ((seq as u64) << 52);
    // splitmix64 finaliser, to spread the bits.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    Ipv6Addr::new(
        0xfd00 | (x & 0xff) as u16,
        (x >> 8) as u16,
        (x >> 24) as u16,
        0,
        0,
        0,
        0,
        0,
    )
}

/// Runs `ip args`; its stdout, or an error with its stderr.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must_ip(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// Sets a sysctl inside namespace `ns` (through /proc/sys as seen there).
fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            "echo \"$1\" > \"$2\"",
            "sysctl",
            value,
            &path,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "setting {key} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// An ed25519 key pair without passphrase at `path` and `path.pub`.
fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen: {e}"));
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
