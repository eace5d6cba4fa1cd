//! Networking vocabulary shared by the multi-host daemon and the console:
//! host names and socket addresses in every IPv4/IPv6 form pvm6 accepts
//! ([`addr`]).

pub mod addr;

pub use addr::{
    fmt_sockaddr, local_addresses, local_interfaces, parse_sockaddr, parse_sockaddr_zone,
    pick_family, resolve, same_host, split_where, AddrClass, HostName, LocalAddr, ZoneMap,
};
