//! Imports: the full listing of a partition with the paged-results control, and the delta read
//! from the accesslog.
//!
//! **The watermark** is an accesslog position: the `reqStart` of a change record, a
//! generalized time such as `20261204032730.000005Z` (OpenLDAP makes each one unique by counting
//! in its fraction, and the fixed width makes text order time order), or [`LOG_EMPTY`] (`0`) for
//! "before every change" when a full import found the log empty.
//!
//! **A full import** reads the newest `reqStart` *before* its listing starts and proposes it on
//! every page, so changes made during the listing are read again by the next delta import.
//!
//! **A delta import** reads the write records after the watermark (`reqResult=0`, under
//! `accesslog_base`), oldest first. The server gives no order, so the connector scans the
//! records after its position and keeps the `window` oldest (a bounded set), serves them page by
//! page, and scans again after the last one: nothing is skipped or reordered, and memory holds
//! one window. Each page proposes the `reqStart` of its last record, so R1 can hold the
//! watermark exactly. Records outside the partition still advance the position. A record the
//! connector cannot understand (an unknown `reqType`, a missing `reqDN`) is an
//! `import-parse-error` on its page: the change log is broken there, and R5 asks for a full
//! import instead of a guess.

use super::config::LdapPartition;
use super::protocol::{self, filter_escape, Entry};
use crate::core::*;
use ldap3::{Ldap, Scope};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::warn;

/// The watermark of an accesslog that held no change: before every `reqStart`.
pub const LOG_EMPTY: &str = "0";

/// Pages of change records one scan of the accesslog gathers (the window is this many pages).
const WINDOW_PAGES: usize = 8;

/// Changed entries a delta import reads at once (base searches in flight together on the one
/// connection).
const READS_IN_FLIGHT: usize = 16;

/// The name of the object-level error for a value that is not text.
pub const NOT_TEXT_ERROR: &str = "invalid-characters-error";

/// What the connector needs to read.
pub(super) struct Reader<'a> {
    pub ldap: &'a mut Ldap,
    pub timeout: Duration,
    pub partition: &'a LdapPartition,
    pub page_size: u32,
}

