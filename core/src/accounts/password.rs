//! Password hashing with argon2id, off the async threads: a hash costs
//! tens of milliseconds of CPU by design.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use tokio::sync::Semaphore;

use crate::{Error, Result};

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("password hashing: {error}"))
}

/// Longest password accepted: argon2 takes any length, but hashing
/// megabytes on request is a cheap denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes `password`, one of `limit`'s permits at a time: each hash holds
/// argon2's 19 MiB working memory, so concurrency is capped (by the
/// caller's semaphore, sized to the CPUs) rather than left to the blocking
/// thread pool's 512 threads.
pub async fn hash(limit: &Semaphore, password: &str) -> Result<String> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::InvalidParam(format!(
            "a password must have between 1 and {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let password = password.to_owned();
    let _permit = limit.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?
}

/// Whether `password` matches the stored PHC string.
pub async fn verify(limit: &Semaphore, password: &str, stored: &str) -> Result<bool> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let (password, stored) = (password.to_owned(), stored.to_owned());
    let _permit = limit.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(format!("a stored password hash is malformed: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::Internal(format!("password verification task: {e}")))?
}
