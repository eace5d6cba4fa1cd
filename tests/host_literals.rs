//! Hosts named by their address literals (the Fidelity issue, item 2), on
//! hosts made of network namespaces with real sshds (tests/common/netns.rs):
//! a hostfile naming hosts `[v6]`, bare `v6`, an IPv4 literal, or a
//! link-local address with its zone (`fe80::...%eth0`), read by the console
//! (`pvm hostfile`) as users do. In every case a task runs on every host, the
//! master's included, named as pvm_config names it, in brackets, and with a
//! working directory (`[v6]:/tmp`); `ps -n`, `delete`, pvm_mstat,
//! pvm_delhosts and pvm_notify take the literals; tasks of different hosts
//! pass a token round (c-tests/multihost/mh_where.c).

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{text, Machine};
use netns::HostSpec;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn mh(name: &str) -> PathBuf {
    machine::program("multihost", name)
}

/// The machine, with `hostname`, `pwd` and `sleep` beside the C programs
/// and a `$PVM_ROOT/bin/LINUX64` that is that same directory.
fn machine(prefix: &str, specs: &[HostSpec]) -> Option<Machine> {
    let m = Machine::new(prefix, specs, &[mh("mh_where"), mh("mh_halt")])?;
    for p in ["hostname", "pwd", "sleep"] {
        symlink(format!("/bin/{p}"), m.bin.join(p)).unwrap();
    }
    let arch = m.work.join("root/bin");
    fs::create_dir_all(&arch).unwrap();
    symlink(&m.bin, arch.join("LINUX64")).unwrap();
    fs::create_dir_all(m.work.join("home")).unwrap();
    Some(m)
}

/// Runs the console on `host` (`pvm ARGS`, commands on its stdin); its
/// output (stdout then stderr) after checking it exited 0.
fn console(m: &Machine, host: &str, args: &str, input: &str) -> String {
    let n = fs::read_dir(&m.work).map(|d| d.count()).unwrap_or(0);
    let input_file = m.work.join(format!("input-{n}"));
    fs::write(&input_file, input).unwrap();
    let script = format!(
        "cd {work} && HOME={work}/home PVM_ROOT={work}/root PVM_ARCH=LINUX64 {pvm} {args} <{input}",
        work = m.work.display(),
        pvm = env!("CARGO_BIN_EXE_pvm"),
        input = input_file.display(),
    );
    let out = m.c.exec_timeout(host, &script, LIMIT);
    let t = text(&out);
    if std::env::var_os("MH_VERBOSE").is_some() {
        eprintln!("--- pvm {args} on {host} ---\n{input}--- output ---\n{t}");
    }
    assert!(
        out.status.success(),
        "console `pvm {args}` on {host} failed ({}):\n{input}\n--- output ---\n{t}\n--- master log ---\n{}",
        out.status,
        m.log(host)
    );
    t
}

/// The output lines of spawned tasks (`[job:tid] text`), as (tid, text).
fn task_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('[')?;
            let (head, text) = rest.split_once("] ")?;
            let (_, t) = head.split_once(':')?;
            Some((t.to_string(), text.to_string()))
        })
        .collect()
}

/// Asserts the console session's output shows `hostname` answering `host`
/// once per entry of `spawns` (the `-where` used) and `pwd` saying /tmp
/// for each of `in_tmp`.
fn assert_ran(out: &str, ran: &[(&str, &str)], in_tmp: usize, ctx: &str) {
    let lines = task_lines(out);
    for (where_, host) in ran {
        assert!(
            lines.iter().any(|(_, t)| t == host),
            "no task answered from {host} (spawn -{where_}):\n{out}\n{ctx}"
        );
    }
    let hosts = lines
        .iter()
        .filter(|(_, t)| ran.iter().any(|(_, h)| h == t))
        .count();
    assert_eq!(hosts, ran.len(), "one answer per spawn:\n{out}\n{ctx}");
    let tmp = lines.iter().filter(|(_, t)| t == "/tmp").count();
    assert_eq!(tmp, in_tmp, "pwd in /tmp per `-host:/tmp`:\n{out}\n{ctx}");
    assert!(
        !out.contains("PvmNoHost") && !out.contains("No such host"),
        "{out}\n{ctx}"
    );
}

