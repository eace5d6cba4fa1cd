//! One task connection: a non-blocking Unix stream, its frame decoder and
//! its write queue (so one slow reader never blocks the daemon).

use super::outq::OutQueue;
use crate::wire::{Frame, FrameDecoder};
use mio::net::UnixStream;
use std::io;

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
    /// Frames waiting for the socket.
    out: OutQueue,
}

impl Conn {
    /// A fresh connection.
    pub fn new(stream: UnixStream, peer_pid: i32) -> Conn {
        Conn {
            stream,
            decoder: FrameDecoder::new(),
            tid: None,
            peer_pid,
            out: OutQueue::default(),
        }
    }

    /// Reads everything available into the decoder (edge-triggered: until
    /// WouldBlock or a short read).
    pub fn read_available(&mut self, buf: &mut [u8]) -> ReadOutcome {
        loop {
            // Large bodies are read straight into place (no copy through `buf`).
            match self.decoder.read_from(&self.stream, buf) {
                Ok(0) => return ReadOutcome::Closed,
                // A short read emptied the socket: bytes that come later
                // raise a new (edge) event, so no read is wasted on WouldBlock.
                Ok(n) if n < buf.len() && !self.decoder.in_large_body() => {
                    return ReadOutcome::Open
                }
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
        self.out.push_frame(frame);
        self.flush()
    }

    /// Queues already encoded frame bytes.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        self.out.push(bytes);
        self.flush()
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush(&mut self.stream).map(|_| ())
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.out.len()
    }
}
