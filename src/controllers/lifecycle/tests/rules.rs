//! `MeshesRule` through the lifecycle: creates, claims, replaces, deletes and their crash points.

use super::*;

fn rule_inputs(r: &MeshesRule) -> RuleInputs {
    let want = decide::desired(&r.spec, "w1", "c1");
    RuleInputs {
        parent: Parent {
            workspace_id: "w1".into(),
            connection_id: Some("c1".into()),
            connection_type: None,
            credentials: resolved().secret,
        },
        resolved: resolved(),
        hash: decide::hash(&want),
        want,
        integration: None,
    }
}

fn rule(spec: Value) -> MeshesRule {
    serde_json::from_value(json!({
        "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
        "metadata": {"name": "r", "namespace": "ns", "uid": "u-rule", "generation": 1, "resourceVersion": "1"},
        "spec": spec
    }))
    .unwrap()
}

fn signup() -> Value {
    json!({"connectionRef": {"name": "hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}})
}

fn rule_sim(dedup: Dedup, spec: Value) -> Sim<MeshesRule> {
    let api = Arc::new(MemApi::new(dedup));
    Sim {
        ctx: context(api.clone()),
        api,
        host: Recorder::new(),
        obj: rule(spec),
        inputs: rule_inputs,
    }
}

fn rule_id(sim: &Sim<MeshesRule>) -> Option<String> {
    sim.obj.status.as_ref().and_then(|s| s.rule_id.clone())
}

fn edit(sim: &mut Sim<MeshesRule>, spec: Value) {
    sim.obj.spec = serde_json::from_value(spec).unwrap();
    sim.obj.metadata.generation = sim.obj.metadata.generation.map(|g| g + 1);
}

#[tokio::test]
async fn a_create_records_the_rule_once() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.count("POST rule"), 1);
    let st = sim.obj.status.clone().unwrap();
    assert_eq!(st.rule_id.as_deref(), Some(sim.api.rules()[0].id.as_str()));
    assert!(st.pending_create.is_none() && st.previous_rule_id.is_none());
    // The pending create was persisted before the POST.
    assert!(
        sim.host.persisted.lock().unwrap()[0]
            .pending_create
            .is_some()
    );
    // A second pass of the same process costs no Meshes call (positive control: it ran Ready).
    let calls = sim.api.log().len();
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.log().len(), calls);
}

/// Issue 16 (writes per custom resource): a plain create writes the pending create and the
/// Ready status and publishes no Event; the ID lives in status, not in an annotation. A create
/// claimed after its response was lost still says so in a `Created` Event (the positive control:
/// the recorder does record Events).
#[tokio::test]
async fn a_plain_create_publishes_no_event_but_a_claimed_one_does() {
    let mut plain = rule_sim(Dedup::Tuple, signup());
    assert!(ready(&plain.pass().await));
    assert!(rule_id(&plain).is_some());
    assert!(
        plain.host.reasons().is_empty(),
        "{:?}",
        plain.host.reasons()
    );

    let mut lost = rule_sim(Dedup::None, signup());
    lost.api.script(Op::CreateRule, Fault::CommitThenDrop);
    assert!(!ready(&lost.pass().await));
    assert!(ready(&lost.pass().await));
    assert_eq!(lost.host.reasons(), vec![reasons::CREATED.to_string()]);
}

/// Item e: a 2xx whose body cannot be decoded is an unknown outcome, claimed, never repeated.
#[tokio::test]
async fn an_undecodable_2xx_is_claimed_not_created_again() {
    for fault in [Fault::Undecodable, Fault::CommitThenDrop] {
        let mut sim = rule_sim(Dedup::None, signup());
        sim.api.script(Op::CreateRule, fault.clone());
        let first = sim.pass().await;
        assert!(!ready(&first), "{fault:?}");
        assert!(
            sim.obj.status.as_ref().unwrap().pending_create.is_some(),
            "{fault:?}: pending kept"
        );
        assert!(ready(&sim.pass().await), "{fault:?}");
        assert_eq!(
            sim.api.count("POST rule"),
            1,
            "{fault:?}: {:?}",
            sim.api.log()
        );
        assert_eq!(sim.api.rules().len(), 1, "{fault:?}");
        assert_eq!(
            rule_id(&sim).as_deref(),
            Some(sim.api.rules()[0].id.as_str())
        );
        assert!(sim.host.reasons().contains(&reasons::CREATED.to_string()));
    }
}