impl Reader<'_> {
    /// The attributes to ask for: the partition's list, or every user attribute.
    fn attributes(&self) -> Vec<String> {
        if self.partition.attributes.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.partition.attributes.clone()
        }
    }

    /// The newest `reqStart` of the accesslog, or [`LOG_EMPTY`] when it holds no record; `None`
    /// when there is no accesslog under `accesslog_base` (or the bind DN may not see it, which
    /// slapd answers the same way): full imports still work, and propose no watermark.
    pub async fn log_position(&mut self) -> Result<Option<Watermark>, Fault> {
        let mut newest: Option<String> = None;
        let attributes = vec!["reqStart".to_owned()];
        let base = self.partition.accesslog_base.clone();
        let scanned = protocol::search_all(
            self.ldap,
            self.timeout,
            &base,
            Scope::OneLevel,
            "(reqStart=*)",
            &attributes,
            self.page_size.max(1000),
            |entry| {
                if let Some(start) = entry.text("reqStart") {
                    if newest
                        .as_deref()
                        .is_none_or(|newest| is_later(start, newest))
                    {
                        newest = Some(start.to_owned());
                    }
                }
            },
        )
        .await;
        match scanned {
            Ok(()) => Ok(Some(Watermark::from_text(
                newest.as_deref().unwrap_or(LOG_EMPTY),
            ))),
            Err(failure) if failure.code() == Some(32) => {
                warn!(
                    accesslog_base = %base,
                    partition = %self.partition.name,
                    "no accesslog: the full import proposes no watermark, and delta imports cannot run"
                );
                Ok(None)
            }
            Err(failure) => Err(failure.into_fault(&format!(
                "reading the accesslog position under {base} (is the accesslog overlay configured with logdb {base}, and may the bind DN read it?)"
            ))),
        }
    }

    /// One page of the partition's listing.
    pub async fn full_page(&mut self, cookie: Vec<u8>) -> Result<(Page, Vec<u8>), Fault> {
        let partition = self.partition;
        let page = protocol::search_page(
            self.ldap,
            self.timeout,
            &partition.base_dn,
            Scope::Subtree,
            &partition.filter,
            &self.attributes(),
            self.page_size,
            cookie,
        )
        .await
        .map_err(|failure| {
            let remedy = if failure.code() == Some(32) {
                "; the base DN does not exist: create it or correct base_dn"
            } else {
                ""
            };
            let mut fault = failure.into_fault(&format!(
                "listing {} with filter {}",
                partition.base_dn, partition.filter
            ));
            fault.message.push_str(remedy);
            fault
        })?;
        let mut out = Page::default();
        for entry in page.entries {
            match object_of(entry) {
                Ok(change) => out.changes.push(change),
                Err(error) => out.errors.push(error),
            }
        }
        Ok((out, page.cookie))
    }

    /// The change records after `after`, the `window` oldest of them, oldest first, and whether
    /// there are more.
    async fn window_after(
        &mut self,
        after: &str,
        window: usize,
    ) -> Result<(Vec<LogRecord>, bool), Fault> {
        let filter = if after == LOG_EMPTY {
            "(&(objectClass=auditWriteObject)(reqResult=0))".to_owned()
        } else {
            format!(
                "(&(objectClass=auditWriteObject)(reqResult=0)(reqStart>={}))",
                filter_escape(&just_after(after))
            )
        };
        let attributes: Vec<String> = [
            "reqStart",
            "reqType",
            "reqDN",
            "reqNewRDN",
            "reqNewSuperior",
        ]
        .map(str::to_owned)
        .to_vec();
        let base = self.partition.accesslog_base.clone();
        let mut kept: BTreeMap<String, Entry> = BTreeMap::new();
        let mut more = false;
        protocol::search_all(
            self.ldap,
            self.timeout,
            &base,
            Scope::OneLevel,
            &filter,
            &attributes,
            self.page_size.max(1000),
            |entry| {
                let Some(start) = entry.text("reqStart").map(str::to_owned) else {
                    return;
                };
                // The server's filter is a coarse cut; the order is decided here, exactly.
                if after != LOG_EMPTY && !is_later(&start, after) {
                    return;
                }
                kept.insert(start, entry);
                if kept.len() > window {
                    kept.pop_last();
                    more = true;
                }
            },
        )
        .await
        .map_err(|failure| {
            failure.into_fault(&format!("reading the accesslog under {base} after {after}"))
        })?;
        let records = kept
            .into_iter()
            .map(|(start, entry)| LogRecord::of(start, &entry))
            .collect();
        Ok((records, more))
    }

    /// Fails with `watermark-expired` when the accesslog no longer reaches back to `after`: the
    /// record whose `reqStart` it is was purged, or `after` is [`LOG_EMPTY`] (a full import found
    /// the log empty, and no record can show what was purged since). A watermark other than [`LOG_EMPTY`] is always
    /// the `reqStart` of a record, and purges (`logpurge`) remove the oldest records first, so
    /// while that record is there nothing after it is gone.
    ///
    /// The check is an equality match, answered exactly by the `eq` index every accesslog setup
    /// has on `reqStart`. It used to ask for any record `(reqStart<=after)`, but OpenLDAP 2.5's
    /// `mdb` answers a less-or-equal filter on an `eq`-indexed generalized time without some of
    /// the records it matches (those that share an index key with `after`): it found none
    /// while the watermark's own record was there, and a whole log read as purged.
    async fn check_not_expired(&mut self, after: &str) -> Result<(), Fault> {
        let base = self.partition.accesslog_base.clone();
        if after == LOG_EMPTY {
            // The full import found the accesslog empty. Changes written since may have been
            // purged since, and nothing in the log tells: a delta from here could miss them
            // silently. Refused; a full import reads every entry and, once the log holds a
            // change, records a real position.
            return Err(Fault {
                kind: FaultKind::WatermarkExpired,
                message: format!(
                    "the committed watermark is the empty position {LOG_EMPTY}: the last full import found the accesslog under {base} empty, so a delta import cannot tell whether changes since were purged; run a full import, and keep the accesslog's logpurge age longer than the time between imports so it is never empty"
                ),
            });
        }
        let filter = format!("(reqStart={})", filter_escape(after));
        let reaches = protocol::any_one_level(self.ldap, self.timeout, &base, &filter)
            .await
            .map_err(|failure| {
                failure.into_fault(&format!("reading the accesslog under {base}"))
            })?;
        if reaches {
            Ok(())
        } else {
            Err(Fault {
                kind: FaultKind::WatermarkExpired,
                message: format!(
                    "the accesslog under {base} no longer holds the committed watermark {after} (purged); run a full import, and keep the accesslog's logpurge age longer than the time between delta imports"
                ),
            })
        }
    }

    /// Reads one delta page: up to a page of change records after the cursor, each turned into
    /// the entry's current state (or its deletion).
    pub async fn delta_page(&mut self, cursor: &mut DeltaCursor) -> Result<Option<Page>, Fault> {
        if !cursor.checked {
            self.check_not_expired(&cursor.after).await?;
            cursor.checked = true;
        }
        let page_size = self.page_size as usize;
        let mut taken = Vec::with_capacity(page_size);
        while taken.len() < page_size {
            if cursor.buffer.is_empty() {
                if cursor.exhausted {
                    break;
                }
                let after = cursor.after.clone();
                let (records, more) = self.window_after(&after, page_size * WINDOW_PAGES).await?;
                cursor.exhausted = !more;
                cursor.buffer = records.into();
                if cursor.buffer.is_empty() {
                    break;
                }
            }
            if let Some(record) = cursor.buffer.pop_front() {
                cursor.after.clone_from(&record.start);
                taken.push(record);
            }
        }
        let Some(last) = taken.last() else {
            return Ok(None);
        };
        let watermark = Watermark::from_text(&last.start);
        // What each record asks for, the last word per DN winning: every read returns the
        // entry's current state, so reading a DN once per page is enough.
        let mut actions: Vec<Option<(String, Action)>> = Vec::new();
        let mut latest: BTreeMap<String, usize> = BTreeMap::new();
        let mut unreadable = Vec::new();
        let base = &self.partition.base_dn;
        for record in &taken {
            let mut push = |dn: &str, action: Action| {
                if let Some(earlier) = latest.insert(protocol::dn_key(dn), actions.len()) {
                    actions[earlier] = None;
                }
                actions.push(Some((dn.to_owned(), action)));
            };
            match &record.kind {
                RecordKind::AddOrModify => {
                    if protocol::is_within(&record.dn, base) {
                        push(&record.dn, Action::Read);
                    }
                }
                RecordKind::Delete => {
                    if protocol::is_within(&record.dn, base) {
                        push(&record.dn, Action::Delete);
                    }
                }
                RecordKind::Rename { new_dn } => {
                    if protocol::is_within(&record.dn, base) {
                        push(&record.dn, Action::Delete);
                    }
                    if protocol::is_within(new_dn, base) {
                        push(new_dn, Action::Read);
                    }
                }
                // A broken record of another subtree does not concern the partition.
                RecordKind::Unreadable { reason }
                    if record.dn.is_empty() || protocol::is_within(&record.dn, base) =>
                {
                    unreadable.push(FatalImportError {
                        anchor: (!record.dn.is_empty()).then(|| Anchor::from(record.dn.as_str())),
                        kind: FatalImportErrorKind::ImportParseError,
                        description: format!("{reason}; run a full import"),
                    });
                }
                RecordKind::Unreadable { .. } => {}
            }
        }
        let mut page = Page {
            watermark: Some(watermark),
            fatal_errors: unreadable,
            ..Page::default()
        };
        let wanted: Vec<(String, Action)> = actions.into_iter().flatten().collect();
        let reads = self.read_changed(&wanted).await?;
        for ((dn, _), read) in wanted.into_iter().zip(reads) {
            match read {
                Some(entry) => match object_of(entry) {
                    Ok(change) => page.changes.push(change),
                    Err(error) => page.errors.push(error),
                },
                None => page.changes.push(ObjectChange {
                    anchor: Anchor::from(dn.as_str()),
                    kind: ChangeKind::Delete,
                    attributes: Attributes::new(),
                }),
            }
        }
        Ok(Some(page))
    }
}

