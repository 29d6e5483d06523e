"""Training the adapters the harness scores: data-provenance mixes (:mod:`mixes`), YAML
recipes (:mod:`recipe`), the TRL SFT entry point (:mod:`sft`), its step log
(:mod:`callbacks`) and the adapter's model card (:mod:`card`)."""


class TrainingError(RuntimeError):
    """A recipe, a mix or a run that cannot go on; the message says what to change."""
