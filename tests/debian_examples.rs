//! Runs Debian's prebuilt PVM 3.4.6 example binaries (/usr/bin/hello.pvm,
//! master1, spmd, timing) against this package's libpvm3: LD_LIBRARY_PATH
//! points at a directory whose `libpvm3.so.3` is our `libpvm3.so`, and
//! PVM_ROOT/bin/LINUX64 holds symlinks to the programs they spawn
//! (hello_other, slave1, spmd, timing_slave).  The expected output is what
//! the same binaries print with the original PVM.

mod common;

use common::{loud_skip, Link, RunOutput, Sandbox, RUN_TIMEOUT};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Starts `argv[1]` `argv[2]` times with pvm_spawn, copies their output to
/// our stdout with pvm_catchout, and waits (bounded) until all have exited.
const LAUNCHER_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include "pvm3.h"

int main(int argc, char **argv)
{
	int tids[32], n, i, k, alive = 1;
	struct timeval tv;

	if (argc < 3 || (n = atoi(argv[2])) < 1 || n > 32 || pvm_mytid() < 0)
		return 2;
	pvm_catchout(stdout);
	if (pvm_spawn(argv[1], NULL, PvmTaskDefault, "", n, tids) != n) {
		printf("launch: spawn failed\n");
		pvm_exit();
		return 1;
	}
	for (k = 0; k < 600 && alive; k++) {
		tv.tv_sec = 0;
		tv.tv_usec = 50000;
		pvm_trecv(-1, 0x7ffffff, &tv);
		for (alive = 0, i = 0; i < n; i++)
			if (pvm_pstat(tids[i]) == PvmOk)
				alive++;
	}
	tv.tv_sec = 0;
	tv.tv_usec = 300000;
	pvm_trecv(-1, 0x7ffffff, &tv);
	pvm_exit();
	return alive ? 1 : 0;
}
"#;

/// A sandbox with the spawned Debian programs linked into bin/LINUX64, or
/// None (after a loud skip) when the Debian examples are not installed.
fn debian_sandbox(name: &str) -> Option<Sandbox> {
    if !Path::new("/usr/bin/hello.pvm").is_file() {
        loud_skip(
            name,
            "/usr/bin/hello.pvm is absent (apt-get install pvm-examples)",
        );
        return None;
    }
    let sb = Sandbox::new(name);
    for prog in [
        "hello_other",
        "slave1",
        "spmd",
        "timing_slave",
        "inherit1",
        "inherit2",
        "inherit3",
        "dbwtest",
        "ibwtest",
        "pbwtest",
        "rbwtest",
    ] {
        symlink(Path::new("/usr/bin").join(prog), sb.bin.join(prog)).expect("symlink example");
    }
    Some(sb)
}

/// Runs a Debian binary with our library in front of the system's.
fn run_debian(sb: &Sandbox, program: &str, args: &[&str]) -> RunOutput {
    let mut cmd = sb.command(Path::new(program));
    cmd.args(args).env("LD_LIBRARY_PATH", &sb.lib);
    sb.run_command(cmd, RUN_TIMEOUT)
}

#[test]
fn hello_pvm() {
    let Some(sb) = debian_sandbox("deb-hello") else {
        return;
    };
    let out = run_debian(&sb, "/usr/bin/hello.pvm", &[]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "two lines\n{}", out.dump());
    assert_eq!(lines[0], "i'm t40001", "{}", out.dump());
    assert!(
        lines[1].starts_with("from t40002: hello, world from "),
        "greeting line\n{}",
        out.dump()
    );
}

#[test]
fn master1_slave1() {
    let Some(sb) = debian_sandbox("deb-master1") else {
        return;
    };
    let out = run_debian(&sb, "/usr/bin/master1", &[]);
    out.assert_success();
    out.assert_stdout_has("Spawning 3 worker tasks ... SUCCESSFUL\n");
    // "I got 200.000000 from 0; (expecting 200.000000)", order varies
    let mut seen = Vec::new();
    for line in out.stdout.lines().filter(|l| l.starts_with("I got ")) {
        let rest = &line["I got ".len()..];
        let (got, rest) = rest.split_once(" from ").expect("from");
        let (who, expecting) = rest.split_once("; (expecting ").expect("expecting");
        let expecting = expecting.trim_end_matches(')');
        assert_eq!(
            got,
            expecting,
            "worker {who} got the wrong sum\n{}",
            out.dump()
        );
        seen.push(who.parse::<u32>().expect("worker number"));
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2], "one result per worker\n{}", out.dump());
}

