//! HTTP plumbing shared by hanse's client-server and server-server APIs, so
//! both answer errors, bodies and odd requests the same way.

mod error;
mod ids;
mod json;
mod limits;
pub mod middleware;
mod params;
mod routing;

pub use error::{method_not_allowed, unrecognized_path, ErrorCode, MatrixError};
pub use ids::{event_id, query_values, room_id, user_id};
pub use json::{parse as parse_json, read_body, Json, OptionalJson};
pub use limits::{body_limit_for, BodyLimit, UploadLimit};
pub use params::{path_config, query_config};
pub use routing::endpoint;
