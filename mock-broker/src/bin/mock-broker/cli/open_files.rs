//! The process's open-files limit (RLIMIT_NOFILE): every connection costs a file descriptor,
//! and many systems start processes with a soft limit of 1024 under a far higher hard limit.
//! The broker raises its soft limit to the hard one at start, as servers that hold thousands
//! of connections do, so a fleet of simulated devices is not cut off at the thousandth; at
//! the hard limit, accepting fails and is reported (`accept_failed`), and serving goes on.

use std::io;

/// The soft limit before and after the raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised {
    pub before: u64,
    pub now: u64,
}

/// Raises the soft open-files limit to the hard limit.
pub fn raise_to_hard_limit() -> io::Result<Raised> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live, aligned value.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads one `rlimit` through a pointer to a live, aligned value.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(Raised { before, now: limit.rlim_cur })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let raised = raise_to_hard_limit().expect("the limit can be read and raised");
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!((raised.now, limit.rlim_cur), (limit.rlim_max, limit.rlim_max));
        assert!(raised.before <= raised.now);
    }
}