/// The task lines of `ps` output naming hosts (first column) for `prog`.
fn ps_hosts(out: &str, prog: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.split_whitespace().nth(2) == Some(prog) || l.trim_end().ends_with(prog))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Runs mh_where on `host` with `args` and checks every TAP line held and
/// every result line is as expected.
fn run_mh_where(m: &Machine, host: &str, args: &str, nhost: i32) -> String {
    let out = m.run(host, "mh_where", args, LIMIT);
    let t = text(&out);
    if std::env::var_os("MH_VERBOSE").is_some() {
        eprintln!("--- mh_where {args} on {host} ---\n{t}");
    }
    assert!(
        out.status.success() && !t.contains("not ok"),
        "mh_where {args} failed ({}):\n{t}\n--- master log ---\n{}",
        out.status,
        m.log(host)
    );
    assert_eq!(machine::result_of(&t, "hosts_spawned"), Some(nhost), "{t}");
    assert_eq!(machine::result_of(&t, "ring"), Some(nhost), "{t}");
    let deleted = (!args.ends_with(" keep")).then_some(1);
    assert_eq!(machine::result_of(&t, "deleted"), deleted, "{t}");
    t
}

/// Halts from the console on `host`; no pvmd3 is left on any host.
fn halt(m: &Machine, host: &str) {
    console(m, host, "", "halt\n");
    let left = m.wait_no_daemons(Duration::from_secs(15));
    assert!(left.is_empty(), "daemons left after halt: {left:?}");
}

#[test]
fn three_ipv6_hosts_named_by_literals() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(m) = machine("lit-v6", &specs) else {
        return;
    };
    let a1 = m.c.host("node1").addr6.unwrap().to_string();
    let a2 = m.c.host("node2").addr6.unwrap().to_string();
    let a3 = m.c.host("node3").addr6.unwrap().to_string();
    let hf = m.hostfile(&["node1", &format!("[{a2}]"), &a3]);
    let input = format!(
        "conf\n\
         spawn -node1 -> hostname\n\
         spawn -[{a1}] -> hostname\n\
         spawn -{a2} -> hostname\n\
         spawn -[{a2}] -> hostname\n\
         spawn -{a3} -> hostname\n\
         spawn -[{a2}]:/tmp -> pwd\n\
         spawn -{a3}:/tmp -> pwd\n\
         spawn -[{a3}] sleep 30\n\
         spawn -{a2} sleep 30\n\
         ps -n[{a3}]\n\
         ps -n{a2}\n"
    );
    let out = console(&m, "node1", &hf.display().to_string(), &input);
    let log = m.log("node1");
    let ctx = format!("--- master log ---\n{log}");
    assert!(out.contains("3 hosts, 1 data format\n"), "{out}\n{ctx}");
    for name in ["node1", a2.as_str(), a3.as_str()] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "conf names {name} as given, without brackets:\n{out}"
        );
    }
    assert!(!out.contains(&format!("[{a2}] ")), "{out}");
    assert_ran(
        &out,
        &[
            ("node1", "node1"),
            (&format!("[{a1}]"), "node1"),
            (&a2, "node2"),
            (&format!("[{a2}]"), "node2"),
            (&a3, "node3"),
        ],
        2,
        &ctx,
    );
    // ps -n with a literal, bracketed or bare: that host's sleep only.
    let sleeps = ps_hosts(&out, "sleep");
    assert_eq!(sleeps, vec![a3.clone(), a2.clone()], "{out}");

    // From a task of a slave (its daemon places the tasks), then from the
    // master's host.
    run_mh_where(&m, "node2", "3 keep", 3);
    run_mh_where(&m, "node1", "3 bracket", 3);

    // The console's delete by a bare literal (node3 went with mh_where).
    let out = console(&m, "node1", "", &format!("delete {a2}\nconf\n"));
    assert!(out.contains("1 successful\n"), "{out}");
    assert!(out.contains(&format!("{a2}  deleted\n")), "{out}");
    assert!(out.contains("1 host, 1 data format\n"), "{out}");
    halt(&m, "node1");
}

#[test]
fn dual_stack_hosts_named_by_ipv6_and_ipv4_literals() {
    // The machine: [v6], an IPv4 literal and a bare v6 (4 hosts).
    let specs = [
        HostSpec::dual("node1"),
        HostSpec::dual("node2"),
        HostSpec::v4("node3"),
        HostSpec::v6("node4"),
    ];
    let Some(m) = machine("lit-dual", &specs) else {
        return;
    };
    let a2 = m.c.host("node2").addr6.unwrap().to_string();
    let a3 = m.c.host("node3").addr4.unwrap().to_string();
    let a4 = m.c.host("node4").addr6.unwrap().to_string();
    let hf = m.hostfile(&["node1", &format!("[{a2}]"), &a3, &a4]);
    let input = format!(
        "conf\n\
         spawn -node1 -> hostname\n\
         spawn -[{a2}] -> hostname\n\
         spawn -{a3} -> hostname\n\
         spawn -{a4} -> hostname\n\
         spawn -{a3}:/tmp -> pwd\n\
         spawn -{a4}:/tmp -> pwd\n\
         spawn -[{a4}]:/tmp -> pwd\n\
         spawn -{a3} sleep 30\n\
         ps -n{a3}\n"
    );
    let out = console(&m, "node1", &hf.display().to_string(), &input);
    let ctx = format!("--- master log ---\n{}", m.log("node1"));
    assert!(out.contains("4 hosts, 1 data format\n"), "{out}\n{ctx}");
    for name in [a2.as_str(), a3.as_str(), a4.as_str()] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "conf names {name}:\n{out}"
        );
    }
    assert_ran(
        &out,
        &[
            ("node1", "node1"),
            (&format!("[{a2}]"), "node2"),
            (&a3, "node3"),
            (&a4, "node4"),
        ],
        3,
        &ctx,
    );
    assert_eq!(ps_hosts(&out, "sleep"), vec![a3.clone()], "{out}");
    // From the IPv4-only slave (IPv6 literals name hosts it cannot reach
    // itself), then from the master, which deletes node4 by its bare literal.
    run_mh_where(&m, "node3", "4 keep", 4);
    run_mh_where(&m, "node1", "4 bare", 4);
    let out = console(&m, "node1", "", &format!("delete {a3}\nconf\n"));
    assert!(out.contains(&format!("{a3}  deleted\n")), "{out}");
    assert!(out.contains("2 hosts, 1 data format\n"), "{out}");
    halt(&m, "node1");
}

