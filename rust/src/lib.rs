//! binance_streamer's native core.
//!
//! `book`, `csv` and `ring` are plain Rust with no pyo3 in them (`json` is
//! the JSON lexer `book` and `csv` share), so `cargo test` exercises the
//! algorithms directly; `py` holds the thin bindings, and this file only
//! registers the module.

pub mod book;
pub mod csv;
pub mod json;
pub mod ring;

mod py;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py::book::register(m)?;
    py::csv::register(m)?;
    py::ring::register(m)?;
    Ok(())
}
