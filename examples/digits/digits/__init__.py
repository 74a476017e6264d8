"""The handwritten-digits example system: feature code (``features``) and training code
(``train``)."""
