//! Tracing (docs/TRACING.md): PVM 3.4's trace events from pvm6's library
//! and daemon, as Debian's `tracer` and `libpvmtrc.a` read them, and the
//! `pvmtrace` timeline and picture.
//!
//! - `debian_tracer_records_what_the_original_records`: Debian's tracer
//!   (linked against libpvm3.so.3) traces a program that spawns `hello`
//!   with PvmTaskTrace (hello spawns hello_other), once on the original
//!   PVM 3.4.6 (its own pvmd, started here) and once on pvm6: every event
//!   the original records is recorded on pvm6 with the same field list;
//!   then `pvmtrace` turns pvm6's trace into JSON and a PNG.
//! - `libpvmtrc_tracer_reads_events` (c-tests/trace/trc_lib.c).
//! - `inheritance_self_trace_and_masks` (c-tests/trace/t_trace.c).
//! - `registered_tracer_is_machine_wide`: on namespace hosts, Debian's
//!   tracer registered on a slave traces what a program on the master
//!   starts there and on a host added afterwards (c-tests/trace/mw_*.c):
//!   each daemon's newtask/spntask/endtask (with the exit status and CPU
//!   time) and the tasks' own events reach it; a second registration
//!   elsewhere is refused; the registration goes with the tracer's host.
//! - `group_handler_and_user_events` (c-tests/trace/trc_events.c, built on
//!   pvm6's groups and on Debian's libgpvm3): bcast's MDL, mhf_invoke, a
//!   user-defined event, and the group events of PVM 3.4's C macros.
//! - `pvmtrace_follows_a_live_session`: `pvmtrace --follow` beside a
//!   running tracer.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use common::{include_dir, loud_skip, Link, Sandbox};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LAUNCH_C: &str = r#"
#include <stdio.h>
#include <sys/time.h>
#include "pvm3.h"
int main(void)
{
	int tid, me = pvm_mytid();
	struct timeval tv = {10, 0};

	if (me < 0 || pvm_spawn("hello", NULL, PvmTaskTrace, "", 1, &tid) != 1)
		return 1;
	pvm_notify(PvmTaskExit, 99, 1, &tid);
	pvm_trecv(-1, 99, &tv);
	pvm_exit();
	return 0;
}
"#;

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Skips loudly (fails under CI) when one of `paths` is missing.
fn require(test: &str, paths: &[&str]) -> bool {
    for p in paths {
        if !Path::new(p).exists() {
            let why = format!("{p} is absent (apt-get install pvm pvm-dev pvm-examples)");
            assert!(!in_ci(), "{test}: {why}");
            loud_skip(test, &why);
            return false;
        }
    }
    true
}

/// Debian's tracer writing `trace`, its console output in `out`.
struct Tracer {
    child: Child,
    out: PathBuf,
}

