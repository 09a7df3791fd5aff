"""One ``JudgeSettings`` from every CLI to every judge; one declaration of the judge options."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from vleval.cli import build_parser
from vleval.judge.client import OpenAIJudge, resolve_judge
from vleval.judge.settings import JUDGE_OPTIONS, JudgeSettings, judge_settings_from
from vleval.protocol import get_protocol
from vleval.runner.config import RunConfig
from vleval.synthetic.judge_server import JudgeServer

# the commands that send requests to a judge, with the arguments each requires besides the judge options
JUDGE_COMMANDS = {
    "run": ["--model", "m", "--data", "MMStar"],
    "slurm": ["--model", "m", "--data", "MMStar"],
    "eval": ["--pred", "p.xlsx"],
    "judge-audit": ["--work-dir", "w", "--judge", "gpt-4o-mini"],
    "judge-calibrate": ["--work-dir", "w", "--local-judge", "local:x"],
}
# answers only from the judge cache, never over the network: endpoint and pacing options do not apply
CACHE_ONLY_COMMANDS = {"diff-protocols"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_every_command_taking_a_judge_has_every_judge_option_with_the_same_default_and_help():
    commands = _commands()
    # a command with any --judge... option takes a judge: it must be listed above (and so checked)
    taking = {name for name, p in commands.items() if any(f.startswith("--judge") for f in _options(p))}
    assert taking == set(JUDGE_COMMANDS) | CACHE_ONLY_COMMANDS
    for name in JUDGE_COMMANDS:
        options = _options(commands[name])
        for option in JUDGE_OPTIONS:
            assert option.flag in options, f"vleval {name} lacks {option.flag}"
            action = options[option.flag]
            assert action.dest == option.dest, (name, option.flag)
            if name == "slurm":  # forwards only what was given (runner.config.forwarded_args)
                assert action.default is argparse.SUPPRESS
                continue
            assert (action.default, action.metavar) == (option.default, option.metavar), (name, option.flag)
            shown = (action.help or "").replace("%(default)s", str(action.default))
            assert shown == option.full_help, (name, option.flag)


def test_a_cache_only_command_refuses_endpoint_options_instead_of_ignoring_them(capsys):
    for name in CACHE_ONLY_COMMANDS:
        assert not set(_options(_commands()[name])) & {o.flag for o in JUDGE_OPTIONS}
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["diff-protocols", "2024.12", "2026.08", "--pred", "p", "--judge-workers", "2"])
    assert exc.value.code == 2 and "--judge-workers" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(JUDGE_COMMANDS))
@pytest.mark.parametrize(("flag", "value"), [("--judge-workers", "0"), ("--judge-timeout", "-1"),
                                             ("--judge-retry-budget", "soon")])  # fmt: skip
def test_a_bad_judge_option_is_one_line_and_exit_2_in_every_command(name, flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, *JUDGE_COMMANDS[name], flag, value])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"argument {flag}: {flag}" in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(set(JUDGE_COMMANDS) - {"slurm"}))
def test_the_options_given_reach_the_judge(name, server: JudgeServer, tmp_path: Path):
    argv = [name, *JUDGE_COMMANDS[name], "--judge-base-url", server.base_url, "--judge-workers", "3",
            "--judge-timeout", "7", "--judge-retry-budget", "30"]  # fmt: skip
    args = build_parser().parse_args(argv)
    settings = judge_settings_from(args, cache_dir=tmp_path)
    if name == "run":  # `vleval run` goes through its RunConfig, which has the same fields
        from vleval.runner.config import config_from_args

        settings = config_from_args(args, environ={}).judge_settings()
        assert settings.cache_dir == Path("outputs") / ".judge_cache"
        settings = dataclasses.replace(settings, cache_dir=tmp_path)
    choice = resolve_judge("gpt-4o-mini", None, settings.under(get_protocol("2024.12")))
    judge = choice.judge
    assert isinstance(judge, OpenAIJudge)
    try:
        endpoint = judge.endpoint
        assert (judge.workers, endpoint.timeout_s, endpoint.retry_budget_s) == (3, 7.0, 30.0)
        assert judge.retries == 3  # not an option: the protocol's attempts (2024.12: 3)
        assert judge.base_url == server.base_url
    finally:
        judge.close()


def test_options_not_given_get_the_protocols_attempts_and_timeout_then_vlevals_defaults(tmp_path: Path):
    args = build_parser().parse_args(["judge-audit", *JUDGE_COMMANDS["judge-audit"]])
    settings = judge_settings_from(args, cache_dir=tmp_path)
    assert settings == JudgeSettings(cache_dir=tmp_path)
    under = settings.under(get_protocol("2026.08"))
    assert (under.retries, under.timeout, under.workers) == (6, 600.0, 16)
    assert (under.attempts, under.attempt_timeout_s, under.request_budget_s) == (6, 600.0, 600.0)
    given = JudgeSettings(retries=2, timeout=5.0).under(get_protocol("2026.08"))
    assert (given.retries, given.timeout) == (2, 5.0)  # what the user gave wins over the protocol
    # the run's defaults are the same declaration's
    assert RunConfig(models=[], datasets=[]).judge_settings().workers == JudgeSettings().workers


def test_the_settings_never_show_the_key_or_credentials_in_the_url():
    settings = JudgeSettings(base_url="http://user:pw-secret@127.0.0.1:9/v1?api-key=sk-q", api_key="sk-secret")
    text = repr(settings) + str(settings)
    assert "sk-secret" not in text and "pw-secret" not in text and "sk-q" not in text
    assert "127.0.0.1:9/v1" in text and "api_key='***'" in text
