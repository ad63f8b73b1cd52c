//! The server's ed25519 signing key, kept in the data directory.
//!
//! The file holds one line, `ed25519 <version> <unpadded base64 seed>`, the
//! format Synapse uses, so an operator can move a key between the two.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hanse_protocol::signing::ServerSigningKey;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("reading the signing key {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the signing key {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the signing key {path} is damaged ({reason}); restore it from a backup. Only if this \
         server never federated may you delete it to get a new one"
    )]
    Malformed { path: PathBuf, reason: String },
}

/// Loads the key at `path`, generating and saving one if there is none.
pub fn load_or_generate(path: &Path) -> Result<ServerSigningKey, SigningKeyError> {
    match fs::read_to_string(path) {
        Ok(contents) => parse(&contents).map_err(|reason| SigningKeyError::Malformed {
            path: path.to_owned(),
            reason,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = ServerSigningKey::generate();
            save(path, &key)?;
            tracing::info!(key_id = %key.key_id(), path = %path.display(), "generated a new server signing key");
            Ok(key)
        }
        Err(source) => Err(SigningKeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse(contents: &str) -> Result<ServerSigningKey, String> {
    let mut parts = contents.split_whitespace();
    let (Some(algorithm), Some(version), Some(seed), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected one line `ed25519 <version> <base64 seed>`".into());
    };
    if algorithm != "ed25519" {
        return Err(format!("unsupported algorithm {algorithm:?}"));
    }
    let seed = hanse_protocol::base64::decode(seed).map_err(|e| format!("seed: {e}"))?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| "the seed is not 32 bytes".to_owned())?;
    ServerSigningKey::from_seed(version, seed).map_err(|e| e.to_string())
}

fn format(key: &ServerSigningKey) -> String {
    format!(
        "ed25519 {} {}\n",
        key.key_id().version(),
        hanse_protocol::base64::encode(key.seed())
    )
}

/// Writes the key readable by the owner only, replacing the file
/// atomically so a crash never leaves half a key.
fn save(path: &Path, key: &ServerSigningKey) -> Result<(), SigningKeyError> {
    let failed = |source| SigningKeyError::Write {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(format(key).as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    fs::rename(&temporary, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("signing.key");
        let first = load_or_generate(&path).expect("generates");
        let second = load_or_generate(&path).expect("loads");
        assert_eq!(first.key_id(), second.key_id());
        assert_eq!(first.public_key_base64(), second.public_key_base64());
        let mode = fs::metadata(&path).expect("metadata").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_synapse_key_file_loads() {
        // The seed of the spec's test signing key (appendices).
        let key = parse("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n").expect("parses");
        assert_eq!(key.key_id().to_string(), "ed25519:1");
        assert_eq!(
            key.public_key_base64(),
            "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"
        );
    }

    #[test]
    fn damaged_files_are_refused() {
        for contents in [
            "",
            "ed25519 1",
            "rsa 1 AAAA",
            "ed25519 1 !!!!",
            "ed25519 1 AAAA",
            "ed25519 1 AAAA extra",
        ] {
            assert!(parse(contents).is_err(), "{contents:?}");
        }
    }
}
