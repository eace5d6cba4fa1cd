//! Tests of the Slurm harness (tests/common/slurm.rs): a real 3-node Slurm
//! on namespace hosts comes up idle, runs steps on every node, gives
//! allocations whose SLURM_JOB_NODELIST pvm6's hostlist code expands to the
//! nodes, runs `srun --overlap` steps beside a step holding every CPU, and
//! leaves no process behind when dropped, also after a panic.
//! Skips loudly without Slurm (or namespace support); fails under CI=true.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/slurm.rs"]
mod slurm;

use pvm3::launch::hostlist;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Writes straight to stderr (shown even when the test passes).
fn say(text: &str) {
    let _ = std::io::stderr().write_all(format!("{text}\n").as_bytes());
}

fn lines_sorted(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    v.sort();
    v
}

/// What must be gone once a cluster is dropped: its processes (pid and
/// command name, so that a reused pid is not mistaken for one), its
/// directory and its /run link.
struct Leftovers {
    procs: Vec<(u32, String)>,
    dir: PathBuf,
    link: PathBuf,
}

fn comm(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Zombies are gone for our purposes.
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    if state == "Z" {
        return None;
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

impl Leftovers {
    fn of(s: &slurm::SlurmCluster) -> Leftovers {
        let mut pids = s.processes();
        pids.extend(s.daemon_pids());
        pids.sort();
        pids.dedup();
        Leftovers {
            procs: pids
                .into_iter()
                .filter_map(|p| comm(p).map(|c| (p, c)))
                .collect(),
            dir: s.dir().to_path_buf(),
            link: s.conf().parent().unwrap().to_path_buf(),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.procs.iter().map(|(_, c)| c.as_str()).collect()
    }

    /// Asserts (waiting up to 10 s) that none of it remains.
    fn assert_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let alive: Vec<&(u32, String)> = self
                .procs
                .iter()
                .filter(|(p, c)| comm(*p).as_deref() == Some(c.as_str()))
                .collect();
            let left_dir = self.dir.exists();
            let left_link = fs::symlink_metadata(&self.link).is_ok();
            if alive.is_empty() && !left_dir && !left_link {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left after drop: processes {alive:?}, dir {} ({left_dir}), link {} ({left_link})",
                self.dir.display(),
                self.link.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn three_node_slurm_runs_steps_and_allocations_and_goes_away() {
    let t0 = Instant::now();
    let Some(s) = slurm::require("slurm", 3) else {
        return;
    };
    let total = t0.elapsed();
    say(&format!(
        "slurm_harness: 3 namespace hosts in {:?}, Slurm up (munged, slurmctld, 3 slurmd, all idle) in {:?}, {:?} in all",
        s.net().setup_time(),
        s.bringup_time(),
        total
    ));

    // sinfo: every node idle with the configured CPUs.
    let sinfo = s.exec_ok("node1", "sinfo -h -N -o '%N %t %c %P'");
    assert_eq!(
        lines_sorted(&sinfo),
        vec![
            "node1 idle 2 debug*",
            "node2 idle 2 debug*",
            "node3 idle 2 debug*"
        ],
        "sinfo:\n{sinfo}"
    );

    // A step on every node, from any node.
    let t = Instant::now();
    let out = s.exec_ok("node2", "srun -N3 hostname");
    say(&format!(
        "slurm_harness: `srun -N3 hostname` took {:?}",
        t.elapsed()
    ));
    assert_eq!(lines_sorted(&out), vec!["node1", "node2", "node3"]);

    // An allocation: its node list is a hostlist expression that expands to
    // the three nodes; its CPU list pairs with it. Under CR_Core a job gets
    // the CPUs it asks for, not the node's: plain `salloc -N3` holds one CPU
    // per node, `-n4` three or four... so ask for whole nodes here.
    let out = s.exec_ok(
        "node1",
        "salloc -N3 --exclusive sh -c 'echo \"$SLURM_JOB_NODELIST\"; echo \"$SLURM_JOB_CPUS_PER_NODE\"; \
         echo \"$SLURM_JOB_NUM_NODES\"; echo \"$SLURM_JOB_ID\"'",
    );
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 4, "salloc printed {out:?}");
    say(&format!(
        "slurm_harness: SLURM_JOB_NODELIST={} SLURM_JOB_CPUS_PER_NODE={}",
        v[0], v[1]
    ));
    assert_eq!(
        hostlist::expand(v[0]).unwrap(),
        vec!["node1", "node2", "node3"],
        "SLURM_JOB_NODELIST {:?}",
        v[0]
    );
    assert_eq!(
        hostlist::allocation(v[0], v[1]).unwrap(),
        vec![
            ("node1".to_string(), slurm::CPUS_PER_NODE),
            ("node2".to_string(), slurm::CPUS_PER_NODE),
            ("node3".to_string(), slurm::CPUS_PER_NODE),
        ]
    );
    assert_eq!(v[2], "3");
    assert!(v[3].parse::<u32>().is_ok(), "SLURM_JOB_ID {:?}", v[3]);

    // Uneven CPU counts: 4 tasks on 3 nodes. Slurm writes the list
    // compressed (e.g. `2,1(x2)`); it pairs with the nodes and sums to 4.
    let out = s.exec_ok(
        "node1",
        "salloc -N3 -n4 sh -c 'echo \"$SLURM_JOB_NODELIST\"; echo \"$SLURM_JOB_CPUS_PER_NODE\"; \
         echo \"$SLURM_TASKS_PER_NODE\"'",
    );
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 3, "salloc printed {out:?}");
    say(&format!(
        "slurm_harness: -N3 -n4: SLURM_JOB_CPUS_PER_NODE={} SLURM_TASKS_PER_NODE={}",
        v[1], v[2]
    ));
    for counts in [v[1], v[2]] {
        let a = hostlist::allocation(v[0], counts).unwrap();
        assert_eq!(
            a.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
            vec!["node1", "node2", "node3"]
        );
        assert_eq!(a.iter().map(|(_, c)| c).sum::<u32>(), 4, "{counts}");
        assert!(a.iter().all(|(_, c)| *c >= 1), "{counts}");
    }

    // Inside an allocation: a step holding every CPU of every node, then a
    // plain step (which must wait: no CPU is free) and an --overlap step
    // (which runs at once on all three nodes).
    let script = r#"
set -u
f=$(mktemp)
srun -N3 --ntasks-per-node=1 --cpus-per-task=2 sh -c 'echo "busy $(hostname)"; exec sleep 60' >"$f" 2>&1 &
busy=$!
i=0
while [ "$(grep -c '^busy' "$f")" -lt 3 ]; do
  i=$((i+1)); [ $i -gt 300 ] && { echo "busy step did not start:"; cat "$f"; exit 1; }
  sleep 0.1
done
timeout 4 srun -N3 hostname >/dev/null 2>&1
echo "plain=$?"
srun --overlap -N3 hostname | sort | sed 's/^/overlap /'
kill $busy; wait $busy
echo "done"
"#;
    let t = Instant::now();
    let out = s.exec_ok(
        "node1",
        &format!(
            "salloc -N3 --exclusive sh -c '{}'",
            script.replace('\'', "'\\''")
        ),
    );
    say(&format!(
        "slurm_harness: overlap job took {:?}",
        t.elapsed()
    ));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "plain=124",
            "overlap node1",
            "overlap node2",
            "overlap node3",
            "done"
        ],
        "salloc script output:\n{out}\n{}",
        s.logs()
    );

    // The jobs are over: nothing queued, every node idle again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = s.exec_ok("node1", "squeue -h -o '%i %T'");
        let i = s.exec_ok("node1", "sinfo -h -N -o '%t'");
        if q.trim().is_empty() && i.lines().all(|l| l == "idle") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs left after salloc ended: squeue {q:?}, sinfo {i:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // After drop: no process of the test's Slurm (nor the hosts) remains.
    let left = Leftovers::of(&s);
    for daemon in ["munged", "slurmctld", "slurmd"] {
        assert!(
            left.names().contains(&daemon),
            "{daemon} not among the cluster's processes {:?}",
            left.procs
        );
    }
    let t = Instant::now();
    drop(s);
    say(&format!("slurm_harness: teardown took {:?}", t.elapsed()));
    left.assert_gone();
}

#[test]
fn slurm_is_removed_after_a_panic() {
    if slurm::prerequisites().is_err() {
        // The other test reports the skip (or fails under CI).
        return;
    }
    let seen: std::sync::Mutex<Option<Leftovers>> = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(s) = slurm::require("slurmpanic", 2) else {
            return;
        };
        // A step that would outlive its srun if nobody killed it.
        let out = s.exec_ok(
            "node1",
            "srun -N2 sh -c 'hostname; exec sleep 300' >/dev/null 2>&1 & sleep 0.5; \
             i=0; until [ \"$(squeue -h -t R | wc -l)\" -ge 1 ] || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.1; done; \
             squeue -h -t R -o '%D'",
        );
        assert_eq!(out.trim(), "2", "the sleep job is not running");
        *seen.lock().unwrap() = Some(Leftovers::of(&s));
        panic!("deliberate panic with Slurm running");
    }));
    let Some(left) = seen.lock().unwrap().take() else {
        // Skipped (namespaces unavailable): require() reported it.
        return;
    };
    assert!(result.is_err(), "the closure was meant to panic");
    assert!(
        left.names().contains(&"slurmstepd"),
        "no slurmstepd seen: {:?}",
        left.procs
    );
    left.assert_gone();
}

