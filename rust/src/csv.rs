//! Plain-Rust csv logic (no pyo3 here).
