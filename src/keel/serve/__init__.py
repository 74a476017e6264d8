"""`keel serve`: registered models served with validation, a durable prediction log, canary
routing and rollback that follow the registry live."""
