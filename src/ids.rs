//! The ids that flow through every layer, each its own type, so that a room id passed where a
//! user id belongs (or a seq where a room id belongs) does not compile. In the right order:
//!
//! ```
//! use roomcast::ids::{RoomId, UserId};
//! use roomcast::store::{membership, Db};
//! async fn seat(db: &Db, room: RoomId, user: UserId) {
//!     let _ = membership::join(db, room, user, membership::Admission::Open).await;
//! }
//! ```
//!
//! The same call with the two swapped is refused:
//!
//! ```compile_fail,E0308
//! use roomcast::ids::{RoomId, UserId};
//! use roomcast::store::{membership, Db};
//! async fn seat(db: &Db, room: RoomId, user: UserId) {
//!     let _ = membership::join(db, user, room, membership::Admission::Open).await;
//! }
//! ```
//!
//! Each is its `i64` everywhere else: the same BIGINT column on both backends
//! (`DieselNewType`), a plain JSON number (`serde(transparent)`), an integer in the OpenAPI
//! document (a field says `#[schema(value_type = i64)]`; the ids have no schema of their own,
//! so a field that forgets does not compile, rather than point at a schema nobody defined),
//! and a number in logs (record `.0`: `tracing` takes only its own value types).

use std::fmt;

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Serialize,
            Deserialize,
            DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Delegated, so width and alignment (`{:>6}`) apply as to a number.
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// A room's id (`rooms.id`).
    RoomId
);
id_type!(
    /// A user's or a bot's id (`users.id`): bots are users.
    UserId
);
id_type!(
    /// A position in a room's event log: 1, 2, 3, … with no gaps (`events.seq`,
    /// `rooms.last_seq`). 0 is "before the first event".
    Seq
);

impl Seq {
    /// The seq after this one.
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_in_json_and_text() {
        assert_eq!(serde_json::to_string(&RoomId(7)).ok().as_deref(), Some("7"));
        assert_eq!(serde_json::from_str::<UserId>("42").ok(), Some(UserId(42)));
        assert_eq!(format!("{:>4}", Seq(3)), "   3");
        assert_eq!(Seq(3).next(), Seq(4));
    }
}
