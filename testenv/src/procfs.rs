//! Process identity from `/proc`: a pid plus its start time, so a recycled pid is never mistaken
//! for one of ours.

use std::fs;

/// The start time (clock ticks since boot) of `pid`, or `None` when it is not running.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')'
    // are fixed. starttime is field 22, i.e. the 20th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let state = rest.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None; // a zombie is already dead; only its parent's wait is missing
    }
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True when `pid` is running and started at `start`.
pub fn is_same_process(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_start_time_and_a_bogus_one_does_not() {
        let me = std::process::id();
        let start = start_time(me).expect("own start time");
        assert!(is_same_process(me, start));
        assert!(!is_same_process(me, start + 1));
        assert_eq!(start_time(u32::MAX - 1), None);
    }
}
