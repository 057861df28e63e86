"""End-to-end throughput benchmark: `python -m bench --sizes 150,1000` (see docs/PERFORMANCE.md)."""
