//! Registration tokens: what lets people register when registration is
//! by token (authentication type `m.login.registration_token`).

use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// Whether a registration token would be accepted now.
    pub async fn registration_token_valid(&self, token: &str) -> Result<bool> {
        Ok(self
            .store
            .registration_token_usable(token, now_ms())
            .await?)
    }

    /// Uses up one registration of the token a UIA session checked: fails
    /// if it ran out or expired since.
    pub async fn consume_registration_token(&self, token: Option<&str>) -> Result<()> {
        let Some(token) = token else {
            return Err(Error::Forbidden("a registration token is required".into()));
        };
        if !self
            .store
            .consume_registration_token(token, now_ms())
            .await?
        {
            return Err(Error::Forbidden(
                "the registration token is no longer valid".into(),
            ));
        }
        Ok(())
    }

    /// Creates a registration token (admin CLI). `None` generates one.
    pub async fn create_registration_token(
        &self,
        token: Option<String>,
        uses_allowed: Option<i32>,
        expiry_ts: Option<i64>,
    ) -> Result<String> {
        let token = token.unwrap_or_else(|| {
            use rand::distributions::{Alphanumeric, DistString};
            Alphanumeric.sample_string(&mut rand::rngs::OsRng, 16)
        });
        let valid = !token.is_empty()
            && token.len() <= 64
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b));
        if !valid {
            return Err(Error::InvalidParam(
                "registration tokens have 1 to 64 characters of A-Za-z0-9._~-".into(),
            ));
        }
        if !self
            .store
            .create_registration_token(&token, uses_allowed, expiry_ts, now_ms())
            .await?
        {
            return Err(Error::InvalidParam(format!("token {token} exists already")));
        }
        Ok(token)
    }
}
