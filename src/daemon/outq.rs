//! The write queue of a non-blocking socket (task connections and daemon
//! links): encoded frames wait here until the socket takes them, written
//! several entries per system call, a frame's body never copied.

use crate::wire::Frame;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Entries written by one `writev`.
const BATCH: usize = 16;

/// Bytes waiting to be written, in order.
#[derive(Default)]
pub struct OutQueue {
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the front entry already written.
    offset: usize,
    /// Bytes of all entries (written ones of the front included).
    bytes: usize,
}

impl OutQueue {
    /// Appends encoded bytes (nothing for an empty Vec).
    pub fn push(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.bytes += bytes.len();
            self.queue.push_back(bytes);
        }
    }

    /// Appends a frame we own: its header, then its body as it is.
    pub fn push_frame(&mut self, frame: Frame) {
        self.push(frame.header.encode().to_vec());
        self.push(frame.body);
    }

    /// Writes until the queue is empty or `w` would block (not an error).
    /// Returns whether anything was written.
    pub fn flush<W: Write>(&mut self, mut w: W) -> io::Result<bool> {
        let mut wrote = false;
        while !self.queue.is_empty() {
            let mut iov = [IoSlice::new(&[]); BATCH];
            let mut k = 0;
            for (slot, bytes) in iov.iter_mut().zip(self.queue.iter()) {
                *slot = IoSlice::new(if k == 0 { &bytes[self.offset..] } else { bytes });
                k += 1;
            }
            match w.write_vectored(&iov[..k]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    wrote = true;
                    self.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }

    /// Drops `n` written bytes from the front.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let left = self.queue[0].len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            if let Some(b) = self.queue.pop_front() {
                self.bytes -= b.len();
            }
            self.offset = 0;
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes waiting (kept as a count: asked after every delivery).
    pub fn len(&self) -> usize {
        self.bytes - self.offset
    }

    /// Appends every entry of `held`, in order.
    pub fn extend(&mut self, held: impl IntoIterator<Item = Vec<u8>>) {
        for b in held {
            self.push(b);
        }
    }
}

/// Encoded frames held until their task connects or their link is up
/// (or opened), counted in frames and bytes for the bounds (bounds.rs).
#[derive(Debug, Default)]
pub struct Held {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Frames refused since the hold was last emptied (it was full and
    /// their sender could not be made to wait).
    pub refused: u64,
}

impl Held {
    /// Appends one encoded frame.
    pub fn push_back(&mut self, frame: Vec<u8>) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Puts one encoded frame in front of the others.
    pub fn push_front(&mut self, frame: Vec<u8>) {
        self.bytes += frame.len();
        self.frames.push_front(frame);
    }

    /// Appends frames, in order.
    pub fn extend(&mut self, frames: impl IntoIterator<Item = Vec<u8>>) {
        for f in frames {
            self.push_back(f);
        }
    }

    /// Takes every frame out, in order.
    pub fn drain_all(&mut self) -> Vec<Vec<u8>> {
        self.bytes = 0;
        self.frames.drain(..).collect()
    }

    /// Drops every frame.
    pub fn clear(&mut self) {
        self.bytes = 0;
        self.frames.clear();
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Bytes of the frames held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `step` bytes a call, then blocks once.
    struct Slow {
        got: Vec<u8>,
        step: usize,
        block_next: bool,
    }

    impl Write for Slow {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if std::mem::replace(&mut self.block_next, false) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.block_next = true;
            let mut n = 0;
            for b in bufs {
                let take = (self.step - n).min(b.len());
                self.got.extend_from_slice(&b[..take]);
                n += take;
                if n == self.step {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_order_and_bytes() {
        let mut q = OutQueue::default();
        let mut want = Vec::new();
        for i in 0..40u8 {
            let v = vec![i; (i as usize * 7) % 23];
            want.extend_from_slice(&v);
            q.push(v);
        }
        let mut w = Slow {
            got: Vec::new(),
            step: 5,
            block_next: false,
        };
        for _ in 0..10_000 {
            if q.is_empty() {
                break;
            }
            assert_eq!(q.len(), want.len() - w.got.len());
            q.flush(&mut w).unwrap();
        }
        assert!(q.is_empty());
        assert_eq!(w.got, want);
    }

    #[test]
    fn held_frames_are_counted() {
        let mut h = Held::default();
        h.push_back(vec![1; 10]);
        h.push_front(vec![0; 5]);
        h.extend([vec![2; 7], vec![3; 1]]);
        assert_eq!((h.len(), h.bytes()), (4, 23));
        let all = h.drain_all();
        assert_eq!(all.iter().map(|f| f[0]).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!((h.len(), h.bytes(), h.is_empty()), (0, 0, true));
        h.push_back(vec![9; 3]);
        h.clear();
        assert_eq!(h.bytes(), 0);
    }
}
