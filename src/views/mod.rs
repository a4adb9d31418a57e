//! Views of the state and the log, for people and for programs.
//!
//! Each view is one `Serialize` value built once from the folded [`State`] (and, where it needs
//! them, the log's events), then rendered twice: as JSON by serde (`serde_json::to_string` of the
//! view), and as text by the view's [`TextView`] implementation. Because both renderings read the
//! same value, the text cannot show a fact the JSON lacks or the other way round by accident:
//! where the text shows more (a run's kind in a causal chain, say), the view holds that fact in a
//! field marked `#[serde(skip)]`, in plain sight.
//!
//! The JSON field names are SPEC §7's and §8's public contract (acceptance tests rely on them): add
//! fields, never rename these. Values use SPEC's kebab-case vocabulary (`delta-import`,
//! `stopped-object-error`, `custom-continue-run`), never the Rust names of the core's enums, and
//! every watermark is written by one rule, [`watermark_text`].
//!
//! Text views yield [`Block`]s whose text has passed through [`text::escape`](crate::text::escape)
//! ([`Escaped`] can be made no other way), so whatever a connector, a scenario or a catalog file
//! wrote is shown, never obeyed. Laying tables out and colouring them is the terminal's business:
//! the command line does it.
//!
//! | view | JSON of | file |
//! | --- | --- | --- |
//! | [`RunView`], [`FinishedRunView`] | `runs --json`, `state --json` `runs[]`, `simulate --json` | `runs.rs` |
//! | [`StateView`], [`PartitionView`] | `state --json` | `state.rs` |
//! | [`AlertView`] | `alerts --json`, `state --json` `alerts[]` | `alerts.rs` |
//! | [`EventView`] | `events --json` | `events.rs` |
//! | [`PartitionStateView`] | `state --partition P --json` | `state.rs` |
//! | [`filter`] (no view: what `events` and `runs` keep) | | `filter.rs` |
//! | [`DiffView`] | `diff --json` | `diff.rs` |
//! | [`explain::Explanation`] | `explain … --json` | `explain.rs` |
//! | [`VerifyView`] | `verify --json` | `verify.rs` |
//! | [`report::ReportModel`] (rendered as HTML by [`report::html::render`]) | `report` | `report/` |

use crate::core::*;
use crate::text::escape;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

mod alerts;
mod diff;
mod events;
pub mod explain;
pub mod filter;
pub mod report;
mod runs;
mod state;
mod verify;

pub use alerts::{alert_wall, alerts_text, AlertView, OccurrenceView};
pub use diff::{DiffView, PartitionDiff};
pub use events::{event_summary, events_table, EventDetail, EventView};
pub use runs::{
    duration_text, runs_table, FaultView, FinishedRunView, LimitView, RefusalView, RunView,
};
pub use state::{
    AdministratorView, ObjectErrorView, ObjectView, PartitionStateView, PartitionView,
    PendingExportView, StateView, WatermarkSetBackView,
};
pub use verify::{SnapshotProblem, VerifyView};

/// A watermark as every view writes it, JSON and text alike: its bytes as text when they are
/// valid UTF-8 (what scenario files and most connectors hand out, shown as given), otherwise `0x`
/// followed by two lowercase hex digits per byte (`0x00ff`). The rule is documented in
/// `docs/FORMAT.md` ("Watermarks in views"); a connector whose watermarks are binary should know
/// that a text watermark spelling `0x…` reads the same as those bytes.
pub fn watermark_text(watermark: &Watermark) -> String {
    watermark.display_text()
}

/// [`watermark_text`] of an optional watermark: `null` in JSON where there is none.
pub(crate) fn watermark_json(watermark: Option<&Watermark>) -> Option<String> {
    watermark.map(watermark_text)
}

