//! Password hashing with argon2id, off the async threads: a hash costs
//! tens of milliseconds of CPU and 19 MiB of memory by design.

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::{Error, Result};

/// Longest password accepted: argon2 takes any length, but hashing
/// megabytes on request is a cheap denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Turns at password hashing, and the working memory they reuse.
///
/// Each hash needs argon2's working memory (19 MiB with the default
/// parameters). Hashes run one per turn, turns are capped (at one per CPU)
/// rather than left to the blocking pool's 512 threads, and the memory is
/// kept for the next hash: allocated and freed per hash, glibc's allocator
/// keeps such blocks in its per-thread arenas, and a server that had
/// hashed a hundred passwords held 750 MB.
#[derive(Debug)]
pub struct PasswordHashing {
    turns: Semaphore,
    memory: Mutex<Vec<Vec<Block>>>,
}

impl PasswordHashing {
    pub fn new(concurrency: usize) -> Self {
        Self {
            turns: Semaphore::new(concurrency),
            memory: Mutex::new(Vec::new()),
        }
    }

    /// Hashes `password` into a PHC string (argon2id, default parameters,
    /// random salt).
    pub async fn hash(&self, password: &str) -> Result<String> {
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::InvalidParam(format!(
                "a password must have between 1 and {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0; 64];
        let raw_salt = salt
            .as_salt()
            .decode_b64(&mut salt_bytes)
            .map_err(internal)?;
        let params = Params::default();
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = self
            .run(
                Algorithm::Argon2id,
                Version::V0x13,
                params.clone(),
                password,
                raw_salt,
                output_len,
            )
            .await?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).map_err(internal)?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the stored PHC string.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let malformed = |e: argon2::password_hash::Error| {
            Error::Internal(format!("a stored password hash is malformed: {e}"))
        };
        let parsed = PasswordHash::new(stored).map_err(malformed)?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| malformed(e.into()))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(malformed)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(Error::Internal(
                "a stored password hash lacks salt or hash".into(),
            ));
        };
        let mut salt_bytes = [0; 64];
        let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(malformed)?;
        let output = self
            .run(
                algorithm,
                version,
                params,
                password,
                raw_salt,
                expected.len(),
            )
            .await?;
        // Output compares in constant time.
        Ok(Output::new(&output).map_err(internal)? == expected)
    }

    /// Computes argon2 on a blocking thread, in pooled memory, when it is
    /// this caller's turn.
    async fn run(
        &self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &str,
        salt: &[u8],
        output_len: usize,
    ) -> Result<Vec<u8>> {
        let _turn = self.turns.acquire().await.map_err(internal)?;
        let blocks = params.block_count();
        let mut memory = self
            .pool()
            .pop()
            .filter(|memory| memory.len() == blocks)
            .unwrap_or_else(|| vec![Block::default(); blocks]);
        let (password, salt) = (password.as_bytes().to_vec(), salt.to_vec());
        let (output, memory) = tokio::task::spawn_blocking(move || {
            let mut output = vec![0; output_len];
            let hashed = Argon2::new(algorithm, version, params)
                .hash_password_into_with_memory(&password, &salt, &mut output, &mut memory)
                .map(|()| output)
                .map_err(internal);
            (hashed, memory)
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?;
        // Only memory of the default size is worth keeping: hashes with
        // other parameters are old ones, verified once at login.
        if memory.len() == Params::default().block_count() {
            self.pool().push(memory);
        }
        output
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        crate::lock(&self.memory)
    }
}

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("password hashing: {error}"))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_and_verify_both_ways() {
        let hashing = PasswordHashing::new(1);
        let ours = hashing.hash("hunter2").await.expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // The argon2 crate's own verifier accepts ours, and we accept its.
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default()
            .verify_password(b"hunter2", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"hunter2", &salt)
            .expect("hash")
            .to_string();
        assert!(hashing.verify("hunter2", &theirs).await.expect("verify"));
        assert!(!hashing.verify("hunter3", &theirs).await.expect("verify"));
        assert!(!hashing.verify("hunter3", &ours).await.expect("verify"));
        assert_eq!(hashing.pool().len(), 1, "the working memory is kept");
    }
}
