//! Python bindings for [`crate::csv`]: one call per batch, bytes per file.
//!
//! The records' bytes are borrowed (no copy) and encoded with the GIL
//! released; Python objects are made only per output file and per skipped
//! kind, never per row.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::csv::encode_records_in;

/// Arenas above this size are not kept for the next batch.
const KEEP_ARENA_BYTES: usize = 64 << 20;

thread_local! {
    /// The row arena of the last batch on this thread: batches are alike in
    /// size, so reusing it spares allocating and faulting in fresh pages each call.
    static ARENA: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// What one `encode_records` call produced; see `_native.pyi`.
#[pyclass(frozen, module = "binance_streamer._native")]
pub struct EncodeResult {
    /// `[(path, kind, data), ...]`: rows (no header) per file, files in first-appearance order.
    #[pyo3(get)]
    files: Py<PyList>,
    /// `{kind: rows written}`.
    #[pyo3(get)]
    rows: Py<PyDict>,
    /// `{kind: (count, first sample, reason)}` for records that gave no rows.
    #[pyo3(get)]
    skipped: Py<PyDict>,
}

#[pymethods]
impl EncodeResult {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let rows: u64 = self
            .rows
            .bind(py)
            .values()
            .iter()
            .map(|v| v.extract::<u64>())
            .sum::<PyResult<u64>>()?;
        let mut skipped = 0u64;
        for v in self.skipped.bind(py).values().iter() {
            skipped += v.get_item(0)?.extract::<u64>()?;
        }
        Ok(format!(
            "EncodeResult(files={}, rows={rows}, skipped={skipped})",
            self.files.bind(py).len()
        ))
    }
}

/// Encode a batch of ring records into CSV rows grouped per output file.
#[pyfunction]
#[pyo3(signature = (records, symbols, keep_all_klines = false))]
fn encode_records(
    py: Python<'_>,
    records: &Bound<'_, PyAny>,
    symbols: Vec<String>,
    keep_all_klines: bool,
) -> PyResult<EncodeResult> {
    // Holding the objects keeps their bytes alive (and immutable) while the GIL is released.
    let mut held: Vec<Bound<'_, PyBytes>> = Vec::new();
    for (i, item) in records.try_iter()?.enumerate() {
        let item = item?;
        match item.cast_into::<PyBytes>() {
            Ok(b) => held.push(b),
            Err(e) => {
                let name = e.into_inner().get_type().name()?;
                return Err(PyTypeError::new_err(format!(
                    "records[{i}] must be bytes, not {name}"
                )));
            }
        }
    }
    let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let arena = ARENA.take();
    let encoded = py
        .detach(|| encode_records_in(arena, &slices, &names, keep_all_klines))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;

    let files = PyList::empty(py);
    for f in &encoded.files {
        let data = match &f.chunks[..] {
            [one] => PyBytes::new(py, &encoded.data[one.clone()]),
            _ => PyBytes::new_with(py, f.len, |buf| {
                let mut at = 0;
                for piece in encoded.pieces(f) {
                    buf[at..at + piece.len()].copy_from_slice(piece);
                    at += piece.len();
                }
                Ok(())
            })?,
        };
        files.append((f.path.as_str(), f.kind.name(), data))?;
    }
    let rows = PyDict::new(py);
    for (kind, n) in &encoded.rows {
        rows.set_item(kind.name(), n)?;
    }
    let skipped = PyDict::new(py);
    for s in &encoded.skipped {
        let sample = PyBytes::new(py, &s.sample);
        skipped.set_item(s.kind, (s.count, sample, s.reason.as_str()))?;
    }
    if encoded.data.capacity() <= KEEP_ARENA_BYTES {
        ARENA.set(encoded.data);
    }
    Ok(EncodeResult {
        files: files.unbind(),
        rows: rows.unbind(),
        skipped: skipped.unbind(),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EncodeResult>()?;
    m.add_function(wrap_pyfunction!(encode_records, m)?)?;
    Ok(())
}
