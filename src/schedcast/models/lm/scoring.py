"""Forward passes: left-padded batches, logits only where they are read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any, Any]:
    """input_ids, attention_mask and position_ids (counting real tokens only) of
    sequences padded on the left, so every sequence ends at the last column."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids, mask, positions


def last_logits(model: Any, seqs: Sequence[Sequence[int]], pad_id: int, keep: int = 1) -> Any:
    """Logits (batch, keep, vocab) of the last `keep` positions of each sequence."""
    ids, mask, positions = left_pad(seqs, pad_id)
    device = next(model.parameters()).device
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        logits_to_keep=keep,
        use_cache=False,
    )
    return out.logits


def kind_logits(
    model: Any, seqs: Sequence[Sequence[int]], kind_ids: Sequence[int], pad_id: int, batch_size: int = 8, progress: bool = False,
    on_batch: Callable[[list[int], Any], None] | None = None,
) -> Any:
    """The six kind-token logits at the last position of each sequence, (n, 6), float64
    numpy. `on_batch(indices, rows)` is called after each batch (e.g. to cache it)."""
    import numpy as np
    import torch

    rows = []
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths share a batch
    index = torch.tensor(list(kind_ids), dtype=torch.long)
    starts = list(range(0, len(order), batch_size))
    if progress:
        from rich.progress import track

        from schedcast.terminal import err_console

        starts = track(starts, description=f"scoring {len(seqs)} prompts", console=err_console, transient=True)
    with torch.inference_mode():
        for start in starts:
            chunk = order[start : start + batch_size]
            logits = last_logits(model, [seqs[i] for i in chunk], pad_id)[:, -1, :].float().cpu()
            rows.append(logits[:, index].double().numpy())
            if on_batch is not None:
                on_batch(chunk, rows[-1])
    out = np.zeros((len(seqs), len(kind_ids)))
    if rows:
        out[np.array(order)] = np.concatenate(rows)
    return out


def right_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
