//! The LDAP connector against a real OpenLDAP server: every test starts its own `slapd`
//! (`tests/common/slapd.rs`) with the accesslog overlay, drives the public API (an [`Engine`]
//! over a sled log in a temp folder, with an [`LdapConnector`]), changes the directory with the
//! OpenLDAP command-line tools as an administrator would, and reads the outcome through the
//! library's state. Each test is a story: imports that agree with `ldapsearch`, a value the
//! connector refuses holding the watermark on its page, obsoletion after clean and errored full
//! imports, the faults of SPEC §9 caused for real (a stopped server, a wrong password, a server
//! killed between two pages, a purged accesslog), the export results of SPEC §9, and a password
//! that appears nowhere: not in the log folder's bytes, a message, a `Debug` or a trace. Without slapd installed the tests say so loudly and skip (under CI they
//! fail: `.ci/run` installs it).

mod common;

use common::slapd::{person, LdifEntries, Slapd, ADMIN_DN, GROUPS, PEOPLE, SUFFIX};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use syncfold::core::*;
use syncfold::engine::ldap::{LdapConnector, LdapPartition, LdapSettings, PasswordSource};
use syncfold::engine::{Connector, Engine, EngineOptions, ImportRequest, RunContext};
use syncfold::log::{Log, LogOptions, SledStore};

static BENCHES: AtomicU64 = AtomicU64::new(0);

/// A server, an engine over a sled log in a temp folder, and a runtime to drive it.
struct Bench {
    slapd: Slapd,
    log_folder: PathBuf,
    engine: Option<Engine<SledStore>>,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn start(test: &str, people: usize) -> Option<Bench> {
        let slapd = Slapd::start_or_skip(test, people)?;
        let log_folder = std::env::temp_dir().join(format!(
            "syncfold-ldap-log-{test}-{}-{}",
            std::process::id(),
            BENCHES.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&log_folder);
        let store = SledStore::open(&log_folder).expect("the log folder");
        let (log, _) = Log::open(
            store,
            LogOptions::default(),
            syncfold::engine::system_clock(),
        )
        .expect("the log opens");
        let engine = Engine::new(log, EngineOptions::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Some(Bench {
            slapd,
            log_folder,
            engine: Some(engine),
            runtime,
        })
    }

    fn engine(&self) -> &Engine<SledStore> {
        self.engine.as_ref().expect("the engine runs")
    }

    /// Settings for the `people` partition (inetOrgPerson entries under ou=people, `manager` a
    /// reference) and a `directory` partition of the whole suffix, for exports.
    fn settings(&self, page_size: u32) -> LdapSettings {
        let mut people = LdapPartition::new("people", PEOPLE);
        people.filter = "(objectClass=inetOrgPerson)".into();
        people.reference_attributes = vec!["manager".into()];
        let mut groups = LdapPartition::new("groups", GROUPS);
        groups.filter = "(objectClass=groupOfNames)".into();
        let mut directory = LdapPartition::new("directory", SUFFIX);
        directory.reference_attributes = vec!["manager".into()];
        let mut settings = LdapSettings::new(
            self.slapd.url(),
            ADMIN_DN,
            PasswordSource::File(self.slapd.password_file()),
        )
        .with_partition(people)
        .with_partition(groups)
        .with_partition(directory);
        settings.page_size = page_size;
        settings.operation_timeout = Duration::from_secs(20);
        settings.connect_timeout = Duration::from_secs(5);
        settings
    }

    fn run<C: Connector>(&self, connector: &mut C, partition: &str, kind: RunKind) -> RunRecord {
        self.runtime
            .block_on(self.engine().run(
                connector,
                &ConnectorName::from("corp"),
                &PartitionName::from(partition),
                kind,
                &Settings::default(),
            ))
            .expect("the engine records the run")
            .record
    }

    fn state(&self) -> State {
        self.runtime
            .block_on(self.engine().inspect(|state| state.clone()))
            .expect("the engine answers")
    }

    fn partition(&self, partition: &str) -> PartitionState {
        self.state()
            .partition(
                &ConnectorName::from("corp"),
                &PartitionName::from(partition),
            )
            .expect("the partition has runs")
            .clone()
    }

    /// The live objects of a partition's connector space, as `ldapsearch` shows entries.
    fn space(&self, partition: &str) -> LdifEntries {
        self.partition(partition)
            .objects()
            .iter()
            .filter(|(_, object)| !object.obsolete)
            .map(|(anchor, object)| {
                let attributes = object
                    .attributes
                    .unpack()
                    .0
                    .into_iter()
                    .map(|(name, value)| {
                        let values = match value {
                            AttributeValue::Single(value) => vec![value],
                            AttributeValue::Multi(values) => values,
                        };
                        (name, values)
                    })
                    .collect();
                (anchor.to_owned(), attributes)
            })
            .collect()
    }

    fn run_with<C: Connector>(
        &self,
        connector: &mut C,
        partition: &str,
        kind: RunKind,
        settings: &Settings,
    ) -> RunRecord {
        self.runtime
            .block_on(self.engine().run(
                connector,
                &ConnectorName::from("corp"),
                &PartitionName::from(partition),
                kind,
                settings,
            ))
            .expect("the engine records the run")
            .record
    }

    fn admin(&self, partition: Option<&str>, action: AdminAction) {
        let partition = partition.map(PartitionName::from);
        self.runtime
            .block_on(
                self.engine()
                    .admin(&ConnectorName::from("corp"), partition.as_ref(), action),
            )
            .expect("recorded");
    }

    fn queue(&self, partition: &str, change: ExportChange) {
        self.runtime
            .block_on(self.engine().queue_export(
                &ConnectorName::from("corp"),
                &PartitionName::from(partition),
                change,
            ))
            .expect("queued");
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = engine.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.log_folder);
    }
}

fn committed(record: &RunRecord) -> String {
    record
        .committed_watermark
        .as_ref()
        .map(Watermark::display_text)
        .unwrap_or_default()
}

/// Wraps a connector: runs a hook before page `before_page` is read, and keeps every export
/// answer.
struct Observed<C> {
    inner: C,
    before_page: Option<(u64, Box<dyn FnMut() + Send>)>,
    exported: Vec<(Anchor, ExportOutcome)>,
}

impl<C: Connector> Observed<C> {
    fn new(inner: C) -> Self {
        Observed {
            inner,
            before_page: None,
            exported: Vec::new(),
        }
    }
}

impl<C: Connector> Connector for Observed<C> {
    async fn open_run(&mut self, context: &RunContext) -> Result<(), Fault> {
        self.inner.open_run(context).await
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        if let Some((page, hook)) = &mut self.before_page {
            if *page == request.page {
                hook();
            }
        }
        self.inner.import_page(request).await
    }

