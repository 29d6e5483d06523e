"""Log-likelihoods of many continuations of one context, with the context encoded once.

Multi-answer log-likelihood scoring asks for up to 2^n - 1 continuations of the same
prompt (31 for five options). lm-eval's HF backend re-encodes the prompt for each of them;
here the prompt's key/value cache is computed once per context, repeated over a batch of
continuations, and the continuations (right-padded, so padding never precedes a scored
token) are scored in one forward pass. Same formula as ``HFLM._loglikelihood_tokens``: the
sum of the continuation tokens' log-probabilities and whether greedy decoding produces them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from medinj_eval.models.kv_cache import CACHE

Request = tuple[tuple[str, str], list[int], list[int]]
Answer = tuple[float, bool]


@torch.no_grad()
def shared_prefix_loglikelihoods(
    model: torch.nn.Module,
    requests: Sequence[Request],
    device: torch.device,
    max_length: int,
    batch_size: int = 32,
    on_result: Callable[[tuple[str, str], Answer], None] | None = None,
    disable_tqdm: bool = False,
) -> list[Answer | None]:
    """(sum log p(continuation | context), is_greedy) per request, in request order.

    Requests whose context plus continuation exceed ``max_length`` (or with an empty
    context) get ``None``: the caller scores them with the plain backend.
    """
    results: list[Answer | None] = [None] * len(requests)
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, (_, ctx, cont) in enumerate(requests):
        if len(ctx) > 1 and len(ctx) + len(cont) <= max_length:
            by_context[tuple(ctx)].append(index)
    bar = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood (shared prefix)")
    for ctx, indices in by_context.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            answers = _score_batch(model, list(ctx), [requests[i][2] for i in chunk], device)
            for index, answer in zip(chunk, answers):
                results[index] = answer
                if on_result is not None:
                    on_result(requests[index][0], answer)
            bar.update(len(chunk))
    bar.close()
    return results


def _score_batch(model, ctx: list[int], conts: list[list[int]], device) -> list[Answer]:
    out = model(torch.tensor([ctx[:-1]], device=device), use_cache=True)
    cache = getattr(out, CACHE)
    cache.batch_repeat_interleave(len(conts))
    width = max(len(c) for c in conts)
    rows = [[ctx[-1], *c[:-1]] + [0] * (width - len(c)) for c in conts]
    logits = model(torch.tensor(rows, device=device), **{CACHE: cache}).logits
    logprobs = F.log_softmax(logits.float(), dim=-1)
    answers = []
    for row, cont in zip(logprobs, conts):
        row = row[: len(cont)]
        target = torch.tensor(cont, device=device)
        picked = row.gather(1, target.unsqueeze(1)).squeeze(1)
        answers.append((float(picked.sum()), bool((row.argmax(dim=-1) == target).all())))
    return answers
