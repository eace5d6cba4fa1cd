//! Entry points for fuzzing every decoder that reads bytes from outside.
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
