//! Pictures of an experiment, as PNG, drawn with plotters and a bundled font (DejaVu
//! Sans, `assets/fonts`), so nothing needs system font libraries.
//!
//! - Two axes or more: a **heat map** of a summary column over the first two axes
//!   (averaged over seeds and any further axes), with the Mark-0 phase of each cell
//!   written in it and the borders between phases outlined.
//! - One axis: the column's mean across seeds against the axis, with its 95% band.
//! - A Sobol design: its **Sobol indices** as bars with their intervals ([`sensitivity`]).
//! - No axis (an ensemble): a **fan chart** of the column's indicator over ticks: the
//!   mean across seeds and its 95% confidence band, for the baseline and, with a fork,
//!   the branch.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor;

use watchtower_runner::report::{EconomicPhase, PHASE_SYMBOLS};

pub use crate::cells::plottable;
use crate::cells::{Scale, Source, cells, column_unit, source};
use crate::execute::ExperimentError;
use crate::spec::{ExperimentSpec, show};
use crate::table::ExperimentTable;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("the bundled font is not a valid TrueType font");
        }
    });
}

/// The column to draw: `chosen`, or the first indicator's mean; refused (naming the
/// choices) if the experiment has no such column. Checked before an experiment starts,
/// so a mistyped `--plot-summary` costs no runs.
pub fn column(spec: &ExperimentSpec, chosen: Option<&str>) -> Result<String, ExperimentError> {
    let column = chosen.map_or_else(|| format!("{}_mean", spec.indicators[0]), str::to_owned);
    let choices = plottable(spec);
    if !choices.contains(&column) {
        return Err(ExperimentError::Other(format!(
            "--plot-summary {column}: not a column of this experiment; choose one of {}",
            choices.join(", ")
        )));
    }
    Ok(column)
}

