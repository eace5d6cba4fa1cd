//! The task side of the message mailbox: pvm_putinfo, pvm_recvinfo,
//! pvm_delinfo, pvm_getmboxinfo and the PVM 3.3 database calls pvm_insert,
//! pvm_lookup and pvm_delete, as requests to the daemon (which keeps the
//! table, see `daemon::mailbox`). A stored message travels as its body
//! bytes and encoding; a copy handed back becomes a new buffer of this
//! task and its active receive buffer (the old one is freed), as
//! pvm_recvinfo does in PVM 3.4.6.

use super::rt;
use crate::consts::{PvmMboxFirstAvail, PvmMboxMultiInstance, PvmMboxPersistent};
use crate::msg::{Buffer, Encoding, MsgInfo};
use crate::wire::{Reader, Req, Writer};
use crate::{Error, Result};

/// Flags of the entries pvm_insert makes (persistent, multi-instance), as
/// PVM 3.4.6 stores them.
pub const INSERT_FLAGS: i32 = PvmMboxPersistent | PvmMboxMultiInstance;

/// One mailbox class as pvm_getmboxinfo reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MboxClass {
    /// Class name (any bytes but NUL).
    pub name: Vec<u8>,
    /// Entry indices, ascending.
    pub indices: Vec<i32>,
    /// Owner of each entry (0 for a persistent entry whose owner exited).
    pub owners: Vec<i32>,
    /// Flags each entry was put with.
    pub flags: Vec<i32>,
}

/// A copy of a mailbox entry.
pub(super) struct Stored {
    index: i32,
    src: i32,
    pub(super) enc: Encoding,
    pub(super) body: Vec<u8>,
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name.contains(&0) {
        Err(Error::BadParam)
    } else {
        Ok(())
    }
}

/// Sends a put of `body`; `exact` >= 0 asks for exactly that index.
pub(super) fn put_body(
    name: &[u8],
    flags: i32,
    exact: i32,
    enc: Encoding,
    body: &[u8],
) -> Result<i32> {
    let req = Writer::new()
        .bytes(name)
        .int(flags)
        .int(exact)
        .int(enc.code())
        .bytes(body)
        .finish();
    let reply = rt().request(Req::MboxPut, &req)?;
    Reader::new(&reply).int()
}

pub(super) fn recv_copy(name: &[u8], index: i32, flags: i32) -> Result<Stored> {
    let req = Writer::new().bytes(name).int(index).int(flags).finish();
    let reply = rt().request(Req::MboxRecv, &req)?;
    let mut r = Reader::new(&reply);
    let index = r.int()?;
    let src = r.int()?;
    let enc = Encoding::from_code(r.int()?).map_err(|_| Error::BadMsg)?;
    let body = r.bytes()?.to_vec();
    Ok(Stored {
        index,
        src,
        enc,
        body,
    })
}

/// pvm_putinfo: stores a copy of message buffer `bufid` under `name`;
/// returns the entry's index.
pub fn putinfo(name: &[u8], bufid: i32, flags: i32) -> Result<i32> {
    check_name(name)?;
    if bufid <= 0 || flags < 0 {
        return Err(Error::BadParam);
    }
    rt().mytid()?;
    let (enc, body) = {
        let st = rt().lock();
        let b = st.bufs.get(bufid).map_err(|_| Error::NoSuchBuf)?;
        (b.encoding(), b.to_bytes())
    };
    let r = put_body(name, flags, -1, enc, &body);
    mbox_debug("pvm_putinfo", name, &r);
    r
}

/// Debug line (mask bit 0x8000) for a mailbox call and its outcome.
fn mbox_debug(call: &str, name: &[u8], r: &Result<i32>) {
    super::logging::debug(super::compat::debug::MBOX, || {
        let name = String::from_utf8_lossy(name);
        match r {
            Ok(v) => format!("{call}() class \"{name}\": {v}"),
            Err(e) => format!("{call}() class \"{name}\": {}", e.text()),
        }
    });
}

