"""Name detector: quant tokens in file, repo and branch names; containers from extensions.

The weakest evidence, used before anything is downloaded and as a fallback. Tokens are
matched case-insensitively and only as whole tokens: a token may not touch a letter or
digit on either side, so ``awq`` never matches inside an ordinary word. Underscores,
dashes, dots, slashes and ``@`` separate tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject


class _Later:
    """A regular expression compiled when first used: the detector's 27 cost ~3 ms at every start."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    @functools.cached_property
    def compiled(self) -> re.Pattern[str]:
        """The compiled expression."""
        return re.compile(self.pattern)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """``re.Pattern.finditer``."""
        return self.compiled.finditer(text)

    def search(self, text: str) -> re.Match[str] | None:
        """``re.Pattern.search``."""
        return self.compiled.search(text)


_B, _E = r"(?<![a-z0-9])", r"(?![a-z0-9])"
GGUF_QUANT = _Later(
    _B + r"(?P<ud>ud-)?(?P<q>iq[1-4]_(?:xxs|xs|nl|s|m|l)|q[1-8]_k_(?:xl|s|m|l)|q[1-8]_k|q[2-8]_[01](?:_[48]_[48])?"
    r"|tq[12]_0|mxfp4(?:_moe)?|bf16|fp16|f16|f32)" + _E
)
IMATRIX = _Later(_B + r"(?:i1|imatrix)" + _E)
BPW = _Later(_B + r"(\d{1,2}(?:[._]\d{1,2})?)_?bpw" + _E)
BRANCH_BPW = _Later(r"^(\d{1,2}[._]\d{1,2})$")  # bartowski's exl2 branches: "4_25", "6_5"
W_G = _Later(_B + r"w([2-8])g(\d{2,4})" + _E)
BIT_G = _Later(_B + r"([2-8])bits?-(\d{2,4})g" + _E)
W_A = _Later(_B + r"w([2-8])a(8|16)(?:-fp8)?" + _E)
BNB = _Later(_B + r"bnb-?([48])bits?" + _E)
BITS = _Later(_B + r"([2-8])-?bits?" + _E)
INT = _Later(_B + r"int([2-8])" + _E)
SIMPLE = {
    "nvfp4": _Later(_B + r"nvfp4" + _E),
    "mxfp4": _Later(_B + r"mxfp4" + _E),
    "fp8": _Later(_B + r"fp8(?:[-_](?:dynamic|static|e4m3|block))?" + _E),
    "squeezellm": _Later(_B + r"squeeze-?llm" + _E),
    "hqq": _Later(_B + r"hqq" + _E),
    "aqlm": _Later(_B + r"aqlm" + _E),
    "bf16": _Later(_B + r"bf16" + _E),
    "fp16": _Later(_B + r"(?:fp16|f16|float16|half)" + _E),
    "fp32": _Later(_B + r"(?:fp32|f32|float32)" + _E),
}
METHODS = {
    "exl2": _Later(_B + r"exl2" + _E),
    "exl3": _Later(_B + r"exl3" + _E),
    "awq": _Later(_B + r"awq" + _E),
    "gptq": _Later(_B + r"gptq" + _E),
    "bnb": _Later(_B + r"(?:bnb|bitsandbytes)" + _E),
    "mlx": _Later(_B + r"mlx" + _E),
    "gguf": _Later(_B + r"gguf" + _E),
}
NOT_WEIGHTS = _Later(r"(?:^|/)(?:training_args|optimizer|scheduler|rng_state[^/]*|scaler)\.(?:bin|pt|pth)$")
CONTAINERS = (("safetensors", (".safetensors",)), ("pytorch", (".bin", ".pt", ".pth")), ("onnx", (".onnx",)))


class _Found(NamedTuple):
    """A quant token found in a name (a named tuple: attrs would build the class at every start)."""

    quant: str
    rank: int  # lower is more specific
    where: str
    text: str


def split_model_name(model_name: str | None) -> tuple[str, str | None]:
    """(repo id, branch) from ``owner/repo[@branch]`` or a Hugging Face URL."""
    if not model_name:
        return "", None
    name = re.sub(r"^https?://[^/]+/", "", model_name.strip()).rstrip("/")
    branch = None
    if "/tree/" in name:
        name, branch = name.split("/tree/", 1)
    if "@" in name:
        name, branch = name.rsplit("@", 1)
    return name, branch


