//! Task identifiers in PVM 3.4's layout.
//!
//! A tid is a positive 32-bit integer: bits 18..29 (`0x3ffc0000`) name the
//! host, bits 0..17 (`0x3ffff`) the task on that host. The daemon of a host is
//! `0x80000000 | host`; the first host is `0x40000`, so its tasks print as
//! `t40001`, `t40002`, … and its daemon as `t80040000`.

/// The host field of a tid.
pub const HOST_MASK: i32 = 0x3ffc_0000;
/// The local (per-host task) field of a tid.
pub const LOCAL_MASK: i32 = 0x3_ffff;
/// Set in a daemon's tid.
pub const DAEMON_BIT: i32 = i32::MIN; // 0x80000000
/// Shift of the host field.
pub const HOST_SHIFT: u32 = 18;
/// Largest host index (the field has 12 bits; 0 is unused).
pub const MAX_HOSTS: i32 = 0xfff;

/// The host part of `host_index` (1 for the first host, giving 0x40000).
pub fn host_tid(host_index: i32) -> i32 {
    (host_index << HOST_SHIFT) & HOST_MASK
}

/// The daemon tid of the host with part `host` (`host_tid(..)`).
pub fn daemon_tid(host: i32) -> i32 {
    DAEMON_BIT | (host & HOST_MASK)
}

/// The host part of any tid.
pub fn host_of(tid: i32) -> i32 {
    tid & HOST_MASK
}

/// The host index of any tid (1 for the first host).
pub fn host_index(tid: i32) -> i32 {
    (tid & HOST_MASK) >> HOST_SHIFT
}

/// Whether `tid` names a daemon.
pub fn is_daemon(tid: i32) -> bool {
    tid & DAEMON_BIT != 0 && tid & LOCAL_MASK == 0 && tid & HOST_MASK != 0
}

/// Whether `tid` is a bare host part (`0x40000`): how pvm_config names a
/// host's daemon; a message to it goes to that daemon.
pub fn is_host(tid: i32) -> bool {
    tid > 0 && tid & !HOST_MASK == 0
}

/// Whether `tid` can name a task: a host field and a local field, no daemon bit.
pub fn is_task(tid: i32) -> bool {
    tid > 0 && tid & HOST_MASK != 0 && tid & LOCAL_MASK != 0 && tid & !(HOST_MASK | LOCAL_MASK) == 0
}

/// `t40001` style, as PVM prints tids.
pub fn fmt(tid: i32) -> String {
    format!("t{:x}", tid as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_pvm34() {
        assert_eq!(host_tid(1), 0x40000);
        assert_eq!(daemon_tid(0x40000) as u32, 0x8004_0000);
        assert_eq!(fmt(0x40001), "t40001");
        assert_eq!(fmt(daemon_tid(0x40000)), "t80040000");
        assert!(is_task(0x40001));
        assert!(!is_task(0x40000));
        assert!(!is_task(daemon_tid(0x40000)));
        assert!(is_daemon(daemon_tid(0x80000)));
        assert_eq!(host_index(0x80003), 2);
    }
}
