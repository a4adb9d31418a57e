//! The built-in demo history: a week of a directory sync, as a [`Script`].
//!
//! Support for the `syncfold demo` command and the tests, public for them: not part of the
//! embedding API, and free to change between releases.
//!
//! Day by day: a clean full import; a user whose name holds a control character starts failing
//! delta imports and holds the watermark back night after night; the OAuth refresh token expires
//! and an administrator re-enters credentials; a full import errors on that same user and keeps
//! every object; the user is fixed and a clean full import obsoletes the three accounts that left.
//! Exports run alongside, with a missing parent OU and a reference that must be retried.

use crate::core::*;
use crate::script::{ImportPage, Script, Step};
use std::collections::BTreeMap;

/// How many people the demo directory starts with.
pub const PEOPLE: usize = 40;

fn person(index: usize) -> ObjectChange {
    let name = format!("uid=user{index:02},ou=people");
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "mail".to_owned(),
        AttributeValue::Single(format!("user{index:02}@example.org")),
    );
    attributes.insert(
        "title".to_owned(),
        AttributeValue::Single(
            if index.is_multiple_of(7) {
                "lead"
            } else {
                "engineer"
            }
            .to_owned(),
        ),
    );
    ObjectChange {
        anchor: Anchor(name),
        kind: ChangeKind::Add,
        attributes: Attributes(attributes),
    }
}

fn pages_of(changes: Vec<ObjectChange>, size: usize, prefix: &str) -> Vec<ImportPage> {
    changes
        .chunks(size.max(1))
        .enumerate()
        .map(|(index, chunk)| {
            ImportPage::Page(Page {
                changes: chunk.to_vec(),
                watermark: Some(Watermark::from_text(&format!("{prefix}-{}", index + 1))),
                ..Page::default()
            })
        })
        .collect()
}

fn bad_name(index: usize) -> DiscoveryError {
    DiscoveryError {
        anchor: person(index).anchor,
        kind: ObjectErrorKind::CustomContinueRun,
        name: "invalid-characters-error".to_owned(),
        description: "the cn attribute holds a control character (U+0007)".to_owned(),
    }
}

fn delta(day: usize, changed: &[usize], failing: Option<usize>) -> Step {
    let mut pages = Vec::new();
    for (index, person_index) in changed.iter().enumerate() {
        let mut change = person(*person_index);
        change.kind = ChangeKind::Update;
        let mut page = Page {
            changes: vec![change],
            watermark: Some(Watermark::from_text(&format!(
                "usn-{}",
                day * 1000 + index + 1
            ))),
            ..Page::default()
        };
        if index == 0 {
            if let Some(failing) = failing {
                page.errors.push(bad_name(failing));
            }
        }
        pages.push(ImportPage::Page(page));
    }
    Step::Import {
        partition: PartitionName::from("people"),
        kind: RunKind::DeltaImport,
        pages,
    }
}

/// The actor of the demo's events. A log whose first event has it is a demo log, which `demo`
/// may replace; no other log is ever removed.
pub const ACTOR: &str = "syncfold-demo";

/// The demo's connector, settings and steps.
pub fn week() -> Script {
    let people = PartitionName::from("people");
    let everyone: Vec<ObjectChange> = (0..PEOPLE).map(person).collect();
    let mut steps = vec![Step::Import {
        partition: people.clone(),
        kind: RunKind::FullImport,
        pages: pages_of(everyone.clone(), 10, "usn-full-1"),
    }];
    // Nights 2 to 4: user17's bad name holds the delta watermark back at the start each time.
    for day in 2..=4 {
        steps.push(delta(day, &[17, day, day + 10], Some(17)));
    }
    steps.push(Step::Export {
        partition: people.clone(),
        enqueue: vec![
            ExportChange {
                anchor: person(3).anchor,
                kind: ExportChangeKind::Update,
                attributes: person(3).attributes,
                references: Attributes(BTreeMap::from([(
                    "manager".to_owned(),
                    AttributeValue::Single(person(7).anchor.0),
                )])),
            },
            ExportChange {
                anchor: Anchor::from("uid=user41,ou=contractors"),
                kind: ExportChangeKind::Add,
                attributes: person(41).attributes,
                references: Attributes::new(),
            },
        ],
        results: BTreeMap::from([
            (person(3).anchor, ExportOutcome::RetryReferenceAttribute),
            (
                Anchor::from("uid=user41,ou=contractors"),
                ExportOutcome::ProvisioningParent {
                    parent: Anchor::from("ou=contractors"),
                },
            ),
        ]),
        fault: None,
    });
    // Night 5: the OAuth refresh token has expired; an administrator re-enters credentials.
    steps.push(Step::Import {
        partition: people.clone(),
        kind: RunKind::DeltaImport,
        pages: vec![ImportPage::Fault(Fault {
            kind: FaultKind::OauthTokenExpired,
            message: "AADSTS700082: the refresh token has expired due to inactivity".to_owned(),
        })],
    });
    steps.push(Step::Admin {
        partition: None,
        action: AdminAction::CredentialsUpdated,
    });
    steps.push(Step::Admin {
        partition: None,
        action: AdminAction::Enable,
    });
    steps.push(Step::Export {
        partition: people.clone(),
        enqueue: Vec::new(),
        results: BTreeMap::new(),
        fault: None,
    });
    // Night 6: a full import to get past the stuck watermark, but user17 still fails: every
    // object is kept, nothing is obsoleted, nothing is committed.
    let mut full = pages_of(
        everyone
            .iter()
            .filter(|change| change.anchor != person(17).anchor)
            .cloned()
            .collect(),
        10,
        "usn-full-6",
    );
    if let Some(ImportPage::Page(page)) = full.get_mut(1) {
        page.errors.push(bad_name(17));
    }
    steps.push(Step::Import {
        partition: people.clone(),
        kind: RunKind::FullImport,
        pages: full,
    });
    // Night 7: user17 fixed at the source; three accounts left: a clean full import obsoletes them.
    let remaining: Vec<ObjectChange> = everyone
        .iter()
        .enumerate()
        .filter(|(index, _)| ![5, 22, 31].contains(index))
        .map(|(_, change)| change.clone())
        .collect();
    steps.push(Step::Import {
        partition: people,
        kind: RunKind::FullImport,
        pages: pages_of(remaining, 10, "usn-full-7"),
    });
    Script {
        connector: ConnectorName::from("corp-directory"),
        settings: Settings::default(),
        steps,
    }
}
