//! Exports: adds, modifies (a replace per attribute) and deletes, with the reference attributes
//! written in a second modify once every entry they name exists.
//!
//! The results follow SPEC §9: a modify of an entry that is gone is `convert-update-to-add`; an
//! add whose parent is missing is `provisioning-parent` naming the parent DN; a reference to an
//! entry that does not exist yet leaves the other attributes written and answers
//! `retry-reference-attribute`; a schema or constraint violation is `custom-continue-run` named
//! after the result code, with the server's diagnostic; missing rights are `custom-stop-run`.
//! A delete of an entry that is already gone is a success: the target is as asked. An add
//! without attributes (the missing parent the engine queues after `provisioning-parent`) creates
//! the conventional container its RDN names: `ou` an `organizationalUnit`, `o` an
//! `organization`, `dc` a `domain`, `l` a `locality`.

use super::config::LdapPartition;
use super::fault::Failure;
use super::protocol::{self, parent_dn};
use crate::core::*;
use ldap3::{Ldap, LdapResult, Mod};
use std::collections::HashSet;
use std::time::Duration;

/// What the connector needs to write.
pub(super) struct Writer<'a> {
    pub ldap: &'a mut Ldap,
    pub timeout: Duration,
    pub partition: &'a LdapPartition,
}

/// The values of one attribute as an LDAP value set (empty: delete the attribute on replace).
fn values(value: &AttributeValue) -> HashSet<String> {
    match value {
        AttributeValue::Single(value) => HashSet::from([value.clone()]),
        AttributeValue::Multi(values) => values.iter().cloned().collect(),
    }
}

/// The attributes of a conventional container for `dn`, from its RDN (`ou=sales` → an
/// `organizationalUnit` with `ou: sales`), for an add that comes without attributes: how a
/// missing parent the engine queues (`provisioning-parent`) is created. `None` for another RDN
/// type, or an RDN with escapes or several values.
fn container_of(dn: &str) -> Option<Attributes> {
    let rdn = match dn.split_once(',') {
        Some((rdn, _)) => rdn,
        None => dn,
    };
    if rdn.contains(['\\', '+']) {
        return None;
    }
    let (kind, value) = rdn.split_once('=')?;
    let (kind, value) = (kind.trim(), value.trim());
    let class = match kind.to_ascii_lowercase().as_str() {
        "ou" => "organizationalUnit",
        "o" => "organization",
        "dc" => "domain",
        "l" => "locality",
        _ => return None,
    };
    if value.is_empty() {
        return None;
    }
    let mut attributes = Attributes::new();
    attributes.0.insert(
        "objectClass".to_owned(),
        AttributeValue::Single(class.to_owned()),
    );
    attributes.0.insert(
        kind.to_ascii_lowercase(),
        AttributeValue::Single(value.to_owned()),
    );
    Some(attributes)
}

/// The result of an operation that answered: `Ok` on success, else the failure.
fn answered(result: Result<LdapResult, ldap3::LdapError>) -> Result<(), Failure> {
    match result {
        Ok(result) if result.rc == 0 => Ok(()),
        Ok(result) => Err(Failure::of_result(&result)),
        Err(error) => Err(Failure::of_error(error)),
    }
}

