//! Admission passes and queue tokens: HMAC-SHA256 with a key every node of a deployment shares
//! (kept in the database, like the JWT secret), bound to one user and one show.
//!
//! A pass is `p1.<show>.<user>.<expires ms>.<signature>` (base64url, no padding), so any node
//! checks it without a lookup. `reserve` and `book` require one while the show's room is on.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a pass was refused (the `reason` in the 403's details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Forged,
    Expired,
    OtherUser,
    OtherShow,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Forged => "forged",
            Refusal::Expired => "expired",
            Refusal::OtherUser => "other_user",
            Refusal::OtherShow => "other_show",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "This show has a waiting room: join it and use the pass it gives you (X-Queue-Pass)"
            }
            Refusal::Malformed => "The queue pass is not one this service issues",
            Refusal::Forged => "The queue pass's signature is not valid",
            Refusal::Expired => "The queue pass has expired; join the waiting room again",
            Refusal::OtherUser => "The queue pass was issued to another user",
            Refusal::OtherShow => "The queue pass is for another show",
        }
    }
}

/// Signs and checks passes and queue tokens.
pub struct PassKeys {
    key: Vec<u8>,
}

impl PassKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn sign(&self, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A pass for `user` on `show`, valid until `expires_ms`.
    pub fn pass(&self, show: i64, user: i64, expires_ms: i64) -> String {
        let text = format!("p1.{show}.{user}.{expires_ms}");
        let signature = self.sign(&text);
        format!("{text}.{signature}")
    }

    /// A token naming `user`'s place (arrival `seq`) in `show`'s line.
    pub fn queue_token(&self, show: i64, user: i64, seq: u64) -> String {
        let text = format!("q1.{show}.{user}.{seq}");
        let signature = self.sign(&text);
        format!("{text}.{signature}")
    }

    /// The arrival number a queue token names, if it is this service's token for `user`'s
    /// place in `show`'s line.
    pub fn token_seq(&self, token: &str, show: i64, user: i64) -> Option<u64> {
        let (text, signature) = token.trim().rsplit_once('.')?;
        let parts: Vec<&str> = text.split('.').collect();
        let ["q1", token_show, token_user, seq] = parts[..] else {
            return None;
        };
        if token_show.parse::<i64>().ok()? != show || token_user.parse::<i64>().ok()? != user {
            return None;
        }
        let given = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac.verify_slice(&given).ok()?;
        seq.parse().ok()
    }

    /// Checks `pass` for `user` on `show` at `now_ms`, accepting it up to `grace_ms` after it
    /// expired (a booking of seats held while the pass was valid).
    pub fn check(
        &self,
        pass: Option<&str>,
        show: i64,
        user: i64,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<(), Refusal> {
        let pass = pass
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or(Refusal::Missing)?;
        let (text, signature) = pass.rsplit_once('.').ok_or(Refusal::Malformed)?;
        let parts: Vec<&str> = text.split('.').collect();
        let [kind, pass_show, pass_user, expires] = parts[..] else {
            return Err(Refusal::Malformed);
        };
        let (Ok(pass_show), Ok(pass_user), Ok(expires)) = (
            pass_show.parse::<i64>(),
            pass_user.parse::<i64>(),
            expires.parse::<i64>(),
        ) else {
            return Err(Refusal::Malformed);
        };
        if kind != "p1" {
            return Err(Refusal::Malformed);
        }
        let given = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Refusal::Malformed)?;
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac.verify_slice(&given).map_err(|_| Refusal::Forged)?;
        if pass_show != show {
            return Err(Refusal::OtherShow);
        }
        if pass_user != user {
            return Err(Refusal::OtherUser);
        }
        if now_ms > expires.saturating_add(grace_ms) {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_is_bound_to_its_user_show_and_time() {
        let keys = PassKeys::new(b"a shared secret of enough length!!");
        let pass = keys.pass(5, 9, 1_000);
        assert_eq!(keys.check(Some(&pass), 5, 9, 900, 0), Ok(()));
        assert_eq!(
            keys.check(Some(&pass), 5, 9, 1_001, 0),
            Err(Refusal::Expired)
        );
        assert_eq!(keys.check(Some(&pass), 5, 9, 1_001, 100), Ok(()));
        assert_eq!(
            keys.check(Some(&pass), 6, 9, 900, 0),
            Err(Refusal::OtherShow)
        );
        assert_eq!(
            keys.check(Some(&pass), 5, 8, 900, 0),
            Err(Refusal::OtherUser)
        );
        assert_eq!(keys.check(None, 5, 9, 900, 0), Err(Refusal::Missing));
        assert_eq!(
            keys.check(Some("nonsense"), 5, 9, 900, 0),
            Err(Refusal::Malformed)
        );
        let forged = pass.replace("p1.5.9.1000", "p1.5.9.9999");
        assert_eq!(
            keys.check(Some(&forged), 5, 9, 900, 0),
            Err(Refusal::Forged)
        );
        let token = keys.queue_token(5, 9, 42);
        assert_eq!(keys.token_seq(&token, 5, 9), Some(42));
        assert_eq!(keys.token_seq(&token, 5, 8), None);
        assert_eq!(keys.token_seq(&token, 6, 9), None);
        assert_eq!(keys.token_seq(&token.replace(".42.", ".1."), 5, 9), None);
        let other_key = PassKeys::new(b"another secret of the same length!");
        assert_eq!(
            other_key.check(Some(&pass), 5, 9, 900, 0),
            Err(Refusal::Forged)
        );
    }
}
