import sys
from pathlib import Path

import pytest

# tests/ holds helper modules (workflow_helpers) imported by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from workflow_helpers import SHARED_MNIST  # noqa: E402


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The full MNIST IDX files of the project's machines; the test is skipped without them."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"full MNIST not found at {SHARED_MNIST}")
    return SHARED_MNIST
