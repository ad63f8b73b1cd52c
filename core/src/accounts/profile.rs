//! Profiles of local users: displayname, avatar_url and custom fields.

use hanse_protocol::identifiers::UserId;
use serde_json::{Map, Value};

use crate::{Error, Homeserver, Result};

pub const DISPLAYNAME: &str = "displayname";
pub const AVATAR_URL: &str = "avatar_url";

/// The largest a whole profile may be, serialised: the spec's limit.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;
/// The longest field name the spec allows.
const MAX_FIELD_NAME_BYTES: usize = 255;

impl Homeserver {
    /// Every field of a local user's profile.
    pub async fn profile(&self, user_id: &UserId) -> Result<Map<String, Value>> {
        self.require_local_account(user_id).await?;
        Ok(self.store.profile_fields(user_id.as_str()).await?)
    }

    /// Sets one field of the user's own profile.
    pub async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Value,
    ) -> Result<()> {
        if field.len() > MAX_FIELD_NAME_BYTES {
            return Err(Error::KeyTooLarge);
        }
        if !valid_field_name(field) {
            return Err(Error::InvalidParam(format!(
                "{field:?} is not a profile field name: use displayname, avatar_url, m.tz or a \
                 namespaced name such as com.example.field"
            )));
        }
        match field {
            DISPLAYNAME | AVATAR_URL if !value.is_string() => {
                return Err(Error::InvalidParam(format!("`{field}` must be a string")));
            }
            AVATAR_URL if !value.as_str().is_some_and(|url| url.starts_with("mxc://")) => {
                return Err(Error::InvalidParam(
                    "`avatar_url` must be an mxc:// URI".into(),
                ));
            }
            _ => {}
        }
        let mut profile = self.store.profile_fields(user_id.as_str()).await?;
        profile.insert(field.to_owned(), value.clone());
        if serde_json::to_vec(&profile).map_or(usize::MAX, |bytes| bytes.len()) > MAX_PROFILE_BYTES
        {
            return Err(Error::ProfileTooLarge);
        }
        self.store
            .set_profile_field(user_id.as_str(), field, &value)
            .await?;
        if matches!(field, DISPLAYNAME | AVATAR_URL) {
            self.propagate_profile(user_id).await;
        }
        Ok(())
    }

    pub async fn delete_profile_field(&self, user_id: &UserId, field: &str) -> Result<()> {
        if !valid_field_name(field) {
            return Err(Error::InvalidParam(format!(
                "{field:?} is not a profile field name"
            )));
        }
        self.store
            .delete_profile_field(user_id.as_str(), field)
            .await?;
        if matches!(field, DISPLAYNAME | AVATAR_URL) {
            self.propagate_profile(user_id).await;
        }
        Ok(())
    }

    /// Fails with M_NOT_FOUND unless `user_id` is an active local account.
    pub(crate) async fn require_local_account(&self, user_id: &UserId) -> Result<()> {
        let account = if user_id.server_name() == &self.identity.server_name {
            self.store.account(user_id.as_str()).await?
        } else {
            None
        };
        match account {
            Some(account) if account.deactivated_ts.is_none() => Ok(()),
            _ => Err(Error::NotFound(format!("unknown user {user_id}"))),
        }
    }
}

/// The spec's field names: the three it defines, or a namespaced name of
/// lowercase dot-separated parts (`com.example.pronouns`, the endpoint's
/// pattern). Other `m.` names are reserved for future versions of the spec.
fn valid_field_name(field: &str) -> bool {
    if matches!(field, DISPLAYNAME | AVATAR_URL | "m.tz") {
        return true;
    }
    if field.starts_with("m.") {
        return false;
    }
    let mut parts = field.split('.');
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_lowercase())
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let first_ok = parts.next().is_some_and(part_ok);
    let rest: Vec<&str> = parts.collect();
    first_ok && !rest.is_empty() && rest.into_iter().all(part_ok)
}

#[cfg(test)]
mod tests {
    use super::valid_field_name;

    #[test]
    fn field_names_follow_the_spec() {
        for ok in [
            "displayname",
            "avatar_url",
            "m.tz",
            "com.example.pronouns",
            "a.b",
            "org.x_1.y",
        ] {
            assert!(valid_field_name(ok), "{ok}");
        }
        for bad in [
            "",
            "name",
            "Com.example",
            "com..x",
            "com.example.",
            ".com",
            "com.1x",
            "m.tz2x",
            "com.ex-ample",
        ] {
            assert!(!valid_field_name(bad), "{bad}");
        }
    }
}
