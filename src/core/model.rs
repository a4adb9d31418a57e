//! Domain nouns shared by events, commands and state: names, anchors, watermarks, changes,
//! settings and the closed vocabularies of SPEC.md (run kinds, statuses, faults, export results).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Position of an event in the log: integers from 1, in log order.
pub type Seq = u64;

/// Identity of a run: integers from 1, in the order runs started (refused runs included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunId(pub u64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Milliseconds since the Unix epoch, stamped by the shell: the core never reads a clock
/// ([R14](crate::rules#r14)).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

/// Who caused an event: an engine instance, an administrator, a test. Free text, supplied by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Actor(pub String);

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }
    };
}

name_type!(
    /// One configured connection to one external system.
    ConnectorName
);
name_type!(
    /// An independently synchronized slice of a connector, with its own watermark and health.
    PartitionName
);
name_type!(
    /// The opaque identity of one object in a partition (a DN, a GUID, a record id).
    Anchor
);

/// Opaque bytes the connector hands out to resume a delta import; compared only for equality.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Watermark(pub Vec<u8>);

impl Watermark {
    /// A watermark from text, as scenario files and most connectors give it.
    pub fn from_text(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }

    /// The watermark as an operator reads it: its text when it is UTF-8, else `0x` and hex.
    pub fn display_text(&self) -> String {
        match std::str::from_utf8(&self.0) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                let mut out = String::from("0x");
                for byte in &self.0 {
                    out.push_str(&format!("{byte:02x}"));
                }
                out
            }
        }
    }
}

impl fmt::Debug for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Watermark({})", self.display_text())
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_text())
    }
}

/// The value of one attribute: a string or a list of strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AttributeValue {
    /// A single-valued attribute.
    Single(String),
    /// A multi-valued attribute, in the order the source gave.
    Multi(Vec<String>),
}

/// Attributes of an object, by name. Sorted, so that state and events encode deterministically.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Attributes(pub BTreeMap<String, AttributeValue>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the named attributes of `other` over these, keeping the rest: how an update applies.
    pub fn overlay(&mut self, other: &Attributes) {
        for (name, value) in &other.0 {
            self.0.insert(name.clone(), value.clone());
        }
    }

    /// Whether there are no attributes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which step a run executes against a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RunKind {
    /// Reads every object; the only run that obsoletes and that clears `full-import-required`.
    FullImport,
    /// Reads the changes since the committed watermark.
    DeltaImport,
    /// Sends the partition's pending exports.
    Export,
}

impl RunKind {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [RunKind; 3] = [RunKind::FullImport, RunKind::DeltaImport, RunKind::Export];

    /// The SPEC §7 name: `full-import`, `delta-import` or `export`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::FullImport => "full-import",
            RunKind::DeltaImport => "delta-import",
            RunKind::Export => "export",
        }
    }

    /// Whether the run reads pages from the connector.
    pub fn is_import(self) -> bool {
        matches!(self, RunKind::FullImport | RunKind::DeltaImport)
    }
}

/// What an imported change does to the staged object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChangeKind {
    /// The object exists with exactly these attributes.
    Add,
    /// The named attributes changed; the others stay.
    Update,
    /// The object was deleted in the source: it is staged as obsolete.
    Delete,
}

impl ChangeKind {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [ChangeKind; 3] = [ChangeKind::Add, ChangeKind::Update, ChangeKind::Delete];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }
}

/// One object's change as an import page reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// The object.
    pub anchor: Anchor,
    /// What happened to it.
    pub kind: ChangeKind,
    /// Its attributes (all of them for an add, the changed ones for an update, none for a delete).
    pub attributes: Attributes,
}

/// The two object-level errors a connector may return with its own name and description
/// ([R7](crate::rules#r7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectErrorKind {
    /// The object failed; the run goes on.
    CustomContinueRun,
    /// The object failed and the run stops.
    CustomStopRun,
}

impl ObjectErrorKind {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [ObjectErrorKind; 2] = [
        ObjectErrorKind::CustomContinueRun,
        ObjectErrorKind::CustomStopRun,
    ];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectErrorKind::CustomContinueRun => "custom-continue-run",
            ObjectErrorKind::CustomStopRun => "custom-stop-run",
        }
    }
}

/// An object-level import error as the connector reports it (a *discovery error*).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryError {
    /// The object that failed.
    pub anchor: Anchor,
    /// Whether the run goes on.
    pub kind: ObjectErrorKind,
    /// Short dash-separated name, e.g. `invalid-characters-error`.
    pub name: String,
    /// What the administrator needs to understand the problem.
    pub description: String,
}

