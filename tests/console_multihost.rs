//! The console on a machine of three hosts (network namespaces with sshd,
//! see tests/common/netns.rs), as issue 5's "Done when" asks: the console on
//! node1 takes a hostfile on its command line naming node2 and node3
//! (IPv6-only hosts), `conf` shows three hosts, `spawn -3 -> hello` shows
//! three greetings with the `[1:tid]` framing, `ps -a` lists tasks of the
//! three hosts, `delete` removes a host, `tickle 8` fails another, and
//! `halt` leaves no pvmd on any host.
//!
//! Needs the multi-host daemon (`task::addhosts` / `task::delhosts`); until
//! that merges those calls answer PvmNotImpl and this test fails at `conf`.
//! Without the means for namespaces it prints a SKIP banner (and fails
//! under CI=true).

#[path = "common/netns.rs"]
mod netns;

use netns::HostSpec;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

/// The directory of the built libpvm3 (`target/<profile>`), as
/// tests/common/mod.rs finds it.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let profile = deps.parent().expect("profile dir").to_path_buf();
    [deps, profile]
        .into_iter()
        .find(|d| d.join("libpvm3.so").is_file())
        .expect("libpvm3.so built by this cargo invocation")
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A world every host sees (not under /tmp, which is private per host):
/// `lib/` with libpvm3.so.3, `root/bin/LINUX64` with hello and hello_other
/// built against it plus `sleep`, `home/`.
struct World {
    dir: PathBuf,
    root: PathBuf,
    bin: PathBuf,
    home: PathBuf,
}

