//! The built-in demo history: a week of a directory sync, as a [`Script`].
//!
//! Support for the `syncfold demo` command and the tests, public for them: not part of the
//! embedding API, and free to change between releases.
//!
//! Night by night ([`nights`]): a clean full import; a user whose name holds a control character
//! starts failing delta imports and holds the watermark back night after night; an export meets a
//! missing parent OU and a reference that must be retried; the OAuth refresh token expires and an
//! administrator re-enters credentials the next morning; a full import errors on that same user
//! and keeps every object; the user is fixed and a clean full import obsoletes the three accounts
//! that left.

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

/// One night of the demo week: the steps run that night, the administrator's steps of the next
/// morning, and what happened in the world that night, in an operator's words. What the engine
/// made of it (statuses, watermarks, alerts) is not written here: `syncfold demo` reads it from the
/// folded state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Night {
    /// 1 for the first night of the week.
    pub number: u32,
    /// What happened at the source or the target that night, in one or two sentences.
    pub story: &'static str,
    /// The runs of the night, in order (they start at 22:00 UTC).
    pub steps: Vec<Step>,
    /// The administrator's actions the next morning (08:30 UTC), if any.
    pub morning: Vec<Step>,
}

/// Midnight UTC at the start of the first night's date, Thursday 1 January 2026, in milliseconds.
pub const FIRST_NIGHT: Timestamp = Timestamp(1_767_225_600_000);

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

impl Night {
    /// When the night's first run starts: 22:00 UTC on its date.
    pub fn starts_at(&self) -> Timestamp {
        Timestamp(FIRST_NIGHT.0 + i64::from(self.number.saturating_sub(1)) * DAY_MS + 22 * HOUR_MS)
    }

    /// When the next morning's administrator steps are recorded: 08:30 UTC the next day.
    pub fn morning_at(&self) -> Timestamp {
        Timestamp(FIRST_NIGHT.0 + i64::from(self.number) * DAY_MS + 8 * HOUR_MS + HOUR_MS / 2)
    }
}

/// The week night by night.
pub fn nights() -> Vec<Night> {
    let people = PartitionName::from("people");
    let everyone: Vec<ObjectChange> = (0..PEOPLE).map(person).collect();
    let mut nights = vec![Night {
        number: 1,
        story: "The first full import reads the 40 people of ou=people, ten to a page.",
        steps: vec![Step::Import {
            partition: people.clone(),
            kind: RunKind::FullImport,
            pages: pages_of(everyone.clone(), 10, "usn-full-1"),
        }],
        morning: Vec::new(),
    }];
    // Nights 2 to 4: user17's bad name holds the delta watermark back at the start each time.
    let stories = [
        "Three people change; uid=user17 now has a control character in its cn, which the connector cannot read.",
        "The delta import reads uid=user17 again, fails on it again, and reads the other changes.",
        "The same again, for the third night in a row.",
    ];
    for (day, story) in (2..=4).zip(stories) {
        nights.push(Night {
            number: day,
            story,
            steps: vec![delta(
                day as usize,
                &[17, day as usize, day as usize + 10],
                Some(17),
            )],
            morning: Vec::new(),
        });
    }
    nights.push(Night {
        number: 5,
        story: "An export sets uid=user03's manager to uid=user07 and adds a contractor under ou=contractors, an OU the directory does not have yet.",
        steps: vec![Step::Export {
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
        }],
        morning: Vec::new(),
    });
    // Night 6: the OAuth refresh token has expired; an administrator re-enters credentials.
    nights.push(Night {
        number: 6,
        story: "The connector's OAuth refresh token has expired. In the morning an administrator enters new credentials and enables the connector again.",
        steps: vec![Step::Import {
            partition: people.clone(),
            kind: RunKind::DeltaImport,
            pages: vec![ImportPage::Fault(Fault {
                kind: FaultKind::OauthTokenExpired,
                message: "AADSTS700082: the refresh token has expired due to inactivity"
                    .to_owned(),
            })],
        }],
        morning: vec![
            Step::Admin {
                partition: None,
                action: AdminAction::CredentialsUpdated,
            },
            Step::Admin {
                partition: None,
                action: AdminAction::Enable,
            },
        ],
    });
    // Night 7: a full import to get past the stuck watermark, but user17 still fails: every
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
    nights.push(Night {
        number: 7,
        story: "The export sends again what night 5 could not finish, now that ou=contractors has been created. A full import is run to get past the stuck watermark, but uid=user17 still cannot be read.",
        steps: vec![
            Step::Export {
                partition: people.clone(),
                enqueue: Vec::new(),
                results: BTreeMap::new(),
                fault: None,
            },
            Step::Import {
                partition: people.clone(),
                kind: RunKind::FullImport,
                pages: full,
            },
        ],
        morning: Vec::new(),
    });
    // Night 8: user17 fixed at the source; three accounts left: a clean full import obsoletes them.
    let remaining: Vec<ObjectChange> = everyone
        .iter()
        .enumerate()
        .filter(|(index, _)| ![5, 22, 31].contains(index))
        .map(|(_, change)| change.clone())
        .collect();
    nights.push(Night {
        number: 8,
        story: "uid=user17's name is fixed at the source, and uid=user05, uid=user22 and uid=user31 have left the company.",
        steps: vec![Step::Import {
            partition: people,
            kind: RunKind::FullImport,
            pages: pages_of(remaining, 10, "usn-full-7"),
        }],
        morning: Vec::new(),
    });
    nights
}

/// The demo's connector, settings and steps: every night's steps, then its morning's, in order.
pub fn week() -> Script {
    Script {
        connector: ConnectorName::from("corp-directory"),
        settings: Settings::default(),
        steps: nights()
            .into_iter()
            .flat_map(|night| night.steps.into_iter().chain(night.morning))
            .collect(),
    }
}