/// The fatal import errors that say the source's delta change log is broken
/// ([R5](crate::rules#r5)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FatalImportErrorKind {
    /// The change log could not be parsed.
    ImportParseError,
    /// The change log could not be read.
    ImportReadError,
}

impl FatalImportErrorKind {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [FatalImportErrorKind; 2] = [
        FatalImportErrorKind::ImportParseError,
        FatalImportErrorKind::ImportReadError,
    ];

    /// The SPEC §7 name, also the alert code.
    pub fn as_str(self) -> &'static str {
        match self {
            FatalImportErrorKind::ImportParseError => "import-parse-error",
            FatalImportErrorKind::ImportReadError => "import-read-error",
        }
    }
}

/// A fatal import error as the connector reports it, usually on the object it was reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FatalImportError {
    /// The object being read when the change log broke, when the connector knows it.
    pub anchor: Option<Anchor>,
    /// Parse or read error.
    pub kind: FatalImportErrorKind,
    /// What the connector said.
    pub description: String,
}

/// One page an import returned: its changes, its errors and the watermark after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Changes in the order the source listed them.
    pub changes: Vec<ObjectChange>,
    /// Object-level errors on this page.
    pub errors: Vec<DiscoveryError>,
    /// The fatal import errors on this page, if the change log broke here: a connector reading
    /// a corrupted change log may find several unreadable entries on one page.
    pub fatal_errors: Vec<FatalImportError>,
    /// The watermark after this page, if the connector proposes one.
    pub watermark: Option<Watermark>,
}

/// The well-known faults of [R8](crate::rules#r8): failures that stop the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FaultKind {
    /// The server cannot be reached at all.
    ServerDown,
    /// The server answers but a connection cannot be established.
    FailedConnection,
    /// A connection that worked earlier in the run was lost.
    DroppedConnection,
    /// The credentials were refused.
    BadCredentials,
    /// The OAuth refresh token expired.
    OauthTokenExpired,
    /// The source pruned its change log past the committed watermark.
    WatermarkExpired,
    /// Any other connector failure, a panic inside the connector included.
    ConnectorException,
}

impl FaultKind {
    /// Every fault, for generators and catalogs.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::ServerDown,
        FaultKind::FailedConnection,
        FaultKind::DroppedConnection,
        FaultKind::BadCredentials,
        FaultKind::OauthTokenExpired,
        FaultKind::WatermarkExpired,
        FaultKind::ConnectorException,
    ];

    /// The SPEC §7 name, also the alert code.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ServerDown => "server-down",
            FaultKind::FailedConnection => "failed-connection",
            FaultKind::DroppedConnection => "dropped-connection",
            FaultKind::BadCredentials => "bad-credentials",
            FaultKind::OauthTokenExpired => "oauth-token-expired",
            FaultKind::WatermarkExpired => "watermark-expired",
            FaultKind::ConnectorException => "connector-exception",
        }
    }

    /// The status of a run this fault stopped (SPEC §6).
    pub fn run_status(self) -> RunStatus {
        match self {
            FaultKind::ServerDown => RunStatus::StoppedServerDown,
            FaultKind::FailedConnection | FaultKind::DroppedConnection => {
                RunStatus::StoppedConnectivity
            }
            FaultKind::BadCredentials | FaultKind::OauthTokenExpired => {
                RunStatus::StoppedBadServerCredentials
            }
            FaultKind::WatermarkExpired => RunStatus::StoppedWatermarkExpired,
            FaultKind::ConnectorException => RunStatus::StoppedConnectorException,
        }
    }
}

/// A fault with the connector's own message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// What the connector said; for `connector-exception` the only clue an operator gets.
    pub message: String,
}

/// The run limits of [R11](crate::rules#r11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LimitKind {
    /// More errors than `max_errors`.
    Errors,
    /// More warnings than `max_warnings`.
    Warnings,
    /// More live objects in the partition than `snapshot_limit`.
    Snapshot,
}

impl LimitKind {
    /// The alert code of SPEC §7.
    pub fn code(self) -> &'static str {
        match self {
            LimitKind::Errors => "error-limit-exceeded",
            LimitKind::Warnings => "warning-limit-exceeded",
            LimitKind::Snapshot => "snapshot-limit-exceeded",
        }
    }
}

