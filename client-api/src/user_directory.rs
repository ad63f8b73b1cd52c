//! POST /user_directory/search.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct SearchBody {
    search_term: String,
    limit: Option<usize>,
}

/// Results per search when the client does not say.
const DEFAULT_LIMIT: usize = 10;

pub async fn search(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<SearchBody>,
) -> Result<HttpResponse, MatrixError> {
    let (results, limited) = homeserver
        .search_users(
            &session.user_id,
            &body.search_term,
            body.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "results": results, "limited": limited })))
}