impl Reader<'_> {
    /// The current state of each entry `wanted` asks to read (`None` for one that is gone or no
    /// longer matches the filter, and for a deletion), in `wanted`'s order. Up to
    /// [`READS_IN_FLIGHT`] base searches are in flight at once on the connection, so a page
    /// waits for a few round trips rather than one per entry. The first failure in `wanted`'s
    /// order is the page's fault, as if the reads had been made one by one.
    async fn read_changed(
        &mut self,
        wanted: &[(String, Action)],
    ) -> Result<Vec<Option<Entry>>, Fault> {
        let mut reads: Vec<Option<Entry>> = wanted.iter().map(|_| None).collect();
        let filter: Arc<str> = Arc::from(self.partition.filter.as_str());
        let attributes: Arc<[String]> = self.attributes().into();
        let mut pending = wanted
            .iter()
            .enumerate()
            .filter(|(_, (_, action))| *action == Action::Read);
        let mut in_flight = JoinSet::new();
        let mut failed: Option<(usize, Fault)> = None;
        loop {
            while in_flight.len() < READS_IN_FLIGHT && failed.is_none() {
                let Some((index, (dn, _))) = pending.next() else {
                    break;
                };
                let (mut ldap, timeout, dn) = (self.ldap.clone(), self.timeout, dn.clone());
                let (filter, attributes) = (Arc::clone(&filter), Arc::clone(&attributes));
                in_flight.spawn(async move {
                    let read =
                        protocol::read_entry(&mut ldap, timeout, &dn, &filter, &attributes).await;
                    (index, dn, read)
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let (index, fault) = match joined {
                Ok((index, _, Ok(entry))) => {
                    reads[index] = entry;
                    continue;
                }
                Ok((index, dn, Err(failure))) => (
                    index,
                    failure.into_fault(&format!("reading the changed entry {dn}")),
                ),
                Err(error) => (
                    0,
                    Fault {
                        kind: FaultKind::ConnectorException,
                        message: format!("a read of a changed entry did not finish: {error}"),
                    },
                ),
            };
            if failed.as_ref().is_none_or(|(first, _)| index < *first) {
                failed = Some((index, fault));
            }
        }
        match failed {
            Some((_, fault)) => Err(fault),
            None => Ok(reads),
        }
    }
}

/// Where a delta import stands.
#[derive(Debug)]
pub(super) struct DeltaCursor {
    /// The `reqStart` of the last record handed out (or the start watermark).
    after: String,
    /// Records of the current window not handed out yet.
    buffer: VecDeque<LogRecord>,
    /// The current window holds the last records: no scan after it.
    exhausted: bool,
    /// The expiry check was done.
    checked: bool,
}

impl DeltaCursor {
    /// A cursor after `watermark`, which must be an accesslog position.
    pub fn after(watermark: Option<&Watermark>) -> Result<Self, Fault> {
        let Some(watermark) = watermark else {
            return Err(Fault {
                kind: FaultKind::WatermarkExpired,
                message: "a delta import needs a committed watermark and the partition has none: run a full import first (a full import commits none when it finds no accesslog under accesslog_base: configure the accesslog overlay there)".into(),
            });
        };
        let text = watermark.display_text();
        if !is_position(&text) {
            return Err(Fault {
                kind: FaultKind::WatermarkExpired,
                message: format!(
                    "the committed watermark {text:?} is not an accesslog position (a reqStart time or {LOG_EMPTY}); run a full import to start from one"
                ),
            });
        }
        Ok(DeltaCursor {
            after: text,
            buffer: VecDeque::new(),
            exhausted: false,
            checked: false,
        })
    }
}

/// The fraction digits `reqStart` values carry (OpenLDAP writes microseconds).
const FRACTION_DIGITS: usize = 6;

/// A filter value that sorts just after the position `after` and before every later `reqStart`.
///
/// Filters cannot name `after` itself: slapd normalizes a generalized time in a filter by
/// stripping trailing zeros from its fraction, while the accesslog stores `reqStart` as written,
/// and its ordering rule compares the two as bytes, so `(reqStart<=T)` misses the record `T`
/// when `T` ends in `0` (and `(reqStart=T)` may miss it too). The fraction is padded to
/// microseconds and given one more digit, `1`, which no normalization strips: every stored value
/// at or before `after` sorts below it, every later one above.
fn just_after(after: &str) -> String {
    let body = after.strip_suffix('Z').unwrap_or(after);
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let mut fraction = fraction.to_owned();
    while fraction.len() < FRACTION_DIGITS {
        fraction.push('0');
    }
    format!("{whole}.{fraction}1Z")
}

/// Whether the position `start` is after the position `after`, by time: whole seconds first,
/// then the fraction as a decimal (so `…5Z` and `…5.000000Z` are the same instant).
fn is_later(start: &str, after: &str) -> bool {
    fn key(position: &str) -> (&str, String) {
        let body = position.strip_suffix('Z').unwrap_or(position);
        let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
        (whole, fraction.trim_end_matches('0').to_owned())
    }
    key(start) > key(after)
}

/// Whether `text` is an accesslog position: [`LOG_EMPTY`], or a generalized time
/// `YYYYmmddHHMMSS[.f+]Z`.
fn is_position(text: &str) -> bool {
    if text == LOG_EMPTY {
        return true;
    }
    let Some(body) = text.strip_suffix('Z') else {
        return false;
    };
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (body, None),
    };
    whole.len() == 14
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction
            .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()))
}

