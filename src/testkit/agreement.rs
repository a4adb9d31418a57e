//! The agreement check: does a folded [`State`] (the core's, or the one an engine's log folds to)
//! say what the independent [`ReferenceModel`] says about the same history?
//!
//! [`compare`] returns every difference it finds, not only the first, so a failing property test
//! shows the whole disagreement at once. What it compares is what the rules talk about and the
//! model keeps: per partition the committed watermark, `full-import-required`, the connector space
//! (anchor and obsolete flag), the pending exports in send order and the stuck-watermark count and
//! warning ([R6](crate::rules#r6)); per run its partition, kind, status, committed watermark,
//! obsoletion, obsoleted count, errors and warnings; and the alert wall
//! ([R10](crate::rules#r10)): [`State::alerts`] of the connector, each reduced to the model's
//! comparable [`ModelAlert`] (scope, partition, anchor, code, severity, recipient and, for
//! `stuck-watermark`, the objects named), against [`ReferenceModel::alerts`]. Alerts are compared
//! as sets: each one only one side has is a difference of its own.
//!
//! ```
//! use syncfold::core::*;
//! use syncfold::script::{ImportPage, Player, Step};
//! use syncfold::testkit::{agreement, reference::ReferenceModel};
//!
//! let connector = ConnectorName::from("hr");
//! let step = Step::Import {
//!     partition: PartitionName::from("people"),
//!     kind: RunKind::FullImport,
//!     pages: vec![ImportPage::Page(Page {
//!         watermark: Some(Watermark::from_text("F1")),
//!         ..Page::default()
//!     })],
//! };
//! let mut player = Player::new(Actor::from_name("doc"), Timestamp(0), 1);
//! player.play(&connector, &Settings::default(), &step).expect("plays");
//! let mut model = ReferenceModel::new(connector.clone(), Settings::default(), 100);
//! model.apply(&step);
//! assert!(agreement::compare(player.state(), &connector, &model).is_empty());
//! ```

use super::reference::{ModelAlert, ReferenceModel};
use crate::core::{Anchor, ConnectorName, ExportChangeKind, State};
use std::collections::BTreeMap;
use std::fmt;

/// One thing the core's state and the model say differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What differs, e.g. `committed watermark of people` or `run 3`.
    pub subject: String,
    /// What the core's state says, as debug text.
    pub core: String,
    /// What the model says, as debug text.
    pub model: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the core says {}, the model says {}",
            self.subject, self.core, self.model
        )
    }
}

/// Collects differences, rendering both sides only when they differ.
#[derive(Default)]
struct Differences(Vec<Difference>);

impl Differences {
    fn check<T: PartialEq + fmt::Debug>(
        &mut self,
        subject: impl Fn() -> String,
        core: T,
        model: T,
    ) {
        if core != model {
            self.0.push(Difference {
                subject: subject(),
                core: format!("{core:?}"),
                model: format!("{model:?}"),
            });
        }
    }
}

