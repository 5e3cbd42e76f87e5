"""adapters capability."""
