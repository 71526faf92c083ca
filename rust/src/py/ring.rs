//! Python bindings for [`crate::ring`].
//!
//! abi3 has no buffer protocol, so Rust maps the segment itself by name; the
//! Python side never hands memory across.

use std::time::{Duration, Instant};

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError,
    PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyType};

use crate::ring::{self as core, RingError};

/// How long one GIL-free wait slice lasts before Python signal handlers
/// (Ctrl-C) get a chance to run.
const WAIT_SLICE: Duration = Duration::from_millis(100);

fn to_py(err: RingError) -> PyErr {
    let msg = err.to_string();
    match err {
        RingError::Io(_, e) => match e.kind() {
            std::io::ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        RingError::Invalid(_) => PyValueError::new_err(msg),
        RingError::Corrupt(_) => PyRuntimeError::new_err(msg),
    }
}

fn as_record<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        let kind = item
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        PyTypeError::new_err(format!("record must be bytes, not {kind}"))
    })
}

fn positive(value: i64, what: &str) -> PyResult<u64> {
    u64::try_from(value)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be at least 1, got {value}")))
}

/// A non-negative number of seconds (infinity: no limit).
fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    if value.is_nan() || value < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, got {value}"
        )));
    }
    Ok(Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX))
}

/// A single-producer single-consumer ring of byte records in shared memory.
#[pyclass(name = "Ring", module = "binance_streamer._native")]
pub struct Ring {
    inner: core::Ring,
}

#[pymethods]
impl Ring {
    #[classmethod]
    fn create(_cls: &Bound<'_, PyType>, name: &str, capacity_bytes: i64) -> PyResult<Self> {
        let capacity = u64::try_from(capacity_bytes)
            .map_err(|_| to_py(core::capacity_error(capacity_bytes)))?;
        let inner = core::Ring::create(name, capacity).map_err(to_py)?;
        Ok(Ring { inner })
    }

    #[classmethod]
    fn attach(_cls: &Bound<'_, PyType>, name: &str) -> PyResult<Self> {
        let inner = core::Ring::attach(name).map_err(to_py)?;
        Ok(Ring { inner })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }

    #[getter]
    fn max_record(&self) -> u64 {
        self.inner.max_record()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn unlink(&self) -> PyResult<()> {
        self.inner.unlink().map_err(to_py)
    }

    fn try_push(&mut self, record: &Bound<'_, PyAny>) -> PyResult<bool> {
        let record = as_record(record)?;
        self.inner.try_push(record.as_bytes()).map_err(to_py)
    }

    fn push_batch(&mut self, records: &Bound<'_, PyAny>) -> PyResult<u64> {
        let mut batch = self.inner.push_batch().map_err(to_py)?;
        for item in records.try_iter()? {
            let item = item?;
            if !batch.push(as_record(&item)?.as_bytes()).map_err(to_py)? {
                break;
            }
        }
        Ok(batch.publish())
    }

    #[pyo3(
        signature = (max_records = core::DEFAULT_MAX_RECORDS as i64, max_bytes = core::DEFAULT_MAX_BYTES as i64),
        text_signature = "(self, /, max_records=4096, max_bytes=4194304)"
    )]
    fn peek_batch<'py>(
        &mut self,
        py: Python<'py>,
        max_records: i64,
        max_bytes: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let max_records = positive(max_records, "max_records")?;
        let max_bytes = positive(max_bytes, "max_bytes")?;
        let mut records = Vec::new();
        self.inner
            .peek(
                usize::try_from(max_records).unwrap_or(usize::MAX),
                max_bytes,
                |r| records.push(PyBytes::new(py, r)),
            )
            .map_err(to_py)?;
        PyList::new(py, records)
    }

    #[pyo3(
        signature = (max_records = core::DEFAULT_MAX_RECORDS as i64, max_bytes = core::DEFAULT_MAX_BYTES as i64),
        text_signature = "(self, /, max_records=4096, max_bytes=4194304)"
    )]
    fn pop_batch<'py>(
        &mut self,
        py: Python<'py>,
        max_records: i64,
        max_bytes: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let records = self.peek_batch(py, max_records, max_bytes)?;
        self.inner.commit().map_err(to_py)?;
        Ok(records)
    }

    fn commit(&mut self) -> PyResult<u64> {
        self.inner.commit().map_err(to_py)
    }

    #[pyo3(
        signature = (timeout, spin = core::DEFAULT_SPIN.as_secs_f64()),
        text_signature = "(self, /, timeout, spin=5e-05)"
    )]
    fn wait(&self, py: Python<'_>, timeout: f64, spin: f64) -> PyResult<bool> {
        let timeout = seconds(timeout, "timeout")?;
        let spin = seconds(spin, "spin")?;
        let start = Instant::now();
        loop {
            let elapsed = start.elapsed();
            let slice = WAIT_SLICE.min(timeout.saturating_sub(elapsed));
            let spin = spin.saturating_sub(elapsed);
            if py.detach(|| self.inner.wait(slice, spin)).map_err(to_py)? {
                return Ok(true);
            }
            if start.elapsed() >= timeout {
                return Ok(false);
            }
            py.check_signals()?;
        }
    }

    #[getter]
    fn used_bytes(&self) -> PyResult<u64> {
        Ok(self.inner.stats().map_err(to_py)?.used_bytes)
    }

    #[getter]
    fn fill_ratio(&self) -> PyResult<f64> {
        let stats = self.inner.stats().map_err(to_py)?;
        Ok(stats.used_bytes as f64 / stats.capacity as f64)
    }

    #[getter]
    fn read_position(&self) -> PyResult<u64> {
        self.inner.read_position().map_err(to_py)
    }

    #[getter]
    fn committed_position(&self) -> PyResult<u64> {
        self.inner.committed_position().map_err(to_py)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats().map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("capacity", s.capacity)?;
        d.set_item("used_bytes", s.used_bytes)?;
        d.set_item("fill_ratio", s.used_bytes as f64 / s.capacity as f64)?;
        d.set_item("high_water", s.high_water)?;
        d.set_item("pushed", s.pushed)?;
        d.set_item("popped", s.popped)?;
        d.set_item("full_events", s.full_events)?;
        d.set_item("bytes_pushed", s.bytes_pushed)?;
        d.set_item("bytes_popped", s.bytes_popped)?;
        d.set_item("head", s.head)?;
        d.set_item("tail", s.tail)?;
        Ok(d)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        exc_type: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
        tb: &Bound<'_, PyAny>,
    ) -> bool {
        let _ = (exc_type, exc, tb);
        self.inner.close();
        false
    }

    /// Pickles as "attach by name", so a ring can be handed to a child process.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let attach = slf.get_type().getattr("attach")?;
        Ok((attach, (slf.borrow().inner.name().to_owned(),)))
    }

    fn __repr__(&self) -> String {
        format!(
            "Ring(name='{}', capacity={}{})",
            self.inner.name(),
            self.inner.capacity(),
            if self.inner.is_closed() {
                ", closed"
            } else {
                ""
            }
        )
    }
}

/// Remove segments left behind by killed runs; returns their names.
#[pyfunction]
fn cleanup_stale_segments() -> PyResult<Vec<String>> {
    core::cleanup_stale_segments().map_err(to_py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Ring>()?;
    m.add_function(wrap_pyfunction!(cleanup_stale_segments, m)?)?;
    Ok(())
}
