"""quality capability."""
