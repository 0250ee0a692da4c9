//! Access tokens (HS256 JWTs of 15 minutes carrying user id and roles) and refresh tokens
//! (stored only as SHA-256 hashes): a login's is random, each successor is derived from the
//! token it replaces with a server key, so concurrent refreshes of one token agree on it.

use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Role;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub roles: Vec<Role>,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
}

/// Why an access token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// Seconds past `exp` a token is still accepted (clock skew between nodes).
const LEEWAY_SECONDS: i64 = 5;

/// Access tokens remembered as verified: about 15 MB at most (a token of about 230 bytes, its
/// claims and the cache's own entry).
const VERIFIED_CAPACITY: usize = 32 * 1024;

/// Signs and verifies access tokens with one HMAC key.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature and claims were verified, with what they said. A token's validity
    /// depends only on its bytes, the key and the clock, so a token seen again is known good
    /// once its expiry is checked again; only good tokens are remembered, so forged ones cannot
    /// fill it. Every authenticated request carries a token, most of them one seen before.
    verified: quick_cache::sync::Cache<String, (i64, Claims)>,
    /// Keys refresh-token successors; derived from the access-token secret, never equal to it.
    successor_key: Vec<u8>,
    pub access_seconds: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_seconds: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS as u64;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
            successor_key: hmac_sha256(secret, b"boxoffice refresh-token successor v1"),
            access_seconds,
        }
    }

    /// The refresh token that replaces `spent`: `rt_` + base64url(HMAC-SHA256(key, spent)).
    /// Unguessable without the server's key, and the same on every node for the same token.
    pub fn refresh_successor(&self, spent: &str) -> String {
        let mac = hmac_sha256(&self.successor_key, spent.as_bytes());
        format!(
            "rt_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Issues an access token for `user_id` with `roles`, valid from `now` (unix seconds).
    pub fn issue(&self, user_id: i64, roles: &[Role], now: i64) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id.to_string(),
            roles: roles.to_vec(),
            iat: now,
            exp: now + self.access_seconds,
            typ: "access".into(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm (HS256 only: `alg: none` and others are refused) and expiry.
    pub fn verify(&self, token: &str) -> Result<(i64, Claims), TokenError> {
        if let Some((user_id, claims)) = self.verified.get(token) {
            if claims.exp < chrono::Utc::now().timestamp() - LEEWAY_SECONDS {
                self.verified.remove(token);
                return Err(TokenError::Expired);
            }
            return Ok((user_id, claims));
        }
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        if data.claims.typ != "access" {
            return Err(TokenError::Invalid);
        }
        let user_id = data.claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        self.verified
            .insert(token.to_owned(), (user_id, data.claims.clone()));
        Ok((user_id, data.claims))
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A new random secret, base64url without padding (`bytes` random bytes).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900)
    }

    #[test]
    fn a_fresh_token_verifies() {
        let now = chrono::Utc::now().timestamp();
        let token = keys().issue(7, &[Role::User], now).expect("issue");
        let (id, claims) = keys().verify(&token).expect("verify");
        assert_eq!(id, 7);
        assert_eq!(claims.roles, vec![Role::User]);
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let now = chrono::Utc::now().timestamp();
        let old = keys().issue(7, &[Role::User], now - 2000).expect("issue");
        assert_eq!(keys().verify(&old).err(), Some(TokenError::Expired));

        let token = keys().issue(7, &[Role::User], now).expect("issue");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"1","roles":["admin"],"iat":{now},"exp":{},"typ":"access"}}"#,
            now + 900
        ));
        parts[1] = forged;
        assert_eq!(
            keys().verify(&parts.join(".")).err(),
            Some(TokenError::Invalid)
        );

        let other = TokenKeys::new(b"another-secret-another-secret-xx", 900);
        let token = other.issue(7, &[Role::User], now).expect("issue");
        assert_eq!(keys().verify(&token).err(), Some(TokenError::Invalid));

        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"7","roles":["user"],"iat":{now},"exp":{},"typ":"access"}}"#,
            now + 900
        ));
        assert_eq!(
            keys().verify(&format!("{none_header}.{body}.")).err(),
            Some(TokenError::Invalid)
        );
    }

    /// A token verified once is answered from memory the second time; it still expires on
    /// time, and a tampered copy of a remembered token is still refused.
    #[test]
    fn remembered_tokens_still_expire_and_tampering_is_still_caught() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let token = k.issue(7, &[Role::User], now).expect("issue");
        assert_eq!(k.verify(&token).expect("verify").0, 7);
        assert_eq!(k.verified.len(), 1);
        assert_eq!(k.verify(&token).expect("verify again").0, 7);

        // The signature's first character changed: six bits of the MAC.
        let at = token.rfind('.').expect("three parts") + 1;
        let swapped = if token[at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert_eq!(k.verify(&tampered).err(), Some(TokenError::Invalid));
        assert_eq!(k.verified.len(), 1, "refused tokens are not remembered");

        // Remembered while good; refused once the clock passes its expiry and the leeway.
        let (user_id, mut claims) = k.verify(&token).expect("verify");
        claims.exp = now - LEEWAY_SECONDS - 1;
        k.verified.insert(token.clone(), (user_id, claims));
        assert_eq!(k.verify(&token).err(), Some(TokenError::Expired));
        assert_eq!(k.verified.len(), 0);
    }

    #[test]
    fn successors_are_deterministic_per_key_and_token() {
        let a = random_token(32);
        let b = random_token(32);
        let k = keys();
        assert_eq!(k.refresh_successor(&a), keys().refresh_successor(&a));
        assert_ne!(k.refresh_successor(&a), k.refresh_successor(&b));
        assert_ne!(k.refresh_successor(&a), a);
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 900);
        assert_ne!(k.refresh_successor(&a), other.refresh_successor(&a));
    }

    #[test]
    fn refresh_hashes_are_stable_and_distinct() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a), hash_refresh_token(&a));
        assert_ne!(hash_refresh_token(&a), hash_refresh_token(&b));
    }
}
