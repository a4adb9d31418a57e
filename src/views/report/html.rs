//! The report as one self-contained HTML5 page: inline CSS, a little inline script for clicks,
//! charts as inline SVG drawn here. No network: the page names no URL.
//!
//! Every string from the log goes through [`escape_html`] (control characters and bidi overrides
//! shown as [`text::escape`](crate::text::escape) shows them, then `&<>"'` as entities), and every
//! number names the event it came from: a link to `#seq-N` (the event's row in its run's list,
//! when embedded) or a `title` naming the `seq`.

use super::{ReportModel, ReportRun, ReportVerification, WindowView};
use crate::text::escape;
use std::fmt::Write as _;

/// `text` safe anywhere in HTML text or a quoted attribute: control characters and bidirectional
/// overrides shown as visible escapes (`\u{1b}`), then `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape_html(text: &str) -> String {
    let shown = escape(text);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Shorthand.
fn e(text: &str) -> String {
    escape_html(text)
}

/// A link to the event `seq`.
fn seq_link(seq: u64) -> String {
    format!("<a class=\"seq\" href=\"#seq-{seq}\" title=\"seq {seq}\">{seq}</a>")
}

/// The colour of a run status.
fn status_colour(status: &str) -> &'static str {
    if status == "success" {
        "#2e7d32"
    } else if status.starts_with("completed") {
        "#e0a100"
    } else if status.starts_with("stopped") {
        "#c62828"
    } else if status.starts_with("no-start") {
        "#7b1fa2"
    } else if status == "interrupted" {
        "#757575"
    } else {
        "#1565c0"
    }
}

