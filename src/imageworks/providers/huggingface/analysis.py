"""``analyze``: what a Hub repository holds, without downloading weights.

Reads the repository metadata and, when present, the small ``config.json`` (so AWQ,
GPTQ, FP8 and friends are recognised from their ``quantization_config``), then runs the
detectors on names and config together. The memory estimate's facts come from the
weight files' headers alone (:mod:`.remote_headers`).
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from imageworks.core.detection import FormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Detector
from imageworks.core.memory_facts import HeaderFacts
from imageworks.core.model import Detection
from imageworks.core.plans import RemoteFileFact, SourceAnalysis
from imageworks.providers.huggingface.hub_api import HubClient
from imageworks.providers.huggingface.hub_errors import HubHTTPError
from imageworks.providers.huggingface.hub_token import hub_token
from imageworks.providers.huggingface.metadata import RepoSnapshot, fetch_snapshot, resolve_url
from imageworks.providers.huggingface.refs import ModelRef, parse_model_ref
from imageworks.providers.huggingface.remote_headers import remote_memory
from imageworks.providers.huggingface.selection import container_of, gguf_groups, quant_label

log = logging.getLogger("imageworks.huggingface")
CONFIG_LIMIT = 1024 * 1024


@attrs.frozen
class Analysis:
    """A repository's formats, quantisations and sizes."""

    ref: ModelRef
    snapshot: RepoSnapshot
    formats: tuple[Detection, ...]
    gguf_quants: dict[str, tuple[str, ...]]  # quant -> its files, split parts together
    memory: tuple[HeaderFacts, ...] = ()

    @property
    def total_size(self) -> int:
        """Bytes of every file in the repository."""
        return self.snapshot.total_size

    def as_source_analysis(self) -> SourceAnalysis:
        """The source-neutral form the ``analyze`` command prints."""
        return SourceAnalysis(
            display=self.ref.display,
            revision=self.snapshot.commit,
            gated=bool(self.snapshot.gated),
            files=tuple(RemoteFileFact(path=f.path, size=f.size, sha256=f.sha256, weight=container_of(f.path) is not None)
                        for f in self.snapshot.files),
            formats=self.formats,
            quant_files=self.gguf_quants,
            details={"repo_id": self.ref.repo_id, "revision": self.ref.revision},
            memory=self.memory,
        )

    def as_json(self, with_files: bool = False) -> dict[str, Any]:
        """Plain data for ``analyze --json``."""
        return self.as_source_analysis().as_json(with_files)


def fetch_config_text(client: HubClient, snapshot: RepoSnapshot) -> str | None:
    """The repo's config.json text when it is small, else None (never fatal)."""
    config = snapshot.file("config.json")
    if config is None or config.size > CONFIG_LIMIT:
        return None
    try:
        answer = client.get(resolve_url(client.endpoint, snapshot, "config.json"), "config.json", max_bytes=CONFIG_LIMIT)
    except (ImageworksError, HubHTTPError, ValueError) as error:  # ValueError: an undecodable answer
        log.warning("could not read config.json of %s: %s", snapshot.repo_id, error)
        return None
    return answer.body.decode("utf-8-sig", errors="replace")


def analyze(model: str, endpoint: str, detectors: list[Detector], read_headers: bool = True) -> Analysis:
    """Analyse ``model`` (an id or URL) on the Hub at ``endpoint`` with ``detectors``;
    the memory estimate's header reads only when ``read_headers``."""
    ref = parse_model_ref(model, endpoint)
    token = hub_token()
    with HubClient(endpoint, token) as client:  # one kept-alive connection for the metadata and config.json
        snapshot = fetch_snapshot(ref, endpoint, token, client)
        config_text = fetch_config_text(client, snapshot)
    detections = FormatDetector(detectors).detect_comprehensive(
        model_name=ref.display,
        filenames=[f.path for f in snapshot.files],
        config_content=config_text,
    )
    quants: dict[str, tuple[str, ...]] = {}
    for key, parts in gguf_groups(snapshot.files).items():
        # two models of one quant in a repo (base and instruct, say): both are that quant's files
        quants[quant_label(key)] = quants.get(quant_label(key), ()) + tuple(f.path for f in parts)
    memory = remote_memory(endpoint, snapshot, token, config_text) if read_headers else ()
    return Analysis(ref=ref, snapshot=snapshot, formats=tuple(detections), gguf_quants=dict(sorted(quants.items())),
                    memory=memory)
