//! Readable, unique and stable Kubernetes names for imported objects: a DNS-1123 slug of the
//! Meshes name, with `-2`, `-3`, … for collisions. Callers hand objects over oldest first
//! (creation time, then ID), so an object added upstream later never renames an older one.

use std::collections::BTreeSet;

/// Longest name produced (a label-safe 63, leaving room for suffixes like `-settings`).
const MAX: usize = 52;

/// A DNS-1123 slug of `text`: lowercase letters, digits and `-`, no leading or trailing `-`,
/// at most [`MAX`] characters; `fallback` when nothing is left.
pub fn slug(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= MAX {
            break;
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

/// Hands out unique names within one scope (a namespace).
#[derive(Debug, Default)]
pub struct Names(BTreeSet<String>);

impl Names {
    /// `base`, or `base-2`, `base-3`, … when taken.
    pub fn unique(&mut self, base: &str) -> String {
        let mut candidate = base.to_owned();
        let mut n = 2;
        while self.0.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        self.0.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(slug("Acme Prod", "x"), "acme-prod");
        assert_eq!(slug("  __Stripe  Hook__ ", "x"), "stripe-hook");
        assert_eq!(slug("order.created", "x"), "order-created");
        assert_eq!(slug("!!!", "fallback"), "fallback");
        assert_eq!(slug("Ünïcode", "x"), "n-code");
        let long = slug(&"a".repeat(200), "x");
        assert_eq!(long.len(), MAX);
    }

    #[test]
    fn collisions_get_numbered_in_order() {
        let mut names = Names::default();
        assert_eq!(names.unique("hook"), "hook");
        assert_eq!(names.unique("hook"), "hook-2");
        assert_eq!(names.unique("hook"), "hook-3");
        assert_eq!(names.unique("other"), "other");
    }
}
