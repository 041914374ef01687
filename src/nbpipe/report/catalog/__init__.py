"""The static data catalog site's renderer (``nbpipe docs``): pages in :mod:`.site`, inline SVG in :mod:`.svg`."""
