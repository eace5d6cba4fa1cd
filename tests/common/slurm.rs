//! A real Slurm (Debian 12's slurmctld, slurmd, slurm-client and munge,
//! Slurm 22.05) on the network-namespace hosts of netns.rs, started and
//! stopped by the test itself.
//!
//! [`SlurmCluster::new`] makes hosts `node1`..`nodeN` (IPv6 and IPv4: Slurm
//! 22.05 resolves node names over IPv4 only, pvm6 prefers IPv6), then
//! starts, all inside those hosts and all in the foreground as the test's
//! children:
//! - a munged of the test's own (own key, own socket; in node1, reached by
//!   path from every host since a path socket belongs to no network
//!   namespace): the machine's munged, if any, is neither used nor touched;
//! - `slurmctld -i` in node1 and `slurmd` in every host, all reading the
//!   test's slurm.conf (and cgroup.conf beside it) through `SLURM_CONF`;
//!
//! and waits (bounded) until `sinfo` shows every node idle. Commands run
//! through [`SlurmCluster::exec`] get `SLURM_CONF` and none of the test
//! process's own `SLURM_*` variables (a test run inside a real job must not
//! talk to that job's Slurm).
//!
//! State, spool, pid and log files live under the cluster's directory, per
//! node where Slurm keeps them per node (`%n`): every host sees the
//! directory, while each host's /tmp is private. Slurm puts Unix sockets in
//! the spool directories and munge's socket is one too, so the directory is
//! reached through a short symlink `/run/pvm6s.<pid>.<seq>` (a socket path
//! holds at most 107 bytes).
//!
//! Dropping the cluster stops the daemons (SIGTERM, then SIGKILL after 5 s)
//! and then the hosts, whose removal kills whatever is left in them
//! (slurmstepd included), also after a panic; if the test process is killed,
//! netns.rs's watchdog does the same and the next run removes the stale
//! symlink.
//!
//! ```ignore
//! let Some(s) = slurm::require("mytest", 3) else { return }; // SKIP, or panic under CI=true
//! let out = s.exec_ok("node1", "srun -N3 hostname");
//! ```

#![allow(dead_code)]

use crate::netns::{self, Cluster, HostSpec, Skip};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every Slurm command run through [`SlurmCluster::exec`] is killed after this.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// munged's socket must appear within this.
const MUNGE_START: Duration = Duration::from_secs(10);
/// slurmctld must answer `scontrol ping` within this.
const CTLD_START: Duration = Duration::from_secs(30);
/// Every node must be idle within this.
const NODES_IDLE: Duration = Duration::from_secs(60);
/// A daemon gets this long to go after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// CPUs each node is configured with.
pub const CPUS_PER_NODE: u32 = 2;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The programs the harness runs, with the Debian package holding each.
const PROGRAMS: [(&str, &str); 7] = [
    ("munged", "munge"),
    ("slurmctld", "slurmctld"),
    ("slurmd", "slurmd"),
    ("scontrol", "slurm-client"),
    ("sinfo", "slurm-client"),
    ("srun", "slurm-client"),
    ("salloc", "slurm-client"),
];

/// One daemon the harness started.
struct Daemon {
    what: String,
    child: Child,
}

/// A running Slurm on namespace hosts `node1`..`nodeN`.
pub struct SlurmCluster {
    /// The daemons, stopped first on drop.
    daemons: Mutex<Vec<Daemon>>,
    /// `/run/pvm6s.<pid>.<seq>`, the short name of `dir`.
    link: PathBuf,
    /// `<cluster dir>/slurm`: configs, state, spool, logs, munge.
    dir: PathBuf,
    nodes: Vec<String>,
    bringup: Duration,
    /// Declared last: dropped (hosts removed) after the daemons are stopped.
    net: Cluster,
}

/// A cluster of `nodes` Slurm nodes, or `None` after a loud SKIP line when
/// the machine lacks the packages or the means for namespace hosts; under
/// `CI=true` that panics instead.
pub fn require(prefix: &str, nodes: usize) -> Option<SlurmCluster> {
    match SlurmCluster::new(prefix, nodes) {
        Ok(s) => Some(s),
        Err(skip) => {
            netns::report_skip(&format!("Slurm test `{prefix}`"), &skip);
            None
        }
    }
}

