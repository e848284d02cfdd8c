"""GGUF header detection: the lazy reader against gguf.GGUFReader, real and bad files."""

from __future__ import annotations

import logging
import time

import gguf
import pytest

from imageworks.formats.gguf_facts import file_type_name
from imageworks.formats.gguf_reader import GGUFFormatError, read_header
from imageworks.tools.model_downloader import FormatDetector


@pytest.mark.large
def test_lazy_reader_matches_gguf_reader_on_real_file(gemma_gguf):
    """Every scalar, array length and tensor entry agrees with the gguf package's reader."""
    ours = read_header(gemma_gguf)
    theirs = gguf.GGUFReader(gemma_gguf)
    scalar_keys = {k for k, f in theirs.fields.items() if f.types and f.types[0] != gguf.GGUFValueType.ARRAY
                   and not k.startswith("GGUF.")}
    assert set(ours.fields) == scalar_keys
    for key, value in ours.fields.items():
        expected = theirs.fields[key].contents()
        assert value == pytest.approx(expected) if isinstance(value, float) else value == expected, key
    arrays = {k: f for k, f in theirs.fields.items() if f.types and f.types[0] == gguf.GGUFValueType.ARRAY}
    assert set(ours.arrays) == set(arrays)
    for key, (etype, count) in ours.arrays.items():
        assert etype == arrays[key].types[1] and count == len(arrays[key].data), key
    assert [(t.name, t.shape, t.ggml_type) for t in ours.tensors] == [
        (t.name, tuple(int(d) for d in t.shape), int(t.tensor_type)) for t in theirs.tensors
    ]
    assert ours.parameter_count == sum(int(t.n_elements) for t in theirs.tensors)
    assert theirs.fields["general.file_type"].contents() == 15


@pytest.mark.large
def test_lazy_reader_is_fast_and_reads_only_the_header(gemma_gguf):
    """The header walk is tens of milliseconds and touches a few MB of a 253 MB file."""
    best = min(_timed(read_header, gemma_gguf) for _ in range(3))
    header = read_header(gemma_gguf)
    assert header.bytes_read < 8 * 1024 * 1024 < gemma_gguf.stat().st_size
    assert best < 0.5  # generous for a shared CI machine; docs/detection.md has the real figure


def _timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@pytest.mark.large
def test_real_gemma_renamed_model_gguf_detects_from_header(gemma_gguf, tmp_path, linker):
    """Renamed to model.gguf (no quant in any name) it is still gguf/q4_k_m, from the header."""
    folder = tmp_path / "someone" / "mystery-model"
    linker(gemma_gguf, folder / "model.gguf")
    best = FormatDetector().detect_directory(folder)[0]
    assert (best.format_type, best.quantization) == ("gguf", "q4_k_m")
    assert best.trust == "header"
    facts = best.details["gguf-header"]
    assert facts["architecture"] == "gemma3"
    assert facts["size_label"] == "270M"
    assert facts["name"] == "Gemma 3 270m"
    assert facts["chat_template"] is False
    assert facts["parameter_count"] == 268_098_176
    assert any("general.file_type=15" in line for line in best.evidence)


def test_file_type_names_come_from_gguf_constants():
    """Every llama.cpp file type maps to its lower-case name; unknown numbers to None."""
    for member in gguf.LlamaFileType:
        name = file_type_name(member.value)
        if member is gguf.LlamaFileType.GUESSED:
            assert name is None
        else:
            assert name and name == name.lower() and not name.startswith("mostly")
    assert file_type_name(15) == "q4_k_m"
    assert file_type_name(20) == "iq2_xs"
    assert file_type_name(7) == "q8_0"
    assert file_type_name(1) == "f16"
    assert file_type_name(32) == "bf16"
    assert file_type_name(38) == "mxfp4"
    assert file_type_name(999) is None


def test_synthetic_gguf_fields_and_chat_template(tmp_path, make_gguf):
    """A file written by gguf.GGUFWriter reads back with name, size label and template."""
    path = make_gguf(tmp_path / "m" / "x.gguf", file_type=18, chat_template="{{ messages }}")
    header = read_header(path)
    assert header.fields["general.name"] == "Tiny Test"
    assert header.fields["tokenizer.chat_template"] == "{{ messages }}"
    assert header.arrays["tokenizer.ggml.tokens"] == (gguf.GGUFValueType.STRING, 8)
    best = FormatDetector().detect_directory(tmp_path / "m")[0]
    assert (best.format_type, best.quantization) == ("gguf", "q6_k")
    assert best.details["gguf-header"]["chat_template"] is True


def test_split_gguf_counts_as_one_model(tmp_path, make_gguf):
    """Shards -0000N-of-00003 give one candidate with parameters summed over shards."""
    folder = tmp_path / "split"
    for n in (1, 2, 3):
        make_gguf(folder / f"big-model-Q8_0-0000{n}-of-00003.gguf", file_type=7, split=(n - 1, 3))
    results = FormatDetector().detect_directory(folder)
    assert (results[0].format_type, results[0].quantization) == ("gguf", "q8_0")
    facts = results[0].details["gguf-header"]
    assert len(facts["files"]) == 3 and facts["split_count"] == 3
    assert facts["parameter_count"] == 3 * 32
    assert len([r for r in results if r.format_type == "gguf"]) == 1


def test_missing_file_type_falls_back_to_tensor_types(tmp_path, make_gguf):
    """Without general.file_type the dominant tensor type is reported."""
    make_gguf(tmp_path / "m" / "old.gguf", file_type=None)
    best = FormatDetector().detect_directory(tmp_path / "m")[0]
    assert (best.format_type, best.quantization) == ("gguf", "f32")


def test_truncated_gguf_warns_and_falls_back_to_names(gemma_gguf, tmp_path, caplog):
    """A header cut short is a warning; the file name still says gguf/q4_k_m."""
    folder = tmp_path / "m"
    folder.mkdir()
    with gemma_gguf.open("rb") as src:
        (folder / "gemma-Q4_K_M.gguf").write_bytes(src.read(300_000))
    with pytest.raises(GGUFFormatError):
        read_header(folder / "gemma-Q4_K_M.gguf")
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        best = FormatDetector().detect_directory(folder)[0]
    assert "cannot read GGUF header" in caplog.text and "truncated" in caplog.text
    assert (best.format_type, best.quantization, best.trust) == ("gguf", "q4_k_m", "name")


def test_non_gguf_named_gguf_warns_and_falls_back(tmp_path, caplog):
    """A text file named .gguf is not parsed as GGUF; nothing crashes."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.Q5_K_M.gguf").write_text("<html>404 Not Found</html>")
    (folder / "empty.gguf").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="imageworks"):
        best = FormatDetector().detect_directory(folder)[0]
    assert "bad magic" in caplog.text
    assert (best.format_type, best.quantization) == ("gguf", "q5_k_m")


def test_absurd_string_length_is_refused(tmp_path):
    """A damaged length prefix is an error, not a 2**63-byte allocation."""
    path = tmp_path / "bad.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
                     + (2**62).to_bytes(8, "little"))
    with pytest.raises(GGUFFormatError, match="not plausible"):
        read_header(path)
