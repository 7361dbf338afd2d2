//! The convergence plot: Ready custom resources over time for each measured run, against the
//! lower bound (a run can make at most R calls a second and a tenant needs 5), as a hand-written
//! SVG so the bench needs no plotting dependency.

use std::fmt::Write;

/// One line of the plot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend.
    pub label: String,
    /// (seconds, Ready count).
    pub points: Vec<(f64, usize)>,
    /// Ready count when done (the bound reaches it at `bound_s`).
    pub total: usize,
    /// The lower bound of the time to converge, seconds.
    pub bound_s: f64,
}

const W: f64 = 720.0;
const H: f64 = 400.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// The SVG text of the plot.
pub fn svg(title: &str, series: &[Series]) -> String {
    let t_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0).chain([s.bound_s]))
        .fold(1.0_f64, f64::max)
        * 1.05;
    let y_max = series.iter().map(|s| s.total).max().unwrap_or(1).max(1) as f64 * 1.05;
    let x = |t: f64| LEFT + t / t_max * (W - LEFT - 20.0);
    let y = |n: f64| H - BOTTOM - n / y_max * (H - BOTTOM - 30.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="18" font-size="14">{}</text>"#,
        LEFT,
        escape(title)
    );
    // Axes and ticks.
    let _ = writeln!(
        out,
        r#"<path d="M{LEFT},{top} V{base} H{right}" stroke="black" fill="none"/>"#,
        top = 30.0,
        base = H - BOTTOM,
        right = W - 20.0
    );
    for i in 0..=5 {
        let t = t_max / 5.0 * f64::from(i);
        let n = y_max / 5.0 * f64::from(i);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.0} s</text>"#,
            x(t),
            H - BOTTOM + 16.0,
            t
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
            LEFT - 6.0,
            y(n) + 4.0,
            n
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">Ready custom resources</text>"#,
        (LEFT + W) / 2.0,
        H - 6.0,
        H / 2.0,
        H / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut d = format!("M{:.1},{:.1}", x(0.0), y(0.0));
        for (t, n) in &s.points {
            let _ = write!(d, " L{:.1},{:.1}", x(*t), y(*n as f64));
        }
        let _ = writeln!(
            out,
            r#"<path d="{d}" stroke="{colour}" stroke-width="1.5" fill="none"/>"#
        );
        let _ = writeln!(
            out,
            r#"<path d="M{:.1},{:.1} L{:.1},{:.1}" stroke="{colour}" stroke-dasharray="5,4" fill="none"/>"#,
            x(0.0),
            y(0.0),
            x(s.bound_s),
            y(s.total as f64)
        );
        let ly = 40.0 + 16.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{ly:.1}" fill="{colour}">{} (dashed: lower bound {:.1} s)</text>"#,
            LEFT + 12.0,
            escape(&s.label),
            s.bound_s
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
