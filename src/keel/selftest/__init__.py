"""`keel selftest`: each automated check proved on the user's own system by planted faults."""