/// A change waiting to be exported, as SPEC §7's `pending_exports[].change` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ExportChangeKind {
    /// Create the object with all its attributes.
    Add,
    /// Change the named attributes.
    Update,
    /// Delete the object.
    Delete,
    /// Write the reference attributes only (after `retry-reference-attribute`).
    References,
}

impl ExportChangeKind {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [ExportChangeKind; 4] = [
        ExportChangeKind::Add,
        ExportChangeKind::Update,
        ExportChangeKind::Delete,
        ExportChangeKind::References,
    ];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportChangeKind::Add => "add",
            ExportChangeKind::Update => "update",
            ExportChangeKind::Delete => "delete",
            ExportChangeKind::References => "references",
        }
    }
}

/// A change the engine wants written to the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportChange {
    /// The object.
    pub anchor: Anchor,
    /// What to do.
    pub kind: ExportChangeKind,
    /// Non-reference attributes.
    pub attributes: Attributes,
    /// Reference attributes (values are anchors of other objects).
    pub references: Attributes,
}

/// The result a connector returns for one exported object (SPEC §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExportOutcome {
    /// Written.
    Success,
    /// Failed; the run goes on.
    CustomContinueRun {
        /// Short dash-separated name.
        name: String,
        /// Details for the administrator.
        description: String,
    },
    /// Failed; the run stops.
    CustomStopRun {
        /// Short dash-separated name.
        name: String,
        /// Details for the administrator.
        description: String,
    },
    /// The target lost the object: send it again as an add with all attributes.
    ConvertUpdateToAdd,
    /// The parent container is missing: add it first, then send the object again.
    ProvisioningParent {
        /// The missing parent.
        parent: Anchor,
    },
    /// The non-reference attributes were written; the references must be retried.
    RetryReferenceAttribute,
}

impl ExportOutcome {
    /// The SPEC §7 name.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Which result this is, without its details.
    pub fn kind(&self) -> ExportOutcomeKind {
        match self {
            ExportOutcome::Success => ExportOutcomeKind::Success,
            ExportOutcome::CustomContinueRun { .. } => ExportOutcomeKind::CustomContinueRun,
            ExportOutcome::CustomStopRun { .. } => ExportOutcomeKind::CustomStopRun,
            ExportOutcome::ConvertUpdateToAdd => ExportOutcomeKind::ConvertUpdateToAdd,
            ExportOutcome::ProvisioningParent { .. } => ExportOutcomeKind::ProvisioningParent,
            ExportOutcome::RetryReferenceAttribute => ExportOutcomeKind::RetryReferenceAttribute,
        }
    }
}

/// The name of an [`ExportOutcome`] without its details: the closed list of SPEC §7 `result`s,
/// for whoever reads results by name (the scenario format) before it has the details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ExportOutcomeKind {
    /// `success`.
    Success,
    /// `custom-continue-run`.
    CustomContinueRun,
    /// `custom-stop-run`.
    CustomStopRun,
    /// `convert-update-to-add`.
    ConvertUpdateToAdd,
    /// `provisioning-parent`.
    ProvisioningParent,
    /// `retry-reference-attribute`.
    RetryReferenceAttribute,
}

impl ExportOutcomeKind {
    /// Every result, in the order SPEC §7 lists them.
    pub const ALL: [ExportOutcomeKind; 6] = [
        ExportOutcomeKind::Success,
        ExportOutcomeKind::CustomContinueRun,
        ExportOutcomeKind::CustomStopRun,
        ExportOutcomeKind::ConvertUpdateToAdd,
        ExportOutcomeKind::ProvisioningParent,
        ExportOutcomeKind::RetryReferenceAttribute,
    ];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportOutcomeKind::Success => "success",
            ExportOutcomeKind::CustomContinueRun => "custom-continue-run",
            ExportOutcomeKind::CustomStopRun => "custom-stop-run",
            ExportOutcomeKind::ConvertUpdateToAdd => "convert-update-to-add",
            ExportOutcomeKind::ProvisioningParent => "provisioning-parent",
            ExportOutcomeKind::RetryReferenceAttribute => "retry-reference-attribute",
        }
    }
}

/// An administrator's action ([R4](crate::rules#r4), [R8](crate::rules#r8), [R9](crate::rules#r9)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AdminAction {
    /// New credentials were entered.
    CredentialsUpdated,
    /// The connector was enabled again.
    Enable,
    /// A suspended scope was resumed.
    Resume,
    /// A held obsoletion was approved.
    ApproveObsoletion,
}

