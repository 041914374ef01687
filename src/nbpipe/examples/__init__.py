"""The worked example, NYC flights 2013 (needs the ``[demo]`` extra: ``pip install 'nbpipe[demo]'``).

- :mod:`nbpipe.examples.flights` lands the data as daily CSV drops (``land``).
- :mod:`nbpipe.examples.demo` lands it and runs every example pipeline (``run_demo``, ``nbpipe demo``).
"""
