//! Python bindings for [`crate::book`]: `OrderBook` and `depth_ids`.
//!
//! The byte-frame methods hand the frame to the Rust scanner as a borrowed
//! slice, so applying a diff creates no Python object per level; only the
//! result tuple is built. Every user error becomes a one-line ValueError
//! with the same text the pure-Python twin raises.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyList, PyString, PyTuple};

use crate::book::fixed::{self, Decimal, MAX_TEXT};
use crate::book::level::Level;
use crate::book::scan::{self, DiffIds, FieldError, ParseError, Part};
use crate::book::{OrderBook, Outcome, DEFAULT_MAX_BUFFERED};

const DIFF: &str = "depth update";
const SNAPSHOT: &str = "depth snapshot";

fn value_error(context: &str, e: &ParseError) -> PyErr {
    PyValueError::new_err(e.message(context))
}

fn field_error(context: &str, e: FieldError) -> PyErr {
    value_error(context, &ParseError::Field(e))
}

/// A Python int in 0..=u64::MAX (bool excluded, objects with `__index__`
/// accepted), as `operator.index` sees it in the fallback.
fn to_u64(value: &Bound<'_, PyAny>) -> Option<u64> {
    if value.is_instance_of::<PyBool>() {
        return None;
    }
    value.extract::<u64>().ok()
}

fn id_arg(value: &Bound<'_, PyAny>, name: &'static str) -> Result<u64, FieldError> {
    to_u64(value).ok_or(FieldError::NotU64(name))
}

fn count_arg(value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    to_u64(value)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| PyValueError::new_err(format!("{name} must be a non-negative integer")))
}

/// Declares a `usize` argument type that rejects what the fallback rejects
/// (negatives, bools, non-integers) with the fallback's ValueError.
macro_rules! count_type {
    ($ty:ident, $name:literal) => {
        struct $ty(usize);

        impl<'a, 'py> FromPyObject<'a, 'py> for $ty {
            type Error = PyErr;

            fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                count_arg(&obj, $name).map($ty)
            }
        }
    };
}

count_type!(MaxBuffered, "max_buffered");
count_type!(TopN, "n");

/// A list or tuple of `[price, qty]` string pairs, checked like a JSON
/// level list and appended to `out`.
fn levels_arg(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    out: &mut Vec<Level>,
) -> Result<(), FieldError> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(FieldError::NotList(field));
    };
    for (index, item) in items.iter().enumerate() {
        let pair: Vec<Bound<'_, PyAny>> = if let Ok(list) = item.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = item.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            return Err(FieldError::NotPair { field, index });
        };
        if pair.len() != 2 {
            return Err(FieldError::NotPair { field, index });
        }
        let mut values = [Decimal::default(); 2];
        for (k, part) in [Part::Price, Part::Quantity].into_iter().enumerate() {
            let text = pair[k]
                .cast::<PyString>()
                .map_err(|_| FieldError::NotString { field, index, part })?;
            // Strings that cannot be UTF-8 encoded (lone surrogates) are not
            // decimal text either.
            let parsed = match text.to_cow() {
                Ok(s) => fixed::parse(s.as_bytes()),
                Err(_) => Err(fixed::DecimalError::NotDecimal),
            };
            values[k] = parsed.map_err(|error| FieldError::BadDecimal {
                field,
                index,
                part,
                error,
            })?;
        }
        out.push(Level::new(values[0], values[1]));
    }
    Ok(())
}

fn outcome<'py>(py: Python<'py>, outcome: Outcome) -> PyResult<Bound<'py, PyTuple>> {
    let status = match outcome {
        Outcome::Applied { .. } => pyo3::intern!(py, "applied"),
        Outcome::Synced { .. } => pyo3::intern!(py, "synced"),
        Outcome::Stale { .. } => pyo3::intern!(py, "stale"),
        Outcome::Buffered { .. } => pyo3::intern!(py, "buffered"),
        Outcome::Gap { .. } => pyo3::intern!(py, "gap"),
        Outcome::Unbridged { .. } => pyo3::intern!(py, "unbridged"),
        Outcome::Loaded { .. } => pyo3::intern!(py, "loaded"),
    };
    let (last_id, next_id) = outcome.ids();
    (status.clone(), last_id, next_id).into_pyobject(py)
}

fn decimal_obj<'py>(py: Python<'py>, d: Decimal, as_float: bool) -> Bound<'py, PyAny> {
    if as_float {
        return PyFloat::new(py, fixed::to_f64(d)).into_any();
    }
    let mut buf = [0u8; MAX_TEXT];
    let len = fixed::write(d, &mut buf);
    let text = std::str::from_utf8(&buf[..len]).expect("decimal text is ASCII");
    PyString::new(py, text).into_any()
}

fn level_obj<'py>(py: Python<'py>, level: &Level, as_float: bool) -> PyResult<Bound<'py, PyTuple>> {
    (
        decimal_obj(py, level.price(), as_float),
        decimal_obj(py, level.qty(), as_float),
    )
        .into_pyobject(py)
}

