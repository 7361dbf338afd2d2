//! The MeshesWorkspace controller against the real apiserver and the emulator (issue 7).

use std::time::Duration;

use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use serde_json::json;

use crate::support::{
    SOON, World, condition, eventually, is_ready, status_of, wait_ready, wait_reason,
};

#[tokio::test]
async fn a_workspace_becomes_ready_with_its_id_and_publishable_key() {
    let mut w = World::new("ws-ready").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace("acme-prod", json!({"description": "Production tenant", "credentialsRef": {"name": "meshes-credentials"}})).await;
    let ws = wait_ready(&w, "acme-prod").await;
    let st = ws.status.clone().unwrap();
    let id = st.workspace_id.clone().expect("workspace id in status");
    assert_eq!(
        st.org_id.as_deref(),
        Some(w.emu.credentials().org_id.as_str())
    );
    // The ID is in status only: no annotation write per create (issue 16). The finalizer is
    // the operator's one metadata write (positive control: the operator did patch metadata).
    assert!(
        ws.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("meshes.io/external-id")),
        "{:?}",
        ws.metadata.annotations
    );
    assert!(
        kube::ResourceExt::finalizers(&ws)
            .iter()
            .any(|f| f.starts_with("meshes.io/"))
    );
    let upstream = w.emu.admin().workspaces();
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0]["name"], "acme-prod");
    assert_eq!(upstream[0]["description"], "Production tenant");

    let secret = w
        .secrets()
        .get("acme-prod-publishable-key")
        .await
        .expect("output Secret");
    let data = secret.data.unwrap();
    let key = String::from_utf8(data["MESHES_PUBLISHABLE_KEY"].0.clone()).unwrap();
    assert_eq!(Some(key), w.emu.admin().publishable_key(&id));
    assert_eq!(
        String::from_utf8(data["MESHES_WORKSPACE_ID"].0.clone()).unwrap(),
        id
    );
    assert_eq!(
        String::from_utf8(data["MESHES_EVENTS_URL"].0.clone()).unwrap(),
        "http://127.0.0.1:9/api/v1"
    );
    assert_eq!(
        secret.metadata.owner_references.unwrap()[0].uid,
        ws.metadata.uid.clone().unwrap()
    );

    // Printer columns: Ready, Reason, Meshes ID.
    let env = meshes_testenv::TestEnv::shared().await;
    let out = env
        .kubectl()
        .args(["get", "meshesworkspaces", "-n", &w.ns])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("READY") && table.contains("MESHES ID"),
        "{table}"
    );
    assert!(
        table.contains("True") && table.contains("Available") && table.contains(&id),
        "{table}"
    );
}