/// `Err(Skip)` naming the missing package(s) when a program is not installed.
pub fn prerequisites() -> Result<(), Skip> {
    let mut missing: Vec<&str> = Vec::new();
    for (program, package) in PROGRAMS {
        if find_program(program).is_none() && !missing.contains(&package) {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Skip(format!(
            "Slurm is not installed (apt-get install {})",
            missing.join(" ")
        )))
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.is_file())
}

impl SlurmCluster {
    /// Makes the hosts and brings Slurm up on them (see the module
    /// documentation). `Err(Skip)` when something is not installed; panics,
    /// after removing what it started, when Slurm does not come up.
    pub fn new(prefix: &str, nodes: usize) -> Result<SlurmCluster, Skip> {
        Self::with_family(prefix, nodes, false)
    }

    /// As [`new`](Self::new) but the hosts have IPv6 only, and slurm.conf
    /// says `CommunicationParameters=EnableIPv6`.
    pub fn new_ipv6_only(prefix: &str, nodes: usize) -> Result<SlurmCluster, Skip> {
        Self::with_family(prefix, nodes, true)
    }

    fn with_family(prefix: &str, nodes: usize, v6_only: bool) -> Result<SlurmCluster, Skip> {
        assert!((1..=64).contains(&nodes), "1 to 64 nodes");
        prerequisites()?;
        let names: Vec<String> = (1..=nodes).map(|i| format!("node{i}")).collect();
        let specs: Vec<HostSpec> = names
            .iter()
            .map(|n| {
                if v6_only {
                    HostSpec::v6(n)
                } else {
                    HostSpec::dual(n)
                }
            })
            .collect();
        let net = Cluster::new(prefix, &specs)?;

        let started = Instant::now();
        remove_stale_links();
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = net.dir().join("slurm");
        let link = PathBuf::from(format!("/run/pvm6s.{}.{seq}", std::process::id()));
        let _ = fs::remove_file(&link);
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&dir, &link)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", link.display()));
        let mut s = SlurmCluster {
            daemons: Mutex::new(Vec::new()),
            link,
            dir,
            nodes: names,
            bringup: Duration::ZERO,
            net,
        };
        // From here on a panic drops `s`, which stops and removes everything.
        s.write_files(v6_only);
        s.start_munged();
        s.start_slurmctld();
        for n in s.nodes.clone() {
            let d = s.l(&n);
            s.start_daemon(
                &n,
                &format!("slurmd {n}"),
                &format!("exec slurmd -D -N {n} >{d}/slurmd.out 2>&1"),
            );
        }
        s.wait_nodes_idle();
        s.bringup = started.elapsed();
        Ok(s)
    }

    /// The namespace hosts.
    pub fn net(&self) -> &Cluster {
        &self.net
    }

    /// `node1`..`nodeN`.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Time from the hosts being ready to every node idle.
    pub fn bringup_time(&self) -> Duration {
        self.bringup
    }

    /// The slurm.conf every daemon and client uses (short path).
    pub fn conf(&self) -> PathBuf {
        self.link.join("slurm.conf")
    }

    /// The harness's directory for Slurm (real path).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `sub` under the short path, as a string for configs and scripts.
    fn l(&self, sub: &str) -> String {
        self.link.join(sub).display().to_string()
    }

    /// A command running `program` in `host` with `SLURM_CONF` set and no
    /// other `SLURM_*` variable of this process. Unbounded.
    pub fn command(&self, host: &str, program: &str) -> Command {
        let mut cmd = self.net.command(host, program);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SLURM_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SLURM_CONF", self.conf());
        cmd
    }

    /// Runs `sh -c script` in `host` (Slurm's environment as for
    /// [`command`](Self::command)), killed after 60 s.
    pub fn exec(&self, host: &str, script: &str) -> Output {
        self.exec_timeout(host, script, EXEC_TIMEOUT)
    }

    /// As [`exec`](Self::exec), killed after `limit` (status 124 or 137).
    pub fn exec_timeout(&self, host: &str, script: &str, limit: Duration) -> Output {
        let secs = format!("{:.3}", limit.as_secs_f64());
        self.command(host, "timeout")
            .args(["-k", "2", &secs, "sh", "-c", script])
            .output()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"))
    }

    /// Like [`exec`](Self::exec) but panics (with its output and the Slurm
    /// logs) unless it exits 0; returns its stdout.
    pub fn exec_ok(&self, host: &str, script: &str) -> String {
        let out = self.exec(host, script);
        if !out.status.success() {
            panic!(
                "on {host}: `{script}` failed ({}):\nstdout: {}\nstderr: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The tails of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut files = vec![
            ("munged".to_string(), self.dir.join("munged.out")),
            ("slurmctld".to_string(), self.dir.join("ctld/slurmctld.log")),
            (
                "slurmctld stderr".to_string(),
                self.dir.join("ctld/slurmctld.out"),
            ),
        ];
        for n in &self.nodes {
            files.push((format!("slurmd {n}"), self.dir.join(n).join("slurmd.log")));
            files.push((
                format!("slurmd {n} stderr"),
                self.dir.join(n).join("slurmd.out"),
            ));
        }
        let mut text = String::new();
        for (what, path) in files {
            let body = fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            text += &format!("--- {what} ({}) ---\n{}\n", path.display(), tail.join("\n"));
        }
        text
    }

    /// Pids of the daemons the harness started that are still running.
    pub fn daemon_pids(&self) -> Vec<u32> {
        let mut daemons = self.daemons.lock().unwrap_or_else(|e| e.into_inner());
        daemons
            .iter_mut()
            .filter_map(|d| matches!(d.child.try_wait(), Ok(None)).then(|| d.child.id()))
            .collect()
    }

    /// Pids of every process in the cluster's hosts except the harness's
    /// namespace holders: daemons, slurmstepd, job steps.
    pub fn processes(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for n in &self.nodes {
            pids.extend(self.net.pids_in(n).into_iter().filter(|&p| !is_holder(p)));
        }
        pids
    }

    fn write_files(&self, v6_only: bool) {
        fs::create_dir_all(self.dir.join("ctld/state")).unwrap();
        for n in &self.nodes {
            fs::create_dir_all(self.dir.join(n).join("spool")).unwrap();
        }
        // munged wants a key of at least 32 bytes, readable by its user only,
        // in a directory others cannot write.
        let mut key = vec![0u8; 1024];
        {
            use std::io::Read;
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .expect("read /dev/urandom");
        }
        let munge = self.dir.join("munge");
        fs::create_dir_all(&munge).unwrap();
        set_mode(&munge, 0o700);
        fs::write(munge.join("munge.key"), &key).unwrap();
        set_mode(&munge.join("munge.key"), 0o600);

        let n = self.nodes.len();
        let conf = format!(
            "# slurm.conf of a pvm6 test (tests/common/slurm.rs)\n\
             ClusterName=pvm6test\n\
             SlurmctldHost=node1\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             AuthInfo=socket={sock}\n\
             CredType=cred/munge\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\n\
             MpiDefault=none\n\
             ReturnToService=2\n\
             SwitchType=switch/none\n\
             JobCompType=jobcomp/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             SlurmdParameters=config_overrides\n\
             {ipv6}\
             KillWait=2\n\
             InactiveLimit=0\n\
             StateSaveLocation={state}\n\
             SlurmctldPidFile={ctld}/slurmctld.pid\n\
             SlurmctldLogFile={ctld}/slurmctld.log\n\
             SlurmdSpoolDir={base}/%n/spool\n\
             SlurmdPidFile={base}/%n/slurmd.pid\n\
             SlurmdLogFile={base}/%n/slurmd.log\n\
             PlugStackConfig={base}/plugstack.conf\n\
             NodeName=node[1-{n}] CPUs={CPUS_PER_NODE} State=UNKNOWN\n\
             PartitionName=debug Nodes=node[1-{n}] Default=YES MaxTime=INFINITE State=UP\n",
            sock = self.l("munge/munge.sock"),
            state = self.l("ctld/state"),
            ctld = self.l("ctld"),
            base = self.link.display(),
            ipv6 = if v6_only {
                "CommunicationParameters=EnableIPv6\n"
            } else {
                ""
            },
        );
        fs::write(self.dir.join("slurm.conf"), conf).unwrap();
        // Beside slurm.conf, where Slurm looks for it. slurmd will not start
        // without a cgroup plugin (even with proctrack/linuxproc and
        // task/none), and its autodetection fails where cgroups are mounted
        // in hybrid mode (v1 controllers beside an unused v2 hierarchy):
        // name the plugin after what /sys/fs/cgroup is.
        fs::write(
            self.dir.join("cgroup.conf"),
            format!("CgroupPlugin={}\n", cgroup_plugin()),
        )
        .unwrap();
        fs::write(self.dir.join("plugstack.conf"), "").unwrap();
    }

    /// Starts `sh -c script` in `host` and records it as a daemon to stop.
    fn start_daemon(&self, host: &str, what: &str, script: &str) {
        let child = self
            .command(host, "sh")
            .args(["-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        self.daemons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Daemon {
                what: what.to_string(),
                child,
            });
    }

    fn start_munged(&self) {
        let m = self.l("munge");
        self.start_daemon(
            &self.nodes[0],
            "munged",
            &format!(
                "exec munged -F --force --socket={m}/munge.sock --key-file={m}/munge.key \
                 --pid-file={m}/munged.pid --seed-file={m}/munged.seed \
                 --log-file={m}/munged.log >{d}/munged.out 2>&1",
                d = self.link.display()
            ),
        );
        let sock = self.link.join("munge/munge.sock");
        self.wait_for("munged's socket", MUNGE_START, || {
            sock.exists()
                && Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "echo x | timeout 5 munge -S {0} | timeout 5 unmunge -S {0}",
                        sock.display()
                    ))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        });
    }

    fn start_slurmctld(&self) {
        let c = self.l("ctld");
        self.start_daemon(
            &self.nodes[0],
            "slurmctld",
            &format!("exec slurmctld -D -i >{c}/slurmctld.out 2>&1"),
        );
        self.wait_for("slurmctld to answer `scontrol ping`", CTLD_START, || {
            let out = self.exec_timeout(&self.nodes[0], "scontrol ping", Duration::from_secs(10));
            String::from_utf8_lossy(&out.stdout).contains("is UP")
        });
    }

    fn wait_nodes_idle(&self) {
        let want = self.nodes.len();
        self.wait_for("every node idle in sinfo", NODES_IDLE, || {
            let out = self.exec_timeout(
                &self.nodes[0],
                "sinfo -h -N -o '%N %t'",
                Duration::from_secs(10),
            );
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines().filter(|l| l.ends_with(" idle")).count() == want
        });
    }

    /// Polls `ready` every 100 ms for at most `limit`, checking meanwhile
    /// that no daemon has exited; panics with the logs on failure.
    fn wait_for(&self, what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if ready() {
                return;
            }
            {
                let mut daemons = self.daemons.lock().unwrap_or_else(|e| e.into_inner());
                for d in daemons.iter_mut() {
                    if let Ok(Some(status)) = d.child.try_wait() {
                        drop(daemons);
                        panic!(
                            "waiting for {what}: {} exited ({status})\n{}",
                            self.daemon_name_exited(),
                            self.logs()
                        );
                    }
                }
            }
            if start.elapsed() > limit {
                panic!("{what}: not within {limit:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn daemon_name_exited(&self) -> String {
        let mut daemons = self.daemons.lock().unwrap_or_else(|e| e.into_inner());
        daemons
            .iter_mut()
            .filter_map(|d| (!matches!(d.child.try_wait(), Ok(None))).then(|| d.what.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Stops every daemon: SIGTERM to all, up to 5 s, SIGKILL to what is
    /// left. Idempotent.
    pub fn stop(&self) {
        let mut daemons = self.daemons.lock().unwrap_or_else(|e| e.into_inner());
        // slurmds and slurmctld first, munged (started first) last.
        daemons.reverse();
        for d in daemons.iter_mut() {
            if matches!(d.child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-s", "TERM", &d.child.id().to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for d in daemons.iter_mut() {
            loop {
                match d.child.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        let _ = d.child.kill();
                        let _ = d.child.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        daemons.clear();
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_file(&self.link);
        // `net` drops next: the hosts go, with anything still in them.
    }
}

/// True if `pid` looks like a netns.rs namespace holder (`sleep infinity`).
fn is_holder(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == "sleep infinity")
        .unwrap_or(false)
}

/// `cgroup/v2` when /sys/fs/cgroup is the unified (v2) hierarchy itself,
/// else `cgroup/v1` (legacy or hybrid mounts: a tmpfs of v1 controllers).
fn cgroup_plugin() -> &'static str {
    let unified = Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/cgroup"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "cgroup2fs")
        .unwrap_or(false);
    if unified {
        "cgroup/v2"
    } else {
        "cgroup/v1"
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Removes `/run/pvm6s.<pid>.<seq>` links whose test process is gone.
fn remove_stale_links() {
    let Ok(entries) = fs::read_dir("/run") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("pvm6s.") else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}