fn text_obj<'py>(
    py: Python<'py>,
    text: Option<String>,
    as_float: bool,
) -> Option<Bound<'py, PyAny>> {
    let text = text?;
    Some(if as_float {
        PyFloat::new(py, text.parse().unwrap_or(f64::NAN)).into_any()
    } else {
        PyString::new(py, &text).into_any()
    })
}

/// Reads of at most this many levels reuse the tuples they returned last
/// time; a larger dump builds fresh objects rather than pin that many.
const CACHED_LEVELS: usize = 1000;

/// How far from its old position a cached level is looked for: a change
/// near the top shifts the levels below it by a place or two.
const SEARCH_WINDOW: usize = 8;

/// The `(price, qty)` tuples last returned for the top of one side, in one
/// output mode. Tuples and strings are immutable, so while a level is
/// unchanged the same object can be handed out again: after a typical diff
/// most of the top 10 is untouched, and a read-heavy caller (the orderbook
/// manager reads best and top 10 after every diff) then mostly gets
/// existing objects instead of new strings.
#[derive(Default)]
struct ReadCache {
    levels: Vec<(Level, Py<PyTuple>)>,
}

impl ReadCache {
    /// The cached tuple for `level`, looked for at `index` first (the usual
    /// place when nothing above it changed), then nearby.
    fn find(&self, index: usize, level: &Level) -> Option<&Py<PyTuple>> {
        if let Some((cached, obj)) = self.levels.get(index) {
            if cached == level {
                return Some(obj);
            }
        }
        let start = index.saturating_sub(SEARCH_WINDOW).min(self.levels.len());
        let end = (index + SEARCH_WINDOW + 1).min(self.levels.len());
        self.levels[start..end]
            .iter()
            .find(|(cached, _)| cached == level)
            .map(|(_, obj)| obj)
    }
}

/// Builds the top-`n` list (all levels if `None`) from `levels` (best
/// first), reusing and then refreshing the cache of that output mode.
fn top_list<'py, 'a>(
    py: Python<'py>,
    levels: impl ExactSizeIterator<Item = &'a Level>,
    n: Option<TopN>,
    as_float: bool,
    caches: &mut [ReadCache; 2],
) -> PyResult<Bound<'py, PyList>> {
    let n = n.map_or(usize::MAX, |n| n.0).min(levels.len());
    let cache = &mut caches[usize::from(as_float)];
    if n > CACHED_LEVELS {
        let items = levels
            .take(n)
            .map(|l| level_obj(py, l, as_float))
            .collect::<PyResult<Vec<_>>>()?;
        return PyList::new(py, items);
    }
    let mut fresh: Vec<(Level, Py<PyTuple>)> = Vec::with_capacity(n);
    for (index, level) in levels.take(n).enumerate() {
        let obj = match cache.find(index, level) {
            Some(obj) => obj.clone_ref(py),
            None => level_obj(py, level, as_float)?.unbind(),
        };
        fresh.push((*level, obj));
    }
    let list = PyList::new(py, fresh.iter().map(|(_, obj)| obj.bind(py)))?;
    cache.levels = fresh;
    Ok(list)
}

/// The best level's tuple, from the cache of that output mode when unchanged.
fn best_obj<'py>(
    py: Python<'py>,
    best: Option<&Level>,
    as_float: bool,
    caches: &[ReadCache; 2],
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let Some(level) = best else {
        return Ok(None);
    };
    match caches[usize::from(as_float)].levels.first() {
        Some((cached, obj)) if cached == level => Ok(Some(obj.bind(py).clone())),
        _ => level_obj(py, level, as_float).map(Some),
    }
}

/// The local order book of one symbol; see docs/orderbook.md.
#[pyclass(module = "binance_streamer._native", name = "OrderBook")]
pub struct PyOrderBook {
    book: OrderBook,
    /// `[bids, asks][as_float]`.
    reads: [[ReadCache; 2]; 2],
}

