//! Keyed pseudonyms of phone numbers (HMAC-SHA256), so repeat callers can be recognised without
//! keeping the number.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret a deployment keys pseudonyms with. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl PseudonymKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> PseudonymKey {
        PseudonymKey(secret.into())
    }

    /// Lowercase hex HMAC-SHA256 of the normalized number, or `None` when it has no digits.
    pub fn pseudonym(&self, phone: &str) -> Option<String> {
        let digits = normalize_phone(phone)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(digits.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(64);
        for b in out {
            hex.push(char::from(HEX[(b >> 4) as usize]));
            hex.push(char::from(HEX[(b & 15) as usize]));
        }
        Some(hex)
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Digits only, without the +86 / 0086 country prefix of a mainland number.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let mut d: String = phone.chars().filter(char::is_ascii_digit).collect();
    if let Some(rest) = d.strip_prefix("0086") {
        d = rest.to_owned();
    } else if d.len() == 13 && d.starts_with("86") {
        d = d[2..].to_owned();
    }
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_number_same_pseudonym_in_any_spelling() {
        let k = PseudonymKey::new("k1");
        let a = k.pseudonym("13912345678").unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(k.pseudonym("+86 139-1234-5678").unwrap(), a);
        assert_eq!(k.pseudonym("0086 13912345678").unwrap(), a);
        assert_ne!(PseudonymKey::new("k2").pseudonym("13912345678").unwrap(), a);
        assert_ne!(k.pseudonym("13912345679").unwrap(), a);
        assert!(!a.contains("13912345678"));
        assert_eq!(k.pseudonym("n/a"), None);
        assert_eq!(format!("{k:?}"), "PseudonymKey(<redacted>)");
    }
}
