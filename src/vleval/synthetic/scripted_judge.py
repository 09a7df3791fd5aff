"""A judge double for tests: answers from a script, in process, and records every request.

    judge = ScriptedJudge(lambda request, batch: "B")          # a function of the request and batch
    judge = ScriptedJudge(["I cannot tell", "Yes"])            # one answer per batch (retry round)
    judge = ScriptedJudge("Failed to obtain answer via API. ")  # always the same answer

``batch`` counts the ``ask_many`` calls before this one (0 for the first), so a script can answer
each retry round differently. ``batches`` holds the requests of every call, ``requests`` all of them
in order. It obeys the ``Judge`` contract (``vleval.types``): one answer per request, never an
exception. Tests that need real HTTP use ``vleval.synthetic.judge_server.JudgeServer`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vleval.types import JudgeRequest

Script = Callable[[JudgeRequest, int], str] | Sequence[str] | str


class ScriptedJudge:
    def __init__(self, script: Script, *, short_name: str = "gpt-4o-mini", model: str | None = None) -> None:
        self.script = script
        self.short_name = short_name
        self.model = model or f"scripted-{short_name}"
        self.batches: list[list[JudgeRequest]] = []

    @property
    def requests(self) -> list[JudgeRequest]:
        return [request for batch in self.batches for request in batch]

    def answer(self, request: JudgeRequest, batch: int) -> str:
        if isinstance(self.script, str):
            return self.script
        if callable(self.script):
            return self.script(request, batch)
        return self.script[batch]

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        batch = len(self.batches)
        self.batches.append(list(requests))
        return [self.answer(request, batch) for request in requests]

    def close(self) -> None:
        pass


def stand_in_judge(short_name: str) -> ScriptedJudge:
    """The local stand-in judge server's rule-based answers, in process (no server): for tests about
    scoring rather than transport."""
    from vleval.protocol import JUDGE_MODEL_IDS
    from vleval.synthetic.judge_server import rule_based_answer

    def answer(request: JudgeRequest, _batch: int) -> str:
        return rule_based_answer(
            short_name, [{"role": "user", "content": request.prompt}], request.temperature
        )

    return ScriptedJudge(answer, short_name=short_name, model=JUDGE_MODEL_IDS.get(short_name, short_name))