#[tokio::test]
async fn a_description_change_updates_upstream_for_the_new_generation() {
    let mut w = World::new("ws-update").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "tenant",
        json!({"description": "v1", "credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let ws = wait_ready(&w, "tenant").await;
    let puts_before = w
        .emu
        .admin()
        .request_count("PUT", "/api/v1/workspaces/{workspace_id}");
    w.patch_workspace("tenant", json!({"spec": {"description": "v2"}}))
        .await;
    let ws2 = eventually(
        "generation 2 ready",
        SOON,
        || async { w.workspaces().get_opt("tenant").await.ok().flatten() },
        |x| x.metadata.generation > ws.metadata.generation && is_ready(x),
    )
    .await;
    let (_, _, _, generation) = condition(&status_of(&ws2), "Ready").unwrap();
    assert_eq!(generation, ws2.metadata.generation);
    assert_eq!(w.emu.admin().workspaces()[0]["description"], "v2");
    assert_eq!(
        w.emu
            .admin()
            .request_count("PUT", "/api/v1/workspaces/{workspace_id}"),
        puts_before + 1
    );
}

#[tokio::test]
async fn drift_is_corrected_in_manage_and_reported_in_observe() {
    let mut w = World::new("ws-drift").await;
    w.start_operator(World::fast_config()).await;
    let resync = json!({"meshes.io/resync-interval": "2s"});
    w.create_workspace_with(
        "managed",
        resync.clone(),
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let managed = wait_ready(&w, "managed").await;
    let managed_id = managed.status.unwrap().workspace_id.unwrap();
    let observed_id = w
        .emu
        .admin()
        .create_workspace_direct(&w.emu.credentials().org_id, "observed");
    w.create_workspace_with(
        "observed",
        resync,
        json!({"credentialsRef": {"name": "meshes-credentials"}, "adopt": {"id": observed_id}, "managementPolicy": "Observe", "description": "wanted"}),
    )
    .await;
    let observed = eventually(
        "observe drift",
        SOON,
        || async { w.workspaces().get_opt("observed").await.ok().flatten() },
        |x| {
            condition(&status_of(x), "Drifted")
                .is_some_and(|(s, r, _, _)| s == "True" && r == "UpstreamChanged")
        },
    )
    .await;
    assert!(
        condition(&status_of(&observed), "Drifted")
            .unwrap()
            .2
            .contains("description")
    );

    let puts = w
        .emu
        .admin()
        .request_count("PUT", "/api/v1/workspaces/{workspace_id}");
    assert!(
        w.emu
            .admin()
            .rename_workspace(&managed_id, "renamed-in-dashboard")
    );
    assert!(
        w.emu
            .admin()
            .rename_workspace(&observed_id, "observed-renamed")
    );
    // Manage: corrected at the next resync (positive control for the Observe sibling).
    eventually(
        "manage corrected",
        SOON,
        || async { Some(w.emu.admin().workspaces()) },
        |all| {
            all.iter()
                .any(|x| x["id"] == managed_id.as_str() && x["name"] == "managed")
        },
    )
    .await;
    // Let a few more resyncs pass: Observe never writes upstream.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all = w.emu.admin().workspaces();
    let obs = all
        .iter()
        .find(|x| x["id"] == observed_id.as_str())
        .unwrap();
    assert_eq!(obs["name"], "observed-renamed");
    assert!(obs["description"].is_null(), "{obs}");
    assert_eq!(
        w.emu
            .admin()
            .request_count("PUT", "/api/v1/workspaces/{workspace_id}"),
        puts + 1,
        "exactly one correcting PUT"
    );
}

#[tokio::test]
async fn a_missing_secret_waits_then_stalls_then_recovers_when_created() {
    let mut w = World::new("ws-secret").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace("late", json!({"credentialsRef": {"name": "late-creds"}}))
        .await;
    wait_reason(&w, "late", "WaitingForSecret").await;
    let stalled = wait_reason(&w, "late", "InvalidCredentials").await;
    let (_, _, msg, _) = condition(&status_of(&stalled), "Stalled").unwrap();
    assert!(msg.contains("late-creds"), "{msg}");
    let c = w.emu.credentials();
    w.put_credentials("late-creds", &c.access_key, &c.secret_key, &c.org_id)
        .await;
    wait_ready(&w, "late").await;
}

#[tokio::test]
async fn a_meshes_outage_keeps_ready_and_flips_synced_then_recovers() {
    let mut w = World::new("ws-outage").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace_with(
        "steady",
        json!({"meshes.io/resync-interval": "1s"}),
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "steady").await;
    let fault = w.emu.admin().add_fault(FaultSpec {
        method: None,
        route: "*".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    let during = eventually(
        "Synced False",
        SOON,
        || async { w.workspaces().get_opt("steady").await.ok().flatten() },
        |x| condition(&status_of(x), "Synced").is_some_and(|(s, _, _, _)| s == "False"),
    )
    .await;
    assert!(
        is_ready(&during),
        "Ready must stay True during an outage: {:#?}",
        during.status
    );
    assert!(w.emu.admin().fault_hits(fault) > 0);
    w.emu.admin().clear_faults();
    eventually(
        "Synced True again",
        SOON,
        || async { w.workspaces().get_opt("steady").await.ok().flatten() },
        |x| {
            condition(&status_of(x), "Synced").is_some_and(|(s, _, _, _)| s == "True")
                && is_ready(x)
        },
    )
    .await;
}

#[tokio::test]
async fn commit_then_drop_on_create_yields_exactly_one_workspace() {
    let mut w = World::new("ws-drop").await;
    let fault = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/workspaces".into(),
        action: FaultAction::CommitThenDrop,
        trigger: Trigger::Next(1),
    });
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "flaky",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let ws = wait_ready(&w, "flaky").await;
    assert_eq!(w.emu.admin().fault_hits(fault), 1);
    let all = w.emu.admin().workspaces();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        ws.status.unwrap().workspace_id.unwrap(),
        all[0]["id"].as_str().unwrap()
    );
    // One POST (its answer dropped), then a list to claim; a second create would be a 409.
    assert_eq!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces"),
        1,
        "claimed, not re-created"
    );
    assert_eq!(
        w.emu
            .admin()
            .counters()
            .statuses
            .get(&409)
            .copied()
            .unwrap_or(0),
        0,
        "no second create"
    );
    assert!(
        w.emu.admin().request_count("GET", "/api/v1/workspaces") >= 1,
        "the claim listed workspaces"
    );
}

#[tokio::test]
async fn an_existing_name_stalls_with_name_conflict_and_adopt_takes_it_over_without_create() {
    let mut w = World::new("ws-conflict").await;
    let existing = w
        .emu
        .admin()
        .create_workspace_direct(&w.emu.credentials().org_id, "Taken Name");
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "taken",
        json!({"name": "taken name", "credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let stalled = wait_reason(&w, "taken", "NameConflict").await;
    let (_, _, msg, _) = condition(&status_of(&stalled), "Stalled").unwrap();
    assert!(
        msg.contains(&existing) && msg.contains("spec.adopt.id"),
        "{msg}"
    );
    // A stall is not retried while its inputs are unchanged: our own status write must not
    // cause another create attempt.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces"),
        1,
        "one refused create only"
    );
    assert_eq!(
        w.emu.admin().workspaces().len(),
        1,
        "nothing taken over or duplicated"
    );

    let posts = w.emu.admin().request_count("POST", "/api/v1/workspaces");
    w.create_workspace(
        "adopter",
        json!({"credentialsRef": {"name": "meshes-credentials"}, "adopt": {"id": existing}}),
    )
    .await;
    let adopted = wait_ready(&w, "adopter").await;
    assert_eq!(
        adopted.status.unwrap().workspace_id.as_deref(),
        Some(existing.as_str())
    );
    assert_eq!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces"),
        posts,
        "no create call"
    );
    assert_eq!(
        w.emu
            .admin()
            .request_count("PUT", "/api/v1/workspaces/{workspace_id}"),
        0,
        "no rename"
    );
    assert_eq!(w.emu.admin().workspaces()[0]["name"], "Taken Name");
}

#[tokio::test]
async fn the_credentials_secret_outlives_the_workspace_that_uses_it() {
    let mut w = World::new("ws-secret-order").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "user",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "user").await;
    let secret = w.secrets().get("meshes-credentials").await.unwrap();
    assert!(
        secret
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"meshes.io/credentials-in-use".to_string())
    );
    w.secrets()
        .delete("meshes-credentials", &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = w.secrets().get_opt("meshes-credentials").await.unwrap();
    assert!(
        held.is_some_and(|s| s.metadata.deletion_timestamp.is_some()),
        "Secret held by the in-use finalizer"
    );
    w.delete_workspace("user").await;
    eventually(
        "workspace gone",
        SOON,
        || async {
            Some(
                w.workspaces()
                    .get_opt("user")
                    .await
                    .ok()
                    .flatten()
                    .is_none(),
            )
        },
        |gone| *gone,
    )
    .await;
    eventually(
        "secret gone",
        SOON,
        || async {
            Some(
                w.secrets()
                    .get_opt("meshes-credentials")
                    .await
                    .ok()
                    .flatten()
                    .is_none(),
            )
        },
        |gone| *gone,
    )
    .await;
    assert!(
        w.secrets()
            .get_opt("user-publishable-key")
            .await
            .unwrap()
            .is_none(),
        "output Secret removed"
    );
}

