"""Performance benchmarks of channel-agents: run ``python -m benchmarks`` (``make bench``)."""
