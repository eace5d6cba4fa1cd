//! One spare message body, kept for the next large receive.
//!
//! pvm_precv copies a received body out and drops it about when the next
//! one arrives; glibc often gives that memory back to the system (munmap,
//! heap trimming), and the next body then faults every page in again,
//! which costs about as much as copying it twice. The body pvm_precv is
//! done with is kept here instead, and the task's next large receive (from
//! the daemon or a direct link) reuses it. (Buffers freed otherwise go back
//! to malloc: a task that packs its sends reuses that memory for them.)

use crate::sync::Locked;
use std::sync::Mutex;

/// Bodies from this size on are worth keeping.
const MIN: usize = 64 * 1024;
/// Nor are bodies beyond this kept (memory held while idle).
const MAX: usize = 64 << 20;

/// A slot for one body.
struct Spare(Mutex<Vec<u8>>);

impl Spare {
    const fn new() -> Spare {
        Spare(Mutex::new(Vec::new()))
    }

    fn body(&self, len: usize) -> Vec<u8> {
        if len >= MIN {
            let mut s = self.0.locked();
            if s.capacity() >= len && s.capacity() / 2 <= len {
                return std::mem::take(&mut *s);
            }
        }
        Vec::with_capacity(len)
    }

    fn recycle(&self, mut v: Vec<u8>) {
        if (MIN..=MAX).contains(&v.capacity()) {
            v.clear();
            *self.0.locked() = v;
        }
    }
}

static SPARE: Spare = Spare::new();

/// An empty Vec with room for `len` bytes: the spare one when it fits and
/// is not much larger, else a new one.
pub fn body(len: usize) -> Vec<u8> {
    SPARE.body(len)
}

/// Keeps `v` (its contents are dropped) for a later [`body`].
pub fn recycle(v: Vec<u8>) {
    SPARE.recycle(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_body_serves_the_next_receive_of_its_size() {
        let spare = Spare::new();
        let v = vec![7u8; 200_000];
        let p = v.as_ptr();
        spare.recycle(v);
        let b = spare.body(150_000);
        assert_eq!(b.as_ptr(), p);
        assert!(b.is_empty() && b.capacity() >= 200_000);
        // Taken: the next one is new.
        assert_ne!(spare.body(150_000).capacity(), 0);
        assert!(spare.0.lock().unwrap().capacity() == 0);
        // Too small to keep; too large for a small request.
        spare.recycle(vec![0u8; 100]);
        assert_eq!(spare.0.lock().unwrap().capacity(), 0);
        spare.recycle(b);
        assert!(spare.body(70_000).capacity() < 200_000);
        assert!(spare.body(200_000).capacity() >= 200_000);
    }
}
