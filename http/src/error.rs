//! The one error a Matrix HTTP endpoint returns: an errcode, a message for
//! humans and the HTTP status the spec gives it, rendered as
//! `{"errcode": ..., "error": ...}`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value};

/// The spec's error codes that hanse sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadAlias,
    BadJson,
    CannotOverwriteMedia,
    Forbidden,
    GuestAccessForbidden,
    IncompatibleRoomVersion,
    InvalidParam,
    InvalidSignature,
    InvalidUsername,
    InviteBlocked,
    KeyTooLarge,
    LimitExceeded,
    MissingParam,
    MissingToken,
    NotFound,
    NotJson,
    NotYetUploaded,
    ProfileTooLarge,
    RoomInUse,
    TooLarge,
    Unauthorized,
    Unknown,
    UnknownToken,
    Unrecognized,
    UnsupportedRoomVersion,
    UserDeactivated,
    UserInUse,
    WrongRoomKeysVersion,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadAlias => "M_BAD_ALIAS",
            Self::BadJson => "M_BAD_JSON",
            Self::CannotOverwriteMedia => "M_CANNOT_OVERWRITE_MEDIA",
            Self::Forbidden => "M_FORBIDDEN",
            Self::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
            Self::IncompatibleRoomVersion => "M_INCOMPATIBLE_ROOM_VERSION",
            Self::InvalidParam => "M_INVALID_PARAM",
            Self::InvalidSignature => "M_INVALID_SIGNATURE",
            Self::InvalidUsername => "M_INVALID_USERNAME",
            Self::InviteBlocked => "M_INVITE_BLOCKED",
            Self::KeyTooLarge => "M_KEY_TOO_LARGE",
            Self::LimitExceeded => "M_LIMIT_EXCEEDED",
            Self::MissingParam => "M_MISSING_PARAM",
            Self::MissingToken => "M_MISSING_TOKEN",
            Self::NotFound => "M_NOT_FOUND",
            Self::NotJson => "M_NOT_JSON",
            Self::NotYetUploaded => "M_NOT_YET_UPLOADED",
            Self::ProfileTooLarge => "M_PROFILE_TOO_LARGE",
            Self::RoomInUse => "M_ROOM_IN_USE",
            Self::TooLarge => "M_TOO_LARGE",
            Self::Unauthorized => "M_UNAUTHORIZED",
            Self::Unknown => "M_UNKNOWN",
            Self::UnknownToken => "M_UNKNOWN_TOKEN",
            Self::Unrecognized => "M_UNRECOGNIZED",
            Self::UnsupportedRoomVersion => "M_UNSUPPORTED_ROOM_VERSION",
            Self::UserDeactivated => "M_USER_DEACTIVATED",
            Self::UserInUse => "M_USER_IN_USE",
            Self::WrongRoomKeysVersion => "M_WRONG_ROOM_KEYS_VERSION",
        }
    }
}

/// An error response of a Matrix API.
#[derive(Debug, Clone)]
pub struct MatrixError {
    pub status: StatusCode,
    pub errcode: ErrorCode,
    pub error: String,
    /// Further top-level fields some errors carry (e.g. `retry_after_ms`).
    pub extra: Map<String, Value>,
}

impl MatrixError {
    pub fn new(status: StatusCode, errcode: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            error: error.into(),
            extra: Map::new(),
        }
    }

    /// 404: no endpoint at this path.
    pub fn unrecognized_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::Unrecognized,
            "Unrecognized request",
        )
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unrecognized,
            "Method not allowed for this endpoint",
        )
    }

    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("Request body is larger than the {limit} bytes this server accepts"),
        )
    }

    pub fn not_json(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::NotJson,
            format!("Content not JSON: {detail}"),
        )
    }

    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadJson, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, detail)
    }

    /// 500: something failed on our side. The detail goes to the log, not
    /// to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            "Internal server error",
        )
    }

    /// The JSON body of the response.
    pub fn body(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("errcode".into(), self.errcode.as_str().into());
        body.insert("error".into(), self.error.clone().into());
        Value::Object(body)
    }
}

