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

    /// Where this record is stored.
    pub fn path(&self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}-{}.json", self.owner_pid, self.owner_start))
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
