//! The shared-memory rings of a task's connection to its local daemon.
//!
//! A message routed through the daemon crosses two connections (sender to
//! daemon, daemon to receiver); over the Unix socket each crossing costs a
//! `sendmsg`, an `epoll_wait` or `poll` and a `recv`, a few microseconds on
//! a virtual machine. So a task, when it connects, offers the daemon one
//! sealed memfd (passed with SCM_RIGHTS on its Connect request) holding two
//! rings: task to daemon at offset 0, daemon to task at [`RING_LEN`]. When
//! the daemon accepts (a flag at the end of its Connect reply), every frame
//! after that reply travels through the rings, and a reader that is awake
//! (spinning) sees it without any system call.
//!
//! The socket stays, for three things: frames too large for a ring record
//! ([`MAX_RECORD`]) go on it, each announced by a marker record in the ring
//! so that the reader takes ring and socket frames in the order they were
//! sent; a reader about to sleep raises its `sleeping` flag, and a writer
//! that finds it raised sends a `Ctl::Doorbell` (wire) frame
//! on the socket (so sleeping is still a plain poll of the socket); and the
//! socket's end tells either side that the other has gone. A consumer that
//! asked for it (`pvm_getfds`: the program polls the socket itself) gets a
//! doorbell after every record.
//!
//! One ring: the first page holds the consumer's position (bytes taken, at
//! 0), the producer's (bytes published, at 64), the consumer's `sleeping`
//! flag (128), the producer's `waiting for room` flag (192) and the
//! consumer's `always ring` flag (256), each in its own cache line; the
//! data area follows. Positions grow without bound and wrap modulo [`CAP`].
//! A record is an 8-byte header (payload length, kind, little-endian u32s)
//! and its payload padded to 8 bytes, never split at the end of the ring:
//! a skip record fills the rest instead, and so does the producer when the
//! ring is empty, to start again at the beginning (the memory most likely
//! still in cache). Both sides check every position and length they read
//! from the other (it is another process's memory): anything out of range
//! is [`Bad`], and the daemon closes that connection.

use crate::os::{self, SharedMap};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, Ordering::SeqCst};
use std::sync::Arc;

/// Data bytes of one ring.
pub const CAP: usize = 128 * 1024;
/// Largest record payload: bigger frames go on the socket after a marker.
pub const MAX_RECORD: usize = 16 * 1024;
/// Where the data area starts.
const DATA_AT: usize = 4096;
/// Bytes of one ring (control page and data).
pub const RING_LEN: usize = DATA_AT + CAP;
/// Bytes of the memfd: both rings.
pub const MAP_LEN: usize = 2 * RING_LEN;
const TAIL_AT: usize = 0;
const HEAD_AT: usize = 64;
const SLEEPING_AT: usize = 128;
const WAITING_AT: usize = 192;
const ALWAYS_AT: usize = 256;
const REC_HDR: usize = 8;
const FRAMES: u32 = 1;
const MARKER: u32 = 2;
const SKIP: u32 = 3;

/// Which ring of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Written by the task, read by the daemon.
    ToDaemon,
    /// Written by the daemon, read by the task.
    ToTask,
}

impl Dir {
    fn base(self) -> usize {
        match self {
            Dir::ToDaemon => 0,
            Dir::ToTask => RING_LEN,
        }
    }
}

/// The other side broke the ring's rules (what it got wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad(pub &'static str);

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad shared ring: {}", self.0)
    }
}

/// What a consumer took from its ring.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// One or more whole frames (header and body each).
    Frames(Vec<u8>),
    /// The next frame is on the socket.
    Marker,
}

/// Creates the pair of rings a task offers its daemon.
pub fn create() -> io::Result<(OwnedFd, Arc<SharedMap>)> {
    let fd = os::sealed_memfd("pvm6-conn", MAP_LEN)?;
    let map = SharedMap::map(fd.as_fd(), MAP_LEN)?;
    Ok((fd, Arc::new(map)))
}

