//! argon2id password hashes (PHC strings). Hashing is CPU-heavy, so it runs on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A real hash of a random password: an unknown username is checked against it so that it
    /// costs the same time as a wrong password.
    dummy_hash: String,
}

impl Passwords {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, String> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let mut p = Passwords {
            params,
            dummy_hash: String::new(),
        };
        p.dummy_hash = p
            .hash_now("not-a-real-password-just-timing")
            .map_err(|e| format!("argon2 self-test failed: {e}"))?;
        Ok(p)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon2()
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let this = self.clone();
        actix_web::web::block(move || this.hash_now(&password))
            .await
            .map_err(|_| AppError::Internal)?
            .map_err(|e| {
                tracing::error!(error = %e, "password hashing failed");
                AppError::Internal
            })
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user,
    /// so both failures take the same time. Verification uses the parameters in the PHC string.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let this = self.clone();
        let known = stored.is_some();
        let ok = actix_web::web::block(move || {
            let phc = stored.unwrap_or_else(|| this.dummy_hash.clone());
            match PasswordHash::new(&phc) {
                Ok(parsed) => this
                    .argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            }
        })
        .await
        .map_err(|_| AppError::Internal)?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let p = Passwords::new(64, 1).expect("params");
        let h = p.hash("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(p
            .verify("correct horse".into(), Some(h.clone()))
            .await
            .expect("v"));
        assert!(!p.verify("wrong horse".into(), Some(h)).await.expect("v"));
        assert!(!p
            .verify("not-a-real-password-just-timing".into(), None)
            .await
            .expect("v"));
    }
}
