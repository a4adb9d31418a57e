//! The LDAP connector: an OpenLDAP directory as a syncfold [`Connector`] (SPEC §9).
//!
//! Each partition is a subtree (`base_dn`) with a filter; an object is an entry, its anchor the
//! entry's DN as the server returns it, its attributes text. A **full import** lists the
//! partition with the paged-results control (RFC 2696) and proposes, on every page, the
//! accesslog position read before the listing began. A **delta import** reads OpenLDAP's
//! `accesslog` overlay after the committed watermark, page by page, each page proposing the
//! position of its last change (see [`import`] for the watermark's format). An **export** adds,
//! modifies and deletes entries (see [`export`] for its results). Every run binds anew, reading
//! the password from its [`PasswordSource`] at that moment.
//!
//! | what goes wrong | what the run records |
//! | --- | --- |
//! | the server cannot be reached | fault `server-down` |
//! | the bind is refused for its credentials (49) | fault `bad-credentials` (the connector is disabled) |
//! | busy or unavailable (51, 52); the connection breaks during the bind | fault `failed-connection` |
//! | the connection is lost after the bind | fault `dropped-connection` |
//! | the accesslog no longer holds the committed watermark | fault `watermark-expired` |
//! | any other LDAP result | fault `connector-exception` with the code, its name and the server's message |
//! | a value that is not UTF-8 text | object error `invalid-characters-error` on that entry |
//! | an accesslog record the connector cannot understand | fatal import error `import-parse-error` |
//!
//! **Why `ldap3`.** It is maintained, tokio-native (the engine's runtime; no thread per
//! connection), and exposes what a sync engine needs beyond search and modify: the
//! paged-results control, raw request and response controls and extended operations (the road
//! to syncrepl, RFC 4533, and to server-side sorting). It is built with `default-features =
//! false`: no TLS stack and no blocking wrapper for now, which keeps the build lean; `ldaps://`
//! and StartTLS are a feature to add with the TLS decision.
//!
//! **Secrets.** The password is read into a [`Secret`] whose `Debug` and `Display` print
//! `<redacted>`; it is handed to the bind and to nothing else: not to a fault message, an
//! event, a trace field or an error value (`ldap3` results carry the server's answer, which
//! never echoes it).

pub mod config;
mod export;
pub mod fault;
pub mod import;
mod protocol;

pub use config::{DeltaSource, LdapPartition, LdapSettings, PasswordSource, Secret};

use super::connector::{Connector, ImportRequest, RunContext};
use crate::core::*;
use fault::Failure;
use import::{DeltaCursor, Reader};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// An LDAP directory as a [`Connector`]. One value serves one run at a time (runs on several
/// partitions at once need one connector each: see [`LdapConnector::new`], cheap to call).
pub struct LdapConnector {
    settings: LdapSettings,
    session: Option<Session>,
}

impl std::fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConnector")
            .field("settings", &self.settings)
            .field("connected", &self.session.is_some())
            .finish()
    }
}

/// One run's connection.
struct Session {
    ldap: Ldap,
    /// The task that drives the connection; aborted when the run closes.
    driver: JoinHandle<()>,
    partition: LdapPartition,
    cursor: Cursor,
}

