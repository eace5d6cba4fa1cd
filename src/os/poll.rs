//! Readiness waits (poll(2) through rustix).

use rustix::event::{PollFd, PollFlags, Timespec};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// Readiness wanted from, or reported for, one descriptor in [`poll_many`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable (or, when reported: data, end of stream, hang-up or error).
    pub read: bool,
    /// Writable (when reported: also set on error or hang-up, so a writer
    /// tries again and sees the failure).
    pub write: bool,
}

/// poll(2) on `fds` until something is ready or `deadline` passes (`None`:
/// no deadline); resumed with the time left when a signal interrupts it.
fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let left = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            // Whole milliseconds, rounded up, as poll(2) counts them: a
            // short wait is not a busy loop of zero timeouts.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as u64;
            Timespec::try_from(Duration::from_millis(ms)).unwrap_or_default()
        });
        match rustix::event::poll(fds, left.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Waits until `fd` is readable (or hung up) or `timeout` passes (`None`
/// waits forever). Returns whether it is readable.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    let mut p = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    poll_until(&mut p, timeout.map(|t| Instant::now() + t)).is_ok_and(|n| n > 0)
}

/// Waits until one of `fds` is ready as asked, or `timeout` passes (`None`
/// waits forever). Returns the readiness of each descriptor, in order (all
/// false after a timeout). An interrupted wait is resumed with the time left.
pub fn poll_many(
    fds: &[(BorrowedFd<'_>, Ready)],
    timeout: Option<Duration>,
) -> io::Result<Vec<Ready>> {
    let mut p: Vec<PollFd<'_>> = fds
        .iter()
        .map(|(fd, want)| {
            let mut ev = PollFlags::empty();
            if want.read {
                ev |= PollFlags::IN;
            }
            if want.write {
                ev |= PollFlags::OUT;
            }
            PollFd::from_borrowed_fd(*fd, ev)
        })
        .collect();
    poll_until(&mut p, timeout.map(|t| Instant::now() + t))?;
    let bad = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
    Ok(p.iter()
        .map(|q| {
            let r = q.revents();
            Ready {
                read: r.intersects(PollFlags::IN | bad),
                write: r.intersects(PollFlags::OUT | bad),
            }
        })
        .collect())
}

/// Waits up to `timeout` for the peer of a connected stream socket to hang
/// up; whether it has (its end is closed: the process is gone).
pub fn wait_hangup(sock: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut p = [PollFd::from_borrowed_fd(sock, PollFlags::RDHUP)];
    let ms = timeout.as_millis().min(i32::MAX as u128) as u64;
    let t = Timespec::try_from(Duration::from_millis(ms)).unwrap_or_default();
    let rc = rustix::event::poll(&mut p, Some(&t));
    rc.is_ok_and(|n| n > 0)
        && p[0]
            .revents()
            .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR)
}
