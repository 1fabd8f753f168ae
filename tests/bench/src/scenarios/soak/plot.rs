//! The soak's PNG: three panels over the run's time — the runner's resident set, Redis
//! memory (`used_memory`, the part of it not kept by design, and the live state judged), and p99 latency per
//! request kind per interval (log scale) — each with the end of the warm-up marked.
//!
//! Drawn with `plotters`' bitmap backend; its text needs a TrueType font, read at run time
//! from the usual Debian places (`fonts-dejavu-core`, which `infra/bench` installs when it
//! is missing) or from `RHOSYNC_BENCH_FONT`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;

use super::record::{Interval, Sample, KINDS};

/// Where a sans-serif TTF is looked for, first match wins.
const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// The font file to draw text with.
pub fn find_font() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RHOSYNC_BENCH_FONT").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(path);
    }
    FONT_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Registers the font once per process (plotters keeps it for the process's lifetime).
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = find_font().ok_or_else(|| {
                format!("no TrueType font found ({} or RHOSYNC_BENCH_FONT)", FONT_CANDIDATES.join(", "))
            })?;
            let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            // plotters wants the font for the rest of the process: leak this one copy.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a usable TrueType font", path.display()))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A colour per request kind, distinct enough on white.
fn kind_colour(i: usize) -> RGBColor {
    const COLOURS: [RGBColor; 9] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(23, 190, 207),
    ];
    COLOURS[i % COLOURS.len()]
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the plot: {e}")
}

/// Draws the plot into `path` (PNG, by its extension).
pub fn render(path: &Path, title: &str, samples: &[Sample], intervals: &[Interval], warmup_s: f64) -> Result<()> {
    register_font()?;
    if samples.is_empty() {
        bail!("no samples to plot");
    }
    let end_s = samples.iter().map(|s| s.t_s).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (1400, 1350)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 26)).map_err(err)?;
    let panels = root.split_evenly((3, 1));

    // 1. Runner RSS.
    let rss: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((s.t_s, mib(s.runner_rss_bytes?)))).collect();
    let top = rss.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("runner resident set (VmRSS)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_s, 0.0..top)
        .map_err(err)?;
    chart.configure_mesh().x_desc("seconds").y_desc("MiB").label_style(("sans-serif", 15)).draw().map_err(err)?;
    warmup_line(&mut chart, warmup_s, top)?;
    chart
        .draw_series(LineSeries::new(rss, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("runner RSS")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    legend(&mut chart)?;

    // 2. Redis memory.
    let used: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((s.t_s, mib(s.redis_used_memory?)))).collect();
    let rest: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((s.t_s, mib(s.redis_remainder()?)))).collect();
    let live: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((s.t_s, mib(s.redis_live_state()?)))).collect();
    let kept: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            let r = s.redis.as_ref()?;
            Some((s.t_s, mib(r.history_bytes + r.write_record_bytes + r.stats_bytes)))
        })
        .collect();
    let top = used.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("Redis memory", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_s, 0.0..top)
        .map_err(err)?;
    chart.configure_mesh().x_desc("seconds").y_desc("MiB").label_style(("sans-serif", 15)).draw().map_err(err)?;
    warmup_line(&mut chart, warmup_s, top)?;
    let series = [
        ("used_memory", used, RGBColor(214, 39, 40)),
        ("used_memory less history, write records, statistics", rest, RGBColor(44, 160, 44)),
        ("history + write records + statistics (kept by design)", kept, RGBColor(127, 127, 127)),
        ("live state: MEMORY USAGE of all other keys (judged)", live, RGBColor(31, 119, 180)),
    ];
    for (label, points, colour) in series {
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    legend(&mut chart)?;

    // 3. p99 per kind per interval.
    let mut lines: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let points: Vec<(f64, f64)> = intervals
            .iter()
            .filter_map(|w| w.kinds.get(*kind).map(|l| ((w.start_s + w.end_s) / 2.0, l.p99_ms.max(0.01))))
            .collect();
        if !points.is_empty() {
            lines.push((i, points));
        }
    }
    let top = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(1.0, f64::max) * 2.0;
    let bottom = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(top, f64::min).max(0.01) / 2.0;
    let mut chart = ChartBuilder::on(&panels[2])
        .caption("p99 latency per request kind per interval", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_s, (bottom..top).log_scale())
        .map_err(err)?;
    chart.configure_mesh().x_desc("seconds").y_desc("ms (log)").label_style(("sans-serif", 15)).draw().map_err(err)?;
    chart.draw_series(LineSeries::new([(warmup_s, bottom), (warmup_s, top)], BLACK.mix(0.4))).map_err(err)?;
    for (i, points) in lines {
        let colour = kind_colour(i);
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(KINDS[i])
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    legend(&mut chart)?;
    root.present().with_context(|| format!("writing {}", path.display()))
}

type Chart<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A grey vertical line where the warm-up ends.
fn warmup_line(chart: &mut Chart<'_>, warmup_s: f64, top: f64) -> Result<()> {
    chart
        .draw_series(LineSeries::new([(warmup_s, 0.0), (warmup_s, top)], BLACK.mix(0.4)))
        .map_err(err)?
        .label("end of warm-up")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    Ok(())
}

fn legend<'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::super::record::{IntervalLatency, RedisBreakdown};
    use super::*;

    #[test]
    fn draws_a_png_when_a_font_is_installed() {
        if find_font().is_none() {
            eprintln!("no TrueType font on this machine: the plot is not drawn");
            return;
        }
        let samples: Vec<Sample> = (0..7)
            .map(|i| Sample {
                t_s: f64::from(i) * 10.0,
                runner_rss_bytes: Some(40 << 20),
                redis_used_memory: Some((20 + i as u64) << 20),
                redis: Some(RedisBreakdown { history_bytes: (i as u64) << 20, ..Default::default() }),
                ..Default::default()
            })
            .collect();
        let intervals: Vec<Interval> = (0..7)
            .map(|i| Interval {
                start_s: f64::from(i) * 10.0,
                end_s: f64::from(i + 1) * 10.0,
                errors: 0,
                kinds: [("query".to_owned(), IntervalLatency { n: 10, p50_ms: 1.0, p99_ms: 3.0 + f64::from(i) })]
                    .into_iter()
                    .collect(),
            })
            .collect();
        let path = std::env::temp_dir().join(format!("rhosync-soak-plot-{}.png", std::process::id()));
        render(&path, "test", &samples, &intervals, 20.0).expect("plot drawn");
        let bytes = std::fs::read(&path).expect("png written");
        assert_eq!(&bytes[1..4], b"PNG");
        let _ = std::fs::remove_file(path);
    }
}
