"""The runner side: one production run of one pipeline, from lock to record (the host process)."""
