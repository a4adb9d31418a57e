//! How LDAP failures become syncfold's vocabulary: the faults of SPEC §9 / R8 for whatever stops
//! a run, and the export results of SPEC §4 for what concerns one entry.
//!
//! The decision is made on two facts only: whether the LDAP operation got an answer at all (a
//! transport failure) and, when it did, its result code (RFC 4511 appendix A). Messages carry
//! the code, its RFC name and the server's diagnostic, never a password: the bind password is
//! never part of an LDAP result or of an `ldap3` error value.

use crate::core::{ExportOutcome, Fault, FaultKind};
use ldap3::{LdapError, LdapResult};

/// The RFC 4511 name of a result code (`objectClassViolation`), or `unknown`.
pub fn result_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        33 => "aliasProblem",
        34 => "invalidDNSyntax",
        36 => "aliasDereferencingProblem",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        _ => "unknown",
    }
}

/// A result code's name, dash-separated as syncfold error names are
/// (`objectClassViolation` → `object-class-violation`; `invalidDNSyntax` → `invalid-dn-syntax`).
pub fn dashed_result_name(code: u32) -> String {
    let name = result_name(code);
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (at, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            // A capital starts a word, except inside an acronym (DN, RDN, DSA): there only the
            // first capital does, or the last one when a lower-case letter follows it.
            let previous_upper = at > 0 && chars[at - 1].is_ascii_uppercase();
            // A plural `s` after an acronym (`DSAs`) belongs to it.
            let plural = chars.get(at + 1) == Some(&'s') && at + 2 == chars.len();
            let next_lower = !plural && chars.get(at + 1).is_some_and(|n| n.is_ascii_lowercase());
            let starts_word = at > 0 && (!previous_upper || next_lower);
            if starts_word && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The result codes that concern one entry's content (schema and constraint violations): an
/// export of that entry fails with `custom-continue-run` and the run goes on.
pub fn is_entry_violation(code: u32) -> bool {
    matches!(
        code,
        16 | 17 | 18 | 19 | 20 | 21 | 34 | 64 | 65 | 66 | 67 | 68 | 69
    )
}

/// One LDAP operation that did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// No answer: the connection is gone, or never was.
    Transport(String),
    /// The connection is there but the server did not answer within the operation timeout.
    Timeout(String),
    /// The server answered with a result code other than success.
    Result {
        /// The result code.
        code: u32,
        /// The server's diagnostic message.
        text: String,
        /// The matched DN the server returned, if any.
        matched: String,
    },
    /// The server's answer could not be decoded (a malformed entry or control).
    Protocol(String),
    /// The request could not be made from the settings (a filter or URL that does not parse).
    Request(String),
}

impl Failure {
    /// The failure of a result that is not success.
    pub fn of_result(result: &LdapResult) -> Self {
        Failure::Result {
            code: result.rc,
            text: result.text.clone(),
            matched: result.matched.clone(),
        }
    }

    /// Classifies an `ldap3` error.
    pub fn of_error(error: LdapError) -> Self {
        match error {
            LdapError::LdapResult { result } => Failure::of_result(&result),
            LdapError::FilterParsing => {
                Failure::Request("the search filter does not parse (RFC 4515)".into())
            }
            LdapError::UrlParsing { source } => {
                Failure::Request(format!("the URL does not parse: {source}"))
            }
            LdapError::UnknownScheme(scheme) => Failure::Request(format!(
                "the URL scheme {scheme:?} is not supported by this build; use ldap://host:port"
            )),
            LdapError::DecodingUTF8 => {
                Failure::Protocol("a DN in the server's answer is not UTF-8".into())
            }
            LdapError::AddNoValues => {
                Failure::Request("an add with an attribute without values".into())
            }
            LdapError::Timeout { elapsed } => Failure::Timeout(elapsed.to_string()),
            // Io, OpSend, ResultRecv, IdScrubSend, MiscSend, EndOfStream, and whatever a later
            // ldap3 adds: the operation got no answer because the connection is gone.
            other => Failure::Transport(other.to_string()),
        }
    }

    /// The result code, when the server answered.
    pub fn code(&self) -> Option<u32> {
        match self {
            Failure::Result { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// What happened, for a message: the code with its name and the diagnostic, or the
    /// transport error.
    pub fn describe(&self) -> String {
        match self {
            Failure::Transport(message) => format!("no answer from the server ({message})"),
            Failure::Timeout(message) => format!(
                "the server did not answer within the operation timeout ({message}); raise operation_timeout or check the server's load"
            ),
            Failure::Protocol(message) => format!("the server's answer cannot be used: {message}"),
            Failure::Request(message) => format!("the request cannot be made: {message}"),
            Failure::Result { code, text, .. } => {
                if text.is_empty() {
                    format!("LDAP result {code} ({})", result_name(*code))
                } else {
                    format!("LDAP result {code} ({}): {text}", result_name(*code))
                }
            }
        }
    }

    /// The fault this failure is while a run is under way (after a successful bind): a lost
    /// connection is `dropped-connection`, a busy or unavailable server `failed-connection`,
    /// anything else (a timeout included: the connection was not lost) `connector-exception`
    /// naming `doing` (the operation and its target).
    pub fn into_fault(self, doing: &str) -> Fault {
        let kind = match &self {
            Failure::Transport(_) => FaultKind::DroppedConnection,
            Failure::Result { code: 51 | 52, .. } => FaultKind::FailedConnection,
            _ => FaultKind::ConnectorException,
        };
        let remedy = match kind {
            FaultKind::DroppedConnection => {
                "; the connection was lost during the run: check the server and the network, then run again"
            }
            FaultKind::FailedConnection => "; the server is busy or unavailable: run again later",
            _ => "",
        };
        Fault {
            kind,
            message: format!("{doing}: {}{remedy}", self.describe()),
        }
    }

    /// The fault this failure is while binding: refused credentials are `bad-credentials`, a
    /// busy or unavailable server `failed-connection`, a connection that breaks during the bind
    /// `failed-connection` too (the server answered the connect but no session came of it).
    pub fn into_bind_fault(self, bind_dn: &str, url: &str) -> Fault {
        let doing = format!("binding as {bind_dn} to {url}");
        match self {
            Failure::Result { code: 49, .. } => Fault {
                kind: FaultKind::BadCredentials,
                message: format!(
                    "{doing}: {}; update the password (or the bind DN), record credentials-updated, then enable",
                    self.describe()
                ),
            },
            Failure::Transport(_) => Fault {
                kind: FaultKind::FailedConnection,
                message: format!("{doing}: {}", self.describe()),
            },
            other => other.into_fault(&doing),
        }
    }

    /// The export result (or the fault) of a failed write of the entry `dn`, when the failure is
    /// about that entry: schema and constraint violations are `custom-continue-run`, missing
    /// rights `custom-stop-run`; `Err` when the run must stop with a fault. The caller decides
    /// `noSuchObject` (32) itself, as its meaning depends on the operation.
    pub fn into_export_outcome(self, doing: &str) -> Result<ExportOutcome, Fault> {
        match self {
            Failure::Result { code, text, .. } if is_entry_violation(code) => {
                Ok(ExportOutcome::CustomContinueRun {
                    name: dashed_result_name(code),
                    description: if text.is_empty() {
                        format!("{doing}: LDAP result {code} ({})", result_name(code))
                    } else {
                        text
                    },
                })
            }
            Failure::Result { code: 50, text, .. } => Ok(ExportOutcome::CustomStopRun {
                name: dashed_result_name(50),
                description: format!(
                    "{doing}: {}; grant the bind DN write access to this entry",
                    if text.is_empty() {
                        "LDAP result 50 (insufficientAccessRights)".to_owned()
                    } else {
                        text
                    }
                ),
            }),
            other => Err(other.into_fault(doing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_names_are_dash_separated_with_acronyms_kept_whole() {
        assert_eq!(dashed_result_name(65), "object-class-violation");
        assert_eq!(dashed_result_name(34), "invalid-dn-syntax");
        assert_eq!(dashed_result_name(67), "not-allowed-on-rdn");
        assert_eq!(dashed_result_name(71), "affects-multiple-dsas");
        assert_eq!(dashed_result_name(50), "insufficient-access-rights");
        assert_eq!(dashed_result_name(21), "invalid-attribute-syntax");
        assert_eq!(dashed_result_name(999), "unknown");
    }

    fn result(code: u32, text: &str) -> Failure {
        Failure::Result {
            code,
            text: text.to_owned(),
            matched: String::new(),
        }
    }

    /// SPEC §9's fault table, one row per line.
    #[test]
    fn failures_become_the_faults_of_spec_section_9() {
        let during_run = |failure: Failure| failure.into_fault("reading").kind;
        assert_eq!(
            during_run(Failure::Transport("connection reset".into())),
            FaultKind::DroppedConnection
        );
        assert_eq!(during_run(result(51, "busy")), FaultKind::FailedConnection);
        assert_eq!(
            during_run(result(52, "unavailable")),
            FaultKind::FailedConnection
        );
        assert_eq!(during_run(result(80, "")), FaultKind::ConnectorException);
        assert_eq!(
            during_run(Failure::Timeout("deadline has elapsed".into())),
            FaultKind::ConnectorException
        );
        let binding = |failure: Failure| failure.into_bind_fault("cn=admin", "ldap://h:1").kind;
        assert_eq!(binding(result(49, "")), FaultKind::BadCredentials);
        assert_eq!(binding(result(52, "")), FaultKind::FailedConnection);
        assert_eq!(
            binding(Failure::Transport("eof".into())),
            FaultKind::FailedConnection
        );
        assert_eq!(binding(result(53, "")), FaultKind::ConnectorException);
    }

    #[test]
    fn a_connector_exception_carries_the_code_its_name_and_the_servers_message() {
        let fault = result(53, "no global superior knowledge").into_fault("adding uid=a,dc=org");
        assert_eq!(fault.kind, FaultKind::ConnectorException);
        assert_eq!(
            fault.message,
            "adding uid=a,dc=org: LDAP result 53 (unwillingToPerform): no global superior knowledge"
        );
    }

    #[test]
    fn entry_violations_continue_the_run_and_missing_rights_stop_it() {
        for code in [17, 18, 19, 20, 21, 64, 65, 67, 69] {
            match result(code, "the diagnostic").into_export_outcome("adding x") {
                Ok(ExportOutcome::CustomContinueRun { name, description }) => {
                    assert_eq!(name, dashed_result_name(code));
                    assert_eq!(description, "the diagnostic");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert!(matches!(
            result(50, "no write access").into_export_outcome("modifying x"),
            Ok(ExportOutcome::CustomStopRun { name, .. }) if name == "insufficient-access-rights"
        ));
        assert_eq!(
            result(52, "")
                .into_export_outcome("adding x")
                .map_err(|f| f.kind),
            Err(FaultKind::FailedConnection)
        );
    }
}
