"""What a build pays before it starts: the modules a run imports."""

from __future__ import annotations

import subprocess
import sys

SBOM_LIBRARIES = ("cyclonedx", "spdx_tools", "license_expression", "packageurl")


def test_the_command_line_imports_no_sbom_library_until_a_document_is_written() -> None:
    """They took ~0.9 s to import, against a hand-written build of ~0.8 s; a build that writes no
    SBOM never needs them."""
    code = (
        "import sys, buildahpy.__main__\n"
        f"print(' '.join(m for m in {SBOM_LIBRARIES!r} if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""


def test_writing_a_document_imports_them() -> None:
    """The lazy import is the one the SBOM writers use (the test above cannot pass vacuously)."""
    code = (
        "import sys\n"
        "from buildahpy.build import sbom_image\n"
        "from buildahpy.build import sbom\n"
        f"print(' '.join(m for m in {SBOM_LIBRARIES!r} if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "cyclonedx" in found.stdout.split()
