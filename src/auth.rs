//! Authentication of pvm6's TCP connections (daemon links and direct task
//! routes): the per-machine [`Secret`] and the mutual HMAC-SHA256
//! challenge-response that runs on a fresh TCP connection before any frame.
//!
//! The handshake is written as two sans-IO state machines, [`Connector`] and
//! [`Acceptor`]: they take the bytes that arrived and return the bytes to send
//! ([`Step`]), so the same code drives a blocking socket
//! ([`connect_blocking`], [`accept_blocking`], in auth/blocking.rs) or a
//! non-blocking mio loop.
//!
//! Messages (all sizes fixed; integers little-endian like frame headers):
//!
//! ```text
//! Hello     C -> A  44 bytes  magic "P6A1" | role u8 | level u8 | 2 zero bytes | claimed id i32 | nonce_c[32]
//! Challenge A -> C  68 bytes  magic "P6A1" | nonce_a[32] | mac_a[32]
//! Proof     C -> A  32 bytes  mac_c[32]
//!
//! mac_a = HMAC-SHA256(secret, "pvm6 accept"  | nonce_c | nonce_a | role | level | claimed id)
//! mac_c = HMAC-SHA256(secret, "pvm6 connect" | nonce_a | nonce_c | role | level | claimed id)
//! ```
//!
//! `level` is the protection level of the frames that follow
//! ([`crate::seal::Level`]: 1 encrypted, 2 integrity, 3 none). The acceptor
//! refuses a Hello whose level is not its own ([`AuthError::LevelMismatch`]),
//! and both MACs cover it, so no one on the path can lower it. Once the
//! handshake succeeded, both ends derive the connection's keys from the
//! secret, both nonces, the level, role and id ([`crate::seal::derive`]);
//! [`Acceptor::take_keys`] and [`Connector::take_keys`] hand them over.
//!
//! The connector checks `mac_a` before it answers (so it never proves
//! anything to a peer without the secret) and the acceptor checks `mac_c`;
//! both checks are constant-time (`verify_slice`). A recorded handshake cannot
//! be replayed because every acceptor draws a fresh `nonce_a`. Garbage is
//! rejected at the first wrong byte, and the acceptor never holds more than
//! [`MAX_BUFFERED`] bytes. The handshake authenticates the peer at connection
//! time only; the frames that follow are protected by [`crate::seal`].
//! See docs/PROTOCOL.md, "Authentication (TCP connections)".

use crate::seal::{self, Keys, Level};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::io;

mod blocking;
pub use blocking::{accept_blocking, connect_blocking, Session, TimedStream};

type HmacSha256 = Hmac<Sha256>;

/// First four bytes of Hello and Challenge (protocol name and version).
pub const MAGIC: [u8; 4] = *b"P6A1";
/// Length of the machine secret in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of each side's nonce.
pub const NONCE_LEN: usize = 32;
/// Length of an HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Size of the connector's Hello.
pub const HELLO_LEN: usize = 4 + 1 + 3 + 4 + NONCE_LEN;
/// Size of the acceptor's Challenge.
pub const CHALLENGE_LEN: usize = 4 + NONCE_LEN + MAC_LEN;
/// Size of the connector's Proof.
pub const PROOF_LEN: usize = MAC_LEN;
/// Most bytes an [`Acceptor`] ever holds while it waits for a message to
/// complete (the Hello); anything beyond the expected message fails at once.
pub const MAX_BUFFERED: usize = HELLO_LEN;

const ACCEPT_LABEL: &[u8] = b"pvm6 accept";
const CONNECT_LABEL: &[u8] = b"pvm6 connect";

/// Why a handshake failed.
#[derive(Debug)]
pub enum AuthError {
    /// The peer's bytes do not start with [`MAGIC`]: not a pvm6 peer, or
    /// another version.
    BadMagic,
    /// The Hello names no known [`Role`].
    BadRole(u8),
    /// The Hello's reserved bytes are not zero.
    BadReserved,
    /// The Hello names no known protection level.
    BadLevel(u8),
    /// The peer asks for another protection level than ours.
    LevelMismatch { ours: Level, theirs: Level },
    /// The peer sent more bytes than this step of the handshake allows.
    TooLong,
    /// The peer's MAC is wrong: it does not know the secret (or replayed an
    /// old handshake).
    BadMac,
    /// The peer closed the connection in the middle of the handshake.
    Closed,
    /// The handshake did not complete within the time given.
    Timeout,
    /// A socket error other than a timeout or a close.
    Io(io::Error),
    /// The operating system's random source failed.
    Random(getrandom::Error),
    /// A secret in hex is not exactly 64 hex digits.
    BadSecret,
    /// The state machine was used after it finished or failed, or fed before
    /// [`Connector::start`].
    State,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::BadMagic => write!(f, "peer does not speak the pvm6 handshake"),
            AuthError::BadRole(r) => write!(f, "unknown connection role {r}"),
            AuthError::BadReserved => write!(f, "reserved handshake bytes are not zero"),
            AuthError::BadLevel(l) => write!(f, "unknown protection level {l}"),
            AuthError::LevelMismatch { ours, theirs } => write!(
                f,
                "protection level mismatch: peer uses {theirs}, this machine {ours}"
            ),
            AuthError::TooLong => write!(f, "peer sent more than the handshake allows"),
            AuthError::BadMac => write!(f, "peer failed to prove knowledge of the secret"),
            AuthError::Closed => write!(f, "peer closed the connection during the handshake"),
            AuthError::Timeout => write!(f, "handshake timed out"),
            AuthError::Io(e) => write!(f, "handshake i/o error: {e}"),
            AuthError::Random(e) => write!(f, "OS random source failed: {e}"),
            AuthError::BadSecret => write!(f, "secret is not 64 hex digits"),
            AuthError::State => write!(f, "handshake already finished or failed"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthError::Io(e) => Some(e),
            _ => None,
        }
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(AuthError::Random)?;
    Ok(b)
}

