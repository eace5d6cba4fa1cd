//! The sending side of a direct link ([`Link::send`]): a frame goes
//! through our ring of small frames (Unix links), the large bodies' shared
//! memory (`super::shm`) or the socket, sealed on a protected TCP link;
//! while the socket or the ring is full, the sender waits for room and
//! reads every link meanwhile, so two senders never block each other. Also
//! the doorbell to a peer waiting for room, our ring's offer and the hello.

use super::{Link, Tx, SMALL_DIR, TAG_SMALL_RING};
use crate::os;
use crate::ring::{self, Producer};
use crate::sync::Locked;
use crate::task::spin;
use crate::task::transport::Stream;
use crate::wire::{Header, Kind, Req, Writer};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How long a sender whose ring to the peer is full waits at a time for
/// the peer's doorbell before it looks again.
const ROOM_STEP: std::time::Duration = std::time::Duration::from_millis(1);

impl Link {
    /// Rings the peer (it waits for room in its ring to us), unless a
    /// writer of ours is busy on the link: then the peer finds the room
    /// when its wait's step ends ([`ROOM_STEP`]).
    pub(in crate::task) fn ring_peer(&self) {
        if let Ok(_tx) = self.tx.try_lock() {
            let bell = crate::wire::doorbell().encode();
            if let Err(e) = self.write_all(&mut [IoSlice::new(&bell)], None, Vec::new) {
                log::debug!("can't ring the peer of a direct link: {e}");
            }
        }
    }

    /// Writes one frame. While the socket is full it waits for room and
    /// meanwhile reads every link of `others()` (and this one) into their
    /// decoders, so a peer writing to us at the same time can finish.
    /// Returns whether it had to wait (the caller then files what was read).
    /// On a Unix link a frame of up to [`ring::MAX_RECORD`] bytes goes
    /// through our ring of small frames (no system call while the peer is
    /// awake), a larger one on the socket after a marker in that ring.
    pub fn send(
        &self,
        header: &Header,
        body: &[IoSlice<'_>],
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let head = header.encode();
        let mut guard = self.tx.locked();
        let tx = &mut *guard;
        let mut blocked = false;
        if tx.small.is_none() && !tx.small_off {
            blocked |= self.offer_small(tx, &others)?;
        }
        // A large body goes through the shared-memory ring when it fits.
        let ring_frame = match self.stream {
            Stream::Unix(_) => tx.big.place(header, body.iter().map(|s| s.len()).sum()),
            Stream::Tcp(_) => None,
        };
        let mut owned: Vec<IoSlice<'_>> = match &ring_frame {
            Some(placed) => vec![IoSlice::new(&placed.frame)],
            None => crate::wire::frame_slices(&head, body),
        };
        // The large bodies' ring's descriptor goes with its first frame, on the socket.
        let pass_fd = ring_frame.is_some() && tx.big.fd_to_pass().is_some();
        if tx.small.is_some() {
            let total: usize = owned.iter().map(|s| s.len()).sum();
            if !pass_fd && ring::fits(total) {
                let parts: Vec<&[u8]> = owned.iter().map(|s| &**s).collect();
                blocked |= self.push_small(tx, |p| p.push_frames(&parts), &others)?;
                if tx.small.as_ref().is_some_and(Producer::wake_due) {
                    let bell = crate::wire::doorbell().encode();
                    blocked |= self.write_all(&mut [IoSlice::new(&bell)], None, &others)?;
                }
                if let Some(placed) = &ring_frame {
                    // The peer may already be copying the first chunks out.
                    tx.big.fill(placed, body);
                }
                return Ok(blocked);
            }
            // The frame itself wakes a peer that sleeps.
            blocked |= self.push_small(tx, Producer::push_marker, &others)?;
        }
        if let Some(sealer) = self.sealer.locked().as_mut() {
            // Protected (TCP): sealed and written a window at a time, so
            // what is held beyond the message stays bounded.
            let parts: Vec<&[u8]> = owned.iter().map(|s| &**s).collect();
            sealer.seal_windows(&parts, |sealed| {
                blocked |= self.write_all(&mut [IoSlice::new(sealed)], None, &others)?;
                Ok(())
            })?;
            return Ok(blocked);
        }
        let fd = if pass_fd { tx.big.fd_to_pass() } else { None };
        blocked |= self.write_all(&mut owned, fd, &others)?;
        if pass_fd {
            tx.big.passed();
        }
        if let Some(placed) = &ring_frame {
            tx.big.fill(placed, body);
        }
        Ok(blocked)
    }

