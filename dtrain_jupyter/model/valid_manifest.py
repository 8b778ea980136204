"""A job manifest that validation has accepted: what a backend reads without checking it again.

The service validates every manifest before a backend sees it (`JobService.create`) and hands the
backend a `ValidManifest`. A backend reads one as `validation.py` guarantees it: a known kind,
a DNS-1035 name, every replica spec a mapping of a known role with a whole-number count, a known
restartPolicy and a pod template with containers, commands that are lists of strings, GPU counts
that are whole numbers of ASCII digits and never negative, template labels and annotations that
are maps of strings to strings, every `valueFrom` and `envFrom` entry naming exactly one source,
an MPIJob's Launcher, and so on. A backend that is handed a plain dict
(a test or a script calling it directly) passes it through `valid_manifest` first, so there is
one check and one kind of error whichever way a manifest arrives.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import InvalidJob
from .kinds import Framework, lookup
from .validation import validate_manifest

__all__ = ["ValidManifest", "valid_manifest"]


class ValidManifest(dict):
    """A manifest dict that passed `validation.validate_manifest`, with the Framework of its kind.

    Still a plain mapping to everything that reads it (JSON, deep copies, YAML); `framework` saves
    each reader the lookup. Code that changes a field after validation (the service fills in the
    namespace) is responsible for the value it writes.
    """

    def __init__(self, manifest: Mapping[str, Any], framework: Framework) -> None:
        super().__init__(manifest)
        self.framework = framework


def valid_manifest(manifest: Any) -> ValidManifest:
    """The manifest as a ValidManifest: one already validated passes through, anything else is validated now.

    Raises:
        InvalidJob: with every issue and its field path, as `validation.validate_manifest` finds them.
    """
    if isinstance(manifest, ValidManifest):
        return manifest
    issues = validate_manifest(manifest)
    if issues:
        raise InvalidJob(issues)
    framework = lookup(manifest["apiVersion"], manifest["kind"])
    assert framework is not None  # validation identified the kind
    return ValidManifest(manifest, framework)