    async fn export(
        &mut self,
        context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        let answer = self.inner.export(context, batch).await;
        if let Ok(results) = &answer {
            self.exported.extend(results.iter().cloned());
        }
        answer
    }

    async fn close_run(&mut self, context: &RunContext) {
        self.inner.close_run(context).await
    }
}

fn dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

#[test]
fn a_full_import_then_a_delta_import_agree_with_ldapsearch() {
    let Some(bench) = Bench::start("full_then_delta", 2000) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(500));
    let position = bench
        .slapd
        .accesslog_starts()
        .pop()
        .expect("the load was logged");

    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    assert_eq!(full.counts.pages, 4, "2,000 entries in pages of 500");
    assert_eq!(full.counts.staged, 2000);
    assert_eq!(
        committed(&full),
        position,
        "the position read before the listing"
    );
    let expected = bench
        .slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)");
    assert_eq!(expected.len(), 2000);
    assert_eq!(bench.space("people"), expected);

    // An administrator's day: an add, a modify, a delete, a rename, and a write outside the
    // partition (which only moves the position).
    bench.slapd.ldapmodify(&format!(
        "{}dn: {}\nchangetype: modify\nreplace: mail\nmail: first@example.org\n-\nadd: title\ntitle: Lead\n\n\
         dn: {}\nchangetype: delete\n\n\
         dn: {}\nchangetype: modrdn\nnewrdn: uid=user00003b\ndeleteoldrdn: 1\n\n\
         dn: ou=groups,{SUFFIX}\nchangetype: modify\nadd: description\ndescription: not people\n\n",
        person(90_000),
        dn("user00001"),
        dn("user00002"),
        dn("user00003"),
    ));
    let newest = bench.slapd.accesslog_starts().pop().expect("logged");

    let delta = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(delta.status, Some(RunStatus::Success), "{delta:?}");
    assert_eq!(committed(&delta), newest, "the last change's position");
    let expected = bench
        .slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)");
    assert_eq!(expected.len(), 2000, "one added, one deleted, one renamed");
    let space = bench.space("people");
    assert_eq!(space, expected);
    assert!(space.contains_key(&dn("user90000")));
    assert!(space.contains_key(&dn("user00003b")));
    assert!(!space.contains_key(&dn("user00002")) && !space.contains_key(&dn("user00003")));
    assert_eq!(space[&dn("user00001")]["title"], vec!["Lead".to_owned()]);
}

