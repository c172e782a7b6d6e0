//! `chart`: an SVG bar chart of send throughput, before against after (median of the runs in
//! each JSON-lines file), written by hand so the bench needs no plotting library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::ChartArgs;
use crate::num;

/// (backend, configuration) -> median msgs/s, for the `send` scenario of one file.
fn send_medians(path: &Path) -> Result<BTreeMap<(String, String), f64>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut runs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v.get("scenario").and_then(Value::as_str) != Some("send") {
            continue;
        }
        let backend = text_of(&v, "backend");
        for cell in v
            .get("cells")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(x) = cell.pointer("/metrics/msgs_per_s").and_then(Value::as_f64) {
                let key = text_of(cell, "key");
                runs.entry((backend.clone(), key)).or_default().push(x);
            }
        }
    }
    Ok(runs
        .into_iter()
        .filter_map(|(k, mut xs)| {
            xs.sort_by(f64::total_cmp);
            Some((k, *xs.get(xs.len() / 2)?))
        })
        .collect())
}

/// A string field of a result line, "?" when absent.
fn text_of(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

pub fn run(args: &ChartArgs) -> Result<()> {
    let before = send_medians(&args.before)?;
    let after = send_medians(&args.after)?;
    // (configuration, before, after) for each configuration measured in both files.
    let groups: Vec<(&(String, String), f64, f64)> = after
        .iter()
        .filter_map(|(k, a)| Some((k, *before.get(k)?, *a)))
        .collect();
    let top = groups
        .iter()
        .flat_map(|(_, b, a)| [*b, *a])
        .fold(1.0_f64, f64::max);
    let (w, h, left, bottom, top_pad) = (980.0, 420.0, 70.0, 90.0, 40.0);
    let plot_h = h - bottom - top_pad;
    let slot = (w - left - 20.0) / num::float_usize(groups.len().max(1));
    let bar = slot * 0.36;
    let y = |v: f64| top_pad + plot_h * (1.0 - v / top);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="{left}" y="22" font-size="14" font-weight="bold">send throughput, msgs/s (median of runs): before (grey) and after (blue)</text>"##
    );
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            w - 20.0,
            left - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (i, (key, before, after)) in groups.iter().enumerate() {
        let x = left + slot * num::float_usize(i) + slot * 0.14;
        for (j, (value, color)) in [(*before, "#9aa0a6"), (*after, "#3b5bdb")]
            .into_iter()
            .enumerate()
        {
            let bx = x + bar * num::float_usize(j);
            let _ = writeln!(
                svg,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="{color}"><title>{value:.0}</title></rect>"#,
                y(value),
                top_pad + plot_h - y(value)
            );
        }
        let label_x = x + bar;
        let _ = writeln!(
            svg,
            r##"<text x="{label_x:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{label_x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            h - bottom + 16.0,
            key.1,
            h - bottom + 30.0,
            key.0
        );
    }
    svg.push_str("</svg>\n");
    std::fs::write(&args.out, svg).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("roomcast-bench: wrote {}", args.out.display());
    Ok(())
}