#[test]
fn spmd_alone_is_a_ring_of_one() {
    let Some(sb) = debian_sandbox("deb-spmd1") else {
        return;
    };
    let out = run_debian(&sb, "/usr/bin/spmd", &[]);
    // spmd always ends with exit(1)
    assert_eq!(out.code(), 1, "{}", out.dump());
    // the tid is printed in decimal: 262145 is t40001
    assert_eq!(
        out.stdout,
        "Pass a token through the   1 tid ring:\n262145 -> 262145 \ntoken ring done\n",
        "{}",
        out.dump()
    );
}

#[test]
fn spmd_ring_of_four() {
    let Some(sb) = debian_sandbox("deb-spmd4") else {
        return;
    };
    let src = sb.dir.join("launch.c");
    fs::write(&src, LAUNCHER_C).expect("write launcher");
    let launcher = sb.dir.join("launch");
    sb.compile(&src, &launcher, Link::Shared);
    // The spawned Debian binaries inherit LD_LIBRARY_PATH through the daemon.
    let out = run_debian(&sb, launcher.to_str().expect("utf-8 path"), &["spmd", "4"]);
    out.assert_success();
    // pvm_catchout prefixes each line with the task's tid
    for tid in ["t40002", "t40003", "t40004", "t40005"] {
        out.assert_stdout_has(&format!("[{tid}] BEGIN\n"));
        out.assert_stdout_has(&format!("[{tid}] EOF\n"));
    }
    out.assert_stdout_has("[t40002] Pass a token through the   4 tid ring:\n");
    out.assert_stdout_has("[t40002] 262146 -> 262147 -> 262148 -> 262149 -> 262146 \n");
    out.assert_stdout_has("[t40002] token ring done\n");
}

#[test]
fn timing_and_timing_slave() {
    let Some(sb) = debian_sandbox("deb-timing") else {
        return;
    };
    let out = run_debian(&sb, "/usr/bin/timing", &[]);
    // timing's main falls off its end: the exit code is not meaningful
    let _ = out.code();
    out.assert_stdout_has("i'm t40001\n");
    out.assert_stdout_has("slave is task t40002\n");
    out.assert_stdout_has("Doing Round Trip test, minimal message size\n");
    out.assert_stdout_has("RTT Avg uSec ");
    out.assert_stdout_has("Doing Bandwidth tests\n");
    for size in ["100", "1000", "10000", "100000", "1000000"] {
        out.assert_stdout_has(&format!("Message size {size}\n"));
    }
    assert!(
        out.stdout.trim_end().ends_with("done"),
        "ends with done\n{}",
        out.dump()
    );
}

/// inherita spawns inherit1 after switching to a new context: the child
/// starts in its parent's context (man pvm_newcontext), so the parent hears
/// from it in that context.
#[test]
fn inherita_child_inherits_the_context() {
    let Some(sb) = debian_sandbox("deb-inherita") else {
        return;
    };
    for child in ["inherit1", "inherit3"] {
        let out = run_debian(&sb, "/usr/bin/inherita", &[child]);
        out.assert_success();
        out.assert_stdout_has("inherita: t4000");
        out.assert_stdout_has(&format!("END - sent from {child} t4000"));
        out.assert_stdout_has("with original context 0.\n");
        let changed = out
            .stdout
            .lines()
            .find_map(|l| l.split("with changed context ").nth(1))
            .map(|c| c.trim_end_matches('.').to_string())
            .unwrap_or_else(|| panic!("no changed context\n{}", out.dump()));
        out.assert_stdout_has(&format!("{child} t4000"));
        out.assert_stdout_has(&format!("with context {changed}."));
    }
}

/// inheritb spawns two inherit2 in two new contexts and hears from each in
/// its own context.
#[test]
fn inheritb_two_children_two_contexts() {
    let Some(sb) = debian_sandbox("deb-inheritb") else {
        return;
    };
    let out = run_debian(&sb, "/usr/bin/inheritb", &[]);
    out.assert_success();
    out.assert_stdout_has("<-- received from 1st inherit2.");
    out.assert_stdout_has("<-- received from 2nd inherit2.");
}

