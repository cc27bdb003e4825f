"""Benchmarks of a local ffcluster: web responsiveness under load, ladder cost, latency, memory."""