#[test]
fn an_empty_partition_answers_one_page_with_the_position_even_of_an_empty_log() {
    let Some(bench) = Bench::start("empty_partition", 3) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(10));
    let position = bench
        .slapd
        .accesslog_starts()
        .pop()
        .expect("the load was logged");
    let full = bench.run(&mut connector, "groups", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    assert_eq!((full.counts.pages, full.counts.staged), (1, 0));
    assert_eq!(committed(&full), position);

    // With the whole accesslog purged, the position is "before every change" (0). A delta
    // import from it cannot tell whether changes were purged since: it is refused as
    // watermark-expired (a full import is required), and a full import of the log that now holds
    // a change records a real position, from which deltas read what comes next.
    bench.slapd.purge_accesslog_through(&position);
    let full = bench.run(&mut connector, "groups", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    assert_eq!(committed(&full), "0");
    bench.slapd.ldapmodify(&format!(
        "dn: cn=staff,{GROUPS}\nobjectClass: groupOfNames\ncn: staff\nmember: {}\n\n",
        dn("user00000")
    ));
    let delta = bench.run(&mut connector, "groups", RunKind::DeltaImport);
    assert_eq!(
        delta.status,
        Some(RunStatus::StoppedWatermarkExpired),
        "{delta:?}"
    );
    let full = bench.run(&mut connector, "groups", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    assert_eq!(
        committed(&full),
        bench.slapd.accesslog_starts().pop().expect("logged")
    );
    bench.slapd.ldapmodify(&format!(
        "dn: cn=staff,{GROUPS}\nchangetype: modify\nadd: member\nmember: {}\n\n",
        dn("user00001")
    ));
    let delta = bench.run(&mut connector, "groups", RunKind::DeltaImport);
    assert_eq!(delta.status, Some(RunStatus::Success), "{delta:?}");
    assert_eq!(
        committed(&delta),
        bench.slapd.accesslog_starts().pop().expect("logged")
    );
    assert_eq!(
        bench.space("groups"),
        bench.slapd.ldapsearch(GROUPS, "(objectClass=groupOfNames)")
    );

    // Without an accesslog a full import still lists the partition, and proposes no watermark.
    let mut unlogged = LdapPartition::new("unlogged", GROUPS);
    unlogged.filter = "(objectClass=groupOfNames)".into();
    unlogged.accesslog_base = "cn=nolog".into();
    let mut connector = LdapConnector::new(bench.settings(10).with_partition(unlogged));
    let unlogged = bench.run(&mut connector, "unlogged", RunKind::FullImport);
    assert_eq!(unlogged.status, Some(RunStatus::Success), "{unlogged:?}");
    assert_eq!(unlogged.counts.staged, 1);
    assert_eq!(unlogged.committed_watermark, None);
}

/// Regression: slapd strips trailing zeros from a generalized time in a filter but not from the
/// stored `reqStart`, so once the log was purged up to a committed watermark ending in `0`, the
/// watermark's own record was not found by `(reqStart<=W)`: a false `watermark-expired`.
#[test]
fn a_watermark_ending_in_zero_is_found_and_not_read_again() {
    let Some(bench) = Bench::start("trailing_zero", 3) else {
        return;
    };
    let mut writes = 0;
    while !bench
        .slapd
        .accesslog_starts()
        .last()
        .is_some_and(|start| start.ends_with("0Z"))
    {
        writes += 1;
        assert!(writes < 500, "no reqStart ending in 0 after 500 writes");
        bench.slapd.ldapmodify(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: W{writes}\n\n",
            dn("user00000")
        ));
    }
    let mut connector = LdapConnector::new(bench.settings(10));
    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert!(committed(&full).ends_with("0Z"), "{full:?}");
    // Purged up to the watermark, which is now the oldest record.
    let starts = bench.slapd.accesslog_starts();
    bench
        .slapd
        .purge_accesslog_through(&starts[starts.len() - 2]);
    assert_eq!(bench.slapd.accesslog_starts(), vec![committed(&full)]);
    let quiet = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(quiet.status, Some(RunStatus::Success), "{quiet:?}");
    assert_eq!(
        quiet.counts.staged, 0,
        "the watermark's own change is not read again"
    );
    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: After\n\n",
        dn("user00001")
    ));
    let delta = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(delta.status, Some(RunStatus::Success), "{delta:?}");
    assert_eq!(
        delta.counts.staged, 1,
        "exactly the change after the watermark"
    );
}

