"""Per-symbol contract facts: tick size, step size, starting price, decimal text.

Prices and quantities are held as integers in units of ``10**-decimals`` so that
book arithmetic and volume sums are exact, and the text sent on the wire has the
same number of decimals as the real exchange (``"83091.70"``, ``"0.022"``,
``"813"``, zero as ``"0.000"``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

__all__ = ["Instrument", "decimal_text", "instrument_for"]


def decimal_text(units: int, decimals: int) -> str:
    """Render ``units * 10**-decimals`` with exactly ``decimals`` digits after the point."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def _parse_size(text: str) -> tuple[int, int]:
    """``"0.10"`` -> (10, 2): the size in units of the text's own decimals."""
    if "." in text:
        whole, frac = text.split(".")
        return int(whole + frac), len(frac)
    return int(text), 0


@dataclass(frozen=True)
class Instrument:
    """A USDⓈ-M perpetual as the simulator trades it.

    ``tick_size``/``step_size`` keep the exchange's own text (``"0.10"`` has two
    decimals and so do BTCUSDT prices), which is why they are strings.
    """

    symbol: str
    tick_size: str
    step_size: str
    start_price: str
    base_asset: str
    quote_asset: str = "USDT"
    tick_units: int = field(init=False)
    price_decimals: int = field(init=False)
    step_units: int = field(init=False)
    qty_decimals: int = field(init=False)
    # Prices repeat constantly; formatting each once keeps the send path cheap.
    _price_texts: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tick_units, price_decimals = _parse_size(self.tick_size)
        step_units, qty_decimals = _parse_size(self.step_size)
        if tick_units <= 0 or step_units <= 0:
            raise ValueError(f"{self.symbol}: tick and step sizes must be positive")
        object.__setattr__(self, "tick_units", tick_units)
        object.__setattr__(self, "price_decimals", price_decimals)
        object.__setattr__(self, "step_units", step_units)
        object.__setattr__(self, "qty_decimals", qty_decimals)
        object.__setattr__(self, "_price_texts", {})

    @property
    def start_price_units(self) -> int:
        units, decimals = _parse_size(self.start_price)
        scaled = units * 10 ** (self.price_decimals - decimals)
        return max(self.tick_units, scaled - scaled % self.tick_units)

    def price_text(self, units: int) -> str:
        text = self._price_texts.get(units)
        if text is None:
            if len(self._price_texts) > 100_000:
                self._price_texts.clear()
            text = self._price_texts[units] = decimal_text(units, self.price_decimals)
        return text

    def qty_text(self, units: int) -> str:
        return decimal_text(units, self.qty_decimals)

    def quote_text(self, units: int) -> str:
        """Quote volume (price x qty): its decimals are the sum, as on the exchange."""
        return decimal_text(units, self.price_decimals + self.qty_decimals)


# Tick/step text as exchangeInfo reports them; start prices are only plausible.
_KNOWN: dict[str, tuple[str, str, str]] = {
    "BTCUSDT": ("0.10", "0.001", "83000.00"),
    "ETHUSDT": ("0.01", "0.001", "4000.00"),
    "BNBUSDT": ("0.010", "0.01", "600.000"),
    "SOLUSDT": ("0.0100", "0.01", "180.0000"),
    "XRPUSDT": ("0.0001", "0.1", "2.5000"),
    "DOGEUSDT": ("0.000010", "1", "0.200000"),
    "ADAUSDT": ("0.00010", "1", "0.70000"),
    "LINKUSDT": ("0.001", "0.01", "20.000"),
    "LTCUSDT": ("0.01", "0.001", "90.00"),
    "SUSHIUSDT": ("0.0010", "1", "1.0000"),
    "1000SHIBUSDT": ("0.000001", "1", "0.015000"),
    "XAUUSDT": ("0.01", "0.001", "2600.00"),
}

# For any other name: one of these shapes, picked by a stable hash of the name.
_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("0.0001", "0.1", "3.0000"),
    ("0.001", "0.01", "25.000"),
    ("0.01", "0.001", "150.00"),
    ("0.000010", "1", "0.400000"),
)


def _base_asset(symbol: str) -> str:
    for quote in ("USDT", "USDC", "BUSD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def instrument_for(symbol: str) -> Instrument:
    """The contract for ``symbol``; unknown names get a deterministic plausible shape."""
    tick, step, price = _KNOWN.get(symbol) or _TEMPLATES[zlib.crc32(symbol.encode()) % len(_TEMPLATES)]
    quote = "USDT" if symbol.endswith("USDT") else "USDC" if symbol.endswith("USDC") else "USDT"
    return Instrument(symbol, tick, step, price, _base_asset(symbol), quote)