fn world(name: &str) -> World {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let lib = dir.join("lib");
    let root = dir.join("root");
    let bin = root.join("bin").join("LINUX64");
    let home = dir.join("home");
    for d in [&lib, &bin, &home] {
        fs::create_dir_all(d).expect("create world dirs");
    }
    let built = lib_dir();
    for link in ["libpvm3.so", "libpvm3.so.3"] {
        std::os::unix::fs::symlink(built.join("libpvm3.so"), lib.join(link)).expect("symlink");
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-c");
    for prog in ["hello", "hello_other"] {
        let mut cc = Command::new("gcc");
        cc.args(["-Wall", "-Wextra", "-Werror", "-O2", "-I"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
            .arg("-o")
            .arg(bin.join(prog))
            .arg(src.join(format!("{prog}.c")))
            .arg("-L")
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lpvm3");
        run(cc, &format!("compile {prog}"));
    }
    std::os::unix::fs::symlink("/bin/sleep", bin.join("sleep")).expect("link sleep");
    World {
        dir,
        root,
        bin,
        home,
    }
}

/// Runs the console on `host` with `input`; returns (status, stdout, stderr).
fn console(
    c: &netns::Cluster,
    w: &World,
    host: &str,
    args: &str,
    input: &str,
) -> (i32, String, String) {
    let input_file = w.dir.join(format!("input-{}", input.len()));
    fs::write(&input_file, input).expect("write console input");
    let script = format!(
        "cd {dir} && HOME={home} PVM_ROOT={root} PVM_ARCH=LINUX64 {pvm} {args} < {input} 2>&1 >{dir}/stdout; \
         rc=$?; cat {dir}/stdout; exit $rc",
        dir = w.dir.display(),
        home = w.home.display(),
        root = w.root.display(),
        pvm = env!("CARGO_BIN_EXE_pvm"),
        input = input_file.display(),
    );
    let out = c.exec_timeout(host, &script, LIMIT);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// pvmd processes (by command name) running in `host`.
fn daemons_in(c: &netns::Cluster, host: &str) -> Vec<u32> {
    c.pids_in(host)
        .into_iter()
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/comm"))
                .map(|n| n.trim() == "pvmd3" || n.trim() == "pvmd")
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn hostfile_conf_spawn_ps_delete_halt_over_ipv6() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(c) = netns::require("console", &specs) else {
        return;
    };
    let w = world("console-multihost");
    let hostfile = w.dir.join("hostfile");
    fs::write(
        &hostfile,
        format!(
            "# the console's machine: node1 (where it runs) and two more\n\
             * dx={pvmd3} ep={bin}\n\
             node2\n\
             node3\n",
            pvmd3 = env!("CARGO_BIN_EXE_pvmd3"),
            bin = w.bin.display(),
        ),
    )
    .expect("write hostfile");

    let (rc, out, err) = console(
        &c,
        &w,
        "node1",
        &hostfile.display().to_string(),
        "conf\nspawn -3 -> hello\nspawn -6 sleep 30\nps -a\n",
    );
    let dump = format!("status {rc}\n--- out+err ---\n{out}\n--- stderr ---\n{err}");
    assert_eq!(rc, 0, "{dump}");
    // The console started the daemon with the hostfile: the daemon added
    // the hosts (as `pvmd3 hostfile`), nothing is reported missing.
    assert!(!out.contains("not added"), "hostfile hosts added: {dump}");
    assert!(out.contains("3 hosts, 1 data format\n"), "{dump}");
    for h in ["node1", "node2", "node3"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(&format!("{h} "))
                && l.ends_with(" 0x00408c41")),
            "conf lists {h}: {dump}"
        );
    }
    let greetings = out
        .lines()
        .filter(|l| l.starts_with("[1:t") && l.contains(": hello, world from "))
        .count();
    assert_eq!(greetings, 3, "{dump}");
    assert!(out.contains("[1] finished\n"), "{dump}");
    // ps -a: the sleeps, on more than one host.
    let hosts_with_sleep: std::collections::BTreeSet<&str> = out
        .lines()
        .filter(|l| l.ends_with(" sleep       "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(hosts_with_sleep.len() >= 2, "{dump}");
    // node2's pvmd tid (the DTID column of conf), for `tickle 8` below.
    let node2_dtid = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 5 && f[0] == "node2")
        .map(|f| f[1].to_string())
        .expect("node2 in conf");

    // delete node3; then `tickle 8` fails node2 as if it had crashed (PVM
    // 3.4.6's host-failure test): result 1, node2 leaves the machine and
    // its pvmd, having lost the master, exits.
    let input = format!("delete node3\nconf\ntickle 8 0x{node2_dtid}\nconf\nhalt\n");
    let (rc, out, err) = console(&c, &w, "node1", "", &input);
    let dump = format!("status {rc}\n--- out+err ---\n{out}\n--- stderr ---\n{err}");
    assert_eq!(rc, 0, "{dump}");
    assert!(out.contains("1 successful\n"), "{dump}");
    assert!(
        out.contains("                   node3  deleted\n"),
        "{dump}"
    );
    assert!(out.contains("2 hosts, 1 data format\n"), "{dump}");
    assert!(out.contains("\n( 1 )\n"), "tickle 8 failed node2: {dump}");
    assert!(out.contains("1 host, 1 data format\n"), "{dump}");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left: Vec<(String, Vec<u32>)> = ["node1", "node2", "node3"]
            .iter()
            .map(|h| (h.to_string(), daemons_in(&c, h)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let logs: String = left
                .iter()
                .map(|(h, _)| {
                    let dir = c.host(h).tmp();
                    let mut t = format!("--- {h}'s log ---\n");
                    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
                        if e.file_name().to_string_lossy().starts_with("pvml.") {
                            t += &fs::read_to_string(e.path()).unwrap_or_default();
                        }
                    }
                    t
                })
                .collect();
            panic!("pvmds left after halt: {left:?}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = fs::remove_dir_all(&w.dir);
}

/// Builds c-tests/multihost/`name`.c into `dir` against the world's library.
fn build_into(w: &World, name: &str, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("create program dir");
    let out = dir.join(name);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cc = Command::new("gcc");
    cc.args(["-Wall", "-Wextra", "-Werror", "-O2", "-I"])
        .arg(repo.join("include"))
        .arg("-I")
        .arg(repo.join("c-tests"))
        .arg("-o")
        .arg(&out)
        .arg(repo.join("c-tests/multihost").join(format!("{name}.c")))
        .arg("-L")
        .arg(w.dir.join("lib"))
        .arg(format!("-Wl,-rpath,{}", w.dir.join("lib").display()))
        .arg("-lpvm3");
    run(cc, &format!("compile {name}"));
    out
}

/// Issue "Fidelity" 1: `pvm hostfile` on node1 with `* ep=DIR` and node1's
/// own line. The program lives only in DIR (not in PVM_ROOT's or HOME's
/// bin), so a task runs on node1 only when the master took the options of
/// its own line; one task per host by PvmTaskHost, then one per host by
/// default placement from a task on a remote host. A second console then
/// finds the daemon running and says that the own line's options apply
/// only when it starts pvmd.
fn console_hostfile_reaches_every_host(prefix: &str, specs: &[HostSpec]) {
    let Some(c) = netns::require(prefix, specs) else {
        return;
    };
    let w = world(prefix);
    let some_dir = w.dir.join("some").join("dir");
    let prog = build_into(&w, "mh_every", &some_dir);
    let hostfile = w.dir.join("hostfile");
    fs::write(
        &hostfile,
        format!(
            "* ep={dir} dx={pvmd3}\nnode1\nnode2\nnode3\n",
            dir = some_dir.display(),
            pvmd3 = env!("CARGO_BIN_EXE_pvmd3"),
        ),
    )
    .expect("write hostfile");
    let (rc, out, err) = console(&c, &w, "node1", &hostfile.display().to_string(), "conf\n");
    let dump = format!("status {rc}\n--- out+err ---\n{out}\n--- stderr ---\n{err}");
    assert_eq!(rc, 0, "{dump}");
    assert!(out.contains("3 hosts, 1 data format\n"), "{dump}");
    assert!(!out.contains("already running"), "{dump}");

    let run = c.exec_timeout(
        "node1",
        &format!(
            "cd {dir} && HOME={home} PVM_ROOT={root} PVM_ARCH=LINUX64 {prog} 3 2>&1",
            dir = w.dir.display(),
            home = w.home.display(),
            root = w.root.display(),
            prog = prog.display(),
        ),
        LIMIT,
    );
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success() && !t.contains("not ok") && t.contains("ok "),
        "mh_every on the console's machine:\n{t}"
    );

    let (rc, out, err) = console(
        &c,
        &w,
        "node1",
        &hostfile.display().to_string(),
        "conf\nhalt\n",
    );
    let dump = format!("status {rc}\n--- out+err ---\n{out}\n--- stderr ---\n{err}");
    assert_eq!(rc, 0, "{dump}");
    assert!(out.contains("pvmd already running.\n"), "{dump}");
    assert!(
        out.contains("pvm: options of hostfile line \"node1\" ignored"),
        "{dump}"
    );
    assert!(out.contains("3 hosts, 1 data format\n"), "{dump}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while ["node1", "node2", "node3"]
        .iter()
        .any(|h| !daemons_in(&c, h).is_empty())
    {
        assert!(Instant::now() < deadline, "pvmds left after halt");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = fs::remove_dir_all(&w.dir);
}

#[test]
fn console_hostfile_master_line_ipv6() {
    console_hostfile_reaches_every_host(
        "con-own6",
        &[
            HostSpec::v6("node1"),
            HostSpec::v6("node2"),
            HostSpec::v6("node3"),
        ],
    );
}

#[test]
fn console_hostfile_master_line_dual_stack() {
    console_hostfile_reaches_every_host(
        "con-own-dual",
        &[
            HostSpec::dual("node1"),
            HostSpec::dual("node2"),
            HostSpec::dual("node3"),
        ],
    );
}
