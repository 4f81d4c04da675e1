"""Container engines behind one interface: :class:`Runtime`."""

from podshift.runtimes.base import (
    HELPER_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    ContainerInfo,
    EngineInfo,
    ImageInfo,
    Mount,
    NetworkInfo,
    Runtime,
    VolumeInfo,
)
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime

__all__ = [
    "HELPER_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "ContainerInfo",
    "DockerRuntime",
    "EngineInfo",
    "ImageInfo",
    "Mount",
    "NetworkInfo",
    "PodmanRuntime",
    "Runtime",
    "VolumeInfo",
]
