//! Tasks: list, create, get, update, delete; each checks the caller's access.

use actix_web::{HttpResponse, http::Method, web};
use application::Services;

use crate::{
    ApiError,
    dto::tasks::{CreateTaskRequest, TaskListParams, TaskResponse, UpdateTaskRequest},
    error::{ErrorBody, ValidationErrorBody},
    extract::{ListQuery, Principals},
    handlers::{list_response, resource},
    validation::{Valid, path_uuid},
};

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// The tasks the caller may read: their own; every task for admins.
#[utoipa::path(
    get,
    path = "/v1/tasks/",
    tag = "tasks",
    security(("bearer" = [])),
    params(TaskListParams),
    responses(
        (status = 200, description = "A page of tasks", body = Vec<TaskResponse>,
            headers(("X-Total-Count" = u64, description = "Tasks matching the query, all pages"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad query", body = ValidationErrorBody),
    ),
)]
pub async fn list(
    services: web::Data<Services>,
    principals: Principals,
    query: ListQuery<domain::TaskFilter>,
) -> Result {
    let (tasks, total) = services
        .tasks
        .list(&principals.0, query.filter, query.sort.as_ref(), query.page)
        .await?;
    Ok(list_response(
        tasks.into_iter().map(TaskResponse::from).collect(),
        total,
    ))
}

/// Create a task written by the caller.
#[utoipa::path(
    post,
    path = "/v1/tasks/",
    tag = "tasks",
    security(("bearer" = [])),
    request_body = CreateTaskRequest,
    responses(
        (status = 201, description = "Created", body = TaskResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationErrorBody),
    ),
)]
pub async fn create(
    services: web::Data<Services>,
    principals: Principals,
    body: Valid<CreateTaskRequest>,
) -> Result {
    let task = services
        .tasks
        .create(&principals.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(TaskResponse::from(task)))
}

/// One task; only its author and admins may read it.
#[utoipa::path(
    get,
    path = "/v1/tasks/{task_uuid}",
    tag = "tasks",
    security(("bearer" = [])),
    params(("task_uuid" = uuid::Uuid, Path, description = "The task's uuid")),
    responses(
        (status = 200, description = "The task", body = TaskResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Someone else's task", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 422, description = "Malformed uuid", body = ValidationErrorBody),
    ),
)]
pub async fn get(
    services: web::Data<Services>,
    principals: Principals,
    path: web::Path<String>,
) -> Result<web::Json<TaskResponse>> {
    let uuid = path_uuid("task_uuid", &path)?;
    let task = services.tasks.get(&principals.0, uuid).await?;
    Ok(web::Json(task.into()))
}

/// Change a task's title, description or completion.
#[utoipa::path(
    patch,
    path = "/v1/tasks/{task_uuid}",
    tag = "tasks",
    security(("bearer" = [])),
    params(("task_uuid" = uuid::Uuid, Path, description = "The task's uuid")),
    request_body = UpdateTaskRequest,
    responses(
        (status = 200, description = "The updated task", body = TaskResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Someone else's task", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 422, description = "Malformed uuid or invalid input", body = ValidationErrorBody),
    ),
)]
pub async fn update(
    services: web::Data<Services>,
    principals: Principals,
    path: web::Path<String>,
    body: Valid<UpdateTaskRequest>,
) -> Result<web::Json<TaskResponse>> {
    let uuid = path_uuid("task_uuid", &path)?;
    let task = services
        .tasks
        .update(&principals.0, uuid, body.into_inner())
        .await?;
    Ok(web::Json(task.into()))
}

/// Delete a task.
#[utoipa::path(
    delete,
    path = "/v1/tasks/{task_uuid}",
    tag = "tasks",
    security(("bearer" = [])),
    params(("task_uuid" = uuid::Uuid, Path, description = "The task's uuid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Someone else's task", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 422, description = "Malformed uuid", body = ValidationErrorBody),
    ),
)]
pub async fn delete(
    services: web::Data<Services>,
    principals: Principals,
    path: web::Path<String>,
) -> Result {
    let uuid = path_uuid("task_uuid", &path)?;
    services.tasks.delete(&principals.0, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/v1/tasks",
        [
            (Method::GET, web::to(list)),
            (Method::POST, web::to(create)),
        ],
    ))
    .service(resource(
        "/v1/tasks/{task_uuid}",
        [
            (Method::GET, web::to(get)),
            (Method::PATCH, web::to(update)),
            (Method::DELETE, web::to(delete)),
        ],
    ));
}

/// This module's operations, for the OpenAPI document (`handlers::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, update, delete), components(schemas(crate::dto::tasks::TaskSort)), tags((name = "tasks", description = "Tasks; each visible to its author and admins")))]
pub(crate) struct Api;
