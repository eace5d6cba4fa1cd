//! The wire protocol shared by tasks and daemons: frames and the control codec.
//!
//! Every exchange is a [`Frame`]: a fixed 32-byte header followed by one
//! contiguous body. The header is little-endian and versioned from the first
//! frame (see docs/PROTOCOL.md for the full description):
//!
//! ```text
//! offset size field
//!  0     2    magic   0x3650 ("P6" read as little-endian bytes 'P','6')
//!  2     1    version 1
//!  3     1    kind    (Kind)
//!  4     4    length of the body in bytes (u32)
//!  8     4    src     sending tid
//! 12     4    dst     destination tid
//! 16     4    tag     message tag, or the request code of Req/Reply frames
//! 20     4    ctx     message context
//! 24     4    enc     body encoding of Msg frames (PvmDataDefault, Raw, InPlace)
//! 28     4    wid     request id (Req/Reply) or wait id
//! ```
//!
//! Control bodies (Req/Reply) are written with [`Writer`] and read with
//! [`Reader`]: big-endian i32s and length-prefixed byte strings.

//!
//! Files: [`frame`] (header, frame, blocking read and write), [`decoder`]
//! (the incremental reader of the event loops), [`codes`] (frame kinds,
//! daemon control and request codes), [`codec`] (control bodies),
//! [`vocabulary`] (the other words task and daemon share: notify kinds,
//! group context and tags, environment names, the data signature) and
//! [`output`] (the Inherit codec and output packing).

mod codec;
mod codes;
mod decoder;
mod frame;
pub mod output;
pub mod tev;
pub mod vocabulary;

pub use codec::{Reader, Writer};
pub use codes::{Ctl, Kind, Req};
pub use decoder::{FrameDecoder, Landing, ReadSpare, READ_STEP};
pub use frame::{
    ctl_frame, doorbell, frame_slices, is_doorbell, max_message_from_env, one_frame, parse_size,
    read_frame, read_frame_with, write_frame, Frame, Header, HeldBody, DEFAULT_MAX_MESSAGE,
    ENV_MAX_MESSAGE, HEADER_LEN, MAGIC, MAX_BODY, MIN_MAX_MESSAGE, TAG_FEED_FENCE, VERSION,
};

#[cfg(test)]
mod tests;