#[test]
fn an_accesslog_record_the_connector_cannot_understand_is_an_import_parse_error() {
    let Some(bench) = Bench::start("unreadable_record", 3) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(1));
    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Before\n\n",
        dn("user00000")
    ));
    let before = bench.slapd.accesslog_starts().pop().expect("logged");
    // Pages of one record: page 1 the modify above, page 2 a record of a type no accesslog
    // writes, later than every real one, written straight into the log database.
    let start = "29991231235959.000001Z";
    bench.slapd.ldapmodify(&format!(
        "dn: reqStart={start},cn=accesslog\nobjectClass: auditModify\nreqStart: {start}\n\
         reqType: frobnicate\nreqSession: 0\nreqDN: {}\nreqResult: 0\nreqMod: title:= x\n\n",
        dn("user00001")
    ));
    let delta = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(
        delta.status,
        Some(RunStatus::StoppedDeltaLogBroken),
        "{delta:?}"
    );
    assert!(bench.partition("people").full_import_required().is_some());
    assert_eq!(
        committed(&delta),
        before,
        "page 1 (the readable change) is committed, page 2 (the broken record) is not"
    );
}

#[test]
fn a_value_refused_on_page_two_holds_the_watermark_at_page_one() {
    let Some(bench) = Bench::start("refused_value", 20) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(5));
    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");

    // Five changes fill page 1; page 2 starts with a value that is not UTF-8 (0xff, written
    // base64-encoded), which a connector of text values cannot read.
    let mut ldif = String::new();
    for n in 0..5 {
        ldif.push_str(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: T{n}\n\n",
            dn(&format!("user{n:05}"))
        ));
    }
    ldif.push_str(&format!(
        "dn: {}\nchangetype: modify\nadd: audio\naudio:: /w==\n\n",
        dn("user00005")
    ));
    for n in 6..9 {
        ldif.push_str(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: T{n}\n\n",
            dn(&format!("user{n:05}"))
        ));
    }
    bench.slapd.ldapmodify(&ldif);
    let starts = bench.slapd.accesslog_starts();
    let page_one_end = starts[starts.len() - 5].clone();

    let delta = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(
        delta.status,
        Some(RunStatus::CompletedDiscoveryErrors),
        "{delta:?}"
    );
    assert_eq!(committed(&delta), page_one_end, "R1: page 1's position");
    let part = bench.partition("people");
    let error = &part.object_errors()[&Anchor::from(dn("user00005").as_str())];
    assert_eq!(error.name, "invalid-characters-error");
    assert!(error.description.contains("audio"), "{}", error.description);
    assert_eq!(
        bench.space("people")[&dn("user00008")]["title"],
        vec!["T8".to_owned()],
        "the readable entries of page 2 are staged all the same"
    );

    // The next delta import reads page 2 again: the same refusal, the same watermark.
    let again = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(again.status, Some(RunStatus::CompletedDiscoveryErrors));
    assert_eq!(committed(&again), page_one_end);

    // Fixed at the source, the entry is read cleanly and the watermark moves to the end.
    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\ndelete: audio\n\n",
        dn("user00005")
    ));
    let newest = bench.slapd.accesslog_starts().pop().expect("logged");
    let fixed = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(fixed.status, Some(RunStatus::Success), "{fixed:?}");
    assert_eq!(committed(&fixed), newest);
    assert!(bench.partition("people").object_errors().is_empty());
}

#[test]
fn an_errored_full_import_skips_obsoletion_and_a_clean_one_obsoletes_exactly_the_deleted() {
    let Some(bench) = Bench::start("obsoletion", 30) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(10));
    let first = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(first.status, Some(RunStatus::Success), "{first:?}");
    let watermark = committed(&first);

    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: delete\n\ndn: {}\nchangetype: delete\n\n\
         dn: {}\nchangetype: modify\nadd: audio\naudio:: /w==\n\n",
        dn("user00003"),
        dn("user00004"),
        dn("user00010")
    ));
    let errored = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(errored.status, Some(RunStatus::CompletedDiscoveryErrors));
    assert_eq!(errored.obsoletion, Obsoletion::Skipped);
    assert_eq!(errored.skip_reason, Some(SkipReason::ImportErrors));
    assert_eq!(committed(&errored), watermark, "R2: nothing committed");
    assert_eq!(bench.space("people").len(), 30, "nothing obsoleted");

    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\ndelete: audio\n\n",
        dn("user00010")
    ));
    let clean = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(clean.status, Some(RunStatus::Success), "{clean:?}");
    assert_eq!(clean.obsoletion, Obsoletion::Applied);
    assert_eq!(clean.counts.obsoleted, 2);
    let obsolete: Vec<String> = bench
        .partition("people")
        .objects()
        .iter()
        .filter(|(_, object)| object.obsolete)
        .map(|(anchor, _)| anchor.to_owned())
        .collect();
    assert_eq!(obsolete, vec![dn("user00003"), dn("user00004")]);
    assert_eq!(
        bench.space("people"),
        bench
            .slapd
            .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)")
    );
}