/// "MM-DD HH:MM:SS" of a time in milliseconds.
fn short_time(ms: i64) -> String {
    let full = super::rfc3339(crate::core::Timestamp(ms));
    full.get(5..19).unwrap_or(&full).replace('T', " ")
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{font-size:1.5em;margin:.6em 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:.8em 0 .3em}
table{border-collapse:collapse;font-size:.85em;margin:.3em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
tr:target{background:#fff3c4}
.banner{padding:.6em 1em;border-radius:4px;margin:.6em 0;font-weight:600}
.ok{background:#e8f5e9;border:1px solid #2e7d32}.damaged{background:#ffebee;border:2px solid #c62828;color:#8e0000}
.note{color:#555;font-size:.85em}
.legend span{display:inline-block;margin-right:1em;font-size:.8em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
svg{display:block;margin:.4em 0;font-size:11px;font-family:inherit}
svg .run-bar,svg .err-bar{cursor:pointer}
svg .run-bar:hover{stroke:#000;stroke-width:1}
a.run-link{cursor:pointer}
code{background:#f3f3f3;padding:0 .2em}
";

const SCRIPT: &str = "
(function(){
function show(id){
var all=document.querySelectorAll('section.run-events');
for(var i=0;i<all.length;i++){all[i].hidden=(all[i].id!=='run-'+id);}
var s=document.getElementById('run-'+id);
if(s){s.scrollIntoView({block:'nearest'});}
}
document.addEventListener('click',function(ev){
var t=ev.target;
while(t&&t.getAttribute){
var id=t.getAttribute('data-run');
if(id){ev.preventDefault();show(id);return;}
t=t.parentNode;
}
});
function toSeq(){
var h=location.hash;
if(h.indexOf('#seq-')!==0){return;}
var el=document.getElementById(h.slice(1));
if(!el){return;}
var p=el.closest('section.run-events');
if(p){p.hidden=false;}
el.scrollIntoView({block:'center'});
}
window.addEventListener('hashchange',toSeq);
toSeq();
})();
";

/// The time axis shared by the charts.
struct Axis {
    start: i64,
    end: i64,
    left: f64,
    width: f64,
}

impl Axis {
    fn x(&self, ms: i64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        self.left + (ms - self.start) as f64 * self.width / span
    }

    /// Tick marks and labels along `y`.
    fn ticks(&self, out: &mut String, y: f64, height: f64) {
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#999\"/>",
            self.left,
            self.left + self.width
        );
        for step in 0..=5 {
            let span = self.end - self.start;
            let ms = self.start + span * step / 5;
            let x = self.x(ms);
            let full = super::rfc3339(crate::core::Timestamp(ms));
            let label = match span {
                0..=59_999 => full.get(11..23),
                60_000..=86_399_999 => full.get(11..19),
                _ => full.get(5..16),
            }
            .unwrap_or(&full)
            .replace('T', " ");
            // The last label ends at the axis' end, so the picture's edge does not cut it.
            let anchor = if step == 5 { "end" } else { "middle" };
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
                y,
                y + 14.0,
                e(&label)
            );
        }
        let _ = height;
    }
}

/// The page.
pub fn render(model: &ReportModel) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>syncfold report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        e(&model.log)
    );
    let _ = writeln!(out, "<h1>syncfold report: {}</h1>", e(&model.log));
    verification(model, &mut out);
    let axis = Axis {
        start: model.range.start_ms.unwrap_or(0),
        end: model.range.end_ms.unwrap_or(0),
        left: 170.0,
        width: 800.0,
    };
    timeline(model, &axis, &mut out);
    runs_table(model, &mut out);
    errors_chart(model, &mut out);
    watermarks(model, &axis, &mut out);
    open_errors(model, &mut out);
    alerts(model, &mut out);
    admin(model, &mut out);
    run_events(model, &mut out);
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

fn verification(model: &ReportModel, out: &mut String) {
    match &model.verification {
        ReportVerification::Verified {
            records,
            acknowledged,
            torn_tail,
        } => {
            let _ = write!(
                out,
                "<div class=\"banner ok\" id=\"verification\">Verified: {records} records checked (checksums, format, hash chain, rules); {acknowledged} acknowledged as durable."
            );
            if let Some(torn) = torn_tail {
                let _ = write!(out, " Record {torn} is a write cut short by a crash, never acknowledged (not damage).");
            }
            out.push_str("</div>\n");
        }
        ReportVerification::Damaged {
            error,
            first_bad_seq,
            valid_up_to,
        } => {
            let _ = write!(
                out,
                "<div class=\"banner damaged\" id=\"verification\">DAMAGED LOG: {}.",
                e(error)
            );
            if let Some(bad) = first_bad_seq {
                let _ = write!(out, " First bad record: seq {bad}.");
            }
            match valid_up_to {
                Some(good) => {
                    let _ = write!(out, " This page shows records 1 to {good} only, those before the damage; do not trust anything after them.");
                }
                None => {
                    out.push_str(" The damage names no extent: this page shows nothing of the log.")
                }
            }
            out.push_str("</div>\n");
        }
    }
    let range = &model.range;
    let _ = writeln!(
        out,
        "<p class=\"note\">Range: events {} to {} ({} events){}. {}{}. Every number links to or names (on hover) the event <code>seq</code> it comes from; <code>syncfold events --log LOG --from N --to N</code> lists them.</p>",
        seq_link(range.from),
        seq_link(range.to),
        range.events,
        match (range.start_ms, range.end_ms) {
            (Some(start), Some(end)) => format!(
                ", {} to {}",
                e(&super::rfc3339(crate::core::Timestamp(start))),
                e(&super::rfc3339(crate::core::Timestamp(end)))
            ),
            _ => String::new(),
        },
        crate::text::counted(model.runs.len(), "run drawn", "runs drawn") + " one by one",
        match model.buckets.iter().map(|b| b.runs).sum::<u64>() {
            0 => String::new(),
            older => format!(
                ", {} in {}",
                crate::text::counted(older as usize, "older run", "older runs"),
                crate::text::counted(model.buckets.len(), "bucket", "buckets")
            ),
        },
    );
}

/// The lanes of the timeline: one per connector and partition, in order of first appearance.
fn lanes(model: &ReportModel) -> Vec<(String, String)> {
    let mut lanes: Vec<(String, String)> = Vec::new();
    let names = model
        .buckets
        .iter()
        .map(|b| (&b.connector, &b.partition))
        .chain(
            model
                .runs
                .iter()
                .map(|r| (&r.run.connector, &r.run.partition)),
        );
    for (connector, partition) in names {
        if !lanes.iter().any(|(c, p)| c == connector && p == partition) {
            lanes.push((connector.clone(), partition.clone()));
        }
    }
    lanes.sort();
    lanes
}

fn timeline(model: &ReportModel, axis: &Axis, out: &mut String) {
    out.push_str("<h2 id=\"timeline\">Timeline of runs</h2>\n");
    let lanes = lanes(model);
    if lanes.is_empty() {
        out.push_str("<p>No runs in the range.</p>\n");
        return;
    }
    out.push_str("<div class=\"legend\">");
    for (name, status) in [
        ("success", "success"),
        ("completed with errors or warnings", "completed"),
        ("stopped", "stopped"),
        ("did not start (refused)", "no-start"),
        ("interrupted", "interrupted"),
        ("in flight", "in-flight"),
    ] {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{name}</span>",
            status_colour(status)
        );
    }
    out.push_str("<span>▼ fault or limit</span><span>✕ refused</span></div>\n");
    let lane_height = 24.0;
    let height = lanes.len() as f64 * lane_height + 30.0;
    let _ = writeln!(
        out,
        "<svg class=\"timeline\" width=\"{:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {:.0} {height:.0}\" role=\"img\" aria-label=\"timeline of runs\">",
        axis.left + axis.width + 20.0,
        axis.left + axis.width + 20.0
    );
    let lane_y = |connector: &str, partition: &str| -> f64 {
        let index = lanes
            .iter()
            .position(|(c, p)| c == connector && p == partition)
            .unwrap_or(0);
        index as f64 * lane_height
    };
    for (index, (connector, partition)) in lanes.iter().enumerate() {
        let y = index as f64 * lane_height;
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\" fill=\"#333\">{}/{}</text>",
            y + 16.0,
            e(connector),
            e(partition)
        );
    }
    axis.ticks(out, lanes.len() as f64 * lane_height + 4.0, height);
    for bucket in &model.buckets {
        let y = lane_y(&bucket.connector, &bucket.partition);
        let (x1, x2) = (axis.x(bucket.started_ms), axis.x(bucket.ended_ms));
        let statuses: Vec<String> = bucket
            .statuses
            .iter()
            .map(|(status, count)| format!("{count} {status}"))
            .collect();
        let _ = write!(
            out,
            "<rect class=\"run-bucket\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" fill=\"#90a4ae\" opacity=\"0.6\"><title>runs {} to {} ({} runs, aggregated): {}; {} errors, {} warnings; seq {} to {}</title></rect>",
            y + 4.0,
            (x2 - x1).max(3.0),
            bucket.first_run,
            bucket.last_run,
            bucket.runs,
            e(&statuses.join(", ")),
            bucket.errors,
            bucket.warnings,
            bucket.first_seq,
            bucket.last_seq
        );
    }
    let end = model.range.end_ms.unwrap_or(0);
    for run in &model.runs {
        let view = &run.run;
        let y = lane_y(&view.connector, &view.partition);
        let x1 = axis.x(run.started_ms);
        let x2 = axis.x(run.ended_ms.unwrap_or(end));
        let status = view.status_text();
        let refused = view.refusal.is_some();
        let _ = write!(
            out,
            "<rect class=\"run-bar{}\" data-run=\"{}\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" fill=\"{}\"><title>run {} {} {}: {}; started seq {}{}; {} errors, {} warnings{}</title></rect>",
            if refused { " refused" } else { "" },
            view.id,
            y + 4.0,
            (x2 - x1).max(3.0),
            status_colour(status),
            view.id,
            view.kind,
            e(&format!("{}/{}", view.connector, view.partition)),
            status,
            view.started_seq,
            view.ended_seq.map_or(String::new(), |seq| format!(", ended seq {seq}")),
            view.errors,
            view.warnings,
            if view.note().is_empty() { String::new() } else { format!("; {}", e(&view.note())) }
        );
        if refused {
            let _ = write!(
                out,
                "<text class=\"mark-refused\" x=\"{x1:.1}\" y=\"{:.1}\" fill=\"#4a148c\" font-weight=\"bold\">✕</text>",
                y + 3.0
            );
        }
        if view.fault.is_some() || view.limit.is_some() {
            let _ = write!(
                out,
                "<path class=\"mark-fault\" d=\"M{:.1} {:.1} l-4 -6 h8 z\" fill=\"#b71c1c\"><title>run {}: {}</title></path>",
                x2.max(x1 + 3.0),
                y + 4.0,
                view.id,
                e(&view.note())
            );
        }
    }
    out.push_str(
        "</svg>\n<p class=\"note\">Click a bar (or a run in the table) to show its events.</p>\n",
    );
}

fn runs_table(model: &ReportModel, out: &mut String) {
    if model.runs.is_empty() && model.buckets.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<tr><th>RUN</th><th>CONNECTOR</th><th>PARTITION</th><th>KIND</th><th>STATUS</th><th>STARTED</th><th>ENDED</th><th>DURATION</th><th>FIRST EVENT</th><th>LAST EVENT</th><th>ERRORS</th><th>WARNINGS</th><th>STAGED</th><th>EXPORTED</th><th>COMMITTED</th><th>NOTE</th></tr>\n");
    for bucket in &model.buckets {
        let _ = writeln!(
            out,
            "<tr class=\"bucket\"><td>{} to {}</td><td>{}</td><td>{}</td><td>{} runs</td><td>{}</td><td colspan=\"3\">aggregated (older than the runs drawn one by one)</td><td>{}</td><td>{}</td><td title=\"from the run-ended events of runs {} to {}\">{}</td><td>{}</td><td></td><td></td><td></td><td><code>syncfold runs --log LOG --partition {}</code></td></tr>",
            bucket.first_run,
            bucket.last_run,
            e(&bucket.connector),
            e(&bucket.partition),
            bucket.runs,
            e(&bucket
                .statuses
                .iter()
                .map(|(status, count)| format!("{count} {status}"))
                .collect::<Vec<_>>()
                .join(", ")),
            seq_link(bucket.first_seq),
            seq_link(bucket.last_seq),
            bucket.first_run,
            bucket.last_run,
            bucket.errors,
            bucket.warnings,
            e(&bucket.partition)
        );
    }
    for run in &model.runs {
        let view = &run.run;
        let counted_at = view.ended_seq.unwrap_or(run.last_seq);
        let _ = writeln!(
            out,
            "<tr id=\"row-run-{id}\"><td><a class=\"run-link\" href=\"#run-{id}\" data-run=\"{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td><span style=\"color:{}\">●</span> {}</td><td title=\"seq {}\">{}</td><td>{}</td><td title=\"from seq {} to seq {counted_at}\">{}</td><td>{}</td><td>{}</td><td title=\"seq {counted_at}\">{}</td><td title=\"seq {counted_at}\">{}</td><td title=\"seq {counted_at}\">{}</td><td title=\"seq {counted_at}\">{}</td><td>{}</td><td>{}</td></tr>",
            e(&view.connector),
            e(&view.partition),
            view.kind,
            status_colour(view.status_text()),
            view.status_text(),
            view.started_seq,
            e(&view.started_at),
            match (&view.ended_at, view.ended_seq) {
                (Some(at), Some(seq)) => format!("<span title=\"seq {seq}\">{}</span>", e(at)),
                _ => "-".to_owned(),
            },
            view.started_seq,
            view.duration_ms.map_or_else(|| "-".to_owned(), super::super::duration_text),
            seq_link(run.first_seq),
            seq_link(run.last_seq),
            view.errors,
            view.warnings,
            view.staged,
            view.exported,
            e(view.committed_watermark.as_deref().unwrap_or("-")),
            e(&view.note()),
            id = view.id,
        );
    }
    out.push_str("</table>\n");
}

fn errors_chart(model: &ReportModel, out: &mut String) {
    out.push_str("<h2 id=\"errors\">Errors and warnings per run</h2>\n");
    let runs: Vec<&ReportRun> = model.runs.iter().collect();
    let peak = runs
        .iter()
        .map(|r| r.run.errors + r.run.warnings)
        .max()
        .unwrap_or(0);
    if peak == 0 {
        out.push_str("<p>No errors or warnings in the runs drawn.</p>\n");
    } else {
        let step = (800.0 / runs.len().max(1) as f64).clamp(3.0, 24.0);
        let chart = 100.0;
        let width = 40.0 + step * runs.len() as f64 + 10.0;
        let _ = writeln!(
            out,
            "<svg class=\"errors\" width=\"{width:.0}\" height=\"{:.0}\" viewBox=\"0 0 {width:.0} {:.0}\" role=\"img\" aria-label=\"errors and warnings per run\">",
            chart + 30.0,
            chart + 30.0
        );
        let _ = write!(
            out,
            "<text x=\"2\" y=\"12\" fill=\"#555\">{peak}</text><line x1=\"36\" y1=\"{chart}\" x2=\"{width:.0}\" y2=\"{chart}\" stroke=\"#999\"/>"
        );
        for (index, run) in runs.iter().enumerate() {
            let view = &run.run;
            let x = 40.0 + index as f64 * step;
            let seq = view.ended_seq.unwrap_or(run.last_seq);
            let scale = |count: u64| count as f64 * (chart - 10.0) / peak as f64;
            let (errors, warnings) = (scale(view.errors), scale(view.warnings));
            if view.errors > 0 {
                let _ = write!(
                    out,
                    "<rect class=\"err-bar\" data-run=\"{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{errors:.1}\" fill=\"#c62828\"><title>run {}: {} errors (seq {seq})</title></rect>",
                    view.id,
                    chart - errors,
                    (step - 1.0).max(2.0),
                    view.id,
                    view.errors
                );
            }
            if view.warnings > 0 {
                let _ = write!(
                    out,
                    "<rect class=\"err-bar\" data-run=\"{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{warnings:.1}\" fill=\"#e0a100\"><title>run {}: {} warnings (seq {seq})</title></rect>",
                    view.id,
                    chart - errors - warnings,
                    (step - 1.0).max(2.0),
                    view.id,
                    view.warnings
                );
            }
            if runs.len() <= 40 || index % (runs.len() / 20).max(1) == 0 {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
                    x + step / 2.0,
                    chart + 14.0,
                    view.id
                );
            }
        }
        out.push_str("</svg>\n<p class=\"note\">Red: errors; amber: warnings; by run id.</p>\n");
    }
}

/// A window's words: "from seq 12 (run 3) to seq 40 (run 5)".
fn window_text(window: &WindowView) -> String {
    let by = match (&window.set_by_run, &window.set_by_actor) {
        (Some(run), _) => format!(" (run {run})"),
        (None, Some(actor)) => format!(
            " (administrator {}{})",
            e(actor),
            window
                .reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map_or(String::new(), |r| format!(": {}", e(r)))
        ),
        _ => String::new(),
    };
    let to = match window.to_seq {
        Some(seq) => format!(
            "to {}{}",
            seq_link(seq),
            window
                .cleared_by_run
                .map_or(String::new(), |run| format!(" (run {run})"))
        ),
        None => "still open at the range's end".to_owned(),
    };
    format!("from {}{by} {to}", seq_link(window.from_seq))
}

fn watermarks(model: &ReportModel, axis: &Axis, out: &mut String) {
    out.push_str("<h2 id=\"watermarks\">Watermark history</h2>\n");
    if model.partitions.is_empty() {
        out.push_str("<p>No partition in the range.</p>\n");
        return;
    }
    let lane = 26.0;
    let height = model.partitions.len() as f64 * lane + 30.0;
    let _ = writeln!(
        out,
        "<div class=\"legend\"><span><i style=\"background:#2e7d32\"></i>commit</span><span><i style=\"background:#e0a100\"></i>held (did not move)</span><span><i style=\"background:#ffe082\"></i>stuck-watermark warning</span><span><i style=\"background:#ef9a9a\"></i>full import required</span></div>\n<svg class=\"watermarks\" width=\"{:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {:.0} {height:.0}\" role=\"img\" aria-label=\"watermark history\">",
        axis.left + axis.width + 20.0,
        axis.left + axis.width + 20.0
    );
    let end = model.range.end_ms.unwrap_or(0);
    for (index, part) in model.partitions.iter().enumerate() {
        let y = index as f64 * lane;
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\" fill=\"#333\">{}/{}</text>",
            y + 17.0,
            e(&part.connector),
            e(&part.partition)
        );
        for (windows, colour, what) in [
            (
                &part.full_import_required,
                "#ef9a9a",
                "full import required",
            ),
            (&part.stuck, "#ffe082", "stuck-watermark warning"),
        ] {
            for window in windows {
                let x1 = axis.x(window.from_ms);
                let x2 = axis.x(window.to_ms.unwrap_or(end));
                let _ = write!(
                    out,
                    "<rect class=\"window\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"20\" fill=\"{colour}\" opacity=\"0.7\"><title>{what} from seq {}{}</title></rect>",
                    y + 3.0,
                    (x2 - x1).max(3.0),
                    window.from_seq,
                    window.to_seq.map_or(" (open)".to_owned(), |seq| format!(" to seq {seq}"))
                );
            }
        }
        for hold in &part.holds {
            let _ = write!(
                out,
                "<rect class=\"hold\" x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"#e0a100\"><title>run {} held at {} by {} (seq {})</title></rect>",
                axis.x(hold.at_ms) - 3.0,
                y + 10.0,
                hold.run,
                e(hold.watermark.as_deref().unwrap_or("-")),
                e(&hold.objects.join(", ")),
                hold.seq
            );
        }
        for commit in &part.commits {
            let _ = write!(
                out,
                "<circle class=\"commit\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#2e7d32\"><title>run {} committed {} (seq {})</title></circle>",
                axis.x(commit.at_ms),
                y + 13.0,
                commit.run,
                e(&commit.watermark),
                commit.seq
            );
        }
    }
    axis.ticks(out, model.partitions.len() as f64 * lane + 4.0, height);
    out.push_str("</svg>\n");
    for part in &model.partitions {
        let _ = writeln!(
            out,
            "<h3>{}/{}: committed watermark {}</h3>",
            e(&part.connector),
            e(&part.partition),
            e(part.committed_watermark.as_deref().unwrap_or("none"))
        );
        out.push_str(
            "<table class=\"watermark-history\"><tr><th>SEQ</th><th>RUN</th><th>WHAT</th></tr>\n",
        );
        let mut rows: Vec<(u64, String)> = Vec::new();
        for commit in &part.commits {
            rows.push((
                commit.seq,
                format!(
                    "<tr><td>{}</td><td>{}</td><td>committed {}</td></tr>",
                    seq_link(commit.seq),
                    commit.run,
                    e(&commit.watermark)
                ),
            ));
        }
        for hold in &part.holds {
            rows.push((
                hold.seq,
                format!(
                    "<tr><td>{}</td><td>{}</td><td>held at {} by {}{} ({} consecutive)</td></tr>",
                    seq_link(hold.seq),
                    hold.run,
                    e(hold.watermark.as_deref().unwrap_or("-")),
                    e(&hold.objects.join(", ")),
                    if hold.objects_more > 0 {
                        format!(" and {} more", hold.objects_more)
                    } else {
                        String::new()
                    },
                    hold.count
                ),
            ));
        }
        for window in &part.stuck {
            rows.push((
                window.from_seq,
                format!(
                    "<tr><td>{}</td><td>{}</td><td>stuck-watermark warning {}</td></tr>",
                    seq_link(window.from_seq),
                    window.set_by_run.map_or("-".to_owned(), |r| r.to_string()),
                    window_text(window)
                ),
            ));
        }
        for window in &part.full_import_required {
            rows.push((
                window.from_seq,
                format!(
                    "<tr><td>{}</td><td>{}</td><td>full import required {}</td></tr>",
                    seq_link(window.from_seq),
                    window.set_by_run.map_or("-".to_owned(), |r| r.to_string()),
                    window_text(window)
                ),
            ));
        }
        rows.sort_by_key(|(seq, _)| *seq);
        for (_, row) in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push_str("</table>\n");
        if part.commits_more + part.holds_more > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} older commits and {} older holds are not listed.</p>",
                part.commits_more, part.holds_more
            );
        }
    }
}

