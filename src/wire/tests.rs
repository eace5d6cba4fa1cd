//! Tests of the frame, decoder and control codec.

use super::decoder::BIG_BODY;
use super::*;
use crate::Error;
use std::io::{self, IoSlice, Read};

#[test]
fn header_round_trip() {
    let h = Header {
        kind: Kind::Msg,
        len: 7,
        src: 0x40001,
        dst: 0x40002,
        tag: -1,
        ctx: 3,
        enc: 1,
        wid: 9,
    };
    assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    let mut bad = h.encode();
    bad[0] = 0;
    assert_eq!(Header::decode(&bad), Err(Error::BadMsg));
    let mut bad = h.encode();
    bad[3] = 99;
    assert_eq!(Header::decode(&bad), Err(Error::BadMsg));
}

/// A reader that hands out at most 7000 bytes a call.
struct Dribble<'a>(&'a [u8]);
impl ReadSpare for &mut Dribble<'_> {
    fn read_spare(&mut self, v: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let len = v.len();
        v.resize(len + max.min(64 * 1024), 0);
        let got = self.read(&mut v[len..]);
        v.truncate(len + *got.as_ref().unwrap_or(&0));
        got
    }
}
impl Read for Dribble<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(out.len()).min(7000);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn msg(src: i32, tag: i32, body: Vec<u8>) -> Frame {
    let mut h = Header::new(Kind::Msg);
    h.src = src;
    h.tag = tag;
    Frame::new(h, body)
}

#[test]
fn decoder_lands_the_accepted_large_body_in_the_receivers_memory() {
    let body = |seed: u32| (0..200_000u32).map(|i| (i * 7 + seed) as u8).collect();
    let small = msg(5, 2, b"first".to_vec());
    let wanted = msg(5, 2, body(1));
    let other = msg(5, 3, body(2));
    let mut all = wanted.to_bytes();
    for f in [&small, &other, &small] {
        all.extend(f.to_bytes());
    }
    let mut src = Dribble(&all);
    let mut d = FrameDecoder::new();
    let mut scratch = vec![0u8; 4096];
    let mut mem = vec![0u8; 300_000];
    let accepts = |h: &Header| h.tag == 2;
    let mut landing = Landing {
        dst: &mut mem,
        peer: 5,
        accepts: &accepts,
        busy: false,
        done: None,
    };
    let mut got = Vec::new();
    let mut refused = false;
    for _ in 0..10_000 {
        if d.is_landing() && !refused {
            // Only the receiver whose memory it is may go on reading.
            let e = d.read_landing(&mut src, &mut scratch, None).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            refused = true;
        }
        if d.read_landing(&mut src, &mut scratch, Some(&mut landing))
            .unwrap()
            == 0
        {
            break;
        }
        if let Some(h) = d.take_landed() {
            landing.busy = false;
            landing.done = Some(h);
        }
        while let Some(f) = d.next_frame().unwrap() {
            got.push(f);
        }
    }
    assert!(refused);
    // The frames after it are decoded as usual, the large one of
    // another tag too (a landing is for one message).
    assert_eq!(got, vec![small.clone(), other, small]);
    assert_eq!(landing.done, Some(wanted.header));
    assert_eq!(&mem[..200_000], &wanted.body[..]);
    assert_eq!(d.pending(), 0);
}

#[test]
fn decoder_lands_nothing_too_long_or_from_another_sender() {
    for (peer, room) in [(6, 300_000), (5, 100_000)] {
        let wanted = msg(5, 2, vec![9u8; 200_000]);
        let all = wanted.to_bytes();
        let mut src = Dribble(&all);
        let mut d = FrameDecoder::new();
        let mut scratch = vec![0u8; 4096];
        let mut mem = vec![0u8; room];
        let accepts = |_: &Header| true;
        let mut landing = Landing {
            dst: &mut mem,
            peer,
            accepts: &accepts,
            busy: false,
            done: None,
        };
        let mut got = Vec::new();
        for _ in 0..10_000 {
            if d.read_landing(&mut src, &mut scratch, Some(&mut landing))
                .unwrap()
                == 0
            {
                break;
            }
            assert!(!d.is_landing() && d.take_landed().is_none());
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![wanted]);
        assert!(!landing.busy && landing.done.is_none());
    }
}

#[test]
fn decoder_reads_large_bodies_straight_into_place() {
    let big = Frame::new(
        Header::new(Kind::Msg),
        (0..200_000u32).map(|i| i as u8).collect(),
    );
    let small = Frame::new(Header::new(Kind::Req), b"after".to_vec());
    let mut all = small.to_bytes();
    all.extend(big.to_bytes());
    all.extend(small.to_bytes());
    let mut src = Dribble(&all);
    let mut d = FrameDecoder::new();
    let mut scratch = vec![0u8; 4096];
    let mut got = Vec::new();
    for _ in 0..10_000 {
        if d.read_from(&mut src, &mut scratch).unwrap() == 0 {
            break;
        }
        while let Some(f) = d.next_frame().unwrap() {
            got.push(f);
        }
    }
    assert_eq!(got, vec![small.clone(), big, small]);
    assert_eq!(d.pending(), 0);
}

