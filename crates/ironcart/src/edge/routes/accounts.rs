//! Registration, login, token refresh, logout and the caller's own profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::domain::customers::{self, Email};
use crate::edge::auth::Principal;
use crate::edge::dto::{
    LoginRequest, PasswordChange, ProfileUpdate, RefreshRequest, RegisterRequest, UserView,
};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::extract::ValidJson;
use crate::security::ratelimit::LimitClass;

pub async fn register(
    State(app): State<AppState>,
    ValidJson(body): ValidJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let email =
        Email::parse(&body.email).map_err(|m| ApiError::field("email", "invalid_email", m))?;
    let user = customers::register(&app, &email, &body.name, &body.password).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

pub async fn login(
    State(app): State<AppState>,
    ValidJson(body): ValidJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let account = Email::parse(&body.email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| body.email.to_lowercase());
    app.rate_limit(LimitClass::LoginAccount, &account)
        .await
        .map_err(ApiError::RateLimited)?;
    let pair = customers::login(&app, &body.email, &body.password).await?;
    Ok(Json(pair))
}

pub async fn refresh(
    State(app): State<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> ApiResult<impl IntoResponse> {
    let pair = customers::refresh(&app, &body.refresh_token).await?;
    Ok(Json(pair))
}

pub async fn logout(
    State(app): State<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    customers::logout(&app, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(app): State<AppState>, principal: Principal) -> ApiResult<Json<UserView>> {
    let user = app
        .store
        .user_by_id(&principal.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(UserView::from(&user)))
}

pub async fn update_me(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<ProfileUpdate>,
) -> ApiResult<Json<UserView>> {
    if let Some(name) = &body.name {
        app.store
            .update_name(&principal.user_id, name, app.now())
            .await?;
    }
    me(State(app), principal).await
}

pub async fn change_password(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    customers::change_password(
        &app,
        &principal.user_id,
        &body.current_password,
        &body.new_password,
    )
    .await
    .map_err(|err| match err {
        customers::AccountError::WeakPassword { code, message } => {
            ApiError::field("new_password", code, message)
        }
        customers::AccountError::InvalidCredentials => ApiError::field(
            "current_password",
            "incorrect",
            "is not the current password",
        ),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
