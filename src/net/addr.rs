//! Host names and socket addresses for multi-host pvm6: parsing every host
//! form a hostfile or the console accepts (DNS names, IPv4 literals, IPv6
//! literals bare or bracketed, with an optional `%zone`), resolving them,
//! printing socket addresses (`[v6%zone]:port`, `a.b.c.d:port`), listing the
//! local addresses and choosing a common address family with a peer.
//!
//! Everything here is safe code; the OS calls (`getifaddrs`,
//! `if_nametoindex`, `if_indextoname`) live in [`crate::os`].

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::str::FromStr;

use crate::os;

/// A host as written by a user: a DNS name or an address literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostName {
    /// A DNS (or /etc/hosts) name, kept as written.
    Name(String),
    /// An IPv4 literal (`192.0.2.7`).
    V4(Ipv4Addr),
    /// An IPv6 literal, with the zone (interface name or number) of a
    /// scoped address such as `fe80::1%eth0`.
    V6 {
        /// The address.
        addr: Ipv6Addr,
        /// The zone after `%`, if any.
        zone: Option<String>,
    },
}

/// Longest DNS name accepted (RFC 1035, without the trailing dot).
const MAX_NAME: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;

fn valid_zone(z: &str) -> bool {
    !z.is_empty()
        && z.len() < 64
        && z.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_v6_zone(s: &str) -> Result<(Ipv6Addr, Option<String>), String> {
    let (a, zone) = match s.split_once('%') {
        Some((a, z)) => {
            if !valid_zone(z) {
                return Err(format!("bad IPv6 zone \"{z}\""));
            }
            (a, Some(z.to_string()))
        }
        None => (s, None),
    };
    let addr = Ipv6Addr::from_str(a).map_err(|_| format!("bad IPv6 address \"{a}\""))?;
    Ok((addr, zone))
}

fn valid_dns_name(s: &str) -> Result<(), String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("bad host name \"{s}\""));
    }
    let mut last = "";
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!("bad host name \"{s}\""));
        }
        last = label;
    }
    // An all-numeric last label would be read as a (partial) IPv4 number by
    // the resolver: "10.1" is not a name.
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad host name or IPv4 address \"{s}\""));
    }
    Ok(())
}

impl HostName {
    /// Parses a host as written: `name.example`, `192.0.2.7`,
    /// `2001:db8::7`, `[2001:db8::7]`, `fe80::1%eth0`, `[fe80::1%eth0]`.
    /// A port is never part of a host name (`host:22` and `[::1]:22` are
    /// errors). The message names the offending text.
    pub fn parse(s: &str) -> Result<HostName, String> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("bad bracketed address \"{s}\" (no port allowed)"))?;
            let (addr, zone) = parse_v6_zone(inner)?;
            return Ok(HostName::V6 { addr, zone });
        }
        if s.contains(':') {
            let (addr, zone) = parse_v6_zone(s)?;
            return Ok(HostName::V6 { addr, zone });
        }
        if s.contains('%') {
            return Err(format!("zone only allowed on IPv6 addresses: \"{s}\""));
        }
        if let Ok(v4) = Ipv4Addr::from_str(s) {
            return Ok(HostName::V4(v4));
        }
        valid_dns_name(s)?;
        Ok(HostName::Name(s.to_string()))
    }

    /// Whether this is an address literal rather than a name.
    pub fn is_literal(&self) -> bool {
        !matches!(self, HostName::Name(_))
    }

    /// The form to use inside `host:port` text: IPv6 in brackets.
    pub fn bracketed(&self) -> String {
        match self {
            HostName::V6 { .. } => format!("[{self}]"),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for HostName {
    /// Names as written, IPv4 dotted, IPv6 bare with `%zone`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Name(n) => f.write_str(n),
            HostName::V4(a) => write!(f, "{a}"),
            HostName::V6 { addr, zone: None } => write!(f, "{addr}"),
            HostName::V6 {
                addr,
                zone: Some(z),
            } => write!(f, "{addr}%{z}"),
        }
    }
}

impl FromStr for HostName {
    type Err = String;
    fn from_str(s: &str) -> Result<HostName, String> {
        HostName::parse(s)
    }
}

/// Whether `s` is an IPv6 literal, bare, with an optional `%zone`.
fn is_bare_v6(s: &str) -> bool {
    s.contains(':') && parse_v6_zone(s).is_ok()
}