/// The per-machine secret every TCP peer must prove it knows.
///
/// `Debug` prints `Secret(..)` and there is no `Display`: the bytes never end
/// up in a log by accident. The master hands it to a slave daemon as one hex
/// line ([`Secret::to_hex`]) on the remote shell's stdin, never on a command
/// line. The bytes are overwritten with zeros when the value is dropped.
#[derive(Clone)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// A fresh secret from the operating system's random source.
    pub fn generate() -> Result<Secret, AuthError> {
        Ok(Secret(random_bytes()?))
    }

    /// A secret with the given bytes.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }

    /// The secret as 64 lowercase hex digits (no newline).
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(2 * SECRET_LEN);
        for b in self.0 {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 15)] as char);
        }
        s
    }

    /// Parses 64 hex digits (either case). Surrounding ASCII whitespace,
    /// such as the newline of a line read from stdin, is ignored.
    pub fn from_hex(text: &str) -> Result<Secret, AuthError> {
        let t = text.trim_ascii().as_bytes();
        if t.len() != 2 * SECRET_LEN {
            return Err(AuthError::BadSecret);
        }
        let digit = |c: u8| -> Result<u8, AuthError> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(AuthError::BadSecret),
            }
        };
        let mut out = [0u8; SECRET_LEN];
        for (o, pair) in out.iter_mut().zip(t.chunks_exact(2)) {
            *o = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Ok(Secret(out))
    }

    /// The keys of one end of a connection whose handshake succeeded.
    fn session_keys(&self, b: &seal::Binding<'_>, connector: bool) -> Option<Keys> {
        seal::derive(&self.0, b, connector)
    }

    fn keyed(&self) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0 = [0; SECRET_LEN];
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.0);
    }
}

/// What a TCP connection is for, as the connector declares it in its Hello.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A daemon-to-daemon link; the claimed id is the connecting daemon's tid.
    Daemon = 1,
    /// A direct task-to-task route; the claimed id is the connecting task's tid.
    Route = 2,
    /// A task's feed: its messages for the tasks of the acceptor's host,
    /// written straight to that host's daemon (src/daemon/feeds.rs); the
    /// claimed id is the connecting task's tid.
    Feed = 3,
}

impl Role {
    /// The role with wire code `v`.
    pub fn from_u8(v: u8) -> Option<Role> {
        match v {
            1 => Some(Role::Daemon),
            2 => Some(Role::Route),
            3 => Some(Role::Feed),
            _ => None,
        }
    }
}

/// What a successful handshake established: the role and id the connector
/// declared, vouched for by its knowledge of the secret (any holder of the
/// secret may claim any id; the secret is per virtual machine, not per host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub role: Role,
    pub claimed_id: i32,
}

/// One result of feeding bytes to a [`Connector`] or [`Acceptor`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The current message is incomplete: read more and feed it.
    NeedMore,
    /// Send these bytes to the peer, then read and feed its answer.
    Send(Vec<u8>),
    /// The handshake succeeded. `send` (empty for the acceptor, the Proof for
    /// the connector) must still be written to the peer; `rest` holds the
    /// bytes fed after the handshake's last message (the start of the first
    /// frame, when the peer pipelined it), to be handed to the frame reader.
    Done {
        peer: Authenticated,
        send: Vec<u8>,
        rest: Vec<u8>,
    },
}

/// What both MACs of a handshake cover besides the nonces.
#[derive(Clone, Copy)]
struct Claim {
    role: Role,
    level: Level,
    id: i32,
}

/// HMAC over `label | first nonce | second nonce | role | level | claimed id`,
/// not yet finalised.
fn mac_over(key: &HmacSha256, label: &[u8], first: &[u8], second: &[u8], c: Claim) -> HmacSha256 {
    let mut m = key.clone();
    m.update(label);
    m.update(first);
    m.update(second);
    m.update(&[c.role as u8, c.level.code()]);
    m.update(&c.id.to_le_bytes());
    m
}

/// The constraint on byte `pos` of a Hello.
fn check_hello_byte(pos: usize, b: u8) -> Result<(), AuthError> {
    match pos {
        0..=3 if b != MAGIC[pos] => Err(AuthError::BadMagic),
        4 if Role::from_u8(b).is_none() => Err(AuthError::BadRole(b)),
        5 if Level::from_code(b).is_none() => Err(AuthError::BadLevel(b)),
        6..=7 if b != 0 => Err(AuthError::BadReserved),
        _ => Ok(()),
    }
}

/// Copies as much of `input` as the message in `buf` still needs, checking
/// each byte with `check`. Returns the number of bytes taken.
fn fill(
    buf: &mut [u8],
    len: &mut usize,
    input: &[u8],
    check: fn(usize, u8) -> Result<(), AuthError>,
) -> Result<usize, AuthError> {
    let take = (buf.len() - *len).min(input.len());
    for (i, &b) in input[..take].iter().enumerate() {
        check(*len + i, b)?;
    }
    buf[*len..*len + take].copy_from_slice(&input[..take]);
    *len += take;
    Ok(take)
}

enum AcceptState {
    Hello {
        buf: [u8; HELLO_LEN],
        len: usize,
    },
    Proof {
        expect: HmacSha256,
        peer: Authenticated,
        /// The connection's keys, handed over once the Proof checks.
        keys: Option<Box<Keys>>,
        buf: [u8; PROOF_LEN],
        len: usize,
    },
    Done,
    Failed,
}

/// The accepting side of the handshake (the end that called `accept`).
///
/// Feed it what the socket delivers; send what it returns. Bytes beyond the
/// Hello fail at once (a connector cannot honestly send its Proof before it
/// has seen the Challenge); bytes beyond the Proof are returned as `rest`.
/// [`Acceptor::wants`] tells how many bytes complete the current message, for
/// callers that prefer to read exactly that many.
pub struct Acceptor {
    key: HmacSha256,
    secret: Secret,
    level: Level,
    state: AcceptState,
    keys: Option<Box<Keys>>,
}

impl Acceptor {
    /// An acceptor waiting for a Hello; it takes connectors of `level` only.
    pub fn new(secret: &Secret, level: Level) -> Acceptor {
        Acceptor {
            key: secret.keyed(),
            secret: secret.clone(),
            level,
            state: AcceptState::Hello {
                buf: [0; HELLO_LEN],
                len: 0,
            },
            keys: None,
        }
    }

