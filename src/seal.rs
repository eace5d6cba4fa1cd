//! Protected links between hosts: the per-connection keys and the records
//! every TCP byte after the handshake travels in (daemon links, feeds and
//! direct task routes). The one place that names the cipher.
//!
//! After the handshake of [`crate::auth`] both ends derive two keys from the
//! machine's secret and the handshake's two nonces (HKDF-SHA256), one per
//! direction, so a key is never used by both ends. The byte stream of frames
//! is then cut into records of at most [`CHUNK`] bytes:
//!
//! ```text
//! record = len u32 LE (1..=CHUNK) | data[len] | tag[16]
//! ```
//!
//! * [`Level::Encrypted`] (the default): `data` is AES-128-GCM ciphertext,
//!   `tag` its tag; the 4 length bytes are the additional data. (AES-128,
//!   TLS 1.3's mandatory cipher, a 128-bit security level: with its 10
//!   rounds against AES-256's 14 it seals and opens 1.5x faster here, 34-39
//!   against 24 Gbit/s in `seal_speed`, and sealing is most of what the
//!   encrypted level costs over TCP.)
//! * [`Level::Integrity`]: `data` is the plaintext, `tag` is
//!   ChaCha20-Poly1305's tag of an empty plaintext with `len | data` as
//!   additional data (Poly1305 under a one-time key per record): the bytes
//!   can be read on the path but not changed. (Poly1305 authenticates
//!   additional data faster than GCM's GHASH does in `ring`, 5.0 against
//!   2.7 Gbit/s sealed and opened here; AES-GCM encryption itself, with
//!   VAES and VPCLMULQDQ, runs faster still: see `seal_speed`.)
//! * [`Level::None`]: no records; frames go as they are (the handshake still
//!   runs).
//!
//! The nonce of record n (counted from 0 per direction) is n as a 64-bit
//! counter: a record that was changed, replayed, moved, dropped or made up
//! fails to open, and the link ends (nothing of it is delivered). Memory
//! stays bounded on both sides: a sender seals a large body chunk by chunk,
//! a receiver never holds more than one record of ciphertext.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, CHACHA20_POLY1305};
use ring::hkdf;
use std::fmt;

/// The environment variable that chooses a machine's protection level
/// (read by the master; passed on to its slaves and tasks).
pub const ENV: &str = "PVM6_PROTECT";
/// Most bytes of frames one record carries.
pub const CHUNK: usize = 64 * 1024;
/// Length of a record's length field.
pub const HEAD_LEN: usize = 4;
/// Length of a record's tag.
pub const TAG_LEN: usize = 16;
/// What a record adds to the bytes it carries.
pub const OVERHEAD: usize = HEAD_LEN + TAG_LEN;
/// Bytes a blocking writer seals at a time (a few records): what it holds
/// beyond the message it sends.
pub const WINDOW: usize = 4 * CHUNK;

/// The bytes `off..off + len` of the concatenation of `parts`, as slices.
pub fn window<'a>(parts: &[&'a [u8]], mut off: usize, mut len: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for p in parts {
        if len == 0 {
            break;
        }
        if off >= p.len() {
            off -= p.len();
            continue;
        }
        let take = (p.len() - off).min(len);
        out.push(&p[off..off + take]);
        len -= take;
        off = 0;
    }
    out
}

/// How the frames of a TCP connection between hosts are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Level {
    /// Authenticated and encrypted (AEAD). The default.
    #[default]
    Encrypted,
    /// Authenticated (MAC and sequence number), readable on the path.
    Integrity,
    /// Neither: for fabrics the user trusts. The handshake still runs.
    None,
}

impl Level {
    /// The level's code in the handshake's Hello (never 0).
    pub fn code(self) -> u8 {
        match self {
            Level::Encrypted => 1,
            Level::Integrity => 2,
            Level::None => 3,
        }
    }

