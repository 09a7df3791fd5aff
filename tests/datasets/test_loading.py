import base64
import io

import pandas as pd
import pytest
from PIL import Image

from vleval.datasets import loading
from vleval.datasets.loading import decode_image, load_samples, load_table, save_images
from vleval.datasets.registry import BENCHMARKS, get_benchmark
from vleval.errors import DataCorruptError
from vleval.families.mcq import CIRCULAR_OFFSET
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting

PROTOCOL = get_protocol("2024.12")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmu")
    for name in BENCHMARKS:
        make_benchmark_tsv(name, root, n=8)
    return root


def samples(name, root):
    return load_samples(get_benchmark(name), PROTOCOL, root, verify_md5=False)


def test_every_benchmark_loads_into_typed_samples(data_dir):
    for name in BENCHMARKS:
        rows = samples(name, data_dir)
        assert rows and all(s.dataset == name and s.question for s in rows)
        assert all(len(s.images) >= 1 for s in rows)


def test_mmbench_circular_copies_share_the_main_image(data_dir):
    rows = {s.index: s for s in samples("MMBench_DEV_EN_V11", data_dir)}
    assert all(isinstance(i, int) for i in rows)
    main, copy = rows[1], rows[1 + CIRCULAR_OFFSET]  # question 1 has two options
    assert list(main.options) == ["A", "B"]  # NaN C/D dropped, alphabetical
    assert main.options["A"] == copy.options["B"] and main.options["B"] == copy.options["A"]
    assert main.answer != copy.answer
    assert main.images[0].tobytes() == copy.images[0].tobytes()
    assert main.hint is not None and rows[0].hint is None
    assert main.l2_category == "finegrained_perception (instance-level)" and main.split == "dev"
    assert main.extra == {"source": "synthetic"}
    assert all(s.answer is None for s in samples("MMBench_TEST_EN_V11", data_dir))


def test_mmmu_multi_image_rows_and_open_questions(data_dir):
    rows = samples("MMMU_DEV_VAL", data_dir)
    by_count = {len(s.images) for s in rows}
    assert by_count == {1, 2, 3}
    multi = next(s for s in rows if len(s.images) == 3)
    assert len(multi.image_paths) == 3 and multi.image_paths[0].endswith("_1.png")
    assert "<image 1>" in multi.question
    open_question = next(s for s in rows if not s.options)
    assert open_question.answer.isdigit()
    assert {s.split for s in rows} == {"dev", "validation"}


def test_hallusionbench_keeps_string_index_and_drops_rows_without_image(data_dir):
    table = load_table(get_benchmark("HallusionBench"), PROTOCOL, data_dir, verify_md5=False)
    raw = pd.read_csv(data_dir / "HallusionBench.tsv", sep="\t")
    assert len(table) == len(raw) - 1
    assert all(isinstance(i, str) and len(i.split("_")) == 6 for i in table["index"])
    assert set(table["answer"]) <= {"Yes", "No"}


def test_table_resolves_references_and_parses_lists_as_the_reference(data_dir):
    table = load_table(get_benchmark("CRPE_EXIST"), PROTOCOL, data_dir, verify_md5=False)
    assert all(len(x) > 64 for x in table["image"])
    assert table["image"][1] == table["image"][0]
    mmmu = load_table(get_benchmark("MMMU_DEV_VAL"), PROTOCOL, data_dir, verify_md5=False)
    assert any(isinstance(x, list) for x in mmmu["image"]) and any(isinstance(x, str) for x in mmmu["image"])
    assert any(isinstance(x, list) for x in mmmu["image_path"])


def test_images_decode_lazily(data_dir, monkeypatch):
    calls = []
    real = loading.decode_image
    monkeypatch.setattr(loading, "decode_image", lambda p, *limit: calls.append(1) or real(p, *limit))
    rows = samples("MathVista_MINI", data_dir)
    assert calls == []
    first, again = rows[0].images, rows[0].images
    assert calls == [1] and first is again


def _b64(image, fmt="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA"])
def test_alpha_and_palette_images_become_rgb(mode):
    assert decode_image(_b64(Image.new(mode, (5, 4)))).mode == "RGB"


