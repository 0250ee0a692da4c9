//! Ticket codes: a compact payload signed with Ed25519, verifiable offline at the gate with the
//! public key alone. Format: `BX1.<base64url payload>.<base64url signature>`, the payload being
//! `ticket_id:show_id:seat:booking_id`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

const PREFIX: &str = "BX1";

/// What a valid code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaim {
    pub ticket_id: i64,
    pub show_id: i64,
    pub seat: String,
    pub booking_id: i64,
}

/// The signing key pair.
#[derive(Clone)]
pub struct TicketKeys {
    signing: SigningKey,
}

impl TicketKeys {
    /// From a 32-byte seed in base64url.
    pub fn from_seed_b64(seed: &str) -> anyhow::Result<Self> {
        let bytes = B64
            .decode(seed.trim())
            .map_err(|_| anyhow::anyhow!("the ticket signing key must be base64url"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the ticket signing key must be 32 bytes"))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// A new random seed, base64url.
    pub fn generate_seed_b64() -> String {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        B64.encode(key.to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key, base64url, for gates.
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.verifying_key().to_bytes())
    }

    pub fn sign(&self, claim: &TicketClaim) -> String {
        let payload = format!(
            "{}:{}:{}:{}",
            claim.ticket_id, claim.show_id, claim.seat, claim.booking_id
        );
        let signature = self.signing.sign(payload.as_bytes());
        format!(
            "{PREFIX}.{}.{}",
            B64.encode(payload.as_bytes()),
            B64.encode(signature.to_bytes())
        )
    }

    /// The claim of an authentic code; `None` for anything forged, altered or malformed.
    pub fn verify(&self, code: &str) -> Option<TicketClaim> {
        verify_with(&self.verifying_key(), code)
    }
}

/// Verifies `code` with a public key alone (what an offline gate does).
pub fn verify_with(key: &VerifyingKey, code: &str) -> Option<TicketClaim> {
    let mut parts = code.trim().split('.');
    let (prefix, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if prefix != PREFIX || parts.next().is_some() {
        return None;
    }
    let payload = B64.decode(payload).ok()?;
    let signature: [u8; 64] = B64.decode(signature).ok()?.try_into().ok()?;
    key.verify(&payload, &Signature::from_bytes(&signature))
        .ok()?;
    let text = String::from_utf8(payload).ok()?;
    let mut fields = text.split(':');
    let claim = TicketClaim {
        ticket_id: fields.next()?.parse().ok()?,
        show_id: fields.next()?.parse().ok()?,
        seat: fields.next()?.to_owned(),
        booking_id: fields.next()?.parse().ok()?,
    };
    if fields.next().is_some() {
        return None;
    }
    Some(claim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> TicketKeys {
        TicketKeys::from_seed_b64(&TicketKeys::generate_seed_b64()).expect("keys")
    }

    #[test]
    fn codes_verify_and_tampering_is_caught() {
        let k = keys();
        let claim = TicketClaim {
            ticket_id: 7,
            show_id: 3,
            seat: "A12".into(),
            booking_id: 9,
        };
        let code = k.sign(&claim);
        assert!(
            code.len() < 140,
            "compact enough for a small QR code: {}",
            code.len()
        );
        assert_eq!(k.verify(&code), Some(claim.clone()));
        // Another seat in the payload, same signature.
        let forged_payload = B64.encode("7:3:A13:9");
        let parts: Vec<&str> = code.split('.').collect();
        assert_eq!(
            k.verify(&format!("BX1.{forged_payload}.{}", parts[2])),
            None
        );
        // Signed by another key.
        assert_eq!(k.verify(&keys().sign(&claim)), None);
        assert_eq!(k.verify("BX1.x.y"), None);
        assert_eq!(k.verify(""), None);
    }

    proptest! {
        #[test]
        fn any_bit_flip_is_refused(pos in 4usize..100, bit in 0u8..6) {
            let k = keys();
            let code = k.sign(&TicketClaim { ticket_id: 1, show_id: 2, seat: "B7".into(), booking_id: 3 });
            let mut bytes = code.clone().into_bytes();
            let i = pos % bytes.len();
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            if let Some(at) = alphabet.iter().position(|c| *c == bytes[i]) {
                bytes[i] = alphabet[(at ^ (1 << bit)) % 64];
                let altered = String::from_utf8(bytes).expect("ascii");
                if altered != code {
                    prop_assert_eq!(k.verify(&altered), None);
                }
            }
        }
    }
}
