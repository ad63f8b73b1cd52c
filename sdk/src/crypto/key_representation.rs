//! The text form in which a private key is shown to a user and typed back
//! (the spec's "cryptographic key representation"; clients call the one of
//! a key backup its recovery or security key).
//!
//! The 32 key bytes get a two-byte header naming the format and a parity
//! byte, and are written in base58 (no look-alike characters such as 0 and
//! O) in groups of four. The parity byte catches most typing mistakes
//! before the key is used, so a typo reads as "not a key" rather than as a
//! wrong key.

use super::backup::BackupDecryptionKey;
use super::CryptoError;

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const HEADER: [u8; 2] = [0x8B, 0x01];
const GROUP: usize = 4;
const WHAT: &str = "key text";

impl BackupDecryptionKey {
    /// The key as a user writes it down, e.g. `EsTc LW2K PGiF ...`.
    pub fn to_base58(&self) -> String {
        encode_key(&self.to_bytes())
    }

    /// Reads a key in the form [`to_base58`](Self::to_base58) gives,
    /// whitespace anywhere ignored.
    pub fn from_base58(text: &str) -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(decode_key(text)?))
    }
}

fn encode_key(key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(HEADER.len() + key.len() + 1);
    bytes.extend_from_slice(&HEADER);
    bytes.extend_from_slice(key);
    bytes.push(parity(&bytes));
    let encoded = base58_encode(&bytes);
    let groups: Vec<&str> = encoded
        .as_bytes()
        .chunks(GROUP)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    groups.join(" ")
}

fn decode_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base58_decode(&compact)
        .ok_or_else(|| CryptoError::malformed(WHAT, "a character outside base58"))?;
    let Some((&check, body)) = bytes.split_last() else {
        return Err(CryptoError::malformed(WHAT, "empty"));
    };
    if !body.starts_with(&HEADER) {
        return Err(CryptoError::malformed(WHAT, "not a key of this kind"));
    }
    if parity(body) != check {
        return Err(CryptoError::malformed(WHAT, "mistyped (the check fails)"));
    }
    body[HEADER.len()..]
        .try_into()
        .map_err(|_| CryptoError::malformed(WHAT, "the wrong length"))
}

/// The XOR of all bytes.
fn parity(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, byte| acc ^ byte)
}

/// Base58 of a big-endian number; each leading zero byte becomes a `1`.
fn base58_encode(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Little-endian base-58 digits, built by multiplying in one byte at a
    // time: quadratic, which is nothing for 35 bytes.
    let mut digits: Vec<u8> = Vec::new();
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    std::iter::repeat_n(ALPHABET[0], zeros)
        .chain(digits.iter().rev().map(|&d| ALPHABET[usize::from(d)]))
        .map(char::from)
        .collect()
}

/// The inverse of [`base58_encode`]; `None` on a character outside the
/// alphabet.
fn base58_decode(text: &str) -> Option<Vec<u8>> {
    let zeros = text.bytes().take_while(|&c| c == ALPHABET[0]).count();
    // Little-endian bytes.
    let mut bytes: Vec<u8> = Vec::new();
    for c in text.bytes().skip(zeros) {
        let mut carry = ALPHABET.iter().position(|&a| a == c)? as u32;
        for byte in &mut bytes {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    bytes.extend(std::iter::repeat_n(0, zeros));
    bytes.reverse();
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The key and its text form that matrix-js-sdk, matrix-rust-sdk and
    /// Element Android test against (the key of the libolm backup fixture
    /// in `backup.rs`).
    const KEY: [u8; 32] = [
        0x77, 0x07, 0x6D, 0x0A, 0x73, 0x18, 0xA5, 0x7D, 0x3C, 0x16, 0xC1, 0x72, 0x51, 0xB2, 0x66,
        0x45, 0xDF, 0x4C, 0x2F, 0x87, 0xEB, 0xC0, 0x99, 0x2A, 0xB1, 0x77, 0xFB, 0xA5, 0x1D, 0xB9,
        0x2C, 0x2A,
    ];
    const TEXT: &str = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";

    #[test]
    fn matches_the_text_other_clients_produce() {
        assert_eq!(encode_key(&KEY), TEXT);
        assert_eq!(decode_key(TEXT).unwrap(), KEY);
        assert_eq!(
            decode_key(" EsTcLW2KPGiFwKEA3As5g5c4\nBXwk qeeJZJV8Q9fugUMNUE4d ").unwrap(),
            KEY
        );
        let key = BackupDecryptionKey::from_base64("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=")
            .unwrap();
        assert_eq!(key.to_base58(), TEXT);
    }

    #[test]
    fn typos_and_other_texts_are_refused() {
        let last_changed = format!("{}e", &TEXT[..TEXT.len() - 1]);
        assert!(decode_key(&last_changed).is_err(), "parity");
        assert!(decode_key("SSNc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d").is_err());
        assert!(decode_key("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu").is_err());
        assert!(decode_key("0OIl").is_err());
        assert!(decode_key("").is_err());
    }

    proptest! {
        #[test]
        fn every_key_round_trips(key in any::<[u8; 32]>()) {
            prop_assert_eq!(decode_key(&encode_key(&key)).unwrap(), key);
        }

        #[test]
        fn base58_round_trips_with_leading_zeros(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(base58_decode(&base58_encode(&bytes)).unwrap(), bytes);
        }
    }
}
