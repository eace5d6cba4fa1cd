//! Codecs the daemon and the task both use for output: the [`Inherit`]
//! settings a spawner passes to its children, and the packing of output
//! messages (`int tid, int count[, bytes]`).

use super::codec::{Reader, Writer};
use crate::msg::{Buffer, Encoding};
use crate::Error;

/// Output and trace settings a spawner passes to its children (the
/// trailing fields of Spawn; returned to the child in its Connect reply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inherit {
    pub out_tid: i32,
    pub out_code: i32,
    pub out_ctx: i32,
    pub trace_tid: i32,
    pub trace_code: i32,
    pub trace_ctx: i32,
    pub trace_buffer: i32,
    pub trace_options: i32,
    /// The spawner's message context at spawn time: the child starts in it
    /// (man pvm_newcontext: spawned tasks inherit their parent's context).
    pub context: i32,
}

/// Number of ints of an [`Inherit`] on the wire.
pub const INHERIT_INTS: usize = 9;

impl Inherit {
    /// The ints, in wire order.
    pub fn to_ints(&self) -> [i32; INHERIT_INTS] {
        [
            self.out_tid,
            self.out_code,
            self.out_ctx,
            self.trace_tid,
            self.trace_code,
            self.trace_ctx,
            self.trace_buffer,
            self.trace_options,
            self.context,
        ]
    }

    /// From the ints in wire order.
    pub fn from_ints(v: [i32; INHERIT_INTS]) -> Inherit {
        Inherit {
            out_tid: v[0],
            out_code: v[1],
            out_ctx: v[2],
            trace_tid: v[3],
            trace_code: v[4],
            trace_ctx: v[5],
            trace_buffer: v[6],
            trace_options: v[7],
            context: v[8],
        }
    }

    /// Appends the settings to a control body.
    pub fn write(&self, w: &mut Writer) {
        for v in self.to_ints() {
            w.int(v);
        }
    }

    /// Reads optional trailing settings: `None` when the body ends here
    /// (a peer that predates them), `BadMsg` when they are cut short.
    pub fn read(r: &mut Reader<'_>) -> Result<Option<Inherit>, Error> {
        if r.is_empty() {
            return Ok(None);
        }
        let mut v = [0i32; INHERIT_INTS];
        for x in &mut v {
            *x = r.int()?;
        }
        Ok(Some(Inherit::from_ints(v)))
    }
}

/// `(tid, count, bytes)` packed as the original's output messages.
pub fn pack_output(t: i32, count: i32, data: &[u8]) -> Vec<u8> {
    let mut b = Buffer::new(Encoding::Default);
    // Packing into a fresh Default buffer cannot fail.
    let _ = b.pack(&[t, count], 2, 1);
    if !data.is_empty() {
        let _ = b.pack(data, data.len(), 1);
    }
    b.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_round_trips_and_is_optional() {
        let i = Inherit::from_ints([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut w = Writer::new();
        i.write(&mut w);
        let body = w.finish();
        assert_eq!(Inherit::read(&mut Reader::new(&body)), Ok(Some(i)));
        assert_eq!(Inherit::read(&mut Reader::new(&[])), Ok(None));
        assert_eq!(
            Inherit::read(&mut Reader::new(&body[..8])),
            Err(Error::BadMsg)
        );
    }
}
