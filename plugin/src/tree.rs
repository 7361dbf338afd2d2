//! `kubectl meshes tree`: the workspace → connection → rule tree built from the custom
//! resources, with each rule's latest deliveries from Meshes' event history (one history call
//! per workspace, plus the attempts of the failed deliveries shown).

use chrono::{DateTime, Utc};
use meshes_client::MeshesEvents;
use meshes_client::events::EventFilter;
use serde::Serialize;

use crate::cli::TreeArgs;
use crate::cluster::{Cluster, Kind};
use crate::creds::{self, Resolver};
use crate::history::{self, Delivery};
use crate::view::{Cond, ObjView};

/// The whole answer (`-o json|yaml` prints exactly this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeDoc {
    /// Top-level nodes: workspaces, then connections and rules whose parent is not in view.
    pub items: Vec<Node>,
    /// One line each: what could not be shown and why.
    pub notes: Vec<String>,
}

/// One resource and its children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Ready condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<Cond>,
    /// Synced condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced: Option<Cond>,
    /// The reason shown (Stalled's when stalled, else Ready's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message worth reading when not Ready/Synced or Stalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Meshes ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meshes_id: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// A rule's latest deliveries, newest first; absent when they could not be read (see
    /// the notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<Delivery>>,
    /// Connections of a workspace, rules of a connection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    #[serde(skip)]
    view: ObjView,
}

impl Node {
    fn new(view: ObjView) -> Node {
        Node {
            kind: view.kind,
            namespace: view.namespace.clone(),
            name: view.name.clone(),
            ready: view.ready.clone(),
            synced: view.synced.clone(),
            reason: view.reason().map(str::to_owned),
            message: view.problem().map(str::to_owned),
            meshes_id: view.meshes_id.clone(),
            created_at: view.created,
            deliveries: None,
            children: Vec::new(),
            view,
        }
    }

    /// Every rule node below (or at) this node.
    fn rules_mut(&mut self) -> Vec<&mut Node> {
        if self.kind == Kind::MeshesRule {
            return vec![self];
        }
        self.children.iter_mut().flat_map(Node::rules_mut).collect()
    }
}

/// Reads the resources of the namespace (or all, with `-A`) as views.
pub async fn read_views(cluster: &Cluster, all_namespaces: bool) -> anyhow::Result<Vec<ObjView>> {
    let ns = (!all_namespaces).then_some(cluster.namespace.as_str());
    let mut views = Vec::new();
    for kind in [
        Kind::MeshesWorkspace,
        Kind::MeshesConnection,
        Kind::MeshesRule,
    ] {
        let mut objs: Vec<ObjView> = cluster
            .list(kind, ns)
            .await?
            .iter()
            .map(|o| ObjView::from_dynamic(kind, o))
            .collect();
        objs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        views.extend(objs);
    }
    Ok(views)
}

fn child_of(child: &ObjView, parent: &ObjView) -> bool {
    child.namespace == parent.namespace
        && match (&child.parent_ref, &child.parent_id) {
            (Some(name), _) => name == &parent.name,
            (None, Some(id)) => parent.meshes_id.as_ref() == Some(id),
            (None, None) => false,
        }
}

/// Arranges views into the tree (pure). `only` keeps one workspace and what hangs below it.
pub fn arrange(views: &[ObjView], only: Option<&str>) -> Vec<Node> {
    let of = |k: Kind| views.iter().filter(move |v| v.kind == k);
    let mut placed = std::collections::HashSet::new();
    let mut items = Vec::new();
    let conn_node =
        |c: &ObjView, placed: &mut std::collections::HashSet<(Kind, String, String)>| {
            placed.insert((c.kind, c.namespace.clone(), c.name.clone()));
            let mut n = Node::new(c.clone());
            for r in of(Kind::MeshesRule).filter(|r| child_of(r, c)) {
                placed.insert((r.kind, r.namespace.clone(), r.name.clone()));
                n.children.push(Node::new(r.clone()));
            }
            n
        };
    for w in of(Kind::MeshesWorkspace).filter(|w| only.is_none_or(|o| o == w.name)) {
        let mut n = Node::new(w.clone());
        for c in of(Kind::MeshesConnection).filter(|c| child_of(c, w)) {
            n.children.push(conn_node(c, &mut placed));
        }
        items.push(n);
    }
    if only.is_some() {
        return items;
    }
    // Connections and rules whose parent is not a resource in view still show, at the top.
    for c in of(Kind::MeshesConnection) {
        if !placed.contains(&(c.kind, c.namespace.clone(), c.name.clone())) {
            items.push(conn_node(c, &mut placed));
        }
    }
    for r in of(Kind::MeshesRule) {
        if !placed.contains(&(r.kind, r.namespace.clone(), r.name.clone())) {
            items.push(Node::new(r.clone()));
        }
    }
    items
}

