//! The App manifest flow's exchange: `POST /app-manifests/{code}/conversions` turns a code GitHub handed
//! out (it redirected the browser with it) into the new App with its secrets — once per code, as GitHub
//! does; an unknown or used code is 404.

use serde_json::Value;

use super::state::State;
use super::{not_found, reply, serve, Answer, Call, Route, Served};

/// The manifest code exchange (no credentials: the code is one).
pub(super) fn endpoints() -> Vec<Served> {
    vec![serve(
        Route::ConvertManifest,
        "POST",
        r"/app-manifests/[^/]+/conversions",
        convert,
    )]
}

fn convert(st: &mut State, call: &Call<'_>) -> Answer {
    let code = call.segment_after("/app-manifests/").to_owned();
    let Some(app) = st.manifest_codes.remove(&code) else {
        return not_found();
    };
    if let Some(side_effect) = st.on_conversion.take() {
        side_effect();
    }
    (201, reply(st, 201, app))
}

/// The App GitHub creates from a manifest: the shape of `apps/create-from-manifest`'s answer (the App with
/// its `webhook_secret`, `pem`, `client_id` and `client_secret`).
pub(super) fn new_app(st: &State, app_id: u64, pem: &str) -> Value {
    let mut app = super::shapes::app(st, app_id);
    app["slug"] = "labtrail-course".into();
    app["html_url"] = format!("{}/apps/labtrail-course", st.origin).into();
    app["client_id"] = "Iv23liLabtrailTest".into();
    app["client_secret"] = "0123456789abcdef0123456789abcdef01234567".into();
    app["webhook_secret"] = "whsec-from-github".into();
    app["pem"] = pem.into();
    app
}
