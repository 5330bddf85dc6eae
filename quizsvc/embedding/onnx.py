"""An ONNX Runtime backend for the same all-MiniLM-L6-v2 weights.

The transformer is exported locally from the (checksum-verified) model directory on first use,
with ``torch.onnx.export``, into the instance cache; an int8 variant is then made from it by
ONNX Runtime's dynamic quantization. Inference needs only onnxruntime, the model's own
``tokenizer.json`` and the mean pooling that sentence-transformers applies, so the vectors
match the torch encoder's (checked by the tests and the benchmark).

sentence-transformers' own ``backend="onnx"`` needs the ``optimum`` extra, which cannot be
installed next to transformers 5; hence this small, explicit pipeline.
"""

from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from quizsvc.embedding.base import Vectors, normalize_rows
from quizsvc.embedding.sentence import ModelLoadError, resolve_model

log = logging.getLogger(__name__)

OnnxVariant = Literal["fp32", "int8"]
VARIANTS: tuple[OnnxVariant, ...] = ("fp32", "int8")
#: Bumped whenever the export or quantization recipe changes, so that cached files and cached
#: embeddings made by an older recipe are never reused.
EXPORT_RECIPE = "1"
OPSET = 17
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_LENGTH = 256
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def onnx_file(cache_dir: Path, weights_sha256: str, variant: OnnxVariant) -> Path:
    return cache_dir / "onnx" / f"minilm-{weights_sha256[:16]}-r{EXPORT_RECIPE}-{variant}.onnx"


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory lock between processes (workers of one server may export at once)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export_fp32(model_dir: Path, destination: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    # A server's log is no terminal: no progress bar while the weights load.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    transformer = AutoModel.from_pretrained(str(model_dir))
    transformer.eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    # The tracer warns about shape checks it freezes; none depends on the batch or length.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(transformer),
            (sample, sample, torch.zeros_like(sample)),
            str(destination),
            input_names=list(INPUT_NAMES),
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=OPSET,
            dynamo=False,
        )


def _quantize_int8(source: Path, destination: Path) -> None:
    class DropPreprocessingAdvice(logging.Filter):
        # The quantizer suggests shape inference "before quantization" on every call; the
        # exported graph needs none, and the advice would read as a problem in a server log.
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    advice_filter = DropPreprocessingAdvice()
    root = logging.getLogger()
    root.addFilter(advice_filter)
    try:
        _quantize(source, destination)
    finally:
        root.removeFilter(advice_filter)


def _quantize(source: Path, destination: Path) -> None:
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    # Per-channel scales keep the embeddings within ~0.99 cosine of fp32; one scale per
    # tensor (the default) drops that to ~0.96 on learner answers.
    quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8, per_channel=True)


def ensure_exported(
    model_dir: Path, weights_sha256: str, cache_dir: Path, variant: OnnxVariant
) -> Path:
    """The ONNX file of ``variant``, exported (under a lock, then renamed into place) if absent.

    ``model_dir`` must already be verified (``resolve_model``); ``weights_sha256`` names the
    file, so other weights never reuse it.
    """
    destination = onnx_file(cache_dir, weights_sha256, variant)
    if destination.is_file():
        return destination
    try:
        return _export_under_lock(model_dir, weights_sha256, cache_dir, variant, destination)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write the {variant} ONNX export to {destination.parent}: {exc}; set "
            "QUIZSVC_MODEL_CACHE_DIR to a writable folder, or run 'quizsvc model prepare' "
            "where it is writable"
        ) from exc


def _export_under_lock(
    model_dir: Path, weights_sha256: str, cache_dir: Path, variant: OnnxVariant, destination: Path
) -> Path:
    with _exclusive(destination.with_suffix(".lock")):
        if destination.is_file():
            return destination
        fp32 = onnx_file(cache_dir, weights_sha256, "fp32")
        if variant == "int8":
            ensure_exported(model_dir, weights_sha256, cache_dir, "fp32")
        with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
            staged = Path(scratch) / destination.name
            try:
                if variant == "fp32":
                    _export_fp32(model_dir, staged)
                else:
                    _quantize_int8(fp32, staged)
            except Exception as exc:
                raise ModelLoadError(
                    f"could not export {variant} ONNX from {model_dir}: {exc}"
                ) from exc
            os.replace(staged, destination)
    return destination