/// mhf_server registers in the mailbox and serves mhf_tickle's menu with
/// message handlers it loads on request.
#[test]
fn mhf_server_and_tickle() {
    let Some(sb) = debian_sandbox("deb-mhf") else {
        return;
    };
    let mut server = sb.command(Path::new("/usr/bin/mhf_server"));
    server.env("LD_LIBRARY_PATH", &sb.lib);
    let server_out = std::fs::File::create(sb.dir.join("server.out")).expect("server.out");
    server
        .stdout(server_out)
        .stderr(std::process::Stdio::null());
    let mut server = server.spawn().expect("start mhf_server");
    // The server puts itself in the mailbox; wait (bounded) until it did.
    let log = sb.dir.join("server.out");
    for _ in 0..100 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("startup")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // 0: show handlers; 1: load SC1 (src me, tag 0, ctx 1); 1: load IC4; 0;
    // 9: the server exits; 8: mhf_tickle exits (at end of input it would
    // loop on its menu).
    let mut tickle = sb.command(Path::new("/usr/bin/mhf_tickle"));
    tickle.env("LD_LIBRARY_PATH", &sb.lib);
    let out = sb.run_command_with_input(tickle, b"0\n1\n0\n1\n1\n1\n4\n0\n9\n8\n", RUN_TIMEOUT);
    for _ in 0..100 {
        if server.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    let served = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.stdout
            .contains("PMH - display present message handlers"),
        "{}",
        out.dump()
    );
    for want in [
        "mhf_server: PMH: Are you talking to me!!!",
        "message handlers: 1 installed",
        "loaded SC1",
        "message handlers: 2 installed",
        "loaded IC4",
    ] {
        assert!(
            served.contains(want),
            "server output lacks {want:?}:\n{served}"
        );
    }
}

/// The bandwidth testers (PvmDataDefault, PvmDataInPlace, psend/precv,
/// PvmDataRaw) run as two members of a group and check every value.
#[test]
fn bwtest_family() {
    let Some(sb) = debian_sandbox("deb-bwtest") else {
        return;
    };
    let src = sb.dir.join("launch.c");
    fs::write(&src, LAUNCHER_C).expect("write launcher");
    let launcher = sb.dir.join("launch");
    sb.compile(&src, &launcher, Link::Shared);
    for prog in ["dbwtest", "ibwtest", "pbwtest", "rbwtest"] {
        let out = run_debian(&sb, launcher.to_str().expect("utf-8 path"), &[prog, "2"]);
        out.assert_success();
        assert_eq!(
            out.stdout
                .matches(": 100000 doubles received correctly")
                .count(),
            2,
            "{prog}: both members check the data\n{}",
            out.dump()
        );
        out.assert_stdout_has("Data size: 800000");
    }
}

