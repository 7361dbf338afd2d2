//! Spawning children that die with the harness. `PR_SET_PDEATHSIG` fires when the *thread* that
//! forked the child exits, and test threads come and go, so every child is forked by one
//! dedicated thread that lives as long as the process.

use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, anyhow};

use crate::sys;

type Request = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> anyhow::Result<&'static Mutex<mpsc::Sender<Request>>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    if let Some(s) = SPAWNER.get() {
        return Ok(s);
    }
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("testenv-spawner".into())
        .spawn(move || {
            for (mut cmd, reply) in rx {
                sys::die_with_parent(&mut cmd);
                let _ = reply.send(cmd.spawn());
            }
            // The channel lives in a static, so this loop never ends while the process runs.
            loop {
                std::thread::park();
            }
        })
        .context("starting the spawner thread")?;
    Ok(SPAWNER.get_or_init(|| Mutex::new(tx)))
}

/// Spawns `cmd` from the long-lived spawner thread with a parent-death signal.
pub fn spawn(cmd: Command) -> anyhow::Result<Child> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()?
        .lock()
        .map_err(|_| anyhow!("spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| anyhow!("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| anyhow!("spawner thread dropped the request"))?
        .with_context(|| format!("spawning {program}"))
}
