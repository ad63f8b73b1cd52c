//! Building route tables whose endpoints all behave alike.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, Error, Resource};

use crate::{method_not_allowed, middleware};

/// A resource at `path` that answers methods it has no route for with
/// 405 M_UNRECOGNIZED and turns a panic of its handlers into 500 M_UNKNOWN.
/// Add the methods with `.route(...)`.
///
/// The panic guard sits here, on each resource, rather than around the
/// whole app: it needs its own handle on the request, and actix can only
/// route a request nobody else holds.
pub fn endpoint(
    path: &str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .default_service(web::to(method_not_allowed))
        .wrap(from_fn(middleware::catch_panics))
}
