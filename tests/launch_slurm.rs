//! A virtual machine from a Slurm allocation (issue 30, docs/LAUNCH.md), on
//! the real Slurm of tests/common/slurm.rs: inside `salloc` the first
//! daemon (started by the user's program) builds the machine from the
//! allocation's nodes and starts the slaves with one `srun` step, never the
//! remote shell (the test's PVM_RSH fails loudly and leaves a mark); the
//! console's `conf` names the allocation; placement follows the CPUs the
//! allocation gives each node; a node outside the allocation is refused
//! with PvmCantStart and a log line saying why; when the job ends, no
//! daemon or task is left on any node.

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/slurm.rs"]
mod slurm;

use slurm::SlurmCluster;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PVMD3: &str = env!("CARGO_BIN_EXE_pvmd3");
const CONSOLE: &str = env!("CARGO_BIN_EXE_pvm");

/// The programs built into a directory every host sees, and the failing
/// remote shell.
struct Setup {
    bin: PathBuf,
    rsh_mark: PathBuf,
    env: String,
}

fn setup(s: &SlurmCluster, progs: &[&str]) -> Setup {
    let work = s.dir().join("work");
    let bin = work.join("bin");
    let lib = work.join("lib");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(&lib).unwrap();
    for name in ["libpvm3.so", "libpvm3.so.3"] {
        let _ = symlink(common::lib_dir().join("libpvm3.so"), lib.join(name));
    }
    for p in progs {
        let src = if p.starts_with("mh_") {
            common::repo_root().join(format!("c-tests/multihost/{p}.c"))
        } else {
            common::repo_root().join(format!("c-tests/launch/{p}.c"))
        };
        let mut cmd = Command::new("gcc");
        cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
            .arg(common::include_dir())
            .arg("-o")
            .arg(bin.join(p))
            .arg(&src)
            .arg("-L")
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lpvm3");
        common::run_build(cmd, &format!("compile {}", src.display()));
    }
    let rsh_mark = work.join("rsh-called");
    let rsh = work.join("fail-rsh");
    fs::write(
        &rsh,
        format!(
            "#!/bin/sh\necho \"$(hostname): PVM_RSH $*\" >> '{}'\necho 'launch_slurm: PVM_RSH must not be used inside Slurm' >&2\nexit 1\n",
            rsh_mark.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rsh, fs::Permissions::from_mode(0o755)).unwrap();
    // PVM_DPATH: the slaves' daemon (srun passes the environment on).
    let env = format!(
        "export PVM_RSH='{}' PVM_DPATH='{PVMD3}'; unset PVM6_LAUNCHER;",
        rsh.display()
    );
    Setup { bin, rsh_mark, env }
}

/// Pids of pvm6's daemons and of `prog` on every node.
fn leftovers(s: &SlurmCluster, prog: &str) -> Vec<(String, u32, String)> {
    let mut v = Vec::new();
    for n in s.nodes() {
        for pid in s.net().pids_in(n) {
            let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            if cmd.contains("pvmd3") || cmd.contains(prog) {
                v.push((n.clone(), pid, cmd));
            }
        }
    }
    v
}

fn wait_clean(s: &SlurmCluster, prog: &str, limit: Duration) -> Vec<(String, u32, String)> {
    let end = Instant::now() + limit;
    loop {
        let left = leftovers(s, prog);
        if left.is_empty() || Instant::now() > end {
            if !left.is_empty() {
                for n in s.nodes() {
                    for pid in s.net().pids_in(n) {
                        let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                            .unwrap_or_default();
                        let fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
                            .into_iter()
                            .flatten()
                            .flatten()
                            .filter_map(|e| fs::read_link(e.path()).ok())
                            .map(|p| p.display().to_string())
                            .filter(|p| p.contains("pipe"))
                            .collect();
                        eprintln!("still on {n}: {pid} {cmd} {fds:?}");
                    }
                }
            }
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// node1's daemon log (its private /tmp).
fn master_log(s: &SlurmCluster) -> String {
    let tmp = s.net().host("node1").tmp();
    let mut text = String::new();
    for e in fs::read_dir(tmp).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("pvml.") {
            text += &fs::read_to_string(e.path()).unwrap_or_default();
        }
    }
    text
}

fn lines_of<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = out.lines().filter(|l| l.starts_with(prefix)).collect();
    v.sort();
    v
}

fn no_rsh(st: &Setup) {
    assert!(
        !Path::new(&st.rsh_mark).exists(),
        "the remote shell was used: {}",
        fs::read_to_string(&st.rsh_mark).unwrap_or_default()
    );
}

/// The console's `conf` line naming the Slurm allocation.
fn allocation_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("allocation: Slurm job "))
        .unwrap_or_else(|| panic!("conf shows no allocation:\n{text}"))
}

