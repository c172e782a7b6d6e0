//! Secrets handed to clients (session keys, bot tokens) and the hashes the database keeps
//! instead of them.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The SHA-256 (hex) of a session key or token: what the database stores and looks up, so a
/// leaked table does not leak live credentials.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// 256 random bits from the OS, as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