    /// The connection's keys once the handshake is done (None for
    /// [`Level::None`], before, and after the first call).
    pub fn take_keys(&mut self) -> Option<Keys> {
        self.keys.take().map(|k| *k)
    }

    /// Bytes still missing from the message being read (0 once finished).
    pub fn wants(&self) -> usize {
        match &self.state {
            AcceptState::Hello { len, .. } => HELLO_LEN - len,
            AcceptState::Proof { len, .. } => PROOF_LEN - len,
            AcceptState::Done | AcceptState::Failed => 0,
        }
    }

    /// Feeds bytes received from the connector. After an error, or after
    /// [`Step::Done`], every further call fails with [`AuthError::State`].
    pub fn feed(&mut self, input: &[u8]) -> Result<Step, AuthError> {
        let state = std::mem::replace(&mut self.state, AcceptState::Failed);
        let (next, step) = self.advance(state, input)?;
        self.state = next;
        Ok(step)
    }

    fn advance(
        &mut self,
        state: AcceptState,
        input: &[u8],
    ) -> Result<(AcceptState, Step), AuthError> {
        match state {
            AcceptState::Hello { mut buf, mut len } => {
                let took = fill(&mut buf, &mut len, input, check_hello_byte)?;
                if took < input.len() {
                    return Err(AuthError::TooLong);
                }
                if len < HELLO_LEN {
                    return Ok((AcceptState::Hello { buf, len }, Step::NeedMore));
                }
                let role = Role::from_u8(buf[4]).ok_or(AuthError::BadRole(buf[4]))?;
                let level = Level::from_code(buf[5]).ok_or(AuthError::BadLevel(buf[5]))?;
                if level != self.level {
                    return Err(AuthError::LevelMismatch {
                        ours: self.level,
                        theirs: level,
                    });
                }
                let claimed_id = i32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
                let nonce_c = &buf[12..HELLO_LEN];
                let nonce_a: [u8; NONCE_LEN] = random_bytes()?;
                let claim = Claim {
                    role,
                    level,
                    id: claimed_id,
                };
                let mac_a = mac_over(&self.key, ACCEPT_LABEL, nonce_c, &nonce_a, claim)
                    .finalize()
                    .into_bytes();
                let expect = mac_over(&self.key, CONNECT_LABEL, &nonce_a, nonce_c, claim);
                let keys = self
                    .secret
                    .session_keys(
                        &seal::Binding {
                            nonce_c,
                            nonce_a: &nonce_a,
                            level,
                            role: role as u8,
                            claimed_id,
                        },
                        false,
                    )
                    .map(Box::new);
                let mut challenge = Vec::with_capacity(CHALLENGE_LEN);
                challenge.extend_from_slice(&MAGIC);
                challenge.extend_from_slice(&nonce_a);
                challenge.extend_from_slice(&mac_a);
                let next = AcceptState::Proof {
                    expect,
                    peer: Authenticated { role, claimed_id },
                    keys,
                    buf: [0; PROOF_LEN],
                    len: 0,
                };
                Ok((next, Step::Send(challenge)))
            }
            AcceptState::Proof {
                expect,
                peer,
                keys,
                mut buf,
                mut len,
            } => {
                let took = fill(&mut buf, &mut len, input, |_, _| Ok(()))?;
                if len < PROOF_LEN {
                    let next = AcceptState::Proof {
                        expect,
                        peer,
                        keys,
                        buf,
                        len,
                    };
                    return Ok((next, Step::NeedMore));
                }
                expect.verify_slice(&buf).map_err(|_| AuthError::BadMac)?;
                self.keys = keys;
                let step = Step::Done {
                    peer,
                    send: Vec::new(),
                    rest: input[took..].to_vec(),
                };
                Ok((AcceptState::Done, step))
            }
            AcceptState::Done | AcceptState::Failed => Err(AuthError::State),
        }
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            AcceptState::Hello { .. } => "awaiting Hello",
            AcceptState::Proof { .. } => "awaiting Proof",
            AcceptState::Done => "done",
            AcceptState::Failed => "failed",
        };
        write!(f, "Acceptor({state})")
    }
}

enum ConnectState {
    New,
    Challenge {
        buf: [u8; CHALLENGE_LEN],
        len: usize,
    },
    Done,
    Failed,
}

/// The connecting side of the handshake (the end that called `connect`).
///
/// Send [`Connector::start`]'s Hello, then feed what the acceptor answers
/// until [`Step::Done`], whose `send` (the Proof) must still be written.
pub struct Connector {
    key: HmacSha256,
    secret: Secret,
    role: Role,
    level: Level,
    claimed_id: i32,
    nonce_c: [u8; NONCE_LEN],
    state: ConnectState,
    keys: Option<Box<Keys>>,
}

impl Connector {
    /// A connector declaring `role`, `claimed_id` and protection `level`,
    /// with a fresh nonce.
    pub fn new(
        secret: &Secret,
        role: Role,
        claimed_id: i32,
        level: Level,
    ) -> Result<Connector, AuthError> {
        Ok(Connector {
            key: secret.keyed(),
            secret: secret.clone(),
            role,
            level,
            claimed_id,
            nonce_c: random_bytes()?,
            state: ConnectState::New,
            keys: None,
        })
    }

    /// The connection's keys once the handshake is done (None for
    /// [`Level::None`], before, and after the first call).
    pub fn take_keys(&mut self) -> Option<Keys> {
        self.keys.take().map(|k| *k)
    }

    /// The Hello to send first. Calling it again returns the same bytes and
    /// changes nothing.
    pub fn start(&mut self) -> Vec<u8> {
        if let ConnectState::New = self.state {
            self.state = ConnectState::Challenge {
                buf: [0; CHALLENGE_LEN],
                len: 0,
            };
        }
        let mut hello = Vec::with_capacity(HELLO_LEN);
        hello.extend_from_slice(&MAGIC);
        hello.push(self.role as u8);
        hello.push(self.level.code());
        hello.extend_from_slice(&[0, 0]);
        hello.extend_from_slice(&self.claimed_id.to_le_bytes());
        hello.extend_from_slice(&self.nonce_c);
        hello
    }

