//! The two-host part of `make bench` (benches/netpipe/run.sh; a `cargo bench
//! --bench twohost` target without the test harness, never run by `cargo
//! test`). On namespace hosts of the test harness (tests/common/netns.rs:
//! veth links to one bridge, a real sshd per host) it measures in one run:
//!
//! - raw TCP between two hosts: Debian's `NPtcp` (IPv4: NetPIPE resolves
//!   with gethostbyname), receiver on node2, transmitter on node1;
//! - pvm6 between two hosts: pvmbench (benches/netpipe/pvmbench.c) for both
//!   routes x the four packings, node1 to a peer spawned on node2, with
//!   pvm6's pvmd3 over IPv6; and Debian's `NPpvm` binary on pvm6's library;
//! - PVM 3.4.6 between the same two hosts (its `pvmd`, IPv4, started over
//!   ssh), with pvmbench built against its library and with `NPpvm`;
//! - adding 16 hosts with one `pvm_addhosts` call, on pvm6 and on 3.4.6:
//!   seconds until `pvm_config` shows them all;
//! - pvm6 at each protection level of its links between hosts (src/seal.rs:
//!   `none`, `integrity`, `encrypted`, set by the hostfile's `* protect=`):
//!   pvmbench direct/inplace and daemon/default (feeds) up to
//!   1 MiB, each level right after an NPtcp run of its own
//!   (`twohost-levels.csv`, `twohost-nptcp-LEVEL.csv`). The main
//!   pvm6 run above uses the default level (encrypted).
//!
//! Owns its CSV files in the output directory (first argument, default
//! `target/bench`): `twohost-pvm6.csv`, `twohost-orig.csv` (pvmbench lines),
//! `twohost-nptcp.csv`, `twohost-nppvm-{pvm6,orig}.csv` (`bytes,Mbps,usec`),
//! `addhosts.csv` and `twohost-summary.csv` (the ratios); prints the
//! table. Environment: `MAX` (largest message, default 4194304), `ADDHOSTS`
//! (hosts added at once, default 16); for a quick look while working,
//! `ONLY` (say `tcp,direct/psend,daemon/default`: just those pvmbench runs,
//! NPtcp only when `tcp` is there, no NPpvm), `ORIG=0` (PVM 3.4.6 not measured)
//! and `LEVELS` (the protection levels measured, comma-separated; default
//! `none,integrity,encrypted`; empty: none). When the machine cannot make
//! namespace hosts (not root, no sshd, ...) it says so and exits 0; every
//! namespace and daemon goes when it ends (the harness's drop, or its
//! watchdog when this process is killed).

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/machine.rs"]
mod machine;
#[path = "../../tests/common/netns.rs"]
mod netns;
#[path = "../common/orig.rs"]
mod orig;

use machine::Machine;
use netns::HostSpec;
use orig::{wait_bounded, OrigMaster, ORIG_PVMD};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bound of one pvmbench or NetPIPE run (1 B .. MAX).
const RUN_LIMIT: Duration = Duration::from_secs(900);
/// Bound of one pvm_addhosts run.
const ADD_LIMIT: Duration = Duration::from_secs(180);
/// PVM 3.4.6's daemon as Debian installs it.
const ROUTES: [&str; 2] = ["daemon", "direct"];
const PACKINGS: [&str; 4] = ["default", "raw", "inplace", "psend"];
const MIB: u64 = 1 << 20;
/// What each protection level is measured with: (route, packing).
const LEVEL_RUNS: [(&str, &str); 2] = [("direct", "inplace"), ("daemon", "default")];

/// One pvmbench line: `route,packing,bytes,usec,pingpong_MBps,stream_MBps`.
#[derive(Clone, Debug)]
struct Point {
    route: String,
    packing: String,
    bytes: u64,
    usec: f64,
    /// Ping-pong bandwidth, Gbps.
    gbps: f64,
}

/// A NetPIPE curve: (bytes, Gbps, one-way usec).
type Curve = Vec<(u64, f64, f64)>;

struct Bench {
    m: Machine,
    out: PathBuf,
    max: u64,
    /// Hosts added at once (node2 ..).
    add: usize,
    /// pvmbench built against pvm6 and (if installed) against PVM 3.4.6.
    pb6: PathBuf,
    pb_orig: Option<PathBuf>,
    /// tcprelay (benches/netpipe/tcprelay.c): the route's shapes over TCP
    /// with relays that do no work.
    relay: PathBuf,
    /// `LEVELS`: the protection levels measured.
    levels: Vec<String>,
    /// `ONLY`'s `route/packing` pairs; empty: all of them, and NPpvm.
    only: Vec<String>,
}