    /// The level with handshake code `c`.
    pub fn from_code(c: u8) -> Option<Level> {
        match c {
            1 => Some(Level::Encrypted),
            2 => Some(Level::Integrity),
            3 => Some(Level::None),
            _ => None,
        }
    }

    /// The name used by the hostfile, the environment and the logs.
    pub fn name(self) -> &'static str {
        match self {
            Level::Encrypted => "encrypted",
            Level::Integrity => "integrity",
            Level::None => "none",
        }
    }

    /// Parses a level's name (`encrypted`, `integrity`, `none`; case does
    /// not matter; `encrypt`, `mac` and `off` are taken too).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "encrypted" | "encrypt" => Some(Level::Encrypted),
            "integrity" | "mac" => Some(Level::Integrity),
            "none" | "off" => Some(Level::None),
            _ => None,
        }
    }

    /// The level `$PVM6_PROTECT` asks for: `Ok(None)` when unset or empty,
    /// `Err(value)` when it names no level.
    pub fn from_env() -> Result<Option<Level>, String> {
        match std::env::var(ENV) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Level::parse(&v).map(Some).ok_or(v),
            Err(_) => Ok(None),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why received bytes were refused. The link must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// A record's length field is 0 or above [`CHUNK`].
    BadLength { seq: u64, len: usize },
    /// A record failed to open: changed, replayed, reordered, dropped or
    /// injected (the counter is the record's place in the stream).
    Forged { seq: u64 },
    /// The opener refused earlier; nothing more is read.
    Failed,
    /// 2^64 records: the counter would repeat.
    Exhausted,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::BadLength { seq, len } => write!(
                f,
                "protected record {seq} claims {len} bytes (at most {CHUNK}): tampered or not sealed"
            ),
            SealError::Forged { seq } => write!(
                f,
                "protected record {seq} failed authentication (tampered, replayed, reordered or injected)"
            ),
            SealError::Failed => write!(f, "link refused an earlier record"),
            SealError::Exhausted => write!(f, "record counter exhausted"),
        }
    }
}

impl std::error::Error for SealError {}

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// The sending half: seals bytes into records, counting them.
pub struct Sealer {
    key: LessSafeKey,
    level: Level,
    seq: u64,
}

impl Sealer {
    /// Seals the message made of `parts` a [`WINDOW`] at a time, handing
    /// each sealed window to `write`: what is held beyond the message stays
    /// bounded. Used by every writer of a protected stream.
    pub fn seal_windows(
        &mut self,
        parts: &[&[u8]],
        mut write: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut sealed = Vec::new();
        let mut off = 0;
        while off < total {
            let n = (total - off).min(WINDOW);
            sealed.clear();
            self.seal(&window(parts, off, n), &mut sealed)
                .map_err(std::io::Error::other)?;
            write(&sealed)?;
            off += n;
        }
        Ok(())
    }

    /// Appends to `out` the records carrying the bytes of `parts` in order
    /// (a frame's header and body), each at most [`CHUNK`] bytes.
    pub fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        out.reserve(total + total.div_ceil(CHUNK) * OVERHEAD);
        let mut part = 0;
        let mut at = 0;
        let mut left = total;
        while left > 0 {
            let n = left.min(CHUNK);
            let head = out.len();
            out.extend_from_slice(&(n as u32).to_le_bytes());
            let mut need = n;
            while need > 0 {
                let p = parts[part];
                let take = (p.len() - at).min(need);
                out.extend_from_slice(&p[at..at + take]);
                at += take;
                need -= take;
                if at == p.len() {
                    part += 1;
                    at = 0;
                }
            }
            // Empty parts do not count.
            while part < parts.len() && parts[part].len() == at {
                part += 1;
                at = 0;
            }
            let seq = self.next()?;
            let tag = match self.level {
                Level::Integrity => self.key.seal_in_place_separate_tag(
                    nonce(seq),
                    Aad::from(&out[head..]),
                    &mut [],
                ),
                _ => {
                    let (len, data) = out[head..].split_at_mut(HEAD_LEN);
                    self.key
                        .seal_in_place_separate_tag(nonce(seq), Aad::from(&*len), data)
                }
            }
            .map_err(|_| SealError::Exhausted)?;
            out.extend_from_slice(tag.as_ref());
            left -= n;
        }
        Ok(())
    }

    /// The records of `parts` in a new buffer.
    pub fn sealed(&mut self, parts: &[&[u8]]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        self.seal(parts, &mut out)?;
        Ok(out)
    }

    fn next(&mut self) -> Result<u64, SealError> {
        let s = self.seq;
        self.seq = s.checked_add(1).ok_or(SealError::Exhausted)?;
        Ok(s)
    }

    /// The level this sealer applies.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// The receiving half: opens records in order, counting them, and hands on