def _model_config(model_dir: Path) -> tuple[int, int]:
    """(max sequence length, embedding dimension) as the sentence-transformers config says."""
    max_length = DEFAULT_MAX_LENGTH
    bert_config = model_dir / "sentence_bert_config.json"
    if bert_config.is_file():
        max_length = int(json.loads(bert_config.read_text())["max_seq_length"])
    config = json.loads((model_dir / "config.json").read_text())
    return max_length, int(config["hidden_size"])


class OnnxEncoder:
    """The bundled (or configured) model run by ONNX Runtime, fp32 or int8 weights.

    The ONNX session is created lazily in the process that encodes first: like torch's,
    onnxruntime's thread pools do not survive a fork, and a pre-forking server builds the
    encoder in its master. A missing export is made then, under a file lock, unless
    :meth:`prepare` made it earlier.
    """

    device = "cpu"

    def __init__(
        self,
        model: str = "",
        variant: OnnxVariant = "int8",
        cache_dir: Path | None = None,
        batch_size: int = 0,
        threads: int = 0,
    ) -> None:
        if variant not in VARIANTS:
            raise ModelLoadError(f"unknown ONNX variant {variant!r}: use one of {VARIANTS}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model_path, self._weights_sha256 = resolve_model(model)
        self.variant: OnnxVariant = variant
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "quizsvc-onnx"
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.threads = threads
        self.max_length, self._dimension = _model_config(self.model_path)
        tokenizer_file = self.model_path / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelLoadError(f"no tokenizer.json in model directory {self.model_path}")
        self._tokenizer_file = tokenizer_file
        self._session: Any = None
        self._tokenizer: Any = None
        self._owner_pid = 0
        self._loading = threading.Lock()

    @property
    def backend(self) -> str:
        return f"onnx-{self.variant}"

    @property
    def fingerprint(self) -> str:
        return f"onnx-{self.variant}-r{EXPORT_RECIPE}-{self._weights_sha256}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def onnx_path(self) -> Path:
        return onnx_file(self.cache_dir, self._weights_sha256, self.variant)

    def _thread_count(self) -> int:
        if self.threads:
            return self.threads
        # Follow the process's torch budget: the server sets it per worker after the fork.
        import torch

        return int(torch.get_num_threads())

    def _load(self) -> None:
        import onnxruntime  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        path = ensure_exported(self.model_path, self._weights_sha256, self.cache_dir, self.variant)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._thread_count()
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._session_inputs = {item.name for item in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(self._tokenizer_file))
        tokenizer.enable_truncation(max_length=self.max_length)
        # The file pads every text to 128 tokens; batches are padded to their longest instead.
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._owner_pid = os.getpid()

    def prepare(self) -> Path:
        """Export now if the file is missing, in a child process, and return its path.

        The export traces the model with torch; doing it in a fresh interpreter keeps torch's
        thread pools and the traced model out of this process, which may be a server's master
        about to fork.
        """
        path = self.onnx_path
        if path.is_file():
            return path
        log.info("exporting the %s ONNX model to %s (once per machine)", self.variant, path)
        began = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
            child.submit(
                ensure_exported, self.model_path, self._weights_sha256, self.cache_dir, self.variant
            ).result()
        log.info("exported the %s ONNX model in %.1f s", self.variant, time.perf_counter() - began)
        return path

    def warm_up(self) -> None:
        """Export if needed and open the session now, rather than on the first request."""
        with self._loading:
            if self._session is None or self._owner_pid != os.getpid():
                self._load()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        self.warm_up()
        encodings = self._tokenizer.encode_batch(list(texts))
        # Batches of similar length waste little on padding (sentence-transformers does the same).
        order = sorted(range(len(texts)), key=lambda index: -len(encodings[index].ids))
        result = np.empty((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            result[chosen] = self._encode_batch([encodings[index] for index in chosen])
        return result

    def _encode_batch(self, encodings: Sequence[Any]) -> Vectors:
        width = max(len(encoding.ids) for encoding in encodings)

        def column(name: str) -> NDArray[np.int64]:
            return np.array(
                [getattr(e, name)[:width] + [0] * (width - len(e.ids)) for e in encodings],
                dtype=np.int64,
            )

        attention_mask = column("attention_mask")
        feeds = {
            "input_ids": column("ids"),
            "attention_mask": attention_mask,
            "token_type_ids": column("type_ids"),
        }
        feeds = {name: value for name, value in feeds.items() if name in self._session_inputs}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        mask = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return normalize_rows(pooled)