/// What `ln_place 3` and `conf` print in a three-node job: three hosts,
/// one answer from each, the allocation named, the slaves from one step.
fn three_nodes_answered(text: &str) {
    assert!(text.contains("result nhost 3"), "{text}");
    assert!(text.contains("result answers 3"), "{text}");
    assert_eq!(
        lines_of(text, "result on "),
        [
            "result on node1 1",
            "result on node2 1",
            "result on node3 1"
        ],
        "{text}"
    );
    let conf = allocation_line(text);
    assert!(conf.ends_with(": node[1-3] (3 nodes, 3 CPUs)"), "{conf}");
    assert!(text.contains("with one Slurm step: srun"), "{text}");
}

/// After the job: the remote shell was never used, no daemon or `ln_place`
/// is left on any node, and (`no_jobs`) Slurm holds no job.
fn nothing_left(s: &SlurmCluster, st: &Setup, text: &str, no_jobs: bool) {
    no_rsh(st);
    let left = wait_clean(s, "ln_place", Duration::from_secs(20));
    assert!(
        left.is_empty(),
        "left after the job: {left:?}\n{text}\n--- master log ---\n{}",
        master_log(s)
    );
    if no_jobs {
        let q = s.exec_ok("node1", "squeue -h");
        assert!(q.trim().is_empty(), "jobs left: {q}");
    }
}