#[test]
fn a_stopped_server_is_server_down_and_a_wrong_password_disables_the_connector() {
    let Some(mut bench) = Bench::start("down_and_credentials", 3) else {
        return;
    };
    bench.slapd.stop();
    let mut connector = LdapConnector::new(bench.settings(10));
    let down = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(down.status, Some(RunStatus::StoppedServerDown), "{down:?}");
    let fault = down.fault.expect("the fault is recorded");
    assert!(
        fault.message.contains(&bench.slapd.url()),
        "{}",
        fault.message
    );

    bench.slapd.start_again();
    // A filter that does not parse is the configuration's fault, named with its partition.
    let mut settings = bench.settings(10);
    settings.partitions[0].filter = "(objectClass=".into();
    let misconfigured = bench.run(
        &mut LdapConnector::new(settings),
        "people",
        RunKind::FullImport,
    );
    assert_eq!(
        misconfigured.status,
        Some(RunStatus::StoppedConnectorException)
    );
    let message = misconfigured.fault.expect("recorded").message;
    assert!(
        message.contains("partition people: the filter \"(objectClass=\" does not parse"),
        "{message}"
    );

    let wrong = bench.slapd.folder().join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").expect("written");
    let mut settings = bench.settings(10);
    settings.password = PasswordSource::File(wrong);
    let refused = bench.run(
        &mut LdapConnector::new(settings),
        "people",
        RunKind::FullImport,
    );
    assert_eq!(
        refused.status,
        Some(RunStatus::StoppedBadServerCredentials),
        "{refused:?}"
    );
    assert_eq!(
        refused.fault.as_ref().map(|f| f.kind),
        Some(FaultKind::BadCredentials)
    );
    let state = bench.state();
    assert_eq!(
        state.health(&ConnectorName::from("corp"), &PartitionName::from("people")),
        Health::Disabled
    );
    // Disabled: even the right password does not start a run until an administrator enables.
    let next = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(next.status, Some(RunStatus::NoStartDisabled));
    // Enabling alone is not enough: new credentials must be recorded first (R8).
    bench.admin(None, AdminAction::Enable);
    let still = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(still.status, Some(RunStatus::NoStartDisabled), "{still:?}");
    bench.admin(None, AdminAction::CredentialsUpdated);
    bench.admin(None, AdminAction::Enable);
    let back = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(back.status, Some(RunStatus::Success), "{back:?}");
}

#[test]
fn a_server_killed_during_a_delta_import_is_a_dropped_connection() {
    let Some(mut bench) = Bench::start("killed_mid_delta", 200) else {
        return;
    };
    let pid = bench.slapd.pid().expect("running");
    let port = bench.slapd.port();
    let mut connector = Observed::new(LdapConnector::new(bench.settings(25)));
    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    let mut ldif = String::new();
    for number in 0..120 {
        ldif.push_str(&format!(
            "dn: uid=user{number:05},{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: t{number}\n\n"
        ));
    }
    bench.slapd.ldapmodify(&ldif);
    // Page 3 comes from the window already read: its entry reads, several in flight at once,
    // meet the dead connection.
    connector.before_page = Some((
        3,
        Box::new(move || {
            // SAFETY: a signal to the test server this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }),
    ));
    let dropped = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(
        dropped.status,
        Some(RunStatus::StoppedConnectivity),
        "{dropped:?}"
    );
    let fault = dropped.fault.expect("recorded");
    assert_eq!(
        fault.kind,
        FaultKind::DroppedConnection,
        "{}",
        fault.message
    );
    assert!(
        fault.message.contains("reading the changed entry uid=user"),
        "{}",
        fault.message
    );
    assert_eq!(
        dropped.counts.pages, 2,
        "the pages before the kill were read"
    );

    // The server comes back: the next delta import reads the rest and agrees with ldapsearch.
    bench.slapd.kill();
    bench.slapd.start_again();
    connector.before_page = None;
    let after = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(after.status, Some(RunStatus::Success), "{after:?}");
    assert_eq!(
        committed(&after),
        bench.slapd.accesslog_starts().pop().expect("the changes")
    );
    assert_eq!(
        bench.space("people"),
        bench
            .slapd
            .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)")
    );
}

#[test]
fn a_server_killed_between_pages_is_a_dropped_connection() {
    let Some(mut bench) = Bench::start("killed_mid_run", 300) else {
        return;
    };
    let pid = bench.slapd.pid().expect("running");
    let port = bench.slapd.port();
    let mut connector = Observed::new(LdapConnector::new(bench.settings(25)));
    connector.before_page = Some((
        4,
        Box::new(move || {
            // SAFETY: a signal to the test server this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }),
    ));
    let dropped = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(
        dropped.status,
        Some(RunStatus::StoppedConnectivity),
        "{dropped:?}"
    );
    let fault = dropped.fault.expect("recorded");
    assert_eq!(
        fault.kind,
        FaultKind::DroppedConnection,
        "{}",
        fault.message
    );
    assert!(dropped.counts.pages >= 3, "pages before the kill were read");
    assert_eq!(dropped.obsoletion, Obsoletion::Skipped);

    // The server comes back on the same data: the next full import completes.
    bench.slapd.kill();
    bench.slapd.start_again();
    connector.before_page = None;
    let after = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(after.status, Some(RunStatus::Success), "{after:?}");
    assert_eq!(after.counts.staged, 300);
}

#[test]
fn a_purged_accesslog_is_watermark_expired_until_a_full_import() {
    let Some(bench) = Bench::start("purged", 10) else {
        return;
    };
    let mut connector = LdapConnector::new(bench.settings(50));
    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success));
    let watermark = committed(&full);

    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Changed\n\n",
        dn("user00001")
    ));
    // The log is purged past the committed watermark: what happened just after it is gone.
    bench.slapd.purge_accesslog_through(&watermark);
    let expired = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(
        expired.status,
        Some(RunStatus::StoppedWatermarkExpired),
        "{expired:?}"
    );
    assert!(bench.partition("people").full_import_required().is_some());
    let refused = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(refused.status, Some(RunStatus::NoStartFullImportRequired));

    let full = bench.run(&mut connector, "people", RunKind::FullImport);
    assert_eq!(full.status, Some(RunStatus::Success), "{full:?}");
    assert!(bench.partition("people").full_import_required().is_none());
    assert_eq!(
        bench.space("people")[&dn("user00001")]["title"],
        vec!["Changed".to_owned()]
    );
    let delta = bench.run(&mut connector, "people", RunKind::DeltaImport);
    assert_eq!(delta.status, Some(RunStatus::Success), "{delta:?}");
}

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    Attributes(
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), AttributeValue::Single(value.to_string())))
            .collect(),
    )
}

