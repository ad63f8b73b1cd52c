//! The one error type of hanse-core. The HTTP layer maps each variant to
//! the spec's errcode and status in one place (hanse-http).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is understood but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A parameter has an unacceptable value.
    #[error("{0}")]
    InvalidParam(String),
    /// A required parameter is missing.
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    InvalidUsername(String),
    #[error("this user ID is already taken")]
    UserInUse,
    /// The access token is unknown, revoked or expired. `soft_logout`: the
    /// device still exists and may get a new token without losing its keys.
    #[error("unknown or expired access token")]
    UnknownToken { soft_logout: bool },
    #[error("this account has been deactivated")]
    UserDeactivated,
    #[error("the profile would be larger than 64 KiB")]
    ProfileTooLarge,
    #[error("the profile field name is longer than 255 bytes")]
    KeyTooLarge,
    #[error("guest access is not enabled on this server")]
    GuestAccessForbidden,
    /// A login type, identifier type or UIA session the server does not
    /// know.
    #[error("{0}")]
    Unknown(String),
    /// A room version this server cannot create or join.
    #[error("room version {0:?} is not supported here")]
    UnsupportedRoomVersion(String),
    /// A request or the event it would make is too large.
    #[error("{0}")]
    TooLarge(String),
    /// The thing to create exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The room alias is taken.
    #[error("{0}")]
    RoomInUse(String),
    /// An alias that is invalid or does not point where it must.
    #[error("{0}")]
    BadAlias(String),
    /// The content of a request is well-formed JSON but not what it must be.
    #[error("{0}")]
    BadJson(String),
    /// The mxc URI has content already (409 M_CANNOT_OVERWRITE_MEDIA).
    #[error("this media has been uploaded already")]
    CannotOverwriteMedia,
    /// The mxc URI was created but its content has not arrived in time
    /// (504 M_NOT_YET_UPLOADED).
    #[error("the content has not been uploaded yet")]
    NotYetUploaded,
    /// Data the server manages itself cannot be set by clients (405).
    #[error("{0}")]
    ServerManaged(String),
    /// The invitee refuses invites (the spec's invite permission module).
    #[error("{0}")]
    InviteBlocked(String),
    /// Too many requests of a kind; try again after the given time.
    #[error("too many requests: try again in {retry_after_ms} ms")]
    LimitExceeded { retry_after_ms: u64 },
    /// Keys can be written to the current backup version only (403
    /// M_WRONG_ROOM_KEYS_VERSION, naming it).
    #[error("keys can only be written to the current backup version, {current_version}")]
    WrongRoomKeysVersion { current_version: String },
    /// A signature does not verify (400 M_INVALID_SIGNATURE).
    #[error("{0}")]
    InvalidSignature(String),
    /// A server-server request without a valid signature (401
    /// M_UNAUTHORIZED).
    #[error("{0}")]
    Unauthorized(String),
    /// The room's version is not among those the joining server supports
    /// (400 M_INCOMPATIBLE_ROOM_VERSION, naming it).
    #[error("this room has version {room_version}, which the server that asked does not support")]
    IncompatibleRoomVersion { room_version: String },
    /// Another server refused or failed a request made for this one.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected failure; details go to the log only.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
