//! pvm6: PVM 3.4 (Parallel Virtual Machine) rebuilt in Rust, with daemons
//! that speak IPv6.
//!
//! This crate builds `libpvm3.so`/`libpvm3.a` (every `pvm_*` entry point of
//! PVM 3.4.6's `pvm3.h`), the daemon `pvmd3` and the console `pvm`. The daemon
//! code lives inside the library too, so a program linked with libpvm3 starts
//! its own daemon when it finds none (the embedded runner).
//!
//! Layers, top to bottom (see docs/ARCHITECTURE.md):
//! - [`ffi`]: the C ABI; converts pointers and C strings, catches panics, and
//!   calls the safe API.
//! - [`task`]: the task runtime inside a user's program (connection to the
//!   local daemon, buffers, receive queue).
//! - [`daemon`]: pvmd, the per-host daemon.
//! - [`msg`], [`wire`], [`tid`], [`error`]: the shared vocabulary.
//! - [`auth`]: the handshake that authenticates TCP connections.
//! - [`os`]: the operating system (sockets, descriptor passing, shared
//!   memory, processes, signals), through socket2 and rustix.
//!
//! `unsafe` is denied everywhere but in [`ffi`] and [`os`], and every
//! `unsafe` block there states why it is sound (`// SAFETY:`): the lints
//! `unsafe_code` and `clippy::undocumented_unsafe_blocks` are set in
//! Cargo.toml's `[lints]`, so they hold for every target.

pub mod auth;
pub mod console;
pub mod consts;
pub mod daemon;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod fuzzing;
pub mod hostfile;
pub mod launch;
pub mod msg;
pub mod net;
#[allow(unsafe_code)]
pub mod os;
pub mod paths;
pub mod ring;
pub mod seal;
pub mod sync;
pub mod task;
pub mod tid;
pub mod wire;

pub use error::{Error, Result};
