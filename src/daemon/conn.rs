//! One task connection: a non-blocking Unix stream, its frame decoder and
//! its write queue (so one slow reader never blocks the daemon).

use crate::wire::{Frame, FrameDecoder};
use mio::net::UnixStream;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// What reading a connection produced.
pub enum ReadOutcome {
    /// Still open.
    Open,
    /// The peer closed (or the socket failed).
    Closed,
}

/// A connected task (or a client that has not sent Connect yet).
pub struct Conn {
    pub stream: UnixStream,
    pub decoder: FrameDecoder,
    /// The tid given by Connect; `None` before it and after Exit.
    pub tid: Option<i32>,
    /// Process id of the peer from SO_PEERCRED.
    pub peer_pid: i32,
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the queue's front already written.
    offset: usize,
}

impl Conn {
    /// A fresh connection.
    pub fn new(stream: UnixStream, peer_pid: i32) -> Conn {
        Conn {
            stream,
            decoder: FrameDecoder::new(),
            tid: None,
            peer_pid,
            queue: VecDeque::new(),
            offset: 0,
        }
    }

    /// Reads everything available into the decoder (edge-triggered: until
    /// WouldBlock), at most `budget` bytes in one go.
    pub fn read_available(&mut self, buf: &mut [u8]) -> ReadOutcome {
        loop {
            // Large bodies are read straight into place (no copy through `buf`).
            match self.decoder.read_from(&self.stream, buf) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadOutcome::Closed,
            }
        }
    }

    /// Queues a frame and writes as much as the socket takes now.
    pub fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.send_bytes(frame.to_bytes())
    }

    /// Queues a frame we own: its header and body go out as they are (a
    /// large body is not copied on its way through the daemon).
    pub fn send_frame(&mut self, frame: Frame) -> io::Result<()> {
        self.queue.push_back(frame.header.encode().to_vec());
        self.send_bytes(frame.body)
    }

    /// Queues already encoded frame bytes.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if !bytes.is_empty() {
            self.queue.push_back(bytes);
        }
        self.flush()
    }

    /// Writes queued bytes (several queue entries a system call) until the
    /// queue is empty or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        const BATCH: usize = 16;
        while !self.queue.is_empty() {
            let mut iov = [IoSlice::new(&[]); BATCH];
            let mut k = 0;
            for (slot, bytes) in iov.iter_mut().zip(self.queue.iter()) {
                *slot = IoSlice::new(if k == 0 { &bytes[self.offset..] } else { bytes });
                k += 1;
            }
            match self.stream.write_vectored(&iov[..k]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    while n > 0 {
                        let left = self.queue[0].len() - self.offset;
                        if n < left {
                            self.offset += n;
                            break;
                        }
                        n -= left;
                        self.queue.pop_front();
                        self.offset = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.queue.iter().map(Vec::len).sum::<usize>() - self.offset
    }
}
