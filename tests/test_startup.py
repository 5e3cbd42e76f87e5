"""`kequn --help` must start fast: no heavy library is imported by the CLI's start-up path."""

import subprocess
import sys


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from kequn.cli.main import app; "
        "heavy = {'duckdb','pandas','pyarrow','ibis','sqlalchemy','numpy','pyspark','lightgbm','sklearn'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