/// Splits a `where` string of pvm_spawn (or any host argument that may
/// carry a working directory) into the host and the directory after `:`.
/// The host comes back without brackets; `None` means no `:` was given.
///
/// | text | host | dir |
/// |------|------|-----|
/// | `node2`, `10.0.0.3` | as is | `None` |
/// | `node2:/tmp`, `10.0.0.3:sub` | before the first `:` | after it |
/// | `[fd42::2]`, `[fe80::1%eth0]` | inside the brackets | `None` |
/// | `[fd42::2]:/tmp` | inside the brackets | `/tmp` |
/// | `fd42::2`, `fe80::1%eth0` (bare IPv6) | all of it | `None` |
/// | `fd42::2:/tmp` (bare IPv6, then `:dir`) | the longest IPv6 prefix | the rest |
/// | `:/tmp` | empty | `/tmp` |
///
/// A text that is an IPv6 literal as a whole is always a host: `fd42::2:5`
/// is the address `fd42::2:5`, never `fd42::2` with directory `5`; bracket
/// the address to give it a relative directory (`[fd42::2]:5`).
pub fn split_where(w: &str) -> (&str, Option<&str>) {
    if let Some(rest) = w.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let after = &rest[end + 1..];
            if after.is_empty() {
                return (&rest[..end], None);
            }
            if let Some(dir) = after.strip_prefix(':') {
                return (&rest[..end], Some(dir));
            }
        }
        // A malformed bracket: left whole, for the host lookup to refuse.
        return (w, None);
    }
    if is_bare_v6(w) {
        return (w, None);
    }
    // A bare IPv6 address followed by ":dir": the longest prefix before a
    // ':' that is an IPv6 literal (the first ':' never is: "fd42" alone is
    // not one).
    let cut = w
        .rmatch_indices(':')
        .map(|(i, _)| i)
        .find(|&i| is_bare_v6(&w[..i]));
    if let Some(i) = cut {
        return (&w[..i], Some(&w[i + 1..]));
    }
    match w.split_once(':') {
        Some((h, d)) => (h, Some(d)),
        None => (w, None),
    }
}

/// Whether the host text `given` (as a user writes it: a name, or a literal
/// bare or bracketed, in any spelling) names the host known as `known`
/// (a name as added, e.g. from pvm_config). Names compare without regard
/// to case; literals by value (`FD42:0::2` is `fd42::2`). A zone must match
/// when both carry one; an address given without a zone matches the same
/// address with any zone.
pub fn same_host(given: &str, known: &str) -> bool {
    let strip = |s: &str| -> String {
        let s = s.trim();
        s.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(s)
            .to_string()
    };
    let (g, k) = (strip(given), strip(known));
    match (HostName::parse(&g), HostName::parse(&k)) {
        (Ok(HostName::V4(a)), Ok(HostName::V4(b))) => a == b,
        (Ok(HostName::V6 { addr: a, zone: za }), Ok(HostName::V6 { addr: b, zone: zb })) => {
            a == b && (za.is_none() || zb.is_none() || za == zb)
        }
        _ => !g.is_empty() && g.eq_ignore_ascii_case(&k),
    }
}

/// The scope id of zone `zone`: a number as is, else the index of the
/// interface of that name.
fn zone_to_scope(zone: &str) -> io::Result<u32> {
    if let Ok(n) = zone.parse::<u32>() {
        return Ok(n);
    }
    os::if_name_to_index(zone).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network interface \"{zone}\""),
        )
    })
}

/// The socket addresses of `host` at `port`, in the resolver's
/// (getaddrinfo's) order. Literals resolve to themselves, with the zone of a
/// scoped IPv6 address turned into its scope id.
pub fn resolve(host: &HostName, port: u16) -> io::Result<Vec<SocketAddr>> {
    match host {
        HostName::V4(a) => Ok(vec![SocketAddr::V4(SocketAddrV4::new(*a, port))]),
        HostName::V6 { addr, zone } => {
            let scope = match zone {
                Some(z) => zone_to_scope(z)?,
                None => 0,
            };
            Ok(vec![SocketAddr::V6(SocketAddrV6::new(
                *addr, port, 0, scope,
            ))])
        }
        HostName::Name(n) => {
            let v: Vec<SocketAddr> = (n.as_str(), port).to_socket_addrs()?.collect();
            if v.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no address for host \"{n}\""),
                ));
            }
            Ok(v)
        }
    }
}

