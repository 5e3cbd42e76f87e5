"""Pure domain core: types, specs and the canonical data model. No I/O, no database drivers."""
