//! Starting a virtual machine from a batch system's allocation.
//!
//! The pure parsers of what Slurm and PBS/Torque hand a job: Slurm hostlist
//! expressions and per-node counts ([`hostlist`]) and PBS node files
//! ([`pbs`]); the launcher choice and the allocation as the daemon sees it
//! ([`alloc`]); the options pvm6 gives ssh ([`ssh`]). No I/O and no environment access happen here; the caller
//! passes `SLURM_JOB_NODELIST`, `PBS_NODEFILE` and so on.
//! docs/LAUNCH.md describes what is accepted.

pub mod alloc;
pub mod hostlist;
pub mod pbs;
pub mod ssh;
pub mod tree;
