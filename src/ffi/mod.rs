//! The C ABI of libpvm3: the exported data, structures and entry points that
//! `include/pvm3.h` declares.
//!
//! Pointer rules, once for the whole layer: every pointer a C caller hands in
//! is checked for NULL before use and is trusted to point at as many elements
//! as the PVM man page of the call says (e.g. `nitem * stride` items for the
//! pack functions); it is only used during the call, never kept. C strings are
//! read up to their NUL and copied. Memory the library hands out (host and task
//! tables, strings) stays owned by the library and valid until the next call
//! of the same kind, as in PVM 3.4. Nothing unwinds into C: panics are caught
//! at the boundary and become `PvmSysErr`.

pub mod boundary;
pub mod buffers;
pub mod fortran;
pub mod globals;
pub mod groups;
pub mod hosts;
pub mod internals;
pub mod lpvm;
pub mod mailbox;
pub mod messaging;
pub mod misc;
pub mod notify;
pub mod pack;
pub mod process;
pub mod trace;
pub mod types;
pub mod varargs;