fn main() {
    // cargo bench appends `--bench`: the first other argument is the directory.
    let out = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target/bench"));
    let max: u64 = env_num("MAX", 4 * MIB);
    let add: usize = env_num("ADDHOSTS", 16).max(1);
    fs::create_dir_all(&out).unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));
    // Hosts get this process's environment: none of the one-host part's
    // private directories (they lie under the machine's /tmp, which each
    // host replaces with its own).
    for var in [
        "PVM_TMP",
        "PVM_ROOT",
        "PVM_VMID",
        "PVM_PATH",
        "PVM_EXPORT",
        "LD_LIBRARY_PATH",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("PVM_ALLOW_ROOT", "1");
    if let Err(why) = netns::prerequisites() {
        println!("SKIP two-host benchmark: {why}");
        return;
    }
    let specs: Vec<HostSpec> = (1..=add + 1)
        .map(|i| HostSpec::dual(format!("node{i}")))
        .collect();
    let t0 = Instant::now();
    let Some(m) = Machine::new("bench2h", &specs, &[]) else {
        println!("SKIP two-host benchmark: the namespace hosts could not be made (see above)");
        return;
    };
    eprintln!(
        "twohost: {} namespace hosts with sshd up in {:.1} s",
        specs.len(),
        t0.elapsed().as_secs_f64()
    );
    let pb6 = m.bin.join("pvmbench");
    compile(&pb6, true, &m.work.join("lib"));
    let relay = m.bin.join("tcprelay");
    let mut cc = Command::new("gcc");
    cc.args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&relay)
        .arg(common::repo_root().join("benches/netpipe/tcprelay.c"));
    common::run_build(cc, "compile tcprelay");
    let want_orig = std::env::var("ORIG").map_or(true, |v| v != "0");
    let pb_orig = (want_orig && Path::new(ORIG_PVMD).exists()).then(|| {
        let p = m.bin.join("pvmbench-orig");
        compile(&p, false, Path::new("/"));
        p
    });
    let b = Bench {
        m,
        out,
        max,
        add,
        pb6,
        pb_orig,
        relay,
        levels: std::env::var("LEVELS")
            .unwrap_or_else(|_| "none,integrity,encrypted".into())
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        only: std::env::var("ONLY")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    };
    b.run();
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn have(program: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(program).is_file())
}

/// Builds pvmbench.c into `exe`: against pvm6 (its header, `lib` with rpath)
/// or against the system's PVM 3.4.6 (/usr/include/pvm3.h, libpvm3.so).
fn compile(exe: &Path, pvm6: bool, lib: &Path) {
    let mut cmd = Command::new("gcc");
    cmd.args(["-O2", "-Wall", "-Wextra", "-Werror"]);
    if pvm6 {
        cmd.arg("-I").arg(common::include_dir());
    }
    cmd.arg("-o")
        .arg(exe)
        .arg(common::repo_root().join("benches/netpipe/pvmbench.c"));
    if pvm6 {
        cmd.arg("-L")
            .arg(lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cmd.arg("-lpvm3");
    common::run_build(cmd, &format!("compile {}", exe.display()));
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits at most `limit` for `child`, then kills it.
/// NetPIPE's output file (`bytes Mbps seconds ...`, seconds one-way).
fn read_netpipe(file: &Path) -> Curve {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse::<f64>().ok()? / 1000.0,
                f.get(2)?.parse::<f64>().ok()? * 1e6,
            ))
        })
        .collect()
}

fn write_netpipe_csv(file: &Path, c: &Curve) {
    let mut s = String::from("bytes,Mbps,usec\n");
    for (b, g, u) in c {
        let _ = writeln!(s, "{b},{:.3},{u:.3}", g * 1000.0);
    }
    fs::write(file, s).unwrap();
}

fn parse_points(text: &str) -> Vec<Point> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() != 6 || !ROUTES.contains(&f[0]) {
                return None;
            }
            Some(Point {
                route: f[0].into(),
                packing: f[1].into(),
                bytes: f[2].parse().ok()?,
                usec: f[3].parse().ok()?,
                gbps: f[4].parse::<f64>().ok()? * 8.0 / 1000.0,
            })
        })
        .collect()
}

/// The curve of one route x packing as NetPIPE-like (bytes, Gbps, usec).
fn curve_of(points: &[Point], route: &str, packing: &str) -> Curve {
    points
        .iter()
        .filter(|p| p.route == route && p.packing == packing)
        .map(|p| (p.bytes, p.gbps, p.usec))
        .collect()
}

fn at(c: &Curve, bytes: u64) -> Option<(f64, f64)> {
    c.iter().find(|p| p.0 == bytes).map(|p| (p.1, p.2))
}

