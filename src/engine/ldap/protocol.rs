//! The few LDAP operations the connector needs, over `ldap3`, with answers decoded here.
//!
//! Entries and the paged-results response are decoded by this module rather than by `ldap3`'s
//! `SearchEntry::construct` and `PagedResults::parse`, which panic on a malformed answer: a
//! server's bytes are input, and a bad answer is a [`Failure::Protocol`] naming what was wrong.
//! Attribute values stay bytes here; the import decides what a value that is not text means.

use super::fault::Failure;
use ldap3::asn1::{parse_tag, StructureTag, PL};
use ldap3::controls::{PagedResults, RawControl};
use ldap3::{Ldap, LdapResult, ResultEntry, Scope, SearchOptions};
use std::time::Duration;

/// The paged-results control (RFC 2696).
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// Entries one search answer may hold beyond the page size asked for before the answer is
/// refused: a server that ignores the page size must not fill memory.
const ENTRIES_PER_ANSWER_MAX: usize = 20_000;

/// One entry as the server returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The DN, as the server spelled it.
    pub dn: String,
    /// Attribute descriptions and their values, in the server's order.
    pub attributes: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    /// The first value of `name` as text, if it has one that is text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(attribute, _)| attribute.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first())
            .and_then(|value| std::str::from_utf8(value).ok())
    }
}

/// One page of a paged search: its entries and the cookie for the next (empty: the last page).
#[derive(Debug, Default)]
pub struct EntriesPage {
    /// The entries of this page.
    pub entries: Vec<Entry>,
    /// The server's cookie; empty when the search is complete.
    pub cookie: Vec<u8>,
}

fn primitive(tag: StructureTag, what: &str) -> Result<Vec<u8>, Failure> {
    tag.expect_primitive()
        .ok_or_else(|| Failure::Protocol(format!("{what} is not a primitive value")))
}

fn constructed(tag: StructureTag, what: &str) -> Result<Vec<StructureTag>, Failure> {
    tag.expect_constructed()
        .ok_or_else(|| Failure::Protocol(format!("{what} is not a constructed value")))
}

/// Decodes a search result entry (RFC 4511 §4.5.2); `None` for a referral or an intermediate
/// response, which the connector does not follow.
pub fn decode_entry(item: ResultEntry) -> Result<Option<Entry>, Failure> {
    if item.is_ref() || item.is_intermediate() {
        return Ok(None);
    }
    let mut parts = constructed(item.0, "a search result entry")?.into_iter();
    let dn = parts
        .next()
        .ok_or_else(|| Failure::Protocol("a search result entry without a DN".into()))?;
    let dn = String::from_utf8(primitive(dn, "an entry's DN")?)
        .map_err(|_| Failure::Protocol("an entry's DN is not UTF-8".into()))?;
    let list = parts.next().ok_or_else(|| {
        Failure::Protocol(format!("the entry {dn} comes without its attribute list"))
    })?;
    let mut attributes = Vec::new();
    for attribute in constructed(list, "an entry's attribute list")? {
        let mut pair = constructed(attribute, "an attribute")?.into_iter();
        let (Some(name), Some(values)) = (pair.next(), pair.next()) else {
            return Err(Failure::Protocol(format!(
                "the entry {dn} has an attribute without its type or values"
            )));
        };
        let name = String::from_utf8(primitive(name, "an attribute type")?).map_err(|_| {
            Failure::Protocol(format!(
                "the entry {dn} has an attribute type that is not UTF-8"
            ))
        })?;
        let values = constructed(values, "an attribute's values")?
            .into_iter()
            .map(|value| primitive(value, "an attribute value"))
            .collect::<Result<Vec<_>, _>>()?;
        attributes.push((name, values));
    }
    Ok(Some(Entry { dn, attributes }))
}

/// The cookie of a paged-results response control, or empty when the server sent none.
fn paged_cookie(result: &LdapResult) -> Result<Vec<u8>, Failure> {
    let Some(control) = result
        .ctrls
        .iter()
        .find(|control| control.1.ctype == PAGED_RESULTS_OID)
    else {
        return Ok(Vec::new());
    };
    let bytes = control.1.val.as_deref().unwrap_or_default();
    let bad = || Failure::Protocol("the paged-results response control does not decode".into());
    let (_, tag) = parse_tag(bytes).map_err(|_| bad())?;
    let mut parts = tag.expect_constructed().ok_or_else(bad)?.into_iter();
    let _size = parts.next().ok_or_else(bad)?;
    let cookie = parts.next().ok_or_else(bad)?;
    match cookie.payload {
        PL::P(bytes) => Ok(bytes),
        PL::C(_) => Err(bad()),
    }
}

/// Reads the whole answer of a search already started, decoding its entries; fails on a result
/// other than success (or, when `size_limited` is allowed, sizeLimitExceeded).
async fn collect<'a>(
    mut stream: ldap3::SearchStream<'a, String, Vec<String>>,
    allow_size_limit: bool,
) -> Result<(Vec<Entry>, LdapResult), Failure> {
    let mut entries = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(item)) => {
                if let Some(entry) = decode_entry(item)? {
                    if entries.len() >= ENTRIES_PER_ANSWER_MAX {
                        let _ = stream.finish().await;
                        return Err(Failure::Protocol(format!(
                            "the server sent more than {ENTRIES_PER_ANSWER_MAX} entries in one answer, ignoring the page size"
                        )));
                    }
                    entries.push(entry);
                }
            }
            Ok(None) => break,
            Err(error) => return Err(Failure::of_error(error)),
        }
    }
    let result = stream.finish().await;
    match result.rc {
        0 => Ok((entries, result)),
        4 if allow_size_limit => Ok((entries, result)),
        _ => Err(Failure::of_result(&result)),
    }
}

