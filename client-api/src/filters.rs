//! POST /user/{userId}/filter, GET /user/{userId}/filter/{filterId}.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;
use crate::rooms::user_id;

pub async fn create(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(filter): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let filter_id = homeserver
        .create_filter(&session, &user_id(&path)?, &filter)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "filter_id": filter_id })))
}

pub async fn get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, filter_id) = path.into_inner();
    let filter = homeserver
        .filter_json(&session, &user_id(&user)?, &filter_id)
        .await?;
    Ok(HttpResponse::Ok().json(filter))
}
