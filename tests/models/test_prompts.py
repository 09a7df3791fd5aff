"""What the model is asked for each benchmark must be the reference's text, character for character.

Expected strings are written by hand from docs/model-protocol.md (not produced by the
code under test): one sample per benchmark x (plain, -MPO model) x (CoT off, on).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from importlib import resources

import pytest
from PIL import Image

from vleval.datasets.registry import BENCHMARKS
from vleval.models.internvl.prompts import build_request
from vleval.models.registry import get_model
from vleval.protocol import get_protocol
from vleval.types import BenchmarkCard, Sample

MCQ_COT = (
    "Answer the preceding multiple choice question. The last line of your response should follow this format: "
    "'Answer: \\boxed{$LETTER}' (without quotes), where LETTER is one of the options. If you are uncertain or "
    "the problem is too complex, make a reasoned guess based on the information provided. Avoid repeating steps "
    "indefinitely\u2014provide your best guess even if unsure. Think step by step logically, considering all "
    "relevant information before answering."
)
QA_COT = (
    "Answer the preceding question. The last line of your response should follow this format: "
    "'Answer: \\boxed{$FINAL_ANSWER}' (without quotes), where 'FINAL_ANSWER' is your conclusion based on the "
    "reasoning provided. If you are uncertain or the problem is too complex, make a reasoned guess based on the "
    "information provided. Avoid repeating steps indefinitely\u2014provide your best guess even if unsure. Think "
    "step by step logically, considering all relevant information before answering."
)
MPO = (
    "Your task is to answer the question below. Give step by step reasoning before you answer, and when "
    'you\'re ready to answer, please use the format "Final answer: .."\n\nQuestion:\n\n'
)
DIRECT = "Answer with the option's letter from the given choices directly."
SHORT = "Answer the question using a single word or phrase."

# The wording decisions come from the registry's cards (checked against the reference's own
# name-fragment rules at the end of this file); the rest of each card is stated here.
CARDS = {
    card.name: dataclasses.replace(card, prompt=BENCHMARKS[card.name].prompt)
    for card in (
        BenchmarkCard("MMBench_TEST_EN_V11", "", "", "MCQ", "mcq", has_answers=False),
        BenchmarkCard("MMBench_DEV_EN_V11", "", "", "MCQ", "mcq"),
        BenchmarkCard("MMStar", "", "", "MCQ", "mcq"),
        BenchmarkCard("MMMU_DEV_VAL", "", "", "MCQ", "mcq", max_tiles=12),
        BenchmarkCard("MathVista_MINI", "", "", "VQA", "mathvista"),
        BenchmarkCard("HallusionBench", "", "", "Y/N", "yorn"),
        BenchmarkCard("AI2D_TEST", "", "", "MCQ", "mcq"),
        BenchmarkCard("OCRBench", "", "", "VQA", "ocrbench", max_tiles=24),
        BenchmarkCard("MMVet", "", "", "VQA", "mmvet"),
        BenchmarkCard("LLaVABench", "", "", "VQA", "llavabench"),
        BenchmarkCard("CRPE_EXIST", "", "", "VQA", "crpe"),
        BenchmarkCard("CRPE_RELATION", "", "", "VQA", "crpe"),
    )
}


def sample(dataset, question, options=None, hint=None, n_images=1, index=7, image_paths=()):
    images = [Image.new("RGB", (64, 48), (40 * k, 90, 200)) for k in range(n_images)]
    return Sample(
        dataset=dataset,
        index=index,
        question=question,
        options=options or {},
        hint=hint,
        image_paths=image_paths,
        image_loader=lambda: images,
    )


MATHVISTA_Q = "Hint: Please answer the question requiring an integer answer.\nQuestion: What is x?"
CRPE_REL_Q = "What is the relation between the man and the horse?\nA. riding\nB. feeding"

SAMPLES = {
    "MMBench_TEST_EN_V11": sample(
        "MMBench_TEST_EN_V11",
        "Which animal is this?",
        {"A": "Cow", "B": "Horse", "C": "Sheep", "D": "Goat"},
        hint="The picture shows a farm.",
    ),
    "MMBench_DEV_EN_V11": sample("MMBench_DEV_EN_V11", "这是什么动物？", {"A": "牛", "B": "马"}),
    "MMStar": sample("MMStar", "How many dots are there?", {"A": "1", "B": "2", "C": "3", "D": "4"}),
    "MMMU_DEV_VAL": sample(
        "MMMU_DEV_VAL",
        "Compare <image 1> and <image 2>. Which is larger?",
        {"A": "Left", "B": "Right"},
        n_images=2,
    ),
    "MathVista_MINI": sample("MathVista_MINI", MATHVISTA_Q),
    "HallusionBench": sample("HallusionBench", "Is the sky green in this image?"),
    "AI2D_TEST": sample("AI2D_TEST", "Which label marks the stem?", {"A": "a", "B": "b", "C": "c", "D": "d"}),
    "OCRBench": sample("OCRBench", "What is written on the sign?"),
    "MMVet": sample("MMVet", "What is the total price?"),
    "LLaVABench": sample("LLaVABench", "Describe the image."),
    "CRPE_EXIST": sample("CRPE_EXIST", "Is there a dog in the image?"),
    "CRPE_RELATION": sample("CRPE_RELATION", CRPE_REL_Q),
}

FARM = "The picture shows a farm.\nWhich animal is this?\nA. Cow\nB. Horse\nC. Sheep\nD. Goat"
COW = "Which animal is this?\nA. Cow\nB. Horse\nC. Sheep\nD. Goat"
CN = "这是什么动物？\nA. 牛\nB. 马"
DOTS = "How many dots are there?\nA. 1\nB. 2\nC. 3\nD. 4"
MMMU_TEXT = "Compare <image 1> and <image 2>. Which is larger?\nA. Left\nB. Right"
TWO = "Image-1: <image>\nImage-2: <image>\n"
ONE = "<image>\n"
STEM = "Which label marks the stem?\nA. a\nB. b\nC. c\nD. d"
SKY = "Is the sky green in this image?"
SKY_P = SKY + " Please answer yes or no. " + SHORT
SIGN = "What is written on the sign?"
PRICE = "What is the total price?"
DOG = "Is there a dog in the image?"
LLAVA = "Describe the image.\nAnswer this question in detail."

# benchmark -> {(mpo model, cot): (text, post-processing)}; §6 matrix: P plain, C CoT, M MPO prompt.
EXPECTED = {
    "MMBench_TEST_EN_V11": {
        (False, False): (ONE + FARM + "\n" + DIRECT, "none"),
        (False, True): (ONE + FARM + "\n" + MCQ_COT, "none"),
        (True, False): (ONE + FARM + "\n" + DIRECT, "none"),
        (True, True): (ONE + MPO + COW, "mpo"),  # hint dropped
    },
    "MMBench_DEV_EN_V11": {
        (False, False): (ONE + CN + "\n请直接回答选项字母。", "none"),
        (False, True): (ONE + CN + "\n请直接回答选项字母。\n" + MCQ_COT, "none"),  # CN suffix kept
        (True, False): (ONE + CN + "\n请直接回答选项字母。", "none"),
        (True, True): (ONE + MPO + CN, "mpo"),
    },
    "MMStar": {
        (False, False): (ONE + DOTS + "\n" + DIRECT, "none"),
        (False, True): (ONE + DOTS + "\n" + MCQ_COT, "none"),
        (True, False): (ONE + MPO + DOTS, "mpo"),
        (True, True): (ONE + MPO + DOTS, "mpo"),
    },
    "MMMU_DEV_VAL": {
        (False, False): (TWO + MMMU_TEXT + "\n" + DIRECT, "none"),
        (False, True): (TWO + MMMU_TEXT + "\n" + MCQ_COT, "none"),
        (True, False): (TWO + MMMU_TEXT + "\n" + DIRECT, "none"),
        (True, True): (TWO + MPO + MMMU_TEXT, "mpo"),
    },
    "MathVista_MINI": {
        (False, False): (ONE + MATHVISTA_Q, "none"),
        (False, True): (ONE + MATHVISTA_Q + "\n" + QA_COT, "none"),
        (True, False): (ONE + MATHVISTA_Q, "none"),
        (True, True): (ONE + MPO + MATHVISTA_Q, "none"),
    },
    "HallusionBench": {
        (False, False): (ONE + SKY_P, "none"),
        (False, True): (ONE + SKY_P, "none"),  # no Y/N CoT
        (True, False): (ONE + MPO + SKY, "mpo"),
        (True, True): (ONE + MPO + SKY, "mpo"),
    },
    "AI2D_TEST": {
        (False, False): (ONE + STEM + "\n" + DIRECT, "none"),
        (False, True): (ONE + STEM + "\n" + MCQ_COT, "none"),
        (True, False): (ONE + STEM + "\n" + DIRECT, "none"),
        (True, True): (ONE + MPO + STEM, "mpo"),
    },
    "OCRBench": {
        (False, False): (ONE + SIGN + "\n" + SHORT, "none"),
        (False, True): (ONE + SIGN + "\n" + SHORT, "none"),
        (True, False): (ONE + MPO + SIGN, "none"),  # MPO prompt, but VQA: no post-processing
        (True, True): (ONE + MPO + SIGN, "none"),
    },
    "MMVet": {
        (False, False): (ONE + PRICE, "none"),
        (False, True): (ONE + PRICE + "\n" + QA_COT, "none"),
        (True, False): (ONE + PRICE, "none"),
        (True, True): (ONE + PRICE + "\n" + QA_COT, "none"),  # MPO prompt skips MMVet
    },
    "LLaVABench": {
        (False, False): (ONE + LLAVA, "none"),
        (False, True): (ONE + LLAVA, "none"),
        (True, False): (ONE + LLAVA, "none"),
        (True, True): (ONE + LLAVA, "none"),
    },
    "CRPE_EXIST": {
        (False, False): (ONE + DOG, "none"),
        (False, True): (ONE + DOG + "\n" + QA_COT, "none"),
        (True, False): (ONE + DOG, "none"),
        (True, True): (ONE + MPO + DOG, "mpo"),
    },
    "CRPE_RELATION": {
        (False, False): (ONE + CRPE_REL_Q, "none"),
        (False, True): (ONE + CRPE_REL_Q + "\n" + QA_COT, "none"),
        (True, False): (ONE + CRPE_REL_Q, "none"),
        (True, True): (ONE + MPO + CRPE_REL_Q, "mpo"),
    },
}

CASES = [
    (benchmark, mpo, cot)
    for benchmark in EXPECTED
    for mpo in (False, True)
    for cot in (False, True)  # fmt: skip
]


@pytest.mark.parametrize(("benchmark", "mpo", "cot"), CASES)
def test_prompt_text_matches_reference(benchmark, mpo, cot):
    model = get_model("InternVL2_5-2B-MPO" if mpo else "InternVL2_5-2B")
    request = build_request(SAMPLES[benchmark], CARDS[benchmark], model, get_protocol("2024.12"), cot)
    text, postprocess = EXPECTED[benchmark][(mpo, cot)]
    assert request.text == text
    assert request.postprocess == postprocess
    assert request.generation.max_new_tokens == 4096
    assert request.generation.do_sample is False and request.generation.num_beams == 1


def test_all_twelve_benchmarks_covered():
    assert len(EXPECTED) == 12 and len(CASES) == 48


@pytest.mark.parametrize("protocol", ["2024.12", "2026.08"])
def test_prompts_identical_under_both_protocols(protocol):
    model = get_model("InternVL2_5-1B-MPO")
    for benchmark, card in CARDS.items():
        request = build_request(SAMPLES[benchmark], card, model, get_protocol(protocol), cot=True)
        assert request.text == EXPECTED[benchmark][(True, True)][0]


def test_tile_caps_and_upscale():
    base = get_model("InternVL2_5-8B")
    protocol = get_protocol()

    def request(benchmark, smp):
        return build_request(smp, CARDS[benchmark], base, protocol, cot=False)

    assert request("OCRBench", SAMPLES["OCRBench"]).max_tiles == 24
    assert request("MMStar", SAMPLES["MMStar"]).max_tiles == 6
    mmmu = request("MMMU_DEV_VAL", SAMPLES["MMMU_DEV_VAL"])
    assert (mmmu.max_tiles, mmmu.upscale_first_image, len(mmmu.images)) == (12, True, 2)
    assert request("MMMU_DEV_VAL", sample("MMMU_DEV_VAL", "q", n_images=6)).max_tiles == 10
    assert request("MMMU_DEV_VAL", sample("MMMU_DEV_VAL", "q", n_images=11)).max_tiles == 5
    assert request("MMStar", SAMPLES["MMStar"]).upscale_first_image is False


def test_mmmu_open_question_and_many_images():
    base = get_model("InternVL2_5-8B")
    smp = sample("MMMU_DEV_VAL", "What is the value of <image 1>?", n_images=3)
    plain = build_request(smp, CARDS["MMMU_DEV_VAL"], base, get_protocol(), cot=False)
    prefix = "Image-1: <image>\nImage-2: <image>\nImage-3: <image>\n"
    assert plain.text == prefix + "What is the value of <image 1>?\nAnswer the question directly."
    cot = build_request(smp, CARDS["MMMU_DEV_VAL"], base, get_protocol(), cot=True)
    assert cot.text == prefix + "What is the value of <image 1>?\nAnswer the question directly.\n" + MCQ_COT


def test_mcq_cot_strips_leading_whitespace_and_direct_instruction_inside_the_question():
    smp = sample("AI2D_TEST", f"  {DIRECT} Pick one.", {"A": "x", "B": "y"})
    request = build_request(smp, CARDS["AI2D_TEST"], get_model("InternVL2_5-8B"), get_protocol(), cot=True)
    assert request.text == ONE + "Pick one.\nA. x\nB. y\n" + MCQ_COT


def test_text_only_sample_has_no_placeholder():
    smp = sample("MMVet", "Say hi.", n_images=0)
    request = build_request(smp, CARDS["MMVet"], get_model("InternVL2_5-8B"), get_protocol(), cot=False)
    assert (request.text, request.images, request.max_tiles) == ("Say hi.", [], 6)


# --------------------------------------------------------------------------------------------------
# images as the reference reads them back from its dump folder
# --------------------------------------------------------------------------------------------------
def noisy_image(mode="RGB"):
    noise = Image.effect_noise((96, 64), 60)
    image = Image.merge("RGB", (noise, noise.rotate(90), Image.linear_gradient("L").resize((96, 64))))
    return image.convert(mode)


def reference_round_trip(image, tmp_path, name):
    """What VLMEvalKit does: save under the name (PIL defaults), open, convert('RGB')."""
    if image.mode in ("RGBA", "P", "LA"):
        image = image.convert("RGB")
    path = tmp_path / name
    image.save(path)
    return Image.open(path).convert("RGB")


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_single_image_is_jpeg_round_tripped_under_2024_12(tmp_path, mode):
    image = noisy_image(mode)
    smp = Sample("MMStar", 12, "q", {"A": "a"}, image_loader=lambda: [image])
    request = build_request(
        smp, CARDS["MMStar"], get_model("InternVL2_5-1B"), get_protocol("2024.12"), cot=False
    )
    got = request.images[0].convert("RGB")
    assert got.tobytes() == reference_round_trip(image, tmp_path, "12.jpg").tobytes()
    assert got.tobytes() != image.convert("RGB").tobytes()  # lossy: the pixels did change


def test_single_image_is_lossless_under_2026_08_unless_named_jpg(tmp_path):
    image = noisy_image()
    protocol = get_protocol("2026.08")
    model = get_model("InternVL2_5-1B")
    plain = Sample("MMStar", 12, "q", {"A": "a"}, image_loader=lambda: [image])
    assert (
        build_request(plain, CARDS["MMStar"], model, protocol, False).images[0].tobytes() == image.tobytes()
    )
    named = Sample("MMStar", 12, "q", {"A": "a"}, image_paths=("pic.jpg",), image_loader=lambda: [image])
    got = build_request(named, CARDS["MMStar"], model, protocol, False).images[0]
    assert got.tobytes() == reference_round_trip(image, tmp_path, "pic.jpg").tobytes()


def test_multi_image_rows_keep_png_names_lossless_under_2024_12():
    images = [noisy_image(), noisy_image("RGBA")]
    smp = Sample("MMMU_DEV_VAL", 3, "q", image_paths=("3_0.png", "3_1.png"), image_loader=lambda: images)
    request = build_request(
        smp, CARDS["MMMU_DEV_VAL"], get_model("InternVL2_5-1B"), get_protocol("2024.12"), False
    )
    assert [im.tobytes() for im in request.images] == [
        images[0].tobytes(),
        images[1].convert("RGB").tobytes(),
    ]


def test_request_building_reads_no_files(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    build_request(SAMPLES["MMStar"], CARDS["MMStar"], get_model("InternVL2_5-1B"), get_protocol(), cot=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        ("mcq_cot.txt", "737f451a9bc57374338bfae2e975a6b3c0d454582d031fdbf936e89bd76956c5"),
        ("qa_cot.txt", "1b2879159cfe64c1954141acd870befa25084984b812313403593db5e33bb21b"),
        ("mpo_final_answer.txt", "fd10a22a4b1fafa1ed1319f057c09e6c6b856ca34c5baffd4a5273904e7de182"),
    ],
)
def test_prompt_data_files_are_byte_exact(name, sha256):
    data = resources.files("vleval").joinpath("data", "prompts", name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256


def test_jpeg_helper_matches_in_memory_bytes():
    # Guard: PIL's default JPEG encode is deterministic, so the in-memory round trip is reproducible.
    image = noisy_image()
    first, second = io.BytesIO(), io.BytesIO()
    image.save(first, format="JPEG")
    image.save(second, format="JPEG")
    assert first.getvalue() == second.getvalue()


def test_options_are_read_in_letter_order_and_only_a_to_z():
    smp = sample("AI2D_TEST", "Q?", {"B": "two", "A": "one", "aa": "ignored"})
    request = build_request(smp, CARDS["AI2D_TEST"], get_model("InternVL2_5-8B"), get_protocol(), cot=False)
    assert request.text == ONE + "Q?\nA. one\nB. two\n" + DIRECT


# The reference's own decisions, as VLMEvalKit's InternVL wrapper makes them from dataset-name
# substrings (vlmeval/vlm/internvl/internvl_chat.py::build_prompt, generate_v2; utils.py), at b13a37db
# and e8e78f05: the oracle every card's PromptStyle is checked against.
REFERENCE_YORN_INSTRUCTIONS = ((("MME",), ""), (("HallusionBench", "AMBER"), "Please answer yes or no."))
REFERENCE_VQA_STYLES = (
    (("LLaVABench", "WildVision"), "detail"),
    (("OCRVQA", "TextVQA", "ChartQA", "DocVQA", "InfoVQA", "OCRBench", "DUDE", "SLIDEVQA", "GQA",
      "MMLongBench_DOC"), "short"),
    (("MathVista", "MathVision", "VCR", "MTVQA", "MMVet", "MathVerse", "MMDU", "CRPE", "MIA-Bench", "MM-Math",
      "DynaMath", "QSpatial"), "verbatim"),
)  # fmt: skip
REFERENCE_MPO_WITHOUT_COT = {"MMStar", "HallusionBench", "OCRBench"}  # exact names
REFERENCE_MPO_KEEPS_PROMPT = ("LLaVABench", "MMVet")
REFERENCE_UPSCALE_FIRST_IMAGE = ("MMMU",)
# InternVLChat.set_max_num's substring lists (identical at both commits but for e8e78f05's extra 'BMMR'
# in the 12-tile list); any other image benchmark gets 6 tiles
REFERENCE_TILES = (
    (("ChartQA_TEST", "MMMU_DEV_VAL", "MMMU_TEST", "MME-RealWorld", "VCR_EN", "VCR_ZH", "OCRVQA", "BMMR"), 12),
    (("DocVQA_VAL", "DocVQA_TEST", "DUDE", "MMLongBench_DOC", "SLIDEVQA"), 18),
    (("InfoVQA_VAL", "InfoVQA_TEST", "OCRBench", "HRBench4K", "HRBench8K"), 24),
)


def _first(name, table, default):
    return next((value for fragments, value in table if any(f in name for f in fragments)), default)


@pytest.mark.parametrize("card", list(BENCHMARKS.values()), ids=lambda c: c.name)
def test_each_cards_prompt_style_is_what_the_reference_decides_from_its_name(card):
    style = card.prompt
    if card.task_type == "Y/N":
        assert style.yorn_instruction == _first(card.name, REFERENCE_YORN_INSTRUCTIONS, "")
    if card.task_type == "VQA":
        assert style.vqa == _first(card.name, REFERENCE_VQA_STYLES, "short")
    assert style.mpo_without_cot == (card.name in REFERENCE_MPO_WITHOUT_COT)
    assert style.mpo_keeps_prompt == any(f in card.name for f in REFERENCE_MPO_KEEPS_PROMPT)
    assert style.mpo_postprocess == (card.task_type in ("MCQ", "Y/N") or "CRPE" in card.name)
    assert style.upscale_first_image == any(f in card.name for f in REFERENCE_UPSCALE_FIRST_IMAGE)
    assert card.max_tiles == _first(card.name, REFERENCE_TILES, 6)


def test_a_model_budget_replaces_the_benchmark_budget_and_nothing_else():
    """InternVL3_5-241B-A28B carries the reference's max_new_tokens=16384; its requests differ from a
    plain InternVL3.5 model's in that budget alone."""
    big, small = get_model("InternVL3_5-241B-A28B"), get_model("InternVL3_5-8B")
    for benchmark in ("MMStar", "OCRBench"):
        a = build_request(SAMPLES[benchmark], CARDS[benchmark], big, get_protocol("2026.08"), cot=False)
        b = build_request(SAMPLES[benchmark], CARDS[benchmark], small, get_protocol("2026.08"), cot=False)
        assert (a.generation.max_new_tokens, b.generation.max_new_tokens) == (
            16384,
            CARDS[benchmark].max_new_tokens,
        )
        assert (a.text, a.max_tiles, a.postprocess) == (b.text, b.max_tiles, b.postprocess)