/// Item f: one Idempotency-Key per pending create, kept across its retries.
#[tokio::test]
async fn a_retried_create_keeps_its_idempotency_key() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    sim.api.script(Op::CreateRule, Fault::Unavailable);
    assert!(!ready(&sim.pass().await));
    assert!(ready(&sim.pass().await));
    let keys = sim.api.keys();
    assert_eq!(keys.len(), 2, "{:?}", sim.api.log());
    assert_eq!(keys[0], keys[1]);
    assert!(keys[0].starts_with("u-rule-"));
    assert_eq!(sim.api.rules().len(), 1);
}

/// Crash points of a create: after the pending write (before the POST), after the commit (the
/// answer lost), after the answer (before the final status write). Each ends with one rule.
#[tokio::test]
async fn every_crash_point_of_a_create_ends_with_exactly_one_rule() {
    // Before the POST.
    let mut sim = rule_sim(Dedup::None, signup());
    sim.crash_at_persist(1);
    sim.pass().await;
    assert_eq!(sim.api.count("POST rule"), 0);
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.rules().len(), 1);
    // After the answer, before the final write.
    let mut sim = rule_sim(Dedup::None, signup());
    sim.pass_then_crash().await;
    assert_eq!(sim.api.rules().len(), 1);
    assert!(
        rule_id(&sim).is_none(),
        "only the pending create was persisted"
    );
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.rules().len(), 1, "{:?}", sim.api.log());
    assert_eq!(sim.api.count("POST rule"), 1);
}

/// Item f: a 409 while a create is pending (our own earlier attempt, missed by the claim's list)
/// is claimed, never reported as a conflict on the operator's own object.
#[tokio::test]
async fn a_conflict_while_pending_is_claimed() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    sim.api.script(Op::CreateRule, Fault::CommitThenDrop);
    sim.pass().await;
    let committed = sim.api.rules()[0].id.clone();
    sim.api
        .script(Op::ListRules, Fault::Hide(committed.clone()));
    let step = sim.pass().await;
    assert!(ready(&step), "{step:?}");
    assert_eq!(rule_id(&sim).as_deref(), Some(committed.as_str()));
    assert_eq!(
        sim.api.count("POST rule 409"),
        1,
        "the retry did hit the conflict"
    );
    assert_eq!(sim.api.rules().len(), 1);
}

/// Item f: the claim also matches the recorded identity, so a spec edited during an outage
/// does not leak the first object: it is claimed, then replaced.
#[tokio::test]
async fn a_claim_matches_the_recorded_identity_after_a_spec_change() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    sim.api.script(Op::CreateRule, Fault::CommitThenDrop);
    sim.pass().await;
    let first = sim.api.rules()[0].id.clone();
    edit(
        &mut sim,
        json!({"connectionRef": {"name": "hook"}, "event": "user.deleted", "metadata": {"action": "send_webhook"}}),
    );
    assert!(ready(&sim.pass().await));
    let rules = sim.api.rules();
    assert_eq!(rules.len(), 1, "{:?}", sim.api.log());
    assert_eq!(rules[0].event, "user.deleted");
    assert!(sim.api.log().contains(&format!("DELETE rule {first}")));
}

/// Item a: a refused replace keeps the rule in service; a revert then deletes nothing.
#[tokio::test]
async fn a_refused_replace_never_deletes_the_rule_in_service() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    assert!(ready(&sim.pass().await));
    let in_service = rule_id(&sim).unwrap();
    edit(
        &mut sim,
        json!({"connectionRef": {"name": "hook"}, "event": "user.deleted", "metadata": {"action": "send_webhook"}}),
    );
    sim.api.script(Op::CreateRule, Fault::Invalid);
    let refused = sim.pass().await;
    assert!(
        matches!(refused.outcome, Outcome::Stalled { .. }),
        "{refused:?}"
    );
    let st = sim.obj.status.clone().unwrap();
    assert_eq!(st.rule_id.as_deref(), Some(in_service.as_str()));
    assert_eq!(
        st.previous_rule_id, None,
        "no previous == rule id left behind"
    );
    // A restart while stalled, then the spec reverted.
    sim.ctx = context(sim.api.clone());
    edit(&mut sim, signup());
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.count("DELETE"), 0, "{:?}", sim.api.log());
    assert_eq!(sim.api.rules().len(), 1);
    assert_eq!(rule_id(&sim).as_deref(), Some(in_service.as_str()));
}

