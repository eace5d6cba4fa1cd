//! Integration tests of pvmd: the built `pvmd3` binary (and the embedded
//! runner) with a private PVM_TMP, spoken to with raw frames from
//! `pvm3::wire`.

use pvm3::paths::DaemonFiles;
use pvm3::wire::{read_frame, Frame, Header, Kind, Reader, Req, Writer};
use pvm3::Error;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const HOST: i32 = 0x40000;
const DTID: i32 = 0x8004_0000_u32 as i32;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A private PVM_TMP, removed at the end.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> TmpDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "pvm6-dtest-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TmpDir(p)
    }
    fn files(&self) -> DaemonFiles {
        DaemonFiles::new(&self.0, pvm3::os::uid(), None)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pvmd3(tmp: &TmpDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pvmd3"));
    c.env("PVM_TMP", &tmp.0)
        .env_remove("PVM_VMID")
        .env_remove("PVM_PATH")
        .env("HOME", &tmp.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// A daemon started as `pvmd3 -f`; halted (or killed) on drop.
struct Daemon {
    child: Option<Child>,
    files: DaemonFiles,
}

impl Daemon {
    fn start(tmp: &TmpDir) -> Daemon {
        let child = pvmd3(tmp).arg("-f").spawn().unwrap();
        let d = Daemon {
            child: Some(child),
            files: tmp.files(),
        };
        assert!(
            pvm3::daemon::wait_ready(&d.files, TIMEOUT),
            "daemon did not come up"
        );
        d
    }

    fn client(&self) -> Client {
        Client::connect(&self.files.sock)
    }

    /// Waits for the daemon process to end; its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if let Ok(mut c) = UnixStream::connect(&self.files.sock) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let f = Frame::new(
                Header {
                    tag: Req::Halt as i32,
                    ..Header::new(Kind::Req)
                },
                vec![],
            );
            let _ = c.write_all(&f.to_bytes());
            let _ = read_frame(&mut c);
        }
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A raw protocol client.
struct Client {
    s: UnixStream,
    tid: i32,
    wid: i32,
}

impl Client {
    fn connect(sock: &Path) -> Client {
        let s = UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client { s, tid: 0, wid: 0 }
    }

    fn send(&mut self, f: &Frame) {
        self.s.write_all(&f.to_bytes()).unwrap();
    }

    /// Next frame (panics on timeout or EOF).
    fn recv(&mut self) -> Frame {
        read_frame(&mut self.s).unwrap().expect("connection closed")
    }

    /// Sends a request, returns (status, rest of the reply body).
    fn req(&mut self, code: Req, body: Vec<u8>) -> (i32, Vec<u8>) {
        self.wid += 1;
        let h = Header {
            src: self.tid,
            dst: DTID,
            tag: code as i32,
            wid: self.wid,
            ..Header::new(Kind::Req)
        };
        self.send(&Frame::new(h, body));
        loop {
            let f = self.recv();
            if f.header.kind == Kind::Reply {
                assert_eq!(f.header.wid, self.wid);
                assert_eq!(f.header.tag, code as i32);
                let status = i32::from_be_bytes(f.body[..4].try_into().unwrap());
                return (status, f.body[4..].to_vec());
            }
        }
    }

    /// Connect; returns (tid, ptid, dtid, siblings).
    fn hello(&mut self, spawned: i32) -> (i32, i32, i32, Vec<i32>) {
        let body = Writer::new().int(0).int(spawned).str("test").finish();
        let (st, rest) = self.req(Req::Connect, body);
        assert_eq!(st, 0);
        let mut r = Reader::new(&rest);
        let tid = r.int().unwrap();
        let ptid = r.int().unwrap();
        let dtid = r.int().unwrap();
        let n = r.int().unwrap();
        let sibs = (0..n).map(|_| r.int().unwrap()).collect();
        self.tid = tid;
        (tid, ptid, dtid, sibs)
    }

    fn msg(&mut self, dst: i32, tag: i32, body: Vec<u8>) {
        let h = Header {
            src: self.tid,
            dst,
            tag,
            ..Header::new(Kind::Msg)
        };
        self.send(&Frame::new(h, body));
    }

    /// Spawn; returns (status, tids or codes).
    fn spawn(
        &mut self,
        file: &str,
        flags: i32,
        where_: &str,
        ntask: i32,
        argv: &[&str],
    ) -> (i32, Vec<i32>) {
        let body = Writer::new()
            .str(file)
            .int(flags)
            .str(where_)
            .int(ntask)
            .strs(argv)
            .strs::<&str>(&[])
            .finish();
        let (st, rest) = self.req(Req::Spawn, body);
        if st < 0 {
            return (st, vec![]);
        }
        let mut r = Reader::new(&rest);
        let started = r.int().unwrap();
        let tids = (0..ntask).map(|_| r.int().unwrap()).collect();
        (started, tids)
    }

    fn status(&mut self, code: Req, arg: i32) -> i32 {
        self.req(code, Writer::new().int(arg).finish()).0
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + TIMEOUT;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn log_text(files: &DaemonFiles) -> String {
    std::fs::read_to_string(&files.log).unwrap_or_default()
}

#[test]
fn connect_config_and_tasks() {
    let tmp = TmpDir::new("conf");
    let d = Daemon::start(&tmp);
    let mut a = d.client();
    let mut b = d.client();
    assert_eq!(a.hello(0), (0x40001, Error::NoParent.code(), DTID, vec![]));
    assert_eq!(b.hello(0).0, 0x40002);

    let (st, rest) = a.req(Req::Config, vec![]);
    assert_eq!(st, 0);
    let mut r = Reader::new(&rest);
    assert_eq!((r.int().unwrap(), r.int().unwrap()), (1, 1));
    assert_eq!(
        r.int().unwrap(),
        HOST,
        "pvm_config shows the host part, like the original's 40000"
    );
    assert_eq!(r.str().unwrap(), pvm3::os::hostname());
    assert_eq!(r.str().unwrap(), pvm3::paths::ARCH);
    assert_eq!(r.int().unwrap(), 1000);
    assert_eq!(r.int().unwrap(), 0x0040_8c41);
    // After the hosts: the host timeout (60 s unless set) and the hosts the
    // daemon suspects (none); pvm_config reads no further.
    let timeout = std::env::var("PVM6_HOST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(60, |t| t.max(5));
    assert_eq!((r.int().unwrap(), r.int().unwrap()), (timeout, 0));
    assert!(r.is_empty());

    // Tasks: all, by host (both spellings), one, unknown.
    for w in [0, HOST, DTID] {
        let (st, rest) = a.req(Req::Tasks, Writer::new().int(w).finish());
        assert_eq!(st, 0);
        let mut r = Reader::new(&rest);
        assert_eq!(r.int().unwrap(), 2);
        let t1: Vec<i32> = (0..4).map(|_| r.int().unwrap()).collect();
        assert_eq!(
            t1,
            vec![0x40001, 0, HOST, 0x4],
            "hand-started: connected flag only"
        );
        assert_eq!(
            r.str().unwrap(),
            "",
            "hand-started tasks have a blank a.out"
        );
    }
    let (st, rest) = a.req(Req::Tasks, Writer::new().int(0x40002).finish());
    assert_eq!((st, Reader::new(&rest).int().unwrap()), (0, 1));
    assert_eq!(a.status(Req::Tasks, 0x40077), Error::NoTask.code());
    assert_eq!(a.status(Req::Tasks, 0x80000), Error::NoHost.code());

    // Pstat, Mstat, contexts.
    assert_eq!(a.status(Req::Pstat, 0x40002), 0);
    assert_eq!(a.status(Req::Pstat, DTID), 0);
    assert_eq!(a.status(Req::Pstat, 0x40077), Error::NoTask.code());
    let mstat = |c: &mut Client, n: &str| c.req(Req::Mstat, Writer::new().str(n).finish()).0;
    assert_eq!(mstat(&mut a, &pvm3::os::hostname()), 0);
    assert_eq!(mstat(&mut a, "localhost"), 0);
    assert_eq!(mstat(&mut a, "127.0.0.1"), 0);
    assert_eq!(mstat(&mut a, "no-such-host.invalid"), Error::NoHost.code());
    let ctx = |c: &mut Client| {
        let (st, rest) = c.req(Req::NewContext, vec![]);
        assert_eq!(st, 0);
        Reader::new(&rest).int().unwrap()
    };
    let (c1, c2) = (ctx(&mut a), ctx(&mut b));
    assert!(c1 != 0 && c2 != 0 && c1 != c2);
    assert_eq!(a.status(Req::FreeContext, c1), 0);
    assert_eq!(a.status(Req::FreeContext, c1), Error::BadParam.code());

    // Exit: the task is gone for everyone.
    assert_eq!(b.req(Req::Exit, vec![]).0, 0);
    assert_eq!(a.status(Req::Pstat, 0x40002), Error::NoTask.code());
    // A third connection gets a fresh number.
    assert_eq!(d.client().hello(0).0, 0x40003);
}

#[test]
fn messages_are_routed_in_order_and_checked() {
    let tmp = TmpDir::new("route");
    let d = Daemon::start(&tmp);
    let mut a = d.client();
    let mut b = d.client();
    a.hello(0);
    b.hello(0);
    let n = 1000;
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            a.msg(0x40002, i, format!("message {i}").into_bytes());
        }
        // One with a forged source is dropped; the next one still arrives.
        let forged = Header {
            src: 0x40002,
            dst: 0x40002,
            tag: -1,
            ..Header::new(Kind::Msg)
        };
        a.send(&Frame::new(forged, b"forged".to_vec()));
        a.msg(0x40077, 5, b"nobody".to_vec());
        a.msg(0x40002, 7777, vec![0xab; 64 << 20]);
        a
    });
    for i in 0..n {
        let f = b.recv();
        assert_eq!(f.header.kind, Kind::Msg);
        assert_eq!(
            (f.header.src, f.header.dst, f.header.tag),
            (0x40001, 0x40002, i)
        );
        assert_eq!(f.body, format!("message {i}").into_bytes());
    }
    let big = b.recv();
    assert_eq!(
        big.header.tag, 7777,
        "forged and misaddressed messages are dropped"
    );
    assert_eq!(big.body.len(), 64 << 20);
    assert!(big.body.iter().all(|&x| x == 0xab));
    let mut a = sender.join().unwrap();
    // The sender was not disconnected by its forged frame.
    assert_eq!(a.status(Req::Pstat, 0x40001), 0);
    let log = log_text(&d.files);
    assert!(
        log.contains("[t80040000] message from t40001 claiming src t40002 dropped"),
        "{log}"
    );
}

#[test]
fn message_held_for_spawned_task_until_it_connects() {
    let tmp = TmpDir::new("held");
    let d = Daemon::start(&tmp);
    let mut a = d.client();
    a.hello(0);
    let (n, tids) = a.spawn("/bin/sleep", 0, "", 2, &["30"]);
    assert_eq!(n, 2);
    assert_eq!(tids, vec![0x40002, 0x40003]);
    for i in 0..3 {
        a.msg(0x40002, i, vec![i as u8]);
    }
    let (st, rest) = a.req(Req::Tasks, Writer::new().int(0x40002).finish());
    assert_eq!(st, 0);
    let mut r = Reader::new(&rest);
    assert_eq!(r.int().unwrap(), 1);
    assert_eq!(
        (0..4).map(|_| r.int().unwrap()).collect::<Vec<_>>(),
        vec![0x40002, 0x40001, HOST, 0x2]
    );
    assert_eq!(r.str().unwrap(), "/bin/sleep");
    let pid = r.int().unwrap();
    assert!(pid > 0);
    // This client plays the spawned task presenting its PVM6_TID.
    let mut t = d.client();
    assert_eq!(
        t.hello(0x40002),
        (0x40002, 0x40001, DTID, vec![0x40002, 0x40003])
    );
    for i in 0..3 {
        let f = t.recv();
        assert_eq!(
            (f.header.src, f.header.tag, f.body.clone()),
            (0x40001, i, vec![i as u8])
        );
    }
    // Kill ends the real process; the unconnected sibling is then gone.
    assert_eq!(a.status(Req::Kill, 0x40003), 0);
    wait_until("killed task gone", || {
        a.status(Req::Pstat, 0x40003) == Error::NoTask.code()
    });
    assert_eq!(a.status(Req::Kill, 0x40003), Error::NoTask.code());
    assert_eq!(a.status(Req::Kill, 0x40000), Error::BadParam.code());
}

#[test]
fn spawn_output_goes_to_the_log_and_exit_is_seen() {
    let tmp = TmpDir::new("spawn");
    let d = Daemon::start(&tmp);
    let mut a = d.client();
    a.hello(0);
    let (n, tids) = a.spawn(
        "/bin/sh",
        0,
        "",
        1,
        &[
            "-c",
            "echo hi; echo err >&2; echo \"$PVM6_TID $PWD\"; printf tail",
        ],
    );
    assert_eq!((n, tids.clone()), (1, vec![0x40002]));
    wait_until("task exit", || {
        a.status(Req::Pstat, 0x40002) == Error::NoTask.code()
    });
    wait_until("output in log", || {
        log_text(&d.files).contains("[t40002] tail\n")
    });
    let log = log_text(&d.files);
    assert!(log.contains("[t40002] hi\n"), "{log}");
    assert!(log.contains("[t40002] err\n"), "{log}");
    assert!(
        log.contains(&format!("[t40002] {} {}\n", 0x40002, tmp.0.display())),
        "{log}"
    );

    // Errors per task and per request.
    assert_eq!(
        a.spawn("no-such-program-x", 0, "", 2, &[]),
        (0, vec![Error::NoFile.code(); 2])
    );
    assert_eq!(
        a.spawn("/bin/true", 0, "", 0, &[]).0,
        Error::BadParam.code()
    );
    assert_eq!(
        a.spawn("/bin/true", 1, "no-such-host.invalid", 1, &[]),
        (0, vec![Error::NoHost.code()])
    );
    assert_eq!(
        a.spawn("/bin/true", 2, "SUN4", 1, &[]),
        (0, vec![Error::NoHost.code()])
    );
    assert_eq!(
        a.spawn("/bin/true", 1 | 32, ".", 1, &[]),
        (0, vec![Error::NoHost.code()])
    );
    assert_eq!(a.spawn("/bin/true", 1, ".", 1, &[]).0, 1);
    assert_eq!(a.spawn("/bin/true", 1, "localhost", 1, &[]).0, 1);
    assert_eq!(a.spawn("/bin/true", 2, pvm3::paths::ARCH, 1, &[]).0, 1);
    // PvmNoSpawnParent: the child learns PvmParentNotSet.
    let (_, t) = a.spawn("/bin/sleep", 64, "", 1, &["30"]);
    let mut c = d.client();
    assert_eq!(c.hello(t[0]).1, Error::ParentNotSet.code());
}

#[test]
fn malformed_frame_closes_only_that_connection() {
    let tmp = TmpDir::new("bad");
    let d = Daemon::start(&tmp);
    let mut good = d.client();
    good.hello(0);
    let mut bad = d.client();
    bad.hello(0);
    bad.s.write_all(&[0x51u8; 64]).unwrap();
    assert!(
        read_frame(&mut bad.s).unwrap().is_none(),
        "bad connection closed"
    );
    assert_eq!(good.status(Req::Pstat, 0x40001), 0);
    assert_eq!(good.status(Req::Pstat, 0x40002), Error::NoTask.code());
    let log = log_text(&d.files);
    assert!(
        log.contains("[t80040000] malformed frame from t40002"),
        "{log}"
    );
}

#[test]
fn two_daemons_at_once_leave_one() {
    let tmp = TmpDir::new("two");
    let mut c1 = pvmd3(&tmp).arg("-f").spawn().unwrap();
    let mut c2 = pvmd3(&tmp).arg("-f").spawn().unwrap();
    let end = Instant::now() + TIMEOUT;
    let (loser, survivor) = loop {
        if c1.try_wait().unwrap().is_some() {
            break (c1, c2);
        }
        if c2.try_wait().unwrap().is_some() {
            break (c2, c1);
        }
        assert!(Instant::now() < end, "neither daemon stepped back");
        std::thread::sleep(Duration::from_millis(10));
    };
    // The one that lost the lock says so (man pvmd3's "pvmd already
    // running?") and fails, instead of ending silently with 0.
    let out = loser.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pvmd already running?"), "{err}");
    let d = Daemon {
        child: Some(survivor),
        files: tmp.files(),
    };
    assert!(pvm3::daemon::wait_ready(&d.files, TIMEOUT));
    let pid: u32 = std::fs::read_to_string(&d.files.pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, d.child.as_ref().unwrap().id());
    assert_eq!(d.client().hello(0).0, 0x40001);
}

/// `pvmd3 -f` (and `pvmd3`) with a daemon running: the message names the
/// running daemon's pid; -f fails, the detaching form succeeds (the daemon
/// it would start answers already). A debug mask man pvmd3 does not allow
/// is refused.
#[test]
fn second_pvmd3_says_a_daemon_runs() {
    let tmp = TmpDir::new("second");
    let d = Daemon::start(&tmp);
    let pid = d.child.as_ref().unwrap().id();
    let out = pvmd3(&tmp).arg("-f").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "is held by another pvmd (pid {pid}): pvmd already running?"
        )),
        "{err}"
    );
    let out = pvmd3(&tmp).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("pvmd already running (pid {pid})")),
        "{err}"
    );
    let out = pvmd3(&tmp).args(["-f", "-dff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad debug mask \"ff\""));
    assert_eq!(d.client().hello(0).0, 0x40001);
}

