//! Item 3: the emulator restarted with its state file (`--state`, `EmulatorConfig::state_path`)
//! in the middle of convergence, on the same address, after two creates committed with their
//! answers dropped: everything converges and upstream holds exactly the expected objects (no
//! duplicate from a create whose answer the restart swallowed).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use meshes_emulator::{Emulator, EmulatorConfig, FaultAction, FaultSpec, Trigger};
use meshes_testenv::TestEnv;

use super::invariants;
use super::process::Fleet;
use super::tenants;
use crate::support::World;

#[tokio::test]
async fn an_emulator_restart_with_its_state_mid_convergence_converges_without_duplicates() {
    let started = Instant::now();
    let dir =
        std::env::temp_dir().join(format!("meshes-reliability-state-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let config = EmulatorConfig {
        state_path: Some(state.clone()),
        ..EmulatorConfig::default()
    };
    let mut w = World::with_emulator("rel-restart", config.clone()).await;
    let addr = w.emu.local_addr();
    let n = super::tenants();
    // Two creates committed and their answers dropped before the restart too.
    let drop = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/*".into(),
        action: FaultAction::CommitThenDrop,
        trigger: Trigger::Next(2),
    });
    let env = TestEnv::shared().await;
    let mut fleet = Fleet::new(
        "restart",
        [
            "--api-url",
            &w.emu.base_url(),
            "--watch-namespace",
            &w.ns,
            "--secret-grace=3s",
            "--min-resync-interval=1s",
        ]
        .map(String::from)
        .to_vec(),
    );
    fleet.start("op", env.admin_kubeconfig());
    tenants::create(&w.client, &w.ns, 0..n, "meshes-credentials", false).await;
    // Mid-convergence: a third of the workspaces exist upstream, not everything is Ready.
    let deadline = Instant::now() + super::ceiling(60, 2000);
    while w.emu.admin().workspaces().len() < n.div_ceil(3) {
        assert!(Instant::now() < deadline, "convergence never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending_at_restart = tenants::not_ready(&w.client, &w.ns).await.len();
    let before = w.emu.admin().counters();
    let drop_hits = w.emu.admin().fault_hits(drop);
    assert_eq!(drop_hits, 2, "the commit-then-drop faults fired");
    // Stop (the last snapshot is written), stay down a moment, start again from the file.
    let placeholder = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let old = std::mem::replace(&mut w.emu, placeholder);
    old.shutdown().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = Emulator::start(EmulatorConfig {
        listen: addr,
        ..config
    })
    .await
    .expect("emulator restarts on the same address from its state file");
    std::mem::replace(&mut w.emu, restarted).shutdown().await;
    let converge = tenants::wait_all_ready(
        &w.client,
        std::slice::from_ref(&w.ns),
        n * 4,
        super::ceiling(120, 3000),
    )
    .await;
    let admin = w.emu.admin();
    // Positive controls: the restart happened mid-convergence, and the restarted emulator did
    // the rest of the work.
    assert!(pending_at_restart > 0, "restarted after convergence");
    assert!(
        admin.total_requests() > 0,
        "the restarted emulator was used"
    );
    let counts = invariants::check(
        &w.client,
        std::slice::from_ref(&w.ns),
        &admin,
        &BTreeSet::new(),
    )
    .await;
    let (crashes, panics) = fleet.finish().await;
    let mut fields = vec![("tenants", n.to_string())];
    fields.extend(counts.fields());
    fields.extend([
        ("pending_at_restart", pending_at_restart.to_string()),
        (
            "fault_hits",
            format!("commit-then-drop:{drop_hits},restart:1"),
        ),
        ("requests_before_restart", before.total.to_string()),
        ("requests_after_restart", admin.total_requests().to_string()),
        ("crashes", crashes.len().to_string()),
        ("panics", panics.to_string()),
        (
            "converge_after_restart_s",
            format!("{:.1}", converge.as_secs_f64()),
        ),
        ("total_s", format!("{:.1}", started.elapsed().as_secs_f64())),
    ]);
    super::report("emulator-restart", &fields);
    counts.assert_clean("emulator restart");
    assert!(
        crashes.is_empty(),
        "operator exits not caused by the suite: {crashes:?}"
    );
    assert_eq!(panics, 0, "panics in the operator logs");
    fleet.remove_logs();
    let _ = std::fs::remove_dir_all(&dir);
}