/// Item a: a leftover `previousRuleId == ruleId` (as c9d9682 wrote it) is forgotten, not deleted.
#[tokio::test]
async fn a_previous_equal_to_the_rule_in_service_is_never_deleted() {
    let mut sim = rule_sim(Dedup::Tuple, signup());
    assert!(ready(&sim.pass().await));
    let id = rule_id(&sim).unwrap();
    sim.obj.status.as_mut().unwrap().previous_rule_id = Some(id.clone());
    sim.ctx = context(sim.api.clone());
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.count("DELETE"), 0);
    assert!(sim.obj.status.as_ref().unwrap().previous_rule_id.is_none());
    assert_eq!(sim.api.rules()[0].id, id);
}

/// Item a: toggling `active` (or `hidden`) works under every de-duplication Meshes may have;
/// where create-first is possible it is used, otherwise the old rule goes first.
#[tokio::test]
async fn toggling_active_or_hidden_works_under_every_dedup_mode() {
    for dedup in [Dedup::Tuple, Dedup::Exact, Dedup::None] {
        for (field, value) in [("active", false), ("hidden", true)] {
            let mut sim = rule_sim(dedup, signup());
            assert!(ready(&sim.pass().await));
            let old = rule_id(&sim).unwrap();
            let mut spec = signup();
            spec[field] = json!(value);
            edit(&mut sim, spec);
            let step = sim.pass().await;
            assert!(
                ready(&step),
                "{dedup:?} {field}: {step:?} {:?}",
                sim.api.log()
            );
            let rules = sim.api.rules();
            assert_eq!(rules.len(), 1, "{dedup:?} {field}");
            assert_ne!(rules[0].id, old);
            let flag = if field == "active" {
                rules[0].active
            } else {
                rules[0].hidden
            };
            assert_eq!(flag, Some(value), "{dedup:?} {field}");
            let log = sim.api.log();
            let delete = log
                .iter()
                .position(|l| *l == format!("DELETE rule {old}"))
                .unwrap();
            let created = log
                .iter()
                .position(|l| *l == format!("POST rule {}", rules[0].id))
                .unwrap();
            if dedup == Dedup::Tuple {
                assert!(
                    delete < created,
                    "tuple dedup: the old rule goes first: {log:?}"
                );
            } else {
                assert!(created < delete, "{dedup:?}: create first: {log:?}");
            }
            assert!(sim.host.reasons().contains(&reasons::REPLACED.to_string()));
        }
    }
}

/// Crash points of a replace: after the pending write, after the commit, after the new ID is
/// recorded (before the old rule's delete), after the delete. Each ends with exactly the new
/// rule, and the old one is deleted only once the new one exists.
#[tokio::test]
async fn every_crash_point_of_a_replace_ends_with_the_new_rule_only() {
    let changed = json!({"connectionRef": {"name": "hook"}, "event": "user.deleted", "metadata": {"action": "send_webhook"}});
    for crash in 0..4 {
        let mut sim = rule_sim(Dedup::Tuple, signup());
        assert!(ready(&sim.pass().await));
        let old = rule_id(&sim).unwrap();
        edit(&mut sim, changed.clone());
        match crash {
            0 => sim.crash_at_persist(1),
            1 => sim.api.script(Op::CreateRule, Fault::CommitThenDrop),
            2 => sim.crash_at_persist(2),
            _ => {}
        }
        if crash == 3 {
            sim.pass_then_crash().await;
        } else {
            sim.pass().await;
        }
        for _ in 0..3 {
            sim.pass().await;
        }
        let rules = sim.api.rules();
        assert_eq!(rules.len(), 1, "crash point {crash}: {:?}", sim.api.log());
        assert_eq!(rules[0].event, "user.deleted", "crash point {crash}");
        assert_eq!(rule_id(&sim).as_deref(), Some(rules[0].id.as_str()));
        let log = sim.api.log();
        let delete = log
            .iter()
            .position(|l| *l == format!("DELETE rule {old}"))
            .unwrap();
        let created = log
            .iter()
            .position(|l| l.starts_with("POST rule r"))
            .unwrap_or(0);
        let new_post = log
            .iter()
            .rposition(|l| *l == format!("POST rule {}", rules[0].id))
            .unwrap();
        assert!(
            new_post < delete && created < delete,
            "crash point {crash}: {log:?}"
        );
    }
}

