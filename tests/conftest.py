import pytest

from support import Init


@pytest.fixture
def start_init(tmp_path):
    """Factory: start_init(args, pid1=True, env=None) -> a running Init; all are killed after."""
    started = []

    def start(args, **kwargs):
        init = Init(tmp_path, args, **kwargs)
        started.append(init)
        return init

    yield start
    for init in started:
        init.cleanup()