    /// Bytes still missing from the Challenge (0 before `start` and once
    /// finished).
    pub fn wants(&self) -> usize {
        match &self.state {
            ConnectState::Challenge { len, .. } => CHALLENGE_LEN - len,
            _ => 0,
        }
    }

    /// Feeds bytes received from the acceptor. After an error, or after
    /// [`Step::Done`], every further call fails with [`AuthError::State`].
    pub fn feed(&mut self, input: &[u8]) -> Result<Step, AuthError> {
        let state = std::mem::replace(&mut self.state, ConnectState::Failed);
        let (next, step) = self.advance(state, input)?;
        self.state = next;
        Ok(step)
    }

    fn advance(
        &mut self,
        state: ConnectState,
        input: &[u8],
    ) -> Result<(ConnectState, Step), AuthError> {
        let ConnectState::Challenge { mut buf, mut len } = state else {
            return Err(AuthError::State);
        };
        let check = |pos: usize, b: u8| match pos {
            0..=3 if b != MAGIC[pos] => Err(AuthError::BadMagic),
            _ => Ok(()),
        };
        let took = fill(&mut buf, &mut len, input, check)?;
        // The acceptor sends nothing after its Challenge until it has our
        // Proof, which we have not sent yet.
        if took < input.len() {
            return Err(AuthError::TooLong);
        }
        if len < CHALLENGE_LEN {
            return Ok((ConnectState::Challenge { buf, len }, Step::NeedMore));
        }
        let nonce_a = &buf[4..4 + NONCE_LEN];
        let mac_a = &buf[4 + NONCE_LEN..];
        let (role, id) = (self.role, self.claimed_id);
        let claim = Claim {
            role,
            level: self.level,
            id,
        };
        mac_over(&self.key, ACCEPT_LABEL, &self.nonce_c, nonce_a, claim)
            .verify_slice(mac_a)
            .map_err(|_| AuthError::BadMac)?;
        let proof = mac_over(&self.key, CONNECT_LABEL, nonce_a, &self.nonce_c, claim)
            .finalize()
            .into_bytes()
            .to_vec();
        self.keys = self
            .secret
            .session_keys(
                &seal::Binding {
                    nonce_c: &self.nonce_c,
                    nonce_a,
                    level: self.level,
                    role: role as u8,
                    claimed_id: id,
                },
                true,
            )
            .map(Box::new);
        let step = Step::Done {
            peer: Authenticated {
                role,
                claimed_id: id,
            },
            send: proof,
            rest: Vec::new(),
        };
        Ok((ConnectState::Done, step))
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ConnectState::New => "not started",
            ConnectState::Challenge { .. } => "awaiting Challenge",
            ConnectState::Done => "done",
            ConnectState::Failed => "failed",
        };
        write!(f, "Connector({:?} {}, {state})", self.role, self.claimed_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::UnixStream;
    use std::thread;
    use std::time::{Duration, Instant};

    fn secret(fill: u8) -> Secret {
        Secret::from_bytes([fill; SECRET_LEN])
    }

    /// HMAC-SHA256 computed from the documented layout, independently of the
    /// module's helpers.
    fn spec_mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(secret).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn expect_send(step: Step) -> Vec<u8> {
        match step {
            Step::Send(b) => b,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    /// Runs a whole handshake in memory; returns (connector's view, Hello,
    /// Challenge, Proof, acceptor's view).
    fn run(
        cs: &Secret,
        as_: &Secret,
        role: Role,
        id: i32,
    ) -> (Authenticated, Vec<u8>, Vec<u8>, Vec<u8>, Authenticated) {
        let mut c = Connector::new(cs, role, id, Level::Encrypted).unwrap();
        let mut a = Acceptor::new(as_, Level::Encrypted);
        let hello = c.start();
        let challenge = expect_send(a.feed(&hello).unwrap());
        let Step::Done {
            peer: cpeer,
            send: proof,
            rest,
        } = c.feed(&challenge).unwrap()
        else {
            panic!("connector not done")
        };
        assert!(rest.is_empty());
        let Step::Done {
            peer: apeer,
            send,
            rest,
        } = a.feed(&proof).unwrap()
        else {
            panic!("acceptor not done")
        };
        assert!(send.is_empty() && rest.is_empty());
        (cpeer, hello, challenge, proof, apeer)
    }

    #[test]
    fn secret_hex_round_trip_and_debug_hides_it() {
        let s = Secret::generate().unwrap();
        let hex = s.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let back = Secret::from_hex(&format!("{hex}\n")).unwrap();
        assert_eq!(back.to_hex(), hex);
        assert_eq!(Secret::from_hex(&hex.to_uppercase()).unwrap().to_hex(), hex);
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(..))");
        // Two draws differ (2^-256 chance of a false failure).
        assert_ne!(Secret::generate().unwrap().to_hex(), hex);
        let mut b = [0u8; 32];
        b[0] = 0xab;
        b[31] = 0x01;
        let t = Secret::from_bytes(b).to_hex();
        assert!(t.starts_with("ab00") && t.ends_with("0001"), "{t}");
    }

    #[test]
    fn secret_from_hex_rejects_bad_text() {
        let good = "0123456789abcdef".repeat(4);
        assert!(Secret::from_hex(&good).is_ok());
        for bad in [
            String::new(),
            good[..63].to_string(),
            format!("{good}0"),
            format!("{}g", &good[..63]),
            format!("{}+1", &good[..62]),
            format!("{} {}", &good[..32], &good[32..]),
            "é".repeat(32),
        ] {
            assert!(
                matches!(Secret::from_hex(&bad), Err(AuthError::BadSecret)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn handshake_succeeds_for_every_role() {
        let s = Secret::generate().unwrap();
        for (role, id) in [
            (Role::Daemon, 0x8004_0000u32 as i32),
            (Role::Route, 0x40002),
            (Role::Route, -1),
            (Role::Feed, 0x80003),
        ] {
            let (cp, hello, challenge, proof, ap) = run(&s, &s, role, id);
            let want = Authenticated {
                role,
                claimed_id: id,
            };
            assert_eq!(cp, want);
            assert_eq!(ap, want);
            assert_eq!((hello.len(), challenge.len(), proof.len()), (44, 68, 32));
        }
    }

    #[test]
    fn byte_layout_matches_the_documentation() {
        let s = secret(7);
        let (_, hello, challenge, proof, _) = run(&s, &s, Role::Route, 0x40003);
        assert_eq!(&hello[0..4], b"P6A1");
        assert_eq!(hello[4], 2);
        assert_eq!(hello[5], 1, "level: encrypted");
        assert_eq!(&hello[6..8], &[0, 0]);
        assert_eq!(&hello[8..12], &[0x03, 0x00, 0x04, 0x00]);
        let nonce_c = &hello[12..44];
        assert_eq!(&challenge[0..4], b"P6A1");
        let nonce_a = &challenge[4..36];
        assert_ne!(nonce_a, nonce_c);
        let tail = [2u8, 1, 0x03, 0x00, 0x04, 0x00];
        assert_eq!(
            challenge[36..68],
            spec_mac(&[7; 32], &[b"pvm6 accept", nonce_c, nonce_a, &tail])
        );
        assert_eq!(
            proof[..],
            spec_mac(&[7; 32], &[b"pvm6 connect", nonce_a, nonce_c, &tail])
        );
    }

    #[test]
    fn levels_must_match_and_are_covered_by_the_macs() {
        let s = secret(13);
        // A connector of another level is refused at its Hello.
        for (ours, theirs) in [
            (Level::Encrypted, Level::None),
            (Level::Encrypted, Level::Integrity),
            (Level::None, Level::Encrypted),
        ] {
            let mut c = Connector::new(&s, Role::Daemon, 1, theirs).unwrap();
            let mut a = Acceptor::new(&s, ours);
            match a.feed(&c.start()) {
                Err(AuthError::LevelMismatch { ours: o, theirs: t }) => {
                    assert_eq!((o, t), (ours, theirs))
                }
                other => panic!("{other:?}"),
            }
        }
        // Lowering the level on the path (to pass the acceptor's check of a
        // weaker machine) breaks the MACs: the connector refuses.
        let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
        let mut a = Acceptor::new(&s, Level::None);
        let mut hello = c.start();
        hello[5] = Level::None.code();
        let challenge = expect_send(a.feed(&hello).unwrap());
        assert!(matches!(c.feed(&challenge), Err(AuthError::BadMac)));
        // An unknown level code is refused at once.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(
            a.feed(b"P6A1\x01\x00"),
            Err(AuthError::BadLevel(0))
        ));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(
            a.feed(b"P6A1\x01\x04"),
            Err(AuthError::BadLevel(4))
        ));
    }

    #[test]
    fn both_ends_get_matching_keys_per_connection() {
        let s = secret(14);
        let mut sealed_before: Option<Vec<u8>> = None;
        for level in [Level::Encrypted, Level::Integrity, Level::None] {
            for _ in 0..2 {
                let mut c = Connector::new(&s, Role::Route, 0x40002, level).unwrap();
                let mut a = Acceptor::new(&s, level);
                assert!(c.take_keys().is_none() && a.take_keys().is_none());
                let ch = expect_send(a.feed(&c.start()).unwrap());
                assert!(a.take_keys().is_none(), "no keys before the Proof");
                let Ok(Step::Done { send: proof, .. }) = c.feed(&ch) else {
                    panic!("connector not done")
                };
                assert!(matches!(a.feed(&proof), Ok(Step::Done { .. })));
                let (ck, ak) = (c.take_keys(), a.take_keys());
                if level == Level::None {
                    assert!(ck.is_none() && ak.is_none());
                    continue;
                }
                let (mut ck, mut ak) = (ck.unwrap(), ak.unwrap());
                assert!(c.take_keys().is_none(), "handed over once");
                let mut rec = ck.tx.sealed(&[b"frame bytes"]).unwrap();
                let mut got = Vec::new();
                ak.rx
                    .open(&mut rec.clone(), |b| got.extend_from_slice(b))
                    .unwrap();
                assert_eq!(got, b"frame bytes");
                let mut back = ak.tx.sealed(&[b"reply"]).unwrap();
                let mut got = Vec::new();
                ck.rx.open(&mut back, |b| got.extend_from_slice(b)).unwrap();
                assert_eq!(got, b"reply");
                // A new connection has new keys: an old record is refused.
                if let Some(old) = sealed_before.take().filter(|_| level == Level::Encrypted) {
                    let mut fresh = Acceptor::new(&s, level);
                    let mut c2 = Connector::new(&s, Role::Route, 0x40002, level).unwrap();
                    let ch = expect_send(fresh.feed(&c2.start()).unwrap());
                    let Ok(Step::Done { send: proof, .. }) = c2.feed(&ch) else {
                        panic!("connector not done")
                    };
                    fresh.feed(&proof).unwrap();
                    let mut k = fresh.take_keys().unwrap();
                    assert!(k.rx.open(&mut old.clone(), |_| {}).is_err());
                }
                sealed_before = Some(std::mem::take(&mut rec));
            }
        }
    }

    #[test]
    fn connector_rejects_acceptor_without_the_secret() {
        // Acceptor's secret differs: the connector refuses the Challenge and
        // never sends a Proof.
        let mut c = Connector::new(&secret(1), Role::Daemon, 5, Level::Encrypted).unwrap();
        let mut a = Acceptor::new(&secret(2), Level::Encrypted);
        let challenge = expect_send(a.feed(&c.start()).unwrap());
        assert!(matches!(c.feed(&challenge), Err(AuthError::BadMac)));
        assert!(matches!(c.feed(&[]), Err(AuthError::State)));
        // Same with the secrets the other way round.
        let mut c = Connector::new(&secret(2), Role::Route, 5, Level::Encrypted).unwrap();
        let mut a = Acceptor::new(&secret(1), Level::Encrypted);
        let challenge = expect_send(a.feed(&c.start()).unwrap());
        assert!(matches!(c.feed(&challenge), Err(AuthError::BadMac)));
    }

    #[test]
    fn acceptor_rejects_connector_without_the_secret() {
        // A connector that ignores mac_a and answers with a Proof made with
        // the wrong secret (or with no secret at all) is refused.
        for wrong in [[9u8; 32], [0u8; 32]] {
            let mut a = Acceptor::new(&secret(3), Level::Encrypted);
            let mut hello = MAGIC.to_vec();
            hello.extend_from_slice(&[1, 1, 0, 0, 8, 0, 0, 0]);
            hello.extend_from_slice(&[0x55; 32]);
            let challenge = expect_send(a.feed(&hello).unwrap());
            let nonce_a = &challenge[4..36];
            let proof = spec_mac(
                &wrong,
                &[b"pvm6 connect", nonce_a, &[0x55; 32], &[1, 1, 8, 0, 0, 0]],
            );
            assert!(matches!(a.feed(&proof), Err(AuthError::BadMac)));
            assert!(matches!(a.feed(&[]), Err(AuthError::State)));
        }
        // With the right secret the same forged path succeeds, so the check
        // above failed for the secret and not the layout.
        let mut a = Acceptor::new(&secret(3), Level::Encrypted);
        let mut hello = MAGIC.to_vec();
        hello.extend_from_slice(&[1, 1, 0, 0, 8, 0, 0, 0]);
        hello.extend_from_slice(&[0x55; 32]);
        let challenge = expect_send(a.feed(&hello).unwrap());
        let proof = spec_mac(
            &[3; 32],
            &[
                b"pvm6 connect",
                &challenge[4..36],
                &[0x55; 32],
                &[1, 1, 8, 0, 0, 0],
            ],
        );
        assert!(matches!(
            a.feed(&proof),
            Ok(Step::Done {
                peer: Authenticated {
                    role: Role::Daemon,
                    claimed_id: 8
                },
                ..
            })
        ));
    }

    #[test]
    fn proof_binds_role_and_id() {
        // A Proof made for another claimed id or role does not pass.
        let s = secret(4);
        let mut a = Acceptor::new(&s, Level::Encrypted);
        let mut hello = MAGIC.to_vec();
        hello.extend_from_slice(&[2, 1, 0, 0, 1, 0, 0, 0]);
        hello.extend_from_slice(&[0x11; 32]);
        let challenge = expect_send(a.feed(&hello).unwrap());
        let proof = spec_mac(
            &[4; 32],
            &[
                b"pvm6 connect",
                &challenge[4..36],
                &[0x11; 32],
                &[1, 1, 1, 0, 0, 0],
            ],
        );
        assert!(matches!(a.feed(&proof), Err(AuthError::BadMac)));
    }

    #[test]
    fn replayed_handshake_fails() {
        let s = secret(5);
        let (_, hello, challenge, proof, _) = run(&s, &s, Role::Daemon, 0x8008_0000u32 as i32);
        let mut a = Acceptor::new(&s, Level::Encrypted);
        let challenge2 = expect_send(a.feed(&hello).unwrap());
        assert_ne!(challenge2[4..36], challenge[4..36], "nonce_a must be fresh");
        assert!(matches!(a.feed(&proof), Err(AuthError::BadMac)));
        // Replaying a recorded Challenge to a new connector fails too.
        let mut c =
            Connector::new(&s, Role::Daemon, 0x8008_0000u32 as i32, Level::Encrypted).unwrap();
        c.start();
        assert!(matches!(c.feed(&challenge), Err(AuthError::BadMac)));
    }

    #[test]
    fn byte_at_a_time_and_pipelined_frames() {
        let s = secret(6);
        let mut c = Connector::new(&s, Role::Route, 42, Level::Encrypted).unwrap();
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert_eq!(c.wants(), 0);
        let hello = c.start();
        assert_eq!(c.wants(), CHALLENGE_LEN);
        assert_eq!(a.wants(), HELLO_LEN);
        for &b in &hello[..HELLO_LEN - 1] {
            assert_eq!(a.feed(&[b]).unwrap(), Step::NeedMore);
        }
        assert_eq!(a.wants(), 1);
        assert_eq!(a.feed(&[]).unwrap(), Step::NeedMore);
        let challenge = expect_send(a.feed(&hello[HELLO_LEN - 1..]).unwrap());
        assert_eq!(a.wants(), PROOF_LEN);
        for &b in &challenge[..CHALLENGE_LEN - 1] {
            assert_eq!(c.feed(&[b]).unwrap(), Step::NeedMore);
        }
        let Step::Done { send: proof, .. } = c.feed(&challenge[CHALLENGE_LEN - 1..]).unwrap()
        else {
            panic!("connector not done")
        };
        // The connector's first frame arrives in the same read as the Proof.
        let mut data = proof.clone();
        data.extend_from_slice(b"P6\x01\x01frame");
        assert_eq!(a.feed(&data[..10]).unwrap(), Step::NeedMore);
        match a.feed(&data[10..]).unwrap() {
            Step::Done { peer, send, rest } => {
                assert_eq!(
                    peer,
                    Authenticated {
                        role: Role::Route,
                        claimed_id: 42
                    }
                );
                assert!(send.is_empty());
                assert_eq!(rest, b"P6\x01\x01frame");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.wants(), 0);
        assert!(matches!(a.feed(b"x"), Err(AuthError::State)));
    }

    #[test]
    fn garbage_fails_at_the_first_wrong_byte() {
        let s = secret(8);
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(
            a.feed(b"GET / HTTP/1.1\r\n"),
            Err(AuthError::BadMagic)
        ));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(b"P6"), Ok(Step::NeedMore)));
        assert!(matches!(a.feed(b"\x01"), Err(AuthError::BadMagic)));
        // A frame header instead of a Hello.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(b"P6\x01\x01"), Err(AuthError::BadMagic)));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(b"P6A1\x00"), Err(AuthError::BadRole(0))));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(b"P6A1\x04"), Err(AuthError::BadRole(4))));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(
            a.feed(b"P6A1\x01\x01\x00\x01"),
            Err(AuthError::BadReserved)
        ));
        // Failed machines stay failed.
        assert!(matches!(a.feed(b""), Err(AuthError::State)));

