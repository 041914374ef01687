"""The Spark data plane behind ``ctx.read``, ``ctx.write`` and ``ctx.incremental`` (kernel side)."""
