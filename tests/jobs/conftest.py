import uuid

import pytest
from jobhelpers import Env


@pytest.fixture
def env(tmp_path):
    e = Env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    yield e
    e.close()


@pytest.fixture
def name():
    return f"job-{uuid.uuid4().hex[:8]}"