#[test]
fn salloc_three_nodes_one_srun_step_no_ssh_nothing_left() {
    let Some(s) = slurm::require("ln-slurm", 3) else {
        return;
    };
    let st = setup(&s, &["ln_place"]);
    let t = Instant::now();
    let out = s.exec_timeout(
        "node1",
        &format!(
            "{} salloc -N3 sh -c '{}/ln_place 3; echo conf | {CONSOLE}; cat /tmp/pvml.*' 2>&1",
            st.env,
            st.bin.display()
        ),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("salloc with the program took {:?}", t.elapsed());
    assert!(
        out.status.success() && !text.contains("not ok"),
        "salloc failed ({}):\n{text}\n{}",
        out.status,
        s.logs()
    );
    three_nodes_answered(&text);
    // salloc -N3 holds one CPU per node: equal speeds.
    assert_eq!(
        lines_of(&text, "result speed "),
        [
            "result speed node1 1000",
            "result speed node2 1000",
            "result speed node3 1000"
        ],
        "{text}"
    );
    // The job ended: the step, every daemon and task with it.
    nothing_left(&s, &st, &text, true);
}

#[test]
fn placement_follows_cpus_and_nodes_outside_are_refused() {
    let Some(s) = slurm::require("ln-slurm2", 3) else {
        return;
    };
    let st = setup(&s, &["ln_place", "mh_add"]);
    // node1 with 2 CPUs, node2 with 1: three tasks go 2 and 1; node3 is
    // not in the job: PvmCantStart (-29), the log says why. A later
    // pvm_halt-free end: the job's end stops the machine.
    let out = s.exec_timeout(
        "node1",
        &format!(
            "{} salloc -w node1,node2 -N2 -n3 sh -c 'echo cpus=$SLURM_JOB_CPUS_PER_NODE; {b}/ln_place 3; {b}/mh_add node3; cat /tmp/pvml.*' 2>&1",
            st.env,
            b = st.bin.display()
        ),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !text.contains("not ok"),
        "salloc failed ({}):\n{text}\n{}",
        out.status,
        s.logs()
    );
    assert!(text.contains("cpus=2,1"), "{text}");
    assert_eq!(
        lines_of(&text, "result speed "),
        ["result speed node1 2000", "result speed node2 1000"],
        "{text}"
    );
    assert_eq!(
        lines_of(&text, "result on "),
        ["result on node1 2", "result on node2 1"],
        "{text}"
    );
    assert!(text.contains("result node3 -29"), "{text}");
    assert!(text.contains("hosts 2"), "{text}");
    assert!(
        text.contains("add node3: not a node of Slurm job"),
        "no reason logged:\n{text}"
    );
    nothing_left(&s, &st, &text, false);
}

#[test]
fn sbatch_job_script_three_answers_in_the_output_file_nothing_left() {
    let Some(s) = slurm::require("ln-sbatch", 3) else {
        return;
    };
    let st = setup(&s, &["ln_place"]);
    let work = s.dir().join("work");
    let out_file = work.join("job.out");
    let script = work.join("job.sh");
    // A user's job script: nothing PVM-specific but the program.
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n#SBATCH --nodes=3\n#SBATCH --output={out}\n#SBATCH --time=2\n{b}/ln_place 3\necho conf | {CONSOLE}\ncat /tmp/pvml.*\n",
            out = out_file.display(),
            b = st.bin.display()
        ),
    )
    .unwrap();
    // --wait: sbatch returns when the job has ended, with its exit code.
    let out = s.exec_timeout(
        "node1",
        &format!("{} sbatch --wait '{}' 2>&1", st.env, script.display()),
        Duration::from_secs(150),
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = fs::read_to_string(&out_file).unwrap_or_default();
    assert!(
        out.status.success() && !text.contains("not ok"),
        "sbatch failed ({}): {said}\n--- job output ---\n{text}\n{}",
        out.status,
        s.logs()
    );
    assert!(said.contains("Submitted batch job "), "{said}");
    three_nodes_answered(&text);
    nothing_left(&s, &st, &text, true);
}

#[test]
fn one_node_job_spawns_locally_and_ends_with_the_job() {
    let Some(s) = slurm::require("ln-one", 2) else {
        return;
    };
    let st = setup(&s, &["ln_place"]);
    // No slave to start: the program's tasks run on node1; the master ties
    // the machine to the job with a step of its own, so the job's end
    // (salloc returning) ends the daemon and every task.
    let out = s.exec_timeout(
        "node1",
        &format!(
            "{} salloc -N1 -w node1 sh -c 'echo nodes=$SLURM_JOB_NODELIST; {}/ln_place 2; echo conf | {CONSOLE}; cat /tmp/pvml.*' 2>&1",
            st.env,
            st.bin.display()
        ),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !text.contains("not ok"),
        "salloc failed ({}):\n{text}\n{}",
        out.status,
        s.logs()
    );
    assert!(text.contains("nodes=node1"), "{text}");
    assert!(text.contains("result nhost 1"), "{text}");
    assert_eq!(
        lines_of(&text, "result speed "),
        ["result speed node1 1000"],
        "{text}"
    );
    assert!(text.contains("result answers 2"), "{text}");
    assert_eq!(
        lines_of(&text, "result on "),
        ["result on node1 2"],
        "{text}"
    );
    let conf = allocation_line(&text);
    assert!(conf.ends_with(": node1 (1 node, 1 CPU)"), "{conf}");
    assert!(
        text.contains("a one-node job: the machine ends with a Slurm step of its own"),
        "{text}"
    );
    nothing_left(&s, &st, &text, true);
    assert!(
        master_log(&s).contains("ended (the allocation ended or the step was cancelled)"),
        "{}",
        master_log(&s)
    );
}
