"""nbpipe."""