impl Tracer {
    /// Starts it with `env` and waits until it has registered (its prompt).
    fn start(env: &[(&str, &Path)], extra: &[(&str, &str)], dir: &Path, trace: &Path) -> Tracer {
        let out = dir.join("tracer.out");
        let mut cmd = Command::new("/usr/bin/tracer");
        cmd.arg("-T")
            .arg(trace)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start tracer");
        let t = Tracer { child, out };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.output().contains("tracer>") {
            assert!(
                Instant::now() < deadline,
                "tracer did not start:\n{}",
                t.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        t
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// `quit`, and waits until it has written the trace file.
    fn quit(mut self) -> String {
        std::thread::sleep(Duration::from_millis(700));
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output()
    }
}

/// The descriptors of a trace file: event name -> its fields' DIDs and types.
fn descriptors(trace: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for block in trace.split(";;") {
        let b = block.trim_start();
        if !b.starts_with('#') {
            continue;
        }
        let name = b.split('"').nth(1).unwrap_or("").to_string();
        let fields: Vec<String> = b
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && l.ends_with(';'))
            .map(|l| l.trim_end_matches(';').to_string())
            .collect();
        out.insert(name, fields);
    }
    out
}

/// Runs the launcher under Debian's tracer on the original PVM 3.4.6;
/// returns the trace file's text.
fn original_trace(launch_c: &Path) -> String {
    let dir = std::env::temp_dir().join(format!("pvm6-orig-trace-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let (tmp, home, root) = (dir.join("tmp"), dir.join("home"), dir.join("root"));
    let bin = root.join("bin/LINUX64");
    for d in [&tmp, &home, &bin] {
        fs::create_dir_all(d).unwrap();
    }
    symlink("/usr/bin/hello.pvm", bin.join("hello")).unwrap();
    symlink("/usr/bin/hello_other", bin.join("hello_other")).unwrap();
    let launch = dir.join("launch");
    common::run_build(
        {
            let mut c = Command::new("gcc");
            c.args(["-Wall", "-I/usr/include", "-o"])
                .arg(&launch)
                .arg(launch_c)
                .arg("-lpvm3");
            c
        },
        "launcher against Debian's libpvm3",
    );
    let env: Vec<(&str, &Path)> = vec![("PVM_TMP", &tmp), ("HOME", &home), ("PVM_ROOT", &root)];
    let extra = [("PVM_ARCH", "LINUX64"), ("PVM_ALLOW_ROOT", "1")];
    let mut pvmd = Command::new("/usr/bin/pvmd");
    pvmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&dir);
    for (k, v) in &env {
        pvmd.env(k, v);
    }
    for (k, v) in extra {
        pvmd.env(k, v);
    }
    let mut pvmd = pvmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Debian's pvmd");
    let uid = fs::metadata(&home)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    let addr = tmp.join(format!("pvmd.{uid}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !addr.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let trace = dir.join("orig.trf");
    let tracer = Tracer::start(&env, &extra, &dir, &trace);
    let mut run = Command::new(&launch);
    run.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&dir);
    for (k, v) in &env {
        run.env(k, v);
    }
    for (k, v) in extra {
        run.env(k, v);
    }
    let status = run.status().expect("run launcher");
    let said = tracer.quit();
    let _ = Command::new("kill").arg(pvmd.id().to_string()).status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = pvmd.kill();
    let _ = pvmd.wait();
    assert!(status.success(), "launcher failed on the original PVM");
    let text = fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("original trace {}: {e}\n{said}", trace.display()));
    if std::env::var_os("PVM6_KEEP_SANDBOX").is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
    text
}

fn pvmtrace() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pvmtrace"))
}

#[test]
fn debian_tracer_records_what_the_original_records() {
    let name = "debian_tracer_records_what_the_original_records";
    if !require(
        name,
        &[
            "/usr/bin/tracer",
            "/usr/bin/pvmd",
            "/usr/bin/hello.pvm",
            "/usr/bin/hello_other",
            "/usr/include/pvm3.h",
        ],
    ) {
        return;
    }
    let sb = Sandbox::new("trace-debian");
    let src = sb.dir.join("launch.c");
    fs::write(&src, LAUNCH_C).unwrap();
    let original = descriptors(&original_trace(&src));
    assert!(
        original.contains_key("send(0.0)") && original.contains_key("newtask(0)"),
        "the original's trace has the program's events: {original:?}"
    );

    // pvm6: the same tracer binary and launcher logic with our library.
    symlink("/usr/bin/hello.pvm", sb.bin.join("hello")).unwrap();
    symlink("/usr/bin/hello_other", sb.bin.join("hello_other")).unwrap();
    let launch = sb.bin.join("launch");
    sb.compile(&src, &launch, Link::Shared);
    let env: Vec<(&str, &Path)> = vec![
        ("PVM_TMP", &sb.pvm_tmp),
        ("HOME", &sb.home),
        ("PVM_ROOT", &sb.pvm_root),
        ("LD_LIBRARY_PATH", &sb.lib),
    ];
    let extra = [("PVM_ARCH", "LINUX64")];
    let trace = sb.out.join("pvm6.trf");
    let tracer = Tracer::start(&env, &extra, &sb.dir, &trace);
    let run = sb.run(&launch, &[], Duration::from_secs(60));
    let said = tracer.quit();
    run.assert_success();
    let text = fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("pvm6 trace: {e}\n{said}\n{}", run.dump()));
    let ours = descriptors(&text);
    for (event, fields) in &original {
        assert_eq!(
            ours.get(event),
            Some(fields),
            "event {event} as the original records it\noriginal: {original:#?}\npvm6: {ours:#?}"
        );
    }
    for kind in [
        "host_add", "newtask", "spntask", "mytid", "parent", "spawn", "send", "recv", "output",
        "exit", "endtask",
    ] {
        assert!(
            ours.keys().any(|k| k.starts_with(&format!("{kind}("))),
            "{kind} in pvm6's trace:\n{text}"
        );
    }

    // The timeline of that real trace: launch, hello, hello_other; their
    // calls (mytid, spawn, trecv; mytid, spawn, recv; parent, send) and the
    // one message from hello_other to hello.
    let json = sb.out.join("t.json");
    let png = sb.out.join("t.png");
    let svg = sb.out.join("t.svg");
    let out = Command::new(pvmtrace())
        .arg("--json")
        .arg(&json)
        .arg("--png")
        .arg(&png)
        .arg("--svg")
        .arg(&svg)
        .arg(&trace)
        .output()
        .expect("run pvmtrace");
    assert!(out.status.success(), "pvmtrace: {out:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).expect("JSON parses");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let ph = |p: &str| events.iter().filter(|e| e["ph"] == p).count();
    assert_eq!(ph("X"), 8, "slices\n{doc:#}");
    assert_eq!((ph("s"), ph("f")), (1, 1), "one message flow\n{doc:#}");
    let threads = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .count();
    assert_eq!(threads, 3, "three tasks as rows");
    let bytes = fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1200, 110 + 40 * 3), "default size for three tasks");
    assert!(fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn libpvmtrc_tracer_reads_events() {
    let name = "libpvmtrc_tracer_reads_events";
    let lib = "/usr/lib/x86_64-linux-gnu/libpvmtrc.a";
    if !require(name, &[lib]) {
        return;
    }
    let sb = Sandbox::new("trace-libpvmtrc");
    let prog = sb.bin.join("trc_lib");
    let src = common::repo_root().join("c-tests/trace/trc_lib.c");
    let mut cc = Command::new("gcc");
    cc.args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(&prog)
        .arg(&src)
        .arg("-L/usr/lib/x86_64-linux-gnu")
        .arg("-lpvmtrc");
    sb.add_link_args(&mut cc, Link::Shared);
    common::run_build(cc, "trc_lib.c with -lpvmtrc");
    let trace = sb.out.join("lib.trf");
    let out = sb.run(&prog, &[trace.to_str().unwrap()], Duration::from_secs(90));
    out.assert_tap_ok();
}

#[test]
fn inheritance_self_trace_and_masks() {
    let sb = Sandbox::new("trace-inherit");
    let prog = sb.bin.join("t_trace");
    sb.compile(
        &common::repo_root().join("c-tests/trace/t_trace.c"),
        &prog,
        Link::Shared,
    );
    let out = sb.run(&prog, &[], Duration::from_secs(90));
    out.assert_tap_ok();
}

/// The records of a trace file (`"name(...)" { values };;`): name and the
/// values as text, split at the top-level commas.
fn records(trace: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some(rest) = line.strip_prefix('"') else {
            continue;
        };
        let Some((name, body)) = rest.split_once("\" {") else {
            continue;
        };
        let body = body.trim().trim_end_matches(";;").trim_end_matches('}');
        let mut vals = Vec::new();
        let (mut depth, mut cur) = (0, String::new());
        for ch in body.chars() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    vals.push(cur.trim().to_string());
                    cur.clear();
                    continue;
                }
                _ => {}
            }
            cur.push(ch);
        }
        if !cur.trim().is_empty() {
            vals.push(cur.trim().to_string());
        }
        out.push((name.to_string(), vals));
    }
    out
}

