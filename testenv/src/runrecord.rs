//! Run records (pidfiles): every process the harness starts is written down under the cache's
//! `run/` directory together with its owner. A later run reaps only the children of owners that
//! are dead, identified by pid *and* start time, never by process name, so a control plane that a
//! human started (whose owner is alive) is left alone.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::{procfs, sys};

/// One started process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChildRecord {
    /// Process id.
    pub pid: u32,
    /// Start time from `/proc/<pid>/stat`, guarding against pid reuse.
    pub start: u64,
    /// What it is (for humans reading the file).
    pub name: String,
}

/// The record of one harness owner (a test binary or the human command).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunRecord {
    /// The owning process.
    pub owner_pid: u32,
    /// Its start time.
    pub owner_start: u64,
    /// The owner's scratch directory, removed when the record is reaped.
    pub work_dir: PathBuf,
    /// Children started so far.
    pub children: Vec<ChildRecord>,
}

impl RunRecord {
    /// A record for the current process.
    pub fn for_current_process(work_dir: PathBuf) -> anyhow::Result<Self> {
        let owner_pid = std::process::id();
        let owner_start =
            procfs::start_time(owner_pid).context("reading own start time from /proc")?;
        Ok(Self {
            owner_pid,
            owner_start,
            work_dir,
            children: Vec::new(),
        })
    }

    /// Where this record is stored: one file per control plane (an owner may run several,
    /// such as the shared one and a private one in one test binary), named after the owner
    /// and the control plane's scratch directory.
    pub fn path(&self, run_dir: &Path) -> PathBuf {
        let dir = self
            .work_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run_dir.join(format!(
            "{}-{}-{dir}.json",
            self.owner_pid, self.owner_start
        ))
    }

    /// Writes the record atomically (write to a temporary file, then rename).
    pub fn save(&self, run_dir: &Path) -> anyhow::Result<()> {
        let path = self.path(run_dir);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// Removes the record file (the owner is shutting down cleanly).
    pub fn remove(&self, run_dir: &Path) {
        let _ = fs::remove_file(self.path(run_dir));
    }

    fn owner_alive(&self) -> bool {
        procfs::is_same_process(self.owner_pid, self.owner_start)
    }
}

/// What a reap pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Records whose owner was dead and which were cleaned up.
    pub records_reaped: usize,
    /// Processes that were still running and were killed.
    pub processes_killed: Vec<u32>,
    /// Records left alone because their owner is alive.
    pub records_alive: usize,
}

/// Kills leftovers of dead owners recorded in `run_dir` and removes their records and scratch
/// directories. Never touches a process that is not in a record, nor one whose owner lives.
pub fn reap_stale(run_dir: &Path) -> ReapReport {
    let mut report = ReapReport::default();
    let Ok(entries) = fs::read_dir(run_dir) else {
        return report;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else { continue };
        let Ok(record) = serde_json::from_slice::<RunRecord>(&bytes) else {
            let _ = fs::remove_file(&path); // unreadable: a torn write of a dead owner
            continue;
        };
        if record.owner_alive() {
            report.records_alive += 1;
            continue;
        }
        for child in &record.children {
            if procfs::is_same_process(child.pid, child.start)
                && sys::signal(child.pid, sys::SIGKILL)
            {
                report.processes_killed.push(child.pid);
            }
        }
        if record.work_dir.starts_with(std::env::temp_dir()) {
            let _ = fs::remove_dir_all(&record.work_dir);
        }
        let _ = fs::remove_file(&path);
        report.records_reaped += 1;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two control planes of one owner (the shared one and a private one in a test binary)
    /// keep separate records: saved concurrently, neither save fails nor hides the other's
    /// children, and stopping one leaves the other's record.
    #[test]
    fn control_planes_of_one_owner_keep_separate_records() {
        let run_dir = std::env::temp_dir().join(format!("meshes-runrecord-{}", std::process::id()));
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(&run_dir).unwrap();
        let record = |n: u32| {
            let mut r = RunRecord::for_current_process(
                std::env::temp_dir().join(format!("meshes-testenv-{}-{n}", std::process::id())),
            )
            .unwrap();
            r.children.push(ChildRecord {
                pid: n,
                start: 0,
                name: format!("child {n}"),
            });
            r
        };
        let (a, b) = (record(1), record(2));
        assert_ne!(a.path(&run_dir), b.path(&run_dir));
        std::thread::scope(|s| {
            for r in [&a, &b] {
                let run_dir = &run_dir;
                s.spawn(move || {
                    for _ in 0..200 {
                        r.save(run_dir).unwrap();
                    }
                });
            }
        });
        a.remove(&run_dir);
        let left: RunRecord = serde_json::from_slice(&fs::read(b.path(&run_dir)).unwrap()).unwrap();
        assert_eq!(left, b);
        fs::remove_dir_all(&run_dir).unwrap();
    }
}
