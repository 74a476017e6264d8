"""The credit-default example system: feature code (``features``) and training code (``train``)."""
