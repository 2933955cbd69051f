//! Findings of a component's `--check`, and the host checks both ends of the link share.
//!
//! A library's `check` returns findings; the binary prints them and sets the exit code.

use std::fmt;

/// How a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, but should be changed (the text says how).
    Warn,
    /// Will not work.
    Fail,
}

/// One line of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it stands.
    pub level: Level,
    /// What was checked and what to change.
    pub text: String,
}

impl Finding {
    /// Fine.
    pub fn ok(text: impl Into<String>) -> Finding {
        Finding {
            level: Level::Ok,
            text: text.into(),
        }
    }
    /// A warning.
    pub fn warn(text: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warn,
            text: text.into(),
        }
    }
    /// A failure.
    pub fn fail(text: impl Into<String>) -> Finding {
        Finding {
            level: Level::Fail,
            text: text.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok   ",
            Level::Warn => "warn ",
            Level::Fail => "FAIL ",
        };
        write!(f, "{tag} {}", self.text)
    }
}

/// Reads a sysctl under /proc/sys.
pub fn sysctl(name: &str) -> Option<u64> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Compares a granted socket buffer with the one asked for and says which sysctl to raise.
pub fn buffer(which: &str, granted: usize, wanted: usize, sysctl_name: &str) -> Finding {
    // Linux reports twice the size it was given (bookkeeping overhead).
    if granted >= wanted {
        Finding::ok(format!("UDP {which} buffer {granted} bytes"))
    } else {
        let max = sysctl(sysctl_name).map_or("unknown".to_string(), |v| v.to_string());
        Finding::warn(format!(
            "UDP {which} buffer is {granted} bytes, {wanted} asked for ({sysctl_name} = {max}); \
             at high link rates datagrams will be dropped in the kernel. As root: \
             sysctl -w {sysctl_name}={wanted}"
        ))
    }
}