fn peak(c: &Curve) -> Option<f64> {
    c.iter().map(|p| p.1).reduce(f64::max)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn show(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.prec$}"))
}

/// One protection level's runs and the NPtcp run just before them.
struct LevelRun {
    level: String,
    points: Vec<Point>,
    tcp: Curve,
}

/// What one system (pvm6 or PVM 3.4.6) measured between the hosts.
#[derive(Default)]
struct Measured {
    points: Vec<Point>,
    nppvm: Curve,
    /// `addhosts,...` line of pvmbench.
    addhosts: Option<String>,
}

impl Bench {
    fn host_names(&self) -> Vec<String> {
        (2..=self.add + 1).map(|i| format!("node{i}")).collect()
    }

    fn run(&self) {
        let load0 = load_average();
        eprintln!("twohost: load average {load0}");
        let tcp = if self.only.is_empty() || self.only.iter().any(|o| o == "tcp") {
            self.raw_tcp(self.max, "twohost-nptcp.csv")
        } else {
            Curve::new()
        };
        let mut shapes = self.tcp_relay("before");
        let pvm6 = self.pvm6();
        let orig = match &self.pb_orig {
            Some(pb) => self.orig(pb),
            None => {
                eprintln!("twohost: {ORIG_PVMD} not installed or ORIG=0: PVM 3.4.6 not measured");
                Measured::default()
            }
        };
        let levels = self.levels();
        shapes.extend(self.tcp_relay("after"));
        self.save_shapes(&shapes);
        let load1 = load_average();
        self.report(&tcp, &pvm6, &orig, &shapes, &load0, &load1);
        self.report_levels(&tcp, &levels);
    }

    /// pvm6 at each protection level: a master on node1 with `* protect=`,
    /// node2 added, the [`LEVEL_RUNS`] up to 1 MiB (or MAX when smaller),
    /// each level right after an NPtcp run of its own: the level's ratios
    /// compare runs a minute apart, not the first and last of the bench
    /// (the two-host figures of a VM drift more than that over minutes).
    fn levels(&self) -> Vec<LevelRun> {
        let mut out = Vec::new();
        let max = self.max.min(MIB);
        for level in &self.levels {
            let tcp = self.raw_tcp(max, &format!("twohost-nptcp-{level}.csv"));
            let star = format!(
                "* ep={} dx={} protect={level}",
                self.m.bin.display(),
                machine::PVMD3
            );
            let hf = self.m.hostfile(&[&star, "node1"]);
            self.m.start_master("node1", Some(&hf));
            let pb = self.pb6.display();
            let add = self.on_node1(&format!("'{pb}' addhosts node2"), ADD_LIMIT);
            if !add.lines().any(|l| l.starts_with("addhosts,1,1,")) {
                eprintln!("twohost: level {level}: node2 not added: {add}");
            }
            let mut points = Vec::new();
            for (route, pk) in LEVEL_RUNS {
                eprintln!("twohost: level {level}: pvmbench {route} {pk} node1 -> node2 ...");
                let o = self.on_node1(&format!("'{pb}' {route} {pk} {max} node2"), RUN_LIMIT);
                points.extend(parse_points(&o));
            }
            self.m.c.exec_timeout(
                "node1",
                &format!("'{pb}' halt >/dev/null 2>&1"),
                Duration::from_secs(30),
            );
            if !self.m.wait_no_daemons(Duration::from_secs(10)).is_empty() {
                for h in self.m.c.hosts() {
                    self.m.c.kill_in(&h.spec.name, "pvmd3");
                }
            }
            out.push(LevelRun {
                level: level.clone(),
                points,
                tcp,
            });
        }
        let mut csv = String::from("level,route,packing,bytes,usec,pingpong_Gbps\n");
        for LevelRun { level, points, .. } in &out {
            for p in points {
                let _ = writeln!(
                    csv,
                    "{level},{},{},{},{:.3},{:.3}",
                    p.route, p.packing, p.bytes, p.usec, p.gbps
                );
            }
        }
        fs::write(self.out.join("twohost-levels.csv"), csv).unwrap();
        out
    }

