//! The operating-system module: every system call the core makes that the
//! standard library does not wrap, behind safe functions. Most go through
//! crates made for it — socket2 for sockets and their options, rustix for
//! the rest of the system calls (SCM_RIGHTS, memfd and seals, poll, pidfd,
//! processes) — and what no such crate offers safely is written here with a
//! `SAFETY` comment on each `unsafe` block (fork for the embedded daemon,
//! the signal pipe's handler, SO_PEERCRED, TIOCOUTQ, getifaddrs, the shared
//! mapping of the rings). With `ffi/`, this is the only module
//! allowed `unsafe` (the crate root denies it everywhere else).
//!
//! By concern: [`net`] (TCP listeners and connections, socket options,
//! sends and receives on stream sockets), [`unix`] (descriptor passing and
//! peer credentials on Unix sockets), [`poll`] (readiness waits), [`mem`]
//! (sealed memfds and their shared mappings), [`proc`] (processes, fork,
//! pidfds, the daemon's lock and private files), [`signal`] (dispositions
//! and the signal pipe), [`ifaddrs`] (local interfaces and their
//! addresses), [`spin`] (how long a reader spins before it sleeps);
//! and [`cvars`], the two C-visible variables of libpvm the task runtime
//! reads and writes (`pvmmytid`, `pvmdebmask`: `#[no_mangle]` is unsafe
//! code, and the runtime may not import `ffi`).

pub mod cvars;
pub mod ifaddrs;
pub mod mem;
pub mod net;
pub mod poll;
pub mod proc;
pub mod signal;
pub mod spin;
pub mod tty;
pub mod unix;

pub use ifaddrs::{if_index_to_name, if_name_to_index, interface_addresses, IfAddr};
pub use mem::{sealed_memfd, sealed_size, trim_heap, SharedMap};
pub use net::{
    is_listening, peek, recv_spare, send_nonblocking, send_nosignal, set_socket_buffers,
    start_listening, tcp_bind, tcp_connect, tcp_connect_nonblocking, tcp_listen,
    tcp_listen_dual_stack, unacked_bytes,
};
pub use poll::{poll_many, poll_readable, wait_hangup, Ready};
pub use proc::{
    close_fds_from, exit_now, fork, hostname, kill, nofile_limit, pidfd_open, process_exists,
    reap_child, setsid, stdio_to_dev_null, try_lock_exclusive, uid, wait_pid, write_private, Fork,
    Reaped,
};
pub use signal::{default_sigchld, ignore_sigpipe, signal_pipe};
pub use spin::{spin_allowed, spin_budget, spin_pause};
pub use tty::set_echo;
pub use unix::{peer_cred, recv_with_fds, send_nonblocking_with_fd};
