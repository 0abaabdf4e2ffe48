//! Berth's image store: content-addressed blobs, unpacked layers shared between images,
//! tags, Docker-compatible reference parsing, `import`, `commit`, `save`/`load`, and the
//! safe tar building blocks (`unpack`, `tar_dir`) other subsystems reuse.
//!
//! The engine holds one [`ImageStore`] per data root (it is internally synchronized) and
//! uses `import`, `resolve`, `list`, `tag`, `remove`, `layer_dirs`, `commit`, `save`,
//! `load`; pull and push will build on `add_layer`, `register`, `write_blob`.
//!
//! On-disk layout under `<data-root>/image`:
//! ```text
//! blobs/sha256/<hex>            image configs, verbatim (later also manifests)
//! images/sha256/<hex>.json      per-image metadata (parent)
//! layers/<chain hex>/diff/      an unpacked layer (overlay lower dir)
//! layers/<chain hex>/meta.json  {diff_id, chain_id, parent, size, tar_size, archive_*}
//! layers/<chain hex>/layer.tar.gz   the layer's original archive (for save/push);
//!                                   `layer.tar` for one made here and not pushed yet
//! repositories.json             tags and digests → image id (Docker's file format)
//! tmp/                          work dirs of imports/loads in progress (swept at open)
//! ```
//!
//! Module map: `reference` (names), `digest` (ids, chain ids), `config` (image JSON),
//! `changes` (Dockerfile change lines), `unpack`/`tardir`/`compression` (archives),
//! `layers`, `tags`, `store` (the API), `commit`, `archive` (save/load), `atomic`,
//! `error`.

pub mod archive;
pub mod atomic;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod config;
pub mod digest;
pub mod error;
pub mod layers;
pub mod pipe;
pub mod reference;
pub mod store;
pub mod tags;
pub mod tardir;
pub mod unpack;

pub use commit::CommitOptions;
pub use config::{ContainerConfig, ImageConfigFile};
pub use digest::ImageId;
pub use error::{ErrorKind, ImageError};
pub use reference::Reference;
pub use store::{ContainerUse, Image, ImageStore, LayerLease, RemovedItem};
pub use tardir::{tar_dir, tar_dir_with, TarOptions};
pub use unpack::{unpack, UnpackOptions, UnpackStats, WhiteoutMode};
