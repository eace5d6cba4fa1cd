//! Which launcher starts a slave daemon (`PVM6_LAUNCHER`, the hostfile's
//! `launcher=`), and the allocation a batch system gave the job (Slurm's
//! `SLURM_*` variables, PBS/Torque's node file), read through a getter so
//! that nothing here touches the live environment. docs/LAUNCH.md.

use super::hostlist;
use super::pbs;
use std::fmt;

/// The mailbox class where the master puts [`Allocation::describe`] of the
/// allocation it built the machine from (the console's `conf` shows it).
pub const MBOX_CLASS: &str = "pvm6.allocation";

/// How slave daemons are started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Launcher {
    /// Slurm inside a Slurm allocation, else the remote shell.
    #[default]
    Auto,
    /// The remote shell (`$PVM_RSH`, ssh by default), one per host.
    Ssh,
    /// One `srun` step inside the allocation, one task per node.
    Slurm,
}

impl Launcher {
    /// `ssh` (or `rsh`), `slurm` (or `srun`), `auto`; case-insensitive.
    pub fn parse(s: &str) -> Result<Launcher, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Launcher::Auto),
            "ssh" | "rsh" => Ok(Launcher::Ssh),
            "slurm" | "srun" => Ok(Launcher::Slurm),
            _ => Err(format!(
                "unknown launcher \"{s}\" (ssh, slurm or auto expected)"
            )),
        }
    }

    /// What `Auto` means where `slurm` is the job's Slurm allocation (if
    /// any): Slurm inside an allocation, else ssh.
    pub fn resolve(self, in_slurm: bool) -> Launcher {
        match self {
            Launcher::Auto if in_slurm => Launcher::Slurm,
            Launcher::Auto => Launcher::Ssh,
            l => l,
        }
    }
}

impl fmt::Display for Launcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Launcher::Auto => "auto",
            Launcher::Ssh => "ssh",
            Launcher::Slurm => "slurm",
        })
    }
}

/// The batch system an allocation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Slurm,
    Pbs,
}

/// A batch job's allocation: its nodes, each with the CPUs (Slurm) or
/// slots (PBS) it holds there, in the order the batch system lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub system: System,
    /// The job id (`SLURM_JOB_ID`, `PBS_JOBID`).
    pub job: String,
    /// The node list as given (`SLURM_JOB_NODELIST`, or the node file's path).
    pub source: String,
    pub nodes: Vec<(String, u32)>,
}

impl Allocation {
    /// The Slurm allocation the environment `env` describes, if any:
    /// `SLURM_JOB_ID` and `SLURM_JOB_NODELIST` (else `SLURM_NODELIST`),
    /// with `SLURM_JOB_CPUS_PER_NODE` (one CPU per node when absent).
    pub fn slurm(env: &dyn Fn(&str) -> Option<String>) -> Option<Result<Allocation, String>> {
        let job = env("SLURM_JOB_ID").or_else(|| env("SLURM_JOBID"))?;
        let list = env("SLURM_JOB_NODELIST").or_else(|| env("SLURM_NODELIST"))?;
        let nodes = match env("SLURM_JOB_CPUS_PER_NODE") {
            Some(c) => hostlist::allocation(&list, &c)
                .map_err(|e| format!("SLURM_JOB_NODELIST={list} SLURM_JOB_CPUS_PER_NODE={c}: {e}")),
            None => hostlist::expand(&list)
                .map(|v| v.into_iter().map(|n| (n, 1)).collect())
                .map_err(|e| format!("SLURM_JOB_NODELIST={list}: {e}")),
        };
        Some(nodes.and_then(|nodes| {
            if nodes.is_empty() {
                Err(format!("SLURM_JOB_NODELIST={list} names no node"))
            } else {
                Ok(Allocation {
                    system: System::Slurm,
                    job,
                    source: list,
                    nodes,
                })
            }
        }))
    }