/// Debian's simple resource manager, /usr/bin/srm.pvm (it links against
/// libpvm internals: pvmmyctx, pvmctrc, pvmnametag), serves hello.pvm's
/// pvm_spawn: the spawn reaches it as SM_SPAWN, it starts hello_other with
/// SM_EXEC and answers, and it hears of both tasks' exits. Expected lines
/// are what srm.pvm and hello.pvm print with PVM 3.4.6.
#[test]
fn srm_serves_a_spawn() {
    let Some(sb) = debian_sandbox("deb-srm") else {
        return;
    };
    if !Path::new("/usr/bin/srm.pvm").is_file() || !Path::new("/usr/bin/stdbuf").is_file() {
        loud_skip("srm_serves_a_spawn", "/usr/bin/srm.pvm or stdbuf is absent");
        return;
    }
    let log = sb.dir.join("srm.out");
    let read = || fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |pred: &dyn Fn(&str) -> bool| {
        for _ in 0..200 {
            if pred(&read()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    };
    // srm.pvm writes to a pipe without flushing: line-buffer it.
    let mut srm = sb.command(Path::new("/usr/bin/stdbuf"));
    srm.args(["-oL", "/usr/bin/srm.pvm"])
        .env("LD_LIBRARY_PATH", &sb.lib)
        .stdout(fs::File::create(&log).expect("srm.out"))
        .stderr(std::process::Stdio::null());
    let mut srm = srm.spawn().expect("start srm.pvm");
    let registered = wait_for(&|s| s.contains("SRM registered as Resource Manager."));
    let out = registered.then(|| run_debian(&sb, "/usr/bin/hello.pvm", &[]));
    let exits = wait_for(&|s| s.matches("SM_TASKX").count() >= 2);
    let _ = srm.kill();
    let _ = srm.wait();
    let text = read();
    assert!(registered, "srm.pvm did not register:\n{text}");
    let out = out.expect("hello.pvm ran");
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "two lines\n{}", out.dump());
    assert_eq!(lines[0], "i'm t40002", "{}", out.dump());
    assert!(
        lines[1].starts_with("from t40003: hello, world from "),
        "greeting line\n{}",
        out.dump()
    );
    assert!(exits, "srm.pvm heard of fewer than two exits:\n{text}");
    let srm_lines: Vec<&str> = text.lines().collect();
    let at = srm_lines
        .iter()
        .position(|l| *l == "SRM connected as TID=0x40001.")
        .unwrap_or_else(|| panic!("no connect line:\n{text}"));
    let rest = &srm_lines[at + 1..];
    assert!(rest.len() >= 6, "srm.pvm output:\n{text}");
    assert_eq!(rest[0], "SRM registered as Resource Manager.", "{text}");
    assert_eq!(
        rest[1], "PVMd message is SM_EXECACK from t80000000",
        "{text}"
    );
    assert_eq!(rest[2], "PVMd message is SM_SPAWN from t40002", "{text}");
    assert!(
        rest[3].starts_with("Host selected: ") && rest[3].len() > "Host selected: ".len(),
        "{text}"
    );
    assert_eq!(rest[4], "PVMd message is SM_TASKX from t80000000", "{text}");
    assert_eq!(rest[5], "PVMd message is SM_TASKX from t80000000", "{text}");
}

#[test]
fn lmbi_and_gmbi_share_the_mailbox() {
    let Some(sb) = debian_sandbox("deb-mbi") else {
        return;
    };
    // Two persistent entries that outlive lmbi, then listed by gmbi
    // (PVM 3.4.6 prints exactly these lines).
    let out = run_debian(&sb, "/usr/bin/lmbi", &["2", "p", "e"]);
    out.assert_success();
    for want in [
        "lmbi: create 2 mailbox instances with flags set to <1> : <PvmMboxPersistent >.",
        "lmbi: just inserted entry <t40001lmbi0> at index 0.",
        "lmbi: just inserted entry <t40001lmbi1> at index 0.",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}\n{}", out.dump());
    }
    let out = run_debian(&sb, "/usr/bin/gmbi", &[]);
    out.assert_success();
    for want in [
        "gmbi: 2 mbox entries returned.",
        "gmbi: class name: <t40001lmbi0>",
        "gmbi: class name: <t40001lmbi1>",
        "\t: indices <0>\towner_tid <t0>\tflags <1> = <PvmMboxPersistent >",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}\n{}", out.dump());
    }
}

#[test]
fn task0_serves_task1_in_its_own_context() {
    let Some(sb) = debian_sandbox("deb-ctx") else {
        return;
    };
    let mut server = sb.command(Path::new("/usr/bin/task0"));
    server
        .args(["svc", "d"])
        .env("LD_LIBRARY_PATH", &sb.lib)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut server = server.spawn().expect("start task0");
    // task0 announces its service in the mailbox; task1 finds it there
    // (tried a bounded number of times while task0 starts).
    let mut out = run_debian(&sb, "/usr/bin/task1", &["svc"]);
    for _ in 0..20 {
        if out.stdout.contains("welcome to my server") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        out = run_debian(&sb, "/usr/bin/task1", &["svc"]);
    }
    let stop = run_debian(&sb, "/usr/bin/task_end", &["svc", "0"]);
    for _ in 0..40 {
        if server.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    out.assert_success();
    // As with PVM 3.4.6: task1 finds task0's tid and the context task0
    // published (the first one allocated, 0x40001 = 262145) in the mailbox,
    // talks to it there, then returns to its own context 0. (task0's tid
    // depends on whether a task1 run came first.)
    let server_tid = out
        .stdout
        .split("with flags <PvmMboxDefault > tid: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no service line\n{}", out.dump()))
        .to_string();
    for want in [
        format!("tid: {server_tid} and with context: 262145"),
        "with context 262145.".to_string(),
        format!("from task t{server_tid} welcome to my server - you are service request number 1."),
    ] {
        assert!(out.stdout.contains(&want), "lacks {want:?}\n{}", out.dump());
    }
    assert!(
        out.stdout.trim_end().ends_with("with context 0."),
        "task1 ends in its own context\n{}",
        out.dump()
    );
    stop.assert_success();
}