/// Item b: a list that does not show the bound rule is no proof: a GET confirms it exists.
#[tokio::test]
async fn a_list_missing_the_rule_is_confirmed_by_a_get_before_anything_is_created() {
    let mut sim = rule_sim(Dedup::None, signup());
    assert!(ready(&sim.pass().await));
    let id = rule_id(&sim).unwrap();
    // A forced look (reconcile-requested-at) with a list taken while it changed.
    sim.obj
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("meshes.io/reconcile-requested-at".into(), "1".into());
    sim.api.script(Op::ListRules, Fault::Hide(id.clone()));
    assert!(ready(&sim.pass().await));
    assert!(
        sim.api.log().contains(&format!("GET rule {id}")),
        "{:?}",
        sim.api.log()
    );
    assert_eq!(sim.api.count("POST rule"), 1, "no second create");
    assert!(
        !sim.host
            .reasons()
            .contains(&reasons::UPSTREAM_DELETED.to_string())
    );
    // Positive control: truly gone → created again, with a Warning.
    sim.api.remove_rule(&id);
    sim.obj
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("meshes.io/reconcile-requested-at".into(), "2".into());
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.count("POST rule"), 2);
    assert!(
        sim.host
            .reasons()
            .contains(&reasons::UPSTREAM_DELETED.to_string())
    );
}

/// Item k: an adopted rule deleted upstream is reported, never re-created.
#[tokio::test]
async fn an_adopted_rule_deleted_upstream_is_reported_not_recreated() {
    let mut sim = rule_sim(Dedup::None, signup());
    assert!(ready(&sim.pass().await));
    let id = rule_id(&sim).unwrap();
    let mut spec = signup();
    spec["adopt"] = json!({"id": id});
    spec["credentialsRef"] = json!({"name": "creds"});
    edit(&mut sim, spec);
    sim.api.remove_rule(&id);
    let step = sim.pass().await;
    assert!(matches!(step.outcome, Outcome::Stalled { .. }), "{step:?}");
    assert!(
        matches!(step.drift, crate::controllers::outcome::Drift::Drifted { reason, .. } if reason == reasons::UPSTREAM_DELETED)
    );
    assert_eq!(sim.api.count("POST rule"), 1);
}

/// Item g: a stale cache entry never creates or replaces.
#[tokio::test]
async fn a_stale_object_never_creates_or_replaces() {
    let mut sim = rule_sim(Dedup::None, signup());
    sim.host.stale.lock().unwrap().push(true);
    let step = sim.pass().await;
    assert!(step.quiet);
    assert_eq!(sim.api.count("POST"), 0);
    assert!(
        ready(&sim.pass().await),
        "positive control: the fresh object is created"
    );
    edit(
        &mut sim,
        json!({"connectionRef": {"name": "hook"}, "event": "user.deleted", "metadata": {"action": "send_webhook"}}),
    );
    sim.host.stale.lock().unwrap().push(true);
    assert!(sim.pass().await.quiet, "a replace from a stale copy");
    assert_eq!(sim.api.count("POST"), 1);
    assert!(ready(&sim.pass().await));
    assert_eq!(sim.api.count("POST"), 2);
}

