//! pvm_reg_hoster across hosts (network namespaces with real sshds,
//! tests/common/netns.rs): with a hoster registered on the master,
//! pvm_addhosts sends it `SM_STHOST` instead of running the remote shell;
//! the hoster (c-tests/hoster/hoster.c) starts the slave through $PVM_RSH,
//! hands it the secret on its stdin and answers `SM_STHOSTACK` with the
//! slave's reply line or an error name, and the master goes on as after
//! its own start.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use netns::HostSpec;
use std::fs;
use std::time::{Duration, Instant};

use machine::{program, result_of, text, wait_for, Machine, PVMD3};

#[test]
fn addhosts_through_a_registered_hoster() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let progs = [
        program("hoster", "hoster"),
        program("multihost", "mh_add"),
        program("multihost", "mh_halt"),
    ];
    let Some(m) = Machine::new("hoster", &specs, &progs) else {
        return;
    };
    let hf = m.work.join("hostfile");
    fs::write(&hf, format!("* ep={} dx={PVMD3}\nnode1\n", m.bin.display())).unwrap();
    let out = m.c.exec_timeout(
        "node1",
        &format!("{PVMD3} -d1 {} </dev/null >/dev/null 2>&1", hf.display()),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "pvmd3: {out:?}");
    // The hoster serves one SM_STHOST and refuses node3 by name.
    let hout = m.work.join("hoster.out");
    let mut hoster = m.c.spawn(
        "node1",
        &format!(
            "exec {}/hoster 1 -r node3 >{} 2>&1",
            m.bin.display(),
            hout.display()
        ),
    );
    let t = wait_for(&hout, "registered", Duration::from_secs(20));
    assert!(t.contains("registered"), "hoster did not register:\n{t}");

    let out = m.run("node1", "mh_add", "node2 node3", Duration::from_secs(60));
    let added = text(&out);
    let log = m.log("node1");
    assert!(
        out.status.success(),
        "mh_add failed:\n{added}\n--- log ---\n{log}"
    );
    assert_eq!(result_of(&added, "node2"), Some(0x80000), "{added}\n{log}");
    assert_eq!(
        result_of(&added, "node3"),
        Some(-29),
        "the hoster's PvmCantStart:\n{added}"
    );
    assert!(
        added.contains("added 1\n") && added.contains("hosts 2\n"),
        "{added}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = hoster.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = hoster.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let h = fs::read_to_string(&hout).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()) && !h.contains("not ok"),
        "hoster failed ({status:?}):\n{h}\n--- log ---\n{log}"
    );
    // One message listing both hosts, in the order given, with their tids.
    assert!(h.contains("sthost n=2\n"), "{h}");
    assert!(
        h.contains("host 80000 login node2 options '' command exec "),
        "{h}"
    );
    assert!(h.contains("host c0000 login node3 options '' "), "{h}");
    assert!(h.contains("reply 80000 pvm6 1 "), "{h}");
    assert!(h.contains("reply c0000 PvmCantStart"), "{h}");
    assert!(log.contains("asked hoster"), "{log}");
    assert!(
        log.contains("host node2 (LINUX64) added as t80080000"),
        "{log}"
    );

    let out = m.run("node1", "mh_halt", "", Duration::from_secs(30));
    assert!(out.status.success(), "mh_halt: {}", text(&out));
}

#[test]
fn every_hoster_program_is_used() {
    let this = include_str!("hoster.rs");
    let dir = common::repo_root().join("c-tests/hoster");
    for e in fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".c") {
            assert!(
                this.contains(&format!("program(\"hoster\", \"{stem}\")")),
                "c-tests/hoster/{name} is run by no test of tests/hoster.rs"
            );
        }
    }
}
