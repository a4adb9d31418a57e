//! Text that is safe to print on a terminal.
//!
//! Much of what syncfold shows was written by someone else: anchors, error names and descriptions,
//! fault messages and watermarks come from a connector or a scenario file, remedies from a
//! catalog file. Printed as they are, an escape sequence in an error description can clear the
//! operator's screen or forge a coloured line, a carriage return can overwrite the start of a
//! line, a line feed can break a table row in two, and a Unicode bidirectional override can make
//! text read differently from what it is (the "Trojan Source" trick). Every text view therefore
//! passes such values through [`escape`], which shows those characters instead of obeying them.
//! JSON output needs none of this: its encoder already escapes control characters, and programs
//! read the exact values there.
//!
//! The rule, chosen to be readable and to leave ordinary text alone:
//!
//! - escaped are the C0 controls (U+0000–U+001F: ESC, BEL, CR, LF, TAB, …), DEL (U+007F), the C1
//!   controls (U+0080–U+009F), the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
//!   U+2066–U+2069) and the left-to-right and right-to-left marks (U+200E, U+200F);
//! - line feed, carriage return and tab are written `\n`, `\r` and `\t`; every other escaped
//!   character is written `\u{XX}`: its code point in lowercase hex, at least two digits
//!   (`\u{1b}`, `\u{07}`, `\u{202e}`);
//! - everything else, backslashes and non-ASCII letters included, is left as it is. Escaping the
//!   backslash too would make the rule reversible, but would double every backslash of the
//!   distinguished names directories are full of (`cn=Smith\, John`); the price is that a value
//!   that itself contains the six characters `\u{1b}` reads the same as one that contains an ESC.
//!   The JSON views (`--json`) give the exact value when that matters.
//!
//! The output never contains a character that is escaped, so escaping twice changes nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character and bidirectional control shown as a visible escape (see
/// the [module documentation](self) for the rule); borrowed unchanged when there is none, which is
/// nearly always.
///
/// ```
/// use syncfold::text::escape;
/// assert_eq!(escape("cn=Smith\\, John"), "cn=Smith\\, John");
/// assert_eq!(escape("bad\x1b[2J\r\n"), "bad\\u{1b}[2J\\r\\n");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(needs_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:02x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether [`escape`] replaces `c`: a control character (Unicode category Cc) or a bidirectional
/// control.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'              // C0 controls
            | '\u{7f}'..='\u{9f}'       // DEL and the C1 controls
            | '\u{200e}' | '\u{200f}'   // left-to-right and right-to-left marks
            | '\u{202a}'..='\u{202e}'   // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_bidi_control(c: char) -> bool {
        matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in [
            "",
            "plain ASCII, with punctuation: [a] {b} ~c~",
            "Ünïcødé",
            "日本語のテキスト",
            "cn=Smith\\, John,ou=people",
            "emoji 🚀 and an arrow →",
        ] {
            assert!(
                matches!(escape(text), Cow::Borrowed(same) if same == text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(escape("\x1b[2J"), "\\u{1b}[2J");
        assert_eq!(escape("ring\x07"), "ring\\u{07}");
        assert_eq!(escape("\0\x7f\u{85}\u{9f}"), "\\u{00}\\u{7f}\\u{85}\\u{9f}");
    }

    #[test]
    fn line_breaks_and_tabs_keep_a_cell_on_one_line() {
        assert_eq!(
            escape("one\ntwo\r\nthree\tfour"),
            "one\\ntwo\\r\\nthree\\tfour"
        );
    }

    #[test]
    fn bidirectional_controls_are_escaped() {
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(
            escape("\u{202a}\u{202b}\u{202c}\u{202d}"),
            "\\u{202a}\\u{202b}\\u{202c}\\u{202d}"
        );
        assert_eq!(
            escape("\u{2066}\u{2067}\u{2068}\u{2069}"),
            "\\u{2066}\\u{2067}\\u{2068}\\u{2069}"
        );
        assert_eq!(escape("\u{200e}\u{200f}"), "\\u{200e}\\u{200f}");
    }

    #[test]
    fn the_text_before_the_first_escape_is_kept_whole() {
        assert_eq!(escape("Ünï\x1bcødé"), "Ünï\\u{1b}cødé");
    }

    #[test]
    fn the_escaped_set_is_exactly_the_controls_and_the_bidi_controls() {
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            assert_eq!(
                needs_escape(c),
                c.is_control() || is_bidi_control(c),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    /// Strings rich in what must be escaped: any character, controls and bidi controls often.
    fn risky_text() -> impl Strategy<Value = String> {
        let risky = prop_oneof![
            3 => any::<char>(),
            2 => proptest::char::range('\u{0}', '\u{a0}'),
            1 => proptest::char::range('\u{2066}', '\u{2069}'),
            1 => proptest::char::range('\u{202a}', '\u{202e}'),
            1 => Just('\u{200e}'),
            1 => Just('\u{200f}'),
            1 => Just('\\'),
        ];
        proptest::collection::vec(risky, 0..48).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn the_output_never_holds_a_control_or_bidi_character(text in risky_text()) {
            let escaped = escape(&text);
            prop_assert!(
                !escaped.chars().any(|c| c.is_control() || is_bidi_control(c)),
                "{:?} -> {:?}", text, escaped
            );
            // Borrowed exactly when nothing needed escaping, and escaping twice changes nothing.
            prop_assert_eq!(matches!(escaped, Cow::Borrowed(_)), !text.chars().any(needs_escape));
            prop_assert_eq!(escape(&escaped), escaped.clone());
            // Character by character, as the rule states it (an independent spelling of it).
            let expected: String = text
                .chars()
                .map(|c| match c {
                    '\n' => "\\n".to_owned(),
                    '\r' => "\\r".to_owned(),
                    '\t' => "\\t".to_owned(),
                    c if c.is_control() || is_bidi_control(c) => format!("\\u{{{:02x}}}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            prop_assert_eq!(escaped.as_ref(), expected.as_str());
        }
    }
}

/// `count` with its noun in the right number: "1 run", "3 runs", "0 runs".
pub fn counted(count: usize, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}

#[cfg(test)]
mod counted_tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "run", "runs"), "1 run");
        assert_eq!(counted(0, "run", "runs"), "0 runs");
        assert_eq!(counted(3, "live object", "live objects"), "3 live objects");
    }
}

/// A description, reason or message as text shows it: itself, or "no description" when it is
/// empty or blank, so that no view prints `name ()` or `""`.
pub fn or_no_description(text: &str) -> &str {
    if text.trim().is_empty() {
        "no description"
    } else {
        text
    }
}

/// ` (TEXT)` after a name, or nothing when `text` is empty or blank: for reasons and
/// descriptions that are optional, so that no view prints `()`.
pub fn parenthesized(text: &str) -> String {
    if text.trim().is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

#[cfg(test)]
mod description_tests {
    use super::{or_no_description, parenthesized};

    #[test]
    fn an_empty_description_is_never_shown_as_empty_brackets() {
        assert_eq!(or_no_description(""), "no description");
        assert_eq!(or_no_description("  "), "no description");
        assert_eq!(or_no_description("bad cn"), "bad cn");
        assert_eq!(parenthesized(""), "");
        assert_eq!(parenthesized("ticket 4"), " (ticket 4)");
    }
}