#[test]
fn exports_answer_with_the_results_of_spec_section_9() {
    let Some(bench) = Bench::start("exports", 5) else {
        return;
    };
    bench
        .slapd
        .ldapmodify(&format!("dn: {}\nchangetype: delete\n\n", dn("user00001")));
    let person_attributes = |uid: &str| {
        let mut attributes = attributes(&[("uid", uid), ("cn", uid), ("sn", "Exported")]);
        attributes.0.insert(
            "objectClass".into(),
            AttributeValue::Single("inetOrgPerson".into()),
        );
        attributes
    };
    let contractor = format!("uid=newbie,ou=contractors,{SUFFIX}");
    let changes = [
        // Under an OU that does not exist.
        ExportChange {
            anchor: Anchor::from(contractor.as_str()),
            kind: ExportChangeKind::Add,
            attributes: person_attributes("newbie"),
            references: Attributes::new(),
        },
        // A modify of an entry deleted at the source.
        ExportChange {
            anchor: Anchor::from(dn("user00001").as_str()),
            kind: ExportChangeKind::Update,
            attributes: attributes(&[("title", "Gone")]),
            references: Attributes::new(),
        },
        // A manager who does not exist yet.
        ExportChange {
            anchor: Anchor::from(dn("user00002").as_str()),
            kind: ExportChangeKind::Update,
            attributes: attributes(&[("title", "Lead")]),
            references: attributes(&[("manager", &dn("boss"))]),
        },
        // inetOrgPerson without its required sn.
        ExportChange {
            anchor: Anchor::from(dn("nosurname").as_str()),
            kind: ExportChangeKind::Add,
            attributes: {
                let mut attributes = person_attributes("nosurname");
                attributes.0.remove("sn");
                attributes
            },
            references: Attributes::new(),
        },
        // And one that simply works.
        ExportChange {
            anchor: Anchor::from(dn("fresh").as_str()),
            kind: ExportChangeKind::Add,
            attributes: person_attributes("fresh"),
            references: attributes(&[("manager", &dn("user00000"))]),
        },
    ];
    for change in &changes {
        bench.queue("directory", change.clone());
    }
    let mut connector = Observed::new(LdapConnector::new(bench.settings(10)));
    let export = bench.run(&mut connector, "directory", RunKind::Export);
    assert_eq!(
        export.status,
        Some(RunStatus::CompletedExportErrors),
        "{export:?}"
    );
    let results: BTreeMap<String, ExportOutcome> = connector
        .exported
        .iter()
        .map(|(anchor, outcome)| (anchor.0.clone(), outcome.clone()))
        .collect();
    assert_eq!(
        results[&contractor],
        ExportOutcome::ProvisioningParent {
            parent: Anchor::from(format!("ou=contractors,{SUFFIX}").as_str())
        }
    );
    assert_eq!(results[&dn("user00001")], ExportOutcome::ConvertUpdateToAdd);
    assert_eq!(
        results[&dn("user00002")],
        ExportOutcome::RetryReferenceAttribute
    );
    match &results[&dn("nosurname")] {
        ExportOutcome::CustomContinueRun { name, description } => {
            assert_eq!(name, "object-class-violation");
            assert!(
                description.contains("requires attribute 'sn'"),
                "the server's diagnostic: {description}"
            );
        }
        other => panic!("expected custom-continue-run, got {other:?}"),
    }
    assert_eq!(results[&dn("fresh")], ExportOutcome::Success);

    // What the directory holds: the title written, the manager not; the fresh entry with its
    // manager.
    let people = bench
        .slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)");
    assert_eq!(people[&dn("user00002")]["title"], vec!["Lead".to_owned()]);
    assert!(!people[&dn("user00002")].contains_key("manager"));
    assert_eq!(people[&dn("fresh")]["manager"], vec![dn("user00000")]);

    // The engine keeps what must be sent again: the references only, the add of a lost entry.
    let part = bench.partition("directory");
    let pending: BTreeMap<String, ExportChangeKind> = part
        .exports()
        .in_order()
        .map(|pending| (pending.change.anchor.0.clone(), pending.change.kind))
        .collect();
    assert_eq!(
        pending.get(&dn("user00002")),
        Some(&ExportChangeKind::References)
    );
    assert_eq!(pending.get(&dn("user00001")), Some(&ExportChangeKind::Add));

    // Once the manager exists, the next export writes the reference.
    bench
        .slapd
        .ldapmodify(&person(7).replace("user00007", "boss"));
    let mut connector = Observed::new(LdapConnector::new(bench.settings(10)));
    let again = bench.run(&mut connector, "directory", RunKind::Export);
    assert_eq!(
        again.status,
        Some(RunStatus::CompletedExportErrors),
        "the entry without sn fails again: {again:?}"
    );
    let people = bench
        .slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)");
    assert_eq!(people[&dn("user00002")]["manager"], vec![dn("boss")]);
    // The missing parent was created first, as an organizational unit.
    let contractors = bench
        .slapd
        .ldapsearch(&format!("ou=contractors,{SUFFIX}"), "(objectClass=*)");
    assert_eq!(
        contractors[&format!("ou=contractors,{SUFFIX}")]["objectClass"],
        vec!["organizationalUnit".to_owned()]
    );
    // … and the contractor that needed it was sent again after it, and is there now.
    assert!(
        contractors.contains_key(&contractor),
        "{contractor} was added once its parent existed: {contractors:?}"
    );
    assert_eq!(
        connector
            .exported
            .iter()
            .filter(|(anchor, _)| anchor.0 == contractor)
            .map(|(_, outcome)| outcome.clone())
            .collect::<Vec<_>>(),
        vec![ExportOutcome::Success]
    );
}

