//! A small strict JSON parser producing [`CanonicalJsonValue`]s.
//!
//! It is hand-written rather than built on `serde_json` so that the rules
//! that matter for signatures are decided here and reported precisely:
//! duplicate keys, number notation (an integer literal such as `-0` is fine,
//! `1.0` or `1e3` is not) and the nesting limit. Whitespace between tokens is
//! accepted; the input does not have to be canonical already.

use std::collections::btree_map::Entry;

use super::{
    CanonicalJsonError, CanonicalJsonObject, CanonicalJsonValue, MAX_DEPTH, MAX_SAFE_INTEGER,
};

/// Longest number literal quoted back in an error message.
const MAX_QUOTED_NUMBER: usize = 40;

/// Parses JSON text into a canonical value.
pub fn from_str(input: &str) -> Result<CanonicalJsonValue, CanonicalJsonError> {
    let mut parser = Parser { input, pos: 0 };
    parser.skip_whitespace();
    let value = parser.parse_value(0)?;
    parser.skip_whitespace();
    if parser.pos != input.len() {
        return Err(parser.syntax("trailing characters after the value"));
    }
    Ok(value)
}

/// Parses JSON bytes, which must be UTF-8, into a canonical value.
pub fn from_slice(input: &[u8]) -> Result<CanonicalJsonValue, CanonicalJsonError> {
    match std::str::from_utf8(input) {
        Ok(text) => from_str(text),
        Err(e) => Err(CanonicalJsonError::Syntax {
            position: e.valid_up_to(),
            reason: "input is not valid UTF-8",
        }),
    }
}

/// Parses JSON text that must be an object (an event, a request body).
pub fn object_from_str(input: &str) -> Result<CanonicalJsonObject, CanonicalJsonError> {
    from_str(input)?.into_object()
}

/// Parses JSON bytes that must be an object (an event, a request body).
pub fn object_from_slice(input: &[u8]) -> Result<CanonicalJsonObject, CanonicalJsonError> {
    from_slice(input)?.into_object()
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn syntax(&self, reason: &'static str) -> CanonicalJsonError {
        CanonicalJsonError::Syntax {
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), CanonicalJsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(reason))
        }
    }

    /// `depth` is the number of arrays/objects enclosing this value.
    fn parse_value(&mut self, depth: usize) -> Result<CanonicalJsonValue, CanonicalJsonError> {
        match self.peek() {
            Some(b'{') => self.parse_object(depth + 1).map(CanonicalJsonValue::Object),
            Some(b'[') => self.parse_array(depth + 1).map(CanonicalJsonValue::Array),
            Some(b'"') => self.parse_string().map(CanonicalJsonValue::String),
            Some(b't') => self.parse_literal("true", CanonicalJsonValue::Bool(true)),
            Some(b'f') => self.parse_literal("false", CanonicalJsonValue::Bool(false)),
            Some(b'n') => self.parse_literal("null", CanonicalJsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(_) => Err(self.syntax("expected a JSON value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn parse_literal(
        &mut self,
        word: &'static str,
        value: CanonicalJsonValue,
    ) -> Result<CanonicalJsonValue, CanonicalJsonError> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<CanonicalJsonObject, CanonicalJsonError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalJsonError::TooDeep);
        }
        self.pos += 1; // '{'
        let mut object = CanonicalJsonObject::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(object);
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string as object key"));
            }
            let key = self.parse_string()?;
            self.skip_whitespace();
            self.expect(b':', "expected ':' after object key")?;
            self.skip_whitespace();
            let value = self.parse_value(depth)?;
            match object.entry(key) {
                Entry::Occupied(entry) => {
                    return Err(CanonicalJsonError::DuplicateKey(entry.key().clone()))
                }
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(object);
                }
                _ => return Err(self.syntax("expected ',' or '}' in object")),
            }
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<Vec<CanonicalJsonValue>, CanonicalJsonError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalJsonError::TooDeep);
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.parse_value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.syntax("expected ',' or ']' in array")),
            }
        }
    }

    /// Parses `-? (0 | [1-9][0-9]*)`. A following fraction or exponent makes
    /// the number a float, which is rejected after checking it is at least
    /// well-formed JSON.
    fn parse_number(&mut self) -> Result<CanonicalJsonValue, CanonicalJsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.syntax("expected a digit")),
        }
        let digits = &self.input[digits_start..self.pos];

        if let Some(b'.' | b'e' | b'E') = self.peek() {
            self.skip_float_tail()?;
            return Err(CanonicalJsonError::Float(self.quote(start)));
        }

        // At most 16 digits can be within range; longer is out of range
        // without parsing (and without overflowing).
        let magnitude = if digits.len() <= 16 {
            digits.parse::<i64>().ok()
        } else {
            None
        };
        match magnitude {
            Some(m) if m <= MAX_SAFE_INTEGER => {
                Ok(CanonicalJsonValue::Integer(if negative { -m } else { m }))
            }
            _ => Err(CanonicalJsonError::IntegerOutOfRange(self.quote(start))),
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn skip_float_tail(&mut self) -> Result<(), CanonicalJsonError> {
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expected a digit after '.'"));
            }
            self.skip_digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expected a digit in exponent"));
            }
            self.skip_digits();
        }
        Ok(())
    }

    /// The literal text from `start` to the current position, shortened for
    /// error messages.
    fn quote(&self, start: usize) -> String {
        // Number literals are ASCII, so any byte index is a char boundary.
        let text = &self.input[start..self.pos];
        if text.len() > MAX_QUOTED_NUMBER {
            format!("{}...", &text[..MAX_QUOTED_NUMBER])
        } else {
            text.to_owned()
        }
    }

    fn parse_string(&mut self) -> Result<String, CanonicalJsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of bytes needing no attention in one go. Every
            // byte that stops the run is ASCII, so slicing stays on char
            // boundaries of the (already valid UTF-8) input.
            let rest = &self.input.as_bytes()[self.pos..];
            let run = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            out.push_str(&self.input[self.pos..self.pos + run]);
            self.pos += run;

            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.parse_escape()?);
                }
                Some(_) => return Err(self.syntax("unescaped control character in string")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    /// Decodes the escape after a backslash.
    fn parse_escape(&mut self) -> Result<char, CanonicalJsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{08}',
            Some(b'f') => '\u{0c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.parse_unicode_escape();
            }
            _ => return Err(self.syntax("invalid escape sequence")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// Decodes `XXXX` after `\u`, combining surrogate pairs. Lone surrogates
    /// cannot be represented in a Rust string and are rejected.
    fn parse_unicode_escape(&mut self) -> Result<char, CanonicalJsonError> {
        let first = self.parse_hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.input[self.pos..].starts_with("\\u") {
                    return Err(self.syntax("unpaired surrogate in \\u escape"));
                }
                self.pos += 2;
                let second = self.parse_hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.syntax("unpaired surrogate in \\u escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.syntax("unpaired surrogate in \\u escape")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.syntax("invalid \\u escape"))
    }

    fn parse_hex4(&mut self) -> Result<u32, CanonicalJsonError> {
        let hex = self
            .input
            .as_bytes()
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("truncated \\u escape"))?;
        let mut value = 0;
        for &b in hex {
            let digit = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.syntax("invalid hex digit in \\u escape"))?;
            value = value * 16 + digit;
        }
        self.pos += 4;
        Ok(value)
    }
}
