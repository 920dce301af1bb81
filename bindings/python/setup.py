"""Build step of the mediaflow wheel: compiles the C ABI crate with cargo and puts
libmediaflow_capi.so inside the package, so ``import mediaflow`` needs no MEDIAFLOW_LIB.

Environment (all optional):
  MEDIAFLOW_CARGO_PROFILE  ``release`` (default) or ``debug`` (reuses a debug build)
  CARGO_BUILD_JOBS         parallel jobs for cargo (default 2)
  CARGO_TARGET_DIR         cargo's target directory (default: the repository's target/)
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).resolve().parents[2]
LIBRARY = "libmediaflow_capi.so"


def build_library() -> Path:
    """Runs cargo for the mediaflow-capi crate and returns the shared library's path."""
    if not (REPO / "Cargo.toml").exists() or not (REPO / "crates" / "capi").is_dir():
        raise RuntimeError(
            f"the mediaflow repository is not at {REPO}: install from a clone "
            "(pip install ./bindings/python), not from a copied sdist"
        )
    if shutil.which("cargo") is None:
        raise RuntimeError(
            "cargo not found; install Rust first: "
            "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
        )
    profile = os.environ.get("MEDIAFLOW_CARGO_PROFILE", "release")
    if profile not in ("release", "debug"):
        raise RuntimeError(f"MEDIAFLOW_CARGO_PROFILE must be release or debug, not {profile!r}")
    command = ["cargo", "build", "-j", os.environ.get("CARGO_BUILD_JOBS", "2"), "-p", "mediaflow-capi"]
    if profile == "release":
        command.append("--release")
    subprocess.run(command, cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    library = target / profile / LIBRARY
    if not library.exists():
        raise RuntimeError(f"cargo did not produce {library}")
    return library


class BuildPyWithLibrary(build_py):
    """build_py, then the shared library copied into the built package."""

    def run(self) -> None:
        super().run()
        destination = Path(self.build_lib) / "mediaflow" / LIBRARY
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build_library(), destination)


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for this platform, not py3-none-any."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