#[test]
fn a_mass_delete_is_held_by_the_deletion_guard_until_an_administrator_approves() {
    let Some(bench) = Bench::start("deletion_guard", 30) else {
        return;
    };
    let guarded = Settings {
        deletion_threshold: DeletionThreshold::Count(5),
        ..Settings::default()
    };
    let mut connector = LdapConnector::new(bench.settings(10));
    let first = bench.run_with(&mut connector, "people", RunKind::FullImport, &guarded);
    assert_eq!(first.status, Some(RunStatus::Success), "{first:?}");
    // Twelve people deleted at the source: more than the guard lets a run obsolete.
    let ldif: String = (10..22)
        .map(|n| format!("dn: {}\nchangetype: delete\n\n", dn(&format!("user{n:05}"))))
        .collect();
    bench.slapd.ldapmodify(&ldif);
    let clean = bench.run_with(&mut connector, "people", RunKind::FullImport, &guarded);
    assert_eq!(clean.obsoletion, Obsoletion::Held, "{clean:?}");
    assert_eq!(clean.counts.obsoleted, 0);
    assert_eq!(
        bench.space("people").len(),
        30,
        "nothing obsoleted while held"
    );
    let held = bench
        .partition("people")
        .held_obsoletion()
        .expect("held")
        .anchors
        .len();
    assert_eq!(held, 12);
    // Approved: exactly the twelve are obsolete, and the space is the directory.
    bench.admin(Some("people"), AdminAction::ApproveObsoletion);
    assert_eq!(
        bench.space("people"),
        bench
            .slapd
            .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)")
    );
    assert_eq!(bench.space("people").len(), 18);
}

