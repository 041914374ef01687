"""Rendering what runs left behind: the per-run HTML report and the health dashboard (runner side)."""
