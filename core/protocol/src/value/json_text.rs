//! A small JSON reader that keeps each number's text.
//!
//! Terraform numbers can exceed `f64`, and serde_json keeps number text only
//! with its `arbitrary_precision` feature, which is workspace-wide and
//! changes how other crates (kube, k8s-openapi) see numbers. So the value
//! and type codecs read JSON through this reader instead: a strict RFC 8259
//! parser into a tree, bounded in depth, that never panics.

use super::MAX_DEPTH;

/// A parsed JSON value. Numbers keep their text; objects keep their members
/// in order, duplicates included (the codecs let the last one win).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JsonNode {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
}

impl JsonNode {
    /// What kind of JSON value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JsonNode::Null => "null",
            JsonNode::Bool(_) => "a boolean",
            JsonNode::Number(_) => "a number",
            JsonNode::String(_) => "a string",
            JsonNode::Array(_) => "an array",
            JsonNode::Object(_) => "an object",
        }
    }
}

/// Why JSON text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonSyntaxError {
    /// The text is not JSON.
    #[error("invalid JSON at byte {offset}: {message}")]
    Invalid {
        /// Where the problem was found.
        offset: usize,
        /// What was wrong.
        message: &'static str,
    },
    /// Arrays and objects nest deeper than the limit.
    #[error("JSON nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Parses one JSON value that fills all of `bytes` (surrounding whitespace
/// allowed).
pub(crate) fn parse(bytes: &[u8]) -> Result<JsonNode, JsonSyntaxError> {
    let mut reader = Reader { bytes, pos: 0 };
    reader.skip_whitespace();
    let node = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos != bytes.len() {
        return Err(reader.error("unexpected data after the value"));
    }
    Ok(node)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, message: &'static str) -> JsonSyntaxError {
        JsonSyntaxError::Invalid {
            offset: self.pos,
            message,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &[u8]) -> Result<(), JsonSyntaxError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonNode, JsonSyntaxError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'n') => self.expect_word(b"null").map(|()| JsonNode::Null),
            Some(b't') => self.expect_word(b"true").map(|()| JsonNode::Bool(true)),
            Some(b'f') => self.expect_word(b"false").map(|()| JsonNode::Bool(false)),
            Some(b'"') => self.string().map(JsonNode::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(JsonNode::Number),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    // Arrays and objects parse out of line so the recursing frame stays
    // small.
    #[inline(never)]
    fn array(&mut self, depth: usize) -> Result<JsonNode, JsonSyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(JsonSyntaxError::TooDeep);
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsonNode::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsonNode::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    #[inline(never)]
    fn object(&mut self, depth: usize) -> Result<JsonNode, JsonSyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(JsonSyntaxError::TooDeep);
        }
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsonNode::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected an object key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsonNode::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<String, JsonSyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        // Only ASCII was consumed.
        Ok(String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned())
    }

    fn hex4(&mut self) -> Result<u32, JsonSyntaxError> {
        let Some(hex) = self.bytes.get(self.pos..self.pos + 4) else {
            return Err(self.error("truncated \\u escape"));
        };
        let mut value = 0u32;
        for &b in hex {
            let digit = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value * 16 + digit;
        }
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, JsonSyntaxError> {
        // The caller saw the opening quote.
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.extend_from_slice(&self.bytes[start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(escape) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let high = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&high)
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                let saved = self.pos;
                                self.pos += 2;
                                let low = self.hex4()?;
                                if (0xDC00..0xE000).contains(&low) {
                                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                                } else {
                                    // Not a pair: the high half alone is replaced
                                    // and the next escape read on its own.
                                    self.pos = saved;
                                    0xFFFD
                                }
                            } else {
                                high
                            };
                            // Lone surrogates become U+FFFD, as Go's decoder does.
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_number_text() {
        let node = parse(br#"[1e400, -0.1, 0]"#).unwrap();
        assert_eq!(
            node,
            JsonNode::Array(vec![
                JsonNode::Number("1e400".into()),
                JsonNode::Number("-0.1".into()),
                JsonNode::Number("0".into()),
            ])
        );
    }

    #[test]
    fn reads_strings_and_objects() {
        let node = parse(br#" {"a\u00e9\ud83d\ude00\n": [true, false, null], "b": {}} "#).unwrap();
        let JsonNode::Object(members) = node else {
            panic!("not an object")
        };
        assert_eq!(members[0].0, "a\u{e9}\u{1F600}\n");
        assert_eq!(members[1].1, JsonNode::Object(vec![]));
        assert_eq!(
            parse(br#""\ud800x""#).unwrap(),
            JsonNode::String("\u{FFFD}x".into())
        );
    }

    #[test]
    fn rejects_bad_json() {
        for bad in [
            &b""[..],
            b"[1,]",
            b"{\"a\" 1}",
            b"01",
            b"1.",
            b"-",
            b"\"abc",
            b"\"\x01\"",
            b"[1] x",
            b"nul",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\xff\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(JsonSyntaxError::TooDeep));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
