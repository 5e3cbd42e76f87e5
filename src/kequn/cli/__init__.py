"""The ``kequn`` command line (Typer). Commands translate arguments into service calls; nothing here
talks to a database driver directly."""
