//! Entry points for fuzzing every decoder that reads bytes from outside
//! (and the daemon's request handlers behind them).
//!
//! Each function takes arbitrary bytes, drives one decoder with them and
//! checks the invariants that must hold whatever the input (no panic, errors
//! are PVM error codes, a decoder that fails leaves its state usable). The
//! cargo-fuzz targets in `fuzz/` call them, and `tests/fuzz_regressions.rs`
//! replays every input kept under `fuzz/regressions/<target>/` through the
//! same functions in the normal test suite.

use crate::msg::{Buffer, Encoding, MsgInfo};
use crate::wire::{FrameDecoder, Reader};

/// A fuzz target: takes any bytes, panics only on a broken invariant.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the directory names under fuzz/regressions).
pub const TARGETS: &[(&str, Target)] = &[
    ("frames", frames),
    ("control", control),
    ("unpack", unpack),
    ("hostfile", hostfile),
    ("hostname", hostname),
    ("auth_acceptor", auth_acceptor),
    ("auth_connector", auth_connector),
    ("ring", ring),
    ("slave_reply", slave_reply),
    ("route_hello", route_hello),
    ("requests", requests),
    ("seal_opener", seal_opener),
];

/// Frames as a daemon or a task reads them from a socket: the bytes are
/// fed in chunks whose sizes the input chooses; every complete frame is
/// taken; a malformed header ends the stream (the connection is closed).
pub fn frames(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split % 64) + 1;
    let mut d = FrameDecoder::new();
    for piece in rest.chunks(chunk) {
        d.feed(piece);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => assert_eq!(f.header.len as usize, f.body.len()),
                Ok(None) => break,
                Err(e) => {
                    assert!(e.code() < 0);
                    return;
                }
            }
        }
    }
}

/// Control bodies (request arguments and replies) read with [`Reader`]:
/// the input's first byte chooses a sequence of reads, as the request
/// handlers do them. No read may panic or allocate beyond the input.
pub fn control(data: &[u8]) {
    let Some((&plan, body)) = data.split_first() else {
        return;
    };
    let mut r = Reader::new(body);
    let mut p = plan;
    for _ in 0..16 {
        let ok = match p & 3 {
            0 => r.int().is_ok(),
            1 => r.str().is_ok(),
            2 => r.strs().is_ok(),
            _ => r.count(4).is_ok(),
        };
        if !ok {
            return;
        }
        p = p.rotate_right(2) ^ 0x5a;
    }
}

/// A received message in each encoding, unpacked by a sequence of calls the
/// input chooses (types, counts, strides, strings, nested messages).
pub fn unpack(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let enc = match data[0] % 3 {
        0 => Encoding::Default,
        1 => Encoding::Raw,
        _ => Encoding::InPlace,
    };
    let ops = data[1];
    let mut b = Buffer::from_received_with_encoding(data[2..].to_vec(), MsgInfo::default(), enc);
    let mut op = ops;
    for i in 0..12u8 {
        let n = usize::from(op % 7);
        let stride = usize::from(op % 3) + 1;
        let span = if n == 0 { 0 } else { (n - 1) * stride + 1 };
        let before = b.position();
        let r = match (op ^ i) % 8 {
            0 => b.unpack(&mut vec![0u8; span], n, stride),
            1 => b.unpack(&mut vec![0i16; span], n, stride),
            2 => b.unpack(&mut vec![0i32; span], n, stride),
            3 => b.unpack(&mut vec![0i64; span], n, stride),
            4 => b.unpack(&mut vec![0f64; span], n, stride),
            5 => b.unpack_complex(&mut vec![0f32; 2 * span], n, stride),
            6 => b.unpack_str().map(|_| ()),
            _ => b.unpack_message().map(|m| {
                let _ = m.to_bytes();
            }),
        };
        if let Err(e) = r {
            assert!(e.code() < 0);
            assert_eq!(b.position(), before, "a failed unpack moved the cursor");
        }
        op = op.rotate_left(3).wrapping_add(i);
    }
}

/// The hostfile parser (also used by the console's `add`).
pub fn hostfile(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = crate::hostfile::parse(&text) {
        let _ = e.to_string();
    }
    for line in text.lines().take(64) {
        let _ = crate::hostfile::parse_line(line);
    }
}

