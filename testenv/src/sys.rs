//! The few libc calls the harness needs (parent-death signal, signalling by pid). All `unsafe`
//! in the crate is confined here, each call with its justification.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Arranges for the child spawned by `cmd` to receive SIGKILL when the spawning *thread* dies,
/// and to exit at once if the parent is already gone when it starts.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe functions
    // (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends `signal` to `pid`. Returns false when the process does not exist.
pub fn signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false; // never signal a process group or every process
    }
    // SAFETY: kill has no memory-safety preconditions; pid is a positive single process id.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// SIGKILL, re-exported so callers need no libc dependency.
pub const SIGKILL: i32 = libc::SIGKILL;
/// SIGTERM, re-exported so callers need no libc dependency.
pub const SIGTERM: i32 = libc::SIGTERM;
/// SIGSTOP (pause a process), re-exported so callers need no libc dependency.
pub const SIGSTOP: i32 = libc::SIGSTOP;
/// SIGCONT (resume a paused process), re-exported so callers need no libc dependency.
pub const SIGCONT: i32 = libc::SIGCONT;
