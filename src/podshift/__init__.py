"""podshift: move a Docker Compose application to Podman, and back, without losing a byte."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("podshift")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