#[test]
fn stale_socket_of_a_killed_daemon_is_replaced() {
    let tmp = TmpDir::new("stale");
    let mut d = Daemon::start(&tmp);
    let mut c = d.child.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(d.files.sock.exists(), "SIGKILL leaves the socket file");
    assert!(UnixStream::connect(&d.files.sock).is_err());
    let d2 = Daemon::start(&tmp);
    assert_eq!(d2.client().hello(0).0, 0x40001);
    let pid: u32 = std::fs::read_to_string(&d2.files.pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, d2.child.as_ref().unwrap().id());
}

/// The pid of every task pvm_tasks(0) lists (0 for the caller, which
/// connected without being spawned).
fn task_pids(a: &mut Client) -> Vec<i32> {
    let (st, rest) = a.req(Req::Tasks, Writer::new().int(0).finish());
    assert_eq!(st, 0);
    let mut r = Reader::new(&rest);
    let mut pids = vec![];
    for _ in 0..r.int().unwrap() {
        for _ in 0..4 {
            r.int().unwrap();
        }
        r.str().unwrap();
        pids.push(r.int().unwrap());
    }
    pids
}

#[test]
fn halt_removes_files_and_terminates_children() {
    let tmp = TmpDir::new("halt");
    let mut d = Daemon::start(&tmp);
    let addr = std::fs::read_to_string(&d.files.addr).unwrap();
    assert!(
        addr.trim().starts_with('[') || addr.contains("0.0.0.0"),
        "{addr}"
    );
    // A one-host machine's port is bound (its number is in pvmd.addr) but
    // does not listen until a host is added (issue 28; tests/bounds.rs
    // has the rest, tests/hardening.rs the garbage on a listening port).
    let port: u16 = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let mut a = d.client();
    a.hello(0);
    let (n, _) = a.spawn("/bin/sleep", 0, "", 1, &["60"]);
    assert_eq!(n, 1);
    // This one ignores SIGTERM and needs the SIGKILL after the grace period.
    let (n, _) = a.spawn(
        "/bin/sh",
        0,
        "",
        1,
        &[
            "-c",
            "trap '' TERM; echo armed; while :; do sleep 0.05; done",
        ],
    );
    assert_eq!(n, 1);
    wait_until("TERM ignored", || {
        log_text(&d.files).contains("[t40003] armed\n")
    });
    let pids = task_pids(&mut a);
    assert_eq!(pids.len(), 3);
    let pids: Vec<i32> = pids.into_iter().filter(|&p| p > 0).collect();
    assert_eq!(pids.len(), 2);
    let t0 = Instant::now();
    assert_eq!(a.req(Req::Halt, vec![]).0, 0);
    assert_eq!(d.wait_exit(TIMEOUT), Some(0));
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "the TERM-proof task waited out the grace"
    );
    for f in [&d.files.sock, &d.files.pid, &d.files.addr] {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    for p in pids {
        assert!(!pvm3::os::process_exists(p), "task pid {p} still running");
    }
}

