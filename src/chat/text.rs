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
                    c as u32,
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
}
