//! What every HTML answer shares, and what every answer gets when a handler panics.
//!
//! - [`set_page_headers`]: the security headers of the web view's pages and of `/setup` (one list, so the
//!   two cannot drift apart): a Content-Security-Policy that lets no script run, no framing, no sniffing,
//!   no referrer beyond this site.
//! - [`request_cookie`]: the one reading of a request's `Cookie` headers (the web view's and `/setup`'s).
//! - [`catch_panics`]: the router's outermost layer but the trace. A panicking handler no longer drops
//!   the connection: the client gets `500` with a fresh request id (header `x-request-id` and the body),
//!   and the panic is logged once, at `error`, with that id.

use std::any::Any;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tower_http::catch_panic::CatchPanicLayer;

/// The value of cookie `name` from the request's `Cookie` headers (parsed by the `cookie` crate).
pub fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The Content-Security-Policy of the web view's pages: no script at all, styles and images from here
/// only, forms posting here only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The header naming a request in the log.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// [`CSP`] with the form targets `form_action` (space-separated sources) allowed besides this site; the
/// setup page's manifest form posts to GitHub.
pub fn csp_with_form_action(form_action: &str) -> String {
    CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {form_action}"),
    )
}

/// Set the security headers of an HTML page: `csp`, `X-Frame-Options: DENY`,
/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`.
pub fn set_page_headers(headers: &mut HeaderMap, csp: HeaderValue) {
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// The answer to a panicking handler.
pub type PanicResponder = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer that turns a handler's panic into [`panic_response`].
pub fn catch_panics() -> CatchPanicLayer<PanicResponder> {
    CatchPanicLayer::custom(panic_response as PanicResponder)
}

/// `500` with a new request id (UUID v7) in `x-request-id` and in the JSON body; the panic's message is
/// logged with that id and never sent.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    tracing::error!(%request_id, panic = %message, "a request handler panicked; answered 500");
    let body = Json(serde_json::json!({
        "error": "internal error",
        "request_id": request_id,
    }));
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn a_panic_is_a_500_with_the_same_request_id_in_header_and_body() {
        let response = panic_response(Box::new("index out of bounds"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = response.headers()[REQUEST_ID]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(
            uuid::Uuid::parse_str(&id)
                .expect("a uuid")
                .get_version_num(),
            7
        );
        let body = body_json(response).await;
        assert_eq!(body["request_id"], id.as_str());
        assert_eq!(body["error"], "internal error", "the message is not sent");
        let other = panic_response(Box::new(String::from("boom")));
        assert_ne!(other.headers()[REQUEST_ID].to_str().ok(), Some(id.as_str()));
    }

    /// GET `url`: an answer, not a dropped connection.
    async fn answer_to_get(client: &reqwest::Client, url: &str) -> reqwest::Response {
        client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    #[tokio::test]
    async fn the_layer_passes_answers_through_and_catches_panics() {
        async fn fine() -> &'static str {
            "fine"
        }
        async fn broken() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/fine", get(fine))
            .route("/broken", get(broken))
            .layer(catch_panics());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let ok = answer_to_get(&client, &format!("{base}/fine")).await;
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.headers().get("x-request-id").is_none());
        let failed = answer_to_get(&client, &format!("{base}/broken")).await;
        assert_eq!(failed.status().as_u16(), 500);
        let id = failed.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body: serde_json::Value = failed.json().await.expect("json");
        assert_eq!(body["request_id"], id.as_str());
        // The same connection pool still gets answers.
        let again = answer_to_get(&client, &format!("{base}/fine")).await;
        assert_eq!(again.status().as_u16(), 200);
        server.abort();
    }

    #[test]
    fn setup_csp_adds_only_the_form_target() {
        assert_eq!(
            csp_with_form_action("https://github.com"),
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' \
             https://github.com; frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
