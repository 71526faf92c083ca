"""Optional Prometheus endpoint (``monitoring.prometheus_port``), served by the
main process from the same merged figures as the status file."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator


def serve(port: int, status: Callable[[], Dict[str, Any]]) -> None:
    """Start the /metrics HTTP server (all interfaces, as scrapers expect);
    ``status()`` returns the latest merged status."""
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

    class _Collector:
        def collect(self) -> Iterator[Any]:
            st = status() or {}
            msgs = CounterMetricFamily(
                "binance_streamer_messages", "Frames received", labels=["symbol", "stream"]
            )
            rate = GaugeMetricFamily(
                "binance_streamer_message_rate", "Frames per second", labels=["symbol", "stream"]
            )
            age = GaugeMetricFamily(
                "binance_streamer_last_message_age_seconds",
                "Seconds since the last frame",
                labels=["symbol", "stream"],
            )
            gaps = CounterMetricFamily("binance_streamer_gaps", "Gaps recorded", labels=["symbol"])
            recon = CounterMetricFamily("binance_streamer_reconnects", "Reconnects", labels=["symbol"])
            for sym, info in st.get("symbols", {}).items():
                for name, s in info.get("streams", {}).items():
                    msgs.add_metric([sym, name], s.get("messages", 0))
                    rate.add_metric([sym, name], s.get("rate", 0.0))
                    if s.get("last_age_s") is not None:
                        age.add_metric([sym, name], s["last_age_s"])
                gaps.add_metric([sym], info.get("gaps", 0))
                recon.add_metric([sym], info.get("reconnects", 0))
            yield from (msgs, rate, age, gaps, recon)
            fill = GaugeMetricFamily("binance_streamer_ring_fill_ratio", "Ring fill", labels=["ring"])
            hw = GaugeMetricFamily(
                "binance_streamer_ring_high_water_ratio", "Ring high-water mark", labels=["ring"]
            )
            for r in st.get("rings", []):
                fill.add_metric([r["name"]], r.get("fill", 0.0))
                hw.add_metric([r["name"]], r.get("high_water", 0.0))
            yield from (fill, hw)
            w = st.get("writer", {})
            yield GaugeMetricFamily(
                "binance_streamer_writer_batch_ms",
                "Last writer batch duration (ms)",
                value=w.get("last_batch_ms", 0.0),
            )
            yield GaugeMetricFamily(
                "binance_streamer_writer_lag_seconds", "Receive-to-disk lag", value=w.get("lag_s", 0.0)
            )
            yield CounterMetricFamily(
                "binance_streamer_malformed_frames", "Malformed frames skipped", value=w.get("malformed", 0)
            )
            rss = GaugeMetricFamily("binance_streamer_rss_bytes", "Resident memory", labels=["process"])
            for role, n in st.get("rss", {}).items():
                rss.add_metric([role], n)
            yield rss

    REGISTRY.register(_Collector())
    start_http_server(port)