def _tensor_quants(text: str, where: str) -> Iterable[_Found]:
    bpw_matches = list(BPW.finditer(text))
    if where.startswith("branch"):
        bpw_matches += list(BRANCH_BPW.finditer(text))
    for m in bpw_matches:
        value = float(m.group(1).replace("_", "."))
        yield _Found(f"{value:.1f}bpw" if value.is_integer() else f"{value:g}bpw", 0, where, m.group(0))
    for pattern in (W_G, BIT_G):
        for m in pattern.finditer(text):
            yield _Found(f"w{m.group(1)}g{m.group(2)}", 1, where, m.group(0))
    for m in W_A.finditer(text):
        yield _Found(f"w{m.group(1)}a{m.group(2)}", 2, where, m.group(0))
    for quant in ("nvfp4", "mxfp4", "fp8", "squeezellm", "hqq", "aqlm"):
        for m in SIMPLE[quant].finditer(text):
            yield _Found(quant, 2, where, m.group(0))
    for m in BNB.finditer(text):
        yield _Found(f"bnb-{m.group(1)}bit", 3, where, m.group(0))
    for pattern in (INT, BITS):
        for m in pattern.finditer(text):
            yield _Found(f"int{m.group(1)}", 4, where, m.group(0))
    for quant in ("bf16", "fp16", "fp32"):
        for m in SIMPLE[quant].finditer(text):
            yield _Found(quant, 5, where, m.group(0))


def _gguf_quant(filename: str) -> tuple[str, dict[str, Any]] | None:
    text = PurePosixPath(filename).name.lower()
    matches = list(GGUF_QUANT.finditer(text))
    if not matches:
        return None
    m = matches[-1]  # the quant sits at the end of llama.cpp-style names
    quant = {"fp16": "f16", "mxfp4_moe": "mxfp4"}.get(m.group("q"), m.group("q"))
    return quant, {"dynamic": bool(m.group("ud")), "imatrix": bool(IMATRIX.search(text)), "token": m.group(0)}


def _gguf_model_key(filename: str) -> str:
    return re.sub(r"-\d{5}-of-\d{5}\.gguf$", ".gguf", filename, flags=re.IGNORECASE)


def _texts(repo: str, branch: str | None, weight_files: list[str]) -> list[tuple[str, str]]:
    """(where, lower-cased text) for every name read: the branch, the repo, the weight files."""
    texts = [(f"branch {branch}", branch.lower())] if branch else []
    texts.append((f"repo {repo}", repo.lower()))
    return texts + [(f, f.lower()) for f in weight_files]


class _Reading(NamedTuple):
    """What the names say: the method (format), the quantisation and the weight container."""

    fmt: str | None
    quant: str | None
    container: str | None


#: The fix-ups of a reading, applied in order: (why, when it applies, the reading after).
_FIX_UPS: tuple[tuple[str, Callable[[_Reading], bool], Callable[[_Reading], _Reading]], ...] = (
    ("bitsandbytes names its int quants bnb-Nbit",
     lambda r: r.fmt == "bnb" and r.quant in ("int4", "int8"),
     lambda r: r._replace(quant=f"bnb-{(r.quant or '')[3:]}bit")),
    ('"awq-fp16" names the activation dtype, not the weights',
     lambda r: r.fmt in ("awq", "gptq", "mlx") and r.quant in ("bf16", "fp16", "fp32"),
     lambda r: r._replace(quant=None)),
    ("a bnb quant in plain weight files is bitsandbytes",
     lambda r: bool(r.quant) and r.fmt in (None, r.container) and (r.quant or "").startswith("bnb-"),
     lambda r: r._replace(fmt="bnb")),
    ("a bits-per-weight quant alone is exl2",
     lambda r: bool(r.quant) and (r.quant or "").endswith("bpw") and r.fmt is None,
     lambda r: r._replace(fmt="exl2")),
)


def _fix_up(reading: _Reading) -> _Reading:
    """``reading`` after every fix-up of :data:`_FIX_UPS` that applies."""
    for _why, applies, fixed in _FIX_UPS:
        if applies(reading):
            reading = fixed(reading)
    return reading


