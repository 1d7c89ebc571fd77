"""Shared test settings: few threads (2-core CI), deterministic torch, one Ray instance per session."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ray_local():
    """ONE local Ray instance (2 CPUs) shared by every Ray test of the pytest session.

    ``ray.init`` costs ~5-15 s here; ``ganarena train``/``sweep`` called in-process find it
    initialised and join it. Shut down when the session ends. Yields the cluster's resources.
    """
    import ray

    from pipeline.rayctl import init_ray

    resources = init_ray(num_cpus=2)
    yield resources
    ray.shutdown()
