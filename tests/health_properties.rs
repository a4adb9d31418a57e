//! Property tests of health, escalation and alerts (R4, R6, R8, R9, R10) over generated histories
//! rich in faults and object errors.
//!
//! Each case plays a history and folds its events one by one. Beside the fold, this file keeps
//! its own small account of what the rules demand, computed from the events alone: consecutive
//! transient failures per connector and code, the credentials fault and the two administrator
//! actions that lift it, held obsoletions and their approval, and the stuck-watermark count. After
//! every event it checks the state and its alert wall against that account: escalation happens
//! exactly at `retry_count` and never before, and suspends the connector, never a partition on
//! its own; a disabled connector starts no run until `credentials-updated` and then `enable`; a
//! held obsoletion is never applied without approval; the stuck warning appears and closes
//! exactly as R6 says; every open alert has a remedy.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::{BTreeMap, BTreeSet};
use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;
use syncfold::script::Player;
use syncfold::testkit::generate::{script, HistoryShape};

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1000;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/health_properties.txt",
    )));
    config
}

/// The transient faults of R9's table.
const TRANSIENT: [FaultKind; 4] = [
    FaultKind::ServerDown,
    FaultKind::FailedConnection,
    FaultKind::DroppedConnection,
    FaultKind::ConnectorException,
];

fn transient(kind: FaultKind) -> bool {
    TRANSIENT.contains(&kind)
}

/// The codes of the partition-scope alerts of `connector`/`name` that `wanted` picks.
fn partition_codes<'a>(
    alerts: &'a [Alert],
    connector: &ConnectorName,
    name: &PartitionName,
    wanted: impl Fn(&str) -> bool,
) -> BTreeSet<&'a str> {
    alerts
        .iter()
        .filter(|a| {
            &a.connector == connector
                && a.partition.as_ref() == Some(name)
                && a.scope == AlertScope::Partition
                && wanted(&a.code)
        })
        .map(|a| a.code.as_str())
        .collect()
}

/// What the rules demand, kept from the events alone.
#[derive(Default)]
struct Account {
    /// Per connector: consecutive runs ending with each transient code.
    counts: BTreeMap<ConnectorName, BTreeMap<&'static str, u32>>,
    /// Per connector: transient codes whose alert is open (R10: until a run of the connector
    /// ends without the code; an administrator's action is not a run).
    open_transient: BTreeMap<ConnectorName, BTreeSet<&'static str>>,
    suspended: BTreeMap<ConnectorName, &'static str>,
    /// Disabled connectors, and whether `credentials-updated` was recorded since.
    disabled: BTreeMap<ConnectorName, bool>,
    /// Per run: the fault that stopped it.
    faults: BTreeMap<RunId, FaultKind>,
    /// Per partition: consecutive held-back delta imports.
    stuck: BTreeMap<PartitionName, u32>,
    held: BTreeMap<PartitionName, BTreeSet<Anchor>>,
    runs_started: BTreeMap<RunId, (ConnectorName, PartitionName, RunKind, Option<Watermark>)>,
    /// Every partition a run was asked for (started or refused).
    partitions: BTreeSet<(ConnectorName, PartitionName)>,
    /// Per partition: the permanent codes of a broken change log whose alert is open (R9, R10:
    /// `watermark-expired` in any run, a fatal import error in a delta import; until a clean full
    /// import).
    change_log: BTreeMap<(ConnectorName, PartitionName), BTreeSet<&'static str>>,
    /// Per run: the limit that stopped it.
    limits: BTreeMap<RunId, LimitKind>,
    /// Per partition: the limit codes whose alert is open (R10: until a later run on the
    /// partition runs to its end).
    open_limits: BTreeMap<(ConnectorName, PartitionName), BTreeSet<&'static str>>,
}

