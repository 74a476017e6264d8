"""Data: reading sources, profiles, schema, comparisons and PII."""