/// Draws `table`'s picture of `column` into `path` (PNG).
pub fn plot(table: &ExperimentTable, column: &str, path: &Path) -> Result<(), ExperimentError> {
    register_font();
    let spec = table.spec();
    let src = source(spec, column).ok_or_else(|| {
        ExperimentError::Other(format!(
            "--plot-summary {column}: not a column of this experiment; choose one of {}",
            plottable(spec).join(", ")
        ))
    })?;
    if spec.design != crate::design::Design::Grid {
        // A Sobol design's picture is its indices.
        let results = crate::sensitivity::of_batch(&table.to_record_batch(), &[column.to_string()])?;
        return sensitivity(&spec.name, &results, path);
    }
    let err = |e: String| ExperimentError::File { path: path.display().to_string(), message: e };
    let root = BitMapBackend::new(path, (1000, 780)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let drawn = match spec.axes.len() {
        0 => fan(&root, table, column, src),
        1 => line(&root, table, column, src),
        _ => heat(&root, table, column, src),
    };
    drawn.map_err(err)?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

pub(crate) fn de<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn heat(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    table: &ExperimentTable,
    column: &str,
    src: Source,
) -> Result<(), String> {
    let spec = table.spec();
    let (xa, ya) = (&spec.axes[0], &spec.axes[1]);
    let (nx, ny) = (xa.values.len(), ya.values.len());
    let grid = cells(table, src, 0, Some(1));
    let cells: Vec<f64> = grid.iter().map(|c| c.value.mean).collect();
    let phase: Vec<Option<EconomicPhase>> = grid.iter().map(|c| c.phase).collect();
    let scale = Scale::of(cells.iter().copied());
    let (lo, hi) = (scale.lo, scale.hi);

    let (left, top, gw, gh) = (120i32, 80i32, 700i32, 580i32);
    let cw = gw as f64 / nx as f64;
    let ch = gh as f64 / ny as f64;
    let rect = |ix: usize, iy: usize| {
        let x0 = left + (ix as f64 * cw).round() as i32;
        let x1 = left + ((ix + 1) as f64 * cw).round() as i32;
        let y1 = top + gh - (iy as f64 * ch).round() as i32;
        let y0 = top + gh - ((iy + 1) as f64 * ch).round() as i32;
        (x0, y0, x1, y1)
    };
    let seeds = spec.seeds.len();
    let title = format!("{}: {column}", spec.name);
    root.draw(&Text::new(title, (left, 20), font(24))).map_err(de)?;
    let sub = format!(
        "mean over {seeds} seed{}{}, ticks {}–{}; cells: phase (FU, RU, EC, FE), white lines: phase borders",
        if seeds == 1 { "" } else { "s" },
        if spec.axes.len() > 2 { " and the further axes" } else { "" },
        spec.warmup,
        spec.ticks - 1
    );
    root.draw(&Text::new(sub, (left, 52), font(14))).map_err(de)?;
    for ix in 0..nx {
        for iy in 0..ny {
            let (x0, y0, x1, y1) = rect(ix, iy);
            let v = cells[ix * ny + iy];
            let color =
                if v.is_finite() { ViridisRGB::get_color_normalized(v, lo, hi) } else { RGBColor(220, 220, 220) };
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled())).map_err(de)?;
            if let Some(p) = phase[ix * ny + iy]
                && cw >= 22.0
                && ch >= 14.0
            {
                let light = !v.is_finite() || (v - lo) / (hi - lo) > 0.6;
                let size = (ch * 0.45).clamp(9.0, 16.0) as u32;
                let style = font(size)
                    .color(if light { &BLACK } else { &WHITE })
                    .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Center));
                root.draw(&Text::new(p.code(), ((x0 + x1) / 2, (y0 + y1) / 2), style)).map_err(de)?;
            }
        }
    }
    // Phase borders.
    let border = ShapeStyle::from(&WHITE).stroke_width(3);
    for ix in 0..nx {
        for iy in 0..ny {
            let here = phase[ix * ny + iy];
            let (x0, y0, x1, _) = rect(ix, iy);
            if ix + 1 < nx && phase[(ix + 1) * ny + iy] != here {
                root.draw(&PathElement::new(vec![(x1, y0), (x1, rect(ix, iy).3)], border)).map_err(de)?;
            }
            if iy + 1 < ny && phase[ix * ny + iy + 1] != here {
                root.draw(&PathElement::new(vec![(x0, y0), (x1, y0)], border)).map_err(de)?;
            }
        }
    }
    // Axes: labels at cell centres, thinned to fit.
    let every_x = nx.div_ceil(14).max(1);
    for ix in (0..nx).step_by(every_x) {
        let (x0, _, x1, _) = rect(ix, 0);
        let style = font(13).pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Top));
        root.draw(&Text::new(short(&xa.values[ix]), ((x0 + x1) / 2, top + gh + 6), style)).map_err(de)?;
    }
    let every_y = ny.div_ceil(20).max(1);
    for iy in (0..ny).step_by(every_y) {
        let (_, y0, _, y1) = rect(0, iy);
        let style = font(13).pos(text_anchor::Pos::new(text_anchor::HPos::Right, text_anchor::VPos::Center));
        root.draw(&Text::new(short(&ya.values[iy]), (left - 6, (y0 + y1) / 2), style)).map_err(de)?;
    }
    let style = font(16).pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Top));
    root.draw(&Text::new(axis_title(&xa.key), (left + gw / 2, top + gh + 30), style)).map_err(de)?;
    let style = font(16)
        .transform(FontTransform::Rotate270)
        .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Center));
    root.draw(&Text::new(axis_title(&ya.key), (left - 75, top + gh / 2), style)).map_err(de)?;
    // Colour bar.
    let (bx, bw) = (left + gw + 40, 24);
    for k in 0..gh {
        let f = 1.0 - k as f64 / gh as f64;
        let c = ViridisRGB::get_color_normalized(lo + f * (hi - lo), lo, hi);
        root.draw(&Rectangle::new([(bx, top + k), (bx + bw, top + k + 1)], c.filled())).map_err(de)?;
    }
    // Its round ticks, and its title: the column and its unit.
    for &t in &scale.ticks {
        let y = top + gh - ((t - lo) / (hi - lo) * gh as f64).round() as i32;
        root.draw(&PathElement::new(vec![(bx + bw, y), (bx + bw + 4, y)], BLACK.stroke_width(1))).map_err(de)?;
        let style = font(13).pos(text_anchor::Pos::new(text_anchor::HPos::Left, text_anchor::VPos::Center));
        root.draw(&Text::new(number(t), (bx + bw + 7, y), style)).map_err(de)?;
    }
    let style = font(14)
        .transform(FontTransform::Rotate270)
        .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Center));
    let bar_title = format!("{column} · {}", column_unit(spec, src));
    root.draw(&Text::new(bar_title, (bx + bw + 80, top + gh / 2), style)).map_err(de)?;
    // What the phases written in the cells are.
    let legend = EconomicPhase::ALL.map(|p| format!("{} {}: {}", p.code(), p.name(), p.rule()));
    let style = font(13);
    root.draw(&Text::new(format!("{} · {}", legend[0], legend[1]), (left - 80, top + gh + 58), style.clone()))
        .map_err(de)?;
    root.draw(&Text::new(format!("{} · {}", legend[2], legend[3]), (left - 80, top + gh + 76), style.clone()))
        .map_err(de)?;
    root.draw(&Text::new(PHASE_SYMBOLS, (left - 80, top + gh + 94), style)).map_err(de)?;
    Ok(())
}

