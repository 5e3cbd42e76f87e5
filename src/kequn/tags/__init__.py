"""tags capability."""
