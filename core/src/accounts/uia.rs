//! User-interactive authentication: the stages a client completes before
//! a sensitive request (registration, password change, deleting devices)
//! goes through.

use hanse_protocol::identifiers::UserId;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// How long a client has to finish the stages of one session.
const SESSION_LIFETIME_MS: i64 = 60 * 60 * 1000;

/// What a session authorises. A session completed for one action (or
/// user) does not authorise another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiaAction {
    Register,
    ChangePassword,
    Deactivate,
    DeleteDevices,
    /// Replacing cross-signing keys.
    SigningKeys,
}

impl UiaAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::ChangePassword => "change_password",
            Self::Deactivate => "deactivate",
            Self::DeleteDevices => "delete_devices",
            Self::SigningKeys => "signing_keys",
        }
    }
}

/// The `auth` object of a request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthData {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub session: Option<String>,
    /// The stage's own fields (`password`, `identifier`, `token`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// The 401 answer: what the client may still do.
#[derive(Debug)]
pub struct Challenge {
    pub flows: Vec<Vec<&'static str>>,
    pub session: String,
    pub completed: Vec<String>,
    /// Why the last attempted stage failed, if it did.
    pub error: Option<Error>,
}

/// A session whose stages make up a whole flow.
#[derive(Debug)]
pub struct Authorised {
    pub session: String,
    /// The registration token a registration session checked.
    pub registration_token: Option<String>,
}

#[derive(Debug)]
pub enum UiaOutcome {
    Authorised(Authorised),
    Challenge(Challenge),
}

impl Homeserver {
    /// Runs one step of user-interactive authentication for `action` by
    /// `user` (`None` before an account exists) with the given flows.
    pub async fn user_interactive_auth(
        &self,
        action: UiaAction,
        user: Option<&UserId>,
        flows: Vec<Vec<&'static str>>,
        auth: Option<AuthData>,
    ) -> Result<UiaOutcome> {
        let auth = auth.unwrap_or_default();
        let now = now_ms();
        let session = match &auth.session {
            Some(session) => session.clone(),
            None => {
                let session = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
                self.store
                    .create_uia_session(&session, action.as_str(), user.map(UserId::as_str), now)
                    .await?;
                session
            }
        };
        let row = self
            .store
            .uia_session(&session)
            .await?
            .filter(|row| {
                row.action == action.as_str()
                    && row.user_id.as_deref() == user.map(UserId::as_str)
                    && row.created_ts + SESSION_LIFETIME_MS > now
            })
            .ok_or_else(|| Error::Unknown("unknown or expired authentication session".into()))?;
        let mut completed = row.completed;
        let mut registration_token = row.registration_token;

        let mut error = None;
        if let Some(stage) = auth.kind.as_deref() {
            let expected = flows.iter().any(|flow| {
                flow.len() > completed.len()
                    && flow.iter().zip(&completed).all(|(a, b)| a == b)
                    && flow[completed.len()] == stage
            });
            let attempt = if expected {
                self.attempt_stage(stage, user, &auth.fields).await
            } else {
                Err(Error::Forbidden(format!(
                    "{stage} is not the next stage of any flow"
                )))
            };
            match attempt {
                Ok(token) => {
                    self.store
                        .complete_uia_stage(&session, stage, token.as_deref())
                        .await?;
                    completed.push(stage.to_owned());
                    registration_token = token.or(registration_token);
                }
                // Failures of the stage itself go back in the challenge;
                // the client may try again.
                Err(
                    e @ (Error::Forbidden(_) | Error::MissingParam(_) | Error::InvalidParam(_)),
                ) => {
                    error = Some(e);
                }
                Err(other) => return Err(other),
            }
        }

        if flows.iter().any(|flow| *flow == completed) {
            return Ok(UiaOutcome::Authorised(Authorised {
                session,
                registration_token,
            }));
        }
        Ok(UiaOutcome::Challenge(Challenge {
            flows,
            session,
            completed,
            error,
        }))
    }

    /// Ends a session once the action it authorised is done.
    pub async fn finish_uia(&self, authorised: &Authorised) -> Result<()> {
        self.store.delete_uia_session(&authorised.session).await?;
        Ok(())
    }

    /// Checks one stage; returns the registration token it checked, if any.
    async fn attempt_stage(
        &self,
        stage: &str,
        user: Option<&UserId>,
        fields: &Map<String, Value>,
    ) -> Result<Option<String>> {
        match stage {
            DUMMY => Ok(None),
            REGISTRATION_TOKEN => {
                let token = string_field(fields, "token")?;
                if !self
                    .store
                    .registration_token_usable(token, now_ms())
                    .await?
                {
                    return Err(Error::Forbidden("invalid registration token".into()));
                }
                Ok(Some(token.to_owned()))
            }
            PASSWORD => {
                let Some(user) = user else {
                    return Err(Error::Forbidden(
                        "password authentication needs an account".into(),
                    ));
                };
                let claimed = match fields.get("identifier") {
                    Some(identifier) => identifier_user(identifier)?,
                    None => string_field(fields, "user")?,
                };
                if &self.local_user_id(claimed)? != user {
                    return Err(Error::Forbidden(
                        "you may only authenticate as yourself".into(),
                    ));
                }
                self.check_password(user, string_field(fields, "password")?)
                    .await?;
                Ok(None)
            }
            other => Err(Error::Forbidden(format!(
                "unsupported authentication stage {other}"
            ))),
        }
    }
}

fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match fields.get(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(Error::InvalidParam(format!("`{name}` must be a string"))),
        None => Err(Error::MissingParam(format!("`{name}` is required"))),
    }
}

/// The user named by an `m.id.user` identifier; other identifier types are
/// not supported (no third-party IDs are bound here).
pub fn identifier_user(identifier: &Value) -> Result<&str> {
    let Some(identifier) = identifier.as_object() else {
        return Err(Error::InvalidParam("`identifier` must be an object".into()));
    };
    match identifier.get("type").and_then(Value::as_str) {
        Some("m.id.user") => string_field(identifier, "user"),
        Some(other) => Err(Error::Unknown(format!(
            "unsupported identifier type {other}"
        ))),
        None => Err(Error::MissingParam("`identifier.type` is required".into())),
    }
}