/// Compares `state` with `model` for `connector`: the partitions the model knows, every run of
/// `connector` in the state, in id order, and the connector's alert wall. An empty list means
/// they agree.
///
/// The model numbers its runs from 1 as if its connector were alone in the log, so compare a
/// state whose log holds the runs of this one connector only (as a test's log does).
pub fn compare(
    state: &State,
    connector: &ConnectorName,
    model: &ReferenceModel,
) -> Vec<Difference> {
    let mut differences = Differences::default();
    for partition in model.partitions() {
        let part = state.partition(connector, &partition);
        differences.check(
            || format!("committed watermark of {partition}"),
            part.and_then(|p| p.committed_watermark().cloned()),
            model.committed_watermark(&partition),
        );
        differences.check(
            || format!("full-import-required of {partition}"),
            part.is_some_and(|p| p.full_import_required().is_some()),
            model.full_import_required(&partition),
        );
        let objects: BTreeMap<Anchor, bool> = part
            .map(|p| {
                p.objects()
                    .iter()
                    .map(|(anchor, object)| (Anchor::from(anchor), object.obsolete))
                    .collect()
            })
            .unwrap_or_default();
        differences.check(
            || format!("connector space of {partition} (anchor, obsolete)"),
            objects,
            model.objects(&partition),
        );
        let pending: Vec<(Anchor, ExportChangeKind)> = part
            .map(|p| {
                p.exports()
                    .in_order()
                    .map(|entry| (entry.change.anchor.clone(), entry.change.kind))
                    .collect()
            })
            .unwrap_or_default();
        differences.check(
            || format!("pending exports of {partition}"),
            pending,
            model.pending_exports(&partition),
        );
        differences.check(
            || format!("stuck-watermark count and warning of {partition}"),
            part.map_or((0, false), |p| (p.stuck.count, p.stuck.warning)),
            (
                model.stuck_count(&partition),
                model.stuck_warning(&partition),
            ),
        );
    }
    compare_alerts(state, connector, model, &mut differences);
    let core_runs: Vec<_> = state
        .runs()
        .iter()
        .filter(|record| &record.connector == connector)
        .collect();
    differences.check(
        || "number of runs".to_owned(),
        core_runs.len(),
        model.runs().len(),
    );
    for (record, expected) in core_runs.iter().zip(model.runs()) {
        differences.check(
            || format!("run {}", record.id),
            (
                record.id.0,
                &record.partition,
                record.kind,
                record.status,
                &record.committed_watermark,
                record.obsoletion,
                record.counts.obsoleted,
                record.counts.errors,
                record.counts.warnings,
            ),
            (
                expected.id,
                &expected.partition,
                expected.kind,
                Some(expected.status),
                &expected.committed_watermark,
                expected.obsoletion,
                expected.obsoleted,
                expected.errors,
                expected.warnings,
            ),
        );
    }
    differences.0
}

/// The core's wall for `connector`, reduced to the model's comparable shape, sorted.
pub fn core_alerts(state: &State, connector: &ConnectorName) -> Vec<ModelAlert> {
    let mut alerts: Vec<ModelAlert> = state
        .alerts()
        .into_iter()
        .filter(|alert| &alert.connector == connector)
        .map(|alert| ModelAlert {
            scope: alert.scope,
            partition: alert.partition,
            anchor: alert.anchor,
            code: alert.code,
            severity: alert.severity,
            recipient: alert.recipient,
            objects: {
                let mut objects = alert.objects;
                objects.sort();
                objects
            },
        })
        .collect();
    alerts.sort();
    alerts
}

/// [R10](crate::rules#r10): every alert on one wall and not on the other.
fn compare_alerts(
    state: &State,
    connector: &ConnectorName,
    model: &ReferenceModel,
    differences: &mut Differences,
) {
    let core = core_alerts(state, connector);
    let expected = model.alerts();
    let describe = |alert: &ModelAlert| {
        format!(
            "{:?} alert {} ({:?}, to {:?}) on {}{}{}",
            alert.scope,
            alert.code,
            alert.severity,
            alert.recipient,
            alert
                .partition
                .as_ref()
                .map_or("the connector", |p| p.as_str()),
            alert
                .anchor
                .as_ref()
                .map_or(String::new(), |a| format!(" object {a}")),
            if alert.objects.is_empty() {
                String::new()
            } else {
                format!(" naming {:?}", alert.objects)
            }
        )
    };
    for alert in core.iter().filter(|alert| !expected.contains(alert)) {
        differences.0.push(Difference {
            subject: describe(alert),
            core: "open".to_owned(),
            model: "not open".to_owned(),
        });
    }
    for alert in expected.iter().filter(|alert| !core.contains(alert)) {
        differences.0.push(Difference {
            subject: describe(alert),
            core: "not open".to_owned(),
            model: "open".to_owned(),
        });
    }
    differences.check(
        || "number of open alerts".to_owned(),
        core.len(),
        expected.len(),
    );
}