#[tokio::test]
async fn paused_writes_nothing_after_the_paused_status_while_a_sibling_reconciles() {
    let mut w = World::new("ws-paused").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "frozen",
        json!({"description": "v1", "credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "frozen").await;
    w.patch_workspace(
        "frozen",
        json!({"metadata": {"annotations": {"meshes.io/paused": "true"}}}),
    )
    .await;
    let paused = wait_reason(&w, "frozen", "Paused").await;
    let calls = w.emu.admin().total_requests();
    w.patch_workspace("frozen", json!({"spec": {"description": "v2"}}))
        .await;
    // Positive control: a sibling created now is reconciled by the same operator.
    w.create_workspace(
        "sibling",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "sibling").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = w.workspaces().get("frozen").await.unwrap();
    assert_eq!(
        still.status, paused.status,
        "no status write after the Paused one"
    );
    let upstream = w.emu.admin().workspaces();
    let frozen = upstream.iter().find(|x| x["name"] == "frozen").unwrap();
    assert_eq!(
        frozen["description"], "v1",
        "no upstream write while paused"
    );
    let sibling_calls = w.emu.admin().request_count("POST", "/api/v1/workspaces");
    assert_eq!(sibling_calls, 2, "the sibling was created");
    assert!(
        w.emu.admin().total_requests() > calls,
        "the operator was live"
    );
    // Unpausing resumes: the pending change goes out.
    w.patch_workspace(
        "frozen",
        json!({"metadata": {"annotations": {"meshes.io/paused": null}}}),
    )
    .await;
    eventually(
        "description v2 upstream",
        SOON,
        || async { Some(w.emu.admin().workspaces()) },
        |all| {
            all.iter()
                .any(|x| x["name"] == "frozen" && x["description"] == "v2")
        },
    )
    .await;
    wait_ready(&w, "frozen").await;
}

#[tokio::test]
async fn rotated_credentials_are_used_and_the_object_stays_ready() {
    let mut w = World::new("ws-rotate").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace_with(
        "rotating",
        json!({"meshes.io/resync-interval": "1s"}),
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "rotating").await;
    let old = w.emu.credentials();
    assert!(w.emu.admin().key_count(&old.access_key) > 0);
    let new = w.emu.admin().add_key(&old.org_id);
    w.put_credentials(
        "meshes-credentials",
        &new.access_key,
        &new.secret_key,
        &new.org_id,
    )
    .await;
    w.emu.admin().revoke_key(&old.access_key);
    let old_calls = w.emu.admin().key_count(&old.access_key);
    eventually(
        "calls with the new key",
        SOON,
        || async { Some(w.emu.admin().key_count(&new.access_key)) },
        |n| *n >= 2,
    )
    .await;
    for _ in 0..10 {
        let ws = w.workspaces().get("rotating").await.unwrap();
        assert!(
            is_ready(&ws),
            "must stay Ready across rotation: {:#?}",
            ws.status
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // At most one call may have been in flight with the old key when it was revoked.
    assert!(w.emu.admin().key_count(&old.access_key) <= old_calls + 1);
}

#[tokio::test]
async fn reconcile_requested_at_forces_an_immediate_observation() {
    let mut w = World::new("ws-request").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "poked",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let ws = wait_ready(&w, "poked").await;
    let id = ws.status.unwrap().workspace_id.unwrap();
    assert!(w.emu.admin().rename_workspace(&id, "changed-upstream"));
    let gets = w
        .emu
        .admin()
        .request_count("GET", "/api/v1/workspaces/{workspace_id}");
    w.patch_workspace(
        "poked",
        json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": "now-1"}}}),
    )
    .await;
    eventually(
        "drift corrected on request",
        SOON,
        || async { Some(w.emu.admin().workspaces()) },
        |all| all[0]["name"] == "poked",
    )
    .await;
    assert!(
        w.emu
            .admin()
            .request_count("GET", "/api/v1/workspaces/{workspace_id}")
            > gets
    );
}

/// The operator is SIGKILLed after Meshes committed the create but before the answer arrived
/// (latency injected after the commit); the restarted operator claims it: one workspace, Ready.
#[tokio::test]
async fn a_sigkill_between_create_and_status_write_leaves_exactly_one_workspace() {
    let w = World::new("ws-sigkill").await;
    let fault = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/workspaces".into(),
        action: FaultAction::Latency {
            delay: Duration::from_secs(30),
            after_commit: true,
        },
        trigger: Trigger::Next(1),
    });
    let env = meshes_testenv::TestEnv::shared().await;
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .args([
                "run",
                "--api-url",
                &w.emu.base_url(),
                "--watch-namespace",
                &w.ns,
                "--secret-grace",
                "3s",
            ])
            .args(crate::support::FREE_PORTS)
            .env("KUBECONFIG", env.admin_kubeconfig())
            .env("MESHES_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start operator")
    };
    let mut op = start();
    w.create_workspace(
        "crashy",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    eventually(
        "create committed upstream",
        SOON,
        || async { Some(w.emu.admin().workspaces().len()) },
        |n| *n == 1,
    )
    .await;
    assert_eq!(w.emu.admin().fault_hits(fault), 1);
    op.kill().unwrap();
    op.wait().unwrap();
    let crashed = w.workspaces().get("crashy").await.unwrap();
    let st = crashed.status.clone().unwrap();
    assert!(
        st.pending_create.is_some() && st.workspace_id.is_none(),
        "killed mid-create: {st:#?}"
    );

    let mut op = start();
    let ws = wait_ready(&w, "crashy").await;
    op.kill().unwrap();
    op.wait().unwrap();
    let all = w.emu.admin().workspaces();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        ws.status.unwrap().workspace_id.as_deref(),
        all[0]["id"].as_str()
    );
    // The interrupted POST may or may not have been counted (its client vanished mid-answer);
    // a second create would be refused with 409 because the name exists.
    assert!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces") <= 1,
        "claimed, not re-created"
    );
    assert_eq!(
        w.emu
            .admin()
            .counters()
            .statuses
            .get(&409)
            .copied()
            .unwrap_or(0),
        0,
        "no second create"
    );
    assert!(
        w.emu.admin().request_count("GET", "/api/v1/workspaces") >= 1,
        "the claim listed workspaces"
    );
}

