//! The library trusts only its own daemon (issue 28, item 2): another
//! user who gets to `$PVM_TMP` first (the socket directory with a
//! listener, the log file) learns nothing. The squatter is
//! c-tests/trust/tr_squat.c run as `nobody`; the owner's program is
//! c-tests/hardening/hd_ping.c. Root is needed to be two users: skipped
//! with a loud line otherwise, failing under CI=true.

mod common;

use common::{loud_skip, repo_root, Link, RunOutput, Sandbox};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nobody's ids on Debian.
const NOBODY: u32 = 65534;

fn prog(dir: &str, name: &str) -> PathBuf {
    repo_root()
        .join("c-tests")
        .join(dir)
        .join(format!("{name}.c"))
}

/// A sandbox whose PVM_TMP anyone may write (as /tmp), with hd_ping and
/// tr_squat built; None (after a loud skip) when not root.
fn setup(name: &str) -> Option<Sandbox> {
    let sb = Sandbox::new(name);
    if sb.uid() != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} needs root under CI"
        );
        loud_skip(name, "needs root (to be two users)");
        return None;
    }
    for d in [
        &sb.dir,
        &sb.pvm_root,
        &sb.bin.parent().unwrap().to_path_buf(),
        &sb.bin,
    ] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&sb.pvm_tmp, fs::Permissions::from_mode(0o1777)).unwrap();
    sb.compile(
        &prog("hardening", "hd_ping"),
        &sb.bin.join("hd_ping"),
        Link::Shared,
    );
    sb.compile(
        &prog("trust", "tr_squat"),
        &sb.bin.join("tr_squat"),
        Link::Shared,
    );
    Some(sb)
}

/// Starts the squatter as nobody; waits until it listens.
fn squat(sb: &Sandbox, dir: &str, sock: &Path, log: &str, secs: u32, private: bool) -> Child {
    let out = sb.out.join(format!("squat-{}.out", secs));
    let mut cmd = Command::new(sb.bin.join("tr_squat"));
    cmd.args([dir, sock.to_str().unwrap(), log, &secs.to_string()]);
    if private {
        cmd.arg("private");
    }
    cmd.uid(NOBODY)
        .gid(NOBODY)
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit());
    let child = cmd.spawn().expect("run tr_squat as nobody");
    let end = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("listening")
    {
        assert!(Instant::now() < end, "the squatter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Waits for the squatter and returns (accepted, bytes) it reports.
fn squat_result(sb: &Sandbox, mut child: Child, secs: u32) -> (u64, u64) {
    child.wait().unwrap();
    let text = fs::read_to_string(sb.out.join(format!("squat-{}.out", secs))).unwrap();
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text:?}"))
    };
    (field("accepted="), field("bytes="))
}

fn ping(sb: &Sandbox) -> RunOutput {
    sb.run(&sb.bin.join("hd_ping"), &["2"], Duration::from_secs(60))
}

