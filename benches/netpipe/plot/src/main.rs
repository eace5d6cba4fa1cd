//! Draws the benchmark's bandwidth plots from the CSV files that
//! benches/netpipe/run.sh writes, all from one run: `bandwidth.png` (one
//! host: pvm6's pvmbench series, Debian's NPpvm on PVM 3.4.6 and on pvm6,
//! NPtcp over loopback) and, when the two-host part ran,
//! `bandwidth-twohost.png` (the same between two namespace hosts).

use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

/// One line of the plot: label and (bytes, Gbps) points.
type Series = (String, Vec<(f64, f64)>);

/// NetPIPE output converted by run.sh: `bytes,Mbps,usec`.
fn netpipe(file: &Path) -> Vec<(f64, f64)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let b: f64 = f.next()?.parse().ok()?;
            let mbps: f64 = f.next()?.parse().ok()?;
            Some((b, mbps / 1000.0))
        })
        .collect()
}

/// pvmbench's CSV: `route,packing,bytes,usec,pingpong_X,...` with X in
/// MB/s (`to_gbps` 0.008, run.sh's pvm6.csv) or Gbps (1, twohost's CSVs).
fn pvmbench(file: &Path, route: &str, packing: &str, to_gbps: f64) -> Vec<(f64, f64)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 5 || f[0] != route || f[1] != packing {
                return None;
            }
            Some((f[2].parse().ok()?, f[4].parse::<f64>().ok()? * to_gbps))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/bench".into());
    let dir = Path::new(&dir);
    let font = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no TrueType font found (install fonts-dejavu-core)")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| "bad font")?;

    let mb = 8.0 / 1000.0;
    let one: Vec<Series> = vec![
        (
            "NPpvm, PVM 3.4.6".into(),
            netpipe(&dir.join("nppvm-orig.csv")),
        ),
        ("NPpvm, pvm6".into(), netpipe(&dir.join("nppvm-pvm6.csv"))),
        ("NPtcp, loopback".into(), netpipe(&dir.join("nptcp.csv"))),
        (
            "pvm6 direct, InPlace".into(),
            pvmbench(&dir.join("pvm6.csv"), "direct", "inplace", mb),
        ),
        (
            "pvm6 direct, Default".into(),
            pvmbench(&dir.join("pvm6.csv"), "direct", "default", mb),
        ),
        (
            "pvm6 daemon, Default".into(),
            pvmbench(&dir.join("pvm6.csv"), "daemon", "default", mb),
        ),
    ];
    draw(
        &dir.join("bandwidth.png"),
        "Ping-pong bandwidth, one host",
        one,
    )?;
    let two6 = dir.join("twohost-pvm6.csv");
    let two: Vec<Series> = vec![
        (
            "NPpvm, PVM 3.4.6".into(),
            netpipe(&dir.join("twohost-nppvm-orig.csv")),
        ),
        (
            "NPpvm, pvm6".into(),
            netpipe(&dir.join("twohost-nppvm-pvm6.csv")),
        ),
        (
            "NPtcp, two hosts".into(),
            netpipe(&dir.join("twohost-nptcp.csv")),
        ),
        (
            "pvm6 direct, psend/precv".into(),
            pvmbench(&two6, "direct", "psend", 1.0),
        ),
        (
            "pvm6 direct, InPlace".into(),
            pvmbench(&two6, "direct", "inplace", 1.0),
        ),
        (
            "pvm6 direct, Default".into(),
            pvmbench(&two6, "direct", "default", 1.0),
        ),
        (
            "pvm6 daemon, Default".into(),
            pvmbench(&two6, "daemon", "default", 1.0),
        ),
        (
            "PVM 3.4.6 direct, Default".into(),
            pvmbench(&dir.join("twohost-orig.csv"), "direct", "default", 1.0),
        ),
    ];
    if two.iter().any(|(_, p)| !p.is_empty()) {
        draw(
            &dir.join("bandwidth-twohost.png"),
            "Ping-pong bandwidth, two hosts (namespaces, veth)",
            two,
        )?;
    }
    Ok(())
}

/// One PNG: the non-empty `series` on a log-x chart.
fn draw(out: &Path, title: &str, series: Vec<Series>) -> Result<(), Box<dyn Error>> {
    let series: Vec<Series> = series.into_iter().filter(|(_, p)| !p.is_empty()).collect();
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(1.0f64, f64::max)
        * 1.1;

    let root = BitMapBackend::new(out, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((1f64..4_194_304f64).log_scale(), 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("message size (bytes)")
        .y_desc("Gbps")
        .x_label_formatter(&|v| match *v {
            v if v >= 1e6 => format!("{:.0}M", v / 1e6),
            v if v >= 1e3 => format!("{:.0}k", v / 1e3),
            v => format!("{v:.0}"),
        })
        .draw()?;
    let colors = [
        RED,
        BLUE,
        BLACK,
        GREEN,
        MAGENTA,
        CYAN,
        RGBColor(230, 140, 0),
        RGBColor(120, 60, 160),
    ];
    for ((label, points), color) in series.into_iter().zip(colors) {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
