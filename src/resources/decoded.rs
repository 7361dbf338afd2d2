//! One stored object, decoded on its own: [`Decoded`] never fails for an object the apiserver
//! serves, so a single object the Rust types cannot read (a value of the wrong type, or JSON
//! nested past the decoder's recursion limit) never breaks the list or watch of its kind
//! (`docs/crds.md`, "Objects the operator cannot read").
//!
//! Why not `kube::core::DeserializeGuard`: it buffers the object into a `serde_value::Value`
//! through the response's deserializer first, and that recursion counts against
//! `serde_json`'s limit of 128 levels for the whole response, so an object nested deeply
//! enough still fails the entire list (`tests::kube_guard_does_not_isolate_a_deep_object`).
//! [`Decoded`] takes the object as a raw JSON slice instead (skipped without recursion),
//! then decodes that text with a fresh decoder.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An object of kind `K` as stored: `Ok` when it decodes (shared, so the store and every
/// reader hold one copy), else what is known about it.
#[derive(Debug)]
pub struct Decoded<K>(pub Result<Arc<K>, Undecodable>);

impl<K> Clone for Decoded<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A stored object the Rust type cannot read.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    /// The decoder's message, without its position in the text (e.g. `recursion limit
    /// exceeded`, ``unknown variant `carrier-pigeon`, expected one of ...``).
    pub error: String,
    /// The object's metadata, without `managedFields` (which mirror the spec's depth).
    pub metadata: ObjectMeta,
    /// The stored `status` as JSON (`Null` when there is none); `None` when it cannot be read
    /// either.
    pub status: Option<serde_json::Value>,
}

impl<K: DeserializeOwned> Decoded<K> {
    /// Decodes one object from its JSON text; `Err` only when not even its metadata can be
    /// read (never the case for an object the apiserver serves).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let error = match serde_json::from_str::<K>(text) {
            Ok(obj) => return Ok(Self(Ok(Arc::new(obj)))),
            Err(e) => without_position(&e),
        };
        let outline: Outline = serde_json::from_str(text)?;
        let status = match outline.status {
            None => Some(serde_json::Value::Null),
            Some(raw) => serde_json::from_str(raw.get()).ok(),
        };
        Ok(Self(Err(Undecodable {
            error,
            metadata: outline.metadata.into(),
            status,
        })))
    }
}

/// The decoder's message without its position in the text (` at line 1 column 2468`): the
/// position moves whenever anything before it changes (a status write), the message does not.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).unwrap_or(&text).to_string()
}

impl<K> Decoded<K> {
    /// The decoded object, if it decoded.
    pub fn ok(&self) -> Option<&K> {
        self.0.as_deref().ok()
    }

    /// The decoded object, shared, if it decoded.
    pub fn shared(&self) -> Option<Arc<K>> {
        self.0.as_ref().ok().cloned()
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Decoded<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The raw slice is skipped over without recursion, whatever the object's depth.
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::from_json(raw.get()).map_err(serde::de::Error::custom)
    }
}

impl<K: Resource + Clone> Resource for Decoded<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Ok(obj) => obj.meta(),
            Err(bad) => &bad.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            // Copies the object only while another holder shares it.
            Ok(obj) => Arc::make_mut(obj).meta_mut(),
            Err(bad) => &mut bad.metadata,
        }
    }
}

/// What is read of an object that does not decode: its metadata and its raw status. Unknown
/// members (`spec`, `metadata.managedFields`) are skipped without recursion.
#[derive(Deserialize)]
struct Outline {
    metadata: Meta,
    #[serde(default)]
    status: Option<Box<RawValue>>,
}

