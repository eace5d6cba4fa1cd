//! PVM error codes: one enum whose discriminants are PVM 3.4's values, and the
//! table of texts that `pvm_perror`, `pvm_errlist` and the automatic error
//! reports print.
//!
//! Every fallible call of the safe core returns [`Result<T>`]; the FFI layer
//! turns an [`Error`] into its negative code and stores it in `pvm_errno`.

use std::fmt;

/// A PVM error. The discriminant is the code a C program sees.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    BadParam = -2,
    Mismatch = -3,
    Overflow = -4,
    NoData = -5,
    NoHost = -6,
    NoFile = -7,
    Denied = -8,
    NoMem = -10,
    BadMsg = -12,
    SysErr = -14,
    NoBuf = -15,
    NoSuchBuf = -16,
    NullGroup = -17,
    DupGroup = -18,
    NoGroup = -19,
    NotInGroup = -20,
    NoInst = -21,
    HostFail = -22,
    NoParent = -23,
    NotImpl = -24,
    DSysErr = -25,
    BadVersion = -26,
    OutOfRes = -27,
    DupHost = -28,
    CantStart = -29,
    Already = -30,
    NoTask = -31,
    NotFound = -32,
    Exists = -33,
    HostrNMstr = -34,
    ParentNotSet = -35,
    IPLoopback = -36,
}

/// Result of a PVM operation.
pub type Result<T> = std::result::Result<T, Error>;

/// Texts indexed by the negated error code, as `pvm_errlist` holds them.
/// Index 0 and the unused codes read "Error N" like the original.
pub const ERROR_TEXTS: [&str; 37] = [
    "Error 0",
    "Error 1",
    "Bad parameter",
    "Parameter mismatch",
    "Value too large",
    "End of buffer",
    "No such host",
    "No such file",
    "Permission denied",
    "Error 9",
    "Malloc failed",
    "Error 11",
    "Can't decode message",
    "Error 13",
    "Can't contact local daemon",
    "No current buffer",
    "No such buffer",
    "Null group name",
    "Already in group",
    "No such group",
    "Not in group",
    "No such instance",
    "Host failed",
    "No parent task",
    "Not implemented",
    "Pvmd system error",
    "Version mismatch",
    "Out of resources",
    "Duplicate host",
    "Can't start pvmd",
    "Already in progress",
    "No such task",
    "Not Found",
    "Already Exists",
    "Hoster must run on master host",
    "Spawning parent set PvmNoParent",
    "Master Host IP Address is Loopback! (See pvm3/Readme)",
];

/// Every error, for tables and tests.
pub const ALL: [Error; 32] = [
    Error::BadParam,
    Error::Mismatch,
    Error::Overflow,
    Error::NoData,
    Error::NoHost,
    Error::NoFile,
    Error::Denied,
    Error::NoMem,
    Error::BadMsg,
    Error::SysErr,
    Error::NoBuf,
    Error::NoSuchBuf,
    Error::NullGroup,
    Error::DupGroup,
    Error::NoGroup,
    Error::NotInGroup,
    Error::NoInst,
    Error::HostFail,
    Error::NoParent,
    Error::NotImpl,
    Error::DSysErr,
    Error::BadVersion,
    Error::OutOfRes,
    Error::DupHost,
    Error::CantStart,
    Error::Already,
    Error::NoTask,
    Error::NotFound,
    Error::Exists,
    Error::HostrNMstr,
    Error::ParentNotSet,
    Error::IPLoopback,
];

impl Error {
    /// The negative code of this error.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The error whose code is `code`, if there is one.
    pub fn from_code(code: i32) -> Option<Error> {
        ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The text `pvm_perror` prints for this error.
    pub fn text(self) -> &'static str {
        ERROR_TEXTS[(-self.code()) as usize]
    }
}

/// The text for any code, "Unknown error N" outside the table.
pub fn text_of(code: i32) -> String {
    match code.checked_neg() {
        Some(i) if (0..ERROR_TEXTS.len() as i32).contains(&i) => {
            ERROR_TEXTS[i as usize].to_string()
        }
        _ => format!("Unknown error {code}"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(_: std::io::Error) -> Self {
        Error::SysErr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_texts_match_index() {
        for e in ALL {
            assert_eq!(Error::from_code(e.code()), Some(e));
            assert!(!e.text().starts_with("Error "), "{e:?}");
        }
        assert_eq!(Error::BadParam.text(), "Bad parameter");
        assert_eq!(Error::SysErr.text(), "Can't contact local daemon");
        assert_eq!(text_of(-9), "Error 9");
        assert_eq!(text_of(-99), "Unknown error -99");
    }
}
