//! Who is asking: password hashing, the database-backed session store, the `Principal` extractor.

pub mod cache;
pub mod password;
pub mod principal;
pub mod session_store;

pub use principal::Principal;