fn line(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    table: &ExperimentTable,
    column: &str,
    src: Source,
) -> Result<(), String> {
    let spec = table.spec();
    let axis = &spec.axes[0];
    let grid = cells(table, src, 0, None);
    let xs: Vec<f64> = axis.values.iter().map(as_f64).collect();
    let iv: Vec<_> = grid.iter().map(|c| c.value).collect();
    let (x0, x1) = bounds(xs.iter().copied());
    let (y0, y1) = bounds(iv.iter().flat_map(|i| [i.mean, i.lo, i.hi]));
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{}: {column}", spec.name), font(24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc(axis_title(&axis.key))
        .y_desc(format!("{column}: mean and 95% CI over {} seeds", spec.seeds.len()))
        .label_style(font(13))
        .axis_desc_style(font(16))
        .draw()
        .map_err(de)?;
    let band: Vec<(f64, f64)> = xs
        .iter()
        .zip(&iv)
        .filter(|(_, i)| i.lo.is_finite())
        .map(|(x, i)| (*x, i.hi))
        .chain(xs.iter().zip(&iv).rev().filter(|(_, i)| i.lo.is_finite()).map(|(x, i)| (*x, i.lo)))
        .collect();
    if !band.is_empty() {
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.2).filled()))).map_err(de)?;
    }
    let points: Vec<(f64, f64)> =
        xs.iter().zip(&iv).filter(|(_, i)| i.mean.is_finite()).map(|(x, i)| (*x, i.mean)).collect();
    chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2))).map_err(de)?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, BLUE.filled()))).map_err(de)?;
    let labels = xs.iter().zip(&grid).filter_map(|(x, c)| {
        let (p, i) = (c.phase?, c.value);
        i.mean.is_finite().then(|| {
            let style = font(12).pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Bottom));
            EmptyElement::at((*x, i.mean)) + Text::new(p.code(), (0, -8), style)
        })
    });
    chart.draw_series(labels).map_err(de)?;
    Ok(())
}