#[test]
fn large_bodies_keep_their_own_vecs_when_frames_are_not_taken_between_reads() {
    // A reader that goes on reading (the daemon's edge-triggered one)
    // before taking frames: each large body still goes straight into
    // its own Vec, small frames in front of a large one are set apart,
    // and the frames come out in the order they were sent.
    let big = |seed: u32| {
        Frame::new(
            Header::new(Kind::Msg),
            (0..150_000u32).map(|i| (i * 3 + seed) as u8).collect(),
        )
    };
    let small = Frame::new(Header::new(Kind::Req), b"s".to_vec());
    let sent = vec![big(1), big(2), small.clone(), big(3), small.clone(), small];
    let all: Vec<u8> = sent.iter().flat_map(|f| f.to_bytes()).collect();
    let mut src = Dribble(&all);
    let mut d = FrameDecoder::new();
    let mut scratch = vec![0u8; 4096];
    let mut most_buffered = 0;
    while d.read_from(&mut src, &mut scratch).unwrap() > 0 {
        most_buffered = most_buffered.max(d.buf.len());
    }
    assert!(
        most_buffered < 8192,
        "{most_buffered} bytes went through the buffer"
    );
    let mut got = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        got.push(f);
    }
    assert_eq!(got, sent);
    assert_eq!(d.pending(), 0);
}

#[test]
fn wants_more_until_a_frame_is_whole() {
    let f = msg(5, 2, vec![7u8; 100_000]);
    let bytes = f.to_bytes();
    let mut d = FrameDecoder::new();
    assert!(d.wants_more());
    let mut src = Dribble(&bytes);
    let mut scratch = vec![0u8; 4096];
    let mut reads = 0;
    while d.wants_more() {
        assert!(d.read_from(&mut src, &mut scratch).unwrap() > 0);
        reads += 1;
    }
    assert!(reads > 1);
    assert_eq!(d.next_frame().unwrap(), Some(f));
    assert!(d.wants_more());
    // A whole small frame: nothing more is needed to take it.
    d.feed(&msg(5, 3, b"x".to_vec()).to_bytes()[..HEADER_LEN]);
    assert!(d.wants_more());
    d.feed(b"x");
    assert!(!d.wants_more());
}

#[test]
fn frames_come_out_in_order_however_reads_and_takes_interleave() {
    // Seeded runs: small and large frames, reads of random sizes,
    // frames taken (or not) between reads, and a receiver that from a
    // random read on offers its memory for one tag until a message
    // lands there. Every frame comes out once, in the order sent,
    // either as a frame or as the landing it was.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut landed = 0;
    for _ in 0..60 {
        let sent: Vec<Frame> = (0..12)
            .map(|i| {
                let len = match next(3) {
                    0 => next(40) as usize,
                    1 => next(20_000) as usize,
                    _ => BIG_BODY + next(150_000) as usize,
                };
                let body = (0..len).map(|k| (k as u32 * 7 + i) as u8).collect();
                msg(5, 1 + next(2) as i32, body)
            })
            .collect();
        let all: Vec<u8> = sent.iter().flat_map(|f| f.to_bytes()).collect();
        let mut src = Dribble(&all);
        let mut d = FrameDecoder::new();
        let mut scratch = vec![0u8; 1 + next(70_000) as usize];
        let mut mem = vec![0u8; 250_000];
        let accepts = |h: &Header| h.tag == 2;
        let mut got: Vec<Frame> = Vec::new();
        let mut offered = false;
        loop {
            let mut landing = Landing {
                dst: &mut mem,
                peer: 5,
                accepts: &accepts,
                busy: d.is_landing(),
                done: None,
            };
            // A landing in progress needs its receiver on every read.
            offered = d.is_landing() || offered || next(3) == 0;
            let read = d.read_landing(&mut src, &mut scratch, offered.then_some(&mut landing));
            let n = read.unwrap();
            if let Some(h) = d.take_landed() {
                let len = h.len as usize;
                got.push(Frame::new(h, landing.dst[..len].to_vec()));
                offered = false;
                landed += 1;
            }
            if n == 0 || next(3) != 0 {
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            if n == 0 {
                break;
            }
        }
        assert_eq!(got.len(), sent.len());
        for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
            assert_eq!(g.header, s.header, "frame {i}");
            assert!(g.body == s.body, "frame {i}: body differs");
        }
        assert_eq!(d.pending(), 0);
    }
    assert!(landed > 10, "only {landed} landings");
}

#[test]
fn decoder_handles_split_and_joined_frames() {
    let f1 = Frame::new(Header::new(Kind::Msg), b"hello".to_vec());
    let f2 = Frame::new(Header::new(Kind::Req), vec![]);
    let mut all = f1.to_bytes();
    all.extend(f2.to_bytes());
    let mut d = FrameDecoder::new();
    for b in &all {
        d.feed(std::slice::from_ref(b));
    }
    assert_eq!(d.next_frame().unwrap().unwrap(), f1);
    assert_eq!(d.next_frame().unwrap().unwrap(), f2);
    assert_eq!(d.next_frame().unwrap(), None);
}

#[test]
fn control_codec_round_trip_and_short_input() {
    let body = Writer::new().int(-5).str("abc").strs(&["x", "yz"]).finish();
    let mut r = Reader::new(&body);
    assert_eq!(r.int().unwrap(), -5);
    assert_eq!(r.str().unwrap(), "abc");
    assert_eq!(r.strs().unwrap(), vec!["x", "yz"]);
    assert!(r.is_empty());
    assert_eq!(Reader::new(&body[..2]).int(), Err(Error::BadMsg));
    let huge = Writer::new().int(i32::MAX).finish();
    assert_eq!(Reader::new(&huge).strs(), Err(Error::BadMsg));
}

#[test]
fn blocking_read_write() {
    let mut out = Vec::new();
    let h = Header {
        len: 3,
        ..Header::new(Kind::Reply)
    };
    write_frame(&mut out, &h, &[IoSlice::new(b"ab"), IoSlice::new(b"c")]).unwrap();
    let f = read_frame(&mut &out[..]).unwrap().unwrap();
    assert_eq!(f.body, b"abc");
    assert_eq!(read_frame(&mut &[][..]).unwrap(), None);
}
