"""Customer groups (客群): a safe rule language over tags, segment definitions, daily membership
snapshots, maker-checker, and journey tracks (旅程). See docs/segments.md."""
