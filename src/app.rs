//! `App`: the shared state every use case works with. Cheap to clone (handles only); one per
//! process, built by `App::open_serving` for `serve` and by `App::open` for the admin commands.

use std::sync::Arc;

use bytestring::ByteString;

use crate::auth::cache::AuthCache;
use crate::auth::password::Passwords;
use crate::bus::{Bus, Heard};
use crate::bus::{Interest, UserNote};
use crate::config::Config;
use crate::ids::{RoomId, Seq, UserId};
use crate::realtime::frame::FrameError;
use crate::realtime::hub::Backfill;
use crate::realtime::presence::Presence;
use crate::realtime::slots::Slots;
use crate::realtime::typing::Throttle;
use crate::realtime::users::UserStreams;
use crate::realtime::{Frame, Hub};
use crate::store::group_commit::Writer;
use crate::store::{events, Db};

/// Events read per store read when the hub fills a gap.
const REPAIR_PAGE: i64 = 500;

/// Everything a use case needs, shared by all workers.
#[derive(Clone)]
pub struct App {
    /// The database pool (SQLite or PostgreSQL): the source of truth.
    pub db: Db,
    /// This instance's sockets, by room: where events go after commit, and which sockets a
    /// logout, a revocation or a leave closes.
    pub hub: Hub,
    /// What tells the other instances (none, by default): events after commit, and ends of
    /// credentials, memberships and rooms.
    pub bus: Bus,
    /// Group commit for sends: batches messages per room shard into one transaction and
    /// publishes each committed message to the hub, in seq order.
    pub writer: Writer,
    /// Argon2id hashing and verification, on the blocking pool, a bounded number at a time.
    pub passwords: Passwords,
    /// Sessions and bot tokens checked recently; evicted by every use case that ends a
    /// credential (see `chat::credentials`).
    pub auth: AuthCache,
    /// Open WebSockets per user and per client IP, against their caps.
    pub slots: Slots,
    /// Who has a socket open on which room, here and (through the bus) on every instance.
    pub presence: Presence,
    /// Each user's summary streams here (`/api/me/events`), and the rooms they follow.
    pub users: UserStreams,
    /// The last typing frame per user and room: one per 3 s.
    pub typing: Arc<Throttle>,
    /// The settings this process started with.
    pub config: Arc<Config>,
}

impl App {
    /// The shared state for one-off work (the admin commands): it publishes on the bus (call
    /// `bus.flush` before exiting) but hears nothing. What it changes also reaches running
    /// servers through the database, when the bus is down or there is none.
    pub async fn open(config: Config) -> Result<App, String> {
        let (bus, _deaf) = Bus::open(&config)?;
        App::build(config, bus).await
    }

    /// The shared state for `serve`: with the bus `bus_url` names, and what it will hear
    /// (`chat::peers::follow` applies it).
    pub async fn open_serving(
        config: Config,
    ) -> Result<(App, tokio::sync::mpsc::UnboundedReceiver<Heard>), String> {
        let (bus, heard) = Bus::open(&config)?;
        Ok((App::build(config, bus).await?, heard))
    }

    /// Connects to the database (running migrations) and builds the shared state.
    async fn build(config: Config, bus: Bus) -> Result<App, String> {
        let db = Db::connect(&config).await?;
        let hub = Hub::new(config.ws_queue, bus.clone(), backfill(db.clone()));
        let users = UserStreams::new(config.ws_queue);
        let (publisher_hub, publisher_bus, publisher_users) =
            (hub.clone(), bus.clone(), users.clone());
        let writer = Writer::start(
            db.clone(),
            config.write_batch_max,
            db.write_concurrency(config.write_shards),
            config.write_queue_max,
            Arc::new(move |committed| {
                for (event, received_at) in committed {
                    publish(
                        &publisher_hub,
                        &publisher_bus,
                        &publisher_users,
                        Frame::from_event(event).map(|f| f.sent_at(*received_at)),
                    );
                }
            }),
        );
        let presence = Presence::new(hub.clone(), bus.clone());
        Ok(App {
            db,
            hub,
            bus,
            writer,
            passwords: Passwords::new(
                config.argon2_memory_kib,
                config.argon2_iterations,
                config.argon2_max_concurrent,
                std::time::Duration::from_millis(config.argon2_wait_ms),
            )?,
            auth: AuthCache::new(config.auth_cache_ms),
            slots: Slots::new(config.ws_max_per_user, config.ws_max_per_ip),
            typing: Arc::default(),
            presence,
            users,
            config: Arc::new(config),
        })
    }

    /// A committed event goes to every instance: the others through the bus, this one's
    /// sockets through the hub.
    pub fn publish(&self, frame: Result<Frame, FrameError>) {
        publish(&self.hub, &self.bus, &self.users, frame);
    }

    /// A summary frame for `user`'s streams (`/api/me/events`) on every instance; `interest`
    /// says which room they now follow or stop following. A frame that cannot be encoded is
    /// a bug: logged, not sent.
    pub fn notify_user(
        &self,
        user: UserId,
        interest: Interest,
        frame: Result<ByteString, serde_json::Error>,
    ) {
        match frame {
            Ok(frame) => {
                self.users.deliver(user, interest, &frame);
                self.bus.publish_user(&UserNote {
                    user,
                    interest,
                    frame,
                });
            }
            Err(e) => tracing::error!(error = %e, "summary frame not sent"),
        }
    }
}

impl App {
    /// `user`'s read marker of `room` moved: `read.updated` on their summary streams, on every
    /// instance (the hook for PUT /api/rooms/{id}/read).
    pub fn notify_read(&self, user: UserId, room: RoomId, last_read_seq: Seq, unread: i64) {
        self.notify_user(
            user,
            Interest::Same,
            crate::realtime::users::read_updated(room, last_read_seq, unread),
        );
    }
}

fn publish(hub: &Hub, bus: &Bus, users: &UserStreams, frame: Result<Frame, FrameError>) {
    match frame {
        Ok(frame) => {
            bus.publish_event(frame.room_id, frame.seq, frame.terminal, &frame.json);
            if !frame.terminal {
                // The members' summary streams: here, and (one small message) elsewhere.
                users.activity(frame.room_id, frame.seq);
                bus.publish_activity(frame.room_id, frame.seq);
            }
            hub.offer(Arc::new(frame));
        }
        // Logged by the hub; the sockets read the event from the store and fail there too.
        Err(e) => hub.publish(Err(e)),
    }
}

/// How the hub fills a gap: the stored events, a page at a time.
fn backfill(db: Db) -> Backfill {
    Arc::new(move |room, after, through| {
        let db = db.clone();
        Box::pin(async move {
            let page = events::after(&db, room, after, Some(through.next()), REPAIR_PAGE)
                .await
                .map_err(|e| e.to_string())?;
            page.iter()
                .map(|e| Frame::from_event(e).map_err(|e| e.to_string()))
                .collect()
        })
    })
}
