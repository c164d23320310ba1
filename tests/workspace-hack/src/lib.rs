//! Managed by cargo-hakari: this crate has no code. Its dependency lists pin one feature set
//! for the dependencies the workspace shares (see `.config/hakari.toml`).
