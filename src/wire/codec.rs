//! Control bodies: big-endian i32s and length-prefixed byte strings.

use crate::{Error, Result};

#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty body.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// Appends an i32.
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a byte string (length, then bytes).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends a UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Appends a list of strings (count, then each).
    pub fn strs<S: AsRef<[u8]>>(&mut self, v: &[S]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.bytes(s.as_ref());
        }
        self
    }
    /// The body bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reader of control bodies; every getter fails with `BadMsg` on short input.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }
    /// Next i32.
    pub fn int(&mut self) -> Result<i32> {
        let (head, rest) = self.data.split_first_chunk::<4>().ok_or(Error::BadMsg)?;
        self.data = rest;
        Ok(i32::from_be_bytes(*head))
    }
    /// Next count, checked against the bytes left (each item takes at least
    /// `min_item` bytes) so a hostile count cannot make us allocate.
    pub fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.int()?;
        let n = usize::try_from(n).map_err(|_| Error::BadMsg)?;
        if n.saturating_mul(min_item.max(1)) > self.data.len() && min_item > 0 {
            return Err(Error::BadMsg);
        }
        Ok(n)
    }
    /// Next byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.count(1)?;
        if n > self.data.len() {
            return Err(Error::BadMsg);
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    /// Next string (lossy UTF-8).
    pub fn str(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// Next list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>> {
        let n = self.count(4)?;
        (0..n).map(|_| self.str()).collect()
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
