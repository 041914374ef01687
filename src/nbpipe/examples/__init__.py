"""The worked example: the NYC flights 2013 landing zone (needs the ``[demo]`` extra)."""
