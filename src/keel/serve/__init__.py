"""Serving: `keel serve`, request validation, the prediction log, canary and rollback."""
