//! The per-task buffer table behind `pvm_mkbuf`, `pvm_freebuf`,
//! `pvm_initsend`, `pvm_getsbuf`/`pvm_setsbuf` and
//! `pvm_getrbuf`/`pvm_setrbuf`.
//!
//! Buffer ids are positive; 0 means "no buffer". A freed id is reused, the
//! lowest free one first. A buffer is the active send buffer, the active
//! receive buffer, or neither, never both: making the active receive
//! buffer the send buffer (or the other way round) clears the other slot,
//! as PVM 3.4 does.

use std::collections::BTreeSet;

use super::{Buffer, Encoding};
use crate::{Error, Result};

/// The buffers of one task, by id, and which are active.
#[derive(Debug, Default)]
pub struct BufferTable {
    /// Slot `i` holds buffer id `i + 1`.
    slots: Vec<Option<Buffer>>,
    /// Indices of empty slots.
    free: BTreeSet<usize>,
    sbuf: i32,
    rbuf: i32,
}

impl BufferTable {
    /// An empty table, no active buffers.
    pub fn new() -> Self {
        BufferTable::default()
    }

    /// Number of live buffers.
    pub fn count(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn index(&self, id: i32) -> Result<usize> {
        if id < 0 {
            return Err(Error::BadParam);
        }
        let i = usize::try_from(id).map_err(|_| Error::BadParam)?;
        match i.checked_sub(1) {
            Some(i) if matches!(self.slots.get(i), Some(Some(_))) => Ok(i),
            _ => Err(Error::NoSuchBuf),
        }
    }

    /// Store a buffer under a new id and return the id.
    pub fn insert(&mut self, buf: Buffer) -> i32 {
        let i = match self.free.pop_first() {
            Some(i) => {
                self.slots[i] = Some(buf);
                i
            }
            None => {
                self.slots.push(Some(buf));
                self.slots.len() - 1
            }
        };
        // Ids are i32 like PVM's; a task never holds 2^31 buffers.
        i32::try_from(i + 1).unwrap_or(i32::MAX)
    }

    /// `pvm_mkbuf`: a new empty buffer with encoding `enc` (a
    /// `PvmDataTrace` one starts a user-defined trace event, stamped now).
    pub fn mkbuf(&mut self, enc: Encoding) -> i32 {
        if enc == Encoding::Trace {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            return self.insert(Buffer::user_event(
                d.as_secs() as i32,
                d.subsec_micros() as i32,
            ));
        }
        self.insert(Buffer::new(enc))
    }

    /// `pvm_freebuf`: dispose of buffer `id`. Freeing an active buffer
    /// clears that slot. Id 0 is a no-op (as in PVM 3.4); a negative id
    /// gives [`Error::BadParam`], an unknown one [`Error::NoSuchBuf`].
    pub fn freebuf(&mut self, id: i32) -> Result<()> {
        if id == 0 {
            return Ok(());
        }
        self.take(id).map(drop)
    }

    /// The buffer `id`.
    pub fn get(&self, id: i32) -> Result<&Buffer> {
        let i = self.index(id)?;
        self.slots[i].as_ref().ok_or(Error::NoSuchBuf)
    }

    /// The buffer `id`, mutable.
    pub fn get_mut(&mut self, id: i32) -> Result<&mut Buffer> {
        let i = self.index(id)?;
        self.slots[i].as_mut().ok_or(Error::NoSuchBuf)
    }

    /// Remove buffer `id` from the table and hand it over; clears the
    /// active slot it occupied.
    pub fn take(&mut self, id: i32) -> Result<Buffer> {
        let i = self.index(id)?;
        let buf = self.slots[i].take().ok_or(Error::NoSuchBuf)?;
        self.free.insert(i);
        // Drop trailing empty slots so the table shrinks back.
        while let Some(None) = self.slots.last() {
            self.slots.pop();
            self.free.remove(&self.slots.len());
        }
        if self.sbuf == id {
            self.sbuf = 0;
        }
        if self.rbuf == id {
            self.rbuf = 0;
        }
        Ok(buf)
    }

    /// `pvm_initsend`: free the active send buffer (if any) and make a new
    /// empty one with encoding `enc` active. Returns its id.
    pub fn initsend(&mut self, enc: Encoding) -> Result<i32> {
        if self.sbuf > 0 {
            self.freebuf(self.sbuf)?;
        }
        let id = self.mkbuf(enc);
        self.sbuf = id;
        Ok(id)
    }

    /// `pvm_getsbuf`: id of the active send buffer, 0 when none.
    pub fn sbuf(&self) -> i32 {
        self.sbuf
    }

    /// `pvm_getrbuf`: id of the active receive buffer, 0 when none.
    pub fn rbuf(&self) -> i32 {
        self.rbuf
    }

    /// `pvm_setsbuf`: make `id` the active send buffer (0: none); returns
    /// the previous one. If `id` was the active receive buffer, there is
    /// no active receive buffer afterwards.
    pub fn set_sbuf(&mut self, id: i32) -> Result<i32> {
        if id != 0 {
            self.index(id)?;
        }
        if id != 0 && self.rbuf == id {
            self.rbuf = 0;
        }
        Ok(std::mem::replace(&mut self.sbuf, id))
    }

    /// `pvm_setrbuf`: make `id` the active receive buffer (0: none);
    /// returns the previous one. If `id` was the active send buffer, there
    /// is no active send buffer afterwards.
    pub fn set_rbuf(&mut self, id: i32) -> Result<i32> {
        if id != 0 {
            self.index(id)?;
        }
        if id != 0 && self.sbuf == id {
            self.sbuf = 0;
        }
        Ok(std::mem::replace(&mut self.rbuf, id))
    }

    /// The active send buffer; [`Error::NoBuf`] when there is none.
    pub fn send_buf_mut(&mut self) -> Result<&mut Buffer> {
        if self.sbuf == 0 {
            return Err(Error::NoBuf);
        }
        self.get_mut(self.sbuf).map_err(|_| Error::NoBuf)
    }

    /// The active receive buffer; [`Error::NoBuf`] when there is none.
    pub fn recv_buf_mut(&mut self) -> Result<&mut Buffer> {
        if self.rbuf == 0 {
            return Err(Error::NoBuf);
        }
        self.get_mut(self.rbuf).map_err(|_| Error::NoBuf)
    }

    /// Both active buffers at once, for `pvm_pkmesg(pvm_getrbuf())`-like
    /// calls that read one buffer while packing into another: returns the
    /// active send buffer and buffer `id`. [`Error::NoBuf`] without a send
    /// buffer, [`Error::BadParam`] when `id` is the send buffer itself or
    /// negative, [`Error::NoSuchBuf`] for an unknown id.
    pub fn send_buf_and(&mut self, id: i32) -> Result<(&mut Buffer, &Buffer)> {
        if self.sbuf == 0 {
            return Err(Error::NoBuf);
        }
        let j = self.index(id)?;
        if id == self.sbuf {
            return Err(Error::BadParam);
        }
        let s = self.index(self.sbuf).map_err(|_| Error::NoBuf)?;
        let (sb, other) = if s < j {
            let (a, b) = self.slots.split_at_mut(j);
            (a[s].as_mut(), b[0].as_ref())
        } else {
            let (a, b) = self.slots.split_at_mut(s);
            (b[0].as_mut(), a[j].as_ref())
        };
        match (sb, other) {
            (Some(sb), Some(other)) => Ok((sb, other)),
            _ => Err(Error::NoSuchBuf),
        }
    }

    /// `pvm_recv` and friends: free the old active receive buffer, store
    /// `buf` under a new id and make it the active receive buffer.
    pub fn set_received(&mut self, buf: Buffer) -> i32 {
        if self.rbuf > 0 {
            // The slot is known to be live; a stale id would only mean
            // there is nothing to free.
            let _ = self.freebuf(self.rbuf);
        }
        let id = self.insert(buf);
        self.rbuf = id;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::MsgInfo;

    fn received(tag: i32) -> Buffer {
        let info = MsgInfo {
            tag,
            ..MsgInfo::default()
        };
        Buffer::from_received(vec![0, 0, 0, tag as u8], info)
    }

    #[test]
    fn ids_are_positive_and_reused_lowest_first() {
        let mut t = BufferTable::new();
        assert_eq!(t.sbuf(), 0);
        assert_eq!(t.rbuf(), 0);
        assert_eq!(t.mkbuf(Encoding::Default), 1);
        assert_eq!(t.mkbuf(Encoding::Raw), 2);
        assert_eq!(t.mkbuf(Encoding::InPlace), 3);
        assert_eq!(t.insert(received(4)), 4);
        assert_eq!(t.count(), 4);
        assert_eq!(t.get(2).unwrap().encoding(), Encoding::Raw);
        assert_eq!(t.get(4).unwrap().info().tag, 4);
        t.freebuf(2).unwrap();
        t.freebuf(1).unwrap();
        assert_eq!(t.count(), 2);
        assert_eq!(t.get(1).err(), Some(Error::NoSuchBuf));
        assert_eq!(t.mkbuf(Encoding::Trace), 1);
        assert_eq!(t.mkbuf(Encoding::Trace), 2);
        assert_eq!(t.mkbuf(Encoding::Trace), 5);
        // Freeing the highest ids shrinks the table; ids restart there.
        t.freebuf(5).unwrap();
        t.freebuf(4).unwrap();
        assert_eq!(t.mkbuf(Encoding::Default), 4);
    }

    #[test]
    fn unknown_and_invalid_ids() {
        let mut t = BufferTable::new();
        let b = t.mkbuf(Encoding::Default);
        assert_eq!(t.freebuf(-1), Err(Error::BadParam));
        assert_eq!(t.freebuf(99), Err(Error::NoSuchBuf));
        assert_eq!(t.freebuf(0), Ok(()));
        assert_eq!(t.get(0).err(), Some(Error::NoSuchBuf));
        assert_eq!(t.get(-5).err(), Some(Error::BadParam));
        assert_eq!(t.get_mut(7).err(), Some(Error::NoSuchBuf));
        assert_eq!(t.take(i32::MAX).err(), Some(Error::NoSuchBuf));
        assert_eq!(t.set_sbuf(99), Err(Error::NoSuchBuf));
        assert_eq!(t.set_sbuf(-3), Err(Error::BadParam));
        assert_eq!(t.set_rbuf(99), Err(Error::NoSuchBuf));
        assert_eq!(t.set_rbuf(-3), Err(Error::BadParam));
        t.freebuf(b).unwrap();
        assert_eq!(t.freebuf(b), Err(Error::NoSuchBuf));
        assert_eq!(t.count(), 0);
    }

    #[test]
    fn freeing_active_buffers_clears_the_slots() {
        let mut t = BufferTable::new();
        let s = t.initsend(Encoding::Default).unwrap();
        let r = t.set_received(received(1));
        assert_eq!((t.sbuf(), t.rbuf()), (s, r));
        t.freebuf(s).unwrap();
        assert_eq!(t.sbuf(), 0);
        assert_eq!(t.send_buf_mut().err(), Some(Error::NoBuf));
        assert_eq!(t.rbuf(), r);
        let taken = t.take(r).unwrap();
        assert_eq!(taken.info().tag, 1);
        assert_eq!(t.rbuf(), 0);
        assert_eq!(t.recv_buf_mut().err(), Some(Error::NoBuf));
    }

    #[test]
    fn initsend_replaces_the_send_buffer() {
        let mut t = BufferTable::new();
        let a = t.initsend(Encoding::Default).unwrap();
        t.send_buf_mut().unwrap().pack(&[1i32], 1, 1).unwrap();
        let b = t.initsend(Encoding::Raw).unwrap();
        assert_eq!(t.sbuf(), b);
        assert_eq!(t.count(), 1);
        // The old buffer was freed (its id is reused here).
        assert_eq!(a, b);
        let sb = t.send_buf_mut().unwrap();
        assert_eq!(sb.encoding(), Encoding::Raw);
        assert!(sb.is_empty());
        // A buffer made with mkbuf and switched to is freed by initsend too.
        let m = t.mkbuf(Encoding::Raw);
        t.get_mut(m).unwrap().pack(&[1u8], 1, 1).unwrap();
        assert_eq!(t.set_sbuf(m), Ok(b));
        let c = t.initsend(Encoding::Default).unwrap();
        // m was freed; the new buffer takes the lowest free id, m's.
        assert_eq!(c, m);
        assert!(t.get(c).unwrap().is_empty());
        assert_eq!(t.get(c).unwrap().encoding(), Encoding::Default);
        assert!(t.get(b).is_ok());
        assert_eq!(t.count(), 2);
        // Without an active send buffer initsend just makes one.
        t.set_sbuf(0).unwrap();
        let d = t.initsend(Encoding::Default).unwrap();
        assert_eq!(t.sbuf(), d);
        assert_eq!(t.count(), 3);
    }

    #[test]
    fn set_sbuf_and_set_rbuf_return_the_previous_and_exclude_each_other() {
        let mut t = BufferTable::new();
        let a = t.mkbuf(Encoding::Default);
        let b = t.mkbuf(Encoding::Raw);
        assert_eq!(t.set_sbuf(a), Ok(0));
        assert_eq!(t.set_sbuf(b), Ok(a));
        assert_eq!(t.set_sbuf(0), Ok(b));
        assert_eq!(t.sbuf(), 0);
        // Saved buffers live on.
        assert!(t.get(a).is_ok() && t.get(b).is_ok());
        assert_eq!(t.set_rbuf(a), Ok(0));
        assert_eq!(t.rbuf(), a);
        // Making the receive buffer the send buffer clears rbuf.
        assert_eq!(t.set_sbuf(a), Ok(0));
        assert_eq!((t.sbuf(), t.rbuf()), (a, 0));
        // And the other way round.
        assert_eq!(t.set_rbuf(a), Ok(0));
        assert_eq!((t.sbuf(), t.rbuf()), (0, a));
        assert_eq!(t.set_rbuf(b), Ok(a));
        assert_eq!(t.set_rbuf(0), Ok(b));
        assert_eq!(t.recv_buf_mut().err(), Some(Error::NoBuf));
    }

    #[test]
    fn set_received_frees_the_previous_receive_buffer() {
        let mut t = BufferTable::new();
        let r1 = t.set_received(received(1));
        assert_eq!(t.rbuf(), r1);
        let r2 = t.set_received(received(2));
        assert_eq!(t.rbuf(), r2);
        assert_eq!(t.count(), 1);
        assert_eq!(t.recv_buf_mut().unwrap().info().tag, 2);
        // A receive buffer saved with setrbuf(0) survives the next receive.
        assert_eq!(t.set_rbuf(0), Ok(r2));
        let r3 = t.set_received(received(3));
        assert_ne!(r3, r2);
        assert_eq!(t.get(r2).unwrap().info().tag, 2);
        assert_eq!(t.count(), 2);
        // Unpacking through the table moves the buffer's own cursor.
        let mut v = [0i32];
        t.recv_buf_mut().unwrap().unpack(&mut v, 1, 1).unwrap();
        assert_eq!(v, [3]);
        assert_eq!(t.get(r3).unwrap().position(), 4);
    }

    #[test]
    fn send_buf_and_other_for_pkmesg() {
        let mut t = BufferTable::new();
        assert_eq!(t.send_buf_and(1).err(), Some(Error::NoBuf));
        let r = t.set_received(received(9));
        let s = t.initsend(Encoding::Default).unwrap();
        assert_eq!(t.send_buf_and(s).err(), Some(Error::BadParam));
        assert_eq!(t.send_buf_and(77).err(), Some(Error::NoSuchBuf));
        assert_eq!(t.send_buf_and(-1).err(), Some(Error::BadParam));
        {
            let (sb, other) = t.send_buf_and(r).unwrap();
            sb.pack_message(other).unwrap();
        }
        let m = t.mkbuf(Encoding::Raw); // higher id than the send buffer
        {
            let (sb, other) = t.send_buf_and(m).unwrap();
            sb.pack_message(other).unwrap();
        }
        let mut out = Buffer::from_received(t.get(s).unwrap().to_bytes(), MsgInfo::default());
        assert_eq!(&out.unpack_message().unwrap(), t.get(r).unwrap());
        assert_eq!(&out.unpack_message().unwrap(), t.get(m).unwrap());
    }
}
