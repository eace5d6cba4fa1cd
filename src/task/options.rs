//! The options of `pvm_setopt`/`pvm_getopt`, with PVM 3.4's defaults and
//! their validation.

use crate::{Error, Result};

/// Option codes (values of pvm3.h).
mod code {
    pub const ROUTE: i32 = 1;
    pub const DEBUG_MASK: i32 = 2;
    pub const AUTO_ERR: i32 = 3;
    pub const OUTPUT_TID: i32 = 4;
    pub const OUTPUT_CODE: i32 = 5;
    pub const TRACE_TID: i32 = 6;
    pub const TRACE_CODE: i32 = 7;
    pub const TRACE_BUFFER: i32 = 8;
    pub const TRACE_OPTIONS: i32 = 9;
    pub const FRAG_SIZE: i32 = 10;
    pub const RESV_TIDS: i32 = 11;
    pub const SELF_OUTPUT_TID: i32 = 12;
    pub const SELF_OUTPUT_CODE: i32 = 13;
    pub const SELF_TRACE_TID: i32 = 14;
    pub const SELF_TRACE_CODE: i32 = 15;
    pub const SELF_TRACE_BUFFER: i32 = 16;
    pub const SELF_TRACE_OPTIONS: i32 = 17;
    pub const SHOW_TIDS: i32 = 18;
    pub const POLL_TYPE: i32 = 19;
    pub const POLL_TIME: i32 = 20;
    pub const OUTPUT_CONTEXT: i32 = 21;
    pub const TRACE_CONTEXT: i32 = 22;
    pub const SELF_OUTPUT_CONTEXT: i32 = 23;
    pub const SELF_TRACE_CONTEXT: i32 = 24;
    pub const NO_RESET: i32 = 25;
}

/// Route values.
pub const DONT_ROUTE: i32 = 1;
/// The default route: allow direct links, do not request them.
pub const ALLOW_DIRECT: i32 = 2;
/// Request direct task-to-task links.
pub const ROUTE_DIRECT: i32 = 3;

/// Smallest and largest PvmFragSize accepted. Frames are never fragmented
/// in pvm6; the value is kept for programs that read it back.
const MIN_FRAG: i32 = 128;
const MAX_FRAG: i32 = 1 << 20;

/// Every settable option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub route: i32,
    pub debug_mask: i32,
    pub auto_err: i32,
    pub output_tid: i32,
    pub output_code: i32,
    pub output_ctx: i32,
    pub trace_tid: i32,
    pub trace_code: i32,
    pub trace_ctx: i32,
    pub trace_buffer: i32,
    pub trace_options: i32,
    pub frag_size: i32,
    pub resv_tids: i32,
    pub self_output_tid: i32,
    pub self_output_code: i32,
    pub self_output_ctx: i32,
    pub self_trace_tid: i32,
    pub self_trace_code: i32,
    pub self_trace_ctx: i32,
    pub self_trace_buffer: i32,
    pub self_trace_options: i32,
    pub show_tids: i32,
    pub poll_type: i32,
    pub poll_time: i32,
    pub no_reset: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            route: ALLOW_DIRECT,
            debug_mask: 0,
            auto_err: 1,
            output_tid: 0,
            output_code: 0,
            output_ctx: 0,
            trace_tid: 0,
            trace_code: 0,
            trace_ctx: 0,
            trace_buffer: 0,
            trace_options: 0,
            frag_size: 4080,
            resv_tids: 0,
            self_output_tid: 0,
            self_output_code: 0,
            self_output_ctx: 0,
            self_trace_tid: 0,
            self_trace_code: 0,
            self_trace_ctx: 0,
            self_trace_buffer: 0,
            self_trace_options: 0,
            show_tids: 1,
            poll_type: 1,
            poll_time: 0,
            no_reset: 0,
        }
    }
}

