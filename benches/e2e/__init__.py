"""End-to-end benchmark: the collector against the local simulator, native vs fallback.

``harness.run_once`` measures one rate; ``search`` walks a ladder of rates to the
highest one sustained with zero loss. ``benches/run.py`` drives both.
"""
