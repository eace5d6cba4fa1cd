//! Starting a virtual machine from a batch system's allocation.
//!
//! For now this holds the pure parsers of what Slurm and PBS/Torque hand a
//! job: Slurm hostlist expressions and per-node counts ([`hostlist`]) and
//! PBS node files ([`pbs`]). No I/O and no environment access happen here;
//! the caller reads `SLURM_JOB_NODELIST`, `PBS_NODEFILE` and so on.
//! docs/LAUNCH.md describes what is accepted.

pub mod hostlist;
pub mod pbs;
