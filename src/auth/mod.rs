//! Who is asking: password hashing, the database-backed session store, the `Principal` extractor,
//! and whether a browser request comes from our own pages.

pub mod cache;
pub mod origin;
pub mod password;
pub mod principal;
pub mod session_store;
pub mod tokens;

pub use principal::Principal;