/// pvm_recvinfo: a copy of the entry `<name, index>` (see the
/// PvmMbox* flags) as a new buffer, made the active receive buffer.
pub fn recvinfo(name: &[u8], index: i32, flags: i32) -> Result<i32> {
    check_name(name)?;
    if index < 0 || flags < 0 {
        return Err(Error::BadParam);
    }
    let c = recv_copy(name, index, flags);
    mbox_debug(
        "pvm_recvinfo",
        name,
        &c.as_ref().map(|_| index).map_err(|e| *e),
    );
    let c = c?;
    let me = rt().mytid()?;
    let info = MsgInfo {
        src: c.src,
        dst: me,
        ..MsgInfo::default()
    };
    let buf = Buffer::from_received_with_encoding(c.body, info, c.enc);
    Ok(rt().lock().bufs.set_received(buf))
}

/// pvm_delinfo: removes the entry `<name, index>`; returns its index.
pub fn delinfo(name: &[u8], index: i32, flags: i32) -> Result<i32> {
    check_name(name)?;
    if index < 0 {
        return Err(Error::BadParam);
    }
    let req = Writer::new().bytes(name).int(index).int(flags).finish();
    let r = rt()
        .request(Req::MboxDel, &req)
        .and_then(|reply| Reader::new(&reply).int());
    mbox_debug("pvm_delinfo", name, &r);
    r
}

/// pvm_getmboxinfo: the classes whose names contain `pattern` (`*`
/// matching any run of characters; "" and "*" match all).
pub fn getmboxinfo(pattern: &[u8]) -> Result<Vec<MboxClass>> {
    if pattern.contains(&0) {
        return Err(Error::BadParam);
    }
    let reply = rt().request(Req::MboxInfo, &Writer::new().bytes(pattern).finish())?;
    let mut r = Reader::new(&reply);
    let n = r.count(8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.bytes()?.to_vec();
        let k = r.count(12)?;
        let mut c = MboxClass {
            name,
            indices: Vec::with_capacity(k),
            owners: Vec::with_capacity(k),
            flags: Vec::with_capacity(k),
        };
        for _ in 0..k {
            c.indices.push(r.int()?);
            c.owners.push(r.int()?);
            c.flags.push(r.int()?);
        }
        out.push(c);
    }
    Ok(out)
}

/// pvm_insert (PVM 3.3): stores the integer `data` at `<name, index>`, or at
/// the first free index when `index` is -1; returns the index. A taken
/// index is PvmDupEntry (= PvmDenied). Entries are persistent.
pub fn insert(name: &[u8], index: i32, data: i32) -> Result<i32> {
    check_name(name)?;
    if index < -1 {
        return Err(Error::BadParam);
    }
    let mut b = Buffer::new(Encoding::Default);
    b.pack(&[data], 1, 1)?;
    put_body(name, INSERT_FLAGS, index, Encoding::Default, &b.to_bytes())
}

/// pvm_lookup (PVM 3.3): the integer at `<name, index>` (index -1: the
/// first entry of the class) and the index it was found at. PvmNoEntry
/// (= PvmNotFound) when there is none.
pub fn lookup(name: &[u8], index: i32) -> Result<(i32, i32)> {
    check_name(name)?;
    if index < -1 {
        return Err(Error::BadParam);
    }
    let (at, flags) = if index == -1 {
        (0, PvmMboxFirstAvail)
    } else {
        (index, 0)
    };
    let c = recv_copy(name, at, flags)?;
    let mut b = Buffer::from_received_with_encoding(c.body, MsgInfo::default(), c.enc);
    let mut v = [0i32];
    b.unpack(&mut v, 1, 1)?;
    Ok((c.index, v[0]))
}

/// pvm_delete (PVM 3.3): removes `<name, index>`; returns the index
/// (PvmOk for index 0), as the original's pvm_delete answers.
pub fn delete(name: &[u8], index: i32) -> Result<i32> {
    check_name(name)?;
    if index < 0 {
        return Err(Error::BadParam);
    }
    delinfo(name, index, 0)
}
