//! `#[repr(C)]` twins of the structures of `pvm3.h` (`struct pvmhostinfo`,
//! `pvmtaskinfo`, `pvmminfo`, `pvmmboxinfo`), laid out exactly as in C.

use std::os::raw::{c_char, c_int};

/// `struct pvmhostinfo`: one host of the virtual machine (pvm_config).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PvmHostInfo {
    /// Tid of the host's daemon.
    pub hi_tid: c_int,
    /// Host name (NUL-terminated, owned by the library).
    pub hi_name: *mut c_char,
    /// Architecture name (NUL-terminated, owned by the library).
    pub hi_arch: *mut c_char,
    /// Relative speed.
    pub hi_speed: c_int,
    /// Data format signature.
    pub hi_dsig: c_int,
}

/// `struct pvmtaskinfo`: one task (pvm_tasks).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PvmTaskInfo {
    /// The task.
    pub ti_tid: c_int,
    /// Its parent.
    pub ti_ptid: c_int,
    /// Tid of its host's daemon.
    pub ti_host: c_int,
    /// State flags.
    pub ti_flag: c_int,
    /// Program name (NUL-terminated, owned by the library).
    pub ti_a_out: *mut c_char,
    /// Process id.
    pub ti_pid: c_int,
}

/// `struct pvmminfo`: header of a message buffer (pvm_getminfo).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PvmMInfo {
    /// Length in bytes.
    pub len: c_int,
    /// Context.
    pub ctx: c_int,
    /// Message tag.
    pub tag: c_int,
    /// Wait id.
    pub wid: c_int,
    /// Encoding.
    pub enc: c_int,
    /// Checksum.
    pub crc: c_int,
    /// Sender.
    pub src: c_int,
    /// Receiver.
    pub dst: c_int,
}

/// `struct pvmmboxinfo`: one mailbox class (pvm_getmboxinfo).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PvmMboxInfo {
    /// Class name (NUL-terminated, owned by the library).
    pub mi_name: *mut c_char,
    /// Number of entries.
    pub mi_nentries: c_int,
    /// `mi_nentries` entry indices.
    pub mi_indices: *mut c_int,
    /// `mi_nentries` owner tids.
    pub mi_owners: *mut c_int,
    /// `mi_nentries` entry flags.
    pub mi_flags: *mut c_int,
}
