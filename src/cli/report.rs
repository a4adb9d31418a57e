//! `syncfold report`: the postmortem report of a log as one self-contained HTML page. The log is
//! verified first (the page says how far it can be trusted), then read through the verified
//! replay up to the damage, if any; nothing is written to the log.

use super::location::LogAt;
use super::{fail, USAGE};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use syncfold::log::{open_for_reading, verify, PgOpen, PgStore, RecordStore};
use syncfold::views::filter::Point;
use syncfold::views::report::{self, ReportLimits, ReportVerification};

/// Where the page goes: a file, or standard output for `-`.
pub(super) struct Request<'a> {
    pub log: &'a LogAt,
    pub from: Option<Point>,
    pub to: Option<Point>,
    pub out: &'a Path,
    pub remedies: Option<&'a Path>,
}

/// Opens the log's store read-only, damaged or not (the report says what is wrong with it).
fn open_store(folder: &LogAt) -> Result<Box<dyn RecordStore>, ExitCode> {
    match folder {
        LogAt::Folder(path) => {
            if !super::is_log_folder(folder) {
                return Err(super::no_log(folder));
            }
            open_for_reading(path)
                .map(|store| Box::new(store) as Box<dyn RecordStore>)
                .map_err(|error| super::fail_log(folder, error.into()))
        }
        LogAt::Pg(url) => {
            let store = PgStore::open_read_only(url, PgOpen::default())
                .map_err(|error| super::fail_log(folder, error.into()))?;
            if !store
                .log_exists()
                .map_err(|error| super::fail_log(folder, error.into()))?
            {
                return Err(super::no_log(folder));
            }
            Ok(Box::new(store))
        }
        LogAt::Invalid(why) => Err(fail(USAGE, format!("--log: {why}"))),
    }
}

pub(super) fn report(request: &Request) -> ExitCode {
    let folder = request.log;
    if let (Some(Point::Seq(from)), Some(Point::Seq(to))) = (request.from, request.to) {
        if from > to {
            return fail(
                USAGE,
                format!("--from {from} is after --to {to}: give the earlier event first"),
            );
        }
    }
    let catalog = match super::catalog(request.remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let store = match open_store(folder) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let verified = verify(&*store);
    let damage = verified
        .as_ref()
        .err()
        .map(|error| (super::exit_status(error), super::log_message(folder, error)));
    let mut verification = ReportVerification::of(&verified);
    if let (ReportVerification::Damaged { error, .. }, Some((_, message))) =
        (&mut verification, &damage)
    {
        error.clone_from(message);
    }
    let name = folder.display().to_string();
    let model = match report::build(
        &*store,
        &name,
        request.from,
        request.to,
        &catalog,
        verification.clone(),
        ReportLimits::default(),
    ) {
        Ok(model) => model,
        // What precedes the damage could not be read either: the page is the banner alone.
        Err(_) if verification.is_damaged() => report::ReportBuilder::new(
            1,
            0,
            ReportLimits::default(),
        )
        .finish(&name, &syncfold::core::State::new(), &catalog, verification),
        Err(error) => return super::fail_log(folder, error),
    };
    let page = report::html::render(&model);
    if request.out == Path::new("-") {
        let mut out = std::io::stdout().lock();
        if let Err(error) = out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
            panic!("failed printing to stdout: {error}");
        }
    } else {
        if let Err(error) = std::fs::write(request.out, page.as_bytes()) {
            return fail(
                3,
                format!(
                    "cannot write the report to {}: {error}",
                    request.out.display()
                ),
            );
        }
        say!(
            "Wrote the report of {} ({} runs, events {} to {}) to {}.",
            name,
            model.runs.len() + model.buckets.iter().map(|b| b.runs as usize).sum::<usize>(),
            model.range.from,
            model.range.to,
            request.out.display()
        );
    }
    match damage {
        // The page is written and says so at its top; the status says the log is damaged.
        Some((code, message)) => fail(
            code,
            format!(
                "{}: {message}; the report shows what precedes the damage",
                folder.display()
            ),
        ),
        None => ExitCode::SUCCESS,
    }
}