impl Writer<'_> {
    /// Writes one change and says how it went; `Err` is a fault that stops the run.
    pub async fn export(&mut self, change: &ExportChange) -> Result<ExportOutcome, Fault> {
        let dn = change.anchor.0.as_str();
        // Reference attributes are whatever the engine sends as references, and any attribute
        // the partition names as one that arrives among the others.
        let mut plain = Attributes::new();
        let mut references = change.references.clone();
        for (name, value) in &change.attributes.0 {
            if self.partition.is_reference(name) {
                references.0.insert(name.clone(), value.clone());
            } else {
                plain.0.insert(name.clone(), value.clone());
            }
        }
        match change.kind {
            ExportChangeKind::Delete => self.delete(dn).await,
            ExportChangeKind::Add => match self.add(dn, &plain).await? {
                ExportOutcome::Success => self.references(dn, &references).await,
                other => Ok(other),
            },
            ExportChangeKind::Update => match self.replace(dn, &plain).await? {
                ExportOutcome::Success => self.references(dn, &references).await,
                other => Ok(other),
            },
            ExportChangeKind::References => self.references(dn, &references).await,
        }
    }

    async fn delete(&mut self, dn: &str) -> Result<ExportOutcome, Fault> {
        let doing = format!("deleting {dn}");
        match answered(self.ldap.with_timeout(self.timeout).delete(dn).await) {
            Ok(()) => Ok(ExportOutcome::Success),
            Err(failure) if failure.code() == Some(32) => Ok(ExportOutcome::Success),
            Err(failure) => failure.into_export_outcome(&doing),
        }
    }

    async fn add(&mut self, dn: &str, attributes: &Attributes) -> Result<ExportOutcome, Fault> {
        let doing = format!("adding {dn}");
        let container;
        let attributes = if attributes.is_empty() {
            // The engine queues a missing parent (provisioning-parent) by its DN alone.
            match container_of(dn) {
                Some(attributes) => {
                    container = attributes;
                    &container
                }
                None => {
                    return Ok(ExportOutcome::CustomContinueRun {
                        name: "no-attributes".to_owned(),
                        description: format!(
                            "{doing}: an add without attributes, and the connector creates containers only for ou, o, dc and l; queue the entry with its objectClass and attributes"
                        ),
                    })
                }
            }
        } else {
            attributes
        };
        let entry: Vec<(String, HashSet<String>)> = attributes
            .0
            .iter()
            .map(|(name, value)| (name.clone(), values(value)))
            .filter(|(_, values)| !values.is_empty())
            .collect();
        match answered(self.ldap.with_timeout(self.timeout).add(dn, entry).await) {
            Ok(()) => Ok(ExportOutcome::Success),
            Err(failure) if failure.code() == Some(32) => match parent_dn(dn) {
                Some(parent) => Ok(ExportOutcome::ProvisioningParent {
                    parent: Anchor::from(parent),
                }),
                None => Err(failure.into_fault(&doing)),
            },
            Err(failure) => failure.into_export_outcome(&doing),
        }
    }

    /// Replaces each named attribute; `convert-update-to-add` when the entry is gone.
    async fn replace(&mut self, dn: &str, attributes: &Attributes) -> Result<ExportOutcome, Fault> {
        if attributes.is_empty() {
            return Ok(ExportOutcome::Success);
        }
        let doing = format!("modifying {dn}");
        let mods: Vec<Mod<String>> = attributes
            .0
            .iter()
            .map(|(name, value)| Mod::Replace(name.clone(), values(value)))
            .collect();
        match answered(self.ldap.with_timeout(self.timeout).modify(dn, mods).await) {
            Ok(()) => Ok(ExportOutcome::Success),
            Err(failure) if failure.code() == Some(32) => Ok(ExportOutcome::ConvertUpdateToAdd),
            Err(failure) => failure.into_export_outcome(&doing),
        }
    }

    /// Writes the reference attributes once every entry they name exists; until then answers
    /// `retry-reference-attribute` and writes none of them (they are retried together).
    async fn references(
        &mut self,
        dn: &str,
        references: &Attributes,
    ) -> Result<ExportOutcome, Fault> {
        if references.is_empty() {
            return Ok(ExportOutcome::Success);
        }
        for (name, value) in &references.0 {
            for target in values(value) {
                let found = protocol::exists(self.ldap, self.timeout, &target)
                    .await
                    .map_err(|failure| {
                        failure.into_fault(&format!("looking up {target}, named by {name} of {dn}"))
                    })?;
                if !found {
                    return Ok(ExportOutcome::RetryReferenceAttribute);
                }
            }
        }
        let doing = format!("writing the reference attributes of {dn}");
        let mods: Vec<Mod<String>> = references
            .0
            .iter()
            .map(|(name, value)| Mod::Replace(name.clone(), values(value)))
            .collect();
        match answered(self.ldap.with_timeout(self.timeout).modify(dn, mods).await) {
            Ok(()) => Ok(ExportOutcome::Success),
            Err(failure) if failure.code() == Some(32) => {
                // The entry itself is gone, or a target vanished since the look-up.
                let present = protocol::exists(self.ldap, self.timeout, dn)
                    .await
                    .map_err(|failure| failure.into_fault(&format!("looking up {dn}")))?;
                Ok(if present {
                    ExportOutcome::RetryReferenceAttribute
                } else {
                    ExportOutcome::ConvertUpdateToAdd
                })
            }
            Err(failure) => failure.into_export_outcome(&doing),
        }
    }
}