def test_the_241b_hf_twin_gets_the_requests_of_the_registered_241b():
    """The -HF repo of the same weights is evaluated as InternVL3_5-241B-A28B: the same text, tiles,
    post-processing and 16384-token budget."""
    hf, twin = get_model("InternVL3_5-241B-A28B-HF"), get_model("InternVL3_5-241B-A28B")
    for benchmark in ("MMStar", "OCRBench"):
        a = build_request(SAMPLES[benchmark], CARDS[benchmark], hf, get_protocol("2026.08"), cot=False)
        b = build_request(SAMPLES[benchmark], CARDS[benchmark], twin, get_protocol("2026.08"), cot=False)
        assert a.generation.max_new_tokens == b.generation.max_new_tokens == 16384
        assert (a.text, a.max_tiles, a.postprocess) == (b.text, b.max_tiles, b.postprocess)


# --------------------------------------------------------------------------------------------------
# issue 21: the MCQ and Y/N benchmarks added after the first ten (texts written by hand from the
# reference's build_prompt / build_multi_choice_prompt / build_mpo_prompt, as EXPECTED above)
# --------------------------------------------------------------------------------------------------
CN_HINT = "图中有三个形状。"
CN_Q = "第一个形状是什么颜色？"
CN_WITH_HINT = CN_HINT + "\n" + CN_Q + "\nA. 红色\nB. 蓝色\nC. 绿色"
CN_BARE = CN_Q + "\nA. 红色\nB. 蓝色\nC. 绿色"
SCENE = "Which direction is the car facing?\nA. left\nB. right\nC. towards the camera"
SCI_HINT = "Context: a magnet and a nail."
SCI = "Will these magnets attract or repel?\nA. attract\nB. repel"
POINTS = "Which point is closer to the camera?\nA. Point A\nB. Point B"
SQUARE = "Is this a square?"
TWO_IMAGES = "Image-1: <image>\nImage-2: <image>\n"