#[tokio::test]
async fn credentials_of_another_org_stall_instead_of_recreating() {
    let mut w = World::new("ws-org").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "bound",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    wait_ready(&w, "bound").await;
    let other = w
        .emu
        .admin()
        .add_key("7c1e2b9a-3f4d-4e5a-8b6c-1d2e3f4a5b6c");
    w.put_credentials(
        "meshes-credentials",
        &other.access_key,
        &other.secret_key,
        &other.org_id,
    )
    .await;
    let stalled = wait_reason(&w, "bound", "CredentialsOrgChanged").await;
    let (_, _, msg, _) = condition(&status_of(&stalled), "Stalled").unwrap();
    assert!(msg.contains(&other.org_id), "{msg}");
    assert_eq!(
        w.emu.admin().workspaces().len(),
        1,
        "nothing recreated in the other org"
    );
    assert_eq!(
        w.emu.admin().key_count(&other.access_key),
        0,
        "no call made with the other org's key"
    );
}

#[tokio::test]
async fn a_second_cr_for_the_same_workspace_is_already_managed() {
    let mut w = World::new("ws-owner").await;
    let id = w
        .emu
        .admin()
        .create_workspace_direct(&w.emu.credentials().org_id, "shared");
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "first",
        json!({"credentialsRef": {"name": "meshes-credentials"}, "adopt": {"id": id}}),
    )
    .await;
    wait_ready(&w, "first").await;
    w.create_workspace(
        "second",
        json!({"credentialsRef": {"name": "meshes-credentials"}, "adopt": {"id": id}}),
    )
    .await;
    let second = wait_reason(&w, "second", "AlreadyManaged").await;
    let (_, _, msg, _) = condition(&status_of(&second), "Stalled").unwrap();
    assert!(msg.contains(&format!("{}/first", w.ns)), "{msg}");
    assert!(
        second.status.unwrap().workspace_id.is_none(),
        "the loser records no binding"
    );
    // The owner keeps it across a restart of the operator.
    w.stop_operator();
    w.start_operator(World::fast_config()).await;
    w.patch_workspace(
        "first",
        json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": "after-restart"}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = wait_ready(&w, "first").await;
    assert_eq!(
        first.status.unwrap().workspace_id.as_deref(),
        Some(id.as_str())
    );
    wait_reason(&w, "second", "AlreadyManaged").await;
}