/// Maps the pair of rings a task offered (checked sealed and big enough, so
/// the mapping can never fault).
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<Arc<SharedMap>> {
    if os::sealed_size(fd)? < MAP_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "ring too small"));
    }
    Ok(Arc::new(SharedMap::map(fd, MAP_LEN)?))
}

fn padded(len: usize) -> usize {
    len.div_ceil(8) * 8
}

/// Whether a frame of `len` bytes (header and body) fits in one record.
pub fn fits(len: usize) -> bool {
    len <= MAX_RECORD
}

/// The writing side of one ring.
pub struct Producer {
    map: Arc<SharedMap>,
    base: usize,
    /// Bytes published so far.
    head: u64,
    /// The consumer's position when last read (it may only grow).
    tail_seen: u64,
}

impl Producer {
    /// The producer of ring `dir` of `map` (fresh: nothing written yet).
    pub fn new(map: Arc<SharedMap>, dir: Dir) -> Producer {
        Producer {
            map,
            base: dir.base(),
            head: 0,
            tail_seen: 0,
        }
    }

    fn tail(&mut self) -> Result<u64, Bad> {
        let t = self.map.load(self.base + TAIL_AT);
        if t < self.tail_seen || t > self.head || !t.is_multiple_of(8) {
            return Err(Bad("consumer position out of range"));
        }
        self.tail_seen = t;
        Ok(t)
    }

    /// Appends a record holding the concatenation of `parts` (whole frames,
    /// at most [`MAX_RECORD`] bytes). Ok(false): no room now.
    pub fn push_frames(&mut self, parts: &[&[u8]]) -> Result<bool, Bad> {
        self.push(FRAMES, parts)
    }

    /// Appends a marker: the next frame goes on the socket. Ok(false): no room.
    pub fn push_marker(&mut self) -> Result<bool, Bad> {
        self.push(MARKER, &[])
    }

    fn push(&mut self, kind: u32, parts: &[&[u8]]) -> Result<bool, Bad> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_RECORD {
            return Ok(false);
        }
        let tail = self.tail()?;
        let mut pos = self.head;
        let rec = REC_HDR + padded(len);
        let off = (pos % CAP as u64) as usize;
        // A record never wraps; an empty ring starts again at its start,
        // unless the record would cover the skip record's own header.
        let wrap = off + rec > CAP;
        let restart = tail == pos && off != 0 && rec <= off;
        let skip = if wrap || restart { CAP - off } else { 0 };
        if (pos - tail) as usize + skip + rec > CAP {
            return Ok(false);
        }
        let data = self.base + DATA_AT;
        if skip > 0 {
            self.map.write_at(data + off, &record_header(0, SKIP));
            pos += skip as u64;
        }
        let mut at = data + (pos % CAP as u64) as usize;
        self.map.write_at(at, &record_header(len as u32, kind));
        at += REC_HDR;
        for p in parts {
            self.map.write_at(at, p);
            at += p.len();
        }
        self.head = pos + rec as u64;
        self.map.store(self.base + HEAD_AT, self.head);
        Ok(true)
    }

    /// After publishing: whether the consumer must be rung (it was going to
    /// sleep, or asked for a doorbell after every record).
    pub fn wake_due(&self) -> bool {
        fence(SeqCst);
        let slept = self.map.swap(self.base + SLEEPING_AT, 0) == 1;
        slept || self.map.load(self.base + ALWAYS_AT) != 0
    }

    /// Asks the consumer for a doorbell when it makes room; try the push
    /// again after this (the room may have come meanwhile).
    pub fn want_room(&self) {
        self.map.swap(self.base + WAITING_AT, 1);
        fence(SeqCst);
    }
}

fn record_header(len: u32, kind: u32) -> [u8; REC_HDR] {
    let mut h = [0u8; REC_HDR];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(&kind.to_le_bytes());
    h
}

/// The reading side of one ring.
pub struct Consumer {
    map: Arc<SharedMap>,
    base: usize,
    /// Bytes taken so far.
    tail: u64,
}

