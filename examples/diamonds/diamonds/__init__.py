"""The diamond-prices example system: feature code (``features``) and training code
(``train``)."""