impl AdminAction {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [AdminAction; 4] = [
        AdminAction::CredentialsUpdated,
        AdminAction::Enable,
        AdminAction::Resume,
        AdminAction::ApproveObsoletion,
    ];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::CredentialsUpdated => "credentials-updated",
            AdminAction::Enable => "enable",
            AdminAction::Resume => "resume",
            AdminAction::ApproveObsoletion => "approve-obsoletion",
        }
    }
}

/// An administrator's action as `syncfold admin` records it (SPEC §8): the four of
/// [`AdminAction`] and the two that change a partition's import state.
///
/// A separate vocabulary from [`AdminAction`], which scenario files and format-1 logs use, so
/// that code matching on the four actions of SPEC §7 keeps compiling and meaning what it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OperatorAction {
    /// New credentials were entered ([R8](crate::rules#r8)).
    CredentialsUpdated,
    /// The connector was enabled again ([R8](crate::rules#r8)).
    Enable,
    /// A suspended scope was resumed ([R9](crate::rules#r9)).
    Resume,
    /// A held obsoletion was approved ([R4](crate::rules#r4)).
    ApproveObsoletion,
    /// A partition's committed watermark was set back to the one a run committed (SPEC §8).
    SetWatermark,
    /// A partition was flagged `full-import-required` by an administrator
    /// ([R5](crate::rules#r5), SPEC §8).
    RequireFullImport,
}

impl OperatorAction {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [OperatorAction; 6] = [
        OperatorAction::CredentialsUpdated,
        OperatorAction::Enable,
        OperatorAction::Resume,
        OperatorAction::ApproveObsoletion,
        OperatorAction::SetWatermark,
        OperatorAction::RequireFullImport,
    ];

    /// The SPEC §7/§8 name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::CredentialsUpdated => "credentials-updated",
            OperatorAction::Enable => "enable",
            OperatorAction::Resume => "resume",
            OperatorAction::ApproveObsoletion => "approve-obsoletion",
            OperatorAction::SetWatermark => "set-watermark",
            OperatorAction::RequireFullImport => "require-full-import",
        }
    }

    /// The SPEC §7 action it is, for the four that scenario files record.
    pub fn as_admin_action(self) -> Option<AdminAction> {
        match self {
            OperatorAction::CredentialsUpdated => Some(AdminAction::CredentialsUpdated),
            OperatorAction::Enable => Some(AdminAction::Enable),
            OperatorAction::Resume => Some(AdminAction::Resume),
            OperatorAction::ApproveObsoletion => Some(AdminAction::ApproveObsoletion),
            OperatorAction::SetWatermark | OperatorAction::RequireFullImport => None,
        }
    }

    /// Whether the action needs a partition (`set-watermark`, `require-full-import`).
    pub fn needs_partition(self) -> bool {
        matches!(
            self,
            OperatorAction::SetWatermark | OperatorAction::RequireFullImport
        )
    }
}

impl From<AdminAction> for OperatorAction {
    fn from(action: AdminAction) -> Self {
        match action {
            AdminAction::CredentialsUpdated => OperatorAction::CredentialsUpdated,
            AdminAction::Enable => OperatorAction::Enable,
            AdminAction::Resume => OperatorAction::Resume,
            AdminAction::ApproveObsoletion => OperatorAction::ApproveObsoletion,
        }
    }
}

/// How many objects a clean full import may obsolete before the obsoletion is held
/// ([R4](crate::rules#r4)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeletionThreshold {
    /// At most this many objects.
    Count(u64),
    /// At most this percentage of the partition's live objects before the import.
    Percent(u8),
}

/// The limits in force for a run; carried on every `RunStarted` so a postmortem sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Consecutive failures of one code on one scope before it turns permanent
    /// ([R9](crate::rules#r9)).
    pub retry_count: u32,
    /// Errors a run may have; one more stops it ([R11](crate::rules#r11)).
    pub max_errors: u64,
    /// Warnings a run may have; one more stops it ([R11](crate::rules#r11)).
    pub max_warnings: u64,
    /// Live objects a partition may hold ([R11](crate::rules#r11)).
    pub snapshot_limit: u64,
    /// Consecutive held-back delta imports before the stuck-watermark warning
    /// ([R6](crate::rules#r6)).
    pub stuck_after: u32,
    /// The accidental-deletion guard ([R4](crate::rules#r4)).
    pub deletion_threshold: DeletionThreshold,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_count: 3,
            max_errors: 5000,
            max_warnings: 100_000,
            snapshot_limit: 10_000,
            stuck_after: 3,
            deletion_threshold: DeletionThreshold::Count(500),
        }
    }
}