    /// The protection levels next to raw TCP, and the goals for
    /// the default (encrypted): >= 0.7x TCP's bandwidth at 1 MiB and
    /// <= 1.2x its one-byte latency (direct route, best packing).
    fn report_levels(&self, tcp: &Curve, levels: &[LevelRun]) {
        if levels.is_empty() {
            return;
        }
        let mut t = String::new();
        let mut summary = String::from("metric,value,target\n");
        let _ = writeln!(
            t,
            "\n== protection levels of links between hosts (pvm6, same run; each level against the NPtcp run just before it)"
        );
        // On a busy machine the one-byte point alone is at the mercy of
        // the scheduler; the least one-way time of 1..16 B (the same cost
        // for every small size) is shown beside it.
        let small = |c: &Curve| c.iter().filter(|p| p.0 <= 16).map(|p| p.2).reduce(f64::min);
        let _ = writeln!(
            t,
            "{:<10} {:<7} {:<8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
            "level",
            "route",
            "packing",
            "lat1B us",
            "<=16B us",
            "1MiB Gbps",
            "lat/TCP",
            "<=16/TCP",
            "1MiB/TCP"
        );
        // The figures of NPtcp `c` (the bench's first run when the level
        // has none of its own): 1 B latency, least of 1-16 B, 1 MiB Gbps.
        let base = |c: &Curve| {
            let c = if c.is_empty() { tcp } else { c };
            (at(c, 1).map(|p| p.1), small(c), at(c, MIB).map(|p| p.0))
        };
        let mut goal_base = (None, None, None);
        for LevelRun {
            level,
            points,
            tcp: near,
        } in levels
        {
            let (tl, ts, t1) = base(near);
            if level == "encrypted" {
                goal_base = (tl, ts, t1);
            }
            let _ = writeln!(
                t,
                "{:<10} {:<7} {:<8} {:>9} {:>9} {:>9}",
                "NPtcp",
                "-",
                "-",
                show(tl, 1),
                show(ts, 1),
                show(t1, 2)
            );
            for (route, pk) in LEVEL_RUNS {
                let c = curve_of(points, route, pk);
                let l = at(&c, 1).map(|p| p.1);
                let sm = small(&c);
                let b1 = at(&c, MIB).map(|p| p.0);
                let _ = writeln!(
                    t,
                    "{level:<10} {route:<7} {pk:<8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
                    show(l, 1),
                    show(sm, 1),
                    show(b1, 2),
                    show(ratio(l, tl), 2),
                    show(ratio(sm, ts), 2),
                    show(ratio(b1, t1), 2)
                );
                let _ = writeln!(
                    summary,
                    "{level} {route}/{pk} latency 1-16 B (least) / TCP,{},-",
                    show(ratio(sm, ts), 3)
                );
                let _ = writeln!(
                    summary,
                    "{level} {route}/{pk} latency 1 B / TCP,{},-",
                    show(ratio(l, tl), 3)
                );
                let _ = writeln!(
                    summary,
                    "{level} {route}/{pk} bandwidth 1 MiB / TCP,{},-",
                    show(ratio(b1, t1), 3)
                );
            }
        }
        if let Some(LevelRun { points, .. }) = levels.iter().find(|r| r.level == "encrypted") {
            let (tl, ts, t1) = goal_base;
            let direct: Vec<Curve> = LEVEL_RUNS
                .iter()
                .filter(|(r, _)| *r == "direct")
                .map(|(r, pk)| curve_of(points, r, pk))
                .collect();
            let bw = direct
                .iter()
                .filter_map(|c| at(c, MIB).map(|p| p.0))
                .reduce(f64::max);
            let lat = direct
                .iter()
                .filter_map(|c| at(c, 1).map(|p| p.1))
                .reduce(f64::min);
            let lat_small = direct.iter().filter_map(small).reduce(f64::min);
            for (name, r, goal, ok) in [
                (
                    "encrypted bandwidth / TCP at 1 MiB",
                    ratio(bw, t1),
                    ">= 0.7",
                    ratio(bw, t1).is_some_and(|r| r >= 0.7),
                ),
                (
                    "encrypted latency / TCP at 1 B",
                    ratio(lat, tl),
                    "<= 1.2",
                    ratio(lat, tl).is_some_and(|r| r <= 1.2),
                ),
                (
                    "encrypted latency / TCP, least of 1-16 B",
                    ratio(lat_small, ts),
                    "<= 1.2",
                    ratio(lat_small, ts).is_some_and(|r| r <= 1.2),
                ),
            ] {
                let _ = writeln!(
                    t,
                    "{name:<44} {:>6}  (target {goal}; direct, best packing) {}",
                    show(r, 2),
                    if r.is_none() {
                        "not measured"
                    } else if ok {
                        "met"
                    } else {
                        "NOT met"
                    }
                );
                let _ = writeln!(summary, "{name},{},{goal}", show(r, 3));
            }
        }
        fs::write(self.out.join("twohost-levels-summary.csv"), summary).unwrap();
        print!("{t}");
    }

