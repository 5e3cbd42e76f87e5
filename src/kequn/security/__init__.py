"""Security capability: masking of personal information (JR/T 0171-2020) for every page, API and log line."""