/// `ObjectMeta` without `managedFields`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    uid: Option<String>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            uid: m.uid,
            managed_fields: None,
            self_link: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::MeshesConnection;
    use kube::core::{DeserializeGuard, ObjectList, WatchEvent};
    use serde_json::{Value, json};

    /// `levels` nested single-member objects around a string.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!("leaf"), |inner, i| json!({ format!("k{i}"): inner }))
    }

    /// A stored connection as the apiserver serves it, `managedFields` included (they mirror
    /// the spec's structure, so they are as deep as it).
    fn stored(name: &str, metadata: Value) -> Value {
        let fields = (0..140).fold(json!({}), |inner, i| json!({ format!("f:k{i}"): inner }));
        json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {
                "name": name, "namespace": "acme", "uid": format!("uid-{name}"),
                "generation": 3, "resourceVersion": "42",
                "finalizers": ["meshes.io/finalizer"],
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                    "apiVersion": "meshes.io/v1alpha1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:metadata": fields}}}]
            },
            "spec": {"workspaceRef": {"name": "acme"}, "type": "webhook", "metadata": metadata},
            "status": {"connectionId": "c-1", "conditions": []}
        })
    }

    fn good() -> Value {
        json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": "good", "namespace": "acme", "uid": "uid-good"},
            "spec": {"workspaceRef": {"name": "acme"}, "type": "webhook",
                "metadata": {"url": "https://x.example", "custom_headers": {"X-Team": "a"}}}
        })
    }

    /// A list response text (written out: `serde_json::to_string` of a 140-level value works,
    /// only reading it back is limited).
    fn list_text(items: &[Value]) -> String {
        serde_json::to_string(&json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnectionList",
            "metadata": {"resourceVersion": "42"}, "items": items
        }))
        .unwrap()
    }

    #[test]
    fn a_deep_object_does_not_break_the_list_of_its_kind() {
        let text = list_text(&[stored("too-deep", json!({"n": nested(130)})), good()]);
        // Without isolation the whole list fails (the incident of issue 12, item 3).
        let err = serde_json::from_str::<ObjectList<MeshesConnection>>(&text).unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );

        let list: ObjectList<Decoded<MeshesConnection>> = serde_json::from_str(&text).unwrap();
        assert_eq!(list.items.len(), 2);
        let bad = list.items[0].0.as_ref().unwrap_err();
        // Without the position, which moves with any change before it (a status write).
        assert_eq!(bad.error, "recursion limit exceeded");
        assert_eq!(bad.metadata.name.as_deref(), Some("too-deep"));
        assert_eq!(bad.metadata.namespace.as_deref(), Some("acme"));
        assert_eq!(bad.metadata.uid.as_deref(), Some("uid-too-deep"));
        assert_eq!(bad.metadata.generation, Some(3));
        assert_eq!(
            bad.metadata.finalizers.as_deref(),
            Some(&["meshes.io/finalizer".to_string()][..])
        );
        assert_eq!(
            bad.status,
            Some(json!({"connectionId": "c-1", "conditions": []}))
        );
        assert_eq!(list.items[0].meta().name.as_deref(), Some("too-deep"));
        let ok = list.items[1].ok().unwrap();
        assert_eq!(ok.metadata.name.as_deref(), Some("good"));
        assert_eq!(
            ok.spec.metadata.as_ref().unwrap()["custom_headers"]["X-Team"],
            "a"
        );
    }

    #[test]
    fn kube_guard_does_not_isolate_a_deep_object() {
        let text = list_text(&[stored("too-deep", json!({"n": nested(130)})), good()]);
        let err = serde_json::from_str::<ObjectList<DeserializeGuard<MeshesConnection>>>(&text)
            .unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
        // It does isolate a value of the wrong type (the case it is made for).
        let mut wrong = good();
        wrong["spec"]["type"] = json!("carrier-pigeon");
        let list: ObjectList<DeserializeGuard<MeshesConnection>> =
            serde_json::from_str(&list_text(&[wrong, good()])).unwrap();
        assert!(list.items[0].0.is_err() && list.items[1].0.is_ok());
    }

    #[test]
    fn a_deep_object_does_not_break_the_watch_of_its_kind() {
        // Written as the apiserver does, `type` first (a `json!` map would sort `object` first,
        // and serde buffers an adjacently tagged enum's content that precedes its tag).
        let event = |type_: &str, obj: Value| format!(r#"{{"type":"{type_}","object":{obj}}}"#);
        let line = event("ADDED", stored("too-deep", json!({"n": nested(130)})));
        assert!(serde_json::from_str::<WatchEvent<MeshesConnection>>(&line).is_err());
        let WatchEvent::Added(obj) =
            serde_json::from_str::<WatchEvent<Decoded<MeshesConnection>>>(&line).unwrap()
        else {
            panic!("not an ADDED event");
        };
        let bad = obj.0.unwrap_err();
        assert!(bad.error.contains("recursion limit exceeded"));
        assert_eq!(bad.metadata.name.as_deref(), Some("too-deep"));
        let line = event("MODIFIED", good());
        let WatchEvent::Modified(obj) =
            serde_json::from_str::<WatchEvent<Decoded<MeshesConnection>>>(&line).unwrap()
        else {
            panic!("not a MODIFIED event");
        };
        assert!(obj.ok().is_some());
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named() {
        let mut wrong = good();
        wrong["spec"]["type"] = json!("carrier-pigeon");
        wrong["status"] = json!({"conditions": "not a list"});
        let d = Decoded::<MeshesConnection>::from_json(&wrong.to_string()).unwrap();
        let bad = d.0.unwrap_err();
        assert!(
            bad.error.contains("unknown variant `carrier-pigeon`"),
            "{}",
            bad.error
        );
        // The status is kept as JSON even when it does not fit the type.
        assert_eq!(bad.status, Some(json!({"conditions": "not a list"})));
        // An object without a status has a `Null` one; metadata that cannot be read at all
        // is an error (the apiserver never serves such an object).
        let mut bare = good();
        bare["spec"]["type"] = json!(1);
        let d = Decoded::<MeshesConnection>::from_json(&bare.to_string()).unwrap();
        assert_eq!(d.0.unwrap_err().status, Some(Value::Null));
        assert!(Decoded::<MeshesConnection>::from_json(r#"{"metadata": 1}"#).is_err());
    }

    #[test]
    fn a_status_too_deep_to_read_is_none() {
        let mut obj = stored("deep-status", json!({"n": nested(130)}));
        obj["status"] = json!({"x": nested(130)});
        let d = Decoded::<MeshesConnection>::from_json(&obj.to_string()).unwrap();
        assert_eq!(d.0.unwrap_err().status, None);
    }
}