/// A time stamp (milliseconds since the Unix epoch, UTC) as RFC 3339 with milliseconds, e.g.
/// `2026-01-01T00:00:00.000Z`: the form SPEC §8 asks of `started_at` and `ended_at`.
pub fn rfc3339(at: Timestamp) -> String {
    let millis = at.0.rem_euclid(1000);
    let seconds = at.0.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An RFC 3339 time (`2026-12-01T03:00:00Z`, `2026-12-01T03:00:00.250Z`,
/// `2026-12-01T04:00:00+01:00`; `t` and `z` in lower case too) as a [`Timestamp`], the inverse of
/// [`rfc3339`]; `None` for anything else. Fractions finer than a millisecond are truncated.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let digits = |from: usize, count: usize| -> Option<i64> {
        let part = bytes.get(from..from + count)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punctuation
        .iter()
        .any(|(at, want)| bytes.get(*at) != Some(want))
        || !matches!(bytes.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let month_days = [
        31,
        28 + i64::from(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let days_in_month = *month_days.get(usize::try_from(month - 1).ok()?)?;
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = bytes.get(19..)?;
    let mut millis = 0;
    if let [b'.', tail @ ..] = rest {
        let count = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        for (place, digit) in tail[..count.min(3)].iter().enumerate() {
            millis += i64::from(digit - b'0') * [100, 10, 1][place];
        }
        rest = &tail[count..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let field = |a: &u8, b: &u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (field(h1, h2)?, field(m1, m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 60 + minutes;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    // A leap second reads as the last millisecond's successor: the next minute's first second.
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(Timestamp(seconds * 1000 + millis))
}

/// Attributes as JSON: name → string, or list of strings for a multi-valued attribute (the
/// shape of a scenario's `attrs`).
#[derive(Clone, Debug, Default)]
pub struct AttributesView(pub Attributes);

impl Serialize for AttributesView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0 .0.len()))?;
        for (name, value) in &self.0 .0 {
            match value {
                AttributeValue::Single(text) => map.serialize_entry(name, text)?,
                AttributeValue::Multi(texts) => map.serialize_entry(name, texts)?,
            }
        }
        map.end()
    }
}

/// Text for people that has passed through [`escape`]: the only text a [`TextView`] yields, so a
/// control character or a bidirectional override a value carries is shown, never obeyed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Escaped(String);

impl Escaped {
    /// `text`, escaped.
    pub fn new(text: &str) -> Self {
        Escaped(escape(text).into_owned())
    }

    /// The escaped text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A table of a text view: the command line lays it out (widths, colour on a terminal).
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Column titles (our own words).
    pub header: Vec<&'static str>,
    /// One row of escaped cells per item.
    pub rows: Vec<Vec<Escaped>>,
    /// The column holding run statuses, which a terminal may colour.
    pub status_column: Option<usize>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&'static str]) -> Self {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
            status_column: None,
        }
    }

    /// Adds a row, escaping each cell.
    pub fn row(&mut self, cells: &[&str]) {
        self.rows
            .push(cells.iter().map(|cell| Escaped::new(cell)).collect());
    }
}

/// One piece of a text view, in order.
#[derive(Clone, Debug)]
pub enum Block {
    /// A line (empty for a blank line).
    Line(Escaped),
    /// A table.
    Table(Table),
}

/// The text rendering of a view: what a person reads where a program reads the JSON.
pub trait TextView {
    /// Appends the view's text to `out`.
    fn text(&self, out: &mut Vec<Block>);

    /// The view's text as blocks.
    fn blocks(&self) -> Vec<Block> {
        let mut out = Vec::new();
        self.text(&mut out);
        out
    }
}

/// "event 12 (run 3)", or "event 12" for an event of no run: how every text view names when
/// something happened.
pub(crate) fn event_at(seq: Seq, run: Option<u64>) -> String {
    match run {
        Some(run) => format!("event {seq} (run {run})"),
        None => format!("event {seq}"),
    }
}

/// Appends `text` as one escaped line.
pub(crate) fn line(out: &mut Vec<Block>, text: impl AsRef<str>) {
    out.push(Block::Line(Escaped::new(text.as_ref())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_read_as_rfc_3339_utc() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Timestamp(1_767_225_600_000)),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp(951_825_599_999)),
            "2000-02-29T11:59:59.999Z"
        );
        assert_eq!(rfc3339(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc_3339_times_parse_back_to_what_they_say() {
        for at in [0, 1_767_225_600_000, 951_825_599_999, -1, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(Timestamp(at))), Some(Timestamp(at)));
        }
        assert_eq!(
            parse_rfc3339("2026-01-01T01:30:00+01:30"),
            Some(Timestamp(1_767_225_600_000))
        );
        assert_eq!(
            parse_rfc3339("2025-12-31t23:00:00.5-01:00"),
            Some(Timestamp(1_767_225_600_500))
        );
        for bad in [
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0100",
            "２026-01-01T00:00:00Z",
            "12",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn watermarks_read_as_text_or_as_hex() {
        assert_eq!(watermark_text(&Watermark::from_text("B")), "B");
        assert_eq!(watermark_text(&Watermark(vec![0x00, 0xff])), "0x00ff");
    }

    #[test]
    fn text_views_escape_what_they_show() {
        let mut out = Vec::new();
        line(&mut out, "bad\x1b[2J");
        let mut table = Table::new(&["A"]);
        table.row(&["u\u{202e}"]);
        out.push(Block::Table(table));
        match &out[..] {
            [Block::Line(line), Block::Table(table)] => {
                assert_eq!(line.as_str(), "bad\\u{1b}[2J");
                assert_eq!(table.rows[0][0].as_str(), "u\\u{202e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