def _mcq_expected(prefix, text, bare, suffix="\n" + DIRECT, cot_kept=""):
    """The four (mpo model, cot) cases of an MCQ benchmark: direct prompt, CoT prompt (the English
    instruction removed, a Chinese one kept), and the MPO prompt (no hint) under CoT only."""
    return {
        (False, False): (prefix + text + suffix, "none"),
        (False, True): (prefix + text + cot_kept + "\n" + MCQ_COT, "none"),
        (True, False): (prefix + text + suffix, "none"),
        (True, True): (prefix + MPO + bare, "mpo"),
    }


NEW_SAMPLES = {
    "MMBench_DEV_CN_V11": sample(
        "MMBench_DEV_CN_V11", CN_Q, {"A": "红色", "B": "蓝色", "C": "绿色"}, hint=CN_HINT
    ),
    "MMBench_TEST_CN_V11": sample("MMBench_TEST_CN_V11", CN_Q, {"A": "红色", "B": "蓝色", "C": "绿色"}),
    "RealWorldQA": sample(
        "RealWorldQA",
        "Which direction is the car facing?",
        {"A": "left", "B": "right", "C": "towards the camera"},
    ),
    "ScienceQA_TEST": sample(
        "ScienceQA_TEST",
        "Will these magnets attract or repel?",
        {"A": "attract", "B": "repel"},
        hint=SCI_HINT,
    ),
    "SEEDBench_IMG": sample(
        "SEEDBench_IMG", "How many dots are there?", {"A": "1", "B": "2", "C": "3", "D": "4"}
    ),
    "SEEDBench2_Plus": sample(
        "SEEDBench2_Plus", "How many dots are there?", {"A": "1", "B": "2", "C": "3", "D": "4"}
    ),
    "MMT-Bench_VAL": sample(
        "MMT-Bench_VAL", "How many dots are there?", {"A": "1", "B": "2", "C": "3", "D": "4"}
    ),
    "BLINK": sample(
        "BLINK", "Which point is closer to the camera?", {"A": "Point A", "B": "Point B"}, n_images=2
    ),
    "MME": sample("MME", SQUARE),
    "POPE": sample("POPE", SQUARE),
}
NEW_EXPECTED = {
    "MMBench_DEV_CN_V11": _mcq_expected(
        ONE, CN_WITH_HINT, CN_BARE, "\n请直接回答选项字母。", "\n请直接回答选项字母。"
    ),
    "MMBench_TEST_CN_V11": _mcq_expected(
        ONE, CN_BARE, CN_BARE, "\n请直接回答选项字母。", "\n请直接回答选项字母。"
    ),
    "RealWorldQA": _mcq_expected(ONE, SCENE, SCENE),
    "ScienceQA_TEST": _mcq_expected(ONE, SCI_HINT + "\n" + SCI, SCI),
    "SEEDBench_IMG": _mcq_expected(ONE, DOTS, DOTS),
    "SEEDBench2_Plus": _mcq_expected(ONE, DOTS, DOTS),
    "MMT-Bench_VAL": _mcq_expected(ONE, DOTS, DOTS),
    "BLINK": _mcq_expected(TWO_IMAGES, POINTS, POINTS),
    "MME": {
        (False, False): (ONE + SQUARE + " " + SHORT, "none"),
        (False, True): (ONE + SQUARE + " " + SHORT, "none"),  # no Y/N CoT
        (True, False): (ONE + SQUARE + " " + SHORT, "none"),
        (True, True): (ONE + MPO + SQUARE, "mpo"),
    },
    "POPE": {  # the wrapper's other Y/N datasets: the question as is
        (False, False): (ONE + SQUARE, "none"),
        (False, True): (ONE + SQUARE, "none"),
        (True, False): (ONE + SQUARE, "none"),
        (True, True): (ONE + MPO + SQUARE, "mpo"),
    },
}
REFERENCE_YORN_SHORT_ANSWER = ("MME", "HallusionBench", "AMBER")  # the Y/N fragments that get the suffix


@pytest.mark.parametrize(
    ("benchmark", "mpo", "cot", "protocol"),
    [
        (b, m, c, p)
        for b in NEW_EXPECTED
        for m in (False, True)
        for c in (False, True)
        for p in ("2024.12", "2026.08")
    ],
)
def test_new_mcq_and_yorn_prompts_match_reference(benchmark, mpo, cot, protocol):
    model = get_model("InternVL2_5-2B-MPO" if mpo else "InternVL2_5-2B")
    request = build_request(NEW_SAMPLES[benchmark], BENCHMARKS[benchmark], model, get_protocol(protocol), cot)
    assert (request.text, request.postprocess) == NEW_EXPECTED[benchmark][(mpo, cot)]
    assert request.max_tiles == 6  # set_max_num's default; BLINK's 2-4 images stay under 64 in all
    assert request.generation.max_new_tokens == 4096


@pytest.mark.parametrize(
    "card", [c for c in BENCHMARKS.values() if c.task_type == "Y/N"], ids=lambda c: c.name
)
def test_each_yorn_card_asks_for_a_short_answer_where_the_reference_does(card):
    assert card.prompt.yorn_short_answer == any(f in card.name for f in REFERENCE_YORN_SHORT_ANSWER)