/// Host part of a tid (as pvm_tidtohost gives it).
fn host_part(t: i64) -> i64 {
    t & 0x3ffc_0000
}

#[test]
fn registered_tracer_is_machine_wide() {
    use machine::{result_of, text, Machine};
    if !require("registered_tracer_is_machine_wide", &["/usr/bin/tracer"]) {
        return;
    }
    let dir = common::repo_root().join("c-tests/trace");
    let specs = [
        netns::HostSpec::v6("node1"),
        netns::HostSpec::v6("node2"),
        netns::HostSpec::v6("node3"),
    ];
    let Some(m) = Machine::new(
        "trc-mw",
        &specs,
        &[dir.join("mw_launch.c"), dir.join("mw_child.c")],
    ) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2"]);
    m.start_master("node1", Some(&hf));
    // Served once the hosts of the hostfile are added; node2's daemon runs.
    let out = m.run("node1", "mw_launch", "check", Duration::from_secs(30));
    assert_eq!(result_of(&text(&out), "trace"), Some(0), "{}", text(&out));
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.daemons_on("node2").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Debian's tracer on node2 (a slave), writing its trace file there.
    let tdir = m.work.join("tracer");
    fs::create_dir_all(&tdir).unwrap();
    let trace = tdir.join("mw.trf");
    let said = tdir.join("tracer.out");
    let mut tracer =
        m.c.command("node2", "sh")
            .args([
                "-c",
                &format!(
                    "cd {} && exec env PVM6_NOAUTOSTART=1 LD_LIBRARY_PATH={} /usr/bin/tracer -T {}",
                    tdir.display(),
                    m.work.join("lib").display(),
                    trace.display()
                ),
            ])
            .stdin(Stdio::piped())
            .stdout(fs::File::create(&said).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let greeting = machine::wait_for(&said, "tracer>", Duration::from_secs(30));
    assert!(greeting.contains("tracer>"), "tracer on node2:\n{greeting}");
    let tracer_tid = greeting
        .split("Tracer connected as tid=0x")
        .nth(1)
        .and_then(|r| i64::from_str_radix(r.split('.').next().unwrap_or(""), 16).ok())
        .expect("the tracer's tid");
    assert_eq!(host_part(tracer_tid), 0x80000, "the tracer runs on node2");

    // A second tracer, on node1, is refused: the registration is known
    // there (PvmAlready = -30).
    let out = m.run("node1", "mw_launch", "reg", Duration::from_secs(30));
    let said_reg = text(&out);
    assert_eq!(result_of(&said_reg, "reg"), Some(-30), "{said_reg}");
    assert_eq!(
        result_of(&said_reg, "trace").map(i64::from),
        Some(tracer_tid),
        "a task enrolling on node1 is traced to the tracer on node2\n{said_reg}"
    );
    // The program on node1 adds node3 (after the registration) and spawns
    // mw_child there and on node1.
    let out = m.run(
        "node1",
        "mw_launch",
        "run node3 node1",
        Duration::from_secs(90),
    );
    let run = text(&out);
    assert!(out.status.success(), "mw_launch run: {run}");
    assert_eq!(result_of(&run, "exits"), Some(2), "{run}");
    // "result remote|local <count> <tid>"
    let spawned = |what: &str| {
        run.lines()
            .find_map(|l| l.strip_prefix(&format!("result {what} 1 ")))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or_else(|| panic!("{what} child spawned: {run}"))
    };
    let (remote, local) = (spawned("remote"), spawned("local"));
    let launcher = i64::from(result_of(&run, "mytid").unwrap());
    assert_eq!(host_part(remote), 0xc0000, "child on node3: {run}");
    assert_eq!(host_part(local), 0x40000, "child on node1: {run}");

    std::thread::sleep(Duration::from_millis(1500));
    if let Some(mut stdin) = tracer.stdin.take() {
        let _ = stdin.write_all(b"quit\n");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while tracer.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = tracer.kill();
    let _ = tracer.wait();
    let text_trf = fs::read_to_string(&trace).unwrap_or_else(|e| {
        panic!(
            "trace file: {e}\n{}",
            fs::read_to_string(&said).unwrap_or_default()
        )
    });
    let recs = records(&text_trf);
    let find = |name: &str, t: i64| {
        recs.iter()
            .find(|(n, v)| n == name && v.get(2).and_then(|x| x.parse::<i64>().ok()) == Some(t))
            .map(|(_, v)| v.clone())
    };
    let tracer_said = fs::read_to_string(&said).unwrap_or_default();
    let dump = || {
        format!(
            "{text_trf}\nlauncher t{launcher:x}\n{run}\ntracer:\n{tracer_said}\nnode2 log:\n{}\nnode3 log:\n{}",
            m.log("node2"),
            m.log("node3")
        )
    };
    // The daemons' events: newtask of the launcher (enrolled on its own on
    // node1: parent and flags -1) from node1's daemon; newtask and spntask
    // of each child from the daemon of its host (node3 joined after the
    // registration).
    let nt =
        find("newtask(0)", launcher).unwrap_or_else(|| panic!("launcher's newtask\n{}", dump()));
    assert_eq!((&nt[3][..], &nt[4][..]), ("-1", "-1"), "{}", dump());
    for child in [remote, local] {
        let nt = find("newtask(0)", child)
            .unwrap_or_else(|| panic!("newtask of t{child:x}\n{}", dump()));
        assert_eq!(
            nt[3].parse::<i64>().ok(),
            Some(launcher),
            "parent\n{}",
            dump()
        );
        assert!(nt[5].contains("mw_child"), "task name\n{}", dump());
        let st = find("spntask(0)", child)
            .unwrap_or_else(|| panic!("spntask of t{child:x}\n{}", dump()));
        assert_eq!(st[3].parse::<i64>().ok(), Some(launcher), "{}", dump());
        // Its own events, with the tracer's mask (mytid and exit are in it).
        assert!(
            find("mytid(0.0)", child).is_some(),
            "mytid of t{child:x}\n{}",
            dump()
        );
        assert!(
            find("exit(0.0)", child).is_some(),
            "exit of t{child:x}\n{}",
            dump()
        );
        // endtask: exit status 3 as wait gives it (768), and the CPU time
        // of its quarter second of computing.
        let et = find("endtask(0)", child)
            .unwrap_or_else(|| panic!("endtask of t{child:x}\n{}", dump()));
        let v: Vec<i64> = et.iter().map(|x| x.parse().unwrap_or(-1)).collect();
        assert_eq!(v[3], 768, "TST of t{child:x}\n{}", dump());
        let user = v[4] * 1_000_000 + v[5];
        assert!(
            (100_000..5_000_000).contains(&user) && v[5] < 1_000_000 && v[7] < 1_000_000,
            "TUS/TUU of t{child:x}: {user} us\n{}",
            dump()
        );
    }
    // The launcher left without being a child of a daemon: status and
    // times 0, as PVM 3.4.6 sends them.
    let et =
        find("endtask(0)", launcher).unwrap_or_else(|| panic!("launcher's endtask\n{}", dump()));
    assert_eq!(&et[3..], &["0", "0", "0", "0", "0"], "{}", dump());

    // The tracer's host leaves: the registration goes everywhere.
    m.c.kill_in("node2", "pvmd3");
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let out = m.run("node1", "mw_launch", "check", Duration::from_secs(30));
        let t = text(&out);
        if result_of(&t, "trace") == Some(0) || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        result_of(&after, "trace"),
        Some(0),
        "after node2 left: {after}"
    );
    let out = m.run("node3", "mw_launch", "reg", Duration::from_secs(30));
    let t = text(&out);
    assert_eq!(result_of(&t, "reg"), Some(0), "a new tracer on node3: {t}");
}

/// The records of `trace` named `name` whose TID (third value) is `t`.
fn records_of(trace: &str, name: &str, t: i64) -> Vec<Vec<String>> {
    records(trace)
        .into_iter()
        .filter(|(n, v)| n == name && v.get(2).and_then(|x| x.parse::<i64>().ok()) == Some(t))
        .map(|(_, v)| v)
        .collect()
}

/// The value a program printed as `result <what> <value>`.
fn result(out: &str, what: &str) -> Option<i64> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("result {what} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs c-tests/trace/trc_events.c (built by `build`) under Debian's
/// tracer on pvm6; returns the program's output and the trace file.
///
/// `env_extra` replaces variables for both (the daemon, started by the
/// tracer, passes its environment on to the tasks it spawns).
fn traced_events(sb: &Sandbox, prog: &Path, env_extra: &[(&str, &Path)]) -> (String, String) {
    let mut env: Vec<(&str, &Path)> = vec![
        ("PVM_TMP", &sb.pvm_tmp),
        ("HOME", &sb.home),
        ("PVM_ROOT", &sb.pvm_root),
        ("LD_LIBRARY_PATH", &sb.lib),
    ];
    env.retain(|(k, _)| !env_extra.iter().any(|(e, _)| e == k));
    env.extend_from_slice(env_extra);
    let trace = sb.out.join("events.trf");
    let tracer = Tracer::start(&env, &[("PVM_ARCH", "LINUX64")], &sb.dir, &trace);
    let mut cmd = sb.command(prog);
    for (k, v) in env_extra {
        cmd.env(k, v);
    }
    let run = sb.run_command(cmd, Duration::from_secs(90));
    let said = tracer.quit();
    let out = run.dump();
    run.assert_success();
    let text = fs::read_to_string(&trace).unwrap_or_else(|e| panic!("trace: {e}\n{said}\n{out}"));
    (out, text)
}

/// Checks the group, handler and user-defined events of trc_events.
fn check_events(out: &str, trace: &str, group_entries: bool) {
    let me = result(out, "mytid").expect("mytid");
    let member = result(out, "member").expect("member");
    let dump = || format!("{trace}\n{out}");
    assert_eq!(result(out, "handled"), Some(1), "{}", dump());
    assert_eq!(result(out, "bcast"), Some(0), "{}", dump());
    // pvm_bcast's exit event: CC 0 and MDL, the tids it went to.
    let b = records_of(trace, "bcast(1.1)", me);
    assert_eq!(b.len(), 1, "one bcast exit event\n{}", dump());
    assert_eq!(b[0][3], "0", "CC\n{}", dump());
    assert_eq!(b[0][4], format!("[1] {{ {member} }}"), "MDL\n{}", dump());
    let e = records_of(trace, "bcast(0.0)", me);
    assert!(
        e.len() == 1 && e[0][3].contains("\"trcg\"") && e[0][4] == "5",
        "bcast entry: GN, MC\n{}",
        dump()
    );
    if group_entries {
        let j = records_of(trace, "joingroup(0.0)", me);
        assert!(
            j.len() == 1 && j[0][3].contains("\"trcg\""),
            "joingroup GN\n{}",
            dump()
        );
        let j = records_of(trace, "joingroup(1.1)", me);
        assert!(
            j.len() == 1 && j[0][3] == "0",
            "joingroup: instance 0\n{}",
            dump()
        );
        let br = records_of(trace, "barrier(0.0)", me);
        assert!(
            br.len() == 1 && br[0][4] == "2",
            "barrier GBC 2\n{}",
            dump()
        );
        assert_eq!(records_of(trace, "lvgroup(1.1)", me).len(), 1, "{}", dump());
    }
    // The handler run: its source, tag and context patterns (-1, 7, -1),
    // then the message's buffer, length, tag, context and source.
    let h = records_of(trace, "mhf_invoke(0.0)", me);
    assert_eq!(h.len(), 1, "one mhf_invoke\n{}", dump());
    let v = &h[0];
    assert_eq!(
        (&v[3][..], &v[4][..], &v[5][..]),
        ("-1", "7", "-1"),
        "{}",
        dump()
    );
    assert!(v[6].parse::<i64>().unwrap_or(0) > 0, "MB\n{}", dump());
    assert_eq!((&v[7][..], &v[8][..]), ("4", "7"), "MNB, MC\n{}", dump());
    assert_eq!(v[10].parse::<i64>().ok(), Some(member), "SRC\n{}", dump());
    // The user-defined event: the task, the time of day, then what was
    // packed (42, then "hello" as PVM packs a string: its length and bytes).
    assert_eq!(result(out, "user"), Some(0), "{}", dump());
    let u: Vec<Vec<String>> = records(trace)
        .into_iter()
        .filter(|(n, v)| {
            n.starts_with("user_defined")
                && v.first().and_then(|x| x.parse::<i64>().ok()) == Some(me)
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(u.len(), 1, "one user-defined event\n{}", dump());
    let v = &u[0];
    assert!(
        v[1].parse::<i64>().unwrap_or(0) > 1_700_000_000,
        "TS\n{}",
        dump()
    );
    assert_eq!(
        &v[3..5],
        &["42", "6"],
        "the int, the string's length\n{}",
        dump()
    );
    assert!(v[5].contains("hello"), "the string's bytes\n{}", dump());
}

#[test]
fn group_handler_and_user_events() {
    if !require("group_handler_and_user_events", &["/usr/bin/tracer"]) {
        return;
    }
    let sb = Sandbox::new("trace-events");
    let prog = sb.bin.join("trc_events");
    sb.compile(
        &common::repo_root().join("c-tests/trace/trc_events.c"),
        &prog,
        Link::Shared,
    );
    let (out, trace) = traced_events(&sb, &prog, &[]);
    check_events(&out, &trace, true);

    // The same program on Debian's libgpvm3 (and its group server pvmgs):
    // its group calls make their events through PVM 3.4's C trace macros
    // (tev_begin, the pvmtrccodef encoders, tev_fin) on pvm6's library.
    let gpvm = "/usr/lib/x86_64-linux-gnu/libgpvm3.so.3";
    if !require(
        "group_handler_and_user_events (Debian's libgpvm3)",
        &[
            gpvm,
            "/usr/bin/pvmgs",
            "/usr/include/pvm3.h",
            "/usr/include/pvmtev.h",
        ],
    ) {
        return;
    }
    let sb = Sandbox::new("trace-events-deb");
    let lib = sb.dir.join("lib-pvm3-only");
    fs::create_dir_all(&lib).unwrap();
    for name in ["libpvm3.so", "libpvm3.so.3"] {
        symlink(sb.lib.join("libpvm3.so"), lib.join(name)).unwrap();
    }
    symlink("/usr/bin/pvmgs", sb.bin.join("pvmgs")).unwrap();
    let prog = sb.bin.join("trc_events");
    let mut gcc = Command::new("gcc");
    gcc.args(["-Wall", "-Wextra", "-Werror", "-I/usr/include", "-o"])
        .arg(&prog)
        .arg(common::repo_root().join("c-tests/trace/trc_events.c"))
        .arg("-L")
        .arg(&lib)
        .args(["-lgpvm3", "-lpvm3"]);
    common::run_build(gcc, "trc_events.c against Debian's libgpvm3");
    let (out, trace) = traced_events(&sb, &prog, &[("LD_LIBRARY_PATH", &lib)]);
    check_events(&out, &trace, true);
}

#[test]
fn pvmtrace_follows_a_live_session() {
    let name = "pvmtrace_follows_a_live_session";
    if !require(
        name,
        &[
            "/usr/bin/tracer",
            "/usr/bin/hello.pvm",
            "/usr/bin/hello_other",
        ],
    ) {
        return;
    }
    let sb = Sandbox::new("trace-live");
    symlink("/usr/bin/hello.pvm", sb.bin.join("hello")).unwrap();
    symlink("/usr/bin/hello_other", sb.bin.join("hello_other")).unwrap();
    let src = sb.dir.join("launch.c");
    fs::write(&src, LAUNCH_C).unwrap();
    let launch = sb.bin.join("launch");
    sb.compile(&src, &launch, Link::Shared);
    let env: Vec<(&str, &Path)> = vec![
        ("PVM_TMP", &sb.pvm_tmp),
        ("HOME", &sb.home),
        ("PVM_ROOT", &sb.pvm_root),
        ("LD_LIBRARY_PATH", &sb.lib),
    ];
    let trace = sb.out.join("live.trf");
    let tracer = Tracer::start(&env, &[("PVM_ARCH", "LINUX64")], &sb.dir, &trace);
    // pvmtrace follows the file while the session runs.
    let json = sb.out.join("live.json");
    let follower = Command::new(pvmtrace())
        .args(["--follow", "4", "--json"])
        .arg(&json)
        .arg(&trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pvmtrace --follow");
    let run = sb.run(&launch, &[], Duration::from_secs(60));
    let said = tracer.quit();
    run.assert_success();
    let out = follower.wait_with_output().expect("pvmtrace --follow ends");
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "pvmtrace --follow: {out:?}\n{said}");
    // The last rendering has the whole session: three tasks, their eight
    // calls and the one message (as the one-shot run of the same program).
    let last = lines.lines().last().unwrap_or("");
    assert!(
        last.ends_with("3 tasks, 8 calls, 1 messages"),
        "live summaries:\n{lines}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).expect("JSON parses");
    let slices = doc["traceEvents"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["ph"] == "X").count());
    assert_eq!(slices, Some(8), "{lines}");
}
