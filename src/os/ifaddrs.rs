//! Local network interfaces: their addresses (getifaddrs) and names and
//! indexes. By hand: rustix has no getifaddrs, and its name/index calls
//! need a socket; nix would be a second system-call crate for three calls.

use std::io;

/// One address of a local network interface, as `getifaddrs` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface name (`eth0`, `lo`, ...).
    pub name: String,
    /// The address (IPv4 or IPv6).
    pub addr: std::net::IpAddr,
    /// IPv6 scope id (the interface index for link-local addresses); 0 for IPv4.
    pub scope_id: u32,
    /// The interface is up (IFF_UP).
    pub up: bool,
    /// The interface is a loopback interface (IFF_LOOPBACK).
    pub loopback: bool,
}

/// Every IPv4/IPv6 address of every local interface (`getifaddrs`), in the
/// kernel's order. Entries of other families (packet sockets) are skipped.
pub fn interface_addresses() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success getifaddrs stores a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to at least a sockaddr header.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int;
        let (addr, scope_id) = match family {
            libc::AF_INET => {
                // SAFETY: the family says this sockaddr is a sockaddr_in; read_unaligned
                // does not assume alignment.
                let sin =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                (std::net::IpAddr::V4(ip), 0)
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this sockaddr is a sockaddr_in6.
                let sin6 =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                (std::net::IpAddr::V6(ip), sin6.sin6_scope_id)
            }
            _ => continue,
        };
        let flags = ifa.ifa_flags as libc::c_int;
        out.push(IfAddr {
            name,
            addr,
            scope_id,
            up: flags & libc::IFF_UP != 0,
            loopback: flags & libc::IFF_LOOPBACK != 0,
        });
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once; no
    // reference into the list outlives this point (names were copied).
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The index of the interface called `name` (`if_nametoindex`); `None` when
/// there is no such interface.
pub fn if_name_to_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// The name of interface number `index` (`if_indextoname`); `None` when
/// there is no such interface.
pub fn if_index_to_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
