"""Typing stubs for the Rust extension ``binance_streamer._native``.

The pure-Python fallback (``binance_streamer.fallback``) exports the same names
with the same signatures.
"""

__version__: str

# --- order book (rust/src/book.rs) -------------------------------------------

# --- JSON-to-CSV batching (rust/src/csv.rs) ----------------------------------

# --- SPSC shared-memory ring (rust/src/ring.rs) ------------------------------
