"""The CLI's contract: --version, --help, one-line errors with the error's exit code, --json."""

from __future__ import annotations

import subprocess
import sys

from kequn import __version__
from kequn.cli.main import main
from kequn.errors import KequnError, LoadError, NotFoundError, ValidationError


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kequn {__version__}"


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "kequn", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "Usage" in out.stdout


def test_error_tree_carries_codes():
    assert ValidationError("x").http_status == 422 and ValidationError("x").exit_code == 2
    assert NotFoundError("x").http_status == 404
    assert issubclass(LoadError, ValidationError) and issubclass(LoadError, KequnError)
    assert KequnError("m", details=[{"a": 1}]).to_dict() == {"error": "kequn_error", "message": "m", "details": [{"a": 1}]}


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2


def test_typer_exit_code_is_returned():
    # `kequn rewards` with no sub-command shows help and exits 2 (usage), not 0
    assert main(["rewards", "no-such"]) == 2
