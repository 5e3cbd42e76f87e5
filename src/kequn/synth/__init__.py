"""synth capability."""