def test_grey_images_keep_their_mode_as_the_reference():
    assert decode_image(_b64(Image.new("L", (5, 4)))).mode == "L"


def _write(tmp_path, rows):
    path = tmp_path / "MMVet.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def test_undecodable_image_names_file_row_and_column(tmp_path):
    good = _b64(Image.new("RGB", (4, 4)))
    _write(
        tmp_path,
        [
            {"index": 0, "question": "q", "answer": "a", "category": "rec", "image": good},
            {"index": 1, "question": "q", "answer": "a", "category": "rec", "image": "x" * 100},
        ],
    )
    rows = samples("MMVet", tmp_path)  # loading itself succeeds: images are lazy
    with pytest.raises(DataCorruptError) as info:
        _ = rows[1].images
    message = str(info.value)
    assert "MMVet.tsv" in message and "row index 1" in message and "'image'" in message


def test_missing_required_column_is_named(tmp_path):
    _write(tmp_path, [{"index": 0, "question": "q", "category": "rec", "image": "x" * 100}])
    with pytest.raises(DataCorruptError, match="'answer'"):
        samples("MMVet", tmp_path)


def test_dangling_image_reference_is_named(tmp_path):
    good = _b64(Image.new("RGB", (4, 4)))
    _write(
        tmp_path,
        [
            {"index": 0, "question": "q", "answer": "a", "category": "rec", "image": good},
            {"index": 5, "question": "q", "answer": "a", "category": "rec", "image": "3"},
        ],
    )
    with pytest.raises(DataCorruptError, match="row index 5"):
        samples("MMVet", tmp_path)


def test_md5_is_checked_by_default(data_dir):
    card = get_benchmark("OCRBench")
    with pytest.raises(DataCorruptError, match="md5"):
        load_samples(card, PROTOCOL, data_dir)
    accepting = protocol_accepting(PROTOCOL, {"OCRBench": data_dir / "OCRBench.tsv"})
    assert len(load_samples(card, accepting, data_dir)) == 8


def test_save_images_uses_the_reference_layout(data_dir, tmp_path):
    mmstar = samples("MMStar", data_dir)[:2]
    written = save_images(mmstar, tmp_path / "MMStar")
    assert written[0] == [tmp_path / "MMStar" / "0.png"]
    assert Image.open(written[0][0]).size == mmstar[0].images[0].size
    jpeg = save_images(mmstar, tmp_path / "old", protocol=get_protocol("2024.12"))
    assert jpeg[1] == [tmp_path / "old" / "1.jpg"]
    multi = [s for s in samples("MMMU_DEV_VAL", data_dir) if len(s.images) > 1][:1]
    paths = save_images(multi, tmp_path / "MMMU")[multi[0].index]
    assert [p.name for p in paths] == list(multi[0].image_paths)
    before = paths[0].stat().st_mtime_ns
    save_images(multi, tmp_path / "MMMU")
    assert paths[0].stat().st_mtime_ns == before  # existing readable files are kept


def test_samples_pickle_with_their_lazy_images(data_dir):
    import pickle

    sample = samples("AI2D_TEST", data_dir)[3]
    clone = pickle.loads(pickle.dumps(sample))
    assert clone.images[0].tobytes() == sample.images[0].tobytes()


def test_duplicate_index_is_rejected_naming_file_and_index(tmp_path):
    """Issue 10 item 9: a repeated index would let one row's prediction overwrite another's."""
    tsv = make_benchmark_tsv("MMStar", tmp_path, n=4)
    table = pd.read_csv(tsv, sep="\t")
    table.loc[2, "index"] = table.loc[0, "index"]
    table.to_csv(tsv, sep="\t", index=False)
    with pytest.raises(
        DataCorruptError, match=rf"MMStar.tsv: index {table.loc[0, 'index']} appears twice \(rows 2 and 4"
    ):
        loading.read_table(tsv, get_benchmark("MMStar"))


def test_header_only_tsv_is_a_clear_error(tmp_path):
    """Issue 10 item 11."""
    tsv = make_benchmark_tsv("MMStar", tmp_path, n=4)
    pd.read_csv(tsv, sep="\t").iloc[:0].to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataCorruptError, match="MMStar.tsv: has a header but no rows"):
        loading.read_table(tsv, get_benchmark("MMStar"))