class NamesDetector(Detector):
    """Reads format and quantisation hints from names alone."""

    name = "names"
    trust = "name"

    def detect(self, subject: DetectionSubject) -> list[Detection]:
        """The best reading of the names, then alternatives (one per GGUF quant)."""
        repo, branch = split_model_name(subject.model_name)
        files = [f for f in subject.filenames if not NOT_WEIGHTS.search(f.lower())]
        gguf_files = [f for f in files if f.lower().endswith(".gguf")]
        if gguf_files:
            return self._gguf(gguf_files, repo)
        weight_files = [f for f in files if f.lower().endswith((".safetensors", ".bin", ".pt", ".pth", ".onnx"))]
        texts = _texts(repo, branch, weight_files)
        evidence: list[str] = []
        fmt = self._method(texts, evidence)
        container = next((c for c, exts in CONTAINERS if any(f.lower().endswith(exts) for f in weight_files)), None)
        if container:
            evidence.append(f"weight files are .{weight_files[0].rsplit('.', 1)[-1]} ({container})")
        if fmt == "gguf" and container:
            fmt = None  # a "-GGUF" repo whose listed files are tensors: believe the files
        if fmt == "gguf":
            return self._gguf_repo(texts, evidence, repo)
        found = sorted((f for where, text in texts for f in _tensor_quants(text, where)), key=lambda f: f.rank)
        reading = _fix_up(_Reading(fmt, found[0].quant if found else None, container))
        if found:
            evidence.append(f"{found[0].where}: token {found[0].text!r} -> {reading.quant}")
        fmt, quant = reading.fmt or container, reading.quant
        if fmt is None and quant is None:
            return []
        confidence = 0.6 if (fmt and quant) else 0.45
        return [Detection(format_type=fmt, quantization=quant, confidence=confidence, evidence=tuple(evidence),
                          detector=self.name, trust=self.trust, details={"repo": repo, "branch": branch})]

    def _method(self, texts: list[tuple[str, str]], evidence: list[str]) -> str | None:
        for method, pattern in METHODS.items():
            for where, text in texts:
                if pattern.search(text):
                    evidence.append(f"{where}: names {method}")
                    return method
        for where, text in texts:
            if BPW.search(text):
                evidence.append(f"{where}: bits-per-weight token names exl2")
                return "exl2"
        return None

    def _gguf_repo(self, texts: list[tuple[str, str]], evidence: list[str], repo: str) -> list[Detection]:
        quant = None
        for where, text in texts:
            parsed = _gguf_quant(text)
            if parsed:
                quant = parsed[0]
                evidence.append(f"{where}: token {parsed[1]['token']!r} -> {quant}")
                break
        return [Detection(format_type="gguf", quantization=quant, confidence=0.5, evidence=tuple(evidence),
                          detector=self.name, trust=self.trust, details={"repo": repo})]

    def _gguf(self, gguf_files: list[str], repo: str) -> list[Detection]:
        models: dict[str, tuple[str | None, dict[str, Any]]] = {}
        for name in gguf_files:
            if PurePosixPath(name).name.lower().startswith("mmproj"):
                continue
            key = _gguf_model_key(name)
            if key not in models:
                parsed = _gguf_quant(name)
                models[key] = parsed if parsed else (None, {})
        quants = sorted({q for q, _ in models.values() if q})
        base = f"{len(gguf_files)} .gguf file(s)"
        if len(quants) == 1:
            quant = quants[0]
            key, (_, info) = next((k, v) for k, v in models.items() if v[0] == quant)
            evidence = [base, f"{PurePosixPath(key).name}: token {info['token']!r} -> {quant}"]
            evidence += ["Unsloth Dynamic (UD-) quant"] if info.get("dynamic") else []
            evidence += ["imatrix (i1) quant"] if info.get("imatrix") else []
            return [Detection(format_type="gguf", quantization=quant, confidence=0.75, evidence=tuple(evidence),
                              detector=self.name, trust=self.trust,
                              details={"repo": repo, "from_files": True, **info})]
        first = Detection(format_type="gguf", quantization=None, confidence=0.6,
                          evidence=(base, f"{len(quants)} quantisations: {', '.join(quants)}" if quants
                                    else "no quant token in the file names"),
                          detector=self.name, trust=self.trust,
                          details={"repo": repo, "from_files": True, "quantizations": quants})
        alternatives = [Detection(format_type="gguf", quantization=q, confidence=0.4,
                                  evidence=(f"file name token -> {q}",), detector=self.name, trust=self.trust)
                        for q in quants]
        return [first, *alternatives]


@hookimpl
def imageworks_register_detectors() -> list[Detector]:
    """Register the name detector."""
    return [NamesDetector()]