    /// Writes the whole of `slices` on the socket, passing `fd` with the
    /// first bytes; waits for room as [`Link::send`] does. Returns whether
    /// it had to wait.
    fn write_all(
        &self,
        mut slices: &mut [IoSlice<'_>],
        mut fd: Option<BorrowedFd<'_>>,
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let mut blocked = false;
        while !slices.is_empty() {
            let sent = match fd {
                Some(fd) => os::send_nonblocking_with_fd(self.fd(), slices, fd),
                None => os::send_nonblocking(self.fd(), slices),
            };
            match sent {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    fd = None;
                    IoSlice::advance_slices(&mut slices, n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    self.wait_writable(&others())?;
                }
                Err(e) => {
                    self.broken.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(blocked)
    }

    /// Makes our ring of small frames and passes it to the peer with a
    /// body-less control frame; from then on frames go through it. Without
    /// shared memory the link keeps the socket alone.
    fn offer_small(&self, tx: &mut Tx, others: impl Fn() -> Vec<Arc<Link>>) -> io::Result<bool> {
        let (fd, map) = match ring::create() {
            Ok(r) => r,
            Err(e) => {
                log::debug!("no ring for small frames on a direct link: {e}");
                tx.small_off = true;
                return Ok(false);
            }
        };
        let offer = Header {
            tag: TAG_SMALL_RING,
            ..Header::new(Kind::Ctl)
        }
        .encode();
        let blocked = self.write_all(&mut [IoSlice::new(&offer)], Some(fd.as_fd()), others)?;
        tx.small = Some(Producer::new(map, SMALL_DIR));
        Ok(blocked)
    }

    /// Pushes into our ring of small frames, waiting for room while the
    /// peer reads; meanwhile every link of `others()` (and this one) is
    /// read, so a peer that waits for us in the same way can go on. Returns
    /// whether it had to wait.
    fn push_small(
        &self,
        tx: &mut Tx,
        mut push: impl FnMut(&mut Producer) -> Result<bool, ring::Bad>,
        others: impl Fn() -> Vec<Arc<Link>>,
    ) -> io::Result<bool> {
        let Some(p) = tx.small.as_mut() else {
            return Ok(false);
        };
        let failed = |e: ring::Bad| {
            log::warn!("{e} (direct link peer side)");
            self.broken.store(true, Ordering::Relaxed);
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        };
        let mut blocked = false;
        loop {
            if push(p).map_err(failed)? {
                return Ok(blocked);
            }
            p.want_room();
            if push(p).map_err(failed)? {
                return Ok(blocked);
            }
            blocked = true;
            self.wait_room(&others())?;
        }
    }

    /// One wait of a sender for room in its ring to the peer: until the
    /// peer's doorbell (or [`ROOM_STEP`]), reading every link meanwhile.
    /// Fails when the peer has gone.
    fn wait_room(&self, others: &[Arc<Link>]) -> io::Result<()> {
        let readers = self.readers(others);
        if readers.first().is_none_or(|l| !std::ptr::eq(*l, self)) {
            self.broken.store(true, Ordering::Relaxed);
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let read = os::Ready {
            read: true,
            write: false,
        };
        let set: Vec<(BorrowedFd<'_>, os::Ready)> =
            readers.iter().map(|l| (l.fd(), read)).collect();
        let ready = spin::spin_then_poll(&set, Some(ROOM_STEP), None, &[], SMALL_DIR, false)?.0;
        for (l, r) in readers.iter().zip(&ready) {
            if r.read {
                l.fill(None, false);
            }
            l.absorb_pending();
        }
        Ok(())
    }

    /// The links a waiting sender reads: this one first, then `others`
    /// (without it), those still open.
    fn readers<'a>(&'a self, others: &'a [Arc<Link>]) -> Vec<&'a Link> {
        std::iter::once(self)
            .chain(
                others
                    .iter()
                    .map(|l| &**l)
                    .filter(|l| !std::ptr::eq(*l, self)),
            )
            .filter(|l| !l.is_closed())
            .collect()
    }

    fn wait_writable(&self, others: &[Arc<Link>]) -> io::Result<()> {
        let readers = self.readers(others);
        let mut set: Vec<(BorrowedFd<'_>, os::Ready)> = readers
            .iter()
            .map(|l| {
                (
                    l.fd(),
                    os::Ready {
                        read: true,
                        write: false,
                    },
                )
            })
            .collect();
        if set.is_empty() {
            set.push((self.fd(), os::Ready::default()));
        }
        set[0].1.write = true;
        // Room comes back as the peer reads: soon, on a busy link.
        let ready = spin::spin_then_poll(&set, None, None, &[], SMALL_DIR, false)?.0;
        for (l, r) in readers.iter().zip(&ready) {
            if r.read {
                l.fill(None, false);
            }
        }
        Ok(())
    }

    pub(in crate::task) fn send_hello(
        &self,
        me: i32,
        peer: i32,
        nonce: u64,
        count: u64,
    ) -> io::Result<()> {
        let body = Writer::new()
            .int((nonce >> 32) as i32)
            .int(nonce as i32)
            .int((count >> 32) as i32)
            .int(count as i32)
            .finish();
        let h = Header {
            len: body.len() as u32,
            src: me,
            dst: peer,
            tag: Req::RouteHello as i32,
            ..Header::new(Kind::Req)
        };
        self.send(&h, &[IoSlice::new(&body)], Vec::new).map(|_| ())
    }
}