#[test]
fn an_export_without_write_access_stops_the_run_and_sends_nothing_more() {
    let Some(bench) = Bench::start("insufficient_access", 3) else {
        return;
    };
    // A reader: the default access of slapd lets an entry bind and read, not write.
    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nadd: userPassword\nuserPassword: reader-pw-1\n\n",
        dn("user00000")
    ));
    let secret = bench.slapd.folder().join("reader");
    std::fs::write(&secret, "reader-pw-1").expect("written");
    let mut settings = bench.settings(10);
    settings.bind_dn = dn("user00000");
    settings.password = PasswordSource::File(secret);
    for uid in ["user00001", "user00002"] {
        bench.queue(
            "people",
            ExportChange {
                anchor: Anchor::from(dn(uid).as_str()),
                kind: ExportChangeKind::Update,
                attributes: attributes(&[("title", "Reader")]),
                references: Attributes::new(),
            },
        );
    }
    let mut connector = Observed::new(LdapConnector::new(settings));
    let export = bench.run(&mut connector, "people", RunKind::Export);
    assert_eq!(
        export.status,
        Some(RunStatus::StoppedObjectError),
        "{export:?}"
    );
    assert_eq!(connector.exported.len(), 1, "nothing sent after the stop");
    match &connector.exported[0].1 {
        ExportOutcome::CustomStopRun { name, description } => {
            assert_eq!(name, "insufficient-access-rights");
            assert!(
                description.contains("grant the bind DN write access"),
                "{description}"
            );
        }
        other => panic!("expected custom-stop-run, got {other:?}"),
    }
    assert_eq!(
        bench.partition("people").exports().in_order().count(),
        2,
        "both changes stay pending"
    );
    let people = bench
        .slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)");
    assert!(!people[&dn("user00001")].contains_key("title"));
}

/// A tracing subscriber that writes every field of every span and event into one string.
struct Capture {
    text: Arc<Mutex<String>>,
    spans: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.text.lock().expect("capture")));
        tracing::span::Id::from_u64(self.spans.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().expect("capture")));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.text.lock().expect("capture");
        text.push_str(event.metadata().target());
        text.push(' ');
        event.record(&mut Fields(&mut text));
        text.push('\n');
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn the_password_appears_in_no_log_byte_message_or_debug_output() {
    let Some(mut bench) = Bench::start("secrets", 5) else {
        return;
    };
    let traced = Arc::new(Mutex::new(String::new()));
    let capture = Capture {
        text: Arc::clone(&traced),
        spans: AtomicU64::new(0),
    };
    // Global, as the engine's tasks run on the runtime's threads; only this test sets it.
    tracing::subscriber::set_global_default(capture).expect("the only subscriber");
    let password = bench.slapd.password().to_owned();
    let settings = bench.settings(2);
    let mut connector = LdapConnector::new(settings.clone());
    bench.run(&mut connector, "people", RunKind::FullImport);
    bench.slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nadd: audio\naudio:: /w==\n\n",
        dn("user00001")
    ));
    bench.run(&mut connector, "people", RunKind::DeltaImport);
    bench.slapd.kill();
    bench.run(&mut connector, "people", RunKind::DeltaImport);
    bench.slapd.start_again();
    // A wrong password is a secret too.
    let wrong_password = "wrong-Secret-4711";
    let wrong = bench.slapd.folder().join("wrong");
    std::fs::write(&wrong, wrong_password).expect("written");
    let mut wrong_settings = settings.clone();
    wrong_settings.password = PasswordSource::File(wrong);
    bench.run(
        &mut LdapConnector::new(wrong_settings.clone()),
        "people",
        RunKind::FullImport,
    );

    let state = bench.state();
    let mut said = format!(
        "{settings:?} {settings:?} {wrong_settings:?} {connector:?} {:?} {}",
        settings.password,
        settings.password.read().expect("readable"),
    );
    said.push_str(&format!("{:?}", settings.password.read()));
    for run in state.runs() {
        said.push_str(&format!("{run:?}"));
    }
    said.push_str(&format!("{state:?}"));
    let traced = traced.lock().expect("capture").clone();
    assert!(
        traced.contains("page read") && traced.contains("connector fault"),
        "the trace was captured: {traced}"
    );
    said.push_str(&traced);
    for secret in [password.as_str(), wrong_password] {
        assert!(!said.contains(secret), "a secret in the messages: {said}");
    }
    assert!(
        state.runs().iter().any(|run| run.fault.is_some()),
        "faults were recorded and read"
    );

    let log_folder = bench.log_folder.clone();
    drop(bench.engine.take().map(|engine| engine.shutdown()));
    let mut files = Vec::new();
    let mut folders = vec![log_folder];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("the log folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).expect("readable");
        for secret in [password.as_str(), wrong_password] {
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{} holds a password",
                file.display()
            );
        }
    }
}