impl Consumer {
    /// The consumer of ring `dir` of `map` (fresh: nothing taken yet).
    pub fn new(map: Arc<SharedMap>, dir: Dir) -> Consumer {
        Consumer {
            map,
            base: dir.base(),
            tail: 0,
        }
    }

    /// Takes the next record, if one was published.
    pub fn pop(&mut self) -> Result<Option<Record>, Bad> {
        let data = self.base + DATA_AT;
        loop {
            let head = self.map.load(self.base + HEAD_AT);
            if head == self.tail {
                return Ok(None);
            }
            if head < self.tail || head - self.tail > CAP as u64 {
                return Err(Bad("producer position out of range"));
            }
            let off = (self.tail % CAP as u64) as usize;
            let mut hdr = Vec::with_capacity(REC_HDR);
            self.map.read_into(data + off, REC_HDR, &mut hdr);
            let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
            let kind = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            let next = match kind {
                SKIP => self.tail + (CAP - off) as u64,
                FRAMES | MARKER if len <= MAX_RECORD && off + REC_HDR + padded(len) <= CAP => {
                    self.tail + (REC_HDR + padded(len)) as u64
                }
                FRAMES | MARKER => return Err(Bad("record too long")),
                _ => return Err(Bad("unknown record")),
            };
            if next > head {
                return Err(Bad("record beyond the producer's position"));
            }
            let record = match kind {
                SKIP => None,
                MARKER => Some(Record::Marker),
                _ => {
                    let mut v = Vec::with_capacity(len);
                    self.map.read_into(data + off + REC_HDR, len, &mut v);
                    Some(Record::Frames(v))
                }
            };
            self.tail = next;
            self.map.store(self.base + TAIL_AT, next);
            if record.is_some() {
                return Ok(record);
            }
        }
    }

    /// After taking records: whether the producer waits for room and must
    /// be rung.
    pub fn room_due(&self) -> bool {
        fence(SeqCst);
        self.map.swap(self.base + WAITING_AT, 0) == 1
    }
}

// The consumer's side of ring `dir` seen by other threads of the consumer's
// process (the positions are published, so no `Consumer` is needed).

/// Whether a record waits in ring `dir` (no system call).
pub fn pending(map: &SharedMap, dir: Dir) -> bool {
    let b = dir.base();
    map.load(b + HEAD_AT) != map.load(b + TAIL_AT)
}

/// Before the consumer sleeps: raises its `sleeping` flag so the producer
/// rings the socket for the next record. True: a record came meanwhile (do
/// not sleep; call [`disarm`] all the same).
pub fn arm(map: &SharedMap, dir: Dir) -> bool {
    map.swap(dir.base() + SLEEPING_AT, 1);
    fence(SeqCst);
    pending(map, dir)
}

/// After the consumer slept (or instead of it): lowers the `sleeping` flag.
pub fn disarm(map: &SharedMap, dir: Dir) {
    map.store(dir.base() + SLEEPING_AT, 0);
}