fn check_history(script: &syncfold::script::Script) -> Result<(), TestCaseError> {
    let mut player = Player::new(Actor::from_name("health"), Timestamp(0), 1);
    player
        .play_script(script)
        .map_err(|e| TestCaseError::fail(format!("plays: {e}")))?;
    let catalog = RemedyCatalog::builtin();
    let mut state = State::new();
    let mut account = Account::default();
    let retry = script.settings.retry_count;
    let stuck_after = script.settings.stuck_after;
    for envelope in player.log() {
        let before = state.clone();
        state
            .apply(state.last_seq() + 1, envelope)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Every partition a run was asked for exists from then on, started or refused.
        if let Event::RunStarted {
            connector,
            partition,
            ..
        }
        | Event::RunRefused {
            connector,
            partition,
            ..
        } = &envelope.event
        {
            account
                .partitions
                .insert((connector.clone(), partition.clone()));
        }
        match &envelope.event {
            Event::RunStarted {
                run,
                connector,
                partition,
                kind,
                ..
            } => {
                prop_assert!(
                    !account.disabled.contains_key(connector),
                    "run {} started on a disabled connector",
                    run
                );
                prop_assert!(
                    !account.suspended.contains_key(connector),
                    "run {} started on a suspended connector",
                    run
                );
                let start = before
                    .partition(connector, partition)
                    .and_then(|p| p.committed_watermark().cloned());
                account
                    .runs_started
                    .insert(*run, (connector.clone(), partition.clone(), *kind, start));
            }
            Event::RunRefused {
                run,
                connector,
                status,
                ..
            } => match status {
                RunStatus::NoStartDisabled => prop_assert!(
                    account.disabled.contains_key(connector),
                    "run {} refused as disabled",
                    run
                ),
                RunStatus::NoStartSuspended => prop_assert!(
                    account.suspended.contains_key(connector),
                    "run {} refused as suspended",
                    run
                ),
                _ => {}
            },
            Event::FaultRecorded { run, fault, .. } => {
                account.faults.insert(*run, fault.kind);
                if fault.kind == FaultKind::WatermarkExpired {
                    let (connector, partition, ..) = &account.runs_started[run];
                    account
                        .change_log
                        .entry((connector.clone(), partition.clone()))
                        .or_default()
                        .insert(fault.kind.as_str());
                }
                if matches!(
                    fault.kind,
                    FaultKind::BadCredentials | FaultKind::OauthTokenExpired
                ) {
                    let connector = &account.runs_started[run].0;
                    account.disabled.insert(connector.clone(), false);
                }
            }
            Event::AdminActionRecorded {
                connector,
                partition,
                action,
            } => match action {
                AdminAction::CredentialsUpdated => {
                    if let Some(updated) = account.disabled.get_mut(connector) {
                        *updated = true;
                    }
                }
                AdminAction::Enable if account.disabled.get(connector) == Some(&true) => {
                    account.disabled.remove(connector);
                }
                AdminAction::Resume if partition.is_none() => {
                    account.suspended.remove(connector);
                    account.counts.remove(connector);
                }
                AdminAction::ApproveObsoletion => match partition {
                    Some(name) => {
                        account.held.remove(name);
                    }
                    None => account.held.clear(),
                },
                _ => {}
            },
            Event::FatalImportErrorRecorded { run, error, .. } => {
                let (connector, partition, kind, _) = &account.runs_started[run];
                if *kind == RunKind::DeltaImport {
                    account
                        .change_log
                        .entry((connector.clone(), partition.clone()))
                        .or_default()
                        .insert(error.kind.as_str());
                }
            }
            Event::LimitReached { run, limit, .. } => {
                account.limits.insert(*run, *limit);
            }
            Event::ObsoletionHeld { run, anchors } => {
                let partition = account.runs_started[run].1.clone();
                account
                    .held
                    .insert(partition, anchors.iter().cloned().collect());
            }
            Event::ObsoletionApplied { run, .. } => {
                account.held.remove(&account.runs_started[run].1);
            }
            Event::PageRead { run, changes, .. } => {
                let partition = account.runs_started[run].1.clone();
                if let Some(held) = account.held.get_mut(&partition) {
                    for change in changes {
                        held.remove(&change.anchor);
                    }
                }
            }
            Event::RunEnded {
                run,
                status,
                committed_watermark,
                ..
            } if *status != RunStatus::Interrupted => {
                let (connector, partition, kind, start) = account.runs_started[run].clone();
                // R10: limit alerts close when a run runs to its end; a limit opens its own.
                let open = account
                    .open_limits
                    .entry((connector.clone(), partition.clone()))
                    .or_default();
                if status.ran_to_end() {
                    open.clear();
                }
                if kind == RunKind::FullImport
                    && matches!(
                        status,
                        RunStatus::Success
                            | RunStatus::CompletedWarnings
                            | RunStatus::StoppedDeletionThresholdExceeded
                    )
                {
                    account
                        .change_log
                        .remove(&(connector.clone(), partition.clone()));
                }
                if let Some(limit) = account.limits.get(run) {
                    open.insert(limit.code());
                }
                // R9: consecutive runs of the connector ending with the same transient code.
                let code = account
                    .faults
                    .get(run)
                    .copied()
                    .filter(|kind| transient(*kind))
                    .map(FaultKind::as_str);
                let open = account.open_transient.entry(connector.clone()).or_default();
                open.retain(|open| Some(*open) == code);
                open.extend(code);
                let counts = account.counts.entry(connector.clone()).or_default();
                counts.retain(|counted, _| Some(*counted) == code);
                if let Some(code) = code {
                    let count = counts.entry(code).or_insert(0);
                    *count += 1;
                    if *count >= retry && !account.suspended.contains_key(&connector) {
                        account.suspended.insert(connector.clone(), code);
                    }
                }
                // R6: held back by object errors where it started; a move resets.
                let moved = *committed_watermark != start;
                let stuck = account.stuck.entry(partition.clone()).or_insert(0);
                if moved {
                    *stuck = 0;
                } else if kind == RunKind::DeltaImport
                    && matches!(
                        status,
                        RunStatus::CompletedDiscoveryErrors | RunStatus::StoppedObjectError
                    )
                {
                    *stuck += 1;
                }
            }
            _ => {}
        }
        // The state agrees with the account after every event.
        let alerts = state.alerts();
        for (connector, connector_state) in state.connectors() {
            for (name, part) in connector_state.partitions() {
                let expected = if account.disabled.contains_key(connector) {
                    Health::Disabled
                } else if account.suspended.contains_key(connector) {
                    Health::Suspended
                } else {
                    Health::Enabled
                };
                prop_assert_eq!(
                    state.health(connector, name),
                    expected,
                    "health of {} after event {}",
                    name,
                    state.last_seq()
                );
                // R9: a suspension is the connector's (no partition-scope code is transient): a
                // run on any of its partitions is refused for it, and no partition-scope alert
                // carries a transient code.
                let refused = state
                    .refusal_for(connector, name, RunKind::FullImport)
                    .map(|(status, _)| status);
                prop_assert_eq!(
                    refused == Some(RunStatus::NoStartSuspended),
                    expected == Health::Suspended,
                    "refusal {:?} of {} with health {:?} after event {}",
                    refused,
                    name,
                    expected,
                    state.last_seq()
                );
                let transient_here = partition_codes(&alerts, connector, name, |code| {
                    TRANSIENT.iter().any(|kind| kind.as_str() == code)
                });
                prop_assert!(
                    transient_here.is_empty(),
                    "partition-scope alerts {:?} on {} after event {}",
                    transient_here,
                    name,
                    state.last_seq()
                );
                // R4: a held object is never obsoleted without approval.
                for anchor in account.held.get(name).into_iter().flatten() {
                    let object = part.objects().get(anchor);
                    prop_assert!(
                        object.is_some_and(|o| !o.obsolete),
                        "held object {} obsolete without approval at event {}",
                        anchor,
                        state.last_seq()
                    );
                }
                // R6: the warning is open exactly when the count reached stuck_after.
                let count = account.stuck.get(name).copied().unwrap_or(0);
                let warning = alerts
                    .iter()
                    .find(|a| a.code == "stuck-watermark" && a.partition.as_ref() == Some(name));
                prop_assert_eq!(
                    warning.is_some(),
                    count >= stuck_after,
                    "stuck warning of {} at event {} (count {})",
                    name,
                    state.last_seq(),
                    count
                );
                if let Some(warning) = warning {
                    let holding: Vec<&Anchor> = part
                        .object_errors()
                        .iter()
                        .filter(|(_, e)| e.direction == ErrorDirection::Import)
                        .map(|(a, _)| a)
                        .collect();
                    prop_assert_eq!(warning.objects.iter().collect::<Vec<_>>(), holding);
                }
            }
        }
        // §7 and R10: every partition a run was asked for is listed, and its owner has an info
        // copy of each of its connector's alerts.
        for (connector, name) in &account.partitions {
            prop_assert!(
                state.partition(connector, name).is_some(),
                "partition {} missing after event {}",
                name,
                state.last_seq()
            );
            for owner in alerts.iter().filter(|a| {
                &a.connector == connector
                    && a.scope == AlertScope::Connector
                    && a.recipient == Recipient::ConnectorOwner
            }) {
                prop_assert!(
                    alerts.iter().any(|a| a.code == owner.code
                        && a.severity == Severity::Info
                        && a.partition.as_ref() == Some(name)),
                    "no info copy of {} for {} after event {}",
                    owner.code,
                    name,
                    state.last_seq()
                );
            }
        }
        // R10: each limit alert is open exactly until a later run on its partition runs to its
        // end, whatever other limit stopped runs meanwhile.
        for ((connector, name), expected) in &account.open_limits {
            let shown = partition_codes(&alerts, connector, name, |code| {
                code.ends_with("-limit-exceeded")
            });
            prop_assert_eq!(
                &shown,
                expected,
                "limit alerts of {} after event {}",
                name,
                state.last_seq()
            );
        }
        // R9, R10: a broken change log's permanent codes are error alerts until a clean full
        // import, whatever kind of run met them.
        for (connector, name) in &account.partitions {
            let shown = partition_codes(&alerts, connector, name, |code| {
                [
                    "watermark-expired",
                    "import-parse-error",
                    "import-read-error",
                ]
                .contains(&code)
            });
            let expected = account
                .change_log
                .get(&(connector.clone(), name.clone()))
                .cloned()
                .unwrap_or_default();
            prop_assert_eq!(
                shown,
                expected,
                "change-log alerts of {} after event {}",
                name,
                state.last_seq()
            );
        }
        // R10: a transient fault's alert is open exactly until a run of its connector ends
        // without it, whatever administrators did meanwhile.
        for (connector, _) in state.connectors() {
            let shown: BTreeSet<&str> = alerts
                .iter()
                .filter(|a| {
                    &a.connector == connector
                        && a.scope == AlertScope::Connector
                        && a.recipient == Recipient::ConnectorOwner
                        && TRANSIENT.iter().any(|kind| kind.as_str() == a.code)
                })
                .map(|a| a.code.as_str())
                .collect();
            let expected: BTreeSet<&str> = account
                .open_transient
                .get(connector)
                .into_iter()
                .flatten()
                .copied()
                .collect();
            prop_assert_eq!(
                shown,
                expected,
                "transient alerts of {} after event {}",
                connector,
                state.last_seq()
            );
        }
        // R9: escalation exactly at retry_count: a transient alert is a warning below it.
        for alert in alerts.iter().filter(|a| {
            a.scope == AlertScope::Connector && a.recipient == Recipient::ConnectorOwner
        }) {
            if let Some(count) = account
                .counts
                .get(&alert.connector)
                .and_then(|c| c.get(alert.code.as_str()))
            {
                let expected = if *count >= retry {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                if account.suspended.get(&alert.connector) == Some(&alert.code.as_str()) {
                    prop_assert_eq!(alert.severity, Severity::Error);
                } else {
                    prop_assert_eq!(
                        alert.severity,
                        expected,
                        "alert {} after {} failures (retry_count {})",
                        alert.code,
                        count,
                        retry
                    );
                }
            }
        }
        // R10: every open alert has a remedy.
        for alert in &alerts {
            let remedy = catalog.lookup(alert);
            prop_assert!(
                remedy.is_some_and(|r| !r.remedy.trim().is_empty()),
                "alert {:?} has no remedy",
                alert.code
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn health_follows_the_rules(script in script(HistoryShape::health())) {
        check_history(&script)?;
    }

    #[test]
    fn health_follows_the_rules_on_wide_histories(script in script(HistoryShape::default())) {
        check_history(&script)?;
    }
}

/// Every code syncfold raises has a remedy in the built-in catalog, and the seed's known errors
/// are there with their source.
#[test]
fn every_code_has_a_remedy() {
    let catalog = RemedyCatalog::builtin();
    let mut codes: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
    codes.extend([
        "import-parse-error",
        "import-read-error",
        "snapshot-limit-exceeded",
        "error-limit-exceeded",
        "warning-limit-exceeded",
        "stuck-watermark",
        "obsoletion-held",
        "full-import-required",
    ]);
    for code in codes {
        let remedy = catalog
            .find(code, "")
            .unwrap_or_else(|| panic!("no remedy for {code}"));
        assert!(!remedy.remedy.trim().is_empty());
    }
    for (message, title) in [
        (
            "The remote server returned an error: (404) Not Found",
            "(404)",
        ),
        ("The remote server returned an error: (403)", "(403)"),
        ("The XML document ended unexpectedly", "truncated XML"),
        (
            "Organization \"x\" is marked for removal",
            "marked for removal",
        ),
        ("Unsupported property field URI type", "unsupported server"),
        (
            "Remote server returned an error: (500) Internal server error",
            "(500)",
        ),
    ] {
        let remedy = catalog
            .find("connector-exception", message)
            .expect("a remedy");
        assert!(
            remedy.title.contains(title),
            "{message} -> {}",
            remedy.title
        );
        assert!(remedy.source.contains("seed 000"), "{}", remedy.source);
    }
    assert!(catalog
        .find("bad-credentials", "")
        .expect("remedy")
        .source
        .contains("seed 000"));
    assert!(catalog
        .find("oauth-token-expired", "")
        .expect("remedy")
        .source
        .contains("seed 000"));
    assert!(catalog
        .find("snapshot-limit-exceeded", "")
        .expect("remedy")
        .source
        .contains("seed 000"));
    assert!(catalog
        .find(syncfold::remedy::OBJECT_FALLBACK, "")
        .is_some());
}

/// An embedder's file extends and overrides the catalog; a bad file names itself.
#[test]
fn the_catalog_is_extensible_by_a_file() {
    let dir = std::env::temp_dir().join(format!("syncfold-remedies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("ours.toml");
    std::fs::write(&file, "[[remedy]]\ncode = \"server-down\"\ntitle = \"Ours\"\nremedy = \"Call the on-call DBA.\"\nsource = \"runbook\"\n").expect("write");
    let catalog = RemedyCatalog::builtin().with_file(&file).expect("extends");
    assert_eq!(
        catalog.find("server-down", "").expect("remedy").remedy,
        "Call the on-call DBA."
    );
    std::fs::write(
        &file,
        "[[remedy]]\ncode = \"x\"\ntitel = \"typo\"\nremedy = \"r\"\nsource = \"s\"\n",
    )
    .expect("write");
    let error = RemedyCatalog::builtin()
        .with_file(&file)
        .expect_err("a typo is refused");
    assert!(error.to_string().contains("ours.toml"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The generated histories reach what the properties are about: without this, the properties
/// above could pass vacuously.
#[test]
fn the_health_histories_reach_every_rule() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = script(HistoryShape::health());
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..500 {
        let script = strategy.new_tree(&mut runner).expect("a history").current();
        let mut player = Player::new(Actor::from_name("coverage"), Timestamp(0), 1);
        player.play_script(&script).expect("plays");
        let runs = player.state().runs();
        let mut note = |what| *seen.entry(what).or_default() += 1;
        if runs
            .iter()
            .any(|r| r.status == Some(RunStatus::NoStartSuspended))
        {
            note("suspended");
        }
        if runs
            .iter()
            .any(|r| r.status == Some(RunStatus::NoStartDisabled))
        {
            note("disabled");
        }
        let mut alerts = State::new();
        for envelope in player.log() {
            alerts
                .apply(alerts.last_seq() + 1, envelope)
                .expect("folds");
            if alerts.alerts().iter().any(|a| a.code == "stuck-watermark") {
                note("stuck warning");
                break;
            }
        }
        if player
            .log()
            .iter()
            .any(|e| matches!(e.event, Event::ObsoletionHeld { .. }))
        {
            note("held obsoletion");
        }
        let disabled_then_enabled = runs.windows(2).any(|pair| {
            pair[0].status == Some(RunStatus::NoStartDisabled)
                && pair[1]
                    .status
                    .is_some_and(|s| s != RunStatus::NoStartDisabled)
        });
        if disabled_then_enabled {
            note("re-enabled");
        }
    }
    println!("health histories out of 500: {seen:?}");
    for what in ["suspended", "disabled", "stuck warning", "held obsoletion"] {
        assert!(
            seen.get(what).copied().unwrap_or(0) >= 20,
            "only {:?} histories reach {what}",
            seen.get(what)
        );
    }
}
