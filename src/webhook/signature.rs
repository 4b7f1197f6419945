//! `X-Hub-Signature-256` verification: HMAC-SHA256 over the raw body, constant-time, several secrets.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("only sha256= signatures are accepted")]
    UnsupportedAlgorithm,
    #[error("malformed signature")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// The webhook secrets in force; any of them may sign (rotation).
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

impl WebhookSecrets {
    /// `None` when no non-empty secret is given.
    pub fn new(secrets: Vec<SecretString>) -> Option<Self> {
        let secrets: Vec<_> = secrets
            .into_iter()
            .filter(|s| !s.expose_secret().is_empty())
            .collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// Check a header value (`sha256=<64 hex>`) against the body; constant time per secret.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        self.verify_parts(header, &[body])
    }

    /// [`Self::verify`] for a body received in parts (not joined first).
    pub fn verify_parts(
        &self,
        header: Option<&[u8]>,
        parts: &[impl AsRef<[u8]>],
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_sig = header
            .strip_prefix(b"sha256=")
            .ok_or(SignatureError::UnsupportedAlgorithm)?;
        let expected = hex::decode(hex_sig.trim_ascii()).map_err(|_| SignatureError::Malformed)?;
        if expected.len() != 32 {
            return Err(SignatureError::Malformed);
        }
        let mut ok = false;
        for secret in &self.0 {
            // Every secret is tried, so timing does not tell which one matched.
            let mut mac = mac(secret, b"");
            for part in parts {
                mac.update(part.as_ref());
            }
            ok |= mac.verify_slice(&expected).is_ok();
        }
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// `sha256=<hex>` for the body under the first secret (used by `labtrail deliver`).
    pub fn sign(&self, body: &[u8]) -> String {
        sign(&self.0[0], body)
    }
}

/// `sha256=<hex>` of the body under a secret.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &SecretString, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> WebhookSecrets {
        WebhookSecrets::new(
            list.iter()
                .map(|s| SecretString::from(s.to_string()))
                .collect(),
        )
        .expect("non-empty")
    }

    // GitHub's documented test vector (docs "Validating webhook deliveries").
    const VECTOR_SECRET: &str = "It's a Secret to Everybody";
    const VECTOR_BODY: &[u8] = b"Hello, World!";
    const VECTOR_SIG: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector_verifies_and_signs() {
        let s = secrets(&[VECTOR_SECRET]);
        assert_eq!(s.verify(Some(VECTOR_SIG.as_bytes()), VECTOR_BODY), Ok(()));
        assert_eq!(s.sign(VECTOR_BODY), VECTOR_SIG);
    }

    #[test]
    fn refuses_wrong_missing_sha1_and_malformed() {
        let s = secrets(&["another secret"]);
        assert_eq!(
            s.verify(Some(VECTOR_SIG.as_bytes()), VECTOR_BODY),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(s.verify(None, VECTOR_BODY), Err(SignatureError::Missing));
        assert_eq!(
            s.verify(
                Some(b"sha1=0123456789abcdef0123456789abcdef01234567"),
                VECTOR_BODY
            ),
            Err(SignatureError::UnsupportedAlgorithm)
        );
        assert_eq!(
            s.verify(Some(b"sha256=zz"), VECTOR_BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify(Some(b"sha256=abcd"), VECTOR_BODY),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn any_rotated_secret_verifies() {
        let s = secrets(&["new secret", VECTOR_SECRET]);
        assert_eq!(s.verify(Some(VECTOR_SIG.as_bytes()), VECTOR_BODY), Ok(()));
        let new_sig = sign(&SecretString::from("new secret".to_string()), VECTOR_BODY);
        assert_eq!(s.verify(Some(new_sig.as_bytes()), VECTOR_BODY), Ok(()));
    }

    #[test]
    fn empty_secrets_mean_not_configured() {
        assert!(WebhookSecrets::new(vec![SecretString::from(String::new())]).is_none());
    }
}
