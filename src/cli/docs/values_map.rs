//! Which Helm value renders which `run` flag, read from the `# --` comments of the chart's
//! `values.yaml` (each documented value names its flag there, e.g. `--api-rate`). Line-based on
//! purpose: YAML parsers drop comments, and the comments are the mapping.

use std::collections::BTreeMap;

/// Flag (`--api-rate`) → dotted value path (`meshes.apiRate`).
pub type FlagValues = BTreeMap<String, String>;

/// Reads the mapping from the text of a `values.yaml`. A comment block names the flag(s) of the
/// key right below it; a blank line ends a block without a key.
pub fn parse(values_yaml: &str) -> FlagValues {
    let mut map = FlagValues::new();
    // (indent, key) of the enclosing mappings.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut comment = String::new();
    for line in values_yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            comment.clear();
            continue;
        }
        if let Some(text) = trimmed.strip_prefix('#') {
            comment.push(' ');
            comment.push_str(text);
            continue;
        }
        let Some(key) = mapping_key(trimmed) else {
            comment.clear();
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([key]).collect();
        for flag in flags_in(&comment) {
            map.entry(flag).or_insert_with(|| path.join("."));
        }
        comment.clear();
        stack.push((indent, key.to_string()));
    }
    map
}

/// `key` of a `key: …` line (not a list item, not a quoted key).
fn mapping_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(':')?;
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some(key)
}

/// The `--flag` tokens of a comment (the doc marker `# --` itself is not one).
fn flags_in(comment: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let mut rest = comment;
    while let Some(at) = rest.find("--") {
        let after = &rest[at + 2..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        if name.len() > 1 && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(format!("--{name}"));
        }
        rest = &after[name.len().max(1).min(after.len())..];
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_name_the_flag_of_the_key_below_them() {
        let yaml = "\
# -- Top. --selector
selector: \"\"

meshes:
  # -- Rate. --api-rate
  apiRate: 10
  # -- Spans two lines.
  # --deletion-release-timeout
  release: 30s
  # -- No flag here.
  plain: 1
  list:
    - a
# -- (--shutdown-timeout). More.
shutdownTimeoutSeconds: 25
";
        let map = parse(yaml);
        assert_eq!(map["--selector"], "selector");
        assert_eq!(map["--api-rate"], "meshes.apiRate");
        assert_eq!(map["--deletion-release-timeout"], "meshes.release");
        assert_eq!(map["--shutdown-timeout"], "shutdownTimeoutSeconds");
        assert_eq!(map.len(), 4, "{map:?}");
    }
}
