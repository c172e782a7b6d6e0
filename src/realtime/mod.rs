//! After-commit delivery: frames (serialized once), the hub of local subscribers per room,
//! and the task that drives one WebSocket.

pub mod frame;
pub mod hub;
pub mod presence;
pub mod sequencer;
pub mod slots;
pub mod socket;
pub mod typing;
pub mod user_socket;
pub mod users;

pub use frame::Frame;
pub use hub::Hub;

/// WebSocket close codes of the protocol (see README).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    /// A server bug (an event it could not encode; logged).
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const SESSION_ENDED: u16 = 4001;
    pub const NOT_A_MEMBER: u16 = 4003;
    pub const ROOM_DELETED: u16 = 4004;
    pub const TOO_SLOW: u16 = 4008;
}
