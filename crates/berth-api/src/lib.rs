//! The Docker Engine API server of Berth (API versions 1.24 – 1.45).
//!
//! `berthd` binds the unix socket(s) and hands each listener to [`serve`]. Every
//! request flows through the same steps:
//!
//! 1. [`router`] strips the optional `/v1.NN` prefix (checked by [`version`]) and maps the
//!    method and path to a [`router::Route`];
//! 2. the handler in [`handlers`] parses the query ([`query`]) and body, calls one
//!    [`Backend`] method and turns the result into JSON, a stream ([`body`]) or a
//!    hijacked connection ([`hijack`], [`conn`] for clients that hijack without
//!    asking to upgrade);
//! 3. errors of any kind become Docker's `{"message": …}` body with the status chosen
//!    in one place ([`error`]), and [`server`] adds the headers Docker sends on every
//!    response (`Api-Version`, `Ostype`, `Server`, …).
//!
//! Version-specific differences of the JSON shapes live in [`compat`] only.
//!
//! [`Backend`] is the seam to the engine: `berthd` serves `berth_engine::Engine`
//! through [`EngineBackend`] (feature `engine`, on by default); the tests also drive the
//! HTTP layer with an in-memory backend. Operations added after the first set have
//! default bodies answering `501 … not supported yet`.

pub mod backend;
pub mod body;
pub mod compat;
pub mod conn;
#[cfg(feature = "engine")]
pub mod engine;
pub mod error;
pub mod handlers;
pub mod hijack;
pub mod metrics;
pub mod query;
pub mod router;
pub mod server;
pub mod tcp;
pub mod version;

pub use backend::Backend;
#[cfg(feature = "engine")]
pub use engine::EngineBackend;
pub use error::ApiError;
pub use metrics::serve_metrics;
pub use server::{serve, serve_connection, Api, DaemonConfig, Reloadable};
pub use tcp::{serve_tcp, TlsFiles};