fn open_errors(model: &ReportModel, out: &mut String) {
    out.push_str("<h2 id=\"open-errors\">Objects with the longest-open errors</h2>\n");
    if model.longest_open_errors.is_empty() {
        out.push_str("<p>No open object errors at the range's end.</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">The {} oldest of {} open object errors.</p>",
        model.longest_open_errors.len(),
        model.open_errors
    );
    out.push_str("<table class=\"open-errors\"><tr><th>OBJECT</th><th>CONNECTOR</th><th>PARTITION</th><th>DIRECTION</th><th>ERROR</th><th>DESCRIPTION</th><th>OPEN SINCE</th><th>LAST</th><th>FAILING RUNS</th><th>PERMANENT</th></tr>\n");
    for error in &model.longest_open_errors {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td title=\"seq {}\">{}</td><td>{}</td></tr>",
            e(&error.anchor),
            e(&error.connector),
            e(&error.partition),
            error.direction,
            e(&error.name),
            e(&error.description),
            seq_link(error.first_seq),
            e(&short_time(error.first_ms)),
            seq_link(error.last_seq),
            error.last_seq,
            error.failing_runs,
            if error.permanent { "yes" } else { "no" }
        );
    }
    out.push_str("</table>\n");
}

fn alerts(model: &ReportModel, out: &mut String) {
    let _ = writeln!(
        out,
        "<h2 id=\"alerts\">Alert wall at the range's end (after seq {})</h2>",
        model.range.to
    );
    if model.alerts.is_empty() {
        out.push_str("<p>No open alerts.</p>\n");
        return;
    }
    out.push_str("<table class=\"alerts\"><tr><th>SEVERITY</th><th>CODE</th><th>SUBJECT</th><th>RECIPIENT</th><th>OPENED</th><th>LAST</th><th>MESSAGE</th><th>REMEDY</th></tr>\n");
    for alert in &model.alerts {
        let _ = writeln!(
            out,
            "<tr class=\"alert {}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            alert.severity,
            alert.severity,
            e(&alert.code),
            e(&alert.subject()),
            alert.recipient,
            seq_link(alert.opened.seq),
            e(&short_time(alert.opened.at_ms)),
            seq_link(alert.last.seq),
            e(&alert.message),
            e(alert
                .remedy_action
                .as_deref()
                .unwrap_or("no remedy in the catalog"))
        );
    }
    out.push_str("</table>\n");
}

