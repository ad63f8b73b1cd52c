//! Creating accounts.

use hanse_protocol::identifiers::UserId;
use rand::Rng;

use super::{DeviceRequest, LoggedIn};
use crate::clock::now_ms;
use crate::settings::RegistrationPolicy;
use crate::store::NewAccount;
use crate::{Error, Homeserver, Result};

/// What a new account gets.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// The wished-for localpart; one is generated when unset.
    pub username: Option<String>,
    /// `None`: the account cannot log in with a password.
    pub password: Option<String>,
    pub is_guest: bool,
    pub is_admin: bool,
    /// Log the new account in on this device, unless `None`.
    pub login: Option<(DeviceRequest, bool)>,
}

/// A created account, and its first login if one was asked for.
#[derive(Debug, Clone)]
pub struct Registered {
    pub user_id: UserId,
    pub login: Option<LoggedIn>,
}

/// Checks a wished-for localpart against the grammar and the names this
/// server keeps for itself. Expects it lowercased already.
pub fn validate_localpart(localpart: &str) -> Result<()> {
    if localpart.is_empty() {
        return Err(Error::InvalidUsername("the user name is empty".into()));
    }
    if let Some(bad) = localpart
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(*c)))
    {
        return Err(Error::InvalidUsername(format!(
            "user names may only hold a-z, 0-9 and ._=-/+ (not {bad:?})"
        )));
    }
    if localpart.starts_with('_') {
        return Err(Error::InvalidUsername(
            "user names starting with '_' are reserved".into(),
        ));
    }
    if localpart.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidUsername(
            "all-digit user names are reserved for generated ones".into(),
        ));
    }
    Ok(())
}

impl Homeserver {
    /// The UIA flows registration takes under the configured policy.
    pub fn registration_flows(&self) -> Result<Vec<Vec<&'static str>>> {
        match self.settings.registration {
            RegistrationPolicy::Closed => Err(Error::Forbidden(
                "registration is disabled on this server".into(),
            )),
            RegistrationPolicy::Token => Ok(vec![vec![super::uia::REGISTRATION_TOKEN]]),
            RegistrationPolicy::Open => Ok(vec![vec![super::uia::DUMMY]]),
        }
    }

    /// The user ID a wished-for user name gives, if it is valid and free.
    /// Names are lowercased, as user IDs are in lower case.
    pub async fn available_user_id(&self, username: &str) -> Result<UserId> {
        let localpart = username.to_lowercase();
        validate_localpart(&localpart)?;
        let user_id = UserId::new(&localpart, &self.identity.server_name)
            .map_err(|e| Error::InvalidUsername(e.to_string()))?;
        if self.store.localpart_taken(&localpart).await? {
            return Err(Error::UserInUse);
        }
        Ok(user_id)
    }

    /// Creates an account, whatever the registration policy: callers
    /// (the register endpoint, the admin CLI) have checked who may.
    pub async fn create_account(&self, registration: Registration) -> Result<Registered> {
        let user_id = match &registration.username {
            Some(username) => self.available_user_id(username).await?,
            None => self.generated_user_id().await?,
        };
        let password_hash = match &registration.password {
            Some(password) => Some(self.password_hashing.hash(password).await?),
            None => None,
        };
        let inserted = self
            .store
            .insert_account(&NewAccount {
                user_id: user_id.as_str(),
                localpart: user_id.localpart(),
                password_hash: password_hash.as_deref(),
                is_admin: registration.is_admin,
                is_guest: registration.is_guest,
                now_ms: now_ms(),
            })
            .await?;
        if !inserted {
            // Taken between the availability check and now.
            return Err(Error::UserInUse);
        }
        tracing::info!(%user_id, guest = registration.is_guest, "account created");
        let login = match registration.login {
            Some((device, with_refresh)) => {
                Some(self.log_in(user_id.clone(), device, with_refresh).await?)
            }
            None => None,
        };
        Ok(Registered { user_id, login })
    }

    /// A free user ID for a registration that named none: ten random
    /// letters and digits, starting with a letter.
    async fn generated_user_id(&self) -> Result<UserId> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let mut rng = rand::thread_rng();
            let mut localpart = String::with_capacity(10);
            localpart.push(char::from(ALPHABET[rng.gen_range(0..26)]));
            for _ in 1..10 {
                localpart.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
            }
            match self.available_user_id(&localpart).await {
                Err(Error::UserInUse) => continue,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localparts_follow_the_grammar_and_reservations() {
        for ok in ["alice", "a.b_c=d-e/f+g", "x1", "1a"] {
            assert!(validate_localpart(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "Alice", "al ice", "al:ice", "älice", "_bridge", "12345", "a@b",
        ] {
            assert!(
                matches!(validate_localpart(bad), Err(Error::InvalidUsername(_))),
                "{bad}"
            );
        }
    }
}