impl Options {
    fn slot(&mut self, what: i32) -> Result<&mut i32> {
        use code::*;
        Ok(match what {
            ROUTE => &mut self.route,
            DEBUG_MASK => &mut self.debug_mask,
            AUTO_ERR => &mut self.auto_err,
            OUTPUT_TID => &mut self.output_tid,
            OUTPUT_CODE => &mut self.output_code,
            TRACE_TID => &mut self.trace_tid,
            TRACE_CODE => &mut self.trace_code,
            TRACE_BUFFER => &mut self.trace_buffer,
            TRACE_OPTIONS => &mut self.trace_options,
            FRAG_SIZE => &mut self.frag_size,
            RESV_TIDS => &mut self.resv_tids,
            SELF_OUTPUT_TID => &mut self.self_output_tid,
            SELF_OUTPUT_CODE => &mut self.self_output_code,
            SELF_TRACE_TID => &mut self.self_trace_tid,
            SELF_TRACE_CODE => &mut self.self_trace_code,
            SELF_TRACE_BUFFER => &mut self.self_trace_buffer,
            SELF_TRACE_OPTIONS => &mut self.self_trace_options,
            SHOW_TIDS => &mut self.show_tids,
            POLL_TYPE => &mut self.poll_type,
            POLL_TIME => &mut self.poll_time,
            OUTPUT_CONTEXT => &mut self.output_ctx,
            TRACE_CONTEXT => &mut self.trace_ctx,
            SELF_OUTPUT_CONTEXT => &mut self.self_output_ctx,
            SELF_TRACE_CONTEXT => &mut self.self_trace_ctx,
            NO_RESET => &mut self.no_reset,
            _ => return Err(Error::BadParam),
        })
    }

    /// The value of option `what` (pvm_getopt). The shared-memory wait
    /// options do not exist on this build (PvmBadParam), as in PVM 3.4.6 on
    /// Linux.
    pub fn get(&mut self, what: i32) -> Result<i32> {
        if what == code::POLL_TYPE || what == code::POLL_TIME {
            return Err(Error::BadParam);
        }
        self.slot(what).map(|v| *v)
    }

    /// Sets option `what` to `val` after checking it; returns the previous
    /// value (pvm_setopt). Setting a self-output or self-trace option also
    /// sets the matching children's option, as the man page says.
    pub fn set(&mut self, what: i32, val: i32) -> Result<i32> {
        use code::*;
        // PVM 3.4.6 answers PvmNotImpl for these; programs may rely on it.
        if matches!(
            what,
            POLL_TYPE | POLL_TIME | SELF_OUTPUT_CONTEXT | SELF_TRACE_CONTEXT
        ) {
            return Err(Error::NotImpl);
        }
        let valid = match what {
            ROUTE => (DONT_ROUTE..=ROUTE_DIRECT).contains(&val),
            AUTO_ERR => (0..=3).contains(&val),
            TRACE_OPTIONS | SELF_TRACE_OPTIONS => (0..=3).contains(&val),
            FRAG_SIZE => (MIN_FRAG..=MAX_FRAG).contains(&val),
            POLL_TYPE => val == 1 || val == 2,
            OUTPUT_TID | TRACE_TID => val >= 0,
            // PVM 3.4.6 takes any value for the task's own destinations;
            // its console sets -1 (no destination, like 0).
            SELF_OUTPUT_TID | SELF_TRACE_TID => true,
            TRACE_BUFFER | SELF_TRACE_BUFFER | POLL_TIME => val >= 0,
            _ => true,
        };
        if !valid {
            return Err(Error::BadParam);
        }
        let old = std::mem::replace(self.slot(what)?, val);
        match what {
            SELF_OUTPUT_TID => self.output_tid = val,
            SELF_OUTPUT_CODE => self.output_code = val,
            SELF_OUTPUT_CONTEXT => self.output_ctx = val,
            SELF_TRACE_TID => self.trace_tid = val,
            SELF_TRACE_CODE => self.trace_code = val,
            SELF_TRACE_CONTEXT => self.trace_ctx = val,
            _ => {}
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_set_returns_previous() {
        let mut o = Options::default();
        assert_eq!(o.get(code::ROUTE), Ok(ALLOW_DIRECT));
        assert_eq!(o.set(code::ROUTE, ROUTE_DIRECT), Ok(ALLOW_DIRECT));
        assert_eq!(o.get(code::ROUTE), Ok(ROUTE_DIRECT));
        assert_eq!(o.set(code::ROUTE, 9), Err(Error::BadParam));
        assert_eq!(o.get(99), Err(Error::BadParam));
        assert_eq!(o.get(0), Err(Error::BadParam));
        o.set(code::SELF_OUTPUT_TID, 0x40003).unwrap();
        assert_eq!(o.get(code::OUTPUT_TID), Ok(0x40003));
    }
}