/// Host names and socket addresses as users and peers write them.
pub fn hostname(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(h) = crate::net::HostName::parse(&text) {
        let again = crate::net::HostName::parse(&h.to_string());
        assert!(again.is_ok(), "{h} does not parse back");
    }
    if let Ok(a) = crate::net::parse_sockaddr(&text) {
        let _ = crate::net::fmt_sockaddr(&a);
    }
    // pvm_spawn's `where`: the parts are pieces of the text, and a host
    // with a directory joins back to what was split.
    let (host, dir) = crate::net::split_where(&text);
    assert!(text.contains(host), "{text:?}: host {host:?}");
    if let Some(d) = dir {
        assert!(text.ends_with(d), "{text:?}: dir {d:?}");
        assert!(
            text.strip_suffix(d)
                .and_then(|t| t.strip_suffix(':'))
                .is_some(),
            "{text:?}: no ':' before {d:?}"
        );
    }
    let _ = crate::net::same_host(&text, host);
}

fn fuzz_secret() -> crate::auth::Secret {
    crate::auth::Secret::from_bytes([7u8; 32])
}

/// The accepting side of the TCP handshake, fed by an unknown peer: it may
/// fail, but never authenticate without the secret.
pub fn auth_acceptor(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // The acceptor's protection level: the Hello must name the same one.
    let level = crate::seal::Level::from_code(split % 3 + 1).unwrap_or_default();
    let mut a = crate::auth::Acceptor::new(&fuzz_secret(), level);
    for piece in rest.chunks(usize::from(split % 50) + 1) {
        match a.feed(piece) {
            Ok(crate::auth::Step::Done { .. }) => panic!("authenticated a peer without the secret"),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The connecting side, answered by an unknown peer.
pub fn auth_connector(data: &[u8]) {
    let Ok(mut c) = crate::auth::Connector::new(
        &fuzz_secret(),
        crate::auth::Role::Daemon,
        0x40001,
        crate::seal::Level::Encrypted,
    ) else {
        return;
    };
    let _ = c.start();
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    for piece in rest.chunks(usize::from(split % 70) + 1) {
        match c.feed(piece) {
            Ok(crate::auth::Step::Done { .. }) => panic!("trusted a peer without the secret"),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// A task's shared-memory rings as the daemon reads and writes them, with
/// the task hostile: the input interleaves the task's own correct pushes,
/// arbitrary writes of the task into any part of the rings (positions,
/// flags, record headers, data), the daemon's reads of the ring from the
/// task and its writes into the ring to the task. Without a hostile write
/// every frame comes out intact and in order and nothing is refused; with
/// them the daemon may refuse the ring (`ring::Bad`: it closes that
/// connection) but never panics nor takes a record over the largest.
pub fn ring(data: &[u8]) {
    use crate::ring::{Consumer, Dir, Producer, Record, MAP_LEN, MAX_RECORD, RING_LEN};
    let Ok((_fd, map)) = crate::ring::create() else {
        return;
    };
    let mut task = Producer::new(map.clone(), Dir::ToDaemon);
    let mut rx = Consumer::new(map.clone(), Dir::ToDaemon);
    let mut tx = Producer::new(map.clone(), Dir::ToTask);
    let mut hostile = false;
    let (mut rx_dead, mut tx_dead, mut task_dead) = (false, false, false);
    let mut sent: std::collections::VecDeque<crate::wire::Frame> = Default::default();
    let mut ops = data;
    let mut seq = 0i32;
    while let [op, a, b, rest @ ..] = ops {
        ops = rest;
        match op % 5 {
            0 => {
                let n = usize::from(*b % 17).min(ops.len());
                let (bytes, rest) = ops.split_at(n);
                ops = rest;
                let off = if op & 8 != 0 {
                    // A control word: positions and flags of either ring.
                    let words = [0usize, 64, 128, 192, 256];
                    RING_LEN * usize::from(*a & 1) + words[usize::from(*a >> 1) % words.len()]
                } else {
                    (usize::from(*a) * 1031 + usize::from(*b) * 4099) % MAP_LEN
                };
                map.write_at(off, bytes);
                hostile |= !bytes.is_empty();
            }
            1 | 2 if !task_dead => {
                seq += 1;
                let len = (usize::from(*a) * 97 + usize::from(*b)) % (MAX_RECORD - 32);
                let f = crate::wire::Frame::new(
                    crate::wire::Header {
                        src: 0x40001,
                        tag: seq,
                        ..crate::wire::Header::new(crate::wire::Kind::Msg)
                    },
                    (0..len).map(|i| (i as i32 ^ seq) as u8).collect(),
                );
                let bytes = f.to_bytes();
                let pushed = if op & 16 != 0 && bytes.len() > 64 {
                    task.push_frames(&[&bytes[..40], &bytes[40..]])
                } else {
                    task.push_frames(&[&bytes])
                };
                match pushed {
                    Ok(true) => sent.push_back(f),
                    Ok(false) => {}
                    Err(_) => {
                        assert!(
                            hostile,
                            "the task's own ring refused without a hostile write"
                        );
                        task_dead = true;
                    }
                }
            }
            3 if !rx_dead => match rx.pop() {
                Ok(Some(Record::Frames(v))) => {
                    assert!(v.len() <= MAX_RECORD, "a record over the largest");
                    match crate::wire::one_frame(v) {
                        Ok(f) => {
                            if !hostile {
                                assert_eq!(Some(f), sent.pop_front(), "frame lost or changed");
                            }
                        }
                        Err(_) => {
                            assert!(hostile, "a correct record refused");
                            rx_dead = true;
                        }
                    }
                }
                Ok(Some(Record::Marker)) => assert!(hostile, "a marker nobody pushed"),
                Ok(None) => assert!(hostile || sent.is_empty(), "a pushed frame not seen"),
                Err(_) => {
                    assert!(hostile, "the ring refused without a hostile write");
                    rx_dead = true;
                }
            },
            4 if !tx_dead => {
                let len = usize::from(*a) * 64 + usize::from(*b);
                let body = vec![*a; len.min(MAX_RECORD + 8)];
                match tx.push_frames(&[&body]) {
                    Ok(_) => {}
                    Err(_) => {
                        assert!(hostile, "the daemon's ring to the task refused wrongly");
                        tx_dead = true;
                    }
                }
                let _ = tx.wake_due();
            }
            _ => {}
        }
    }
}

/// A protected link's receiving side (src/seal.rs) after a handshake,
/// fed bytes by someone without the keys: it may refuse them (the link then
/// ends), but never passes a byte on, and never holds more than a record.
pub fn seal_opener(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let level = if split & 0x80 == 0 {
        crate::seal::Level::Encrypted
    } else {
        crate::seal::Level::Integrity
    };
    let binding = crate::seal::Binding {
        nonce_c: &[1; 32],
        nonce_a: &[2; 32],
        level,
        role: 1,
        claimed_id: 0x4_0000,
    };
    let Some(mut keys) = crate::seal::derive(&[7u8; 32], &binding, false) else {
        return;
    };
    for piece in rest.chunks(usize::from(split % 64) + 1) {
        let mut p = piece.to_vec();
        let r = keys
            .rx
            .open(&mut p, |b| panic!("opened {} forged byte(s)", b.len()));
        assert!(keys.rx.pending() <= crate::seal::CHUNK + crate::seal::OVERHEAD);
        if r.is_err() {
            return;
        }
    }
}

/// The line a slave daemon prints to its master through the remote shell
/// (`pvm6 <protocol> <port> <arch> <speed> <dsig>` or `pvm6 error ...`):
/// any line parses or is refused; a parsed one prints back to itself.
pub fn slave_reply(data: &[u8]) {
    use crate::daemon::startup::{parse_reply, reply_line};
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(16) {
        if let Ok(r) = parse_reply(line) {
            let again = parse_reply(&reply_line(r.port, &r.arch, r.speed, r.dsig));
            assert_eq!(again.as_ref(), Ok(&r), "{line:?} does not print back");
        }
    }
}

/// The direct route's hello as a task's listener reads it
/// (`task::fuzz::route_hello`).
pub fn route_hello(data: &[u8]) {
    crate::task::fuzz::route_hello(data)
}

/// The daemon's real request handlers (`daemon::fuzz::requests`).
pub fn requests(data: &[u8]) {
    crate::daemon::fuzz::requests(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_empty_and_small_inputs() {
        for (_, f) in TARGETS {
            f(&[]);
            f(&[0]);
            f(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        }
    }
}
