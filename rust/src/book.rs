//! Plain-Rust book logic (no pyo3 here).
