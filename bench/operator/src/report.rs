//! Output: a table on stdout (metric, value, target) and a JSON file per scenario.

use std::path::Path;

use serde_json::Value;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub metric: String,
    /// The measured value.
    pub value: String,
    /// The target, if there is one.
    pub target: String,
}

/// A row.
pub fn row(metric: impl Into<String>, value: impl Into<String>, target: &str) -> Row {
    Row {
        metric: metric.into(),
        value: value.into(),
        target: target.to_string(),
    }
}

/// Prints `rows` under `title`.
#[allow(clippy::print_stdout)]
pub fn print(title: &str, rows: &[Row]) {
    println!("\n== {title}");
    let w = rows.iter().map(|r| r.metric.len()).max().unwrap_or(10);
    let v = rows.iter().map(|r| r.value.len()).max().unwrap_or(10);
    for r in rows {
        println!("  {:<w$}  {:>v$}  {}", r.metric, r.value, r.target);
    }
}

/// Writes `value` to `<dir>/<name>.json`.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(value)?,
    )?;
    Ok(())
}

/// The `q` quantile (0–1) of `values` (nearest rank), or 0 when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
