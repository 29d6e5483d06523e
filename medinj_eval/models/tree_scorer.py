"""Log-likelihoods of every continuation of a context in one forward pass (tree attention).

The continuations of one context (the 31 answer sets of a five-option item, the option
texts of an item) share the context and most of their prefixes ("A", "A, B", ...). They are
laid out as a token trie after the context: one sequence = the context, then one position
per trie node. A 4D attention mask lets each node see the context and its own ancestors
only, and its position id is the context length plus its depth minus one, so every node's
logits are those the model gives at that point of that continuation alone (the technique
of speculative-decoding verifiers). Several contexts are packed into one batch, padded on
the right. Same formula as ``HFLM._loglikelihood_tokens``: the sum of the continuation
tokens' log-probabilities and whether greedy decoding produces them.

Attention implementations that take an additive 4D mask (``eager``, ``sdpa``) run it; others
(``flash_attention_*``, ``flex_attention``) cannot, and the caller falls back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

Request = tuple[tuple[str, str], list[int], list[int]]
Answer = tuple[float, bool]
MASKABLE = ("eager", "sdpa")


@dataclass(frozen=True)
class Trie:
    """Continuation tokens as a trie: node ``i`` holds ``tokens[i]`` at ``depths[i]`` (1 for
    a first token) under ``parents[i]`` (-1: the context); ``paths[c]`` lists the nodes of
    continuation ``c`` in order."""

    tokens: list[int]
    parents: list[int]
    depths: list[int]
    paths: list[list[int]]


def build_trie(continuations: Sequence[Sequence[int]]) -> Trie:
    """The trie of ``continuations``; shared prefixes share nodes."""
    tokens: list[int] = []
    parents: list[int] = []
    depths: list[int] = []
    children: dict[tuple[int, int], int] = {}
    paths = []
    for cont in continuations:
        node, path = -1, []
        for token in cont:
            key = (node, token)
            if key not in children:
                children[key] = len(tokens)
                tokens.append(token)
                parents.append(node)
                depths.append(1 if node < 0 else depths[node] + 1)
            node = children[key]
            path.append(node)
        paths.append(path)
    return Trie(tokens, parents, depths, paths)


def tree_mask(context_length: int, trie: Trie) -> torch.Tensor:
    """Boolean ``[S, S]`` mask (True = may attend), S = context + trie nodes: the context is
    causal, a node sees the whole context, its ancestors and itself."""
    size = context_length + len(trie.tokens)
    allowed = torch.zeros(size, size, dtype=torch.bool)
    allowed[:context_length, :context_length] = torch.tril(
        torch.ones(context_length, context_length, dtype=torch.bool)
    )
    allowed[context_length:, :context_length] = True
    for node, parent in enumerate(trie.parents):
        row = context_length + node
        allowed[row, row] = True
        if parent >= 0:
            allowed[row] |= allowed[context_length + parent]
            allowed[row, :context_length] = True
    return allowed


def tree_positions(context_length: int, trie: Trie) -> list[int]:
    """Position ids: 0..L-1 for the context, L + depth - 1 for a node."""
    return list(range(context_length)) + [context_length + d - 1 for d in trie.depths]


def scored_rows(context_length: int, trie: Trie, path: list[int]) -> list[int]:
    """Rows whose logits predict each token of a continuation: the last context token for
    the first, then each token's parent node."""
    return [context_length - 1] + [context_length + n for n in path[:-1]]


@dataclass
class Packed:
    """One forward pass: padded inputs, additive mask, positions, and per request its rows
    and targets."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    rows: list[tuple[int, list[int], list[int]]]  # (batch row, logits rows, target tokens)


def pack(groups: list[tuple[list[int], list[list[int]]]], dtype: torch.dtype) -> Packed:
    """Contexts with their continuations -> one padded batch (one sequence per context)."""
    seqs, masks, positions, rows = [], [], [], []
    for b, (ctx, conts) in enumerate(groups):
        trie = build_trie(conts)
        seqs.append(list(ctx) + trie.tokens)
        masks.append(tree_mask(len(ctx), trie))
        positions.append(tree_positions(len(ctx), trie))
        for cont, path in zip(conts, trie.paths):
            rows.append((b, scored_rows(len(ctx), trie, path), list(cont)))
    width = max(len(s) for s in seqs)
    blocked = torch.finfo(dtype).min
    mask = torch.full((len(seqs), 1, width, width), blocked, dtype=dtype)
    for b, allowed in enumerate(masks):
        n = allowed.shape[0]
        mask[b, 0, :n, :n] = torch.where(allowed, 0.0, blocked)
        mask[b, 0, n:, :] = 0.0  # padding rows attend to everything: never read, never NaN
    ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    pos = torch.tensor([p + [0] * (width - len(p)) for p in positions])
    return Packed(ids, mask, pos, rows)


@torch.no_grad()
def tree_loglikelihoods(
    model: torch.nn.Module,
    requests: Sequence[Request],
    device: torch.device,
    max_length: int,
    max_tokens: int = 4096,
    on_result: Callable[[tuple[str, str], Answer], None] | None = None,
    disable_tqdm: bool = False,
) -> list[Answer | None]:
    """(sum log p(continuation | context), is_greedy) per request, in request order.

    Requests are grouped by context; groups are packed into batches of at most
    ``max_tokens`` padded positions. A request whose context and trie exceed ``max_length``
    (or with an empty context) gets ``None``: the caller scores it with the plain backend.
    """
    results: list[Answer | None] = [None] * len(requests)
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, (_, ctx, cont) in enumerate(requests):
        if ctx and cont:
            by_context[tuple(ctx)].append(index)
    groups = []
    for ctx, indices in by_context.items():
        size = len(ctx) + len(build_trie([requests[i][2] for i in indices]).tokens)
        if size <= max_length:
            groups.append((size, list(ctx), indices))
    groups.sort(key=lambda g: -g[0])
    bar = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood (tree)")
    for batch in _batches(groups, max_tokens):
        answers = _score(
            model, [(ctx, [requests[i][2] for i in idx]) for _, ctx, idx in batch], device
        )
        for index, answer in zip([i for _, _, idx in batch for i in idx], answers):
            results[index] = answer
            if on_result is not None:
                on_result(requests[index][0], answer)
        bar.update(sum(len(idx) for _, _, idx in batch))
    bar.close()
    return results


def _batches(groups, max_tokens: int):
    batch: list = []
    for group in groups:  # longest first: a batch's width is its first group's size
        if batch and batch[0][0] * (len(batch) + 1) > max_tokens:
            yield batch
            batch = []
        batch.append(group)
    if batch:
        yield batch


def _score(model, groups, device) -> list[Answer]:
    dtype = next(model.parameters()).dtype
    packed = pack(groups, dtype if dtype.is_floating_point else torch.float32)
    logits = model(
        input_ids=packed.input_ids.to(device),
        attention_mask=packed.attention_mask.to(device),
        position_ids=packed.position_ids.to(device),
    ).logits
    logprobs = F.log_softmax(logits.float(), dim=-1)
    answers = []
    for b, rows, targets in packed.rows:
        picked = logprobs[b, rows]
        target = torch.tensor(targets, device=logprobs.device)
        logp = picked.gather(1, target.unsqueeze(1)).squeeze(1)
        answers.append((float(logp.sum()), bool((picked.argmax(dim=-1) == target).all())))
    return answers