/// The result of a run (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RunStatus {
    /// Nothing went wrong.
    Success,
    /// Only warnings.
    CompletedWarnings,
    /// An import with object-level errors.
    CompletedDiscoveryErrors,
    /// An export with object-level errors.
    CompletedExportErrors,
    /// `custom-stop-run` on an object.
    StoppedObjectError,
    /// Errors over `max_errors` or warnings over `max_warnings`.
    StoppedErrorLimit,
    /// The snapshot record limit.
    StoppedSnapshotLimit,
    /// A clean full import whose obsoletion is held ([R4](crate::rules#r4)).
    StoppedDeletionThresholdExceeded,
    /// Fault `server-down`.
    StoppedServerDown,
    /// Faults `failed-connection`, `dropped-connection`.
    StoppedConnectivity,
    /// Faults `bad-credentials`, `oauth-token-expired`.
    StoppedBadServerCredentials,
    /// Any other connector failure.
    StoppedConnectorException,
    /// `import-parse-error` or `import-read-error` in a delta import.
    StoppedDeltaLogBroken,
    /// Fault `watermark-expired`.
    StoppedWatermarkExpired,
    /// A delta import while `full-import-required` is set.
    NoStartFullImportRequired,
    /// The connector is disabled.
    NoStartDisabled,
    /// The scope is suspended.
    NoStartSuspended,
    /// Found in flight when the log was reopened.
    Interrupted,
}

impl RunStatus {
    /// Every status, in the order of SPEC §6.
    pub const ALL: [RunStatus; 18] = [
        RunStatus::Success,
        RunStatus::CompletedWarnings,
        RunStatus::CompletedDiscoveryErrors,
        RunStatus::CompletedExportErrors,
        RunStatus::StoppedObjectError,
        RunStatus::StoppedErrorLimit,
        RunStatus::StoppedSnapshotLimit,
        RunStatus::StoppedDeletionThresholdExceeded,
        RunStatus::StoppedServerDown,
        RunStatus::StoppedConnectivity,
        RunStatus::StoppedBadServerCredentials,
        RunStatus::StoppedConnectorException,
        RunStatus::StoppedDeltaLogBroken,
        RunStatus::StoppedWatermarkExpired,
        RunStatus::NoStartFullImportRequired,
        RunStatus::NoStartDisabled,
        RunStatus::NoStartSuspended,
        RunStatus::Interrupted,
    ];