impl From<hanse_core::Error> for MatrixError {
    /// The one place core errors become errcodes and statuses.
    fn from(error: hanse_core::Error) -> Self {
        use hanse_core::Error as E;
        let message = error.to_string();
        let (status, errcode) = match &error {
            E::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            E::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            E::InvalidParam(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidParam),
            E::MissingParam(_) => (StatusCode::BAD_REQUEST, ErrorCode::MissingParam),
            E::InvalidUsername(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidUsername),
            E::UserInUse => (StatusCode::BAD_REQUEST, ErrorCode::UserInUse),
            E::ProfileTooLarge => (StatusCode::BAD_REQUEST, ErrorCode::ProfileTooLarge),
            E::KeyTooLarge => (StatusCode::BAD_REQUEST, ErrorCode::KeyTooLarge),
            E::UnknownToken { .. } => (StatusCode::UNAUTHORIZED, ErrorCode::UnknownToken),
            E::UserDeactivated => (StatusCode::FORBIDDEN, ErrorCode::UserDeactivated),
            E::GuestAccessForbidden => (StatusCode::FORBIDDEN, ErrorCode::GuestAccessForbidden),
            E::Unknown(_) => (StatusCode::BAD_REQUEST, ErrorCode::Unknown),
            E::UnsupportedRoomVersion(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::UnsupportedRoomVersion)
            }
            E::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            E::RoomInUse(_) => (StatusCode::BAD_REQUEST, ErrorCode::RoomInUse),
            E::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Unknown),
            E::BadJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadJson),
            E::BadAlias(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadAlias),
            E::CannotOverwriteMedia => (StatusCode::CONFLICT, ErrorCode::CannotOverwriteMedia),
            E::NotYetUploaded => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::NotYetUploaded),
            E::ServerManaged(_) => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::BadJson),
            E::InviteBlocked(_) => (StatusCode::FORBIDDEN, ErrorCode::InviteBlocked),
            E::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::LimitExceeded),
            E::WrongRoomKeysVersion { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::WrongRoomKeysVersion)
            }
            E::InvalidSignature(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidSignature),
            E::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            E::IncompatibleRoomVersion { .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::IncompatibleRoomVersion)
            }
            E::Remote(remote) => return Self::from_remote(remote),
            E::Store(_) | E::Internal(_) => {
                tracing::error!(%error, "request failed");
                return Self::internal();
            }
        };
        let mut matrix = Self::new(status, errcode, message);
        match error {
            E::UnknownToken { soft_logout } => {
                matrix
                    .extra
                    .insert("soft_logout".into(), soft_logout.into());
            }
            E::LimitExceeded { retry_after_ms } => {
                matrix
                    .extra
                    .insert("retry_after_ms".into(), retry_after_ms.into());
            }
            E::WrongRoomKeysVersion { current_version } => {
                matrix
                    .extra
                    .insert("current_version".into(), current_version.into());
            }
            E::IncompatibleRoomVersion { room_version } => {
                matrix
                    .extra
                    .insert("room_version".into(), room_version.into());
            }
            _ => {}
        }
        matrix
    }
}

impl MatrixError {
    /// What a client hears of another server's failure: the remote's own
    /// refusal when it means something to the client (forbidden, not
    /// found, an unsupported room version), otherwise 502 naming the
    /// server, so nothing of a remote's internals leaks through.
    fn from_remote(error: &hanse_core::remote::RemoteError) -> Self {
        use hanse_core::remote::RemoteError as R;
        let relayed = match error {
            R::Matrix { errcode, .. } => match errcode.as_str() {
                "M_FORBIDDEN" => Some((StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
                "M_NOT_FOUND" => Some((StatusCode::NOT_FOUND, ErrorCode::NotFound)),
                "M_INVITE_BLOCKED" => Some((StatusCode::FORBIDDEN, ErrorCode::InviteBlocked)),
                "M_UNSUPPORTED_ROOM_VERSION" => {
                    Some((StatusCode::BAD_REQUEST, ErrorCode::UnsupportedRoomVersion))
                }
                "M_INCOMPATIBLE_ROOM_VERSION" => {
                    Some((StatusCode::BAD_REQUEST, ErrorCode::IncompatibleRoomVersion))
                }
                _ => None,
            },
            R::NotAllowed { .. } => Some((StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
            R::Unreachable { .. } | R::InvalidResponse { .. } | R::InvalidRequest { .. } => None,
        };
        match relayed {
            Some((status, errcode)) => Self::new(status, errcode, error.to_string()),
            None => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::Unknown,
                error.to_string(),
            ),
        }
    }
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.errcode.as_str(),
            self.error
        )
    }
}

impl ResponseError for MatrixError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

/// 404 M_UNRECOGNIZED for every path no endpoint claims.
pub async fn unrecognized_path() -> HttpResponse {
    MatrixError::unrecognized_path().error_response()
}

/// 405 M_UNRECOGNIZED for a known path asked with a method it lacks.
pub async fn method_not_allowed() -> HttpResponse {
    MatrixError::method_not_allowed().error_response()
}
