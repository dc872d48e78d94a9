"""Fake providers on 127.0.0.1 that speak the real protocols: APNs (HTTP/2 over TLS) and FCM
HTTP v1 with its OAuth token endpoint. Each is a class with `start()`, `stop()`, the `requests`
it received, and answers configurable per device token."""
