//! Unpadded base64, the encoding Matrix uses for every binary value in JSON
//! (keys, signatures, hashes, hash-based identifiers).
//!
//! Encoders never emit `=` padding. Decoders are lenient where that costs
//! nothing: padding is optional, and unused bits in the last character need
//! not be zero. Python's decoder, used by much of the network, ignores those
//! bits, and the specification's own signing-key test vector has them set.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

/// The input was not valid base64 for the requested alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64: {0}")]
pub struct Base64DecodeError(String);

/// Encodes with the standard alphabet (`+`, `/`) and no padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Encodes with the URL-safe alphabet (`-`, `_`) and no padding, as used
/// for event IDs from room version 4 on and for room IDs in version 12.
pub fn encode_url_safe(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE.encode(bytes)
}

/// Decodes standard-alphabet base64, padded or not.
pub fn decode(input: impl AsRef<[u8]>) -> Result<Vec<u8>, Base64DecodeError> {
    STANDARD
        .decode(input)
        .map_err(|e| Base64DecodeError(e.to_string()))
}

/// Decodes URL-safe base64, padded or not.
pub fn decode_url_safe(input: impl AsRef<[u8]>) -> Result<Vec<u8>, Base64DecodeError> {
    URL_SAFE
        .decode(input)
        .map_err(|e| Base64DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples from the "Unpadded Base64" appendix.
    const VECTORS: &[(&str, &str)] = &[
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn appendix_vectors_encode_and_decode() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain), *encoded);
            assert_eq!(encode_url_safe(plain), *encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(decode_url_safe(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn padded_input_is_accepted() {
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_url_safe("Zm9vYmE=").unwrap(), b"fooba");
    }

    #[test]
    fn alphabets_differ_in_the_last_two_characters() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(encode(bytes), "+/+/");
        assert_eq!(encode_url_safe(bytes), "-_-_");
        assert!(decode("-_-_").is_err());
        assert!(decode_url_safe("+/+/").is_err());
        assert_eq!(decode_url_safe("-_-_").unwrap(), bytes);
    }

    #[test]
    fn unused_trailing_bits_are_ignored() {
        assert_eq!(decode("Zh").unwrap(), b"f");
        assert_eq!(decode("Zm9").unwrap(), b"fo");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["Z", "Z===", "Zm9v!", "Zm8===", "Zm9v=", "Zm 9v"] {
            assert!(decode(bad).is_err(), "{bad:?} should not decode");
        }
    }
}
