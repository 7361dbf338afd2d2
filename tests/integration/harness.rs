//! The test control plane itself: CRDs, server-side apply on status, RBAC that really denies,
//! ServiceAccount kubeconfigs usable by child processes, and the real namespace and garbage-collector
//! controllers.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use meshes_testenv::TestEnv;
use serde_json::json;

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.testenv.meshes.io"},
        "spec": {
            "group": "testenv.meshes.io",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
                }}}
            }]
        }
    }))
    .expect("widget CRD")
}

fn widgets(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("testenv.meshes.io", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(client, ns, &ar)
}

#[tokio::test]
async fn reports_the_pinned_server_version() {
    let env = TestEnv::shared().await;
    assert!(
        env.server_version().starts_with("v1.37."),
        "unexpected apiserver version {}",
        env.server_version()
    );
}

#[tokio::test]
async fn crd_becomes_established_and_an_object_round_trips() {
    let env = TestEnv::shared().await;
    env.install_crds(&[widget_crd()]).await.expect("install");
    let ns = env.namespace("harness-crd").await;
    let api = widgets(env.client().await, &ns);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.meshes.io/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let got = api.get("w1").await.expect("get");
    assert_eq!(got.data["spec"]["size"], 3);
}

#[tokio::test]
async fn server_side_apply_on_the_status_subresource() {
    let env = TestEnv::shared().await;
    env.install_crds(&[widget_crd()]).await.expect("install");
    let ns = env.namespace("harness-ssa").await;
    let api = widgets(env.client().await, &ns);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "testenv.meshes.io/v1", "kind": "Widget",
        "metadata": {"name": "w2"}, "spec": {"size": 1}
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let status = json!({
        "apiVersion": "testenv.meshes.io/v1", "kind": "Widget",
        "status": {"phase": "Ready"}
    });
    api.patch_status(
        "w2",
        &PatchParams::apply("harness-test").force(),
        &Patch::Apply(&status),
    )
    .await
    .expect("apply status");
    let got = api.get("w2").await.expect("get");
    assert_eq!(got.data["status"]["phase"], "Ready");
    // Status writes must not touch spec (the subresource is really split).
    assert_eq!(got.data["spec"]["size"], 1);
}

/// Fails under `--authorization-mode=AlwaysAllow`: the first assertion requires a real denial.
#[tokio::test]
async fn rbac_denies_a_service_account_until_it_is_bound() {
    let env = TestEnv::shared().await;
    let ns = env.namespace("harness-rbac").await;
    let sa_client = env
        .service_account_client(&ns, "reader")
        .await
        .expect("sa client");
    let secrets: Api<Secret> = Api::namespaced(sa_client.clone(), &ns);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "expected Forbidden, got {s:?}"),
        other => panic!("an unbound ServiceAccount listed Secrets: {other:?}"),
    }

    let admin = env.client().await;
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "secret-reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "secret-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    // RBAC caches refresh asynchronously; allow a generous moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match secrets.list(&ListParams::default()).await {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("still denied after binding: {e}"),
        }
    }
    // The binding is namespaced: another namespace stays forbidden.
    let other = env.namespace("harness-rbac-other").await;
    let elsewhere: Api<Secret> = Api::namespaced(sa_client, &other);
    assert!(elsewhere.list(&ListParams::default()).await.is_err());
}

#[tokio::test]
async fn service_account_kubeconfig_works_from_a_child_process() {
    let env = TestEnv::shared().await;
    let ns = env.namespace("harness-child").await;
    let kubeconfig = env
        .service_account_kubeconfig(&ns, "child")
        .await
        .expect("kubeconfig");
    let out = std::process::Command::new(meshes_testenv::bins::bin_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("system:serviceaccount:{ns}:child")
    );
    // And it is that identity, not an admin: it cannot list namespaces.
    let denied = std::process::Command::new(meshes_testenv::bins::bin_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespaces"])
        .output()
        .expect("run kubectl");
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("forbidden"));
}

/// kube-controller-manager runs beside the apiserver: a deleted namespace is emptied and goes
/// (the namespace controller), and a dependent whose owner is deleted is collected (the garbage
/// collector). Without it the namespace stays `Terminating` and the dependent stays.
#[tokio::test]
async fn namespace_deletion_and_garbage_collection_are_real() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    let env = TestEnv::shared().await;
    assert!(env.control_plane().controller_manager_pid().is_some());
    let client = env.client().await;
    let ns = env.namespace("kcm").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap(),
        )
        .await
        .unwrap();
    let dependent = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.metadata.uid.clone().unwrap()}]}}))
        .unwrap()
    };
    maps.create(&PostParams::default(), &dependent("dependent"))
        .await
        .unwrap();
    maps.delete("owner", &Default::default()).await.unwrap();
    crate::support::eventually(
        "the dependent collected",
        crate::support::SOON,
        || async { Some(maps.get_opt("dependent").await.unwrap().is_none()) },
        |gone| *gone,
    )
    .await;
    // A namespace with an object in it is emptied and removed.
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "content"}})).unwrap(),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.delete(&ns, &Default::default()).await.unwrap();
    crate::support::eventually(
        &format!("namespace {ns} gone"),
        crate::support::SOON,
        || async { Some(namespaces.get_opt(&ns).await.unwrap().is_none()) },
        |gone| *gone,
    )
    .await;
}