#[test]
fn insecure_directory_is_refused_and_bad_hostfiles_too() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TmpDir::new("perm");
    let files = tmp.files();
    std::fs::create_dir(&files.dir).unwrap();
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = pvmd3(&tmp).arg("-f").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pvmd: refusing to use"), "{err}");
    assert!(!files.sock.exists());

    // A hostfile that cannot be read, or has a bad line, stops pvmd3 with
    // a message naming it (the hosts of a good one are added at start: tests/multihost.rs).
    let missing = tmp.0.join("no-such-hostfile");
    let out = pvmd3(&tmp).arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pvmd: can't read hostfile"), "{err}");
    let bad = tmp.0.join("hostfile");
    std::fs::write(&bad, "# hosts\nnode2 xx=1\n").unwrap();
    let out = pvmd3(&tmp).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hostfile line 2"), "{err}");
}

#[test]
fn detached_pvmd3_and_embedded_runner_start_a_daemon() {
    // pvmd3 without -f returns once its daemon answers.
    let tmp = TmpDir::new("detach");
    let out = pvmd3(&tmp).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = tmp.files();
    let mut c = Client::connect(&files.sock);
    assert_eq!(c.hello(0).0, 0x40001);
    assert_eq!(c.req(Req::Halt, vec![]).0, 0);
    wait_until("detached daemon gone", || !files.pid.exists());

    // The embedded runner forks the daemon out of this (threaded) test process.
    let tmp2 = TmpDir::new("embed");
    let mut opts = pvm3::daemon::DaemonOptions::from_env();
    opts.files = tmp2.files();
    opts.home = tmp2.0.clone();
    pvm3::daemon::start_background_with(opts).unwrap();
    assert!(pvm3::daemon::wait_ready(&tmp2.files(), TIMEOUT));
    let mut c = Client::connect(&tmp2.files().sock);
    assert_eq!(c.hello(0).0, 0x40001);
    let (n, _) = c.spawn("/bin/sh", 0, "", 1, &["-c", "echo embedded"]);
    assert_eq!(n, 1);
    wait_until("embedded output", || {
        log_text(&tmp2.files()).contains("[t40002] embedded\n")
    });
    let pid: i32 = std::fs::read_to_string(&tmp2.files().pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid as u32, std::process::id());
    assert_eq!(c.req(Req::Halt, vec![]).0, 0);
    wait_until("embedded daemon gone", || !pvm3::os::process_exists(pid));
    assert!(!tmp2.files().sock.exists());
}