/// the bytes of the ones that authenticate.
pub struct Opener {
    key: LessSafeKey,
    level: Level,
    seq: u64,
    /// An incomplete record (at most [`CHUNK`] + [`OVERHEAD`] bytes).
    part: Vec<u8>,
    failed: bool,
}

impl Opener {
    /// Opens the records in `input` (bytes as read from the socket,
    /// decrypted in place) and passes their bytes to `sink`, in order; an
    /// incomplete record at the end is kept for the next call. After an
    /// error nothing more is passed on, now or later.
    pub fn open(&mut self, input: &mut [u8], mut sink: impl FnMut(&[u8])) -> Result<(), SealError> {
        if self.failed {
            return Err(SealError::Failed);
        }
        let r = self.open_inner(input, &mut sink);
        if r.is_err() {
            self.failed = true;
            self.part = Vec::new();
        }
        r
    }

    fn open_inner(
        &mut self,
        mut input: &mut [u8],
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), SealError> {
        if !self.part.is_empty() {
            // Complete the kept record first.
            if self.part.len() < HEAD_LEN {
                let take = (HEAD_LEN - self.part.len()).min(input.len());
                self.part.extend_from_slice(&input[..take]);
                input = &mut input[take..];
                if self.part.len() < HEAD_LEN {
                    return Ok(());
                }
            }
            let want = self.record_len(&self.part)?;
            let take = (want - self.part.len()).min(input.len());
            self.part.extend_from_slice(&input[..take]);
            input = &mut input[take..];
            if self.part.len() < want {
                return Ok(());
            }
            let mut rec = std::mem::take(&mut self.part);
            let plain = self.open_record(&mut rec)?;
            sink(plain);
            rec.clear();
            self.part = rec;
        }
        loop {
            if input.len() < HEAD_LEN {
                break;
            }
            let want = self.record_len(input)?;
            if input.len() < want {
                break;
            }
            let (rec, rest) = input.split_at_mut(want);
            sink(self.open_record(rec)?);
            input = rest;
        }
        if !input.is_empty() {
            if self.part.capacity() == 0 {
                self.part.reserve(CHUNK + OVERHEAD);
            }
            self.part.extend_from_slice(input);
        }
        Ok(())
    }

    /// The whole length of the record whose head starts `b`.
    fn record_len(&self, b: &[u8]) -> Result<usize, SealError> {
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len == 0 || len > CHUNK {
            return Err(SealError::BadLength { seq: self.seq, len });
        }
        Ok(HEAD_LEN + len + TAG_LEN)
    }

    /// Opens one whole record in place; its bytes.
    fn open_record<'a>(&mut self, rec: &'a mut [u8]) -> Result<&'a [u8], SealError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(SealError::Exhausted)?;
        let forged = |_| SealError::Forged { seq };
        match self.level {
            Level::Integrity => {
                let (signed, tag) = rec.split_at_mut(rec.len() - TAG_LEN);
                self.key
                    .open_in_place(nonce(seq), Aad::from(&*signed), tag)
                    .map_err(forged)?;
                Ok(&signed[HEAD_LEN..])
            }
            _ => {
                let (len, sealed) = rec.split_at_mut(HEAD_LEN);
                let plain = self
                    .key
                    .open_in_place(nonce(seq), Aad::from(&*len), sealed)
                    .map_err(forged)?;
                Ok(plain)
            }
        }
    }

    /// Bytes of an incomplete record kept.
    pub fn pending(&self) -> usize {
        self.part.len()
    }
}

