//! `syncfold run`: one run of a real connector (SPEC §9) into a log. The connectors file is
//! validated whole first; the run goes through the same engine as `simulate` and is printed the
//! same way (the same `--json` line), only once its end is durable.

use super::location::LogAt;
use super::{engine_status, fail, json_text, open_log, render, UNAVAILABLE, USAGE};
use std::path::Path;
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::ldap::{
    DeltaSource, LdapConnector, LdapPartition, LdapSettings, PasswordSource,
};
use syncfold::engine::{Engine, EngineOptions};
use syncfold::scenario::connectors::{self, load_connectors, ConnectorConfig};
use syncfold::views::{FinishedRunView, TextView};

/// What to run, as parsed from the command line.
pub(super) struct Request<'a> {
    pub config: &'a Path,
    pub log: &'a LogAt,
    pub wait: bool,
    pub connector: &'a str,
    pub partition: &'a str,
    pub kind: RunKind,
    pub json: bool,
}

/// Runs one run and prints it.
pub(super) fn run(request: Request<'_>) -> ExitCode {
    let file = match load_connectors(request.config) {
        Ok(file) => file,
        Err(error) => return fail(USAGE, error),
    };
    let Some(config) = file.connector(request.connector) else {
        return fail(
            USAGE,
            format!(
                "{} configures no connector named {:?} (it has: {}); name one of them with --connector",
                request.config.display(),
                request.connector,
                file.names().join(", ")
            ),
        );
    };
    if config.partition(request.partition).is_none() {
        return fail(
            USAGE,
            format!(
                "connector {} in {} has no partition named {:?} (it has: {}); name one of them with --partition",
                config.name,
                request.config.display(),
                request.partition,
                config.partition_names().join(", ")
            ),
        );
    }
    let folder = request.log;
    if super::is_foreign_folder(folder) {
        {
            return fail(
                USAGE,
                format!(
                    "{} exists and is not a syncfold log; name an empty or new folder with --log",
                    folder.display()
                ),
            );
        }
    }
    let log = match open_log(folder, request.wait) {
        Ok(log) => log,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(
                UNAVAILABLE,
                format!("cannot start the engine's runtime: {error}"),
            )
        }
    };
    let engine = Engine::new(log, EngineOptions::default());
    let mut connector = LdapConnector::new(ldap_settings(config));
    let partition = PartitionName::from(request.partition);
    let result = runtime.block_on(engine.run(
        &mut connector,
        &config.name,
        &partition,
        request.kind,
        &config.settings,
    ));
    let shutdown = engine.shutdown();
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            return fail(
                engine_status(&error),
                format!(
                    "the {} of {}/{} into {} failed: {error}",
                    request.kind.as_str(),
                    config.name,
                    partition,
                    folder.display()
                ),
            )
        }
    };
    // The report is returned once the run's end is durable: print it now.
    let view = FinishedRunView::new(&report.record);
    if request.json {
        println!("{}", json_text(&view));
    } else {
        print!("{}", render(&view.blocks()));
    }
    match shutdown {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => fail(
            engine_status(&error),
            format!("{}: {error}", folder.display()),
        ),
    }
}

/// The LDAP connector's settings for a connectors file's `[[connector]]`, already validated; the
/// password stays where the file says it is kept.
fn ldap_settings(config: &ConnectorConfig) -> LdapSettings {
    let password = match &config.ldap.password {
        connectors::PasswordSource::Env(name) => PasswordSource::Env(name.clone()),
        connectors::PasswordSource::File(path) => PasswordSource::File(path.clone()),
    };
    let mut settings = LdapSettings::new(&config.ldap.url, &config.ldap.bind_dn, password);
    settings.page_size = config.ldap.page_size;
    for partition in &config.partitions {
        settings.partitions.push(LdapPartition {
            name: partition.name.as_str().to_owned(),
            base_dn: partition.base_dn.clone(),
            filter: partition.filter.clone(),
            attributes: partition.attributes.clone().unwrap_or_default(),
            reference_attributes: partition.reference_attributes.clone(),
            // The connectors file accepts no other source yet.
            delta: DeltaSource::Accesslog,
            accesslog_base: partition.accesslog_base.clone(),
        });
    }
    settings
}