/// Prints a socket address: `[addr]:port` for IPv6 (with `%zone` inside the
/// brackets when the scope id is set: the interface name, or the number if
/// no interface has it) and `a.b.c.d:port` for IPv4.
pub fn fmt_sockaddr(sa: &SocketAddr) -> String {
    match sa {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) if a.scope_id() != 0 => {
            let zone =
                os::if_index_to_name(a.scope_id()).unwrap_or_else(|| a.scope_id().to_string());
            format!("[{}%{}]:{}", a.ip(), zone, a.port())
        }
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Parses what [`fmt_sockaddr`] prints: `a.b.c.d:port`, `[v6]:port`,
/// `[v6%zone]:port` (zone an interface name or a number). Names are not
/// resolved here.
pub fn parse_sockaddr(s: &str) -> io::Result<SocketAddr> {
    let (mut sa, zone) = parse_sockaddr_zone(s)?;
    if let (SocketAddr::V6(a), Some(z)) = (&mut sa, zone) {
        a.set_scope_id(zone_to_scope(&z)?);
    }
    Ok(sa)
}

/// Like [`parse_sockaddr`], but the zone is returned as written instead of
/// being looked up among this host's interfaces (the address comes back
/// with scope id 0): for addresses another host wrote, whose zones name
/// *its* interfaces (see [`ZoneMap`]).
pub fn parse_sockaddr_zone(s: &str) -> io::Result<(SocketAddr, Option<String>)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{why}: \"{s}\""));
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| bad("socket address without port"))?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("bad port in socket address"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad("bad port in socket address"))?;
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| bad("bad bracketed address"))?;
        let (addr, zone) = parse_v6_zone(inner).map_err(|e| bad(&e))?;
        return Ok((SocketAddr::V6(SocketAddrV6::new(addr, port, 0, 0)), zone));
    }
    let v4 =
        Ipv4Addr::from_str(host).map_err(|_| bad("bad socket address (IPv6 needs brackets)"))?;
    Ok((SocketAddr::V4(SocketAddrV4::new(v4, port)), None))
}

/// Turns the zones of link-local addresses written by another host (the
/// names of *its* interfaces, as in `[fe80::7%eth1]:port`) into scope ids
/// of this host. A zone is only meaningful on the host that wrote it: the
/// master's `eth1` may be this host's `enp3s0`.
///
/// The mapping is learnt from this host's own addresses as the other side
/// wrote them: if it lists our `fe80::5` with zone `eth1`, its `eth1` is the
/// link our `fe80::5` is on, so every address it puts on `eth1` is reached
/// through that interface of ours. A zone not learnt that way goes to our
/// only interface with an IPv6 link-local address, if there is just one
/// (a host on one link reaches every link-local peer through it); failing
/// that, to our interface of the same name; else the address is
/// unusable here. A link-local address written without a zone goes to our
/// only link-local interface too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneMap {
    learnt: Vec<(String, u32)>,
    only: Option<u32>,
}

impl ZoneMap {
    /// The map for `mine` (this host's addresses as the other side wrote
    /// them, zones as written) and `locals` (this host's interfaces).
    pub fn new(mine: &[(SocketAddr, Option<String>)], locals: &[LocalAddr]) -> ZoneMap {
        let mut learnt: Vec<(String, u32)> = Vec::new();
        for (sa, zone) in mine {
            let Some(z) = zone else { continue };
            let local = locals
                .iter()
                .find(|l| l.v6 && l.link_local && l.addr == sa.ip() && l.scope_id != 0);
            if let Some(l) = local {
                if !learnt.iter().any(|(n, _)| n == z) {
                    learnt.push((z.clone(), l.scope_id));
                }
            }
        }
        let mut scopes: Vec<u32> = locals
            .iter()
            .filter(|l| l.v6 && l.link_local && !l.loopback && l.scope_id != 0)
            .map(|l| l.scope_id)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        ZoneMap {
            learnt,
            only: (scopes.len() == 1).then(|| scopes[0]),
        }
    }

    /// Our scope id for the other side's zone `zone`, if we have one.
    pub fn scope(&self, zone: &str) -> Option<u32> {
        if let Some((_, s)) = self.learnt.iter().find(|(n, _)| n == zone) {
            return Some(*s);
        }
        // A number is another host's interface index: meaningless here.
        self.only.or_else(|| os::if_name_to_index(zone))
    }

    /// `sa` with its zone (as the other side wrote it) turned into our
    /// scope id; `None` when it is a scoped address we cannot place.
    pub fn localize(&self, sa: SocketAddr, zone: Option<&str>) -> Option<SocketAddr> {
        match (sa, zone) {
            (SocketAddr::V6(mut a), Some(z)) => {
                a.set_scope_id(self.scope(z)?);
                Some(SocketAddr::V6(a))
            }
            (SocketAddr::V6(mut a), None) if a.ip().is_unicast_link_local() => {
                a.set_scope_id(self.only?);
                Some(SocketAddr::V6(a))
            }
            (sa, _) => Some(sa),
        }
    }
}

/// How far an address reaches, best first for choosing a peer address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddrClass {
    /// Routable: global unicast, IPv6 unique-local (fc00::/7), IPv4 private.
    Global,
    /// Only on one link: fe80::/10, 169.254/16. IPv6 ones need a zone.
    LinkLocal,
    /// This host only: ::1, 127/8.
    Loopback,
    /// Never a peer address: unspecified, multicast, broadcast.
    Unusable,
}

