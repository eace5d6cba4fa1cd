//! Unix-socket plumbing through rustix: descriptors passed with SCM_RIGHTS
//! and the peer's credentials (SO_PEERCRED).

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Most descriptors taken from one receive.
const MAX_FDS: usize = 8;

/// Credentials of the peer of a connected Unix socket: (pid, uid, gid).
pub fn peer_cred(sock: &impl AsFd) -> io::Result<(i32, u32, u32)> {
    let c = rustix::net::sockopt::socket_peercred(sock)?;
    Ok((c.pid.as_raw_nonzero().get(), c.uid.as_raw(), c.gid.as_raw()))
}

/// Like [`super::send_nonblocking`], and passes `fd` (SCM_RIGHTS) with the
/// first byte written: the peer's [`recv_with_fds`] receives a duplicate of it.
pub fn send_nonblocking_with_fd(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fd: BorrowedFd<'_>,
) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let fds = [fd];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for SCM_RIGHTS"));
    }
    loop {
        match rustix::net::sendmsg(
            sock,
            bufs,
            &mut control,
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Reads what the socket holds now into `buf` (non-blocking: `WouldBlock`
/// when empty), collecting descriptors passed with SCM_RIGHTS into `fds`
/// (close-on-exec). Returns the number of bytes read (0: end of stream).
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(buf)];
    let n = loop {
        match rustix::net::recvmsg(
            sock,
            &mut iov,
            &mut control,
            RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r.map_err(io::Error::from)?.bytes,
        }
    };
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(got) = msg {
            fds.extend(got);
        }
    }
    Ok(n)
}