/// Item d: a CR deleted while its create's outcome is unknown deletes what the create made.
#[tokio::test]
async fn cleanup_claims_and_deletes_what_an_unfinished_create_made() {
    let mut sim = rule_sim(Dedup::None, signup());
    sim.api.script(Op::CreateRule, Fault::CommitThenDrop);
    sim.pass().await;
    assert_eq!(sim.api.rules().len(), 1);
    assert_eq!(sim.cleanup().await, Cleanup::Done);
    assert!(sim.api.rules().is_empty(), "{:?}", sim.api.log());
    assert!(sim.host.reasons().contains(&reasons::DELETED.to_string()));
    // Mid-replace: the rule in service and the committed replacement both go.
    let mut sim = rule_sim(Dedup::None, signup());
    assert!(ready(&sim.pass().await));
    edit(
        &mut sim,
        json!({"connectionRef": {"name": "hook"}, "event": "user.deleted", "metadata": {"action": "send_webhook"}}),
    );
    sim.api.script(Op::CreateRule, Fault::CommitThenDrop);
    sim.pass().await;
    assert_eq!(sim.api.rules().len(), 2);
    assert_eq!(sim.cleanup().await, Cleanup::Done);
    assert!(sim.api.rules().is_empty(), "{:?}", sim.api.log());
}

/// Deletion waits (never releases) while Meshes is down, and 404 counts as done.
#[tokio::test]
async fn cleanup_waits_through_an_outage_and_takes_404_as_done() {
    let mut sim = rule_sim(Dedup::None, signup());
    assert!(ready(&sim.pass().await));
    sim.api.script(Op::DeleteRule, Fault::Unavailable);
    assert!(matches!(sim.cleanup().await, Cleanup::Wait { .. }));
    assert_eq!(sim.api.rules().len(), 1);
    sim.api.script(Op::DeleteRule, Fault::NotFound);
    assert_eq!(sim.cleanup().await, Cleanup::Done);
}

/// A cleanup reads the object from the API server first (the cache may lag a committed create's
/// status write), unless the copy it holds shows the status this process wrote last: then the
/// read is saved. The held copy went through JSON as the watch delivers it.
#[tokio::test]
async fn cleanup_reads_the_latest_version_unless_it_holds_its_own_last_write() {
    let mut sim = rule_sim(Dedup::None, signup());
    assert!(ready(&sim.pass().await));
    let written = sim.obj.status.clone().unwrap();
    let through_watch: crate::resources::MeshesRuleStatus =
        serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
    sim.obj.status = Some(through_watch);

    // This process last wrote something else: the held copy may be behind, so it reads.
    sim.ctx.status_written("u-rule", 1);
    sim.host.stale.lock().unwrap().push(true);
    assert!(
        matches!(sim.cleanup().await, Cleanup::Wait { message, .. } if message.contains("latest version")),
        "positive control: a copy older than our last write waits for the latest version"
    );
    assert!(
        sim.host.stale.lock().unwrap().is_empty(),
        "the read happened"
    );
    assert_eq!(sim.api.rules().len(), 1);

    // It last wrote exactly what the copy shows: no read, the rule is deleted.
    sim.ctx
        .status_written("u-rule", crate::controllers::report::status_hash(&written));
    sim.host.stale.lock().unwrap().push(true);
    assert_eq!(sim.cleanup().await, Cleanup::Done);
    assert_eq!(sim.host.stale.lock().unwrap().len(), 1, "no read");
    assert!(sim.api.rules().is_empty());
}

/// A rule identical to the sim's spec made upstream by someone else, and a workspace snapshot
/// that lists it.
async fn twin_in_snapshot(sim: &Sim<MeshesRule>) -> crate::api::types::Rule {
    let creds = resolved().creds;
    let want = decide::desired(&sim.obj.spec, "w1", "c1");
    let twin = sim.api.create_rule(&creds, &want, None).await.unwrap();
    sim.ctx
        .snapshots
        .refresh(sim.api.as_ref(), &creds, "w1")
        .await
        .unwrap();
    twin
}

