"""Log-likelihoods of every continuation of a context in one forward pass (tree attention).

The continuations of one context (the 31 answer sets of a five-option item, the option
texts of an item) share the context and most of their prefixes ("A", "A, B", ...). The
tokens they feed the model (each continuation without its last token, which is only ever
predicted) are laid out as a token trie after the context: one sequence = the context, then
one position per trie node. A 4D attention mask lets each node see the context and its own
ancestors only, and its position id is the context length plus its depth minus one, so every
node's logits are those the model gives at that point of that continuation alone (the
technique of speculative-decoding verifiers). Single-token continuations (answer letters)
add no node: the batch is then plain causal. Several contexts are packed into one batch,
padded on the right. Same formula as ``HFLM._loglikelihood_tokens``: the sum of the
continuation tokens' log-probabilities and whether greedy decoding produces them.

Attention implementations that take a custom 4D mask run it: ``sdpa`` a boolean one (any
dtype, autocast included), ``eager`` an additive one in the model's dtype. Others
(``flash_attention_*``, ``flex_attention``) cannot, and the caller falls back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from medinj_eval.models.next_token import NextTokenLogits, keeps_logits

Request = tuple[tuple[str, str], list[int], list[int]]
Answer = tuple[float, bool]
MASKABLE = ("eager", "sdpa")
# Padded positions per forward pass. On CPUs, batches past about a thousand positions get
# slower per token (activations leave the caches); GPUs want large batches.
BATCH_POSITIONS = {"cpu": 1024}
GPU_BATCH_POSITIONS = 16384


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


def scored_rows(context_length: int, path: list[int]) -> list[int]:
    """Rows whose logits predict each token of a continuation whose input nodes are
    ``path``: the last context token for the first token, then each input node."""
    return [context_length - 1] + [context_length + n for n in path]


@dataclass
class Packed:
    """One forward pass: padded inputs, the attention mask and positions (None when the batch
    is plain causal), and per request its rows and targets."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    position_ids: torch.Tensor | None
    rows: list[tuple[int, list[int], list[int]]]  # (batch row, logits rows, target tokens)


def pack(groups: list[tuple[list[int], list[list[int]]]], additive: torch.dtype | None) -> Packed:
    """Contexts with their continuations -> one right-padded batch, one sequence per context.

    The mask is boolean when ``additive`` is None, else additive in that dtype. Padding
    follows every token that is read, so a batch without trie nodes needs no mask at all.
    """
    seqs, masks, positions, rows = [], [], [], []
    for b, (ctx, conts) in enumerate(groups):
        trie = build_trie([cont[:-1] for cont in conts])
        seqs.append(list(ctx) + trie.tokens)
        masks.append(tree_mask(len(ctx), trie))
        positions.append(tree_positions(len(ctx), trie))
        for cont, path in zip(conts, trie.paths):
            rows.append((b, scored_rows(len(ctx), path), list(cont)))
    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    if all(len(s) == len(ctx) for s, (ctx, _) in zip(seqs, groups)):
        return Packed(ids, None, None, rows)
    mask = torch.ones((len(seqs), 1, width, width), dtype=torch.bool)  # padding rows: all
    for b, allowed in enumerate(masks):
        n = allowed.shape[0]
        mask[b, 0, :n] = False
        mask[b, 0, :n, :n] = allowed
    if additive is not None:
        mask = torch.zeros(mask.shape, dtype=additive).masked_fill(~mask, torch.finfo(additive).min)
    pos = torch.tensor([p + [0] * (width - len(p)) for p in positions])
    return Packed(ids, mask, pos, rows)


@torch.no_grad()
def tree_loglikelihoods(
    model: torch.nn.Module,
    requests: Sequence[Request],
    device: torch.device,
    max_length: int,
    max_tokens: int | None = None,
    on_result: Callable[[tuple[str, str], Answer], None] | None = None,
    disable_tqdm: bool = False,
    memo: NextTokenLogits | None = None,
) -> list[Answer | None]:
    """(sum log p(continuation | context), is_greedy) per request, in request order.

    Requests are grouped by context; groups are packed into batches of at most
    ``max_tokens`` padded positions (by default, by device type). A request whose context
    and trie exceed ``max_length`` (or with an empty context) gets ``None``: the caller
    scores it with the plain backend. With ``memo``, every context's next-token logits are
    kept, and single-token continuations of a known context take no forward pass.
    """
    results: list[Answer | None] = [None] * len(requests)
    memo = memo if memo is not None else NextTokenLogits(capacity=0)
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, (_, ctx, cont) in enumerate(requests):
        if ctx and cont:
            by_context[tuple(ctx)].append(index)
    bar = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood (tree)")

    def deliver(indices: list[int], answers: list[Answer]) -> None:
        for index, answer in zip(indices, answers):
            results[index] = answer
            if on_result is not None:
                on_result(requests[index][0], answer)
        bar.update(len(indices))

    groups = []
    for ctx, indices in by_context.items():
        known = memo.get(ctx)
        if known is not None and all(len(requests[i][2]) == 1 for i in indices):
            deliver(indices, _from_logits(known, [requests[i][2] for i in indices]))
            continue
        size = len(ctx) + len(build_trie([requests[i][2][:-1] for i in indices]).tokens)
        if size <= max_length:
            groups.append((size, list(ctx), indices))
    groups.sort(key=lambda g: -g[0])
    if max_tokens is None:
        max_tokens = BATCH_POSITIONS.get(torch.device(device).type, GPU_BATCH_POSITIONS)
    for batch in _batches(groups, max_tokens):
        answers = _score(
            model, [(ctx, [requests[i][2] for i in idx]) for _, ctx, idx in batch], device, memo
        )
        deliver([i for _, _, idx in batch for i in idx], answers)
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


def _from_logits(logits: torch.Tensor, continuations: list[list[int]]) -> list[Answer]:
    """Answers of single-token continuations from the context's next-token logits."""
    logprobs = F.log_softmax(logits.float(), dim=-1)
    best = int(logprobs.argmax())
    return [(float(logprobs[c[0]]), c[0] == best) for c in continuations]


def _score(model, groups, device, memo: NextTokenLogits) -> list[Answer]:
    packed = pack(groups, _additive_dtype(model))
    inputs = {"attention_mask": packed.attention_mask, "position_ids": packed.position_ids}
    inputs = {k: v.to(device) for k, v in inputs.items() if v is not None}
    read = sorted({row for _, rows, _ in packed.rows for row in rows})
    if keeps_logits(model):  # the vocabulary projection only where a token is predicted
        inputs["logits_to_keep"] = torch.tensor(read, device=device)
    logits = model(input_ids=packed.input_ids.to(device), **inputs).logits
    column = dict(zip(read, range(len(read)))) if logits.shape[1] == len(read) else None
    for b, (ctx, _) in enumerate(groups):
        memo.put(ctx, logits[b, column[len(ctx) - 1] if column else len(ctx) - 1])
    answers = []
    for b, rows, targets in packed.rows:
        picked = logits[b, [column[r] for r in rows] if column else rows]
        logprobs = F.log_softmax(picked.float(), dim=-1)
        target = torch.tensor(targets, device=logprobs.device)
        logp = logprobs.gather(1, target.unsqueeze(1)).squeeze(1)
        answers.append((float(logp.sum()), bool((logprobs.argmax(dim=-1) == target).all())))
    return answers


def _additive_dtype(model) -> torch.dtype | None:
    """None for ``sdpa`` (a boolean mask), else the model's floating dtype (``eager``)."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        return None
    dtype = next(model.parameters()).dtype
    return dtype if dtype.is_floating_point else torch.float32