/// Slurm 22.05 on IPv6-only hosts, with `CommunicationParameters=EnableIPv6`
/// (the way pvm6's own daemons talk).
#[test]
fn ipv6_only_slurm_runs_steps() {
    let s = match slurm::SlurmCluster::new_ipv6_only("slurm6", 2) {
        Ok(s) => s,
        Err(skip) => {
            netns::report_skip("Slurm test `slurm6`", &skip);
            return;
        }
    };
    say(&format!(
        "slurm_harness: IPv6-only: Slurm up in {:?}",
        s.bringup_time()
    ));
    assert!(s.net().hosts().iter().all(|h| h.addr4.is_none()));
    let out = s.exec_ok("node2", "srun -N2 hostname");
    assert_eq!(lines_sorted(&out), vec!["node1", "node2"]);
    let out = s.exec_ok(
        "node1",
        "salloc -N2 sh -c 'echo \"$SLURM_JOB_NODELIST\"; srun --overlap -N2 hostname | sort'",
    );
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 3, "salloc printed {out:?}");
    assert_eq!(hostlist::expand(v[0]).unwrap(), vec!["node1", "node2"]);
    assert_eq!(v[1..], ["node1", "node2"]);
    let left = Leftovers::of(&s);
    drop(s);
    left.assert_gone();
}
