"""``GET /fapi/v1/exchangeInfo`` for the simulated symbols, in the 2026 response shape.

Only the fields a collector uses carry meaning (``symbol``, ``status``,
``contractType``, PRICE_FILTER ``tickSize``, LOT_SIZE ``stepSize``,
``rateLimits``); the rest are present with plausible values so that a strict
parser sees the same keys and JSON types as from the exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .instruments import Instrument

__all__ = ["exchange_info"]

_PERPETUAL_DELIVERY_MS = 4133404800000  # what the exchange reports for perpetuals
_ONBOARD_MS = 1569398400000


def _symbol_entry(ins: Instrument) -> dict[str, Any]:
    max_price = ins.price_text(ins.start_price_units * 50)
    min_price = ins.price_text(ins.tick_units)
    return {
        "symbol": ins.symbol,
        "pair": ins.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": _PERPETUAL_DELIVERY_MS,
        "onboardDate": _ONBOARD_MS,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": ins.base_asset,
        "quoteAsset": ins.quote_asset,
        "marginAsset": ins.quote_asset,
        "pricePrecision": ins.price_decimals,
        "quantityPrecision": ins.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["Simulated"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "maxPrice": max_price,
                "tickSize": ins.tick_size,
                "filterType": "PRICE_FILTER",
                "minPrice": min_price,
            },
            {
                "stepSize": ins.step_size,
                "minQty": ins.step_size,
                "maxQty": "1000000",
                "filterType": "LOT_SIZE",
            },
            {
                "minQty": ins.step_size,
                "maxQty": "100000",
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": ins.step_size,
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"notional": "5", "filterType": "MIN_NOTIONAL"},
            {
                "multiplierDown": "0.9500",
                "multiplierUp": "1.0500",
                "multiplierDecimal": "4",
                "filterType": "PERCENT_PRICE",
            },
            {"filterType": "POSITION_RISK_CONTROL", "positionControlSide": "NONE"},
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY", "DCA", "PSB"],
    }


def exchange_info(
    instruments: Iterable[Instrument], server_time_ms: int, weight_limit: int
) -> dict[str, Any]:
    entries = [_symbol_entry(ins) for ins in instruments]
    quotes = sorted({e["quoteAsset"] for e in entries})
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"} for q in quotes],
        "symbols": entries,
    }