/// Reliability churn (seed 97688785): a rule whose replacement Meshes refused as a duplicate
/// deletes its rule in service first; when the create then fails too, nothing is bound and the
/// next pass starts afresh while the workspace snapshot still lists the deleted rule. That
/// stale entry must not stall the rule as a conflict (the stall waits for a spec change):
/// a twin is confirmed by a GET before it is called one.
#[tokio::test]
async fn a_twin_known_only_from_a_stale_snapshot_is_not_a_conflict() {
    // Positive control: a twin that exists upstream is a conflict, never taken over.
    let mut sim = rule_sim(Dedup::None, signup());
    let twin = twin_in_snapshot(&sim).await;
    match sim.pass().await.outcome {
        Outcome::Stalled { reason, message } => {
            assert_eq!(reason, reasons::NAME_CONFLICT);
            assert!(message.contains(&twin.id), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.api.count("POST rule"), 1, "only the twin itself");

    // The same twin deleted after the snapshot was taken: the rule is created.
    let mut sim = rule_sim(Dedup::None, signup());
    let gone = twin_in_snapshot(&sim).await;
    sim.api.remove_rule(&gone.id);
    assert!(ready(&sim.pass().await), "{:?}", sim.api.log());
    assert_eq!(sim.api.rules().len(), 1);
    assert_ne!(rule_id(&sim).as_deref(), Some(gone.id.as_str()));
}

/// Issue 16: a copy that is this process's own last write needs no freshness read (the pass
/// that added the finalizer holds the patch's answer), and one that is an earlier write of ours
/// is stale without a read (the pass after a create, woken by its finalizer patch, while the
/// create's status writes are on their way to the cache). Any other version is read first: the
/// client points at a dead port, so a read fails (the positive control).
#[tokio::test]
async fn own_writes_tell_fresh_from_stale_without_a_read() {
    use super::super::host::KubeHost;
    let sim = rule_sim(Dedup::Tuple, signup());
    let host = KubeHost::new(&sim.ctx);
    let at = |v: &str| {
        let mut copy = sim.obj.clone();
        copy.metadata.resource_version = Some(v.into());
        copy
    };
    sim.ctx.finalizer_added("u-rule", Some("1".into()));
    assert!(!Host::<MeshesRule>::is_stale(&host, &at("1")).await.unwrap());
    assert!(Host::<MeshesRule>::is_stale(&host, &at("2")).await.is_err());

    // The create's status writes: the finalizer's version is now an older write of ours.
    sim.ctx.wrote("u-rule", Some("3".into()));
    sim.ctx.wrote("u-rule", Some("4".into()));
    assert!(Host::<MeshesRule>::is_stale(&host, &at("1")).await.unwrap());
    assert!(Host::<MeshesRule>::is_stale(&host, &at("3")).await.unwrap());
    assert!(!Host::<MeshesRule>::is_stale(&host, &at("4")).await.unwrap());
    // Handed an earlier write, the record stays; handed the last, the cache has caught up and
    // the record ends: that version is read again.
    sim.ctx.handed("u-rule", Some("3"));
    assert!(Host::<MeshesRule>::is_stale(&host, &at("3")).await.unwrap());
    sim.ctx.handed("u-rule", Some("4"));
    assert!(Host::<MeshesRule>::is_stale(&host, &at("4")).await.is_err());
}

/// Issue 16 (reaction during a restart): a routine check of a rule in sync (no memo, as after a
/// restart) waits while the key is busy, without a call, so it holds no pass; once the key is
/// idle it runs. Work a user asked for (a changed rule) goes ahead even when the key is busy.
#[tokio::test]
async fn a_routine_check_waits_for_an_idle_key_but_a_change_does_not() {
    fn routine(r: &MeshesRule) -> RuleInputs {
        let mut i = rule_inputs(r);
        i.resolved.creds = i
            .resolved
            .creds
            .with_priority(crate::controllers::credentials::ROUTINE + 2);
        i
    }
    let mut sim = rule_sim(Dedup::Tuple, signup());
    assert!(ready(&sim.pass().await));
    sim.inputs = routine;
    // As after a restart: nothing remembered, the status says in sync.
    sim.ctx.forget_memo("u-rule");
    sim.api.set_congested(true);
    let calls = sim.api.log().len();
    let step = sim.pass().await;
    assert!(step.quiet, "{step:?}");
    let wait = step.requeue.expect("retried later");
    let (min, max) = (
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(2),
    );
    assert!(wait >= min && wait <= max, "{wait:?}");
    assert_eq!(sim.api.log().len(), calls, "{:?}", sim.api.log());
    // Positive control: with the key idle the same check reads upstream.
    sim.api.set_congested(false);
    assert!(ready(&sim.pass().await));
    assert!(sim.api.log().len() > calls, "{:?}", sim.api.log());

    // A change is not routine: it goes ahead on a busy key.
    sim.inputs = rule_inputs;
    sim.ctx.forget_memo("u-rule");
    sim.api.set_congested(true);
    let step = sim.pass().await;
    assert!(!step.quiet && ready(&step), "{step:?}");
}