/// What a change record asks of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Read the entry's current state.
    Read,
    /// The entry is gone.
    Delete,
}

/// What a write record did.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RecordKind {
    /// An add or a modify: the entry is read again.
    AddOrModify,
    /// A delete.
    Delete,
    /// A modrdn: the old DN is gone, the new one is read.
    Rename { new_dn: String },
    /// A record the connector cannot understand.
    Unreadable { reason: String },
}

/// One write record of the accesslog.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LogRecord {
    start: String,
    dn: String,
    kind: RecordKind,
}

impl LogRecord {
    /// The record an accesslog entry holds. One that cannot be understood (no `reqDN` or
    /// `reqType`, an unknown `reqType`, a rename without `reqNewRDN`) is kept as
    /// [`RecordKind::Unreadable`]: the change log is broken there, which the page reports as an
    /// `import-parse-error` (R5) rather than a guess.
    fn of(start: String, entry: &Entry) -> Self {
        let dn = entry.text("reqDN").map(str::to_owned);
        let unreadable = |what: &str| {
            RecordKind::Unreadable {
            reason: format!(
                "the accesslog record {} {what}; the accesslog overlay writes every record with reqDN and reqType (add, modify, delete, modrdn)",
                entry.dn
            ),
        }
        };
        let kind = match (entry.text("reqType"), dn.as_deref()) {
            (_, None) => unreadable("has no reqDN"),
            (None, _) => unreadable("has no reqType"),
            (Some("add" | "modify"), _) => RecordKind::AddOrModify,
            (Some("delete"), _) => RecordKind::Delete,
            (Some("modrdn"), Some(old)) => match entry.text("reqNewRDN") {
                None => unreadable("is a modrdn without reqNewRDN"),
                Some(rdn) => {
                    let superior = entry
                        .text("reqNewSuperior")
                        .or_else(|| protocol::parent_dn(old));
                    RecordKind::Rename {
                        new_dn: match superior {
                            Some(superior) => format!("{rdn},{superior}"),
                            None => rdn.to_owned(),
                        },
                    }
                }
            },
            (Some(other), _) => unreadable(&format!("has the unknown reqType {other:?}")),
        };
        LogRecord {
            start,
            dn: dn.unwrap_or_default(),
            kind,
        }
    }
}

