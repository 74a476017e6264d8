"""Serving: the HTTP server, request validation, canary routing and the prediction log."""