/// A restored object (Velero, export/apply) carries the external-id annotation but no status:
/// it binds again to the same workspace after checking that it exists, without a create.
#[tokio::test]
async fn a_restored_object_rebinds_by_its_external_id() {
    let mut w = World::new("ws-restore").await;
    w.start_operator(World::fast_config()).await;
    w.create_workspace(
        "restored",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let first = wait_ready(&w, "restored").await;
    let id = first.status.unwrap().workspace_id.unwrap();
    w.delete_workspace("restored").await;
    eventually(
        "released",
        SOON,
        || async {
            Some(
                w.workspaces()
                    .get_opt("restored")
                    .await
                    .ok()
                    .flatten()
                    .is_none(),
            )
        },
        |gone| *gone,
    )
    .await;
    let posts = w.emu.admin().request_count("POST", "/api/v1/workspaces");
    w.create_workspace_with(
        "restored",
        json!({"meshes.io/external-id": id}),
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    let again = wait_ready(&w, "restored").await;
    assert_eq!(
        again.status.unwrap().workspace_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces"),
        posts,
        "no create"
    );
    assert_eq!(w.emu.admin().workspaces().len(), 1);
    assert!(
        w.events()
            .await
            .iter()
            .any(|e| e.starts_with("Adopted:") && e.contains("external-id"))
    );
}
