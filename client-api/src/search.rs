//! POST /search.

use actix_web::{web, HttpResponse};
use hanse_core::filters::RoomEventFilter;
use hanse_core::rooms::{ContextQuery, SearchQuery};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    next_batch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SearchBody {
    search_categories: Categories,
}

#[derive(Debug, Deserialize)]
struct Categories {
    room_events: Option<RoomEvents>,
}

#[derive(Debug, Deserialize)]
struct RoomEvents {
    search_term: String,
    #[serde(default)]
    keys: Vec<String>,
    filter: Option<Value>,
    #[serde(default)]
    order_by: OrderBy,
    event_context: Option<EventContext>,
    #[serde(default)]
    include_state: bool,
    groupings: Option<Groupings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OrderBy {
    #[default]
    Rank,
    Recent,
}

/// Events before and after each result when the client names no number.
const DEFAULT_CONTEXT: usize = 5;

#[derive(Debug, Deserialize)]
struct EventContext {
    before_limit: Option<usize>,
    after_limit: Option<usize>,
    #[serde(default)]
    include_profile: bool,
}

#[derive(Debug, Deserialize)]
struct Groupings {
    #[serde(default)]
    group_by: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    key: GroupKey,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GroupKey {
    RoomId,
    Sender,
}

pub async fn search(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    params: web::Query<SearchParams>,
    Json(body): Json<SearchBody>,
) -> Result<HttpResponse, MatrixError> {
    let Some(criteria) = body.search_categories.room_events else {
        return Ok(HttpResponse::Ok().json(json!({ "search_categories": {} })));
    };
    let filter = match &criteria.filter {
        Some(json) => RoomEventFilter::from_json(json)?,
        None => RoomEventFilter::default(),
    };
    let grouped = |key: GroupKey| {
        criteria
            .groupings
            .as_ref()
            .is_some_and(|g| g.group_by.iter().any(|group| group.key == key))
    };
    let query = SearchQuery {
        group_by_room: grouped(GroupKey::RoomId),
        group_by_sender: grouped(GroupKey::Sender),
        term: criteria.search_term,
        keys: criteria.keys,
        filter,
        by_rank: matches!(criteria.order_by, OrderBy::Rank),
        next_batch: params.into_inner().next_batch,
        context: criteria.event_context.map(|context| ContextQuery {
            before: context.before_limit.unwrap_or(DEFAULT_CONTEXT),
            after: context.after_limit.unwrap_or(DEFAULT_CONTEXT),
            include_profile: context.include_profile,
        }),
        include_state: criteria.include_state,
    };
    Ok(HttpResponse::Ok().json(homeserver.search(&session, query).await?))
}
