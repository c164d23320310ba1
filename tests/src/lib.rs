//! Shared helpers for ossa's integration tests (see `tests/`).
