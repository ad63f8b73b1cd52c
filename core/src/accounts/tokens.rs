//! Access and refresh tokens: issuing, checking, refreshing, revoking.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::stored_user_id;
use crate::clock::now_ms;
use crate::store::NewTokens;
use crate::{Error, Homeserver, Result};
use hanse_protocol::identifiers::UserId;

/// Who made a request, as its access token says.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: UserId,
    pub device_id: String,
    pub is_guest: bool,
    pub is_admin: bool,
}

/// Tokens handed to a client after login, registration or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Lifetime of the access token; `None` when it does not expire.
    pub expires_in_ms: Option<i64>,
}

/// A new random token: 32 bytes from the OS, URL-safe, with a prefix
/// telling what it is (handy in logs and secret scanners).
fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hanse_protocol::base64::encode_url_safe(bytes))
}

/// What is stored of a token.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Homeserver {
    /// Issues an access token for the device, with a refresh token when the
    /// client accepts them (and then an expiring access token).
    pub(crate) async fn issue_tokens(
        &self,
        user_id: &UserId,
        device_id: &str,
        with_refresh: bool,
    ) -> Result<IssuedTokens> {
        let now = now_ms();
        let access_token = new_token("hat_");
        let refresh_token = with_refresh.then(|| new_token("hrt_"));
        let lifetime = with_refresh.then(|| self.settings.refreshable_token_lifetime_ms());
        let refresh_hash = refresh_token.as_deref().map(token_hash);
        self.store
            .insert_tokens(&NewTokens {
                user_id: user_id.as_str(),
                device_id,
                access_hash: &token_hash(&access_token),
                access_expires_ts: lifetime.map(|l| now.saturating_add(l)),
                refresh_hash: refresh_hash.as_deref(),
                now_ms: now,
            })
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in_ms: lifetime,
        })
    }

    /// The session an access token stands for.
    pub async fn authenticate(&self, access_token: &str, ip: Option<&str>) -> Result<Session> {
        let hash = token_hash(access_token);
        let owner = self
            .store
            .token_owner(&hash)
            .await?
            .ok_or(Error::UnknownToken { soft_logout: false })?;
        if owner.deactivated {
            return Err(Error::UserDeactivated);
        }
        let now = now_ms();
        if owner.expires_ts.is_some_and(|expires| expires <= now) {
            return Err(Error::UnknownToken { soft_logout: true });
        }
        if !owner.used {
            self.store
                .mark_token_used(&hash, owner.refresh_token_id)
                .await?;
            self.store
                .touch_device(&owner.user_id, &owner.device_id, ip, now)
                .await?;
        }
        let user_id = stored_user_id(&owner.user_id)?;
        Ok(Session {
            user_id,
            device_id: owner.device_id,
            is_guest: owner.is_guest,
            is_admin: owner.is_admin,
        })
    }

    /// A new access and refresh token for a refresh token (POST /refresh).
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let old = self
            .store
            .refresh_token(&token_hash(refresh_token))
            .await?
            .ok_or(Error::UnknownToken { soft_logout: false })?;
        let user_id = stored_user_id(&old.user_id)?;
        let account = self.store.account(&old.user_id).await?;
        if account.is_none_or(|account| account.deactivated_ts.is_some()) {
            return Err(Error::UserDeactivated);
        }
        let now = now_ms();
        let access_token = new_token("hat_");
        let new_refresh = new_token("hrt_");
        let lifetime = self.settings.refreshable_token_lifetime_ms();
        self.store
            .spend_refresh_token(
                old.id,
                &NewTokens {
                    user_id: user_id.as_str(),
                    device_id: &old.device_id,
                    access_hash: &token_hash(&access_token),
                    access_expires_ts: Some(now.saturating_add(lifetime)),
                    refresh_hash: Some(&token_hash(&new_refresh)),
                    now_ms: now,
                },
            )
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token: Some(new_refresh),
            expires_in_ms: Some(lifetime),
        })
    }

    /// Logs the session's device out: the device and its tokens go.
    pub async fn logout(&self, session: &Session) -> Result<()> {
        self.delete_devices(&session.user_id, std::slice::from_ref(&session.device_id))
            .await
    }

    /// Logs every device of the user out.
    pub async fn logout_all(&self, user_id: &UserId) -> Result<()> {
        self.delete_other_devices(user_id, None).await
    }
}
