"""The web tier: REST API, Socket.IO relay and dashboard; it never encodes and never waits."""
