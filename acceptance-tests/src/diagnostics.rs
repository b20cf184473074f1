//! Turning Terraform's human-oriented output into text a regular expression can match.
//!
//! Terraform draws diagnostics in a box (`╷`, `│ `, `╵`), may colour them with ANSI escapes and
//! wraps long messages at the terminal width (78 columns when not attached to a terminal), so a
//! message written on one line by the provider can arrive split over several lines.

/// Removes ANSI escape sequences (CSI such as `ESC[1m`, OSC, and two-byte escapes).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, then one final byte in '@'..='~'.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: until BEL or ESC '\'.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Other two-byte escapes (or a lone ESC at the end) are dropped.
            _ => {}
        }
    }
    out
}

/// Removes ANSI escapes and the diagnostic box drawing: lines made only of `╷` or `╵` disappear
/// and a leading `│` (plus one following space) is removed from every line.
pub fn strip_diagnostic_decoration(text: &str) -> String {
    let plain = strip_ansi(text);
    let mut out = String::with_capacity(plain.len());
    for line in plain.lines() {
        let trimmed = line.trim();
        if trimmed == "╷" || trimmed == "╵" {
            continue;
        }
        let body = match line.trim_start().strip_prefix('│') {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
            None => line,
        };
        out.push_str(body.trim_end());
        out.push('\n');
    }
    out
}

/// Collapses every run of whitespace (including line breaks) into one space and trims the ends,
/// so a message that Terraform wrapped over several lines reads as one line again.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
