//! The shared-memory ring of a direct link between two tasks on one host:
//! large message bodies travel through a memory mapping instead of the
//! socket, so each crosses memory once on the way in and once on the way out
//! (the socket path copies into and out of kernel buffers in small pieces).
//!
//! Each direction of a link has its own ring, created by the sending side
//! on its first large message: a sealed memfd (it can neither shrink nor
//! grow, so the peer's mapping never faults), passed to the peer with
//! SCM_RIGHTS attached to the first frame that uses it. The socket stays the
//! only doorbell and the only order: for a body placed in the ring the link
//! carries a small control frame ([`TAG_RING`], or [`TAG_RING_NEW`] with the
//! descriptor) holding the body's ring position and the message's real
//! header. The receiver copies the body out when it decodes that frame, so
//! ring bodies and inline frames are taken in exactly the order they were
//! sent, and the hold-until-count logic of `direct` is unchanged. Waking up
//! is the socket's readability: nobody polls the ring.
//!
//! Ring layout: the first 8 bytes hold the consumer position (bytes taken
//! so far, written by the receiver); data starts at [`DATA_AT`]. Positions
//! grow without bound and wrap modulo the capacity; a body may wrap. When
//! the ring is empty, the sender starts the next body at the ring's start
//! (the memory most likely still in cache). A body that does not fit now,
//! or is small, goes inline through the socket as before: the sender never
//! waits for ring space, so the link's deadlock avoidance still holds.

use crate::sys::{self, SharedMap};
use crate::wire::{Frame, Header, Kind, HEADER_LEN};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Tag of a control frame whose message body is in the ring.
pub const TAG_RING: i32 = -51;
/// Same, and the frame carries the ring's descriptor (its first use).
pub const TAG_RING_NEW: i32 = -52;
/// Bodies smaller than this go inline (the socket is as fast for them).
const MIN_BODY: usize = 32 * 1024;
/// Ring capacity in bytes (a 4 MiB message ping-pongs with room to spare).
const CAPACITY: usize = 8 << 20;
/// Where the data area starts (the first page holds the consumer position).
const DATA_AT: usize = 4096;
/// Size of a control frame's body: position, then the message's header.
const CTL_LEN: usize = 8 + HEADER_LEN;

/// Whether a frame read from a link refers to a body in the ring.
pub fn is_ring_frame(f: &Frame) -> bool {
    f.header.kind == Kind::Ctl && (f.header.tag == TAG_RING || f.header.tag == TAG_RING_NEW)
}

/// The sending side of one link's ring.
#[derive(Default)]
pub struct Tx {
    ring: Option<(OwnedFd, SharedMap)>,
    /// Position where the next body goes (bytes placed so far).
    head: u64,
    /// The descriptor has reached the peer.
    announced: bool,
    /// No ring for this link (creating it failed, or the peer misbehaved).
    disabled: bool,
}