fn fan(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    table: &ExperimentTable,
    _column: &str,
    src: Source,
) -> Result<(), String> {
    let spec = table.spec();
    let (ind, arms): (usize, Vec<(&str, bool, RGBColor)>) = match src {
        Source::Baseline(i, _) | Source::Effect(i) if spec.fork.is_some() => {
            (i, vec![("baseline", false, BLUE), ("branch", true, RED)])
        }
        Source::Baseline(i, _) => (i, vec![("runs", false, BLUE)]),
        Source::Branch(i, _) => (i, vec![("branch", true, RED)]),
        Source::Effect(i) => (i, vec![("runs", false, BLUE)]),
    };
    let mut series = Vec::new();
    for (name, branch, color) in &arms {
        let arm = crate::fan::arm(table, ind, *branch);
        series.push((*name, *color, arm.points, arm.runs));
    }
    let (y0, y1) = bounds(series.iter().flat_map(|(_, _, p, _)| p.iter().flat_map(|(_, i)| [i.mean, i.lo, i.hi])));
    let indicator = &spec.indicators[ind];
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{}: {indicator}", spec.name), font(24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..spec.ticks as f64, y0..y1)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("tick")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(format!("{indicator}: mean across seeds and 95% CI"))
        .label_style(font(13))
        .axis_desc_style(font(16))
        .draw()
        .map_err(de)?;
    for (name, color, points, n) in &series {
        let band: Vec<(f64, f64)> = points
            .iter()
            .filter(|(_, i)| i.lo.is_finite())
            .map(|(x, i)| (*x, i.hi))
            .chain(points.iter().rev().filter(|(_, i)| i.lo.is_finite()).map(|(x, i)| (*x, i.lo)))
            .collect();
        if !band.is_empty() {
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled()))).map_err(de)?;
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().map(|(x, i)| (*x, i.mean)), color.stroke_width(2)))
            .map_err(de)?
            .label(format!("{name} ({n} seeds)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if let Some(fork) = &spec.fork {
        let t = fork.tick as f64;
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(t, y0), (t, y1)], BLACK.mix(0.5).stroke_width(1))))
            .map_err(de)?
            .label(format!("fork at tick {}", fork.tick))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(font(14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(de)?;
    Ok(())
}

fn as_f64(v: &watchtower_engine::RawValue) -> f64 {
    use watchtower_engine::RawValue as R;
    match v {
        R::Int(i) => *i as f64,
        R::Float(x) => *x,
        R::Bool(b) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

fn short(v: &watchtower_engine::RawValue) -> String {
    match v {
        watchtower_engine::RawValue::Float(x) => number(*x),
        other => show(other),
    }
}

fn number(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".into() } else { s.to_string() }
}

fn bounds(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        xs.filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
    (lo - pad, hi + pad)
}

/// An axis's title: its key, with the paper's symbol for the Mark-0 keys that have one.
fn axis_title(key: &str) -> String {
    let symbol = match key {
        "firms.hiring_firing_ratio" => Some("R"),
        "firms.bankruptcy_threshold" => Some("Θ"),
        "bank.policy_rate" => Some("ρ*"),
        "government.income_tax_rate" => Some("θ"),
        "firms.revival_probability" => Some("φ"),
        "households.price_sensitivity" => Some("β"),
        "bank.inflation_response" => Some("φπ"),
        _ => None,
    };
    match symbol {
        Some(s) => format!("{s} ({key})"),
        None => key.to_string(),
    }
}

/// Draws Sobol indices into `path` (PNG): per column, a panel with each parameter's
/// first-order (light) and total-order (dark) index as bars with their 95% intervals,
/// the largest total order on top.
pub fn sensitivity(
    name: &str,
    results: &[crate::sensitivity::ColumnIndices],
    path: &Path,
) -> Result<(), ExperimentError> {
    register_font();
    let err = |e: String| ExperimentError::File { path: path.display().to_string(), message: e };
    let heights: Vec<u32> = results.iter().map(|r| 110 + 56 * r.parameters.len() as u32).collect();
    let root = BitMapBackend::new(path, (1100, heights.iter().sum::<u32>().max(200))).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut rest = root.clone();
    for (r, h) in results.iter().zip(&heights) {
        let (panel, below) = rest.split_vertically(*h);
        sensitivity_panel(&panel, name, r).map_err(err)?;
        rest = below;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

fn sensitivity_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    name: &str,
    r: &crate::sensitivity::ColumnIndices,
) -> Result<(), String> {
    let order = r.by_total_order();
    let p = order.len();
    use crate::sensitivity::Measures;
    // Each parameter's two bars (value, half-width): S1 and ST, or Morris's σ and μ*.
    let bars: Vec<[(f64, f64); 2]> = match &r.measures {
        Measures::Sobol(ix) => ix.first.iter().map(|i| [(i.S1, i.S1_conf), (i.ST, i.ST_conf)]).collect(),
        Measures::Morris(e) => e.iter().map(|e| [(e.sigma, f64::NAN), (e.mu_star, e.mu_star_conf)]).collect(),
    };
    let (what, legend) = match &r.measures {
        Measures::Sobol(_) => {
            ("Sobol indices", "index, with its 95% bootstrap interval: first order (light), total order (dark)")
        }
        Measures::Morris(_) => ("Morris screening", "mu* (dark, with its 95% bootstrap interval) and sigma (light)"),
    };
    let ends = bars.iter().flat_map(|b| b.iter().flat_map(|(v, c)| [*v, v - c, v + c]));
    let floor = if matches!(r.measures, Measures::Sobol(_)) { 1.0f64 } else { 0.0 };
    let (lo, hi) = ends.filter(|x| x.is_finite()).fold((0.0f64, floor), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let seeds = if r.seeds > 1 { format!(", each point's mean over {} seeds", r.seeds) } else { String::new() };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{name}: {what} of {}{seeds}", r.column), font(20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d(lo..hi, -0.5..(p as f64 - 0.5))
        .map_err(de)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .y_label_formatter(&|_| String::new())
        .x_desc(legend)
        .label_style(font(13))
        .axis_desc_style(font(15))
        .draw()
        .map_err(de)?;
    let (light, dark) = (RGBColor(140, 180, 230), RGBColor(30, 80, 160));
    for (rank, &i) in order.iter().enumerate() {
        let y = (p - 1 - rank) as f64;
        let [(v1, c1), (v2, c2)] = bars[i];
        for (v, conf, at, color) in [(v1, c1, y + 0.2, light), (v2, c2, y - 0.2, dark)] {
            if !v.is_finite() {
                continue;
            }
            chart
                .draw_series(std::iter::once(Rectangle::new([(0.0, at - 0.17), (v, at + 0.17)], color.filled())))
                .map_err(de)?;
            if conf.is_finite() {
                let (a, b) = (v - conf, v + conf);
                let whiskers = [
                    vec![(a, at), (b, at)],
                    vec![(a, at - 0.08), (a, at + 0.08)],
                    vec![(b, at - 0.08), (b, at + 0.08)],
                ];
                chart
                    .draw_series(whiskers.into_iter().map(|w| PathElement::new(w, BLACK.stroke_width(2))))
                    .map_err(de)?;
            }
        }
        let (px, py) = chart.backend_coord(&(lo, y));
        let style = font(14).pos(text_anchor::Pos::new(text_anchor::HPos::Right, text_anchor::VPos::Center));
        let (ox, oy) = area.get_base_pixel();
        area.draw(&Text::new(r.parameters[i].clone(), (px - ox - 10, py - oy), style)).map_err(de)?;
    }
    Ok(())
}