    /// The SPEC §6 name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::CompletedWarnings => "completed-warnings",
            RunStatus::CompletedDiscoveryErrors => "completed-discovery-errors",
            RunStatus::CompletedExportErrors => "completed-export-errors",
            RunStatus::StoppedObjectError => "stopped-object-error",
            RunStatus::StoppedErrorLimit => "stopped-error-limit",
            RunStatus::StoppedSnapshotLimit => "stopped-snapshot-limit",
            RunStatus::StoppedDeletionThresholdExceeded => "stopped-deletion-threshold-exceeded",
            RunStatus::StoppedServerDown => "stopped-server-down",
            RunStatus::StoppedConnectivity => "stopped-connectivity",
            RunStatus::StoppedBadServerCredentials => "stopped-bad-server-credentials",
            RunStatus::StoppedConnectorException => "stopped-connector-exception",
            RunStatus::StoppedDeltaLogBroken => "stopped-delta-log-broken",
            RunStatus::StoppedWatermarkExpired => "stopped-watermark-expired",
            RunStatus::NoStartFullImportRequired => "no-start-full-import-required",
            RunStatus::NoStartDisabled => "no-start-disabled",
            RunStatus::NoStartSuspended => "no-start-suspended",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the run ran to its end (`success` or a `completed-*` status).
    pub fn ran_to_end(self) -> bool {
        matches!(
            self,
            RunStatus::Success
                | RunStatus::CompletedWarnings
                | RunStatus::CompletedDiscoveryErrors
                | RunStatus::CompletedExportErrors
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to obsoletion in a run (SPEC §7 `runs[].obsoletion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Obsoletion {
    /// Objects not seen were marked obsolete.
    Applied,
    /// Not applied because the full import had errors or stopped.
    Skipped,
    /// Held by the deletion guard until approved ([R4](crate::rules#r4)).
    Held,
    /// Not a full import, or the run did not start.
    NotApplicable,
}

impl Obsoletion {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [Obsoletion; 4] = [
        Obsoletion::Applied,
        Obsoletion::Skipped,
        Obsoletion::Held,
        Obsoletion::NotApplicable,
    ];

    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Obsoletion::Applied => "applied",
            Obsoletion::Skipped => "skipped",
            Obsoletion::Held => "held",
            Obsoletion::NotApplicable => "not-applicable",
        }
    }
}

/// Why obsoletion was skipped ([R3](crate::rules#r3)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SkipReason {
    /// The full import had object-level or fatal import errors.
    ImportErrors,
    /// A fault or a limit stopped it, or it was interrupted.
    RunStopped,
}

impl SkipReason {
    /// Every value, in the order SPEC lists them (the order messages list them).
    pub const ALL: [SkipReason; 2] = [SkipReason::ImportErrors, SkipReason::RunStopped];

    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ImportErrors => "import-errors",
            SkipReason::RunStopped => "run-stopped",
        }
    }
}

impl Actor {
    /// An actor by name.
    pub fn from_name(name: &str) -> Self {
        Actor(name.to_owned())
    }
}

/// A name that is not in a closed SPEC vocabulary: what was given and what the vocabulary holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?} (expected one of: {})", expected.join(", "))]
pub struct UnknownName {
    /// Which vocabulary, e.g. `run kind`.
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// Every name of the vocabulary, in its `ALL` order.
    pub expected: Vec<&'static str>,
}

/// `FromStr` for the vocabulary enums, derived from `ALL` and `as_str` so that each SPEC name is
/// spelt in one place only.
macro_rules! from_spec_name {
    ($($kind:ident: $what:literal),* $(,)?) => {$(
        impl std::str::FromStr for $kind {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == name)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        name: name.to_owned(),
                        expected: Self::ALL.map(Self::as_str).to_vec(),
                    })
            }
        }
    )*};
}

from_spec_name!(
    RunKind: "run kind",
    ChangeKind: "change",
    ObjectErrorKind: "object error",
    FatalImportErrorKind: "fatal import error",
    FaultKind: "fault",
    ExportChangeKind: "export change",
    ExportOutcomeKind: "export result",
    AdminAction: "admin action",
    OperatorAction: "admin action",
    RunStatus: "run status",
    Obsoletion: "obsoletion",
    SkipReason: "skip reason",
);

#[cfg(test)]
mod vocabulary_tests {
    //! Each vocabulary's `ALL` holds every value once and `FromStr` reads back every `as_str`.

    use super::*;
    use std::str::FromStr;

    fn round_trip<T: FromStr<Err = UnknownName> + PartialEq + fmt::Debug + Copy>(
        all: &[T],
        name: fn(T) -> &'static str,
    ) {
        let mut names: Vec<&str> = all.iter().map(|value| name(*value)).collect();
        for value in all {
            assert_eq!(T::from_str(name(*value)).as_ref(), Ok(value));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "one name per value");
        assert!(T::from_str("no-such-name").is_err());
    }

    #[test]
    fn every_vocabulary_reads_back_its_names() {
        round_trip(&OperatorAction::ALL, OperatorAction::as_str);
        round_trip(&RunKind::ALL, RunKind::as_str);
        round_trip(&ChangeKind::ALL, ChangeKind::as_str);
        round_trip(&ObjectErrorKind::ALL, ObjectErrorKind::as_str);
        round_trip(&FatalImportErrorKind::ALL, FatalImportErrorKind::as_str);
        round_trip(&FaultKind::ALL, FaultKind::as_str);
        round_trip(&ExportChangeKind::ALL, ExportChangeKind::as_str);
        round_trip(&ExportOutcomeKind::ALL, ExportOutcomeKind::as_str);
        round_trip(&AdminAction::ALL, AdminAction::as_str);
        round_trip(&RunStatus::ALL, RunStatus::as_str);
        round_trip(&Obsoletion::ALL, Obsoletion::as_str);
        round_trip(&SkipReason::ALL, SkipReason::as_str);
        assert_eq!(
            "x".parse::<AdminAction>()
                .map_err(|error| error.to_string()),
            Err(
                "unknown admin action \"x\" (expected one of: credentials-updated, enable, \
                 resume, approve-obsoletion)"
                    .to_owned()
            )
        );
    }
}
