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
//! | [`DiffView`] | `diff --json` | `diff.rs` |
//! | [`explain::Explanation`] | `explain … --json` | `explain.rs` |
//! | [`VerifyView`] | `verify --json` | `verify.rs` |

use crate::core::*;
use crate::text::escape;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

mod alerts;
mod diff;
mod events;
pub mod explain;
mod runs;
mod state;
mod verify;

pub use alerts::{alert_wall, alerts_text, AlertView, OccurrenceView};
pub use diff::{DiffView, PartitionDiff};
pub use events::{event_summary, events_table, EventDetail, EventView};
pub use runs::{runs_table, FaultView, FinishedRunView, LimitView, RefusalView, RunView};
pub use state::{
    AdministratorView, ObjectErrorView, ObjectView, PartitionView, PendingExportView, StateView,
    WatermarkSetBackView,
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