    /// tcprelay between node1 and node2 (IPv6): `(moment, shape, µs one
    /// way)` for the shapes direct, feeds and onelink.
    fn tcp_relay(&self, moment: &str) -> Vec<(String, String, f64)> {
        eprintln!("twohost: tcprelay node1 -> node2 ({moment}) ...");
        let (h1, h2) = (self.m.c.host("node1"), self.m.c.host("node2"));
        let (Some(a1), Some(a2)) = (h1.addr6, h2.addr6) else {
            return Vec::new();
        };
        let mut cmd = Command::new("timeout");
        cmd.arg("120")
            .arg(&self.relay)
            .arg(Path::new("/run/netns").join(&h1.ns))
            .arg(Path::new("/run/netns").join(&h2.ns))
            .arg(a2.to_string())
            .arg(a1.to_string())
            .arg("3");
        let o = match cmd.output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("twohost: cannot run tcprelay: {e}");
                return Vec::new();
            }
        };
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() || !err.trim().is_empty() {
            eprintln!("twohost: tcprelay: {}\n{err}", o.status);
        }
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (shape, us) = l.split_once(',')?;
                Some((moment.to_string(), shape.to_string(), us.parse().ok()?))
            })
            .collect()
    }

    fn save_shapes(&self, shapes: &[(String, String, f64)]) {
        let mut csv = String::from("moment,shape,usec\n");
        for (m, s, us) in shapes {
            let _ = writeln!(csv, "{m},{s},{us:.3}");
        }
        let f = self.out.join("twohost-relay.csv");
        fs::write(&f, csv).unwrap_or_else(|e| panic!("cannot write {}: {e}", f.display()));
    }

    /// NPtcp between node1 and node2 (IPv4) up to `max` bytes; its curve
    /// also goes to `csv` in the output directory.
    fn raw_tcp(&self, max: u64, csv: &str) -> Curve {
        if !have("NPtcp") {
            eprintln!("twohost: NPtcp not installed (package netpipe-tcp): raw TCP not measured");
            return Curve::new();
        }
        eprintln!("twohost: NPtcp node1 -> node2 ...");
        let c = &self.m.c;
        let addr = c.host("node2").addr4.expect("node2 has IPv4");
        // Written from inside node1: in the shared work directory (the
        // output directory may lie under the machine's /tmp).
        let txt = self.m.work.join("nptcp.txt");
        let _ = fs::remove_file(&txt);
        let mut rx = c.spawn(
            "node2",
            &format!(
                "cd / && exec timeout {} NPtcp -u {max} >/dev/null 2>&1",
                RUN_LIMIT.as_secs(),
            ),
        );
        // Bounded wait until the receiver listens (NetPIPE's port 5002).
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let o = c.exec("node2", "ss -Htln 'sport = :5002'");
            if String::from_utf8_lossy(&o.stdout).contains("5002") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let o = c.exec_timeout(
            "node1",
            &format!(
                "cd / && NPtcp -h {addr} -u {max} -o '{}' >/dev/null 2>&1",
                txt.display()
            ),
            RUN_LIMIT,
        );
        if !o.status.success() {
            eprintln!("twohost: NPtcp transmitter failed: {}", o.status);
        }
        wait_bounded(&mut rx, Duration::from_secs(10));
        let curve = read_netpipe(&txt);
        write_netpipe_csv(&self.out.join(csv), &curve);
        curve
    }

    /// Runs `script` on node1 in the shared work directory, bounded.
    fn on_node1(&self, script: &str, limit: Duration) -> String {
        let o = self.m.c.exec_timeout(
            "node1",
            &format!("cd '{}' && {script}", self.m.work.display()),
            limit,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() || !err.trim().is_empty() {
            eprintln!("twohost: `{script}` on node1: {}\n{err}", o.status);
        }
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// pvm_addhosts of node2 .. with `pb`, then every route x packing, then
    /// NPpvm with `ld_path` (pvm6's library, or none), then pvm_halt.
    fn measure(&self, pb: &Path, what: &str, ld_path: Option<&Path>) -> Measured {
        let mut r = Measured::default();
        let names = self.host_names().join(" ");
        eprintln!("twohost: {what}: pvm_addhosts of {} hosts ...", self.add);
        let add = self.on_node1(&format!("'{}' addhosts {names}", pb.display()), ADD_LIMIT);
        r.addhosts = add
            .lines()
            .find(|l| l.starts_with("addhosts,"))
            .map(String::from);
        eprintln!("twohost: {what}: {}", r.addhosts.as_deref().unwrap_or("?"));
        for route in ROUTES {
            for pk in PACKINGS {
                if !self.only.is_empty() && !self.only.contains(&format!("{route}/{pk}")) {
                    continue;
                }
                eprintln!("twohost: {what} pvmbench {route} {pk} node1 -> node2 ...");
                let o = self.on_node1(
                    &format!("'{}' {route} {pk} {} node2", pb.display(), self.max),
                    RUN_LIMIT,
                );
                r.points.extend(parse_points(&o));
            }
        }
        if have("NPpvm") && self.only.is_empty() {
            eprintln!("twohost: {what}: NPpvm node1 -> node2 ...");
            r.nppvm = self.nppvm(ld_path);
        }
        // PVM 3.4.6's pvm_halt ends the caller too (SIGTERM): no check.
        self.m.c.exec_timeout(
            "node1",
            &format!("'{}' halt >/dev/null 2>&1", pb.display()),
            Duration::from_secs(30),
        );
        r
    }

    /// Debian's NPpvm: receiver on node2, transmitter on node1.
    fn nppvm(&self, ld_path: Option<&Path>) -> Curve {
        let c = &self.m.c;
        let env = ld_path
            .map(|p| format!("LD_LIBRARY_PATH='{}' ", p.display()))
            .unwrap_or_default();
        let txt = self.m.work.join("nppvm.txt");
        let _ = fs::remove_file(&txt);
        let mut rx = c.spawn(
            "node2",
            &format!(
                "cd '{}' && {env}exec timeout {} NPpvm -u {} >/dev/null 2>&1",
                self.m.work.display(),
                RUN_LIMIT.as_secs(),
                self.max
            ),
        );
        // NPpvm has no readiness signal: give the receiver time to enrol.
        std::thread::sleep(Duration::from_secs(2));
        self.on_node1(
            &format!(
                "{env}NPpvm -h node2 -u {} -o '{}' >/dev/null 2>&1",
                self.max,
                txt.display()
            ),
            RUN_LIMIT,
        );
        wait_bounded(&mut rx, Duration::from_secs(10));
        read_netpipe(&txt)
    }

    fn pvm6(&self) -> Measured {
        let hf = self.m.hostfile(&["node1"]);
        self.m.start_master("node1", Some(&hf));
        // pvm6's libraries under the names Debian's NPpvm loads.
        let shim = self.m.work.join("shim");
        fs::create_dir_all(&shim).unwrap();
        let _ = symlink(
            common::lib_dir().join("libpvm3.so"),
            shim.join("libpvm3.so.3"),
        );
        let _ = symlink(
            common::gpvm3_dir().join("libgpvm3.so.3"),
            shim.join("libgpvm3.so.3"),
        );
        let r = self.measure(&self.pb6, "pvm6", Some(&shim));
        let log = self.m.log("node1");
        fs::write(self.out.join("twohost-pvm6-log.txt"), &log).unwrap();
        if self.m.wait_no_daemons(Duration::from_secs(10)).is_empty() {
            eprintln!("twohost: pvm6: every daemon halted");
        } else {
            eprintln!("twohost: pvm6: daemons left after pvm_halt; killing them");
            for h in self.m.c.hosts() {
                self.m.c.kill_in(&h.spec.name, "pvmd3");
            }
        }
        self.save_points("twohost-pvm6.csv", &r.points);
        write_netpipe_csv(&self.out.join("twohost-nppvm-pvm6.csv"), &r.nppvm);
        r
    }

    /// PVM 3.4.6: its pvmd as master on node1 (a hostfile giving a dx=
    /// wrapper that sets PVM_ROOT and PVM_ALLOW_ROOT, which ssh does not
    /// carry), slaves started by it over the harness's ssh (PVM_RSH).
    fn orig(&self, pb: &Path) -> Measured {
        let master = OrigMaster::start(&self.m, "");
        let r = if master.up {
            self.measure(pb, "PVM 3.4.6", None)
        } else {
            eprintln!(
                "twohost: PVM 3.4.6's master did not start; its output:\n{}",
                master.output()
            );
            Measured::default()
        };
        master.stop(&self.m, Duration::from_secs(10));
        self.save_points("twohost-orig.csv", &r.points);
        write_netpipe_csv(&self.out.join("twohost-nppvm-orig.csv"), &r.nppvm);
        r
    }

    fn save_points(&self, name: &str, points: &[Point]) {
        let mut s = String::from("route,packing,bytes,usec,pingpong_Gbps\n");
        for p in points {
            let _ = writeln!(
                s,
                "{},{},{},{:.3},{:.3}",
                p.route, p.packing, p.bytes, p.usec, p.gbps
            );
        }
        fs::write(self.out.join(name), s).unwrap();
    }

    /// One-way latency at 1 B of `route`/`pk` in run.sh's one-host CSV.
    fn one_host_latency(&self, route: &str, pk: &str) -> Option<f64> {
        let text = fs::read_to_string(self.out.join("pvm6.csv")).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() >= 4 && f[0] == route && f[1] == pk && f[2] == "1")
                .then(|| f[3].parse().ok())
                .flatten()
        })
    }

    /// The least tcprelay's `shape` added to its direct shape at one
    /// moment of this run, in µs.
    fn shape_adds(shapes: &[(String, String, f64)], shape: &str) -> Option<f64> {
        let of = |moment: &str, want: &str| {
            shapes
                .iter()
                .find(|(m, s, _)| m == moment && s == want)
                .map(|x| x.2)
        };
        shapes
            .iter()
            .filter(|(_, s, _)| s == shape)
            .filter_map(|(m, _, us)| Some(us - of(m, "direct")?))
            .reduce(f64::min)
    }

    fn report(
        &self,
        tcp: &Curve,
        pvm6: &Measured,
        orig: &Measured,
        shapes: &[(String, String, f64)],
        load0: &str,
        load1: &str,
    ) {
        let mut t = String::new();
        let mut summary = String::from("metric,value,target\n");
        let _ = writeln!(
            t,
            "== two hosts: network namespaces joined by veth and a bridge (pvm6 over IPv6; \
             NPtcp and PVM 3.4.6 over IPv4); load average {load0} at the start, {load1} at the end"
        );
        let _ = writeln!(
            t,
            "{:<10} {:<7} {:<8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "system",
            "route",
            "packing",
            "lat1B us",
            "1MiB Gbps",
            "4MiB Gbps",
            "peak Gbps",
            "lat/TCP",
            "1MiB/TCP",
            "4MiB/TCP",
            "peak/TCP"
        );
        let tl = at(tcp, 1).map(|p| p.1);
        let t1 = at(tcp, MIB).map(|p| p.0);
        let t4 = at(tcp, 4 * MIB).map(|p| p.0);
        let tp = peak(tcp);
        let mut row = |sys: &str, route: &str, pk: &str, c: &Curve| {
            if c.is_empty() {
                return;
            }
            let l = at(c, 1).map(|p| p.1);
            let b1 = at(c, MIB).map(|p| p.0);
            let b4 = at(c, 4 * MIB).map(|p| p.0);
            let pk_ = peak(c);
            let _ = writeln!(
                t,
                "{sys:<10} {route:<7} {pk:<8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
                show(l, 1),
                show(b1, 2),
                show(b4, 2),
                show(pk_, 2),
                show(ratio(l, tl), 2),
                show(ratio(b1, t1), 2),
                show(ratio(b4, t4), 2),
                show(ratio(pk_, tp), 2)
            );
        };
        row("NPtcp", "-", "-", tcp);
        for (sys, m) in [("pvm6", pvm6), ("PVM 3.4.6", orig)] {
            for route in ROUTES {
                for pk in PACKINGS {
                    row(sys, route, pk, &curve_of(&m.points, route, pk));
                }
            }
        }
        row("NPpvm", "(own)", "pvm6", &pvm6.nppvm);
        row("NPpvm", "(own)", "3.4.6", &orig.nppvm);

        // The targets, for pvm6's direct route (its best packing,
        // and Default), and daemon vs direct per packing.
        let _ = writeln!(
            t,
            "\n== issue 9 targets, two hosts (pvm6 / raw TCP, same run)"
        );
        let direct: Vec<(&str, Curve)> = PACKINGS
            .iter()
            .map(|pk| (*pk, curve_of(&pvm6.points, "direct", pk)))
            .collect();
        let best = |f: &dyn Fn(&Curve) -> Option<f64>, low: bool| -> Option<(f64, &str)> {
            direct
                .iter()
                .filter_map(|(pk, c)| f(c).map(|v| (v, *pk)))
                .reduce(|a, b| if (b.0 < a.0) == low { b } else { a })
        };
        let mut target = |name: &str, v: Option<(f64, &str)>, tcp: Option<f64>, goal: &str| {
            let r = v.and_then(|(v, _)| ratio(Some(v), tcp));
            let pk = v.map_or("-", |v| v.1);
            let ok = match (r, goal.split_once(' ')) {
                (Some(r), Some((">=", g))) => r >= g.parse().unwrap_or(0.0),
                (Some(r), Some(("<=", g))) => r <= g.parse().unwrap_or(0.0),
                _ => false,
            };
            let _ = writeln!(
                t,
                "{name:<44} {:>6}  (target {goal}; direct, {pk}) {}",
                show(r, 2),
                if r.is_none() {
                    "not measured"
                } else if ok {
                    "met"
                } else {
                    "NOT met"
                }
            );
            let _ = writeln!(summary, "{name} ({pk}),{},{goal}", show(r, 3));
        };
        target(
            "bandwidth pvm6/TCP at 1 MiB",
            best(&|c| at(c, MIB).map(|p| p.0), false),
            t1,
            ">= 0.8",
        );
        target(
            "bandwidth pvm6/TCP at 4 MiB",
            best(&|c| at(c, 4 * MIB).map(|p| p.0), false),
            t4,
            ">= 0.8",
        );
        target(
            "bandwidth pvm6/TCP at peak",
            best(&peak, false),
            tp,
            ">= 0.8",
        );
        target(
            "latency pvm6/TCP at 1 B",
            best(&|c| at(c, 1).map(|p| p.1), true),
            tl,
            "<= 1.2",
        );
        let dflt = &direct[0].1;
        target(
            "bandwidth pvm6/TCP at 1 MiB",
            at(dflt, MIB).map(|p| (p.0, "default")),
            t1,
            ">= 0.8",
        );
        target(
            "latency pvm6/TCP at 1 B",
            at(dflt, 1).map(|p| (p.1, "default")),
            tl,
            "<= 1.2",
        );
        let _ = writeln!(
            t,
            "\n== daemon-route / direct-route one-way latency at 1 B (target <= 2); floor: (direct \
             + what a relay that does no work adds over TCP, tcprelay's onelink shape: one relay \
             for both directions on one connection, as pvm6's feeds carry answers back) / \
             direct, the ratio of a daemon that did no work at all; per-dir: the same with a \
             relay and a connection per direction (tcprelay's feeds shape)"
        );
        for (m, shape, us) in shapes {
            let _ = writeln!(t, "tcprelay {m:<6} {shape:<8} {us:>6.2} us one way");
        }
        let _ = writeln!(
            t,
            "{:<10} {:>10} {:>10} {:>10} {:>10}",
            "packing", "one host", "two hosts", "2h floor", "per-dir"
        );
        let onelink = Self::shape_adds(shapes, "onelink");
        let per_dir = Self::shape_adds(shapes, "feeds");
        for pk in PACKINGS {
            let one = ratio(
                self.one_host_latency("daemon", pk),
                self.one_host_latency("direct", pk),
            );
            let lat = |route| at(&curve_of(&pvm6.points, route, pk), 1).map(|p| p.1);
            let two = ratio(lat("daemon"), lat("direct"));
            let with = |adds: Option<f64>| lat("direct").zip(adds).map(|(d, a)| (d + a) / d);
            let (floor, per_dir) = (with(onelink), with(per_dir));
            let _ = writeln!(
                t,
                "{pk:<10} {:>10} {:>10} {:>10} {:>10}",
                show(one, 2),
                show(two, 2),
                show(floor, 2),
                show(per_dir, 2)
            );
            let _ = writeln!(
                summary,
                "daemon/direct latency 1 B one host ({pk}),{},<= 2",
                show(one, 3)
            );
            let _ = writeln!(
                summary,
                "daemon/direct latency 1 B two hosts ({pk}),{},<= 2",
                show(two, 3)
            );
            let _ = writeln!(
                summary,
                "daemon/direct latency 1 B two hosts floor ({pk}),{},-",
                show(floor, 3)
            );
            let _ = writeln!(
                summary,
                "daemon/direct latency 1 B two hosts per-direction model ({pk}),{},-",
                show(per_dir, 3)
            );
        }

        let _ = writeln!(
            t,
            "\n== adding {} namespace hosts with one pvm_addhosts call",
            self.add
        );
        let mut csv = String::from("system,requested,added,call_seconds,config_seconds,hosts\n");
        for (sys, m) in [("pvm6", pvm6), ("PVM 3.4.6", orig)] {
            let Some(line) = &m.addhosts else {
                let _ = writeln!(t, "{sys:<10} not measured");
                continue;
            };
            let f: Vec<&str> = line.split(',').collect();
            if f.len() == 6 {
                let _ = writeln!(
                    t,
                    "{sys:<10} {} of {} added; pvm_addhosts returned after {} s; all in pvm_config after {} s ({} hosts)",
                    f[2], f[1], f[3], f[4], f[5]
                );
                let _ = writeln!(csv, "{sys},{}", f[1..].join(","));
                let _ = writeln!(summary, "addhosts {} seconds ({sys}),{},-", f[1], f[4]);
            }
        }
        let _ = writeln!(summary, "load average start,{load0},-");
        let _ = writeln!(summary, "load average end,{load1},-");
        fs::write(self.out.join("addhosts.csv"), csv).unwrap();
        fs::write(self.out.join("twohost-summary.csv"), summary).unwrap();
        print!("{t}");
    }
}