impl AddrClass {
    /// The class of `ip` (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn of(ip: &IpAddr) -> AddrClass {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                if a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
                    AddrClass::Unusable
                } else if a.is_loopback() {
                    AddrClass::Loopback
                } else if a.is_link_local() {
                    AddrClass::LinkLocal
                } else {
                    AddrClass::Global
                }
            }
            IpAddr::V6(a) => {
                if a.is_unspecified() || a.is_multicast() {
                    AddrClass::Unusable
                } else if a.is_loopback() {
                    AddrClass::Loopback
                } else if a.is_unicast_link_local() {
                    AddrClass::LinkLocal
                } else {
                    AddrClass::Global
                }
            }
        }
    }
}

/// One address of this host, with what kind it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    /// The address.
    pub addr: IpAddr,
    /// The interface it belongs to.
    pub ifname: String,
    /// Its scope id (interface index; meaningful for IPv6 link-local).
    pub scope_id: u32,
    /// An IPv6 address (false: IPv4).
    pub v6: bool,
    /// Only valid on its link (fe80::/10, 169.254/16).
    pub link_local: bool,
    /// A loopback address.
    pub loopback: bool,
}

impl LocalAddr {
    /// The address as a socket address at `port`, with the scope id for
    /// IPv6 link-local addresses.
    pub fn socket_addr(&self, port: u16) -> SocketAddr {
        match self.addr {
            IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, port)),
            IpAddr::V6(a) => {
                let scope = if self.link_local { self.scope_id } else { 0 };
                SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope))
            }
        }
    }
}

/// The addresses of the up interfaces of this host, in the kernel's order,
/// without loopback addresses unless the host has nothing else. Empty when
/// `getifaddrs` fails.
pub fn local_interfaces() -> Vec<LocalAddr> {
    let all = match os::interface_addresses() {
        Ok(v) => v,
        Err(e) => {
            log::warn!("getifaddrs: {e}");
            return Vec::new();
        }
    };
    select_local(all)
}

/// The policy of [`local_interfaces`], separated from the OS call.
fn select_local(all: Vec<os::IfAddr>) -> Vec<LocalAddr> {
    let mut v: Vec<LocalAddr> = all
        .into_iter()
        .filter(|i| i.up && AddrClass::of(&i.addr) != AddrClass::Unusable)
        .map(|i| {
            let class = AddrClass::of(&i.addr);
            LocalAddr {
                v6: i.addr.is_ipv6(),
                link_local: class == AddrClass::LinkLocal,
                loopback: class == AddrClass::Loopback || i.loopback,
                addr: i.addr,
                ifname: i.name,
                scope_id: i.scope_id,
            }
        })
        .collect();
    if v.iter().any(|a| !a.loopback) {
        v.retain(|a| !a.loopback);
    }
    v
}

/// The local addresses (see [`local_interfaces`]) as plain IPs.
pub fn local_addresses() -> Vec<IpAddr> {
    local_interfaces().into_iter().map(|a| a.addr).collect()
}

/// Rank of an address for [`pick_family`]: lower is better. IPv6 routable,
/// then IPv4 routable, then IPv6 link-local, IPv4 link-local, loopback.
fn rank(ip: &IpAddr) -> Option<u8> {
    let v6 = matches!(ip.to_canonical(), IpAddr::V6(_));
    Some(match (AddrClass::of(ip), v6) {
        (AddrClass::Global, true) => 0,
        (AddrClass::Global, false) => 1,
        (AddrClass::LinkLocal, true) => 2,
        (AddrClass::LinkLocal, false) => 3,
        (AddrClass::Loopback, true) => 4,
        (AddrClass::Loopback, false) => 5,
        (AddrClass::Unusable, _) => return None,
    })
}

/// Sort key of a candidate pair: (worse rank, classes differ, index in
/// theirs, index in ours); smallest wins.
type PairKey = (u8, bool, usize, usize);