/// The consumer asks for a doorbell after every record from now on (the
/// program polls the socket itself: pvm_getfds).
pub fn ring_always(map: &SharedMap, dir: Dir) {
    map.store(dir.base() + ALWAYS_AT, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Producer, Consumer, Arc<SharedMap>) {
        let (_fd, map) = create().unwrap();
        (
            Producer::new(map.clone(), Dir::ToTask),
            Consumer::new(map.clone(), Dir::ToTask),
            map,
        )
    }

    #[test]
    fn records_come_out_in_order_across_the_wrap() {
        let (mut p, mut c, _) = pair();
        let mut sent = 0u32;
        let mut got = 0u32;
        // Enough traffic to wrap the ring many times, with odd lengths.
        while got < 5000 {
            loop {
                let len = 1 + (sent as usize * 37) % 3000;
                let body = vec![(sent % 251) as u8; len];
                let tag = sent.to_le_bytes();
                let ok = if sent % 7 == 3 {
                    p.push_marker().unwrap()
                } else {
                    p.push_frames(&[&tag, &body]).unwrap()
                };
                if !ok {
                    break;
                }
                sent += 1;
            }
            while let Some(r) = c.pop().unwrap() {
                match r {
                    Record::Marker => assert_eq!(got % 7, 3),
                    Record::Frames(v) => {
                        assert_eq!(&v[..4], &got.to_le_bytes());
                        let len = 1 + (got as usize * 37) % 3000;
                        assert_eq!(v.len(), 4 + len);
                        assert!(v[4..].iter().all(|&b| b == (got % 251) as u8));
                    }
                }
                got += 1;
            }
        }
        assert_eq!(sent, got);
    }

    #[test]
    fn an_empty_ring_always_takes_a_record() {
        let (mut p, mut c, _) = pair();
        for i in 0..10_000usize {
            let len = (i * 7919) % MAX_RECORD + 1;
            assert!(
                p.push_frames(&[&vec![7u8; len]]).unwrap(),
                "record {i} of {len} refused"
            );
            match c.pop().unwrap() {
                Some(Record::Frames(v)) => assert_eq!(v.len(), len),
                r => panic!("record {i}: {r:?}"),
            }
            assert!(c.pop().unwrap().is_none());
        }
    }

    #[test]
    fn full_ring_refuses_then_takes_after_consumption_and_rings() {
        let (mut p, mut c, _) = pair();
        let big = vec![1u8; MAX_RECORD];
        let mut n = 0;
        while p.push_frames(&[&big]).unwrap() {
            n += 1;
        }
        assert_eq!(n, CAP / (MAX_RECORD + REC_HDR));
        p.want_room();
        assert!(c.pop().unwrap().is_some());
        assert!(c.room_due(), "a waiting producer is rung");
        assert!(!c.room_due(), "once");
        assert!(p.push_frames(&[&big]).unwrap());
        assert!(!p.push_frames(&[&vec![0u8; MAX_RECORD + 1]]).unwrap());
    }

    #[test]
    fn sleeping_consumer_is_rung_once_and_always_when_asked() {
        let (mut p, _c, map) = pair();
        let c = Dir::ToTask;
        assert!(!arm(&map, c), "nothing there yet");
        p.push_frames(&[b"x"]).unwrap();
        assert!(p.wake_due());
        assert!(!p.wake_due(), "the flag is taken by the first ring");
        assert!(arm(&map, c), "input came");
        disarm(&map, c);
        p.push_frames(&[b"y"]).unwrap();
        assert!(!p.wake_due(), "an awake consumer is not rung");
        ring_always(&map, c);
        p.push_frames(&[b"z"]).unwrap();
        assert!(p.wake_due());
    }

    #[test]
    fn positions_out_of_range_are_bad() {
        let (mut p, mut c, map) = pair();
        p.push_frames(&[b"abc"]).unwrap();
        // Producer claims more than the ring holds.
        map.store(RING_LEN + HEAD_AT, (CAP + 64) as u64);
        assert_eq!(c.pop(), Err(Bad("producer position out of range")));
        // A record header claiming a huge payload.
        let (mut p, mut c, map) = pair();
        p.push_frames(&[b"abc"]).unwrap();
        map.write_at(RING_LEN + DATA_AT, &record_header(u32::MAX, FRAMES));
        assert_eq!(c.pop(), Err(Bad("record too long")));
        let (mut p, mut c, map) = pair();
        p.push_frames(&[b"abc"]).unwrap();
        map.write_at(RING_LEN + DATA_AT, &record_header(3, 99));
        assert_eq!(c.pop(), Err(Bad("unknown record")));
        // The consumer claims to have taken more than was written.
        let (mut p, _c, map) = pair();
        map.store(RING_LEN + TAIL_AT, 4096);
        assert!(p.push_frames(&[b"abc"]).is_err());
    }
}
