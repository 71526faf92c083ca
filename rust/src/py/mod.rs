//! pyo3 bindings: one file per native part, each with a `register` function.

pub mod book;
pub mod csv;
pub mod ring;