fn admin(model: &ReportModel, out: &mut String) {
    out.push_str("<h2 id=\"admin\">Administrator actions</h2>\n");
    if model.admin_actions.is_empty() {
        out.push_str("<p>No administrator actions in the range.</p>\n");
        return;
    }
    out.push_str("<table class=\"admin\"><tr><th>SEQ</th><th>AT</th><th>ACTOR</th><th>ACTION</th><th>CONNECTOR</th><th>PARTITION</th><th>RUN</th><th>REASON</th></tr>\n");
    for action in &model.admin_actions {
        let _ = writeln!(
            out,
            "<tr id=\"seq-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            action.seq,
            seq_link(action.seq),
            e(&action.at),
            e(&action.actor),
            action.action,
            e(action.connector.as_deref().unwrap_or("-")),
            e(action.partition.as_deref().unwrap_or("-")),
            action.run.map_or("-".to_owned(), |r| r.to_string()),
            e(&action.reason)
        );
    }
    out.push_str("</table>\n");
    if model.admin_actions_more > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more administrator actions are not listed: <code>syncfold events --log LOG --type admin-action</code>.</p>",
            model.admin_actions_more
        );
    }
}

fn run_events(model: &ReportModel, out: &mut String) {
    out.push_str("<h2 id=\"events\">Events of the clicked run</h2>\n<p class=\"note\">Click a run above; its events are listed here in the vocabulary of <code>events --json</code>.</p>\n");
    for run in &model.runs {
        let view = &run.run;
        let _ = writeln!(
            out,
            "<section class=\"run-events\" id=\"run-{}\" hidden>\n<h3>Run {} ({} {}/{}, {}): events {} to {}</h3>",
            view.id,
            view.id,
            view.kind,
            e(&view.connector),
            e(&view.partition),
            view.status_text(),
            seq_link(run.first_seq),
            seq_link(run.last_seq)
        );
        out.push_str("<table class=\"events\"><tr><th>SEQ</th><th>AT</th><th>TYPE</th><th>ACTOR</th><th>WHAT</th></tr>\n");
        for event in &run.events {
            let _ = writeln!(
                out,
                "<tr id=\"seq-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                event.seq,
                seq_link(event.seq),
                e(&event.at),
                event.kind,
                e(&event.actor),
                e(&event.summary)
            );
        }
        out.push_str("</table>\n");
        if !run.alerts_at_end.is_empty() {
            let _ = writeln!(
                out,
                "<h3>Alert wall just after {} ({} open)</h3>\n<table class=\"run-alerts\"><tr><th>SEVERITY</th><th>CODE</th><th>SUBJECT</th><th>RECIPIENT</th><th>OPENED</th><th>REMEDY</th></tr>",
                seq_link(run.last_seq),
                run.alerts_at_end.len() as u64 + run.alerts_at_end_more
            );
            for alert in &run.alerts_at_end {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    alert.severity,
                    e(&alert.code),
                    e(&alert.subject()),
                    alert.recipient,
                    seq_link(alert.opened.seq),
                    e(alert
                        .remedy_action
                        .as_deref()
                        .unwrap_or("no remedy in the catalog"))
                );
            }
            out.push_str("</table>\n");
            if run.alerts_at_end_more > 0 {
                let _ = writeln!(
                    out,
                    "<p class=\"note\">{} more: <code>syncfold alerts --log {} --at {}</code>.</p>",
                    run.alerts_at_end_more,
                    e(&model.log),
                    run.last_seq
                );
            }
        } else if model.walls_read {
            let _ = writeln!(
                out,
                "<p class=\"note\">No open alerts just after {}.</p>",
                seq_link(run.last_seq)
            );
        }
        if run.events_more > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more events of this run are not embedded: <code>syncfold events --log {} --run {}</code> lists them all.</p>",
                run.events_more,
                e(&model.log),
                view.id
            );
        }
        out.push_str("</section>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_quote_or_control_character() {
        let hostile = "<script>alert(\"x\")</script> & 'quote' \x1b[2J\u{202e}\r\n";
        let shown = escape_html(hostile);
        assert_eq!(
            shown,
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quote&#39; \\u{1b}[2J\\u{202e}\\r\\n"
        );
        for bad in ['<', '>', '"', '\'', '\x1b', '\u{202e}', '\r', '\n'] {
            assert!(!shown.contains(bad), "{bad:?} in {shown}");
        }
        assert_eq!(escape_html("cn=Smith, John"), "cn=Smith, John");
    }
}