/// Fills in each rule's latest deliveries, one workspace history per top-level node. What
/// cannot be read becomes a note; nothing here fails the command.
pub async fn add_deliveries(
    items: &mut [Node],
    views: &[ObjView],
    cluster: &Cluster,
    api: &dyn MeshesEvents,
    args: &TreeArgs,
    notes: &mut Vec<String>,
) {
    let mut resolver = Resolver::default();
    for item in items.iter_mut() {
        let root = item.view.clone();
        let workspace_id = match root.kind {
            Kind::MeshesWorkspace => root.meshes_id.clone(),
            _ => root.workspace_id.clone(),
        };
        let mut rules = item.rules_mut();
        if rules.iter().all(|r| r.view.meshes_id.is_none()) {
            continue;
        }
        let Some(workspace_id) = workspace_id else {
            continue;
        };
        let creds = match creds::source(&root, views) {
            Ok(secret) => match resolver.load(cluster, &secret, &root.display_name()).await {
                Ok(c) => c,
                Err(e) => {
                    push_note(notes, e.0);
                    continue;
                }
            },
            Err(e) => {
                push_note(notes, format!("deliveries not shown: {e}"));
                continue;
            }
        };
        let filter = EventFilter {
            limit: Some(args.events.clamp(1, 200) as u32),
            ..EventFilter::default()
        };
        let events = match api
            .recent_workspace_events(&creds, &workspace_id, &filter, args.events)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                push_note(
                    notes,
                    format!("deliveries not shown for {}: {e}", root.display_name()),
                );
                continue;
            }
        };
        for rule in rules.iter_mut() {
            let ids: Vec<&String> = [&rule.view.meshes_id, &rule.view.previous_id]
                .into_iter()
                .flatten()
                .collect();
            if ids.is_empty() {
                continue;
            }
            let mut shown = Vec::new();
            'events: for ev in &events {
                for re in ev.rule_events.iter().filter(|re| ids.contains(&&re.rule)) {
                    if shown.len() >= args.deliveries {
                        break 'events;
                    }
                    match history::describe(api, &creds, ev, re, false).await {
                        Ok(mut d) => {
                            d.rule = Some(rule.name.clone());
                            shown.push(d);
                        }
                        Err(e) => {
                            push_note(notes, format!("attempts of event {} not shown: {e}", ev.id));
                        }
                    }
                }
            }
            rule.deliveries = Some(shown);
        }
    }
}

fn push_note(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

/// Builds the whole document.
pub async fn build(
    cluster: &Cluster,
    api: &dyn MeshesEvents,
    args: &TreeArgs,
) -> anyhow::Result<TreeDoc> {
    let views = read_views(cluster, args.all_namespaces).await?;
    let mut items = arrange(&views, args.workspace.as_deref());
    if let Some(ws) = &args.workspace
        && items.is_empty()
    {
        anyhow::bail!(
            "MeshesWorkspace {ws} not found in namespace {}",
            cluster.namespace
        );
    }
    let mut notes = Vec::new();
    add_deliveries(&mut items, &views, cluster, api, args, &mut notes).await;
    Ok(TreeDoc { items, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: Kind, name: &str, parent: Option<&str>, id: Option<&str>) -> ObjView {
        ObjView {
            kind,
            namespace: "acme".into(),
            name: name.into(),
            created: None,
            ready: None,
            synced: None,
            stalled: None,
            meshes_id: id.map(Into::into),
            previous_id: None,
            workspace_id: None,
            connection_id: None,
            parent_ref: parent.map(Into::into),
            parent_id: None,
            credentials_ref: None,
            output_secret: String::new(),
            event: None,
        }
    }

    #[test]
    fn children_hang_under_their_parents_and_orphans_stay_visible() {
        let mut by_id = view(Kind::MeshesRule, "by-id", None, None);
        by_id.parent_id = Some("c-1".into());
        let views = vec![
            view(Kind::MeshesWorkspace, "ws", None, Some("w-1")),
            view(Kind::MeshesConnection, "hook", Some("ws"), Some("c-1")),
            view(Kind::MeshesConnection, "lost", Some("gone"), None),
            view(Kind::MeshesRule, "r1", Some("hook"), None),
            by_id,
            view(Kind::MeshesRule, "r-orphan", Some("nope"), None),
        ];
        let items = arrange(&views, None);
        let names: Vec<_> = items.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, vec!["ws", "lost", "r-orphan"]);
        let rules: Vec<_> = items[0].children[0]
            .children
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(rules, vec!["r1", "by-id"]);
        // With a workspace named, only its subtree.
        let only = arrange(&views, Some("ws"));
        assert_eq!(only.len(), 1);
        assert!(arrange(&views, Some("other")).is_empty());
    }
}
