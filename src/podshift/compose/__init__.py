"""The target Compose project: its normalized model and the tools that run it."""

from podshift.compose.model import ComposeProject, PortBinding, Service, VolumeMount, load_project
from podshift.compose.provider import ComposeProvider, DockerComposeProvider, PodmanComposeProvider, provider_for

__all__ = [
    "ComposeProject",
    "ComposeProvider",
    "DockerComposeProvider",
    "PodmanComposeProvider",
    "PortBinding",
    "Service",
    "VolumeMount",
    "load_project",
    "provider_for",
]
