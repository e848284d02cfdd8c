"""Name detection: quant tokens in file, repo and branch names, and no false hits."""

from __future__ import annotations

import pytest

from imageworks.core.model import DetectionSubject
from imageworks.plugins.detectors.names import NamesDetector, split_model_name


def _names(model_name=None, filenames=()):
    found = NamesDetector().detect(DetectionSubject(model_name=model_name, filenames=tuple(filenames)))
    return (found[0].format_type, found[0].quantization) if found else (None, None)


@pytest.mark.parametrize(
    ("filename", "quant"),
    [
        ("llama-7b.Q4_K_M.gguf", "q4_k_m"), ("llama-7b.q4_k_m.gguf", "q4_k_m"), ("x-IQ2_XS.gguf", "iq2_xs"),
        ("x-IQ3_XXS.gguf", "iq3_xxs"), ("x-IQ4_NL.gguf", "iq4_nl"), ("x-Q8_0.gguf", "q8_0"), ("x-Q6_K.gguf", "q6_k"),
        ("x-UD-Q4_K_XL.gguf", "q4_k_xl"), ("x.i1-Q4_K_S.gguf", "q4_k_s"), ("x-F16.gguf", "f16"),
        ("x-BF16.gguf", "bf16"), ("gpt-oss-20b-mxfp4.gguf", "mxfp4"), ("x-Q4_0_4_4.gguf", "q4_0_4_4"),
        ("x-TQ1_0.gguf", "tq1_0"),
    ],
)
def test_gguf_quant_tokens(filename, quant):
    """llama.cpp quant names, any case, IQ, UD- and i1 variants."""
    assert _names(filenames=[filename]) == ("gguf", quant)


@pytest.mark.parametrize(
    ("model_name", "expected"),
    [
        ("TheBloke/Foo-7B-AWQ", ("awq", None)),
        ("someone/foo-awq-w4g128", ("awq", "w4g128")),
        ("TheBloke/Foo-GPTQ@gptq-4bit-32g-actorder_True", ("gptq", "w4g32")),
        ("turboderp/Foo-exl2@6.5bpw", ("exl2", "6.5bpw")),
        ("bartowski/Foo-exl2@4_25", ("exl2", "4.25bpw")),
        ("someone/Foo-exl2_4_25bpw", ("exl2", "4.25bpw")),
        ("LoneStriker/Foo-4.0bpw-h6-exl2", ("exl2", "4.0bpw")),
        ("RedHatAI/Foo-quantized.w4a16", (None, "w4a16")),
        ("RedHatAI/Foo-quantized.w8a8", (None, "w8a8")),
        ("RedHatAI/Foo-FP8-dynamic", (None, "fp8")),
        ("RedHatAI/Foo-NVFP4", (None, "nvfp4")),
        ("someone/foo-MXFP4", (None, "mxfp4")),
        ("unsloth/foo-bnb-4bit", ("bnb", "bnb-4bit")),
        ("someone/foo-bnb-8bit", ("bnb", "bnb-8bit")),
        ("mlx-community/foo-4bit", ("mlx", "int4")),
        ("someone/foo-int8", (None, "int8")),
        ("someone/foo-INT4", (None, "int4")),
        ("someone/foo-squeezellm", (None, "squeezellm")),
        ("someone/foo-fp16", (None, "fp16")),
        ("someone/foo-bf16", (None, "bf16")),
        ("someone/foo-GGUF", ("gguf", None)),
        ("someone/foo-Q5_K_M-GGUF", ("gguf", "q5_k_m")),
    ],
)
def test_repo_and_branch_tokens(model_name, expected):
    """Tokens in the repo id and its branch, case-insensitive."""
    assert _names(model_name) == expected


@pytest.mark.parametrize(
    "model_name",
    ["someone/awqward-7b", "someone/gptqueue", "someone/mlxtreme", "someone/printf16x", "someone/bf16er",
     "someone/point4bit", "someone/winter8", "someone/sq4_k_model", "someone/fp8ball", "someone/abnb-rooms",
     "someone/w4a16z", "someone/halfling-7b", "someone/gguffy"],
)
def test_no_false_hits_inside_words(model_name):
    """A token touching letters or digits is not a token."""
    assert _names(model_name) == (None, None)


def test_containers_from_extensions():
    """Extensions give the container; optimizer and training files are not weights."""
    assert _names(filenames=["model.safetensors", "config.json"]) == ("safetensors", None)
    assert _names(filenames=["pytorch_model.bin"]) == ("pytorch", None)
    assert _names(filenames=["weights.pth"]) == ("pytorch", None)
    assert _names(filenames=["onnx/model.onnx"]) == ("onnx", None)
    assert _names(filenames=["training_args.bin", "optimizer.pt"]) == (None, None)
    assert _names(filenames=["model.safetensors", "model.Q4_K_M.gguf"]) == ("gguf", "q4_k_m")


def test_several_gguf_quants_are_alternatives():
    """A repo with many quant files has no single quant; each is an alternative."""
    found = NamesDetector().detect(DetectionSubject(filenames=("m.Q4_K_M.gguf", "m.Q8_0.gguf", "mmproj-F16.gguf")))
    assert (found[0].format_type, found[0].quantization) == ("gguf", None)
    assert [d.quantization for d in found[1:]] == ["q4_k_m", "q8_0"]


def test_split_model_name_accepts_urls_and_branches():
    """owner/repo@branch and Hub URLs, with or without /tree/<branch>."""
    assert split_model_name("a/b@dev") == ("a/b", "dev")
    assert split_model_name("https://huggingface.co/a/b") == ("a/b", None)
    assert split_model_name("https://huggingface.co/a/b/tree/4.0bpw") == ("a/b", "4.0bpw")
    assert split_model_name(None) == ("", None)
