"""The local judge server: OpenAI wire format, counting, failure injection, and the rule-based
answers it gives to the reference's judge prompts."""

import json
import urllib.error
import urllib.request

import pytest

from vleval.synthetic.judge_server import JudgeServer, rule_based_answer


def post(url: str, payload: object, key: str = "k") -> tuple[int, dict]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def chat(text: str) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def test_serves_openai_format_on_both_paths(server: JudgeServer) -> None:
    status, body = post(server.chat_url, chat("hello"))
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["model"] == "m"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"]
    status, _ = post(server.chat_url.replace("/v1", ""), chat("hello"))
    assert status == 200
    assert server.request_count == 2
    assert server.answered_count == 2
    assert server.auth_headers == ["Bearer k", "Bearer k"]


def test_unknown_route_and_bad_json_are_client_errors(server: JudgeServer) -> None:
    assert post(server.base_url + "/completions", chat("x"))[0] == 404
    status, body = post(server.chat_url, b"{not json")
    assert status == 400
    assert "bad request" in body["error"]["message"]
    assert server.request_count == 0


def test_fail_next_injects_statuses_in_order(server: JudgeServer) -> None:
    server.fail_next(1, 429, retry_after=0.1)
    server.fail_next(1, 500)
    assert post(server.chat_url, chat("a"))[0] == 429
    assert post(server.chat_url, chat("a"))[0] == 500
    assert post(server.chat_url, chat("a"))[0] == 200
    assert server.request_count == 3
    assert server.answered_count == 1


def test_custom_answer_callable_sees_model_messages_temperature() -> None:
    seen = []

    def answer(model: str, messages: list[dict], temperature: float) -> str:
        seen.append((model, messages, temperature))
        return f"{model}@{temperature}"

    with JudgeServer(answer) as server:
        payload = chat("q") | {"temperature": 0.5}
        assert post(server.chat_url, payload)[1]["choices"][0]["message"]["content"] == "m@0.5"
    assert seen == [("m", payload["messages"], 0.5)]


def test_wrong_key_is_rejected_with_401() -> None:
    with JudgeServer(api_key="right") as server:
        assert post(server.chat_url, chat("q"), key="wrong")[0] == 401
        assert post(server.chat_url, chat("q"), key="right")[0] == 200


MCQ_PROMPT = (
    "You are an AI assistant who will help me to match an answer with several options of a "
    "single-choice question. ...\nExample 1: \nQuestion: What is the main object in image?\n"
    "Options: A. teddy bear B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n"
    "Example 3: \nQuestion: {q}?\nOptions: There are several options: \nA. red\nB. blue\nC. green\n\nAnswer: {a}\nYour output: "
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("The answer is (B)", "B"), ("it is green", "C"), ("no idea", "Z"), ("A or B", "Z")],
)
def test_rule_based_mcq_matching(answer: str, expected: str) -> None:
    prompt = MCQ_PROMPT.format(q="Which colour", a=answer)
    assert rule_based_answer("m", user(prompt), 0.0) == expected


YN_PROMPT = (
    "You are an AI assistant who will help me to match an answer with two options of a question. "
    "The options are only Yes / No. ...\nExample 1: \nQuestion: Is the word 'Hello'?\n"
    "Answer: The word in this image is 'Hello'.\nYour output: Yes\n"
    "Example 3: \nQuestion: {q}?\nAnswer: {a}\nYour output: "
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("Yes, it is.", "Yes"), ("No.", "No"), ("Yes and no", "Unknown"), ("", "Unknown")],
)
def test_rule_based_yes_no(answer: str, expected: str) -> None:
    assert rule_based_answer("m", user(YN_PROMPT.format(q="Is it red", a=answer)), 0.0) == expected


def test_rule_based_mathvista_extracts_the_number() -> None:
    prompt = (
        "\nPlease read the following example.\n...Model response: The answer is 5.\nExtracted answer: 5\n"
        "Question: How many?\nModel respone: There are 1,234 apples in total.Extracted answer:"
    )
    assert rule_based_answer("m", user(prompt), 0.0) == "1234"


def test_rule_based_mmvet_and_llavabench() -> None:
    head = (
        "\nCompare the ground truth and prediction from AI models, to give a correctness score.\n\n"
        "Question | Ground truth | Prediction | Correctness\n--- | --- | --- | ---\n"
        "What is x? | -1 <AND> -5 | x = 3 | 0.0\nExplain | long text | long answer | 1.0\n\n"
    )
    assert rule_based_answer("m", user(head + "What is x? | 2 | x is 2 | "), 0.0) == "1.0"
    assert rule_based_answer("m", user(head + "What is x? | 2 | x is 3 | "), 0.0) == "0.5"
    assert rule_based_answer("m", user(head + "Where? | a <AND> b | a only | "), 0.0) == "0.5"
    llava = "[Context]\ncap\n\n[Question]\nq\n\n[Assistant 1]\nx\n\n[End of Assistant 1]\n\n[System]\nrate"
    assert rule_based_answer("m", user(llava), 0.2) == "8 6"