#[test]
fn our_pvmd3_is_told_from_the_original() {
    let ours = Path::new(env!("CARGO_BIN_EXE_pvmd3"));
    assert!(pvm3::daemon::embedded::is_our_pvmd3(ours));
    assert!(!pvm3::daemon::embedded::is_our_pvmd3(Path::new("/bin/sh")));
    if Path::new("/usr/bin/pvmd").exists() {
        assert!(!pvm3::daemon::embedded::is_our_pvmd3(Path::new(
            "/usr/bin/pvmd"
        )));
    }
    let out = Command::new(ours).arg("-v").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{} {}\n",
            pvm3::daemon::embedded::PVMD3_MARKER,
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn sigterm_halts_like_the_console_halt() {
    // man pvmd3: a pvmd killed by hand should get SIGTERM "to allow it to
    // kill the remote pvmds and clean up": its tasks go, and its files.
    let tmp = TmpDir::new("sigterm");
    let mut d = Daemon::start(&tmp);
    let mut a = d.client();
    a.hello(0);
    let (n, _) = a.spawn("/bin/sleep", 0, "", 1, &["60"]);
    assert_eq!(n, 1);
    let pids: Vec<i32> = task_pids(&mut a).into_iter().filter(|&p| p > 0).collect();
    assert_eq!(pids.len(), 1, "the sleep task has a pid");
    let daemon_pid = d.child.as_ref().unwrap().id() as i32;
    pvm3::os::kill(daemon_pid, libc::SIGTERM);
    assert_eq!(
        d.wait_exit(TIMEOUT),
        Some(0),
        "a clean exit, not death by signal"
    );
    for f in [&d.files.sock, &d.files.pid, &d.files.addr] {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    for p in pids {
        assert!(!pvm3::os::process_exists(p), "task pid {p} still running");
    }
    assert!(
        log_text(&d.files).contains("halt requested by a signal"),
        "{}",
        log_text(&d.files)
    );
}
