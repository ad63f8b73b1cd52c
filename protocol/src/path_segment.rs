//! Identifiers inside request paths.
//!
//! Room aliases start with `#`, which would end a URL's path, and
//! identifiers may hold other characters a path gives meaning to (`/`,
//! `?`, `%`), so every identifier is percent-encoded before it is put in a
//! path. The sigils and separators Matrix IDs are made of (`!`, `$`, `@`,
//! `:`) mean nothing special inside a path segment and stay readable.

/// `segment` percent-encoded for use as one path segment.
pub fn encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$@:".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn ids_stay_readable_and_the_rest_is_escaped() {
        assert_eq!(encode("!room:example.org"), "!room:example.org");
        assert_eq!(encode("@alice:127.0.0.1:8008"), "@alice:127.0.0.1:8008");
        assert_eq!(encode("#lobby:example.org"), "%23lobby:example.org");
        assert_eq!(encode("a/b?c%d e"), "a%2Fb%3Fc%25d%20e");
        assert_eq!(encode("ü"), "%C3%BC");
    }
}