/// An entry as an object: its DN the anchor, its attributes as text. A value that is not UTF-8
/// text cannot be staged (attribute values are strings): the entry is an object-level error on
/// its page, and the watermark holds there (R1) until the value is fixed at the source or the
/// attribute is left out of the partition's `attributes`.
fn object_of(entry: Entry) -> Result<ObjectChange, DiscoveryError> {
    let mut attributes = Attributes::new();
    for (name, values) in entry.attributes {
        let mut texts = Vec::with_capacity(values.len());
        for value in values {
            match String::from_utf8(value) {
                Ok(text) => texts.push(text),
                Err(error) => {
                    return Err(DiscoveryError {
                        anchor: Anchor::from(entry.dn.as_str()),
                        kind: ObjectErrorKind::CustomContinueRun,
                        name: NOT_TEXT_ERROR.to_owned(),
                        description: format!(
                            "a value of {name} is not UTF-8 text (invalid byte at {}); syncfold reads values as text: fix the value at the source, or leave {name} out of the partition's attributes",
                            error.utf8_error().valid_up_to()
                        ),
                    })
                }
            }
        }
        let value = match texts.len() {
            0 => continue,
            1 => AttributeValue::Single(texts.remove(0)),
            _ => AttributeValue::Multi(texts),
        };
        attributes.0.insert(name, value);
    }
    Ok(ObjectChange {
        anchor: Anchor::from(entry.dn.as_str()),
        kind: ChangeKind::Add,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_generalized_times_or_the_empty_log() {
        assert!(is_position("20261204032730.000005Z"));
        assert!(is_position("20261204032730Z"));
        assert!(is_position(LOG_EMPTY));
        assert!(!is_position("W1"));
        assert!(!is_position("2026120403273.000005Z"));
        assert!(!is_position("20261204032730.Z"));
        assert!(!is_position("20261204032730.000005Z)(x=*"));
    }

    #[test]
    fn the_value_just_after_a_position_keeps_its_trailing_zeros_meaningful() {
        assert_eq!(
            just_after("20261204040022.000020Z"),
            "20261204040022.0000201Z"
        );
        assert_eq!(just_after("20261204040022Z"), "20261204040022.0000001Z");
        assert_eq!(just_after("20261204040022.5Z"), "20261204040022.5000001Z");
        assert!(is_later("20261204040022.000021Z", "20261204040022.000020Z"));
        assert!(!is_later(
            "20261204040022.000020Z",
            "20261204040022.000020Z"
        ));
        assert!(!is_later("20261204040022.000000Z", "20261204040022Z"));
        assert!(is_later("20261204040023.000000Z", "20261204040022.999999Z"));
    }

    fn record(attributes: &[(&str, &str)]) -> LogRecord {
        let entry = Entry {
            dn: "reqStart=20261204040022.000020Z,cn=accesslog".into(),
            attributes: attributes
                .iter()
                .map(|(name, value)| (name.to_string(), vec![value.as_bytes().to_vec()]))
                .collect(),
        };
        LogRecord::of("20261204040022.000020Z".into(), &entry)
    }

    #[test]
    fn records_are_read_by_their_type_and_the_unknown_ones_kept_as_unreadable() {
        let renamed = record(&[
            ("reqType", "modrdn"),
            ("reqDN", "uid=a,ou=people,dc=org"),
            ("reqNewRDN", "uid=b"),
        ]);
        assert_eq!(
            renamed.kind,
            RecordKind::Rename {
                new_dn: "uid=b,ou=people,dc=org".into()
            }
        );
        let moved = record(&[
            ("reqType", "modrdn"),
            ("reqDN", "uid=a,ou=people,dc=org"),
            ("reqNewRDN", "uid=a"),
            ("reqNewSuperior", "ou=alumni,dc=org"),
        ]);
        assert_eq!(
            moved.kind,
            RecordKind::Rename {
                new_dn: "uid=a,ou=alumni,dc=org".into()
            }
        );
        let unknown = record(&[("reqType", "frobnicate"), ("reqDN", "uid=a,dc=org")]);
        assert!(
            matches!(&unknown.kind, RecordKind::Unreadable { reason } if reason.contains("\"frobnicate\"")),
            "{unknown:?}"
        );
        assert!(matches!(
            record(&[("reqType", "add")]).kind,
            RecordKind::Unreadable { .. }
        ));
    }

    #[test]
    fn a_value_that_is_not_text_is_an_error_on_the_entry() {
        let entry = Entry {
            dn: "uid=a,dc=org".into(),
            attributes: vec![
                ("cn".into(), vec![b"A".to_vec()]),
                ("audio".into(), vec![vec![0xff]]),
            ],
        };
        let error = object_of(entry).expect_err("refused");
        assert_eq!(error.anchor, Anchor::from("uid=a,dc=org"));
        assert_eq!(error.name, NOT_TEXT_ERROR);
        assert!(error.description.contains("audio"));
    }
}