#[pymethods]
impl PyOrderBook {
    #[new]
    #[pyo3(
        signature = (max_buffered = MaxBuffered(DEFAULT_MAX_BUFFERED)),
        text_signature = "(max_buffered=1000)"
    )]
    fn new(max_buffered: MaxBuffered) -> Self {
        PyOrderBook {
            book: OrderBook::new(max_buffered.0),
            reads: Default::default(),
        }
    }

    fn apply_snapshot<'py>(
        &mut self,
        py: Python<'py>,
        last_update_id: &Bound<'py, PyAny>,
        bids: &Bound<'py, PyAny>,
        asks: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let last = id_arg(last_update_id, "lastUpdateId").map_err(|e| field_error(SNAPSHOT, e))?;
        let mut b = Vec::new();
        let mut a = Vec::new();
        levels_arg(bids, "bids", &mut b).map_err(|e| field_error(SNAPSHOT, e))?;
        levels_arg(asks, "asks", &mut a).map_err(|e| field_error(SNAPSHOT, e))?;
        outcome(py, self.book.apply_snapshot(last, &b, &a))
    }

    fn apply_snapshot_bytes<'py>(
        &mut self,
        py: Python<'py>,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let result = self
            .book
            .apply_snapshot_bytes(body)
            .map_err(|e| value_error(SNAPSHOT, &e))?;
        outcome(py, result)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_diff<'py>(
        &mut self,
        py: Python<'py>,
        first_update_id: &Bound<'py, PyAny>,
        final_update_id: &Bound<'py, PyAny>,
        prev_final_update_id: &Bound<'py, PyAny>,
        bids: &Bound<'py, PyAny>,
        asks: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let parsed = (|| {
            let ids = DiffIds {
                first: id_arg(first_update_id, "U")?,
                last: id_arg(final_update_id, "u")?,
                prev: id_arg(prev_final_update_id, "pu")?,
            };
            if ids.first > ids.last {
                return Err(FieldError::FirstAfterLast {
                    first: ids.first,
                    last: ids.last,
                });
            }
            let mut b = Vec::new();
            let mut a = Vec::new();
            levels_arg(bids, "b", &mut b)?;
            levels_arg(asks, "a", &mut a)?;
            Ok((ids, b, a))
        })();
        let (ids, b, a) = parsed.map_err(|e| field_error(DIFF, e))?;
        let result = self
            .book
            .apply_diff(ids, &b, &a)
            .map_err(|e| field_error(DIFF, e))?;
        outcome(py, result)
    }

    fn apply_diff_bytes<'py>(
        &mut self,
        py: Python<'py>,
        frame: &[u8],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let result = self
            .book
            .apply_diff_bytes(frame)
            .map_err(|e| value_error(DIFF, &e))?;
        outcome(py, result)
    }

    fn invalidate(&mut self) {
        self.book.invalidate();
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.book.state().name()
    }

    #[getter]
    fn synced(&self) -> bool {
        self.book.is_synced()
    }

    #[getter]
    fn last_update_id(&self) -> Option<u64> {
        self.book.last_update_id()
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.book.buffered()
    }

    #[getter]
    fn max_buffered(&self) -> usize {
        self.book.max_buffered()
    }

    #[getter]
    fn bid_count(&self) -> usize {
        self.book.bids().len()
    }

    #[getter]
    fn ask_count(&self) -> usize {
        self.book.asks().len()
    }

    #[pyo3(signature = (as_float = false))]
    fn best_bid<'py>(
        &self,
        py: Python<'py>,
        as_float: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        best_obj(py, self.book.bids().best(), as_float, &self.reads[0])
    }

    #[pyo3(signature = (as_float = false))]
    fn best_ask<'py>(
        &self,
        py: Python<'py>,
        as_float: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        best_obj(py, self.book.asks().best(), as_float, &self.reads[1])
    }

    #[pyo3(signature = (n = None, as_float = false))]
    fn bids<'py>(
        &mut self,
        py: Python<'py>,
        n: Option<TopN>,
        as_float: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        top_list(py, self.book.bids().iter(), n, as_float, &mut self.reads[0])
    }

    #[pyo3(signature = (n = None, as_float = false))]
    fn asks<'py>(
        &mut self,
        py: Python<'py>,
        n: Option<TopN>,
        as_float: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        top_list(py, self.book.asks().iter(), n, as_float, &mut self.reads[1])
    }

    #[pyo3(signature = (as_float = false))]
    fn mid<'py>(&self, py: Python<'py>, as_float: bool) -> Option<Bound<'py, PyAny>> {
        text_obj(py, self.book.mid_text(), as_float)
    }

    #[pyo3(signature = (as_float = false))]
    fn spread<'py>(&self, py: Python<'py>, as_float: bool) -> Option<Bound<'py, PyAny>> {
        text_obj(py, self.book.spread_text(), as_float)
    }

    #[pyo3(signature = (n = TopN(10)), text_signature = "(self, /, n=10)")]
    fn checksum(&self, n: TopN) -> u64 {
        self.book.checksum(n.0)
    }

    fn __repr__(&self) -> String {
        let last = self
            .book
            .last_update_id()
            .map_or("None".to_string(), |v| v.to_string());
        format!(
            "OrderBook(state='{}', last_update_id={}, bids={}, asks={}, buffered={})",
            self.book.state().name(),
            last,
            self.book.bids().len(),
            self.book.asks().len(),
            self.book.buffered()
        )
    }
}

/// `(U, u, pu)` of a depthUpdate frame (bare or combined), after the same
/// full check `OrderBook.apply_diff_bytes` makes, so a frame this accepts is
/// one the book accepts.
#[pyfunction]
fn depth_ids(frame: &[u8]) -> PyResult<(u64, u64, u64)> {
    let parsed = scan::parse_diff(frame, None).map_err(|e| value_error(DIFF, &e))?;
    Ok((parsed.ids.first, parsed.ids.last, parsed.ids.prev))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrderBook>()?;
    m.add_function(wrap_pyfunction!(depth_ids, m)?)?;
    Ok(())
}
