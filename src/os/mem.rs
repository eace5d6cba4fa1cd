//! Shared memory for the rings: sealed memfds (rustix) and their shared
//! mappings (mmap: the one part that has to be `unsafe`, since another
//! process writes the same memory), and giving freed heap back.

use rustix::fs::{MemfdFlags, SealFlags};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// A sealed anonymous shared-memory file of `size` bytes (memfd: it cannot
/// shrink or grow any more, so a mapping of it never faults with SIGBUS).
pub fn sealed_memfd(name: &str, size: usize) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(fd)
}

/// The size of a memfd received from a peer, when it is sealed against
/// shrinking (so mapping that many bytes is safe); an error otherwise.
pub fn sealed_size(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<usize> {
    let sealed = rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK));
    if !sealed {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "shared memory not sealed",
        ));
    }
    let st = rustix::fs::fstat(fd)?;
    usize::try_from(st.st_size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Gives the heap's free memory back to the system (`malloc_trim(0)`):
/// glibc keeps freed memory of large buffers for reuse, so a daemon that
/// has relayed a burst of big messages would otherwise keep that peak.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free
    // lists; it has no preconditions and takes the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A shared (MAP_SHARED) read-write mapping of a memfd, accessed only by
/// copies and atomic words at checked offsets (another process writes the
/// same memory, so no Rust reference into it is ever handed out).
pub struct SharedMap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; all access goes through methods that
// copy or use atomics, so sharing it between threads is no different from sharing a Vec.
unsafe impl Send for SharedMap {}
// SAFETY: as above; &self methods only copy out or perform atomic operations.
unsafe impl Sync for SharedMap {}

impl SharedMap {
    /// Maps the first `len` bytes of `fd` (which must be at least that big
    /// and sealed against shrinking: see [`sealed_size`]).
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> io::Result<SharedMap> {
        // SAFETY: a fresh mapping chosen by the kernel; it aliases no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(SharedMap { ptr: p.cast(), len })
    }

    /// The mapping's size.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, off: usize, n: usize) -> bool {
        off.checked_add(n).is_some_and(|e| e <= self.len)
    }

    /// Copies `src` to offset `off`; false (nothing copied) when it does not fit.
    pub fn write_at(&self, off: usize, src: &[u8]) -> bool {
        if !self.check(off, src.len()) {
            return false;
        }
        // SAFETY: off..off+len lies inside the mapping (checked); src is a distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(off), src.len()) };
        true
    }

    /// Copies `src` to offset `off` as [`SharedMap::write_at`] does, but
    /// with non-temporal (streaming) stores on x86-64: the bytes go to
    /// memory without each line they overwrite being fetched first. A plain
    /// store to a line that another CPU has read (the peer copying the last
    /// body out of the same room) must take that line back first, one line
    /// after another; on some machines that is a slow round trip each (see
    /// `task/shm.rs`). Ends with a store fence, so an atomic store made
    /// after it (the producer position) is seen after the bytes.
    pub fn write_at_streaming(&self, off: usize, src: &[u8]) -> bool {
        if !self.check(off, src.len()) {
            return false;
        }
        // SAFETY: off..off+src.len() lies inside the mapping (checked); src is a distinct slice.
        let dst = unsafe { self.ptr.add(off) };
        stream_copy(dst, src);
        true
    }

    /// Appends `n` bytes from offset `off` to `out`; false when out of range.
    pub fn read_into(&self, off: usize, n: usize, out: &mut Vec<u8>) -> bool {
        if !self.check(off, n) {
            return false;
        }
        out.reserve(n);
        let at = out.len();
        // SAFETY: off..off+n lies inside the mapping (checked); `out` has room for n more bytes
        // after `at` (reserved), which the copy initialises before set_len exposes them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.add(off), out.as_mut_ptr().add(at), n);
            out.set_len(at + n);
        }
        true
    }

    /// Copies `dst.len()` bytes from offset `off` into `dst`; false when
    /// out of range.
    pub fn read_to(&self, off: usize, dst: &mut [u8]) -> bool {
        if !self.check(off, dst.len()) {
            return false;
        }
        // SAFETY: off..off+dst.len() lies inside the mapping (checked); `dst` is a distinct,
        // exclusively borrowed buffer of that length.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), dst.as_mut_ptr(), dst.len()) };
        true
    }

    fn word(&self, off: usize) -> Option<&std::sync::atomic::AtomicU64> {
        if !self.check(off, 8) || !off.is_multiple_of(8) {
            return None;
        }
        // SAFETY: the 8 bytes at off are inside the mapping, 8-aligned (the mapping is
        // page-aligned), live as long as &self, and are only ever accessed atomically.
        Some(unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.add(off).cast()) })
    }

    /// Atomically loads the u64 at `off` (acquire); 0 when out of range.
    pub fn load(&self, off: usize) -> u64 {
        self.word(off)
            .map_or(0, |w| w.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Atomically stores `v` at `off` (release); ignored when out of range.
    pub fn store(&self, off: usize, v: u64) {
        if let Some(w) = self.word(off) {
            w.store(v, std::sync::atomic::Ordering::Release);
        }
    }

    /// Atomically replaces the u64 at `off` with `v` (sequentially
    /// consistent) and returns what it held; 0 when out of range.
    pub fn swap(&self, off: usize, v: u64) -> u64 {
        self.word(off)
            .map_or(0, |w| w.swap(v, std::sync::atomic::Ordering::SeqCst))
    }
}

/// Copies `src` to `dst` (`src.len()` writable bytes inside a mapping)
/// with streaming stores, then fences them.
#[cfg(target_arch = "x86_64")]
fn stream_copy(dst: *mut u8, src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let n = src.len();
    let s = src.as_ptr();
    // Up to the first 16-byte boundary of the destination: plain copy.
    let head = dst.align_offset(16).min(n);
    // SAFETY: head <= n bytes of src and of the destination (the caller's range).
    unsafe { std::ptr::copy_nonoverlapping(s, dst, head) };
    let mut i = head;
    while i + 64 <= n {
        // SAFETY: i..i+64 lies inside both ranges; dst+i is 16-byte aligned (head aligned it and
        // i grows by 64); SSE2 is part of x86-64; unaligned loads read src as it is.
        unsafe {
            let a = _mm_loadu_si128(s.add(i).cast::<__m128i>());
            let b = _mm_loadu_si128(s.add(i + 16).cast::<__m128i>());
            let c = _mm_loadu_si128(s.add(i + 32).cast::<__m128i>());
            let d = _mm_loadu_si128(s.add(i + 48).cast::<__m128i>());
            _mm_stream_si128(dst.add(i).cast::<__m128i>(), a);
            _mm_stream_si128(dst.add(i + 16).cast::<__m128i>(), b);
            _mm_stream_si128(dst.add(i + 32).cast::<__m128i>(), c);
            _mm_stream_si128(dst.add(i + 48).cast::<__m128i>(), d);
        }
        i += 64;
    }
    // SAFETY: i..n lies inside both ranges; the fence orders the streaming stores before
    // any later store of this thread (SSE is part of x86-64).
    unsafe {
        std::ptr::copy_nonoverlapping(s.add(i), dst.add(i), n - i);
        _mm_sfence();
    }
}

/// Elsewhere: a plain copy.
#[cfg(not(target_arch = "x86_64"))]
fn stream_copy(dst: *mut u8, src: &[u8]) {
    // SAFETY: the caller's range holds src.len() writable bytes; src is a distinct slice.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made in `map`, unmapped once here.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn streaming_writes_land_whole_at_any_offset_and_length() {
        let fd = sealed_memfd("pvm6-test", 1 << 16).unwrap();
        let map = SharedMap::map(fd.as_fd(), 1 << 16).unwrap();
        let src: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        for (off, len) in [
            (0, 5000),
            (1, 4999),
            (13, 64),
            (4096 + 5, 63),
            (100, 1),
            (7, 0),
        ] {
            assert!(map.write_at(0, &vec![0xEE; 12000]));
            assert!(map.write_at_streaming(off, &src[..len]));
            let mut back = vec![0; len + 2];
            let start = off.saturating_sub(1);
            assert!(map.read_to(start, &mut back[..len + 1 + (off - start)]));
            let got = &back[off - start..off - start + len];
            assert_eq!(got, &src[..len], "offset {off} length {len}");
            // Nothing written beyond the range.
            assert_eq!(back[off - start + len], 0xEE, "offset {off} length {len}");
            if off > 0 {
                assert_eq!(back[0], 0xEE);
            }
        }
        assert!(!map.write_at_streaming((1 << 16) - 3, &src[..4]));
    }
}
