//! Plain-Rust ring logic (no pyo3 here).
