//! What stored free text may hold, for every text field, in one place.
//!
//! Control characters (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F) are refused: PostgreSQL
//! cannot store U+0000 at all, and the rest have no business in chat (ESC and the C1 controls
//! drive terminals, a lone CR overwrites a line shown in a terminal client). Multi-line text
//! (message content) keeps tab, line feed and CR LF, the line end Windows clients send.
//! Usernames and bot names have their own narrower alphabet (`accounts::normalize_username`);
//! passwords are never stored (only their hash) and may hold any character.

use crate::error::AppError;

/// Whether a field may span lines.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// A label (a room name): no control character at all.
    Single,
    /// Message content: tab, LF and CR LF allowed.
    Multi,
}

/// Refuses `text` if it holds a control character `lines` does not allow.
pub fn check_text(field: &'static str, text: &str, lines: Lines) -> Result<(), AppError> {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let allowed = !c.is_control()
            || (lines == Lines::Multi
                && (c == '\t' || c == '\n' || (c == '\r' && chars.peek() == Some(&'\n'))));
        if !allowed {
            return Err(AppError::validation(
                field,
                format!(
                    "must not contain control characters (found U+{:04X}){}",
                    u32::from(c),
                    match lines {
                        Lines::Single => "",
                        Lines::Multi => "; tab, line feed and CR LF are allowed",
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// The blank characters trimmed off names and messages before they are checked and stored:
/// Rust's whitespace and the four information separators U+001C..U+001F, which is exactly
/// what Python's (and so schemathesis') `\s` means for Unicode text.
pub fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\r'
            | '\u{1C}'..='\u{1F}'
            | ' '
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

pub fn trim_blank(s: &str) -> &str {
    s.trim_matches(is_blank)
}

// The rules above as the OpenAPI document's `pattern`s (ECMA-262 syntax, which Python's `re`
// reads alike), so that whatever matches is accepted and whatever does not is refused. The
// character classes are spelled out rather than `\s`, whose meaning differs between engines.
// A value is: blanks, then the trimmed text (it starts and ends with a character that is
// neither blank nor a control, and holds only what `check_text` allows, within the length
// limit), then blanks. OpenAPI attributes take only literals; a unit test in
// http/openapi.rs holds the document to these constants.

/// A room name: 1-100 characters after trimming, no control character inside.
pub const ROOM_NAME_PATTERN: &str = r"^[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,98}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// Message content: 1-4000 characters after trimming; inside, tab, LF and CR before LF are
/// the only control characters.
pub const CONTENT_PATTERN: &str = r"^[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:(?:[^\x00-\x08\x0B-\x1F\x7F-\x9F]|\r(?=\n)){0,3998}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// Usernames and bot names as sent (any case; stored lowercased).
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9_.-]{3,32}$";

/// An `Idempotency-Key`: 1-255 printable ASCII characters (space included).
pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[\x20-\x7E]{1,255}$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_text_keeps_tab_lf_and_crlf_only() {
        for ok in [
            "hi",
            "a\tb",
            "a\nb",
            "a\r\nb",
            "é ü 🦀",
            "\u{a0}nbsp",
            "a\u{200b}b",
        ] {
            assert!(check_text("content", ok, Lines::Multi).is_ok(), "{ok:?}");
        }
        for bad in [
            "\0", "a\0b", "a\rb", "a\r", "\x07", "\x1b[2J", "\x7f", "\u{85}", "\u{9b}", "\x0b",
            "\x0c",
        ] {
            assert!(check_text("content", bad, Lines::Multi).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn single_line_text_has_no_controls() {
        assert!(check_text("name", "lobby 1", Lines::Single).is_ok());
        for bad in ["a\tb", "a\nb", "a\r\nb", "a\0"] {
            assert!(check_text("name", bad, Lines::Single).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_field_and_the_character() {
        let e = check_text("content", "x\0", Lines::Multi).unwrap_err();
        assert_eq!(e.code(), "validation-failed");
        assert!(e.to_string().starts_with("content: "), "{e}");
        assert!(e.to_string().contains("U+0000"), "{e}");
    }

    #[test]
    fn blank_is_whitespace_and_the_information_separators() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let expected = c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c);
            assert_eq!(is_blank(c), expected, "U+{:04X}", u32::from(c));
        }
        assert_eq!(trim_blank("\u{3000} a b\u{1F}\n"), "a b");
    }
}
