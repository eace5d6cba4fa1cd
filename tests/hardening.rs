//! Hardening on one host (issue 10, items 2-4): load (200 tasks, 100 000
//! messages of random sizes with checksums, daemon memory back near idle),
//! faults (a task SIGKILLed in the middle of a large send, a full disk
//! under $PVM_TMP, a full file-descriptor table) and hostile peers on the
//! Unix socket and the TCP port (garbage, stalled frames, thousands of
//! sockets, a replayed Connect, forged source tids). Each test runs in its
//! own sandbox (tests/common), bounds every wait, asserts on the daemon log
//! and cleans up on drop. The C programs are c-tests/hardening/hd_*.c;
//! docs/HARDENING.md describes every test.

// prlimit(2) on a daemon and geteuid: libc calls no safe crate of ours wraps.
#![allow(unsafe_code)]

mod common;

use common::{repo_root, Link, RunOutput, Sandbox};
use pvm3::wire::{Frame, Header, Kind, Reader, Req, Writer};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The liveness bound on a normal task's round trip while the daemon is attacked.
const RTT_BOUND_MS: f64 = 1000.0;

/// A sandbox with every c-tests/hardening program built into its bin dir.
struct Hd {
    sb: Sandbox,
}

impl Hd {
    fn new(name: &str) -> Hd {
        let sb = Sandbox::new(name);
        for p in ["hd_load", "hd_ping", "hd_kill"] {
            sb.compile(&hd(p), &sb.bin.join(p), Link::Shared);
        }
        Hd { sb }
    }

    fn run(&self, prog: &str, args: &[&str], secs: u64) -> RunOutput {
        self.sb
            .run(&self.sb.bin.join(prog), args, Duration::from_secs(secs))
    }

    /// Runs hd_ping (which starts the daemon if needed); returns its worst
    /// round trip in ms after asserting it passed with no stray message.
    fn ping(&self, rounds: u32) -> f64 {
        let out = self.run("hd_ping", &[&rounds.to_string()], 60);
        out.assert_tap_ok();
        assert!(
            out.stdout.contains("stray=0"),
            "stray messages\n{}",
            out.dump()
        );
        max_ms(&out.stdout)
    }

    fn pid(&self) -> u32 {
        self.sb.daemon_pid().expect("daemon pid file")
    }

    fn sock(&self) -> PathBuf {
        self.sb.daemon_dir().join("pvmd.sock")
    }
}

fn hd(name: &str) -> PathBuf {
    repo_root()
        .join("c-tests/hardening")
        .join(format!("{name}.c"))
}

fn max_ms(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.split("max_ms=").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max_ms in\n{stdout}"))
}

