"""The raw material of a simulated fleet: workload kinds, machine specs, images, models and tags.

Tables rather than code so that what the fleet contains can be read at a glance, and so that the
awkward cases an exporter must survive (quarter cards, mixed card types, odd tag keys) are listed
where nobody can miss them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spec:
    """Per-replica resources of one machine spec; `details` lists (card model, 1/100 physical cards)."""

    instance_type: str
    cpu: int
    memory: int
    gpu: int = 0
    real_gpu: int = 0
    gpu_type: str = ""
    details: tuple[tuple[str, int], ...] = ()


CPU_SPECS: tuple[Spec, ...] = (
    Spec("TI.S5.2XLARGE16.POST", 8000, 16384),
    Spec("TI.S5.4XLARGE32.POST", 16000, 32768),
    Spec("TI.SA3.2XLARGE16.POST", 8000, 16384),
    Spec("TI.S5.LARGE8.POST", 2000, 8192),
)

GPU_SPECS: dict[str, tuple[Spec, ...]] = {
    "T4": (
        Spec("TI.GN7.LARGE20.POST", 4000, 20480, 100, 25, "T4", (("T4", 25),)),  # a quarter card seen as one
        Spec("TI.GN7.2XLARGE32.POST", 8000, 32768, 100, 100, "T4", (("T4", 100),)),
        Spec("TI.GN7.8XLARGE128.POST", 32000, 131072, 100, 100, "T4", (("T4", 100),)),
    ),
    "V100": (
        Spec("TI.GN10X.2XLARGE40.POST", 8000, 40960, 100, 100, "V100", (("V100", 100),)),
        Spec("TI.GN10X.9XLARGE160.POST", 36000, 163840, 400, 400, "V100", (("V100", 400),)),
    ),
    "A10": (
        Spec("TI.GNV4v.2XLARGE22.POST", 6000, 22528, 100, 50, "A10", (("A10", 50),)),  # half a card
        Spec("TI.GNV4.3XLARGE44.POST", 12000, 45056, 100, 100, "A10", (("A10", 100),)),
        Spec("TI.GNV4.7XLARGE88.POST", 28000, 90112, 200, 200, "A10", (("A10", 200),)),
    ),
    "A100": (
        Spec("TI.GT4.4XLARGE96.POST", 16000, 98304, 100, 100, "A100", (("A100", 100),)),
        Spec("TI.GT4.20XLARGE474.POST", 80000, 485376, 800, 800, "A100", (("A100", 800),)),
    ),
    "L20": (
        Spec("TI.GNV6.4XLARGE64.POST", 16000, 65536, 100, 100, "L20", (("L20", 100),)),
        Spec("TI.GNV6.16XLARGE256.POST", 64000, 262144, 400, 400, "L20", (("L20", 400),)),
    ),
    "H20": (
        Spec("TI.HCCPNV6.8XLARGE256.POST", 32000, 262144, 200, 200, "H20", (("H20", 200),)),
        Spec("TI.HCCPNV6.32XLARGE1024.POST", 128000, 1048576, 800, 800, "H20", (("H20", 800),)),
    ),
}

MIXED_SPECS: tuple[Spec, ...] = (
    # Resource-group deployments that span card models: only RealGpuDetailSet tells the truth.
    Spec("", 24000, 98304, 300, 300, "A100", (("A100", 100), ("A10", 200))),
    Spec("", 16000, 65536, 200, 125, "T4", (("T4", 25), ("L20", 100))),
)


@dataclass(frozen=True, slots=True)
class Workload:
    """A kind of inference service: its name prefix, its tasks, the cards it likes, its models."""

    prefix: str
    tasks: tuple[str, ...]
    gpus: tuple[str, ...]
    """Card models it may run on; "" means CPU only."""
    models: tuple[tuple[str, str, str], ...]
    """(model name, model format, algorithm framework)."""
    images: tuple[str, ...]
    """Preset image repositories (under the platform's registry)."""


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "llm",
        ("chat", "summary", "code", "rag", "translate", "agent"),
        ("A100", "H20", "L20", "A10", "V100"),
        (
            ("qwen2.5-7b-instruct", "HUGGING_FACE", "PYTORCH"),
            ("llama3-8b-chat", "HUGGING_FACE", "PYTORCH"),
            ("chatglm-6b-tiacc-ft", "PYTORCH", "PYTORCH"),
            ("hunyuan-7b-dense", "SAFETENSORS", "PYTORCH"),
            ("deepseek-r1-distill-qwen-32b", "SAFETENSORS", "PYTORCH"),
        ),
        ("vllm", "tgi", "ti-llm-infer"),
    ),
    Workload(
        "ocr",
        ("invoice", "idcard", "receipt", "table"),
        ("T4", "A10", ""),
        (("ppocr-v4-det", "ONNX", "PYTORCH"), ("layoutlm-v3", "TORCH_SCRIPT", "PYTORCH")),
        ("ti-cloud-infer-pytorch-gpu",),
    ),
    Workload(
        "asr",
        ("meeting", "callcenter", "subtitle"),
        ("T4", "A10"),
        (("whisper-large-v3", "HUGGING_FACE", "PYTORCH"), ("paraformer-zh", "ONNX", "PYTORCH")),
        ("ti-cloud-infer-pytorch-gpu", "triton"),
    ),
    Workload(
        "cv",
        ("detect", "segment", "face", "classify"),
        ("T4", "A10", "V100"),
        (
            ("yolov8-det", "ONNX", "PYTORCH"),
            ("resnet50-cls", "SAVED_MODEL", "TENSORFLOW"),
            ("sam-vit-b", "PYTORCH", "PYTORCH"),
        ),
        ("triton", "ti-cloud-infer-tensorflow-gpu"),
    ),
    Workload(
        "rec",
        ("rank", "recall", "ctr"),
        ("", "T4"),
        (("deepfm-ctr", "SAVED_MODEL", "TENSORFLOW"), ("dssm-recall", "SAVED_MODEL", "TENSORFLOW")),
        ("ti-cloud-infer-tensorflow-cpu",),
    ),
    Workload(
        "embed",
        ("search", "dedup", "rerank"),
        ("T4", "A10", ""),
        (("bge-m3", "HUGGING_FACE", "PYTORCH"), ("bge-reranker-large", "HUGGING_FACE", "PYTORCH")),
        ("ti-cloud-infer-pytorch-gpu", "tei"),
    ),
    Workload(
        "nlp",
        ("ner", "sentiment", "intent"),
        ("", "T4"),
        (("bert-base-chinese-ner", "TORCH_SCRIPT", "PYTORCH"), ("roberta-sentiment", "ONNX", "PYTORCH")),
        ("ti-cloud-infer-pytorch-cpu",),
    ),
)

ENVIRONMENTS: tuple[str, ...] = ("prod", "prod", "staging", "dev", "test")

MODEL_SOURCES: tuple[str, ...] = ("COS", "COS", "CFS", "GooseFSx")

PUBLIC_ENV: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("LOG_LEVEL", ("info", "debug", "warning")),
    ("MAX_BATCH_SIZE", ("1", "8", "16", "32")),
    ("WORKERS", ("1", "2", "4")),
    ("MODEL_DIR", ("/data/model",)),
)

PRIVATE_ENV: tuple[str, ...] = ("HF_TOKEN", "DB_PASSWORD", "UPSTREAM_API_KEY")

TEAMS: tuple[str, ...] = ("nlp", "vision", "speech", "search", "ads", "platform")

COST_CENTERS: tuple[str, ...] = ("cc-1024", "cc-2048", "cc-4096")

OWNERS: tuple[str, ...] = ("alice", "bob", "chen.wei", "li_na", "zhang-san")

HPA_METRICS: tuple[str, ...] = ("cpu-util", "gpu-util", "memory-util", "qps")