        let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
        assert!(
            matches!(c.feed(b"P6A1"), Err(AuthError::State)),
            "fed before start"
        );
        let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
        c.start();
        assert!(matches!(c.feed(b"SSH-2.0-"), Err(AuthError::BadMagic)));
    }

    #[test]
    fn oversized_and_corrupted_messages_fail() {
        let s = secret(9);
        let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
        let mut hello = c.start();
        hello.push(0);
        // Hello plus one byte: a connector cannot have a Proof yet.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(&hello), Err(AuthError::TooLong)));
        // Same when the extra byte comes in a later read.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(&hello[..HELLO_LEN]), Ok(Step::Send(_))));
        let mut a = Acceptor::new(&s, Level::Encrypted);
        assert!(matches!(a.feed(&hello[..40]), Ok(Step::NeedMore)));
        assert!(matches!(a.feed(&hello[40..]), Err(AuthError::TooLong)));
        // A big blob never gets buffered.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        let mut blob = hello[..HELLO_LEN].to_vec();
        blob.resize(1 << 20, 0xaa);
        assert!(matches!(a.feed(&blob), Err(AuthError::TooLong)));

        // Challenge plus trailing bytes.
        let mut a = Acceptor::new(&s, Level::Encrypted);
        let mut challenge = expect_send(a.feed(&hello[..HELLO_LEN]).unwrap());
        challenge.push(0);
        assert!(matches!(c.feed(&challenge), Err(AuthError::TooLong)));

        // Every single-bit flip of a valid Challenge or Proof is refused.
        for pos in 0..CHALLENGE_LEN {
            let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
            let mut a = Acceptor::new(&s, Level::Encrypted);
            let mut ch = expect_send(a.feed(&c.start()).unwrap());
            ch[pos] ^= 1 << (pos % 8);
            let r = c.feed(&ch);
            if pos < 4 {
                assert!(matches!(r, Err(AuthError::BadMagic)), "{pos}");
            } else {
                assert!(matches!(r, Err(AuthError::BadMac)), "{pos}");
            }
        }
        for pos in 0..PROOF_LEN {
            let mut c = Connector::new(&s, Role::Route, 1, Level::Encrypted).unwrap();
            let mut a = Acceptor::new(&s, Level::Encrypted);
            let ch = expect_send(a.feed(&c.start()).unwrap());
            let Ok(Step::Done {
                send: mut proof, ..
            }) = c.feed(&ch)
            else {
                panic!("connector not done")
            };
            proof[pos] ^= 0x80 >> (pos % 8);
            assert!(matches!(a.feed(&proof), Err(AuthError::BadMac)), "{pos}");
        }
        // A flipped bit in the Hello's id or nonce passes the syntax checks
        // but the connector then refuses the Challenge (it answers another
        // Hello).
        for pos in 8..HELLO_LEN {
            let mut c = Connector::new(&s, Role::Route, 1, Level::Encrypted).unwrap();
            let mut a = Acceptor::new(&s, Level::Encrypted);
            let mut h = c.start();
            h[pos] ^= 4;
            let ch = expect_send(a.feed(&h).unwrap());
            assert!(matches!(c.feed(&ch), Err(AuthError::BadMac)), "{pos}");
        }
    }

    /// xorshift64*: deterministic pseudo-random numbers for the fuzz loop.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn random_input_never_panics_nor_authenticates() {
        let s = secret(10);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            // Random bytes, sometimes behind a valid-looking prefix so the
            // later states get exercised too.
            let mut input = match round % 3 {
                0 => Vec::new(),
                1 => MAGIC.to_vec(),
                _ => {
                    let mut v = MAGIC.to_vec();
                    v.extend_from_slice(&[1 + (round % 2) as u8, 0, 0, 0]);
                    v
                }
            };
            let extra = rng.below(200);
            input.extend(rng.bytes(extra));

            let mut a = Acceptor::new(&s, Level::Encrypted);
            let mut c = Connector::new(&s, Role::Daemon, 1, Level::Encrypted).unwrap();
            c.start();
            for machine in 0..2 {
                let mut at = 0;
                while at < input.len() {
                    let n = 1 + rng.below(input.len() - at);
                    let chunk = &input[at..at + n];
                    at += n;
                    let r = if machine == 0 {
                        a.feed(chunk)
                    } else {
                        c.feed(chunk)
                    };
                    match r {
                        Ok(Step::NeedMore) | Ok(Step::Send(_)) => {}
                        Ok(Step::Done { .. }) => panic!("random input authenticated"),
                        Err(_) => break,
                    }
                }
            }
            assert!(a.wants() <= MAX_BUFFERED);
        }
    }

    fn tcp_pair(addr: &str) -> (TcpStream, TcpStream) {
        let l = TcpListener::bind(addr).unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (a, _) = l.accept().unwrap();
        (c, a)
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn blocking_helpers_over_tcp_loopback() {
        for addr in ["[::1]:0", "127.0.0.1:0"] {
            let s = Secret::generate().unwrap();
            let (mut c, mut a) = tcp_pair(addr);
            let s2 = s.clone();
            let acceptor = thread::spawn(move || {
                let r = accept_blocking(&mut a, &s2, Level::Encrypted, T);
                // The first frame byte after the handshake is left unread.
                let mut first = [0u8; 3];
                a.read_exact(&mut first).unwrap();
                (r.unwrap(), first, a.read_timeout().unwrap())
            });
            let me = connect_blocking(
                &mut c,
                &s,
                Role::Daemon,
                0x8004_0000u32 as i32,
                Level::Encrypted,
                T,
            )
            .unwrap();
            c.write_all(b"P6\x01").unwrap();
            let (peer, first, old_timeout) = acceptor.join().unwrap();
            let want = Authenticated {
                role: Role::Daemon,
                claimed_id: 0x8004_0000u32 as i32,
            };
            assert_eq!(me.peer, want, "{addr}");
            assert_eq!(peer.peer, want, "{addr}");
            assert!(me.keys.is_some() && peer.keys.is_some(), "encrypted: keys");
            assert_eq!(&first, b"P6\x01");
            assert_eq!(old_timeout, None, "timeouts restored");
            assert_eq!(c.read_timeout().unwrap(), None);
            assert_eq!(c.write_timeout().unwrap(), None);
        }
    }

    #[test]
    fn blocking_helpers_keep_the_callers_timeouts() {
        let s = secret(11);
        let (mut c, mut a) = tcp_pair("127.0.0.1:0");
        let keep = Some(Duration::from_secs(42));
        c.set_read_timeout(keep).unwrap();
        c.set_write_timeout(keep).unwrap();
        let s2 = s.clone();
        let t = thread::spawn(move || accept_blocking(&mut a, &s2, Level::Encrypted, T).unwrap());
        connect_blocking(&mut c, &s, Role::Route, 7, Level::Encrypted, T).unwrap();
        assert_eq!(t.join().unwrap().peer.claimed_id, 7);
        assert_eq!(c.read_timeout().unwrap(), keep);
        assert_eq!(c.write_timeout().unwrap(), keep);
    }

    #[test]
    fn blocking_wrong_secret_fails_on_both_ends() {
        for addr in ["[::1]:0", "127.0.0.1:0"] {
            let (mut c, mut a) = tcp_pair(addr);
            let t = thread::spawn(move || accept_blocking(&mut a, &secret(1), Level::Encrypted, T));
            let r = connect_blocking(&mut c, &secret(2), Role::Route, 3, Level::Encrypted, T);
            assert!(matches!(r, Err(AuthError::BadMac)), "{addr}: {r:?}");
            drop(c);
            // The connector hangs up without a Proof.
            let r = t.join().unwrap();
            assert!(matches!(r, Err(AuthError::Closed)), "{addr}: {r:?}");
        }
    }

    #[test]
    fn blocking_garbage_and_truncation() {
        // A peer that sends garbage is refused at once.
        let (mut c, mut a) = tcp_pair("127.0.0.1:0");
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let r = accept_blocking(&mut a, &secret(1), Level::Encrypted, T);
        assert!(matches!(r, Err(AuthError::BadMagic)), "{r:?}");
        // A peer that sends half a Hello and closes.
        let (mut c, mut a) = tcp_pair("[::1]:0");
        let hello = Connector::new(&secret(1), Role::Daemon, 1, Level::Encrypted)
            .unwrap()
            .start();
        c.write_all(&hello[..20]).unwrap();
        drop(c);
        let r = accept_blocking(&mut a, &secret(1), Level::Encrypted, T);
        assert!(matches!(r, Err(AuthError::Closed)), "{r:?}");
        // An acceptor that answers half a Challenge and closes.
        let (mut c, mut a) = tcp_pair("127.0.0.1:0");
        let t = thread::spawn(move || {
            let mut h = [0u8; HELLO_LEN];
            a.read_exact(&mut h).unwrap();
            a.write_all(b"P6A1abc").unwrap();
        });
        let r = connect_blocking(&mut c, &secret(1), Role::Daemon, 1, Level::Encrypted, T);
        t.join().unwrap();
        assert!(matches!(r, Err(AuthError::Closed)), "{r:?}");
    }

    #[test]
    fn blocking_helpers_time_out_on_a_silent_peer() {
        let short = Duration::from_millis(200);
        // Acceptor facing a connector that says nothing.
        let (_c, mut a) = tcp_pair("[::1]:0");
        let t0 = Instant::now();
        let r = accept_blocking(&mut a, &secret(1), Level::Encrypted, short);
        let took = t0.elapsed();
        assert!(matches!(r, Err(AuthError::Timeout)), "{r:?}");
        assert!(took >= short && took < Duration::from_secs(3), "{took:?}");
        assert_eq!(a.read_timeout().unwrap(), None);
        // Connector facing an acceptor that reads the Hello and says nothing.
        let (mut c, _a) = tcp_pair("127.0.0.1:0");
        let t0 = Instant::now();
        let r = connect_blocking(&mut c, &secret(1), Role::Route, 9, Level::Encrypted, short);
        let took = t0.elapsed();
        assert!(matches!(r, Err(AuthError::Timeout)), "{r:?}");
        assert!(took >= short && took < Duration::from_secs(3), "{took:?}");
        // A peer dripping one byte at a time is still held to the deadline.
        let (mut c, mut a) = tcp_pair("127.0.0.1:0");
        let hello = Connector::new(&secret(1), Role::Daemon, 1, Level::Encrypted)
            .unwrap()
            .start();
        let t = thread::spawn(move || {
            for b in &hello[..10] {
                if c.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(60));
            }
        });
        let t0 = Instant::now();
        let r = accept_blocking(&mut a, &secret(1), Level::Encrypted, short);
        let took = t0.elapsed();
        t.join().unwrap();
        assert!(matches!(r, Err(AuthError::Timeout)), "{r:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn blocking_helpers_work_on_unix_streams() {
        let (mut c, mut a) = UnixStream::pair().unwrap();
        let s = secret(12);
        let s2 = s.clone();
        let t = thread::spawn(move || accept_blocking(&mut a, &s2, Level::Encrypted, T));
        let me = connect_blocking(&mut c, &s, Role::Route, 0x40005, Level::Encrypted, T).unwrap();
        let mut theirs = t.join().unwrap().unwrap();
        assert_eq!(theirs.peer, me.peer);
        // The keys match: what one end seals the other opens.
        let mut mine = me.keys.unwrap();
        let mut rec = mine.tx.sealed(&[b"over a unix pair"]).unwrap();
        let mut got = Vec::new();
        theirs
            .keys
            .as_mut()
            .unwrap()
            .rx
            .open(&mut rec, |b| got.extend_from_slice(b))
            .unwrap();
        assert_eq!(got, b"over a unix pair");
    }
}
