//! The words task and daemon share besides frames and request codes:
//! notify kinds, the group context and tags, the environment a spawned task
//! finds, the trace mask's size, the data signature.

use crate::tid;

/// `PvmTaskExit`.
pub const TASK_EXIT: i32 = 1;
/// `PvmHostDelete`.
pub const HOST_DELETE: i32 = 2;
/// `PvmHostAdd`.
pub const HOST_ADD: i32 = 3;
/// `PvmRouteAdd`.
pub const ROUTE_ADD: i32 = 4;
/// `PvmRouteDelete`.
pub const ROUTE_DELETE: i32 = 5;
/// `PvmNotifyCancel`, or-ed into the kind.
pub const CANCEL: i32 = 256;

/// The source tid of daemon-made notifications and output messages: PVM
/// 3.4.6's pvmd sends them as `TIDPVMD` (0x80000000, "the local pvmd"),
/// not as its own host's daemon tid.
pub const PVMD_SRC: i32 = tid::DAEMON_BIT;

/// Context of every group-internal message (barrier and freeze releases,
/// reduce/gather/scatter data). Negative, so pvm_setcontext can never make
/// it current and no user receive, probe or message handler sees them.
pub const GROUP_CTX: i32 = -0x7006;
/// Tag of the daemon's barrier-release message (body: status, group name).
pub const TAG_BARRIER: i32 = -70;
/// Tag of the daemon's freeze-release message (body: status, group name).
pub const TAG_FREEZE: i32 = -71;

/// Environment variable naming the tid a spawned task was given.
pub const ENV_TID: &str = "PVM6_TID";
/// Environment variable naming the socket of the daemon that spawned us.
pub const ENV_SOCK: &str = "PVM6_SOCK";
/// Set to 1 to keep the original behaviour: no autostart of a daemon.
pub const ENV_NOAUTOSTART: &str = "PVM6_NOAUTOSTART";
/// Environment variable carrying the trace mask to a spawned task.
pub const ENV_TMASK: &str = "PVMTMASK";
/// Size of a `Pvmtmask` (pvmtev.h: a NUL-terminated string of 35 characters).
pub const TMASK_LEN: usize = 36;

/// Data signature of little-endian x86-64 (LINUX64) hosts (defined beside
/// the encodings that report it, [`crate::msg::DSIG_LINUX64`]).
pub use crate::msg::DSIG_LINUX64;
