//! Text output: the tree as an aligned table with tree branches, ages the way kubectl prints
//! them, and ANSI colour that is applied after padding (so columns line up either way) and
//! only when the caller says the output is a terminal.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::history::{Delivery, Outcome};
use crate::tree::{Node, TreeDoc};
use crate::view::Cond;

/// How to paint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on.
    pub color: bool,
    /// The time ages are measured from.
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Good,
    Bad,
    Warn,
    Dim,
}

impl Style {
    fn paint(&self, text: &str, p: Paint) -> String {
        let code = match p {
            _ if !self.color => return text.to_owned(),
            Paint::Plain => return text.to_owned(),
            Paint::Good => "32",
            Paint::Bad => "31",
            Paint::Warn => "33",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// kubectl's age format: `45s`, `12m`, `5h`, `3d` (two units while short: `3m20s`, `2h5m`).
pub fn age(from: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(from) = from else {
        return "<unknown>".into();
    };
    let s = (now - from).num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10_800 => format!("{}m", s / 60),
        10_800..28_800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        28_800..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn cond_cell(c: &Option<Cond>) -> (String, Paint) {
    match c {
        None => ("-".into(), Paint::Dim),
        Some(c) => {
            let paint = match c.status.as_str() {
                "True" => Paint::Good,
                "False" => Paint::Bad,
                _ => Paint::Warn,
            };
            let text = if c.stale {
                format!("{}*", c.status)
            } else {
                c.status.clone()
            };
            (text, paint)
        }
    }
}

fn delivery_paint(d: &Delivery) -> Paint {
    match d.outcome {
        Outcome::Delivered => Paint::Good,
        Outcome::Failed => Paint::Bad,
        Outcome::Pending | Outcome::Canceled => Paint::Warn,
    }
}

struct Row {
    cells: Vec<(String, Paint)>,
    /// The DELIVERIES cell, painted piece by piece.
    deliveries: Vec<(String, Paint)>,
    age: String,
    message: Option<(String, String)>,
}

fn rows(node: &Node, prefix: &str, branch: &str, all_ns: bool, style: &Style, out: &mut Vec<Row>) {
    let mut cells = Vec::new();
    if all_ns {
        cells.push((node.namespace.clone(), Paint::Plain));
    }
    cells.push((
        format!("{prefix}{branch}{}/{}", node.kind.as_str(), node.name),
        Paint::Plain,
    ));
    cells.push(cond_cell(&node.ready));
    cells.push(cond_cell(&node.synced));
    let reason_paint = match &node.ready {
        Some(c) if c.status == "True" => Paint::Plain,
        _ => Paint::Warn,
    };
    cells.push((
        node.reason.clone().unwrap_or_else(|| "-".into()),
        reason_paint,
    ));
    cells.push((
        node.meshes_id.clone().unwrap_or_else(|| "-".into()),
        Paint::Plain,
    ));
    let deliveries = match &node.deliveries {
        None => Vec::new(),
        Some(d) if d.is_empty() => vec![("none recent".to_owned(), Paint::Dim)],
        Some(d) => d.iter().map(|d| (d.short(), delivery_paint(d))).collect(),
    };
    // Children are indented under the name column: "├─ " / "└─ " and "│  " / "   ".
    let child_prefix = format!(
        "{prefix}{}",
        match branch {
            "├─ " => "│  ",
            "└─ " => "   ",
            _ => "",
        }
    );
    let message = node.message.as_ref().map(|m| {
        let pad = if node.children.is_empty() {
            "   "
        } else {
            "│  "
        };
        (format!("{child_prefix}{pad}"), m.clone())
    });
    out.push(Row {
        cells,
        deliveries,
        age: age(node.created_at, style.now),
        message,
    });
    let n = node.children.len();
    for (i, c) in node.children.iter().enumerate() {
        let b = if i + 1 == n { "└─ " } else { "├─ " };
        rows(c, &child_prefix, b, all_ns, style, out);
    }
}

/// Prints the tree as a table.
pub fn tree_text(
    doc: &TreeDoc,
    all_ns: bool,
    style: &Style,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    if doc.items.is_empty() {
        writeln!(w, "No Meshes resources found.")?;
        return Ok(());
    }
    let mut all = Vec::new();
    for item in &doc.items {
        rows(item, "", "", all_ns, style, &mut all);
    }
    let mut header: Vec<&str> = Vec::new();
    if all_ns {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "READY", "SYNCED", "REASON", "MESHES ID"]);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &all {
        for (i, (t, _)) in r.cells.iter().enumerate() {
            widths[i] = widths[i].max(t.chars().count());
        }
    }
    let dwidth = all
        .iter()
        .map(|r| deliveries_len(&r.deliveries))
        .max()
        .unwrap_or(0)
        .max("DELIVERIES".len());
    let mut line = String::new();
    for (h, wd) in header.iter().zip(&widths) {
        line.push_str(&format!("{h:<wd$}   "));
    }
    line.push_str(&format!("{:<dwidth$}   AGE", "DELIVERIES"));
    writeln!(w, "{}", line.trim_end())?;
    for r in &all {
        let mut line = String::new();
        for ((t, p), wd) in r.cells.iter().zip(&widths) {
            let pad = wd.saturating_sub(t.chars().count());
            line.push_str(&style.paint(t, *p));
            line.push_str(&" ".repeat(pad + 3));
        }
        let mut dlen = 0;
        for (i, (t, p)) in r.deliveries.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
                dlen += 2;
            }
            line.push_str(&style.paint(t, *p));
            dlen += t.chars().count();
        }
        line.push_str(&" ".repeat(dwidth.saturating_sub(dlen) + 3));
        line.push_str(&r.age);
        writeln!(w, "{}", line.trim_end())?;
        if let Some((indent, msg)) = &r.message {
            writeln!(
                w,
                "{indent}{}",
                style.paint(&format!("! {msg}"), Paint::Warn)
            )?;
        }
    }
    Ok(())
}

fn deliveries_len(d: &[(String, Paint)]) -> usize {
    d.iter().map(|(t, _)| t.chars().count()).sum::<usize>() + 2 * d.len().saturating_sub(1)
}

/// Prints notes, one line each.
pub fn notes(notes: &[String], style: &Style, w: &mut dyn Write) -> std::io::Result<()> {
    for n in notes {
        writeln!(w, "{}", style.paint(&format!("note: {n}"), Paint::Warn))?;
    }
    Ok(())
}

/// Prints deliveries with their attempts (the `deliveries`, `send` and `retry` output).
pub fn deliveries_text(list: &[Delivery], style: &Style, w: &mut dyn Write) -> std::io::Result<()> {
    if list.is_empty() {
        writeln!(w, "No deliveries found.")?;
        return Ok(());
    }
    let mut last_event = None;
    for d in list {
        if last_event != Some(&d.event_id) {
            writeln!(
                w,
                "EVENT {}  {}  received {} ago",
                d.event_id,
                d.event,
                age(Some(d.received_at), style.now)
            )?;
            last_event = Some(&d.event_id);
        }
        let rule = d.rule.as_deref().map_or_else(
            || format!("rule {}", d.rule_id),
            |r| format!("MeshesRule/{r}"),
        );
        let attempts = match d.attempt_count {
            1 => "1 attempt".to_owned(),
            n => format!("{n} attempts"),
        };
        writeln!(
            w,
            "  {rule}  {}  {attempts}",
            style.paint(&d.short(), delivery_paint(d))
        )?;
        for a in &d.attempts {
            let status = a
                .response_status
                .map_or_else(|| "no response".to_owned(), |s| format!("HTTP {s}"));
            let paint = if a.outcome_code == "delivered" {
                Paint::Good
            } else {
                Paint::Bad
            };
            let mut line = format!(
                "    #{:<2} {}  {status}",
                a.number.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                style.paint(&a.outcome_code, paint),
            );
            if let Some(ms) = a.duration_ms {
                line.push_str(&format!("  {ms}ms"));
            }
            // The emulator (and Meshes) often say just "HTTP 500": no need to say it twice.
            if let Some(m) = a
                .message
                .as_deref()
                .filter(|m| !m.is_empty() && *m != status)
            {
                line.push_str(&format!("  {m}"));
            }
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ages_read_like_kubectl() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 10, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let ago = |s: i64| age(Some(now - chrono::Duration::seconds(s)), now);
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(200), "3m20s");
        assert_eq!(ago(3000), "50m");
        assert_eq!(ago(4 * 3600 + 300), "4h5m");
        assert_eq!(ago(20 * 3600), "20h");
        assert_eq!(ago(3 * 86_400), "3d");
        assert_eq!(ago(-5), "0s");
        assert_eq!(age(None, now), "<unknown>");
    }

    #[test]
    fn colour_only_when_asked_and_never_changes_the_width() {
        let now = Utc::now();
        let plain = Style { color: false, now };
        let color = Style { color: true, now };
        assert_eq!(plain.paint("True", Paint::Good), "True");
        let c = color.paint("True", Paint::Good);
        assert!(c.starts_with("\x1b[32m") && c.ends_with("\x1b[0m"));
        assert_eq!(color.paint("x", Paint::Plain), "x");
    }
}