#[test]
fn hosts_named_by_link_local_address_with_zone() {
    // Each host calls its link differently, as real machines do: a zone
    // is only meaningful on the host that uses it.
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2").with_if("lan2"),
        HostSpec::v6("node3").with_if("wire3"),
    ];
    let Some(m) = machine("lit-ll", &specs) else {
        return;
    };
    let (h1, h2, h3) = (m.c.host("node1"), m.c.host("node2"), m.c.host("node3"));
    // As the master (node1) names them: fe80::...%eth0.
    let l1 = h1.link_local().unwrap();
    let l2 = h2.link_local_from(h1).unwrap();
    let l3 = h3.link_local_from(h1).unwrap();
    // ssh itself reaches them so (the PVM_RSH wrapper passes the zone on).
    assert_eq!(
        m.c.exec_ok("node1", &format!("\"$PVM_RSH\" {l2} hostname")),
        "node2\n"
    );
    let hf = m.hostfile(&["node1", &l2, &format!("[{l3}]")]);
    let input = format!(
        "conf\n\
         spawn -node1 -> hostname\n\
         spawn -{l1} -> hostname\n\
         spawn -{l2} -> hostname\n\
         spawn -[{l3}] -> hostname\n\
         spawn -[{l2}]:/tmp -> pwd\n\
         spawn -{l3}:/tmp -> pwd\n\
         spawn -{l3} sleep 30\n\
         ps -n{l3}\n"
    );
    // -d1: the daemons log their links (debug level), read below.
    let out = console(&m, "node1", &format!("-d1 {}", hf.display()), &input);
    let log = m.log("node1");
    let ctx = format!("--- master log ---\n{log}");
    assert!(out.contains("3 hosts, 1 data format\n"), "{out}\n{ctx}");
    for name in [l2.as_str(), l3.as_str()] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "conf names {name} with its zone:\n{out}"
        );
    }
    assert_ran(
        &out,
        &[
            ("node1", "node1"),
            (&l1, "node1"),
            (&l2, "node2"),
            (&format!("[{l3}]"), "node3"),
        ],
        2,
        &ctx,
    );
    assert_eq!(ps_hosts(&out, "sleep"), vec![l3.clone()], "{out}");
    // The master's links to them run over the link-local addresses, zone
    // kept.
    for l in [&l2, &l3] {
        assert!(
            log.contains(&format!("at [{l}]:")),
            "no link to [{l}]:\n{log}"
        );
    }
    // The token ring crosses node2 -> node3 (slave to slave, through the
    // zones of the host table); node3 is deleted by [fe80::...%eth0]. On
    // node2 pvm_config's names carry the master's zone (eth0), which node2
    // does not have: its daemon finds the hosts by name all the same.
    run_mh_where(&m, "node2", "3 keep", 3);
    run_mh_where(&m, "node1", "3 bracket", 3);
    // node2 reached node3 itself, over the link-local address the master's
    // host table gave with the master's zone (eth0), turned into node2's
    // own (lan2): node3 saw node2 come from its link-local address.
    let log3 = m.log("node3");
    let l2_at_3 = h2.link_local_from(h3).unwrap();
    assert!(
        log3.lines()
            .any(|l| l.contains(" from t8") && l.contains(&format!(" at [{l2_at_3}]:"))),
        "node2 never connected to node3 by its link-local address:\n{log3}\n--- node2 ---\n{}",
        m.log("node2")
    );
    let out = console(&m, "node1", "", &format!("delete {l2}\nconf\n"));
    assert!(out.contains(&format!("{l2}  deleted\n")), "{out}");
    assert!(out.contains("1 host, 1 data format\n"), "{out}");
    halt(&m, "node1");
}