impl Tx {
    /// Places a message body in the ring when it is large and fits now;
    /// returns the control frame to write on the link instead of the
    /// message (pass [`Tx::fd_to_pass`] with it, then call
    /// [`Tx::passed`]). None: send the message inline.
    pub fn place(&mut self, header: &Header, body: &[IoSlice<'_>]) -> Option<Vec<u8>> {
        let len: usize = body.iter().map(|s| s.len()).sum();
        if self.disabled || !(MIN_BODY..=CAPACITY).contains(&len) {
            return None;
        }
        if self.ring.is_none() {
            match sys::sealed_memfd("pvm6-ring", DATA_AT + CAPACITY)
                .and_then(|fd| SharedMap::map(fd.as_fd(), DATA_AT + CAPACITY).map(|m| (fd, m)))
            {
                Ok(r) => self.ring = Some(r),
                Err(e) => {
                    log::debug!("no shared-memory ring: {e}");
                    self.disabled = true;
                    return None;
                }
            }
        }
        let (_, map) = self.ring.as_ref()?;
        let cap = CAPACITY as u64;
        let tail = map.load(0);
        if tail > self.head {
            log::warn!("direct link peer reported a bad ring position; ring disabled");
            self.disabled = true;
            return None;
        }
        if tail == self.head {
            self.head = self.head.next_multiple_of(cap);
            // The receiver only ever stores positions it was sent; keep it in step.
            map.store(0, self.head);
        }
        if self.head - map.load(0) + len as u64 > cap {
            return None;
        }
        let pos = self.head;
        let mut at = pos;
        for s in body {
            let mut s: &[u8] = s;
            while !s.is_empty() {
                let off = (at % cap) as usize;
                let n = s.len().min(CAPACITY - off);
                map.write_at(DATA_AT + off, &s[..n]);
                s = &s[n..];
                at += n as u64;
            }
        }
        self.head = at;
        let ctl = Header {
            len: CTL_LEN as u32,
            tag: if self.announced {
                TAG_RING
            } else {
                TAG_RING_NEW
            },
            ..Header::new(Kind::Ctl)
        };
        let mut frame = Vec::with_capacity(HEADER_LEN + CTL_LEN);
        frame.extend_from_slice(&ctl.encode());
        frame.extend_from_slice(&pos.to_be_bytes());
        frame.extend_from_slice(&header.encode());
        Some(frame)
    }

    /// The ring's descriptor while the peer has not received it yet.
    pub fn fd_to_pass(&self) -> Option<BorrowedFd<'_>> {
        match &self.ring {
            Some((fd, _)) if !self.announced => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// The descriptor went out (with the first bytes of its frame).
    pub fn passed(&mut self) {
        self.announced = true;
    }
}

/// The receiving side of one link's ring.
#[derive(Default)]
pub struct Rx {
    ring: Option<SharedMap>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Rx {
    /// The message a ring control frame stands for: maps the ring first when
    /// the frame brings it (the first of `fds`, received with the frame's
    /// bytes), then copies the body out and frees its room.
    pub fn take(&mut self, f: &Frame, fds: &mut Vec<OwnedFd>) -> io::Result<Frame> {
        if f.header.tag == TAG_RING_NEW {
            if fds.is_empty() {
                return Err(bad("ring frame without its descriptor"));
            }
            let fd = fds.remove(0);
            let size = sys::sealed_size(fd.as_fd())?;
            if size != DATA_AT + CAPACITY {
                return Err(bad("ring of unexpected size"));
            }
            self.ring = Some(SharedMap::map(fd.as_fd(), size)?);
        }
        let map = self
            .ring
            .as_ref()
            .ok_or_else(|| bad("ring frame before its ring"))?;
        if f.body.len() != CTL_LEN {
            return Err(bad("bad ring frame"));
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&f.body[..8]);
        let pos = u64::from_be_bytes(word);
        let head: &[u8; HEADER_LEN] = f.body[8..].try_into().map_err(|_| bad("bad ring frame"))?;
        let header = Header::decode(head).map_err(|_| bad("bad header in ring frame"))?;
        let len = header.len as usize;
        if len > CAPACITY || header.kind != Kind::Msg {
            return Err(bad("bad ring message"));
        }
        let cap = CAPACITY as u64;
        let off = (pos % cap) as usize;
        let first = len.min(CAPACITY - off);
        let mut body = Vec::with_capacity(len);
        if !(map.read_into(DATA_AT + off, first, &mut body)
            && map.read_into(DATA_AT, len - first, &mut body))
        {
            return Err(bad("ring read out of range"));
        }
        map.store(0, pos + len as u64);
        Ok(Frame { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_header(len: usize) -> Header {
        Header {
            len: len as u32,
            src: 0x40001,
            dst: 0x40002,
            tag: 7,
            ..Header::new(Kind::Msg)
        }
    }

    fn ctl_frame(bytes: &[u8]) -> Frame {
        let head: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
        Frame {
            header: Header::decode(head).unwrap(),
            body: bytes[HEADER_LEN..].to_vec(),
        }
    }

    /// Passes the descriptor the way a socket would: a duplicate.
    fn dup(fd: BorrowedFd<'_>) -> OwnedFd {
        fd.try_clone_to_owned().unwrap()
    }

    #[test]
    fn bodies_round_trip_in_order_and_wrap() {
        let mut tx = Tx::default();
        let mut rx = Rx::default();
        let mut fds = Vec::new();
        // Small bodies stay inline.
        assert!(tx
            .place(&msg_header(10), &[IoSlice::new(&[1; 10])])
            .is_none());
        // Three 3 MiB bodies: the third wraps around the 8 MiB ring (after
        // the first two were taken) and must come back intact.
        for round in 0..3u8 {
            let a: Vec<u8> = (0..1 << 20).map(|i| (i as u8) ^ round).collect();
            let b = vec![round; 2 << 20];
            let len = a.len() + b.len();
            let frame = tx
                .place(&msg_header(len), &[IoSlice::new(&a), IoSlice::new(&b)])
                .expect("fits");
            if let Some(fd) = tx.fd_to_pass() {
                fds.push(dup(fd));
                tx.passed();
            }
            let f = ctl_frame(&frame);
            assert!(is_ring_frame(&f));
            assert_eq!(
                f.header.tag,
                if round == 0 { TAG_RING_NEW } else { TAG_RING }
            );
            let m = rx.take(&f, &mut fds).unwrap();
            assert_eq!(m.header, msg_header(len));
            assert_eq!(&m.body[..a.len()], &a[..]);
            assert!(m.body[a.len()..].iter().all(|&x| x == round));
        }
    }

    #[test]
    fn full_ring_falls_back_inline() {
        let mut tx = Tx::default();
        let big = vec![0u8; 3 << 20];
        assert!(tx
            .place(&msg_header(big.len()), &[IoSlice::new(&big)])
            .is_some());
        assert!(tx
            .place(&msg_header(big.len()), &[IoSlice::new(&big)])
            .is_some());
        // Nothing was taken: 6 of 8 MiB are in use.
        assert!(tx
            .place(&msg_header(big.len()), &[IoSlice::new(&big)])
            .is_none());
        let huge = vec![0u8; CAPACITY + 1];
        assert!(tx
            .place(&msg_header(huge.len()), &[IoSlice::new(&huge)])
            .is_none());
    }

    #[test]
    fn ring_frame_without_descriptor_is_an_error() {
        let mut tx = Tx::default();
        let body = vec![5u8; MIN_BODY];
        let frame = tx
            .place(&msg_header(body.len()), &[IoSlice::new(&body)])
            .unwrap();
        let mut rx = Rx::default();
        assert_eq!(
            rx.take(&ctl_frame(&frame), &mut Vec::new())
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }
}
