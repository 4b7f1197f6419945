//! The App itself: its JWT, the App (`GET /app`), its installations (`GET /app/installations`,
//! `GET /app/installations/{id}`) and their access tokens (`POST /app/installations/{id}/access_tokens`) — minted only for an installation that exists and
//! is not suspended, and valid only for that installation's repositories.

use chrono::Utc;
use serde_json::{json, Value};

use super::shapes;

use super::state::{State, Token};
use super::{message, not_found, reply, serve, Answer, Call, Route, Served, APP_ID};

/// The App's endpoints (its JWT).
pub(super) fn endpoints() -> Vec<Served> {
    vec![
        serve(
            Route::Token,
            "POST",
            r"/app/installations/\d+/access_tokens",
            mint,
        ),
        serve(
            Route::GetInstallation,
            "GET",
            r"/app/installations/\d+",
            get_installation,
        ),
        serve(
            Route::ListInstallations,
            "GET",
            "/app/installations",
            list_installations,
        ),
        serve(Route::GetApp, "GET", "/app", get_app),
    ]
}

/// `GET /app`: the App the JWT authenticates.
fn get_app(st: &mut State, _call: &Call<'_>) -> Answer {
    let body = shapes::app(st, APP_ID);
    (200, reply(st, 200, body))
}

/// `GET /app/installations`: every installation, suspended ones included, by id (one page: the fake's
/// tests have few).
fn list_installations(st: &mut State, _call: &Call<'_>) -> Answer {
    let mut ids: Vec<(i64, Option<chrono::DateTime<Utc>>)> =
        st.installations.iter().map(|(id, s)| (*id, *s)).collect();
    ids.sort_by_key(|(id, _)| *id);
    let body: Vec<Value> = ids
        .into_iter()
        .map(|(id, suspended_at)| shapes::installation(st, id, suspended_at))
        .collect();
    (200, reply(st, 200, json!(body)))
}

/// Check the App JWT: RS256, `iss`, `iat` in the past, `exp` at most 10 min after; the 401 message if not.
pub(super) fn verify_jwt(st: &State, jwt: Option<&str>) -> Result<(), String> {
    let Some(jwt) = jwt else {
        return Err("A JSON web token could not be decoded".into());
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // GitHub takes `iss` as a number (the App id) or a string (the client id); checked below.
    validation.set_required_spec_claims(&["exp", "iat"]);
    validation.leeway = 0;
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: Value,
        iat: i64,
        exp: i64,
    }
    let claims = match jsonwebtoken::decode::<Claims>(jwt, &st.public_key, &validation) {
        Ok(d) => d.claims,
        Err(e) => {
            eprintln!("fake: JWT refused: {e}");
            return Err(format!("A JSON web token could not be decoded: {e}"));
        }
    };
    let now = Utc::now().timestamp();
    let iss_ok = claims.iss == json!(APP_ID) || claims.iss == json!(APP_ID.to_string());
    if !iss_ok || claims.iat > now || claims.exp - claims.iat > 660 || claims.exp > now + 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}

/// The installation of a known, unexpired, not used-up token of an installation that still exists.
pub(super) fn authorize(st: &mut State, token: Option<&str>) -> Option<i64> {
    let limit = st.token_uses;
    let t = st.tokens.get_mut(token?)?;
    t.uses += 1;
    let ok = t.expires_at > Utc::now() && limit.is_none_or(|n| t.uses <= n);
    let installation = t.installation_id;
    (ok && st.installations.contains_key(&installation)).then_some(installation)
}

/// Mint an installation token of GitHub's shape, whose length varies.
fn mint(st: &mut State, call: &Call<'_>) -> Answer {
    let Some(installation_id) = call
        .path
        .split('/')
        .rev()
        .nth(1)
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return not_found();
    };
    match st.installations.get(&installation_id) {
        None => return not_found(),
        Some(Some(_)) => return message(403, "This installation has been suspended"),
        Some(None) => {}
    }
    let len = 36 + rand::random_range(0..60);
    let token: String = (0..len)
        .map(|_| {
            let c = rand::random_range(0..62u8);
            (match c {
                0..=9 => b'0' + c,
                10..=35 => b'a' + c - 10,
                _ => b'A' + c - 36,
            }) as char
        })
        .collect();
    let token = format!("ghs_{token}");
    let expires_at = Utc::now() + st.token_lifetime;
    st.tokens.insert(
        token.clone(),
        Token {
            installation_id,
            expires_at,
            uses: 0,
        },
    );
    let body = json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "permissions": { "checks": "write", "contents": "read", "metadata": "read" },
        "repository_selection": "all",
    });
    (201, reply(st, 201, body))
}

/// `GET /app/installations/{id}`: the installation as GitHub sees it now.
fn get_installation(st: &mut State, call: &Call<'_>) -> Answer {
    let Some((id, suspended_at)) = call
        .last_id()
        .and_then(|id| st.installations.get(&id).map(|s| (id, *s)))
    else {
        return not_found();
    };
    let body = shapes::installation(st, id, suspended_at);
    (200, reply(st, 200, body))
}
