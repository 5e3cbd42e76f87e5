"""Orchestration: thin use cases the interfaces (CLI, API, console) call — users, console read models,
exports, the customer 360."""
