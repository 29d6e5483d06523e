"""Several judges in one file (``jury.yaml``): who each judge is and where it runs.

A judge is a prompt and a model, in this process (``server: in-process``) or on one or more
OpenAI-compatible servers (``server:`` a URL or a list of URLs serving the same model).
``medinj-eval judge RUN --jury FILE`` grades with every judge and combines their verdicts;
``medinj-eval meta-eval PAIRS --judges FILE`` compares the judges against human labels.

    judges:
      - {name: smollm2-local, prompt: medinjection-binary, server: in-process, model: default}
      - name: gemma
        prompt: medinjection-binary
        server: [http://127.0.0.1:8000/v1, http://127.0.0.1:8001/v1]
        model: google/gemma-3-12b-it
        family: vllm
        revision: 96b6f1eccf38110c56df3a15bffe176da04bfd80
    rule: mean      # or majority (binary verdicts); default: majority for binary, else mean
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from medinj_eval.judge import JudgeError
from medinj_eval.judge.backends import IN_PROCESS
from medinj_eval.server_families import SERVER_FAMILIES
from medinj_eval.strict_yaml import Strict, close_hint, validated


class JudgeSpec(Strict):
    """One judge; ``revision`` (free text) and ``weights`` (a file or folder, hashed) say which
    version a served model is, since a server does not tell."""

    name: str
    prompt: str = "medinjection-binary"
    server: str | list[str] = IN_PROCESS
    model: str = "default"
    family: str = "openai"
    revision: str | None = None
    weights: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=16, ge=1)

    @property
    def servers(self) -> list[str]:
        """The server URLs (none: in process)."""
        urls = [self.server] if isinstance(self.server, str) else list(self.server)
        return [] if urls == [IN_PROCESS] else urls


class Panel(Strict):
    judges: list[JudgeSpec] = Field(min_length=1)
    rule: Literal["mean", "majority"] | None = None


def load_panel(path: Path) -> Panel:
    """The validated panel; each problem is one line naming the file, the key and the value."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise JudgeError(f"{path}: cannot read the judges file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise JudgeError(f"{path}: not YAML ({err})") from None
    if not isinstance(data, dict):
        raise JudgeError(f"{path}: a judges file is a mapping with a 'judges' list")
    panel = validated(Panel, data, path, JudgeError)
    for problem in _problems(panel):
        raise JudgeError(f"{path}: {problem}")
    return panel


def _problems(panel: Panel) -> list[str]:
    from medinj_eval.named_yaml import shipped_names
    from medinj_eval.paths import judge_prompts_dir

    names = [j.name for j in panel.judges]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return [f"judge name {repeated[0]!r} is used twice"]
    prompts = shipped_names(judge_prompts_dir())
    for judge in panel.judges:
        key = f"judges[{judge.name}]"
        if judge.prompt not in prompts and not Path(judge.prompt).is_file():
            return [f"key '{key}.prompt': {judge.prompt!r} is no judge prompt"
                    f"{close_hint(judge.prompt, prompts)}"]  # fmt: skip
        if judge.family not in SERVER_FAMILIES:
            return [f"key '{key}.family': {judge.family!r} is no server family"
                    f"{close_hint(judge.family, SERVER_FAMILIES)}"]  # fmt: skip
        bad = [u for u in judge.servers if not u.startswith(("http://", "https://"))]
        if bad or (not judge.servers and judge.server != IN_PROCESS):
            return [f"key '{key}.server': {bad[0] if bad else judge.server!r} is neither "
                    f"{IN_PROCESS} nor a URL"]  # fmt: skip
        if judge.weights and not Path(judge.weights).exists():
            return [f"key '{key}.weights': {judge.weights} does not exist"]
    return []
