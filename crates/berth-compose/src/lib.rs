//! Compose for Berth: loads compose files into a normalized project model (merge of
//! several files, `.env` and `${VAR}` interpolation, profiles, validation against the
//! Compose specification), computes each service's config hash, plans what to create,
//! recreate, start, stop and remove, and carries the plan out through the Docker Engine
//! API with `berth-client` — the same API Docker Compose uses, so names and labels
//! follow Docker Compose v2 exactly.

pub mod convert;
pub mod dotenv;
pub mod error;
pub mod extends;
pub mod hash;
pub mod interp;
pub mod labels;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod plan;
pub mod run;
pub mod schema;
pub mod shellwords;
pub mod units;
pub mod yaml;

pub use error::{ComposeError, Result};
pub use load::{load, LoadOptions};
pub use model::{Project, Service};
