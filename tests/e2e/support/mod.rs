//! Everything the tests share: a real server per test, clients, sockets.

mod backend;
mod blocker;
mod bots;
#[allow(dead_code)] // the multi-instance tests: not used by tests/soak
mod cluster;
mod http;
mod load;
#[allow(dead_code)] // the e2e tests of stored data; not used by tests/soak
mod peek;
mod proxy;
mod server;
#[allow(dead_code)] // the examples' tools: used by tests/e2e/examples.rs, not by tests/soak
mod tools;
mod users;
mod ws;

pub use backend::{Backend, TestDb};
pub use blocker::WriteBlock;
pub use bots::{assert_token_shape, bearer_events, Bot};
#[allow(unused_imports)] // not used by tests/soak
pub use cluster::Cluster;
pub use http::{Client, Resp, SESSION_COOKIE};
pub use load::{send_until_acked, Acked, RetryPolicy};
#[allow(unused_imports)] // used by the soak checker (tests/soak)
pub use load::{send_until_acked_via, NotAcked};
#[allow(unused_imports)] // not used by tests/soak
pub use peek::texts;
pub use proxy::DbProxy;
pub use server::TestServer;
#[allow(unused_imports)] // used by the soak checker (tests/soak)
pub use server::TestServerBuilder;
#[allow(unused_imports)] // not used by the soak checker
pub use tools::tools;
pub use users::{id, seq, unique_username, User, PASSWORD};
pub use ws::{connect, kind, EventSocket, Incoming};
#[allow(unused_imports)] // used by the soak checker (tests/soak)
pub use ws::{Closed, ConnectError};

/// Runs each listed `async fn name(backend: Backend)` of the calling module
/// once per backend, as `<module>::sqlite::name` and `<module>::postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )+
        }
    };
}
