//! The direct route's hello under arbitrary input (the fuzz target
//! `route_hello`, `crate::fuzzing::route_hello`): the first frames a
//! task's listener reads from a connection, decoded as the link's reader
//! decodes them, judged by the same [`super::route::hello_ok`] the
//! listener uses.

use super::route::hello_ok;
use crate::wire::{Frame, FrameDecoder, Header, Kind, Req, Writer};

/// The listening task of the target.
const ME: i32 = 0x40001;
/// The task the nonce was offered to.
const PEER: i32 = 0x40002;

/// The input: 8 bytes of the offered nonce (0 is made 1), a flag byte
/// (whether the connection may claim the peer), a chunk size, then the
/// bytes the connection sends.
pub fn route_hello(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<10>() else {
        return;
    };
    let offered = u64::from_le_bytes(head[..8].try_into().unwrap_or_default()).max(1);
    let may_claim = head[8] & 1 == 1;
    let chunk = usize::from(head[9] % 64) + 1;
    // The genuine hello is accepted, a copy with any other nonce is not.
    let genuine = hello(PEER, ME, offered, 7);
    assert_eq!(
        hello_ok(&genuine, ME, true, Some(offered), false),
        Some((offered, 7))
    );
    assert_eq!(
        hello_ok(
            &hello(PEER, ME, offered ^ 1, 7),
            ME,
            true,
            Some(offered),
            false
        ),
        None
    );
    let mut d = FrameDecoder::with_limit(64 * 1024);
    for piece in rest.chunks(chunk) {
        d.feed(piece);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    if let Some((nonce, _)) = hello_ok(&f, ME, may_claim, Some(offered), false) {
                        assert!(
                            may_claim,
                            "a hello accepted on a connection that may not claim"
                        );
                        assert_eq!(nonce, offered, "a hello with another nonce accepted");
                        assert_eq!(f.header.dst, ME);
                        assert_eq!(f.header.kind, Kind::Req);
                        assert_eq!(f.header.tag, Req::RouteHello as i32);
                    }
                    assert_eq!(hello_ok(&f, ME, may_claim, None, false), None);
                    assert_eq!(hello_ok(&f, ME, may_claim, Some(offered), true), None);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fn hello(src: i32, dst: i32, nonce: u64, count: u64) -> Frame {
    let body = Writer::new()
        .int((nonce >> 32) as i32)
        .int(nonce as i32)
        .int((count >> 32) as i32)
        .int(count as i32)
        .finish();
    Frame::new(
        Header {
            src,
            dst,
            tag: Req::RouteHello as i32,
            ..Header::new(Kind::Req)
        },
        body,
    )
}
