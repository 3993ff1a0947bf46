//! A request's cephx credentials (`userID`, `userKey`), checked once, and kept out of
//! every Debug form, log line and message (`scrub`). How the key reaches Ceph is the
//! clients' business (cli.rs, lib_conn.rs, the kernel keyring).

use std::collections::HashMap;
use std::fmt;

use crate::error::Error;

/// `userID` and `userKey` from a request's secrets. The key never prints.
#[derive(Clone)]
pub struct Credentials {
    pub id: String,
    key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ id: {:?}, key: <hidden> }}", self.id)
    }
}

impl Credentials {
    pub fn from_secrets(secrets: &HashMap<String, String>) -> Result<Credentials, Error> {
        let id = secrets.get("userID").map(|s| s.trim()).unwrap_or("");
        let key = secrets.get("userKey").map(|s| s.trim()).unwrap_or("");
        if id.is_empty() || key.is_empty() {
            return Err(Error::invalid("secrets must hold userID and userKey"));
        }
        if id.starts_with("client.") || id.contains(|c: char| c.is_whitespace() || c == ',' || c == '/') {
            return Err(Error::invalid("secrets: userID must be a bare cephx id such as \"csi\""));
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')) {
            return Err(Error::invalid("secrets: userKey must be a base64 cephx key"));
        }
        Ok(Credentials { id: id.to_string(), key: key.to_string() })
    }

    /// The base64 key, for librados' in-memory `key` option only.
    pub(crate) fn key_text(&self) -> &str {
        &self.key
    }

    /// The key's raw bytes (the kernel keyring wants them decoded).
    pub fn raw_key(&self) -> Result<Vec<u8>, Error> {
        base64_decode(&self.key).ok_or_else(|| Error::invalid("secrets: userKey is not valid base64"))
    }

    /// Replaces the key wherever it appears in `text`.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.key, "<hidden>")
    }
}

/// Standard base64 (with padding) → bytes; `None` when malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = text.trim().as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for chunk in b.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n <<= 6;
            if i < 4 - pad {
                n |= val(*c)?;
            } else if *c != b'=' {
                return None;
            }
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8h"), Some(b"hello!".to_vec()));
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("aGk"), None);
        assert_eq!(base64_decode("a=Gk"), None);
    }

    #[test]
    fn credentials_are_checked_and_never_printed() {
        let mut s = HashMap::new();
        assert!(Credentials::from_secrets(&s).is_err());
        s.insert("userID".to_string(), "csi".to_string());
        s.insert("userKey".to_string(), "AQBSECRETKEY0123456789==".to_string());
        let c = Credentials::from_secrets(&s).unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(c.scrub("failed to decode key 'AQBSECRETKEY0123456789=='"), "failed to decode key '<hidden>'");
        s.insert("userKey".to_string(), "bad key;rm".to_string());
        assert!(Credentials::from_secrets(&s).is_err());
    }
}