/// Chooses an address of ours and one of theirs of the same family to talk
/// over: IPv6 is preferred, routable (global/ULA) pairs first, then IPv4
/// routable pairs, then link-local pairs (IPv6, then IPv4), then loopback.
/// A pair is as good as its worse member, and pairs of the same class beat
/// mixed ones; ties go to the earlier address of theirs (resolver order),
/// then of ours. IPv4-mapped IPv6 addresses count as IPv4 and are returned
/// in their IPv4 form. `None` when no family is common.
pub fn pick_family(ours: &[IpAddr], theirs: &[IpAddr]) -> Option<(IpAddr, IpAddr)> {
    let mut best: Option<(PairKey, IpAddr, IpAddr)> = None;
    for (ti, t) in theirs.iter().enumerate() {
        let t = t.to_canonical();
        let Some(rt) = rank(&t) else { continue };
        for (oi, o) in ours.iter().enumerate() {
            let o = o.to_canonical();
            if o.is_ipv6() != t.is_ipv6() {
                continue;
            }
            let Some(ro) = rank(&o) else { continue };
            let key = (ro.max(rt), ro != rt, ti, oi);
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, o, t));
            }
        }
    }
    best.map(|(_, o, t)| (o, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_literal_form() {
        assert_eq!(
            HostName::parse("node1.example.org"),
            Ok(HostName::Name("node1.example.org".into()))
        );
        assert_eq!(
            HostName::parse("fonebone"),
            Ok(HostName::Name("fonebone".into()))
        );
        assert_eq!(
            HostName::parse("my_host-2"),
            Ok(HostName::Name("my_host-2".into()))
        );
        assert_eq!(
            HostName::parse("host.example."),
            Ok(HostName::Name("host.example.".into()))
        );
        assert_eq!(
            HostName::parse("192.0.2.7"),
            Ok(HostName::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );
        let want = HostName::V6 {
            addr: v6("2001:db8::7"),
            zone: None,
        };
        assert_eq!(HostName::parse("2001:db8::7"), Ok(want.clone()));
        assert_eq!(HostName::parse("[2001:db8::7]"), Ok(want));
        let ll = HostName::V6 {
            addr: v6("fe80::1"),
            zone: Some("eth0".into()),
        };
        assert_eq!(HostName::parse("fe80::1%eth0"), Ok(ll.clone()));
        assert_eq!(HostName::parse("[fe80::1%eth0]"), Ok(ll));
        assert_eq!(
            HostName::parse("fe80::1%3"),
            Ok(HostName::V6 {
                addr: v6("fe80::1"),
                zone: Some("3".into())
            })
        );
        assert_eq!(
            HostName::parse("::ffff:192.0.2.1"),
            Ok(HostName::V6 {
                addr: v6("::ffff:192.0.2.1"),
                zone: None
            })
        );
        assert_eq!(
            HostName::parse("::1"),
            Ok(HostName::V6 {
                addr: Ipv6Addr::LOCALHOST,
                zone: None
            })
        );
    }

    #[test]
    fn rejects_bad_hosts_and_ports() {
        for bad in [
            "",
            "host:22",
            "[::1]:22",
            "192.0.2.7:80",
            "[192.0.2.7]",
            "[2001:db8::7",
            "2001:db8::7]",
            "fe80::1%",
            "fe80::1%eth 0",
            "host%eth0",
            "192.0.2.7%eth0",
            "2001:db8:::7",
            "-host",
            "host-",
            "a..b",
            ".",
            "10.1",
            "123",
            "300.1.1.1",
            "host name",
            "hôst",
            "a/b",
        ] {
            assert!(HostName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long_label = "a".repeat(64);
        assert!(HostName::parse(&long_label).is_err());
        let long_name = ["abc"; 70].join(".");
        assert!(HostName::parse(&long_name).is_err());
        let err = HostName::parse("host:22").unwrap_err();
        assert!(err.contains("host:22"), "{err}");
    }

    #[test]
    fn displays_canonically() {
        for (input, shown, br) in [
            ("[2001:DB8:0::7]", "2001:db8::7", "[2001:db8::7]"),
            ("[fe80::1%eth0]", "fe80::1%eth0", "[fe80::1%eth0]"),
            ("192.0.2.7", "192.0.2.7", "192.0.2.7"),
            ("Node.Example", "Node.Example", "Node.Example"),
        ] {
            let h = HostName::parse(input).unwrap();
            assert_eq!(h.to_string(), shown);
            assert_eq!(h.bracketed(), br);
            assert_eq!(HostName::parse(&h.to_string()).unwrap(), h);
            assert_eq!(h.is_literal(), !matches!(h, HostName::Name(_)));
        }
    }

    #[test]
    fn where_splits_host_and_directory_in_every_form() {
        for (w, host, dir) in [
            ("node2", "node2", None),
            ("node2:/tmp", "node2", Some("/tmp")),
            ("node2:sub/dir", "node2", Some("sub/dir")),
            ("node2:", "node2", Some("")),
            ("10.42.0.3", "10.42.0.3", None),
            ("10.42.0.3:/tmp", "10.42.0.3", Some("/tmp")),
            ("[fd42::2]", "fd42::2", None),
            ("[fd42::2]:/tmp", "fd42::2", Some("/tmp")),
            ("[fd42::2]:rel", "fd42::2", Some("rel")),
            ("[fe80::1%eth0]:/a:b", "fe80::1%eth0", Some("/a:b")),
            ("fd42::2", "fd42::2", None),
            ("fd42::4", "fd42::4", None),
            ("fe80::1%eth0", "fe80::1%eth0", None),
            ("::1", "::1", None),
            ("fd42::2:5", "fd42::2:5", None),
            ("fd42::2:/tmp", "fd42::2", Some("/tmp")),
            ("fd42::2:/a:b", "fd42::2", Some("/a:b")),
            ("fe80::1%eth0:/tmp", "fe80::1%eth0", Some("/tmp")),
            ("::ffff:10.0.0.1:/x", "::ffff:10.0.0.1", Some("/x")),
            (":/tmp", "", Some("/tmp")),
            ("", "", None),
            ("LINUX64", "LINUX64", None),
            ("LINUX64:/tmp", "LINUX64", Some("/tmp")),
            ("[fd42::2", "[fd42::2", None),
            ("[fd42::2]x", "[fd42::2]x", None),
        ] {
            assert_eq!(split_where(w), (host, dir), "{w:?}");
        }
    }

    #[test]
    fn where_split_holds_for_many_generated_texts() {
        // Texts from the characters that matter, by a fixed xorshift.
        let alphabet = b":[]%/.fe80d1a2eth0x";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut t = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 24) {
                let r = (x >> (k * 2 % 60)) as usize;
                t.push(alphabet[(r + k as usize * 7) % alphabet.len()] as char);
            }
            let (host, dir) = split_where(&t);
            assert!(t.contains(host), "{t:?}");
            if let Some(d) = dir {
                let head = t.strip_suffix(d).and_then(|h| h.strip_suffix(':'));
                assert!(head.is_some(), "{t:?} -> {host:?} {d:?}");
                // What was split off joins back.
                let head = head.unwrap();
                assert!(head == host || head == format!("[{host}]"), "{t:?}");
            } else {
                assert!(t == host || t == format!("[{host}]"), "{t:?}");
            }
            // A host with colons out of brackets is always a whole IPv6
            // literal, never a piece of one.
            if host.contains(':') && !t.starts_with('[') {
                assert!(is_bare_v6(host), "{t:?} -> {host:?}");
            }
        }
    }

    #[test]
    fn same_host_compares_names_and_literals() {
        assert!(same_host("Node2", "node2"));
        assert!(same_host("[fd42::2]", "fd42::2"));
        assert!(same_host("FD42:0::2", "fd42::2"));
        assert!(same_host(" fd42::2 ", "fd42::2"));
        assert!(same_host("10.42.0.3", "10.42.0.3"));
        assert!(same_host("fe80::1%eth0", "fe80::1%eth0"));
        assert!(same_host("[fe80::1%eth0]", "fe80::1%eth0"));
        assert!(same_host("fe80::1", "fe80::1%eth0"));
        assert!(!same_host("fe80::1%eth1", "fe80::1%eth0"));
        assert!(!same_host("fd42::3", "fd42::2"));
        assert!(!same_host("10.42.0.30", "10.42.0.3"));
        assert!(!same_host("node2", "node3"));
        assert!(!same_host("", ""));
        assert!(!same_host("[node2]", "node2x"));
    }

    #[test]
    fn sockaddr_zone_is_kept_as_written() {
        let (sa, z) = parse_sockaddr_zone("[fe80::1%nosuchif0]:80").unwrap();
        assert_eq!(
            sa,
            SocketAddr::V6(SocketAddrV6::new(v6("fe80::1"), 80, 0, 0))
        );
        assert_eq!(z.as_deref(), Some("nosuchif0"));
        let (sa, z) = parse_sockaddr_zone("10.0.0.1:9").unwrap();
        assert_eq!(sa, "10.0.0.1:9".parse().unwrap());
        assert_eq!(z, None);
        assert!(parse_sockaddr_zone("[fe80::1%]:80").is_err());
        assert!(parse_sockaddr_zone("fd42::1:80").is_err());
    }

    #[test]
    fn resolves_literals_and_zones() {
        let h = HostName::parse("192.0.2.7").unwrap();
        assert_eq!(
            resolve(&h, 1234).unwrap(),
            vec!["192.0.2.7:1234".parse().unwrap()]
        );
        let h = HostName::parse("[2001:db8::7]").unwrap();
        assert_eq!(
            resolve(&h, 9).unwrap(),
            vec!["[2001:db8::7]:9".parse().unwrap()]
        );
        let h = HostName::parse("fe80::1%7").unwrap();
        match resolve(&h, 9).unwrap()[..] {
            [SocketAddr::V6(a)] => {
                assert_eq!(a.scope_id(), 7);
                assert_eq!(*a.ip(), v6("fe80::1"));
                assert_eq!(a.port(), 9);
            }
            ref other => panic!("{other:?}"),
        }
        let lo_idx = os::if_name_to_index("lo").expect("loopback interface lo");
        let h = HostName::parse("[fe80::1%lo]").unwrap();
        match resolve(&h, 9).unwrap()[..] {
            [SocketAddr::V6(a)] => assert_eq!(a.scope_id(), lo_idx),
            ref other => panic!("{other:?}"),
        }
        let h = HostName::parse("fe80::1%nosuchif0").unwrap();
        let e = resolve(&h, 9).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("nosuchif0"));
    }

    #[test]
    fn resolves_localhost_name() {
        let h = HostName::parse("localhost").unwrap();
        let v = resolve(&h, 4242).unwrap();
        assert!(!v.is_empty());
        assert!(
            v.iter().all(|a| a.port() == 4242 && a.ip().is_loopback()),
            "{v:?}"
        );
    }

    #[test]
    fn formats_socket_addresses() {
        let a: SocketAddr = "192.0.2.7:80".parse().unwrap();
        assert_eq!(fmt_sockaddr(&a), "192.0.2.7:80");
        let a: SocketAddr = "[2001:db8::7]:4000".parse().unwrap();
        assert_eq!(fmt_sockaddr(&a), "[2001:db8::7]:4000");
        let lo_idx = os::if_name_to_index("lo").unwrap();
        let a = SocketAddr::V6(SocketAddrV6::new(v6("fe80::1"), 5, 0, lo_idx));
        assert_eq!(fmt_sockaddr(&a), "[fe80::1%lo]:5");
        // an index no interface has prints as a number
        let a = SocketAddr::V6(SocketAddrV6::new(v6("fe80::1"), 5, 0, 999_999));
        assert_eq!(fmt_sockaddr(&a), "[fe80::1%999999]:5");
    }

    #[test]
    fn socket_address_round_trips() {
        let lo_idx = os::if_name_to_index("lo").unwrap();
        let addrs = [
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0)),
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), 65535)),
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 1, 0, 0)),
            SocketAddr::V6(SocketAddrV6::new(v6("2001:db8:1:2:3:4:5:6"), 40000, 0, 0)),
            SocketAddr::V6(SocketAddrV6::new(v6("fe80::abcd"), 7, 0, lo_idx)),
            SocketAddr::V6(SocketAddrV6::new(v6("fe80::abcd"), 7, 0, 4_000_000)),
            SocketAddr::V6(SocketAddrV6::new(v6("::ffff:1.2.3.4"), 7, 0, 0)),
        ];
        for a in addrs {
            let s = fmt_sockaddr(&a);
            assert_eq!(parse_sockaddr(&s).unwrap(), a, "{s}");
        }
        let p = parse_sockaddr("[fe80::1%12]:99").unwrap();
        assert_eq!(
            p,
            SocketAddr::V6(SocketAddrV6::new(v6("fe80::1"), 99, 0, 12))
        );
    }

    #[test]
    fn rejects_bad_socket_addresses() {
        for bad in [
            "",
            "192.0.2.7",
            "192.0.2.7:",
            "192.0.2.7:65536",
            "192.0.2.7:-1",
            "192.0.2.7:+5",
            "2001:db8::7:80",
            "[2001:db8::7]",
            "[2001:db8::7:80",
            "[192.0.2.7]:80",
            "host:80",
            "[fe80::1%]:80",
            "[fe80::1%nosuchif0]:80",
        ] {
            assert!(parse_sockaddr(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn classifies_addresses() {
        assert_eq!(AddrClass::of(&ip("2001:db8::1")), AddrClass::Global);
        assert_eq!(AddrClass::of(&ip("fd00::1")), AddrClass::Global);
        assert_eq!(AddrClass::of(&ip("10.1.2.3")), AddrClass::Global);
        assert_eq!(AddrClass::of(&ip("fe80::1")), AddrClass::LinkLocal);
        assert_eq!(AddrClass::of(&ip("169.254.3.4")), AddrClass::LinkLocal);
        assert_eq!(AddrClass::of(&ip("::1")), AddrClass::Loopback);
        assert_eq!(AddrClass::of(&ip("127.0.0.2")), AddrClass::Loopback);
        assert_eq!(AddrClass::of(&ip("::ffff:127.0.0.1")), AddrClass::Loopback);
        assert_eq!(AddrClass::of(&ip("::")), AddrClass::Unusable);
        assert_eq!(AddrClass::of(&ip("ff02::1")), AddrClass::Unusable);
        assert_eq!(AddrClass::of(&ip("224.0.0.1")), AddrClass::Unusable);
        assert_eq!(AddrClass::of(&ip("0.0.0.0")), AddrClass::Unusable);
    }

    #[test]
    fn pick_family_prefers_routable_ipv6() {
        let ours = [ip("192.168.1.5"), ip("fe80::5"), ip("2001:db8::5")];
        let theirs = [ip("192.168.1.9"), ip("fe80::9"), ip("2001:db8::9")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("2001:db8::5"), ip("2001:db8::9")))
        );
        // ULA counts as routable
        let theirs = [ip("192.168.1.9"), ip("fd12::9")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("2001:db8::5"), ip("fd12::9")))
        );
    }

    #[test]
    fn pick_family_v4_only_and_v6_only() {
        let ours4 = [ip("10.0.0.1")];
        let ours6 = [ip("2001:db8::1")];
        let theirs4 = [ip("10.0.0.2"), ip("10.0.0.3")];
        let theirs6 = [ip("2001:db8::2")];
        assert_eq!(
            pick_family(&ours4, &theirs4),
            Some((ip("10.0.0.1"), ip("10.0.0.2")))
        );
        assert_eq!(
            pick_family(&ours6, &theirs6),
            Some((ip("2001:db8::1"), ip("2001:db8::2")))
        );
        assert_eq!(pick_family(&ours4, &theirs6), None);
        assert_eq!(pick_family(&ours6, &theirs4), None);
        assert_eq!(pick_family(&[], &theirs4), None);
        assert_eq!(pick_family(&ours4, &[]), None);
        // dual-stack us, v4-only them
        let dual = [ip("2001:db8::1"), ip("10.0.0.1")];
        assert_eq!(
            pick_family(&dual, &theirs4),
            Some((ip("10.0.0.1"), ip("10.0.0.2")))
        );
        // v6-only them, dual us
        assert_eq!(
            pick_family(&dual, &theirs6),
            Some((ip("2001:db8::1"), ip("2001:db8::2")))
        );
    }

    #[test]
    fn pick_family_link_local_and_mapped() {
        // only link-local IPv6 in common vs routable IPv4: IPv4 wins (no zone needed)
        let ours = [ip("fe80::1"), ip("192.0.2.1")];
        let theirs = [ip("fe80::2"), ip("192.0.2.2")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("192.0.2.1"), ip("192.0.2.2")))
        );
        // only link-local everywhere: IPv6 link-local preferred
        let ours = [ip("169.254.0.1"), ip("fe80::1")];
        let theirs = [ip("169.254.0.2"), ip("fe80::2")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("fe80::1"), ip("fe80::2")))
        );
        // a peer reachable only link-locally: our link-local, not our global, is used
        let ours = [ip("2001:db8::1"), ip("fe80::1")];
        let theirs = [ip("fe80::2")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("fe80::1"), ip("fe80::2")))
        );
        // v4-mapped counts as v4
        let ours = [ip("10.0.0.1")];
        let theirs = [ip("::ffff:10.0.0.2")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("10.0.0.1"), ip("10.0.0.2")))
        );
        // unusable addresses are never chosen
        assert_eq!(pick_family(&[ip("::")], &[ip("::1")]), None);
        // loopback is the last resort
        let ours = [ip("::1"), ip("127.0.0.1")];
        let theirs = [ip("127.0.0.1"), ip("::1")];
        assert_eq!(pick_family(&ours, &theirs), Some((ip("::1"), ip("::1"))));
        // ties go to their resolver order
        let ours = [ip("2001:db8::1")];
        let theirs = [ip("2001:db8::3"), ip("2001:db8::2")];
        assert_eq!(
            pick_family(&ours, &theirs),
            Some((ip("2001:db8::1"), ip("2001:db8::3")))
        );
    }

    fn ifa(name: &str, addr: &str, scope: u32, loopback: bool, up: bool) -> os::IfAddr {
        os::IfAddr {
            name: name.into(),
            addr: ip(addr),
            scope_id: scope,
            up,
            loopback,
        }
    }

    #[test]
    fn local_selection_drops_loopback_unless_alone() {
        let all = vec![
            ifa("lo", "127.0.0.1", 0, true, true),
            ifa("lo", "::1", 0, true, true),
            ifa("eth0", "192.0.2.5", 0, false, true),
            ifa("eth0", "fe80::5", 2, false, true),
            ifa("eth1", "2001:db8::5", 0, false, false),
        ];
        let v = select_local(all);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].addr, ip("192.0.2.5"));
        assert!(!v[0].v6 && !v[0].link_local && !v[0].loopback);
        assert_eq!(v[1].addr, ip("fe80::5"));
        assert!(v[1].v6 && v[1].link_local);
        assert_eq!(
            v[1].socket_addr(7),
            SocketAddr::V6(SocketAddrV6::new(v6("fe80::5"), 7, 0, 2))
        );
        let only_lo = vec![
            ifa("lo", "127.0.0.1", 0, true, true),
            ifa("lo", "::1", 0, true, true),
        ];
        let v = select_local(only_lo);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|a| a.loopback));
    }

    #[test]
    fn local_addresses_are_real() {
        let v = local_interfaces();
        // every sandbox has at least a loopback interface
        assert!(!v.is_empty());
        let ips = local_addresses();
        assert_eq!(ips, v.iter().map(|a| a.addr).collect::<Vec<_>>());
        if v.iter().any(|a| !a.loopback) {
            assert!(v.iter().all(|a| !a.loopback));
        }
        for a in &v {
            assert_eq!(a.v6, a.addr.is_ipv6());
            assert_ne!(AddrClass::of(&a.addr), AddrClass::Unusable);
        }
    }
}