/// One page of a paged search of `base` (scope `sub` or `one`): at most `size` entries, and the
/// cookie that continues it.
#[allow(clippy::too_many_arguments)]
pub async fn search_page(
    ldap: &mut Ldap,
    timeout: Duration,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[String],
    size: u32,
    cookie: Vec<u8>,
) -> Result<EntriesPage, Failure> {
    let control = RawControl::from(PagedResults {
        size: i32::try_from(size).unwrap_or(i32::MAX),
        cookie,
    });
    let stream = ldap
        .with_timeout(timeout)
        .with_controls(control)
        .streaming_search(base, scope, filter, attributes.to_vec())
        .await
        .map_err(Failure::of_error)?;
    let (entries, result) = collect(stream, false).await?;
    let cookie = paged_cookie(&result)?;
    Ok(EntriesPage { entries, cookie })
}

/// Every entry a paged search of `base` finds, handed to `each` page by page (so a large answer
/// is never held whole).
#[allow(clippy::too_many_arguments)]
pub async fn search_all(
    ldap: &mut Ldap,
    timeout: Duration,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[String],
    size: u32,
    mut each: impl FnMut(Entry),
) -> Result<(), Failure> {
    let mut cookie = Vec::new();
    loop {
        let page =
            search_page(ldap, timeout, base, scope, filter, attributes, size, cookie).await?;
        page.entries.into_iter().for_each(&mut each);
        if page.cookie.is_empty() {
            return Ok(());
        }
        cookie = page.cookie;
    }
}

/// The entry `dn` if it exists and matches `filter`; `None` when it does not exist or does not
/// match.
pub async fn read_entry(
    ldap: &mut Ldap,
    timeout: Duration,
    dn: &str,
    filter: &str,
    attributes: &[String],
) -> Result<Option<Entry>, Failure> {
    let stream = ldap
        .with_timeout(timeout)
        .streaming_search(dn, Scope::Base, filter, attributes.to_vec())
        .await
        .map_err(Failure::of_error)?;
    match collect(stream, false).await {
        Ok((entries, _)) => Ok(entries.into_iter().next()),
        Err(failure) if failure.code() == Some(32) => Ok(None),
        Err(failure) => Err(failure),
    }
}

/// Whether the entry `dn` exists.
pub async fn exists(ldap: &mut Ldap, timeout: Duration, dn: &str) -> Result<bool, Failure> {
    let none = vec!["1.1".to_owned()];
    Ok(read_entry(ldap, timeout, dn, "(objectClass=*)", &none)
        .await?
        .is_some())
}

/// Whether at least one entry under `base` (one level) matches `filter`: a search that stops at
/// the first entry.
pub async fn any_one_level(
    ldap: &mut Ldap,
    timeout: Duration,
    base: &str,
    filter: &str,
) -> Result<bool, Failure> {
    let none = vec!["1.1".to_owned()];
    let stream = ldap
        .with_timeout(timeout)
        .with_search_options(SearchOptions::new().sizelimit(1))
        .streaming_search(base, Scope::OneLevel, filter, none)
        .await
        .map_err(Failure::of_error)?;
    let (entries, _) = collect(stream, true).await?;
    Ok(!entries.is_empty())
}

/// Escapes a value for use inside an LDAP filter (RFC 4515).
pub fn filter_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// A DN in a form for comparing: attribute types and values lower-cased, spaces around `=` and
/// `,` removed. Not full RFC 4514 normalization (escaped commas and multi-valued RDNs compare
/// as written), which is enough to tell whether an entry lies under a base DN.
pub fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    for c in dn.trim().chars() {
        if escaped {
            out.push(c.to_ascii_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            ',' | '=' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
            }
            ' ' if out.ends_with(',') || out.ends_with('=') => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Whether `dn` is `base` or lies under it.
pub fn is_within(dn: &str, base: &str) -> bool {
    let (dn, base) = (dn_key(dn), dn_key(base));
    dn == base || dn.ends_with(&format!(",{base}"))
}

/// The parent of `dn`: everything after its first unescaped comma (`None` for a one-RDN DN).
pub fn parent_dn(dn: &str) -> Option<&str> {
    let bytes = dn.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b',' => return Some(dn[at + 1..].trim_start()),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_and_spacing() {
        assert!(is_within(
            "uid=Ada, ou=People,dc=example,dc=org",
            "ou=people,dc=example,dc=org"
        ));
        assert!(is_within(
            "ou=people,dc=example,dc=org",
            "OU=People, DC=example,DC=org"
        ));
        assert!(!is_within(
            "ou=peoplex,dc=example,dc=org",
            "ou=people,dc=example,dc=org"
        ));
        assert!(!is_within(
            "uid=a,ou=groups,dc=example,dc=org",
            "ou=people,dc=example,dc=org"
        ));
    }

    #[test]
    fn the_parent_skips_escaped_commas() {
        assert_eq!(
            parent_dn("cn=Lovelace\\, Ada,ou=people,dc=org"),
            Some("ou=people,dc=org")
        );
        assert_eq!(parent_dn("dc=org"), None);
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(filter_escape("a*(b)\\"), "a\\2a\\28b\\29\\5c");
    }
}
