//! The space-time picture, as XPVM drew it: one row per task (down the
//! side), time across; a task is green while it computes (alive, outside
//! PVM calls), yellow while it is inside a PVM call (overhead) and white
//! while it waits in a receive; red lines go from each send to the
//! receive that took the message. PNG or SVG, drawn with plotters.

use crate::model::Model;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// Computing: the task is alive and outside PVM.
const COMPUTING: RGBColor = RGBColor(34, 160, 60);
/// Overhead: inside a PVM call.
const OVERHEAD: RGBColor = RGBColor(235, 200, 30);
/// Waiting for a message.
const WAITING: RGBColor = RGBColor(255, 255, 255);
/// Message lines.
const MESSAGE: RGBColor = RGBColor(210, 30, 30);

/// Where a system TrueType font may be (Debian's fonts-dejavu-core and
/// others); text is left out when none is found.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Registers a font for "sans-serif"; whether text can be drawn.
pub fn load_font() -> bool {
    let path = std::env::var("PVMTRACE_FONT").ok();
    let candidates = path.iter().map(String::as_str).chain(FONTS.iter().copied());
    for p in candidates {
        if let Ok(bytes) = std::fs::read(p) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// The picture's default size for `m`: 1200 wide, 40 pixels per task
/// plus room for the title and the time axis.
pub fn default_size(m: &Model) -> (u32, u32) {
    (1200, 110 + 40 * m.tasks.len().max(1) as u32)
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// Draws `m` on `root`.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: &Model,
    title: &str,
    text: bool,
) -> Res
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = m.tasks.len().max(1) as f64;
    let span = (m.t1 - m.t0) as f64 / 1e6;
    let x = |t: i64| (t - m.t0) as f64 / 1e6;
    // Row i has its centre at n - i - 0.5 (the first task on top).
    let row = |i: usize| n - i as f64 - 0.5;
    let mut b = ChartBuilder::on(root);
    b.margin(12).margin_right(24);
    if text {
        b.caption(title, ("sans-serif", 20))
            .x_label_area_size(36)
            .y_label_area_size(170);
    } else {
        b.x_label_area_size(10).y_label_area_size(20);
    }
    let mut chart = b.build_cartesian_2d(0f64..span.max(1e-6), 0f64..n)?;
    if text {
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .y_labels(0)
            .x_desc("seconds")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
    }
    let bar = 0.32;
    // Lifetimes: computing.
    chart.draw_series(m.tasks.iter().enumerate().map(|(i, t)| {
        Rectangle::new(
            [(x(t.start), row(i) - bar), (x(t.end), row(i) + bar)],
            COMPUTING.filled(),
        )
    }))?;
    // PVM calls: overhead, or waiting in a receive.
    chart.draw_series(m.slices.iter().filter_map(|s| {
        let i = m.row(s.tid)?;
        let c = if s.waits { WAITING } else { OVERHEAD };
        Some(Rectangle::new(
            [(x(s.start), row(i) - bar), (x(s.end), row(i) + bar)],
            c.filled(),
        ))
    }))?;
    chart.draw_series(m.slices.iter().filter(|s| s.waits).filter_map(|s| {
        let i = m.row(s.tid)?;
        Some(Rectangle::new(
            [(x(s.start), row(i) - bar), (x(s.end), row(i) + bar)],
            RGBColor(150, 150, 150).stroke_width(1),
        ))
    }))?;
    // Messages.
    chart.draw_series(m.messages.iter().filter_map(|msg| {
        let a = m.row(msg.from)?;
        let b = m.row(msg.to)?;
        Some(PathElement::new(
            vec![(x(msg.sent), row(a)), (x(msg.received), row(b))],
            MESSAGE.stroke_width(2),
        ))
    }))?;
    if text {
        for (i, t) in m.tasks.iter().enumerate() {
            let (_, py) = chart.backend_coord(&(0.0, row(i)));
            let host = m
                .hosts
                .get(&t.host())
                .map(|h| format!(" @{h}"))
                .unwrap_or_default();
            root.draw(&Text::new(
                format!("{}{host}", m.label(t)),
                (14, py - 8),
                ("sans-serif", 14).into_font().color(&BLACK),
            ))?;
        }
        // The legend, under the title on the right.
        let (w, _) = root.dim_in_pixel();
        let items = [
            ("computing", COMPUTING),
            ("in PVM", OVERHEAD),
            ("waiting", WAITING),
            ("message", MESSAGE),
        ];
        let mut lx = w as i32 - 420;
        for (name, c) in items {
            root.draw(&Rectangle::new([(lx, 14), (lx + 14, 26)], c.filled()))?;
            root.draw(&Rectangle::new(
                [(lx, 14), (lx + 14, 26)],
                BLACK.stroke_width(1),
            ))?;
            root.draw(&Text::new(
                name,
                (lx + 18, 12),
                ("sans-serif", 13).into_font(),
            ))?;
            lx += 100;
        }
    }
    root.present()?;
    Ok(())
}

/// Writes the picture as PNG.
pub fn png(m: &Model, path: &str, size: (u32, u32), title: &str, text: bool) -> Res {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    draw(&root, m, title, text)
}

/// Writes the picture as SVG.
pub fn svg(m: &Model, path: &str, size: (u32, u32), title: &str, text: bool) -> Res {
    let root = SVGBackend::new(path, size).into_drawing_area();
    draw(&root, m, title, text)
}
