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

mod common;

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