fn rss_kib(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `f` holds, up to `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when the peer closes `s` within `limit`.
fn closed_within(s: &mut UnixStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn req(code: Req, wid: i32, body: Vec<u8>) -> Vec<u8> {
    Frame::new(
        Header {
            tag: code as i32,
            wid,
            ..Header::new(Kind::Req)
        },
        body,
    )
    .to_bytes()
}

/// Reads one frame from a blocking stream (bounded by its read timeout).
fn read_frame(s: &mut UnixStream) -> Frame {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut dec = pvm3::wire::FrameDecoder::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(f) = dec.next_frame().expect("well-formed reply") {
            return f;
        }
        let n = s.read(&mut b).expect("reply within 10 s");
        assert!(n > 0, "daemon closed the connection");
        dec.feed(&b[..n]);
    }
}

#[test]
fn load_200_tasks_100k_messages_one_host() {
    let h = Hd::new("hd-load");
    h.ping(2);
    let pid = h.pid();
    std::thread::sleep(Duration::from_millis(300));
    let idle = rss_kib(pid);
    let out = h.run("hd_load", &["200", "100000", "7"], 400);
    out.assert_tap_ok();
    let peak_after = rss_kib(pid);
    // Let the last closes and frees settle.
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(pid);
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("summary"))
        .unwrap_or("")
        .to_string();
    eprintln!(
        "load one host: {summary}; daemon VmRSS idle {idle} KiB, right after {peak_after} KiB, \
         1 s later {after} KiB"
    );
    assert!(
        summary.contains("messages=100000 errors=0"),
        "{}",
        out.dump()
    );
    assert!(
        after < idle + 64 * 1024,
        "daemon memory did not come back: idle {idle} KiB, after {after} KiB"
    );
    assert!(alive(pid));
    h.ping(3);
}

#[test]
fn task_killed_in_the_middle_of_a_large_send() {
    let h = Hd::new("hd-kill");
    let out = h.run("hd_kill", &[], 120);
    out.assert_tap_ok();
    let log = h.sb.daemon_log();
    assert!(
        log.contains("closed in the middle of a frame"),
        "the log does not say a message was cut off:\n{log}"
    );
    assert!(alive(h.pid()));
    h.ping(3);
}

#[test]
fn garbage_stalls_and_forgery_on_the_unix_socket() {
    let h = Hd::new("hd-unix");
    h.ping(1);
    let pid = h.pid();
    // 1. Garbage: the daemon closes that connection and logs it.
    let mut g = UnixStream::connect(h.sock()).unwrap();
    g.write_all(b"GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
        .unwrap();
    assert!(
        closed_within(&mut g, Duration::from_secs(5)),
        "garbage kept open"
    );
    // 2. Stallers: half a header, and a header announcing 1 MiB with 100 bytes sent.
    let mut s1 = UnixStream::connect(h.sock()).unwrap();
    s1.write_all(&req(Req::Config, 1, vec![])[..16]).unwrap();
    let mut s2 = UnixStream::connect(h.sock()).unwrap();
    let mut big = Frame::new(Header::new(Kind::Msg), vec![7u8; 1 << 20]).to_bytes();
    big.truncate(132);
    s2.write_all(&big).unwrap();
    let worst = h.ping(20);
    eprintln!("round trip with two stallers connected: worst {worst:.1} ms");
    assert!(worst < RTT_BOUND_MS, "worst round trip {worst} ms");
    // 3. A replayed Connect claiming a live task's tid gets a tid of its own,
    //    and a Msg forged with that task's tid as src is dropped and logged.
    let mut c = UnixStream::connect(h.sock()).unwrap();
    c.write_all(&req(Req::Tasks, 2, Writer::new().int(0).finish()))
        .unwrap();
    let f = read_frame(&mut c);
    let mut r = Reader::new(&f.body);
    assert_eq!(r.int().unwrap(), 0);
    let _count = r.int().unwrap();
    let victim = 0x40001; // hd_ping's first tid: gone now, but reused below
    c.write_all(&req(
        Req::Connect,
        3,
        Writer::new()
            .int(std::process::id() as i32)
            .int(victim)
            .str("replayed")
            .finish(),
    ))
    .unwrap();
    let f = read_frame(&mut c);
    let mut r = Reader::new(&f.body);
    assert_eq!(r.int().unwrap(), 0, "Connect status");
    let mine = r.int().unwrap();
    assert_ne!(mine, victim, "a replayed Connect got the claimed tid");
    // Forged: src = a tid that is not ours, to a live task (next hd_ping run).
    let forged = Frame::new(
        Header {
            src: mine + 1,
            dst: mine + 1,
            tag: 5,
            ..Header::new(Kind::Msg)
        },
        vec![0; 8],
    )
    .to_bytes();
    c.write_all(&forged).unwrap();
    let worst = h.ping(5);
    assert!(worst < RTT_BOUND_MS);
    let claim = format!("claiming src {}", pvm3::tid::fmt(mine + 1));
    let logged = eventually(Duration::from_secs(5), || {
        let log = h.sb.daemon_log();
        log.contains("malformed frame from pid") && log.contains(&claim)
    });
    assert!(
        logged,
        "log lacks the garbage or the forgery:\n{}",
        h.sb.daemon_log()
    );
    drop((s1, s2, c));
    assert!(alive(pid), "daemon died");
    // The stallers' fds are released once they close.
    let base = fd_count(pid);
    assert!(
        eventually(Duration::from_secs(5), || fd_count(pid) <= base),
        "fds not released"
    );
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (the daemon
/// it starts inherits it); returns the limit now in force.
fn raise_own_nofile() -> u64 {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: pid 0 is this process; a null new limit only reads into `cur`.
    let rc = unsafe { libc::prlimit(0, libc::RLIMIT_NOFILE, std::ptr::null(), &mut cur) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    if cur.rlim_cur < cur.rlim_max {
        let new = libc::rlimit {
            rlim_cur: cur.rlim_max,
            rlim_max: cur.rlim_max,
        };
        // SAFETY: `new` is a live rlimit struct; the old-limit pointer may be null.
        let rc = unsafe { libc::prlimit(0, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
        return cur.rlim_max;
    }
    cur.rlim_cur
}

#[test]
fn thousands_of_sockets() {
    // 3000 connections on both ends: a user's default soft limit is often
    // 1024, the hard one higher; without room even there the test cannot run.
    let limit = raise_own_nofile();
    if limit < 3100 {
        let msg = format!(
            "thousands_of_sockets needs 3100 open files, RLIMIT_NOFILE allows {limit} (ulimit -Hn)"
        );
        assert!(!common_ci(), "{msg}");
        eprintln!("\n*****\nSKIP: {msg}\n*****\n");
        return;
    }
    let h = Hd::new("hd-many");
    h.ping(1);
    let pid = h.pid();
    let before = fd_count(pid);
    let t0 = Instant::now();
    let mut socks = Vec::new();
    for _ in 0..3000 {
        match UnixStream::connect(h.sock()) {
            Ok(s) => socks.push(s),
            Err(e) => panic!("connect {}: {e}", socks.len()),
        }
    }
    eprintln!("3000 sockets opened in {:?}", t0.elapsed());
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) >= before + 3000),
        "daemon holds {} fds, expected >= {}",
        fd_count(pid),
        before + 3000
    );
    let worst = h.ping(20);
    eprintln!("round trip with 3000 idle sockets: worst {worst:.1} ms");
    assert!(worst < RTT_BOUND_MS);
    drop(socks);
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) <= before + 2),
        "fds not released: {} (before {before})",
        fd_count(pid)
    );
    h.ping(3);
}

/// Lowers the daemon's RLIMIT_NOFILE (through prlimit(2) on its pid) and
/// restores it on drop.
struct NofileLimit {
    pid: u32,
    old: libc::rlimit,
}

impl NofileLimit {
    fn set(pid: u32, soft: u64) -> NofileLimit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old_max(pid),
        };
        // SAFETY: both pointers are to live rlimit structs of this frame.
        let rc = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &new, &mut old) };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
        NofileLimit { pid, old }
    }
}

fn old_max(pid: u32) -> u64 {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a null new limit only reads into the live struct `cur`.
    let rc = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut cur) };
    assert_eq!(rc, 0);
    cur.rlim_max
}

impl Drop for NofileLimit {
    fn drop(&mut self) {
        // SAFETY: `old` is a live rlimit struct; the old-limit pointer may be null.
        unsafe {
            libc::prlimit(
                self.pid as i32,
                libc::RLIMIT_NOFILE,
                &self.old,
                std::ptr::null_mut(),
            );
        }
    }
}

#[test]
fn full_descriptor_table() {
    let h = Hd::new("hd-nofile");
    h.ping(1);
    let pid = h.pid();
    // A task that is connected before the table fills, pinging for ~6 s.
    let mut running = h.sb.command(&h.sb.bin.join("hd_ping"));
    running.args(["60", "100"]);
    let sb = &h.sb;
    std::thread::scope(|scope| {
        let bg = scope.spawn(move || sb.run_command(running, Duration::from_secs(60)));
        // Wait until it and its echo child are connected.
        assert!(eventually(Duration::from_secs(10), || {
            h.sb.daemon_log().matches("] echo ").count() >= 2
        }));
        let limit = fd_count(pid) as u64 + 5;
        let guard = NofileLimit::set(pid, limit);
        let mut socks = Vec::new();
        for _ in 0..20 {
            if let Ok(s) = UnixStream::connect(h.sock()) {
                socks.push(s);
            }
        }
        // The connections beyond the limit are closed at once, not left hanging.
        let mut refused = 0;
        for s in socks.iter_mut() {
            s.set_nonblocking(false).unwrap();
            if closed_within(s, Duration::from_millis(300)) {
                refused += 1;
            }
        }
        eprintln!(
            "limit {limit}: {} connections, {refused} refused at once",
            socks.len()
        );
        assert!(refused >= 10, "only {refused} of 20 connections refused");
        // A new task fails cleanly (no hang) while the table is full.
        let t0 = Instant::now();
        let out = h.run("hd_ping", &["1"], 30);
        assert!(!out.timed_out, "a new task hung:\n{}", out.dump());
        assert_ne!(
            out.code(),
            0,
            "a new task worked with a full table?\n{}",
            out.dump()
        );
        eprintln!("new task refused in {:?}", t0.elapsed());
        // The running task kept working throughout.
        let r = bg.join().unwrap();
        r.assert_tap_ok();
        assert!(max_ms(&r.stdout) < RTT_BOUND_MS, "{}", r.dump());
        drop(socks);
        drop(guard);
    });
    let log = h.sb.daemon_log();
    assert!(
        log.contains("out of file descriptors"),
        "the log does not say so:\n{log}"
    );
    // Recovered.
    assert!(alive(pid));
    h.ping(3);
}

/// A tmpfs mounted on a sandbox's PVM_TMP: on drop the sandbox's daemon is
/// stopped first (its pid file lives on the tmpfs), then the tmpfs is
/// lazily unmounted.
struct Tmpfs<'a> {
    dir: PathBuf,
    sb: &'a Sandbox,
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        self.sb.stop_daemon();
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn disk_full_under_pvm_tmp() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let msg = "disk_full_under_pvm_tmp needs root (mount -t tmpfs)";
        assert!(!common_ci(), "{msg}");
        eprintln!("SKIP: {msg}");
        return;
    }
    let h = Hd::new("hd-disk");
    let mnt = h.sb.pvm_tmp.clone();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _m = Tmpfs {
        dir: mnt.clone(),
        sb: &h.sb,
    };
    h.ping(1);
    let pid = h.pid();
    // Fill the disk.
    let fill = mnt.join("fill");
    let mut f = fs::File::create(&fill).unwrap();
    for size in [64 * 1024, 4096, 1] {
        let chunk = vec![0u8; size];
        while f.write_all(&chunk).is_ok() {}
    }
    drop(f);
    let before = h.sb.daemon_log().len();
    // 400 echo lines (~7 KiB): more than the free end of the log's last
    // page, the only room tmpfs still has.
    let worst = h.ping(400);
    assert!(worst < RTT_BOUND_MS);
    let full = h.sb.daemon_log().len();
    assert!(
        full < before + 4096,
        "log grew by {} bytes on a full disk",
        full - before
    );
    fs::remove_file(&fill).unwrap();
    h.ping(2);
    let log = h.sb.daemon_log();
    let new = &log[before..];
    eprintln!("after the disk had room again:\n{new}");
    assert!(
        new.contains("log line(s) lost: No space left on device"),
        "the log does not say lines were lost:\n{new}"
    );
    let lost = new
        .lines()
        .find(|l| l.starts_with("[t80040000] ") && l.contains("log line(s) lost"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(lost > 0, "{new}");
    assert!(
        new.ends_with("] echo 1\n"),
        "logging did not resume:\n{new}"
    );
    assert!(alive(pid));
}

fn common_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

#[test]
fn garbage_and_stall_on_the_tcp_port() {
    let h = Hd::new("hd-tcp");
    // A one-host machine listens on TCP only once asked to (or once a host
    // is added: tests/bounds.rs): the first task starts it that way.
    let mut first = h.sb.command(&h.sb.bin.join("hd_ping"));
    first.arg("1").env("PVM6_LISTEN", "1");
    h.sb.run_command(first, Duration::from_secs(60))
        .assert_tap_ok();
    let addr = fs::read_to_string(h.sb.daemon_dir().join("pvmd.addr")).unwrap();
    let port = addr.trim().rsplit(':').next().unwrap().to_string();
    let target = format!("127.0.0.1:{port}");
    let mut g = std::net::TcpStream::connect(&target).unwrap();
    g.write_all(b"\x16\x03\x01garbage garbage garbage garbage garbage garbage")
        .unwrap();
    g.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 64];
    let n = g.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0, "garbage connection not closed");
    // A staller: the first 4 bytes of a Hello, then nothing.
    let mut s = std::net::TcpStream::connect(&target).unwrap();
    s.write_all(b"P6A1").unwrap();
    let worst = h.ping(10);
    assert!(worst < RTT_BOUND_MS);
    // The handshake deadline cuts it off.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t0 = Instant::now();
    let n = s.read(&mut b).unwrap_or(0);
    eprintln!("TCP staller cut off after {:?}", t0.elapsed());
    assert_eq!(n, 0, "staller got data");
    // The daemon closes the link before it writes the log line.
    let logged = eventually(Duration::from_secs(5), || {
        let log = h.sb.daemon_log();
        log.contains("not a pvm6 handshake") && log.contains("handshake timed out")
    });
    assert!(logged, "not logged:\n{}", h.sb.daemon_log());
}

#[test]
fn forged_hello_on_a_direct_route() {
    let h = Hd::new("hd-direct");
    h.ping(1);
    let mut bg = h.sb.command(&h.sb.bin.join("hd_ping"));
    bg.args(["40", "100", "direct"]);
    let sb = &h.sb;
    std::thread::scope(|scope| {
        let job = scope.spawn(move || sb.run_command(bg, Duration::from_secs(60)));
        // The parent's listener: task-<tid in hex>.sock in the daemon directory.
        let mut listener = None;
        assert!(eventually(Duration::from_secs(10), || {
            listener = fs::read_dir(h.sb.daemon_dir()).ok().and_then(|d| {
                d.flatten().map(|e| e.path()).find(|p| {
                    p.to_string_lossy().ends_with(".sock")
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("task-"))
                })
            });
            listener.is_some()
        }));
        let listener = listener.unwrap();
        let name = listener.file_name().unwrap().to_string_lossy().into_owned();
        let owner = i32::from_str_radix(&name["task-".len()..name.len() - ".sock".len()], 16)
            .expect("tid in the listener's name");
        // Claim to be the echo child (the owner's next tid) with a made-up nonce.
        let claimed = owner + 1;
        let hello = Frame::new(
            Header {
                src: claimed,
                dst: owner,
                tag: Req::RouteHello as i32,
                ..Header::new(Kind::Req)
            },
            Writer::new().int(0x1234).int(0x5678).int(0).int(0).finish(),
        )
        .to_bytes();
        let mut s = UnixStream::connect(&listener).unwrap();
        s.write_all(&hello).unwrap();
        assert!(
            closed_within(&mut s, Duration::from_secs(5)),
            "forged hello accepted"
        );
        // A message with a forged src and no hello at all.
        let mut s = UnixStream::connect(&listener).unwrap();
        let msg = Frame::new(
            Header {
                src: claimed,
                dst: owner,
                tag: 6,
                ..Header::new(Kind::Msg)
            },
            vec![0; 8],
        )
        .to_bytes();
        s.write_all(&msg).unwrap();
        assert!(
            closed_within(&mut s, Duration::from_secs(5)),
            "hello-less link kept"
        );
        let out = job.join().unwrap();
        out.assert_tap_ok();
        assert!(out.stdout.contains("stray=0"), "{}", out.dump());
        assert!(max_ms(&out.stdout) < RTT_BOUND_MS, "{}", out.dump());
        let want = format!(
            "libpvm [{}]: direct link claiming to be {} refused",
            pvm3::tid::fmt(owner),
            pvm3::tid::fmt(claimed)
        );
        assert!(out.stderr.contains(&want), "not reported:\n{}", out.dump());
    });
}

#[test]
fn every_hardening_program_is_used() {
    let here = include_str!("hardening.rs");
    let multi = include_str!("hardening_multihost.rs");
    for e in fs::read_dir(repo_root().join("c-tests/hardening"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".c") {
            let quoted = format!("\"{stem}\"");
            assert!(
                here.contains(&quoted) || multi.contains(&quoted),
                "c-tests/hardening/{name} is used by no hardening test"
            );
        }
    }
}
