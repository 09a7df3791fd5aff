"""How to reach and pace a judge: ``JudgeSettings``, and the one declaration of the judge options that
every command taking a judge accepts (``vleval run``, ``slurm``, ``eval``, ``judge-audit``,
``judge-calibrate``).

``JUDGE_OPTIONS`` is the single list of those options: ``add_judge_options`` puts them on a command's
parser, ``vleval.runner.config.OPTIONS`` takes its judge entries from it (so ``run`` and ``slurm``
forward and record them like any run option), and ``judge_settings_from`` turns parsed arguments (or a
``RunConfig``, whose fields carry the same names) into ``JudgeSettings``. A command cannot forget one,
and the same flag has the same name, default and help everywhere.

Defaults that depend on the pinned protocol (attempts per request, seconds per attempt) stay ``None``
here and are filled in by ``JudgeSettings.under(protocol)``, the one place that decides them; what
is still unset after that gets vleval's transport defaults (``vleval.transport``).

This module imports only the transport constants and ``redact_url``: the CLIs and ``vleval.judge``
both read it.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.transport import (
    DEFAULT_MAX_CONSECUTIVE_TIMEOUTS,
    DEFAULT_RETRY_BUDGET_S,
    DEFAULT_TIMEOUT_S,
    redact_url,
)

if TYPE_CHECKING:
    from vleval.protocol import Protocol

DEFAULT_JUDGE_WORKERS = 16
DEFAULT_JUDGE_RETRIES = 6  # attempts per request when no protocol says otherwise (the reference's retry)


@dataclass(frozen=True)
class JudgeSettings:
    """How to reach and pace a judge. ``None`` means "the default": the protocol's for ``retries`` and
    ``timeout`` (``under``), vleval's (``vleval.transport``) otherwise. The key is never shown: it is
    left out of the repr, and the URL is shown without credentials."""

    base_url: str | None = None  # None: $OPENAI_API_BASE, else api.openai.com
    api_key: str | None = None  # None: $OPENAI_API_KEY; never printed, logged or written
    workers: int = DEFAULT_JUDGE_WORKERS  # parallel requests
    retries: int | None = None  # attempts per request; None: the protocol's judge_retries
    timeout: float | None = None  # seconds per attempt; None: the protocol's judge_timeout_s
    retry_budget_s: float | None = None  # seconds per request, attempts and waits together
    max_consecutive_timeouts: int = DEFAULT_MAX_CONSECUTIVE_TIMEOUTS
    cache_dir: Path | None = None  # None: ./.judge_cache (callers pass vleval.judge.cache.default_cache_dir)
    progress: bool = True  # shown under the console policy (vleval.console)

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "api_key"}
        if self.base_url is not None:
            shown["base_url"] = redact_url(self.base_url)
        shown["api_key"] = None if self.api_key is None else "***"
        return f"JudgeSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def under(self, protocol: Protocol) -> JudgeSettings:
        """These settings with the protocol's attempts and per-attempt timeout where none was given."""
        return dataclasses.replace(
            self,
            retries=self.retries if self.retries is not None else protocol.judge_retries,
            timeout=self.timeout if self.timeout is not None else protocol.judge_timeout_s,
        )

    def with_base_url(self, base_url: str | None) -> JudgeSettings:
        """The same pacing for another endpoint (judge-calibrate's cheap judge)."""
        return dataclasses.replace(self, base_url=base_url)

    # what a judge is built with once every default is decided
    @property
    def attempts(self) -> int:
        return self.retries if self.retries is not None else DEFAULT_JUDGE_RETRIES

    @property
    def attempt_timeout_s(self) -> float:
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT_S

    @property
    def request_budget_s(self) -> float:
        return self.retry_budget_s if self.retry_budget_s is not None else DEFAULT_RETRY_BUDGET_S


def positive_number(kind: Callable[[str], Any], flag: str) -> Callable[[str], Any]:
    """An argparse type: a number above zero (argparse turns the error into one line, exit 2)."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{flag} takes {what}, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{flag} must be above 0, not {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


@dataclass(frozen=True)
class JudgeOption:
    """One judge option: its flag, the argparse dest (also the ``RunConfig`` field of ``vleval run``),
    the ``JudgeSettings`` field it sets, and how it reads and shows."""

    flag: str
    dest: str
    setting: str
    help: str
    metavar: str
    type: Callable[[str], Any] | None = None
    url: bool = False  # recorded without credentials
    env: str | None = None  # the environment variable read when the option is not given

    @property
    def default(self) -> Any:
        """The option's default: its ``JudgeSettings`` field's, so the CLIs cannot disagree."""
        return next(f.default for f in dataclasses.fields(JudgeSettings) if f.name == self.setting)

    @property
    def full_help(self) -> str:
        return self.help if self.default is None else f"{self.help} (default {self.default})"


JUDGE_OPTIONS: tuple[JudgeOption, ...] = (
    JudgeOption(
        "--judge-base-url",
        "judge_base_url",
        "base_url",
        "the judge's OpenAI-compatible endpoint (default $OPENAI_API_BASE, else api.openai.com)",
        "URL",
        url=True,
        env="OPENAI_API_BASE",
    ),
    JudgeOption(
        "--judge-workers",
        "judge_workers",
        "workers",
        "parallel judge requests",
        "N",
        type=positive_number(int, "--judge-workers"),
    ),
    JudgeOption(
        "--judge-timeout",
        "judge_timeout_s",
        "timeout",
        "wall-clock seconds one judge attempt may take (default: the protocol's)",
        "S",
        type=positive_number(float, "--judge-timeout"),
    ),
    JudgeOption(
        "--judge-retry-budget",
        "judge_retry_budget_s",
        "retry_budget_s",
        "wall-clock seconds all attempts of one judge request may take together "
        f"(default {DEFAULT_RETRY_BUDGET_S:g})",
        "S",
        type=positive_number(float, "--judge-retry-budget"),
    ),
)


def add_judge_options(parser: argparse.ArgumentParser | Any) -> None:
    """Every judge option on ``parser`` (or an argument group), with its shared name, default and help."""
    for option in JUDGE_OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.dest, "default": option.default, "metavar": option.metavar}
        if option.type is not None:
            kwargs["type"] = option.type
        parser.add_argument(option.flag, help=option.full_help, **kwargs)


def recorded_judge_options(source: Any) -> dict[str, Any]:
    """The judge options of parsed arguments as records keep them (``vleval eval``'s entry in
    ``run.json``): every option by its dest, URLs without credentials; the key is no option."""
    out: dict[str, Any] = {}
    for option in JUDGE_OPTIONS:
        value = getattr(source, option.dest, None)
        out[option.dest] = redact_url(str(value)) if option.url and value is not None else value
    return out


def judge_settings_from(source: Any, **extra: Any) -> JudgeSettings:
    """``JudgeSettings`` from parsed arguments or a ``RunConfig`` (both carry every option's dest);
    ``extra``: the settings no option gives (key, cache folder, progress). An option not given keeps
    the settings' default."""
    values = {
        o.setting: getattr(source, o.dest)
        for o in JUDGE_OPTIONS
        if getattr(source, o.dest, None) is not None
    }
    return JudgeSettings(**values, **extra)
