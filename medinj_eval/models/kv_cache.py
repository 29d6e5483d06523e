"""The name transformers gives a causal model's key/value cache, as a keyword argument and as
an output field: ``cache`` in the releases that renamed it (which still take the old name,
with a deprecation warning at every call), ``past_key_values`` before them."""

from __future__ import annotations

from dataclasses import fields

from transformers.modeling_outputs import CausalLMOutputWithPast

CACHE = (
    "cache" if "cache" in {f.name for f in fields(CausalLMOutputWithPast)} else "past_key_values"
)
