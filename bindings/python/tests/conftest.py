"""pytest setup for the binding's tests.

The tests import the installed ``mediaflow`` (``pip install ./bindings/python``). When
none is installed they fall back to this source tree (which loads the library from the
repository's target/), except under ``MEDIAFLOW_EXPECT_INSTALLED=1`` (the test command):
then the installed package, with its bundled library, is required and checked.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1]
EXPECT_INSTALLED = os.environ.get("MEDIAFLOW_EXPECT_INSTALLED") == "1"

if not EXPECT_INSTALLED and importlib.util.find_spec("mediaflow") is None:
    sys.path.insert(0, str(SOURCE))


@pytest.fixture(autouse=True, scope="session")
def installed_package() -> None:
    """Under MEDIAFLOW_EXPECT_INSTALLED=1: the package and library are the installed ones."""
    if not EXPECT_INSTALLED:
        return
    import mediaflow

    path = Path(mediaflow.__file__).resolve()
    assert SOURCE not in path.parents, f"the tests imported the source tree ({path})"
    assert (path.parent / "libmediaflow_capi.so").is_file(), f"no bundled library beside {path}"
    assert "MEDIAFLOW_LIB" not in os.environ, "MEDIAFLOW_LIB must not be needed"