/// Both halves of one end of a protected connection.
pub struct Keys {
    pub tx: Sealer,
    pub rx: Opener,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys({})", self.tx.level)
    }
}

/// What the key derivation binds besides the secret: the handshake's two
/// nonces, the level, the connection's role and the id claimed.
pub struct Binding<'a> {
    pub nonce_c: &'a [u8],
    pub nonce_a: &'a [u8],
    pub level: Level,
    pub role: u8,
    pub claimed_id: i32,
}

const SALT: &[u8] = b"pvm6 protected link v2";
const TO_ACCEPTOR: &[u8] = b"pvm6 connector to acceptor";
const TO_CONNECTOR: &[u8] = b"pvm6 acceptor to connector";

fn direction_key(prk: &hkdf::Prk, label: &[u8], b: &Binding<'_>) -> LessSafeKey {
    let level = [b.level.code(), b.role];
    let id = b.claimed_id.to_le_bytes();
    let info: [&[u8]; 5] = [label, b.nonce_c, b.nonce_a, &level, &id];
    let alg = match b.level {
        Level::Integrity => &CHACHA20_POLY1305,
        _ => &AES_128_GCM,
    };
    // The output length is the algorithm's key length, always accepted.
    let okm = prk
        .expand(&info, alg)
        .expect("HKDF output of one key length");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// The keys of one end (`connector` tells which) of a connection whose
/// handshake succeeded; None for [`Level::None`].
pub fn derive(secret: &[u8], b: &Binding<'_>, connector: bool) -> Option<Keys> {
    if b.level == Level::None {
        return None;
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret);
    let to_a = direction_key(&prk, TO_ACCEPTOR, b);
    let to_c = direction_key(&prk, TO_CONNECTOR, b);
    let (tx, rx) = if connector {
        (to_a, to_c)
    } else {
        (to_c, to_a)
    };
    Some(Keys {
        tx: Sealer {
            key: tx,
            level: b.level,
            seq: 0,
        },
        rx: Opener {
            key: rx,
            level: b.level,
            seq: 0,
            part: Vec::new(),
            failed: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(level: Level) -> (Keys, Keys) {
        let b = Binding {
            nonce_c: &[1; 32],
            nonce_a: &[2; 32],
            level,
            role: 1,
            claimed_id: 0x4_0000,
        };
        let c = derive(&[9; 32], &b, true).unwrap();
        let a = derive(&[9; 32], &b, false).unwrap();
        (c, a)
    }

    fn open_all(o: &mut Opener, bytes: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        let mut b = bytes.to_vec();
        o.open(&mut b, |p| out.extend_from_slice(p))?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Sealing and opening speed on this machine (not a check; run with
    /// `cargo test --release --lib seal_speed -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn seal_speed() {
        for level in [Level::Encrypted, Level::Integrity] {
            let (mut c, mut a) = pair(level);
            let msg = data(1 << 20);
            let t0 = std::time::Instant::now();
            let mut n = 0usize;
            while t0.elapsed() < std::time::Duration::from_millis(500) {
                let mut s = c.tx.sealed(&[&msg]).unwrap();
                a.rx.open(&mut s, |_| {}).unwrap();
                n += 1;
            }
            let gbps = (n as f64 * 8.0 * (1 << 20) as f64) / t0.elapsed().as_secs_f64() / 1e9;
            println!("{level}: seal + open of 1 MiB: {gbps:.1} Gbit/s");
        }
    }

    #[test]
    fn windows_of_parts() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        assert_eq!(window(&parts, 0, 8).concat(), b"abcdefgh");
        assert_eq!(window(&parts, 2, 3).concat(), b"cde");
        assert_eq!(window(&parts, 3, 5).concat(), b"defgh");
        assert_eq!(window(&parts, 7, 9).concat(), b"h");
        assert!(window(&parts, 8, 1).is_empty());
    }

    #[test]
    fn levels_parse_and_code() {
        for l in [Level::Encrypted, Level::Integrity, Level::None] {
            assert_eq!(Level::parse(l.name()), Some(l));
            assert_eq!(Level::from_code(l.code()), Some(l));
        }
        assert_eq!(Level::parse(" Integrity\n"), Some(Level::Integrity));
        assert_eq!(Level::parse("weak"), None);
        assert_eq!(Level::from_code(0), None);
        assert_eq!(Level::default(), Level::Encrypted);
        assert!(derive(
            &[0; 32],
            &Binding {
                nonce_c: &[],
                nonce_a: &[],
                level: Level::None,
                role: 1,
                claimed_id: 1
            },
            true
        )
        .is_none());
    }

    #[test]
    fn round_trip_at_chunk_boundaries_and_split_reads() {
        for level in [Level::Encrypted, Level::Integrity] {
            for n in [
                1,
                31,
                32,
                CHUNK - 1,
                CHUNK,
                CHUNK + 1,
                2 * CHUNK,
                3 * CHUNK + 5,
            ] {
                let (mut c, mut a) = pair(level);
                let msg = data(n);
                // A frame in three parts (header, two body slices).
                let cut = [n.min(32), n.min(32 + n / 3)];
                let parts = [&msg[..cut[0]], &msg[cut[0]..cut[1]], &msg[cut[1]..]];
                let sealed = c.tx.sealed(&parts).unwrap();
                assert_eq!(sealed.len(), n + n.div_ceil(CHUNK) * OVERHEAD, "{n}");
                if level == Level::Encrypted && n >= 32 {
                    assert!(
                        !sealed.windows(32).any(|w| w == &msg[..32]),
                        "not encrypted"
                    );
                }
                if level == Level::Integrity {
                    assert_eq!(
                        &sealed[HEAD_LEN..HEAD_LEN + n.min(CHUNK)],
                        &msg[..n.min(CHUNK)]
                    );
                }
                // Fed in odd pieces, the bytes come out whole and in order.
                for step in [1usize, 3, 4, 19, 4096, CHUNK + OVERHEAD, usize::MAX] {
                    if step == 1 && n > CHUNK {
                        continue;
                    }
                    let (_, mut a2) = pair(level);
                    let mut out = Vec::new();
                    for piece in sealed.chunks(step.min(sealed.len())) {
                        let mut p = piece.to_vec();
                        a2.rx.open(&mut p, |b| out.extend_from_slice(b)).unwrap();
                        assert!(a2.rx.pending() <= CHUNK + OVERHEAD);
                    }
                    assert_eq!(out, msg, "{level} {n} step {step}");
                    assert_eq!(a2.rx.pending(), 0);
                }
                assert_eq!(open_all(&mut a.rx, &sealed).unwrap(), msg);
            }
        }
    }

    #[test]
    fn directions_use_different_keys() {
        let (mut c, mut a) = pair(Level::Encrypted);
        let from_c = c.tx.sealed(&[b"hello"]).unwrap();
        let from_a = a.tx.sealed(&[b"hello"]).unwrap();
        assert_ne!(from_c, from_a);
        // A record sent back to its sender (reflection) is refused.
        let (mut c2, _) = pair(Level::Encrypted);
        assert_eq!(
            open_all(&mut c2.rx, &from_c),
            Err(SealError::Forged { seq: 0 })
        );
        assert_eq!(open_all(&mut a.rx, &from_c).unwrap(), b"hello");
        assert_eq!(open_all(&mut c.rx, &from_a).unwrap(), b"hello");
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        for level in [Level::Encrypted, Level::Integrity] {
            let (mut c, _) = pair(level);
            let sealed = c.tx.sealed(&[&data(100)]).unwrap();
            for pos in 0..sealed.len() {
                let (_, mut a) = pair(level);
                let mut bad = sealed.clone();
                bad[pos] ^= 0x10;
                // What follows on the stream (a changed length makes the
                // opener wait for more before it can check the tag).
                bad.resize(sealed.len() + CHUNK + OVERHEAD, 0);
                let mut got = Vec::new();
                let r = a.rx.open(&mut bad, |b| got.extend_from_slice(b));
                assert!(r.is_err(), "{level} byte {pos} accepted");
                assert!(got.is_empty(), "{level} byte {pos}: bytes passed on");
                // The opener stays failed.
                assert_eq!(open_all(&mut a.rx, &sealed), Err(SealError::Failed));
            }
        }
    }

    #[test]
    fn replay_reorder_drop_and_injection_are_refused() {
        for level in [Level::Encrypted, Level::Integrity] {
            let (mut c, _) = pair(level);
            let r0 = c.tx.sealed(&[b"first"]).unwrap();
            let r1 = c.tx.sealed(&[b"second"]).unwrap();
            let r2 = c.tx.sealed(&[b"third"]).unwrap();
            // Replay.
            let (_, mut a) = pair(level);
            assert_eq!(open_all(&mut a.rx, &r0).unwrap(), b"first");
            assert_eq!(open_all(&mut a.rx, &r0), Err(SealError::Forged { seq: 1 }));
            // Reorder.
            let (_, mut a) = pair(level);
            assert_eq!(open_all(&mut a.rx, &r1), Err(SealError::Forged { seq: 0 }));
            // Drop one.
            let (_, mut a) = pair(level);
            assert_eq!(open_all(&mut a.rx, &r0).unwrap(), b"first");
            assert_eq!(open_all(&mut a.rx, &r2), Err(SealError::Forged { seq: 1 }));
            // Injection: a plain frame header, a record made with another
            // secret, a record of another connection (other nonces).
            let (_, mut a) = pair(level);
            let mut plain = b"P6\x01\x02".to_vec();
            plain.extend_from_slice(&[0; 28]);
            assert!(matches!(
                open_all(&mut a.rx, &plain),
                Err(SealError::BadLength { seq: 0, .. })
            ));
            let other = Binding {
                nonce_c: &[1; 32],
                nonce_a: &[3; 32],
                level,
                role: 1,
                claimed_id: 0x4_0000,
            };
            let mut o = derive(&[9; 32], &other, true).unwrap();
            let foreign = o.tx.sealed(&[b"first"]).unwrap();
            let (_, mut a) = pair(level);
            assert_eq!(
                open_all(&mut a.rx, &foreign),
                Err(SealError::Forged { seq: 0 })
            );
            // Truncating a record's tag and appending a good one is refused too.
            let (_, mut a) = pair(level);
            let mut cut = r0[..r0.len() - 1].to_vec();
            cut.extend_from_slice(&r1);
            assert!(open_all(&mut a.rx, &cut).is_err());
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_buffering() {
        let (_, mut a) = pair(Level::Encrypted);
        let mut head = ((CHUNK + 1) as u32).to_le_bytes().to_vec();
        assert!(matches!(
            a.rx.open(&mut head, |_| {}),
            Err(SealError::BadLength { len, .. }) if len == CHUNK + 1
        ));
        // Split across calls too.
        let (_, mut a) = pair(Level::Integrity);
        a.rx.open(&mut [0, 0], |_| {}).unwrap();
        assert!(a.rx.open(&mut [0, 0, 9], |_| {}).is_err());
    }

    #[test]
    fn level_mismatch_between_ends_fails() {
        let (mut c, _) = pair(Level::Integrity);
        let (_, mut a) = pair(Level::Encrypted);
        let sealed = c.tx.sealed(&[b"x"]).unwrap();
        assert!(open_all(&mut a.rx, &sealed).is_err());
    }
}