/// Where an import stands.
enum Cursor {
    /// An export: nothing to remember.
    None,
    /// A full import: the position read before page 1 (`None` until then; `Some(None)` when
    /// there is no accesslog) and the paged-results cookie.
    Full {
        watermark: Option<Option<Watermark>>,
        cookie: Vec<u8>,
        done: bool,
    },
    /// A delta import.
    Delta(DeltaCursor),
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl LdapConnector {
    /// A connector for these settings. Nothing is contacted until a run opens.
    pub fn new(settings: LdapSettings) -> Self {
        LdapConnector {
            settings,
            session: None,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    fn configuration_fault(message: String) -> Fault {
        Fault {
            kind: FaultKind::ConnectorException,
            message,
        }
    }

    /// Connects and binds for one run.
    async fn connect(&self, partition: &LdapPartition) -> Result<(Ldap, JoinHandle<()>), Fault> {
        let settings = &self.settings;
        let password = settings
            .password
            .read()
            .map_err(Self::configuration_fault)?;
        let connection = LdapConnSettings::new().set_conn_timeout(settings.connect_timeout);
        let (connection, mut ldap) = LdapConnAsync::with_settings(connection, &settings.url)
            .await
            .map_err(|error| match Failure::of_error(error) {
                Failure::Request(message) => Self::configuration_fault(format!(
                    "the LDAP URL {:?} of partition {} cannot be used: {message}",
                    settings.url, partition.name
                )),
                failure => Fault {
                    kind: FaultKind::ServerDown,
                    message: format!(
                        "cannot reach the LDAP server {}: {}; check that it runs and listens there",
                        settings.url,
                        failure.describe()
                    ),
                },
            })?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.drive().await {
                warn!(%error, "the LDAP connection ended with an error");
            }
        });
        let bound = ldap
            .with_timeout(settings.operation_timeout)
            .simple_bind(&settings.bind_dn, password.expose())
            .await;
        drop(password);
        let failure = match bound {
            Ok(result) if result.rc == 0 => None,
            Ok(result) => Some(Failure::of_result(&result)),
            Err(error) => Some(Failure::of_error(error)),
        };
        if let Some(failure) = failure {
            driver.abort();
            return Err(failure.into_bind_fault(&settings.bind_dn, &settings.url));
        }
        debug!(url = %settings.url, bind_dn = %settings.bind_dn, "bound to the LDAP server");
        Ok((ldap, driver))
    }

    fn session(&mut self, what: &str) -> Result<&mut Session, Fault> {
        self.session.as_mut().ok_or_else(|| {
            Self::configuration_fault(format!(
                "{what} was called without an open run (open_run failed or was not called): a bug of the caller"
            ))
        })
    }
}

impl Connector for LdapConnector {
    async fn open_run(&mut self, context: &RunContext) -> Result<(), Fault> {
        self.session = None;
        let partition = self
            .settings
            .partition(&context.partition.0)
            .map_err(Self::configuration_fault)?
            .clone();
        if ldap3::parse_filter(&partition.filter).is_err() {
            return Err(Self::configuration_fault(format!(
                "partition {}: the filter {:?} does not parse; write an RFC 4515 filter such as (objectClass=inetOrgPerson)",
                partition.name, partition.filter
            )));
        }
        let cursor = match context.kind {
            RunKind::FullImport => Cursor::Full {
                watermark: None,
                cookie: Vec::new(),
                done: false,
            },
            RunKind::DeltaImport => match partition.delta {
                DeltaSource::Accesslog => {
                    Cursor::Delta(DeltaCursor::after(context.start_watermark.as_ref())?)
                }
                DeltaSource::Syncrepl => {
                    return Err(Self::configuration_fault(format!(
                        "partition {}: delta = \"syncrepl\" is not implemented yet; use delta = \"accesslog\"",
                        partition.name
                    )))
                }
            },
            RunKind::Export => Cursor::None,
        };
        let (ldap, driver) = self.connect(&partition).await?;
        self.session = Some(Session {
            ldap,
            driver,
            partition,
            cursor,
        });
        Ok(())
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        let timeout = self.settings.operation_timeout;
        let page_size = self.settings.page_size_bounded();
        let session = self.session("import_page")?;
        let mut reader = Reader {
            ldap: &mut session.ldap,
            timeout,
            partition: &session.partition,
            page_size,
        };
        match &mut session.cursor {
            Cursor::None => Err(Self::configuration_fault(format!(
                "import_page was called in run {}, an export: a bug of the caller",
                request.context.run
            ))),
            Cursor::Full {
                watermark,
                cookie,
                done,
            } => {
                if *done {
                    return Ok(None);
                }
                // The position is read before the first page of the listing (SPEC §9).
                let position = match watermark {
                    Some(position) => position.clone(),
                    None => {
                        let position = reader.log_position().await?;
                        *watermark = Some(position.clone());
                        position
                    }
                };
                let (mut page, next) = reader.full_page(std::mem::take(cookie)).await?;
                *done = next.is_empty();
                *cookie = next;
                page.watermark = position;
                Ok(Some(page))
            }
            Cursor::Delta(cursor) => reader.delta_page(cursor).await,
        }
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        let timeout = self.settings.operation_timeout;
        let session = self.session("export")?;
        let mut writer = export::Writer {
            ldap: &mut session.ldap,
            timeout,
            partition: &session.partition,
        };
        let mut results = Vec::with_capacity(batch.len());
        for change in batch {
            let outcome = writer.export(change).await?;
            let stop = matches!(outcome, ExportOutcome::CustomStopRun { .. });
            results.push((change.anchor.clone(), outcome));
            if stop {
                break;
            }
        }
        Ok(results)
    }

    async fn close_run(&mut self, _context: &RunContext) {
        if let Some(mut session) = self.session.take() {
            let _ = session
                .ldap
                .with_timeout(self.settings.operation_timeout)
                .unbind()
                .await;
        }
    }
}
