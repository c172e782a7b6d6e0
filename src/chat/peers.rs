//! What the other instances did, applied here: their committed events reach this instance's
//! sockets, and their ends of sessions, credentials, memberships and rooms close the sockets
//! here too. Every `bus_check_ms`, and at once when the bus comes back, each room with sockets
//! here is compared with the database in one query and repaired from it, so that an event
//! the bus lost arrives within that bound even when nothing follows it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::App;
use crate::bus::{Control, Heard, RoomEvent};
use crate::chat::credentials;
use crate::realtime::frame::Audience;
use crate::realtime::{close, Frame};
use crate::store::rooms;

/// Follows the bus for the life of the process. Returns at once for one instance.
pub async fn follow(app: App, mut heard: mpsc::UnboundedReceiver<Heard>) {
    if !app.bus.is_shared() {
        // One instance still has a writer besides itself: the admin CLI (a room deleted, a
        // user deleted and so gone from rooms). The same position check finds its deleted
        // rooms (4004) and its stored events, at the revocation poll's pace.
        let mut check = tokio::time::interval(Duration::from_millis(app.config.revocation_poll_ms));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            check.tick().await;
            check_positions(&app).await;
        }
    }
    let mut check = tokio::time::interval(Duration::from_millis(app.config.bus_check_ms));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            what = heard.recv() => match what {
                Some(Heard::Event(event)) => deliver(&app, event),
                Some(Heard::Control(control)) => apply(&app, control),
                Some(Heard::Presence { origin, msg }) => app.presence.heard(origin, msg),
                Some(Heard::Activity(room, seq)) => app.users.activity(room, seq),
                Some(Heard::User(n)) => app.users.deliver(n.user, n.interest, &n.frame),
                Some(Heard::Ephemeral(e)) => app.hub.ephemeral(Arc::new(Frame::ephemeral_json(
                    e.room,
                    e.skip.map_or(Audience::All, Audience::AllBut),
                    e.frame,
                ))),
                // Logged and counted by the bus; the position check goes on meanwhile.
                Some(Heard::Down) => {}
                Some(Heard::Up) => check_positions(&app).await,
                None => return,
            },
            _ = check.tick() => check_positions(&app).await,
        }
    }
}

fn deliver(app: &App, event: RoomEvent) {
    match event.frame {
        Some(json) => app.hub.offer(Arc::new(Frame {
            room_id: event.room,
            seq: event.seq,
            sent_at: None,
            terminal: event.terminal,
            ephemeral: None,
            json,
        })),
        // Too large for the bus: the hub reads it from the store.
        None if !event.terminal => app.hub.committed_through(event.room, event.seq),
        None => {
            app.hub.close_room(event.room, close::ROOM_DELETED);
        }
    }
}

/// The local half of what another instance ended.
pub fn apply(app: &App, control: Control) {
    match control {
        Control::SessionEnded { sid } => credentials::forget_session(app, &sid),
        Control::UserRevoked { user } => credentials::forget_revoked(app, user),
        Control::MemberRemoved { room, user } => {
            app.hub.close_member(room, user, close::NOT_A_MEMBER);
        }
        Control::RoomDeleted { room } => {
            app.hub.close_room(room, close::ROOM_DELETED);
            app.users.room_gone(room);
        }
    }
}

/// Compares every room with sockets here with the database (one query) and has the hub read
/// what it is missing. A room that is gone closes its sockets (4004).
pub async fn check_positions(app: &App) {
    let here = app.hub.positions();
    if here.is_empty() {
        return;
    }
    let ids: Vec<_> = here.iter().map(|(room, _)| *room).collect();
    let stored: HashMap<_, _> = match rooms::last_seqs(&app.db, &ids).await {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => {
            tracing::debug!(error = %e, "position check failed");
            return;
        }
    };
    for (room, last) in here {
        match (stored.get(&room), last) {
            (None, _) => {
                app.hub.close_room(room, close::ROOM_DELETED);
            }
            (Some(&db_last), None) => app.hub.committed_through(room, db_last),
            (Some(&db_last), Some(last)) if db_last > last => {
                app.hub.committed_through(room, db_last);
            }
            _ => {}
        }
    }
}