    /// The PBS/Torque job the environment describes, if any: the node file
    /// `PBS_NODEFILE`, read with `read`, one line per CPU slot.
    pub fn pbs(
        env: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Option<Result<Allocation, String>> {
        let path = env("PBS_NODEFILE").filter(|p| !p.is_empty())?;
        let job = env("PBS_JOBID").unwrap_or_default();
        Some(
            read(&path)
                .map_err(|e| format!("PBS_NODEFILE={path}: {e}"))
                .and_then(|t| {
                    pbs::parse_nodefile(&t).map_err(|e| format!("PBS_NODEFILE={path}: {e}"))
                })
                .map(|nodes| Allocation {
                    system: System::Pbs,
                    job,
                    source: path.clone(),
                    nodes,
                }),
        )
    }

    /// The CPUs (slots) of node `name` in the allocation, if it is one of
    /// its nodes (names compared without case, and a node named by its
    /// short name matches the same name with a domain).
    pub fn cpus_of(&self, name: &str) -> Option<u32> {
        self.nodes
            .iter()
            .find(|(n, _)| same_host(n, name))
            .map(|(_, c)| *c)
    }

    /// One line for the console's `conf` and the log:
    /// `Slurm job 42: node[1-3] (3 nodes, 6 CPUs)`.
    pub fn describe(&self) -> String {
        let cpus: u32 = self.nodes.iter().map(|(_, c)| c).sum();
        let n = self.nodes.len();
        match self.system {
            System::Slurm => format!(
                "Slurm job {}: {} ({n} node{}, {cpus} CPU{})",
                self.job,
                self.source,
                if n == 1 { "" } else { "s" },
                if cpus == 1 { "" } else { "s" }
            ),
            System::Pbs => format!(
                "PBS job {}: {} ({n} node{}, {cpus} slot{})",
                if self.job.is_empty() { "?" } else { &self.job },
                self.source,
                if n == 1 { "" } else { "s" },
                if cpus == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Whether two host names name the same node: equal without case, or one
/// is the other's first label (`node1` and `node1.cluster.org`).
pub fn same_host(a: &str, b: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    a.eq_ignore_ascii_case(b) || ((!a.contains('.') || !b.contains('.')) && short(a) == short(b))
}

/// The relative speed (`sp=`) that makes pvm_spawn's default placement,
/// a round robin weighted by speed, follow `cpus` CPUs on a node.
pub fn speed_for_cpus(cpus: u32) -> i32 {
    (cpus.clamp(1, 1000) as i32) * 1000
}

/// The arguments of `srun` starting one slave daemon on each of `nodes` in
/// Slurm job `job`: one step, one task per node, beside the job's other
/// steps (`--overlap`), the master's stdin (the secret) broadcast to every
/// task, a task's failure not killing the others; `program` and `args` are
/// the daemon and its words.
pub fn srun_args(job: &str, nodes: &[String], program: &str, args: &[String]) -> Vec<String> {
    let n = nodes.len().to_string();
    let mut v: Vec<String> = [
        "--overlap",
        "--quiet",
        "--input=all",
        "--kill-on-bad-exit=0",
        "--ntasks-per-node=1",
        "--cpus-per-task=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("--jobid={job}"));
    v.push(format!("--nodes={n}"));
    v.push(format!("--ntasks={n}"));
    v.push(format!("--nodelist={}", nodes.join(",")));
    v.push("--job-name=pvmd3".into());
    v.push(program.to_string());
    v.extend(args.iter().cloned());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn launchers_parse_and_resolve() {
        assert_eq!(Launcher::parse("SLURM"), Ok(Launcher::Slurm));
        assert_eq!(Launcher::parse("srun"), Ok(Launcher::Slurm));
        assert_eq!(Launcher::parse(" ssh "), Ok(Launcher::Ssh));
        assert_eq!(Launcher::parse("auto"), Ok(Launcher::Auto));
        assert!(Launcher::parse("tm")
            .unwrap_err()
            .contains("ssh, slurm or auto"));
        assert_eq!(Launcher::Auto.resolve(true), Launcher::Slurm);
        assert_eq!(Launcher::Auto.resolve(false), Launcher::Ssh);
        assert_eq!(Launcher::Ssh.resolve(true), Launcher::Ssh);
        assert_eq!(Launcher::Slurm.resolve(false), Launcher::Slurm);
    }

    #[test]
    fn slurm_allocation_from_the_environment() {
        let e = env(&[
            ("SLURM_JOB_ID", "42"),
            ("SLURM_JOB_NODELIST", "node[1-3],gpu01"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x3),8"),
        ]);
        let a = Allocation::slurm(&e).unwrap().unwrap();
        assert_eq!(a.job, "42");
        assert_eq!(
            a.nodes,
            vec![
                ("node1".into(), 2),
                ("node2".into(), 2),
                ("node3".into(), 2),
                ("gpu01".into(), 8)
            ]
        );
        assert_eq!(a.cpus_of("NODE2"), Some(2));
        assert_eq!(a.cpus_of("gpu01.cluster.org"), Some(8));
        assert_eq!(a.cpus_of("node9"), None);
        assert_eq!(
            a.describe(),
            "Slurm job 42: node[1-3],gpu01 (4 nodes, 14 CPUs)"
        );
        // Not in an allocation; counts missing; counts that do not fit.
        assert!(Allocation::slurm(&env(&[("SLURM_JOB_ID", "1")])).is_none());
        let one = Allocation::slurm(&env(&[
            ("SLURM_JOB_ID", "1"),
            ("SLURM_JOB_NODELIST", "a,b"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(one.nodes, vec![("a".into(), 1), ("b".into(), 1)]);
        let bad = Allocation::slurm(&env(&[
            ("SLURM_JOB_ID", "1"),
            ("SLURM_JOB_NODELIST", "n[1-3]"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x2)"),
        ]))
        .unwrap()
        .unwrap_err();
        assert!(bad.contains("SLURM_JOB_CPUS_PER_NODE=2(x2)"), "{bad}");
    }

    #[test]
    fn pbs_allocation_from_the_node_file() {
        let e = env(&[("PBS_NODEFILE", "/nf"), ("PBS_JOBID", "7.server")]);
        let read = |p: &str| -> std::io::Result<String> {
            assert_eq!(p, "/nf");
            Ok("n2\nn2\nn1\nn2\n".into())
        };
        let a = Allocation::pbs(&e, &read).unwrap().unwrap();
        assert_eq!(a.nodes, vec![("n2".into(), 3), ("n1".into(), 1)]);
        assert_eq!(a.describe(), "PBS job 7.server: /nf (2 nodes, 4 slots)");
        let missing = |_: &str| -> std::io::Result<String> {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        assert!(Allocation::pbs(&e, &missing).unwrap().is_err());
        assert!(Allocation::pbs(&env(&[]), &read).is_none());
    }

    #[test]
    fn srun_starts_one_task_per_node_beside_other_steps() {
        let v = srun_args(
            "42",
            &["node2".into(), "node3".into()],
            "/x/pvmd3",
            &["-s".into(), "hosts=node2:2,node3:3".into()],
        );
        for want in [
            "--overlap",
            "--input=all",
            "--ntasks-per-node=1",
            "--jobid=42",
            "--nodes=2",
            "--ntasks=2",
            "--nodelist=node2,node3",
        ] {
            assert!(v.iter().any(|a| a == want), "{want} in {v:?}");
        }
        assert_eq!(
            &v[v.len() - 3..],
            ["/x/pvmd3", "-s", "hosts=node2:2,node3:3"]
        );
        assert_eq!(speed_for_cpus(2), 2000);
        assert_eq!(speed_for_cpus(0), 1000);
        assert!(same_host("node1", "Node1.example.org"));
        assert!(!same_host("node1.a", "node1.b"));
    }
}
