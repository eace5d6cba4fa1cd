//! Bounds across hosts (issue 28; docs/HARDENING.md "Bounds"), on
//! namespace hosts with real sshds (tests/common/netns.rs):
//!
//! * the master's largest message (`pvmd3 -m`) is the whole machine's: a
//!   task on a slave, whose own environment says nothing, gets PvmNoMem
//!   above it;
//! * frames waiting for a link to another host that is being set up (its
//!   daemon stopped) make their local sender wait: the daemon holding them
//!   stays under its queue cap, and everything arrives once the link is up;
//! * messages relayed by the master between two slaves that share no
//!   address family, toward a task that is stopped or whose daemon is
//!   stopped: the daemon holding them asks the one that sent them to hold
//!   back (src/daemon/flow.rs), down to the sender's own daemon, whose task
//!   waits; no daemon grows past its cap, no host is suspected or lost, and
//!   everything arrives once, in order, after the stop.
//!
//! The C program is c-tests/trust/tr_bounds.c.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{text, wait_for, Machine, PVMD3};
use netns::HostSpec;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const CAP_MIB: u64 = 16;

fn tr_bounds() -> PathBuf {
    common::repo_root().join("c-tests/trust/tr_bounds.c")
}

fn assert_tap(o: &Output, what: &str, log: &str) {
    let t = text(o);
    assert!(
        o.status.success() && !t.contains("not ok"),
        "{what} failed ({}):\n{t}\n--- log ---\n{log}",
        o.status
    );
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// node1 (master, `-m1m`, `PVM6_QUEUE_CAP=16m`) with node2 and node3 from
/// its hostfile; the remote shell passes the queue cap on (sshd accepts
/// PVM6_*), not the largest message: that the slaves get from the master.
fn machine(prefix: &str) -> Option<Machine> {
    machine_of(
        prefix,
        &[
            HostSpec::v6("node1"),
            HostSpec::v6("node2"),
            HostSpec::v6("node3"),
        ],
    )
}

/// [`machine`] on hosts `specs` (node1, node2, node3).
fn machine_of(prefix: &str, specs: &[HostSpec]) -> Option<Machine> {
    let m = Machine::new(prefix, specs, &[tr_bounds()])?;
    let rsh = m.work.join("rsh");
    fs::write(
        &rsh,
        format!(
            "#!/bin/sh\nexec ssh -F '{}' -o SendEnv=PVM6_QUEUE_CAP \"$@\"\n",
            m.c.ssh_config().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rsh, fs::Permissions::from_mode(0o755)).unwrap();
    let hf = m.hostfile(&["node2", "node3"]);
    let out = m.c.exec_timeout(
        "node1",
        &format!(
            "PVM6_QUEUE_CAP={CAP_MIB}m PVM_RSH={} {PVMD3} -d1 -m1m {} </dev/null >/dev/null 2>&1",
            rsh.display(),
            hf.display()
        ),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "pvmd3 on node1 failed: {out:?}");
    Some(m)
}

fn logs(m: &Machine) -> String {
    ["node1", "node2", "node3"]
        .iter()
        .map(|h| format!("--- {h} ---\n{}", m.log(h)))
        .collect()
}

#[test]
fn slaves_take_the_masters_largest_message() {
    let Some(m) = machine("bdh-max") else {
        return;
    };
    // On the master first: it serves tasks once its hosts are added.
    for host in ["node1", "node2", "node3"] {
        let out = m.run(host, "tr_bounds", "limit 1048576", Duration::from_secs(60));
        assert_tap(&out, &format!("tr_bounds limit on {host}"), &logs(&m));
    }
    let cmdline: String = m
        .daemons_on("node2")
        .iter()
        .map(|p| fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    assert!(
        cmdline.contains("maxmsg=1048576"),
        "the slave's command line: {cmdline}"
    );
}

#[test]
fn frames_waiting_for_a_host_link_make_the_sender_wait() {
    let Some(m) = machine("bdh-wait") else {
        return;
    };
    // 400 messages of 256 KiB (100 MiB) from node2 to a task on node3, sent
    // while node3's daemon is stopped: node2's daemon opens its link to
    // node3 (first frame between them) and cannot finish it.
    let (n, len) = (400u32, 256 * 1024u32);
    let tid_file = m.work.join("sink.tid");
    let recv = m.c.spawn(
        "node1",
        &format!(
            "{}/tr_bounds recvhost node3 {n} {len} {} 2>&1",
            m.bin.display(),
            tid_file.display()
        ),
    );
    let tid = wait_for(&tid_file, "the receiver's tid", Duration::from_secs(60));
    let tid = tid.trim().to_string();
    assert_eq!(m.c.signal_in("node3", "pvmd3", "STOP"), 1, "node3's daemon");
    let node2 = m.daemons_on("node2");
    assert_eq!(node2.len(), 1, "node2's daemon: {node2:?}");
    let pid = node2[0];
    let idle = rss_kib(pid);
    let stop = AtomicBool::new(false);
    let peak = AtomicU64::new(idle);
    let sent = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let sender = s.spawn(|| {
            m.c.exec_timeout(
                "node2",
                &format!(
                    "PVM6_FEEDS=0 {}/tr_bounds sendto {tid} {n} {len} 2>&1",
                    m.bin.display()
                ),
                Duration::from_secs(240),
            )
        });
        // Long enough for the sender to fill far more than the cap, well
        // under the host timeout (60 s).
        std::thread::sleep(Duration::from_secs(6));
        let waited = !sender.is_finished();
        assert_eq!(m.c.signal_in("node3", "pvmd3", "CONT"), 1);
        let out = sender.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        (out, waited)
    });
    let (out, waited) = sent;
    assert_tap(&out, "tr_bounds sendto", &logs(&m));
    let got = recv.wait_with_output().unwrap();
    assert_tap(&got, "tr_bounds recvhost", &logs(&m));
    let peak = peak.load(Ordering::Relaxed);
    eprintln!(
        "{} MiB for a host whose link was being set up, cap {CAP_MIB} MiB: node2's daemon VmRSS idle {idle} KiB, peak {peak} KiB (+{} KiB); sender still waiting when node3 resumed: {waited}",
        (u64::from(n) * u64::from(len)) >> 20,
        peak.saturating_sub(idle)
    );
    assert!(waited, "the sender did not wait for the link");
    assert!(
        peak < idle + (3 * CAP_MIB + 16) * 1024,
        "node2's daemon held more than the cap: {idle} -> {peak} KiB"
    );
    let log = m.log("node1");
    assert!(!log.contains("lost host"), "{log}");
}

/// The VmRSS of `pid` sampled every 20 ms while `f` runs: (before, peak).
fn rss_during<T>(pids: &[u32], f: impl FnOnce() -> T) -> (T, Vec<(u64, u64)>) {
    let idle: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();
    let peaks: Vec<AtomicU64> = idle.iter().map(|k| AtomicU64::new(*k)).collect();
    let stop = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for (p, peak) in pids.iter().zip(&peaks) {
                    peak.fetch_max(rss_kib(*p), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        out
    });
    let got = idle
        .into_iter()
        .zip(peaks.iter().map(|p| p.load(Ordering::Relaxed)))
        .collect();
    (out, got)
}

/// The daemon of `host`, once it runs (at most 60 s).
fn daemon_of(m: &Machine, host: &str) -> u32 {
    let mut d = Vec::new();
    for _ in 0..600 {
        d = m.daemons_on(host);
        let log = m.log(host);
        let up = log.contains("joined the machine") || log.contains("host(s) in the machine");
        if d.len() == 1 && up {
            return d[0];
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{host}'s daemon: {d:?}\n{}", logs(m));
}

/// One round: 200 MiB from a task on node2 (with `env`) to a task on
/// node3, while what `pattern` names on node3 is stopped for 8 s (well
/// under the host timeout, 60 s). Asserts that everything arrived once, in
/// order, intact, that the sender waited, that no daemon grew past about
/// the cap and no host was lost (nor, unless `stall` names a daemon that
/// stops, suspected). `way` and `what` describe it in the output.
fn round(m: &Machine, n_round: usize, way: &str, what: &str, pattern: &str, env: &str) {
    let (n, len) = (800u32, 256 * 1024u32);
    let mib = (u64::from(n) * u64::from(len)) >> 20;
    let daemons = [
        daemon_of(m, "node1"),
        daemon_of(m, "node2"),
        daemon_of(m, "node3"),
    ];
    let tid_file = m.work.join(format!("sink{n_round}.tid"));
    let recv = m.c.spawn(
        "node1",
        &format!(
            "{}/tr_bounds recvhost node3 {n} {len} {} 2>&1",
            m.bin.display(),
            tid_file.display()
        ),
    );
    let tid = wait_for(&tid_file, "the receiver's tid", Duration::from_secs(60));
    let tid = tid.trim().to_string();
    // The receiver is enrolled once its tid is known; let it reach its
    // first pvm_recv.
    std::thread::sleep(Duration::from_millis(500));
    let before = logs(m).len();
    assert_eq!(m.c.signal_in("node3", pattern, "STOP"), 1, "{what}");
    let ((out, waited), rss) = rss_during(&daemons, || {
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                m.c.exec_timeout(
                    "node2",
                    &format!(
                        "{env} {}/tr_bounds sendto {tid} {n} {len} 2>&1",
                        m.bin.display()
                    ),
                    Duration::from_secs(240),
                )
            });
            // Far more than the cap could be sent meanwhile.
            std::thread::sleep(Duration::from_secs(8));
            let waited = !sender.is_finished();
            assert_eq!(m.c.signal_in("node3", pattern, "CONT"), 1);
            (sender.join().unwrap(), waited)
        })
    });
    assert_tap(&out, "tr_bounds sendto", &logs(m));
    let got = recv.wait_with_output().unwrap();
    assert_tap(&got, "tr_bounds recvhost", &logs(m));
    let growth: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .zip(&rss)
        .map(|(h, (idle, peak))| {
            format!("{h} {idle} -> {peak} KiB (+{})", peak.saturating_sub(*idle))
        })
        .collect();
    eprintln!(
        "{mib} MiB from node2 to node3 {way}, {what} stopped 8 s, cap {CAP_MIB} MiB: daemons' VmRSS {}; sender still waiting when resumed: {waited}",
        growth.join(", ")
    );
    assert!(waited, "the sender did not wait ({what} stopped)");
    // What may still come after the queue went over the cap: the cap
    // itself, what each daemon on the way had queued toward the next one
    // before the Busy reached it (about a cap per hop), the sockets'
    // buffers and the allocator's slack: five caps and 16 MiB, well under
    // the 200 MiB sent (every byte of which stayed before flow control).
    for ((h, (idle, peak)), g) in ["node1", "node2", "node3"].iter().zip(&rss).zip(&growth) {
        assert!(
            *peak < idle + (5 * CAP_MIB + 16) * 1024,
            "{h}'s daemon held more than the cap ({what} stopped): {g}"
        );
    }
    let all = logs(m);
    assert!(!all.contains("lost host"), "{all}");
    if pattern != "pvmd3" {
        // Every link was read all along: no host fell silent.
        let new = all.get(before..).unwrap_or(&all);
        assert!(!new.contains("suspected"), "{all}");
    }
}

#[test]
fn relayed_messages_make_the_far_sender_wait() {
    // node2 (IPv4 only) and node3 (IPv6 only) share no address family: the
    // master, node1 (dual stack), relays between them.
    let specs = [
        HostSpec::dual("node1"),
        HostSpec::v4("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(m) = machine_of("bdh-relay", &specs) else {
        return;
    };
    let way = "relayed by node1";
    round(&m, 0, way, "the receiving task", "sinkchild", "");
    round(&m, 1, way, "node3's daemon", "pvmd3", "");
}

#[test]
fn a_stopped_receiver_makes_its_remote_sender_wait() {
    let Some(m) = machine("bdh-far") else {
        return;
    };
    round(&m, 0, "on a feed", "the receiving task", "sinkchild", "");
    round(
        &m,
        1,
        "over the daemons' link",
        "the receiving task",
        "sinkchild",
        "PVM6_FEEDS=0",
    );
}
