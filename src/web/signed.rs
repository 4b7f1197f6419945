//! Values the server signs so that it need not remember them: the sign-in form's CSRF token and the
//! pending GitHub sign-in's `state` cookie. The key is derived from a configured secret shared by every
//! instance (`LABTRAIL_COOKIE_KEY`, else `GITHUB_CLIENT_SECRET`, else `GITHUB_WEBHOOK_SECRET`), so a value
//! made by one instance behind a load balancer checks on another; only a server with none of them (setup
//! mode) uses a random key of its own (docs/security.md).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Where the key came from (logged at start, never the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    CookieKey,
    ClientSecret,
    WebhookSecret,
    /// No secret configured: this process's own key (one instance only).
    Random,
}

/// The web view's signing key: 32 bytes derived from a secret, wiped on drop; `Debug` hides it.
#[derive(Clone)]
pub struct CookieKey {
    key: Zeroizing<[u8; 32]>,
    pub source: KeySource,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What a MAC is for: a value signed for one purpose never checks for another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    LoginCsrf,
    OauthState,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::LoginCsrf => b"login-csrf",
            Self::OauthState => b"oauth-state",
        }
    }
}

impl CookieKey {
    /// `HMAC-SHA256(secret, "labtrail web cookie key v1")`: the same secret gives the same key on every
    /// instance, and the key reveals nothing of the secret.
    pub fn derive(secret: &[u8], source: KeySource) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        if let Ok(mut mac) = HmacSha256::new_from_slice(secret) {
            mac.update(b"labtrail web cookie key v1");
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        Self { key, source }
    }

    /// A key of this process alone.
    pub fn random() -> Self {
        Self {
            key: crate::secrets::random_or_panic::<32>(),
            source: KeySource::Random,
        }
    }

    fn mac(&self, purpose: Purpose, data: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        mac
    }

    /// The MAC of `data` for `purpose`, base64url.
    pub fn sign(&self, purpose: Purpose, data: &str) -> String {
        B64URL.encode(self.mac(purpose, data).finalize().into_bytes())
    }

    /// Whether `tag` is the MAC of `data` for `purpose` (constant time).
    pub fn verify(&self, purpose: Purpose, data: &str, tag: &str) -> bool {
        let Ok(tag) = B64URL.decode(tag) else {
            return false;
        };
        let expected = self.mac(purpose, data).finalize().into_bytes();
        tag.len() == expected.len() && bool::from(tag.as_slice().ct_eq(expected.as_slice()))
    }

    /// The sign-in form's CSRF token for the browser whose `lt_login_csrf` cookie is `cookie`.
    pub fn login_csrf(&self, cookie: &str) -> String {
        self.sign(Purpose::LoginCsrf, cookie)
    }

    /// Whether `form` is the token this server made for `cookie` (a pair an attacker chose is not).
    pub fn check_login_csrf(&self, cookie: &str, form: &str) -> bool {
        !cookie.is_empty() && self.verify(Purpose::LoginCsrf, cookie, form)
    }

    /// The `lt_oauth_state` cookie of a pending GitHub sign-in: `{state}.{expires (unix s)}.{mac}`.
    pub fn state_cookie(&self, state: &str, expires_unix: i64) -> String {
        let body = format!("{state}.{expires_unix}");
        let tag = self.sign(Purpose::OauthState, &body);
        format!("{body}.{tag}")
    }

    /// The `state` a cookie of [`Self::state_cookie`] carries, if the server signed it and it has not
    /// expired at `now_unix`.
    pub fn open_state_cookie(&self, cookie: &str, now_unix: i64) -> Option<String> {
        let (body, tag) = cookie.rsplit_once('.')?;
        if !self.verify(Purpose::OauthState, body, tag) {
            return None;
        }
        // The state may hold a '.' (a return path rides in it); the expiry never does.
        let (state, expires) = body.rsplit_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        (now_unix < expires && !state.is_empty()).then(|| state.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_secret_gives_the_same_key_everywhere() {
        let a = CookieKey::derive(b"shared", KeySource::CookieKey);
        let b = CookieKey::derive(b"shared", KeySource::ClientSecret);
        let other = CookieKey::derive(b"other", KeySource::CookieKey);
        let token = a.login_csrf("cookie-value");
        assert!(b.check_login_csrf("cookie-value", &token));
        assert!(!other.check_login_csrf("cookie-value", &token));
        assert!(!a.check_login_csrf("another-cookie", &token));
        assert!(!a.check_login_csrf("", &a.login_csrf("")));
        // A chosen pair (the double-submit of old) is refused.
        assert!(!a.check_login_csrf("chosen", "chosen"));
        assert!(!a.check_login_csrf("chosen", "not base64 !"));
    }

    #[test]
    fn state_cookies_are_signed_bound_to_their_purpose_and_expire() {
        let key = CookieKey::derive(b"k", KeySource::ClientSecret);
        let cookie = key.state_cookie("nonce", 1000);
        assert_eq!(
            key.open_state_cookie(&cookie, 999).as_deref(),
            Some("nonce")
        );
        assert_eq!(key.open_state_cookie(&cookie, 1000), None, "expired");
        assert_eq!(
            key.open_state_cookie(&cookie.replace(".1000.", ".9999."), 999),
            None,
            "a moved expiry breaks the MAC"
        );
        let mut tampered = cookie.clone();
        tampered.pop();
        tampered.push(if cookie.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open_state_cookie(&tampered, 999), None);
        // The login CSRF MAC of the same text is no state MAC.
        let body = "nonce.2000";
        let forged = format!("{body}.{}", key.login_csrf(body));
        assert_eq!(key.open_state_cookie(&forged, 999), None);
        assert_eq!(key.open_state_cookie("junk", 0), None);
        // A state carrying a return path (`nonce.path`) comes back whole.
        let with_path = key.state_cookie("nonce.L2F0dGVtcHRzLzk", 1000);
        assert_eq!(
            key.open_state_cookie(&with_path, 999).as_deref(),
            Some("nonce.L2F0dGVtcHRzLzk")
        );
    }
}
