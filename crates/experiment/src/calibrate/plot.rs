//! A calibration's picture (PNG): the moment fit (each moment's model value against
//! its target, in standard errors, with the 90% band), the loss over evaluations, and
//! the search in parameter space (the first two free parameters, or the one against
//! the loss) with the estimate and its 90% interval.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::calibrate::estimate::Z90;
use crate::calibrate::search::{Kind, Outcome};
use crate::calibrate::spec::{CalibrationSpec, Target};
use crate::execute::ExperimentError;
use crate::plot::{de, font, register_font};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws the picture into `path`.
pub fn draw(spec: &CalibrationSpec, o: &Outcome, path: &Path) -> Result<(), ExperimentError> {
    register_font();
    let err = |e: String| ExperimentError::File { path: path.display().to_string(), message: e };
    let m = o.uncertainty.moments.len() as u32;
    let top = 120 + 34 * m;
    let root = BitMapBackend::new(path, (1200, top + 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (upper, lower) = root.split_vertically(top);
    let (left, right) = lower.split_horizontally(600);
    fit(&upper, spec, o).map_err(err)?;
    loss(&left, o).map_err(err)?;
    space(&right, spec, o).map_err(err)?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

fn fit(area: &Area<'_>, spec: &CalibrationSpec, o: &Outcome) -> Result<(), String> {
    let rows = &o.uncertainty.moments;
    let z: Vec<f64> = rows.iter().map(|r| (r.model - r.target) / r.se).collect();
    let reach = z.iter().filter(|v| v.is_finite()).fold(3.0f64, |a, v| a.max(v.abs() * 1.1));
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: each moment's model value against its target, in standard errors (grey: the 90% band)",
                spec.base.name
            ),
            font(18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(460)
        .build_cartesian_2d(-reach..reach, -0.5..(n - 0.5))
        .map_err(de)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("(model − target) / se")
        .label_style(font(13))
        .axis_desc_style(font(14))
        .draw()
        .map_err(de)?;
    chart
        .draw_series(std::iter::once(Rectangle::new([(-Z90, -0.5), (Z90, n - 0.5)], RGBColor(225, 225, 225).filled())))
        .map_err(de)?;
    chart.draw_series(LineSeries::new([(0.0, -0.5), (0.0, n - 0.5)], BLACK.stroke_width(1))).map_err(de)?;
    for (i, (r, z)) in rows.iter().zip(&z).enumerate() {
        let y = n - 1.0 - i as f64;
        // The label goes in the label area left of the plot, at the row's height.
        let label = format!("{}  target {:.4}, model {:.4} (se {:.4})", r.name, r.target, r.model, r.se);
        let (px, py) = chart.backend_coord(&(-reach, y));
        let (bx, by) = area.get_base_pixel();
        area.draw(&Text::new(label, (px - bx - 450, py - by - 7), font(13))).map_err(de)?;
        if z.is_finite() {
            let colour = if z.abs() <= Z90 { RGBColor(30, 90, 180) } else { RGBColor(200, 40, 40) };
            chart.draw_series(std::iter::once(Circle::new((*z, y), 6, colour.filled()))).map_err(de)?;
        }
    }
    Ok(())
}

fn loss(area: &Area<'_>, o: &Outcome) -> Result<(), String> {
    let points: Vec<(f64, f64, Kind)> = o
        .evaluations
        .iter()
        .filter(|e| e.loss.is_finite() && e.loss > 0.0 && matches!(e.kind, Kind::Search))
        .map(|e| (e.index as f64, e.loss.log10(), e.kind))
        .collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) };
    let last = o.evaluations.len().max(2) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("loss over the evaluations (log10)", font(16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last, lo..hi + 0.05 * (hi - lo))
        .map_err(de)?;
    chart.configure_mesh().x_desc("evaluation").label_style(font(12)).axis_desc_style(font(13)).draw().map_err(de)?;
    chart
        .draw_series(points.iter().map(|(x, y, _)| Circle::new((*x, *y), 3, RGBColor(30, 90, 180).filled())))
        .map_err(de)?;
    let mut best = f64::INFINITY;
    let running: Vec<(f64, f64)> = points
        .iter()
        .map(|(x, y, _)| {
            best = best.min(*y);
            (*x, best)
        })
        .collect();
    chart.draw_series(LineSeries::new(running, RGBColor(200, 40, 40).stroke_width(2))).map_err(de)?;
    Ok(())
}

fn space(area: &Area<'_>, spec: &CalibrationSpec, o: &Outcome) -> Result<(), String> {
    let search: Vec<_> = o.evaluations.iter().filter(|e| e.kind == Kind::Search).collect();
    let f0 = &spec.free[0];
    let (i0, i1) = (o.uncertainty.intervals[0], o.uncertainty.intervals.get(1).copied());
    let truth = match &spec.target {
        Target::Synthetic { set, .. } => spec
            .free
            .iter()
            .map(|f| {
                set.iter().find(|s| s.key == f.key).and_then(|s| match s.value {
                    watchtower_engine::RawValue::Float(x) => Some(x),
                    watchtower_engine::RawValue::Int(i) => Some(i as f64),
                    _ => None,
                })
            })
            .collect::<Option<Vec<f64>>>(),
        Target::Data(_) => None,
    };
    if spec.free.len() == 1 {
        let ys: Vec<f64> =
            search.iter().filter(|e| e.loss > 0.0 && e.loss.is_finite()).map(|e| e.loss.log10()).collect();
        let (lo, hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(*y), b.max(*y)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) };
        let mut chart = ChartBuilder::on(area)
            .caption("the search: log10 loss against the parameter (red: estimate and 90% interval)", font(14))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(f0.min..f0.max, lo..hi)
            .map_err(de)?;
        chart
            .configure_mesh()
            .x_desc(f0.key.as_str())
            .label_style(font(12))
            .axis_desc_style(font(13))
            .draw()
            .map_err(de)?;
        chart
            .draw_series(
                search
                    .iter()
                    .filter(|e| e.loss > 0.0 && e.loss.is_finite())
                    .map(|e| Circle::new((f0.value(e.unit[0]), e.loss.log10()), 3, RGBColor(30, 90, 180).filled())),
            )
            .map_err(de)?;
        chart
            .draw_series(LineSeries::new([(i0.0, lo), (i0.1, lo)], RGBColor(200, 40, 40).stroke_width(4)))
            .map_err(de)?;
        chart
            .draw_series(LineSeries::new(
                [(o.estimates[0], lo), (o.estimates[0], hi)],
                RGBColor(200, 40, 40).stroke_width(2),
            ))
            .map_err(de)?;
        if let Some(t) = truth {
            chart.draw_series(LineSeries::new([(t[0], lo), (t[0], hi)], BLACK.stroke_width(1))).map_err(de)?;
        }
        return Ok(());
    }
    let f1 = &spec.free[1];
    let mut chart = ChartBuilder::on(area)
        .caption(
            if truth.is_some() {
                "the search (darker: lower loss); red: estimate, 90% box; black: truth"
            } else {
                "the search (darker: lower loss); red: estimate and its 90% box"
            },
            font(14),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(f0.min..f0.max, f1.min..f1.max)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc(f0.key.as_str())
        .y_desc(f1.key.as_str())
        .label_style(font(12))
        .axis_desc_style(font(13))
        .draw()
        .map_err(de)?;
    let mut ranked: Vec<_> = search.iter().filter(|e| e.loss.is_finite()).collect();
    ranked.sort_by(|a, b| b.loss.total_cmp(&a.loss));
    let n = ranked.len().max(1) as f64;
    chart
        .draw_series(ranked.iter().enumerate().map(|(k, e)| {
            let shade = (210.0 * (1.0 - k as f64 / n)) as u8;
            Circle::new((f0.value(e.unit[0]), f1.value(e.unit[1])), 3, RGBColor(shade, shade, 255).filled())
        }))
        .map_err(de)?;
    if let Some(i1) = i1 {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(i0.0, i1.0), (i0.1, i1.1)],
                RGBColor(200, 40, 40).stroke_width(2),
            )))
            .map_err(de)?;
    }
    chart
        .draw_series(std::iter::once(Circle::new((o.estimates[0], o.estimates[1]), 6, RGBColor(200, 40, 40).filled())))
        .map_err(de)?;
    if let Some(t) = truth {
        chart.draw_series(std::iter::once(Cross::new((t[0], t[1]), 7, BLACK.stroke_width(2)))).map_err(de)?;
    }
    Ok(())
}
