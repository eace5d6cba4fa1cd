//! Integration tests of the daemon's part in direct routes: the RouteAdd and
//! RouteDelete reports (no reply; each route counted once) and the relay of
//! link offers (Msg frames with the reserved negative tag). The links
//! themselves are tested in c-tests/t_route.c and src/task/direct.rs.

use pvm3::paths::DaemonFiles;
use pvm3::wire::{read_frame, Frame, Header, Kind, Reader, Req, Writer};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DTID: i32 = 0x8004_0000_u32 as i32;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A daemon (`pvmd3 -f -d1`) in a private PVM_TMP; halted and removed on drop.
struct Daemon {
    child: Child,
    tmp: PathBuf,
    files: DaemonFiles,
}

impl Daemon {
    fn start(name: &str) -> Daemon {
        let tmp = std::env::temp_dir().join(format!("pvm6-direct-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pvmd3"))
            .args(["-f", "-d1"])
            .env("PVM_TMP", &tmp)
            .env("HOME", &tmp)
            .env_remove("PVM_VMID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let files = DaemonFiles::new(&tmp, pvm3::os::uid(), None);
        assert!(
            pvm3::daemon::wait_ready(&files, TIMEOUT),
            "daemon did not come up"
        );
        Daemon { child, tmp, files }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.files.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// A raw protocol client.
struct Client {
    s: UnixStream,
    tid: i32,
    wid: i32,
}

impl Client {
    fn enroll(d: &Daemon) -> Client {
        let s = UnixStream::connect(&d.files.sock).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut c = Client { s, tid: 0, wid: 0 };
        let body = Writer::new().int(0).int(0).str("test").finish();
        let (st, rest) = c.req(Req::Connect, body);
        assert_eq!(st, 0);
        c.tid = Reader::new(&rest).int().unwrap();
        c
    }

    fn send(&mut self, kind: Kind, dst: i32, tag: i32, wid: i32, body: Vec<u8>) {
        let h = Header {
            src: self.tid,
            dst,
            tag,
            wid,
            ..Header::new(kind)
        };
        self.s.write_all(&Frame::new(h, body).to_bytes()).unwrap();
    }

    fn recv(&mut self) -> Frame {
        read_frame(&mut self.s).unwrap().expect("connection closed")
    }

    /// A request; the next frame must be its reply. (status, rest).
    fn req(&mut self, code: Req, body: Vec<u8>) -> (i32, Vec<u8>) {
        self.wid += 1;
        self.send(Kind::Req, DTID, code as i32, self.wid, body);
        let f = self.recv();
        assert_eq!(f.header.kind, Kind::Reply);
        assert_eq!((f.header.tag, f.header.wid), (code as i32, self.wid));
        let status = i32::from_be_bytes(f.body[..4].try_into().unwrap());
        (status, f.body[4..].to_vec())
    }

    /// A route report (no reply comes; the Pstat after it proves that).
    fn report(&mut self, code: Req, peer: i32) {
        self.send(
            Kind::Req,
            DTID,
            code as i32,
            0,
            Writer::new().int(peer).finish(),
        );
        let me = self.tid;
        assert_eq!(self.req(Req::Pstat, Writer::new().int(me).finish()).0, 0);
    }
}

fn wait_log(d: &Daemon, what: &str, n: usize) {
    let end = Instant::now() + TIMEOUT;
    while Instant::now() < end {
        if d.log().matches(what).count() == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("log never had {n} x {what:?}:\n{}", d.log());
}

#[test]
fn route_reports_count_once_and_get_no_reply() {
    let d = Daemon::start("reports");
    let mut a = Client::enroll(&d);
    let mut b = Client::enroll(&d);
    let (ta, tb) = (a.tid, b.tid);
    let line = |what: &str| {
        format!(
            "route {} - {} {what}",
            pvm3::tid::fmt(ta),
            pvm3::tid::fmt(tb)
        )
    };
    a.report(Req::RouteAdd, tb);
    b.report(Req::RouteAdd, ta);
    wait_log(&d, &line("added"), 1);
    b.report(Req::RouteDelete, ta);
    a.report(Req::RouteDelete, tb);
    wait_log(&d, &line("deleted"), 1);
    // A bad peer is refused quietly (logged), and the connection stays usable.
    a.report(Req::RouteAdd, ta);
    a.report(Req::RouteAdd, DTID);
    wait_log(&d, &line("added"), 1);
    // A hello is not a daemon request.
    assert_eq!(
        a.req(Req::RouteHello, vec![]).0,
        pvm3::Error::NotImpl.code()
    );
}

#[test]
fn offers_are_relayed_like_messages() {
    let d = Daemon::start("offers");
    let mut a = Client::enroll(&d);
    let mut b = Client::enroll(&d);
    let offer = Writer::new().int(1).str("unix:/x").int(0).int(7).finish();
    a.send(Kind::Msg, b.tid, -50, 0, offer.clone());
    let f = b.recv();
    assert_eq!(
        (f.header.kind, f.header.src, f.header.tag, f.body),
        (Kind::Msg, a.tid, -50, offer)
    );
}