#[test]
fn squatted_socket_directory_and_log() {
    let Some(sb) = setup("trust-squat") else {
        return;
    };
    let dir = sb.daemon_dir();
    let sock = dir.join("pvmd.sock");
    let log = sb.pvm_tmp.join("pvml.0");
    // nobody makes pvm6.0/ (world-writable), listens at pvmd.sock and
    // makes pvml.0 (world-readable), all before the owner's first call.
    let sq = squat(
        &sb,
        dir.to_str().unwrap(),
        &sock,
        log.to_str().unwrap(),
        4,
        false,
    );
    let out = ping(&sb);
    assert!(!out.timed_out, "{}", out.dump());
    assert_ne!(
        out.code(),
        0,
        "the program ran on a squatted socket\n{}",
        out.dump()
    );
    let want = format!("refusing to use {}: owned by uid {NOBODY}", dir.display());
    assert!(
        out.stderr.contains(&want),
        "no clear message ({want})\n{}",
        out.dump()
    );
    assert!(
        out.stderr.contains("Can't contact local daemon"),
        "pvm_mytid's error is not PvmSysErr's\n{}",
        out.dump()
    );
    let (accepted, bytes) = squat_result(&sb, sq, 4);
    eprintln!("squatted directory: the squatter accepted {accepted}, received {bytes} bytes");
    assert_eq!(
        (accepted, bytes),
        (0, 0),
        "the squatter heard from the owner"
    );
    // A squatted directory that looks private (0700, nobody's): the same.
    fs::remove_dir_all(&dir).unwrap();
    let sq = squat(&sb, dir.to_str().unwrap(), &sock, "-", 3, true);
    let out = ping(&sb);
    assert_ne!(out.code(), 0, "{}", out.dump());
    assert!(out.stderr.contains(&want), "{}", out.dump());
    assert_eq!(squat_result(&sb, sq, 3), (0, 0));
    // The directory freed, the log file still nobody's: the owner's daemon
    // starts, writes nothing into that file, logs in its private directory.
    fs::remove_dir_all(&dir).unwrap();
    let out = ping(&sb);
    out.assert_tap_ok();
    let meta = fs::metadata(&log).unwrap();
    assert_eq!(meta.uid(), NOBODY);
    eprintln!(
        "squatted log file: {} bytes after the owner's run",
        meta.len()
    );
    assert_eq!(
        meta.len(),
        0,
        "the owner's daemon wrote to nobody's log file"
    );
    let private = fs::read_to_string(dir.join("pvml")).unwrap_or_default();
    assert!(
        private.contains(&format!(
            "refusing the log file {}: owned by uid {NOBODY}",
            log.display()
        )) && private.contains("] echo "),
        "the private log does not say why / has not the task output:\n{private}"
    );
    let d = fs::symlink_metadata(&dir).unwrap();
    assert_eq!((d.uid(), d.mode() & 0o7777), (0, 0o700));
    sb.stop_daemon();
}

#[test]
fn listener_of_another_user_behind_our_directory() {
    let Some(sb) = setup("trust-peer") else {
        return;
    };
    // Our own private directory, but its pvmd.sock leads to a socket that
    // nobody listens at (a link made into a directory nobody owns): the
    // listener's uid (SO_PEERCRED) gives it away before a byte is sent.
    let theirs = sb.dir.join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let their_sock = theirs.join("s");
    let sq = squat(&sb, "-", &their_sock, "-", 3, false);
    let dir = sb.daemon_dir();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&their_sock, dir.join("pvmd.sock")).unwrap();
    let out = ping(&sb);
    assert_ne!(out.code(), 0, "{}", out.dump());
    assert!(
        out.stderr.contains(&format!(
            "refusing the daemon at {}: it runs as uid {NOBODY}",
            dir.join("pvmd.sock").display()
        )),
        "{}",
        out.dump()
    );
    let (accepted, bytes) = squat_result(&sb, sq, 3);
    eprintln!("foreign listener: accepted {accepted} connection(s), {bytes} bytes");
    assert_eq!(bytes, 0, "the foreign listener received bytes");
}

#[test]
fn log_file_behind_a_symbolic_link() {
    let Some(sb) = setup("trust-loglink") else {
        return;
    };
    // pvml.0 is a link to a file of nobody's choosing: not followed.
    let target = sb.dir.join("elsewhere");
    fs::write(&target, b"").unwrap();
    let log = sb.pvm_tmp.join("pvml.0");
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let out = ping(&sb);
    out.assert_tap_ok();
    assert_eq!(
        fs::metadata(&target).unwrap().len(),
        0,
        "the link was followed"
    );
    let private = fs::read_to_string(sb.daemon_dir().join("pvml")).unwrap_or_default();
    assert!(
        private.contains("symbolic link"),
        "the private log does not say why:\n{private}"
    );
    sb.stop_daemon();
}
